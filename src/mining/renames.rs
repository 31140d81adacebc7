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
use std::io::{BufRead as _, Read as _, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use git2::Oid;

use crate::features::git_path;

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
    /// Not asked: git stops at each version a partial clone has not fetched, and started
    /// again after each one it would take many times as long as the walk.
    #[error("the clone is partial, and git stops at each file version it has not fetched")]
    PartialClone,
}

/// `git` reading the repository at `git_dir` only: nothing of our environment but `PATH`
/// and `HOME` (a server's secrets stay with it), no system or global configuration, no
/// pager, no prompts, no lazy fetch of a partial clone's missing objects, no external diff
/// or text conversion, and no replacement objects (`refs/replace/`, which libgit2 does not
/// follow: with them git would answer for other commits than the ones riskgate reads).
fn git(git_dir: &Path) -> Command {
    let mut cmd = Command::new(super::git_program());
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
        .env("GIT_NO_REPLACE_OBJECTS", "1")
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
fn run(cmd: Command, input: &[u8], deadline: Option<Instant>) -> Result<Vec<u8>, RenameError> {
    let (out, failure) = run_keeping_output(cmd, input, deadline)?;
    match failure {
        Some(message) => Err(RenameError::Failed(message)),
        None => Ok(out),
    }
}

/// [`run`], returning what git wrote before it failed beside why it failed.
fn run_keeping_output(
    mut cmd: Command,
    input: &[u8],
    deadline: Option<Instant>,
) -> Result<(Vec<u8>, Option<String>), RenameError> {
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
        return Ok((out, Some(format!("{status}: {first}"))));
    }
    Ok((out, None))
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
                pairs.push((git_path::from_bytes(old), git_path::from_bytes(new)));
            }
        }
    }
    pairs
}

/// Commits (or merges) git could not diff before it is given up: a partial clone lacks more
/// blobs than this.
pub(super) const MAX_UNREAD_COMMITS: usize = 32;

/// The renames git finds in each commit of a walk, and the commits it could not read.
#[derive(Debug, Default)]
pub struct HistoryRenames {
    pairs: HashMap<Oid, RenamePairs>,
    /// Commits whose diff needs a blob the repository lacks (a partial or damaged clone):
    /// git stops there, and their renames are left to libgit2's detection.
    pub unread: Vec<Oid>,
}

impl HistoryRenames {
    /// The renames git found in `commit`; None when git could not read it.
    pub fn of(&self, commit: Oid) -> Option<&[(String, String)]> {
        if self.unread.contains(&commit) {
            return None;
        }
        Some(self.pairs.get(&commit).map_or(&[][..], |p| p))
    }
}

/// Options that make git list renames as raw `-z` entries (`git log` puts each commit's after
/// its `\x01<id>` header).
const RAW_RENAMES: [&str; 6] = [
    "-M",
    "--raw",
    "-z",
    "--no-abbrev",
    "--no-ext-diff",
    "--no-textconv",
];

/// Renames git finds in each non-merge commit reachable from `tips` and not from `hide`. git
/// stops at the first blob the repository lacks; the walk is then made again over an explicit
/// list of its commits, going on past each commit it cannot read (at most
/// [`MAX_UNREAD_COMMITS`]), so that a partial clone keeps git's renames everywhere else.
pub fn of_history(
    git_dir: &Path,
    tips: &[Oid],
    hide: &[Oid],
    deadline: Option<Instant>,
) -> Result<HistoryRenames, RenameError> {
    if super::repo::is_partial_clone(git_dir) {
        return Err(RenameError::PartialClone);
    }
    let mut input = String::new();
    for t in tips {
        input.push_str(&format!("{t}\n"));
    }
    for h in hide {
        input.push_str(&format!("^{h}\n"));
    }
    let mut cmd = git(git_dir);
    cmd.args([
        "log",
        "--stdin",
        "--no-merges",
        "--diff-filter=R",
        "--format=%x01%H",
    ])
    .args(RAW_RENAMES);
    match run(cmd, input.as_bytes(), deadline) {
        Ok(out) => Ok(HistoryRenames {
            pairs: parse_log(&out).into_iter().collect(),
            unread: Vec::new(),
        }),
        Err(RenameError::Failed(message)) if message.contains("unable to read") => {
            tracing::debug!(%message, "git lacks a blob: renames listed commit by commit");
            of_listed_commits(git_dir, &input, deadline)
        }
        Err(e) => Err(e),
    }
}

/// [`of_history`] over the walk's commits listed one by one (`--no-walk`), restarting after
/// each commit git cannot read.
fn of_listed_commits(
    git_dir: &Path,
    walk: &str,
    deadline: Option<Instant>,
) -> Result<HistoryRenames, RenameError> {
    let mut cmd = git(git_dir);
    cmd.args(["rev-list", "--stdin", "--no-merges"]);
    let listed = run(cmd, walk.as_bytes(), deadline)?;
    let commits: Vec<Oid> = String::from_utf8_lossy(&listed)
        .lines()
        .filter_map(|l| Oid::from_str(l.trim()).ok())
        .collect();
    let mut renames = HistoryRenames::default();
    let mut rest = &commits[..];
    while !rest.is_empty() {
        let mut cmd = git(git_dir);
        // Every commit's header is written (no --diff-filter, which would leave out commits
        // without a rename), so the last one written says how far git got.
        cmd.args(["log", "--stdin", "--no-walk=unsorted", "--format=%x01%H"])
            .args(RAW_RENAMES);
        let input: String = rest.iter().map(|c| format!("{c}\n")).collect();
        let (out, failure) = run_keeping_output(cmd, input.as_bytes(), deadline)?;
        let written = parse_log(&out);
        let done = match written.last() {
            Some((last, _)) => rest.iter().position(|c| c == last).map_or(0, |i| i + 1),
            None => 0,
        };
        renames
            .pairs
            .extend(written.into_iter().filter(|(_, pairs)| !pairs.is_empty()));
        let Some(message) = failure else { break };
        // git diffs a commit before it writes its header: the one after the last header
        // written is the one it could not read.
        let Some(&unread) = rest.get(done) else {
            return Err(RenameError::Failed(message));
        };
        if renames.unread.len() >= MAX_UNREAD_COMMITS {
            return Err(RenameError::Failed(format!(
                "{message} (and {} more commits git cannot read)",
                renames.unread.len()
            )));
        }
        renames.unread.push(unread);
        rest = &rest[done + 1..];
    }
    Ok(renames)
}

/// The commits of `git log --format=%x01%H --raw -z` output, in order, with their renames.
fn parse_log(out: &[u8]) -> Vec<(Oid, RenamePairs)> {
    let mut commits = Vec::new();
    for block in out.split(|&b| b == 1).skip(1) {
        let mut fields = block.split(|&b| b == 0).peekable();
        let Some(head) = fields.next() else { continue };
        let Some(oid) = std::str::from_utf8(head.trim_ascii())
            .ok()
            .and_then(|h| Oid::from_str(h).ok())
        else {
            continue;
        };
        commits.push((oid, parse_entries(&mut fields)));
    }
    commits
}

/// Renames git finds between two trees (commits or trees, by id).
pub fn between(
    git_dir: &Path,
    old: Oid,
    new: Oid,
    deadline: Option<Instant>,
) -> Result<RenamePairs, RenameError> {
    let mut cmd = git(git_dir);
    cmd.args(["diff-tree", "-r", "--diff-filter=R"])
        .args(RAW_RENAMES)
        .arg(old.to_string())
        .arg(new.to_string());
    let out = run(cmd, b"", deadline)?;
    let mut fields = out.split(|&b| b == 0).peekable();
    Ok(parse_entries(&mut fields))
}

/// `git diff-tree --stdin` kept running through a walk, for the renames between many pairs of
/// trees (a merge against each parent that lacks one of its files). Starting git costs more
/// than most of these diffs, and a merge-heavy history asks for hundreds of them.
///
/// Each request is the line `<old tree> <new tree>`, then `<commit> <commit>`: git prints the
/// pair of trees before their difference, and the commit compared with itself (no difference)
/// as its id and a NUL (`--always`), after which git flushes its output, which it does not do
/// after a pair of trees. Entries start with `:` and both headers with a hex digit, so a path
/// can never be taken for the end of an answer.
pub struct TreeRenames {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    answers: std::sync::mpsc::Receiver<Option<RenamePairs>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl TreeRenames {
    /// git started on the repository at `git_dir`, waiting for pairs of trees.
    pub fn start(git_dir: &Path) -> Result<TreeRenames, RenameError> {
        let mut cmd = git(git_dir);
        cmd.args(["diff-tree", "--stdin", "--always", "-r", "--diff-filter=R"])
            .args(RAW_RENAMES)
            // Unread, its warnings could fill the pipe and stop git.
            .stderr(Stdio::null());
        let mut child = cmd.spawn().map_err(RenameError::Spawn)?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped");
        let (send, answers) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut out = std::io::BufReader::new(stdout.take(MAX_OUTPUT));
            // An answer that cannot be read (git ended or wrote what we do not expect) is
            // sent as None, and nothing is read after it.
            loop {
                let answer = read_answer(&mut out);
                let ended = answer.is_none();
                if send.send(answer).is_err() || ended {
                    return;
                }
            }
        });
        Ok(TreeRenames {
            child,
            stdin,
            answers,
            reader: Some(reader),
        })
    }

    /// The renames git finds from tree `old` to tree `new`; `commit` is any commit of the
    /// repository (it ends the answer). After an error git is gone, and the caller starts
    /// another if it wants more.
    pub fn between(
        &mut self,
        old: Oid,
        new: Oid,
        commit: Oid,
        deadline: Option<Instant>,
    ) -> Result<RenamePairs, RenameError> {
        let request = format!("{old} {new}\n{commit} {commit}\n");
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| RenameError::Failed("git diff-tree has ended".into()))?;
        stdin
            .write_all(request.as_bytes())
            .and_then(|()| stdin.flush())
            .map_err(|e| RenameError::Failed(format!("writing to git diff-tree: {e}")))?;
        let answer = match deadline {
            None => self.answers.recv().ok().flatten(),
            Some(d) => match self
                .answers
                .recv_timeout(d.saturating_duration_since(Instant::now()))
            {
                Ok(answer) => answer,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    let _ = self.child.kill();
                    self.stdin = None;
                    return Err(RenameError::TimedOut);
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => None,
            },
        };
        answer.ok_or_else(|| {
            self.stdin = None;
            RenameError::Failed("git diff-tree ended without an answer".into())
        })
    }
}

impl Drop for TreeRenames {
    fn drop(&mut self) {
        // Its input closed, git ends once it has answered what it was asked.
        self.stdin = None;
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// One answer of [`TreeRenames`]: the pair of trees' header line, its entries, the commit's
/// id and NUL. None when the output ends or is not of that shape.
fn read_answer(out: &mut impl std::io::BufRead) -> Option<RenamePairs> {
    read_header(out, b'\n')?;
    let mut fields = Vec::new();
    loop {
        let next = *out.fill_buf().ok()?.first()?;
        if next != b':' {
            break;
        }
        let mut meta = Vec::new();
        out.read_until(0, &mut meta).ok()?;
        let two_paths = matches!(
            meta.rsplit(|&b| b == b' ').next().and_then(|s| s.first()),
            Some(b'R' | b'C')
        );
        let mut entry = meta;
        for _ in 0..1 + usize::from(two_paths) {
            let before = entry.len();
            out.read_until(0, &mut entry).ok()?;
            if entry.last() != Some(&0) || entry.len() == before {
                return None;
            }
        }
        fields.extend_from_slice(&entry);
    }
    read_header(out, 0)?;
    let mut split = fields.split(|&b| b == 0).peekable();
    Some(parse_entries(&mut split))
}

/// The ids git prints before a difference, up to `end`.
fn read_header<R: std::io::BufRead>(out: &mut R, end: u8) -> Option<()> {
    let mut line = Vec::new();
    out.by_ref().take(256).read_until(end, &mut line).ok()?;
    (line.last() == Some(&end) && line.first().is_some_and(u8::is_ascii_hexdigit)).then_some(())
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
