//! What happened in production, recorded and linked: deployments, merged pull requests and
//! incidents go into the store, and after each one the derived facts of its repository (what
//! each release shipped, which pull requests each incident is linked to) are rebuilt from all
//! the events, so the order in which they arrive does not matter. Every event, link and
//! rejected link is also written to the audit trail.

use serde_json::json;

use crate::health::ScoredPull;
use crate::labels::deployments::{
    releases, shipped_pulls, Deployment, DeploymentStatus, PullRecord, Release,
};
use crate::labels::incidents::{link_incidents, Incident, Link, DEFAULT_WINDOW_MS};
use crate::store::{
    IncidentWrite, LinkChanges, LinkRejection, NewAuditEvent, Score, Store, StoreError,
};

/// Audit kinds written here.
pub const AUDIT_DEPLOYMENT: &str = "deployment";
pub const AUDIT_DEPLOYMENT_STATUS: &str = "deployment_status";
pub const AUDIT_INCIDENT: &str = "incident";
pub const AUDIT_INCIDENT_LINKED: &str = "incident_linked";
pub const AUDIT_INCIDENT_UNLINKED: &str = "incident_unlinked";
pub const AUDIT_LINK_REJECTED: &str = "incident_link_rejected";
pub const AUDIT_PULL_MERGED: &str = "pull_request_merged";

/// How incidents are tied to deployments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkSettings {
    /// An incident opened this long after a release went live is blamed on it.
    pub window_ms: i64,
}

impl Default for LinkSettings {
    fn default() -> Self {
        LinkSettings {
            window_ms: DEFAULT_WINDOW_MS,
        }
    }
}

/// Everything the store knows of one repository's production history.
#[derive(Debug, Clone, Default)]
pub struct RepoHistory {
    pub repository: String,
    pub releases: Vec<Release>,
    pub pulls: Vec<PullRecord>,
    /// Incidents that concern the repository.
    pub incidents: Vec<Incident>,
    pub links: Vec<Link>,
    pub scores: Vec<Score>,
}

impl RepoHistory {
    pub fn scored_pulls(&self) -> Vec<ScoredPull> {
        self.scores
            .iter()
            .map(|s| ScoredPull {
                pr_number: s.pr_number,
                scored_at: s.created_at,
                band: s.band.clone(),
            })
            .collect()
    }
}

/// How much of its scores a [`RepoHistory`] is loaded with: a repository keeps every score
/// for good, and parsing each one's signals is most of what reading them costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScoresLoaded {
    /// None: linking incidents reads no score.
    None,
    /// Every score without its signals (`features` is `null`): views of the history.
    Summaries,
    /// Every score with its signals: training.
    WithSignals,
}

pub async fn load_history(
    store: &Store,
    repository: &str,
    scores: ScoresLoaded,
) -> Result<RepoHistory, StoreError> {
    let deployments = store.deployments(Some(repository)).await?;
    let statuses = store.deployment_statuses(Some(repository)).await?;
    let incidents = store.incidents_concerning(repository).await?;
    let scores = match scores {
        ScoresLoaded::None => Vec::new(),
        ScoresLoaded::Summaries => store.score_summaries_for(repository).await?,
        ScoresLoaded::WithSignals => store.scores_for(repository).await?,
    };
    Ok(RepoHistory {
        repository: repository.to_string(),
        releases: releases(&deployments, &statuses),
        pulls: store.pull_requests(repository).await?,
        incidents,
        links: store
            .incident_links(Some(repository))
            .await?
            .into_iter()
            .map(|l| l.link)
            .collect(),
        scores,
    })
}

fn audit(
    at: i64,
    repository: &str,
    kind: &str,
    pr_number: Option<i64>,
    head_sha: Option<&str>,
    actor: Option<&str>,
    detail: serde_json::Value,
) -> NewAuditEvent {
    NewAuditEvent {
        at,
        repository: repository.to_string(),
        pr_number,
        head_sha: head_sha.map(str::to_string),
        kind: kind.to_string(),
        actor: actor.map(str::to_string),
        detail,
    }
}

/// Rebuilds what each release of `repository` shipped and which pull requests each incident
/// is linked to; audits the links that appeared or went away.
pub async fn relink(
    store: &Store,
    repository: &str,
    settings: LinkSettings,
    now_ms: i64,
) -> Result<LinkChanges, StoreError> {
    // Two relinks of one repository at once could each read a different set of events and
    // the older one write last.
    let _guard = store.lock_repository(repository).await?;
    let history = load_history(store, repository, ScoresLoaded::None).await?;
    let shipped = shipped_pulls(&history.releases, &history.pulls);
    let pairs: Vec<(i64, i64)> = shipped
        .iter()
        .flat_map(|(d, prs)| prs.iter().map(move |p| (*d, *p)))
        .collect();
    store.replace_deployment_pulls(repository, &pairs).await?;
    let rejected: std::collections::BTreeSet<(String, i64)> = store
        .link_rejections(repository)
        .await?
        .into_iter()
        .map(|r| (r.incident_id, r.pr_number))
        .collect();
    let links: Vec<Link> = link_incidents(
        repository,
        &history.incidents,
        &history.releases,
        &shipped,
        &history.pulls,
        settings.window_ms,
    )
    .into_iter()
    .filter(|l| !rejected.contains(&(l.incident_id.clone(), l.pr_number)))
    .collect();
    let changes = store
        .sync_incident_links(repository, &links, now_ms)
        .await?;
    for l in &changes.added {
        store
            .append_audit(&audit(
                now_ms,
                repository,
                AUDIT_INCIDENT_LINKED,
                Some(l.pr_number),
                None,
                None,
                json!({"incident": l.incident_id, "reason": l.reason.as_str(), "why": l.why,
                       "deployment": l.deployment_id}),
            ))
            .await?;
    }
    for l in &changes.removed {
        store
            .append_audit(&audit(
                now_ms,
                repository,
                AUDIT_INCIDENT_UNLINKED,
                Some(l.pr_number),
                None,
                None,
                json!({"incident": l.incident_id, "reason": l.reason.as_str(),
                       "why": "a stronger reference or a correction replaced this link"}),
            ))
            .await?;
    }
    Ok(changes)
}

/// Records a deployment and, when given, one of its statuses (a `deployment_status`
/// delivery carries both), audits what was new, and relinks.
pub async fn record_deployment(
    store: &Store,
    deployment: &Deployment,
    status: Option<&DeploymentStatus>,
    settings: LinkSettings,
    now_ms: i64,
) -> Result<LinkChanges, StoreError> {
    let repo = deployment.repository.as_str();
    if store.record_deployment(deployment, now_ms).await? {
        store
            .append_audit(&audit(
                deployment.created_at,
                repo,
                AUDIT_DEPLOYMENT,
                None,
                Some(&deployment.sha),
                deployment.creator.as_deref(),
                json!({"deployment": deployment.id, "environment": deployment.environment,
                       "ref": deployment.ref_name, "task": deployment.task,
                       "description": deployment.description}),
            ))
            .await?;
    }
    if let Some(s) = status {
        if store.record_deployment_status(s, now_ms).await? {
            store
                .append_audit(&audit(
                    s.created_at,
                    repo,
                    AUDIT_DEPLOYMENT_STATUS,
                    None,
                    Some(&deployment.sha),
                    s.creator.as_deref(),
                    json!({"deployment": s.deployment_id, "environment": deployment.environment,
                           "state": s.state, "description": s.description}),
                ))
                .await?;
        }
    }
    relink(store, repo, settings, now_ms).await
}

/// Records a closed pull request (merged or not) and relinks its repository.
pub async fn record_pull(
    store: &Store,
    pull: &PullRecord,
    settings: LinkSettings,
    now_ms: i64,
) -> Result<LinkChanges, StoreError> {
    let changed = store.upsert_pull_request(pull, now_ms).await?;
    if let Some(at) = pull.merged_at.filter(|_| changed) {
        store
            .append_audit(&audit(
                at,
                &pull.repository,
                AUDIT_PULL_MERGED,
                Some(pull.number),
                pull.merge_commit_sha.as_deref(),
                pull.author.as_deref(),
                json!({"title": pull.title, "reverts": pull.reverts_number}),
            ))
            .await?;
    }
    relink(store, &pull.repository, settings, now_ms).await
}

/// Records an incident (idempotent on its id) and relinks every repository it concerns.
pub async fn record_incident(
    store: &Store,
    incident: &Incident,
    actor: Option<&str>,
    settings: LinkSettings,
    now_ms: i64,
) -> Result<IncidentWrite, StoreError> {
    let writes = record_incidents(
        store,
        std::slice::from_ref(incident),
        actor,
        settings,
        now_ms,
    )
    .await?;
    Ok(writes[0])
}

/// How many incidents [`record_incidents`] writes in one transaction: enough that a large
/// import is not a transaction per incident, few enough that it does not hold SQLite's one
/// writer (and the App's deliveries behind it) for long.
const INCIDENTS_PER_TRANSACTION: usize = 1_000;

/// Records incidents (each idempotent on its id), then relinks every repository they concern
/// once: a relink reads the repository's whole production history, so a batch of a thousand
/// incidents must not read it a thousand times. Written in order, in transactions of
/// [`INCIDENTS_PER_TRANSACTION`], each incident with its audit events.
pub async fn record_incidents(
    store: &Store,
    incidents: &[Incident],
    actor: Option<&str>,
    settings: LinkSettings,
    now_ms: i64,
) -> Result<Vec<IncidentWrite>, StoreError> {
    // An incident that names no repository concerns those whose name matches its service.
    let mut known: Option<Vec<String>> = None;
    let mut concerned = Vec::with_capacity(incidents.len());
    for incident in incidents {
        concerned.push(match &incident.repository {
            Some(r) => vec![r.clone()],
            None => {
                if known.is_none() {
                    known = Some(store.known_repositories().await?);
                }
                known
                    .iter()
                    .flatten()
                    .filter(|r| incident.concerns(r))
                    .cloned()
                    .collect::<Vec<String>>()
            }
        });
    }
    let mut writes = Vec::with_capacity(incidents.len());
    for (chunk, repositories) in incidents
        .chunks(INCIDENTS_PER_TRANSACTION)
        .zip(concerned.chunks(INCIDENTS_PER_TRANSACTION))
    {
        let audits = |at: usize, write: IncidentWrite| {
            let incident = &chunk[at];
            // An incident of a service no repository answers to yet is audited under its
            // service.
            let audited = match repositories[at].as_slice() {
                [] => vec![incident.service.clone().unwrap_or_default()],
                some => some.to_vec(),
            };
            audited
                .iter()
                .map(|repo| {
                    audit(
                        now_ms,
                        repo,
                        AUDIT_INCIDENT,
                        incident.pr_number,
                        incident.commit_sha.as_deref(),
                        actor,
                        json!({"incident": incident.id, "title": incident.title,
                               "source": incident.source,
                               "change": if write == IncidentWrite::Created { "opened" } else { "updated" },
                               "environment": incident.environment,
                               "opened_at": incident.opened_at, "resolved_at": incident.resolved_at}),
                    )
                })
                .collect()
        };
        writes.extend(store.upsert_incidents(chunk, now_ms, audits).await?);
    }
    let to_relink: std::collections::BTreeSet<&String> = concerned.iter().flatten().collect();
    for repo in to_relink {
        relink(store, repo, settings, now_ms).await?;
    }
    Ok(writes)
}

/// A maintainer rejects a link: it is dropped, never made again, and audited. False when the
/// rejection was on record already.
pub async fn reject_link(
    store: &Store,
    rejection: &LinkRejection,
    settings: LinkSettings,
) -> Result<bool, StoreError> {
    let new = store.reject_incident_link(rejection).await?;
    if new {
        store
            .append_audit(&audit(
                rejection.at,
                &rejection.repository,
                AUDIT_LINK_REJECTED,
                Some(rejection.pr_number),
                None,
                rejection.rejected_by.as_deref(),
                json!({"incident": rejection.incident_id, "note": rejection.note}),
            ))
            .await?;
    }
    relink(store, &rejection.repository, settings, rejection.at).await?;
    Ok(new)
}
