//! The text of the end-of-run notification: one summary per run, with
//! the reboot it left needed; of the notice that a reboot waits for the
//! users to log out; and of the one that an interrupted run awaits
//! `update-all resume`.

use crate::output::format::duration;
use crate::summary::RunSummary;
use std::fmt::Write as _;
use update_all_core::Scope;

/// Shown by notification servers next to the text.
pub const APP_NAME: &str = "update-all";
/// A freedesktop icon name that every common icon theme has.
pub const ICON: &str = "system-software-update";
/// Failed plugins (or reasons for a reboot) named in the body before "and
/// N more".
const NAMED_FAILURES: usize = 5;

/// A notification as sent: title, body and whether it is critical.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub summary: String,
    pub body: String,
    /// Critical urgency (servers keep it until dismissed) when anything failed.
    pub critical: bool,
}

impl Message {
    /// "System updates failed" / "System updates finished" with the failed
    /// plugins, the counts and the duration in the body.
    pub fn new(run: &RunSummary, scope: Scope) -> Message {
        let what = match scope {
            Scope::System => "System updates",
            Scope::User => "User updates",
        };
        let critical = run.any_failed();
        let summary = format!("{what} {}", if critical { "failed" } else { "finished" });
        let mut body = String::new();
        if critical {
            let _ = writeln!(body, "Failed: {}", names(&run.failed));
        }
        let _ = write!(
            body,
            "{} succeeded, {} failed, {} skipped in {}.",
            run.succeeded.len(),
            run.failed.len(),
            run.skipped.len(),
            duration(run.duration)
        );
        if critical {
            let flag = match scope {
                Scope::System => "--system",
                Scope::User => "--user",
            };
            let _ = write!(body, "\nDetails: update-all status {flag}");
        }
        Message {
            summary,
            body,
            critical,
        }
    }

    /// The message with "Reboot required: linux-image-…" added when
    /// `reboot` (why the machine needs a reboot) is not empty.
    pub fn with_reboot(mut self, reboot: &[String]) -> Message {
        if !reboot.is_empty() {
            let _ = write!(self.body, "\nReboot required: {}", names(reboot));
        }
        self
    }

    /// To the users a reboot waits for (`reboot.with_users: false`).
    pub fn reboot_waiting(reasons: &[String]) -> Message {
        let mut body = String::from("Updates were installed that need a reboot");
        if !reasons.is_empty() {
            let _ = write!(body, " ({})", names(reasons));
        }
        body.push_str(
            ". The machine reboots once everyone has logged out. \
             Save your work and log out, or reboot now from your session's menu \
             (or `systemctl reboot`).",
        );
        Message {
            summary: "Reboot pending".into(),
            body,
            critical: true,
        }
    }

    /// To the users, while an interrupted run awaits `update-all resume`
    /// (`resume: ask`): `unfinished` plugins did not finish.
    pub fn resume_waiting(unfinished: usize) -> Message {
        let plugins = if unfinished == 1 { "plugin" } else { "plugins" };
        Message {
            summary: "Update run interrupted".into(),
            body: format!(
                "An update run was interrupted: {unfinished} {plugins} did not finish. \
                 Run `update-all resume`."
            ),
            critical: false,
        }
    }
}

/// "a, b and c"; past [`NAMED_FAILURES`], "a, b, c, d, e and 3 more".
fn names(all: &[String]) -> String {
    let shown = &all[..all.len().min(NAMED_FAILURES)];
    let rest = all.len() - shown.len();
    match (shown, rest) {
        ([], _) => String::new(),
        ([only], 0) => only.clone(),
        ([init @ .., last], 0) => format!("{} and {last}", init.join(", ")),
        (_, rest) => format!("{} and {rest} more", shown.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn run(succeeded: &[&str], failed: &[&str], skipped: &[&str], secs: u64) -> RunSummary {
        let own = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        RunSummary {
            succeeded: own(succeeded),
            failed: own(failed),
            skipped: own(skipped),
            duration: Duration::from_secs(secs),
        }
    }

    #[test]
    fn success_is_normal_and_counts_everything() {
        let m = Message::new(&run(&["apt", "flatpak"], &[], &["snap"], 75), Scope::System);
        assert_eq!(m.summary, "System updates finished");
        assert_eq!(m.body, "2 succeeded, 0 failed, 1 skipped in 1m15s.");
        assert!(!m.critical);
    }

    #[test]
    fn failure_is_critical_and_names_the_failed() {
        let m = Message::new(&run(&["apt"], &["pipx", "snap"], &[], 3), Scope::User);
        assert_eq!(m.summary, "User updates failed");
        assert_eq!(
            m.body,
            "Failed: pipx and snap\n1 succeeded, 2 failed, 0 skipped in 3.0s.\n\
             Details: update-all status --user"
        );
        assert!(m.critical);
    }

    #[test]
    fn a_needed_reboot_is_said_with_its_reasons() {
        let reasons = ["linux-image-6.1.0-28-amd64".to_owned(), "libc6".to_owned()];
        let m = Message::new(&run(&["apt"], &[], &[], 75), Scope::System).with_reboot(&reasons);
        assert_eq!(
            m.body,
            "1 succeeded, 0 failed, 0 skipped in 1m15s.\n\
             Reboot required: linux-image-6.1.0-28-amd64 and libc6"
        );
        let plain = Message::new(&run(&["apt"], &[], &[], 75), Scope::System);
        assert_eq!(plain.clone().with_reboot(&[]), plain);
        let w = Message::reboot_waiting(&reasons[..1]);
        assert_eq!(w.summary, "Reboot pending");
        assert!(
            w.body.starts_with(
                "Updates were installed that need a reboot (linux-image-6.1.0-28-amd64). \
                 The machine reboots once everyone has logged out."
            ),
            "{}",
            w.body
        );
    }

    #[test]
    fn an_interrupted_run_says_what_to_run() {
        let m = Message::resume_waiting(2);
        assert_eq!(
            m.body,
            "An update run was interrupted: 2 plugins did not finish. Run `update-all resume`."
        );
        assert!(Message::resume_waiting(1).body.contains(" 1 plugin did "));
    }

    #[test]
    fn long_lists_are_cut() {
        let many: Vec<String> = (1..=8).map(|i| format!("p{i}")).collect();
        assert_eq!(names(&many), "p1, p2, p3, p4, p5 and 3 more");
        assert_eq!(names(&many[..1]), "p1");
        assert_eq!(names(&many[..3]), "p1, p2 and p3");
    }
}
