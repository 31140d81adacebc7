//! The App's composition root: settings → store → GitHub client → workers → router.
//!
//! `riskgate serve`, the integration tests and the benchmark all build the App here, so what
//! they exercise is the wiring that ships, and a test can run the App in its own process
//! without a copy of that wiring.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::github::auth::{AppCredentials, InstallationTokens};
use crate::github::client::{GitHubApi, RetryPolicy};
use crate::jobs::{RepoLocks, Worker, WorkerSettings};
use crate::mining::mirror::{GitRemote, Mirrors};
use crate::model::file::ModelSource;
use crate::server::{self, AppState, HttpLimits};
use crate::store::{JobStatus, Store, StoreError};
use crate::telemetry::Metrics;

/// Everything the App is made from, already checked and resolved (`cli::serve` turns flags and
/// the environment into this).
#[derive(Debug, Clone)]
pub struct Settings {
    pub app_id: u64,
    pub private_key_pem: String,
    pub webhook_secret: Vec<u8>,
    pub database_url: String,
    pub github_api_url: String,
    /// Where repositories are fetched from.
    pub git_remote: GitRemote,
    /// How long one git command may run.
    pub git_timeout: Duration,
    /// The most bytes one repository's mirror may take.
    pub mirror_max_bytes: u64,
    /// Mirrors live here.
    pub data_dir: PathBuf,
    /// A model file; `None`: the shipped model.
    pub model: Option<PathBuf>,
    /// Concurrent jobs.
    pub workers: usize,
    pub worker: WorkerSettings,
    pub retry: RetryPolicy,
    pub limits: HttpLimits,
    pub api_token: Option<String>,
    pub dashboard_token: Option<String>,
    /// Prefix of this App's worker names, which hold job leases: it must differ between Apps
    /// sharing a database, or one would renew or complete another's job.
    pub instance: String,
}

/// A built App: its store is open and its workers are running; [`App::serve`] adds HTTP.
pub struct App {
    state: Arc<AppState>,
    stop: watch::Sender<bool>,
    workers: Vec<JoinHandle<()>>,
    /// Held while the App lives: see [`claim_data_dir`].
    _data_dir: std::fs::File,
}

/// The file whose lock says which process owns a data dir.
const DATA_DIR_LOCK: &str = "serve.lock";

/// Takes the data dir for this process, or says which setting to change. Mirrors are fetched,
/// cleaned of unfinished packs and removed under locks of one process only, so a second
/// `serve` on the same dir would delete the first one's fetches in flight. The lock goes with
/// the process, however it ends.
fn claim_data_dir(dir: &std::path::Path) -> anyhow::Result<std::fs::File> {
    use std::os::fd::AsRawFd as _;
    let path = dir.join(DATA_DIR_LOCK);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    // SAFETY: flock(2) on a descriptor this function owns and keeps open.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let error = std::io::Error::last_os_error();
        if error.raw_os_error() == Some(libc::EWOULDBLOCK) {
            anyhow::bail!(
                "another `riskgate serve` is using the data dir {} (RISKGATE_DATA_DIR): give each \
                 instance a data dir of its own; they may share the database",
                dir.display()
            );
        }
        return Err(error).with_context(|| format!("locking {}", path.display()));
    }
    Ok(file)
}

impl App {
    /// Opens the store, loads the model, checks the private key and starts the workers.
    pub async fn build(settings: Settings) -> anyhow::Result<App> {
        std::fs::create_dir_all(&settings.data_dir)
            .with_context(|| format!("creating data dir {}", settings.data_dir.display()))?;
        let data_dir = claim_data_dir(&settings.data_dir)?;
        let store = Store::connect(&settings.database_url).await?;
        let model = Arc::new(ModelSource::load(settings.model.as_deref())?);
        let metrics = Arc::new(Metrics::default());
        let creds = AppCredentials {
            app_id: settings.app_id,
            private_key_pem: settings.private_key_pem.clone(),
        };
        // Refuse a bad key now rather than at the first delivery.
        crate::github::auth::app_jwt(&creds, crate::time::now_secs())
            .context("the App private key")?;
        let counter_metrics = metrics.clone();
        let github = GitHubApi::new(
            &settings.github_api_url,
            InstallationTokens::new(creds),
            settings.retry.clone(),
        )?
        .with_counter(Arc::new(move |_kind: &str, status: u16| {
            counter_metrics.github_call(status)
        }));
        let deliveries = server::intake::DeliveryWriter::start(store.clone())
            .context("starting the delivery writer")?;
        let wake = Arc::new(tokio::sync::Notify::new());
        let state = Arc::new(AppState {
            store: store.clone(),
            deliveries,
            webhook_secret: settings.webhook_secret.clone(),
            metrics: metrics.clone(),
            wake: wake.clone(),
            model: model.clone(),
            api_token: settings.api_token.clone().filter(|t| !t.is_empty()),
            dashboard_token: settings.dashboard_token.clone().filter(|t| !t.is_empty()),
            links: settings.worker.links,
            limits: settings.limits,
            dashboard_views: tokio::sync::Semaphore::new(server::DASHBOARD_VIEWS_AT_ONCE),
            wrong_tokens: Default::default(),
            job_counts: Default::default(),
            database_reachable: Default::default(),
        });

        let (stop, stop_rx) = watch::channel(false);
        let mirrors = Mirrors::new(
            &settings.data_dir,
            settings.git_remote.clone(),
            settings.git_timeout,
        )
        .with_max_bytes(settings.mirror_max_bytes);
        let repo_locks = Arc::new(RepoLocks::default());
        let mut workers = Vec::new();
        for n in 0..settings.workers.max(1) {
            let worker = Arc::new(Worker::new(
                format!("{}-{n}", settings.instance),
                store.clone(),
                github.clone(),
                mirrors.clone(),
                model.clone(),
                metrics.clone(),
                settings.worker.clone(),
                wake.clone(),
                repo_locks.clone(),
            ));
            if n == 0 {
                workers.push(tokio::spawn(
                    worker.clone().run_maintenance(stop_rx.clone()),
                ));
            }
            workers.push(tokio::spawn(worker.run(stop_rx.clone())));
        }
        Ok(App {
            state,
            stop,
            workers,
            _data_dir: data_dir,
        })
    }

    /// The HTTP side: webhook intake, incidents, dashboard, health, readiness and metrics.
    pub fn router(&self) -> Router {
        server::router(self.state.clone())
    }

    pub fn store(&self) -> &Store {
        &self.state.store
    }

    /// Watches the queue: what a caller waits on before asserting that nothing more happens.
    pub fn queue(&self) -> QueueWatch {
        QueueWatch {
            store: self.state.store.clone(),
        }
    }

    /// Serves on `listener` until `shutdown` completes, then stops the workers.
    pub async fn serve(self, listener: TcpListener, shutdown: impl Future<Output = ()>) {
        server::serve(listener, self.router(), self.state.limits, shutdown).await;
        self.stop().await;
    }

    /// Stops the workers and closes the store. A job in flight is finished first; one that
    /// cannot finish keeps its lease and is taken again.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for w in self.workers {
            let _ = w.await;
        }
        self.state.store.close().await;
    }
}

/// Whether the job queue has work left, read from the store: the queue is the truth every
/// worker (of this process or another) shares, so "drained" needs no word from the workers.
#[derive(Clone)]
pub struct QueueWatch {
    store: Store,
}

impl QueueWatch {
    /// No job waits (due now or later, as a retry does) and none runs.
    pub async fn is_drained(&self) -> Result<bool, StoreError> {
        let counts = self.store.job_counts().await?;
        let busy = [JobStatus::Queued, JobStatus::Running]
            .iter()
            .map(|s| counts.get(s.as_str()).copied().unwrap_or(0))
            .sum::<i64>();
        Ok(busy == 0)
    }

    /// Returns once the queue is drained; an error past `timeout`.
    pub async fn wait_until_drained(&self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.is_drained().await? {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                anyhow::bail!("the job queue was not drained within {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
