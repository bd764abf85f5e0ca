//! `update-all resume [--dry-run] [--json] [--pending]`: runs the plugins
//! that a crash, a power loss or a reboot left unfinished in the last run,
//! as one new run that the database records as a resume of it.
//!
//! Which run and units: `stats::unfinished` (the units the recorder wrote
//! down before they started, without a record). Starting and following
//! them: `run::scope`, as for a retry, with the link to the old run left
//! as a request (`stats::request`, kind `resume`). `--pending` is the
//! ExecCondition= of update-all-resume.service: it asks the configuration
//! (`resume: at-boot`) and the database, and starts nothing.
//!
//! Exit status as `update-all run` (see `run::exit`), 0 when there is
//! nothing to resume; with `--pending`, 0 to resume and 1 not to.

use crate::cli::ResumeArgs;
use crate::output::progress::Progress;
use crate::output::{self, interrupted};
use crate::run::{self, Options, Retry};
use crate::stats::request::Kind;
use crate::stats::store;
use crate::stats::unfinished::Interrupted;
use serde::Serialize;
use std::io::{self, Write};
use std::process::ExitCode;
use update_all_core::config::Resume;
use update_all_core::{Env, Scope};

pub fn run(scope: Scope, args: &ResumeArgs) -> ExitCode {
    let boot = store::boot_id();
    let pending = match super::database::query(scope, |db| db.interrupted(&boot)) {
        Ok(found) => found.filter(|i| !i.unfinished.is_empty()),
        Err(code) => return code,
    };
    if args.pending {
        return ExitCode::from(u8::from(!at_boot(scope, pending.as_ref())));
    }
    let interrupted = match pending {
        Some(i) if !args.dry_run => i,
        pending => {
            let json = Json {
                dry_run: args.dry_run,
                units: pending
                    .as_ref()
                    .map(Interrupted::units_to_resume)
                    .unwrap_or_default(),
                interrupted: pending,
            };
            return output::print_then_exit(0, |out| {
                if args.json {
                    output::json(out, &json)
                } else {
                    write_text(out, &json)
                }
            });
        }
    };
    let plan = update_all_core::load(&Env::from_process(Some(scope)));
    let mut progress = Progress::new(scope, args.json);
    progress.note(
        "resume",
        &format!(
            "resuming run {}: {}",
            interrupted.run.id,
            interrupted.plugins().join(", ")
        ),
        &[],
    );
    let options = Options {
        json: args.json,
        retry: Some(Retry {
            follows: interrupted.run.id,
            units: interrupted.units_to_resume(),
            kind: Kind::Resume,
        }),
        ..Options::default()
    };
    ExitCode::from(run::scope::run_planned(scope, &plan, &options))
}

/// `--pending`: the configuration says `resume: at-boot` and a run is to
/// be resumed; why not is logged (the unit's journal), with `resume: ask`
/// as a warning that says what to run (`journalctl -p warning`).
fn at_boot(scope: Scope, pending: Option<&Interrupted>) -> bool {
    let (config, _) = update_all_core::config::load(&Env::from_process(Some(scope)));
    match pending {
        None => {
            tracing::info!("no interrupted run to resume");
            false
        }
        Some(i) if config.resume == Resume::Ask => {
            tracing::warn!(
                "run {} was interrupted: `update-all resume` runs the plugins it left \
                 unfinished (resume: ask in the configuration)",
                i.run.id
            );
            false
        }
        Some(i) if config.resume != Resume::AtBoot => {
            tracing::info!(
                "run {} was interrupted; resume: {} in the configuration, so it is not \
                 resumed at boot",
                i.run.id,
                config.resume.as_str()
            );
            false
        }
        Some(_) => true,
    }
}

/// What `--dry-run` (or nothing to resume) prints with `--json`.
#[derive(Serialize)]
struct Json {
    dry_run: bool,
    /// The run to resume; null when no run is interrupted.
    interrupted: Option<Interrupted>,
    /// The units a resume starts.
    units: Vec<String>,
}

fn write_text(out: &mut dyn Write, json: &Json) -> io::Result<()> {
    let Some(i) = &json.interrupted else {
        return writeln!(out, "Nothing to resume: the last run was not interrupted.");
    };
    writeln!(out, "{}", interrupted::line(i))?;
    writeln!(
        out,
        "Would resume: {} (`update-all resume` runs them as a new run).",
        i.plugins().join(", ")
    )
}
