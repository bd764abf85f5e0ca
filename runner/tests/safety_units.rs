//! The safety units on a real systemd 252 (the namespace test bed): where
//! the generator puts them among the plugin units, as systemd has them
//! loaded, and how a run shows and records them. The snapshot backends,
//! the checks and the rollback have their own tests (snapshots.rs,
//! health.rs, rollback.rs); here no snapshot backend applies (the test
//! bed's root is no btrfs), so the snapshot units are skipped.

mod common;

use common::{last_state, runner, show, text, unit_property, wait_recorded};
use serde_json::Value;
use testbed::Testbed;

const PRE: &str = "update-all-snapshot-pre.service";
const POST: &str = "update-all-snapshot-post.service";
const HEALTH: &str = "update-all-health.service";
const BOOT_CHECK: &str = "update-all-boot-check.service";

/// A plugin script: applicable, and quick about its phase.
fn script() -> String {
    "#!/bin/sh\n[ \"$1\" = is-applicable ] && exit 0\nsleep 0.2\n".to_owned()
}

/// The test bed with the safety units on (the test bed turns them off for
/// every other test), no settle time, and two plugins: `alpha` with a
/// download unit, `beta` an update unit only.
fn boot() -> Option<Testbed> {
    let tb = common::boot()?;
    tb.write(
        "/run/update-all/config.d/50-safety.yaml",
        "safety:\n  snapshot: auto\n  rollback: auto\n  health:\n    settle: 0\n",
        0o644,
    );
    tb.add_plugin(
        "alpha",
        "scope: system\ncan_separate_download: true",
        &script(),
    );
    tb.add_plugin("beta", "scope: system", &script());
    tb.daemon_reload();
    Some(tb)
}

/// A list property of `unit` as systemd has it, one name per entry.
fn names(tb: &Testbed, unit: &str, property: &str) -> Vec<String> {
    unit_property(tb, unit, property)
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

fn has(list: &[String], name: &str) -> bool {
    list.iter().any(|n| n == name)
}

#[test]
fn systemd_orders_the_updates_between_the_snapshots_and_the_health_check_last() {
    let Some(tb) = boot() else { return };
    // The update units wait for the pre snapshot, and want it (fail open);
    // the download unit does not wait for it.
    for unit in ["update-all-alpha.service", "update-all-beta.service"] {
        let after = names(&tb, unit, "After");
        assert!(has(&after, PRE), "{unit} After={after:?}");
        assert!(has(&names(&tb, unit, "Wants"), PRE), "{unit}");
        assert!(!has(&names(&tb, unit, "Requires"), PRE), "{unit}");
        let env = unit_property(&tb, unit, "Environment");
        assert!(
            env.contains("SNAP_PAC_SKIP=y") && env.contains("SKIP_AUTOSNAP=1"),
            "{unit}: {env}"
        );
    }
    let download = "update-all-alpha-download.service";
    assert!(!has(&names(&tb, download, "After"), PRE), "{download}");
    assert!(!has(&names(&tb, download, "Wants"), PRE), "{download}");
    // The post snapshot and the health check come after every update.
    for unit in [POST, HEALTH] {
        let after = names(&tb, unit, "After");
        for update in ["update-all-alpha.service", "update-all-beta.service"] {
            assert!(has(&after, update), "{unit} After={after:?}");
        }
    }
    assert!(has(&names(&tb, HEALTH, "After"), POST));
    assert!(has(
        &names(&tb, HEALTH, "OnFailure"),
        "update-all-rollback.service"
    ));
    let wants = names(&tb, "update-all.target", "Wants");
    for unit in [PRE, POST, HEALTH] {
        assert!(has(&wants, unit), "update-all.target Wants={wants:?}");
    }
    // The boot check: before boot-complete.target, and systemd-analyze
    // verify finds nothing wrong with it (nor with the other safety units).
    assert!(has(
        &names(&tb, BOOT_CHECK, "Before"),
        "boot-complete.target"
    ));
    assert!(has(
        &names(&tb, BOOT_CHECK, "OnFailure"),
        "update-all-rollback.service"
    ));
    let verify = tb.exec(&[
        "systemd-analyze",
        "verify",
        "--man=no",
        PRE,
        POST,
        HEALTH,
        "update-all-rollback.service",
        BOOT_CHECK,
    ]);
    let said = format!("{}{}", text(&verify.stdout), text(&verify.stderr));
    assert!(
        verify.status.success() && !said.contains("update-all-"),
        "systemd-analyze verify: {said}"
    );
    // With snapshot_failure: stop the updates require the pre snapshot.
    tb.write(
        "/run/update-all/config.d/60-stop.yaml",
        "safety:\n  snapshot_failure: stop\n",
        0o644,
    );
    tb.daemon_reload();
    let requires = names(&tb, "update-all-beta.service", "Requires");
    assert!(has(&requires, PRE), "Requires={requires:?}");
    // snapshot: off and rollback: off pull in none of them.
    tb.write(
        "/run/update-all/config.d/70-off.yaml",
        "safety:\n  snapshot: off\n  rollback: off\n",
        0o644,
    );
    tb.daemon_reload();
    let wants = names(&tb, "update-all.target", "Wants");
    assert!(
        !wants
            .iter()
            .any(|u| [PRE, POST, HEALTH].contains(&u.as_str())),
        "{wants:?}"
    );
    assert!(!has(&names(&tb, "update-all-beta.service", "After"), PRE));
}

#[test]
fn a_run_shows_and_records_the_safety_units_as_rows() {
    let Some(tb) = boot() else { return };
    let plan = runner(&tb, &["plan", "--system"]);
    let plan_text = text(&plan.stdout);
    assert!(
        plan_text.contains("Safety units (3):") && plan_text.contains(HEALTH),
        "{}",
        show(&plan)
    );

    let began = std::time::Instant::now();
    let out = runner(&tb, &["run", "--system", "--json"]);
    let with_safety = began.elapsed();
    let events: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    // No snapshot backend: skipped, which fails nothing.
    assert_eq!(last_state(&events, "snapshot-pre", "safety"), "skipped");
    assert_eq!(last_state(&events, "snapshot-post", "safety"), "skipped");
    assert_eq!(
        last_state(&events, "health", "safety"),
        "done",
        "{}\nhealth's journal:\n{}",
        show(&out),
        tb.journal(HEALTH)
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    // The health check ran after the last update had ended.
    let us = |unit: &str, p: &str| -> u64 { unit_property(&tb, unit, p).parse().unwrap() };
    for update in ["update-all-alpha.service", "update-all-beta.service"] {
        assert!(
            us(HEALTH, "ExecMainStartTimestampMonotonic")
                >= us(update, "ExecMainExitTimestampMonotonic"),
            "{update} ended after the health check began"
        );
    }
    wait_recorded(&tb);
    // The snapshot units are stopped for the next run's own pair.
    assert_eq!(unit_property(&tb, PRE, "ActiveState"), "inactive");
    let history = runner(&tb, &["history", "--json"]);
    assert!(history.status.success(), "{}", show(&history));
    let doc: Value = serde_json::from_slice(&history.stdout).expect("JSON");
    let records = doc["records"].as_array().expect("records");
    let health = records
        .iter()
        .find(|r| r["plugin"] == "health")
        .unwrap_or_else(|| panic!("no health record: {records:#?}"));
    assert_eq!(health["phase"], "safety", "{health:#}");
    assert_eq!(health["unit"], HEALTH, "{health:#}");
    assert!(
        records
            .iter()
            .any(|r| r["plugin"] == "snapshot-pre" && r["phase"] == "safety"),
        "{records:#?}"
    );
    let status = runner(&tb, &["status"]);
    assert!(text(&status.stdout).contains("health"), "{}", show(&status));

    // Figure: what the safety units cost a run here (no backend, settle 0).
    tb.write(
        "/run/update-all/config.d/70-off.yaml",
        "safety:\n  snapshot: off\n  rollback: off\n",
        0o644,
    );
    tb.daemon_reload();
    wait_recorded(&tb);
    let began = std::time::Instant::now();
    let out = runner(&tb, &["run", "--system", "--json"]);
    let without = began.elapsed();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    eprintln!(
        "figure: update-all run of 2 plugins: {:.2} s with the safety units (no backend, \
         settle 0), {:.2} s without",
        with_safety.as_secs_f64(),
        without.as_secs_f64()
    );
}

#[test]
fn the_users_part_starts_after_the_systems_health_check_ended() {
    let Some(tb) = boot() else { return };
    // A settle time the system's health check must sit out before any
    // user unit may start.
    tb.write(
        "/run/update-all/config.d/60-settle.yaml",
        "safety:\n  health:\n    settle: 2s\n",
        0o644,
    );
    tb.daemon_reload();
    tb.install_update_all_for_users(&testbed::target_binary("update-all-generator"));
    tb.add_plugin("mine", "scope: user", &script());
    // Started after the install: its generator makes the plugin's unit.
    tb.user_manager(0);
    // Root, no flag: the system's part, then root's own user manager's.
    let state = [("XDG_STATE_HOME", "/run/user/0/state")];
    let out = common::runner_env(&tb, &state, &["run"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let user = |unit: &str, p: &str| -> u64 {
        let out = tb.exec_env(
            &[("XDG_RUNTIME_DIR", "/run/user/0")],
            &["systemctl", "--user", "show", "-P", p, unit],
        );
        text(&out.stdout).trim().parse().unwrap_or(0)
    };
    let system = |unit: &str, p: &str| -> u64 { unit_property(&tb, unit, p).parse().unwrap_or(0) };
    let health_ended = system(HEALTH, "ExecMainExitTimestampMonotonic");
    let post_ended = system(POST, "InactiveExitTimestampMonotonic");
    let mine_started = user("update-all-mine.service", "InactiveExitTimestampMonotonic");
    assert!(health_ended > 0 && mine_started > 0, "{}", show(&out));
    assert!(
        mine_started >= health_ended && mine_started >= post_ended,
        "the user's plugin started at {mine_started}, the system's health check ended at \
         {health_ended}\n{}",
        show(&out)
    );
}

#[test]
fn a_failed_health_check_shows_its_rollback_in_the_run() {
    let Some(tb) = boot() else { return };
    tb.write(
        "/run/update-all/health.d/required.d/10-broken",
        "#!/bin/sh\necho the machine is broken\nexit 1\n",
        0o755,
    );
    let out = runner(&tb, &["run", "--system", "--json"]);
    let events: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert_eq!(
        last_state(&events, "health", "safety"),
        "failed",
        "{}",
        show(&out)
    );
    // The rollback's job comes from OnFailure= as the health check fails:
    // the run follows it to its end, whatever the rollback found to do.
    let rollback = last_state(&events, "rollback", "safety");
    assert!(
        ["done", "failed"].contains(&rollback),
        "rollback {rollback}\n{}",
        show(&out)
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    wait_recorded(&tb);
    let history = runner(&tb, &["history", "--json"]);
    let doc: Value = serde_json::from_slice(&history.stdout).expect("JSON");
    let records = doc["records"].as_array().expect("records");
    assert!(
        records
            .iter()
            .any(|r| r["plugin"] == "rollback" && r["phase"] == "safety"),
        "{records:#?}"
    );
}

#[test]
fn the_snapshot_units_stay_active_during_the_run_and_each_run_takes_its_own() {
    let Some(tb) = boot() else { return };
    // Stand-ins that "take" a snapshot wherever they run.
    for unit in [PRE, POST] {
        tb.write(
            format!("/run/systemd/system/{unit}.d/50-test.conf"),
            "[Service]\nExecCondition=\nExecStart=\nExecStart=/bin/true\n",
            0o644,
        );
    }
    tb.daemon_reload();
    let mut invocations = Vec::new();
    for _ in 0..2 {
        let out = runner(&tb, &["run", "--system", "--json"]);
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        let events: Vec<Value> = text(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON"))
            .collect();
        assert_eq!(last_state(&events, "snapshot-pre", "safety"), "done");
        assert_eq!(last_state(&events, "snapshot-post", "safety"), "done");
        wait_recorded(&tb);
        for unit in [PRE, POST] {
            assert_eq!(
                unit_property(&tb, unit, "ActiveState"),
                "inactive",
                "{unit}"
            );
        }
        invocations.push(unit_property(&tb, PRE, "InvocationID"));
    }
    assert_ne!(
        invocations[0], invocations[1],
        "one pre snapshot for two runs"
    );
}

#[test]
fn run_only_checks_the_health_after_its_plugins_and_knows_no_safety_plugin() {
    let Some(tb) = boot() else { return };
    let out = runner(&tb, &["run", "--system", "--json", "--only", "beta"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let events: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(last_state(&events, "beta", "update"), "done");
    assert_eq!(last_state(&events, "health", "safety"), "done");
    assert!(
        !events.iter().any(|e| e["plugin"] == "alpha"),
        "{events:#?}"
    );
    let out = runner(&tb, &["run", "--system", "--only", "health"]);
    let said = text(&out.stderr);
    assert!(
        !out.status.success() && said.contains("unknown plugin health; known plugins: alpha, beta"),
        "{}",
        show(&out)
    );
}
