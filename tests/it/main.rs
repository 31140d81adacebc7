//! Integration tests: real git repositories built in temp dirs, the real binary.

mod app;
mod architecture;
mod cli;
mod dashboard;
mod fromdb;
mod hardening_github;
mod hardening_intake;
mod hardening_queue;
mod harness;
mod mine;
mod model;
mod production;
mod real_history;
mod signals;
mod support;
