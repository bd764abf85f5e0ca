//! A run's units written down before they start, and what a run that a
//! crash, a power loss or a reboot cut short left unfinished.
//!
//! The recorder opens each run before any of its units may start (plugin
//! units are `After=` the recorder, which is ready only once the run is
//! open) and writes down then every plugin unit with a job: the run's
//! intended units (`run_units`). When a unit starts, its row gets the
//! invocation and the start, before the unit's command has done much; its
//! end is its record, as before. So at any moment a run's units are:
//! finished (a record), started (a row with an invocation, no record), or
//! not started (a row without either). Units queued after the run opened
//! (a unit's `JobNew`) are written down when their job appears.
//!
//! A run without an end whose boot is not this one was cut short: its
//! recorder never saw it out. The next recorder closes it and marks it
//! `interrupted` (`Db::pick_up`); until one does, the queries here tell it
//! by its boot. A run whose recorder was stopped by a shutdown or reboot
//! ends, marked `interrupted` by that recorder; its units that the
//! shutdown stopped (or whose jobs it cancelled) are recorded as
//! cancelled, and in an interrupted run a cancelled unit did not finish. Which interrupted run is pending: the newest run of its
//! own (not a catch-up) when it is interrupted, has unfinished units, and
//! no run came after it, so a resume or any full run since takes it off.

use super::{query, Db, Outcome, RunId};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

/// A plugin unit of a run, as written down when its job appears.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RunUnit {
    pub unit: String,
    pub plugin: String,
    pub phase: String,
}

/// A run cut short, as `status` shows it and `resume` takes it up.
#[derive(Clone, Debug, Serialize)]
pub struct Interrupted {
    pub run: query::Run,
    /// The boot it began in.
    pub boot_id: String,
    /// Units that ended (any result), in the order they ended.
    pub finished: Vec<RunUnit>,
    /// Units that had not: started (and cut short) or never started.
    pub unfinished: Vec<Unfinished>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Unfinished {
    #[serde(flatten)]
    pub unit: RunUnit,
    /// It had started: its command was cut short.
    pub started: bool,
}

impl Interrupted {
    /// The plugins with an unfinished unit, sorted, once each: what a
    /// resume runs.
    pub fn plugins(&self) -> Vec<String> {
        let mut plugins: Vec<String> = self
            .unfinished
            .iter()
            .map(|u| u.unit.plugin.clone())
            .collect();
        plugins.sort();
        plugins.dedup();
        plugins
    }

    /// The units a resume starts: every unit of the run of those plugins,
    /// finished or not (a plugin's update unit requires its download unit,
    /// so starting one starts both again).
    pub fn units_to_resume(&self) -> Vec<String> {
        let plugins = self.plugins();
        let mut units: Vec<String> = self
            .finished
            .iter()
            .chain(self.unfinished.iter().map(|u| &u.unit))
            .filter(|u| plugins.contains(&u.plugin))
            .map(|u| u.unit.clone())
            .collect();
        units.sort();
        units.dedup();
        units
    }
}

impl Db {
    /// Writes down `units` as units of `run` (those already there stay
    /// as they are).
    pub fn plan_units(&self, run: RunId, units: &[RunUnit]) -> rusqlite::Result<()> {
        let mut st = self.conn.prepare_cached(
            "INSERT OR IGNORE INTO run_units (run_id, unit, plugin, phase) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for u in units {
            st.execute(params![run, u.unit, u.plugin, u.phase])?;
        }
        Ok(())
    }

    /// Writes down that `unit` of `run` started: its invocation and when.
    pub fn mark_started(
        &self,
        run: RunId,
        unit: &RunUnit,
        invocation_id: &str,
        started_us: Option<i64>,
    ) -> rusqlite::Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO run_units (run_id, unit, plugin, phase, invocation_id, started_us)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (run_id, unit) DO UPDATE
                 SET invocation_id = excluded.invocation_id, started_us = excluded.started_us",
            )?
            .execute(params![
                run,
                unit.unit,
                unit.plugin,
                unit.phase,
                invocation_id,
                started_us
            ])?;
        Ok(())
    }

    /// Marks as interrupted every run without an end that began in another
    /// boot than `boot_id`: nothing saw it out. Called before such runs
    /// are closed (`Db::pick_up`).
    pub fn mark_interrupted(&self, boot_id: &str) -> rusqlite::Result<()> {
        self.conn.execute(
            "UPDATE runs SET interrupted = 1 WHERE ended_us IS NULL AND boot_id != ?1",
            [boot_id],
        )?;
        Ok(())
    }

    /// Marks `run` as cut short by a shutdown (see the module documentation).
    pub fn mark_run_interrupted(&self, run: RunId) -> rusqlite::Result<()> {
        self.conn
            .execute("UPDATE runs SET interrupted = 1 WHERE id = ?1", [run])?;
        Ok(())
    }

    /// The interrupted run still pending in boot `boot_id` (see the module
    /// documentation), if there is one.
    pub fn interrupted(&self, boot_id: &str) -> rusqlite::Result<Option<Interrupted>> {
        let newest: Option<(RunId, String, bool)> = self
            .conn
            .query_row(
                "SELECT id, boot_id, interrupted OR (ended_us IS NULL AND boot_id != ?1)
                 FROM runs WHERE NOT catch_up ORDER BY id DESC LIMIT 1",
                [boot_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((id, boot, true)) = newest else {
            return Ok(None);
        };
        let Some(run) = query::run(self, id)? else {
            return Ok(None);
        };
        let finished = query::run_records(self, id)?
            .into_iter()
            .filter(|r| r.result != Outcome::Cancelled)
            .map(|r| RunUnit {
                unit: r.unit,
                plugin: r.plugin,
                phase: r.phase,
            })
            .collect();
        let mut st = self.conn.prepare(
            "SELECT unit, plugin, phase, invocation_id IS NOT NULL FROM run_units
             WHERE run_id = ?1
               AND NOT EXISTS (SELECT 1 FROM records
                               WHERE records.run_id = run_units.run_id
                                 AND records.unit = run_units.unit
                                 AND records.result != 'cancelled')
             ORDER BY started_us IS NULL, started_us, unit",
        )?;
        let unfinished = st
            .query_map([id], |r| {
                Ok(Unfinished {
                    unit: RunUnit {
                        unit: r.get(0)?,
                        plugin: r.get(1)?,
                        phase: r.get(2)?,
                    },
                    started: r.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Some(Interrupted {
            run,
            boot_id: boot,
            finished,
            unfinished,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::store::Continue;
    use crate::stats::Record;

    fn unit(plugin: &str, phase: &str) -> RunUnit {
        let unit = match phase {
            "download" => format!("update-all-{plugin}-download.service"),
            _ => format!("update-all-{plugin}.service"),
        };
        RunUnit {
            unit,
            plugin: plugin.into(),
            phase: phase.into(),
        }
    }

    fn record(run_id: RunId, u: &RunUnit, invocation: &str) -> Record {
        Record {
            run_id,
            plugin: u.plugin.clone(),
            phase: u.phase.clone(),
            unit: u.unit.clone(),
            invocation_id: invocation.into(),
            started_us: Some(10),
            ended_us: Some(20),
            result: Outcome::Success,
            exit_code: None,
            exit_status: None,
            cpu_ns: None,
            memory_peak_bytes: None,
            io_read_bytes: None,
            io_write_bytes: None,
            ip_ingress_bytes: None,
            ip_egress_bytes: None,
            attempts: Some(1),
            detail: None,
        }
    }

    fn db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open_for_writing(&dir.path().join("stats.db")).unwrap();
        (dir, db)
    }

    /// Run of boot "old": a finished, b started, c never started.
    fn cut_short(db: &Db) -> RunId {
        let (a, b, c) = (
            unit("a", "update"),
            unit("b", "update"),
            unit("c", "update"),
        );
        let run = db.open_run("old", 1, &[]).unwrap();
        db.plan_units(run, &[a.clone(), b.clone(), c.clone()])
            .unwrap();
        db.mark_started(run, &a, "ia", Some(10)).unwrap();
        db.insert(&record(run, &a, "ia")).unwrap();
        db.mark_started(run, &b, "ib", Some(30)).unwrap();
        // Written down twice (a JobNew after the run opened): kept as is.
        db.plan_units(run, std::slice::from_ref(&b)).unwrap();
        run
    }

    #[test]
    fn a_run_of_another_boot_without_an_end_is_interrupted_with_what_had_finished() {
        let (_dir, db) = db();
        let run = cut_short(&db);
        assert!(
            db.interrupted("old").unwrap().is_none(),
            "in its own boot it may still go on"
        );
        let i = db.interrupted("new").unwrap().expect("interrupted");
        assert_eq!(i.run.id, run);
        assert_eq!(i.boot_id, "old");
        assert_eq!(i.finished, [unit("a", "update")]);
        let unfinished: Vec<(&str, bool)> = i
            .unfinished
            .iter()
            .map(|u| (u.unit.plugin.as_str(), u.started))
            .collect();
        assert_eq!(unfinished, [("b", true), ("c", false)]);
        assert_eq!(i.plugins(), ["b", "c"]);
        assert_eq!(
            i.units_to_resume(),
            ["update-all-b.service", "update-all-c.service"]
        );

        // The next boot's recorder marks it and closes it: still pending.
        db.mark_interrupted("new").unwrap();
        db.pick_up("new", Continue::No).unwrap();
        let i = db.interrupted("new").unwrap().expect("still interrupted");
        assert!(i.run.ended_us.is_some());
        assert_eq!(i.plugins(), ["b", "c"]);
    }

    #[test]
    fn a_run_a_shutdown_cut_short_ends_and_its_cancelled_units_did_not_finish() {
        let (_dir, db) = db();
        let (a, b, c) = (
            unit("a", "update"),
            unit("b", "update"),
            unit("c", "update"),
        );
        let run = db.open_run("boot", 1, &[]).unwrap();
        db.plan_units(run, &[a.clone(), b.clone(), c.clone()])
            .unwrap();
        db.mark_started(run, &a, "ia", Some(10)).unwrap();
        db.insert(&record(run, &a, "ia")).unwrap();
        db.mark_started(run, &b, "ib", Some(30)).unwrap();
        // The shutdown stops b and cancels c's job; the recorder ends the run.
        for (u, id) in [(&b, "ib"), (&c, "ic")] {
            let mut r = record(run, u, id);
            r.result = Outcome::Cancelled;
            db.insert(&r).unwrap();
        }
        db.end_run(run, 40).unwrap();
        assert!(db.interrupted("next").unwrap().is_none(), "not yet marked");
        db.mark_run_interrupted(run).unwrap();
        let i = db.interrupted("next").unwrap().expect("interrupted");
        assert_eq!(i.finished, [a]);
        let unfinished: Vec<(&str, bool)> = i
            .unfinished
            .iter()
            .map(|u| (u.unit.plugin.as_str(), u.started))
            .collect();
        assert_eq!(unfinished, [("b", true), ("c", false)]);
    }

    #[test]
    fn a_run_after_it_takes_it_off_and_a_run_that_ended_never_was() {
        let (_dir, db) = db();
        let run = cut_short(&db);
        db.mark_interrupted("new").unwrap();
        db.pick_up("new", Continue::No).unwrap();
        // A catch-up run does not count; a resume does.
        let catch_up = db.new_run("new", 50, true).unwrap();
        db.end_run(catch_up, 51).unwrap();
        assert!(db.interrupted("new").unwrap().is_some());
        let resume = db.open_run("new", 60, &[]).unwrap();
        assert!(db.interrupted("new").unwrap().is_none());
        // Cut short in its turn, in a third boot: it is the one pending.
        db.plan_units(resume, &[unit("c", "update")]).unwrap();
        let i = db.interrupted("third").unwrap().expect("interrupted");
        assert_eq!((i.run.id, i.plugins()), (resume, vec!["c".to_owned()]));
        assert_ne!(run, resume);

        // A run that ended in its boot is not interrupted, whatever boot asks.
        let (_dir2, db) = self::db();
        let run = db.open_run("old", 1, &[]).unwrap();
        db.plan_units(run, &[unit("a", "update")]).unwrap();
        db.end_run(run, 2).unwrap();
        db.mark_interrupted("new").unwrap();
        assert!(db.interrupted("new").unwrap().is_none());
    }
}
