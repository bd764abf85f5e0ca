//! Where the generator's messages go. systemd runs generators with stdout
//! and stderr on /dev/null, so they must log elsewhere:
//! - /dev/kmsg in system scope (at boot the journal is not up yet, and it
//!   reads the kernel log later);
//! - else the journal's native socket (containers have no /dev/kmsg; user
//!   generators);
//! - else stderr, which is also what `SYSTEMD_LOG_TARGET=console` asks for.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::unix::net::UnixDatagram;
use update_all_core::{Diagnostic, Scope, Severity};

const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

enum Target {
    Kmsg(std::fs::File),
    Journal(UnixDatagram),
    Stderr,
}

pub struct Log {
    target: Target,
}

impl Log {
    pub fn open(scope: Scope) -> Log {
        let console = std::env::var("SYSTEMD_LOG_TARGET").is_ok_and(|t| t == "console");
        let kmsg = || {
            (scope == Scope::System)
                .then(|| OpenOptions::new().write(true).open("/dev/kmsg").ok())
                .flatten()
        };
        let journal = || {
            let socket = UnixDatagram::unbound().ok()?;
            socket.connect(JOURNAL_SOCKET).ok()?;
            Some(socket)
        };
        let target = if console {
            Target::Stderr
        } else if let Some(file) = kmsg() {
            Target::Kmsg(file)
        } else if let Some(socket) = journal() {
            Target::Journal(socket)
        } else {
            Target::Stderr
        };
        Log { target }
    }

    pub fn diagnostic(&mut self, d: &Diagnostic) {
        let level = match d.severity {
            Severity::Error => 3,
            Severity::Warning => 4,
        };
        self.line(level, &d.to_string());
    }

    /// Writes one message; `level` is a syslog priority.
    pub fn line(&mut self, level: u8, text: &str) {
        let pid = std::process::id();
        let sent = match &mut self.target {
            // One write per record, as /dev/kmsg requires.
            Target::Kmsg(kmsg) => kmsg
                .write_all(format!("<{level}>update-all-generator[{pid}]: {text}\n").as_bytes())
                .is_ok(),
            // The native protocol: KEY=value lines; messages have no newlines.
            Target::Journal(socket) => socket
                .send(
                    format!(
                        "MESSAGE={text}\nPRIORITY={level}\nSYSLOG_IDENTIFIER=update-all-generator\n\
                         SYSLOG_PID={pid}\n"
                    )
                    .as_bytes(),
                )
                .is_ok(),
            Target::Stderr => false,
        };
        if !sent {
            let _ = writeln!(io::stderr(), "update-all-generator: {text}");
        }
    }
}
