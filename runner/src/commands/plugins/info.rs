//! `update-all plugins info NAME`: one plugin's manifest as resolved, its
//! units, and its own answers (version, can-separate-download,
//! does-require-sudo).

use super::{select, InfoArgs};
use crate::output;
use crate::plugin::catalog::{Catalog, Entry};
use crate::plugin::{validate, Invoker};
use serde::Serialize;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use update_all_core::manifest::{Manifest, PhaseMutexes, Resources, Timeouts};
use update_all_core::names::{setting_variable, unit_name};
use update_all_core::{Env, Phase, Scope};
use update_all_protocol::{Command, ProtocolError};

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

pub(super) fn run(env: &Env, catalog: &Catalog, args: &InfoArgs) -> ExitCode {
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
