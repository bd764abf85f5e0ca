//! A run cut short by a hard stop, found at the next boot of the same root
//! (docs/resume.md): the test bed's systemd is killed mid-run (SIGKILL to
//! its PID 1, no shutdown), the same root booted again with the same
//! /var/lib/update-all and the same installed units (`testbed::KeptState`),
//! and then `status` says the run was interrupted, with what had finished
//! and what had not; `resume: at-boot` runs only the unfinished plugins at
//! boot, as a run that follows the old one, and `resume: never` runs
//! nothing.
//!
//! The run: alpha, then beta (runs_after alpha), then gamma (runs_after
//! beta). At the crash alpha had finished, beta was running (its plugin
//! sleeps while /run/beta.block exists, which the next boot does not
//! have), gamma had never started. Each plugin counts its runs in
//! /run/NAME.runs, which each boot starts without.

mod common;

use common::{runner, show, text, unit_property, wait_for, wait_for_or, RECORDER};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use testbed::{KeptState, Testbed};

const SUCCESS: &str = r#"{"status":"success","data":{},"error":null,"progress":null}"#;

/// A plugin that counts its runs and, while /run/NAME.block exists,
/// sleeps instead of finishing.
fn plugin(name: &str) -> String {
    format!(
        "#!/bin/sh\n\
         [ \"$1\" = is-applicable ] && exit 0\n\
         echo x >> /run/{name}.runs\n\
         while [ -e /run/{name}.block ]; do sleep 1; done\n\
         printf '%s\\n' '{SUCCESS}'\n"
    )
}

/// How many times `name` ran in this boot.
fn runs(tb: &Testbed, name: &str) -> usize {
    text(&tb.exec(&["cat", &format!("/run/{name}.runs")]).stdout)
        .lines()
        .count()
}

fn unit(plugin: &str) -> String {
    format!("update-all-{plugin}.service")
}

const RESUME: &str = "update-all-resume.service";

/// How the first boot ends mid-run.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// SIGKILL to PID 1: no shutdown, the run never ends.
    Crash,
    /// A clean poweroff: the recorder is stopped, the run ends cut short.
    Shutdown,
}

/// A query on the kept statistics database, read from the host while the
/// instance runs (WAL: the recorder is not disturbed).
fn query(state: &KeptState, sql: &str) -> Option<i64> {
    let path = state.var_lib_update_all().join("stats.db");
    let db =
        rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .ok()?;
    db.query_row(sql, [], |r| r.get(0)).ok()
}

/// Boots a kept state, installs update-all with the three plugins and
/// `resume: <resume>`, keeps all of it for the next boot (with
/// update-all-resume.service enabled: the test bed boots basic.target, so
/// it is wanted there instead of by multi-user.target), starts the run and
/// stops the instance (`stop`) once beta has started and is written down
/// as such. The id of the run cut short.
fn crash_mid_run(state: &KeptState, resume: &str, stop: Stop) -> i64 {
    if !Testbed::should_run() {
        return 0;
    }
    let tb = Testbed::boot_keeping(state).expect("first boot");
    tb.install_update_all(
        &testbed::target_binary("update-all-generator"),
        Some(Path::new(env!("CARGO_BIN_EXE_update-all"))),
    );
    tb.write(
        "/run/update-all/config.d/50-resume.yaml",
        format!("resume: {resume}\n"),
        0o644,
    );
    tb.add_plugin("alpha", "scope: system", &plugin("alpha"));
    tb.add_plugin(
        "beta",
        "scope: system\nruns_after: [alpha]",
        &plugin("beta"),
    );
    tb.add_plugin(
        "gamma",
        "scope: system\nruns_after: [beta]",
        &plugin("gamma"),
    );
    let wants = tb.host_path("/run/systemd/system/basic.target.wants");
    std::fs::create_dir_all(&wants).unwrap();
    std::os::unix::fs::symlink(format!("../{RESUME}"), wants.join(RESUME)).unwrap();
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
    tb.keep_for_next_boot(state, &kept);

    tb.write("/run/beta.block", "", 0o644);
    tb.daemon_reload();
    tb.check(&["systemctl", "start", "--no-block", "update-all.target"]);
    // What makes the crash a test: beta's start is on disk before it.
    wait_for(
        "beta to be written down as started",
        Duration::from_secs(60),
        || {
            query(
                state,
                "SELECT count(*) FROM run_units WHERE unit = 'update-all-beta.service'
             AND invocation_id IS NOT NULL",
            ) == Some(1)
                && unit_property(&tb, &unit("beta"), "ActiveState") == "activating"
                // alpha ended before beta started; its record is written too.
                && query(state, "SELECT count(*) FROM records WHERE plugin = 'alpha'") == Some(1)
        },
    );
    assert_eq!(runs(&tb, "gamma"), 0);
    let run = query(state, "SELECT max(id) FROM runs").expect("a run");
    match stop {
        Stop::Crash => tb.crash().expect("a hard stop"),
        Stop::Shutdown => tb.shutdown().expect("a clean poweroff"),
    }
    run
}

/// Boots the kept state again and waits until update-all-resume.service
/// has done what it does at boot, and any run it started is recorded.
fn boot_again(state: &KeptState) -> Testbed {
    let tb = Testbed::boot_keeping(state).expect("second boot");
    wait_for(
        "update-all-resume.service to end",
        Duration::from_secs(90),
        || {
            let jobs = tb.check(&["systemctl", "list-jobs", "--no-legend"]);
            jobs.trim().is_empty()
                && unit_property(&tb, RESUME, "ActiveState") == "inactive"
                && matches!(
                    unit_property(&tb, RECORDER, "ActiveState").as_str(),
                    "inactive" | "failed"
                )
        },
    );
    tb
}

fn status(tb: &Testbed) -> Value {
    let out = runner(tb, &["status", "--json"]);
    assert!(out.status.success(), "{}", show(&out));
    serde_json::from_slice(&out.stdout).expect("JSON")
}

#[test]
fn resume_at_boot_runs_only_the_unfinished_plugins_as_a_run_that_follows() {
    let state = KeptState::new();
    let old = crash_mid_run(&state, "at-boot", Stop::Crash);
    if old == 0 {
        return;
    }
    let tb = boot_again(&state);
    assert_ne!(
        unit_property(&tb, RESUME, "ExecMainStartTimestampMonotonic"),
        "0",
        "the resume ran at boot:\n{}",
        tb.journal(RESUME)
    );
    assert_eq!(
        unit_property(&tb, RESUME, "Result"),
        "success",
        "{}",
        tb.journal(RESUME)
    );
    assert_eq!(
        (runs(&tb, "alpha"), runs(&tb, "beta"), runs(&tb, "gamma")),
        (0, 1, 1),
        "only the unfinished plugins ran:\n{}",
        tb.journal(RESUME)
    );
    let status = status(&tb);
    assert!(status["interrupted"].is_null(), "{status:#}");
    let run = &status["run"];
    assert_eq!(run["follows"], old, "{status:#}");
    assert_eq!(run["kind"], "resume", "{status:#}");
    let units: Vec<&str> = status["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["unit"].as_str().unwrap())
        .collect();
    assert_eq!(units, [unit("beta"), unit("gamma")], "{status:#}");
    // The old run is closed as interrupted: nothing is pending any more.
    let out = runner(&tb, &["resume", "--pending"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
}

/// Boots the state again after a run cut short with `resume: never`:
/// nothing ran at boot, and `status` says the run was interrupted, alpha
/// finished, beta started, gamma not.
fn interrupted_and_nothing_ran(state: &KeptState, old: i64) -> Testbed {
    interrupted_and_nothing_ran_under(state, old, "resume: never")
}

/// [`interrupted_and_nothing_ran`] under the configuration's `resume`
/// (as the resume unit's condition says it: "resume: never", "resume: ask").
fn interrupted_and_nothing_ran_under(state: &KeptState, old: i64, resume: &str) -> Testbed {
    let tb = boot_again(state);
    assert_eq!(
        unit_property(&tb, RESUME, "ExecMainStartTimestampMonotonic"),
        "0",
        "its condition kept the resume from running:\n{}",
        tb.journal(RESUME)
    );
    // journald takes the condition's lines from its stream in its own
    // time: the unit may have ended before they are in the journal.
    wait_for(
        &format!("the condition's {resume:?} in the resume unit's journal"),
        Duration::from_secs(30),
        || tb.journal(RESUME).contains(resume),
    );
    assert_eq!(
        (runs(&tb, "alpha"), runs(&tb, "beta"), runs(&tb, "gamma")),
        (0, 0, 0)
    );

    let status = status(&tb);
    let i = &status["interrupted"];
    assert_eq!(i["run"]["id"], old, "{status:#}");
    let names = |key: &str| -> Vec<(String, Value)> {
        i[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| {
                (
                    u["plugin"].as_str().unwrap().to_owned(),
                    u["started"].clone(),
                )
            })
            .collect()
    };
    assert_eq!(names("finished"), [("alpha".to_owned(), Value::Null)]);
    assert_eq!(
        names("unfinished"),
        [
            ("beta".to_owned(), Value::Bool(true)),
            ("gamma".to_owned(), Value::Bool(false))
        ]
    );
    let out = runner(&tb, &["status"]);
    let said = text(&out.stdout);
    assert!(
        said.contains("finished: alpha; unfinished: beta (started), gamma (not started)"),
        "{said}"
    );
    tb
}

#[test]
fn status_says_interrupted_and_resume_never_runs_nothing_at_boot() {
    let state = KeptState::new();
    let old = crash_mid_run(&state, "never", Stop::Crash);
    if old == 0 {
        return;
    }
    let tb = interrupted_and_nothing_ran(&state, old);

    // By hand, `update-all resume` runs the same two, linked to the old run.
    let out = runner(&tb, &["resume"]);
    assert!(out.status.success(), "{}", show(&out));
    common::wait_recorded(&tb);
    assert_eq!(
        (runs(&tb, "alpha"), runs(&tb, "beta"), runs(&tb, "gamma")),
        (0, 1, 1)
    );
    let status = self::status(&tb);
    assert_eq!(status["run"]["follows"], old, "{status:#}");
    assert_eq!(status["run"]["kind"], "resume", "{status:#}");
}

#[test]
fn a_shutdown_mid_run_leaves_it_interrupted_too() {
    let state = KeptState::new();
    let old = crash_mid_run(&state, "never", Stop::Shutdown);
    if old == 0 {
        return;
    }
    // The recorder saw the shutdown out: the run ended, marked interrupted.
    assert_eq!(
        query(
            &state,
            &format!("SELECT interrupted FROM runs WHERE id = {old}")
        ),
        Some(1)
    );
    assert!(query(
        &state,
        &format!("SELECT ended_us FROM runs WHERE id = {old}")
    )
    .is_some());
    let tb = interrupted_and_nothing_ran(&state, old);
    let out = runner(&tb, &["resume", "--dry-run", "--json"]);
    assert!(out.status.success(), "{}", show(&out));
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        json["units"],
        serde_json::json!([unit("beta"), unit("gamma")])
    );
}

/// What alice's notice unit (in her own manager) said so far.
///
/// journald adds `_SYSTEMD_USER_UNIT` only while the process is there to
/// read it from: the lines of a notice that said its word and exited may
/// have only the `USER_UNIT` update-all names itself by (see `log.rs`),
/// from the same user: either matches (`+` is journalctl's "or").
fn notice_log(tb: &Testbed) -> String {
    tb.sync_journal();
    text(
        &tb.exec(&[
            "journalctl",
            "--no-pager",
            "_UID=4242",
            "_SYSTEMD_USER_UNIT=update-all-resume-notice.service",
            "+",
            "_UID=4242",
            "USER_UNIT=update-all-resume-notice.service",
        ])
        .stdout,
    )
}

/// Waits until alice's notice said `said` (its journal).
fn wait_notice(tb: &Testbed, said: &str) {
    wait_for_or(
        &format!("alice's notice to say {said:?}"),
        Duration::from_secs(60),
        || notice_log(tb).contains(said),
        || notice_log(tb),
    );
}

/// The notice alice got, the only notification she has.
fn assert_told_once(tb: &Testbed) {
    let got: Vec<Value> = tb
        .notifications("alice")
        .iter()
        .map(|n| serde_json::from_str(n).unwrap())
        .collect();
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(got[0]["summary"], "Update run interrupted", "{got:#?}");
    assert_eq!(
        got[0]["body"],
        "An update run was interrupted: 2 plugins did not finish. Run `update-all resume`.",
        "{got:#?}"
    );
    assert_eq!(got[0]["sender_uid"], 4242, "{got:#?}");
}

/// alice logs out, and in again (a new manager) with her notification
/// server; her notice says it told her already, and she gets nothing.
fn relogin_is_not_told_again(tb: &Testbed, old: i64) {
    tb.check(&["loginctl", "terminate-user", "alice"]);
    wait_for("alice's logout", Duration::from_secs(30), || {
        !tb.exec(&["loginctl", "show-user", "alice"])
            .status
            .success()
            && !tb.host_path("/run/user/4242/bus").exists()
    });
    tb.exec(&["systemctl", "stop", "testbed-notifications-alice"]);
    tb.exec(&["systemctl", "reset-failed", "testbed-notifications-alice"]);
    tb.check(&["rm", "/run/testbed-notifications/alice.jsonl"]);
    tb.login("alice", "user", "wayland");
    tb.start_notification_server("alice");
    wait_notice(tb, &format!("told of interrupted run {old} already"));
    assert_eq!(tb.notifications("alice"), Vec::<String>::new());
}

/// The user units, with the notice wanted at login (`enabled`) as the
/// package's user preset enables it, or not.
fn install_user_units(tb: &Testbed, enabled: bool) {
    tb.install_update_all_for_users(&testbed::target_binary("update-all-generator"));
    if enabled {
        enable_notice(tb);
    }
}

fn enable_notice(tb: &Testbed) {
    let wants = tb.host_path("/run/systemd/user/default.target.wants");
    std::fs::create_dir_all(&wants).unwrap();
    std::os::unix::fs::symlink(
        "../update-all-resume-notice.service",
        wants.join("update-all-resume-notice.service"),
    )
    .unwrap();
}

#[test]
fn resume_ask_tells_a_user_on_a_desktop_at_boot_once() {
    let state = KeptState::new();
    let old = crash_mid_run(&state, "ask", Stop::Crash);
    if old == 0 {
        return;
    }
    let tb = interrupted_and_nothing_ran_under(&state, old, "resume: ask");
    install_user_units(&tb, false);
    tb.add_user("alice", 4242);
    tb.login("alice", "user", "wayland");
    tb.start_notification_server("alice");
    // What the boot's update-all-resume.service checks, with alice already
    // on her desktop (an automatic login): it starts her notice, as her.
    let out = runner(&tb, &["resume", "--pending"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    wait_notice(&tb, &format!("told of interrupted run {old}"));
    assert_told_once(&tb);
    enable_notice(&tb);
    relogin_is_not_told_again(&tb, old);
}

#[test]
fn resume_ask_tells_a_user_who_logs_in_once() {
    let state = KeptState::new();
    let old = crash_mid_run(&state, "ask", Stop::Crash);
    if old == 0 {
        return;
    }
    let tb = interrupted_and_nothing_ran_under(&state, old, "resume: ask");
    install_user_units(&tb, true);
    tb.add_user("alice", 4242);
    tb.login("alice", "user", "wayland");
    // Started after her manager: the notice waits for it.
    tb.start_notification_server("alice");
    wait_notice(&tb, &format!("told of interrupted run {old}"));
    assert_told_once(&tb);
    relogin_is_not_told_again(&tb, old);
}
