//! `update-all history`: the last recorded plugin unit runs, oldest first.
//! A unit that retried a transient failure says how many attempts it took
//! (`success after 3 attempts`; `attempts` in `--json`, null where not
//! known). A run that takes up an earlier one says so beside its number
//! (`13 (retry of run 12)`; `runs` in `--json`, with `follows` and `kind`).
//!
//! Exit status 0, also when nothing was recorded yet; 1 when the
//! statistics database cannot be read.

use crate::cli::HistoryArgs;
use crate::output;
use crate::output::format::{
    bytes, cpu_time, duration, local_time, or_dash, result_with_attempts, table,
};
use crate::stats::query::{self, Run};
use crate::stats::rollbacks::Rollback;
use crate::stats::{self, Record, RunId};
use serde::Serialize;
use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;
use update_all_core::Scope;

pub fn run(scope: Scope, args: &HistoryArgs) -> ExitCode {
    let (records, runs) = match super::database::query(scope, |db| {
        let records = query::history(db, args.plugin.as_deref(), args.last)?;
        let mut ids: Vec<RunId> = records.iter().map(|r| r.run_id).collect();
        ids.dedup();
        Ok((records, query::runs(db, &ids)?))
    }) {
        Ok(found) => found,
        Err(code) => return code,
    };
    // The rollbacks of those runs (docs/safety.md, "Rollback").
    let rollbacks = super::database::query(scope, |db| rollbacks_of(db, &runs)).unwrap_or_default();
    // What those runs' updates held back (docs/unattended.md).
    let held_back = super::database::query(scope, |db| {
        let mut all = Vec::new();
        for run in &runs {
            all.extend(db.held_back(run.id)?.into_iter().map(|h| (run.id, h)));
        }
        Ok(all)
    })
    .unwrap_or_default();
    let path = stats::db_path(scope);
    output::print_then_exit(0, |out| {
        if args.json {
            let records = records.iter().map(JsonRecord::from).collect();
            output::json(
                out,
                &Json {
                    database: &path,
                    records,
                    runs: &runs,
                    rollbacks: &rollbacks,
                    held_back: held_back
                        .iter()
                        .map(|(run_id, held)| HeldJson {
                            run_id: *run_id,
                            held,
                        })
                        .collect(),
                },
            )
        } else {
            write_table(out, &records, &runs, &path)?;
            write_rollbacks(out, &rollbacks)
        }
    })
}

#[derive(Serialize)]
struct Json<'a> {
    database: &'a Path,
    records: Vec<JsonRecord<'a>>,
    /// The runs of those records, by id.
    runs: &'a [Run],
    /// Their rollbacks, tried, refused or shown.
    rollbacks: &'a [Rollback],
    /// What their updates held back under the update policies.
    held_back: Vec<HeldJson<'a>>,
}

/// One package a run's update held back, with its run.
#[derive(Serialize)]
struct HeldJson<'a> {
    run_id: RunId,
    #[serde(flatten)]
    held: &'a stats::held::HeldRow,
}

/// A record with its duration worked out, for scripts.
#[derive(Serialize)]
pub struct JsonRecord<'a> {
    #[serde(flatten)]
    pub record: &'a Record,
    pub duration_s: Option<f64>,
}

impl<'a> From<&'a Record> for JsonRecord<'a> {
    fn from(record: &'a Record) -> Self {
        JsonRecord {
            record,
            duration_s: record.duration().map(|d| d.as_secs_f64()),
        }
    }
}

fn write_table(
    out: &mut dyn Write,
    records: &[Record],
    runs: &[Run],
    path: &Path,
) -> io::Result<()> {
    if records.is_empty() {
        return writeln!(out, "No runs recorded yet in {}.", path.display());
    }
    let header = [
        "STARTED", "RUN", "PLUGIN", "PHASE", "RESULT", "DURATION", "CPU", "PEAK MEM",
    ];
    let rows: Vec<[String; 8]> = records
        .iter()
        .map(|r| {
            [
                or_dash(r.started_us.or(r.ended_us), local_time),
                run_label(r.run_id, runs),
                r.plugin.clone(),
                r.phase.clone(),
                result_with_attempts(r),
                or_dash(r.duration(), duration),
                or_dash(r.cpu_ns, |ns| cpu_time(Duration::from_nanos(ns as u64))),
                or_dash(r.memory_peak_bytes, |b| bytes(b as u64)),
            ]
        })
        .collect();
    table(out, &header, &rows)
}

/// "13", or "13 (retry of run 12)" for a run that takes up another.
fn run_label(id: RunId, runs: &[Run]) -> String {
    match runs.iter().find(|run| run.id == id).and_then(Run::link) {
        Some(link) => format!("{id} ({link})"),
        None => id.to_string(),
    }
}

/// The rollbacks of `runs`, oldest first.
fn rollbacks_of(db: &stats::Db, runs: &[Run]) -> rusqlite::Result<Vec<Rollback>> {
    let mut all = Vec::new();
    for run in runs {
        all.extend(db.rollbacks_of(run.id)?);
    }
    Ok(all)
}

/// "Run 12 rolled back (undochange, automatic): …", one line per step
/// tried, refused or shown, below the table.
fn write_rollbacks(out: &mut dyn Write, rollbacks: &[Rollback]) -> io::Result<()> {
    for r in rollbacks {
        let how = if r.automatic { "automatic" } else { "by hand" };
        let verb = match r.result {
            stats::rollbacks::Outcome::Ok => "rolled back",
            stats::rollbacks::Outcome::Failed => "rollback failed",
            stats::rollbacks::Outcome::Refused => "rollback refused",
            stats::rollbacks::Outcome::DryRun => "rollback shown (dry run)",
        };
        writeln!(
            out,
            "Run {} {verb} ({}, {how}, {}): {}. Why: {}",
            r.run_id,
            r.step.as_str(),
            local_time(r.started_us),
            r.what,
            r.why
        )?;
    }
    Ok(())
}
