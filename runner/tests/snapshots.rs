//! Snapshots around a run on a real btrfs filesystem and Debian's snapper
//! (docs/safety.md, "Snapshots"), in the namespace test bed: the
//! filesystem is made in a file and mounted inside the instance only,
//! snapper's configuration is the instance's own (`testbed::Btrfs`,
//! `Testbed::private_snapper`).
//!
//! - snapper: a run makes a pre/post pair with the run's id in its
//!   userdata, around the update (the pre has the file as it was, the
//!   post the update's); `update-all snapshots --json` lists it;
//! - plain btrfs: read-only snapshots named after the run;
//! - a pre snapshot that fails (snapper's `.snapshots` made read-only):
//!   fail open, the update runs and the run warns; fail closed, no update
//!   unit starts and the run says why;
//! - no backend (a tmpfs): the run works and says once that only
//!   per-plugin rollback is available.
//!
//! Without btrfs, a loop device or snapper, the tests say why and skip
//! (a failure under CI=true).

mod common;

use common::{boot, runner, show, text, unit_property, wait_recorded};
use serde_json::Value;
use testbed::{Btrfs, Testbed};

/// Where the test's btrfs filesystem is mounted inside the instance.
const MOUNT: &str = "/run/testbed-btrfs";
/// The snapper configuration the tests create for it.
const CONFIG: &str = "testroot";
/// The file the plugin's update changes.
const FILE: &str = "/run/testbed-btrfs/etc.conf";

/// A plugin whose update writes "new" into [`FILE`].
const UPDATER: &str = "#!/bin/sh\n\
    [ \"$1\" = is-applicable ] && exit 0\n\
    [ \"$1\" = update ] && echo new > /run/testbed-btrfs/etc.conf\n\
    exit 0\n";

/// The reason to skip, when btrfs or snapper cannot be used here.
fn unavailable(snapper: bool) -> Option<String> {
    if let Some(why) = testbed::btrfs_unavailable() {
        return Some(why);
    }
    if snapper && !testbed::missing_tools(&["snapper"]).is_empty() {
        return Some("snapper is not installed (tests/testbed/REQUIREMENTS.apt)".into());
    }
    None
}

/// An instance with a btrfs filesystem at [`MOUNT`] holding [`FILE`]
/// ("old"), its own snapper setup, the plugin, and `safety` (under
/// `safety:`) in effect; `None` when the test is skipped.
fn setup(snapper: bool, safety: &str) -> Option<(Testbed, Btrfs)> {
    if let Some(why) = unavailable(snapper) {
        testbed::skip(why);
        return None;
    }
    let tb = boot()?;
    let fs = match tb.mount_btrfs(MOUNT, 256) {
        Ok(fs) => fs,
        Err(why) => {
            testbed::skip(format!("no btrfs filesystem: {why}"));
            return None;
        }
    };
    tb.private_snapper();
    tb.check(&["sh", "-c", &format!("echo old > {FILE}")]);
    if snapper {
        tb.snapper_config(CONFIG, MOUNT);
    }
    // Snapshots on (the test bed turns them off), no health check (and
    // its settle): this is about snapshots.
    tb.write(
        "/run/update-all/config.d/50-safety.yaml",
        format!("safety:\n  snapshot: auto\n  rollback: off\n{safety}"),
        0o644,
    );
    tb.add_plugin("alpha", "scope: system", UPDATER);
    tb.daemon_reload();
    Some((tb, fs))
}

/// `update-all run` to its end; its output (stdout and stderr).
fn run(tb: &Testbed) -> String {
    let out = runner(tb, &["run"]);
    wait_recorded(tb);
    format!("{}{}", text(&out.stdout), text(&out.stderr))
}

fn json(tb: &Testbed, args: &[&str]) -> Value {
    let out = runner(tb, args);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", show(&out)))
}

/// The runs of `update-all snapshots --json`.
fn snapshot_runs(tb: &Testbed) -> Vec<Value> {
    json(tb, &["snapshots", "--json"])["runs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The snapshot units' state and journal, for a failure's message.
fn explain(tb: &Testbed) -> String {
    let mut said = String::new();
    for unit in [
        "update-all-snapshot-pre.service",
        "update-all-snapshot-post.service",
    ] {
        let status = tb.systemctl(&["status", "--no-pager", "-n", "30", unit]);
        said.push_str(&format!("--- {unit}\n{}\n", text(&status.stdout)));
    }
    said
}

fn read(tb: &Testbed, path: &str) -> String {
    text(&tb.exec(&["cat", path]).stdout).trim().to_owned()
}

/// Prints the time each snapshot took (the figures of docs/safety.md):
/// the backend's command as recorded, and the whole unit from its
/// condition's start to its end (process starts, configuration,
/// detection, records), from systemd's timestamps.
fn print_times(tb: &Testbed, kind: &str, snapshots: &[Value]) {
    for s in snapshots {
        eprintln!(
            "FIGURE {kind} {} snapshot: {:.3} s",
            s["phase"].as_str().unwrap_or("?"),
            s["duration_s"].as_f64().unwrap_or(f64::NAN)
        );
    }
    for unit in [
        "update-all-snapshot-pre.service",
        "update-all-snapshot-post.service",
    ] {
        let us = |name: &str| unit_property(tb, unit, name).parse::<i64>().unwrap_or(0);
        let took = us("ActiveEnterTimestampMonotonic") - us("InactiveExitTimestampMonotonic");
        eprintln!("FIGURE {kind} {unit}: {:.3} s", took as f64 / 1e6);
    }
}

#[test]
fn snapper_takes_a_pre_post_pair_with_the_runs_userdata_around_the_update() {
    let Some((tb, _fs)) = setup(true, &format!("  paths: [{MOUNT}]\n")) else {
        return;
    };
    let said = run(&tb);
    assert_eq!(read(&tb, FILE), "new", "the update ran: {said}");

    let runs = snapshot_runs(&tb);
    assert_eq!(runs.len(), 1, "{runs:#?}\n{said}\n{}", explain(&tb));
    let run_id = runs[0]["run_id"].as_i64().unwrap();
    let snaps = runs[0]["snapshots"].as_array().unwrap();
    let phases: Vec<&str> = snaps.iter().map(|s| s["phase"].as_str().unwrap()).collect();
    assert_eq!(phases, ["pre", "post"], "{runs:#?}");
    for s in snaps {
        assert_eq!(s["backend"], "snapper", "{}", explain(&tb));
        assert_eq!(s["config_or_path"], CONFIG);
        assert_eq!(s["error"], Value::Null, "{s:#}");
    }
    print_times(&tb, "snapper", snaps);
    let number = |i: usize| snaps[i]["number_or_name"].as_str().unwrap().to_owned();
    let (pre, post) = (number(0), number(1));

    // snapper has the pair, found again by the run's userdata.
    let listed = tb.check(&["snapper", "--jsonout", "-c", CONFIG, "list"]);
    let listed: Value = serde_json::from_str(&listed).unwrap();
    let listed = listed[CONFIG].as_array().unwrap();
    let ours: Vec<&Value> = listed
        .iter()
        .filter(|s| s["userdata"]["update-all-run"].as_str() == Some(&run_id.to_string()))
        .collect();
    assert_eq!(ours.len(), 2, "{listed:#?}");
    assert_eq!(ours[0]["type"], "pre");
    assert_eq!(ours[0]["number"].to_string(), pre);
    assert_eq!(ours[0]["cleanup"], "number");
    assert_eq!(ours[0]["description"], format!("update-all run {run_id}"));
    assert_eq!(ours[1]["type"], "post");
    assert_eq!(ours[1]["number"].to_string(), post);
    assert_eq!(ours[1]["pre-number"].to_string(), pre);

    // Around the update: the pre has the old file, the post the new one.
    let in_snapshot = |n: &str| read(&tb, &format!("{MOUNT}/.snapshots/{n}/snapshot/etc.conf"));
    assert_eq!(in_snapshot(&pre), "old");
    assert_eq!(in_snapshot(&post), "new");

    let journal = tb.journal("update-all-snapshot-pre.service");
    assert!(
        journal.contains(&format!("run {run_id}: snapshot before the updates")),
        "{journal}"
    );
    let table = text(&runner(&tb, &["snapshots"]).stdout);
    assert!(
        table.contains("snapper") && table.contains(CONFIG),
        "{table}"
    );
    // The transcript of docs/safety.md's example.
    let units = ["update-all-snapshot-pre", "update-all-snapshot-post"];
    let log = tb.check(&["journalctl", "--no-pager", "-u", units[0], "-u", units[1]]);
    eprintln!(
        "$ update-all snapshots\n{table}\n$ journalctl -u {} -u {}\n{log}",
        units[0], units[1]
    );
}

#[test]
fn plain_btrfs_snapshots_are_read_only_and_named_after_the_run() {
    let Some((tb, _fs)) = setup(false, &format!("  paths: [{MOUNT}]\n")) else {
        return;
    };
    run(&tb);
    let runs = snapshot_runs(&tb);
    assert_eq!(runs.len(), 1, "{runs:#?}");
    let run_id = runs[0]["run_id"].as_i64().unwrap();
    let snaps = runs[0]["snapshots"].as_array().unwrap();
    print_times(&tb, "btrfs", snaps);
    for (s, phase) in snaps.iter().zip(["pre", "post"]) {
        let path = format!("{MOUNT}/.update-all-snapshots/{run_id}-{phase}");
        assert_eq!(s["backend"], "btrfs", "{s:#}");
        assert_eq!(s["number_or_name"], path.as_str());
        let ro = tb.check(&["btrfs", "property", "get", "-ts", &path, "ro"]);
        assert_eq!(ro.trim(), "ro=true", "{path}");
    }
    assert_eq!(snaps.len(), 2, "{runs:#?}");
    assert_eq!(
        read(
            &tb,
            &format!("{}/etc.conf", snaps[0]["number_or_name"].as_str().unwrap())
        ),
        "old"
    );
}

/// Makes snapper's `.snapshots` read-only: every snapshot of the
/// configuration fails ("Read-only file system").
fn break_snapper(tb: &Testbed) {
    tb.check(&[
        "btrfs",
        "property",
        "set",
        "-ts",
        &format!("{MOUNT}/.snapshots"),
        "ro",
        "true",
    ]);
}

#[test]
fn a_failed_pre_snapshot_fails_open_the_updates_run_and_the_run_warns() {
    let Some((tb, _fs)) = setup(true, &format!("  paths: [{MOUNT}]\n")) else {
        return;
    };
    break_snapper(&tb);
    let said = run(&tb);
    assert_eq!(read(&tb, FILE), "new", "the update ran: {said}");
    assert_eq!(
        unit_property(&tb, "update-all-snapshot-pre.service", "Result"),
        "exit-code"
    );
    assert!(
        said.contains("The snapshot before the updates failed (snapper configuration 'testroot')")
            && said.contains("The updates ran without it."),
        "{said}"
    );
    let journal = tb.journal("update-all-snapshot-pre.service");
    assert!(
        journal.contains("The updates go on without it (safety.snapshot_failure: continue)"),
        "{journal}"
    );
    let status = text(&runner(&tb, &["status"]).stdout);
    assert!(
        status.contains("Warning: The snapshot before the updates failed"),
        "{status}"
    );
    let runs = snapshot_runs(&tb);
    let pre = &runs[0]["snapshots"][0];
    assert!(
        pre["error"]
            .as_str()
            .is_some_and(|e| e.contains("Read-only")),
        "{runs:#?}"
    );
}

#[test]
fn a_failed_pre_snapshot_fails_closed_no_update_starts_and_the_run_says_why() {
    let Some((tb, _fs)) = setup(
        true,
        &format!("  paths: [{MOUNT}]\n  snapshot_failure: stop\n"),
    ) else {
        return;
    };
    break_snapper(&tb);
    let said = run(&tb);
    assert_eq!(read(&tb, FILE), "old", "no update ran: {said}");
    assert_eq!(
        unit_property(
            &tb,
            "update-all-alpha.service",
            "ExecMainStartTimestampMonotonic"
        ),
        "0",
        "the update unit never started: {said}"
    );
    assert!(
        said.contains("No update started (safety.snapshot_failure: stop)."),
        "{said}"
    );
    let journal = tb.journal("update-all-snapshot-pre.service");
    assert!(
        journal.contains("No update starts (safety.snapshot_failure: stop)"),
        "{journal}"
    );
}

#[test]
fn without_a_backend_the_run_works_and_says_once_only_per_plugin_rollback() {
    // /run is a tmpfs: neither snapper nor btrfs.
    let Some((tb, _fs)) = setup(false, "  paths: [/run]\n") else {
        return;
    };
    let said = run(&tb);
    assert_eq!(read(&tb, FILE), "new", "the update ran: {said}");
    const ONCE: &str = "only per-plugin rollback is available";
    assert_eq!(said.matches(ONCE).count(), 1, "{said}");
    assert_ne!(
        unit_property(&tb, "update-all-snapshot-pre.service", "Result"),
        "exit-code",
        "skipped by its condition, not failed"
    );
    // Everything logged before now (journald reads in its own time).
    tb.sync_journal();
    let logged = tb.check(&["journalctl", "-t", "update-all", "--no-pager", "-o", "cat"]);
    assert_eq!(logged.matches(ONCE).count(), 1, "{logged}");
    let status = text(&runner(&tb, &["status"]).stdout);
    assert_eq!(status.matches(ONCE).count(), 1, "{status}");
    let runs = snapshot_runs(&tb);
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(runs[0]["no_backend"], true);
    assert_eq!(runs[0]["snapshots"].as_array().map(Vec::len), Some(0));
}

/// A plugin that can roll back and whose estimate updates the C library.
const LIBC: &str = r#"#!/bin/sh
case "$1" in
is-applicable) exit 0 ;;
estimate-update) echo '{"status": "success", "error": null, "progress": null, "data": {"applicable": true, "packages_to_update": [{"name": "libc6", "current_version": "2.36-9", "new_version": "2.36-10", "download_size_bytes": 1, "installed_size_bytes": null}], "total_download_size_bytes": 1, "total_installed_size_bytes": null, "estimated_time_seconds": 1, "affects_runtimes": [], "affects_applications": [], "requires_reboot": false, "security_updates": false}}' ;;
update) exit 0 ;;
*) exit 2 ;;
esac
"#;

#[test]
fn an_update_of_the_c_library_marks_the_snapper_pair_important() {
    let Some((tb, _fs)) = setup(true, &format!("  paths: [{MOUNT}]\n")) else {
        return;
    };
    tb.add_plugin("libc", "scope: system\nsupports_rollback: true", LIBC);
    tb.daemon_reload();
    let said = run(&tb);
    let listed = tb.check(&["snapper", "--jsonout", "-c", CONFIG, "list"]);
    let listed: Value = serde_json::from_str(&listed).unwrap();
    let pair: Vec<&Value> = listed[CONFIG]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["type"] == "pre" || s["type"] == "post")
        .collect();
    assert_eq!(pair.len(), 2, "{listed:#}\n{said}");
    for s in pair {
        assert_eq!(
            s["userdata"]["important"],
            "yes",
            "{listed:#}\n{}",
            explain(&tb)
        );
    }
    let journal = tb.journal("update-all-snapshot-post.service");
    assert!(
        journal.contains("marked important (libc6 is updated)"),
        "{journal}"
    );
}
