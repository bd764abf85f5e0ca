//! One test per validation rule: a bad manifest is refused with a message
//! naming file, line and field, and costs nothing else.

mod common;

use common::{messages, refused_names, unit_names, Root, ADMIN, RUNTIME, VENDOR};
use std::os::unix::fs::{chown, symlink, PermissionsExt};
use update_all_core::{inventory, plan, Scope};

/// Plans a root holding one good plugin (`good`) and one manifest `bad.yaml`
/// with `text`; returns the messages after checking `good` survived.
fn refused_with(text: &str) -> String {
    let root = Root::new();
    root.plugin("good", "");
    root.executable("bad");
    root.write(&format!("{VENDOR}/bad.yaml"), text, 0o644);
    let plan = root.plan();
    assert_eq!(
        unit_names(&plan),
        ["update-all-good.service"],
        "{}",
        messages(&plan)
    );
    assert_eq!(plan.refused.len(), 1, "{}", messages(&plan));
    messages(&plan).replace(&root.path().display().to_string(), "ROOT")
}

const BAD: &str = "ROOT/usr/lib/update-all/plugins.d/bad.yaml";

#[test]
fn yaml_syntax_error_names_line_and_column() {
    let msg = refused_with("plugin:\n  name: bad\n  description: 'no end\n  scope: system\n");
    assert!(
        msg.starts_with(&format!("{BAD}:5:1: error: found unexpected end of stream")),
        "{msg}"
    );
    assert!(msg.contains("while scanning a quoted scalar"), "{msg}");
}

#[test]
fn unknown_field_suggests_the_closest_name() {
    let msg = refused_with(
        "plugin:\n  name: bad\n  executable: /usr/lib/update-all/plugins/bad\n  runs_afer: [good]\n",
    );
    assert!(
        msg.contains(&format!(
            "{BAD}:4:3: error: plugin: unknown field `runs_afer`"
        )),
        "{msg}"
    );
    assert!(msg.contains("did you mean `runs_after`?"), "{msg}");
}

#[test]
fn wrong_type_names_the_field() {
    let msg = refused_with(
        "plugin:\n  name: bad\n  executable: /usr/lib/update-all/plugins/bad\n  requires_sudo: maybe\n",
    );
    assert!(
        msg.contains(&format!(
            "{BAD}:4:18: error: plugin.requires_sudo: invalid type"
        )),
        "{msg}"
    );
}

#[test]
fn ranges_are_checked() {
    for (field, value, line) in [
        ("resources:\n    cpu_weight", "0", 5),
        ("resources:\n    io_weight", "10001", 5),
        ("resources:\n    nice", "20", 5),
        ("timeouts:\n    update", "0", 5),
        ("timeouts:\n    download", "-5", 5),
        ("resources:\n    memory_max", "2GB", 5),
    ] {
        let msg = refused_with(&format!(
            "plugin:\n  name: bad\n  executable: /usr/lib/update-all/plugins/bad\n  {field}: {value}\n"
        ));
        let leaf = field.rsplit(' ').next().unwrap();
        assert!(msg.contains(&format!("{BAD}:{line}:")), "{msg}");
        assert!(msg.contains(&format!(".{leaf}: ")), "{msg}");
    }
}

#[test]
fn missing_required_field() {
    let msg = refused_with("plugin:\n  name: bad\n");
    assert!(msg.contains("missing field `executable`"), "{msg}");
}

#[test]
fn plugin_names_follow_the_pattern() {
    for name in [
        "Bad",
        "bad--x",
        "-bad",
        "bad-download",
        &"b".repeat(65),
        "bad.x",
    ] {
        let msg = refused_with(&format!(
            "plugin:\n  name: \"{name}\"\n  executable: /usr/lib/update-all/plugins/bad\n"
        ));
        assert!(
            msg.contains(&format!("{BAD}:2:9: error: plugin.name:")),
            "{name}: {msg}"
        );
    }
}

#[test]
fn executable_must_be_absolute() {
    let msg = refused_with("plugin:\n  name: bad\n  executable: bin/bad\n");
    assert!(
        msg.contains("plugin.executable: \"bin/bad\" is not an absolute path"),
        "{msg}"
    );
}

#[test]
fn executable_must_not_hold_quotes_or_backslashes() {
    for exe in [r#"/opt/a\"b"#, "/opt/a'b", r"/opt/a\\b"] {
        let msg = refused_with(&format!("plugin:\n  name: bad\n  executable: \"{exe}\"\n"));
        assert!(
            msg.contains("which systemd does not allow in an executable's path"),
            "{msg}"
        );
    }
}

#[test]
fn writes_takes_absolute_paths_only_a_few() {
    const HEAD: &str = "plugin:\n  name: bad\n  executable: /usr/lib/update-all/plugins/bad\n";
    for (writes, wanted) in [
        (
            "[var/cache]",
            "plugin.writes[0]: \"var/cache\" is not an absolute path",
        ),
        (
            "[/, /var/../etc]",
            "plugin.writes[1]: \"/var/../etc\" holds `..`",
        ),
        (
            "[\"/a\\nb\"]",
            "plugin.writes[0]: contains the control character",
        ),
        (
            "/var/cache",
            "plugin.writes: invalid type: string \"/var/cache\", expected a list",
        ),
        ("[/a, /b, /c, /d, /e, /f, /g, /h, /i]", "more than 8 paths"),
    ] {
        let msg = refused_with(&format!("{HEAD}  writes: {writes}\n"));
        assert!(msg.contains(&format!("{BAD}:4:")), "{writes}: {msg}");
        assert!(msg.contains(wanted), "{writes}: {msg}");
    }
    let long = format!("/{}", "a".repeat(1024));
    let msg = refused_with(&format!("{HEAD}  writes: [{long}]\n"));
    assert!(msg.contains("a path of 1025 bytes is too long"), "{msg}");
}

#[test]
fn writes_is_read_in_order() {
    let root = Root::new();
    root.plugin("good", "writes: [/var/cache/good, /, /boot]\n");
    let plan = root.plan();
    let writes: Vec<&str> = plan.plugins[0]
        .manifest
        .writes
        .paths()
        .iter()
        .map(|p| p.as_str())
        .collect();
    assert_eq!(
        writes,
        ["/var/cache/good", "/", "/boot"],
        "{}",
        messages(&plan)
    );
}

#[test]
fn executable_must_exist_and_be_executable() {
    let msg = refused_with(
        "plugin:\n  name: bad\n  executable: /usr/lib/update-all/plugins/nope\n  scope: system\n",
    );
    assert!(
        msg.contains("executable /usr/lib/update-all/plugins/nope not usable"),
        "{msg}"
    );
    let root = Root::new();
    root.write("usr/lib/update-all/plugins/plain", "#!/bin/sh\n", 0o644);
    root.write(
        &format!("{VENDOR}/plain.yaml"),
        "plugin:\n  name: plain\n  executable: /usr/lib/update-all/plugins/plain\n  scope: system\n",
        0o644,
    );
    assert!(messages(&root.plan()).contains("is not executable; run `chmod 755"));
}

#[test]
fn mutex_names_follow_section_5_1() {
    for mutex in ["a:b:c", "pkg mgr", "x:", &format!("m:{}", "x".repeat(63))] {
        let msg = refused_with(&format!(
            "plugin:\n  name: bad\n  executable: /usr/lib/update-all/plugins/bad\n  static_mutexes:\n    update: [\"{mutex}\"]\n"
        ));
        assert!(
            msg.contains("plugin.static_mutexes.update[0]: "),
            "{mutex}: {msg}"
        );
    }
}

#[test]
fn mutexes_compare_case_insensitively() {
    let root = Root::new();
    root.plugin("a", "static_mutexes:\n  update: [PkgMgr:DPKG]");
    root.plugin("b", "static_mutexes:\n  update: [pkgmgr:dpkg]");
    let plan = root.plan();
    let b = plan
        .units
        .iter()
        .find(|u| plan.unit_name(u) == "update-all-b.service")
        .unwrap();
    assert_eq!(b.after.len(), 1);
}

#[test]
fn control_characters_are_refused() {
    let msg = refused_with(
        "plugin:\n  name: bad\n  executable: /usr/lib/update-all/plugins/bad\n  description: \"x\\nExecStartPre=/bin/evil\"\n",
    );
    assert!(
        msg.contains("plugin.description: contains the control character '\\n'"),
        "{msg}"
    );
    let msg = refused_with(
        "plugin:\n  name: bad\n  executable: /usr/lib/update-all/plugins/bad\n  settings:\n    key: \"a\\rb\"\n",
    );
    assert!(
        msg.contains("plugin.settings.key: contains the control character"),
        "{msg}"
    );
    let msg = refused_with(
        "plugin:\n  name: bad\n  executable: /usr/lib/update-all/plugins/bad\n  settings:\n    \"a=b\": 1\n",
    );
    assert!(msg.contains("invalid setting name \"a=b\""), "{msg}");
}

#[test]
fn duplicate_names_refuse_both_files() {
    let root = Root::new();
    root.plugin("good", "");
    root.plugin("one", "");
    let other = root.write(
        &format!("{VENDOR}/two.yaml"),
        "plugin:\n  name: one\n  executable: /usr/lib/update-all/plugins/one\n  scope: system\n",
        0o644,
    );
    let plan = root.plan();
    assert_eq!(unit_names(&plan), ["update-all-good.service"]);
    assert_eq!(refused_names(&plan), ["one", "one"]);
    for r in &plan.refused {
        let text = r.reasons[0].to_string();
        assert!(
            text.contains("one.yaml") && text.contains(&other.display().to_string()),
            "{text}"
        );
    }
}

#[test]
fn runs_after_unknown_or_disabled_is_only_a_warning() {
    let root = Root::new();
    root.plugin("a", "runs_after: [ghost, off]");
    root.plugin("off", "enabled: false");
    let plan = root.plan();
    assert_eq!(unit_names(&plan), ["update-all-a.service"]);
    assert!(plan.refused.is_empty());
    let msg = messages(&plan);
    assert!(
        msg.contains("warning: plugin `a` runs_after `ghost`, which is not defined"),
        "{msg}"
    );
    assert!(msg.contains("runs_after `off`, which is disabled"), "{msg}");
}

#[test]
fn cycles_are_reported_whole_and_left_out() {
    let root = Root::new();
    root.plugin("a", "runs_after: [c]");
    root.plugin("b", "runs_after: [a]");
    root.plugin("c", "runs_after: [b]");
    root.plugin("d", "runs_after: [a]");
    root.plugin("e", "");
    let plan = root.plan();
    assert_eq!(
        unit_names(&plan),
        ["update-all-d.service", "update-all-e.service"]
    );
    assert_eq!(refused_names(&plan), ["a", "b", "c"]);
    let msg = messages(&plan);
    assert!(msg.contains("dependency cycle a → b → c → a"), "{msg}");
    assert!(
        msg.contains("plugin `d` runs_after `a`, which is on a dependency cycle"),
        "{msg}"
    );
}

#[test]
fn cycles_through_dependencies_are_found() {
    let root = Root::new();
    root.plugin(
        "x",
        "static_mutexes:\n  update: [m1]\nstatic_dependencies:\n  update: [m2]",
    );
    root.plugin(
        "y",
        "static_mutexes:\n  update: [m2]\nstatic_dependencies:\n  update: [m1]",
    );
    root.plugin("z", "runs_after: [z]");
    let plan = root.plan();
    assert!(plan.units.is_empty());
    let msg = messages(&plan);
    assert!(msg.contains("dependency cycle x → y → x"), "{msg}");
    assert!(msg.contains("dependency cycle z → z"), "{msg}");
}

#[test]
fn manifests_others_can_write_are_refused() {
    let root = Root::new();
    root.plugin("good", "");
    let owned = root.plugin("owned", "");
    chown(&owned, Some(1000), Some(1000)).unwrap();
    let writable = root.plugin("writable", "");
    std::fs::set_permissions(&writable, std::fs::Permissions::from_mode(0o664)).unwrap();
    // A root-owned symlink to a file a user owns is no better.
    let user_file = root.write(
        "home/u/evil.yaml",
        "plugin:\n  name: evil\n  executable: /usr/lib/update-all/plugins/good\n",
        0o644,
    );
    chown(&user_file, Some(1000), Some(1000)).unwrap();
    symlink(
        "/home/u/evil.yaml",
        root.path().join(VENDOR).join("evil.yaml"),
    )
    .unwrap();
    // An executable a user may replace.
    root.plugin("exe", "");
    let exe = root.path().join("usr/lib/update-all/plugins/exe");
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o757)).unwrap();
    let plan = root.plan();
    assert_eq!(unit_names(&plan), ["update-all-good.service"]);
    let msg = messages(&plan);
    assert_eq!(plan.refused.len(), 4, "{msg}");
    assert!(
        msg.contains("owned.yaml is owned by uid 1000, not root"),
        "{msg}"
    );
    assert!(
        msg.contains("writable.yaml is writable by its group or by everyone (mode 664)"),
        "{msg}"
    );
    assert!(msg.contains("evil.yaml is owned by uid 1000"), "{msg}");
    assert!(
        msg.contains("plugins/exe is writable by its group or by everyone (mode 757)"),
        "{msg}"
    );
}

#[test]
fn a_directory_others_can_write_refuses_its_manifests() {
    let root = Root::new();
    root.plugin("vendor", "");
    root.plugin_in(ADMIN, "admin", "");
    let dir = root.path().join("etc/update-all");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o775)).unwrap();
    let plan = root.plan();
    assert_eq!(unit_names(&plan), ["update-all-vendor.service"]);
    assert!(messages(&plan).contains("etc/update-all is writable by its group"));
    // A directory owned by a user is as bad.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    chown(&dir, Some(1000), None).unwrap();
    assert!(messages(&root.plan()).contains("etc/update-all is owned by uid 1000"));
}

#[test]
fn user_scope_trusts_the_users_own_files_only() {
    let root = Root::new();
    let uid = nix::unistd::geteuid().as_raw();
    root.plugin("mine", "scope: user");
    let theirs = root.plugin("theirs", "scope: user");
    chown(&theirs, Some(uid + 4242), None).unwrap();
    let plan = plan::plan(inventory::load(&root.env(Scope::User)));
    assert_eq!(unit_names(&plan), ["update-all-mine.service"]);
    assert!(messages(&plan).contains("theirs.yaml is owned by uid"));
}

#[test]
fn scope_selects_manifests() {
    let root = Root::new();
    root.plugin("sys", "requires_sudo: true");
    root.plugin("usr", "requires_sudo: false");
    root.plugin("forced", "requires_sudo: true\nscope: user");
    root.plugin_in(".config/update-all/plugins.d", "xdg", "scope: user");
    let system = root.plan();
    assert_eq!(unit_names(&system), ["update-all-sys.service"]);
    let mut env = root.env(Scope::User);
    env.user_config = Some("/.config".into());
    let user = plan::plan(inventory::load(&env));
    assert_eq!(
        unit_names(&user),
        [
            "update-all-forced.service",
            "update-all-usr.service",
            "update-all-xdg.service"
        ]
    );
}

#[test]
fn higher_priority_directories_replace_and_mask() {
    let root = Root::new();
    root.plugin("replaced", "description: vendor");
    root.plugin_in(ADMIN, "replaced", "description: admin");
    root.plugin("masked", "");
    std::os::unix::fs::symlink("/dev/null", root.path().join(RUNTIME).join("masked.yaml")).ok();
    std::fs::create_dir_all(root.path().join(RUNTIME)).unwrap();
    symlink("/dev/null", root.path().join(RUNTIME).join("masked.yaml")).ok();
    root.plugin("emptied", "");
    root.write(&format!("{ADMIN}/emptied.yaml"), "", 0o644);
    root.plugin_in(RUNTIME, "runtime", "");
    let plan = root.plan();
    assert_eq!(
        unit_names(&plan),
        ["update-all-replaced.service", "update-all-runtime.service"]
    );
    assert_eq!(plan.plugins[0].manifest.description.as_str(), "admin");
}

#[test]
fn configuration_enables_and_disables() {
    let root = Root::new();
    for p in ["a", "b", "c"] {
        root.plugin(p, "");
    }
    root.plugin("d", "enabled: false");
    root.write(
        "etc/update-all/config.yaml",
        "plugins:\n  enabled: [a, b, d]\n",
        0o644,
    );
    root.write(
        "etc/update-all/config.d/10-off.yaml",
        "plugins:\n  disabled: [b, nosuch]\n",
        0o644,
    );
    let plan = root.plan();
    assert_eq!(
        unit_names(&plan),
        ["update-all-a.service", "update-all-d.service"]
    );
    assert!(messages(&plan).contains("names plugin `nosuch`, which no manifest defines"));
}

#[test]
fn a_broken_configuration_file_is_skipped_with_its_location() {
    let root = Root::new();
    root.plugin("a", "");
    root.plugin("b", "");
    root.write(
        "etc/update-all/config.yaml",
        "plugins:\n  disabled: [b]\n",
        0o644,
    );
    root.write(
        "etc/update-all/config.d/20-bad.yaml",
        "slice:\n  memory_hihg: 1G\n",
        0o644,
    );
    let mut inv = inventory::load(&root.env(Scope::System));
    let slice = std::mem::take(&mut inv.config.slice);
    let plan = plan::plan(inv);
    assert_eq!(unit_names(&plan), ["update-all-a.service"]);
    let msg = messages(&plan);
    assert!(
        msg.contains("config.d/20-bad.yaml:2:3: error: slice: unknown field `memory_hihg`"),
        "{msg}"
    );
    assert!(msg.contains("did you mean `memory_high`?"), "{msg}");
    assert!(slice.is_empty());
}

#[test]
fn configuration_others_can_write_is_not_trusted() {
    let root = Root::new();
    root.plugin("a", "");
    let conf = root.write(
        "etc/update-all/config.yaml",
        "plugins:\n  disabled: [a]\nslice:\n  memory_max: 1G\n",
        0o666,
    );
    let (config, diags) = update_all_core::config::load(&root.env(Scope::System));
    assert!(config.disabled.is_empty() && config.slice.is_empty());
    let msg = diags[0].to_string();
    assert!(
        msg.contains("not trusted") && msg.contains("config.yaml is writable by its group"),
        "{msg}"
    );
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (config, diags) = update_all_core::config::load(&root.env(Scope::System));
    assert!(diags.is_empty() && config.disabled.len() == 1);
}

#[test]
fn a_symlinked_manifest_in_a_writable_directory_is_refused() {
    let root = Root::new();
    root.plugin_in("opt/vendor", "linked", "");
    let dir = root.path().join(RUNTIME);
    std::fs::create_dir_all(&dir).unwrap();
    // An absolute link target is read under the root, as every path is.
    symlink("/opt/vendor/linked.yaml", dir.join("linked.yaml")).unwrap();
    assert_eq!(unit_names(&root.plan()), ["update-all-linked.service"]);
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let plan = root.plan();
    assert!(plan.units.is_empty());
    assert!(messages(&plan).contains("run/update-all/plugins.d is writable by its group"));
}

#[test]
fn the_users_configuration_overrides_the_admins_drop_ins() {
    let root = Root::new();
    root.write(
        "etc/update-all/config.d/10-admin.yaml",
        "plugins:\n  enabled: [a]\n",
        0o644,
    );
    root.write(
        "home/u/.config/update-all/config.yaml",
        "plugins:\n  enabled: [b]\n",
        0o644,
    );
    let (config, diags) = update_all_core::config::load(&root.env(Scope::User));
    assert!(diags.is_empty(), "{diags:?}");
    let enabled: Vec<&str> = config
        .enabled
        .iter()
        .flatten()
        .map(|n| n.as_str())
        .collect();
    assert_eq!(enabled, ["b"]);
}

#[test]
fn a_decimal_version_must_be_quoted() {
    let msg = refused_with(
        "plugin:\n  name: bad\n  executable: /usr/lib/update-all/plugins/bad\n  version: 1.10\n",
    );
    assert!(
        msg.contains("plugin.version: YAML reads this version as the number 1.1"),
        "{msg}"
    );
}

#[test]
fn requires_sudo_in_user_scope_is_a_warning() {
    let root = Root::new();
    root.plugin("odd", "requires_sudo: true\nscope: user");
    let plan = plan::plan(inventory::load(&root.env(Scope::User)));
    assert_eq!(unit_names(&plan), ["update-all-odd.service"]);
    assert!(messages(&plan).contains("has requires_sudo: true but scope: user"));
}

#[test]
fn each_plugin_on_a_tangle_is_told_a_cycle_through_itself() {
    let root = Root::new();
    root.plugin("a", "runs_after: [b]");
    root.plugin("b", "runs_after: [a, c]");
    root.plugin("c", "runs_after: [b]");
    let plan = root.plan();
    assert_eq!(refused_names(&plan), ["a", "b", "c"]);
    let text = |name: &str| {
        let r = plan
            .refused
            .iter()
            .find(|r| r.name.as_deref() == Some(name))
            .unwrap();
        r.reasons[0].message.clone()
    };
    assert!(text("a").contains("cycle a → b → a"), "{}", text("a"));
    assert!(text("c").contains("cycle c → b → c"), "{}", text("c"));
}

#[test]
fn every_link_of_a_symlinked_executable_is_checked() {
    let root = Root::new();
    // /usr/libexec/tool → /home/u/hop → /usr/libexec/real, /home/u a user's.
    root.write("usr/libexec/real", "#!/bin/sh\n", 0o755);
    let home = root.path().join("home/u");
    std::fs::create_dir_all(&home).unwrap();
    symlink("/usr/libexec/real", home.join("hop")).unwrap();
    symlink("/home/u/hop", root.path().join("usr/libexec/tool")).unwrap();
    root.write(
        &format!("{VENDOR}/chain.yaml"),
        "plugin:\n  name: chain\n  executable: /usr/libexec/tool\n  scope: system\n",
        0o644,
    );
    assert_eq!(unit_names(&root.plan()), ["update-all-chain.service"]);
    chown(&home, Some(1000), None).unwrap();
    let plan = root.plan();
    assert!(plan.units.is_empty());
    assert!(
        messages(&plan).contains("home/u is owned by uid 1000"),
        "{}",
        messages(&plan)
    );
}

#[test]
fn a_masked_main_configuration_is_no_error() {
    let root = Root::new();
    std::fs::create_dir_all(root.path().join("etc/update-all")).unwrap();
    symlink("/dev/null", root.path().join("etc/update-all/config.yaml")).unwrap();
    let (_, diags) = update_all_core::config::load(&root.env(Scope::System));
    assert!(diags.is_empty(), "{diags:?}");
}

#[test]
fn an_oversized_manifest_is_refused_not_cut() {
    let mut text =
        "plugin:\n  name: bad\n  executable: /usr/lib/update-all/plugins/bad\n".to_owned();
    text += &format!("# {}\n", "x".repeat(1 << 20));
    let msg = refused_with(&text);
    assert!(msg.contains("at most 1048576 are read"), "{msg}");
}

#[test]
fn the_runner_path_is_configurable_and_checked() {
    let root = Root::new();
    let (config, _) = update_all_core::config::load(&root.env(Scope::System));
    assert_eq!(config.paths.runner, "/usr/bin/update-all");
    root.write(
        "etc/update-all/config.yaml",
        "paths:\n  runner: /opt/ua/update-all\n",
        0o644,
    );
    root.write("opt/ua/update-all", "#!/bin/sh\n", 0o755);
    let (config, diags) = update_all_core::config::load(&root.env(Scope::System));
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(config.paths.runner, "/opt/ua/update-all");
    for (bad, why) in [
        ("bin/update-all", "is not an absolute path"),
        ("'/opt/it\"s/update-all'", "which systemd does not allow"),
    ] {
        root.write(
            "etc/update-all/config.d/50-runner.yaml",
            &format!("paths:\n  runner: {bad}\n"),
            0o644,
        );
        let (config, diags) = update_all_core::config::load(&root.env(Scope::System));
        let msg = diags[0].to_string();
        assert!(
            msg.contains("config.d/50-runner.yaml:2:11: error: paths.runner:") && msg.contains(why),
            "{msg}"
        );
        // The broken file is skipped; the valid one still applies.
        assert_eq!(config.paths.runner, "/opt/ua/update-all");
    }
}

#[test]
fn a_runner_others_could_change_is_refused_with_its_line_and_the_fallback_named() {
    let root = Root::new();
    let runner = root.write("opt/ua/update-all", "#!/bin/sh\n", 0o755);
    let conf = "etc/update-all/config.d/50-runner.yaml";
    root.write(
        conf,
        "# the runner\nslice:\n  memory_max: 1G\npaths:\n  runner: /opt/ua/update-all\n",
        0o644,
    );
    let load = || update_all_core::config::load(&root.env(Scope::System));
    let (config, diags) = load();
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(config.paths.runner, "/opt/ua/update-all");
    let refused = |why: &str| {
        let (config, diags) = load();
        assert_eq!(diags.len(), 1, "{diags:?}");
        let msg = diags[0].to_string();
        assert!(
            msg.contains(&format!(
                "{conf}:5:11: error: paths.runner: /opt/ua/update-all is not used"
            )) && msg.contains(why)
                && msg.contains("They run /usr/bin/update-all instead."),
            "{msg}"
        );
        // Only the runner is refused: the rest of the file applies.
        assert_eq!(config.paths.runner, "/usr/bin/update-all");
        assert_eq!(config.slice.memory_max.as_ref().unwrap().as_str(), "1G");
    };
    chown(&runner, Some(4001), None).unwrap();
    refused("update-all is owned by uid 4001, not root");
    chown(&runner, Some(0), None).unwrap();
    std::fs::set_permissions(&runner, std::fs::Permissions::from_mode(0o775)).unwrap();
    refused("writable by its group");
    std::fs::set_permissions(&runner, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        root.path().join("opt"),
        std::fs::Permissions::from_mode(0o1777),
    )
    .unwrap();
    refused("opt is a sticky directory");
    std::fs::set_permissions(
        root.path().join("opt"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::fs::remove_file(&runner).unwrap();
    refused("No such file");
}

#[test]
fn reserved_names_are_refused_naming_the_unit_they_would_replace() {
    let root = Root::new();
    root.plugin("good", "");
    for name in [
        "recorder",
        "snapshot-pre",
        "health",
        "rollback",
        "boot-check",
    ] {
        root.plugin(name, "");
    }
    let plan = root.plan();
    assert_eq!(unit_names(&plan), ["update-all-good.service"]);
    let msg = messages(&plan).replace(&root.path().display().to_string(), "ROOT");
    assert!(
        msg.contains(
            "ROOT/usr/lib/update-all/plugins.d/recorder.yaml:2:9: error: the plugin name \
             `recorder` is reserved: its unit would replace update-all's own \
             update-all-recorder.service, the recorder of runs; rename the plugin"
        ),
        "{msg}"
    );
    assert!(
        msg.contains(
            "snapshot-pre.yaml:2:9: error: the plugin name `snapshot-pre` is reserved: its \
             unit update-all-snapshot-pre.service would take a name of \
             update-all-snapshot-*.service, kept for the snapshots"
        ),
        "{msg}"
    );
    let mut refused = refused_names(&plan);
    refused.sort();
    assert_eq!(
        refused,
        [
            "boot-check",
            "health",
            "recorder",
            "rollback",
            "snapshot-pre"
        ]
    );
    // The refusal keeps the manifest, for `update-all plugins`.
    assert!(plan.refused.iter().all(|r| r.manifest.is_some()));
}

/// Every unit update-all ships whose name a plugin could produce
/// (`update-all-NAME.service`) has its NAME reserved.
#[test]
fn every_shipped_unit_a_plugin_could_shadow_is_reserved() {
    let units = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../units");
    let mut checked = 0;
    for dir in [units.clone(), units.join("user")] {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let file = entry.unwrap().file_name().into_string().unwrap();
            let Some(name) = file
                .strip_prefix("update-all-")
                .and_then(|n| n.strip_suffix(".service"))
            else {
                continue;
            };
            // A template's instances (`update-all-reboot-request@1.service`)
            // have an `@`, which no plugin name has.
            if name.ends_with('@') {
                continue;
            }
            let name = update_all_core::values::PluginName::try_from(name).unwrap();
            assert!(name.reserved().is_some(), "{file} can be shadowed");
            checked += 1;
        }
    }
    assert!(checked >= 2, "{checked}");
}

#[test]
fn an_executable_in_a_sticky_directory_or_behind_a_users_link_is_refused() {
    let root = Root::new();
    let tmp = root.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777)).unwrap();
    root.write("tmp/evil", "#!/bin/sh\n", 0o755);
    root.write(
        &format!("{VENDOR}/sticky.yaml"),
        "plugin:\n  name: sticky\n  executable: /tmp/evil\n  scope: system\n",
        0o644,
    );
    root.plugin("linked", "");
    let exe = root.path().join("usr/lib/update-all/plugins/linked");
    std::fs::remove_file(&exe).unwrap();
    root.executable("real");
    symlink("real", &exe).unwrap();
    std::os::unix::fs::lchown(&exe, Some(4001), None).unwrap();
    let plan = root.plan();
    assert!(plan.units.is_empty(), "{}", messages(&plan));
    let msg = messages(&plan);
    assert!(
        msg.contains("executable /tmp/evil not usable: ")
            && msg.contains("tmp is a sticky directory"),
        "{msg}"
    );
    assert!(
        msg.contains("the symlink ") && msg.contains("plugins/linked is owned by uid 4001"),
        "{msg}"
    );
}

#[test]
fn health_takes_unit_names_absolute_checks_and_a_timeout() {
    let root = Root::new();
    root.write("usr/lib/good/check", "#!/bin/sh\nexit 0\n", 0o755);
    root.plugin(
        "good",
        "health:\n  units: [nginx.service, postgresql@16-main.service, docker.socket]\n  \
         exec: [/usr/lib/good/check]\n  timeout: 30s\nsupports_rollback: true",
    );
    let plan = root.plan();
    assert_eq!(
        unit_names(&plan),
        ["update-all-good.service"],
        "{}",
        messages(&plan)
    );
    let inv = inventory::load(&root.env(Scope::System));
    let manifest = &inv.plugins[0].manifest;
    let health = manifest.health.as_ref().expect("health");
    let units: Vec<&str> = health.units.iter().map(|u| u.as_str()).collect();
    assert_eq!(
        units,
        [
            "nginx.service",
            "postgresql@16-main.service",
            "docker.socket"
        ]
    );
    assert_eq!(health.exec[0].as_str(), "/usr/lib/good/check");
    assert_eq!(health.timeout, Some(std::time::Duration::from_secs(30)));
    assert!(manifest.supports_rollback);
}

#[test]
fn health_refuses_bad_unit_names_relative_checks_and_wrong_timeouts_with_the_line() {
    for (field, value, wanted) in [
        (
            "units",
            "[nginx]",
            "5:13: error: plugin.health.units[0]: invalid unit name \"nginx\"",
        ),
        (
            "units",
            "[\"nginx service.service\"]",
            "plugin.health.units[0]: invalid unit name \"nginx service.service\": it contains ' '",
        ),
        (
            "units",
            "[/etc/systemd/system/nginx.service]",
            "plugin.health.units[0]: invalid unit name",
        ),
        ("units", "[.service]", "invalid unit name \".service\""),
        (
            "exec",
            "[bin/check]",
            "5:12: error: plugin.health.exec[0]: \"bin/check\" is not an absolute path",
        ),
        (
            "timeout",
            "0",
            "plugin.health.timeout: 0 s is out of range: use 1s to 3600s",
        ),
        (
            "timeout",
            "soon",
            "plugin.health.timeout: invalid duration \"soon\"",
        ),
        ("checks", "[]", "plugin.health: unknown field `checks`"),
    ] {
        let msg = refused_with(&format!(
            "plugin:\n  name: bad\n  executable: /usr/lib/update-all/plugins/bad\n  health:\n    {field}: {value}\n"
        ));
        assert!(
            msg.contains(&format!("{BAD}:")) && msg.contains(wanted),
            "{field}: {value}: {msg}"
        );
    }
    let msg = refused_with(
        "plugin:\n  name: bad\n  executable: /usr/lib/update-all/plugins/bad\n  supports_rollback: sometimes\n",
    );
    assert!(
        msg.contains("plugin.supports_rollback: invalid type"),
        "{msg}"
    );
}

#[test]
fn a_health_check_gets_the_checks_of_the_plugins_executable() {
    // Missing, not executable, writable by others: each refuses the plugin,
    // naming the manifest's line.
    for (mode, wanted) in [
        (None, "health check /usr/lib/bad/check not usable"),
        (Some(0o644), "is not executable"),
        (Some(0o777), "is writable by its group or by everyone"),
    ] {
        let root = Root::new();
        root.plugin("good", "");
        root.executable("bad");
        if let Some(mode) = mode {
            root.write("usr/lib/bad/check", "#!/bin/sh\n", mode);
        }
        root.write(
            &format!("{VENDOR}/bad.yaml"),
            "plugin:\n  name: bad\n  executable: /usr/lib/update-all/plugins/bad\n  \
             scope: system\n  health:\n    exec: [/usr/lib/bad/check]\n",
            0o644,
        );
        let plan = root.plan();
        assert_eq!(unit_names(&plan), ["update-all-good.service"]);
        let msg = messages(&plan).replace(&root.path().display().to_string(), "ROOT");
        assert!(
            msg.contains(&format!(
                "{BAD}:6:11: error: health check /usr/lib/bad/check not usable"
            )) && msg.contains(wanted),
            "{mode:?}: {msg}"
        );
    }
}
