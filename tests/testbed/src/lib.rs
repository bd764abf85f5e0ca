//! Boots a real systemd as PID 1 inside Linux namespaces, for update-all's
//! integration tests (the systemd generator, the D-Bus runner).
//!
//! ```no_run
//! use testbed::Testbed;
//!
//! let Some(tb) = Testbed::require() else { return };
//! tb.write("/run/update-all/plugins.d/x.yaml", "name: x\n", 0o644);
//! tb.check(&["systemctl", "daemon-reload"]);
//! assert!(tb.journal("hello.service").contains("hi"));
//! // Dropping `tb` powers the instance off and removes its cgroups.
//! ```
//!
//! # How an instance is made
//!
//! 1. A fresh cgroup `update-all-testbed-<pid>-<n>` is created below the
//!    test process's cgroup in every mounted hierarchy (v2, or v1/hybrid).
//! 2. `unshare --pid --fork --mount --cgroup --uts --ipc --propagation
//!    private` is started after moving itself into those cgroups, so they
//!    are the roots of its cgroup namespace.
//! 3. Its child (PID 1 inside) mounts a new `/proc`, tmpfs on `/run`,
//!    `/tmp`, `/var/tmp`, `/var/lib/systemd` and `/var/lib/update-all`, a
//!    minimal `/dev`, remounts the cgroup hierarchies (now rooted at the new
//!    namespace), masks units that would touch the host, and execs
//!    `/usr/lib/systemd/systemd --system --unit=basic.target` with
//!    `container=update-all-testbed`.
//!
//! Commands run inside through `nsenter -t <pid> -a`. See [`Testbed`] for
//! what is private to an instance and what is shared with the host.
//!
//! Requirements: root, systemd (252 is what this was built against), the
//! util-linux tools `unshare`, `nsenter` and `mount`, and for the system bus
//! the `dbus` package (see `REQUIREMENTS.apt`).

mod boot;
mod btrfs;
mod cgroup;
mod console;
mod deploy;
mod instance;
mod networkmanager;
mod notifications;
mod persist;
mod rootfs;
mod skip;
mod tools;
mod users;

use std::fmt;
use std::io;

pub use btrfs::{btrfs_unavailable, Btrfs};
pub use deploy::{target_binary, MANIFESTS, PLUGINS, RUNNER};
pub use instance::Testbed;
pub use persist::KeptState;
pub use skip::{skip, SKIP_LOG};
pub use tools::{host_sh, missing_tools};

/// Why an instance could not be booted (or torn down).
#[derive(Debug)]
pub enum Error {
    /// A prerequisite is missing (not root, no systemd, no `unshare`, ...).
    Unavailable(String),
    /// A host-side operation failed.
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: io::Error,
    },
    /// The instance did not come up; includes console and journal tails.
    Boot(String),
    /// The instance did not go away cleanly.
    Teardown(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Unavailable(reason) => write!(f, "testbed unavailable: {reason}"),
            Error::Io { context, source } => write!(f, "{context}: {source}"),
            Error::Boot(msg) => write!(f, "boot failed: {msg}"),
            Error::Teardown(msg) => write!(f, "teardown failed: {msg}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
