//! Line owners kept on disk beside the history index, so that scoring a change replays only
//! what its files' histories gained since an earlier score, not each file's whole history.
//!
//! An entry is the state a replay of a file's first steps ended in ([`Replayed`]): the
//! owners of the file's version after them, and which other versions they produced. Its key
//! is a hash of those steps (commit ids, the file's name at each, and whether blame looks past
//! it) and of how lines are diffed, and a replay's result depends on nothing else, so an entry
//! found is the right one for any history whose steps begin the same way. Owners are stored by commit id, never
//! by the index's own numbering, which a rebuilt index may change.
//!
//! Entries are a cache: one that cannot be read, fails its checksum or does not fit the index
//! is ignored (and replayed from the history instead), and
//! the store keeps at most [`PER_SHARD`] entries in each of its 256 folders, the least
//! recently written going first.

use std::collections::HashMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use git2::Oid;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::ignored_revisions::IgnoredRevisions;
use super::index::HistoryIndex;
use super::owners::{Produced, ReplaySeed, Replayed, NOBODY};

/// The store's folder under the history index's folder is `owners-v<VERSION>`; folders of older
/// versions are removed when the store is opened, since nothing reads them again. The version
/// changes whenever what a replay ends with, or how an entry is written, does (v2: a version
/// made on two branches is owned along each branch's own history; v3: owners follow `git
/// blame`'s diffs, which leave out the common tail; v4: a file a merge makes is the merge's;
/// v5: of several producers of a version, the one on git blame's way; v6: a merge's file is
/// followed into a parent that has it under another name; v7: only a NUL makes a version
/// binary, as in git; v8: an entry ends with its CRC-32; v9: a file that follows a symlink or
/// a submodule is its commit's; v10: an entry keeps the target's version beside the last
/// one, each with every producer), so that no entry of an older rule is read.
const VERSION: u32 = 10;

/// Entries kept per folder (256 folders).
const PER_SHARD: usize = 32;

/// Largest entry read or written (a version of about two million lines).
const MAX_ENTRY_BYTES: u64 = 16 << 20;

/// Replays shorter than this are cheap enough to redo: they are not stored.
pub const MIN_STEPS_STORED: usize = 16;

/// Prefixes of a file's steps looked up, longest first, before replaying from the start.
pub const MAX_PROBES: usize = 64;

pub type Key = [u8; 32];

/// (producer, the owner of each line): both index [`Entry::commits`]; `u32::MAX` is nobody.
type StoredProducer = (u32, Vec<u32>);

#[derive(Serialize, Deserialize)]
struct Entry {
    /// The commits `kept` names, by id.
    commits: Vec<[u8; 20]>,
    /// (blob, its producers with their owners).
    kept: Vec<([u8; 20], Vec<StoredProducer>)>,
    others: Vec<[u8; 20]>,
}

pub struct OwnerStore {
    dir: PathBuf,
}

impl OwnerStore {
    /// The store beside `index`'s file; none for an index kept only in memory.
    pub fn beside(index: &HistoryIndex) -> Option<OwnerStore> {
        let folder = index.location()?.parent()?;
        for older in 1..VERSION {
            let stale = folder.join(format!("owners-v{older}"));
            if stale.is_dir() {
                // A cache: if it cannot go now, it is tried again next time.
                let _ = std::fs::remove_dir_all(&stale);
            }
        }
        Some(OwnerStore {
            dir: folder.join(format!("owners-v{VERSION}")),
        })
    }

    /// The key of each prefix of `steps`: `keys[k]` for `steps[..=k]`. `diff_kind` tells how
    /// lines are diffed; a shallow clone's boundary changes what a replay can name, so it is
    /// part of the key too.
    pub fn prefix_keys(
        index: &HistoryIndex,
        steps: &[(u32, u32)],
        diff_kind: u8,
        ignored: &IgnoredRevisions,
    ) -> Vec<Key> {
        let mut hasher = Sha256::new();
        hasher.update(b"riskgate line owners v4\0");
        hasher.update([diff_kind]);
        hasher.update(index.shallow_boundary().as_bytes());
        hasher.update([0]);
        steps
            .iter()
            .map(|&(c, name)| {
                hasher.update(index.commit(c).oid);
                hasher.update(index.path(name).as_bytes());
                // A step blame looks past ends in 2 (1 was an earlier way of looking past): its
                // owners differ. Every other key is as before, so a repository that lists no
                // reformat keeps its entries.
                hasher.update([if ignored.holds(index, c) { 2 } else { 0 }]);
                hasher.clone().finalize().into()
            })
            .collect()
    }

    fn path_of(&self, key: &Key) -> PathBuf {
        let hex = hex::encode(key);
        self.dir.join(&hex[..2]).join(&hex[2..])
    }

    /// The seed stored under `key`, its commits mapped into `index`.
    pub fn load(&self, key: &Key, index: &HistoryIndex) -> Option<ReplaySeed> {
        let file = std::fs::File::open(self.path_of(key)).ok()?;
        let mut bytes = Vec::new();
        file.take(MAX_ENTRY_BYTES + 1)
            .read_to_end(&mut bytes)
            .ok()?;
        if bytes.len() as u64 > MAX_ENTRY_BYTES {
            return None;
        }
        // A damaged entry could still decode, into owners that fit the index but are wrong.
        let (body, sum) = bytes.split_at(bytes.len().checked_sub(4)?);
        if crc32fast::hash(body).to_le_bytes() != sum {
            return None;
        }
        let entry: Entry = postcard::from_bytes(body).ok()?;
        let ids: Vec<u32> = entry
            .commits
            .iter()
            .map(|oid| index.lookup(Oid::from_bytes(oid).ok()?))
            .collect::<Option<_>>()?;
        let at = |i: u32| -> Option<u32> {
            if i == NOBODY {
                Some(NOBODY)
            } else {
                ids.get(i as usize).copied()
            }
        };
        let kept = entry
            .kept
            .into_iter()
            .map(|(blob, producers)| {
                let producers = producers
                    .into_iter()
                    .map(|(producer, owners)| {
                        let owners: Vec<u32> = owners.into_iter().map(at).collect::<Option<_>>()?;
                        let producer = ids.get(producer as usize).copied()?;
                        Some((producer, Rc::from(owners)))
                    })
                    .collect::<Option<Vec<Produced>>>()?;
                Some((Oid::from_bytes(&blob).ok()?, producers))
            })
            .collect::<Option<_>>()?;
        let others = entry
            .others
            .iter()
            .map(|b| Oid::from_bytes(b).ok())
            .collect::<Option<_>>()?;
        Some(ReplaySeed { kept, others })
    }

    /// Keep what `replayed` ended with under `key`. A failure to write only costs a later
    /// score a longer replay: it is logged, not returned.
    pub fn save(&self, key: &Key, replayed: &Replayed, index: &HistoryIndex) {
        let mut commits: Vec<[u8; 20]> = Vec::new();
        let mut numbered: HashMap<u32, u32> = HashMap::new();
        let mut number = |c: u32| -> u32 {
            if c == NOBODY {
                return NOBODY;
            }
            *numbered.entry(c).or_insert_with(|| {
                commits.push(index.commit(c).oid);
                (commits.len() - 1) as u32
            })
        };
        let kept: Vec<_> = replayed
            .kept
            .iter()
            .map(|(blob, producers)| {
                let mut blob_id = [0u8; 20];
                blob_id.copy_from_slice(blob.as_bytes());
                let producers = producers
                    .iter()
                    .map(|(producer, owners)| {
                        let producer = number(*producer);
                        (producer, owners.iter().map(|&o| number(o)).collect())
                    })
                    .collect();
                (blob_id, producers)
            })
            .collect();
        let others = replayed
            .others
            .iter()
            .map(|b| {
                let mut id = [0u8; 20];
                id.copy_from_slice(b.as_bytes());
                id
            })
            .collect();
        let entry = Entry {
            commits,
            kept,
            others,
        };
        let Ok(mut bytes) = postcard::to_stdvec(&entry) else {
            return;
        };
        bytes.extend_from_slice(&crc32fast::hash(&bytes).to_le_bytes());
        if bytes.len() as u64 > MAX_ENTRY_BYTES {
            return;
        }
        let path = self.path_of(key);
        if let Err(e) = write_entry(&path, &bytes) {
            tracing::debug!(path = %path.display(), error = %e, "line owners not stored");
        }
    }
}

fn write_entry(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let shard = path.parent().expect("entry has a folder");
    std::fs::create_dir_all(shard)?;
    make_room(shard)?;
    let mut tmp = tempfile::NamedTempFile::new_in(shard)?;
    std::io::Write::write_all(&mut tmp, bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Remove the oldest entries of a full folder, so that one more fits.
fn make_room(shard: &Path) -> std::io::Result<()> {
    let mut entries: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(shard)?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let modified = e.metadata().ok()?.modified().ok()?;
            Some((modified, e.path()))
        })
        .collect();
    if entries.len() < PER_SHARD {
        return Ok(());
    }
    entries.sort();
    for (_, path) in entries.iter().take(entries.len() + 1 - PER_SHARD) {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}
