//! Runs asked for before their units start: how a run learns that it takes
//! up an earlier one (`runs.follows`, `runs.kind`).
//!
//! The recorder, a process of its own, opens every run, so whoever starts
//! units for a retry leaves a request first ([`Db::request_run`]). The
//! recorder that opens the next run of this boot ([`Db::open_run`]) takes
//! it up when it is recent and every plugin unit found queued is among the
//! units it names, and deletes every request either way. So a request
//! applies to the very next run or to none: one whose units could not be
//! started (withdrawn, or too old) never leaks into a later run, and one
//! of an earlier boot is never read.

use super::{Db, RunId};
use rusqlite::{params, OptionalExtension};

/// How long a request waits for the run it asks for: the recorder starts
/// with the first unit, within seconds.
const LIFETIME_US: i64 = 120_000_000;

/// How a run takes up an earlier one (`runs.kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `update-all retry`: what failed or never started in it.
    Retry,
    /// `update-all resume`: what a crash or reboot left unfinished in it
    /// (see `stats::unfinished`).
    Resume,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Retry => "retry",
            Kind::Resume => "resume",
        }
    }
}

impl Db {
    /// Leaves a request: the next run of `boot_id`, made of `units`,
    /// follows run `follows`. Its id, to withdraw it if the units cannot
    /// start.
    pub fn request_run(
        &self,
        follows: RunId,
        kind: Kind,
        boot_id: &str,
        now_us: i64,
        units: &[String],
    ) -> rusqlite::Result<i64> {
        self.conn.execute(
            "INSERT INTO run_requests (follows, kind, boot_id, at_us, units)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![follows, kind.as_str(), boot_id, now_us, units.join(" ")],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn withdraw_request(&self, id: i64) -> rusqlite::Result<()> {
        self.conn
            .execute("DELETE FROM run_requests WHERE id = ?1", [id])?;
        Ok(())
    }

    /// Opens a new run of `boot_id` (not a catch-up), with the link the
    /// newest request asks for if it was left on this boot in the last two
    /// minutes and names every unit of `queued` (the plugin units with a
    /// job when the run opens; none: no link). Every request is gone after.
    pub fn open_run(
        &self,
        boot_id: &str,
        now_us: i64,
        queued: &[String],
    ) -> rusqlite::Result<RunId> {
        let tx = self.conn.unchecked_transaction()?;
        let request: Option<(RunId, String, String)> = tx
            .query_row(
                "SELECT follows, kind, units FROM run_requests
                 WHERE boot_id = ?1 AND at_us BETWEEN ?2 - ?3 AND ?2
                 ORDER BY id DESC LIMIT 1",
                params![boot_id, now_us, LIFETIME_US],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let link = request.filter(|(_, _, units)| {
            let asked: Vec<&str> = units.split(' ').collect();
            !queued.is_empty() && queued.iter().all(|u| asked.contains(&u.as_str()))
        });
        let (follows, kind) = match link {
            Some((follows, kind, _)) => (Some(follows), Some(kind)),
            None => (None, None),
        };
        tx.execute(
            "INSERT INTO runs (boot_id, started_us, catch_up, follows, kind)
             VALUES (?1, ?2, 0, ?3, ?4)",
            params![boot_id, now_us, follows, kind],
        )?;
        let run = tx.last_insert_rowid();
        tx.execute("DELETE FROM run_requests", [])?;
        tx.commit()?;
        Ok(run)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::query;

    fn db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open_for_writing(&dir.path().join("stats.db")).unwrap();
        (dir, db)
    }

    fn units(names: &[&str]) -> Vec<String> {
        names.iter().map(|&n| n.to_owned()).collect()
    }

    fn link(db: &Db, run: RunId) -> Option<String> {
        query::run(db, run).unwrap().unwrap().link()
    }

    #[test]
    fn the_next_run_takes_up_a_request_for_its_units() {
        let (_dir, db) = db();
        let old = db.open_run("boot", 1_000, &[]).unwrap();
        let asked = units(&["a-download", "a"]);
        db.request_run(old, Kind::Retry, "boot", 2_000, &asked)
            .unwrap();
        // The recorder starts with the first unit, the second not queued yet.
        let run = db.open_run("boot", 3_000, &units(&["a-download"])).unwrap();
        assert_eq!(link(&db, run).as_deref(), Some("retry of run 1"));
        assert_eq!(query::run(&db, run).unwrap().unwrap().follows, Some(old));
        // Taken up once: the run after is a run of its own.
        let next = db.open_run("boot", 4_000, &asked).unwrap();
        assert_eq!(link(&db, next), None);
    }

    #[test]
    fn a_request_never_leaks_into_another_run() {
        let (_dir, db) = db();
        let old = db.open_run("boot", 1_000, &[]).unwrap();
        let asked = units(&["a"]);
        // Other units queued (the timer's run): not this request's run, and
        // the request is gone.
        db.request_run(old, Kind::Retry, "boot", 2_000, &asked)
            .unwrap();
        let run = db.open_run("boot", 3_000, &units(&["a", "b"])).unwrap();
        assert_eq!(link(&db, run), None);
        let run = db.open_run("boot", 3_500, &asked).unwrap();
        assert_eq!(link(&db, run), None);
        // Too old, of another boot, withdrawn: no link either.
        db.request_run(old, Kind::Retry, "boot", 4_000, &asked)
            .unwrap();
        let run = db
            .open_run("boot", 4_000 + LIFETIME_US + 1, &asked)
            .unwrap();
        assert_eq!(link(&db, run), None);
        db.request_run(old, Kind::Retry, "old boot", 5_000, &asked)
            .unwrap();
        assert_eq!(link(&db, db.open_run("boot", 6_000, &asked).unwrap()), None);
        let id = db
            .request_run(old, Kind::Retry, "boot", 7_000, &asked)
            .unwrap();
        db.withdraw_request(id).unwrap();
        assert_eq!(link(&db, db.open_run("boot", 8_000, &asked).unwrap()), None);
    }
}
