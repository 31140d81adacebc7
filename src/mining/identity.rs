//! Who wrote a commit. An author is known by the commit's e-mail, lower-cased, as the
//! repository's own `.mailmap` maps it: one person who committed under several addresses (as
//! `git shortlog` and `git blame` show them) is one author to every signal.
//!
//! The `.mailmap` read is the one committed on the default branch (else at HEAD): not a
//! change's own, so a pull request cannot make its author someone else by adding a line to
//! it. It is input like any other file: past [`MAX_MAILMAP_BYTES`] it is left out, with a
//! warning.

use std::path::Path;

use git2::{Mailmap, Repository, Signature};
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

/// The content of the `.mailmap` committed on the default branch, else at HEAD; `None` when
/// there is none, or it is too large to read.
pub fn committed_mailmap(repo: &Repository) -> Option<Vec<u8>> {
    let tip = super::default_branch(repo)
        .and_then(|name| repo.revparse_single(&name).ok()?.peel_to_commit().ok())
        .or_else(|| repo.head().ok()?.peel_to_commit().ok())?;
    let entry = tip.tree().ok()?.get_path(Path::new(".mailmap")).ok()?;
    match super::objects::read_blob_within(repo, entry.id(), MAX_MAILMAP_BYTES as u64)? {
        BlobRead::Content(content) => Some(content.to_vec()),
        BlobRead::Larger(bytes) => {
            tracing::warn!(
                bytes,
                limit = MAX_MAILMAP_BYTES,
                ".mailmap is too large and is left out: authors are told apart by e-mail alone"
            );
            None
        }
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
        assert_eq!(committed_mailmap(&within).as_deref(), Some(&content[..]));
        content.resize(MAX_MAILMAP_BYTES + 1, b'#');
        let past = committing_mailmap(&dir.path().join("past"), &content);
        assert_eq!(committed_mailmap(&past), None);
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
