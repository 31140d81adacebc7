//! Webhook deliveries: each is recorded once, with the jobs it asks for, in one transaction.

use sqlx::Row;

use super::queue::SUPERSEDE_OLDER;
use super::{Delivery, JobKind, NewDelivery, NewJob, Pool, Recorded, Store, StoreError};

impl Store {
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
}
