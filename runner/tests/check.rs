//! `update-all check`, `update-all run --dry-run` and the dynamic mutexes
//! of `update-all run --check` on a real systemd 252 (the namespace test
//! bed), with small fixture plugins written in sh.

mod common;

use common::{boot, runner, show, text};
use serde_json::Value;
use std::process::Output;
use testbed::{Testbed, RUNNER};

/// Where the fixtures log what they do, with timestamps.
const LOG: &str = "/run/ua.log";

/// A plugin script: `cases` maps a `case` pattern (commands) to shell
/// code, logged as "NAME COMMAND start|end SECONDS" around it.
/// is-applicable says yes unless a case says otherwise; unknown commands
/// answer as the protocol wants (exit 2).
fn script(name: &str, cases: &[(&str, &str)]) -> String {
    let mut s = format!(
        "#!/bin/sh\ncmd=$1\nlog() {{ echo \"{name} $cmd $1 $(date +%s.%N)\" >> {LOG}; }}\n\
         case \"$1\" in\n"
    );
    for (pattern, code) in cases {
        s.push_str(&format!(
            "{pattern}) log start; {code}\n    rc=$?; log end; exit $rc ;;\n"
        ));
    }
    if !cases.iter().any(|(c, _)| *c == "is-applicable") {
        s.push_str("is-applicable) exit 0 ;;\n");
    }
    s.push_str("*) echo \"unknown command \\\"$1\\\"\" >&2; exit 2 ;;\nesac\n");
    s
}

/// The estimate-update document for `packages` (name, from, to, bytes).
fn estimate(packages: &[(&str, &str, &str, u64)]) -> String {
    let list: Vec<Value> = packages
        .iter()
        .map(|(name, from, to, size)| {
            serde_json::json!({"name": name, "current_version": from, "new_version": to,
                               "download_size_bytes": size, "installed_size_bytes": null})
        })
        .collect();
    let total: u64 = packages.iter().map(|p| p.3).sum();
    let doc = serde_json::json!({"status": "success", "error": null, "progress": null,
        "data": {"applicable": true, "packages_to_update": list,
                 "total_download_size_bytes": total, "total_installed_size_bytes": null,
                 "estimated_time_seconds": 7, "affects_runtimes": [],
                 "affects_applications": [], "requires_reboot": false,
                 "security_updates": false}});
    format!("echo '{doc}'")
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not one JSON document ({e}):\n{}", show(out)))
}

/// The check's row of `plugin`.
fn row<'a>(report: &'a Value, plugin: &str) -> &'a Value {
    report["plugins"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["plugin"] == plugin))
        .unwrap_or_else(|| panic!("no row for {plugin}: {report:#}"))
}

/// The (start, end) times logged for `plugin`'s `command`, each run.
fn spans(tb: &Testbed, plugin: &str, command: &str) -> Vec<(f64, f64)> {
    let log = text(&tb.exec(&["cat", LOG]).stdout);
    let times = |edge: &str| -> Vec<f64> {
        log.lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                (f.len() == 4 && f[0] == plugin && f[1] == command && f[2] == edge)
                    .then(|| f[3].parse().unwrap())
            })
            .collect()
    };
    times("start").into_iter().zip(times("end")).collect()
}

/// Whether the table in `stdout` has a row of exactly these cells.
fn has_row(stdout: &str, cells: &[&str]) -> bool {
    stdout
        .lines()
        .any(|l| l.split_whitespace().eq(cells.iter().copied()))
}

fn overlap(a: (f64, f64), b: (f64, f64)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

fn remove_plugin(tb: &Testbed, name: &str) {
    tb.check(&["rm", &format!("{}/{name}.yaml", testbed::MANIFESTS)]);
}

#[test]
fn check_reports_every_plugin_and_exits_like_dnf_check_update() {
    let Some(tb) = boot() else { return };
    tb.add_plugin(
        "absent",
        "scope: system",
        &script("absent", &[("is-applicable", "false")]),
    );
    tb.add_plugin(
        "current",
        "scope: system",
        &script(
            "current",
            &[("estimate-update", &estimate(&[])), ("update", "true")],
        ),
    );
    // Nothing to update: 0.
    let out = runner(&tb, &["check"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("Nothing to update."), "{}", show(&out));
    assert!(
        has_row(&stdout, &["absent", "no", "-", "-", "-"]),
        "{}",
        show(&out)
    );
    assert!(
        has_row(&stdout, &["current", "yes", "0", "-", "-"]),
        "{}",
        show(&out)
    );
    assert!(
        spans(&tb, "absent", "estimate-update").is_empty(),
        "estimate-update of a plugin that does not apply"
    );

    // Updates: 100. Two plugins that share an estimate mutex take turns;
    // their settings reach them.
    let mutex = "static_mutexes:\n  estimate: ['tool:x']\nsettings:\n  colour: blue";
    for name in ["fresh", "fresh2"] {
        let work = format!(
            "[ \"$UPDATE_ALL_{}_COLOUR\" = blue ] || exit 9; sleep 0.4; {}",
            name.to_uppercase(),
            estimate(&[("libfoo", "1.0", "1.1", 2048), ("bar", "2", "3", 1024)])
        );
        tb.add_plugin(
            name,
            &format!("scope: system\n{mutex}"),
            &script(name, &[("estimate-update", &work), ("update", "true")]),
        );
    }
    let out = runner(&tb, &["check", "--json"]);
    assert_eq!(out.status.code(), Some(100), "{}", show(&out));
    let report = json(&out);
    let fresh = row(&report, "fresh");
    assert_eq!(fresh["verdict"], "updates", "{report:#}");
    assert_eq!(fresh["applicable"], true);
    assert_eq!(fresh["estimate"]["packages_to_update"][0]["name"], "libfoo");
    assert_eq!(fresh["estimate"]["total_download_size_bytes"], 3072);
    // No history yet: the plugin's own guess.
    assert_eq!(fresh["duration_s"], 7.0);
    assert_eq!(fresh["duration_from"], "plugin");
    assert_eq!(row(&report, "absent")["verdict"], "not_applicable");
    assert_eq!(row(&report, "absent")["applicable"], false);
    assert_eq!(row(&report, "current")["verdict"], "up_to_date");
    assert_eq!(report["totals"]["with_updates"], 2);
    assert_eq!(report["totals"]["packages"], 4);
    assert_eq!(report["totals"]["download_size_bytes"], 6144);
    let (a, b) = (
        spans(&tb, "fresh", "estimate-update")[0],
        spans(&tb, "fresh2", "estimate-update")[0],
    );
    assert!(
        !overlap(a, b),
        "estimates sharing tool:x overlapped: {a:?} {b:?}"
    );
    assert!(a.1 <= b.0, "plan order: fresh first: {a:?} {b:?}");

    // Broken plugins: 1, each with its message, the others still reported.
    tb.add_plugin(
        "garbled",
        "scope: system",
        &script("garbled", &[("estimate-update", "echo 'this is not JSON'")]),
    );
    tb.add_plugin(
        "odd",
        "scope: system",
        &script("odd", &[("estimate-update", "exit 7")]),
    );
    tb.add_plugin(
        "silent",
        "scope: system",
        &script("silent", &[("estimate-update", "true")]),
    );
    tb.add_plugin(
        "stuck",
        "scope: system\ntimeouts:\n  is_applicable: 1\n  estimate_update: 1",
        &script("stuck", &[("estimate-update", "sleep 60")]),
    );
    let started = std::time::Instant::now();
    let out = runner(&tb, &["check", "--json"]);
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let report = json(&out);
    for (plugin, kind, words) in [
        ("garbled", "not_json", "output is not JSON"),
        ("odd", "unexpected_exit", "exited with status 7"),
        ("silent", "empty", "printed nothing on stdout"),
        ("stuck", "timed_out", "did not finish within 2 s"),
    ] {
        let r = row(&report, plugin);
        assert_eq!(r["verdict"], "failed", "{r:#}");
        assert_eq!(r["error"]["kind"], kind, "{r:#}");
        let message = r["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("plugin `{plugin}` estimate-update: ")),
            "{message}"
        );
        assert!(message.contains(words), "{message}");
        assert!(
            message.contains(&format!("journalctl -u update-all--check-{plugin}.service")),
            "{message}"
        );
    }
    assert_eq!(row(&report, "fresh")["verdict"], "updates");
    assert_eq!(report["totals"]["failed"], 4);
    assert!(
        took.as_secs_f64() < 8.0,
        "the hung plugin held the check up: {took:?}"
    );
    // The text form names them too.
    let out = runner(&tb, &["check"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("Failed (4):"), "{stdout}");
    assert!(
        has_row(&stdout, &["stuck", "yes", "failed", "-", "-"]),
        "{stdout}"
    );
    assert!(
        stdout.contains("2 plugins with updates: 4 packages, 6.0 KiB to download"),
        "{stdout}"
    );
    // Nothing is left behind: the transient units are gone.
    let units = tb.check(&[
        "systemctl",
        "list-units",
        "--all",
        "--plain",
        "update-all--check-*",
    ]);
    assert!(!units.contains("update-all--check-"), "{units}");

    // --dry-run: the plan and the check, and no plugin unit starts.
    for name in ["garbled", "odd", "silent", "stuck"] {
        remove_plugin(&tb, name);
    }
    tb.daemon_reload();
    tb.check(&["rm", "-f", LOG]);
    let out = runner(&tb, &["run", "--dry-run"]);
    assert_eq!(out.status.code(), Some(100), "{}", show(&out));
    let stdout = text(&out.stdout);
    for expected in ["Dry run:", "Wave 1:", "Check:", "2 plugins with updates"] {
        assert!(stdout.contains(expected), "no {expected:?}:\n{stdout}");
    }
    assert!(
        has_row(&stdout, &["absent", "no", "-", "-", "-"]),
        "{stdout}"
    );
    let out = runner(&tb, &["run", "--dry-run", "--json", "--only", "fresh"]);
    assert_eq!(out.status.code(), Some(100), "{}", show(&out));
    let doc = json(&out);
    assert_eq!(doc["dry_run"], true);
    assert!(doc["plan"]["waves"].is_array(), "{doc:#}");
    assert_eq!(doc["check"]["plugins"].as_array().unwrap().len(), 1);
    let log = text(&tb.exec(&["cat", LOG]).stdout);
    assert!(
        !log.lines().any(|l| l.contains(" update ")),
        "a plugin updated during a dry run:\n{log}"
    );
    for name in ["fresh", "fresh2", "current", "absent"] {
        let unit = format!("update-all-{name}.service");
        let since = tb.check(&[
            "systemctl",
            "show",
            "-P",
            "InactiveExitTimestampMonotonic",
            &unit,
        ]);
        assert_eq!(since.trim(), "0", "{unit} was started by a dry run");
    }
    let db = tb.exec(&["ls", "/var/lib/update-all"]);
    assert!(
        text(&db.stdout).trim().is_empty(),
        "a dry run wrote the statistics: {}",
        text(&db.stdout)
    );
    let out = runner(&tb, &["run", "--dry-run", "--only", "nope"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));

    // Not root: not authorized, and told what to do instead.
    let out = tb.exec(&[
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        RUNNER,
        "--system",
        "check",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        text(&out.stderr).contains("not authorized to manage system units"),
        "{}",
        show(&out)
    );

    // User scope: root's own service manager runs the units (it gives
    // them XDG_RUNTIME_DIR, the system manager does not).
    tb.user_manager(0);
    let work = format!(
        "[ \"$XDG_RUNTIME_DIR\" = /run/user/0 ] || exit 9; {}",
        estimate(&[("tool", "1", "2", 10)])
    );
    tb.add_plugin(
        "mine",
        "scope: user",
        &script("mine", &[("estimate-update", &work)]),
    );
    let out = tb.exec_env(
        &[("XDG_RUNTIME_DIR", "/run/user/0")],
        &[RUNNER, "--user", "check", "--json"],
    );
    assert_eq!(out.status.code(), Some(100), "{}", show(&out));
    let report = json(&out);
    assert_eq!(report["plugins"].as_array().unwrap().len(), 1, "{report:#}");
    assert_eq!(row(&report, "mine")["verdict"], "updates", "{report:#}");
    tb.check(&[
        "test",
        "-s",
        "/run/user/0/update-all/check/mine.estimate-update",
    ]);
}

#[test]
fn dynamic_mutexes_order_a_checked_run_and_leave_nothing_behind() {
    let Some(tb) = boot() else { return };
    // No static conflict; both report runtime:python for their update.
    for name in ["py1", "py2"] {
        tb.add_plugin(
            name,
            "scope: system\nsupports_dynamic_mutexes: true",
            &script(
                name,
                &[
                    (
                        "estimate-update",
                        &estimate(&[("python3", "3.11", "3.12", 1000)]),
                    ),
                    ("update-mutexes", "echo runtime:python"),
                    ("update", "sleep 0.6"),
                    (
                        "download-mutexes|estimate-update-mutexes|download-dependency|\
                         update-dependency|estimate-update-dependency|runs-after",
                        "true",
                    ),
                ],
            ),
        );
    }
    tb.daemon_reload();

    // Without --check the two run side by side.
    let out = runner(&tb, &["run"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let (a, b) = (
        spans(&tb, "py1", "update")[0],
        spans(&tb, "py2", "update")[0],
    );
    assert!(
        overlap(a, b),
        "without the check they should overlap: {a:?} {b:?}"
    );

    // The check sees the dynamic mutexes, and the recorded run.
    for _ in 0..200 {
        let state = tb.systemctl(&["is-active", "update-all-recorder.service"]);
        if !text(&state.stdout).starts_with("activ") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = runner(&tb, &["check", "--json"]);
    assert_eq!(out.status.code(), Some(100), "{}", show(&out));
    let report = json(&out);
    assert_eq!(
        row(&report, "py1")["dynamic"]["mutexes"]["update"],
        serde_json::json!(["runtime:python"]),
        "{report:#}"
    );
    assert_eq!(
        row(&report, "py1")["duration_from"],
        "history",
        "{report:#}"
    );

    // With --check, one after the other; the drop-in is gone afterwards.
    let out = runner(&tb, &["run", "--check"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(
            "update-all-py2.service starts after update-all-py1.service: mutex runtime:python"
        ),
        "{}",
        show(&out)
    );
    let (a, b) = (
        spans(&tb, "py1", "update")[1],
        spans(&tb, "py2", "update")[1],
    );
    assert!(
        !overlap(a, b),
        "runtime:python did not serialize: {a:?} {b:?}"
    );
    let left = tb.exec(&["ls", "/run/systemd/system/update-all-py2.service.d"]);
    assert!(
        !left.status.success(),
        "drop-in left: {}",
        text(&left.stdout)
    );
    let after = tb.check(&["systemctl", "show", "-P", "After", "update-all-py2.service"]);
    assert!(!after.contains("update-all-py1.service"), "{after}");

    // A plain run afterwards is back to the static ordering.
    let out = runner(&tb, &["run"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let (a, b) = (
        spans(&tb, "py1", "update")[2],
        spans(&tb, "py2", "update")[2],
    );
    assert!(overlap(a, b), "{a:?} {b:?}");
}
