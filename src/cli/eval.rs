//! `riskgate eval`: metrics of a model on every row of a dataset, as one JSON object on stdout.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::model::file::load_model;
use crate::model::train::{evaluate, missing_features};

#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// Dataset CSV to evaluate on (all rows are used).
    #[arg(long, value_name = "FILE.csv")]
    pub data: PathBuf,
    /// The model file.
    #[arg(long, value_name = "model.json")]
    pub model: PathBuf,
}

pub fn run(args: EvalArgs) -> anyhow::Result<ExitCode> {
    let model = load_model(Some(&args.model))?;
    let dataset = super::train::read_dataset(&args.data)?;
    let missing = missing_features(&model, &dataset);
    if !missing.is_empty() {
        eprintln!(
            "riskgate: warning: {} has no column for {}; those signals score as an average change",
            args.data.display(),
            missing.join(", ")
        );
    }
    let metrics = evaluate(&model, &dataset);
    let mut text = serde_json::to_string_pretty(&metrics)?;
    text.push('\n');
    // A closed pipe (`riskgate eval … | head`) is not an error worth a panic.
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(e).context("writing to stdout")?
        }
        _ => {}
    }
    Ok(ExitCode::SUCCESS)
}
