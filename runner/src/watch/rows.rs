//! What the rows of a run say once their units ended: why a row failed.
//! (The run's summary is `summary::summarize`, the same as the recorder's.)

use crate::systemd::{Outcome, UnitProps};

/// Why a row failed, in words; none for done or skipped.
pub fn detail(outcome: Outcome, job_result: &str, props: &UnitProps) -> Option<String> {
    Some(match outcome {
        Outcome::Success => return None,
        Outcome::Skipped => return props.skip_reason().map(str::to_owned),
        Outcome::Cancelled => "cancelled".to_owned(),
        Outcome::Timeout => "timed out".to_owned(),
        Outcome::Oom => "out of memory".to_owned(),
        Outcome::Failed if job_result == "dependency" => "a unit it needs failed".to_owned(),
        _ => match (props.result.as_deref(), props.exec_main_status) {
            (Some("exit-code"), Some(status)) => format!("exit status {status}"),
            (Some("signal" | "core-dump"), Some(signal)) => format!("killed by signal {signal}"),
            (Some(result), _) => result.to_owned(),
            (None, _) => job_result.to_owned(),
        },
    })
}
