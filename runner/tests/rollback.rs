//! Rollback on a real btrfs filesystem with Debian's snapper, in the test
//! bed (issue 10, "Tests that must exist"; docs/safety.md, "Rollback").
//!
//! A btrfs filesystem made with `mkfs.btrfs` in a file is mounted through a
//! loop device at [`WEB`], inside the instance's private mount namespace
//! (the loop device is cleared when that namespace's mount goes:
//! `mount -o loop` sets autoclear); a snapper configuration `testbed`
//! covers it (snapper's `/etc/snapper` and `/etc/default/snapper` are
//! private copies inside the namespace, the host's stay as they are). A
//! test service reads its configuration from it, and a plugin "upgrades"
//! that configuration into one that makes the service fail, as a package's
//! new default configuration can. The run's pre and post snapshots, the
//! health check and the rollback must put it right again.

mod common;

use common::{boot, runner, show, text, unit_property, wait_for, wait_recorded};
use serde_json::Value;
use std::time::Duration;
use testbed::Testbed;

/// The btrfs filesystem's mount point (in the instance's private `/run`).
const WEB: &str = "/run/testbed-web";
/// The service whose configuration lives on it.
const SERVICE: &str = "testbed-web.service";
/// Its configuration, good and "upgraded".
const CONF: &str = "/run/testbed-web/web.conf";
const GOOD: &str = "listen 80";
const BROKEN: &str = "listen nonsense";
/// A service whose program lives on it, which the update replaces while
/// it runs (and the rollback puts back: it must restart).
const HELPER: &str = "testbed-helper.service";
const HELPER_EXE: &str = "/run/testbed-web/helper";
/// The snapper configuration.
const SNAPPER: &str = "testbed";

/// What a test sets up.
#[derive(Clone, Copy)]
struct Setup {
    /// A snapper configuration covers the filesystem (else the btrfs
    /// backend snapshots it).
    snapper: bool,
    /// The plugin's manifest says `supports_rollback: true`.
    own_rollback: bool,
}

/// snapper, and a plugin without a rollback of its own.
const SNAPPER_ONLY: Setup = Setup {
    snapper: true,
    own_rollback: false,
};

/// Where the plugin notes each estimate it makes.
const ESTIMATES: &str = "/run/testbed-estimates";

/// Where the plugin's rollback leaves a copy of its rollback file.
const SEEN: &str = "/run/testbed-rollback-file";

/// Makes the btrfs filesystem (with its snapper configuration), the good
/// configuration on it, the plugin, and starts the service; false (the
/// test is skipped, which fails under `CI=true`) when btrfs or a loop
/// device cannot be used here.
fn prepare(tb: &Testbed, setup: Setup) -> bool {
    let snapper = if setup.snapper {
        format!(
            r#"# snapper's configuration, private to the instance.
mkdir -p /run/testbed-snapper
mount -t tmpfs tmpfs /etc/snapper
mkdir -p /etc/snapper/configs
printf 'SNAPPER_CONFIGS=""\n' > /run/testbed-snapper/default
mount --bind /run/testbed-snapper/default /etc/default/snapper
# Its log too (when the host has one to cover).
touch /run/testbed-snapper/snapper.log
[ ! -f /var/log/snapper.log ] || mount --bind /run/testbed-snapper/snapper.log /var/log/snapper.log
snapper --no-dbus -c {SNAPPER} create-config {WEB}
# snapperd (started at boot) reads the configurations when it starts.
systemctl try-restart snapperd.service
"#
        )
    } else {
        String::new()
    };
    let script = format!(
        r#"set -e
# Loop devices: the instance's /dev has none; nodes for the host's.
[ -e /dev/loop-control ] || mknod -m 660 /dev/loop-control c 10 237
for i in $(seq 0 255); do [ -e /dev/loop$i ] || mknod -m 660 /dev/loop$i b 7 $i; done
truncate -s 256M /var/tmp/testbed-web.img
mkfs.btrfs -q /var/tmp/testbed-web.img
mkdir -p {WEB}
mount -o loop /var/tmp/testbed-web.img {WEB}
{snapper}echo '{GOOD}' > {CONF}
printf '#!/bin/sh\nexec sleep infinity\n' > {HELPER_EXE}
chmod 755 {HELPER_EXE}
"#
    );
    let out = tb.sh(&script);
    if !out.status.success() {
        testbed::skip(format!(
            "cannot make the btrfs filesystem with snapper: {}",
            show(&out)
        ));
        return false;
    }
    tb.write(
        format!("/run/systemd/system/{SERVICE}"),
        format!(
            "[Service]\nExecStart=/bin/sh -c 'grep -qx \"{GOOD}\" {CONF} && exec sleep infinity'\n"
        ),
        0o644,
    );
    // The plugin: its update installs the new configuration and restarts
    // the service, as a package's maintainer script would; its rollback
    // (used when the manifest says so) puts the old one back.
    tb.add_plugin(
        "webpkg",
        // A plugin that rolls back also names what it writes: its
        // condition's estimate is the one recorded (no second one).
        &if setup.own_rollback {
            format!("scope: system\nsupports_rollback: true\nwrites: [{WEB}]")
        } else {
            "scope: system".to_owned()
        },
        &format!(
            "#!/bin/sh\ncase \"$1\" in\n\
             estimate-update) echo estimated >> {ESTIMATES}; {} ;;\n\
             update) echo '{BROKEN}' > {CONF}; systemctl restart {SERVICE} || true\n\
             \tprintf '#!/bin/sh\\n# 2.0\\nexec sleep infinity\\n' > {HELPER_EXE} ;;\n\
             rollback) cp \"$UPDATE_ALL_ROLLBACK_FILE\" {SEEN}; echo '{GOOD}' > {CONF}\n\
             \tsystemctl restart {SERVICE}; {} ;;\n\
             esac\nexit 0\n",
            answer(r#"{"packages_to_update":[{"name":"web","current_version":"1.0","new_version":"2.0"}]}"#),
            answer(r#"{"rolled_back":[{"name":"web","version":"1.0"}],"failed":[]}"#),
        ),
    );
    tb.daemon_reload();
    tb.write(
        format!("/run/systemd/system/{HELPER}"),
        format!("[Service]\nExecStart={HELPER_EXE}\n"),
        0o644,
    );
    tb.daemon_reload();
    tb.check(&["systemctl", "start", SERVICE, HELPER]);
    assert_eq!(unit_property(tb, SERVICE, "ActiveState"), "active");
    true
}

/// Shell that prints a successful answer with `data` (JSON).
fn answer(data: &str) -> String {
    format!(r#"printf '%s\n' '{{"status":"success","data":{data},"error":null,"progress":null}}'"#)
}

/// `safety:` for the test: snapshots of [`WEB`], one round of checks.
fn safety(tb: &Testbed, rollback: &str) {
    tb.write(
        "/run/update-all/config.d/50-safety.yaml",
        format!(
            "safety:\n  snapshot: auto\n  paths: [{WEB}]\n  health:\n    settle: 0s\n  rollback: {rollback}\n"
        ),
        0o644,
    );
    tb.daemon_reload();
}

fn json(tb: &Testbed, args: &[&str]) -> Value {
    let out = runner(tb, args);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", show(&out)))
}

/// The run's rollbacks, as `history --json` lists them.
fn rollbacks(tb: &Testbed) -> Vec<Value> {
    json(tb, &["history", "--json"])["rollbacks"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Starts the run and waits for it, and for the rollback unit to be done.
fn run(tb: &Testbed) -> i64 {
    tb.check(&["systemctl", "start", "update-all.target"]);
    wait_recorded(tb);
    wait_for("the rollback unit", Duration::from_secs(60), || {
        unit_property(tb, "update-all-rollback.service", "ActiveState") != "activating"
            && !rollbacks(tb).is_empty()
    });
    let history = json(tb, &["history", "--json"]);
    history["records"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["plugin"] == "webpkg"))
        .and_then(|r| r["run_id"].as_i64())
        .unwrap_or_else(|| panic!("no run of webpkg: {history:#}"))
}

/// What the safety units said, for a failure's message.
fn journals(tb: &Testbed) -> String {
    [
        "update-all-snapshot-pre.service",
        "update-all-snapshot-post.service",
        "update-all-health.service",
        "update-all-rollback.service",
        "update-all-webpkg.service",
        "update-all-recorder.service",
    ]
    .iter()
    .map(|u| format!("--- {u}\n{}", tb.journal(u)))
    .collect()
}

/// The body of the notification titled `summary` that alice's desktop
/// received, once it has.
fn told(tb: &Testbed, summary: &str) -> String {
    let find = || -> Option<Value> {
        tb.notifications("alice")
            .iter()
            .filter_map(|n| serde_json::from_str::<Value>(n).ok())
            .find(|n| n["summary"] == summary)
    };
    wait_for(summary, Duration::from_secs(15), || find().is_some());
    find().unwrap()["body"].as_str().unwrap().to_owned()
}

fn conf(tb: &Testbed) -> String {
    tb.check(&["cat", CONF]).trim().to_owned()
}

#[test]
fn a_service_broken_by_an_update_is_rolled_back_by_undochange() {
    let Some(tb) = boot() else { return };
    if !prepare(&tb, SNAPPER_ONLY) {
        return;
    }
    // A desktop user, told of the rollback.
    tb.add_user("alice", 4001);
    tb.login("alice", "user", "wayland");
    tb.start_notification_server("alice");
    safety(&tb, "auto");
    let run = run(&tb);

    // The pair, with the run's userdata.
    let run_text = run.to_string();
    let listed: Value = serde_json::from_str(&tb.check(&[
        "snapper",
        "--no-dbus",
        "--jsonout",
        "-c",
        SNAPPER,
        "list",
    ]))
    .unwrap();
    let ours: Vec<&Value> = listed[SNAPPER]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["userdata"]["update-all-run"].as_str() == Some(run_text.as_str()))
        .collect();
    let types: Vec<&str> = ours.iter().filter_map(|s| s["type"].as_str()).collect();
    assert_eq!(types, ["pre", "post"], "{listed:#}\n{}", journals(&tb));

    // The health check named the service.
    let health = tb.journal("update-all-health.service");
    assert!(health.contains(SERVICE), "{health}");

    // Undone, restarted, recorded.
    assert_eq!(conf(&tb), GOOD);
    wait_for(
        "the service to be active again",
        Duration::from_secs(20),
        || unit_property(&tb, SERVICE, "ActiveState") == "active",
    );
    let done = rollbacks(&tb);
    assert_eq!(done.len(), 1, "{done:#?}");
    let step = &done[0];
    assert_eq!(step["step"], "undochange", "{step:#}");
    assert_eq!(step["result"], "ok", "{step:#}");
    assert_eq!(step["automatic"], true);
    assert!(step["why"].as_str().unwrap().contains(SERVICE), "{step:#}");
    println!(
        "rollback (snapper undochange + restart): {} ms",
        step["duration_us"].as_i64().unwrap() / 1000
    );
    let history = text(&runner(&tb, &["history"]).stdout);
    assert!(
        history.contains(&format!("Run {run} rolled back (undochange, automatic")),
        "{history}"
    );
    // "Rolled back", naming the failed check.
    let body = told(&tb, "Updates rolled back");
    assert!(body.contains(SERVICE), "{body}");

    // A second automatic rollback of the run is refused (and changes
    // nothing).
    tb.check(&["sh", "-c", &format!("echo '{BROKEN}' > {CONF}")]);
    let _ = tb.systemctl(&["start", "update-all-rollback.service"]);
    let done = rollbacks(&tb);
    assert_eq!(done.len(), 2, "{done:#?}");
    assert_eq!(done[1]["result"], "refused", "{done:#?}");
    assert!(
        done[1]["what"]
            .as_str()
            .unwrap()
            .contains("automatically already"),
        "{done:#?}"
    );
    assert_eq!(conf(&tb), BROKEN);
}

#[test]
fn manual_only_records_and_a_dry_run_changes_nothing() {
    let Some(tb) = boot() else { return };
    if !prepare(&tb, SNAPPER_ONLY) {
        return;
    }
    tb.add_user("alice", 4001);
    tb.login("alice", "user", "wayland");
    tb.start_notification_server("alice");
    safety(&tb, "manual");
    let run = run(&tb);
    // Told what to run.
    let body = told(&tb, "Rollback needed");
    assert!(
        body.contains(&format!("rollback needed: run update-all rollback {run}")),
        "{body}"
    );
    let done = rollbacks(&tb);
    assert_eq!(done.len(), 1, "{done:#?}");
    assert_eq!(done[0]["result"], "refused");
    let needed = format!("rollback needed: run update-all rollback {run}");
    assert!(
        done[0]["what"].as_str().unwrap().contains(&needed),
        "{done:#?}"
    );
    // Doing what the configuration says is no failure of the unit's.
    assert_eq!(
        unit_property(&tb, "update-all-rollback.service", "Result"),
        "success"
    );
    assert_eq!(conf(&tb), BROKEN);
    assert_eq!(unit_property(&tb, SERVICE, "ActiveState"), "failed");

    // What docs/safety.md's worked example shows.
    println!(
        "$ journalctl -u update-all-health\n{}",
        tb.check(&[
            "journalctl",
            "-u",
            "update-all-health",
            "--no-pager",
            "-o",
            "cat"
        ])
    );
    println!(
        "$ update-all snapshots\n{}",
        text(&runner(&tb, &["snapshots"]).stdout)
    );
    // The dry run shows the ladder and changes nothing.
    let out = runner(&tb, &["rollback", "--dry-run", &run.to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let said = text(&out.stdout);
    println!("{said}");
    assert!(said.contains("1. undochange: snapper undochange"), "{said}");
    let shown = json(&tb, &["rollback", "--dry-run", "--json", &run.to_string()]);
    assert_eq!(shown["dry_run"], true, "{shown:#}");
    assert_eq!(shown["steps"][0]["step"], "undochange", "{shown:#}");
    assert_eq!(shown["steps"][0]["result"], "dry-run", "{shown:#}");
    assert!(said.contains(SERVICE), "{said}");
    assert_eq!(conf(&tb), BROKEN);
    assert_eq!(unit_property(&tb, SERVICE, "ActiveState"), "failed");

    // By hand, it is done.
    let out = runner(&tb, &["rollback", &run.to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    println!("$ update-all rollback {run}\n{}", text(&out.stdout));
    let done = rollbacks(&tb);
    let step = done.last().unwrap();
    assert_eq!(step["result"], "ok", "{done:#?}");
    assert_eq!(conf(&tb), GOOD);
    wait_for(
        "the service to be active again",
        Duration::from_secs(20),
        || unit_property(&tb, SERVICE, "ActiveState") == "active",
    );
    println!(
        "rollback by hand (snapper undochange + restart): {} ms",
        step["duration_us"].as_i64().unwrap() / 1000
    );
    let history = text(&runner(&tb, &["history"]).stdout);
    assert!(
        history.contains(&format!("Run {run} rolled back (undochange, by hand")),
        "{history}"
    );
    println!("$ update-all history\n{history}");
}

#[test]
fn the_btrfs_backend_puts_back_the_files_the_run_changed() {
    let Some(tb) = boot() else { return };
    let setup = Setup {
        snapper: false,
        own_rollback: false,
    };
    if !prepare(&tb, setup) {
        return;
    }
    tb.check(&["sh", "-c", &format!("echo kept > {WEB}/outside")]);
    let helper = unit_property(&tb, HELPER, "InvocationID");
    safety(&tb, "auto");
    let run = run(&tb);
    let done = rollbacks(&tb);
    assert_eq!(done.len(), 1, "{done:#?}\n{}", journals(&tb));
    assert_eq!(done[0]["step"], "undochange", "{done:#?}");
    assert_eq!(done[0]["result"], "ok", "{done:#?}");
    let what = done[0]["what"].as_str().unwrap();
    assert!(
        what.contains(&format!("{WEB}/.update-all-snapshots/{run}-pre")),
        "{what}"
    );
    assert_eq!(conf(&tb), GOOD);
    assert_eq!(tb.check(&["cat", &format!("{WEB}/outside")]).trim(), "kept");
    // The helper ran the replaced program: restarted with the old one.
    assert!(what.contains(HELPER), "{what}");
    assert_ne!(unit_property(&tb, HELPER, "InvocationID"), helper);
    assert_eq!(unit_property(&tb, HELPER, "ActiveState"), "active");
    assert!(!tb.check(&["cat", HELPER_EXE]).contains("2.0"));
    wait_for(
        "the service to be active again",
        Duration::from_secs(20),
        || unit_property(&tb, SERVICE, "ActiveState") == "active",
    );
    println!(
        "rollback (btrfs restore + restart): {} ms",
        done[0]["duration_us"].as_i64().unwrap() / 1000
    );
}

#[test]
fn a_plugin_that_can_roll_back_does_so_before_any_snapshot_is_touched() {
    let Some(tb) = boot() else { return };
    let setup = Setup {
        snapper: true,
        own_rollback: true,
    };
    if !prepare(&tb, setup) {
        return;
    }
    safety(&tb, "auto");
    run(&tb);
    let done = rollbacks(&tb);
    assert_eq!(done.len(), 1, "{done:#?}\n{}", journals(&tb));
    assert_eq!(done[0]["step"], "plugin", "{done:#?}");
    assert_eq!(done[0]["result"], "ok", "{done:#?}");
    assert!(
        done[0]["what"].as_str().unwrap().contains("web 2.0 → 1.0"),
        "{done:#?}"
    );
    // The estimate the condition made and recorded, handed back line by
    // line: one estimate for the run.
    assert_eq!(tb.check(&["cat", SEEN]), "web\t1.0\t2.0\n");
    assert_eq!(tb.check(&["cat", ESTIMATES]), "estimated\n");
    assert_eq!(conf(&tb), GOOD);
    wait_for(
        "the service to be active again",
        Duration::from_secs(20),
        || unit_property(&tb, SERVICE, "ActiveState") == "active",
    );
}

/// A user's rollback unit rolls the user's run back through the user's
/// plugins' own rollback (snapshots are the system's). bob's own user
/// manager, with its statistics under its runtime directory; bob, not
/// root, since plugin-exec takes root's processes for the system's.
#[test]
fn a_users_run_is_rolled_back_by_the_users_plugin() {
    let Some(tb) = boot() else { return };
    safety(&tb, "auto");
    tb.install_update_all_for_users(&testbed::target_binary("update-all-generator"));
    tb.add_user("bob", 4002);
    let seen = "/tmp/testbed-rollback-file";
    tb.write(
        "/run/systemd/user/testbed-mine.service",
        "[Service]\nExecStart=/bin/sleep infinity\n",
        0o644,
    );
    // plugin-exec records the estimate where the user's recorder keeps
    // its statistics (the test bed moves those for update-all's own units).
    tb.write(
        "/run/systemd/user/update-all-mine.service.d/50-testbed.conf",
        "[Service]\nEnvironment=XDG_STATE_HOME=%t/state\n",
        0o644,
    );
    // Its update stops the service its health entry wants active; its
    // rollback starts it again.
    tb.add_plugin(
        "mine",
        "scope: user\nsupports_rollback: true\nhealth:\n  units: [testbed-mine.service]",
        &format!(
            "#!/bin/sh\ncase \"$1\" in\n\
             estimate-update) {} ;;\n\
             update) systemctl --user stop testbed-mine.service ;;\n\
             rollback) cp \"$UPDATE_ALL_ROLLBACK_FILE\" {seen}\n\
             \tsystemctl --user start testbed-mine.service; {} ;;\n\
             esac\nexit 0\n",
            answer(r#"{"packages_to_update":[{"name":"mine-tool","current_version":"1.0","new_version":"2.0"}]}"#),
            answer(r#"{"rolled_back":[{"name":"mine-tool","version":"1.0"}],"failed":[]}"#),
        ),
    );
    tb.user_manager(4002);
    let as_bob = |args: &[&str]| {
        let mut all = vec![
            "runuser",
            "-u",
            "bob",
            "--",
            "env",
            "XDG_RUNTIME_DIR=/run/user/4002",
            "XDG_STATE_HOME=/run/user/4002/state",
        ];
        all.extend_from_slice(args);
        tb.exec(&all)
    };
    let out = as_bob(&[
        "systemctl",
        "--user",
        "start",
        "testbed-mine.service",
        "update-all.target",
    ]);
    assert!(out.status.success(), "{}", show(&out));
    let rollbacks = || -> Vec<Value> {
        serde_json::from_slice::<Value>(
            &as_bob(&[testbed::RUNNER, "--user", "history", "--json"]).stdout,
        )
        .ok()
        .and_then(|v| v["rollbacks"].as_array().cloned())
        .unwrap_or_default()
    };
    wait_for("bob's rollback", Duration::from_secs(60), || {
        !rollbacks().is_empty()
    });
    let done = rollbacks();
    let journal =
        || {
            show(&tb.sh(
                "journalctl --no-pager -o short | grep -i 'mine\\|estimate\\|rollback' | tail -40",
            ))
        };
    assert_eq!(done.len(), 1, "{done:#?}\n{}", journal());
    assert_eq!(done[0]["step"], "plugin", "{done:#?}\n{}", journal());
    assert_eq!(done[0]["result"], "ok", "{done:#?}\n{}", journal());
    assert!(
        done[0]["why"]
            .as_str()
            .unwrap()
            .contains("testbed-mine.service"),
        "{done:#?}"
    );
    assert_eq!(tb.check(&["cat", seen]), "mine-tool\t1.0\t2.0\n");
    wait_for("bob's service", Duration::from_secs(20), || {
        text(&as_bob(&["systemctl", "--user", "is-active", "testbed-mine.service"]).stdout).trim()
            == "active"
    });
}
