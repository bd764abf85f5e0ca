//! End-of-run notifications on a real systemd, logind and per-user session
//! buses (the namespace test bed), each user running a notification server
//! that records every Notify call (the testbed's `notify-recorder`).

use serde_json::Value;
use std::process::Output;
use testbed::{Testbed, RUNNER};

fn boot() -> Option<Testbed> {
    let tb = Testbed::require()?;
    tb.install_executable(env!("CARGO_BIN_EXE_update-all"), RUNNER);
    Some(tb)
}

/// `update-all notify-test ARGS` as root inside; it must exit 0 whatever
/// happened to the notifications. Returns its standard error (the log).
fn notify_test(tb: &Testbed, env: &[(&str, &str)], args: &[&str]) -> String {
    let mut all = vec![RUNNER, "notify-test"];
    all.extend_from_slice(args);
    checked(tb.exec_env(env, &all))
}

fn checked(out: Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "notify-test failed ({}): {stderr}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}

fn received(tb: &Testbed, user: &str) -> Vec<Value> {
    tb.notifications(user)
        .iter()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// The notification came from a process that was fully `uid` and nothing
/// more: its own groups, no capabilities, no way to gain any.
fn assert_sent_as(n: &Value, uid: u32) {
    let all4 = format!("{uid} {uid} {uid} {uid}");
    assert_eq!(n["sender_uid"], uid, "{n}");
    assert_eq!(n["Uid"], all4.as_str(), "{n}");
    assert_eq!(n["Gid"], all4.as_str(), "{n}");
    assert_eq!(n["Groups"], uid.to_string().as_str(), "{n}");
    assert_eq!(n["CapEff"], "0000000000000000", "{n}");
    assert_eq!(n["NoNewPrivs"], "1", "{n}");
}

#[test]
fn notify_test_is_hidden_from_help() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_update-all"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("plan"), "{help}");
    assert!(!help.contains("notify"), "{help}");
}

#[test]
fn graphical_broadcast_reaches_each_desktop_user_once_and_no_one_else() {
    let host_passwd = std::fs::read("/etc/passwd").unwrap();
    let host_group = std::fs::read("/etc/group").unwrap();
    let Some(tb) = boot() else { return };
    for (name, uid) in [
        ("alice", 4001),
        ("bob", 4002),
        ("carol", 4003),
        ("dave", 4004),
    ] {
        tb.add_user(name, uid);
    }
    assert!(tb
        .check(&["getent", "passwd", "alice"])
        .starts_with("alice:x:4001:4001:"));
    // alice twice (two desktops), bob once; carol only as a login screen's
    // greeter, dave only on a text console.
    let alice_wayland = tb.login("alice", "user", "wayland");
    let alice_x11 = tb.login("alice", "user", "x11");
    tb.login("bob", "user", "x11");
    let greeter = tb.login("carol", "greeter", "wayland");
    let tty = tb.login("dave", "user", "tty");
    let show = |id: &str| tb.check(&["loginctl", "show-session", id, "-p", "Type", "-p", "Class"]);
    assert_eq!(show(&alice_wayland), "Type=wayland\nClass=user\n");
    assert_eq!(show(&alice_x11), "Type=x11\nClass=user\n");
    assert_eq!(show(&greeter), "Type=wayland\nClass=greeter\n");
    assert_eq!(show(&tty), "Type=tty\nClass=user\n");
    for user in ["alice", "bob", "carol", "dave"] {
        tb.start_notification_server(user);
    }

    let log = notify_test(
        &tb,
        &[],
        &[
            "--system",
            "--succeeded=apt,flatpak",
            "--failed=snap",
            "--skipped=pipx",
            "--duration=75",
            "--audience=graphical",
        ],
    );
    assert!(log.contains("notified alice (uid 4001)"), "{log}");
    assert!(log.contains("notified bob (uid 4002)"), "{log}");
    assert!(!log.contains("carol") && !log.contains("dave"), "{log}");
    for (user, uid) in [("alice", 4001), ("bob", 4002)] {
        let got = received(&tb, user);
        assert_eq!(got.len(), 1, "{user}: {got:?}");
        let n = &got[0];
        assert_eq!(n["app_name"], "update-all");
        assert_eq!(n["app_icon"], "system-software-update");
        assert_eq!(n["summary"], "System updates failed");
        assert_eq!(
            n["body"],
            "Failed: snap\n2 succeeded, 1 failed, 1 skipped in 1m15s.\n\
             Details: update-all status --system"
        );
        assert_eq!(n["urgency"], 2, "critical: {n}");
        assert_sent_as(n, uid);
    }

    notify_test(&tb, &[], &["--succeeded=apt", "--audience=graphical"]);
    for user in ["alice", "bob"] {
        let got = received(&tb, user);
        assert_eq!(got.len(), 2, "{user}: {got:?}");
        assert_eq!(got[1]["summary"], "System updates finished");
        assert_eq!(got[1]["body"], "1 succeeded, 0 failed, 0 skipped in 0.0s.");
        assert_eq!(got[1]["urgency"], 1, "normal: {}", got[1]);
    }
    assert!(received(&tb, "carol").is_empty());
    assert!(received(&tb, "dave").is_empty());

    let covered = |uid: &str| tb.check(&[RUNNER, "notify-test", "--covered", uid]);
    assert_eq!(covered("4001"), "true\n");
    assert_eq!(covered("4003"), "false\n");
    assert_eq!(covered("4004"), "false\n");

    drop(tb);
    assert_eq!(
        std::fs::read("/etc/passwd").unwrap(),
        host_passwd,
        "host /etc/passwd changed"
    );
    assert_eq!(
        std::fs::read("/etc/group").unwrap(),
        host_group,
        "host /etc/group changed"
    );
}

#[test]
fn invoker_audience_reaches_only_the_invoking_session() {
    let Some(tb) = boot() else { return };
    for (name, uid) in [("alice", 4001), ("bob", 4002)] {
        tb.add_user(name, uid);
        tb.login(name, "user", "wayland");
        tb.start_notification_server(name);
    }

    // alice runs it herself, from her desktop's terminal.
    let out = tb.exec(&[
        "setpriv",
        "--reuid=alice",
        "--regid=alice",
        "--init-groups",
        "env",
        "HOME=/run/testbed-home/alice",
        "XDG_RUNTIME_DIR=/run/user/4001",
        "DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/4001/bus",
        RUNNER,
        "notify-test",
        "--failed=pipx",
        "--duration=3",
    ]);
    let log = checked(out);
    assert!(log.contains("notified alice (uid 4001)"), "{log}");
    let alice = received(&tb, "alice");
    assert_eq!(alice.len(), 1, "{alice:?}");
    assert_eq!(alice[0]["summary"], "User updates failed");
    assert_sent_as(&alice[0], 4001);
    assert!(received(&tb, "bob").is_empty());

    // bob through sudo (which leaves SUDO_UID and clears the rest).
    let log = notify_test(&tb, &[("SUDO_UID", "4002")], &["--succeeded=apt,snap"]);
    assert!(log.contains("notified bob (uid 4002)"), "{log}");
    let bob = received(&tb, "bob");
    assert_eq!(bob.len(), 1, "{bob:?}");
    assert_eq!(bob[0]["summary"], "System updates finished");
    assert_eq!(bob[0]["urgency"], 1);
    assert_sent_as(&bob[0], 4002);
    assert_eq!(received(&tb, "alice").len(), 1);

    // root itself has no session bus here (no desktop, as over ssh): nobody
    // to tell, so nothing on the terminal, not a failure, and a debug line.
    let no_bus = "could not notify root (uid 0): no session bus at unix:path=/run/user/0/bus";
    let log = notify_test(&tb, &[], &["--succeeded=apt"]);
    assert!(!log.contains("could not notify"), "{log}");
    let log = notify_test(&tb, &[("UPDATE_ALL_LOG", "debug")], &["--succeeded=apt"]);
    assert!(
        log.contains(&format!("update-all: debug: {no_bus}")),
        "{log}"
    );
}

#[test]
fn configuration_and_a_missing_server_are_respected_and_never_fail_the_run() {
    let Some(tb) = boot() else { return };
    for (name, uid) in [("alice", 4001), ("bob", 4002)] {
        tb.add_user(name, uid);
        tb.login(name, "user", "wayland");
    }
    // bob's desktop has no notification server running.
    tb.start_notification_server("alice");
    tb.write(
        "/run/update-all/config.d/quiet.yaml",
        "notifications:\n  on_success: false\n",
        0o644,
    );

    let log = notify_test(&tb, &[], &["--succeeded=apt", "--audience=graphical"]);
    assert!(
        log.contains("no notification: the configuration turns them off for successful runs"),
        "{log}"
    );
    assert!(received(&tb, "alice").is_empty());

    let log = notify_test(&tb, &[], &["--failed=apt", "--audience=graphical"]);
    assert!(log.contains("notified alice (uid 4001)"), "{log}");
    assert!(
        log.contains(
            "could not notify bob (uid 4002): no notification server is running on its session bus"
        ),
        "{log}"
    );
    let alice = received(&tb, "alice");
    assert_eq!(alice.len(), 1, "{alice:?}");
    assert_eq!(alice[0]["urgency"], 2);
}

/// Waits up to 15 s for `user` to have received `count` notifications.
fn wait_for(tb: &Testbed, user: &str, count: usize) -> Vec<Value> {
    for _ in 0..150 {
        let got = received(tb, user);
        if got.len() >= count {
            return got;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    received(tb, user)
}

/// The whole path: a run started by plain systemctl (as a timer would) ends,
/// the recorder sends one summary to the desktop user; `update-all run` by
/// root over no session adds exactly one more, from the recorder again.
#[test]
fn a_finished_run_is_announced_once_to_the_desktop() {
    let Some(tb) = Testbed::require() else { return };
    tb.install_update_all(
        &testbed::target_binary("update-all-generator"),
        Some(std::path::Path::new(env!("CARGO_BIN_EXE_update-all"))),
    );
    tb.add_user("alice", 4001);
    tb.login("alice", "user", "wayland");
    tb.start_notification_server("alice");
    tb.add_plugin("good", "scope: system", "#!/bin/sh\nexit 0\n");
    tb.add_plugin(
        "bad",
        "scope: system",
        "#!/bin/sh\n[ \"$1\" = is-applicable ] && exit 0\nexit 3\n",
    );
    tb.daemon_reload();

    tb.check(&["systemctl", "start", "update-all.target"]);
    let got = wait_for(&tb, "alice", 1);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["summary"], "System updates failed");
    assert!(
        got[0]["body"]
            .as_str()
            .unwrap()
            .starts_with("Failed: bad\n1 succeeded, 1 failed, 0 skipped"),
        "{}",
        got[0]
    );
    assert_sent_as(&got[0], 4001);

    let run = tb.exec(&[RUNNER, "run", "--system"]);
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    let got = wait_for(&tb, "alice", 2);
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(received(&tb, "alice").len(), 2, "{got:?}");
}
