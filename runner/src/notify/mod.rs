//! Desktop notifications at the end of a run: one summary per run, to the
//! user who ran `update-all run` or, for timer and system-started runs, to
//! every user logged in graphically. The configuration's `notifications`
//! section decides whether a run is announced at all.
//!
//! Root never talks to a user's session bus itself; see [`deliver`].

mod action;
mod deliver;
mod logind;
mod message;
mod server;
mod session;

use crate::summary::RunSummary;
use update_all_core::Scope;

pub use action::{offer, Answer};
pub use deliver::{run_as, send, show};
pub use logind::{graphical_uids, sessions, Session};
pub use message::Message;
pub use server::wait_for_server;

/// Who hears about a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Audience {
    /// The session of the user who ran `update-all run` (through sudo or
    /// pkexec: the real user's).
    Invoker,
    /// Everyone with a graphical session (a timer or system-started run).
    /// Without root, only the caller, if logged in graphically.
    #[value(name = "graphical")]
    GraphicalUsers,
}

/// Sends the summary of a finished run, if the configuration of `scope`
/// wants one for it, with the reasons for a reboot it left needed (none:
/// not needed, or not known). Problems (no session bus, no notification
/// server, no logind) are logged and never fail the run.
pub fn announce(summary: &RunSummary, reboot: &[String], scope: Scope, audience: Audience) {
    let failed = summary.any_failed();
    let config = crate::config::load(scope);
    if !config.notifications.wanted(failed) {
        tracing::info!(
            "no notification: the configuration turns them off for {} runs",
            if failed { "failed" } else { "successful" }
        );
        return;
    }
    let recipients = match audience {
        Audience::Invoker => vec![session::invoker()],
        Audience::GraphicalUsers => match logind::graphical_uids() {
            Ok(uids) => {
                let euid = nix::unistd::geteuid();
                uids.into_iter()
                    .filter(|&uid| euid.is_root() || uid == euid.as_raw())
                    .map(deliver::Recipient::user_bus)
                    .collect()
            }
            Err(e) => {
                tracing::warn!("no notification: cannot list login sessions from logind: {e}");
                return;
            }
        },
    };
    if recipients.is_empty() {
        tracing::info!("no notification: nobody is logged in graphically");
        return;
    }
    let message = Message::new(summary, scope).with_reboot(reboot);
    deliver::deliver_all(&message, &recipients);
}

/// Sends `message` to the session buses of `uids` (see [`deliver`]);
/// problems are logged.
pub fn tell(message: &Message, uids: &[u32]) {
    let recipients: Vec<_> = uids
        .iter()
        .map(|&uid| deliver::Recipient::user_bus(uid))
        .collect();
    deliver::deliver_all(message, &recipients);
}

/// Sends `message` to every user logged in graphically (without root:
/// the caller only, if so), as [`announce`] does for a system-started
/// run: the rollback's "rolled back" (`crate::rollback`). Problems are
/// logged.
pub fn tell_graphical(message: &Message) {
    match logind::graphical_uids() {
        Ok(uids) => {
            let euid = nix::unistd::geteuid();
            let uids: Vec<u32> = uids
                .into_iter()
                .filter(|&uid| euid.is_root() || uid == euid.as_raw())
                .collect();
            tell(message, &uids);
        }
        Err(e) => tracing::warn!("no notification: cannot list login sessions from logind: {e}"),
    }
}

/// The end-of-run notification from `update-all run`. The recorder already
/// tells every graphical user, so `run` tells its invoker only when they
/// have no graphical session (over ssh, say): once per person either way.
pub fn announce_to_invoker(summary: &RunSummary, scope: Scope) {
    if !covered_by_graphical(session::invoker().uid) {
        announce(summary, &[], scope, Audience::Invoker);
    }
}

/// Whether `uid` has a graphical session, so that an announcement to
/// [`Audience::GraphicalUsers`] already reaches it (`run` then need not
/// notify its invoker too). False when logind cannot be asked.
pub fn covered_by_graphical(uid: u32) -> bool {
    logind::graphical_uids().is_ok_and(|uids| uids.contains(&uid))
}
