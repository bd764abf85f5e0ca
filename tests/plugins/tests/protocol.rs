//! The plugin protocol (docs/plugin-protocol.md) as plugins/lib/plugin.sh
//! implements it, through the example plugin in tests/fixtures/protocol/,
//! under dash and bash; and `update-all plugin-exec`, by hand and on a real
//! systemd, where progress lines become the unit's status text.

use serde_json::Value;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use testbed::Testbed;
use update_all_protocol::{
    progress_status, Estimate, Exit, PluginRun, RollbackAnswer, RolledBack, Status,
};

/// Where a plugin on the library must run: a shell and the `awk` on PATH.
/// dash + mawk is Debian's /bin/sh and awk, bash + gawk those of Fedora and
/// Arch, busybox's sh + awk those of Alpine and small systems.
const SHELLS: [(&str, &str); 3] = [("dash", "mawk"), ("bash", "gawk"), ("busybox", "busybox")];

/// A shell and awk to run plugins with.
struct Shell {
    name: &'static str,
    /// Holds `awk`, a link to the awk of this combination; first on PATH.
    awk_dir: tempfile::TempDir,
}

impl Shell {
    fn command(&self) -> Command {
        let mut cmd = Command::new(self.name);
        if self.name == "busybox" {
            cmd.arg("sh");
        }
        let path = std::env::var("PATH").unwrap_or_default();
        cmd.env("PATH", format!("{}:{path}", self.awk_dir.path().display()));
        cmd
    }
}

impl std::fmt::Display for Shell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// Finds `program` on PATH.
fn which(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// The combinations of SHELLS that are installed (tests/plugins/
/// REQUIREMENTS.apt lists them; under CI a missing one fails).
fn shells() -> Vec<Shell> {
    let mut found = Vec::new();
    for (shell, awk) in SHELLS {
        match (which(shell), which(awk)) {
            (Some(_), Some(awk)) => {
                let awk_dir = tempfile::tempdir().unwrap();
                std::os::unix::fs::symlink(awk, awk_dir.path().join("awk")).unwrap();
                found.push(Shell {
                    name: shell,
                    awk_dir,
                });
            }
            _ => {
                testbed::skip(format!("{shell} with {awk}: not installed"));
            }
        }
    }
    found
}

/// The example plugin installed as a builtin one is, in a temporary
/// directory: `plugins/example` next to `lib/plugin.sh`.
struct Example {
    dir: tempfile::TempDir,
}

impl Example {
    fn new() -> Example {
        let dir = tempfile::tempdir().unwrap();
        for (from, to) in [
            (
                plugin_tests::fixtures_dir().join("protocol/example"),
                "plugins/example",
            ),
            (
                plugin_tests::plugins_dir().join("lib/plugin.sh"),
                "lib/plugin.sh",
            ),
        ] {
            let to = dir.path().join(to);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(&from, &to).unwrap();
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        Example { dir }
    }

    fn exe(&self) -> PathBuf {
        self.dir.path().join("plugins/example")
    }

    /// `SHELL plugins/example ARGS` with settings as UPDATE_ALL_EXAMPLE_<KEY>.
    fn command(&self, shell: &Shell, args: &[&str], settings: &[(&str, &[u8])]) -> Command {
        let mut cmd = shell.command();
        cmd.arg(self.exe()).args(args).stdin(Stdio::null());
        for (key, value) in settings {
            cmd.env(
                format!("UPDATE_ALL_EXAMPLE_{}", key.to_ascii_uppercase()),
                OsStr::from_bytes(value),
            );
        }
        cmd
    }

    fn run(&self, shell: &Shell, args: &[&str], settings: &[(&str, &[u8])]) -> Output {
        self.command(shell, args, settings).output().unwrap()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn show(out: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}--- stderr\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    )
}

/// The command `command` ended as `out`, for the protocol's parsers.
fn plugin_run(command: &str, out: &Output) -> PluginRun {
    PluginRun {
        plugin: "example".into(),
        command: command.parse().unwrap(),
        exit: match (out.status.code(), out.status.signal()) {
            (Some(code), _) => Exit::Code(code),
            (None, signal) => Exit::Signal(signal.unwrap_or(0)),
        },
        stdout: out.stdout.clone(),
        stderr: out.stderr.clone(),
        elapsed: Duration::ZERO,
    }
}

/// stdout as exactly one protocol document, read as update-all reads it
/// (update_all_protocol: its shape, and the exit status that goes with its
/// status), and written as the shell library promises: all four keys, no
/// data with an error; the exit code must be `code`. estimate-update's data
/// is read as an estimate too.
fn document(out: &Output, command: &str, code: i32) -> Value {
    assert_eq!(out.status.code(), Some(code), "{}", show(out));
    let run = plugin_run(command, out);
    let parsed = run
        .document()
        .unwrap_or_else(|e| panic!("{e}\n{}", show(out)));
    assert!(
        parsed.missing.is_empty(),
        "the document lacks {:?}: {}",
        parsed.missing,
        show(out)
    );
    if command == "estimate-update" {
        run.estimate()
            .unwrap_or_else(|e| panic!("{e}\n{}", show(out)));
    }
    let doc = plugin_tests::json(out);
    assert!(doc["progress"].is_null());
    if parsed.status == Status::Error {
        assert!(doc["data"].is_null(), "{}", show(out));
    }
    doc
}

/// estimate-update's data as update-all reads it, with every field of
/// docs/plugin-protocol.md (estimate-update) present and sizes as integers.
fn check_estimate(data: &Value) {
    Estimate::from_data(data)
        .unwrap_or_else(|e| panic!("{e}: {data}"))
        .unwrap_or_else(|| panic!("not applicable: {data}"));
    assert_eq!(data["applicable"], true);
    for pkg in data["packages_to_update"].as_array().unwrap() {
        for key in ["download_size_bytes", "installed_size_bytes"] {
            assert!(pkg[key].is_u64() || pkg[key].is_null(), "{pkg}");
        }
    }
    for key in ["total_download_size_bytes", "total_installed_size_bytes"] {
        assert!(data[key].is_u64() || data[key].is_null(), "{data}");
    }
    assert!(data["estimated_time_seconds"].is_u64(), "{data}");
    for key in [
        "affects_runtimes",
        "affects_applications",
        "requires_reboot",
        "security_updates",
    ] {
        assert!(data.get(key).is_some(), "no {key}: {data}");
    }
}

/// The progress lines (docs/plugin-protocol.md, "Progress and status
/// text") among stderr's lines; every line that looks like one must be one,
/// as update-all reads it.
fn progress_lines(stderr: &[u8]) -> Vec<(Option<u64>, String)> {
    text(stderr)
        .lines()
        .filter(|l| l.starts_with("{\"type\""))
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            assert_eq!(v["type"], "progress", "{l}");
            assert!(progress_status(l.as_bytes()).is_some(), "{l}");
            (
                v["percent"].as_u64(),
                v["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn every_command_answers_as_the_protocol_says() {
    let example = Example::new();
    for shell in shells() {
        let run = |args: &[&str]| example.run(&shell, args, &[]);
        let lines = |args: &[&str]| {
            let out = run(args);
            assert_eq!(
                out.status.code(),
                Some(0),
                "{shell} {args:?}: {}",
                show(&out)
            );
            text(&out.stdout)
        };
        // Answers by exit code.
        for cmd in [
            "is-applicable",
            "can-separate-download",
            "does-require-sudo",
        ] {
            let out = run(&[cmd]);
            assert_eq!(out.status.code(), Some(0), "{shell} {cmd}: {}", show(&out));
            assert!(out.stdout.is_empty(), "{shell} {cmd}: {}", show(&out));
        }
        // Answers in lines.
        assert_eq!(lines(&["version"]), "0.1.0\n");
        let paths = lines(&["sudo-programs-paths"]);
        assert!(
            paths.lines().count() == 2 && paths.lines().all(|p| p.starts_with('/')),
            "{shell}: {paths}"
        );
        assert_eq!(lines(&["update-mutexes"]), "pkgmgr:example\n");
        assert_eq!(lines(&["runs-after"]), "apt\n");
        for cmd in [
            "estimate-update-mutexes",
            "download-mutexes",
            "estimate-update-dependency",
            "download-dependency",
            "update-dependency",
        ] {
            assert_eq!(lines(&[cmd]), "", "{shell} {cmd}");
        }
        // Answers in one JSON document.
        let doc = document(&run(&["estimate-update"]), "estimate-update", 0);
        assert_eq!(doc["status"], "success");
        check_estimate(&doc["data"]);
        for cmd in ["download", "update"] {
            assert_eq!(
                document(&run(&[cmd]), cmd, 0)["status"],
                "success",
                "{shell}"
            );
        }
        let doc = document(&run(&["validate"]), "validate", 0);
        assert_eq!(doc["data"]["healthy"], true);
        for cmd in ["self-update", "self-upgrade"] {
            let doc = document(&run(&[cmd]), cmd, 1);
            assert_eq!(doc["error"]["code"], "NOT_SUPPORTED", "{shell} {cmd}");
        }
        // Unknown commands.
        for args in [&["frobnicate"][..], &[]] {
            let out = run(args);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{shell} {args:?}: {}",
                show(&out)
            );
            assert!(out.stdout.is_empty());
        }
        assert!(text(&run(&["frobnicate"]).stderr).contains("unknown command \"frobnicate\""));
    }
}

/// `rollback` with UPDATE_ALL_ROLLBACK_FILE holding `rows`, or unset.
fn rollback(example: &Example, shell: &Shell, rows: Option<&str>) -> Output {
    let file = example.dir.path().join("rollback.tsv");
    let mut cmd = example.command(shell, &["rollback"], &[]);
    match rows {
        Some(rows) => {
            std::fs::write(&file, rows).unwrap();
            cmd.env("UPDATE_ALL_ROLLBACK_FILE", &file);
        }
        None => {
            cmd.env_remove("UPDATE_ALL_ROLLBACK_FILE");
        }
    }
    cmd.output().unwrap()
}

/// The rollback's answer as update-all reads it; its exit status must be
/// `code`.
fn rolled_back(out: &Output, code: i32) -> RollbackAnswer {
    assert_eq!(out.status.code(), Some(code), "{}", show(out));
    plugin_run("rollback", out)
        .rollback()
        .unwrap_or_else(|e| panic!("{e}\n{}", show(out)))
}

fn names<T>(list: &[T], name: impl Fn(&T) -> &str) -> Vec<String> {
    list.iter().map(|x| name(x).to_owned()).collect()
}

#[test]
fn rollback_is_dispatched_and_answers_for_each_package() {
    let example = Example::new();
    // A plugin without cmd_rollback: the answer to an unknown command.
    let bare = example.dir.path().join("plugins/bare");
    std::fs::write(
        &bare,
        "#!/bin/sh\nUA_PLUGIN=bare UA_VERSION=1 UA_TOOLS=sh\n. \"$(dirname \"$0\")/../lib/plugin.sh\"\n\
         cmd_estimate_update() { ua_estimate </dev/null; }\ncmd_update() { :; }\nua_main \"$@\"\n",
    )
    .unwrap();
    for shell in shells() {
        let out = rollback(&example, &shell, Some("a\t1.0\t2.0\nb\t3\t4\n\n"));
        let answer = rolled_back(&out, 0);
        assert_eq!(answer.error, None, "{shell}");
        let back: Vec<(String, Option<String>)> = answer
            .packages
            .rolled_back
            .iter()
            .map(|r| (r.name.clone(), r.version.clone()))
            .collect();
        assert_eq!(
            back,
            [
                ("a".into(), Some("1.0".into())),
                ("b".into(), Some("3".into()))
            ],
            "{shell}"
        );
        assert!(answer.packages.failed.is_empty(), "{shell}");
        assert!(
            text(&out.stderr).contains("example_tool: a back to 1.0 from 2.0"),
            "{shell}: {}",
            show(&out)
        );
        let progress = progress_lines(&out.stderr);
        assert!(
            progress.contains(&(Some(0), "Rolling back a to 1.0".into())),
            "{shell}: {progress:?}"
        );
        assert_eq!(progress.last().unwrap().0, Some(100), "{shell}");

        // Gone: refused with NOT_AVAILABLE, the package in `failed`.
        let answer = rolled_back(&rollback(&example, &shell, Some("c\tgone-1\t2\n")), 1);
        assert!(answer.is_not_available(), "{shell}: {answer:?}");
        assert_eq!(
            answer.packages.failed[0].reason.as_deref(),
            Some("c gone-1 is no longer in the archive"),
            "{shell}"
        );

        // Mixed: what was rolled back is still listed; the failures'
        // codes differ, so the document's is ROLLBACK_FAILED. A package new
        // in the run (no old version) is left alone, in neither list.
        let out = rollback(
            &example,
            &shell,
            Some("a\t1.0\t2.0\nc\tgone\t2\nd\tbroken\t2\nn\t\t1\n-x\t1\t2\n"),
        );
        let answer = rolled_back(&out, 1);
        let error = answer.error.clone().unwrap();
        assert_eq!(error.code, "ROLLBACK_FAILED", "{shell}");
        assert!(
            error
                .message
                .starts_with("could not roll back 3 of 4 packages: "),
            "{shell}: {error}"
        );
        assert_eq!(names(&answer.packages.rolled_back, |r| &r.name), ["a"]);
        let failed = &answer.packages.failed;
        assert_eq!(names(failed, |f| &f.name), ["-x", "c", "d"], "{shell}");
        assert_eq!(
            failed[2].reason.as_deref(),
            Some("sh exited with status 7"),
            "{shell}"
        );
        assert!(
            failed[0]
                .reason
                .as_deref()
                .is_some_and(|r| r.contains("line 5 of the rollback file")),
            "{shell}: {failed:?}"
        );
        assert!(
            text(&out.stderr).contains("n was new in the run: left installed"),
            "{shell}: {}",
            show(&out)
        );

        // An empty file changes nothing; no file is an error.
        let answer = rolled_back(&rollback(&example, &shell, Some("")), 0);
        assert_eq!(answer.packages, RolledBack::default(), "{shell}");
        let out = rollback(&example, &shell, None);
        let answer = rolled_back(&out, 1);
        assert_eq!(answer.error.unwrap().code, "INVALID_INPUT", "{shell}");
        assert!(plugin_tests::json(&out)["data"].is_null());

        let mut cmd = shell.command();
        let out = cmd
            .arg(&bare)
            .arg("rollback")
            .env("UPDATE_ALL_ROLLBACK_FILE", "/dev/null")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{shell}: {}", show(&out));
        assert!(out.stdout.is_empty(), "{shell}");
        let e = plugin_run("rollback", &out).rollback().unwrap_err();
        assert_eq!(e.problem.kind(), "not_implemented", "{shell}");
    }
}

#[test]
fn estimate_update_reports_packages_and_sizes() {
    let example = Example::new();
    let packages = b"libc6\t2.36-9\t2.36-9+deb12u4\t2800000\t12900000\n\
                     python3.12\t3.12.1\t3.12.2\t15000000\t45000000\n\
                     new-thing\t\t1.0\t\t\n";
    for shell in shells() {
        let out = example.run(&shell, &["estimate-update"], &[("packages", packages)]);
        let doc = document(&out, "estimate-update", 0);
        let data = &doc["data"];
        check_estimate(data);
        let pkgs = data["packages_to_update"].as_array().unwrap();
        assert_eq!(pkgs.len(), 3);
        assert_eq!(
            pkgs[1],
            serde_json::json!({
                "name": "python3.12",
                "current_version": "3.12.1",
                "new_version": "3.12.2",
                "download_size_bytes": 15000000,
                "installed_size_bytes": 45000000
            })
        );
        assert!(pkgs[2]["current_version"].is_null() && pkgs[2]["download_size_bytes"].is_null());
        assert_eq!(data["total_download_size_bytes"], 17800000);
        assert_eq!(data["total_installed_size_bytes"], 57900000);
        // 5 s a package plus 17.8 MB at 10 MB/s.
        assert_eq!(data["estimated_time_seconds"], 17);
        assert_eq!(data["affects_runtimes"], serde_json::json!(["python"]));
        assert_eq!(
            data["affects_applications"],
            serde_json::json!(["Fire\"fox"])
        );
    }
}

#[test]
fn text_is_escaped_in_every_document() {
    let example = Example::new();
    // Quotes, backslashes, multi-byte UTF-8, a control character and an
    // invalid byte (which becomes U+FFFD: the document must stay JSON).
    let name = b"pkg \"quoted\" back\\slash \xc3\xbcn\xc3\xafc\xc3\xb6d\xc3\xa9 \xe2\x98\x83 \xf0\x9f\x8e\x89 ctl\x01 bad\xffbyte";
    let want = "pkg \"quoted\" back\\slash ünïcödé ☃ 🎉 ctl\u{1} bad\u{fffd}byte";
    let mut packages = name.to_vec();
    packages.extend_from_slice("\t1:2.0~rc1+dfsg\t2.0\t\t\n".as_bytes());
    let message = "line one\nline \"two\" \\ end\ttab ünï ☃";
    for shell in shells() {
        let doc = document(
            &example.run(&shell, &["estimate-update"], &[("packages", &packages)]),
            "estimate-update",
            0,
        );
        let pkg = &doc["data"]["packages_to_update"][0];
        assert_eq!(pkg["name"], want, "{shell}");
        assert_eq!(pkg["current_version"], "1:2.0~rc1+dfsg");

        let out = example.run(&shell, &["update"], &[("error", message.as_bytes())]);
        let doc = document(&out, "update", 1);
        assert_eq!(doc["error"]["code"], "EXAMPLE_ERROR");
        assert_eq!(doc["error"]["message"], message, "{shell}");
        assert_eq!(doc["error"]["details"], format!("details: {message}"));

        let out = example.run(&shell, &["update"], &[("message", name)]);
        document(&out, "update", 0);
        let progress = progress_lines(&out.stderr);
        assert_eq!(progress[0], (Some(45), want.to_owned()), "{shell}");
    }
}

#[test]
fn failures_and_inapplicability_have_their_exit_codes() {
    let example = Example::new();
    for shell in shells() {
        let out = example.run(&shell, &["update"], &[("fail", b"100")]);
        let doc = document(&out, "update", 1);
        assert_eq!(doc["error"]["code"], "UPDATE_FAILED", "{shell}");
        assert_eq!(
            doc["error"]["message"], "example_tool exited with status 100",
            "{shell}"
        );
        let out = example.run(&shell, &["download"], &[("fail", b"3")]);
        assert_eq!(
            document(&out, "download", 1)["error"]["code"],
            "DOWNLOAD_FAILED"
        );

        let no: &[(&str, &[u8])] = &[("applicable", b"false")];
        assert_eq!(
            example.run(&shell, &["is-applicable"], no).status.code(),
            Some(1)
        );
        for (cmd, code) in [("estimate-update", 1), ("update", 1), ("download", 1)] {
            let doc = document(&example.run(&shell, &[cmd], no), cmd, code);
            assert_eq!(doc["status"], "not_applicable", "{shell} {cmd}");
            assert_eq!(doc["data"]["applicable"], false);
        }
    }
}

#[test]
fn progress_lines_go_to_stderr_with_the_tools_output() {
    let example = Example::new();
    for shell in shells() {
        let out = example.run(&shell, &["update"], &[("steps", b"4")]);
        document(&out, "update", 0);
        let progress = progress_lines(&out.stderr);
        let percents: Vec<u64> = progress.iter().map(|p| p.0.unwrap()).collect();
        // 45 from the plugin, then each of 4 packages within 50..100; the
        // tool's own "100%" adds nothing new.
        assert_eq!(percents, [45, 62, 75, 87, 100], "{shell}: {progress:?}");
        assert_eq!(progress[1].1, "Get:1 example-package-1");
        let stderr = text(&out.stderr);
        for line in [
            "a plain stderr line from the plugin",
            "Get:4 example-package-4",
            "a line that is no progress",
            "Unpacking: 100%",
        ] {
            assert!(stderr.lines().any(|l| l == line), "{shell}: {stderr}");
        }
        // stdout holds the document alone, though the tool wrote to stdout.
        assert_eq!(text(&out.stdout).lines().count(), 1);
    }
}

/// Runs the library's helpers in `shell`.
/// A stop sends TERM twice within microseconds: systemd signals the whole
/// cgroup and plugin-exec forwards its own to the plugin's group. However
/// the two land, the plugin prints its one INTERRUPTED document, runs its
/// clean-up and dies of the signal. Many rounds, with the second TERM at
/// varying distances from the first, under every shell: one round in ten
/// used to lose the clean-up when the second TERM ran the trap again
/// inside the EXIT trap.
#[test]
fn a_second_term_never_cuts_the_clean_up() {
    const ROUNDS: u32 = 60;
    let example = Example::new();
    let dir = tempfile::tempdir().unwrap();
    for shell in shells() {
        for round in 0..ROUNDS {
            let marker = dir.path().join(format!("marker-{shell}-{round}"));
            let mut child = example
                .command(
                    &shell,
                    &["update"],
                    &[("pause", b"30"), ("marker", marker.as_os_str().as_bytes())],
                )
                .process_group(0)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            // In its pause: the shell waits for the pause's sleep, where a
            // TERM wakes it at once.
            let mut stderr = child.stderr.take().unwrap();
            std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
            wait_for_child_named(child.id(), "sleep");
            let group = nix::unistd::Pid::from_raw(-i32::try_from(child.id()).unwrap());
            nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGTERM).unwrap();
            // 0 to 95 µs apart: the second lands before, in or after the trap.
            let apart = Instant::now() + Duration::from_micros(u64::from(round % 20) * 5);
            while Instant::now() < apart {
                std::hint::spin_loop();
            }
            let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGTERM);
            let out = child.wait_with_output().unwrap();
            let what = format!("{shell}, round {round}: {}", show(&out));
            assert_eq!(out.status.signal(), Some(15), "{what}");
            assert_eq!(
                std::fs::read_to_string(&marker).ok().as_deref(),
                Some("exit 15\n"),
                "{what}"
            );
            let doc: Value = serde_json::from_slice(&out.stdout).expect(&what);
            assert_eq!(doc["error"]["code"], "INTERRUPTED", "{what}");
        }
    }
}

/// Waits (up to 10 s) until the process `pid` has a child running `name`.
fn wait_for_child_named(pid: u32, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let children =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        let found = children.split_whitespace().any(|child| {
            std::fs::read_to_string(format!("/proc/{child}/comm"))
                .is_ok_and(|comm| comm.trim_end() == name)
        });
        if found {
            return;
        }
        assert!(Instant::now() < deadline, "{pid} never ran {name}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn lib_sh(shell: &Shell, script: &str) -> String {
    let lib = plugin_tests::plugins_dir().join("lib/plugin.sh");
    let out = shell
        .command()
        .arg("-c")
        .arg(format!(
            "UA_PLUGIN=my-plugin; . '{}'; {script}",
            lib.display()
        ))
        .env("UPDATE_ALL_MY_PLUGIN_HOME", "/set")
        .output()
        .unwrap();
    assert!(out.status.success(), "{shell}: {script}: {}", show(&out));
    text(&out.stdout)
}

#[test]
fn library_helpers() {
    for shell in shells() {
        let sizes = lib_sh(
            &shell,
            "for s in '12.3 MB' '1,024 kB' '5 M' 3.1MiB 7 '2 GiB' '1.5 k' junk; do ua_size_to_bytes \"$s\"; echo; done",
        );
        assert_eq!(
            sizes, "12300000\n\n1024000\n\n5242880\n\n3250586\n\n7\n\n2147483648\n\n1536\n\n\n",
            "{shell}"
        );
        assert_eq!(
            lib_sh(&shell, "ua_setting home /d; ua_setting other /d"),
            "/set\n/d\n"
        );
        assert_eq!(
            lib_sh(
                &shell,
                "for v in true YES on 1 false no 0 ''; do ua_is_true \"$v\" && echo y || echo n; done"
            ),
            "y\ny\ny\ny\nn\nn\nn\nn\n"
        );
        let obj = lib_sh(
            &shell,
            r#"ua_json_object "a b" "$(ua_json_string 'x"y')" n 3 list "$(ua_json_strings p 'q\r')""#,
        );
        assert_eq!(
            serde_json::from_str::<Value>(&obj).unwrap(),
            serde_json::json!({"a b": "x\"y", "n": 3, "list": ["p", "q\\r"]})
        );
        // Percentages are clamped, leading zeros are not octal, junk is null.
        let percents = lib_sh(
            &shell,
            "for p in 08 000 150 45 x ''; do ua_progress \"$p\" m; done 2>&1",
        );
        let percents: Vec<Value> = progress_lines(percents.as_bytes())
            .into_iter()
            .map(|(p, _)| p.map_or(Value::Null, Value::from))
            .collect();
        assert_eq!(
            percents,
            serde_json::json!([8, 0, 100, 45, null, null])
                .as_array()
                .unwrap()
                .clone()
        );
        // Outside ua_main the emitters print to stdout.
        let doc: Value = serde_json::from_str(&lib_sh(&shell, "ua_success '{\"n\":1}'")).unwrap();
        assert_eq!(doc["data"]["n"], 1);
    }
}

fn runner() -> PathBuf {
    testbed::target_binary("update-all")
}

/// By hand, without systemd: plugin-exec passes everything through, sends
/// progress to $NOTIFY_SOCKET, forwards SIGTERM and dies of it like the
/// plugin.
#[test]
fn plugin_exec_forwards_sigterm_and_reports_progress() {
    let example = Example::new();
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify");
    let systemd = UnixDatagram::bind(&socket_path).unwrap();
    systemd
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let marker = dir.path().join("marker");
    let mut child = Command::new(runner())
        .args(["plugin-exec", "--"])
        .arg(example.exe())
        .arg("update")
        .env("NOTIFY_SOCKET", &socket_path)
        .env("UPDATE_ALL_EXAMPLE_PAUSE", "30")
        .env("UPDATE_ALL_EXAMPLE_MARKER", &marker)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    // Without a system bus (no logind) an update goes on without the
    // shutdown inhibitor, and says so first.
    if line.starts_with("update-all: warning: cannot take logind's shutdown inhibitor") {
        line.clear();
        stderr.read_line(&mut line).unwrap();
    }
    // The progress line went to the socket, not to stderr.
    assert_eq!(line, "a plain stderr line from the plugin\n");
    let mut buf = [0u8; 512];
    let n = systemd.recv(&mut buf).unwrap();
    assert_eq!(text(&buf[..n]), "STATUS=45% Downloading package 3/10");
    let started = Instant::now();
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(out.status.signal(), Some(15), "{}", show(&out));
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "exit 15\n");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["error"]["code"], "INTERRUPTED");
    let n = systemd.recv(&mut buf).unwrap();
    assert_eq!(text(&buf[..n]), "STATUS=update killed by signal 15");

    // Exit statuses pass through; a missing program is 127.
    let status = |args: &[&OsStr]| {
        Command::new(runner())
            .args(["plugin-exec", "--"])
            .args(args)
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .code()
    };
    assert_eq!(
        status(&["sh".as_ref(), "-c".as_ref(), "exit 7".as_ref()]),
        Some(7)
    );
    assert_eq!(status(&["/nonexistent/plugin".as_ref()]), Some(127));
}

const UNIT: &str = "update-all-example.service";

/// A test bed with update-all and the example plugin (settings as YAML
/// lines under `settings:`); the recorder is masked, as this is about the
/// plugin unit alone.
fn testbed_with_example(settings: &str) -> Option<Testbed> {
    let tb = Testbed::require()?;
    tb.sh("ln -sf /dev/null /run/systemd/system/update-all-recorder.service");
    tb.install_update_all(
        &testbed::target_binary("update-all-generator"),
        Some(&runner()),
    );
    tb.write(
        "/run/update-all/lib/plugin.sh",
        std::fs::read(plugin_tests::plugins_dir().join("lib/plugin.sh")).unwrap(),
        0o644,
    );
    tb.install_executable(
        plugin_tests::fixtures_dir().join("protocol/example"),
        format!("{}/example", testbed::PLUGINS),
    );
    set_settings(&tb, settings);
    Some(tb)
}

fn set_settings(tb: &Testbed, settings: &str) {
    let mut manifest = format!(
        "plugin:\n  name: example\n  executable: {}/example\n  requires_sudo: true\n  settings:\n",
        testbed::PLUGINS
    );
    for line in settings.lines() {
        manifest += &format!("    {line}\n");
    }
    tb.write(
        format!("{}/example.yaml", testbed::MANIFESTS),
        manifest,
        0o644,
    );
    tb.daemon_reload();
}

fn property(tb: &Testbed, name: &str) -> String {
    tb.check(&["systemctl", "show", "-P", name, UNIT])
        .trim_end()
        .to_owned()
}

/// Polls `property` until `pred` holds; returns the values seen.
fn wait_for(tb: &Testbed, name: &str, pred: impl Fn(&str) -> bool) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen: Vec<String> = Vec::new();
    loop {
        let value = property(tb, name);
        if seen.last() != Some(&value) {
            seen.push(value.clone());
        }
        if pred(&value) {
            return seen;
        }
        assert!(
            Instant::now() < deadline,
            "{name} never matched; seen {seen:?}\n{}",
            tb.journal(UNIT)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn progress_is_the_units_status_text_on_systemd() {
    let Some(tb) = testbed_with_example("pause: 3\nsteps: 2") else {
        return;
    };
    let started = Instant::now();
    tb.check(&["systemctl", "start", "--no-block", UNIT]);
    wait_for(&tb, "StatusText", |s| s == "45% Downloading package 3/10");
    // `systemctl status` exits 3 for a unit that is not (yet) active.
    let status = text(&tb.systemctl(&["status", "--no-pager", UNIT]).stdout);
    assert!(
        status.contains("Status: \"45% Downloading package 3/10\""),
        "{status}"
    );
    wait_for(&tb, "ActiveState", |s| s == "inactive" || s == "failed");
    eprintln!("example unit ran {:?}", started.elapsed());
    assert_eq!(property(&tb, "Result"), "success");
    assert_eq!(property(&tb, "ExecMainStatus"), "0");
    let journal = tb.journal(UNIT);
    for line in [
        "a plain stderr line from the plugin",
        "Get:2 example-package-2",
        "a line that is no progress",
        r#"{"status":"success","data":null,"error":null,"progress":null}"#,
    ] {
        assert!(journal.lines().any(|l| l == line), "{line}:\n{journal}");
    }
    assert!(!journal.contains(r#""type":"progress""#), "{journal}");

    // A failing plugin fails the unit, with the plugin's exit status.
    set_settings(&tb, "fail: 100");
    let out = tb.systemctl(&["start", UNIT]);
    assert!(!out.status.success());
    assert_eq!(property(&tb, "Result"), "exit-code");
    assert_eq!(property(&tb, "ExecMainStatus"), "1");
    assert_eq!(
        property(&tb, "StatusText"),
        "update failed with exit status 1"
    );
    assert!(tb
        .journal(UNIT)
        .contains("example_tool exited with status 100"));
}

#[test]
fn stopping_the_unit_stops_the_plugin() {
    let marker = "/run/example-marker";
    let Some(tb) = testbed_with_example(&format!("pause: 120\nmarker: {marker}")) else {
        return;
    };
    tb.check(&["systemctl", "start", "--no-block", UNIT]);
    wait_for(&tb, "StatusText", |s| s.starts_with("45% "));
    let started = Instant::now();
    tb.check(&["systemctl", "stop", UNIT]);
    let took = started.elapsed();
    eprintln!("stop took {took:?}");
    assert!(took < Duration::from_secs(10), "stop took {took:?}");
    let marker = std::fs::read_to_string(tb.host_path(marker)).unwrap();
    assert_eq!(marker, "exit 15\n");
    assert!(tb.journal(UNIT).contains("INTERRUPTED"));
    // As a plugin run directly would: a oneshot unit whose main process
    // dies of SIGTERM has failed (it was cancelled).
    assert_eq!(property(&tb, "Result"), "signal");
    assert_eq!(property(&tb, "ExecMainStatus"), "15");
    assert_eq!(property(&tb, "StatusText"), "update killed by signal 15");
}

#[test]
fn plugin_exec_is_hidden_from_help() {
    let out = Command::new(runner()).arg("--help").output().unwrap();
    assert!(!text(&out.stdout).contains("plugin-exec"));
}
