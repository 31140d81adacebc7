//! Paths as git stores them are bytes, not text: a tree can name a file `f\xff.txt`. A path
//! is carried as a `String` in which each byte that is not valid UTF-8 stands for itself as
//! one character of a private-use range, so that two paths differing only in such bytes stay
//! two paths, and the bytes can be had back to find the file in a tree. Characters of that
//! range that a path really holds are escaped byte by byte too, so the mapping is one-to-one.

use std::borrow::Cow;

/// The first of the 256 characters that stand for raw bytes (the last 256 code points of
/// plane 16, a private-use plane no path is expected to use).
const RAW_BYTE_BASE: u32 = 0x10_FF00;

fn stands_for_a_byte(c: char) -> bool {
    (c as u32) >= RAW_BYTE_BASE
}

/// Whether `text` holds a character of the escape range. All of them, and only characters
/// from U+100000 up, start with the byte 0xF4: paths almost never hold one, and a byte search
/// is cheaper than decoding.
fn holds_the_escape_range(text: &str) -> bool {
    text.as_bytes().contains(&0xF4) && text.chars().any(stands_for_a_byte)
}

fn raw_byte(b: u8) -> char {
    char::from_u32(RAW_BYTE_BASE + u32::from(b)).expect("plane 16 holds 256 code points here")
}

/// The path a tree entry or a diff names, as riskgate carries it.
pub fn from_bytes(bytes: &[u8]) -> String {
    if let Ok(text) = std::str::from_utf8(bytes) {
        if !holds_the_escape_range(text) {
            return text.to_string();
        }
    }
    let mut path = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if stands_for_a_byte(c) {
                let mut buf = [0u8; 4];
                path.extend(c.encode_utf8(&mut buf).bytes().map(raw_byte));
            } else {
                path.push(c);
            }
        }
        path.extend(chunk.invalid().iter().copied().map(raw_byte));
    }
    path
}

/// The bytes git has for `path` (the inverse of [`from_bytes`]).
pub fn to_bytes(path: &str) -> Cow<'_, [u8]> {
    if !holds_the_escape_range(path) {
        return Cow::Borrowed(path.as_bytes());
    }
    let mut bytes = Vec::with_capacity(path.len());
    for c in path.chars() {
        if stands_for_a_byte(c) {
            bytes.push((c as u32 - RAW_BYTE_BASE) as u8);
        } else {
            let mut buf = [0u8; 4];
            bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
    Cow::Owned(bytes)
}

/// `path` for people to read: bytes that are not UTF-8 shown as U+FFFD, as git's own
/// `core.quotePath=false` output would show them in a UTF-8 terminal.
pub fn display(path: &str) -> Cow<'_, str> {
    match to_bytes(path) {
        Cow::Borrowed(_) => Cow::Borrowed(path),
        Cow::Owned(bytes) => Cow::Owned(String::from_utf8_lossy(&bytes).into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_paths_are_carried_as_they_are() {
        for path in ["src/main.rs", "docs/résumé.md", "日本/語.txt", ""] {
            assert_eq!(from_bytes(path.as_bytes()), path);
            assert_eq!(to_bytes(path), path.as_bytes());
            assert_eq!(display(path), path);
        }
    }

    #[test]
    fn paths_that_differ_only_in_invalid_bytes_stay_apart_and_come_back_whole() {
        let latin1 = b"docs/r\xe9sum\xe9.txt".as_slice();
        let other = b"docs/r\xffsum\xff.txt".as_slice();
        let (a, b) = (from_bytes(latin1), from_bytes(other));
        assert_ne!(a, b);
        assert_eq!(to_bytes(&a), latin1);
        assert_eq!(to_bytes(&b), other);
        assert_eq!(display(&a), "docs/r\u{fffd}sum\u{fffd}.txt");
        assert!(a.starts_with("docs/r") && a.ends_with(".txt"));
        assert_eq!(a.split('/').count(), 2, "a raw byte is never a separator");
    }

    #[test]
    fn a_path_holding_the_escape_range_itself_is_not_taken_for_raw_bytes() {
        let real = "x\u{10ff41}y";
        let raw = b"x\x41y";
        let carried = from_bytes(real.as_bytes());
        assert_ne!(carried, from_bytes(raw));
        assert_eq!(to_bytes(&carried), real.as_bytes());
        let bytes: Vec<u8> = (0..=255u8).chain(real.bytes()).collect();
        assert_eq!(to_bytes(&from_bytes(&bytes)), bytes.as_slice());
    }
}
