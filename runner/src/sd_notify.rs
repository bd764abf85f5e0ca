//! sd_notify(3): telling systemd about this service through the datagram
//! socket it names in `$NOTIFY_SOCKET`, an absolute path or, after `@`, a
//! name in the abstract namespace. The recorder says `READY=1` with it, and
//! `plugin-exec` turns a plugin's progress lines into `STATUS=` text.
//!
//! Written here rather than taken from the `sd-notify` crate: that crate
//! reads the environment and opens a socket on every message, while
//! `plugin-exec` keeps one socket for a plugin's whole run, and its tests
//! send to a socket of their own without touching the process environment.

use std::ffi::OsStr;
use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// The variable systemd sets for services that may notify it.
const VARIABLE: &str = "NOTIFY_SOCKET";

/// An unbound datagram socket and systemd's address to send on it.
#[derive(Debug)]
pub struct Notify {
    socket: UnixDatagram,
    address: SocketAddr,
}

impl Notify {
    /// The socket `$NOTIFY_SOCKET` names; `None` when it is not set (not
    /// run by systemd, or `NotifyAccess=` denies this process), an error
    /// when it names no socket that sd_notify(3) accepts.
    pub fn from_env() -> Option<io::Result<Notify>> {
        Some(Notify::new(&std::env::var_os(VARIABLE)?))
    }

    /// The socket at `address`: an absolute path, or `@name` for `name` in
    /// the abstract namespace.
    pub fn new(address: &OsStr) -> io::Result<Notify> {
        let bytes = address.as_bytes();
        let address = match bytes.first() {
            Some(b'@') => SocketAddr::from_abstract_name(&bytes[1..])?,
            Some(b'/') => SocketAddr::from_pathname(address)?,
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "${VARIABLE} is {:?}, neither an absolute path nor an abstract name (@…)",
                        address.to_string_lossy()
                    ),
                ))
            }
        };
        Ok(Notify {
            socket: UnixDatagram::unbound()?,
            address,
        })
    }

    /// Sends `state`: newline-separated assignments such as `READY=1` or
    /// `STATUS=…`.
    pub fn send(&self, state: &str) -> io::Result<()> {
        self.socket
            .send_to_addr(state.as_bytes(), &self.address)
            .map(drop)
    }
}

/// Sends `state` to `$NOTIFY_SOCKET` once; nothing when not run by systemd.
/// A failure is logged, never fatal: systemd then only misses the news.
pub fn notify(state: &str) {
    if let Some(Err(e)) = Notify::from_env().map(|n| n?.send(state)) {
        tracing::warn!("cannot notify systemd: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_and_an_abstract_name_are_reached() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let systemd = UnixDatagram::bind(&path).unwrap();
        Notify::new(path.as_os_str())
            .unwrap()
            .send("READY=1\nSTATUS=x")
            .unwrap();
        let mut buf = [0u8; 64];
        let n = systemd.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=x");

        let name = format!("update-all-test-{}", std::process::id());
        let abstract_address = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let systemd = UnixDatagram::bind_addr(&abstract_address).unwrap();
        Notify::new(OsStr::new(&format!("@{name}")))
            .unwrap()
            .send("READY=1")
            .unwrap();
        let n = systemd.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
    }

    #[test]
    fn a_relative_or_empty_address_is_refused() {
        for address in ["relative", ""] {
            let e = Notify::new(OsStr::new(address)).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        }
    }
}
