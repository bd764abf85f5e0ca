//! Whether the machine needs a reboot, and why, from every source there
//! is (docs/configuration.md, "Reboots"):
//!
//! - the plugins' own answers (`requires_reboot` in `update`'s data,
//!   left as markers by `plugin-exec`, see `marker`);
//! - `/run/reboot-required` and the packages in `/run/reboot-required.pkgs`
//!   (Debian and Ubuntu's packages write them);
//! - `needrestart -b`'s `NEEDRESTART-KSTA:` (2 or 3: a newer kernel waits);
//! - `dnf needs-restarting -r` (exit status 1, "Reboot is required") and `zypper
//!   needs-rebooting` (exit status 102), where installed;
//! - on Arch: the running kernel's modules directory gone (pacman removes
//!   the old kernel's modules when it installs a new one).
//!
//! The package manager tools run in system scope only, each with a time
//! limit; a tool that is missing, fails or takes too long says nothing.

use super::marker;
use crate::stats::reboot::RebootNeed;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use update_all_core::Scope;

/// How long one tool may take.
const TOOL_TIME: Duration = Duration::from_secs(60);

/// Looks at every source now. Reasons are said once each, in the order
/// above.
pub fn detect(scope: Scope) -> RebootNeed {
    detect_under(Path::new("/"), scope)
}

/// [`detect`] with the files read under `root` (tests).
fn detect_under(root: &Path, scope: Scope) -> RebootNeed {
    let mut need = RebootNeed::default();
    for plugin in marker::marked(scope) {
        need.add(format!("{plugin}: its update requires a reboot"));
    }
    debian(root, &mut need);
    if scope == Scope::System {
        // Side by side: each is a few hundred milliseconds of interpreter
        // start-up, and the run's end waits for the slowest only.
        let (needrestart_says, dnf_says, zypper_says) = std::thread::scope(|s| {
            let n = s.spawn(|| tool("needrestart", &["-b"]));
            let d = s.spawn(|| tool("dnf", &["needs-restarting", "-r"]));
            let z = s.spawn(|| tool("zypper", &["--non-interactive", "needs-rebooting"]));
            let joined = |h: std::thread::ScopedJoinHandle<'_, _>| h.join().ok().flatten();
            (joined(n), joined(d), joined(z))
        });
        if let Some((_, out)) = needrestart_says {
            needrestart(&out, &mut need);
        }
        if let Some((1, out)) = dnf_says {
            dnf(&out, &mut need);
        }
        if let Some((102, _)) = zypper_says {
            need.add("zypper needs-rebooting: core libraries or services were updated".into());
        }
    }
    arch(root, &release(), &mut need);
    need
}

impl RebootNeed {
    fn add(&mut self, reason: String) {
        self.required = true;
        if !self.reasons.contains(&reason) {
            self.reasons.push(reason);
        }
    }
}

/// `/run/reboot-required`: the packages in `.pkgs` are the reasons, else
/// the file itself is.
fn debian(root: &Path, need: &mut RebootNeed) {
    let flag = root.join("run/reboot-required");
    if !flag.exists() {
        return;
    }
    let pkgs = std::fs::read_to_string(root.join("run/reboot-required.pkgs")).unwrap_or_default();
    let before = need.reasons.len();
    for pkg in pkgs.lines().map(str::trim).filter(|l| !l.is_empty()) {
        need.add(pkg.to_owned());
    }
    if need.reasons.len() == before {
        need.add("/run/reboot-required".into());
    }
}

/// `needrestart -b`'s batch output: `NEEDRESTART-KSTA: 3` with the running
/// (`KCUR`) and the expected (`KEXP`) kernel.
fn needrestart(out: &str, need: &mut RebootNeed) {
    let value = |key: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
            .map(str::trim)
    };
    if let Some("2" | "3") = value("NEEDRESTART-KSTA") {
        let reason = match (value("NEEDRESTART-KEXP"), value("NEEDRESTART-KCUR")) {
            (Some(new), Some(running)) => format!("kernel {new} is installed, {running} runs"),
            _ => "a newer kernel is installed (needrestart)".to_owned(),
        };
        need.add(reason);
    }
}

/// `dnf needs-restarting -r` names what was updated as `  * kernel`, and
/// says `Reboot is required`: its exit status 1 alone also means that the
/// command is missing (dnf-plugins-core not installed).
fn dnf(out: &str, need: &mut RebootNeed) {
    if !out.to_ascii_lowercase().contains("reboot is required") {
        return;
    }
    let before = need.reasons.len();
    for pkg in out.lines().filter_map(|l| l.trim().strip_prefix("* ")) {
        need.add(pkg.trim().to_owned());
    }
    if need.reasons.len() == before {
        need.add("dnf needs-restarting -r: core libraries or services were updated".into());
    }
}

/// On Arch, a kernel update removes the running kernel's modules.
fn arch(root: &Path, running: &str, need: &mut RebootNeed) {
    if running.is_empty() || !root.join("etc/arch-release").exists() {
        return;
    }
    let modules = root.join("usr/lib/modules").join(running);
    if root.join("usr/lib/modules").is_dir() && !modules.exists() {
        need.add(format!(
            "the running kernel {running} was removed (/usr/lib/modules/{running} is gone)"
        ));
    }
}

/// The running kernel's release (`uname -r`).
fn release() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Runs a tool for its exit status and stdout; none when it is not
/// installed, was killed, or ran past [`TOOL_TIME`] (then it is killed).
fn tool(program: &str, args: &[&str]) -> Option<(i32, String)> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .env("LC_ALL", "C")
        .spawn()
        .ok()?;
    let mut stdout = child.stdout.take()?;
    // Read beside the wait, so a long output cannot fill the pipe.
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + TOOL_TIME;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                tracing::warn!("{program} {} took too long; ignored", args.join(" "));
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let out = reader.join().unwrap_or_default();
    Some((status?.code()?, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn debian_names_the_packages_or_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut need = RebootNeed::default();
        debian(dir.path(), &mut need);
        assert_eq!(need, RebootNeed::default());
        fs::create_dir_all(dir.path().join("run")).unwrap();
        fs::write(
            dir.path().join("run/reboot-required"),
            "*** System restart required ***\n",
        )
        .unwrap();
        debian(dir.path(), &mut need);
        assert!(need.required);
        assert_eq!(need.reasons, ["/run/reboot-required"]);
        fs::write(
            dir.path().join("run/reboot-required.pkgs"),
            "linux-image-6.1.0-28-amd64\nlibc6\nlinux-image-6.1.0-28-amd64\n",
        )
        .unwrap();
        let mut need = RebootNeed::default();
        debian(dir.path(), &mut need);
        assert_eq!(need.reasons, ["linux-image-6.1.0-28-amd64", "libc6"]);
    }

    #[test]
    fn needrestart_counts_a_pending_kernel_only() {
        let out = |ksta: u8| {
            format!(
                "NEEDRESTART-VER: 3.6\nNEEDRESTART-KCUR: 6.1.0-27-amd64\n\
                 NEEDRESTART-KEXP: 6.1.0-28-amd64\nNEEDRESTART-KSTA: {ksta}\n\
                 NEEDRESTART-SVC: cron.service\n"
            )
        };
        for ksta in [0, 1] {
            let mut need = RebootNeed::default();
            needrestart(&out(ksta), &mut need);
            assert!(!need.required, "{ksta}");
        }
        for ksta in [2, 3] {
            let mut need = RebootNeed::default();
            needrestart(&out(ksta), &mut need);
            assert_eq!(
                need.reasons,
                ["kernel 6.1.0-28-amd64 is installed, 6.1.0-27-amd64 runs"]
            );
        }
    }

    #[test]
    fn dnf_names_what_was_updated() {
        let mut need = RebootNeed::default();
        dnf(
            "Core libraries or services have been updated since boot-up:\n  * kernel\n  * glibc\n\n\
             Reboot is required to fully utilize these updates.\n",
            &mut need,
        );
        assert_eq!(need.reasons, ["kernel", "glibc"]);
        let mut need = RebootNeed::default();
        dnf("", &mut need);
        assert!(!need.required, "needs-restarting is missing: nothing said");
    }

    #[test]
    fn arch_looks_for_the_running_kernels_modules() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("usr/lib/modules/6.12.1-arch1-1")).unwrap();
        let mut need = RebootNeed::default();
        arch(root, "6.12.0-arch1-1", &mut need);
        assert!(!need.required, "not Arch");
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::write(root.join("etc/arch-release"), "").unwrap();
        arch(root, "6.12.1-arch1-1", &mut need);
        assert!(!need.required, "its modules are there");
        arch(root, "6.12.0-arch1-1", &mut need);
        assert!(
            need.reasons[0].contains("6.12.0-arch1-1 was removed"),
            "{need:?}"
        );
    }

    #[test]
    fn a_missing_tool_says_nothing() {
        assert_eq!(tool("update-all-no-such-tool", &[]), None);
        assert_eq!(
            tool("sh", &["-c", "echo hi; exit 3"]),
            Some((3, "hi\n".into()))
        );
    }
}
