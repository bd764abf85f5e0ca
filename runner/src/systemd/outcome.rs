//! The one vocabulary of how a plugin unit's invocation ended: `run`,
//! `status`, `history`, the notifications and the statistics database all
//! speak it. [`classify`](super::classify()) makes one from what systemd
//! says.

use serde::Serialize;
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Success,
    /// `is-applicable` said no (ExecCondition exited 1..254).
    Skipped,
    /// Exited with a non-zero status (systemd: exit-code).
    Failed,
    Timeout,
    /// Killed by the kernel's or systemd-oomd's OOM killer (oom-kill).
    Oom,
    Signal,
    CoreDump,
    Watchdog,
    StartLimitHit,
    Resources,
    Protocol,
    /// Stopped before it finished (e.g. `update-all cancel`): systemd calls
    /// a SIGTERM'd main process a success.
    Cancelled,
}

/// (outcome, stored name) for every outcome; the names are the text
/// stored in the `result` column of the statistics database and the JSON
/// of `status` and `history`, so they never change.
const NAMES: [(Outcome, &str); 12] = [
    (Outcome::Success, "success"),
    (Outcome::Skipped, "skipped"),
    (Outcome::Failed, "failed"),
    (Outcome::Timeout, "timeout"),
    (Outcome::Oom, "oom"),
    (Outcome::Signal, "signal"),
    (Outcome::CoreDump, "core-dump"),
    (Outcome::Watchdog, "watchdog"),
    (Outcome::StartLimitHit, "start-limit-hit"),
    (Outcome::Resources, "resources"),
    (Outcome::Protocol, "protocol"),
    (Outcome::Cancelled, "cancelled"),
];

impl Outcome {
    pub fn as_str(self) -> &'static str {
        NAMES
            .iter()
            .find(|(o, _)| *o == self)
            .map_or("?", |(_, n)| n)
    }

    /// The stored name back; unknown text (a newer update-all's) reads as
    /// a failure.
    pub fn parse(s: &str) -> Outcome {
        NAMES
            .iter()
            .find(|(_, n)| *n == s)
            .map_or(Outcome::Failed, |(o, _)| *o)
    }

    /// Neither a success nor a skip.
    pub fn is_failure(self) -> bool {
        !matches!(self, Outcome::Success | Outcome::Skipped)
    }

    /// The worse of two outcomes of one plugin's phases: any failure beats
    /// success, which beats skipped.
    pub fn worse(self, other: Outcome) -> Outcome {
        let rank = |o: Outcome| match o {
            Outcome::Skipped => 0,
            Outcome::Success => 1,
            _ => 2,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for (o, name) in NAMES {
            assert_eq!(Outcome::parse(name), o);
            assert_eq!(o.as_str(), name);
            assert_eq!(serde_json::to_string(&o).unwrap(), format!("\"{name}\""));
        }
    }

    #[test]
    fn worse_is_failure_then_success_then_skip() {
        assert_eq!(Outcome::Success.worse(Outcome::Timeout), Outcome::Timeout);
        assert_eq!(Outcome::Success.worse(Outcome::Skipped), Outcome::Success);
    }
}
