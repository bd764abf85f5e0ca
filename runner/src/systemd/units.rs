//! The plugin units systemd has loaded, whose plugin and phase they run,
//! and the jobs systemd has queued.

use super::names::{parse_phase, plugin_of_name};
use std::collections::HashMap;
use update_all_core::{Phase, Plan};
use zbus::OwnedObjectPath;

/// A plugin unit as loaded by systemd.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginUnit {
    /// `update-all-apt-download.service`.
    pub name: String,
    pub path: OwnedObjectPath,
    pub plugin: String,
    pub phase: Phase,
}

impl PluginUnit {
    /// Its phase as shown and recorded: `safety` for a safety unit.
    pub fn shown_phase(&self) -> &'static str {
        update_all_core::names::shown_phase(&self.plugin, self.phase)
    }
}

/// A job systemd has queued or is running.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    pub id: u32,
    pub unit: String,
    /// `start`, `stop`, ...
    pub kind: String,
    /// `waiting` or `running`.
    pub state: String,
}

/// The plugin units of a plan by unit name, with their plugin and phase:
/// who a unit belongs to, known without asking systemd.
#[derive(Debug, Default)]
pub struct PlannedUnits(HashMap<String, (String, Phase)>);

impl PlannedUnits {
    pub fn of(plan: &Plan) -> PlannedUnits {
        PlannedUnits(
            plan.units
                .iter()
                .map(|u| {
                    let plugin = plan.plugins[u.plugin].name().to_string();
                    (plan.unit_name(u), (plugin, u.phase))
                })
                .collect(),
        )
    }

    /// The plugin and phase of `unit`, if the plan makes it.
    pub fn get(&self, unit: &str) -> Option<(String, Phase)> {
        self.0.get(unit).cloned()
    }
}

/// The plugin and phase of a unit the plan does not know (it changed since
/// systemd loaded the units, or the caller has no plan at hand): only
/// systemd knows it then, from the environment the generator gave the
/// unit (`UPDATE_ALL_PLUGIN`, `UPDATE_ALL_PHASE`), else from its name
/// alone. A safety unit's `UPDATE_ALL_SAFETY` names its pseudo-plugin
/// (`health`), which is followed as an update-phase unit and shown and
/// recorded in phase `safety` (`names::shown_phase`). `None`: not a plugin
/// unit update-all can follow.
pub fn identity_from_systemd(name: &str, environment: &[String]) -> Option<(String, Phase)> {
    let from_env = |key: &str| {
        environment
            .iter()
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
    };
    if let Some(step) = from_env(update_all_core::names::SAFETY_VAR) {
        return update_all_core::names::is_safety_step(step)
            .then(|| (step.to_owned(), Phase::Update));
    }
    match (from_env("UPDATE_ALL_PLUGIN"), from_env("UPDATE_ALL_PHASE")) {
        (Some(plugin), Some(phase)) => Some((plugin.to_owned(), parse_phase(phase)?)),
        _ => plugin_of_name(name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_from_the_environment_else_the_name() {
        let env = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            identity_from_systemd(
                "update-all-x-download.service",
                &env(&["UPDATE_ALL_PLUGIN=x-download", "UPDATE_ALL_PHASE=update"])
            ),
            Some(("x-download".into(), Phase::Update))
        );
        assert_eq!(
            identity_from_systemd("update-all-x-download.service", &[]),
            Some(("x".into(), Phase::Download))
        );
        assert_eq!(
            identity_from_systemd(
                "update-all-x.service",
                &env(&["UPDATE_ALL_PLUGIN=x", "UPDATE_ALL_PHASE=sideways"])
            ),
            None
        );
    }
}
