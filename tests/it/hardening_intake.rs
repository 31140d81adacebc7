//! The App against hostile input at its doors: webhook payloads that name other git URLs,
//! git commands that leak or stall, weak or empty settings, slow and greedy HTTP clients, and
//! deliveries cut off halfway through being stored. The real `riskgate serve` on port 0 each
//! time; git replaced, where a test needs to watch or stall it, by a script placed first on
//! `PATH`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wiremock::MockServer;

use crate::harness::{
    bytes, completions, deliver, deliver_accepted, fake_github, fixture, metric, origin,
    origin_after, pull_request_payload, rerun_payload, spawn_serve, start_app_with,
    start_server_with, wait_for, Origin, Running, Server, TestApp, LONG, NAME, OWNER, SECRET,
};
use crate::support::{database, day, riskgate, Database, Db, TestRepo};
use riskgate::store::{JobStatus, JOB_RECORD_INSTALLATION, JOB_SCORE_PULL_REQUEST};

const API_TOKEN: &str = "incidents-api-token-for-tests";
const DASHBOARD_TOKEN: &str = "dashboard-token-for-tests";
/// What the fake GitHub hands out as the installation token.
const INSTALLATION_TOKEN: &str = "ghs_test_token";

fn private_key() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/github/test-app-key.pem"),
    )
    .unwrap()
}

fn basic_header(token: &str) -> String {
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{token}"));
    format!("Authorization: Basic {encoded}")
}

// ---- a git that reports on itself ------------------------------------------------------------

/// A directory with a `git` script in it, to be put first on the server's `PATH`. Each run
/// records its arguments and environment in `calls/<pid>/`.
struct GitSpy {
    dir: tempfile::TempDir,
}

/// One recorded run of `git`.
#[derive(Debug)]
struct GitCall {
    argv: Vec<String>,
    env: BTreeMap<String, String>,
    dir: PathBuf,
}

/// The real git, wherever `PATH` has it.
fn real_git() -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|d| d.join("git"))
        .find(|p| p.is_file())
        .expect("git on PATH")
}

impl GitSpy {
    /// `then` is the rest of the script, run after the call is recorded.
    fn new(then: &str) -> GitSpy {
        let dir = tempfile::tempdir().unwrap();
        let calls = dir.path().join("calls");
        std::fs::create_dir_all(&calls).unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let script = format!(
            "#!/bin/sh\n\
             out='{calls}'/$$\n\
             mkdir \"$out\"\n\
             for a in \"$@\"; do printf '%s\\0' \"$a\"; done > \"$out/argv.tmp\"\n\
             env -0 > \"$out/env\"\n\
             mv \"$out/argv.tmp\" \"$out/argv\"\n\
             {then}\n",
            calls = calls.display()
        );
        let git = bin.join("git");
        std::fs::write(&git, script).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&git, std::fs::Permissions::from_mode(0o755)).unwrap();
        GitSpy { dir }
    }

    /// Records, then runs the real git.
    fn wrapping_real_git() -> GitSpy {
        GitSpy::new(&format!("exec '{}' \"$@\"", real_git().display()))
    }

    /// The server's `PATH`: this `git` first.
    fn path_env(&self) -> String {
        let mut dirs = vec![self.dir.path().join("bin")];
        dirs.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap()));
        std::env::join_paths(dirs).unwrap().into_string().unwrap()
    }

    /// The process id a call wrote to the file `name` of its folder, if one did.
    fn recorded_pid(&self, name: &str) -> Option<u32> {
        self.calls()
            .iter()
            .find_map(|c| std::fs::read_to_string(c.dir.join(name)).ok())
            .map(|pid| pid.trim().parse().unwrap())
    }

    fn calls(&self) -> Vec<GitCall> {
        let mut calls = Vec::new();
        for entry in std::fs::read_dir(self.dir.path().join("calls")).unwrap() {
            let dir = entry.unwrap().path();
            // `argv` is renamed into place last: a call without it is still being written.
            let Ok(argv) = std::fs::read(dir.join("argv")) else {
                continue;
            };
            let env = std::fs::read(dir.join("env")).unwrap();
            let split = |raw: &[u8]| -> Vec<String> {
                raw.split(|&b| b == 0)
                    .filter(|s| !s.is_empty())
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect()
            };
            calls.push(GitCall {
                argv: split(&argv),
                env: split(&env)
                    .into_iter()
                    .filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.into(), v.into())))
                    .collect(),
                dir,
            });
        }
        calls
    }
}

impl GitCall {
    /// Nothing of `secrets` in the arguments or the environment, in any variable.
    fn assert_holds_none_of(&self, secrets: &[(&str, String)]) {
        for (what, secret) in secrets {
            for arg in &self.argv {
                assert!(
                    !arg.contains(secret.as_str()),
                    "{what} in git's argv: {arg}"
                );
            }
            for (key, value) in &self.env {
                assert!(
                    !value.contains(secret.as_str()) && !key.contains(secret.as_str()),
                    "{what} in git's environment ({key})"
                );
            }
        }
    }

    /// Only what git needs is in its environment (and what `sh` itself adds to it).
    fn assert_environment_is_minimal(&self) {
        const ALLOWED: &[&str] = &[
            "PATH",
            "HOME",
            "LANG",
            "LC_ALL",
            "GIT_TERMINAL_PROMPT",
            "GIT_CONFIG_NOSYSTEM",
            "GIT_CONFIG_GLOBAL",
            "GIT_ALLOW_PROTOCOL",
            "GIT_CONFIG_COUNT",
            "GIT_NO_LAZY_FETCH",
            "GIT_NO_REPLACE_OBJECTS",
            // proxies and certificates, when the operator has them
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
            // the shell running the script
            "PWD",
            "OLDPWD",
            "SHLVL",
            "_",
        ];
        for key in self.env.keys() {
            let config = key.starts_with("GIT_CONFIG_KEY_") || key.starts_with("GIT_CONFIG_VALUE_");
            assert!(
                ALLOWED.contains(&key.as_str()) || config,
                "git's environment holds {key}"
            );
        }
        assert_eq!(self.env["GIT_TERMINAL_PROMPT"], "0");
        assert_eq!(self.env["GIT_CONFIG_NOSYSTEM"], "1");
        assert_eq!(self.env["GIT_CONFIG_GLOBAL"], "/dev/null");
        assert_eq!(self.env["LC_ALL"], "C");
    }

    /// `(key, value)` of each `GIT_CONFIG_KEY_n` / `GIT_CONFIG_VALUE_n` pair.
    fn config(&self) -> Vec<(String, String)> {
        let count: usize = self.env["GIT_CONFIG_COUNT"].parse().unwrap();
        (0..count)
            .map(|i| {
                (
                    self.env[&format!("GIT_CONFIG_KEY_{i}")].clone(),
                    self.env[&format!("GIT_CONFIG_VALUE_{i}")].clone(),
                )
            })
            .collect()
    }

    fn is_fetch(&self) -> bool {
        self.argv.iter().any(|a| a == "fetch")
    }

    /// The URL fetched: the argument right after `--`, which must come before any URL.
    fn fetched_url(&self) -> &str {
        let dashes = self
            .argv
            .iter()
            .position(|a| a == "--")
            .unwrap_or_else(|| panic!("no `--` in {:?}", self.argv));
        for arg in &self.argv[..dashes] {
            assert!(!arg.contains("://"), "a URL before `--`: {:?}", self.argv);
        }
        &self.argv[dashes + 1]
    }
}

/// Every secret the server is given, by name.
fn server_secrets(database: &Database) -> Vec<(&'static str, String)> {
    let key_material = private_key()
        .lines()
        .nth(1)
        .expect("a PEM body")
        .to_string();
    vec![
        ("the webhook secret", SECRET.to_string()),
        ("the private key", key_material),
        ("the API token", API_TOKEN.to_string()),
        ("the dashboard token", DASHBOARD_TOKEN.to_string()),
        ("the installation token", INSTALLATION_TOKEN.to_string()),
        ("the database URL", database.url.clone()),
    ]
}

// ---- 1. git fetching ---------------------------------------------------------------------------

/// A signed delivery is still input: `repository.clone_url` naming a git option, or a URL on
/// another host, is neither run nor fetched nor sent a token; the configured URL is fetched.
#[tokio::test(flavor = "multi_thread")]
async fn a_hostile_clone_url_is_never_fetched() {
    let database = database(Db::Sqlite);
    let data = tempfile::tempdir().unwrap();
    let mut origin = origin(30, Some("comment: never\n"), None);
    let gh = fake_github(json!([]), "read").await;
    let elsewhere = MockServer::start().await;
    let spy = GitSpy::wrapping_real_git();
    let marker = data.path().join("pwned");
    let server = start_server_with(
        &database,
        &gh.uri(),
        data.path(),
        &[
            ("RISKGATE_GIT_URL", &origin.git_url()),
            ("PATH", &spy.path_env()),
            ("RISKGATE_API_TOKEN", API_TOKEN),
            ("RISKGATE_DASHBOARD_TOKEN", DASHBOARD_TOKEN),
        ],
    );

    let mut opened = pull_request_payload("pull_request.opened.json", &origin);
    opened["repository"]["clone_url"] = json!(format!("--upload-pack=touch {};", marker.display()));
    deliver_accepted(&server, "pull_request", "h-1", &opened).await;
    wait_for("the check run of the first head", LONG, || async {
        !completions(&gh).await.is_empty()
    })
    .await;
    assert!(!marker.exists(), "the payload's clone_url ran a command");

    origin.push(5);
    let mut sync = pull_request_payload("pull_request.synchronize.json", &origin);
    let stolen = format!("{}/{OWNER}/{NAME}.git", elsewhere.uri());
    for key in ["clone_url", "git_url", "html_url", "url", "svn_url"] {
        sync["repository"][key] = json!(stolen);
    }
    deliver_accepted(&server, "pull_request", "h-2", &sync).await;
    wait_for("the check run of the pushed head", LONG, || async {
        completions(&gh).await.len() >= 2
    })
    .await;
    // The check run is completed before the comment is written and the score recorded; and
    // no git may still be running when its calls are read.
    server.wait_until_drained().await;
    let store = riskgate::store::Store::connect(&database.url)
        .await
        .unwrap();
    let scored = store
        .latest_score(&format!("{OWNER}/{NAME}"), 2)
        .await
        .unwrap()
        .expect("a score");
    assert_eq!(
        scored.head_sha, origin.head,
        "the pushed head, which only the configured URL has, was fetched and scored"
    );
    store.close().await;
    assert!(
        elsewhere
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty(),
        "the other host was contacted"
    );

    let calls = spy.calls();
    let secrets = server_secrets(&database);
    // Every git the server runs (fetches, and the rename detection of mining) gets a clean
    // environment.
    for call in &calls {
        call.assert_environment_is_minimal();
        call.assert_holds_none_of(&secrets);
    }
    let fetches: Vec<&GitCall> = calls.iter().filter(|c| c.is_fetch()).collect();
    assert!(fetches.len() >= 2, "one fetch per head: {calls:?}");
    let configured = format!("{}/{OWNER}/{NAME}.git", origin.git_url());
    for call in fetches {
        assert_eq!(call.fetched_url(), configured);
        assert!(
            !call
                .argv
                .iter()
                .any(|a| a.contains("upload-pack") || a.contains(&elsewhere.uri())),
            "{:?}",
            call.argv
        );
        assert_eq!(call.env["GIT_ALLOW_PROTOCOL"], "file");
        assert!(
            !call
                .config()
                .iter()
                .any(|(k, _)| k.to_ascii_lowercase().contains("extraheader")),
            "no token is sent to a file URL: {:?}",
            call.config()
        );
    }
    drop(server);
}

/// The token reaches git only as an `Authorization` header scoped to the configured host,
/// through git's environment configuration; nothing else of the server's comes along, and
/// an error git prints with the header in it is stored with the token blacked out.
#[tokio::test(flavor = "multi_thread")]
async fn git_gets_the_token_for_the_configured_host_only() {
    let database = database(Db::Sqlite);
    let data = tempfile::tempdir().unwrap();
    let origin = origin(10, None, None);
    let gh = fake_github(json!([]), "read").await;
    // A git that fails as a network error would, showing what it was given.
    let spy = GitSpy::new(
        "env | grep '^GIT_CONFIG_VALUE' >&2\n\
         echo 'fatal: unable to access the remote' >&2\n\
         exit 128",
    );
    let git_url = "https://git.example.test/mirror";
    let server = start_server_with(
        &database,
        &gh.uri(),
        data.path(),
        &[
            ("RISKGATE_GIT_URL", git_url),
            ("PATH", &spy.path_env()),
            ("RISKGATE_API_TOKEN", API_TOKEN),
            ("RISKGATE_DASHBOARD_TOKEN", DASHBOARD_TOKEN),
        ],
    );
    let opened = pull_request_payload("pull_request.opened.json", &origin);
    deliver_accepted(&server, "pull_request", "t-1", &opened).await;
    let store = riskgate::store::Store::connect(&database.url)
        .await
        .unwrap();
    wait_for(
        "the failed fetch to be recorded on the job",
        LONG,
        || async {
            store
                .list_jobs(None, 10)
                .await
                .unwrap()
                .iter()
                .any(|j| j.last_error.is_some())
        },
    )
    .await;

    let calls = spy.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    let call = &calls[0];
    assert_eq!(
        call.fetched_url(),
        format!("{git_url}/{OWNER}/{NAME}.git"),
        "the configured host, not the payload's clone_url"
    );
    let dashes = call.argv.iter().position(|a| a == "--").unwrap();
    assert_eq!(
        &call.argv[dashes + 2..],
        [
            "+refs/heads/main:refs/heads/main",
            "+refs/pull/2/head:refs/pull/2/head"
        ]
    );
    call.assert_environment_is_minimal();
    assert_eq!(call.env["GIT_ALLOW_PROTOCOL"], "https");
    assert!(
        Path::new(&call.env["HOME"]).starts_with(data.path()),
        "a HOME of riskgate's own, not the user's: {}",
        call.env["HOME"]
    );
    let header = basic_header(INSTALLATION_TOKEN);
    let config = call.config();
    let scoped: Vec<_> = config
        .iter()
        .filter(|(k, _)| k.to_ascii_lowercase().ends_with(".extraheader"))
        .collect();
    assert_eq!(
        scoped,
        [&(format!("http.{git_url}/.extraHeader"), header.clone())],
        "one header, for the configured URL only"
    );
    let encoded = header.trim_start_matches("Authorization: Basic ");
    for (key, value) in &call.env {
        if !key.starts_with("GIT_CONFIG_VALUE_") {
            assert!(!value.contains(encoded), "the token is in {key}");
        }
    }
    call.assert_holds_none_of(&server_secrets(&database));

    let jobs = store.list_jobs(None, 10).await.unwrap();
    let error = jobs[0].last_error.clone().unwrap();
    assert!(
        error.contains("unable to access") && error.contains("git.example.test"),
        "{error}"
    );
    assert!(
        !error.contains(encoded) && !error.contains(INSTALLATION_TOKEN),
        "the token is in the job's error: {error}"
    );
    store.close().await;
    drop(server);
}

/// Whether the process `pid` is gone (a zombie waiting for a reaper counts as gone).
fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

/// The first done job of `kind`, once there is one (waited for up to [`LONG`]).
async fn done_job(
    store: &riskgate::store::Store,
    kind: riskgate::store::JobKind,
) -> riskgate::store::JobSummary {
    let done = || async {
        store
            .list_jobs(Some(JobStatus::Done), 10)
            .await
            .unwrap()
            .into_iter()
            .find(|j| j.kind == kind)
    };
    wait_for(&format!("a {kind} job to be done"), LONG, || async {
        done().await.is_some()
    })
    .await;
    done().await.unwrap()
}

/// `riskgate serve` with one worker, fetching from `origin` through `spy`'s git, with the time
/// `limit` (a setting and its value) a test stalls git past.
fn serve_one_worker(
    database: &Database,
    github: &str,
    data: &Path,
    origin: &Origin,
    spy: &GitSpy,
    limit: (&str, &str),
) -> Server {
    start_server_with(
        database,
        github,
        data,
        &[
            ("RISKGATE_GIT_URL", &origin.git_url()),
            ("PATH", &spy.path_env()),
            limit,
            ("RISKGATE_WORKERS", "1"),
        ],
    )
}

/// A git that stalls (and a helper it started) is killed at the deadline; the job records why
/// and is retried later, and the worker goes on to other work.
#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_git_is_killed_at_its_deadline() {
    let database = database(Db::Sqlite);
    let data = tempfile::tempdir().unwrap();
    let origin = origin(10, None, None);
    let gh = fake_github(json!([]), "read").await;
    let spy = GitSpy::new(
        "sleep 300 &\n\
         echo $! > \"$out/helper.pid\"\n\
         wait",
    );
    let limit = ("RISKGATE_GIT_TIMEOUT_SECS", "1");
    let server = serve_one_worker(&database, &gh.uri(), data.path(), &origin, &spy, limit);
    let opened = pull_request_payload("pull_request.opened.json", &origin);
    deliver_accepted(&server, "pull_request", "s-1", &opened).await;
    let store = riskgate::store::Store::connect(&database.url)
        .await
        .unwrap();
    let score_job = || {
        let store = store.clone();
        async move {
            store
                .list_jobs(None, 10)
                .await
                .unwrap()
                .into_iter()
                .find(|j| j.kind == JOB_SCORE_PULL_REQUEST)
        }
    };
    wait_for("the stalled fetch to be given up", LONG, || async {
        score_job().await.is_some_and(|j| j.last_error.is_some())
    })
    .await;
    let job = score_job().await.unwrap();
    let error = job.last_error.clone().unwrap();
    assert!(
        error.contains("ran past its deadline of 1 s and was killed"),
        "{error}"
    );
    assert_eq!(
        job.status,
        JobStatus::Queued,
        "queued again for a later attempt"
    );
    assert!(job.run_after > job.updated_at, "retried later, not at once");
    let helper = spy
        .recorded_pid("helper.pid")
        .expect("the stalled git started its helper");
    wait_for(
        "git's helper to be killed too",
        Duration::from_secs(10),
        || async { process_gone(helper) },
    )
    .await;

    // The one worker is free again: another delivery's job is done.
    let install = fixture("installation.created.json");
    let (status, _) = deliver(&server, "installation", "s-2", &bytes(&install), SECRET).await;
    assert_eq!(status, 202);
    // By the same worker.
    done_job(&store, JOB_RECORD_INSTALLATION).await;
    store.close().await;
    drop(server);
}

/// A rename on main before the pull request: the history walk asks git for its pairs.
fn origin_with_a_move() -> Origin {
    origin_after(
        |work| {
            work.write("src/app.rs", TestRepo::lines("a", 50));
            work.write("src/util.rs", TestRepo::lines("u", 30));
            work.commit("alice", day(2024, 1, 1), "Import");
            work.git(&["mv", "src/util.rs", "src/helpers.rs"]);
            work.commit("alice", day(2024, 1, 2), "Move util");
        },
        &[("src/payments/charge.rs", TestRepo::lines("c", 20))],
    )
}

/// The first check run completed says the change was not scored in time.
async fn assert_first_check_not_scored_in_time(gh: &MockServer) {
    wait_for("the check to complete", LONG, || async {
        !completions(gh).await.is_empty()
    })
    .await;
    let done = completions(gh).await;
    assert_eq!(done[0]["conclusion"], "neutral", "{}", done[0]);
    assert_eq!(done[0]["output"]["title"], "riskgate: not scored in time");
}

/// Scoring stopped by its deadline while the history walk waits for git's renames: git is
/// killed then, not left to the thread that waited for it; the check completes `neutral`; what
/// the walk indexed is kept; and **Re-run** scores the change.
#[tokio::test(flavor = "multi_thread")]
async fn a_walk_waiting_for_git_stops_at_the_scoring_deadline_and_a_rerun_scores() {
    let database = database(Db::Sqlite);
    let data = tempfile::tempdir().unwrap();
    let origin = origin_with_a_move();
    let gh = fake_github(json!([]), "read").await;
    // The walk's git (`--no-walk=unsorted`, fed the commits) stalls the first time only.
    let spy = GitSpy::new(&format!(
        "case \"$*\" in *--no-walk=unsorted*)\n\
           if mkdir \"$out/../../stalled\" 2>/dev/null; then\n\
             echo $$ > \"$out/stalled.pid\"\n\
             exec sleep 300\n\
           fi;;\n\
         esac\n\
         exec '{}' \"$@\"",
        real_git().display()
    ));
    let limit = ("RISKGATE_SCORE_TIMEOUT_SECS", "3");
    let server = serve_one_worker(&database, &gh.uri(), data.path(), &origin, &spy, limit);
    let opened = pull_request_payload("pull_request.opened.json", &origin);
    deliver_accepted(&server, "pull_request", "w-opened", &opened).await;
    assert_first_check_not_scored_in_time(&gh).await;
    let stalled = spy
        .recorded_pid("stalled.pid")
        .expect("the walk asked git for renames");
    wait_for(
        "the walk's git to be killed at the deadline",
        Duration::from_secs(10),
        || async { process_gone(stalled) },
    )
    .await;
    assert_eq!(
        files_named(data.path(), "history-v").len(),
        1,
        "the walk kept what it indexed"
    );

    let rerun = rerun_payload(&origin, &opened, "carol");
    deliver_accepted(&server, "check_run", "w-rerun", &rerun).await;
    wait_for("the re-run to complete the check", LONG, || async {
        completions(&gh).await.len() == 2
    })
    .await;
    let done = completions(&gh).await;
    let title = done[1]["output"]["title"].as_str().unwrap();
    assert!(title.contains("% risk"), "a real score: {}", done[1]);
    drop(server);
}

/// A pull request whose time went to a stalled fetch, not to scoring, is tried again rather than
/// given up: its check stays in progress, and the next attempt, once git was killed at its own
/// deadline, scores the change.
#[tokio::test(flavor = "multi_thread")]
async fn a_score_stopped_while_its_fetch_stalls_is_tried_again_and_scores() {
    let database = database(Db::Sqlite);
    let data = tempfile::tempdir().unwrap();
    let origin = origin(10, None, None);
    let gh = fake_github(json!([]), "read").await;
    // The first fetch stalls; git's own deadline kills it after the job's has passed.
    let spy = GitSpy::new(&format!(
        "case \"$*\" in *fetch*)\n\
           if mkdir \"$out/../../stalled\" 2>/dev/null; then exec sleep 300; fi;;\n\
         esac\n\
         exec '{}' \"$@\"",
        real_git().display()
    ));
    let server = start_server_with(
        &database,
        &gh.uri(),
        data.path(),
        &[
            ("RISKGATE_GIT_URL", &origin.git_url()),
            ("PATH", &spy.path_env()),
            ("RISKGATE_SCORE_TIMEOUT_SECS", "4"),
            ("RISKGATE_GIT_TIMEOUT_SECS", "6"),
            ("RISKGATE_WORKERS", "1"),
        ],
    );
    let opened = pull_request_payload("pull_request.opened.json", &origin);
    deliver_accepted(&server, "pull_request", "f-opened", &opened).await;
    let store = riskgate::store::Store::connect(&database.url)
        .await
        .unwrap();
    let job = done_job(&store, JOB_SCORE_PULL_REQUEST).await;
    assert_eq!(job.attempts, 2, "stopped once, then scored");
    let done = completions(&gh).await;
    assert_eq!(done.len(), 1, "{done:?}");
    let title = done[0]["output"]["title"].as_str().unwrap();
    assert!(title.contains("% risk"), "a real score: {}", done[0]);
    store.close().await;
    drop(server);
}

/// A merge group is scored under the scoring deadline too, and one that runs past it (the
/// walk's git stalls) gets its check completed as not scored in time, by the job itself: the
/// queue is never left waiting on a check in progress while the job is retried.
#[tokio::test(flavor = "multi_thread")]
async fn a_merge_group_past_the_scoring_deadline_gets_its_check_completed() {
    let database = database(Db::Sqlite);
    let data = tempfile::tempdir().unwrap();
    let origin = origin_with_a_move();
    let main_sha = crate::support::git_in(&origin.bare, &["rev-parse", "refs/heads/main"]);
    let queue = TestRepo {
        dir: tempfile::tempdir().unwrap(),
    };
    queue.git(&["clone", "-q", origin.bare.to_str().unwrap(), "."]);
    queue.git(&["checkout", "-q", "-B", "main", "origin/main"]);
    let group_head = queue.merge("github", day(2024, 2, 3), "origin/feature");
    let head_ref = format!("refs/heads/gh-readonly-queue/main/pr-2-{main_sha}");
    queue.git(&["push", "-q", "origin", &format!("HEAD:{head_ref}")]);

    let gh = fake_github(json!([]), "read").await;
    let spy = GitSpy::new(&format!(
        "case \"$*\" in *--no-walk=unsorted*) exec sleep 300;; esac\n\
         exec '{}' \"$@\"",
        real_git().display()
    ));
    let limit = ("RISKGATE_SCORE_TIMEOUT_SECS", "3");
    let server = serve_one_worker(&database, &gh.uri(), data.path(), &origin, &spy, limit);
    let mut payload = fixture("merge_group.checks_requested.json");
    payload["repository"]["default_branch"] = json!("main");
    payload["merge_group"]["head_sha"] = json!(group_head);
    payload["merge_group"]["head_commit"]["id"] = json!(group_head);
    payload["merge_group"]["head_ref"] = json!(head_ref);
    payload["merge_group"]["base_sha"] = json!(main_sha);
    let started = Instant::now();
    deliver_accepted(&server, "merge_group", "q-slow", &payload).await;
    assert_first_check_not_scored_in_time(&gh).await;
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
    let store = riskgate::store::Store::connect(&database.url)
        .await
        .unwrap();
    done_job(&store, riskgate::store::JOB_SCORE_MERGE_GROUP).await;
    assert_eq!(completions(&gh).await.len(), 1, "completed once");
    store.close().await;
    drop(server);
}

/// About `bytes` of text git cannot shrink much: random bytes, in base64.
fn noise(bytes: usize) -> String {
    let random: Vec<u8> = (0..bytes * 3 / 4).map(|_| rand::random::<u8>()).collect();
    base64::engine::general_purpose::STANDARD.encode(random)
}

/// A repository of about 4 MiB of objects, and `riskgate serve` allowing mirrors 1 MiB.
fn serve_a_repository_past_the_mirror_limit(
    database: &Database,
    github: &str,
    data: &Path,
) -> (Origin, Server) {
    let origin = crate::harness::origin_with(
        &[("src/app.rs", TestRepo::lines("a", 50))],
        &[("assets/noise.txt", noise(4 << 20))],
    );
    let server = start_server_with(
        database,
        github,
        data,
        &[
            ("RISKGATE_GIT_URL", &origin.git_url()),
            ("RISKGATE_MIRROR_MAX_MB", "1"),
        ],
    );
    (origin, server)
}

/// The first completed check says the change could not be scored, concluding `conclusion`,
/// because the repository is past the mirror limit.
async fn assert_first_check_names_the_mirror_limit(gh: &MockServer, conclusion: &str) {
    wait_for("the check to complete", LONG, || async {
        !completions(gh).await.is_empty()
    })
    .await;
    let done = completions(gh).await;
    assert_eq!(done[0]["conclusion"], conclusion, "{}", done[0]);
    assert_eq!(
        done[0]["output"]["title"],
        "riskgate: could not score this change"
    );
    let summary = done[0]["output"]["summary"].as_str().unwrap();
    assert!(summary.contains("more than the 1 MiB"), "{summary}");
    assert!(summary.contains("RISKGATE_MIRROR_MAX_MB"), "{summary}");
}

/// A repository past `RISKGATE_MIRROR_MAX_MB` is not fetched into the data dir: the fetch is
/// stopped, the mirror removed, and the check run says why instead of staying in progress.
#[tokio::test(flavor = "multi_thread")]
async fn a_repository_past_the_mirror_limit_is_refused_and_its_check_says_why() {
    let database = database(Db::Sqlite);
    let data = tempfile::tempdir().unwrap();
    let gh = fake_github(json!([]), "read").await;
    let (origin, server) =
        serve_a_repository_past_the_mirror_limit(&database, &gh.uri(), data.path());
    let opened = pull_request_payload("pull_request.opened.json", &origin);
    deliver_accepted(&server, "pull_request", "big-1", &opened).await;
    assert_first_check_names_the_mirror_limit(&gh, "failure").await;

    let store = riskgate::store::Store::connect(&database.url)
        .await
        .unwrap();
    let jobs = store.list_jobs(None, 10).await.unwrap();
    let score = jobs
        .iter()
        .find(|j| j.kind == JOB_SCORE_PULL_REQUEST)
        .unwrap();
    assert_eq!(
        score.status,
        JobStatus::Parked,
        "not fetched again and again"
    );
    assert_eq!(score.attempts, 1);
    let mirror = data
        .path()
        .join("mirrors")
        .join(OWNER)
        .join(format!("{NAME}.git"));
    assert!(!mirror.exists(), "the oversized mirror was removed");
    store.close().await;
    drop(server);
}

/// A merge group whose job is parked (its repository is past the mirror limit) gets its check
/// completed `neutral`, so the merge queue is not held by a check left in progress.
#[tokio::test(flavor = "multi_thread")]
async fn a_parked_merge_group_gets_its_check_completed() {
    let database = database(Db::Sqlite);
    let data = tempfile::tempdir().unwrap();
    let gh = fake_github(json!([]), "read").await;
    let (origin, server) =
        serve_a_repository_past_the_mirror_limit(&database, &gh.uri(), data.path());
    let mut payload = fixture("merge_group.checks_requested.json");
    payload["repository"]["default_branch"] = json!("main");
    let head_ref = payload["merge_group"]["head_ref"].as_str().unwrap();
    crate::support::git_in(&origin.bare, &["update-ref", head_ref, &origin.head]);
    deliver_accepted(&server, "merge_group", "big-group", &payload).await;
    assert_first_check_names_the_mirror_limit(&gh, "neutral").await;
    let store = riskgate::store::Store::connect(&database.url)
        .await
        .unwrap();
    done_job(&store, riskgate::store::JOB_FINISH_CHECK_RUN).await;
    let jobs = store.list_jobs(None, 10).await.unwrap();
    let group = jobs
        .iter()
        .find(|j| j.kind == riskgate::store::JOB_SCORE_MERGE_GROUP)
        .unwrap();
    assert_eq!(group.status, JobStatus::Parked);
    assert_eq!(completions(&gh).await.len(), 1, "completed once");
    let events = store.audit_events(None, None).await.unwrap();
    let not_scored: Vec<_> = events
        .iter()
        .filter(|e| e.kind == riskgate::store::AUDIT_CHECK_NOT_SCORED)
        .collect();
    assert_eq!(not_scored.len(), 1, "{events:?}");
    assert_eq!(not_scored[0].pr_number, None);
    assert!(not_scored[0].detail["merge_group"].is_string());
    store.close().await;
    drop(server);
}

/// The files under `dir` whose names start with `prefix`.
fn files_named(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if entry.file_name().to_string_lossy().starts_with(prefix) {
                found.push(path);
            }
        }
    }
    found
}

// ---- 2. settings -----------------------------------------------------------------------------

/// `riskgate serve` with the settings a test server has, `env` on top (`None` removes one).
fn serve_command(dir: &Path, env: &[(&str, Option<&str>)]) -> Command {
    let mut cmd = Command::new(riskgate());
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir)
        .env("RISKGATE_APP_ID", "1")
        .env("RISKGATE_PRIVATE_KEY", private_key())
        .env("RISKGATE_WEBHOOK_SECRET", SECRET)
        .env("RISKGATE_DATA_DIR", dir.join("data"))
        .env("DATABASE_URL", riskgate::store::sqlite_url_in(dir))
        .env("RISKGATE_GITHUB_API_URL", "http://127.0.0.1:9")
        .env_remove("RISKGATE_MODEL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in env {
        match value {
            Some(v) => cmd.env(name, v),
            None => cmd.env_remove(name),
        };
    }
    cmd
}

/// Runs `cmd` to its end, which must come within 30 s; (exit code, stderr).
fn run_to_end(mut cmd: Command) -> (i32, String) {
    let mut child = cmd.spawn().unwrap();
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
            return (status.code().unwrap_or(-1), stderr);
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("still running after 30 s: it started when it should have refused");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A second `serve` on a data dir another one uses refuses to start, naming the setting (each
/// instance fetches and cleans its mirrors alone); once the first is gone, the dir is free.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_serve_on_the_same_data_dir_refuses_to_start() {
    let database = database(Db::Sqlite);
    let data = tempfile::tempdir().unwrap();
    let first = start_server_with(&database, "http://127.0.0.1:9", data.path(), &[]);

    let elsewhere = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    let second = serve_command(elsewhere.path(), &[("RISKGATE_DATA_DIR", Some(data_dir))]);
    let (code, stderr) = run_to_end(second);
    assert_ne!(code, 0, "{stderr}");
    assert!(
        stderr.contains("another `riskgate serve` is using the data dir")
            && stderr.contains("RISKGATE_DATA_DIR"),
        "{stderr}"
    );

    drop(first);
    let again = start_server_with(&database, "http://127.0.0.1:9", data.path(), &[]);
    drop(again);
}

#[test]
fn serve_refuses_a_missing_empty_or_short_webhook_secret() {
    let dir = tempfile::tempdir().unwrap();
    for (case, secret) in [
        ("missing", None),
        ("empty", Some("")),
        ("short", Some("fifteen-chars!!")),
    ] {
        let cmd = serve_command(dir.path(), &[("RISKGATE_WEBHOOK_SECRET", secret)]);
        let (code, stderr) = run_to_end(cmd);
        assert_eq!(code, 2, "{case}: {stderr}");
        assert!(
            stderr.contains("RISKGATE_WEBHOOK_SECRET") && stderr.contains("at least 16"),
            "{case}: the error names the setting and the rule: {stderr}"
        );
        if let Some(secret) = secret.filter(|s| !s.is_empty()) {
            assert!(!stderr.contains(secret), "the secret is not echoed");
        }
    }
    assert!(
        !dir.path().join("riskgate.db").exists(),
        "nothing was started"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn empty_environment_variables_count_as_unset() {
    let dir = tempfile::tempdir().unwrap();
    let empty = [
        "DATABASE_URL",
        "RISKGATE_DATA_DIR",
        "RISKGATE_MODEL",
        "RISKGATE_PRIVATE_KEY_PATH",
        "RISKGATE_GITHUB_API_URL",
        "RISKGATE_GIT_URL",
        "RISKGATE_GIT_TIMEOUT_SECS",
        "RISKGATE_WORKERS",
        "RISKGATE_JOB_LEASE_SECS",
        "RISKGATE_GITHUB_ATTEMPTS",
        "RISKGATE_API_TOKEN",
        "RISKGATE_DASHBOARD_TOKEN",
        "RISKGATE_INCIDENT_LABEL",
        "RISKGATE_INCIDENT_WINDOW_MINUTES",
        "RISKGATE_HTTP_HEADER_TIMEOUT_SECS",
        "RISKGATE_HTTP_BODY_TIMEOUT_SECS",
        "RISKGATE_HTTP_MAX_REQUESTS",
        "RISKGATE_LOG",
    ];
    let env: Vec<(&str, Option<&str>)> = empty.iter().map(|n| (*n, Some(""))).collect();
    let mut cmd = serve_command(dir.path(), &env);
    cmd.stderr(Stdio::inherit());
    let (mut child, started) = spawn_serve(cmd);
    let outcome = async {
        let base = started?;
        let client = reqwest::Client::new();
        let health = client.get(format!("{base}/healthz")).send().await;
        let dashboard = client.get(format!("{base}/dashboard")).send().await;
        Ok::<_, String>((
            health.map(|r| r.status().as_u16()),
            dashboard.map(|r| r.status().as_u16()),
        ))
    }
    .await;
    let _ = child.kill();
    let _ = child.wait();
    let (health, dashboard) = outcome.unwrap();
    assert_eq!(health.unwrap(), 200);
    assert_eq!(
        dashboard.unwrap(),
        404,
        "an empty dashboard token is no token"
    );
    assert!(
        dir.path().join("riskgate-data/riskgate.db").exists(),
        "the default database in the default data dir"
    );

    // The same rule for the other commands.
    let (code, stderr) = run_to_end({
        let mut cmd = Command::new(riskgate());
        cmd.args(["jobs", "--status", "parked"])
            .current_dir(dir.path())
            .env("DATABASE_URL", "")
            .env("RISKGATE_DATA_DIR", "")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        cmd
    });
    assert_eq!(code, 0, "{stderr}");
}

/// Logs go to a file or a collector far more often than to a terminal: written to a pipe they
/// are plain text, without the colour codes a terminal would get.
#[tokio::test(flavor = "multi_thread")]
async fn server_logs_to_a_pipe_carry_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, started) =
        spawn_serve(serve_command(dir.path(), &[("RISKGATE_LOG", Some("info"))]));
    let health = reqwest::get(format!("{}/healthz", started.unwrap()))
        .await
        .map(|r| r.status().as_u16());
    let _ = child.kill();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let _ = child.wait();
    assert_eq!(health.unwrap(), 200);
    assert!(stderr.contains("INFO"), "an info line was logged: {stderr}");
    assert!(!stderr.contains('\u{1b}'), "no escape codes: {stderr:?}");
}

// ---- 3. webhook intake ---------------------------------------------------------------------

/// A server with short HTTP limits.
async fn strict_server(limits: &[(&str, &str)]) -> (TestApp, Database, tempfile::TempDir) {
    let database = database(Db::Sqlite);
    let data = tempfile::tempdir().unwrap();
    let server = start_app_with(&database, "http://127.0.0.1:9", data.path(), limits).await;
    (server, database, data)
}

async fn connect(server: &TestApp) -> TcpStream {
    TcpStream::connect(server.base.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Writes `head`, then `trickle` one byte every 200 ms, while reading what the server sends
/// until it closes the connection. Returns what was read and when the connection closed.
async fn trickle(server: &TestApp, head: String, trickle: &'static [u8]) -> (String, Duration) {
    let stream = connect(server).await;
    let started = Instant::now();
    let (mut reader, mut writer) = stream.into_split();
    let writing = tokio::spawn(async move {
        if writer.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        if trickle.is_empty() {
            // Idle, with the connection kept open from this side.
            std::future::pending::<()>().await;
        }
        for byte in trickle.iter().cycle() {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if writer.write_all(&[*byte]).await.is_err() {
                return;
            }
        }
    });
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), async {
        let mut chunk = [0u8; 4096];
        loop {
            match reader.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    writing.abort();
    assert!(read.is_ok(), "still connected after 30 s");
    (
        String::from_utf8_lossy(&answer).into_owned(),
        started.elapsed(),
    )
}

fn signed_looking_headers(content_length: usize) -> String {
    format!(
        "POST /api/github/webhooks HTTP/1.1\r\nhost: riskgate\r\n\
         x-github-event: ping\r\nx-github-delivery: slow-1\r\n\
         x-hub-signature-256: sha256={}\r\ncontent-type: application/json\r\n\
         content-length: {content_length}\r\n\r\n",
        "ab".repeat(32)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_clients_are_cut_off() {
    let (server, _db, _data) = strict_server(&[
        ("RISKGATE_HTTP_HEADER_TIMEOUT_SECS", "1"),
        ("RISKGATE_HTTP_BODY_TIMEOUT_SECS", "2"),
    ])
    .await;

    // Headers that never end.
    let (_, closed_after) = trickle(
        &server,
        "POST /api/github/webhooks HTTP/1.1\r\nhost: riskgate\r\nx-a: ".to_string(),
        b"a",
    )
    .await;
    assert!(
        closed_after < Duration::from_secs(5),
        "headers trickled for {closed_after:?}"
    );

    // Complete headers, then a body a byte at a time.
    let (answer, closed_after) = trickle(&server, signed_looking_headers(1_000), b"{").await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    // 2 s for the body, then at most 2 s of linger before the socket closes.
    assert!(
        closed_after >= Duration::from_secs(2) && closed_after < Duration::from_secs(8),
        "the body was cut off after {closed_after:?}"
    );

    // An idle connection is closed too.
    let (_, closed_after) = trickle(&server, String::new(), b"").await;
    assert!(
        closed_after < Duration::from_secs(5),
        "idle for {closed_after:?}"
    );

    let (status, _) = deliver(&server, "ping", "after-slow", b"{}", SECRET).await;
    assert_eq!(status, 200, "the server still answers");
}

/// A connection to `server` from the loopback address `from` (any 127.x reaches it), reading
/// into a receive buffer of `receive_buffer` bytes when given.
async fn connect_from(server: &TestApp, from: [u8; 4], receive_buffer: Option<u32>) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket
        .bind((std::net::Ipv4Addr::from(from), 0).into())
        .unwrap();
    if let Some(size) = receive_buffer {
        socket.set_recv_buffer_size(size).unwrap();
    }
    socket
        .connect(server.base.trim_start_matches("http://").parse().unwrap())
        .await
        .unwrap()
}

/// Whether the server closes `stream` within `within`: reads until the end of the stream.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    tokio::time::timeout(within, async {
        let mut chunk = [0u8; 64 * 1024];
        while let Ok(n) = stream.read(&mut chunk).await {
            if n == 0 {
                break;
            }
        }
    })
    .await
    .is_ok()
}

/// One client address holds at most a quarter of the connections the server allows (64 of
/// 256 here); its next one is closed at once, while other clients are still served.
#[tokio::test(flavor = "multi_thread")]
async fn one_client_cannot_hold_every_connection() {
    let (server, _db, _data) = strict_server(&[("RISKGATE_HTTP_HEADER_TIMEOUT_SECS", "60")]).await;
    let mut held = Vec::new();
    for _ in 0..64 {
        held.push(connect_from(&server, [127, 0, 0, 2], None).await);
    }
    let mut one_more = connect_from(&server, [127, 0, 0, 2], None).await;
    assert!(
        closed_within(&mut one_more, Duration::from_secs(10)).await,
        "the client's 65th connection is closed at once, not left to its 60 s header timeout"
    );
    let (status, _) = deliver(&server, "ping", "another-client", b"{}", SECRET).await;
    assert_eq!(status, 200, "another client is served");
    drop(held);
    // The server notices the closes as it reads them; until then the client is still full.
    let started = Instant::now();
    loop {
        let mut again = connect_from(&server, [127, 0, 0, 2], None).await;
        let request = b"GET /healthz HTTP/1.1\r\nhost: riskgate\r\nconnection: close\r\n\r\n";
        let mut answer = String::new();
        if again.write_all(request).await.is_ok() {
            let _ = again.read_to_string(&mut answer).await;
        }
        if answer.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "not served again once its connections closed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One client address holds at most half the request slots (2 of 4 here): webhooks started
/// with a well-formed signature whose bodies never come hold a slot each, and must leave room
/// for other clients, GitHub among them.
#[tokio::test(flavor = "multi_thread")]
async fn one_client_cannot_take_every_request_slot() {
    let (server, _db, _data) = strict_server(&[
        ("RISKGATE_HTTP_MAX_REQUESTS", "4"),
        ("RISKGATE_HTTP_BODY_TIMEOUT_SECS", "600"),
    ])
    .await;
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(webhook_held_in_its_body(&server, [127, 0, 0, 4], b"").await);
    }
    wait_for("the held requests to take their slots", LONG, || async {
        metric(&server, "riskgate_http_requests_in_flight").await == Some(2.0)
    })
    .await;
    let answer = answer_from(&server, [127, 0, 0, 4], signed_looking_headers(100)).await;
    assert!(
        answer.starts_with("HTTP/1.1 503"),
        "the same client's third: {answer}"
    );
    let (status, _) = deliver(&server, "ping", "from-elsewhere", b"{}", SECRET).await;
    assert_eq!(status, 200, "another client is served");
    drop(held);
}

/// A webhook from `from` (a loopback address of its own) whose well-formed headers and
/// `body_start` of its 100-byte body are sent, the rest never: it holds a request slot until
/// the body timeout.
async fn webhook_held_in_its_body(server: &TestApp, from: [u8; 4], body_start: &[u8]) -> TcpStream {
    let mut stream = connect_from(server, from, None).await;
    stream
        .write_all(signed_looking_headers(100).as_bytes())
        .await
        .unwrap();
    stream.write_all(body_start).await.unwrap();
    stream
}

/// The status line and headers of one request sent from `from` (a loopback address of its own).
async fn answer_from(server: &TestApp, from: [u8; 4], request: String) -> String {
    let mut stream = connect_from(server, from, None).await;
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut answer)).await;
    answer
}

/// Wrong tokens are guesses: past 20 in a minute from one address, that address's tokens are
/// refused unread with 429 (the right one too) on the incidents API and the dashboard alike,
/// while other addresses are served as before.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_guessing_tokens_is_held_back() {
    let (server, _db, _data) = strict_server(&[
        ("RISKGATE_API_TOKEN", API_TOKEN),
        ("RISKGATE_DASHBOARD_TOKEN", DASHBOARD_TOKEN),
    ])
    .await;
    let post = |token: &str| {
        format!(
            "POST /api/incidents HTTP/1.1\r\nhost: riskgate\r\nauthorization: Bearer {token}\r\n\
             content-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}"
        )
    };
    let dashboard = |token: &str| {
        format!(
            "GET /dashboard?token={token} HTTP/1.1\r\nhost: riskgate\r\nconnection: close\r\n\r\n"
        )
    };
    let guesser = [127, 0, 0, 5];
    for i in 0..20 {
        let answer = if i % 2 == 0 {
            answer_from(&server, guesser, post(&format!("guess-{i}-0123456789"))).await
        } else {
            answer_from(
                &server,
                guesser,
                dashboard(&format!("guess-{i}-0123456789")),
            )
            .await
        };
        assert!(answer.starts_with("HTTP/1.1 401"), "guess {i}: {answer}");
    }
    for request in [post(API_TOKEN), dashboard(DASHBOARD_TOKEN)] {
        let answer = answer_from(&server, guesser, request).await;
        assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
        assert!(
            answer.to_ascii_lowercase().contains("retry-after:"),
            "{answer}"
        );
    }
    let other = [127, 0, 0, 6];
    let answer = answer_from(&server, other, post(API_TOKEN)).await;
    assert!(
        answer.starts_with("HTTP/1.1 400"),
        "the right token from another address is read (an empty object is no incident): {answer}"
    );
    let answer = answer_from(&server, other, dashboard(DASHBOARD_TOKEN)).await;
    assert!(answer.starts_with("HTTP/1.1 303"), "{answer}");
}

/// A client that sends requests and never reads the answers is cut off once nothing it was
/// sent has gone out for the body timeout (2 s here), instead of holding its connection.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_never_reads_its_answers_is_cut_off() {
    let (server, _db, _data) = strict_server(&[
        ("RISKGATE_HTTP_HEADER_TIMEOUT_SECS", "60"),
        ("RISKGATE_HTTP_BODY_TIMEOUT_SECS", "2"),
    ])
    .await;
    let mut stream = connect_from(&server, [127, 0, 0, 3], Some(4096)).await;
    let requests = b"GET /healthz HTTP/1.1\r\nhost: riskgate\r\n\r\n".repeat(1_000);
    let mut sent = 0usize;
    // Pipelined requests until the server stops reading them (its answers are stuck).
    let blocked = loop {
        match tokio::time::timeout(Duration::from_secs(3), stream.write_all(&requests)).await {
            Ok(Ok(())) => sent += 1_000,
            Ok(Err(_)) => break true,
            Err(_) => break true,
        }
        if sent >= 5_000_000 {
            break false;
        }
    };
    assert!(
        blocked,
        "{sent} requests went in without the answers being read"
    );
    // Not a byte read for longer than the limit; then the server must have closed.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        closed_within(&mut stream, Duration::from_secs(20)).await,
        "the connection was still open (the server would serve it until the 60 s idle limit)"
    );
    let (status, _) = deliver(&server, "ping", "after-stuck-answers", b"{}", SECRET).await;
    assert_eq!(status, 200);
}

/// Writes `head` and reads the answer, sending no body.
async fn answer_without_body(server: &TestApp, head: String) -> String {
    let mut stream = connect(server).await;
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    answer.extend_from_slice(&chunk[..n]);
                    if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "no answer within 5 s: the server waited for the body"
    );
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_is_refused_on_its_headers_before_its_body_is_read() {
    // A body timeout far beyond the test's patience: only a refusal on the headers answers.
    let (server, _db, _data) = strict_server(&[("RISKGATE_HTTP_BODY_TIMEOUT_SECS", "600")]).await;
    let unsigned = "POST /api/github/webhooks HTTP/1.1\r\nhost: riskgate\r\n\
                    x-github-event: ping\r\nx-github-delivery: big-1\r\n\
                    content-length: 20000000\r\n\r\n"
        .to_string();
    let answer = answer_without_body(&server, unsigned).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");

    let malformed = "POST /api/github/webhooks HTTP/1.1\r\nhost: riskgate\r\n\
                     x-github-event: ping\r\nx-github-delivery: big-2\r\n\
                     x-hub-signature-256: sha1=abc\r\ncontent-length: 20000000\r\n\r\n"
        .to_string();
    let answer = answer_without_body(&server, malformed).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");

    let no_event = signed_looking_headers(20_000_000).replace("x-github-event: ping\r\n", "");
    let answer = answer_without_body(&server, no_event).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");

    let too_big = signed_looking_headers(26 * 1024 * 1024);
    let answer = answer_without_body(&server, too_big).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    // A client that sends the refused body anyway gets its answer, not a reset: the server
    // lingers, throwing away what still comes, before it closes. (Without the linger, an HTTP
    // client still writing the body loses the answer about one time in six.)
    let huge = vec![b' '; 26 * 1024 * 1024];
    for attempt in 0..20 {
        let (status, _) = deliver(&server, "ping", &format!("huge-{attempt}"), &huge, SECRET).await;
        assert_eq!(status, 413, "attempt {attempt}");
    }

    let (status, _) = deliver(&server, "ping", "after-big", b"{}", SECRET).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_past_the_limit_get_503_and_the_server_recovers() {
    let (server, _db, _data) = strict_server(&[
        ("RISKGATE_HTTP_MAX_REQUESTS", "2"),
        ("RISKGATE_HTTP_BODY_TIMEOUT_SECS", "600"),
    ])
    .await;
    // Two requests held in their body, each taking a slot; from two clients, since one
    // client may hold only half the slots.
    let mut held = Vec::new();
    for from in [[127, 0, 0, 2], [127, 0, 0, 3]] {
        held.push(webhook_held_in_its_body(&server, from, b"{\"zen\": ").await);
    }
    // Both must hold their slot before any probe is sent: a probe that got in first would
    // have one of them refused, and then no probe would ever find the server full.
    wait_for("the held requests to take both slots", LONG, || async {
        metric(&server, "riskgate_http_requests_in_flight").await == Some(2.0)
    })
    .await;
    let client = reqwest::Client::new();
    let refused = std::sync::Mutex::new(None);
    wait_for("a request past the limit to be refused", LONG, || async {
        let r = client
            .post(format!("{}/api/github/webhooks", server.base))
            .header("x-github-event", "ping")
            .header("x-github-delivery", "probe")
            .header(
                "x-hub-signature-256",
                riskgate::github::webhook::sign(SECRET.as_bytes(), b"{}"),
            )
            .body("{}")
            .send()
            .await
            .unwrap();
        let busy = r.status().as_u16() == 503;
        if busy {
            *refused.lock().unwrap() = Some(r.headers().contains_key("retry-after"));
        }
        busy
    })
    .await;
    assert_eq!(
        *refused.lock().unwrap(),
        Some(true),
        "503 says when to retry"
    );
    let health = client
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200, "health answers while busy");
    assert!(
        metric(&server, "riskgate_http_requests_refused_busy_total")
            .await
            .is_some_and(|n| n >= 1.0),
        "the refusal is counted"
    );

    drop(held);
    wait_for("the slots to be free again", LONG, || async {
        deliver(&server, "ping", "after-busy", b"{}", SECRET)
            .await
            .0
            == 200
    })
    .await;
    let (status, _) = deliver(
        &server,
        "installation",
        "after-busy-2",
        &bytes(&fixture("installation.created.json")),
        SECRET,
    )
    .await;
    assert_eq!(status, 202, "work is queued again");
}

// ---- 4. a delivery's jobs ----------------------------------------------------------------------

/// Refuses (as a crash would interrupt) storing any job for pull request #3.
async fn refuse_jobs_for_pr_3(database: &Database, db: Db, install: bool) {
    let statements: &[&str] = match (db, install) {
        (Db::Sqlite, true) => &["CREATE TRIGGER refuse_pr_3 BEFORE INSERT ON jobs \
             WHEN NEW.pr_number = 3 BEGIN SELECT RAISE(ABORT, 'interrupted'); END"],
        (Db::Sqlite, false) => &["DROP TRIGGER refuse_pr_3"],
        (Db::Postgres, true) => &[
            "CREATE FUNCTION refuse_pr_3() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN IF NEW.pr_number = 3 THEN RAISE EXCEPTION 'interrupted'; END IF; \
             RETURN NEW; END $$",
            "CREATE TRIGGER refuse_pr_3 BEFORE INSERT ON jobs FOR EACH ROW \
             EXECUTE FUNCTION refuse_pr_3()",
        ],
        (Db::Postgres, false) => &["DROP TRIGGER refuse_pr_3 ON jobs"],
    };
    for sql in statements {
        database.execute(sql).await;
    }
}

/// A check suite re-run for two pull requests asks for two jobs. When the second cannot be
/// stored, nothing is (503, so GitHub's redelivery is not taken for a duplicate); the
/// redelivery then stores both.
async fn every_job_of_a_delivery_or_none(db: Db) {
    let database = database(db);
    let data = tempfile::tempdir().unwrap();
    let server = start_server_with(&database, "http://127.0.0.1:9", data.path(), &[]);
    let store = riskgate::store::Store::connect(&database.url)
        .await
        .unwrap();
    refuse_jobs_for_pr_3(&database, db, true).await;
    let mut suite = json!({
        "action": "rerequested",
        "check_suite": {"head_sha": "a".repeat(40), "pull_requests": [{"number": 2}, {"number": 3}]},
        "installation": {"id": 1},
    });
    suite["repository"] = fixture("pull_request.opened.json")["repository"].clone();
    let body = bytes(&suite);
    let (status, text) = deliver(&server, "check_suite", "suite-1", &body, SECRET).await;
    assert_eq!(status, 503, "{text}");
    assert!(store.delivery("suite-1").await.unwrap().is_none());
    assert!(
        store.list_jobs(None, 10).await.unwrap().is_empty(),
        "the first job is not kept without the second"
    );

    refuse_jobs_for_pr_3(&database, db, false).await;
    let (status, text) = deliver(&server, "check_suite", "suite-1", &body, SECRET).await;
    assert_eq!(status, 202, "the redelivery is new work: {text}");
    let jobs = store.list_jobs(None, 10).await.unwrap();
    let mut prs: Vec<i64> = jobs.iter().filter_map(|j| j.pr_number).collect();
    prs.sort();
    assert_eq!(prs, [2, 3]);
    for summary in &jobs {
        let job = store.job(summary.id).await.unwrap().unwrap();
        assert_eq!(job.delivery_id.as_deref(), Some("suite-1"));
    }
    store.close().await;
    drop(server);
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_every_job_of_a_delivery_or_none() {
    every_job_of_a_delivery_or_none(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_every_job_of_a_delivery_or_none() {
    every_job_of_a_delivery_or_none(Db::Postgres).await;
}

/// A database that stops taking writes (here a lock held by another connection) must not let
/// deliveries pile up in memory: past the bound they are refused at once, a refused one is
/// never stored, and the ones let in are stored once the database takes writes again.
#[tokio::test(flavor = "multi_thread")]
async fn a_full_intake_queue_refuses_at_once_and_loses_nothing_it_let_in() {
    use riskgate::server::intake::DeliveryWriter;
    use riskgate::store::{NewDelivery, PreparedDelivery, Store, StoreError};
    use sqlx::Connection as _;

    let dir = tempfile::tempdir().unwrap();
    let url = riskgate::store::sqlite_url_in(dir.path());
    let store = Store::connect(&url).await.unwrap();
    let mut blocker = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut blocker)
        .await
        .unwrap();

    let writer = DeliveryWriter::with_queue_bound(store.clone(), 2).unwrap();
    let mut recording = tokio::task::JoinSet::new();
    for i in 0..8 {
        let writer = writer.clone();
        let delivery = NewDelivery {
            id: format!("d-{i}"),
            event: "ping".into(),
            action: None,
            repository: None,
            payload: json!({"zen": i}).to_string(),
        };
        recording.spawn(async move {
            let outcome = writer.record(PreparedDelivery::new(&delivery, &[])).await;
            (delivery.id, Instant::now(), outcome)
        });
        // In order, so the writer holds the first while the rest queue behind it.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let locked_until = {
        tokio::time::sleep(Duration::from_millis(300)).await;
        sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();
        Instant::now()
    };

    let (mut refused, mut stored) = (Vec::new(), Vec::new());
    while let Some(joined) = recording.join_next().await {
        let (id, answered, outcome) = joined.unwrap();
        match outcome {
            Err(StoreError::IntakeFull { waiting }) => {
                assert_eq!(waiting, 2);
                assert!(answered < locked_until, "{id} waited before being refused");
                refused.push(id);
            }
            Ok(_) => stored.push(id),
            Err(other) => panic!("{id}: {other}"),
        }
    }
    assert!(!refused.is_empty(), "nothing was refused");
    assert!(
        stored.len() >= 3,
        "the one being written and two queued: {stored:?}"
    );
    for id in &stored {
        assert!(store.delivery(id).await.unwrap().is_some(), "{id} lost");
    }
    for id in &refused {
        assert!(store.delivery(id).await.unwrap().is_none(), "{id} stored");
    }
}
