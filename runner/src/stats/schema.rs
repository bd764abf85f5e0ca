//! The statistics database's schema, versioned with `PRAGMA user_version`:
//! version N means the first N migrations have been applied. Migrations are
//! only ever appended, never edited, so every older database can be brought
//! up to date in order.

use rusqlite::{Connection, Transaction};

/// Each entry moves the schema from version `index` to `index + 1`.
const MIGRATIONS: &[&str] = &[
    // v1: runs and one record per finished unit invocation.
    "CREATE TABLE runs (
         id         INTEGER PRIMARY KEY,
         -- /proc/sys/kernel/random/boot_id: a recorder restarted after a
         -- crash continues an unfinished run of the same boot only.
         boot_id    TEXT NOT NULL,
         started_us INTEGER NOT NULL,
         -- NULL while the run is going on (or its recorder died).
         ended_us   INTEGER,
         -- 1 for runs made of units found finished but unrecorded when a
         -- recorder started with no unfinished run to put them in.
         catch_up   INTEGER NOT NULL DEFAULT 0
     );
     CREATE TABLE records (
         id                INTEGER PRIMARY KEY,
         run_id            INTEGER NOT NULL REFERENCES runs(id),
         plugin            TEXT NOT NULL,
         phase             TEXT NOT NULL,
         unit              TEXT NOT NULL,
         -- systemd's InvocationID: a unit's run is recorded at most once.
         invocation_id     TEXT NOT NULL UNIQUE,
         started_us        INTEGER,
         ended_us          INTEGER,
         result            TEXT NOT NULL,
         -- How the main process ended: exited, killed or dumped; with the
         -- exit status or the signal number.
         exit_code         TEXT,
         exit_status       INTEGER,
         cpu_ns            INTEGER,
         memory_peak_bytes INTEGER,
         io_read_bytes     INTEGER,
         io_write_bytes    INTEGER,
         ip_ingress_bytes  INTEGER,
         ip_egress_bytes   INTEGER
     );
     CREATE INDEX records_by_run ON records(run_id);
     CREATE INDEX records_by_plugin ON records(plugin, phase, ended_us);",
    // v2: runs a pre-flight condition skipped before anything started.
    "CREATE TABLE skips (
         id      INTEGER PRIMARY KEY,
         at_us   INTEGER NOT NULL,
         -- on battery power, metered network
         reason  TEXT NOT NULL,
         -- who asked for the run: timer or manual
         trigger TEXT NOT NULL
     );",
    // v3: how many attempts a unit's command took (plugin-exec retries
    // transient failures in the same unit); NULL where not known: records
    // made before, and invocations that did not run the command.
    "ALTER TABLE records ADD COLUMN attempts INTEGER;",
    // v4: a run that takes up an earlier one (`update-all retry` runs what
    // failed in it, a resume what a crash or reboot left unfinished):
    // `follows` is that run, `kind` says how (`retry`, `resume`); both
    // NULL for a run of its own.
    "ALTER TABLE runs ADD COLUMN follows INTEGER REFERENCES runs(id);
     ALTER TABLE runs ADD COLUMN kind TEXT;",
    // v5: a run asked for before its units start (`update-all retry`
    // leaves one): the recorder that opens the next run of this boot takes
    // it up, and deletes every request, so one never outlives that run.
    "CREATE TABLE run_requests (
         id      INTEGER PRIMARY KEY,
         -- what the run will take up, and how (runs.follows, runs.kind)
         follows INTEGER NOT NULL REFERENCES runs(id),
         kind    TEXT NOT NULL,
         boot_id TEXT NOT NULL,
         at_us   INTEGER NOT NULL,
         -- the units asked for, space-separated: the next run is this one
         -- only if every plugin unit it finds queued is among them
         units   TEXT NOT NULL
     );",
    // v6: whether the machine needed a reboot when the run ended
    // (`reboot::detect`), and why, one reason a line; NULL for runs
    // recorded before.
    "ALTER TABLE runs ADD COLUMN reboot_required INTEGER;
     ALTER TABLE runs ADD COLUMN reboot_reasons TEXT;",
    // v7: each run's plugin units, written down before they start (as
    // PackageKit writes its transaction first), so that a run a crash, a
    // power loss or a reboot cut short is known at the next boot with
    // what had finished (its records) and what had not (these rows
    // without a record). `interrupted`: the run had no end when a
    // recorder of a later boot found it.
    "CREATE TABLE run_units (
         run_id        INTEGER NOT NULL REFERENCES runs(id),
         unit          TEXT NOT NULL,
         plugin        TEXT NOT NULL,
         phase         TEXT NOT NULL,
         -- NULL while its job waits; set when the unit starts
         invocation_id TEXT,
         started_us    INTEGER,
         PRIMARY KEY (run_id, unit)
     );
     ALTER TABLE runs ADD COLUMN interrupted INTEGER NOT NULL DEFAULT 0;",
    // Rollbacks (docs/safety.md, "Rollback"): `run_packages` is what a
    // plugin's estimate said its update would change, written by
    // plugin-exec before the update of a plugin that can roll back (the
    // versions its `rollback` returns to); `rollbacks` is each rollback
    // of a run tried, refused or shown (`update-all rollback`, the
    // rollback unit): which step of the ladder, why, how it ended.
    "CREATE TABLE run_packages (
         run_id          INTEGER NOT NULL REFERENCES runs(id),
         plugin          TEXT NOT NULL,
         name            TEXT NOT NULL,
         current_version TEXT,
         new_version     TEXT,
         -- patch, minor, major, security or unknown; NULL when not said
         update_type     TEXT,
         PRIMARY KEY (run_id, plugin, name)
     );
     CREATE TABLE rollbacks (
         id          INTEGER PRIMARY KEY,
         run_id      INTEGER NOT NULL REFERENCES runs(id),
         started_us  INTEGER NOT NULL,
         duration_us INTEGER NOT NULL,
         -- plugin, undochange or root: the ladder's step
         step        TEXT NOT NULL,
         what        TEXT NOT NULL,
         -- the failed health check (or the admin's request)
         why         TEXT NOT NULL,
         -- ok, failed, refused or dry-run
         result      TEXT NOT NULL,
         automatic   INTEGER NOT NULL
     );
     CREATE INDEX rollbacks_by_run ON rollbacks(run_id);",
    // Health checks (docs/safety.md, "Health checks"): the baseline the
    // recorder takes when it opens a run (the units failed then, and the
    // manager's `system-state`), so that health blames only what failed
    // since; each check of the health unit and of the boot check, by round
    // (1 at once, 2 after the stability window); and the boot check's
    // counter per run that asked for a reboot. Runs that asked for one
    // before boot checks existed count as checked.
    "CREATE TABLE health_baselines (
         run_id INTEGER NOT NULL REFERENCES runs(id),
         -- a failed unit's name, or `system-state`
         unit   TEXT NOT NULL,
         -- `failed`, or the system state (running, degraded, ...)
         state  TEXT NOT NULL,
         PRIMARY KEY (run_id, unit)
     );
     CREATE TABLE health_checks (
         id          INTEGER PRIMARY KEY,
         run_id      INTEGER NOT NULL REFERENCES runs(id),
         check_name  TEXT NOT NULL,
         -- unit, exec, required, wanted or system
         kind        TEXT NOT NULL,
         ok          INTEGER NOT NULL,
         message     TEXT NOT NULL,
         -- 1 before the stability window, 2 after; a boot check the next
         round       INTEGER NOT NULL,
         duration_us INTEGER NOT NULL,
         at_us       INTEGER NOT NULL
     );
     CREATE INDEX health_checks_by_run ON health_checks(run_id);
     CREATE TABLE boot_checks (
         run_id       INTEGER PRIMARY KEY REFERENCES runs(id),
         -- boots that checked it so far (at most safety.boot_check_attempts)
         attempts     INTEGER NOT NULL,
         last_boot_id TEXT,
         -- healthy, unhealthy (a later boot checks again), or before: the
         -- run is older than boot checks
         result       TEXT,
         at_us        INTEGER NOT NULL
     );
     INSERT INTO boot_checks (run_id, attempts, result, at_us)
         SELECT id, 0, 'before', 0 FROM runs WHERE reboot_required = 1;",
    // Snapshots (docs/safety.md, "Snapshots"): each snapshot the snapshot
    // units took (or failed to take) for a run, one row per snapper
    // configuration or btrfs subvolume and phase; and one row with backend
    // `none` for a run to which no backend applied, so that the run says
    // once that only per-plugin rollback is available.
    "CREATE TABLE snapshots (
         id              INTEGER PRIMARY KEY,
         run_id          INTEGER NOT NULL REFERENCES runs(id),
         -- pre or post
         phase           TEXT NOT NULL,
         -- snapper, btrfs or none
         backend         TEXT NOT NULL,
         -- the snapper configuration, or the btrfs subvolume's path
         config_or_path  TEXT NOT NULL,
         -- snapper's number, or the btrfs snapshot's path; NULL when none
         number_or_name  TEXT,
         started_us      INTEGER NOT NULL,
         duration_us     INTEGER NOT NULL,
         -- why it failed; NULL when it was taken
         error           TEXT
     );
     CREATE INDEX snapshots_by_run ON snapshots(run_id);",
    // Update policies (docs/unattended.md, "Update policies"): what a
    // plugin's update held back under its policy, and why (stats::held).
    "CREATE TABLE held_back (
         run_id          INTEGER NOT NULL REFERENCES runs(id),
         plugin          TEXT NOT NULL,
         name            TEXT NOT NULL,
         current_version TEXT,
         new_version     TEXT,
         reason          TEXT,
         PRIMARY KEY (run_id, plugin, name)
     );",
    // Why a unit's condition skipped it, as it said in its status text
    // (the pre-flight disk space check), so that `status` and `history`
    // can tell it after the run; NULL for every other record.
    "ALTER TABLE records ADD COLUMN detail TEXT;",
];

/// The schema version this build writes and reads.
pub const CURRENT: u32 = MIGRATIONS.len() as u32;

/// Why the schema could not be brought up to date.
#[derive(Debug)]
pub enum Error {
    /// Written by a newer update-all: left alone rather than misread.
    TooNew(u32),
    Sqlite(rusqlite::Error),
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Sqlite(e)
    }
}

pub fn version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

/// Applies the missing migrations, each in its own transaction together
/// with its version bump, so a crash leaves a consistent older version.
pub fn migrate(conn: &mut Connection) -> Result<(), Error> {
    loop {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let v = version(&tx)?;
        if v > CURRENT {
            return Err(Error::TooNew(v));
        }
        if v == CURRENT {
            return Ok(());
        }
        apply(&tx, v)?;
        tx.commit()?;
    }
}

fn apply(tx: &Transaction, from: u32) -> rusqlite::Result<()> {
    tx.execute_batch(MIGRATIONS[from as usize])?;
    tx.pragma_update(None, "user_version", from + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables(conn: &Connection) -> Vec<String> {
        let mut st = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn empty_database_migrates_to_current_and_stays() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(version(&conn).unwrap(), 0);
        migrate(&mut conn).unwrap();
        assert_eq!(version(&conn).unwrap(), CURRENT);
        assert_eq!(
            tables(&conn),
            [
                "boot_checks",
                "health_baselines",
                "health_checks",
                "held_back",
                "records",
                "rollbacks",
                "run_packages",
                "run_requests",
                "run_units",
                "runs",
                "skips",
                "snapshots"
            ]
        );
        // Idempotent: a second open changes nothing.
        migrate(&mut conn).unwrap();
        assert_eq!(version(&conn).unwrap(), CURRENT);
    }

    #[test]
    fn every_intermediate_version_migrates_to_current() {
        for start in 0..CURRENT {
            let mut conn = Connection::open_in_memory().unwrap();
            for v in 0..start {
                let tx = conn.transaction().unwrap();
                apply(&tx, v).unwrap();
                tx.commit().unwrap();
            }
            assert_eq!(version(&conn).unwrap(), start);
            migrate(&mut conn).unwrap();
            assert_eq!(version(&conn).unwrap(), CURRENT);
        }
    }

    #[test]
    fn records_of_a_v2_database_are_kept_with_attempts_unknown() {
        let mut conn = Connection::open_in_memory().unwrap();
        for v in 0..2 {
            let tx = conn.transaction().unwrap();
            apply(&tx, v).unwrap();
            tx.commit().unwrap();
        }
        conn.execute_batch(
            "INSERT INTO runs (id, boot_id, started_us) VALUES (1, 'b', 1);
             INSERT INTO records (run_id, plugin, phase, unit, invocation_id, result)
             VALUES (1, 'apt', 'update', 'update-all-apt.service', 'i', 'success');",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let (plugin, attempts): (String, Option<u32>) = conn
            .query_row("SELECT plugin, attempts FROM records", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((plugin.as_str(), attempts), ("apt", None));
    }

    #[test]
    fn newer_schema_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", CURRENT + 1)
            .unwrap();
        assert!(matches!(migrate(&mut conn), Err(Error::TooNew(v)) if v == CURRENT + 1));
    }
}
