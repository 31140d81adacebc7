//! The base branch's committed `.gitattributes`, for a change mined in a bare repository.
//!
//! git reads no committed `.gitattributes` in a bare repository, and the App's mirrors are
//! bare: a lock file the repository marks `-diff` would count its thousands of lines there,
//! and not in `git diff` in a checkout. The App reads the attributes of the base branch's
//! tip instead, the rules in force, never the change's own: a pull request cannot make its
//! own lines binary to lower its score.

use std::collections::BTreeSet;
use std::path::Path;

use git2::{Oid, Repository};

use super::objects::blob_size;
use super::{commit_paths, MiningError, ObjectCache, RenameSource};

/// git ignores attribute files larger than this (`ATTR_MAX_FILE_SIZE`).
pub(super) const MAX_ATTRIBUTES_FILE_BYTES: usize = 100 << 20;

/// Where the attributes that make a file binary or text to `git diff` are read from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum AttributeSource {
    /// As git reads them in the repository: the work tree's `.gitattributes`, then the
    /// index's (none in a bare repository), `info/attributes`, the global and system files.
    #[default]
    Repository,
    /// The `.gitattributes` committed at the tip of the base branch, in place of the work
    /// tree's and the index's.
    BaseBranch,
}

/// The `.gitattributes` files of one tree that apply to some paths: the root's, and those of
/// each directory above a path, as (path in the tree, blob).
#[derive(Debug)]
pub(super) struct CommittedAttributes {
    files: Vec<(String, Oid)>,
}

impl CommittedAttributes {
    /// The attribute files of `tree` for the paths that differ between `old` and `new` (a
    /// tree diff, no content read). Only regular files are taken (git does not follow a
    /// symbolic link to its attributes), and none larger than git reads.
    pub(super) fn for_diff(
        repo: &Repository,
        objects: &mut ObjectCache,
        tree: Oid,
        old: Oid,
        new: Oid,
    ) -> Result<CommittedAttributes, MiningError> {
        // No pairs: a rename's old and new paths are both among the changed.
        let changed = commit_paths(repo, objects, Some(old), new, RenameSource::Git(&[]))?
            .map_or_else(Vec::new, |paths| paths.touched);
        let mut directories = BTreeSet::from([""]);
        for path in &changed {
            let mut dir = path.as_str();
            while let Some((parent, _)) = dir.rsplit_once('/') {
                if !directories.insert(parent) {
                    break;
                }
                dir = parent;
            }
        }
        let tree = repo.find_tree(tree)?;
        let mut files = Vec::new();
        for dir in directories {
            let path = match dir {
                "" => ".gitattributes".to_string(),
                dir => format!("{dir}/.gitattributes"),
            };
            let Ok(entry) = tree.get_path(Path::new(&path)) else {
                continue;
            };
            if !matches!(entry.filemode(), 0o100644 | 0o100755) {
                continue;
            }
            match blob_size(repo, entry.id()) {
                Some(size) if size <= MAX_ATTRIBUTES_FILE_BYTES => files.push((path, entry.id())),
                // Taken for no file, the rules it holds would be silently dropped.
                None if !super::holds(repo, entry.id()) => {
                    return Err(MiningError::BlobMissing {
                        path,
                        id: entry.id().to_string(),
                    })
                }
                _ => {}
            }
        }
        Ok(CommittedAttributes { files })
    }

    /// A handle on the repository at `git_dir` without its work tree, whose attribute lookups
    /// read these files as its index's (the only committed attributes git reads in a bare
    /// repository).
    pub(super) fn reading(&self, git_dir: &Path) -> Result<Repository, git2::Error> {
        let handle = Repository::open_bare(git_dir)?;
        let mut index = git2::Index::new()?;
        for (path, id) in &self.files {
            index.add(&regular_file_entry(path.as_bytes(), *id))?;
        }
        handle.set_index(&mut index)?;
        Ok(handle)
    }
}

/// The entry of an in-memory index for the regular file `path` whose blob is `id`.
pub(super) fn regular_file_entry(path: &[u8], id: git2::Oid) -> git2::IndexEntry {
    git2::IndexEntry {
        ctime: git2::IndexTime::new(0, 0),
        mtime: git2::IndexTime::new(0, 0),
        dev: 0,
        ino: 0,
        mode: 0o100644,
        uid: 0,
        gid: 0,
        file_size: 0,
        id,
        flags: 0,
        flags_extended: 0,
        path: path.to_vec(),
    }
}
