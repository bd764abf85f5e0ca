//! The statistics recorder on a real systemd 252 (the namespace test bed):
//! every plugin unit's run is recorded however the target was started,
//! `history`, `stats` and `status` read it back, a `kill -9` of the
//! recorder loses nothing, and a damaged database does not stop the run.

mod common;

use common::{boot, runner, wait_for, wait_recorded, RECORDER};
use serde_json::Value;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use testbed::{Testbed, RUNNER};

const DB: &str = "/var/lib/update-all/stats.db";

/// A plugin script: applicable, then `body` as its update.
fn script(body: &str) -> String {
    format!("#!/bin/sh\n[ \"$1\" = is-applicable ] && exit 0\n{body}\n")
}

fn runner_json(tb: &Testbed, args: &[&str]) -> Value {
    let out = runner(tb, args);
    assert!(
        out.status.success(),
        "update-all {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

fn show(tb: &Testbed, unit: &str, prop: &str) -> String {
    tb.check(&["systemctl", "show", "-P", prop, unit])
        .trim()
        .to_owned()
}

/// `history --json` with `extra` arguments (default: the last 1000).
fn recorder_log(tb: &Testbed) -> String {
    tb.check(&[
        "journalctl",
        "-u",
        RECORDER,
        "-o",
        "short-precise",
        "--no-pager",
    ])
}

fn records(tb: &Testbed, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["history", "--json"];
    args.extend_from_slice(if extra.is_empty() {
        &["--last", "1000"]
    } else {
        extra
    });
    runner_json(tb, &args)["records"]
        .as_array()
        .expect("records")
        .clone()
}

fn of<'a>(records: &'a [Value], plugin: &str) -> Vec<&'a Value> {
    records.iter().filter(|r| r["plugin"] == plugin).collect()
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

#[test]
fn every_outcome_is_recorded_and_aggregated() {
    let Some(tb) = boot() else { return };
    tb.add_plugin("ok", "scope: system", &script("sleep 0.2"));
    tb.add_plugin("bad", "scope: system", &script("echo broken; exit 3"));
    tb.add_plugin(
        "skip",
        "scope: system",
        "#!/bin/sh\n[ \"$1\" = is-applicable ] && exit 1\necho ran > /run/skip-ran\n",
    );
    tb.add_plugin(
        "slow",
        "scope: system\ntimeouts:\n  is_applicable: 1\n  update: 1",
        &script("sleep 30"),
    );
    tb.add_plugin(
        "hog",
        "scope: system",
        &script("exec python3 -c 'x = b\"a\" * (50 << 20); import time; time.sleep(1)'"),
    );
    tb.add_plugin(
        "oom",
        "scope: system\nresources:\n  memory_max: 32M",
        &script("exec python3 -c 'x = b\"a\" * (300 << 20)'"),
    );
    // 0.2 s, 0.6 s, then 1.0 s on the third run.
    tb.add_plugin(
        "varying",
        "scope: system",
        &script(
            "n=$(cat /run/varying 2>/dev/null || echo 0); n=$((n + 1)); echo $n > /run/varying\n\
             case $n in 1) sleep 0.2 ;; 2) sleep 0.6 ;; *) sleep 1.0 ;; esac",
        ),
    );
    // Fails on its second run only.
    tb.add_plugin(
        "flaky",
        "scope: system",
        &script(
            "n=$(cat /run/flaky 2>/dev/null || echo 0); n=$((n + 1)); echo $n > /run/flaky\n\
             [ $n -ne 2 ]",
        ),
    );
    tb.daemon_reload();

    let before = now_us();
    tb.check(&["systemctl", "start", "update-all.target"]);
    wait_recorded(&tb);
    let after = now_us();
    let first = records(&tb, &[]);
    assert_eq!(first.len(), 8, "{first:#?}");
    let one = |p: &str| {
        let v = of(&first, p);
        assert_eq!(v.len(), 1, "{p}: {first:#?}");
        v[0].clone()
    };
    let expect = [
        ("ok", "success"),
        ("bad", "failed"),
        ("skip", "skipped"),
        ("slow", "timeout"),
        ("hog", "success"),
        ("varying", "success"),
        ("flaky", "success"),
    ];
    let run_id = one("ok")["run_id"].clone();
    for (plugin, result) in expect {
        let r = one(plugin);
        assert_eq!(r["result"], result, "{r:#}");
        assert_eq!(r["run_id"], run_id, "one run: {r:#}\n{}", recorder_log(&tb));
        assert_eq!(r["phase"], "update");
        assert_eq!(r["unit"], format!("update-all-{plugin}.service"));
        assert_eq!(r["invocation_id"].as_str().unwrap().len(), 32, "{r:#}");
        let (start, end) = (
            r["started_us"].as_i64().unwrap(),
            r["ended_us"].as_i64().unwrap(),
        );
        assert!(before <= start && start <= end && end <= after, "{r:#}");
    }
    let oom = one("oom");
    assert!(
        oom["result"] == "oom" || oom["result"] == "signal",
        "MemoryMax enforced and recorded: {oom:#}"
    );
    assert!(!tb.host_path("/run/skip-ran").exists());
    assert_eq!(one("bad")["exit_code"], "exited");
    assert_eq!(one("bad")["exit_status"], 3);
    assert!(one("slow")["duration_s"].as_f64().unwrap() >= 1.9);
    let hog = one("hog");
    let peak = hog["memory_peak_bytes"].as_i64().expect("peak memory");
    assert!(peak >= 40 << 20, "hog peak {peak}: {hog:#}");
    assert!(hog["cpu_ns"].as_i64().expect("CPU time") > 0, "{hog:#}");

    // Each start is a new run.
    for _ in 0..2 {
        tb.check(&["systemctl", "start", "update-all.target"]);
        wait_recorded(&tb);
    }
    let all = records(&tb, &[]);
    assert_eq!(all.len(), 24);
    let mut runs: Vec<i64> = all.iter().map(|r| r["run_id"].as_i64().unwrap()).collect();
    runs.dedup();
    assert_eq!(runs.len(), 3, "three runs, in order: {runs:?}");
    assert!(runs.windows(2).all(|w| w[0] < w[1]), "{runs:?}");
    assert_eq!(records(&tb, &["--plugin", "hog", "--last", "2"]).len(), 2);

    let stats = runner_json(&tb, &["stats", "--json"]);
    let phase = |p: &str| {
        stats["phases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["plugin"] == p)
            .unwrap_or_else(|| panic!("{p}: {stats:#}"))
            .clone()
    };
    let varying = phase("varying");
    assert_eq!(varying["runs"], 3);
    assert_eq!(varying["success_rate"], 1.0);
    // Of its three durations (at least 0.2, 0.6 and 1.0 s, however loaded
    // the machine is): the middle one and the largest (nearest rank).
    let mut durations: Vec<f64> = of(&all, "varying")
        .iter()
        .map(|r| r["duration_s"].as_f64().unwrap())
        .collect();
    for (d, least) in durations.iter().zip([0.2, 0.6, 1.0]) {
        assert!(*d >= least, "{durations:?}");
    }
    durations.sort_by(f64::total_cmp);
    let close = |a: f64, b: f64| (a - b).abs() < 1e-3;
    let median = varying["median_s"].as_f64().unwrap();
    let p90 = varying["p90_s"].as_f64().unwrap();
    assert!(
        close(median, durations[1]),
        "median {median}: {durations:?}"
    );
    assert!(close(p90, durations[2]), "p90 {p90}: {durations:?}");
    let flaky = phase("flaky");
    assert!((flaky["success_rate"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-9);
    assert_eq!(
        (flaky["succeeded"].clone(), flaky["failed"].clone()),
        (2.into(), 1.into())
    );
    let skip = phase("skip");
    assert_eq!(skip["skipped"], 3);
    assert_eq!(skip["success_rate"], Value::Null);
    assert_eq!(phase("bad")["success_rate"], 0.0);
    assert_eq!(phase("oom")["success_rate"], 0.0);
    assert!(phase("hog")["max_memory_peak_bytes"].as_u64().unwrap() >= 40 << 20);

    // The ETA `run` shows would come from here; people get tables.
    let text = runner(&tb, &["stats"]);
    assert!(text.status.success());
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("varying") && text.contains("67%"), "{text}");
    // Anyone may read the system's statistics.
    let out = tb.exec(&[
        "runuser", "-u", "nobody", "--", RUNNER, "history", "--system",
    ]);
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("varying"),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let status = runner_json(&tb, &["status", "--json"]);
    assert_eq!(status["in_progress"], false);
    assert_eq!(status["run"]["id"].as_i64(), runs.last().copied());
    assert_eq!(status["units"].as_array().unwrap().len(), 8, "{status:#}");

    let size = std::fs::metadata(tb.host_path(DB)).unwrap().len();
    eprintln!("figures: database {size} bytes for 24 records");
}

#[test]
fn kill_9_of_the_recorder_loses_nothing() {
    let Some(tb) = boot() else { return };
    let names = ["a", "b", "c", "d"];
    let mut after: Option<&str> = None;
    for name in names {
        let deps = after.map_or(String::new(), |a| format!("\nruns_after: [{a}]"));
        tb.add_plugin(name, &format!("scope: system{deps}"), &script("sleep 0.8"));
        after = Some(name);
    }
    tb.daemon_reload();
    tb.check(&["systemctl", "start", "--no-block", "update-all.target"]);
    wait_for("a to finish", Duration::from_secs(20), || {
        show(&tb, "update-all-a.service", "Result") == "success"
            && show(&tb, "update-all-b.service", "ActiveState") == "activating"
    });
    let status = runner_json(&tb, &["status", "--json"]);
    assert_eq!(status["in_progress"], true, "{status:#}");
    tb.check(&["systemctl", "kill", "-s", "KILL", RECORDER]);
    wait_recorded(&tb);
    assert!(
        show(&tb, RECORDER, "NRestarts").parse::<u32>().unwrap() >= 1,
        "the recorder was not restarted"
    );
    let all = records(&tb, &[]);
    for name in names {
        assert_eq!(of(&all, name).len(), 1, "{name} recorded once: {all:#?}");
        assert_eq!(of(&all, name)[0]["result"], "success");
    }
    let run = &all[0]["run_id"];
    assert!(all.iter().all(|r| &r["run_id"] == run), "one run: {all:#?}");

    // Stopping the target (as `update-all cancel` does) stops the recorder
    // too, after the plugin units: it records them and ends its run.
    tb.check(&["systemctl", "start", "--no-block", "update-all.target"]);
    wait_for("a to run again", Duration::from_secs(20), || {
        show(&tb, "update-all-a.service", "ActiveState") == "activating"
    });
    tb.check(&["systemctl", "stop", "update-all.target"]);
    wait_recorded(&tb);
    let last = records(&tb, &["--last", "1"]);
    assert_eq!(last[0]["plugin"], "a", "{last:#?}\n{}", recorder_log(&tb));
    assert_eq!(last[0]["result"], "cancelled", "{last:#?}");
    assert_ne!(&last[0]["run_id"], run);
    let status = runner_json(&tb, &["status", "--json"]);
    assert!(status["run"]["ended_us"].is_i64(), "{status:#}");
    assert_eq!(status["run"]["id"], last[0]["run_id"]);

    // SQLite resolves the magic /proc/PID/root link to the host's root, so
    // a copy is checked (the recorder is gone: the file is all there is).
    let copy = tempfile::tempdir().unwrap();
    std::fs::copy(tb.host_path(DB), copy.path().join("stats.db")).unwrap();
    let conn = rusqlite::Connection::open_with_flags(
        copy.path().join("stats.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE,
    )
    .unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM records", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 5);
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}

#[test]
fn a_damaged_database_does_not_stop_the_run() {
    let Some(tb) = boot() else { return };
    tb.add_plugin("ok", "scope: system", &script("true"));
    tb.daemon_reload();
    tb.write(DB, vec![0x5a_u8; 8192], 0o644);
    tb.check(&["systemctl", "start", "update-all.target"]);
    wait_recorded(&tb);
    assert_eq!(
        show(&tb, "update-all-ok.service", "Result"),
        "success",
        "{}",
        tb.journal("update-all-ok.service")
    );
    let log = tb.journal(RECORDER);
    assert!(
        log.contains(DB) && log.contains("Move it aside"),
        "recorder log: {log}"
    );
    let out = runner(&tb, &["history"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(DB) && err.contains("damaged"), "{err}");
}

/// What recording costs, for the notes (not a timed test): 50 plugin units
/// (every fifth skipped), their run recorded; prints the recorder's peak
/// RSS and CPU time, how long after the last unit it was done, and the
/// database's size per record. `cargo test --release -p update-all --test
/// stats -- --ignored --nocapture figures`.
#[test]
#[ignore]
fn figures() {
    let Some(tb) = boot() else { return };
    for i in 0..50 {
        let body = if i % 5 == 0 {
            "#!/bin/sh\n[ \"$1\" = is-applicable ] && exit 1\n".to_owned()
        } else {
            script("sleep 0.2")
        };
        tb.add_plugin(&format!("p{i:02}"), "scope: system", &body);
    }
    tb.daemon_reload();
    for _ in 0..2 {
        tb.check(&["systemctl", "start", "update-all.target"]);
        wait_recorded(&tb);
    }
    let all = records(&tb, &[]);
    assert_eq!(all.len(), 100);
    let last_end = all.iter().filter_map(|r| r["ended_us"].as_i64()).max();
    // When the recorder logged the run over, to the microsecond.
    let journal = tb.check(&["journalctl", "-u", RECORDER, "-o", "json", "--no-pager"]);
    let over_us: i64 = journal
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["MESSAGE"].as_str().is_some_and(|m| m.contains("over:")))
        .filter_map(|e| e["__REALTIME_TIMESTAMP"].as_str()?.parse().ok())
        .max()
        .unwrap();
    let log = recorder_log(&tb);
    let size = std::fs::metadata(tb.host_path(DB)).unwrap().len();
    eprintln!(
        "recorder: {}",
        log.lines()
            .filter(|l| l.contains("over:"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    eprintln!(
        "recorder done {:.1} ms after the last unit ended",
        (over_us - last_end.unwrap()) as f64 / 1000.0
    );
    eprintln!(
        "database: {size} bytes for 100 records: {} bytes per record",
        size / 100
    );
    for args in [&["status"][..], &["history", "--last", "5"], &["stats"]] {
        let out = runner(&tb, args);
        eprintln!(
            "$ update-all {}\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

/// `MESSAGE_ID`s systemd's own unit messages carry (sd-messages.h).
const UNIT_STARTING: &str = "7d4958e842da4a758f6c1cdc7b36dcc5";
const UNIT_SUCCESS: &str = "7ad2d189f7e94e70a38c781354912448";
const UNIT_STARTED: &str = "39f53479d3a045ac8e11786248231fbf";
const UNIT_SKIPPED: &str = "0e4284a0caca4bfc81c0bb6786972673";
const UNIT_PROCESS_EXIT: &str = "98e322203f7a4ed290d09fe03c09fe15";
const UNIT_FAILURE_RESULT: &str = "d9b373ed55a64feb8242e02dbe79a49c";

/// The journal entries of `unit` as JSON lines, for failure messages.
fn unit_journal(tb: &Testbed, unit: &str) -> String {
    let out = tb.exec(&[
        "journalctl",
        "--no-pager",
        "-o",
        "json",
        &format!("UNIT={unit}"),
    ]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A plugin's invocations as recorded: (invocation, result), in order.
fn invocations(tb: &Testbed, plugin: &str) -> Vec<(String, String)> {
    of(&records(tb, &[]), plugin)
        .iter()
        .map(|r| {
            (
                r["invocation_id"].as_str().unwrap().to_owned(),
                r["result"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

const SYSTEM_FIELDS: [&str; 2] = ["UNIT", "INVOCATION_ID"];
const USER_FIELDS: [&str; 2] = ["USER_UNIT", "USER_INVOCATION_ID"];
/// How the forged invocations end: a failure.
const FORGED_END: [(&str, &str); 3] = [
    ("EXIT_CODE", "exited"),
    ("EXIT_STATUS", "1"),
    ("UNIT_RESULT", "exit-code"),
];

/// An ordinary user (nobody) logs the journal entries `entries` (each a
/// list of FIELD=value lines) through the journal's native protocol, as
/// `logger --journald` does.
fn forge(tb: &Testbed, entries: &[Vec<String>]) {
    for fields in entries {
        let script = format!(
            "setpriv --reuid=nobody --regid=nogroup --clear-groups logger --journald <<'EOF'\n{}\nEOF\n",
            fields.join("\n")
        );
        let out = tb.sh(&script);
        assert!(out.status.success(), "{}", common::show(&out));
    }
}

/// What `systemd` logs of one invocation of `unit` that ends with `end`
/// (its extra fields), as a forger would write it; `fields`: the names of
/// the unit and invocation fields (`UNIT`, `INVOCATION_ID` of the system
/// manager, `USER_UNIT`, `USER_INVOCATION_ID` of a user manager).
fn forged_invocation(
    fields: [&str; 2],
    unit: &str,
    invocation: &str,
    end: &[(&str, &str)],
) -> Vec<Vec<String>> {
    let entry = |id: &str, message: &str, extra: &[(&str, &str)]| {
        let mut v = vec![
            format!("MESSAGE_ID={id}"),
            format!("MESSAGE={unit}: {message}"),
            format!("{}={unit}", fields[0]),
            format!("{}={invocation}", fields[1]),
            "SYSLOG_IDENTIFIER=systemd".to_owned(),
        ];
        v.extend(extra.iter().map(|(k, v)| format!("{k}={v}")));
        v
    };
    vec![
        entry(UNIT_STARTING, "Starting", &[]),
        entry(UNIT_PROCESS_EXIT, "Main process exited", end),
        entry(UNIT_FAILURE_RESULT, "Failed", end),
        entry(UNIT_SUCCESS, "Deactivated successfully.", &[]),
        entry(UNIT_SKIPPED, "Skipped due to 'exec-condition'.", &[]),
    ]
}

#[test]
fn a_forged_journal_entry_changes_nothing() {
    let Some(tb) = boot() else { return };
    tb.add_plugin("ok", "scope: system", &script("true"));
    tb.add_plugin("bad", "scope: system", &script("exit 3"));
    tb.add_plugin(
        "skip",
        "scope: system",
        "#!/bin/sh\n[ \"$1\" = is-applicable ] && exit 1\ntrue\n",
    );
    // Holds the run open until the forger is done.
    tb.add_plugin(
        "hold",
        "scope: system",
        &script("i=0; while [ ! -e /run/go ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done"),
    );
    tb.daemon_reload();
    tb.check(&["systemctl", "start", "--no-block", "update-all.target"]);
    wait_for("the run to hold", Duration::from_secs(30), || {
        show(&tb, "update-all-hold.service", "ActiveState") == "activating"
            && show(&tb, "update-all-ok.service", "Result") == "success"
    });

    // A full invocation of each plugin's unit, ending every way there is,
    // with made-up invocation ids; for the skipped one a newer skip.
    let forged = |i: usize| format!("{i:032x}");
    let mut entries = Vec::new();
    for (i, plugin) in ["ok", "bad", "skip", "hold"].iter().enumerate() {
        let unit = format!("update-all-{plugin}.service");
        entries.extend(forged_invocation(
            SYSTEM_FIELDS,
            &unit,
            &forged(i + 1),
            &FORGED_END,
        ));
    }
    forge(&tb, &entries);
    // They are in the journal, under the forger's own credentials.
    let read_forged = || -> Vec<Value> {
        let mut args = vec!["journalctl", "--no-pager", "-o", "json"]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>();
        args.extend((1..=4).map(|i| format!("INVOCATION_ID={}", forged(i))));
        tb.check(&args)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    wait_for(
        "the forged entries in the journal",
        Duration::from_secs(30),
        || read_forged().len() == entries.len(),
    );
    let mine = read_forged();
    assert!(mine.iter().all(|e| e["_UID"] == "65534"), "{mine:#?}");
    tb.write("/run/go", "", 0o644);
    wait_recorded(&tb);

    // A second run: its recorder catches up on what the journal has.
    tb.check(&["systemctl", "start", "update-all.target"]);
    wait_recorded(&tb);
    // And a recorder started on its own, with nothing to run.
    tb.check(&["systemctl", "start", RECORDER]);
    wait_recorded(&tb);

    let all = records(&tb, &[]);
    let log = || recorder_log(&tb);
    assert_eq!(
        all.len(),
        8,
        "two runs of four plugins: {all:#?}\n{}",
        log()
    );
    let forged_ids: Vec<String> = (1..=4).map(forged).collect();
    for r in &all {
        let id = r["invocation_id"].as_str().unwrap();
        assert!(!forged_ids.iter().any(|f| f == id), "forged: {r:#}");
    }
    let stats = runner_json(&tb, &["stats", "--json"]);
    let phase = |p: &str| {
        let s = stats["phases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["plugin"] == p)
            .unwrap_or_else(|| panic!("{p}: {stats:#}"))
            .clone();
        (
            s["runs"].clone(),
            s["succeeded"].clone(),
            s["failed"].clone(),
            s["skipped"].clone(),
        )
    };
    let counts = |r: i32, s: i32, f: i32, k: i32| (r.into(), s.into(), f.into(), k.into());
    assert_eq!(phase("ok"), counts(2, 2, 0, 0), "{stats:#}");
    assert_eq!(phase("bad"), counts(2, 0, 2, 0), "{stats:#}");
    assert_eq!(phase("skip"), counts(2, 0, 0, 2), "{stats:#}");
    assert_eq!(phase("hold"), counts(2, 2, 0, 0), "{stats:#}");
}

/// Runs `sql` on the system's statistics database inside the instance
/// (the recorder is not running).
fn sql(tb: &Testbed, sql: &str) {
    let program = format!(
        "import sqlite3, sys\nc = sqlite3.connect('{DB}')\nc.executescript(sys.argv[1])\nc.commit()\nc.close()\n"
    );
    tb.check(&["python3", "-c", &program, sql]);
}

#[test]
fn a_recorder_that_starts_hours_later_begins_a_new_run() {
    let Some(tb) = boot() else { return };
    tb.add_plugin("a", "scope: system", &script("true"));
    tb.daemon_reload();
    tb.check(&["systemctl", "start", "update-all.target"]);
    wait_recorded(&tb);
    let first = records(&tb, &[]);
    assert_eq!(first.len(), 1, "{first:#?}");
    // As if its recorder had died at the end of that run, three hours ago,
    // and no recorder had come back since.
    let hours = 3 * 3600 * 1_000_000_i64;
    sql(
        &tb,
        &format!(
            "UPDATE runs SET ended_us = NULL, started_us = started_us - {hours};
             UPDATE records SET started_us = started_us - {hours}, ended_us = ended_us - {hours};"
        ),
    );
    let status = runner_json(&tb, &["status", "--json"]);
    assert!(status["run"]["ended_us"].is_null(), "{status:#}");

    tb.check(&["systemctl", "start", "update-all.target"]);
    wait_recorded(&tb);
    let all = records(&tb, &[]);
    assert_eq!(all.len(), 2, "{all:#?}");
    assert_ne!(
        all[0]["run_id"],
        all[1]["run_id"],
        "two runs: {all:#?}\n{}",
        recorder_log(&tb)
    );
    // The dead run is closed at its last record, the new one at its end.
    let status = runner_json(&tb, &["status", "--json"]);
    assert_eq!(status["run"]["id"], all[1]["run_id"], "{status:#}");
    assert!(status["run"]["ended_us"].is_i64(), "{status:#}");
    let copy = tempfile::tempdir().unwrap();
    std::fs::copy(tb.host_path(DB), copy.path().join("stats.db")).unwrap();
    let conn = rusqlite::Connection::open(copy.path().join("stats.db")).unwrap();
    let open: i64 = conn
        .query_row(
            "SELECT count(*) FROM runs WHERE ended_us IS NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(open, 0);
    let first_end: i64 = conn
        .query_row(
            "SELECT ended_us FROM runs WHERE id = ?1",
            [all[0]["run_id"].as_i64()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(Some(first_end), all[0]["ended_us"].as_i64());
}

/// The entries systemd itself (PID 1) logged with `message_id` about
/// `unit`, oldest first.
fn logged_by_systemd(tb: &Testbed, message_id: &str, unit: &str) -> Vec<Value> {
    tb.check(&[
        "journalctl",
        "--no-pager",
        "-o",
        "json",
        "_PID=1",
        &format!("MESSAGE_ID={message_id}"),
        &format!("UNIT={unit}"),
    ])
    .lines()
    .map(|l| serde_json::from_str(l).unwrap())
    .collect()
}

/// Starts `unit` without its dependencies (so without the recorder it
/// wants); says whether it succeeded.
fn start_alone(tb: &Testbed, unit: &str) -> bool {
    let out = tb.systemctl(&["start", "--job-mode=ignore-dependencies", unit]);
    out.status.success()
}

#[test]
fn catch_up_records_every_invocation_that_ended_without_a_recorder() {
    let Some(tb) = boot() else { return };
    // Fails on its second run only.
    tb.add_plugin(
        "twice",
        "scope: system",
        &script(
            "n=$(cat /run/twice 2>/dev/null || echo 0); n=$((n + 1)); echo $n > /run/twice\n\
             [ $n -ne 2 ] || exit 3",
        ),
    );
    tb.add_plugin(
        "skip",
        "scope: system",
        "#!/bin/sh\n[ \"$1\" = is-applicable ] && exit 1\ntrue\n",
    );
    tb.daemon_reload();
    let (twice, skip) = ("update-all-twice.service", "update-all-skip.service");
    let mut expected: Vec<(String, String)> = Vec::new();
    let mut runs = Vec::new();
    // Twice with no recorder, a recorder; then again (that recorder's
    // catch-up reads the journal from the last run on).
    for round in 0..2 {
        for _ in 0..2 {
            let n = expected.len();
            assert_eq!(start_alone(&tb, twice), n != 1, "run {}", n + 1);
            assert!(start_alone(&tb, skip));
            expected.push((
                String::new(),
                if n == 1 { "failed" } else { "success" }.into(),
            ));
        }
        // Every invocation as systemd logged it ("Starting …"), and each
        // one's end in the journal before the recorder starts.
        wait_for(
            "systemd's messages in the journal",
            Duration::from_secs(30),
            || {
                let ended = logged_by_systemd(&tb, UNIT_SUCCESS, twice).len()
                    + logged_by_systemd(&tb, UNIT_FAILURE_RESULT, twice).len();
                ended == expected.len()
                    && logged_by_systemd(&tb, UNIT_SKIPPED, skip).len() == expected.len()
            },
        );
        let started = logged_by_systemd(&tb, UNIT_STARTING, twice);
        assert_eq!(started.len(), expected.len());
        for (e, s) in expected.iter_mut().zip(&started) {
            e.0 = s["INVOCATION_ID"].as_str().unwrap().to_owned();
        }
        assert_eq!(show(&tb, RECORDER, "ActiveState"), "inactive");
        assert_eq!(records(&tb, &[]).len(), 4 * round);

        tb.check(&["systemctl", "start", RECORDER]);
        wait_recorded(&tb);
        let log = || {
            format!(
                "{}\n{}\n{}",
                recorder_log(&tb),
                unit_journal(&tb, twice),
                unit_journal(&tb, skip)
            )
        };
        assert_eq!(invocations(&tb, "twice"), expected, "{}", log());
        let skips = invocations(&tb, "skip");
        assert_eq!(skips.len(), expected.len(), "{skips:?}\n{}", log());
        assert!(skips.iter().all(|(_, r)| r == "skipped"), "{skips:?}");
        let mut ids: Vec<&str> = skips.iter().map(|(id, _)| id.as_str()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), skips.len(), "{skips:?}");
        // This round's invocations: one run of their own, found by
        // catching up.
        let all = records(&tb, &[]);
        let this_round = &all[all.len() - 4..];
        let run = this_round[0]["run_id"].as_i64().unwrap();
        assert!(this_round.iter().all(|r| r["run_id"] == run), "{all:#?}");
        runs.push(run);
    }
    assert_ne!(runs[0], runs[1]);
    let all = records(&tb, &[]);
    let failed = of(&all, "twice")[1];
    assert_eq!(failed["exit_code"], "exited", "{failed:#}");
    assert_eq!(failed["exit_status"], 3, "{failed:#}");
    // Nothing twice, however often a recorder starts.
    tb.check(&["systemctl", "start", RECORDER]);
    wait_recorded(&tb);
    assert_eq!(records(&tb, &[]).len(), 8);
}

/// Root's user manager and its statistics (see `Testbed::user_manager`).
const ROOT_USER: [(&str, &str); 2] = [
    ("XDG_RUNTIME_DIR", "/run/user/0"),
    ("XDG_STATE_HOME", "/run/user/0/state"),
];

#[test]
fn user_units_are_recorded_from_their_managers_entries_only() {
    let Some(tb) = boot() else { return };
    tb.install_update_all_for_users(&testbed::target_binary("update-all-generator"));
    // Fails on its second run only.
    tb.add_plugin(
        "mine",
        "scope: user",
        &script(
            "n=$(cat /run/mine 2>/dev/null || echo 0); n=$((n + 1)); echo $n > /run/mine\n\
             [ $n -ne 2 ] || exit 3",
        ),
    );
    tb.daemon_reload();
    tb.user_manager(0);
    let unit = "update-all-mine.service";
    let user = |args: &[&str]| {
        let mut all = vec!["systemctl", "--user"];
        all.extend_from_slice(args);
        tb.exec_env(&ROOT_USER, &all)
    };
    // Twice with no recorder (started without the dependencies that
    // include it), and in between a forged run of the unit, and a forged
    // skip, as the user manager would log them.
    for round in 0..2 {
        let out = user(&["start", "--job-mode=ignore-dependencies", unit]);
        assert_eq!(out.status.success(), round == 0, "{}", common::show(&out));
        forge(
            &tb,
            &forged_invocation(USER_FIELDS, unit, &format!("{round:032x}"), &FORGED_END),
        );
    }
    let manager = show(&tb, "user@0.service", "MainPID");
    let logged = |id: &str| -> Vec<Value> {
        tb.check(&[
            "journalctl",
            "--no-pager",
            "-o",
            "json",
            &format!("USER_UNIT={unit}"),
            &format!("MESSAGE_ID={id}"),
        ])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
    };
    let by_manager = |id: &str| -> Vec<Value> {
        let all = logged(id);
        all.into_iter()
            .filter(|e| e["_PID"] == manager.as_str())
            .collect()
    };
    wait_for(
        "both runs and both forgeries in the journal",
        Duration::from_secs(30),
        || {
            // A user manager logs a success as its start job's end only.
            by_manager(UNIT_STARTED).len() == 1
                && by_manager(UNIT_FAILURE_RESULT).len() == 1
                && logged(UNIT_SKIPPED).len() == 2
        },
    );
    let expected: Vec<(String, String)> = by_manager(UNIT_STARTING)
        .iter()
        .map(|e| e["USER_INVOCATION_ID"].as_str().unwrap().to_owned())
        .zip(["success", "failed"])
        .map(|(id, result)| (id, result.to_owned()))
        .collect();
    assert_eq!(expected.len(), 2, "{expected:?}");

    let out = user(&["start", RECORDER]);
    assert!(out.status.success(), "{}", common::show(&out));
    wait_for("the user recorder to exit", Duration::from_secs(30), || {
        let state = user(&["show", "-P", "ActiveState", RECORDER]);
        String::from_utf8_lossy(&state.stdout).trim() == "inactive"
    });
    let out = common::runner_env(&tb, &ROOT_USER, &["--user", "history", "--json"]);
    assert!(out.status.success(), "{}", common::show(&out));
    let history: Value = serde_json::from_slice(&out.stdout).unwrap();
    let recorded: Vec<(String, String)> = history["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["invocation_id"].as_str().unwrap().to_owned(),
                r["result"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(recorded, expected, "{}", tb.journal("user@0.service"));
}
