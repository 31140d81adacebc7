//! Who wrote a commit. An author is known by the commit's e-mail, lower-cased, as the
//! repository's own `.mailmap` maps it: one person who committed under several addresses (as
//! `git shortlog` and `git blame` show them) is one author to every signal.
//!
//! Both are read as git reads them, not as libgit2 does: libgit2 rejects a whole `.mailmap`
//! for one entry that maps a commit without e-mail (`Name <name@x> old <>`), and it splits
//! a malformed author (`A <a@x <none@none>`) at the last `<` where git splits at the first,
//! so two people can become one.
//!
//! The `.mailmap` read is the one committed on the default branch (else at HEAD): not a
//! change's own, so a pull request cannot make its author someone else by adding a line to
//! it. It is input like any other file: past [`MAX_MAILMAP_BYTES`] it is left out, with a
//! warning.

use std::borrow::Cow;
use std::path::Path;

use git2::{Commit, Oid, Repository};
use gix_actor::bstr::ByteSlice;
use sha2::{Digest, Sha256};

use super::pack::BlobRead;

/// Largest `.mailmap` read (the Linux kernel's is under 100 KiB).
pub const MAX_MAILMAP_BYTES: usize = 1 << 20;

/// How commit authors are told apart in one repository.
#[derive(Default)]
pub struct Identities {
    mailmap: Option<gix_mailmap::Snapshot>,
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
    /// The identities a `.mailmap` of this content gives (none for an empty one). Lines git
    /// would skip are skipped; the rest still count.
    pub fn from_mailmap(content: &[u8]) -> Identities {
        if content.is_empty() {
            return Identities::default();
        }
        Identities {
            mailmap: Some(gix_mailmap::Snapshot::from_bytes(content)),
            fingerprint: hex::encode(Sha256::digest(content)),
        }
    }

    /// The author of `commit`, read from its header once. Its key is the author's e-mail as
    /// the `.mailmap` maps it (names and e-mails matched ignoring case, as git does),
    /// lower-cased, or the name when there is no e-mail; its name is as git shows it (`%an`,
    /// no `.mailmap` applied).
    pub fn author(&self, commit: &Commit<'_>) -> Author {
        let Some(author) = git_author(commit) else {
            // No author git could read either: as libgit2 has it.
            let sig = commit.author();
            return Author {
                key: author_key(sig.name_bytes(), sig.email_bytes()),
                name: String::from_utf8_lossy(sig.name_bytes()).into_owned(),
            };
        };
        let (name, email) = (author.name.as_bstr(), author.email.as_bstr());
        let mapped = self.mailmap.as_ref().and_then(|mailmap| {
            mailmap.try_resolve_ref(gix_actor::SignatureRef {
                name,
                email,
                time: "",
            })
        });
        let key = match mapped {
            Some(mapped) => author_key(mapped.name.unwrap_or(name), mapped.email.unwrap_or(email)),
            None => author_key(name, email),
        };
        Author {
            key,
            name: String::from_utf8_lossy(name).trim().to_string(),
        }
    }

    /// Tells one `.mailmap` from another: what an index built with it records.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

/// Who wrote a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    /// What authors are told apart by.
    pub key: String,
    pub name: String,
}

/// The author of a commit as git reads it.
struct GitAuthor {
    name: Vec<u8>,
    email: Vec<u8>,
}

/// The author of `commit` as git reads its header: in UTF-8 when the commit declares another
/// encoding (old commits made on Windows say `encoding cp1252`), the name up to the first
/// `<`, the e-mail from there to the next `>`.
fn git_author(commit: &Commit<'_>) -> Option<GitAuthor> {
    let header = commit.raw_header_bytes();
    let field = |key: &[u8]| {
        header
            .split(|&b| b == b'\n')
            .find_map(|line| line.strip_prefix(key))
    };
    let line = field(b"author ")?;
    let declared = field(b"encoding ").and_then(|label| encoding_rs::Encoding::for_label(label));
    let line: Cow<'_, [u8]> = match declared {
        Some(encoding) if encoding != encoding_rs::UTF_8 => {
            // As git, the bytes as they stand when they are not of the declared encoding.
            match encoding.decode_without_bom_handling_and_without_replacement(line) {
                Some(text) => Cow::Owned(text.into_owned().into_bytes()),
                None => Cow::Borrowed(line),
            }
        }
        _ => Cow::Borrowed(line),
    };
    let author = gix_actor::IdentityRef::from_bytes(&line).ok()?;
    Some(GitAuthor {
        // git leaves out the spaces before `<`, and the .mailmap matches the name so.
        name: author.name.trim_end().to_vec(),
        email: author.email.to_vec(),
    })
}

/// An author told apart by e-mail, lower-cased, or by name where the e-mail is empty (two
/// authors without one are not the same person).
fn author_key(name: &[u8], email: &[u8]) -> String {
    let email = String::from_utf8_lossy(email).trim().to_lowercase();
    if email.is_empty() {
        String::from_utf8_lossy(name).trim().to_string()
    } else {
        email
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
            let who = git2::Signature::new("a", "a@example.com", &git2::Time::new(0, 0)).unwrap();
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
}
