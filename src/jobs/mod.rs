//! The worker: claims jobs from the durable queue and carries them out.
//!
//! A job is claimed with a lease and renewed while it runs; a worker that dies leaves a lease
//! that runs out, and the job is claimed again. What a job has already done on GitHub (the
//! check run it created) is saved in the job's state, so a resumed job continues rather than
//! repeats. A job that keeps killing its worker is parked by the claim once it has been started
//! `max_attempts` times, and every job runs against a deadline; a parked scoring job is
//! followed by a job that completes its check run, so a required check never stays pending.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::github::client::{CheckRunId, GitHubApi, GitHubError, RepoId};
use crate::github::CHECK_NAME;
use crate::mining::mirror::Mirrors;
use crate::model::file::ModelSource;
use crate::store::{Job, JobKind, Store};
use crate::telemetry::Metrics;
use crate::time::now_ms;

/// Where a job's check run is: the repository, the commit and the run's `external_id`.
struct CheckTarget<'a> {
    installation_id: u64,
    repo: RepoId<'a>,
    head_sha: &'a str,
    external_id: &'a str,
}

mod merge_group;
mod retention;

pub mod payload;
pub mod plan;
mod production;
mod pull;

pub use production::issue_incident;
pub use retention::{prune_store, Pruned, RetentionSettings};

/// How the error of a job stopped at its deadline begins; the job that completes a parked
/// scoring job's check run tells a timeout from other failures by it.
pub const PAST_DEADLINE: &str = "ran past its time limit";

/// A job's deadline, and when its scoring proper began: the wait for the repository's lock and
/// the fetch come first, and they are not the change's own cost.
pub(crate) struct JobClock {
    pub(crate) deadline: Instant,
    scoring_began: std::sync::OnceLock<Instant>,
}

impl JobClock {
    fn new(deadline: Instant) -> JobClock {
        JobClock {
            deadline,
            scoring_began: std::sync::OnceLock::new(),
        }
    }

    /// Scoring proper begins now: the mirror is fetched and held.
    pub(crate) fn scoring_begins(&self) {
        let _ = self.scoring_began.set(Instant::now());
    }

    /// Whether scoring proper had at least half of `limit` before the deadline. Stopped after
    /// that, the same change would take as long again; stopped sooner, the time went to
    /// waiting for the mirror or fetching it, which goes on under the lock and which a later
    /// attempt finds done.
    fn scoring_had_its_time(&self, limit: Duration) -> bool {
        self.scoring_began
            .get()
            .is_some_and(|began| self.deadline.saturating_duration_since(*began) >= limit / 2)
    }
}

/// How a job ended, short of success.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Worth trying again later (a fetch failed, the database hiccuped).
    #[error("{0}")]
    Retry(String),
    /// Will not get better by retrying: park it with the error visible.
    #[error("{0}")]
    Park(String),
    /// The job's deadline passed (the worker stopped waiting, or blocking work gave up).
    #[error("{}", PAST_DEADLINE)]
    TimedOut,
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
    /// How long a claimed job stays this worker's without a heartbeat; heartbeats come at a
    /// third of it, so a job whose worker died is taken again within one lease.
    pub lease: Duration,
    /// Claims of one job before it is parked instead of run again (retried failures and
    /// crashes alike).
    pub max_attempts: i64,
    pub retry_base: Duration,
    /// How often an idle worker looks for due jobs (it is also woken on every new job).
    pub poll: Duration,
    /// The longest a scoring job (a pull request's or a merge group's) may run before it is
    /// stopped and its check completed.
    pub score_timeout: Duration,
    /// The longest any other job may run.
    pub job_timeout: Duration,
    /// What is kept how long, and how often it is pruned.
    pub retention: RetentionSettings,
    /// How incidents are tied to deployments.
    pub links: crate::production::LinkSettings,
    /// GitHub issues carrying this label are incidents.
    pub incident_label: String,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        WorkerSettings {
            lease: Duration::from_secs(30),
            max_attempts: 5,
            retry_base: Duration::from_secs(5),
            poll: Duration::from_secs(2),
            score_timeout: Duration::from_secs(120),
            job_timeout: Duration::from_secs(300),
            retention: RetentionSettings::default(),
            links: crate::production::LinkSettings::default(),
            incident_label: "incident".to_string(),
        }
    }
}

impl WorkerSettings {
    /// The time limit of a job of this kind.
    pub fn timeout_for(&self, kind: JobKind) -> Duration {
        match kind {
            JobKind::ScorePullRequest | JobKind::ScoreMergeGroup => self.score_timeout,
            _ => self.job_timeout,
        }
    }
}

/// One lock per repository, shared by every worker of a process: fetches into a mirror, the
/// reading of it and its removal never overlap.
#[derive(Debug, Default)]
pub struct RepoLocks(Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl RepoLocks {
    /// Waits for the lock of `full_name`'s mirror.
    pub async fn lock(&self, full_name: &str) -> MirrorGuard {
        let lock = self
            .0
            .lock()
            .expect("repo lock map")
            .entry(full_name.to_string())
            .or_default()
            .clone();
        MirrorGuard {
            _held: Arc::new(lock.lock_owned().await),
        }
    }
}

/// A held repository lock. Blocking work started through [`MirrorGuard::blocking`] holds it
/// too, so a job that stops waiting (its deadline passed) does not let another job into the
/// mirror while that work still reads or writes it: the lock is released when the last
/// holder is done.
#[derive(Debug, Clone)]
pub struct MirrorGuard {
    _held: Arc<tokio::sync::OwnedMutexGuard<()>>,
}

impl MirrorGuard {
    /// Runs `work` off the async runtime, holding the lock until it returns.
    pub async fn blocking<T, F>(&self, work: F) -> Result<T, JobError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let held = self.clone();
        tokio::task::spawn_blocking(move || {
            let _held = held;
            work()
        })
        .await
        .map_err(|e| JobError::Retry(format!("blocking task failed: {e}")))
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
    /// Shared by the workers of the process.
    repo_locks: Arc<RepoLocks>,
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
        repo_locks: Arc<RepoLocks>,
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
            repo_locks,
        }
    }

    async fn lock_repo(&self, full_name: &str) -> MirrorGuard {
        self.repo_locks.lock(full_name).await
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
        let Some(job) = self
            .store
            .claim_job(&self.id, lease_ms, self.settings.max_attempts, now_ms())
            .await?
        else {
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
        let limit = self.settings.timeout_for(job.kind);
        let clock = JobClock::new(Instant::now() + limit);
        let outcome = {
            let heartbeat = self.keep_lease(job.id);
            let work = tracing::Instrument::instrument(self.dispatch(&job, &clock), span.clone());
            tokio::select! {
                r = tokio::time::timeout_at(clock.deadline.into(), work) => {
                    r.unwrap_or(Err(JobError::TimedOut))
                }
                lost = heartbeat => Err(JobError::Retry(format!("lease lost: {lost}"))),
            }
        };
        let now = now_ms();
        let outcome = match outcome {
            Err(JobError::TimedOut) => {
                let error = format!("{PAST_DEADLINE} of {} s and was stopped", limit.as_secs());
                if job.kind != JobKind::ScorePullRequest {
                    Err(JobError::Retry(error))
                } else if clock.scoring_had_its_time(limit) {
                    // The same change would take as long again: its check is completed now.
                    Err(JobError::Park(error))
                } else {
                    Err(JobError::Retry(format!(
                        "{error} before scoring had half of it: the time went to waiting for \
                         the repository or fetching it"
                    )))
                }
            }
            other => other,
        };
        // Instrumented, not entered: a span entered across an await would stay entered on
        // the thread while other tasks run there.
        let finish = async { self.finish(&job, outcome, now).await };
        tracing::Instrument::instrument(finish, span).await?;
        Ok(true)
    }

    /// Records how a job ended: done, retried later, or parked.
    async fn finish(
        &self,
        job: &crate::store::Job,
        outcome: Result<(), JobError>,
        now: i64,
    ) -> Result<(), crate::store::StoreError> {
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
                // A parked scoring job has a job that completes its check run.
                self.wake.notify_waiters();
                tracing::error!(error = %e, attempts = job.attempts, "job parked");
            }
        }
        Ok(())
    }

    /// Renew the lease at a third of its length; returns only if the job is no longer ours, or
    /// may not be: renewals failed until the lease could run out before the next one, when
    /// another instance may take the job and both would write to GitHub.
    async fn keep_lease(&self, job_id: i64) -> String {
        let lease = self.settings.lease;
        let lease_ms = lease.as_millis() as i64;
        let mut renewed = Instant::now();
        loop {
            tokio::time::sleep(lease / 3).await;
            match self
                .store
                .heartbeat(job_id, &self.id, lease_ms, now_ms())
                .await
            {
                Ok(true) => renewed = Instant::now(),
                Ok(false) => return "another worker holds the job".to_string(),
                Err(e) if renewed.elapsed() + lease / 3 >= lease => {
                    return format!(
                        "the lease was not renewed for {} s: {e}",
                        renewed.elapsed().as_secs()
                    )
                }
                Err(e) => tracing::warn!(error = %e, "lease renewal failed; trying again"),
            }
        }
    }

    async fn dispatch(&self, job: &Job, clock: &JobClock) -> Result<(), JobError> {
        let started = Instant::now();
        let result = match job.kind {
            JobKind::ScorePullRequest => self.score_pull_request(job, clock).await,
            JobKind::ScoreMergeGroup => self.score_merge_group(job, clock.deadline).await,
            JobKind::FinishCheckRun => self.finish_check_run(job).await,
            JobKind::AcceptRisk => self.accept_risk(job).await,
            JobKind::RecordInstallation => self.record_installation(job).await,
            JobKind::Coverage => self.coverage(job).await,
            JobKind::RecordDeployment => self.record_deployment(job).await,
            JobKind::RecordPull => self.record_pull(job).await,
            JobKind::RecordIssue => self.record_issue(job).await,
        };
        if job.kind == JobKind::ScorePullRequest && result.is_ok() {
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

    /// The check run a job reports on, saved in `state["check_run_id"]` at once: the one
    /// saved there before; else, when an earlier attempt may have created one and stopped
    /// before saving its id (`may_exist`), that run as GitHub lists it; else a new one.
    async fn check_run_for(
        &self,
        job: &Job,
        state: &mut serde_json::Value,
        target: &CheckTarget<'_>,
        may_exist: bool,
    ) -> Result<CheckRunId, JobError> {
        if let Some(id) = state["check_run_id"].as_u64() {
            return Ok(CheckRunId(id));
        }
        let (inst, repo) = (target.installation_id, target.repo);
        let found = if may_exist {
            self.github
                .find_open_check_run(inst, repo, target.head_sha, CHECK_NAME, target.external_id)
                .await?
        } else {
            None
        };
        let id = match found {
            Some(id) => {
                tracing::info!(
                    job = job.id,
                    check_run = id.0,
                    "took up the check run an earlier attempt created"
                );
                id
            }
            None => {
                self.github
                    .create_check_run(inst, repo, target.head_sha, CHECK_NAME, target.external_id)
                    .await?
            }
        };
        state["check_run_id"] = serde_json::json!(id.0);
        self.save_state(job, state).await?;
        Ok(id)
    }

    async fn record_installation(&self, job: &Job) -> Result<(), JobError> {
        use payload::{InstallationJob, Payload};
        let p = InstallationJob::read(job)?;
        let id = i64::try_from(p.installation_id())
            .map_err(|_| JobError::Park("installation id out of range".into()))?;
        let now = now_ms();
        match (p.action(), &p) {
            ("deleted", _) => {
                // The stored list, and the payload's in case an event was missed.
                let mut gone = match &p {
                    InstallationJob::Installation(i) => i.repositories.clone(),
                    InstallationJob::Repositories(_) => Vec::new(),
                };
                if let Some(known) = self.store.installation(id).await? {
                    gone.extend(known.repositories);
                }
                self.store.mark_installation_removed(id, now).await?;
                self.remove_mirrors(&gone).await;
            }
            ("added" | "removed", InstallationJob::Repositories(r)) => {
                let known = self
                    .store
                    .set_installation_repositories(id, &r.added, &r.removed, now)
                    .await?;
                if !known {
                    // Delivered before `installation.created`, or the App was installed before
                    // this database: the installation is recorded with what this event tells,
                    // so that its repositories' mirrors go when it is uninstalled.
                    let installation = crate::store::NewInstallation {
                        id,
                        account_login: r.account.clone(),
                        target_type: r.target_type.clone(),
                        repositories: r.added.clone(),
                    };
                    self.store.upsert_installation(&installation, now).await?;
                }
                self.remove_mirrors(&r.removed).await;
            }
            (_, InstallationJob::Installation(i)) => {
                let installation = crate::store::NewInstallation {
                    id,
                    account_login: i.account.clone(),
                    target_type: i.target_type.clone(),
                    repositories: i.repositories.clone(),
                };
                self.store.upsert_installation(&installation, now).await?;
            }
            // `installation_repositories` has no other actions.
            (other, InstallationJob::Repositories(_)) => {
                return Err(JobError::Park(format!(
                    "installation_repositories action `{other}` is not handled"
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_locked(locks: &RepoLocks, name: &str) -> bool {
        let map = locks.0.lock().unwrap();
        map.get(name).is_some_and(|m| m.try_lock().is_err())
    }

    /// A job that stops waiting for its blocking work (its deadline passed) keeps the
    /// repository locked until that work has ended, so no other job enters the mirror meanwhile.
    #[tokio::test(flavor = "multi_thread")]
    async fn the_repository_lock_outlives_a_job_that_stopped_waiting() {
        let locks = RepoLocks::default();
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let (started_tx, started) = tokio::sync::oneshot::channel::<()>();
        {
            let guard = locks.lock("octo/app").await;
            let work = guard.blocking(move || {
                let _ = started_tx.send(());
                let _ = wait.recv();
            });
            let stopped = tokio::time::timeout(Duration::from_millis(50), work).await;
            assert!(stopped.is_err(), "the job gave up waiting");
        }
        started.await.unwrap();
        assert!(
            is_locked(&locks, "octo/app"),
            "the blocking work still holds the lock"
        );
        assert!(!is_locked(&locks, "octo/other"));
        release.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), locks.lock("octo/app"))
            .await
            .expect("the lock is free once the work has ended");
    }

    #[test]
    fn scoring_has_its_own_time_limit() {
        let settings = WorkerSettings {
            score_timeout: Duration::from_secs(7),
            job_timeout: Duration::from_secs(70),
            ..WorkerSettings::default()
        };
        assert_eq!(
            settings.timeout_for(JobKind::ScorePullRequest),
            Duration::from_secs(7)
        );
        assert_eq!(
            settings.timeout_for(JobKind::ScoreMergeGroup),
            Duration::from_secs(7),
            "a merge group is scored as a pull request is"
        );
        assert_eq!(
            settings.timeout_for(JobKind::Coverage),
            Duration::from_secs(70)
        );
        assert!(
            WorkerSettings::default().lease <= Duration::from_secs(30),
            "a dead process's job is taken again within 60 s"
        );
    }
}
