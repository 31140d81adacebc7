//! Refs and commit ids that go to git as they are, checked to be plain.

/// Whether `full` is `refs/heads/<name>` with a name git accepts as a branch (the rules of
/// `git check-ref-format --branch`), so that it can go into a refspec as it is: no `:`, `*`,
/// `+` at the start, `..`, `@{`, control characters or spaces, no component starting with `.`
/// or `-` or ending with `.lock`.
pub fn is_branch_ref(full: &str) -> bool {
    let Some(name) = full.strip_prefix("refs/heads/") else {
        return false;
    };
    let forbidden = |c: char| {
        c.is_ascii_control() || matches!(c, ' ' | '~' | '^' | ':' | '?' | '*' | '[' | '\\')
    };
    name.len() <= 1024
        && name != "@"
        && !name.contains("..")
        && !name.contains("@{")
        && !name.chars().any(forbidden)
        && !name.ends_with('.')
        && name.split('/').all(|part| {
            !part.is_empty()
                && !part.starts_with('.')
                && !part.starts_with('-')
                && !part.ends_with(".lock")
        })
}

/// A full commit id (SHA-1 or SHA-256, lower-case hex).
pub fn is_commit_sha(s: &str) -> bool {
    matches!(s.len(), 40 | 64) && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
