//! `update-all plugins list`: every plugin of the scope, enabled, disabled
//! or refused, and why.

use super::ListArgs;
use crate::output::format::table;
use crate::output::{self, section};
use crate::plugin::catalog::{Catalog, Entry};
use serde::Serialize;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use update_all_core::{Diagnostic, Env, Phase, Scope};

#[derive(Debug, Serialize)]
struct ListReport {
    scope: Scope,
    root: PathBuf,
    plugins: Vec<Listed>,
    other_scope: Vec<String>,
    warnings: Vec<Diagnostic>,
}

#[derive(Debug, Serialize)]
struct Listed {
    name: String,
    /// enabled, disabled or refused.
    status: &'static str,
    why: Option<String>,
    version: Option<String>,
    description: Option<String>,
    executable: Option<String>,
    source: PathBuf,
    /// The phases that become units.
    phases: Vec<Phase>,
}

pub(super) fn run(env: &Env, catalog: &Catalog, args: &ListArgs) -> ExitCode {
    let plugins: Vec<Listed> = catalog
        .entries
        .iter()
        .map(|e| {
            let m = e.manifest();
            Listed {
                name: e.name.clone(),
                status: e.state.as_str(),
                why: e.state.why(),
                version: m.map(|m| m.version.to_string()).filter(|v| !v.is_empty()),
                description: m
                    .map(|m| m.description.to_string())
                    .filter(|d| !d.is_empty()),
                executable: m.map(|m| m.executable.to_string()),
                source: e.source.clone(),
                phases: m.map(|m| m.unit_phases().to_vec()).unwrap_or_default(),
            }
        })
        .collect();
    let report = ListReport {
        scope: env.scope,
        root: env.root.clone(),
        plugins,
        other_scope: catalog.other_scope.clone(),
        warnings: catalog.warnings.clone(),
    };
    let refused = catalog.entries.iter().any(Entry::is_refused);
    output::print_then_exit(if refused { output::FAILURE } else { 0 }, |out| {
        if args.json {
            output::json(out, &report)
        } else {
            report.write_text(out)
        }
    })
}

impl ListReport {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        let scope = self.scope.as_str();
        writeln!(
            out,
            "Plugins of the {scope} scope: {}",
            output::count(self.plugins.len(), "plugin", "plugins")
        )?;
        if !self.plugins.is_empty() {
            writeln!(out)?;
            let rows: Vec<[String; 6]> = self
                .plugins
                .iter()
                .map(|p| {
                    let phases: Vec<&str> = p.phases.iter().map(|p| p.as_str()).collect();
                    [
                        p.name.clone(),
                        p.status.to_owned(),
                        dash(p.version.clone()),
                        dash(Some(phases.join(",")).filter(|s| !s.is_empty())),
                        dash(p.executable.clone()),
                        p.source.display().to_string(),
                    ]
                })
                .collect();
            table(
                out,
                &[
                    "NAME",
                    "STATUS",
                    "VERSION",
                    "PHASES",
                    "EXECUTABLE",
                    "MANIFEST",
                ],
                &rows,
            )?;
        }
        let left_out: Vec<&Listed> = self.plugins.iter().filter(|p| p.why.is_some()).collect();
        if section(out, "Not enabled", left_out.len())? {
            for p in left_out {
                writeln!(
                    out,
                    "  {} ({}): {}",
                    p.name,
                    p.status,
                    p.why.as_deref().unwrap_or_default()
                )?;
            }
        }
        if section(out, "Warnings", self.warnings.len())? {
            for w in &self.warnings {
                writeln!(out, "  {w}")?;
            }
        }
        if !self.other_scope.is_empty() {
            let other = other_scope(self.scope);
            writeln!(
                out,
                "\nIn the {other} scope ({}): {}; see `update-all --{other} plugins list`",
                self.other_scope.len(),
                self.other_scope.join(", "),
            )?;
        }
        Ok(())
    }
}

fn other_scope(scope: Scope) -> &'static str {
    match scope {
        Scope::System => "user",
        Scope::User => "system",
    }
}

fn dash(s: Option<String>) -> String {
    s.unwrap_or_else(|| "-".to_owned())
}
