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
//! With `resume: ask`, `--notice` (update-all-resume-notice.service in
//! each user's manager, and for those logged in at boot) tells the users
//! on a desktop, once per interrupted run, to run `update-all resume`.
//!
//! Exit status as `update-all run` (see `run::exit`), 0 when there is
//! nothing to resume; with `--pending`, 0 to resume and 1 not to;
//! `--notice` always 0.

use crate::cli::ResumeArgs;
use crate::notify;
use crate::output::progress::Progress;
use crate::output::{self, interrupted};
use crate::run::{self, Options, Retry};
use crate::stats::request::Kind;
use crate::stats::store;
use crate::stats::unfinished::Interrupted;
use serde::Serialize;
use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Duration;
use update_all_core::config::Resume;
use update_all_core::{Env, Scope};

pub fn run(scope: Scope, args: &ResumeArgs) -> ExitCode {
    if args.notice {
        notice();
        return ExitCode::SUCCESS;
    }
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
            notice_graphical_users();
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

/// The user unit that tells a user of an interrupted run (`--notice`).
const NOTICE_UNIT: &str = "update-all-resume-notice.service";
/// How long `--notice` waits for the desktop's notification server.
const SERVER_WAIT: Duration = Duration::from_secs(60);

/// At boot with `resume: ask`: those logged in on a desktop already (an
/// automatic login) get the notice too, from [`NOTICE_UNIT`] in their own
/// manager, started as them (`notify::run_as`), so that each user is told
/// once per run, by `--notice` alone. Problems are logged.
fn notice_graphical_users() {
    let uids = match notify::graphical_uids() {
        Ok(uids) => uids,
        Err(e) => {
            tracing::info!("cannot list login sessions from logind: {e}");
            return;
        }
    };
    for uid in uids {
        let started = notify::run_as(
            uid,
            "systemctl",
            &["--user", "start", "--no-block", NOTICE_UNIT],
        );
        if let Err(e) = started {
            tracing::warn!("cannot tell uid {uid} of the interrupted run: {e}");
        }
    }
}

/// `--notice`, run as a user at the start of their manager (and at boot
/// for those logged in): under `resume: ask`, when the system's last run
/// was interrupted, tells the user, on a desktop only, once per run (the
/// run's id is kept in `resume-told` beside the user's own statistics).
/// Reads the system's configuration and statistics database, read-only;
/// says nothing when there is nothing to tell, nor on any problem (logged).
fn notice() {
    let (config, _) = update_all_core::config::load(&Env::from_process(Some(Scope::System)));
    if config.resume != Resume::Ask {
        return;
    }
    let boot = store::boot_id();
    let pending = crate::stats::open_for_reading(Scope::System)
        .map_err(|e| e.to_string())
        .and_then(|db| match db {
            Some(db) => db.interrupted(&boot).map_err(|e| e.to_string()),
            None => Ok(None),
        });
    let interrupted = match pending {
        Ok(Some(i)) if !i.unfinished.is_empty() => i,
        Ok(_) => return,
        Err(e) => {
            tracing::info!("cannot read the system's statistics: {e}");
            return;
        }
    };
    let told = crate::stats::db_path(Scope::User).with_file_name("resume-told");
    let id = interrupted.run.id.to_string();
    if std::fs::read_to_string(&told).is_ok_and(|t| t.trim() == id) {
        tracing::info!("told of interrupted run {id} already");
        return;
    }
    if !notify::covered_by_graphical(nix::unistd::getuid().as_raw()) {
        tracing::info!("interrupted run {id}: not on a desktop, nobody to tell");
        return;
    }
    if !notify::wait_for_server(SERVER_WAIT) {
        tracing::info!("interrupted run {id}: no notification server to tell");
        return;
    }
    let message = notify::Message::resume_waiting(interrupted.plugins().len());
    if let Err((_, e)) = notify::show(&message.summary, &message.body, message.critical) {
        tracing::warn!("cannot tell of interrupted run {id}: {e}");
        return;
    }
    tracing::info!("told of interrupted run {id}");
    let written = told
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(&told, format!("{id}\n")));
    if let Err(e) = written {
        tracing::warn!(
            "cannot note in {} that run {id} was told: {e}",
            told.display()
        );
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
