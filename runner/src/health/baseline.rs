//! The baseline of a run: what had failed already when it began, so that
//! the health check blames the run only for what failed since. Taken by
//! the recorder when it opens a run, before it tells systemd it is ready
//! (so before any unit of the run starts), and kept with the run (see
//! `stats::health`); it exists whether or not a snapshot is taken.

use crate::stats::health::Baseline;
use crate::stats::{Db, RunId};
use crate::systemd::{self, Bus};

/// The units the manager has failed now (`ListUnitsFiltered(["failed"])`)
/// and its system state (`SystemState`, what `systemctl
/// is-system-running` says).
pub async fn read(bus: &Bus) -> systemd::Result<Baseline> {
    let manager = bus.manager();
    let failed = manager
        .list_units_filtered(vec!["failed".to_owned()])
        .await?
        .into_iter()
        .map(|unit| unit.0)
        .collect();
    let system_state = manager.system_state().await?;
    Ok(Baseline {
        failed,
        system_state,
    })
}

/// Takes `run`'s baseline and keeps it, unless it has one already (a
/// recorder restarted mid-run). A failure is a warning: the health check
/// then blames no unit.
pub async fn take(bus: &Bus, db: Option<&Db>, run: Option<RunId>) {
    let (Some(db), Some(run)) = (db, run) else {
        return;
    };
    let start = std::time::Instant::now();
    let baseline = match read(bus).await {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(update_all_run = run, "cannot take the health baseline: {e}");
            return;
        }
    };
    match db.set_baseline(run, &baseline) {
        Ok(()) => tracing::debug!(
            update_all_run = run,
            "health baseline: system {}, {} failed unit(s), taken in {} ms",
            baseline.system_state,
            baseline.failed.len(),
            start.elapsed().as_millis()
        ),
        Err(e) => tracing::warn!(
            update_all_run = run,
            "cannot keep the health baseline in {}: {e}",
            db.path.display()
        ),
    }
}
