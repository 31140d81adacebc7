use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct ScoreArgs {}

pub fn run(_args: ScoreArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`riskgate score` is not available in this build")
}
