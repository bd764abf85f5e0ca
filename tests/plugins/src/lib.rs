//! Helpers for testing the builtin plugins in `plugins/<name>/`: run one by
//! hand on this machine, or install it into a test bed instance.

pub mod apt;
pub mod flatpak;
pub mod policy;
pub mod rpm;
pub mod toolchain;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use testbed::Testbed;

/// The repository's `plugins/` directory.
pub fn plugins_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins")
}

/// The repository's `tests/fixtures/` directory.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

/// `plugins/<name>/<name>`, the plugin's executable in the repository.
pub fn executable(name: &str) -> PathBuf {
    plugins_dir().join(name).join(name)
}

/// Runs a plugin from the repository by hand: `plugins/<name>/<name> ARGS`,
/// with extra environment variables.
pub fn run(name: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(executable(name))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("cannot run plugin {name}: {e}"))
}

/// Parses a command's stdout as the protocol's JSON document
/// (docs/plugin-protocol.md, "JSON documents"), checked as update-all reads
/// it (`update_all_protocol::Document`).
pub fn json(out: &Output) -> serde_json::Value {
    let broken = |why: &dyn std::fmt::Display| -> ! {
        panic!(
            "stdout is no protocol document ({why}):\n--- stdout\n{}\n--- stderr\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    if let Err(problem) = update_all_protocol::Document::parse(&out.stdout) {
        broken(&problem);
    }
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| broken(&e))
}

/// Installs plugin `name` (executable, manifest, and the shared `lib/`) into
/// an instance under /run/update-all, its manifest's `executable:` rewritten
/// to where it now lives, then reloads systemd. `extra` lines are appended
/// under `plugin:` (e.g. `"  settings:\n    home: /tmp/x\n"`).
pub fn install(tb: &Testbed, name: &str, extra: &str) {
    let dir = plugins_dir();
    for entry in std::fs::read_dir(dir.join("lib")).into_iter().flatten() {
        let path = entry.expect("lib entry").path();
        let file = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        tb.write(
            format!("/run/update-all/lib/{file}"),
            std::fs::read(&path).expect("lib file"),
            0o644,
        );
    }
    tb.install_executable(executable(name), format!("{}/{name}", testbed::PLUGINS));
    let manifest = std::fs::read_to_string(dir.join(name).join(format!("{name}.yaml")))
        .expect("manifest")
        .replace(
            &format!("/usr/lib/update-all/plugins/{name}"),
            &format!("{}/{name}", testbed::PLUGINS),
        );
    tb.write(
        format!("{}/{name}.yaml", testbed::MANIFESTS),
        manifest + extra,
        0o644,
    );
    tb.daemon_reload();
}

/// Panics with the plugin's output unless it exited successfully.
pub fn ok(what: &str, out: Output) -> Output {
    assert!(
        out.status.success(),
        "{what} failed ({})\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A file's text, for `assert!`s on what a root contains.
pub fn read(path: impl AsRef<Path>) -> String {
    let path = path.as_ref();
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
