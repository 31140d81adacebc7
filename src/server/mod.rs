//! The App's HTTP side: webhook intake, health, readiness and metrics. Handlers stay thin:
//! verify, store, answer; the worker does the work.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::github::{events, webhook};
use crate::jobs::plan::{plan, Plan, JOB_SCORE};
use crate::store::{NewDelivery, Recorded, Store};

mod auth;
pub mod dashboard;
pub mod incidents;
pub mod metrics;

/// GitHub caps deliveries at 25 MiB; anything larger is not GitHub's.
pub const BODY_LIMIT: usize = 25 * 1024 * 1024;

pub struct AppState {
    pub store: Store,
    pub webhook_secret: Vec<u8>,
    pub metrics: Arc<metrics::Metrics>,
    /// Wakes the workers when a job was queued.
    pub wake: Arc<tokio::sync::Notify>,
    /// The model scores are made with (the dashboard shows its curves).
    pub model: Arc<crate::engine::ModelSource>,
    /// Bearer token for `POST /api/incidents`; without one the endpoint refuses everything.
    pub api_token: Option<String>,
    /// Token for the dashboard; without one the dashboard is off.
    pub dashboard_token: Option<String>,
    pub links: crate::production::LinkSettings,
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/api/github/webhooks", post(webhook_intake))
        .route("/api/incidents", post(incidents::post_incidents))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .merge(dashboard::routes())
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn reply(status: StatusCode, message: impl Into<String>) -> Response {
    (status, format!("{}\n", message.into())).into_response()
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
}

async fn webhook_intake(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // The signature is checked on the raw bytes before anything reads them.
    if let Err(e) = webhook::verify_signature(
        &state.webhook_secret,
        &body,
        header(&headers, "x-hub-signature-256"),
    ) {
        tracing::warn!(error = %e, "webhook refused");
        return reply(StatusCode::UNAUTHORIZED, e.to_string());
    }
    let (Some(event_name), Some(delivery_id)) = (
        header(&headers, "x-github-event"),
        header(&headers, "x-github-delivery"),
    ) else {
        return reply(
            StatusCode::BAD_REQUEST,
            "missing X-GitHub-Event or X-GitHub-Delivery header",
        );
    };
    let event = match events::parse_event(event_name, &body) {
        Ok(e) => e,
        Err(e) => return reply(StatusCode::BAD_REQUEST, e.to_string()),
    };
    state.metrics.delivery(event_name);
    let span = tracing::info_span!("delivery", delivery = delivery_id, event = event_name);
    let _guard = span.enter();
    let action = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("action").and_then(|a| a.as_str()).map(str::to_string));
    let repository = event_repository(&event);
    let delivery = NewDelivery {
        id: delivery_id.to_string(),
        event: event_name.to_string(),
        action,
        repository: repository.clone(),
        payload: String::from_utf8_lossy(&body).into_owned(),
    };
    let (jobs, nothing) = match plan(&event) {
        Plan::Queue(jobs) => (jobs, None),
        Plan::Nothing(why) => (Vec::new(), Some(why)),
    };
    let now = now_ms();
    let recorded = match state
        .store
        .record_delivery(&delivery, jobs.first(), now)
        .await
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "could not store the delivery");
            // GitHub redelivers on 5xx; nothing is lost.
            return reply(
                StatusCode::SERVICE_UNAVAILABLE,
                "could not store the delivery; try again",
            );
        }
    };
    match recorded {
        Recorded::Duplicate => {
            tracing::info!("repeated delivery acknowledged");
            reply(StatusCode::OK, "already received")
        }
        Recorded::Stored => {
            tracing::info!(reason = nothing.as_deref().unwrap_or(""), "nothing to do");
            reply(
                StatusCode::OK,
                nothing.unwrap_or_else(|| "nothing to do".into()),
            )
        }
        Recorded::Queued { job_id } => {
            for extra in jobs.iter().skip(1) {
                if let Err(e) = state.store.enqueue_job(extra, now).await {
                    tracing::error!(error = %e, "could not queue a further job of the delivery");
                }
            }
            for job in jobs.iter().filter(|j| j.kind == JOB_SCORE) {
                if let (Some(repo), Some(pr), Some(head)) =
                    (&job.repository, job.pr_number, &job.head_sha)
                {
                    if let Ok(n) = state.store.supersede_older(repo, pr, head, now).await {
                        if n > 0 {
                            tracing::info!(superseded = n, repository = %repo, pr, "older heads superseded");
                        }
                    }
                }
            }
            tracing::info!(job_id, jobs = jobs.len(), "queued");
            state.wake.notify_waiters();
            reply(StatusCode::ACCEPTED, format!("queued job {job_id}"))
        }
    }
}

fn event_repository(event: &events::Event) -> Option<String> {
    use events::Event::*;
    match event {
        PullRequest { repo, .. }
        | PullRequestReview { repo, .. }
        | CheckRun { repo, .. }
        | CheckSuite { repo, .. }
        | WorkflowRun { repo, .. }
        | MergeGroup { repo, .. }
        | Deployment { repo, .. }
        | PullRequestClosed { repo, .. }
        | Issue { repo, .. } => Some(repo.full_name.clone()),
        _ => None,
    }
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    match state.store.ping().await {
        Ok(()) => reply(StatusCode::OK, "ready"),
        Err(e) => reply(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("database unreachable: {e}"),
        ),
    }
}

async fn metrics_text(State(state): State<Arc<AppState>>) -> Response {
    let counts = state.store.job_counts().await.unwrap_or_default();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(&counts),
    )
        .into_response()
}
