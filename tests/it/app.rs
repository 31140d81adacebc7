//! The App end to end, on SQLite and on PostgreSQL (`RISKGATE_TEST_DATABASE_URL`): in this
//! process, save where a process is what is tested (killed mid-job, `setup`).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::harness::*;
use crate::support::{database, git_in, riskgate, Db, TestRepo};

async fn opened_then_synchronize(db: Db) {
    let database = database(db);
    let data = tempfile::tempdir().unwrap();
    // Thresholds low enough that the change is high risk whatever the model's version.
    let mut origin = origin(
        2_000,
        Some("thresholds: {elevated: 0.001, high: 0.002}\n"),
        None,
    );
    let gh = fake_github(json!([]), "read").await;
    let server = start_app_for(&origin, &database, &gh.uri(), data.path()).await;

    let opened = pull_request_payload("pull_request.opened.json", &origin);
    let (status, text) =
        deliver(&server, "pull_request", "d-opened", &bytes(&opened), SECRET).await;
    assert_eq!(status, 202, "{text}");
    wait_for("the check run to complete", LONG, || async {
        !completions(&gh).await.is_empty()
    })
    .await;

    let created = requests(&gh, "POST", &format!("/repos/{OWNER}/{NAME}/check-runs")).await;
    assert_eq!(created.len(), 1, "one check run for the head");
    let c = body(&created[0]);
    assert_eq!(c["head_sha"], origin.head.as_str());
    assert_eq!(c["status"], "in_progress");
    assert_eq!(c["name"], "riskgate");
    let done = completions(&gh).await;
    let d = &done[0];
    assert_eq!(
        d["conclusion"], "failure",
        "a high band fails the check: {d}"
    );
    assert!(
        d["output"]["title"].as_str().unwrap().contains("high"),
        "{d}"
    );
    assert!(
        d["output"]["summary"]
            .as_str()
            .unwrap()
            .contains("adds 2,000 lines"),
        "{d}"
    );
    assert_eq!(d["actions"][0]["identifier"], "accept_risk");
    // The comment follows the check's completion.
    wait_for("the sticky comment", LONG, || async {
        !requests(
            &gh,
            "POST",
            &format!("/repos/{OWNER}/{NAME}/issues/2/comments"),
        )
        .await
        .is_empty()
    })
    .await;
    let posted = requests(
        &gh,
        "POST",
        &format!("/repos/{OWNER}/{NAME}/issues/2/comments"),
    )
    .await;
    assert_eq!(posted.len(), 1, "a high band asks for the sticky comment");
    let comment = body(&posted[0])["body"].as_str().unwrap().to_string();
    assert!(comment.starts_with(riskgate::github::render::MARKER));

    // A push: the new head is scored and the comment found by its marker is edited. The
    // comment is held as a riskgate from before the band was recorded wrote it: a marker
    // without a band counts as other advice (a comment that recorded `high` would be left
    // alone, `tests/it/settings.rs`).
    gh.reset().await;
    let comment = comment.replacen(
        &riskgate::github::render::marker(riskgate::model::Band::High),
        "<!-- riskgate:sticky-comment -->",
        1,
    );
    assert!(
        comment.starts_with("<!-- riskgate:sticky-comment -->\n"),
        "{comment}"
    );
    let existing = json!([{ "id": COMMENT_ID, "body": comment, "user": {"login": "riskgate[bot]", "type": "Bot"} }]);
    mount_github(&gh, existing, "read").await;
    let new_head = origin.push(10);
    let sync = pull_request_payload("pull_request.synchronize.json", &origin);
    let (status, _) = deliver(&server, "pull_request", "d-sync", &bytes(&sync), SECRET).await;
    assert_eq!(status, 202);
    wait_for("the new head's check run", LONG, || async {
        !completions(&gh).await.is_empty()
    })
    .await;
    let created = requests(&gh, "POST", &format!("/repos/{OWNER}/{NAME}/check-runs")).await;
    assert_eq!(created.len(), 1);
    assert_eq!(body(&created[0])["head_sha"], new_head.as_str());
    wait_for("the comment edit", LONG, || async {
        !requests(
            &gh,
            "PATCH",
            &format!("/repos/{OWNER}/{NAME}/issues/comments/{COMMENT_ID}"),
        )
        .await
        .is_empty()
    })
    .await;
    assert!(
        requests(
            &gh,
            "POST",
            &format!("/repos/{OWNER}/{NAME}/issues/2/comments")
        )
        .await
        .is_empty(),
        "edited, not reposted"
    );

    // The same delivery again: acknowledged, not processed.
    let (status, text) = deliver(&server, "pull_request", "d-sync", &bytes(&sync), SECRET).await;
    assert_eq!(status, 200, "{text}");
    server.wait_until_drained().await;
    assert_eq!(
        requests(&gh, "POST", &format!("/repos/{OWNER}/{NAME}/check-runs"))
            .await
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_opened_then_synchronize() {
    opened_then_synchronize(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_opened_then_synchronize() {
    opened_then_synchronize(Db::Postgres).await;
}

async fn refusals(db: Db) {
    let database = database(db);
    let data = tempfile::tempdir().unwrap();
    let gh = fake_github(json!([]), "read").await;
    let server = start_app(&database, &gh.uri(), data.path()).await;
    let body = bytes(&fixture("installation.created.json"));
    let (status, _) = deliver(
        &server,
        "installation",
        "d-bad-sig",
        &body,
        "not-the-secret",
    )
    .await;
    assert_eq!(status, 401, "bad signature");
    let unsigned = reqwest::Client::new()
        .post(format!("{}/api/github/webhooks", server.base))
        .header("x-github-event", "ping")
        .header("x-github-delivery", "d-unsigned")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status().as_u16(), 401, "missing signature");
    let (status, text) = deliver(
        &server,
        "pull_request",
        "d-malformed",
        b"{\"action\": ",
        SECRET,
    )
    .await;
    assert_eq!(status, 400, "{text}");
    let huge = vec![b' '; 26 * 1024 * 1024];
    let (status, _) = deliver(&server, "pull_request", "d-huge", &huge, SECRET).await;
    assert_eq!(status, 413);
    let (status, _) = deliver(
        &server,
        "ping",
        "d-ping",
        b"{\"zen\": \"Keep it logically awesome.\"}",
        SECRET,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = deliver(&server, "star", "d-star", b"null", SECRET).await;
    assert_eq!(
        status, 200,
        "unknown events are understood and need no work"
    );
    let missing = reqwest::Client::new()
        .post(format!("{}/api/github/webhooks", server.base))
        .header(
            "x-hub-signature-256",
            riskgate::github::webhook::sign(SECRET.as_bytes(), b"{}"),
        )
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(
        missing.status().as_u16(),
        400,
        "no event or delivery header"
    );
    // Installation recorded by the worker.
    let (status, _) = deliver(&server, "installation", "d-install", &body, SECRET).await;
    assert_eq!(status, 202);
    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(format!("{}/healthz", server.base))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    assert_eq!(
        client
            .get(format!("{}/readyz", server.base))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    let metrics = client
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("riskgate_webhook_deliveries_total{event=\"installation\"}"),
        "{metrics}"
    );
    // An event riskgate does not read is counted under `other`, not a name of the sender's.
    assert!(
        metrics.contains("riskgate_webhook_deliveries_total{event=\"other\"}")
            && !metrics.contains("event=\"star\""),
        "{metrics}"
    );
    assert!(
        metrics.contains("riskgate_jobs{status=\"queued\"}")
            || metrics.contains("riskgate_jobs{status=\"done\"}"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_refusals_and_operations() {
    refusals(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_refusals_and_operations() {
    refusals(Db::Postgres).await;
}

async fn killed_mid_job(db: Db) {
    let database = database(db);
    let data = tempfile::tempdir().unwrap();
    let origin = origin(300, None, None);
    let gh = MockServer::start().await;
    // The reviews call hangs, so the first server is killed after creating the check run and
    // before completing it.
    Mock::given(method("GET"))
        .and(path_regex(r"/pulls/\d+/reviews$"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([]))
                .set_delay(Duration::from_secs(30)),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&gh)
        .await;
    mount_github(&gh, json!([]), "read").await;
    let server = start_server_for(&origin, &database, &gh.uri(), data.path());
    let opened = pull_request_payload("pull_request.opened.json", &origin);
    let (status, _) = deliver(&server, "pull_request", "d-kill", &bytes(&opened), SECRET).await;
    assert_eq!(status, 202);
    wait_for("the check run to be created", LONG, || async {
        !requests(&gh, "POST", &format!("/repos/{OWNER}/{NAME}/check-runs"))
            .await
            .is_empty()
    })
    .await;
    wait_for("the reviews call", LONG, || async {
        !requests(
            &gh,
            "GET",
            &format!("/repos/{OWNER}/{NAME}/pulls/2/reviews"),
        )
        .await
        .is_empty()
    })
    .await;
    drop(server); // SIGKILL: no chance to finish or requeue
    assert!(completions(&gh).await.is_empty());
    let restarted = start_server_for(&origin, &database, &gh.uri(), data.path());
    wait_for(
        "the resumed job to complete the check run",
        LONG,
        || async { !completions(&gh).await.is_empty() },
    )
    .await;
    let created = requests(&gh, "POST", &format!("/repos/{OWNER}/{NAME}/check-runs")).await;
    assert_eq!(created.len(), 1, "the resumed job reused its check run");
    restarted.wait_until_drained().await;
    assert_eq!(completions(&gh).await.len(), 1, "completed exactly once");
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_killed_mid_job_completes_once() {
    killed_mid_job(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_killed_mid_job_completes_once() {
    killed_mid_job(Db::Postgres).await;
}

/// Every delivery answered 202 is on disk with its jobs, even when `riskgate serve` is killed
/// (SIGKILL) in the middle of a burst: deliveries that arrive together share a commit, and
/// each is answered only after the commit that holds it.
async fn killed_mid_burst_loses_no_accepted_delivery(db: Db) {
    const TOTAL: usize = 400;
    const SENDERS: usize = 16;
    const KILL_AFTER: usize = 80;
    let database = database(db);
    let data = tempfile::tempdir().unwrap();
    let origin = origin(10, None, None);
    // A GitHub that answers nothing useful: the workers run, fail and retry, as they may.
    let gh = MockServer::start().await;
    let server = start_server_for(&origin, &database, &gh.uri(), data.path());
    let url = format!("{}/api/github/webhooks", server.base);
    // Four heads of one pull request, so that the burst also supersedes.
    let bodies: Vec<Vec<u8>> = (0..4)
        .map(|h| {
            let mut v = pull_request_payload("pull_request.opened.json", &origin);
            v["pull_request"]["head"]["sha"] = json!(format!("{h:040x}"));
            bytes(&v)
        })
        .collect();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (enough_tx, mut enough) = tokio::sync::watch::channel(false);
    let client = reqwest::Client::new();
    let mut senders = Vec::new();
    for s in 0..SENDERS {
        let (client, url, bodies, accepted, enough_tx) = (
            client.clone(),
            url.clone(),
            bodies.clone(),
            accepted.clone(),
            enough_tx.clone(),
        );
        senders.push(tokio::spawn(async move {
            // (delivery id, the answer's text) of each 202
            let mut answered = Vec::new();
            for i in (s..TOTAL).step_by(SENDERS) {
                let id = format!("burst-{i}");
                let body = bodies[i % bodies.len()].clone();
                let signature = riskgate::github::webhook::sign(SECRET.as_bytes(), &body);
                let sent = client
                    .post(&url)
                    .header("x-github-event", "pull_request")
                    .header("x-github-delivery", &id)
                    .header("x-hub-signature-256", signature)
                    .body(body)
                    .send()
                    .await;
                let Ok(response) = sent else { break };
                let status = response.status().as_u16();
                let Ok(text) = response.text().await else {
                    break;
                };
                assert_eq!(status, 202, "{id}: {text}");
                answered.push((id, text));
                if accepted.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1 >= KILL_AFTER {
                    let _ = enough_tx.send(true);
                }
            }
            answered
        }));
    }
    drop(enough_tx);
    let _ = enough.wait_for(|e| *e).await;
    drop(server); // SIGKILL, with requests in flight
    let mut answered = Vec::new();
    for sender in senders {
        answered.extend(sender.await.unwrap());
    }
    assert!(answered.len() >= KILL_AFTER, "{} accepted", answered.len());
    assert!(
        answered.len() < TOTAL,
        "the kill came after the burst: nothing was in flight"
    );

    let store = riskgate::store::Store::connect(&database.url)
        .await
        .unwrap();
    for (id, text) in &answered {
        let delivery = store.delivery(id).await.unwrap();
        let delivery =
            delivery.unwrap_or_else(|| panic!("{id} was answered 202 ({text}) but is not stored"));
        assert_eq!(delivery.event, "pull_request");
        let payload: Value = serde_json::from_str(&delivery.payload).unwrap();
        assert_eq!(payload["action"], "opened", "{id}: the body is kept whole");
        let job_ids: Vec<i64> = text
            .trim()
            .strip_prefix("queued job ")
            .unwrap_or_else(|| panic!("{id}: {text}"))
            .split(", ")
            .map(|n| n.parse().unwrap())
            .collect();
        assert!(!job_ids.is_empty());
        for job_id in job_ids {
            let job = store.job(job_id).await.unwrap();
            let job =
                job.unwrap_or_else(|| panic!("{id}: job {job_id} was answered but is not stored"));
            assert_eq!(job.delivery_id.as_deref(), Some(id.as_str()));
        }
    }
    eprintln!(
        "{} of {TOTAL} deliveries answered 202 before the kill, all of them stored",
        answered.len()
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_killed_mid_burst_loses_no_accepted_delivery() {
    killed_mid_burst_loses_no_accepted_delivery(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_killed_mid_burst_loses_no_accepted_delivery() {
    killed_mid_burst_loses_no_accepted_delivery(Db::Postgres).await;
}

async fn github_faults(db: Db) {
    let database = database(db);
    let data = tempfile::tempdir().unwrap();
    let origin = origin(40, None, None);
    let gh = MockServer::start().await;
    let repo = format!("/repos/{OWNER}/{NAME}");
    Mock::given(method("POST"))
        .and(path(format!("{repo}/check-runs")))
        .respond_with(ResponseTemplate::new(502))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&gh)
        .await;
    Mock::given(method("PATCH"))
        .and(path(format!("{repo}/check-runs/{CHECK_ID}")))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("retry-after", "1")
                .set_body_json(json!({"message": "You have exceeded a secondary rate limit."})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&gh)
        .await;
    mount_github(&gh, json!([]), "read").await;
    let server = start_app_for(&origin, &database, &gh.uri(), data.path()).await;
    let opened = pull_request_payload("pull_request.opened.json", &origin);
    let started = Instant::now();
    let (status, _) = deliver(&server, "pull_request", "d-faults", &bytes(&opened), SECRET).await;
    assert_eq!(status, 202);
    // The first completing PATCH is refused with 403 retry-after: 1; the second goes through.
    wait_for("completion despite the faults", LONG, || async {
        completions(&gh).await.len() >= 2
    })
    .await;
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "retry-after was honoured"
    );
    server.wait_until_drained().await;
    assert_eq!(
        completions(&gh).await.len(),
        2,
        "refused once, then accepted; no more"
    );
    assert_eq!(
        requests(&gh, "POST", &format!("{repo}/check-runs"))
            .await
            .len(),
        2,
        "502, then 201"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_github_faults_are_retried() {
    github_faults(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_github_faults_are_retried() {
    github_faults(Db::Postgres).await;
}

async fn base_config_and_accept_risk(db: Db) {
    let database = database(db);
    let data = tempfile::tempdir().unwrap();
    // The base branch makes 30 lines high risk; the PR tries to raise the bar and advise only.
    let origin = origin(
        30,
        Some("thresholds: {elevated: 0.001, high: 0.002}\ncomment: never\n"),
        Some("thresholds: {elevated: 0.98, high: 0.99}\nhigh_risk: neutral\ncomment: never\n"),
    );
    let gh = fake_github(json!([]), "read").await;
    let server = start_app_for(&origin, &database, &gh.uri(), data.path()).await;
    let opened = pull_request_payload("pull_request.opened.json", &origin);
    let (status, _) = deliver(&server, "pull_request", "d-config", &bytes(&opened), SECRET).await;
    assert_eq!(status, 202);
    wait_for("the check run", LONG, || async {
        !completions(&gh).await.is_empty()
    })
    .await;
    assert_eq!(
        completions(&gh).await[0]["conclusion"],
        "failure",
        "the base branch's settings win"
    );
    // A comment would be written after the check is completed: wait for the job to end.
    server.wait_until_drained().await;
    assert!(
        requests(
            &gh,
            "POST",
            &format!("/repos/{OWNER}/{NAME}/issues/2/comments")
        )
        .await
        .is_empty(),
        "comment: never"
    );

    // "Accept risk" pressed by someone with read access only.
    let action = accept_risk_payload(&origin, &opened, "mallory");
    deliver_accepted(&server, "check_run", "d-accept", &action).await;
    wait_for("the permission check", LONG, || async {
        !requests(
            &gh,
            "GET",
            &format!("/repos/{OWNER}/{NAME}/collaborators/mallory/permission"),
        )
        .await
        .is_empty()
    })
    .await;
    let store = riskgate::store::Store::connect(&database.url)
        .await
        .unwrap();
    server.wait_until_drained().await;
    let refused = store
        .audit_events(Some(&format!("{OWNER}/{NAME}")), None)
        .await
        .unwrap();
    let event = refused
        .iter()
        .find(|e| e.kind == "risk_acceptance_refused")
        .expect("the refusal is audited");
    assert_eq!(event.actor.as_deref(), Some("mallory"));
    assert_eq!(
        completions(&gh).await.len(),
        1,
        "the check is not turned to success"
    );
    assert!(
        refused.iter().any(|e| e.kind == "check_conclusion"),
        "the conclusion is audited too"
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_base_config_wins_and_accept_risk_needs_write() {
    base_config_and_accept_risk(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_base_config_wins_and_accept_risk_needs_write() {
    base_config_and_accept_risk(Db::Postgres).await;
}

/// A mirror that lacks an object its refs reach (a damaged disk, a fetch cut short) is not
/// mended by an ordinary fetch, since git takes the object to be there: the failed scoring
/// marks it, the retry fetches it whole, and the pull request is scored.
#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_mirror_is_fetched_whole_again_and_scored() {
    let database = database(Db::Sqlite);
    let data = tempfile::tempdir().unwrap();
    let origin = origin(40, None, None);
    // The mirror as an earlier fetch left it, less the blob of the file the pull request adds.
    let (mirror, blob) = mirror_lacking(
        data.path(),
        &origin,
        "refs/pull/2/head:src/payments/charge.rs",
    );
    assert!(lacks(&mirror, &blob), "the mirror starts without the blob");

    let gh = fake_github(json!([]), "read").await;
    let server = start_app_for(&origin, &database, &gh.uri(), data.path()).await;
    let opened = pull_request_payload("pull_request.opened.json", &origin);
    let (status, _) = deliver(
        &server,
        "pull_request",
        "d-damaged",
        &bytes(&opened),
        SECRET,
    )
    .await;
    assert_eq!(status, 202);
    let scored = awaited_score(&database, "the score after the refetch").await;
    assert_eq!(scored.features["la"], 40.0);
    assert!(!lacks(&mirror, &blob), "the blob was fetched");
    assert!(
        !mirror.join("riskgate/refetch").exists(),
        "the mark is gone"
    );
    server.wait_until_drained().await;
}

/// The App's mirror of `origin` in `data`, as an earlier fetch left it but for the blob at
/// `rev` (`<rev>:<path>`): the mirror and the blob's id.
fn mirror_lacking(data: &Path, origin: &Origin, rev: &str) -> (std::path::PathBuf, String) {
    let mirror = data.join("mirrors").join(OWNER).join(format!("{NAME}.git"));
    std::fs::create_dir_all(mirror.parent().unwrap()).unwrap();
    let url = format!("file://{}", origin.bare.display());
    git_in(
        data,
        &["clone", "-q", "--mirror", &url, mirror.to_str().unwrap()],
    );
    let blob = git_in(&mirror, &["rev-parse", rev]);
    let kept: String = git_in(&mirror, &["rev-list", "--objects", "--all"])
        .lines()
        .filter_map(|l| l.split(' ').next())
        .filter(|id| *id != blob)
        .map(|id| format!("{id}\n"))
        .collect();
    let pack = pipe_git(&mirror, &["pack-objects", "--stdout"], kept.as_bytes());
    for old in std::fs::read_dir(mirror.join("objects/pack")).unwrap() {
        std::fs::remove_file(old.unwrap().path()).unwrap();
    }
    pipe_git(&mirror, &["index-pack", "--stdin"], &pack);
    (mirror, blob)
}

/// Whether the repository at `dir` lacks object `id`.
fn lacks(dir: &Path, id: &str) -> bool {
    !Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["cat-file", "-e", id])
        .status()
        .unwrap()
        .success()
}

/// A mirror that lacks its base branch's `.mailmap` is scored, with a warning, and marked:
/// the next score fetches the mirror whole and tells the authors apart as the file says.
#[tokio::test(flavor = "multi_thread")]
async fn a_mirror_without_its_mailmap_is_fetched_whole_at_the_next_score() {
    let database = database(Db::Sqlite);
    let data = tempfile::tempdir().unwrap();
    // carol, who writes the pull request, committed main's first version as alice.
    let origin = origin_with(
        &[
            (
                ".mailmap",
                "Carol <carol@example.com> <alice@example.com>\n".into(),
            ),
            ("src/app.rs", TestRepo::lines("l", 50)),
        ],
        &[("src/app.rs", TestRepo::lines("l", 60))],
    );
    let (mirror, blob) = mirror_lacking(data.path(), &origin, "refs/heads/main:.mailmap");
    let gh = fake_github(json!([]), "read").await;
    let server = start_app_for(&origin, &database, &gh.uri(), data.path()).await;
    let opened = bytes(&pull_request_payload("pull_request.opened.json", &origin));

    let (status, _) = deliver(&server, "pull_request", "d-mailmap-1", &opened, SECRET).await;
    assert_eq!(status, 202);
    let first = awaited_score(&database, "the first score").await;
    assert_eq!(
        first.features["exp"], 0.0,
        "alice's commit is someone else's"
    );
    let done = completions(&gh).await;
    let summary = done[0]["output"]["summary"].to_string();
    // In the App's words: the reviewer has no clone to run git in.
    assert!(
        summary.contains("lacks the content of its committed .mailmap")
            && summary.contains("fetched whole again before the next score")
            && !summary.contains("git cat-file"),
        "{}",
        done[0]
    );
    assert!(mirror.join("riskgate/refetch").exists(), "marked");
    server.wait_until_drained().await;

    let (status, _) = deliver(&server, "pull_request", "d-mailmap-2", &opened, SECRET).await;
    assert_eq!(status, 202);
    wait_for("the second score", LONG, || async {
        completions(&gh).await.len() >= 2
    })
    .await;
    server.wait_until_drained().await;
    let second = awaited_score(&database, "the second score").await;
    assert_eq!(
        second.features["exp"], 1.0,
        "carol's own commit, under alice's address"
    );
    assert!(!lacks(&mirror, &blob));
    let done = completions(&gh).await;
    assert!(
        !done[1]["output"]["summary"]
            .to_string()
            .contains(".mailmap"),
        "{}",
        done[1]
    );
}

/// `git -C dir args` fed `input`; its standard output.
fn pipe_git(dir: &Path, args: &[&str], input: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut child = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success(), "git {args:?}");
    out.stdout
}

/// The App's mirror is bare, and the `.gitattributes` committed on the base branch apply there
/// as in a checkout of it: a lock file it marks `-diff` adds no lines to the score. The pull
/// request's own attributes do not apply: it cannot mark its own code binary.
#[tokio::test(flavor = "multi_thread")]
async fn the_base_branchs_attributes_apply_in_the_mirror() {
    let database = database(Db::Sqlite);
    let data = tempfile::tempdir().unwrap();
    let origin = origin_with(
        &[
            (".gitattributes", "*.lock -diff\n".into()),
            ("deps.lock", TestRepo::lines("dependency ", 10)),
            ("src/app.rs", TestRepo::lines("l", 50)),
        ],
        &[
            (".gitattributes", "*.lock -diff\n*.rs -diff\n".into()),
            ("deps.lock", TestRepo::lines("dependency ", 2000)),
            ("src/app.rs", TestRepo::lines("l", 53)),
        ],
    );
    let gh = fake_github(json!([]), "read").await;
    let server = start_app_for(&origin, &database, &gh.uri(), data.path()).await;
    let opened = pull_request_payload("pull_request.opened.json", &origin);
    let (status, _) = deliver(&server, "pull_request", "d-attrs", &bytes(&opened), SECRET).await;
    assert_eq!(status, 202);
    let features = awaited_score(&database, "the score").await.features;
    // src/app.rs's 3 lines and the pull request's own .gitattributes line; the lock file is
    // a file with no lines.
    assert_eq!(features["la"], 4.0, "{features}");
    assert_eq!(features["nf"], 3.0, "{features}");
    server.wait_until_drained().await;
}

async fn coverage_artifact_then_accept(db: Db) {
    let database = database(db);
    let data = tempfile::tempdir().unwrap();
    let origin = origin(
        20,
        Some("coverage: {artifact: coverage-report}\ncomment: never\n"),
        None,
    );
    let gh = MockServer::start().await;
    let repo = format!("/repos/{OWNER}/{NAME}");
    // 20 added lines of src/payments/charge.rs, 10 of them run by the tests.
    let mut lcov = String::from("SF:src/payments/charge.rs\n");
    for l in 1..=20 {
        lcov += &format!("DA:{l},{}\n", u32::from(l <= 10));
    }
    lcov += "end_of_record\n";
    Mock::given(method("GET"))
        .and(path(format!("{repo}/actions/runs/31/artifacts")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "total_count": 1,
            "artifacts": [{"id": 5, "name": "coverage-report", "size_in_bytes": 100, "expired": false}]
        })))
        .mount(&gh)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{repo}/actions/artifacts/5/zip")))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("location", format!("{}/blob/5", gh.uri()).as_str()),
        )
        .mount(&gh)
        .await;
    Mock::given(method("GET"))
        .and(path("/blob/5"))
        .respond_with(
            ResponseTemplate::new(200).set_body_bytes(zip_with("reports/lcov.info", &lcov)),
        )
        .mount(&gh)
        .await;
    mount_github(&gh, json!([]), "write").await;
    let server = start_app_for(&origin, &database, &gh.uri(), data.path()).await;
    let opened = pull_request_payload("pull_request.opened.json", &origin);
    let run = json!({
        "action": "completed",
        "workflow_run": {"id": 31, "head_sha": origin.head, "head_branch": "feature", "conclusion": "success",
                          "pull_requests": [{"number": 2}]},
        "repository": opened["repository"],
        "installation": {"id": 1},
    });
    deliver_accepted(&server, "workflow_run", "d-run", &run).await;
    wait_for("the rescore with coverage", LONG, || async {
        !completions(&gh).await.is_empty()
    })
    .await;
    let summary = completions(&gh).await[0]["output"]["summary"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(summary.contains("patch coverage 50.0%"), "{summary}");

    // "Accept risk" by someone with write access turns the check to success, naming them.
    let action = accept_risk_payload(&origin, &opened, "maintainer");
    let (status, _) = deliver(&server, "check_run", "d-accept-ok", &bytes(&action), SECRET).await;
    assert_eq!(status, 202);
    wait_for("the accepted check", LONG, || async {
        completions(&gh).await.len() >= 2
    })
    .await;
    let accepted = completions(&gh).await.pop().unwrap();
    assert_eq!(accepted["conclusion"], "success");
    assert!(
        accepted["output"]["title"]
            .as_str()
            .unwrap()
            .contains("@maintainer"),
        "{accepted}"
    );
    let store = riskgate::store::Store::connect(&database.url)
        .await
        .unwrap();
    let events = store
        .audit_events(Some(&format!("{OWNER}/{NAME}")), None)
        .await
        .unwrap();
    assert!(events
        .iter()
        .any(|e| e.kind == "risk_accepted" && e.actor.as_deref() == Some("maintainer")));
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_coverage_artifact_and_accepted_risk() {
    coverage_artifact_then_accept(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_coverage_artifact_and_accepted_risk() {
    coverage_artifact_then_accept(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn setup_registers_the_app_from_the_manifest() {
    let gh = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/app-manifests/one-time-code/conversions"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": 99, "slug": "riskgate-test", "pem": "-----BEGIN RSA PRIVATE KEY-----\nkey\n-----END RSA PRIVATE KEY-----\n",
            "webhook_secret": "s3cret", "html_url": "https://github.com/apps/riskgate-test"
        })))
        .mount(&gh)
        .await;
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(riskgate())
        .args([
            "setup",
            "--public-url",
            "https://risk.example.com",
            "--listen",
            "127.0.0.1:0",
        ])
        .env("RISKGATE_GITHUB_API_URL", gh.uri())
        .env("RISKGATE_DATA_DIR", data.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .trim_end_matches('/')
        .to_string();
    let page = reqwest::get(format!("{base}/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("https://github.com/settings/apps/new?state="),
        "{page}"
    );
    assert!(
        page.contains("https://risk.example.com/api/github/webhooks"),
        "{page}"
    );
    let state = page
        .split("state=")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let wrong = reqwest::get(format!(
        "{base}/setup/callback?code=one-time-code&state=forged"
    ))
    .await
    .unwrap();
    assert_eq!(wrong.status().as_u16(), 400);
    let done = reqwest::get(format!(
        "{base}/setup/callback?code=one-time-code&state={state}"
    ))
    .await
    .unwrap();
    assert_eq!(done.status().as_u16(), 200);
    assert!(done.text().await.unwrap().contains("riskgate-test"));
    let status = child.wait().unwrap();
    assert!(status.success(), "setup exits once the App is registered");
    let env = std::fs::read_to_string(data.path().join("app.env")).unwrap();
    assert!(
        env.contains("RISKGATE_APP_ID=99") && env.contains("RISKGATE_WEBHOOK_SECRET='s3cret'"),
        "{env}"
    );
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(data.path().join("app-private-key.pem"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o077,
        0,
        "the private key is readable by its owner only"
    );
}

async fn skip_label_and_invalid_config(db: Db) {
    let database = database(db);
    let data = tempfile::tempdir().unwrap();
    let gh = fake_github(json!([]), "read").await;
    let mut labelled = origin(
        20,
        Some("comment: never\nskip_label: no-risk-check\n"),
        None,
    );
    let server = start_app_for(&labelled, &database, &gh.uri(), data.path()).await;
    let mut opened = pull_request_payload("pull_request.opened.json", &labelled);
    opened["pull_request"]["labels"] = json!([{"name": "no-risk-check"}]);
    let (status, _) = deliver(&server, "pull_request", "d-skip", &bytes(&opened), SECRET).await;
    assert_eq!(status, 202);
    wait_for("the skipped check", LONG, || async {
        !completions(&gh).await.is_empty()
    })
    .await;
    assert_eq!(
        completions(&gh).await[0]["conclusion"],
        "skipped",
        "a skip label never fakes a success"
    );

    gh.reset().await;
    mount_github(&gh, json!([]), "read").await;
    // The same repository, now with an invalid configuration on its base branch.
    labelled.take_refs_of(&origin(20, Some("comment: sometimes\n"), None));
    let opened = pull_request_payload("pull_request.opened.json", &labelled);
    let (status, _) = deliver(&server, "pull_request", "d-broken", &bytes(&opened), SECRET).await;
    assert_eq!(status, 202);
    wait_for("the config failure", LONG, || async {
        !completions(&gh).await.is_empty()
    })
    .await;
    let done = completions(&gh).await;
    assert_eq!(done[0]["conclusion"], "failure");
    let summary = done[0]["output"]["summary"].as_str().unwrap();
    assert!(
        summary.contains(".github/riskgate.yml") && summary.contains("sometimes"),
        "{summary}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_skip_label_and_invalid_config() {
    skip_label_and_invalid_config(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_skip_label_and_invalid_config() {
    skip_label_and_invalid_config(Db::Postgres).await;
}

/// A model file replaced while `serve` runs (as `train --promote-if-better` replaces it) is
/// used for the next score, and each stored score names the model that made it.
#[tokio::test(flavor = "multi_thread")]
async fn a_replaced_model_file_is_used_without_a_restart() {
    let database = database(Db::Sqlite);
    let data = tempfile::tempdir().unwrap();
    let mut origin = origin(200, None, None);
    let gh = fake_github(json!([]), "read").await;
    let shipped: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("model/model.json"))
            .unwrap(),
    )
    .unwrap();
    let model_path = data.path().join("model.json");
    let write_model = |version: &str| {
        let mut m = shipped.clone();
        m["version"] = json!(version);
        let tmp = data.path().join("model.json.tmp");
        std::fs::write(&tmp, m.to_string()).unwrap();
        std::fs::rename(&tmp, &model_path).unwrap();
    };
    write_model("first-model");
    let server = start_app_with(
        &database,
        &gh.uri(),
        data.path(),
        &[
            ("RISKGATE_MODEL", model_path.to_str().unwrap()),
            ("RISKGATE_GIT_URL", &origin.git_url()),
        ],
    )
    .await;
    let store = riskgate::store::Store::connect(&database.url)
        .await
        .unwrap();
    let latest_version = || {
        let store = store.clone();
        async move {
            store
                .latest_score(&format!("{OWNER}/{NAME}"), 2)
                .await
                .unwrap()
                .map(|s| (s.head_sha, s.model_version))
        }
    };

    let opened = pull_request_payload("pull_request.opened.json", &origin);
    let (status, text) =
        deliver(&server, "pull_request", "m-opened", &bytes(&opened), SECRET).await;
    assert_eq!(status, 202, "{text}");
    wait_for("the first score", LONG, || async {
        latest_version().await.is_some()
    })
    .await;
    assert_eq!(latest_version().await.unwrap().1, "first-model");

    write_model("promoted-model");
    let new_head = origin.push(5);
    let sync = pull_request_payload("pull_request.synchronize.json", &origin);
    let (status, _) = deliver(&server, "pull_request", "m-sync", &bytes(&sync), SECRET).await;
    assert_eq!(status, 202);
    wait_for("the new head's score", LONG, || async {
        latest_version()
            .await
            .is_some_and(|(head, _)| head == new_head)
    })
    .await;
    assert_eq!(latest_version().await.unwrap().1, "promoted-model");
    let checks = completions(&gh).await;
    assert!(
        checks.iter().any(|c| c["output"]["summary"]
            .as_str()
            .unwrap_or("")
            .contains("promoted-model")),
        "the check names the model: {checks:?}"
    );
    store.close().await;
}
