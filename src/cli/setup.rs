//! `riskgate setup`: register the GitHub App from `app-manifest.yml` (GitHub's manifest flow).
//!
//! A local page posts the manifest to GitHub; GitHub sends the browser back with a one-time
//! code, which is exchanged for the App's id, private key and webhook secret. Those are written
//! to the data dir (owner-only) with an env file `riskgate serve` can start from.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

/// The manifest shipped with riskgate.
pub const MANIFEST: &str = include_str!("../../app-manifest.yml");

#[derive(Debug, clap::Args)]
pub struct SetupArgs {
    /// Where GitHub will reach `riskgate serve` (its webhooks go to URL/api/github/webhooks).
    #[arg(long)]
    pub public_url: String,
    /// Address of the local setup page.
    #[arg(long, env = "RISKGATE_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,
    /// GitHub's web address (GitHub Enterprise Server: your host).
    #[arg(
        long,
        env = "RISKGATE_GITHUB_URL",
        default_value = "https://github.com"
    )]
    pub github_url: String,
    #[arg(
        long,
        env = "RISKGATE_GITHUB_API_URL",
        default_value = "https://api.github.com"
    )]
    pub github_api_url: String,
    /// Register the App under this organization instead of your user account.
    #[arg(long)]
    pub org: Option<String>,
    #[arg(long, env = "RISKGATE_DATA_DIR", default_value = "./riskgate-data")]
    pub data_dir: PathBuf,
}

/// The manifest as JSON with this installation's addresses filled in.
pub fn manifest_json(public_url: &str, redirect_url: &str) -> anyhow::Result<serde_json::Value> {
    let mut m: serde_json::Value = serde_yaml::from_str(MANIFEST).context("app-manifest.yml")?;
    let public = public_url.trim_end_matches('/');
    m["url"] = public.into();
    m["hook_attributes"]["url"] = format!("{public}/api/github/webhooks").into();
    m["redirect_url"] = redirect_url.into();
    Ok(m)
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

struct Setup {
    args: SetupArgs,
    state: String,
    redirect_url: String,
    done: tokio::sync::Notify,
}

pub fn run(args: SetupArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let address = listener.local_addr()?;
        let state = format!("{:032x}", rand::random::<u128>());
        let setup = Arc::new(Setup {
            redirect_url: format!("http://{address}/setup/callback"),
            args,
            state,
            done: tokio::sync::Notify::new(),
        });
        let app = Router::new()
            .route("/", get(page))
            .route("/setup/callback", get(callback))
            .with_state(setup.clone());
        println!("riskgate setup on http://{address}/ — open it in a browser to register the App");
        let finished = setup.clone();
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { finished.done.notified().await })
            .await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

async fn page(State(setup): State<Arc<Setup>>) -> Response {
    let manifest = match manifest_json(&setup.args.public_url, &setup.redirect_url) {
        Ok(m) => m,
        Err(e) => {
            return Html(format!("<p>{}</p>", html_escape(&format!("{e:#}")))).into_response()
        }
    };
    let base = setup.args.github_url.trim_end_matches('/');
    let action = match &setup.args.org {
        Some(org) => format!(
            "{base}/organizations/{org}/settings/apps/new?state={}",
            setup.state
        ),
        None => format!("{base}/settings/apps/new?state={}", setup.state),
    };
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>riskgate setup</title></head><body>\
         <h1>Register riskgate as a GitHub App</h1>\
         <p>GitHub will create the App from this manifest and send you back here.</p>\
         <form method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"manifest\" value=\"{manifest}\">\
         <button type=\"submit\">Create the GitHub App</button></form>\
         <pre>{pretty}</pre></body></html>",
        action = html_escape(&action),
        manifest = html_escape(&manifest.to_string()),
        pretty = html_escape(&serde_json::to_string_pretty(&manifest).unwrap_or_default()),
    ))
    .into_response()
}

#[derive(Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
}

#[derive(Deserialize)]
struct Conversion {
    id: u64,
    #[serde(default)]
    slug: String,
    pem: String,
    webhook_secret: Option<String>,
    #[serde(default)]
    html_url: String,
}

async fn callback(State(setup): State<Arc<Setup>>, Query(q): Query<Callback>) -> Response {
    let (Some(code), Some(state)) = (q.code, q.state) else {
        return (axum::http::StatusCode::BAD_REQUEST, "missing code or state").into_response();
    };
    if state != setup.state {
        return (
            axum::http::StatusCode::BAD_REQUEST,
            "this callback is not from the setup this page started",
        )
            .into_response();
    }
    match convert(&setup.args, &code).await {
        Ok((conversion, env_file)) => {
            setup.done.notify_one();
            Html(format!(
                "<!doctype html><html><body><h1>riskgate is registered</h1>\
                 <p>App <a href=\"{url}\">{slug}</a> (id {id}). Its credentials are in <code>{env}</code>.</p>\
                 <p>Install it on your repositories, then start it with <code>set -a; . {env}; riskgate serve</code>.</p>\
                 </body></html>",
                url = html_escape(&conversion.html_url),
                slug = html_escape(&conversion.slug),
                id = conversion.id,
                env = html_escape(&env_file.display().to_string()),
            ))
            .into_response()
        }
        Err(e) => (
            axum::http::StatusCode::BAD_GATEWAY,
            format!("registering the App failed: {e:#}"),
        )
            .into_response(),
    }
}

/// Exchange the one-time code for the App's credentials and write them to the data dir.
async fn convert(args: &SetupArgs, code: &str) -> anyhow::Result<(Conversion, PathBuf)> {
    let url = format!(
        "{}/app-manifests/{code}/conversions",
        args.github_api_url.trim_end_matches('/')
    );
    let response = reqwest::Client::new()
        .post(&url)
        .header("accept", "application/vnd.github+json")
        .header("user-agent", "riskgate-setup")
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if !status.is_success() {
        anyhow::bail!(
            "GitHub answered {status}: {}",
            text.chars().take(300).collect::<String>()
        );
    }
    let conversion: Conversion =
        serde_json::from_str(&text).context("GitHub's answer to the manifest conversion")?;
    let env_file = write_credentials(&args.data_dir, &conversion)?;
    Ok((conversion, env_file))
}

/// Write `content` to `path` readable by its owner only, whatever was there: a new file
/// (created 0600, never through a symlink) renamed over it, so an existing file's looser
/// mode or a link planted in its place is replaced rather than written through.
fn write_private(path: &Path, content: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("riskgate");
    let fresh = path.with_file_name(format!(".{name}.{}.new", std::process::id()));
    let _ = std::fs::remove_file(&fresh);
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&fresh)?;
        f.write_all(content.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&fresh, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&fresh);
    }
    written.with_context(|| format!("writing {}", path.display()))
}

/// `value` as one word for a POSIX shell, whatever it holds: single-quoted, each `'` closed,
/// escaped and reopened. The env file is sourced (`set -a; . app.env`), so nothing in it may
/// run.
fn shell_quoted(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// The env file `serve` reads its App settings from, sourced by a shell.
fn credentials_env(app_id: u64, key_path: &Path, webhook_secret: Option<&str>) -> String {
    let mut env = format!(
        "RISKGATE_APP_ID={app_id}\nRISKGATE_PRIVATE_KEY_PATH={}\n",
        shell_quoted(&key_path.to_string_lossy())
    );
    if let Some(secret) = webhook_secret {
        env.push_str(&format!(
            "RISKGATE_WEBHOOK_SECRET={}\n",
            shell_quoted(secret)
        ));
    }
    env
}

fn write_credentials(data_dir: &Path, c: &Conversion) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let key = data_dir.join("app-private-key.pem");
    write_private(&key, &c.pem)?;
    let env_file = data_dir.join("app.env");
    let key_path = std::fs::canonicalize(&key).unwrap_or(key);
    let env = credentials_env(c.id, &key_path, c.webhook_secret.as_deref());
    write_private(&env_file, &env)?;
    Ok(env_file)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key replaces a world-readable file, or a link planted where it goes, with a file
    /// of its own that only its owner reads; the link's target is untouched.
    #[test]
    fn the_private_key_is_its_owner_s_alone_whatever_was_there() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("app-private-key.pem");
        std::fs::write(&key, "old").unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&key, "KEY").unwrap();
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            (std::fs::read_to_string(&key).unwrap(), mode),
            ("KEY".into(), 0o600)
        );

        let elsewhere = dir.path().join("elsewhere");
        std::fs::write(&elsewhere, "theirs").unwrap();
        std::fs::remove_file(&key).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &key).unwrap();
        write_private(&key, "KEY").unwrap();
        assert!(!std::fs::symlink_metadata(&key)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "theirs");
        assert_eq!(std::fs::read_to_string(&key).unwrap(), "KEY");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 2, "no temporary file left");
    }

    /// Sourced by a shell, the env file gives back each value as it was, and runs nothing in
    /// them.
    #[test]
    fn the_env_file_gives_back_its_values_and_runs_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mark = dir.path().join("ran");
        let secret = format!(
            "a'b$(touch {m})`touch {m}`\\ \"c;touch {m}",
            m = mark.display()
        );
        let key_path = dir.path().join("data dir/it's the key.pem");
        let env_file = dir.path().join("app.env");
        std::fs::write(&env_file, credentials_env(7, &key_path, Some(&secret))).unwrap();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(r#"set -a; . "$1"; printf '%s\n%s\n%s' "$RISKGATE_APP_ID" "$RISKGATE_PRIVATE_KEY_PATH" "$RISKGATE_WEBHOOK_SECRET""#)
            .arg("sh")
            .arg(&env_file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let expected = format!("7\n{}\n{secret}", key_path.display());
        assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
        assert!(!mark.exists(), "sourcing the env file ran a command");
    }

    #[test]
    fn manifest_asks_for_what_the_app_needs() {
        let m = manifest_json(
            "https://risk.example.com/",
            "http://127.0.0.1:3000/setup/callback",
        )
        .unwrap();
        assert_eq!(
            m["hook_attributes"]["url"],
            "https://risk.example.com/api/github/webhooks"
        );
        assert_eq!(m["redirect_url"], "http://127.0.0.1:3000/setup/callback");
        let p = &m["default_permissions"];
        assert_eq!(
            (p["checks"].as_str(), p["pull_requests"].as_str()),
            (Some("write"), Some("write"))
        );
        assert_eq!(
            (
                p["contents"].as_str(),
                p["metadata"].as_str(),
                p["actions"].as_str()
            ),
            (Some("read"), Some("read"), Some("read"))
        );
        let events: Vec<&str> = m["default_events"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e.as_str())
            .collect();
        for e in [
            "pull_request",
            "pull_request_review",
            "check_run",
            "check_suite",
            "workflow_run",
            "merge_group",
        ] {
            assert!(events.contains(&e), "{e}");
        }
        // Without it GitHub sends no merge_group events, and a required check stalls the queue.
        assert_eq!(p["merge_queues"].as_str(), Some("read"));
    }
}
