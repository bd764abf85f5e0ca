//! Helpers shared by the runner's integration tests: an instance of the
//! test bed with this build's generator and runner installed, the runner
//! run inside it, and manifest trees for `UPDATE_ALL_ROOT` with the runner
//! run against them on the host.

// Each test binary uses only some of these.
#![allow(dead_code)]

pub mod reboot;

use serde_json::Value;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use tempfile::TempDir;
use testbed::{Testbed, RUNNER};

/// An instance with the generator and this runner installed (systemd
/// reloaded), or `None` where the test bed is unavailable.
pub fn boot() -> Option<Testbed> {
    boot_with(|_| {})
}

/// Like [`boot`], with `prepare` run on the instance before the install.
pub fn boot_with(prepare: impl FnOnce(&Testbed)) -> Option<Testbed> {
    let tb = Testbed::require()?;
    prepare(&tb);
    tb.install_update_all(
        &testbed::target_binary("update-all-generator"),
        Some(Path::new(env!("CARGO_BIN_EXE_update-all"))),
    );
    Some(tb)
}

/// `update-all ARGS` inside the instance.
pub fn runner(tb: &Testbed, args: &[&str]) -> Output {
    runner_env(tb, &[], args)
}

/// `update-all ARGS` inside the instance, with extra environment variables.
pub fn runner_env(tb: &Testbed, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut all = vec![RUNNER];
    all.extend_from_slice(args);
    tb.exec_env(env, &all)
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A command's exit status, standard output and standard error.
pub fn show(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    )
}

/// Where plugin executables go under a [`Tree`]'s root.
pub const PLUGINS: &str = "usr/lib/update-all/plugins";
/// Where manifests go under a [`Tree`]'s root (the vendor directory).
pub const MANIFESTS: &str = "usr/lib/update-all/plugins.d";

/// A root prefix (`UPDATE_ALL_ROOT`) in a temporary directory, with the
/// vendor manifest and plugin directories.
pub struct Tree {
    dir: TempDir,
}

impl Tree {
    pub fn new() -> Self {
        let tree = Tree {
            dir: tempfile::tempdir().unwrap(),
        };
        for d in [PLUGINS, MANIFESTS] {
            fs::create_dir_all(tree.root().join(d)).unwrap();
        }
        for d in ["usr", "usr/lib", "usr/lib/update-all", PLUGINS, MANIFESTS] {
            chmod(&tree.root().join(d), 0o755);
        }
        tree
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// This build's `update-all`, reading its files under the root.
    pub fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_update-all"));
        command
            .env("UPDATE_ALL_ROOT", self.root())
            .env_remove("SYSTEMD_SCOPE");
        command
    }
}

/// How a command run on the host ended.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Runs `command` to its end.
    pub fn of(command: &mut Command) -> Self {
        let out = command.output().unwrap();
        Run {
            code: out.status.code().expect("exited, not killed"),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        }
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{self:?}"))
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

pub fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// Waits until `done` holds, polling every 50 ms; panics naming `what`
/// after `timeout`.
pub fn wait_for(what: &str, timeout: Duration, done: impl FnMut() -> bool) {
    wait_for_or(what, timeout, done, String::new);
}

/// [`wait_for`], with what `context` says (a unit's journal, the jobs
/// left) in the message when it times out.
pub fn wait_for_or(
    what: &str,
    timeout: Duration,
    mut done: impl FnMut() -> bool,
    context: impl FnOnce() -> String,
) {
    let deadline = Instant::now() + timeout;
    while !done() {
        if Instant::now() >= deadline {
            panic!("timed out waiting for {what}\n{}", context());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The statistics recorder's unit.
pub const RECORDER: &str = "update-all-recorder.service";

/// Waits for the recorder to see the run end and exit, and asserts that it
/// exited successfully (its journal in the message otherwise). Only
/// update-all's jobs count: a test that restarts the bus leaves logind
/// restarting too, for as long as it takes.
pub fn wait_recorded(tb: &Testbed) {
    wait_for_or(
        "the recorder to exit",
        Duration::from_secs(40),
        || {
            let jobs = tb.check(&["systemctl", "list-jobs", "--no-legend"]);
            let ours = jobs.lines().any(|job| {
                job.split_whitespace()
                    .nth(1)
                    .is_some_and(|unit| unit.starts_with("update-all"))
            });
            !ours && unit_property(tb, RECORDER, "ActiveState") == "inactive"
        },
        || {
            format!(
                "{}\nrecorder log:\n{}",
                show(&tb.sh(
                    "systemctl list-jobs; systemctl status --no-pager update-all-recorder.service"
                )),
                tb.journal(RECORDER)
            )
        },
    );
    assert_eq!(
        unit_property(tb, RECORDER, "Result"),
        "success",
        "recorder log:\n{}",
        tb.journal(RECORDER)
    );
}

/// A property of `unit` inside (`systemctl show -P NAME UNIT`).
pub fn unit_property(tb: &Testbed, unit: &str, name: &str) -> String {
    text(&tb.systemctl(&["show", "-P", name, unit]).stdout)
        .trim()
        .to_owned()
}

/// The last state `run --json` reported for `plugin`'s `phase`.
pub fn last_state<'a>(events: &'a [Value], plugin: &str, phase: &str) -> &'a str {
    events
        .iter()
        .rev()
        .find(|e| e["event"] == "state" && e["plugin"] == plugin && e["phase"] == phase)
        .and_then(|e| e["state"].as_str())
        .unwrap_or_else(|| panic!("no state for {plugin} {phase}: {events:#?}"))
}
