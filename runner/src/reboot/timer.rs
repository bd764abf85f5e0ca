//! The transient `update-all-reboot.timer`: what a reboot policy leaves
//! when a run ends wanting a reboot. It starts `update-all-reboot.service`
//! (`update-all reboot --now --from-timer`) at the policy's time (`now`:
//! a second later) and, while something holds the reboot back, again
//! [`RECHECK`] after each try. Transient units live until they are stopped
//! or the machine reboots, so nothing is left to clean up.

use crate::schedule::timer::{state_of, TimerState};
use crate::systemd::Bus;
use std::process::Command;
use std::time::Duration;
use update_all_core::names::{REBOOT_SERVICE, REBOOT_TIMER};
use update_all_core::reboot::RebootTime;
use update_all_core::Scope;

/// How long after a try that was held back the next one comes: a D-Bus
/// round trip to logind, cheap enough to do often, and a user who logs
/// out does not wait long for the reboot.
pub const RECHECK: Duration = Duration::from_secs(30);

/// The hidden flag of `update-all reboot --now` that the service passes.
pub const FROM_TIMER: &str = "--from-timer";

/// Starts the timer for a reboot at `time`, run by `runner` (the
/// configuration's `paths.runner`). `Ok(false)`: one is there already and
/// is left as it is.
pub fn schedule(runner: &str, time: RebootTime) -> Result<bool, String> {
    if state()?.is_some() {
        return Ok(false);
    }
    let unit = REBOOT_TIMER.trim_end_matches(".timer");
    let mut cmd = Command::new("systemd-run");
    cmd.args([
        "--quiet",
        "--system",
        &format!("--unit={unit}"),
        &format!("--description=update-all: reboot {}", when(time)),
        "--timer-property=AccuracySec=1s",
        &format!("--timer-property=OnUnitInactiveSec={}s", RECHECK.as_secs()),
    ]);
    match time.on_calendar() {
        Some(calendar) => cmd.arg(format!("--on-calendar={calendar}")),
        None => cmd.arg("--on-active=1s"),
    };
    cmd.args(["--", runner, "reboot", "--now", FROM_TIMER]);
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run systemd-run: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "systemd-run could not start {REBOOT_TIMER}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(true)
}

/// "now" or "at 02:00".
fn when(time: RebootTime) -> String {
    match time {
        RebootTime::Now => "now".into(),
        t => format!("at {t}"),
    }
}

/// Stops the timer and its service, which removes both; says whether
/// there was a timer.
pub fn cancel() -> Result<bool, String> {
    let was = state()?.is_some();
    // The timer first, so that it starts no new try; then a try that runs;
    // then the users' "Reboot now" requests, which would be refused now.
    for unit in [REBOOT_TIMER, REBOOT_SERVICE, super::request::SOCKET_UNIT] {
        let out = Command::new("systemctl")
            .args(["stop", unit])
            .output()
            .map_err(|e| format!("cannot run systemctl: {e}"))?;
        let err = String::from_utf8_lossy(&out.stderr);
        // A transient unit that is not there is stopped already.
        if !out.status.success() && !err.contains("not loaded") {
            return Err(format!("systemctl could not stop {unit}: {}", err.trim()));
        }
    }
    Ok(was)
}

/// The timer as systemd has it; none when no reboot waits.
pub fn state() -> Result<Option<TimerState>, String> {
    zbus::block_on(async {
        let bus = Bus::connect(Scope::System)
            .await
            .map_err(|e| e.to_string())?;
        state_of(&bus, REBOOT_TIMER, REBOOT_SERVICE).await
    })
}
