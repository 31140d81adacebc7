//! `riskgate report`: release health from the App's database, per repository and environment.

use std::fmt::Write as _;
use std::process::ExitCode;

use super::{block_on, parse_when, StoreArgs};
use crate::health::{repository_health, RepositoryHealth};
use crate::production::{load_history, ScoresLoaded};
use crate::report::printable;
use crate::time::rfc3339;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// One repository (owner/name); default: every repository the database knows.
    #[arg(long)]
    pub repo: Option<String>,
    /// Start of the period: YYYY-MM-DD, RFC 3339 or unix seconds. Default: 90 days ago.
    #[arg(long, value_parser = parse_when)]
    pub since: Option<i64>,
    /// End of the period (exclusive). Default: now.
    #[arg(long, value_parser = parse_when)]
    pub until: Option<i64>,
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
    #[command(flatten)]
    pub store: StoreArgs,
}

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let until = args.until.unwrap_or_else(crate::time::now_ms);
    let since = args.since.unwrap_or(until - 90 * DAY_MS);
    if since >= until {
        anyhow::bail!("--since must be before --until");
    }
    let reports = block_on(async {
        let store = args.store.connect().await?;
        let repositories = match &args.repo {
            Some(r) => vec![r.clone()],
            None => store.known_repositories().await?,
        };
        let mut out = Vec::new();
        for repo in repositories {
            let h = load_history(&store, &repo, ScoresLoaded::Summaries).await?;
            out.push(repository_health(
                &repo,
                &h.releases,
                &h.incidents,
                &h.links,
                &h.scored_pulls(),
                since,
                until,
            ));
        }
        anyhow::Ok(out)
    })??;
    match args.format {
        ReportFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "since": rfc3339(since),
                "until": rfc3339(until),
                "repositories": reports,
            }))?
        ),
        ReportFormat::Text => print!("{}", text(&reports, since, until)),
    }
    Ok(ExitCode::SUCCESS)
}

fn percent(v: Option<f64>) -> String {
    v.map(|v| format!("{:.1}%", v * 100.0))
        .unwrap_or_else(|| "-".into())
}

fn number(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "-".into())
}

/// The report as a person reads it.
pub fn text(reports: &[RepositoryHealth], since: i64, until: i64) -> String {
    let mut s = String::new();
    let day = |ms: i64| {
        let t = rfc3339(ms);
        t.get(..10).unwrap_or(&t).to_string()
    };
    if reports.is_empty() {
        let _ = writeln!(s, "The database holds no repositories yet.");
        return s;
    }
    for r in reports {
        let _ = writeln!(
            s,
            "{}  ({} to {})",
            printable(&r.repository),
            day(since),
            day(until)
        );
        if r.environments.is_empty() {
            let _ = writeln!(s, "  no deployments recorded");
        } else {
            let _ = writeln!(
                s,
                "  {:<14} {:>7} {:>5} {:>6} {:>8} {:>10} {:>9} {:>9} {:>9}  last success",
                "environment",
                "deploys",
                "ok",
                "failed",
                "per week",
                "median min",
                "rollback",
                "failed %",
                "incident"
            );
            for e in &r.environments {
                let _ = writeln!(
                    s,
                    "  {:<14} {:>7} {:>5} {:>6} {:>8.2} {:>10} {:>9} {:>9} {:>9}  {}",
                    printable(&e.environment),
                    e.deployments,
                    e.successful,
                    e.failed,
                    e.releases_per_week,
                    number(e.median_release_minutes),
                    percent(e.rollback_rate),
                    percent(e.failed_release_rate),
                    percent(e.release_incident_rate),
                    e.last_success_at
                        .map(rfc3339)
                        .unwrap_or_else(|| "never".into()),
                );
            }
        }
        for e in r.environments.iter().filter(|e| e.stale) {
            let _ = writeln!(
                s,
                "  stale: {} has had no successful deploy in 14 days",
                printable(&e.environment)
            );
        }
        if r.stale_production && !r.environments.iter().any(|e| e.stale) {
            let _ = writeln!(s, "  stale: no deploy to production recorded");
        }
        let g = &r.gate;
        let _ = writeln!(
            s,
            "  checks: {} pull requests scored, {} rated elevated or high (gate rate {})",
            g.scored_pulls,
            g.gated_pulls,
            percent(g.gate_rate)
        );
        let _ = writeln!(
            s,
            "  incidents: {} opened, {} linked to pull requests, {} of those flagged elevated or high (capture {})",
            g.incidents,
            g.linked_incidents,
            g.captured_incidents,
            percent(g.incident_capture)
        );
        let _ = writeln!(s);
    }
    s
}
