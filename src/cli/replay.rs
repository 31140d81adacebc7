//! `riskgate replay`: sign a saved delivery the way GitHub does and send it to a running server.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::report::printable;
use anyhow::Context as _;

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// The X-GitHub-Event of the delivery (pull_request, check_run, …).
    #[arg(long)]
    pub event: String,
    /// The saved JSON body.
    #[arg(long)]
    pub payload: PathBuf,
    /// The server's webhook endpoint.
    #[arg(long, default_value = "http://127.0.0.1:3000/api/github/webhooks")]
    pub url: String,
    #[arg(long, env = "RISKGATE_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: String,
    /// The X-GitHub-Delivery id; a fresh one by default. Send the same id twice to test dedupe.
    #[arg(long)]
    pub delivery: Option<String>,
}

pub fn run(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let body = std::fs::read(&args.payload)
        .with_context(|| format!("reading {}", args.payload.display()))?;
    let signature = crate::github::webhook::sign(args.webhook_secret.as_bytes(), &body);
    let delivery = args
        .delivery
        .clone()
        .unwrap_or_else(|| format!("replay-{}-{}", std::process::id(), crate::time::now_ms()));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (status, text) = runtime.block_on(async {
        let response = reqwest::Client::new()
            .post(&args.url)
            .header("content-type", "application/json")
            .header("x-github-event", &args.event)
            .header("x-github-delivery", &delivery)
            .header("x-hub-signature-256", signature)
            .body(body)
            .send()
            .await
            .with_context(|| format!("sending to {}", args.url))?;
        let status = response.status();
        anyhow::Ok((status, response.text().await.unwrap_or_default()))
    })?;
    println!(
        "{} {} (delivery {delivery})",
        status.as_u16(),
        printable(text.trim())
    );
    Ok(if status.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
