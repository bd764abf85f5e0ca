//! Accounts and login sessions inside an instance. The instance shares the
//! host's `/etc`, so accounts are never added with `useradd`, and never by
//! a bind mount over `/etc/passwd` either: whatever replaces the host's
//! file (an `adduser` in a package's postinst, `vipw`, any atomic rename)
//! detaches every mount on it in every namespace, and the accounts vanish
//! from a running instance. They are systemd user records instead
//! (JSON drop-ins in the instance's private `/run/userdb`, see
//! `nss-systemd(8)`), which glibc's NSS, logind and PID 1 resolve; the host
//! needs `systemd` on the `passwd` and `group` lines of
//! `/etc/nsswitch.conf`, which `libnss-systemd` adds. PAM's configuration
//! is a directory: a copy of `/etc/pam.d` with the additions, under the
//! private `/run/testbed-etc`, bind-mounted over `/etc/pam.d` in the
//! instance's own mount namespace only.

use crate::Testbed;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// Where the copy of `/etc/pam.d` lives inside an instance.
const ETC: &str = "/run/testbed-etc";
/// The user and group records of added users (a drop-in directory of
/// systemd's user database, private to the instance).
const USERDB: &str = "/run/userdb";
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
    /// If the name is not a plain lower-case name, the name or id is taken,
    /// the files cannot be written, or the instance does not resolve the
    /// new account (the host's NSS lacks `systemd`).
    pub fn add_user(&self, name: &str, uid: u32) {
        assert!(
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "testbed: {name:?} is not a plain user name"
        );
        for key in [name.to_owned(), uid.to_string()] {
            for db in ["passwd", "group"] {
                let out = self.exec(&["getent", db, &key]);
                assert!(
                    !out.status.success(),
                    "testbed: {key} is taken in {db}: {}",
                    String::from_utf8_lossy(&out.stdout)
                );
            }
        }
        let first = !self.host_path(format!("{ETC}/pam.d")).exists();
        let home = format!("{HOMES}/{name}");
        // Written before the name's records, which make the account exist.
        self.write(
            format!("{USERDB}/{name}.group"),
            format!(r#"{{"groupName":"{name}","gid":{uid},"disposition":"regular"}}"#),
            0o644,
        );
        self.write(
            format!("{USERDB}/{name}.user"),
            format!(
                r#"{{"userName":"{name}","uid":{uid},"gid":{uid},"realName":"{name}","homeDirectory":"{home}","shell":"/bin/sh","disposition":"regular"}}"#
            ),
            0o644,
        );
        for kind in ["user", "group"] {
            self.check(&[
                "ln",
                "-s",
                &format!("{name}.{kind}"),
                &format!("{USERDB}/{uid}.{kind}"),
            ]);
        }
        let resolved = self.exec(&["getent", "passwd", name]);
        assert!(
            resolved.status.success(),
            "testbed: the instance does not resolve {name} from {USERDB}: the host's \
             /etc/nsswitch.conf needs `systemd` on its passwd and group lines \
             (install libnss-systemd, see tests/testbed/REQUIREMENTS.apt)"
        );
        self.write(format!("{home}/.keep"), "", 0o644);
        self.check(&["chown", "-R", &format!("{uid}:{uid}"), &home]);
        self.check(&["chmod", "700", &home]);
        if first {
            self.check(&["mkdir", "-p", ETC]);
            self.check(&["cp", "-a", "/etc/pam.d", &format!("{ETC}/pam.d")]);
            self.write(format!("{ETC}/pam.d/{PAM_SERVICE}"), PAM_CONFIG, 0o644);
            self.write(
                format!("{ETC}/pam.d/systemd-user"),
                USER_MANAGER_PAM_CONFIG,
                0o644,
            );
            self.check(&["mount", "--bind", &format!("{ETC}/pam.d"), "/etc/pam.d"]);
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
