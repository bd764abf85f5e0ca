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
                     ip_egress_bytes)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
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
            ])?;
        Ok(n == 1)
    }
}
