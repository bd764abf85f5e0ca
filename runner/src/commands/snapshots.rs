//! `update-all snapshots [RUN] [--last N] [--json]`: the snapshots taken
//! around each run (`stats::snapshots`), by run. Snapshots are the
//! system's, so this reads the system's records whatever the scope.
//!
//! Exit status 0, also when nothing was recorded; 1 when the statistics
//! database cannot be read.

use crate::cli::SnapshotsArgs;
use crate::output;
use crate::output::format::{cpu_time, local_time, table};
use crate::stats::snapshots::{self, Snapshot, NONE};
use crate::stats::{self, RunId};
use serde::Serialize;
use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;
use update_all_core::Scope;

pub fn run(_scope: Scope, args: &SnapshotsArgs) -> ExitCode {
    let rows = match super::database::query(Scope::System, |db| match args.run {
        Some(run) => snapshots::of_run(&db.conn, run),
        None => snapshots::recent(&db.conn, args.last),
    }) {
        Ok(rows) => rows,
        Err(code) => return code,
    };
    let path = stats::db_path(Scope::System);
    output::print_then_exit(0, |out| {
        if args.json {
            json(out, &rows, &path)
        } else {
            text(out, &rows, args.run)
        }
    })
}

#[derive(Serialize)]
struct Json<'a> {
    database: &'a Path,
    runs: Vec<JsonRun<'a>>,
}

/// One run's snapshots, for scripts.
#[derive(Serialize)]
struct JsonRun<'a> {
    run_id: RunId,
    /// No backend applied: only per-plugin rollback was available.
    no_backend: bool,
    snapshots: Vec<JsonSnapshot<'a>>,
}

#[derive(Serialize)]
struct JsonSnapshot<'a> {
    #[serde(flatten)]
    snapshot: &'a Snapshot,
    duration_s: f64,
}

fn json(out: &mut dyn Write, rows: &[Snapshot], database: &Path) -> io::Result<()> {
    let mut runs: Vec<JsonRun> = Vec::new();
    for row in rows {
        if runs.last().is_none_or(|r| r.run_id != row.run_id) {
            runs.push(JsonRun {
                run_id: row.run_id,
                no_backend: false,
                snapshots: Vec::new(),
            });
        }
        let run = runs.last_mut().expect("pushed above");
        if row.backend == NONE {
            run.no_backend = true;
            continue;
        }
        run.snapshots.push(JsonSnapshot {
            snapshot: row,
            duration_s: took(row).as_secs_f64(),
        });
    }
    output::json(out, &Json { database, runs })
}

fn text(out: &mut dyn Write, rows: &[Snapshot], run: Option<RunId>) -> io::Result<()> {
    if rows.is_empty() {
        return match run {
            Some(run) => writeln!(out, "No snapshots recorded for run {run}."),
            None => writeln!(out, "No snapshots recorded yet."),
        };
    }
    let cells: Vec<[String; 8]> = rows
        .iter()
        .map(|r| {
            let none = r.backend == NONE;
            [
                r.run_id.to_string(),
                if none { "-".into() } else { r.phase.clone() },
                r.backend.clone(),
                r.config_or_path.clone(),
                r.number_or_name.clone().unwrap_or_else(|| "-".into()),
                local_time(r.started_us),
                // Often far below a second: "19ms".
                if none { "-".into() } else { cpu_time(took(r)) },
                match (&r.error, none) {
                    (Some(e), _) => format!("failed: {e}"),
                    (None, true) => "no backend: only per-plugin rollback".into(),
                    (None, false) => "taken".into(),
                },
            ]
        })
        .collect();
    table(
        out,
        &[
            "RUN",
            "PHASE",
            "BACKEND",
            "CONFIG/PATH",
            "SNAPSHOT",
            "AT",
            "TOOK",
            "RESULT",
        ],
        &cells,
    )
}

fn took(r: &Snapshot) -> Duration {
    Duration::from_micros(u64::try_from(r.duration_us).unwrap_or(0))
}
