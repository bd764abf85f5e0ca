//! update-all's generator library: plugin manifests in, systemd units out.
//!
//! The pipeline is [`inventory::load`] (discover, parse, check),
//! [`plan::plan`] (DAG, cycles, mutex chains, waves) and [`render::write`].
//! The `update-all-generator` binary runs it at boot; the `update-all`
//! runner uses the same library for `update-all plan`.

pub mod config;
pub mod diagnostic;
pub mod discovery;
pub mod escape;
pub mod inventory;
pub mod locate;
pub mod manifest;
mod parallel;
pub mod paths;
pub mod plan;
pub mod render;
pub mod trust;
pub mod values;

pub use diagnostic::{Diagnostic, Severity};
pub use inventory::Inventory;
pub use manifest::{Phase, Scope};
pub use paths::Env;
pub use plan::Plan;

/// Loads and plans everything `env` points at.
pub fn plan(env: &Env) -> (Plan, render::Settings) {
    let mut inv = inventory::load(env);
    let settings = render::Settings {
        slice: std::mem::take(&mut inv.config.slice),
        paths: inv.config.paths.clone(),
    };
    (plan::plan(inv), settings)
}
