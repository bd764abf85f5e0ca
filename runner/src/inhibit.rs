//! Shutdown safety: a logind inhibitor lock while a plugin installs updates.
//!
//! `plugin-exec` takes it before it starts an update-phase plugin and holds
//! it until the plugin's process has ended; a download (or any other phase)
//! takes none. It is a `block` lock on `shutdown:sleep`: logind refuses a
//! shutdown, reboot or suspend asked for without `--force` or
//! `--check-inhibitors=no` while it is held, and `systemd-inhibit --list`
//! shows who holds it and why. Not a `delay` lock: a delay ends after
//! `InhibitDelayMaxSec=` (5 s by default), in the middle of a dpkg run,
//! which is how unattended-upgrades' shutdown mode breaks machines.
//!
//! The lock is the file descriptor logind's `Inhibit` returns; it ends when
//! the last copy is closed. The descriptor is kept out of the plugin's
//! process (close-on-exec), so a daemon the plugin leaves behind cannot hold
//! the lock after the plugin has exited.
//!
//! Without a system bus or logind (a container, logind stopped), or when
//! polkit refuses the lock to a user's update unit, the update goes on
//! without it, after a warning in the journal: a missing lock never fails an
//! update.

use nix::fcntl::{fcntl, FcntlArg, FdFlag};
use std::ffi::OsStr;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::time::Duration;
use zbus_systemd::login1::ManagerProxy;

/// What the lock blocks.
const WHAT: &str = "shutdown:sleep";
/// Who holds it, as `systemd-inhibit --list` shows.
const WHO: &str = "update-all";
/// `block`, never `delay` (see the module's documentation).
const MODE: &str = "block";
/// The phase whose units take the lock (`plugin-exec -- EXECUTABLE PHASE`).
const PHASE: &str = "update";
/// The plugin's name in its unit's environment, as the generator sets it.
const PLUGIN_VAR: &str = "UPDATE_ALL_PLUGIN";
/// How long logind may take to answer (or D-Bus to activate it) before the
/// update goes on without the lock.
const TIMEOUT: Duration = Duration::from_secs(5);

/// A held inhibitor lock; dropping it releases the lock.
#[derive(Debug)]
pub struct Inhibitor {
    _fd: OwnedFd,
}

/// Why the lock is held, as `systemd-inhibit --list` shows it.
pub fn why(plugin: &str) -> String {
    format!("update-all: {plugin} is installing updates")
}

/// The lock for a plugin unit that runs `program` for `phase` (the last
/// argument of `plugin-exec`): taken for the update phase only, `None` for
/// the others and when logind cannot give it (after a warning). The plugin
/// is named by the unit's `$UPDATE_ALL_PLUGIN`, else by its executable.
pub fn for_phase(program: &OsStr, phase: Option<&OsStr>) -> Option<Inhibitor> {
    if phase != Some(OsStr::new(PHASE)) {
        return None;
    }
    let plugin = plugin_name(program);
    let plugin = plugin.as_str();
    match take(plugin) {
        Ok(lock) => Some(lock),
        Err(e) => {
            tracing::warn!(
                update_all_plugin = %plugin,
                "cannot take logind's shutdown inhibitor lock for {plugin} ({e}); \
                 updating without it"
            );
            None
        }
    }
}

/// The plugin a `plugin-exec` runs: the unit's `$UPDATE_ALL_PLUGIN`, else
/// the name of its executable.
pub fn plugin_name(program: &OsStr) -> String {
    std::env::var(PLUGIN_VAR).unwrap_or_else(|_| {
        Path::new(program)
            .file_name()
            .unwrap_or(program)
            .to_string_lossy()
            .into_owned()
    })
}

/// Asks logind for a block lock on shutdown and sleep.
fn take(plugin: &str) -> zbus::Result<Inhibitor> {
    let fd = zbus::block_on(async {
        let bus = zbus::connection::Builder::system()
            .method_timeout(TIMEOUT)
            .build()
            .await?;
        let manager = ManagerProxy::new(&bus).await?;
        manager
            .inhibit(WHAT.into(), WHO.into(), why(plugin), MODE.into())
            .await
    })?;
    let fd = OwnedFd::from(fd);
    // Not inherited by the plugin: the lock ends with plugin-exec.
    fcntl(fd.as_fd(), FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))
        .map_err(|e| zbus::Error::InputOutput(std::io::Error::from(e).into()))?;
    Ok(Inhibitor { _fd: fd })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_update_phase_asks_for_a_lock() {
        // No bus is asked (and none needed) for these.
        let apt = OsStr::new("/usr/lib/update-all/plugins/apt");
        assert!(for_phase(apt, Some(OsStr::new("download"))).is_none());
        assert!(for_phase(apt, None).is_none());
        assert_eq!(why("apt"), "update-all: apt is installing updates");
    }
}
