//! Accounts and login sessions inside an instance. The instance shares the
//! host's `/etc`, so accounts are never added with `useradd`: copies of
//! `/etc/passwd`, `/etc/group` and `/etc/pam.d` with the additions live
//! under the private `/run/testbed-etc` and are bind-mounted over the
//! originals in the instance's own mount namespace only.

use crate::Testbed;
use std::fs;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// Where the copies live inside an instance.
const ETC: &str = "/run/testbed-etc";
/// Home directories of added users.
const HOMES: &str = "/run/testbed-home";
/// The PAM service of [`Testbed::login`]: registers the session with logind
/// (pam_systemd) and does nothing else; `login`'s own stack would write the
/// host's lastlog.
const PAM_SERVICE: &str = "testbed-session";
const PAM_CONFIG: &str = "\
auth     required pam_permit.so
account  required pam_permit.so
session  required pam_systemd.so
";
/// The PAM service of `user@.service`, replaced too: the host's stack may
/// check `/etc/shadow`, which has no entries for added users (pam_systemd
/// gives the user manager its `$XDG_RUNTIME_DIR`).
const USER_MANAGER_PAM_CONFIG: &str = "\
account  required pam_permit.so
session  optional pam_systemd.so
";
/// How long [`Testbed::login`] waits for the session and the user's bus.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(30);

impl Testbed {
    /// Adds the account `name` with `uid` (and a group of the same name and
    /// id, and a home under `/run/testbed-home`) inside the instance only.
    ///
    /// # Panics
    ///
    /// If the name or id is taken, or the files cannot be written.
    pub fn add_user(&self, name: &str, uid: u32) {
        let first = !self.host_path(format!("{ETC}/passwd")).exists();
        let read = |file: &str| {
            fs::read_to_string(self.host_path(file))
                .unwrap_or_else(|e| panic!("testbed: cannot read {file}: {e}"))
        };
        // The instance's view: the copy once it is mounted.
        let mut passwd = read("/etc/passwd");
        let mut group = read("/etc/group");
        for (file, text) in [("passwd", &passwd), ("group", &group)] {
            let taken = text.lines().any(|l| {
                let mut f = l.split(':');
                f.next() == Some(name) || f.nth(1) == Some(&uid.to_string())
            });
            assert!(!taken, "testbed: {name} or {uid} is taken in {file}");
        }
        let home = format!("{HOMES}/{name}");
        passwd.push_str(&format!("{name}:x:{uid}:{uid}:{name}:{home}:/bin/sh\n"));
        group.push_str(&format!("{name}:x:{uid}:\n"));
        // Written in place: a bind mount holds on to the file, not the name.
        self.write(format!("{ETC}/passwd"), passwd, 0o644);
        self.write(format!("{ETC}/group"), group, 0o644);
        self.write(format!("{home}/.keep"), "", 0o644);
        self.check(&["chown", "-R", &format!("{uid}:{uid}"), &home]);
        self.check(&["chmod", "700", &home]);
        if first {
            self.check(&["cp", "-a", "/etc/pam.d", &format!("{ETC}/pam.d")]);
            self.write(format!("{ETC}/pam.d/{PAM_SERVICE}"), PAM_CONFIG, 0o644);
            self.write(
                format!("{ETC}/pam.d/systemd-user"),
                USER_MANAGER_PAM_CONFIG,
                0o644,
            );
            for file in ["passwd", "group", "pam.d"] {
                self.check(&[
                    "mount",
                    "--bind",
                    &format!("{ETC}/{file}"),
                    &format!("/etc/{file}"),
                ]);
            }
            self.give_users_dev_null();
        }
    }

    /// Users' programs (dbus-daemon first) open `/dev/null` for writing, but
    /// the instance's is the host's node bind-mounted, whose mode may be
    /// 0644 (as on some sandboxes). A node of mode 0666 of its own, on a
    /// tmpfs that allows devices (`/run` does not), goes on top of it;
    /// the host's node is left as it is.
    fn give_users_dev_null(&self) {
        self.check(&[
            "sh",
            "-euc",
            "mkdir -p /run/testbed-null
             mount -t tmpfs -o mode=755,size=4k,nosuid,noexec tmpfs /run/testbed-null
             mknod -m 666 /run/testbed-null/null c 1 3
             mount --bind /run/testbed-null/null /dev/null",
        ]);
    }

    /// Opens a logind session for `user` (added with [`Testbed::add_user`])
    /// of `class` (`user`, `greeter`, ...) and `kind` (`x11`, `wayland`,
    /// `tty`, ...), held by a service running `sleep infinity`, and waits
    /// until logind lists it and the user's session bus
    /// `/run/user/UID/bus` is there. Returns the session id.
    ///
    /// # Panics
    ///
    /// If the session or the bus does not appear within 30 s.
    pub fn login(&self, user: &str, class: &str, kind: &str) -> String {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let unit = format!(
            "testbed-session-{user}-{}",
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        self.check(&[
            "systemd-run",
            "--quiet",
            &format!("--unit={unit}"),
            &format!("--property=PAMName={PAM_SERVICE}"),
            &format!("--property=User={user}"),
            &format!("--property=Environment=XDG_SESSION_CLASS={class} XDG_SESSION_TYPE={kind}"),
            "sleep",
            "infinity",
        ]);
        let uid = self.check(&["id", "-u", user]).trim().to_owned();
        let bus = format!("/run/user/{uid}/bus");
        let deadline = Instant::now() + LOGIN_TIMEOUT;
        loop {
            if let Some(id) = self.session_of(&unit) {
                if self.host_path(&bus).exists() {
                    return id;
                }
            }
            if Instant::now() >= deadline {
                panic!(
                    "testbed: no logind session with a bus for {unit}\n--- sessions ---\n{}\n--- journal ---\n{}",
                    self.check(&["loginctl", "list-sessions", "--no-legend"]),
                    self.journal(&unit)
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The logind session id of the main process of `unit`, if any yet.
    fn session_of(&self, unit: &str) -> Option<String> {
        let pid = self.check(&["systemctl", "show", "-P", "MainPID", unit]);
        let pid = pid.trim();
        if pid.is_empty() || pid == "0" {
            return None;
        }
        let out = self.exec(&[
            "busctl",
            "call",
            "org.freedesktop.login1",
            "/org/freedesktop/login1",
            "org.freedesktop.login1.Manager",
            "GetSessionByPID",
            "u",
            pid,
        ]);
        // `o "/org/freedesktop/login1/session/_32"`
        let path = String::from_utf8_lossy(&out.stdout);
        let path = path.trim().strip_prefix("o ")?.trim_matches('"').to_owned();
        let id = self.exec(&[
            "busctl",
            "get-property",
            "org.freedesktop.login1",
            &path,
            "org.freedesktop.login1.Session",
            "Id",
        ]);
        let id = String::from_utf8_lossy(&id.stdout);
        Some(id.trim().strip_prefix("s ")?.trim_matches('"').to_owned())
    }
}
