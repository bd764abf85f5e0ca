//! Reboots: whether the machine needs one (`detect`, from the plugins'
//! answers left as `marker`s and from the distributions' own tools), and
//! the `reboot:` policy of the configuration (docs/configuration.md,
//! "Reboots").
//!
//! The recorder, which ends every run however it was started (the timer,
//! `update-all run`, `systemctl start update-all.target`), detects and
//! records the need, and after a system run applies the policy with
//! [`after_run`]: it leaves the transient `update-all-reboot.timer`
//! (`timer`), whose service is `update-all reboot --now --from-timer`.
//! That reboots with [`now`]: unless users are logged in (`hold`; not with
//! `with_users: true`, never for `ignored_users`) or a block inhibitor is
//! held, through `systemctl reboot --check-inhibitors=yes`. Held back, it
//! tells the users, with a "Reboot now" action (`offer`, answered by root
//! through `request`), and tries again after `timer::RECHECK`.

pub mod detect;
pub mod hold;
pub mod marker;
pub mod offer;
pub mod request;
pub mod timer;

use crate::output::format::local_time;
use crate::stats::reboot::RebootNeed;
use hold::Holder;
use serde::Serialize;
use std::process::Command;
use update_all_core::reboot::{Reboot, RebootPolicy};

/// The reboot the policy left pending: `update-all-reboot.timer`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Pending {
    /// When it next tries, µs since the epoch.
    pub next_us: Option<u64>,
    /// The time of day it was set for (`*-*-* 02:00:00`); empty for now.
    pub calendar: Vec<String>,
    /// It tried already and was held back; it tries again every
    /// `timer::RECHECK`.
    pub waiting: bool,
}

impl Pending {
    /// "Reboot pending at Tue 2026-12-08 02:00:00 (`update-all reboot
    /// --cancel` cancels it).", or that it waits.
    pub fn describe(&self) -> String {
        let next = self
            .next_us
            .and_then(|us| i64::try_from(us).ok())
            .map_or_else(|| "soon".into(), local_time);
        let what = if self.waiting {
            format!("Reboot waiting for what holds it back; next try at {next}")
        } else {
            format!("Reboot pending at {next}")
        };
        format!("{what} (`update-all reboot --cancel` cancels it).")
    }
}

/// The pending reboot, if any.
pub fn pending() -> Result<Option<Pending>, String> {
    Ok(timer::state()?.map(|t| Pending {
        next_us: t.next_elapse_us,
        calendar: t.calendar,
        waiting: t.last_trigger_us.is_some(),
    }))
}

/// What the policy did at a run's end.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// The policy does not want a reboot after this run.
    None,
    /// The timer was started for the reboot.
    Scheduled,
    /// A reboot timer was there already, and is left as it is.
    AlreadyScheduled,
}

/// Applies `policy` at the end of a system run that needed `need` and did
/// (`ran`) or did not run a plugin's command (a skipped unit does not
/// count). `runner`: the configuration's
/// `paths.runner`, which the timer's service runs.
pub fn after_run(
    policy: &Reboot,
    runner: &str,
    need: &RebootNeed,
    ran: bool,
) -> Result<Decision, String> {
    if !wants(policy.policy, need, ran) {
        return Ok(Decision::None);
    }
    Ok(if timer::schedule(runner, policy.time)? {
        Decision::Scheduled
    } else {
        Decision::AlreadyScheduled
    })
}

/// Whether `policy` wants a reboot after a run that needed `need` and did
/// (`ran`) or did not run a plugin's command.
fn wants(policy: RebootPolicy, need: &RebootNeed, ran: bool) -> bool {
    match policy {
        RebootPolicy::Never => false,
        RebootPolicy::WhenNeeded => need.required,
        RebootPolicy::Always => ran || need.required,
    }
}

/// [`after_run`], said in the journal (a failure as an error: the policy
/// wanted a reboot that will not come).
pub fn apply(policy: &Reboot, runner: &str, need: &RebootNeed, ran: bool) {
    match after_run(policy, runner, need, ran) {
        Ok(Decision::None) => {}
        Ok(Decision::Scheduled) => tracing::warn!(
            "reboot policy {}: rebooting {} ({} started)",
            policy.policy.as_str(),
            policy.at(),
            update_all_core::names::REBOOT_TIMER
        ),
        Ok(Decision::AlreadyScheduled) => tracing::info!(
            "reboot policy {}: a reboot is already scheduled",
            policy.policy.as_str()
        ),
        Err(e) => tracing::error!("reboot policy {}: {e}", policy.policy.as_str()),
    }
}

/// How a reboot asked for now went.
#[derive(Debug)]
pub enum Attempt {
    /// systemd has the reboot job.
    Rebooting,
    /// These hold it back.
    Held(Vec<Holder>),
}

/// Reboots now, unless users (under `policy`; but for `asker`, who asks
/// for it by hand) or inhibitors hold it back. `Err`: logind or systemctl
/// could not be asked, or systemctl refused.
pub fn now(policy: &Reboot, asker: Option<u32>) -> Result<Attempt, String> {
    let holders = hold::holders(policy, asker)
        .map_err(|e| format!("cannot ask logind who is logged in: {e}"))?;
    if !holders.is_empty() {
        return Ok(Attempt::Held(holders));
    }
    // systemctl refuses with inhibitors (and, with the flag, while other
    // users are logged in: fine when they hold the reboot back anyway).
    // Without the flag it ignores inhibitors when not on a terminal.
    // Sessions systemctl would count (not root's own) that the policy let
    // pass: with_users, ignored_users, the asker's.
    let let_pass =
        policy.with_users || !policy.ignored_users.is_empty() || asker.is_some_and(|uid| uid != 0);
    let check = if let_pass {
        // Logged-in users were weighed above, by the policy (systemctl
        // would count the asker's and the ignored users' sessions too);
        // inhibitors were just found to be none.
        "--check-inhibitors=no"
    } else {
        "--check-inhibitors=yes"
    };
    let out = Command::new("systemctl")
        .args(["reboot", check])
        .output()
        .map_err(|e| format!("cannot run systemctl: {e}"))?;
    if out.status.success() {
        Ok(Attempt::Rebooting)
    } else {
        Err(format!(
            "systemctl reboot {check} refused: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_policy_wants_its_reboots() {
        let needed = RebootNeed {
            required: true,
            reasons: vec!["linux-image-6.1.0-28-amd64".into()],
        };
        let not = RebootNeed::default();
        for ran in [false, true] {
            assert!(!wants(RebootPolicy::Never, &needed, ran));
            assert!(wants(RebootPolicy::WhenNeeded, &needed, ran));
            assert!(!wants(RebootPolicy::WhenNeeded, &not, ran));
            assert!(wants(RebootPolicy::Always, &needed, ran));
        }
        assert!(wants(RebootPolicy::Always, &not, true));
        assert!(!wants(RebootPolicy::Always, &not, false), "only skips");
    }
}
