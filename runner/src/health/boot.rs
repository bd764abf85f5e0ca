//! `update-all safety boot-check [--pending]`, what
//! `update-all-boot-check.service` runs before `boot-complete.target`:
//! at the boot after a run that asked for a reboot, the same checks as
//! the health unit's, once (no stability window). A boot counter
//! (`safety.boot_check_attempts`, kept in the statistics) stops it from
//! checking the same run at every boot for ever: each boot counts once,
//! and a healthy boot ends it.

use super::settle::{checked_round, open, verdict};
use super::Subject;
use crate::stats::health::BootResult;
use crate::stats::store::boot_id;
use crate::stats::{self, now_us, Db, RunId};
use crate::systemd::Bus;
use update_all_core::Scope;

/// The run this boot's check is for, if one waits (see
/// [`Db::pending_boot_check`]); none with `safety.rollback: off`, which
/// turns the checks off.
fn pending_run(scope: Scope, db: &Db) -> Option<RunId> {
    let safety = crate::config::load(scope).safety;
    if !safety.health_checks() {
        return None;
    }
    db.pending_boot_check(&boot_id(), safety.boot_check_attempts)
        .map_err(|e| tracing::warn!("cannot look for a run to check at boot: {e}"))
        .ok()
        .flatten()
}

/// `--pending` (the unit's `ExecCondition=`): whether a run waits for
/// this boot's check.
pub fn pending(scope: Scope) -> bool {
    let Some(db) = stats::open_for_reading(scope)
        .map_err(|e| tracing::warn!("{e}"))
        .ok()
        .flatten()
    else {
        return false;
    };
    let run = pending_run(scope, &db);
    match run {
        Some(run) => tracing::info!(
            update_all_run = run,
            "run {run} asked for this reboot: checking the machine's health"
        ),
        None => tracing::debug!("no run waits for a boot check"),
    }
    run.is_some()
}

/// Checks the run that waits for this boot's check, once; whether the
/// machine is healthy (also when no run waits).
pub fn check(scope: Scope) -> bool {
    let Some(db) = open(scope) else {
        return true;
    };
    let Some(run) = pending_run(scope, &db) else {
        tracing::info!("no run waits for a boot check");
        return true;
    };
    if let Err(e) = db.count_boot_attempt(run, &boot_id(), now_us()) {
        tracing::warn!(update_all_run = run, "cannot count the boot check: {e}");
    }
    let subject = Subject::of_run(scope, Some(&db), Some(run));
    // Recorded as the run's next round: its last round is what a rollback
    // names as its reason.
    let recorded_as = db.last_health_round(run).unwrap_or(0) + 1;
    let healthy = match zbus::block_on(Bus::connect(scope)) {
        Ok(bus) => {
            let checks = checked_round(&bus, &subject, Some(&db), 0, recorded_as);
            verdict(Some(run), &[checks])
        }
        Err(e) => {
            tracing::error!(update_all_run = run, "health check systemd failed: {e}");
            false
        }
    };
    let result = if healthy {
        BootResult::Healthy
    } else {
        BootResult::Unhealthy
    };
    if let Err(e) = db.set_boot_result(run, result) {
        tracing::warn!(update_all_run = run, "cannot record the boot check: {e}");
    }
    healthy
}
