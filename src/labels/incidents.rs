//! Which pull requests caused an incident, and why we think so. Pure.
//!
//! An explicit reference wins: the incident's PR number, its commit SHA, or "caused by #123"
//! in its title or description. Without one (or when the reference resolves to nothing we
//! know), an incident opened within the window after a successful release of the same
//! repository (and environment, when the incident names one) marks every pull request that
//! release shipped. Pull requests reverted by a later one are labelled as well, from the
//! revert itself.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::deployments::{PullRecord, Release};

/// An incident, from any door (a labelled GitHub issue, the API, an import).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    /// The incident tool's id; `github:owner/name#N` for an issue.
    pub id: String,
    /// `github_issue`, `api` or `import`.
    pub source: String,
    pub title: String,
    pub repository: Option<String>,
    pub service: Option<String>,
    pub environment: Option<String>,
    /// Unix milliseconds.
    pub opened_at: i64,
    pub resolved_at: Option<i64>,
    pub commit_sha: Option<String>,
    pub pr_number: Option<i64>,
    /// Free text (a description or issue body), searched for "caused by #N".
    pub body: Option<String>,
}

impl Incident {
    /// Whether the incident is about `repository` (`owner/name`): it names it, or it names a
    /// service spelled like the repository or its name part.
    pub fn concerns(&self, repository: &str) -> bool {
        match (&self.repository, &self.service) {
            (Some(r), _) => r.eq_ignore_ascii_case(repository),
            (None, Some(s)) => {
                let name = repository.rsplit('/').next().unwrap_or(repository);
                s.eq_ignore_ascii_case(repository) || s.eq_ignore_ascii_case(name)
            }
            (None, None) => false,
        }
    }
}

/// Why an incident was linked to a pull request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkReason {
    /// The incident names the pull request.
    ExplicitPr,
    /// The incident names a commit: the pull request's head or merge commit, or a deployed
    /// sha whose release shipped the pull request.
    ExplicitCommit,
    /// "caused by #N" in the incident's text.
    CausedBy,
    /// Opened within the window after a release that shipped the pull request.
    DeploymentWindow,
}

impl LinkReason {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkReason::ExplicitPr => "explicit_pr",
            LinkReason::ExplicitCommit => "explicit_commit",
            LinkReason::CausedBy => "caused_by",
            LinkReason::DeploymentWindow => "deployment_window",
        }
    }

    pub fn parse(text: &str) -> Option<LinkReason> {
        [
            LinkReason::ExplicitPr,
            LinkReason::ExplicitCommit,
            LinkReason::CausedBy,
            LinkReason::DeploymentWindow,
        ]
        .into_iter()
        .find(|r| r.as_str() == text)
    }
}

/// One incident → pull request link, with the sentence that explains it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Link {
    pub incident_id: String,
    pub repository: String,
    pub pr_number: i64,
    pub reason: LinkReason,
    pub why: String,
    pub deployment_id: Option<i64>,
}

/// Default window after a deployment in which an incident is blamed on it.
pub const DEFAULT_WINDOW_MS: i64 = 60 * 60 * 1000;

/// Pull request numbers named as the cause in free text: "caused by #123", "caused by
/// owner/name#123", "caused by https://github.com/owner/name/pull/123", also "regressed by"
/// and "introduced by".
pub fn caused_by_refs(text: &str) -> Vec<i64> {
    let lower = text.to_ascii_lowercase();
    let mut out = BTreeSet::new();
    for phrase in ["caused by", "regressed by", "introduced by", "broken by"] {
        let mut from = 0;
        while let Some(pos) = lower[from..].find(phrase) {
            let rest = &lower[from + pos + phrase.len()..];
            if let Some(n) = leading_pull_ref(rest.trim_start_matches([' ', ':', '\t'])) {
                out.insert(n);
            }
            from += pos + phrase.len();
        }
    }
    out.into_iter().collect()
}

/// `#12`, `owner/name#12`, `pr 12`, `…/pull/12` at the start of `s`.
fn leading_pull_ref(s: &str) -> Option<i64> {
    let token: &str = s.split_whitespace().next()?;
    let token = token.trim_end_matches(['.', ',', ';', ')', ':']);
    let digits = if let Some(i) = token.rfind("/pull/") {
        &token[i + "/pull/".len()..]
    } else if let Some(i) = token.rfind('#') {
        &token[i + 1..]
    } else if token == "pr" || token == "pull" {
        s.split_whitespace().nth(1)?.trim_start_matches('#')
    } else {
        return None;
    };
    let digits: String = digits.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok().filter(|n| *n > 0)
}

/// The pull request a revert PR reverts: GitHub's revert PRs say "Reverts owner/name#N" in
/// their body (their title is `Revert "…"`); "This reverts #N" and "reverts #N" count too.
pub fn revert_target(title: &str, body: Option<&str>) -> Option<i64> {
    let text = format!("{title}\n{}", body.unwrap_or(""));
    let lower = text.to_ascii_lowercase();
    let mut from = 0;
    while let Some(pos) = lower[from..].find("reverts ") {
        let rest = &lower[from + pos + "reverts ".len()..];
        if let Some(n) = leading_pull_ref(rest) {
            return Some(n);
        }
        from += pos + "reverts ".len();
    }
    None
}

fn sha_matches(full: &str, given: &str) -> bool {
    let given = given.trim().to_ascii_lowercase();
    given.len() >= 7 && full.to_ascii_lowercase().starts_with(&given)
}

/// Links the incidents of one repository to its pull requests. `shipped` maps a successful
/// release's deployment id to the pull requests it shipped. Links are sorted and unique per
/// (incident, pull request); the strongest reason is kept.
pub fn link_incidents(
    repository: &str,
    incidents: &[Incident],
    releases: &[Release],
    shipped: &BTreeMap<i64, Vec<i64>>,
    pulls: &[PullRecord],
    window_ms: i64,
) -> Vec<Link> {
    let releases: Vec<&Release> = releases
        .iter()
        .filter(|r| r.succeeded() && r.deployment.repository.eq_ignore_ascii_case(repository))
        .collect();
    // Live releases by the time they went live, so that each incident finds the ones within
    // its window by bisection instead of reading every release.
    let mut live: Vec<(i64, i64, &Release)> = releases
        .iter()
        .filter_map(|r| r.finished_at.map(|at| (at, r.deployment.id, *r)))
        .collect();
    live.sort_by_key(|&(at, id, _)| (at, id));
    let mut links: BTreeMap<(String, i64), Link> = BTreeMap::new();
    let mut add = |link: Link| {
        let key = (link.incident_id.clone(), link.pr_number);
        match links.get(&key) {
            Some(existing) if existing.reason <= link.reason => {}
            _ => {
                links.insert(key, link);
            }
        }
    };
    for incident in incidents.iter().filter(|i| i.concerns(repository)) {
        let link = |pr_number: i64, reason: LinkReason, why: String, deployment_id| Link {
            incident_id: incident.id.clone(),
            repository: repository.to_string(),
            pr_number,
            reason,
            why,
            deployment_id,
        };
        let mut explicit = Vec::new();
        if let Some(n) = incident.pr_number {
            explicit.push(link(
                n,
                LinkReason::ExplicitPr,
                format!("the incident names #{n}"),
                None,
            ));
        }
        if let Some(sha) = incident
            .commit_sha
            .as_deref()
            .filter(|s| !s.trim().is_empty())
        {
            let short: String = sha.trim().chars().take(12).collect();
            for p in pulls {
                let hit = [p.merge_commit_sha.as_deref(), p.head_sha.as_deref()]
                    .into_iter()
                    .flatten()
                    .any(|full| sha_matches(full, sha));
                if hit {
                    explicit.push(link(
                        p.number,
                        LinkReason::ExplicitCommit,
                        format!(
                            "the incident names commit {short}, which #{} merged",
                            p.number
                        ),
                        None,
                    ));
                }
            }
            if !explicit
                .iter()
                .any(|l| l.reason == LinkReason::ExplicitCommit)
            {
                for r in releases
                    .iter()
                    .filter(|r| sha_matches(&r.deployment.sha, sha))
                {
                    for n in shipped.get(&r.deployment.id).into_iter().flatten() {
                        explicit.push(link(
                            *n,
                            LinkReason::ExplicitCommit,
                            format!(
                                "the incident names commit {short}, deployed to {} by deployment {}, which shipped #{n}",
                                r.deployment.environment, r.deployment.id
                            ),
                            Some(r.deployment.id),
                        ));
                    }
                }
            }
        }
        let text = format!(
            "{}\n{}",
            incident.title,
            incident.body.as_deref().unwrap_or("")
        );
        for n in caused_by_refs(&text) {
            explicit.push(link(
                n,
                LinkReason::CausedBy,
                format!("the incident says it was caused by #{n}"),
                None,
            ));
        }
        if !explicit.is_empty() {
            explicit.into_iter().for_each(&mut add);
            continue;
        }
        // The release live when the incident opened, if it went live within the window.
        let earliest = incident.opened_at.saturating_sub(window_ms);
        let from = live.partition_point(|&(at, _, _)| at < earliest);
        let to = live.partition_point(|&(at, _, _)| at <= incident.opened_at);
        let culprit = live[from..to.max(from)]
            .iter()
            .rev()
            .find(|(_, _, r)| {
                incident
                    .environment
                    .as_deref()
                    .is_none_or(|e| e.eq_ignore_ascii_case(&r.deployment.environment))
            })
            .map(|&(at, _, r)| (at, r));
        if let Some((live_at, r)) = culprit {
            let minutes = incident.opened_at.saturating_sub(live_at) / 60_000;
            let sha: String = r.deployment.sha.chars().take(7).collect();
            for n in shipped.get(&r.deployment.id).into_iter().flatten() {
                add(link(
                    *n,
                    LinkReason::DeploymentWindow,
                    format!(
                        "opened {minutes} min after deployment {} of {sha} to {}, which shipped #{n}",
                        r.deployment.id, r.deployment.environment
                    ),
                    Some(r.deployment.id),
                ));
            }
        }
    }
    links.into_values().collect()
}

/// Why a pull request is labelled buggy for training from the App's history.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum PullLabel {
    /// Linked to this incident.
    Incident(String),
    /// Reverted by this pull request.
    RevertedBy(i64),
}

impl PullLabel {
    /// `incident:<id>` or `revert:#<n>`, the provenance written beside a label.
    pub fn provenance(&self) -> String {
        match self {
            PullLabel::Incident(id) => format!("incident:{id}"),
            PullLabel::RevertedBy(n) => format!("revert:#{n}"),
        }
    }
}

/// The positive labels of one repository's pull requests: incident links (rejected ones are
/// already gone) and merged reverts.
pub fn pull_labels(links: &[Link], pulls: &[PullRecord]) -> BTreeMap<i64, Vec<PullLabel>> {
    let mut out: BTreeMap<i64, Vec<PullLabel>> = BTreeMap::new();
    for l in links {
        out.entry(l.pr_number)
            .or_default()
            .push(PullLabel::Incident(l.incident_id.clone()));
    }
    for p in pulls.iter().filter(|p| p.merged_at.is_some()) {
        if let Some(target) = p.reverts_number.filter(|t| *t != p.number) {
            out.entry(target)
                .or_default()
                .push(PullLabel::RevertedBy(p.number));
        }
    }
    for labels in out.values_mut() {
        labels.sort();
        labels.dedup();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::deployments::{releases, shipped_pulls, Deployment, DeploymentStatus};
    use std::collections::BTreeSet;

    const MIN: i64 = 60_000;

    fn incident(id: &str, opened_at: i64) -> Incident {
        Incident {
            id: id.into(),
            source: "api".into(),
            title: "Checkout errors".into(),
            repository: Some("o/r".into()),
            service: None,
            environment: Some("production".into()),
            opened_at,
            resolved_at: None,
            commit_sha: None,
            pr_number: None,
            body: None,
        }
    }

    fn pull(n: i64, merged: i64, merge_sha: &str) -> PullRecord {
        PullRecord {
            repository: "o/r".into(),
            number: n,
            title: format!("PR {n}"),
            author: None,
            head_sha: None,
            merge_commit_sha: Some(merge_sha.into()),
            merged_at: Some(merged),
            closed_at: Some(merged),
            reverts_number: None,
        }
    }

    fn world() -> (Vec<Release>, BTreeMap<i64, Vec<i64>>, Vec<PullRecord>) {
        let dep = |id, env: &str, sha: &str, at| Deployment {
            id,
            repository: "o/r".into(),
            environment: env.into(),
            sha: sha.into(),
            ref_name: None,
            task: None,
            description: None,
            creator: None,
            created_at: at,
        };
        let ok = |id, dep, at| DeploymentStatus {
            id,
            deployment_id: dep,
            repository: "o/r".into(),
            state: "success".into(),
            creator: None,
            description: None,
            created_at: at,
        };
        let deps = vec![
            dep(1, "production", "aaaaaaaa1", 100 * MIN),
            dep(2, "production", "bbbbbbbb2", 200 * MIN),
            dep(3, "staging", "cccccccc3", 290 * MIN),
        ];
        let statuses = vec![
            ok(1, 1, 110 * MIN),
            ok(2, 2, 210 * MIN),
            ok(3, 3, 295 * MIN),
        ];
        let pulls = vec![
            pull(10, 50 * MIN, "1010101010"),
            pull(11, 150 * MIN, "1111111111"),
            pull(12, 160 * MIN, "1212121212"),
            pull(13, 280 * MIN, "1313131313"),
        ];
        let rs = releases(&deps, &statuses);
        let shipped = shipped_pulls(&rs, &pulls);
        (rs, shipped, pulls)
    }

    fn linked(links: &[Link], id: &str) -> Vec<(i64, LinkReason)> {
        links
            .iter()
            .filter(|l| l.incident_id == id)
            .map(|l| (l.pr_number, l.reason))
            .collect()
    }

    #[test]
    fn window_after_a_release_marks_what_it_shipped() {
        let (rs, shipped, pulls) = world();
        let incidents = vec![
            incident("in-window", 250 * MIN),
            incident("too-late", 280 * MIN),
            incident("before-any", 105 * MIN),
        ];
        let links = link_incidents("o/r", &incidents, &rs, &shipped, &pulls, DEFAULT_WINDOW_MS);
        use LinkReason::DeploymentWindow as W;
        assert_eq!(linked(&links, "in-window"), vec![(11, W), (12, W)]);
        assert!(linked(&links, "too-late").is_empty());
        assert!(linked(&links, "before-any").is_empty());
        let why = &links[0].why;
        assert!(why.contains("40 min after deployment 2"), "{why}");
    }

    /// Each incident is blamed on the latest release of its environment live within the window
    /// before it, as a scan of every release finds it.
    #[test]
    fn the_window_finds_what_a_plain_scan_finds() {
        for seed in 0..20 {
            let (rs, pulls) = crate::labels::deployments::tests::random_history(seed);
            let shipped = shipped_pulls(&rs, &pulls);
            let incidents: Vec<Incident> = (0..200)
                .map(|i| {
                    let mut inc =
                        incident(&format!("i{i:03}"), (i * 53 + seed as i64 * 7) % 10_100);
                    inc.environment = [None, Some("production"), Some("staging")][(i % 3) as usize]
                        .map(str::to_string);
                    inc
                })
                .collect();
            let window = 300;
            let links = link_incidents("o/r", &incidents, &rs, &shipped, &pulls, window);
            for inc in &incidents {
                let culprit = rs
                    .iter()
                    .filter(|r| r.succeeded())
                    .filter(|r| {
                        inc.environment
                            .as_deref()
                            .is_none_or(|e| e == r.deployment.environment)
                    })
                    .filter_map(|r| r.finished_at.map(|at| (at, r.deployment.id)))
                    .filter(|(at, _)| *at <= inc.opened_at && inc.opened_at - at <= window)
                    .max();
                let expected: Vec<(i64, LinkReason)> = culprit
                    .and_then(|(_, id)| shipped.get(&id))
                    .into_iter()
                    .flatten()
                    .map(|n| (*n, LinkReason::DeploymentWindow))
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                assert_eq!(linked(&links, &inc.id), expected, "seed {seed}, {}", inc.id);
            }
        }
    }

    /// Times come from files and deliveries: one at each end of the range is far apart, not
    /// within the window by a difference that wrapped round.
    #[test]
    fn times_at_the_ends_of_the_range_are_not_within_the_window() {
        let (mut rs, shipped, pulls) = world();
        rs[0].finished_at = Some(i64::MIN + 1);
        let incidents = vec![incident("far", i64::MAX - 1)];
        let links = link_incidents("o/r", &incidents, &rs, &shipped, &pulls, DEFAULT_WINDOW_MS);
        assert!(linked(&links, "far").is_empty(), "{links:?}");
    }

    #[test]
    fn environment_must_match_when_given() {
        let (rs, shipped, pulls) = world();
        let mut staging = incident("staging", 300 * MIN);
        staging.environment = Some("Staging".into());
        let mut any = incident("any-env", 300 * MIN);
        any.environment = None;
        let links = link_incidents(
            "o/r",
            &[staging, any],
            &rs,
            &shipped,
            &pulls,
            DEFAULT_WINDOW_MS,
        );
        // Staging's first release shipped everything merged before it.
        assert_eq!(
            linked(&links, "staging").len(),
            4,
            "{:?}",
            linked(&links, "staging")
        );
        assert_eq!(linked(&links, "any-env").len(), 4);
    }

    #[test]
    fn explicit_references_win_over_the_window() {
        let (rs, shipped, pulls) = world();
        let mut by_pr = incident("by-pr", 250 * MIN);
        by_pr.pr_number = Some(12);
        let mut by_sha = incident("by-sha", 250 * MIN);
        by_sha.commit_sha = Some("1313131".into());
        let mut by_text = incident("by-text", 250 * MIN);
        by_text.body = Some("Root cause: caused by o/r#10, see timeline".into());
        let mut deployed_sha = incident("deployed-sha", 900 * MIN);
        deployed_sha.commit_sha = Some("aaaaaaaa".into());
        let mut unknown_sha = incident("unknown-sha", 250 * MIN);
        unknown_sha.commit_sha = Some("deadbeef".into());
        let links = link_incidents(
            "o/r",
            &[by_pr, by_sha, by_text, deployed_sha, unknown_sha],
            &rs,
            &shipped,
            &pulls,
            DEFAULT_WINDOW_MS,
        );
        use LinkReason::*;
        assert_eq!(linked(&links, "by-pr"), vec![(12, ExplicitPr)]);
        assert_eq!(linked(&links, "by-sha"), vec![(13, ExplicitCommit)]);
        assert_eq!(linked(&links, "by-text"), vec![(10, CausedBy)]);
        assert_eq!(linked(&links, "deployed-sha"), vec![(10, ExplicitCommit)]);
        // An unresolvable sha falls back to the window.
        assert_eq!(
            linked(&links, "unknown-sha"),
            vec![(11, DeploymentWindow), (12, DeploymentWindow)]
        );
    }

    #[test]
    fn other_repositories_and_services() {
        let (rs, shipped, pulls) = world();
        let mut elsewhere = incident("elsewhere", 250 * MIN);
        elsewhere.repository = Some("o/other".into());
        let mut service = incident("service", 250 * MIN);
        service.repository = None;
        service.service = Some("R".into());
        let links = link_incidents(
            "o/r",
            &[elsewhere, service],
            &rs,
            &shipped,
            &pulls,
            DEFAULT_WINDOW_MS,
        );
        assert!(linked(&links, "elsewhere").is_empty());
        assert_eq!(linked(&links, "service").len(), 2);
    }

    #[test]
    fn references_in_text() {
        assert_eq!(caused_by_refs("Caused by #123."), vec![123]);
        assert_eq!(
            caused_by_refs("regressed by https://github.com/o/r/pull/77 and caused by PR 9"),
            vec![9, 77]
        );
        assert!(caused_by_refs("caused by a bad config").is_empty());
        assert!(caused_by_refs("caused by #0").is_empty());
        assert_eq!(
            revert_target(
                "Revert \"Add cache\"",
                Some("Reverts octo/app#41\n\nbreaks login")
            ),
            Some(41)
        );
        assert_eq!(revert_target("Fix login", Some("reverts nothing")), None);
    }

    #[test]
    fn labels_come_from_links_and_reverts() {
        let mut pulls = world().2;
        let mut revert = pull(20, 400 * MIN, "2020202020");
        revert.reverts_number = Some(11);
        pulls.push(revert);
        let mut unmerged = pull(21, 0, "21");
        unmerged.merged_at = None;
        unmerged.reverts_number = Some(12);
        pulls.push(unmerged);
        let links = vec![Link {
            incident_id: "INC-1".into(),
            repository: "o/r".into(),
            pr_number: 11,
            reason: LinkReason::ExplicitPr,
            why: String::new(),
            deployment_id: None,
        }];
        let labels = pull_labels(&links, &pulls);
        assert_eq!(
            labels[&11],
            vec![
                PullLabel::Incident("INC-1".into()),
                PullLabel::RevertedBy(20)
            ]
        );
        assert!(
            !labels.contains_key(&12),
            "an unmerged revert labels nothing"
        );
        assert_eq!(labels[&11][1].provenance(), "revert:#20");
    }
}
