//! Scheduled runs on a real systemd 252 (the namespace test bed): the timer
//! really fires and its run is recorded; `update-all schedule enable,
//! disable, status`; the pre-flight conditions (a metered network from a
//! NetworkManager stand-in skips a run, which is recorded with its reason;
//! `--force` runs anyway); user scope end to end (the user target in
//! root's user manager, `update-all run` doing system then user, the
//! timer's run reaching a logged-in user).
//!
//! The schedule's drop-in goes to /run/systemd/system here
//! (UPDATE_ALL_SYSTEMD_CONFIG_DIR): the instance's /etc is the host's.

mod common;

use common::{boot, runner_env, show, text};
use serde_json::Value;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use testbed::Testbed;

const CONFIG_DIR: (&str, &str) = ("UPDATE_ALL_SYSTEMD_CONFIG_DIR", "/run/systemd/system");
const DROP_IN: &str = "/run/systemd/system/update-all.timer.d/50-schedule.conf";
/// Root's user manager: its bus, and its statistics (see the test bed's
/// install_update_all_for_users).
const ROOT_USER: [(&str, &str); 2] = [
    ("XDG_RUNTIME_DIR", "/run/user/0"),
    ("XDG_STATE_HOME", "/run/user/0/state"),
];

/// A plugin that appends "<phase> <uid> <ns since the epoch>" to
/// /tmp/NAME-<uid>.log when it runs (a file per user: /tmp is shared).
fn add_plugin(tb: &Testbed, name: &str, scope: &str) {
    tb.add_plugin(
        name,
        &format!("scope: {scope}"),
        &format!(
            "#!/bin/sh\n[ \"$1\" = is-applicable ] && exit 0\n\
             echo \"$UPDATE_ALL_PHASE $(id -u) $(date +%s%N)\" >> /tmp/{name}-$(id -u).log\n"
        ),
    );
}

/// The lines NAME's plugin logged as `uid`.
fn ran(tb: &Testbed, name: &str, uid: u32) -> Vec<String> {
    std::fs::read_to_string(tb.host_path(format!("/tmp/{name}-{uid}.log")))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn json(tb: &Testbed, env: &[(&str, &str)], args: &[&str]) -> Value {
    let out = runner_env(tb, env, args);
    assert!(out.status.success(), "{args:?}: {}", show(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", show(&out)))
}

/// Polls `done` until it holds; on timeout, fails with the journal's tail.
fn wait_for(tb: &Testbed, what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        if Instant::now() >= deadline {
            let journal = tb.exec(&["journalctl", "-b", "-n", "80", "--no-pager", "-o", "cat"]);
            panic!(
                "timed out waiting for {what}\n--- journal ---\n{}",
                text(&journal.stdout)
            );
        }
        thread::sleep(Duration::from_millis(50));
    }
}

fn property(tb: &Testbed, unit: &str, name: &str) -> String {
    text(&tb.systemctl(&["show", "-P", name, unit]).stdout)
        .trim()
        .to_owned()
}

/// "PLUGIN PHASE" of each successful record `history` shows (of `scope`:
/// `--system` or `--user`).
fn succeeded(tb: &Testbed, env: &[(&str, &str)], scope: &str) -> Vec<String> {
    json(tb, env, &[scope, "history", "--json"])["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter(|r| r["result"] == "success")
        .map(|r| {
            format!(
                "{} {}",
                r["plugin"].as_str().unwrap(),
                r["phase"].as_str().unwrap()
            )
        })
        .collect()
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

#[test]
fn the_timer_really_fires_and_its_run_is_recorded() {
    let Some(tb) = boot() else { return };
    add_plugin(&tb, "ticker", "system");
    // Elapses a second after it starts, instead of next Monday (and on
    // time: AccuracySec= lets systemd put it off by up to a minute).
    tb.write(
        "/run/systemd/system/update-all.timer.d/60-test.conf",
        "[Timer]\nOnCalendar=\nOnActiveSec=1s\nAccuracySec=1ms\nRandomizedDelaySec=0\n",
        0o644,
    );
    tb.daemon_reload();
    assert!(ran(&tb, "ticker", 0).is_empty());
    let started = Instant::now();
    tb.check(&["systemctl", "start", "update-all.timer"]);
    wait_for(
        &tb,
        "the timer's run to be recorded",
        Duration::from_secs(30),
        || succeeded(&tb, &[], "--system").contains(&"ticker update".to_owned()),
    );
    let took = started.elapsed();
    eprintln!("timer started → run recorded: {took:?}");
    assert_eq!(ran(&tb, "ticker", 0).len(), 1);
    // The timer started update-all.service, which ran the target.
    let journal = tb.journal("update-all.service");
    assert!(journal.contains("Scheduled update-all run"), "{journal}");
    wait_for(
        &tb,
        "update-all.service to end",
        Duration::from_secs(10),
        || property(&tb, "update-all.service", "ActiveState") == "inactive",
    );
    assert_eq!(property(&tb, "update-all.service", "Result"), "success");

    let status = json(&tb, &[CONFIG_DIR], &["schedule", "status", "--json"]);
    assert!(
        status["timer"]["last_trigger_us"].as_u64().unwrap() <= now_us(),
        "{status:#}"
    );
    assert_eq!(
        status["timer"]["monotonic"][0], "OnActiveUSec=1s",
        "{status:#}"
    );
    assert_eq!(
        status["last_run"]["succeeded"],
        serde_json::json!(["ticker"]),
        "{status:#}"
    );
}

#[test]
fn schedule_enable_disable_status() {
    let Some(tb) = boot() else { return };
    let drop_in = tb.host_path(DROP_IN);

    // systemd judges the expression; nothing is written when it refuses.
    let out = runner_env(
        &tb,
        &[CONFIG_DIR],
        &["schedule", "enable", "--interval", "Mon..Fri 25:00"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        text(&out.stderr).contains("invalid calendar expression 'Mon..Fri 25:00'"),
        "{}",
        show(&out)
    );
    let out = runner_env(
        &tb,
        &[CONFIG_DIR],
        &["schedule", "enable", "--interval", "2001-01-01"],
    );
    assert!(
        text(&out.stderr).contains("never elapses again"),
        "{}",
        show(&out)
    );
    assert!(!drop_in.exists());
    assert_eq!(
        property(&tb, "update-all.timer", "UnitFileState"),
        "disabled"
    );

    let out = runner_env(
        &tb,
        &[CONFIG_DIR],
        &["schedule", "enable", "--interval", "daily"],
    );
    assert!(out.status.success(), "{}", show(&out));
    assert!(text(&out.stdout).contains("Next run: "), "{}", show(&out));
    let written = std::fs::read_to_string(&drop_in).unwrap();
    assert!(
        written.ends_with("[Timer]\nOnCalendar=\nOnCalendar=daily\n"),
        "{written}"
    );
    // Its unit file is under /run, so it is enabled for this boot.
    assert_eq!(
        property(&tb, "update-all.timer", "UnitFileState"),
        "enabled-runtime"
    );
    assert_eq!(property(&tb, "update-all.timer", "ActiveState"), "active");

    let status = json(&tb, &[CONFIG_DIR], &["schedule", "status", "--json"]);
    let timer = &status["timer"];
    assert_eq!(
        timer["calendar"],
        serde_json::json!(["*-*-* 00:00:00"]),
        "{status:#}"
    );
    assert_eq!(status["drop_in"]["expression"], "daily", "{status:#}");
    let next = timer["next_elapse_us"].as_u64().expect("next elapse");
    let day = 86_400_000_000;
    // Within a day and the (fixed, per machine) random delay of up to 2h.
    assert!(
        next > now_us() && next < now_us() + day + day / 12,
        "{status:#}"
    );
    assert_eq!(timer["randomized_delay_s"], 7200);
    assert_eq!(timer["fixed_random_delay"], true);
    assert_eq!(timer["persistent"], true);
    assert!(status["last_run"].is_null());
    let out = runner_env(&tb, &[CONFIG_DIR], &["schedule", "status"]);
    let shown = text(&out.stdout);
    assert!(
        shown.contains("enabled-runtime, active")
            && shown.contains("*-*-* 00:00:00 (daily from /run/systemd/system/")
            && shown.contains("Next run:    20"),
        "{shown}"
    );

    // A new expression replaces the old one in the running timer.
    let out = runner_env(
        &tb,
        &[CONFIG_DIR],
        &["schedule", "enable", "--interval", "Sat 04:00"],
    );
    assert!(out.status.success(), "{}", show(&out));
    let calendar = property(&tb, "update-all.timer", "TimersCalendar");
    assert!(calendar.contains("Sat *-*-* 04:00:00"), "{calendar}");

    let out = runner_env(&tb, &[CONFIG_DIR], &["schedule", "disable"]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(!drop_in.exists());
    assert_eq!(
        property(&tb, "update-all.timer", "UnitFileState"),
        "disabled"
    );
    assert_eq!(property(&tb, "update-all.timer", "ActiveState"), "inactive");

    // Without --interval: the shipped schedule, weekly.
    let out = runner_env(&tb, &[CONFIG_DIR], &["schedule", "enable"]);
    assert!(out.status.success(), "{}", show(&out));
    let status = json(&tb, &[CONFIG_DIR], &["schedule", "status", "--json"]);
    assert_eq!(
        status["timer"]["calendar"],
        serde_json::json!(["Mon *-*-* 00:00:00"]),
        "{status:#}"
    );
    assert!(status["drop_in"].is_null());
}

#[test]
fn a_metered_network_skips_the_run_which_is_recorded_and_force_runs_anyway() {
    let Some(tb) = boot() else { return };
    add_plugin(&tb, "sys", "system");
    tb.daemon_reload();
    tb.fake_network_manager(1); // NM_METERED_YES

    let out = runner_env(&tb, &[], &["run"]);
    assert_eq!(out.status.code(), Some(75), "{}", show(&out));
    assert!(
        text(&out.stdout).contains("skipped: metered network"),
        "{}",
        show(&out)
    );
    assert!(ran(&tb, "sys", 0).is_empty());
    let status = json(&tb, &[], &["status", "--json"]);
    assert_eq!(status["skipped"]["reason"], "metered network", "{status:#}");
    assert_eq!(status["skipped"]["trigger"], "manual", "{status:#}");
    let shown = text(&runner_env(&tb, &[], &["status"]).stdout);
    assert!(
        shown.starts_with("Skipped 20") && shown.contains(": metered network (update-all run;"),
        "{shown}"
    );

    let out = runner_env(&tb, &[], &["run", "--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(ran(&tb, "sys", 0).len(), 1);
    let status = json(&tb, &[], &["status", "--json"]);
    assert!(
        status["skipped"].is_null(),
        "a run came after the skip: {status:#}"
    );

    // The timer's run: skipped too, recorded as the timer's, and retried.
    tb.fake_network_manager(3); // NM_METERED_GUESS_YES
    tb.check(&["systemctl", "start", "update-all.service"]);
    wait_for(
        &tb,
        "the scheduled run to be skipped",
        Duration::from_secs(20),
        || property(&tb, "update-all.service", "SubState") == "auto-restart",
    );
    let status = json(&tb, &[CONFIG_DIR], &["schedule", "status", "--json"]);
    assert_eq!(
        status["last_skip"]["reason"], "metered network",
        "{status:#}"
    );
    assert_eq!(status["last_skip"]["trigger"], "timer", "{status:#}");
    assert_eq!(status["timer"]["service_state"], "activating/auto-restart");
    let shown = text(&runner_env(&tb, &[CONFIG_DIR], &["schedule", "status"]).stdout);
    assert!(
        shown.contains("metered network (scheduled run); update-all.service tries again"),
        "{shown}"
    );
    assert_eq!(ran(&tb, "sys", 0).len(), 1);
    tb.check(&["systemctl", "stop", "update-all.service"]);

    // Not metered (a guess), no NetworkManager at all, or not asked to care.
    tb.fake_network_manager(4);
    assert_eq!(runner_env(&tb, &[], &["run"]).status.code(), Some(0));
    tb.stop_network_manager();
    assert_eq!(runner_env(&tb, &[], &["run"]).status.code(), Some(0));
    tb.fake_network_manager(1);
    // On mains power (the test bed has no battery): logind's OnExternalPower.
    tb.write(
        "/run/update-all/config.d/50-conditions.yaml",
        "conditions:\n  skip_on_metered: false\n  skip_on_battery: true\n",
        0o644,
    );
    let out = runner_env(&tb, &[], &["run"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(ran(&tb, "sys", 0).len(), 4);
}

#[test]
fn user_scope_end_to_end() {
    let Some(tb) = boot() else { return };
    tb.install_update_all_for_users(&testbed::target_binary("update-all-generator"));
    add_plugin(&tb, "sys", "system");
    add_plugin(&tb, "mine", "user");
    tb.daemon_reload();
    // alice logs in first: a login after user@0.service was started by hand
    // fails in logind (ESRCH) on systemd 252.
    tb.add_user("alice", 4242);
    tb.login("alice", "user", "tty");
    tb.user_manager(0);

    // The user target in root's user manager, as systemctl starts it.
    tb.exec_env(
        &ROOT_USER,
        &["systemctl", "--user", "start", "update-all.target"],
    );
    assert_eq!(
        ran(&tb, "mine", 0).len(),
        1,
        "{}",
        tb.journal("user@0.service")
    );
    assert!(ran(&tb, "sys", 0).is_empty());
    wait_for(
        &tb,
        "the user run to be recorded",
        Duration::from_secs(10),
        || succeeded(&tb, &ROOT_USER, "--user").contains(&"mine update".to_owned()),
    );

    // `update-all run` as root: the system's plugins, then root's own.
    let out = runner_env(&tb, &[ROOT_USER[1]], &["run"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stdout = text(&out.stdout);
    let system = stdout
        .find("update-all: system plugins")
        .expect("system part");
    let user = stdout
        .find("update-all: user plugins of root (uid 0)")
        .expect("user part");
    assert!(system < user, "{stdout}");
    let (sys, mine) = (ran(&tb, "sys", 0), ran(&tb, "mine", 0));
    assert_eq!((sys.len(), mine.len()), (1, 2), "{stdout}");
    let at = |line: &str| line.rsplit(' ').next().unwrap().parse::<u128>().unwrap();
    assert!(at(&sys[0]) < at(&mine[1]), "system first: {sys:?} {mine:?}");

    // One scope only.
    assert_eq!(
        runner_env(&tb, &[], &["--system", "run"]).status.code(),
        Some(0)
    );
    let out = runner_env(&tb, &ROOT_USER, &["--user", "run"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(
        (ran(&tb, "sys", 0).len(), ran(&tb, "mine", 0).len()),
        (2, 3)
    );

    // The user manager's own timer: scheduled with `--user schedule`, and
    // it fires (a second after it starts, as in the system test).
    let user_config = [
        ROOT_USER[0],
        ROOT_USER[1],
        ("UPDATE_ALL_SYSTEMD_CONFIG_DIR", "/run/systemd/user"),
    ];
    let out = runner_env(
        &tb,
        &user_config,
        &["--user", "schedule", "enable", "--interval", "daily"],
    );
    assert!(out.status.success(), "{}", show(&out));
    let status = json(
        &tb,
        &user_config,
        &["--user", "schedule", "status", "--json"],
    );
    assert_eq!(status["scope"], "user");
    assert_eq!(
        status["timer"]["unit_file_state"], "enabled-runtime",
        "{status:#}"
    );
    assert_eq!(
        status["timer"]["calendar"],
        serde_json::json!(["*-*-* 00:00:00"]),
        "{status:#}"
    );
    assert!(status["timer"]["next_elapse_us"].as_u64().unwrap() > now_us());
    tb.write(
        "/run/systemd/user/update-all.timer.d/60-test.conf",
        "[Timer]\nOnCalendar=\nOnActiveSec=1s\nAccuracySec=1ms\nRandomizedDelaySec=0\n",
        0o644,
    );
    tb.exec_env(&ROOT_USER, &["systemctl", "--user", "daemon-reload"]);
    tb.exec_env(
        &ROOT_USER,
        &["systemctl", "--user", "restart", "update-all.timer"],
    );
    wait_for(&tb, "the user timer's run", Duration::from_secs(20), || {
        ran(&tb, "mine", 0).len() == 4
    });
    assert_eq!(
        ran(&tb, "sys", 0).len(),
        2,
        "the user timer runs user plugins only"
    );
    let out = runner_env(&tb, &user_config, &["--user", "schedule", "disable"]);
    assert!(out.status.success(), "{}", show(&out));

    // The timer's run reaches a logged-in user, in the user's own manager.
    tb.write(
        "/run/update-all/config.d/50-users.yaml",
        "schedule:\n  update_logged_in_users: true\n",
        0o644,
    );
    tb.check(&["systemctl", "start", "update-all.service"]);
    wait_for(
        &tb,
        "the scheduled run to end",
        Duration::from_secs(30),
        || property(&tb, "update-all.service", "ActiveState") == "inactive",
    );
    assert_eq!(property(&tb, "update-all.service", "Result"), "success");
    let journal = tb.journal("update-all.service");
    assert_eq!(ran(&tb, "sys", 0).len(), 3, "{journal}");
    assert_eq!(ran(&tb, "mine", 0).len(), 4, "root has no login session");
    assert_eq!(ran(&tb, "mine", 4242).len(), 1, "{journal}");
    assert!(
        journal.contains("update-all: user plugins of alice (uid 4242)"),
        "{journal}"
    );
    assert!(
        journal.contains("[alice] update-all: 1 succeeded"),
        "{journal}"
    );
}
