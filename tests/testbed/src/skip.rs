//! Skipped tests, counted as such. A test that cannot run here (a missing
//! tool, no root, a server out of reach) calls [`skip`] and returns: it is
//! not a pass. Under `CI=true` a skip is a failure, since CI installs every
//! requirement. Otherwise the test is named in the file `$UPDATE_ALL_SKIP_LOG`
//! (set by `tests/run`), which moves it from the passed to the skipped
//! count of the totals line.

use std::fmt::Display;
use std::fs::OpenOptions;
use std::io::{self, Write};

/// The environment variable naming the file that collects skipped tests.
pub const SKIP_LOG: &str = "UPDATE_ALL_SKIP_LOG";

/// Records that the running test is skipped, and why; the caller returns.
///
/// # Panics
///
/// Under `CI=true`: a skipped test fails there.
pub fn skip(why: impl Display) {
    // libtest names each test's thread after the test.
    let binary = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let binary = binary.rsplit_once('-').map_or(binary.as_str(), |(b, _)| b);
    let test = format!(
        "{binary}::{}",
        std::thread::current().name().unwrap_or("a test")
    );
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "SKIPPED under CI=true, which fails: {test}: {why}"
    );
    // Straight to fd 2: libtest's capture only catches `eprintln!`.
    let _ = writeln!(io::stderr(), "SKIPPED: {test}: {why}");
    if let Some(log) = std::env::var_os(SKIP_LOG) {
        // One write of one line: parallel tests append whole lines. A test
        // that skips twice is one skipped test (tests/run counts names).
        let line = format!("{test}\t{why}\n");
        let appended = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&log)
            .and_then(|mut f| f.write_all(line.as_bytes()));
        if let Err(e) = appended {
            panic!("cannot record the skip in {}: {e}", log.to_string_lossy());
        }
    }
}
