//! The jobs that record production history from webhooks: deployments and their statuses,
//! closed pull requests, and issues labelled as incidents.

use super::payload::{DeploymentJob, IssueJob, Payload, PullClosedJob};
use super::{JobError, Worker};
use crate::labels::incidents::Incident;
use crate::production;
use crate::store::Job;
use crate::time::now_ms;

/// The incident a labelled issue stands for.
pub fn issue_incident(issue: &IssueJob) -> Incident {
    Incident {
        id: format!("github:{}#{}", issue.repository, issue.number),
        source: "github_issue".to_string(),
        title: issue.title.clone(),
        repository: Some(issue.repository.clone()),
        service: None,
        environment: None,
        opened_at: issue.created_at,
        resolved_at: issue.closed_at,
        commit_sha: None,
        pr_number: None,
        body: issue.body.clone(),
    }
}

impl Worker {
    pub(super) async fn record_deployment(&self, job: &Job) -> Result<(), JobError> {
        let d = DeploymentJob::read(job)?;
        production::record_deployment(
            &self.store,
            &d.deployment,
            d.status.as_ref(),
            self.settings.links,
            now_ms(),
        )
        .await?;
        Ok(())
    }

    pub(super) async fn record_pull(&self, job: &Job) -> Result<(), JobError> {
        let p = PullClosedJob::read(job)?;
        production::record_pull(&self.store, &p.pull, self.settings.links, now_ms()).await?;
        Ok(())
    }

    /// An issue with the incident label is an incident (its opening time, its closing as the
    /// resolution). Taking the label off later does not erase it: the audit trail keeps what
    /// was recorded, and a wrong link is rejected with `riskgate incidents unlink`.
    pub(super) async fn record_issue(&self, job: &Job) -> Result<(), JobError> {
        let issue = IssueJob::read(job)?;
        let label = &self.settings.incident_label;
        if !issue.labels.iter().any(|l| l.eq_ignore_ascii_case(label)) {
            tracing::debug!(number = issue.number, %label, "issue without the incident label");
            return Ok(());
        }
        production::record_incident(
            &self.store,
            &issue_incident(&issue),
            issue.author.as_deref(),
            self.settings.links,
            now_ms(),
        )
        .await?;
        Ok(())
    }
}
