//! `update-all plugins list | info NAME | validate [NAME]`: the plugins of
//! one scope as the generator sees them, one plugin's resolved manifest and
//! answers, and plan section 3.4's validation against the real plugin.
//!
//! Plugins run as the invoking user, as by hand; `validate` runs only the
//! commands without effect on the system (never `update` or `download`).
//!
//! Exit status: `list` 0, or 1 when a manifest was refused; `info` 0, or 1
//! when the plugin is unknown or refused; `validate` 0 when every plugin
//! checked is valid, 1 otherwise.

use crate::output::format::table;
use crate::output::{self, section};
use crate::plugin::catalog::{Catalog, Entry};
use crate::plugin::validate::{self, Verdict};
use crate::plugin::{Command, Invoker, ProtocolError};
use clap::{Args, Subcommand};
use serde::Serialize;
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use update_all_core::manifest::{Manifest, PhaseMutexes, Resources, Timeouts};
use update_all_core::names::setting_variable;
use update_all_core::names::unit_name;
use update_all_core::{Diagnostic, Env, Phase, Scope};

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
        PluginsCommand::List(a) => list(&env, &catalog, a),
        PluginsCommand::Info(a) => info(&env, &catalog, a),
        PluginsCommand::Validate(a) => validate(&env, &catalog, a),
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

// --- list -------------------------------------------------------------------

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

fn list(env: &Env, catalog: &Catalog, args: &ListArgs) -> ExitCode {
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

// --- info -------------------------------------------------------------------

#[derive(Debug, Serialize)]
struct Info {
    name: String,
    status: &'static str,
    why: Option<String>,
    source: PathBuf,
    scope: Option<Scope>,
    /// The manifest as resolved (defaults filled in); `null` when it did
    /// not parse.
    manifest: Option<Resolved>,
    units: Vec<InfoUnit>,
    /// The plugin's own answers; `null` when it was not asked.
    answers: Option<Answers>,
}

#[derive(Debug, Serialize)]
struct Resolved {
    version: String,
    description: String,
    executable: String,
    requires_sudo: bool,
    can_separate_download: bool,
    supports_self_update: bool,
    supports_dynamic_mutexes: bool,
    mutexes: PhaseMutexes,
    dependencies: PhaseMutexes,
    runs_after: Vec<String>,
    timeouts: Timeouts,
    resources: Resources,
    potential_affects: Vec<String>,
    settings: Vec<Setting>,
}

#[derive(Debug, Serialize)]
struct Setting {
    key: String,
    value: String,
    /// The environment variable the plugin reads it from.
    variable: String,
}

#[derive(Debug, Serialize)]
struct InfoUnit {
    unit: String,
    phase: Phase,
}

/// An answer, or what went wrong asking.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Answer<T> {
    Ok(T),
    Broken { error: ProtocolError },
}

#[derive(Debug, Serialize)]
struct Answers {
    version: Answer<String>,
    can_separate_download: Answer<bool>,
    does_require_sudo: Answer<bool>,
}

fn answer<T>(r: Result<T, ProtocolError>) -> Answer<T> {
    match r {
        Ok(v) => Answer::Ok(v),
        Err(error) => Answer::Broken { error },
    }
}

impl Info {
    fn build(entry: &Entry, env: &Env) -> Self {
        let m = entry.manifest();
        // A refused plugin has no units, and is never run.
        let units = entry
            .runnable()
            .map(|p| &p.manifest)
            .map(|m| {
                m.unit_phases()
                    .iter()
                    .map(|&phase| InfoUnit {
                        unit: unit_name(&entry.name, phase),
                        phase,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let answers = entry.runnable().map(|plugin| {
            let invoker = Invoker::new(plugin, env);
            Answers {
                version: answer(invoker.run(Command::Version).version()),
                can_separate_download: answer(invoker.run(Command::CanSeparateDownload).yes_no()),
                does_require_sudo: answer(invoker.run(Command::DoesRequireSudo).yes_no()),
            }
        });
        Info {
            name: entry.name.clone(),
            status: entry.state.as_str(),
            why: entry.state.why(),
            source: entry.source.clone(),
            scope: m.map(Manifest::scope),
            manifest: m.map(resolve),
            units,
            answers,
        }
    }

    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        let field =
            |out: &mut dyn Write, key: &str, value: &str| writeln!(out, "  {key:<13} {value}");
        let Some(m) = &self.manifest else {
            writeln!(out, "{} ({})", self.name, self.status)?;
            field(out, "manifest", &self.source.display().to_string())?;
            return field(out, "why", self.why.as_deref().unwrap_or_default());
        };
        write!(out, "{}", self.name)?;
        if !m.version.is_empty() {
            write!(out, " {}", m.version)?;
        }
        if !m.description.is_empty() {
            write!(out, ": {}", m.description)?;
        }
        writeln!(out)?;
        let status = match &self.why {
            Some(why) => format!("{} ({why})", self.status),
            None => self.status.to_owned(),
        };
        field(out, "status", &status)?;
        field(out, "scope", self.scope.map_or("-", Scope::as_str))?;
        field(out, "manifest", &self.source.display().to_string())?;
        field(out, "executable", &m.executable)?;
        let units: Vec<String> = self.units.iter().map(|u| u.unit.clone()).collect();
        let units = if units.is_empty() {
            "(none: refused)".to_owned()
        } else {
            units.join(", ")
        };
        field(out, "units", &units)?;
        let flags = format!(
            "requires_sudo: {}, can_separate_download: {}, supports_self_update: {}, \
             supports_dynamic_mutexes: {}",
            m.requires_sudo,
            m.can_separate_download,
            m.supports_self_update,
            m.supports_dynamic_mutexes
        );
        field(out, "declares", &flags)?;
        field(out, "mutexes", &per_phase(&m.mutexes))?;
        field(out, "dependencies", &per_phase(&m.dependencies))?;
        field(out, "runs_after", &none_if_empty(&m.runs_after))?;
        let t = &m.timeouts;
        let timeouts = format!(
            "is_applicable {} s, estimate_update {} s, download {} s, update {} s",
            t.is_applicable.get(),
            t.estimate_update.get(),
            t.download.get(),
            t.update.get()
        );
        field(out, "timeouts", &timeouts)?;
        field(out, "resources", &resources(&m.resources))?;
        field(out, "affects", &none_if_empty(&m.potential_affects))?;
        if m.settings.is_empty() {
            field(out, "settings", "(none)")?;
        }
        for (i, s) in m.settings.iter().enumerate() {
            let text = format!("{}: {} (as {})", s.key, s.value, s.variable);
            field(out, if i == 0 { "settings" } else { "" }, &text)?;
        }
        if let Some(a) = &self.answers {
            writeln!(out, "\nThe plugin answers:")?;
            let yes_no = |b: &bool| if *b { "yes" } else { "no" }.to_owned();
            write_answer(out, "version", &a.version, String::clone)?;
            write_answer(
                out,
                "can-separate-download",
                &a.can_separate_download,
                yes_no,
            )?;
            write_answer(out, "does-require-sudo", &a.does_require_sudo, yes_no)?;
        } else {
            writeln!(out, "\nThe plugin is not asked: {}", validate::NOT_RUN)?;
        }
        Ok(())
    }
}

fn write_answer<T>(
    out: &mut dyn Write,
    command: &str,
    a: &Answer<T>,
    show: impl Fn(&T) -> String,
) -> io::Result<()> {
    match a {
        Answer::Ok(v) => writeln!(out, "  {command:<22} {}", show(v)),
        Answer::Broken { error } => writeln!(out, "  {command:<22} ({error})"),
    }
}

fn resolve(m: &Manifest) -> Resolved {
    let strings = |v: &[_]| -> Vec<String> { v.iter().map(ToString::to_string).collect() };
    Resolved {
        version: m.version.to_string(),
        description: m.description.to_string(),
        executable: m.executable.to_string(),
        requires_sudo: m.requires_sudo,
        can_separate_download: m.can_separate_download,
        supports_self_update: m.supports_self_update,
        supports_dynamic_mutexes: m.supports_dynamic_mutexes,
        mutexes: m.static_mutexes.clone(),
        dependencies: m.static_dependencies.clone(),
        runs_after: m.runs_after.iter().map(ToString::to_string).collect(),
        timeouts: m.timeouts.clone(),
        resources: m.resources.clone(),
        potential_affects: strings(&m.potential_affects),
        settings: m
            .settings
            .iter()
            .map(|(k, v)| Setting {
                key: k.to_string(),
                value: v.as_str().to_owned(),
                variable: setting_variable(m.name.as_str(), k.as_str()),
            })
            .collect(),
    }
}

/// "estimate: pkgmgr:apt; update: pkgmgr:dpkg", or "(none)".
fn per_phase(p: &PhaseMutexes) -> String {
    let parts: Vec<String> = [Phase::Estimate, Phase::Download, Phase::Update]
        .into_iter()
        .filter(|&ph| !p.get(ph).is_empty())
        .map(|ph| format!("{}: {}", ph.as_str(), none_if_empty(p.get(ph))))
        .collect();
    if parts.is_empty() {
        "(none)".into()
    } else {
        parts.join("; ")
    }
}

fn none_if_empty<T: ToString>(items: &[T]) -> String {
    if items.is_empty() {
        "(none)".into()
    } else {
        items
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn resources(r: &Resources) -> String {
    let mut parts = Vec::new();
    if let Some(v) = &r.memory_max {
        parts.push(format!("memory_max {}", v.as_str()));
    }
    if let Some(v) = r.cpu_weight {
        parts.push(format!("cpu_weight {}", v.get()));
    }
    if let Some(v) = r.io_weight {
        parts.push(format!("io_weight {}", v.get()));
    }
    if let Some(v) = r.nice {
        parts.push(format!("nice {}", v.get()));
    }
    if parts.is_empty() {
        "(systemd's defaults)".into()
    } else {
        parts.join(", ")
    }
}

fn info(env: &Env, catalog: &Catalog, args: &InfoArgs) -> ExitCode {
    let entries = match select(env, catalog, Some(&args.name)) {
        Ok(entries) => entries,
        Err(code) => return code,
    };
    let infos: Vec<Info> = entries.iter().map(|e| Info::build(e, env)).collect();
    let refused = entries.iter().any(|e| e.is_refused());
    output::print_then_exit(if refused { output::FAILURE } else { 0 }, |out| {
        if args.json {
            // One document; an array only when two manifests claim the name.
            match infos.as_slice() {
                [one] => output::json(out, one),
                many => output::json(out, &many),
            }
        } else {
            for (i, info) in infos.iter().enumerate() {
                if i > 0 {
                    writeln!(out)?;
                }
                info.write_text(out)?;
            }
            Ok(())
        }
    })
}

// --- validate ---------------------------------------------------------------

#[derive(Debug, Serialize)]
struct ValidateReport {
    scope: Scope,
    root: PathBuf,
    valid: bool,
    plugins: Vec<validate::Report>,
}

fn validate(env: &Env, catalog: &Catalog, args: &ValidateArgs) -> ExitCode {
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
