//! What a signed webhook delivery becomes: parsed once, planned, and recorded with its jobs.
//! Kept apart from the HTTP handler so that the handler only turns the outcome into a reply.
//!
//! Recording is group commit: every request hands its delivery, ready to write, to the one
//! [`DeliveryWriter`] task and waits. The writer takes whatever has arrived meanwhile and
//! records it all in ONE transaction, then answers each request. A request is answered only
//! after the commit that holds its delivery, so a 202 always names a delivery and jobs that
//! are on disk; under load, many deliveries share one commit (and its sync) instead of
//! queueing for one each.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Mutex};

use crate::github::events::{self, Event, PayloadError};
use crate::jobs::plan::{plan, Plan};
use crate::store::{Backend, NewDelivery, NewJob, PreparedDelivery, Recorded, Store, StoreError};
use crate::time::now_ms;

use super::SignedDelivery;

/// Deliveries in one transaction at most.
const MAX_BATCH: usize = 256;

/// Writer tasks on PostgreSQL (each holds a connection while it writes).
const POSTGRES_WRITERS: u32 = 3;

/// Deliveries waiting for a writer at most. A request whose client hung up leaves its delivery
/// queued, so the requests in flight do not bound the queue; past this a delivery is refused
/// with 503 at once rather than held in memory while the database is stuck.
const MAX_QUEUED: usize = 4 * MAX_BATCH;

/// How long a failed batch may spend recording its deliveries one by one. An error of the
/// database itself (down, locked) fails each of them too; past this budget the rest get the
/// batch's error instead of holding up every later delivery behind the writer.
const RETRY_ALONE_BUDGET: std::time::Duration = std::time::Duration::from_secs(5);

/// A delivery understood and planned, not yet stored.
pub struct PlannedDelivery {
    /// The delivery; its body is `body`, so `delivery.payload` is left empty.
    pub delivery: NewDelivery,
    pub body: bytes::Bytes,
    pub jobs: Vec<NewJob>,
    /// Why there is no job, when there is none.
    pub nothing: Option<String>,
}

impl PlannedDelivery {
    /// Parses the body once (the event and the `action` the delivery is stored with both come
    /// from that one parse) and plans its jobs. An error only for a body that is not JSON.
    pub fn plan(signed: SignedDelivery) -> Result<PlannedDelivery, PayloadError> {
        let SignedDelivery {
            event: event_name,
            delivery_id,
            body,
        } = signed;
        let (event, action) = events::parse_event_and_action(&event_name, &body)?;
        let (jobs, nothing) = match plan(&event) {
            Plan::Queue(jobs) => (jobs, None),
            Plan::Nothing(why) => (Vec::new(), Some(why)),
        };
        Ok(PlannedDelivery {
            delivery: NewDelivery {
                id: delivery_id,
                event: event_name,
                action,
                repository: event_repository(&event),
                // Stored from `body`, as received.
                payload: String::new(),
            },
            body,
            jobs,
            nothing,
        })
    }

    /// Stores the delivery, all its jobs and the supersede of older heads: one transaction,
    /// which it may share with deliveries that arrived at the same time.
    pub async fn record(&self, writer: &DeliveryWriter) -> Result<Recorded, StoreError> {
        // Deflating the body is done here, on the request's task, not by the writer.
        writer
            .record(PreparedDelivery::with_body(
                self.delivery.clone(),
                &self.body,
                &self.jobs,
            ))
            .await
    }
}

/// The one task that records webhook deliveries; cheap to clone.
#[derive(Clone)]
pub struct DeliveryWriter {
    queue: mpsc::Sender<Pending>,
}

struct Pending {
    delivery: PreparedDelivery,
    recorded: oneshot::Sender<Result<Recorded, StoreError>>,
}

impl DeliveryWriter {
    /// Starts the writer; it ends when the last clone is dropped. An error only when the
    /// system refuses a thread.
    ///
    /// The writers run on a thread of their own: they are the intake's bottleneck, and on the
    /// shared runtime each of their awaits on the database waited behind the request tasks
    /// (signature, deflate, parse) that were ready before it. SQLite has one writer.
    /// PostgreSQL takes concurrent transactions and syncs their commits together, so there a
    /// few writers take turns: one collects a batch and writes it, and hands the turn on while
    /// its commit is synced. Their connections are a pool opened on that thread, whose runtime
    /// drives them.
    pub fn start(store: Store) -> std::io::Result<DeliveryWriter> {
        DeliveryWriter::with_queue_bound(store, MAX_QUEUED)
    }

    /// [`DeliveryWriter::start`] with at most `bound` deliveries waiting; more are refused
    /// with [`StoreError::IntakeFull`].
    pub fn with_queue_bound(store: Store, bound: usize) -> std::io::Result<DeliveryWriter> {
        let (queue, deliveries) = mpsc::channel(bound.max(1));
        let deliveries = Arc::new(Mutex::new(deliveries));
        let writers = match store.backend() {
            Backend::Sqlite => 1,
            Backend::Postgres => POSTGRES_WRITERS,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("riskgate-intake".to_string())
            .spawn(move || {
                runtime.block_on(async move {
                    let store = match store.with_own_pool(writers).await {
                        Ok(own) => own,
                        Err(e) => {
                            tracing::warn!(error = %e, "the intake writes on the shared pool");
                            store
                        }
                    };
                    let running: Vec<_> = (0..writers)
                        .map(|_| tokio::spawn(supervise(store.clone(), deliveries.clone())))
                        .collect();
                    for writer in running {
                        let _ = writer.await;
                    }
                })
            })?;
        Ok(DeliveryWriter { queue })
    }

    /// Records `delivery` and returns once it is committed (or could not be).
    pub async fn record(&self, delivery: PreparedDelivery) -> Result<Recorded, StoreError> {
        let (recorded, outcome) = oneshot::channel();
        self.queue
            .try_send(Pending { delivery, recorded })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => StoreError::IntakeFull {
                    waiting: self.queue.max_capacity(),
                },
                mpsc::error::TrySendError::Closed(_) => closed(),
            })?;
        outcome.await.map_err(|_| closed())?
    }
}

/// Runs a writer, and a new one if it panics: on SQLite it is the only one, and without it
/// every delivery would be refused until a restart. The batch it held is answered 503 (its
/// senders see the answer dropped), never 202.
async fn supervise(store: Store, deliveries: Arc<Mutex<mpsc::Receiver<Pending>>>) {
    loop {
        let writer = tokio::spawn(write_batches(store.clone(), deliveries.clone()));
        match writer.await {
            Ok(()) => break,
            Err(e) if e.is_panic() => {
                tracing::error!("the delivery writer panicked; starting another");
            }
            Err(_) => break,
        }
    }
}

/// The writer is gone: the App is stopping.
fn closed() -> StoreError {
    StoreError::Query {
        op: "record_delivery",
        source: sqlx::Error::PoolClosed,
    }
}

async fn write_batches(store: Store, deliveries: Arc<Mutex<mpsc::Receiver<Pending>>>) {
    let mut pending = Vec::with_capacity(MAX_BATCH);
    // Whatever arrived while the last batch was being written is the next batch.
    loop {
        // The turn to collect is held until the batch is written: while this writer waits
        // for its commit, the next collects what arrived during the writing.
        let mut turn = deliveries.clone().lock_owned().await;
        let received = turn.recv_many(&mut pending, MAX_BATCH).await;
        if received == 0 {
            break;
        }
        #[cfg(test)]
        tests::panic_if_asked();
        let (batch, answers): (Vec<PreparedDelivery>, Vec<_>) =
            pending.drain(..).map(|p| (p.delivery, p.recorded)).unzip();
        let started = std::time::Instant::now();
        let recorded = store
            .record_deliveries_releasing(&batch, now_ms(), turn)
            .await;
        tracing::debug!(
            deliveries = batch.len(),
            ms = started.elapsed().as_secs_f64() * 1e3,
            "batch recorded"
        );
        match recorded {
            Ok(outcomes) => {
                for (answer, outcome) in answers.into_iter().zip(outcomes) {
                    let _ = answer.send(Ok(outcome));
                }
            }
            Err(e) if batch.len() == 1 => {
                let _ = answers.into_iter().next().map(|a| a.send(Err(e)));
            }
            Err(e) => {
                // One delivery the database refuses must not cost the others theirs.
                tracing::warn!(error = %e, deliveries = batch.len(), "recording a batch failed: recording each alone");
                let retrying = std::time::Instant::now();
                for (delivery, answer) in batch.into_iter().zip(answers) {
                    if retrying.elapsed() > RETRY_ALONE_BUDGET {
                        let _ = answer.send(Err(StoreError::Query {
                            op: "recording a delivery alone after its batch failed (out of time)",
                            source: sqlx::Error::PoolTimedOut,
                        }));
                        continue;
                    }
                    let one = store
                        .record_deliveries(std::slice::from_ref(&delivery), now_ms())
                        .await
                        .map(|mut o| o.pop().expect("one outcome per delivery"));
                    let _ = answer.send(one);
                }
            }
        }
    }
}

fn event_repository(event: &Event) -> Option<String> {
    use Event::*;
    match event {
        PullRequest { repo, .. }
        | PullRequestReview { repo, .. }
        | CheckRun { repo, .. }
        | CheckSuite { repo, .. }
        | WorkflowRun { repo, .. }
        | MergeGroup { repo, .. }
        | Deployment { repo, .. }
        | PullRequestClosed { repo, .. }
        | Issue { repo, .. } => Some(repo.full_name.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Batches the writer is to panic on, before writing them.
    static PANICS_ASKED: AtomicUsize = AtomicUsize::new(0);

    pub(super) fn panic_if_asked() {
        if PANICS_ASKED
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            panic!("a delivery writer panic asked for by a test");
        }
    }

    fn delivery(id: &str) -> PreparedDelivery {
        let delivery = NewDelivery {
            id: id.to_string(),
            event: "pull_request".to_string(),
            action: Some("opened".to_string()),
            repository: Some("octo/widgets".to_string()),
            payload: String::new(),
        };
        let job = NewJob::score_pull_request(
            "octo/widgets",
            7,
            &"a".repeat(40),
            serde_json::json!({"installation_id": 1}),
        );
        PreparedDelivery::with_body(delivery, br#"{"action":"opened"}"#, &[job])
    }

    /// SQLite has one writer: after it panics, a new one must take the deliveries that
    /// follow, and the delivery it held must be refused, not answered as stored.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_writer_that_panics_is_replaced_and_its_batch_refused() {
        let dir = tempfile::tempdir().unwrap();
        let url = crate::store::sqlite_url_in(dir.path());
        let store = Store::connect(&url).await.unwrap();
        let writer = DeliveryWriter::start(store.clone()).unwrap();

        PANICS_ASKED.store(1, Ordering::SeqCst);
        let lost = writer.record(delivery("held-by-the-panic")).await;
        assert!(lost.is_err(), "{lost:?}");
        assert_eq!(PANICS_ASKED.load(Ordering::SeqCst), 0);
        assert!(store.delivery("held-by-the-panic").await.unwrap().is_none());

        for i in 0..3 {
            let id = format!("after-the-panic-{i}");
            let outcome = writer.record(delivery(&id)).await.unwrap();
            assert!(matches!(outcome, Recorded::Queued { .. }), "{outcome:?}");
            assert!(store.delivery(&id).await.unwrap().is_some());
        }
        store.close().await;
    }
}
