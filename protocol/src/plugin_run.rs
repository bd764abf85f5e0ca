//! One finished plugin command, however it was run (by hand, in a
//! transient unit): how it ended and what it printed. The parsers in
//! `answers` read it.

use crate::command::Command;
use crate::error::{excerpt, stderr_tail, Problem, ProtocolError};
use std::time::Duration;

/// How a plugin command ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this status.
    Code(i32),
    /// A signal killed it (not the timeout's).
    Signal(i32),
    /// It ran past its timeout and its process group was killed.
    TimedOut {
        after: Duration,
        /// The manifest key to raise: `timeouts.estimate_update`, …
        setting: &'static str,
    },
    /// It could not be started; the reason.
    NotStarted(String),
}

/// One finished plugin command and everything it printed.
#[derive(Clone, Debug)]
pub struct PluginRun {
    /// The plugin's name, for messages.
    pub plugin: String,
    pub command: Command,
    pub exit: Exit,
    pub stdout: Vec<u8>,
    /// All of stderr, or its end when it was long.
    pub stderr: Vec<u8>,
    pub elapsed: Duration,
}

impl PluginRun {
    /// The error for `problem`, quoting what helps.
    pub fn error(&self, problem: Problem) -> ProtocolError {
        let printed = (problem.about_stdout() && !self.stdout.trim_ascii().is_empty())
            .then(|| excerpt(self.stdout.trim_ascii()));
        ProtocolError {
            plugin: self.plugin.clone(),
            command: self.command,
            stderr: stderr_tail(&self.stderr),
            printed,
            problem,
        }
    }

    /// The exit status, or the error for a plugin that did not exit.
    pub fn code(&self) -> Result<i32, ProtocolError> {
        match &self.exit {
            Exit::Code(code) => Ok(*code),
            Exit::Signal(signal) => Err(self.error(Problem::Killed(*signal))),
            Exit::TimedOut { after, setting } => Err(self.error(Problem::TimedOut {
                after: *after,
                setting,
            })),
            Exit::NotStarted(why) => Err(self.error(Problem::NotStarted(why.clone()))),
        }
    }

    /// The protocol's answer to an unknown command: exit 2, nothing on
    /// stdout.
    pub fn is_unknown_command(&self) -> bool {
        self.exit == Exit::Code(2) && self.stdout.trim_ascii().is_empty()
    }

    /// The error for a command the plugin does not know.
    pub(crate) fn unknown(&self) -> ProtocolError {
        self.error(Problem::NotImplemented(
            "it exited with status 2 and printed nothing, the answer to an unknown command",
        ))
    }

    /// The error for an exit status the command does not have.
    pub(crate) fn unexpected(&self, code: i32) -> ProtocolError {
        self.error(Problem::UnexpectedExit {
            code,
            allowed: self.command.allowed_exits().1,
        })
    }
}
