//! `POST /api/incidents`: incidents from an incident tool or a script, behind a bearer token.
//! The body is one incident object, a list of them, or `{"incidents": [...]}`; see the README
//! for the fields. All or nothing: a bad record refuses the request, naming the field.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::json;

use super::auth::{bearer, token_matches};
use super::clients::ClientAddr;
use super::{read_body, AppState, BODY_LIMIT};
use crate::labels::incident_input::incidents_from_json;
use crate::production;
use crate::store::IncidentWrite;
use crate::time::now_ms;

fn error(status: StatusCode, body: serde_json::Value) -> Response {
    (status, Json(body)).into_response()
}

pub(crate) async fn post_incidents(
    State(state): State<Arc<AppState>>,
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(expected) = state.api_token.as_deref() else {
        return error(
            StatusCode::NOT_FOUND,
            json!({"error": "the incidents API is off: set RISKGATE_API_TOKEN"}),
        );
    };
    let client = client.map(|Extension(c)| c);
    let now_secs = now_ms() / 1000;
    if let Some(wait) = state.wrong_tokens.refused_for(client, now_secs) {
        let mut r = error(
            StatusCode::TOO_MANY_REQUESTS,
            json!({"error": format!("too many wrong tokens from this address; try again in {wait} s")}),
        );
        r.headers_mut().insert(RETRY_AFTER, HeaderValue::from(wait));
        return r;
    }
    match bearer(&headers) {
        Some(t) if token_matches(expected, t) => {}
        presented => {
            if presented.is_some() {
                state
                    .wrong_tokens
                    .record(client, "the incidents API", now_secs);
            }
            return error(
                StatusCode::UNAUTHORIZED,
                json!({"error": "missing or wrong bearer token"}),
            );
        }
    }
    // Read only once the token matched: a stranger never makes the server hold a body.
    let body = match read_body(&headers, body, BODY_LIMIT, state.limits.body_timeout).await {
        Ok(body) => body,
        Err(refusal) => return refusal,
    };
    let text = match std::str::from_utf8(&body) {
        Ok(t) => t,
        Err(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                json!({"error": "body: not UTF-8", "field": "body"}),
            )
        }
    };
    let incidents = match incidents_from_json(text, "api") {
        Ok(list) => list,
        Err(errors) => {
            let first = &errors[0];
            return error(
                StatusCode::BAD_REQUEST,
                json!({
                    "error": if errors.len() == 1 && first.record <= 1 { first.error.to_string() } else { first.to_string() },
                    "field": first.error.field,
                    "record": first.record,
                    "errors": errors.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
                }),
            );
        }
    };
    let now = now_ms();
    let writes = match production::record_incidents(
        &state.store,
        &incidents,
        None,
        state.links,
        now,
    )
    .await
    {
        Ok(w) => w,
        Err(e) => {
            tracing::error!(error = %e, "could not record incidents");
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"error": "could not store the incidents; try again (each is recorded once, however often it is sent)"}),
            );
        }
    };
    let created = writes.contains(&IncidentWrite::Created);
    let mut answered = Vec::with_capacity(incidents.len());
    for (incident, write) in incidents.iter().zip(writes) {
        let links = match state.store.links_of_incident(&incident.id).await {
            Ok(links) => links
                .into_iter()
                .map(|l| {
                    json!({"repository": l.repository, "pr_number": l.pr_number,
                           "reason": l.reason.as_str(), "why": l.why})
                })
                .collect::<Vec<_>>(),
            Err(_) => Vec::new(),
        };
        answered.push(json!({
            "id": incident.id,
            "status": match write {
                IncidentWrite::Created => "created",
                IncidentWrite::Updated => "updated",
                IncidentWrite::Unchanged => "unchanged",
            },
            "links": links,
        }));
    }
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    (status, Json(json!({"incidents": answered}))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_header() {
        let mut h = HeaderMap::new();
        h.insert("authorization", "Bearer abc ".parse().unwrap());
        assert_eq!(bearer(&h), Some("abc"));
        h.insert("authorization", "Basic abc".parse().unwrap());
        assert_eq!(bearer(&h), None);
    }
}
