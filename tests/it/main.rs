//! Integration tests: real git repositories built in temp dirs, the real binary.

mod app;
mod cli;
mod fromdb;
mod mine;
mod model;
mod signals;
mod support;
