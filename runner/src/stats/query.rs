//! Reads for `status`, `history`, `stats` and the estimates.

use super::{median, percentile, Db, Outcome, Record, RunId};
use rusqlite::{params, OptionalExtension, Row};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

const COLUMNS: &str = "run_id, plugin, phase, unit, invocation_id, started_us, ended_us, result,
     exit_code, exit_status, cpu_ns, memory_peak_bytes, io_read_bytes, io_write_bytes,
     ip_ingress_bytes, ip_egress_bytes, attempts, detail";

fn record(row: &Row) -> rusqlite::Result<Record> {
    Ok(Record {
        run_id: row.get(0)?,
        plugin: row.get(1)?,
        phase: row.get(2)?,
        unit: row.get(3)?,
        invocation_id: row.get(4)?,
        started_us: row.get(5)?,
        ended_us: row.get(6)?,
        result: Outcome::parse(&row.get::<_, String>(7)?),
        exit_code: row.get(8)?,
        exit_status: row.get(9)?,
        cpu_ns: row.get(10)?,
        memory_peak_bytes: row.get(11)?,
        io_read_bytes: row.get(12)?,
        io_write_bytes: row.get(13)?,
        ip_ingress_bytes: row.get(14)?,
        ip_egress_bytes: row.get(15)?,
        attempts: row.get(16)?,
        detail: row.get(17)?,
    })
}

fn records(
    db: &Db,
    sql_tail: &str,
    params: impl rusqlite::Params,
) -> rusqlite::Result<Vec<Record>> {
    let sql = format!("SELECT {COLUMNS} FROM records {sql_tail}");
    let mut st = db.conn.prepare(&sql)?;
    let rows = st.query_map(params, record)?;
    rows.collect()
}

/// One recorder lifetime (see the module documentation of `stats`).
#[derive(Clone, Debug, Serialize)]
pub struct Run {
    pub id: RunId,
    pub started_us: i64,
    /// None while going on, or when its recorder died and no recorder has
    /// started since (the next one closes it, see `Db::pick_up`).
    pub ended_us: Option<i64>,
    /// Units found finished but unrecorded when a recorder started.
    pub catch_up: bool,
    /// The earlier run this one takes up (a retry runs what failed in it),
    /// and how (`kind`: `retry`, `resume`); None for a run of its own.
    pub follows: Option<RunId>,
    pub kind: Option<String>,
}

impl Run {
    /// "retry of run 12", for a run that takes up another.
    pub fn link(&self) -> Option<String> {
        let follows = self.follows?;
        Some(format!(
            "{} of run {follows}",
            self.kind.as_deref().unwrap_or("continuation")
        ))
    }
}

fn one_run(
    db: &Db,
    sql_tail: &str,
    params: impl rusqlite::Params,
) -> rusqlite::Result<Option<Run>> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM runs {sql_tail}");
    db.conn.query_row(&sql, params, run_row).optional()
}

const RUN_COLUMNS: &str = "id, started_us, ended_us, catch_up, follows, kind";

fn run_row(r: &Row) -> rusqlite::Result<Run> {
    Ok(Run {
        id: r.get(0)?,
        started_us: r.get(1)?,
        ended_us: r.get(2)?,
        catch_up: r.get(3)?,
        follows: r.get(4)?,
        kind: r.get(5)?,
    })
}

/// The runs among `ids`, by id.
pub fn runs(db: &Db, ids: &[RunId]) -> rusqlite::Result<Vec<Run>> {
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM runs WHERE id IN (SELECT value FROM json_each(?1)) ORDER BY id"
    );
    let ids = serde_json::to_string(ids).unwrap_or_else(|_| "[]".to_owned());
    let mut st = db.conn.prepare(&sql)?;
    let rows = st.query_map([ids], run_row)?;
    rows.collect()
}

pub fn run(db: &Db, id: RunId) -> rusqlite::Result<Option<Run>> {
    one_run(db, "WHERE id = ?1", [id])
}

/// The newest run that recorded anything.
pub fn last_run(db: &Db) -> rusqlite::Result<Option<Run>> {
    one_run(
        db,
        "WHERE EXISTS (SELECT 1 FROM records WHERE run_id = runs.id) ORDER BY id DESC LIMIT 1",
        [],
    )
}

/// The units written down for `run` as their jobs appeared (see
/// `stats::unfinished`): every unit it was to run, however it ended; none
/// for a run recorded before they were (schema v7).
pub fn intended_units(db: &Db, run: RunId) -> rusqlite::Result<Vec<String>> {
    let mut st = db
        .conn
        .prepare("SELECT unit FROM run_units WHERE run_id = ?1 ORDER BY unit")?;
    let rows = st.query_map([run], |r| r.get(0))?;
    rows.collect()
}

/// A run's records in the order they ended.
pub fn run_records(db: &Db, run: RunId) -> rusqlite::Result<Vec<Record>> {
    records(db, "WHERE run_id = ?1 ORDER BY ended_us, id", [run])
}

/// The last `n` records (of `plugin`, when given), oldest first.
pub fn history(db: &Db, plugin: Option<&str>, n: usize) -> rusqlite::Result<Vec<Record>> {
    let n = i64::try_from(n).unwrap_or(i64::MAX);
    let mut v = records(
        db,
        "WHERE ?1 IS NULL OR plugin = ?1 ORDER BY ended_us DESC, id DESC LIMIT ?2",
        params![plugin, n],
    )?;
    v.reverse();
    Ok(v)
}

/// The last `n` records of one plugin phase, newest first.
pub fn recent(db: &Db, plugin: &str, phase: &str, n: usize) -> rusqlite::Result<Vec<Record>> {
    let n = i64::try_from(n).unwrap_or(i64::MAX);
    records(
        db,
        "WHERE plugin = ?1 AND phase = ?2 ORDER BY ended_us DESC, id DESC LIMIT ?3",
        params![plugin, phase, n],
    )
}

/// Aggregates over every recorded invocation of one plugin phase.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PhaseStats {
    pub plugin: String,
    pub phase: String,
    /// Every recorded invocation, skipped ones included.
    pub runs: usize,
    pub succeeded: usize,
    pub failed: usize,
    pub skipped: usize,
    /// succeeded ÷ (succeeded + failed); None when it never actually ran.
    pub success_rate: Option<f64>,
    /// Of the successful runs' durations (failures end early or at a
    /// timeout and would skew them); p90 is nearest-rank.
    pub median_s: Option<f64>,
    pub p90_s: Option<f64>,
    /// Over the runs whose counters were available.
    pub mean_cpu_s: Option<f64>,
    pub mean_memory_peak_bytes: Option<u64>,
    pub max_memory_peak_bytes: Option<u64>,
    pub last_ended_us: Option<i64>,
}

/// Per plugin and phase, sorted by plugin then phase.
pub fn phase_stats(db: &Db) -> rusqlite::Result<Vec<PhaseStats>> {
    let all = records(db, "ORDER BY ended_us, id", [])?;
    let mut groups: BTreeMap<(&str, &str), Vec<&Record>> = BTreeMap::new();
    for r in &all {
        groups.entry((&r.plugin, &r.phase)).or_default().push(r);
    }
    Ok(groups
        .into_iter()
        .map(|((plugin, phase), rs)| aggregate(plugin, phase, &rs))
        .collect())
}

fn aggregate(plugin: &str, phase: &str, rs: &[&Record]) -> PhaseStats {
    let count = |o: Outcome| rs.iter().filter(|r| r.result == o).count();
    let (succeeded, skipped) = (count(Outcome::Success), count(Outcome::Skipped));
    let failed = rs.len() - succeeded - skipped;
    let mut durations: Vec<Duration> = rs
        .iter()
        .filter(|r| r.result == Outcome::Success)
        .filter_map(|r| r.duration())
        .collect();
    durations.sort();
    let cpu: Vec<i64> = rs.iter().filter_map(|r| r.cpu_ns).collect();
    let mem: Vec<i64> = rs.iter().filter_map(|r| r.memory_peak_bytes).collect();
    let mean = |v: &[i64]| (!v.is_empty()).then(|| v.iter().sum::<i64>() as f64 / v.len() as f64);
    let ran = succeeded + failed;
    PhaseStats {
        plugin: plugin.to_owned(),
        phase: phase.to_owned(),
        runs: rs.len(),
        succeeded,
        failed,
        skipped,
        success_rate: (ran > 0).then(|| succeeded as f64 / ran as f64),
        median_s: median(&durations).map(|d| d.as_secs_f64()),
        p90_s: percentile(&durations, 90).map(|d| d.as_secs_f64()),
        mean_cpu_s: mean(&cpu).map(|ns| ns / 1e9),
        mean_memory_peak_bytes: mean(&mem).map(|b| b.round() as u64),
        max_memory_peak_bytes: mem.iter().max().map(|&b| b as u64),
        last_ended_us: rs.iter().filter_map(|r| r.ended_us).max(),
    }
}
