//! `update-all plugins list | info NAME | validate [NAME]`: the plugins of
//! one scope as the generator sees them ([`list`]), one plugin's resolved
//! manifest and answers ([`info`]), and the check of real plugins against
//! docs/plugin-protocol.md ([`validate`]).
//!
//! Plugins run as the invoking user, as by hand; `validate` runs only the
//! commands without effect on the system (never `update` or `download`).
//!
//! Exit status: `list` 0, or 1 when a manifest was refused; `info` 0, or 1
//! when the plugin is unknown or refused; `validate` 0 when every plugin
//! checked is valid, 1 otherwise.

mod info;
mod list;
mod validate;

use crate::cli::{InfoArgs, ListArgs, PluginsArgs, PluginsCommand, ValidateArgs};
use crate::output;
use crate::plugin::catalog::{Catalog, Entry};
use std::process::ExitCode;
use update_all_core::{Env, Scope};

pub fn run(scope: Scope, args: &PluginsArgs) -> ExitCode {
    let env = Env::from_process(Some(scope));
    let catalog = Catalog::load(&env);
    match &args.command {
        PluginsCommand::List(a) => list::run(&env, &catalog, a),
        PluginsCommand::Info(a) => info::run(&env, &catalog, a),
        PluginsCommand::Validate(a) => validate::run(&env, &catalog, a),
    }
}

/// The entries `name` picks (all when `None`), or the exit for an
/// unknown name.
fn select<'a>(
    env: &Env,
    catalog: &'a Catalog,
    name: Option<&str>,
) -> Result<Vec<&'a Entry>, ExitCode> {
    match name {
        None => Ok(catalog.entries.iter().collect()),
        Some(name) => catalog.find(name, env).map_err(|why| {
            tracing::error!("{why}");
            ExitCode::from(output::FAILURE)
        }),
    }
}
