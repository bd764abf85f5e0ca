//! The snapshots of each run (table `snapshots`): what the snapshot units
//! took, or failed to take, before and after a run's updates, one row per
//! snapper configuration or btrfs subvolume and phase; and the one row
//! with backend `none` of a run to which no backend applied. Written by
//! `update-all safety snapshot` (`crate::snapshot`), read by `update-all
//! snapshots`, the run's summary and the rollback.

use super::RunId;
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;

/// The backend of a row that says no backend applied.
pub const NONE: &str = "none";

/// One snapshot of a run (or one failed try, or the `none` row).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    pub run_id: RunId,
    /// `pre` or `post`.
    pub phase: String,
    /// `snapper`, `btrfs` or [`NONE`].
    pub backend: String,
    /// The snapper configuration's name, or the btrfs subvolume's path
    /// (for `none`: the paths looked at, comma-separated).
    pub config_or_path: String,
    /// snapper's number, or the read-only btrfs snapshot's path; `None`
    /// when nothing was taken.
    pub number_or_name: Option<String>,
    /// Microseconds since the epoch.
    pub started_us: i64,
    pub duration_us: i64,
    /// Why it failed; `None` when it was taken.
    pub error: Option<String>,
}

impl Snapshot {
    fn from_row(r: &Row) -> rusqlite::Result<Snapshot> {
        Ok(Snapshot {
            run_id: r.get(0)?,
            phase: r.get(1)?,
            backend: r.get(2)?,
            config_or_path: r.get(3)?,
            number_or_name: r.get(4)?,
            started_us: r.get(5)?,
            duration_us: r.get(6)?,
            error: r.get(7)?,
        })
    }

    /// Whether this row is a snapshot taken (not a failure, not `none`).
    pub fn taken(&self) -> bool {
        self.error.is_none() && self.backend != NONE && self.number_or_name.is_some()
    }
}

const COLUMNS: &str =
    "run_id, phase, backend, config_or_path, number_or_name, started_us, duration_us, error";

/// Records `s`.
pub fn add(conn: &Connection, s: &Snapshot) -> rusqlite::Result<()> {
    conn.execute(
        &format!("INSERT INTO snapshots ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
        params![
            s.run_id,
            s.phase,
            s.backend,
            s.config_or_path,
            s.number_or_name,
            s.started_us,
            s.duration_us,
            s.error
        ],
    )?;
    Ok(())
}

/// The rows of `run`, in the order they were written.
pub fn of_run(conn: &Connection, run: RunId) -> rusqlite::Result<Vec<Snapshot>> {
    let mut st = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM snapshots WHERE run_id = ?1 ORDER BY id"
    ))?;
    let rows = st.query_map([run], Snapshot::from_row)?;
    rows.collect()
}

/// The rows of the newest `runs` runs that have any, oldest run first.
pub fn recent(conn: &Connection, runs: usize) -> rusqlite::Result<Vec<Snapshot>> {
    let mut st = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM snapshots WHERE run_id IN
             (SELECT DISTINCT run_id FROM snapshots ORDER BY run_id DESC LIMIT ?1)
         ORDER BY run_id, id"
    ))?;
    let limit = i64::try_from(runs).unwrap_or(i64::MAX);
    let rows = st.query_map([limit], Snapshot::from_row)?;
    rows.collect()
}

/// Whether `run` has its `none` row already (said once per run).
pub fn has_none(conn: &Connection, run: RunId) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM snapshots WHERE run_id = ?1 AND backend = ?2)",
        params![run, NONE],
        |r| r.get(0),
    )
}

/// The pre snapshot `run` took with `backend` of `config_or_path`: its
/// number or name, the newest when there are several.
pub fn pre_of(
    conn: &Connection,
    run: RunId,
    backend: &str,
    config_or_path: &str,
) -> rusqlite::Result<Option<String>> {
    conn.query_row(
        "SELECT number_or_name FROM snapshots
         WHERE run_id = ?1 AND phase = 'pre' AND backend = ?2 AND config_or_path = ?3
           AND error IS NULL AND number_or_name IS NOT NULL
         ORDER BY id DESC LIMIT 1",
        params![run, backend, config_or_path],
        |r| r.get(0),
    )
    .optional()
}

/// The newest run of boot `boot` with a pre snapshot (taken or failed)
/// and no post yet: the run a post snapshot belongs to when the records
/// have closed its run already.
pub fn awaiting_post(conn: &Connection, boot: &str) -> rusqlite::Result<Option<RunId>> {
    conn.query_row(
        "SELECT s.run_id FROM snapshots s JOIN runs r ON r.id = s.run_id
         WHERE r.boot_id = ?2 AND s.phase = 'pre' AND s.backend != ?1
           AND NOT EXISTS (SELECT 1 FROM snapshots p
                           WHERE p.run_id = s.run_id AND p.phase = 'post')
         ORDER BY s.run_id DESC LIMIT 1",
        [NONE, boot],
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
        for id in 1..=3 {
            conn.execute(
                "INSERT INTO runs (id, boot_id, started_us) VALUES (?1, 'b', 1)",
                [id],
            )
            .unwrap();
        }
        conn
    }

    fn snap(run: RunId, phase: &str, backend: &str, number: Option<&str>) -> Snapshot {
        Snapshot {
            run_id: run,
            phase: phase.into(),
            backend: backend.into(),
            config_or_path: "root".into(),
            number_or_name: number.map(Into::into),
            started_us: 10,
            duration_us: 5,
            error: None,
        }
    }

    #[test]
    fn a_runs_pair_is_found_again_and_listed_by_run() {
        let conn = db();
        add(&conn, &snap(1, "pre", "snapper", Some("4"))).unwrap();
        add(&conn, &snap(1, "post", "snapper", Some("5"))).unwrap();
        add(&conn, &snap(2, "pre", "snapper", Some("6"))).unwrap();
        assert_eq!(
            pre_of(&conn, 1, "snapper", "root").unwrap().as_deref(),
            Some("4")
        );
        assert_eq!(pre_of(&conn, 1, "btrfs", "root").unwrap(), None);
        assert_eq!(awaiting_post(&conn, "b").unwrap(), Some(2));
        assert_eq!(awaiting_post(&conn, "other").unwrap(), None);
        let rows = of_run(&conn, 1).unwrap();
        assert_eq!(rows.len(), 2);
        assert!(rows.iter().all(Snapshot::taken));
        let last = recent(&conn, 1).unwrap();
        assert_eq!(last, [snap(2, "pre", "snapper", Some("6"))]);
        assert_eq!(recent(&conn, 5).unwrap().len(), 3);
    }

    #[test]
    fn a_failed_pre_is_no_pre_and_none_is_said_once() {
        let conn = db();
        let mut failed = snap(3, "pre", "snapper", None);
        failed.error = Some("IO error".into());
        add(&conn, &failed).unwrap();
        assert!(!failed.taken());
        assert_eq!(pre_of(&conn, 3, "snapper", "root").unwrap(), None);
        assert!(!has_none(&conn, 1).unwrap());
        add(&conn, &snap(1, "pre", NONE, None)).unwrap();
        assert!(has_none(&conn, 1).unwrap());
        assert_eq!(awaiting_post(&conn, "b").unwrap(), Some(3));
    }
}
