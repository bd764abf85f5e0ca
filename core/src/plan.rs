//! The plan: which units run, what each is ordered after and why, and the
//! waves of units that may run together.
//!
//! Edges come from `runs_after`, from static dependencies (a unit that needs
//! mutex M free runs after every unit holding M) and from a plugin's own
//! download phase. Cycles among those are refused whole. Units holding the
//! same mutex are then chained in one deterministic topological order, so
//! serializing them can never create a cycle (docs/manifest.md, "How
//! ordering is built"). The graph, its order and the chains are
//! [`crate::order`]'s, which the runner extends with dynamic mutexes.

use crate::config::Config;
use crate::diagnostic::Diagnostic;
use crate::inventory::{Inventory, Plugin, Refusal};
use crate::manifest::Phase;
use crate::names::unit_name;
use crate::order::{add_edge, positions, take_turns, topological_order, Graph};
use crate::values::MutexName;
use petgraph::algo::tarjan_scc;
use petgraph::Direction;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

pub use crate::order::Reason;

/// One unit of the plan.
#[derive(Clone, Debug)]
pub struct PlannedUnit {
    /// Index into [`Plan::plugins`].
    pub plugin: usize,
    pub phase: Phase,
    /// Units (indices into [`Plan::units`]) this one is ordered after.
    pub after: Vec<(usize, Vec<Reason>)>,
    /// The wave (0-based) in which it can start at the earliest.
    pub wave: usize,
}

#[derive(Debug, Default)]
pub struct Plan {
    pub plugins: Vec<Plugin>,
    /// In a deterministic topological order.
    pub units: Vec<PlannedUnit>,
    pub waves: Vec<Vec<usize>>,
    /// Plugins refused by the inventory or for being on a cycle.
    pub refused: Vec<Refusal>,
    pub warnings: Vec<Diagnostic>,
    /// The merged configuration the plan was made under.
    pub config: Config,
}

impl Plan {
    /// The systemd unit name of `unit`.
    pub fn unit_name(&self, unit: &PlannedUnit) -> String {
        unit_name(self.plugins[unit.plugin].name().as_str(), unit.phase)
    }
}

/// Units as (plugin index, phase), in plugin-name then phase order.
fn units_of(plugins: &[Plugin]) -> Vec<(usize, Phase)> {
    plugins
        .iter()
        .enumerate()
        .flat_map(|(i, p)| p.manifest.unit_phases().iter().map(move |&ph| (i, ph)))
        .collect()
}

/// The edges that express real requirements; only these can form cycles.
fn required_edges(plugins: &[Plugin], units: &[(usize, Phase)]) -> Graph {
    let mut g = Graph::new();
    let first_unit: Vec<usize> = (0..plugins.len())
        .map(|p| {
            units
                .iter()
                .position(|u| u.0 == p)
                .expect("every plugin has a unit")
        })
        .collect();
    let update_unit = |p: usize| {
        units
            .iter()
            .position(|&u| u == (p, Phase::Update))
            .expect("every plugin has an update unit")
    };
    for (i, &(p, phase)) in units.iter().enumerate() {
        g.add_node(i);
        if phase == Phase::Update && first_unit[p] != i {
            add_edge(&mut g, first_unit[p], i, Reason::Download);
        }
    }
    for (p, plugin) in plugins.iter().enumerate() {
        for dep in &plugin.manifest.runs_after {
            if let Some(q) = plugins.iter().position(|o| o.name() == dep) {
                add_edge(&mut g, update_unit(q), first_unit[p], Reason::RunsAfter);
            }
        }
    }
    for (needer, &(p, phase)) in units.iter().enumerate() {
        for mutex in plugins[p].manifest.static_dependencies.get(phase) {
            for (holder, &(q, q_phase)) in units.iter().enumerate() {
                if q != p
                    && plugins[q]
                        .manifest
                        .static_mutexes
                        .get(q_phase)
                        .contains(mutex)
                {
                    add_edge(&mut g, holder, needer, Reason::Dependency(mutex.clone()));
                }
            }
        }
    }
    g
}

/// A shortest cycle through `start` inside one strongly connected set.
fn cycle_through(g: &Graph, scc: &BTreeSet<usize>, start: usize) -> Vec<usize> {
    let mut parent: BTreeMap<usize, usize> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(n) = queue.pop_front() {
        let mut next: Vec<usize> = g.neighbors(n).filter(|m| scc.contains(m)).collect();
        next.sort_unstable();
        for m in next {
            if m == start {
                let mut path = vec![n];
                while let Some(&p) = parent.get(path.last().expect("non-empty")) {
                    path.push(p);
                }
                path.reverse();
                return path;
            }
            if m != start && !parent.contains_key(&m) {
                parent.insert(m, n);
                queue.push_back(m);
            }
        }
    }
    vec![start]
}

/// Finds every cycle: each plugin on one, with the text of a cycle through
/// that plugin (a strongly connected set may hold several cycles).
fn cycles(g: &Graph, plugins: &[Plugin], units: &[(usize, Phase)]) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for scc in tarjan_scc(g) {
        if scc.len() == 1 && !g.contains_edge(scc[0], scc[0]) {
            continue;
        }
        let set: BTreeSet<usize> = scc.into_iter().collect();
        let mut seen = BTreeSet::new();
        for &start in &set {
            let plugin = units[start].0;
            if !seen.insert(plugin) {
                continue;
            }
            let mut names: Vec<&str> = Vec::new();
            for u in cycle_through(g, &set, start) {
                let name = plugins[units[u].0].name().as_str();
                if names.last() != Some(&name) {
                    names.push(name);
                }
            }
            if names.len() > 1 && names.first() == names.last() {
                names.pop();
            }
            names.push(names[0]);
            found.push((plugin, names.join(" → ")));
        }
    }
    found
}

/// Builds the plan from an inventory.
pub fn plan(inv: Inventory) -> Plan {
    let mut plugins = inv.plugins;
    let mut refused = inv.refused;
    let mut warnings = inv.warnings;
    let (units, mut g) = loop {
        let units = units_of(&plugins);
        let g = required_edges(&plugins, &units);
        let found = cycles(&g, &plugins, &units);
        if found.is_empty() {
            break (units, g);
        }
        let mut out = BTreeSet::new();
        for (p, text) in found {
            out.insert(p);
            let plugin = &plugins[p];
            refused.push(Refusal {
                name: Some(plugin.name().to_string()),
                file: plugin.path.clone(),
                reasons: vec![Diagnostic::error(
                    Some(&plugin.path),
                    format!(
                        "dependency cycle {text}; every plugin on it is left out. \
                         Remove one runs_after or static_dependencies entry to break it"
                    ),
                )],
                manifest: Some(Box::new(plugin.manifest.clone())),
            });
        }
        let removed: Vec<_> = out.iter().map(|&p| plugins[p].name().clone()).collect();
        let mut i = 0;
        plugins.retain(|_| {
            i += 1;
            !out.contains(&(i - 1))
        });
        for plugin in &plugins {
            for dep in plugin
                .manifest
                .runs_after
                .iter()
                .filter(|d| removed.contains(d))
            {
                warnings.push(Diagnostic::warning(
                    Some(&plugin.path),
                    format!(
                        "plugin `{}` runs_after `{dep}`, which is on a dependency cycle and \
                         was refused; the ordering is ignored",
                        plugin.name()
                    ),
                ));
            }
        }
    };

    let order = topological_order(&g, units.len());
    let position = positions(&order);
    let mut holders: BTreeMap<&MutexName, Vec<(usize, ())>> = BTreeMap::new();
    for (u, &(p, phase)) in units.iter().enumerate() {
        for mutex in plugins[p].manifest.static_mutexes.get(phase) {
            holders.entry(mutex).or_default().push((u, ()));
        }
    }
    for (mutex, mut us) in holders {
        take_turns(&mut us, &position);
        for pair in us.windows(2) {
            add_edge(&mut g, pair[0].0, pair[1].0, Reason::Mutex(mutex.clone()));
        }
    }

    // Units are renumbered in topological order, which the mutex edges
    // (always forward) kept valid.
    let mut planned: Vec<PlannedUnit> = Vec::with_capacity(units.len());
    for &u in &order {
        let mut after: Vec<(usize, Vec<Reason>)> = g
            .neighbors_directed(u, Direction::Incoming)
            .map(|pred| (position[pred], g[(pred, u)].clone()))
            .collect();
        after.sort();
        let wave = after
            .iter()
            .map(|&(p, _)| planned[p].wave + 1)
            .max()
            .unwrap_or(0);
        planned.push(PlannedUnit {
            plugin: units[u].0,
            phase: units[u].1,
            after,
            wave,
        });
    }
    let mut waves: Vec<Vec<usize>> = Vec::new();
    for (i, unit) in planned.iter().enumerate() {
        if waves.len() <= unit.wave {
            waves.resize(unit.wave + 1, Vec::new());
        }
        waves[unit.wave].push(i);
    }
    refused.sort_by(|a, b| (&a.name, &a.file).cmp(&(&b.name, &b.file)));
    Plan {
        plugins,
        units: planned,
        waves,
        refused,
        warnings,
        config: inv.config,
    }
}
