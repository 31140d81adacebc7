//! The commits a repository asks blame to look past: its committed `.git-blame-ignore-revs`,
//! which GitHub's blame view reads and `git blame --ignore-revs-file` takes. Projects list
//! their mass reformats there. Without it a formatter run owns every line it touched, so
//! each later fix of one of those lines would blame the reformat (SZZ), and whoever ran the
//! formatter would own the files (`author_blame_share`).
//!
//! Only the file committed at the root of one tree is read, never a path from the
//! repository's config (`blame.ignoreRevsFile`), which could name any file on the machine.

use std::collections::HashSet;
use std::path::Path;

use git2::{Oid, Repository};

use super::index::HistoryIndex;
use super::objects::blob_size;

/// The file's name at the root of the tree, as GitHub reads it.
pub const IGNORE_REVS_FILE: &str = ".git-blame-ignore-revs";

/// A larger file is not read (about 25,000 commit ids).
pub const MAX_IGNORE_REVS_BYTES: usize = 1 << 20;

/// The commits blame looks past. Empty for most repositories, when every check is one
/// `is_empty`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IgnoredRevisions {
    commits: HashSet<[u8; 20]>,
}

/// What reading the file found, besides the commits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IgnoreRevsRead {
    pub revisions: IgnoredRevisions,
    /// Lines that hold something other than a full commit id (after comments are dropped).
    pub not_ids: usize,
    /// The file was larger than [`MAX_IGNORE_REVS_BYTES`], or its content is not in the clone:
    /// nothing is looked past.
    pub unread: Option<String>,
}

impl IgnoredRevisions {
    pub fn is_empty(&self) -> bool {
        self.commits.is_empty()
    }

    pub fn len(&self) -> usize {
        self.commits.len()
    }

    /// Whether blame looks past commit `c` of `index`.
    pub fn holds(&self, index: &HistoryIndex, c: u32) -> bool {
        !self.commits.is_empty() && self.commits.contains(&index.commit(c).oid)
    }

    /// Whether blame looks past the commit `oid`.
    pub fn holds_oid(&self, oid: Oid) -> bool {
        !self.commits.is_empty()
            && <[u8; 20]>::try_from(oid.as_bytes()).is_ok_and(|o| self.commits.contains(&o))
    }

    /// Those of the commits that `index` has.
    pub fn in_index(&self, index: &HistoryIndex) -> usize {
        self.commits
            .iter()
            .filter(|o| Oid::from_bytes(&o[..]).is_ok_and(|o| index.lookup(o).is_some()))
            .count()
    }

    /// The file's commits, read as git reads it: a `#` starts a comment anywhere on a line,
    /// blank lines are skipped, and each other line is one full (40-digit) commit id. git stops
    /// at a line that is not one; here it is counted and skipped, so one typo does not undo the
    /// rest.
    pub fn parse(text: &[u8]) -> (IgnoredRevisions, usize) {
        let mut commits = HashSet::new();
        let mut not_ids = 0;
        for line in text.split(|&b| b == b'\n') {
            let line = match line.iter().position(|&b| b == b'#') {
                Some(hash) => &line[..hash],
                None => line,
            };
            let line = line.trim_ascii();
            if line.is_empty() {
                continue;
            }
            match parse_commit_id(line) {
                Some(id) => {
                    commits.insert(id);
                }
                None => not_ids += 1,
            }
        }
        (IgnoredRevisions { commits }, not_ids)
    }

    /// The file committed at the root of `commit`'s tree; none when there is no such regular
    /// file.
    pub fn read_at(repo: &Repository, commit: Oid) -> Result<IgnoreRevsRead, git2::Error> {
        let tree = repo.find_commit(commit)?.tree()?;
        let Ok(entry) = tree.get_path(Path::new(IGNORE_REVS_FILE)) else {
            return Ok(IgnoreRevsRead::default());
        };
        if !matches!(entry.filemode(), 0o100644 | 0o100755) {
            return Ok(IgnoreRevsRead::default());
        }
        let unread = |why: String| IgnoreRevsRead {
            unread: Some(why),
            ..IgnoreRevsRead::default()
        };
        match blob_size(repo, entry.id()) {
            None => return Ok(unread(format!("{IGNORE_REVS_FILE} is not in the clone"))),
            Some(size) if size > MAX_IGNORE_REVS_BYTES => {
                return Ok(unread(format!(
                "{IGNORE_REVS_FILE} has {size} bytes, more than the {MAX_IGNORE_REVS_BYTES} read"
            )))
            }
            Some(_) => {}
        }
        let blob = repo.find_blob(entry.id())?;
        let (revisions, not_ids) = IgnoredRevisions::parse(blob.content());
        Ok(IgnoreRevsRead {
            revisions,
            not_ids,
            unread: None,
        })
    }
}

impl IgnoreRevsRead {
    /// What a user of `mine` should know, given the commits the history has: which commits blame
    /// looks past, and what was not read.
    pub fn notes(&self, in_history: usize) -> Vec<String> {
        let mut notes = Vec::new();
        if let Some(why) = &self.unread {
            notes.push(format!("{why}: blame looks past no commit"));
        }
        let listed = match (self.revisions.len(), in_history) {
            (0, _) => None,
            (1, 1) => Some(format!("the commit {IGNORE_REVS_FILE} lists")),
            (1, _) => Some(format!(
                "the commit {IGNORE_REVS_FILE} lists (not in this history)"
            )),
            (n, k) => Some(format!(
                "the {n} commits {IGNORE_REVS_FILE} lists ({k} of them in this history)"
            )),
        };
        if let Some(listed) = listed {
            notes.push(format!(
                "blame looks past {listed}: the lines they changed keep the owners of the lines \
                 they came from, and SZZ never blames them"
            ));
        }
        if self.not_ids > 0 {
            notes.push(format!(
                "{} lines of {IGNORE_REVS_FILE} are not full commit ids and were skipped",
                self.not_ids
            ));
        }
        notes
    }
}

/// A full SHA-1 commit id in hex, either case.
fn parse_commit_id(text: &[u8]) -> Option<[u8; 20]> {
    if text.len() != 40 {
        return None;
    }
    let mut id = [0u8; 20];
    hex::decode_to_slice(text, &mut id).ok()?;
    Some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_read_as_git_reads_it() {
        let a = "f4118e110a46de3ffb799e7d79bf15128d1646ea";
        let b = "6CE530C5E90397D88E3A76A56DB266C74D651584";
        let text = format!(
            "# Reformat\n{a}\n\n  {b}  # sprintf prefixes\r\nf4118e1\nnot an id\n{a}\n# {b}\n"
        );
        let (ignored, not_ids) = IgnoredRevisions::parse(text.as_bytes());
        assert_eq!(ignored.len(), 2, "{ignored:?}");
        assert!(ignored.holds_oid(Oid::from_str(a).unwrap()));
        assert!(ignored.holds_oid(Oid::from_str(b).unwrap()));
        assert!(!ignored.holds_oid(Oid::zero()));
        // The abbreviated id and the sentence.
        assert_eq!(not_ids, 2);
        assert_eq!(
            IgnoredRevisions::parse(b""),
            (IgnoredRevisions::default(), 0)
        );
    }
}
