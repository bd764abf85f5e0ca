//! The user-scope runs that follow a system run: of the user who ran
//! `sudo update-all run`, or, from the timer, of every logged-in user.
//!
//! Root never talks to a user's bus (where anything the user runs may
//! answer): this program runs again as the user — uid and gid set, every
//! supplementary group dropped (std's `Command::uid` does that for root),
//! no new privileges — as `update-all --user run`, with the user's
//! `XDG_RUNTIME_DIR`, and talks to the user's own service manager there.

use nix::unistd::{geteuid, Uid, User};
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use zbus::proxy::CacheProperties;
use zbus_systemd::login1::{ManagerProxy, UserProxy};

/// A user whose manager a run reaches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunUser {
    pub uid: u32,
    pub name: String,
}

impl RunUser {
    pub fn of(uid: u32) -> RunUser {
        let name = User::from_uid(Uid::from_raw(uid))
            .ok()
            .flatten()
            .map_or_else(|| format!("uid {uid}"), |u| u.name);
        RunUser { uid, name }
    }

    /// "alice (uid 1000)".
    pub fn label(&self) -> String {
        format!("{} (uid {})", self.name, self.uid)
    }

    /// The user's service manager runs and has its bus (`update-all
    /// --user` talks to it there).
    pub fn has_manager(&self) -> bool {
        crate::user_manager::runs(self.uid)
    }
}

/// The users logged in now (logind: state active or online), by uid.
pub fn logged_in() -> zbus::Result<Vec<RunUser>> {
    zbus::block_on(async {
        let bus = zbus::Connection::system().await?;
        let manager = ManagerProxy::new(&bus).await?;
        let mut users = Vec::new();
        for (uid, name, path) in manager.list_users().await? {
            let state = async {
                UserProxy::builder(&bus)
                    .path(path)
                    .cache_properties(CacheProperties::No)
                    .build()
                    .await?
                    .state()
                    .await
            };
            // A user who logs out meanwhile is left out.
            if matches!(state.await.as_deref(), Ok("active" | "online")) {
                users.push(RunUser { uid, name });
            }
        }
        users.sort_by_key(|u| u.uid);
        Ok(users)
    })
}

/// Where the user run's output goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// The invoker's own terminal (sudo), for the live table.
    Inherit,
    /// Through this process, each line prefixed with the user's name: a
    /// user's process gets no descriptor of root's (the journal stream).
    Prefixed,
}

/// Runs `update-all --user run ARGS` as `user` and waits for it; its exit
/// status, or why it could not start.
pub fn run_as(user: &RunUser, args: &[&str], output: Output) -> Result<u8, String> {
    let mut cmd = Command::new("/proc/self/exe");
    cmd.arg0("update-all")
        .args(["--user", "run"])
        .args(args)
        .current_dir("/")
        .stdin(Stdio::null());
    let euid = geteuid();
    if user.uid == euid.as_raw() {
        // `--user` finds the caller's own manager (user_manager::find_own).
    } else if euid.is_root() {
        let account = User::from_uid(Uid::from_raw(user.uid))
            .map_err(|e| format!("cannot look up {}: {e}", user.label()))?
            .ok_or_else(|| format!("{} has no account", user.label()))?;
        cmd.env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", &account.dir)
            .env("USER", &account.name)
            .env("LOGNAME", &account.name)
            .env(
                "XDG_RUNTIME_DIR",
                crate::user_manager::runtime_dir(user.uid),
            );
        for key in ["LANG", "LC_ALL", "TERM"] {
            if let Some(value) = std::env::var_os(key) {
                cmd.env(key, value);
            }
        }
        cmd.uid(account.uid.as_raw()).gid(account.gid.as_raw());
        // SAFETY: one prctl(2), async-signal-safe and allocating nothing,
        // between fork and exec. No safe form exists: std's only hook
        // there is `pre_exec`.
        unsafe {
            cmd.pre_exec(|| Ok(nix::sys::prctl::set_no_new_privs()?));
        }
    } else {
        return Err(format!("only root can run the plugins of {}", user.label()));
    }
    let status = match output {
        Output::Inherit => cmd
            .status()
            .map_err(|e| format!("cannot start the run of {}: {e}", user.label()))?,
        Output::Prefixed => {
            let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
                .map_err(|e| format!("cannot make a pipe: {e}"))?;
            let write2 = write
                .try_clone()
                .map_err(|e| format!("cannot make a pipe: {e}"))?;
            cmd.stdout(Stdio::from(write)).stderr(Stdio::from(write2));
            let mut child = cmd
                .spawn()
                .map_err(|e| format!("cannot start the run of {}: {e}", user.label()))?;
            // Our copies of the writing end go, so the pipe ends with the child.
            drop(cmd);
            for line in BufReader::new(std::fs::File::from(read)).lines() {
                let Ok(line) = line else { break };
                println!("[{}] {line}", user.name);
            }
            child
                .wait()
                .map_err(|e| format!("lost the run of {}: {e}", user.label()))?
        }
    };
    Ok(match status.code() {
        Some(code) => u8::try_from(code).unwrap_or(u8::MAX),
        // Killed: as a shell reports it.
        None => 128u8.saturating_add(
            std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0) as u8,
        ),
    })
}
