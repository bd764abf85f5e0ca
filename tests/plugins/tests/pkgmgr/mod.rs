//! Helpers shared by the system package-manager plugin tests (apt.rs,
//! rpm_managers.rs, pacman.rs): tool checks with the CI policy, scratch
//! directories the test bed can see, commands that must succeed, and the
//! estimate's package list.

#![allow(dead_code, unused_imports)] // each test file uses its own part

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `true` if every program is on PATH. Otherwise the test is skipped
/// ([`testbed::skip`]) and this returns `false` — or panics under `CI=true`,
/// where a missing tool means tests/plugins/REQUIREMENTS.apt was not
/// installed.
pub fn have_tools(test: &str, tools: &[&str]) -> bool {
    let missing = testbed::missing_tools(tools);
    if missing.is_empty() {
        return true;
    }
    let why = format!(
        "{test}: {} not installed (see tests/plugins/REQUIREMENTS.apt)",
        missing.join(", ")
    );
    testbed::skip(why);
    false
}

/// `true` when running as root; otherwise skipped (a panic under CI).
pub fn is_root(test: &str) -> bool {
    if nix_is_root() {
        return true;
    }
    testbed::skip(format!("{test}: needs root"));
    false
}

fn nix_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A scratch directory under the target directory, not under /tmp: the
/// test bed's /tmp is private, the rest of the file system is shared, so
/// paths in it mean the same inside an instance. Traversable by everyone
/// (makepkg runs as nobody).
pub fn scratch(name: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix(&format!("{name}-"))
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("scratch directory");
    sh(&format!("chmod 755 '{}'", dir.path().display()));
    dir
}

/// Runs a shell script; panics with its output unless it succeeds.
pub use testbed::host_sh as sh;

/// Panics with the plugin's output unless it exited successfully.
pub use plugin_tests::ok;

/// The estimate's packages as (name, current, new).
pub fn packages(doc: &serde_json::Value) -> BTreeSet<(String, String, String)> {
    assert_eq!(doc["status"], "success", "estimate: {doc}");
    doc["data"]["packages_to_update"]
        .as_array()
        .unwrap_or_else(|| panic!("no packages_to_update: {doc}"))
        .iter()
        .map(|p| {
            let s = |k: &str| p[k].as_str().unwrap_or("").to_owned();
            (s("name"), s("current_version"), s("new_version"))
        })
        .collect()
}

/// The one package of an estimate that must list exactly one.
pub fn only_package(doc: &serde_json::Value) -> &serde_json::Value {
    let list = doc["data"]["packages_to_update"]
        .as_array()
        .unwrap_or_else(|| panic!("no packages_to_update: {doc}"));
    assert_eq!(list.len(), 1, "expected one package: {doc}");
    &list[0]
}

/// The protocol's progress lines in a plugin's stderr
/// (docs/plugin-protocol.md, "Progress and status text"), each one that
/// update-all reads as progress.
pub fn progress_lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.starts_with("{\"type\":\"progress\""))
        .map(|l| {
            assert!(
                update_all_protocol::progress_status(l.as_bytes()).is_some(),
                "update-all reads no progress in {l}"
            );
            serde_json::from_str(l).expect("progress line is JSON")
        })
        .collect()
}

/// tests/fixtures/<plugin>/<file>.
pub fn fixture(plugin: &str, file: &str) -> PathBuf {
    plugin_tests::fixtures_dir().join(plugin).join(file)
}

/// A file's text, for `assert!`s on what a root contains.
pub use plugin_tests::read;

/// [`plugin_tests::install`], then the manifest's settings extended (or
/// overridden) by `settings`, e.g. a throw-away root; reloads systemd.
pub fn install_with_settings(tb: &testbed::Testbed, name: &str, settings: &[(&str, &str)]) {
    plugin_tests::install(tb, name, "");
    let path = format!("{}/{name}.yaml", testbed::MANIFESTS);
    let manifest = read(tb.host_path(&path));
    let mut out = String::new();
    let mut in_settings = false;
    for line in manifest.lines() {
        let key = line.trim_start().split(':').next().unwrap_or("");
        // Drop a default that the test overrides.
        if in_settings && line.starts_with("    ") && settings.iter().any(|(k, _)| *k == key) {
            continue;
        }
        in_settings = line == "  settings:" || (in_settings && line.starts_with("    "));
        out.push_str(line);
        out.push('\n');
        if line == "  settings:" {
            for (k, v) in settings {
                out.push_str(&format!("    {k}: '{v}'\n"));
            }
        }
    }
    assert!(
        out.contains("  settings:\n"),
        "{name}.yaml has no settings: block"
    );
    tb.write(&path, out, 0o644);
    tb.daemon_reload();
}

/// A POSIX record lock (fcntl), as apt and dpkg take on their lock files,
/// held on the whole of a file until this is dropped: another apt gets
/// "Could not get lock". (flock(1)'s locks are another kind, which apt
/// does not see.) An open file description lock, so that it conflicts
/// with the locks of other processes and even of this one.
pub struct RecordLock(std::fs::File);

impl RecordLock {
    pub fn hold(path: &Path) -> RecordLock {
        use nix::fcntl::{fcntl, FcntlArg};
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // A write lock from the start to the end, however long the file
        // grows (l_len 0); l_pid must be 0 for an open file description lock.
        let lock = nix::libc::flock {
            l_type: nix::libc::F_WRLCK as i16,
            l_whence: nix::libc::SEEK_SET as i16,
            l_start: 0,
            l_len: 0,
            l_pid: 0,
        };
        fcntl(&file, FcntlArg::F_OFD_SETLK(&lock))
            .unwrap_or_else(|e| panic!("cannot lock {}: {e}", path.display()));
        RecordLock(file)
    }
}

/// The error document's code and message in a plugin's output, which must
/// have failed.
pub fn error_of(what: &str, out: &Output) -> (String, String) {
    let doc = plugin_tests::json(out);
    assert!(
        !out.status.success() && doc["status"] == "error",
        "{what} should have failed: {doc}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = |k: &str| doc["error"][k].as_str().unwrap_or("").to_owned();
    (s("code"), s("message"))
}

/// Polls `cond` every 100 ms until it holds; panics with `what` after
/// `timeout`.
pub fn wait_for(what: &str, timeout: std::time::Duration, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + timeout;
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// A live process whose pid a test writes into a tool's lock file, as a
/// running dnf or zypper leaves its own there; killed when dropped.
pub struct LockOwner(std::process::Child);

impl LockOwner {
    pub fn start() -> LockOwner {
        LockOwner(
            Command::new("sleep")
                .arg("600")
                .spawn()
                .expect("cannot run sleep"),
        )
    }

    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for LockOwner {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
