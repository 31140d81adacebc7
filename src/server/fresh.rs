//! A value read from the database for endpoints anyone may call often (metrics, readiness):
//! one read at a time, shared by every request that arrived before it started, so that a
//! client polling them on many connections holds one of the database's connections, not one
//! per request, and the webhook intake keeps the rest. These endpoints stay outside the
//! request limit, so nothing else bounds them. A request is never given a value read before
//! it arrived: a test or an operator who queues a job and then asks sees it counted.

use std::future::Future;

use tokio::sync::Mutex;
use tokio::time::Instant;

pub struct Fresh<T> {
    /// The last value read, and when its read started.
    last: Mutex<Option<(Instant, T)>>,
}

impl<T> Default for Fresh<T> {
    fn default() -> Self {
        Fresh {
            last: Mutex::new(None),
        }
    }
}

impl<T: Clone> Fresh<T> {
    /// The value of a read that started after this call did: the one just read by a request
    /// that went first, or `read`'s.
    pub async fn get<F, Fut>(&self, read: F) -> T
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        let arrived = Instant::now();
        let mut last = self.last.lock().await;
        if let Some((started, value)) = last.as_ref() {
            if *started >= arrived {
                return value.clone();
            }
        }
        let started = Instant::now();
        let value = read().await;
        *last = Some((started, value.clone()));
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;
    use tokio::sync::Notify;

    /// Requests that arrive while a read runs share the next read, one for them all; a
    /// request that comes after a read is never given its value.
    #[tokio::test]
    async fn requests_waiting_share_one_read_and_a_later_request_reads_again() {
        let fresh = Arc::new(Fresh::<usize>::default());
        let reads = Arc::new(AtomicUsize::new(0));
        let started = Arc::new(Notify::new());
        let read = |reads: Arc<AtomicUsize>, started: Arc<Notify>| async move {
            started.notify_one();
            // A slow read: the other requests arrive while it runs.
            tokio::time::sleep(Duration::from_millis(100)).await;
            reads.fetch_add(1, Ordering::SeqCst) + 1
        };
        let first = {
            let (fresh, reads, started) = (fresh.clone(), reads.clone(), started.clone());
            tokio::spawn(async move { fresh.get(|| read(reads, started)).await })
        };
        started.notified().await;
        // The test runs on one thread: each request below arrives (and waits for the first
        // read) when this task next waits, long before the first read's 100 ms are over.
        let mut waiting = Vec::new();
        for _ in 0..50 {
            let (fresh, reads) = (fresh.clone(), reads.clone());
            let started = Arc::new(Notify::new());
            waiting.push(tokio::spawn(async move {
                fresh.get(|| read(reads, started)).await
            }));
        }
        assert_eq!(first.await.unwrap(), 1);
        for ask in waiting {
            assert_eq!(
                ask.await.unwrap(),
                2,
                "a request that arrived during the first read is given the second"
            );
        }
        assert_eq!(reads.load(Ordering::SeqCst), 2, "fifty requests, one read");

        let later = fresh.get(|| read(reads.clone(), Arc::new(Notify::new())));
        assert_eq!(later.await, 3);
    }
}
