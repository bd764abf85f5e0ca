//! Seeing a reboot in the test bed: a guard unit whose stop lasts until it
//! is released, so that the reboot job it holds stays to be seen (else the
//! instance would be gone).

use super::text;
use testbed::Testbed;

/// Holds a reboot back at its very end until [`release`].
pub const GUARD: &str = "testbed-reboot-guard.service";
/// Lets the guard's stop end.
const GO: &str = "/run/testbed-reboot-go";

/// Starts the guard: a service whose stop lasts until [`release`].
pub fn guard(tb: &Testbed) {
    tb.check(&[
        "systemd-run",
        "--quiet",
        &format!("--unit={GUARD}"),
        &format!("--property=ExecStop=/bin/sh -c 'while [ ! -e {GO} ]; do sleep 0.1; done'"),
        "--property=TimeoutStopSec=infinity",
        "sleep",
        "infinity",
    ]);
}

/// Lets the guard stop: a reboot held at its end finishes, and the
/// instance goes away; or the test bed's own poweroff is not held up.
pub fn release(tb: &Testbed) {
    tb.write(GO, "", 0o644);
}

/// systemd has a job for reboot.target, or its console says the reboot
/// went through (when the guard did not hold it, the instance is gone).
pub fn rebooting(tb: &Testbed) -> bool {
    let out = tb.exec(&["systemctl", "list-jobs", "--no-legend", "reboot.target"]);
    text(&out.stdout).contains("reboot.target")
        || tb
            .console(400)
            .lines()
            .any(|l| l.contains("Reached target reboot.target") || l.trim() == "Rebooting.")
}
