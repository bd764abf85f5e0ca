//! Pre-flight checks against a real systemd 252 (the namespace test bed):
//! free disk space per plugin (the `writes:` of its manifest, checked by
//! its units' `ExecCondition=`), and load and memory before a scheduled
//! run (`conditions.max_load`, `conditions.min_available_memory`).

mod common;

use common::{boot, runner, show, text, unit_property, wait_for, wait_recorded};
use serde_json::Value;
use std::time::Duration;
use testbed::Testbed;

/// Where the `big` plugin's downloads land: a tmpfs inside the instance.
const CACHE: &str = "/var/tmp/big-cache";

/// A plugin whose estimate says 5 MB to download and 1 MB to install, and
/// whose download and update leave `/run/NAME.PHASE` behind.
fn plugin(name: &str) -> String {
    format!(
        "#!/bin/sh\n\
         case \"$1\" in\n\
         is-applicable) exit 0 ;;\n\
         estimate-update) echo 'estimating' >&2; printf '%s\\n' '{{\"status\":\"success\",\"data\":{{\"packages_to_update\":[{{\"name\":\"big\",\"download_size_bytes\":5000000,\"installed_size_bytes\":1000000}}]}},\"error\":null,\"progress\":null}}' ;;\n\
         download|update) echo ran > /run/{name}.$1; printf '%s\\n' '{{\"status\":\"success\",\"data\":{{}},\"error\":null,\"progress\":null}}' ;;\n\
         *) exit 2 ;;\n\
         esac\n"
    )
}

fn ran(tb: &Testbed, name: &str, phase: &str) -> bool {
    tb.exec(&["test", "-e", &format!("/run/{name}.{phase}")])
        .status
        .success()
}

fn events(out: &std::process::Output) -> Vec<Value> {
    text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The last state event of `plugin`'s `phase` in `run --json`'s output.
fn last<'a>(events: &'a [Value], plugin: &str, phase: &str) -> &'a Value {
    events
        .iter()
        .rev()
        .find(|e| e["event"] == "state" && e["plugin"] == plugin && e["phase"] == phase)
        .unwrap_or_else(|| panic!("no state for {plugin} {phase}: {events:#?}"))
}

/// A tmpfs of `size` at [`CACHE`], inside the instance.
fn cache_of(tb: &Testbed, size: &str) {
    let _ = tb.exec(&["umount", CACHE]);
    tb.check(&["mkdir", "-p", CACHE]);
    tb.check(&[
        "mount",
        "-t",
        "tmpfs",
        "-o",
        &format!("size={size}"),
        "tmpfs",
        CACHE,
    ]);
}

#[test]
fn a_plugin_without_room_for_its_estimate_is_skipped_with_the_reason_and_the_others_run() {
    let Some(tb) = boot() else { return };
    tb.add_plugin(
        "big",
        &format!("scope: system\ncan_separate_download: true\nwrites: [{CACHE}]"),
        &plugin("big"),
    );
    tb.add_plugin("small", "scope: system", &plugin("small"));
    tb.daemon_reload();
    cache_of(&tb, "2m");

    let out = runner(&tb, &["run", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let ev = events(&out);
    // 5 MB + 1 MB, a tenth more and 32 MiB of margin, on a 2 MiB tmpfs.
    let reason = format!("needs 38.3 MiB on {CACHE}, 2.0 MiB free");
    for phase in ["download", "update"] {
        let e = last(&ev, "big", phase);
        assert_eq!(e["state"], "skipped", "{e}");
        assert_eq!(e["detail"], reason.as_str(), "{e}");
        assert!(!ran(&tb, "big", phase), "big's {phase} must not run");
        let unit = if phase == "download" {
            "update-all-big-download.service"
        } else {
            "update-all-big.service"
        };
        // The update's condition takes the download's word for it, with
        // no second estimate.
        let (said, estimated) = if phase == "download" {
            (format!("big is skipped: it {reason}"), true)
        } else {
            (
                format!("big is skipped, as its download was: it {reason}"),
                false,
            )
        };
        // journald takes the condition's lines from its stream in its own
        // time: the unit may have ended before they are in the journal.
        let mut journal = String::new();
        wait_for(
            &format!("{said:?} in {unit}'s journal"),
            Duration::from_secs(30),
            || {
                journal = tb.journal(unit);
                journal.contains(&said)
            },
        );
        assert_eq!(journal.contains("estimating"), estimated, "{journal}");
        assert_eq!(unit_property(&tb, unit, "Result"), "exec-condition");
    }
    assert_eq!(last(&ev, "small", "update")["state"], "done");
    assert!(ran(&tb, "small", "update"));
    wait_recorded(&tb);
    let status = runner(&tb, &["status", "--json"]);
    let status: Value = serde_json::from_slice(&status.stdout).expect("JSON");
    let state = |unit: &str| {
        status["units"]
            .as_array()
            .and_then(|u| u.iter().find(|u| u["unit"] == unit))
            .map(|u| u["state"].clone())
            .unwrap_or_else(|| panic!("no {unit}: {status:#}"))
    };
    assert_eq!(state("update-all-big.service"), "skipped", "{status:#}");
    assert_eq!(state("update-all-small.service"), "success", "{status:#}");
    // After the run, status tells why too: the recorder kept the reason.
    let big = status["units"]
        .as_array()
        .and_then(|u| u.iter().find(|u| u["unit"] == "update-all-big.service"))
        .expect("big's row");
    assert_eq!(big["detail"], reason.as_str(), "{status:#}");
    let plain = runner(&tb, &["status"]);
    let line = format!("skipped: {reason}");
    assert!(
        text(&plain.stdout).contains(&line),
        "{line:?} in {}",
        show(&plain)
    );

    // Plain output: the reason on the row, once it is skipped.
    let out = runner(&tb, &["run"]);
    assert!(
        !text(&out.stdout).contains("running: skipped"),
        "{}",
        show(&out)
    );
    assert!(
        text(&out.stdout).lines().any(
            |l| l.starts_with("big update: skipped in ") && l.ends_with(&format!("({reason})"))
        ),
        "{}",
        show(&out)
    );

    // With room: it runs, and the row says nothing of space.
    cache_of(&tb, "64m");
    let out = runner(&tb, &["run", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let ev = events(&out);
    for phase in ["download", "update"] {
        let e = last(&ev, "big", phase);
        assert_eq!(e["state"], "done", "{e}");
        assert!(ran(&tb, "big", phase), "big's {phase}");
    }
    assert_eq!(
        unit_property(&tb, "update-all-big.service", "StatusText"),
        "update finished"
    );
    // One estimate per run: the download's condition's.
    let estimates = |unit: &str| tb.journal(unit).matches("estimating").count();
    assert_eq!(estimates("update-all-big-download.service"), 3, "one a run");
    assert_eq!(estimates("update-all-big.service"), 0);
}

/// Runs the timer's run (`--system run --scheduled`) under `conditions`,
/// and returns its output.
fn scheduled(tb: &Testbed, conditions: &str, extra: &[&str]) -> std::process::Output {
    tb.write(
        "/run/update-all/config.d/50-calm.yaml",
        format!("conditions:\n  wait_for_network: false\n  skip_on_metered: false\n{conditions}"),
        0o644,
    );
    let mut args = vec!["--system", "run", "--scheduled"];
    args.extend_from_slice(extra);
    runner(tb, &args)
}

/// The latest skip `status --json` reports.
fn skip(tb: &Testbed) -> Value {
    let out = runner(tb, &["status", "--json"]);
    let status: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    status["skipped"].clone()
}

#[test]
fn a_scheduled_run_waits_for_calm_then_skips_and_force_runs() {
    let Some(tb) = boot() else { return };
    tb.add_plugin("small", "scope: system", &plugin("small"));
    tb.daemon_reload();

    // Load: any load at all is too much. An idle machine gets some.
    let loaded = || {
        let avg = tb.check(&["cat", "/proc/loadavg"]);
        avg.split(' ').next().unwrap_or("0") != "0.00"
    };
    if !loaded() {
        tb.check(&[
            "systemd-run",
            "--unit=busy",
            "sh",
            "-c",
            "while :; do :; done",
        ]);
        wait_for("some load", Duration::from_secs(30), loaded);
        tb.check(&["systemctl", "stop", "busy"]);
    }
    let out = scheduled(&tb, "  max_load: 0.0001\n  wait_max: 1s\n", &[]);
    assert_eq!(out.status.code(), Some(75), "{}", show(&out));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("skipped: load ")
            && stdout.contains(" per CPU, above max_load 0.0001 (waited 1.0s)"),
        "{}",
        show(&out)
    );
    assert!(
        text(&out.stderr).contains("waiting for the machine to calm down: load"),
        "{}",
        show(&out)
    );
    assert!(!ran(&tb, "small", "update"));
    let s = skip(&tb);
    assert!(
        s["reason"]
            .as_str()
            .unwrap()
            .contains("above max_load 0.0001"),
        "{s:#}"
    );
    assert_eq!(s["trigger"], "timer", "{s:#}");

    // Not a scheduled run: no wait, it runs.
    let out = runner(&tb, &["--system", "run"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(ran(&tb, "small", "update"));
    tb.check(&["rm", "/run/small.update"]);

    // Memory: more than any machine has.
    let out = scheduled(&tb, "  min_available_memory: 64T\n  wait_max: 0\n", &[]);
    assert_eq!(out.status.code(), Some(75), "{}", show(&out));
    assert!(
        text(&out.stdout).contains("of memory available, below min_available_memory 64.0 TiB"),
        "{}",
        show(&out)
    );
    assert!(!ran(&tb, "small", "update"));
    let s = skip(&tb);
    assert!(
        s["reason"]
            .as_str()
            .unwrap()
            .contains("below min_available_memory 64.0 TiB"),
        "{s:#}"
    );

    // --force: neither is checked.
    let out = scheduled(
        &tb,
        "  max_load: 0.0001\n  min_available_memory: 64T\n  wait_max: 1h\n",
        &["--force"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(ran(&tb, "small", "update"));
}

/// `conditions.wait_for_network`: the run starts network-online.target and
/// starts its plugins only once the target is active, however long the
/// target's dependencies take; the run notices the target's job ending
/// (JobRemoved) rather than finding it at a later poll.
#[test]
fn a_run_waits_for_network_online_then_starts_at_once() {
    let Some(tb) = boot() else { return };
    tb.add_plugin("small", "scope: system", &plugin("small"));
    // A wait-online service that takes 2 s, as NetworkManager's does.
    tb.write(
        "/run/systemd/system/slow-online.service",
        "[Service]\nType=oneshot\nExecStart=/bin/sleep 2\n",
        0o644,
    );
    tb.write(
        "/run/systemd/system/network-online.target.d/slow.conf",
        "[Unit]\nWants=slow-online.service\nAfter=slow-online.service\n",
        0o644,
    );
    tb.write(
        "/run/update-all/config.d/50-network.yaml",
        "conditions:\n  wait_for_network: true\n  skip_on_metered: false\n",
        0o644,
    );
    tb.daemon_reload();
    assert_eq!(
        unit_property(&tb, "network-online.target", "ActiveState"),
        "inactive"
    );

    let out = runner(&tb, &["--system", "run"]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(ran(&tb, "small", "update"), "{}", show(&out));
    let usec = |unit: &str, property: &str| -> u64 {
        unit_property(&tb, unit, property)
            .parse()
            .unwrap_or_else(|e| panic!("{unit} {property}: {e}"))
    };
    let online = usec("network-online.target", "ActiveEnterTimestampMonotonic");
    let started = usec("update-all-small.service", "InactiveExitTimestampMonotonic");
    assert!(
        online > 0 && started >= online,
        "the plugin started at {started} µs, before the network was online at {online} µs"
    );
    assert!(
        usec("slow-online.service", "ExecMainExitTimestampMonotonic") <= online,
        "network-online.target waited for its wait-online service"
    );
}
