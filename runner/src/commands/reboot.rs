//! `update-all reboot`: whether the machine needs a reboot (looked at
//! now), the reboot the policy left pending, and what holds one back;
//! `--cancel` stops the pending reboot, `--now` reboots with the policy's
//! checks (see `crate::reboot`, docs/configuration.md "Reboots").
//!
//! Exit status: 0 shown, cancelled (also when none was pending) or
//! rebooting; 1 `--now` held back or refused; 2 systemd or logind cannot
//! be reached. Run by `update-all-reboot.service` (`--now --from-timer`),
//! a reboot held back tells the users and exits 0: the timer tries again.
//! Hidden: `--offer` is a user's "Reboot now" listener, `--request` root's
//! answer to it (`reboot::offer`, `reboot::request`).

use crate::cli::RebootArgs;
use crate::output;
use crate::reboot::hold::{self, Holder};
use crate::reboot::request::{self as reboot_request, Reply};
use crate::reboot::{self, detect, offer, timer, Attempt, Pending};
use crate::stats::reboot::RebootNeed;
use serde::Serialize;
use std::io::{self, Write};
use std::process::ExitCode;
use update_all_core::reboot::Reboot;
use update_all_core::Scope;

/// Exit status when systemd or logind cannot be reached.
const UNREACHABLE: u8 = 2;

pub fn run(scope: Scope, args: &RebootArgs) -> ExitCode {
    // The policy is the system's: reboots are the machine's.
    let config = crate::config::load(Scope::System);
    let policy = config.reboot;
    if args.offer {
        return offer::listen(&args.reasons);
    }
    if args.request {
        return request(&policy);
    }
    if args.cancel {
        return cancel(args.json);
    }
    if args.now {
        return now(&policy, &config.paths.runner, args);
    }
    show(scope, policy, args.json)
}

fn cancel(json: bool) -> ExitCode {
    match timer::cancel() {
        Ok(cancelled) => {
            hold::forget_told();
            output::print_then_exit(0, |out| {
                if json {
                    output::json(out, &serde_json::json!({ "cancelled": cancelled }))
                } else if cancelled {
                    writeln!(out, "Cancelled the pending reboot.")
                } else {
                    writeln!(out, "No reboot was pending.")
                }
            })
        }
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::from(UNREACHABLE)
        }
    }
}

/// `--request`: answers the user at the other end of standard input
/// (the socket's connection) on standard output; see `reboot::request`.
/// Exit status 0 when answered, 1 when who asks cannot be told.
fn request(policy: &Reboot) -> ExitCode {
    let uid = match reboot_request::peer_uid(&io::stdin()) {
        Ok(uid) => uid,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(output::FAILURE);
        }
    };
    let reply = reboot_request::answer(policy, uid);
    let who = match nix::unistd::User::from_uid(uid.into()) {
        Ok(Some(user)) => format!("{} (uid {uid})", user.name),
        _ => format!("uid {uid}"),
    };
    match &reply {
        Reply::Failed(e) => tracing::error!("{who} asked to reboot now: {e}"),
        _ => tracing::warn!("{who} asked to reboot now: {}", reply.line()),
    }
    output::print_then_exit(0, |out| writeln!(out, "{}", reply.line()))
}

#[derive(Serialize)]
struct NowJson<'a> {
    rebooting: bool,
    held_by: &'a [Holder],
}

fn now(policy: &Reboot, runner: &str, args: &RebootArgs) -> ExitCode {
    // By hand, the asker's own sessions (an admin's ssh login, through
    // sudo) do not hold the reboot back; the timer's service has none.
    let asker = (!args.from_timer)
        .then(|| crate::invoker::elevated_from().unwrap_or_else(|| nix::unistd::getuid().as_raw()));
    match reboot::now(policy, asker) {
        Ok(Attempt::Rebooting) => output::print_then_exit(0, |out| {
            if args.json {
                output::json(
                    out,
                    &NowJson {
                        rebooting: true,
                        held_by: &[],
                    },
                )
            } else {
                writeln!(out, "Rebooting.")
            }
        }),
        Ok(Attempt::Held(holders)) => {
            let said: Vec<String> = holders.iter().map(ToString::to_string).collect();
            tracing::warn!("reboot held back: {}", said.join("; "));
            if args.from_timer {
                hold::tell_users(&holders, &detect::detect(Scope::System).reasons, runner);
            }
            let status = if args.from_timer { 0 } else { output::FAILURE };
            output::print_then_exit(status, |out| {
                if args.json {
                    output::json(
                        out,
                        &NowJson {
                            rebooting: false,
                            held_by: &holders,
                        },
                    )
                } else {
                    writeln!(out, "Not rebooting: {}.", said.join("; "))
                }
            })
        }
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::from(output::FAILURE)
        }
    }
}

/// What `update-all reboot` shows.
#[derive(Serialize)]
struct State {
    /// Looked at now.
    #[serde(flatten)]
    need: RebootNeed,
    pending: Option<Pending>,
    held_by: Vec<Holder>,
    policy: Reboot,
}

fn show(scope: Scope, policy: Reboot, json: bool) -> ExitCode {
    let need = detect::detect(scope);
    let pending = match reboot::pending() {
        Ok(p) => p,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(UNREACHABLE);
        }
    };
    let held_by = match hold::holders(&policy, None) {
        Ok(h) => h,
        Err(e) => {
            tracing::error!("cannot ask logind who is logged in: {e}");
            return ExitCode::from(UNREACHABLE);
        }
    };
    let state = State {
        need,
        pending,
        held_by,
        policy,
    };
    output::print_then_exit(0, |out| {
        if json {
            output::json(out, &state)
        } else {
            write_text(out, &state)
        }
    })
}

fn write_text(out: &mut dyn Write, s: &State) -> io::Result<()> {
    match (s.need.required, s.need.reasons.as_slice()) {
        (false, _) => writeln!(out, "No reboot is needed.")?,
        (true, []) => writeln!(out, "A reboot is needed.")?,
        (true, reasons) => writeln!(out, "A reboot is needed: {}.", reasons.join(", "))?,
    }
    if let Some(p) = &s.pending {
        writeln!(out, "{}", p.describe())?;
    }
    for h in &s.held_by {
        writeln!(out, "Held back: {h}.")?;
    }
    writeln!(out, "Policy: {}.", s.policy.describe())
}
