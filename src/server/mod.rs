//! The App's HTTP side: webhook intake, health, readiness and metrics. Handlers stay thin:
//! verify, record ([`intake`]), answer; the worker does the work.
//!
//! What a client can make the server hold is bounded: headers must arrive within
//! [`HttpLimits::header_timeout`] and a body within [`HttpLimits::body_timeout`]; past
//! [`HttpLimits::max_requests`] requests in flight the answer is 503 at once; a webhook's
//! signature header is checked before its body is read, and a body is at most 25 MiB.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::Semaphore;

use crate::github::webhook;
use crate::model::file::ModelSource;
use crate::store::{Recorded, Store};
use crate::telemetry::Metrics;

mod auth;
mod clients;
mod fresh;

pub use auth::WrongTokens;
pub mod dashboard;
pub mod incidents;
pub mod intake;
mod serve;

use intake::{DeliveryWriter, PlannedDelivery};

pub use serve::serve;

/// GitHub caps deliveries at 25 MiB; anything larger is not GitHub's.
pub const BODY_LIMIT: usize = 25 * 1024 * 1024;

/// What one client can make the server wait for or hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// To send a request's headers; also how long a kept-alive connection may stay idle.
    pub header_timeout: Duration,
    /// To send a request's body.
    pub body_timeout: Duration,
    /// Requests handled at once (health, readiness and metrics aside); more get 503.
    pub max_requests: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(20),
            max_requests: 64,
        }
    }
}

impl HttpLimits {
    /// Open connections at once: room for every request in flight and for idle kept-alive
    /// connections; past it a new connection is closed at once.
    pub fn max_connections(&self) -> usize {
        self.max_requests.saturating_mul(4).max(256)
    }

    /// Open connections of one client address (an IPv6 one by its /64): a quarter of all, so
    /// that one client never holds them all.
    pub fn max_connections_per_client(&self) -> usize {
        self.max_connections() / 4
    }

    /// Requests in flight from one client address: half of all, so that one client never
    /// holds them all.
    pub fn max_requests_per_client(&self) -> usize {
        (self.max_requests / 2).max(1)
    }
}

pub struct AppState {
    pub store: Store,
    /// Records webhook deliveries, many to a transaction under load.
    pub deliveries: DeliveryWriter,
    pub webhook_secret: Vec<u8>,
    pub metrics: Arc<Metrics>,
    /// Wakes the workers when a job was queued.
    pub wake: Arc<tokio::sync::Notify>,
    /// The model scores are made with (the dashboard shows its curves).
    pub model: Arc<ModelSource>,
    /// Bearer token for `POST /api/incidents`; without one the endpoint refuses everything.
    pub api_token: Option<String>,
    /// Token for the dashboard; without one the dashboard is off.
    pub dashboard_token: Option<String>,
    pub links: crate::production::LinkSettings,
    pub limits: HttpLimits,
    /// Dashboard views built at once (each reads a repository's whole history).
    pub dashboard_views: Semaphore,
    /// Wrong dashboard and API tokens per client, to slow down guessing.
    pub wrong_tokens: auth::WrongTokens,
    /// The job counts `/metrics` shows, and whether `/readyz` reached the database: one read
    /// at a time, however many ask.
    pub job_counts: fresh::Fresh<BTreeMap<String, i64>>,
    pub database_reachable: fresh::Fresh<bool>,
}

/// Dashboard views built at once. One: a view of a large history takes a core and a gigabyte
/// or more while it is built, and the server must go on answering GitHub meanwhile.
pub const DASHBOARD_VIEWS_AT_ONCE: usize = 1;

pub fn router(state: Arc<AppState>) -> Router {
    let slots = Arc::new(RequestSlots {
        free: Semaphore::new(state.limits.max_requests.max(1)),
        per_client: clients::PerClient::new(state.limits.max_requests_per_client()),
        metrics: state.metrics.clone(),
    });
    let work = Router::new()
        .route("/api/github/webhooks", post(webhook_intake))
        .route("/api/incidents", post(incidents::post_incidents))
        .merge(dashboard::routes())
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(slots, limit_requests));
    // Health, readiness and metrics stay outside the limit: an operator sees a busy server
    // as busy, not as dead.
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .merge(work)
        .with_state(state)
}

fn reply(status: StatusCode, message: impl Into<String>) -> Response {
    (status, format!("{}\n", message.into())).into_response()
}

/// An answer given before the request's body was read: the connection is closed after it,
/// so the unread body is never waited for.
fn refuse(status: StatusCode, message: impl Into<String>) -> Response {
    let mut response = reply(status, message);
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
}

/// The `max_requests` slots, and the metrics that show them taken and refused.
struct RequestSlots {
    free: Semaphore,
    /// Half the slots at most for one client: a client that starts webhooks with any
    /// well-formed signature and never sends their bodies holds a slot each for the body
    /// timeout, and must not hold them all.
    per_client: clients::PerClient,
    metrics: Arc<Metrics>,
}

/// Past `max_requests` in flight, or half of them from one client, 503 at once rather than a
/// queue without bound.
async fn limit_requests(
    State(slots): State<Arc<RequestSlots>>,
    request: Request,
    next: Next,
) -> Response {
    // Requests that did not come through `serve` (none in use) have no client to count.
    let client_slot = match request.extensions().get::<clients::ClientAddr>() {
        Some(&client) => slots.per_client.take(client).map(Some),
        None => Some(None),
    };
    let slot = slots.free.try_acquire().ok();
    let (Some(_client_slot), Some(_slot)) = (client_slot, slot) else {
        slots.metrics.request_refused_busy();
        let mut response = refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many requests at once; try again shortly",
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    };
    let _in_flight = slots.metrics.request_started();
    next.run(request).await
}

/// Reads a body of at most `limit` bytes, all of it within `timeout`. The error is the answer
/// to give: 413 past the limit (said by `Content-Length` or found while reading), 408 for a
/// client too slow, 400 for a broken body.
pub(crate) async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, Response> {
    use http_body_util::BodyExt as _;
    let too_large = || {
        refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is over {} MiB", limit / (1024 * 1024)),
        )
    };
    let announced = header(headers, "content-length").and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let read = async {
        let mut body = body;
        let mut buffer = Vec::with_capacity(announced.unwrap_or(0) as usize);
        while let Some(frame) = body.frame().await {
            let frame = frame
                .map_err(|e| refuse(StatusCode::BAD_REQUEST, format!("reading the body: {e}")))?;
            if let Ok(data) = frame.into_data() {
                if buffer.len() + data.len() > limit {
                    return Err(too_large());
                }
                buffer.extend_from_slice(&data);
            }
        }
        Ok(Bytes::from(buffer))
    };
    match tokio::time::timeout(timeout, read).await {
        Ok(result) => result,
        Err(_) => Err(refuse(
            StatusCode::REQUEST_TIMEOUT,
            format!("the body did not arrive within {} s", timeout.as_secs_f64()),
        )),
    }
}

/// The longest `X-GitHub-Delivery` taken (GitHub's are 36-character GUIDs).
const MAX_DELIVERY_ID_BYTES: usize = 128;

/// A webhook delivery whose `X-Hub-Signature-256` matched its body.
///
/// Everything that needs no body is checked first (the signature header's form, the event
/// and delivery headers, the announced length), so a client that cannot sign gets its
/// answer without the server reading, let alone holding, what it sends.
pub struct SignedDelivery {
    pub event: String,
    pub delivery_id: String,
    pub body: Bytes,
}

impl FromRequest<Arc<AppState>> for SignedDelivery {
    type Rejection = Response;

    async fn from_request(request: Request, state: &Arc<AppState>) -> Result<Self, Response> {
        let (parts, body) = request.into_parts();
        let headers = &parts.headers;
        let signature =
            webhook::Signature::parse(header(headers, "x-hub-signature-256")).map_err(|e| {
                tracing::warn!(error = %e, "webhook refused");
                refuse(StatusCode::UNAUTHORIZED, e.to_string())
            })?;
        let (Some(event), Some(delivery_id)) = (
            header(headers, "x-github-event"),
            header(headers, "x-github-delivery"),
        ) else {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                "missing X-GitHub-Event or X-GitHub-Delivery header",
            ));
        };
        // The delivery id is the key deliveries are stored and indexed under: GitHub's are
        // GUIDs.
        if delivery_id.len() > MAX_DELIVERY_ID_BYTES {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                format!("X-GitHub-Delivery is longer than {MAX_DELIVERY_ID_BYTES} bytes"),
            ));
        }
        let (event, delivery_id) = (event.to_string(), delivery_id.to_string());
        let body = read_body(headers, body, BODY_LIMIT, state.limits.body_timeout).await?;
        if let Err(e) = signature.verify(&state.webhook_secret, &body) {
            tracing::warn!(error = %e, "webhook refused");
            return Err(reply(StatusCode::UNAUTHORIZED, e.to_string()));
        }
        Ok(SignedDelivery {
            event,
            delivery_id,
            body,
        })
    }
}

/// Records a signed delivery and answers; the worker does the rest.
async fn webhook_intake(State(state): State<Arc<AppState>>, signed: SignedDelivery) -> Response {
    let planned = match PlannedDelivery::plan(signed) {
        Ok(p) => p,
        Err(e) => return reply(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let delivery = &planned.delivery;
    state
        .metrics
        .delivery(crate::github::events::counted_as(&delivery.event));
    let span = tracing::info_span!("delivery", delivery = %delivery.id, event = %delivery.event);
    // Instrumented, not entered: a span entered across an await stays entered on the thread
    // while other tasks run there, and their logs would carry it.
    tracing::Instrument::instrument(record_and_answer(&state, planned), span).await
}

async fn record_and_answer(state: &AppState, planned: PlannedDelivery) -> Response {
    let recorded = match planned.record(&state.deliveries).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "could not store the delivery");
            // Nothing was stored and the sender is told so: GitHub lists the delivery as
            // failed, to be redelivered (by hand or through its API).
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
            let nothing = planned.nothing;
            tracing::info!(reason = nothing.as_deref().unwrap_or(""), "nothing to do");
            reply(
                StatusCode::OK,
                nothing.unwrap_or_else(|| "nothing to do".into()),
            )
        }
        Recorded::Queued {
            job_ids,
            superseded,
        } => {
            if superseded > 0 {
                tracing::info!(superseded, "older heads superseded");
            }
            tracing::info!(jobs = ?job_ids, "queued");
            state.wake.notify_waiters();
            let ids: Vec<String> = job_ids.iter().map(i64::to_string).collect();
            let noun = if ids.len() == 1 { "job" } else { "jobs" };
            reply(
                StatusCode::ACCEPTED,
                format!("queued {noun} {}", ids.join(", ")),
            )
        }
    }
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let reachable = state
        .database_reachable
        .get(|| async {
            state
                .store
                .ping()
                .await
                // The driver's error names hosts, roles and databases: it goes to the
                // operator's log, not to whoever asks.
                .inspect_err(
                    |e| tracing::warn!(error = %e, "readiness: the database is unreachable"),
                )
                .is_ok()
        })
        .await;
    if reachable {
        reply(StatusCode::OK, "ready")
    } else {
        reply(StatusCode::SERVICE_UNAVAILABLE, "database unreachable")
    }
}

async fn metrics_text(State(state): State<Arc<AppState>>) -> Response {
    let counts = state
        .job_counts
        .get(|| async { state.store.job_counts().await.unwrap_or_default() })
        .await;
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(&counts),
    )
        .into_response()
}
