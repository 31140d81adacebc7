//! Pure change metrics: from a snapshot of a change and its history to named signals.

pub mod coverage;
