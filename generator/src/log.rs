//! Where the generator's messages go: /dev/kmsg in system scope (the
//! journal is not running yet at boot), stderr otherwise or when
//! `SYSTEMD_LOG_TARGET=console` asks for it.

use std::fs::OpenOptions;
use std::io::{self, Write};
use update_all_generator::{Diagnostic, Scope, Severity};

pub struct Log {
    kmsg: Option<std::fs::File>,
}

impl Log {
    pub fn open(scope: Scope) -> Log {
        let console = std::env::var("SYSTEMD_LOG_TARGET").is_ok_and(|t| t == "console");
        let kmsg = (scope == Scope::System && !console)
            .then(|| OpenOptions::new().write(true).open("/dev/kmsg").ok())
            .flatten();
        Log { kmsg }
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
        if let Some(kmsg) = &mut self.kmsg {
            // One write per record, as /dev/kmsg requires.
            let record = format!(
                "<{level}>update-all-generator[{}]: {text}\n",
                std::process::id()
            );
            if kmsg.write_all(record.as_bytes()).is_ok() {
                return;
            }
        }
        let _ = writeln!(io::stderr(), "update-all-generator: {text}");
    }
}
