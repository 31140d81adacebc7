//! `riskgate score`: score one change of a local repository.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

use crate::engine::{self, CoverageInputs};
use crate::features::coverage::{report_text, CoverageReport, MAX_REPORT_BYTES};
use crate::input::read_capped;
use crate::mining::{self, AttributeSource, ChangeSpec};
use crate::model::file::load_scoring_model;
use crate::report::printable;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Markdown,
}

#[derive(Debug, clap::Args)]
pub struct ScoreArgs {
    /// Repository to score (any directory inside it).
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// Base revision; the change is merge-base(base, head)..head. Default: the default branch.
    #[arg(long)]
    pub base: Option<String>,
    /// Head revision. Default: HEAD.
    #[arg(long)]
    pub head: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Exit with status 1 when the probability is above P (0..1): a CI gate.
    #[arg(long, value_name = "P", value_parser = parse_probability)]
    pub fail_above: Option<f64>,
    /// Model file. Default: the model shipped with riskgate.
    #[arg(long, env = "RISKGATE_MODEL")]
    pub model: Option<PathBuf>,
    /// Coverage report (lcov or Cobertura XML) of the base revision.
    #[arg(long, value_name = "FILE")]
    pub coverage_base: Option<PathBuf>,
    /// Coverage report (lcov or Cobertura XML) of the head revision.
    #[arg(long, value_name = "FILE")]
    pub coverage_head: Option<PathBuf>,
    /// Also write the report as JSON to FILE, whatever --format prints.
    #[arg(long, value_name = "FILE")]
    pub json_out: Option<PathBuf>,
    /// Also write the report as markdown to FILE, whatever --format prints.
    #[arg(long, value_name = "FILE")]
    pub markdown_out: Option<PathBuf>,
    /// Where the attributes that make a file binary or text come from: as git reads them here
    /// (the work tree's `.gitattributes`), or the `.gitattributes` committed on the base
    /// branch, as the App reads them in its bare mirrors.
    #[arg(long, value_enum, default_value_t = AttributeSource::Repository)]
    pub attributes: AttributeSource,
}

fn parse_probability(s: &str) -> Result<f64, String> {
    let p: f64 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if (0.0..=1.0).contains(&p) {
        Ok(p)
    } else {
        Err(format!("{p} is not a probability between 0 and 1"))
    }
}

fn read_report(path: &Path) -> anyhow::Result<CoverageReport> {
    let bytes = read_capped(path, MAX_REPORT_BYTES, "coverage report")?;
    let text = report_text(&bytes);
    Ok(CoverageReport::parse(&path.display().to_string(), &text)?)
}

pub fn run(args: ScoreArgs) -> anyhow::Result<ExitCode> {
    let model = load_scoring_model(args.model.as_deref())?;
    let repo = mining::open_repository(&args.repo)?;
    let mined = mining::mine_change(
        &repo,
        &ChangeSpec {
            base: args.base.clone(),
            head: args.head.clone(),
            attributes: args.attributes,
            ..Default::default()
        },
    )?;
    let coverage = match (args.coverage_base.as_deref(), args.coverage_head.as_deref()) {
        (None, None) => None,
        (base, Some(head)) => Some(CoverageInputs {
            base: base.map(read_report).transpose()?.unwrap_or_default(),
            head: read_report(head)?,
        }),
        (Some(_), None) => {
            anyhow::bail!("--coverage-base needs --coverage-head: patch coverage is read from the head report")
        }
    };
    let report = engine::score_mined(&model, &mined, coverage.as_ref(), None)?;
    // The text report carries its warnings; JSON and markdown are read by programs, so a
    // person running them is told on stderr as well.
    if !matches!(args.format, Format::Text) {
        for w in &report.warnings {
            eprintln!("riskgate: warning: {}", printable(w));
        }
    }
    if report.change.empty {
        eprintln!(
            "riskgate: the change {}..{} is empty{}",
            &report.base[..10.min(report.base.len())],
            &report.head[..10.min(report.head.len())],
            if args.base.is_none() {
                " (head is on the default branch; pass --base HEAD~1 to score the last commit)"
            } else {
                ""
            }
        );
    }
    if let Some(path) = &args.json_out {
        std::fs::write(path, report.to_json() + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.markdown_out {
        std::fs::write(path, report.to_markdown())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let out = match args.format {
        Format::Text => report.to_text(),
        Format::Json => report.to_json() + "\n",
        Format::Markdown => report.to_markdown(),
    };
    print!("{out}");
    match args.fail_above {
        Some(p) if report.probability > p => {
            eprintln!(
                "riskgate: probability {:.3} is above {p}",
                report.probability
            );
            Ok(ExitCode::from(1))
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}
