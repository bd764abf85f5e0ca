//! What a plugin's rollback will return to: its estimate, recorded for
//! the run (`stats::packages`) before its update, when the plugin can
//! roll back (`supports_rollback: true`).
//!
//! One estimate per plugin and run: the `ExecCondition=` of a plugin that
//! names what it `writes:` runs `estimate-update` already for the free
//! space (`run::preflight::space`), and hands it to [`record`]; the update
//! itself (`plugin-exec`, [`before_update`]) estimates only when no
//! estimate of the plugin is recorded for the run yet.

use crate::plugin::invoke::Invoker;
use crate::plugin::unit::UnitPlugin;
use crate::stats::packages::{self, RunPackage};
use crate::stats::{db_path, Db, RunId};
use std::path::Path;
use update_all_core::inventory::Plugin;
use update_all_core::names::unit_name;
use update_all_core::policy::UpdateType;
use update_all_core::{Phase, Scope};
use update_all_protocol::{Command, Estimate, EstimateAnswer};

/// The unit's plugin, when its rollback needs its estimates.
fn wanted(unit: &UnitPlugin) -> Option<&Plugin> {
    unit.plugin
        .as_ref()
        .filter(|p| p.manifest.supports_rollback)
}

/// The statistics database and the run `plugin`'s update belongs to.
fn run_of(scope: Scope, plugin: &str) -> Result<(Db, RunId), String> {
    let db = Db::open_for_writing(&db_path(scope)).map_err(|e| e.to_string())?;
    let unit = unit_name(plugin, Phase::Update);
    match crate::stats::current::run_of_unit(&db.conn, &unit) {
        Ok(Some(run)) => Ok((db, run)),
        Ok(None) => Err("no run is going on".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// The rows of `estimate`.
fn rows(estimate: &Estimate) -> Vec<RunPackage> {
    estimate
        .packages_to_update
        .iter()
        .map(|p| RunPackage {
            name: p.name.clone(),
            current_version: p.current_version.clone(),
            new_version: p.new_version.clone(),
            // Unknown is what an estimate without the field says.
            update_type: (p.update_type != UpdateType::Unknown)
                .then(|| p.update_type.as_str().to_owned()),
        })
        .collect()
}

/// Records `estimate` (which the condition of `plugin`'s unit ran, for
/// its `executable`) for the plugin's run, when its rollback needs it.
/// Problems are warnings: the update goes on.
pub fn record(scope: Scope, plugin: &str, executable: &Path, estimate: &Estimate) {
    let unit = UnitPlugin::load(scope, Some(plugin), executable);
    if wanted(&unit).is_none() {
        return;
    }
    store(scope, plugin, estimate);
}

fn store(scope: Scope, plugin: &str, estimate: &Estimate) {
    let stored = run_of(scope, plugin).and_then(|(mut db, run)| {
        packages::record(&mut db.conn, run, plugin, &rows(estimate)).map_err(|e| e.to_string())
    });
    if let Err(e) = stored {
        tracing::warn!("cannot record {plugin}'s estimate for its rollback: {e}");
    }
}

/// Before `plugin`'s update: estimates and records, when its rollback
/// needs an estimate and none is recorded for the run yet.
pub fn before_update(scope: Scope, unit: &UnitPlugin) {
    let Some(manifest_plugin) = wanted(unit) else {
        return;
    };
    let plugin = manifest_plugin.name().as_str();
    match run_of(scope, plugin) {
        Ok((db, run)) if packages::recorded(&db.conn, run, plugin).unwrap_or(false) => return,
        Ok(_) => {}
        Err(e) => {
            tracing::warn!("cannot record {plugin}'s estimate for its rollback: {e}");
            return;
        }
    }
    let ran = Invoker::new(manifest_plugin, &unit.env).run(Command::EstimateUpdate);
    match ran.estimate() {
        Ok(EstimateAnswer::Updates(estimate)) => store(scope, plugin, &estimate),
        Ok(EstimateAnswer::NotApplicable(_)) => {}
        Ok(EstimateAnswer::Failed(e)) => tracing::warn!(
            "{plugin}'s estimate failed ({}: {}): its rollback will not know the versions to return to",
            e.code,
            e.message
        ),
        Err(e) => tracing::warn!(
            "{e}: {plugin}'s rollback will not know the versions to return to"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_package_is_a_row_with_its_update_type_when_known() {
        let estimate = Estimate::from_data(&serde_json::json!({
            "packages_to_update": [
                {"name": "eslint", "current_version": "8.0.0", "new_version": "9.0.0",
                 "update_type": "major"},
                {"name": "left-pad", "current_version": "1.0.0"}
            ]
        }))
        .unwrap()
        .unwrap();
        let rows = rows(&estimate);
        assert_eq!(rows[0].update_type.as_deref(), Some("major"));
        assert_eq!(rows[0].new_version.as_deref(), Some("9.0.0"));
        assert_eq!(rows[1].update_type, None);
        assert_eq!(rows[1].new_version, None);
    }
}
