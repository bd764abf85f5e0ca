//! A recording notification server per user inside an instance (the
//! `notify-recorder` binary of this crate), and what it received.

use crate::deploy::target_binary;
use crate::Testbed;
use std::fs;
use std::thread;
use std::time::{Duration, Instant};

/// Where the recorder is installed inside an instance.
const RECORDER: &str = "/run/testbed/notify-recorder";
/// One `<user>.jsonl` per started server.
const LOGS: &str = "/run/testbed-notifications";

impl Testbed {
    /// Starts a notification server as `user` on its session bus
    /// (`/run/user/UID/bus`, e.g. from [`Testbed::login`]) that records every
    /// Notify call; returns once it owns `org.freedesktop.Notifications`.
    ///
    /// # Panics
    ///
    /// If `notify-recorder` is not built (`cargo build --workspace --bins`)
    /// or the server is not ready within 10 s.
    pub fn start_notification_server(&self, user: &str) {
        if !self.host_path(RECORDER).exists() {
            self.install_executable(target_binary("notify-recorder"), RECORDER);
            self.check(&["mkdir", "-p", "-m", "1777", LOGS]);
        }
        let uid = self.check(&["id", "-u", user]).trim().to_owned();
        let log = format!("{LOGS}/{user}.jsonl");
        let unit = format!("testbed-notifications-{user}");
        self.check(&[
            "systemd-run",
            "--quiet",
            &format!("--unit={unit}"),
            &format!("--property=User={user}"),
            &format!(
                "--property=Environment=DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/{uid}/bus"
            ),
            RECORDER,
            &log,
        ]);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.host_path(&log).exists() {
            if Instant::now() >= deadline {
                panic!(
                    "testbed: notification server of {user} not ready\n--- journal ---\n{}",
                    self.journal(&unit)
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// The Notify calls that `user`'s server received so far, one JSON
    /// document each (see the `notify-recorder` binary for the fields).
    pub fn notifications(&self, user: &str) -> Vec<String> {
        fs::read_to_string(self.host_path(format!("{LOGS}/{user}.jsonl")))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}
