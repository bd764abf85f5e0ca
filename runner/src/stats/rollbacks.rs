//! Each rollback of a run, tried, refused or shown (`rollbacks`): written
//! by `update-all rollback` (by hand, or `--automatic` from
//! update-all-rollback.service), read by its guard (one automatic rollback
//! per run), by `history` and by `rollback --json`. See docs/safety.md,
//! "Rollback".

use super::{Db, RunId};
use rusqlite::params;
use serde::Serialize;

/// The step of the ladder a rollback took (docs/safety.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// The plugins' own `rollback` commands.
    Plugin,
    /// `snapper undochange PRE..POST` (or the btrfs backend's restore of
    /// the changed files), then the services restarted.
    Undochange,
    /// `snapper rollback PRE`, then a reboot.
    Root,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Plugin => "plugin",
            Step::Undochange => "undochange",
            Step::Root => "root",
        }
    }

    fn parse(s: &str) -> Step {
        match s {
            "plugin" => Step::Plugin,
            "root" => Step::Root,
            _ => Step::Undochange,
        }
    }
}

/// How a rollback step ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Ok,
    Failed,
    /// A guard or `safety.rollback` kept it from running.
    Refused,
    /// `--dry-run`: shown, not done.
    DryRun,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
            Outcome::Refused => "refused",
            Outcome::DryRun => "dry-run",
        }
    }

    fn parse(s: &str) -> Outcome {
        match s {
            "ok" => Outcome::Ok,
            "refused" => Outcome::Refused,
            "dry-run" => Outcome::DryRun,
            _ => Outcome::Failed,
        }
    }
}

/// One row of `rollbacks`. Times in µs (since the epoch for the start).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Rollback {
    pub run_id: RunId,
    pub started_us: i64,
    pub duration_us: i64,
    pub step: Step,
    /// What was (or would be) done: the plugins and packages, the
    /// snapshot pair, the services restarted.
    pub what: String,
    /// The failed health check, or "asked for by hand".
    pub why: String,
    pub result: Outcome,
    /// Started by update-all-rollback.service rather than by hand.
    pub automatic: bool,
}

impl Db {
    /// Records one rollback step.
    pub fn add_rollback(&self, r: &Rollback) -> rusqlite::Result<()> {
        self.conn.execute(
            "INSERT INTO rollbacks
             (run_id, started_us, duration_us, step, what, why, result, automatic)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                r.run_id,
                r.started_us,
                r.duration_us,
                r.step.as_str(),
                r.what,
                r.why,
                r.result.as_str(),
                r.automatic
            ],
        )?;
        Ok(())
    }

    /// The rollbacks recorded for `run`, oldest first.
    pub fn rollbacks_of(&self, run: RunId) -> rusqlite::Result<Vec<Rollback>> {
        let mut stmt = self.conn.prepare(
            "SELECT run_id, started_us, duration_us, step, what, why, result, automatic
             FROM rollbacks WHERE run_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([run], |r| {
            Ok(Rollback {
                run_id: r.get(0)?,
                started_us: r.get(1)?,
                duration_us: r.get(2)?,
                step: Step::parse(&r.get::<_, String>(3)?),
                what: r.get(4)?,
                why: r.get(5)?,
                result: Outcome::parse(&r.get::<_, String>(6)?),
                automatic: r.get(7)?,
            })
        })?;
        rows.collect()
    }

    /// Whether an automatic rollback of `run` was tried already (whatever
    /// its result; refusals and dry runs do not count).
    pub fn rolled_back_automatically(&self, run: RunId) -> rusqlite::Result<bool> {
        self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM rollbacks WHERE run_id = ?1 AND automatic = 1
             AND result IN ('ok', 'failed'))",
            [run],
            |r| r.get(0),
        )
    }

    /// The newest run whose health checks failed (a `wanted` check only
    /// warns): the run the rollback unit rolls back when it is not part
    /// of a run going on (started by the boot check at a later boot).
    pub fn newest_unhealthy_run(&self) -> rusqlite::Result<Option<RunId>> {
        self.conn.query_row(
            "SELECT MAX(run_id) FROM health_checks WHERE ok = 0 AND kind != 'wanted'",
            [],
            |r| r.get(0),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollback(step: Step, result: Outcome, automatic: bool) -> Rollback {
        Rollback {
            run_id: 1,
            started_us: 10,
            duration_us: 5,
            step,
            what: "snapper undochange 4..5".into(),
            why: "testbed-web.service failed".into(),
            result,
            automatic,
        }
    }

    #[test]
    fn only_a_tried_automatic_rollback_counts_for_the_guard() {
        let (_dir, db) = crate::stats::testing::db_with_runs(&[1]);
        db.add_rollback(&rollback(Step::Undochange, Outcome::DryRun, false))
            .unwrap();
        db.add_rollback(&rollback(Step::Undochange, Outcome::Refused, true))
            .unwrap();
        db.add_rollback(&rollback(Step::Undochange, Outcome::Ok, false))
            .unwrap();
        assert!(!db.rolled_back_automatically(1).unwrap());
        db.add_rollback(&rollback(Step::Root, Outcome::Failed, true))
            .unwrap();
        assert!(db.rolled_back_automatically(1).unwrap());
        let all = db.rollbacks_of(1).unwrap();
        assert_eq!(all.len(), 4);
        assert_eq!(all[3], rollback(Step::Root, Outcome::Failed, true));
    }
}
