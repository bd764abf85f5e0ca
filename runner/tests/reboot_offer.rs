//! "Reboot now" on a real systemd 252 and logind (the namespace test
//! bed): a pending reboot held back by logged-in users offers them a
//! notification with that action; the test bed's notification server
//! answers it with a real `ActionInvoked` (its `.invoke` file), the
//! listener in the user's own manager asks root over
//! `update-all-reboot-request.socket`, and root reboots, or says what still
//! holds the reboot back, or refuses when none is pending
//! (docs/unattended.md, "Reboot now").
//!
//! A reboot is seen as systemd's job for `reboot.target`, held by a guard
//! unit as in runner/tests/reboot.rs.

mod common;

use common::reboot::{guard, rebooting, release};
use common::{boot, runner, show, text, wait_for, wait_for_or, wait_recorded};
use serde_json::Value;
use std::time::Duration;
use testbed::{Testbed, RUNNER};

/// The first try comes a second after the run, a held one every 30 s.
const WAIT: Duration = Duration::from_secs(90);

/// A plugin whose update installs "a kernel" (Debian's reboot-required).
const KERNEL: &str = "#!/bin/sh\n\
    [ \"$1\" = is-applicable ] && exit 0\n\
    echo '*** System restart required ***' > /run/reboot-required\n\
    echo linux-image-9.9.9-testbed >> /run/reboot-required.pkgs\n";

/// A pending reboot as soon as the run ends, held for logged-in users.
fn configure(tb: &Testbed) {
    tb.write(
        "/run/update-all/config.d/50-reboot.yaml",
        "reboot:\n  policy: when-needed\n  time: now\n  with_users: false\n",
        0o644,
    );
}

/// A user logged in on a desktop with a notification server that chooses
/// "Reboot now" whenever it is offered.
fn desktop_user_who_clicks(tb: &Testbed, name: &str, uid: u32) {
    tb.add_user(name, uid);
    tb.login(name, "user", "wayland");
    tb.start_notification_server(name);
    tb.write(
        format!("/run/testbed-notifications/{name}.invoke"),
        "reboot\n",
        0o644,
    );
}

fn notifications(tb: &Testbed, user: &str) -> Vec<Value> {
    tb.notifications(user)
        .iter()
        .map(|n| serde_json::from_str(n).unwrap())
        .collect()
}

/// What the run, the reboot's tries, the request and the offer said.
fn context(tb: &Testbed, user: &str) -> String {
    format!(
        "--- update-all-reboot.service\n{}\n--- requests\n{}\n--- offer\n{}\n--- notifications\n{:#?}",
        tb.journal("update-all-reboot.service"),
        text(
            &tb.exec(&["journalctl", "--no-pager", "-u", "update-all-reboot-request@*"])
                .stdout
        ),
        text(
            &tb.exec(&[
                "journalctl",
                "--no-pager",
                &format!("_UID={}", tb.check(&["id", "-u", user]).trim()),
            ])
            .stdout
        ),
        notifications(tb, user)
    )
}

/// The offer with its action, as `user` received it.
fn wait_offer(tb: &Testbed, user: &str) -> Value {
    let mut offer = Value::Null;
    wait_for_or(
        "the offer to reboot now",
        WAIT,
        || {
            let got = notifications(tb, user);
            offer = got
                .into_iter()
                .find(|n| n["summary"] == "Reboot pending")
                .unwrap_or(Value::Null);
            !offer.is_null()
        },
        || context(tb, user),
    );
    offer
}

#[test]
fn reboot_now_reboots_when_only_the_clicker_holds_it() {
    let Some(tb) = boot() else { return };
    configure(&tb);
    guard(&tb);
    desktop_user_who_clicks(&tb, "alice", 4242);
    tb.add_plugin("kernel", "scope: system", KERNEL);
    tb.daemon_reload();
    tb.check(&["systemctl", "start", "update-all.target"]);
    wait_recorded(&tb);
    let offer = wait_offer(&tb, "alice");
    assert_eq!(
        offer["actions"],
        serde_json::json!(["reboot", "Reboot now"]),
        "{offer:#}"
    );
    assert!(
        offer["body"]
            .as_str()
            .is_some_and(|b| b.contains("(linux-image-9.9.9-testbed)")),
        "{offer:#}"
    );
    // Shown by alice's own listener, as alice.
    assert_eq!(offer["sender_uid"], 4242, "{offer:#}");
    assert_eq!(offer["invoked"], "reboot", "{offer:#}");
    wait_for_or(
        "the reboot job",
        WAIT,
        || rebooting(&tb),
        || context(&tb, "alice"),
    );
    release(&tb);
}

#[test]
fn another_user_still_holds_it_and_the_clicker_is_told_who() {
    let Some(tb) = boot() else { return };
    configure(&tb);
    guard(&tb);
    desktop_user_who_clicks(&tb, "alice", 4242);
    tb.add_user("bob", 4343);
    tb.login("bob", "user", "tty");
    tb.add_plugin("kernel", "scope: system", KERNEL);
    tb.daemon_reload();
    tb.check(&["systemctl", "start", "update-all.target"]);
    wait_recorded(&tb);
    wait_offer(&tb, "alice");
    let mut told = Value::Null;
    wait_for_or(
        "alice to be told what holds the reboot",
        WAIT,
        || {
            told = notifications(&tb, "alice")
                .into_iter()
                .find(|n| n["summary"] == "Reboot still waits")
                .unwrap_or(Value::Null);
            !told.is_null()
        },
        || context(&tb, "alice"),
    );
    let body = told["body"].as_str().unwrap_or_default();
    assert!(body.contains("bob is logged in (console)"), "{told:#}");
    assert!(!body.contains("alice"), "alice does not hold it: {told:#}");
    assert!(!rebooting(&tb), "rebooted with bob logged in");
    // journald takes the line from the unit's stream in its own time.
    let requests = || {
        text(
            &tb.exec(&[
                "journalctl",
                "--no-pager",
                "-u",
                "update-all-reboot-request@*",
            ])
            .stdout,
        )
    };
    wait_for_or(
        "the request unit to say who asked",
        Duration::from_secs(20),
        || requests().contains("alice (uid 4242) asked to reboot now"),
        requests,
    );
    // The reboot stays pending for when bob logs out.
    let status: Value = serde_json::from_slice(&runner(&tb, &["status", "--json"]).stdout).unwrap();
    assert!(status["reboot_pending"].is_object(), "{status:#}");
    runner(&tb, &["reboot", "--cancel"]);
    release(&tb);
}

/// alice's listener, started by hand: her server chooses "Reboot now" at
/// once, root answers, the listener shows the answer and ends.
fn listen_as_alice(tb: &Testbed) {
    let out = tb.exec(&[
        "setpriv",
        "--reuid=4242",
        "--regid=4242",
        "--clear-groups",
        "env",
        "DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/4242/bus",
        "XDG_RUNTIME_DIR=/run/user/4242",
        RUNNER,
        "reboot",
        "--offer",
    ]);
    assert!(
        out.status.success(),
        "{}\n{}",
        show(&out),
        context(tb, "alice")
    );
}

/// alice's notifications, once there are `n`.
fn wait_notifications(tb: &Testbed, n: usize) -> Vec<Value> {
    let mut got = Vec::new();
    wait_for(
        &format!("alice's {n} notifications"),
        Duration::from_secs(20),
        || {
            got = notifications(tb, "alice");
            got.len() >= n
        },
    );
    got
}

#[test]
fn a_request_without_a_pending_reboot_is_refused() {
    let Some(tb) = boot() else { return };
    configure(&tb);
    guard(&tb);
    desktop_user_who_clicks(&tb, "alice", 4242);
    tb.check(&["systemctl", "start", "update-all-reboot-request.socket"]);
    // No reboot pending at all.
    listen_as_alice(&tb);
    let got = wait_notifications(&tb, 2);
    assert_eq!(got[0]["invoked"], "reboot", "{got:#?}");
    assert_eq!(got[1]["summary"], "No reboot", "{got:#?}");
    assert_eq!(got[1]["body"], "No reboot is pending.", "{got:#?}");
    // One pending for 03:00, not tried yet: not due.
    tb.write(
        "/run/update-all/config.d/50-reboot.yaml",
        "reboot:\n  policy: when-needed\n  time: \"03:00\"\n  with_users: false\n",
        0o644,
    );
    tb.add_plugin("kernel", "scope: system", KERNEL);
    tb.daemon_reload();
    tb.check(&["systemctl", "start", "update-all.target"]);
    wait_recorded(&tb);
    wait_for("the pending reboot", Duration::from_secs(20), || {
        common::unit_property(&tb, "update-all-reboot.timer", "ActiveState") == "active"
    });
    listen_as_alice(&tb);
    let got = wait_notifications(&tb, 5);
    // got[2]: the run's own end-of-run notification.
    assert_eq!(got[3]["invoked"], "reboot", "{got:#?}");
    assert_eq!(
        got[4]["body"], "The pending reboot is not due yet.",
        "{got:#?}"
    );
    assert!(!rebooting(&tb));
    runner(&tb, &["reboot", "--cancel"]);
    release(&tb);
}

/// `systemctl --user is-active` of alice's listener, asked as alice.
fn listener_state(tb: &Testbed) -> String {
    text(
        &tb.exec(&[
            "setpriv",
            "--reuid=4242",
            "--regid=4242",
            "--clear-groups",
            "env",
            "XDG_RUNTIME_DIR=/run/user/4242",
            "systemctl",
            "--user",
            "is-active",
            "update-all-reboot-offer.service",
        ])
        .stdout,
    )
    .trim()
    .to_owned()
}

#[test]
fn the_offer_ends_when_the_desktop_does() {
    let Some(tb) = boot() else { return };
    configure(&tb);
    guard(&tb);
    tb.add_user("alice", 4242);
    tb.login("alice", "user", "wayland");
    tb.start_notification_server("alice");
    tb.add_plugin("kernel", "scope: system", KERNEL);
    tb.daemon_reload();
    tb.check(&["systemctl", "start", "update-all.target"]);
    wait_recorded(&tb);
    wait_offer(&tb, "alice");
    assert_eq!(listener_state(&tb), "active", "{}", context(&tb, "alice"));
    // The desktop's notification server goes: the listener follows.
    tb.check(&["systemctl", "stop", "testbed-notifications-alice"]);
    wait_for_or(
        "the listener to end",
        Duration::from_secs(20),
        || listener_state(&tb) != "active",
        || context(&tb, "alice"),
    );
    assert!(!rebooting(&tb));
    runner(&tb, &["reboot", "--cancel"]);
    release(&tb);
}
