//! A stand-in NetworkManager on an instance's system bus (the
//! `fake-networkmanager` binary of this crate), for what update-all asks
//! NetworkManager: whether the network is metered.
//!
//! The system bus lets nobody own that name without a policy file, and its
//! policy directories are the host's: a copy of `/etc/dbus-1/system.d` with
//! the policy added is bind-mounted over it in the instance's own mount
//! namespace, and the bus reloads its configuration.

use crate::deploy::target_binary;
use crate::Testbed;
use std::thread;
use std::time::{Duration, Instant};

const BINARY: &str = "/run/testbed/fake-networkmanager";
const POLICY_DIR: &str = "/run/testbed-dbus-system.d";
const UNIT: &str = "testbed-networkmanager";
const POLICY: &str = r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <policy user="root">
    <allow own="org.freedesktop.NetworkManager"/>
  </policy>
  <policy context="default">
    <allow send_destination="org.freedesktop.NetworkManager"/>
  </policy>
</busconfig>
"#;

impl Testbed {
    /// Runs a NetworkManager stand-in whose `Metered` property is `metered`
    /// (1 yes, 2 no, 3 guess-yes, 4 guess-no), replacing one started
    /// before; returns once it answers on the system bus.
    ///
    /// # Panics
    ///
    /// If `fake-networkmanager` is not built (`cargo build --workspace
    /// --bins`) or does not answer within 10 s.
    pub fn fake_network_manager(&self, metered: u32) {
        if !self.host_path(BINARY).exists() {
            self.install_executable(target_binary("fake-networkmanager"), BINARY);
            self.check(&["cp", "-a", "/etc/dbus-1/system.d", POLICY_DIR]);
            self.write(
                format!("{POLICY_DIR}/org.freedesktop.NetworkManager.conf"),
                POLICY,
                0o644,
            );
            self.check(&["mount", "--bind", POLICY_DIR, "/etc/dbus-1/system.d"]);
            self.check(&[
                "busctl",
                "call",
                "org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus",
                "ReloadConfig",
            ]);
        }
        self.stop_network_manager();
        self.check(&[
            "systemd-run",
            "--quiet",
            &format!("--unit={UNIT}"),
            BINARY,
            &metered.to_string(),
        ]);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = self.exec(&[
                "busctl",
                "get-property",
                "org.freedesktop.NetworkManager",
                "/org/freedesktop/NetworkManager",
                "org.freedesktop.NetworkManager",
                "Metered",
            ]);
            if String::from_utf8_lossy(&out.stdout).trim() == format!("u {metered}") {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "testbed: the NetworkManager stand-in does not answer: {}\n--- journal ---\n{}",
                    String::from_utf8_lossy(&out.stderr),
                    self.journal(UNIT)
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the NetworkManager stand-in, if one runs: no NetworkManager.
    pub fn stop_network_manager(&self) {
        let _ = self.exec(&["systemctl", "stop", UNIT]);
        let _ = self.exec(&["systemctl", "reset-failed", UNIT]);
    }
}
