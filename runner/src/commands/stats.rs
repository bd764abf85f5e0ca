//! `update-all stats`: per plugin and phase, how often it ran, how often it
//! succeeded, how long it takes and what it costs.
//!
//! Exit status 0, also when nothing was recorded yet; 1 when the
//! statistics database cannot be read.

use crate::cli::StatsArgs;
use crate::output;
use crate::output::format::{bytes, cpu_time, duration, local_time, or_dash, table};
use crate::stats::query::{self, PhaseStats};
use crate::stats::{self};
use serde::Serialize;
use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;
use update_all_core::Scope;

pub fn run(scope: Scope, args: &StatsArgs) -> ExitCode {
    let phases = match super::database::query(scope, query::phase_stats) {
        Ok(phases) => phases,
        Err(code) => return code,
    };
    let path = stats::db_path(scope);
    output::print_then_exit(0, |out| {
        if args.json {
            output::json(
                out,
                &Json {
                    database: &path,
                    phases: &phases,
                },
            )
        } else {
            write_table(out, &phases, &path)
        }
    })
}

#[derive(Serialize)]
struct Json<'a> {
    database: &'a Path,
    phases: &'a [PhaseStats],
}

fn write_table(out: &mut dyn Write, phases: &[PhaseStats], path: &Path) -> io::Result<()> {
    if phases.is_empty() {
        return writeln!(out, "No runs recorded yet in {}.", path.display());
    }
    let header = [
        "PLUGIN", "PHASE", "RUNS", "SUCCESS", "SKIPPED", "MEDIAN", "P90", "MEAN CPU", "MEAN MEM",
        "MAX MEM", "LAST RUN",
    ];
    let secs = |s: f64| duration(Duration::from_secs_f64(s));
    let rows: Vec<[String; 11]> = phases
        .iter()
        .map(|p| {
            [
                p.plugin.clone(),
                p.phase.clone(),
                p.runs.to_string(),
                or_dash(p.success_rate, |r| format!("{:.0}%", r * 100.0)),
                p.skipped.to_string(),
                or_dash(p.median_s, secs),
                or_dash(p.p90_s, secs),
                or_dash(p.mean_cpu_s, |s| cpu_time(Duration::from_secs_f64(s))),
                or_dash(p.mean_memory_peak_bytes, bytes),
                or_dash(p.max_memory_peak_bytes, bytes),
                or_dash(p.last_ended_us, local_time),
            ]
        })
        .collect();
    table(out, &header, &rows)?;
    writeln!(
        out,
        "\nSuccess: of the runs that were not skipped. Median and p90: of the successful runs."
    )
}
