//! riskgate: deploy-risk scoring of a change from its git history.
//!
//! The pure core (`features`, `labels`, `model`) does no I/O, save `model::file`, which reads
//! and writes model files; `mining` holds all git2 code.

pub mod app;
pub mod cli;
pub mod config;
pub mod engine;
pub mod features;
pub mod github;
pub mod health;
pub mod input;
pub mod jobs;
pub mod labels;
pub mod mining;
pub mod model;
pub mod names;
pub mod production;
pub mod report;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod time;
