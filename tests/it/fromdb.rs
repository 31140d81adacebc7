//! `riskgate train --from-db`: a history built in the store through the App's own recording
//! paths (merged pull requests, reverts, incidents naming a pull request, scores), then the
//! real binary trains on it, on SQLite and on PostgreSQL.

use std::path::Path;

use serde_json::{json, Value};

use riskgate::labels::deployments::PullRecord;
use riskgate::labels::incidents::Incident;
use riskgate::production::{record_incident, record_pull, LinkSettings};
use riskgate::store::{NewScore, Store};

use crate::support::{database, day, run_riskgate_env, Db};

const REPO: &str = "acme/shop";
const HOUR: i64 = 3_600_000;

/// A small deterministic generator, so the history is the same on every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// How the labels relate to lines added.
#[derive(Clone, Copy, PartialEq)]
enum Signal {
    /// Many lines added ⇒ much more likely to be linked to an incident or reverted.
    Planted,
    /// The same in the newest quarter, the opposite before it: a model trained on this
    /// history learns the wrong sign and is worse on its newest merges than one that knows.
    InvertedBeforeTheEnd,
}

/// What the history holds, for the assertions.
#[derive(Debug, Default)]
struct Expected {
    rows: usize,
    incident: usize,
    revert: usize,
    both: usize,
    scores_after_merge: usize,
    scored_only_after_merge: usize,
    not_merged: usize,
}

fn features(rng: &mut Lcg, la: f64) -> Value {
    let nf = 1.0 + (rng.next() * 12.0).floor();
    json!({
        "la": la,
        "ld": (rng.next() * 200.0).floor(),
        "nf": nf,
        "nd": (nf / 2.0).ceil(),
        "ns": 1.0 + (rng.next() * 3.0).floor(),
        "entropy": rng.next(),
        "fix": (rng.next() < 0.3) as u8,
        "ndev": (rng.next() * 10.0).floor(),
        "age": (rng.next() * 3.0e6).floor(),
        "nuc": (rng.next() * 40.0).floor(),
        "exp": (rng.next() * 500.0).floor(),
        "rexp": rng.next() * 100.0,
        "sexp": (rng.next() * 200.0).floor(),
        // Unknown for some changes: missing, as a stored score has it.
        "patch_coverage": if rng.next() < 0.5 { json!(rng.next()) } else { Value::Null },
    })
}

fn score(pr: i64, head: &str, features: Value) -> NewScore {
    NewScore {
        repository: REPO.into(),
        pr_number: pr,
        head_sha: head.into(),
        base_sha: "0".repeat(40),
        probability: 0.1,
        band: "low".into(),
        model_version: "shipped".into(),
        features,
        conclusion: "success".into(),
        check_run_id: None,
        delivery_id: None,
    }
}

fn pull(number: i64, merged_at: Option<i64>, reverts: Option<i64>) -> PullRecord {
    PullRecord {
        repository: REPO.into(),
        number,
        title: match reverts {
            Some(n) => format!("Revert \"Change {n}\""),
            None => format!("Change {number}"),
        },
        author: Some("dev".into()),
        head_sha: Some(format!("{number:040x}")),
        merge_commit_sha: merged_at.map(|_| format!("{:040x}", number + 1_000_000)),
        merged_at,
        closed_at: merged_at,
        reverts_number: reverts,
    }
}

fn incident(id: String, pr: i64, opened_at: i64) -> Incident {
    Incident {
        id,
        source: "api".into(),
        title: "Checkout errors".into(),
        repository: Some(REPO.into()),
        service: None,
        environment: Some("production".into()),
        opened_at,
        resolved_at: None,
        commit_sha: None,
        pr_number: Some(pr),
        body: None,
    }
}

/// `n` merged pull requests, a few open ones, their labels and their scores.
async fn build_history(url: &str, n: i64, signal: Signal, seed: u64) -> Expected {
    let store = Store::connect(url).await.expect("store");
    let settings = LinkSettings::default();
    let mut rng = Lcg(seed);
    let start = day(2025, 1, 1) * 1000;
    let mut expected = Expected::default();
    let mut scores: Vec<(NewScore, i64)> = Vec::new();
    for i in 1..=n {
        let merged_at = start + i * 6 * HOUR;
        let la = (rng.next() * 8.0).exp().floor();
        let z = ((la + 1.0).ln() - 4.0) / 2.3;
        let z = match signal {
            Signal::InvertedBeforeTheEnd if i * 4 <= n * 3 => -z,
            _ => z,
        };
        let buggy = rng.next() < sigmoid(-2.0 + 2.5 * z);
        let (by_incident, by_revert) = match (buggy, i % 7) {
            (false, _) => (false, false),
            (true, 0) => (true, true),
            (true, k) => (k % 2 == 0, k % 2 == 1),
        };
        let now = merged_at + 30 * 24 * HOUR;
        record_pull(&store, &pull(i, Some(merged_at), None), settings, now)
            .await
            .unwrap();
        if by_revert {
            let at = merged_at + 2 * 24 * HOUR;
            record_pull(&store, &pull(10_000 + i, Some(at), Some(i)), settings, now)
                .await
                .unwrap();
        }
        if by_incident {
            let inc = incident(format!("INC-{i}"), i, merged_at + 24 * HOUR);
            record_incident(&store, &inc, None, settings, now)
                .await
                .unwrap();
        }

        let head = format!("{i:040x}");
        // Misleading scores made after the merge: small for the buggy, huge for the clean.
        let misleading = |rng: &mut Lcg| features(rng, if buggy { 1.0 } else { 5000.0 });
        if i % 29 == 0 {
            // Scored only after it merged: left out.
            scores.push((score(i, &head, misleading(&mut rng)), merged_at + HOUR));
            expected.scored_only_after_merge += 1;
            expected.scores_after_merge += 1;
            continue;
        }
        // An earlier push, scored with other numbers; the last score before the merge wins.
        let early_la = (rng.next() * 8.0).exp().floor();
        let early = features(&mut rng, early_la);
        scores.push((score(i, &head, early), merged_at - 3 * HOUR));
        // Scored at the moment of merging still counts as before it.
        let at = if i % 5 == 0 {
            merged_at
        } else {
            merged_at - 20 * 60_000
        };
        scores.push((score(i, &head, features(&mut rng, la)), at));
        if i % 3 == 0 {
            scores.push((score(i, &head, misleading(&mut rng)), merged_at + HOUR));
            expected.scores_after_merge += 1;
        }
        expected.rows += 1;
        expected.incident += by_incident as usize;
        expected.revert += by_revert as usize;
        expected.both += (by_incident && by_revert) as usize;
    }
    // Open pull requests, scored, one of them named by an incident: not rows.
    for k in 1..=6 {
        let number = 20_000 + k;
        let head = format!("{number:040x}");
        scores.push((
            score(number, &head, features(&mut rng, 3000.0)),
            start + n * 6 * HOUR,
        ));
        expected.not_merged += 1;
    }
    let inc = incident("INC-open".into(), 20_001, start + (n + 1) * 6 * HOUR);
    record_incident(&store, &inc, None, settings, start + (n + 2) * 6 * HOUR)
        .await
        .unwrap();
    for (s, at) in &scores {
        store.record_score(s, *at).await.unwrap();
    }
    store.close().await;
    expected
}

fn train(url: &str, extra: &[&str]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["train", "--from-db"];
    args.extend_from_slice(extra);
    run_riskgate_env(
        &args,
        &[
            ("DATABASE_URL", url),
            ("RISKGATE_DATA_DIR", dir.path().to_str().unwrap()),
        ],
    )
}

fn read_json(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn coefficient(model: &Value, name: &str) -> f64 {
    model["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no feature {name}"))["coefficient"]
        .as_f64()
        .unwrap()
}

async fn learns_and_promotes_only_if_not_worse(db: Db) {
    let out = tempfile::tempdir().unwrap();
    let path = |name: &str| out.path().join(name);
    let s = |p: &Path| p.to_str().unwrap().to_string();

    // An empty database: a clear error, no model.
    let empty = database(db);
    let (code, _, err) = train(&empty.url, &["--out", &s(&path("none.json"))]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("the database holds no scored, merged pull requests"),
        "{err}"
    );
    assert!(!path("none.json").exists());

    // The planted signal is learnt.
    let planted = database(db);
    let expected = build_history(&planted.url, 360, Signal::Planted, 17).await;
    assert!(expected.incident > 10 && expected.revert > 10 && expected.both > 0);
    let good = path("good.json");
    let report = path("report");
    let (code, stdout, err) = train(&planted.url, &["--out", &s(&good), "--report", &s(&report)]);
    assert_eq!(code, 0, "{err}\n{stdout}");
    let model = read_json(&good);
    eprintln!("PLANTED\n{stdout}");
    let la = coefficient(&model, "la");
    assert!(la > 0.3, "la was planted as risky: {la}");
    let metrics = read_json(&report.join("metrics.json"));
    let holdout = &metrics["holdout"][0];
    assert_eq!(holdout["dataset"], "history");
    let auc = holdout["auc"].as_f64().unwrap();
    assert!(auc > 0.75, "hold-out auc {auc}");
    let history = &metrics["history"];
    assert_eq!(history["rows"], expected.rows);
    assert_eq!(history["label_provenance"]["incident"], expected.incident);
    assert_eq!(history["label_provenance"]["revert"], expected.revert);
    assert_eq!(
        history["label_provenance"]["incident_and_revert"],
        expected.both
    );
    let positives = expected.incident + expected.revert - expected.both;
    assert_eq!(history["positives"], positives);
    assert_eq!(
        history["skipped"]["scores_after_merge"],
        expected.scores_after_merge
    );
    assert_eq!(
        history["skipped"]["scored_only_after_merge"],
        expected.scored_only_after_merge
    );
    assert_eq!(history["skipped"]["not_merged"], expected.not_merged);
    assert!(
        stdout.contains(&format!(
            "{positives} buggy ({} linked to an incident, {} reverted, {} both)",
            expected.incident, expected.revert, expected.both
        )),
        "{stdout}"
    );
    // The model says where its labels came from and carries its hold-out curves.
    assert_eq!(model["provenance"]["history"]["rows"], expected.rows);
    let source = model["provenance"]["label_source"].as_str().unwrap();
    assert!(
        source.contains("incident") && source.contains("revert"),
        "{source}"
    );
    let command = model["provenance"]["command"].as_str().unwrap();
    assert!(command.contains("--from-db"), "{command}");
    assert!(!command.contains(&planted.url) && !command.contains("DATABASE_URL"));
    let roc = model["metrics"]["curves"]["roc"].as_array().unwrap();
    assert!(roc.len() > 2 && roc.len() <= 200, "{}", roc.len());
    assert!(!model["metrics"]["curves"]["calibration"]
        .as_array()
        .unwrap()
        .is_empty());
    let labels = std::fs::read_to_string(report.join("labels.csv")).unwrap();
    assert_eq!(labels.lines().count(), expected.rows + 1);
    assert!(labels.contains("incident:INC-") && labels.contains("revert:#10"));
    assert!(!labels.contains("acme/shop#20001,"), "open PRs are no rows");

    // A history whose older merges say the opposite: the model trained on it is worse on the
    // newest merges than the current one, so the current one stays, byte for byte.
    let drifted = database(db);
    build_history(&drifted.url, 360, Signal::InvertedBeforeTheEnd, 23).await;
    let weak = path("weak.json");
    let (code, _, err) = train(&drifted.url, &["--out", &s(&weak)]);
    assert_eq!(code, 0, "{err}");
    // Its history says more lines are safer; held to the catalogue's sign, it learns nothing
    // of them.
    assert!(coefficient(&read_json(&weak), "la") <= 0.0);

    let current = path("current.json");
    std::fs::copy(&good, &current).unwrap();
    let before = std::fs::read(&current).unwrap();
    let report2 = path("report2");
    let (code, stdout, err) = train(
        &drifted.url,
        &[
            "--promote-if-better",
            &s(&current),
            "--out",
            &s(&current),
            "--report",
            &s(&report2),
        ],
    );
    assert_eq!(code, 0, "{err}");
    eprintln!("DRIFT\n{stdout}");
    assert_eq!(std::fs::read(&current).unwrap(), before, "left unchanged");
    assert!(
        stdout.contains("the current model wins") && stdout.contains("left unchanged"),
        "{stdout}"
    );
    let promotion = &read_json(&report2.join("metrics.json"))["promotion"];
    assert_eq!(promotion["promoted"], false);
    assert!(
        promotion["current_auc"].as_f64().unwrap() > promotion["new_auc"].as_f64().unwrap() + 0.1,
        "{promotion}"
    );
    assert_eq!(promotion["current_version"], model["version"]);

    // A worse current model is replaced by the one the planted history gives.
    let (code, stdout, err) = train(
        &planted.url,
        &[
            "--repo",
            REPO,
            "--promote-if-better",
            &s(&weak),
            "--out",
            &s(&weak),
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("the new model wins"), "{stdout}");
    assert!(stdout.contains("promoted"), "{stdout}");
    let replaced = read_json(&weak);
    assert_eq!(
        replaced["version"], model["version"],
        "training is deterministic"
    );
    assert!(coefficient(&replaced, "la") > 0.3);

    // A repository the database does not know is named.
    let (code, _, err) = train(
        &planted.url,
        &["--repo", "acme/other", "--out", &s(&path("other.json"))],
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("no repository `acme/other`") && err.contains(REPO),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_train_from_db() {
    learns_and_promotes_only_if_not_worse(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_train_from_db() {
    learns_and_promotes_only_if_not_worse(Db::Postgres).await;
}
