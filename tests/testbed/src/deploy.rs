//! Installs update-all into an instance the way a package would, but under
//! the instance's private `/run`, so the host's `/etc` and `/usr` are never
//! touched:
//!
//! | what                | where inside                                        |
//! |---------------------|-----------------------------------------------------|
//! | generator           | `/run/systemd/system-generators/update-all-generator` |
//! | runner              | `/run/update-all/bin/update-all`                    |
//! | static units        | `/run/systemd/system/` (ExecStart paths rewritten)  |
//! | user units, on request | `/run/systemd/user/`, generator in `/run/systemd/user-generators/` |
//! | plugin manifests    | `/run/update-all/plugins.d/NAME.yaml`               |
//! | plugin executables  | `/run/update-all/plugins/NAME`                      |
//! | configuration       | `/run/update-all/config.d/00-testbed.yaml` (the runner's path) |

use crate::Testbed;
use std::fs;
use std::path::{Path, PathBuf};

/// Where the runner is installed inside an instance.
pub const RUNNER: &str = "/run/update-all/bin/update-all";
/// Where plugin executables go inside an instance.
pub const PLUGINS: &str = "/run/update-all/plugins";
/// Where manifests go inside an instance (the runtime manifest directory).
pub const MANIFESTS: &str = "/run/update-all/plugins.d";
/// `XDG_STATE_HOME` of the user manager's own update-all services (see
/// [`Testbed::install_update_all_for_users`]); `%t` is the user's runtime
/// directory, so root's statistics are in `/run/user/0/state/update-all`.
const USER_STATE: &str = "%t/state";

/// A binary built by cargo in this workspace's target directory (the one
/// holding the running test executable).
///
/// # Panics
///
/// If it has not been built: run `cargo build --workspace` first (the
/// README's test command does).
pub fn target_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is not built: run `cargo build --workspace` first",
        path.display()
    );
    path
}

/// The repository's `units/` directory.
fn units_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../units")
}

/// The test bed's default for `safety:` (see [`Testbed::install_update_all`]).
const SAFETY_OFF: &str = "safety:\n  snapshot: off\n  rollback: off\n";

impl Testbed {
    /// Installs the generator, the runner (when `runner` is given) and the
    /// static units, then reloads systemd.
    pub fn install_update_all(&self, generator: &Path, runner: Option<&Path>) {
        self.install_executable(
            generator,
            "/run/systemd/system-generators/update-all-generator",
        );
        if let Some(runner) = runner {
            self.install_executable(runner, RUNNER);
        }
        // Plugin units start their plugin through the runner (plugin-exec).
        // The safety units (snapshots, a health check with its 30 s settle)
        // are off here, so that a test of something else sees only its own
        // plugins' units: a test of them turns them on in its own drop-in,
        // such as `safety: {snapshot: auto, rollback: auto}` in
        // /run/update-all/config.d/50-safety.yaml.
        self.write(
            "/run/update-all/config.d/00-testbed.yaml",
            format!("paths:\n  runner: {RUNNER}\n{SAFETY_OFF}"),
            0o644,
        );
        self.install_units(&units_dir(), "/run/systemd/system");
        self.daemon_reload();
    }

    /// Installs the generator as a user generator and the user manager's
    /// static units (`units/user/`, under `/run/systemd/user`), for every
    /// user's manager; call [`Testbed::install_update_all`] first. The
    /// recorder, the scheduled run, the health check and the rollback keep
    /// their statistics under the user's runtime directory
    /// (`XDG_STATE_HOME=%t/state`): root's home is the host's. Reload a running user manager afterwards.
    pub fn install_update_all_for_users(&self, generator: &Path) {
        self.install_executable(
            generator,
            "/run/systemd/user-generators/update-all-generator",
        );
        self.install_units(&units_dir().join("user"), "/run/systemd/user");
        // Each unit that reads or writes the user's statistics.
        for unit in [
            "update-all-recorder.service",
            "update-all.service",
            "update-all-health.service",
            "update-all-rollback.service",
        ] {
            self.write(
                format!("/run/systemd/user/{unit}.d/50-testbed.conf"),
                format!("[Service]\nEnvironment=XDG_STATE_HOME={USER_STATE}\n"),
                0o644,
            );
        }
    }

    /// Copies the unit files of `from` (not its directories) into `to`,
    /// with the runner's path rewritten.
    fn install_units(&self, from: &Path, to: &str) {
        let mut units: Vec<_> = fs::read_dir(from)
            .expect("units directory")
            .map(|e| e.expect("units entry").path())
            .filter(|p| p.is_file())
            .collect();
        units.sort();
        for unit in units {
            let text = fs::read_to_string(&unit).expect("unit text");
            let name = unit.file_name().expect("file name").to_string_lossy();
            self.write(
                format!("{to}/{name}"),
                text.replace("/usr/bin/update-all", RUNNER),
                0o644,
            );
        }
    }

    /// Adds a plugin: its manifest (`body` goes under `plugin:` after name
    /// and executable) and its executable (a shell script). Call
    /// [`Testbed::daemon_reload`] afterwards.
    pub fn add_plugin(&self, name: &str, body: &str, script: &str) {
        let exe = format!("{PLUGINS}/{name}");
        self.write(&exe, script, 0o755);
        let mut manifest = format!("plugin:\n  name: {name}\n  executable: {exe}\n");
        for line in body.lines().filter(|l| !l.trim().is_empty()) {
            manifest.push_str("  ");
            manifest.push_str(line);
            manifest.push('\n');
        }
        self.write(format!("{MANIFESTS}/{name}.yaml"), manifest, 0o644);
    }

    /// `systemctl daemon-reload`, which reruns the generators.
    pub fn daemon_reload(&self) {
        self.check(&["systemctl", "daemon-reload"]);
    }
}
