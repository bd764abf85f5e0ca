//! Runs survive the service manager re-executing (`systemctl
//! daemon-reexec`, which a systemd package upgrade does) and reloading, on
//! a real systemd 252 (the namespace test bed): `update-all run` returns by
//! itself with the exit status it would have had without the re-exec, and
//! the recorder records every unit invocation exactly once.
//!
//! The plugins wait on a gate file, so each re-exec lands where it is
//! meant to: before the plugin starts, while it runs, or as its very last
//! step (the plugin re-executes the manager itself, as apt's postinst of
//! systemd does).

mod common;

use common::{
    boot, last_state, runner, show, text, unit_property, wait_for, wait_recorded, RECORDER,
};
use serde_json::Value;
use std::collections::HashMap;
use std::thread::sleep;
use std::time::{Duration, Instant};
use testbed::{Testbed, RUNNER};

/// How long a run may take to return once its plugins are done: well past
/// the backstop (10 s), so a run that only the backstop ends still passes,
/// and one that never notices fails.
const RETURNS_WITHIN: Duration = Duration::from_secs(40);

/// A plugin that, once `/run/gate-NAME` exists, runs `then`; it marks its
/// start in `/run/started-NAME` and gives up after 120 s.
fn gated(then: &str) -> String {
    format!(
        "#!/bin/sh\n\
         [ \"$1\" = is-applicable ] && exit 0\n\
         touch /run/started-$UPDATE_ALL_PLUGIN-$UPDATE_ALL_PHASE\n\
         n=0; while [ ! -e /run/gate-$UPDATE_ALL_PLUGIN ] && [ $n -lt 2400 ]; do sleep 0.05; n=$((n+1)); done\n\
         {then}\n"
    )
}

fn exists(tb: &Testbed, inside: &str) -> bool {
    tb.host_path(inside).exists()
}

fn reexec(tb: &Testbed) {
    tb.check(&["systemctl", "daemon-reexec"]);
}

/// `update-all run ARGS --json` in the background inside the instance.
struct Background {
    started: Instant,
}

impl Background {
    fn start(tb: &Testbed, args: &str) -> Background {
        tb.sh("rm -f /run/gate-* /run/started-*");
        Background::start_keeping_gates(tb, args)
    }

    /// [`Background::start`] for a run whose plugins already started.
    fn start_keeping_gates(tb: &Testbed, args: &str) -> Background {
        Background::start_env(tb, "", args)
    }

    /// [`Background::start_keeping_gates`] with `env` (`VAR=value ...`).
    fn start_env(tb: &Testbed, env: &str, args: &str) -> Background {
        tb.sh("rm -f /run/bg.out /run/bg.err /run/bg.rc /run/bg.end");
        tb.sh(&format!(
            "(sh -c '{env} exec {RUNNER} run --json {args}' >/run/bg.out 2>/run/bg.err; \
              echo $? >/run/bg.rc.new; date +%s.%N >/run/bg.end; mv /run/bg.rc.new /run/bg.rc) \
             </dev/null >/dev/null 2>&1 &"
        ));
        Background {
            started: Instant::now(),
        }
    }

    /// The run's exit status and its events, once it returned by itself;
    /// fails when it does not within [`RETURNS_WITHIN`] of `from`.
    fn returns(self, tb: &Testbed, from: Instant) -> (i32, Vec<Value>) {
        let rc = tb.host_path("/run/bg.rc");
        let deadline = from + RETURNS_WITHIN;
        while !rc.exists() {
            if Instant::now() > deadline {
                let out = tb.sh("cat /run/bg.out /run/bg.err; systemctl list-jobs");
                panic!(
                    "update-all run did not return {:?} after its plugins ended \
                     ({:?} after it started):\n{}\n{}",
                    RETURNS_WITHIN,
                    self.started.elapsed(),
                    show(&out),
                    tb.journal(RECORDER)
                );
            }
            sleep(Duration::from_millis(50));
        }
        let code = std::fs::read_to_string(&rc)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let stdout = std::fs::read_to_string(tb.host_path("/run/bg.out")).unwrap();
        let events = stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect();
        (code, events)
    }
}

/// Every record, from `history --json`.
fn records(tb: &Testbed) -> Vec<Value> {
    let out = runner(tb, &["history", "--json", "--last", "1000"]);
    assert!(out.status.success(), "{}", show(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    doc["records"].as_array().expect("records").clone()
}

/// Each invocation is recorded once, and each unit as often as `expected`
/// says (units not named: never).
fn assert_recorded(tb: &Testbed, expected: &[(&str, usize, &str)]) {
    let all = records(tb);
    let mut ids: Vec<&str> = all
        .iter()
        .map(|r| r["invocation_id"].as_str().unwrap())
        .collect();
    ids.sort();
    let n = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), n, "an invocation recorded twice: {all:#?}");
    let mut by_unit: HashMap<&str, Vec<&Value>> = HashMap::new();
    for r in &all {
        by_unit
            .entry(r["unit"].as_str().unwrap())
            .or_default()
            .push(r);
    }
    for (unit, count, result) in expected {
        let got = by_unit.remove(unit).unwrap_or_default();
        assert_eq!(
            got.len(),
            *count,
            "{unit} recorded {} times, not {count}: {all:#?}\n{}",
            got.len(),
            tb.journal(RECORDER)
        );
        let last = got.iter().max_by_key(|r| r["started_us"].as_i64());
        if let Some(last) = last {
            assert_eq!(last["result"], *result, "{last:#}");
        }
    }
    assert!(by_unit.is_empty(), "unexpected records: {by_unit:#?}");
}

/// `--only` one plugin, the manager re-executed before it starts, while it
/// runs, twice and with a reload, as its own last step; and a failing
/// plugin re-executed mid-run still fails the run.
#[test]
fn one_plugin_run_survives_reexec_anywhere() {
    let Some(tb) = boot() else { return };
    tb.add_plugin("gated", "scope: system", &gated("exit 0"));
    tb.add_plugin("failing", "scope: system", &gated("exit 3"));
    tb.add_plugin(
        "reexecs",
        "scope: system",
        &gated("systemctl daemon-reexec && date +%s.%N >/run/reexeced"),
    );
    tb.daemon_reload();
    const UNIT: &str = "update-all-gated.service";

    // At the start: the job is queued, the plugin may not run yet.
    let bg = Background::start(&tb, "--only gated");
    wait_for("the start job", Duration::from_secs(30), || {
        tb.check(&["systemctl", "list-jobs", "--no-legend"])
            .contains(UNIT)
    });
    reexec(&tb);
    tb.sh("touch /run/gate-gated");
    let (code, events) = bg.returns(&tb, Instant::now());
    assert_eq!(code, 0, "{events:#?}");
    assert_eq!(last_state(&events, "gated", "update"), "done");
    wait_recorded(&tb);
    assert_recorded(&tb, &[(UNIT, 1, "success")]);

    // Mid-run: the plugin runs when the manager goes.
    let bg = Background::start(&tb, "--only gated");
    wait_for("the plugin to run", Duration::from_secs(30), || {
        exists(&tb, "/run/started-gated-update")
    });
    reexec(&tb);
    tb.sh("touch /run/gate-gated");
    let (code, events) = bg.returns(&tb, Instant::now());
    assert_eq!(code, 0, "{events:#?}");
    wait_recorded(&tb);
    assert_recorded(&tb, &[(UNIT, 2, "success")]);

    // Twice, and a reload between.
    let bg = Background::start(&tb, "--only gated");
    wait_for("the plugin to run", Duration::from_secs(30), || {
        exists(&tb, "/run/started-gated-update")
    });
    reexec(&tb);
    tb.check(&["systemctl", "daemon-reload"]);
    reexec(&tb);
    tb.sh("touch /run/gate-gated");
    let (code, _) = bg.returns(&tb, Instant::now());
    assert_eq!(code, 0);
    wait_recorded(&tb);
    assert_recorded(&tb, &[(UNIT, 3, "success")]);

    // A failure stays a failure.
    let bg = Background::start(&tb, "--only failing");
    wait_for("the plugin to run", Duration::from_secs(30), || {
        exists(&tb, "/run/started-failing-update")
    });
    reexec(&tb);
    tb.sh("touch /run/gate-failing");
    let (code, events) = bg.returns(&tb, Instant::now());
    assert_eq!(code, 1, "{events:#?}");
    assert_eq!(last_state(&events, "failing", "update"), "failed");
    wait_recorded(&tb);

    // At the very end: the plugin's last step re-executes the manager, as
    // the postinst of a systemd package does.
    let bg = Background::start(&tb, "--only reexecs");
    tb.sh("touch /run/gate-reexecs");
    wait_for("the plugin's re-exec", Duration::from_secs(60), || {
        exists(&tb, "/run/reexeced")
    });
    let (code, events) = bg.returns(&tb, Instant::now());
    assert_eq!(code, 0, "{events:#?}");
    assert_eq!(last_state(&events, "reexecs", "update"), "done");
    let secs = |path: &str| -> f64 {
        std::fs::read_to_string(tb.host_path(path))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    eprintln!(
        "FIGURE: run returned {:.3} s after the plugin's daemon-reexec returned",
        secs("/run/bg.end") - secs("/run/reexeced")
    );
    wait_recorded(&tb);
    assert_recorded(
        &tb,
        &[
            (UNIT, 3, "success"),
            ("update-all-failing.service", 1, "failed"),
            ("update-all-reexecs.service", 1, "success"),
        ],
    );
}

/// The whole target, several plugins (a download and update, a failure, a
/// skip): re-executed while the first runs and again as the last ends.
#[test]
fn several_plugins_run_survives_reexec() {
    let Some(tb) = boot() else { return };
    tb.add_plugin(
        "both",
        "scope: system\ncan_separate_download: true",
        &gated("exit 0"),
    );
    tb.add_plugin(
        "bad",
        "scope: system\nruns_after: [both]",
        "#!/bin/sh\n[ \"$1\" = is-applicable ] && exit 0\nexit 4\n",
    );
    tb.add_plugin(
        "inapplicable",
        "scope: system",
        "#!/bin/sh\n[ \"$1\" = is-applicable ] && exit 1\nexit 0\n",
    );
    tb.add_plugin(
        "last",
        "scope: system\nruns_after: [bad]",
        &gated("systemctl daemon-reexec && date +%s.%N >/run/reexeced"),
    );
    tb.daemon_reload();

    let bg = Background::start(&tb, "");
    wait_for("the download to run", Duration::from_secs(30), || {
        exists(&tb, "/run/started-both-download")
    });
    reexec(&tb);
    tb.sh("touch /run/gate-both /run/gate-last");
    wait_for("the last plugin's re-exec", Duration::from_secs(60), || {
        exists(&tb, "/run/reexeced")
    });
    let (code, events) = bg.returns(&tb, Instant::now());
    assert_eq!(code, 1, "bad failed: {events:#?}");
    for (plugin, phase, state) in [
        ("both", "download", "done"),
        ("both", "update", "done"),
        ("bad", "update", "failed"),
        ("inapplicable", "update", "skipped"),
        ("last", "update", "done"),
    ] {
        assert_eq!(last_state(&events, plugin, phase), state, "{events:#?}");
    }
    wait_recorded(&tb);
    assert_recorded(
        &tb,
        &[
            ("update-all-both-download.service", 1, "success"),
            ("update-all-both.service", 1, "success"),
            ("update-all-bad.service", 1, "failed"),
            ("update-all-inapplicable.service", 1, "skipped"),
            ("update-all-last.service", 1, "success"),
        ],
    );
}

/// Started by systemd alone (as the timer does), only the recorder
/// watches: it records the unit the re-exec interrupted, and ends its run.
#[test]
fn the_recorder_alone_survives_reexec() {
    let Some(tb) = boot() else { return };
    tb.add_plugin("gated", "scope: system", &gated("exit 0"));
    tb.add_plugin("quick", "scope: system", &gated("exit 0"));
    tb.daemon_reload();
    tb.sh("rm -f /run/gate-* /run/started-*");
    tb.check(&["systemctl", "start", "--no-block", "update-all.target"]);
    wait_for("the plugins to run", Duration::from_secs(30), || {
        exists(&tb, "/run/started-gated-update") && exists(&tb, "/run/started-quick-update")
    });
    // One ends just before the manager goes, one while it is away.
    tb.sh("touch /run/gate-quick");
    wait_for("quick to end", Duration::from_secs(30), || {
        unit_property(&tb, "update-all-quick.service", "ActiveState") == "inactive"
    });
    tb.sh("touch /run/gate-gated; systemctl daemon-reexec");
    wait_recorded(&tb);
    assert_recorded(
        &tb,
        &[
            ("update-all-gated.service", 1, "success"),
            ("update-all-quick.service", 1, "success"),
        ],
    );
}

/// `systemctl restart dbus`: the connection itself goes; the run and the
/// recorder connect again, and nothing is lost.
#[test]
fn run_survives_a_restart_of_the_bus() {
    let Some(tb) = boot() else { return };
    tb.add_plugin("gated", "scope: system", &gated("exit 0"));
    tb.add_plugin("failing", "scope: system", &gated("exit 3"));
    tb.daemon_reload();
    const UNIT: &str = "update-all-gated.service";
    let bg = Background::start(&tb, "--only gated");
    wait_for("the plugin to run", Duration::from_secs(30), || {
        exists(&tb, "/run/started-gated-update")
    });
    tb.check(&["systemctl", "restart", "dbus.service"]);
    tb.sh("touch /run/gate-gated");
    let (code, events) = bg.returns(&tb, Instant::now());
    assert_eq!(code, 0, "{events:#?}");
    assert_eq!(last_state(&events, "gated", "update"), "done");
    wait_recorded(&tb);
    assert_recorded(&tb, &[(UNIT, 1, "success")]);

    // The plugin ends while there is no bus at all: systemd tells no one,
    // and the run learns it from the unit once both are back.
    let bg = Background::start(&tb, "--only failing");
    wait_for("the plugin to run", Duration::from_secs(30), || {
        exists(&tb, "/run/started-failing-update")
    });
    tb.check(&["systemctl", "stop", "dbus.socket", "dbus.service"]);
    tb.sh("touch /run/gate-failing");
    wait_for("the plugin to end", Duration::from_secs(30), || {
        unit_property(&tb, "update-all-failing.service", "ActiveState") != "activating"
    });
    tb.check(&["systemctl", "start", "dbus.socket", "dbus.service"]);
    let (code, events) = bg.returns(&tb, Instant::now());
    assert_eq!(code, 1, "{events:#?}");
    assert_eq!(last_state(&events, "failing", "update"), "failed");
    wait_recorded(&tb);
    assert_recorded(
        &tb,
        &[
            (UNIT, 1, "success"),
            ("update-all-failing.service", 1, "failed"),
        ],
    );
}

/// The recorder restarted in the middle of a run (`systemctl restart`):
/// the run goes on unaffected, each invocation is recorded once, and all
/// of them in one run (the new recorder continues the run in flight).
#[test]
fn run_survives_a_restart_of_the_recorder() {
    let Some(tb) = boot() else { return };
    tb.add_plugin("gated", "scope: system", &gated("exit 0"));
    tb.add_plugin("other", "scope: system", "#!/bin/sh\nexit 0\n");
    tb.daemon_reload();
    let bg = Background::start(&tb, "");
    wait_for("the plugin to run", Duration::from_secs(30), || {
        exists(&tb, "/run/started-gated-update")
    });
    tb.check(&["systemctl", "restart", RECORDER]);
    tb.sh("touch /run/gate-gated");
    let (code, events) = bg.returns(&tb, Instant::now());
    assert_eq!(code, 0, "{events:#?}");
    wait_recorded(&tb);
    assert_recorded(
        &tb,
        &[
            ("update-all-gated.service", 1, "success"),
            ("update-all-other.service", 1, "success"),
        ],
    );
    let runs: std::collections::BTreeSet<u64> = records(&tb)
        .iter()
        .map(|r| r["run_id"].as_u64().expect("run_id"))
        .collect();
    assert_eq!(runs.len(), 1, "one run, not {runs:?}");
}

/// `update-all run` attached to a run already in progress follows it
/// through a re-exec too.
#[test]
fn attached_run_survives_reexec() {
    let Some(tb) = boot() else { return };
    tb.add_plugin("gated", "scope: system", &gated("exit 0"));
    tb.daemon_reload();
    tb.sh("rm -f /run/gate-* /run/started-*");
    tb.check(&["systemctl", "start", "--no-block", "update-all.target"]);
    wait_for("the plugin to run", Duration::from_secs(30), || {
        exists(&tb, "/run/started-gated-update")
    });
    let bg = Background::start_keeping_gates(&tb, "");
    wait_for("run to attach", Duration::from_secs(30), || {
        std::fs::read_to_string(tb.host_path("/run/bg.out"))
            .is_ok_and(|out| out.contains("\"attached\""))
    });
    reexec(&tb);
    tb.sh("touch /run/gate-gated");
    let (code, events) = bg.returns(&tb, Instant::now());
    assert_eq!(code, 0, "{events:#?}");
    assert_eq!(last_state(&events, "gated", "update"), "done");
    assert_eq!(events.last().unwrap()["attached"], true, "{events:#?}");
    wait_recorded(&tb);
    assert_recorded(&tb, &[("update-all-gated.service", 1, "success")]);
}

/// A user's run, and that user's service manager re-executed (as a
/// systemd upgrade does to every user manager) while its plugin runs.
#[test]
fn user_scope_run_survives_reexec_of_the_user_manager() {
    let Some(tb) = boot() else { return };
    tb.install_update_all_for_users(&testbed::target_binary("update-all-generator"));
    tb.add_plugin("mine", "scope: user", &gated("exit 0"));
    tb.daemon_reload();
    tb.user_manager(0);
    const ROOT_USER: [(&str, &str); 2] = [
        ("XDG_RUNTIME_DIR", "/run/user/0"),
        ("XDG_STATE_HOME", "/run/user/0/state"),
    ];
    let env = ROOT_USER.map(|(k, v)| format!("{k}={v}")).join(" ");
    let user = |args: &[&str]| {
        let mut all = vec!["systemctl", "--user"];
        all.extend_from_slice(args);
        tb.exec_env(&ROOT_USER, &all)
    };

    tb.sh("rm -f /run/gate-* /run/started-*");
    let bg = Background::start_env(&tb, &env, "--user --only mine");
    wait_for("the plugin to run", Duration::from_secs(30), || {
        exists(&tb, "/run/started-mine-update")
    });
    let out = user(&["daemon-reexec"]);
    assert!(out.status.success(), "{}", show(&out));
    tb.sh("touch /run/gate-mine");
    let (code, events) = bg.returns(&tb, Instant::now());
    assert_eq!(code, 0, "{events:#?}");
    assert_eq!(last_state(&events, "mine", "update"), "done");

    wait_for("the user's recorder to exit", RETURNS_WITHIN, || {
        let state = user(&["show", "-P", "ActiveState", RECORDER]);
        text(&state.stdout).trim() == "inactive"
    });
    let out = tb.exec_env(
        &ROOT_USER,
        &[RUNNER, "--user", "history", "--json", "--last", "100"],
    );
    assert!(out.status.success(), "{}", show(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let records = doc["records"].as_array().expect("records");
    let mine: Vec<_> = records
        .iter()
        .filter(|r| r["unit"] == "update-all-mine.service")
        .collect();
    assert_eq!(mine.len(), 1, "{records:#?}");
    assert_eq!(mine[0]["result"], "success", "{records:#?}");
}

/// Anyone may send a signal to the run's connection: a local user who says
/// the manager moved to their connection (a forged `NameOwnerChanged`),
/// then that the plugin's job is done, changes nothing. Only the bus tells
/// who owns systemd's name.
#[test]
fn a_forged_change_of_owner_changes_nothing() {
    let Some(tb) = boot() else { return };
    tb.add_plugin(
        "forged",
        "scope: system",
        "#!/bin/sh\n[ \"$1\" = is-applicable ] && exit 0\n\
         touch /run/started-forged\n\
         while [ ! -e /run/gate-1 ]; do sleep 0.05; done\n\
         echo '{\"type\":\"progress\",\"percent\":50,\"message\":\"after the forgery\"}' >&2\n\
         while [ ! -e /run/gate-2 ]; do sleep 0.05; done\n",
    );
    tb.daemon_reload();
    tb.write(
        "/run/forge-signals.py",
        include_str!("fixtures/forge-signals.py"),
        0o755,
    );
    const UNIT: &str = "update-all-forged.service";
    let bg = Background::start(&tb, "--only forged");
    wait_for("the plugin to run", Duration::from_secs(30), || {
        exists(&tb, "/run/started-forged")
    });
    let forged = tb.sh(&format!(
        "set -e\n\
         run=$(pgrep -f '^{RUNNER} run --json')\n\
         name=$(busctl list --no-legend | awk -v p=$run '$2 == p && $1 ~ /^:/ {{ print $1 }}')\n\
         owner=$(busctl call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
                 GetNameOwner s org.freedesktop.systemd1 | cut -d'\"' -f2)\n\
         job=$(systemctl list-jobs --no-legend {UNIT} | awk '{{ print $1 }}')\n\
         echo \"to $name, systemd $owner, job $job\"\n\
         setpriv --reuid=65534 --regid=65534 --clear-groups \
             python3 /run/forge-signals.py \"$name\" \"$owner\" \"$job\" {UNIT}"
    ));
    assert!(forged.status.success(), "{}", show(&forged));
    // The plugin's next status comes after the forgeries: the run still
    // follows the unit, so it shows it.
    tb.sh("touch /run/gate-1");
    wait_for("the status after the forgery", RETURNS_WITHIN, || {
        exists(&tb, "/run/bg.rc")
            || std::fs::read_to_string(tb.host_path("/run/bg.out"))
                .is_ok_and(|out| out.contains("50% after the forgery"))
    });
    assert!(
        !exists(&tb, "/run/bg.rc"),
        "the run took the forged signals: {}",
        show(&tb.sh("cat /run/bg.out /run/bg.err"))
    );
    tb.sh("touch /run/gate-2");
    let (code, events) = bg.returns(&tb, Instant::now());
    assert_eq!(code, 0, "{events:#?}");
    assert_eq!(last_state(&events, "forged", "update"), "done");
}
