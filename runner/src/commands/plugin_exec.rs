//! `update-all plugin-exec -- EXECUTABLE PHASE`: how generated plugin units
//! start their plugin (`ExecStart=`, with `NotifyAccess=main`).
//!
//! The plugin's stdout is inherited (the journal). Its stderr is read line
//! by line: a progress line of the plugin protocol
//! (`{"type":"progress","percent":45,"message":"…"}`, docs/plugin-protocol.md)
//! becomes the unit's status text through sd_notify (`STATUS=45% …`), which
//! `systemctl status` and `update-all run` show; every other line is passed
//! on unchanged. Without `$NOTIFY_SOCKET` (run by hand) every line is passed
//! on. SIGTERM, SIGINT and SIGHUP are forwarded to the plugin's process
//! group. The exit status is the plugin's; a plugin killed by a signal
//! (SIGKILL of the OOM killer, SIGTERM of a stop) kills this process with the
//! same signal, so systemd judges the unit as if it ran the plugin itself
//! (128 + signal instead for signals that would dump core).

use clap::Args;
use nix::libc;
use std::ffi::{OsStr, OsString};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitCode, ExitStatus, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};

#[derive(Debug, Args)]
pub struct PluginExecArgs {
    /// The plugin's executable and its arguments, after `--`.
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<OsString>,
}

/// Longest status text sent, in characters.
const STATUS_MAX: usize = 200;

/// The plugin's process group, once it runs; 0 before.
static GROUP: AtomicI32 = AtomicI32::new(0);
/// The last signal received (forwarded by whoever sees both it and GROUP).
static PENDING: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(signal: libc::c_int) {
    // Only async-signal-safe calls here: atomics and kill(2).
    PENDING.store(signal, Ordering::SeqCst);
    let group = GROUP.load(Ordering::SeqCst);
    if group > 0 {
        // SAFETY: kill(2) is async-signal-safe and takes plain integers.
        unsafe { libc::kill(-group, signal) };
    }
}

fn install_forwarding() {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    // SA_RESTART: the stderr read goes on after the handler.
    let action = SigAction::new(
        SigHandler::Handler(forward),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for signal in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        // SAFETY: the handler above only touches atomics and calls kill(2).
        if let Err(e) = unsafe { sigaction(signal, &action) } {
            eprintln!("update-all plugin-exec: cannot forward {signal}: {e}");
        }
    }
}

pub fn run(args: &PluginExecArgs) -> ExitCode {
    let Some((program, rest)) = args.command.split_first() else {
        eprintln!("update-all plugin-exec: no command given");
        return ExitCode::from(2);
    };
    let mut notifier = Notifier::from_env();
    install_forwarding();
    let spawned = Command::new(program)
        .args(rest)
        .stderr(Stdio::piped())
        // Its own group, so a forwarded signal reaches the tools it runs too.
        .process_group(0)
        // NotifyAccess=main would drop the plugin's own messages anyway.
        .env_remove("NOTIFY_SOCKET")
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            eprintln!(
                "update-all plugin-exec: cannot run {}: {e}",
                program.to_string_lossy()
            );
            return ExitCode::from(if e.kind() == io::ErrorKind::NotFound {
                127
            } else {
                126
            });
        }
    };
    let pid = i32::try_from(child.id()).unwrap_or(0);
    GROUP.store(pid, Ordering::SeqCst);
    let early = PENDING.load(Ordering::SeqCst);
    if early != 0 && pid > 0 {
        // A signal that came before the group existed.
        // SAFETY: plain kill(2).
        unsafe { libc::kill(-pid, early) };
    }
    if let Some(stderr) = child.stderr.take() {
        relay(stderr, io::stderr(), notifier.as_mut());
    }
    let status = loop {
        match child.wait() {
            Ok(status) => break status,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                eprintln!("update-all plugin-exec: cannot wait for the plugin: {e}");
                return ExitCode::from(1);
            }
        }
    };
    if let Some(n) = notifier.as_mut() {
        n.status(&final_status(rest.last().map(OsString::as_os_str), status));
    }
    if let Some(signal) = status.signal().filter(|_| !status.core_dumped()) {
        die_like(signal);
    }
    ExitCode::from(exit_code(status))
}

/// Ends this process with `signal` unless its default action dumps core
/// (then the caller exits with 128 + signal rather than leave a core of the
/// runner behind).
fn die_like(signal: i32) {
    use nix::sys::signal::{raise, signal as set_handler, SigHandler, Signal};
    let Ok(signal) = Signal::try_from(signal) else {
        return;
    };
    if matches!(
        signal,
        Signal::SIGQUIT
            | Signal::SIGILL
            | Signal::SIGTRAP
            | Signal::SIGABRT
            | Signal::SIGBUS
            | Signal::SIGFPE
            | Signal::SIGSEGV
            | Signal::SIGXCPU
            | Signal::SIGXFSZ
            | Signal::SIGSYS
    ) {
        return;
    }
    if signal != Signal::SIGKILL && signal != Signal::SIGSTOP {
        // SAFETY: restoring the default disposition installs no handler.
        let _ = unsafe { set_handler(signal, SigHandler::SigDfl) };
    }
    let _ = io::stderr().flush();
    let _ = raise(signal);
}

/// The plugin's exit status, or 128 + the signal that ended it.
fn exit_code(status: ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code).unwrap_or(1),
        (None, Some(signal)) => u8::try_from(128 + signal).unwrap_or(255),
        (None, None) => 1,
    }
}

/// The status text left behind when the plugin has ended.
fn final_status(phase: Option<&OsStr>, status: ExitStatus) -> String {
    let phase = phase.map_or("plugin".into(), OsStr::to_string_lossy);
    match (status.code(), status.signal()) {
        (Some(0), _) => format!("{phase} finished"),
        (Some(code), _) => format!("{phase} failed with exit status {code}"),
        (None, Some(signal)) => format!("{phase} killed by signal {signal}"),
        (None, None) => format!("{phase} ended"),
    }
}

/// Copies `from` to `to` line by line, turning progress lines into status
/// text when there is a notifier. Bytes that are not UTF-8 pass unchanged.
fn relay(from: impl Read, mut to: impl Write, mut notifier: Option<&mut Notifier>) {
    let mut reader = BufReader::new(from);
    let mut line = Vec::with_capacity(256);
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) => {
                eprintln!("update-all plugin-exec: cannot read the plugin's stderr: {e}");
                // Keep the plugin from blocking on a full pipe.
                let _ = io::copy(&mut reader, &mut io::sink());
                return;
            }
        }
        if let Some(n) = notifier.as_deref_mut() {
            if let Some(text) = progress_status(&line) {
                n.status(&text);
                continue;
            }
        }
        let _ = to.write_all(&line).and_then(|()| to.flush());
    }
}

/// The status text for a progress line (plan 4.5): `45% Downloading …`, or
/// just the message when the percentage is null or missing. `None` for any
/// other line.
pub fn progress_status(line: &[u8]) -> Option<String> {
    let line = line.trim_ascii();
    if !line.starts_with(b"{") {
        return None;
    }
    let value: serde_json::Value = serde_json::from_slice(line).ok()?;
    let object = value.as_object()?;
    if object.get("type")?.as_str()? != "progress" {
        return None;
    }
    // One line of text: sd_notify separates assignments by newlines.
    let message: String = object
        .get("message")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("")
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(STATUS_MAX)
        .collect();
    let message = message.trim();
    let text = match object.get("percent").and_then(serde_json::Value::as_f64) {
        Some(p) => format!("{}% {message}", p.clamp(0.0, 100.0).round()),
        None => message.to_owned(),
    };
    Some(text.trim_end().to_owned())
}

/// sd_notify(3) over `$NOTIFY_SOCKET`: a path or an abstract (`@`) socket.
struct Notifier {
    socket: UnixDatagram,
    address: SocketAddr,
    last: String,
}

impl Notifier {
    fn from_env() -> Option<Self> {
        Self::new(&std::env::var_os("NOTIFY_SOCKET")?)
    }

    fn new(path: &OsStr) -> Option<Self> {
        let bytes = path.as_bytes();
        let address = match bytes.first() {
            Some(b'@') => SocketAddr::from_abstract_name(&bytes[1..]),
            Some(b'/') => SocketAddr::from_pathname(path),
            _ => return None,
        }
        .ok()?;
        let socket = UnixDatagram::unbound().ok()?;
        Some(Notifier {
            socket,
            address,
            last: String::new(),
        })
    }

    /// Sends `STATUS=text` unless it is the text already shown.
    fn status(&mut self, text: &str) {
        if text == self.last {
            return;
        }
        let message = format!("STATUS={text}");
        if let Err(e) = self.socket.send_to_addr(message.as_bytes(), &self.address) {
            eprintln!("update-all plugin-exec: cannot set the status text: {e}");
        }
        text.clone_into(&mut self.last);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_lines_become_status_text() {
        let status = |s: &str| progress_status(s.as_bytes());
        assert_eq!(
            status(r#"{"type":"progress","percent":45,"message":"Downloading package 3/10"}"#)
                .as_deref(),
            Some("45% Downloading package 3/10")
        );
        assert_eq!(
            status("{\"type\": \"progress\", \"percent\": 45.6, \"message\": \"a\\nb\"}\n")
                .as_deref(),
            Some("46% a b")
        );
        assert_eq!(
            status(r#"{"type":"progress","percent":null,"message":"Refreshing"}"#).as_deref(),
            Some("Refreshing")
        );
        assert_eq!(
            status(r#"{"type":"progress","percent":250}"#).as_deref(),
            Some("100%")
        );
        assert_eq!(status(r#"{"type":"log","message":"x"}"#), None);
        assert_eq!(status(r#"{"type":"progress""#), None);
        assert_eq!(status("Get:1 http://deb.debian.org 45%"), None);
        assert_eq!(status(r#"["progress"]"#), None);
        let long = format!(r#"{{"type":"progress","message":"{}"}}"#, "é".repeat(500));
        assert_eq!(status(&long).unwrap().chars().count(), STATUS_MAX);
    }

    #[test]
    fn exit_codes_follow_the_shell() {
        assert_eq!(exit_code(ExitStatus::from_raw(0)), 0);
        assert_eq!(exit_code(ExitStatus::from_raw(3 << 8)), 3);
        assert_eq!(exit_code(ExitStatus::from_raw(15)), 143);
        assert_eq!(
            final_status(Some(OsStr::new("update")), ExitStatus::from_raw(1 << 8)),
            "update failed with exit status 1"
        );
    }

    const INPUT: &[u8] = b"one\n{\"type\":\"progress\",\"percent\":45,\"message\":\"Get 3/10\"}\nnot \xff utf-8\n{\"type\":\"progress\",\"percent\":45,\"message\":\"Get 3/10\"}\nlast, no newline";

    #[test]
    fn without_a_socket_every_line_passes() {
        let mut out = Vec::new();
        relay(INPUT, &mut out, None);
        assert_eq!(out, INPUT);
    }

    #[test]
    fn progress_goes_to_the_socket_and_the_rest_passes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let systemd = UnixDatagram::bind(&path).unwrap();
        systemd.set_nonblocking(true).unwrap();
        let mut notifier = Notifier::new(path.as_os_str()).unwrap();
        let mut out = Vec::new();
        relay(INPUT, &mut out, Some(&mut notifier));
        assert_eq!(out, b"one\nnot \xff utf-8\nlast, no newline");
        let mut buf = [0u8; 512];
        let n = systemd.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STATUS=45% Get 3/10");
        // The same text twice is sent once.
        assert!(systemd.recv(&mut buf).is_err());
        assert!(Notifier::new(OsStr::new("relative")).is_none());
    }
}
