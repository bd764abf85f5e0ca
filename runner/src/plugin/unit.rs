//! The plugin that a unit's `update-all plugin-exec` runs, as that process
//! reads it: its scope's configuration and manifests, read once per unit
//! and shared by everything an update needs from them (its
//! `services.restart`, its update policy, whether its rollback needs an
//! estimate).

use std::path::Path;
use update_all_core::config::Config;
use update_all_core::inventory::{self, Plugin};
use update_all_core::{Env, Scope};

pub struct UnitPlugin {
    pub env: Env,
    pub config: Config,
    /// The plugin: by the unit's `UPDATE_ALL_PLUGIN` when given, else the
    /// one whose manifest names `executable`. None when the inventory does
    /// not hold it (refused or disabled since the unit was written).
    pub plugin: Option<Plugin>,
}

impl UnitPlugin {
    pub fn load(scope: Scope, name: Option<&str>, executable: &Path) -> UnitPlugin {
        let env = Env::from_process(Some(scope));
        let inventory = inventory::load(&env);
        let plugin = inventory.plugins.into_iter().find(|p| match name {
            Some(name) => p.name().as_str() == name,
            None => env.resolve(Path::new(p.manifest.executable.as_str())) == executable,
        });
        UnitPlugin {
            env,
            config: inventory.config,
            plugin,
        }
    }
}
