//! The user-scope toolchain plugins. pipx, npm and cargo run for real: an
//! old version is installed into a throw-away home or prefix, the plugin's
//! estimate (by hand) sees old → new, and its unit, started in root's user
//! manager in a test bed instance, installs the new one. pipx reaches
//! wheels of the test's own (tests/fixtures/pipx/make-index.sh), npm a
//! registry of its own on 127.0.0.1, cargo a file:// registry made by
//! tests/fixtures/cargo/make-registry.sh: no network. rustup's parser reads the real
//! `rustup check` (read-only) and stand-ins; sdkman and gcloud, which
//! cannot be installed here, run against stand-ins that print what the real
//! tools print (tests/fixtures/<tool>/, with their sources cited).

mod pkgmgr;
mod userscope;

use pkgmgr::{have_tools, is_root, ok, only_package, packages, progress_lines, scratch, sh};
use plugin_tests::toolchain::{is_number_registry, npm_version, pip_offline, pipx_version};
use std::path::Path;
use std::time::Instant;
use userscope::ByHand;

fn s(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn pipx_upgrades_an_old_package_through_its_user_unit() {
    let test = "pipx through update-all";
    if !is_root(test) || !have_tools(test, &["pipx"]) {
        return;
    }
    let dir = scratch("pipx");
    let (home, bin, man, cache) = (
        dir.path().join("home"),
        dir.path().join("bin"),
        dir.path().join("man"),
        dir.path().join("cache"),
    );
    // pip looks at wheels of the test's own only, never PyPI.
    let [no_index, find_links] = pip_offline(dir.path());
    let env = [
        ("UPDATE_ALL_PIPX_HOME", s(&home)),
        ("UPDATE_ALL_PIPX_BIN_DIR", s(&bin)),
        ("UPDATE_ALL_PIPX_MAN_DIR", s(&man)),
        ("XDG_CACHE_HOME", s(&cache)),
        no_index.clone(),
        find_links.clone(),
    ];
    let pipx = ByHand::new("pipx", &env);
    assert!(
        !pipx.exec(&["is-applicable"]).status.success(),
        "nothing installed yet: not applicable"
    );

    let started = Instant::now();
    sh(&format!(
        "PIPX_HOME='{}' PIPX_BIN_DIR='{}' PIPX_MAN_DIR='{}' XDG_CACHE_HOME='{}' \
         PIP_NO_INDEX=1 PIP_FIND_LINKS='{}' pipx install 'cowsay==5.0' >/dev/null 2>&1",
        home.display(),
        bin.display(),
        man.display(),
        cache.display(),
        find_links.1
    ));
    let install_time = started.elapsed();
    assert_eq!(pipx_version(&home, "cowsay"), "5.0");
    assert!(pipx.exec(&["is-applicable"]).status.success());

    let started = Instant::now();
    let doc = plugin_tests::json(&pipx.run("estimate-update"));
    let estimate_time = started.elapsed();
    let p = only_package(&doc);
    assert_eq!(p["name"], "cowsay", "{doc}");
    assert_eq!(p["current_version"], "5.0", "{doc}");
    let new = p["new_version"].as_str().expect("new_version").to_owned();
    assert_ne!(new, "5.0", "{doc}");
    assert_eq!(
        doc["data"]["affects_applications"],
        serde_json::json!(["cowsay"])
    );

    let Some(tb) = userscope::boot() else {
        return;
    };
    userscope::set_env(
        &tb,
        &[
            ("XDG_CACHE_HOME", &s(&cache)),
            (no_index.0, &no_index.1),
            (find_links.0, &find_links.1),
        ],
    );
    // cowsay 5 → 6 is a major update, which pipx's manifest policy holds
    // back (tests/plugins/tests/policy.rs): this test is about the unit.
    tb.write(
        "/run/update-all/config.d/50-pipx-major.yaml",
        "policy_overrides:\n  pipx:\n    allow: [patch, minor, major, security]\n",
        0o644,
    );
    userscope::install(
        &tb,
        "pipx",
        &[
            ("home", &s(&home)),
            ("bin_dir", &s(&bin)),
            ("man_dir", &s(&man)),
        ],
    );
    let took = userscope::start(&tb, "update-all-pipx.service");
    let journal = userscope::journal(&tb, "update-all-pipx.service", "upgraded package cowsay");
    assert!(
        journal.contains("upgraded package cowsay from 5.0"),
        "journal:\n{journal}"
    );
    assert_eq!(
        pipx_version(&home, "cowsay"),
        new,
        "the estimate's version is installed"
    );
    assert!(packages(&plugin_tests::json(&pipx.run("estimate-update"))).is_empty());
    eprintln!(
        "pipx: install cowsay 5.0 {:.2}s, estimate {:.2}s, update unit {:.2}s",
        install_time.as_secs_f64(),
        estimate_time.as_secs_f64(),
        took.as_secs_f64()
    );
}

#[test]
fn npm_upgrades_a_global_package_through_its_user_unit() {
    let test = "npm through update-all";
    if !is_root(test) || !have_tools(test, &["npm", "node"]) {
        return;
    }
    let dir = scratch("npm");
    let (prefix, cache) = (dir.path().join("prefix"), dir.path().join("cache"));
    // npm reaches a registry of the test's own only, never npmjs.org.
    let registry = is_number_registry(dir.path());
    let env = [
        ("UPDATE_ALL_NPM_PREFIX", s(&prefix)),
        ("npm_config_cache", s(&cache)),
        ("npm_config_registry", registry.url.clone()),
    ];
    let npm = ByHand::new("npm", &env);

    let started = Instant::now();
    sh(&format!(
        "npm_config_registry='{}' npm_config_cache='{}' npm install -g --prefix '{}' \
         is-number@6 >/dev/null 2>&1",
        registry.url,
        cache.display(),
        prefix.display()
    ));
    let install_time = started.elapsed();
    assert_eq!(npm_version(&prefix, "is-number"), "6.0.0");
    assert!(npm.exec(&["is-applicable"]).status.success());

    let started = Instant::now();
    let doc = plugin_tests::json(&npm.run("estimate-update"));
    let estimate_time = started.elapsed();
    let p = only_package(&doc);
    assert_eq!(p["name"], "is-number", "{doc}");
    assert_eq!(p["current_version"], "6.0.0", "{doc}");
    let new = p["new_version"].as_str().expect("new_version").to_owned();
    assert!(new.starts_with("7."), "is-number's latest is 7.x: {doc}");

    let Some(tb) = userscope::boot() else {
        return;
    };
    userscope::set_env(
        &tb,
        &[
            ("npm_config_cache", &s(&cache)),
            ("npm_config_registry", &registry.url),
        ],
    );
    // is-number 6 → 7 is a major update, which npm's manifest policy holds
    // back (tests/plugins/tests/policy.rs): this test is about the unit.
    tb.write(
        "/run/update-all/config.d/50-npm-major.yaml",
        "policy_overrides:\n  npm:\n    allow: [patch, minor, major, security]\n",
        0o644,
    );
    userscope::install(&tb, "npm", &[("prefix", &s(&prefix))]);
    let took = userscope::start(&tb, "update-all-npm.service");
    let journal = userscope::journal(&tb, "update-all-npm.service", "changed 1 package");
    assert!(journal.contains("changed 1 package"), "journal:\n{journal}");
    assert_eq!(npm_version(&prefix, "is-number"), new);
    assert!(packages(&plugin_tests::json(&npm.run("estimate-update"))).is_empty());
    eprintln!(
        "npm: install is-number@6 {:.2}s, estimate {:.2}s, update unit {:.2}s",
        install_time.as_secs_f64(),
        estimate_time.as_secs_f64(),
        took.as_secs_f64()
    );
}

/// npm says it could not reach its registry with exit status 1, as it
/// says that something is outdated: the estimate fails (ESTIMATE_FAILED,
/// npm's summary), never "nothing to update". A prefix made by hand and a
/// registry nobody listens on: no network.
#[test]
fn npm_estimate_fails_when_the_registry_is_out_of_reach() {
    let test = "npm estimate without its registry";
    if !have_tools(test, &["npm", "node"]) {
        return;
    }
    let dir = scratch("npm-offline");
    let (prefix, cache) = (dir.path().join("prefix"), dir.path().join("cache"));
    let package = prefix.join("lib/node_modules/is-number");
    std::fs::create_dir_all(&package).unwrap();
    std::fs::write(
        package.join("package.json"),
        r#"{"name": "is-number", "version": "6.0.0"}"#,
    )
    .unwrap();
    let (prefix, cache) = (s(&prefix), s(&cache));
    let out = plugin_tests::run(
        "npm",
        &["estimate-update"],
        &[
            ("UPDATE_ALL_NPM_PREFIX", &prefix),
            ("npm_config_cache", &cache),
            ("npm_config_registry", "http://127.0.0.1:9/"),
            ("npm_config_fetch_retries", "0"),
        ],
    );
    let (code, message) = pkgmgr::error_of("npm estimate-update", &out);
    assert_eq!(code, "ESTIMATE_FAILED", "{message}");
    assert!(message.contains("127.0.0.1:9"), "{message}");
}

#[test]
fn cargo_rebuilds_an_old_crate_with_its_features_through_its_user_unit() {
    let test = "cargo through update-all";
    if !is_root(test) || !have_tools(test, &["cargo", "git", "sha256sum"]) {
        return;
    }
    let dir = scratch("cargo");
    let (home, root) = (dir.path().join("home"), dir.path().join("root"));
    let registry = plugin_tests::fixtures_dir().join("cargo/make-registry.sh");
    let publish = |versions: &str| {
        sh(&format!(
            "'{}' '{}' {versions}",
            registry.display(),
            dir.path().display()
        ));
    };
    let started = Instant::now();
    publish("0.1.0");
    sh(&format!(
        "CARGO_HOME='{}' cargo install --quiet --root '{}' ua-fixture-hello --version 0.1.0 \
         --features shout 2>&1",
        home.display(),
        root.display()
    ));
    let install_time = started.elapsed();
    let hello = root.join("bin/ua-fixture-hello");
    assert_eq!(sh(&s(&hello)).trim(), "UA-FIXTURE-HELLO 0.1.0");
    publish("0.1.0 0.2.0");

    let env = [
        ("UPDATE_ALL_CARGO_HOME", s(&home)),
        ("UPDATE_ALL_CARGO_ROOT", s(&root)),
    ];
    let cargo = ByHand::new("cargo", &env);
    let started = Instant::now();
    let doc = plugin_tests::json(&cargo.run("estimate-update"));
    let estimate_time = started.elapsed();
    let p = only_package(&doc);
    assert_eq!(
        (&p["name"], &p["current_version"], &p["new_version"]),
        (
            &serde_json::json!("ua-fixture-hello"),
            &serde_json::json!("0.1.0"),
            &serde_json::json!("0.2.0")
        ),
        "{doc}"
    );

    let Some(tb) = userscope::boot() else {
        return;
    };
    userscope::install(&tb, "cargo", &[("home", &s(&home)), ("root", &s(&root))]);
    let took = userscope::start(&tb, "update-all-cargo.service");
    let journal = userscope::journal(&tb, "update-all-cargo.service", "Replaced package");
    assert!(
        journal
            .contains("Replaced package `ua-fixture-hello v0.1.0` with `ua-fixture-hello v0.2.0`"),
        "journal:\n{journal}"
    );
    // Rebuilt with the feature it was installed with (.crates2.json).
    assert_eq!(sh(&s(&hello)).trim(), "UA-FIXTURE-HELLO 0.2.0");
    assert!(packages(&plugin_tests::json(&cargo.run("estimate-update"))).is_empty());
    eprintln!(
        "cargo: registry + install 0.1.0 {:.2}s, estimate {:.2}s, update unit {:.2}s",
        install_time.as_secs_f64(),
        estimate_time.as_secs_f64(),
        took.as_secs_f64()
    );
}

/// A FAKE_RUSTUP_DIR seeded with a `rustup check` fixture and its status.
fn fake_rustup(check: &str, rc: u8) -> tempfile::TempDir {
    let dir = scratch("rustup");
    std::fs::copy(
        pkgmgr::fixture("rustup", check),
        dir.path().join("check.txt"),
    )
    .unwrap();
    std::fs::write(dir.path().join("check.rc"), format!("{rc}\n")).unwrap();
    dir
}

#[test]
fn rustup_reads_both_check_formats_and_updates_with_progress() {
    let bin = userscope::fake_bin("rustup");
    // HOME without ~/.cargo/bin: the stand-in, not this machine's rustup.
    let home = scratch("rustup-home");
    let run = |dir: &Path, args: &[&str], extra: &[(&str, &str)]| {
        let d = s(dir);
        let h = s(home.path());
        let mut env = vec![("FAKE_RUSTUP_DIR", d.as_str()), ("HOME", h.as_str())];
        env.extend_from_slice(extra);
        ok(
            &format!("rustup {}", args.join(" ")),
            userscope::run_with("rustup", args, &bin, &env),
        )
    };

    let new = fake_rustup("check-1.28.txt", 100);
    let doc = plugin_tests::json(&run(new.path(), &["estimate-update"], &[]));
    assert_eq!(
        packages(&doc),
        [
            (
                "nightly-x86_64-unknown-linux-gnu",
                "1.80.0-nightly (ada5e2c7b 2024-05-31)",
                "1.81.0-nightly (9c3bc805d 2024-06-27)"
            ),
            ("rustup", "1.27.0", "1.28.2"),
            (
                "stable-x86_64-unknown-linux-gnu",
                "1.77.2 (25ef9e3d8 2024-04-09)",
                "1.78.0 (9b00956e5 2024-04-29)"
            ),
        ]
        .into_iter()
        .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()))
        .collect(),
        "{doc}"
    );
    assert_eq!(doc["data"]["affects_runtimes"], serde_json::json!(["rust"]));

    // self_update=false: rustup is asked without its own line, and so
    // updates without updating itself.
    let doc = plugin_tests::json(&run(
        new.path(),
        &["estimate-update"],
        &[("UPDATE_ALL_RUSTUP_SELF_UPDATE", "false")],
    ));
    assert!(!packages(&doc).iter().any(|p| p.0 == "rustup"), "{doc}");
    let out = run(
        new.path(),
        &["update"],
        &[("UPDATE_ALL_RUSTUP_SELF_UPDATE", "false")],
    );
    let progress = progress_lines(&out);
    assert!(
        progress.iter().any(|p| p["percent"] == 95
            && p["message"] == "info: syncing channel updates for '1.70-x86_64-unknown-linux-gnu'"),
        "{progress:?}"
    );
    assert!(userscope::calls(new.path()).contains(&"rustup update --no-self-update".to_owned()));
    assert!(packages(&plugin_tests::json(&run(
        new.path(),
        &["estimate-update"],
        &[]
    )))
    .is_empty());

    let old = fake_rustup("check-1.27.txt", 0);
    let doc = plugin_tests::json(&run(old.path(), &["estimate-update"], &[]));
    let p = only_package(&doc);
    assert_eq!(p["name"], "stable-x86_64-unknown-linux-gnu", "{doc}");
    assert_eq!(p["new_version"], "1.78.0 (9b00956e5 2024-04-29)", "{doc}");

    // A failing check is an error document, not an empty estimate.
    let broken = fake_rustup("check-1.28.txt", 1);
    let out = userscope::run_with(
        "rustup",
        &["estimate-update"],
        &bin,
        &[
            ("FAKE_RUSTUP_DIR", &s(broken.path())),
            ("HOME", &s(home.path())),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(plugin_tests::json(&out)["error"]["code"], "ESTIMATE_FAILED");
}

#[test]
fn rustup_estimate_matches_the_real_rustup_check() {
    if !have_tools("rustup's real check", &["rustup"]) {
        return;
    }
    // Read-only: rustup check fetches the channel manifests and changes
    // nothing installed.
    let check = std::process::Command::new("rustup")
        .arg("check")
        .output()
        .expect("rustup check");
    if !matches!(check.status.code(), Some(0 | 100)) {
        testbed::skip(format!(
            "rustup check cannot reach its server here ({}): {}",
            check.status,
            String::from_utf8_lossy(&check.stderr).trim()
        ));
        return;
    }
    let expected: std::collections::BTreeSet<String> = String::from_utf8_lossy(&check.stdout)
        .lines()
        .filter(|l| l.to_lowercase().contains(" - update available"))
        .map(|l| l.split(" - ").next().unwrap().to_owned())
        .collect();
    let started = Instant::now();
    let doc = plugin_tests::json(&ok(
        "rustup estimate",
        plugin_tests::run("rustup", &["estimate-update"], &[]),
    ));
    let names: std::collections::BTreeSet<String> =
        packages(&doc).into_iter().map(|p| p.0).collect();
    assert_eq!(
        names,
        expected,
        "{doc}\n--- rustup check\n{}",
        String::from_utf8_lossy(&check.stdout)
    );
    eprintln!(
        "rustup: estimate on this machine {:.2}s, {} updates",
        started.elapsed().as_secs_f64(),
        names.len()
    );
}

/// A fake SDKMAN_DIR (tests/fixtures/sdkman/sdkman-init.sh): Java 17 and 11
/// installed with 17 current, Gradle up to date; the remote default Java
/// is 21. Its configuration answers every question itself
/// (sdkman_auto_answer), which an estimate must not take as a go-ahead.
fn fake_sdkman() -> tempfile::TempDir {
    let dir = scratch("sdkman");
    let d = dir.path();
    sh(&format!(
        "mkdir -p '{d}/bin' '{d}/var' '{d}/etc' '{d}/candidates/java/17.0.2-tem' \
           '{d}/candidates/java/11.0.21-tem' '{d}/candidates/gradle/8.5' && \
         ln -s 17.0.2-tem '{d}/candidates/java/current' && ln -s 8.5 '{d}/candidates/gradle/current' && \
         cp '{init}' '{d}/bin/sdkman-init.sh' && \
         printf 'java 21.0.3-tem\\ngradle 8.5\\nmaven 3.9.6\\n' >'{d}/var/fake-remote' && \
         echo sdkman_auto_answer=true >'{d}/etc/config'",
        d = d.display(),
        init = pkgmgr::fixture("sdkman", "sdkman-init.sh").display()
    ));
    dir
}

#[test]
fn sdkman_upgrades_the_outdated_candidates_only_when_asked() {
    if !have_tools("sdkman", &["bash"]) {
        return;
    }
    let dir = fake_sdkman();
    let d = s(dir.path());
    let env = [("UPDATE_ALL_SDKMAN_DIR", d.as_str())];
    let run = |args: &[&str]| {
        ok(
            &format!("sdkman {}", args.join(" ")),
            plugin_tests::run("sdkman", args, &env),
        )
    };
    assert!(plugin_tests::run("sdkman", &["is-applicable"], &env)
        .status
        .success());

    let doc = plugin_tests::json(&run(&["estimate-update"]));
    let p = only_package(&doc);
    assert_eq!(
        (&p["name"], &p["current_version"], &p["new_version"]),
        (
            &serde_json::json!("java"),
            &serde_json::json!("17.0.2-tem"),
            &serde_json::json!("21.0.3-tem")
        ),
        "{doc}"
    );
    assert_eq!(doc["data"]["affects_runtimes"], serde_json::json!(["java"]));
    assert!(
        !dir.path().join("candidates/java/21.0.3-tem").exists(),
        "the estimate installed something"
    );
    assert_eq!(
        String::from_utf8_lossy(&run(&["update-mutexes"]).stdout),
        "runtime:java\n"
    );

    let out = run(&["update"]);
    assert!(progress_lines(&out)
        .iter()
        .any(|p| p["message"] == "sdk upgrade java (1/1)"));
    assert_eq!(
        std::fs::read_link(dir.path().join("candidates/java/current")).unwrap(),
        Path::new("21.0.3-tem")
    );
    assert_eq!(
        userscope::calls(&dir.path().join("var")),
        ["sdk upgrade java"]
    );
    assert!(packages(&plugin_tests::json(&run(&["estimate-update"]))).is_empty());
    assert_eq!(
        String::from_utf8_lossy(&run(&["update-mutexes"]).stdout),
        ""
    );
}

/// A fake Google Cloud SDK root owned by the user: bin/gcloud is the
/// stand-in of tests/fixtures/gcloud, .install/ its state.
fn fake_gcloud_sdk(base: &Path) -> std::path::PathBuf {
    let root = base.join("google-cloud-sdk");
    let f = plugin_tests::fixtures_dir().join("gcloud");
    sh(&format!(
        "mkdir -p '{r}/bin' '{r}/.install' && cp '{f}/bin/gcloud' '{r}/bin/' && \
         cp '{f}/components.json' '{r}/.install/'",
        r = root.display(),
        f = f.display()
    ));
    root
}

#[test]
fn gcloud_updates_components_of_a_user_owned_sdk_through_its_user_unit() {
    let dir = scratch("gcloud");
    let root = fake_gcloud_sdk(dir.path());
    let r = s(&root);
    let env = [("UPDATE_ALL_GCLOUD_SDK_ROOT", r.as_str())];
    let doc = plugin_tests::json(&ok(
        "gcloud estimate",
        plugin_tests::run("gcloud", &["estimate-update"], &env),
    ));
    assert_eq!(
        packages(&doc),
        [
            ("bq", "2.1.3", "2.1.4"),
            ("core", "2024.04.19", "2024.05.03")
        ]
        .into_iter()
        .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()))
        .collect(),
        "{doc}"
    );
    assert_eq!(doc["data"]["total_download_size_bytes"], 21162854 + 1744193);
    // Without the component manager's state (a distribution's package,
    // whose own package manager updates it) the plugin stands aside.
    sh(&format!("mv '{r}/.install' '{r}/.install.off'"));
    let without = plugin_tests::run("gcloud", &["is-applicable"], &env);
    sh(&format!("mv '{r}/.install.off' '{r}/.install'"));
    assert!(!without.status.success());
    assert!(plugin_tests::run("gcloud", &["is-applicable"], &env)
        .status
        .success());

    let Some(tb) = userscope::boot() else {
        return;
    };
    // The unit finds gcloud through the setting alone: the SDK is on no
    // PATH of the user manager.
    userscope::install(&tb, "gcloud", &[("sdk_root", &r)]);
    userscope::start(&tb, "update-all-gcloud.service");
    let journal = userscope::journal(&tb, "update-all-gcloud.service", "Update done!");
    assert!(journal.contains("Update done!"), "journal:\n{journal}");
    assert!(
        userscope::calls(&root.join(".install"))
            .contains(&"gcloud components update --quiet".to_owned()),
        "{:?}",
        userscope::calls(&root.join(".install"))
    );
    assert!(packages(&plugin_tests::json(&plugin_tests::run(
        "gcloud",
        &["estimate-update"],
        &env
    )))
    .is_empty());
}

/// Flattens a JSON value the way plugins/lib/json.sh documents it: PATH
/// (keys and indexes joined by U+001F), a tab, the scalar (null empty,
/// control characters as spaces). `path` is None at the top.
fn flatten(v: &serde_json::Value, path: Option<&str>, out: &mut Vec<String>) {
    let join = |k: &str| match path {
        None => k.to_owned(),
        Some(p) => format!("{p}\u{1f}{k}"),
    };
    let clean = |t: &str| {
        t.chars()
            .map(|c| {
                if (c as u32) < 0x20 || c == '\u{7f}' {
                    ' '
                } else {
                    c
                }
            })
            .collect::<String>()
    };
    let here = path.unwrap_or("");
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                flatten(x, Some(&join(&clean(k))), out);
            }
        }
        serde_json::Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                flatten(x, Some(&join(&i.to_string())), out);
            }
        }
        serde_json::Value::Null => out.push(format!("{here}\t")),
        serde_json::Value::String(t) => out.push(format!("{here}\t{}", clean(t))),
        other => out.push(format!("{here}\t{other}")),
    }
}

#[test]
fn json_flatten_reads_what_serde_json_reads() {
    // Escapes, surrogate pairs, nesting, empty containers, keys with "/"
    // and ".", numbers in every form, and the real documents the plugins
    // parse.
    // Numbers come out as written; these are the ones serde_json prints
    // the same way.
    let tricky = r#"{"a\"b": [1, -25, 0.25, true, false, null, "x\ty\nz\u0001"],
        "@scope/pkg.name": {"v": "caf\u00e9 \ud83d\ude00 \/ \\ end", "e": {}, "l": []},
        "": {"nested": [[{"deep": "ok"}]]}, "uni": "Core™ i7"}"#;
    let mut docs = vec![tricky.to_owned()];
    for f in [
        "fwupd/get-updates.json",
        "gcloud/components.json",
        "brew/outdated.json",
    ] {
        docs.push(pkgmgr::read(plugin_tests::fixtures_dir().join(f)));
    }
    let lib = plugin_tests::plugins_dir().join("lib/json.sh");
    let mut shells = vec!["sh"];
    if have_tools("json_flatten under busybox", &["busybox"]) {
        shells.push("busybox sh");
    }
    for doc in &docs {
        let value: serde_json::Value = serde_json::from_str(doc).expect("fixture is JSON");
        let mut expected = Vec::new();
        flatten(&value, None, &mut expected);
        let file = scratch("json");
        let input = file.path().join("doc.json");
        std::fs::write(&input, doc).unwrap();
        for shell in &shells {
            // busybox sh runs busybox's awk and grep too.
            let prefix = if shell.starts_with("busybox") {
                "awk() { busybox awk \"$@\"; }; grep() { busybox grep \"$@\"; };"
            } else {
                ""
            };
            let out = sh(&format!(
                "{shell} -c '{prefix} . \"{}\"; json_flatten < \"{}\"'",
                lib.display(),
                input.display()
            ));
            let mut got: Vec<String> = out.lines().map(str::to_owned).collect();
            let mut want = expected.clone();
            got.sort();
            want.sort();
            assert_eq!(got, want, "{shell}: {doc}");
        }
    }
    let exp = sh(&format!(
        "echo '[-2.5e3, 1E+2]' | sh -c '. \"{}\"; json_flatten'",
        lib.display()
    ));
    assert_eq!(exp, "0\t-2.5e3\n1\t1E+2\n", "numbers as written");
    // Broken documents fail.
    for bad in ["", "{\"a\": [1, 2}", "[1, 2", "{\"a\" 1}", "{} {}"] {
        let out = std::process::Command::new("sh")
            .args([
                "-c",
                &format!(". \"{}\"; printf '%s' \"$1\" | json_flatten", lib.display()),
                "sh",
                bad,
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad:?} was accepted");
    }
}
