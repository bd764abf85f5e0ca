//! The update policy a plugin runs under (docs/plugin-protocol.md, "Update
//! policies"), and what its update held back:
//!
//! - the effective [`Policy`] of its manifest under the configuration
//!   (core::policy), as the `UPDATE_ALL_POLICY_*` variables:
//!   `update-all plugin-exec` hands them to `update`, `update-all check`
//!   to `estimate-update`, so the check reports what the update will hold
//!   back;
//! - the `held_back` of the update's answer, recorded for its run
//!   (`stats::held`) by plugin-exec.

use super::unit::UnitPlugin;
use crate::stats::{db_path, held, Db};
use update_all_core::config::Config;
use update_all_core::manifest::Manifest;
use update_all_core::names::unit_name;
use update_all_core::policy::Policy;
use update_all_core::{Phase, Scope};
use update_all_protocol::{Applied, Document, Status};

/// The variables and their values for `manifest`'s plugin under `config`.
pub fn for_manifest(config: &Config, manifest: &Manifest) -> Vec<(&'static str, String)> {
    Policy::of(config, manifest).env().into()
}

/// The variables for the plugin a unit runs. A plugin the inventory does
/// not hold (refused since the unit was written) gets the configuration's
/// global policy, which is what the manifest would have been overlaid on.
pub fn for_unit(unit: &UnitPlugin) -> Vec<(&'static str, String)> {
    match &unit.plugin {
        Some(p) => for_manifest(&unit.config, &p.manifest),
        None => Policy::resolve(&[Some(&unit.config.policy)]).env().into(),
    }
}

/// Records what `plugin`'s update held back, as its answer says, for the
/// run its update unit belongs to. Problems are warnings: the update is
/// done either way.
pub fn record_held(scope: Scope, plugin: &str, answer: Option<&Document>) {
    let Some(doc) = answer.filter(|d| d.status == Status::Success) else {
        return;
    };
    let held = match Applied::from_data(&doc.data) {
        Ok(applied) if !applied.held_back.is_empty() => applied.held_back,
        _ => return,
    };
    for h in &held {
        tracing::info!(
            "{plugin}: held back {} {} → {}: {}",
            h.name,
            h.current_version.as_deref().unwrap_or("?"),
            h.new_version.as_deref().unwrap_or("?"),
            h.reason.as_deref().unwrap_or("by the policy")
        );
    }
    let stored = Db::open_for_writing(&db_path(scope))
        .map_err(|e| e.to_string())
        .and_then(|mut db| {
            let unit = unit_name(plugin, Phase::Update);
            match crate::stats::current::run_of_unit(&db.conn, &unit) {
                Ok(Some(run)) => {
                    held::record(&mut db.conn, run, plugin, &held).map_err(|e| e.to_string())
                }
                Ok(None) => Err("no run is going on".into()),
                Err(e) => Err(e.to_string()),
            }
        });
    if let Err(e) = stored {
        tracing::warn!("{plugin}: what the update held back is not recorded: {e}");
    }
}
