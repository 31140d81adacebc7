//! Renames as git itself detects them.
//!
//! The change metrics count a renamed file once, with the lines its content changed; which
//! deletions and additions are renames is decided by similarity, and libgit2's measure differs
//! from git's in a fraction of a percent of real commits (a document rewritten while renamed,
//! a file split in two). `git log --numstat` is what people compare with, so the pairs come
//! from git (`-M`, its defaults and the repository's own settings), asked once for a whole
//! walk. Without a usable `git` (not installed, or a partial clone it cannot read) the caller
//! falls back to libgit2's detection.

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use git2::Oid;

use super::index::path_string;

/// Renames per commit: (old path, new path).
pub type RenamePairs = Vec<(String, String)>;

/// Most bytes of git output read (renames only, so far below this on any real history).
const MAX_OUTPUT: u64 = 1 << 30;

/// Why git gave no renames.
#[derive(Debug, thiserror::Error)]
pub enum RenameError {
    #[error("running git: {0}")]
    Spawn(std::io::Error),
    #[error("git stopped at the deadline")]
    TimedOut,
    #[error("git failed: {0}")]
    Failed(String),
}

/// `git` reading the repository at `git_dir` only: nothing of our environment but `PATH`
/// and `HOME` (a server's secrets stay with it), no system or global configuration, no
/// pager, no prompts, no lazy fetch of a partial clone's missing objects, no external diff
/// or text conversion.
fn git(git_dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.env_clear();
    for name in ["PATH", "HOME"] {
        if let Some(value) = std::env::var_os(name) {
            cmd.env(name, value);
        }
    }
    cmd.env("LANG", "C")
        .env("LC_ALL", "C")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_NO_LAZY_FETCH", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .arg("--git-dir")
        .arg(git_dir)
        .args(["-c", "core.quotePath=false", "--no-pager"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Run `cmd`, feeding it `input`, and return its output; killed past `deadline`.
fn run(mut cmd: Command, input: &[u8], deadline: Option<Instant>) -> Result<Vec<u8>, RenameError> {
    let mut child = cmd.spawn().map_err(RenameError::Spawn)?;
    let mut stdin = child.stdin.take().expect("piped");
    let input = input.to_vec();
    // Written from a thread: git may fill its output pipe before it has read all its input.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let mut stdout = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = (&mut stdout).take(MAX_OUTPUT).read_to_end(&mut out);
        out
    });
    let mut stderr = child.stderr.take().expect("piped");
    let err_reader = std::thread::spawn(move || {
        let mut err = Vec::new();
        let _ = (&mut stderr).take(64 << 10).read_to_end(&mut err);
        err
    });
    let status = loop {
        if let Some(status) = child.try_wait().map_err(RenameError::Spawn)? {
            break status;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(RenameError::TimedOut);
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let _ = writer.join();
    let out = reader.join().unwrap_or_default();
    let err = err_reader.join().unwrap_or_default();
    if !status.success() {
        let message = String::from_utf8_lossy(&err);
        let first = message.lines().next().unwrap_or("").trim();
        return Err(RenameError::Failed(format!("{status}: {first}")));
    }
    Ok(out)
}

/// The rename entries of `git --raw -z` output: `:<modes> <ids> R<score>\0<old>\0<new>\0`.
/// Other entries (which `--diff-filter=R` leaves out anyway) are skipped.
fn parse_entries(
    fields: &mut std::iter::Peekable<std::slice::Split<'_, u8, impl FnMut(&u8) -> bool>>,
) -> RenamePairs {
    let mut pairs = Vec::new();
    while let Some(meta) = fields.peek() {
        let meta = meta.strip_prefix(b"\n").unwrap_or(meta);
        if !meta.starts_with(b":") {
            break;
        }
        fields.next();
        let status = meta.rsplit(|&b| b == b' ').next().unwrap_or_default();
        let two_paths = matches!(status.first(), Some(b'R' | b'C'));
        let Some(old) = fields.next() else { break };
        if two_paths {
            let Some(new) = fields.next() else { break };
            if status.first() == Some(&b'R') {
                pairs.push((path_string(old), path_string(new)));
            }
        }
    }
    pairs
}

/// Renames git finds in each non-merge commit reachable from `tips` and not from `hide`.
pub fn of_history(
    git_dir: &Path,
    tips: &[Oid],
    hide: &[Oid],
    deadline: Option<Instant>,
) -> Result<HashMap<Oid, RenamePairs>, RenameError> {
    let mut cmd = git(git_dir);
    cmd.args([
        "log",
        "--stdin",
        "--no-merges",
        "-M",
        "--diff-filter=R",
        "--raw",
        "-z",
        "--no-abbrev",
        "--no-ext-diff",
        "--no-textconv",
        "--format=%x01%H",
    ]);
    let mut input = String::new();
    for t in tips {
        input.push_str(&format!("{t}\n"));
    }
    for h in hide {
        input.push_str(&format!("^{h}\n"));
    }
    let out = run(cmd, input.as_bytes(), deadline)?;
    let mut by_commit = HashMap::new();
    for block in out.split(|&b| b == 1).skip(1) {
        let mut fields = block.split(|&b| b == 0).peekable();
        let Some(head) = fields.next() else { continue };
        let Some(oid) = std::str::from_utf8(head.trim_ascii())
            .ok()
            .and_then(|h| Oid::from_str(h).ok())
        else {
            continue;
        };
        let pairs = parse_entries(&mut fields);
        if !pairs.is_empty() {
            by_commit.insert(oid, pairs);
        }
    }
    Ok(by_commit)
}

/// Renames git finds between two trees (commits or trees, by id).
pub fn between(
    git_dir: &Path,
    old: Oid,
    new: Oid,
    deadline: Option<Instant>,
) -> Result<RenamePairs, RenameError> {
    let mut cmd = git(git_dir);
    cmd.args([
        "diff-tree",
        "-r",
        "-M",
        "--diff-filter=R",
        "-z",
        "--no-abbrev",
        "--no-ext-diff",
        "--no-textconv",
    ])
    .arg(old.to_string())
    .arg(new.to_string());
    let out = run(cmd, b"", deadline)?;
    let mut fields = out.split(|&b| b == 0).peekable();
    Ok(parse_entries(&mut fields))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_entries_parse() {
        let raw: &[u8] = b":100644 100644 aaaa bbbb R087\0docs/a.rst\0docs/a.md\0\n:100644 000000 cccc 0000 D\0gone.txt\0:100644 100644 dddd eeee C075\0x\0y\0";
        let mut fields = raw.split(|&b| b == 0).peekable();
        let pairs = parse_entries(&mut fields);
        assert_eq!(
            pairs,
            vec![("docs/a.rst".to_string(), "docs/a.md".to_string())]
        );
    }

    #[test]
    fn truncated_output_is_not_a_panic() {
        for raw in [
            &b":100644 100644 a b R100\0only-old"[..],
            b":",
            b"",
            b"\0\0:x",
        ] {
            let mut fields = raw.split(|&b| b == 0).peekable();
            let _ = parse_entries(&mut fields);
        }
    }
}
