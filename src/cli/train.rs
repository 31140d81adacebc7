//! `riskgate train`: fit the model on datasets, report the chronological hold-out, write model.json.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::model::dataset::Dataset;
use crate::model::train::{train, Evaluation, TrainOptions};

#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Dataset CSV (as written by `riskgate mine`, or a public JIT dataset). Repeatable.
    #[arg(long = "data", value_name = "FILE.csv", required = true)]
    pub data: Vec<PathBuf>,
    /// Where to write the model.
    #[arg(long, value_name = "model.json")]
    pub out: PathBuf,
    /// Directory for the report (metrics.json).
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
    /// Signals to use, comma-separated (default: the Kamei change metrics all datasets have).
    #[arg(long, value_name = "a,b,c", value_delimiter = ',')]
    pub features: Option<Vec<String>>,
}

/// Reads and parses a dataset file; errors name the file.
pub fn read_dataset(path: &std::path::Path) -> anyhow::Result<Dataset> {
    let file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(Dataset::from_reader(
        std::io::BufReader::new(file),
        &path.display().to_string(),
    )?)
}

fn fmt(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.3}"))
        .unwrap_or_else(|| "-".to_string())
}

fn table_row(e: &Evaluation) -> String {
    let m = &e.metrics;
    format!(
        "{:<12} {:>7} {:>9} {:>7} {:>7} {:>7} {:>7} {:>9}",
        e.dataset,
        m.rows,
        m.positives,
        fmt(m.auc),
        fmt(m.baseline_la_auc),
        fmt(m.pr_auc),
        fmt(m.brier),
        fmt(m.recall_at_10()),
    )
}

fn command_line(args: &TrainArgs) -> String {
    let mut parts = vec!["riskgate train".to_string()];
    for d in &args.data {
        parts.push(format!("--data {}", d.display()));
    }
    parts.push(format!("--out {}", args.out.display()));
    if let Some(f) = &args.features {
        parts.push(format!("--features {}", f.join(",")));
    }
    parts.join(" ")
}

pub fn run(args: TrainArgs) -> anyhow::Result<ExitCode> {
    let datasets = args
        .data
        .iter()
        .map(|p| read_dataset(p))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let options = TrainOptions {
        features: args.features.clone(),
        ..TrainOptions::default()
    };
    let mut outcome = train(&datasets, &options)?;
    if let Some(p) = outcome.model.provenance.as_object_mut() {
        p.insert(
            "command".into(),
            serde_json::Value::String(command_line(&args)),
        );
    }

    let mut json = outcome.model.to_json();
    json.push('\n');
    std::fs::write(&args.out, json).with_context(|| format!("writing {}", args.out.display()))?;
    if let Some(dir) = &args.report {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join("metrics.json");
        let mut text = serde_json::to_string_pretty(&outcome.report_json())?;
        text.push('\n');
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }

    println!(
        "model {} ({} features, alpha {}), hold-out = latest 20% of each dataset by date",
        outcome.model.version,
        outcome.model.features.len(),
        outcome.alpha
    );
    println!(
        "{:<12} {:>7} {:>9} {:>7} {:>7} {:>7} {:>7} {:>9}",
        "dataset", "rows", "positives", "auc", "la_auc", "pr_auc", "brier", "recall@10"
    );
    for e in &outcome.holdout {
        println!("{}", table_row(e));
    }
    if outcome.holdout.len() > 1 {
        println!("{}", table_row(&outcome.pooled));
    }
    println!("wrote {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Model;

    fn fixture() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/datasets/planted.csv")
    }

    #[test]
    fn train_writes_a_loadable_model_and_the_report() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("model.json");
        let report = dir.path().join("report");
        let args = TrainArgs {
            data: vec![fixture()],
            out: out.clone(),
            report: Some(report.clone()),
            features: Some(vec!["la".into(), "exp".into()]),
        };
        assert_eq!(run(args).unwrap(), ExitCode::SUCCESS);
        let model = Model::from_json(&std::fs::read_to_string(&out).unwrap()).unwrap();
        assert_eq!(model.feature_names().collect::<Vec<_>>(), ["la", "exp"]);
        let command = model.provenance["command"].as_str().unwrap();
        assert!(command.contains("--features la,exp"), "{command}");
        let metrics: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(report.join("metrics.json")).unwrap())
                .unwrap();
        assert_eq!(metrics["holdout"][0]["rows"], 40);
        assert_eq!(
            metrics["holdout"][0]["reliability"]
                .as_array()
                .unwrap()
                .len(),
            10
        );
    }

    #[test]
    fn unreadable_data_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let args = TrainArgs {
            data: vec![dir.path().join("absent.csv")],
            out: dir.path().join("model.json"),
            report: None,
            features: None,
        };
        let err = crate::cli::one_line(&run(args).unwrap_err());
        assert!(err.contains("absent.csv"), "{err}");
    }
}
