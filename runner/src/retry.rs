//! Retries of transient failures, as one plugin unit makes them: which
//! answers are retried, how long to wait before each attempt, and how an
//! attempt is told in the unit's status text (docs/plugin-protocol.md,
//! "Error codes"; docs/configuration.md, "Retries").
//!
//! `plugin-exec` runs the attempts; the recorder reads how many there were
//! back from the status text the unit leaves behind ([`Attempt::in_status`]):
//! systemd keeps a service's last `STATUS=` until its next start, and with
//! `NotifyAccess=main` only `plugin-exec` can set it.

use std::fmt;
use std::time::Duration;
use update_all_core::config::Retries;
use update_all_protocol::{Document, ErrorInfo};

/// The error of an answer worth another attempt: a document with
/// `status: error` and a transient code. Anything else (success, another
/// code, no document at all) stands.
pub fn transient(answer: Option<&Document>) -> Option<&ErrorInfo> {
    answer?.failure().filter(|e| e.is_transient())
}

/// The wait before attempt `number` (counted from 1): none before the
/// first, `backoff` before the second, twice as long before each next.
pub fn delay_before(retries: &Retries, number: u32) -> Duration {
    match number {
        0 | 1 => Duration::ZERO,
        n => retries
            .backoff
            .saturating_mul(1u32.checked_shl(n - 2).unwrap_or(u32::MAX)),
    }
}

/// One attempt of a unit's command: `number` of `of`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attempt {
    pub number: u32,
    pub of: u32,
}

/// How every status text of an attempt after the first begins.
const WORD: &str = "attempt ";

impl fmt::Display for Attempt {
    /// `attempt 2/3`.
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{WORD}{}/{}", self.number, self.of)
    }
}

impl Attempt {
    /// The first attempt's status texts are the plugin's own; a later
    /// one's begin with `attempt 2/3: `, so the text says which it is.
    pub fn status(&self, text: &str) -> String {
        if self.number <= 1 {
            text.to_owned()
        } else {
            format!("{self}: {text}")
        }
    }

    /// The status text while waiting before the next attempt, after this
    /// one failed with `error`.
    pub fn waiting(&self, error: &ErrorInfo, wait: Duration) -> String {
        format!(
            "{self} failed ({}); attempt {}/{} in {}",
            error.code,
            self.number + 1,
            self.of,
            wait_text(wait)
        )
    }

    /// A status text without its `attempt 2/3: ` (see [`Attempt::status`]).
    pub fn text_of(status: &str) -> &str {
        match status.split_once(": ") {
            Some((head, text)) if Attempt::in_status(head).is_some() => text,
            _ => status,
        }
    }

    /// The attempt a unit's status text tells of: `attempt N/M` at its
    /// start. `None` for any other text (the first attempt's, or a unit
    /// that ran without retries).
    pub fn in_status(text: &str) -> Option<Attempt> {
        let rest = text.strip_prefix(WORD)?;
        let end = rest
            .find(|c: char| !c.is_ascii_digit() && c != '/')
            .unwrap_or(rest.len());
        let (number, of) = rest[..end].split_once('/')?;
        let attempt = Attempt {
            number: number.parse().ok()?,
            of: of.parse().ok()?,
        };
        (attempt.number >= 1 && attempt.number <= attempt.of).then_some(attempt)
    }
}

/// `2 s`, `0.2 s`: a wait as people read it.
pub fn wait_text(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> Document {
        Document::parse(text.as_bytes()).unwrap()
    }

    fn failed(code: &str) -> Document {
        doc(&format!(
            r#"{{"status":"error","data":null,"error":{{"code":"{code}","message":"m","details":null}},"progress":null}}"#
        ))
    }

    #[test]
    fn only_transient_error_documents_are_retried() {
        for code in ["NETWORK_ERROR", "TIMEOUT", "TEMPORARY_FAILURE", "LOCKED"] {
            assert!(transient(Some(&failed(code))).is_some(), "{code}");
        }
        for code in ["PACKAGE_ERROR", "UPDATE_FAILED", "INTERRUPTED"] {
            assert!(transient(Some(&failed(code))).is_none(), "{code}");
        }
        assert!(transient(None).is_none());
        let ok = doc(r#"{"status":"success","data":{},"error":null,"progress":null}"#);
        assert!(transient(Some(&ok)).is_none());
    }

    #[test]
    fn the_waits_double_from_the_backoff() {
        let retries = Retries::default();
        let waits: Vec<Duration> = (1..=4).map(|n| delay_before(&retries, n)).collect();
        assert_eq!(
            waits,
            [0, 2, 4, 8].map(Duration::from_secs),
            "2, 4, 8 s by default"
        );
        let short = Retries {
            attempts: 3,
            backoff: Duration::from_millis(200),
        };
        assert_eq!(delay_before(&short, 3), Duration::from_millis(400));
        // No overflow however many attempts.
        assert_eq!(
            delay_before(&retries, 100),
            Duration::from_secs(2).saturating_mul(u32::MAX)
        );
    }

    #[test]
    fn status_texts_carry_the_attempt_and_give_it_back() {
        let first = Attempt { number: 1, of: 3 };
        let second = Attempt { number: 2, of: 3 };
        assert_eq!(first.status("45% Get 3/10"), "45% Get 3/10");
        assert_eq!(second.status("45% Get 3/10"), "attempt 2/3: 45% Get 3/10");
        let error = failed("LOCKED").error.unwrap();
        let waiting = first.waiting(&error, Duration::from_millis(200));
        assert_eq!(waiting, "attempt 1/3 failed (LOCKED); attempt 2/3 in 0.2 s");
        assert_eq!(Attempt::in_status(&waiting), Some(first));
        assert_eq!(
            Attempt::in_status(&second.status("update finished")),
            Some(second)
        );
        assert_eq!(
            Attempt::text_of("attempt 2/3: 45% Get 3/10"),
            "45% Get 3/10"
        );
        assert_eq!(Attempt::text_of("45% Get: 3/10"), "45% Get: 3/10");
        assert_eq!(
            second.waiting(&error, Duration::from_secs(4)),
            "attempt 2/3 failed (LOCKED); attempt 3/3 in 4 s"
        );
        for other in [
            "update finished",
            "45% Get 3/10",
            "attempt",
            "attempt 4/3: x",
            "attempt 0/3: x",
            "attempt x/3",
        ] {
            assert_eq!(Attempt::in_status(other), None, "{other}");
        }
    }
}
