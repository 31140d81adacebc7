//! Renames as git itself detects them.
//!
//! The change metrics count a renamed file once, with the lines its content changed; which
//! deletions and additions are renames is decided by similarity, and libgit2's measure differs
//! from git's in a fraction of a percent of real commits (a document rewritten while renamed,
//! a file split in two). `git log --numstat` is what people compare with, so the pairs come
//! from git (`-M`, its defaults and the repository's own settings, but for how many files it
//! compares: [`CHANGE_RENAME_LIMIT`]), asked once for a whole walk. Without a usable `git`
//! (not installed, or a partial clone it cannot read) the caller falls back to libgit2's
//! detection.

use std::collections::HashMap;
use std::io::{BufRead as _, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use git2::Oid;

use crate::features::git_path;

/// Renames per commit: (old path, new path).
pub type RenamePairs = Vec<(String, String)>;

/// Most bytes of git output read for one question (renames only, so far below this on any
/// real history).
const MAX_OUTPUT: u64 = 1 << 30;

/// Most bytes of one answer of a git kept running through a walk: one commit's renames in its
/// `git log`, one pair of trees' in [`TreeRenames`]. The bound is per answer, as a walk asks
/// for many: spring-boot's 1,522 merges against a release line write 1.3 GB of renames in all,
/// up to 3 MB each.
const MAX_ANSWER: u64 = 1 << 28;

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
/// Read as bare and with `core.fsmonitor` off: with a work tree (our working directory, or
/// the repository's `core.worktree`) rename detection refreshes the index, which runs the
/// command a repository's own `core.fsmonitor` names.
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
        .args(["--bare", "-c", "core.fsmonitor=false"])
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
        if super::past(deadline) {
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

/// `git log`, writing nothing of a commit but what `--format` asks: a repository's own
/// `log.showSignature` would put gpg's report of each signed commit before its header.
const LOG: [&str; 2] = ["log", "--no-show-signature"];

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

/// How many files of a commit git may compare for similarity before it pairs only renames of
/// identical content (`-l`): git's own limit when a merge needs renames (`merge.renameLimit`),
/// instead of the 1,000 of `git diff`. A move of a whole package or crate edits a line of
/// most files it moves (a package name, a path in a header); past 1,000 such files git's
/// diff sees every one deleted and added again, so the move counts all their lines as new and
/// the files' history, and what SZZ blames, starts over at it. `git blame` follows each file
/// through such a move. Fixed here rather than read from the repository's `diff.renameLimit`,
/// which could make git compare without bound; comparing 7,000 files with 7,000 takes git
/// seconds.
pub(super) const CHANGE_RENAME_LIMIT: usize = 7000;

/// [`CHANGE_RENAME_LIMIT`] as git's option.
fn change_rename_limit() -> String {
    format!("-l{CHANGE_RENAME_LIMIT}")
}

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
    cmd.args(LOG)
        .args([
            "--stdin",
            "--no-merges",
            "--diff-filter=R",
            "--format=%x01%H",
        ])
        .args(RAW_RENAMES)
        .arg(change_rename_limit());
    match run(cmd, input.as_bytes(), deadline) {
        Ok(out) => Ok(HistoryRenames {
            pairs: parse_log(&out)?.into_iter().collect(),
            unread: Vec::new(),
        }),
        Err(RenameError::Failed(message)) if message.contains("unable to read") => {
            tracing::debug!(%message, "git lacks a blob: renames listed commit by commit");
            of_listed_commits(git_dir, &input, deadline)
        }
        Err(e) => Err(e),
    }
}

/// git's renames in a walk's commits, diffed by git beside the walk and in its order: the walk
/// asks for a commit's renames when it reaches it, and waits only where git has not got that
/// far. The same pairs as [`of_history`], without the walk waiting for all of them first. git
/// stops at a commit it cannot read (a blob the clone lacks); it is started again past that
/// commit, at most [`MAX_UNREAD_COMMITS`] times.
pub struct RenamesAhead {
    git_dir: PathBuf,
    git: Option<GitLog>,
    listed: Vec<Oid>,
    position: HashMap<Oid, usize>,
    found: HashMap<Oid, RenamePairs>,
    /// git has diffed every listed commit before this position.
    passed: usize,
    /// The last commit git wrote.
    last_read: Option<Oid>,
    /// Commits git could not read: their renames are left to libgit2.
    unread: std::collections::HashSet<Oid>,
}

/// One `git log` over the listed commits from some position on.
struct GitLog {
    child: Child,
    /// Each commit as git writes it, Err(()) where the output is not of that shape; None once
    /// git's output ends.
    answers: Receiver<Option<Result<(Oid, RenamePairs), ()>>>,
    stderr: Option<std::thread::JoinHandle<Vec<u8>>>,
    /// Every commit's header is written (not only those with a rename), so the last one says
    /// how far git got.
    every_header: bool,
}

impl GitLog {
    fn start(git_dir: &Path, commits: &[Oid], every_header: bool) -> Result<GitLog, RenameError> {
        let mut cmd = git(git_dir);
        cmd.args(LOG)
            .args(["--stdin", "--no-walk=unsorted", "--format=%x01%H"]);
        if !every_header {
            cmd.args(["--no-merges", "--diff-filter=R"]);
        }
        cmd.args(RAW_RENAMES).arg(change_rename_limit());
        let mut child = cmd.spawn().map_err(RenameError::Spawn)?;
        let input: String = commits.iter().map(|c| format!("{c}\n")).collect();
        let mut stdin = child.stdin.take().expect("piped");
        // git reads all of its input before it writes; closed when written.
        std::thread::spawn(move || {
            let _ = stdin.write_all(input.as_bytes());
        });
        let stdout = child.stdout.take().expect("piped");
        let (send, answers) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            send_commits(std::io::BufReader::new(stdout), MAX_ANSWER, &send);
            let _ = send.send(None);
        });
        let mut stderr = child.stderr.take().expect("piped");
        let stderr = std::thread::spawn(move || {
            let mut err = Vec::new();
            let _ = (&mut stderr).take(64 << 10).read_to_end(&mut err);
            let _ = std::io::copy(&mut stderr, &mut std::io::sink());
            err
        });
        Ok(GitLog {
            child,
            answers,
            stderr: Some(stderr),
            every_header,
        })
    }
}

/// Each commit of `out` sent as it is read, then Err(()) if the output goes on in another shape
/// or one commit's part of it passes `max_commit` bytes; the rest is read to its end so that
/// git can finish.
fn send_commits(
    mut out: impl std::io::BufRead,
    max_commit: u64,
    send: &std::sync::mpsc::Sender<Option<Result<(Oid, RenamePairs), ()>>>,
) {
    loop {
        let commit = read_commit(&mut (&mut out).take(max_commit)).transpose();
        let not_understood = matches!(commit, Some(Err(())));
        if commit.is_none() || send.send(commit).is_err() {
            return;
        }
        if not_understood {
            let _ = std::io::copy(&mut out, &mut std::io::sink());
            return;
        }
    }
}

impl Drop for GitLog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl RenamesAhead {
    /// git started on `commits` (a walk, parents first; merges have no renames).
    pub fn start(git_dir: &Path, commits: Vec<Oid>) -> Result<RenamesAhead, RenameError> {
        if super::repo::is_partial_clone(git_dir) {
            return Err(RenameError::PartialClone);
        }
        let git = GitLog::start(git_dir, &commits, false)?;
        let position = commits.iter().enumerate().map(|(i, &c)| (c, i)).collect();
        Ok(RenamesAhead {
            git_dir: git_dir.to_path_buf(),
            git: Some(git),
            listed: commits,
            position,
            found: HashMap::new(),
            passed: 0,
            last_read: None,
            unread: Default::default(),
        })
    }

    /// The renames git finds in `commit` (one not listed has none), waiting for git until
    /// `deadline`; None when git could not read it (libgit2's detection is left).
    pub fn of(
        &mut self,
        commit: Oid,
        deadline: Option<Instant>,
    ) -> Result<Option<RenamePairs>, RenameError> {
        let Some(&at) = self.position.get(&commit) else {
            return Ok(Some(Vec::new()));
        };
        while self.passed <= at {
            let Some(git) = self.git.as_ref() else {
                break;
            };
            match receive(&git.answers, deadline)? {
                Some(Ok((oid, pairs))) => {
                    if let Some(&p) = self.position.get(&oid) {
                        self.passed = self.passed.max(p + 1);
                        self.last_read = Some(oid);
                        if !pairs.is_empty() {
                            self.found.insert(oid, pairs);
                        }
                    }
                }
                Some(Err(())) => {
                    self.git = None;
                    return Err(not_understood(self.last_read));
                }
                None => self.git_ended()?,
            }
        }
        if self.unread.contains(&commit) {
            return Ok(None);
        }
        Ok(Some(self.found.remove(&commit).unwrap_or_default()))
    }

    /// git's output ended: every commit is diffed, or git stopped at a commit it could not
    /// read and is started again after it.
    fn git_ended(&mut self) -> Result<(), RenameError> {
        let Some(mut git) = self.git.take() else {
            return Ok(());
        };
        let status = git.child.wait().map_err(RenameError::Spawn)?;
        if status.success() {
            self.passed = self.listed.len();
            return Ok(());
        }
        let err = git
            .stderr
            .take()
            .and_then(|e| e.join().ok())
            .unwrap_or_default();
        let message = String::from_utf8_lossy(&err);
        let message = format!("{status}: {}", message.lines().next().unwrap_or("").trim());
        if git.every_header {
            let unread = unread_commit(
                message.clone(),
                self.listed.get(self.passed),
                self.unread.len(),
            )?;
            self.unread.insert(unread);
            self.passed += 1;
        }
        tracing::debug!(%message, "git stopped: started again on the rest of the walk");
        if self.passed < self.listed.len() {
            let rest = &self.listed[self.passed..];
            self.git = Some(GitLog::start(&self.git_dir, rest, true)?);
        }
        Ok(())
    }
}

/// [`of_history`] over the walk's commits listed one by one: [`RenamesAhead`] over the list,
/// which goes on past each commit git cannot read.
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
    let mut ahead = RenamesAhead::start(git_dir, commits.clone())?;
    let mut renames = HistoryRenames::default();
    for commit in commits {
        match ahead.of(commit, deadline)? {
            None => renames.unread.push(commit),
            Some(pairs) if !pairs.is_empty() => {
                renames.pairs.insert(commit, pairs);
            }
            Some(_) => {}
        }
    }
    Ok(renames)
}

/// The commit git stopped at, `next`: git diffs a commit before it writes its header, so it
/// is the one after the last header written. An error (with git's `message`) when there is
/// none, or when git has failed on [`MAX_UNREAD_COMMITS`] already.
fn unread_commit(
    message: String,
    next: Option<&Oid>,
    unread_so_far: usize,
) -> Result<Oid, RenameError> {
    let Some(&unread) = next else {
        return Err(RenameError::Failed(message));
    };
    if unread_so_far >= MAX_UNREAD_COMMITS {
        return Err(RenameError::Failed(format!(
            "{message} (and {unread_so_far} more commits git cannot read)"
        )));
    }
    Ok(unread)
}

/// The commits of `git log --format=%x01%H --raw -z` output, in order, with their renames; an
/// error where the output is not of that shape (the commits after it would otherwise pass for
/// commits without a rename).
fn parse_log(mut out: &[u8]) -> Result<Vec<(Oid, RenamePairs)>, RenameError> {
    let mut commits: Vec<(Oid, RenamePairs)> = Vec::new();
    loop {
        match read_commit(&mut out) {
            Ok(Some(commit)) => commits.push(commit),
            Ok(None) => return Ok(commits),
            Err(()) => return Err(not_understood(commits.last().map(|(c, _)| *c))),
        }
    }
}

/// git's output is not of the shape asked for past the commit `after` (None: from its start).
fn not_understood(after: Option<Oid>) -> RenameError {
    let at = match after {
        Some(commit) => format!("after commit {commit}"),
        None => "from its start".to_string(),
    };
    RenameError::Failed(format!("git log wrote output riskgate cannot read {at}"))
}

/// The next commit of `git log --format=%x01%H --raw -z` output: `\x01<id>\0`, then its raw
/// entries. Ok(None) at the end of the output, Err(()) where it is not of that shape. Each
/// path is read up to its NUL, so no byte of a path can pass for the next commit's header.
fn read_commit(out: &mut impl std::io::BufRead) -> Result<Option<(Oid, RenamePairs)>, ()> {
    match out.fill_buf().map_err(drop)?.first() {
        None => return Ok(None),
        Some(1) => out.consume(1),
        Some(_) => return Err(()),
    }
    let mut header = Vec::new();
    out.by_ref()
        .take(128)
        .read_until(0, &mut header)
        .map_err(drop)?;
    if header.pop() != Some(0) {
        return Err(());
    }
    let oid = std::str::from_utf8(header.trim_ascii())
        .ok()
        .filter(|h| h.len() == 40)
        .and_then(|h| Oid::from_str(h).ok())
        .ok_or(())?;
    let entries = read_raw_entries(out).ok_or(())?;
    match out.fill_buf().map_err(drop)?.first() {
        None | Some(1) => {}
        Some(_) => return Err(()),
    }
    let mut fields = entries.split(|&b| b == 0).peekable();
    Ok(Some((oid, parse_entries(&mut fields))))
}

/// The raw `-z` entries that come next (`:<modes> <ids> <status>\0<path>\0`, a second path
/// for a rename or copy), each NUL kept; None when the output ends inside one.
fn read_raw_entries(out: &mut impl std::io::BufRead) -> Option<Vec<u8>> {
    let mut fields = Vec::new();
    loop {
        let next = *out.fill_buf().ok()?.first().unwrap_or(&0);
        if next == b'\n' {
            out.consume(1);
            continue;
        }
        if next != b':' {
            return Some(fields);
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
        .arg(change_rename_limit())
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
            send_answers(std::io::BufReader::new(stdout), MAX_ANSWER, &send);
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
        self.ask(old, new, commit)?;
        self.answer(deadline)
    }

    /// Ask for the renames from tree `old` to tree `new` without waiting for them: answers come
    /// from [`TreeRenames::answer`] in the order they were asked.
    pub fn ask(&mut self, old: Oid, new: Oid, commit: Oid) -> Result<(), RenameError> {
        let request = format!("{old} {new}\n{commit} {commit}\n");
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| RenameError::Failed("git diff-tree has ended".into()))?;
        stdin
            .write_all(request.as_bytes())
            .and_then(|()| stdin.flush())
            .map_err(|e| {
                self.stdin = None;
                RenameError::Failed(format!("writing to git diff-tree: {e}"))
            })
    }

    /// The answer to the oldest request not answered yet, waiting until `deadline`.
    pub fn answer(&mut self, deadline: Option<Instant>) -> Result<RenamePairs, RenameError> {
        let answer = receive(&self.answers, deadline).inspect_err(|_| {
            let _ = self.child.kill();
            self.stdin = None;
        })?;
        answer.ok_or_else(|| {
            self.stdin = None;
            RenameError::Failed("git diff-tree ended without an answer".into())
        })
    }

    /// The answer to the oldest request if git has given it.
    pub fn answer_ready(&mut self) -> Option<Result<RenamePairs, RenameError>> {
        match self.answers.try_recv() {
            Ok(Some(pairs)) => Some(Ok(pairs)),
            Err(std::sync::mpsc::TryRecvError::Empty) => None,
            Ok(None) | Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                self.stdin = None;
                Some(Err(RenameError::Failed(
                    "git diff-tree ended without an answer".into(),
                )))
            }
        }
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

/// The next message of a reader thread, waiting until `deadline`; None once the thread has
/// ended.
fn receive<T>(
    answers: &Receiver<Option<T>>,
    deadline: Option<Instant>,
) -> Result<Option<T>, RenameError> {
    match deadline {
        None => Ok(answers.recv().ok().flatten()),
        Some(d) => match answers.recv_timeout(d.saturating_duration_since(Instant::now())) {
            Ok(answer) => Ok(answer),
            Err(RecvTimeoutError::Timeout) => Err(RenameError::TimedOut),
            Err(RecvTimeoutError::Disconnected) => Ok(None),
        },
    }
}

/// One answer of [`TreeRenames`]: the pair of trees' header line, its entries, the commit's
/// id and NUL. None when the output ends or is not of that shape.
fn read_answer(out: &mut impl std::io::BufRead) -> Option<RenamePairs> {
    read_header(out, b'\n')?;
    let fields = read_raw_entries(out)?;
    read_header(out, 0)?;
    let mut split = fields.split(|&b| b == 0).peekable();
    Some(parse_entries(&mut split))
}

/// Send each answer of [`TreeRenames`]'s git, read from `out`, each of at most `max_answer`
/// bytes. An answer that cannot be read (git ended, wrote what we do not expect or more than
/// that) is sent as None, and nothing is read after it.
fn send_answers(
    mut out: impl std::io::BufRead,
    max_answer: u64,
    send: &std::sync::mpsc::Sender<Option<RenamePairs>>,
) {
    loop {
        let answer = read_answer(&mut (&mut out).take(max_answer));
        let ended = answer.is_none();
        if send.send(answer).is_err() || ended {
            return;
        }
    }
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
    fn a_path_cannot_pass_for_a_commit_header() {
        let first = "1111111111111111111111111111111111111111";
        let other = "2222222222222222222222222222222222222222";
        // A file named "\x01<other>" renamed in `first`: split at \x01, it reads as a header.
        let log = format!(
            "\x01{first}\0\n:100644 100644 aa aa R100\0old\0\x01{other}\0\x01{other}\0\n:100644 100644 bb bb R090\0x\0y\0"
        );
        let commits = parse_log(log.as_bytes()).unwrap();
        let ids: Vec<String> = commits.iter().map(|(c, _)| c.to_string()).collect();
        assert_eq!(ids, [first, other]);
        assert_eq!(
            commits[0].1,
            vec![("old".to_string(), format!("\x01{other}"))]
        );
        assert_eq!(commits[1].1, vec![("x".to_string(), "y".to_string())]);
    }

    #[test]
    fn output_of_another_shape_gives_git_up_rather_than_the_rest_of_its_renames() {
        let first = "1111111111111111111111111111111111111111";
        let other = "2222222222222222222222222222222222222222";
        let third = "3333333333333333333333333333333333333333";
        // A report git's configuration could put before a commit: `other`, whose entries it
        // follows, is not trusted either.
        let log = format!(
            "\x01{first}\0\n:100644 100644 aa aa R100\0a\0b\0\x01{other}\0gpg: Good signature\n\x01{third}\0\n:100644 100644 bb bb R090\0x\0y\0"
        );
        let err = parse_log(log.as_bytes()).unwrap_err().to_string();
        assert!(err.contains(&format!("after commit {first}")), "{err}");

        let (send, answers) = std::sync::mpsc::channel();
        send_commits(log.as_bytes(), MAX_ANSWER, &send);
        drop(send);
        let sent: Vec<_> = answers.iter().collect();
        assert_eq!(sent.len(), 2, "{sent:?}");
        let Some(Ok((commit, pairs))) = &sent[0] else {
            panic!("{sent:?}")
        };
        assert_eq!(commit.to_string(), first);
        assert_eq!(pairs, &vec![("a".to_string(), "b".to_string())]);
        assert_eq!(sent[1], Some(Err(())));
    }

    /// The bound is on each answer, not on all git writes: a walk asks for more than it.
    #[test]
    fn answers_are_bounded_one_by_one() {
        let (trees, commit) = ("a".repeat(40) + " " + &"b".repeat(40), "c".repeat(40));
        let answer = |renames: usize| {
            let mut text = format!("{trees}\n");
            for i in 0..renames {
                text += &format!(":100644 100644 aa aa R100\0old{i}\0new{i}\0");
            }
            text + &commit + "\0"
        };
        let small = answer(2);
        let mut out = small.repeat(50);
        out += &answer(100);
        let (send, answers) = std::sync::mpsc::channel();
        send_answers(out.as_bytes(), 4 * small.len() as u64, &send);
        drop(send);
        let sent: Vec<_> = answers.iter().collect();
        assert_eq!(sent.len(), 51, "every small answer, then the large one");
        assert!(sent[..50]
            .iter()
            .all(|a| a.as_ref().is_some_and(|pairs| pairs.len() == 2)));
        assert_eq!(sent[50], None, "an answer past the bound gives git up");
    }

    /// So is each commit of `git log`'s renames.
    #[test]
    fn commits_are_bounded_one_by_one() {
        let commit = |n: usize, renames: usize| {
            let mut text = format!("\x01{}\0\n", format!("{n}").repeat(40));
            for i in 0..renames {
                text += &format!(":100644 100644 aa aa R100\0old{i}\0new{i}\0");
            }
            text
        };
        let small = commit(1, 2).len() as u64;
        let mut log: String = (1..=9).map(|n| commit(n, 2)).collect();
        log += &commit(2, 100);
        let (send, answers) = std::sync::mpsc::channel();
        send_commits(log.as_bytes(), 3 * small, &send);
        drop(send);
        let sent: Vec<_> = answers.iter().collect();
        assert_eq!(sent.len(), 10, "every small commit, then the large one");
        assert!(sent[..9]
            .iter()
            .all(|c| matches!(c, Some(Ok((_, pairs))) if pairs.len() == 2)));
        assert_eq!(
            sent[9],
            Some(Err(())),
            "a commit past the bound is not read"
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
