//! `update-all plugins list | info | validate` run as a binary against
//! plugin trees in temporary directories (`UPDATE_ALL_ROOT`): these
//! commands run plugins as the invoking user, by hand, without systemd.
//! The broken plugins are the fixtures in tests/fixtures/bad-plugins/; the
//! apt plugin of plugins/ is validated on this machine, read-only.
//!
//! The generator's trust checks want the trees owned by root and not
//! writable by others: run these tests as root.

mod common;

use common::{chmod, Run, Tree, MANIFESTS, PLUGINS};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixtures() -> PathBuf {
    repo().join("tests/fixtures/bad-plugins")
}

impl Tree {
    fn write(&self, path: &str, contents: impl AsRef<[u8]>, mode: u32) {
        let path = self.root().join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, contents).unwrap();
        chmod(&path, mode);
    }

    /// Plugin `name`: `script` as its executable and a manifest with
    /// `body` under `plugin:`, as the test bed's `add_plugin` writes them.
    fn plugin(&self, name: &str, body: &str, script: &str) {
        self.write(&format!("{PLUGINS}/{name}"), script, 0o755);
        let mut manifest = format!("plugin:\n  name: {name}\n  executable: /{PLUGINS}/{name}\n");
        for line in body.lines().filter(|l| !l.trim().is_empty()) {
            manifest.push_str(&format!("  {line}\n"));
        }
        self.write(&format!("{MANIFESTS}/{name}.yaml"), manifest, 0o644);
    }

    /// A plugin of tests/fixtures/bad-plugins/, with `extra` body lines.
    fn fixture(&self, name: &str, extra: &str) {
        let read = |f: &str| fs::read_to_string(fixtures().join(f)).unwrap();
        let body = read(&format!("{name}.yaml")) + extra;
        self.plugin(name, &body, &read(name));
    }

    fn run(&self, args: &[&str]) -> Run {
        Run::of(self.command().arg("--system").args(args))
    }
}

/// Every fixture's name (the executables next to their `.yaml`).
fn fixture_names() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(fixtures())
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".yaml").map(str::to_owned)
        })
        .collect();
    names.sort();
    names
}

/// The plugin reports of `validate --json`, by plugin name.
fn reports(doc: &Value) -> BTreeMap<String, Value> {
    doc["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["plugin"].as_str().unwrap().to_owned(), r.clone()))
        .collect()
}

/// The checks of one report that failed: (check, error kind, message).
fn failures(report: &Value) -> Vec<(String, String, String)> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["verdict"] == "fail")
        .map(|c| {
            (
                c["check"].as_str().unwrap().to_owned(),
                c["error"]["kind"].as_str().unwrap_or("").to_owned(),
                c["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The one check named `check` of a report.
fn check<'a>(report: &'a Value, check: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == check)
        .unwrap_or_else(|| panic!("no check {check} in {report:#}"))
}

#[test]
fn list_shows_every_plugin_and_why_it_is_left_out() {
    let tree = Tree::new();
    tree.fixture("well-behaved", "can_separate_download: true\n");
    tree.fixture("silent", "enabled: false\n");
    tree.plugin("gone", "scope: system\n", "#!/bin/sh\n");
    fs::remove_file(tree.root().join(PLUGINS).join("gone")).unwrap();
    tree.plugin("mine", "scope: user\n", "#!/bin/sh\n");

    let run = tree.run(&["plugins", "list", "--json"]);
    assert_eq!(run.code, 1, "a refused manifest: {run:?}");
    let doc = run.json();
    assert_eq!(doc["scope"], "system");
    assert_eq!(doc["other_scope"], serde_json::json!(["mine"]));
    let plugins: BTreeMap<&str, &Value> = doc["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p))
        .collect();
    assert_eq!(
        plugins.keys().copied().collect::<Vec<_>>(),
        ["gone", "silent", "well-behaved"]
    );
    let good = plugins["well-behaved"];
    assert_eq!(good["status"], "enabled");
    assert_eq!(good["why"], Value::Null);
    assert_eq!(good["version"], "1.0.0");
    assert_eq!(good["executable"], format!("/{PLUGINS}/well-behaved"));
    assert_eq!(good["source"], format!("/{MANIFESTS}/well-behaved.yaml"));
    assert_eq!(good["phases"], serde_json::json!(["download", "update"]));
    assert_eq!(plugins["silent"]["status"], "disabled");
    assert_eq!(plugins["silent"]["why"], "`enabled: false` in its manifest");
    // A disabled plugin's manifest is still shown.
    assert_eq!(plugins["silent"]["phases"], serde_json::json!(["update"]));
    assert_eq!(plugins["gone"]["status"], "refused");
    let why = plugins["gone"]["why"].as_str().unwrap();
    assert!(
        why.contains("executable /usr/lib/update-all/plugins/gone not usable"),
        "{why}"
    );

    let text = tree.run(&["plugins", "list"]).stdout;
    assert!(
        text.starts_with("Plugins of the system scope: 3 plugins\n"),
        "{text}"
    );
    let row = text
        .lines()
        .find(|l| l.starts_with("well-behaved"))
        .unwrap();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cells,
        [
            "well-behaved",
            "enabled",
            "1.0.0",
            "download,update",
            "/usr/lib/update-all/plugins/well-behaved",
            "/usr/lib/update-all/plugins.d/well-behaved.yaml"
        ]
    );
    assert!(
        text.contains("\nNot enabled (2):\n  gone (refused): "),
        "{text}"
    );
    assert!(text.contains("  silent (disabled): `enabled: false` in its manifest\n"));
    assert!(text.contains("In the user scope (1): mine; see `update-all --user plugins list`"));

    fs::remove_file(tree.root().join(MANIFESTS).join("gone.yaml")).unwrap();
    assert_eq!(tree.run(&["plugins", "list"]).code, 0);
}

#[test]
fn info_shows_the_resolved_manifest_and_the_plugins_answers() {
    let tree = Tree::new();
    tree.fixture(
        "well-behaved",
        "runs_after: [apt]\nstatic_mutexes:\n  update: [pkgmgr:DPKG, runtime:python]\n\
         static_dependencies:\n  download: [system:network]\ntimeouts:\n  estimate_update: 30\n\
         resources:\n  memory_max: 512M\n  nice: 5\nsettings:\n  auto_remove: true\n  home: /opt/x\n",
    );
    tree.fixture("false-claims", "");

    let run = tree.run(&["plugins", "info", "well-behaved", "--json"]);
    assert_eq!(run.code, 0, "{run:?}");
    let doc = run.json();
    assert_eq!(doc["status"], "enabled");
    assert_eq!(doc["scope"], "system");
    let m = &doc["manifest"];
    assert_eq!(
        m["mutexes"]["update"],
        serde_json::json!(["pkgmgr:dpkg", "runtime:python"])
    );
    assert_eq!(m["mutexes"]["estimate"], serde_json::json!([]));
    assert_eq!(
        m["dependencies"]["download"],
        serde_json::json!(["system:network"])
    );
    assert_eq!(m["runs_after"], serde_json::json!(["apt"]));
    // Defaults are filled in.
    assert_eq!(m["timeouts"]["is_applicable"], 10);
    assert_eq!(m["timeouts"]["estimate_update"], 30);
    assert_eq!(m["resources"]["memory_max"], "512M");
    assert_eq!(m["resources"]["nice"], 5);
    assert_eq!(
        m["settings"],
        serde_json::json!([
            {"key": "auto_remove", "value": "true", "variable": "UPDATE_ALL_WELL_BEHAVED_AUTO_REMOVE"},
            {"key": "home", "value": "/opt/x", "variable": "UPDATE_ALL_WELL_BEHAVED_HOME"},
        ])
    );
    assert_eq!(
        doc["units"],
        serde_json::json!([{"unit": "update-all-well-behaved.service", "phase": "update"}])
    );
    assert_eq!(
        doc["answers"],
        serde_json::json!({"version": "1.0.0", "can_separate_download": false, "does_require_sudo": false})
    );

    let text = tree.run(&["plugins", "info", "well-behaved"]).stdout;
    for line in [
        "well-behaved 1.0.0: follows the protocol",
        "  units         update-all-well-behaved.service",
        "  mutexes       update: pkgmgr:dpkg, runtime:python",
        "  dependencies  download: system:network",
        "  timeouts      is_applicable 10 s, estimate_update 30 s, download 1800 s, update 3600 s",
        "  resources     memory_max 512M, nice 5",
        "  settings      auto_remove: true (as UPDATE_ALL_WELL_BEHAVED_AUTO_REMOVE)",
        "                home: /opt/x (as UPDATE_ALL_WELL_BEHAVED_HOME)",
        "  can-separate-download  no",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "no line {line:?} in:\n{text}"
        );
    }

    // The plugin's own answers, even when they contradict the manifest.
    let doc = tree
        .run(&["plugins", "info", "false-claims", "--json"])
        .json();
    assert_eq!(doc["manifest"]["can_separate_download"], true);
    assert_eq!(doc["answers"]["can_separate_download"], false);
    assert_eq!(doc["answers"]["does_require_sudo"], true);

    // A manifest that does not parse is found by its file name.
    tree.write(
        &format!("{MANIFESTS}/broken.yaml"),
        "plugin:\n  name: broken\n  colour: red\n",
        0o644,
    );
    let run = tree.run(&["plugins", "info", "broken"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.starts_with("broken (refused)\n"), "{run:?}");
    assert!(run.stdout.contains("unknown field `colour`"), "{run:?}");

    let run = tree.run(&["plugins", "info", "nope"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("no plugin `nope` in the system scope"),
        "{run:?}"
    );
}

#[test]
fn a_plugin_that_follows_the_protocol_is_valid() {
    let tree = Tree::new();
    tree.fixture("well-behaved", "");
    let run = tree.run(&["plugins", "validate"]);
    assert_eq!(run.code, 0, "{run:?}");
    // Not a terminal: plain markers.
    assert!(!run.stdout.contains('✓'));
    for line in [
        "well-behaved (enabled, /usr/lib/update-all/plugins.d/well-behaved.yaml): valid",
        "  ok   executable: /usr/lib/update-all/plugins/well-behaved",
        "  ok   is-applicable: applies to this system",
        "  ok   estimate-update: 1 update, 1000 B to download, about 5 s",
        "  ok   validate: healthy",
        "  skip update: not run, validate never applies updates; the plugin's validate vouches for it",
        "1 plugin checked in the system scope: 1 valid, 0 invalid",
    ] {
        assert!(run.stdout.lines().any(|l| l == line), "no line {line:?}:\n{run:?}");
    }
    let doc = tree
        .run(&["plugins", "validate", "well-behaved", "--json"])
        .json();
    assert_eq!(doc["valid"], true);
    let report = &doc["plugins"][0];
    assert!(failures(report).is_empty(), "{report:#}");
    assert_eq!(check(report, "does-require-sudo")["verdict"], "pass");
}

#[test]
fn each_bad_plugin_gets_a_message_naming_it_and_the_command() {
    let tree = Tree::new();
    let names = fixture_names();
    assert!(names.len() >= 10, "{names:?}");
    for name in &names {
        tree.fixture(name, "");
    }
    let start = Instant::now();
    let run = tree.run(&["plugins", "validate", "--json"]);
    let took = start.elapsed();
    assert_eq!(run.code, 1, "{run:?}");
    let doc = run.json();
    assert_eq!(doc["valid"], false);
    let reports = reports(&doc);
    assert_eq!(reports.keys().cloned().collect::<Vec<_>>(), names);

    // The others carry on: the good one is checked, and valid.
    assert_eq!(reports["well-behaved"]["valid"], true);

    let expect = |plugin: &str, wanted: &[(&str, &str, &str)]| {
        let got = failures(&reports[plugin]);
        assert_eq!(got.len(), wanted.len(), "{plugin}: {got:#?}");
        for ((check, kind, message), (w_check, w_kind, w_text)) in got.iter().zip(wanted) {
            assert_eq!(
                (check.as_str(), kind.as_str()),
                (*w_check, *w_kind),
                "{plugin}"
            );
            let prefix = format!("plugin `{plugin}` {check}: ");
            assert!(message.starts_with(&prefix), "{message}");
            assert!(message.contains(w_text), "{plugin}: {message}");
        }
    };
    expect(
        "not-json",
        &[(
            "estimate-update",
            "not_json",
            "output is not JSON (line 1 column 1: expected value); stdout must hold exactly one \
             JSON document, and a tool's own output belongs on stderr; the plugin printed: \
             \"Reading package lists... Done\\n{\\\"status\\\"",
        )],
    );
    expect(
        "bad-exit",
        &[("estimate-update", "unexpected_exit", "exited with status 3")],
    );
    expect(
        "silent",
        &[(
            "estimate-update",
            "empty",
            "printed nothing on stdout; it must print one JSON document \
             (docs/plugin-protocol.md); its stderr ends with: \"estimating, but printing no document\"",
        )],
    );
    expect(
        "hangs",
        &[(
            "estimate-update",
            "timed_out",
            "did not finish within 1 s, so its process group was killed; \
             raise `timeouts.estimate_update` in its manifest",
        )],
    );
    expect(
        "bad-estimate",
        &[(
            "estimate-update",
            "invalid",
            "`data.packages_to_update[0].download_size_bytes` is \"12 MB\"; it must be a whole \
             number of bytes or null",
        )],
    );
    expect(
        "status-mismatch",
        &[(
            "estimate-update",
            "status_mismatch",
            "the document says `success` but the plugin exited with status 2",
        )],
    );
    expect(
        "bad-mutexes",
        &[(
            "update-mutexes",
            "invalid",
            "invalid mutex name \"not a mutex!\"",
        )],
    );
    let not_implemented = "is not implemented: it exited with status 2 and printed nothing";
    expect(
        "missing-commands",
        &[
            ("can-separate-download", "not_implemented", not_implemented),
            ("does-require-sudo", "not_implemented", not_implemented),
            ("estimate-update", "not_implemented", not_implemented),
        ],
    );
    // A claim the plugin contradicts is no protocol error, but invalid.
    let got = failures(&reports["false-claims"]);
    let got: Vec<(&str, &str)> = got
        .iter()
        .map(|(c, _, m)| (c.as_str(), m.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (
                "can-separate-download",
                "answers no (exit status 1) but the manifest says `can_separate_download: true`; \
                 make the two agree"
            ),
            (
                "does-require-sudo",
                "answers yes (exit status 0) but the manifest says `requires_sudo: false`; \
                 make the two agree"
            ),
        ]
    );

    let text = tree.run(&["plugins", "validate"]).stdout;
    assert!(
        text.contains("\n  FAIL estimate-update: plugin `silent` estimate-update: printed nothing")
    );
    assert!(
        text.ends_with("10 plugins checked in the system scope: 1 valid, 9 invalid\n"),
        "{text}"
    );
    // One hang of a second, the rest is quick.
    assert!(took < Duration::from_secs(8), "{took:?}");
}

#[test]
fn a_hang_is_killed_with_its_process_group_at_the_timeout() {
    let tree = Tree::new();
    tree.fixture("hangs", "");
    let run = tree.run(&["plugins", "validate", "hangs", "--json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let estimate = check(&run.json()["plugins"][0], "estimate-update").clone();
    let seconds = estimate["seconds"].as_f64().unwrap();
    // Killed at 1 s; SIGTERM ends sh and its sleep at once.
    assert!((1.0..2.5).contains(&seconds), "{estimate:#}");
    // The background child of the plugin, named in its stderr, is gone too.
    let message = estimate["message"].as_str().unwrap();
    let pid: i32 = message
        .split("waiting for sleeper ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {message}"));
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .next();
    assert!(
        stat.is_empty() || state == Some("Z"),
        "sleeper {pid} lives: {stat}"
    );
}

#[test]
fn validate_with_an_unknown_name() {
    let tree = Tree::new();
    tree.plugin("mine", "scope: user\n", "#!/bin/sh\n");
    let run = tree.run(&["plugins", "validate", "nope"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("no plugin `nope` in the system scope"),
        "{run:?}"
    );
    let run = tree.run(&["plugins", "validate", "mine"]);
    assert_eq!(run.code, 1);
    assert!(run
        .stderr
        .contains("belongs to the user scope; use `update-all --user plugins"));
}

/// The builtin apt plugin on this machine's real apt, read-only: its
/// `refresh` setting off (no apt-get update), so the estimate is
/// `apt-get -s` on the lists as they are.
#[test]
fn the_apt_plugin_is_valid_on_this_machine() {
    let simulated = Command::new("apt-get")
        .args(["-s", "-q", "-o", "APT::Color=0", "upgrade"])
        .env("LC_ALL", "C.UTF-8")
        .output();
    let Some(simulated) = simulated.ok().filter(|o| o.status.success()) else {
        eprintln!("skipped: no working apt-get here");
        return;
    };
    let pending = String::from_utf8_lossy(&simulated.stdout)
        .lines()
        .filter(|l| l.starts_with("Inst "))
        .count();
    let tree = Tree::new();
    for entry in fs::read_dir(repo().join("plugins/lib")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        tree.write(
            &format!("usr/lib/update-all/lib/{name}"),
            fs::read(&path).unwrap(),
            0o644,
        );
    }
    tree.write(
        &format!("{PLUGINS}/apt"),
        fs::read(repo().join("plugins/apt/apt")).unwrap(),
        0o755,
    );
    let manifest = fs::read_to_string(repo().join("plugins/apt/apt.yaml")).unwrap();
    assert!(manifest.contains("    refresh: true\n"));
    tree.write(
        &format!("{MANIFESTS}/apt.yaml"),
        manifest.replace("    refresh: true\n", "    refresh: false\n"),
        0o644,
    );

    let run = tree.run(&["plugins", "validate", "apt", "--json"]);
    assert_eq!(run.code, 0, "{run:?}");
    let report = &run.json()["plugins"][0];
    assert!(failures(report).is_empty(), "{report:#}");
    let estimate = check(report, "estimate-update");
    assert_eq!(estimate["verdict"], "pass", "{estimate:#}");
    let message = estimate["message"].as_str().unwrap();
    let noun = if pending == 1 { "update" } else { "updates" };
    assert!(
        message.starts_with(&format!("{pending} {noun}")),
        "{message}"
    );
    assert_eq!(check(report, "can-separate-download")["verdict"], "pass");
    assert_eq!(check(report, "does-require-sudo")["verdict"], "pass");
    let sudo = check(report, "sudo-programs-paths");
    assert_eq!(sudo["verdict"], "pass", "{sudo:#}");
    assert!(sudo["message"].as_str().unwrap().contains("/apt-get"));
    assert_eq!(check(report, "update-mutexes")["verdict"], "pass");
    assert!(check(report, "update-mutexes")["message"]
        .as_str()
        .unwrap()
        .contains("pkgmgr:dpkg"));
    // supports_rollback: asked with an empty rollback file only.
    let rollback = check(report, "rollback");
    assert_eq!(rollback["verdict"], "pass", "{rollback:#}");
}

/// A refused plugin is listed, described and validated from what the
/// generator read, and never run: its executable (owned by uid 4001)
/// would leave a marker.
#[test]
fn a_refused_plugin_is_shown_but_never_run() {
    let tree = Tree::new();
    let marker = tree.root().join("ran");
    let script = format!("#!/bin/sh\necho \"$*\" >> {}\n", marker.display());
    tree.plugin("theirs", "version: \"2.0\"\nscope: system\n", &script);
    std::os::unix::fs::chown(tree.root().join(PLUGINS).join("theirs"), Some(4001), None).unwrap();
    tree.plugin("recorder", "scope: system\n", &script);
    let owned = "/usr/lib/update-all/plugins/theirs is owned by uid 4001, not root";
    let reserved = "the plugin name `recorder` is reserved: its unit would replace update-all's \
                    own update-all-recorder.service";

    let run = tree.run(&["plugins", "list", "--json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let doc = run.json();
    let theirs = &doc["plugins"][1];
    assert_eq!(theirs["name"], "theirs", "{doc:#}");
    assert_eq!(theirs["status"], "refused");
    // What the manifest says, as the generator read it.
    assert_eq!(theirs["version"], "2.0");
    assert!(theirs["why"].as_str().unwrap().contains(owned), "{doc:#}");
    assert!(doc["plugins"][0]["why"]
        .as_str()
        .unwrap()
        .contains(reserved));

    let run = tree.run(&["plugins", "info", "theirs", "--json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let doc = run.json();
    assert_eq!(doc["answers"], Value::Null);
    assert_eq!(doc["units"], serde_json::json!([]));
    assert_eq!(doc["manifest"]["version"], "2.0");
    let text = tree.run(&["plugins", "info", "recorder"]).stdout;
    assert!(text.contains(reserved), "{text}");
    assert!(
        text.contains("The plugin is not asked: not run: update-all never runs a plugin"),
        "{text}"
    );

    for args in [
        &["plugins", "validate"][..],
        &["plugins", "validate", "theirs"],
    ] {
        let run = tree.run(args);
        assert_eq!(run.code, 1, "{run:?}");
        assert!(run.stdout.contains(owned), "{run:?}");
        assert!(
            run.stdout
                .contains("  skip executable: not run: update-all never runs a plugin"),
            "{run:?}"
        );
    }
    assert!(!marker.exists(), "{}", fs::read_to_string(&marker).unwrap());
}
