//! What holds a reboot back: users logged in (unless `with_users`, and
//! but for `ignored_users`), and block inhibitor locks on shutdown, both
//! from logind.

use crate::notify::{self, Session};
use serde::Serialize;
use std::fmt;
use update_all_core::reboot::Reboot;
use zbus_systemd::login1::ManagerProxy;

/// One thing the reboot waits for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Holder {
    /// A user logged in on a desktop, a text console or over ssh.
    User { user: String, uid: u32, how: String },
    /// A `block` inhibitor lock on shutdown (`systemd-inhibit --list`).
    Inhibitor { who: String, why: String, pid: u32 },
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Holder::User { user, how, .. } => write!(f, "{user} is logged in ({how})"),
            Holder::Inhibitor { who, why, pid } => {
                write!(f, "{who} (PID {pid}) blocks shutdown: {why}")
            }
        }
    }
}

/// Everything that holds a reboot back now under `policy`. `asker`: the
/// user who asks for the reboot (`update-all reboot --now` by hand), whose
/// own sessions do not hold it back.
pub fn holders(policy: &Reboot, asker: Option<u32>) -> zbus::Result<Vec<Holder>> {
    let mut found = if policy.with_users {
        Vec::new()
    } else {
        let sessions = notify::sessions()?;
        let others: Vec<Session> = sessions
            .into_iter()
            .filter(|s| Some(s.uid) != asker)
            .collect();
        users(policy, &others)
    };
    found.extend(inhibitors()?);
    Ok(found)
}

/// The sessions that count as someone logged in: a user's own session,
/// still open, on a desktop, a console or from elsewhere; one per user and
/// way in.
fn users(policy: &Reboot, sessions: &[Session]) -> Vec<Holder> {
    let mut found: Vec<Holder> = Vec::new();
    for s in sessions {
        let how = if s.is_graphical() {
            "desktop"
        } else if s.remote {
            "ssh"
        } else if s.kind == "tty" {
            "console"
        } else {
            continue;
        };
        if s.class != "user" || s.state == "closing" || policy.ignores(&s.user) {
            continue;
        }
        let holder = Holder::User {
            user: s.user.clone(),
            uid: s.uid,
            how: how.to_owned(),
        };
        if !found.contains(&holder) {
            found.push(holder);
        }
    }
    found
}

/// logind's block locks on shutdown, as `systemctl reboot
/// --check-inhibitors=yes` counts them.
fn inhibitors() -> zbus::Result<Vec<Holder>> {
    let locks = zbus::block_on(async {
        let bus = zbus::Connection::system().await?;
        ManagerProxy::new(&bus).await?.list_inhibitors().await
    })?;
    Ok(locks
        .into_iter()
        .filter(|(what, _, _, mode, _, _)| {
            mode == "block" && what.split(':').any(|w| w == "shutdown")
        })
        .map(|(_, who, why, _, _, pid)| Holder::Inhibitor { who, why, pid })
        .collect())
}

/// Who was told that a reboot waits for them, one uid a line: each user
/// hears it once per pending reboot, not at every try. Under /run, so a
/// reboot forgets it; [`forget_told`] too, when a reboot is cancelled.
const TOLD: &str = "/run/update-all/reboot-told";

/// Tells the users among `holders` who were not told yet that the machine
/// waits for them to log out, with "Reboot now" (`super::offer`).
/// `reasons`: why it needs the reboot; `runner`: the configuration's
/// `paths.runner`.
pub fn tell_users(holders: &[Holder], reasons: &[String], runner: &str) {
    let told = std::fs::read_to_string(TOLD).unwrap_or_default();
    let told: Vec<u32> = told.lines().filter_map(|l| l.trim().parse().ok()).collect();
    let mut uids: Vec<u32> = holders
        .iter()
        .filter_map(|h| match h {
            Holder::User { uid, .. } if !told.contains(uid) => Some(*uid),
            _ => None,
        })
        .collect();
    uids.sort_unstable();
    uids.dedup();
    if uids.is_empty() {
        return;
    }
    super::offer::offer_to(&uids, reasons, runner);
    let all: String = told.iter().chain(&uids).map(|u| format!("{u}\n")).collect();
    let written = std::path::Path::new(TOLD)
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(TOLD, all));
    if let Err(e) = written {
        tracing::warn!("cannot note in {TOLD} who was told of the reboot: {e}");
    }
}

/// Forgets who was told (the pending reboot was cancelled).
pub fn forget_told() {
    let _ = std::fs::remove_file(TOLD);
}

#[cfg(test)]
mod tests {
    use super::*;
    use update_all_core::reboot::RebootPolicy;

    fn session(user: &str, class: &str, kind: &str, seat: &str, remote: bool) -> Session {
        Session {
            uid: 1000,
            user: user.into(),
            class: class.into(),
            kind: kind.into(),
            seat: seat.into(),
            state: "active".into(),
            remote,
        }
    }

    #[test]
    fn users_on_a_desktop_a_console_or_ssh_hold_a_reboot() {
        let policy = Reboot {
            policy: RebootPolicy::WhenNeeded,
            ..Reboot::default()
        };
        let sessions = [
            session("alice", "user", "wayland", "seat0", false),
            session("alice", "user", "wayland", "seat0", false),
            session("bob", "user", "tty", "", true),
            session("carol", "user", "tty", "seat0", false),
            session("gdm", "greeter", "wayland", "seat0", false),
            session("cron", "background", "unspecified", "", false),
        ];
        let how: Vec<String> = users(&policy, &sessions)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            how,
            [
                "alice is logged in (desktop)",
                "bob is logged in (ssh)",
                "carol is logged in (console)"
            ]
        );
    }
}
