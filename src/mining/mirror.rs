//! Bare mirrors of the repositories the App scores, one per repository in the data dir.
//!
//! Fetching goes through the `git` command (it speaks every transport and TLS); reading stays
//! with git2. Where a repository is fetched from is never taken from a webhook payload: it is
//! the configured [`GitRemote`] plus the validated `owner/name`. The git child starts from an
//! empty environment, may speak only the protocol of that remote, gets the installation token
//! as an HTTP header scoped to that remote (through git's environment configuration, never on
//! disk, a command line or in a log), and is killed with its helpers when it outlives its
//! deadline or the mirror grows past its size limit.

use std::io::Read as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::Engine as _;

/// What a git child may inherit from our environment besides what we set: how to find
/// programs, and the operator's proxy and certificate settings (never a secret of ours).
const PASSED_THROUGH: &[&str] = &[
    "PATH",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];

/// How much of a git child's stderr is kept for the error message.
const STDERR_KEPT: usize = 16 * 1024;

/// The file that marks a mirror to be fetched whole at its next fetch ([`mark_for_refetch`]),
/// under riskgate's folder in the mirror.
const REFETCH_MARK: &str = "riskgate/refetch";

/// Have the next fetch into the mirror at `path` download every object again (`git fetch
/// --refetch`): the mirror lacks an object its refs reach (a damaged disk, a fetch cut
/// short), which an ordinary fetch never brings back, since git takes it to be there.
pub fn mark_for_refetch(path: &Path) -> std::io::Result<()> {
    let mark = path.join(REFETCH_MARK);
    if let Some(folder) = mark.parent() {
        std::fs::create_dir_all(folder)?;
    }
    std::fs::write(mark, b"")
}

/// Remove the temporary packs a fetch stopped at its deadline or size limit (or a crash) left in
/// the mirror at `path`: git starts each fetch (`tmp_…`) and each repack (`.tmp-…`) with a new
/// one, so they would pile up, each as large as what had been written. Called under the
/// mirror's lock, when no git runs in it.
fn remove_unfinished_packs(path: &Path) {
    let Ok(entries) = std::fs::read_dir(path.join("objects").join("pack")) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name
            .to_str()
            .is_some_and(|n| n.starts_with("tmp_") || n.starts_with(".tmp-"))
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The default deadline of one git command.
pub const DEFAULT_GIT_TIMEOUT: Duration = Duration::from_secs(600);

/// The default most a mirror may hold: well past what GitHub lets a repository grow to, short
/// of what one repository should take of the disk every other mirror shares.
pub const DEFAULT_MIRROR_MAX_BYTES: u64 = 20 * 1024 * 1024 * 1024;

/// How often a running fetch's mirror is measured against its limit.
const SIZE_POLL: Duration = Duration::from_millis(250);

/// The bytes of the files under `dir`, links not followed; what cannot be read counts nothing.
pub fn bytes_under(dir: &Path) -> u64 {
    let mut total = 0u64;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            // A `DirEntry`'s metadata is the link's own, never its target's.
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            if meta.is_dir() {
                pending.push(entry.path());
            } else {
                total = total.saturating_add(meta.len());
            }
        }
    }
    total
}

#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    #[error("repository name `{0}` is not owner/name (letters, digits, `-`, `_`, `.`)")]
    BadName(String),
    #[error("`{0}` is not a ref riskgate fetches")]
    BadRef(String),
    #[error("the git URL `{url}` is not usable: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("preparing the mirror at {path}: {reason}")]
    Io { path: String, reason: String },
    #[error("fetching {repository} from {url}: {reason}")]
    Fetch {
        repository: String,
        url: String,
        reason: String,
    },
    #[error(
        "fetching {repository} from {url}: git ran past its deadline of {} s and was killed",
        .deadline.as_secs_f64()
    )]
    TimedOut {
        repository: String,
        url: String,
        deadline: Duration,
    },
    #[error(
        "fetching {repository}: its mirror would hold more than the {} MiB a repository may \
         take (RISKGATE_MIRROR_MAX_MB), so the fetch was stopped",
        .limit / (1024 * 1024)
    )]
    TooLarge { repository: String, limit: u64 },
}

/// Where repositories are fetched from: `{base}/{owner}/{name}.git`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitRemote {
    /// Without a trailing slash.
    base: String,
    /// `https`, `http` or `file`: the one protocol git may use.
    scheme: String,
}

impl GitRemote {
    /// An operator's `RISKGATE_GIT_URL`: `https://host[:port][/prefix]`, `http://…` or
    /// `file:///absolute/dir`. Credentials, queries and fragments are refused (the token is
    /// sent as a header; a URL is shown in errors).
    pub fn parse(text: &str) -> Result<GitRemote, MirrorError> {
        let bad = |reason: &str| MirrorError::BadUrl {
            url: text.to_string(),
            reason: reason.to_string(),
        };
        let url = reqwest::Url::parse(text.trim()).map_err(|e| bad(&e.to_string()))?;
        let scheme = url.scheme().to_string();
        match scheme.as_str() {
            "https" | "http" => {
                if url.host_str().is_none_or(str::is_empty) {
                    return Err(bad("it names no host"));
                }
            }
            "file" => {
                if url
                    .host_str()
                    .is_some_and(|h| !h.is_empty() && h != "localhost")
                {
                    return Err(bad("a file URL names a local directory: file:///dir"));
                }
            }
            _ => return Err(bad("only https://, http:// and file:// URLs are fetched")),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad(
                "it holds credentials; riskgate sends the installation token itself",
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad("it has a query or fragment"));
        }
        let base = text.trim().trim_end_matches('/').to_string();
        if base.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(bad("it holds spaces or control characters"));
        }
        Ok(GitRemote { base, scheme })
    }

    /// The git host that goes with a GitHub API URL: `https://github.com` for
    /// `api.github.com`, `https://NAME.ghe.com` for `api.NAME.ghe.com`, and for a GitHub
    /// Enterprise Server API (`https://ghe.example.com/api/v3`) its host.
    pub fn for_api_url(api_url: &str) -> Result<GitRemote, MirrorError> {
        let bad = |reason: &str| MirrorError::BadUrl {
            url: api_url.to_string(),
            reason: reason.to_string(),
        };
        let url = reqwest::Url::parse(api_url.trim()).map_err(|e| bad(&e.to_string()))?;
        let host = url.host_str().ok_or_else(|| bad("it names no host"))?;
        let host = match host {
            "api.github.com" => "github.com",
            h if h.starts_with("api.") && h.ends_with(".ghe.com") => &h["api.".len()..],
            h => h,
        };
        let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
        let path = url.path().trim_end_matches('/');
        let prefix = path
            .strip_suffix("/api/v3")
            .or_else(|| path.strip_suffix("/api"))
            .unwrap_or("");
        GitRemote::parse(&format!("{}://{host}{port}{prefix}", url.scheme()))
    }

    /// The URL of one repository. `owner` and `name` must have passed [`split_name`].
    fn repository_url(&self, owner: &str, name: &str) -> String {
        format!("{}/{owner}/{name}.git", self.base)
    }

    /// The configuration key that sends an HTTP header to this remote and nowhere else.
    fn header_key(&self) -> Option<String> {
        matches!(self.scheme.as_str(), "https" | "http")
            .then(|| format!("http.{}/.extraHeader", self.base))
    }

    pub fn as_str(&self) -> &str {
        &self.base
    }
}

/// Bare mirrors under `<data dir>/mirrors`, fetched from one [`GitRemote`].
#[derive(Debug, Clone)]
pub struct Mirrors {
    root: PathBuf,
    /// The `HOME` of git children: empty, ours alone.
    home: PathBuf,
    remote: GitRemote,
    timeout: Duration,
    /// The most bytes one mirror's objects may take.
    max_bytes: u64,
}

/// `owner/name` split and checked against what GitHub allows in account and repository
/// names, so neither can be an option, a path or a URL of its own.
pub fn split_name(full_name: &str) -> Result<(&str, &str), MirrorError> {
    crate::names::split_full_name(full_name)
        .ok_or_else(|| MirrorError::BadName(full_name.to_string()))
}

/// A ref the App fetches (a branch or a pull request's head) as git would accept it: no
/// wildcard, no refspec syntax, nothing git itself calls malformed.
fn check_ref(name: &str) -> Result<(), MirrorError> {
    let allowed = (name.starts_with("refs/heads/") || name.starts_with("refs/pull/"))
        && !name.contains(['*', ':', '+', '^', '~', '?', '[', '\\'])
        && git2::Reference::is_valid_name(name);
    if allowed {
        Ok(())
    } else {
        Err(MirrorError::BadRef(name.to_string()))
    }
}

impl Mirrors {
    pub fn new(data_dir: &Path, remote: GitRemote, timeout: Duration) -> Mirrors {
        Mirrors {
            root: data_dir.join("mirrors"),
            home: data_dir.join("git-home"),
            remote,
            timeout,
            max_bytes: DEFAULT_MIRROR_MAX_BYTES,
        }
    }

    /// The same mirrors, each allowed at most `max_bytes` of objects.
    pub fn with_max_bytes(self, max_bytes: u64) -> Mirrors {
        Mirrors { max_bytes, ..self }
    }

    pub fn path_for(&self, full_name: &str) -> Result<PathBuf, MirrorError> {
        let (owner, name) = split_name(full_name)?;
        Ok(self.root.join(owner).join(format!("{name}.git")))
    }

    /// Fetch `refs` (full names such as `refs/heads/main` or `refs/pull/7/head`, each kept
    /// under its own name) of `full_name` from the configured remote into its mirror,
    /// created on first use. Blocking: run it off the async runtime.
    pub fn fetch(
        &self,
        full_name: &str,
        token: Option<&str>,
        refs: &[String],
    ) -> Result<PathBuf, MirrorError> {
        let (owner, name) = split_name(full_name)?;
        for r in refs {
            check_ref(r)?;
        }
        let path = self.path_for(full_name)?;
        let io = |path: &Path, e: &dyn std::fmt::Display| MirrorError::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        if !path.join("HEAD").exists() {
            std::fs::create_dir_all(&path).map_err(|e| io(&path, &e))?;
            git2::Repository::init_bare(&path).map_err(|e| io(&path, &e.message()))?;
        }
        create_private_dir(&self.home).map_err(|e| io(&self.home, &e))?;
        remove_unfinished_packs(&path);
        // A mirror past the limit is removed: it is refused from then on, and kept it would only
        // hold disk. With the limit raised it is fetched anew.
        let refuse = |path: &Path| {
            let removed = std::fs::remove_dir_all(path).is_ok();
            tracing::warn!(
                repository = full_name,
                limit_mib = self.max_bytes >> 20,
                removed,
                "the mirror passed its size limit and was removed"
            );
            MirrorError::TooLarge {
                repository: full_name.to_string(),
                limit: self.max_bytes,
            }
        };
        let objects = path.join("objects");
        if bytes_under(&objects) > self.max_bytes {
            return Err(refuse(&path));
        }

        let url = self.remote.repository_url(owner, name);
        let mut args: Vec<String> = [
            "fetch",
            "--quiet",
            "--no-tags",
            "--force",
            "--no-write-fetch-head",
            "--no-recurse-submodules",
        ]
        .map(String::from)
        .to_vec();
        let refetch = path.join(REFETCH_MARK).exists();
        if refetch {
            args.push("--refetch".to_string());
        }
        args.push("--".to_string());
        args.push(url.clone());
        args.extend(refs.iter().map(|r| format!("+{r}:{r}")));
        let mut cmd = self.git_command(&path, token);
        cmd.args(&args);
        let limit = SizeLimit {
            dir: objects.clone(),
            max_bytes: self.max_bytes,
        };
        match run_with_deadline(cmd, self.timeout, Some(limit)) {
            // A fetch quicker than one measurement can end past the limit.
            Ok(()) if bytes_under(&objects) > self.max_bytes => Err(refuse(&path)),
            Ok(()) => {
                if refetch {
                    tracing::info!(repository = full_name, "mirror fetched whole again");
                    // Left behind, it costs one more whole fetch; nothing is lost.
                    let _ = std::fs::remove_file(path.join(REFETCH_MARK));
                }
                Ok(path)
            }
            Err(RunError::TooLarge) => Err(refuse(&path)),
            Err(RunError::TimedOut) => Err(MirrorError::TimedOut {
                repository: full_name.to_string(),
                url,
                deadline: self.timeout,
            }),
            Err(RunError::Failed(reason)) => Err(MirrorError::Fetch {
                repository: full_name.to_string(),
                url,
                reason: redact(&reason, token),
            }),
        }
    }

    /// `git -C <dir>` with nothing of our environment but [`PASSED_THROUGH`], no system or
    /// global configuration, no prompts, only the remote's protocol, and the token (when
    /// there is one) as a header for the remote alone.
    fn git_command(&self, dir: &Path, token: Option<&str>) -> Command {
        let mut cmd = Command::new(super::git_program());
        cmd.env_clear();
        for name in PASSED_THROUGH {
            if let Some(value) = std::env::var_os(name) {
                cmd.env(name, value);
            }
        }
        cmd.env("HOME", &self.home)
            .env("LANG", "C")
            .env("LC_ALL", "C")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_ALLOW_PROTOCOL", &self.remote.scheme);
        // A redirect could take the header elsewhere; GitHub serves a repository where it is.
        // The housekeeping a fetch may start (`gc --auto`, `maintenance run --auto`) runs in
        // the fetch, not detached from it: under the mirror's lock and the fetch's deadline.
        let mut config: Vec<(String, String)> = [
            ("http.followRedirects", "false"),
            ("gc.autoDetach", "false"),
            ("maintenance.autoDetach", "false"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .to_vec();
        if let (Some(token), Some(key)) = (token, self.remote.header_key()) {
            let basic =
                base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{token}"));
            config.push((key, format!("Authorization: Basic {basic}")));
        }
        cmd.env("GIT_CONFIG_COUNT", config.len().to_string());
        for (i, (key, value)) in config.into_iter().enumerate() {
            cmd.env(format!("GIT_CONFIG_KEY_{i}"), key)
                .env(format!("GIT_CONFIG_VALUE_{i}"), value);
        }
        cmd.arg("-C").arg(dir);
        cmd
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// The token, and the header value made from it, never appear in an error.
fn redact(text: &str, token: Option<&str>) -> String {
    let mut text = text.to_string();
    if let Some(token) = token.filter(|t| !t.is_empty()) {
        let basic =
            base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{token}"));
        text = text.replace(&basic, "***").replace(token, "***");
    }
    text
}

enum RunError {
    TimedOut,
    TooLarge,
    Failed(String),
}

/// The most bytes the files under `dir` may come to while a command runs.
struct SizeLimit {
    dir: PathBuf,
    max_bytes: u64,
}

/// Run `cmd` in a process group of its own; past `deadline`, or once the files under `limit`'s
/// folder pass its size, the whole group (git and the helpers it started) is killed.
fn run_with_deadline(
    mut cmd: Command,
    deadline: Duration,
    limit: Option<SizeLimit>,
) -> Result<(), RunError> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd
        .spawn()
        .map_err(|e| RunError::Failed(format!("running git: {e}")))?;
    let group = child.id() as libc::pid_t;
    let stderr = child.stderr.take();
    let (err_tx, err_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        if let Some(mut pipe) = stderr {
            let _ = (&mut pipe).take(STDERR_KEPT as u64).read_to_end(&mut kept);
            // Keep draining so git never blocks on a full pipe.
            let _ = std::io::copy(&mut pipe, &mut std::io::sink());
        }
        let _ = err_tx.send(kept);
    });
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(child.wait());
    });
    let started = Instant::now();
    let stopped = loop {
        let left = deadline.saturating_sub(started.elapsed());
        let wait = if limit.is_some() {
            left.min(SIZE_POLL)
        } else {
            left
        };
        match done_rx.recv_timeout(wait) {
            Ok(status) => break Ok(status),
            Err(mpsc::RecvTimeoutError::Timeout) if started.elapsed() < deadline => {
                if limit
                    .as_ref()
                    .is_some_and(|l| bytes_under(&l.dir) > l.max_bytes)
                {
                    break Err(RunError::TooLarge);
                }
            }
            Err(_) => break Err(RunError::TimedOut),
        }
    };
    let (status, stopped) = match stopped {
        Ok(status) => (status, None),
        Err(why) => {
            // SAFETY: kill(2) with a negative pid signals the process group the child leads;
            // the waiter thread has not reaped it yet, so the group still exists.
            unsafe {
                libc::kill(-group, libc::SIGKILL);
            }
            let status = done_rx
                .recv()
                .unwrap_or_else(|_| Err(std::io::Error::other("git's waiter is gone")));
            (status, Some(why))
        }
    };
    // A helper that left the group could hold stderr open: wait for it only briefly.
    let stderr = err_rx
        .recv_timeout(Duration::from_secs(2))
        .unwrap_or_default();
    if let Some(why) = stopped {
        return Err(why);
    }
    match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => {
            let text = String::from_utf8_lossy(&stderr).trim().to_string();
            Err(RunError::Failed(if text.is_empty() {
                format!("git exited with {s}")
            } else {
                text
            }))
        }
        Err(e) => Err(RunError::Failed(format!("waiting for git: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(url: &str) -> GitRemote {
        GitRemote::parse(url).unwrap()
    }

    /// A fetch removes the temporary pack a fetch stopped at its deadline left behind, and the
    /// repack a fetch starts is done when the fetch returns, not detached from it.
    #[test]
    fn a_fetch_leaves_no_unfinished_pack_and_no_housekeeping_behind() {
        let work = crate::mining::test_repo::TestRepo::new();
        work.import();
        let root = tempfile::tempdir().unwrap();
        let upstream = root.path().join("o").join("r.git");
        let upstream_dir = upstream.to_str().unwrap();
        work.git(&["clone", "-q", "--bare", ".", upstream_dir]);
        let data = tempfile::tempdir().unwrap();
        let url = format!("file://{}", root.path().display());
        let mirrors = Mirrors::new(data.path(), remote(&url), Duration::from_secs(60));
        let main = ["refs/heads/main".to_string()];
        let mirror = mirrors.fetch("o/r", None, &main).unwrap();

        let stale = mirror.join("objects/pack/tmp_pack_a1b2c3");
        std::fs::write(&stale, vec![7u8; 4096]).unwrap();
        // From here every fetch keeps a pack, and two packs are one too many: the second
        // fetch repacks. Detached, the repack would still be running when it returns.
        let mirror_repo = git2::Repository::open_bare(&mirror).unwrap();
        let mut config = mirror_repo.config().unwrap();
        config.set_i32("fetch.unpackLimit", 1).unwrap();
        config.set_i32("gc.autoPackLimit", 1).unwrap();
        for round in 0..2 {
            work.write("c.txt", &format!("c {round}\n"));
            work.git(&["add", "."]);
            work.git(&["commit", "-qm", "more"]);
            work.git(&["push", "-q", upstream_dir, "main"]);
            mirrors.fetch("o/r", None, &main).unwrap();
        }

        let packs: Vec<String> = std::fs::read_dir(mirror.join("objects/pack"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".pack") || n.starts_with("tmp_"))
            .collect();
        assert_eq!(
            packs.len(),
            1,
            "one pack, repacked before the fetch returned: {packs:?}"
        );
        assert!(!stale.exists());
    }

    /// About `bytes` of text git cannot shrink much: random bytes, in base64.
    fn noise(bytes: usize) -> String {
        let random: Vec<u8> = (0..bytes * 3 / 4).map(|_| rand::random::<u8>()).collect();
        base64::engine::general_purpose::STANDARD.encode(random)
    }

    /// A repository larger than the limit is refused with an error naming the limit, and its
    /// mirror does not stay on disk; under a limit it clears, the same repository is fetched.
    #[test]
    fn a_mirror_past_its_size_limit_is_refused_and_removed() {
        let work = crate::mining::test_repo::TestRepo::new();
        work.write("blob.txt", &noise(4 << 20));
        work.git(&["add", "."]);
        work.git(&["commit", "-qm", "big"]);
        work.git(&["branch", "-M", "main"]);
        let root = tempfile::tempdir().unwrap();
        let upstream = root.path().join("o").join("r.git");
        work.git(&["clone", "-q", "--bare", ".", upstream.to_str().unwrap()]);
        let url = format!("file://{}", root.path().display());
        let main = ["refs/heads/main".to_string()];

        let data = tempfile::tempdir().unwrap();
        let small = Mirrors::new(data.path(), remote(&url), Duration::from_secs(60))
            .with_max_bytes(1 << 20);
        for attempt in 0..2 {
            let error = small.fetch("o/r", None, &main).unwrap_err();
            assert!(matches!(error, MirrorError::TooLarge { .. }), "{error}");
            assert!(error.to_string().contains("more than the 1 MiB"), "{error}");
            assert!(
                !small.path_for("o/r").unwrap().exists(),
                "attempt {attempt}: the oversized mirror was removed"
            );
        }
        let roomy = Mirrors::new(data.path(), remote(&url), Duration::from_secs(60))
            .with_max_bytes(64 << 20);
        let mirror = roomy.fetch("o/r", None, &main).unwrap();
        assert!(bytes_under(&mirror.join("objects")) > 1 << 20);
    }

    /// A command that keeps writing is killed once its folder passes the limit, long before its
    /// deadline.
    #[test]
    fn a_command_writing_past_the_limit_is_stopped_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("sh");
        cmd.current_dir(dir.path()).args([
            "-c",
            "i=0; while :; do head -c 65536 /dev/zero > f$i; i=$((i+1)); sleep 0.05; done",
        ]);
        let limit = SizeLimit {
            dir: dir.path().to_path_buf(),
            max_bytes: 512 * 1024,
        };
        let outcome = run_with_deadline(cmd, Duration::from_secs(120), Some(limit));
        assert!(
            matches!(outcome, Err(RunError::TooLarge)),
            "stopped for its size, not at its deadline"
        );
    }

    #[test]
    fn names_are_checked() {
        let m = Mirrors::new(
            Path::new("/data"),
            remote("https://github.com"),
            DEFAULT_GIT_TIMEOUT,
        );
        assert_eq!(
            m.path_for("octo/app").unwrap(),
            PathBuf::from("/data/mirrors/octo/app.git")
        );
        for bad in [
            "octo",
            "../x",
            "octo/..",
            "a/b/c",
            "octo/ap p",
            "",
            "--upload-pack=x/y",
            "octo/x;y",
            "o.o/x",
        ] {
            assert!(m.path_for(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn refs_are_checked() {
        for good in [
            "refs/heads/main",
            "refs/heads/release/1.2",
            "refs/pull/7/head",
        ] {
            assert!(check_ref(good).is_ok(), "{good}");
        }
        for bad in [
            "main",
            "refs/heads/*",
            "refs/heads/a:refs/heads/b",
            "refs/heads/a..b",
            "refs/tags/v1",
            "refs/heads/x.lock",
            "refs/heads/ sp",
            "+refs/heads/main",
        ] {
            assert!(check_ref(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn git_urls_are_checked() {
        let r = remote("https://ghe.example.com/git/");
        assert_eq!(
            r.repository_url("o", "r"),
            "https://ghe.example.com/git/o/r.git"
        );
        assert_eq!(
            r.header_key().unwrap(),
            "http.https://ghe.example.com/git/.extraHeader"
        );
        assert_eq!(
            remote("file:///tmp/x").repository_url("o", "r"),
            "file:///tmp/x/o/r.git"
        );
        assert_eq!(remote("file:///tmp/x").header_key(), None);
        for bad in [
            "ssh://git@github.com",
            "ext::sh -c touch% /tmp/pwned",
            "https://user:pw@github.com",
            "https://github.com/?x=1",
            "file://host/dir",
            "/tmp/x",
            "",
        ] {
            assert!(GitRemote::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_git_host_follows_the_api_url() {
        let host = |api: &str| GitRemote::for_api_url(api).unwrap().as_str().to_string();
        assert_eq!(host("https://api.github.com"), "https://github.com");
        assert_eq!(host("https://api.github.com/"), "https://github.com");
        assert_eq!(
            host("https://ghe.example.com/api/v3"),
            "https://ghe.example.com"
        );
        assert_eq!(host("https://api.octo.ghe.com"), "https://octo.ghe.com");
        assert_eq!(host("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
    }

    #[test]
    fn errors_never_show_the_token() {
        let basic = base64::engine::general_purpose::STANDARD.encode("x-access-token:ghs_abc");
        let text = format!("fatal: ghs_abc rejected; header Basic {basic}");
        let clean = redact(&text, Some("ghs_abc"));
        assert!(
            !clean.contains("ghs_abc") && !clean.contains(&basic),
            "{clean}"
        );
    }
}
