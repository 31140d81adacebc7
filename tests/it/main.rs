//! Every integration test, in one binary: real git repositories built in temp dirs, SQLite and
//! PostgreSQL for real, the App on an ephemeral port, GitHub faked over HTTP.

mod action;
mod app;
mod architecture;
mod cli;
mod dashboard;
mod fake_github;
mod fromdb;
mod fuzz;
mod github;
mod hardening_github;
mod hardening_intake;
mod hardening_queue;
mod harness;
mod identity;
mod mine;
mod model;
mod production;
mod real_history;
mod review;
mod settings;
mod signals;
mod store;
mod support;
mod variants;
