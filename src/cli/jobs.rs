//! `riskgate jobs`: the queue as an operator sees it, parked jobs with their errors.

use std::process::ExitCode;
use std::str::FromStr;

use anyhow::Context as _;

use crate::report::printable;
use crate::store::{JobStatus, Store};

#[derive(Debug, clap::Args)]
pub struct JobsArgs {
    /// Only jobs in this status (queued, running, done, parked, superseded).
    #[arg(long)]
    pub status: Option<String>,
    #[arg(long, default_value_t = 50)]
    pub limit: i64,
    /// Put a parked job back in the queue.
    #[arg(long, value_name = "JOB_ID")]
    pub retry: Option<i64>,
    #[command(flatten)]
    pub store: super::StoreArgs,
}

pub fn run(args: JobsArgs) -> anyhow::Result<ExitCode> {
    let status = args
        .status
        .as_deref()
        .map(JobStatus::from_str)
        .transpose()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let url = args.store.url();
        let store = Store::connect(&url)
            .await
            .context("opening the job store")?;
        if let Some(id) = args.retry {
            if store.unpark_job(id, crate::time::now_ms()).await? {
                println!("job {id} queued again");
                return Ok(ExitCode::SUCCESS);
            }
            anyhow::bail!("job {id} is not parked");
        }
        let jobs = store.list_jobs(status, args.limit).await?;
        println!(
            "{:>6}  {:<10}  {:<20}  {:<28}  {:>4}  {:>8}  error",
            "id", "status", "kind", "repository#pr", "pr", "attempts"
        );
        for j in &jobs {
            let target = match (&j.repository, j.pr_number) {
                (Some(r), Some(n)) => format!("{r}#{n}"),
                (Some(r), None) => r.clone(),
                _ => String::new(),
            };
            println!(
                "{:>6}  {:<10}  {:<20}  {:<28}  {:>4}  {:>8}  {}",
                j.id,
                j.status.as_str(),
                j.kind,
                printable(&target),
                j.pr_number.map(|n| n.to_string()).unwrap_or_default(),
                j.attempts,
                printable(j.last_error.as_deref().unwrap_or(""))
            );
        }
        Ok(ExitCode::SUCCESS)
    })
}
