//! Keeping the database and the data dir from growing for ever: old delivery payloads,
//! finished jobs and replaced coverage reports are pruned in bounded batches, and the mirrors
//! of repositories the App no longer has are removed.

use std::sync::Arc;
use std::time::Duration;

use super::Worker;
use crate::store::{Store, StoreError};
use crate::time::now_ms;

#[derive(Debug, Clone, Copy)]
pub struct RetentionSettings {
    /// How long delivery payloads, finished jobs and replaced coverage reports are kept.
    pub keep: Duration,
    /// How often a pruning pass runs.
    pub every: Duration,
    /// Rows one statement deletes at most.
    pub batch: i64,
    /// Statements per kind of row in one pass; what is left waits for the next pass.
    pub max_batches: u32,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings {
            keep: Duration::from_secs(30 * 24 * 3600),
            every: Duration::from_secs(3600),
            batch: 500,
            max_batches: 100,
        }
    }
}

/// What one pass removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub jobs: u64,
    /// Deliveries deleted, or emptied of their payload where a kept job still names them.
    pub deliveries: u64,
    pub coverage_reports: u64,
    pub mirrors: u64,
}

/// Runs `step` until it removes nothing or `max` times.
async fn in_batches<F, Fut>(max: u32, mut step: F) -> Result<u64, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<u64, StoreError>>,
{
    let mut total = 0;
    for _ in 0..max {
        let removed = step().await?;
        total += removed;
        if removed == 0 {
            break;
        }
        // Let other work at the database between batches.
        tokio::task::yield_now().await;
    }
    Ok(total)
}

/// One pass over the database: finished jobs first, so that the deliveries only they named
/// can go too.
pub async fn prune_store(
    store: &Store,
    settings: &RetentionSettings,
    now_ms: i64,
) -> Result<Pruned, StoreError> {
    let before = now_ms.saturating_sub(settings.keep.as_millis() as i64);
    let (max, batch) = (settings.max_batches, settings.batch);
    Ok(Pruned {
        jobs: in_batches(max, || store.prune_finished_jobs(before, batch)).await?,
        deliveries: in_batches(max, || store.prune_deliveries(before, batch)).await?,
        coverage_reports: in_batches(max, || store.prune_coverage_reports(before, batch)).await?,
        mirrors: 0,
    })
}

impl Worker {
    /// Removes the mirrors of these repositories from the data dir, each under its repository
    /// lock. A name that is not `owner/name` is skipped; a failure is logged, and the next
    /// pass tries again for an uninstalled installation. Returns how many were removed.
    pub async fn remove_mirrors(&self, repositories: &[String]) -> u64 {
        let mut removed = 0;
        let names: std::collections::BTreeSet<&String> = repositories.iter().collect();
        for name in names {
            let path = match self.mirrors.path_for(name) {
                Ok(path) => path,
                Err(e) => {
                    tracing::warn!(error = %e, "not a mirror to remove");
                    continue;
                }
            };
            if !path.exists() {
                continue;
            }
            let guard = self.lock_repo(name).await;
            let outcome = guard
                .blocking(move || {
                    std::fs::remove_dir_all(&path)?;
                    // The owner's folder goes with its last mirror; one still in use stays.
                    if let Some(owner) = path.parent() {
                        let _ = std::fs::remove_dir(owner);
                    }
                    Ok::<(), std::io::Error>(())
                })
                .await;
            match outcome {
                Ok(Ok(())) => {
                    removed += 1;
                    tracing::info!(repository = %name, "mirror removed");
                }
                Ok(Err(e)) => tracing::warn!(repository = %name, error = %e, "mirror not removed"),
                Err(e) => tracing::warn!(repository = %name, error = %e, "mirror not removed"),
            }
        }
        removed
    }

    /// One maintenance pass: prune the database, and remove the mirrors of uninstalled
    /// installations' repositories (an installation removed while another instance handled
    /// the event included) unless an active installation still has them.
    pub async fn prune_once(&self, now_ms: i64) -> Result<Pruned, StoreError> {
        let mut pruned = prune_store(&self.store, &self.settings.retention, now_ms).await?;
        let installations = self.store.installations().await?;
        let active: std::collections::BTreeSet<&String> = installations
            .iter()
            .filter(|i| i.removed_at.is_none())
            .flat_map(|i| &i.repositories)
            .collect();
        let gone: Vec<String> = installations
            .iter()
            .filter(|i| i.removed_at.is_some())
            .flat_map(|i| &i.repositories)
            .filter(|r| !active.contains(r))
            .cloned()
            .collect();
        pruned.mirrors = self.remove_mirrors(&gone).await;
        Ok(pruned)
    }

    /// Prune at start and then every `retention.every`, until `shutdown` turns true.
    pub async fn run_maintenance(
        self: Arc<Self>,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            if *shutdown.borrow() {
                break;
            }
            match self.prune_once(now_ms()).await {
                Ok(p) if p != Pruned::default() => tracing::info!(
                    jobs = p.jobs,
                    deliveries = p.deliveries,
                    coverage_reports = p.coverage_reports,
                    mirrors = p.mirrors,
                    "pruned"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "pruning failed; trying again later"),
            }
            tokio::select! {
                _ = tokio::time::sleep(self.settings.retention.every) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn batches_stop_when_nothing_is_left_or_at_the_cap() {
        let mut left = 7u64;
        let total = in_batches(100, || {
            let n = left.min(3);
            left -= n;
            async move { Ok(n) }
        })
        .await
        .unwrap();
        assert_eq!(total, 7);
        let mut calls = 0;
        let total = in_batches(4, || {
            calls += 1;
            async { Ok(10) }
        })
        .await
        .unwrap();
        assert_eq!((total, calls), (40, 4));
    }
}
