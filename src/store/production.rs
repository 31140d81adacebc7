//! Production history: merged pull requests, deployments and their statuses (immutable
//! events), and what each release shipped, which `crate::production` rebuilds from them.
//! Incidents and their links to pull requests are in `incidents`.

use std::collections::BTreeSet;

use sqlx::Row;

use super::deliveries::{chunks, values};
use super::{Pool, Store, StoreError};
use crate::labels::deployments::{Deployment, DeploymentStatus, PullRecord};

macro_rules! pull_from_row {
    ($row:expr) => {{
        let row = $row;
        PullRecord {
            repository: row.try_get("repository")?,
            number: row.try_get("number")?,
            title: row.try_get("title")?,
            author: row.try_get("author")?,
            head_sha: row.try_get("head_sha")?,
            merge_commit_sha: row.try_get("merge_commit_sha")?,
            merged_at: row.try_get("merged_at")?,
            closed_at: row.try_get("closed_at")?,
            reverts_number: row.try_get("reverts_number")?,
        }
    }};
}

impl Store {
    // ----- pull requests --------------------------------------------------

    /// Records (or updates) a closed or merged pull request; false when it was recorded
    /// before exactly so (a redelivery).
    pub async fn upsert_pull_request(
        &self,
        pull: &PullRecord,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        if self
            .pull_request(&pull.repository, pull.number)
            .await?
            .as_ref()
            == Some(pull)
        {
            return Ok(false);
        }
        with_write!(self, "upsert_pull_request", |pool| {
            sqlx::query(
                "INSERT INTO pull_requests (repository, number, title, author, head_sha, \
                 merge_commit_sha, merged_at, closed_at, reverts_number, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT (repository, number) DO UPDATE SET title = excluded.title, \
                 author = excluded.author, head_sha = excluded.head_sha, \
                 merge_commit_sha = excluded.merge_commit_sha, merged_at = excluded.merged_at, \
                 closed_at = excluded.closed_at, reverts_number = excluded.reverts_number, \
                 updated_at = excluded.updated_at",
            )
            .bind(pull.repository.as_str())
            .bind(pull.number)
            .bind(pull.title.as_str())
            .bind(pull.author.as_deref())
            .bind(pull.head_sha.as_deref())
            .bind(pull.merge_commit_sha.as_deref())
            .bind(pull.merged_at)
            .bind(pull.closed_at)
            .bind(pull.reverts_number)
            .bind(now_ms)
            .execute(pool)
            .await?;
            Ok(true)
        })
    }

    pub async fn pull_request(
        &self,
        repository: &str,
        number: i64,
    ) -> Result<Option<PullRecord>, StoreError> {
        with_pool!(self, "pull_request", |pool| {
            let row = sqlx::query(
                "SELECT repository, number, title, author, head_sha, merge_commit_sha, \
                 merged_at, closed_at, reverts_number FROM pull_requests \
                 WHERE repository = $1 AND number = $2",
            )
            .bind(repository)
            .bind(number)
            .fetch_optional(pool)
            .await?;
            match row {
                Some(row) => Ok(Some(pull_from_row!(&row))),
                None => Ok(None),
            }
        })
    }

    /// The recorded pull requests of a repository, by number.
    pub async fn pull_requests(&self, repository: &str) -> Result<Vec<PullRecord>, StoreError> {
        with_pool!(self, "pull_requests", |pool| {
            let rows = sqlx::query(
                "SELECT repository, number, title, author, head_sha, merge_commit_sha, \
                 merged_at, closed_at, reverts_number FROM pull_requests \
                 WHERE repository = $1 ORDER BY number",
            )
            .bind(repository)
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                out.push(pull_from_row!(row));
            }
            Ok(out)
        })
    }

    // ----- deployments ----------------------------------------------------

    /// Records a deployment event once; false when it was known (nothing is changed).
    pub async fn record_deployment(&self, d: &Deployment, now_ms: i64) -> Result<bool, StoreError> {
        with_write!(self, "record_deployment", |pool| {
            let n = sqlx::query(
                "INSERT INTO deployments (id, repository, environment, sha, ref_name, task, \
                 description, creator, created_at, recorded_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING",
            )
            .bind(d.id)
            .bind(d.repository.as_str())
            .bind(d.environment.as_str())
            .bind(d.sha.as_str())
            .bind(d.ref_name.as_deref())
            .bind(d.task.as_deref())
            .bind(d.description.as_deref())
            .bind(d.creator.as_deref())
            .bind(d.created_at)
            .bind(now_ms)
            .execute(pool)
            .await?
            .rows_affected();
            Ok(n == 1)
        })
    }

    /// Records a deployment status event once; false when it was known.
    pub async fn record_deployment_status(
        &self,
        s: &DeploymentStatus,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        with_write!(self, "record_deployment_status", |pool| {
            let n = sqlx::query(
                "INSERT INTO deployment_statuses (id, deployment_id, repository, state, creator, \
                 description, created_at, recorded_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
            )
            .bind(s.id)
            .bind(s.deployment_id)
            .bind(s.repository.as_str())
            .bind(s.state.as_str())
            .bind(s.creator.as_deref())
            .bind(s.description.as_deref())
            .bind(s.created_at)
            .bind(now_ms)
            .execute(pool)
            .await?
            .rows_affected();
            Ok(n == 1)
        })
    }

    /// Deployments of one repository (or all), oldest first.
    pub async fn deployments(
        &self,
        repository: Option<&str>,
    ) -> Result<Vec<Deployment>, StoreError> {
        with_pool!(self, "deployments", |pool| {
            let rows = sqlx::query(
                "SELECT id, repository, environment, sha, ref_name, task, description, creator, \
                 created_at FROM deployments WHERE ($1 IS NULL OR repository = $1) \
                 ORDER BY created_at, id",
            )
            .bind(repository)
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                out.push(Deployment {
                    id: row.try_get("id")?,
                    repository: row.try_get("repository")?,
                    environment: row.try_get("environment")?,
                    sha: row.try_get("sha")?,
                    ref_name: row.try_get("ref_name")?,
                    task: row.try_get("task")?,
                    description: row.try_get("description")?,
                    creator: row.try_get("creator")?,
                    created_at: row.try_get("created_at")?,
                });
            }
            Ok(out)
        })
    }

    /// Deployment statuses of one repository (or all), oldest first.
    pub async fn deployment_statuses(
        &self,
        repository: Option<&str>,
    ) -> Result<Vec<DeploymentStatus>, StoreError> {
        with_pool!(self, "deployment_statuses", |pool| {
            let rows = sqlx::query(
                "SELECT id, deployment_id, repository, state, creator, description, created_at \
                 FROM deployment_statuses WHERE ($1 IS NULL OR repository = $1) \
                 ORDER BY created_at, id",
            )
            .bind(repository)
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                out.push(DeploymentStatus {
                    id: row.try_get("id")?,
                    deployment_id: row.try_get("deployment_id")?,
                    repository: row.try_get("repository")?,
                    state: row.try_get("state")?,
                    creator: row.try_get("creator")?,
                    description: row.try_get("description")?,
                    created_at: row.try_get("created_at")?,
                });
            }
            Ok(out)
        })
    }

    /// Replaces what the releases of `repository` shipped: (deployment id, PR number) pairs.
    pub async fn replace_deployment_pulls(
        &self,
        repository: &str,
        shipped: &[(i64, i64)],
    ) -> Result<(), StoreError> {
        let wanted: BTreeSet<(i64, i64)> = shipped.iter().copied().collect();
        with_write!(self, "replace_deployment_pulls", |pool| {
            let mut tx = pool.begin().await?;
            // Only the difference is written: a relink of a long history changes a few of
            // hundreds of thousands of pairs, and rewriting them all one by one took seconds.
            let rows = sqlx::query(
                "SELECT deployment_id, pr_number FROM deployment_pulls WHERE repository = $1",
            )
            .bind(repository)
            .fetch_all(&mut *tx)
            .await?;
            let mut stored = BTreeSet::new();
            for row in &rows {
                stored.insert((row.try_get("deployment_id")?, row.try_get("pr_number")?));
            }
            let stale: Vec<(i64, i64)> = stored.difference(&wanted).copied().collect();
            let new: Vec<(i64, i64)> = wanted.difference(&stored).copied().collect();
            for chunk in chunks(&stale) {
                let sql = format!(
                    "DELETE FROM deployment_pulls WHERE repository = $1 \
                     AND (deployment_id, pr_number) IN (VALUES {})",
                    values(chunk.len(), 2, 2, "")
                );
                let mut query = sqlx::query(&sql).bind(repository);
                for (deployment_id, pr_number) in chunk {
                    query = query.bind(deployment_id).bind(pr_number);
                }
                query.execute(&mut *tx).await?;
            }
            for chunk in chunks(&new) {
                let sql = format!(
                    "INSERT INTO deployment_pulls (deployment_id, pr_number, repository) \
                     VALUES {} ON CONFLICT DO NOTHING",
                    values(chunk.len(), 2, 2, ", $1")
                );
                let mut query = sqlx::query(&sql).bind(repository);
                for (deployment_id, pr_number) in chunk {
                    query = query.bind(deployment_id).bind(pr_number);
                }
                query.execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// (deployment id, PR number) pairs of what the releases of `repository` shipped.
    pub async fn deployment_pulls(&self, repository: &str) -> Result<Vec<(i64, i64)>, StoreError> {
        with_pool!(self, "deployment_pulls", |pool| {
            let rows = sqlx::query(
                "SELECT deployment_id, pr_number FROM deployment_pulls WHERE repository = $1 \
                 ORDER BY deployment_id, pr_number",
            )
            .bind(repository)
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                out.push((row.try_get("deployment_id")?, row.try_get("pr_number")?));
            }
            Ok(out)
        })
    }

    /// Every repository the store knows anything about (scores, deployments, incidents).
    pub async fn known_repositories(&self) -> Result<Vec<String>, StoreError> {
        with_pool!(self, "known_repositories", |pool| {
            let rows = sqlx::query(
                "SELECT repository FROM scores UNION SELECT repository FROM deployments \
                 UNION SELECT repository FROM incidents WHERE repository IS NOT NULL \
                 UNION SELECT repository FROM pull_requests ORDER BY 1",
            )
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                out.push(row.try_get::<String, _>(0)?);
            }
            Ok(out)
        })
    }
}
