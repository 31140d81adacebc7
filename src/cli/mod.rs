//! Command-line interface: one file per subcommand. Each `run` returns the process exit code.

use std::process::ExitCode;

use clap::{CommandFactory as _, FromArgMatches as _, Parser, Subcommand};

pub mod audit;
pub mod eval;
pub mod incidents;
pub mod jobs;
pub mod mine;
pub mod replay;
pub mod report;
pub mod score;
pub mod serve;
pub mod setup;
pub mod train;

#[derive(Debug, Parser)]
#[command(
    name = "riskgate",
    version,
    about = "Deploy-risk scoring of a change, from its git history"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Score one change (merge-base(base, head)..head) of a local repository.
    Score(score::ScoreArgs),
    /// Write a dataset CSV: one labelled row per non-merge commit reachable from HEAD.
    Mine(mine::MineArgs),
    /// Fit the logistic model on datasets, validate on a chronological hold-out, write model.json.
    Train(train::TrainArgs),
    /// Metrics of a model on a dataset, as JSON on stdout.
    Eval(eval::EvalArgs),
    /// Run the GitHub App: webhook intake and the scoring workers.
    Serve(serve::ServeArgs),
    /// List the App's job queue (parked jobs with their errors); requeue a parked job.
    Jobs(jobs::JobsArgs),
    /// Sign a saved webhook delivery and send it to a running server.
    Replay(replay::ReplayArgs),
    /// Register the GitHub App from app-manifest.yml and store its credentials.
    Setup(setup::SetupArgs),
    /// Incidents: import history, list them with their links, reject a wrong link.
    Incidents(incidents::IncidentsArgs),
    /// Release health per repository and environment, and how riskgate's checks fared.
    Report(report::ReportArgs),
    /// The append-only audit trail: checks, overrides, deployments, incidents, links.
    Audit(audit::AuditArgs),
}

/// The command line, with every setting whose environment variable is set but empty taken
/// as unset: `DATABASE_URL=` means the default database, as if the line were not there.
/// (clap on its own hands the empty string to the setting, so `DATABASE_URL=` would be a URL
/// and `RISKGATE_LISTEN=` an address that does not parse.)
pub fn parse() -> Cli {
    let matches = empty_env_is_unset(Cli::command()).get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

fn empty_env_is_unset(command: clap::Command) -> clap::Command {
    command
        .mut_args(|arg| {
            let empty = arg
                .get_env()
                .and_then(std::env::var_os)
                .is_some_and(|value| value.is_empty());
            if empty {
                arg.env(None::<&'static str>)
            } else {
                arg
            }
        })
        .mut_subcommands(empty_env_is_unset)
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Score(args) => score::run(args),
        Command::Mine(args) => mine::run(args),
        Command::Train(args) => train::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Jobs(args) => jobs::run(args),
        Command::Replay(args) => replay::run(args),
        Command::Setup(args) => setup::run(args),
        Command::Incidents(args) => incidents::run(args),
        Command::Report(args) => report::run(args),
        Command::Audit(args) => audit::run(args),
    }
}

/// An error and its causes on one line: "reading x: no such file". A cause that its error
/// already quotes at its end (`git: {0}` over the git error) is said once.
pub fn one_line(err: &anyhow::Error) -> String {
    let mut said: Vec<String> = Vec::new();
    for cause in err.chain().map(|e| e.to_string()) {
        if !said.last().is_some_and(|last| last.ends_with(&cause)) {
            said.push(cause);
        }
    }
    said.join(": ")
}

/// `url`, or the SQLite file `riskgate.db` in `data_dir`: where every command that opens the
/// App's database finds it when no URL is given.
pub(crate) fn database_url_or_default(url: Option<&str>, data_dir: &std::path::Path) -> String {
    url.map(str::to_string)
        .unwrap_or_else(|| crate::store::sqlite_url_in(data_dir))
}

/// Where the App's database is, for the commands that read or write it.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreArgs {
    /// Default: the SQLite file `riskgate.db` in the data dir, as `riskgate serve` uses it.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    #[arg(long, env = "RISKGATE_DATA_DIR", default_value = "./riskgate-data")]
    pub data_dir: std::path::PathBuf,
}

impl StoreArgs {
    pub fn url(&self) -> String {
        database_url_or_default(self.database_url.as_deref(), &self.data_dir)
    }

    /// Opens the store (creating the data dir for the default SQLite file).
    pub async fn connect(&self) -> anyhow::Result<crate::store::Store> {
        if self.database_url.is_none() {
            std::fs::create_dir_all(&self.data_dir).map_err(|e| {
                anyhow::anyhow!("creating data dir {}: {e}", self.data_dir.display())
            })?;
        }
        Ok(crate::store::Store::connect(&self.url()).await?)
    }
}

/// A single-threaded runtime for a command that talks to the database.
pub fn block_on<F: std::future::Future>(future: F) -> anyhow::Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("starting the async runtime: {e}"))?;
    Ok(runtime.block_on(future))
}

/// A date or time given on the command line, as unix milliseconds: `2026-11-01` (midnight
/// UTC), RFC 3339 (`2026-11-01T12:00:00Z`), or unix seconds.
pub fn parse_when(text: &str) -> Result<i64, String> {
    let t = text.trim();
    if let Some(ms) = crate::time::parse_date_ms(t) {
        return Ok(ms);
    }
    if let Some(ms) = crate::time::parse_rfc3339_ms(t) {
        return Ok(ms);
    }
    if let Some(ms) = t.parse::<i64>().ok().and_then(|s| s.checked_mul(1000)) {
        return Ok(ms);
    }
    Err(format!(
        "`{text}` is not a date (YYYY-MM-DD), an RFC 3339 time or unix seconds"
    ))
}
