//! The store on a real SQLite file and a real PostgreSQL.
//!
//! How to run:
//!
//! ```sh
//! eval "$(scripts/test-db.sh)"     # starts the local PostgreSQL 15, prints the URL
//! cargo test --test it store::
//! ```
//!
//! Every test is written once, as an async fn taking a [`Db`], and runs twice:
//! `sqlite::NAME` on a fresh file in a temp dir, `postgres::NAME` on a fresh
//! database created for it (the role in `RISKGATE_TEST_DATABASE_URL` needs
//! CREATEDB) and dropped afterwards. Without `RISKGATE_TEST_DATABASE_URL` the
//! PostgreSQL tests fail; they never pass without having run.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};

use riskgate::store::{
    Backend, Job, JobKind, JobStatus, NewAuditEvent, NewCoverageReport, NewDelivery,
    NewInstallation, NewJob, NewScore, PreparedDelivery, Recorded, Store, StoreError,
    AUDIT_CHECK_CONCLUSION, AUDIT_RISK_ACCEPTED, JOB_COVERAGE, JOB_FINISH_CHECK_RUN,
    JOB_RECORD_INSTALLATION,
};
use serde_json::json;

const DATABASE_URL_VAR: &str = "RISKGATE_TEST_DATABASE_URL";

/// A store on a database of the test's own, and the URL that opens it.
struct Db {
    store: Store,
    url: String,
}

async fn on_sqlite<F, Fut>(test: F)
where
    F: FnOnce(Db) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let dir = tempfile::tempdir().expect("temp dir");
    let url = riskgate::store::sqlite_url_in(dir.path());
    let store = Store::connect(&url).await.expect("open the SQLite store");
    assert_eq!(store.backend(), Backend::Sqlite);
    test(Db {
        store: store.clone(),
        url,
    })
    .await;
    store.close().await;
}

async fn on_postgres<F, Fut>(test: F)
where
    F: FnOnce(Db) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let base = std::env::var(DATABASE_URL_VAR).unwrap_or_else(|_| {
        panic!(
            "{DATABASE_URL_VAR} is not set: the PostgreSQL store tests need a database \
             (run `eval \"$(scripts/test-db.sh)\"` first)"
        )
    });
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let name = format!(
        "riskgate_test_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let admin = sqlx::PgPool::connect(&base)
        .await
        .unwrap_or_else(|e| panic!("connect to {DATABASE_URL_VAR}: {e}"));
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .expect("create a database for the test");
    let url = with_database(&base, &name);
    let outcome =
        match Store::connect(&url).await {
            Ok(store) => {
                assert_eq!(store.backend(), Backend::Postgres);
                let outcome = tokio::spawn(test(Db {
                    store: store.clone(),
                    url,
                }))
                .await;
                store.close().await;
                outcome.map_err(|e| e.into_panic())
            }
            Err(e) => Err(Box::new(format!("open the PostgreSQL store: {e}"))
                as Box<dyn std::any::Any + Send>),
        };
    // FORCE cannot end a backend of another role (autovacuum on a fresh database, say): try
    // again shortly, and let a database that still will not go be only a leftover.
    for attempt in 1..=5 {
        match sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&admin)
            .await
        {
            Ok(_) => break,
            Err(e) if attempt == 5 => eprintln!("could not drop the test database {name}: {e}"),
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
        }
    }
    admin.close().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// `base` with its database name replaced by `name`.
fn with_database(base: &str, name: &str) -> String {
    let (url, query) = match base.split_once('?') {
        Some((url, query)) => (url, Some(query)),
        None => (base, None),
    };
    let authority_end = url
        .find("://")
        .map(|i| i + 3)
        .and_then(|start| url[start..].find('/').map(|i| start + i))
        .unwrap_or(url.len());
    let mut out = format!("{}/{name}", &url[..authority_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// Runs each named test on both backends: `sqlite::NAME` and `postgres::NAME`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::on_sqlite(super::$name).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::on_postgres(super::$name).await
                }
            )*
        }
    };
}

on_both_backends!(
    migrations_apply_twice,
    duplicate_delivery_is_recorded_once,
    concurrent_duplicate_deliveries_queue_one_job,
    a_delivery_its_jobs_and_supersedes_are_one_transaction,
    a_batch_of_deliveries_records_what_one_at_a_time_would,
    a_burst_of_heads_never_supersedes_the_newest,
    batches_over_many_pull_requests_from_two_instances_never_fail_on_each_other,
    a_batch_leaves_a_head_queued_after_its_own,
    concurrent_workers_claim_each_job_once,
    a_job_of_an_unknown_kind_is_parked_when_claimed,
    expired_lease_is_reclaimed_with_its_state,
    retry_park_unpark_requeue_complete,
    only_the_holder_finishes_a_job,
    supersede_touches_only_queued_jobs_of_the_same_pull_request,
    audit_trail_refuses_update_and_delete,
    job_counts_by_status,
    installations_lifecycle,
    scores_latest_and_by_repository,
    coverage_reports_by_branch_and_commit,
    a_coverage_job_stores_and_rescores_once,
    what_releases_shipped_is_replaced_by_its_difference,
);

const REPO: &str = "octo/widgets";
/// Claims of one job before the claim parks it instead.
const MAX_ATTEMPTS: i64 = 5;

fn delivery(id: &str) -> NewDelivery {
    NewDelivery {
        id: id.to_string(),
        event: "pull_request".to_string(),
        action: Some("opened".to_string()),
        repository: Some(REPO.to_string()),
        payload: json!({"action": "opened", "number": 7}).to_string(),
    }
}

fn score_job(pr: i64, sha: &str) -> NewJob {
    NewJob::score_pull_request(REPO, pr, sha, json!({"installation_id": 1, "pr": pr}))
}

async fn enqueue_many(store: &Store, n: usize) -> Vec<i64> {
    let mut ids = Vec::new();
    for i in 0..n {
        let job = score_job(i as i64 + 1, &format!("{i:040x}"));
        ids.push(store.enqueue_job(&job, 1_000).await.unwrap());
    }
    ids
}

async fn job(store: &Store, id: i64) -> Job {
    store.job(id).await.unwrap().expect("job exists")
}

/// Executes `sql` on the test database bypassing the store.
async fn raw_execute(db: &Db, sql: &str) -> Result<u64, sqlx::Error> {
    match db.store.backend() {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url).await?;
            let result = sqlx::query(sql).execute(&pool).await;
            pool.close().await;
            Ok(result?.rows_affected())
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await?;
            let result = sqlx::query(sql).execute(&pool).await;
            pool.close().await;
            Ok(result?.rows_affected())
        }
    }
}

async fn migrations_apply_twice(db: Db) {
    db.store
        .record_delivery(&delivery("d-1"), &[], 5)
        .await
        .unwrap();
    let again = Store::connect(&db.url)
        .await
        .expect("connecting again re-runs migrations harmlessly");
    again.ping().await.unwrap();
    assert_eq!(again.backend(), db.store.backend());
    let stored = again.delivery("d-1").await.unwrap().expect("data kept");
    assert_eq!(stored.received_at, 5);
    again.close().await;
    db.store.ping().await.unwrap();
}

async fn duplicate_delivery_is_recorded_once(db: Db) {
    let store = &db.store;
    let first = store
        .record_delivery(&delivery("d-1"), &[score_job(7, "aaa")], 10)
        .await
        .unwrap();
    let Recorded::Queued { job_ids, .. } = first else {
        panic!("expected a queued job, got {first:?}");
    };
    let job_id = job_ids[0];

    let mut repeat = delivery("d-1");
    repeat.payload = "{\"changed\": true}".to_string();
    let second = store
        .record_delivery(&repeat, &[score_job(7, "aaa")], 20)
        .await
        .unwrap();
    assert_eq!(second, Recorded::Duplicate);

    let jobs = store.list_jobs(None, 100).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].id, job_id);
    let stored = store.delivery("d-1").await.unwrap().unwrap();
    assert_eq!(stored.payload, delivery("d-1").payload, "first body kept");
    assert_eq!(stored.received_at, 10);

    let queued = job(store, job_id).await;
    assert_eq!(queued.delivery_id.as_deref(), Some("d-1"));
    assert_eq!(queued.status, JobStatus::Queued);
    assert_eq!(queued.attempts, 0);
    assert_eq!(queued.run_after, 10);
    assert_eq!(queued.payload, json!({"installation_id": 1, "pr": 7}));

    let ping = NewDelivery {
        event: "ping".to_string(),
        action: None,
        repository: None,
        ..delivery("d-2")
    };
    assert_eq!(
        store.record_delivery(&ping, &[], 30).await.unwrap(),
        Recorded::Stored
    );
    assert_eq!(
        store.record_delivery(&ping, &[], 31).await.unwrap(),
        Recorded::Duplicate
    );
    assert_eq!(store.list_jobs(None, 100).await.unwrap().len(), 1);
}

async fn concurrent_duplicate_deliveries_queue_one_job(db: Db) {
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = db.store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .record_delivery(&delivery("same"), &[score_job(7, "aaa")], 100 + i)
                .await
                .unwrap()
        }));
    }
    let mut queued = 0;
    let mut duplicates = 0;
    for task in tasks {
        match task.await.unwrap() {
            Recorded::Queued { .. } => queued += 1,
            Recorded::Duplicate => duplicates += 1,
            Recorded::Stored => panic!("a job was given"),
        }
    }
    assert_eq!((queued, duplicates), (1, 7));
    assert_eq!(db.store.list_jobs(None, 100).await.unwrap().len(), 1);
}

/// A job insert that fails halfway through a delivery (a trigger stands in for a crash)
/// leaves nothing behind: no delivery, no first job, no superseded older head. The same
/// delivery sent again (GitHub's redelivery) then stores everything.
async fn a_delivery_its_jobs_and_supersedes_are_one_transaction(db: Db) {
    let store = &db.store;
    let older_head = store.enqueue_job(&score_job(7, "old"), 1).await.unwrap();
    let jobs = [
        score_job(7, "new"),
        score_job(8, "new"),
        NewJob::new(JOB_RECORD_INSTALLATION, json!({"installation_id": 1})),
    ];
    let refuse_pr_8 = match db.store.backend() {
        Backend::Sqlite => vec![
            "CREATE TRIGGER refuse_pr_8 BEFORE INSERT ON jobs WHEN NEW.pr_number = 8 \
             BEGIN SELECT RAISE(ABORT, 'crash between two jobs'); END",
        ],
        Backend::Postgres => vec![
            "CREATE FUNCTION refuse_pr_8() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN IF NEW.pr_number = 8 THEN RAISE EXCEPTION 'crash between two jobs'; END IF; \
             RETURN NEW; END $$",
            "CREATE TRIGGER refuse_pr_8 BEFORE INSERT ON jobs FOR EACH ROW \
             EXECUTE FUNCTION refuse_pr_8()",
        ],
    };
    for sql in refuse_pr_8 {
        raw_execute(&db, sql).await.unwrap();
    }

    let failed = store.record_delivery(&delivery("d-many"), &jobs, 10).await;
    assert!(
        failed.is_err(),
        "the second job could not be stored: {failed:?}"
    );
    assert!(
        store.delivery("d-many").await.unwrap().is_none(),
        "no delivery is kept without its jobs, so a redelivery is not a duplicate"
    );
    let left = store.list_jobs(None, 100).await.unwrap();
    assert_eq!(
        left.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![older_head],
        "the first job went with the rest"
    );
    assert_eq!(job(store, older_head).await.status, JobStatus::Queued);

    let drop_trigger = match db.store.backend() {
        Backend::Sqlite => "DROP TRIGGER refuse_pr_8",
        Backend::Postgres => "DROP TRIGGER refuse_pr_8 ON jobs",
    };
    raw_execute(&db, drop_trigger).await.unwrap();
    let Recorded::Queued {
        job_ids,
        superseded,
    } = store
        .record_delivery(&delivery("d-many"), &jobs, 20)
        .await
        .unwrap()
    else {
        panic!("the redelivery queues its jobs");
    };
    assert_eq!(job_ids.len(), 3);
    assert_eq!(superseded, 1, "the older head of PR 7");
    assert_eq!(job(store, older_head).await.status, JobStatus::Superseded);
    for (id, given) in job_ids.iter().zip(&jobs) {
        let stored = job(store, *id).await;
        assert_eq!(stored.delivery_id.as_deref(), Some("d-many"));
        assert_eq!(stored.kind, given.kind);
        assert_eq!(stored.pr_number, given.pr_number);
        assert_eq!(stored.status, JobStatus::Queued);
    }
}

/// Deliveries recorded together, in one transaction, leave what recording them one after the
/// other leaves: a repeated id (in the batch or from before) is a duplicate and writes nothing,
/// jobs come back in order, and a later head supersedes every earlier one, those of the batch
/// included, while a head that comes back keeps only its last run of jobs.
async fn a_batch_of_deliveries_records_what_one_at_a_time_would(db: Db) {
    let store = &db.store;
    assert!(matches!(
        store
            .record_delivery(&delivery("seen"), &[score_job(1, "h0")], 1)
            .await
            .unwrap(),
        Recorded::Queued { .. }
    ));
    let older_pr_2 = store.enqueue_job(&score_job(2, "h2"), 1).await.unwrap();
    let older_pr_3 = store.enqueue_job(&score_job(3, "h3-old"), 1).await.unwrap();
    let body = |id: &str, event: &str| NewDelivery {
        id: id.to_string(),
        payload: json!({"action": "opened", "id": id, "text": "x".repeat(5_000)}).to_string(),
        event: event.to_string(),
        ..delivery(id)
    };
    let batch: Vec<(NewDelivery, Vec<NewJob>)> = vec![
        (body("b-1", "pull_request"), vec![score_job(1, "h1")]),
        (body("seen", "pull_request"), vec![score_job(1, "h9")]),
        (body("b-2", "ping"), vec![]),
        (body("b-1", "pull_request"), vec![score_job(1, "h8")]),
        (
            body("b-3", "pull_request"),
            vec![score_job(1, "h2"), score_job(2, "h2")],
        ),
        (body("b-4", "pull_request"), vec![score_job(1, "h1")]),
        (body("b-5", "pull_request"), vec![score_job(1, "h1")]),
        (body("b-6", "pull_request"), vec![score_job(3, "h3")]),
    ];
    let prepared: Vec<PreparedDelivery> = batch
        .iter()
        .map(|(d, jobs)| PreparedDelivery::new(d, jobs))
        .collect();
    let outcomes = store.record_deliveries(&prepared, 50).await.unwrap();
    let queued = |i: usize| match &outcomes[i] {
        Recorded::Queued {
            job_ids,
            superseded,
        } => (job_ids.clone(), *superseded),
        other => panic!("delivery {i}: {other:?}"),
    };
    assert_eq!(outcomes[1], Recorded::Duplicate, "stored before");
    assert_eq!(outcomes[2], Recorded::Stored, "no job");
    assert_eq!(outcomes[3], Recorded::Duplicate, "earlier in the batch");
    let (b1, _) = queued(0);
    let (b3, b3_superseded) = queued(4);
    let (b4, _) = queued(5);
    let (b5, b5_superseded) = queued(6);
    assert_eq!((b1.len(), b3.len(), b4.len(), b5.len()), (1, 2, 1, 1));
    let all: Vec<i64> = [&b1, &b3, &b4, &b5]
        .into_iter()
        .flatten()
        .copied()
        .collect();
    assert!(
        all.windows(2).all(|w| w[0] < w[1]),
        "ids in batch order: {all:?}"
    );
    // PR 1: h0 (before), then h1, h2, h1, h1 in the batch: only the last run of h1 stays.
    let status = |id: i64| async move { job(store, id).await.status };
    let first = store.list_jobs(None, 100).await.unwrap();
    let h0 = first
        .iter()
        .find(|j| j.head_sha.as_deref() == Some("h0"))
        .unwrap()
        .id;
    assert_eq!(status(h0).await, JobStatus::Superseded);
    assert_eq!(status(b1[0]).await, JobStatus::Superseded);
    assert_eq!(status(b3[0]).await, JobStatus::Superseded);
    assert_eq!(status(b4[0]).await, JobStatus::Queued);
    assert_eq!(status(b5[0]).await, JobStatus::Queued);
    assert_eq!(b5_superseded, 3, "reported with the last delivery for PR 1");
    // PR 2: the same head as the job queued before: it stays, as one at a time would leave it.
    assert_eq!(status(older_pr_2).await, JobStatus::Queued);
    assert_eq!(status(b3[1]).await, JobStatus::Queued);
    assert_eq!(b3_superseded, 0);
    // PR 3, beside them in the same batch: its own count, on its own delivery.
    let (b6, b6_superseded) = queued(7);
    assert_eq!(status(older_pr_3).await, JobStatus::Superseded);
    assert_eq!(status(b6[0]).await, JobStatus::Queued);
    assert_eq!(b6_superseded, 1, "the older head of PR 3");
    // Bodies are kept whole, and a duplicate wrote nothing.
    let stored = store.delivery("b-4").await.unwrap().unwrap();
    assert_eq!(stored.payload, batch[5].0.payload);
    assert_eq!(stored.received_at, 50);
    assert_eq!(
        store.delivery("seen").await.unwrap().unwrap().received_at,
        1
    );
    let b1_stored = store.delivery("b-1").await.unwrap().unwrap();
    assert_eq!(
        b1_stored.payload, batch[0].0.payload,
        "the first of a repeated id"
    );
    assert_eq!(job(store, b1[0]).await.head_sha.as_deref(), Some("h1"));
    assert_eq!(store.delivery("b-2").await.unwrap().unwrap().event, "ping");
}

/// Many heads of one pull request at once through the intake's writers (three on PostgreSQL,
/// committing in any order): the job queued last must still be queued at the end, whichever
/// batch committed first.
async fn a_burst_of_heads_never_supersedes_the_newest(db: Db) {
    let writer = riskgate::server::intake::DeliveryWriter::start(db.store.clone()).unwrap();
    let mut recording = tokio::task::JoinSet::new();
    for i in 0..300 {
        let writer = writer.clone();
        recording.spawn(async move {
            let d = delivery(&format!("burst-{i}"));
            let prepared = PreparedDelivery::new(&d, &[score_job(7, &format!("{i:040x}"))]);
            writer.record(prepared).await
        });
    }
    while let Some(outcome) = recording.join_next().await {
        assert!(matches!(outcome.unwrap().unwrap(), Recorded::Queued { .. }));
    }
    let jobs = db.store.list_jobs(None, 1_000).await.unwrap();
    assert_eq!(jobs.len(), 300);
    let newest = jobs.iter().max_by_key(|j| j.id).unwrap();
    assert_eq!(newest.status, JobStatus::Queued, "{newest:?}");
    let queued = jobs
        .iter()
        .filter(|j| j.status == JobStatus::Queued)
        .count();
    assert!(queued >= 1);
    if db.store.backend() == Backend::Sqlite {
        // One writer: batches commit in order, so only the last head is left.
        assert_eq!(queued, 1);
    }
}

/// Batches that each name the same eight pull requests (in another order each), written at
/// once through two stores on one database as two instances would: each batch locks the rows
/// it supersedes in one order, so none fails on a deadlock with another, and the job queued
/// last for each pull request is still queued at the end.
async fn batches_over_many_pull_requests_from_two_instances_never_fail_on_each_other(db: Db) {
    let other = match db.store.backend() {
        Backend::Postgres => Store::connect(&db.url).await.unwrap(),
        // One writer per database file: the second instance is the same store.
        Backend::Sqlite => db.store.clone(),
    };
    let stores = [db.store.clone(), other];
    let mut writing = tokio::task::JoinSet::new();
    for b in 0..40usize {
        let store = stores[b % 2].clone();
        writing.spawn(async move {
            let batch: Vec<PreparedDelivery> = (0..8usize)
                .map(|k| {
                    let pr = ((k * 3 + b) % 8 + 1) as i64;
                    let d = delivery(&format!("many-{b}-{k}"));
                    PreparedDelivery::new(&d, &[score_job(pr, &format!("{b:020x}{k:020x}"))])
                })
                .collect();
            store.record_deliveries(&batch, b as i64).await
        });
    }
    while let Some(written) = writing.join_next().await {
        let outcomes = written.unwrap().expect("no batch fails on another");
        assert!(outcomes
            .iter()
            .all(|o| matches!(o, Recorded::Queued { .. })));
    }
    let jobs = db.store.list_jobs(None, 1_000).await.unwrap();
    assert_eq!(jobs.len(), 320);
    for pr in 1..=8 {
        let newest = jobs
            .iter()
            .filter(|j| j.pr_number == Some(pr))
            .max_by_key(|j| j.id)
            .unwrap();
        assert_eq!(newest.status, JobStatus::Queued, "{newest:?}");
    }
    assert!(
        jobs.iter().any(|j| j.status == JobStatus::Superseded),
        "older heads went"
    );
    if db.store.backend() == Backend::Postgres {
        stores[1].close().await;
    }
}

/// What a concurrent batch that took a later id and committed first leaves behind (on
/// PostgreSQL, ids come from a sequence as rows are inserted, before any commit): a job with a
/// higher id than the one this batch is about to queue. This batch must leave it queued.
async fn a_batch_leaves_a_head_queued_after_its_own(db: Db) {
    if db.store.backend() != Backend::Postgres {
        // SQLite hands out ids in commit order: a later id is always a later commit.
        return;
    }
    raw_execute(
        &db,
        &format!(
            "INSERT INTO jobs (id, kind, repository, pr_number, head_sha, payload, status, \
             attempts, run_after, created_at, updated_at) VALUES (1000000, '{}', '{REPO}', 7, \
             'newer', '{{}}', 'queued', 0, 0, 0, 0)",
            JobKind::ScorePullRequest.as_str()
        ),
    )
    .await
    .unwrap();
    let recorded = db
        .store
        .record_delivery(&delivery("older"), &[score_job(7, "older")], 10)
        .await
        .unwrap();
    let Recorded::Queued {
        job_ids,
        superseded,
    } = recorded
    else {
        panic!("{recorded:?}")
    };
    assert_eq!(superseded, 0, "nothing is older than its own job");
    assert_eq!(job(&db.store, 1_000_000).await.status, JobStatus::Queued);
    assert_eq!(job(&db.store, job_ids[0]).await.status, JobStatus::Queued);
}

async fn concurrent_workers_claim_each_job_once(db: Db) {
    let ids = enqueue_many(&db.store, 50).await;
    let mut workers = Vec::new();
    for w in 0..2 {
        let store = db.store.clone();
        workers.push(tokio::spawn(async move {
            let worker = format!("worker-{w}");
            let mut claimed = Vec::new();
            while let Some(job) = store
                .claim_job(&worker, 60_000, MAX_ATTEMPTS, 2_000)
                .await
                .unwrap()
            {
                assert_eq!(job.locked_by.as_deref(), Some(worker.as_str()));
                assert_eq!(job.attempts, 1);
                claimed.push(job.id);
                assert!(store.complete_job(job.id, &worker, 2_001).await.unwrap());
            }
            claimed
        }));
    }
    let mut all = Vec::new();
    for worker in workers {
        all.extend(worker.await.unwrap());
    }
    let distinct: BTreeSet<i64> = all.iter().copied().collect();
    assert_eq!(all.len(), 50, "claimed {} times for 50 jobs", all.len());
    assert_eq!(distinct, ids.into_iter().collect::<BTreeSet<_>>());
    assert_eq!(db.store.job_counts().await.unwrap()["done"], 50);
}

/// A row whose kind this version does not know (written by another version) is parked by
/// the claim with a message naming the kind, the next job is claimed instead, and the listing
/// still shows the row as stored.
async fn a_job_of_an_unknown_kind_is_parked_when_claimed(db: Db) {
    let store = &db.store;
    let unknown = store
        .enqueue_job(&NewJob::new(JOB_COVERAGE, json!({"x": 1})), 1_000)
        .await
        .unwrap();
    let known = store
        .enqueue_job(&score_job(7, "aaa"), 1_000)
        .await
        .unwrap();
    raw_execute(
        &db,
        &format!("UPDATE jobs SET kind = 'retired_kind' WHERE id = {unknown}"),
    )
    .await
    .unwrap();

    let claimed = store
        .claim_job("w", 60_000, MAX_ATTEMPTS, 2_000)
        .await
        .unwrap()
        .expect("the known job is claimed");
    assert_eq!(
        (claimed.id, claimed.kind),
        (known, JobKind::ScorePullRequest)
    );
    let listed = store.list_jobs(Some(JobStatus::Parked), 10).await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(
        (listed[0].id, listed[0].kind.as_str()),
        (unknown, "retired_kind")
    );
    let error = listed[0].last_error.as_deref().unwrap_or_default();
    assert!(error.contains("unknown job kind `retired_kind`"), "{error}");
    assert!(store
        .claim_job("w", 60_000, MAX_ATTEMPTS, 3_000)
        .await
        .unwrap()
        .is_none());
}

async fn expired_lease_is_reclaimed_with_its_state(db: Db) {
    let store = &db.store;
    let id = store
        .enqueue_job(&score_job(7, "aaa"), 1_000)
        .await
        .unwrap();
    let first = store
        .claim_job("w1", 30_000, MAX_ATTEMPTS, 1_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((first.id, first.attempts), (id, 1));
    assert_eq!(first.locked_until, Some(31_000));
    assert!(store
        .save_job_state(id, "w1", &json!({"check_run_id": 42}), 1_500)
        .await
        .unwrap());
    assert!(store.heartbeat(id, "w1", 30_000, 2_000).await.unwrap());
    assert_eq!(job(store, id).await.locked_until, Some(32_000));

    // Still leased: nobody else gets it.
    assert!(store
        .claim_job("w2", 30_000, MAX_ATTEMPTS, 31_000)
        .await
        .unwrap()
        .is_none());
    assert!(store
        .claim_job("w2", 30_000, MAX_ATTEMPTS, 32_000)
        .await
        .unwrap()
        .is_none());

    // w1 died; once the lease is over, w2 takes the job with its state.
    let second = store
        .claim_job("w2", 30_000, MAX_ATTEMPTS, 32_001)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.id, id);
    assert_eq!(second.attempts, 2);
    assert_eq!(second.locked_by.as_deref(), Some("w2"));
    assert_eq!(second.state, Some(json!({"check_run_id": 42})));

    // The old worker has lost it.
    assert!(!store.heartbeat(id, "w1", 30_000, 32_002).await.unwrap());
    assert!(!store
        .save_job_state(id, "w1", &json!({"check_run_id": 99}), 32_002)
        .await
        .unwrap());
    assert!(!store.complete_job(id, "w1", 32_003).await.unwrap());
    assert_eq!(
        job(store, id).await.state,
        Some(json!({"check_run_id": 42}))
    );

    assert!(store.complete_job(id, "w2", 32_004).await.unwrap());
    let done = job(store, id).await;
    assert_eq!(done.status, JobStatus::Done);
    assert_eq!(done.locked_until, None);
    assert!(store
        .claim_job("w3", 30_000, MAX_ATTEMPTS, 999_999)
        .await
        .unwrap()
        .is_none());
}

async fn retry_park_unpark_requeue_complete(db: Db) {
    let store = &db.store;
    let id = store.enqueue_job(&score_job(7, "aaa"), 0).await.unwrap();

    // retry: back to the queue, due later, error kept, attempt counted
    let claimed = store
        .claim_job("w", 10_000, MAX_ATTEMPTS, 100)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.id, id);
    assert!(store
        .retry_job(id, "w", "GitHub answered 502", 5_000, 101)
        .await
        .unwrap());
    let retried = job(store, id).await;
    assert_eq!(retried.status, JobStatus::Queued);
    assert_eq!(retried.attempts, 1);
    assert_eq!(retried.run_after, 5_000);
    assert_eq!(retried.last_error.as_deref(), Some("GitHub answered 502"));
    assert_eq!(retried.locked_until, None);
    assert!(store
        .claim_job("w", 10_000, MAX_ATTEMPTS, 4_999)
        .await
        .unwrap()
        .is_none());

    // park: kept and visible with its error, never claimed
    let claimed = store
        .claim_job("w", 10_000, MAX_ATTEMPTS, 5_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.attempts, 2);
    assert!(store
        .park_job(id, "w", "repository not found", 5_001)
        .await
        .unwrap());
    // What is claimed next is not the parked job but the completion of its check run.
    let finish = store
        .claim_job("w", 10_000, MAX_ATTEMPTS, 1_000_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(finish.kind, JOB_FINISH_CHECK_RUN);
    assert_eq!(finish.payload, json!({"parked_job": id}));
    assert!(store.complete_job(finish.id, "w", 1_000_000).await.unwrap());
    assert!(store
        .claim_job("w", 10_000, MAX_ATTEMPTS, 1_000_000)
        .await
        .unwrap()
        .is_none());
    let parked = store.list_jobs(Some(JobStatus::Parked), 10).await.unwrap();
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].id, id);
    assert_eq!(
        parked[0].last_error.as_deref(),
        Some("repository not found")
    );
    assert!(store
        .list_jobs(Some(JobStatus::Queued), 10)
        .await
        .unwrap()
        .is_empty());

    // unpark: queued again with a fresh attempt count
    assert!(store.unpark_job(id, 6_000).await.unwrap());
    assert!(
        !store.unpark_job(id, 6_000).await.unwrap(),
        "not parked now"
    );
    let unparked = job(store, id).await;
    assert_eq!(unparked.status, JobStatus::Queued);
    assert_eq!(unparked.attempts, 0);
    assert_eq!(unparked.run_after, 6_000);

    // requeue on shutdown: the attempt is not counted
    let claimed = store
        .claim_job("w", 10_000, MAX_ATTEMPTS, 6_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.attempts, 1);
    assert!(store.requeue_job(id, "w", 6_100).await.unwrap());
    let requeued = job(store, id).await;
    assert_eq!(requeued.status, JobStatus::Queued);
    assert_eq!(requeued.attempts, 0);
    assert_eq!(requeued.run_after, 6_100);

    // complete
    let claimed = store
        .claim_job("w2", 10_000, MAX_ATTEMPTS, 6_200)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.attempts, 1);
    assert!(store.complete_job(id, "w2", 6_300).await.unwrap());
    assert!(!store.complete_job(id, "w2", 6_301).await.unwrap(), "once");
    assert!(!store.retry_job(id, "w2", "late", 0, 6_302).await.unwrap());
    let done = job(store, id).await;
    assert_eq!(done.status, JobStatus::Done);
    assert_eq!(done.updated_at, 6_300);
}

async fn only_the_holder_finishes_a_job(db: Db) {
    let store = &db.store;
    let id = store.enqueue_job(&score_job(7, "aaa"), 0).await.unwrap();
    // Not running yet: nothing applies.
    assert!(!store.complete_job(id, "w", 1).await.unwrap());
    assert!(!store.heartbeat(id, "w", 10, 1).await.unwrap());
    store
        .claim_job("w", 10_000, MAX_ATTEMPTS, 1)
        .await
        .unwrap()
        .unwrap();
    assert!(!store.complete_job(id, "other", 2).await.unwrap());
    assert!(!store.park_job(id, "other", "x", 2).await.unwrap());
    assert!(!store.requeue_job(id, "other", 2).await.unwrap());
    assert!(!store.retry_job(id, "other", "x", 2, 2).await.unwrap());
    assert_eq!(job(store, id).await.status, JobStatus::Running);
    assert!(!store.complete_job(id + 1000, "w", 2).await.unwrap());
}

async fn supersede_touches_only_queued_jobs_of_the_same_pull_request(db: Db) {
    let store = &db.store;
    let running = store.enqueue_job(&score_job(7, "old1"), 0).await.unwrap();
    let claimed = store
        .claim_job("w", 60_000, MAX_ATTEMPTS, 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.id, running);
    let queued_old = store.enqueue_job(&score_job(7, "old2"), 2).await.unwrap();
    let queued_new = store.enqueue_job(&score_job(7, "new"), 3).await.unwrap();
    let other_pr = store.enqueue_job(&score_job(8, "old2"), 4).await.unwrap();
    let other_repo = store
        .enqueue_job(
            &NewJob::score_pull_request("octo/gadgets", 7, "old2", json!({})),
            5,
        )
        .await
        .unwrap();
    let other_kind = store
        .enqueue_job(
            &NewJob {
                repository: Some(REPO.to_string()),
                pr_number: Some(7),
                head_sha: Some("old2".to_string()),
                ..NewJob::new(JOB_COVERAGE, json!({}))
            },
            6,
        )
        .await
        .unwrap();

    assert_eq!(store.supersede_older(REPO, 7, "new", 10).await.unwrap(), 1);
    assert_eq!(job(store, queued_old).await.status, JobStatus::Superseded);
    assert_eq!(job(store, running).await.status, JobStatus::Running);
    for id in [queued_new, other_pr, other_repo, other_kind] {
        assert_eq!(job(store, id).await.status, JobStatus::Queued, "job {id}");
    }
    assert_eq!(store.supersede_older(REPO, 7, "new", 11).await.unwrap(), 0);
    // A running job still completes normally.
    assert!(store.complete_job(running, "w", 12).await.unwrap());
}

async fn audit_trail_refuses_update_and_delete(db: Db) {
    let store = &db.store;
    let first = store
        .append_audit(&NewAuditEvent {
            at: 1_000,
            repository: REPO.to_string(),
            pr_number: Some(7),
            head_sha: Some("aaa".to_string()),
            kind: AUDIT_CHECK_CONCLUSION.to_string(),
            actor: None,
            detail: json!({"conclusion": "failure", "probability": 0.71}),
        })
        .await
        .unwrap();
    let second = store
        .append_audit(&NewAuditEvent {
            at: 2_000,
            repository: "octo/gadgets".to_string(),
            pr_number: None,
            head_sha: None,
            kind: AUDIT_RISK_ACCEPTED.to_string(),
            actor: Some("maintainer".to_string()),
            detail: json!({"reason": "hotfix"}),
        })
        .await
        .unwrap();
    assert!(second > first);

    let all = store.audit_events(None, None).await.unwrap();
    assert_eq!(
        all.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![first, second]
    );
    assert_eq!(all[0].detail["conclusion"], "failure");
    assert_eq!(all[1].actor.as_deref(), Some("maintainer"));
    let ours = store.audit_events(Some(REPO), None).await.unwrap();
    assert_eq!(ours.len(), 1);
    assert_eq!(ours[0].head_sha.as_deref(), Some("aaa"));
    let recent = store.audit_events(None, Some(1_500)).await.unwrap();
    assert_eq!(recent.len(), 1);
    assert_eq!(recent[0].id, second);
    assert!(store
        .audit_events(Some(REPO), Some(1_500))
        .await
        .unwrap()
        .is_empty());

    for sql in [
        "UPDATE audit_events SET kind = 'risk_accepted'".to_string(),
        format!("UPDATE audit_events SET detail = '{{}}' WHERE id = {first}"),
        "DELETE FROM audit_events".to_string(),
        format!("DELETE FROM audit_events WHERE id = {second}"),
    ] {
        let error = raw_execute(&db, &sql)
            .await
            .expect_err("the audit trail must refuse changes");
        assert!(
            error.to_string().contains("append-only"),
            "{sql}: unexpected error {error}"
        );
    }
    if store.backend() == Backend::Postgres {
        let error = raw_execute(&db, "TRUNCATE audit_events").await.unwrap_err();
        assert!(error.to_string().contains("append-only"), "{error}");
    }
    assert_eq!(store.audit_events(None, None).await.unwrap(), all);
}

async fn job_counts_by_status(db: Db) {
    let store = &db.store;
    let counts = store.job_counts().await.unwrap();
    assert_eq!(
        counts.keys().map(String::as_str).collect::<Vec<_>>(),
        vec!["done", "parked", "queued", "running", "superseded"]
    );
    assert!(counts.values().all(|&n| n == 0));

    let ids = enqueue_many(store, 5).await;
    let a = store
        .claim_job("w", 1_000, MAX_ATTEMPTS, 2_000)
        .await
        .unwrap()
        .unwrap();
    store.complete_job(a.id, "w", 2_001).await.unwrap();
    let b = store
        .claim_job("w", 1_000, MAX_ATTEMPTS, 2_002)
        .await
        .unwrap()
        .unwrap();
    store.park_job(b.id, "w", "broken", 2_003).await.unwrap();
    let _running = store
        .claim_job("w", 1_000, MAX_ATTEMPTS, 2_004)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store
            .supersede_older(REPO, 4, "other", 2_005)
            .await
            .unwrap(),
        1
    );

    let counts = store.job_counts().await.unwrap();
    assert_eq!(counts["done"], 1);
    assert_eq!(counts["parked"], 1);
    assert_eq!(counts["running"], 1);
    assert_eq!(counts["superseded"], 1);
    assert_eq!(
        counts["queued"], 2,
        "one scoring job, and the completion of the parked one's check run"
    );

    let listed = store.list_jobs(None, 3).await.unwrap();
    assert_eq!(listed[0].kind, JOB_FINISH_CHECK_RUN);
    assert_eq!(
        listed[1..].iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![ids[4], ids[3]],
        "newest first, limited"
    );
    let installation_job = store
        .enqueue_job(
            &NewJob::new(JOB_RECORD_INSTALLATION, json!({"id": 9})),
            3_000,
        )
        .await
        .unwrap();
    let summary = &store.list_jobs(None, 1).await.unwrap()[0];
    assert_eq!(summary.id, installation_job);
    assert_eq!(summary.repository, None);
    assert_eq!(summary.pr_number, None);
}

async fn installations_lifecycle(db: Db) {
    let store = &db.store;
    assert!(store.installation(41).await.unwrap().is_none());
    assert!(!store
        .set_installation_repositories(41, &["octo/x".to_string()], &[], 1)
        .await
        .unwrap());
    assert!(!store.mark_installation_removed(41, 1).await.unwrap());

    let new = NewInstallation {
        id: 41,
        account_login: "octo".to_string(),
        target_type: "Organization".to_string(),
        repositories: vec!["octo/widgets".to_string(), "octo/gadgets".to_string()],
    };
    store.upsert_installation(&new, 100).await.unwrap();
    let stored = store.installation(41).await.unwrap().unwrap();
    assert_eq!(stored.repositories, vec!["octo/gadgets", "octo/widgets"]);
    assert_eq!((stored.created_at, stored.updated_at), (100, 100));
    assert_eq!(stored.removed_at, None);

    assert!(store
        .set_installation_repositories(
            41,
            &["octo/sprockets".to_string(), "octo/widgets".to_string()],
            &["octo/gadgets".to_string()],
            200,
        )
        .await
        .unwrap());
    let stored = store.installation(41).await.unwrap().unwrap();
    assert_eq!(stored.repositories, vec!["octo/sprockets", "octo/widgets"]);
    assert_eq!(stored.updated_at, 200);

    assert!(store.mark_installation_removed(41, 300).await.unwrap());
    assert_eq!(
        store.installation(41).await.unwrap().unwrap().removed_at,
        Some(300)
    );

    // Installed again: the removal is cleared, the creation time kept.
    let again = NewInstallation {
        account_login: "octo-renamed".to_string(),
        repositories: vec![],
        ..new
    };
    store.upsert_installation(&again, 400).await.unwrap();
    let stored = store.installation(41).await.unwrap().unwrap();
    assert_eq!(stored.account_login, "octo-renamed");
    assert_eq!(stored.repositories, Vec::<String>::new());
    assert_eq!(
        (stored.created_at, stored.updated_at, stored.removed_at),
        (100, 400, None)
    );
}

fn new_score(pr: i64, sha: &str, probability: f64) -> NewScore {
    NewScore {
        repository: REPO.to_string(),
        pr_number: pr,
        head_sha: sha.to_string(),
        base_sha: "base".to_string(),
        probability,
        band: if probability > 0.5 { "high" } else { "low" }.to_string(),
        model_version: "2026-11-01".to_string(),
        features: json!({"la": 120.0, "nf": 3.0, "entropy": 0.25}),
        conclusion: if probability > 0.5 {
            "failure"
        } else {
            "success"
        }
        .to_string(),
        check_run_id: Some(9_000_000_001),
        delivery_id: Some("d-1".to_string()),
    }
}

async fn scores_latest_and_by_repository(db: Db) {
    let store = &db.store;
    assert!(store.latest_score(REPO, 7).await.unwrap().is_none());
    let first = store
        .record_score(&new_score(7, "aaa", 0.12), 1_000)
        .await
        .unwrap();
    let second = store
        .record_score(&new_score(7, "bbb", 0.81), 2_000)
        .await
        .unwrap();
    store
        .record_score(&new_score(8, "ccc", 0.3), 3_000)
        .await
        .unwrap();
    let other = NewScore {
        repository: "octo/gadgets".to_string(),
        check_run_id: None,
        delivery_id: None,
        ..new_score(7, "ddd", 0.4)
    };
    store.record_score(&other, 4_000).await.unwrap();

    let latest = store.latest_score(REPO, 7).await.unwrap().unwrap();
    assert_eq!(latest.id, second);
    assert_eq!(latest.head_sha, "bbb");
    assert_eq!(latest.probability, 0.81);
    assert_eq!(latest.band, "high");
    assert_eq!(latest.conclusion, "failure");
    assert_eq!(latest.check_run_id, Some(9_000_000_001));
    assert_eq!(latest.features["la"], 120.0);
    assert_eq!(latest.created_at, 2_000);

    let all = store.scores_for(REPO).await.unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[0].id, first);
    let theirs = store.scores_for("octo/gadgets").await.unwrap();
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0].check_run_id, None);
    assert_eq!(theirs[0].delivery_id, None);
}

async fn coverage_reports_by_branch_and_commit(db: Db) {
    let store = &db.store;
    assert!(store
        .latest_coverage_report(REPO, "main")
        .await
        .unwrap()
        .is_none());
    let report = |sha: &str, branch: &str, body: &str| NewCoverageReport {
        repository: REPO.to_string(),
        branch: branch.to_string(),
        sha: sha.to_string(),
        format: "lcov".to_string(),
        report: body.to_string(),
    };
    store
        .store_coverage_report(&report("aaa", "main", "SF:a.rs\nend_of_record\n"), 1)
        .await
        .unwrap();
    let newer = store
        .store_coverage_report(&report("bbb", "main", "SF:b.rs\nend_of_record\n"), 2)
        .await
        .unwrap();
    store
        .store_coverage_report(&report("ccc", "feature", "SF:c.rs\n"), 3)
        .await
        .unwrap();

    let latest = store
        .latest_coverage_report(REPO, "main")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(latest.id, newer);
    assert_eq!(latest.sha, "bbb");
    assert_eq!(latest.report, "SF:b.rs\nend_of_record\n");
    assert_eq!(latest.format, "lcov");
    let by_commit = store
        .coverage_report_for_commit(REPO, "aaa")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_commit.branch, "main");
    assert!(store
        .coverage_report_for_commit("octo/gadgets", "aaa")
        .await
        .unwrap()
        .is_none());
}

/// A coverage job's report, its rescores and the mark that says so are written together, and
/// only by the worker holding the job: the same job taken again after its lease ran out finds
/// the mark, and its old worker writes nothing.
/// Replacing what the releases shipped leaves exactly the pairs given, however they overlap
/// what was stored (more pairs than one statement writes, so the writes come in several), and
/// touches no other repository's.
async fn what_releases_shipped_is_replaced_by_its_difference(db: Db) {
    let store = &db.store;
    let first: Vec<(i64, i64)> = (0..300).map(|i| (i / 10, i)).collect();
    store.replace_deployment_pulls(REPO, &first).await.unwrap();
    store
        .replace_deployment_pulls("octo/other", &[(1, 1)])
        .await
        .unwrap();
    assert_eq!(store.deployment_pulls(REPO).await.unwrap(), first);

    // A third kept, a third gone, and new pairs, one given twice.
    let mut second: Vec<(i64, i64)> = (100..200).map(|i| (i / 10, i)).collect();
    second.extend((1000..1150).map(|i| (i / 10, i)));
    second.push((100, 1000));
    store.replace_deployment_pulls(REPO, &second).await.unwrap();
    second.sort();
    second.dedup();
    assert_eq!(store.deployment_pulls(REPO).await.unwrap(), second);

    store.replace_deployment_pulls(REPO, &[]).await.unwrap();
    assert!(store.deployment_pulls(REPO).await.unwrap().is_empty());
    assert_eq!(
        store.deployment_pulls("octo/other").await.unwrap(),
        [(1, 1)]
    );
}

async fn a_coverage_job_stores_and_rescores_once(db: Db) {
    let store = &db.store;
    let id = store
        .enqueue_job(&NewJob::new(JOB_COVERAGE, json!({})), 1_000)
        .await
        .unwrap();
    let claimed = store
        .claim_job("w1", 30_000, MAX_ATTEMPTS, 1_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.id, id);
    let report = NewCoverageReport {
        repository: REPO.to_string(),
        branch: "feature".to_string(),
        sha: "aaa".to_string(),
        format: "lcov".to_string(),
        report: "SF:a.rs\nend_of_record\n".to_string(),
    };
    let rescores = [score_job(7, "aaa"), score_job(8, "aaa")];
    let mark = json!({"report_stored": true});
    let stored = store
        .store_coverage_report_of_job(id, "w1", &mark, &report, &rescores, 2_000)
        .await
        .unwrap()
        .expect("w1 holds the job");
    let kept = store
        .coverage_report_for_commit(REPO, "aaa")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.id, stored);
    assert_eq!(job(store, id).await.state, Some(mark.clone()));
    let queued_scores = || async {
        store
            .list_jobs(None, 100)
            .await
            .unwrap()
            .into_iter()
            .filter(|j| j.kind == "score_pull_request")
            .map(|j| j.pr_number)
            .collect::<Vec<_>>()
    };
    let mut queued = queued_scores().await;
    queued.sort();
    assert_eq!(queued, vec![Some(7), Some(8)]);

    // w1 died before completing it; w2 takes it with the mark, and w1 can write no more.
    let again = store
        .claim_job("w2", 30_000, MAX_ATTEMPTS, 31_001)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((again.id, again.state), (id, Some(mark.clone())));
    let late = NewCoverageReport {
        sha: "bbb".to_string(),
        ..report
    };
    assert!(store
        .store_coverage_report_of_job(id, "w1", &mark, &late, &rescores, 31_002)
        .await
        .unwrap()
        .is_none());
    assert!(store
        .coverage_report_for_commit(REPO, "bbb")
        .await
        .unwrap()
        .is_none());
    assert_eq!(queued_scores().await.len(), 2, "no rescore queued twice");
}

// ----- plans on a growing queue (PostgreSQL) --------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_recording_reads_what_it_changes_after_the_queue_grows_from_empty() {
    on_postgres(recording_reads_what_it_changes_after_the_queue_grows_from_empty).await
}

/// Adds `count` scoring jobs of [`REPO`] behind the store's back, in one statement; `pr` and
/// `head` are SQL expressions that may use `g`, the row's number from 1.
async fn insert_scoring_jobs(
    db: &Db,
    count: i64,
    pr: &str,
    head: &str,
    run_after: i64,
    status: &str,
    attempts: i64,
) {
    raw_execute(
        db,
        &format!(
            "INSERT INTO jobs (kind, repository, pr_number, head_sha, payload, run_after, status, \
             attempts, created_at, updated_at) SELECT 'score_pull_request', '{REPO}', {pr}, \
             {head}, '{{}}', {run_after}, '{status}', {attempts}, 1000, 1000 \
             FROM generate_series(1, {count}) AS g"
        ),
    )
    .await
    .unwrap();
}

/// Adds `count` finished scoring jobs over 500 pull requests, as a server that has run for a
/// while keeps until retention prunes them.
async fn insert_finished_jobs(db: &Db, count: i64) {
    let md5_head = "md5(g::text) || md5(g::text)";
    insert_scoring_jobs(db, count, "g % 500", md5_head, 1000, "done", 1).await;
}

/// Rows of `jobs` PostgreSQL read (sequentially or through an index) since the test's
/// database was made. Closes the store: a backend reports what it read when its connection
/// ends.
async fn job_rows_read(db: Db) -> i64 {
    db.store.close().await;
    // One connection, not a pool: a pool may open a second connection while the first is
    // being returned, and each would then count the other as the store's.
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
        .await
        .unwrap();
    // Client backends only: an autovacuum worker may stay on the freshly filled table for
    // seconds when the whole suite loads the machine, and what it reads is not counted in
    // the statistics read below.
    let others_sql = "SELECT pid, COALESCE(query, '') FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid() \
           AND backend_type = 'client backend'";
    let mut rows_read = None;
    for attempt in 0..400 {
        let others: Vec<(i32, String)> = sqlx::query_as(others_sql)
            .fetch_all(&mut conn)
            .await
            .unwrap();
        if !others.is_empty() && attempt == 100 {
            // Under the whole suite's load a closed pool has once left one idle connection
            // open for longer than 20 s. Ended from here, its backend still reports what it
            // read as it exits, which is all this measures.
            for (pid, _) in &others {
                sqlx::query("SELECT pg_terminate_backend($1)")
                    .bind(pid)
                    .execute(&mut conn)
                    .await
                    .unwrap();
            }
            let ended: Vec<&str> = others.iter().map(|(_, query)| query.as_str()).collect();
            eprintln!("ended the store's connections left after 5 s: {ended:?}");
        }
        if others.is_empty() {
            let read: i64 = sqlx::query_scalar(
                "SELECT (COALESCE(seq_tup_read, 0) + COALESCE(idx_tup_fetch, 0))::BIGINT \
                 FROM pg_stat_user_tables WHERE relname = 'jobs'",
            )
            .fetch_one(&mut conn)
            .await
            .unwrap();
            rows_read = Some(read);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    if rows_read.is_none() {
        let left: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT COALESCE(backend_type, ''), COALESCE(state, ''), COALESCE(query, '') \
             FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        panic!(
            "the store's connections did not end within 20 s, ended or not; still there: {left:?}"
        );
    }
    let _ = <sqlx::PgConnection as sqlx::Connection>::close(conn).await;
    rows_read.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_claims_read_the_jobs_still_to_run_not_the_finished_ones() {
    on_postgres(claims_read_the_jobs_still_to_run_not_the_finished_ones).await
}

/// The jobs table keeps finished jobs until retention prunes them. A claim must read at most
/// the jobs still to run, never walk the primary key through all the finished ones (as
/// PostgreSQL's planner chose to, with many jobs queued, before the partial index of them).
async fn claims_read_the_jobs_still_to_run_not_the_finished_ones(db: Db) {
    const FINISHED: i64 = 30_000;
    insert_finished_jobs(&db, FINISHED).await;
    // Jobs waiting for their retry (GitHub was down), not due yet.
    const WAITING: i64 = 2_000;
    let md5_head = "md5(g::text) || md5(g::text)";
    insert_scoring_jobs(&db, WAITING, "g", md5_head, 9_000_000, "queued", 1).await;
    raw_execute(&db, "ANALYZE jobs").await.unwrap();
    let due = db
        .store
        .enqueue_job(&score_job(1, &"b".repeat(40)), 1_000)
        .await
        .unwrap();
    let mut claimed = Vec::new();
    for _ in 0..20 {
        if let Some(job) = db
            .store
            .claim_job("worker-1", 60_000, MAX_ATTEMPTS, 2_000)
            .await
            .unwrap()
        {
            claimed.push(job.id);
        }
    }
    assert_eq!(claimed, vec![due]);
    // Each claim is two statements (park the exhausted, claim the oldest due), each reading
    // at most the jobs still to run.
    let bound = 20 * 2 * (WAITING + 5);
    let rows_read = job_rows_read(db).await;
    assert!(
        rows_read <= bound,
        "20 claims read {rows_read} job rows, more than the {bound} of the jobs still to run: \
         they walked the {FINISHED} finished ones"
    );
}

/// Records `count` deliveries each queueing a scoring job for `head` of one pull request;
/// the head never changes, so none of them supersedes anything.
async fn record_head_again(db: &Db, prefix: &str, count: usize, head: &str, now_ms: i64) {
    for i in 0..count {
        let outcome = db
            .store
            .record_delivery(
                &delivery(&format!("{prefix}-{i}")),
                &[score_job(7, head)],
                now_ms,
            )
            .await
            .unwrap();
        assert!(
            matches!(outcome, Recorded::Queued { superseded: 0, .. }),
            "{outcome:?}"
        );
    }
}

/// A server starts on an empty jobs table and its queue grows. PostgreSQL may cache a
/// prepared statement's generic plan after five executions, costed on the table as it was
/// then: planned on an empty table, the supersede read every queued job of the table on
/// each delivery once there were thousands. Recording a delivery that supersedes nothing
/// must read about nothing, however large the queue has grown since the plans were made.
async fn recording_reads_what_it_changes_after_the_queue_grows_from_empty(db: Db) {
    let head = "a".repeat(40);
    // More executions on the empty table than it takes to cache a generic plan.
    record_head_again(&db, "early", 12, &head, 1_000).await;
    // The queue grows by 20,000 jobs of that pull request and head behind the store's back.
    const GROWN_BY: i64 = 20_000;
    let head_sql = format!("'{head}'");
    insert_scoring_jobs(&db, GROWN_BY, "7", &head_sql, 1000, "queued", 0).await;
    record_head_again(&db, "late", 40, &head, 2_000).await;

    let rows_read = job_rows_read(db).await;
    assert!(
        rows_read < GROWN_BY,
        "40 deliveries that supersede nothing read {rows_read} job rows: the whole queue, \
         more than once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_a_backlog_queued_after_an_analyze_of_finished_jobs_is_read_once() {
    on_postgres(a_backlog_queued_after_an_analyze_of_finished_jobs_is_read_once).await
}

/// Between ANALYZEs PostgreSQL plans with statistics of the table as it was. In the steady
/// state nearly every job is finished; then GitHub goes down and a backlog queues. Statistics
/// saying that no job is queued once had each delivery's supersede read every queued job once
/// for each queued job: a delivery read the square of the backlog. It must read about what it
/// changes, however the statistics describe `status`.
async fn a_backlog_queued_after_an_analyze_of_finished_jobs_is_read_once(db: Db) {
    insert_finished_jobs(&db, 30_000).await;
    raw_execute(&db, "ANALYZE jobs").await.unwrap();

    const BACKLOG: usize = 200;
    record_head_again(&db, "backlog", BACKLOG, &"a".repeat(40), 2_000).await;

    // Read per delivery: the job it queues and the few index entries of its pull request.
    // The square of the backlog is 40,000 reads for the last delivery alone.
    let bound = 20 * BACKLOG as i64;
    let rows_read = job_rows_read(db).await;
    assert!(
        rows_read < bound,
        "{BACKLOG} deliveries that supersede nothing read {rows_read} job rows, more than \
         {bound}: each read the backlog"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_a_pruning_batch_reads_about_what_it_deletes() {
    on_postgres(a_pruning_batch_reads_about_what_it_deletes).await
}

/// Retention deletes finished jobs a batch at a time. A batch must read about the jobs it
/// deletes, not every job due: a server that kept a month of jobs has hundreds of thousands
/// due at once when retention is first set, or shortened. PostgreSQL keeps no statistics on
/// `status` (see `a_backlog_queued_after_an_analyze_of_finished_jobs_is_read_once`), so it
/// cannot know how many are due; ordered by id, the batches read them all and sorted them.
async fn a_pruning_batch_reads_about_what_it_deletes(db: Db) {
    const FINISHED: i64 = 100_000;
    insert_finished_jobs(&db, FINISHED).await;
    raw_execute(&db, "UPDATE jobs SET updated_at = id")
        .await
        .unwrap();
    raw_execute(&db, "VACUUM ANALYZE jobs").await.unwrap();

    // Retention's own batch size.
    const BATCH: i64 = 500;
    const BATCHES: i64 = 5;
    for _ in 0..BATCHES {
        let pruned = db.store.prune_finished_jobs(i64::MAX, BATCH).await.unwrap();
        assert_eq!(pruned, BATCH as u64);
    }

    // The UPDATE above read each job once; a batch reads its jobs in the index of finished
    // jobs, then by id to delete them.
    let bound = FINISHED + 4 * BATCHES * BATCH;
    let rows_read = job_rows_read(db).await;
    assert!(
        rows_read < bound,
        "{BATCHES} batches of {BATCH} read {rows_read} job rows, more than {bound}: each read \
         every job due"
    );
}

#[tokio::test]
async fn postgres_a_batch_over_several_pull_requests_reads_what_it_changes_behind_a_backlog() {
    on_postgres(a_batch_over_several_pull_requests_reads_what_it_changes_behind_a_backlog).await
}

/// GitHub has been unreachable and one busy pull request's jobs wait by the thousand: nearly
/// every job of the table is queued, for one pull request and head. A batch over several pull
/// requests supersedes them in one statement whose plan cannot see each pull request's values
/// and rests on the table's statistics. Skewed like this, they once had it read every live
/// job and then the whole table for a batch that superseded one job. It must read about what
/// it changes.
async fn a_batch_over_several_pull_requests_reads_what_it_changes_behind_a_backlog(db: Db) {
    const BACKLOG: i64 = 20_000;
    let busy_head = "a".repeat(40);
    let head_sql = format!("'{busy_head}'");
    insert_scoring_jobs(&db, BACKLOG, "7", &head_sql, 1000, "queued", 0).await;
    raw_execute(&db, "ANALYZE jobs").await.unwrap();

    const BATCHES: usize = 10;
    for b in 0..BATCHES {
        // Pull request 7 again at its head (nothing to supersede), and a new head of 8.
        let busy = delivery(&format!("busy-{b}"));
        let pushed = delivery(&format!("pushed-{b}"));
        let batch = [
            PreparedDelivery::new(&busy, &[score_job(7, &busy_head)]),
            PreparedDelivery::new(&pushed, &[score_job(8, &format!("{b:040x}"))]),
        ];
        let outcomes = db.store.record_deliveries(&batch, 2_000).await.unwrap();
        let superseded: Vec<u64> = outcomes
            .iter()
            .map(|o| match o {
                Recorded::Queued { superseded, .. } => *superseded,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(superseded, vec![0, u64::from(b > 0)], "batch {b}");
    }

    let rows_read = job_rows_read(db).await;
    assert!(
        rows_read < BACKLOG,
        "{BATCHES} batches that superseded {} jobs read {rows_read} job rows: the backlog, \
         more than once",
        BATCHES - 1
    );
}

// ----- connecting ----------------------------------------------------------

#[tokio::test]
async fn unreachable_postgres_error_hides_the_password() {
    // The second password has a `/` a URL should escape, written as it is.
    for url in [
        "postgres://riskgate:hunter2-secret@127.0.0.1:1/riskgate",
        "postgres://riskgate:hunter2/secret@127.0.0.1:1/riskgate",
    ] {
        let error = Store::connect(url)
            .await
            .expect_err("nothing listens on port 1");
        let message = format!("{error} / {error:?}");
        assert!(!message.contains("secret"), "{message}");
        assert!(
            message.contains("postgres://riskgate@127.0.0.1:1/riskgate"),
            "{message}"
        );
    }
}

#[tokio::test]
async fn bad_database_urls_are_refused_clearly() {
    let error = Store::connect("mysql://app:pw-123@db/riskgate")
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, StoreError::UnsupportedUrl { .. }));
    assert!(message.contains("mysql://app@db/riskgate"), "{message}");
    assert!(!message.contains("pw-123"), "{message}");

    let error = Store::connect("postgres://app:pw-123@db:notaport/riskgate")
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(!message.contains("pw-123"), "{message}");
    assert!(message.contains("cannot open database"), "{message}");
}

#[tokio::test]
async fn sqlite_file_is_created_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    let url = format!("sqlite://{}", path.display());
    let store = Store::connect(&url).await.unwrap();
    assert!(path.exists());
    store.close().await;
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    pool.close().await;
}

#[tokio::test]
async fn sqlite_in_memory_store_works() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let id = store.enqueue_job(&score_job(1, "aaa"), 0).await.unwrap();
    assert_eq!(store.job(id).await.unwrap().unwrap().id, id);
}

/// A closed store records nothing more: its recording connection closes with the pool.
#[tokio::test]
async fn sqlite_closed_store_refuses_deliveries() {
    let dir = tempfile::tempdir().unwrap();
    let url = riskgate::store::sqlite_url_in(dir.path());
    let store = Store::connect(&url).await.unwrap();
    store
        .record_delivery(&delivery("c-1"), &[], 10)
        .await
        .unwrap();
    store.close().await;
    let refused = store.record_delivery(&delivery("c-2"), &[], 20).await;
    assert!(refused.is_err(), "{refused:?}");
    let reopened = Store::connect(&url).await.unwrap();
    assert!(reopened.delivery("c-1").await.unwrap().is_some());
    assert!(reopened.delivery("c-2").await.unwrap().is_none());
}

/// An in-memory database lives in the pool's one connection: deliveries are recorded on that
/// connection (borrowed from sqlx for the batch) and read back through the pool.
#[tokio::test]
async fn sqlite_in_memory_store_records_deliveries() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let first = store
        .record_delivery(&delivery("m-1"), &[score_job(3, "aaa")], 10)
        .await
        .unwrap();
    let Recorded::Queued { job_ids, .. } = first else {
        panic!("expected the job queued, got {first:?}");
    };
    let second = store
        .record_delivery(&delivery("m-2"), &[score_job(3, "bbb")], 20)
        .await
        .unwrap();
    assert!(
        matches!(second, Recorded::Queued { superseded: 1, .. }),
        "{second:?}"
    );
    assert_eq!(
        store.job(job_ids[0]).await.unwrap().unwrap().status,
        JobStatus::Superseded
    );
    assert_eq!(store.delivery("m-1").await.unwrap().unwrap().id, "m-1");
    assert_eq!(
        store
            .record_delivery(&delivery("m-1"), &[], 30)
            .await
            .unwrap(),
        Recorded::Duplicate
    );
}

// ----- where a delivery's body is kept (PostgreSQL) --------------------------

/// A real webhook body deflates to a few KB, past PostgreSQL's 2 KB toast threshold: unless
/// the table says otherwise it is moved to the TOAST table, a second row and index entry for
/// every delivery. It is kept inline, and reads back as sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_keeps_a_webhook_body_inline() {
    on_postgres(|db: Db| async move {
        let body = include_str!("../../fixtures/github/pull_request.opened.json");
        let mut received = delivery("d-inline");
        received.payload = body.to_string();
        db.store.record_delivery(&received, &[], 5).await.unwrap();

        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        let (stored, toasted): (i64, i64) = sqlx::query_as(
            "SELECT octet_length(d.payload_deflate)::BIGINT, \
               pg_relation_size(c.reltoastrelid)::BIGINT \
             FROM deliveries d, pg_class c WHERE d.id = 'd-inline' AND c.relname = 'deliveries'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        pool.close().await;
        assert!(
            stored > 2_048,
            "the deflated body is {stored} bytes: past the threshold"
        );
        assert_eq!(
            toasted, 0,
            "the TOAST table of deliveries holds {toasted} bytes"
        );
        let back = db.store.delivery("d-inline").await.unwrap().unwrap();
        assert_eq!(back.payload, body);
    })
    .await
}
