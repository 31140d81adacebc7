//! A maintainer pressed "Accept risk" on a check run: the press is audited, and the check is
//! completed as a success if the sender may write to the repository.

use serde_json::json;

use crate::github::client::{CheckRunId, RepoId};
use crate::jobs::payload::{AcceptRiskJob, Payload};
use crate::jobs::{JobError, Worker};
use crate::store::{Job, NewAuditEvent};
use crate::time::now_ms;

impl Worker {
    pub(in crate::jobs) async fn accept_risk(&self, job: &Job) -> Result<(), JobError> {
        let a = AcceptRiskJob::read(job)?;
        let repo = RepoId::new(&a.repo.owner, &a.repo.name);
        // GitHub answers 404 for someone who is not a collaborator at all: that is a "no", and
        // is audited like any other refusal rather than failing the job.
        let (permission, refusal) = if a.sender.is_empty() {
            ("none".to_string(), Some("the delivery names no sender"))
        } else {
            match self
                .github
                .collaborator_permission(a.installation_id, repo, &a.sender)
                .await
            {
                Ok(p) if matches!(p.as_str(), "admin" | "maintain" | "write") => (p, None),
                Ok(p) => (p, Some("no write permission")),
                Err(e) if e.status() == Some(404) => {
                    ("none".to_string(), Some("not a collaborator"))
                }
                Err(e) => return Err(e.into()),
            }
        };
        let pr_number = a.pull_number().map(|n| n as i64);
        let audit = |kind: &str, reason: Option<&str>| NewAuditEvent {
            at: now_ms(),
            repository: a.repo.full_name.clone(),
            pr_number,
            head_sha: Some(a.head_sha.clone()),
            kind: kind.into(),
            actor: Some(a.sender.clone()),
            detail: json!({
                "permission": permission, "check_run_id": a.check_run_id, "reason": reason,
            }),
        };
        if let Some(reason) = refusal {
            self.store
                .append_audit(&audit(
                    crate::store::AUDIT_RISK_ACCEPTANCE_REFUSED,
                    Some(reason),
                ))
                .await?;
            tracing::warn!(sender = %a.sender, %permission, reason, "risk acceptance refused");
            return Ok(());
        }
        let mut state = job.state.clone().unwrap_or_else(|| json!({}));
        if state["audited"].as_bool() != Some(true) {
            self.store
                .append_audit(&audit(crate::store::AUDIT_RISK_ACCEPTED, None))
                .await?;
            state["audited"] = json!(true);
            self.save_state(job, &state).await?;
        }
        let summary = format!(
            "@{} accepted the risk of this change (permission: {permission}). It stands for this \
             commit until a new one is pushed; the accepted score stays in riskgate's audit trail.",
            a.sender
        );
        self.complete_check(
            a.installation_id,
            repo,
            CheckRunId(a.check_run_id),
            "success",
            &format!("riskgate: risk accepted by @{}", a.sender),
            &summary,
            vec![],
        )
        .await
    }
}
