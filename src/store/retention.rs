//! Retention: what the store may forget once it is old, in bounded batches.
//!
//! Only rows nothing reads any more are deleted: scores, the audit trail, pull requests,
//! deployments and incidents (what the dashboard, `riskgate audit` and `riskgate train
//! --from-db` read) are kept for good. Each call deletes at most `batch` rows, so a pass over
//! a large backlog never holds the database for long.

use sqlx::Row;

use super::{decode_error, Installation, Pool, Store, StoreError};

impl Store {
    /// Deletes up to `batch` jobs that finished (done or superseded) before `before_ms`.
    /// Parked jobs are kept: they wait for an operator. Returns how many were deleted.
    ///
    /// Done jobs go before superseded ones, each the longest finished first: the order of
    /// `jobs_by_status_updated`, so that a batch reads what it deletes: in the order of ids, a batch read every job due and
    /// sorted them, on PostgreSQL whenever it did not know how many were due.
    pub async fn prune_finished_jobs(&self, before_ms: i64, batch: i64) -> Result<u64, StoreError> {
        with_write!(self, "prune_finished_jobs", |pool| {
            let done = sqlx::query(
                "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs \
                 WHERE status IN ('done', 'superseded') AND updated_at < $1 \
                 ORDER BY status, updated_at LIMIT $2)",
            )
            .bind(before_ms)
            .bind(batch)
            .execute(pool)
            .await?;
            Ok(done.rows_affected())
        })
    }

    /// Forgets up to `batch` webhook deliveries received before `before_ms`: a delivery no job
    /// refers to any more is deleted; one a kept job still refers to (a parked one, say) keeps
    /// its row but loses its payload. Returns how many deliveries were deleted or emptied.
    ///
    /// A redelivery of a deleted delivery would be taken as new; GitHub redelivers only
    /// recent deliveries, far inside any retention worth setting.
    pub async fn prune_deliveries(&self, before_ms: i64, batch: i64) -> Result<u64, StoreError> {
        with_write!(self, "prune_deliveries", |pool| {
            let mut tx = pool.begin().await?;
            let deleted = sqlx::query(
                "DELETE FROM deliveries WHERE id IN (SELECT d.id FROM deliveries d \
                 WHERE d.received_at < $1 \
                   AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.delivery_id = d.id) \
                 ORDER BY d.received_at LIMIT $2)",
            )
            .bind(before_ms)
            .bind(batch)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let emptied = sqlx::query(
                "UPDATE deliveries SET payload = '', payload_deflate = NULL \
                 WHERE id IN (SELECT d.id FROM deliveries d \
                 WHERE d.received_at < $1 AND (d.payload <> '' OR d.payload_deflate IS NOT NULL) \
                   AND EXISTS (SELECT 1 FROM jobs j WHERE j.delivery_id = d.id) \
                 ORDER BY d.received_at LIMIT $2)",
            )
            .bind(before_ms)
            .bind(batch)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            Ok(deleted + emptied)
        })
    }

    /// Deletes up to `batch` coverage reports stored before `before_ms` that a newer report of
    /// the same repository and branch replaces, or that no score has read since `before_ms`.
    /// The newest report of a branch stays while a score reads it (the base of every
    /// comparison, the head of every open pull request rescored); that of a branch gone quiet
    /// goes once it is old, instead of staying for good.
    pub async fn prune_coverage_reports(
        &self,
        before_ms: i64,
        batch: i64,
    ) -> Result<u64, StoreError> {
        with_write!(self, "prune_coverage_reports", |pool| {
            let done = sqlx::query(
                "DELETE FROM coverage_reports WHERE id IN (SELECT c.id FROM coverage_reports c \
                 WHERE c.created_at < $1 \
                   AND (c.used_at IS NULL OR c.used_at < $1 \
                     OR EXISTS (SELECT 1 FROM coverage_reports n \
                       WHERE n.repository = c.repository AND n.branch = c.branch \
                         AND (n.created_at > c.created_at \
                           OR (n.created_at = c.created_at AND n.id > c.id)))) \
                 ORDER BY c.id LIMIT $2)",
            )
            .bind(before_ms)
            .bind(batch)
            .execute(pool)
            .await?;
            Ok(done.rows_affected())
        })
    }

    /// Every installation, removed or not, by id.
    pub async fn installations(&self) -> Result<Vec<Installation>, StoreError> {
        with_pool!(self, "installations", |pool| {
            let rows = sqlx::query(
                "SELECT id, account_login, target_type, repositories, created_at, updated_at, \
                 removed_at FROM installations ORDER BY id",
            )
            .fetch_all(pool)
            .await?;
            let mut installations = Vec::with_capacity(rows.len());
            for row in &rows {
                installations.push(installation_from_row!(row));
            }
            Ok(installations)
        })
    }
}
