//! update-all's core: the model and the naming rules shared by the
//! generator and the runner.
//!
//! The pipeline is [`inventory::load`] (discover, parse, check) and then
//! [`plan::plan`] (DAG, cycles, mutex chains, waves), whose ordering
//! [`order::extend`] extends with what only a run knows (dynamic mutexes,
//! the check's estimates). The generator renders
//! the plan as units at boot; the runner reads the same plan for
//! `update-all plan`, `check` and its runs. See docs/architecture.md.

pub mod config;
pub mod diagnostic;
pub mod discovery;
pub mod inventory;
pub mod locate;
pub mod manifest;
pub mod names;
pub mod order;
pub mod parallel;
pub mod paths;
pub mod plan;
pub mod policy;
pub mod reboot;
pub mod safety;
pub mod trust;
pub mod values;

pub use diagnostic::{Diagnostic, Severity};
pub use inventory::Inventory;
pub use manifest::{Phase, Scope};
pub use paths::Env;
pub use plan::Plan;

/// Loads and plans everything `env` points at; the plan keeps the
/// configuration it was made under.
pub fn load(env: &Env) -> Plan {
    plan::plan(inventory::load(env))
}
