//! Diagnostics with levels on a real systemd 252 (the namespace test bed):
//! `journalctl -p warning -t update-all` shows every problem of a run (a
//! failed plugin unit, a broken input), with the run, the plugin and the
//! unit as journal fields, and nothing for a run that went well; off the
//! journal the same diagnostics are plain `update-all: warning: …` lines.

mod common;

use common::{boot, runner, show, text, wait_recorded, RECORDER};
use serde_json::Value;
use std::thread::sleep;
use std::time::{Duration, Instant};
use testbed::{Testbed, RUNNER};

const DB: &str = "/var/lib/update-all/stats.db";
const CONFIG: &str = "/run/update-all/config.d/50-typo.yaml";

/// A plugin script: applicable, then `body` as its update.
fn script(body: &str) -> String {
    format!("#!/bin/sh\n[ \"$1\" = is-applicable ] && exit 0\n{body}\n")
}

/// `journalctl -t update-all ARGS`: this boot's entries of update-all.
fn entries(tb: &Testbed, args: &[&str]) -> Vec<Value> {
    let mut all = vec![
        "journalctl",
        "-q",
        "--no-pager",
        "-o",
        "json",
        "-t",
        "update-all",
    ];
    all.extend_from_slice(args);
    tb.check(&all)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// `journalctl -p warning -t update-all`: every problem so far.
fn problems(tb: &Testbed) -> Vec<Value> {
    entries(tb, &["-p", "warning"])
}

fn field<'a>(entry: &'a Value, name: &str) -> &'a str {
    entry[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} (once, as text) in {entry:#}"))
}

fn message(entry: &Value) -> &str {
    field(entry, "MESSAGE")
}

/// The entries of `journalctl -t update-all ARGS`, once one of them
/// satisfies `wanted` (the journal may take a moment).
fn await_entry(
    tb: &Testbed,
    args: &[&str],
    what: &str,
    wanted: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let got = entries(tb, args);
        if got.iter().any(&wanted) {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {got:#?}"
        );
        sleep(Duration::from_millis(50));
    }
}

#[test]
fn problems_of_a_run_are_warnings_with_its_fields_and_a_good_run_has_none() {
    let Some(tb) = boot() else { return };
    tb.add_plugin("fine", "scope: system", &script("true"));
    tb.add_plugin("bad", "scope: system", &script("echo broken >&2; exit 3"));
    tb.daemon_reload();

    // A run that goes well: the recorder's closing line at info, nothing
    // at warning or above.
    let out = runner(&tb, &["run", "--only", "fine"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    wait_recorded(&tb);
    let all = await_entry(&tb, &[], "the recorder's closing line", |e| {
        message(e).contains(" over: 1 succeeded, 0 failed")
    });
    let over = all.iter().find(|e| message(e).contains(" over: ")).unwrap();
    assert_eq!(field(over, "PRIORITY"), "6", "{over:#}");
    assert_eq!(field(over, "_SYSTEMD_UNIT"), RECORDER, "{over:#}");
    assert!(field(over, "UPDATE_ALL_RUN").parse::<i64>().unwrap() > 0);
    let quiet = problems(&tb);
    assert!(quiet.is_empty(), "a good run logged problems: {quiet:#?}");

    // A failed plugin: one warning, with the run, the plugin and the unit.
    let out = runner(&tb, &["run"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    wait_recorded(&tb);
    let warned = |e: &Value| e["UNIT"] == "update-all-bad.service";
    let found = await_entry(&tb, &["-p", "warning"], "the failure", warned);
    assert_eq!(found.len(), 1, "only the failure: {found:#?}");
    let failure = &found[0];
    assert_eq!(
        message(failure),
        "update-all-bad.service failed: exit status 3"
    );
    assert_eq!(field(failure, "PRIORITY"), "4");
    assert_eq!(field(failure, "SYSLOG_IDENTIFIER"), "update-all");
    assert_eq!(field(failure, "UPDATE_ALL_PLUGIN"), "bad");
    assert_eq!(field(failure, "_SYSTEMD_UNIT"), RECORDER);
    // The run is the one `history` has the failure in.
    let history = runner(&tb, &["history", "--json", "--last", "1000"]);
    let records: Value = serde_json::from_slice(&history.stdout).expect("JSON");
    let bad = records["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["plugin"] == "bad")
        .unwrap_or_else(|| panic!("bad is not recorded: {records:#}"));
    assert_eq!(field(failure, "UPDATE_ALL_RUN"), bad["run_id"].to_string());

    // Broken inputs: a typo in the configuration (line 2, column 3) and a
    // damaged statistics database: warnings that name the file, and what
    // applies instead.
    tb.write(CONFIG, "conditions:\n  skip_on_batery: false\n", 0o644);
    tb.write(DB, vec![0x5a_u8; 8192], 0o644);
    let out = runner(&tb, &["run", "--only", "fine"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    wait_recorded(&tb);
    let damaged = |e: &Value| message(e).contains(DB);
    let typo = |e: &Value| message(e).starts_with(&format!("{CONFIG}:2:3: "));
    let fallback = |e: &Value| message(e).starts_with("in effect instead: ");
    let deadline = Instant::now() + Duration::from_secs(15);
    let found = loop {
        let found = problems(&tb);
        let all_there = [&damaged as &dyn Fn(&Value) -> bool, &typo, &fallback]
            .iter()
            .all(|kind| found.iter().any(kind));
        if all_there {
            break found;
        }
        assert!(Instant::now() < deadline, "the broken inputs: {found:#?}");
        sleep(Duration::from_millis(50));
    };
    // Only the failure before and the broken inputs now, all from the
    // recorder (`run` said its part on its terminal).
    for e in &found {
        assert!(
            warned(e) || damaged(e) || typo(e) || fallback(e),
            "not a problem of these runs: {e:#}"
        );
        assert_eq!(field(e, "PRIORITY"), "4", "{e:#}");
        assert_eq!(field(e, "_SYSTEMD_UNIT"), RECORDER, "{e:#}");
    }
    assert!(text(&out.stderr).contains(&format!("update-all: warning: {CONFIG}:2:3: ")));
    tb.exec(&["rm", CONFIG]);

    // The runner itself, its standard error being the journal (as
    // update-all.service has it): an error is an entry of priority 3, not a
    // line of text.
    let out = tb.exec(&[
        "systemd-run",
        "--wait",
        "--quiet",
        "--unit=ua-log-test",
        RUNNER,
        "schedule",
        "enable",
        "--interval",
        "Mon..Fri 25:00",
    ]);
    assert!(!out.status.success(), "{}", show(&out));
    let unit = ["-p", "err", "_SYSTEMD_UNIT=ua-log-test.service"];
    let found = await_entry(&tb, &unit, "the runner's error", |e| {
        message(e).contains("invalid calendar expression")
    });
    assert_eq!(field(&found[0], "PRIORITY"), "3", "{found:#?}");
    assert_eq!(field(&found[0], "_SYSTEMD_UNIT"), "ua-log-test.service");
    assert!(!message(&found[0]).starts_with("update-all:"));
}

/// Off the journal (a pipe here), the same diagnostics are plain lines on
/// standard error, with their level; info and debug by `$UPDATE_ALL_LOG`.
#[test]
fn off_the_journal_diagnostics_are_plain_lines_with_their_level() {
    let Some(tb) = boot() else { return };
    let out = runner(&tb, &["schedule", "enable", "--interval", "Mon..Fri 25:00"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = text(&out.stderr);
    assert!(
        err.starts_with("update-all: error: ") && err.contains("invalid calendar expression"),
        "{}",
        show(&out)
    );
    // Errors only: the error is still said.
    let out = common::runner_env(
        &tb,
        &[("UPDATE_ALL_LOG", "error")],
        &["schedule", "enable", "--interval", "Mon..Fri 25:00"],
    );
    assert!(
        text(&out.stderr).contains("update-all: error: "),
        "{}",
        show(&out)
    );
    // Nothing at all.
    let out = common::runner_env(
        &tb,
        &[("UPDATE_ALL_LOG", "off")],
        &["schedule", "enable", "--interval", "Mon..Fri 25:00"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_eq!(text(&out.stderr), "", "{}", show(&out));
}

/// `update-all run` typed at a terminal (a pipe here): its own problems
/// are plain lines for whoever typed it, and entries in the journal too,
/// from its own process, so `journalctl -p warning -t update-all` has them
/// as it has a timer's; a broken configuration is left to the recorder.
#[test]
fn a_run_at_a_terminal_logs_its_own_problems_to_the_journal_too() {
    let Some(tb) = boot() else { return };
    tb.add_plugin("fine", "scope: system", &script("true"));
    tb.daemon_reload();
    // logind gone (and not to be activated again): the run cannot ask it
    // about the power supply it was told to mind.
    tb.check(&["systemctl", "mask", "--runtime", "systemd-logind.service"]);
    tb.check(&["systemctl", "stop", "systemd-logind.service"]);
    tb.write(
        "/run/update-all/config.d/50-battery.yaml",
        "conditions:\n  skip_on_battery: true\n",
        0o644,
    );
    let out = runner(&tb, &["run", "--only", "fine"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let said = "cannot ask logind about the power supply";
    assert!(
        text(&out.stderr).contains(&format!("update-all: warning: {said}")),
        "{}",
        show(&out)
    );
    wait_recorded(&tb);
    let found = await_entry(&tb, &["-p", "warning"], "the run's warning", |e| {
        message(e).starts_with(said)
    });
    let own: Vec<_> = found
        .iter()
        .filter(|e| message(e).starts_with(said))
        .collect();
    assert_eq!(own.len(), 1, "said once: {found:#?}");
    assert_eq!(field(own[0], "PRIORITY"), "4", "{:#}", own[0]);
    assert!(own[0].get("_SYSTEMD_UNIT").is_none_or(|u| u != RECORDER));
    // Nothing else but what logind's absence causes (the end-of-run
    // notification cannot find the sessions either): the run went well.
    for e in &found {
        assert!(message(e).contains("logind"), "{e:#}");
    }
}

/// A process that logs and exits before journald reads its entry (here
/// journald is stopped meanwhile, as a busy journald is late) still has its
/// lines in `journalctl -u` of its unit: journald cannot find a gone
/// process's cgroup, so update-all names its unit in the entry itself.
#[test]
fn lines_of_a_process_gone_before_journald_reads_them_are_in_journalctl_u() {
    let Some(tb) = boot() else { return };
    let unit = "ua-short-lived.service";
    // `plugin-exec` of a program that is not there: one error line, and
    // out at once.
    tb.write(
        format!("/run/systemd/system/{unit}"),
        format!("[Service]\nType=oneshot\nExecStart={RUNNER} plugin-exec -- /nonexistent/ua-plugin update\n"),
        0o644,
    );
    tb.daemon_reload();
    let journald = tb.check(&["systemctl", "show", "-P", "MainPID", "systemd-journald"]);
    let journald = journald.trim();
    tb.check(&["kill", "-STOP", journald]);
    let started = tb.systemctl(&["start", unit]);
    tb.check(&["kill", "-CONT", journald]);
    assert!(!started.status.success(), "it fails: {}", show(&started));
    let got = await_entry(&tb, &["-u", unit], "the error line under -u", |e| {
        message(e).contains("/nonexistent/ua-plugin")
    });
    let line = got
        .iter()
        .find(|e| message(e).contains("/nonexistent/ua-plugin"))
        .expect("found");
    assert_eq!(field(line, "OBJECT_SYSTEMD_UNIT"), unit, "{line:#}");
    assert_eq!(field(line, "PRIORITY"), "3", "{line:#}");
}
