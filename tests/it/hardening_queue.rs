//! The job queue under faults: attempts capped in the claim, recovery after a kill -9 within
//! the default lease, deadlines, check runs completed when their job is parked, retention of
//! deliveries, jobs, coverage and mirrors, and two `serve` processes on one PostgreSQL sharing
//! pull requests while one of them is killed. On SQLite and PostgreSQL
//! (`RISKGATE_TEST_DATABASE_URL`), GitHub faked over HTTP.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use riskgate::jobs::plan::{plan, Plan};
use riskgate::jobs::{prune_store, Pruned, RetentionSettings};
use riskgate::store::{
    JobStatus, JobSummary, NewAuditEvent, NewCoverageReport, NewDelivery, NewJob, NewScore,
    Recorded, Store, AUDIT_CHECK_NOT_SCORED, JOB_COVERAGE, JOB_FINISH_CHECK_RUN,
    JOB_SCORE_PULL_REQUEST,
};
use serde_json::{json, Value};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::harness::{
    body, bytes, completions, deliver, deliver_accepted, fake_github, fixture, mount_github,
    origin, pull_request_payload, requests, start_server_env, start_server_for, start_server_with,
    wait_for, CHECK_ID, LONG, NAME, OWNER, SECRET,
};
use crate::support::{database, day, git_in, Database, Db, TestRepo};

const MAX_ATTEMPTS: i64 = 5;
const DAY_MS: i64 = 86_400_000;

fn wall_ms() -> i64 {
    riskgate::time::now_ms()
}

fn full_name() -> String {
    format!("{OWNER}/{NAME}")
}

async fn open(database: &Database) -> Store {
    Store::connect(&database.url).await.expect("open the store")
}

async fn all_jobs(store: &Store) -> Vec<JobSummary> {
    store.list_jobs(None, 1_000).await.unwrap()
}

/// Waits until no job is queued or running: every job the test caused has ended.
async fn wait_until_drained(store: &Store) {
    wait_for("the queue to drain", LONG, || async {
        let counts = store.job_counts().await.unwrap();
        counts["queued"] == 0 && counts["running"] == 0
    })
    .await;
}

// ---- the claim caps attempts ------------------------------------------------------------------

/// A job whose worker dies every time (kill, OOM) is parked by the claim once it has been
/// started the maximum number of times, with an error that says so, and the completion of its
/// check run is queued in the same transaction; concurrent claims park it once.
async fn claim_parks_a_job_that_keeps_killing_its_worker(db: Db) {
    let database = database(db);
    let store = open(&database).await;
    let repo = "octo/widgets";
    let scoring = store
        .enqueue_job(
            &NewJob::score_pull_request(repo, 7, "aaa", json!({"pr": 7})),
            0,
        )
        .await
        .unwrap();
    let coverage = store
        .enqueue_job(&NewJob::new(JOB_COVERAGE, json!({})), 0)
        .await
        .unwrap();
    for attempt in 1..=MAX_ATTEMPTS {
        let t = attempt * 1_000;
        // The scoring job's process dies: its 10 ms lease simply runs out.
        let dying = store
            .claim_job("dies", 10, MAX_ATTEMPTS, t)
            .await
            .unwrap()
            .expect("the scoring job is due");
        assert_eq!((dying.id, dying.attempts), (scoring, attempt));
        // The coverage job fails and is put back at once.
        let failing = store
            .claim_job("fails", 10, MAX_ATTEMPTS, t + 1)
            .await
            .unwrap()
            .expect("the coverage job is due");
        assert_eq!((failing.id, failing.attempts), (coverage, attempt));
        assert!(store
            .retry_job(coverage, "fails", "GitHub answered 502", t + 2, t + 2)
            .await
            .unwrap());
    }

    let mut claims = Vec::new();
    for w in 0..8 {
        let store = store.clone();
        claims.push(tokio::spawn(async move {
            store
                .claim_job(&format!("w{w}"), 60_000, MAX_ATTEMPTS, 10_000)
                .await
                .unwrap()
        }));
    }
    let mut claimed = Vec::new();
    for claim in claims {
        claimed.extend(claim.await.unwrap());
    }
    assert_eq!(
        claimed.len(),
        1,
        "neither job runs a sixth time; only the completion of the check is due: {claimed:?}"
    );
    let finish = &claimed[0];
    assert_eq!(finish.kind, JOB_FINISH_CHECK_RUN);
    assert_eq!(finish.payload, json!({"parked_job": scoring}));
    assert_eq!(
        (
            finish.repository.as_deref(),
            finish.pr_number,
            finish.head_sha.as_deref()
        ),
        (Some(repo), Some(7), Some("aaa"))
    );

    let parked = store.job(scoring).await.unwrap().unwrap();
    assert_eq!(parked.status, JobStatus::Parked);
    assert_eq!(parked.attempts, MAX_ATTEMPTS, "never started a sixth time");
    let error = parked.last_error.clone().unwrap();
    assert!(
        error.starts_with("started 5 times without finishing"),
        "{error}"
    );
    let retried = store.job(coverage).await.unwrap().unwrap();
    assert_eq!(retried.status, JobStatus::Parked);
    assert_eq!(
        retried.last_error.as_deref(),
        Some("tried 5 times; last error: GitHub answered 502")
    );
    let jobs = all_jobs(&store).await;
    assert_eq!(
        jobs.iter()
            .filter(|j| j.kind == JOB_FINISH_CHECK_RUN)
            .count(),
        1,
        "one completion, for the scoring job only, however many claims raced"
    );
    let visible: Vec<i64> = store
        .list_jobs(Some(JobStatus::Parked), 10)
        .await
        .unwrap()
        .iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(visible, vec![coverage, scoring]);

    // Unparked by an operator, it starts afresh.
    assert!(store.unpark_job(scoring, 11_000).await.unwrap());
    let again = store
        .claim_job("w", 60_000, MAX_ATTEMPTS, 11_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((again.id, again.attempts), (scoring, 1));
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_claim_parks_a_job_that_keeps_killing_its_worker() {
    claim_parks_a_job_that_keeps_killing_its_worker(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_claim_parks_a_job_that_keeps_killing_its_worker() {
    claim_parks_a_job_that_keeps_killing_its_worker(Db::Postgres).await;
}

/// Parking a scoring job queues the completion of its check run in the same transaction;
/// parking any other job does not, and only the job's holder can park it.
async fn parking_a_scoring_job_queues_its_check_completion(db: Db) {
    let database = database(db);
    let store = open(&database).await;
    let scoring = store
        .enqueue_job(
            &NewJob::score_pull_request("octo/widgets", 9, "bbb", json!({})),
            0,
        )
        .await
        .unwrap();
    let coverage = store
        .enqueue_job(&NewJob::new(JOB_COVERAGE, json!({})), 0)
        .await
        .unwrap();
    let finishing = |jobs: &[JobSummary]| {
        jobs.iter()
            .filter(|j| j.kind == JOB_FINISH_CHECK_RUN)
            .count()
    };
    let claimed = store
        .claim_job("w", 60_000, MAX_ATTEMPTS, 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.id, scoring);
    assert!(!store.park_job(scoring, "other", "no", 2).await.unwrap());
    assert_eq!(finishing(&all_jobs(&store).await), 0);
    assert!(store
        .park_job(scoring, "w", "GitHub answered 404", 3)
        .await
        .unwrap());
    let jobs = all_jobs(&store).await;
    assert_eq!(finishing(&jobs), 1);
    let finish = jobs
        .iter()
        .find(|j| j.kind == JOB_FINISH_CHECK_RUN)
        .unwrap();
    assert_eq!(finish.status, JobStatus::Queued);
    let finish = store.job(finish.id).await.unwrap().unwrap();
    assert_eq!(finish.payload, json!({"parked_job": scoring}));
    assert_eq!(finish.head_sha.as_deref(), Some("bbb"));

    let claimed = store
        .claim_job("w", 60_000, MAX_ATTEMPTS, 4)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.id, coverage);
    assert!(store.park_job(coverage, "w", "bad zip", 5).await.unwrap());
    assert_eq!(
        finishing(&all_jobs(&store).await),
        1,
        "no check run to complete for a coverage job"
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_parking_a_scoring_job_queues_its_check_completion() {
    parking_a_scoring_job_queues_its_check_completion(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_parking_a_scoring_job_queues_its_check_completion() {
    parking_a_scoring_job_queues_its_check_completion(Db::Postgres).await;
}

// ---- retention in the store ---------------------------------------------------------------------

fn delivery(id: &str) -> NewDelivery {
    NewDelivery {
        id: id.to_string(),
        event: "pull_request".to_string(),
        action: Some("opened".to_string()),
        repository: Some("octo/widgets".to_string()),
        payload: json!({"action": "opened", "delivery": id}).to_string(),
    }
}

fn queued(record: Recorded) -> i64 {
    match record {
        Recorded::Queued { job_ids, .. } if job_ids.len() == 1 => job_ids[0],
        other => panic!("expected a queued job, got {other:?}"),
    }
}

/// On PostgreSQL, a delivery of a newer head that waits for the row of the older head's job
/// while another instance claims that job leaves it running: no longer queued, it is not
/// superseded under its worker.
#[tokio::test(flavor = "multi_thread")]
async fn postgres_a_job_claimed_while_a_newer_head_is_recorded_stays_running() {
    let database = database(Db::Postgres);
    let store = open(&database).await;
    let job = |head: &str| NewJob::score_pull_request("octo/widgets", 1, head, json!({}));
    let older = queued(
        store
            .record_delivery(&delivery("head-a"), &[job("aaa")], 1_000)
            .await
            .unwrap(),
    );
    // Another instance's claim, held open while the newer head is recorded.
    let pool = sqlx::PgPool::connect(&database.url).await.unwrap();
    let mut claim = pool.begin().await.unwrap();
    sqlx::query(
        "UPDATE jobs SET status = 'running', locked_by = 'elsewhere', locked_until = $2, \
         attempts = attempts + 1 WHERE id = $1",
    )
    .bind(older)
    .bind(wall_ms() + 600_000)
    .execute(&mut *claim)
    .await
    .unwrap();
    let recording = {
        let store = store.clone();
        let newer = job("bbb");
        tokio::spawn(async move {
            store
                .record_delivery(&delivery("head-b"), &[newer], 2_000)
                .await
        })
    };
    wait_for(
        "the newer head's delivery to wait for the claimed row",
        LONG,
        || async {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
            )
            .fetch_one(&pool)
            .await
            .unwrap();
            waiting > 0
        },
    )
    .await;
    claim.commit().await.unwrap();
    queued(recording.await.unwrap().unwrap());
    let jobs = all_jobs(&store).await;
    let claimed = jobs.iter().find(|j| j.id == older).unwrap();
    assert_eq!(claimed.status, JobStatus::Running, "{jobs:?}");
    pool.close().await;
    store.close().await;
}

/// Old delivery payloads, finished jobs and replaced coverage reports go, in batches; what
/// scores, the audit trail, training and the queue still read stays.
async fn pruning_keeps_what_is_still_read(db: Db) {
    let database = database(db);
    let store = open(&database).await;
    let repo = "octo/widgets";
    let now = 100 * DAY_MS;
    let old = now - 40 * DAY_MS;
    let recent = now - 2 * DAY_MS;
    let job = |pr: i64, head: &str| NewJob::score_pull_request(repo, pr, head, json!({}));

    let done_old = queued(
        store
            .record_delivery(&delivery("old-done"), &[job(1, "a1")], old)
            .await
            .unwrap(),
    );
    let superseded_old = queued(
        store
            .record_delivery(&delivery("old-superseded"), &[job(2, "b1")], old)
            .await
            .unwrap(),
    );
    let parked_old = queued(
        store
            .record_delivery(&delivery("old-parked"), &[job(3, "c1")], old)
            .await
            .unwrap(),
    );
    store
        .record_delivery(&delivery("old-ping"), &[], old)
        .await
        .unwrap();
    let done_recent = queued(
        store
            .record_delivery(&delivery("recent-done"), &[job(4, "d1")], recent)
            .await
            .unwrap(),
    );
    assert_eq!(
        store.supersede_older(repo, 2, "b2", old + 1).await.unwrap(),
        1
    );
    let claim = |t: i64| {
        let store = store.clone();
        async move {
            store
                .claim_job("w", 60_000, MAX_ATTEMPTS, t)
                .await
                .unwrap()
                .unwrap()
        }
    };
    assert_eq!(claim(old + 2).await.id, done_old);
    assert!(store.complete_job(done_old, "w", old + 2).await.unwrap());
    assert_eq!(claim(old + 3).await.id, parked_old);
    assert!(store
        .park_job(parked_old, "w", "refused", old + 3)
        .await
        .unwrap());
    // The completion of the parked job's check stays queued: the queue is never pruned.
    let finish_queued = all_jobs(&store)
        .await
        .iter()
        .find(|j| j.kind == JOB_FINISH_CHECK_RUN)
        .unwrap()
        .id;
    assert_eq!(claim(recent).await.id, done_recent);
    assert!(store.complete_job(done_recent, "w", recent).await.unwrap());
    assert_eq!(claim(recent).await.id, finish_queued);
    assert!(store
        .retry_job(finish_queued, "w", "later", now * 2, recent)
        .await
        .unwrap());

    let report = |branch: &str, sha: &str| NewCoverageReport {
        repository: repo.into(),
        branch: branch.into(),
        sha: sha.into(),
        format: "lcov".into(),
        report: format!("SF:{sha}\nend_of_record\n"),
    };
    for (r, at) in [
        (report("main", "m1"), old - 10),
        (report("main", "m2"), old),
        (report("main", "m3"), recent),
        (report("feature", "f1"), old),
    ] {
        store.store_coverage_report(&r, at).await.unwrap();
    }
    let mut other = report("main", "o1");
    other.repository = "octo/other".into();
    let o1 = store.store_coverage_report(&other, old).await.unwrap();
    // Old reports that scores still read (a base branch without new runs, a pull request
    // rescored), and one last read long ago.
    let read_lately = store
        .store_coverage_report(&report("release", "r1"), old)
        .await
        .unwrap();
    let read_long_ago = store
        .store_coverage_report(&report("quiet", "q1"), old)
        .await
        .unwrap();
    store
        .mark_coverage_reports_used(&[o1, read_lately], recent)
        .await
        .unwrap();
    store
        .mark_coverage_reports_used(&[read_long_ago], old)
        .await
        .unwrap();
    store
        .record_score(
            &NewScore {
                repository: repo.into(),
                pr_number: 1,
                head_sha: "a1".into(),
                base_sha: "base".into(),
                probability: 0.3,
                band: "elevated".into(),
                model_version: "m".into(),
                features: json!({"la": 3.0}),
                conclusion: "neutral".into(),
                check_run_id: Some(1),
                delivery_id: Some("old-done".into()),
            },
            old,
        )
        .await
        .unwrap();
    store
        .append_audit(&NewAuditEvent {
            at: old,
            repository: repo.into(),
            pr_number: Some(1),
            head_sha: Some("a1".into()),
            kind: "check_conclusion".into(),
            actor: None,
            detail: json!({}),
        })
        .await
        .unwrap();

    let settings = RetentionSettings {
        keep: Duration::from_millis(30 * DAY_MS as u64),
        batch: 1,
        ..RetentionSettings::default()
    };
    let pruned = prune_store(&store, &settings, now).await.unwrap();
    assert_eq!(
        pruned,
        Pruned {
            jobs: 2,
            deliveries: 4,
            coverage_reports: 4,
            mirrors: 0
        },
        "one row at a time, until nothing is left"
    );

    for gone in ["old-done", "old-superseded", "old-ping"] {
        assert!(store.delivery(gone).await.unwrap().is_none(), "{gone}");
    }
    let kept = store.delivery("old-parked").await.unwrap().unwrap();
    assert_eq!(
        kept.payload, "",
        "a parked job's delivery keeps its row, not its payload"
    );
    assert_eq!(
        store
            .delivery("recent-done")
            .await
            .unwrap()
            .unwrap()
            .payload,
        delivery("recent-done").payload
    );
    assert_eq!(
        store
            .record_delivery(&delivery("recent-done"), &[], now)
            .await
            .unwrap(),
        Recorded::Duplicate,
        "recent deliveries are still recognised"
    );
    assert!(store.job(done_old).await.unwrap().is_none());
    assert!(store.job(superseded_old).await.unwrap().is_none());
    assert_eq!(
        store.job(parked_old).await.unwrap().unwrap().status,
        JobStatus::Parked
    );
    assert_eq!(
        store.job(finish_queued).await.unwrap().unwrap().status,
        JobStatus::Queued
    );
    assert_eq!(
        store.job(done_recent).await.unwrap().unwrap().status,
        JobStatus::Done
    );

    assert_eq!(
        store
            .latest_coverage_report(repo, "main")
            .await
            .unwrap()
            .unwrap()
            .sha,
        "m3"
    );
    for gone in ["m1", "m2"] {
        assert!(store
            .coverage_report_for_commit(repo, gone)
            .await
            .unwrap()
            .is_none());
    }
    for (sha, kept, why) in [
        (
            "f1",
            false,
            "the newest report of a branch no score reads goes once old",
        ),
        ("q1", false, "read, but not within the retention period"),
        ("r1", true, "an old report a score read lately stays"),
    ] {
        assert_eq!(
            store
                .coverage_report_for_commit(repo, sha)
                .await
                .unwrap()
                .is_some(),
            kept,
            "{why}"
        );
    }
    assert!(store
        .coverage_report_for_commit("octo/other", "o1")
        .await
        .unwrap()
        .is_some());
    assert_eq!(store.scores_for(repo).await.unwrap().len(), 1);
    assert_eq!(store.audit_events(Some(repo), None).await.unwrap().len(), 1);

    assert_eq!(
        prune_store(&store, &settings, now).await.unwrap(),
        Pruned::default(),
        "a second pass finds nothing"
    );

    // One statement never deletes more than its batch.
    for n in 10..13 {
        let id = store.enqueue_job(&job(n, "x"), old).await.unwrap();
        assert_eq!(claim(old).await.id, id);
        assert!(store.complete_job(id, "w", old).await.unwrap());
    }
    let before = now - 30 * DAY_MS;
    assert_eq!(store.prune_finished_jobs(before, 2).await.unwrap(), 2);
    assert_eq!(store.prune_finished_jobs(before, 2).await.unwrap(), 1);
    assert_eq!(store.prune_finished_jobs(before, 2).await.unwrap(), 0);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_pruning_keeps_what_is_still_read() {
    pruning_keeps_what_is_still_read(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_pruning_keeps_what_is_still_read() {
    pruning_keeps_what_is_still_read(Db::Postgres).await;
}

/// `serve` prunes when it starts, by `RISKGATE_RETENTION_DAYS`.
async fn serve_prunes_by_the_retention_setting(db: Db) {
    let database = database(db);
    let store = open(&database).await;
    let now = wall_ms();
    let ping = |id: &str| NewDelivery {
        event: "ping".into(),
        action: None,
        repository: None,
        ..delivery(id)
    };
    store
        .record_delivery(&ping("forty-days"), &[], now - 40 * DAY_MS)
        .await
        .unwrap();
    store
        .record_delivery(&ping("thirty-two-days"), &[], now - 32 * DAY_MS)
        .await
        .unwrap();
    let gh = fake_github(json!([]), "read").await;
    let data = tempfile::tempdir().unwrap();
    let _server = start_server_with(
        &database,
        &gh.uri(),
        data.path(),
        &[("RISKGATE_RETENTION_DAYS", "35")],
    );
    wait_for("the 40-day-old delivery to be pruned", LONG, || async {
        store.delivery("forty-days").await.unwrap().is_none()
    })
    .await;
    // Both were candidates of the same statement; the setting kept the younger one.
    assert!(store.delivery("thirty-two-days").await.unwrap().is_some());
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_serve_prunes_by_the_retention_setting() {
    serve_prunes_by_the_retention_setting(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_serve_prunes_by_the_retention_setting() {
    serve_prunes_by_the_retention_setting(Db::Postgres).await;
}

// ---- mirrors go with their installation -----------------------------------------------------

fn mirror(data: &Path, full_name: &str) -> PathBuf {
    data.join("mirrors").join(format!("{full_name}.git"))
}

fn bare_repository_at(path: &Path) {
    std::fs::create_dir_all(path).unwrap();
    git_in(path, &["init", "-q", "--bare"]);
}

const INSTALLATION: i64 = 957387;

async fn mirrors_go_with_their_installation(db: Db) {
    let database = database(db);
    let store = open(&database).await;
    let (data_a, data_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let origin = origin(20, Some("comment: never\n"), None);
    let gh = fake_github(json!([]), "read").await;
    let a = start_server_for(&origin, &database, &gh.uri(), data_a.path());

    let mut created = fixture("installation.created.json");
    created["repositories"].as_array_mut().unwrap().push(json!({
        "id": 2, "node_id": "R_2", "name": "Spoon-Knife", "full_name": "Codertocat/Spoon-Knife",
        "private": false
    }));
    deliver_accepted(&a, "installation", "i-created", &created).await;
    wait_for("the installation", LONG, || async {
        store
            .installation(INSTALLATION)
            .await
            .unwrap()
            .is_some_and(|i| i.repositories.len() == 2)
    })
    .await;

    // A scored pull request leaves a mirror of Hello-World behind.
    let opened = pull_request_payload("pull_request.opened.json", &origin);
    let (status, _) = deliver(&a, "pull_request", "i-opened", &bytes(&opened), SECRET).await;
    assert_eq!(status, 202);
    wait_for("the check run", LONG, || async {
        !completions(&gh).await.is_empty()
    })
    .await;
    let hello = mirror(data_a.path(), "Codertocat/Hello-World");
    assert!(hello.join("HEAD").exists(), "scoring made the mirror");
    // Mirrors of the other repository (in both instances' data dirs) and of one the App never
    // had.
    let spoon_a = mirror(data_a.path(), "Codertocat/Spoon-Knife");
    let spoon_b = mirror(data_b.path(), "Codertocat/Spoon-Knife");
    let stranger = mirror(data_a.path(), "someone/else");
    for path in [&spoon_a, &spoon_b, &stranger] {
        bare_repository_at(path);
    }

    let removed = json!({
        "action": "removed",
        "installation": {"id": INSTALLATION, "account": {"login": "Codertocat"}},
        "repository_selection": "selected",
        "repositories_added": [],
        "repositories_removed": [
            {"id": 1296269, "name": "Hello-World", "full_name": "Codertocat/Hello-World"}
        ],
        "sender": {"login": "Codertocat"}
    });
    deliver_accepted(&a, "installation_repositories", "i-removed", &removed).await;
    wait_for("Hello-World's mirror to go", LONG, || async {
        !hello.exists()
    })
    .await;
    wait_until_drained(&store).await;
    assert!(
        spoon_a.exists(),
        "only the removed repository's mirror goes"
    );

    let mut deleted = created.clone();
    deleted["action"] = json!("deleted");
    let (status, _) = deliver(&a, "installation", "i-deleted", &bytes(&deleted), SECRET).await;
    assert_eq!(status, 202);
    wait_for("Spoon-Knife's mirror to go", LONG, || async {
        !spoon_a.exists()
    })
    .await;
    wait_until_drained(&store).await;
    assert!(
        !data_a.path().join("mirrors/Codertocat").exists(),
        "the owner's folder goes with its last mirror"
    );
    assert!(stranger.exists(), "a mirror of another installation stays");
    assert!(store
        .installation(INSTALLATION)
        .await
        .unwrap()
        .unwrap()
        .removed_at
        .is_some());

    // Another instance on the same database removes its own copy when it starts.
    let _b = start_server_for(&origin, &database, &gh.uri(), data_b.path());
    wait_for("the other instance's mirror to go", LONG, || async {
        !spoon_b.exists()
    })
    .await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_mirrors_go_with_their_installation() {
    mirrors_go_with_their_installation(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_mirrors_go_with_their_installation() {
    mirrors_go_with_their_installation(Db::Postgres).await;
}

/// An installation first heard of through `installation_repositories` (the App was installed
/// before this database, or the events came out of order) is recorded from that event, so that
/// the mirrors of the repositories it added still go when the App is uninstalled.
async fn an_installation_first_heard_of_by_its_repositories(db: Db) {
    let database = database(db);
    let store = open(&database).await;
    let data = tempfile::tempdir().unwrap();
    let origin = origin(20, Some("comment: never\n"), None);
    let gh = fake_github(json!([]), "read").await;
    let a = start_server_for(&origin, &database, &gh.uri(), data.path());
    let id = 4242;
    let added = json!({
        "action": "added",
        "installation": {"id": id, "account": {"login": "octo-org"}, "target_type": "Organization"},
        "repository_selection": "selected",
        "repositories_added": [{"id": 3, "name": "shop", "full_name": "octo-org/shop"}],
        "repositories_removed": [],
        "sender": {"login": "octo"}
    });
    deliver_accepted(&a, "installation_repositories", "u-added", &added).await;
    wait_for("the installation", LONG, || async {
        store.installation(id).await.unwrap().is_some()
    })
    .await;
    let known = store.installation(id).await.unwrap().unwrap();
    assert_eq!(
        (
            known.account_login.as_str(),
            known.target_type.as_str(),
            known.repositories.as_slice()
        ),
        (
            "octo-org",
            "Organization",
            ["octo-org/shop".to_string()].as_slice()
        )
    );

    let shop = mirror(data.path(), "octo-org/shop");
    bare_repository_at(&shop);
    // An uninstall of a selection GitHub does not list again.
    let deleted = json!({
        "action": "deleted",
        "installation": {"id": id, "account": {"login": "octo-org"}},
        "sender": {"login": "octo"}
    });
    deliver_accepted(&a, "installation", "u-deleted", &deleted).await;
    wait_for("the added repository's mirror to go", LONG, || async {
        !shop.exists()
    })
    .await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_an_installation_first_heard_of_by_its_repositories() {
    an_installation_first_heard_of_by_its_repositories(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_an_installation_first_heard_of_by_its_repositories() {
    an_installation_first_heard_of_by_its_repositories(Db::Postgres).await;
}

// ---- recovery after kill -9 with the default lease -------------------------------------------------

/// The answer to the first reviews call comes after `delay`: a job is mid-way for that long.
async fn slow_first_reviews(gh: &MockServer, delay: Duration) {
    Mock::given(method("GET"))
        .and(path_regex(r"/pulls/\d+/reviews$"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([]))
                .set_delay(delay),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(gh)
        .await;
}

async fn killed_serve_recovers_within_a_minute(db: Db) {
    let database = database(db);
    let store = open(&database).await;
    let data = tempfile::tempdir().unwrap();
    let origin = origin(300, None, None);
    let gh = MockServer::start().await;
    slow_first_reviews(&gh, Duration::from_secs(300)).await;
    mount_github(&gh, json!([]), "read").await;
    // The default lease, not the tests' short one.
    let default_lease = ["RISKGATE_JOB_LEASE_SECS"];
    let git_url = [("RISKGATE_GIT_URL", origin.git_url())];
    let git_url: Vec<(&str, &str)> = git_url.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let first = start_server_env(&database, &gh.uri(), data.path(), &git_url, &default_lease);
    let opened = pull_request_payload("pull_request.opened.json", &origin);
    let (status, _) = deliver(&first, "pull_request", "k-opened", &bytes(&opened), SECRET).await;
    assert_eq!(status, 202);
    wait_for("the job to be mid-way (the reviews call)", LONG, || async {
        !requests(
            &gh,
            "GET",
            &format!("/repos/{OWNER}/{NAME}/pulls/2/reviews"),
        )
        .await
        .is_empty()
    })
    .await;
    let killed = Instant::now();
    drop(first); // SIGKILL: no chance to finish or hand the job back
    assert!(completions(&gh).await.is_empty());

    let _second = start_server_env(&database, &gh.uri(), data.path(), &git_url, &default_lease);
    wait_for(
        "the second process to complete the check run",
        Duration::from_secs(60),
        || async { !completions(&gh).await.is_empty() },
    )
    .await;
    let recovered = killed.elapsed();
    eprintln!("check run completed {recovered:?} after the kill -9");
    assert!(recovered < Duration::from_secs(60), "{recovered:?}");
    wait_until_drained(&store).await;
    let done = completions(&gh).await;
    assert_eq!(done.len(), 1, "completed once: {done:?}");
    assert!(
        done[0]["output"]["title"]
            .as_str()
            .unwrap()
            .contains("% risk"),
        "a real score: {}",
        done[0]
    );
    assert_eq!(
        requests(&gh, "POST", &format!("/repos/{OWNER}/{NAME}/check-runs"))
            .await
            .len(),
        1,
        "the resumed job completed the check run the killed one created"
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_killed_serve_recovers_within_a_minute() {
    killed_serve_recovers_within_a_minute(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_killed_serve_recovers_within_a_minute() {
    killed_serve_recovers_within_a_minute(Db::Postgres).await;
}

// ---- deadlines ----------------------------------------------------------------------------------

/// Scoring that runs past `RISKGATE_SCORE_TIMEOUT_SECS` is stopped and its check completed as
/// `neutral`, saying so and how to re-run, long before the stalled call would have answered.
async fn scoring_past_its_deadline_ends_neutral(db: Db) {
    let database = database(db);
    let store = open(&database).await;
    let data = tempfile::tempdir().unwrap();
    // Default settings: high risk fails the check; running out of time still does not.
    let origin = origin(20, None, None);
    let gh = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path_regex(r"/pulls/\d+/reviews$"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([]))
                .set_delay(Duration::from_secs(60)),
        )
        .with_priority(1)
        .mount(&gh)
        .await;
    mount_github(&gh, json!([]), "read").await;
    let server = start_server_with(
        &database,
        &gh.uri(),
        data.path(),
        &[
            ("RISKGATE_SCORE_TIMEOUT_SECS", "1"),
            ("RISKGATE_GIT_URL", &origin.git_url()),
        ],
    );
    let opened = pull_request_payload("pull_request.opened.json", &origin);
    let (status, _) = deliver(&server, "pull_request", "t-opened", &bytes(&opened), SECRET).await;
    assert_eq!(status, 202);
    wait_for(
        "the check to complete before the stalled call answers",
        Duration::from_secs(30),
        || async { !completions(&gh).await.is_empty() },
    )
    .await;
    wait_until_drained(&store).await;
    let done = completions(&gh).await;
    assert_eq!(done.len(), 1, "{done:?}");
    let check = &done[0];
    assert_eq!(check["conclusion"], "neutral", "{check}");
    assert_eq!(check["output"]["title"], "riskgate: not scored in time");
    let summary = check["output"]["summary"].as_str().unwrap();
    assert!(
        summary.contains("could not score this change in time") && summary.contains("Re-run"),
        "{summary}"
    );
    assert_eq!(
        requests(&gh, "POST", &format!("/repos/{OWNER}/{NAME}/check-runs"))
            .await
            .len(),
        1
    );
    let parked = store.list_jobs(Some(JobStatus::Parked), 10).await.unwrap();
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].kind, JOB_SCORE_PULL_REQUEST);
    assert_eq!(
        parked[0].last_error.as_deref(),
        Some("ran past its time limit of 1 s and was stopped")
    );
    let audit = store.audit_events(Some(&full_name()), None).await.unwrap();
    let event = audit
        .iter()
        .find(|e| e.kind == AUDIT_CHECK_NOT_SCORED)
        .expect("audited");
    assert_eq!(event.detail["conclusion"], "neutral");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_scoring_past_its_deadline_ends_neutral() {
    scoring_past_its_deadline_ends_neutral(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_scoring_past_its_deadline_ends_neutral() {
    scoring_past_its_deadline_ends_neutral(Db::Postgres).await;
}

// ---- a parked job completes its check run ---------------------------------------------------------

/// GitHub refuses the reviews call (404): the scoring job is parked after it created its check
/// run, and the check is completed, not left in progress: `failure` by default (high risk fails
/// the check), `neutral` where `.github/riskgate.yml` says `high_risk: neutral`.
async fn parked_scoring_completes_its_check(db: Db, base_config: Option<&str>, expected: &str) {
    let database = database(db);
    let store = open(&database).await;
    let data = tempfile::tempdir().unwrap();
    let origin = origin(20, base_config, None);
    let gh = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path_regex(r"/pulls/\d+/reviews$"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"})))
        .with_priority(1)
        .mount(&gh)
        .await;
    mount_github(&gh, json!([]), "read").await;
    let server = start_server_for(&origin, &database, &gh.uri(), data.path());
    let opened = pull_request_payload("pull_request.opened.json", &origin);
    let (status, _) = deliver(&server, "pull_request", "p-opened", &bytes(&opened), SECRET).await;
    assert_eq!(status, 202);
    wait_for("the check run to be completed", LONG, || async {
        !completions(&gh).await.is_empty()
    })
    .await;
    wait_until_drained(&store).await;
    let done = completions(&gh).await;
    assert_eq!(done.len(), 1, "{done:?}");
    let check = &done[0];
    assert_eq!(check["conclusion"], expected, "{check}");
    assert_eq!(
        check["output"]["title"],
        "riskgate: could not score this change"
    );
    let summary = check["output"]["summary"].as_str().unwrap();
    assert!(
        summary.contains("404") && summary.contains("Re-run") && summary.contains("push"),
        "{summary}"
    );
    let parked = store.list_jobs(Some(JobStatus::Parked), 10).await.unwrap();
    assert_eq!(parked.len(), 1);
    assert!(parked[0].last_error.as_deref().unwrap().contains("404"));
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_parked_scoring_fails_its_check_where_high_risk_fails() {
    parked_scoring_completes_its_check(Db::Sqlite, Some("comment: never\n"), "failure").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_parked_scoring_fails_its_check_where_high_risk_fails() {
    parked_scoring_completes_its_check(Db::Postgres, None, "failure").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_parked_scoring_is_neutral_where_high_risk_advises() {
    parked_scoring_completes_its_check(Db::Sqlite, Some("high_risk: neutral\n"), "neutral").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_parked_scoring_is_neutral_where_high_risk_advises() {
    parked_scoring_completes_its_check(Db::Postgres, Some("high_risk: neutral\n"), "neutral").await;
}

/// Jobs that were started the maximum number of times by processes that died each time are
/// not run again when `serve` starts: they are parked, and their check runs completed (the
/// one they created, or a new one for the job that died before creating it).
async fn serve_parks_a_job_that_kept_killing_its_worker(db: Db) {
    let database = database(db);
    let store = open(&database).await;
    let data = tempfile::tempdir().unwrap();
    let origin = origin(20, None, None);
    let now = wall_ms();
    let mut job_ids = Vec::new();
    let other_head = "3".repeat(40);
    for (number, head) in [(2, origin.head.clone()), (3, other_head.clone())] {
        let mut opened = pull_request_payload("pull_request.opened.json", &origin);
        opened["number"] = json!(number);
        opened["pull_request"]["number"] = json!(number);
        opened["pull_request"]["head"]["sha"] = json!(head);
        let event = riskgate::github::events::parse_event("pull_request", &bytes(&opened)).unwrap();
        let Plan::Queue(jobs) = plan(&event) else {
            panic!("an opened pull request is scored")
        };
        job_ids.push(store.enqueue_job(&jobs[0], now - 60_000).await.unwrap());
    }
    for attempt in 0..MAX_ATTEMPTS {
        for &id in &job_ids {
            let t = now - 50_000 + attempt * 1_000;
            let claimed = store
                .claim_job("killed", 10, MAX_ATTEMPTS, t)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(claimed.id, id);
        }
    }
    // The first one had created its check run before its process died.
    assert!(store
        .save_job_state(
            job_ids[0],
            "killed",
            &json!({"check_run_id": CHECK_ID}),
            now
        )
        .await
        .unwrap());

    let gh = fake_github(json!([]), "read").await;
    // The check run the first job made before it kept dying.
    gh.seed_check_run(
        &format!("{OWNER}/{NAME}"),
        CHECK_ID,
        json!({"status": "in_progress", "name": "riskgate"}),
    );
    let _server = start_server_for(&origin, &database, &gh.uri(), data.path());
    wait_for("both check runs to be completed", LONG, || async {
        completions(&gh).await.len() >= 2
    })
    .await;
    wait_until_drained(&store).await;
    let done = completions(&gh).await;
    assert_eq!(done.len(), 2, "{done:?}");
    for check in &done {
        assert_eq!(
            check["conclusion"], "failure",
            "default settings, risk unknown: {check}"
        );
        let summary = check["output"]["summary"].as_str().unwrap();
        assert!(
            summary.contains("started 5 times without finishing"),
            "{summary}"
        );
    }
    let created = requests(&gh, "POST", &format!("/repos/{OWNER}/{NAME}/check-runs")).await;
    assert_eq!(
        created.len(),
        1,
        "a check run only for the job that had none"
    );
    assert_eq!(body(&created[0])["head_sha"], other_head.as_str());
    assert!(
        requests(&gh, "GET", &format!("/repos/{OWNER}/{NAME}/pulls"))
            .await
            .is_empty(),
        "the jobs were not run a sixth time"
    );
    for id in &job_ids {
        let job = store.job(*id).await.unwrap().unwrap();
        assert_eq!(job.status, JobStatus::Parked);
        assert_eq!(job.attempts, MAX_ATTEMPTS);
    }
    let audit = store.audit_events(Some(&full_name()), None).await.unwrap();
    assert_eq!(
        audit
            .iter()
            .filter(|e| e.kind == AUDIT_CHECK_NOT_SCORED)
            .count(),
        2
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_serve_parks_a_job_that_kept_killing_its_worker() {
    serve_parks_a_job_that_kept_killing_its_worker(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_serve_parks_a_job_that_kept_killing_its_worker() {
    serve_parks_a_job_that_kept_killing_its_worker(Db::Postgres).await;
}

// ---- two processes on one PostgreSQL, one killed ----------------------------------------------------

/// A repository with main and one branch per pull request, each head adding its own file.
struct ManyPulls {
    _work: TestRepo,
    _dir: tempfile::TempDir,
    bare: PathBuf,
    /// The `RISKGATE_GIT_URL` that serves `bare`.
    git_url: String,
    heads: BTreeMap<u64, String>,
}

fn many_pulls(numbers: impl IntoIterator<Item = u64>) -> ManyPulls {
    let work = TestRepo::new();
    work.write("src/app.rs", TestRepo::lines("l", 50));
    work.write(".github/riskgate.yml", "comment: never\n");
    work.commit("alice", day(2024, 1, 1), "Import");
    let dir = tempfile::tempdir().unwrap();
    let bare = dir.path().join(OWNER).join(format!("{NAME}.git"));
    git_in(
        dir.path(),
        &[
            "clone",
            "-q",
            "--bare",
            work.path().to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
    let mut heads = BTreeMap::new();
    for n in numbers {
        let branch = format!("pr{n}");
        work.git(&["checkout", "-q", "-b", &branch, "main"]);
        work.write(
            &format!("src/feature{n}.rs"),
            TestRepo::lines("f", 10 * n as usize),
        );
        let head = work.commit("carol", day(2024, 2, n as i64), &format!("Feature {n}"));
        git_in(
            &bare,
            &[
                "fetch",
                "-q",
                work.path().to_str().unwrap(),
                &format!("{branch}:{branch}"),
            ],
        );
        git_in(
            &bare,
            &["update-ref", &format!("refs/pull/{n}/head"), &head],
        );
        heads.insert(n, head);
    }
    ManyPulls {
        _work: work,
        git_url: format!("file://{}", dir.path().display()),
        _dir: dir,
        bare,
        heads,
    }
}

fn opened_pull(bare: &Path, number: u64, head: &str) -> Value {
    let mut v = fixture("pull_request.opened.json");
    v["repository"]["clone_url"] = json!(bare.display().to_string());
    v["repository"]["default_branch"] = json!("main");
    v["number"] = json!(number);
    v["pull_request"]["number"] = json!(number);
    v["pull_request"]["head"]["sha"] = json!(head);
    v["pull_request"]["base"]["ref"] = json!("main");
    v["pull_request"]["labels"] = json!([]);
    v["pull_request"]["user"]["login"] = json!("carol");
    v
}

/// Check run ids that tell the pull requests apart: 1000 + the number in `external_id`.
struct CheckRunPerPull;

impl Respond for CheckRunPerPull {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let number = body(request)["external_id"]
            .as_str()
            .and_then(|e| e.rsplit_once('#'))
            .and_then(|(_, n)| n.parse::<u64>().ok())
            .unwrap_or(0);
        ResponseTemplate::new(201).set_body_json(json!({"id": 1000 + number}))
    }
}

/// Two `serve` processes share pull requests on one PostgreSQL; one is killed (SIGKILL) while
/// it runs scoring jobs. Every pull request's check is created and completed exactly once for
/// its head, every job ends done, and the killed process's jobs are finished by the other.
#[tokio::test(flavor = "multi_thread")]
async fn postgres_two_serves_share_pull_requests_while_one_is_killed() {
    let database = database(Db::Postgres);
    let store = open(&database).await;
    let numbers: Vec<u64> = (2..=7).collect();
    let pulls = many_pulls(numbers.iter().copied());
    let gh = MockServer::start().await;
    let repo_path = format!("/repos/{OWNER}/{NAME}");
    Mock::given(method("POST"))
        .and(path_regex(format!(r"^{repo_path}/check-runs$")))
        .respond_with(CheckRunPerPull)
        .with_priority(1)
        .mount(&gh)
        .await;
    Mock::given(method("PATCH"))
        .and(path_regex(format!(r"^{repo_path}/check-runs/\d+$")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .with_priority(1)
        .mount(&gh)
        .await;
    // Every scoring job spends two seconds waiting for reviews: both processes are mid-job
    // most of the time.
    Mock::given(method("GET"))
        .and(path_regex(r"/pulls/\d+/reviews$"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([]))
                .set_delay(Duration::from_secs(2)),
        )
        .with_priority(1)
        .mount(&gh)
        .await;
    mount_github(&gh, json!([]), "read").await;
    let (data_a, data_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let git_url = [("RISKGATE_GIT_URL", pulls.git_url.as_str())];
    let a = start_server_with(&database, &gh.uri(), data_a.path(), &git_url);
    let b = start_server_with(&database, &gh.uri(), data_b.path(), &git_url);
    let (pid_a, pid_b) = (a.child.id(), b.child.id());
    for &n in &numbers {
        let server = if n % 2 == 0 { &a } else { &b };
        let payload = opened_pull(&pulls.bare, n, &pulls.heads[&n]);
        let (status, text) = deliver(
            server,
            "pull_request",
            &format!("two-{n}"),
            &bytes(&payload),
            SECRET,
        )
        .await;
        assert_eq!(status, 202, "{text}");
    }

    // Kill A once every job it runs has created its check run (so the check runs it made are
    // in the jobs' state), and it runs at least one.
    let held_by = |job: &riskgate::store::Job, pid: u32| {
        job.locked_by
            .as_deref()
            .is_some_and(|w| w.contains(&format!("-{pid}-")))
    };
    let killed_jobs = std::sync::Mutex::new(Vec::new());
    wait_for("A to be mid-way through its jobs", LONG, || async {
        let mut mine = Vec::new();
        for summary in store
            .list_jobs(Some(JobStatus::Running), 100)
            .await
            .unwrap()
        {
            let job = store.job(summary.id).await.unwrap().unwrap();
            if job.status == JobStatus::Running && held_by(&job, pid_a) {
                mine.push(job);
            }
        }
        let ready = !mine.is_empty()
            && mine
                .iter()
                .all(|j| j.state.as_ref().is_some_and(|s| s["check_run_id"].is_u64()));
        if ready {
            *killed_jobs.lock().unwrap() = mine.iter().map(|j| j.id).collect();
        }
        ready
    })
    .await;
    drop(a); // SIGKILL
    let killed_jobs = killed_jobs.into_inner().unwrap();

    wait_for("every pull request's check run completed", LONG, || async {
        let done = requests(&gh, "PATCH", &format!("{repo_path}/check-runs/")).await;
        numbers.iter().all(|n| {
            done.iter().any(|r| {
                r.url.path().ends_with(&format!("/{}", 1000 + n))
                    && body(r)["status"] == "completed"
            })
        })
    })
    .await;
    wait_until_drained(&store).await;

    let created = requests(&gh, "POST", &format!("{repo_path}/check-runs")).await;
    let patched = requests(&gh, "PATCH", &format!("{repo_path}/check-runs/")).await;
    let scores = store.scores_for(&full_name()).await.unwrap();
    for &n in &numbers {
        let head = &pulls.heads[&n];
        let made: Vec<&Request> = created
            .iter()
            .filter(|r| body(r)["head_sha"] == head.as_str())
            .collect();
        assert_eq!(made.len(), 1, "PR #{n}: one check run for its head");
        let completed = patched
            .iter()
            .filter(|r| {
                r.url.path().ends_with(&format!("/{}", 1000 + n))
                    && body(r)["status"] == "completed"
            })
            .count();
        assert_eq!(completed, 1, "PR #{n}: completed exactly once");
        let scored: Vec<_> = scores.iter().filter(|s| s.pr_number == n as i64).collect();
        assert_eq!(scored.len(), 1, "PR #{n}: scored once");
        assert_eq!(&scored[0].head_sha, head);
    }
    let counts = store.job_counts().await.unwrap();
    assert_eq!(counts["done"], numbers.len() as i64, "{counts:?}");
    assert_eq!(counts["parked"], 0, "{counts:?}");
    for id in killed_jobs {
        let job = store.job(id).await.unwrap().unwrap();
        assert_eq!(job.status, JobStatus::Done);
        assert!(
            held_by(&job, pid_b),
            "the killed process's job was finished by the other: {:?}",
            job.locked_by
        );
    }
    drop(b);
    store.close().await;
}
