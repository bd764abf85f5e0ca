//! `update-all retry [--run ID] [--dry-run] [--json]`: runs again what
//! failed, was cancelled or never started in the last run (or run ID), as
//! one new run that the database records as a retry of it.
//!
//! Which units: `run::only::to_retry`, from the run's records and the plan.
//! Starting and following them: `run::scope`, as for `run --only`; the
//! link to the old run: `stats::request`.
//!
//! Exit status as `update-all run` (see `run::exit`), 0 when there is
//! nothing to retry; 1 when the database cannot be read or has no run ID.

use crate::cli::RetryArgs;
use crate::output::format::table;
use crate::output::progress::Progress;
use crate::output::{self, FAILURE};
use crate::run::{self, Options, Retry};
use crate::stats::query::{self, Run};
use crate::stats::{self, Record};
use serde::Serialize;
use std::io::{self, Write};
use std::process::ExitCode;
use update_all_core::{Env, Plan, Scope};

pub fn run(scope: Scope, args: &RetryArgs) -> ExitCode {
    let found = super::database::query(scope, |db| {
        let run = match args.run {
            Some(id) => query::run(db, id)?,
            None => query::last_run(db)?,
        };
        match run {
            Some(run) => Ok(Some((
                query::run_records(db, run.id)?,
                query::intended_units(db, run.id)?,
                run,
            ))),
            None => Ok(None),
        }
    });
    let (records, intended, old) = match found {
        Ok(Some(found)) => found,
        Ok(None) => {
            let path = stats::db_path(scope);
            if let Some(id) = args.run {
                tracing::error!("no run {id} in {}", path.display());
                return ExitCode::from(FAILURE);
            }
            return output::print_then_exit(0, |out| {
                if args.json {
                    output::json(out, &Json::default())
                } else {
                    writeln!(
                        out,
                        "Nothing to retry: no run recorded yet in {}.",
                        path.display()
                    )
                }
            });
        }
        Err(code) => return code,
    };
    let plan = update_all_core::load(&Env::from_process(Some(scope)));
    let units = run::only::to_retry(&plan, &records, &intended);
    if units.is_empty() || args.dry_run {
        let json = Json {
            run: Some(old.id),
            dry_run: args.dry_run,
            units: entries(&plan, &units, &records),
        };
        return output::print_then_exit(0, |out| {
            if args.json {
                output::json(out, &json)
            } else {
                write_text(out, &old, &json)
            }
        });
    }
    let mut progress = Progress::new(scope, args.json);
    progress.note(
        "retry",
        &format!("retrying run {}: {}", old.id, units.join(", ")),
        &[],
    );
    let options = Options {
        json: args.json,
        retry: Some(Retry {
            follows: old.id,
            units,
            kind: stats::request::Kind::Retry,
        }),
        ..Options::default()
    };
    ExitCode::from(run::scope::run_planned(scope, &plan, &options))
}

/// What `--dry-run` (or nothing to retry) prints with `--json`.
#[derive(Default, Serialize)]
struct Json {
    /// The run taken up; null when none was ever recorded.
    run: Option<stats::RunId>,
    dry_run: bool,
    /// What would be retried: empty when nothing is to be.
    units: Vec<Entry>,
}

/// A unit to retry and how it ended in the run.
#[derive(Serialize)]
struct Entry {
    unit: String,
    plugin: String,
    phase: &'static str,
    /// Its last result in the run; null: it never started.
    result: Option<stats::Outcome>,
}

/// `units` (plan order) with their plugin, phase and last result.
fn entries(plan: &Plan, units: &[String], records: &[Record]) -> Vec<Entry> {
    plan.units
        .iter()
        .map(|u| (u, plan.unit_name(u)))
        .filter(|(_, name)| units.contains(name))
        .map(|(u, name)| Entry {
            result: records
                .iter()
                .rev()
                .find(|r| r.unit == name)
                .map(|r| r.result),
            unit: name,
            plugin: plan.plugins[u.plugin].name().as_str().to_owned(),
            phase: u.phase.as_str(),
        })
        .collect()
}

fn write_text(out: &mut dyn Write, old: &Run, json: &Json) -> io::Result<()> {
    let started = output::format::local_time(old.started_us);
    if json.units.is_empty() {
        return writeln!(
            out,
            "Nothing to retry in run {} (started {started}): every unit succeeded or was skipped.",
            old.id
        );
    }
    writeln!(
        out,
        "Would retry from run {} (started {started}), as `update-all retry` runs them:",
        old.id
    )?;
    let rows: Vec<[String; 3]> = json
        .units
        .iter()
        .map(|e| {
            [
                e.plugin.clone(),
                e.phase.to_owned(),
                e.result
                    .map_or_else(|| "never started".to_owned(), |o| o.to_string()),
            ]
        })
        .collect();
    table(out, &["PLUGIN", "PHASE", "IN THAT RUN"], &rows)
}
