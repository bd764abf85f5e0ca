//! Integration tests of the testbed itself, against a real systemd 252.
//!
//! They need root; see `Testbed::require` for what happens without.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::thread;
use std::time::{Duration, Instant};

use testbed::Testbed;

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Polls `f` until it returns true or `timeout` passes.
fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Asserts that the instance with PID 1 `pid` and cgroups `cgroups` is gone.
fn assert_gone(pid: u32, cgroups: &[PathBuf]) {
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "PID 1 ({pid}) of the instance survived teardown"
    );
    assert!(!cgroups.is_empty());
    for dir in cgroups {
        assert!(!dir.exists(), "cgroup {} survived teardown", dir.display());
    }
}

#[test]
fn boots_and_answers_is_system_running() {
    let Some(tb) = Testbed::require() else { return };
    let state = stdout(&tb.systemctl(&["is-system-running"]));
    assert!(
        state == "running" || state == "degraded",
        "unexpected state {state:?}\n{}",
        tb.console(50)
    );
    // systemd is PID 1 of its own PID namespace and believes it is in a container.
    assert_eq!(tb.check(&["cat", "/proc/1/comm"]).trim(), "systemd");
    assert_eq!(
        tb.check(&["systemd-detect-virt", "--container"]).trim(),
        "container-other"
    );
    // Its cgroup tree is rooted at the instance's cgroup.
    let cgroup = tb.check(&["cat", "/proc/1/cgroup"]);
    assert!(
        cgroup.lines().any(|l| l.ends_with(":/init.scope")),
        "{cgroup}"
    );
}

#[test]
fn parallel_instances_are_isolated() {
    if !Testbed::should_run() {
        return;
    }
    // Boot both at the same time, each from its own thread.
    let (a, b) = thread::scope(|s| {
        let a = s.spawn(|| Testbed::boot().unwrap());
        let b = s.spawn(|| Testbed::boot().unwrap());
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_ne!(a.pid(), b.pid());
    assert_ne!(
        a.check(&["cat", "/etc/machine-id"]),
        b.check(&["cat", "/etc/machine-id"])
    );
    a.check(&["systemd-run", "--unit=probe-a", "sleep", "100"]);
    b.check(&["systemd-run", "--unit=probe-b", "sleep", "100"]);
    for (tb, own, other) in [(&a, "probe-a", "probe-b"), (&b, "probe-b", "probe-a")] {
        let units = tb.check(&[
            "systemctl",
            "list-units",
            "--no-legend",
            "--plain",
            "probe-*",
        ]);
        assert!(
            units.contains(own),
            "{own} missing in its instance:\n{units}"
        );
        assert!(
            !units.contains(other),
            "{other} leaked into the other instance:\n{units}"
        );
        // Processes are separate too: exactly one sleep is visible.
        let pids = tb.check(&["pgrep", "-x", "sleep"]);
        assert_eq!(pids.lines().count(), 1, "{pids}");
    }
    // Files in the private /run are separate as well.
    a.write("/run/probe", "a", 0o644);
    assert!(!b.host_path("/run/probe").exists());
    assert_eq!(a.check(&["cat", "/run/probe"]), "a");
}

#[test]
fn memory_limit_is_enforced() {
    let Some(tb) = Testbed::require() else { return };
    // The main process itself grows to ~100 MB (a shell variable).
    let hog = r#"x=$(head -c 100000000 /dev/zero | tr '\000' a); echo ${#x}"#;
    let limited = tb.exec(&[
        "systemd-run",
        "--unit=hog-limited",
        "-p",
        "MemoryMax=20M",
        "--wait",
        "sh",
        "-c",
        hog,
    ]);
    assert!(!limited.status.success(), "hog survived MemoryMax=20M");
    let show = tb.check(&[
        "systemctl",
        "show",
        "-p",
        "Result,ExecMainCode,ExecMainStatus",
        "hog-limited",
    ]);
    // cgroup v2: systemd reports the OOM kill; v1 (hybrid hosts): systemd
    // only sees the kernel's SIGKILL (CLD_KILLED = 2, signal 9).
    assert!(
        show.contains("Result=oom-kill")
            || (show.contains("Result=signal")
                && show.contains("ExecMainCode=2")
                && show.contains("ExecMainStatus=9")),
        "not OOM-killed:\n{show}"
    );
    // The same program is fine with enough memory.
    tb.check(&[
        "systemd-run",
        "--unit=hog-roomy",
        "-p",
        "MemoryMax=1G",
        "--wait",
        "sh",
        "-c",
        hog,
    ]);
}

#[test]
fn journald_collects_service_output() {
    let Some(tb) = Testbed::require() else { return };
    tb.check(&["systemd-run", "--unit=hello", "--wait", "echo", "hi"]);
    assert!(
        eventually(Duration::from_secs(10), || tb
            .journal("hello.service")
            .lines()
            .any(|l| l == "hi")),
        "journal of hello.service:\n{}",
        tb.journal("hello.service")
    );
}

#[test]
fn system_bus_works() {
    let Some(tb) = Testbed::require() else { return };
    let version = tb.check(&[
        "busctl",
        "call",
        "org.freedesktop.systemd1",
        "/org/freedesktop/systemd1",
        "org.freedesktop.DBus.Properties",
        "Get",
        "ss",
        "org.freedesktop.systemd1.Manager",
        "Version",
    ]);
    assert!(version.starts_with("v s \"252"), "{version}");
    // logind is available (socket-activated via D-Bus).
    tb.check(&["loginctl", "list-sessions"]);
}

#[test]
fn user_manager_for_root() {
    let Some(tb) = Testbed::require() else { return };
    let bus = tb.user_manager(0);
    assert_eq!(bus, PathBuf::from("/run/user/0/bus"));
    assert!(tb.host_path(&bus).exists());
    let state = tb.exec_env(
        &[("XDG_RUNTIME_DIR", "/run/user/0")],
        &["systemctl", "--user", "is-system-running", "--wait"],
    );
    let state = stdout(&state);
    assert!(
        state == "running" || state == "degraded",
        "user manager: {state:?}"
    );
}

#[test]
fn files_and_executables_from_the_host() {
    let Some(tb) = Testbed::require() else { return };
    tb.write("/run/update-all/plugins.d/x.yaml", "name: x\n", 0o600);
    assert_eq!(
        tb.check(&["stat", "-c", "%a %U", "/run/update-all/plugins.d/x.yaml"])
            .trim(),
        "600 root"
    );
    assert_eq!(
        tb.check(&["cat", "/run/update-all/plugins.d/x.yaml"]),
        "name: x\n"
    );

    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("gen");
    std::fs::write(&script, "#!/bin/sh\necho generated \"$@\"\n").unwrap();
    tb.install_executable(&script, "/run/testbed-bin/gen");
    assert_eq!(tb.check(&["/run/testbed-bin/gen", "ok"]), "generated ok\n");
    assert_eq!(
        tb.check(&["stat", "-c", "%a", "/run/testbed-bin/gen"])
            .trim(),
        "755"
    );

    // Environment passthrough and shell helper.
    let out = tb.exec_env(&[("PROBE", "42")], &["sh", "-c", "echo $PROBE"]);
    assert_eq!(stdout(&out), "42");
    assert_eq!(stdout(&tb.sh("echo $HOME; exit 3")), "/root");
    assert_eq!(tb.sh("exit 3").status.code(), Some(3));
}

#[test]
fn writing_the_hosts_own_files_is_refused() {
    let Some(tb) = Testbed::require() else { return };
    let target = "/etc/update-all-testbed-probe/config.yaml";
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        tb.write(target, "x: 1\n", 0o644);
    }))
    .expect_err("a write to the host's /etc must panic");
    let msg = err
        .downcast_ref::<String>()
        .expect("formatted panic message");
    assert!(msg.contains("the host's own file"), "{msg}");
    assert!(!std::path::Path::new(target).exists());
    assert!(!std::path::Path::new("/etc/update-all-testbed-probe").exists());
    // The private mounts stay writable, /var/lib/update-all among them.
    tb.write("/var/lib/update-all/probe", "ok", 0o644);
    assert_eq!(tb.check(&["cat", "/var/lib/update-all/probe"]), "ok");
}

#[test]
fn check_panics_with_output() {
    let Some(tb) = Testbed::require() else { return };
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        tb.check(&["sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 1"]);
    }))
    .expect_err("check must panic on failure");
    let msg = err
        .downcast_ref::<String>()
        .expect("formatted panic message");
    assert!(msg.contains("failed"), "{msg}");
    assert!(
        msg.contains("to-stdout") && msg.contains("to-stderr"),
        "{msg}"
    );
}

#[test]
fn drop_tears_everything_down() {
    let Some(tb) = Testbed::require() else { return };
    tb.check(&["systemd-run", "--unit=survivor", "sleep", "1000"]);
    let pid = tb.pid();
    let cgroups = tb.cgroup_dirs();
    assert!(cgroups.iter().all(|d| d.is_dir()));
    drop(tb);
    assert_gone(pid, &cgroups);
}

#[test]
fn panicking_test_still_tears_down() {
    if !Testbed::should_run() {
        return;
    }
    let mut seen = None;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let tb = Testbed::boot().unwrap();
        seen = Some((tb.pid(), tb.cgroup_dirs()));
        tb.check(&["systemd-run", "--unit=survivor", "sleep", "1000"]);
        panic!("test body failed");
    }));
    assert!(result.is_err());
    let (pid, cgroups) = seen.expect("the closure booted an instance");
    assert_gone(pid, &cgroups);
}

#[test]
fn explicit_shutdown_reports_success() {
    let Some(tb) = Testbed::require() else { return };
    let pid = tb.pid();
    let cgroups = tb.cgroup_dirs();
    tb.shutdown().expect("clean shutdown");
    assert_gone(pid, &cgroups);
}

/// Accounts added inside an instance stay there when the host's
/// `/etc/passwd` and `/etc/group` are replaced meanwhile (as `adduser` in a
/// package's postinst does, by rename): a bind mount over those files
/// would be detached, and the accounts would vanish mid-test (the flaky
/// "`id -u bob` failed: no such user" of the notification tests). The host
/// files are replaced by copies of themselves, so their contents never
/// change.
#[test]
fn added_users_survive_the_host_replacing_its_passwd() {
    let host_passwd = std::fs::read("/etc/passwd").unwrap();
    let Some(tb) = Testbed::require() else { return };
    tb.add_user("ua-first", 4101);
    for file in ["/etc/passwd", "/etc/group"] {
        testbed::host_sh(&format!(
            "cp -p {file} {file}.ua-testbed && mv -f {file}.ua-testbed {file}"
        ));
    }
    tb.add_user("ua-second", 4102);
    for (name, uid) in [("ua-first", "4101"), ("ua-second", "4102")] {
        assert_eq!(tb.check(&["id", "-u", name]).trim(), uid);
        assert!(tb
            .check(&["getent", "group", name])
            .starts_with(&format!("{name}:x:{uid}:")));
    }
    tb.login("ua-first", "user", "tty");
    tb.login("ua-second", "user", "wayland");
    // Nothing of them on the host.
    let host = std::process::Command::new("getent")
        .args(["passwd", "ua-first"])
        .output()
        .unwrap();
    assert!(!host.status.success(), "{}", stdout(&host));
    drop(tb);
    assert_eq!(std::fs::read("/etc/passwd").unwrap(), host_passwd);
}

/// Two boots of one kept state: the second finds the first's
/// /var/lib/update-all and the files it kept of /run (a unit there starts
/// at boot), under a boot id of its own; a crash leaves nothing behind.
#[test]
fn a_second_boot_of_a_kept_state_finds_what_the_first_left() {
    if !Testbed::should_run() {
        return;
    }
    let state = testbed::KeptState::new();
    let first = Testbed::boot_keeping(&state).expect("first boot");
    first.write("/var/lib/update-all/left", "by the first boot\n", 0o644);
    first.write(
        "/run/systemd/system/kept.service",
        "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n",
        0o644,
    );
    std::fs::create_dir(first.host_path("/run/systemd/system/basic.target.wants")).unwrap();
    std::os::unix::fs::symlink(
        "../kept.service",
        first.host_path("/run/systemd/system/basic.target.wants/kept.service"),
    )
    .unwrap();
    first.keep_for_next_boot(
        &state,
        &[
            "/run/systemd/system/kept.service",
            "/run/systemd/system/basic.target.wants",
        ],
    );
    let first_boot = first.check(&["cat", "/proc/sys/kernel/random/boot_id"]);
    let (pid, cgroups) = (first.pid(), first.cgroup_dirs());
    first.crash().expect("a clean hard stop");
    assert_gone(pid, &cgroups);

    let second = Testbed::boot_keeping(&state).expect("second boot");
    assert_eq!(
        second.check(&["cat", "/var/lib/update-all/left"]),
        "by the first boot\n"
    );
    assert_eq!(
        stdout(&second.systemctl(&["is-active", "kept.service"])),
        "active",
        "a unit kept in /run starts at boot"
    );
    let second_boot = second.check(&["cat", "/proc/sys/kernel/random/boot_id"]);
    assert_ne!(first_boot, second_boot);
    assert_eq!(second_boot.trim().len(), 36, "{second_boot}");
    let host_boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    assert_ne!(second_boot, host_boot);
    assert!(state.var_lib_update_all().join("left").is_file());
}
