//! Sending a message to users' session buses without lending them anything.
//!
//! Each recipient gets its own short-lived sender: this program again
//! (`/proc/self/exe notify-deliver`, so it works even after a package update
//! replaced the file). When the recipient is another user, the sender
//! becomes that user between fork and exec: the user's groups, gid and uid,
//! no new privileges, and every inherited descriptor closed on exec. So root
//! never connects to a user's bus (where anything the user runs may answer),
//! and nothing the user controls ever talks to a process with root's rights.
//! Senders run in parallel; whatever has not answered by [`DEADLINE`] is
//! killed, since a stuck notification server must not hold up a run.

use super::message::{Message, APP_NAME, ICON};
use nix::sys::resource::{getrlimit, Resource};
use nix::unistd::{self, Gid, Uid, User};
use std::ffi::CString;
use std::io::{self, Read};
use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long all senders of one announcement may take together.
const DEADLINE: Duration = Duration::from_secs(10);
/// Exit statuses of `update-all notify-deliver` besides 0 (sent) and 1.
const NO_BUS: u8 = 3;
const NO_SERVER: u8 = 4;
/// `PATH` of a sender; it runs nothing, but libraries may look.
const PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// A user to notify and the session bus to reach them on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipient {
    pub uid: u32,
    /// A D-Bus address, e.g. `unix:path=/run/user/1000/bus`.
    pub address: String,
}

impl Recipient {
    /// The bus that `uid`'s user manager provides (dbus-user-session).
    pub fn user_bus(uid: u32) -> Recipient {
        Recipient {
            uid,
            address: format!("unix:path=/run/user/{uid}/bus"),
        }
    }
}

/// Sends `message` to every recipient, at most once each, and logs the
/// outcome per recipient. Never fails: a missing bus or server is logged.
pub fn deliver_all(message: &Message, recipients: &[Recipient]) {
    let euid = unistd::geteuid();
    let mut senders = Vec::new();
    for recipient in recipients {
        let who = describe(recipient.uid);
        match spawn(message, recipient, euid) {
            Ok(child) => senders.push((who, recipient.address.clone(), child)),
            Err(e) => tracing::warn!("could not notify {who}: {e}"),
        }
    }
    let deadline = Instant::now() + DEADLINE;
    while !senders.is_empty() {
        senders.retain_mut(|(who, address, child)| match child.try_wait() {
            Ok(Some(status)) => {
                report(who, address, status, &stderr_of(child));
                false
            }
            Ok(None) => true,
            Err(e) => {
                tracing::warn!("could not notify {who}: lost the sender: {e}");
                false
            }
        });
        if senders.is_empty() {
            break;
        }
        if Instant::now() >= deadline {
            for (who, _, mut child) in senders.drain(..) {
                let _ = child.kill();
                let _ = child.wait();
                tracing::warn!(
                    "could not notify {who}: its notification server did not answer \
                     within {} s",
                    DEADLINE.as_secs()
                );
            }
            break;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

fn report(who: &str, address: &str, status: ExitStatus, detail: &str) {
    let detail = detail.trim();
    match status.code().and_then(|c| u8::try_from(c).ok()) {
        Some(0) => tracing::info!("notified {who}"),
        // Nobody has a desktop there (root over ssh): nobody to tell.
        Some(NO_BUS) => {
            tracing::debug!("could not notify {who}: no session bus at {address} ({detail})")
        }
        // A session without a notification server chose to have none.
        Some(NO_SERVER) => tracing::info!(
            "could not notify {who}: no notification server is running on its session bus"
        ),
        _ => tracing::warn!("could not notify {who}: {detail} ({status})"),
    }
}

/// What a finished sender wrote on its standard error (at most a line).
fn stderr_of(child: &mut Child) -> String {
    let mut text = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut text);
    }
    text
}

/// "alice (uid 1000)", or "uid 1000" for an id without an account.
fn describe(uid: u32) -> String {
    match User::from_uid(Uid::from_raw(uid)) {
        Ok(Some(user)) => format!("{} (uid {uid})", user.name),
        _ => format!("uid {uid}"),
    }
}

/// The account a sender becomes, read before forking (name service
/// look-ups are not safe between fork and exec).
struct Account {
    name: String,
    uid: Uid,
    gid: Gid,
    groups: Vec<Gid>,
    home: PathBuf,
}

impl Account {
    fn lookup(uid: u32) -> Result<Account, String> {
        let user = User::from_uid(Uid::from_raw(uid))
            .map_err(|e| format!("cannot look up the account: {e}"))?
            .ok_or("no such account")?;
        let name = CString::new(user.name.as_bytes()).map_err(|e| e.to_string())?;
        let groups = unistd::getgrouplist(&name, user.gid)
            .map_err(|e| format!("cannot look up the account's groups: {e}"))?;
        Ok(Account {
            name: user.name,
            uid: user.uid,
            gid: user.gid,
            groups,
            home: user.dir,
        })
    }
}

fn spawn(message: &Message, recipient: &Recipient, euid: Uid) -> Result<Child, String> {
    let mut cmd = Command::new("/proc/self/exe");
    cmd.arg0(APP_NAME).arg("notify-deliver").args([
        "--summary",
        &message.summary,
        "--body",
        &message.body,
    ]);
    if message.critical {
        cmd.arg("--critical");
    }
    as_recipient(&mut cmd, recipient, euid)?;
    cmd.stdout(Stdio::null());
    cmd.spawn()
        .map_err(|e| format!("cannot start the sender: {e}"))
}

/// Runs `program` with `args` as the user `uid`, the way a sender runs
/// (that user's rights only, a clean environment that points at the
/// user's bus and runtime directory, no new privileges), and waits for it:
/// how root starts something in a user's own service manager
/// (`systemd-run --user`, `systemctl --user`) without connecting to it.
/// `Err`: it could not be started, or failed (with its standard error).
pub fn run_as(uid: u32, program: &str, args: &[&str]) -> Result<(), String> {
    let mut cmd = Command::new(program);
    cmd.args(args);
    as_recipient(&mut cmd, &Recipient::user_bus(uid), unistd::geteuid())?;
    let out = cmd
        .stdout(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot start {program}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Makes `cmd` run as `recipient`'s user, with a clean environment that
/// reaches its session bus (see the module's documentation); standard
/// error is piped, standard input is null.
fn as_recipient(cmd: &mut Command, recipient: &Recipient, euid: Uid) -> Result<(), String> {
    cmd.env_clear()
        .env("PATH", PATH)
        .env("DBUS_SESSION_BUS_ADDRESS", &recipient.address)
        .current_dir("/")
        .stdin(Stdio::null())
        .stderr(Stdio::piped());
    if recipient.uid == euid.as_raw() {
        for key in ["HOME", "USER", "LOGNAME", "XDG_RUNTIME_DIR"] {
            if let Some(value) = std::env::var_os(key) {
                cmd.env(key, value);
            }
        }
        // SAFETY: `seal` makes only async-signal-safe system calls and
        // allocates nothing, as code between fork and exec must. No safe
        // form exists: std's only hook between the two is `pre_exec`.
        unsafe { cmd.pre_exec(seal) };
    } else if euid.is_root() {
        let account = Account::lookup(recipient.uid)?;
        cmd.env("HOME", &account.home)
            .env("USER", &account.name)
            .env("LOGNAME", &account.name)
            .env("XDG_RUNTIME_DIR", format!("/run/user/{}", recipient.uid));
        // SAFETY: `become_user` and `seal` make only async-signal-safe
        // system calls, on data prepared before the fork. No safe form
        // exists: std's only hook between fork and exec is `pre_exec` (and
        // `Command::uid` cannot set the supplementary groups).
        unsafe {
            cmd.pre_exec(move || {
                become_user(&account)?;
                seal()
            })
        };
    } else {
        return Err("only root can notify another user".into());
    }
    Ok(())
}

/// Drops every right of root for good: supplementary groups, then gid, then
/// uid (all of real, effective and saved), and checks that root cannot be
/// regained.
fn become_user(account: &Account) -> io::Result<()> {
    unistd::setgroups(&account.groups)?;
    unistd::setresgid(account.gid, account.gid, account.gid)?;
    unistd::setresuid(account.uid, account.uid, account.uid)?;
    if unistd::setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0)).is_ok() {
        return Err(io::Error::other("could regain root after dropping it"));
    }
    Ok(())
}

/// No new privileges through exec, death with the parent (cleared by a uid
/// change, so set last), and close-on-exec for every inherited descriptor
/// but the standard three (a root-opened database or bus must not leak).
fn seal() -> io::Result<()> {
    nix::sys::prctl::set_no_new_privs()?;
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)?;
    close_on_exec_from(3);
    Ok(())
}

/// Marks every descriptor from `first` on close-on-exec, between fork and
/// exec (so async-signal-safe: system calls only). Closing them instead
/// would also close std's own pipe that reports a failed exec.
fn close_on_exec_from(first: RawFd) {
    use nix::libc::{c_uint, syscall, SYS_close_range, CLOSE_RANGE_CLOEXEC};
    // SAFETY: close_range(2) takes plain integers and, with
    // CLOSE_RANGE_CLOEXEC, closes nothing: it only sets the flag. No safe
    // wrapper exists: neither nix 0.31 nor rustix 1.1 has close_range, and
    // std has no closefrom.
    let marked = unsafe {
        syscall(
            SYS_close_range,
            first as c_uint,
            c_uint::MAX,
            CLOSE_RANGE_CLOEXEC,
        )
    };
    if marked == 0 {
        return;
    }
    // Kernels before 5.11: mark each descriptor up to the limit.
    let (limit, _) = getrlimit(Resource::RLIMIT_NOFILE).unwrap_or((1024, 1024));
    for fd in first..limit.min(1 << 16) as RawFd {
        // SAFETY: fcntl(2) F_SETFD on a number that is not open fails with
        // EBADF and touches nothing. nix's fcntl takes a BorrowedFd, which
        // promises an open descriptor; these numbers are not known to be.
        unsafe { nix::libc::fcntl(fd, nix::libc::F_SETFD, nix::libc::FD_CLOEXEC) };
    }
}

/// `update-all notify-deliver`: the sender. Runs as the recipient and
/// sends one notification to `$DBUS_SESSION_BUS_ADDRESS` with notify-rust.
/// Exits 0 when sent, [`NO_BUS`] or [`NO_SERVER`] with the reason on
/// standard error, 1 on any other error.
pub fn send(summary: &str, body: &str, critical: bool) -> ExitCode {
    match show(summary, body, critical) {
        Ok(()) => ExitCode::SUCCESS,
        Err((status, text)) => {
            eprintln!("{text}");
            ExitCode::from(status)
        }
    }
}

/// Shows one notification on the caller's own session bus
/// (`$DBUS_SESSION_BUS_ADDRESS`). `Err`: the exit status of [`send`] for
/// it and why.
pub fn show(summary: &str, body: &str, critical: bool) -> Result<(), (u8, String)> {
    // Connecting first tells a missing bus from a missing server.
    if let Err(e) = zbus::block_on(zbus::Connection::session()) {
        return Err((NO_BUS, e.to_string()));
    }
    let urgency = if critical {
        notify_rust::Urgency::Critical
    } else {
        notify_rust::Urgency::Normal
    };
    let sent = notify_rust::Notification::new()
        .appname(APP_NAME)
        .icon(ICON)
        .summary(summary)
        .body(body)
        .urgency(urgency)
        .show();
    match sent {
        Ok(_) => Ok(()),
        Err(e) => {
            let text = e.to_string();
            // The bus could not start org.freedesktop.Notifications.
            if text.contains("ServiceUnknown") || text.contains("NameHasNoOwner") {
                Err((NO_SERVER, text))
            } else {
                Err((1, text))
            }
        }
    }
}
