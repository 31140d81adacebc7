//! The shipped model is what `riskgate train` makes from the public datasets.

use std::path::PathBuf;

use crate::support::run_riskgate;

fn datasets() -> PathBuf {
    let dir = std::env::var_os("RISKGATE_DATASETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/datasets/mcintosh-kamei")
        });
    assert!(
        dir.join("qt.csv").exists(),
        "the public datasets are needed at {} (set RISKGATE_DATASETS)",
        dir.display()
    );
    dir
}

#[test]
fn shipped_model_is_reproduced_by_train() {
    let data = datasets();
    let out = tempfile::tempdir().unwrap();
    let model_path = out.path().join("model.json");
    let (code, stdout, err) = run_riskgate(&[
        "train",
        "--data",
        data.join("qt.csv").to_str().unwrap(),
        "--data",
        data.join("openstack.csv").to_str().unwrap(),
        "--out",
        model_path.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        stdout.contains("qt") && stdout.contains("openstack"),
        "{stdout}"
    );
    let fresh: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&model_path).unwrap()).unwrap();
    let shipped: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("model/model.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(fresh["version"], shipped["version"]);
    let (f, s) = (
        fresh["features"].as_array().unwrap(),
        shipped["features"].as_array().unwrap(),
    );
    assert_eq!(f.len(), s.len());
    for (a, b) in f.iter().zip(s) {
        assert_eq!(a["name"], b["name"]);
        let (ca, cb) = (
            a["coefficient"].as_f64().unwrap(),
            b["coefficient"].as_f64().unwrap(),
        );
        assert!((ca - cb).abs() < 1e-9, "{}: {ca} vs {cb}", a["name"]);
    }
}

#[test]
fn eval_of_the_shipped_model_on_a_public_set() {
    let data = datasets();
    let model = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("model/model.json");
    let (code, out, err) = run_riskgate(&[
        "eval",
        "--data",
        data.join("openstack.csv").to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["rows"], 12_374);
    assert_eq!(v["positives"], 1_616);
    let auc = v["auc"].as_f64().unwrap();
    assert!(auc > 0.7 && auc < 0.9, "{auc}");
    for k in ["pr_auc", "brier", "baseline_la_auc"] {
        assert!(v[k].is_number(), "{k}");
    }
    assert!(v["recall_at"]["0.1"].is_number());
}

/// On every 10th change of both public sets, raising any signal the catalogue gives a
/// direction (lines, files, directories, subsystems, spread, experience) moves the shipped
/// model's score only that way.
#[test]
fn shipped_model_is_monotone_on_real_changes() {
    use riskgate::model::{dataset::Dataset, monotone::breaches, Model};
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let model =
        Model::from_json(&std::fs::read_to_string(root.join("model/model.json")).unwrap()).unwrap();
    let data = datasets();
    for set in ["qt.csv", "openstack.csv"] {
        let path = data.join(set);
        let d = Dataset::parse_str(&std::fs::read_to_string(&path).unwrap(), set).unwrap();
        let changes: Vec<_> = (0..d.rows.len())
            .step_by(10)
            .map(|r| riskgate::model::train::row_values(&model, &d, r))
            .collect();
        let found = breaches(&model, &changes);
        assert!(
            found.is_empty(),
            "{set}: {}",
            found
                .iter()
                .map(|b| b.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
}

/// The fit repeats each buggy row as many times as its weight: a weight past 100 is refused by
/// its flag, before any data is read, rather than allocated.
#[test]
fn a_positive_weight_past_100_is_refused_by_its_flag() {
    for weight in ["101", "4000000000", "0"] {
        let (code, _, err) = run_riskgate(&[
            "train",
            "--data",
            "no-such.csv",
            "--out",
            "no-such.json",
            "--positive-weight",
            weight,
        ]);
        assert_eq!(code, 2, "{weight}: {err}");
        assert!(err.contains("--positive-weight"), "{weight}: {err}");
    }
}
