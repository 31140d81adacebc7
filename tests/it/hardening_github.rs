//! The App against hostile or surprising input from GitHub: accepted risk that must survive a
//! rescore, refusals from strangers, coverage from forks, comments planted with riskgate's marker,
//! merge queues and oversized artifacts. The real `riskgate serve`, GitHub faked with wiremock.

use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::harness::{
    accept_risk_payload, body, bytes, completions, deliver, deliver_accepted, fake_github, fixture,
    mount_github, origin, pull_request_payload, requests, rerun_payload, review_payload,
    start_app_for, wait_for, zip_with, COMMENT_ID, LONG, NAME, OWNER, SECRET,
};
use crate::support::{database, day, git_in, Db, TestRepo};
use riskgate::store::{
    AuditEvent, JobStatus, JobSummary, NewAuditEvent, NewCoverageReport, NewScore, Store,
    AUDIT_RISK_ACCEPTED,
};

fn full_name() -> String {
    format!("{OWNER}/{NAME}")
}

/// Thresholds so low that any change is high risk, whatever the model's version.
const HIGH: &str = "thresholds: {elevated: 0.001, high: 0.002}\ncomment: never\n";

async fn audit(store: &Store) -> Vec<AuditEvent> {
    store.audit_events(Some(&full_name()), None).await.unwrap()
}

/// Waits until there are `n` jobs of `kind` and all have finished (done or parked); returns
/// them, newest first.
async fn finished_jobs(store: &Store, kind: &str, n: usize) -> Vec<JobSummary> {
    let started = std::time::Instant::now();
    loop {
        let jobs: Vec<JobSummary> = store
            .list_jobs(None, 1_000)
            .await
            .unwrap()
            .into_iter()
            .filter(|j| j.kind == kind)
            .collect();
        let finished = jobs
            .iter()
            .all(|j| matches!(j.status, JobStatus::Done | JobStatus::Parked));
        if jobs.len() == n && finished {
            return jobs;
        }
        assert!(
            started.elapsed() < LONG,
            "timed out waiting for {n} {kind} jobs to finish: {jobs:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

// ---- accept risk -----------------------------------------------------------------------------

async fn accepted_risk_stands_until_a_new_head(db: Db) {
    let database = database(db);
    let data = tempfile::tempdir().unwrap();
    let mut origin = origin(30, Some(HIGH), None);
    let gh = fake_github(json!([]), "write").await;
    let server = start_app_for(&origin, &database, &gh.uri(), data.path()).await;
    let store = Store::connect(&database.url).await.unwrap();

    let opened = pull_request_payload("pull_request.opened.json", &origin);
    let (status, _) = deliver(&server, "pull_request", "a-open", &bytes(&opened), SECRET).await;
    assert_eq!(status, 202);
    wait_for("the first check", LONG, || async {
        completions(&gh).await.len() == 1
    })
    .await;
    assert_eq!(completions(&gh).await[0]["conclusion"], "failure");

    let accept = accept_risk_payload(&origin, &opened, "maintainer");
    let (status, _) = deliver(&server, "check_run", "a-accept", &bytes(&accept), SECRET).await;
    assert_eq!(status, 202);
    wait_for("the accepted check", LONG, || async {
        completions(&gh).await.len() == 2
    })
    .await;
    assert_eq!(completions(&gh).await[1]["conclusion"], "success");

    // A review asks for a rescore of the same head: the new score is recorded, the check stays
    // accepted and names who accepted it.
    let review = review_payload(&origin, &opened);
    deliver_accepted(&server, "pull_request_review", "a-review", &review).await;
    wait_for("the rescored check", LONG, || async {
        completions(&gh).await.len() == 3
    })
    .await;
    let rescored = &completions(&gh).await[2];
    assert_eq!(rescored["conclusion"], "success", "{rescored}");
    let title = rescored["output"]["title"].as_str().unwrap();
    assert!(
        title.contains("high") && title.contains("accepted by @maintainer"),
        "{title}"
    );
    assert!(
        rescored.get("actions").is_none(),
        "no Accept risk button on an accepted check: {rescored}"
    );
    finished_jobs(&store, "score_pull_request", 2).await;
    let scores = store.scores_for(&full_name()).await.unwrap();
    assert_eq!(scores.len(), 2, "the rescore's score is recorded");
    assert!(scores.iter().all(|s| s.head_sha == origin.head));
    assert_eq!(scores[1].band, "high");
    assert_eq!(scores[1].conclusion, "success");
    let conclusions: Vec<AuditEvent> = audit(&store)
        .await
        .into_iter()
        .filter(|e| e.kind == "check_conclusion")
        .collect();
    assert_eq!(conclusions.len(), 2);
    assert_eq!(conclusions[1].detail["accepted_by"], "maintainer");
    assert_eq!(conclusions[0].detail["accepted_by"], Value::Null);

    // A new head ends the acceptance.
    let new_head = origin.push(10);
    let sync = pull_request_payload("pull_request.synchronize.json", &origin);
    let (status, _) = deliver(&server, "pull_request", "a-sync", &bytes(&sync), SECRET).await;
    assert_eq!(status, 202);
    wait_for("the new head's check", LONG, || async {
        completions(&gh).await.len() == 4
    })
    .await;
    let fresh = &completions(&gh).await[3];
    assert_eq!(fresh["conclusion"], "failure", "{fresh}");
    assert_eq!(fresh["actions"][0]["identifier"], "accept_risk");
    let created = requests(&gh, "POST", &format!("/repos/{OWNER}/{NAME}/check-runs")).await;
    assert_eq!(body(created.last().unwrap())["head_sha"], new_head.as_str());
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_accepted_risk_stands_until_a_new_head() {
    accepted_risk_stands_until_a_new_head(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_accepted_risk_stands_until_a_new_head() {
    accepted_risk_stands_until_a_new_head(Db::Postgres).await;
}

/// What GitHub answers for PR #2 whose head is `head`.
fn pull_at(head: &str) -> Value {
    json!({
        "base": {"ref": "main", "sha": ""}, "head": {"ref": "feature", "sha": head},
        "draft": false, "labels": [], "user": {"login": "carol"}
    })
}

/// A score of an older head that finishes after the PR moved on (here a **Re-run** of the old
/// head's check) completes its own check, but leaves the sticky comment, the PR's latest score
/// and the acceptance of the newer head alone.
async fn a_late_score_of_an_older_head_leaves_the_newer_head_alone(db: Db) {
    let database = database(db);
    let data = tempfile::tempdir().unwrap();
    let config = "thresholds: {elevated: 0.001, high: 0.002}\n\
                  comment: {when: always, behavior: new}\n";
    let mut origin = origin(30, Some(config), None);
    let gh = fake_github(json!([]), "write").await;
    gh.set_pull(&full_name(), 2, pull_at(&origin.head));
    let server = start_app_for(&origin, &database, &gh.uri(), data.path()).await;
    let store = Store::connect(&database.url).await.unwrap();

    let opened = pull_request_payload("pull_request.opened.json", &origin);
    deliver_accepted(&server, "pull_request", "late-open", &opened).await;
    // Its comment comes after its check: the job must be done before the PR moves on.
    finished_jobs(&store, "score_pull_request", 1).await;
    let old_head = origin.head.clone();
    let rerun_old = rerun_payload(&origin, &opened, "carol");

    let new_head = origin.push(10);
    gh.set_pull(&full_name(), 2, pull_at(&new_head));
    let sync = pull_request_payload("pull_request.synchronize.json", &origin);
    deliver_accepted(&server, "pull_request", "late-sync", &sync).await;
    wait_for("the new head's check", LONG, || async {
        completions(&gh).await.len() == 2
    })
    .await;
    let new_check = gh
        .check_runs(&full_name())
        .into_iter()
        .find(|(_, run)| run["head_sha"] == new_head.as_str())
        .map(|(id, _)| id)
        .unwrap();
    let mut accept = accept_risk_payload(&origin, &opened, "maintainer");
    accept["check_run"]["id"] = json!(new_check);
    deliver_accepted(&server, "check_run", "late-accept", &accept).await;
    wait_for("the accepted check", LONG, || async {
        completions(&gh).await.len() == 3
    })
    .await;
    finished_jobs(&store, "score_pull_request", 2).await;
    let comments_before = gh.comments(&full_name(), 2);
    assert_eq!(comments_before.len(), 2, "one comment per head");

    deliver_accepted(&server, "check_run", "late-rerun", &rerun_old).await;
    wait_for("the old head's re-run check", LONG, || async {
        completions(&gh).await.len() == 4
    })
    .await;
    finished_jobs(&store, "score_pull_request", 3).await;
    let rerun = &completions(&gh).await[3];
    let title = rerun["output"]["title"].as_str().unwrap();
    assert!(title.contains("% risk"), "the old head is scored: {rerun}");
    assert_eq!(
        gh.comments(&full_name(), 2),
        comments_before,
        "the comment speaks for the new head"
    );
    let scores = store.scores_for(&full_name()).await.unwrap();
    let heads: Vec<&str> = scores.iter().map(|s| s.head_sha.as_str()).collect();
    assert_eq!(heads, [old_head.as_str(), new_head.as_str()], "{scores:?}");
    let late: Vec<AuditEvent> = audit(&store)
        .await
        .into_iter()
        .filter(|e| e.kind == "check_conclusion" && e.detail.get("head_moved_on_to").is_some())
        .collect();
    assert_eq!(late.len(), 1);
    assert_eq!(late[0].head_sha.as_deref(), Some(old_head.as_str()));
    assert_eq!(late[0].detail["head_moved_on_to"], new_head.as_str());

    // The acceptance of the new head still stands when a review rescores it.
    let review = review_payload(&origin, &opened);
    deliver_accepted(&server, "pull_request_review", "late-review", &review).await;
    wait_for("the new head's rescored check", LONG, || async {
        completions(&gh).await.len() == 5
    })
    .await;
    let rescored = &completions(&gh).await[4];
    assert_eq!(rescored["conclusion"], "success", "{rescored}");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_a_late_score_of_an_older_head_leaves_the_newer_head_alone() {
    a_late_score_of_an_older_head_leaves_the_newer_head_alone(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_a_late_score_of_an_older_head_leaves_the_newer_head_alone() {
    a_late_score_of_an_older_head_leaves_the_newer_head_alone(Db::Postgres).await;
}

/// Two jobs of one pull request publishing at once (its push and a review, here) take turns at
/// its comment: each lists the comments before it posts, and a listing in flight misses the
/// other's post, so without turns both would post.
async fn two_jobs_of_one_pull_request_post_one_comment(db: Db) {
    let database = database(db);
    let data = tempfile::tempdir().unwrap();
    let origin = origin(30, Some("comment: always\n"), None);
    let gh = fake_github(json!([]), "read").await;
    gh.world().repository(&full_name()).comment_listing_delay =
        std::time::Duration::from_millis(500);
    let server = start_app_for(&origin, &database, &gh.uri(), data.path()).await;
    let store = Store::connect(&database.url).await.unwrap();

    let opened = pull_request_payload("pull_request.opened.json", &origin);
    let review = review_payload(&origin, &opened);
    deliver_accepted(&server, "pull_request", "turns-open", &opened).await;
    deliver_accepted(&server, "pull_request_review", "turns-review", &review).await;
    let jobs = finished_jobs(&store, "score_pull_request", 2).await;
    assert!(jobs.iter().all(|j| j.status == JobStatus::Done), "{jobs:?}");
    let comments = gh.comments(&full_name(), 2);
    assert_eq!(comments.len(), 1, "{comments:?}");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_two_jobs_of_one_pull_request_post_one_comment() {
    two_jobs_of_one_pull_request_post_one_comment(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_two_jobs_of_one_pull_request_post_one_comment() {
    two_jobs_of_one_pull_request_post_one_comment(Db::Postgres).await;
}

async fn a_stranger_is_refused_and_audited(db: Db) {
    let database = database(db);
    let data = tempfile::tempdir().unwrap();
    let origin = origin(30, Some(HIGH), None);
    let gh = MockServer::start().await;
    // What GitHub answers for someone who is not a collaborator at all.
    Mock::given(method("GET"))
        .and(path(format!(
            "/repos/{OWNER}/{NAME}/collaborators/stranger/permission"
        )))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "message": "Not Found",
            "documentation_url": "https://docs.github.com/rest/collaborators/collaborators#get-repository-permissions-for-a-user"
        })))
        .with_priority(1)
        .mount(&gh)
        .await;
    mount_github(&gh, json!([]), "write").await;
    let server = start_app_for(&origin, &database, &gh.uri(), data.path()).await;
    let store = Store::connect(&database.url).await.unwrap();

    let opened = pull_request_payload("pull_request.opened.json", &origin);
    let (status, _) = deliver(&server, "pull_request", "s-open", &bytes(&opened), SECRET).await;
    assert_eq!(status, 202);
    wait_for("the check", LONG, || async {
        completions(&gh).await.len() == 1
    })
    .await;

    let accept = accept_risk_payload(&origin, &opened, "stranger");
    let (status, _) = deliver(&server, "check_run", "s-accept", &bytes(&accept), SECRET).await;
    assert_eq!(status, 202);
    let jobs = finished_jobs(&store, "accept_risk", 1).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        jobs[0].status,
        JobStatus::Done,
        "a refusal is an answer, not a failure: {:?}",
        jobs[0].last_error
    );
    let events = audit(&store).await;
    let refused: Vec<&AuditEvent> = events
        .iter()
        .filter(|e| e.kind == "risk_acceptance_refused")
        .collect();
    assert_eq!(refused.len(), 1, "{events:?}");
    assert_eq!(refused[0].actor.as_deref(), Some("stranger"));
    assert_eq!(refused[0].pr_number, Some(2));
    assert_eq!(refused[0].head_sha.as_deref(), Some(origin.head.as_str()));
    assert_eq!(refused[0].detail["permission"], "none");
    assert_eq!(refused[0].detail["reason"], "not a collaborator");
    assert!(!events.iter().any(|e| e.kind == AUDIT_RISK_ACCEPTED));
    assert_eq!(
        completions(&gh).await.len(),
        1,
        "the check keeps its conclusion"
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_a_stranger_pressing_accept_risk_is_refused_and_audited() {
    a_stranger_is_refused_and_audited(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_a_stranger_pressing_accept_risk_is_refused_and_audited() {
    a_stranger_is_refused_and_audited(Db::Postgres).await;
}

/// The store's reading of "stands": for that head, on that pull request (or on none), and only
/// until a score of another head of the pull request.
async fn standing_acceptance_in_the_store(db: Db) {
    let database = database(db);
    let store = Store::connect(&database.url).await.unwrap();
    let repo = full_name();
    let accept = |at: i64, pr: Option<i64>, head: &str, who: &str| NewAuditEvent {
        at,
        repository: repo.clone(),
        pr_number: pr,
        head_sha: Some(head.to_string()),
        kind: AUDIT_RISK_ACCEPTED.to_string(),
        actor: Some(who.to_string()),
        detail: json!({"permission": "write"}),
    };
    let score = |pr: i64, head: &str| NewScore {
        repository: repo.clone(),
        pr_number: pr,
        head_sha: head.to_string(),
        base_sha: "base".to_string(),
        probability: 0.6,
        band: "high".to_string(),
        model_version: "m".to_string(),
        features: json!({}),
        conclusion: "failure".to_string(),
        check_run_id: None,
        delivery_id: None,
    };
    let standing = |pr: i64, head: &'static str| {
        let (store, repo) = (store.clone(), repo.clone());
        async move {
            store
                .standing_risk_acceptance(&repo, pr, head)
                .await
                .unwrap()
                .and_then(|e| e.actor)
        }
    };

    assert_eq!(standing(7, "aaa").await, None);
    store.record_score(&score(7, "aaa"), 1_000).await.unwrap();
    store
        .append_audit(&accept(2_000, Some(7), "aaa", "alice"))
        .await
        .unwrap();
    assert_eq!(standing(7, "aaa").await.as_deref(), Some("alice"));
    assert_eq!(standing(8, "aaa").await, None, "another pull request");
    assert_eq!(standing(7, "bbb").await, None, "another head");
    assert_eq!(
        store
            .standing_risk_acceptance("octo/other", 7, "aaa")
            .await
            .unwrap(),
        None,
        "another repository"
    );
    // A rescore of the same head leaves it standing; a later acceptance is the one named.
    store.record_score(&score(7, "aaa"), 3_000).await.unwrap();
    store
        .append_audit(&accept(3_500, Some(7), "aaa", "bob"))
        .await
        .unwrap();
    assert_eq!(standing(7, "aaa").await.as_deref(), Some("bob"));
    // A score of a new head ends it, even when the PR is later reset to the accepted commit.
    store.record_score(&score(7, "bbb"), 4_000).await.unwrap();
    assert_eq!(standing(7, "aaa").await, None);
    store.record_score(&score(7, "aaa"), 5_000).await.unwrap();
    assert_eq!(standing(7, "aaa").await, None);
    // Accepted again after the reset: stands again.
    store
        .append_audit(&accept(6_000, Some(7), "aaa", "carol"))
        .await
        .unwrap();
    assert_eq!(standing(7, "aaa").await.as_deref(), Some("carol"));
    // A check run that named no pull request (a head in a fork): its acceptance counts for the
    // pull request whose head it is.
    store
        .append_audit(&accept(7_000, None, "fff", "dave"))
        .await
        .unwrap();
    assert_eq!(standing(9, "fff").await.as_deref(), Some("dave"));
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_standing_risk_acceptance() {
    standing_acceptance_in_the_store(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_standing_risk_acceptance() {
    standing_acceptance_in_the_store(Db::Postgres).await;
}

// ---- coverage from forks ---------------------------------------------------------------------

/// The id GitHub gives the repository in the fixtures.
const REPOSITORY_ID: u64 = 186_853_002;

/// lcov lines `1..=n` of `file`, the first `covered` of them run.
fn lcov(file: &str, n: u32, covered: u32) -> String {
    let mut out = format!("SF:{file}\n");
    for l in 1..=n {
        out += &format!("DA:{l},{}\n", u32::from(l <= covered));
    }
    out + "end_of_record\n"
}

/// A completed, successful `workflow_run` whose head came from `head_repository`.
fn workflow_run(
    opened: &Value,
    run_id: u64,
    head_sha: &str,
    head_branch: &str,
    head_repository: Value,
    pull_requests: Value,
) -> Value {
    json!({
        "action": "completed",
        "workflow_run": {
            "id": run_id, "name": "CI", "event": "pull_request", "status": "completed",
            "conclusion": "success", "head_sha": head_sha, "head_branch": head_branch,
            "pull_requests": pull_requests, "head_repository": head_repository,
            "repository": {"id": REPOSITORY_ID, "full_name": full_name()},
        },
        "repository": opened["repository"],
        "installation": {"id": 1},
        "sender": {"login": "octocat", "type": "User"},
    })
}

/// Delivers a completed run `run_id` of the repository itself on `origin`'s head (branch
/// `feature`), listing `pull_requests`; GitHub's delivery is accepted.
async fn deliver_own_run(
    server: &crate::harness::TestApp,
    origin: &crate::harness::Origin,
    run_id: u64,
    delivery: &str,
    pull_requests: Value,
) {
    let opened = pull_request_payload("pull_request.opened.json", origin);
    let own = json!({"id": REPOSITORY_ID, "full_name": full_name()});
    let run = workflow_run(&opened, run_id, &origin.head, "feature", own, pull_requests);
    let (status, _) = deliver(server, "workflow_run", delivery, &bytes(&run), SECRET).await;
    assert_eq!(status, 202);
}

/// The run `run_id` has one artifact, `coverage-report`, holding `lcov.info` = `report`.
async fn mount_artifact(gh: &MockServer, run_id: u64, report: &str) {
    let zipped = zip_with("lcov.info", report);
    mount_artifact_bytes(gh, run_id, zipped.len() as u64, zipped).await;
}

/// The run `run_id` has one artifact, `coverage-report`, listed with `size_in_bytes` and served
/// as `zipped`. Its id is `run_id * 10`.
async fn mount_artifact_bytes(gh: &MockServer, run_id: u64, size_in_bytes: u64, zipped: Vec<u8>) {
    let repo = format!("/repos/{OWNER}/{NAME}");
    let artifact_id = run_id * 10;
    Mock::given(method("GET"))
        .and(path(format!("{repo}/actions/runs/{run_id}/artifacts")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "total_count": 1,
            "artifacts": [{"id": artifact_id, "name": "coverage-report",
                           "size_in_bytes": size_in_bytes, "expired": false}]
        })))
        .mount(gh)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{repo}/actions/artifacts/{artifact_id}/zip")))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(zipped))
        .mount(gh)
        .await;
}

async fn a_fork_cannot_set_the_base_coverage(db: Db) {
    let database = database(db);
    let data = tempfile::tempdir().unwrap();
    let origin = origin(
        20,
        Some("coverage: {artifact: coverage-report}\ncomment: never\n"),
        None,
    );
    let main_sha = git_in(&origin.bare, &["rev-parse", "refs/heads/main"]);
    let fork_sha = "f".repeat(40);
    let gh = MockServer::start().await;
    // main's own run: 40 of src/app.rs's 50 lines run (80%).
    mount_artifact(&gh, 41, &lcov("src/app.rs", 50, 40)).await;
    // A fork's run on its own branch called `main`: claims nothing of src/app.rs runs.
    mount_artifact(&gh, 42, &lcov("src/app.rs", 50, 0)).await;
    // The fork's run on the PR's head: src/app.rs as on main, 10 of the 20 added lines run.
    let head_report = lcov("src/app.rs", 50, 40) + &lcov("src/payments/charge.rs", 20, 10);
    mount_artifact(&gh, 43, &head_report).await;
    mount_github(&gh, json!([]), "read").await;
    let server = start_app_for(&origin, &database, &gh.uri(), data.path()).await;
    let store = Store::connect(&database.url).await.unwrap();

    let opened = pull_request_payload("pull_request.opened.json", &origin);
    let (status, _) = deliver(&server, "pull_request", "c-open", &bytes(&opened), SECRET).await;
    assert_eq!(status, 202);
    finished_jobs(&store, "score_pull_request", 1).await;

    let own = json!({"id": REPOSITORY_ID, "full_name": full_name(), "name": NAME, "owner": {"login": OWNER}});
    let fork = json!({"id": 7_777_777, "full_name": "mallory/Hello-World", "name": "Hello-World",
                      "owner": {"login": "mallory"}, "fork": true});
    let runs = [
        workflow_run(&opened, 41, &main_sha, "main", own, json!([])),
        workflow_run(&opened, 42, &fork_sha, "main", fork.clone(), json!([])),
    ];
    for (i, run) in runs.iter().enumerate() {
        let (status, text) = deliver(
            &server,
            "workflow_run",
            &format!("c-run-{i}"),
            &bytes(run),
            SECRET,
        )
        .await;
        assert_eq!(status, 202, "{text}");
        finished_jobs(&store, "coverage", i + 1).await;
    }
    let base = store
        .latest_coverage_report(&full_name(), "main")
        .await
        .unwrap()
        .expect("main has coverage from its own run");
    assert_eq!(base.sha, main_sha, "the fork's run did not replace it");
    let forked = store
        .coverage_report_for_commit(&full_name(), &fork_sha)
        .await
        .unwrap()
        .expect("the fork's report is kept for its own commit");
    assert_eq!(forked.branch, "mallory/Hello-World:main");

    // The fork's run on the PR head: GitHub lists no pull requests for it, yet the PR riskgate
    // scored at that head is scored again, with the fork's report as its head coverage and
    // main's own report as the base.
    let pr_run = workflow_run(&opened, 43, &origin.head, "feature", fork, json!([]));
    let (status, _) = deliver(&server, "workflow_run", "c-run-pr", &bytes(&pr_run), SECRET).await;
    assert_eq!(status, 202);
    finished_jobs(&store, "coverage", 3).await;
    let jobs = finished_jobs(&store, "score_pull_request", 2).await;
    assert!(jobs.iter().all(|j| j.status == JobStatus::Done), "{jobs:?}");
    let summary = completions(&gh).await.last().unwrap()["output"]["summary"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(summary.contains("patch coverage 50.0%"), "{summary}");
    assert!(
        summary.contains("project coverage 80.0% → 71.4%"),
        "main's own report is the base: {summary}"
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_a_fork_cannot_set_the_base_coverage() {
    a_fork_cannot_set_the_base_coverage(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_a_fork_cannot_set_the_base_coverage() {
    a_fork_cannot_set_the_base_coverage(Db::Postgres).await;
}

/// A trigger named `name` that fails `event` on the jobs table (e.g. `INSERT`, `UPDATE OF
/// state`) with the error "interrupted" when `condition` holds of `NEW`, as a crash would stop
/// a job there: the statements that make it, and the one that drops it.
fn interrupting_trigger(db: Db, name: &str, event: &str, condition: &str) -> (Vec<String>, String) {
    match db {
        Db::Sqlite => (
            vec![format!(
                "CREATE TRIGGER {name} BEFORE {event} ON jobs WHEN {condition} \
                 BEGIN SELECT RAISE(ABORT, 'interrupted'); END"
            )],
            format!("DROP TRIGGER {name}"),
        ),
        Db::Postgres => (
            vec![
                format!(
                    "CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ \
                     BEGIN IF {condition} THEN RAISE EXCEPTION 'interrupted'; END IF; \
                     RETURN NEW; END $$"
                ),
                format!(
                    "CREATE TRIGGER {name} BEFORE {event} ON jobs FOR EACH ROW \
                     EXECUTE FUNCTION {name}()"
                ),
            ],
            format!("DROP TRIGGER {name} ON jobs"),
        ),
    }
}

/// Waits until a job of `kind` has failed on an [`interrupting_trigger`].
async fn wait_until_interrupted(store: &Store, kind: &str, what: &str) {
    wait_for(what, LONG, || async {
        let jobs = store.list_jobs(None, 100).await.unwrap();
        jobs.iter().any(|j| {
            j.kind == kind
                && j.last_error
                    .as_deref()
                    .is_some_and(|e| e.contains("interrupted"))
        })
    })
    .await;
}

/// A coverage job interrupted after reading its report (here the database refuses the rescore,
/// as a crash would stop the job there) keeps nothing; tried again, it stores the report once
/// and queues one rescore, which creates one check run.
async fn an_interrupted_coverage_job_stores_and_rescores_once(db: Db) {
    let database = database(db);
    let data = tempfile::tempdir().unwrap();
    let origin = origin(
        20,
        Some("coverage: {artifact: coverage-report}\ncomment: never\n"),
        None,
    );
    let (refuse, allow) = interrupting_trigger(
        db,
        "refuse_rescores",
        "INSERT",
        "NEW.kind = 'score_pull_request'",
    );
    let gh = MockServer::start().await;
    mount_artifact(&gh, 71, &lcov("src/app.rs", 50, 40)).await;
    mount_github(&gh, json!([]), "read").await;
    let server = start_app_for(&origin, &database, &gh.uri(), data.path()).await;
    let store = Store::connect(&database.url).await.unwrap();
    for sql in &refuse {
        database.execute(sql).await;
    }
    let reports = format!(
        "SELECT COUNT(*) FROM coverage_reports WHERE sha = '{}'",
        origin.head
    );

    deliver_own_run(&server, &origin, 71, "i-run", json!([{"number": 2}])).await;
    wait_until_interrupted(&store, "coverage", "the coverage job to be interrupted").await;
    assert_eq!(
        database.count(&reports).await,
        0,
        "an interrupted job keeps no report"
    );

    database.execute(&allow).await;
    let coverage = finished_jobs(&store, "coverage", 1).await;
    assert_eq!(coverage[0].status, JobStatus::Done);
    assert!(coverage[0].attempts >= 2, "{coverage:?}");
    let rescores = finished_jobs(&store, "score_pull_request", 1).await;
    assert_eq!(rescores[0].pr_number, Some(2));
    assert_eq!(
        database.count(&reports).await,
        1,
        "the report is stored once"
    );
    assert_eq!(
        database
            .count(&format!("{reports} AND used_at IS NOT NULL"))
            .await,
        1,
        "the rescore's read is recorded, so retention keeps the report while it is read"
    );
    let created = requests(&gh, "POST", &format!("/repos/{OWNER}/{NAME}/check-runs")).await;
    assert_eq!(created.len(), 1, "one rescore, one check run");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_an_interrupted_coverage_job_stores_and_rescores_once() {
    an_interrupted_coverage_job_stores_and_rescores_once(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_an_interrupted_coverage_job_stores_and_rescores_once() {
    an_interrupted_coverage_job_stores_and_rescores_once(Db::Postgres).await;
}

/// A score job that stops after creating its check run but before saving the run's id (here
/// the database refuses that save, as a crash would stop the job there) takes the same run up
/// again when it is tried again: one check run on the head, completed, none left in progress.
async fn a_job_stopped_after_creating_its_check_run_completes_that_run(db: Db) {
    let database = database(db);
    let data = tempfile::tempdir().unwrap();
    let origin = origin(20, Some("comment: never\n"), None);
    let (refuse, allow) = interrupting_trigger(
        db,
        "refuse_check_ids",
        "UPDATE OF state",
        "NEW.state LIKE '%check_run_id%'",
    );
    let gh = fake_github(json!([]), "read").await;
    let server = start_app_for(&origin, &database, &gh.uri(), data.path()).await;
    let store = Store::connect(&database.url).await.unwrap();
    for sql in &refuse {
        database.execute(sql).await;
    }

    let opened = pull_request_payload("pull_request.opened.json", &origin);
    deliver_accepted(&server, "pull_request", "stopped-open", &opened).await;
    wait_until_interrupted(
        &store,
        "score_pull_request",
        "the score job to stop after creating its run",
    )
    .await;
    assert_eq!(
        gh.check_runs(&full_name()).len(),
        1,
        "the first attempt made its run"
    );

    database.execute(&allow).await;
    let done = finished_jobs(&store, "score_pull_request", 1).await;
    assert_eq!(done[0].status, JobStatus::Done);
    assert!(done[0].attempts >= 2, "{done:?}");
    let runs = gh.check_runs(&full_name());
    assert_eq!(runs.len(), 1, "no second run: {runs:?}");
    let run = runs.values().next().unwrap();
    assert_eq!(run["head_sha"], origin.head.as_str());
    assert_eq!(run["status"], "completed", "{run}");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_a_job_stopped_after_creating_its_check_run_completes_that_run() {
    a_job_stopped_after_creating_its_check_run_completes_that_run(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_a_job_stopped_after_creating_its_check_run_completes_that_run() {
    a_job_stopped_after_creating_its_check_run_completes_that_run(Db::Postgres).await;
}

/// For one commit, a report from the repository's own run wins over a newer one from a fork.
async fn own_report_wins_for_a_commit(db: Db) {
    let database = database(db);
    let store = Store::connect(&database.url).await.unwrap();
    let report = |branch: &str, body: &str| NewCoverageReport {
        repository: full_name(),
        branch: branch.to_string(),
        sha: "abc".to_string(),
        format: "lcov".to_string(),
        report: body.to_string(),
    };
    let label = riskgate::store::fork_branch_label("mallory/Hello-World", "feature");
    store
        .store_coverage_report(&report(&label, "fork, first"), 1)
        .await
        .unwrap();
    let found = |store: Store| async move {
        store
            .coverage_report_for_commit(&full_name(), "abc")
            .await
            .unwrap()
            .unwrap()
            .report
    };
    assert_eq!(found(store.clone()).await, "fork, first");
    store
        .store_coverage_report(&report("feature", "own"), 2)
        .await
        .unwrap();
    store
        .store_coverage_report(&report(&label, "fork, later"), 3)
        .await
        .unwrap();
    assert_eq!(found(store.clone()).await, "own");
    assert!(store
        .latest_coverage_report(&full_name(), "feature")
        .await
        .unwrap()
        .is_some_and(|r| r.report == "own"));
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_own_coverage_report_wins_for_a_commit() {
    own_report_wins_for_a_commit(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_own_coverage_report_wins_for_a_commit() {
    own_report_wins_for_a_commit(Db::Postgres).await;
}

// ---- the sticky comment ----------------------------------------------------------------------

/// Someone pastes riskgate's marker into a comment of their own: riskgate neither edits it nor
/// takes it for its sticky comment; it posts and then edits its own, found by its bot's login,
/// which it learns once from `GET /app`.
#[tokio::test(flavor = "multi_thread")]
async fn a_planted_marker_is_not_the_sticky_comment() {
    let database = database(Db::Sqlite);
    let data = tempfile::tempdir().unwrap();
    let mut origin = origin(
        30,
        Some("thresholds: {elevated: 0.001, high: 0.002}\n"),
        None,
    );
    let planted_id = 55;
    let planted = json!({
        "id": planted_id,
        "body": riskgate::github::render::comment_body(
            "Nothing to see here: **0% risk**.",
            riskgate::model::Band::Low,
        ),
        "user": {"login": "mallory", "type": "User"},
        "performed_via_github_app": null,
    });
    let gh = fake_github(json!([planted]), "read").await;
    let server = start_app_for(&origin, &database, &gh.uri(), data.path()).await;
    let store = Store::connect(&database.url).await.unwrap();
    let comments = format!("/repos/{OWNER}/{NAME}/issues/2/comments");
    let edits_of = |id: u64| format!("/repos/{OWNER}/{NAME}/issues/comments/{id}");

    let opened = pull_request_payload("pull_request.opened.json", &origin);
    let (status, _) = deliver(&server, "pull_request", "p-open", &bytes(&opened), SECRET).await;
    assert_eq!(status, 202);
    let jobs = finished_jobs(&store, "score_pull_request", 1).await;
    assert_eq!(jobs[0].status, JobStatus::Done, "{:?}", jobs[0].last_error);
    let posted = requests(&gh, "POST", &comments).await;
    assert_eq!(posted.len(), 1, "riskgate posts a comment of its own");
    let ours = body(&posted[0])["body"].as_str().unwrap().to_string();
    assert!(ours.starts_with(riskgate::github::render::MARKER));
    assert!(
        requests(&gh, "PATCH", &edits_of(planted_id))
            .await
            .is_empty(),
        "the planted comment is not edited"
    );
    assert_eq!(requests(&gh, "GET", "/app").await.len(), 1);

    // Next push: the PR now holds the planted comment (older) and riskgate's own.
    assert_eq!(
        gh.comments(&format!("{OWNER}/{NAME}"), 2).len(),
        2,
        "GitHub holds both comments"
    );
    // The advice changes (main's thresholds now make the change elevated), so the comment is
    // edited.
    gh.forget_requests().await;
    origin.set_base_config("thresholds: {elevated: 0.001, high: 0.999}\n");
    origin.push(40);
    let sync = pull_request_payload("pull_request.synchronize.json", &origin);
    let (status, _) = deliver(&server, "pull_request", "p-sync", &bytes(&sync), SECRET).await;
    assert_eq!(status, 202);
    finished_jobs(&store, "score_pull_request", 2).await;
    assert_eq!(
        requests(&gh, "PATCH", &edits_of(COMMENT_ID)).await.len(),
        1,
        "riskgate edits its own comment"
    );
    assert!(requests(&gh, "PATCH", &edits_of(planted_id))
        .await
        .is_empty());
    assert!(
        requests(&gh, "POST", &comments).await.is_empty(),
        "and posts no other"
    );
    assert!(
        requests(&gh, "GET", "/app").await.is_empty(),
        "the bot's login is cached"
    );
    store.close().await;
}

// ---- merge queues ----------------------------------------------------------------------------

/// A merge queue asks for checks on its group (PR #2 and a PR #3 on top of main): riskgate
/// fetches the group's ref, scores the change the group adds to main and completes its check on
/// the group's head, advisory even when the risk is high.
#[tokio::test(flavor = "multi_thread")]
async fn a_merge_group_gets_a_completed_check() {
    let database = database(Db::Sqlite);
    let data = tempfile::tempdir().unwrap();
    let origin = origin(30, Some(HIGH), None);
    let main_sha = git_in(&origin.bare, &["rev-parse", "refs/heads/main"]);
    // What the queue builds: main, PR #2 merged, PR #3's commit on top, pushed to its own ref.
    let queue = TestRepo {
        dir: tempfile::tempdir().unwrap(),
    };
    queue.git(&["clone", "-q", origin.bare.to_str().unwrap(), "."]);
    queue.git(&["checkout", "-q", "-B", "main", "origin/main"]);
    queue.merge("github", day(2024, 2, 3), "origin/feature");
    queue.write("src/three.rs", TestRepo::lines("t", 7));
    let group_head = queue.commit("dave", day(2024, 2, 3), "Three");
    let head_ref = format!("refs/heads/gh-readonly-queue/main/pr-3-{main_sha}");
    queue.git(&["push", "-q", "origin", &format!("HEAD:{head_ref}")]);

    let gh = fake_github(json!([]), "read").await;
    let server = start_app_for(&origin, &database, &gh.uri(), data.path()).await;
    let store = Store::connect(&database.url).await.unwrap();
    let mut payload = fixture("merge_group.checks_requested.json");
    payload["repository"]["clone_url"] = json!(origin.bare.display().to_string());
    payload["repository"]["default_branch"] = json!("main");
    payload["merge_group"]["head_sha"] = json!(group_head);
    payload["merge_group"]["head_commit"]["id"] = json!(group_head);
    payload["merge_group"]["head_ref"] = json!(head_ref);
    payload["merge_group"]["base_sha"] = json!(main_sha);
    deliver_accepted(&server, "merge_group", "q-1", &payload).await;

    let jobs = finished_jobs(&store, "score_merge_group", 1).await;
    assert_eq!(jobs[0].status, JobStatus::Done, "{:?}", jobs[0].last_error);
    let created = requests(&gh, "POST", &format!("/repos/{OWNER}/{NAME}/check-runs")).await;
    assert_eq!(created.len(), 1);
    let c = body(&created[0]);
    assert_eq!(c["head_sha"], group_head.as_str());
    assert_eq!(c["name"], "riskgate");
    let done = completions(&gh).await;
    assert_eq!(done.len(), 1);
    assert_eq!(
        done[0]["conclusion"], "neutral",
        "a high risk is told, never blocks the queue: {}",
        done[0]
    );
    assert!(
        done[0]["output"]["title"]
            .as_str()
            .unwrap()
            .contains("high"),
        "{}",
        done[0]
    );
    let summary = done[0]["output"]["summary"].as_str().unwrap();
    assert!(
        summary.contains("adds 37 lines"),
        "the group's change, base..head: {summary}"
    );
    assert!(
        summary.contains(&format!("gh-readonly-queue/main/pr-3-{main_sha}")),
        "{summary}"
    );
    assert!(
        done[0].get("actions").is_none(),
        "no Accept risk on a group"
    );
    let mirror = data.path().join(format!("mirrors/{OWNER}/{NAME}.git"));
    assert_eq!(git_in(&mirror, &["rev-parse", &head_ref]), group_head);
    let events = audit(&store).await;
    let conclusion = events
        .iter()
        .find(|e| e.kind == "check_conclusion")
        .expect("the group's conclusion is audited");
    assert_eq!(conclusion.head_sha.as_deref(), Some(group_head.as_str()));
    assert_eq!(conclusion.pr_number, None);
    assert_eq!(
        conclusion.detail["merge_group"],
        format!("gh-readonly-queue/main/pr-3-{main_sha}")
    );
    assert!(
        store.scores_for(&full_name()).await.unwrap().is_empty(),
        "a group is not a pull request: no PR score"
    );
    assert!(
        requests(&gh, "POST", &format!("/repos/{OWNER}/{NAME}/issues"))
            .await
            .is_empty()
    );

    // The queue is done with the group: nothing to do.
    let mut destroyed = payload.clone();
    destroyed["action"] = json!("destroyed");
    destroyed["reason"] = json!("merged");
    let (status, _) = deliver(&server, "merge_group", "q-2", &bytes(&destroyed), SECRET).await;
    assert_eq!(status, 200);
    store.close().await;
}

// ---- artifact size caps ----------------------------------------------------------------------

const MIB: u64 = 1024 * 1024;

/// A zip holding `name` with `size` zero bytes, deflated: about a thousandth of `size`.
fn zip_of_zeros(name: &str, size: u64) -> Vec<u8> {
    use std::io::Write as _;
    let mut buf = std::io::Cursor::new(Vec::new());
    let mut w = zip::ZipWriter::new(&mut buf);
    w.start_file(name, zip::write::SimpleFileOptions::default())
        .unwrap();
    let chunk = vec![0u8; MIB as usize];
    let mut left = size;
    while left > 0 {
        let n = left.min(MIB);
        w.write_all(&chunk[..n as usize]).unwrap();
        left -= n;
    }
    w.finish().unwrap();
    buf.into_inner()
}

/// Rewrites the uncompressed size every header of the archive declares to `declared`.
fn lie_about_sizes(zip: &mut [u8], declared: u32) {
    for i in 0..zip.len().saturating_sub(4) {
        let at = match &zip[i..i + 4] {
            b"PK\x03\x04" => i + 22,
            b"PK\x01\x02" => i + 24,
            _ => continue,
        };
        zip[at..at + 4].copy_from_slice(&declared.to_le_bytes());
    }
}

/// A coverage artifact that unzips to more than 128 MiB while declaring a kilobyte: the job is
/// parked with an error saying so, nothing is stored, and the server goes on serving.
#[tokio::test(flavor = "multi_thread")]
async fn a_zip_bomb_is_refused_and_parked() {
    let database = database(Db::Sqlite);
    let data = tempfile::tempdir().unwrap();
    let origin = origin(
        20,
        Some("coverage: {artifact: coverage-report}\ncomment: never\n"),
        None,
    );
    let mut bomb = zip_of_zeros("reports/lcov.info", 129 * MIB);
    lie_about_sizes(&mut bomb, 1_000);
    assert!(
        (bomb.len() as u64) < MIB,
        "{} bytes unzip to 129 MiB",
        bomb.len()
    );
    let gh = MockServer::start().await;
    mount_artifact_bytes(&gh, 51, bomb.len() as u64, bomb).await;
    mount_github(&gh, json!([]), "read").await;
    let server = start_app_for(&origin, &database, &gh.uri(), data.path()).await;
    let store = Store::connect(&database.url).await.unwrap();

    deliver_own_run(&server, &origin, 51, "z-run", json!([{"number": 2}])).await;
    let jobs = finished_jobs(&store, "coverage", 1).await;
    assert_eq!(jobs[0].status, JobStatus::Parked);
    let error = jobs[0].last_error.as_deref().unwrap_or_default();
    assert!(
        error.contains("reports/lcov.info") && error.contains("larger than 128 MiB"),
        "{error}"
    );
    assert_eq!(jobs[0].attempts, 1, "parked at once, not retried");
    assert!(store
        .coverage_report_for_commit(&full_name(), &origin.head)
        .await
        .unwrap()
        .is_none());
    let health = reqwest::get(format!("{}/healthz", server.base))
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    store.close().await;
}

/// The download itself is capped at 64 MiB: an artifact listed as larger is not downloaded, and
/// one that turns out larger than listed is refused once, not retried.
#[tokio::test(flavor = "multi_thread")]
async fn an_oversized_artifact_is_not_downloaded() {
    let database = database(Db::Sqlite);
    let data = tempfile::tempdir().unwrap();
    let origin = origin(
        20,
        Some("coverage: {artifact: coverage-report}\ncomment: never\n"),
        None,
    );
    let gh = MockServer::start().await;
    mount_artifact_bytes(&gh, 61, 65 * MIB, vec![0; 16]).await;
    mount_artifact_bytes(&gh, 62, 1_000, vec![0; (65 * MIB) as usize]).await;
    mount_github(&gh, json!([]), "read").await;
    let server = start_app_for(&origin, &database, &gh.uri(), data.path()).await;
    let store = Store::connect(&database.url).await.unwrap();

    for (i, run_id) in [61, 62].into_iter().enumerate() {
        deliver_own_run(
            &server,
            &origin,
            run_id,
            &format!("o-run-{run_id}"),
            json!([]),
        )
        .await;
        finished_jobs(&store, "coverage", i + 1).await;
    }
    let jobs = finished_jobs(&store, "coverage", 2).await;
    let errors: Vec<&str> = jobs
        .iter()
        .map(|j| {
            assert_eq!(j.status, JobStatus::Parked, "{j:?}");
            j.last_error.as_deref().unwrap_or_default()
        })
        .collect();
    // Newest first.
    assert!(
        errors[1].contains("is 68157440 bytes, more than the 64 MiB"),
        "{}",
        errors[1]
    );
    assert!(errors[0].contains("larger than 64 MiB"), "{}", errors[0]);
    let downloads = |id: u64| {
        let gh = &gh;
        async move {
            requests(
                gh,
                "GET",
                &format!("/repos/{OWNER}/{NAME}/actions/artifacts/{id}/zip"),
            )
            .await
            .len()
        }
    };
    assert_eq!(
        downloads(610).await,
        0,
        "listed too large: never downloaded"
    );
    assert_eq!(downloads(620).await, 1, "refused once, not retried");
    store.close().await;
}
