//! Retries of transient failures inside a plugin unit, on a real systemd
//! 252 (the namespace test bed): `plugin-exec` runs a command that ended
//! with a transient error code again, after the configured waits, and the
//! attempts show in the journal, the status text and `history`
//! (docs/configuration.md, "Retries").

mod common;

use common::{boot, runner, show, text, unit_property, wait_for, wait_recorded};
use serde_json::Value;
use std::time::{Duration, Instant};
use testbed::Testbed;

/// A plugin whose `update` ends with the error document of `code`, exit
/// status 1, while its runs (counted in `/run/NAME.runs`) are at most
/// `fails`; then it succeeds. It prints a line of its tool first, as
/// plugins do on stderr, and one on stdout, which the protocol forbids but
/// must not hide the document.
fn failing(name: &str, code: &str, fails: u32) -> String {
    format!(
        "#!/bin/sh\n\
         [ \"$1\" = is-applicable ] && exit 0\n\
         n=$(cat /run/{name}.runs 2>/dev/null || echo 0); n=$((n + 1)); echo $n > /run/{name}.runs\n\
         echo \"run $n\" >&2\n\
         echo 'Reading package lists...'\n\
         if [ $n -le {fails} ]; then\n\
         printf '%s\\n' '{{\"status\":\"error\",\"data\":null,\"error\":{{\"code\":\"{code}\",\"message\":\"run '$n' failed\",\"details\":null}},\"progress\":null}}'\n\
         exit 1\n\
         fi\n\
         printf '%s\\n' '{{\"status\":\"success\",\"data\":{{}},\"error\":null,\"progress\":null}}'\n"
    )
}

/// `retries` in the system configuration (a drop-in under /run, the
/// instance's own): short waits keep tests fast.
fn configure(tb: &Testbed, backoff: &str) {
    tb.write(
        "/run/update-all/config.d/50-retries.yaml",
        format!("retries:\n  attempts: 3\n  backoff: {backoff}\n"),
        0o644,
    );
}

/// How many times the plugin `name` of [`failing`] ran.
fn runs(tb: &Testbed, name: &str) -> u32 {
    text(&tb.exec(&["cat", &format!("/run/{name}.runs")]).stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

/// The last record of `plugin` in `history --json`.
fn record(tb: &Testbed, plugin: &str) -> Value {
    let out = runner(tb, &["history", "--json", "--plugin", plugin]);
    assert!(out.status.success(), "{}", show(&out));
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    json["records"]
        .as_array()
        .and_then(|r| r.last())
        .cloned()
        .unwrap_or_else(|| panic!("no record of {plugin}: {json:#}"))
}

fn unit(plugin: &str) -> String {
    format!("update-all-{plugin}.service")
}

#[test]
fn a_transient_error_is_retried_and_others_are_not() {
    let Some(tb) = boot() else { return };
    configure(&tb, "0.2s");
    tb.add_plugin(
        "flaky",
        "scope: system",
        &failing("flaky", "NETWORK_ERROR", 2),
    );
    tb.add_plugin(
        "broken",
        "scope: system",
        &failing("broken", "PACKAGE_ERROR", 9),
    );
    tb.add_plugin(
        "silent",
        "scope: system",
        "#!/bin/sh\n[ \"$1\" = is-applicable ] && exit 0\n\
         echo x >> /run/silent.runs\nexit 1\n",
    );
    tb.daemon_reload();
    tb.check(&["systemctl", "start", "update-all.target"]);
    wait_recorded(&tb);

    // NETWORK_ERROR twice, then success: one successful unit, 3 attempts.
    assert_eq!(runs(&tb, "flaky"), 3);
    let flaky = record(&tb, "flaky");
    assert_eq!(flaky["result"], "success", "{flaky:#}");
    assert_eq!(flaky["attempts"], 3, "{flaky:#}");
    // The configured waits (0.2 s, 0.4 s), not the default 2 s and 4 s.
    let took = flaky["duration_s"].as_f64().unwrap();
    assert!(
        (0.6..4.0).contains(&took),
        "took {took} s\n{}",
        tb.check(&[
            "journalctl",
            "-u",
            &unit("flaky"),
            "-o",
            "short-precise",
            "--no-pager"
        ])
    );
    assert_eq!(
        unit_property(&tb, &unit("flaky"), "StatusText"),
        "attempt 3/3: update finished"
    );
    // The journal: each failure and each new attempt, with its field; the
    // plugin's own stdout still there, every attempt's.
    let journal = tb.journal(&unit("flaky"));
    for line in [
        "update failed with NETWORK_ERROR: run 1 failed at attempt 1/3; it runs again in 0.2 s",
        "attempt 2/3: update starts again",
        "attempt 3/3: update starts again",
    ] {
        assert!(journal.lines().any(|l| l == line), "{line:?} in\n{journal}");
    }
    assert_eq!(
        journal
            .lines()
            .filter(|l| *l == "Reading package lists...")
            .count(),
        3,
        "{journal}"
    );
    let tagged = tb.check(&[
        "journalctl",
        "-u",
        &unit("flaky"),
        "UPDATE_ALL_ATTEMPT=3",
        "-o",
        "cat",
        "--no-pager",
    ]);
    assert!(
        tagged.contains("attempt 3/3: update starts again"),
        "{tagged}"
    );

    // Any other error code, or no document, is not retried.
    assert_eq!(runs(&tb, "broken"), 1);
    let broken = record(&tb, "broken");
    assert_eq!(broken["result"], "failed", "{broken:#}");
    assert_eq!(broken["attempts"], 1, "{broken:#}");
    assert_eq!(
        unit_property(&tb, &unit("broken"), "StatusText"),
        "update failed with exit status 1"
    );
    let silent = record(&tb, "silent");
    assert_eq!(text(&tb.exec(&["cat", "/run/silent.runs"]).stdout), "x\n");
    assert_eq!(silent["result"], "failed", "{silent:#}");
    assert_eq!(silent["attempts"], 1, "{silent:#}");

    // The table says it too.
    let out = runner(&tb, &["history"]);
    let table = text(&out.stdout);
    let line = |p: &str| {
        table
            .lines()
            .find(|l| l.contains(&format!(" {p} ")))
            .unwrap_or_else(|| panic!("{p} in\n{table}"))
            .to_owned()
    };
    assert!(
        line("flaky").contains("success after 3 attempts"),
        "{table}"
    );
    assert!(!line("broken").contains("attempts"), "{table}");
}

#[test]
fn a_stop_during_the_wait_ends_the_unit_without_another_attempt() {
    let Some(tb) = boot() else { return };
    // A long wait: the stop comes in the middle of it.
    configure(&tb, "60s");
    tb.add_plugin("locked", "scope: system", &failing("locked", "LOCKED", 9));
    tb.daemon_reload();
    let locked = unit("locked");
    tb.check(&["systemctl", "start", "--no-block", &locked]);
    wait_for("the first attempt to fail", Duration::from_secs(20), || {
        unit_property(&tb, &locked, "StatusText").starts_with("attempt 1/3 failed")
    });
    assert_eq!(
        unit_property(&tb, &locked, "StatusText"),
        "attempt 1/3 failed (LOCKED); attempt 2/3 in 60 s"
    );
    let started = Instant::now();
    tb.check(&["systemctl", "stop", &locked]);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "the stop took {took:?}");
    // Ended as a plugin the stop killed would have: by its SIGTERM.
    let journal = tb.check(&["journalctl", "-u", &locked, "-o", "cat", "--no-pager"]);
    assert!(
        journal.contains("Main process exited, code=killed, status=15/TERM")
            && !journal.contains("run 2"),
        "{journal}"
    );
    assert_eq!(runs(&tb, "locked"), 1, "{}", tb.journal(&locked));
    wait_recorded(&tb);
    let r = record(&tb, "locked");
    assert_eq!(r["attempts"], 1, "{r:#}");
    assert_ne!(r["result"], "success", "{r:#}");
}
