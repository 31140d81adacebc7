//! Scores of pull request heads and the append-only audit trail of what was concluded and
//! accepted.

use sqlx::Row;

use super::{
    parse_json, AuditEvent, NewAuditEvent, NewScore, Pool, Score, Store, StoreError,
    AUDIT_RISK_ACCEPTED,
};

macro_rules! score_columns {
    () => {
        "id, repository, pr_number, head_sha, base_sha, probability, band, model_version, \
         features, conclusion, check_run_id, delivery_id, created_at"
    };
}

/// The scores of `$1`, oldest first (a macro, so that `concat!` can use it).
macro_rules! of_repository {
    () => {
        "WHERE repository = $1 ORDER BY created_at, id"
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

impl Store {
    /// Records the score of a pull request head; returns its id.
    pub async fn record_score(&self, score: &NewScore, now_ms: i64) -> Result<i64, StoreError> {
        with_write!(self, "record_score", |pool| {
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
        let sql = concat!(
            "SELECT ",
            score_columns!(),
            " FROM scores ",
            of_repository!()
        );
        self.scores_by(sql, "scores_for", repository).await
    }

    /// The same rows as [`Store::scores_for`] with `features` left `null`: what views of many
    /// scores read (the dashboard, release health), without parsing every score's signals.
    pub async fn score_summaries_for(&self, repository: &str) -> Result<Vec<Score>, StoreError> {
        let sql = concat!(
            "SELECT id, repository, pr_number, head_sha, base_sha, probability, band, \
             model_version, 'null' AS features, conclusion, check_run_id, delivery_id, \
             created_at FROM scores ",
            of_repository!()
        );
        self.scores_by(sql, "score_summaries_for", repository).await
    }

    /// The scores `sql` selects with `$1` = `repository`.
    async fn scores_by(
        &self,
        sql: &'static str,
        op: &'static str,
        repository: &str,
    ) -> Result<Vec<Score>, StoreError> {
        with_pool!(self, op, |pool| {
            let rows = sqlx::query(sql).bind(repository).fetch_all(pool).await?;
            let mut scores = Vec::with_capacity(rows.len());
            for row in &rows {
                scores.push(score_from_row!(row));
            }
            Ok(scores)
        })
    }

    /// Appends an event to the audit trail; returns its id. Events are never
    /// changed or deleted: the database itself refuses it.
    pub async fn append_audit(&self, event: &NewAuditEvent) -> Result<i64, StoreError> {
        with_write!(self, "append_audit", |pool| Ok(insert_audit!(pool, event)))
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
}
