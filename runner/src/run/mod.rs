//! Orchestration of a run: the parts one `update-all run` covers (the
//! system's manager, then logged-in users'), each checked against its
//! pre-flight conditions before it is started and watched (`watch`).
//!
//! | module | holds |
//! | --- | --- |
//! | `parts` | which managers an invocation covers, in order; the entry |
//! | `preflight` | the configuration's conditions (power, network) |
//! | `users` | a user's part, run as that user |
//! | `scope` | one manager's run here: start (or follow), watch, announce |
//! | `only` | the units `--only` or a retry starts, in order |
//! | `exit` | the exit statuses, and the worse of two |

pub mod exit;
pub mod only;
pub mod parts;
pub mod preflight;
pub mod scope;
pub mod users;

/// What `update-all run` was asked for, as far as running goes (the
/// command line's `--dry-run` never gets here).
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Run even when a pre-flight condition says to skip.
    pub force: bool,
    /// Started by update-all.service: a skip is the timer's, and logged-in
    /// users' parts may follow the system's.
    pub scheduled: bool,
    /// Only these plugins' units (with their download phase).
    pub only: Vec<String>,
    /// JSON lines instead of the table.
    pub json: bool,
    /// Check first and order the run by the dynamic mutexes.
    pub check: bool,
    /// `update-all retry`: these units instead of the target or `only`.
    pub retry: Option<Retry>,
}

/// A run that takes up what failed in an earlier one (`update-all retry`).
#[derive(Clone, Debug)]
pub struct Retry {
    /// The run taken up: the new run's record follows it.
    pub follows: crate::stats::RunId,
    /// Its units to start (see `only::to_retry`).
    pub units: Vec<String>,
    /// How the new run takes it up: a retry, or a resume of a run that a
    /// crash or reboot cut short (`update-all resume`).
    pub kind: crate::stats::request::Kind,
}
