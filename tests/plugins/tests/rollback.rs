//! The plugins' `rollback` command (docs/plugin-protocol.md, "rollback"),
//! by hand against the real tools: an old version is installed, the
//! plugin's own update installs the new one, and its rollback, given the
//! estimate's versions in UPDATE_ALL_ROLLBACK_FILE, puts the old one back
//! and lists it in its document. A version that is gone from where the
//! tool gets packages is refused with NOT_AVAILABLE, and nothing changes.
//! npm reaches a registry of its own on 127.0.0.1 and pipx wheels of its
//! own (plugin_tests::toolchain), never the network; flatpak-user a local
//! repository, apt a private root and dnf a throw-away root with a local
//! repository (the fixtures of stores.rs, apt.rs and rpm_managers.rs, in
//! plugin_tests).

mod pkgmgr;
mod userscope;

use pkgmgr::{error_of, have_tools, is_root, ok, only_package, scratch, sh};
use plugin_tests::apt::PrivateRoot;
use plugin_tests::flatpak::FlatpakFixture;
use plugin_tests::rpm::{RpmSetup, Server};
use plugin_tests::toolchain::{npm_version, pipx_version, Npm, Pipx};
use std::process::Output;
use std::time::Instant;
use userscope::ByHand;

/// Runs plugin `name`'s `command` with `env` and UPDATE_ALL_ROLLBACK_FILE
/// holding `rows` (name, old, new).
fn with_rows(
    name: &str,
    command: &str,
    env: &[(&str, String)],
    rows: &[(&str, &str, &str)],
) -> Output {
    let dir = scratch("rollback-file");
    let file = dir.path().join("packages.tsv");
    let text: String = rows
        .iter()
        .map(|(n, old, new)| format!("{n}\t{old}\t{new}\n"))
        .collect();
    std::fs::write(&file, text).unwrap();
    let file = file.display().to_string();
    let mut all: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    all.push(("UPDATE_ALL_ROLLBACK_FILE", &file));
    plugin_tests::run(name, &[command], &all)
}

/// The plugin's estimate's one package, as (name, current, new).
fn estimated(name: &str, env: &[(&str, String)]) -> (String, String, String) {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = ok(
        &format!("{name} estimate-update"),
        plugin_tests::run(name, &["estimate-update"], &env),
    );
    let doc = plugin_tests::json(&out);
    let count = doc["data"]["packages_to_update"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(
        count,
        1,
        "{name}: expected one package: {doc}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let p = only_package(&doc);
    let s = |k: &str| {
        p[k].as_str()
            .unwrap_or_else(|| panic!("{k}: {doc}"))
            .to_owned()
    };
    (s("name"), s("current_version"), s("new_version"))
}

/// The plugin's `update`; panics unless it succeeds.
fn update(name: &str, env: &[(&str, String)]) {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    ok(
        &format!("{name} update"),
        plugin_tests::run(name, &["update"], &env),
    );
}

/// Rolls `rows` back; asserts the document says each is back at its old
/// version and nothing failed. Returns how long it took.
fn rolls_back(name: &str, env: &[(&str, String)], rows: &[(&str, &str, &str)]) -> f64 {
    let started = Instant::now();
    let out = ok(
        &format!("{name} rollback"),
        with_rows(name, "rollback", env, rows),
    );
    let took = started.elapsed().as_secs_f64();
    let doc = plugin_tests::json(&out);
    let answer = update_all_protocol::RolledBack::from_data(&doc["data"]).expect("data");
    let listed: Vec<(String, Option<String>)> = answer
        .rolled_back
        .into_iter()
        .map(|r| (r.name, r.version))
        .collect();
    let wanted: Vec<(String, Option<String>)> = rows
        .iter()
        .map(|(n, old, _)| (n.to_string(), Some(old.to_string())))
        .collect();
    assert_eq!(listed, wanted, "{doc}");
    assert!(answer.failed.is_empty(), "{doc}");
    took
}

/// Rolls `row` back and expects the refusal NOT_AVAILABLE, naming the
/// package in `failed`.
fn refused(name: &str, env: &[(&str, String)], row: (&str, &str, &str)) {
    let out = with_rows(name, "rollback", env, &[row]);
    let (code, message) = error_of(&format!("{name} rollback of a gone version"), &out);
    assert_eq!(code, "NOT_AVAILABLE", "{message}");
    let doc = plugin_tests::json(&out);
    assert_eq!(doc["data"]["failed"][0]["name"], row.0, "{doc}");
    assert_eq!(doc["data"]["rolled_back"], serde_json::json!([]), "{doc}");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn npm_returns_a_global_package_to_its_old_version() {
    let test = "npm rollback";
    if !is_root(test) || !have_tools(test, &["npm", "node"]) {
        return;
    }
    let npm = Npm::with(scratch("npm"), "is-number@6");
    assert_eq!(npm_version(&npm.prefix, "is-number"), "6.0.0");
    let (name, old, new) = estimated("npm", &npm.env);
    assert_eq!((name.as_str(), old.as_str()), ("is-number", "6.0.0"));
    update("npm", &npm.env);
    assert_eq!(npm_version(&npm.prefix, "is-number"), new);

    let took = rolls_back("npm", &npm.env, &[(&name, &old, &new)]);
    assert_eq!(npm_version(&npm.prefix, "is-number"), "6.0.0");
    refused("npm", &npm.env, ("is-number", "0.0.999", &new));
    assert_eq!(npm_version(&npm.prefix, "is-number"), "6.0.0");
    eprintln!("npm: rollback of is-number {new} -> 6.0.0 {took:.2}s");
}

#[test]
fn pipx_returns_a_venv_to_its_old_version() {
    let test = "pipx rollback";
    if !is_root(test) || !have_tools(test, &["pipx"]) {
        return;
    }
    let pipx = Pipx::with(scratch("pipx"), "cowsay==5.0");
    assert_eq!(pipx_version(&pipx.home, "cowsay"), "5.0");
    let (name, old, new) = estimated("pipx", &pipx.env);
    assert_eq!((name.as_str(), old.as_str()), ("cowsay", "5.0"));
    update("pipx", &pipx.env);
    assert_eq!(pipx_version(&pipx.home, "cowsay"), new);

    let took = rolls_back("pipx", &pipx.env, &[(&name, &old, &new)]);
    assert_eq!(pipx_version(&pipx.home, "cowsay"), "5.0");
    refused("pipx", &pipx.env, ("cowsay", "0.0.1", &new));
    assert_eq!(pipx_version(&pipx.home, "cowsay"), "5.0");
    eprintln!("pipx: rollback of cowsay {new} -> 5.0 {took:.2}s");
}

#[test]
fn flatpak_returns_an_app_to_the_commit_the_estimate_saw() {
    let test = "flatpak rollback";
    if !is_root(test) || !have_tools(test, &["flatpak", "gzip"]) {
        return;
    }
    // The system installation (as root) and a user's: one library.
    for (plugin, installation, setting) in [
        ("flatpak", "--system", "UPDATE_ALL_FLATPAK_SYSTEM_DIR"),
        ("flatpak-user", "--user", "UPDATE_ALL_FLATPAK_USER_DIR"),
    ] {
        let f = FlatpakFixture::new(scratch("flatpak"), installation);
        let old_commit = f.commit();
        let env = [(setting, f.target.display().to_string())];
        let (name, old, new) = estimated(plugin, &env);
        assert_eq!(name, "org.test.Hello//stable");
        assert_eq!(old, format!("1.0+{old_commit}"));
        update(plugin, &env);
        assert_eq!(f.version(), "2.0\tfalse", "{plugin}");

        let took = rolls_back(plugin, &env, &[(&name, &old, &new)]);
        assert_eq!(f.version(), "1.0\tfalse", "{plugin}");
        assert_eq!(f.commit(), old_commit, "{plugin}");
        // A commit the remote's history does not have.
        refused(plugin, &env, (&name, "1.0+0123456789ab", &new));
        assert_eq!(f.commit(), old_commit, "{plugin}");
        eprintln!("{plugin}: rollback of org.test.Hello 2.0 -> 1.0 {took:.2}s");
    }
}

#[test]
fn apt_downgrades_from_the_archive_or_the_cache_and_refuses_a_gone_version() {
    let test = "apt rollback";
    if !is_root(test) || !have_tools(test, &["apt-get", "dpkg", "dpkg-deb", "dpkg-scanpackages"]) {
        return;
    }
    let host_before = std::fs::read("/var/lib/dpkg/status").unwrap_or_default();
    let pr = PrivateRoot::new(scratch("apt"));
    let env = pr.env();
    pr.publish("2.0");
    let (name, old, new) = estimated("apt", &env);
    assert_eq!((old.as_str(), new.as_str()), ("1.0", "2.0"));
    update("apt", &env);
    assert_eq!(pr.installed(), "2.0");

    // 1.0 and 2.0 are both in the repository's index.
    let took = rolls_back("apt", &env, &[(&name, "1.0", "2.0")]);
    assert_eq!(pr.installed(), "1.0");
    assert_eq!(
        plugin_tests::read(pr.root.join("usr/share/ua-fixture/version")),
        "1.0\n"
    );

    // 1.0 gone from the repository, and from apt's cache: refused, and
    // 2.0 stays.
    update("apt", &env);
    assert_eq!(pr.installed(), "2.0");
    let cached = pr
        .root
        .join("var/cache/apt/archives/ua-fixture_1.0_all.deb");
    sh(&format!(
        "rm -f '{repo}/ua-fixture_1.0_all.deb' '{cached}' && cd '{repo}' && \
         dpkg-scanpackages -m . > Packages 2>/dev/null && \
         rm -f '{root}'/var/lib/apt/lists/*Packages* && \
         APT_CONFIG='{conf}' apt-get -qq update",
        repo = pr.repo.display(),
        cached = cached.display(),
        root = pr.root.display(),
        conf = pr.conf.display()
    ));
    refused("apt", &env, (&name, "1.0", "2.0"));
    assert_eq!(pr.installed(), "2.0");

    // Back in apt's cache only (as apt leaves what it installed): the
    // downgrade installs that file.
    sh(&format!(
        "cp '{}/ua-fixture_1.0_all.deb' '{}'",
        pr.debs.display(),
        cached.display()
    ));
    rolls_back("apt", &env, &[(&name, "1.0", "2.0")]);
    assert_eq!(pr.installed(), "1.0");
    assert!(
        std::fs::read("/var/lib/dpkg/status").unwrap_or_default() == host_before,
        "the host's dpkg status changed"
    );
    eprintln!("apt: rollback of ua-fixture 2.0 -> 1.0 from the archive {took:.2}s");
}

#[test]
fn dnf_downgrades_from_a_repository_and_refuses_a_gone_version() {
    let test = "dnf rollback";
    if !is_root(test) || !have_tools(test, &["dnf", "rpm", "rpmbuild", "createrepo_c"]) {
        return;
    }
    let s = RpmSetup::new(scratch("dnf-rollback"));
    let server = Server::start(&s.repo);
    s.write(
        "etc/yum.repos.d/ua-fixture.repo",
        plugin_tests::read(plugin_tests::fixtures_dir().join("dnf/local.repo.in"))
            .replace("@URL@", &server.url()),
    );
    let root = s.root.display().to_string();
    let env = [
        ("UPDATE_ALL_DNF_INSTALLROOT", root.clone()),
        ("UPDATE_ALL_DNF_RELEASEVER", "1".to_owned()),
    ];
    s.publish("1.0");
    sh(&format!(
        "dnf -y -q --installroot='{root}' --releasever=1 install ua-fixture >/dev/null"
    ));
    s.publish("2.0");
    let (name, old, new) = estimated("dnf", &env);
    assert_eq!((old.as_str(), new.as_str()), ("1.0-1", "2.0-1"));
    update("dnf", &env);
    assert_eq!(s.installed(), "ua-fixture-2.0-1.noarch");

    // The repository holds both versions.
    let took = rolls_back("dnf", &env, &[(&name, &old, &new)]);
    assert_eq!(s.installed(), "ua-fixture-1.0-1.noarch");
    assert_eq!(
        plugin_tests::read(s.root.join("usr/share/ua-fixture/version")),
        "1.0\n"
    );

    // 1.0 gone from the repository: refused, and 2.0 stays.
    update("dnf", &env);
    assert_eq!(s.installed(), "ua-fixture-2.0-1.noarch");
    sh(&format!(
        "rm '{repo}/ua-fixture-1.0-1.noarch.rpm' && createrepo_c --quiet --update '{repo}'",
        repo = s.repo.display()
    ));
    refused("dnf", &env, (&name, &old, &new));
    assert_eq!(s.installed(), "ua-fixture-2.0-1.noarch");
    eprintln!("dnf: rollback of ua-fixture 2.0-1 -> 1.0-1 {took:.2}s");
}

#[test]
fn snap_reverts_to_the_revision_snapd_kept() {
    let dir = scratch("snap-rollback");
    for (file, text) in [
        (
            "installed",
            "core22 20240111 1122 77000000\nfirefox 121.0 3600 260000000\n",
        ),
        (
            "store",
            "core22 20240408 1380 77500000\nfirefox 125.0.2 4173 262000000\n",
        ),
    ] {
        std::fs::write(dir.path().join(file), text).unwrap();
    }
    let snap = ByHand::stand_in("snap", &userscope::fake_bin("snap"), dir.path());
    let env = [
        ("PATH", userscope::path_with(&userscope::fake_bin("snap"))),
        ("FAKE_SNAP_DIR", dir.path().display().to_string()),
    ];
    snap.run("update");
    let installed = || plugin_tests::read(dir.path().join("installed"));
    assert!(installed().contains("firefox 125.0.2 4173"));

    rolls_back(
        "snap",
        &env,
        &[
            ("firefox", "121.0", "125.0.2"),
            ("core22", "20240111", "20240408"),
        ],
    );
    assert!(
        installed().contains("firefox 121.0 3600"),
        "{}",
        installed()
    );
    assert!(
        installed().contains("core22 20240111 1122"),
        "{}",
        installed()
    );
    let calls = userscope::calls(dir.path());
    assert!(
        calls.contains(&"snap revert firefox --revision 3600".to_owned()),
        "{calls:?}"
    );
    // snapd keeps no revision of that version.
    refused("snap", &env, ("firefox", "99.0", "125.0.2"));
    assert!(installed().contains("firefox 121.0 3600"));
}

#[test]
fn cargo_reinstalls_the_old_version_with_its_features() {
    let test = "cargo rollback";
    if !is_root(test) || !have_tools(test, &["cargo", "git", "sha256sum"]) {
        return;
    }
    let dir = scratch("cargo-rollback");
    let (home, root) = (dir.path().join("home"), dir.path().join("root"));
    let publish = |versions: &str| {
        sh(&format!(
            "'{}' '{}' {versions}",
            plugin_tests::fixtures_dir()
                .join("cargo/make-registry.sh")
                .display(),
            dir.path().display()
        ));
    };
    publish("0.1.0");
    sh(&format!(
        "CARGO_HOME='{}' cargo install --quiet --root '{}' ua-fixture-hello --version 0.1.0 \
         --features shout 2>&1",
        home.display(),
        root.display()
    ));
    publish("0.1.0 0.2.0");
    let env = [
        ("UPDATE_ALL_CARGO_HOME", home.display().to_string()),
        ("UPDATE_ALL_CARGO_ROOT", root.display().to_string()),
    ];
    let hello = root.join("bin/ua-fixture-hello").display().to_string();
    let (name, old, new) = estimated("cargo", &env);
    assert_eq!((old.as_str(), new.as_str()), ("0.1.0", "0.2.0"));
    update("cargo", &env);
    assert_eq!(sh(&hello).trim(), "UA-FIXTURE-HELLO 0.2.0");

    let took = rolls_back("cargo", &env, &[(&name, &old, &new)]);
    // Rebuilt with the feature it was installed with.
    assert_eq!(sh(&hello).trim(), "UA-FIXTURE-HELLO 0.1.0");
    refused("cargo", &env, (&name, "0.0.9", &new));
    assert_eq!(sh(&hello).trim(), "UA-FIXTURE-HELLO 0.1.0");
    eprintln!("cargo: rollback of ua-fixture-hello 0.2.0 -> 0.1.0 {took:.2}s");
}
