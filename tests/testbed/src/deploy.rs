//! Installs update-all into an instance the way a package would, but under
//! the instance's private `/run`, so the host's `/etc` and `/usr` are never
//! touched:
//!
//! | what                | where inside                                        |
//! |---------------------|-----------------------------------------------------|
//! | generator           | `/run/systemd/system-generators/update-all-generator` |
//! | runner              | `/run/update-all/bin/update-all`                    |
//! | static units        | `/run/systemd/system/` (ExecStart paths rewritten)  |
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
        self.write(
            "/run/update-all/config.d/00-testbed.yaml",
            format!("paths:\n  runner: {RUNNER}\n"),
            0o644,
        );
        let mut units: Vec<_> = fs::read_dir(units_dir())
            .expect("units/")
            .map(|e| e.expect("units/ entry").path())
            .collect();
        units.sort();
        for unit in units {
            let text = fs::read_to_string(&unit).expect("unit text");
            let name = unit.file_name().expect("file name").to_string_lossy();
            self.write(
                format!("/run/systemd/system/{name}"),
                text.replace("/usr/bin/update-all", RUNNER),
                0o644,
            );
        }
        self.daemon_reload();
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
