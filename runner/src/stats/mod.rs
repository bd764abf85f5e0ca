//! The statistics database: one record per finished plugin unit
//! invocation, written by the recorder (`update-all record`) and read by
//! `status`, `history`, `stats` and the ETAs of `run`.
//!
//! Where it lives: `/var/lib/update-all/stats.db` in system scope,
//! `$XDG_STATE_HOME/update-all/stats.db` (default
//! `~/.local/state/update-all/stats.db`) in user scope, or `stats.db` in
//! `$UPDATE_ALL_STATE_DIR` when that is set (tests).
//!
//! A *run* is one recorder lifetime: one start of `update-all.target` or
//! one `run --only`. The recorder starts with the first plugin unit (they
//! all want it and start after it) and exits when no plugin unit is active
//! or queued any more. Only systemd's automatic restart of a recorder that
//! failed continues that recorder's run (so a run survives `kill -9`);
//! any other start of the recorder begins a new run, and a run whose
//! recorder died and never came back is closed then (`store::pick_up`).
//!
//! Every record is one invocation of a unit, keyed by systemd's
//! InvocationID, and comes from what its service manager said: its D-Bus
//! properties and signals, and its own journal entries (see `journal`),
//! never from what anyone else could have logged.

pub mod current;
pub mod health;
pub mod held;
pub mod packages;
pub mod query;
pub mod reboot;
pub mod request;
pub mod rollbacks;
pub mod schema;
pub mod skips;
pub mod snapshots;
pub mod store;
#[cfg(test)]
pub mod testing;
pub mod unfinished;

/// How an invocation ended, as records keep it (see `systemd::Outcome`).
pub use crate::systemd::Outcome;

use crate::summary::{self, RunSummary, UnitResult};
use rusqlite::{Connection, ErrorCode, OpenFlags};
use serde::Serialize;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use update_all_core::{Phase, Scope};

pub type RunId = i64;

/// How many recent runs of a unit an estimate looks at.
const ESTIMATE_WINDOW: usize = 10;

/// One finished invocation of a plugin unit. Times are microseconds since
/// the Unix epoch; counters are NULL (None) where the host has no
/// accounting for them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Record {
    pub run_id: RunId,
    pub plugin: String,
    pub phase: String,
    pub unit: String,
    pub invocation_id: String,
    pub started_us: Option<i64>,
    pub ended_us: Option<i64>,
    pub result: Outcome,
    /// How the main process ended (exited, killed, dumped), when it ran.
    pub exit_code: Option<String>,
    /// Its exit status, or the signal number when killed.
    pub exit_status: Option<i64>,
    pub cpu_ns: Option<i64>,
    pub memory_peak_bytes: Option<i64>,
    pub io_read_bytes: Option<i64>,
    pub io_write_bytes: Option<i64>,
    pub ip_ingress_bytes: Option<i64>,
    pub ip_egress_bytes: Option<i64>,
    /// How many times the unit ran its command: more than 1 when
    /// `plugin-exec` retried a transient failure (see `crate::retry`).
    /// None where not known: a record older than this field, an invocation
    /// that did not run the command (skipped, cancelled before it started),
    /// or one read back from the journal alone.
    pub attempts: Option<u32>,
    /// Why its condition skipped it, as the condition said (the pre-flight
    /// disk space check: "needs 1.2 GiB on /var, 300.0 MiB free"); None
    /// for every other outcome, and for a skip that gave no reason.
    pub detail: Option<String>,
}

impl Record {
    pub fn duration(&self) -> Option<Duration> {
        let us = self.ended_us?.checked_sub(self.started_us?)?;
        Some(Duration::from_micros(u64::try_from(us).ok()?))
    }
}

/// Now, in microseconds since the epoch, as the database keeps time.
pub fn now_us() -> i64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// The database file of `scope`.
pub fn db_path(scope: Scope) -> PathBuf {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let dir = if let Some(dir) = var("UPDATE_ALL_STATE_DIR") {
        dir
    } else if scope == Scope::System {
        PathBuf::from("/var/lib/update-all")
    } else {
        var("XDG_STATE_HOME")
            .filter(|p| p.is_absolute())
            .unwrap_or_else(|| home().join(".local/state"))
            .join("update-all")
    };
    dir.join("stats.db")
}

fn home() -> PathBuf {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            let uid = nix::unistd::geteuid();
            nix::unistd::User::from_uid(uid)
                .ok()
                .flatten()
                .map(|u| u.dir)
        })
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// The database could not be used; says which file and what to do.
#[derive(Debug)]
pub struct DbError {
    pub path: PathBuf,
    pub kind: DbErrorKind,
}

#[derive(Debug)]
pub enum DbErrorKind {
    Io(std::io::Error),
    Sqlite(rusqlite::Error),
    TooNew(u32),
}

impl DbError {
    fn new(path: &Path, kind: DbErrorKind) -> Self {
        DbError {
            path: path.to_owned(),
            kind,
        }
    }

    /// Whether the file is damaged (or not a database at all).
    pub fn is_corrupt(&self) -> bool {
        matches!(&self.kind, DbErrorKind::Sqlite(e)
            if matches!(e.sqlite_error_code(), Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt)))
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.path.display();
        write!(f, "statistics database {p}: ")?;
        match &self.kind {
            DbErrorKind::Io(e) => write!(f, "{e}"),
            DbErrorKind::TooNew(v) => write!(
                f,
                "schema version {v} was written by a newer update-all (this one knows up to {}); \
                 upgrade update-all",
                schema::CURRENT
            ),
            DbErrorKind::Sqlite(e) if self.is_corrupt() => write!(
                f,
                "{e}: the file is damaged. Move it aside (mv {p} {p}.broken); \
                 the next run starts a new one"
            ),
            DbErrorKind::Sqlite(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for DbError {}

/// An open statistics database and the file it is.
pub struct Db {
    pub conn: Connection,
    pub path: PathBuf,
}

impl Db {
    /// Opens (creating it and its directory if needed) for the recorder:
    /// WAL, schema brought up to date.
    pub fn open_for_writing(path: &Path) -> Result<Db, DbError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| DbError::new(path, DbErrorKind::Io(e)))?;
        }
        let conn =
            Connection::open(path).map_err(|e| DbError::new(path, DbErrorKind::Sqlite(e)))?;
        let mut db = Db {
            conn,
            path: path.to_owned(),
        };
        db.prepare(true)?;
        Ok(db)
    }

    /// Opens for the query commands; `None` when nothing was ever recorded.
    /// Read-only unless the schema needs an upgrade.
    pub fn open_for_reading(path: &Path) -> Result<Option<Db>, DbError> {
        if !path.exists() {
            return Ok(None);
        }
        let sqlite = |e| DbError::new(path, DbErrorKind::Sqlite(e));
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(sqlite)?;
        let mut db = Db {
            conn,
            path: path.to_owned(),
        };
        let version = schema::version(&db.conn).map_err(sqlite)?;
        if version > schema::CURRENT {
            return Err(DbError::new(path, DbErrorKind::TooNew(version)));
        }
        if version < schema::CURRENT {
            // Written by an older update-all and not run since: upgrade.
            return Db::open_for_writing(path).map(Some);
        }
        db.prepare(false)?;
        Ok(Some(db))
    }

    fn prepare(&mut self, write: bool) -> Result<(), DbError> {
        let path = self.path.clone();
        let sqlite = |e| DbError::new(&path, DbErrorKind::Sqlite(e));
        self.conn
            .busy_timeout(Duration::from_secs(5))
            .map_err(sqlite)?;
        if write {
            // WAL: readers never block the recorder; each insert is its own
            // committed transaction, durable across a crash.
            self.conn
                .pragma_update(None, "journal_mode", "WAL")
                .map_err(sqlite)?;
        }
        if !write {
            return Ok(());
        }
        match schema::migrate(&mut self.conn) {
            Ok(()) => Ok(()),
            Err(schema::Error::TooNew(v)) => Err(DbError::new(&path, DbErrorKind::TooNew(v))),
            Err(schema::Error::Sqlite(e)) => Err(sqlite(e)),
        }
    }
}

/// The database of `scope` for the query commands (see
/// [`Db::open_for_reading`]).
pub fn open_for_reading(scope: Scope) -> Result<Option<Db>, DbError> {
    Db::open_for_reading(&db_path(scope))
}

/// How long `plugin`'s `phase` is likely to take: the median duration of
/// the successful ones among its last ten recorded runs; `None` without
/// such history (or without a readable database).
pub fn estimate(scope: Scope, plugin: &str, phase: Phase) -> Option<Duration> {
    let db = open_for_reading(scope).ok()??;
    let recent = query::recent(&db, plugin, phase.as_str(), ESTIMATE_WINDOW).ok()?;
    let mut durations: Vec<Duration> = recent
        .iter()
        .filter(|r| r.result == Outcome::Success)
        .filter_map(Record::duration)
        .collect();
    durations.sort();
    median(&durations)
}

/// The middle value of sorted `v` (the mean of the two middle ones for an
/// even count).
pub fn median(v: &[Duration]) -> Option<Duration> {
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2),
    }
}

/// The nearest-rank `p`-th percentile (0 < p ≤ 100) of sorted `v`: the
/// smallest value with at least p % of the values at or below it.
pub fn percentile(v: &[Duration], p: u32) -> Option<Duration> {
    let rank = (v.len() * p as usize).div_ceil(100).max(1);
    v.get(rank - 1).copied()
}

/// The summary of run `run_id` as recorded (also what a recorder that
/// died recorded), for the notification at its end.
pub fn run_summary(db: &Db, run_id: RunId) -> Result<RunSummary, DbError> {
    let records = query::run_records(db, run_id)
        .map_err(|e| DbError::new(&db.path, DbErrorKind::Sqlite(e)))?;
    Ok(summary::summarize(&records))
}

/// A record is a unit's part in its run: from its start to its end.
impl UnitResult for Record {
    fn plugin(&self) -> &str {
        &self.plugin
    }

    fn outcome(&self) -> Option<Outcome> {
        Some(self.result)
    }

    fn started(&self) -> Option<SystemTime> {
        time(self.started_us?)
    }

    fn ended(&self) -> Option<SystemTime> {
        time(self.ended_us?)
    }
}

/// Microseconds since the epoch, as the database keeps time.
fn time(us: i64) -> Option<SystemTime> {
    Some(UNIX_EPOCH + Duration::from_micros(u64::try_from(us).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|&m| Duration::from_millis(m)).collect()
    }

    #[test]
    fn median_and_percentile() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&ms(&[1, 5, 9])), Some(Duration::from_millis(5)));
        assert_eq!(median(&ms(&[1, 5, 9, 11])), Some(Duration::from_millis(7)));
        assert_eq!(percentile(&[], 90), None);
        assert_eq!(
            percentile(&ms(&[1, 5, 9]), 90),
            Some(Duration::from_millis(9))
        );
        let ten = ms(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(percentile(&ten, 90), Some(Duration::from_millis(9)));
        assert_eq!(percentile(&ten, 50), Some(Duration::from_millis(5)));
        assert_eq!(percentile(&ms(&[4]), 90), Some(Duration::from_millis(4)));
    }

    fn record(plugin: &str, result: Outcome, start: i64, end: i64) -> Record {
        Record {
            run_id: 1,
            plugin: plugin.into(),
            phase: "update".into(),
            unit: format!("update-all-{plugin}.service"),
            invocation_id: format!("{plugin}{start}"),
            started_us: Some(start),
            ended_us: Some(end),
            result,
            exit_code: None,
            exit_status: None,
            cpu_ns: None,
            memory_peak_bytes: None,
            io_read_bytes: None,
            io_write_bytes: None,
            ip_ingress_bytes: None,
            ip_egress_bytes: None,
            attempts: None,
            detail: None,
        }
    }

    #[test]
    fn summary_takes_each_plugins_worst_phase() {
        let s = summary::summarize(&[
            record("apt", Outcome::Success, 1_000_000, 2_000_000),
            record("apt", Outcome::Failed, 2_000_000, 3_000_000),
            record("flatpak", Outcome::Success, 1_500_000, 4_500_000),
            record("snap", Outcome::Skipped, 1_000_000, 1_100_000),
            record("hog", Outcome::Oom, 1_000_000, 1_100_000),
        ]);
        assert_eq!(s.succeeded, ["flatpak"]);
        assert_eq!(s.failed, ["apt", "hog"]);
        assert_eq!(s.skipped, ["snap"]);
        assert_eq!(s.duration, Duration::from_millis(3500));
    }

    #[test]
    fn state_dir_override() {
        // Only this test touches the variable.
        std::env::set_var("UPDATE_ALL_STATE_DIR", "/x/y");
        assert_eq!(db_path(Scope::User), Path::new("/x/y/stats.db"));
        std::env::remove_var("UPDATE_ALL_STATE_DIR");
        assert_eq!(
            db_path(Scope::System),
            Path::new("/var/lib/update-all/stats.db")
        );
    }
}
