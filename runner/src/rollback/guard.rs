//! The guards of a rollback (docs/safety.md, "Rollback"): what keeps one
//! from running, decided before any step of the ladder.
//!
//! - `safety.rollback: off`: the rollback unit does nothing at all;
//!   `manual`: it only records and tells that a rollback is needed (by
//!   hand, `update-all rollback` runs under either: it is asked for);
//! - at most one automatic rollback per run: a second start of the
//!   rollback unit for the same run is refused;
//! - never roll back a rollback: a run made of nothing but the rollback
//!   unit (one the recorder opened for it after the run it rolls back had
//!   ended) is refused, by hand too.

use crate::stats::{Db, RunId};
use update_all_core::safety::RollbackMode;

/// Why a rollback does not run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `safety.rollback: off` and started by the unit: nothing is recorded.
    Off,
    /// `safety.rollback: manual` and started by the unit: recorded, and
    /// the users are told to run it by hand.
    Manual,
    /// The run was rolled back automatically already.
    AlreadyAutomatic,
    /// The run is itself a rollback.
    RollbackOfRollback,
}

impl Refusal {
    /// One sentence: why nothing was done, and what to do.
    pub fn describe(&self, run: RunId) -> String {
        match self {
            Refusal::Off => "safety.rollback is off: nothing is rolled back".into(),
            Refusal::Manual => {
                format!("rollback needed: run update-all rollback {run} (safety.rollback: manual)")
            }
            Refusal::AlreadyAutomatic => format!(
                "run {run} was rolled back automatically already (at most once per run); \
                 update-all rollback {run} does it again by hand"
            ),
            Refusal::RollbackOfRollback => {
                format!("run {run} is itself a rollback, and a rollback is never rolled back")
            }
        }
    }
}

/// The pseudo-plugin the recorder records the rollback unit under.
const ROLLBACK_PLUGIN: &str = "rollback";

/// Whether `run` may be rolled back now, by the unit (`automatic`) or by
/// hand, under `mode`.
pub fn check(db: &Db, run: RunId, automatic: bool, mode: RollbackMode) -> Result<(), Refusal> {
    if is_rollback_run(db, run).unwrap_or(false) {
        return Err(Refusal::RollbackOfRollback);
    }
    if !automatic {
        return Ok(());
    }
    match mode {
        RollbackMode::Off => return Err(Refusal::Off),
        RollbackMode::Manual => return Err(Refusal::Manual),
        RollbackMode::Auto => {}
    }
    if db.rolled_back_automatically(run).unwrap_or(false) {
        return Err(Refusal::AlreadyAutomatic);
    }
    Ok(())
}

/// Whether every unit `run` recorded or wrote down is the rollback unit.
pub fn is_rollback_run(db: &Db, run: RunId) -> rusqlite::Result<bool> {
    db.conn.query_row(
        "SELECT COUNT(*) > 0 AND SUM(plugin = ?2) = COUNT(*) FROM
         (SELECT plugin FROM records WHERE run_id = ?1
          UNION ALL SELECT plugin FROM run_units WHERE run_id = ?1)",
        rusqlite::params![run, ROLLBACK_PLUGIN],
        |r| r.get::<_, Option<bool>>(0).map(|b| b.unwrap_or(false)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::rollbacks::{Outcome, Rollback, Step};

    fn db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open_for_writing(&dir.path().join("stats.db")).unwrap();
        for (id, plugin) in [(1, "web"), (2, ROLLBACK_PLUGIN)] {
            db.conn
                .execute(
                    "INSERT INTO runs (id, boot_id, started_us) VALUES (?1, 'b', 1)",
                    [id],
                )
                .unwrap();
            db.conn
                .execute(
                    "INSERT INTO run_units (run_id, unit, plugin, phase) VALUES (?1, ?2, ?2, 'x')",
                    rusqlite::params![id, plugin],
                )
                .unwrap();
        }
        (dir, db)
    }

    #[test]
    fn the_mode_binds_the_unit_and_not_the_admin() {
        let (_dir, db) = db();
        assert_eq!(check(&db, 1, true, RollbackMode::Off), Err(Refusal::Off));
        assert_eq!(
            check(&db, 1, true, RollbackMode::Manual),
            Err(Refusal::Manual)
        );
        assert_eq!(check(&db, 1, true, RollbackMode::Auto), Ok(()));
        assert_eq!(check(&db, 1, false, RollbackMode::Off), Ok(()));
    }

    #[test]
    fn one_automatic_rollback_per_run_and_none_of_a_rollback() {
        let (_dir, db) = db();
        assert_eq!(
            check(&db, 2, false, RollbackMode::Auto),
            Err(Refusal::RollbackOfRollback)
        );
        db.add_rollback(&Rollback {
            run_id: 1,
            started_us: 1,
            duration_us: 1,
            step: Step::Undochange,
            what: String::new(),
            why: String::new(),
            result: Outcome::Ok,
            automatic: true,
        })
        .unwrap();
        assert_eq!(
            check(&db, 1, true, RollbackMode::Auto),
            Err(Refusal::AlreadyAutomatic)
        );
        assert_eq!(check(&db, 1, false, RollbackMode::Auto), Ok(()));
    }
}
