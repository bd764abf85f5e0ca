//! Update policies (issue 11 §5, docs/unattended.md "Update policies")
//! against the real tools:
//! - the shell library's semantic-version classifier and version pick
//!   (plugins/lib/policy.sh), under every shell the plugins support;
//! - npm with a local registry holding 1.0.1, 1.1.0 and 2.0.0 of a
//!   package: `allow: [patch, minor]` lands on 1.1.0 and reports 2.0.0 as
//!   held back; `hold` keeps the package at its version; `min_age` skips
//!   a version released too recently;
//! - apt with a local repository and a security suite beside it: by hand,
//!   `security_only` upgrades only the security package and `hold` keeps
//!   one back; through update-all in the test bed (config.yaml's
//!   `policy:` → plugin-exec → the plugin's environment), `check --json`
//!   names the held package and why, the run upgrades only the security
//!   package, and `status` shows the security update first and keeps
//!   what was held back (`status --json`, `history --json` too);
//! - dnf and zypper in a throw-away root: `hold` and `security_only` (no
//!   advisory, no security patch) keep the package, no policy upgrades it.

mod pkgmgr;

use pkgmgr::{have_tools, is_root, scratch, wait_for};
use plugin_tests::apt::PrivateRoot;
use plugin_tests::policy::{installed, with_security_suite, NpmRegistry};
use plugin_tests::toolchain::npm_version;
use std::process::Command;
use std::time::{Duration, Instant};

/// Runs `script` with plugins/lib/{plugin,policy}.sh sourced, under `shell`.
fn with_lib(shell: &str, script: &str, env: &[(&str, &str)]) -> String {
    let lib = plugin_tests::plugins_dir().join("lib");
    let out = Command::new(shell)
        .arg("-c")
        .arg(format!(
            ". '{0}/plugin.sh'; . '{0}/policy.sh'; {script}",
            lib.display()
        ))
        .envs(env.iter().copied())
        .output()
        .expect("shell");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn shells() -> Vec<&'static str> {
    ["sh", "dash", "bash", "busybox"]
        .into_iter()
        .filter(|s| {
            Command::new("sh")
                .args(["-c", &format!("command -v {s}")])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .map(|s| if s == "busybox" { "busybox sh" } else { s })
        .collect()
}

#[test]
fn versions_are_classified_by_semver_and_the_highest_allowed_is_picked() {
    for shell in shells() {
        let (program, rest): (&str, Vec<&str>) = match shell.split_once(' ') {
            Some((p, r)) => (p, vec![r]),
            None => (shell, vec![]),
        };
        let run = |script: &str, env: &[(&str, &str)]| {
            if rest.is_empty() {
                with_lib(program, script, env)
            } else {
                // busybox sh -c …
                let lib = plugin_tests::plugins_dir().join("lib");
                let out = Command::new(program)
                    .args(&rest)
                    .arg("-c")
                    .arg(format!(
                        ". '{0}/plugin.sh'; . '{0}/policy.sh'; {script}",
                        lib.display()
                    ))
                    .envs(env.iter().copied())
                    .output()
                    .expect("busybox");
                String::from_utf8_lossy(&out.stdout).trim().to_owned()
            }
        };
        for (cur, new, class) in [
            ("1.0.1", "1.0.2", "patch"),
            ("1.0.1", "1.1.0", "minor"),
            ("1.0.1", "2.0.0", "major"),
            ("v1.2", "1.2.0.1", "patch"),
            ("5.0", "6.1", "major"),
            ("1.0.0-rc.1", "1.0.0", "unknown"),
            ("1.0", "1.0", "unknown"),
            ("2.36-9", "2.36-9+deb12u4", "unknown"),
            ("abc", "1.0", "unknown"),
        ] {
            assert_eq!(
                run(&format!("policy_classify '{cur}' '{new}'"), &[]),
                class,
                "{shell}: {cur} → {new}"
            );
        }
        let versions =
            "printf '1.0.1\\t2021-01-01T00:00:00.000Z\\n1.1.0\\t2022-01-01T00:00:00.000Z\\n\
                        1.0.2\\n2.0.0\\t2099-01-01T00:00:00.000Z\\n1.2.0-rc.1\\n0.9.0\\n'";
        for (allow, min_age, picked) in [
            ("patch,minor", "0", "1.1.0"),
            ("patch", "0", "1.0.2"),
            ("patch,minor,major", "0", "2.0.0"),
            ("patch,minor,major", "86400", "1.1.0"),
            ("major", "0", "2.0.0"),
            ("security", "0", ""),
        ] {
            let env = [
                ("UPDATE_ALL_POLICY_ALLOW", allow),
                ("UPDATE_ALL_POLICY_MIN_AGE", min_age),
            ];
            assert_eq!(
                run(&format!("{versions} | policy_pick 1.0.1"), &env),
                picked,
                "{shell}: allow {allow}, min_age {min_age}"
            );
        }
        let hold = [("UPDATE_ALL_POLICY_HOLD", "^linux-image\n^ua-")];
        assert_eq!(
            run("policy_reason linux-image-amd64 security", &hold),
            "held by the pattern \"^linux-image\"",
            "{shell}"
        );
        assert_eq!(
            run(
                "policy_reason x major",
                &[("UPDATE_ALL_POLICY_ALLOW", "patch,minor,security")]
            ),
            "a major update, not allowed by the policy"
        );
        assert_eq!(
            run(
                "policy_reason x unknown; echo $?",
                &[("UPDATE_ALL_POLICY_SECURITY_ONLY", "true")]
            ),
            "not a security update (security_only)\n0"
        );
        assert_eq!(
            run(
                "policy_reason x major; echo $?; policy_active; echo $?",
                &[]
            ),
            "1\n1",
            "{shell}: no policy holds nothing"
        );
    }
}

/// A global prefix with ua-policy-fixture 1.0.1 from a local registry
/// that also holds 1.1.0 and 2.0.0; the plugin's environment.
fn npm_fixture(dir: &tempfile::TempDir, times: [&str; 3]) -> Vec<(String, String)> {
    let registry = NpmRegistry::serve(
        dir.path(),
        "ua-policy-fixture",
        &[
            ("1.0.1", times[0]),
            ("1.1.0", times[1]),
            ("2.0.0", times[2]),
        ],
    );
    let prefix = dir.path().join("prefix").display().to_string();
    let cache = dir.path().join("cache").display().to_string();
    let env = vec![
        ("npm_config_registry".to_owned(), registry.url.clone()),
        ("npm_config_cache".to_owned(), cache),
        ("UPDATE_ALL_NPM_PREFIX".to_owned(), prefix.clone()),
    ];
    testbed::host_sh(&format!(
        "npm_config_registry='{}' npm_config_cache='{}' npm install -g --prefix '{prefix}' \
         ua-policy-fixture@1.0.1 >/dev/null 2>&1",
        env[0].1, env[1].1
    ));
    env
}

fn npm(command: &str, env: &[(String, String)], policy: &[(&str, &str)]) -> serde_json::Value {
    let mut all: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    all.extend_from_slice(policy);
    let out = plugin_tests::run("npm", &[command], &all);
    let doc = plugin_tests::json(&out);
    assert_eq!(
        doc["status"],
        "success",
        "{doc}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    doc
}

const OLD: [&str; 3] = [
    "2021-01-01T00:00:00.000Z",
    "2022-01-01T00:00:00.000Z",
    "2023-01-01T00:00:00.000Z",
];

#[test]
fn npm_allow_patch_minor_lands_on_the_highest_minor_and_holds_the_major_back() {
    let test = "npm policy";
    if !is_root(test) || !have_tools(test, &["npm", "node", "openssl"]) {
        return;
    }
    let dir = scratch("npm-policy");
    let env = npm_fixture(&dir, OLD);
    let prefix = dir.path().join("prefix");
    assert_eq!(npm_version(&prefix, "ua-policy-fixture"), "1.0.1");
    // Without a policy (by hand): the newest, a major update.
    let doc = npm("estimate-update", &env, &[]);
    let p = &doc["data"]["packages_to_update"][0];
    assert_eq!(
        (&p["new_version"], &p["update_type"]),
        (&"2.0.0".into(), &"major".into()),
        "{doc}"
    );
    // As plugin-exec hands `allow: [patch, minor]` to it.
    let policy = [
        ("UPDATE_ALL_POLICY_ALLOW", "patch,minor"),
        ("UPDATE_ALL_POLICY_SECURITY_ONLY", "false"),
        ("UPDATE_ALL_POLICY_HOLD", ""),
        ("UPDATE_ALL_POLICY_MIN_AGE", "0"),
    ];
    let started = Instant::now();
    let doc = npm("estimate-update", &env, &policy);
    let estimate_took = started.elapsed();
    let data = &doc["data"];
    let p = &data["packages_to_update"][0];
    assert_eq!(
        (&p["new_version"], &p["update_type"]),
        (&"1.1.0".into(), &"minor".into()),
        "{doc}"
    );
    let held = &data["held_back"][0];
    assert_eq!(held["new_version"], "2.0.0", "{doc}");
    assert_eq!(
        held["reason"], "a major update, not allowed by the policy",
        "{doc}"
    );
    let started = Instant::now();
    let doc = npm("update", &env, &policy);
    let update_took = started.elapsed();
    assert_eq!(npm_version(&prefix, "ua-policy-fixture"), "1.1.0");
    assert_eq!(doc["data"]["held_back"][0]["new_version"], "2.0.0", "{doc}");
    // update-all reads the answer as it reads every update's.
    let applied = update_all_protocol::Applied::from_data(&doc["data"]).unwrap();
    assert_eq!(applied.held_back[0].name, "ua-policy-fixture");
    eprintln!(
        "npm policy: estimate {:.2}s, update {:.2}s",
        estimate_took.as_secs_f64(),
        update_took.as_secs_f64()
    );
}

#[test]
fn npm_hold_keeps_a_package_and_min_age_skips_a_recent_version() {
    let test = "npm hold";
    if !is_root(test) || !have_tools(test, &["npm", "node", "openssl"]) {
        return;
    }
    let dir = scratch("npm-hold");
    // 1.1.0 was released a minute ago (a week's min_age skips it), 2.0.0
    // long ago.
    let recent = testbed::host_sh("date -u -d '1 minute ago' +%Y-%m-%dT%H:%M:%S.000Z");
    let env = npm_fixture(&dir, [OLD[0], recent.trim(), OLD[2]]);
    let prefix = dir.path().join("prefix");
    let doc = npm("update", &env, &[("UPDATE_ALL_POLICY_HOLD", "^ua-policy")]);
    assert_eq!(npm_version(&prefix, "ua-policy-fixture"), "1.0.1", "held");
    assert_eq!(
        doc["data"]["held_back"][0]["reason"], "held by the pattern \"^ua-policy\"",
        "{doc}"
    );
    let doc = npm(
        "update",
        &env,
        &[
            ("UPDATE_ALL_POLICY_ALLOW", "patch,minor"),
            ("UPDATE_ALL_POLICY_MIN_AGE", "604800"),
        ],
    );
    assert_eq!(
        npm_version(&prefix, "ua-policy-fixture"),
        "1.0.1",
        "1.1.0 is too recent, 2.0.0 a major: {doc}"
    );
    assert!(
        doc["data"]["held_back"][0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("min_age")),
        "{doc}"
    );
}

fn apt_tools(test: &str) -> bool {
    have_tools(test, &["apt-get", "dpkg", "dpkg-deb", "dpkg-scanpackages"])
}

#[test]
fn apt_security_only_upgrades_only_the_security_package_by_hand() {
    let test = "apt security_only";
    if !is_root(test) || !apt_tools(test) {
        return;
    }
    let pr = PrivateRoot::new(scratch("apt-policy"));
    with_security_suite(&pr);
    let conf = pr.conf.display().to_string();
    let run = |command: &str, policy: &[(&str, &str)]| {
        let mut env = vec![
            ("UPDATE_ALL_APT_CONFIG", conf.as_str()),
            ("UPDATE_ALL_APT_REFRESH", "false"),
        ];
        env.extend_from_slice(policy);
        let out = plugin_tests::run("apt", &[command], &env);
        plugin_tests::json(&out)
    };
    let doc = run("estimate-update", &[]);
    let types: Vec<(String, String)> = doc["data"]["packages_to_update"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().into(),
                p["update_type"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        types,
        [
            ("ua-fixture".into(), "unknown".into()),
            ("ua-secfix".into(), "security".into())
        ],
        "{doc}"
    );
    // hold: nothing matching is upgraded.
    let doc = run("update", &[("UPDATE_ALL_POLICY_HOLD", "^ua-")]);
    assert_eq!(
        doc["data"]["held_back"].as_array().map(Vec::len),
        Some(2),
        "{doc}"
    );
    assert_eq!(
        (pr.installed(), installed(&pr, "ua-secfix")),
        ("1.0".into(), "1.0".into())
    );
    let doc = run("update", &[("UPDATE_ALL_POLICY_SECURITY_ONLY", "true")]);
    assert_eq!(doc["status"], "success", "{doc}");
    assert_eq!(installed(&pr, "ua-secfix"), "1.1", "the security update");
    assert_eq!(pr.installed(), "1.0", "not a security update: {doc}");
    let held = &doc["data"]["held_back"][0];
    assert_eq!(held["name"], "ua-fixture", "{doc}");
    assert_eq!(
        held["reason"], "not a security update (security_only)",
        "{doc}"
    );
}

#[test]
fn apt_security_only_through_update_all_is_checked_applied_and_recorded() {
    let test = "apt security_only through update-all";
    if !apt_tools(test) {
        return;
    }
    let Some(tb) = testbed::Testbed::require() else {
        return;
    };
    let pr = PrivateRoot::new(scratch("apt-policy"));
    with_security_suite(&pr);
    tb.install_update_all(
        &testbed::target_binary("update-all-generator"),
        Some(&testbed::target_binary("update-all")),
    );
    pkgmgr::install_with_settings(
        &tb,
        "apt",
        &[
            ("config", &pr.conf.display().to_string()),
            ("refresh", "false"),
        ],
    );
    tb.write(
        "/run/update-all/config.d/50-policy.yaml",
        // Two hold patterns: the variable holds a line break, in the
        // check's transient unit too.
        "policy:\n  security_only: true\n  hold: [\"^linux-image\", \"^ua-nothing$\"]\n",
        0o644,
    );
    // The check's estimate knows the policy.
    let check = tb.sh(&format!("{} check --json", testbed::RUNNER));
    let check: serde_json::Value = serde_json::from_slice(&check.stdout).expect("check --json");
    let apt = check["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["plugin"] == "apt")
        .expect("apt in the check");
    let estimate = &apt["estimate"];
    assert_eq!(
        estimate["packages_to_update"][0]["name"], "ua-secfix",
        "{check}"
    );
    assert_eq!(
        estimate["packages_to_update"][0]["update_type"], "security",
        "{check}"
    );
    assert_eq!(estimate["held_back"][0]["name"], "ua-fixture", "{check}");
    let text = tb.sh(&format!("{} check", testbed::RUNNER));
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(
        text.contains("Security updates (1):\n  apt: ua-secfix 1.0 → 1.1")
            && text.contains(
                "Held back by the update policy (1):\n  apt: ua-fixture 1.0 → 2.0: \
                 not a security update (security_only)"
            ),
        "{text}"
    );

    let out = tb.sh(&format!(
        "timeout 180 {} run --only apt; echo \"rc=$?\"",
        testbed::RUNNER
    ));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        stdout.contains("\nrc=0\n"),
        "{stdout}\n{}",
        tb.journal("update-all-apt.service")
    );
    assert_eq!(installed(&pr, "ua-secfix"), "1.1", "the security update");
    assert_eq!(pr.installed(), "1.0", "held back");
    let recorder = "update-all-recorder.service";
    wait_for(
        "the recorder to end the run",
        Duration::from_secs(60),
        || {
            tb.check(&["systemctl", "show", "-P", "ActiveState", recorder])
                .trim()
                == "inactive"
        },
    );
    let status = tb.check(&[testbed::RUNNER, "status", "--json"]);
    let status: serde_json::Value = serde_json::from_str(&status).expect("status --json");
    let held = &status["held_back"][0];
    assert_eq!(
        (&held["plugin"], &held["name"], &held["new_version"]),
        (&"apt".into(), &"ua-fixture".into(), &"2.0".into()),
        "{status}"
    );
    assert_eq!(
        held["reason"], "not a security update (security_only)",
        "{status}"
    );
    // The security update first (from the estimate recorded for the run),
    // then what was held back.
    assert_eq!(
        status["security_updates"]["apt"][0]["name"], "ua-secfix",
        "{status}"
    );
    let text = tb.check(&[testbed::RUNNER, "status"]);
    let (security, held) = (
        text.find("Security updates (1):\n  apt: ua-secfix → 1.1"),
        text.find("Held back by the update policy (1):\n  apt: ua-fixture: not a security update"),
    );
    assert!(
        security.is_some() && held.is_some() && security < held,
        "{text}"
    );
    let history = tb.check(&[testbed::RUNNER, "history", "--json"]);
    let history: serde_json::Value = serde_json::from_str(&history).expect("history --json");
    let held = &history["held_back"][0];
    assert!(
        held["run_id"].is_u64() && held["name"] == "ua-fixture",
        "history --json: {history}"
    );
}

#[test]
fn dnf_hold_and_security_only_keep_a_package_without_an_advisory() {
    use plugin_tests::rpm::{RpmSetup, Server};
    let test = "dnf policy";
    if !is_root(test) || !have_tools(test, &["dnf", "rpm", "rpmbuild", "createrepo_c"]) {
        return;
    }
    let s = RpmSetup::new(scratch("dnf-policy"));
    let server = Server::start(&s.repo);
    s.write(
        "etc/yum.repos.d/ua-fixture.repo",
        pkgmgr::read(pkgmgr::fixture("dnf", "local.repo.in")).replace("@URL@", &server.url()),
    );
    let root = s.root.display().to_string();
    s.publish("1.0");
    testbed::host_sh(&format!(
        "dnf -y -q --installroot='{root}' --releasever=1 install ua-fixture >/dev/null"
    ));
    s.publish("2.0");
    let run = |command: &str, policy: &[(&str, &str)]| {
        let mut env = vec![
            ("UPDATE_ALL_DNF_INSTALLROOT", root.as_str()),
            ("UPDATE_ALL_DNF_RELEASEVER", "1"),
        ];
        env.extend_from_slice(policy);
        plugin_tests::json(&plugin_tests::run("dnf", &[command], &env))
    };
    let doc = run("estimate-update", &[]);
    assert_eq!(
        doc["data"]["packages_to_update"][0]["update_type"], "unknown",
        "no advisory names it: {doc}"
    );
    for (policy, why) in [
        (
            ("UPDATE_ALL_POLICY_HOLD", "^ua-fix"),
            "held by the pattern \"^ua-fix\"",
        ),
        (
            ("UPDATE_ALL_POLICY_SECURITY_ONLY", "true"),
            "not a security update (security_only)",
        ),
    ] {
        let doc = run("update", &[policy]);
        assert_eq!(doc["status"], "success", "{doc}");
        assert_eq!(s.installed(), "ua-fixture-1.0-1.noarch", "{policy:?}");
        assert_eq!(doc["data"]["held_back"][0]["reason"], why, "{doc}");
    }
    run("update", &[]);
    assert_eq!(s.installed(), "ua-fixture-2.0-1.noarch", "without a policy");
}

#[test]
fn zypper_hold_and_security_only_keep_a_package_without_a_patch() {
    use plugin_tests::rpm::RpmSetup;
    let test = "zypper policy";
    if !is_root(test) || !have_tools(test, &["zypper", "rpm", "rpmbuild", "createrepo_c"]) {
        return;
    }
    let s = RpmSetup::new(scratch("zypper-policy"));
    s.write(
        "etc/zypp/repos.d/ua-fixture.repo",
        pkgmgr::read(pkgmgr::fixture("zypper", "local.repo.in"))
            .replace("@REPO@", &s.repo.display().to_string()),
    );
    let root = s.root.display().to_string();
    // zypper's log and lock in the root, not the host's.
    let log = format!("{root}/var/log/zypper.log");
    let lock_root = format!("{root}/zypp-lock");
    std::fs::create_dir_all(format!("{lock_root}/run")).unwrap();
    s.publish("1.0");
    testbed::host_sh(&format!(
        "ZYPP_LOGFILE='{log}' ZYPP_LOCKFILE_ROOT='{lock_root}' zypper --root '{root}' \
         --non-interactive --quiet install ua-fixture >/dev/null"
    ));
    s.publish("2.0");
    let run = |command: &str, policy: &[(&str, &str)]| {
        let mut env = vec![
            ("UPDATE_ALL_ZYPPER_ROOT", root.as_str()),
            ("ZYPP_LOGFILE", log.as_str()),
            ("ZYPP_LOCKFILE_ROOT", lock_root.as_str()),
        ];
        env.extend_from_slice(policy);
        plugin_tests::json(&plugin_tests::run("zypper", &[command], &env))
    };
    let doc = run("estimate-update", &[("UPDATE_ALL_POLICY_HOLD", "^ua-fix")]);
    assert_eq!(
        doc["data"]["held_back"][0]["reason"], "held by the pattern \"^ua-fix\"",
        "{doc}"
    );
    let doc = run("update", &[("UPDATE_ALL_POLICY_HOLD", "^ua-fix")]);
    assert_eq!(doc["status"], "success", "{doc}");
    assert_eq!(s.installed(), "ua-fixture-1.0-1.noarch", "held: {doc}");
    assert_eq!(doc["data"]["held_back"][0]["name"], "ua-fixture", "{doc}");
    // No security patch in the repository: zypper patch applies nothing.
    let doc = run("update", &[("UPDATE_ALL_POLICY_SECURITY_ONLY", "true")]);
    assert_eq!(doc["status"], "success", "{doc}");
    assert_eq!(s.installed(), "ua-fixture-1.0-1.noarch", "security only");
    run("update", &[]);
    assert_eq!(s.installed(), "ua-fixture-2.0-1.noarch", "without a policy");
}
