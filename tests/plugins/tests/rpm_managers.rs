//! The dnf and zypper plugins against the real tools, which have no
//! reachable mirror here: each test builds ua-fixture 1.0 and 2.0 with
//! rpmbuild, serves them from a local repository (createrepo_c), installs
//! 1.0 into a throw-away root (dnf --installroot, zypper --root), then runs
//! the plugin: its estimate sees 1.0 → 2.0, download fetches 2.0 into the
//! root's cache without installing it, update installs it (rpm --root -q).
//! While the tool's lock is held by another process, update answers the
//! transient error code LOCKED and changes nothing.

mod pkgmgr;

use pkgmgr::{
    error_of, have_tools, is_root, ok, only_package, packages, progress_lines, read, scratch, sh,
    LockOwner,
};
use plugin_tests::rpm::{RpmSetup, Server};
use std::time::Instant;

fn run(plugin: &str, command: &str, env: &[(&str, &str)]) -> std::process::Output {
    ok(
        &format!("{plugin} {command}"),
        plugin_tests::run(plugin, &[command], env),
    )
}

/// Asserts the estimate of ua-fixture 1.0-1 → 2.0-1.
fn assert_upgrade_estimate(doc: &serde_json::Value) -> &serde_json::Value {
    let p = only_package(doc);
    assert_eq!(p["name"], "ua-fixture", "{doc}");
    assert_eq!(p["current_version"], "1.0-1", "{doc}");
    assert_eq!(p["new_version"], "2.0-1", "{doc}");
    p
}

#[test]
fn dnf_upgrades_a_throw_away_root() {
    let test = "dnf in a throw-away root";
    if !is_root(test) || !have_tools(test, &["dnf", "rpm", "rpmbuild", "createrepo_c"]) {
        return;
    }
    let s = RpmSetup::new(scratch("dnf"));
    let server = Server::start(&s.repo);
    s.write(
        "etc/yum.repos.d/ua-fixture.repo",
        read(pkgmgr::fixture("dnf", "local.repo.in")).replace("@URL@", &server.url()),
    );
    let root = s.root.display().to_string();
    let env = [
        ("UPDATE_ALL_DNF_INSTALLROOT", root.as_str()),
        // No system-release package in this root to take it from.
        ("UPDATE_ALL_DNF_RELEASEVER", "1"),
    ];
    let applicable = || {
        plugin_tests::run("dnf", &["is-applicable"], &env)
            .status
            .success()
    };
    assert!(!applicable(), "an empty rpm database is no dnf system");

    s.publish("1.0");
    sh(&format!(
        "dnf -y -q --installroot='{root}' --releasever=1 install ua-fixture >/dev/null"
    ));
    assert_eq!(s.installed(), "ua-fixture-1.0-1.noarch");
    assert!(applicable());
    assert!(packages(&plugin_tests::json(&run("dnf", "estimate-update", &env))).is_empty());

    s.publish("2.0");
    let started = Instant::now();
    let doc = plugin_tests::json(&run("dnf", "estimate-update", &env));
    let estimate_time = started.elapsed();
    let p = assert_upgrade_estimate(&doc);
    let size = std::fs::metadata(s.rpm("2.0")).unwrap().len();
    assert_eq!(p["download_size_bytes"].as_u64(), Some(size), "{doc}");
    assert_eq!(p["installed_size_bytes"].as_u64(), Some(4), "{doc}"); // "2.0\n"
    assert_eq!(
        doc["data"]["total_download_size_bytes"].as_u64(),
        Some(size)
    );

    // ua-fixture is no runtime: just the static mutexes.
    let out = run("dnf", "update-mutexes", &env);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "pkgmgr:rpm\npkgmgr:dnf\n"
    );

    let rpm = "/ua-fixture-2.0-1.noarch.rpm";
    assert_eq!(server.served(rpm), 0);
    let out = run("dnf", "download", &env);
    assert_eq!(server.served(rpm), 1, "download did not fetch the package");
    assert!(s.found("var/cache/dnf", "ua-fixture-2.0-1.noarch.rpm"));
    assert_eq!(s.installed(), "ua-fixture-1.0-1.noarch");
    assert_eq!(progress_lines(&out).last().unwrap()["percent"], 100);

    // Another dnf holds the metadata lock (its pid in the lock file, as a
    // running dnf leaves it; dnf 4 would wait for it): LOCKED at once.
    let owner = LockOwner::start();
    let lock = s.root.join("var/cache/dnf/metadata_lock.pid");
    std::fs::write(&lock, owner.pid().to_string()).unwrap();
    let (code, message) = error_of(
        "dnf update, locked",
        &plugin_tests::run("dnf", &["update"], &env),
    );
    assert_eq!(code, "LOCKED", "{message}");
    assert!(
        message.contains(&format!("already locked by {}", owner.pid())),
        "{message}"
    );
    assert_eq!(s.installed(), "ua-fixture-1.0-1.noarch");
    drop(owner); // dnf takes over a lock whose process is gone

    let out = run("dnf", "update", &env);
    assert_eq!(s.installed(), "ua-fixture-2.0-1.noarch");
    assert_eq!(read(s.root.join("usr/share/ua-fixture/version")), "2.0\n");
    assert_eq!(server.served(rpm), 1, "update downloaded again");
    let progress = progress_lines(&out);
    assert!(
        progress.iter().any(|l| l["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Upgrading ua-fixture-2.0-1"))),
        "no progress from dnf's transaction lines: {progress:?}"
    );
    assert!(packages(&plugin_tests::json(&run("dnf", "estimate-update", &env))).is_empty());
    eprintln!(
        "dnf throw-away root: estimate {:.2}s, estimate+download+update+estimate {:.2}s",
        estimate_time.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn zypper_upgrades_a_throw_away_root() {
    let test = "zypper in a throw-away root";
    if !is_root(test) || !have_tools(test, &["zypper", "rpm", "rpmbuild", "createrepo_c"]) {
        return;
    }
    let s = RpmSetup::new(scratch("zypper"));
    s.write(
        "etc/zypp/repos.d/ua-fixture.repo",
        read(pkgmgr::fixture("zypper", "local.repo.in"))
            .replace("@REPO@", &s.repo.display().to_string()),
    );
    let root = s.root.display().to_string();
    // zypper logs to the host's /var/log/zypper.log even with --root, and
    // takes the host's lock, /run/zypp.pid, unless told otherwise.
    let log = format!("{root}/var/log/zypper.log");
    let lock_root = format!("{root}/zypp-lock");
    std::fs::create_dir_all(format!("{lock_root}/run")).unwrap();
    let env = [
        ("UPDATE_ALL_ZYPPER_ROOT", root.as_str()),
        ("ZYPP_LOGFILE", log.as_str()),
        ("ZYPP_LOCKFILE_ROOT", lock_root.as_str()),
    ];
    let applicable = || {
        plugin_tests::run("zypper", &["is-applicable"], &env)
            .status
            .success()
    };
    assert!(!applicable(), "an empty rpm database is no zypper system");

    s.publish("1.0");
    sh(&format!(
        "ZYPP_LOGFILE='{log}' ZYPP_LOCKFILE_ROOT='{lock_root}' zypper --root '{root}' --non-interactive --quiet install ua-fixture >/dev/null"
    ));
    assert_eq!(s.installed(), "ua-fixture-1.0-1.noarch");
    assert!(applicable());

    s.publish("2.0");
    let started = Instant::now();
    let doc = plugin_tests::json(&run("zypper", "estimate-update", &env));
    let estimate_time = started.elapsed();
    assert_upgrade_estimate(&doc);
    // zypper reports only the transaction's total download size.
    let size = std::fs::metadata(s.rpm("2.0")).unwrap().len();
    assert_eq!(
        doc["data"]["total_download_size_bytes"].as_u64(),
        Some(size),
        "{doc}"
    );

    let out = run("zypper", "update-mutexes", &env);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "pkgmgr:rpm\npkgmgr:zypp\n"
    );

    let out = run("zypper", "download", &env);
    assert!(
        s.found("var/cache/zypp/packages", "ua-fixture-2.0-1.noarch.rpm"),
        "download left no package in the root's cache"
    );
    assert_eq!(s.installed(), "ua-fixture-1.0-1.noarch");
    assert_eq!(progress_lines(&out).last().unwrap()["percent"], 100);

    // Another zypper holds the lock (its pid in zypp.pid): zypper's exit
    // status 7, ZYPPER_EXIT_ZYPP_LOCKED, is LOCKED.
    let owner = LockOwner::start();
    let lock = format!("{lock_root}/run/zypp.pid");
    std::fs::write(&lock, format!("{}\n", owner.pid())).unwrap();
    let (code, message) = error_of(
        "zypper update, locked",
        &plugin_tests::run("zypper", &["update"], &env),
    );
    assert_eq!(code, "LOCKED", "{message}");
    assert!(
        message.contains(&format!(
            "System management is locked by the application with pid {}",
            owner.pid()
        )),
        "{message}"
    );
    assert_eq!(s.installed(), "ua-fixture-1.0-1.noarch");
    drop(owner);

    let out = run("zypper", "update", &env);
    assert_eq!(s.installed(), "ua-fixture-2.0-1.noarch");
    assert_eq!(read(s.root.join("usr/share/ua-fixture/version")), "2.0\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("In cache ua-fixture-2.0-1.noarch.rpm"),
        "update did not use the downloaded package:\n{stderr}"
    );
    assert!(progress_lines(&out).iter().any(|l| l["message"]
        .as_str()
        .is_some_and(|m| m.starts_with("Installing: ua-fixture-2.0-1"))));
    assert!(packages(&plugin_tests::json(&run("zypper", "estimate-update", &env))).is_empty());
    eprintln!(
        "zypper throw-away root: estimate {:.2}s, estimate+download+update+estimate {:.2}s",
        estimate_time.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}

/// An rpm transaction cut short leaves the new version installed and the
/// old one not yet erased: both in the rpm database. Made here as it looks
/// afterwards: ua-fixture 2.0 installed beside 1.0 (`rpm -i
/// --replacefiles`). The dnf plugin's update finds the duplicates, runs
/// `dnf remove --duplicates` first, says so on stderr and in its document
/// (`data.repaired`), and ends with 2.0 alone; the next update has nothing
/// to repair.
#[test]
fn dnf_repairs_an_interrupted_transaction_before_the_upgrade() {
    let test = "dnf repairs an interrupted transaction";
    if !is_root(test) || !have_tools(test, &["dnf", "rpm", "rpmbuild", "createrepo_c"]) {
        return;
    }
    let s = RpmSetup::new(scratch("dnf-repair"));
    // A file:// repository: the download phase is not what this is about.
    s.write(
        "etc/yum.repos.d/ua-fixture.repo",
        read(pkgmgr::fixture("dnf", "local.repo.in"))
            .replace("@URL@", &format!("file://{}/", s.repo.display())),
    );
    let root = s.root.display().to_string();
    let env = [
        ("UPDATE_ALL_DNF_INSTALLROOT", root.as_str()),
        ("UPDATE_ALL_DNF_RELEASEVER", "1"),
    ];
    s.publish("1.0");
    sh(&format!(
        "dnf -y -q --installroot='{root}' --releasever=1 install ua-fixture >/dev/null"
    ));
    s.publish("2.0");
    sh(&format!(
        "rpm --root '{root}' -i --replacefiles '{}' 2>/dev/null",
        s.rpm("2.0").display()
    ));
    let both = sh(&format!("rpm --root '{root}' -q ua-fixture"));
    assert_eq!(
        both.lines().collect::<Vec<_>>(),
        ["ua-fixture-1.0-1.noarch", "ua-fixture-2.0-1.noarch"]
    );

    let out = run("dnf", "update", &env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let found = "an interrupted rpm transaction (several versions installed: \
                 ua-fixture-1.0-1.noarch ua-fixture-2.0-1.noarch)";
    assert!(
        stderr.contains(&format!(
            "dnf: {found}; running dnf remove --duplicates before the upgrade"
        )),
        "{stderr}"
    );
    let doc = plugin_tests::json(&out);
    let applied = update_all_protocol::Applied::from_data(&doc["data"]).unwrap();
    assert_eq!(
        applied.repaired,
        [format!("dnf remove --duplicates finished {found}")],
        "{doc}"
    );
    assert_eq!(s.installed(), "ua-fixture-2.0-1.noarch");
    assert_eq!(read(s.root.join("usr/share/ua-fixture/version")), "2.0\n");

    let out = run("dnf", "update", &env);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("remove --duplicates"));
    assert_eq!(plugin_tests::json(&out)["data"], serde_json::Value::Null);
}

/// The same cut-short rpm transaction under zypper (ua-fixture 2.0
/// installed beside 1.0), which `zypper update` would leave as it is:
/// the zypper plugin's update finds the duplicates, checks that `zypper
/// verify`'s plan removes only the older one, runs it, says so on stderr
/// and in `data.repaired`, and ends with 2.0 alone.
#[test]
fn zypper_repairs_an_interrupted_transaction_before_the_update() {
    let test = "zypper repairs an interrupted transaction";
    if !is_root(test) || !have_tools(test, &["zypper", "rpm", "rpmbuild", "createrepo_c"]) {
        return;
    }
    let s = RpmSetup::new(scratch("zypper-repair"));
    s.write(
        "etc/zypp/repos.d/ua-fixture.repo",
        read(pkgmgr::fixture("zypper", "local.repo.in"))
            .replace("@REPO@", &s.repo.display().to_string()),
    );
    let root = s.root.display().to_string();
    let log = format!("{root}/var/log/zypper.log");
    let lock_root = format!("{root}/zypp-lock");
    std::fs::create_dir_all(format!("{lock_root}/run")).unwrap();
    let env = [
        ("UPDATE_ALL_ZYPPER_ROOT", root.as_str()),
        ("ZYPP_LOGFILE", log.as_str()),
        ("ZYPP_LOCKFILE_ROOT", lock_root.as_str()),
    ];
    s.publish("1.0");
    sh(&format!(
        "ZYPP_LOGFILE='{log}' ZYPP_LOCKFILE_ROOT='{lock_root}' zypper --root '{root}' --non-interactive --quiet install ua-fixture >/dev/null"
    ));
    s.publish("2.0");
    sh(&format!(
        "rpm --root '{root}' -i --replacefiles '{}' 2>/dev/null",
        s.rpm("2.0").display()
    ));
    assert_eq!(
        sh(&format!("rpm --root '{root}' -q ua-fixture"))
            .lines()
            .collect::<Vec<_>>(),
        ["ua-fixture-1.0-1.noarch", "ua-fixture-2.0-1.noarch"]
    );

    let out = run("zypper", "update", &env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let found = "an interrupted rpm transaction (several versions installed: \
                 ua-fixture-1.0-1.noarch ua-fixture-2.0-1.noarch)";
    assert!(
        stderr.contains(&format!(
            "zypper: {found}; running zypper verify before the update, which removes \
             ua-fixture-1.0-1.noarch"
        )),
        "{stderr}"
    );
    let doc = plugin_tests::json(&out);
    let applied = update_all_protocol::Applied::from_data(&doc["data"]).unwrap();
    assert_eq!(
        applied.repaired,
        [format!(
            "zypper verify removed ua-fixture-1.0-1.noarch, finishing {found}"
        )],
        "{doc}"
    );
    assert_eq!(s.installed(), "ua-fixture-2.0-1.noarch");
    assert_eq!(read(s.root.join("usr/share/ua-fixture/version")), "2.0\n");
    let out = run("zypper", "update", &env);
    assert_eq!(plugin_tests::json(&out)["data"], serde_json::Value::Null);
}
