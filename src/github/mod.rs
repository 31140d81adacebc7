//! Everything that speaks GitHub: webhook signatures and event payloads (pure), App
//! authentication and the REST client (async, octocrab), and the rendering of a score as a check
//! run and a sticky comment (pure).

pub mod events;
pub mod webhook;

pub use events::{parse_event, Event, PayloadError, RepoRef};
pub use webhook::{sign, verify_signature, SignatureError};
