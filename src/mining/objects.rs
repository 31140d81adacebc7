//! Trees and blobs read once and kept while they are still needed ([`ObjectCache`]): what makes
//! a walk over history read each object from the store about once.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::sync::Arc;

use git2::{ObjectType, Oid, Repository};

use super::pack::{self, TreeData};
use super::DiffedFile;
use crate::features::git_path;

pub fn count_lines(content: &[u8]) -> u64 {
    if content.is_empty() {
        return 0;
    }
    let newlines = memchr::memchr_iter(b'\n', content).count() as u64;
    newlines + u64::from(*content.last().expect("non-empty") != b'\n')
}

/// Whether the diff driver `name` is configured binary or text (`diff.<name>.binary`); `None`
/// when it is not configured either way, and the content decides.
fn driver_binary(repo: &Repository, name: &[u8]) -> Option<bool> {
    let key = format!("diff.{}.binary", String::from_utf8_lossy(name));
    repo.config().and_then(|c| c.get_bool(&key)).ok()
}

/// [`ObjectCache::binary_by_attributes`], looked up in `repo`.
fn binary_by_attributes_of(repo: &Repository, path: &str) -> Option<bool> {
    let value = repo
        .get_attr_bytes(
            std::path::Path::new(path),
            "diff",
            git2::AttrCheckFlags::FILE_THEN_INDEX,
        )
        .unwrap_or(None);
    match git2::AttrValue::from_bytes(value) {
        // `-diff`, or the `binary` macro.
        git2::AttrValue::False => Some(true),
        git2::AttrValue::True => Some(false),
        git2::AttrValue::String(driver) => driver_binary(repo, driver.as_bytes()),
        git2::AttrValue::Bytes(driver) => driver_binary(repo, driver),
        git2::AttrValue::Unspecified => None,
    }
}

/// The attributes of a repository's work tree (its `.gitattributes`, then the index's, as git
/// reads them), for a walk that reads the history through a handle without one: libgit2 would
/// otherwise look for `.gitattributes` files in the work tree for every diff. A path is looked
/// up once for all the caches that share this, and in the work tree only where a directory
/// above it holds a `.gitattributes` other than the index's (an edit not committed, a checkout
/// that left the index empty); elsewhere the history's handle, which reads the index's, gives
/// git's answer without statting the work tree for every path.
#[derive(Clone)]
pub(crate) struct WorkTreeAttributes(Rc<WorkTree>);

struct WorkTree {
    handle: Repository,
    root: std::path::PathBuf,
    /// The index's `.gitattributes` files: directory → blob.
    in_index: HashMap<String, Oid>,
    /// Whether a directory's `.gitattributes` in the work tree is the index's (or both lack one).
    as_in_index: RefCell<HashMap<String, bool>>,
    known: RefCell<HashMap<String, Option<bool>>>,
}

impl WorkTreeAttributes {
    /// None for a bare repository, whose history handle reads what git reads there.
    pub(crate) fn of(repo: &Repository) -> Option<WorkTreeAttributes> {
        let root = repo.workdir()?.to_path_buf();
        let handle = Repository::open(&root).ok()?;
        let mut in_index = HashMap::new();
        if let Ok(index) = handle.index() {
            for entry in index.iter() {
                let Ok(path) = std::str::from_utf8(&entry.path) else {
                    continue;
                };
                let dir = match path.strip_suffix(".gitattributes") {
                    Some("") => "",
                    Some(dir) => match dir.strip_suffix('/') {
                        Some(dir) => dir,
                        None => continue,
                    },
                    None => continue,
                };
                in_index.insert(dir.to_string(), entry.id);
            }
        }
        Some(WorkTreeAttributes(Rc::new(WorkTree {
            handle,
            root,
            in_index,
            as_in_index: RefCell::default(),
            known: RefCell::default(),
        })))
    }

    fn binary(&self, history: &Repository, path: &str) -> Option<bool> {
        let work_tree = &*self.0;
        if let Some(&binary) = work_tree.known.borrow().get(path) {
            return binary;
        }
        let mut dirs =
            std::iter::once("").chain(path.match_indices('/').map(|(end, _)| &path[..end]));
        let from = if dirs.all(|dir| work_tree.as_in_index(dir)) {
            history
        } else {
            &work_tree.handle
        };
        let binary = binary_by_attributes_of(from, path);
        work_tree
            .known
            .borrow_mut()
            .insert(path.to_string(), binary);
        binary
    }
}

impl WorkTree {
    fn as_in_index(&self, dir: &str) -> bool {
        if let Some(&same) = self.as_in_index.borrow().get(dir) {
            return same;
        }
        let file = self.root.join(dir).join(".gitattributes");
        let same = match (std::fs::symlink_metadata(&file), self.in_index.get(dir)) {
            (Err(e), None) => e.kind() == std::io::ErrorKind::NotFound,
            // Hashed as it is: a file git would convert (line endings) counts as another.
            (Ok(meta), Some(&id)) => {
                meta.is_file()
                    && meta.len() <= super::attributes::MAX_ATTRIBUTES_FILE_BYTES as u64
                    && Oid::hash_file(ObjectType::Blob, &file).is_ok_and(|h| h == id)
            }
            _ => false,
        };
        self.as_in_index.borrow_mut().insert(dir.to_string(), same);
        same
    }
}

/// The size of blob `id`, from its object header, nothing inflated; `None` when the
/// repository has no blob of that id.
pub(super) fn blob_size(repo: &Repository, id: Oid) -> Option<usize> {
    let (size, kind) = repo.odb().ok()?.read_header(id).ok()?;
    (kind == ObjectType::Blob).then_some(size)
}

/// Blob `id` through libgit2: its content when it is at most `limit` bytes, else only its
/// size. The size is read first: libgit2 reads a blob whole, and a larger one is never read.
pub(super) fn read_blob_within(repo: &Repository, id: Oid, limit: u64) -> Option<pack::BlobRead> {
    let size = blob_size(repo, id)? as u64;
    if size > limit {
        return Some(pack::BlobRead::Larger(size));
    }
    Some(pack::BlobRead::Content(Arc::from(
        repo.find_blob(id).ok()?.content(),
    )))
}

/// A blob as the diffs need it: binary or not, its line count, and (text only) its content.
pub struct CachedBlob {
    /// Binary blobs are never line-diffed: their content is not kept.
    pub(super) text: Option<Arc<[u8]>>,
    pub binary: bool,
    pub lines: u64,
}

impl CachedBlob {
    /// Content of a text blob (a binary one's is not kept: empty).
    pub fn content(&self) -> &[u8] {
        self.text.as_deref().unwrap_or_default()
    }

    /// Content of a text blob, shared.
    pub fn text(&self) -> Arc<[u8]> {
        self.text.clone().unwrap_or_else(|| Arc::from(&[][..]))
    }
}

/// Most bytes of blob content an [`ObjectCache`] keeps; past it, the blobs cached longest ago
/// make room for new ones.
pub const BLOB_CACHE_BYTES: usize = 128 << 20;

/// A blob larger than this is binary to `git diff`, which reads no more of it than its size
/// (`core.bigFileThreshold`, whose default this is); riskgate does the same.
pub const BIG_FILE_BYTES: u64 = 512 << 20;

/// Most bytes of parsed trees an [`ObjectCache`] keeps; past it they are all dropped and read
/// again as needed (trees read for merges and other branches are otherwise never let go).
pub const TREE_CACHE_BYTES: usize = 96 << 20;

/// Trees and blobs of the trees being mined forward, kept from a commit to its children, so
/// that the miner reads each from the object store about once: libgit2 keeps no blobs in its
/// cache (a modified file's old blob is the new blob of an earlier commit), and reading a blob
/// means inflating it and applying its delta chain. The caller drops what a commit replaced
/// once no other child of its parent can need it ([`ObjectCache::forget`]), so what is kept is
/// bounded by the files and directories of the trees being extended. Blob content is bounded
/// by [`BLOB_CACHE_BYTES`] too: what a branch point keeps for its other children is never
/// dropped by `forget`, so past the limit the blobs cached longest ago go first. Made with
/// [`ObjectCache::reading_packs`], it reads objects from the pack files itself
/// ([`pack::Packs`]), and through libgit2 only what they do not give.
pub struct ObjectCache {
    pub(super) packs: Option<pack::Packs>,
    /// Blobs larger are binary, unread ([`BIG_FILE_BYTES`]).
    big_file_bytes: u64,
    /// Whether the attributes make a path binary or text, by path
    /// ([`ObjectCache::binary_by_attributes`]).
    binary_paths: HashMap<String, Option<bool>>,
    /// The work tree whose attributes are read in place of those of the handle the history is
    /// read through ([`ObjectCache::with_work_tree_attributes`]).
    attributes_from: Option<WorkTreeAttributes>,
    /// The committed attributes the repository handle read with this cache reads in place
    /// of its work tree's and index's, if any: another thread's handle must read them too.
    pub(super) committed_attributes: Option<std::sync::Arc<super::attributes::CommittedAttributes>>,
    trees: HashMap<Oid, Rc<TreeData>>,
    tree_bytes: usize,
    /// [`TREE_CACHE_BYTES`], or less for a cache that only diffs trees now and then
    /// ([`ObjectCache::with_smaller_caches`]).
    tree_cache_bytes: usize,
    blobs: HashMap<Oid, Rc<CachedBlob>>,
    blob_bytes: usize,
    /// Blob ids in the order they were cached, oldest first. It may still name blobs
    /// [`ObjectCache::forget`] has dropped, and name a blob cached again twice (the first
    /// place then drops it early): [`ObjectCache::make_room_for`].
    blob_order: VecDeque<Oid>,
    /// [`BLOB_CACHE_BYTES`], lowered by tests.
    blob_cache_bytes: usize,
    /// Trees of the parent side the last diff replaced.
    pub(super) replaced_trees: Vec<Oid>,
    /// git asked for merges' renames through the walk this cache serves, once started.
    pub(super) tree_renames: Option<super::renames::TreeRenames>,
    /// Merges git could not diff (each one ends it, and the next starts it again).
    pub(super) tree_renames_failed: usize,
    /// Whether the repository is a partial clone, once read: git is not asked for merges'
    /// renames there, as it would stop at each version the clone has not fetched.
    pub(super) partial_clone: Option<bool>,
}

impl ObjectCache {
    /// A cache reading objects of `repo` through libgit2, with the big-file threshold `git
    /// diff` uses in `repo` (its `core.bigFileThreshold`).
    pub fn new(repo: &Repository) -> ObjectCache {
        let configured = repo
            .config()
            .and_then(|c| c.get_i64("core.bigFileThreshold"))
            .ok()
            .and_then(|bytes| u64::try_from(bytes).ok());
        ObjectCache {
            packs: None,
            big_file_bytes: configured.unwrap_or(BIG_FILE_BYTES),
            binary_paths: HashMap::new(),
            attributes_from: None,
            committed_attributes: None,
            trees: HashMap::new(),
            tree_bytes: 0,
            tree_cache_bytes: TREE_CACHE_BYTES,
            blobs: HashMap::new(),
            blob_bytes: 0,
            blob_order: VecDeque::new(),
            blob_cache_bytes: BLOB_CACHE_BYTES,
            replaced_trees: Vec::new(),
            tree_renames: None,
            tree_renames_failed: 0,
            partial_clone: None,
        }
    }

    /// A cache reading objects from `repo`'s pack files where it can.
    pub fn reading_packs(repo: &Repository) -> ObjectCache {
        ObjectCache {
            packs: Some(pack::Packs::open(repo.commondir())),
            ..ObjectCache::new(repo)
        }
    }

    /// The cache keeping at most `bytes` of trees and of pack delta bases each: for a second
    /// reader beside the walk's, whose caches already hold what the walk reads most.
    pub(crate) fn with_smaller_caches(mut self, bytes: usize) -> ObjectCache {
        self.tree_cache_bytes = bytes.min(TREE_CACHE_BYTES);
        if let Some(packs) = &mut self.packs {
            packs.limit_base_cache(bytes);
        }
        self
    }

    /// The cache reading a path's attributes from `work_tree` ([`WorkTreeAttributes`]) in place
    /// of the handle it reads objects through.
    pub(crate) fn with_work_tree_attributes(
        mut self,
        work_tree: Option<WorkTreeAttributes>,
    ) -> ObjectCache {
        self.attributes_from = work_tree;
        self
    }

    /// Whether `git diff` takes the regular file `path` for binary or for text whatever its
    /// content, by the repository's attributes as git reads them there (the working tree's
    /// `.gitattributes`, then the index; `info/attributes`; the global and system files):
    /// binary for `-diff`, `binary`, or a diff driver configured `binary = true`; text for
    /// `diff` set, or a driver configured `binary = false`. `None` when the content decides.
    /// Looked up once per path.
    pub(super) fn binary_by_attributes(&mut self, repo: &Repository, path: &str) -> Option<bool> {
        if let Some(work_tree) = &self.attributes_from {
            return work_tree.binary(repo, path);
        }
        if let Some(&binary) = self.binary_paths.get(path) {
            return binary;
        }
        let binary = binary_by_attributes_of(repo, path);
        self.binary_paths.insert(path.to_string(), binary);
        binary
    }

    /// Blob `id` (already read: `blob`) as `git diff` reads the regular file `path`: `None`
    /// when binary there, by the attributes ([`ObjectCache::binary_by_attributes`]), else by
    /// its content.
    pub(super) fn as_text(
        &mut self,
        repo: &Repository,
        id: Oid,
        blob: Rc<CachedBlob>,
        path: &str,
    ) -> Option<Rc<CachedBlob>> {
        match self.binary_by_attributes(repo, path) {
            Some(true) => None,
            Some(false) => self.forced_text(repo, id, blob),
            None => (!blob.binary).then_some(blob),
        }
    }

    /// Blob `id` as the lines of the regular file `path` are followed to their owners. git
    /// blame reads every version as lines, whatever the attributes say; riskgate leaves out a
    /// version with NUL bytes, as `git diff` does, unless the attributes make the file text.
    pub(super) fn blame_blob(
        &mut self,
        repo: &Repository,
        id: Oid,
        path: &str,
    ) -> Option<Rc<CachedBlob>> {
        let blob = self.blob(repo, id)?;
        if !blob.binary {
            return Some(blob);
        }
        match self.binary_by_attributes(repo, path) {
            Some(false) => self.forced_text(repo, id, blob),
            _ => None,
        }
    }

    /// `blob` (blob `id`) as text, which the attributes ask for: a version with NUL bytes is
    /// read again, the cache keeping no binary content; one past the big-file threshold stays
    /// unread, and binary.
    fn forced_text(
        &mut self,
        repo: &Repository,
        id: Oid,
        blob: Rc<CachedBlob>,
    ) -> Option<Rc<CachedBlob>> {
        if !blob.binary {
            return Some(blob);
        }
        match self.read_blob(repo, id)? {
            pack::BlobRead::Content(content) => Some(Rc::new(CachedBlob {
                lines: count_lines(&content),
                text: Some(content),
                binary: false,
            })),
            pack::BlobRead::Larger(_) => None,
        }
    }

    /// Blob `id`'s content, or only its size when that is past the big-file threshold.
    fn read_blob(&mut self, repo: &Repository, id: Oid) -> Option<pack::BlobRead> {
        let limit = self.big_file_bytes;
        if let Some(read) = self.packs.as_mut().and_then(|p| p.read_blob(id, limit)) {
            return Some(read);
        }
        read_blob_within(repo, id, limit)
    }

    fn read_packed(&mut self, id: Oid, kind: ObjectType) -> Option<Arc<[u8]>> {
        match self.packs.as_mut()?.read(id)? {
            (k, data) if k == kind => Some(data),
            _ => None,
        }
    }

    pub fn tree(&mut self, repo: &Repository, id: Oid) -> Result<Rc<TreeData>, git2::Error> {
        if let Some(t) = self.trees.get(&id) {
            return Ok(t.clone());
        }
        let parsed = self
            .read_packed(id, ObjectType::Tree)
            .and_then(|raw| TreeData::parse(id, &raw));
        let t = Rc::new(match parsed {
            Some(t) => t,
            None => TreeData::from_git(&repo.find_tree(id)?),
        });
        if self.tree_bytes + t.bytes() > self.tree_cache_bytes {
            self.trees.clear();
            self.tree_bytes = 0;
        }
        self.tree_bytes += t.bytes();
        self.trees.insert(id, t.clone());
        Ok(t)
    }

    /// The blob `id` (None for the zero id, or a blob the repository does not have).
    pub fn blob(&mut self, repo: &Repository, id: Oid) -> Option<Rc<CachedBlob>> {
        if id.is_zero() {
            return None;
        }
        if let Some(b) = self.blobs.get(&id) {
            return Some(b.clone());
        }
        let content = match self.read_blob(repo, id)? {
            pack::BlobRead::Content(content) => content,
            pack::BlobRead::Larger(_) => {
                let big = Rc::new(CachedBlob {
                    text: None,
                    binary: true,
                    lines: 0,
                });
                self.blobs.insert(id, big.clone());
                return Some(big);
            }
        };
        let binary = pack::is_binary(&content);
        let lines = count_lines(&content);
        let size = if binary { 0 } else { content.len() };
        let cached = Rc::new(CachedBlob {
            text: (!binary).then_some(content),
            binary,
            lines,
        });
        if size <= self.blob_cache_bytes {
            self.make_room_for(size);
            self.blob_bytes += size;
            self.blobs.insert(id, cached.clone());
            self.blob_order.push_back(id);
        }
        Some(cached)
    }

    /// Drops the blobs cached longest ago until `size` more bytes of content fit. A walk needs
    /// the versions it made last (a file changed again soon is diffed against them); the
    /// oldest are those of branch points it has moved past and of files long unchanged.
    fn make_room_for(&mut self, size: usize) {
        while self.blob_bytes + size > self.blob_cache_bytes {
            let Some(oldest) = self.blob_order.pop_front() else {
                break;
            };
            self.drop_blob(oldest);
        }
        // `forget` leaves its blobs' ids in the order: bound what they take.
        if self.blob_order.len() > 2 * self.blobs.len() + 1024 {
            let blobs = &self.blobs;
            self.blob_order.retain(|id| blobs.contains_key(id));
        }
    }

    fn drop_blob(&mut self, id: Oid) {
        if let Some(b) = self.blobs.remove(&id) {
            self.blob_bytes -= b.text.as_ref().map_or(0, |t| t.len());
        }
    }

    /// The blob `id` if it is cached (nothing is read).
    pub fn cached_blob(&self, id: Oid) -> Option<Rc<CachedBlob>> {
        self.blobs.get(&id).cloned()
    }

    /// The id of the entry at `path` (components separated by `/`) under tree `root`.
    pub fn entry_at(&mut self, repo: &Repository, root: Oid, path: &str) -> Option<Oid> {
        self.entry_at_with_mode(repo, root, path).map(|(id, _)| id)
    }

    /// The id and file mode of the entry at `path` under tree `root`.
    pub fn entry_at_with_mode(
        &mut self,
        repo: &Repository,
        root: Oid,
        path: &str,
    ) -> Option<(Oid, i32)> {
        let mut tree = self.tree(repo, root).ok()?;
        let mut parts = path.split('/').peekable();
        while let Some(name) = parts.next() {
            let e = tree.get(&git_path::to_bytes(name))?;
            if parts.peek().is_none() {
                return Some((e.id(), e.filemode()));
            }
            if e.filemode() != 0o040000 {
                return None;
            }
            let id = e.id();
            tree = self.tree(repo, id).ok()?;
        }
        None
    }

    /// After a commit's diff: drop the blobs and trees of its parent that it replaced (when no
    /// other child of the parent is still to come), or keep them (`keep`).
    pub fn forget<'d>(&mut self, diffed: impl IntoIterator<Item = &'d DiffedFile>, keep: bool) {
        let replaced = std::mem::take(&mut self.replaced_trees);
        if keep {
            return;
        }
        for id in replaced {
            if let Some(t) = self.trees.remove(&id) {
                self.tree_bytes -= t.bytes();
            }
        }
        for d in diffed {
            if !d.old_id.is_zero() && d.old_id != d.new_id {
                self.drop_blob(d.old_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Past its limit the cache drops the blobs it took longest ago, not the one read now: a
    /// walk diffs a file against the version it made last.
    #[test]
    fn a_full_blob_cache_makes_room_for_the_newest_blob() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        let ids: Vec<Oid> = (b'a'..=b'd')
            .map(|c| repo.blob(&[c; 100]).unwrap())
            .collect();
        let mut cache = ObjectCache::new(&repo);
        cache.blob_cache_bytes = 250;
        for &id in &ids {
            assert_eq!(cache.blob(&repo, id).unwrap().lines, 1);
            assert!(
                cache.cached_blob(id).is_some(),
                "the blob just read is kept"
            );
            assert!(cache.blob_bytes <= 250);
        }
        assert!(cache.cached_blob(ids[0]).is_none() && cache.cached_blob(ids[1]).is_none());
        assert!(cache.cached_blob(ids[2]).is_some());

        // A blob dropped as `forget` drops it leaves its id in the order, which is kept short.
        for n in 0..1500u32 {
            let id = repo.blob(format!("version {n}\n").as_bytes()).unwrap();
            cache.blob(&repo, id).unwrap();
            assert!(cache.cached_blob(id).is_some());
            cache.drop_blob(id);
        }
        assert!(cache.blob_order.len() <= 1025, "{}", cache.blob_order.len());
        let big = repo.blob(&[b'e'; 300]).unwrap();
        assert!(cache.blob(&repo, big).is_some());
        assert!(
            cache.cached_blob(big).is_none(),
            "larger than the whole cache: not kept"
        );
    }

    #[test]
    fn line_counts() {
        assert_eq!(count_lines(b""), 0);
        assert_eq!(count_lines(b"a"), 1);
        assert_eq!(count_lines(b"a\nb\n"), 2);
        assert_eq!(count_lines(b"a\nb"), 2);
    }
}
