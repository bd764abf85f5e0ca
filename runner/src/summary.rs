//! What a finished run amounts to: shared by `run`, the recorder and the
//! notifications.

use serde::Serialize;
use std::time::Duration;

/// The outcome of one run of `update-all.target` (or of `--only` units).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RunSummary {
    /// Plugin names (not unit names) per outcome, sorted.
    pub succeeded: Vec<String>,
    pub failed: Vec<String>,
    pub skipped: Vec<String>,
    /// From the first unit's start to the last unit's end.
    pub duration: Duration,
}

impl RunSummary {
    pub fn any_failed(&self) -> bool {
        !self.failed.is_empty()
    }
}
