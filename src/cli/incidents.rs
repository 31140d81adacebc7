//! `riskgate incidents`: import incident history, list incidents with their links, reject a
//! wrong link.

use std::path::PathBuf;
use std::process::ExitCode;

use super::{block_on, StoreArgs};
use crate::input::{read_text_capped, MAX_INCIDENTS_BYTES};
use crate::labels::incident_input::{incidents_from_csv, incidents_from_json};
use crate::production::{self, LinkSettings};
use crate::report::printable;
use crate::store::{IncidentWrite, LinkRejection};
use crate::time::rfc3339;

#[derive(Debug, clap::Args)]
pub struct IncidentsArgs {
    #[command(subcommand)]
    pub command: IncidentsCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum IncidentsCommand {
    /// Import incidents from a CSV or JSON file (see the README for the fields). Idempotent on
    /// the incident id; a bad record refuses the whole file, naming the record and field.
    Import {
        file: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
        /// Minutes after a deployment in which an incident is blamed on it.
        #[arg(long, env = "RISKGATE_INCIDENT_WINDOW_MINUTES", default_value_t = 60)]
        window_minutes: u64,
    },
    /// Incidents and the pull requests they are linked to, with the reason for each link.
    List {
        #[arg(long)]
        repo: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Reject a link: the incident was not caused by that pull request. It is never linked
    /// again, and the rejection is audited.
    Unlink {
        #[arg(long)]
        incident: String,
        #[arg(long, value_name = "OWNER/NAME")]
        repo: String,
        #[arg(long, value_name = "N")]
        pr: i64,
        /// Who rejects it (for the audit trail). Default: $USER.
        #[arg(long)]
        by: Option<String>,
        #[arg(long)]
        note: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long, env = "RISKGATE_INCIDENT_WINDOW_MINUTES", default_value_t = 60)]
        window_minutes: u64,
    },
}

fn settings(window_minutes: u64) -> LinkSettings {
    LinkSettings {
        window_ms: window_minutes.max(1) as i64 * 60_000,
    }
}

pub fn run(args: IncidentsArgs) -> anyhow::Result<ExitCode> {
    block_on(async move {
        match args.command {
            IncidentsCommand::Import {
                file,
                store,
                window_minutes,
            } => import(&file, &store, settings(window_minutes)).await,
            IncidentsCommand::List { repo, store } => list(repo.as_deref(), &store).await,
            IncidentsCommand::Unlink {
                incident,
                repo,
                pr,
                by,
                note,
                store,
                window_minutes,
            } => {
                let store = store.connect().await?;
                let linked = store
                    .incident_links(Some(&repo))
                    .await?
                    .into_iter()
                    .any(|l| l.link.incident_id == incident && l.link.pr_number == pr);
                if store.incident(&incident).await?.is_none() {
                    anyhow::bail!("no incident `{incident}`");
                }
                let rejection = LinkRejection {
                    incident_id: incident.clone(),
                    repository: repo.clone(),
                    pr_number: pr,
                    rejected_by: by.or_else(|| std::env::var("USER").ok()),
                    note,
                    at: crate::time::now_ms(),
                };
                let new =
                    production::reject_link(&store, &rejection, settings(window_minutes)).await?;
                match (new, linked) {
                    (true, true) => println!(
                        "unlinked {incident} from {repo}#{pr}; it will not be linked again"
                    ),
                    (true, false) => println!(
                        "{incident} was not linked to {repo}#{pr}; recorded that it must never be"
                    ),
                    (false, _) => println!("{incident} and {repo}#{pr} were unlinked before"),
                }
                Ok(ExitCode::SUCCESS)
            }
        }
    })?
}

async fn import(
    file: &std::path::Path,
    store: &StoreArgs,
    settings: LinkSettings,
) -> anyhow::Result<ExitCode> {
    let text = read_text_capped(file, MAX_INCIDENTS_BYTES, "incidents file")?;
    let is_json = file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        || text.trim_start().starts_with(['[', '{']);
    let parsed = if is_json {
        incidents_from_json(&text, "import")
    } else {
        incidents_from_csv(&text, "import")
    };
    let incidents = match parsed {
        Ok(list) => list,
        Err(errors) => {
            for e in &errors {
                eprintln!("error: {}: {}", file.display(), printable(&e.to_string()));
            }
            eprintln!(
                "nothing imported: {} bad record{}",
                errors.len(),
                if errors.len() == 1 { "" } else { "s" }
            );
            return Ok(ExitCode::from(2));
        }
    };
    let store = store.connect().await?;
    let (mut created, mut updated, mut unchanged) = (0, 0, 0);
    let now = crate::time::now_ms();
    for write in production::record_incidents(&store, &incidents, None, settings, now).await? {
        match write {
            IncidentWrite::Created => created += 1,
            IncidentWrite::Updated => updated += 1,
            IncidentWrite::Unchanged => unchanged += 1,
        }
    }
    let links = store.incident_links(None).await?;
    let ids: std::collections::HashSet<&str> = incidents.iter().map(|i| i.id.as_str()).collect();
    let linked = links
        .iter()
        .filter(|l| ids.contains(l.link.incident_id.as_str()))
        .count();
    println!(
        "{} incidents: {created} new, {updated} updated, {unchanged} unchanged; {linked} links to pull requests",
        incidents.len()
    );
    Ok(ExitCode::SUCCESS)
}

async fn list(repo: Option<&str>, store: &StoreArgs) -> anyhow::Result<ExitCode> {
    let store = store.connect().await?;
    let links = store.incident_links(repo).await?;
    for incident in store.incidents().await? {
        if let Some(r) = repo {
            let mentioned = links.iter().any(|l| l.link.incident_id == incident.id);
            if !incident.concerns(r) && !mentioned {
                continue;
            }
        }
        let place = incident
            .repository
            .clone()
            .or(incident.service.clone())
            .unwrap_or_default();
        println!(
            "{}  {}  {}  {}{}",
            printable(&incident.id),
            rfc3339(incident.opened_at),
            printable(&place),
            printable(&incident.title),
            incident
                .environment
                .as_deref()
                .map(|e| format!("  [{}]", printable(e)))
                .unwrap_or_default()
        );
        for l in links.iter().filter(|l| l.link.incident_id == incident.id) {
            println!(
                "    -> {}#{}  {}: {}",
                printable(&l.link.repository),
                l.link.pr_number,
                l.link.reason.as_str(),
                printable(&l.link.why)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
