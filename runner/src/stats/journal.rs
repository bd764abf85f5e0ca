//! What only the journal remembers about a skipped unit.
//!
//! When `is-applicable` says no (ExecCondition), systemd 252 resets the
//! unit as if it had never started: `InvocationID`, `InactiveExitTimestamp`
//! and the rest read empty afterwards, and only `ConditionResult=no` is
//! left. The manager's own messages keep the invocation: "Starting …" and
//! "Skipped due to 'exec-condition'", both tagged with it. The recorder
//! reads them for a skip it did not see begin, e.g. after a crash.

use serde_json::Value;
use std::collections::HashMap;
use std::process::{Command, Stdio};
use update_all_generator::Scope;

/// `SD_MESSAGE_UNIT_SKIPPED`: "<unit>: Skipped due to '<condition>'."
const UNIT_SKIPPED: &str = "0e4284a0caca4bfc81c0bb6786972673";
/// `SD_MESSAGE_UNIT_STARTING`: "Starting <unit> - <description>...".
const UNIT_STARTING: &str = "7d4958e842da4a758f6c1cdc7b36dcc5";
/// How many of those messages are read, newest first: a skip is two.
const LINES: usize = 2000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skip {
    pub invocation_id: String,
    /// The "Starting …" message of that invocation (else the skip's).
    pub started_us: i64,
    /// The skip message.
    pub ended_us: i64,
}

/// The latest skip the journal has of each of `units` (one `journalctl`
/// for all of them); none where it has none or cannot be read.
pub fn last_skips(scope: Scope, units: &[&str]) -> HashMap<String, Skip> {
    if units.is_empty() {
        return HashMap::new();
    }
    let fields = Fields::of(scope);
    // Matches on one field are ORed, on different fields ANDed.
    let out = Command::new("journalctl")
        .args(["--no-pager", "-q", "-o", "json", "-r", "-n"])
        .arg(LINES.to_string())
        .arg(format!("MESSAGE_ID={UNIT_SKIPPED}"))
        .arg(format!("MESSAGE_ID={UNIT_STARTING}"))
        .args(units.iter().map(|u| format!("{}={u}", fields.unit)))
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    let Ok(out) = out else {
        return HashMap::new();
    };
    let entries: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    skips_of(&entries, &fields)
}

/// The system manager tags its messages UNIT= and INVOCATION_ID=, a user
/// manager USER_UNIT= and USER_INVOCATION_ID=.
struct Fields {
    unit: &'static str,
    invocation: &'static str,
}

impl Fields {
    fn of(scope: Scope) -> Fields {
        match scope {
            Scope::System => Fields {
                unit: "UNIT",
                invocation: "INVOCATION_ID",
            },
            Scope::User => Fields {
                unit: "USER_UNIT",
                invocation: "USER_INVOCATION_ID",
            },
        }
    }
}

/// The newest skip per unit among `entries` (newest first).
fn skips_of(entries: &[Value], fields: &Fields) -> HashMap<String, Skip> {
    let text = |e: &Value, k: &str| e.get(k).and_then(Value::as_str).map(str::to_owned);
    let time = |e: &Value| text(e, "__REALTIME_TIMESTAMP")?.parse::<i64>().ok();
    let mut skips: HashMap<String, Skip> = HashMap::new();
    for e in entries {
        if text(e, "MESSAGE_ID").as_deref() != Some(UNIT_SKIPPED) {
            continue;
        }
        let (Some(unit), Some(invocation_id), Some(ended_us)) =
            (text(e, fields.unit), text(e, fields.invocation), time(e))
        else {
            continue;
        };
        if skips.contains_key(&unit) {
            continue;
        }
        let started_us = entries
            .iter()
            .filter(|s| text(s, fields.invocation).as_deref() == Some(&invocation_id))
            .filter_map(time)
            .min()
            .unwrap_or(ended_us);
        skips.insert(
            unit,
            Skip {
                invocation_id,
                started_us,
                ended_us,
            },
        );
    }
    skips
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_each_units_newest_skip_and_its_start() {
        let entry = |id: &str, unit: &str, inv: &str, t: &str| json!({"MESSAGE_ID": id, "UNIT": unit, "INVOCATION_ID": inv, "__REALTIME_TIMESTAMP": t});
        let entries = [
            entry(UNIT_STARTING, "x", "c", "400"),
            entry(UNIT_SKIPPED, "y", "b", "250"),
            entry(UNIT_STARTING, "y", "b", "200"),
            entry(UNIT_SKIPPED, "y", "a", "150"),
            entry(UNIT_STARTING, "y", "a", "100"),
        ];
        let skips = skips_of(&entries, &Fields::of(Scope::System));
        assert_eq!(
            skips.get("y"),
            Some(&Skip {
                invocation_id: "b".into(),
                started_us: 200,
                ended_us: 250
            })
        );
        assert_eq!(skips.len(), 1, "x never skipped: {skips:?}");
    }
}
