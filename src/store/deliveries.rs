//! Webhook deliveries: each is recorded once, with the jobs it asks for, in one transaction;
//! deliveries that arrive together share that transaction (see [`Store::record_deliveries`]).
//! What a batch writes is worked out once ([`BatchWrite`]); PostgreSQL runs its statements
//! through sqlx, SQLite through the `recorder`.

use std::collections::HashSet;
use std::io::Read as _;

use sqlx::Row;

use super::{Delivery, JobKind, NewDelivery, NewJob, Pool, Recorded, Store, StoreError};

/// Rows in one multi-row INSERT at most: a batch is one statement per table up to this. Each
/// row count is its own statement text, prepared once per connection (the connections cache
/// [`super::STATEMENT_CACHE`] statements, room for every size of both INSERTs).
const ROWS_PER_STATEMENT: usize = 64;

/// A delivery and its jobs made ready for the database: the body deflated, the jobs' payloads
/// serialised. Preparing costs CPU but no database time, so each request does its own and
/// the transaction that records a batch only writes.
#[derive(Debug, Clone)]
pub struct PreparedDelivery {
    pub(super) id: String,
    pub(super) event: String,
    pub(super) action: Option<String>,
    pub(super) repository: Option<String>,
    /// The raw body, deflated: webhook bodies are JSON of tens of KB that deflate to a tenth,
    /// and every byte of it is written to the WAL and the table.
    pub(super) payload_deflate: Vec<u8>,
    jobs: Vec<PreparedJob>,
}

#[derive(Debug, Clone)]
pub(super) struct PreparedJob {
    pub(super) kind: JobKind,
    pub(super) repository: Option<String>,
    pub(super) pr_number: Option<i64>,
    pub(super) head_sha: Option<String>,
    pub(super) payload: String,
    pub(super) run_after_ms: Option<i64>,
}

impl PreparedDelivery {
    pub fn new(delivery: &NewDelivery, jobs: &[NewJob]) -> PreparedDelivery {
        let NewDelivery {
            id,
            event,
            action,
            repository,
            payload,
        } = delivery;
        let delivery = NewDelivery {
            id: id.clone(),
            event: event.clone(),
            action: action.clone(),
            repository: repository.clone(),
            payload: String::new(),
        };
        PreparedDelivery::with_body(delivery, payload.as_bytes(), jobs)
    }

    /// A delivery whose body is `body` (UTF-8 JSON as received); `delivery.payload` is not read.
    pub fn with_body(delivery: NewDelivery, body: &[u8], jobs: &[NewJob]) -> PreparedDelivery {
        PreparedDelivery {
            id: delivery.id,
            event: delivery.event,
            action: delivery.action,
            repository: delivery.repository,
            payload_deflate: deflate(body),
            jobs: jobs
                .iter()
                .map(|job| PreparedJob {
                    kind: job.kind,
                    repository: job.repository.clone(),
                    pr_number: job.pr_number,
                    head_sha: job.head_sha.clone(),
                    payload: job.payload.to_string(),
                    run_after_ms: job.run_after_ms,
                })
                .collect(),
        }
    }

    /// The `X-GitHub-Delivery` id.
    pub fn id(&self) -> &str {
        &self.id
    }
}

thread_local! {
    /// A compressor per thread, reset between bodies: a new one would allocate and clear its
    /// window and tables for every delivery.
    static DEFLATE: std::cell::RefCell<flate2::Compress> =
        std::cell::RefCell::new(flate2::Compress::new(flate2::Compression::fast(), false));
}

/// Raw deflate (no zlib header), fastest level: a tenth of a webhook body's size.
fn deflate(bytes: &[u8]) -> Vec<u8> {
    DEFLATE.with_borrow_mut(|compress| {
        compress.reset();
        let mut out = Vec::with_capacity(bytes.len() / 4 + 64);
        loop {
            let read = compress.total_in() as usize;
            let status = compress
                .compress_vec(&bytes[read..], &mut out, flate2::FlushCompress::Finish)
                .expect("deflating into memory");
            if status == flate2::Status::StreamEnd {
                return out;
            }
            out.reserve(out.capacity().max(1024));
        }
    })
}

fn inflate(bytes: &[u8]) -> Result<String, sqlx::Error> {
    let mut text = Vec::with_capacity(bytes.len() * 8);
    flate2::read::DeflateDecoder::new(bytes)
        .read_to_end(&mut text)
        .map_err(|e| super::decode_error("payload_deflate", e))?;
    // A body is stored as received; one with bytes that are not UTF-8 (in a field no event
    // reads) is read back with those replaced, as the text column used to store it.
    Ok(String::from_utf8(text)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

/// Sizes of the statements that insert `n` rows: as few as [`ROWS_PER_STATEMENT`] allows.
fn chunk_sizes(mut n: usize) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        if n == 0 {
            return None;
        }
        let size = ROWS_PER_STATEMENT.min(n);
        n -= size;
        Some(size)
    })
}

/// `($1, $2, …), (…)`: `rows` groups of `columns` numbered placeholders, numbering from
/// `first`; `fixed` is put in each group after them as is (a shared placeholder, say).
pub(super) fn values(rows: usize, columns: usize, first: usize, fixed: &str) -> String {
    let mut sql = String::new();
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..columns {
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("${}", first + r * columns + c));
        }
        sql.push_str(fixed);
        sql.push(')');
    }
    sql
}

/// Marks superseded the queued scoring jobs of one pull request that the deliveries of a batch
/// make moot, as if each delivery had superseded the older heads in turn: `$1` now, `$2` kind,
/// `$3` repository, `$4` PR, `$5` the head of the batch's last job for the PR, `$6` the first
/// job of the batch's last run of jobs for that head (0 when the batch names no other head:
/// older jobs for that head are then left as they are), `$7` the first job of that last run.
/// Each branch is a range of `jobs_by_pull_request`, so the rows read are the rows changed.
/// SQLite's recorder runs it for each pull request of a batch; PostgreSQL runs
/// [`SUPERSEDE_IN_BATCH_EACH_PULL_REQUEST`], which takes the same arguments as arrays.
///
/// Only jobs older than the batch's own (`id < $7`) go. On PostgreSQL several batches are
/// written at once, and one that commits first may hold the newer head: a batch must not
/// supersede a job queued after its own, or the older head would survive and the pull
/// request's real head never be scored. Two heads queued at once are both scored instead.
///
/// The outer `status = 'queued'` is what PostgreSQL checks again on a row another transaction
/// changed while this one waited for it (a claim, say); the subquery keeps the row as it was.
/// Without it a job claimed meanwhile would turn superseded under its running worker.
pub(super) const SUPERSEDE_IN_BATCH: &str =
    "UPDATE jobs SET status = 'superseded', updated_at = $1 \
     WHERE status = 'queued' AND id IN ( \
       SELECT id FROM jobs WHERE repository = $3 AND pr_number = $4 AND status = 'queued' \
         AND kind = $2 AND head_sha IS NULL AND id < $7 \
       UNION ALL SELECT id FROM jobs WHERE repository = $3 AND pr_number = $4 \
         AND status = 'queued' AND kind = $2 AND head_sha < $5 AND id < $7 \
       UNION ALL SELECT id FROM jobs WHERE repository = $3 AND pr_number = $4 \
         AND status = 'queued' AND kind = $2 AND head_sha > $5 AND id < $7 \
       UNION ALL SELECT id FROM jobs WHERE repository = $3 AND pr_number = $4 \
         AND status = 'queued' AND kind = $2 AND head_sha = $5 AND id < $6)";

/// [`SUPERSEDE_IN_BATCH`] for every pull request of a batch in one statement, on PostgreSQL,
/// where each statement is planned afresh (see `connection.rs`): a burst over many pull
/// requests pays one plan per batch, not one per pull request; a batch of one pull request
/// runs it too. `$1` now, `$2` kind, then one array per argument of the single form, an
/// element per pull request: `$3` repositories, `$4` PRs, `$5` heads, `$6` keep-from and `$7`
/// last-run ids. The rows are locked in id order
/// first, so batches written at once (by other instances too) never wait on each other in a
/// circle, and a job that stopped being queued while the lock was awaited is left alone. It
/// returns the pull request of each job superseded. Its plan cannot see the pull requests'
/// values; the migration `supersede_estimates` keeps it to `jobs_by_pull_request` when a
/// backlog skews the table's statistics.
///
/// The jobs found are then looked up by id (`= ANY(ARRAY(…))` runs the search once, first),
/// and whether each is still queued is asked as `status || ''`, which no index answers. Asked
/// as `status = 'queued'`, the planner may instead read every queued job through an index on
/// `status` and match each against the jobs found: a backlog read again for every delivery,
/// whenever its estimate of the queued jobs is low (see the migration `status_estimates`).
pub(super) const SUPERSEDE_IN_BATCH_EACH_PULL_REQUEST: &str = "WITH doomed AS ( \
       SELECT id FROM jobs WHERE status || '' = 'queued' AND id = ANY(ARRAY( \
         SELECT j.id FROM unnest($3::text[], $4::int8[], $5::text[], $6::int8[], $7::int8[]) \
           AS r(repository, pr_number, head, keep_from, last_run), \
         LATERAL ( \
           SELECT id FROM jobs WHERE repository = r.repository AND pr_number = r.pr_number \
             AND status = 'queued' AND kind = $2 AND head_sha IS NULL AND id < r.last_run \
           UNION ALL SELECT id FROM jobs WHERE repository = r.repository \
             AND pr_number = r.pr_number AND status = 'queued' AND kind = $2 \
             AND head_sha < r.head AND id < r.last_run \
           UNION ALL SELECT id FROM jobs WHERE repository = r.repository \
             AND pr_number = r.pr_number AND status = 'queued' AND kind = $2 \
             AND head_sha > r.head AND id < r.last_run \
           UNION ALL SELECT id FROM jobs WHERE repository = r.repository \
             AND pr_number = r.pr_number AND status = 'queued' AND kind = $2 \
             AND head_sha = r.head AND id < r.keep_from) j)) \
       ORDER BY id FOR UPDATE) \
     UPDATE jobs SET status = 'superseded', updated_at = $1 FROM doomed \
     WHERE jobs.id = doomed.id RETURNING jobs.repository, jobs.pr_number";

/// The INSERT of `rows` deliveries: `$1` now, then id, event, action, repository and the
/// deflated body of each; it returns the ids that were new.
pub(super) fn insert_deliveries_sql(rows: usize) -> String {
    format!(
        "INSERT INTO deliveries (id, event, action, repository, payload_deflate, \
         payload, received_at) VALUES {} ON CONFLICT (id) DO NOTHING RETURNING id",
        values(rows, 5, 2, ", '', $1")
    )
}

/// The INSERT of `rows` queued jobs: `$1` now, then delivery, kind, repository, PR, head,
/// payload and run-after of each; it returns their ids.
pub(super) fn insert_jobs_sql(rows: usize) -> String {
    format!(
        "INSERT INTO jobs (delivery_id, kind, repository, pr_number, head_sha, \
         payload, run_after, status, attempts, created_at, updated_at) VALUES {} \
         RETURNING id",
        values(rows, 7, 2, ", 'queued', 0, $1, $1")
    )
}

/// What one batch writes, worked out as its statements answer. Both backends run their
/// statements through it, so they write the same rows and report the same outcomes.
pub(super) struct BatchWrite<'a> {
    batch: &'a [PreparedDelivery],
    /// The first delivery of each id in the batch: a repeat is a duplicate without asking.
    candidates: Vec<usize>,
    /// Ids the deliveries' INSERT reported new.
    inserted: HashSet<String>,
    /// Job ids in the order of [`BatchWrite::jobs`].
    job_ids: Vec<i64>,
    /// Jobs superseded, counted on the batch's last delivery for each pull request.
    superseded: Vec<u64>,
}

/// A job of the batch and the index of its delivery.
pub(super) type BatchJob<'a> = (usize, &'a PreparedJob);

impl<'a> BatchWrite<'a> {
    pub(super) fn new(batch: &'a [PreparedDelivery]) -> BatchWrite<'a> {
        let mut seen = HashSet::with_capacity(batch.len());
        BatchWrite {
            batch,
            candidates: (0..batch.len())
                .filter(|&i| seen.insert(batch[i].id.as_str()))
                .collect(),
            inserted: HashSet::with_capacity(batch.len()),
            job_ids: Vec::new(),
            superseded: vec![0; batch.len()],
        }
    }

    /// The deliveries to insert, a statement's worth at a time (indexes into the batch).
    pub(super) fn delivery_chunks(&self) -> Vec<Vec<usize>> {
        chunks(&self.candidates).map(<[usize]>::to_vec).collect()
    }

    /// The deliveries' INSERT reported `id` new.
    pub(super) fn inserted(&mut self, id: String) {
        self.inserted.insert(id);
    }

    /// The new deliveries, in batch order.
    fn new_deliveries(&self) -> impl Iterator<Item = usize> + '_ {
        self.candidates
            .iter()
            .copied()
            .filter(|&i| self.inserted.contains(&self.batch[i].id))
    }

    /// The jobs of the new deliveries, in batch order.
    pub(super) fn jobs(&self) -> Vec<BatchJob<'a>> {
        let batch = self.batch;
        self.new_deliveries()
            .flat_map(|i| batch[i].jobs.iter().map(move |j| (i, j)))
            .collect()
    }

    /// The jobs' INSERT returned `ids` for the next chunk of [`BatchWrite::jobs`].
    pub(super) fn job_ids(&mut self, mut ids: Vec<i64>) {
        // Ids are handed out in the order of the VALUES rows (SQLite's rowids, a PostgreSQL
        // sequence taken row by row); RETURNING need not keep that order.
        ids.sort_unstable();
        self.job_ids.extend(ids);
    }

    /// The scoring jobs of each pull request, once every job has its id. In one order, so
    /// that batches written at once (PostgreSQL) lock the rows of pull requests they share
    /// in the same order and never wait on each other in a circle.
    pub(super) fn pull_request_runs(&self, jobs: &[BatchJob<'a>]) -> Vec<PullRequestRun<'a>> {
        let mut runs: Vec<PullRequestRun> = Vec::new();
        for (&(i, job), &id) in jobs.iter().zip(&self.job_ids) {
            if job.kind != JobKind::ScorePullRequest {
                continue;
            }
            let (Some(repository), Some(pr_number), Some(head)) = (
                job.repository.as_deref(),
                job.pr_number,
                job.head_sha.as_deref(),
            ) else {
                continue;
            };
            match runs
                .iter_mut()
                .find(|r| r.repository == repository && r.pr_number == pr_number)
            {
                Some(run) => run.jobs.push((head, id, i)),
                None => runs.push(PullRequestRun {
                    repository,
                    pr_number,
                    jobs: vec![(head, id, i)],
                }),
            }
        }
        runs.sort_by(|a, b| (a.repository, a.pr_number).cmp(&(b.repository, b.pr_number)));
        runs
    }

    /// The supersede reported with delivery `delivery` changed `count` jobs.
    pub(super) fn superseded(&mut self, delivery: usize, count: u64) {
        self.superseded[delivery] += count;
    }

    /// The outcome of each delivery, in batch order.
    pub(super) fn outcomes(self) -> Vec<Recorded> {
        let mut outcomes = vec![Recorded::Duplicate; self.batch.len()];
        let mut ids = self.job_ids.iter().copied();
        for i in self.new_deliveries() {
            let n = self.batch[i].jobs.len();
            outcomes[i] = if n == 0 {
                Recorded::Stored
            } else {
                Recorded::Queued {
                    job_ids: ids.by_ref().take(n).collect(),
                    superseded: self.superseded[i],
                }
            };
        }
        outcomes
    }
}

/// `items` a statement's worth at a time: as few statements as [`ROWS_PER_STATEMENT`] allows.
pub(super) fn chunks<T>(items: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = items;
    chunk_sizes(items.len()).map(move |size| {
        let (chunk, later) = rest.split_at(size);
        rest = later;
        chunk
    })
}

/// The scoring jobs of one pull request in a batch, in the order of the batch.
pub(super) struct PullRequestRun<'a> {
    pub(super) repository: &'a str,
    pub(super) pr_number: i64,
    /// (head, job id, index of the delivery in the batch)
    jobs: Vec<(&'a str, i64, usize)>,
}

impl<'a> PullRequestRun<'a> {
    /// `$5`, `$6` and `$7` of [`SUPERSEDE_IN_BATCH`], and the delivery the count is reported
    /// with.
    pub(super) fn supersede_args(&self) -> (&'a str, i64, i64, usize) {
        let &(last_head, _, last_delivery) = self.jobs.last().expect("a run has a job");
        let trailing = self
            .jobs
            .iter()
            .rposition(|(head, _, _)| *head != last_head)
            .map(|i| i + 1);
        let last_run = self.jobs[trailing.unwrap_or(0)].1;
        // Another head came before the last run: everything queued before it goes.
        let keep_from = if trailing.is_some() { last_run } else { 0 };
        (last_head, keep_from, last_run, last_delivery)
    }
}

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
        let prepared = [PreparedDelivery::new(delivery, jobs)];
        let mut recorded = self.record_deliveries(&prepared, now_ms).await?;
        Ok(recorded.pop().expect("one outcome per delivery"))
    }

    /// Records deliveries that arrived together, with their jobs and supersedes, in ONE
    /// transaction (one commit, one sync, for all of them), with the outcome of each in order.
    /// What is written is what recording them one after the other would write: a delivery id
    /// seen before, or earlier in the batch, is a [`Recorded::Duplicate`] and writes nothing,
    /// and a later head of a pull request supersedes the jobs of an earlier one. The count of
    /// jobs superseded for a pull request is reported with the batch's last delivery for it.
    /// An error leaves nothing of any of them.
    pub async fn record_deliveries(
        &self,
        batch: &[PreparedDelivery],
        now_ms: i64,
    ) -> Result<Vec<Recorded>, StoreError> {
        self.record_deliveries_releasing(batch, now_ms, ()).await
    }

    /// [`Store::record_deliveries`], dropping `turn` once the batch is done with it. On
    /// PostgreSQL that is when the batch's statements have run, before its commit is awaited
    /// (or when it fails): the intake's writers take turns that way, the next one collecting
    /// and writing its batch while this one's commit is being synced, so that its batch holds
    /// everything that arrived in the meantime. SQLite has one writer, and drops it after the
    /// commit.
    pub async fn record_deliveries_releasing<T: Send>(
        &self,
        batch: &[PreparedDelivery],
        now_ms: i64,
        turn: T,
    ) -> Result<Vec<Recorded>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let write = match &self.pool {
            Pool::Sqlite(pool) => {
                let _write = self.writer.lock().await;
                let written = self.recorder.record(pool, batch, now_ms).await;
                drop(turn);
                written?
            }
            Pool::Postgres(pool) => record_on_postgres(pool, batch, now_ms, turn)
                .await
                .map_err(|source| StoreError::Query {
                    op: "record_deliveries",
                    source,
                })?,
        };
        Ok(write.outcomes())
    }

    /// The stored delivery with this id.
    pub async fn delivery(&self, id: &str) -> Result<Option<Delivery>, StoreError> {
        with_pool!(self, "delivery", |pool| {
            let row = sqlx::query(
                "SELECT id, event, action, repository, received_at, payload, payload_deflate \
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
                    payload: match row.try_get::<Option<Vec<u8>>, _>("payload_deflate")? {
                        Some(deflated) => inflate(&deflated)?,
                        None => row.try_get("payload")?,
                    },
                })),
                None => Ok(None),
            }
        })
    }
}

/// A batch on PostgreSQL, through sqlx; `turn` is dropped once the statements have run.
async fn record_on_postgres<'a, T: Send>(
    pool: &sqlx::PgPool,
    batch: &'a [PreparedDelivery],
    now_ms: i64,
    turn: T,
) -> Result<BatchWrite<'a>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let mut write = BatchWrite::new(batch);

    for chunk in write.delivery_chunks() {
        let sql = insert_deliveries_sql(chunk.len());
        let mut query = sqlx::query(&sql).bind(now_ms);
        for i in chunk {
            let d = &batch[i];
            query = query
                .bind(d.id.as_str())
                .bind(d.event.as_str())
                .bind(d.action.as_deref())
                .bind(d.repository.as_deref())
                .bind(d.payload_deflate.as_slice());
        }
        for row in query.fetch_all(&mut *tx).await? {
            write.inserted(row.try_get("id")?);
        }
    }

    let jobs = write.jobs();
    for chunk in chunks(&jobs) {
        let sql = insert_jobs_sql(chunk.len());
        let mut query = sqlx::query(&sql).bind(now_ms);
        for &(i, job) in chunk {
            query = query
                .bind(batch[i].id.as_str())
                .bind(job.kind.as_str())
                .bind(job.repository.as_deref())
                .bind(job.pr_number)
                .bind(job.head_sha.as_deref())
                .bind(job.payload.as_str())
                .bind(job.run_after_ms.unwrap_or(now_ms));
        }
        let mut ids = Vec::with_capacity(chunk.len());
        for row in query.fetch_all(&mut *tx).await? {
            ids.push(row.try_get::<i64, _>("id")?);
        }
        write.job_ids(ids);
    }

    let runs = write.pull_request_runs(&jobs);
    // One pull request too: the single form asks whether a job is still queued in a way an
    // index on `status` answers, and its plan may read every queued job to do so (see the
    // statement for many).
    if !runs.is_empty() {
        let args: Vec<_> = runs.iter().map(PullRequestRun::supersede_args).collect();
        let rows = sqlx::query(SUPERSEDE_IN_BATCH_EACH_PULL_REQUEST)
            .bind(now_ms)
            .bind(JobKind::ScorePullRequest.as_str())
            .bind(runs.iter().map(|r| r.repository).collect::<Vec<_>>())
            .bind(runs.iter().map(|r| r.pr_number).collect::<Vec<_>>())
            .bind(args.iter().map(|a| a.0).collect::<Vec<_>>())
            .bind(args.iter().map(|a| a.1).collect::<Vec<_>>())
            .bind(args.iter().map(|a| a.2).collect::<Vec<_>>())
            .fetch_all(&mut *tx)
            .await?;
        for row in rows {
            let (repository, pr_number): (String, i64) =
                (row.try_get("repository")?, row.try_get("pr_number")?);
            // The runs are sorted by pull request.
            if let Ok(i) = runs.binary_search_by(|r| {
                (r.repository, r.pr_number).cmp(&(repository.as_str(), pr_number))
            }) {
                write.superseded(args[i].3, 1);
            }
        }
    }
    drop(turn);
    tx.commit().await?;
    Ok(write)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_as_few_as_the_cap_allows() {
        let sizes: Vec<usize> = chunk_sizes(135).collect();
        assert_eq!(sizes, vec![64, 64, 7]);
        assert_eq!(chunk_sizes(0).count(), 0);
        assert_eq!(chunk_sizes(1).collect::<Vec<_>>(), vec![1]);
    }

    #[test]
    fn values_number_the_placeholders() {
        assert_eq!(values(2, 2, 3, ", $1"), "($3, $4, $1), ($5, $6, $1)");
    }

    #[test]
    fn a_deflated_body_inflates_to_itself() {
        let body = r#"{"action":"opened","number":1}"#.repeat(100);
        let deflated = deflate(body.as_bytes());
        assert!(deflated.len() < body.len() / 10);
        assert_eq!(inflate(&deflated).unwrap(), body);
    }

    fn run(jobs: &[(&'static str, i64)]) -> PullRequestRun<'static> {
        PullRequestRun {
            repository: "o/r",
            pr_number: 1,
            jobs: jobs
                .iter()
                .enumerate()
                .map(|(i, &(h, id))| (h, id, i))
                .collect(),
        }
    }

    #[test]
    fn a_batch_keeps_its_last_run_of_the_last_head() {
        // One head only: older jobs for it stay (as one delivery at a time would leave them).
        assert_eq!(run(&[("a", 5), ("a", 6)]).supersede_args(), ("a", 0, 5, 1));
        // a, b, a: the first a went when b came; the b when the last a came.
        assert_eq!(
            run(&[("a", 5), ("b", 6), ("a", 7)]).supersede_args(),
            ("a", 7, 7, 2)
        );
        assert_eq!(
            run(&[("b", 5), ("a", 6), ("a", 7)]).supersede_args(),
            ("a", 6, 6, 2)
        );
    }
}
