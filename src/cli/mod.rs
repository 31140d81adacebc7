//! Command-line interface: one file per subcommand. Each `run` returns the process exit code.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod eval;
pub mod jobs;
pub mod mine;
pub mod replay;
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
    }
}

/// Logs go to stderr, filtered by `RISKGATE_LOG` (default: warnings only), so stdout stays
/// clean; `RISKGATE_LOG_FORMAT=json` writes one JSON object per line, for log collectors.
pub fn init_telemetry() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RISKGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if std::env::var("RISKGATE_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// An error and its causes on one line: "reading x: no such file".
pub fn one_line(err: &anyhow::Error) -> String {
    err.chain()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join(": ")
}
