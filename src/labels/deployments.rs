//! Deployments as GitHub reports them (a deployment, then statuses), folded into releases: what
//! was deployed where, when it went live or failed, and which merged pull requests it shipped.
//! Pure: the store hands the events in, in any order.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

/// A `deployment` event: a request to deploy `sha` to `environment`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    /// GitHub's deployment id.
    pub id: i64,
    pub repository: String,
    pub environment: String,
    pub sha: String,
    pub ref_name: Option<String>,
    pub task: Option<String>,
    pub description: Option<String>,
    pub creator: Option<String>,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// A `deployment_status` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentStatus {
    /// GitHub's status id.
    pub id: i64,
    pub deployment_id: i64,
    pub repository: String,
    /// `queued`, `pending`, `in_progress`, `success`, `failure`, `error`, `inactive`.
    pub state: String,
    pub creator: Option<String>,
    pub description: Option<String>,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// A merged pull request, as far as release bookkeeping needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRecord {
    pub repository: String,
    pub number: i64,
    pub title: String,
    pub author: Option<String>,
    pub head_sha: Option<String>,
    pub merge_commit_sha: Option<String>,
    /// Unix milliseconds; `None` while open or when closed unmerged.
    pub merged_at: Option<i64>,
    pub closed_at: Option<i64>,
    /// The pull request this one reverts, when it says so (GitHub's revert PRs do).
    pub reverts_number: Option<i64>,
}

/// How a deployment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// No final status yet.
    Pending,
    Success,
    /// `failure` or `error`.
    Failed,
    /// Marked inactive before it ever succeeded or failed (superseded).
    Inactive,
}

/// One deployment with its outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Release {
    pub deployment: Deployment,
    pub outcome: Outcome,
    /// When the final status (success, failure or error) was reported.
    pub finished_at: Option<i64>,
    /// Who or what reported the final status.
    pub finished_by: Option<String>,
}

impl Release {
    pub fn succeeded(&self) -> bool {
        self.outcome == Outcome::Success
    }

    /// created → final status, in milliseconds.
    pub fn duration_ms(&self) -> Option<i64> {
        self.finished_at.map(|f| f - self.deployment.created_at)
    }
}

/// Folds deployments and their statuses into releases, ordered by repository, environment
/// and creation time. The first final status decides the outcome: a later `inactive` (the
/// deployment was superseded) does not undo a success. Statuses of unknown deployments are
/// ignored until their deployment arrives.
pub fn releases(deployments: &[Deployment], statuses: &[DeploymentStatus]) -> Vec<Release> {
    let mut by_deployment: HashMap<i64, Vec<&DeploymentStatus>> = HashMap::new();
    for s in statuses {
        by_deployment.entry(s.deployment_id).or_default().push(s);
    }
    let mut out: Vec<Release> = deployments
        .iter()
        .map(|d| {
            let mut mine = by_deployment.remove(&d.id).unwrap_or_default();
            mine.sort_by_key(|s| (s.created_at, s.id));
            let last_final = mine
                .iter()
                .find(|s| matches!(s.state.as_str(), "success" | "failure" | "error"));
            let (outcome, finished_at, finished_by) = match last_final {
                Some(s) if s.state == "success" => {
                    (Outcome::Success, Some(s.created_at), s.creator.clone())
                }
                Some(s) => (Outcome::Failed, Some(s.created_at), s.creator.clone()),
                None if mine.iter().any(|s| s.state == "inactive") => {
                    (Outcome::Inactive, None, None)
                }
                None => (Outcome::Pending, None, None),
            };
            Release {
                deployment: d.clone(),
                outcome,
                finished_at,
                finished_by,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        let key = |r: &Release| {
            (
                r.deployment.repository.clone(),
                r.deployment.environment.clone(),
                r.deployment.created_at,
                r.deployment.id,
            )
        };
        key(a).cmp(&key(b))
    });
    out
}

/// The pull requests each successful release shipped: those of its repository merged after
/// the previous successful release of the same environment was created, and no later than
/// this one was created (the sha to deploy is chosen then). The first successful release of
/// an environment ships everything merged before it that riskgate knows of.
pub fn shipped_pulls(releases: &[Release], pulls: &[PullRecord]) -> BTreeMap<i64, Vec<i64>> {
    let mut merged: HashMap<&str, Vec<(i64, i64)>> = HashMap::new();
    for p in pulls {
        if let Some(at) = p.merged_at {
            merged
                .entry(p.repository.as_str())
                .or_default()
                .push((at, p.number));
        }
    }
    for list in merged.values_mut() {
        list.sort();
    }
    let mut shipped = BTreeMap::new();
    let mut previous: HashMap<(&str, &str), i64> = HashMap::new();
    for r in releases.iter().filter(|r| r.succeeded()) {
        let d = &r.deployment;
        let key = (d.repository.as_str(), d.environment.as_str());
        let after = previous.get(&key).copied();
        // The merges in (after, created_at], found by bisection in the sorted list: a
        // scan of every merge for every release grew with their product.
        let numbers: Vec<i64> = merged
            .get(d.repository.as_str())
            .map(|list| {
                let from = after.map_or(0, |a| list.partition_point(|(at, _)| *at <= a));
                let to = list.partition_point(|(at, _)| *at <= d.created_at);
                list[from..to.max(from)].iter().map(|(_, n)| *n).collect()
            })
            .unwrap_or_default();
        shipped.insert(d.id, numbers);
        previous.insert(key, d.created_at);
    }
    shipped
}

/// Whether a successful release rolls back: it says so (task or description), or it deploys
/// a sha that an earlier successful release of the same environment deployed, other than the
/// one just before it (redeploying the current sha is a retry, not a rollback).
pub fn rollbacks(releases: &[Release]) -> Vec<i64> {
    /// One environment's successful releases so far: the shas before the current one, and
    /// the current one.
    #[derive(Default)]
    struct Deployed<'a> {
        before: std::collections::HashSet<&'a str>,
        current: Option<&'a str>,
    }
    let mut seen: HashMap<(&str, &str), Deployed> = HashMap::new();
    let mut out = Vec::new();
    for r in releases.iter().filter(|r| r.succeeded()) {
        let d = &r.deployment;
        let history = seen
            .entry((d.repository.as_str(), d.environment.as_str()))
            .or_default();
        let says_so = [d.task.as_deref(), d.description.as_deref()]
            .into_iter()
            .flatten()
            .any(mentions_rollback);
        let sha = d.sha.as_str();
        let redeploys_current = history.current == Some(sha);
        if says_so || (history.before.contains(sha) && !redeploys_current) {
            out.push(d.id);
        }
        if let Some(previous) = history.current.replace(sha) {
            history.before.insert(previous);
        }
    }
    out
}

fn mentions_rollback(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    t.contains("rollback") || t.contains("roll back") || t.contains("roll-back")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn dep(id: i64, env: &str, sha: &str, at: i64) -> Deployment {
        Deployment {
            id,
            repository: "o/r".into(),
            environment: env.into(),
            sha: sha.into(),
            ref_name: None,
            task: None,
            description: None,
            creator: Some("bot".into()),
            created_at: at,
        }
    }

    fn status(id: i64, dep: i64, state: &str, at: i64) -> DeploymentStatus {
        DeploymentStatus {
            id,
            deployment_id: dep,
            repository: "o/r".into(),
            state: state.into(),
            creator: Some("ci".into()),
            description: None,
            created_at: at,
        }
    }

    fn pull(n: i64, merged: Option<i64>) -> PullRecord {
        PullRecord {
            repository: "o/r".into(),
            number: n,
            title: format!("PR {n}"),
            author: None,
            head_sha: None,
            merge_commit_sha: None,
            merged_at: merged,
            closed_at: merged,
            reverts_number: None,
        }
    }

    /// A long random history: two environments, releases that fail, shas deployed again,
    /// merges at the same times as releases.
    pub(crate) fn random_history(seed: u64) -> (Vec<Release>, Vec<PullRecord>) {
        let mut state = seed;
        let mut next = |n: u64| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) % n) as i64
        };
        let mut deps = Vec::new();
        let mut statuses = Vec::new();
        for id in 1..=400 {
            let at = next(10_000);
            let env = ["production", "staging"][next(2) as usize];
            deps.push(dep(id, env, &format!("s{}", next(40)), at));
            let state = ["success", "success", "failure"][next(3) as usize];
            statuses.push(status(id, id, state, at + next(30)));
        }
        let pulls = (1..=600).map(|n| pull(n, Some(next(10_000)))).collect();
        (releases(&deps, &statuses), pulls)
    }

    /// The bisections find what a scan of every merge, and of every earlier sha, found.
    #[test]
    fn shipped_and_rollbacks_match_a_plain_scan() {
        for seed in 0..20 {
            let (rs, pulls) = random_history(seed);
            let mut expected = BTreeMap::new();
            let mut previous: HashMap<&str, i64> = HashMap::new();
            let mut seen: HashMap<&str, Vec<&str>> = HashMap::new();
            let mut rolled_back = Vec::new();
            for r in rs.iter().filter(|r| r.succeeded()) {
                let d = &r.deployment;
                let after = previous.insert(d.environment.as_str(), d.created_at);
                let mut merged: Vec<(i64, i64)> = pulls
                    .iter()
                    .filter_map(|p| p.merged_at.map(|at| (at, p.number)))
                    .filter(|(at, _)| *at <= d.created_at && after.is_none_or(|a| *at > a))
                    .collect();
                merged.sort();
                expected.insert(d.id, merged.into_iter().map(|(_, n)| n).collect::<Vec<_>>());
                let history = seen.entry(d.environment.as_str()).or_default();
                let earlier = history
                    .split_last()
                    .is_some_and(|(_, older)| older.contains(&d.sha.as_str()));
                if earlier && history.last() != Some(&d.sha.as_str()) {
                    rolled_back.push(d.id);
                }
                history.push(d.sha.as_str());
            }
            assert_eq!(shipped_pulls(&rs, &pulls), expected, "seed {seed}");
            assert_eq!(rollbacks(&rs), rolled_back, "seed {seed}");
        }
    }

    #[test]
    fn first_final_status_decides_and_order_of_arrival_does_not_matter() {
        let deps = vec![
            dep(2, "production", "b", 200),
            dep(1, "production", "a", 100),
        ];
        let statuses = vec![
            status(13, 2, "failure", 260),
            status(11, 1, "in_progress", 110),
            status(14, 1, "inactive", 300),
            status(12, 1, "success", 150),
        ];
        let rs = releases(&deps, &statuses);
        assert_eq!(rs[0].deployment.id, 1);
        assert_eq!(rs[0].outcome, Outcome::Success);
        assert_eq!(rs[0].duration_ms(), Some(50));
        assert_eq!(rs[1].outcome, Outcome::Failed);
        assert_eq!(rs[1].finished_at, Some(260));
        let pending = releases(&[dep(3, "staging", "c", 1)], &[status(1, 3, "queued", 2)]);
        assert_eq!(pending[0].outcome, Outcome::Pending);
    }

    #[test]
    fn each_success_ships_what_merged_since_the_previous_success() {
        let deps = vec![
            dep(1, "production", "a", 100),
            dep(2, "production", "b", 200),
            dep(3, "production", "c", 300),
            dep(4, "staging", "c", 250),
        ];
        let statuses = vec![
            status(1, 1, "success", 110),
            status(2, 2, "failure", 210),
            status(3, 3, "success", 310),
            status(4, 4, "success", 260),
        ];
        let pulls = vec![
            pull(10, Some(50)),
            pull(11, Some(150)),
            pull(12, Some(240)),
            pull(13, Some(305)),
            pull(14, None),
        ];
        let shipped = shipped_pulls(&releases(&deps, &statuses), &pulls);
        assert_eq!(shipped[&1], vec![10]);
        assert!(!shipped.contains_key(&2), "a failed release ships nothing");
        assert_eq!(shipped[&3], vec![11, 12]);
        assert_eq!(shipped[&4], vec![10, 11, 12]);
    }

    #[test]
    fn rollback_is_an_older_sha_again_or_says_so() {
        let mut d4 = dep(4, "production", "z", 400);
        d4.description = Some("Rollback after alert".into());
        let deps = vec![
            dep(1, "production", "a", 100),
            dep(2, "production", "b", 200),
            dep(3, "production", "a", 300),
            d4,
            dep(5, "production", "z", 500),
        ];
        let statuses: Vec<_> = (1..=5)
            .map(|i| status(i, i, "success", i * 100 + 10))
            .collect();
        assert_eq!(rollbacks(&releases(&deps, &statuses)), vec![3, 4]);
    }
}
