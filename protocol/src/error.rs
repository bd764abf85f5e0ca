//! What can be wrong with a plugin's answer ([`Problem`]), and the error
//! that says so for one plugin and one command ([`ProtocolError`]), quoting
//! what the plugin printed ([docs/plugin-protocol.md, Bad answers]).
//!
//! [docs/plugin-protocol.md, Bad answers]: https://github.com/update-all/update-all/blob/main/docs/plugin-protocol.md#bad-answers

use crate::command::Command;
use crate::document::Status;
use crate::progress::progress_status;
use serde::{Serialize, Serializer};
use std::fmt;
use std::time::Duration;

/// What is wrong with a plugin's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The executable could not be started; why.
    NotStarted(String),
    TimedOut {
        after: Duration,
        setting: &'static str,
    },
    /// Killed by this signal (not by the timeout).
    Killed(i32),
    /// The command is not implemented; how the plugin said so.
    NotImplemented(&'static str),
    UnexpectedExit {
        code: i32,
        allowed: &'static str,
    },
    /// Nothing on stdout where a JSON document was due.
    Empty,
    NotJson {
        line: usize,
        column: usize,
        message: String,
    },
    /// Parses, but does not follow the protocol; what is wrong.
    Invalid(String),
    StatusMismatch {
        status: Status,
        code: i32,
        expected: i32,
    },
}

impl Problem {
    /// A short stable name for JSON output and tests.
    pub fn kind(&self) -> &'static str {
        match self {
            Problem::NotStarted(_) => "not_started",
            Problem::TimedOut { .. } => "timed_out",
            Problem::Killed(_) => "killed",
            Problem::NotImplemented(_) => "not_implemented",
            Problem::UnexpectedExit { .. } => "unexpected_exit",
            Problem::Empty => "empty",
            Problem::NotJson { .. } => "not_json",
            Problem::Invalid(_) => "invalid",
            Problem::StatusMismatch { .. } => "status_mismatch",
        }
    }

    /// Whether quoting stdout helps (it is what the problem is about).
    pub(crate) fn about_stdout(&self) -> bool {
        matches!(
            self,
            Problem::UnexpectedExit { .. }
                | Problem::NotJson { .. }
                | Problem::Invalid(_)
                | Problem::StatusMismatch { .. }
        )
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Problem::NotStarted(why) => write!(f, "{why}; check the manifest's `executable`"),
            Problem::TimedOut { after, setting } => write!(
                f,
                "did not finish within {} s, so its process group was killed; \
                 raise `{setting}` in its manifest if it needs longer",
                after.as_secs()
            ),
            Problem::Killed(signal) => {
                let name = nix::sys::signal::Signal::try_from(*signal)
                    .map_or_else(|_| String::new(), |s| format!(" ({s})"));
                write!(f, "was killed by signal {signal}{name}")
            }
            Problem::NotImplemented(how) => write!(f, "is not implemented: {how}"),
            Problem::UnexpectedExit { code, allowed } => write!(
                f,
                "exited with status {code}, which the protocol does not allow here ({allowed})"
            ),
            Problem::Empty => f.write_str(
                "printed nothing on stdout; it must print one JSON document \
                 (docs/plugin-protocol.md)",
            ),
            Problem::NotJson {
                line,
                column,
                message,
            } => write!(
                f,
                "output is not JSON (line {line} column {column}: {message}); stdout must hold \
                 exactly one JSON document, and a tool's own output belongs on stderr"
            ),
            Problem::Invalid(what) => f.write_str(what),
            Problem::StatusMismatch {
                status,
                code,
                expected,
            } => write!(
                f,
                "the document says `{}` but the plugin exited with status {code}; \
                 the two must agree (`{}` goes with exit status {expected})",
                status.as_str(),
                status.as_str()
            ),
        }
    }
}

/// A plugin that broke the protocol, or could not answer at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtocolError {
    pub plugin: String,
    pub command: Command,
    pub problem: Problem,
    /// The start of stdout, when it matters.
    pub printed: Option<String>,
    /// The last lines of stderr other than progress lines, if any.
    pub stderr: Option<String>,
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "plugin `{}` {}: {}",
            self.plugin, self.command, self.problem
        )?;
        if let Some(printed) = &self.printed {
            write!(f, "; the plugin printed: {printed}")?;
        }
        if let Some(stderr) = &self.stderr {
            write!(f, "; its stderr ends with: {stderr}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ProtocolError {}

impl Serialize for ProtocolError {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("ProtocolError", 4)?;
        st.serialize_field("plugin", &self.plugin)?;
        st.serialize_field("command", &self.command)?;
        st.serialize_field("kind", self.problem.kind())?;
        st.serialize_field("message", &self.to_string())?;
        st.end()
    }
}

/// How much of the plugin's output a message quotes.
pub(crate) const EXCERPT: usize = 200;

/// `bytes` quoted for a one-line message: the first 200 bytes with
/// control characters escaped, and how long it really was.
pub fn excerpt(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(EXCERPT)];
    let text = String::from_utf8_lossy(cut);
    let mut quoted = format!("{text:?}");
    if bytes.len() > EXCERPT {
        quoted.push_str(&format!("… ({} bytes in all)", bytes.len()));
    }
    quoted
}

/// The last few lines of stderr that are not progress lines, quoted.
pub(crate) fn stderr_tail(stderr: &[u8]) -> Option<String> {
    let lines: Vec<&[u8]> = stderr
        .split(|&b| b == b'\n')
        .map(<[u8]>::trim_ascii)
        .filter(|l| !l.is_empty())
        .filter(|l| progress_status(l).is_none())
        .collect();
    let tail = lines[lines.len().saturating_sub(3)..].join(&b'\n');
    if tail.is_empty() {
        return None;
    }
    let start = tail.len().saturating_sub(EXCERPT);
    Some(excerpt(&tail[start..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_are_short_and_escaped() {
        assert_eq!(excerpt(b"a\nb\"c"), r#""a\nb\"c""#);
        let long = excerpt(&[b'x'; 1000]);
        assert!(long.ends_with("… (1000 bytes in all)"));
        assert_eq!(long.matches('x').count(), EXCERPT);
    }

    #[test]
    fn the_stderr_quoted_leaves_progress_out() {
        let stderr =
            b"one\n{\"type\":\"progress\",\"percent\":5,\"message\":\"x\"}\ntwo\n\nthree\nfour\n";
        assert_eq!(
            stderr_tail(stderr).as_deref(),
            Some(r#""two\nthree\nfour""#)
        );
        assert_eq!(stderr_tail(b"{\"type\":\"progress\"}\n \n"), None);
    }
}
