//! Git repositories built in temp dirs with a blank git configuration and fixed dates, and
//! throw-away databases.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Unix seconds of a UTC date at midnight.
pub fn day(y: i64, m: i64, d: i64) -> i64 {
    let date = format!("{y:04}-{m:02}-{d:02}");
    riskgate::time::parse_date_ms(&date).unwrap_or_else(|| panic!("{date} is not a date")) / 1000
}

pub struct TestRepo {
    pub dir: tempfile::TempDir,
}

/// `git` in `dir` with a blank configuration, optionally with author and committer dates.
fn git_command(dir: &Path, args: &[&str], time: Option<i64>) -> Command {
    let mut cmd = Command::new("git");
    cmd.args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("HOME", dir.join(".test-home"))
        .env("GIT_TERMINAL_PROMPT", "0")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE");
    if let Some(t) = time {
        let date = format!("@{t} +0000");
        cmd.env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date);
    }
    cmd
}

fn run_git(dir: &Path, args: &[&str], time: Option<i64>) -> String {
    let out = git_command(dir, args, time).output().expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

pub fn git_in(dir: &Path, args: &[&str]) -> String {
    run_git(dir, args, None)
}

/// A clone of `source` cut `depth` commits deep, at `<temp dir>/name`; `options` are more of
/// `git clone`'s (`--bare`, `--branch B`).
pub fn shallow_clone(
    source: &Path,
    depth: u32,
    name: &str,
    options: &[&str],
) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let clone = tmp.path().join(name);
    let url = format!("file://{}", source.display());
    let depth = depth.to_string();
    let mut args = vec!["clone", "-q", "--depth", &depth];
    args.extend_from_slice(options);
    args.extend([url.as_str(), clone.to_str().unwrap()]);
    git_in(tmp.path(), &args);
    (tmp, clone)
}

/// A partial clone of `source` made with `git clone --filter=<filter>` (its working tree not
/// checked out, so it holds only what the filter lets through), at `<temp dir>/partial`.
pub fn partial_clone(source: &Path, filter: &str) -> (tempfile::TempDir, PathBuf) {
    git_in(source, &["config", "uploadpack.allowFilter", "true"]);
    let tmp = tempfile::tempdir().unwrap();
    let clone = tmp.path().join("partial");
    let url = format!("file://{}", source.display());
    let filter = format!("--filter={filter}");
    git_in(
        tmp.path(),
        &[
            "clone",
            "-q",
            "--no-checkout",
            &filter,
            &url,
            clone.to_str().unwrap(),
        ],
    );
    (tmp, clone)
}

impl TestRepo {
    pub fn new() -> TestRepo {
        let dir = tempfile::tempdir().expect("temp dir");
        let repo = TestRepo { dir };
        repo.git(&["init", "-q", "-b", "main"]);
        repo.git(&["config", "core.autocrlf", "false"]);
        repo
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn git(&self, args: &[&str]) -> String {
        git_in(self.path(), args)
    }

    pub fn write(&self, path: &str, content: impl AsRef<[u8]>) {
        self.write_bytes_named(path.as_bytes(), content);
    }

    /// [`write`](Self::write) to a path given as bytes, which need not be UTF-8 (git's
    /// paths are bytes).
    pub fn write_bytes_named(&self, path: &[u8], content: impl AsRef<[u8]>) {
        use std::os::unix::ffi::OsStrExt as _;
        let full = self.path().join(std::ffi::OsStr::from_bytes(path));
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, content).unwrap();
    }

    /// Numbered lines `prefix1\n…prefixN\n`.
    pub fn lines(prefix: &str, n: usize) -> String {
        (1..=n).map(|i| format!("{prefix}{i}\n")).collect()
    }

    /// Stage everything and commit as `name <name@example.com>` at `time`; returns the sha.
    pub fn commit(&self, name: &str, time: i64, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.commit_staged(name, time, message, &[])
    }

    pub fn commit_staged(&self, name: &str, time: i64, message: &str, extra: &[&str]) -> String {
        let (user, email) = (
            format!("user.name={name}"),
            format!("user.email={name}@example.com"),
        );
        let mut args = vec![
            "-c",
            &user,
            "-c",
            &email,
            "commit",
            "-q",
            "--no-verify",
            "-m",
            message,
        ];
        args.extend_from_slice(extra);
        run_git(self.path(), &args, Some(time));
        self.git(&["rev-parse", "HEAD"])
    }

    /// Stage everything and commit on HEAD with `author` as the commit's author line, written
    /// as it stands (name, e-mail and time, however malformed: git makes no such commit
    /// itself); returns the sha.
    pub fn commit_as_written(&self, author: &str, message: &str) -> String {
        self.git(&["add", "-A"]);
        let tree = self.git(&["write-tree"]);
        let parent = self.git(&["rev-parse", "HEAD"]);
        let repo = git2::Repository::open(self.path()).unwrap();
        let sha = write_commit(
            &repo,
            &tree,
            Some(&parent),
            author.as_bytes(),
            None,
            message,
        )
        .to_string();
        self.git(&["update-ref", "HEAD", &sha]);
        sha
    }

    /// A merge of `branch` into the current branch, by `name` at `time`.
    pub fn merge(&self, name: &str, time: i64, branch: &str) -> String {
        self.merge_all(name, time, &[branch])
    }

    /// A merge of `branches` (an octopus merge for more than one) into the current branch.
    pub fn merge_all(&self, name: &str, time: i64, branches: &[&str]) -> String {
        let (user, email) = (
            format!("user.name={name}"),
            format!("user.email={name}@example.com"),
        );
        let message = format!("Merge {}", branches.join(", "));
        let mut args = vec![
            "-c", &user, "-c", &email, "merge", "-q", "--no-ff", "-m", &message,
        ];
        args.extend_from_slice(branches);
        run_git(self.path(), &args, Some(time));
        self.git(&["rev-parse", "HEAD"])
    }
}

pub fn riskgate() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_riskgate"))
}

/// Run the riskgate binary; returns (exit code, stdout, stderr).
pub fn run_riskgate(args: &[&str]) -> (i32, String, String) {
    run_riskgate_env(args, &[])
}

/// `riskgate score --repo dir --base base --format json`, which must succeed: its report.
pub fn score_json(dir: &str, base: &str) -> serde_json::Value {
    let (code, out, err) =
        run_riskgate(&["score", "--repo", dir, "--base", base, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

/// Run the riskgate binary with these environment variables set (and no `DATABASE_URL` or
/// `RISKGATE_MODEL` from the caller's environment unless given here).
pub fn run_riskgate_env(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(riskgate());
    cmd.args(args)
        .env_remove("RISKGATE_MODEL")
        .env_remove("DATABASE_URL");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("riskgate runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// What `git log --no-merges -M -l7000 --numstat` says of each commit of `rev`'s history: git's
/// renames found among as many files as riskgate lets git compare.
pub struct Numstat {
    /// commit → (lines added, lines deleted, files), a binary file counted with no lines.
    pub commits: std::collections::HashMap<String, (f64, f64, f64)>,
    /// File entries git shows as binary (`-\t-`).
    pub binary_entries: usize,
}

pub fn git_numstat(dir: &Path, rev: &str) -> Numstat {
    let log = git_in(
        dir,
        &[
            "-c",
            "diff.renames=true",
            "log",
            "--no-merges",
            "-M",
            "-l7000",
            "--numstat",
            "--format=@%H",
            rev,
        ],
    );
    let mut out = Numstat {
        commits: Default::default(),
        binary_entries: 0,
    };
    let mut current = String::new();
    for line in log.lines() {
        if let Some(sha) = line.strip_prefix('@') {
            current = sha.to_string();
            out.commits.insert(current.clone(), (0.0, 0.0, 0.0));
        } else if !line.trim().is_empty() {
            let mut parts = line.split('\t');
            let (a, d) = (parts.next().unwrap(), parts.next().unwrap());
            let e = out.commits.get_mut(&current).unwrap();
            e.2 += 1.0;
            if a == "-" {
                out.binary_entries += 1;
            } else {
                e.0 += a.parse::<f64>().unwrap();
                e.1 += d.parse::<f64>().unwrap();
            }
        }
    }
    out
}

// ---- databases -------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
pub(crate) enum Db {
    Sqlite,
    Postgres,
}

/// A fresh database for one test; PostgreSQL ones are dropped afterwards.
pub(crate) struct Database {
    pub(crate) url: String,
    drop_name: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.drop_name.take() {
            let _ = Command::new("psql")
                .arg(&admin)
                .args([
                    "-q",
                    "-c",
                    &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                ])
                .output();
        }
    }
}

impl Database {
    /// Runs one SQL statement on the database behind riskgate's back (to plant a fault).
    pub(crate) async fn execute(&self, sql: &str) {
        if self.drop_name.is_some() {
            let pool = sqlx::PgPool::connect(&self.url).await.unwrap();
            sqlx::query(sql).execute(&pool).await.unwrap();
            pool.close().await;
        } else {
            let pool = sqlx::SqlitePool::connect(&self.url).await.unwrap();
            sqlx::query(sql).execute(&pool).await.unwrap();
            pool.close().await;
        }
    }

    /// The count a `SELECT COUNT(*) …` returns, read behind riskgate's back.
    pub(crate) async fn count(&self, sql: &str) -> i64 {
        if self.drop_name.is_some() {
            let pool = sqlx::PgPool::connect(&self.url).await.unwrap();
            let n = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
            pool.close().await;
            n
        } else {
            let pool = sqlx::SqlitePool::connect(&self.url).await.unwrap();
            let n = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
            pool.close().await;
            n
        }
    }
}

/// The one place a test database is made: a SQLite file in a temp dir, or a PostgreSQL
/// database created on the server `RISKGATE_TEST_DATABASE_URL` names (its role needs CREATEDB).
pub(crate) fn database(db: Db) -> Database {
    match db {
        Db::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            Database {
                url: riskgate::store::sqlite_url_in(dir.path()),
                drop_name: None,
                _dir: Some(dir),
            }
        }
        Db::Postgres => {
            let base = std::env::var("RISKGATE_TEST_DATABASE_URL")
                .expect("RISKGATE_TEST_DATABASE_URL must name a PostgreSQL database for the App tests (see scripts/test-db.sh)");
            // Unique among the tests of this run and of runs in parallel.
            static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let name = format!(
                "riskgate_app_{}_{}_{}",
                std::process::id(),
                NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .subsec_nanos()
            );
            let out = Command::new("psql")
                .arg(&base)
                .args(["-q", "-c", &format!("CREATE DATABASE {name}")])
                .output()
                .expect("psql runs");
            assert!(
                out.status.success(),
                "creating {name}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let (prefix, _) = base.rsplit_once('/').unwrap();
            Database {
                url: format!("{prefix}/{name}"),
                drop_name: Some((base.clone(), name)),
                _dir: None,
            }
        }
    }
}

/// Writes into `repo` a commit of the empty tree whose author line is `author` as it stands
/// (name, e-mail and time, however malformed), declaring `encoding`; returns its id.
pub fn commit_with_author(
    repo: &git2::Repository,
    author: &[u8],
    encoding: Option<&str>,
) -> git2::Oid {
    const EMPTY_TREE: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
    write_commit(repo, EMPTY_TREE, None, author, encoding, "m")
}

/// Writes a commit object as it stands, author line and all, without git's checks.
fn write_commit(
    repo: &git2::Repository,
    tree: &str,
    parent: Option<&str>,
    author: &[u8],
    encoding: Option<&str>,
    message: &str,
) -> git2::Oid {
    let mut raw = format!("tree {tree}\n").into_bytes();
    if let Some(parent) = parent {
        raw.extend_from_slice(format!("parent {parent}\n").as_bytes());
    }
    raw.extend_from_slice(b"author ");
    raw.extend_from_slice(author);
    raw.extend_from_slice(b"\ncommitter committer <committer@example.com> 0 +0000\n");
    if let Some(encoding) = encoding {
        raw.extend_from_slice(format!("encoding {encoding}\n").as_bytes());
    }
    raw.extend_from_slice(format!("\n{message}\n").as_bytes());
    repo.odb()
        .unwrap()
        .write(git2::ObjectType::Commit, &raw)
        .unwrap()
}
