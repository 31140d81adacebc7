//! Objects read straight from a repository's pack files, for the miner's walk over history.
//!
//! The miner reads history oldest first, and git packs store old versions of a file as deltas
//! against newer ones: each read applies a delta chain, and the next version of the file is
//! usually an intermediate of the chain just applied. libgit2 keeps those intermediates in a
//! 16 MiB cache per pack that it empties completely whenever it is full, so on a long history
//! nearly every read starts over from the chain's base. This reader keeps them in a
//! least-recently-used cache of [`BASE_CACHE_BYTES`] instead, reuses one inflater, and hands
//! out shared buffers.
//!
//! It only knows version 2 pack indexes under `objects/pack`. Anything else — a loose object,
//! an object of an alternate, a base it cannot resolve, data it cannot make sense of — is
//! reported as not found, and the caller reads the object through libgit2, which says what is
//! wrong if anything is. Objects are not re-hashed (neither are libgit2's, with strict hash
//! verification off as the miner sets it).

mod tree;

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use flate2::{Decompress, FlushDecompress, Status};
use git2::{ObjectType, Oid};

pub use tree::{TreeData, TreeEntryRef};

/// Most bytes of decoded objects kept for delta chains (git's own default for the same cache,
/// `core.deltaBaseCacheLimit`, is 96 MiB).
pub const BASE_CACHE_BYTES: usize = 96 << 20;

/// Longest delta chain followed (git's `--depth` default is 50; a cycle would be endless).
const MAX_CHAIN: usize = 10_000;

/// Objects larger than this are left to libgit2 (they would be read whole into memory).
const MAX_OBJECT: u64 = 1 << 30;

/// Room first made for an inflated object or an applied delta; more is made as the data
/// turns out to need it, so that a size a corrupt pack claims reserves nothing.
const INFLATE_START: usize = 1 << 20;

struct Pack {
    file: File,
    /// The whole `.idx` file (version 2).
    index: Vec<u8>,
    count: usize,
    /// Length of the `.pack` file.
    len: u64,
}

const IDX_HEADER: usize = 8;
const FANOUT: usize = 256 * 4;

impl Pack {
    fn open(idx_path: &Path) -> Option<Pack> {
        let index = std::fs::read(idx_path).ok()?;
        if index.len() < IDX_HEADER + FANOUT || index[..8] != [0xff, b't', b'O', b'c', 0, 0, 0, 2] {
            return None;
        }
        let count = be32(&index, IDX_HEADER + 255 * 4)? as usize;
        // names, CRCs and 32-bit offsets, then 64-bit offsets and two trailing hashes
        let min_len = IDX_HEADER + FANOUT + count.checked_mul(20 + 4 + 4)? + 40;
        if index.len() < min_len {
            return None;
        }
        let file = File::open(idx_path.with_extension("pack")).ok()?;
        let len = file.metadata().ok()?.len();
        Some(Pack {
            file,
            index,
            count,
            len,
        })
    }

    /// Offset in the pack of object `id`.
    fn find(&self, id: &[u8]) -> Option<u64> {
        let first = *id.first()? as usize;
        let lo = if first == 0 {
            0
        } else {
            be32(&self.index, IDX_HEADER + (first - 1) * 4)? as usize
        };
        let hi = be32(&self.index, IDX_HEADER + first * 4)? as usize;
        if lo > hi || hi > self.count {
            return None;
        }
        let names = IDX_HEADER + FANOUT;
        let (mut lo, mut hi) = (lo, hi);
        while lo < hi {
            let mid = (lo + hi) / 2;
            let name = self.index.get(names + mid * 20..names + mid * 20 + 20)?;
            match name.cmp(id) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return self.offset(mid),
            }
        }
        None
    }

    fn offset(&self, i: usize) -> Option<u64> {
        let small = IDX_HEADER + FANOUT + self.count * 24;
        let o = be32(&self.index, small + i * 4)?;
        if o & 0x8000_0000 == 0 {
            return Some(u64::from(o));
        }
        let large = small + self.count * 4 + (o & 0x7fff_ffff) as usize * 8;
        let b = self.index.get(large..large + 8)?;
        Some(u64::from_be_bytes(b.try_into().ok()?))
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> Option<usize> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileExt;
            self.file.read_at(buf, offset).ok()
        }
        #[cfg(windows)]
        {
            use std::os::windows::fs::FileExt;
            self.file.seek_read(buf, offset).ok()
        }
        #[cfg(not(any(unix, windows)))]
        {
            let _ = (buf, offset);
            None
        }
    }
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// How an entry of a pack is stored.
enum Entry {
    Whole(ObjectType),
    /// A delta against the entry at this offset of the same pack.
    OfsDelta(u64),
    /// A delta against the object with this id.
    RefDelta(Oid),
}

/// A blob as [`Packs::read_blob`] finds it.
pub enum BlobRead {
    Content(Arc<[u8]>),
    /// Past the limit asked: its size, its content left unread.
    Larger(u64),
}

/// What [`Packs::decode`] makes of an entry.
enum Decoding {
    Object(ObjectType, Arc<[u8]>),
    /// Past the limit asked: its size.
    Larger(u64),
}

/// A decoded object: when it was last used, its type and content.
type Decoded = (u64, ObjectType, Arc<[u8]>);

/// Decoded objects by (pack, offset), least recently used dropped first past a byte budget.
struct BaseCache {
    entries: HashMap<(usize, u64), Decoded>,
    by_use: BTreeMap<u64, (usize, u64)>,
    bytes: usize,
    limit: usize,
    clock: u64,
}

impl BaseCache {
    fn get(&mut self, key: (usize, u64)) -> Option<(ObjectType, Arc<[u8]>)> {
        let (used, kind, data) = self.entries.get_mut(&key)?;
        self.by_use.remove(used);
        self.clock += 1;
        *used = self.clock;
        self.by_use.insert(self.clock, key);
        Some((*kind, data.clone()))
    }

    fn put(&mut self, key: (usize, u64), kind: ObjectType, data: Arc<[u8]>) {
        if data.len() > self.limit / 4 {
            return;
        }
        self.clock += 1;
        self.bytes += data.len();
        if let Some((used, _, old)) = self.entries.insert(key, (self.clock, kind, data)) {
            self.by_use.remove(&used);
            self.bytes -= old.len();
        }
        self.by_use.insert(self.clock, key);
        while self.bytes > self.limit {
            let Some((_, oldest)) = self.by_use.pop_first() else {
                break;
            };
            if let Some((_, _, d)) = self.entries.remove(&oldest) {
                self.bytes -= d.len();
            }
        }
    }
}

/// The pack files of one repository (see the module documentation).
pub struct Packs {
    packs: Vec<Pack>,
    cache: BaseCache,
    inflater: Decompress,
    buf: Vec<u8>,
}

impl Packs {
    /// The packs under `<git_dir>/objects/pack` (none when there are none, or on a platform
    /// without positional reads: every object then comes from libgit2).
    pub fn open(git_dir: &Path) -> Packs {
        let mut idx: Vec<_> = std::fs::read_dir(git_dir.join("objects").join("pack"))
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "idx"))
            .collect();
        idx.sort();
        Packs {
            packs: idx.iter().filter_map(|p| Pack::open(p)).collect(),
            cache: BaseCache {
                entries: HashMap::new(),
                by_use: BTreeMap::new(),
                bytes: 0,
                limit: BASE_CACHE_BYTES,
                clock: 0,
            },
            inflater: Decompress::new(true),
            buf: Vec::new(),
        }
    }

    /// Keep at most `bytes` of delta bases (never more than [`BASE_CACHE_BYTES`]).
    pub(crate) fn limit_base_cache(&mut self, bytes: usize) {
        self.cache.limit = bytes.min(BASE_CACHE_BYTES);
    }

    /// Object `id` as (type, content), if one of the packs has it and it can be decoded.
    pub fn read(&mut self, id: Oid) -> Option<(ObjectType, Arc<[u8]>)> {
        let at = self.locate(id)?;
        match self.decode(at, u64::MAX)? {
            Decoding::Object(kind, data) => Some((kind, data)),
            Decoding::Larger(_) => None,
        }
    }

    /// Blob `id`, if one of the packs has it: its content when it is at most `limit` bytes,
    /// else only its size (see [`Packs::decode`]).
    pub fn read_blob(&mut self, id: Oid, limit: u64) -> Option<BlobRead> {
        let at = self.locate(id)?;
        match self.decode(at, limit)? {
            Decoding::Object(ObjectType::Blob, data) => Some(BlobRead::Content(data)),
            Decoding::Object(..) => None,
            Decoding::Larger(size) => Some(BlobRead::Larger(size)),
        }
    }

    fn locate(&self, id: Oid) -> Option<(usize, u64)> {
        self.packs
            .iter()
            .enumerate()
            .find_map(|(i, p)| p.find(id.as_bytes()).map(|o| (i, o)))
    }

    /// The object at `at`: down its delta chain to a cached object or a whole one, then the
    /// deltas applied back up, each result cached. An object larger than `limit` is only
    /// sized: a whole one by its entry's header, before anything is inflated; a delta by the
    /// target size at the head of its own delta, before its chain is followed (and, when the
    /// delta itself is past the limit, before more than its head is inflated).
    fn decode(&mut self, mut at: (usize, u64), limit: u64) -> Option<Decoding> {
        let mut deltas: Vec<((usize, u64), Vec<u8>)> = Vec::new();
        let (kind, mut data) = loop {
            if let Some((kind, data)) = self.cache.get(at) {
                // Cached as the base of another object's delta, it may be past the limit.
                if deltas.is_empty() && data.len() as u64 > limit {
                    return Some(Decoding::Larger(data.len() as u64));
                }
                break (kind, data);
            }
            let (entry, size, data_at) = self.header(at)?;
            if deltas.is_empty() && matches!(entry, Entry::Whole(_)) && size > limit {
                return Some(Decoding::Larger(size));
            }
            if size > MAX_OBJECT {
                return None;
            }
            if deltas.is_empty() && !matches!(entry, Entry::Whole(_)) && size > limit {
                // A delta past the limit is sized by its head, before it is inflated whole.
                let target = self.delta_target_unread(at.0, data_at);
                if let Some(target) = target.filter(|&t| t > limit) {
                    return Some(Decoding::Larger(target));
                }
            }
            let content = self.inflate(at.0, data_at, size)?;
            if deltas.is_empty() && !matches!(entry, Entry::Whole(_)) {
                let target = delta_target(&content)?;
                if target > limit {
                    return Some(Decoding::Larger(target));
                }
            }
            match entry {
                Entry::Whole(kind) => {
                    let content: Arc<[u8]> = content.into();
                    self.cache.put(at, kind, content.clone());
                    break (kind, content);
                }
                Entry::OfsDelta(base) => {
                    deltas.push((at, content));
                    at = (at.0, base);
                }
                Entry::RefDelta(base) => {
                    deltas.push((at, content));
                    at = self.locate(base)?;
                }
            }
            if deltas.len() > MAX_CHAIN {
                return None;
            }
        };
        for (at, delta) in deltas.into_iter().rev() {
            data = apply_delta(&data, &delta)?.into();
            self.cache.put(at, kind, data.clone());
        }
        Some(Decoding::Object(kind, data))
    }

    /// How the entry at `at` is stored, its inflated size, and where its zlib data starts.
    fn header(&mut self, at: (usize, u64)) -> Option<(Entry, u64, u64)> {
        let mut head = [0u8; 64];
        let pack = &self.packs[at.0];
        let n = pack.read_at(&mut head, at.1)?;
        let head = &head[..n];
        let mut i = 0;
        let mut c = *head.get(i)?;
        i += 1;
        let kind = (c >> 4) & 7;
        let mut size = u64::from(c & 15);
        let mut shift = 4;
        while c & 0x80 != 0 {
            c = *head.get(i)?;
            i += 1;
            if shift > 60 {
                return None;
            }
            size |= u64::from(c & 0x7f) << shift;
            shift += 7;
        }
        let entry = match kind {
            1 => Entry::Whole(ObjectType::Commit),
            2 => Entry::Whole(ObjectType::Tree),
            3 => Entry::Whole(ObjectType::Blob),
            4 => Entry::Whole(ObjectType::Tag),
            6 => {
                let mut c = *head.get(i)?;
                i += 1;
                let mut back = u64::from(c & 0x7f);
                while c & 0x80 != 0 {
                    c = *head.get(i)?;
                    i += 1;
                    back = back.checked_add(1)?.checked_mul(128)? | u64::from(c & 0x7f);
                }
                if back == 0 || back > at.1 {
                    return None;
                }
                Entry::OfsDelta(at.1 - back)
            }
            7 => {
                let id = Oid::from_bytes(head.get(i..i + 20)?).ok()?;
                i += 20;
                Entry::RefDelta(id)
            }
            _ => return None,
        };
        Some((entry, size, at.1 + i as u64))
    }

    /// The target size at the head of the delta whose zlib stream starts at `offset` of pack
    /// `pack`, read by inflating the head alone (two sizes of at most 10 bytes each).
    fn delta_target_unread(&mut self, pack: usize, offset: u64) -> Option<u64> {
        let mut compressed = [0u8; 512];
        let n = self.packs[pack].read_at(&mut compressed, offset)?;
        let mut head = Vec::with_capacity(20);
        self.inflater.reset(true);
        self.inflater
            .decompress_vec(&compressed[..n], &mut head, FlushDecompress::None)
            .ok()?;
        delta_target(&head)
    }

    /// `size` bytes inflated from the zlib stream at `offset` of pack `pack`.
    fn inflate(&mut self, pack: usize, mut offset: u64, size: u64) -> Option<Vec<u8>> {
        let size = usize::try_from(size).ok()?;
        // Room for one extra byte: a stream giving more than `size` is corrupt, not cut short.
        // The room grows with what the stream yields rather than being reserved for the size
        // the header claims, which a corrupt header can put at a gigabyte.
        let room = size.checked_add(1)?;
        let mut out = Vec::with_capacity(room.min(INFLATE_START));
        self.inflater.reset(true);
        // Compressed data is rarely much larger than the data itself, and never runs past the
        // end of the pack.
        let left = self.packs[pack].len.saturating_sub(offset);
        let chunk = (size + size / 64 + 64)
            .clamp(4096, 8 << 20)
            .min(usize::try_from(left).unwrap_or(usize::MAX).max(1));
        if self.buf.len() < chunk {
            self.buf.resize(chunk, 0);
        }
        loop {
            if out.len() == out.capacity() {
                out.reserve_exact(out.capacity().max(INFLATE_START).min(room - out.len()));
            }
            let n = self.packs[pack].read_at(&mut self.buf[..chunk], offset)?;
            if n == 0 {
                return None;
            }
            let (in_before, out_before) = (self.inflater.total_in(), self.inflater.total_out());
            let status = self
                .inflater
                .decompress_vec(&self.buf[..n], &mut out, FlushDecompress::None)
                .ok()?;
            let used = self.inflater.total_in() - in_before;
            let produced = self.inflater.total_out() - out_before;
            match status {
                Status::StreamEnd => return (out.len() == size).then_some(out),
                _ if out.len() > size => return None,
                _ if used == 0 && produced == 0 => return None,
                _ => offset += used,
            }
        }
    }
}

/// The size of the object a delta makes: the second of the two sizes at its head (the base's,
/// then the target's).
fn delta_target(delta: &[u8]) -> Option<u64> {
    let mut i = 0;
    varint(delta, &mut i)?;
    varint(delta, &mut i)
}

/// The size at `d[*i..]` as a delta's header writes it (7 bits a byte, least significant
/// first), `*i` moved past it.
fn varint(d: &[u8], i: &mut usize) -> Option<u64> {
    let (mut v, mut shift) = (0u64, 0);
    loop {
        let c = *d.get(*i)?;
        *i += 1;
        if shift > 63 {
            return None;
        }
        v |= u64::from(c & 0x7f) << shift;
        shift += 7;
        if c & 0x80 == 0 {
            return Some(v);
        }
    }
}

/// `base` with git's delta `delta` applied.
fn apply_delta(base: &[u8], delta: &[u8]) -> Option<Vec<u8>> {
    let mut i = 0;
    if varint(delta, &mut i)? != base.len() as u64 {
        return None;
    }
    let size = usize::try_from(varint(delta, &mut i)?).ok()?;
    if size as u64 > MAX_OBJECT {
        return None;
    }
    // The result is usually about as large as its base; it grows from there as it needs.
    let mut out = Vec::with_capacity(size.min(base.len().saturating_add(delta.len())));
    while i < delta.len() {
        let op = delta[i];
        i += 1;
        if op & 0x80 != 0 {
            let (mut off, mut len) = (0usize, 0usize);
            for b in 0..4 {
                if op & (1 << b) != 0 {
                    off |= usize::from(*delta.get(i)?) << (8 * b);
                    i += 1;
                }
            }
            for b in 0..3 {
                if op & (0x10 << b) != 0 {
                    len |= usize::from(*delta.get(i)?) << (8 * b);
                    i += 1;
                }
            }
            if len == 0 {
                len = 0x10000;
            }
            out.extend_from_slice(base.get(off..off.checked_add(len)?)?);
        } else if op != 0 {
            out.extend_from_slice(delta.get(i..i + usize::from(op))?);
            i += usize::from(op);
        } else {
            return None;
        }
        if out.len() > size {
            return None;
        }
    }
    (out.len() == size).then_some(out)
}

/// Whether git takes a blob's content for binary when it diffs it: a NUL among its first
/// 8,000 bytes (`buffer_is_binary`). libgit2 also calls binary a blob with more than one
/// control character per 128 printable ones, or with a UTF-16 byte order mark; `git diff
/// --numstat` counts such a blob's lines, and `git blame` owns them, so riskgate does too.
pub fn is_binary(content: &[u8]) -> bool {
    memchr::memchr(0, &content[..content.len().min(8000)]).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_copy_and_insert() {
        let base = b"hello, world\n";
        // source 13, target 18: copy 0..7 ("hello, "), insert "there ", copy 7..12 ("world")
        let mut delta = vec![13, 18, 0x80 | 0x10, 7, 6];
        delta.extend_from_slice(b"there ");
        delta.extend_from_slice(&[0x80 | 0x01 | 0x10, 7, 5]);
        assert_eq!(apply_delta(base, &delta).unwrap(), b"hello, there world");
        assert!(apply_delta(b"short", &delta).is_none(), "wrong source size");
        assert!(apply_delta(base, &[13, 1, 0]).is_none(), "reserved opcode");
    }

    /// A pack of a 4-byte blob and a delta against it whose head claims a 5 MiB target, its
    /// zlib stream holding the head alone; and its version 2 index. Returns the delta's id.
    fn pack_with_a_cut_delta(dir: &Path) -> Oid {
        use flate2::{Compress, Compression, FlushCompress};
        let zlib = |data: &[u8], flush| {
            let mut out = Vec::with_capacity(data.len() + 64);
            Compress::new(Compression::default(), true)
                .compress_vec(data, &mut out, flush)
                .unwrap();
            out
        };
        let mut pack = b"PACK\0\0\0\x02\0\0\0\x02".to_vec();
        let base_at = pack.len() as u32;
        pack.push(0x30 | 4); // a blob of 4 bytes
        pack.extend(zlib(b"base", FlushCompress::Finish));
        let delta_at = pack.len() as u32;
        let target = 5u32 << 20;
        // An offset delta whose inflated size, 6 MiB, is past any small limit.
        pack.extend([0xe0, 0x80, 0x80, 0x18]);
        pack.push((delta_at - base_at) as u8);
        let mut head = vec![4];
        let mut t = target;
        while t >= 0x80 {
            head.push((t & 0x7f) as u8 | 0x80);
            t >>= 7;
        }
        head.push(t as u8);
        pack.extend(zlib(&head, FlushCompress::Sync));
        std::fs::create_dir_all(dir.join("objects/pack")).unwrap();
        std::fs::write(dir.join("objects/pack/p.pack"), &pack).unwrap();

        let (base_id, delta_id) = ([1u8; 20], [2u8; 20]);
        let mut idx = vec![0xff, b't', b'O', b'c', 0, 0, 0, 2];
        for first in 0..256u32 {
            let count: u32 = match first {
                0 => 0,
                1 => 1,
                _ => 2,
            };
            idx.extend(count.to_be_bytes());
        }
        idx.extend(base_id);
        idx.extend(delta_id);
        idx.extend([0u8; 8]); // CRCs
        idx.extend(base_at.to_be_bytes());
        idx.extend(delta_at.to_be_bytes());
        idx.extend([0u8; 40]);
        std::fs::write(dir.join("objects/pack/p.idx"), &idx).unwrap();
        Oid::from_bytes(&delta_id).unwrap()
    }

    #[test]
    fn a_delta_past_the_limit_is_sized_by_its_head_alone() {
        let dir = tempfile::tempdir().unwrap();
        let delta = pack_with_a_cut_delta(dir.path());
        let mut packs = Packs::open(dir.path());
        // Inflating the delta whole would fail: its stream ends after the head.
        match packs.read_blob(delta, 1 << 20) {
            Some(BlobRead::Larger(size)) => assert_eq!(size, 5 << 20),
            _ => panic!("the delta's head gives its target size"),
        }
        assert!(
            packs.read_blob(delta, 64 << 20).is_none(),
            "whole, it is unreadable"
        );
    }

    #[test]
    fn binary_as_git_diffs_it() {
        assert!(!is_binary(b"plain text\n"));
        assert!(is_binary(b"nul\0inside"));
        // control characters without a NUL are text to git (t/t0110/url-1 of git.git)
        assert!(!is_binary(
            b"x://q/\x01\x02\x03\x04\x05\x06\x07\x08\x0e\x0f\n"
        ));
        assert!(!is_binary(&[0xef, 0xbb, 0xbf, b'a']));
        // only the first 8,000 bytes count
        let mut late = vec![b'a'; 8000];
        late.push(0);
        assert!(!is_binary(&late));
        late.insert(0, 0);
        assert!(is_binary(&late));
    }
}
