//! The checks that are programs: the manifests' `health.exec`, and the
//! scripts of the `health.d` directories, greenboot's style:
//! `required.d/*` must exit 0, `wanted.d/*` only warn when they do not.
//! `health.d` is read from /usr/lib/update-all, /run/update-all and
//! /etc/update-all (`Env::health_dirs`): a file replaces one of the same
//! name in a lower directory, a symlink to /dev/null masks it; they run in
//! the order of their names, all at once.
//!
//! Each program gets the trust checks of a plugin's executable (root's,
//! or in user scope the user's; writable by nobody else, every directory
//! above it too): one that fails them is not run, and counts as failed.
//! It runs in a process group of its own, with standard input from
//! /dev/null and `UPDATE_ALL_HEALTH_CHECK` (its name),
//! `UPDATE_ALL_HEALTH_ROUND` (1, 2 after the stability window, 0 at boot)
//! and `UPDATE_ALL_RUN` (the run's id) in its environment; each line it writes is logged (under the health unit, in the
//! journal), and at its timeout the whole group is killed and the check
//! counts as failed.

use super::Check;
use crate::stats::health::CheckKind;
use crate::stats::RunId;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use update_all_core::discovery::discover_matching;
use update_all_core::trust::Trust;
use update_all_core::Env;

/// How long the output of a program that has exited is still read: what
/// it left in the pipe (a child it left behind may hold the pipe open).
const DRAIN: Duration = Duration::from_millis(200);

/// How long the end of a program killed at its timeout is waited for.
const KILLED: Duration = Duration::from_secs(2);

/// A program to run as a check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    /// `required.d/10-http`, or a manifest's `health.exec` path.
    pub name: String,
    /// [`CheckKind::Exec`], [`CheckKind::Required`] or [`CheckKind::Wanted`].
    pub kind: CheckKind,
    /// Where it is read, under the root prefix.
    pub path: PathBuf,
    pub timeout: Duration,
}

impl Script {
    /// A manifest's `health.exec` program `exec` (an absolute path).
    pub fn exec(env: &Env, exec: &str, timeout: Duration) -> Script {
        Script {
            name: exec.to_owned(),
            kind: CheckKind::Exec,
            path: env.resolve(Path::new(exec)),
            timeout,
        }
    }
}

/// The scripts of `env`'s `health.d` directories, each with `timeout`.
pub fn drop_ins(env: &Env, timeout: Duration) -> Vec<Script> {
    let mut scripts = Vec::new();
    for (sub, kind) in [
        ("required.d", CheckKind::Required),
        ("wanted.d", CheckKind::Wanted),
    ] {
        let dirs: Vec<PathBuf> = env.health_dirs().iter().map(|d| d.join(sub)).collect();
        let found = discover_matching(&dirs, |_| true);
        for d in found.diagnostics {
            tracing::warn!("{d}");
        }
        scripts.extend(found.files.into_iter().map(|path| {
            let file = path.file_name().unwrap_or_default().to_string_lossy();
            Script {
                name: format!("{sub}/{file}"),
                kind,
                path,
                timeout,
            }
        }));
    }
    scripts
}

/// Runs every script at once for round `round`; their checks in the order
/// given.
pub fn run_all(env: &Env, scripts: &[Script], run: Option<RunId>, round: u32) -> Vec<Check> {
    std::thread::scope(|s| {
        let running: Vec<_> = scripts
            .iter()
            .map(|script| s.spawn(move || run_one(env, script, run, round)))
            .collect();
        running
            .into_iter()
            .zip(scripts)
            .map(|(thread, script)| {
                thread.join().unwrap_or_else(|_| Check {
                    name: script.name.clone(),
                    kind: script.kind,
                    ok: false,
                    message: "the check's runner panicked".into(),
                    duration: Duration::ZERO,
                })
            })
            .collect()
    })
}

/// Checks `script`'s trust, runs it, and says how it went.
fn run_one(env: &Env, script: &Script, run: Option<RunId>, round: u32) -> Check {
    let start = Instant::now();
    let mut trust = Trust::new(&env.root, env.trusted_user());
    let outcome = match trust.check_file(&script.path, true) {
        Err(why) => Err(format!("refused, not run: {why}")),
        Ok((real, _)) => execute(&real, script, run, round),
    };
    let ok = outcome.is_ok();
    Check {
        name: script.name.clone(),
        kind: script.kind,
        ok,
        message: outcome.unwrap_or_else(|e| e),
        duration: start.elapsed(),
    }
}

/// What the program's threads tell the one that waits for it.
enum Heard {
    /// A line, and whether it came from standard error.
    Line(String, bool),
    /// One of its two pipes is closed.
    Eof,
    Exit(std::io::Result<ExitStatus>),
}

/// Runs `real` (the trusted path of `script`) to its end or its timeout.
fn execute(real: &Path, script: &Script, run: Option<RunId>, round: u32) -> Result<String, String> {
    let mut cmd = Command::new(real);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .env("UPDATE_ALL_HEALTH_CHECK", &script.name)
        .env("UPDATE_ALL_HEALTH_ROUND", round.to_string());
    if let Some(run) = run {
        cmd.env("UPDATE_ALL_RUN", run.to_string());
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", real.display()))?;
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    for (pipe, stderr) in [
        (
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
            false,
        ),
        (
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
            true,
        ),
    ]
    .into_iter()
    .filter_map(|(pipe, stderr)| Some((pipe?, stderr)))
    {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(pipe);
            let mut line = Vec::new();
            while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
                let text = String::from_utf8_lossy(&line).trim_end().to_owned();
                line.clear();
                if tx.send(Heard::Line(text, stderr)).is_err() {
                    return;
                }
            }
            let _ = tx.send(Heard::Eof);
        });
    }
    // The reaper: the pid stays the group's until it has been waited for.
    let waiter = tx.clone();
    std::thread::spawn(move || {
        let _ = waiter.send(Heard::Exit(child.wait()));
    });
    drop(tx);
    let deadline = Instant::now() + script.timeout;
    // The last line it wrote to each stream: what its failure says, the
    // one of standard error first (the two arrive in no fixed order).
    let mut last = [String::new(), String::new()];
    let mut killed = false;
    let mut status = None;
    let mut open = 2;
    let mut drain_until = None;
    loop {
        let until = drain_until.unwrap_or(deadline);
        let wait = until.saturating_duration_since(Instant::now());
        match rx.recv_timeout(wait) {
            Ok(Heard::Line(text, stderr)) => {
                tracing::info!(update_all_run = run, update_all_check = %script.name, "{}: {text}", script.name);
                if !text.trim().is_empty() {
                    last[usize::from(stderr)] = text;
                }
            }
            Ok(Heard::Eof) => open -= 1,
            Ok(Heard::Exit(s)) => {
                status = Some(s);
                drain_until = Some(Instant::now() + DRAIN);
            }
            Err(mpsc::RecvTimeoutError::Timeout) if status.is_none() && !killed => {
                // The whole group: what the check started dies with it.
                let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
                killed = true;
                drain_until = Some(Instant::now() + KILLED);
            }
            Err(_) => break,
        }
        if status.is_some() && open == 0 {
            break;
        }
    }
    let said = |what: String| match last.iter().rev().find(|l| !l.is_empty()) {
        Some(line) => format!("{what}: {line}"),
        None => what,
    };
    if killed {
        return Err(format!(
            "killed at its timeout of {}",
            crate::output::format::duration(script.timeout)
        ));
    }
    match status {
        Some(Ok(s)) if s.success() => Ok(said("exit status 0".into())),
        Some(Ok(s)) => Err(said(match (s.code(), s.signal()) {
            (Some(code), _) => format!("exit status {code}"),
            (_, Some(signal)) => format!("killed by signal {signal}"),
            _ => s.to_string(),
        })),
        Some(Err(e)) => Err(format!("cannot wait for it: {e}")),
        None => Err("its end was not heard".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    /// A root prefix holding `usr/lib/x/<name>` scripts, all root's (the
    /// tests run as root, as the runner's do).
    fn tree(scripts: &[(&str, &str, u32)]) -> (tempfile::TempDir, Env) {
        let t = tempfile::tempdir().unwrap();
        fs::set_permissions(t.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let dir = t.path().join("usr/lib/x");
        fs::create_dir_all(&dir).unwrap();
        for d in ["usr", "usr/lib", "usr/lib/x"] {
            fs::set_permissions(t.path().join(d), fs::Permissions::from_mode(0o755)).unwrap();
        }
        for (name, body, mode) in scripts {
            let p = dir.join(name);
            fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
            fs::set_permissions(&p, fs::Permissions::from_mode(*mode)).unwrap();
        }
        let env = Env {
            root: t.path().to_owned(),
            scope: update_all_core::Scope::System,
            user_config: None,
        };
        (t, env)
    }

    fn script(env: &Env, name: &str, kind: CheckKind, timeout: Duration) -> Script {
        Script {
            name: name.into(),
            kind,
            path: env.resolve(Path::new("/usr/lib/x").join(name).as_path()),
            timeout,
        }
    }

    #[test]
    fn exit_statuses_timeouts_and_refusals() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: the trust checks want root-owned files");
            return;
        }
        let (_t, env) = tree(&[
            ("good", "echo all fine", 0o755),
            ("bad", "echo >&2 port 80 closed; exit 3", 0o755),
            ("hang", "sleep 600 & sleep 600", 0o755),
            ("open", "exit 0", 0o777),
        ]);
        let second = Duration::from_secs(1);
        let scripts = [
            script(&env, "good", CheckKind::Required, second * 5),
            script(&env, "bad", CheckKind::Wanted, second * 5),
            script(&env, "hang", CheckKind::Required, second),
            script(&env, "open", CheckKind::Required, second),
        ];
        let start = Instant::now();
        let checks = run_all(&env, &scripts, Some(7), 1);
        assert!(start.elapsed() < second * 4, "{:?}", start.elapsed());
        let got: Vec<(bool, &str)> = checks.iter().map(|c| (c.ok, c.message.as_str())).collect();
        assert_eq!(got[0], (true, "exit status 0: all fine"));
        assert_eq!(got[1], (false, "exit status 3: port 80 closed"));
        assert!(!checks[1].is_unhealthy(), "a wanted check only warns");
        assert_eq!(got[2], (false, "killed at its timeout of 1.0s"));
        assert!(!got[3].0 && got[3].1.contains("writable by its group or by everyone"));
    }

    #[test]
    fn later_directories_replace_and_dev_null_masks() {
        let (t, env) = tree(&[]);
        let write = |rel: &str| {
            let p = t.path().join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, "#!/bin/sh\n").unwrap();
        };
        write("usr/lib/update-all/health.d/required.d/10-a");
        write("usr/lib/update-all/health.d/required.d/20-b");
        write("etc/update-all/health.d/required.d/10-a");
        write("run/update-all/health.d/wanted.d/30-c");
        fs::create_dir_all(t.path().join("etc/update-all/health.d/wanted.d")).unwrap();
        std::os::unix::fs::symlink(
            "/dev/null",
            t.path().join("etc/update-all/health.d/wanted.d/30-c"),
        )
        .unwrap();
        let found: Vec<(String, PathBuf)> = drop_ins(&env, Duration::from_secs(1))
            .into_iter()
            .map(|s| (s.name, s.path))
            .collect();
        assert_eq!(
            found,
            [
                (
                    "required.d/10-a".to_owned(),
                    t.path().join("etc/update-all/health.d/required.d/10-a")
                ),
                (
                    "required.d/20-b".to_owned(),
                    t.path().join("usr/lib/update-all/health.d/required.d/20-b")
                ),
            ]
        );
    }
}
