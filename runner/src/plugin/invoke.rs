//! Runs one plugin command as the invoking user, the way `update-all
//! check` and `update-all plugins` call plugins outside their units: stdin
//! `/dev/null`, the manifest's settings in the environment, stdout and
//! stderr captured, and a timeout from the manifest after which the
//! plugin's whole process group is killed. What it returns, a
//! [`PluginRun`], is the plugin protocol's to read (`update_all_protocol`).

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};
use update_all_core::inventory::Plugin;
use update_all_core::manifest::Timeouts;
use update_all_core::names::setting_variable;
use update_all_core::Env;
use update_all_protocol::{Command, Exit, PluginRun};

/// After the timeout's SIGTERM, how long the plugin has to clean up before
/// SIGKILL.
pub const GRACE: Duration = Duration::from_secs(3);
/// After the plugin exits, how long a process it left behind (in its group)
/// may keep stdout or stderr open before the group is killed.
const DRAIN: Duration = Duration::from_secs(2);
/// Most bytes of stdout kept (a document for thousands of packages fits).
const STDOUT_MAX: usize = 64 << 20;
/// Most bytes of stderr kept: the last ones, where the errors are.
const STDERR_MAX: usize = 1 << 20;

/// What it takes to call one plugin. Plain data: cheap to clone, and
/// usable from several threads at once.
#[derive(Clone, Debug)]
pub struct Invoker {
    /// The plugin's name, for messages.
    pub plugin: String,
    /// The executable as this process runs it (under `UPDATE_ALL_ROOT`).
    pub executable: PathBuf,
    /// `UPDATE_ALL_<PLUGIN>_<KEY>` for each manifest setting.
    pub env: Vec<(String, String)>,
    pub timeouts: Timeouts,
}

impl Invoker {
    /// The invoker for `plugin`, its executable resolved under `env`'s
    /// root. Only the generator's inventory makes a [`Plugin`], and only
    /// of a manifest and an executable that passed its trust checks: a
    /// refused plugin has none, and so cannot be run.
    pub fn new(plugin: &Plugin, env: &Env) -> Self {
        let manifest = &plugin.manifest;
        let name = manifest.name.as_str();
        Invoker {
            plugin: name.to_owned(),
            executable: env.resolve(std::path::Path::new(manifest.executable.as_str())),
            env: manifest
                .settings
                .iter()
                .map(|(k, v)| (setting_variable(name, k.as_str()), v.as_str().to_owned()))
                .collect(),
            timeouts: manifest.timeouts.clone(),
        }
    }

    /// Runs `<executable> <command>` with the command's timeout from the
    /// manifest ([`Command::timeout`]).
    pub fn run(&self, command: Command) -> PluginRun {
        let (timeout, setting) = command.timeout(&self.timeouts);
        self.run_for(command, timeout, setting)
    }

    /// Runs `<executable> <command>`, killing it after `timeout`;
    /// `setting` names the manifest key that sets it, for the message.
    /// stderr keeps its last [`STDERR_MAX`] bytes.
    pub fn run_for(&self, command: Command, timeout: Duration, setting: &'static str) -> PluginRun {
        let start = Instant::now();
        let finish = |exit, stdout, stderr| PluginRun {
            plugin: self.plugin.clone(),
            command,
            exit,
            stdout,
            stderr,
            elapsed: start.elapsed(),
        };
        let spawned = std::process::Command::new(&self.executable)
            .arg(command.as_str())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own group, so that the timeout reaches the tools it runs.
            .process_group(0)
            // As run by hand: these are only set inside the plugin's units.
            .env_remove("UPDATE_ALL_PLUGIN")
            .env_remove("UPDATE_ALL_PHASE")
            .env_remove("NOTIFY_SOCKET")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => {
                let why = format!("cannot run {}: {e}", self.executable.display());
                return finish(Exit::NotStarted(why), Vec::new(), Vec::new());
            }
        };
        let group = Pid::from_raw(i32::try_from(child.id()).unwrap_or(0));
        let (sent, received) = mpsc::channel();
        let mut open = 0;
        if let Some(s) = child.stdout.take() {
            read_all(s, Stream::Stdout, sent.clone());
            open += 1;
        }
        if let Some(s) = child.stderr.take() {
            read_all(s, Stream::Stderr, sent.clone());
            open += 1;
        }
        drop(sent);
        let exit = wait(child, group, timeout, setting);
        // A process left behind in the group may hold the pipes open.
        let mut out = Output::default();
        let mut deadline = Instant::now() + DRAIN;
        let mut killed = false;
        while open > 0 {
            match received.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok((stream, bytes)) => {
                    open -= 1;
                    match stream {
                        Stream::Stdout => out.stdout = bytes,
                        Stream::Stderr => out.stderr = bytes,
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) if !killed => {
                    let _ = killpg(group, Signal::SIGKILL);
                    killed = true;
                    deadline = Instant::now() + DRAIN;
                }
                // Held open by something outside the group: give up on it.
                Err(_) => break,
            }
        }
        finish(exit, out.stdout, out.stderr)
    }
}

#[derive(Clone, Copy)]
enum Stream {
    Stdout,
    Stderr,
}

#[derive(Default)]
struct Output {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// Reads `from` to its end on a thread of its own and sends what it kept:
/// the start of stdout, the end of stderr.
fn read_all(
    mut from: impl Read + Send + 'static,
    stream: Stream,
    to: mpsc::Sender<(Stream, Vec<u8>)>,
) {
    thread::spawn(move || {
        let mut kept = Vec::new();
        let mut buf = [0u8; 16 << 10];
        loop {
            match from.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    kept.extend_from_slice(&buf[..n]);
                    match stream {
                        Stream::Stdout => kept.truncate(STDOUT_MAX),
                        Stream::Stderr if kept.len() > 2 * STDERR_MAX => {
                            kept.drain(..kept.len() - STDERR_MAX);
                        }
                        Stream::Stderr => {}
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        if kept.len() > STDERR_MAX && matches!(stream, Stream::Stderr) {
            kept.drain(..kept.len() - STDERR_MAX);
        }
        let _ = to.send((stream, kept));
    });
}

/// Waits for `child` until `timeout`; then SIGTERM to its group, and
/// SIGKILL after [`GRACE`].
fn wait(child: Child, group: Pid, timeout: Duration, setting: &'static str) -> Exit {
    let (sent, received) = mpsc::channel();
    let mut child = child;
    thread::spawn(move || {
        let status = loop {
            match child.wait() {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        let _ = sent.send(status);
    });
    let ended = |status: std::io::Result<ExitStatus>| match status {
        Ok(s) => match (s.code(), s.signal()) {
            (Some(code), _) => Exit::Code(code),
            (None, Some(signal)) => Exit::Signal(signal),
            (None, None) => Exit::NotStarted("ended without a status".into()),
        },
        Err(e) => Exit::NotStarted(format!("cannot wait for it: {e}")),
    };
    match received.recv_timeout(timeout) {
        Ok(status) => return ended(status),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            return Exit::NotStarted("its waiter ended".into())
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {}
    }
    let _ = killpg(group, Signal::SIGTERM);
    if received.recv_timeout(GRACE).is_err() {
        let _ = killpg(group, Signal::SIGKILL);
        let _ = received.recv();
    }
    Exit::TimedOut {
        after: timeout,
        setting,
    }
}
