//! Locks held across a piece of work that must not run twice at once for the same thing, in
//! this process and in every other instance sharing the database.

use super::{Pool, Store, StoreError};

/// How many keys the process keeps a mutex for before it forgets those not in use (one per
/// pull request commented on would otherwise pile up for as long as the server runs).
const PRUNE_AT: usize = 1024;

/// A held lock; released when dropped. See [`Store::lock_repository`].
pub struct HeldLock {
    _shared: Option<sqlx::Transaction<'static, sqlx::Postgres>>,
    _local: tokio::sync::OwnedMutexGuard<()>,
}

impl Store {
    /// Holds off every other relinking of `repository` until the guard is dropped.
    pub async fn lock_repository(&self, repository: &str) -> Result<HeldLock, StoreError> {
        self.hold("lock_repository", repository).await
    }

    /// Holds off every other writer of riskgate's comment on pull request `number` of
    /// `repository`, which is found by listing the comments and created when missing: two
    /// jobs of one pull request doing that at once would post two.
    pub async fn lock_sticky_comment(
        &self,
        repository: &str,
        number: u64,
    ) -> Result<HeldLock, StoreError> {
        let key = format!("sticky comment of {repository}#{number}");
        self.hold("lock_sticky_comment", &key).await
    }

    /// The lock named `key`: in this process a mutex, across PostgreSQL instances a
    /// transaction-scoped advisory lock, released when the guard's transaction ends, even if
    /// the process dies. Two keys of the same hash only wait on each other needlessly.
    async fn hold(&self, op: &'static str, key: &str) -> Result<HeldLock, StoreError> {
        static LOCAL: std::sync::OnceLock<
            std::sync::Mutex<
                std::collections::HashMap<String, std::sync::Arc<tokio::sync::Mutex<()>>>,
            >,
        > = std::sync::OnceLock::new();
        let mutex = {
            let mut locks = LOCAL
                .get_or_init(Default::default)
                .lock()
                .expect("lock map");
            if locks.len() >= PRUNE_AT {
                // A mutex no one holds or waits for is only in the map: a later locker of its
                // key makes a new one.
                locks.retain(|_, m| std::sync::Arc::strong_count(m) > 1);
            }
            locks.entry(key.to_string()).or_default().clone()
        };
        let local = mutex.lock_owned().await;
        let shared = match &self.pool {
            Pool::Postgres(pool) => {
                let query = |source| StoreError::Query { op, source };
                let mut tx = pool.begin().await.map_err(query)?;
                sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
                    .bind(key)
                    .execute(&mut *tx)
                    .await
                    .map_err(query)?;
                Some(tx)
            }
            Pool::Sqlite(_) => None,
        };
        Ok(HeldLock {
            _shared: shared,
            _local: local,
        })
    }
}
