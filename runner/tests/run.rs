//! `update-all run` and `update-all cancel` on a real systemd 252 (the
//! namespace test bed): states and exit statuses, --only, attaching to a
//! run in progress, cancel, Ctrl-C, and the reasons a run cannot start.
//!
//! The statistics recorder is masked here: these tests are about watching.

mod common;

use common::{last_state, runner, show, text, wait_for};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use testbed::{Testbed, RUNNER};

/// A plugin script: applicable unless `applicable` is false; appends
/// "PLUGIN PHASE start|end" to /run/ua.log around `body`.
fn script(body: &str, applicable: bool) -> String {
    format!(
        "#!/bin/sh\n\
         [ \"$1\" = is-applicable ] && exit {}\n\
         echo \"$UPDATE_ALL_PLUGIN $UPDATE_ALL_PHASE start\" >> /run/ua.log\n\
         {body}\n\
         echo \"$UPDATE_ALL_PLUGIN $UPDATE_ALL_PHASE end\" >> /run/ua.log\n",
        if applicable { 0 } else { 1 }
    )
}

fn boot() -> Option<Testbed> {
    common::boot_with(|tb| {
        tb.sh("ln -sf /dev/null /run/systemd/system/update-all-recorder.service");
    })
}

/// The JSON lines of `run --json`.
fn events(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn summary(events: &[Value]) -> &Value {
    let last = events.last().expect("no events");
    assert_eq!(last["event"], "summary", "{events:#?}");
    last
}

fn log(tb: &Testbed) -> String {
    tb.exec(&["cat", "/run/ua.log"])
        .stdout
        .iter()
        .map(|&b| b as char)
        .collect()
}

fn active_state(tb: &Testbed, unit: &str) -> String {
    text(&tb.systemctl(&["show", "-P", "ActiveState", unit]).stdout)
        .trim()
        .to_owned()
}

/// Starts `update-all ARGS` in the background inside; its stdout, stderr
/// and exit status land in /run/bg.{out,err,rc}, its pid in /run/bg.pid.
fn background(tb: &Testbed, args: &str) {
    tb.sh(&format!(
        "(sh -c 'echo $$ >/run/bg.pid; exec {RUNNER} {args}' >/run/bg.out 2>/run/bg.err; \
          echo $? >/run/bg.rc) </dev/null >/dev/null 2>&1 &"
    ));
}

/// The exit status of the background run, once it has one.
fn background_status(tb: &Testbed) -> i32 {
    let rc = tb.host_path("/run/bg.rc");
    wait_for("the background run to end", Duration::from_secs(60), || {
        std::fs::read_to_string(&rc).is_ok_and(|s| s.ends_with('\n'))
    });
    std::fs::read_to_string(&rc)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn states_exit_statuses_and_output_forms() {
    let Some(tb) = boot() else { return };
    tb.add_plugin(
        "good",
        "scope: system\ncan_separate_download: true",
        // A progress line of the plugin protocol: plugin-exec makes it the
        // unit's status text.
        &script(
            r#"echo '{"type":"progress","percent":50,"message":"halfway"}' >&2; sleep 0.4"#,
            true,
        ),
    );
    tb.add_plugin("inapplicable", "scope: system", &script("", false));
    tb.daemon_reload();

    // Everything succeeds or is skipped: 0, one plain line per event.
    let out = runner(&tb, &["run"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stdout = text(&out.stdout);
    for line in [
        "good download: running",
        "good update: running",
        "inapplicable update: skipped",
        "update-all: 1 succeeded, 0 failed, 1 skipped in ",
    ] {
        assert!(stdout.contains(line), "no {line:?}:\n{}", show(&out));
    }
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("good update: done in ")),
        "{}",
        show(&out)
    );
    assert!(!stdout.contains('\x1b'), "escape codes off a terminal");

    // One fails: 1, and --json reports each unit's state.
    tb.add_plugin("bad", "scope: system", &script("exit 3", true));
    tb.daemon_reload();
    let out = runner(&tb, &["run", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let ev = events(&text(&out.stdout));
    assert_eq!(last_state(&ev, "good", "download"), "done");
    assert_eq!(last_state(&ev, "good", "update"), "done");
    assert_eq!(last_state(&ev, "bad", "update"), "failed");
    assert_eq!(last_state(&ev, "inapplicable", "update"), "skipped");
    let failed = ev
        .iter()
        .rev()
        .find(|e| e["plugin"] == "bad" && e["state"] == "failed")
        .unwrap();
    assert_eq!(failed["detail"], "exit status 3", "{failed}");
    assert!(failed["elapsed_s"].is_number(), "{failed}");
    let running = ev
        .iter()
        .find(|e| e["plugin"] == "good" && e["state"] == "running")
        .expect("good was seen running");
    assert!(running["eta_s"].is_null(), "no recorder, no ETA: {running}");
    assert!(
        ev.iter().any(|e| e["status"] == "50% halfway"),
        "the plugin's STATUS= was not shown: {ev:#?}"
    );
    let s = summary(&ev);
    assert_eq!(s["succeeded"], serde_json::json!(["good"]));
    assert_eq!(s["failed"], serde_json::json!(["bad"]));
    assert_eq!(s["skipped"], serde_json::json!(["inapplicable"]));
    assert_eq!(s["attached"], false);
    assert!(s["duration_s"].as_f64().unwrap() > 0.2, "{s}");
}

#[test]
fn only_starts_the_named_plugins_and_reasons_to_refuse() {
    let Some(tb) = Testbed::require() else { return };
    let exe = Path::new(env!("CARGO_BIN_EXE_update-all"));
    // Nothing installed yet: no target.
    tb.install_executable(exe, RUNNER);
    let out = runner(&tb, &["run"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        text(&out.stderr).contains("update-all.target is not installed"),
        "{}",
        show(&out)
    );

    tb.sh("ln -sf /dev/null /run/systemd/system/update-all-recorder.service");
    tb.install_update_all(&testbed::target_binary("update-all-generator"), Some(exe));
    let out = runner(&tb, &["run"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(text(&out.stdout), "update-all: nothing to run\n");

    tb.add_plugin(
        "first",
        "scope: system\ncan_separate_download: true",
        &script("", true),
    );
    tb.add_plugin(
        "second",
        "scope: system\nruns_after: [first]",
        &script("", true),
    );
    tb.add_plugin("other", "scope: system", &script("", true));
    tb.daemon_reload();

    let out = runner(&tb, &["run", "--only", "nope,first"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        text(&out.stderr).contains("unknown plugin nope; known plugins: first, other, second"),
        "{}",
        show(&out)
    );

    let out = runner(&tb, &["run", "--json", "--only", "second,first"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let ran = log(&tb);
    assert_eq!(
        ran.lines()
            .filter(|l| l.ends_with(" start"))
            .collect::<Vec<_>>(),
        [
            "first download start",
            "first update start",
            "second update start"
        ],
        "plan order, download first, nothing else"
    );
    let ev = events(&text(&out.stdout));
    assert_eq!(last_state(&ev, "first", "download"), "done");
    assert_eq!(
        summary(&ev)["succeeded"],
        serde_json::json!(["first", "second"])
    );

    // Not root: systemd refuses to start system units.
    let out = tb.exec(&[
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        RUNNER,
        "run",
        "--system",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(text(&out.stderr).contains("sudo"), "{}", show(&out));
    assert!(
        !log(&tb).contains("other"),
        "a refused run ran: {}",
        log(&tb)
    );
}

#[test]
fn attaches_to_a_run_in_progress() {
    let Some(tb) = boot() else { return };
    tb.add_plugin("slow", "scope: system", &script("sleep 1.5", true));
    tb.daemon_reload();
    tb.check(&["systemctl", "start", "--no-block", "update-all.target"]);
    let out = runner(&tb, &["run", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let ev = events(&text(&out.stdout));
    assert_eq!(ev[0]["event"], "attached", "{ev:#?}");
    assert_eq!(last_state(&ev, "slow", "update"), "done");
    assert_eq!(summary(&ev)["attached"], true);
    assert_eq!(
        log(&tb),
        "slow update start\nslow update end\n",
        "ran twice?"
    );
}

#[test]
fn cancel_stops_the_run_and_run_reports_it() {
    let Some(tb) = boot() else { return };
    tb.add_plugin("slow", "scope: system", &script("sleep 60", true));
    tb.add_plugin(
        "later",
        "scope: system\nruns_after: [slow]",
        &script("", true),
    );
    tb.daemon_reload();

    background(&tb, "run --json");
    wait_for("slow to run", Duration::from_secs(30), || {
        active_state(&tb, "update-all-slow.service") == "activating"
    });
    let out = runner(&tb, &["cancel"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        text(&out.stdout).contains("cancelled update-all-later.service, update-all-slow.service"),
        "{}",
        show(&out)
    );
    assert_eq!(
        background_status(&tb),
        1,
        "a cancelled run is not a success"
    );
    let ev = events(&std::fs::read_to_string(tb.host_path("/run/bg.out")).unwrap());
    assert_eq!(last_state(&ev, "slow", "update"), "cancelled");
    assert_eq!(last_state(&ev, "later", "update"), "cancelled");
    let stopped = active_state(&tb, "update-all-slow.service");
    assert!(stopped == "inactive" || stopped == "failed", "{stopped}");
    assert!(!log(&tb).contains("later"), "later ran after cancel");

    let out = runner(&tb, &["cancel"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        text(&out.stdout).contains("no run in progress"),
        "{}",
        show(&out)
    );
}

#[test]
fn ctrl_c_detaches_and_the_updates_go_on() {
    let Some(tb) = boot() else { return };
    tb.add_plugin("slow", "scope: system", &script("sleep 2", true));
    tb.daemon_reload();

    background(&tb, "run");
    wait_for("slow to run", Duration::from_secs(30), || {
        active_state(&tb, "update-all-slow.service") == "activating"
    });
    tb.check(&["sh", "-c", "kill -INT $(cat /run/bg.pid)"]);
    assert_eq!(background_status(&tb), 130);
    let err = std::fs::read_to_string(tb.host_path("/run/bg.err")).unwrap();
    for hint in [
        "go on",
        "update-all status",
        "journalctl",
        "update-all cancel",
    ] {
        assert!(err.contains(hint), "no {hint:?} in: {err}");
    }
    assert_eq!(active_state(&tb, "update-all-slow.service"), "activating");
    wait_for("slow to finish", Duration::from_secs(30), || {
        log(&tb).contains("slow update end")
    });
    assert_eq!(
        text(
            &tb.systemctl(&["show", "-P", "Result", "update-all-slow.service"])
                .stdout
        )
        .trim(),
        "success"
    );
}
