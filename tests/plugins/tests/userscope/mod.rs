//! Helpers shared by the user-scope plugin tests (toolchains.rs,
//! stores.rs): user plugins run in a user manager, so a test bed instance
//! gets the generator as a user generator too, and root's user manager
//! (user@0.service) starts their units. Also running a plugin by hand with
//! a stand-in tool from tests/fixtures/<tool>/bin first on PATH.

#![allow(dead_code)] // each test file uses its own part

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};
use testbed::Testbed;

/// The environment for `systemctl --user` as root inside an instance.
const USER_ENV: [(&str, &str); 1] = [("XDG_RUNTIME_DIR", "/run/user/0")];

/// Boots an instance with update-all installed for both scopes: the
/// generator under /run/systemd/system-generators and
/// /run/systemd/user-generators, the runner, the static units, and root's
/// user manager running. `None` where the test bed may be skipped.
pub fn boot() -> Option<Testbed> {
    let tb = Testbed::require()?;
    // These tests are about the plugins' units; the recorder has its own.
    tb.sh("ln -sf /dev/null /run/systemd/system/update-all-recorder.service");
    let generator = testbed::target_binary("update-all-generator");
    tb.install_update_all(&generator, Some(&testbed::target_binary("update-all")));
    tb.install_executable(
        &generator,
        "/run/systemd/user-generators/update-all-generator",
    );
    tb.user_manager(0);
    // The machine's TLS and proxy settings, as a user's session would hand
    // them to its manager (environment.d): registries may sit behind a
    // proxy with its own certificate authority.
    let network: Vec<(String, String)> = [
        "NODE_EXTRA_CA_CERTS",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "PIP_CERT",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "GIT_SSL_CAINFO",
        "CARGO_HTTP_CAINFO",
        "http_proxy",
        "https_proxy",
        "no_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
    ]
    .iter()
    .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
    .collect();
    if !network.is_empty() {
        let vars: Vec<(&str, &str)> = network
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        set_env(&tb, &vars);
    }
    Some(tb)
}

/// Installs plugin `name` with `settings` (added to, or replacing, its
/// manifest's) and reloads root's user manager, which generates its units.
pub fn install(tb: &Testbed, name: &str, settings: &[(&str, &str)]) {
    plugin_tests::install(tb, name, "");
    let path = format!("{}/{name}.yaml", testbed::MANIFESTS);
    let manifest = crate::pkgmgr::read(tb.host_path(&path));
    let mut out = String::new();
    let mut in_settings = false;
    for line in manifest.lines() {
        let key = line.trim_start().split(':').next().unwrap_or("");
        if in_settings && line.starts_with("    ") && settings.iter().any(|(k, _)| *k == key) {
            continue; // a default the test overrides
        }
        let opens = line == "  settings:" || line == "  settings: {}";
        in_settings = opens || (in_settings && line.starts_with("    "));
        if opens {
            out.push_str("  settings:\n");
            for (k, v) in settings {
                out.push_str(&format!("    {k}: '{v}'\n"));
            }
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert!(
        out.contains("  settings:\n"),
        "{name}.yaml has no settings: block"
    );
    tb.write(&path, out, 0o644);
    tb.daemon_reload();
    user(tb, &["daemon-reload"]);
}

/// `systemctl --user ARGS` in root's user manager; panics unless it
/// succeeds, with the plugin's journal.
pub fn user(tb: &Testbed, args: &[&str]) -> Output {
    let mut all = vec!["systemctl", "--user"];
    all.extend_from_slice(args);
    let out = tb.exec_env(&USER_ENV, &all);
    assert!(
        out.status.success(),
        "systemctl --user {} failed ({})\n{}\n--- user units ---\n{}\n--- journal ---\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(
            &tb.exec_env(
                &USER_ENV,
                &["systemctl", "--user", "list-units", "--all", "update-all-*"]
            )
            .stdout
        ),
        String::from_utf8_lossy(
            &tb.exec(&["journalctl", "-b", "--no-pager", "-n", "60", "-o", "cat"])
                .stdout
        )
    );
    out
}

/// Sets variables in root's user manager's environment, which its units
/// inherit: the tests point caches (XDG_CACHE_HOME, npm's) at scratch
/// directories so that nothing lands in the host's /root.
pub fn set_env(tb: &Testbed, vars: &[(&str, &str)]) {
    let assignments: Vec<String> = vars.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut args = vec!["set-environment"];
    args.extend(assignments.iter().map(String::as_str));
    user(tb, &args);
}

/// Starts a user unit and waits for it to finish (a oneshot's start job
/// returns when it is done); returns how long that took.
pub fn start(tb: &Testbed, unit: &str) -> Duration {
    let started = Instant::now();
    user(tb, &["start", unit]);
    started.elapsed()
}

/// What a user unit logged (its messages, in journal order, one a line),
/// found by _SYSTEMD_USER_UNIT: the generator's LogExtraFields
/// (UPDATE_ALL_PLUGIN, UPDATE_ALL_PHASE) do not reach the journal from a
/// user manager, which cannot write the file journald reads them from.
/// Read after a journal sync (everything logged so far is in), and polled
/// until `needle` shows up, for up to 10 s.
pub fn journal(tb: &Testbed, unit: &str, needle: &str) -> String {
    let read = || {
        tb.sync_journal();
        let out = tb.exec(&[
            "journalctl",
            "-b",
            &format!("_SYSTEMD_USER_UNIT={unit}"),
            "--no-pager",
            "-o",
            "cat",
        ]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut text = read();
    while !text.contains(needle) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        text = read();
    }
    text
}

/// tests/fixtures/<tool>/bin, where a stand-in for `tool` lives.
pub fn fake_bin(tool: &str) -> PathBuf {
    plugin_tests::fixtures_dir().join(tool).join("bin")
}

/// PATH with `dir` first.
pub fn path_with(dir: &Path) -> String {
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// Runs plugin `name` by hand with `args`, `dir` first on PATH, and `env`.
pub fn run_with(name: &str, args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Output {
    let path = path_with(dir);
    let mut all: Vec<(&str, &str)> = vec![("PATH", path.as_str())];
    all.extend_from_slice(env);
    plugin_tests::run(name, args, &all)
}

/// A plugin run by hand (not through its unit) with its environment.
/// Needs `mod pkgmgr;` next to `mod userscope;` (for [`ByHand::run`]).
pub struct ByHand {
    name: &'static str,
    env: Vec<(String, String)>,
}

impl ByHand {
    /// Plugin `name` with the variables `env`.
    pub fn new(name: &'static str, env: &[(&str, String)]) -> Self {
        ByHand {
            name,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        }
    }

    /// Plugin `name` against the stand-in tools in `bin` (first on PATH),
    /// which keep their state in `dir` (`FAKE_<NAME>_DIR`).
    pub fn stand_in(name: &'static str, bin: &Path, dir: &Path) -> Self {
        let var = format!("FAKE_{}_DIR", name.to_uppercase());
        ByHand::new(
            name,
            &[("PATH", path_with(bin)), (&var, dir.display().to_string())],
        )
    }

    /// The plugin with `args`, however it ends.
    pub fn exec(&self, args: &[&str]) -> Output {
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        plugin_tests::run(self.name, args, &env)
    }

    /// The plugin's `command`; panics with its output unless it succeeds.
    pub fn run(&self, command: &str) -> Output {
        crate::pkgmgr::ok(&format!("{} {command}", self.name), self.exec(&[command]))
    }
}

/// A file's lines that were appended by a stand-in tool (its `calls` log).
pub fn calls(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("calls"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}
