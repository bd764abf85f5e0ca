//! `update-all plugins validate [NAME]`: checks plugins against
//! docs/plugin-protocol.md ([`crate::plugin::validate`]), printing each
//! plugin's checks as soon as they are done.

use super::{select, ValidateArgs};
use crate::output;
use crate::plugin::catalog::Catalog;
use crate::plugin::validate::{self, Verdict};
use serde::Serialize;
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use update_all_core::{Env, Scope};

#[derive(Debug, Serialize)]
struct ValidateReport {
    scope: Scope,
    root: PathBuf,
    valid: bool,
    plugins: Vec<validate::Report>,
}

pub(super) fn run(env: &Env, catalog: &Catalog, args: &ValidateArgs) -> ExitCode {
    let entries = match select(env, catalog, args.name.as_deref()) {
        Ok(entries) => entries,
        Err(code) => return code,
    };
    let tty = !args.json && io::stdout().is_terminal();
    let mut reports = Vec::with_capacity(entries.len());
    let mut out = io::stdout().lock();
    for entry in entries {
        let report = validate::validate(entry, env);
        if !args.json {
            // As each plugin is done: a slow estimate should not hide the rest.
            if write_validation(&mut out, &report, tty).is_err() {
                break;
            }
        }
        reports.push(report);
    }
    drop(out);
    let valid = reports.iter().all(|r| r.valid);
    let report = ValidateReport {
        scope: env.scope,
        root: env.root.clone(),
        valid,
        plugins: reports,
    };
    output::print_then_exit(if valid { 0 } else { output::FAILURE }, |out| {
        if args.json {
            output::json(out, &report)
        } else {
            let bad = report.plugins.iter().filter(|r| !r.valid).count();
            writeln!(
                out,
                "{} checked in the {} scope: {} valid, {bad} invalid",
                output::count(report.plugins.len(), "plugin", "plugins"),
                env.scope.as_str(),
                report.plugins.len() - bad
            )
        }
    })
}

fn write_validation(out: &mut dyn Write, r: &validate::Report, tty: bool) -> io::Result<()> {
    writeln!(
        out,
        "{} ({}, {}): {}",
        r.plugin,
        r.status,
        r.source.display(),
        if r.valid { "valid" } else { "INVALID" }
    )?;
    for c in &r.checks {
        let mark = match (c.verdict, tty) {
            (Verdict::Pass, true) => "✓",
            (Verdict::Fail, true) => "✗",
            (Verdict::Warn, true) => "!",
            (Verdict::Skip, true) => "-",
            (Verdict::Pass, false) => "ok  ",
            (Verdict::Fail, false) => "FAIL",
            (Verdict::Warn, false) => "warn",
            (Verdict::Skip, false) => "skip",
        };
        let time = c
            .seconds
            .filter(|s| *s >= 0.5)
            .map(|s| format!(" ({s:.1} s)"))
            .unwrap_or_default();
        writeln!(out, "  {mark} {}: {}{time}", c.check, c.message)?;
    }
    writeln!(out)?;
    out.flush()
}
