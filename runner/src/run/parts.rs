//! Which service managers one `update-all run` covers, in which order, and
//! the pre-flight check before each.
//!
//! | invocation | parts |
//! | --- | --- |
//! | `--system` | the system manager |
//! | `--user` | the caller's own user manager |
//! | root, no flag | the system manager, then the user who ran sudo or pkexec, else root's own user manager if it runs; else system only (said so) |
//! | anyone else, no flag | the caller's own user manager (system units need root: `sudo update-all run`) |
//! | `--only`, no flag | the default scope alone (root: system, else user) |
//! | `--system --scheduled` (update-all.service) | the system manager, then, when `schedule.update_logged_in_users` is set, every logged-in user's manager |
//!
//! Each part of this process checks the conditions of its own scope's
//! configuration (`run::preflight`) and records a skip. A user's part runs in
//! a process of the user's (see `users`): the invoker's checks its own
//! conditions (unless `--force`); the timer's runs for logged-in users
//! are forced, the system run having checked the machine already.

use super::exit::{worse, CANNOT_START, DETACHED, SKIPPED};
use super::scope::run_scope;
use super::users::{self, Output, RunUser};
use super::{preflight, Options};
use crate::output::progress::Progress;
use crate::stats::skips;
use std::io::IsTerminal;
use update_all_core::Scope;

/// One service manager's run.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    /// In this process.
    Here(Scope),
    /// A user's manager, in a process of the user's.
    User {
        user: RunUser,
        output: Output,
        force: bool,
    },
}

/// Runs every part of this invocation in turn; the exit status is the
/// worst part's (see [`worse`]).
pub fn run(explicit: Option<Scope>, args: &Options) -> u8 {
    let mut status = 0;
    let first = parts_before_users(explicit, args);
    let several = first.len() > 1 || args.scheduled;
    for part in first {
        let part_status = run_part(&part, args, several);
        status = worse(status, part_status);
        if part_status == DETACHED {
            return status;
        }
    }
    if explicit == Some(Scope::System) && args.scheduled && status != SKIPPED {
        for part in logged_in_users() {
            status = worse(status, run_part(&part, args, true));
        }
    }
    status
}

/// The parts known before the system run (see the module's table).
fn parts_before_users(explicit: Option<Scope>, args: &Options) -> Vec<Part> {
    let root = nix::unistd::geteuid().is_root();
    match explicit {
        Some(scope) => vec![Part::Here(scope)],
        None if !args.only.is_empty() => {
            vec![Part::Here(if root { Scope::System } else { Scope::User })]
        }
        None if !root => {
            if std::io::stdout().is_terminal() && !args.json {
                tracing::info!("your user plugins; `sudo update-all run` runs the system's too");
            }
            vec![Part::Here(Scope::User)]
        }
        None => {
            let mut parts = vec![Part::Here(Scope::System)];
            let user = RunUser::of(crate::invoker::elevated_from().unwrap_or(0));
            if user.has_manager() {
                parts.push(Part::User {
                    user,
                    output: Output::Inherit,
                    force: args.force,
                });
            } else if user.uid == 0 {
                tracing::info!(
                    "system plugins only: root has no user service manager running \
                     (user-scope plugins run in each user's own: `update-all run` as that user)"
                );
            } else {
                tracing::info!(
                    "system plugins only: {} has no user service manager running \
                     (not logged in?)",
                    user.label()
                );
            }
            parts
        }
    }
}

/// The timer's runs for logged-in users, when the configuration asks.
fn logged_in_users() -> Vec<Part> {
    let config = crate::config::load(Scope::System);
    if !config.schedule.update_logged_in_users {
        return Vec::new();
    }
    match users::logged_in() {
        Ok(users) => users
            .into_iter()
            .filter(RunUser::has_manager)
            .map(|user| Part::User {
                user,
                output: Output::Prefixed,
                force: true,
            })
            .collect(),
        Err(e) => {
            tracing::warn!("cannot list the logged-in users from logind: {e}");
            Vec::new()
        }
    }
}

fn run_part(part: &Part, args: &Options, announce: bool) -> u8 {
    let scope = match part {
        Part::Here(scope) => *scope,
        Part::User { .. } => Scope::User,
    };
    let mut progress = Progress::new(scope, args.json);
    match part {
        Part::Here(scope) => {
            if announce {
                progress.note("scope", &format!("{} plugins", scope.as_str()), &[]);
            }
            if let Some(reason) = skip_reason(*scope, args) {
                let trigger = if args.scheduled { "timer" } else { "manual" };
                if let Err(e) = skips::record(*scope, &reason, trigger) {
                    tracing::warn!("cannot record the skipped run: {e}");
                }
                progress.note(
                    "skipped",
                    &format!(
                        "skipped: {reason} (the configuration's conditions; \
                         `update-all run --force` runs anyway)"
                    ),
                    &[],
                );
                return SKIPPED;
            }
            run_scope(*scope, args)
        }
        Part::User {
            user,
            output,
            force,
        } => {
            progress.note("scope", &format!("user plugins of {}", user.label()), &[]);
            let mut forwarded: Vec<&str> = Vec::new();
            if *force {
                forwarded.push("--force");
            }
            if args.json {
                forwarded.push("--json");
            }
            if args.check {
                forwarded.push("--check");
            }
            users::run_as(user, &forwarded, *output).unwrap_or_else(|why| {
                tracing::error!("{why}");
                CANNOT_START
            })
        }
    }
}

/// Why the run of `scope` is skipped, unless `--force`.
fn skip_reason(scope: Scope, args: &Options) -> Option<String> {
    if args.force {
        return None;
    }
    let config = crate::config::load(scope);
    preflight::check(scope, &config.conditions, args.scheduled)
}
