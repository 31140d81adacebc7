//! The worker: claims jobs from the durable queue and carries them out.
//!
//! A job is claimed with a lease and renewed while it runs; a worker that dies leaves a lease
//! that runs out, and the job is claimed again. What a job has already done on GitHub (the
//! check run it created) is saved in the job's state, so a resumed job continues rather than
//! repeats.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::engine::ModelSource;
use crate::github::client::{GitHubApi, GitHubError};
use crate::mining::mirror::Mirrors;
use crate::server::metrics::Metrics;
use crate::server::now_ms;
use crate::store::{Job, Store};

mod merge_group;
pub mod plan;
mod production;
mod pull;

pub use production::issue_incident;

/// How a job ended, short of success.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Worth trying again later (a fetch failed, the database hiccuped).
    #[error("{0}")]
    Retry(String),
    /// Will not get better by retrying: park it with the error visible.
    #[error("{0}")]
    Park(String),
}

impl From<GitHubError> for JobError {
    fn from(e: GitHubError) -> Self {
        // The client already retried faults and waited out rate limits: what reaches here is
        // a refusal or exhausted retries.
        JobError::Park(format!("GitHub: {e}"))
    }
}

impl From<crate::store::StoreError> for JobError {
    fn from(e: crate::store::StoreError) -> Self {
        JobError::Retry(format!("database: {e}"))
    }
}

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub lease: Duration,
    /// Attempts before a retried job is parked.
    pub max_attempts: i64,
    pub retry_base: Duration,
    /// How often an idle worker looks for due jobs (it is also woken on every new job).
    pub poll: Duration,
    /// How incidents are tied to deployments.
    pub links: crate::production::LinkSettings,
    /// GitHub issues carrying this label are incidents.
    pub incident_label: String,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        WorkerSettings {
            lease: Duration::from_secs(120),
            max_attempts: 5,
            retry_base: Duration::from_secs(5),
            poll: Duration::from_secs(2),
            links: crate::production::LinkSettings::default(),
            incident_label: "incident".to_string(),
        }
    }
}

/// Everything a worker needs; shared by all workers of one process.
pub struct Worker {
    pub id: String,
    pub store: Store,
    pub github: GitHubApi,
    pub mirrors: Mirrors,
    pub model: Arc<ModelSource>,
    pub metrics: Arc<Metrics>,
    pub settings: WorkerSettings,
    pub wake: Arc<tokio::sync::Notify>,
    /// One lock per repository: fetches and scoring of one mirror never overlap.
    repo_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Worker {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: String,
        store: Store,
        github: GitHubApi,
        mirrors: Mirrors,
        model: Arc<ModelSource>,
        metrics: Arc<Metrics>,
        settings: WorkerSettings,
        wake: Arc<tokio::sync::Notify>,
    ) -> Worker {
        Worker {
            id,
            store,
            github,
            mirrors,
            model,
            metrics,
            settings,
            wake,
            repo_locks: Mutex::new(HashMap::new()),
        }
    }

    fn repo_lock(&self, full_name: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.repo_locks
            .lock()
            .expect("repo lock map")
            .entry(full_name.to_string())
            .or_default()
            .clone()
    }

    /// Claim and run jobs until `shutdown` turns true; a job in flight is finished first.
    pub async fn run(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                break;
            }
            match self.run_one().await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => tracing::error!(worker = %self.id, error = %e, "claiming a job failed"),
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.settings.poll) => {}
                _ = shutdown.changed() => {}
            }
        }
        tracing::info!(worker = %self.id, "worker stopped");
    }

    /// Claim one due job and run it. Ok(false) when there was none.
    pub async fn run_one(&self) -> Result<bool, crate::store::StoreError> {
        let lease_ms = self.settings.lease.as_millis() as i64;
        let Some(job) = self.store.claim_job(&self.id, lease_ms, now_ms()).await? else {
            return Ok(false);
        };
        let span = tracing::info_span!(
            "job",
            job = job.id,
            kind = %job.kind,
            delivery = job.delivery_id.as_deref().unwrap_or(""),
            repository = job.repository.as_deref().unwrap_or(""),
            pr = job.pr_number.unwrap_or(0),
        );
        let _entered = span.enter();
        drop(_entered);
        let outcome = {
            let heartbeat = self.keep_lease(job.id);
            let work = tracing::Instrument::instrument(self.dispatch(&job), span.clone());
            tokio::select! {
                r = work => r,
                lost = heartbeat => Err(JobError::Retry(format!("lease lost: {lost}"))),
            }
        };
        let now = now_ms();
        let _entered = span.enter();
        match outcome {
            Ok(()) => {
                self.store.complete_job(job.id, &self.id, now).await?;
                tracing::info!("job done");
            }
            Err(JobError::Retry(e)) if job.attempts < self.settings.max_attempts => {
                let delay =
                    self.settings.retry_base * 2u32.saturating_pow(job.attempts.max(1) as u32 - 1);
                self.store
                    .retry_job(job.id, &self.id, &e, now + delay.as_millis() as i64, now)
                    .await?;
                tracing::warn!(error = %e, attempts = job.attempts, "job will be retried");
            }
            Err(e) => {
                self.store
                    .park_job(job.id, &self.id, &e.to_string(), now)
                    .await?;
                tracing::error!(error = %e, attempts = job.attempts, "job parked");
            }
        }
        Ok(true)
    }

    /// Renew the lease at a third of its length; returns only if the job is no longer ours.
    async fn keep_lease(&self, job_id: i64) -> String {
        let lease_ms = self.settings.lease.as_millis() as i64;
        loop {
            tokio::time::sleep(self.settings.lease / 3).await;
            match self
                .store
                .heartbeat(job_id, &self.id, lease_ms, now_ms())
                .await
            {
                Ok(true) => {}
                Ok(false) => return "another worker holds the job".to_string(),
                Err(e) => tracing::warn!(error = %e, "lease renewal failed; trying again"),
            }
        }
    }

    async fn dispatch(&self, job: &Job) -> Result<(), JobError> {
        let started = Instant::now();
        let result = match job.kind.as_str() {
            plan::JOB_SCORE => self.score_pull_request(job).await,
            plan::JOB_SCORE_MERGE_GROUP => self.score_merge_group(job).await,
            plan::JOB_ACCEPT_RISK => self.accept_risk(job).await,
            plan::JOB_INSTALLATION => self.record_installation(job).await,
            plan::JOB_COVERAGE => self.coverage(job).await,
            plan::JOB_RECORD_DEPLOYMENT => self.record_deployment(job).await,
            plan::JOB_RECORD_PULL => self.record_pull(job).await,
            plan::JOB_RECORD_ISSUE => self.record_issue(job).await,
            other => Err(JobError::Park(format!("unknown job kind `{other}`"))),
        };
        if job.kind == plan::JOB_SCORE && result.is_ok() {
            self.metrics.scored(started.elapsed().as_secs_f64());
        }
        result
    }

    async fn save_state(&self, job: &Job, state: &serde_json::Value) -> Result<(), JobError> {
        if !self
            .store
            .save_job_state(job.id, &self.id, state, now_ms())
            .await?
        {
            return Err(JobError::Retry("another worker holds the job".into()));
        }
        Ok(())
    }

    async fn record_installation(&self, job: &Job) -> Result<(), JobError> {
        let p = &job.payload;
        let id = p["installation_id"]
            .as_i64()
            .ok_or_else(|| JobError::Park("installation id missing".into()))?;
        let now = now_ms();
        let strings = |key: &str| -> Vec<String> {
            p[key]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        match p["action"].as_str().unwrap_or("") {
            "deleted" => {
                self.store.mark_installation_removed(id, now).await?;
            }
            "added" | "removed" if p.get("added").is_some() => {
                self.store
                    .set_installation_repositories(id, &strings("added"), &strings("removed"), now)
                    .await?;
            }
            _ => {
                let installation = crate::store::NewInstallation {
                    id,
                    account_login: p["account"].as_str().unwrap_or("").to_string(),
                    target_type: p["target_type"].as_str().unwrap_or("").to_string(),
                    repositories: strings("repositories"),
                };
                self.store.upsert_installation(&installation, now).await?;
            }
        }
        Ok(())
    }
}
