//! What became of one plugin unit's invocation, from systemd's service
//! `Result` and how its main process ended.

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

/// (outcome, stored name) for every outcome; the names are the stored
/// text and the JSON, so they never change.
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

/// `ExecMainCode`: the si_code of the main process's end (CLD_*).
pub const CLD_EXITED: i32 = 1;
pub const CLD_KILLED: i32 = 2;
pub const CLD_DUMPED: i32 = 3;

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

    /// From a finished service: its `Result`, whether its conditions held
    /// (`ConditionResult`) and `ExecMainCode`.
    pub fn from_systemd(result: &str, condition_result: bool, main_code: i32) -> Outcome {
        match result {
            // A failed ExecCondition= ends as "exec-condition" with
            // ConditionResult=no; a failed Condition*= never starts.
            "exec-condition" => Outcome::Skipped,
            _ if !condition_result => Outcome::Skipped,
            "success" if main_code == CLD_KILLED || main_code == CLD_DUMPED => Outcome::Cancelled,
            "success" => Outcome::Success,
            "exit-code" => Outcome::Failed,
            "timeout" => Outcome::Timeout,
            "oom-kill" => Outcome::Oom,
            "signal" => Outcome::Signal,
            "core-dump" => Outcome::CoreDump,
            "watchdog" => Outcome::Watchdog,
            "start-limit-hit" => Outcome::StartLimitHit,
            "resources" => Outcome::Resources,
            "protocol" => Outcome::Protocol,
            _ => Outcome::Failed,
        }
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
    fn systemd_results() {
        assert_eq!(
            Outcome::from_systemd("exec-condition", false, 0),
            Outcome::Skipped
        );
        assert_eq!(
            Outcome::from_systemd("success", true, CLD_EXITED),
            Outcome::Success
        );
        assert_eq!(
            Outcome::from_systemd("success", true, CLD_KILLED),
            Outcome::Cancelled
        );
        assert_eq!(
            Outcome::from_systemd("exit-code", true, CLD_EXITED),
            Outcome::Failed
        );
        assert_eq!(
            Outcome::from_systemd("oom-kill", true, CLD_KILLED),
            Outcome::Oom
        );
        assert_eq!(Outcome::Success.worse(Outcome::Timeout), Outcome::Timeout);
        assert_eq!(Outcome::Success.worse(Outcome::Skipped), Outcome::Success);
    }
}
