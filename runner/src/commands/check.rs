//! `update-all check [--json]` and `update-all run --dry-run`: what every
//! enabled plugin of the scope would update, found by its `is-applicable`
//! and `estimate-update` in transient units (see [`crate::check`]).
//!
//! Exit status: 0 nothing to update, 100 updates available (as `dnf
//! check-update`), 1 a plugin failed (the others are still reported) or
//! the check could not run; `run --dry-run` also 2 for an unknown `--only`
//! plugin, as `run` itself. `check` also says whether the machine needs a
//! reboot now (`reboot_required`, `reboot_reasons` in `--json`).

use crate::check::dynamic::{self, Ordering};
use crate::check::{self, DurationSource, PluginCheck, Report, UpdateStatus};
use crate::cli::{CheckArgs, RunArgs};
use crate::output::format::{bytes, duration, or_dash, table};
use crate::output::{self, count, section};
use serde::Serialize;
use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Duration;
use update_all_core::plan::Plan;
use update_all_core::{Env, Scope};

pub fn run(scope: Scope, args: &CheckArgs) -> ExitCode {
    let env = Env::from_process(Some(scope));
    let plan = update_all_core::load(&env);
    let report = match checked(scope, &plan, &[]) {
        Ok(report) => report,
        Err(status) => return status,
    };
    // Looked at now, beside the plugins' estimates.
    let reboot = crate::reboot::detect::detect(scope);
    output::print_then_exit(report.exit_status(), |out| {
        if args.json {
            output::json(
                out,
                &CheckJson {
                    report: &report,
                    reboot_required: reboot.required,
                    reboot_reasons: &reboot.reasons,
                },
            )
        } else {
            write_report(out, &report)?;
            if reboot.required {
                writeln!(out, "\nReboot required: {}", reboot.reasons.join(", "))?;
            }
            Ok(())
        }
    })
}

/// `check --json`: the report and whether the machine needs a reboot.
#[derive(Serialize)]
struct CheckJson<'a> {
    #[serde(flatten)]
    report: &'a Report,
    reboot_required: bool,
    /// Why (see `crate::reboot::detect`); empty when none is needed.
    reboot_reasons: &'a [String],
}

/// Checks `plan`'s plugins (those of `only`, else all); on failure, says
/// why on standard error and gives the exit status.
fn checked(scope: Scope, plan: &Plan, only: &[String]) -> Result<Report, ExitCode> {
    let mut report =
        zbus::block_on(check::check(scope, &dynamic::selected(plan, only))).map_err(|e| {
            tracing::error!("{e}");
            ExitCode::from(output::FAILURE)
        })?;
    report.warnings.extend(dynamic::not_checked(plan, only));
    Ok(report)
}

/// `update-all run --dry-run [--only …] [--json]`: the plan, the check, and
/// the ordering `run --check` would add; starts nothing but the check's
/// units and writes nothing but their output.
pub fn dry_run(scope: Scope, args: &RunArgs) -> ExitCode {
    let env = Env::from_process(Some(scope));
    let plan_report = crate::commands::plan::Report::build(&env);
    let plan = update_all_core::load(&env);
    let missing = dynamic::missing(&plan, &args.only);
    if !missing.is_empty() {
        for why in missing {
            tracing::error!("{why}");
        }
        return ExitCode::from(2);
    }
    let report = match checked(scope, &plan, &args.only) {
        Ok(report) => report,
        Err(status) => return status,
    };
    let ordering = dynamic::ordering(&plan, &report);
    output::print_then_exit(report.exit_status(), |out| {
        if args.json {
            return output::json(
                out,
                &DryRun {
                    dry_run: true,
                    plan: &plan_report,
                    check: &report,
                    dynamic_order: order_rows(&ordering),
                    dynamic_warnings: &ordering.warnings,
                },
            );
        }
        writeln!(
            out,
            "Dry run: nothing is started or changed but the check's own units.\n"
        )?;
        if args.only.is_empty() {
            plan_report.write_text(out)?;
        } else {
            write_waves(out, &plan_report, &args.only)?;
        }
        writeln!(out, "\nCheck:")?;
        write_report(out, &report)?;
        write_ordering(out, &ordering)
    })
}

#[derive(Serialize)]
struct DryRun<'a> {
    dry_run: bool,
    plan: &'a crate::commands::plan::Report,
    check: &'a Report,
    /// What `update-all run --check` would add to the units' ordering.
    dynamic_order: Vec<OrderRow<'a>>,
    dynamic_warnings: &'a [String],
}

#[derive(Serialize)]
struct OrderRow<'a> {
    unit: &'a str,
    after: &'a str,
    reason: &'a str,
}

fn order_rows(o: &Ordering) -> Vec<OrderRow<'_>> {
    o.after
        .iter()
        .flat_map(|(unit, befores)| {
            befores.iter().map(move |(after, reason)| OrderRow {
                unit,
                after,
                reason,
            })
        })
        .collect()
}

/// The plan's waves with only the units of `only`.
fn write_waves(
    out: &mut dyn Write,
    plan: &crate::commands::plan::Report,
    only: &[String],
) -> io::Result<()> {
    writeln!(out, "Plan for {} (in waves):", only.join(", "))?;
    let mut shown = 0;
    for wave in 1..=plan.waves.len() {
        let members: Vec<String> = plan
            .units
            .iter()
            .filter(|u| u.wave == wave && only.contains(&u.plugin))
            .map(|u| format!("{} ({})", u.plugin, u.phase.as_str()))
            .collect();
        if !members.is_empty() {
            shown += 1;
            writeln!(out, "  Wave {shown}: {}", members.join(", "))?;
        }
    }
    Ok(())
}

/// What `run --check` would add, for people.
fn write_ordering(out: &mut dyn Write, o: &Ordering) -> io::Result<()> {
    let rows = order_rows(o);
    if section(out, "Dynamic mutexes would add (run --check)", rows.len())? {
        for row in rows {
            writeln!(out, "  {} after {}: {}", row.unit, row.after, row.reason)?;
        }
    }
    if section(out, "Dynamic mutexes that cannot apply", o.warnings.len())? {
        for w in &o.warnings {
            writeln!(out, "  {w}")?;
        }
    }
    Ok(())
}

/// The table, the totals, then problems, dynamic mutexes and warnings.
fn write_report(out: &mut dyn Write, report: &Report) -> io::Result<()> {
    if report.plugins.is_empty() {
        writeln!(
            out,
            "No {} plugin to check (see `update-all plan`).",
            report.scope.as_str()
        )?;
    } else {
        let rows: Vec<[String; 5]> = report.plugins.iter().map(row).collect();
        table(
            out,
            &["PLUGIN", "APPLICABLE", "UPDATES", "DOWNLOAD", "TIME"],
            &rows,
        )?;
    }
    let t = &report.totals;
    writeln!(out)?;
    if t.with_updates == 0 {
        writeln!(out, "Nothing to update.")?;
    } else {
        writeln!(
            out,
            "{} with updates: {}, {} to download, about {}.",
            count(t.with_updates, "plugin", "plugins"),
            count(t.packages, "package", "packages"),
            bytes(t.download_size_bytes),
            duration(Duration::from_secs_f64(t.duration_s))
        )?;
    }
    let failed: Vec<&PluginCheck> = report
        .plugins
        .iter()
        .filter(|p| p.error.is_some())
        .collect();
    if section(out, "Failed", failed.len())? {
        for p in failed {
            // The message names the plugin.
            let error = p.error.as_ref().expect("filtered");
            writeln!(out, "  {}", error.message)?;
        }
    }
    write_policy(out, report)?;
    let dynamic: Vec<(&str, String)> = report
        .plugins
        .iter()
        .filter_map(|p| Some((p.plugin.as_str(), dynamic_text(p.dynamic.as_ref()?)?)))
        .collect();
    if section(out, "Dynamic mutexes", dynamic.len())? {
        for (plugin, text) in dynamic {
            writeln!(out, "  {plugin}: {text}")?;
        }
    }
    let warnings: Vec<&String> = report
        .plugins
        .iter()
        .flat_map(|p| &p.warnings)
        .chain(&report.warnings)
        .collect();
    if section(out, "Warnings", warnings.len())? {
        for w in warnings {
            writeln!(out, "  {w}")?;
        }
    }
    Ok(())
}

/// Security updates first (they are applied whatever `allow` says), then
/// what the plugins' update policies hold back, and why.
fn write_policy(out: &mut dyn Write, report: &Report) -> io::Result<()> {
    let estimates = || {
        report
            .plugins
            .iter()
            .filter_map(|p| Some((p.plugin.as_str(), p.estimate.as_ref()?)))
    };
    let security: Vec<(&str, &update_all_protocol::Package)> = estimates()
        .flat_map(|(plugin, e)| e.packages_to_update.iter().map(move |p| (plugin, p)))
        .filter(|(_, p)| p.update_type == update_all_core::policy::UpdateType::Security)
        .collect();
    if section(out, "Security updates", security.len())? {
        for (plugin, p) in security {
            writeln!(
                out,
                "  {plugin}: {}{}",
                p.name,
                versions(&p.current_version, &p.new_version)
            )?;
        }
    }
    let held: Vec<(&str, &update_all_protocol::HeldBack)> = estimates()
        .flat_map(|(plugin, e)| e.held_back.iter().map(move |h| (plugin, h)))
        .collect();
    if section(out, "Held back by the update policy", held.len())? {
        for (plugin, h) in held {
            writeln!(
                out,
                "  {plugin}: {}{}: {}",
                h.name,
                versions(&h.current_version, &h.new_version),
                h.reason.as_deref().unwrap_or("held by the policy")
            )?;
        }
    }
    Ok(())
}

/// ` 1.0.1 → 2.0.0`, or as much of it as is known.
fn versions(from: &Option<String>, to: &Option<String>) -> String {
    match (from, to) {
        (Some(a), Some(b)) => format!(" {a} → {b}"),
        (None, Some(b)) => format!(" → {b}"),
        (Some(a), None) => format!(" {a}"),
        (None, None) => String::new(),
    }
}

fn row(p: &PluginCheck) -> [String; 5] {
    let applicable = match p.applicable {
        Some(true) => "yes",
        Some(false) => "no",
        None => "?",
    };
    let updates = match p.verdict {
        UpdateStatus::Updates | UpdateStatus::UpToDate => p.packages().to_string(),
        UpdateStatus::NotApplicable => "-".to_owned(),
        UpdateStatus::Failed => "failed".to_owned(),
    };
    let download = p
        .estimate
        .as_ref()
        .filter(|_| p.verdict == UpdateStatus::Updates)
        .and_then(check::download_size);
    let time = or_dash(p.duration_s, |s| {
        let from = match p.duration_from {
            Some(DurationSource::History) => "",
            _ => " (plugin's guess)",
        };
        format!("{}{from}", duration(Duration::from_secs_f64(s)))
    });
    [
        p.plugin.clone(),
        applicable.to_owned(),
        updates,
        or_dash(download, bytes),
        time,
    ]
}

/// "update-mutexes runtime:python; runs-after pipx", or nothing to say.
fn dynamic_text(d: &check::Dynamic) -> Option<String> {
    let mut parts = Vec::new();
    let names = |v: &[update_all_core::values::MutexName]| {
        v.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(" ")
    };
    for (phase, mutexes) in d.mutexes.iter().filter(|(_, m)| !m.is_empty()) {
        parts.push(format!(
            "{}-mutexes {}",
            command_phase(*phase),
            names(mutexes)
        ));
    }
    for (phase, mutexes) in d.dependencies.iter().filter(|(_, m)| !m.is_empty()) {
        parts.push(format!(
            "{}-dependency {}",
            command_phase(*phase),
            names(mutexes)
        ));
    }
    if !d.runs_after.is_empty() {
        let plugins: Vec<&str> = d.runs_after.iter().map(|p| p.as_str()).collect();
        parts.push(format!("runs-after {}", plugins.join(" ")));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// The phase as the dynamic mutex commands name it.
fn command_phase(phase: update_all_core::Phase) -> &'static str {
    match phase {
        update_all_core::Phase::Estimate => "estimate-update",
        other => other.as_str(),
    }
}
