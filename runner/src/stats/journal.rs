//! What only the journal remembers about a skipped unit.
//!
//! When `is-applicable` says no (ExecCondition), systemd 252 resets the
//! unit as if it had never started: `InvocationID`, `InactiveExitTimestamp`
//! and the rest read empty afterwards, and only `ConditionResult=no` is
//! left. The manager's own messages keep the invocation: "Starting …" and
//! "Skipped due to 'exec-condition'", both tagged with it. The recorder
//! reads them for a skip it did not see begin, e.g. after a crash.

use serde_json::Value;
use std::process::{Command, Stdio};
use update_all_generator::Scope;

/// `SD_MESSAGE_UNIT_SKIPPED`: "<unit>: Skipped due to '<condition>'."
const UNIT_SKIPPED: &str = "0e4284a0caca4bfc81c0bb6786972673";
/// The manager's messages about a unit, newest first, that are read: a
/// skip is a handful of them.
const LINES: &str = "40";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skip {
    pub invocation_id: String,
    /// The first message of that invocation ("Starting …").
    pub started_us: i64,
    /// The skip message.
    pub ended_us: i64,
}

/// The latest skip of `unit` the journal has, if it can be read.
pub fn last_skip(scope: Scope, unit: &str) -> Option<Skip> {
    // The system manager tags its messages UNIT= and INVOCATION_ID=, a
    // user manager USER_UNIT= and USER_INVOCATION_ID=.
    let (unit_field, invocation_field) = match scope {
        Scope::System => ("UNIT", "INVOCATION_ID"),
        Scope::User => ("USER_UNIT", "USER_INVOCATION_ID"),
    };
    let out = Command::new("journalctl")
        .args(["--no-pager", "-q", "-o", "json", "-r", "-n", LINES])
        .arg(format!("{unit_field}={unit}"))
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let entries: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    skip_of(&entries, invocation_field)
}

/// The newest skip among `entries` (newest first).
fn skip_of(entries: &[Value], invocation_field: &str) -> Option<Skip> {
    let text = |e: &Value, k: &str| e.get(k).and_then(Value::as_str).map(str::to_owned);
    let time = |e: &Value| text(e, "__REALTIME_TIMESTAMP")?.parse::<i64>().ok();
    let skip = entries
        .iter()
        .find(|e| text(e, "MESSAGE_ID").as_deref() == Some(UNIT_SKIPPED))?;
    let invocation_id = text(skip, invocation_field)?;
    let ended_us = time(skip)?;
    let started_us = entries
        .iter()
        .filter(|e| text(e, invocation_field).as_deref() == Some(&invocation_id))
        .filter_map(time)
        .min()
        .unwrap_or(ended_us);
    Some(Skip {
        invocation_id,
        started_us,
        ended_us,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_the_newest_skip_and_its_start() {
        let entries = [
            json!({"MESSAGE_ID": "39f53479d3a045ac8e11786248231fbf", "INVOCATION_ID": "b", "__REALTIME_TIMESTAMP": "300"}),
            json!({"MESSAGE_ID": UNIT_SKIPPED, "INVOCATION_ID": "b", "__REALTIME_TIMESTAMP": "250"}),
            json!({"MESSAGE_ID": "7d4958e842da4a758f6c1cdc7b36dcc5", "INVOCATION_ID": "b", "__REALTIME_TIMESTAMP": "200"}),
            json!({"MESSAGE_ID": UNIT_SKIPPED, "INVOCATION_ID": "a", "__REALTIME_TIMESTAMP": "150"}),
            json!({"MESSAGE_ID": "7d4958e842da4a758f6c1cdc7b36dcc5", "INVOCATION_ID": "a", "__REALTIME_TIMESTAMP": "100"}),
        ];
        assert_eq!(
            skip_of(&entries, "INVOCATION_ID"),
            Some(Skip {
                invocation_id: "b".into(),
                started_us: 200,
                ended_us: 250
            })
        );
        assert_eq!(skip_of(&entries[..1], "INVOCATION_ID"), None);
    }
}
