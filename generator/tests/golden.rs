//! Golden-directory tests, as zram-generator's: each `golden/<case>/` holds
//! an input tree `root/` (read through `UPDATE_ALL_ROOT`), an optional `env`
//! file of extra variables, the expected output tree `expected/` and the
//! expected messages `expected.log`. The generator's output is compared as
//! a tree. `UPDATE_GOLDEN=1 cargo test --test golden` rewrites the
//! expectations; review the diff before committing it.
//!
//! Every output is also checked by `systemd-analyze verify`, which must print
//! nothing at all.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn cases() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut cases: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("root").is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 4, "golden cases missing: {cases:?}");
    cases
}

/// Copies a tree with modes normalized (a checkout's umask must not decide
/// whether the generator trusts a file); symlinks are copied as links.
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    fs::set_permissions(to, fs::Permissions::from_mode(0o755)).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type().unwrap();
        if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&src).unwrap(), &dst).unwrap();
        } else if kind.is_dir() {
            copy_tree(&src, &dst);
        } else {
            fs::copy(&src, &dst).unwrap();
            let exec = fs::metadata(&src).unwrap().permissions().mode() & 0o111 != 0;
            let mode = if exec { 0o755 } else { 0o644 };
            fs::set_permissions(&dst, fs::Permissions::from_mode(mode)).unwrap();
        }
    }
}

/// A tree as relative path → "file:<content>" or "link:<target>".
fn snapshot(dir: &Path) -> BTreeMap<String, String> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(base).unwrap().display().to_string();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.file_type().is_symlink() {
                out.insert(
                    rel,
                    format!("link:{}", fs::read_link(&path).unwrap().display()),
                );
            } else if meta.is_dir() {
                walk(base, &path, out);
            } else {
                out.insert(rel, format!("file:{}", fs::read_to_string(&path).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn bless(case: &Path, out: &Path, log: &str) {
    let expected = case.join("expected");
    let _ = fs::remove_dir_all(&expected);
    fs::create_dir_all(&expected).unwrap();
    for (rel, value) in snapshot(out) {
        let dst = expected.join(&rel);
        fs::create_dir_all(dst.parent().unwrap()).unwrap();
        match value.split_once(':').unwrap() {
            ("link", target) => std::os::unix::fs::symlink(target, &dst).unwrap(),
            (_, text) => fs::write(&dst, text).unwrap(),
        }
    }
    fs::write(case.join("expected.log"), log).unwrap();
}

/// Runs the generator on a case; returns the work dir (root/ and out/) and
/// the messages with the root replaced by `ROOT`.
fn generate(case: &Path) -> (tempfile::TempDir, String) {
    let work = tempfile::tempdir().unwrap();
    fs::set_permissions(work.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let (root, out) = (work.path().join("root"), work.path().join("out"));
    copy_tree(&case.join("root"), &root);
    fs::create_dir(&out).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_update-all-generator"));
    cmd.arg(&out)
        .arg(work.path().join("early"))
        .arg(work.path().join("late"))
        .env("UPDATE_ALL_ROOT", &root)
        .env("SYSTEMD_LOG_TARGET", "console")
        .env_remove("SYSTEMD_SCOPE")
        .env_remove("XDG_CONFIG_HOME");
    if let Ok(vars) = fs::read_to_string(case.join("env")) {
        for (k, v) in vars.lines().filter_map(|l| l.split_once('=')) {
            cmd.env(k, v);
        }
    }
    let output = cmd.output().unwrap();
    let log = String::from_utf8(output.stderr).unwrap();
    assert!(
        output.status.success(),
        "{}: generator failed\n{log}",
        case.display()
    );
    let log = log.replace(&root.display().to_string(), "ROOT");
    (work, log)
}

#[test]
fn golden_trees() {
    let mut failures = Vec::new();
    for case in cases() {
        let (work, log) = generate(&case);
        let out = work.path().join("out");
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            bless(&case, &out, &log);
            continue;
        }
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let expected_log = fs::read_to_string(case.join("expected.log")).unwrap_or_default();
        if log != expected_log {
            failures.push(format!(
                "{name}: messages differ\n--- expected\n{expected_log}--- got\n{log}"
            ));
        }
        let (want, got) = (snapshot(&case.join("expected")), snapshot(&out));
        for rel in want
            .keys()
            .chain(got.keys())
            .collect::<std::collections::BTreeSet<_>>()
        {
            match (want.get(rel), got.get(rel)) {
                (Some(w), Some(g)) if w == g => {}
                (w, g) => failures.push(format!(
                    "{name}/{rel} differs\n--- expected\n{}\n--- got\n{}",
                    w.map_or("(missing)", String::as_str),
                    g.map_or("(missing)", String::as_str)
                )),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn output_is_deterministic() {
    for case in cases() {
        let (a, _) = generate(&case);
        let (b, _) = generate(&case);
        assert_eq!(
            snapshot(&a.path().join("out")),
            snapshot(&b.path().join("out"))
        );
    }
}

fn require_systemd_analyze() -> bool {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok()
    {
        return true;
    }
    eprintln!("SYSTEMD-ANALYZE UNAVAILABLE: install systemd to run the verify test");
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "systemd-analyze is required under CI"
    );
    false
}

/// `systemd-analyze verify` over every generated unit together with the
/// static units, in a root that holds the plugin executables and the host's
/// own units (for sysinit.target and friends). It must print nothing.
#[test]
fn generated_units_pass_systemd_analyze_verify() {
    if !require_systemd_analyze() {
        return;
    }
    let units_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../units");
    for case in cases() {
        let (work, _) = generate(&case);
        let root = work.path().join("root");
        let system = root.join("etc/systemd/system");
        copy_tree(&work.path().join("out"), &system);
        copy_tree(&units_dir, &system);
        copy_tree(
            Path::new("/usr/lib/systemd/system"),
            &root.join("usr/lib/systemd/system"),
        );
        // The recorder unit runs the runner, which this crate does not build.
        let runner = root.join("usr/bin/update-all");
        fs::create_dir_all(runner.parent().unwrap()).unwrap();
        fs::write(&runner, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&runner, fs::Permissions::from_mode(0o755)).unwrap();
        // Unit files only: not .wants/ and .d/ directories, nor units/user/.
        let mut names: Vec<String> = fs::read_dir(&system)
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| !e.file_type().unwrap().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        // The man page ships with the package, not with this test root.
        let output = Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .arg(format!("--root={}", root.display()))
            .args(&names)
            .current_dir(&system)
            .output()
            .unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            output.status.success() && said.is_empty(),
            "{}: systemd-analyze verify {names:?}:\n{said}",
            case.display()
        );
    }
}

/// Bad arguments are the only reason to fail: boot goes on either way.
#[test]
fn unusable_arguments_exit_non_zero() {
    let bin = env!("CARGO_BIN_EXE_update-all-generator");
    let run = |args: &[&str]| {
        Command::new(bin)
            .args(args)
            .env("SYSTEMD_LOG_TARGET", "console")
            .output()
            .unwrap()
    };
    let none = run(&[]);
    assert_eq!(none.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&none.stderr).contains("usage: update-all-generator NORMAL_DIR")
    );
    let missing = run(&["/nonexistent/normal"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/normal: not a directory")
    );
    assert_eq!(run(&["a", "b"]).status.code(), Some(1));
}
