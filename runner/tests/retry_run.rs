//! `update-all retry` on a real systemd 252 (the namespace test bed): it
//! runs again exactly what failed or never started in the last run, as a
//! new run that `history` links to the old one, and nothing when nothing
//! failed (docs/retry.md).

mod common;

use common::{boot, runner, show, text, wait_recorded};
use serde_json::Value;
use std::time::Duration;
use testbed::Testbed;

/// A plugin that counts each phase's runs in `/run/NAME-PHASE.runs`, and
/// whose download fails (exit 3) while `/run/NAME.fail` exists.
fn counting(name: &str) -> String {
    format!(
        "#!/bin/sh\n\
         [ \"$1\" = is-applicable ] && exit 0\n\
         f=/run/{name}-$1.runs\n\
         n=$(cat $f 2>/dev/null || echo 0); echo $((n + 1)) > $f\n\
         [ \"$1\" = download ] && [ -e /run/{name}.fail ] && exit 3\n\
         exit 0\n"
    )
}

/// How many times `plugin` ran `phase`.
fn runs(tb: &Testbed, plugin: &str, phase: &str) -> u32 {
    text(
        &tb.exec(&["cat", &format!("/run/{plugin}-{phase}.runs")])
            .stdout,
    )
    .trim()
    .parse()
    .unwrap_or(0)
}

/// `history --json`: every record and the runs they belong to.
fn history(tb: &Testbed) -> Value {
    let out = runner(tb, &["history", "--json", "--last", "100"]);
    assert!(out.status.success(), "{}", show(&out));
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// The run ids of the records, in order, without repeats.
fn run_ids(history: &Value) -> Vec<i64> {
    let mut ids: Vec<i64> = history["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_i64().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The units recorded in run `id`, sorted.
fn units_of(history: &Value, id: i64) -> Vec<String> {
    let mut units: Vec<String> = history["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["run_id"] == id)
        .map(|r| r["unit"].as_str().unwrap().to_owned())
        .collect();
    units.sort();
    units
}

#[test]
fn retry_runs_exactly_the_failed_plugin_and_its_dependent_that_never_started() {
    let Some(tb) = boot() else { return };
    // a's download fails, so its update (Requires= the download) never
    // starts; b runs after a (After= only: it runs anyway); c is on its own.
    tb.add_plugin(
        "a",
        "scope: system\ncan_separate_download: true",
        &counting("a"),
    );
    tb.add_plugin("b", "scope: system\nruns_after: [a]", &counting("b"));
    tb.add_plugin("c", "scope: system", &counting("c"));
    tb.write("/run/a.fail", "", 0o644);
    tb.daemon_reload();

    let out = runner(&tb, &["run"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    wait_recorded(&tb);
    assert_eq!(
        [runs(&tb, "a", "download"), runs(&tb, "a", "update")],
        [1, 0]
    );
    assert_eq!([runs(&tb, "b", "update"), runs(&tb, "c", "update")], [1, 1]);
    let before = history(&tb);
    let old = *run_ids(&before).last().expect("a run recorded");
    assert_eq!(
        units_of(&before, old),
        [
            "update-all-a-download.service",
            "update-all-b.service",
            "update-all-c.service"
        ],
        "a's update never started: {before:#}"
    );

    // --dry-run says what it would retry and starts nothing.
    let out = runner(&tb, &["retry", "--dry-run", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let plan: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(plan["run"], old, "{plan:#}");
    let listed: Vec<(&str, &Value)> = plan["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["unit"].as_str().unwrap(), &u["result"]))
        .collect();
    assert_eq!(
        listed,
        [
            ("update-all-a-download.service", &Value::from("failed")),
            ("update-all-a.service", &Value::Null),
        ],
        "{plan:#}"
    );
    let out = runner(&tb, &["retry", "--dry-run"]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("Would retry from run") && stdout.contains("never started"),
        "{}",
        show(&out)
    );
    assert_eq!(runs(&tb, "a", "download"), 1, "--dry-run started nothing");

    // The download works now: the retry runs a's two units, nothing else.
    tb.exec(&["rm", "/run/a.fail"]);
    let out = runner(&tb, &["retry"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        text(&out.stdout).contains(&format!("retrying run {old}")),
        "{}",
        show(&out)
    );
    wait_recorded(&tb);
    assert_eq!(
        [runs(&tb, "a", "download"), runs(&tb, "a", "update")],
        [2, 1]
    );
    assert_eq!(
        [runs(&tb, "b", "update"), runs(&tb, "c", "update")],
        [1, 1],
        "b and c succeeded: not run again"
    );

    let after = history(&tb);
    let new = *run_ids(&after).last().unwrap();
    assert_ne!(new, old);
    assert_eq!(
        units_of(&after, new),
        ["update-all-a-download.service", "update-all-a.service"]
    );
    let run = after["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == new)
        .unwrap_or_else(|| panic!("run {new} not in {after:#}"));
    assert_eq!(run["follows"], old, "{run:#}");
    assert_eq!(run["kind"], "retry", "{run:#}");
    let table = text(&runner(&tb, &["history"]).stdout);
    assert!(
        table.contains(&format!("{new} (retry of run {old})")),
        "{table}"
    );
    let status = runner(&tb, &["status"]);
    assert!(
        text(&status.stdout).contains(&format!("retry of run {old}")),
        "{}",
        show(&status)
    );
}

#[test]
fn nothing_failed_means_nothing_to_retry() {
    let Some(tb) = boot() else { return };
    tb.add_plugin("c", "scope: system", &counting("c"));
    tb.daemon_reload();

    // No run recorded yet.
    let out = runner(&tb, &["retry"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        text(&out.stdout).contains("Nothing to retry: no run recorded yet"),
        "{}",
        show(&out)
    );

    let out = runner(&tb, &["run"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    wait_recorded(&tb);
    let before = history(&tb);

    let out = runner(&tb, &["retry"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        text(&out.stdout).contains("Nothing to retry in run"),
        "{}",
        show(&out)
    );
    let out = runner(&tb, &["retry", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["units"], Value::Array(Vec::new()), "{json:#}");
    // Nothing started, so no new run.
    assert_eq!(runs(&tb, "c", "update"), 1);
    assert_eq!(history(&tb)["records"], before["records"]);
    let jobs = tb.check(&["systemctl", "list-jobs", "--no-legend"]);
    assert!(jobs.trim().is_empty(), "{jobs}");

    // A run that is not there.
    let out = runner(&tb, &["retry", "--run", "999"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(text(&out.stderr).contains("no run 999"), "{}", show(&out));
}

#[test]
fn retry_of_a_cancelled_run_takes_the_cancelled_unit_and_those_still_waiting() {
    let Some(tb) = boot() else { return };
    // slow waits while /run/slow.hold exists; later runs after it; quick
    // is done before the cancel.
    let holding = counting("slow").replace(
        "\nexit 0\n",
        "\nwhile [ -e /run/slow.hold ]; do sleep 0.1; done\nexit 0\n",
    );
    tb.add_plugin("slow", "scope: system", &holding);
    tb.add_plugin(
        "later",
        "scope: system\nruns_after: [slow]",
        &counting("later"),
    );
    tb.add_plugin("quick", "scope: system", &counting("quick"));
    tb.write("/run/slow.hold", "", 0o644);
    tb.daemon_reload();

    tb.check(&["systemctl", "start", "--no-block", "update-all.target"]);
    common::wait_for(
        "slow to run and quick to end",
        Duration::from_secs(30),
        || {
            runs(&tb, "slow", "update") == 1 && runs(&tb, "quick", "update") == 1 && {
                common::unit_property(&tb, "update-all-quick.service", "ActiveState") == "inactive"
            }
        },
    );
    let out = runner(&tb, &["cancel"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    wait_recorded(&tb);

    let out = runner(&tb, &["retry", "--dry-run", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let plan: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let listed: Vec<(&str, &Value)> = plan["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["plugin"].as_str().unwrap(), &u["result"]))
        .collect();
    assert_eq!(
        listed,
        [("slow", &Value::from("cancelled")), ("later", &Value::Null)],
        "{plan:#}"
    );

    tb.exec(&["rm", "/run/slow.hold"]);
    let out = runner(&tb, &["retry"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    wait_recorded(&tb);
    assert_eq!(
        [
            runs(&tb, "slow", "update"),
            runs(&tb, "later", "update"),
            runs(&tb, "quick", "update")
        ],
        [2, 1, 1]
    );
}
