//! `riskgate train`: fit the model on datasets (CSV files, the App's own history or both),
//! report the chronological hold-out, write model.json.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::model::charts::{calibration_svg, roc_svg, CalibrationPanel, RocPanel};
use crate::model::dataset::Dataset;
use crate::model::file::{load_model, write_atomically};
use crate::model::history::{
    choose_repositories, history_dataset, HistoryDataset, RepositoryHistory, StoredScore,
    HISTORY_SOURCE,
};
use crate::model::promotion::judge;
use crate::model::train::{train_with_progress, Evaluation, TrainOptions, TrainStep};
use crate::production::{load_history, ScoresLoaded};

pub use crate::model::promotion::{Promotion, PROMOTION_TOLERANCE};

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).multiple(true).args(["data", "from_db"])))]
pub struct TrainArgs {
    /// Dataset CSV (as written by `riskgate mine`, or a public JIT dataset). Repeatable.
    #[arg(long = "data", value_name = "FILE.csv")]
    pub data: Vec<PathBuf>,
    /// Train on the App's own history: one row per pull request that was scored and merged,
    /// with the features of its last score before the merge, buggy when an incident is linked
    /// to it or a merged pull request reverted it. With `--data`, both are used.
    #[arg(long)]
    pub from_db: bool,
    /// With `--from-db`: only these repositories (`owner/name`; repeatable or comma-separated).
    /// Default: every repository the database knows.
    #[arg(
        long,
        value_name = "OWNER/NAME",
        value_delimiter = ',',
        requires = "from_db"
    )]
    pub repo: Vec<String>,
    #[command(flatten)]
    pub store: super::StoreArgs,
    /// Where to write the model.
    #[arg(long, value_name = "model.json")]
    pub out: PathBuf,
    /// Directory for the report: metrics.json, roc.svg, calibration.svg (and with `--from-db`,
    /// labels.csv: each pull request used, the score its features came from, why it is buggy).
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
    /// Signals to use, comma-separated (default: the shipped feature set). Besides signal
    /// names: ratio(a,b), share(a,b), hinge(a,K) (K a number or a quantile such as q80),
    /// mul(a,b), gt(a,K).
    #[arg(long, value_name = "a,b,c")]
    pub features: Option<Vec<String>>,
    /// Each buggy training row counts N times (class weighting; the intercept is corrected
    /// back so probabilities stay calibrated). 1 is an unweighted fit. Default: 10, or fewer
    /// where 10 would make the buggy rows outnumber the clean ones. At most 100: the fit
    /// repeats each buggy row N times in memory.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100))]
    pub positive_weight: Option<u32>,
    /// Learn only from the most recent share (0..1] of each dataset's training rows.
    #[arg(long, value_name = "SHARE", default_value_t = 1.0)]
    pub window: f64,
    /// Leave out each dataset's changes authored within N days of its latest one. A fix
    /// follows the change it repairs by weeks or months, so in a history `riskgate mine`
    /// labelled, the latest changes look clean until their fixes land; `train` warns when the
    /// hold-out's share of buggy changes is under half the training rows'.
    #[arg(long, value_name = "DAYS", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=36_500))]
    pub settle_days: u32,
    /// Fit every coefficient freely. By default each is held to the sign the signal catalogue
    /// expects, so that more lines, files, spread or a less experienced author never lower
    /// the score; `train` prints what that costs in hold-out AUC.
    #[arg(long)]
    pub free_signs: bool,
    /// Write `--out` only if the new model is not worse than this one on the new run's
    /// hold-out rows (mean per-dataset AUC at least the current's minus 0.001).
    #[arg(long, value_name = "CURRENT.json")]
    pub promote_if_better: Option<PathBuf>,
}

/// Splits `a,ratio(b,c),d` at the commas outside parentheses.
pub fn split_features(lists: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for list in lists {
        let (mut depth, mut start) = (0i32, 0);
        for (i, ch) in list.char_indices() {
            match ch {
                '(' => depth += 1,
                ')' => depth -= 1,
                ',' if depth == 0 => {
                    out.push(list[start..i].trim().to_string());
                    start = i + 1;
                }
                _ => {}
            }
        }
        out.push(list[start..].trim().to_string());
    }
    out.retain(|s| !s.is_empty());
    out
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
    let effort = m.effort_aware.as_ref();
    format!(
        "{:<12} {:>7} {:>9} {:>7} {:>7} {:>7} {:>7} {:>9} {:>9} {:>6}",
        e.dataset,
        m.rows,
        m.positives,
        fmt(m.auc),
        fmt(m.baseline_la_auc),
        fmt(m.pr_auc),
        fmt(m.brier),
        fmt(m.recall_at_10()),
        fmt(effort.and_then(|e| e.recall_at_20_percent_of_lines)),
        fmt(effort.and_then(|e| e.popt)),
    )
}

/// "12.3%", or "-" when there is nothing to measure.
fn share(v: Option<f64>) -> String {
    v.map_or("-".to_string(), |v| format!("{:.1}%", v * 100.0))
}

fn command_line(args: &TrainArgs) -> String {
    let mut parts = vec!["riskgate train".to_string()];
    for d in &args.data {
        parts.push(format!("--data {}", d.display()));
    }
    if args.from_db {
        // Never the database URL: it may hold a password.
        parts.push("--from-db".to_string());
        for r in &args.repo {
            parts.push(format!("--repo {r}"));
        }
    }
    parts.push(format!("--out {}", args.out.display()));
    if let Some(f) = &args.features {
        parts.push(format!("--features '{}'", split_features(f).join(",")));
    }
    if let Some(weight) = args.positive_weight {
        parts.push(format!("--positive-weight {weight}"));
    }
    if args.window != 1.0 {
        parts.push(format!("--window {}", args.window));
    }
    if args.free_signs {
        parts.push("--free-signs".to_string());
    }
    if args.settle_days > 0 {
        parts.push(format!("--settle-days {}", args.settle_days));
    }
    parts.join(" ")
}

/// The App's history as a dataset: the repositories asked for (all it knows by default),
/// loaded from the store and turned into rows by [`history_dataset`].
fn read_history(args: &TrainArgs) -> anyhow::Result<HistoryDataset> {
    if args.store.database_url.is_none() {
        let file = args.store.data_dir.join("riskgate.db");
        if !file.exists() {
            anyhow::bail!(
                "no database at {}: give the one riskgate serve uses with DATABASE_URL (or --database-url) or --data-dir",
                file.display()
            );
        }
    }
    let histories = super::block_on(async {
        let store = args.store.connect().await?;
        let loaded = async {
            let known = store.known_repositories().await?;
            let wanted = choose_repositories(&known, &args.repo)?;
            let mut out = Vec::with_capacity(wanted.len());
            for r in &wanted {
                out.push(
                    load_history(&store, r, ScoresLoaded::WithSignals)
                        .await
                        .with_context(|| format!("reading the history of {r}"))?,
                );
            }
            Ok::<_, anyhow::Error>(out)
        }
        .await;
        store.close().await;
        loaded
    })??;
    let scores: Vec<Vec<StoredScore<'_>>> = histories
        .iter()
        .map(|h| {
            h.scores
                .iter()
                .map(|s| StoredScore {
                    id: s.id,
                    pr_number: s.pr_number,
                    created_at: s.created_at,
                    model_version: &s.model_version,
                    features: &s.features,
                })
                .collect()
        })
        .collect();
    let repositories: Vec<RepositoryHistory<'_>> = histories
        .iter()
        .zip(&scores)
        .map(|(h, s)| RepositoryHistory {
            repository: &h.repository,
            scores: s,
            pulls: &h.pulls,
            links: &h.links,
        })
        .collect();
    Ok(history_dataset(&repositories)?)
}

/// A line on a terminal's stderr saying which fit runs and for how long: on a million rows a
/// train takes minutes. None when stderr is not a terminal (a log keeps only the results).
fn fit_progress() -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal as _;
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
            .expect("valid template"),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    Some(bar)
}

pub fn run(args: TrainArgs) -> anyhow::Result<ExitCode> {
    if args.data.is_empty() && !args.from_db {
        anyhow::bail!("nothing to train on: give --data FILE.csv (repeatable) or --from-db");
    }
    let mut datasets = args
        .data
        .iter()
        .map(|p| read_dataset(p))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let history = if args.from_db {
        Some(read_history(&args)?)
    } else {
        None
    };
    if let Some(h) = &history {
        datasets.push(h.dataset.clone());
    }
    let options = TrainOptions {
        features: args.features.as_deref().map(split_features),
        positive_weight: args.positive_weight,
        window: args.window,
        free_signs: args.free_signs,
        settle_days: args.settle_days,
        ..TrainOptions::default()
    };
    let bar = fit_progress();
    let outcome = train_with_progress(&datasets, &options, &mut |step| {
        if let Some(bar) = &bar {
            bar.set_message(match step {
                TrainStep::Validating { alpha, done, of } => format!(
                    "fitting {} of {of} (L2 strength {alpha:.3}) to choose on the validation slices",
                    done + 1
                ),
                TrainStep::Refitting { alpha } => format!(
                    "fitting the model on all training rows (L2 strength {alpha:.3})"
                ),
            });
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let mut outcome = outcome?;
    if let Some(p) = outcome.model.provenance.as_object_mut() {
        p.insert(
            "command".into(),
            serde_json::Value::String(command_line(&args)),
        );
        if let Some(h) = &history {
            h.record_provenance(p, !args.data.is_empty());
        }
    }

    let promotion = match &args.promote_if_better {
        None => None,
        Some(path) => {
            let current = load_model(Some(path))?;
            Some(judge(&current, &outcome, &datasets))
        }
    };
    let write_model = promotion.as_ref().is_none_or(|p| p.promoted);
    if write_model {
        let mut json = outcome.model.to_json();
        json.push('\n');
        write_atomically(&args.out, json.as_bytes())?;
    }
    if let Some(dir) = &args.report {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join("metrics.json");
        let mut report = outcome.report_json();
        if let Some(obj) = report.as_object_mut() {
            if let Some(p) = &promotion {
                obj.insert("promotion".into(), serde_json::to_value(p)?);
            }
            if let Some(h) = &history {
                obj.insert(HISTORY_SOURCE.into(), h.provenance_json());
            }
        }
        let mut text = serde_json::to_string_pretty(&report)?;
        text.push('\n');
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        let mut shown: Vec<&Evaluation> = outcome.holdout.iter().collect();
        if outcome.holdout.len() > 1 {
            shown.push(&outcome.pooled);
        }
        let roc: Vec<RocPanel> = shown
            .iter()
            .map(|e| RocPanel {
                title: &e.dataset,
                model: &e.roc,
                model_auc: e.metrics.auc,
                baseline: &e.baseline_roc,
                baseline_auc: e.metrics.baseline_la_auc,
            })
            .collect();
        let calibration: Vec<CalibrationPanel> = shown
            .iter()
            .map(|e| CalibrationPanel {
                title: &e.dataset,
                bins: &e.reliability,
                brier: e.metrics.brier,
            })
            .collect();
        let mut files = vec![
            ("roc.svg", roc_svg(&roc)),
            ("calibration.svg", calibration_svg(&calibration)),
        ];
        if let Some(h) = &history {
            files.push(("labels.csv", h.labels_csv()));
        }
        for (name, text) in files {
            let path = dir.join(name);
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        }
    }

    println!(
        "model {} ({} features, alpha {}, buggy rows weighted {}x), hold-out = latest 20% of \
         each dataset by date{}",
        outcome.model.version,
        outcome.model.features.len(),
        outcome.alpha,
        outcome.positive_weight,
        if args.settle_days > 0 {
            format!(
                ", once the changes of its last {} days are left out",
                args.settle_days
            )
        } else {
            String::new()
        }
    );
    println!(
        "{:<12} {:>7} {:>9} {:>7} {:>7} {:>7} {:>7} {:>9} {:>9} {:>6}",
        "dataset",
        "rows",
        "positives",
        "auc",
        "la_auc",
        "pr_auc",
        "brier",
        "recall@10",
        "r@20%loc",
        "popt"
    );
    for e in &outcome.holdout {
        println!("{}", table_row(e));
    }
    if outcome.holdout.len() > 1 {
        println!("{}", table_row(&outcome.pooled));
    }
    if let Some(h) = &history {
        println!("labels of {}", h.summary.describe());
    }
    if let Some(g) = outcome.grid.iter().find(|g| g.alpha == outcome.alpha) {
        let per: Vec<String> = outcome
            .holdout
            .iter()
            .zip(&g.validation_aucs)
            .map(|(e, a)| format!("{} {}", e.dataset, fmt(*a)))
            .collect();
        println!("validation auc at the chosen alpha: {}", per.join(", "));
    }
    for e in &outcome.holdout {
        if let Some(baseline) = e
            .metrics
            .effort_aware
            .as_ref()
            .and_then(|m| m.smallest_first.as_ref())
        {
            println!(
                "{}: with no model, reading the smallest changes first: r@20%loc {}, popt {}",
                e.dataset,
                fmt(baseline.recall_at_20_percent_of_lines),
                fmt(baseline.popt)
            );
        }
    }
    let t = outcome.model.thresholds;
    for b in &outcome.bands {
        println!(
            "{}: elevated from {:.3}, high from {:.3}: {} of the hold-out elevated or high ({} of them buggy), {} high ({} buggy); base rate {}",
            b.dataset,
            t.elevated,
            t.high,
            share(Some(b.elevated_or_high_share)),
            share(b.elevated_or_high_buggy),
            share(Some(b.high_share)),
            share(b.high_buggy),
            share(Some(b.base_rate)),
        );
    }
    if let Some(costs) = &outcome.sign_cost {
        let per: Vec<String> = costs
            .iter()
            .map(|c| {
                let name = std::path::Path::new(&c.dataset)
                    .file_stem()
                    .map_or(c.dataset.clone(), |s| s.to_string_lossy().into_owned());
                format!("{name} {} (free {})", fmt(c.auc), fmt(c.free_auc))
            })
            .collect();
        let held: Vec<&str> = outcome
            .model
            .features
            .iter()
            .filter(|f| f.coefficient == 0.0)
            .map(|f| f.name.as_str())
            .collect();
        println!(
            "signs held to the catalogue: hold-out auc {}; held at zero: {}",
            per.join(", "),
            if held.is_empty() {
                "none".to_string()
            } else {
                held.join(", ")
            }
        );
    }
    if let Some(p) = &promotion {
        let f = |v: Option<f64>| fmt(v);
        let diff = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => format!("{:+.4}", a - b),
            _ => "-".to_string(),
        };
        println!(
            "new {} vs current {} on the same hold-out rows (mean per dataset): auc {} vs {} ({}), brier {} vs {} ({})",
            p.new_version,
            p.current_version,
            f(p.new_auc),
            f(p.current_auc),
            diff(p.new_auc, p.current_auc),
            f(p.new_brier),
            f(p.current_brier),
            diff(p.new_brier, p.current_brier),
        );
        if p.promoted {
            println!(
                "the new model wins (auc not worse by more than {PROMOTION_TOLERANCE}): promoted"
            );
        } else if p.new_auc.is_none() || p.current_auc.is_none() {
            println!(
                "no auc on the hold-out rows (they are all buggy or all clean), so nothing shows \
                 the new model is better: {} left unchanged",
                args.out.display()
            );
        } else {
            println!(
                "the current model wins: {} left unchanged",
                args.out.display()
            );
        }
    }
    if write_model {
        println!("wrote {}", args.out.display());
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Model;

    fn fixture() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/datasets/planted.csv")
    }

    fn no_store() -> crate::cli::StoreArgs {
        crate::cli::StoreArgs {
            database_url: None,
            data_dir: PathBuf::from("/nonexistent/riskgate-data"),
        }
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
            positive_weight: Some(1),
            window: 1.0,
            settle_days: 0,
            promote_if_better: None,
            free_signs: false,
            from_db: false,
            repo: Vec::new(),
            store: no_store(),
        };
        assert_eq!(run(args).unwrap(), ExitCode::SUCCESS);
        let model = Model::from_json(&std::fs::read_to_string(&out).unwrap()).unwrap();
        assert_eq!(model.feature_names().collect::<Vec<_>>(), ["la", "exp"]);
        let command = model.provenance["command"].as_str().unwrap();
        assert!(command.contains("--features 'la,exp'"), "{command}");
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
        for chart in ["roc.svg", "calibration.svg"] {
            let svg = std::fs::read_to_string(report.join(chart)).unwrap();
            let mut reader = quick_xml::Reader::from_str(&svg);
            let mut polylines = 0;
            loop {
                match reader
                    .read_event()
                    .unwrap_or_else(|e| panic!("{chart}: {e}"))
                {
                    quick_xml::events::Event::Empty(e) if e.name().as_ref() == b"polyline" => {
                        polylines += 1
                    }
                    quick_xml::events::Event::Eof => break,
                    _ => {}
                }
            }
            assert!(polylines >= 1, "{chart}");
        }
    }

    fn args(out: &std::path::Path, features: &[&str], current: Option<PathBuf>) -> TrainArgs {
        TrainArgs {
            data: vec![fixture()],
            out: out.to_path_buf(),
            report: None,
            features: Some(features.iter().map(|s| s.to_string()).collect()),
            positive_weight: Some(1),
            window: 1.0,
            settle_days: 0,
            promote_if_better: current,
            free_signs: false,
            from_db: false,
            repo: Vec::new(),
            store: no_store(),
        }
    }

    #[test]
    fn promote_if_better_keeps_the_better_model() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.json");
        let weak = dir.path().join("weak.json");
        run(args(&good, &["la,exp,ndev"], None)).unwrap();
        run(args(&weak, &["nf"], None)).unwrap();
        let auc = |p: &PathBuf| {
            let m = Model::from_json(&std::fs::read_to_string(p).unwrap()).unwrap();
            m.metrics["holdout"][0]["metrics"]["auc"].as_f64().unwrap()
        };
        assert!(
            auc(&good) > auc(&weak) + 0.05,
            "{} vs {}",
            auc(&good),
            auc(&weak)
        );

        // A worse model is not promoted over the better one: the file is left as it was.
        let current = dir.path().join("current.json");
        std::fs::copy(&good, &current).unwrap();
        let before = std::fs::read_to_string(&current).unwrap();
        let code = run(args(&current, &["nf"], Some(current.clone()))).unwrap();
        assert_eq!(code, ExitCode::SUCCESS);
        assert_eq!(std::fs::read_to_string(&current).unwrap(), before);

        // A better one is.
        std::fs::copy(&weak, &current).unwrap();
        run(args(&current, &["la,exp,ndev"], Some(current.clone()))).unwrap();
        let now = Model::from_json(&std::fs::read_to_string(&current).unwrap()).unwrap();
        assert_eq!(
            now.feature_names().collect::<Vec<_>>(),
            ["la", "exp", "ndev"]
        );
    }

    #[test]
    fn features_split_outside_parentheses() {
        assert_eq!(
            split_features(&["la,ratio(la,nf),share(ld, la)".into(), "exp".into()]),
            ["la", "ratio(la,nf)", "share(ld, la)", "exp"]
        );
    }

    #[test]
    fn a_source_is_required_and_repo_needs_from_db() {
        use clap::Parser as _;
        let parse = |args: &[&str]| {
            crate::cli::Cli::try_parse_from(
                [&["riskgate", "train", "--out", "m.json"], args].concat(),
            )
        };
        let err = parse(&[]).unwrap_err().to_string();
        assert!(err.contains("--data") && err.contains("--from-db"), "{err}");
        assert!(parse(&["--repo", "o/r"]).is_err());
        let cli = parse(&["--from-db", "--repo", "o/r,o/s", "--repo", "o/t"]).unwrap();
        let crate::cli::Command::Train(parsed) = cli.command else {
            panic!("train")
        };
        assert!(parsed.from_db && parsed.data.is_empty());
        assert_eq!(parsed.repo, ["o/r", "o/s", "o/t"]);
        assert!(
            parse(&["--from-db", "--data", "x.csv"]).is_ok(),
            "both together"
        );

        let dir = tempfile::tempdir().unwrap();
        let mut args = args(&dir.path().join("m.json"), &["la"], None);
        args.data.clear();
        let err = crate::cli::one_line(&run(args).unwrap_err());
        assert!(err.starts_with("nothing to train on"), "{err}");
    }

    #[test]
    fn from_db_without_a_database_says_where_it_looked() {
        let dir = tempfile::tempdir().unwrap();
        let mut args = args(&dir.path().join("m.json"), &["la"], None);
        args.data.clear();
        args.from_db = true;
        args.store.data_dir = dir.path().join("data");
        let err = crate::cli::one_line(&run(args).unwrap_err());
        assert!(
            err.contains("no database at") && err.contains("riskgate.db"),
            "{err}"
        );
        assert!(!dir.path().join("data").exists(), "nothing is created");
        assert!(!dir.path().join("m.json").exists());
    }

    #[test]
    fn unreadable_data_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let args = TrainArgs {
            data: vec![dir.path().join("absent.csv")],
            out: dir.path().join("model.json"),
            report: None,
            features: None,
            positive_weight: Some(1),
            window: 1.0,
            settle_days: 0,
            promote_if_better: None,
            free_signs: false,
            from_db: false,
            repo: Vec::new(),
            store: no_store(),
        };
        let err = crate::cli::one_line(&run(args).unwrap_err());
        assert!(err.contains("absent.csv"), "{err}");
    }
}
