//! "Reboot now" for the users a pending reboot waits for
//! (`reboot.with_users: false`).
//!
//! Root starts, for each such user, a listener in that user's own service
//! manager: the transient `update-all-reboot-offer.service`, started by
//! `systemd-run --user` run as the user (`notify::run_as`), so root never
//! connects to the user's bus or manager. The listener (`update-all reboot
//! --offer`, as the user) shows the "Reboot pending" notification with a
//! "Reboot now" action (`notify::offer`) and waits. Chosen, it connects to
//! root's `update-all-reboot-request.socket` (`super::request`), which
//! decides from the peer's uid alone, and shows the answer ("The reboot
//! still waits: bob is logged in (desktop)."). It ends when the
//! notification is closed, after an answer, or with the user's manager
//! (the user logged out). Where no listener can be started, the user gets
//! the same notification without the action.

use super::request::{SOCKET_PATH, SOCKET_UNIT};
use crate::notify::{self, Answer, Message};
use std::io::Read;
use std::os::unix::net::UnixStream;
use std::process::{Command, ExitCode};
use std::time::Duration;

/// The listener's transient unit in the user's manager.
const UNIT: &str = "update-all-reboot-offer.service";
/// The notification's action: its key and its label.
pub const ACTION: &str = "reboot";
const LABEL: &str = "Reboot now";
/// How long the listener waits for root's answer (logind and systemctl).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

/// Offers "Reboot now" to each of `uids`, telling them why (`reasons`);
/// `runner`: the configuration's `paths.runner`, which the listener runs.
/// Whoever cannot get a listener gets the plain notification. Problems are
/// logged.
pub fn offer_to(uids: &[u32], reasons: &[String], runner: &str) {
    if let Err(e) = start_socket() {
        tracing::warn!("no \"Reboot now\" for the users: {e}");
        notify::tell(&Message::reboot_waiting(reasons), uids);
        return;
    }
    let mut plain = Vec::new();
    for &uid in uids {
        match start_listener(uid, reasons, runner) {
            Ok(()) => tracing::info!("offered uid {uid} to reboot now"),
            Err(e) => {
                tracing::warn!("no \"Reboot now\" for uid {uid}: {e}");
                plain.push(uid);
            }
        }
    }
    notify::tell(&Message::reboot_waiting(reasons), &plain);
}

/// Starts root's request socket (a no-op when it listens already).
fn start_socket() -> Result<(), String> {
    let out = Command::new("systemctl")
        .args(["start", SOCKET_UNIT])
        .output()
        .map_err(|e| format!("cannot run systemctl: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "systemctl could not start {SOCKET_UNIT}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Starts the listener in `uid`'s manager, as `uid`. A listener that is
/// there already (an earlier offer still shown) is left as it is.
fn start_listener(uid: u32, reasons: &[String], runner: &str) -> Result<(), String> {
    let mut args: Vec<String> = [
        "--user",
        "--quiet",
        "--collect",
        &format!("--unit={UNIT}"),
        "--description=update-all: offer to reboot now",
        &format!("--setenv=DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/{uid}/bus"),
        "--",
        runner,
        "reboot",
        "--offer",
    ]
    .map(str::to_owned)
    .to_vec();
    for reason in reasons {
        args.push("--reason".into());
        args.push(reason.clone());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match notify::run_as(uid, "systemd-run", &args) {
        Err(e) if e.contains("already exists") || e.contains("already loaded") => Ok(()),
        done => done,
    }
}

/// `update-all reboot --offer`: the listener, run as the user (see the
/// module's documentation). Exit status 0 when it ended as it should
/// (closed, or answered), 1 when no notification could be shown or root
/// could not be asked.
pub fn listen(reasons: &[String]) -> ExitCode {
    match notify::offer(&Message::reboot_waiting(reasons), ACTION, LABEL) {
        Ok(Answer::Closed) => ExitCode::SUCCESS,
        Ok(Answer::Chosen) => {
            let (summary, body) = match ask() {
                Ok(reply) => told(&reply),
                Err(e) => {
                    tracing::error!("{e}");
                    ("Reboot failed".to_owned(), e)
                }
            };
            tracing::info!("{summary}: {body}");
            notify::send(&summary, &body, false)
        }
        Err(e) => {
            tracing::error!("cannot offer to reboot now: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Asks root for the reboot; its one-line answer.
fn ask() -> Result<String, String> {
    let cannot = |e: std::io::Error| format!("cannot ask for the reboot at {SOCKET_PATH}: {e}");
    let socket = UnixStream::connect(SOCKET_PATH).map_err(cannot)?;
    socket
        .set_read_timeout(Some(ANSWER_TIMEOUT))
        .map_err(cannot)?;
    // The request says nothing: root knows who asks and what for.
    socket.shutdown(std::net::Shutdown::Write).map_err(cannot)?;
    let mut reply = String::new();
    socket
        .take(4096)
        .read_to_string(&mut reply)
        .map_err(cannot)?;
    Ok(reply.trim().to_owned())
}

/// The notification for root's answer `reply` (see `Reply::line`).
fn told(reply: &str) -> (String, String) {
    let (word, text) = reply.split_once(' ').unwrap_or((reply, ""));
    let summary = match word {
        "rebooting" => "Rebooting",
        "held" => "Reboot still waits",
        "refused" => "No reboot",
        _ => "Reboot failed",
    };
    (summary.to_owned(), text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::super::hold::Holder;
    use super::super::request::Reply;
    use super::*;

    #[test]
    fn each_reply_is_told_with_its_text() {
        let held = Reply::Held(vec![Holder::User {
            user: "bob".into(),
            uid: 1001,
            how: "desktop".into(),
        }]);
        assert_eq!(
            told(&held.line()),
            (
                "Reboot still waits".into(),
                "The reboot still waits: bob is logged in (desktop).".into()
            )
        );
        assert_eq!(told(&Reply::NotPending.line()).0, "No reboot");
        assert_eq!(told(&Reply::Rebooting.line()).0, "Rebooting");
        assert_eq!(told("").0, "Reboot failed");
    }
}
