//! How a unit stands, and how a finished one ended: the one place that
//! reads systemd's job results and service properties as an [`Outcome`].
//! The run's table, `check`, the recorder (from the bus and from the
//! journal) all classify here.

use super::{Outcome, UnitProps};
use serde::{Serialize, Serializer};
use std::fmt;

/// `ExecMainCode`: the si_code of the main process's end (CLD_*, from
/// waitid(2)); 0 while it never ran.
pub const CLD_EXITED: i32 = 1;
pub const CLD_KILLED: i32 = 2;
pub const CLD_DUMPED: i32 = 3;

/// The names records give `ExecMainCode` (as systemd's own messages do).
const EXIT_CODES: [(i32, &str); 3] = [
    (CLD_EXITED, "exited"),
    (CLD_KILLED, "killed"),
    (CLD_DUMPED, "dumped"),
];

/// `ExecMainCode` as records name it: exited, killed, dumped; none when
/// the main process never ran.
pub fn exit_code_name(code: i32) -> Option<&'static str> {
    EXIT_CODES.iter().find(|(c, _)| *c == code).map(|(_, n)| *n)
}

/// The `ExecMainCode` of a name from [`exit_code_name`].
pub fn exit_code_of_name(name: &str) -> Option<i32> {
    EXIT_CODES.iter().find(|(_, n)| *n == name).map(|(c, _)| *c)
}

/// Where a plugin unit stands, or how it ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnitState {
    /// It has a job that has not started running yet.
    Waiting,
    Running,
    Finished(Outcome),
}

/// The status text an `ExecCondition=` leaves when it skips its unit for a
/// reason worth telling (`run::preflight::space`: "skipped: needs 1.2 GiB
/// on /var, 300.0 MiB free").
pub const SKIPPED_STATUS: &str = "skipped: ";

impl UnitProps {
    /// Why the unit's condition skipped it, when it said.
    pub fn skip_reason(&self) -> Option<&str> {
        self.status_text.as_deref()?.strip_prefix(SKIPPED_STATUS)
    }

    /// How the unit ended, from its start job's result (when known) and
    /// these properties, read once the job was removed: [`classify`].
    pub fn ended_as(&self, job_result: Option<&str>) -> Outcome {
        classify(
            job_result,
            self.result.as_deref(),
            self.condition_result,
            self.exec_main_code,
        )
    }
}

impl UnitState {
    /// `waiting`, `running`, or the outcome's name ([`Outcome::as_str`]),
    /// as `status` shows it. (`run` has words of its own for a finished
    /// unit: see `output::progress`.)
    pub fn as_str(self) -> &'static str {
        match self {
            UnitState::Waiting => "waiting",
            UnitState::Running => "running",
            UnitState::Finished(outcome) => outcome.as_str(),
        }
    }

    /// How it ended, once it did.
    pub fn outcome(self) -> Option<Outcome> {
        match self {
            UnitState::Finished(outcome) => Some(outcome),
            UnitState::Waiting | UnitState::Running => None,
        }
    }

    pub fn is_final(self) -> bool {
        self.outcome().is_some()
    }

    /// Counts against the run: finished, neither a success nor a skip.
    pub fn is_failure(self) -> bool {
        self.outcome().is_some_and(Outcome::is_failure)
    }
}

impl fmt::Display for UnitState {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for UnitState {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// How a finished unit ended, from what systemd says of it:
///
/// - `job_result`: its start job's result (`JobRemoved`), when known:
///   done, canceled, timeout, failed, dependency, skipped. A job that ended
///   without running the unit decides alone: canceled (`update-all
///   cancel`, `systemctl stop`) is [`Outcome::Cancelled`], dependency (a
///   unit it `Requires=` failed: a plugin's download) a failure, timeout
///   (`JobTimeoutSec=`) a timeout, skipped a skip.
/// - `result`: the service's `Result` (success, exit-code, signal,
///   core-dump, timeout, oom-kill, exec-condition, start-limit-hit, ...).
/// - `condition_result`: `ConditionResult`. An `ExecCondition=` that
///   exits 1..254 (is-applicable said no) ends as `exec-condition` with
///   ConditionResult=no; a false `Condition*=` never starts the unit and
///   leaves its `Result` as the last run left it, so a false condition is
///   a skip whatever `Result` says.
/// - `main_code`: `ExecMainCode` (`CLD_*`). systemd calls a main process
///   that SIGTERM stopped a success; it was stopped, so it was cancelled.
///   (`ExecMainStatus`, the exit status or signal, says how, not what:
///   see the run's row detail and the record's exit status.)
pub fn classify(
    job_result: Option<&str>,
    result: Option<&str>,
    condition_result: Option<bool>,
    main_code: Option<i32>,
) -> Outcome {
    match job_result {
        Some("canceled") => return Outcome::Cancelled,
        Some("dependency") => return Outcome::Failed,
        Some("skipped") => return Outcome::Skipped,
        Some("timeout") => return Outcome::Timeout,
        _ => {}
    }
    match result {
        Some("exec-condition") => Outcome::Skipped,
        _ if condition_result == Some(false) => Outcome::Skipped,
        Some("success") if matches!(main_code, Some(CLD_KILLED | CLD_DUMPED)) => Outcome::Cancelled,
        Some("success") => Outcome::Success,
        Some("exit-code") => Outcome::Failed,
        Some("timeout") => Outcome::Timeout,
        Some("oom-kill") => Outcome::Oom,
        Some("signal") => Outcome::Signal,
        Some("core-dump") => Outcome::CoreDump,
        Some("watchdog") => Outcome::Watchdog,
        Some("start-limit-hit") => Outcome::StartLimitHit,
        Some("resources") => Outcome::Resources,
        Some("protocol") => Outcome::Protocol,
        _ => Outcome::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A job result, then the service's Result, ConditionResult and
    /// ExecMainCode, as systemd leaves them for each way a unit ends.
    #[test]
    fn every_way_a_unit_ends() {
        let cases: &[(Option<&str>, &str, bool, i32, Outcome)] = &[
            // Ran and exited 0.
            (Some("done"), "success", true, CLD_EXITED, Outcome::Success),
            // Exited non-zero: the job failed with the service.
            (
                Some("failed"),
                "exit-code",
                true,
                CLD_EXITED,
                Outcome::Failed,
            ),
            (None, "exit-code", true, CLD_EXITED, Outcome::Failed),
            // Killed by a signal other than a clean one, or dumped core.
            (Some("failed"), "signal", true, CLD_KILLED, Outcome::Signal),
            (
                Some("failed"),
                "core-dump",
                true,
                CLD_DUMPED,
                Outcome::CoreDump,
            ),
            // TimeoutStartSec= (the plugin's timeout) ran out.
            (
                Some("failed"),
                "timeout",
                true,
                CLD_KILLED,
                Outcome::Timeout,
            ),
            // The job's own timeout.
            (Some("timeout"), "success", true, 0, Outcome::Timeout),
            (Some("failed"), "oom-kill", true, CLD_KILLED, Outcome::Oom),
            (
                Some("failed"),
                "watchdog",
                true,
                CLD_KILLED,
                Outcome::Watchdog,
            ),
            (Some("failed"), "resources", true, 0, Outcome::Resources),
            (
                Some("failed"),
                "protocol",
                true,
                CLD_EXITED,
                Outcome::Protocol,
            ),
            // Started too often: refused before running.
            (
                Some("failed"),
                "start-limit-hit",
                true,
                0,
                Outcome::StartLimitHit,
            ),
            // A false Condition*=: never started, Result left from before.
            (Some("done"), "success", false, CLD_EXITED, Outcome::Skipped),
            (
                Some("done"),
                "exit-code",
                false,
                CLD_EXITED,
                Outcome::Skipped,
            ),
            (Some("skipped"), "success", true, 0, Outcome::Skipped),
            // Cancelled: the start job went (stop, `update-all cancel`) ...
            (Some("canceled"), "success", true, 0, Outcome::Cancelled),
            (
                Some("canceled"),
                "signal",
                true,
                CLD_KILLED,
                Outcome::Cancelled,
            ),
            // ... or its main process was stopped by SIGTERM, which systemd
            // counts as a clean exit.
            (None, "success", true, CLD_KILLED, Outcome::Cancelled),
            (
                Some("done"),
                "success",
                true,
                CLD_DUMPED,
                Outcome::Cancelled,
            ),
            // A unit it Requires= failed: it never ran.
            (Some("dependency"), "success", true, 0, Outcome::Failed),
            // A result this version does not know.
            (Some("failed"), "something-new", true, 0, Outcome::Failed),
        ];
        for &(job, result, condition, code, want) in cases {
            assert_eq!(
                classify(job, Some(result), Some(condition), Some(code)),
                want,
                "{job:?} {result} {condition} {code}"
            );
        }
        // ExecCondition= (is-applicable) exiting 1..254: a skip.
        for job in [Some("done"), Some("skipped"), None] {
            assert_eq!(
                classify(job, Some("exec-condition"), Some(false), Some(0)),
                Outcome::Skipped
            );
        }
        // Nothing known but the job.
        assert_eq!(classify(Some("done"), None, None, None), Outcome::Failed);
        assert_eq!(
            classify(Some("canceled"), None, None, None),
            Outcome::Cancelled
        );
    }

    #[test]
    fn states_from_properties() {
        let props = UnitProps {
            result: Some("success".into()),
            condition_result: Some(true),
            exec_main_code: Some(CLD_EXITED),
            ..UnitProps::default()
        };
        assert_eq!(props.ended_as(Some("done")), Outcome::Success);
        assert_eq!(props.ended_as(Some("canceled")), Outcome::Cancelled);
        let done = UnitState::Finished(props.ended_as(None));
        assert!(done.is_final() && !done.is_failure());
        assert!(!UnitState::Running.is_final() && !UnitState::Waiting.is_failure());
        assert!(UnitState::Finished(Outcome::Timeout).is_failure());
        assert!(!UnitState::Finished(Outcome::Skipped).is_failure());
    }

    #[test]
    fn states_read_as_outcomes() {
        assert_eq!(UnitState::Waiting.as_str(), "waiting");
        assert_eq!(UnitState::Finished(Outcome::CoreDump).as_str(), "core-dump");
        assert_eq!(
            serde_json::to_string(&UnitState::Finished(Outcome::Success)).unwrap(),
            "\"success\""
        );
    }
}
