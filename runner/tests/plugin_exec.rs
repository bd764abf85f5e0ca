//! Plugin units on a real systemd 252 (the namespace test bed): what a
//! plugin leaves running when it exits does not hold its unit.
//!
//! The statistics recorder is masked here: this is about the plugin unit.

mod common;

use common::text;
use std::thread;
use std::time::{Duration, Instant};
use testbed::Testbed;

const UNIT: &str = "update-all-lingering.service";

fn show(tb: &Testbed, property: &str) -> String {
    tb.check(&["systemctl", "show", "-P", property, UNIT])
        .trim()
        .to_owned()
}

/// A timestamp property of the unit, in microseconds of CLOCK_MONOTONIC.
fn monotonic(tb: &Testbed, property: &str) -> u64 {
    let value = show(tb, property);
    value
        .parse()
        .unwrap_or_else(|e| panic!("{property}={value:?}: {e}"))
}

/// The update of a plugin that leaves `(sleep 60) &` behind, holding its
/// stderr: the unit ends within 3 s of the plugin's exit, the plugin's last
/// lines are in the journal, and the sleep is gone.
#[test]
fn a_leftover_child_does_not_hold_the_unit() {
    let Some(tb) = common::boot_with(|tb| {
        tb.sh("ln -sf /dev/null /run/systemd/system/update-all-recorder.service");
    }) else {
        return;
    };
    tb.add_plugin(
        "lingering",
        "scope: system",
        "#!/bin/sh\n\
         [ \"$1\" = is-applicable ] && exit 0\n\
         echo 'an early line' >&2\n\
         (sleep 60) &\n\
         echo $! >/run/leftover.pid\n\
         echo 'the last stderr line' >&2\n\
         echo 'the last stdout line'\n\
         exit 0\n",
    );
    // An active target that wants the unit keeps it loaded once it is done
    // (else systemd may unload it, and `show` gives defaults); starting the
    // target starts the unit and waits for it.
    tb.write(
        "/run/systemd/system/hold.target",
        format!("[Unit]\nWants={UNIT}\nAfter={UNIT}\n"),
        0o644,
    );
    tb.daemon_reload();
    let started = Instant::now();
    let out = tb.systemctl(&["start", "hold.target"]);
    let took = started.elapsed();
    assert!(out.status.success(), "{}", common::show(&out));
    eprintln!("systemctl start took {took:?}");
    assert_eq!(show(&tb, "Result"), "success");
    assert_eq!(show(&tb, "ExecMainStatus"), "0");
    assert_eq!(show(&tb, "KillMode"), "control-group");

    // On systemd's own clock: from the start of `plugin-exec` (the plugin
    // starts right after it and exits at once) until the unit was done.
    let start = monotonic(&tb, "ExecMainStartTimestampMonotonic");
    let end = monotonic(&tb, "InactiveEnterTimestampMonotonic");
    assert!(end > start, "start {start}, end {end}");
    let lasted = Duration::from_micros(end - start);
    eprintln!("the unit lasted {lasted:?} after the plugin started");
    assert!(
        lasted < Duration::from_secs(3),
        "the unit lasted {lasted:?}\n{}",
        tb.journal(UNIT)
    );

    // systemd waited for the unit's cgroup to be empty: the sleep is gone.
    let pid = text(&tb.exec(&["cat", "/run/leftover.pid"]).stdout)
        .trim()
        .to_owned();
    assert!(pid.parse::<u32>().is_ok(), "leftover pid {pid:?}");
    let alive = tb.sh(&format!("kill -0 {pid}"));
    assert!(!alive.status.success(), "sleep {pid} still runs");

    // The journal keeps what the plugin wrote before it exited (journald
    // may take a moment to store the last lines).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let journal = tb.journal(UNIT);
        let has = |line: &str| journal.lines().any(|l| l == line);
        if has("an early line") && has("the last stderr line") && has("the last stdout line") {
            break;
        }
        assert!(Instant::now() < deadline, "lines missing:\n{journal}");
        thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(show(&tb, "StatusText"), "update finished");
}
