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

use crate::output;
use crate::plugin::catalog::{Catalog, Entry};
use clap::{Args, Subcommand};
use std::process::ExitCode;
use update_all_core::{Env, Scope};

#[derive(Debug, Args)]
pub struct PluginsArgs {
    #[command(subcommand)]
    pub command: PluginsCommand,
}

#[derive(Debug, Subcommand)]
pub enum PluginsCommand {
    /// Every plugin of the scope: enabled, disabled or refused, and why
    List(ListArgs),
    /// One plugin's manifest as resolved, its units, and its own answers
    /// (version, can-separate-download, does-require-sudo)
    Info(InfoArgs),
    /// Check plugins against the protocol without applying anything
    ///
    /// The executable exists and may be run; is-applicable, version,
    /// can-separate-download, does-require-sudo, sudo-programs-paths,
    /// estimate-update, the dynamic mutex commands and validate answer as
    /// docs/plugin-protocol.md says; the manifest's claims agree with the
    /// answers. update and download are never run. Exits 0 when every
    /// plugin checked is valid, 1 otherwise.
    Validate(ValidateArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The plugin's name.
    pub name: String,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Only this plugin (default: every plugin of the scope).
    pub name: Option<String>,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

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
