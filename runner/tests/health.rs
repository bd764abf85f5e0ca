//! The health checks on a real systemd 252 (the namespace test bed)
//! (docs/safety.md, "Health checks"): `update-all-health.service` after a
//! run's updates, `update-all-boot-check.service` at the boot after a run
//! that asked for a reboot, and the rollback unit their failure starts.
//!
//! The rollback unit's own work is the rollback's tests' business: here a
//! drop-in replaces its command with `touch /run/rolled-back`, so what is
//! seen is that the failed check started it.

mod common;

use common::{boot, runner, show, text, unit_property, wait_for, wait_recorded};
use std::path::Path;
use std::time::Duration;
use testbed::{KeptState, Testbed};

const HEALTH: &str = "update-all-health.service";
const BOOT_CHECK: &str = "update-all-boot-check.service";
const ROLLBACK: &str = "update-all-rollback.service";
/// What the rollback unit leaves (see the module's documentation).
const ROLLED_BACK: &str = "/run/rolled-back";
const REQUIRED: &str = "/run/update-all/health.d/required.d";
const WANTED: &str = "/run/update-all/health.d/wanted.d";

/// A plugin whose update does nothing but `also` (shell), and succeeds.
fn plugin(also: &str) -> String {
    format!(
        "#!/bin/sh\n[ \"$1\" = is-applicable ] && exit 0\n{also}\n\
         printf '%s\\n' '{{\"status\":\"success\",\"data\":{{}},\"error\":null,\"progress\":null}}'\n"
    )
}

/// Health checks on (no snapshots) with `settle`, checks' timeout 3 s;
/// the rollback unit only leaves [`ROLLED_BACK`].
fn safety_on(tb: &Testbed, settle: &str) {
    tb.write(
        "/run/update-all/config.d/50-safety.yaml",
        format!(
            "safety:\n  snapshot: off\n  rollback: auto\n  health:\n    settle: {settle}\n    timeout: 3s\n"
        ),
        0o644,
    );
    tb.write(
        format!("/run/systemd/system/{ROLLBACK}.d/50-testbed.conf"),
        format!("[Service]\nExecStart=\nExecStart=/bin/touch {ROLLED_BACK}\n"),
        0o644,
    );
}

/// A health.d script (shell) named `path`.
fn script(tb: &Testbed, path: &str, body: &str) {
    tb.write(path, format!("#!/bin/sh\n{body}\n"), 0o755);
}

/// Runs update-all.target with the plugins added so far and waits until
/// the run and its health check are over.
fn run(tb: &Testbed) {
    tb.daemon_reload();
    tb.check(&["systemctl", "start", "update-all.target"]);
    wait_recorded(tb);
    wait_for("the health unit to end", Duration::from_secs(60), || {
        matches!(
            unit_property(tb, HEALTH, "ActiveState").as_str(),
            "inactive" | "failed"
        )
    });
}

/// The health unit's journal at `priority` and more urgent.
fn journal(tb: &Testbed, unit: &str, priority: &str) -> String {
    // Everything the unit logged before now (it may have just ended).
    tb.sync_journal();
    text(
        &tb.exec(&[
            "journalctl",
            "--no-pager",
            "-o",
            "cat",
            "-u",
            unit,
            "-p",
            priority,
        ])
        .stdout,
    )
}

fn rolled_back(tb: &Testbed) -> bool {
    tb.exec(&["test", "-e", ROLLED_BACK]).status.success()
}

/// Waits for the rollback unit to have run (`unit`'s OnFailure= starts it).
fn wait_rolled_back(tb: &Testbed) {
    wait_for("the rollback unit to run", Duration::from_secs(30), || {
        rolled_back(tb)
    });
}

/// Prints how long each round's checks took (the figures of
/// docs/safety.md; run with --nocapture to see them).
fn print_figures(log: &str) {
    for line in log.lines().filter(|l| l.starts_with("health checks")) {
        eprintln!("figure: {line}");
    }
}

/// The health unit failed: its Result, and it started the rollback unit.
fn assert_unhealthy(tb: &Testbed) -> String {
    let log = journal(tb, HEALTH, "debug");
    print_figures(&log);
    assert_eq!(unit_property(tb, HEALTH, "Result"), "exit-code", "{log}");
    wait_rolled_back(tb);
    log
}

/// The health unit passed and no rollback ran.
fn assert_healthy(tb: &Testbed) -> String {
    let log = journal(tb, HEALTH, "debug");
    print_figures(&log);
    assert_eq!(unit_property(tb, HEALTH, "Result"), "success", "{log}");
    assert_eq!(
        unit_property(tb, HEALTH, "ActiveState"),
        "inactive",
        "{log}"
    );
    assert_eq!(unit_property(tb, ROLLBACK, "ActiveState"), "inactive");
    assert!(!rolled_back(tb), "a rollback ran:\n{log}");
    log
}

#[test]
fn a_failing_required_check_fails_the_health_unit_and_starts_the_rollback() {
    let Some(tb) = boot() else { return };
    safety_on(&tb, "0");
    tb.add_plugin("web", "scope: system", &plugin(""));
    script(
        &tb,
        &format!("{REQUIRED}/10-port"),
        "echo checking port 80; echo >&2 port 80 closed; exit 1",
    );
    script(&tb, &format!("{REQUIRED}/20-fine"), "exit 0");
    script(
        &tb,
        &format!("{WANTED}/30-disk"),
        "echo disk 91% full; exit 2",
    );
    run(&tb);
    let log = assert_unhealthy(&tb);
    // The script's output is in the health unit's journal, and its failure
    // with priority err, named; the wanted check's only as a warning.
    assert!(
        log.contains("required.d/10-port: checking port 80"),
        "{log}"
    );
    let errors = journal(&tb, HEALTH, "err");
    assert!(
        errors.contains(
            "health check required.d/10-port failed (round 1): exit status 1: port 80 closed"
        ),
        "{errors}"
    );
    assert!(
        errors.contains("unhealthy: required.d/10-port failed"),
        "{errors}"
    );
    assert!(!errors.contains("30-disk"), "{errors}");
    assert!(!errors.contains("20-fine"), "{errors}");
    let warnings = journal(&tb, HEALTH, "warning");
    assert!(
        warnings.contains("health check wanted.d/30-disk failed (round 1), wanted only: exit status 2: disk 91% full"),
        "{warnings}"
    );
}

#[test]
fn a_unit_failed_before_the_run_and_a_failing_wanted_check_leave_the_run_healthy() {
    let Some(tb) = boot() else { return };
    safety_on(&tb, "0");
    // Failed before the run began: not the run's doing.
    let _ = tb.exec(&["systemd-run", "--quiet", "--unit=testbed-broken", "false"]);
    wait_for("testbed-broken to fail", Duration::from_secs(10), || {
        unit_property(&tb, "testbed-broken.service", "ActiveState") == "failed"
    });
    tb.add_plugin("web", "scope: system", &plugin(""));
    script(
        &tb,
        &format!("{WANTED}/30-disk"),
        "echo disk 91% full; exit 2",
    );
    run(&tb);
    let log = assert_healthy(&tb);
    assert!(!log.contains("testbed-broken.service failed"), "{log}");
    assert!(log.contains("had failed before"), "{log}");
    assert!(
        log.contains("wanted.d/30-disk failed (round 1), wanted only"),
        "{log}"
    );
    assert!(
        log.contains("healthy (1 wanted check(s) failed: warnings)"),
        "{log}"
    );
}

#[test]
fn a_plugins_health_unit_not_active_and_a_hanging_check_are_unhealthy() {
    let Some(tb) = boot() else { return };
    safety_on(&tb, "0");
    // A service the plugin's health entry wants active, which is not.
    tb.write(
        "/run/systemd/system/testbed-web.service",
        "[Service]\nExecStart=/bin/sleep infinity\n",
        0o644,
    );
    // A check that never ends, with children of its own: killed at 2 s.
    let hang = "/run/update-all/plugins/web-hangs";
    tb.write(
        hang,
        "#!/bin/sh\necho $$ > /run/hang.pid\nsleep 600 &\necho $! > /run/hang-child.pid\nwait\n",
        0o755,
    );
    tb.add_plugin(
        "web",
        &format!(
            "scope: system\nhealth:\n  units: [testbed-web.service]\n  exec: [{hang}]\n  timeout: 2s"
        ),
        &plugin(""),
    );
    run(&tb);
    let log = assert_unhealthy(&tb);
    let errors = journal(&tb, HEALTH, "err");
    assert!(
        errors.contains(
            "health check testbed-web.service failed (round 1): testbed-web.service is inactive; \
             web's health.units wants it active"
        ),
        "{errors}"
    );
    assert!(
        errors.contains(&format!(
            "health check {hang} failed (round 1): killed at its timeout of 2.0s"
        )),
        "{errors}\n{log}"
    );
    // The whole process group was killed, the child too.
    for pid in ["/run/hang.pid", "/run/hang-child.pid"] {
        let pid = text(&tb.exec(&["cat", pid]).stdout).trim().to_owned();
        assert!(!pid.is_empty());
        assert!(
            !tb.exec(&["test", "-e", &format!("/proc/{pid}")])
                .status
                .success(),
            "{pid} lives on"
        );
    }
}

#[test]
fn a_service_that_dies_seconds_after_starting_is_caught_after_the_stability_window() {
    let Some(tb) = boot() else { return };
    safety_on(&tb, "8s");
    // A service, running when the run begins, that dies 5 s after round 1
    // saw it up (it waits for round 1's mark, so round 1 sees it up however
    // slow the machine is).
    tb.check(&[
        "systemd-run",
        "--quiet",
        "--unit=testbed-flaky",
        "sh",
        "-c",
        "while [ ! -e /run/round-1 ]; do sleep 0.1; done; sleep 5; exit 1",
    ]);
    tb.add_plugin("web", "scope: system", &plugin(""));
    script(
        &tb,
        &format!("{WANTED}/00-mark"),
        "touch /run/round-$UPDATE_ALL_HEALTH_ROUND",
    );
    run(&tb);
    let log = assert_unhealthy(&tb);
    let errors = journal(&tb, HEALTH, "err");
    assert!(
        errors.contains(
            "health check testbed-flaky.service failed (round 2): failed since the run began"
        ),
        "{log}"
    );
    assert!(!errors.contains("(round 1)"), "{log}");
    assert!(log.contains("health checks round 1:"), "{log}");
    assert!(log.contains("health checks round 2:"), "{log}");
}

#[test]
fn the_boot_check_is_ordered_before_boot_complete_target() {
    let Some(tb) = boot() else { return };
    let unit = format!("/run/systemd/system/{BOOT_CHECK}");
    let out = tb.exec(&["systemd-analyze", "verify", "--man=no", &unit]);
    assert!(out.status.success(), "{}", show(&out));
    let before = unit_property(&tb, BOOT_CHECK, "Before");
    assert!(
        before
            .split_whitespace()
            .any(|u| u == "boot-complete.target"),
        "{before}"
    );
    let required_by = text(&tb.exec(&["systemctl", "cat", BOOT_CHECK]).stdout);
    assert!(
        required_by.contains("RequiredBy=boot-complete.target"),
        "{required_by}"
    );
    // No run waits: its condition skips it.
    let out = runner(&tb, &["safety", "boot-check", "--pending"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
}

#[test]
fn a_users_health_check_checks_the_users_own_units_and_plugins() {
    let Some(tb) = boot() else { return };
    safety_on(&tb, "0");
    tb.install_update_all_for_users(&testbed::target_binary("update-all-generator"));
    tb.write(
        format!("/run/systemd/user/{ROLLBACK}.d/60-testbed.conf"),
        format!("[Service]\nExecStart=\nExecStart=/bin/touch {ROLLED_BACK}\n"),
        0o644,
    );
    // A user service the user plugin's health entry wants active.
    tb.write(
        "/run/systemd/user/testbed-mine.service",
        "[Service]\nExecStart=/bin/sleep infinity\n",
        0o644,
    );
    tb.add_plugin(
        "mine",
        "scope: user\nhealth:\n  units: [testbed-mine.service]",
        &plugin(""),
    );
    // The system's health.d is not the user's business.
    script(&tb, &format!("{REQUIRED}/10-system"), "exit 1");
    tb.user_manager(0);
    let user = [("XDG_RUNTIME_DIR", "/run/user/0")];
    let systemctl = |args: &[&str]| {
        let mut all = vec!["systemctl", "--user"];
        all.extend_from_slice(args);
        tb.exec_env(&user, &all)
    };
    let out = systemctl(&["start", "update-all.target"]);
    assert!(out.status.success(), "{}", show(&out));
    let property = |name: &str| {
        text(&systemctl(&["show", "-P", name, HEALTH]).stdout)
            .trim()
            .to_owned()
    };
    wait_for(
        "the user's health unit to fail",
        Duration::from_secs(60),
        || property("Result") == "exit-code",
    );
    wait_rolled_back(&tb);
    tb.sync_journal();
    // journald adds _SYSTEMD_USER_UNIT only while the process is there to
    // read it from; the USER_UNIT update-all names itself by (log.rs) is
    // there anyway ("+" is journalctl's "or").
    let (trusted, named) = (
        format!("_SYSTEMD_USER_UNIT={HEALTH}"),
        format!("USER_UNIT={HEALTH}"),
    );
    let log = text(
        &tb.exec(&[
            "journalctl",
            "--no-pager",
            "-o",
            "cat",
            &trusted,
            "+",
            "_UID=0",
            &named,
        ])
        .stdout,
    );
    assert!(
        log.contains(
            "health check testbed-mine.service failed (round 1): testbed-mine.service is inactive; \
             mine's health.units wants it active"
        ),
        "{log}"
    );
    assert!(!log.contains("10-system"), "{log}");
}

/// Marks the first boot: the required check passes only while it exists
/// (/run is not kept for the next boot).
const FIRST_BOOT: &str = "/run/testbed-first-boot";

#[test]
fn a_failing_boot_check_starts_the_rollback_unit() {
    if !Testbed::should_run() {
        return;
    }
    let state = KeptState::new();
    {
        let tb = Testbed::boot_keeping(&state).expect("first boot");
        tb.install_update_all(
            &testbed::target_binary("update-all-generator"),
            Some(Path::new(env!("CARGO_BIN_EXE_update-all"))),
        );
        safety_on(&tb, "0");
        tb.write(FIRST_BOOT, "", 0o644);
        script(
            &tb,
            &format!("{REQUIRED}/10-boot"),
            &format!("[ -e {FIRST_BOOT} ] || {{ echo the machine came back broken; exit 1; }}"),
        );
        // An update that needs a reboot (Debian's marker).
        tb.add_plugin(
            "kernel",
            "scope: system",
            &plugin("echo '*** System restart required ***' > /run/reboot-required"),
        );
        // The test bed boots basic.target: the boot check is wanted there.
        let wants = tb.host_path("/run/systemd/system/basic.target.wants");
        std::fs::create_dir_all(&wants).unwrap();
        std::os::unix::fs::symlink(format!("../{BOOT_CHECK}"), wants.join(BOOT_CHECK)).unwrap();
        run(&tb);
        assert_healthy(&tb);
        // This boot is not the one after the run.
        let out = runner(&tb, &["safety", "boot-check", "--pending"]);
        assert_eq!(out.status.code(), Some(1), "{}", show(&out));
        let mut kept = vec![
            "/run/update-all".to_owned(),
            "/run/systemd/system-generators".to_owned(),
            "/run/systemd/system/basic.target.wants".to_owned(),
        ];
        for entry in std::fs::read_dir(tb.host_path("/run/systemd/system")).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            if name.starts_with("update-all") {
                kept.push(format!("/run/systemd/system/{name}"));
            }
        }
        let kept: Vec<&str> = kept.iter().map(String::as_str).collect();
        tb.keep_for_next_boot(&state, &kept);
        tb.shutdown().expect("a clean poweroff");
    }
    let tb = Testbed::boot_keeping(&state).expect("second boot");
    wait_for("the boot check to end", Duration::from_secs(60), || {
        unit_property(&tb, BOOT_CHECK, "ActiveState") == "failed"
            || unit_property(&tb, BOOT_CHECK, "Result") == "exit-code"
    });
    wait_rolled_back(&tb);
    let errors = journal(&tb, BOOT_CHECK, "err");
    assert!(
        errors.contains(
            "health check required.d/10-boot failed (at boot): exit status 1: the machine came back broken"
        ),
        "{errors}\n{}",
        tb.journal(BOOT_CHECK)
    );
    // Recorded as the run's next round (the health unit made round 1),
    // and the boot counter counted this boot once.
    let db = rusqlite::Connection::open_with_flags(
        state.var_lib_update_all().join("stats.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let failed: (i64, String) = db
        .query_row(
            "SELECT round, check_name FROM health_checks WHERE ok = 0 AND kind = 'required'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(failed, (2, "required.d/10-boot".to_owned()));
    let attempts: (i64, String) = db
        .query_row("SELECT attempts, result FROM boot_checks", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(attempts, (1, "unhealthy".to_owned()));
    // Still pending in this boot (a check by hand checks again).
    let out = runner(&tb, &["safety", "boot-check", "--pending"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
}

/// Figures for docs/safety.md (`cargo test --test health -- --ignored
/// --nocapture figures`): a round with the built-in checks, three active
/// units of a plugin's health entry, and ten required scripts, timed by
/// the health unit itself, five runs.
#[test]
#[ignore]
fn figures() {
    let Some(tb) = boot() else { return };
    safety_on(&tb, "1s");
    tb.write(
        "/run/systemd/system/update-all-recorder.service.d/60-debug.conf",
        "[Service]\nEnvironment=UPDATE_ALL_LOG=debug\n",
        0o644,
    );
    for i in 0..3 {
        tb.write(
            format!("/run/systemd/system/testbed-svc{i}.service"),
            "[Service]\nExecStart=/bin/sleep infinity\n",
            0o644,
        );
    }
    tb.daemon_reload();
    for i in 0..3 {
        tb.check(&["systemctl", "start", &format!("testbed-svc{i}.service")]);
    }
    for i in 0..10 {
        script(&tb, &format!("{REQUIRED}/{i:02}-ok"), "echo fine");
    }
    tb.add_plugin(
        "web",
        "scope: system\nhealth:\n  units: [testbed-svc0.service, testbed-svc1.service, testbed-svc2.service]",
        &plugin(""),
    );
    for _ in 0..5 {
        run(&tb);
        assert_healthy(&tb);
    }
    // What the baseline adds to the start of every run (the recorder
    // takes it before it says it is ready).
    let recorder = tb.journal(common::RECORDER);
    for line in recorder.lines().filter(|l| l.contains("health baseline")) {
        eprintln!("figure: {line}");
    }
}
