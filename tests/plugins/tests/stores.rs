//! The app-store plugins. Flatpak runs for real: a local repository built
//! with `flatpak build-export` (tests/fixtures/flatpak/make-repo.sh) holds
//! org.test.Hello 1.0 and then 2.0, installed into throw-away system and
//! user installations (FLATPAK_SYSTEM_DIR, FLATPAK_USER_DIR), and updated
//! through the plugins' download and update units in a test bed instance.
//! snap, fwupd, paru/yay and Homebrew cannot work here (no store, LVFS,
//! AUR or Homebrew), so they run against stand-ins that print what the
//! real tools print (tests/fixtures/<tool>/, with their sources cited).

mod pkgmgr;
mod userscope;

use pkgmgr::{have_tools, is_root, ok, only_package, packages, progress_lines, scratch};
use plugin_tests::flatpak::FlatpakFixture;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Instant;
use userscope::ByHand;

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn set(rows: &[(&str, &str, &str)]) -> BTreeSet<(String, String, String)> {
    rows.iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect()
}

#[test]
fn flatpak_system_downloads_then_deploys_through_its_units() {
    let test = "flatpak through update-all";
    if !is_root(test) || !have_tools(test, &["flatpak", "gzip"]) {
        return;
    }
    let started = Instant::now();
    let f = FlatpakFixture::new(scratch("flatpak"), "--system");
    let setup_time = started.elapsed();
    let t = s(&f.target);
    let env = [("UPDATE_ALL_FLATPAK_SYSTEM_DIR", t.as_str())];
    assert!(plugin_tests::run("flatpak", &["is-applicable"], &env)
        .status
        .success());
    let started = Instant::now();
    let doc = plugin_tests::json(&ok(
        "flatpak estimate",
        plugin_tests::run("flatpak", &["estimate-update"], &env),
    ));
    let estimate_time = started.elapsed();
    let p = only_package(&doc);
    assert_eq!(p["name"], "org.test.Hello//stable", "{doc}");
    // Each version with its commit, for rollback (VERSION+COMMIT, build metadata).
    assert_eq!(p["current_version"], format!("1.0+{}", f.commit()), "{doc}");
    assert!(
        p["new_version"]
            .as_str()
            .is_some_and(|v| v.starts_with("2.0+")),
        "{doc}"
    );
    assert!(p["download_size_bytes"].as_u64().unwrap_or(0) > 0, "{doc}");
    assert_eq!(
        doc["data"]["affects_applications"],
        serde_json::json!(["org.test.Hello"])
    );

    let Some(tb) = userscope::boot() else {
        return;
    };
    pkgmgr::install_with_settings(&tb, "flatpak", &[("system_dir", &t)]);
    let took = Instant::now();
    // Starting the update unit pulls in the download unit (Requires=).
    tb.check(&["systemctl", "start", "update-all-flatpak.service"]);
    let took = took.elapsed();
    assert_eq!(f.version(), "2.0\tfalse");
    // The download unit pulled (--no-deploy) before the update unit ran.
    let entries = tb.check(&[
        "journalctl",
        "-b",
        "UPDATE_ALL_PLUGIN=flatpak",
        "-o",
        "json",
        "--output-fields=UPDATE_ALL_PHASE,MESSAGE",
    ]);
    let phases: Vec<(String, String)> = entries
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|e| {
            (
                e["UPDATE_ALL_PHASE"].as_str().unwrap_or("").to_owned(),
                e["MESSAGE"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let first_update = phases.iter().position(|(p, _)| p == "update");
    let pulled = phases
        .iter()
        .position(|(p, m)| p == "download" && m.starts_with("Updating app/org.test.Hello/"));
    assert!(
        pulled.is_some() && first_update.is_some() && pulled < first_update,
        "journal: {phases:#?}"
    );
    assert!(packages(&plugin_tests::json(&plugin_tests::run(
        "flatpak",
        &["estimate-update"],
        &env
    )))
    .is_empty());
    eprintln!(
        "flatpak: repository + install {:.2}s, estimate {:.2}s, download + update units {:.2}s",
        setup_time.as_secs_f64(),
        estimate_time.as_secs_f64(),
        took.as_secs_f64()
    );
}

#[test]
fn flatpak_user_download_pulls_without_deploying_then_its_unit_deploys() {
    let test = "flatpak-user through update-all";
    if !is_root(test) || !have_tools(test, &["flatpak", "gzip"]) {
        return;
    }
    let f = FlatpakFixture::new(scratch("flatpak"), "--user");
    let t = s(&f.target);
    let env = [("UPDATE_ALL_FLATPAK_USER_DIR", t.as_str())];
    let doc = plugin_tests::json(&ok(
        "flatpak-user estimate",
        plugin_tests::run("flatpak-user", &["estimate-update"], &env),
    ));
    let p = only_package(&doc);
    assert_eq!(p["name"], "org.test.Hello//stable", "{doc}");
    assert_eq!(p["current_version"], format!("1.0+{}", f.commit()), "{doc}");
    assert!(
        p["new_version"]
            .as_str()
            .is_some_and(|v| v.starts_with("2.0+")),
        "{doc}"
    );
    let out = ok(
        "flatpak-user download",
        plugin_tests::run("flatpak-user", &["download"], &env),
    );
    assert_eq!(
        f.version(),
        "1.0\ttrue",
        "download pulls 2.0 without deploying it"
    );
    assert!(progress_lines(&out).iter().any(|p| p["percent"] == 100
        && p["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Updating app/org.test.Hello/"))));

    let Some(tb) = userscope::boot() else {
        return;
    };
    userscope::install(&tb, "flatpak-user", &[("dir", &t)]);
    let took = userscope::start(&tb, "update-all-flatpak-user.service");
    assert_eq!(f.version(), "2.0\tfalse");
    let journal = userscope::journal(
        &tb,
        "update-all-flatpak-user.service",
        "Updating app/org.test.Hello",
    );
    assert!(
        journal.contains("Updating app/org.test.Hello"),
        "journal:\n{journal}"
    );
    eprintln!(
        "flatpak-user: download + update units {:.2}s",
        took.as_secs_f64()
    );
}

/// A stand-in's state directory, seeded with `files` (name, contents).
fn state(name: &str, files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = scratch(name);
    for (file, text) in files {
        std::fs::write(dir.path().join(file), text).unwrap();
    }
    dir
}

#[test]
fn snap_lists_refreshes_with_sizes_and_refreshes_with_progress() {
    let dir = state(
        "snap",
        &[
            (
                "installed",
                "core22 20240111 1122 77000000\nfirefox 121.0 3600 260000000\nhello 2.10 42 20000\n",
            ),
            (
                "store",
                "core22 20240408 1380 77500000\nfirefox 125.0.2 4173 262000000\nhello 2.10 42 20000\n",
            ),
        ],
    );
    let snap = ByHand::stand_in("snap", &userscope::fake_bin("snap"), dir.path());
    assert!(snap.exec(&["is-applicable"]).status.success());
    let doc = plugin_tests::json(&snap.run("estimate-update"));
    assert_eq!(
        packages(&doc),
        set(&[
            ("core22", "20240111", "20240408"),
            ("firefox", "121.0", "125.0.2")
        ]),
        "{doc}"
    );
    // Sizes are snapd's rounded "77MB", "262MB".
    assert_eq!(doc["data"]["total_download_size_bytes"], 339_000_000);
    assert_eq!(
        doc["data"]["affects_applications"],
        serde_json::json!(["firefox"])
    );
    let out = snap.run("update");
    let progress = progress_lines(&out);
    assert!(
        progress
            .iter()
            .any(|p| p["percent"] == 100
                && p["message"] == "firefox 125.0.2 from Canonical** refreshed"),
        "{progress:?}"
    );
    assert!(packages(&plugin_tests::json(&snap.run("estimate-update"))).is_empty());
    assert!(userscope::calls(dir.path()).contains(&"snap refresh".to_owned()));
}

#[test]
fn fwupd_reports_reboot_and_security_and_never_asks() {
    let dir = state("fwupd", &[]);
    std::fs::copy(
        pkgmgr::fixture("fwupd", "get-updates.json"),
        dir.path().join("updates.json"),
    )
    .unwrap();
    let fwupd = ByHand::stand_in("fwupd", &userscope::fake_bin("fwupd"), dir.path());
    let doc = plugin_tests::json(&fwupd.run("estimate-update"));
    assert_eq!(
        packages(&doc),
        set(&[
            ("ColorHug2", "2.0.6", "2.0.7"),
            ("System Firmware", "0.1.52", "0.1.54")
        ]),
        "{doc}"
    );
    let data = &doc["data"];
    assert_eq!(data["total_download_size_bytes"], 12_713_984 + 16_384);
    assert_eq!(data["requires_reboot"], true, "{doc}");
    assert_eq!(data["security_updates"], true, "{doc}");
    assert_eq!(
        data["estimated_time_seconds"],
        120 + 30 + 8 + 30,
        "InstallDuration + 30 s each"
    );

    let out = fwupd.run("update");
    assert!(progress_lines(&out).iter().any(|p| p["percent"] == 45));
    assert!(packages(&plugin_tests::json(&fwupd.run("estimate-update"))).is_empty());
    // Nothing left: fwupdmgr's "nothing to do" (status 2) is a success.
    fwupd.run("update");
    let calls = userscope::calls(dir.path());
    let updates: Vec<&String> = calls
        .iter()
        .filter(|c| c.starts_with("fwupdmgr update"))
        .collect();
    assert_eq!(updates.len(), 2, "{calls:?}");
    for c in calls
        .iter()
        .filter(|c| c.starts_with("fwupdmgr update") || c.contains("get-updates"))
    {
        assert!(
            c.contains("--no-unreported-check") && c.contains("--no-metadata-check"),
            "a question could wait for an answer: {c}"
        );
    }
    assert!(updates.iter().all(|c| c.contains("--no-reboot-check")));
}

#[test]
fn aur_uses_paru_or_else_yay_skipping_ignored_packages() {
    let seed = [
        (
            "installed",
            "google-chrome 124.0.6367.118-1\nvisual-studio-code-bin 1.88.1-1\nspotify 1:1.2.31.1205-1\n",
        ),
        (
            "aur",
            "google-chrome 124.0.6367.155-1\nvisual-studio-code-bin 1.89.0-1\nspotify 1:1.2.31.1205-1\n",
        ),
        ("ignored", "visual-studio-code-bin\n"),
    ];
    for (helper, bin) in [
        ("paru", userscope::fake_bin("aur")),
        ("yay", plugin_tests::fixtures_dir().join("aur/yay-only")),
    ] {
        let dir = state("aur", &seed);
        let aur = ByHand::stand_in("aur", &bin, dir.path());
        let run = |cmd: &str| ok(&format!("aur {cmd} with {helper}"), aur.exec(&[cmd]));
        let doc = plugin_tests::json(&run("estimate-update"));
        assert_eq!(
            packages(&doc),
            set(&[("google-chrome", "124.0.6367.118-1", "124.0.6367.155-1")]),
            "{helper}: {doc}"
        );
        let out = run("update");
        assert!(
            progress_lines(&out).iter().any(|p| p["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("==> Making package: google-chrome"))),
            "{helper}"
        );
        assert!(packages(&plugin_tests::json(&run("estimate-update"))).is_empty());
        let calls = userscope::calls(dir.path());
        assert!(
            calls.iter().all(|c| c.starts_with(&format!("{helper} "))),
            "{calls:?}"
        );
        assert!(
            calls.iter().any(|c| c.contains("-Sua --noconfirm")),
            "{calls:?}"
        );
    }
    // Neither helper: not applicable.
    let out = plugin_tests::run("aur", &["is-applicable"], &[("PATH", "/usr/bin:/bin")]);
    assert!(!out.status.success());
}

#[test]
fn brew_fetches_then_upgrades_and_names_the_runtimes_it_changes() {
    let dir = state("brew", &[]);
    std::fs::copy(
        pkgmgr::fixture("brew", "outdated.json"),
        dir.path().join("outdated.json"),
    )
    .unwrap();
    let brew = ByHand::stand_in("brew", &userscope::fake_bin("brew"), dir.path());
    assert!(brew.exec(&["is-applicable"]).status.success());
    let doc = plugin_tests::json(&brew.run("estimate-update"));
    assert_eq!(
        packages(&doc),
        set(&[
            ("font-fira-code", "6.2", "6.2.1"),
            ("node", "21.7.1", "22.1.0"),
            ("python@3.12", "3.12.2_1, 3.12.1", "3.12.3"),
        ]),
        "the pinned postgresql@14 is left out: {doc}"
    );
    assert_eq!(
        doc["data"]["affects_runtimes"],
        serde_json::json!(["node", "python"])
    );
    assert_eq!(
        String::from_utf8_lossy(&brew.run("update-mutexes").stdout),
        "runtime:node\nruntime:python\n"
    );
    assert_eq!(brew.exec(&["can-separate-download"]).status.code(), Some(0));

    brew.run("download");
    for name in ["node", "python@3.12", "font-fira-code"] {
        assert!(
            dir.path().join("cache").join(name).exists(),
            "{name} not fetched"
        );
    }
    let out = brew.run("update");
    let upgraded: Vec<String> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.ends_with("(not fetched before)"))
        .map(str::to_owned)
        .collect();
    assert!(
        upgraded.is_empty(),
        "the update downloaded again: {upgraded:?}"
    );
    assert!(packages(&plugin_tests::json(&brew.run("estimate-update"))).is_empty());
    let calls = userscope::calls(dir.path());
    assert!(calls.contains(&"brew fetch --cask font-fira-code".to_owned()));
    assert!(calls.contains(&"brew upgrade".to_owned()), "{calls:?}");
}
