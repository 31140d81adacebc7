//! Running the App for a test: in this process ([`start_app`] and friends, the default) or as a
//! `riskgate serve` child ([`start_server`] and friends, for what only a process shows: a kill,
//! a signal, an exit code, the environment of its git children). Both listen on an ephemeral
//! port; GitHub is faked over HTTP with wiremock, git fetched from a local folder
//! (`RISKGATE_GIT_URL=file://…`), the real payloads signed with a test secret.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::fake_github::FakeGitHub;
use crate::support::{day, git_in, riskgate, Database, TestRepo};

pub(crate) const SECRET: &str = "test-webhook-secret";
pub(crate) const OWNER: &str = "Codertocat";
pub(crate) const NAME: &str = "Hello-World";
pub(crate) const CHECK_ID: u64 = 4242;
pub(crate) const COMMENT_ID: u64 = 77;

pub(crate) fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/github")
        .join(name);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

// ---- the repository ------------------------------------------------------------------------

pub(crate) struct Origin {
    _work: TestRepo,
    /// The git URL's folder: it holds `Codertocat/Hello-World.git`.
    root: tempfile::TempDir,
    pub(crate) bare: PathBuf,
    pub(crate) head: String,
}

/// main with one file; PR #2's head adds `added` lines in a new file by a new author.
/// `base_config` goes on main, `head_config` in the PR.
pub(crate) fn origin(added: usize, base_config: Option<&str>, head_config: Option<&str>) -> Origin {
    let config = |c: Option<&str>| c.map(|c| (".github/riskgate.yml", c.to_string()));
    let base = [("src/app.rs", TestRepo::lines("l", 50))];
    let head = [("src/payments/charge.rs", TestRepo::lines("c", added))];
    origin_with(
        &base
            .into_iter()
            .chain(config(base_config))
            .collect::<Vec<_>>(),
        &head
            .into_iter()
            .chain(config(head_config))
            .collect::<Vec<_>>(),
    )
}

/// main with the files `base` (written by alice); PR #2's head writes the files `head` over it
/// (carol, a new author).
pub(crate) fn origin_with(base: &[(&str, String)], head: &[(&str, String)]) -> Origin {
    origin_after(
        |work| {
            for (path, text) in base {
                work.write(path, text);
            }
            work.commit("alice", day(2024, 1, 1), "Import");
        },
        head,
    )
}

/// main as `history` commits it; PR #2's head writes the files `head` over it (carol, a new
/// author).
pub(crate) fn origin_after(history: impl FnOnce(&TestRepo), head: &[(&str, String)]) -> Origin {
    let work = TestRepo::new();
    history(&work);
    work.git(&["checkout", "-q", "-b", "feature"]);
    for (path, text) in head {
        work.write(path, text);
    }
    let head = work.commit("carol", day(2024, 2, 1), "Charge cards");
    let root = tempfile::tempdir().unwrap();
    let bare = root.path().join(OWNER).join(format!("{NAME}.git"));
    git_in(
        root.path(),
        &[
            "clone",
            "-q",
            "--bare",
            work.path().to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
    git_in(
        &bare,
        &[
            "update-ref",
            "refs/heads/main",
            &work.git(&["rev-parse", "main"]),
        ],
    );
    git_in(&bare, &["update-ref", "refs/pull/2/head", &head]);
    Origin {
        _work: work,
        root,
        bare,
        head,
    }
}

impl Origin {
    /// The `RISKGATE_GIT_URL` that serves this repository.
    pub(crate) fn git_url(&self) -> String {
        format!("file://{}", self.root.path().display())
    }

    /// Make this repository hold what `other` holds (its branches and PR head), in place.
    pub(crate) fn take_refs_of(&mut self, other: &Origin) {
        git_in(
            &self.bare,
            &[
                "fetch",
                "-q",
                "--force",
                other.bare.to_str().unwrap(),
                "+refs/*:refs/*",
            ],
        );
        self.head = other.head.clone();
    }

    /// A commit on main that makes `config` its `.github/riskgate.yml` (the settings the next
    /// score reads); the PR's branch stays checked out.
    pub(crate) fn set_base_config(&mut self, config: &str) -> String {
        let w = &self._work;
        w.git(&["checkout", "-q", "main"]);
        w.write(".github/riskgate.yml", config);
        let sha = w.commit("alice", day(2024, 1, 15), "Settings");
        w.git(&["checkout", "-q", "feature"]);
        git_in(
            &self.bare,
            &[
                "fetch",
                "-q",
                "--update-head-ok",
                w.path().to_str().unwrap(),
                "main:main",
            ],
        );
        sha
    }

    /// Push a new head to the PR (synchronize).
    pub(crate) fn push(&mut self, lines: usize) -> String {
        let w = &self._work;
        w.write("src/payments/refund.rs", TestRepo::lines("r", lines));
        let head = w.commit("carol", day(2024, 2, 2), "Refunds");
        git_in(
            &self.bare,
            &["fetch", "-q", w.path().to_str().unwrap(), "feature:feature"],
        );
        git_in(&self.bare, &["update-ref", "refs/pull/2/head", &head]);
        self.head = head.clone();
        head
    }
}

/// The real check_run payload turned into "Accept risk" pressed by `sender` on PR #2's check.
pub(crate) fn accept_risk_payload(origin: &Origin, opened: &Value, sender: &str) -> Value {
    let mut action = rerun_payload(origin, opened, sender);
    action["action"] = json!("requested_action");
    action["requested_action"] = json!({"identifier": "accept_risk"});
    action
}

/// The real check_run payload: **Re-run** pressed by `sender` on PR #2's check.
pub(crate) fn rerun_payload(origin: &Origin, opened: &Value, sender: &str) -> Value {
    let mut action = fixture("check_run.rerequested.json");
    action["check_run"]["id"] = json!(CHECK_ID);
    action["check_run"]["name"] = json!("riskgate");
    action["check_run"]["head_sha"] = json!(origin.head);
    action["check_run"]["pull_requests"] = json!([{
        "number": 2,
        "head": {"ref": "feature", "sha": origin.head},
        "base": {"ref": "main", "sha": ""}
    }]);
    action["repository"] = opened["repository"].clone();
    action["sender"]["login"] = json!(sender);
    action
}

pub(crate) fn pull_request_payload(event_file: &str, origin: &Origin) -> Value {
    let mut v = fixture(event_file);
    v["repository"]["default_branch"] = json!("main");
    v["pull_request"]["head"]["sha"] = json!(origin.head);
    v["pull_request"]["base"]["ref"] = json!("main");
    v["pull_request"]["labels"] = json!([]);
    v["pull_request"]["user"]["login"] = json!("carol");
    v
}

/// The real review payload, for PR #2 of `origin` at its current head.
pub(crate) fn review_payload(origin: &Origin, opened: &Value) -> Value {
    let mut v = fixture("pull_request_review.submitted.json");
    v["repository"] = opened["repository"].clone();
    v["pull_request"]["head"]["sha"] = json!(origin.head);
    v["pull_request"]["base"]["ref"] = json!("main");
    v
}

// ---- fake GitHub ---------------------------------------------------------------------------

/// A stateful fake GitHub holding the repository `OWNER/NAME`, whose PR #2 (the fixtures' PR)
/// carries `existing_comments` and whose collaborators have `permission`. Its first check run
/// is `CHECK_ID` and the first comment it creates `COMMENT_ID`.
pub(crate) async fn fake_github(existing_comments: Value, permission: &str) -> FakeGitHub {
    let gh = FakeGitHub::start(CHECK_ID, COMMENT_ID).await;
    let full_name = format!("{OWNER}/{NAME}");
    gh.set_default_permission(&full_name, permission);
    for comment in existing_comments.as_array().into_iter().flatten() {
        gh.seed_comment(&full_name, 2, comment.clone());
    }
    gh
}

/// Fixed happy answers of every endpoint the App calls, with these comments on the PR, mounted
/// beside a test's own mocks: the check run is always `CHECK_ID`, nothing is remembered.
pub(crate) async fn mount_github(gh: &MockServer, existing_comments: Value, permission: &str) {
    let repo = format!("/repos/{OWNER}/{NAME}");
    Mock::given(method("POST"))
        .and(path("/app/installations/1/access_tokens"))
        .respond_with(ResponseTemplate::new(201).set_body_json(
            json!({"token": "ghs_test_token", "expires_at": "2099-01-01T00:00:00Z"}),
        ))
        .mount(gh)
        .await;
    Mock::given(method("GET"))
        .and(path("/app"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": 1, "slug": "riskgate", "name": "riskgate"})),
        )
        .mount(gh)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{repo}/check-runs")))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": CHECK_ID})))
        .mount(gh)
        .await;
    Mock::given(method("PATCH"))
        .and(path(format!("{repo}/check-runs/{CHECK_ID}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": CHECK_ID})))
        .mount(gh)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(format!(r"^{repo}/issues/\d+/comments$")))
        .respond_with(ResponseTemplate::new(200).set_body_json(existing_comments))
        .mount(gh)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(format!(r"^{repo}/issues/\d+/comments$")))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": COMMENT_ID, "body": "", "user": {"login": "riskgate[bot]", "type": "Bot"}})))
        .mount(gh)
        .await;
    Mock::given(method("PATCH"))
        .and(path(format!("{repo}/issues/comments/{COMMENT_ID}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": COMMENT_ID})))
        .mount(gh)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(format!(
            r"^{repo}/pulls/\d+/(reviews|comments)$"
        )))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(gh)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(format!(r"^{repo}/pulls/\d+$")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "base": {"ref": "main", "sha": ""}, "head": {"ref": "feature", "sha": ""},
            "draft": false, "labels": [], "user": {"login": "carol"}
        })))
        .mount(gh)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(format!(
            r"^{repo}/collaborators/[^/]+/permission$"
        )))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"permission": permission, "role_name": permission})),
        )
        .mount(gh)
        .await;
}

pub(crate) async fn requests(gh: &MockServer, verb: &str, route: &str) -> Vec<Request> {
    gh.received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.method.as_str() == verb && r.url.path().starts_with(route))
        .collect()
}

pub(crate) fn body(r: &Request) -> Value {
    serde_json::from_slice(&r.body).unwrap_or(Value::Null)
}

/// The completing PATCHes of check runs, in order.
pub(crate) async fn completions(gh: &MockServer) -> Vec<Value> {
    requests(gh, "PATCH", &format!("/repos/{OWNER}/{NAME}/check-runs/"))
        .await
        .iter()
        .map(body)
        .filter(|b| b["status"] == "completed")
        .collect()
}

/// PR #2's latest stored score, once there is one (waited for up to [`LONG`]; `what` names
/// it if it never comes).
pub(crate) async fn awaited_score(database: &Database, what: &str) -> riskgate::store::Score {
    let store = riskgate::store::Store::connect(&database.url)
        .await
        .unwrap();
    let latest = || async {
        store
            .latest_score(&format!("{OWNER}/{NAME}"), 2)
            .await
            .unwrap()
    };
    wait_for(what, LONG, || async { latest().await.is_some() }).await;
    let score = latest().await.unwrap();
    store.close().await;
    score
}

pub(crate) async fn wait_for<F, Fut>(what: &str, timeout: Duration, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < timeout {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out after {timeout:?} waiting for {what}");
}

// ---- the App -----------------------------------------------------------------------------

/// The settings every test App starts with, as `serve`'s environment variables: short leases
/// and GitHub back-offs so that recoveries happen within a test.
fn test_settings(db: &Database, github: &str, data_dir: &Path) -> Vec<(&'static str, String)> {
    let key = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/github/test-app-key.pem"),
    )
    .unwrap();
    vec![
        ("RISKGATE_APP_ID", "1".into()),
        ("RISKGATE_PRIVATE_KEY", key),
        ("RISKGATE_WEBHOOK_SECRET", SECRET.into()),
        ("DATABASE_URL", db.url.clone()),
        ("RISKGATE_GITHUB_API_URL", github.into()),
        ("RISKGATE_DATA_DIR", data_dir.display().to_string()),
        ("RISKGATE_JOB_LEASE_SECS", "2".into()),
        ("RISKGATE_GITHUB_MAX_DELAY_MS", "300".into()),
        ("RISKGATE_GITHUB_MAX_RATE_LIMIT_WAIT_MS", "3000".into()),
        ("RISKGATE_WORKERS", "2".into()),
    ]
}

/// A running App, in this process or in a child: what a test sends requests to.
pub(crate) trait Running {
    fn base(&self) -> &str;

    /// Returns once no job is queued or running, so that a test can assert that something
    /// did *not* happen without guessing how long the worker needs.
    async fn wait_until_drained(&self);
}

/// The App in this process, on the test's runtime; stopped (jobs in flight finished) when
/// dropped.
pub(crate) struct TestApp {
    pub(crate) base: String,
    queue: riskgate::app::QueueWatch,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Running for TestApp {
    fn base(&self) -> &str {
        &self.base
    }

    async fn wait_until_drained(&self) {
        self.queue
            .wait_until_drained(LONG)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

pub(crate) async fn start_app(db: &Database, github: &str, data_dir: &Path) -> TestApp {
    start_app_with(db, github, data_dir, &[]).await
}

/// The App fetching git from `origin`.
pub(crate) async fn start_app_for(
    origin: &Origin,
    db: &Database,
    github: &str,
    data_dir: &Path,
) -> TestApp {
    start_app_with(
        db,
        github,
        data_dir,
        &[("RISKGATE_GIT_URL", &origin.git_url())],
    )
    .await
}

/// The App with extra settings, named as `serve`'s environment variables and read by
/// `serve`'s own parser, so that a setting means the same in process and out.
pub(crate) async fn start_app_with(
    db: &Database,
    github: &str,
    data_dir: &Path,
    extra_env: &[(&str, &str)],
) -> TestApp {
    let mut argv = vec!["serve".to_string()];
    let given = test_settings(db, github, data_dir)
        .into_iter()
        .filter(|(name, _)| !extra_env.iter().any(|(n, _)| n == name))
        .chain(extra_env.iter().map(|(n, v)| (*n, v.to_string())));
    for (name, value) in given {
        let flag = name
            .trim_start_matches("RISKGATE_")
            .to_lowercase()
            .replace('_', "-");
        argv.push(format!("--{flag}={value}"));
    }
    let mut settings = riskgate::cli::serve::ServeArgs::from_flags(&argv)
        .unwrap_or_else(|e| panic!("serve's settings: {e}"))
        .settings()
        .expect("the App's settings");
    // Worker names hold leases: Apps of one test process sharing a database need their own.
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    settings.instance = format!(
        "test-app-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let app = riskgate::app::App::build(settings)
        .await
        .expect("the App starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let queue = app.queue();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.serve(listener, async {
        let _ = stopped.await;
    }));
    TestApp {
        base,
        queue,
        stop: Some(stop),
    }
}

// ---- the App as a process --------------------------------------------------------------------

/// `riskgate serve` as a child process, killed (SIGKILL) when dropped.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `riskgate serve` fetching git from `origin`.
pub(crate) fn start_server_for(
    origin: &Origin,
    db: &Database,
    github: &str,
    data_dir: &Path,
) -> Server {
    start_server_with(
        db,
        github,
        data_dir,
        &[("RISKGATE_GIT_URL", &origin.git_url())],
    )
}

/// `riskgate serve` with extra settings (`(name, value)` environment variables).
pub(crate) fn start_server_with(
    db: &Database,
    github: &str,
    data_dir: &Path,
    extra_env: &[(&str, &str)],
) -> Server {
    start_server_env(db, github, data_dir, extra_env, &[])
}

/// `riskgate serve` with extra settings, and without the test settings named in `unset` (so
/// that their defaults apply).
pub(crate) fn start_server_env(
    db: &Database,
    github: &str,
    data_dir: &Path,
    extra_env: &[(&str, &str)],
    unset: &[&str],
) -> Server {
    let mut command = Command::new(riskgate());
    command
        .arg("serve")
        .envs(test_settings(db, github, data_dir))
        .env("RISKGATE_LISTEN", "127.0.0.1:0")
        .env_remove("RISKGATE_MODEL")
        .envs(extra_env.iter().copied());
    for name in unset {
        command.env_remove(name);
    }
    command.stdout(Stdio::piped()).stderr(Stdio::inherit());
    let (child, base) = spawn_serve(command);
    Server {
        child,
        base: base.unwrap_or_else(|e| panic!("{e}")),
    }
}

/// Starts `command`, a `riskgate serve` with its stdout piped; the address it says it listens
/// on, from its first line of stdout, or that line when it did not start.
pub(crate) fn spawn_serve(mut command: Command) -> (Child, Result<String, String>) {
    let mut child = command.spawn().expect("riskgate serve starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("riskgate listening on ")
        .map(str::to_string)
        .ok_or_else(|| format!("unexpected first line from serve: {line:?}"));
    (child, base)
}

impl Running for Server {
    fn base(&self) -> &str {
        &self.base
    }

    /// Read from `/metrics`, as an operator would: a child process offers nothing else.
    async fn wait_until_drained(&self) {
        wait_for("the job queue to drain", LONG, || async {
            let mut drained = true;
            for status in ["queued", "running"] {
                let gauge = format!("riskgate_jobs{{status=\"{status}\"}}");
                drained &= metric(self, &gauge).await == Some(0.0);
            }
            drained
        })
        .await;
    }
}

/// The value of one series on the server's `/metrics` (`name` with its labels, if any);
/// `None` while the server does not answer or does not show it.
pub(crate) async fn metric(server: &impl Running, series: &str) -> Option<f64> {
    let url = format!("{}/metrics", server.base());
    let text = reqwest::get(&url).await.ok()?.text().await.ok()?;
    let prefix = format!("{series} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|n| n.trim().parse().ok())
}

pub(crate) async fn deliver(
    server: &impl Running,
    event: &str,
    delivery: &str,
    body: &[u8],
    secret: &str,
) -> (u16, String) {
    let signature = riskgate::github::webhook::sign(secret.as_bytes(), body);
    let r = reqwest::Client::new()
        .post(format!("{}/api/github/webhooks", server.base()))
        .header("x-github-event", event)
        .header("x-github-delivery", delivery)
        .header("x-hub-signature-256", signature)
        .body(body.to_vec())
        .send()
        .await
        .expect("server answers");
    let status = r.status().as_u16();
    (status, r.text().await.unwrap_or_default())
}

/// Delivers `payload` signed with [`SECRET`] and asserts it was accepted (202).
pub(crate) async fn deliver_accepted(
    server: &impl Running,
    event: &str,
    delivery: &str,
    payload: &Value,
) {
    let (status, text) = deliver(server, event, delivery, &bytes(payload), SECRET).await;
    assert_eq!(status, 202, "{text}");
}

pub(crate) fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

pub(crate) const LONG: Duration = Duration::from_secs(60);

pub(crate) fn zip_with(name: &str, content: &str) -> Vec<u8> {
    use std::io::Write as _;
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut w = zip::ZipWriter::new(&mut buf);
        w.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(content.as_bytes()).unwrap();
        w.finish().unwrap();
    }
    buf.into_inner()
}
