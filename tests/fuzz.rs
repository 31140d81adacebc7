//! Hostile input: bytes a user, a repository or GitHub can hand riskgate, thrown at its
//! parsers. Each parser must answer with a value or an error that says what is wrong, never
//! panic, and never allocate far beyond what its input holds.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use riskgate::mining::pack::Packs;

// --- the largest single allocation a parser makes ---

/// The system allocator, noting per thread the largest block asked for.
struct Tracking;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    let _ = LARGEST.try_with(|l| {
        if size > l.get() {
            l.set(size);
        }
    });
}

unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Tracking = Tracking;

/// `f()`, and the largest block allocated on this thread while it ran.
fn largest_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.with(|l| l.set(0));
    let out = f();
    (out, LARGEST.with(Cell::get))
}

// --- packs built by hand ---

/// The header of a pack entry: its type and the size it claims.
fn entry_header(kind: u8, size: u64) -> Vec<u8> {
    let mut out = vec![(kind << 4) | (size & 15) as u8];
    let mut rest = size >> 4;
    while rest > 0 {
        *out.last_mut().unwrap() |= 0x80;
        out.push((rest & 0x7f) as u8);
        rest >>= 7;
    }
    out
}

fn zlib(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(data).unwrap();
    z.finish().unwrap()
}

/// A pack of `entries` (each its header and data as stored) and its version 2 index, the
/// entries named by the ids given.
fn hand_pack(entries: &[([u8; 20], Vec<u8>)]) -> (Vec<u8>, Vec<u8>) {
    let mut pack = b"PACK\0\0\0\x02".to_vec();
    pack.extend_from_slice(&(entries.len() as u32).to_be_bytes());
    let mut named: Vec<([u8; 20], u32)> = Vec::new();
    for (id, entry) in entries {
        named.push((*id, pack.len() as u32));
        pack.extend_from_slice(entry);
    }
    pack.extend_from_slice(&[0; 20]);
    named.sort();
    let mut idx = vec![0xff, b't', b'O', b'c', 0, 0, 0, 2];
    for first in 0..=255u8 {
        let n = named.iter().filter(|(id, _)| id[0] <= first).count() as u32;
        idx.extend_from_slice(&n.to_be_bytes());
    }
    for (id, _) in &named {
        idx.extend_from_slice(id);
    }
    for _ in &named {
        idx.extend_from_slice(&[0; 4]);
    }
    for (_, offset) in &named {
        idx.extend_from_slice(&offset.to_be_bytes());
    }
    idx.extend_from_slice(&[0; 40]);
    (pack, idx)
}

/// What reading `id` from `pack` and `idx` gives, and the largest block it allocated.
fn read_hand_pack(pack: &[u8], idx: &[u8], id: [u8; 20]) -> (Option<Vec<u8>>, usize) {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("objects/pack/pack-hand");
    std::fs::create_dir_all(base.parent().unwrap()).unwrap();
    std::fs::write(base.with_extension("pack"), pack).unwrap();
    std::fs::write(base.with_extension("idx"), idx).unwrap();
    largest_allocation(|| {
        let mut packs = Packs::open(tmp.path());
        packs
            .read(git2::Oid::from_bytes(&id).unwrap())
            .map(|(_, data)| data.to_vec())
    })
}

#[test]
fn hand_packs_read() {
    let mut blob = entry_header(3, 13);
    blob.extend(zlib(b"hello, world\n"));
    // copy 0..7 ("hello, "), insert "there ", copy 7..13 ("world\n")
    let mut delta = vec![13, 19, 0x80 | 0x10, 7, 6];
    delta.extend_from_slice(b"there ");
    delta.extend_from_slice(&[0x80 | 0x01 | 0x10, 7, 6]);
    let mut ofs = entry_header(6, delta.len() as u64);
    ofs.push(blob.len() as u8); // back to the blob, just before
    ofs.extend(zlib(&delta));
    let (pack, idx) = hand_pack(&[([1; 20], blob), ([2; 20], ofs)]);
    assert_eq!(read_hand_pack(&pack, &idx, [1; 20]).0.unwrap(), b"hello, world\n");
    assert_eq!(read_hand_pack(&pack, &idx, [2; 20]).0.unwrap(), b"hello, there world\n");
}

#[test]
fn pack_entry_claiming_a_gigabyte_reserves_nothing() {
    // A corrupt header claims 1 GiB for five bytes of data: found by
    // `corrupt_packs_never_panic` (a pack with its first bytes cut off), which made room for
    // 388 MB before reading a byte.
    let mut blob = entry_header(3, 1 << 30);
    blob.extend(zlib(b"hello"));
    let (pack, idx) = hand_pack(&[([1; 20], blob)]);
    let (read, largest) = read_hand_pack(&pack, &idx, [1; 20]);
    assert_eq!(read, None);
    assert!(largest < 2 << 20, "allocated {largest}");
}

#[test]
fn delta_claiming_a_gigabyte_reserves_nothing() {
    let mut blob = entry_header(3, 13);
    blob.extend(zlib(b"hello, world\n"));
    // source 13 bytes, target (1 << 30) - 1 bytes, then one copy of five bytes
    let delta = [13, 0xff, 0xff, 0xff, 0xff, 0x03, 0x80 | 0x10, 5];
    let mut ofs = entry_header(6, delta.len() as u64);
    ofs.push(blob.len() as u8);
    ofs.extend(zlib(&delta));
    let (pack, idx) = hand_pack(&[([1; 20], blob), ([2; 20], ofs)]);
    let (read, largest) = read_hand_pack(&pack, &idx, [2; 20]);
    assert_eq!(read, None);
    assert!(largest < 2 << 20, "allocated {largest}");
}
