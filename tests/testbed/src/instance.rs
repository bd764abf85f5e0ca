//! The [`Testbed`] handle: boot, interaction, teardown.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs;
use std::io::{self, Write as _};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::{geteuid, Pid};

use crate::boot::{self, Plan, Tools, PATH, SYSTEMD};
use crate::cgroup::{self, CgroupSet, HostCgroups, PREFIX};
use crate::console::Console;
use crate::Error;

/// How long [`Testbed::boot`] waits for the instance to become ready.
const BOOT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long teardown waits for a clean poweroff before SIGKILL.
const POWEROFF_TIMEOUT: Duration = Duration::from_secs(20);
/// How long teardown retries removing the cgroup directories.
const CGROUP_REMOVE_TIMEOUT: Duration = Duration::from_secs(10);

/// A running systemd instance (PID 1 of its own PID namespace).
///
/// Created by [`Testbed::boot`] or [`Testbed::require`]; torn down when
/// dropped (also while unwinding from a panic): systemd is asked to power
/// off, killed if it does not manage within 20 s, and the instance's cgroup
/// directories are removed.
///
/// # What is private and what is shared with the host
///
/// Private to the instance: PID, mount, cgroup, UTS (hostname) and IPC
/// namespaces; tmpfs on `/run`, `/tmp`, `/var/tmp`, `/var/lib/systemd` and
/// `/var/lib/update-all`; a minimal `/dev` (null, zero, full, random,
/// urandom, tty, own devpts, console); `/etc/machine-id` (a random id bind
/// mounted from `/run`); the journal (volatile, in `/run/log/journal`);
/// `/proc/sys` is read-only.
///
/// Shared with the host (writes are visible there!): the root file system
/// including `/etc`, `/usr`, `/home`, `/root` and the rest of `/var` (e.g.
/// `/var/lib/dpkg`, `/var/lib/apt`, `/var/cache`), `/sys` (except
/// `/sys/fs/cgroup`), the network namespace and the user namespace (root
/// inside is root on the host).
#[derive(Debug)]
pub struct Testbed {
    name: String,
    tools: Tools,
    unshare: Child,
    pid1: Option<u32>,
    /// Boot finished: systemd handles SIGRTMIN+4 (poweroff).
    ready: bool,
    cgroups: CgroupSet,
    console: Console,
    torn_down: bool,
}

impl Testbed {
    /// Why no instance can be booted on this machine, or `None` if the
    /// prerequisites are there (root, systemd, util-linux, namespaces,
    /// a recognised cgroup layout).
    pub fn unavailable_reason() -> Option<String> {
        prerequisites().err()
    }

    /// Boots an instance for a test, or explains loudly why it cannot.
    ///
    /// If the machine lacks a prerequisite (see
    /// [`Testbed::unavailable_reason`]) this prints
    /// `TESTBED UNAVAILABLE: <reason>` to stderr and then
    /// * panics if `CI=true`,
    /// * returns `None` if `UPDATE_ALL_SKIP_TESTBED=1` (the test should
    ///   return early: `let Some(tb) = Testbed::require() else { return };`),
    /// * panics otherwise.
    ///
    /// # Panics
    ///
    /// As above, and always when a boot was attempted and failed.
    pub fn require() -> Option<Testbed> {
        if !Testbed::should_run() {
            return None;
        }
        match Testbed::boot() {
            Ok(tb) => Some(tb),
            Err(e) => panic!("testbed boot failed: {e}"),
        }
    }

    /// The policy of [`Testbed::require`] without booting: `true` if
    /// instances can be booted, `false` if the test should be skipped
    /// (after printing `TESTBED UNAVAILABLE: <reason>`).
    ///
    /// For tests that boot several instances themselves, e.g. in parallel:
    /// `if !Testbed::should_run() { return }` then [`Testbed::boot`].
    ///
    /// # Panics
    ///
    /// If the testbed is unavailable and skipping is not allowed (`CI=true`,
    /// or `UPDATE_ALL_SKIP_TESTBED=1` not set).
    pub fn should_run() -> bool {
        let Some(reason) = Testbed::unavailable_reason() else {
            return true;
        };
        // Straight to fd 2: libtest's capture only catches `eprintln!`.
        let _ = writeln!(io::stderr(), "TESTBED UNAVAILABLE: {reason}");
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("TESTBED UNAVAILABLE: {reason} (CI=true: failing)");
        }
        if std::env::var("UPDATE_ALL_SKIP_TESTBED").as_deref() == Ok("1") {
            crate::skip(format!(
                "test bed unavailable: {reason} (UPDATE_ALL_SKIP_TESTBED=1)"
            ));
            return false;
        }
        panic!(
            "TESTBED UNAVAILABLE: {reason} \
             (set UPDATE_ALL_SKIP_TESTBED=1 to skip testbed tests outside CI)"
        );
    }

    /// Boots a fresh instance and waits until it is ready.
    ///
    /// Ready means `systemctl is-system-running --wait` inside answers
    /// `running` or `degraded` (or, failing that, `basic.target` is active).
    /// Gives up after 30 s with the console and journal tail in the error.
    /// Every call creates an independent instance; instances may run in
    /// parallel.
    pub fn boot() -> Result<Testbed, Error> {
        Testbed::boot_with(None, boot::MASKED_UNITS.to_vec(), None)
    }

    /// [`Testbed::boot`] of the host's `/` or of the directory `root`
    /// (see [`Testbed::boot_root`]), with the units `mask` masked, and a
    /// state kept across boots (see [`Testbed::boot_keeping`]).
    pub(crate) fn boot_with(
        root: Option<&Path>,
        mask: Vec<&str>,
        state: Option<&Path>,
    ) -> Result<Testbed, Error> {
        let (tools, host) = prerequisites().map_err(Error::Unavailable)?;
        cgroup::sweep_stale(&host);

        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "{PREFIX}{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let io_err = |context: &str| {
            let context = context.to_string();
            move |source| Error::Io { context, source }
        };
        let console = Console::open().map_err(io_err("cannot allocate a console pty"))?;
        let cgroups = CgroupSet::create(&host, &name).map_err(io_err("cannot create cgroups"))?;
        let spawned = (|| {
            boot::spawn(Plan {
                tools: &tools,
                host: &host,
                procs_files: cgroups.procs_files(),
                console_path: console.slave_path(),
                stdout: console.stdio()?,
                stderr: console.stdio()?,
                machine_id: boot::random_machine_id()?,
                root,
                mask,
                state,
            })
        })();
        let unshare = match spawned {
            Ok(child) => child,
            Err(e) => {
                let _ = cgroups.remove(CGROUP_REMOVE_TIMEOUT);
                return Err(Error::Io {
                    context: format!("cannot start {}", tools.unshare.display()),
                    source: e,
                });
            }
        };
        let mut tb = Testbed {
            name,
            tools,
            unshare,
            pid1: None,
            ready: false,
            cgroups,
            console,
            torn_down: false,
        };
        // On error, dropping `tb` tears down whatever was started.
        tb.wait_ready()?;
        tb.ready = true;
        Ok(tb)
    }

    fn wait_ready(&mut self) -> Result<(), Error> {
        let deadline = Instant::now() + BOOT_TIMEOUT;
        let mut last = String::new();
        loop {
            if let Ok(Some(status)) = self.unshare.try_wait() {
                return Err(Error::Boot(format!(
                    "instance {} exited during boot ({status}){}",
                    self.name,
                    self.diagnostics()
                )));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Boot(format!(
                    "instance {} not ready after {}s (last answer: {last:?}){}",
                    self.name,
                    BOOT_TIMEOUT.as_secs(),
                    self.diagnostics()
                )));
            }
            if self.pid1.is_none() {
                let Some(pid1) = boot::child_of(self.unshare.id()) else {
                    thread::sleep(Duration::from_millis(10));
                    continue;
                };
                self.pid1 = Some(pid1);
                self.release_init()?;
            }
            // Fails fast until systemd listens; then blocks until boot ends.
            let secs = (deadline - now).as_secs().max(1).to_string();
            let out = self.exec(&["timeout", &secs, "systemctl", "is-system-running", "--wait"]);
            let answer = String::from_utf8_lossy(&out.stdout).trim().to_string();
            match answer.as_str() {
                "running" | "degraded" => return Ok(()),
                _ => {
                    let active = self.exec(&["systemctl", "is-active", "basic.target"]);
                    if String::from_utf8_lossy(&active.stdout).trim() == "active" {
                        return Ok(());
                    }
                }
            }
            last = format!("{answer} {}", String::from_utf8_lossy(&out.stderr).trim())
                .trim()
                .to_string();
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Moves `unshare` out of the instance's cgroups, then lets the boot
    /// script (waiting on its stdin) go on.
    fn release_init(&mut self) -> Result<(), Error> {
        self.cgroups
            .evict(self.unshare.id())
            .map_err(|source| Error::Io {
                context: format!(
                    "instance {}: cannot move unshare out of its cgroups",
                    self.name
                ),
                source,
            })?;
        if let Some(mut go) = self.unshare.stdin.take() {
            go.write_all(b"go\n").map_err(|source| Error::Io {
                context: format!("instance {}: cannot start the boot script", self.name),
                source,
            })?;
        }
        Ok(())
    }

    /// Console output and journal tail, for error messages.
    fn diagnostics(&self) -> String {
        let mut s = String::new();
        let _ = write!(s, "\n--- console (tail) ---\n{}", self.console.tail(60));
        if self.pid1.is_some() && self.is_running() {
            let journal =
                self.exec(&["timeout", "5", "journalctl", "-b", "-n", "60", "--no-pager"]);
            let _ = write!(
                s,
                "\n--- journal (tail) ---\n{}{}",
                String::from_utf8_lossy(&journal.stdout),
                String::from_utf8_lossy(&journal.stderr)
            );
        }
        s
    }

    fn is_running(&self) -> bool {
        self.pid1
            .is_some_and(|p| Path::new(&format!("/proc/{p}")).exists())
    }

    /// Host PID of the instance's PID 1 (systemd).
    pub fn pid(&self) -> u32 {
        self.pid1.expect("a booted testbed knows its PID 1")
    }

    /// The instance's name, also the name of its cgroup directories
    /// (`update-all-testbed-<test pid>-<n>`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Host paths of the instance's cgroup directories (one per hierarchy);
    /// they are removed on teardown.
    pub fn cgroup_dirs(&self) -> Vec<PathBuf> {
        self.cgroups.dirs().to_vec()
    }

    /// `/proc/<pid>/root`: the instance's file system as seen from the host,
    /// including its private `/run`, `/tmp`, ... mounts.
    ///
    /// Absolute symlinks under it resolve against the *host's* root.
    pub fn root(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/root", self.pid()))
    }

    /// Host path for the absolute path `inside` within the instance.
    pub fn host_path(&self, inside: impl AsRef<Path>) -> PathBuf {
        let inside = inside.as_ref();
        self.root().join(inside.strip_prefix("/").unwrap_or(inside))
    }

    /// Writes `contents` to the absolute path `inside` within the instance,
    /// creating parent directories (mode 0755) and setting `mode`.
    ///
    /// # Panics
    ///
    /// If the file cannot be written, or if `inside` is the host's own file
    /// (outside the private mounts `/run`, `/tmp`, `/var/tmp`,
    /// `/var/lib/systemd` and `/var/lib/update-all` of an instance booted on
    /// the host's root): a test writing there would change the host and
    /// every other instance running beside it. Configuration for a test
    /// goes to `/run/update-all/config.d/`, plugins to
    /// `/run/update-all/plugins.d/`.
    pub fn write(&self, inside: impl AsRef<Path>, contents: impl AsRef<[u8]>, mode: u32) {
        let inside = inside.as_ref();
        self.refuse_host_path(inside);
        let path = self.host_path(inside);
        let result = (|| -> io::Result<()> {
            if let Some(parent) = path.parent() {
                create_dirs(parent)?;
            }
            fs::write(&path, contents.as_ref())?;
            fs::set_permissions(&path, fs::Permissions::from_mode(mode))
        })();
        if let Err(e) = result {
            panic!(
                "testbed {}: cannot write {}: {e}",
                self.name,
                inside.display()
            );
        }
    }

    /// Panics when `inside` is the host's own file: the nearest existing
    /// ancestor is the very same directory (device and inode) inside the
    /// instance and on the host.
    fn refuse_host_path(&self, inside: &Path) {
        use std::os::unix::fs::MetadataExt;
        let Ok(relative) = inside.strip_prefix("/") else {
            return;
        };
        let mut ancestor = relative.parent();
        while let Some(dir) = ancestor {
            if let Ok(within) = fs::metadata(self.root().join(dir)) {
                let shared = fs::metadata(Path::new("/").join(dir))
                    .is_ok_and(|host| (host.dev(), host.ino()) == (within.dev(), within.ino()));
                assert!(
                    !shared,
                    "testbed {}: {} is the host's own file, shared with every instance; \
                     write test files under /run (configuration: /run/update-all/config.d/)",
                    self.name,
                    inside.display()
                );
                return;
            }
            ancestor = dir.parent();
        }
    }

    /// Copies the host file `host_file` to `inside` with mode 0755 (parent
    /// directories are created), e.g. a freshly built generator to
    /// `/run/systemd/system-generators/update-all-generator`.
    ///
    /// # Panics
    ///
    /// If the file cannot be read or written.
    pub fn install_executable(&self, host_file: impl AsRef<Path>, inside: impl AsRef<Path>) {
        let host_file = host_file.as_ref();
        let contents = fs::read(host_file)
            .unwrap_or_else(|e| panic!("testbed: cannot read {}: {e}", host_file.display()));
        self.write(inside, contents, 0o755);
    }

    fn command<S: AsRef<OsStr>>(&self, env: &[(&str, &str)], args: &[S]) -> Command {
        let mut cmd = Command::new(&self.tools.nsenter);
        cmd.arg("-t")
            .arg(self.pid().to_string())
            .arg("-a")
            .arg("--")
            .args(args)
            .env_clear()
            .env("PATH", PATH)
            .env("HOME", "/root")
            .env("USER", "root")
            .env("LANG", "C.UTF-8")
            .env("SYSTEMD_PAGER", "")
            .env("SYSTEMD_COLORS", "0")
            .envs(env.iter().copied())
            .current_dir("/")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `args` inside the instance (all its namespaces, via
    /// `nsenter -t <pid> -a`) and collects its output.
    ///
    /// The environment is a clean one (`PATH`, `HOME=/root`, `LANG=C.UTF-8`,
    /// no pager, no colours); stdin is `/dev/null`. The process stays in the
    /// test's cgroup on the host (it is not part of the instance's cgroup
    /// tree) but in the instance's PID namespace.
    ///
    /// # Panics
    ///
    /// If `nsenter` cannot be started.
    pub fn exec<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        self.exec_env(&[], args)
    }

    /// Like [`Testbed::exec`], with extra environment variables, e.g.
    /// `tb.exec_env(&[("XDG_RUNTIME_DIR", "/run/user/0")], &["systemctl", "--user", "status"])`.
    pub fn exec_env<S: AsRef<OsStr>>(&self, env: &[(&str, &str)], args: &[S]) -> Output {
        self.command(env, args)
            .output()
            .unwrap_or_else(|e| panic!("testbed {}: cannot run nsenter: {e}", self.name))
    }

    /// Runs a shell script inside (`/bin/sh -c <script>`).
    pub fn sh(&self, script: &str) -> Output {
        self.exec(&["/bin/sh", "-c", script])
    }

    /// Runs `systemctl <args>` inside.
    pub fn systemctl<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        let mut all: Vec<&OsStr> = vec![OsStr::new("systemctl")];
        all.extend(args.iter().map(AsRef::as_ref));
        self.exec(&all)
    }

    /// Runs `args` inside and returns its stdout.
    ///
    /// # Panics
    ///
    /// If the command exits unsuccessfully; the message has its exit status,
    /// stdout and stderr.
    pub fn check<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        let out = self.exec(args);
        if !out.status.success() {
            let shown: Vec<_> = args.iter().map(|a| a.as_ref().to_string_lossy()).collect();
            panic!(
                "testbed {}: `{}` failed ({})\n--- stdout ---\n{}\n--- stderr ---\n{}",
                self.name,
                shown.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts `user@<uid>.service` and waits (up to 30 s) for the user
    /// manager's bus `/run/user/<uid>/bus`; returns that path (as seen inside).
    ///
    /// Use it with e.g.
    /// `tb.exec_env(&[("XDG_RUNTIME_DIR", "/run/user/0")], &["systemctl", "--user", ...])`.
    ///
    /// # Panics
    ///
    /// If the unit does not start or the bus does not appear in time.
    pub fn user_manager(&self, uid: u32) -> PathBuf {
        let unit = format!("user@{uid}.service");
        let out = self.exec(&["timeout", "60", "systemctl", "start", &unit]);
        let bus = PathBuf::from(format!("/run/user/{uid}/bus"));
        let deadline = Instant::now() + Duration::from_secs(30);
        while out.status.success() && Instant::now() < deadline {
            if self.host_path(&bus).exists() {
                return bus;
            }
            thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "testbed {}: user manager {unit} not ready ({}): {}\n--- journal ---\n{}",
            self.name,
            out.status,
            String::from_utf8_lossy(&out.stderr),
            self.journal(&unit)
        );
    }

    /// The journal of `unit` inside (`journalctl -u <unit> --no-pager -o cat`),
    /// with everything logged before the call in it (see
    /// [`Testbed::sync_journal`]).
    pub fn journal(&self, unit: &str) -> String {
        let _ = self.sync_journal();
        let out = self.exec(&["journalctl", "-u", unit, "--no-pager", "-o", "cat"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `journalctl --sync`: returns once journald has taken in every line
    /// and entry sent to it before the call. journald reads a service's
    /// output streams and its socket in its own time, so the last lines of
    /// a unit that just ended are often not in the journal yet; its
    /// Synchronize call runs after every message already queued (see
    /// journalctl(1), --sync), which makes it the point to read from.
    /// Says whether it succeeded: not when journald is gone (an instance
    /// shutting down), where a journal read for a failure's message still
    /// shows what there is.
    pub fn sync_journal(&self) -> bool {
        self.exec(&["journalctl", "--sync"]).status.success()
    }

    /// The tail (last `lines` lines) of the instance's `/dev/console` and of
    /// the boot script's output.
    pub fn console(&self, lines: usize) -> String {
        self.console.tail(lines)
    }

    /// Waits for `unshare` to exit after PID 1 was killed (see
    /// [`Testbed::crash`]), so that teardown finds nothing to power off.
    pub(crate) fn reap_after_crash(&mut self) {
        let _ = self.unshare.wait();
    }

    /// Tears the instance down now, reporting problems (dropping does the
    /// same but can only print them).
    pub fn shutdown(mut self) -> Result<(), Error> {
        self.teardown()
    }

    fn teardown(&mut self) -> Result<(), Error> {
        if self.torn_down {
            return Ok(());
        }
        self.torn_down = true;
        let mut problems = Vec::new();
        // While `unshare` runs, PID 1 has not been reaped: its PID is ours.
        if matches!(self.unshare.try_wait(), Ok(None)) {
            if let (Some(pid1), true) = (self.pid1, self.ready) {
                // SIGRTMIN+4: systemd starts poweroff.target. (A PID 1 from
                // a failed boot is simply killed below.)
                // SAFETY: plain kill(2).
                unsafe {
                    nix::libc::kill(pid1 as i32, nix::libc::SIGRTMIN() + 4);
                }
                let deadline = Instant::now() + POWEROFF_TIMEOUT;
                while matches!(self.unshare.try_wait(), Ok(None)) && Instant::now() < deadline {
                    thread::sleep(Duration::from_millis(20));
                }
            }
            if matches!(self.unshare.try_wait(), Ok(None)) {
                if self.ready {
                    problems.push(format!(
                        "no clean poweroff within {}s, killed{}",
                        POWEROFF_TIMEOUT.as_secs(),
                        self.diagnostics()
                    ));
                }
                if let Some(pid1) = self.pid1 {
                    // Killing PID 1 kills its whole PID namespace.
                    let _ = kill(Pid::from_raw(pid1 as i32), Signal::SIGKILL);
                }
                let _ = self.unshare.kill();
            }
        }
        // Reaps unshare; it exits only after PID 1 (and so the namespace) died.
        let _ = self.unshare.wait();
        if let Err(e) = self.cgroups.remove(CGROUP_REMOVE_TIMEOUT) {
            problems.push(e.to_string());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Teardown(format!(
                "instance {}: {}",
                self.name,
                problems.join("; ")
            )))
        }
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            eprintln!("testbed: teardown problem: {e}");
        }
    }
}

/// `mkdir -p` with mode 0755 for new directories.
fn create_dirs(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
}

/// Checks everything needed before a boot is attempted.
fn prerequisites() -> Result<(Tools, HostCgroups), String> {
    if !geteuid().is_root() {
        return Err(format!("not running as root (euid {})", geteuid()));
    }
    if !Path::new(SYSTEMD).is_file() {
        return Err(format!("{SYSTEMD} not found (install systemd)"));
    }
    for ns in ["pid", "mnt", "cgroup", "uts", "ipc"] {
        if !Path::new(&format!("/proc/self/ns/{ns}")).exists() {
            return Err(format!("kernel without {ns} namespaces"));
        }
    }
    if !Path::new("/etc/machine-id").is_file() {
        return Err("/etc/machine-id missing (needed as a bind-mount point)".into());
    }
    let tools = Tools::find()?;
    let host = HostCgroups::detect()?;
    Ok((tools, host))
}
