//! The limits a settings file is read within: lists, entries and bracket nesting, checked as
//! the file is read so an alias cannot multiply a short file into a large value.

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

use super::{MAX_ENTRY_BYTES, MAX_LIST_ENTRIES};

/// A list of strings of at most [`MAX_LIST_ENTRIES`] entries of at most [`MAX_ENTRY_BYTES`]
/// each, refused as soon as it grows past either, before an alias can repeat a value further.
pub(super) fn bounded_list<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<String>, D::Error> {
    struct List;
    impl<'de> Visitor<'de> for List {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list of strings")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
            let mut out = Vec::new();
            while let Some(BoundedString(entry)) = seq.next_element()? {
                if out.len() == MAX_LIST_ENTRIES {
                    return Err(de::Error::custom(format!(
                        "more than {MAX_LIST_ENTRIES} entries (aliases count as entries)"
                    )));
                }
                out.push(entry);
            }
            Ok(out)
        }
    }
    deserializer.deserialize_seq(List)
}

/// A string of at most [`MAX_ENTRY_BYTES`], refused before it is copied.
pub(super) struct BoundedString(pub(super) String);

impl<'de> Deserialize<'de> for BoundedString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entry;
        impl Visitor<'_> for Entry {
            type Value = BoundedString;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<BoundedString, E> {
                if v.len() > MAX_ENTRY_BYTES {
                    return Err(E::custom(format!(
                        "an entry of {} bytes, longer than the {MAX_ENTRY_BYTES} allowed",
                        v.len()
                    )));
                }
                Ok(BoundedString(v.to_string()))
            }
        }
        deserializer.deserialize_string(Entry)
    }
}

/// The line on which flow collections (`[…]`, `{…}`) first nest deeper than `limit`. Brackets
/// inside quoted strings and comments do not count; a quote opens a string only where a
/// scalar can start (after a space, a line break, `[`, `{`, `,` or `:`), not inside a plain
/// scalar such as `don't`.
pub(super) fn flow_depth_exceeded(text: &str, limit: usize) -> Option<usize> {
    enum In {
        Plain,
        Single,
        Double { escaped: bool },
        Comment,
    }
    let mut state = In::Plain;
    let (mut depth, mut line) = (0usize, 1usize);
    let mut prev = b'\n';
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\n' {
            line += 1;
        }
        match &mut state {
            In::Comment => {
                if b == b'\n' {
                    state = In::Plain;
                }
            }
            In::Single => {
                if b == b'\'' {
                    if bytes.get(i + 1) == Some(&b'\'') {
                        i += 1; // '' is a quote inside the string
                    } else {
                        state = In::Plain;
                    }
                }
            }
            In::Double { escaped } => {
                if *escaped {
                    *escaped = false;
                } else if b == b'\\' {
                    *escaped = true;
                } else if b == b'"' {
                    state = In::Plain;
                }
            }
            In::Plain => {
                let scalar_may_start = prev.is_ascii_whitespace() || b"[{,:".contains(&prev);
                match b {
                    b'\'' if scalar_may_start => state = In::Single,
                    b'"' if scalar_may_start => state = In::Double { escaped: false },
                    b'#' if prev.is_ascii_whitespace() => state = In::Comment,
                    b'[' | b'{' => {
                        depth += 1;
                        if depth > limit {
                            return Some(line);
                        }
                    }
                    b']' | b'}' => depth = depth.saturating_sub(1),
                    _ => {}
                }
            }
        }
        prev = b;
        i += 1;
    }
    None
}
