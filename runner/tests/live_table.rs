//! The live table of `update-all run` on a terminal shorter than the table
//! (a pseudo-terminal of 8 lines, `script`), on a real systemd 252 (the
//! namespace test bed): every frame fits the terminal, the finished rows
//! fold into a count while a later wave runs, and the rows follow the plan
//! (wave order), not the plugins' names.

mod common;

use common::text;
use std::time::{Duration, Instant};
use testbed::RUNNER;

/// Lines of the pseudo-terminal.
const ROWS: usize = 8;
/// Plugins of the first wave, done at once.
const FIRST: usize = 10;
/// Where the typescript goes, inside.
const TYPESCRIPT: &str = "/run/live.typescript";

#[test]
fn a_table_taller_than_the_terminal_keeps_what_matters_on_screen() {
    let Some(tb) = common::boot_with(|tb| {
        tb.sh("ln -sf /dev/null /run/systemd/system/update-all-recorder.service");
    }) else {
        return;
    };
    let first: Vec<String> = (1..=FIRST).map(|i| format!("p{i:02}")).collect();
    for name in &first {
        tb.add_plugin(
            name,
            "scope: system",
            "#!/bin/sh\n[ \"$1\" = is-applicable ] && exit 0\nexit 0\n",
        );
    }
    // First by name, last in the plan: it runs after every other plugin,
    // until the test lets it finish.
    tb.add_plugin(
        "aaa-slow",
        &format!("scope: system\nruns_after: [{}]", first.join(", ")),
        "#!/bin/sh\n[ \"$1\" = is-applicable ] && exit 0\n\
         for i in $(seq 600); do [ -e /run/go ] && exit 0; sleep 0.1; done\nexit 1\n",
    );
    tb.daemon_reload();

    tb.sh(&format!(
        "(script -qfec 'stty rows {ROWS} cols 120; exec {RUNNER} --system run' {TYPESCRIPT}; \
          echo $? >/run/live.rc) </dev/null >/dev/null 2>&1 &"
    ));
    let typescript = || std::fs::read(tb.host_path(TYPESCRIPT)).map_or(String::new(), |b| text(&b));
    // The first wave is done and aaa-slow runs (for as long as the test
    // wants): the totals say so ...
    let totals = format!("{FIRST}/{} finished", FIRST + 1);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !typescript().contains(&totals) {
        assert!(
            Instant::now() < deadline,
            "no '{totals}' on the terminal:\n{}",
            typescript()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    tb.check(&["touch", "/run/go"]);
    let rc = tb.host_path("/run/live.rc");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(&rc).is_ok_and(|s| s.ends_with('\n')) {
        assert!(
            Instant::now() < deadline,
            "the run did not end:\n{}",
            typescript()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = typescript();
    assert_eq!(std::fs::read_to_string(&rc).unwrap().trim(), "0", "{out}");

    // Each redraw erases the frame before ("ESC[nF ESC[J"). Every frame
    // while the run goes on leaves a line for the cursor.
    let frames: Vec<&str> = out.split("\x1b[J").collect();
    let (last, running) = frames.split_last().unwrap();
    assert!(running.len() > 1, "{out}");
    for frame in &running[1..] {
        let lines = frame.matches('\n').count();
        assert!(lines < ROWS, "a frame of {lines} lines:\n{frame}");
    }
    // ... and the finished rows that do not fit are folded into a count,
    // on a faint line of its own above the rows, with aaa-slow on screen.
    let while_slow = running
        .iter()
        .rev()
        .find(|f| f.contains(&totals))
        .expect("a frame while aaa-slow runs");
    let folded = format!("\x1b[2m{} finished\x1b[0m", FIRST - (ROWS - 3) + 1);
    assert!(while_slow.contains(&folded), "{while_slow}");
    assert!(while_slow.contains("aaa-slow update"), "{while_slow}");
    assert!(while_slow.contains(" running "), "{while_slow}");

    // At the end the whole table, in plan order: the first wave, then
    // aaa-slow (by name it would come first).
    let at = |row: &str| {
        last.find(row)
            .unwrap_or_else(|| panic!("no {row} in the last frame:\n{last}"))
    };
    assert!(at("p01 update") < at("p10 update"), "{last}");
    assert!(at("p10 update") < at("aaa-slow update"), "{last}");
    assert!(
        last.contains("update-all: 11 succeeded, 0 failed"),
        "{last}"
    );
}
