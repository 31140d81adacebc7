//! Production history on SQLite and PostgreSQL: deployments, merges and incidents arriving in
//! any order (and twice) link the same pull requests; rejected links stay rejected; the
//! report and the audit export read it back; and the App takes the same events as webhooks
//! and through `POST /api/incidents`.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Value};

use riskgate::labels::deployments::{Deployment, DeploymentStatus, PullRecord};
use riskgate::labels::incidents::{Incident, LinkReason};
use riskgate::production::{self, LinkSettings};
use riskgate::store::{IncidentWrite, LinkRejection, NewScore, Store};

use crate::harness::{bytes, deliver, fixture, start_app_with, wait_for, TestApp, LONG, SECRET};
use crate::support::{database, run_riskgate, Database, Db};

const REPO: &str = "acme/shop";
const MIN: i64 = 60_000;
/// 2026-11-02T00:00:00Z.
const T0: i64 = 1_793_577_600_000;

#[derive(Debug, Clone)]
enum Fact {
    Merge(PullRecord),
    Deploy(Deployment, Option<DeploymentStatus>),
    Incident(Incident),
}

fn merged(number: i64, minute: i64) -> PullRecord {
    PullRecord {
        repository: REPO.into(),
        number,
        title: format!("Change {number}"),
        author: Some("dev".into()),
        head_sha: Some(format!("{:0>40}", format!("{number}eadbeef"))),
        merge_commit_sha: Some(format!("{number:0>2}{}", "c0ffee".repeat(6))),
        merged_at: Some(T0 + minute * MIN),
        closed_at: Some(T0 + minute * MIN),
        reverts_number: None,
    }
}

fn deployment(id: i64, env: &str, minute: i64) -> Deployment {
    Deployment {
        id,
        repository: REPO.into(),
        environment: env.into(),
        sha: format!("{id:0>40}"),
        ref_name: Some("main".into()),
        task: Some("deploy".into()),
        description: None,
        creator: Some("deploy-bot".into()),
        created_at: T0 + minute * MIN,
    }
}

fn status(id: i64, d: &Deployment, state: &str, minute: i64) -> Fact {
    Fact::Deploy(
        d.clone(),
        Some(DeploymentStatus {
            id,
            deployment_id: d.id,
            repository: REPO.into(),
            state: state.into(),
            creator: Some("ci".into()),
            description: None,
            created_at: T0 + minute * MIN,
        }),
    )
}

fn incident(id: &str, minute: i64) -> Incident {
    Incident {
        id: id.into(),
        source: "api".into(),
        title: format!("Incident {id}"),
        repository: Some(REPO.into()),
        service: None,
        environment: Some("production".into()),
        opened_at: T0 + minute * MIN,
        resolved_at: None,
        commit_sha: None,
        pr_number: None,
        body: None,
    }
}

/// The scenario (minutes after T0):
/// - merges: #1 at 10, #2 at 20, #3 at 50, #4 at 100, #5 (reverts #3) at 200;
/// - production: deployment 100 at 30 → success at 35 (ships #1, #2); 101 at 60 → failure at
///   65; 102 at 70 → success at 80 (ships #3); staging: 103 at 110 → success at 112 (its
///   first: ships #1–#4);
/// - incidents: A at 100 (production, 20 min after 102 went live) → #3 by the window;
///   B at 40 says "caused by #2" → #2 only; C at 300 → nothing; D names #4's merge commit →
///   #4; E names the service `shop`, no environment, at 95 → #3 by the window.
fn scenario() -> Vec<Fact> {
    let mut revert = merged(5, 200);
    revert.title = "Revert \"Change 3\"".into();
    revert.reverts_number = Some(3);
    let d100 = deployment(100, "production", 30);
    let d101 = deployment(101, "production", 60);
    let d102 = deployment(102, "production", 70);
    let d103 = deployment(103, "staging", 110);
    let mut b = incident("B", 40);
    b.body = Some("Timeline: … Root cause: caused by #2.".into());
    let mut d = incident("D", 400);
    d.commit_sha = merged(4, 100).merge_commit_sha.map(|s| s[..10].to_string());
    let mut e = incident("E", 95);
    e.repository = None;
    e.service = Some("shop".into());
    e.environment = None;
    vec![
        Fact::Merge(merged(1, 10)),
        Fact::Merge(merged(2, 20)),
        Fact::Deploy(d100.clone(), None),
        status(1000, &d100, "in_progress", 31),
        status(1001, &d100, "success", 35),
        Fact::Incident(b),
        Fact::Merge(merged(3, 50)),
        Fact::Deploy(d101.clone(), None),
        status(1010, &d101, "failure", 65),
        Fact::Deploy(d102.clone(), None),
        status(1020, &d102, "success", 80),
        Fact::Incident(e),
        Fact::Incident(incident("A", 100)),
        Fact::Merge(merged(4, 100)),
        Fact::Deploy(d103.clone(), None),
        status(1030, &d103, "success", 112),
        Fact::Merge(revert),
        Fact::Incident(incident("C", 300)),
        Fact::Incident(d),
    ]
}

async fn apply(store: &Store, fact: &Fact, at: i64) {
    let s = LinkSettings::default();
    match fact {
        Fact::Merge(p) => {
            production::record_pull(store, p, s, at).await.unwrap();
        }
        Fact::Deploy(d, st) => {
            production::record_deployment(store, d, st.as_ref(), s, at)
                .await
                .unwrap();
        }
        Fact::Incident(i) => {
            production::record_incident(store, i, Some("pager"), s, at)
                .await
                .unwrap();
        }
    }
}

async fn links(store: &Store) -> BTreeSet<(String, i64, LinkReason)> {
    store
        .incident_links(Some(REPO))
        .await
        .unwrap()
        .into_iter()
        .map(|l| (l.link.incident_id, l.link.pr_number, l.link.reason))
        .collect()
}

fn expected_links() -> BTreeSet<(String, i64, LinkReason)> {
    use LinkReason::*;
    [
        ("A", 3, DeploymentWindow),
        ("B", 2, CausedBy),
        ("D", 4, ExplicitCommit),
        ("E", 3, DeploymentWindow),
    ]
    .into_iter()
    .map(|(i, n, r)| (i.to_string(), n, r))
    .collect()
}

/// A deterministic shuffle (xorshift), so a failure can be replayed.
fn shuffled<T: Clone>(items: &[T], mut seed: u64) -> Vec<T> {
    let mut v = items.to_vec();
    for i in (1..v.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        v.swap(i, (seed % (i as u64 + 1)) as usize);
    }
    v
}

async fn audit_kinds(store: &Store) -> Vec<String> {
    // All repositories: an incident of a service no repository answers to yet is audited
    // under the service's name.
    store
        .audit_events(None, None)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

async fn any_order(db: Db) {
    let facts = scenario();
    let orders: Vec<(&str, Vec<Fact>)> = vec![
        ("as it happened", facts.clone()),
        ("reversed", facts.iter().rev().cloned().collect()),
        ("shuffled", shuffled(&facts, 0x5eed)),
        ("shuffled, every event twice", {
            let twice: Vec<Fact> = facts.iter().flat_map(|f| [f.clone(), f.clone()]).collect();
            shuffled(&twice, 0xfeed)
        }),
    ];
    for (name, order) in orders {
        let database = database(db);
        let store = Store::connect(&database.url).await.unwrap();
        for (k, fact) in order.iter().enumerate() {
            apply(&store, fact, T0 + 1000 * MIN + k as i64).await;
        }
        assert_eq!(links(&store).await, expected_links(), "order: {name}");
        let shipped = store.deployment_pulls(REPO).await.unwrap();
        assert_eq!(
            shipped,
            vec![
                (100, 1),
                (100, 2),
                (102, 3),
                (103, 1),
                (103, 2),
                (103, 3),
                (103, 4)
            ],
            "order: {name}"
        );
        let kinds = audit_kinds(&store).await;
        let count = |k: &str| kinds.iter().filter(|x| *x == k).count();
        assert_eq!(count("deployment"), 4, "order: {name}");
        assert_eq!(count("deployment_status"), 5, "order: {name}");
        assert_eq!(count("incident"), 5, "order: {name}");
        assert_eq!(count("pull_request_merged"), 5, "order: {name}");
        store.close().await;
    }

    // Rejections stick; a changed incident is updated, the same one is not.
    let database = database(db);
    let store = Store::connect(&database.url).await.unwrap();
    for (k, fact) in facts.iter().enumerate() {
        apply(&store, fact, T0 + 1000 * MIN + k as i64).await;
    }
    let rejection = LinkRejection {
        incident_id: "A".into(),
        repository: REPO.into(),
        pr_number: 3,
        rejected_by: Some("maintainer".into()),
        note: Some("the alert was a false positive".into()),
        at: T0 + 2000 * MIN,
    };
    assert!(
        production::reject_link(&store, &rejection, LinkSettings::default())
            .await
            .unwrap()
    );
    assert!(
        !production::reject_link(&store, &rejection, LinkSettings::default())
            .await
            .unwrap()
    );
    let mut expected = expected_links();
    expected.retain(|(i, _, _)| i != "A");
    assert_eq!(links(&store).await, expected);
    let mut resolved = incident("A", 100);
    let s = LinkSettings::default();
    assert_eq!(
        production::record_incident(&store, &resolved, None, s, T0 + 2001 * MIN)
            .await
            .unwrap(),
        IncidentWrite::Unchanged
    );
    resolved.resolved_at = Some(T0 + 130 * MIN);
    assert_eq!(
        production::record_incident(&store, &resolved, None, s, T0 + 2002 * MIN)
            .await
            .unwrap(),
        IncidentWrite::Updated
    );
    assert_eq!(
        links(&store).await,
        expected,
        "a rejected link is never made again"
    );
    let kinds = audit_kinds(&store).await;
    assert_eq!(
        kinds
            .iter()
            .filter(|k| *k == "incident_link_rejected")
            .count(),
        1
    );

    // A wider window links C (200 minutes after the last production release).
    let wide = LinkSettings {
        window_ms: 300 * MIN,
    };
    production::relink(&store, REPO, wide, T0 + 2003 * MIN)
        .await
        .unwrap();
    assert!(links(&store)
        .await
        .contains(&("C".to_string(), 3, LinkReason::DeploymentWindow)));
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_deployments_and_incidents_in_any_order() {
    any_order(Db::Sqlite).await
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_deployments_and_incidents_in_any_order() {
    any_order(Db::Postgres).await
}

fn score(pr: i64, band: &str, probability: f64, minute: i64) -> (NewScore, i64) {
    (
        NewScore {
            repository: REPO.into(),
            pr_number: pr,
            head_sha: format!("{pr:0>40}"),
            base_sha: "0".repeat(40),
            probability,
            band: band.into(),
            model_version: "test-model".into(),
            features: json!({"la": pr * 10}),
            conclusion: if band == "high" { "failure" } else { "success" }.into(),
            check_run_id: None,
            delivery_id: None,
        },
        T0 + minute * MIN,
    )
}

async fn seeded(db: Db) -> Database {
    let database = database(db);
    let store = Store::connect(&database.url).await.unwrap();
    for (k, fact) in scenario().iter().enumerate() {
        apply(&store, fact, T0 + 1000 * MIN + k as i64).await;
    }
    for (s, at) in [
        score(1, "low", 0.02, 5),
        score(2, "low", 0.03, 15),
        score(3, "elevated", 0.12, 40),
        score(3, "high", 0.4, 45),
        score(4, "elevated", 0.15, 90),
    ] {
        store.record_score(&s, at).await.unwrap();
    }
    store.close().await;
    database
}

fn json_of(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

async fn report_and_audit(db: Db) {
    let database = seeded(db).await;
    let url = database.url.as_str();
    let day = |ms: i64| (ms / 1000).to_string();
    let (code, out, err) = run_riskgate(&[
        "report",
        "--database-url",
        url,
        "--repo",
        REPO,
        "--since",
        &day(T0),
        "--until",
        &day(T0 + 24 * 60 * MIN),
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let report = json_of(&out);
    let repo = &report["repositories"][0];
    let prod = repo["environments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["environment"] == "production")
        .unwrap();
    // By hand: 3 production deployments, 2 succeed (5 and 10 minutes), 1 fails; both
    // successes are followed within the hour by an incident (B after 100, A and E after 102).
    assert_eq!(prod["deployments"], 3);
    assert_eq!(prod["successful"], 2);
    assert_eq!(prod["failed"], 1);
    assert_eq!(prod["median_release_minutes"], 7.5);
    assert_eq!(prod["failed_release_rate"].as_f64().unwrap(), 1.0 / 3.0);
    assert_eq!(prod["release_incident_rate"], 1.0);
    assert_eq!(prod["rollback_rate"], 0.0);
    assert!((prod["releases_per_week"].as_f64().unwrap() - 14.0).abs() < 1e-9);
    assert_eq!(prod["stale"], false);
    // Checks: 4 PRs scored, #3 (high) and #4 (elevated) gated; incidents A, B, D, E linked;
    // A, D, E point at gated PRs.
    assert_eq!(repo["gate"]["scored_pulls"], 4);
    assert_eq!(repo["gate"]["gate_rate"], 0.5);
    assert_eq!(repo["gate"]["incidents"], 5);
    assert_eq!(repo["gate"]["linked_incidents"], 4);
    assert_eq!(repo["gate"]["incident_capture"], 0.75);

    let (code, text, err) = run_riskgate(&[
        "report",
        "--database-url",
        url,
        "--since",
        &day(T0),
        "--until",
        &day(T0 + 20 * 24 * 60 * MIN),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(text.contains("acme/shop"), "{text}");
    assert!(
        text.contains("stale: production has had no successful deploy in 14 days"),
        "{text}"
    );
    assert!(text.contains("capture 75.0%"), "{text}");

    let (code, csv, err) = run_riskgate(&[
        "audit",
        "export",
        "--database-url",
        url,
        "--repo",
        REPO,
        "--format",
        "csv",
    ]);
    assert_eq!(code, 0, "{err}");
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let headers = reader.headers().unwrap().clone();
    assert_eq!(
        headers.iter().collect::<Vec<_>>(),
        [
            "id",
            "at",
            "repository",
            "kind",
            "pr_number",
            "commit",
            "actor",
            "summary",
            "detail"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    let summaries: Vec<&str> = rows.iter().map(|r| r.get(7).unwrap()).collect();
    assert!(
        summaries.contains(&"deployment 101 to production reported failure"),
        "{summaries:?}"
    );
    assert!(summaries
        .iter()
        .any(|s| s.starts_with("incident B linked to #2: the incident says it was caused by #2")));
    let times: Vec<&str> = rows.iter().map(|r| r.get(1).unwrap()).collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted, "oldest first");

    let since = riskgate::time::rfc3339(T0 + 100 * MIN);
    let (code, out, err) = run_riskgate(&[
        "audit",
        "export",
        "--database-url",
        url,
        "--since",
        &since,
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let events = json_of(&out);
    assert!(!events.as_array().unwrap().is_empty());
    assert!(events
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["at"].as_str().unwrap() >= since.as_str()));

    // Unlink from the command line, then list.
    let (code, out, err) = run_riskgate(&[
        "incidents",
        "unlink",
        "--database-url",
        url,
        "--incident",
        "D",
        "--repo",
        REPO,
        "--pr",
        "4",
        "--by",
        "maintainer",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("unlinked D from acme/shop#4"), "{out}");
    let (code, out, err) = run_riskgate(&["incidents", "list", "--database-url", url]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("-> acme/shop#2  caused_by"), "{out}");
    assert!(!out.contains("-> acme/shop#4"), "{out}");
    let (code, _, err) = run_riskgate(&[
        "incidents",
        "unlink",
        "--database-url",
        url,
        "--incident",
        "nope",
        "--repo",
        REPO,
        "--pr",
        "4",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("no incident `nope`"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_report_and_audit_export() {
    report_and_audit(Db::Sqlite).await
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_report_and_audit_export() {
    report_and_audit(Db::Postgres).await
}

async fn import_files(db: Db) {
    let database = seeded(db).await;
    let url = database.url.as_str();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "id,title,opened_at,repository,pr_number\n\
         OLD-1,Cart empty,2026-11-02 01:50:00,acme/shop,\n\
         OLD-2,Login loop,soon,acme/shop,1\n",
    )
    .unwrap();
    let (code, _, err) = run_riskgate(&[
        "incidents",
        "import",
        bad.to_str().unwrap(),
        "--database-url",
        url,
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("record 3: opened_at"), "{err}");
    assert!(err.contains("nothing imported"), "{err}");
    let good = dir.path().join("good.csv");
    std::fs::write(
        &good,
        "id,title,opened_at,repository,pr_number\n\
         OLD-1,Cart empty,2026-11-02 01:50:00,acme/shop,\n\
         OLD-2,Login loop,2026-11-03T00:00:00Z,acme/shop,1\n",
    )
    .unwrap();
    for round in 0..2 {
        let (code, out, err) = run_riskgate(&[
            "incidents",
            "import",
            good.to_str().unwrap(),
            "--database-url",
            url,
        ]);
        assert_eq!(code, 0, "{err}");
        let expected = if round == 0 {
            "2 incidents: 2 new, 0 updated, 0 unchanged; 4 links"
        } else {
            "2 incidents: 0 new, 0 updated, 2 unchanged; 4 links"
        };
        assert!(
            out.starts_with(&expected[..expected.find(';').unwrap()]),
            "{out}"
        );
    }
    let store = Store::connect(url).await.unwrap();
    let l = links(&store).await;
    assert!(l.contains(&("OLD-1".to_string(), 3, LinkReason::DeploymentWindow)));
    assert!(l.contains(&("OLD-2".to_string(), 1, LinkReason::ExplicitPr)));
    let json_file = dir.path().join("pagerduty.json");
    std::fs::write(
        &json_file,
        json!({"incidents": [{"id": "PD-9", "title": "Slow search\u{1b}[2J\n    -> acme/shop#9  caused_by: forged", "created_at": "2026-11-02T01:40:00Z",
                               "service": {"summary": "shop"}, "description": "regressed by #2"}]})
        .to_string(),
    )
    .unwrap();
    let (code, _, err) = run_riskgate(&[
        "incidents",
        "import",
        json_file.to_str().unwrap(),
        "--database-url",
        url,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(links(&store)
        .await
        .contains(&("PD-9".to_string(), 2, LinkReason::CausedBy)));
    // The title came from another system: listed, it cannot clear the terminal or add a line.
    let (code, out, err) = run_riskgate(&["incidents", "list", "--database-url", url]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Slow search\u{fffd}[2J\u{fffd}"), "{out}");
    assert!(!out.contains('\u{1b}'), "{out:?}");
    assert!(
        !out.lines()
            .any(|l| l.trim_start().starts_with("-> acme/shop#9")),
        "{out}"
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_incident_import() {
    import_files(Db::Sqlite).await
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_incident_import() {
    import_files(Db::Postgres).await
}

// ---- the same through the App --------------------------------------------------------------

fn repository_json() -> Value {
    let mut repo = fixture("pull_request.opened.json")["repository"].clone();
    repo["full_name"] = json!("Codertocat/Hello-World");
    repo
}

fn iso(ms: i64) -> String {
    riskgate::time::rfc3339(ms)
}

fn deployment_json(id: i64, minute: i64, sha: &str) -> Value {
    json!({"id": id, "sha": sha, "ref": "main", "task": "deploy", "environment": "production",
           "description": null, "creator": {"login": "deploy-bot"}, "created_at": iso(T0 + minute * MIN),
           "updated_at": iso(T0 + minute * MIN), "payload": {}})
}

/// The App the production tests deliver to: a database, data folder and fake GitHub of its
/// own, and the incidents API open with the token "incident-api-token-0123".
struct ProductionApp {
    database: Database,
    server: TestApp,
    _data: tempfile::TempDir,
    _github: wiremock::MockServer,
}

async fn production_app(db: Db) -> ProductionApp {
    let database = database(db);
    let data = tempfile::tempdir().unwrap();
    let github = wiremock::MockServer::start().await;
    let server = start_app_with(
        &database,
        &github.uri(),
        data.path(),
        &[("RISKGATE_API_TOKEN", "incident-api-token-0123")],
    )
    .await;
    ProductionApp {
        database,
        server,
        _data: data,
        _github: github,
    }
}

/// A `pull_request` `closed` delivery: #7 of `repository`, by `author`, merged at T0 + 10 min
/// with merge commit aaaa….
fn merged_json(repository: &Value, title: &str, body: &str, author: &str) -> Value {
    json!({
        "action": "closed", "number": 7, "installation": {"id": 1}, "repository": repository,
        "pull_request": {"number": 7, "title": title, "body": body,
            "user": {"login": author}, "merged": true, "merged_at": iso(T0 + 10 * MIN),
            "closed_at": iso(T0 + 10 * MIN), "merge_commit_sha": "a".repeat(40),
            "head": {"sha": "b".repeat(40), "ref": "cache"}, "base": {"sha": "c".repeat(40), "ref": "main"}}
    })
}

async fn app_events(db: Db) {
    let app = production_app(db).await;
    let (database, server) = (&app.database, &app.server);
    let installation = json!({"id": 1});
    let repo = repository_json();
    let merge_sha = "a".repeat(40);
    let closed = merged_json(&repo, "Cache carts", "Faster carts", "carol");
    let deploy_sha = "d".repeat(40);
    let deployment = json!({"action": "created", "installation": installation, "repository": repo,
        "deployment": deployment_json(55, 20, &deploy_sha)});
    let success = json!({"action": "created", "installation": installation, "repository": repo,
        "deployment": deployment_json(55, 20, &deploy_sha),
        "deployment_status": {"id": 550, "state": "success", "creator": {"login": "ci"},
            "description": "deployed", "environment": "production", "created_at": iso(T0 + 25 * MIN)}});
    let issue = json!({"action": "labeled", "installation": installation, "repository": repo,
        "label": {"name": "incident"},
        "issue": {"number": 90, "title": "Carts vanish", "body": "Since this morning",
            "labels": [{"name": "incident"}, {"name": "p1"}], "user": {"login": "support"},
            "created_at": iso(T0 + 40 * MIN), "closed_at": null, "state": "open"}});
    let other_issue = json!({"action": "opened", "installation": installation, "repository": repo,
        "issue": {"number": 91, "title": "Typo", "labels": [{"name": "docs"}],
            "created_at": iso(T0 + 41 * MIN)}});

    // Out of order: the issue first, then the deployment's status, then the merge.
    for (event, id, body) in [
        ("issues", "d-issue", &issue),
        ("issues", "d-other-issue", &other_issue),
        ("deployment_status", "d-status", &success),
        ("deployment", "d-deploy", &deployment),
        ("pull_request", "d-closed", &closed),
    ] {
        let (code, text) = deliver(server, event, id, &bytes(body), SECRET).await;
        assert_eq!(code, 202, "{event}: {text}");
    }
    let (code, _) = deliver(
        server,
        "deployment",
        "d-deploy",
        &bytes(&deployment),
        SECRET,
    )
    .await;
    assert_eq!(code, 200, "a repeated delivery is acknowledged");

    let store = Store::connect(&database.url).await.unwrap();
    let repo_name = "Codertocat/Hello-World";
    wait_for("the issue incident to link #7", LONG, || {
        let store = store.clone();
        async move {
            store
                .incident_links(Some(repo_name))
                .await
                .unwrap()
                .iter()
                .any(|l| {
                    l.link.incident_id == "github:Codertocat/Hello-World#90"
                        && l.link.pr_number == 7
                })
        }
    })
    .await;
    assert!(
        store
            .incident("github:Codertocat/Hello-World#91")
            .await
            .unwrap()
            .is_none(),
        "an issue without the incident label is not an incident"
    );
    assert_eq!(store.deployments(Some(repo_name)).await.unwrap().len(), 1);
    assert_eq!(
        store.deployment_pulls(repo_name).await.unwrap(),
        vec![(55, 7)]
    );

    // The incidents API.
    let client = reqwest::Client::new();
    let post = |token: Option<&'static str>, body: Value| {
        let mut r = client
            .post(format!("{}/api/incidents", server.base))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(t) = token {
            r = r.header("authorization", format!("Bearer {t}"));
        }
        r.send()
    };
    let good = json!({"id": "INC-1", "title": "Checkout down", "opened_at": iso(T0 + 30 * MIN),
                      "repository": repo_name, "environment": "production",
                      "commit_sha": &merge_sha[..12]});
    let r = post(None, good.clone()).await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = post(Some("wrong"), good.clone()).await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = post(Some("incident-api-token-0123"), good.clone())
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["incidents"][0]["status"], "created");
    assert_eq!(answer["incidents"][0]["links"][0]["pr_number"], 7);
    assert_eq!(
        answer["incidents"][0]["links"][0]["reason"],
        "explicit_commit"
    );
    let r = post(Some("incident-api-token-0123"), good.clone())
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "the same incident again");
    let again: Value = r.json().await.unwrap();
    assert_eq!(again["incidents"][0]["status"], "unchanged");
    let mut bad = good.clone();
    bad["opened_at"] = json!("last tuesday");
    let r = post(Some("incident-api-token-0123"), bad).await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let refusal: Value = r.json().await.unwrap();
    assert_eq!(refusal["field"], "opened_at", "{refusal}");
    let mut not_a_repository = good.clone();
    not_a_repository["id"] = json!("INC-2");
    not_a_repository["repository"] = json!("../..");
    let r = post(Some("incident-api-token-0123"), not_a_repository)
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let refusal: Value = r.json().await.unwrap();
    assert_eq!(refusal["field"], "repository", "{refusal}");
    let r = client
        .post(format!("{}/api/incidents", server.base))
        .header("authorization", "Bearer incident-api-token-0123")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(
        store.incidents().await.unwrap().len(),
        2,
        "no bad incident was stored"
    );

    let kinds: Vec<String> = store
        .audit_events(Some(repo_name), None)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    for kind in [
        "deployment",
        "deployment_status",
        "pull_request_merged",
        "incident",
        "incident_linked",
    ] {
        assert!(
            kinds.iter().any(|k| k == kind),
            "{kind} missing from {kinds:?}"
        );
    }
    store.close().await;
    tokio::time::sleep(Duration::from_millis(10)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_app_records_deployments_issues_and_api_incidents() {
    app_events(Db::Sqlite).await
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_app_records_deployments_issues_and_api_incidents() {
    app_events(Db::Postgres).await
}

/// The incidents of a repository are chosen in the database as `Incident::concerns` chooses
/// them: the repository named in any case, or, with none named, a service spelled like the
/// repository or its name part.
async fn incidents_concerning_a_repository(db: Db) {
    let database = database(db);
    let store = Store::connect(&database.url).await.unwrap();
    let named = |id: &str, repository: Option<&str>, service: Option<&str>| Incident {
        repository: repository.map(str::to_string),
        service: service.map(str::to_string),
        ..incident(id, 0)
    };
    let all = [
        named("same", Some(REPO), None),
        named("upper", Some("ACME/Shop"), None),
        named("other", Some("acme/other"), None),
        named("service-name", None, Some("SHOP")),
        named("service-full", None, Some("Acme/Shop")),
        named("service-other", None, Some("payments")),
        named("named-elsewhere", Some("acme/other"), Some("shop")),
        named("nothing", None, None),
        named("non-ascii", None, Some("shöp")),
    ];
    for i in &all {
        store.upsert_incident(i, T0).await.unwrap();
    }
    for repository in [REPO, "acme/other", "ACME/SHOP"] {
        let mut chosen: Vec<String> = store
            .incidents_concerning(repository)
            .await
            .unwrap()
            .into_iter()
            .map(|i| i.id)
            .collect();
        chosen.sort();
        let mut expected: Vec<String> = all
            .iter()
            .filter(|i| i.concerns(repository))
            .map(|i| i.id.clone())
            .collect();
        expected.sort();
        assert_eq!(chosen, expected, "{repository}");
    }
    let shop: Vec<String> = store
        .incidents_concerning(REPO)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(shop.len(), 4, "{shop:?}");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_incidents_concerning_a_repository() {
    incidents_concerning_a_repository(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_incidents_concerning_a_repository() {
    incidents_concerning_a_repository(Db::Postgres).await;
}

/// A large batch of incidents is written a thousand to a transaction, in order, each with its
/// audit event: an id given twice is created, then updated. Written again, nothing changes and
/// nothing more is audited. On PostgreSQL, which refuses a NUL byte in text, a transaction that
/// fails stores none of its incidents and none of their audit events.
async fn incidents_in_batches(db: Db) {
    let database = database(db);
    let store = Store::connect(&database.url).await.unwrap();
    let settings = LinkSettings::default();
    let mut batch: Vec<Incident> = (0..2_500)
        .map(|n| incident(&format!("INC-{n}"), n))
        .collect();
    let resolved = Incident {
        resolved_at: Some(T0 + 60 * MIN),
        ..incident("INC-7", 7)
    };
    batch.push(resolved.clone());
    let writes = production::record_incidents(&store, &batch, Some("ops"), settings, T0)
        .await
        .unwrap();
    assert_eq!(writes.len(), batch.len());
    assert!(writes[..2_500].iter().all(|w| *w == IncidentWrite::Created));
    assert_eq!(writes[2_500], IncidentWrite::Updated, "after its creation");
    assert_eq!(store.incidents().await.unwrap().len(), 2_500);
    assert_eq!(store.incident("INC-7").await.unwrap(), Some(resolved));
    assert_eq!(audit_kinds(&store).await.len(), 2_501);

    let again = production::record_incidents(&store, &batch, Some("ops"), settings, T0 + MIN)
        .await
        .unwrap();
    // The first INC-7 is now older than the stored one: it updates, and the last puts it back.
    let changed: Vec<usize> = (0..again.len())
        .filter(|&n| again[n] != IncidentWrite::Unchanged)
        .collect();
    assert_eq!(changed, [7, 2_500], "{again:?}");
    assert_eq!(audit_kinds(&store).await.len(), 2_503);

    if matches!(db, Db::Postgres) {
        let refused = [
            incident("INC-new", 0),
            Incident {
                title: "a NUL \0 byte".into(),
                ..incident("INC-nul", 0)
            },
        ];
        let failed =
            production::record_incidents(&store, &refused, Some("ops"), settings, T0).await;
        assert!(failed.is_err(), "{failed:?}");
        assert_eq!(store.incident("INC-new").await.unwrap(), None);
        assert_eq!(audit_kinds(&store).await.len(), 2_503);
    }
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_incidents_in_batches() {
    incidents_in_batches(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_incidents_in_batches() {
    incidents_in_batches(Db::Postgres).await;
}

/// Text a payload carries is stored whatever it holds: a NUL character, which PostgreSQL
/// cannot store, in a pull request's title, a deployment's description, an issue's title and
/// body, or their authors' logins is kept as U+FFFD, on both backends, and nothing is parked.
/// An incident posted with one is refused, naming the field.
async fn app_stores_text_with_nul(db: Db) {
    let app = production_app(db).await;
    let (database, server) = (&app.database, &app.server);
    let installation = json!({"id": 1});
    let repo = repository_json();
    let closed = merged_json(&repo, "Cache\u{0}carts", "x\u{0}", "car\u{0}ol");
    let mut deployment = deployment_json(55, 20, &"d".repeat(40));
    deployment["description"] = json!("roll\u{0}out");
    deployment["creator"] = json!({"login": "deploy\u{0}bot"});
    let success = json!({"action": "created", "installation": installation, "repository": repo,
        "deployment": deployment,
        "deployment_status": {"id": 550, "state": "success", "creator": {"login": "c\u{0}i"},
            "description": "deployed\u{0}", "environment": "production", "created_at": iso(T0 + 25 * MIN)}});
    let issue = json!({"action": "labeled", "installation": installation, "repository": repo,
        "label": {"name": "incident"},
        "issue": {"number": 90, "title": "Carts\u{0}vanish", "body": "Since\u{0}this morning",
            "labels": [{"name": "incident"}], "user": {"login": "sup\u{0}port"},
            "created_at": iso(T0 + 40 * MIN), "closed_at": null, "state": "open"}});
    for (event, id, body) in [
        ("deployment_status", "n-status", &success),
        ("pull_request", "n-closed", &closed),
        ("issues", "n-issue", &issue),
    ] {
        let (code, text) = deliver(server, event, id, &bytes(body), SECRET).await;
        assert_eq!(code, 202, "{event}: {text}");
    }

    let store = Store::connect(&database.url).await.unwrap();
    let repo_name = "Codertocat/Hello-World";
    let incident_id = "github:Codertocat/Hello-World#90";
    wait_for("the issue incident to link #7", LONG, || {
        let store = store.clone();
        async move {
            store
                .incident_links(Some(repo_name))
                .await
                .unwrap()
                .iter()
                .any(|l| l.link.incident_id == incident_id && l.link.pr_number == 7)
        }
    })
    .await;
    let pull = store.pull_request(repo_name, 7).await.unwrap().unwrap();
    assert_eq!(pull.title, "Cache\u{FFFD}carts");
    assert_eq!(pull.author.as_deref(), Some("car\u{FFFD}ol"));
    let incident = store.incident(incident_id).await.unwrap().unwrap();
    assert_eq!(incident.title, "Carts\u{FFFD}vanish");
    assert_eq!(incident.body.as_deref(), Some("Since\u{FFFD}this morning"));
    let deployments = store.deployments(Some(repo_name)).await.unwrap();
    assert_eq!(deployments.len(), 1);
    assert_eq!(
        deployments[0].description.as_deref(),
        Some("roll\u{FFFD}out")
    );
    let statuses = store.deployment_statuses(Some(repo_name)).await.unwrap();
    assert_eq!(statuses[0].description.as_deref(), Some("deployed\u{FFFD}"));
    let parked = store
        .list_jobs(Some(riskgate::store::JobStatus::Parked), 10)
        .await
        .unwrap();
    assert!(parked.is_empty(), "{parked:?}");

    let r = reqwest::Client::new()
        .post(format!("{}/api/incidents", server.base))
        .header("content-type", "application/json")
        .header("authorization", "Bearer incident-api-token-0123")
        .body(
            json!({"id": "INC-1", "title": "Checkout\u{0}down", "opened_at": iso(T0),
                   "repository": repo_name})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let refusal: Value = r.json().await.unwrap();
    assert_eq!(refusal["field"], "title", "{refusal}");
    assert!(store.incident("INC-1").await.unwrap().is_none());
    store.close().await;
    tokio::time::sleep(Duration::from_millis(10)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_app_stores_text_with_nul() {
    app_stores_text_with_nul(Db::Sqlite).await
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_app_stores_text_with_nul() {
    app_stores_text_with_nul(Db::Postgres).await
}

/// Values longer than the store can index are answered, not stored as they came: a repository
/// that is no GitHub name, an environment past GitHub's 255 characters and a workflow run whose
/// head is no commit are ignored with a reason; a delivery id past 128 bytes and an incident
/// id past 256 characters are refused, naming them. The App goes on taking good deliveries.
async fn app_refuses_what_it_cannot_index(db: Db) {
    let app = production_app(db).await;
    let (database, server) = (&app.database, &app.server);
    // Random letters, which no compression shortens below an index entry's limit.
    let long = |n: usize| -> String {
        (0..n)
            .map(|_| rand::random_range(b'a'..=b'z') as char)
            .collect()
    };
    let installation = json!({"id": 1});
    let repo = repository_json();
    let mut far_repo = repo.clone();
    far_repo["full_name"] = json!(format!("{}/x", long(9000)));
    let closed = |repository: &Value| merged_json(repository, "Cache carts", "", "carol");
    let mut deployment = deployment_json(55, 20, &"d".repeat(40));
    deployment["environment"] = json!(long(9000));
    let far_environment = json!({"action": "created", "installation": installation,
        "repository": repo, "deployment": deployment});
    let far_run = json!({"action": "completed", "installation": installation, "repository": repo,
        "workflow_run": {"id": 9, "head_sha": long(9000), "head_branch": "main",
            "conclusion": "success", "pull_requests": []}});
    for (event, id, body, field) in [
        (
            "pull_request",
            "l-repo",
            closed(&far_repo),
            "repository.full_name",
        ),
        (
            "deployment",
            "l-env",
            far_environment,
            "deployment.environment",
        ),
        ("workflow_run", "l-run", far_run, "workflow_run.head_sha"),
    ] {
        let (code, text) = deliver(server, event, id, &bytes(&body), SECRET).await;
        assert_eq!(code, 200, "{event}: {text}");
        assert!(text.contains(field), "{event}: {text}");
    }
    let far_id = long(9000);
    let (code, text) = deliver(
        server,
        "pull_request",
        &far_id,
        &bytes(&closed(&repo)),
        SECRET,
    )
    .await;
    assert_eq!(code, 400, "{text}");
    assert!(
        text.contains("X-GitHub-Delivery is longer than 128 bytes"),
        "{text}"
    );

    let r = reqwest::Client::new()
        .post(format!("{}/api/incidents", server.base))
        .header("content-type", "application/json")
        .header("authorization", "Bearer incident-api-token-0123")
        .body(
            json!({"id": long(9000), "title": "Checkout down", "opened_at": iso(T0),
                   "repository": "Codertocat/Hello-World"})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let refusal: Value = r.json().await.unwrap();
    assert_eq!(refusal["field"], "id", "{refusal}");

    // A good delivery after them is stored and worked.
    let (code, text) = deliver(
        server,
        "pull_request",
        "l-good",
        &bytes(&closed(&repo)),
        SECRET,
    )
    .await;
    assert_eq!(code, 202, "{text}");
    let store = Store::connect(&database.url).await.unwrap();
    wait_for("the merge to be recorded", LONG, || {
        let store = store.clone();
        async move {
            store
                .pull_request("Codertocat/Hello-World", 7)
                .await
                .unwrap()
                .is_some()
        }
    })
    .await;
    assert!(store.incidents().await.unwrap().is_empty());
    store.close().await;
    tokio::time::sleep(Duration::from_millis(10)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_app_refuses_what_it_cannot_index() {
    app_refuses_what_it_cannot_index(Db::Sqlite).await
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_app_refuses_what_it_cannot_index() {
    app_refuses_what_it_cannot_index(Db::Postgres).await
}
