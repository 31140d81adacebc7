//! `riskgate audit export`: the append-only audit trail, for an auditor.

use std::process::ExitCode;

use serde::Serialize;
use serde_json::Value;

use super::{block_on, parse_when, StoreArgs};
use crate::store::AuditEvent;
use crate::time::rfc3339;

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuditFormat {
    Csv,
    Json,
}

#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Write the audit records, oldest first, to stdout.
    Export {
        #[arg(long)]
        repo: Option<String>,
        /// YYYY-MM-DD, RFC 3339 or unix seconds.
        #[arg(long, value_parser = parse_when)]
        since: Option<i64>,
        #[arg(long, value_enum)]
        format: AuditFormat,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// One audit record as exported: when, where, what, who, and a sentence saying it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRow {
    pub id: i64,
    pub at: String,
    pub repository: String,
    pub kind: String,
    pub pr_number: Option<i64>,
    pub commit: Option<String>,
    pub actor: Option<String>,
    pub summary: String,
    pub detail: Value,
}

fn field(detail: &Value, name: &str) -> String {
    match detail.get(name) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// The sentence an auditor reads for an event: what the gate said, who approved, what
/// shipped, what broke.
pub fn summary(event: &AuditEvent) -> String {
    let d = &event.detail;
    let who = event.actor.as_deref().unwrap_or("riskgate");
    let pr = event.pr_number.map(|n| format!("#{n}")).unwrap_or_default();
    match event.kind.as_str() {
        "check_conclusion" => {
            let subject = match d.get("merge_group").and_then(Value::as_str) {
                Some(group) => format!("merge group {group}"),
                None => pr,
            };
            let accepted = match d.get("accepted_by").and_then(Value::as_str) {
                Some(by) => format!(", risk accepted by {by}"),
                None => String::new(),
            };
            format!(
                "check on {subject} concluded {} ({} risk, p={}, model {}{accepted})",
                field(d, "conclusion"),
                field(d, "band"),
                d.get("probability")
                    .and_then(Value::as_f64)
                    .map(|p| format!("{p:.2}"))
                    .unwrap_or_default(),
                field(d, "model_version")
            )
        }
        "risk_accepted" => format!("{who} accepted the risk of {pr}"),
        "risk_acceptance_refused" => match d.get("reason").and_then(Value::as_str) {
            Some(reason) => format!("{who} tried to accept the risk of {pr}; refused: {reason}"),
            None => {
                format!("{who} tried to accept the risk of {pr} without write permission; refused")
            }
        },
        "deployment" => format!(
            "{who} requested deployment {} to {}",
            field(d, "deployment"),
            field(d, "environment")
        ),
        "deployment_status" => format!(
            "deployment {} to {} reported {}",
            field(d, "deployment"),
            field(d, "environment"),
            field(d, "state")
        ),
        "pull_request_merged" => format!("{pr} merged: {}", field(d, "title")),
        "incident" => format!(
            "incident {} {}: {}",
            field(d, "incident"),
            field(d, "change"),
            field(d, "title")
        ),
        "incident_linked" => format!(
            "incident {} linked to {pr}: {}",
            field(d, "incident"),
            field(d, "why")
        ),
        "incident_unlinked" => format!(
            "incident {} no longer linked to {pr}: {}",
            field(d, "incident"),
            field(d, "why")
        ),
        "incident_link_rejected" => format!(
            "{who} rejected the link of incident {} to {pr}",
            field(d, "incident")
        ),
        other => format!("{other} {pr}").trim().to_string(),
    }
}

pub fn rows(events: &[AuditEvent]) -> Vec<AuditRow> {
    events
        .iter()
        .map(|e| AuditRow {
            id: e.id,
            at: rfc3339(e.at),
            repository: e.repository.clone(),
            kind: e.kind.clone(),
            pr_number: e.pr_number,
            commit: e.head_sha.clone(),
            actor: e.actor.clone(),
            summary: summary(e),
            detail: e.detail.clone(),
        })
        .collect()
}

pub fn run(args: AuditArgs) -> anyhow::Result<ExitCode> {
    let AuditCommand::Export {
        repo,
        since,
        format,
        store,
    } = args.command;
    let events = block_on(async {
        let store = store.connect().await?;
        anyhow::Ok(store.audit_events(repo.as_deref(), since).await?)
    })??;
    let rows = rows(&events);
    let stdout = std::io::stdout();
    match format {
        AuditFormat::Json => {
            serde_json::to_writer_pretty(stdout.lock(), &rows)?;
            println!();
        }
        AuditFormat::Csv => {
            let mut w = csv::Writer::from_writer(stdout.lock());
            w.write_record([
                "id",
                "at",
                "repository",
                "kind",
                "pr_number",
                "commit",
                "actor",
                "summary",
                "detail",
            ])?;
            for r in &rows {
                w.write_record([
                    r.id.to_string(),
                    r.at.clone(),
                    r.repository.clone(),
                    r.kind.clone(),
                    r.pr_number.map(|n| n.to_string()).unwrap_or_default(),
                    r.commit.clone().unwrap_or_default(),
                    r.actor.clone().unwrap_or_default(),
                    r.summary.clone(),
                    r.detail.to_string(),
                ])?;
            }
            w.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
