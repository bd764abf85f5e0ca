//! The instance's `/dev/console`: a pseudo-terminal whose output is kept in
//! memory for error messages.
//!
//! systemd only writes to `/dev/console` if it is a terminal, so a plain log
//! file does not work. The boot script bind-mounts the pty's slave onto the
//! instance's `/dev/console` and also uses it as its own stdout/stderr; a
//! thread drains the master side into a bounded buffer.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::thread;

use nix::fcntl::OFlag;
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};

/// Bytes of console output kept (the tail).
const KEEP: usize = 256 * 1024;

#[derive(Debug)]
pub(crate) struct Console {
    /// Kept open so the master never sees EOF while the instance runs.
    slave: File,
    slave_path: String,
    buffer: Arc<Mutex<Vec<u8>>>,
}

impl Console {
    /// Allocates a pty and starts the thread draining it.
    pub(crate) fn open() -> io::Result<Console> {
        let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)?;
        grantpt(&master)?;
        unlockpt(&master)?;
        let slave_path = ptsname_r(&master)?;
        let slave = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(nix::libc::O_NOCTTY)
            .open(&slave_path)?;
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&buffer);
        thread::Builder::new()
            .name("testbed-console".into())
            .spawn(move || {
                let mut master = master;
                let mut chunk = [0u8; 4096];
                // Ends with EIO once every slave fd is closed.
                while let Ok(n @ 1..) = master.read(&mut chunk) {
                    let mut buf = sink.lock().unwrap_or_else(|e| e.into_inner());
                    buf.extend_from_slice(&chunk[..n]);
                    if buf.len() > 2 * KEEP {
                        let cut = buf.len() - KEEP;
                        buf.drain(..cut);
                    }
                }
            })?;
        Ok(Console {
            slave,
            slave_path,
            buffer,
        })
    }

    /// Host path of the pty slave (e.g. `/dev/pts/3`).
    pub(crate) fn slave_path(&self) -> &str {
        &self.slave_path
    }

    /// A handle to the slave for a child's stdout/stderr.
    pub(crate) fn stdio(&self) -> io::Result<Stdio> {
        Ok(Stdio::from(self.slave.try_clone()?))
    }

    /// The last `lines` lines of console output, without carriage returns.
    pub(crate) fn tail(&self, lines: usize) -> String {
        let buf = self.buffer.lock().unwrap_or_else(|e| e.into_inner());
        let text = String::from_utf8_lossy(&buf).replace('\r', "");
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}
