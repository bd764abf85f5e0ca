//! `update-all rollback [RUN] [--dry-run] [--json] [--automatic]`: rolls
//! a run back through the ladder (`crate::rollback`, docs/safety.md).
//!
//! Exit status: 0 rolled back or shown (`--dry-run`), and for the rollback
//! unit also when `safety.rollback: manual` or `off` kept it from acting;
//! 1 a step failed, nothing could roll the run back, or a guard refused;
//! 2 no such run, or the statistics database cannot be used.

use crate::cli::RollbackArgs;
use crate::output::{self, format};
use crate::rollback::guard::Refusal;
use crate::rollback::{self, Report, Request};
use crate::stats::{db_path, Db};
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;
use update_all_core::Scope;

/// No such run, or no database to find it in.
const NO_RUN: u8 = 2;

pub fn run(scope: Scope, args: &RollbackArgs) -> ExitCode {
    let path = db_path(scope);
    if !path.exists() {
        tracing::error!(
            "no run was recorded yet ({} does not exist)",
            path.display()
        );
        return ExitCode::from(NO_RUN);
    }
    let db = match Db::open_for_writing(&path) {
        Ok(db) => db,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(NO_RUN);
        }
    };
    let run = match args.run {
        Some(run) => crate::stats::query::run(&db, run).map(|r| r.map(|r| r.id)),
        None => rollback::default_run(&db, args.automatic),
    };
    let run = match run {
        Ok(Some(run)) => run,
        Ok(None) => {
            match args.run {
                Some(run) => tracing::error!("there is no run {run} (see update-all history)"),
                None => tracing::error!("no run to roll back"),
            }
            return ExitCode::from(NO_RUN);
        }
        Err(e) => {
            tracing::error!("{}: {e}", path.display());
            return ExitCode::from(NO_RUN);
        }
    };
    let report = rollback::roll_back(
        &db,
        scope,
        Request {
            run,
            automatic: args.automatic,
            dry_run: args.dry_run,
        },
    );
    // The unit does what the configuration says: a refusal by it is no
    // failure of the unit's.
    let by_configuration =
        args.automatic && matches!(report.refusal, Some(Refusal::Manual | Refusal::Off));
    let code = if report.succeeded() || by_configuration {
        0
    } else {
        1
    };
    output::print_then_exit(code, |out| {
        if args.json {
            output::json(out, &report)
        } else {
            text(out, &report)
        }
    })
}

fn text(out: &mut dyn Write, report: &Report) -> std::io::Result<()> {
    let run = report.run;
    if let Some(refused) = &report.refused {
        return writeln!(out, "Run {run} is not rolled back: {refused}.");
    }
    if report.dry_run {
        writeln!(out, "Rollback of run {run} (dry run: nothing is changed)")?;
    } else {
        writeln!(out, "Rollback of run {run}")?;
    }
    writeln!(out, "Why: {}", report.why)?;
    if !report.not_covered.is_empty() {
        writeln!(
            out,
            "No rollback of their own: {}",
            report.not_covered.join(", ")
        )?;
    }
    for (i, step) in report.steps.iter().enumerate() {
        let took = Duration::from_micros(u64::try_from(step.duration_us).unwrap_or(0));
        let then = if report.dry_run && i > 0 {
            " (if the step before is not enough)"
        } else {
            ""
        };
        writeln!(
            out,
            "{}. {}: {}{then}",
            i + 1,
            step.step.as_str(),
            step.what
        )?;
        if !report.dry_run {
            writeln!(
                out,
                "   {} in {}{}",
                step.result.as_str(),
                format::duration(took),
                if step.detail.is_empty() {
                    String::new()
                } else {
                    format!(": {}", step.detail)
                }
            )?;
        }
    }
    Ok(())
}
