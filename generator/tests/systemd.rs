//! The generator on a real systemd 252 (the namespace test bed): units are
//! loaded by `daemon-reload`, `update-all.target` runs them, and systemd
//! enforces ordering, mutexes, timeouts and memory limits.

use testbed::{Testbed, MANIFESTS};

/// A plugin script that logs `start NAME PHASE T` and `end NAME PHASE T`
/// around a pause, and is applicable unless told otherwise.
fn script(body: &str) -> String {
    format!(
        "#!/bin/sh\n\
         log() {{ echo \"$1 $UPDATE_ALL_PLUGIN $UPDATE_ALL_PHASE $(date +%s.%N)\" >> /run/ua.log; }}\n\
         case \"$1\" in\n\
           is-applicable) exit 0 ;;\n\
         esac\n\
         log start\n{body}\nlog end\n"
    )
}

/// (plugin, phase, start, end) per logged run.
fn runs(tb: &Testbed) -> Vec<(String, String, f64, f64)> {
    let log = tb.check(&["cat", "/run/ua.log"]);
    let mut open = std::collections::HashMap::new();
    let mut runs = Vec::new();
    for line in log.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let key = (f[1].to_owned(), f[2].to_owned());
        let t: f64 = f[3].parse().unwrap();
        if f[0] == "start" {
            open.insert(key, t);
        } else {
            let start = open.remove(&key).expect("end after start");
            runs.push((key.0, key.1, start, t));
        }
    }
    runs
}

fn find<'a>(
    runs: &'a [(String, String, f64, f64)],
    plugin: &str,
    phase: &str,
) -> &'a (String, String, f64, f64) {
    runs.iter()
        .find(|r| r.0 == plugin && r.1 == phase)
        .unwrap_or_else(|| panic!("{plugin} {phase} did not run: {runs:?}"))
}

fn show(tb: &Testbed, unit: &str, prop: &str) -> String {
    tb.check(&["systemctl", "show", "-P", prop, unit])
        .trim()
        .to_owned()
}

fn boot_with_update_all() -> Option<Testbed> {
    let tb = Testbed::require()?;
    // This test is about the generator alone; the recorder has its own.
    tb.sh("ln -sf /dev/null /run/systemd/system/update-all-recorder.service");
    let generator = env!("CARGO_BIN_EXE_update-all-generator");
    tb.install_update_all(
        std::path::Path::new(generator),
        Some(&testbed::target_binary("update-all")),
    );
    Some(tb)
}

#[test]
fn target_runs_plugins_in_plan_order_with_mutexes_and_limits() {
    let Some(tb) = boot_with_update_all() else {
        return;
    };
    let pause = "sleep 0.6";
    tb.add_plugin(
        "apt",
        "requires_sudo: true\ncan_separate_download: true\nstatic_mutexes:\n  download: [system:network]\n  update: [pkgmgr:dpkg]",
        &script(pause),
    );
    tb.add_plugin(
        "flatpak",
        "requires_sudo: true\ncan_separate_download: true\nstatic_mutexes:\n  download: [system:network]",
        &script(pause),
    );
    tb.add_plugin("pipx", "scope: system\nruns_after: [apt]", &script(pause));
    tb.add_plugin(
        "dpkgish",
        "scope: system\nstatic_mutexes:\n  update: [PKGMGR:DPKG]",
        &script(pause),
    );
    tb.add_plugin("free", "scope: system", &script(pause));
    tb.add_plugin(
        "settings",
        "scope: system\nsettings:\n  tricky: 'a \"b\" $HOME 100% \\\\'\n  flag: true",
        &script("env | grep '^UPDATE_ALL_SETTINGS_' | sort > /run/settings.env; echo hello from settings"),
    );
    tb.add_plugin(
        "slow",
        "scope: system\ntimeouts:\n  is_applicable: 1\n  update: 1",
        &script("sleep 30"),
    );
    tb.add_plugin(
        "hog",
        "scope: system\nresources:\n  memory_max: 32M\n  nice: 5",
        &script("exec python3 -c 'x = b\"a\" * (300 << 20); import time; time.sleep(2)'"),
    );
    tb.add_plugin(
        "skipped",
        "scope: system",
        "#!/bin/sh\n[ \"$1\" = is-applicable ] && exit 1\necho ran >> /run/skipped.log\n",
    );
    // Refused ones cost only themselves.
    tb.write(
        format!("{MANIFESTS}/broken.yaml"),
        "plugin:\n  name: broken\n  bogus: 1\n",
        0o644,
    );
    tb.add_plugin("untrusted", "scope: system", &script(""));
    tb.sh(&format!("chown 1000 {MANIFESTS}/untrusted.yaml"));
    tb.daemon_reload();

    let wants = tb.check(&[
        "systemctl",
        "list-dependencies",
        "--plain",
        "update-all.target",
    ]);
    for unit in [
        "update-all-apt-download.service",
        "update-all-apt.service",
        "update-all-hog.service",
    ] {
        assert!(wants.contains(unit), "{unit} not wanted:\n{wants}");
    }
    assert!(
        !wants.contains("untrusted") && !wants.contains("broken"),
        "{wants}"
    );
    assert_eq!(
        show(&tb, "update-all-apt.service", "Slice"),
        "update-all.slice"
    );
    assert_eq!(
        show(&tb, "update-all-hog.service", "MemoryMax"),
        (32u64 << 20).to_string()
    );
    assert_eq!(show(&tb, "update-all-hog.service", "Nice"), "5");

    // A container has no /dev/kmsg, so the messages go to the journal.
    let said = tb.check(&[
        "journalctl",
        "--no-pager",
        "-o",
        "cat",
        "-t",
        "update-all-generator",
    ]);
    assert!(
        said.contains(
            "/run/update-all/plugins.d/broken.yaml:3:3: error: plugin: unknown field `bogus`"
        ),
        "{said}"
    );
    assert!(
        said.contains("untrusted.yaml is owned by uid 1000, not root"),
        "{said}"
    );

    tb.check(&["systemctl", "start", "update-all.target"]);
    let r = runs(&tb);
    let (apt_dl, apt) = (find(&r, "apt", "download"), find(&r, "apt", "update"));
    let (fp_dl, pipx) = (find(&r, "flatpak", "download"), find(&r, "pipx", "update"));
    let (dpkgish, free) = (find(&r, "dpkgish", "update"), find(&r, "free", "update"));
    // Download before update; runs_after; serialised mutex holders.
    assert!(apt_dl.3 <= apt.2, "apt downloaded after updating: {r:?}");
    assert!(apt.3 <= pipx.2, "pipx ran before apt finished: {r:?}");
    let apart =
        |a: &(String, String, f64, f64), b: &(String, String, f64, f64)| a.3 <= b.2 || b.3 <= a.2;
    assert!(
        apart(apt_dl, fp_dl),
        "downloads overlapped on system:network: {r:?}"
    );
    assert!(apart(apt, dpkgish), "pkgmgr:dpkg holders overlapped: {r:?}");
    // Unrelated units do run together.
    assert!(
        !apart(free, apt_dl),
        "independent units did not run in parallel: {r:?}"
    );

    assert_eq!(show(&tb, "update-all-slow.service", "Result"), "timeout");
    let hog = show(&tb, "update-all-hog.service", "Result");
    assert!(
        hog == "oom-kill" || hog == "signal",
        "memory limit not enforced: {hog}\n{}",
        tb.journal("update-all-hog.service"),
    );
    assert_eq!(
        show(&tb, "update-all-skipped.service", "ConditionResult"),
        "no"
    );
    assert_eq!(
        show(&tb, "update-all-skipped.service", "ActiveState"),
        "inactive"
    );
    assert!(
        !tb.host_path("/run/skipped.log").exists(),
        "skipped plugin ran"
    );
    assert_eq!(
        tb.check(&["cat", "/run/settings.env"]),
        "UPDATE_ALL_SETTINGS_FLAG=true\nUPDATE_ALL_SETTINGS_TRICKY=a \"b\" $HOME 100% \\\\\n"
    );
    assert!(tb
        .journal("update-all-settings.service")
        .contains("hello from settings"));
    let by_field = tb.check(&[
        "journalctl",
        "--no-pager",
        "-o",
        "cat",
        "UPDATE_ALL_PLUGIN=settings",
    ]);
    assert!(by_field.contains("hello from settings"), "{by_field}");

    // No start limit: a unit started again and again keeps running.
    for _ in 0..7 {
        tb.check(&["systemctl", "start", "update-all-settings.service"]);
    }

    // The target can be started again, and runs everything again.
    tb.check(&["systemctl", "start", "update-all.target"]);
    let again = runs(&tb);
    let count = again.iter().filter(|r| r.0 == "free").count();
    assert_eq!(count, 2, "second start did not rerun: {again:?}");
}
