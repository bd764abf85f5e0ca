//! `update-all safety …`: what the safety net's units run (hidden; see
//! docs/safety.md). Each action is a call down into its module.

use crate::cli::{SafetyAction, SnapshotPhase};
use std::process::ExitCode;
use update_all_core::Scope;

pub fn run(scope: Scope, action: &SafetyAction) -> ExitCode {
    match action {
        SafetyAction::Snapshot { applies, phase } => snapshot(scope, *applies, *phase),
    }
}

/// `safety snapshot --applies | pre | post`.
fn snapshot(scope: Scope, applies: bool, phase: Option<SnapshotPhase>) -> ExitCode {
    // The backends come next (runner/src/snapshot/); until then no
    // backend applies and the units are skipped by their ExecCondition=.
    if applies {
        return ExitCode::from(1);
    }
    let run = crate::stats::open_for_reading(scope)
        .ok()
        .flatten()
        .and_then(|db| {
            crate::stats::current::run_of_unit(&db.conn, "update-all-snapshot-pre.service")
                .ok()
                .flatten()
        });
    tracing::info!(
        update_all_run = run,
        "snapshot {phase:?}: no snapshot backend: only per-plugin rollback is available"
    );
    ExitCode::SUCCESS
}
