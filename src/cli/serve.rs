//! `riskgate serve`: the GitHub App. Settings come from flags or the environment; the App
//! itself is built by [`crate::app::App`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;

use crate::app::{App, Settings};
use crate::github::client::RetryPolicy;
use crate::jobs::{RetentionSettings, WorkerSettings};
use crate::mining::mirror::GitRemote;
use crate::server::HttpLimits;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[arg(long, env = "RISKGATE_APP_ID")]
    pub app_id: u64,
    /// The App's private key, PEM text.
    #[arg(long, env = "RISKGATE_PRIVATE_KEY", hide_env_values = true)]
    pub private_key: Option<String>,
    /// A file holding the App's private key.
    #[arg(long, env = "RISKGATE_PRIVATE_KEY_PATH")]
    pub private_key_path: Option<PathBuf>,
    /// The App's webhook secret: at least 16 characters; serve refuses to start without one.
    #[arg(long, env = "RISKGATE_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,
    /// Default: a SQLite file in the data dir.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    #[arg(
        long,
        env = "RISKGATE_GITHUB_API_URL",
        default_value = "https://api.github.com"
    )]
    pub github_api_url: String,
    /// Where repositories are fetched from: `{url}/{owner}/{name}.git`. Default:
    /// https://github.com, or the host of a GitHub Enterprise Server API URL.
    #[arg(long, env = "RISKGATE_GIT_URL")]
    pub git_url: Option<String>,
    /// Seconds one git command may run before it is killed.
    #[arg(long, env = "RISKGATE_GIT_TIMEOUT_SECS", default_value_t = 600)]
    pub git_timeout_secs: u64,
    /// MiB one repository's mirror may take; a fetch that would pass it is stopped.
    #[arg(long, env = "RISKGATE_MIRROR_MAX_MB", default_value_t = 20_480)]
    pub mirror_max_mb: u64,
    /// Seconds a client has to send a request's headers (and an idle connection stays open).
    #[arg(long, env = "RISKGATE_HTTP_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    pub http_header_timeout_secs: u64,
    /// Seconds a client has to send a request's body.
    #[arg(long, env = "RISKGATE_HTTP_BODY_TIMEOUT_SECS", default_value_t = 20)]
    pub http_body_timeout_secs: u64,
    /// Requests handled at once; past it the answer is 503.
    #[arg(long, env = "RISKGATE_HTTP_MAX_REQUESTS", default_value_t = 64)]
    pub http_max_requests: usize,
    #[arg(long, env = "RISKGATE_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,
    #[arg(long, env = "RISKGATE_DATA_DIR", default_value = "./riskgate-data")]
    pub data_dir: PathBuf,
    #[arg(long, env = "RISKGATE_MODEL")]
    pub model: Option<PathBuf>,
    /// Concurrent jobs in this process.
    #[arg(long, env = "RISKGATE_WORKERS", default_value_t = 2)]
    pub workers: usize,
    /// Seconds a claimed job stays ours without a heartbeat before another worker may take it
    /// (heartbeats come every third of it): the longest a dead process's job waits.
    #[arg(long, env = "RISKGATE_JOB_LEASE_SECS", default_value_t = 30)]
    pub job_lease_secs: u64,
    /// Seconds scoring may take before it is stopped and its check completed as `neutral`.
    #[arg(long, env = "RISKGATE_SCORE_TIMEOUT_SECS", default_value_t = 120)]
    pub score_timeout_secs: u64,
    /// Seconds any other job may take before it is stopped (and retried).
    #[arg(long, env = "RISKGATE_JOB_TIMEOUT_SECS", default_value_t = 300)]
    pub job_timeout_secs: u64,
    /// Days delivery payloads, finished jobs and replaced coverage reports are kept.
    #[arg(long, env = "RISKGATE_RETENTION_DAYS", default_value_t = 30)]
    pub retention_days: u64,
    /// Attempts at a GitHub call before the job is parked.
    #[arg(long, env = "RISKGATE_GITHUB_ATTEMPTS", default_value_t = 5)]
    pub github_attempts: u32,
    /// Longest wait between GitHub retries of a fault, in milliseconds.
    #[arg(long, env = "RISKGATE_GITHUB_MAX_DELAY_MS", default_value_t = 30_000)]
    pub github_max_delay_ms: u64,
    /// Longest wait for a rate limit to lift before retrying, in milliseconds.
    #[arg(
        long,
        env = "RISKGATE_GITHUB_MAX_RATE_LIMIT_WAIT_MS",
        default_value_t = 120_000
    )]
    pub github_max_rate_limit_wait_ms: u64,
    /// Bearer token that `POST /api/incidents` requires. Unset: the endpoint is closed.
    #[arg(long, env = "RISKGATE_API_TOKEN", hide_env_values = true)]
    pub api_token: Option<String>,
    /// Token that opens the dashboard (`/dashboard`). Unset: the dashboard is off.
    #[arg(long, env = "RISKGATE_DASHBOARD_TOKEN", hide_env_values = true)]
    pub dashboard_token: Option<String>,
    /// GitHub issues carrying this label are incidents.
    #[arg(long, env = "RISKGATE_INCIDENT_LABEL", default_value = "incident")]
    pub incident_label: String,
    /// An incident opened this many minutes after a deployment went live is blamed on the
    /// pull requests it shipped.
    #[arg(long, env = "RISKGATE_INCIDENT_WINDOW_MINUTES", default_value_t = 60)]
    pub incident_window_minutes: u64,
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(args))?;
    Ok(ExitCode::SUCCESS)
}

/// The longest wait, timeout or lease `serve` accepts. Past it a deadline bounds nothing,
/// and a far one overflows the clock's arithmetic.
const LONGEST_WAIT: Duration = Duration::from_secs(7 * 24 * 3600);
/// The longest incident window `serve` accepts.
const LONGEST_WINDOW: Duration = Duration::from_secs(30 * 24 * 3600);

/// `value` of the setting `--flag`, refused past `most`.
fn at_most(most: Duration, flag: &str, value: Duration) -> anyhow::Result<Duration> {
    if value > most {
        let env = format!("RISKGATE_{}", flag.to_uppercase().replace('-', "_"));
        anyhow::bail!(
            "--{flag} ({env}) is too long: it may be at most {} days",
            most.as_secs() / (24 * 3600)
        );
    }
    Ok(value)
}

/// The mirror size limit in bytes. Zero is refused rather than read as "no limit" or as a limit
/// every repository fails: either reading would surprise someone.
fn mirror_max_bytes(mib: u64) -> anyhow::Result<u64> {
    if mib == 0 {
        anyhow::bail!("--mirror-max-mb (RISKGATE_MIRROR_MAX_MB) must be at least 1");
    }
    Ok(mib.min(1 << 30) * 1024 * 1024)
}

/// The shortest webhook secret serve accepts. GitHub signs every delivery with it: a short
/// one can be guessed, and an empty one makes any body "correctly signed".
pub const MIN_WEBHOOK_SECRET_CHARS: usize = 16;

fn webhook_secret(given: Option<&str>) -> anyhow::Result<Vec<u8>> {
    match given {
        None | Some("") => anyhow::bail!(
            "RISKGATE_WEBHOOK_SECRET is not set: it must be the App's webhook secret, \
             at least {MIN_WEBHOOK_SECRET_CHARS} characters (`openssl rand -hex 32` makes one)"
        ),
        Some(secret) if secret.chars().count() < MIN_WEBHOOK_SECRET_CHARS => anyhow::bail!(
            "RISKGATE_WEBHOOK_SECRET is too short ({} characters): it must have at least \
             {MIN_WEBHOOK_SECRET_CHARS}",
            secret.chars().count()
        ),
        Some(secret) => Ok(secret.as_bytes().to_vec()),
    }
}

/// A token that opens the dashboard or the incidents API: unset (or empty) keeps that door
/// shut; set, it must be as hard to guess as the webhook secret, and it may not begin or end
/// with whitespace, which the `Authorization` header loses (a token of spaces opened the
/// dashboard to `?token=+`).
fn access_token(setting: &str, given: Option<&str>) -> anyhow::Result<Option<String>> {
    match given {
        None | Some("") => Ok(None),
        Some(token) if token.trim() != token => anyhow::bail!(
            "{setting} begins or ends with whitespace: remove it (`openssl rand -hex 24` makes \
             a good token)"
        ),
        Some(token) if token.chars().count() < MIN_WEBHOOK_SECRET_CHARS => anyhow::bail!(
            "{setting} is too short ({} characters): it must have at least \
             {MIN_WEBHOOK_SECRET_CHARS}",
            token.chars().count()
        ),
        Some(token) => Ok(Some(token.to_string())),
    }
}

fn git_remote(args: &ServeArgs) -> anyhow::Result<GitRemote> {
    Ok(match &args.git_url {
        Some(url) => GitRemote::parse(url).context("RISKGATE_GIT_URL")?,
        None => GitRemote::for_api_url(&args.github_api_url)
            .context("the git URL that goes with RISKGATE_GITHUB_API_URL")?,
    })
}

impl ServeArgs {
    /// `serve`'s settings from these flags alone (the first item is the program name), the
    /// environment ignored: how the tests and the benchmark make an App as `serve` would,
    /// without the caller's environment leaking in.
    pub fn from_flags<I, T>(flags: I) -> Result<ServeArgs, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::{Args as _, FromArgMatches as _};
        let command = ServeArgs::augment_args(clap::Command::new("serve"))
            .mut_args(|a| a.env(None::<&'static str>));
        ServeArgs::from_arg_matches(&command.try_get_matches_from(flags)?)
    }

    /// The App's settings: checks what can be checked without opening anything.
    pub fn settings(&self) -> anyhow::Result<Settings> {
        let webhook_secret = webhook_secret(self.webhook_secret.as_deref())?;
        let git_remote = git_remote(self)?;
        let private_key_pem = match (&self.private_key, &self.private_key_path) {
            (Some(pem), _) => pem.clone(),
            (None, Some(path)) => std::fs::read_to_string(path)
                .with_context(|| format!("reading private key {}", path.display()))?,
            (None, None) => {
                anyhow::bail!(
                    "no private key: set RISKGATE_PRIVATE_KEY or RISKGATE_PRIVATE_KEY_PATH"
                )
            }
        };
        let database_url =
            super::database_url_or_default(self.database_url.as_deref(), &self.data_dir);
        let window = Duration::from_secs(self.incident_window_minutes.max(1).saturating_mul(60));
        let links = crate::production::LinkSettings {
            window_ms: at_most(LONGEST_WINDOW, "incident-window-minutes", window)?.as_millis()
                as i64,
        };
        let secs =
            |flag: &str, secs: u64| at_most(LONGEST_WAIT, flag, Duration::from_secs(secs.max(1)));
        let millis = |flag: &str, ms: u64| at_most(LONGEST_WAIT, flag, Duration::from_millis(ms));
        let host = std::env::var("HOSTNAME")
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "riskgate".into());
        Ok(Settings {
            app_id: self.app_id,
            private_key_pem,
            webhook_secret,
            database_url,
            github_api_url: self.github_api_url.clone(),
            git_remote,
            git_timeout: secs("git-timeout-secs", self.git_timeout_secs)?,
            mirror_max_bytes: mirror_max_bytes(self.mirror_max_mb)?,
            data_dir: self.data_dir.clone(),
            model: self.model.clone(),
            workers: self.workers.max(1),
            worker: WorkerSettings {
                lease: secs("job-lease-secs", self.job_lease_secs)?,
                score_timeout: secs("score-timeout-secs", self.score_timeout_secs)?,
                job_timeout: secs("job-timeout-secs", self.job_timeout_secs)?,
                retention: RetentionSettings {
                    // A week at least: deliveries are kept to recognise GitHub's redeliveries,
                    // which reach 3 days back on github.com and 7 on Enterprise Server.
                    keep: Duration::from_secs(self.retention_days.clamp(7, 36_500) * 24 * 3600),
                    ..RetentionSettings::default()
                },
                links,
                incident_label: self.incident_label.clone(),
                ..WorkerSettings::default()
            },
            retry: RetryPolicy {
                max_attempts: self.github_attempts,
                base_delay: Duration::from_millis(500),
                max_delay: millis("github-max-delay-ms", self.github_max_delay_ms)?,
                max_rate_limit_wait: millis(
                    "github-max-rate-limit-wait-ms",
                    self.github_max_rate_limit_wait_ms,
                )?,
            },
            limits: HttpLimits {
                header_timeout: secs("http-header-timeout-secs", self.http_header_timeout_secs)?,
                body_timeout: secs("http-body-timeout-secs", self.http_body_timeout_secs)?,
                max_requests: self.http_max_requests.max(1),
            },
            api_token: access_token("RISKGATE_API_TOKEN", self.api_token.as_deref())?,
            dashboard_token: access_token(
                "RISKGATE_DASHBOARD_TOKEN",
                self.dashboard_token.as_deref(),
            )?,
            // Host and pid alone can repeat (no HOSTNAME under systemd, pid 1 in containers
            // on the host's network), and a lease is only as good as its holder's name.
            instance: format!(
                "{host}-{}-{:08x}",
                std::process::id(),
                rand::random::<u32>()
            ),
        })
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let app = App::build(args.settings()?).await?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    // Tests and scripts read the bound address (the port may be 0) from this line.
    println!("riskgate listening on http://{}", listener.local_addr()?);
    tracing::info!(address = %listener.local_addr()?, "serving");
    app.serve(listener, shutdown_signal()).await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down: finishing jobs in flight");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings_with(flag: &str) -> anyhow::Result<Settings> {
        let flags = [
            "serve",
            "--app-id=1",
            "--private-key=pem",
            "--webhook-secret=0123456789abcdef",
            flag,
        ];
        ServeArgs::from_flags(flags)?.settings()
    }

    /// A wait, timeout or lease too long to be a bound is refused by its name, before a
    /// worker adds it to the clock; the longest accepted is taken as given.
    #[test]
    fn a_wait_past_its_limit_is_refused_by_its_name() {
        for (flag, longest) in [
            ("git-timeout-secs", "604800"),
            ("http-header-timeout-secs", "604800"),
            ("http-body-timeout-secs", "604800"),
            ("job-lease-secs", "604800"),
            ("score-timeout-secs", "604800"),
            ("job-timeout-secs", "604800"),
            ("github-max-delay-ms", "604800000"),
            ("github-max-rate-limit-wait-ms", "604800000"),
            ("incident-window-minutes", "43200"),
        ] {
            let env = format!("RISKGATE_{}", flag.to_uppercase().replace('-', "_"));
            for value in [u64::MAX.to_string(), format!("{longest}1")] {
                let refused = settings_with(&format!("--{flag}={value}"))
                    .map(|_| ())
                    .unwrap_err()
                    .to_string();
                assert!(
                    refused.contains(&format!("--{flag} ({env}) is too long")),
                    "{refused}"
                );
            }
            settings_with(&format!("--{flag}={longest}"))
                .unwrap_or_else(|e| panic!("--{flag}={longest}: {e}"));
        }
        let longest = settings_with("--score-timeout-secs=604800").unwrap();
        assert_eq!(longest.worker.score_timeout, Duration::from_secs(604_800));
        let window = settings_with("--incident-window-minutes=43200").unwrap();
        assert_eq!(window.worker.links.window_ms, 43_200 * 60_000);
    }

    /// Deliveries are kept at least as long as GitHub can redeliver them (7 days on
    /// Enterprise Server), whatever the setting asks.
    #[test]
    fn retention_keeps_what_github_can_still_redeliver() {
        let day = Duration::from_secs(24 * 3600);
        for (days, kept) in [("1", 7), ("7", 7), ("30", 30)] {
            let settings = settings_with(&format!("--retention-days={days}")).unwrap();
            assert_eq!(settings.worker.retention.keep, day * kept, "{days}");
        }
    }

    #[test]
    fn a_mirror_limit_of_zero_is_refused_by_its_name() {
        let refused = settings_with("--mirror-max-mb=0")
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(refused.contains("RISKGATE_MIRROR_MAX_MB"), "{refused}");
        let one = settings_with("--mirror-max-mb=1").unwrap();
        assert_eq!(one.mirror_max_bytes, 1 << 20);
    }

    /// A dashboard or API token that is short, or that begins or ends with whitespace, is
    /// refused by its name; an empty one is no token.
    #[test]
    fn weak_access_tokens_are_refused_by_their_names() {
        for (flag, setting) in [
            ("dashboard-token", "RISKGATE_DASHBOARD_TOKEN"),
            ("api-token", "RISKGATE_API_TOKEN"),
        ] {
            for weak in [
                "a",
                " ",
                "0123456789abcde",
                " 0123456789abcdef",
                "0123456789abcdef\n",
            ] {
                let refused = settings_with(&format!("--{flag}={weak}"))
                    .map(|_| ())
                    .unwrap_err()
                    .to_string();
                assert!(refused.contains(setting), "{weak:?}: {refused}");
            }
            let good = settings_with(&format!("--{flag}=0123456789abcdef")).unwrap();
            assert_eq!(
                [good.dashboard_token, good.api_token]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>(),
                ["0123456789abcdef"]
            );
            let empty = settings_with(&format!("--{flag}=")).unwrap();
            assert_eq!((empty.dashboard_token, empty.api_token), (None, None));
        }
    }

    /// Two processes of one host and pid (containers on the host's network, each pid 1) still
    /// hold leases under names of their own.
    #[test]
    fn instances_started_alike_are_named_apart() {
        let names: std::collections::BTreeSet<String> = (0..8)
            .map(|_| settings_with("--workers=1").unwrap().instance)
            .collect();
        assert_eq!(names.len(), 8, "{names:?}");
    }
}
