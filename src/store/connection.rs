//! Opening the database: the pool of either backend, and its schema brought up to date by
//! the migrations of that backend.

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::recorder::Recorder;
use super::{error, Backend, Pool, Store, StoreError};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// How long a SQLite connection waits for another writer before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a task waits for a PostgreSQL connection of a pool, the shared one or the
/// intake's.
const POSTGRES_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// The URL of the SQLite file `riskgate.db` in `dir`: the App's database when no URL is
/// given.
pub fn sqlite_url_in(dir: &std::path::Path) -> String {
    format!("sqlite://{}", dir.join("riskgate.db").display())
}

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
                // Durability: a delivery answered 202 is never redelivered by GitHub, so its
                // commit must survive a power loss too, not only a killed process: FULL syncs
                // the WAL at each commit. With group commit that is one sync per batch of
                // deliveries, not one per delivery.
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .statement_cache_capacity(super::STATEMENT_CACHE)
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
                // A connection to a local file does not go stale; a ping before each use
                // was a round trip to the connection's thread for every intake batch.
                .test_before_acquire(false)
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
            let recorder = if in_memory {
                Recorder::Pooled
            } else {
                Recorder::file(pool.connect_options().get_filename().to_path_buf())
            };
            Ok(Store::new(Pool::Sqlite(pool), recorder))
        } else if database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://")
        {
            let options = PgConnectOptions::from_str(database_url)
                .map_err(connect_error)?
                .statement_cache_capacity(super::STATEMENT_CACHE)
                // A prepared statement's generic plan is costed on the table as it was when
                // the plan was made: made on a fresh jobs table, the supersede's plan read
                // every queued job on each delivery once the queue grew (a seq scan joined to
                // the status index), several milliseconds each. Each execution is planned
                // with its own values and the table's size now instead.
                .options([("plan_cache_mode", "force_custom_plan")]);
            let pool = PgPoolOptions::new()
                .max_connections(10)
                .acquire_timeout(POSTGRES_ACQUIRE_TIMEOUT)
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
            Ok(Store::new(Pool::Postgres(pool), Recorder::Pooled))
        } else {
            Err(StoreError::UnsupportedUrl { url: target })
        }
    }

    /// This store with a pool of its own of at most `connections`, for tasks on another
    /// runtime: a PostgreSQL connection is driven by the runtime that opened it, so tasks on a
    /// thread of their own want connections opened there. It takes turns with this store's
    /// writers. SQLite's connections run on threads of their own: the same store.
    pub async fn with_own_pool(&self, connections: u32) -> Result<Store, StoreError> {
        let Pool::Postgres(pool) = &self.pool else {
            return Ok(self.clone());
        };
        let own = PgPoolOptions::new()
            .max_connections(connections)
            .acquire_timeout(POSTGRES_ACQUIRE_TIMEOUT)
            .connect_with((*pool.connect_options()).clone())
            .await
            .map_err(|source| StoreError::Query {
                op: "with_own_pool",
                source,
            })?;
        Ok(Store {
            pool: Pool::Postgres(own),
            writer: self.writer.clone(),
            recorder: Recorder::Pooled,
        })
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
            Pool::Sqlite(pool) => {
                pool.close().await;
                self.recorder.close();
            }
            Pool::Postgres(pool) => pool.close().await,
        }
    }
}
