//! `update-all plugin-exec -- EXECUTABLE PHASE`: how generated plugin units
//! start their plugin (`ExecStart=`, with `NotifyAccess=main`).
//! (`plugin-exec --condition --writes PATH… -- EXECUTABLE PHASE` is the
//! `ExecCondition=` of a plugin that names the paths it writes: see
//! `run::preflight::space`.)
//!
//! The plugin's stdout is passed on unchanged (to the journal), and its end
//! kept: the JSON document the command ended with. Its stderr is read line
//! by line: a progress line of the plugin protocol
//! (`{"type":"progress","percent":45,"message":"…"}`, docs/plugin-protocol.md)
//! becomes the unit's status text through sd_notify (`STATUS=45% …`), which
//! `systemctl status` and `update-all run` show; every other line is passed
//! on unchanged. Without `$NOTIFY_SOCKET` (run by hand) every line is passed
//! on. SIGTERM, SIGINT and SIGHUP are forwarded to the plugin's process
//! group.
//!
//! The relay runs while the plugin does, and ends once the plugin has
//! exited and its stderr reaches end-of-file, or at the latest [`DRAIN`]
//! after the exit: a child the plugin left behind (a daemon restarted by a
//! package script) may hold stderr open for as long as it lives, and must
//! not hold the unit with it. What the plugin wrote before it exited is in
//! the pipe by then and still passed on; systemd then ends what is left
//! (`KillMode=control-group`).
//!
//! A command that ends with a transient error (a document whose code is
//! `NETWORK_ERROR`, `TIMEOUT`, `TEMPORARY_FAILURE` or `LOCKED`, see
//! `crate::retry`) runs again, in this same process and unit, after the
//! waits of the configuration's `retries` (2 s, then 4 s, 3 attempts in all
//! by default; docs/configuration.md). Each attempt after the first is
//! logged (`attempt 2/3`, journal field `UPDATE_ALL_ATTEMPT`) and its
//! status texts begin with `attempt 2/3: `, so `update-all run` shows it
//! and the recorder counts the attempts. A signal ends it all: no attempt
//! follows one, and it cuts a wait short. Nothing else is retried.
//!
//! The exit status is the last attempt's plugin's; a plugin killed by a signal
//! (SIGKILL of the OOM killer, SIGTERM of a stop) kills this process with the
//! same signal, so systemd judges the unit as if it ran the plugin itself
//! (128 + signal instead for signals that would dump core).

use crate::cli::PluginExecArgs;
use crate::plugin::policy;
use crate::plugin::unit::UnitPlugin;
use crate::retry::{self, Attempt};
use crate::run::preflight::space;
use crate::sd_notify::Notify;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::{pipe2, Pid};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::thread;
use std::time::{Duration, Instant};
use update_all_core::config::{self, RestartServices, Retries};
use update_all_core::{Env, Scope};
use update_all_protocol::{progress_status, Document};

/// How long the plugin's stderr is still read once the plugin has exited,
/// at most, while something it left behind keeps the pipe open.
const DRAIN: Drain = Drain {
    quiet: Duration::from_millis(200),
    most: Duration::from_secs(2),
};

/// The end of the relay after the plugin has exited: at end-of-file, after
/// `quiet` without output, or `most` after the exit, whichever comes first.
#[derive(Clone, Copy, Debug)]
struct Drain {
    quiet: Duration,
    most: Duration,
}

/// A line longer than this is passed on in pieces.
const LINE_MAX: usize = 64 * 1024;

/// How much of the end of stdout is kept to find the document in.
const STDOUT_KEPT: usize = 1024 * 1024;

/// The plugin's process group, once it runs; 0 before.
static GROUP: AtomicI32 = AtomicI32::new(0);
/// The last signal received (forwarded by whoever sees both it and GROUP).
static PENDING: AtomicI32 = AtomicI32::new(0);

/// Sends `signal` (a number) to the plugin's process group.
fn signal_group(group: i32, signal: i32) {
    // Async-signal-safe: plain conversions and kill(2).
    if let Ok(signal) = Signal::try_from(signal) {
        let _ = killpg(Pid::from_raw(group), signal);
    }
}

extern "C" fn forward(signal: nix::libc::c_int) {
    // Only async-signal-safe calls here: atomics and kill(2).
    PENDING.store(signal, Ordering::SeqCst);
    let group = GROUP.load(Ordering::SeqCst);
    if group > 0 {
        signal_group(group, signal);
    }
}

fn install_forwarding() {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet};
    // SA_RESTART: reads and waits go on after the handler.
    let action = SigAction::new(
        SigHandler::Handler(forward),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for signal in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        // SAFETY: the handler above only touches atomics and calls kill(2),
        // both async-signal-safe. nix's sigaction is unsafe by design: no
        // wrapper can check what a handler does.
        if let Err(e) = unsafe { sigaction(signal, &action) } {
            tracing::warn!("plugin-exec: cannot forward {signal}: {e}");
        }
    }
}

pub fn run(scope: Scope, args: &PluginExecArgs) -> ExitCode {
    let Some((program, rest)) = args.command.split_first() else {
        tracing::error!("plugin-exec: no command given");
        return ExitCode::from(2);
    };
    if args.condition {
        return ExitCode::from(space::condition(&space::Request {
            plugin: &std::env::var("UPDATE_ALL_PLUGIN").unwrap_or_else(|_| "the plugin".into()),
            executable: std::path::Path::new(program),
            writes: &args.writes,
            downloaded: args.downloaded,
            scope,
        }));
    }
    let notifier = Notifier::from_env();
    install_forwarding();
    // Shutdown and sleep wait while an update installs: held until this
    // process ends, right after the plugin's (crate::inhibit). Asked for
    // beside the plugin's start, so logind's round trip (and its start on
    // a machine that has not needed it yet) is not added to every update.
    let inhibitor = {
        let (program, phase) = (program.clone(), rest.last().cloned());
        thread::spawn(move || crate::inhibit::for_phase(&program, phase.as_deref()))
    };
    let phase = rest.last().map_or("plugin".into(), |p| p.to_string_lossy());
    let mut relay = Relay::new(io::stderr(), notifier);
    // An update reads its scope's configuration and manifests once, for
    // what it learns from them: `services.restart` (docs/configuration.md,
    // "Services"), its update policy (docs/plugin-protocol.md, "Update
    // policies"), and whether its rollback needs an estimate first
    // (docs/safety.md).
    let plugin = std::env::var("UPDATE_ALL_PLUGIN").ok();
    let unit = (phase == "update")
        .then(|| UnitPlugin::load(scope, plugin.as_deref(), std::path::Path::new(program)));
    let restart = unit.as_ref().map(|u| u.config.services.restart);
    let policy = unit.as_ref().map(policy::for_unit).unwrap_or_default();
    if let Some(unit) = &unit {
        crate::rollback::estimates::before_update(scope, unit);
    }
    // Read when the first transient failure asks for it: a run without
    // one reads no configuration (the recorder reports its problems).
    let mut retries: Option<Retries> = None;
    let mut attempt = Attempt { number: 1, of: 1 };
    let status = loop {
        let (status, answer) = match run_once(program, rest, restart, &policy, &mut relay) {
            Ok(ended) => ended,
            Err(code) => return code,
        };
        let Some(error) = retry::transient(answer.as_ref()) else {
            crate::reboot::marker::note_answer(scope, program, rest.last(), answer.as_ref());
            if let Some(plugin) = plugin.as_deref().filter(|_| phase == "update") {
                policy::record_held(scope, plugin, answer.as_ref());
            }
            break status;
        };
        let retries = retries.get_or_insert_with(|| match &unit {
            Some(u) => u.config.retries,
            None => configured(scope),
        });
        attempt.of = retries.attempts;
        let stopped = PENDING.load(Ordering::SeqCst) != 0 || status.signal().is_some();
        if stopped || attempt.number >= attempt.of {
            tracing::warn!(
                update_all_attempt = attempt.number,
                "{phase} failed with {error} at {attempt}{}",
                if stopped {
                    ", and was stopped"
                } else {
                    "; no attempt is left"
                }
            );
            break status;
        }
        let wait = retry::delay_before(retries, attempt.number + 1);
        if let Some(n) = relay.notifier.as_mut() {
            n.status(&attempt.waiting(error, wait));
        }
        tracing::warn!(
            update_all_attempt = attempt.number,
            "{phase} failed with {error} at {attempt}; it runs again in {}",
            retry::wait_text(wait)
        );
        if !pause(wait) {
            // Stopped while waiting: as if the signal had ended the plugin.
            die_like(PENDING.load(Ordering::SeqCst));
            return ExitCode::from(exit_code(status));
        }
        attempt.number += 1;
        relay.attempt = attempt;
        tracing::info!(
            update_all_attempt = attempt.number,
            "{attempt}: {phase} starts again"
        );
    };
    // The lock, if logind gave one, is released as this process ends.
    let _inhibitor = inhibitor.join().ok().flatten();
    if let Some(n) = relay.notifier.as_mut() {
        n.status(&attempt.status(&final_status(&phase, status)));
    }
    if let Some(signal) = status.signal().filter(|_| !status.core_dumped()) {
        die_like(signal);
    }
    ExitCode::from(exit_code(status))
}

/// The retries of `scope`'s configuration (its defaults when it cannot be
/// read).
fn configured(scope: Scope) -> Retries {
    config::load(&Env::from_process(Some(scope))).0.retries
}

/// Runs the plugin once, relaying its output: its exit status and the
/// document it ended with, if any. `Err`: it could not be started, or
/// waited for; the exit code to end with. `restart`, for an update, goes
/// to the plugin as `UPDATE_ALL_SERVICES_RESTART`; `policy` is its
/// `UPDATE_ALL_POLICY_*` variables (`crate::plugin::policy`).
fn run_once<W: Write>(
    program: &OsStr,
    args: &[OsString],
    restart: Option<RestartServices>,
    policy: &[(&'static str, String)],
    relay: &mut Relay<W>,
) -> Result<(ExitStatus, Option<Document>), ExitCode> {
    let spawned = Command::new(program)
        .args(args)
        .envs(restart.map(|r| (RestartServices::VAR, r.as_str())))
        .envs(policy.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group, so a forwarded signal reaches the tools it runs too.
        .process_group(0)
        // NotifyAccess=main would drop the plugin's own messages anyway.
        .env_remove("NOTIFY_SOCKET")
        .spawn();
    let child = match spawned {
        Ok(child) => child,
        Err(e) => {
            tracing::error!("plugin-exec: cannot run {}: {e}", program.to_string_lossy());
            return Err(ExitCode::from(if e.kind() == io::ErrorKind::NotFound {
                127
            } else {
                126
            }));
        }
    };
    let pid = i32::try_from(child.id()).unwrap_or(0);
    GROUP.store(pid, Ordering::SeqCst);
    let early = PENDING.load(Ordering::SeqCst);
    if early != 0 && pid > 0 {
        // A signal that came before the group existed.
        signal_group(pid, early);
    }
    let mut tee = Tee::new(io::stdout());
    let waited = supervise(child, relay, &mut tee, DRAIN);
    // What the plugin left behind is systemd's to end, not a signal's.
    GROUP.store(0, Ordering::SeqCst);
    match waited {
        Ok(status) => Ok((status, tee.document())),
        Err(e) => {
            tracing::error!("plugin-exec: cannot wait for the plugin: {e}");
            Err(ExitCode::from(1))
        }
    }
}

/// Waits `wait`, or until SIGTERM, SIGINT or SIGHUP comes (the handler
/// above notes it in `PENDING`); says whether the wait ran out.
fn pause(wait: Duration) -> bool {
    use nix::poll::ppoll;
    use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow};
    use nix::sys::time::TimeSpec;
    /// The longest sleep between looks at `PENDING`, should a signal go to
    /// another thread than this one (whose ppoll it would not wake).
    const SLICE: Duration = Duration::from_millis(100);
    let mut stops = SigSet::empty();
    for signal in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        stops.add(signal);
    }
    // Blocked while PENDING is looked at, let through only inside ppoll:
    // a signal cannot slip in between the look and the sleep.
    let mut before = SigSet::empty();
    let blocked = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&stops), Some(&mut before)).is_ok();
    let mut open = before;
    for signal in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        open.remove(signal);
    }
    let end = Instant::now() + wait;
    let ran_out = loop {
        if PENDING.load(Ordering::SeqCst) != 0 {
            break false;
        }
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break true;
        }
        let slice = TimeSpec::from_duration(left.min(SLICE));
        let _ = ppoll(&mut [], Some(slice), blocked.then_some(open));
    };
    if blocked {
        let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&before), None);
    }
    ran_out
}

/// Waits for `child` while relaying its stderr (if piped) through `relay`
/// and its stdout (if piped) through `tee`. Returns once it has exited and
/// both have reached end-of-file or been drained as `drain` allows:
/// whatever the plugin left running may hold the pipes open for as long as
/// it lives.
fn supervise<W: Write, O: Write>(
    mut child: Child,
    relay: &mut Relay<W>,
    tee: &mut Tee<O>,
    drain: Drain,
) -> io::Result<ExitStatus> {
    let stderr = child.stderr.take().map(OwnedFd::from);
    let stdout = child.stdout.take().map(OwnedFd::from);
    // Closed when the child has been reaped: poll(2) sees the hangup.
    let (exited, exiting) = pipe2(OFlag::O_CLOEXEC)?;
    let waiter = thread::spawn(move || {
        let status = child.wait();
        drop(exiting);
        status
    });
    let mut sources: Vec<(File, &mut dyn Sink)> = Vec::new();
    if let Some(stderr) = stderr {
        sources.push((stderr.into(), relay));
    }
    if let Some(stdout) = stdout {
        sources.push((stdout.into(), tee));
    }
    pump(sources, exited.as_fd(), drain);
    waiter
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("the waiting thread panicked")))
}

/// Where [`pump`] puts what it reads from one of the plugin's pipes.
trait Sink {
    fn feed(&mut self, bytes: &[u8]);
    /// The pipe has ended (or is given up on).
    fn finish(&mut self);
}

/// Relays each source into its sink until end-of-file, or, once `exited`
/// is readable or hung up, until `drain` ends it; the sources are closed on
/// return, so whatever still writes to them gets EPIPE rather than
/// blocking on a full pipe.
fn pump<R: Read + AsFd>(mut sources: Vec<(R, &mut dyn Sink)>, exited: BorrowedFd, drain: Drain) {
    let mut buf = vec![0u8; 16 * 1024];
    // Once the plugin has exited: when the drain ends at the latest.
    let mut last_call: Option<Instant> = None;
    let mut quiet_until: Option<Instant> = None;
    while !sources.is_empty() {
        let timeout = match (last_call, quiet_until) {
            (Some(last), Some(quiet)) => {
                let left = last.min(quiet).saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                // Rounded up, so the deadline has passed when poll returns.
                let ms = left.as_millis().saturating_add(1);
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
            }
            _ => PollTimeout::NONE,
        };
        let mut fds: Vec<PollFd> = sources
            .iter()
            .map(|(from, _)| PollFd::new(from.as_fd(), PollFlags::POLLIN))
            .collect();
        if last_call.is_none() {
            fds.push(PollFd::new(exited, PollFlags::POLLIN));
        }
        match poll(&mut fds, timeout) {
            Ok(_) => {}
            Err(Errno::EINTR) => continue,
            Err(e) => {
                tracing::warn!("plugin-exec: cannot wait for the plugin's output: {e}");
                break;
            }
        }
        let ready: Vec<bool> = fds.iter().map(|f| f.any().unwrap_or(true)).collect();
        if last_call.is_none() && ready[sources.len()] {
            let now = Instant::now();
            last_call = Some(now + drain.most);
            quiet_until = Some(now + drain.quiet);
        }
        let mut ended = Vec::new();
        for (i, (from, to)) in sources.iter_mut().enumerate() {
            if !ready[i] {
                continue;
            }
            // poll said readable: this read does not block.
            match from.read(&mut buf) {
                Ok(0) => ended.push(i),
                Ok(n) => {
                    to.feed(&buf[..n]);
                    if last_call.is_some() {
                        quiet_until = Some(Instant::now() + drain.quiet);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::warn!("plugin-exec: cannot read the plugin's output: {e}");
                    ended.push(i);
                }
            }
        }
        for i in ended.into_iter().rev() {
            sources.remove(i).1.finish();
        }
    }
    for (_, to) in sources {
        to.finish();
    }
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
        // SAFETY: restoring the default disposition installs no handler,
        // so nothing can run in signal context. nix's signal() is unsafe
        // for every disposition, this harmless one included.
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
fn final_status(phase: &str, status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(0), _) => format!("{phase} finished"),
        (Some(code), _) => format!("{phase} failed with exit status {code}"),
        (None, Some(signal)) => format!("{phase} killed by signal {signal}"),
        (None, None) => format!("{phase} ended"),
    }
}

/// Passes the plugin's stderr on line by line, turning progress lines into
/// status text when there is a notifier. Bytes that are not UTF-8 pass
/// unchanged.
struct Relay<W: Write> {
    to: W,
    notifier: Option<Notifier>,
    /// Which attempt the progress is of (see `Attempt::status`).
    attempt: Attempt,
    /// The start of a line whose end has not come yet.
    line: Vec<u8>,
}

impl<W: Write> Sink for Relay<W> {
    fn feed(&mut self, bytes: &[u8]) {
        Relay::feed(self, bytes);
    }
    fn finish(&mut self) {
        Relay::finish(self);
    }
}

impl<W: Write> Relay<W> {
    fn new(to: W, notifier: Option<Notifier>) -> Self {
        Relay {
            to,
            notifier,
            attempt: Attempt { number: 1, of: 1 },
            line: Vec::with_capacity(256),
        }
    }

    /// Passes on every line `bytes` completes; keeps the rest.
    fn feed(&mut self, mut bytes: &[u8]) {
        while let Some(end) = bytes.iter().position(|&b| b == b'\n') {
            self.line.extend_from_slice(&bytes[..=end]);
            self.emit();
            bytes = &bytes[end + 1..];
        }
        self.line.extend_from_slice(bytes);
        if self.line.len() >= LINE_MAX {
            self.emit();
        }
    }

    /// Passes on what is left of the last line.
    fn finish(&mut self) {
        if !self.line.is_empty() {
            self.emit();
        }
    }

    fn emit(&mut self) {
        let progress = self
            .notifier
            .as_mut()
            .and_then(|n| Some((n, progress_status(&self.line)?)));
        if let Some((n, text)) = progress {
            n.status(&self.attempt.status(&text));
        } else {
            let _ = self.to.write_all(&self.line).and_then(|()| self.to.flush());
        }
        self.line.clear();
    }
}

/// Passes the plugin's stdout on unchanged and keeps its end, where the
/// document the command ended with is.
struct Tee<W: Write> {
    to: W,
    /// The last [`STDOUT_KEPT`] bytes at least.
    kept: Vec<u8>,
}

impl<W: Write> Tee<W> {
    fn new(to: W) -> Self {
        Tee {
            to,
            kept: Vec::new(),
        }
    }

    /// The document stdout ended with (see `Document::parse_last`).
    fn document(&self) -> Option<Document> {
        Document::parse_last(&self.kept)
    }
}

impl<W: Write> Sink for Tee<W> {
    fn feed(&mut self, bytes: &[u8]) {
        let _ = self.to.write_all(bytes).and_then(|()| self.to.flush());
        self.kept.extend_from_slice(bytes);
        if self.kept.len() > 2 * STDOUT_KEPT {
            self.kept.drain(..self.kept.len() - STDOUT_KEPT);
        }
    }
    fn finish(&mut self) {}
}

/// The unit's status text, through sd_notify(3) (`crate::sd_notify`).
struct Notifier {
    systemd: Notify,
    last: String,
}

impl Notifier {
    /// `None` without a usable `$NOTIFY_SOCKET` (run by hand).
    fn from_env() -> Option<Self> {
        Notify::from_env()?.ok().map(Notifier::with)
    }

    fn with(systemd: Notify) -> Self {
        Notifier {
            systemd,
            last: String::new(),
        }
    }

    /// Sends `STATUS=text` unless it is the text already shown.
    fn status(&mut self, text: &str) {
        if text == self.last {
            return;
        }
        if let Err(e) = self.systemd.send(&format!("STATUS={text}")) {
            tracing::warn!("plugin-exec: cannot set the status text: {e}");
        }
        text.clone_into(&mut self.last);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_shell() {
        assert_eq!(exit_code(ExitStatus::from_raw(0)), 0);
        assert_eq!(exit_code(ExitStatus::from_raw(3 << 8)), 3);
        assert_eq!(exit_code(ExitStatus::from_raw(15)), 143);
        assert_eq!(
            final_status("update", ExitStatus::from_raw(1 << 8)),
            "update failed with exit status 1"
        );
    }

    const INPUT: &[u8] = b"one\n{\"type\":\"progress\",\"percent\":45,\"message\":\"Get 3/10\"}\nnot \xff utf-8\n{\"type\":\"progress\",\"percent\":45,\"message\":\"Get 3/10\"}\nlast, no newline";

    /// `INPUT` through a relay, in pieces that split lines anywhere.
    fn relayed(notifier: Option<Notifier>) -> Vec<u8> {
        let mut out = Vec::new();
        let mut relay = Relay::new(&mut out, notifier);
        for piece in INPUT.chunks(7) {
            relay.feed(piece);
        }
        relay.finish();
        out
    }

    #[test]
    fn without_a_socket_every_line_passes() {
        assert_eq!(relayed(None), INPUT);
    }

    #[test]
    fn progress_goes_to_the_socket_and_the_rest_passes() {
        use std::os::unix::net::UnixDatagram;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let systemd = UnixDatagram::bind(&path).unwrap();
        systemd.set_nonblocking(true).unwrap();
        let notifier = Notifier::with(Notify::new(path.as_os_str()).unwrap());
        assert_eq!(
            relayed(Some(notifier)),
            b"one\nnot \xff utf-8\nlast, no newline"
        );
        let mut buf = [0u8; 512];
        let n = systemd.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STATUS=45% Get 3/10");
        // The same text twice is sent once.
        assert!(systemd.recv(&mut buf).is_err());
    }

    /// A pipe as files: (read end, write end). Close-on-exec, as
    /// `supervise`'s own: the tests beside this one spawn plugins (whose
    /// `sleep 60` lives on), and a child forked meanwhile would otherwise
    /// hold the read end open, so a write after the relay closed it would
    /// not fail.
    fn pipe() -> (std::fs::File, std::fs::File) {
        let (r, w) = pipe2(OFlag::O_CLOEXEC).unwrap();
        (r.into(), w.into())
    }

    const LONG: Drain = Drain {
        quiet: Duration::from_secs(600),
        most: Duration::from_secs(600),
    };

    #[test]
    fn the_relay_ends_at_end_of_file_while_the_plugin_runs() {
        let (from, mut plugin) = pipe();
        let (exited, _running) = pipe();
        plugin.write_all(b"x\ny").unwrap();
        drop(plugin);
        let mut out = Vec::new();
        pump(
            vec![(from, &mut Relay::new(&mut out, None) as &mut dyn Sink)],
            exited.as_fd(),
            LONG,
        );
        assert_eq!(out, b"x\ny");
    }

    #[test]
    fn after_the_exit_what_was_written_is_passed_on_and_quiet_ends_the_relay() {
        let (from, mut leftover) = pipe();
        let (exited, exiting) = pipe();
        leftover.write_all(b"last words\nno newline").unwrap();
        drop(exiting);
        let drain = Drain {
            quiet: Duration::from_millis(50),
            most: Duration::from_secs(600),
        };
        let mut out = Vec::new();
        pump(
            vec![(from, &mut Relay::new(&mut out, None) as &mut dyn Sink)],
            exited.as_fd(),
            drain,
        );
        assert_eq!(out, b"last words\nno newline");
        // The relay closed its end: the leftover writer is not held.
        assert_eq!(
            leftover.write_all(b"more").unwrap_err().kind(),
            io::ErrorKind::BrokenPipe
        );
    }

    /// Runs `script` as a plugin whose stderr is relayed and whose stdout
    /// is teed; kills its process group afterwards. The exit status, the
    /// stderr passed on, the stdout passed on, the document it ended with
    /// and how long it took.
    fn teed(
        script: &str,
        drain: Drain,
    ) -> (ExitStatus, String, String, Option<Document>, Duration) {
        let child = Command::new("sh")
            .args(["-c", script])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
        let group = Pid::from_raw(i32::try_from(child.id()).unwrap());
        let started = Instant::now();
        let mut err = Vec::new();
        let mut tee = Tee::new(Vec::new());
        let status = supervise(child, &mut Relay::new(&mut err, None), &mut tee, drain).unwrap();
        let took = started.elapsed();
        let _ = killpg(group, Signal::SIGKILL);
        let document = tee.document();
        let out = String::from_utf8(tee.to).unwrap();
        (status, String::from_utf8(err).unwrap(), out, document, took)
    }

    /// [`teed`] without stdout.
    fn supervised(script: &str, drain: Drain) -> (ExitStatus, String, Duration) {
        let (status, err, _, _, took) = teed(script, drain);
        (status, err, took)
    }

    #[test]
    fn stdout_passes_unchanged_and_its_last_document_is_kept() {
        let doc = r#"{"status":"error","data":null,"error":{"code":"LOCKED","message":"held","details":null},"progress":null}"#;
        let (status, err, out, document, _) = teed(
            &format!("echo 'Reading lists'; echo progress >&2; printf '%s\\n' '{doc}'; exit 1"),
            DRAIN,
        );
        assert_eq!(status.code(), Some(1));
        assert_eq!(err, "progress\n");
        assert_eq!(out, format!("Reading lists\n{doc}\n"));
        let document = document.unwrap();
        assert_eq!(retry::transient(Some(&document)).unwrap().code, "LOCKED");
        let (_, _, out, document, _) = teed("printf 'no document'", DRAIN);
        assert_eq!((out.as_str(), document), ("no document", None));
    }

    #[test]
    fn a_leftover_child_holding_stdout_does_not_hold_the_plugin() {
        let (status, _, out, _, took) = teed(
            "echo first; (sleep 60) & exit 0",
            Drain {
                quiet: Duration::from_millis(200),
                most: Duration::from_secs(600),
            },
        );
        assert_eq!(status.code(), Some(0));
        assert_eq!(out, "first\n");
        assert!(took < Duration::from_secs(30), "took {took:?}");
    }

    #[test]
    fn a_wait_runs_out_or_ends_at_a_stop_signal() {
        let started = Instant::now();
        assert!(pause(Duration::from_millis(50)));
        assert!(started.elapsed() >= Duration::from_millis(50));
        // The handler notes a stop in PENDING (here from another thread).
        let stop = thread::spawn(|| {
            thread::sleep(Duration::from_millis(100));
            PENDING.store(15, Ordering::SeqCst);
        });
        let started = Instant::now();
        assert!(!pause(Duration::from_secs(60)));
        assert!(started.elapsed() < Duration::from_secs(5));
        stop.join().unwrap();
        PENDING.store(0, Ordering::SeqCst);
    }

    #[test]
    fn a_leftover_child_holding_stderr_does_not_hold_the_plugin() {
        // `sleep` keeps the pipe open for a minute; the quiet ends the relay.
        let (status, out, took) = supervised(
            "echo first >&2; (sleep 60) & printf 'last, no newline' >&2; exit 3",
            Drain {
                quiet: Duration::from_millis(200),
                most: Duration::from_secs(600),
            },
        );
        assert_eq!(status.code(), Some(3));
        assert_eq!(out, "first\nlast, no newline");
        assert!(took < Duration::from_secs(30), "took {took:?}");
    }

    #[test]
    fn a_leftover_child_that_keeps_talking_is_cut_off() {
        let (status, out, took) = supervised(
            "(while :; do echo chatter >&2; sleep 0.01; done) & echo done >&2; exit 0",
            Drain {
                quiet: Duration::from_secs(600),
                most: Duration::from_millis(300),
            },
        );
        assert_eq!(status.code(), Some(0));
        assert!(out.lines().any(|l| l == "done"), "{out}");
        assert!(took < Duration::from_secs(30), "took {took:?}");
    }
}
