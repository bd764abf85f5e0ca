//! A user's "Reboot now", as root receives it: one connection to
//! `/run/update-all/reboot-request` (`update-all-reboot-request.socket`,
//! `Accept=yes`), served by `update-all reboot --request` with the
//! connection as its standard input and output.
//!
//! The request carries nothing: who asks is the peer's uid as the kernel
//! tells it (`SO_PEERCRED`), and what is asked is always the same, the
//! pending reboot now. It is refused unless the policy's reboot is pending
//! (`update-all-reboot.timer` is there); otherwise it is exactly
//! `update-all reboot --now` by that user: their own sessions do not hold
//! the reboot back, other users' and block inhibitors still do. Nor
//! before the policy's time: the reboot must have been tried and held back
//! (only then are users offered it). So a request, whoever makes it (any
//! local account may connect), does no more than the asker's logging out
//! would: a due reboot goes ahead if nothing but the asker held it. The
//! answer
//! is one line, [`Reply::line`], that the asker's listener
//! (`super::offer`) shows.

use super::hold::Holder;
use super::{now, pending, Attempt};
use std::os::fd::AsFd;
use update_all_core::reboot::Reboot;

/// Where the socket unit listens; `ListenStream=` of
/// `update-all-reboot-request.socket`.
pub const SOCKET_PATH: &str = "/run/update-all/reboot-request";
/// The socket unit, started when users are offered "Reboot now" and
/// stopped with the pending reboot.
pub const SOCKET_UNIT: &str = "update-all-reboot-request.socket";

/// What root answers.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    /// systemd has the reboot job.
    Rebooting,
    /// These still hold it back.
    Held(Vec<Holder>),
    /// No reboot is pending: there is nothing to do now.
    NotPending,
    /// A reboot is pending for later and its time has not come.
    NotDue,
    /// logind, systemd or systemctl failed.
    Failed(String),
}

impl Reply {
    /// The answer on the wire: a word (`rebooting`, `held`, `refused`,
    /// `failed`), a space and what to tell the user.
    pub fn line(&self) -> String {
        match self {
            Reply::Rebooting => "rebooting Rebooting now.".into(),
            Reply::Held(holders) => {
                let said: Vec<String> = holders.iter().map(ToString::to_string).collect();
                format!("held The reboot still waits: {}.", said.join("; "))
            }
            Reply::NotPending => "refused No reboot is pending.".into(),
            Reply::NotDue => "refused The pending reboot is not due yet.".into(),
            Reply::Failed(e) => format!("failed The reboot could not be started: {e}"),
        }
    }
}

/// The uid of the process at the other end of `socket`.
pub fn peer_uid(socket: &impl AsFd) -> Result<u32, String> {
    nix::sys::socket::getsockopt(socket, nix::sys::socket::sockopt::PeerCredentials)
        .map(|c| c.uid())
        .map_err(|e| format!("cannot tell who is asking (SO_PEERCRED): {e}"))
}

/// Answers `uid`'s request under `policy` (see the module's documentation).
pub fn answer(policy: &Reboot, uid: u32) -> Reply {
    match pending() {
        Ok(None) => return Reply::NotPending,
        // Set for later (`time: "02:00"`) and not tried yet: not due.
        Ok(Some(p)) if !p.waiting => return Reply::NotDue,
        Ok(Some(_)) => {}
        Err(e) => return Reply::Failed(e),
    }
    match now(policy, Some(uid)) {
        Ok(Attempt::Rebooting) => Reply::Rebooting,
        Ok(Attempt::Held(holders)) => Reply::Held(holders),
        Err(e) => Reply::Failed(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_start_with_their_word() {
        let held = Reply::Held(vec![Holder::User {
            user: "bob".into(),
            uid: 1001,
            how: "desktop".into(),
        }]);
        assert_eq!(
            held.line(),
            "held The reboot still waits: bob is logged in (desktop)."
        );
        assert_eq!(Reply::NotPending.line(), "refused No reboot is pending.");
        assert!(Reply::Rebooting.line().starts_with("rebooting "));
    }
}
