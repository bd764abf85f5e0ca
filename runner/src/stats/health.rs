//! The health checks' records (docs/safety.md, "Health checks"): each
//! run's baseline (`health_baselines`: the units failed when the recorder
//! opened it, and the manager's system state then), every check the health
//! unit and the boot check made (`health_checks`), and the boot check's
//! counter per run that asked for a reboot (`boot_checks`).

use super::{Db, RunId};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use std::collections::BTreeSet;

/// The `unit` under which a baseline keeps the system state.
const SYSTEM_STATE: &str = "system-state";

/// What the machine looked like when a run began.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Baseline {
    /// Units that had failed already: not blamed on the run.
    pub failed: BTreeSet<String>,
    /// `systemctl is-system-running` then (`running`, `degraded`, ...).
    pub system_state: String,
}

/// What a check looked at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckKind {
    /// A unit: one that failed since the baseline, or one of a manifest's
    /// `health.units`.
    Unit,
    /// A manifest's `health.exec` program.
    Exec,
    /// A script of `health.d/required.d`: its failure is unhealthy.
    Required,
    /// A script of `health.d/wanted.d`: its failure only warns.
    Wanted,
    /// The built-in checks of the whole manager (its system state, no new
    /// failed unit).
    System,
}

impl CheckKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckKind::Unit => "unit",
            CheckKind::Exec => "exec",
            CheckKind::Required => "required",
            CheckKind::Wanted => "wanted",
            CheckKind::System => "system",
        }
    }

    fn parse(s: &str) -> CheckKind {
        match s {
            "unit" => CheckKind::Unit,
            "exec" => CheckKind::Exec,
            "required" => CheckKind::Required,
            "wanted" => CheckKind::Wanted,
            _ => CheckKind::System,
        }
    }
}

/// One check as recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckRecord {
    /// `nginx.service`, `required.d/10-http`, `/usr/lib/foo/check`,
    /// `system-state`, `failed-units`.
    pub name: String,
    pub kind: CheckKind,
    pub ok: bool,
    /// What was found: `nginx.service is failed`, `exit status 3`.
    pub message: String,
    /// 1 at once, 2 after the stability window; a boot check's are the
    /// run's next round (3 after two, ...).
    pub round: u32,
    pub duration_us: i64,
    pub at_us: i64,
}

/// `boot_checks.result` as stored (NULL while no boot has said).
type BootCheckResult = Option<String>;

/// How a boot check of a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootResult {
    Healthy,
    /// A later boot checks again, while attempts are left.
    Unhealthy,
}

impl Db {
    /// Keeps `run`'s baseline, unless it has one (a recorder restarted
    /// mid-run keeps the first).
    pub fn set_baseline(&self, run: RunId, baseline: &Baseline) -> rusqlite::Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        let taken: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM health_baselines WHERE run_id = ?1)",
            [run],
            |r| r.get(0),
        )?;
        if !taken {
            let mut insert = tx.prepare(
                "INSERT OR IGNORE INTO health_baselines (run_id, unit, state) VALUES (?1, ?2, ?3)",
            )?;
            insert.execute(params![run, SYSTEM_STATE, baseline.system_state])?;
            for unit in &baseline.failed {
                insert.execute(params![run, unit, "failed"])?;
            }
        }
        tx.commit()
    }

    /// `run`'s baseline; none when it was not taken (a run recorded before
    /// health checks, or a recorder that could not reach systemd).
    pub fn baseline_of(&self, run: RunId) -> rusqlite::Result<Option<Baseline>> {
        let mut st = self
            .conn
            .prepare("SELECT unit, state FROM health_baselines WHERE run_id = ?1")?;
        let rows = st.query_map([run], |r| Ok((r.get::<_, String>(0)?, r.get(1)?)))?;
        let mut baseline: Option<Baseline> = None;
        for row in rows {
            let (unit, state) = row?;
            let b = baseline.get_or_insert_with(Baseline::default);
            if unit == SYSTEM_STATE {
                b.system_state = state;
            } else {
                b.failed.insert(unit);
            }
        }
        Ok(baseline)
    }

    /// Records one check of `run`.
    pub fn add_health_check(&self, run: RunId, check: &CheckRecord) -> rusqlite::Result<()> {
        self.conn.execute(
            "INSERT INTO health_checks
                 (run_id, check_name, kind, ok, message, round, duration_us, at_us)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                run,
                check.name,
                check.kind.as_str(),
                check.ok,
                check.message,
                check.round,
                check.duration_us,
                check.at_us
            ],
        )?;
        Ok(())
    }

    /// Every check recorded of `run`, in the order they were made: what a
    /// rollback names as its reason, and what history shows.
    #[allow(dead_code)] // for the rollback and the reports
    pub fn health_checks_of(&self, run: RunId) -> rusqlite::Result<Vec<CheckRecord>> {
        let mut st = self.conn.prepare(
            "SELECT check_name, kind, ok, message, round, duration_us, at_us
             FROM health_checks WHERE run_id = ?1 ORDER BY id",
        )?;
        let rows = st.query_map([run], |r| {
            Ok(CheckRecord {
                name: r.get(0)?,
                kind: CheckKind::parse(&r.get::<_, String>(1)?),
                ok: r.get(2)?,
                message: r.get(3)?,
                round: r.get(4)?,
                duration_us: r.get(5)?,
                at_us: r.get(6)?,
            })
        })?;
        rows.collect()
    }

    /// The highest round recorded of `run` (0 for none): the boot check
    /// records its checks as the next one.
    pub fn last_health_round(&self, run: RunId) -> rusqlite::Result<u32> {
        self.conn.query_row(
            "SELECT COALESCE(MAX(round), 0) FROM health_checks WHERE run_id = ?1",
            [run],
            |r| r.get(0),
        )
    }

    /// The plugins whose update ran in `run`: its update unit started (as
    /// written down) or ended other than skipped or cancelled (as
    /// recorded), sorted.
    pub fn updated_plugins(&self, run: RunId) -> rusqlite::Result<Vec<String>> {
        let mut st = self.conn.prepare(
            "SELECT plugin FROM run_units
                 WHERE run_id = ?1 AND phase = 'update' AND invocation_id IS NOT NULL
             UNION
             SELECT plugin FROM records
                 WHERE run_id = ?1 AND phase = 'update'
                   AND result NOT IN ('skipped', 'cancelled')
             ORDER BY plugin",
        )?;
        let rows = st.query_map([run], |r| r.get(0))?;
        rows.collect()
    }

    /// The run the boot check of boot `boot` is for: the newest run of an
    /// earlier boot that recorded it needed a reboot, when no boot found
    /// it healthy yet and fewer than `attempts` boots checked it (the
    /// boot counter; this boot's own attempt counts once, however often
    /// the check runs in it).
    pub fn pending_boot_check(&self, boot: &str, attempts: u32) -> rusqlite::Result<Option<RunId>> {
        let newest: Option<(RunId, Option<i64>, Option<String>, BootCheckResult)> = self
            .conn
            .query_row(
                "SELECT r.id, b.attempts, b.last_boot_id, b.result
                 FROM runs r LEFT JOIN boot_checks b ON b.run_id = r.id
                 WHERE r.boot_id != ?1 AND r.reboot_required = 1
                 ORDER BY r.started_us DESC, r.id DESC LIMIT 1",
                [boot],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let Some((run, tried, last_boot, result)) = newest else {
            return Ok(None);
        };
        let pending = match result.as_deref() {
            Some("healthy" | "before") => false,
            // This boot's attempt is under way or done: it counts once.
            _ if last_boot.as_deref() == Some(boot) => true,
            _ => tried.unwrap_or(0) < i64::from(attempts),
        };
        Ok(pending.then_some(run))
    }

    /// Counts boot `boot`'s attempt at checking `run` (once per boot).
    pub fn count_boot_attempt(&self, run: RunId, boot: &str, at_us: i64) -> rusqlite::Result<()> {
        self.conn.execute(
            "INSERT INTO boot_checks (run_id, attempts, last_boot_id, at_us)
             VALUES (?1, 1, ?2, ?3)
             ON CONFLICT (run_id) DO UPDATE SET
                 attempts = attempts + (last_boot_id IS NOT ?2),
                 last_boot_id = ?2, at_us = ?3",
            params![run, boot, at_us],
        )?;
        Ok(())
    }

    /// Records how boot check of `run` ended.
    pub fn set_boot_result(&self, run: RunId, result: BootResult) -> rusqlite::Result<()> {
        let text = match result {
            BootResult::Healthy => "healthy",
            BootResult::Unhealthy => "unhealthy",
        };
        self.conn.execute(
            "UPDATE boot_checks SET result = ?2 WHERE run_id = ?1",
            params![run, text],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open_for_writing(&dir.path().join("stats.db")).unwrap();
        (dir, db)
    }

    #[test]
    fn a_baseline_is_kept_once_per_run() {
        let (_dir, db) = db();
        let run = db.new_run("b", 1, false).unwrap();
        assert_eq!(db.baseline_of(run).unwrap(), None);
        let first = Baseline {
            failed: ["a.service".to_owned(), "b.mount".to_owned()].into(),
            system_state: "degraded".into(),
        };
        db.set_baseline(run, &first).unwrap();
        db.set_baseline(run, &Baseline::default()).unwrap();
        assert_eq!(db.baseline_of(run).unwrap(), Some(first));
    }

    #[test]
    fn checks_are_kept_in_order() {
        let (_dir, db) = db();
        let run = db.new_run("b", 1, false).unwrap();
        let check = |name: &str, kind, ok, round| CheckRecord {
            name: name.into(),
            kind,
            ok,
            message: format!("{name} said so"),
            round,
            duration_us: 5,
            at_us: 7,
        };
        let made = [
            check("system-state", CheckKind::System, true, 1),
            check("nginx.service", CheckKind::Unit, false, 2),
            check("wanted.d/x", CheckKind::Wanted, false, 2),
        ];
        for c in &made {
            db.add_health_check(run, c).unwrap();
        }
        assert_eq!(db.health_checks_of(run).unwrap(), made);
    }

    fn reboot_run(db: &Db, boot: &str, started: i64) -> RunId {
        let run = db.new_run(boot, started, false).unwrap();
        db.conn
            .execute("UPDATE runs SET reboot_required = 1 WHERE id = ?1", [run])
            .unwrap();
        run
    }

    #[test]
    fn the_boot_check_counts_boots_and_ends_when_healthy() {
        let (_dir, db) = db();
        assert_eq!(db.pending_boot_check("b2", 3).unwrap(), None);
        let old = reboot_run(&db, "b1", 1);
        let run = reboot_run(&db, "b1", 2);
        // A run of this boot is not for this boot's check.
        assert_eq!(db.pending_boot_check("b1", 3).unwrap(), None);
        assert_eq!(db.pending_boot_check("b2", 3).unwrap(), Some(run));
        db.count_boot_attempt(run, "b2", 10).unwrap();
        // Twice in one boot: one attempt, still pending in it.
        db.count_boot_attempt(run, "b2", 11).unwrap();
        db.set_boot_result(run, BootResult::Unhealthy).unwrap();
        assert_eq!(db.pending_boot_check("b2", 3).unwrap(), Some(run));
        for boot in ["b3", "b4"] {
            assert_eq!(db.pending_boot_check(boot, 3).unwrap(), Some(run));
            db.count_boot_attempt(run, boot, 12).unwrap();
            db.set_boot_result(run, BootResult::Unhealthy).unwrap();
        }
        // Three boots tried: the counter is spent.
        assert_eq!(db.pending_boot_check("b5", 3).unwrap(), None);
        assert_eq!(db.pending_boot_check("b5", 4).unwrap(), Some(run));
        db.count_boot_attempt(run, "b5", 13).unwrap();
        db.set_boot_result(run, BootResult::Healthy).unwrap();
        assert_eq!(db.pending_boot_check("b6", 10).unwrap(), None);
        // Only the newest run counts: an older one is not dug up.
        assert_ne!(old, run);
    }
}
