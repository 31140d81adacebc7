//! Writes a realistic production history into a riskgate database, through the same
//! functions the App uses for webhooks: pull requests scored and merged, deployments to
//! staging and production with their statuses (some fail, some roll back), and incidents
//! (most opened soon after a deploy that shipped a risky change, some unrelated, some naming
//! their cause). Then `riskgate report --database-url URL` has something to show.
//!
//! ```sh
//! cargo run --release --example production_history -- sqlite:///tmp/history.db 12
//! riskgate report --database-url sqlite:///tmp/history.db
//! ```
//!
//! Arguments: database URL, weeks of history (default 12), seed (default 7).

use riskgate::labels::deployments::{Deployment, DeploymentStatus, PullRecord};
use riskgate::labels::incidents::Incident;
use riskgate::production::{self, LinkSettings};
use riskgate::store::{NewScore, Store};
use serde_json::json;

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;

/// xorshift64*: deterministic for a seed, good enough for synthetic data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo).max(1) as u64) as i64
    }
}

struct Repo {
    name: &'static str,
    pulls_per_day: f64,
    /// Days before now after which production deploys stop (a stale pipeline).
    production_stops_days_ago: i64,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: production_history DATABASE_URL [WEEKS] [SEED]"))?;
    let weeks: i64 = args.next().map(|w| w.parse()).transpose()?.unwrap_or(12);
    let seed: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(7);
    let store = Store::connect(&url).await?;
    let model = riskgate::model::Model::from_json(include_str!("../model/model.json"))?;
    let thresholds = model.thresholds;
    let settings = LinkSettings::default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let start = (now - weeks * 7 * DAY) / DAY * DAY;
    let mut rng = Rng(seed.max(1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let repos = [
        Repo {
            name: "acme/shop",
            pulls_per_day: 6.0,
            production_stops_days_ago: 0,
        },
        Repo {
            name: "acme/legacy-billing",
            pulls_per_day: 0.7,
            production_stops_days_ago: 20,
        },
    ];
    let mut ids = 1_000_i64;
    let mut totals = (0, 0, 0);
    for repo in &repos {
        let mut number = 0_i64;
        let mut pending: Vec<(i64, f64)> = Vec::new(); // merged, not yet in production: (pr, risk)
        let mut production_history: Vec<String> = Vec::new();
        let mut day = start;
        while day < now {
            let weekday = ((day / DAY) + 4) % 7; // 0 = Sunday
            let working = (1..=5).contains(&weekday);
            // Pull requests: scored while open, merged during the day.
            let n = if working {
                (repo.pulls_per_day * (0.5 + rng.unit())).round() as i64
            } else {
                0
            };
            for _ in 0..n {
                let merged_at = day + rng.range(9 * HOUR, 18 * HOUR);
                if merged_at >= now {
                    continue;
                }
                number += 1;
                // Most changes are small; a few are large, touch unfamiliar code, and are risky.
                let large = rng.unit() < 0.15;
                let la = if large {
                    rng.range(300, 3000)
                } else {
                    rng.range(1, 120)
                };
                let p = (0.02 + (la as f64 / 4000.0) + 0.08 * rng.unit()).min(0.95);
                let band = if p >= thresholds.high {
                    "high"
                } else if p >= thresholds.elevated {
                    "elevated"
                } else {
                    "low"
                };
                let head = format!("{:040x}", (rng.next() as u128) << 32 | number as u128);
                store
                    .record_score(
                        &NewScore {
                            repository: repo.name.into(),
                            pr_number: number,
                            head_sha: head.clone(),
                            base_sha: "0".repeat(40),
                            probability: p,
                            band: band.into(),
                            model_version: model.version.clone(),
                            features: json!({"la": la, "nf": rng.range(1, 30)}),
                            conclusion: if band == "high" { "failure" } else { "success" }.into(),
                            check_run_id: None,
                            delivery_id: None,
                        },
                        merged_at - rng.range(HOUR, 30 * HOUR),
                    )
                    .await?;
                let pull = PullRecord {
                    repository: repo.name.into(),
                    number,
                    title: format!("Change {number}"),
                    author: Some(format!("dev{}", rng.range(1, 9))),
                    head_sha: Some(head),
                    merge_commit_sha: Some(format!("{:040x}", (rng.next() as u128) << 8 | 1)),
                    merged_at: Some(merged_at),
                    closed_at: Some(merged_at),
                    reverts_number: None,
                };
                production::record_pull(&store, &pull, settings, now).await?;
                pending.push((number, p));
            }
            // Deploys: staging every working day, production on most working days.
            let stops = now - repo.production_stops_days_ago * DAY;
            for (env, chance, hour) in [("staging", 0.9, 17), ("production", 0.7, 18)] {
                if !working
                    || rng.unit() > chance
                    || (env == "production" && day >= stops)
                    || pending.is_empty()
                {
                    continue;
                }
                let created = day + hour * HOUR + rng.range(0, 30 * MIN);
                if created + HOUR >= now {
                    continue;
                }
                ids += 1;
                let rollback =
                    env == "production" && production_history.len() > 2 && rng.unit() < 0.04;
                let sha = if rollback {
                    production_history[production_history.len() - 2].clone()
                } else {
                    format!("{:040x}", rng.next() as u128 + ids as u128)
                };
                let deployment = Deployment {
                    id: ids,
                    repository: repo.name.into(),
                    environment: env.into(),
                    sha: sha.clone(),
                    ref_name: Some("main".into()),
                    task: Some("deploy".into()),
                    description: rollback.then(|| "Rollback".to_string()),
                    creator: Some("deploy-bot".into()),
                    created_at: created,
                };
                let failed = rng.unit() < 0.07;
                let finished = created + rng.range(4 * MIN, 25 * MIN);
                let status = DeploymentStatus {
                    id: ids * 10,
                    deployment_id: ids,
                    repository: repo.name.into(),
                    state: if failed { "failure" } else { "success" }.into(),
                    creator: Some("ci".into()),
                    description: None,
                    created_at: finished,
                };
                production::record_deployment(&store, &deployment, Some(&status), settings, now)
                    .await?;
                totals.0 += 1;
                if env != "production" || failed {
                    continue;
                }
                production_history.push(sha);
                // The riskier what shipped, the likelier an incident within the hour.
                let risk = 1.0 - pending.iter().map(|(_, p)| 1.0 - p).product::<f64>();
                let shipped: Vec<i64> = pending.drain(..).map(|(n, _)| n).collect();
                if rng.unit() < risk * 0.5 {
                    ids += 1;
                    let named = rng.unit() < 0.3;
                    let incident = Incident {
                        id: format!("INC-{ids}"),
                        source: "api".into(),
                        title: "Error rate above SLO".into(),
                        repository: Some(repo.name.into()),
                        service: None,
                        environment: Some("production".into()),
                        opened_at: finished + rng.range(3 * MIN, 55 * MIN),
                        resolved_at: Some(finished + rng.range(2 * HOUR, 6 * HOUR)),
                        commit_sha: None,
                        pr_number: named
                            .then(|| shipped[rng.range(0, shipped.len() as i64) as usize]),
                        body: None,
                    };
                    production::record_incident(&store, &incident, None, settings, now).await?;
                    totals.1 += 1;
                }
            }
            // Incidents nobody can tie to a deploy.
            if rng.unit() < 0.04 {
                ids += 1;
                let incident = Incident {
                    id: format!("INC-{ids}"),
                    source: "import".into(),
                    title: "Upstream provider outage".into(),
                    repository: Some(repo.name.into()),
                    service: None,
                    environment: Some("production".into()),
                    opened_at: day + rng.range(0, DAY),
                    resolved_at: None,
                    commit_sha: None,
                    pr_number: None,
                    body: None,
                };
                production::record_incident(&store, &incident, None, settings, now).await?;
                totals.2 += 1;
            }
            day += DAY;
        }
        eprintln!("{}: {number} pull requests", repo.name);
    }
    eprintln!(
        "{} deployments, {} release incidents, {} unrelated incidents, {weeks} weeks",
        totals.0, totals.1, totals.2
    );
    store.close().await;
    Ok(())
}
