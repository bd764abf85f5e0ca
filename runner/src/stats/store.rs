//! The recorder's writes. Every statement runs in autocommit mode, so each
//! is its own committed transaction: a recorder killed at any point loses
//! nothing it had written.

use super::{Db, Record, RunId};
use rusqlite::{params, OptionalExtension};

/// This boot's id, which tells a crashed recorder's unfinished run of this
/// boot from one left over from an earlier boot.
pub fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// Whether a recorder that starts continues a run (see [`Db::pick_up`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Continue {
    /// A new run.
    No,
    /// systemd restarted the recorder after it failed.
    Failed,
    /// This run of this boot is still going on.
    InFlight(RunId),
}

impl Db {
    /// The newest run of `boot_id` that has not ended: a previous recorder
    /// of this boot died during it.
    pub fn unfinished_run(&self, boot_id: &str) -> rusqlite::Result<Option<RunId>> {
        self.conn
            .query_row(
                "SELECT id FROM runs WHERE boot_id = ?1 AND ended_us IS NULL
                 ORDER BY id DESC LIMIT 1",
                [boot_id],
                |r| r.get(0),
            )
            .optional()
    }

    /// The newest run of this boot and when it began, finished or not.
    pub fn newest_run(&self, boot_id: &str) -> rusqlite::Result<Option<(RunId, i64)>> {
        self.conn
            .query_row(
                "SELECT id, started_us FROM runs WHERE boot_id = ?1 ORDER BY id DESC LIMIT 1",
                [boot_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
    }

    /// The run a recorder starting now records into, if it continues one:
    /// a recorder that systemd restarted after it failed (`Continue::Failed`)
    /// continues the newest unfinished run of this boot, the one its
    /// predecessor was recording; one started while the newest run of this
    /// boot is still in flight (`Continue::InFlight`: a recorder restarted
    /// by hand mid-run, whose predecessor closed the run when it stopped)
    /// continues that run and opens it again. Every other unfinished run is
    /// closed, at its last record's end (else at its start): its recorder
    /// died and none came back, and no later run continues it, however
    /// soon it starts.
    pub fn pick_up(&self, boot_id: &str, how: Continue) -> rusqlite::Result<Option<RunId>> {
        let continued = match how {
            Continue::Failed => self.unfinished_run(boot_id)?,
            Continue::InFlight(run) => {
                self.conn
                    .execute("UPDATE runs SET ended_us = NULL WHERE id = ?1", [run])?;
                Some(run)
            }
            Continue::No => None,
        };
        // Runs of an earlier boot that never ended were cut short.
        self.mark_interrupted(boot_id)?;
        self.conn.execute(
            "UPDATE runs SET ended_us = max(started_us, coalesce(
                 (SELECT max(ended_us) FROM records WHERE run_id = runs.id), started_us))
             WHERE ended_us IS NULL AND id IS NOT ?1",
            [continued],
        )?;
        Ok(continued)
    }

    /// When the newest run began: a recorder had caught up then on every
    /// invocation that ended before.
    pub fn last_run_start(&self) -> rusqlite::Result<Option<i64>> {
        self.conn
            .query_row("SELECT max(started_us) FROM runs", [], |r| r.get(0))
    }

    pub fn new_run(&self, boot_id: &str, now_us: i64, catch_up: bool) -> rusqlite::Result<RunId> {
        self.conn.execute(
            "INSERT INTO runs (boot_id, started_us, catch_up) VALUES (?1, ?2, ?3)",
            params![boot_id, now_us, catch_up],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn end_run(&self, run: RunId, now_us: i64) -> rusqlite::Result<()> {
        self.conn.execute(
            "UPDATE runs SET ended_us = ?2 WHERE id = ?1",
            params![run, now_us],
        )?;
        Ok(())
    }

    pub fn is_recorded(&self, invocation_id: &str) -> rusqlite::Result<bool> {
        self.conn
            .prepare_cached("SELECT 1 FROM records WHERE invocation_id = ?1")?
            .exists([invocation_id])
    }

    /// Records `r` unless its invocation already is; says whether it was
    /// new.
    pub fn insert(&self, r: &Record) -> rusqlite::Result<bool> {
        let n = self
            .conn
            .prepare_cached(
                "INSERT OR IGNORE INTO records (run_id, plugin, phase, unit, invocation_id,
                     started_us, ended_us, result, exit_code, exit_status, cpu_ns,
                     memory_peak_bytes, io_read_bytes, io_write_bytes, ip_ingress_bytes,
                     ip_egress_bytes, attempts, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                     ?17, ?18)",
            )?
            .execute(params![
                r.run_id,
                r.plugin,
                r.phase,
                r.unit,
                r.invocation_id,
                r.started_us,
                r.ended_us,
                r.result.as_str(),
                r.exit_code,
                r.exit_status,
                r.cpu_ns,
                r.memory_peak_bytes,
                r.io_read_bytes,
                r.io_write_bytes,
                r.ip_ingress_bytes,
                r.ip_egress_bytes,
                r.attempts,
                r.detail,
            ])?;
        Ok(n == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{query, Outcome};

    fn record(run_id: RunId, plugin: &str, invocation: &str, result: Outcome, secs: i64) -> Record {
        Record {
            run_id,
            plugin: plugin.into(),
            phase: "update".into(),
            unit: format!("update-all-{plugin}.service"),
            invocation_id: invocation.into(),
            started_us: Some(1_000_000),
            ended_us: Some(1_000_000 + secs * 1_000_000),
            result,
            exit_code: Some("exited".into()),
            exit_status: Some(0),
            cpu_ns: Some(secs * 1000),
            memory_peak_bytes: Some(secs << 20),
            io_read_bytes: None,
            io_write_bytes: None,
            ip_ingress_bytes: None,
            ip_egress_bytes: None,
            attempts: Some(1),
            detail: None,
        }
    }

    #[test]
    fn records_once_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/stats.db");
        let db = Db::open_for_writing(&path).unwrap();
        assert_eq!(db.unfinished_run("boot").unwrap(), None);
        let run = db.new_run("boot", 1, false).unwrap();
        assert_eq!(db.unfinished_run("boot").unwrap(), Some(run));
        assert_eq!(db.unfinished_run("other boot").unwrap(), None);

        let r = record(run, "apt", "i1", Outcome::Success, 3);
        assert!(db.insert(&r).unwrap());
        assert!(!db.insert(&r).unwrap(), "an invocation is recorded once");
        assert!(db.is_recorded("i1").unwrap());
        db.insert(&record(run, "apt", "i2", Outcome::Failed, 1))
            .unwrap();
        db.insert(&record(run, "apt", "i3", Outcome::Success, 5))
            .unwrap();
        db.insert(&record(run, "snap", "i4", Outcome::Skipped, 0))
            .unwrap();
        db.end_run(run, 2).unwrap();
        assert_eq!(db.unfinished_run("boot").unwrap(), None);
        drop(db);

        let db = Db::open_for_reading(&path).unwrap().expect("exists");
        assert_eq!(query::run_records(&db, run).unwrap().len(), 4);
        assert_eq!(query::last_run(&db).unwrap().unwrap().ended_us, Some(2));
        let apt = query::history(&db, Some("apt"), 2).unwrap();
        // The latest two by their end, oldest first.
        let ids: Vec<&str> = apt.iter().map(|r| r.invocation_id.as_str()).collect();
        assert_eq!(ids, ["i1", "i3"]);
        assert_eq!(apt[0], record(run, "apt", "i1", Outcome::Success, 3));
        let stats = query::phase_stats(&db).unwrap();
        let apt = &stats[0];
        assert_eq!((apt.runs, apt.succeeded, apt.failed), (3, 2, 1));
        assert_eq!(apt.success_rate, Some(2.0 / 3.0));
        assert_eq!(apt.median_s, Some(4.0), "successful runs only: 3 s and 5 s");
        assert_eq!(apt.p90_s, Some(5.0));
        assert_eq!(apt.max_memory_peak_bytes, Some(5 << 20));
        assert_eq!(stats[1].success_rate, None, "snap never ran");
    }

    #[test]
    fn only_a_restarted_recorder_continues_a_run_and_others_are_closed() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open_for_writing(&dir.path().join("stats.db")).unwrap();
        assert_eq!(db.last_run_start().unwrap(), None);
        assert_eq!(db.pick_up("boot", Continue::Failed).unwrap(), None);
        // A run whose recorder died after one record, one of an earlier
        // boot, and one that ended.
        let old_boot = db.new_run("old boot", 5, false).unwrap();
        let done = db.new_run("boot", 10, false).unwrap();
        db.end_run(done, 20).unwrap();
        let died = db.new_run("boot", 100, false).unwrap();
        db.insert(&record(died, "apt", "i1", Outcome::Success, 3))
            .unwrap();
        assert_eq!(db.last_run_start().unwrap(), Some(100));

        // systemd restarted the recorder: it goes on with the run of this
        // boot; the earlier boot's is closed at its start.
        assert_eq!(db.pick_up("boot", Continue::Failed).unwrap(), Some(died));
        assert_eq!(db.unfinished_run("boot").unwrap(), Some(died));
        assert_eq!(db.unfinished_run("old boot").unwrap(), None);
        let ended = |run| query::run(&db, run).unwrap().unwrap().ended_us;
        assert_eq!(ended(old_boot), Some(5));
        assert_eq!(ended(done), Some(20));

        // Any other start: a new run; the dead one ends at its last record.
        assert_eq!(db.pick_up("boot", Continue::No).unwrap(), None);
        assert_eq!(db.unfinished_run("boot").unwrap(), None);
        assert_eq!(ended(died), Some(4_000_000));

        // Restarted by hand while that run went on: its predecessor closed
        // it on the way out; it is open again, and the only open one.
        let going = db.new_run("boot", 200, false).unwrap();
        db.end_run(going, 250).unwrap();
        assert_eq!(db.newest_run("boot").unwrap(), Some((going, 200)));
        assert_eq!(
            db.pick_up("boot", Continue::InFlight(going)).unwrap(),
            Some(going)
        );
        assert_eq!(db.unfinished_run("boot").unwrap(), Some(going));
        assert_eq!(ended(died), Some(4_000_000));
    }

    #[test]
    fn a_file_that_is_not_a_database_is_named_with_a_way_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stats.db");
        std::fs::write(&path, [0x5a; 4096]).unwrap();
        let e = Db::open_for_reading(&path).err().expect("refused");
        assert!(e.is_corrupt());
        let text = e.to_string();
        assert!(text.contains(&*path.to_string_lossy()) && text.contains("Move it aside"));
        assert!(Db::open_for_writing(&path).is_err());
        assert!(Db::open_for_reading(&dir.path().join("none.db"))
            .unwrap()
            .is_none());
    }
}
