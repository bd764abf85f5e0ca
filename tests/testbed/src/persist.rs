//! Booting the same root again: a state kept across boots, and a hard
//! stop.
//!
//! An instance's `/run` and `/var/lib/update-all` are private tmpfs, gone
//! when it stops. A test of what survives a crash (a run cut short and
//! found at the next boot) boots twice with one [`KeptState`]: a host
//! directory that each boot mounts as its `/var/lib/update-all`, and into
//! which a boot may save files of its `/run` that the next boot finds in
//! place before systemd starts (what a disk would keep: the installed
//! units, generator, runner, configuration and plugins). Each such boot
//! has a boot id of its own (`/proc/sys/kernel/random/boot_id`), as two
//! boots of a machine do.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::{boot, Error, Testbed};

/// A host directory that boots of the same root share (removed when
/// dropped): `var-lib-update-all/` and `run/`.
#[derive(Debug)]
pub struct KeptState {
    dir: tempfile::TempDir,
}

impl KeptState {
    /// A new, empty state.
    ///
    /// # Panics
    ///
    /// If the directory cannot be made.
    pub fn new() -> KeptState {
        let dir = tempfile::Builder::new()
            .prefix("update-all-testbed-state-")
            .tempdir()
            .expect("cannot make a kept state directory");
        let var = dir.path().join("var-lib-update-all");
        fs::create_dir(&var).expect("cannot make var-lib-update-all");
        KeptState { dir }
    }

    /// The host directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The host directory that each boot mounts as `/var/lib/update-all`.
    pub fn var_lib_update_all(&self) -> PathBuf {
        self.path().join("var-lib-update-all")
    }
}

impl Default for KeptState {
    fn default() -> Self {
        KeptState::new()
    }
}

impl Testbed {
    /// Boots an instance of the host's root whose `/var/lib/update-all` is
    /// `state`'s, with what an earlier boot kept of its `/run` (see
    /// [`Testbed::keep_for_next_boot`]) in place before systemd starts, so
    /// generators and units there take part in the boot. Otherwise as
    /// [`Testbed::boot`].
    pub fn boot_keeping(state: &KeptState) -> Result<Testbed, Error> {
        Testbed::boot_with(None, boot::MASKED_UNITS.to_vec(), Some(state.path()))
    }

    /// Copies `paths` (absolute paths under `/run` inside, files or
    /// directories) into `state`, for the next [`Testbed::boot_keeping`].
    ///
    /// # Panics
    ///
    /// If a path is not under `/run` or cannot be copied.
    pub fn keep_for_next_boot(&self, state: &KeptState, paths: &[&str]) {
        for inside in paths {
            let relative = Path::new(inside)
                .strip_prefix("/run")
                .unwrap_or_else(|_| panic!("{inside} is not under /run"));
            let to = state.path().join("run").join(relative);
            let parent = to.parent().expect("a parent");
            fs::create_dir_all(parent).expect("cannot make the kept /run");
            let status = Command::new("cp")
                .arg("-a")
                .arg(self.host_path(inside))
                .arg(parent)
                .status()
                .expect("cannot run cp");
            assert!(status.success(), "cannot keep {inside}: cp {status}");
        }
    }

    /// A hard stop: SIGKILL to PID 1, which takes its whole PID namespace
    /// with it at once (no shutdown, nothing stopped, nothing flushed
    /// beyond what the processes had written); then the instance's cgroups
    /// are removed.
    pub fn crash(mut self) -> Result<(), Error> {
        let pid1 = self.pid();
        kill(Pid::from_raw(pid1 as i32), Signal::SIGKILL).map_err(|e| Error::Io {
            context: format!("instance {}: cannot kill PID 1", self.name()),
            source: io::Error::from(e),
        })?;
        self.reap_after_crash();
        self.shutdown()
    }
}
