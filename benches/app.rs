//! Benchmarks of the App, run with `cargo bench --bench app`: the App built in this process as
//! `serve` builds it (PostgreSQL from `RISKGATE_TEST_DATABASE_URL`, see scripts/test-db.sh).
//!
//! 1. Webhook intake: signed `installation` deliveries (each stores the delivery and a job) sent
//!    by 16 concurrent clients over loopback; deliveries per second and latency percentiles.
//! 2. End to end: a `pull_request.opened` delivery to the completed check run, against a fake
//!    GitHub, on a repository of `BENCH_E2E_REPO` (default: this repository's own history).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use riskgate::app::App;
use riskgate::cli::serve::ServeArgs;

use serde_json::{json, Value};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SECRET: &str = "bench-webhook-secret";

/// The App on an ephemeral port of this process; stopped when dropped.
struct Server(Option<tokio::sync::oneshot::Sender<()>>, String);

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.0.take() {
            let _ = stop.send(());
        }
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

async fn serve(db_url: &str, github: &str, data: &Path, workers: &str) -> Server {
    let key = std::fs::read_to_string(root().join("fixtures/github/test-app-key.pem")).unwrap();
    let flags = [
        "serve".to_string(),
        "--app-id=1".into(),
        format!("--private-key={key}"),
        format!("--webhook-secret={SECRET}"),
        format!("--database-url={db_url}"),
        format!("--github-api-url={github}"),
        format!("--data-dir={}", data.display()),
        format!("--git-url=file://{}", data.join("git").display()),
        format!("--workers={workers}"),
    ];
    let settings = ServeArgs::from_flags(flags).unwrap().settings().unwrap();
    let app = App::build(settings).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.serve(listener, async {
        let _ = stopped.await;
    }));
    Server(Some(stop), base)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

async fn intake(label: &str, db_url: &str) {
    let data = tempfile::tempdir().unwrap();
    let server = serve(db_url, "http://127.0.0.1:9", data.path(), "1").await;
    let body = std::fs::read(root().join("fixtures/github/installation.created.json")).unwrap();
    let signature = riskgate::github::webhook::sign(SECRET.as_bytes(), &body);
    let url = format!("{}/api/github/webhooks", server.1);
    let total = 4_000usize;
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let clients = 16usize;
    let client = reqwest::Client::new();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (client, url, body, signature) =
            (client.clone(), url.clone(), body.clone(), signature.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            for i in (c..total).step_by(clients) {
                let t = Instant::now();
                let r = client
                    .post(&url)
                    .header("x-github-event", "installation")
                    .header("x-github-delivery", format!("bench-{run}-{i}"))
                    .header("x-hub-signature-256", &signature)
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status().as_u16(), 202);
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed();
    all.sort();
    println!(
        "| intake, {label} | {total} deliveries, {clients} clients | {:.0}/s | p50 {:.1} ms | p99 {:.1} ms |",
        total as f64 / elapsed.as_secs_f64(),
        percentile(&all, 0.5).as_secs_f64() * 1e3,
        percentile(&all, 0.99).as_secs_f64() * 1e3
    );
}

async fn fake_github() -> MockServer {
    let gh = MockServer::start().await;
    let repo = "/repos/Codertocat/Hello-World";
    let ok = |v: Value| ResponseTemplate::new(200).set_body_json(v);
    Mock::given(method("POST"))
        .and(path("/app/installations/1/access_tokens"))
        .respond_with(ok(
            json!({"token": "t", "expires_at": "2099-01-01T00:00:00Z"}),
        ))
        .mount(&gh)
        .await;
    Mock::given(method("GET"))
        .and(path("/app"))
        .respond_with(ok(json!({"id": 1, "slug": "riskgate"})))
        .mount(&gh)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{repo}/check-runs")))
        .respond_with(ok(json!({"id": 1})))
        .mount(&gh)
        .await;
    Mock::given(method("PATCH"))
        .and(path(format!("{repo}/check-runs/1")))
        .respond_with(ok(json!({"id": 1})))
        .mount(&gh)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(r"/(comments|reviews)$"))
        .respond_with(ok(json!([])))
        .mount(&gh)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(r"/comments$"))
        .respond_with(ok(json!({"id": 2})))
        .mount(&gh)
        .await;
    gh
}

async fn end_to_end(label: &str, source: &Path, base: &str, head: &str) {
    let gh = fake_github().await;
    let data = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", data.path().join("riskgate.db").display());
    // A bare copy with the PR ref GitHub would have, where `RISKGATE_GIT_URL` points.
    let bare = data.path().join("git/Codertocat/Hello-World.git");
    let run = |dir: &Path, args: &[&str]| {
        let ok = Command::new("git")
            .args(args)
            .current_dir(dir)
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?}");
    };
    run(
        data.path(),
        &[
            "clone",
            "-q",
            "--bare",
            "--no-local",
            source.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
    let sha = |rev: &str| {
        let out = Command::new("git")
            .args(["rev-parse", rev])
            .current_dir(source)
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let (base_sha, head_sha) = (sha(base), sha(head));
    run(&bare, &["update-ref", "refs/heads/bench-base", &base_sha]);
    run(&bare, &["update-ref", "refs/pull/1/head", &head_sha]);
    let server = serve(&db, &gh.uri(), data.path(), "1").await;
    let mut payload: Value = serde_json::from_slice(
        &std::fs::read(root().join("fixtures/github/pull_request.opened.json")).unwrap(),
    )
    .unwrap();
    payload["number"] = json!(1);
    payload["pull_request"]["number"] = json!(1);
    payload["pull_request"]["head"]["sha"] = json!(head_sha);
    payload["pull_request"]["base"]["ref"] = json!("bench-base");
    payload["pull_request"]["labels"] = json!([]);
    let body = serde_json::to_vec(&payload).unwrap();
    let signature = riskgate::github::webhook::sign(SECRET.as_bytes(), &body);
    let client = reqwest::Client::new();
    for (round, delivery) in ["cold", "warm"].iter().enumerate() {
        let started = Instant::now();
        let r = client
            .post(format!("{}/api/github/webhooks", server.1))
            .header("x-github-event", "pull_request")
            .header("x-github-delivery", format!("e2e-{round}"))
            .header("x-hub-signature-256", &signature)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 202);
        loop {
            let done = gh
                .received_requests()
                .await
                .unwrap_or_default()
                .iter()
                .filter(|r| r.method.as_str() == "PATCH")
                .filter(|r| {
                    serde_json::from_slice::<Value>(&r.body)
                        .map(|b| b["status"] == "completed")
                        .unwrap_or(false)
                })
                .count();
            if done > round {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(900),
                "no completed check run"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        println!(
            "| end to end, {label}, {delivery} mirror | {base}..{head} | {:.2} s | | |",
            started.elapsed().as_secs_f64()
        );
    }
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for a listing; there is nothing to list.
    }
    println!("| case | load | throughput / time | p50 | p99 |\n|---|---|---:|---:|---:|");
    let dir = tempfile::tempdir().unwrap();
    intake(
        "SQLite",
        &format!("sqlite://{}", dir.path().join("intake.db").display()),
    )
    .await;
    match std::env::var("RISKGATE_TEST_DATABASE_URL") {
        Ok(url) => intake("PostgreSQL", &url).await,
        Err(_) => {
            println!("| intake, PostgreSQL | skipped: RISKGATE_TEST_DATABASE_URL unset | | | |")
        }
    }
    let repo = std::env::var("BENCH_E2E_REPO")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root());
    let base = std::env::var("BENCH_E2E_BASE").unwrap_or_else(|_| "HEAD~10".into());
    let head = std::env::var("BENCH_E2E_HEAD").unwrap_or_else(|_| "HEAD".into());
    end_to_end(&repo.display().to_string(), &repo, &base, &head).await;
}
