//! The apt plugin against the real apt and dpkg:
//! - on this machine, read-only: its estimate lists exactly the upgrades
//!   that `apt list --upgradable` lists;
//! - in a private root (its own dpkg database, lists, cache and sources, a
//!   local repository built here): the estimate sees 1.0 → 2.0, download
//!   fetches, update upgrades, by hand and through update-all's units in
//!   the test bed; a dpkg run cut short is repaired by the update before
//!   it upgrades; a lock held by another apt is reported as LOCKED, and
//!   through the units retried until it is released. The host's packages
//!   are never touched.

mod pkgmgr;

use pkgmgr::{
    error_of, have_tools, is_root, ok, only_package, packages, progress_lines, read, scratch, sh,
    wait_for, RecordLock,
};
use plugin_tests::apt::PrivateRoot;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// `apt list --upgradable`: "NAME/SUITES NEW ARCH [upgradable from: OLD]",
/// as (name, current, new); NAME gets ":ARCH" for a foreign architecture,
/// as apt-get -s writes it.
fn apt_list_upgradable() -> BTreeSet<(String, String, String)> {
    let native = sh("dpkg --print-architecture").trim().to_owned();
    sh("apt list --upgradable 2>/dev/null")
        .lines()
        .filter(|l| l.contains("[upgradable from: "))
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let name = w[0].split('/').next().expect("name");
            let arch = w[2];
            let old = w[w.len() - 1].trim_end_matches(']');
            let name = if arch == native || arch == "all" {
                name.to_owned()
            } else {
                format!("{name}:{arch}")
            };
            (name, old.to_owned(), w[1].to_owned())
        })
        .collect()
}

#[test]
fn estimate_lists_what_apt_lists_on_this_machine() {
    if !have_tools("apt estimate on this machine", &["apt", "apt-get", "dpkg"]) {
        return;
    }
    let started = Instant::now();
    let held: BTreeSet<String> = sh("apt-mark showhold").lines().map(str::to_owned).collect();
    let expected: BTreeSet<_> = apt_list_upgradable()
        .into_iter()
        .filter(|p| !held.contains(&p.0))
        .collect();
    // Read-only: no apt-get update, only apt-get -s.
    let estimate = |dist: &str| {
        let out = ok(
            "apt estimate-update",
            plugin_tests::run(
                "apt",
                &["estimate-update"],
                &[
                    ("UPDATE_ALL_APT_REFRESH", "false"),
                    ("UPDATE_ALL_APT_DIST_UPGRADE", dist),
                ],
            ),
        );
        plugin_tests::json(&out)
    };

    // dist-upgrade upgrades everything apt lists (held packages aside) and
    // may add new packages, which apt list does not show.
    let doc = estimate("true");
    let all = packages(&doc);
    let upgrades: BTreeSet<_> = all.iter().filter(|p| !p.1.is_empty()).cloned().collect();
    assert_eq!(
        upgrades, expected,
        "the plugin (left) and `apt list --upgradable` (right) disagree"
    );
    for new in all.iter().filter(|p| p.1.is_empty()) {
        assert!(
            !expected.iter().any(|e| e.0 == new.0),
            "{new:?} is an upgrade, not a new package"
        );
    }
    // Every package comes from an index that records its size.
    let data = &doc["data"];
    let mut total = 0;
    for p in data["packages_to_update"].as_array().unwrap() {
        let size = p["download_size_bytes"].as_u64();
        assert!(size.is_some_and(|s| s > 0), "no download size: {p}");
        total += size.unwrap();
        assert!(p["installed_size_bytes"].is_u64(), "no installed size: {p}");
    }
    assert_eq!(data["total_download_size_bytes"].as_u64(), Some(total));

    // upgrade never installs or removes: a subset, all of them upgrades.
    let plain = packages(&estimate("false"));
    assert!(
        plain.is_subset(&expected),
        "apt-get upgrade would do more than apt lists: {:?}",
        plain.difference(&expected).collect::<Vec<_>>()
    );
    eprintln!(
        "apt on this machine: {} upgradable ({} with upgrade), checked in {:.1}s",
        expected.len(),
        plain.len(),
        started.elapsed().as_secs_f64()
    );
}

/// The parser on recorded output (tests/fixtures/apt/*.txt), through
/// stand-ins for apt-get, apt-cache and apt-config: a foreign architecture,
/// a security archive, a new kernel and a removal, which neither this
/// machine nor a local repository is sure to show.
#[test]
fn estimate_parses_recorded_dist_upgrade() {
    let dir = scratch("apt-fake");
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let status = dir.path().join("status");
    std::fs::write(&status, "Package: x\n").unwrap();
    let fake = |name: &str, body: String| {
        let path = bin.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        sh(&format!("chmod 755 '{}'", path.display()));
    };
    let recorded = |f: &str| pkgmgr::fixture("apt", f).display().to_string();
    fake(
        "apt-get",
        format!(
            "case \" $* \" in *' -s '*' dist-upgrade '*) exec cat '{}' ;; esac; exit 100",
            recorded("simulate-dist-upgrade.txt")
        ),
    );
    fake(
        "apt-cache",
        format!("exec cat '{}'", recorded("apt-cache-show.txt")),
    );
    fake("apt-config", format!("echo \"S='{}'\"", status.display()));
    fake("dpkg", "exit 0".into());
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let env = [
        ("PATH", path.as_str()),
        ("UPDATE_ALL_APT_REFRESH", "false"),
        ("UPDATE_ALL_APT_DIST_UPGRADE", "true"),
    ];
    let out = ok(
        "apt estimate-update (recorded)",
        plugin_tests::run("apt", &["estimate-update"], &env),
    );
    let doc = plugin_tests::json(&out);
    let data = &doc["data"];
    let expected = serde_json::json!([
        {"name": "libc6:i386", "current_version": "2.36-9+deb12u10",
         "new_version": "2.36-9+deb12u13", "download_size_bytes": 2611644_u64,
         "installed_size_bytes": 12292_u64 * 1024, "update_type": "unknown"},
        {"name": "libgnutls30", "current_version": "3.7.9-2+deb12u6",
         "new_version": "3.7.9-2+deb12u7", "download_size_bytes": 1406296_u64,
         "installed_size_bytes": 3375_u64 * 1024, "update_type": "security"},
        {"name": "python3.11", "current_version": "3.11.2-6+deb12u6",
         "new_version": "3.11.2-6+deb12u7", "download_size_bytes": 573844_u64,
         "installed_size_bytes": 632_u64 * 1024, "update_type": "unknown"},
        {"name": "linux-image-6.1.0-41-amd64", "current_version": null,
         "new_version": "6.1.158-1", "download_size_bytes": 69103796_u64,
         "installed_size_bytes": 411205_u64 * 1024, "update_type": "security"},
    ]);
    assert_eq!(data["packages_to_update"], expected, "{doc}");
    assert_eq!(
        data["total_download_size_bytes"].as_u64(),
        Some(2611644 + 1406296 + 573844 + 69103796)
    );
    assert_eq!(data["security_updates"], true, "{doc}");
    assert_eq!(data["requires_reboot"], true, "{doc}"); // a kernel, libc6
    assert_eq!(data["affects_runtimes"], serde_json::json!(["python"]));
    // python3.11 changes: pipx and the like should wait (dynamic mutexes).
    let out = ok(
        "apt update-mutexes (recorded)",
        plugin_tests::run("apt", &["update-mutexes"], &env),
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "pkgmgr:dpkg\npkgmgr:apt\nruntime:python\n"
    );
}

fn host_dpkg_status() -> Vec<u8> {
    std::fs::read("/var/lib/dpkg/status").unwrap_or_default()
}

#[test]
fn private_root_estimate_download_update_by_hand() {
    if !is_root("apt in a private root")
        || !have_tools(
            "apt in a private root",
            &["apt-get", "dpkg", "dpkg-deb", "dpkg-scanpackages"],
        )
    {
        return;
    }
    let host_before = host_dpkg_status();
    let pr = PrivateRoot::new(scratch("apt"));
    let started = Instant::now();
    pr.publish("2.0");

    let doc = plugin_tests::json(&pr.run("estimate-update"));
    let estimate_time = started.elapsed();
    let p = only_package(&doc);
    assert_eq!(p["name"], "ua-fixture");
    assert_eq!(p["current_version"], "1.0");
    assert_eq!(p["new_version"], "2.0");
    let deb_size = std::fs::metadata(pr.debs.join("ua-fixture_2.0_all.deb"))
        .unwrap()
        .len();
    assert_eq!(p["download_size_bytes"].as_u64(), Some(deb_size));
    assert_eq!(p["installed_size_bytes"].as_u64(), Some(1024)); // Installed-Size: 1 (KiB)
    assert_eq!(doc["data"]["requires_reboot"], false);

    let out = pr.run("download");
    assert!(pr.cached(), "download left no package in the private cache");
    assert_eq!(pr.installed(), "1.0", "download must not install");
    let progress = progress_lines(&out);
    assert!(
        progress.iter().any(|l| l["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Retrieving file"))),
        "no progress from apt's status lines: {progress:?}"
    );
    assert_eq!(progress.last().unwrap()["percent"], 100);

    let out = pr.run("update");
    assert_eq!(pr.installed(), "2.0");
    assert_eq!(read(pr.root.join("usr/share/ua-fixture/version")), "2.0\n");
    assert!(
        progress_lines(&out).iter().any(|l| l["message"]
            .as_str()
            .is_some_and(|m| m.contains("ua-fixture"))),
        "no per-package progress from dpkg"
    );

    assert!(packages(&plugin_tests::json(&pr.run("estimate-update"))).is_empty());
    assert!(
        host_dpkg_status() == host_before,
        "the host's dpkg status changed"
    );
    eprintln!(
        "apt private root: estimate {:.2}s, estimate+download+update+estimate {:.2}s",
        estimate_time.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}

/// An interrupted dpkg run in the private root, as a power cut leaves it:
/// ua-fixture 2.0 unpacked over 1.0 but never configured, and that change
/// still in dpkg's journal (`updates/`), not yet in the status file. apt
/// refuses to work on it ("dpkg was interrupted"). The plugin's estimate
/// still reads, its download leaves it alone, and its update first
/// finishes it with `dpkg --configure -a` in the private root, says so on
/// stderr and in its document (`data.repaired`), then upgrades to 3.0.
#[test]
fn an_interrupted_dpkg_run_is_repaired_before_the_upgrade() {
    if !is_root("apt repairs an interrupted dpkg")
        || !have_tools(
            "apt repairs an interrupted dpkg",
            &["apt-get", "dpkg", "dpkg-deb", "dpkg-scanpackages"],
        )
    {
        return;
    }
    let host_before = host_dpkg_status();
    let pr = PrivateRoot::interrupted(scratch("apt"));
    let admin = pr.root.join("var/lib/dpkg");

    // The estimate reads; the download changes nothing and leaves the
    // repair to the update, which downloads what is missing then.
    let estimate = plugin_tests::json(&pr.run("estimate-update"));
    assert_eq!(only_package(&estimate)["new_version"], "3.0", "{estimate}");
    let out = pr.run("download");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("not downloading: the update repairs it first"),
        "{stderr}"
    );
    assert_eq!(pr.abbrev(), "iU", "the download left dpkg as it was");

    let out = pr.run("update");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "apt: an interrupted dpkg run (1 entry in dpkg's journal), left unconfigured: \
             ua-fixture; running dpkg --configure -a before the upgrade"
        ),
        "{stderr}"
    );
    let doc = plugin_tests::json(&out);
    let applied = update_all_protocol::Applied::from_data(&doc["data"]).unwrap();
    assert_eq!(
        applied.repaired,
        ["dpkg --configure -a finished an interrupted dpkg run \
          (1 entry in dpkg's journal), left unconfigured: ua-fixture"],
        "{doc}"
    );
    assert_eq!(pr.installed(), "3.0");
    assert_eq!(read(pr.root.join("usr/share/ua-fixture/version")), "3.0\n");
    assert!(
        std::fs::read_dir(admin.join("updates")).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(|c: char| c.is_ascii_digit())),
        "dpkg's journal is still dirty"
    );
    // dpkg's log: 2.0 configured, then upgraded to 3.0.
    let log = read(pr.root.join("var/log/dpkg.log"));
    let configured = log.find(" configure ua-fixture:all 2.0 ");
    let upgraded = log.find(" upgrade ua-fixture:all 2.0 3.0");
    assert!(
        configured.is_some() && upgraded.is_some() && configured < upgraded,
        "{log}"
    );
    // Nothing to repair the next time: no note, no document data.
    let out = pr.run("update");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("dpkg --configure -a"));
    assert_eq!(plugin_tests::json(&out)["data"], serde_json::Value::Null);
    assert!(
        host_dpkg_status() == host_before,
        "the host's dpkg status changed"
    );
}

/// Polls the unit's journal until it contains `needle` (output arrives a
/// moment after the unit exits).
fn journal_has(tb: &testbed::Testbed, unit: &str, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let journal = tb.journal(unit);
        if journal.contains(needle) || Instant::now() > deadline {
            return journal;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn private_root_through_update_all_units() {
    if !have_tools(
        "apt through update-all",
        &["apt-get", "dpkg", "dpkg-deb", "dpkg-scanpackages"],
    ) {
        return;
    }
    let Some(tb) = testbed::Testbed::require() else {
        return;
    };
    let pr = PrivateRoot::new(scratch("apt"));
    pr.publish("2.0");
    let host_before = host_dpkg_status();
    // This test is about the plugin's units; the recorder has its own.
    tb.sh("ln -sf /dev/null /run/systemd/system/update-all-recorder.service");
    tb.install_update_all(
        &testbed::target_binary("update-all-generator"),
        Some(&testbed::target_binary("update-all")),
    );
    pkgmgr::install_with_settings(&tb, "apt", &[("config", &pr.conf.display().to_string())]);

    let started = Instant::now();
    tb.check(&["systemctl", "start", "update-all-apt.service"]);
    let took = started.elapsed();

    let download = "update-all-apt-download.service";
    let update = "update-all-apt.service";
    // The units are unloaded once done, so the order comes from the
    // journal: every line the plugin logged in the download phase
    // (UPDATE_ALL_PHASE, from the unit's LogExtraFields) precedes every
    // line of the update phase, and systemd finished the one before it
    // started the other.
    let entries = tb.check(&[
        "journalctl",
        "-b",
        "UPDATE_ALL_PLUGIN=apt",
        "-o",
        "json",
        "--output-fields=UPDATE_ALL_PHASE,__MONOTONIC_TIMESTAMP",
    ]);
    let (mut last_download, mut first_update, mut lines) = (0u64, u64::MAX, [0, 0]);
    for entry in entries.lines() {
        let e: serde_json::Value = serde_json::from_str(entry).expect("journal JSON");
        let t: u64 = e["__MONOTONIC_TIMESTAMP"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        match e["UPDATE_ALL_PHASE"].as_str() {
            Some("download") => (last_download, lines[0]) = (last_download.max(t), lines[0] + 1),
            Some("update") => (first_update, lines[1]) = (first_update.min(t), lines[1] + 1),
            other => panic!("unexpected phase {other:?}: {e}"),
        }
    }
    assert!(
        lines[0] > 0 && lines[1] > 0 && last_download < first_update,
        "download lines {} (last at {last_download}), update lines {} (first at {first_update})",
        lines[0],
        lines[1]
    );
    let systemd = tb.check(&["journalctl", "-b", "_PID=1", "-o", "cat", "--no-pager"]);
    let finished = systemd.find(&format!("Finished {download}"));
    let starting = systemd.find(&format!("Starting {update}"));
    assert!(
        finished.is_some()
            && finished < starting
            && systemd.contains(&format!("Finished {update}")),
        "systemd's journal:\n{systemd}"
    );
    let journal = journal_has(&tb, download, "ua-fixture 2.0");
    assert!(
        journal.contains("Get:1 copy:") && journal.contains("ua-fixture 2.0"),
        "download journal:\n{journal}"
    );
    let journal = journal_has(&tb, update, "Unpacking ua-fixture (2.0) over (1.0)");
    assert!(
        journal.contains("Unpacking ua-fixture (2.0) over (1.0)"),
        "update journal:\n{journal}\ninstalled: {}\n{}\n{}",
        pr.installed(),
        std::fs::read_to_string(pr.root.join("var/log/dpkg.log")).unwrap_or_default(),
        std::fs::read_to_string(pr.root.join("var/log/apt/term.log")).unwrap_or_default()
    );
    assert_eq!(pr.installed(), "2.0");
    assert!(
        host_dpkg_status() == host_before,
        "the host's dpkg status changed"
    );
    eprintln!(
        "apt through update-all: download + update units in {:.2}s",
        took.as_secs_f64()
    );
}

/// An interrupted dpkg run through update-all's units: the download unit
/// succeeds without touching it, the update unit repairs it, says so in
/// its journal, and upgrades.
#[test]
fn an_interrupted_dpkg_run_is_repaired_through_update_all_units() {
    if !have_tools(
        "apt repair through update-all",
        &["apt-get", "dpkg", "dpkg-deb", "dpkg-scanpackages"],
    ) {
        return;
    }
    let Some(tb) = testbed::Testbed::require() else {
        return;
    };
    let pr = PrivateRoot::interrupted(scratch("apt"));
    let host_before = host_dpkg_status();
    tb.sh("ln -sf /dev/null /run/systemd/system/update-all-recorder.service");
    tb.install_update_all(
        &testbed::target_binary("update-all-generator"),
        Some(&testbed::target_binary("update-all")),
    );
    pkgmgr::install_with_settings(&tb, "apt", &[("config", &pr.conf.display().to_string())]);
    let out = tb.systemctl(&["start", "update-all-apt.service"]);
    let update = "update-all-apt.service";
    assert!(
        out.status.success(),
        "{}\n{}",
        tb.journal("update-all-apt-download.service"),
        tb.journal(update)
    );
    let journal = journal_has(&tb, update, "Unpacking ua-fixture (3.0) over (2.0)");
    let said = "apt: an interrupted dpkg run (1 entry in dpkg's journal), left unconfigured: \
                ua-fixture; running dpkg --configure -a before the upgrade";
    let (repair, upgrade) = (
        journal.find(said),
        journal.find("Unpacking ua-fixture (3.0) over (2.0)"),
    );
    assert!(
        repair.is_some() && upgrade.is_some() && repair < upgrade,
        "update journal:\n{journal}"
    );
    assert!(
        journal_has(&tb, "update-all-apt-download.service", "not downloading")
            .contains("not downloading: the update repairs it first"),
    );
    assert_eq!(pr.installed(), "3.0");
    assert!(
        host_dpkg_status() == host_before,
        "the host's dpkg status changed"
    );
}

/// The cause of issue 8: a package whose postinst re-executes systemd (as
/// Debian's systemd package does), upgraded by the apt plugin through
/// `update-all run` with the recorder on. The run returns by itself, and
/// both apt units are in the history, once.
#[test]
fn postinst_reexec_through_update_all_run() {
    if !have_tools(
        "apt re-exec through update-all run",
        &["apt-get", "dpkg", "dpkg-deb", "dpkg-scanpackages"],
    ) {
        return;
    }
    let Some(tb) = testbed::Testbed::require() else {
        return;
    };
    let pr = PrivateRoot::with_postinst(
        scratch("apt"),
        Some(
            "#!/bin/sh\nset -e\n[ \"$1\" = configure ] || exit 0\n\
         systemctl daemon-reexec\ndate +%s.%N > /run/ua-fixture-reexeced\n",
        ),
    );
    pr.publish("2.0");
    let host_before = host_dpkg_status();
    tb.install_update_all(
        &testbed::target_binary("update-all-generator"),
        Some(&testbed::target_binary("update-all")),
    );
    pkgmgr::install_with_settings(&tb, "apt", &[("config", &pr.conf.display().to_string())]);

    // A run that never returns is cut at 180 s (exit 124).
    let out = tb.sh(&format!(
        "timeout 180 {} run --only apt; echo \"rc=$?\"; date +%s.%N",
        testbed::RUNNER
    ));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("\nrc=0\n"),
        "update-all run did not succeed by itself:\n{stdout}\n{stderr}\n{}",
        tb.journal("update-all-apt.service")
    );
    assert!(
        tb.host_path("/run/ua-fixture-reexeced").exists(),
        "the postinst did not re-execute systemd:\n{}",
        tb.journal("update-all-apt.service")
    );
    let manager = tb.check(&["journalctl", "-b", "_PID=1", "-o", "cat", "--no-pager"]);
    assert!(
        manager.contains("Reexecuting"),
        "systemd did not re-execute:\n{manager}"
    );
    assert_eq!(pr.installed(), "2.0");
    let secs = |s: &str| s.trim().parse::<f64>().unwrap();
    let reexeced = std::fs::read_to_string(tb.host_path("/run/ua-fixture-reexeced")).unwrap();
    eprintln!(
        "FIGURE: update-all run returned {:.2} s after the postinst's daemon-reexec",
        secs(stdout.lines().last().unwrap()) - secs(&reexeced)
    );

    // The recorder ends its run once no plugin unit has a job left.
    let deadline = Instant::now() + Duration::from_secs(60);
    let recorder = "update-all-recorder.service";
    while tb
        .check(&["systemctl", "show", "-P", "ActiveState", recorder])
        .trim()
        != "inactive"
    {
        assert!(Instant::now() < deadline, "{}", tb.journal(recorder));
        std::thread::sleep(Duration::from_millis(100));
    }
    let history = tb.check(&[testbed::RUNNER, "history", "--json", "--last", "100"]);
    let doc: serde_json::Value = serde_json::from_str(&history).expect("history JSON");
    let records = doc["records"].as_array().expect("records");
    for unit in ["update-all-apt-download.service", "update-all-apt.service"] {
        let of: Vec<_> = records.iter().filter(|r| r["unit"] == unit).collect();
        assert_eq!(of.len(), 1, "{unit}: {history}\n{}", tb.journal(recorder));
        assert_eq!(of[0]["result"], "success", "{unit}: {history}");
    }
    assert!(
        host_dpkg_status() == host_before,
        "the host's dpkg status changed"
    );
}

/// Another apt holds dpkg's frontend lock in the private root (a record
/// lock on `lock-frontend`, as apt-get takes it): the plugin's download
/// and update answer the transient error code LOCKED with apt's own
/// words, and change nothing; once the lock is released, the update
/// upgrades.
#[test]
fn a_held_dpkg_lock_is_reported_as_locked() {
    if !is_root("apt with dpkg's lock held")
        || !have_tools(
            "apt with dpkg's lock held",
            &["apt-get", "dpkg", "dpkg-deb", "dpkg-scanpackages"],
        )
    {
        return;
    }
    let pr = PrivateRoot::new(scratch("apt"));
    pr.publish("2.0");
    sh(&format!(
        "APT_CONFIG='{}' apt-get -qq update",
        pr.conf.display()
    ));
    let lock_file = pr.root.join("var/lib/dpkg/lock-frontend");
    let lock = RecordLock::hold(&lock_file);
    let env = pr.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    for command in ["download", "update"] {
        let out = plugin_tests::run("apt", &[command], &env);
        let (code, message) = error_of(&format!("apt {command}"), &out);
        assert_eq!(code, "LOCKED", "apt {command}: {message}");
        assert!(
            message.starts_with(&format!(
                "apt's lock is held by another process: E: Could not get lock {}",
                lock_file.display()
            )),
            "apt {command}: {message}"
        );
    }
    assert!(!pr.cached() && pr.installed() == "1.0", "nothing changed");
    drop(lock);
    pr.run("update");
    assert_eq!(pr.installed(), "2.0");
}

/// Through update-all's units: dpkg's lock is held when the run starts
/// and released once the download unit's first attempt has failed with
/// LOCKED (the configured wait before the second attempt, 4 s, is the
/// margin). The download unit then succeeds at its second attempt: one
/// unit, one success, 2 attempts in `history`; the update unit needs one.
#[test]
fn a_lock_released_between_attempts_is_one_unit_with_two_attempts() {
    if !have_tools(
        "apt lock retried through update-all",
        &["apt-get", "dpkg", "dpkg-deb", "dpkg-scanpackages"],
    ) {
        return;
    }
    let Some(tb) = testbed::Testbed::require() else {
        return;
    };
    let pr = PrivateRoot::new(scratch("apt"));
    pr.publish("2.0");
    let host_before = host_dpkg_status();
    tb.install_update_all(
        &testbed::target_binary("update-all-generator"),
        Some(&testbed::target_binary("update-all")),
    );
    pkgmgr::install_with_settings(&tb, "apt", &[("config", &pr.conf.display().to_string())]);
    tb.write(
        "/run/update-all/config.d/50-retries.yaml",
        "retries:\n  attempts: 3\n  backoff: 4s\n",
        0o644,
    );
    let download = "update-all-apt-download.service";
    let lock = RecordLock::hold(&pr.root.join("var/lib/dpkg/lock-frontend"));
    let started = Instant::now();
    tb.check(&["systemctl", "start", "--no-block", "update-all.target"]);
    wait_for(
        "the download's first attempt to fail with LOCKED",
        Duration::from_secs(120),
        || {
            tb.journal(download)
                .contains("download failed with LOCKED: ")
        },
    );
    let failed_after = started.elapsed();
    drop(lock);
    wait_for("both apt units' records", Duration::from_secs(120), || {
        let history = tb.check(&[testbed::RUNNER, "history", "--json", "--plugin", "apt"]);
        let doc: serde_json::Value = serde_json::from_str(&history).expect("history JSON");
        doc["records"].as_array().is_some_and(|r| r.len() >= 2)
    });
    let history = tb.check(&[testbed::RUNNER, "history", "--json", "--plugin", "apt"]);
    let doc: serde_json::Value = serde_json::from_str(&history).expect("history JSON");
    let record = |unit: &str| {
        let of: Vec<_> = doc["records"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["unit"] == unit)
            .collect();
        assert_eq!(of.len(), 1, "{unit}: {history}");
        of[0].clone()
    };
    let d = record(download);
    assert_eq!(
        d["result"],
        "success",
        "{history}\n{}",
        tb.journal(download)
    );
    assert_eq!(d["attempts"], 2, "{history}\n{}", tb.journal(download));
    let u = record("update-all-apt.service");
    assert_eq!(u["result"], "success", "{history}");
    assert_eq!(u["attempts"], 1, "{history}");
    let journal = tb.journal(download);
    assert!(
        journal.contains("attempt 2/3: download starts again"),
        "{journal}"
    );
    assert_eq!(pr.installed(), "2.0");
    assert!(
        host_dpkg_status() == host_before,
        "the host's dpkg status changed"
    );
    eprintln!(
        "apt lock retried: first attempt failed after {:.2}s, both units done after {:.2}s",
        failed_after.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}

/// The last success document that `unit` printed (its stdout is in its
/// journal), read as update-all reads an update's data.
fn last_applied(tb: &testbed::Testbed, unit: &str) -> update_all_protocol::Applied {
    let journal = tb.journal(unit);
    let doc = journal
        .lines()
        .rev()
        .find(|l| l.starts_with("{\"status\":\"success\""))
        .unwrap_or_else(|| panic!("no success document in {unit}'s journal:\n{journal}"));
    let doc: serde_json::Value = serde_json::from_str(doc).expect("document JSON");
    update_all_protocol::Applied::from_data(&doc["data"]).unwrap()
}

/// `services.restart` through update-all's units, with the real
/// needrestart in the test bed. Two services there run a copy of sleep(1)
/// from /var/lib/update-all, which is then replaced on disk, as an upgrade
/// replaces a binary: both map a deleted file. One of them has a name of
/// update-all's own (`update-all-ua-stale.service`), which is never
/// restarted. With `list` the apt update lists both and restarts none;
/// with `auto` it restarts `ua-stale.service` (a new main process, running
/// the new binary) and still lists the other.
#[test]
fn services_running_replaced_code_are_listed_or_restarted() {
    if !have_tools(
        "apt restarts services",
        &[
            "apt-get",
            "dpkg",
            "dpkg-deb",
            "dpkg-scanpackages",
            "needrestart",
        ],
    ) {
        return;
    }
    let Some(tb) = testbed::Testbed::require() else {
        return;
    };
    let pr = PrivateRoot::new(scratch("apt"));
    pr.publish("2.0");
    tb.sh("ln -sf /dev/null /run/systemd/system/update-all-recorder.service");
    tb.install_update_all(
        &testbed::target_binary("update-all-generator"),
        Some(&testbed::target_binary("update-all")),
    );
    pkgmgr::install_with_settings(&tb, "apt", &[("config", &pr.conf.display().to_string())]);
    let (stale, own) = ("ua-stale.service", "update-all-ua-stale.service");
    let dir = "/var/lib/update-all/ua-stale";
    tb.check(&[
        "sh",
        "-c",
        &format!("mkdir -p {dir} && cp /bin/sleep {dir}/sleep"),
    ]);
    for unit in [stale, own] {
        tb.write(
            format!("/run/systemd/system/{unit}"),
            // Type=exec: started means the old binary runs (with simple,
            // systemctl returns before the exec, which on a busy machine
            // can come after the binary below was replaced).
            format!("[Service]\nType=exec\nExecStart={dir}/sleep infinity\n"),
            0o644,
        );
    }
    tb.daemon_reload();
    tb.check(&["systemctl", "start", stale, own]);
    let main_pid = |unit: &str| {
        tb.check(&["systemctl", "show", "-P", "MainPID", unit])
            .trim()
            .to_owned()
    };
    let before = main_pid(stale);
    // A new binary in its place: the running ones map a deleted file.
    tb.check(&[
        "sh",
        "-c",
        &format!("cp /bin/sleep {dir}/sleep.new && mv -f {dir}/sleep.new {dir}/sleep"),
    ]);
    for pid in [before.clone(), main_pid(own)] {
        let exe = tb.check(&["readlink", &format!("/proc/{pid}/exe")]);
        assert!(exe.trim().ends_with("(deleted)"), "{exe}");
    }

    let update = "update-all-apt.service";
    let configure = |mode: &str| {
        tb.write(
            "/run/update-all/config.d/50-services.yaml",
            format!("services:\n  restart: {mode}\n"),
            0o644,
        );
    };
    configure("list");
    tb.check(&["systemctl", "start", update]);
    assert_eq!(pr.installed(), "2.0");
    let listed = last_applied(&tb, update);
    for unit in [stale, own] {
        assert!(
            listed.services_to_restart.iter().any(|u| u == unit),
            "{unit} not listed: {listed:?}\n{}",
            tb.journal(update)
        );
    }
    assert!(listed.services_restarted.is_empty(), "{listed:?}");
    assert_eq!(main_pid(stale), before, "list restarted {stale}");
    let journal = tb.journal(update);
    assert!(
        journal.contains("apt: ua-stale.service needs a restart"),
        "{journal}"
    );

    // Nothing left to upgrade: the update still looks for services.
    configure("auto");
    tb.check(&["systemctl", "start", update]);
    let done = last_applied(&tb, update);
    assert!(
        done.services_restarted.iter().any(|u| u == stale),
        "{stale} not restarted: {done:?}\n{}",
        tb.journal(update)
    );
    assert!(
        done.services_to_restart.iter().any(|u| u == own)
            && !done.services_restarted.iter().any(|u| u == own),
        "{own} must be left: {done:?}"
    );
    let after = main_pid(stale);
    assert_ne!(after, before, "{stale} has the same main process");
    let exe = tb.check(&["readlink", &format!("/proc/{after}/exe")]);
    assert_eq!(exe.trim(), format!("{dir}/sleep"), "the new binary runs");
    let journal = tb.journal(update);
    assert!(
        journal.contains("apt: restarted ua-stale.service")
            && journal.contains(
                "apt: update-all-ua-stale.service needs a restart, which update-all never does"
            ),
        "{journal}"
    );
}
