//! SQLite's side of recording webhook deliveries: the statements of a batch run one after the
//! other on the calling thread, through SQLite's own API (rusqlite), not through sqlx.
//!
//! Why: sqlx runs each SQLite connection on a thread of its own and hands every statement to
//! it over a channel. A batch is five statements (BEGIN, two INSERTs, the supersede, COMMIT),
//! so five hand-offs, and under load each waited for a CPU behind the request tasks: about
//! half of a batch's time went to them, and SQLite has one writer, so its batches are the
//! intake's limit. The intake's writer has a thread of its own and runs the batch there.
//!
//! The SQL is the same text PostgreSQL runs (see `deliveries`); what differs is only how it
//! is executed.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use sqlx::sqlite::SqlitePool;

use super::deliveries::{
    chunks, insert_deliveries_sql, insert_jobs_sql, BatchWrite, PreparedDelivery, PreparedJob,
    SUPERSEDE_IN_BATCH,
};
use super::{JobKind, StoreError};

/// Statements a recording connection keeps prepared: an INSERT per row count of each table
/// (up to `deliveries::ROWS_PER_STATEMENT`) and the supersede.
const PREPARED_STATEMENTS: usize = 160;

/// How long the recording connection waits for another connection's write to end (the
/// workers' writes take turns with it in this process; another process may hold the file).
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Where a SQLite store records deliveries.
#[derive(Clone)]
pub(super) enum Recorder {
    /// A database file: a connection of its own, opened on first use and kept, so that its
    /// prepared statements and page cache stay warm between batches (and opened again after
    /// a batch fails).
    File {
        path: PathBuf,
        connection: Arc<Mutex<Option<rusqlite::Connection>>>,
    },
    /// A batch borrows a connection of the pool: an in-memory database lives in the pool's one
    /// connection.
    Pooled,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Recorder::File { path, .. } => f.debug_struct("File").field("path", path).finish(),
            Recorder::Pooled => f.write_str("Pooled"),
        }
    }
}

impl Recorder {
    pub(super) fn file(path: PathBuf) -> Recorder {
        Recorder::File {
            path,
            connection: Arc::default(),
        }
    }

    /// Closes the recording connection, if one is open. The store's pool is closed first, and
    /// [`Recorder::record`] refuses to open another once it is.
    pub(super) fn close(&self) {
        if let Recorder::File { connection, .. } = self {
            connection
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
        }
    }

    /// Writes `batch` in one transaction and commits it. The caller holds the process's turn
    /// to write. On a file the statements run on this thread, which blocks until the commit is
    /// synced: the intake calls this from its own thread; elsewhere, on a multi-threaded
    /// runtime, the thread is handed over to blocking work for the while.
    pub(super) async fn record<'a>(
        &self,
        pool: &SqlitePool,
        batch: &'a [PreparedDelivery],
        now_ms: i64,
    ) -> Result<BatchWrite<'a>, StoreError> {
        let failed = |source| StoreError::Sqlite {
            op: "record_deliveries",
            source,
        };
        if pool.is_closed() {
            return Err(StoreError::Query {
                op: "record_deliveries",
                source: sqlx::Error::PoolClosed,
            });
        }
        match self {
            Recorder::File { path, connection } => blocking(|| {
                let mut connection = connection.lock().unwrap_or_else(PoisonError::into_inner);
                if connection.is_none() {
                    *connection = Some(open(path).map_err(failed)?);
                }
                let open = connection.as_mut().expect("opened above");
                let written = write_batch(open, batch, now_ms);
                if written.is_err() {
                    // The transaction was rolled back; the next batch starts on a fresh
                    // connection, in case this one is what failed.
                    connection.take();
                }
                written.map_err(failed)
            }),
            Recorder::Pooled => {
                let borrow_failed = |source| StoreError::Query {
                    op: "record_deliveries",
                    source,
                };
                let mut pooled = pool.acquire().await.map_err(borrow_failed)?;
                let mut locked = pooled.lock_handle().await.map_err(borrow_failed)?;
                // SAFETY: the handle is sqlx's open connection, locked out of its worker
                // thread until `locked` is dropped; the borrowed connection (it does not
                // close the handle) and its statements are dropped before that.
                let mut borrowed =
                    unsafe { rusqlite::Connection::from_handle(locked.as_raw_handle().as_ptr()) }
                        .map_err(failed)?;
                let written = write_batch(&mut borrowed, batch, now_ms).map_err(failed);
                drop(borrowed);
                drop(locked);
                written
            }
        }
    }
}

/// Runs `work`, which blocks, without starving a multi-threaded runtime's other tasks. On a
/// current-thread runtime (the intake's own) it simply runs.
fn blocking<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}

/// The recording connection: the settings of the store's pool (write-ahead log, a sync at
/// each commit, foreign keys, the busy timeout).
fn open(path: &std::path::Path) -> rusqlite::Result<rusqlite::Connection> {
    let connection = rusqlite::Connection::open(path)?;
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.pragma_update(None, "foreign_keys", "ON")?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    connection.set_prepared_statement_cache_capacity(PREPARED_STATEMENTS);
    Ok(connection)
}

/// Binds `args` to a statement written with `$1`, `$2`, … placeholders: SQLite numbers a
/// statement's parameters in the order they first appear, so `$N` is looked up by name.
fn bind_numbered(
    statement: &mut rusqlite::CachedStatement<'_>,
    args: &[&dyn rusqlite::ToSql],
) -> rusqlite::Result<()> {
    for index in 1..=statement.parameter_count() {
        let name = statement.parameter_name(index).unwrap_or_default();
        let arg = name
            .strip_prefix('$')
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| args.get(n.checked_sub(1)?))
            .ok_or_else(|| rusqlite::Error::InvalidParameterName(name.to_string()))?;
        statement.raw_bind_parameter(index, *arg)?;
    }
    Ok(())
}

/// One transaction: the batch's deliveries, their jobs and the supersedes (the plan is
/// `BatchWrite`'s, shared with PostgreSQL), committed.
fn write_batch<'a>(
    connection: &mut rusqlite::Connection,
    batch: &'a [PreparedDelivery],
    now_ms: i64,
) -> rusqlite::Result<BatchWrite<'a>> {
    let tx = connection.transaction()?;
    let mut write = BatchWrite::new(batch);

    for chunk in write.delivery_chunks() {
        let mut args: Vec<&dyn rusqlite::ToSql> = vec![&now_ms];
        for &i in &chunk {
            let d = &batch[i];
            args.extend([
                &d.id as &dyn rusqlite::ToSql,
                &d.event,
                &d.action,
                &d.repository,
                &d.payload_deflate,
            ]);
        }
        let mut statement = tx.prepare_cached(&insert_deliveries_sql(chunk.len()))?;
        bind_numbered(&mut statement, &args)?;
        let mut rows = statement.raw_query();
        while let Some(row) = rows.next()? {
            write.inserted(row.get(0)?);
        }
    }

    let jobs = write.jobs();
    for chunk in chunks(&jobs) {
        let run_after: Vec<i64> = chunk
            .iter()
            .map(|(_, job)| job.run_after_ms.unwrap_or(now_ms))
            .collect();
        let mut args: Vec<&dyn rusqlite::ToSql> = vec![&now_ms];
        for ((i, job), run_after) in chunk.iter().zip(&run_after) {
            let job: &PreparedJob = job;
            args.extend([
                &batch[*i].id as &dyn rusqlite::ToSql,
                &job.kind,
                &job.repository,
                &job.pr_number,
                &job.head_sha,
                &job.payload,
                run_after,
            ]);
        }
        let mut statement = tx.prepare_cached(&insert_jobs_sql(chunk.len()))?;
        bind_numbered(&mut statement, &args)?;
        let mut ids = Vec::with_capacity(chunk.len());
        let mut rows = statement.raw_query();
        while let Some(row) = rows.next()? {
            ids.push(row.get::<_, i64>(0)?);
        }
        write.job_ids(ids);
    }

    for run in write.pull_request_runs(&jobs) {
        let (head, keep_from, last_run, reported_with) = run.supersede_args();
        let mut statement = tx.prepare_cached(SUPERSEDE_IN_BATCH)?;
        bind_numbered(
            &mut statement,
            &[
                &now_ms,
                &JobKind::ScorePullRequest,
                &run.repository,
                &run.pr_number,
                &head,
                &keep_from,
                &last_run,
            ],
        )?;
        let superseded = statement.raw_execute()?;
        write.superseded(reported_with, superseded as u64);
    }
    tx.commit()?;
    Ok(write)
}

impl rusqlite::ToSql for JobKind {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}
