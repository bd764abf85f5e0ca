//! `update-all safety …`: what the safety net's units run (hidden; see
//! docs/safety.md). Each action is a call down into its module.
//!
//! `snapshot --applies`: exit 0 when a snapshot backend applies, 1 when
//! none does or snapshots are off (the units' `ExecCondition=`: skipped,
//! not failed). `snapshot pre|post`: 0 taken (or nothing to take), 1 a
//! snapshot failed (said in the journal with what to do).

use crate::cli::{SafetyAction, SnapshotPhase};
use crate::snapshot::{self, Phase};
use std::process::ExitCode;
use update_all_core::Scope;

pub fn run(scope: Scope, action: &SafetyAction) -> ExitCode {
    match action {
        SafetyAction::Snapshot { applies: true, .. } => status(snapshot::unit::applies()),
        SafetyAction::Snapshot { phase, .. } => {
            let phase = match phase {
                Some(SnapshotPhase::Post) => Phase::Post,
                _ => Phase::Pre,
            };
            status(snapshot::unit::take(phase))
        }
        SafetyAction::Health => status(crate::health::settle::health(scope)),
        SafetyAction::BootCheck { pending: true } => status(crate::health::boot::pending(scope)),
        SafetyAction::BootCheck { pending: false } => status(crate::health::boot::check(scope)),
    }
}

fn status(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
