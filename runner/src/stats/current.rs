//! Which run a unit that is running now belongs to: the one place a
//! safety unit (snapshot, health, rollback) or `plugin-exec` finds its run
//! from the statistics database.
//!
//! The recorder writes a run's `run_units` rows when the jobs are queued,
//! before any unit starts (see `stats::unfinished`), so a unit that looks
//! itself up finds its row: the newest run of this boot that has not ended
//! and lists the unit. A unit the recorder did not write down (a safety
//! unit started by hand, an older recorder) falls back to the newest run of
//! this boot that has not ended.

use super::store::boot_id;
use super::RunId;
use rusqlite::{Connection, OptionalExtension};

/// The run of this boot that `unit` (a full unit name such as
/// `update-all-snapshot-pre.service`) is part of, or else the newest run
/// of this boot that has not ended; `None` when no run of this boot is
/// going on.
pub fn run_of_unit(conn: &Connection, unit: &str) -> rusqlite::Result<Option<RunId>> {
    run_of_unit_in_boot(conn, unit, &boot_id())
}

/// [`run_of_unit`] for the boot `boot`.
pub fn run_of_unit_in_boot(
    conn: &Connection,
    unit: &str,
    boot: &str,
) -> rusqlite::Result<Option<RunId>> {
    let listed = conn
        .query_row(
            "SELECT r.id FROM runs r JOIN run_units u ON u.run_id = r.id
             WHERE r.boot_id = ?1 AND r.ended_us IS NULL AND u.unit = ?2
             ORDER BY r.id DESC LIMIT 1",
            [boot, unit],
            |r| r.get(0),
        )
        .optional()?;
    if listed.is_some() {
        return Ok(listed);
    }
    conn.query_row(
        "SELECT id FROM runs WHERE boot_id = ?1 AND ended_us IS NULL
         ORDER BY id DESC LIMIT 1",
        [boot],
        |r| r.get(0),
    )
    .optional()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::schema;

    fn db() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        schema::migrate(&mut conn).unwrap();
        conn
    }

    fn run(conn: &Connection, id: RunId, boot: &str, ended: Option<i64>) {
        conn.execute(
            "INSERT INTO runs (id, boot_id, started_us, ended_us) VALUES (?1, ?2, 1, ?3)",
            rusqlite::params![id, boot, ended],
        )
        .unwrap();
    }

    fn unit(conn: &Connection, run: RunId, unit: &str) {
        conn.execute(
            "INSERT INTO run_units (run_id, unit, plugin, phase) VALUES (?1, ?2, 'p', 'safety')",
            rusqlite::params![run, unit],
        )
        .unwrap();
    }

    const PRE: &str = "update-all-snapshot-pre.service";

    #[test]
    fn no_run_of_this_boot_going_on_is_none() {
        let conn = db();
        assert_eq!(run_of_unit_in_boot(&conn, PRE, "b").unwrap(), None);
        run(&conn, 1, "b", Some(5));
        run(&conn, 2, "old", None);
        unit(&conn, 2, PRE);
        assert_eq!(run_of_unit_in_boot(&conn, PRE, "b").unwrap(), None);
    }

    #[test]
    fn the_unfinished_run_that_lists_the_unit_wins_over_a_newer_one() {
        let conn = db();
        run(&conn, 1, "b", None);
        unit(&conn, 1, PRE);
        run(&conn, 2, "b", None);
        unit(&conn, 2, "update-all-apt.service");
        assert_eq!(run_of_unit_in_boot(&conn, PRE, "b").unwrap(), Some(1));
        // An ended run that lists it does not count.
        run(&conn, 3, "b", Some(9));
        unit(&conn, 3, PRE);
        assert_eq!(run_of_unit_in_boot(&conn, PRE, "b").unwrap(), Some(1));
    }

    #[test]
    fn a_unit_no_run_lists_falls_back_to_the_newest_unfinished_run() {
        let conn = db();
        run(&conn, 1, "b", None);
        run(&conn, 2, "b", None);
        run(&conn, 3, "b", Some(4));
        assert_eq!(run_of_unit_in_boot(&conn, PRE, "b").unwrap(), Some(2));
    }
}
