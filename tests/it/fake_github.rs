//! A fake GitHub that keeps state: a world of repositories, pull requests, check runs, issue
//! comments, reviews, review comments, artifacts and collaborator permissions, served over HTTP
//! at the REST paths the App calls. A comment the App posts is listed on the next fetch, a check
//! run it creates can be patched and read back, so a test states what GitHub holds instead of
//! scripting each answer.
//!
//! It is built on wiremock's server, so every request stays recorded for assertions, and a test
//! can still mount a mock of its own for one route (a failure, a slow answer): the world answers
//! at a lower priority than any mock a test mounts.

use std::collections::BTreeMap;
use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{json, Map, Value};
use wiremock::matchers::path_regex;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Below wiremock's default priority (5): a test's own mock for a route wins over the world.
const WORLD_PRIORITY: u8 = 10;
const PER_PAGE_DEFAULT: usize = 30;

/// The App the fake plays the part of: its comments come from `<slug>[bot]`.
pub(crate) const APP_ID: u64 = 1;
pub(crate) const APP_SLUG: &str = "riskgate";

/// One repository of the world.
#[derive(Clone, Debug, Default)]
pub(crate) struct Repository {
    /// Pull requests by number; a number not listed answers as a default open PR (see
    /// [`default_pull`]), as the tests' payloads name PRs the world need not spell out.
    pub(crate) pulls: BTreeMap<u64, Value>,
    pub(crate) check_runs: BTreeMap<u64, Value>,
    /// Issue (and PR) comments by issue number, oldest first.
    pub(crate) comments: BTreeMap<u64, Vec<Value>>,
    pub(crate) reviews: BTreeMap<u64, Vec<Value>>,
    pub(crate) review_comments: BTreeMap<u64, Vec<Value>>,
    /// Collaborator permission by login; anyone else has `default_permission`.
    pub(crate) permissions: BTreeMap<String, String>,
    pub(crate) default_permission: String,
    /// Artifacts by workflow run id: (artifact id, name, zip bytes).
    pub(crate) artifacts: BTreeMap<u64, Vec<(u64, String, Vec<u8>)>>,
    /// Files on the default branch by path (what the contents API serves).
    pub(crate) files: BTreeMap<String, String>,
    /// How long a listing of comments takes to arrive: it holds what the comments were when
    /// asked, as GitHub's would, so two writers listing at once both miss each other's post.
    pub(crate) comment_listing_delay: std::time::Duration,
}

/// Everything the fake GitHub holds.
#[derive(Debug)]
pub(crate) struct World {
    pub(crate) repositories: BTreeMap<String, Repository>,
    next_check_run: u64,
    next_comment: u64,
}

impl World {
    /// The repository `owner/name`, created empty (permission `read`) on first use.
    pub(crate) fn repository(&mut self, full_name: &str) -> &mut Repository {
        self.repositories
            .entry(full_name.to_string())
            .or_insert_with(|| Repository {
                default_permission: "read".into(),
                ..Repository::default()
            })
    }

    /// A comment as GitHub lists it; `app` marks it as posted through an App.
    pub(crate) fn comment(&mut self, body: &str, login: &str, app: bool) -> Value {
        let id = self.next_comment;
        self.next_comment += 1;
        let via = if app {
            json!({"id": APP_ID, "slug": APP_SLUG})
        } else {
            Value::Null
        };
        let kind = if login.ends_with("[bot]") {
            "Bot"
        } else {
            "User"
        };
        json!({"id": id, "body": body, "user": {"login": login, "type": kind},
               "performed_via_github_app": via})
    }
}

/// The open PR a number stands for when the world does not list it: carol's, feature → main.
pub(crate) fn default_pull() -> Value {
    json!({
        "base": {"ref": "main", "sha": ""}, "head": {"ref": "feature", "sha": ""},
        "draft": false, "labels": [], "user": {"login": "carol"}
    })
}

/// The fake GitHub: a wiremock server answering from a shared [`World`].
pub(crate) struct FakeGitHub {
    server: MockServer,
    world: Arc<Mutex<World>>,
}

impl Deref for FakeGitHub {
    type Target = MockServer;
    fn deref(&self) -> &MockServer {
        &self.server
    }
}

impl FakeGitHub {
    /// A server whose first check run and first comment get the ids given (tests name them).
    pub(crate) async fn start(first_check_run: u64, first_comment: u64) -> FakeGitHub {
        let world = Arc::new(Mutex::new(World {
            repositories: BTreeMap::new(),
            next_check_run: first_check_run,
            next_comment: first_comment,
        }));
        let server = MockServer::start().await;
        let fake = FakeGitHub { server, world };
        fake.mount_world().await;
        fake
    }

    /// The world, to set up or read back what GitHub holds.
    pub(crate) fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets every recorded request and every mock, then serves the world again (its state
    /// is kept): for a test that counts the requests of one phase.
    pub(crate) async fn forget_requests(&self) {
        self.server.reset().await;
        self.mount_world().await;
    }

    async fn mount_world(&self) {
        Mock::given(path_regex("^/"))
            .respond_with(Answer(self.world.clone()))
            .with_priority(WORLD_PRIORITY)
            .mount(&self.server)
            .await;
    }

    /// The check runs of a repository, by id.
    pub(crate) fn check_runs(&self, full_name: &str) -> BTreeMap<u64, Value> {
        self.world().repository(full_name).check_runs.clone()
    }

    /// The comments on an issue or PR, oldest first.
    pub(crate) fn comments(&self, full_name: &str, number: u64) -> Vec<Value> {
        let mut world = self.world();
        let repo = world.repository(full_name);
        repo.comments.get(&number).cloned().unwrap_or_default()
    }

    /// Adds a comment by `login` (a person's unless `app`); returns it.
    pub(crate) fn add_comment(
        &self,
        full_name: &str,
        number: u64,
        body: &str,
        login: &str,
        app: bool,
    ) -> Value {
        let mut world = self.world();
        let comment = world.comment(body, login, app);
        let repo = world.repository(full_name);
        repo.comments
            .entry(number)
            .or_default()
            .push(comment.clone());
        comment
    }

    /// Puts a check run that was created earlier into the world; new ones get later ids.
    pub(crate) fn seed_check_run(&self, full_name: &str, id: u64, run: Value) {
        let mut world = self.world();
        world.next_check_run = world.next_check_run.max(id + 1);
        let mut run = object(run);
        run.insert("id".into(), json!(id));
        let repo = world.repository(full_name);
        repo.check_runs.insert(id, Value::Object(run));
    }

    /// Puts a comment, as GitHub would list it, on an issue or PR.
    pub(crate) fn seed_comment(&self, full_name: &str, number: u64, comment: Value) {
        let mut world = self.world();
        let repo = world.repository(full_name);
        repo.comments.entry(number).or_default().push(comment);
    }

    /// Adds a review to a PR, e.g. `{"user": {"login": "dave"}, "state": "APPROVED", …}`.
    pub(crate) fn add_review(&self, full_name: &str, number: u64, review: Value) {
        let mut world = self.world();
        let repo = world.repository(full_name);
        repo.reviews.entry(number).or_default().push(review);
    }

    pub(crate) fn add_review_comment(&self, full_name: &str, number: u64, comment: Value) {
        let mut world = self.world();
        let repo = world.repository(full_name);
        repo.review_comments
            .entry(number)
            .or_default()
            .push(comment);
    }

    pub(crate) fn set_pull(&self, full_name: &str, number: u64, pull: Value) {
        self.world()
            .repository(full_name)
            .pulls
            .insert(number, pull);
    }

    pub(crate) fn set_permission(&self, full_name: &str, login: &str, permission: &str) {
        let mut world = self.world();
        let repo = world.repository(full_name);
        repo.permissions
            .insert(login.to_string(), permission.to_string());
    }

    pub(crate) fn set_default_permission(&self, full_name: &str, permission: &str) {
        self.world().repository(full_name).default_permission = permission.to_string();
    }

    /// Puts a file on the repository's default branch.
    pub(crate) fn set_file(&self, full_name: &str, path: &str, text: &str) {
        let mut world = self.world();
        let repo = world.repository(full_name);
        repo.files.insert(path.to_string(), text.to_string());
    }

    pub(crate) fn add_artifact(
        &self,
        full_name: &str,
        run_id: u64,
        id: u64,
        name: &str,
        zip: Vec<u8>,
    ) {
        let mut world = self.world();
        let repo = world.repository(full_name);
        repo.artifacts
            .entry(run_id)
            .or_default()
            .push((id, name.to_string(), zip));
    }
}

/// Answers one request from the world.
struct Answer(Arc<Mutex<World>>);

impl Respond for Answer {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut world = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let segments: Vec<&str> = request.url.path().trim_matches('/').split('/').collect();
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let page = Page::of(request);
        let verb = request.method.as_str();
        match (verb, segments.as_slice()) {
            ("POST", ["app", "installations", _, "access_tokens"]) => ok(
                201,
                json!({"token": "ghs_test_token", "expires_at": "2099-01-01T00:00:00Z"}),
            ),
            ("GET", ["app"]) => ok(
                200,
                json!({"id": APP_ID, "slug": APP_SLUG, "name": APP_SLUG}),
            ),
            ("GET", ["repos", owner, name, "commits", sha, "check-runs"]) => {
                let query: Vec<(String, String)> = request.url.query_pairs().into_owned().collect();
                let wanted =
                    |key: &str| query.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
                let runs: Vec<Value> = world
                    .repository(&format!("{owner}/{name}"))
                    .check_runs
                    .values()
                    .filter(|run| run["head_sha"] == *sha)
                    .filter(|run| wanted("check_name").is_none_or(|n| run["name"] == n.as_str()))
                    .filter(|run| wanted("status").is_none_or(|s| run["status"] == s.as_str()))
                    .filter(|run| {
                        wanted("app_id")
                            .is_none_or(|a| a.parse::<u64>().ok() == run["app"]["id"].as_u64())
                    })
                    .cloned()
                    .collect();
                let total = runs.len();
                ok(
                    200,
                    json!({"total_count": total, "check_runs": page.of_list(runs)}),
                )
            }
            (_, ["repos", owner, name, rest @ ..]) => {
                let full_name = format!("{owner}/{name}");
                repository_route(&mut world, &full_name, verb, rest, body, page)
            }
            _ => not_found(),
        }
    }
}

fn repository_route(
    world: &mut World,
    full_name: &str,
    verb: &str,
    rest: &[&str],
    body: Value,
    page: Page,
) -> ResponseTemplate {
    let number = |s: &str| s.parse::<u64>().ok();
    match (verb, rest) {
        ("POST", ["check-runs"]) => {
            let id = world.next_check_run;
            world.next_check_run += 1;
            let mut run = object(body);
            run.insert("id".into(), json!(id));
            run.entry("status").or_insert(json!("queued"));
            run.entry("app")
                .or_insert(json!({"id": APP_ID, "slug": APP_SLUG}));
            let run = Value::Object(run);
            world
                .repository(full_name)
                .check_runs
                .insert(id, run.clone());
            ok(201, run)
        }
        ("PATCH", ["check-runs", id]) => {
            let repo = world.repository(full_name);
            match number(id).and_then(|id| repo.check_runs.get_mut(&id)) {
                Some(Value::Object(run)) => {
                    run.extend(object(body));
                    ok(200, Value::Object(run.clone()))
                }
                _ => not_found(),
            }
        }
        ("GET", ["issues", n, "comments"]) => match number(n) {
            Some(n) => {
                let repo = world.repository(full_name);
                let all = repo.comments.get(&n).cloned();
                ok(200, page.of_list(all.unwrap_or_default())).set_delay(repo.comment_listing_delay)
            }
            None => not_found(),
        },
        ("POST", ["issues", n, "comments"]) => match number(n) {
            Some(n) => {
                let text = body["body"].as_str().unwrap_or_default().to_string();
                let comment = world.comment(&text, &format!("{APP_SLUG}[bot]"), true);
                let repo = world.repository(full_name);
                repo.comments.entry(n).or_default().push(comment.clone());
                ok(201, comment)
            }
            None => not_found(),
        },
        ("PATCH", ["issues", "comments", id]) => {
            let repo = world.repository(full_name);
            let found = number(id).and_then(|id| {
                repo.comments
                    .values_mut()
                    .flatten()
                    .find(|c| c["id"] == json!(id))
            });
            match found {
                Some(comment) => {
                    comment["body"] = body["body"].clone();
                    ok(200, comment.clone())
                }
                None => not_found(),
            }
        }
        ("GET", ["pulls", n]) => match number(n) {
            Some(n) => {
                let repo = world.repository(full_name);
                ok(
                    200,
                    repo.pulls.get(&n).cloned().unwrap_or_else(default_pull),
                )
            }
            None => not_found(),
        },
        ("GET", ["pulls", n, "reviews"]) => match number(n) {
            Some(n) => {
                let all = world.repository(full_name).reviews.get(&n).cloned();
                ok(200, page.of_list(all.unwrap_or_default()))
            }
            None => not_found(),
        },
        ("GET", ["pulls", n, "comments"]) => match number(n) {
            Some(n) => {
                let all = world.repository(full_name).review_comments.get(&n).cloned();
                ok(200, page.of_list(all.unwrap_or_default()))
            }
            None => not_found(),
        },
        ("GET", ["collaborators", login, "permission"]) => {
            let repo = world.repository(full_name);
            let permission = repo
                .permissions
                .get(*login)
                .cloned()
                .unwrap_or_else(|| repo.default_permission.clone());
            ok(
                200,
                json!({"permission": permission, "role_name": permission}),
            )
        }
        ("GET", ["actions", "runs", run, "artifacts"]) => match number(run) {
            Some(run) => {
                let repo = world.repository(full_name);
                let listed: Vec<Value> = repo
                    .artifacts
                    .get(&run)
                    .into_iter()
                    .flatten()
                    .map(|(id, name, zip)| {
                        json!({"id": id, "name": name, "size_in_bytes": zip.len(),
                               "expired": false})
                    })
                    .collect();
                let total = listed.len();
                let shown = page.of_list(listed);
                ok(200, json!({"total_count": total, "artifacts": shown}))
            }
            None => not_found(),
        },
        ("GET", ["contents", path @ ..]) => {
            use base64::Engine as _;
            let path = path.join("/");
            let Some(repo) = world.repositories.get(full_name) else {
                return not_found();
            };
            match repo.files.get(&path) {
                Some(text) => ok(
                    200,
                    json!({"type": "file", "encoding": "base64", "size": text.len(), "path": path,
                           "content": base64::engine::general_purpose::STANDARD.encode(text)}),
                ),
                None => not_found(),
            }
        }
        ("GET", ["actions", "artifacts", id, "zip"]) => {
            let repo = world.repository(full_name);
            let zip = number(id).and_then(|id| {
                repo.artifacts
                    .values()
                    .flatten()
                    .find(|(a, _, _)| *a == id)
                    .map(|(_, _, zip)| zip.clone())
            });
            match zip {
                Some(zip) => ResponseTemplate::new(200).set_body_bytes(zip),
                None => not_found(),
            }
        }
        _ => not_found(),
    }
}

/// `per_page` and `page` of a list request, as GitHub reads them (1-based, 30 by default).
struct Page {
    per_page: usize,
    page: usize,
}

impl Page {
    fn of(request: &Request) -> Page {
        let mut page = Page {
            per_page: PER_PAGE_DEFAULT,
            page: 1,
        };
        for (key, value) in request.url.query_pairs() {
            match key.as_ref() {
                "per_page" => {
                    page.per_page = value.parse().unwrap_or(PER_PAGE_DEFAULT).clamp(1, 100)
                }
                "page" => page.page = value.parse().unwrap_or(1).max(1),
                _ => {}
            }
        }
        page
    }

    fn of_list(&self, all: Vec<Value>) -> Value {
        let skip = (self.page - 1).saturating_mul(self.per_page);
        Value::Array(all.into_iter().skip(skip).take(self.per_page).collect())
    }
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn ok(status: u16, body: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

fn not_found() -> ResponseTemplate {
    ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"}))
}

/// The fake answers the App's own client as GitHub would: what is staged is read back, what
/// the client writes is kept, lists come in pages, and an unknown comment or check run is 404.
#[tokio::test(flavor = "multi_thread")]
async fn the_client_reads_and_writes_the_world() {
    use riskgate::github::auth::{AppCredentials, InstallationTokens};
    use riskgate::github::client::{CheckRunId, CheckRunUpdate, GitHubApi, RepoId, RetryPolicy};

    let gh = FakeGitHub::start(10, 500).await;
    let full = "acme/shop";
    gh.set_pull(
        full,
        7,
        json!({"base": {"ref": "main", "sha": "b1"}, "head": {"ref": "f", "sha": "h1"},
               "draft": true, "labels": [{"name": "db"}], "user": {"login": "dave"}}),
    );
    gh.add_review(
        full,
        7,
        json!({"id": 1, "user": {"login": "erin"}, "state": "APPROVED", "commit_id": "h1"}),
    );
    gh.add_review_comment(
        full,
        7,
        json!({"id": 2, "user": {"login": "erin"}, "path": "a.rs", "body": "why?"}),
    );
    gh.set_permission(full, "erin", "write");
    gh.add_artifact(full, 99, 5, "coverage", b"zip bytes".to_vec());
    for i in 0..150 {
        gh.add_comment(full, 7, &format!("comment {i}"), "dave", false);
    }

    let pem = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/github/test-app-key.pem"),
    )
    .unwrap();
    let tokens = InstallationTokens::new(AppCredentials {
        app_id: APP_ID,
        private_key_pem: pem,
    });
    let retry = RetryPolicy {
        max_attempts: 1,
        base_delay: std::time::Duration::from_millis(1),
        max_delay: std::time::Duration::from_millis(1),
        max_rate_limit_wait: std::time::Duration::from_millis(1),
    };
    let api = GitHubApi::new(&gh.uri(), tokens, retry).unwrap();
    let repo = RepoId::new("acme", "shop");

    let pull = api.get_pull_request(1, repo, 7).await.unwrap();
    assert_eq!((pull.author.as_str(), pull.draft), ("dave", true));
    assert_eq!(pull.labels, ["db"]);
    let reviews = api.list_reviews(1, repo, 7).await.unwrap();
    assert_eq!(
        (reviews[0].reviewer.as_str(), reviews[0].state.as_str()),
        ("erin", "APPROVED")
    );
    assert_eq!(
        api.list_review_comments(1, repo, 7).await.unwrap()[0].path,
        "a.rs"
    );
    assert_eq!(
        api.collaborator_permission(1, repo, "erin").await.unwrap(),
        "write"
    );
    assert_eq!(
        api.collaborator_permission(1, repo, "zed").await.unwrap(),
        "read"
    );
    let artifacts = api.list_run_artifacts(1, repo, 99).await.unwrap();
    assert_eq!((artifacts[0].id, artifacts[0].size_in_bytes), (5, 9));
    assert_eq!(
        &api.download_artifact(1, repo, 5).await.unwrap()[..],
        b"zip bytes"
    );

    // Comments: all 150 over two pages, then one posted by the App and edited.
    let comments = api.list_issue_comments(1, repo, 7).await.unwrap();
    assert_eq!(comments.len(), 150);
    assert_eq!(comments[149].body, "comment 149");
    let id = api
        .create_issue_comment(1, repo, 7, "risk: high")
        .await
        .unwrap();
    api.update_issue_comment(1, repo, id, "risk: low")
        .await
        .unwrap();
    let ours = gh.comments(full, 7).pop().unwrap();
    assert_eq!(ours["id"], json!(id));
    assert_eq!(ours["body"], "risk: low");
    assert_eq!(ours["user"]["login"], "riskgate[bot]");
    assert!(api.update_issue_comment(1, repo, 9_999, "x").await.is_err());

    // Check runs: created with the next id, completed by a patch, kept.
    let run = api
        .create_check_run(1, repo, "h1", "riskgate", "ext-1")
        .await
        .unwrap();
    assert_eq!(run, CheckRunId(10));
    let done = CheckRunUpdate {
        status: Some("completed".into()),
        conclusion: Some("neutral".into()),
        title: Some("low".into()),
        summary: Some("s".into()),
        ..CheckRunUpdate::default()
    };
    api.update_check_run(1, repo, run, &done).await.unwrap();
    let runs = gh.check_runs(full);
    assert_eq!(runs[&10]["head_sha"], "h1");
    assert_eq!(runs[&10]["conclusion"], "neutral");
    assert!(api
        .update_check_run(1, repo, CheckRunId(11), &done)
        .await
        .is_err());
}
