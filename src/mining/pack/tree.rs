//! Trees parsed from their raw bytes (as the pack reader gives them) or copied from libgit2,
//! entries as libgit2 presents them, so the fast tree diff compares the same modes.

use git2::Oid;

/// A tree's entries as libgit2 reads them: in stored order, with its normalised file mode.
pub struct TreeData {
    id: Oid,
    names: Vec<u8>,
    entries: Vec<TreeItem>,
}

struct TreeItem {
    mode: i32,
    name: (u32, u32),
    id: Oid,
}

/// `git_tree_entry_filemode`: a tree, an executable or plain blob, a submodule or a symlink.
fn normalize_filemode(mode: i32) -> i32 {
    match mode & 0o170000 {
        0o040000 => 0o040000,
        _ if mode & 0o100 != 0 => 0o100755,
        0o160000 => 0o160000,
        0o120000 => 0o120000,
        _ => 0o100644,
    }
}

/// One entry of a [`TreeData`].
#[derive(Clone, Copy)]
pub struct TreeEntryRef<'t> {
    tree: &'t TreeData,
    item: &'t TreeItem,
}

impl<'t> TreeEntryRef<'t> {
    pub fn name_bytes(&self) -> &'t [u8] {
        let (a, b) = self.item.name;
        &self.tree.names[a as usize..b as usize]
    }

    pub fn filemode(&self) -> i32 {
        self.item.mode
    }

    pub fn id(&self) -> Oid {
        self.item.id
    }
}

impl TreeData {
    /// Entries of a raw tree object, or None where libgit2 would refuse it as corrupt.
    pub fn parse(id: Oid, raw: &[u8]) -> Option<TreeData> {
        let mut tree = TreeData {
            id,
            names: Vec::with_capacity(raw.len()),
            entries: Vec::new(),
        };
        let mut rest = raw;
        while !rest.is_empty() {
            let space = rest.iter().position(|&b| b == b' ')?;
            let mode = parse_octal_mode(&rest[..space])?;
            rest = &rest[space + 1..];
            let nul = rest.iter().position(|&b| b == 0)?;
            if nul == 0 || nul > usize::from(u16::MAX) || rest.len() < nul + 1 + 20 {
                return None;
            }
            let start = tree.names.len() as u32;
            tree.names.extend_from_slice(&rest[..nul]);
            let id = Oid::from_bytes(&rest[nul + 1..nul + 21]).ok()?;
            tree.entries.push(TreeItem {
                mode: normalize_filemode(mode),
                name: (start, tree.names.len() as u32),
                id,
            });
            rest = &rest[nul + 21..];
        }
        Some(tree)
    }

    /// The same entries from a tree libgit2 read.
    pub fn from_git(tree: &git2::Tree<'_>) -> TreeData {
        let mut data = TreeData {
            id: tree.id(),
            names: Vec::new(),
            entries: Vec::with_capacity(tree.len()),
        };
        for e in tree.iter() {
            let start = data.names.len() as u32;
            data.names.extend_from_slice(e.name_bytes());
            data.entries.push(TreeItem {
                mode: e.filemode(),
                name: (start, data.names.len() as u32),
                id: e.id(),
            });
        }
        data
    }

    pub fn id(&self) -> Oid {
        self.id
    }

    /// Memory the parsed tree holds, about.
    pub fn bytes(&self) -> usize {
        self.names.len() + self.entries.len() * std::mem::size_of::<TreeItem>()
    }

    pub fn iter(&self) -> impl Iterator<Item = TreeEntryRef<'_>> {
        self.entries
            .iter()
            .map(move |item| TreeEntryRef { tree: self, item })
    }

    /// The entry called `name`.
    pub fn get(&self, name: &[u8]) -> Option<TreeEntryRef<'_>> {
        self.iter().find(|e| e.name_bytes() == name)
    }
}

/// A tree entry's mode as libgit2 parses it (`git__strntol32` in base 8 up to the space, then
/// at most 16 bits): octal digits, an optional sign, no leading space.
fn parse_octal_mode(digits: &[u8]) -> Option<i32> {
    let (negative, digits) = match digits {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, digits),
    };
    if digits.is_empty() || !digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
        return None;
    }
    let mut v: i64 = 0;
    for &d in digits {
        v = v * 8 + i64::from(d - b'0');
        if v > i64::from(u16::MAX) {
            return None;
        }
    }
    if negative && v != 0 {
        return None;
    }
    Some(v as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_modes_normalised() {
        assert_eq!(normalize_filemode(0o100664), 0o100644);
        assert_eq!(normalize_filemode(0o100744), 0o100755);
        assert_eq!(normalize_filemode(0o40000), 0o40000);
        assert_eq!(normalize_filemode(0o160000), 0o160000);
        assert_eq!(normalize_filemode(0o120000), 0o120000);
        assert_eq!(parse_octal_mode(b"40000"), Some(0o40000));
        assert_eq!(parse_octal_mode(b"100644"), Some(0o100644));
        assert_eq!(parse_octal_mode(b"9"), None);
        assert_eq!(parse_octal_mode(b""), None);
        assert_eq!(parse_octal_mode(b"1000000"), None);
    }
}
