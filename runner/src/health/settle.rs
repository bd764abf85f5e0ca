//! `update-all safety health`, what the health unit runs after a run's
//! updates: every check once, then, after the stability window
//! (`safety.health.settle`), once more, so that a service that dies a few
//! seconds after its update restarted it is caught. A failure in the first
//! round ends it at once: the window would only delay the rollback.

use super::{record, round, Check, Subject};
use crate::stats::{self, Db, RunId};
use crate::systemd::Bus;
use std::time::Instant;
use update_all_core::names::HEALTH;
use update_all_core::Scope;

/// Runs the health checks of the run the health unit belongs to (of
/// every plugin when no run is going on); whether it is healthy.
pub fn health(scope: Scope) -> bool {
    let settle = crate::config::load(scope).safety.health.settle;
    let db = open(scope);
    let run = db.as_ref().and_then(|db| {
        stats::current::run_of_unit(&db.conn, HEALTH)
            .map_err(|e| tracing::warn!("cannot find the run to check: {e}"))
            .ok()
            .flatten()
    });
    if run.is_none() {
        tracing::info!("no run is going on: checking every plugin's health entries");
    }
    let subject = Subject::of_run(scope, db.as_ref(), run);
    let bus = match zbus::block_on(Bus::connect(scope)) {
        Ok(bus) => bus,
        Err(e) => {
            tracing::error!(update_all_run = run, "health check systemd failed: {e}");
            return false;
        }
    };
    let first = checked_round(&bus, &subject, db.as_ref(), 1, 1);
    if first.iter().any(Check::is_unhealthy) || settle.is_zero() {
        return verdict(run, &[first]);
    }
    crate::sd_notify::notify(&format!(
        "STATUS=Healthy at once; checking again in {}s (stability window)",
        settle.as_secs()
    ));
    std::thread::sleep(settle);
    let second = checked_round(&bus, &subject, db.as_ref(), 2, 2);
    verdict(run, &[first, second])
}

/// The statistics of `scope`, for writing; none (said) when unusable.
pub(super) fn open(scope: Scope) -> Option<Db> {
    Db::open_for_writing(&stats::db_path(scope))
        .map_err(|e| tracing::warn!("{e}: the health checks are not recorded"))
        .ok()
}

/// Round `n` (0: the boot check's), logged with how long it took (the
/// checks' own time: the stability window is not in it), and recorded as
/// round `recorded_as`.
pub(super) fn checked_round(
    bus: &Bus,
    subject: &Subject,
    db: Option<&Db>,
    n: u32,
    recorded_as: u32,
) -> Vec<Check> {
    let start = Instant::now();
    let checks = round(bus, subject, n);
    let took = start.elapsed();
    tracing::info!(
        update_all_run = subject.run,
        update_all_health_round = recorded_as,
        "health checks{}: {} check(s) in {} ms",
        if n == 0 {
            " at boot".to_owned()
        } else {
            format!(" round {n}")
        },
        checks.len(),
        took.as_millis()
    );
    record(db, subject.run, recorded_as, &checks);
    checks
}

/// Whether the rounds found the run healthy; says so, and names every
/// failed check when not.
pub(super) fn verdict(run: Option<RunId>, rounds: &[Vec<Check>]) -> bool {
    let failed: Vec<&str> = rounds
        .iter()
        .flatten()
        .filter(|c| c.is_unhealthy())
        .map(|c| c.name.as_str())
        .collect();
    let warned = rounds.iter().flatten().filter(|c| !c.ok).count() - failed.len();
    if failed.is_empty() {
        tracing::info!(
            update_all_run = run,
            "healthy{}",
            if warned > 0 {
                format!(" ({warned} wanted check(s) failed: warnings)")
            } else {
                String::new()
            }
        );
        return true;
    }
    tracing::error!(
        update_all_run = run,
        "unhealthy: {} failed",
        failed.join(", ")
    );
    false
}
