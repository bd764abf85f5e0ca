//! Booting a root directory of its own instead of the host's `/`: e.g. a
//! Debian tree made with mmdebstrap, into which a package was installed.
//!
//! The boot script bind-mounts the directory onto itself, binds the host's
//! `/sys` and `/dev` into it (the private mounts are then made there as
//! usual), `pivot_root`s into it and detaches the host's root; systemd is
//! the tree's own `/usr/lib/systemd/systemd`. [`Testbed::exec`] and friends
//! run the tree's programs (nsenter enters the mount namespace, whose root
//! is the tree), and [`Testbed::host_path`] still reaches its files.
//!
//! The tree is written to: it is the instance's root file system, so boot a
//! throw-away copy. Still shared with the host: the network namespace and
//! the user namespace, `/sys` (except the cgroup hierarchies) and the
//! device nodes bound into the private `/dev`.

use std::path::Path;

use crate::boot::{MASKED_UNITS, SYSTEMD};
use crate::{Error, Testbed};

/// Masked on the host's `/` because they would act on the host's `/etc`
/// and `/var`; a tree of its own may run them (its timers, update-all's
/// among them).
const HOST_ONLY_MASKS: &[&str] = &["timers.target"];

impl Testbed {
    /// Boots the systemd of the root directory `root` (a complete system
    /// tree: `usr/lib/systemd/systemd`, `etc/machine-id`, `sys`, `dev`,
    /// `proc`, `run`, `tmp` present) and waits until it is ready, as
    /// [`Testbed::boot`] does. The same units are masked except
    /// `timers.target`, so the tree's timers run.
    pub fn boot_root(root: &Path) -> Result<Testbed, Error> {
        let root = root.canonicalize().map_err(|source| Error::Io {
            context: format!("root directory {}", root.display()),
            source,
        })?;
        let systemd = root.join(SYSTEMD.trim_start_matches('/'));
        if !systemd.is_file() {
            return Err(Error::Boot(format!(
                "{} has no {SYSTEMD}: not a system tree with systemd",
                root.display()
            )));
        }
        for dir in ["sys", "dev", "proc", "run", "tmp", "var/tmp"] {
            std::fs::create_dir_all(root.join(dir)).map_err(|source| Error::Io {
                context: format!("{}/{dir}", root.display()),
                source,
            })?;
        }
        // The boot script binds the instance's own id over it.
        let machine_id = root.join("etc/machine-id");
        if !machine_id.exists() {
            std::fs::write(&machine_id, "").map_err(|source| Error::Io {
                context: format!("{}", machine_id.display()),
                source,
            })?;
        }
        let mask = MASKED_UNITS
            .iter()
            .copied()
            .filter(|u| !HOST_ONLY_MASKS.contains(u))
            .collect();
        Testbed::boot_with(Some(&root), mask, None)
    }
}
