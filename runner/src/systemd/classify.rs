//! How a finished unit ended, from what systemd says of it.

use super::UnitProps;
use serde::Serialize;
use std::fmt;

/// Where a plugin unit stands, or how it ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// It has a job that has not started running yet.
    Waiting,
    Running,
    /// Finished successfully.
    Done,
    Failed,
    /// Its is-applicable said no (ExecCondition) or a Condition was false.
    Skipped,
    Timeout,
    Oom,
    /// Stopped before it finished (`update-all cancel`, `systemctl stop`).
    Cancelled,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Waiting => "waiting",
            State::Running => "running",
            State::Done => "done",
            State::Failed => "failed",
            State::Skipped => "skipped",
            State::Timeout => "timeout",
            State::Oom => "oom",
            State::Cancelled => "cancelled",
        }
    }

    pub fn is_final(self) -> bool {
        !matches!(self, State::Waiting | State::Running)
    }

    /// Counts against the run: anything final but done or skipped.
    pub fn is_failure(self) -> bool {
        self.is_final() && !matches!(self, State::Done | State::Skipped)
    }

    /// How a unit ended, from its start job's result (when known) and its
    /// properties after the job was removed.
    pub fn of_finished(job_result: Option<&str>, props: &UnitProps) -> State {
        match job_result {
            Some("canceled") => return State::Cancelled,
            // A unit it Requires= failed (a plugin's download): it never ran.
            Some("dependency") => return State::Failed,
            Some("skipped") => return State::Skipped,
            Some("timeout") => return State::Timeout,
            _ => {}
        }
        match props.result.as_deref() {
            Some("success") if props.condition_result == Some(false) => State::Skipped,
            Some("success") => State::Done,
            Some("exec-condition") => State::Skipped,
            Some("timeout") => State::Timeout,
            Some("oom-kill") => State::Oom,
            _ => State::Failed,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_states() {
        let with = |result: &str, cond: bool| UnitProps {
            result: Some(result.into()),
            condition_result: Some(cond),
            ..UnitProps::default()
        };
        assert_eq!(
            State::of_finished(Some("done"), &with("success", true)),
            State::Done
        );
        assert_eq!(
            State::of_finished(Some("done"), &with("success", false)),
            State::Skipped
        );
        assert_eq!(
            State::of_finished(Some("done"), &with("exec-condition", true)),
            State::Skipped
        );
        assert_eq!(
            State::of_finished(Some("failed"), &with("exit-code", true)),
            State::Failed
        );
        assert_eq!(
            State::of_finished(Some("failed"), &with("timeout", true)),
            State::Timeout
        );
        assert_eq!(
            State::of_finished(Some("failed"), &with("oom-kill", true)),
            State::Oom
        );
        assert_eq!(
            State::of_finished(Some("canceled"), &with("success", true)),
            State::Cancelled
        );
        assert_eq!(
            State::of_finished(Some("dependency"), &with("success", true)),
            State::Failed
        );
        assert_eq!(
            State::of_finished(None, &with("signal", true)),
            State::Failed
        );
        assert!(State::Timeout.is_failure() && !State::Skipped.is_failure());
        assert!(!State::Running.is_final());
    }
}
