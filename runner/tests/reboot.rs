//! Reboots on a real systemd 252 and logind (the namespace test bed): a
//! run that leaves the machine needing a reboot records it (from
//! `/run/reboot-required` and from the plugin's own `requires_reboot`),
//! `status`, `check` and `reboot` say so, and the `reboot:` policy reboots
//! through `update-all-reboot.timer`, waiting while an inhibitor or a
//! logged-in user holds it back (docs/configuration.md, "Reboots").
//!
//! A reboot is seen as systemd's job for `reboot.target` (a guard unit
//! whose stop waits for a file holds it, so the job stays to be seen; then
//! the file is written and the instance reboots, which ends it: the test
//! bed's teardown allows for that), or in the console's shutdown messages.

mod common;

use common::reboot::{guard, rebooting, release};
use common::{boot, runner, show, text, unit_property, wait_for, wait_recorded};
use serde_json::Value;
use std::time::{Duration, Instant};
use testbed::Testbed;

/// The transient timer a reboot policy leaves.
const TIMER: &str = "update-all-reboot.timer";
/// A try held back comes again after 30 s; the rest is slack.
const RECHECK_WAIT: Duration = Duration::from_secs(90);

/// A plugin whose update installs "a kernel": it writes Debian's
/// `/run/reboot-required` and names the package in `.pkgs`.
const KERNEL: &str = "#!/bin/sh\n\
    [ \"$1\" = is-applicable ] && exit 0\n\
    echo '*** System restart required ***' > /run/reboot-required\n\
    echo linux-image-9.9.9-testbed >> /run/reboot-required.pkgs\n";

/// A plugin whose update answers `requires_reboot: true`.
const FLAGGER: &str = "#!/bin/sh\n\
    [ \"$1\" = is-applicable ] && exit 0\n\
    printf '%s\\n' '{\"status\":\"success\",\"data\":{\"requires_reboot\":true},\"error\":null,\"progress\":null}'\n";

fn json(tb: &Testbed, args: &[&str]) -> Value {
    let out = runner(tb, args);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", show(&out)))
}

/// Adds the plugin, runs update-all.target and waits for its record.
fn run_with(tb: &Testbed, name: &str, script: &str) {
    tb.add_plugin(name, "scope: system", script);
    tb.daemon_reload();
    tb.check(&["systemctl", "start", "update-all.target"]);
    wait_recorded(tb);
}

fn reasons(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn configure(tb: &Testbed, reboot: &str) {
    tb.write(
        "/run/update-all/config.d/50-reboot.yaml",
        format!("reboot:\n{reboot}"),
        0o644,
    );
}

/// Waits for the reboot job; else fails with what the recorder and the
/// reboot's units said.
fn wait_rebooting(tb: &Testbed) {
    let deadline = Instant::now() + RECHECK_WAIT;
    while !rebooting(tb) {
        if Instant::now() > deadline {
            panic!(
                "no reboot job\n--- console\n{}\n--- jobs\n{}\n--- recorder\n{}\n--- {TIMER}\n{}\n\
                 --- update-all-reboot.service\n{}\n--- logind\n{}",
                tb.console(120),
                show(&tb.exec(&["systemctl", "list-jobs"])),
                tb.journal(common::RECORDER),
                tb.journal(TIMER),
                tb.journal("update-all-reboot.service"),
                tb.journal("systemd-logind.service"),
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until the reboot's service has tried and was held back; returns
/// its journal.
fn wait_held(tb: &Testbed) -> String {
    let mut log = String::new();
    wait_for("a try held back", RECHECK_WAIT, || {
        log = tb.journal("update-all-reboot.service");
        log.contains("reboot held back")
    });
    log
}

#[test]
fn a_reboot_required_file_is_recorded_with_its_packages() {
    let Some(tb) = boot() else { return };
    run_with(&tb, "kernel", KERNEL);
    let status = json(&tb, &["status", "--json"]);
    assert_eq!(status["reboot"]["required"], true, "{status:#}");
    assert_eq!(
        reasons(&status["reboot"]["reasons"]),
        ["linux-image-9.9.9-testbed"],
        "{status:#}"
    );
    // The default policy is never: nothing is pending.
    assert_eq!(status["reboot_pending"], Value::Null, "{status:#}");
    let out = runner(&tb, &["status"]);
    assert!(
        text(&out.stdout).contains("Reboot required: linux-image-9.9.9-testbed"),
        "{}",
        show(&out)
    );
    // Looked at now by check and reboot.
    let check = json(&tb, &["check", "--json"]);
    assert_eq!(check["reboot_required"], true, "{check:#}");
    assert_eq!(
        reasons(&check["reboot_reasons"]),
        ["linux-image-9.9.9-testbed"]
    );
    let state = json(&tb, &["reboot", "--json"]);
    assert_eq!(state["required"], true, "{state:#}");
    assert_eq!(state["policy"]["policy"], "never", "{state:#}");
    assert!(!rebooting(&tb));
}

#[test]
fn a_plugins_requires_reboot_is_recorded() {
    let Some(tb) = boot() else { return };
    run_with(&tb, "flagger", FLAGGER);
    assert!(tb
        .host_path("/run/update-all/reboot-required.d/flagger")
        .exists());
    let status = json(&tb, &["status", "--json"]);
    assert_eq!(status["reboot"]["required"], true, "{status:#}");
    assert_eq!(
        reasons(&status["reboot"]["reasons"]),
        ["flagger: its update requires a reboot"],
        "{status:#}"
    );
}

#[test]
fn when_needed_now_reboots() {
    let Some(tb) = boot() else { return };
    configure(&tb, "  policy: when-needed\n  time: now\n");
    guard(&tb);
    run_with(&tb, "kernel", KERNEL);
    wait_rebooting(&tb);
    release(&tb);
}

#[test]
fn a_block_inhibitor_holds_the_reboot_until_it_goes() {
    let Some(tb) = boot() else { return };
    configure(&tb, "  policy: when-needed\n  time: now\n");
    guard(&tb);
    tb.check(&[
        "systemd-run",
        "--quiet",
        "--unit=testbed-inhibitor",
        "systemd-inhibit",
        "--what=shutdown",
        "--mode=block",
        "--who=testbed",
        "--why=burning a disc",
        "sleep",
        "infinity",
    ]);
    wait_for("the inhibitor", Duration::from_secs(20), || {
        text(
            &tb.exec(&["systemd-inhibit", "--list", "--no-legend"])
                .stdout,
        )
        .contains("testbed")
    });
    run_with(&tb, "kernel", KERNEL);
    let log = wait_held(&tb);
    assert!(!rebooting(&tb), "rebooted despite the inhibitor");
    assert!(
        log.contains("reboot held back: testbed") && log.contains("burning a disc"),
        "{log}"
    );
    let status = json(&tb, &["status", "--json"]);
    assert_eq!(status["reboot_pending"]["waiting"], true, "{status:#}");
    let now = runner(&tb, &["reboot", "--now", "--json"]);
    assert_eq!(now.status.code(), Some(1), "{}", show(&now));
    tb.check(&["systemctl", "stop", "testbed-inhibitor"]);
    wait_rebooting(&tb);
    release(&tb);
}

#[test]
fn a_later_time_is_a_timer_that_cancel_removes() {
    let Some(tb) = boot() else { return };
    configure(&tb, "  policy: when-needed\n  time: \"03:00\"\n");
    run_with(&tb, "flagger", FLAGGER);
    wait_for("the reboot timer", Duration::from_secs(20), || {
        unit_property(&tb, TIMER, "LoadState") == "loaded"
    });
    let status = json(&tb, &["status", "--json"]);
    let pending = &status["reboot_pending"];
    assert_eq!(pending["waiting"], false, "{status:#}");
    assert!(
        pending["calendar"][0]
            .as_str()
            .is_some_and(|c| c.contains("03:00:00")),
        "{status:#}"
    );
    assert!(pending["next_us"].as_u64().is_some(), "{status:#}");
    let out = runner(&tb, &["status"]);
    assert!(
        text(&out.stdout).contains("Reboot pending at"),
        "{}",
        show(&out)
    );
    let cancel = json(&tb, &["reboot", "--cancel", "--json"]);
    assert_eq!(cancel["cancelled"], true, "{cancel:#}");
    wait_for("the timer to go", Duration::from_secs(20), || {
        unit_property(&tb, TIMER, "LoadState") != "loaded"
    });
    let status = json(&tb, &["status", "--json"]);
    assert_eq!(status["reboot_pending"], Value::Null, "{status:#}");
    let again = json(&tb, &["reboot", "--cancel", "--json"]);
    assert_eq!(again["cancelled"], false, "{again:#}");
    assert!(!rebooting(&tb));
}

#[test]
fn a_logged_in_user_holds_the_reboot() {
    let Some(tb) = boot() else { return };
    configure(&tb, "  policy: always\n  time: now\n  with_users: false\n");
    guard(&tb);
    tb.add_user("alice", 4242);
    tb.login("alice", "user", "wayland");
    tb.start_notification_server("alice");
    run_with(&tb, "kernel", KERNEL);
    let log = wait_held(&tb);
    assert!(!rebooting(&tb), "rebooted with alice logged in");
    assert!(log.contains("alice is logged in (desktop)"), "{log}");
    // alice heard of the run, with the reboot it needs, and that the
    // reboot waits for her (once: later tries tell no one again).
    let mut got: Vec<Value> = Vec::new();
    wait_for("alice's notifications", Duration::from_secs(20), || {
        got = tb
            .notifications("alice")
            .iter()
            .map(|n| serde_json::from_str(n).unwrap())
            .collect();
        got.len() >= 2
    });
    assert!(
        got[0]["body"]
            .as_str()
            .is_some_and(|b| b.ends_with("\nReboot required: linux-image-9.9.9-testbed")),
        "{got:#?}"
    );
    assert_eq!(got[1]["summary"], "Reboot pending", "{got:#?}");
    assert!(
        got[1]["body"]
            .as_str()
            .is_some_and(|b| b.contains("(linux-image-9.9.9-testbed)")),
        "{got:#?}"
    );
    let now = json(&tb, &["reboot", "--now", "--json"]);
    assert_eq!(now["rebooting"], false, "{now:#}");
    assert_eq!(now["held_by"][0]["user"], "alice", "{now:#}");
    // An ignored user does not hold it back.
    configure(
        &tb,
        "  policy: always\n  time: now\n  with_users: false\n  ignored_users: [alice]\n",
    );
    let state = json(&tb, &["reboot", "--json"]);
    assert_eq!(state["held_by"], Value::Array(vec![]), "{state:#}");
    runner(&tb, &["reboot", "--cancel"]);
    assert_eq!(tb.notifications("alice").len(), 2, "told once");
    release(&tb);
}

#[test]
fn with_users_the_reboot_goes_past_a_logged_in_user() {
    let Some(tb) = boot() else { return };
    configure(
        &tb,
        "  policy: when-needed\n  time: now\n  with_users: true\n",
    );
    guard(&tb);
    tb.add_user("alice", 4242);
    tb.login("alice", "user", "tty");
    // systemctl's own check refuses while alice is logged in: update-all
    // checks the inhibitors itself then (docs/configuration.md, Reboots).
    let own = tb.exec(&["systemctl", "reboot", "--check-inhibitors=yes", "--dry-run"]);
    assert!(
        !own.status.success() && text(&own.stderr).contains("User alice is logged in"),
        "{}",
        show(&own)
    );
    run_with(&tb, "flagger", FLAGGER);
    wait_rebooting(&tb);
    release(&tb);
}

#[test]
fn by_hand_the_askers_own_session_does_not_hold_the_reboot() {
    let Some(tb) = boot() else { return };
    configure(&tb, "  policy: never\n");
    guard(&tb);
    tb.add_user("alice", 4242);
    tb.login("alice", "user", "tty");
    // Another user would; alice herself, through sudo, does not.
    let held = json(&tb, &["reboot", "--now", "--json"]);
    assert_eq!(held["rebooting"], false, "{held:#}");
    let out = common::runner_env(&tb, &[("SUDO_UID", "4242")], &["reboot", "--now"]);
    assert!(out.status.success(), "{}", show(&out));
    wait_rebooting(&tb);
    release(&tb);
}
