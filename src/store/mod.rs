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
//!
//! One file per group of tables: `connection` (opening, migrations), `deliveries`, `queue`
//! (jobs), `installations`, `scores` (and the audit trail), `coverage`, `production`
//! (deployments, pull requests), `incidents` and `retention` (pruning); `recorder` runs the
//! deliveries' statements on SQLite through SQLite's own API, for the intake's speed. This
//! file holds what they share: the pool, the macro that runs a body on either backend, and
//! row decoding.

use std::fmt;

use serde_json::Value;
use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;

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
    /// SQLite has one writer. The writers of this process take turns here, in the order they
    /// came, instead of in SQLite's busy handler, which polls with sleeps of up to 100 ms: a
    /// delivery waits for the write in progress, not for a sleep to run out. Unused on
    /// PostgreSQL, whose writers lock rows, not the database.
    writer: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// How SQLite records webhook deliveries (see `recorder`); unused on PostgreSQL.
    recorder: recorder::Recorder,
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

/// [`with_pool!`] for a body that writes: on SQLite it runs in this process's turn to write.
/// The body must not call another writing method of the store (the turn is not reentrant).
macro_rules! with_write {
    ($store:expr, $op:expr, |$pool:ident| $body:expr) => {{
        let _turn = $store.write_turn().await;
        with_pool!($store, $op, |$pool| $body)
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

/// Appends one audit event on `$exec` (a pool or a transaction) and evaluates to its id.
macro_rules! insert_audit {
    ($exec:expr, $event:expr) => {{
        let event: &NewAuditEvent = $event;
        sqlx::query_scalar::<_, i64>(
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
        .fetch_one($exec)
        .await?
    }};
}

mod connection;
mod coverage;
mod deliveries;
mod error;
mod incidents;
#[macro_use]
mod installations;
mod kind;
mod locks;
mod production;
mod queue;
mod recorder;
mod retention;
mod scores;
mod types;

pub use connection::sqlite_url_in;
pub use deliveries::PreparedDelivery;
pub use error::StoreError;
pub use incidents::{IncidentWrite, LinkChanges, LinkRejection, StoredLink};
pub use kind::*;
pub use locks::HeldLock;
pub use types::*;

/// Prepared statements each connection keeps: the multi-row INSERTs of a batch of deliveries
/// have a text per row count (see `deliveries`), and the rest of the store's statements need
/// room beside them.
const STATEMENT_CACHE: usize = 512;

impl Store {
    fn new(pool: Pool, recorder: recorder::Recorder) -> Store {
        Store {
            pool,
            writer: Default::default(),
            recorder,
        }
    }

    /// This process's turn to write, on SQLite; nothing to wait for on PostgreSQL.
    async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match self.pool {
            Pool::Sqlite(_) => Some(self.writer.lock().await),
            Pool::Postgres(_) => None,
        }
    }
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
