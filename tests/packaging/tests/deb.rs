//! The Debian package: built by packaging/deb/build.sh from the
//! workspace's binaries, checked by lintian, and installed with dpkg into a
//! fresh Debian root booted in the test bed, where its maintainer scripts,
//! units, generator and apt plugin run for real.

use packaging_tests::{built_deb, fixture_deb, fresh_root, have_tools, sh};
use std::path::Path;
use std::time::{Duration, Instant};
use testbed::Testbed;

/// lintian, pedantic and informational tags included, says nothing: every
/// tag is fixed or overridden with its reason
/// (packaging/deb/lintian-overrides).
#[test]
fn lintian_is_clean() {
    if !have_tools(&["lintian", "dpkg-deb", "dpkg-shlibdeps", "strip"]) {
        return;
    }
    let deb = built_deb();
    let out = sh(&format!(
        "lintian --pedantic --info --fail-on error,warning,info,pedantic '{}' 2>&1 | grep -v 'running with root privileges' || true",
        deb.display()
    ));
    assert_eq!(out.trim(), "", "lintian:\n{out}");
}

/// What the package holds: the paths the issue lists, the manifests'
/// executables among its files, and the configuration as a conffile.
#[test]
fn deb_contents() {
    if !have_tools(&["dpkg-deb", "dpkg-shlibdeps", "strip"]) {
        return;
    }
    let deb = built_deb().display().to_string();
    let files = sh(&format!("dpkg-deb --fsys-tarfile '{deb}' | tar -t"));
    let files: Vec<&str> = files.lines().map(|l| l.trim_start_matches('.')).collect();
    for expected in [
        "/usr/bin/update-all",
        "/usr/lib/systemd/system-generators/update-all-generator",
        "/usr/lib/systemd/user-generators/update-all-generator",
        "/usr/lib/systemd/system/update-all.target",
        "/usr/lib/systemd/system/update-all.slice",
        "/usr/lib/systemd/system/update-all-recorder.service",
        "/usr/lib/systemd/user/update-all.target",
        "/usr/lib/systemd/system-preset/80-update-all.preset",
        "/usr/lib/update-all/plugins.d/apt.yaml",
        "/usr/lib/update-all/lib/plugin.sh",
        "/etc/update-all/config.yaml",
        // Empty, for the administrator's manifests.
        "/etc/update-all/plugins.d/",
        "/usr/share/man/man8/update-all.8.gz",
        "/usr/share/man/man8/update-all-run.8.gz",
        "/usr/share/man/man8/update-all-generator.8.gz",
        "/usr/share/man/man5/update-all.conf.5.gz",
        "/usr/share/man/man5/update-all.plugin.5.gz",
        "/usr/share/bash-completion/completions/update-all",
        "/usr/share/zsh/vendor-completions/_update-all",
        "/usr/share/fish/vendor_completions.d/update-all.fish",
        "/usr/share/doc/update-all/copyright",
        "/usr/share/doc/update-all/changelog.gz",
    ] {
        assert!(
            files.contains(&expected),
            "{expected} not in the package:\n{files:#?}"
        );
    }
    // Every unit in units/ is shipped.
    for unit in std::fs::read_dir(packaging_tests::repo().join("units")).unwrap() {
        let unit = unit.unwrap();
        if unit.path().is_file() {
            let path = format!(
                "/usr/lib/systemd/system/{}",
                unit.file_name().to_string_lossy()
            );
            assert!(files.contains(&path.as_str()), "{path} not in the package");
        }
    }
    // Every manifest's executable is in the package.
    for manifest in files
        .iter()
        .filter(|f| f.starts_with("/usr/lib/update-all/plugins.d/"))
    {
        let text = sh(&format!(
            "dpkg-deb --fsys-tarfile '{deb}' | tar -xO '.{manifest}'"
        ));
        let exe = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("executable:"))
            .unwrap_or_else(|| panic!("{manifest} has no executable"))
            .trim();
        assert!(
            files.contains(&exe),
            "{manifest}: {exe} is not in the package"
        );
    }
    assert_eq!(
        sh(&format!(
            "dpkg-deb --ctrl-tarfile '{deb}' | tar -xO ./conffiles"
        )),
        "/etc/update-all/config.yaml\n"
    );
}

/// Installed with dpkg into a fresh Debian root booted in the test bed:
/// the postinst reloads systemd (the generator makes the plugin units) and
/// starts the timer; the shipped and generated units verify cleanly;
/// `systemctl start update-all.target` runs the packaged apt plugin, which
/// upgrades a package from a local repository and logs to its unit's
/// journal; the run is recorded; the packaged timer, made to elapse at
/// once, runs update-all.service and that run is recorded too; removal
/// takes the units away and purge leaves no file of the package behind.
#[test]
fn deb_in_a_debian_root() {
    if !Testbed::should_run()
        || !have_tools(&["mmdebstrap", "dpkg-deb", "dpkg-scanpackages", "strip"])
    {
        return;
    }
    let dir = tempfile::tempdir().expect("temporary directory");
    let root = fresh_root(dir.path());
    let deb = built_deb();
    prepare(&root, deb, dir.path());
    let tb = Testbed::boot_root(&root).unwrap_or_else(|e| panic!("{e}"));

    // A user manager that runs while the package is installed.
    let user_env = [("XDG_RUNTIME_DIR", "/run/user/0")];
    tb.user_manager(0);

    tb.check(&["dpkg", "-i", "/var/cache/ua-test/ua-fixture_1.0_all.deb"]);
    let install = tb.check(&["dpkg", "-i", "/var/cache/ua-test/update-all.deb"]);
    eprintln!("dpkg -i:\n{install}");

    // The postinst's daemon-reload ran the generator ...
    let units = tb.check(&[
        "systemctl",
        "list-unit-files",
        "--no-legend",
        "update-all-*",
    ]);
    for unit in [
        "update-all-apt.service",
        "update-all-apt-download.service",
        "update-all-dnf.service",
    ] {
        assert!(
            units.contains(unit),
            "{unit} missing after dpkg -i:\n{units}"
        );
    }
    // ... and so did the running user manager's reload.
    let user_units = tb.exec_env(
        &user_env,
        &[
            "systemctl",
            "--user",
            "list-unit-files",
            "--no-legend",
            "update-all-*",
        ],
    );
    let user_units = String::from_utf8_lossy(&user_units.stdout);
    assert!(
        user_units.contains("update-all-pipx.service"),
        "user units:\n{user_units}"
    );

    // The timer is enabled and waiting; the boot-time resume is enabled
    // (a no-op unless resume: at-boot).
    assert_eq!(
        tb.check(&["systemctl", "is-enabled", "update-all.timer"])
            .trim(),
        "enabled"
    );
    assert_eq!(
        tb.check(&["systemctl", "is-enabled", "update-all-resume.service"])
            .trim(),
        "enabled"
    );
    // So is the boot check, before boot-complete.target (a no-op unless a
    // run asked for a reboot).
    assert_eq!(
        tb.check(&["systemctl", "is-enabled", "update-all-boot-check.service"])
            .trim(),
        "enabled"
    );
    let timers = tb.check(&["systemctl", "list-timers", "--all", "update-all.timer"]);
    eprintln!("{timers}");
    let line = timers
        .lines()
        .find(|l| l.contains("update-all.timer"))
        .unwrap_or_else(|| panic!("no update-all.timer in list-timers:\n{timers}"));
    assert!(
        !line.trim_start().starts_with("n/a"),
        "no next elapse: {line}"
    );

    // Shipped and generated units verify without a word.
    let verify = tb.sh(
        "cd /usr/lib/systemd/system && systemd-analyze verify --man=no update-all*.* \
         /run/systemd/generator/update-all-*.service 2>&1",
    );
    let said = String::from_utf8_lossy(&verify.stdout);
    assert!(
        verify.status.success() && said.trim().is_empty(),
        "systemd-analyze verify (system):\n{said}"
    );
    let verify = tb.exec_env(
        &user_env,
        &[
            "sh",
            "-c",
            "cd /usr/lib/systemd/user && systemd-analyze --user verify --man=no update-all*.* 2>&1",
        ],
    );
    let said = String::from_utf8_lossy(&verify.stdout);
    assert!(
        verify.status.success() && said.trim().is_empty(),
        "systemd-analyze --user verify:\n{said}"
    );

    // The plan has every system plugin and refuses none.
    let plan = tb.check(&["update-all", "plan"]);
    assert!(
        plan.contains("apt (update)") && !plan.contains("Refused"),
        "plan:\n{plan}"
    );

    // The run: apt downloads and upgrades ua-fixture; the other plugins do
    // not apply here and are skipped.
    let run = tb.exec(&["timeout", "300", "systemctl", "start", "update-all.target"]);
    let apt_log = tb.journal("update-all-apt.service");
    assert!(
        run.status.success(),
        "systemctl start update-all.target: {}\n{}\napt:\n{apt_log}\ndownload:\n{}",
        run.status,
        String::from_utf8_lossy(&run.stderr),
        tb.journal("update-all-apt-download.service")
    );
    assert_eq!(
        tb.check(&["dpkg-query", "-W", "-f", "${Version}", "ua-fixture"]),
        "2.0",
        "apt:\n{apt_log}"
    );
    assert!(
        apt_log.contains("ua-fixture"),
        "journalctl -u update-all-apt:\n{apt_log}"
    );
    eprintln!("journalctl -u update-all-apt:\n{apt_log}");
    assert_eq!(
        tb.check(&[
            "systemctl",
            "show",
            "-P",
            "Result",
            "update-all-apt.service"
        ])
        .trim(),
        "success"
    );
    assert_eq!(
        tb.check(&[
            "systemctl",
            "show",
            "-P",
            "ConditionResult",
            "update-all-dnf.service"
        ])
        .trim(),
        "no"
    );
    // Each run of the apt unit is a row of the statistics.
    let apt_updates = || {
        tb.check(&["update-all", "history", "--plugin", "apt"])
            .lines()
            .filter(|l| l.split_whitespace().any(|w| w == "update"))
            .count()
    };
    assert_eq!(apt_updates(), 1, "{}", tb.check(&["update-all", "history"]));

    // The packaged timer fires the packaged update-all.service, whose run
    // (conditions checked, then the target) is recorded: made to elapse a
    // second after it restarts instead of next week.
    tb.write(
        "/run/systemd/system/update-all.timer.d/60-test.conf",
        "[Timer]\nOnCalendar=\nOnActiveSec=1s\nAccuracySec=1ms\nRandomizedDelaySec=0\n",
        0o644,
    );
    tb.check(&["systemctl", "daemon-reload"]);
    tb.check(&["systemctl", "restart", "update-all.timer"]);
    let show = |p: &str| tb.check(&["systemctl", "show", "-P", p, "update-all.service"]);
    let deadline = Instant::now() + Duration::from_secs(120);
    while apt_updates() < 2 || show("ActiveState").trim() != "inactive" {
        assert!(
            Instant::now() < deadline,
            "no scheduled run recorded:\n{}",
            tb.journal("update-all.service")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(show("Result").trim(), "success");
    let status = tb.check(&["update-all", "schedule", "status"]);
    assert!(status.contains("Last fired:"), "{status}");
    eprintln!("update-all schedule status:\n{status}");

    // Removal: the units go with the generator; purge leaves nothing.
    let files = tb.check(&["dpkg-query", "-L", "update-all"]);
    tb.check(&["dpkg", "--purge", "update-all"]);
    let units = tb.check(&[
        "systemctl",
        "list-units",
        "--all",
        "--plain",
        "--no-legend",
        "update-all*",
    ]);
    assert!(
        !units.contains("update-all-apt.service"),
        "units left after purge:\n{units}"
    );
    let left: Vec<&str> = files
        .lines()
        .filter(|f| f.contains("update-all") && tb.host_path(f).symlink_metadata().is_ok())
        .collect();
    assert!(left.is_empty(), "left after purge: {left:?}");
    for gone in [
        "/etc/update-all",
        "/var/lib/update-all/stats.db",
        "/etc/systemd/system/timers.target.wants/update-all.timer",
        "/etc/systemd/system/multi-user.target.wants/update-all-resume.service",
        "/etc/systemd/system/multi-user.target.wants/update-all-boot-check.service",
        "/etc/systemd/system/boot-complete.target.requires/update-all-boot-check.service",
    ] {
        assert!(
            tb.host_path(gone).symlink_metadata().is_err(),
            "{gone} left after purge"
        );
    }
}

/// Puts the packages and a local repository with ua-fixture 2.0 into the
/// root; apt reads only that repository (copy: as in the apt plugin's own
/// tests, so the download phase really downloads).
fn prepare(root: &Path, deb: &Path, scratch: &Path) {
    let cache = root.join("var/cache/ua-test");
    let repo = root.join("srv/ua-repo");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::copy(deb, cache.join("update-all.deb")).unwrap();
    std::fs::copy(
        fixture_deb(scratch, "1.0"),
        cache.join("ua-fixture_1.0_all.deb"),
    )
    .unwrap();
    std::fs::copy(
        fixture_deb(scratch, "2.0"),
        repo.join("ua-fixture_2.0_all.deb"),
    )
    .unwrap();
    sh(&format!(
        "cd '{}' && dpkg-scanpackages -m . > Packages 2>/dev/null",
        repo.display()
    ));
    std::fs::write(
        root.join("etc/apt/sources.list"),
        "deb [trusted=yes] copy:/srv/ua-repo ./\n",
    )
    .unwrap();
    let _ = std::fs::remove_dir_all(root.join("etc/apt/sources.list.d"));
    std::fs::create_dir_all(root.join("etc/apt/sources.list.d")).unwrap();
    // apt's own timers would take apt's locks at times of their choosing.
    for timer in ["apt-daily.timer", "apt-daily-upgrade.timer"] {
        let mask = root.join("etc/systemd/system").join(timer);
        let _ = std::fs::remove_file(&mask);
        std::os::unix::fs::symlink("/dev/null", mask).unwrap();
    }
}
