//! The units a run of some units only starts, in an order systemd keeps:
//! the plugins of `update-all run --only a,b`, or what `update-all retry`
//! takes up of an earlier run ([`to_retry`]).

use crate::stats::{Outcome, Record};
use crate::systemd::{Bus, PluginUnit};
use crate::watch::Fail;
use std::collections::HashMap;
use update_all_core::names::{is_safety_step, HEALTH, SNAPSHOT_POST};
use update_all_core::plan::Reason;
use update_all_core::{Phase, Plan};

/// The update units of the plugins named in `--only`, and the run's post
/// snapshot and health check after them (the pre snapshot comes with the
/// update units, which want it), ordered so that a unit comes after every
/// selected unit it is `After=`; systemd then orders their jobs. Unknown
/// names: the list of the known ones (safety units are none).
pub async fn selected(
    bus: &Bus,
    units: &[PluginUnit],
    only: &[String],
) -> Result<Vec<String>, Fail> {
    let mut known: Vec<&str> = units
        .iter()
        .map(|u| u.plugin.as_str())
        .filter(|plugin| !is_safety_step(plugin))
        .collect();
    known.sort();
    known.dedup();
    let unknown: Vec<&str> = only
        .iter()
        .map(String::as_str)
        .filter(|name| !known.contains(name))
        .collect();
    if !unknown.is_empty() {
        let refused = crate::check::dynamic::refused_among(bus.scope, &unknown);
        if !refused.is_empty() {
            return Err(refused.join("\n"));
        }
        return Err(format!(
            "unknown plugin{} {}; known plugins: {}",
            if unknown.len() == 1 { "" } else { "s" },
            unknown.join(", "),
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        ));
    }
    let mut names: Vec<String> = units
        .iter()
        .filter(|u| u.phase == Phase::Update && only.contains(&u.plugin))
        .filter(|u| !is_safety_step(&u.plugin))
        .map(|u| u.name.clone())
        .collect();
    if !names.is_empty() {
        let after = [SNAPSHOT_POST, HEALTH];
        names.extend(
            units
                .iter()
                .filter(|u| after.contains(&u.name.as_str()))
                .map(|u| u.name.clone()),
        );
    }
    ordered(bus, units, &names).await
}

/// The units of `units` named in `names`, ordered so that a unit comes
/// after every one of them it is `After=` (systemd's, with any drop-in):
/// each is queued before the units that wait for it, so systemd orders
/// their jobs.
pub async fn ordered(
    bus: &Bus,
    units: &[PluginUnit],
    names: &[String],
) -> Result<Vec<String>, Fail> {
    let mut chosen: Vec<(&PluginUnit, Vec<String>)> = Vec::new();
    for unit in units.iter().filter(|u| names.contains(&u.name)) {
        let after = bus.after(unit).await.map_err(|e| e.to_string())?;
        chosen.push((unit, after));
    }
    Ok(topological(chosen))
}

/// Why a unit is retried (see [`to_retry`]).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cause {
    /// It failed, or never started because a unit it requires failed.
    Failed,
    /// It was cancelled, or was still waiting when the run was.
    Cancelled,
}

/// The units of `plan` that a retry of the run of `records` starts, in
/// plan order:
/// - every unit whose last record in the run is a failure (`cancelled`
///   included);
/// - every unit with no record that the run was to run (`intended`: the
///   units the recorder wrote down as their jobs appeared): its job ended
///   without running it, because a unit it requires failed (`dependency`)
///   or the run was cancelled;
/// - for a run recorded before units were written down (`intended`
///   empty), every unit with no record that never started because of a
///   failed or cancelled one: it requires it (a plugin's update unit its
///   download unit, `Requires=`), or it waited for it (any `After=`) when
///   the run was cancelled. A unit merely ordered after one that failed
///   did run (`After=` only orders), so without a record it was not part
///   of the run (`run --only`).
///
/// Units no longer in the plan are left out: they cannot start.
pub fn to_retry(plan: &Plan, records: &[Record], intended: &[String]) -> Vec<String> {
    // Records come in the order they ended: the last one of a unit counts.
    let last: HashMap<&str, Outcome> = records
        .iter()
        .map(|r| (r.unit.as_str(), r.result))
        .collect();
    let mut cause: Vec<Option<Cause>> = Vec::with_capacity(plan.units.len());
    // The plan's units are in topological order: a unit's `after` ones
    // come before it.
    for unit in &plan.units {
        let name = plan.unit_name(unit);
        let found = match last.get(name.as_str()) {
            Some(Outcome::Cancelled) => Some(Cause::Cancelled),
            Some(outcome) if outcome.is_failure() => Some(Cause::Failed),
            Some(_) => None,
            None if !intended.is_empty() => intended.contains(&name).then_some(Cause::Failed),
            None => unit
                .after
                .iter()
                .find_map(|(before, reasons)| match cause[*before]? {
                    Cause::Cancelled => Some(Cause::Cancelled),
                    Cause::Failed => reasons.contains(&Reason::Download).then_some(Cause::Failed),
                }),
        };
        cause.push(found);
    }
    plan.units
        .iter()
        .zip(cause)
        .filter(|(_, cause)| cause.is_some())
        .map(|(unit, _)| plan.unit_name(unit))
        .collect()
}

/// Names of `units` so that each comes after those of them in its `After=`
/// (units already in name order; ties keep it).
fn topological(mut units: Vec<(&PluginUnit, Vec<String>)>) -> Vec<String> {
    let mut order = Vec::with_capacity(units.len());
    while !units.is_empty() {
        let ready = units
            .iter()
            .position(|(_, after)| {
                !after
                    .iter()
                    .any(|a| units.iter().any(|(other, _)| &other.name == a))
            })
            // A cycle cannot load in systemd; take the first to be safe.
            .unwrap_or(0);
        order.push(units.remove(ready).0.name.clone());
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_units_follow_their_after() {
        let unit = |name: &str| PluginUnit {
            name: name.into(),
            path: zbus::OwnedObjectPath::try_from("/x").unwrap(),
            plugin: name.into(),
            phase: Phase::Update,
        };
        let (a, b, c) = (unit("a"), unit("b"), unit("c"));
        let order = topological(vec![
            (&a, vec!["c".into(), "sysinit.target".into()]),
            (&b, vec![]),
            (&c, vec!["b".into()]),
        ]);
        assert_eq!(order, ["b", "c", "a"]);
    }

    /// A plan of plugins given as JSON manifests (YAML's subset).
    fn plan(jsons: &[&str]) -> Plan {
        use update_all_core::inventory::{Inventory, Plugin};
        use update_all_core::manifest::ManifestFile;
        let mut plugins: Vec<Plugin> = jsons
            .iter()
            .map(|json| Plugin {
                manifest: serde_json::from_str::<ManifestFile>(json).unwrap().plugin,
                source: "/x.yaml".into(),
                path: "/x.yaml".into(),
            })
            .collect();
        plugins.sort_by(|a, b| a.name().cmp(b.name()));
        update_all_core::plan::plan(Inventory {
            plugins,
            ..Inventory::default()
        })
    }

    fn record(unit: &str, result: Outcome) -> Record {
        Record {
            run_id: 1,
            plugin: String::new(),
            phase: String::new(),
            unit: format!("update-all-{unit}.service"),
            invocation_id: unit.into(),
            started_us: None,
            ended_us: None,
            result,
            exit_code: None,
            exit_status: None,
            cpu_ns: None,
            memory_peak_bytes: None,
            io_read_bytes: None,
            io_write_bytes: None,
            ip_ingress_bytes: None,
            ip_egress_bytes: None,
            attempts: None,
            detail: None,
        }
    }

    fn names(units: Vec<String>) -> Vec<String> {
        units
            .iter()
            .map(|u| u["update-all-".len()..u.len() - ".service".len()].to_owned())
            .collect()
    }

    // a downloads apart; b runs after a; c and d on their own, d after c.
    const A: &str =
        r#"{"plugin": {"name": "a", "executable": "/a", "can_separate_download": true}}"#;
    const B: &str = r#"{"plugin": {"name": "b", "executable": "/b", "runs_after": ["a"]}}"#;
    const C: &str = r#"{"plugin": {"name": "c", "executable": "/c"}}"#;
    const D: &str = r#"{"plugin": {"name": "d", "executable": "/d", "runs_after": ["c"]}}"#;

    #[test]
    fn a_retry_takes_what_failed_and_what_required_it() {
        let plan = plan(&[A, B, C, D]);
        // a's download failed, so its update never started; b ran after it
        // anyway (After= only orders) and so did the rest.
        let run = [
            record("a-download", Outcome::Failed),
            record("b", Outcome::Success),
            record("c", Outcome::Timeout),
            record("d", Outcome::Success),
        ];
        assert_eq!(names(to_retry(&plan, &run, &[])), ["a-download", "a", "c"]);
        // The last record of a unit run twice counts.
        let again = [
            record("c", Outcome::Failed),
            record("c", Outcome::Success),
            record("a-download", Outcome::Skipped),
        ];
        assert!(to_retry(&plan, &again, &[]).is_empty());
        // `run --only c`: d was not part of it.
        assert_eq!(
            names(to_retry(&plan, &[record("c", Outcome::Failed)], &[])),
            ["c"]
        );
    }

    #[test]
    fn a_retry_of_a_cancelled_run_takes_what_was_still_waiting() {
        let plan = plan(&[A, B, C, D]);
        let run = [
            record("a-download", Outcome::Success),
            record("a", Outcome::Cancelled),
            record("c", Outcome::Success),
            record("d", Outcome::Success),
        ];
        assert_eq!(names(to_retry(&plan, &run, &[])), ["a", "b"]);
    }

    #[test]
    fn the_units_written_down_tell_what_never_started() {
        let plan = plan(&[A, B, C, D]);
        let unit = |name: &str| format!("update-all-{name}.service");
        // `run --only c` whose c failed: d was not written down.
        let only = [record("c", Outcome::Failed)];
        assert_eq!(names(to_retry(&plan, &only, &[unit("c")])), ["c"]);
        // Cancelled while b and d waited: both written down, no record.
        let run = [
            record("a-download", Outcome::Success),
            record("a", Outcome::Success),
            record("c", Outcome::Cancelled),
        ];
        let intended: Vec<String> = ["a-download", "a", "b", "c", "d"]
            .iter()
            .map(|n| unit(n))
            .collect();
        assert_eq!(names(to_retry(&plan, &run, &intended)), ["b", "c", "d"]);
    }
}
