//! Host-side helpers for the tests that use the test bed: which programs
//! the host lacks, and shell commands on the host that must succeed.

use std::process::Command;

/// The programs of `tools` that are not on the host's `PATH`, in order.
pub fn missing_tools<'a>(tools: &[&'a str]) -> Vec<&'a str> {
    tools
        .iter()
        .copied()
        .filter(|t| {
            !Command::new("sh")
                .args(["-c", &format!("command -v {t} >/dev/null")])
                .status()
                .is_ok_and(|s| s.success())
        })
        .collect()
}

/// Runs `script` with `sh -c` on the host (not inside an instance: that
/// is [`crate::Testbed::sh`]); returns its stdout.
///
/// # Panics
///
/// If it fails; the message has its output.
pub fn host_sh(script: &str) -> String {
    let out = Command::new("sh")
        .args(["-c", script])
        .output()
        .expect("cannot run sh");
    assert!(
        out.status.success(),
        "`{script}` failed ({})\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
