//! The session bus of whoever ran `update-all run`: their own, or, when they
//! came through sudo or pkexec, the real user's.

use super::deliver::Recipient;
use nix::unistd::geteuid;
use std::env;

/// Whom `update-all run` notifies.
pub fn invoker() -> Recipient {
    let euid = geteuid();
    let own_address = env::var("DBUS_SESSION_BUS_ADDRESS")
        .ok()
        .filter(|a| !a.is_empty());
    if euid.is_root() {
        if let Some(uid) = crate::invoker::elevated_from() {
            // `sudo -E` keeps the user's address; otherwise their user bus.
            return match own_address {
                Some(address) => Recipient { uid, address },
                None => Recipient::user_bus(uid),
            };
        }
    }
    let address = own_address.unwrap_or_else(|| {
        let dir = env::var("XDG_RUNTIME_DIR")
            .ok()
            .filter(|d| d.starts_with('/'))
            .unwrap_or_else(|| format!("/run/user/{euid}"));
        format!("unix:path={}", escape(&format!("{dir}/bus")))
    });
    Recipient {
        uid: euid.as_raw(),
        address,
    }
}

/// A value in a D-Bus address: bytes outside `[-0-9A-Za-z_/.\*]` as `%XX`.
fn escape(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_/.\\*".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02x}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_escaped() {
        assert_eq!(escape("/run/user/1000/bus"), "/run/user/1000/bus");
        assert_eq!(escape("/tmp/a b;c=d"), "/tmp/a%20b%3bc%3dd");
    }
}
