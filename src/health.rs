//! Release health of a repository: how often and how well it ships, per environment, and how
//! riskgate's own checks fared against the incidents that followed. Pure: the caller brings
//! the releases, incidents, links and scores out of the store.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::labels::deployments::{rollbacks, Outcome, Release};
use crate::labels::incidents::{Incident, Link};

const HOUR_MS: i64 = 60 * 60 * 1000;
const DAY_MS: i64 = 24 * HOUR_MS;
const WEEK_MS: i64 = 7 * DAY_MS;

/// An incident opened this long after a release went live is release-related.
pub const RELEASE_INCIDENT_WINDOW_MS: i64 = HOUR_MS;
/// A production environment without a successful deploy for this long is stale.
pub const STALE_AFTER_MS: i64 = 14 * DAY_MS;

/// Environments whose silence makes a pipeline stale.
pub fn is_production(environment: &str) -> bool {
    matches!(
        environment.to_ascii_lowercase().as_str(),
        "production" | "prod" | "live"
    )
}

/// The figures of one environment over the period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EnvironmentHealth {
    pub environment: String,
    /// Deployments created in the period.
    pub deployments: usize,
    pub successful: usize,
    pub failed: usize,
    /// Successful deployments per week of the period.
    pub releases_per_week: f64,
    /// created → success, in minutes.
    pub median_release_minutes: Option<f64>,
    pub mean_release_minutes: Option<f64>,
    pub rollbacks: usize,
    /// Rollbacks among successful deployments.
    pub rollback_rate: Option<f64>,
    /// Failed among finished (successful or failed) deployments.
    pub failed_release_rate: Option<f64>,
    /// Successful deployments followed by an incident within the hour.
    pub release_incidents: usize,
    pub release_incident_rate: Option<f64>,
    /// Unix ms of the newest successful deployment, in or before the period.
    pub last_success_at: Option<i64>,
    /// A production environment with no successful deploy in 14 days.
    pub stale: bool,
}

/// How riskgate's checks did in the period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateHealth {
    /// Pull requests scored in the period.
    pub scored_pulls: usize,
    /// Of them, rated elevated or high (by their latest score).
    pub gated_pulls: usize,
    pub gate_rate: Option<f64>,
    /// Incidents opened in the period.
    pub incidents: usize,
    /// Of them, linked to at least one pull request.
    pub linked_incidents: usize,
    /// Of the linked ones, those with a linked pull request rated elevated or high.
    pub captured_incidents: usize,
    pub incident_capture: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RepositoryHealth {
    pub repository: String,
    /// Unix ms; the period is [since, until).
    pub since: i64,
    pub until: i64,
    pub environments: Vec<EnvironmentHealth>,
    pub gate: GateHealth,
    /// Production environments gone stale (also true when a repository that scores pull
    /// requests has never deployed to production at all).
    pub stale_production: bool,
}

/// A scored pull request: its number, when it was last scored and the band it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScoredPull {
    pub pr_number: i64,
    pub scored_at: i64,
    pub band: String,
}

fn ratio(part: usize, whole: usize) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    })
}

fn gated(band: &str) -> bool {
    matches!(band, "elevated" | "high")
}

/// Release health of `repository` over [since, until). `releases` may hold other
/// repositories' and older releases: rollbacks and staleness look back before the period.
pub fn repository_health(
    repository: &str,
    releases: &[Release],
    incidents: &[Incident],
    links: &[Link],
    scored: &[ScoredPull],
    since: i64,
    until: i64,
) -> RepositoryHealth {
    let mine: Vec<&Release> = releases
        .iter()
        .filter(|r| r.deployment.repository.eq_ignore_ascii_case(repository))
        .collect();
    let owned: Vec<Release> = mine.iter().map(|r| (*r).clone()).collect();
    let rolled_back: BTreeSet<i64> = rollbacks(&owned).into_iter().collect();
    let incidents: Vec<&Incident> = incidents
        .iter()
        .filter(|i| i.concerns(repository))
        .collect();
    let in_period = |at: i64| at >= since && at < until;
    let weeks = ((until - since).max(1) as f64) / WEEK_MS as f64;

    let environments: BTreeSet<&str> = mine
        .iter()
        .map(|r| r.deployment.environment.as_str())
        .collect();
    let mut env_health = Vec::new();
    for env in environments {
        let all: Vec<&&Release> = mine
            .iter()
            .filter(|r| r.deployment.environment == env)
            .collect();
        let period: Vec<&&Release> = all
            .iter()
            .copied()
            .filter(|r| in_period(r.deployment.created_at))
            .collect();
        let successes: Vec<&&Release> = period.iter().copied().filter(|r| r.succeeded()).collect();
        let failed = period
            .iter()
            .filter(|r| r.outcome == Outcome::Failed)
            .count();
        let mut minutes: Vec<f64> = successes
            .iter()
            .filter_map(|r| r.duration_ms())
            .map(|ms| ms as f64 / 60_000.0)
            .collect();
        let mean =
            (!minutes.is_empty()).then(|| minutes.iter().sum::<f64>() / minutes.len() as f64);
        let rollbacks = successes
            .iter()
            .filter(|r| rolled_back.contains(&r.deployment.id))
            .count();
        let release_incidents = successes
            .iter()
            .filter(|r| {
                let live = r.finished_at.unwrap_or(r.deployment.created_at);
                incidents.iter().any(|i| {
                    i.environment
                        .as_deref()
                        .is_none_or(|e| e.eq_ignore_ascii_case(env))
                        && i.opened_at >= live
                        && i.opened_at.saturating_sub(live) <= RELEASE_INCIDENT_WINDOW_MS
                })
            })
            .count();
        let last_success_at = all
            .iter()
            .filter(|r| r.succeeded() && r.deployment.created_at < until)
            .filter_map(|r| r.finished_at)
            .filter(|at| *at < until)
            .max();
        let stale =
            is_production(env) && last_success_at.is_none_or(|at| until - at > STALE_AFTER_MS);
        env_health.push(EnvironmentHealth {
            environment: env.to_string(),
            deployments: period.len(),
            successful: successes.len(),
            failed,
            releases_per_week: successes.len() as f64 / weeks,
            median_release_minutes: median(&mut minutes),
            mean_release_minutes: mean,
            rollbacks,
            rollback_rate: ratio(rollbacks, successes.len()),
            failed_release_rate: ratio(failed, successes.len() + failed),
            release_incidents,
            release_incident_rate: ratio(release_incidents, successes.len()),
            last_success_at,
            stale,
        });
    }

    // The latest score of each pull request scored in the period.
    let mut latest: BTreeMap<i64, &ScoredPull> = BTreeMap::new();
    for s in scored.iter().filter(|s| s.scored_at < until) {
        match latest.get(&s.pr_number) {
            Some(prev) if prev.scored_at > s.scored_at => {}
            _ => {
                latest.insert(s.pr_number, s);
            }
        }
    }
    let scored_in_period: Vec<&&ScoredPull> =
        latest.values().filter(|s| in_period(s.scored_at)).collect();
    let gated_pulls = scored_in_period.iter().filter(|s| gated(&s.band)).count();
    let period_incidents: Vec<&&Incident> = incidents
        .iter()
        .filter(|i| in_period(i.opened_at))
        .collect();
    let mut linked_incidents = 0;
    let mut captured_incidents = 0;
    for i in &period_incidents {
        let prs: Vec<i64> = links
            .iter()
            .filter(|l| l.incident_id == i.id && l.repository.eq_ignore_ascii_case(repository))
            .map(|l| l.pr_number)
            .collect();
        if prs.is_empty() {
            continue;
        }
        linked_incidents += 1;
        if prs
            .iter()
            .any(|n| latest.get(n).is_some_and(|s| gated(&s.band)))
        {
            captured_incidents += 1;
        }
    }
    let has_production = env_health.iter().any(|e| is_production(&e.environment));
    let stale_production =
        env_health.iter().any(|e| e.stale) || (!has_production && !env_health.is_empty());
    RepositoryHealth {
        repository: repository.to_string(),
        since,
        until,
        environments: env_health,
        gate: GateHealth {
            scored_pulls: scored_in_period.len(),
            gated_pulls,
            gate_rate: ratio(gated_pulls, scored_in_period.len()),
            incidents: period_incidents.len(),
            linked_incidents,
            captured_incidents,
            incident_capture: ratio(captured_incidents, linked_incidents),
        },
        stale_production,
    }
}

/// Successful and failed deployments per week of one environment, for charts: one bucket
/// per week from `since`, the last one ending at or after `until`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WeekBucket {
    /// Unix ms at which the week starts.
    pub start: i64,
    pub successful: usize,
    pub failed: usize,
    pub incidents: usize,
}

pub fn weekly(
    repository: &str,
    environment: &str,
    releases: &[Release],
    incidents: &[Incident],
    since: i64,
    until: i64,
) -> Vec<WeekBucket> {
    let n = ((until - since).max(1) + WEEK_MS - 1) / WEEK_MS;
    let mut buckets: Vec<WeekBucket> = (0..n)
        .map(|k| WeekBucket {
            start: since + k * WEEK_MS,
            successful: 0,
            failed: 0,
            incidents: 0,
        })
        .collect();
    let slot = |at: i64| -> Option<usize> {
        (at >= since && at < until).then(|| ((at - since) / WEEK_MS) as usize)
    };
    for r in releases.iter().filter(|r| {
        r.deployment.repository.eq_ignore_ascii_case(repository)
            && r.deployment.environment == environment
    }) {
        if let Some(k) = slot(r.deployment.created_at) {
            match r.outcome {
                Outcome::Success => buckets[k].successful += 1,
                Outcome::Failed => buckets[k].failed += 1,
                _ => {}
            }
        }
    }
    for i in incidents.iter().filter(|i| {
        i.concerns(repository)
            && i.environment
                .as_deref()
                .is_none_or(|e| e.eq_ignore_ascii_case(environment))
    }) {
        if let Some(k) = slot(i.opened_at) {
            buckets[k].incidents += 1;
        }
    }
    buckets
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::deployments::{releases, Deployment, DeploymentStatus};
    use crate::labels::incidents::LinkReason;

    const MIN: i64 = 60_000;

    fn dep(id: i64, env: &str, sha: &str, at: i64) -> Deployment {
        Deployment {
            id,
            repository: "o/r".into(),
            environment: env.into(),
            sha: sha.into(),
            ref_name: None,
            task: None,
            description: None,
            creator: None,
            created_at: at,
        }
    }

    fn st(id: i64, dep: i64, state: &str, at: i64) -> DeploymentStatus {
        DeploymentStatus {
            id,
            deployment_id: dep,
            repository: "o/r".into(),
            state: state.into(),
            creator: None,
            description: None,
            created_at: at,
        }
    }

    fn incident(id: &str, at: i64) -> Incident {
        Incident {
            id: id.into(),
            source: "api".into(),
            title: "t".into(),
            repository: Some("o/r".into()),
            service: None,
            environment: None,
            opened_at: at,
            resolved_at: None,
            commit_sha: None,
            pr_number: None,
            body: None,
        }
    }

    #[test]
    fn figures_by_hand() {
        // Two weeks. Production: 4 deployments, 3 succeed (10, 20, 30 minutes), 1 fails;
        // the third success redeploys the first sha (a rollback); one incident 30 min after
        // the second success.
        let day = DAY_MS;
        let deps = vec![
            dep(1, "production", "a", day),
            dep(2, "production", "b", 3 * day),
            dep(3, "production", "c", 5 * day),
            dep(4, "production", "a", 8 * day),
            dep(5, "staging", "s", 2 * day),
        ];
        let statuses = vec![
            st(1, 1, "success", day + 10 * MIN),
            st(2, 2, "success", 3 * day + 20 * MIN),
            st(3, 3, "failure", 5 * day + 5 * MIN),
            st(4, 4, "success", 8 * day + 30 * MIN),
            st(5, 5, "success", 2 * day + MIN),
        ];
        let rs = releases(&deps, &statuses);
        let incidents = vec![
            incident("i1", 3 * day + 50 * MIN),
            incident("i2", 10 * day),
            incident("i3", 11 * day),
        ];
        let link = |id: &str, pr| Link {
            incident_id: id.into(),
            repository: "o/r".into(),
            pr_number: pr,
            reason: LinkReason::ExplicitPr,
            why: String::new(),
            deployment_id: None,
        };
        let links = vec![link("i1", 7), link("i2", 8)];
        let scored = vec![
            ScoredPull {
                pr_number: 7,
                scored_at: 2 * day,
                band: "low".into(),
            },
            ScoredPull {
                pr_number: 7,
                scored_at: 2 * day + 1,
                band: "high".into(),
            },
            ScoredPull {
                pr_number: 8,
                scored_at: 4 * day,
                band: "low".into(),
            },
            ScoredPull {
                pr_number: 9,
                scored_at: 4 * day,
                band: "elevated".into(),
            },
            ScoredPull {
                pr_number: 6,
                scored_at: 20 * day,
                band: "high".into(),
            },
        ];
        let h = repository_health("o/r", &rs, &incidents, &links, &scored, 0, 14 * day);
        let prod = h
            .environments
            .iter()
            .find(|e| e.environment == "production")
            .unwrap();
        assert_eq!(prod.deployments, 4);
        assert_eq!(prod.successful, 3);
        assert_eq!(prod.failed, 1);
        assert!((prod.releases_per_week - 1.5).abs() < 1e-9);
        assert_eq!(prod.median_release_minutes, Some(20.0));
        assert_eq!(prod.mean_release_minutes, Some(20.0));
        assert_eq!(prod.rollbacks, 1);
        assert_eq!(prod.rollback_rate, Some(1.0 / 3.0));
        assert_eq!(prod.failed_release_rate, Some(0.25));
        assert_eq!(prod.release_incidents, 1);
        assert_eq!(prod.release_incident_rate, Some(1.0 / 3.0));
        assert_eq!(prod.last_success_at, Some(8 * day + 30 * MIN));
        assert!(!prod.stale, "6 days since the last success");
        let staging = h
            .environments
            .iter()
            .find(|e| e.environment == "staging")
            .unwrap();
        assert!(!staging.stale, "only production goes stale");
        assert_eq!(h.gate.scored_pulls, 3);
        assert_eq!(h.gate.gated_pulls, 2);
        assert_eq!(h.gate.incidents, 3);
        assert_eq!(h.gate.linked_incidents, 2);
        assert_eq!(h.gate.captured_incidents, 1);
        assert_eq!(h.gate.incident_capture, Some(0.5));
        assert!(!h.stale_production);

        let later = repository_health("o/r", &rs, &incidents, &links, &scored, 0, 30 * day);
        assert!(
            later.stale_production,
            "22 days without a production deploy"
        );

        let weeks = weekly("o/r", "production", &rs, &incidents, 0, 14 * day);
        assert_eq!(weeks.len(), 2);
        assert_eq!(
            (weeks[0].successful, weeks[0].failed, weeks[0].incidents),
            (2, 1, 1)
        );
        assert_eq!(
            (weeks[1].successful, weeks[1].failed, weeks[1].incidents),
            (1, 0, 2)
        );
    }
}
