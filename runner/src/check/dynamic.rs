//! Dynamic mutexes for one run (`update-all run --check`).
//!
//! The check asks each plugin that supports them which mutexes its phases
//! hold and need given what is pending, and which plugins it must run
//! after. The extra ordering that follows is computed on the plan the way
//! the generator orders static mutexes — dependencies and runs-after first,
//! each refused if it would close a cycle with the static ordering, then
//! the holders of each mutex chained in one topological order — and applied
//! as runtime drop-ins (`After=`) plus a daemon-reload before the run
//! starts. When the run ends they are removed and systemd reloaded again;
//! a run left to go on in the background (Ctrl-C) keeps them until the
//! next `update-all run` removes them before it starts.

use super::dropins::{self, After};
use super::{Dynamic, Report, UpdateStatus};
use crate::systemd::{is_plugin_unit, Bus};
use std::collections::{BTreeMap, HashMap};
use update_all_core::inventory::Plugin;
use update_all_core::names::TARGET;
use update_all_core::order::{self, Edge};
use update_all_core::plan::{Plan, Reason};
use update_all_core::values::MutexName;
use update_all_core::{Env, Scope};

/// The extra ordering of a run, and what could not be honoured.
#[derive(Debug, Default)]
pub struct Ordering {
    /// Per unit that waits: the units it starts after, each with why.
    pub after: After,
    pub warnings: Vec<String>,
}

/// A unit's claim on a mutex: held or needed, from the manifest or from a
/// dynamic mutex command (then named for messages).
struct Claim<'a> {
    unit: usize,
    mutex: &'a MutexName,
    /// "apt update-mutexes"; `None` for the manifest's static claims.
    origin: Option<String>,
}

/// The ordering `report`'s dynamic mutexes add to `plan`'s units.
pub fn ordering(plan: &Plan, report: &Report) -> Ordering {
    let dynamic: HashMap<&str, &Dynamic> = report
        .plugins
        .iter()
        .filter_map(|p| Some((p.plugin.as_str(), p.dynamic.as_ref()?)))
        .collect();
    let name = |unit: usize| plan.plugins[plan.units[unit].plugin].name().as_str();
    let unit_name = |unit: usize| plan.unit_name(&plan.units[unit]);

    let (mut holds, mut needs) = (Vec::new(), Vec::new());
    for (i, unit) in plan.units.iter().enumerate() {
        let m = &plan.plugins[unit.plugin].manifest;
        let d = dynamic.get(name(i));
        let command = |what: &str| Some(format!("{} {}-{what}", name(i), unit.phase.as_str()));
        for mutex in m.static_mutexes.get(unit.phase) {
            holds.push(claim(i, mutex, None));
        }
        for mutex in d
            .and_then(|d| d.mutexes.get(&unit.phase))
            .into_iter()
            .flatten()
        {
            holds.push(claim(i, mutex, command("mutexes")));
        }
        for mutex in m.static_dependencies.get(unit.phase) {
            needs.push(claim(i, mutex, None));
        }
        for mutex in d
            .and_then(|d| d.dependencies.get(&unit.phase))
            .into_iter()
            .flatten()
        {
            needs.push(claim(i, mutex, command("dependency")));
        }
    }

    let mut warnings = Vec::new();
    let mut required = Vec::new();
    for need in &needs {
        for hold in holds.iter().filter(|h| h.mutex == need.mutex) {
            let static_both = need.origin.is_none() && hold.origin.is_none();
            if static_both || name(hold.unit) == name(need.unit) {
                continue;
            }
            required.push(Edge {
                before: hold.unit,
                after: need.unit,
                reason: Reason::Dependency(need.mutex.clone()),
                origin: need
                    .origin
                    .clone()
                    .or(hold.origin.clone())
                    .unwrap_or_default(),
            });
        }
    }
    let units_of = |plugin: &str| -> Vec<usize> {
        (0..plan.units.len())
            .filter(|&u| name(u) == plugin)
            .collect()
    };
    for (plugin, d) in &dynamic {
        for other in &d.runs_after {
            let theirs = units_of(other.as_str());
            let ours = units_of(plugin);
            // The first of ours after the last of theirs (update comes last).
            match (theirs.iter().max(), ours.iter().min()) {
                (Some(&before), Some(&after)) => required.push(Edge {
                    before,
                    after,
                    reason: Reason::RunsAfter,
                    origin: format!("{plugin} runs-after"),
                }),
                _ => warnings.push(format!(
                    "plugin `{plugin}` runs-after: `{other}` is not a planned plugin of this \
                     scope; ignored"
                )),
            }
        }
    }

    // Only mutexes someone holds dynamically need a new chain.
    let mut holders: BTreeMap<MutexName, Vec<(usize, String)>> = BTreeMap::new();
    for hold in holds.iter().filter(|h| h.origin.is_some()) {
        holders.entry(hold.mutex.clone()).or_default();
    }
    for hold in &holds {
        if let Some(list) = holders.get_mut(hold.mutex) {
            list.push((hold.unit, hold.origin.clone().unwrap_or_default()));
        }
    }

    let fixed: Vec<(usize, usize)> = plan
        .units
        .iter()
        .enumerate()
        .flat_map(|(i, u)| u.after.iter().map(move |(j, _)| (*j, i)))
        .collect();
    let ext = order::extend(plan.units.len(), &fixed, required, &holders);
    let mut after = After::new();
    for edge in &ext.added {
        let origin = if edge.origin.is_empty() {
            String::new()
        } else {
            format!(" ({})", edge.origin)
        };
        after
            .entry(unit_name(edge.after))
            .or_default()
            .push((unit_name(edge.before), format!("{}{origin}", edge.reason)));
    }
    for edge in &ext.refused {
        warnings.push(format!(
            "dynamic mutexes: {} cannot wait for {} ({}, from {}): that would make a cycle \
             with the static ordering; only the static ordering applies to them",
            unit_name(edge.after),
            unit_name(edge.before),
            edge.reason,
            edge.origin
        ));
    }
    Ordering { after, warnings }
}

fn claim(unit: usize, mutex: &MutexName, origin: Option<String>) -> Claim<'_> {
    Claim {
        unit,
        mutex,
        origin,
    }
}

/// `plan`'s plugins, or those of them named in `only`. Only plugins that
/// passed the generator's checks are in a plan: no other is ever run.
pub fn selected<'p>(plan: &'p Plan, only: &[String]) -> Vec<&'p Plugin> {
    plan.plugins
        .iter()
        .filter(|p| only.is_empty() || only.iter().any(|o| o == p.name().as_str()))
        .collect()
}

/// Why each name of `only` that is not a plugin of `plan` is missing:
/// refused (and why), or unknown. Empty when all are there.
pub fn missing(plan: &Plan, only: &[String]) -> Vec<String> {
    only.iter()
        .filter(|o| !plan.plugins.iter().any(|p| p.name().as_str() == o.as_str()))
        .map(|o| {
            let refused = not_checked(plan, std::slice::from_ref(o));
            if refused.is_empty() {
                format!("unknown plugin {o}; see `update-all plan`")
            } else {
                refused.join("\n")
            }
        })
        .collect()
}

/// Why those of `names` that the generator refused were refused, from
/// the scope's inventory as it is now; nothing for the others.
pub fn refused_among(scope: Scope, names: &[&str]) -> Vec<String> {
    if names.is_empty() {
        return Vec::new();
    }
    let plan = update_all_core::load(&Env::from_process(Some(scope)));
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    not_checked(&plan, &names)
}

/// One line per plugin of `plan` that was refused (of those named in
/// `only`, else all), and why: they are not checked, nor run.
pub fn not_checked(plan: &Plan, only: &[String]) -> Vec<String> {
    plan.refused
        .iter()
        .filter(|r| only.is_empty() || r.name.as_ref().is_some_and(|n| only.iter().any(|o| o == n)))
        .map(|r| {
            let what = match &r.name {
                Some(name) => format!("plugin `{name}`"),
                None => format!("the manifest {}", r.file.display()),
            };
            let why: Vec<String> = r.reasons.iter().map(ToString::to_string).collect();
            format!("{what} was refused and is not run: {}", why.join("; "))
        })
        .collect()
}

/// Before a run starts (none in progress): removes the drop-ins a
/// detached run left; with `check`, checks the plugins (those of `only`,
/// else all) and writes the ordering their dynamic mutexes ask for; then
/// reloads systemd if anything changed. `note(kind, text)` tells the user.
pub async fn prepare(
    bus: &Bus,
    check: bool,
    only: &[String],
    note: &mut dyn FnMut(&str, &str),
) -> Result<(), String> {
    let scope = bus.scope;
    let fail = |e: std::io::Error| format!("dynamic mutexes: {e}");
    let mut changed = dropins::remove_all(scope).map_err(fail)? > 0;
    if check {
        let plan = update_all_core::load(&Env::from_process(Some(scope)));
        let report = super::check(scope, &selected(&plan, only))
            .await
            .map_err(|e| format!("the check before the run failed: {e}"))?;
        note("check", &summary(&report));
        for row in &report.plugins {
            if let Some(error) = &row.error {
                note("check-failed", &error.message);
            }
            for w in &row.warnings {
                note("warning", w);
            }
        }
        let ordering = ordering(&plan, &report);
        let refused = not_checked(&plan, only);
        for w in ordering
            .warnings
            .iter()
            .chain(&report.warnings)
            .chain(&refused)
        {
            note("warning", w);
        }
        for (unit, befores) in &ordering.after {
            for (before, why) in befores {
                note(
                    "dynamic-order",
                    &format!("{unit} starts after {before}: {why}"),
                );
            }
        }
        if !ordering.after.is_empty() {
            dropins::write(scope, &ordering.after).map_err(fail)?;
            changed = true;
        }
    }
    if changed {
        reload(bus).await?;
    }
    Ok(())
}

/// After the run: removes this run's drop-ins and reloads, unless plugin
/// units still have jobs (the run goes on without a watcher): then they
/// stay, so the rest of the run keeps its order.
pub async fn finish(scope: Scope, note: &mut dyn FnMut(&str, &str)) {
    if dropins::list(scope).is_ok_and(|l| l.is_empty()) {
        return;
    }
    let result = async {
        let bus = Bus::connect(scope).await.map_err(|e| e.to_string())?;
        let jobs = bus.jobs().await.map_err(|e| e.to_string())?;
        let goes_on = jobs
            .iter()
            .any(|j| j.unit == TARGET || is_plugin_unit(&j.unit) && !is_check_unit(&j.unit));
        if goes_on {
            note(
                "dynamic-order",
                "the run goes on: its dynamic-mutex drop-ins stay until the next `update-all \
                 run` removes them",
            );
            return Ok(());
        }
        dropins::remove_all(scope).map_err(|e| e.to_string())?;
        reload(&bus).await
    }
    .await;
    if let Err(e) = result {
        note(
            "warning",
            &format!("cannot remove the dynamic-mutex drop-ins: {e}"),
        );
    }
}

fn is_check_unit(unit: &str) -> bool {
    unit.starts_with(crate::systemd::CHECK_PREFIX)
}

async fn reload(bus: &Bus) -> Result<(), String> {
    bus.manager()
        .reload()
        .await
        .map_err(|e| format!("systemctl daemon-reload failed: {e}"))
}

/// "check: 2 of 5 plugins have updates (14 packages), 1 failed".
pub fn summary(report: &Report) -> String {
    let t = &report.totals;
    let mut s = format!(
        "check: {} of {} plugins have updates ({} packages)",
        t.with_updates, t.plugins, t.packages
    );
    if t.failed > 0 {
        s.push_str(&format!(", {} failed", t.failed));
    }
    let not_applicable = report
        .plugins
        .iter()
        .filter(|p| p.verdict == UpdateStatus::NotApplicable)
        .count();
    if not_applicable > 0 {
        s.push_str(&format!(", {not_applicable} not applicable"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{PluginCheck, Totals};
    use update_all_core::inventory::{Inventory, Plugin};
    use update_all_core::manifest::ManifestFile;
    use update_all_core::Phase;

    fn plugin(yaml: &str) -> Plugin {
        let file: ManifestFile = serde_json::from_str(yaml).unwrap();
        Plugin {
            manifest: file.plugin,
            source: "/x.yaml".into(),
            path: "/x.yaml".into(),
        }
    }

    fn plan(yamls: &[&str]) -> Plan {
        let mut plugins: Vec<Plugin> = yamls.iter().map(|y| plugin(y)).collect();
        plugins.sort_by(|a, b| a.name().cmp(b.name()));
        update_all_core::plan::plan(Inventory {
            plugins,
            ..Inventory::default()
        })
    }

    fn report(dynamic: &[(&str, Phase, &[&str])]) -> Report {
        let plugins = dynamic
            .iter()
            .map(|(name, phase, mutexes)| {
                let mut d = Dynamic::default();
                d.mutexes.insert(
                    *phase,
                    mutexes
                        .iter()
                        .map(|m| MutexName::try_from(*m).unwrap())
                        .collect(),
                );
                PluginCheck {
                    plugin: (*name).into(),
                    verdict: UpdateStatus::Updates,
                    applicable: Some(true),
                    estimate: None,
                    duration_s: None,
                    duration_from: None,
                    error: None,
                    dynamic: Some(d),
                    warnings: Vec::new(),
                }
            })
            .collect();
        Report {
            scope: Scope::System,
            plugins,
            totals: Totals::default(),
            warnings: Vec::new(),
        }
    }

    const A: &str = r#"{"plugin": {"name": "a", "executable": "/a"}}"#;
    const B: &str = r#"{"plugin": {"name": "b", "executable": "/b"}}"#;

    #[test]
    fn holders_of_a_dynamic_mutex_take_turns() {
        let plan = plan(&[A, B]);
        let o = ordering(
            &plan,
            &report(&[
                ("a", Phase::Update, &["runtime:python"]),
                ("b", Phase::Update, &["runtime:python"]),
            ]),
        );
        let b = &o.after["update-all-b.service"];
        assert_eq!(b[0].0, "update-all-a.service");
        assert!(b[0].1.starts_with("mutex runtime:python ("), "{}", b[0].1);
        assert_eq!(o.after.len(), 1);
        assert!(o.warnings.is_empty());
    }

    #[test]
    fn a_static_holder_joins_the_chain_and_cycles_are_refused() {
        // c holds pkgmgr:x statically; a needs it dynamically, but c
        // already runs after a (runs_after): refused with a warning.
        let c = r#"{"plugin": {"name": "c", "executable": "/c", "runs_after": ["a"],
                    "static_mutexes": {"update": ["pkgmgr:x"]}}}"#;
        let plan = plan(&[A, B, c]);
        let mut r = report(&[("b", Phase::Update, &["pkgmgr:x"])]);
        let mut needs = Dynamic::default();
        needs.dependencies.insert(
            Phase::Update,
            vec![MutexName::try_from("pkgmgr:x").unwrap()],
        );
        r.plugins.push(PluginCheck {
            plugin: "a".into(),
            dynamic: Some(needs),
            ..r.plugins[0].clone()
        });
        let o = ordering(&plan, &r);
        // b (dynamic) and c (static) hold pkgmgr:x: b first, in plan order.
        assert_eq!(o.after["update-all-c.service"][0].0, "update-all-b.service");
        // a after b is fine; a after c would be a cycle.
        assert_eq!(o.after["update-all-a.service"][0].0, "update-all-b.service");
        assert_eq!(o.warnings.len(), 1, "{:?}", o.warnings);
        assert!(o.warnings[0].contains("update-all-a.service cannot wait for update-all-c"));
    }
}
