//! What a signed webhook delivery becomes: parsed once, planned, and recorded with its jobs.
//! Kept apart from the HTTP handler so that the handler only turns the outcome into a reply.

use crate::github::events::{self, Event, PayloadError};
use crate::jobs::plan::{plan, Plan};
use crate::store::{NewDelivery, NewJob, Recorded, Store, StoreError};
use crate::time::now_ms;

use super::SignedDelivery;

/// A delivery understood and planned, not yet stored.
pub struct PlannedDelivery {
    pub delivery: NewDelivery,
    pub jobs: Vec<NewJob>,
    /// Why there is no job, when there is none.
    pub nothing: Option<String>,
}

impl PlannedDelivery {
    /// Parses the body once (the event and the `action` the delivery is stored with both come
    /// from that one parse) and plans its jobs. An error only for a body that is not JSON.
    pub fn plan(signed: SignedDelivery) -> Result<PlannedDelivery, PayloadError> {
        let SignedDelivery {
            event: event_name,
            delivery_id,
            body,
        } = signed;
        let value: serde_json::Value = serde_json::from_slice(&body)?;
        let action = value
            .get("action")
            .and_then(|a| a.as_str())
            .map(str::to_string);
        let event = events::parse_event_value(&event_name, value);
        let (jobs, nothing) = match plan(&event) {
            Plan::Queue(jobs) => (jobs, None),
            Plan::Nothing(why) => (Vec::new(), Some(why)),
        };
        Ok(PlannedDelivery {
            delivery: NewDelivery {
                id: delivery_id,
                event: event_name,
                action,
                repository: event_repository(&event),
                payload: String::from_utf8_lossy(&body).into_owned(),
            },
            jobs,
            nothing,
        })
    }

    /// Stores the delivery, all its jobs and the supersede of older heads: one transaction.
    pub async fn record(&self, store: &Store) -> Result<Recorded, StoreError> {
        store
            .record_delivery(&self.delivery, &self.jobs, now_ms())
            .await
    }
}

fn event_repository(event: &Event) -> Option<String> {
    use Event::*;
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
