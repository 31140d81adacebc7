//! riskgate: deploy-risk scoring of a change from its git history.
//!
//! The pure core (`features`, `labels`, `model`) does no I/O; `mining` holds all git2 code.

pub mod cli;
pub mod config;
pub mod features;
pub mod labels;
pub mod mining;
pub mod model;
pub mod report;
