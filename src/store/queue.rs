//! The job queue: jobs are queued, claimed under a lease, renewed, and finished (done,
//! retried, parked, handed back or superseded). A claim also parks the jobs that keep killing
//! their worker and those of a kind this version does not know.

use std::collections::BTreeMap;

use serde_json::Value;
use sqlx::Row;

use super::{
    decode_error, parse_json, parse_status, Backend, FinishCheckRunJob, Job, JobKind, JobStatus,
    JobSummary, NewJob, Pool, Store, StoreError,
};

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

/// Marks superseded the queued jobs of one kind for a pull request whose head
/// is not the given one: `$1` now, `$2` kind, `$3` repository, `$4` PR, `$5` head.
const SUPERSEDE_OLDER: &str = "UPDATE jobs SET status = 'superseded', updated_at = $1 \
     WHERE status = 'queued' AND kind = $2 AND repository = $3 \
       AND pr_number = $4 AND (head_sha IS NULL OR head_sha <> $5)";

/// Parks the due jobs that have already been started `$1` times (a job that kills the process
/// running it would otherwise be taken again after every restart, for ever). Bounded, so one
/// claim never does unbounded work; the rest are parked by the next claims.
macro_rules! park_exhausted_sql {
    ($jobs:literal, $lock:literal) => {
        concat!(
            "UPDATE jobs SET status = 'parked', locked_until = NULL, updated_at = $2, \
             last_error = CASE WHEN status = 'running' \
               THEN 'started ' || attempts || ' times without finishing: the process running it \
                     stopped each time (a crash, a kill or running out of memory)' \
               ELSE 'tried ' || attempts || ' times; last error: ' || COALESCE(last_error, 'none') \
             END \
             WHERE id IN (SELECT id FROM ",
            $jobs,
            " WHERE status IN ('queued', 'running') \
                 AND ((status = 'queued' AND run_after <= $2) \
                  OR (status = 'running' AND locked_until < $2)) \
                 AND attempts >= $1 \
               ORDER BY id LIMIT 100",
            $lock,
            ") RETURNING id, kind, repository, pr_number, head_sha"
        )
    };
}

/// Claims the oldest due job that has attempts left: `$1` worker, `$2` lease end, `$3` now,
/// `$4` the most attempts a job may have. The `status IN` term is implied by the rest; it is
/// spelled out so that PostgreSQL reads the jobs still to run by their partial index
/// (`jobs_live_by_id`), not every job the table keeps.
macro_rules! claim_sql {
    ($jobs:literal, $lock:literal) => {
        concat!(
            "UPDATE jobs SET status = 'running', locked_by = $1, locked_until = $2, \
             attempts = attempts + 1, updated_at = $3 \
             WHERE id = (SELECT id FROM ",
            $jobs,
            " WHERE status IN ('queued', 'running') \
                 AND ((status = 'queued' AND run_after <= $3) \
                  OR (status = 'running' AND locked_until < $3)) \
                 AND attempts < $4 \
               ORDER BY id LIMIT 1",
            $lock,
            ") RETURNING ",
            job_columns!()
        )
    };
}

// SQLite's planner, without statistics, reads every due job through jobs_by_status and sorts
// them; the claims name the indexes that bound them (see the migration that made them).
const PARK_EXHAUSTED_SQLITE: &str =
    park_exhausted_sql!("jobs INDEXED BY jobs_live_by_attempts", "");
const PARK_EXHAUSTED_POSTGRES: &str = park_exhausted_sql!("jobs", " FOR UPDATE SKIP LOCKED");
const CLAIM_SQLITE: &str = claim_sql!("jobs INDEXED BY jobs_live_by_id", "");
const CLAIM_POSTGRES: &str = claim_sql!("jobs", " FOR UPDATE SKIP LOCKED");

/// The job that completes the check run of a parked scoring job (a pull request's or a merge
/// group's), so that a required check never stays in progress; `None` for other kinds of job.
fn follow_up_of_parked(
    job_id: i64,
    kind: &str,
    repository: Option<String>,
    pr_number: Option<i64>,
    head_sha: Option<String>,
) -> Option<NewJob> {
    (kind == JobKind::ScorePullRequest || kind == JobKind::ScoreMergeGroup).then(|| NewJob {
        kind: JobKind::FinishCheckRun,
        repository,
        pr_number,
        head_sha,
        payload: serde_json::to_value(FinishCheckRunJob { parked_job: job_id })
            .expect("a job id serialises"),
        run_after_ms: None,
    })
}

/// Saves a running job's state, if `$4` still holds it: `$1` state, `$2` now, `$3` job id.
pub(super) const SAVE_JOB_STATE: &str = "UPDATE jobs SET state = $1, updated_at = $2 \
     WHERE id = $3 AND status = 'running' AND locked_by = $4";

/// Parks a job just claimed whose kind this version does not know: `$1` error, `$2` now,
/// `$3` id. Running it could only fail, and another instance may know the kind.
const PARK_UNKNOWN_KIND: &str = "UPDATE jobs SET status = 'parked', locked_until = NULL, \
     last_error = $1, updated_at = $2 WHERE id = $3";

impl Store {
    /// Queues a job that no webhook delivery asked for (an upload, a
    /// scheduled task); returns its id.
    pub async fn enqueue_job(&self, job: &NewJob, now_ms: i64) -> Result<i64, StoreError> {
        with_write!(self, "enqueue_job", |pool| {
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
        with_write!(self, "claim_job", |pool| {
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
        with_write!(self, "heartbeat", |pool| {
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
        with_write!(self, "save_job_state", |pool| {
            let done = sqlx::query(SAVE_JOB_STATE)
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
        with_write!(self, "park_job", |pool| {
            let mut tx = pool.begin().await?;
            let parked = sqlx::query(
                "UPDATE jobs SET status = 'parked', locked_until = NULL, updated_at = $1, \
                 last_error = $2 WHERE id = $3 AND status = 'running' AND locked_by = $4 \
                 RETURNING kind, repository, pr_number, head_sha",
            )
            .bind(now_ms)
            // An error can quote what a payload or a file held.
            .bind(crate::input::without_nul(error.to_string()))
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
        with_write!(self, op, |pool| {
            let mut query = sqlx::query(&sql).bind(now_ms).bind(job_id).bind(worker_id);
            if binds_error {
                // An error can quote what a payload or a file held.
                query = query.bind(error.map(|e| crate::input::without_nul(e.to_string())));
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
        with_write!(self, "unpark_job", |pool| {
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
        with_write!(self, "supersede_older", |pool| {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What SQLite's planner does with `sql`, one line per step.
    async fn sqlite_plan(store: &Store, sql: &str) -> Vec<String> {
        let Pool::Sqlite(pool) = &store.pool else {
            unreachable!("a SQLite store")
        };
        sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}"))
            .fetch_all(pool)
            .await
            .unwrap()
            .iter()
            .map(|row| row.get::<String, _>("detail"))
            .collect()
    }

    /// A claim, and the parking of exhausted jobs it starts with, must not read every due job:
    /// it holds SQLite's one write turn, and webhook deliveries wait for it. The claim walks
    /// the jobs still to run in id order and stops at the first due one (no sort of all of
    /// them); the parking reads only the jobs whose attempts are used up. Neither walks the
    /// table, whose finished jobs stay until retention prunes them. PostgreSQL's side is
    /// tested in the App suite.
    #[tokio::test]
    async fn claims_on_sqlite_read_the_live_jobs_not_the_whole_queue() {
        let dir = tempfile::tempdir().unwrap();
        let url = crate::store::sqlite_url_in(dir.path());
        let store = Store::connect(&url).await.unwrap();
        for (sql, index) in [
            (CLAIM_SQLITE, "USING INDEX jobs_live_by_id"),
            (
                PARK_EXHAUSTED_SQLITE,
                "USING INDEX jobs_live_by_attempts (attempts>?)",
            ),
        ] {
            let plan = sqlite_plan(&store, sql).await;
            assert!(
                plan.iter().any(|step| step.contains(index)),
                "{sql}\n{plan:#?}"
            );
            assert!(
                !plan.iter().any(|step| step.contains("jobs_by_status")
                    || (step.starts_with("SCAN jobs") && !step.contains("jobs_live_by_id"))),
                "{sql}\n{plan:#?}"
            );
        }
        let claim = sqlite_plan(&store, CLAIM_SQLITE).await;
        assert!(
            !claim.iter().any(|step| step.contains("TEMP B-TREE")),
            "the claim sorts: {claim:#?}"
        );
        store.close().await;
    }
}
