//! The App against hostile input at its doors. The real `riskgate serve` on port 0 each time.

use serde_json::json;

use crate::app::{bytes, database, deliver, fixture, start_server_with, Database, Db, SECRET};

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
        match db {
            Db::Sqlite => {
                let pool = sqlx::SqlitePool::connect(&database.url).await.unwrap();
                sqlx::query(sql).execute(&pool).await.unwrap();
                pool.close().await;
            }
            Db::Postgres => {
                let pool = sqlx::PgPool::connect(&database.url).await.unwrap();
                sqlx::query(sql).execute(&pool).await.unwrap();
                pool.close().await;
            }
        }
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
