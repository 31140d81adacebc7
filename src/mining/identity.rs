//! Who wrote a commit. An author is known by the commit's e-mail, lower-cased, as the
//! repository's own `.mailmap` maps it: one person who committed under several addresses (as
//! `git shortlog` and `git blame` show them) is one author to every signal.
//!
//! The `.mailmap` read is the one committed on the default branch (else at HEAD): not a
//! change's own, so a pull request cannot make its author someone else by adding a line to
//! it. It is input like any other file: past [`MAX_MAILMAP_BYTES`] it is left out, with a
//! warning.

use std::path::Path;

use git2::{Mailmap, Oid, Repository, Signature};
use sha2::{Digest, Sha256};

use super::pack::BlobRead;

/// Largest `.mailmap` read (the Linux kernel's is under 100 KiB).
pub const MAX_MAILMAP_BYTES: usize = 1 << 20;

/// How commit authors are told apart in one repository.
#[derive(Default)]
pub struct Identities {
    mailmap: Option<Mailmap>,
    /// A hash of the `.mailmap` read; empty when there is none.
    fingerprint: String,
}

impl std::fmt::Debug for Identities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identities")
            .field("fingerprint", &self.fingerprint)
            .finish()
    }
}

/// The `.mailmap` committed on the default branch, else at HEAD, as this repository holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommittedMailmap {
    /// None is committed, or it is too large to read.
    None,
    Content(Vec<u8>),
    /// One is committed but the repository lacks its content (a partial clone): authors are
    /// told apart by e-mail alone until it is fetched. The blob's id.
    Absent(Oid),
}

impl CommittedMailmap {
    /// What authors are told apart by: empty when there is no `.mailmap` to read.
    pub fn into_content(self) -> Vec<u8> {
        match self {
            CommittedMailmap::Content(content) => content,
            CommittedMailmap::None | CommittedMailmap::Absent(_) => Vec::new(),
        }
    }

    /// The blob id of a committed `.mailmap` the repository lacks.
    pub fn absent(&self) -> Option<Oid> {
        match self {
            CommittedMailmap::Absent(id) => Some(*id),
            _ => None,
        }
    }
}

/// The warning for a committed `.mailmap` whose content the repository lacks.
pub fn absent_mailmap_warning(id: Oid) -> String {
    format!(
        "this clone lacks the content of its committed .mailmap, so an author who committed \
         under several addresses counts as several people in exp, rexp, sexp and ndev; in a \
         partial clone `git cat-file blob {id}` fetches it"
    )
}

/// The `.mailmap` committed on the default branch, else at HEAD.
pub fn committed_mailmap(repo: &Repository) -> CommittedMailmap {
    let tip = super::default_branch(repo)
        .and_then(|name| repo.revparse_single(&name).ok()?.peel_to_commit().ok())
        .or_else(|| repo.head().ok()?.peel_to_commit().ok());
    let Some(entry) = tip.and_then(|tip| tip.tree().ok()?.get_path(Path::new(".mailmap")).ok())
    else {
        return CommittedMailmap::None;
    };
    match super::objects::read_blob_within(repo, entry.id(), MAX_MAILMAP_BYTES as u64) {
        Some(BlobRead::Content(content)) => CommittedMailmap::Content(content.to_vec()),
        Some(BlobRead::Larger(bytes)) => {
            tracing::warn!(
                bytes,
                limit = MAX_MAILMAP_BYTES,
                ".mailmap is too large and is left out: authors are told apart by e-mail alone"
            );
            CommittedMailmap::None
        }
        None if !super::holds(repo, entry.id()) => CommittedMailmap::Absent(entry.id()),
        // Not a blob (a directory or a link named `.mailmap`).
        None => CommittedMailmap::None,
    }
}

impl Identities {
    /// The identities a `.mailmap` of this content gives (none for an empty one).
    pub fn from_mailmap(content: &[u8]) -> Identities {
        if content.is_empty() {
            return Identities::default();
        }
        match Mailmap::from_buffer(&String::from_utf8_lossy(content).to_lowercase()) {
            Ok(mailmap) => Identities {
                mailmap: Some(mailmap),
                fingerprint: hex::encode(Sha256::digest(content)),
            },
            Err(e) => {
                tracing::warn!(error = %e.message(), ".mailmap could not be read and is left out");
                Identities::default()
            }
        }
    }

    /// The author key of `sig`: its e-mail as the `.mailmap` maps it, lower-cased (the name
    /// when there is no e-mail). git matches a `.mailmap`'s names and e-mails ignoring case
    /// and libgit2 does not, so both sides are lower-cased before it looks.
    pub fn key(&self, sig: &Signature<'_>) -> String {
        let Some(mailmap) = &self.mailmap else {
            return super::index::author_key(sig);
        };
        let name = String::from_utf8_lossy(sig.name_bytes()).to_lowercase();
        let email = String::from_utf8_lossy(sig.email_bytes()).to_lowercase();
        match Signature::new(&name, &email, &sig.when()).and_then(|s| mailmap.resolve_signature(&s))
        {
            Ok(mapped) if mapped.email_bytes() != email.as_bytes() => {
                super::index::author_key(&mapped)
            }
            // Not mapped, or not a signature libgit2 accepts (no name): as it stands.
            _ => super::index::author_key(sig),
        }
    }

    /// Tells one `.mailmap` from another: what an index built with it records.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A repository whose one commit holds `.mailmap` with `content`.
    fn committing_mailmap(dir: &Path, content: &[u8]) -> Repository {
        let repo = Repository::init(dir).unwrap();
        {
            let mut tree = repo.treebuilder(None).unwrap();
            tree.insert(".mailmap", repo.blob(content).unwrap(), 0o100644)
                .unwrap();
            let tree = repo.find_tree(tree.write().unwrap()).unwrap();
            let who = Signature::new("a", "a@example.com", &git2::Time::new(0, 0)).unwrap();
            repo.commit(Some("HEAD"), &who, &who, "mailmap", &tree, &[])
                .unwrap();
        }
        repo
    }

    #[test]
    fn a_mailmap_past_the_limit_is_left_out() {
        let line = b"Nick <nicm@example.org> <nicm@old.example.net>\n";
        let mut content = line.repeat(MAX_MAILMAP_BYTES / line.len());
        let dir = tempfile::tempdir().unwrap();
        let within = committing_mailmap(&dir.path().join("within"), &content);
        assert_eq!(
            committed_mailmap(&within),
            CommittedMailmap::Content(content.clone())
        );
        content.resize(MAX_MAILMAP_BYTES + 1, b'#');
        let past = committing_mailmap(&dir.path().join("past"), &content);
        assert_eq!(committed_mailmap(&past), CommittedMailmap::None);
    }

    /// A partial clone lacks the blobs it has not fetched; so does this repository once the
    /// `.mailmap` blob's file is gone.
    #[test]
    fn a_mailmap_the_repository_lacks_is_told_from_none() {
        let dir = tempfile::tempdir().unwrap();
        let content = b"Nick <nicm@example.org> <nicm@old.example.net>\n";
        let repo = committing_mailmap(dir.path(), content);
        let id = Oid::hash_object(git2::ObjectType::Blob, content).unwrap();
        let hex = id.to_string();
        std::fs::remove_file(repo.path().join("objects").join(&hex[..2]).join(&hex[2..])).unwrap();
        let read = committed_mailmap(&repo);
        assert_eq!(read, CommittedMailmap::Absent(id));
        assert!(read.into_content().is_empty());
        assert!(absent_mailmap_warning(id).contains(&format!("git cat-file blob {id}")));
    }

    #[test]
    fn a_mailmap_makes_several_addresses_one_author() {
        let ids = Identities::from_mailmap(
            b"Nicholas <nicm@example.org> <nicm@old.example.net>\n<nicm@example.org> Nick <NICM@laptop>\n",
        );
        let sig = |name: &str, mail: &str| Signature::new(name, mail, &git2::Time::new(0, 0));
        let key = |name: &str, mail: &str| ids.key(&sig(name, mail).unwrap());
        assert_eq!(key("N", "nicm@old.example.net"), "nicm@example.org");
        assert_eq!(key("Nick", "nicm@laptop"), "nicm@example.org");
        assert_eq!(
            key("NICK", "Nicm@Laptop"),
            "nicm@example.org",
            "as git, case aside"
        );
        assert_eq!(
            key("Other", "nicm@laptop"),
            "nicm@laptop",
            "name and e-mail must match"
        );
        assert_eq!(key("Bob", "Bob@Example.com"), "bob@example.com");
        let none = Identities::default();
        assert_eq!(
            none.key(&sig("N", "nicm@old.example.net").unwrap()),
            "nicm@old.example.net"
        );
        assert!(none.fingerprint().is_empty());
        assert_ne!(
            ids.fingerprint(),
            Identities::from_mailmap(b"").fingerprint()
        );
        // What libgit2 cannot read is left out, not fatal.
        let unreadable = Identities::from_mailmap(b"A <a@x> <b@x>\0\n");
        assert!(unreadable.fingerprint().is_empty());
        assert_eq!(unreadable.key(&sig("B", "b@x").unwrap()), "b@x");
    }
}
