//! `--user` commands as root without `XDG_RUNTIME_DIR` (after `sudo -i` or
//! `su -`, from cron) on a real systemd 252 (the namespace test bed): each
//! finds root's own user manager as `update-all run` does, and what a
//! user-scope run says about its units names the user's journal.

mod common;

use common::{runner_env, show, text};
use testbed::Testbed;

/// A user plugin whose check finds nothing and whose update fails.
const SCRIPT: &str = r#"#!/bin/sh
case "$1" in
is-applicable) exit 0 ;;
estimate-update)
    echo '{"status": "success", "error": null, "progress": null, "data": {"applicable": true, "packages_to_update": [], "total_download_size_bytes": 0, "total_installed_size_bytes": null, "estimated_time_seconds": 1, "affects_runtimes": [], "affects_applications": [], "requires_reboot": false, "security_updates": false}}' ;;
update) echo "mine: broken" >&2; exit 3 ;;
*) echo "unknown command \"$1\"" >&2; exit 2 ;;
esac
"#;

/// `update-all --user ARGS` as root, with no XDG_RUNTIME_DIR (the test bed
/// gives a clean environment); the statistics under root's runtime
/// directory, as the test bed's user units keep them (root's home is the
/// host's).
fn as_root(tb: &Testbed, args: &[&str]) -> std::process::Output {
    let mut all = vec!["--user"];
    all.extend_from_slice(args);
    runner_env(tb, &[("XDG_STATE_HOME", "/run/user/0/state")], &all)
}

/// No trace of a user manager that could not be found.
fn found_the_manager(out: &std::process::Output) {
    let stderr = text(&out.stderr);
    for sign in [
        "XDG_RUNTIME_DIR",
        "cannot reach your session bus",
        "cannot see the units",
    ] {
        assert!(!stderr.contains(sign), "{}", show(out));
    }
}

#[test]
fn user_commands_as_root_find_roots_user_manager() {
    let Some(tb) = common::boot() else { return };
    tb.install_update_all_for_users(&testbed::target_binary("update-all-generator"));
    tb.add_plugin("mine", "scope: user", SCRIPT);
    // Started after the install: its generator makes the plugin's unit.
    tb.user_manager(0);
    assert!(
        tb.exec(&["printenv", "XDG_RUNTIME_DIR"]).stdout.is_empty(),
        "the test bed's environment has XDG_RUNTIME_DIR"
    );

    // A user-scope run: the failed unit's hint is the user journal's.
    let out = as_root(&tb, &["run"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    found_the_manager(&out);
    let stdout = text(&out.stdout);
    assert!(
        stdout
            .contains("mine update: exit status 3 — journalctl --user -u update-all-mine.service"),
        "{}",
        show(&out)
    );
    assert!(!stdout.contains("journalctl -u"), "{}", show(&out));

    // Every other command reaches the same manager.
    let out = as_root(&tb, &["check"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    found_the_manager(&out);
    tb.check(&[
        "test",
        "-s",
        "/run/user/0/update-all/check/mine.estimate-update",
    ]);
    for args in [
        &["status"][..],
        &["history"],
        &["stats"],
        &["cancel"],
        &["plan"],
        &["schedule", "status"],
        &["plugins", "list"],
    ] {
        let out = as_root(&tb, args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", show(&out));
        found_the_manager(&out);
    }
    let out = as_root(&tb, &["status"]);
    assert!(
        text(&out.stdout).contains("update-all-mine.service"),
        "{}",
        show(&out)
    );
    // Status points at the failed unit's log in the user journal too.
    assert!(
        text(&out.stdout).contains("journalctl --user -u update-all-mine.service"),
        "{}",
        show(&out)
    );
}
