//! Coverage reports uploaded by CI, by branch and by commit.

use sqlx::Row;

use super::{CoverageReport, NewCoverageReport, NewJob, Pool, Store, StoreError};

/// Inserts one report on `$exec` (a pool or a transaction) and evaluates to its id.
macro_rules! insert_report {
    ($exec:expr, $report:expr, $now:expr) => {{
        let report: &NewCoverageReport = $report;
        sqlx::query_scalar::<_, i64>(
            "INSERT INTO coverage_reports (repository, branch, sha, format, report, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(report.repository.as_str())
        .bind(report.branch.as_str())
        .bind(report.sha.as_str())
        .bind(report.format.as_str())
        .bind(report.report.as_str())
        .bind($now)
        .fetch_one($exec)
        .await?
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

impl Store {
    /// Stores an uploaded coverage report; returns its id.
    pub async fn store_coverage_report(
        &self,
        report: &NewCoverageReport,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        with_write!(self, "store_coverage_report", |pool| {
            Ok(insert_report!(pool, report, now_ms))
        })
    }

    /// What a coverage job does to the database, all or nothing: stores the report, queues the
    /// rescores it calls for, and records `state` on the job, only while `worker_id` still
    /// holds it. A job taken again after a crash finds `state` and does none of it twice (each
    /// rescore would create another check run). `None`, with nothing written, when the job is
    /// no longer the worker's.
    pub async fn store_coverage_report_of_job(
        &self,
        job_id: i64,
        worker_id: &str,
        state: &serde_json::Value,
        report: &NewCoverageReport,
        rescores: &[NewJob],
        now_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        with_write!(self, "store_coverage_report_of_job", |pool| {
            let mut tx = pool.begin().await?;
            let held = sqlx::query(super::queue::SAVE_JOB_STATE)
                .bind(state.to_string())
                .bind(now_ms)
                .bind(job_id)
                .bind(worker_id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1;
            if !held {
                tx.rollback().await?;
                return Ok(None);
            }
            let id = insert_report!(&mut *tx, report, now_ms);
            for job in rescores {
                insert_job!(&mut *tx, job, None::<&str>, now_ms);
            }
            tx.commit().await?;
            Ok(Some(id))
        })
    }

    /// Records that these reports were read to score a change at `now_ms`: retention keeps
    /// what is read.
    pub async fn mark_coverage_reports_used(
        &self,
        ids: &[i64],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        with_write!(self, "mark_coverage_reports_used", |pool| {
            for id in ids {
                sqlx::query("UPDATE coverage_reports SET used_at = $1 WHERE id = $2")
                    .bind(now_ms)
                    .bind(id)
                    .execute(pool)
                    .await?;
            }
            Ok(())
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
