//! `update-all plan`: what the generator would make of the manifests of one
//! scope. Shows the waves of units that may run together, what each unit is
//! ordered after and why, and every plugin left out: refused (with the
//! manifest's file, line and column), disabled, or belonging to the other
//! scope.
//!
//! Exit status 0 when no manifest was refused, 1 when any was, so a plugin
//! author's CI can run it against a tree (`UPDATE_ALL_ROOT`).

use crate::cli::PlanArgs;
use crate::output::{self, count, section, width};
use serde::Serialize;
use std::borrow::Cow;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use update_all_core::inventory::{self, Disabled, Refusal};
use update_all_core::names::{ROLLBACK, SNAPSHOT_POST, SNAPSHOT_PRE};
use update_all_core::plan::{self, Reason};
use update_all_core::safety::{Safety, SnapshotFailure};
use update_all_core::{Diagnostic, Env, Phase, Scope, Severity};

pub fn run(scope: Scope, args: &PlanArgs) -> ExitCode {
    let report = Report::build(&Env::from_process(Some(scope)));
    // A broken configuration file is as much an error as a refused manifest.
    let config_error = report
        .warnings
        .iter()
        .any(|d| d.severity == Severity::Error);
    let status = if report.refused.is_empty() && !config_error {
        0
    } else {
        output::FAILURE
    };
    output::print_then_exit(status, |out| {
        if args.json {
            output::json(out, &report)
        } else {
            report.write_text(out)
        }
    })
}

/// Everything `plan` shows; `--json` prints it as it is.
#[derive(Debug, Serialize)]
pub struct Report {
    pub scope: Scope,
    /// The prefix everything was read under: `UPDATE_ALL_ROOT`, else `/`.
    pub root: PathBuf,
    /// Unit names per wave, first wave first.
    pub waves: Vec<Vec<String>>,
    /// Every unit, in a topological (start) order.
    pub units: Vec<Unit>,
    pub refused: Vec<Refusal>,
    pub disabled: Vec<Disabled>,
    pub warnings: Vec<Diagnostic>,
    /// Names of valid plugins that belong to the other scope.
    pub other_scope: Vec<String>,
    /// Manifests masked by an empty file or a symlink to /dev/null.
    pub masked: Vec<PathBuf>,
    /// The safety units a run pulls in around the updates, in the order
    /// the run meets them (docs/safety.md); none without an update unit.
    pub safety: Vec<SafetyUnit>,
}

/// A safety unit of the run: its pseudo-plugin (`step`) and where it
/// sits among the plugin units.
#[derive(Debug, Serialize)]
pub struct SafetyUnit {
    pub unit: String,
    /// `snapshot-pre`, `snapshot-post`, `health`.
    pub step: String,
    /// Where it sits, in words.
    pub order: String,
}

impl SafetyUnit {
    fn of(unit: &str, safety: &Safety) -> SafetyUnit {
        let dependency = match safety.snapshot_failure {
            SnapshotFailure::Continue => "Wants=",
            SnapshotFailure::Stop => "Requires=",
        };
        let order = match unit {
            SNAPSHOT_PRE => format!(
                "before every update unit, not the downloads (each {dependency} it: \
                 snapshot_failure {})",
                safety.snapshot_failure.as_str()
            ),
            SNAPSHOT_POST => "after every update unit".to_owned(),
            _ => format!(
                "after every update unit and the post snapshot; when it fails, {ROLLBACK} \
                 (rollback {})",
                safety.rollback.as_str()
            ),
        };
        SafetyUnit {
            unit: unit.to_owned(),
            step: unit
                .strip_prefix("update-all-")
                .and_then(|u| u.strip_suffix(".service"))
                .unwrap_or(unit)
                .to_owned(),
            order,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Unit {
    /// The systemd unit name.
    pub unit: String,
    pub plugin: String,
    pub phase: Phase,
    /// 1-based, as in the text output: wave 1 is `waves[0]`.
    pub wave: usize,
    pub after: Vec<Edge>,
    /// The plugin's executable as the real system sees it.
    pub executable: String,
    /// The manifest as the real system sees it.
    pub source: PathBuf,
}

/// One ordering constraint: the unit starts after `unit`, for `reasons`.
#[derive(Debug, Serialize)]
pub struct Edge {
    pub unit: String,
    pub reasons: Vec<Reason>,
}

impl Report {
    /// Loads and plans everything `env` points at.
    pub fn build(env: &Env) -> Self {
        let inv = inventory::load(env);
        // `plan::plan` consumes the inventory; keep what only it knows.
        let disabled = inv.disabled.clone();
        let mut other_scope: Vec<String> = inv.other_scope.iter().map(|n| n.to_string()).collect();
        other_scope.sort();
        other_scope.dedup();
        let masked = inv.masked.clone();
        let plan = plan::plan(inv);

        let names: Vec<String> = plan.units.iter().map(|u| plan.unit_name(u)).collect();
        let units = plan
            .units
            .iter()
            .zip(&names)
            .map(|(u, name)| {
                let plugin = &plan.plugins[u.plugin];
                Unit {
                    unit: name.clone(),
                    plugin: plugin.name().to_string(),
                    phase: u.phase,
                    wave: u.wave + 1,
                    after: u
                        .after
                        .iter()
                        .map(|(i, reasons)| Edge {
                            unit: names[*i].clone(),
                            reasons: reasons.clone(),
                        })
                        .collect(),
                    executable: plugin.manifest.executable.as_str().to_owned(),
                    source: plugin.source.clone(),
                }
            })
            .collect();
        let safety = if plan.units.iter().any(|u| u.phase == Phase::Update) {
            let s = &plan.config.safety;
            s.units(env.scope)
                .into_iter()
                .map(|unit| SafetyUnit::of(unit, s))
                .collect()
        } else {
            Vec::new()
        };
        let waves = plan
            .waves
            .iter()
            .map(|wave| wave.iter().map(|&i| names[i].clone()).collect())
            .collect();
        Report {
            scope: env.scope,
            root: env.root.clone(),
            waves,
            units,
            refused: plan.refused,
            disabled,
            warnings: plan.warnings,
            other_scope,
            masked,
            safety,
        }
    }

    /// The text for people.
    pub fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        let scope = self.scope.as_str();
        let mut summary = vec![
            count(self.units.len(), "unit", "units"),
            count(self.waves.len(), "wave", "waves"),
        ];
        for (n, what) in [
            (self.refused.len(), "refused"),
            (self.disabled.len(), "disabled"),
        ] {
            if n > 0 {
                summary.push(format!("{n} {what}"));
            }
        }
        if !self.warnings.is_empty() {
            summary.push(count(self.warnings.len(), "warning", "warnings"));
        }
        writeln!(out, "Plan for the {scope} scope: {}", summary.join(", "))?;
        if self.root != Path::new("/") {
            writeln!(out, "Read under {}", self.root.display())?;
        }

        if self.units.is_empty() {
            writeln!(
                out,
                "\nNo unit would run: there is no usable {scope} plugin."
            )?;
        } else {
            self.write_waves(out)?;
            self.write_ordering(out)?;
        }
        if section(out, "Safety units", self.safety.len())? {
            let w = width(self.safety.iter().map(|u| u.unit.as_str()));
            for u in &self.safety {
                writeln!(out, "  {:w$}  {}", u.unit, u.order)?;
            }
        }

        if section(out, "Refused", self.refused.len())? {
            for refusal in &self.refused {
                // A manifest that did not parse has no name yet; its file
                // name is the next best thing (the messages give the path).
                let file_name = refusal.file.file_name().map(|f| f.to_string_lossy());
                let title = refusal.name.as_deref().map(Cow::Borrowed).or(file_name);
                match title {
                    Some(title) => writeln!(out, "  {title}:")?,
                    None => writeln!(out, "  {}:", refusal.file.display())?,
                }
                for reason in &refusal.reasons {
                    writeln!(out, "    {reason}")?;
                }
            }
        }
        if section(out, "Disabled", self.disabled.len())? {
            for d in &self.disabled {
                writeln!(out, "  {}: {} ({})", d.name, d.why, d.file.display())?;
            }
        }
        if section(out, "Warnings", self.warnings.len())? {
            for w in &self.warnings {
                writeln!(out, "  {w}")?;
            }
        }
        if section(out, "Masked", self.masked.len())? {
            for m in &self.masked {
                writeln!(out, "  {}", m.display())?;
            }
        }
        if !self.other_scope.is_empty() {
            let other = match self.scope {
                Scope::System => Scope::User,
                Scope::User => Scope::System,
            };
            writeln!(
                out,
                "\nIn the {} scope, not planned here ({}): {}; see `update-all plan --{}`",
                other.as_str(),
                self.other_scope.len(),
                self.other_scope.join(", "),
                other.as_str()
            )?;
        }
        Ok(())
    }

    /// "Wave 1: apt (download), flatpak (download)", one line per wave.
    fn write_waves(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out)?;
        for wave in 1..=self.waves.len() {
            let members: Vec<String> = self
                .units
                .iter()
                .filter(|u| u.wave == wave)
                .map(|u| format!("{} ({})", u.plugin, u.phase.as_str()))
                .collect();
            writeln!(out, "Wave {wave}: {}", members.join(", "))?;
        }
        Ok(())
    }

    /// Each unit with what it starts after and why, one edge per line.
    fn write_ordering(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "\nOrdering:")?;
        let w = width(self.units.iter().map(|u| u.unit.as_str()));
        for unit in &self.units {
            if unit.after.is_empty() {
                writeln!(out, "  {:w$}  (nothing before it)", unit.unit)?;
            }
            for (k, edge) in unit.after.iter().enumerate() {
                let name = if k == 0 { unit.unit.as_str() } else { "" };
                let reasons: Vec<String> = edge.reasons.iter().map(Reason::to_string).collect();
                writeln!(
                    out,
                    "  {name:w$}  after {} ({})",
                    edge.unit,
                    reasons.join(", ")
                )?;
            }
        }
        Ok(())
    }
}
