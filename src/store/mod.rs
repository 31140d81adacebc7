//! The durable store of the App: webhook deliveries, the job queue,
//! installations, scores, the audit trail and uploaded coverage reports.
//!
//! Every SQL statement of the project lives in this module. One `Store`
//! serves SQLite (the default, one process) and PostgreSQL (several
//! instances sharing the load). Queries are checked at run time, not by the
//! compile-time macros, and the tests run each of them on both databases.
//! The statements are written in the dialect both understand (`$1`
//! placeholders, `ON CONFLICT`, `RETURNING`); where the backends differ
//! (claiming a job, the schema) each has its own text.
//!
//! Time is never read from the clock here: every method that needs "now"
//! takes `now_ms`, unix milliseconds, from the caller. JSON values are stored
//! as TEXT on both backends.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde_json::Value;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::Row;

mod error;
mod kind;
mod types;

pub use error::StoreError;
pub use kind::*;
pub use types::*;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// How long a SQLite connection waits for another writer before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The database behind a [`Store`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        })
    }
}

#[derive(Debug, Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A handle on the database; cheap to clone (the pool is shared).
#[derive(Debug, Clone)]
pub struct Store {
    pool: Pool,
}

/// Runs `$body` with `$pool` bound to the concrete pool of either backend.
/// The body is written once and type-checked for each; it evaluates to
/// `Result<T, sqlx::Error>`, which becomes `Result<T, StoreError>` naming `$op`.
macro_rules! with_pool {
    ($store:expr, $op:expr, |$pool:ident| $body:expr) => {{
        let result: Result<_, sqlx::Error> = match &$store.pool {
            Pool::Sqlite($pool) => async { $body }.await,
            Pool::Postgres($pool) => async { $body }.await,
        };
        result.map_err(|source| StoreError::Query { op: $op, source })
    }};
}

macro_rules! job_columns {
    () => {
        "id, delivery_id, kind, repository, pr_number, head_sha, payload, status, attempts, \
         run_after, locked_by, locked_until, last_error, state, created_at, updated_at"
    };
}

/// A job row whose `kind` was read as `$kind`.
macro_rules! job_from_row {
    ($row:expr, $kind:expr) => {{
        let row = $row;
        Job {
            id: row.try_get("id")?,
            delivery_id: row.try_get("delivery_id")?,
            kind: $kind,
            repository: row.try_get("repository")?,
            pr_number: row.try_get("pr_number")?,
            head_sha: row.try_get("head_sha")?,
            payload: parse_json(row.try_get("payload")?, "payload")?,
            status: parse_status(row.try_get("status")?)?,
            attempts: row.try_get("attempts")?,
            run_after: row.try_get("run_after")?,
            locked_by: row.try_get("locked_by")?,
            locked_until: row.try_get("locked_until")?,
            last_error: row.try_get("last_error")?,
            state: match row.try_get::<Option<String>, _>("state")? {
                Some(text) => Some(parse_json(text, "state")?),
                None => None,
            },
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        }
    }};
}

macro_rules! job_summary_from_row {
    ($row:expr) => {{
        let row = $row;
        JobSummary {
            id: row.try_get("id")?,
            kind: row.try_get("kind")?,
            repository: row.try_get("repository")?,
            pr_number: row.try_get("pr_number")?,
            head_sha: row.try_get("head_sha")?,
            status: parse_status(row.try_get("status")?)?,
            attempts: row.try_get("attempts")?,
            run_after: row.try_get("run_after")?,
            locked_by: row.try_get("locked_by")?,
            last_error: row.try_get("last_error")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        }
    }};
}

macro_rules! installation_from_row {
    ($row:expr) => {{
        let row = $row;
        let repositories: String = row.try_get("repositories")?;
        Installation {
            id: row.try_get("id")?,
            account_login: row.try_get("account_login")?,
            target_type: row.try_get("target_type")?,
            repositories: serde_json::from_str(&repositories)
                .map_err(|e| decode_error("repositories", e))?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            removed_at: row.try_get("removed_at")?,
        }
    }};
}

macro_rules! score_columns {
    () => {
        "id, repository, pr_number, head_sha, base_sha, probability, band, model_version, \
         features, conclusion, check_run_id, delivery_id, created_at"
    };
}

macro_rules! score_from_row {
    ($row:expr) => {{
        let row = $row;
        Score {
            id: row.try_get("id")?,
            repository: row.try_get("repository")?,
            pr_number: row.try_get("pr_number")?,
            head_sha: row.try_get("head_sha")?,
            base_sha: row.try_get("base_sha")?,
            probability: row.try_get("probability")?,
            band: row.try_get("band")?,
            model_version: row.try_get("model_version")?,
            features: parse_json(row.try_get("features")?, "features")?,
            conclusion: row.try_get("conclusion")?,
            check_run_id: row.try_get("check_run_id")?,
            delivery_id: row.try_get("delivery_id")?,
            created_at: row.try_get("created_at")?,
        }
    }};
}

macro_rules! audit_from_row {
    ($row:expr) => {{
        let row = $row;
        AuditEvent {
            id: row.try_get("id")?,
            at: row.try_get("at")?,
            repository: row.try_get("repository")?,
            pr_number: row.try_get("pr_number")?,
            head_sha: row.try_get("head_sha")?,
            kind: row.try_get("kind")?,
            actor: row.try_get("actor")?,
            detail: parse_json(row.try_get("detail")?, "detail")?,
        }
    }};
}

macro_rules! coverage_from_row {
    ($row:expr) => {{
        let row = $row;
        CoverageReport {
            id: row.try_get("id")?,
            repository: row.try_get("repository")?,
            branch: row.try_get("branch")?,
            sha: row.try_get("sha")?,
            format: row.try_get("format")?,
            report: row.try_get("report")?,
            created_at: row.try_get("created_at")?,
        }
    }};
}

/// Inserts one queued job on `$exec` (a pool or a transaction) and
/// evaluates to its id.
macro_rules! insert_job {
    ($exec:expr, $job:expr, $delivery_id:expr, $now:expr) => {{
        let job: &NewJob = $job;
        let now: i64 = $now;
        sqlx::query_scalar::<_, i64>(
            "INSERT INTO jobs (delivery_id, kind, repository, pr_number, head_sha, payload, \
             status, attempts, run_after, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'queued', 0, $7, $8, $8) RETURNING id",
        )
        .bind($delivery_id)
        .bind(job.kind.as_str())
        .bind(job.repository.as_deref())
        .bind(job.pr_number)
        .bind(job.head_sha.as_deref())
        .bind(job.payload.to_string())
        .bind(job.run_after_ms.unwrap_or(now))
        .bind(now)
        .fetch_one($exec)
        .await?
    }};
}

mod production;
mod retention;
pub use production::{IncidentWrite, LinkChanges, LinkRejection, RepositoryGuard, StoredLink};

/// Marks superseded the queued jobs of one kind for a pull request whose head
/// is not the given one: `$1` now, `$2` kind, `$3` repository, `$4` PR, `$5` head.
const SUPERSEDE_OLDER: &str = "UPDATE jobs SET status = 'superseded', updated_at = $1 \
     WHERE status = 'queued' AND kind = $2 AND repository = $3 \
       AND pr_number = $4 AND (head_sha IS NULL OR head_sha <> $5)";

/// Parks the due jobs that have already been started `$1` times (a job that kills the process
/// running it would otherwise be taken again after every restart, for ever). Bounded, so one
/// claim never does unbounded work; the rest are parked by the next claims.
macro_rules! park_exhausted_sql {
    ($lock:literal) => {
        concat!(
            "UPDATE jobs SET status = 'parked', locked_until = NULL, updated_at = $2, \
             last_error = CASE WHEN status = 'running' \
               THEN 'started ' || attempts || ' times without finishing: the process running it \
                     stopped each time (a crash, a kill or running out of memory)' \
               ELSE 'tried ' || attempts || ' times; last error: ' || COALESCE(last_error, 'none') \
             END \
             WHERE id IN (SELECT id FROM jobs \
               WHERE ((status = 'queued' AND run_after <= $2) \
                  OR (status = 'running' AND locked_until < $2)) \
                 AND attempts >= $1 \
               ORDER BY id LIMIT 100",
            $lock,
            ") RETURNING id, kind, repository, pr_number, head_sha"
        )
    };
}

/// Claims the oldest due job that has attempts left: `$1` worker, `$2` lease end, `$3` now,
/// `$4` the most attempts a job may have.
macro_rules! claim_sql {
    ($lock:literal) => {
        concat!(
            "UPDATE jobs SET status = 'running', locked_by = $1, locked_until = $2, \
             attempts = attempts + 1, updated_at = $3 \
             WHERE id = (SELECT id FROM jobs \
               WHERE ((status = 'queued' AND run_after <= $3) \
                  OR (status = 'running' AND locked_until < $3)) \
                 AND attempts < $4 \
               ORDER BY id LIMIT 1",
            $lock,
            ") RETURNING ",
            job_columns!()
        )
    };
}

const PARK_EXHAUSTED_SQLITE: &str = park_exhausted_sql!("");
const PARK_EXHAUSTED_POSTGRES: &str = park_exhausted_sql!(" FOR UPDATE SKIP LOCKED");
const CLAIM_SQLITE: &str = claim_sql!("");
const CLAIM_POSTGRES: &str = claim_sql!(" FOR UPDATE SKIP LOCKED");

/// The job that completes the check run of a parked scoring job, so that a required check
/// never stays in progress; `None` for other kinds of job.
fn follow_up_of_parked(
    job_id: i64,
    kind: &str,
    repository: Option<String>,
    pr_number: Option<i64>,
    head_sha: Option<String>,
) -> Option<NewJob> {
    (kind == JobKind::ScorePullRequest).then(|| NewJob {
        kind: JobKind::FinishCheckRun,
        repository,
        pr_number,
        head_sha,
        payload: serde_json::to_value(FinishCheckRunJob { parked_job: job_id })
            .expect("a job id serialises"),
        run_after_ms: None,
    })
}

/// Parks a job just claimed whose kind this version does not know: `$1` error, `$2` now,
/// `$3` id. Running it could only fail, and another instance may know the kind.
const PARK_UNKNOWN_KIND: &str = "UPDATE jobs SET status = 'parked', locked_until = NULL, \
     last_error = $1, updated_at = $2 WHERE id = $3";

impl Store {
    /// Opens the database named by `database_url` and brings its schema up
    /// to date.
    ///
    /// * `sqlite://PATH` (or `sqlite:PATH`): the file is created if missing,
    ///   opened in WAL mode with a 5 s busy timeout and foreign keys on.
    ///   `sqlite::memory:` gives a private in-memory database on one connection.
    /// * `postgres://…` or `postgresql://…`.
    ///
    /// Errors name the scheme, host and database, never the password.
    pub async fn connect(database_url: &str) -> Result<Store, StoreError> {
        let target = error::redact_url(database_url);
        let connect_error = |e: sqlx::Error| StoreError::Connect {
            target: target.clone(),
            message: error::scrub_password(&e.to_string(), database_url),
        };
        if database_url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(database_url)
                .map_err(connect_error)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .foreign_keys(true);
            let in_memory =
                database_url.contains(":memory:") || database_url.contains("mode=memory");
            let pool_options = if in_memory {
                // Each connection would otherwise see a database of its own.
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
            } else {
                SqlitePoolOptions::new().max_connections(8)
            };
            let pool = pool_options
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(options)
                .await
                .map_err(connect_error)?;
            SQLITE_MIGRATIONS
                .run(&pool)
                .await
                .map_err(|source| StoreError::Migrate {
                    backend: Backend::Sqlite,
                    source,
                })?;
            Ok(Store {
                pool: Pool::Sqlite(pool),
            })
        } else if database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://")
        {
            let options = PgConnectOptions::from_str(database_url).map_err(connect_error)?;
            let pool = PgPoolOptions::new()
                .max_connections(10)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await
                .map_err(connect_error)?;
            POSTGRES_MIGRATIONS
                .run(&pool)
                .await
                .map_err(|source| StoreError::Migrate {
                    backend: Backend::Postgres,
                    source,
                })?;
            Ok(Store {
                pool: Pool::Postgres(pool),
            })
        } else {
            Err(StoreError::UnsupportedUrl { url: target })
        }
    }

    /// Which database this store talks to.
    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Succeeds when the database answers a trivial query (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        with_pool!(self, "ping", |pool| {
            sqlx::query("SELECT 1").execute(pool).await?;
            Ok(())
        })
    }

    /// Closes every connection; later calls fail.
    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(pool) => pool.close().await,
            Pool::Postgres(pool) => pool.close().await,
        }
    }

    // ----- deliveries -----------------------------------------------------

    /// Records a webhook delivery, every job it asks for, and the supersede of
    /// queued scoring jobs for older heads of the pull requests it scores, in
    /// one transaction: a crash leaves either all of it or none (and GitHub's
    /// redelivery then records it afresh). A delivery id seen before yields
    /// [`Recorded::Duplicate`] and writes nothing; this holds when the same
    /// delivery arrives on several connections at once.
    pub async fn record_delivery(
        &self,
        delivery: &NewDelivery,
        jobs: &[NewJob],
        now_ms: i64,
    ) -> Result<Recorded, StoreError> {
        with_pool!(self, "record_delivery", |pool| {
            let mut tx = pool.begin().await?;
            let inserted = sqlx::query(
                "INSERT INTO deliveries (id, event, action, repository, received_at, payload) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
            )
            .bind(delivery.id.as_str())
            .bind(delivery.event.as_str())
            .bind(delivery.action.as_deref())
            .bind(delivery.repository.as_deref())
            .bind(now_ms)
            .bind(delivery.payload.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 0 {
                tx.rollback().await?;
                return Ok(Recorded::Duplicate);
            }
            let mut job_ids = Vec::with_capacity(jobs.len());
            for job in jobs {
                job_ids.push(insert_job!(
                    &mut *tx,
                    job,
                    Some(delivery.id.as_str()),
                    now_ms
                ));
            }
            let mut superseded = 0;
            for job in jobs.iter().filter(|j| j.kind == JobKind::ScorePullRequest) {
                if let (Some(repository), Some(pr_number), Some(head_sha)) =
                    (&job.repository, job.pr_number, &job.head_sha)
                {
                    superseded += sqlx::query(SUPERSEDE_OLDER)
                        .bind(now_ms)
                        .bind(JobKind::ScorePullRequest.as_str())
                        .bind(repository.as_str())
                        .bind(pr_number)
                        .bind(head_sha.as_str())
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                }
            }
            tx.commit().await?;
            Ok(if job_ids.is_empty() {
                Recorded::Stored
            } else {
                Recorded::Queued {
                    job_ids,
                    superseded,
                }
            })
        })
    }

    /// The stored delivery with this id.
    pub async fn delivery(&self, id: &str) -> Result<Option<Delivery>, StoreError> {
        with_pool!(self, "delivery", |pool| {
            let row = sqlx::query(
                "SELECT id, event, action, repository, received_at, payload \
                 FROM deliveries WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await?;
            match row {
                Some(row) => Ok(Some(Delivery {
                    id: row.try_get("id")?,
                    event: row.try_get("event")?,
                    action: row.try_get("action")?,
                    repository: row.try_get("repository")?,
                    received_at: row.try_get("received_at")?,
                    payload: row.try_get("payload")?,
                })),
                None => Ok(None),
            }
        })
    }

    // ----- jobs -----------------------------------------------------------

    /// Queues a job that no webhook delivery asked for (an upload, a
    /// scheduled task); returns its id.
    pub async fn enqueue_job(&self, job: &NewJob, now_ms: i64) -> Result<i64, StoreError> {
        with_pool!(self, "enqueue_job", |pool| {
            Ok(insert_job!(pool, job, None::<&str>, now_ms))
        })
    }

    /// Claims the oldest job that is queued and due, or running with an
    /// expired lease (its worker died), for `worker_id` until
    /// `now_ms + lease_ms`, counting one more attempt. Two workers never get
    /// the same job: PostgreSQL skips rows another claim has locked, SQLite
    /// runs the transaction under its one writer.
    ///
    /// In the same transaction, due jobs already started `max_attempts`
    /// times are parked instead, with an error saying so, and a parked
    /// scoring job gets a job that completes its check run.
    pub async fn claim_job(
        &self,
        worker_id: &str,
        lease_ms: i64,
        max_attempts: i64,
        now_ms: i64,
    ) -> Result<Option<Job>, StoreError> {
        let (park_sql, claim_sql) = match self.backend() {
            Backend::Sqlite => (PARK_EXHAUSTED_SQLITE, CLAIM_SQLITE),
            Backend::Postgres => (PARK_EXHAUSTED_POSTGRES, CLAIM_POSTGRES),
        };
        with_pool!(self, "claim_job", |pool| {
            let mut tx = pool.begin().await?;
            let parked = sqlx::query(park_sql)
                .bind(max_attempts)
                .bind(now_ms)
                .fetch_all(&mut *tx)
                .await?;
            for row in &parked {
                if let Some(follow_up) = follow_up_of_parked(
                    row.try_get("id")?,
                    row.try_get::<String, _>("kind")?.as_str(),
                    row.try_get("repository")?,
                    row.try_get("pr_number")?,
                    row.try_get("head_sha")?,
                ) {
                    insert_job!(&mut *tx, &follow_up, None::<&str>, now_ms);
                }
            }
            let job = loop {
                let row = sqlx::query(claim_sql)
                    .bind(worker_id)
                    .bind(now_ms.saturating_add(lease_ms))
                    .bind(now_ms)
                    .bind(max_attempts)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(row) = row else { break None };
                match row.try_get::<String, _>("kind")?.parse::<JobKind>() {
                    Ok(kind) => break Some(job_from_row!(&row, kind)),
                    Err(unknown) => {
                        sqlx::query(PARK_UNKNOWN_KIND)
                            .bind(format!("{unknown}: this version of riskgate cannot run it"))
                            .bind(now_ms)
                            .bind(row.try_get::<i64, _>("id")?)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
            };
            tx.commit().await?;
            Ok(job)
        })
    }

    /// The job with this id, whatever its status.
    pub async fn job(&self, job_id: i64) -> Result<Option<Job>, StoreError> {
        with_pool!(self, "job", |pool| {
            let row = sqlx::query(concat!(
                "SELECT ",
                job_columns!(),
                " FROM jobs WHERE id = $1"
            ))
            .bind(job_id)
            .fetch_optional(pool)
            .await?;
            match row {
                Some(row) => {
                    let kind = row.try_get::<String, _>("kind")?;
                    let kind = kind.parse().map_err(|e| decode_error("kind", e))?;
                    Ok(Some(job_from_row!(&row, kind)))
                }
                None => Ok(None),
            }
        })
    }

    /// Extends the lease of a running job to `now_ms + lease_ms`. Returns
    /// false when the job is no longer running for `worker_id` (another
    /// worker reclaimed it, or it was finished): the caller must stop.
    pub async fn heartbeat(
        &self,
        job_id: i64,
        worker_id: &str,
        lease_ms: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        with_pool!(self, "heartbeat", |pool| {
            let done = sqlx::query(
                "UPDATE jobs SET locked_until = $1, updated_at = $2 \
                 WHERE id = $3 AND status = 'running' AND locked_by = $4",
            )
            .bind(now_ms.saturating_add(lease_ms))
            .bind(now_ms)
            .bind(job_id)
            .bind(worker_id)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Saves what the worker needs to resume the job after a retry or a
    /// crash (e.g. the id of the check run it created). Only the worker that
    /// holds the job may save; returns false otherwise.
    pub async fn save_job_state(
        &self,
        job_id: i64,
        worker_id: &str,
        state: &Value,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        with_pool!(self, "save_job_state", |pool| {
            let done = sqlx::query(
                "UPDATE jobs SET state = $1, updated_at = $2 \
                 WHERE id = $3 AND status = 'running' AND locked_by = $4",
            )
            .bind(state.to_string())
            .bind(now_ms)
            .bind(job_id)
            .bind(worker_id)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Marks a running job of `worker_id` done. Returns false when the job
    /// is not running for that worker.
    pub async fn complete_job(
        &self,
        job_id: i64,
        worker_id: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        self.finish_running(
            "complete_job",
            "status = 'done', locked_until = NULL, updated_at = $1",
            job_id,
            worker_id,
            now_ms,
            None,
            None,
        )
        .await
    }

    /// Puts a failed job back in the queue, due at `run_after_ms`, keeping
    /// `error` as its last error. The attempt stays counted.
    pub async fn retry_job(
        &self,
        job_id: i64,
        worker_id: &str,
        error: &str,
        run_after_ms: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        self.finish_running(
            "retry_job",
            "status = 'queued', locked_until = NULL, updated_at = $1, last_error = $4, \
             run_after = $5",
            job_id,
            worker_id,
            now_ms,
            Some(error),
            Some(run_after_ms),
        )
        .await
    }

    /// Parks a job that will not succeed by retrying: it stays visible with
    /// its error (see [`Store::list_jobs`]) until [`Store::unpark_job`]. A
    /// parked scoring job gets, in the same transaction, a job that completes
    /// its check run.
    pub async fn park_job(
        &self,
        job_id: i64,
        worker_id: &str,
        error: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        with_pool!(self, "park_job", |pool| {
            let mut tx = pool.begin().await?;
            let parked = sqlx::query(
                "UPDATE jobs SET status = 'parked', locked_until = NULL, updated_at = $1, \
                 last_error = $2 WHERE id = $3 AND status = 'running' AND locked_by = $4 \
                 RETURNING kind, repository, pr_number, head_sha",
            )
            .bind(now_ms)
            .bind(error)
            .bind(job_id)
            .bind(worker_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = parked else {
                tx.rollback().await?;
                return Ok(false);
            };
            if let Some(follow_up) = follow_up_of_parked(
                job_id,
                row.try_get::<String, _>("kind")?.as_str(),
                row.try_get("repository")?,
                row.try_get("pr_number")?,
                row.try_get("head_sha")?,
            ) {
                insert_job!(&mut *tx, &follow_up, None::<&str>, now_ms);
            }
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Hands a running job back on graceful shutdown: queued again, due
    /// now, and the attempt the claim counted is taken back, since the job
    /// did not fail.
    pub async fn requeue_job(
        &self,
        job_id: i64,
        worker_id: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        self.finish_running(
            "requeue_job",
            "status = 'queued', locked_until = NULL, updated_at = $1, run_after = $1, \
             attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END",
            job_id,
            worker_id,
            now_ms,
            None,
            None,
        )
        .await
    }

    /// One UPDATE of a job that must be running for `worker_id`.
    /// `set` may use `$1` (now), `$4` (error) and `$5` (run_after).
    #[allow(clippy::too_many_arguments)]
    async fn finish_running(
        &self,
        op: &'static str,
        set: &str,
        job_id: i64,
        worker_id: &str,
        now_ms: i64,
        error: Option<&str>,
        run_after_ms: Option<i64>,
    ) -> Result<bool, StoreError> {
        let sql = format!(
            "UPDATE jobs SET {set} WHERE id = $2 AND status = 'running' AND locked_by = $3"
        );
        // PostgreSQL wants exactly as many values as the statement names.
        let binds_error = set.contains("$4");
        let binds_run_after = set.contains("$5");
        debug_assert!(binds_error || !binds_run_after, "$5 needs $4");
        with_pool!(self, op, |pool| {
            let mut query = sqlx::query(&sql).bind(now_ms).bind(job_id).bind(worker_id);
            if binds_error {
                query = query.bind(error);
            }
            if binds_run_after {
                query = query.bind(run_after_ms);
            }
            Ok(query.execute(pool).await?.rows_affected() == 1)
        })
    }

    /// Puts a parked job back in the queue, due now, with a fresh attempt
    /// count; its last error is kept until it next fails or succeeds.
    pub async fn unpark_job(&self, job_id: i64, now_ms: i64) -> Result<bool, StoreError> {
        with_pool!(self, "unpark_job", |pool| {
            let done = sqlx::query(
                "UPDATE jobs SET status = 'queued', attempts = 0, run_after = $1, \
                 updated_at = $1 WHERE id = $2 AND status = 'parked'",
            )
            .bind(now_ms)
            .bind(job_id)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Marks superseded the queued scoring jobs of this pull request whose
    /// head is not `head_sha` (a newer push makes them moot). Running jobs
    /// are left to finish. Returns how many jobs were superseded.
    pub async fn supersede_older(
        &self,
        repository: &str,
        pr_number: i64,
        head_sha: &str,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        with_pool!(self, "supersede_older", |pool| {
            let done = sqlx::query(SUPERSEDE_OLDER)
                .bind(now_ms)
                .bind(JobKind::ScorePullRequest.as_str())
                .bind(repository)
                .bind(pr_number)
                .bind(head_sha)
                .execute(pool)
                .await?;
            Ok(done.rows_affected())
        })
    }

    /// The newest jobs first, all of them or those with `status`.
    pub async fn list_jobs(
        &self,
        status: Option<JobStatus>,
        limit: i64,
    ) -> Result<Vec<JobSummary>, StoreError> {
        with_pool!(self, "list_jobs", |pool| {
            let rows = sqlx::query(
                "SELECT id, kind, repository, pr_number, head_sha, status, attempts, run_after, \
                 locked_by, last_error, created_at, updated_at FROM jobs \
                 WHERE ($1 IS NULL OR status = $1) ORDER BY id DESC LIMIT $2",
            )
            .bind(status.map(JobStatus::as_str))
            .bind(limit)
            .fetch_all(pool)
            .await?;
            let mut jobs = Vec::with_capacity(rows.len());
            for row in &rows {
                jobs.push(job_summary_from_row!(row));
            }
            Ok(jobs)
        })
    }

    /// Number of jobs by status; every status is present, zero included.
    pub async fn job_counts(&self) -> Result<BTreeMap<String, i64>, StoreError> {
        with_pool!(self, "job_counts", |pool| {
            let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status")
                .fetch_all(pool)
                .await?;
            let mut counts: BTreeMap<String, i64> = JobStatus::ALL
                .iter()
                .map(|s| (s.as_str().to_string(), 0))
                .collect();
            for row in &rows {
                counts.insert(row.try_get("status")?, row.try_get("n")?);
            }
            Ok(counts)
        })
    }

    // ----- installations --------------------------------------------------

    /// Creates or refreshes an installation (and clears a removal).
    pub async fn upsert_installation(
        &self,
        installation: &NewInstallation,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let repositories = repository_list(installation.repositories.iter().cloned());
        with_pool!(self, "upsert_installation", |pool| {
            sqlx::query(
                "INSERT INTO installations \
                 (id, account_login, target_type, repositories, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $5) \
                 ON CONFLICT (id) DO UPDATE SET account_login = excluded.account_login, \
                   target_type = excluded.target_type, repositories = excluded.repositories, \
                   updated_at = excluded.updated_at, removed_at = NULL",
            )
            .bind(installation.id)
            .bind(installation.account_login.as_str())
            .bind(installation.target_type.as_str())
            .bind(repositories.as_str())
            .bind(now_ms)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// Records that the App was uninstalled; the row is kept. Returns false
    /// for an unknown installation.
    pub async fn mark_installation_removed(
        &self,
        id: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        with_pool!(self, "mark_installation_removed", |pool| {
            let done = sqlx::query(
                "UPDATE installations SET removed_at = $1, updated_at = $1 WHERE id = $2",
            )
            .bind(now_ms)
            .bind(id)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Adds and removes repositories (full names) of an installation, as
    /// `installation_repositories` events report them. Returns false for an
    /// unknown installation.
    pub async fn set_installation_repositories(
        &self,
        id: i64,
        add: &[String],
        remove: &[String],
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        with_pool!(self, "set_installation_repositories", |pool| {
            let mut tx = pool.begin().await?;
            // Writing first takes the row lock (PostgreSQL) or the write lock
            // (SQLite) before the list is read, so concurrent changes queue up.
            let touched = sqlx::query("UPDATE installations SET updated_at = $1 WHERE id = $2")
                .bind(now_ms)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if touched == 0 {
                tx.rollback().await?;
                return Ok(false);
            }
            let current: String =
                sqlx::query_scalar("SELECT repositories FROM installations WHERE id = $1")
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
            let current: Vec<String> =
                serde_json::from_str(&current).map_err(|e| decode_error("repositories", e))?;
            let updated = repository_list(
                current
                    .into_iter()
                    .chain(add.iter().cloned())
                    .filter(|name| !remove.contains(name)),
            );
            sqlx::query("UPDATE installations SET repositories = $1 WHERE id = $2")
                .bind(updated.as_str())
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// The installation with this id, removed or not.
    pub async fn installation(&self, id: i64) -> Result<Option<Installation>, StoreError> {
        with_pool!(self, "installation", |pool| {
            let row = sqlx::query(
                "SELECT id, account_login, target_type, repositories, created_at, updated_at, \
                 removed_at FROM installations WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await?;
            match row {
                Some(row) => Ok(Some(installation_from_row!(&row))),
                None => Ok(None),
            }
        })
    }

    // ----- scores ---------------------------------------------------------

    /// Records the score of a pull request head; returns its id.
    pub async fn record_score(&self, score: &NewScore, now_ms: i64) -> Result<i64, StoreError> {
        with_pool!(self, "record_score", |pool| {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO scores (repository, pr_number, head_sha, base_sha, probability, \
                 band, model_version, features, conclusion, check_run_id, delivery_id, \
                 created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                 RETURNING id",
            )
            .bind(score.repository.as_str())
            .bind(score.pr_number)
            .bind(score.head_sha.as_str())
            .bind(score.base_sha.as_str())
            .bind(score.probability)
            .bind(score.band.as_str())
            .bind(score.model_version.as_str())
            .bind(score.features.to_string())
            .bind(score.conclusion.as_str())
            .bind(score.check_run_id)
            .bind(score.delivery_id.as_deref())
            .bind(now_ms)
            .fetch_one(pool)
            .await?;
            Ok(id)
        })
    }

    /// The most recent score of a pull request.
    pub async fn latest_score(
        &self,
        repository: &str,
        pr_number: i64,
    ) -> Result<Option<Score>, StoreError> {
        with_pool!(self, "latest_score", |pool| {
            let row = sqlx::query(concat!(
                "SELECT ",
                score_columns!(),
                " FROM scores WHERE repository = $1 AND pr_number = $2 \
                 ORDER BY created_at DESC, id DESC LIMIT 1"
            ))
            .bind(repository)
            .bind(pr_number)
            .fetch_optional(pool)
            .await?;
            match row {
                Some(row) => Ok(Some(score_from_row!(&row))),
                None => Ok(None),
            }
        })
    }

    /// The pull requests of a repository that were scored at `head_sha`, by number.
    pub async fn pull_requests_scored_at(
        &self,
        repository: &str,
        head_sha: &str,
    ) -> Result<Vec<i64>, StoreError> {
        with_pool!(self, "pull_requests_scored_at", |pool| {
            sqlx::query_scalar(
                "SELECT DISTINCT pr_number FROM scores WHERE repository = $1 AND head_sha = $2 \
                 ORDER BY pr_number",
            )
            .bind(repository)
            .bind(head_sha)
            .fetch_all(pool)
            .await
        })
    }

    /// Every score of a repository, oldest first.
    pub async fn scores_for(&self, repository: &str) -> Result<Vec<Score>, StoreError> {
        with_pool!(self, "scores_for", |pool| {
            let rows = sqlx::query(concat!(
                "SELECT ",
                score_columns!(),
                " FROM scores WHERE repository = $1 ORDER BY created_at, id"
            ))
            .bind(repository)
            .fetch_all(pool)
            .await?;
            let mut scores = Vec::with_capacity(rows.len());
            for row in &rows {
                scores.push(score_from_row!(row));
            }
            Ok(scores)
        })
    }

    // ----- audit trail ----------------------------------------------------

    /// Appends an event to the audit trail; returns its id. Events are never
    /// changed or deleted: the database itself refuses it.
    pub async fn append_audit(&self, event: &NewAuditEvent) -> Result<i64, StoreError> {
        with_pool!(self, "append_audit", |pool| {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO audit_events (at, repository, pr_number, head_sha, kind, actor, \
                 detail) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            )
            .bind(event.at)
            .bind(event.repository.as_str())
            .bind(event.pr_number)
            .bind(event.head_sha.as_deref())
            .bind(event.kind.as_str())
            .bind(event.actor.as_deref())
            .bind(event.detail.to_string())
            .fetch_one(pool)
            .await?;
            Ok(id)
        })
    }

    /// Audit events in the order they happened, optionally of one
    /// repository and at or after `since_ms`.
    pub async fn audit_events(
        &self,
        repository: Option<&str>,
        since_ms: Option<i64>,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        with_pool!(self, "audit_events", |pool| {
            let rows = sqlx::query(
                "SELECT id, at, repository, pr_number, head_sha, kind, actor, detail \
                 FROM audit_events \
                 WHERE ($1 IS NULL OR repository = $1) AND ($2 IS NULL OR at >= $2) \
                 ORDER BY at, id",
            )
            .bind(repository)
            .bind(since_ms)
            .fetch_all(pool)
            .await?;
            let mut events = Vec::with_capacity(rows.len());
            for row in &rows {
                events.push(audit_from_row!(row));
            }
            Ok(events)
        })
    }

    /// The latest acceptance of the risk of `head_sha` on this pull request that still stands:
    /// recorded for that head (on this PR, or on no PR when the check run named none), and not
    /// followed by a score of another head of the PR. A new head ends an acceptance for good,
    /// even if the PR is later reset to the accepted commit.
    pub async fn standing_risk_acceptance(
        &self,
        repository: &str,
        pr_number: i64,
        head_sha: &str,
    ) -> Result<Option<AuditEvent>, StoreError> {
        with_pool!(self, "standing_risk_acceptance", |pool| {
            let row = sqlx::query(
                "SELECT a.id, a.at, a.repository, a.pr_number, a.head_sha, a.kind, a.actor, \
                 a.detail FROM audit_events a \
                 WHERE a.repository = $1 AND a.kind = $2 AND a.head_sha = $3 \
                   AND (a.pr_number = $4 OR a.pr_number IS NULL) \
                   AND NOT EXISTS (SELECT 1 FROM scores s \
                     WHERE s.repository = $1 AND s.pr_number = $4 AND s.head_sha <> $3 \
                       AND s.created_at >= a.at) \
                 ORDER BY a.at DESC, a.id DESC LIMIT 1",
            )
            .bind(repository)
            .bind(AUDIT_RISK_ACCEPTED)
            .bind(head_sha)
            .bind(pr_number)
            .fetch_optional(pool)
            .await?;
            match row {
                Some(row) => Ok(Some(audit_from_row!(&row))),
                None => Ok(None),
            }
        })
    }

    // ----- coverage reports -----------------------------------------------

    /// Stores an uploaded coverage report; returns its id.
    pub async fn store_coverage_report(
        &self,
        report: &NewCoverageReport,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        with_pool!(self, "store_coverage_report", |pool| {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO coverage_reports (repository, branch, sha, format, report, \
                 created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            )
            .bind(report.repository.as_str())
            .bind(report.branch.as_str())
            .bind(report.sha.as_str())
            .bind(report.format.as_str())
            .bind(report.report.as_str())
            .bind(now_ms)
            .fetch_one(pool)
            .await?;
            Ok(id)
        })
    }

    /// The newest coverage report uploaded for a branch.
    pub async fn latest_coverage_report(
        &self,
        repository: &str,
        branch: &str,
    ) -> Result<Option<CoverageReport>, StoreError> {
        with_pool!(self, "latest_coverage_report", |pool| {
            let row = sqlx::query(
                "SELECT id, repository, branch, sha, format, report, created_at \
                 FROM coverage_reports WHERE repository = $1 AND branch = $2 \
                 ORDER BY created_at DESC, id DESC LIMIT 1",
            )
            .bind(repository)
            .bind(branch)
            .fetch_optional(pool)
            .await?;
            match row {
                Some(row) => Ok(Some(coverage_from_row!(&row))),
                None => Ok(None),
            }
        })
    }

    /// The newest coverage report uploaded for a commit; one from a run of the repository
    /// itself wins over any from a fork's run (kept under a `owner/name:branch` label).
    pub async fn coverage_report_for_commit(
        &self,
        repository: &str,
        sha: &str,
    ) -> Result<Option<CoverageReport>, StoreError> {
        with_pool!(self, "coverage_report_for_commit", |pool| {
            let row = sqlx::query(
                "SELECT id, repository, branch, sha, format, report, created_at \
                 FROM coverage_reports WHERE repository = $1 AND sha = $2 \
                 ORDER BY CASE WHEN branch LIKE '%:%' THEN 1 ELSE 0 END, \
                   created_at DESC, id DESC LIMIT 1",
            )
            .bind(repository)
            .bind(sha)
            .fetch_optional(pool)
            .await?;
            match row {
                Some(row) => Ok(Some(coverage_from_row!(&row))),
                None => Ok(None),
            }
        })
    }
}

/// Sorted, duplicate-free JSON list of repository names.
fn repository_list(names: impl Iterator<Item = String>) -> String {
    let names: std::collections::BTreeSet<String> = names.collect();
    Value::from(names.into_iter().collect::<Vec<_>>()).to_string()
}

fn decode_error(
    column: &str,
    error: impl std::error::Error + Send + Sync + 'static,
) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: column.to_string(),
        source: Box::new(error),
    }
}

fn parse_json(text: String, column: &str) -> Result<Value, sqlx::Error> {
    serde_json::from_str(&text).map_err(|e| decode_error(column, e))
}

fn parse_status(text: String) -> Result<JobStatus, sqlx::Error> {
    text.parse().map_err(|e| decode_error("status", e))
}
