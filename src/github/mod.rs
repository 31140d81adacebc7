//! Everything that speaks GitHub: webhook signatures and event payloads (pure), App
//! authentication and the REST client (async, octocrab), and the rendering of a score as a check
//! run and a sticky comment (pure).

pub mod auth;
pub mod client;
pub mod events;
pub mod render;
pub mod webhook;

/// The name of riskgate's check run.
pub const CHECK_NAME: &str = "riskgate";

pub use auth::{app_jwt, AppCredentials, AuthError, InstallationTokens};
pub use client::{
    Annotation, ApiCallCounter, Artifact, CheckAction, CheckRunId, CheckRunUpdate, GitHubApi,
    GitHubError, IssueComment, RepoId, RetryPolicy, Review, ReviewComment,
};
pub use events::{parse_event, Event, PayloadError, RepoRef};
pub use webhook::{sign, verify_signature, SignatureError};
