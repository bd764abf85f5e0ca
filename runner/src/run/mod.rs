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
//! | `only` | the units `--only` starts, in order |
//! | `exit` | the exit statuses, and the worse of two |

pub mod exit;
mod only;
pub mod parts;
pub mod preflight;
mod scope;
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
}
