//! `update-all plan` run as a binary against manifest trees in temporary
//! directories (`UPDATE_ALL_ROOT`).
//!
//! The generator's trust checks want manifests, executables and their
//! directories owned by root (or, in user scope, by the user) and not
//! writable by group or others: run these tests as root.

mod common;

use common::{chmod, Run, Tree, MANIFESTS, PLUGINS};
use serde_json::{json, Value};
use std::fs;
use std::path::PathBuf;

impl Tree {
    /// The manifest file `<file>.yaml` as it is read under the root.
    fn manifest_path(&self, file: &str) -> PathBuf {
        self.root().join(MANIFESTS).join(format!("{file}.yaml"))
    }

    /// Writes the manifest `<file>.yaml` with `text`.
    fn manifest(&self, file: &str, text: &str) -> PathBuf {
        let path = self.manifest_path(file);
        fs::write(&path, text).unwrap();
        chmod(&path, 0o644);
        path
    }

    /// Writes an executable `plugins/<name>` and a manifest for it whose
    /// `plugin:` mapping has `name`, `executable` and then `fields` (YAML
    /// lines indented by two spaces).
    fn plugin(&self, name: &str, fields: &str) -> PathBuf {
        let exe = self.root().join(PLUGINS).join(name);
        fs::write(&exe, "#!/bin/sh\nexit 0\n").unwrap();
        chmod(&exe, 0o755);
        self.manifest(
            name,
            &format!("plugin:\n  name: {name}\n  executable: /{PLUGINS}/{name}\n{fields}"),
        )
    }

    /// The small tree of the examples: apt downloads holding the network,
    /// flatpak (system scope) downloads holding it too, pipx runs after apt
    /// and needs the Python runtime that apt's update holds.
    fn example() -> Self {
        let tree = Tree::new();
        tree.plugin(
            "apt",
            "  requires_sudo: true\n  can_separate_download: true\n  static_mutexes:\n    \
             download: [system:network]\n    update: [pkgmgr:dpkg, runtime:python]\n",
        );
        tree.plugin(
            "flatpak",
            "  scope: system\n  can_separate_download: true\n  static_mutexes:\n    \
             download: [system:network]\n",
        );
        tree.plugin(
            "pipx",
            "  scope: system\n  runs_after: [apt]\n  static_dependencies:\n    \
             update: [runtime:python]\n",
        );
        tree
    }

    fn run(&self, args: &[&str]) -> Run {
        Run::of(
            self.command()
                .args(args)
                .env("HOME", "/home/tester")
                .env("XDG_CONFIG_HOME", "/home/tester/.config"),
        )
    }
}

/// The line of `text` that starts (after indentation) with `start`.
fn line_starting<'a>(text: &'a str, start: &str) -> &'a str {
    text.lines()
        .find(|l| l.trim_start().starts_with(start))
        .unwrap_or_else(|| panic!("no line starting with {start:?} in:\n{text}"))
}

/// Collapses runs of spaces, so alignment does not matter.
fn squeeze(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn waves_and_reasons() {
    let tree = Tree::example();
    let run = tree.run(&["plan", "--system"]);
    assert_eq!(run.code, 0, "{run:?}");
    let out = &run.stdout;
    assert!(
        out.starts_with("Plan for the system scope: 5 units, 3 waves\n"),
        "{run:?}"
    );
    // Both downloads hold system:network, so flatpak's waits for apt's.
    assert!(
        out.contains(
            "\nWave 1: apt (download)\n\
             Wave 2: apt (update), flatpak (download)\n\
             Wave 3: flatpak (update), pipx (update)\n"
        ),
        "{run:?}"
    );
    let expect = [
        ("update-all-apt-download.service", "(nothing before it)"),
        (
            "update-all-apt.service",
            "after update-all-apt-download.service (download phase)",
        ),
        (
            "update-all-flatpak-download.service",
            "after update-all-apt-download.service (mutex system:network)",
        ),
        (
            "update-all-flatpak.service",
            "after update-all-flatpak-download.service (download phase)",
        ),
        (
            "update-all-pipx.service",
            "after update-all-apt.service (runs_after, dependency runtime:python)",
        ),
    ];
    for (unit, edge) in expect {
        assert_eq!(
            squeeze(line_starting(out, unit)),
            format!("{unit} {edge}"),
            "{run:?}"
        );
    }
    assert!(!out.contains("Refused"), "{run:?}");
    assert!(run.stderr.is_empty(), "{run:?}");
}

#[test]
fn json_document() {
    let tree = Tree::example();
    let run = tree.run(&["plan", "--json", "--system"]);
    assert_eq!(run.code, 0, "{run:?}");
    let doc = run.json();
    assert_eq!(doc["scope"], "system");
    assert_eq!(
        doc["waves"],
        json!([
            ["update-all-apt-download.service"],
            [
                "update-all-apt.service",
                "update-all-flatpak-download.service"
            ],
            ["update-all-flatpak.service", "update-all-pipx.service"]
        ])
    );
    let units = doc["units"].as_array().unwrap();
    assert_eq!(units.len(), 5);
    let pipx = units
        .iter()
        .find(|u| u["unit"] == "update-all-pipx.service")
        .unwrap();
    assert_eq!(
        *pipx,
        json!({
            "unit": "update-all-pipx.service",
            "plugin": "pipx",
            "phase": "update",
            "wave": 3,
            "after": [{
                "unit": "update-all-apt.service",
                "reasons": [
                    {"kind": "runs_after"},
                    {"kind": "dependency", "mutex": "runtime:python"}
                ]
            }],
            "executable": "/usr/lib/update-all/plugins/pipx",
            "source": "/usr/lib/update-all/plugins.d/pipx.yaml"
        })
    );
    let flatpak_download = units
        .iter()
        .find(|u| u["unit"] == "update-all-flatpak-download.service")
        .unwrap();
    assert_eq!(
        flatpak_download["after"],
        json!([{
            "unit": "update-all-apt-download.service",
            "reasons": [{"kind": "mutex", "mutex": "system:network"}]
        }])
    );
    for key in ["refused", "disabled", "warnings", "other_scope", "masked"] {
        assert_eq!(doc[key], json!([]), "{key}");
    }
}

#[test]
fn broken_manifest_is_refused_with_file_and_line() {
    let tree = Tree::example();
    // Line 4 holds the typo.
    let bad = tree.manifest(
        "broken",
        "plugin:\n  name: broken\n  executable: /usr/lib/update-all/plugins/apt\n  \
         runs_afer: [apt]\n",
    );
    let run = tree.run(&["plan", "--system"]);
    assert_eq!(run.code, 1, "{run:?}");
    let out = &run.stdout;
    assert!(out.contains("1 refused"), "{run:?}");
    assert!(
        out.contains(&format!("{}:4:3: error: ", bad.display())),
        "{run:?}"
    );
    assert!(out.contains("did you mean `runs_after`?"), "{run:?}");
    // The good plugins are still planned.
    assert!(
        out.contains("Wave 3: flatpak (update), pipx (update)"),
        "{run:?}"
    );

    let run = tree.run(&["plan", "--system", "--json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let doc = run.json();
    let refused = doc["refused"].as_array().unwrap();
    assert_eq!(refused.len(), 1, "{run:?}");
    assert_eq!(refused[0]["name"], Value::Null);
    assert_eq!(refused[0]["file"], bad.to_str().unwrap());
    let reason = &refused[0]["reasons"][0];
    assert_eq!(reason["severity"], "error");
    assert_eq!(reason["file"], bad.to_str().unwrap());
    assert_eq!(reason["line"], 4);
    assert_eq!(reason["column"], 3);
    assert!(reason["message"]
        .as_str()
        .unwrap()
        .contains("unknown field `runs_afer`"));
    assert_eq!(doc["units"].as_array().unwrap().len(), 5);
}

#[test]
fn missing_executable_and_untrusted_manifest_are_refused() {
    let tree = Tree::new();
    tree.manifest(
        "ghost",
        "plugin:\n  name: ghost\n  executable: /usr/lib/update-all/plugins/ghost\n  \
         requires_sudo: true\n",
    );
    let loose = tree.plugin("loose", "  requires_sudo: true\n");
    chmod(&loose, 0o664);
    let run = tree.run(&["plan", "--system"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("\n  ghost:\n"), "{run:?}");
    assert!(
        run.stdout
            .contains("executable /usr/lib/update-all/plugins/ghost not usable"),
        "{run:?}"
    );
    assert!(run.stdout.contains("\n  loose.yaml:\n"), "{run:?}");
    assert!(run.stdout.contains("manifest not trusted"), "{run:?}");
    assert!(run.stdout.contains("No unit would run"), "{run:?}");
}

#[test]
fn dependency_cycle_is_refused() {
    let tree = Tree::new();
    tree.plugin("one", "  requires_sudo: true\n  runs_after: [two]\n");
    tree.plugin("two", "  requires_sudo: true\n  runs_after: [one]\n");
    tree.plugin("three", "  requires_sudo: true\n");
    let run = tree.run(&["plan", "--system"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("Refused (2):"), "{run:?}");
    assert!(
        run.stdout.contains("dependency cycle one → two → one"),
        "{run:?}"
    );
    assert!(run.stdout.contains("Wave 1: three (update)\n"), "{run:?}");
}

#[test]
fn clean_tree_exits_zero() {
    let tree = Tree::new();
    tree.plugin("apt", "  requires_sudo: true\n");
    let run = tree.run(&["plan", "--system"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .starts_with("Plan for the system scope: 1 unit, 1 wave\n"),
        "{run:?}"
    );
    assert!(run.stdout.contains("\nWave 1: apt (update)\n"), "{run:?}");
    assert!(!run.stdout.contains("Refused"), "{run:?}");
}

#[test]
fn empty_tree_exits_zero() {
    let tree = Tree::new();
    let run = tree.run(&["plan", "--system"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .contains("No unit would run: there is no usable system plugin."),
        "{run:?}"
    );
    let doc = tree.run(&["plan", "--system", "--json"]).json();
    assert_eq!(doc["waves"], json!([]));
    assert_eq!(doc["units"], json!([]));
}

#[test]
fn disabled_plugins_and_warnings_do_not_fail() {
    let tree = Tree::new();
    let off = tree.plugin("off", "  requires_sudo: true\n  enabled: false\n");
    tree.plugin("apt", "  requires_sudo: true\n  runs_after: [nosuch]\n");
    let run = tree.run(&["plan", "--system"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains(&format!(
            "Disabled (1):\n  off: `enabled: false` in its manifest ({})\n",
            off.display()
        )),
        "{run:?}"
    );
    assert!(run.stdout.contains("Warnings (1):\n  "), "{run:?}");
    assert!(
        run.stdout
            .contains("warning: plugin `apt` runs_after `nosuch`, which is not defined"),
        "{run:?}"
    );

    let doc = tree.run(&["plan", "--system", "--json"]).json();
    assert_eq!(doc["disabled"][0]["name"], "off");
    assert_eq!(
        doc["disabled"][0]["why"],
        "`enabled: false` in its manifest"
    );
    assert_eq!(doc["warnings"][0]["severity"], "warning");
    assert_eq!(doc["refused"], json!([]));
}

#[test]
fn user_scope_shows_only_user_plugins() {
    let tree = Tree::new();
    tree.plugin("apt", "  requires_sudo: true\n");
    tree.plugin("rustup", "");
    tree.plugin("cargo", "  scope: user\n  runs_after: [rustup]\n");

    let run = tree.run(&["plan", "--user"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .starts_with("Plan for the user scope: 2 units, 2 waves\n"),
        "{run:?}"
    );
    assert!(
        run.stdout
            .contains("\nWave 1: rustup (update)\nWave 2: cargo (update)\n"),
        "{run:?}"
    );
    assert!(!run.stdout.contains("update-all-apt"), "{run:?}");
    assert!(
        run.stdout.contains(
            "In the system scope, not planned here (1): apt; see `update-all plan --system`"
        ),
        "{run:?}"
    );

    // The flag also works before the subcommand.
    let doc = tree.run(&["--user", "plan", "--json"]).json();
    assert_eq!(doc["scope"], "user");
    assert_eq!(
        doc["waves"],
        json!([["update-all-rustup.service"], ["update-all-cargo.service"]])
    );
    assert_eq!(doc["other_scope"], json!(["apt"]));

    let doc = tree.run(&["plan", "--system", "--json"]).json();
    assert_eq!(doc["waves"], json!([["update-all-apt.service"]]));
    assert_eq!(doc["other_scope"], json!(["cargo", "rustup"]));
}

#[test]
fn default_scope_follows_the_effective_user() {
    let tree = Tree::new();
    let doc = tree.run(&["plan", "--json"]).json();
    let expected = if nix::unistd::geteuid().is_root() {
        "system"
    } else {
        "user"
    };
    assert_eq!(doc["scope"], expected);
}

#[test]
fn usage_errors_exit_two() {
    let tree = Tree::new();
    for args in [
        &["plan", "--user", "--system"][..],
        &["plan", "--bogus"],
        &["no-such-command"],
        &[],
    ] {
        let run = tree.run(args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(run.stdout.is_empty(), "{args:?}: {run:?}");
    }
}

#[test]
fn broken_configuration_fails_the_plan_but_plans_the_rest() {
    let tree = Tree::example();
    let conf = tree.root().join("etc/update-all/config.yaml");
    fs::create_dir_all(conf.parent().unwrap()).unwrap();
    fs::write(&conf, "plugins:\n  disabeld: [apt]\n").unwrap();
    chmod(&conf, 0o644);
    let run = tree.run(&["plan", "--system"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout
            .contains("config.yaml:2:3: error: plugins: unknown field `disabeld`"),
        "{run:?}"
    );
    assert!(run.stdout.contains("Wave 1: apt (download)"), "{run:?}");
}
