//! The read-only dashboard of `riskgate serve`: per repository, the risk of recent pull
//! requests, release health and the current model's ROC and calibration.

pub mod page;
pub mod view;
