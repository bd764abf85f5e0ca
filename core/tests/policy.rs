//! Update policies (core::policy) as the configuration and the manifests
//! write them: where each key comes from, and a wrong value refused with
//! its file, line and key while the rest still applies.

mod common;

use common::{messages, unit_names, Root, VENDOR};
use std::time::Duration;
use update_all_core::policy::{Policy, UpdateType};

const CONFIG: &str = "etc/update-all/config.yaml";
const DROPIN: &str = "etc/update-all/config.d/50-policy.yaml";

/// The effective policy of plugin `name` in `root`'s plan.
fn policy_of(root: &Root, name: &str) -> Policy {
    let plan = root.plan();
    assert!(plan.refused.is_empty(), "{}", messages(&plan));
    let plugin = plan
        .plugins
        .iter()
        .find(|p| p.name().as_str() == name)
        .expect("planned");
    Policy::of(&plan.config, &plugin.manifest)
}

#[test]
fn without_a_policy_everything_is_allowed() {
    let root = Root::new();
    root.plugin("apt", "");
    let p = policy_of(&root, "apt");
    assert!(p.is_default(), "{p:?}");
    assert_eq!(
        p.allow,
        [
            UpdateType::Patch,
            UpdateType::Minor,
            UpdateType::Major,
            UpdateType::Security
        ]
    );
}

#[test]
fn overrides_come_before_the_manifest_which_comes_before_the_global_policy() {
    let root = Root::new();
    root.plugin("apt", "");
    root.plugin(
        "npm",
        "policy:\n  allow: [patch, minor, security]\n  min_age: 1d\n",
    );
    root.plugin("cargo", "policy:\n  allow: [patch, minor, security]\n");
    root.write(
        CONFIG,
        "policy:\n  hold: [\"^linux-image\"]\n  min_age: 3d\n  allow: [patch, security]\n",
        0o644,
    );
    root.write(
        DROPIN,
        "policy_overrides:\n  cargo:\n    allow: [patch, minor, major, security]\n    security_only: true\n",
        0o644,
    );
    let apt = policy_of(&root, "apt");
    assert_eq!(apt.allow, [UpdateType::Patch, UpdateType::Security]);
    assert_eq!(apt.hold[0].as_str(), "^linux-image");
    assert_eq!(apt.min_age, Duration::from_secs(3 * 86_400));
    let npm = policy_of(&root, "npm");
    assert_eq!(
        npm.allow,
        [UpdateType::Patch, UpdateType::Minor, UpdateType::Security],
        "the manifest before the global policy"
    );
    assert_eq!(npm.min_age, Duration::from_secs(86_400));
    assert_eq!(
        npm.hold.len(),
        1,
        "keys the manifest leaves come from config"
    );
    let cargo = policy_of(&root, "cargo");
    assert_eq!(cargo.allow.len(), 4, "the override before the manifest");
    assert!(cargo.security_only && !npm.security_only);
}

#[test]
fn a_later_configuration_file_overrides_key_by_key() {
    let root = Root::new();
    root.plugin("apt", "");
    root.write(
        CONFIG,
        "policy:\n  security_only: true\n  min_age: 2h\n",
        0o644,
    );
    root.write(DROPIN, "policy:\n  min_age: 0\n", 0o644);
    let p = policy_of(&root, "apt");
    assert!(p.security_only);
    assert_eq!(p.min_age, Duration::ZERO);
}

#[test]
fn a_wrong_policy_in_a_manifest_refuses_it_with_file_line_and_key() {
    for (body, line, wanted) in [
        (
            "policy:\n  allow: [patch, hotfix]\n",
            6,
            "plugin.policy.allow: unknown update class \"hotfix\"",
        ),
        (
            "policy:\n  hold: [\"linux-(image\"]\n",
            6,
            "plugin.policy.hold: invalid hold pattern \"linux-(image\"",
        ),
        (
            "policy:\n  min_age: soon\n",
            6,
            "plugin.policy.min_age: invalid age \"soon\"",
        ),
        (
            "policy:\n  holds: []\n",
            6,
            "plugin.policy: unknown field `holds`",
        ),
    ] {
        let root = Root::new();
        root.plugin("good", "");
        root.plugin("bad", body);
        let plan = root.plan();
        assert_eq!(unit_names(&plan), ["update-all-good.service"], "{body}");
        assert_eq!(plan.refused.len(), 1, "{body}");
        let msg = messages(&plan).replace(&root.path().display().to_string(), "ROOT");
        let place = format!("ROOT/{VENDOR}/bad.yaml:{line}:");
        assert!(
            msg.contains(&place) && msg.contains(wanted),
            "{body}: {msg}"
        );
    }
}

#[test]
fn a_wrong_policy_in_the_configuration_ignores_that_file_with_file_line_and_key() {
    for (text, wanted) in [
        ("policy:\n  allow: [minor, unknown]\n", "config.yaml:2:"),
        (
            "policy:\n  hold: [\"*\"]\n",
            "policy.hold: invalid hold pattern \"*\"",
        ),
        (
            "policy_overrides:\n  npm:\n    min_age: 3 days\n",
            "config.yaml:3:",
        ),
        (
            "policy_overrides:\n  Not_A_Name:\n    security_only: true\n",
            "config.yaml:2:",
        ),
        (
            "policy:\n  security_only: yes please\n",
            "policy.security_only: invalid type",
        ),
    ] {
        let root = Root::new();
        root.plugin("npm", "");
        root.write(CONFIG, text, 0o644);
        let plan = root.plan();
        let msg = messages(&plan);
        assert!(
            msg.contains(wanted) && msg.contains("is ignored"),
            "{text}: {msg}"
        );
        let npm = &plan.plugins[0];
        assert!(
            Policy::of(&plan.config, &npm.manifest).is_default(),
            "{text}"
        );
    }
}

#[test]
fn an_override_for_a_plugin_no_manifest_defines_is_a_warning() {
    let root = Root::new();
    root.plugin("apt", "");
    root.write(
        CONFIG,
        "policy_overrides:\n  nmp:\n    allow: [patch]\n",
        0o644,
    );
    let plan = root.plan();
    assert_eq!(
        messages(&plan),
        "warning: the configuration names plugin `nmp`, which no manifest defines"
    );
    let apt = &plan.plugins[0];
    assert!(Policy::of(&plan.config, &apt.manifest).is_default());
}
