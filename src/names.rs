//! What GitHub allows in account and repository names, written once: every place that takes
//! an `owner/name` from a payload, a settings file or a user checks it here, so a name can never
//! be an option, a path or a URL of its own.

/// The longest account or repository name accepted; GitHub's own limits are lower.
pub const MAX_NAME_LEN: usize = 100;

/// Letters, digits, `-` and `_`, not starting with `-`: an account (user or organisation) name.
pub fn is_account_name(s: &str) -> bool {
    (1..=MAX_NAME_LEN).contains(&s.len())
        && !s.starts_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// Letters, digits, `-`, `_` and `.`, but not `.` or `..`: a repository name.
pub fn is_repository_name(s: &str) -> bool {
    (1..=MAX_NAME_LEN).contains(&s.len())
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// `owner/name` split in two, or `None` when either part is not a name GitHub allows.
pub fn split_full_name(full_name: &str) -> Option<(&str, &str)> {
    let (owner, name) = full_name.split_once('/')?;
    (is_account_name(owner) && is_repository_name(name)).then_some((owner, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_github_allows() {
        for good in ["acme/shop", "a-b_c/x.y-z_1", "A1/.github", "o/..x"] {
            assert!(split_full_name(good).is_some(), "{good}");
        }
    }

    #[test]
    fn names_that_could_be_paths_options_or_urls_are_refused() {
        let long = format!("o/{}", "n".repeat(MAX_NAME_LEN + 1));
        for bad in [
            "", "/", "acme", "acme/", "/shop", "../..", "acme/..", "acme/.", "a/b/c", "-o x/y",
            "a.b/c", "a/b c", "a/b?c", "a/b#c", "a/b%2F", "a/b\n", "ä/b", "a:b/c", &long,
        ] {
            assert!(split_full_name(bad).is_none(), "{bad:?}");
        }
    }
}
