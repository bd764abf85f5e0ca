//! Shutdown safety on a real systemd 252 and logind (the namespace test
//! bed): while a plugin's update unit runs, `plugin-exec` holds logind's
//! block inhibitor on shutdown and sleep; its download unit holds none; the
//! lock ends with the unit; and without logind the update still succeeds.
//!
//! The statistics recorder is masked here: this is about the plugin units.

mod common;

use common::{text, wait_for};
use serde_json::Value;
use std::time::Duration;
use testbed::Testbed;

const PLUGIN: &str = "slow";
const UPDATE: &str = "update-all-slow.service";
const DOWNLOAD: &str = "update-all-slow-download.service";
const WHY: &str = "update-all: slow is installing updates";

/// A plugin with a separate download whose download and update each mark
/// that they started (`/run/gate/<phase>.started`) and then wait for
/// `/run/gate/<phase>.go`.
const GATED: &str = "#!/bin/sh\n\
    [ \"$1\" = is-applicable ] && exit 0\n\
    mkdir -p /run/gate\n\
    touch /run/gate/$1.started\n\
    while [ ! -e /run/gate/$1.go ]; do sleep 0.05; done\n\
    echo \"$1 done\"\n";

fn boot() -> Option<Testbed> {
    common::boot_with(|tb| {
        tb.sh("ln -sf /dev/null /run/systemd/system/update-all-recorder.service");
    })
}

/// One of logind's inhibitor locks (`ListInhibitors`).
#[derive(Debug, PartialEq)]
struct Lock {
    what: String,
    who: String,
    why: String,
    mode: String,
    pid: u64,
}

/// Every inhibitor lock logind holds now, from its `ListInhibitors`.
fn locks(tb: &Testbed) -> Vec<Lock> {
    let raw = tb.check(&[
        "busctl",
        "call",
        "--json=short",
        "org.freedesktop.login1",
        "/org/freedesktop/login1",
        "org.freedesktop.login1.Manager",
        "ListInhibitors",
    ]);
    let doc: Value = serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{e}: {raw}"));
    // {"type":"a(ssssuu)","data":[[[what, who, why, mode, uid, pid], ...]]}
    let rows = doc["data"][0].as_array().cloned().unwrap_or_default();
    rows.iter()
        .map(|r| Lock {
            what: r[0].as_str().unwrap_or_default().to_owned(),
            who: r[1].as_str().unwrap_or_default().to_owned(),
            why: r[2].as_str().unwrap_or_default().to_owned(),
            mode: r[3].as_str().unwrap_or_default().to_owned(),
            pid: r[5].as_u64().unwrap_or_default(),
        })
        .collect()
}

/// The locks held by update-all.
fn ours(tb: &Testbed) -> Vec<Lock> {
    locks(tb)
        .into_iter()
        .filter(|l| l.who == "update-all")
        .collect()
}

fn started(tb: &Testbed, phase: &str) -> bool {
    tb.host_path(format!("/run/gate/{phase}.started")).exists()
}

fn release(tb: &Testbed, phase: &str) {
    tb.write(format!("/run/gate/{phase}.go"), "", 0o644);
}

fn property(tb: &Testbed, unit: &str, name: &str) -> String {
    tb.check(&["systemctl", "show", "-P", name, unit])
        .trim()
        .to_owned()
}

/// Download, then update: only the update holds the lock, a block lock on
/// shutdown and sleep naming the plugin, taken by the unit's main process
/// (plugin-exec); `systemd-inhibit --list` shows it; it is gone once the
/// unit has ended.
#[test]
fn an_update_blocks_shutdown_while_it_runs_and_a_download_does_not() {
    let Some(tb) = boot() else { return };
    tb.add_plugin(PLUGIN, "scope: system\ncan_separate_download: true", GATED);
    tb.daemon_reload();
    assert!(ours(&tb).is_empty(), "{:?}", locks(&tb));
    tb.check(&["systemctl", "start", "--no-block", UPDATE]);

    wait_for("the download to start", Duration::from_secs(20), || {
        started(&tb, "download")
    });
    assert_eq!(property(&tb, DOWNLOAD, "ActiveState"), "activating");
    assert!(
        ours(&tb).is_empty(),
        "the download holds a lock: {:?}",
        locks(&tb)
    );
    release(&tb, "download");

    wait_for("the update to start", Duration::from_secs(20), || {
        started(&tb, "update")
    });
    let main_pid: u64 = property(&tb, UPDATE, "MainPID").parse().unwrap();
    let held = ours(&tb);
    assert_eq!(
        held,
        vec![Lock {
            what: "shutdown:sleep".into(),
            who: "update-all".into(),
            why: WHY.into(),
            mode: "block".into(),
            pid: main_pid,
        }],
        "{:?}",
        locks(&tb)
    );
    let list = tb.check(&["systemd-inhibit", "--list", "--no-pager"]);
    assert!(
        list.lines()
            .any(|l| l.contains("update-all") && l.contains(WHY) && l.contains("block")),
        "{list}"
    );

    release(&tb, "update");
    wait_for("the update to end", Duration::from_secs(20), || {
        property(&tb, UPDATE, "ActiveState") != "activating"
    });
    assert_eq!(property(&tb, UPDATE, "Result"), "success");
    assert!(ours(&tb).is_empty(), "still held: {:?}", locks(&tb));
}

/// With logind stopped (and masked, so D-Bus cannot start it again) the
/// update runs without the lock and succeeds, after a warning in its
/// journal.
#[test]
fn without_logind_the_update_still_succeeds() {
    let Some(tb) = boot() else { return };
    tb.add_plugin(PLUGIN, "scope: system", GATED);
    tb.daemon_reload();
    tb.check(&["systemctl", "mask", "--runtime", "systemd-logind.service"]);
    tb.check(&["systemctl", "stop", "systemd-logind.service"]);
    release(&tb, "update");
    // A target that wants the unit keeps it loaded once it is done.
    tb.write(
        "/run/systemd/system/hold.target",
        format!("[Unit]\nWants={UPDATE}\nAfter={UPDATE}\n"),
        0o644,
    );
    tb.daemon_reload();
    let out = tb.systemctl(&["start", "hold.target"]);
    assert!(out.status.success(), "{}", common::show(&out));
    assert_eq!(property(&tb, UPDATE, "Result"), "success");
    wait_for(
        "the warning in the journal",
        Duration::from_secs(20),
        || {
            let journal = tb.journal(UPDATE);
            journal.contains("update done")
                && journal
                    .lines()
                    .any(|l| l.starts_with("cannot take logind's shutdown inhibitor lock for slow"))
        },
    );
}

/// `systemctl --user ARGS` as alice (uid 4242).
fn as_alice(tb: &Testbed, args: &[&str]) -> std::process::Output {
    let mut all = vec![
        "setpriv",
        "--reuid=alice",
        "--regid=alice",
        "--init-groups",
        "env",
        "XDG_RUNTIME_DIR=/run/user/4242",
        "systemctl",
        "--user",
    ];
    all.extend_from_slice(args);
    tb.exec(&all)
}

/// A user's update unit, in alice's own service manager: logind asks
/// polkit, whose default for `org.freedesktop.login1.inhibit-block-shutdown`
/// refuses a process outside any session (a user service); the update then
/// runs without the lock and succeeds, after a warning in the user's journal.
#[test]
fn a_users_update_goes_on_when_polkit_refuses_the_lock() {
    let Some(tb) = boot() else { return };
    tb.install_update_all_for_users(&testbed::target_binary("update-all-generator"));
    tb.add_plugin(PLUGIN, "scope: user", GATED);
    tb.sh("mkdir -m 1777 -p /run/gate");
    tb.add_user("alice", 4242);
    tb.login("alice", "user", "tty");
    let out = as_alice(&tb, &["daemon-reload"]);
    assert!(out.status.success(), "{}", common::show(&out));
    let out = as_alice(&tb, &["start", "--no-block", UPDATE]);
    assert!(out.status.success(), "{}", common::show(&out));
    wait_for("the update to start", Duration::from_secs(20), || {
        started(&tb, "update")
    });
    let journal = || {
        text(
            &tb.exec(&["journalctl", "--no-pager", "-o", "cat", "_UID=4242"])
                .stdout,
        )
    };
    let refused = "cannot take logind's shutdown inhibitor lock for slow \
                   (org.freedesktop.DBus.Error.AccessDenied";
    wait_for(
        "the warning in the journal",
        Duration::from_secs(20),
        || journal().lines().any(|l| l.starts_with(refused)),
    );
    assert!(ours(&tb).is_empty(), "{:?}", locks(&tb));
    release(&tb, "update");
    let show = |property: &str| {
        text(&as_alice(&tb, &["show", "-P", property, UPDATE]).stdout)
            .trim()
            .to_owned()
    };
    wait_for("the update to end", Duration::from_secs(20), || {
        show("ActiveState") != "activating"
    });
    assert_eq!(show("Result"), "success", "{}", journal());
}
