//! One module per subcommand; each exposes `run(scope, &args) -> ExitCode`.

pub mod cancel;
pub mod check;
pub mod completions;
/// Shared by the query commands: the statistics database, errors said.
mod database;
pub mod history;
pub mod man;
// Test scaffolding, left out of release builds (see cli::Command).
#[cfg(debug_assertions)]
pub mod notify_test;
pub mod plan;
pub mod plugin_exec;
pub mod plugins;
pub mod reboot;
pub mod record;
pub mod resume;
pub mod retry;
pub mod rollback;
pub mod run;
pub mod safety;
pub mod schedule;
pub mod snapshots;
pub mod stats;
pub mod status;
