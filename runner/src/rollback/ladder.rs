//! The ladder (docs/safety.md, "Rollback"): which steps a rollback of a
//! run takes, in order of preference, and taking them.
//!
//! 1. `plugin`: the plugins' own `rollback` (`plugins`), for the plugins
//!    the run updated that support it and whose estimate was recorded;
//!    enough on its own when every plugin the run updated is among them
//!    and all of them succeed;
//! 2. `undochange`: the run's snapshot pair undone on the live system and
//!    the services concerned restarted (`undo`); enough when the failed
//!    units are active again;
//! 3. `root`: `snapper rollback PRE` and a reboot (`root`), when `/` is a
//!    btrfs subvolume of the pair's snapper configuration.
//!
//! Each step is taken only when the ones before were not enough; a dry
//! run shows them all.

use super::plugins::{self, Target};
use super::root;
use super::undo::{self, Backend, Pair};
use crate::plugin::catalog::Catalog;
use crate::stats::packages::RunPackage;
use crate::stats::rollbacks::{Outcome, Step};
use crate::stats::{query, Db, RunId};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Instant;
use update_all_core::reboot::Reboot;
use update_all_core::{Env, Phase};

/// One step the ladder may take.
#[derive(Clone, Debug)]
pub enum Planned {
    Plugins(Vec<Target>),
    Undo(Vec<Pair>),
    Root { config: String, pre: String },
}

impl Planned {
    pub fn step(&self) -> Step {
        match self {
            Planned::Plugins(_) => Step::Plugin,
            Planned::Undo(_) => Step::Undochange,
            Planned::Root { .. } => Step::Root,
        }
    }

    /// What it does, in one line.
    pub fn describe(&self) -> String {
        match self {
            Planned::Plugins(targets) => targets
                .iter()
                .map(Target::describe)
                .collect::<Vec<_>>()
                .join("; "),
            Planned::Undo(pairs) => pairs
                .iter()
                .map(Pair::describe)
                .collect::<Vec<_>>()
                .join("; "),
            Planned::Root { config, pre } => {
                format!("snapper rollback {pre} (config {config}), then a reboot")
            }
        }
    }
}

/// The steps for a run, and what the first one leaves out.
#[derive(Clone, Debug, Default)]
pub struct Ladder {
    pub steps: Vec<Planned>,
    /// Plugins the run updated that the plugin step cannot roll back.
    pub not_covered: Vec<String>,
}

/// What the run left that a rollback works with.
pub struct Evidence<'a> {
    /// The plugins whose update ran in the run.
    pub updated: Vec<String>,
    /// The estimates plugin-exec recorded, by plugin.
    pub packages: BTreeMap<String, Vec<RunPackage>>,
    /// The run's snapshot pairs (none when no backend applied).
    pub pairs: Vec<Pair>,
    pub catalog: &'a Catalog,
}

/// The plugins whose update phase ran in `run` (skipped ones did not).
pub fn updated_plugins(db: &Db, run: RunId) -> rusqlite::Result<Vec<String>> {
    let mut updated: Vec<String> = query::run_records(db, run)?
        .into_iter()
        .filter(|r| r.phase == Phase::Update.as_str())
        .filter(|r| r.result != crate::stats::Outcome::Skipped)
        .map(|r| r.plugin)
        .collect();
    updated.sort();
    updated.dedup();
    Ok(updated)
}

/// The ladder for what `evidence` shows.
pub fn plan(evidence: &Evidence) -> Ladder {
    let mut ladder = Ladder::default();
    let mut targets = Vec::new();
    for name in &evidence.updated {
        let plugin = evidence
            .catalog
            .entries
            .iter()
            .find(|e| &e.name == name)
            .and_then(|e| e.runnable())
            .filter(|p| p.manifest.supports_rollback);
        match (plugin, evidence.packages.get(name)) {
            (Some(plugin), Some(packages)) if !packages.is_empty() => targets.push(Target {
                plugin: plugin.clone(),
                packages: packages.clone(),
            }),
            _ => ladder.not_covered.push(name.clone()),
        }
    }
    if !targets.is_empty() {
        ladder.steps.push(Planned::Plugins(targets));
    }
    if !evidence.pairs.is_empty() {
        ladder.steps.push(Planned::Undo(evidence.pairs.clone()));
    }
    let root = evidence.pairs.iter().find_map(|pair| match &pair.backend {
        Backend::Snapper { config } if root::applies(config) => Some(Planned::Root {
            config: config.clone(),
            pre: pair.pre.clone(),
        }),
        _ => None,
    });
    ladder.steps.extend(root);
    ladder
}

/// One step taken (or shown).
#[derive(Clone, Debug, Serialize)]
pub struct Taken {
    pub step: Step,
    pub what: String,
    pub result: Outcome,
    /// What came of it: the packages, files and services, or the error.
    pub detail: String,
    pub started_us: i64,
    pub duration_us: i64,
}

/// What a step needs besides its plan.
pub struct Context<'a> {
    pub run: RunId,
    pub env: &'a Env,
    /// The units the health check found failed (restarted by the undo).
    pub failed_units: &'a [String],
    pub reboot: &'a Reboot,
    /// The configuration's `paths.runner`.
    pub runner: &'a str,
}

/// Takes the ladder's steps until one is enough (with `dry_run`, shows
/// them all); what each did.
pub fn climb(ladder: &Ladder, cx: &Context, dry_run: bool) -> Vec<Taken> {
    let mut taken = Vec::new();
    for planned in &ladder.steps {
        let started_us = crate::stats::now_us();
        let clock = Instant::now();
        let (result, detail, enough) = if dry_run {
            (Outcome::DryRun, "would be done".to_owned(), false)
        } else {
            take(planned, ladder, cx)
        };
        taken.push(Taken {
            step: planned.step(),
            what: planned.describe(),
            result,
            detail,
            started_us,
            duration_us: i64::try_from(clock.elapsed().as_micros()).unwrap_or(i64::MAX),
        });
        if enough {
            break;
        }
    }
    taken
}

/// Takes one step: its result, what came of it, and whether it is enough.
fn take(planned: &Planned, ladder: &Ladder, cx: &Context) -> (Outcome, String, bool) {
    match planned {
        Planned::Plugins(targets) => {
            let done: Vec<plugins::Done> = targets
                .iter()
                .map(|t| plugins::roll_back(t, cx.run, cx.env))
                .collect();
            let ok = done.iter().all(plugins::Done::ok);
            let mut detail: Vec<String> = done
                .iter()
                .map(|d| {
                    let mut line =
                        format!("{}: rolled back {}", d.plugin, d.rolled_back.join(", "));
                    if !d.failed.is_empty() {
                        line.push_str(&format!("; not: {}", d.failed.join(", ")));
                    }
                    if let Some(e) = &d.error {
                        line.push_str(&format!("; {e}"));
                    }
                    line
                })
                .collect();
            if !ladder.not_covered.is_empty() {
                detail.push(format!(
                    "no rollback of their own: {}",
                    ladder.not_covered.join(", ")
                ));
            }
            let result = if ok { Outcome::Ok } else { Outcome::Failed };
            (
                result,
                detail.join("; "),
                ok && ladder.not_covered.is_empty(),
            )
        }
        Planned::Undo(pairs) => match undo::undo(pairs, cx.failed_units) {
            Ok(undone) => {
                let still: Vec<&String> =
                    cx.failed_units.iter().filter(|u| !is_active(u)).collect();
                let mut detail = undone.describe();
                if still.is_empty() {
                    (Outcome::Ok, detail, true)
                } else {
                    let names: Vec<&str> = still.iter().map(|s| s.as_str()).collect();
                    detail.push_str(&format!("; still not active: {}", names.join(", ")));
                    (Outcome::Failed, detail, false)
                }
            }
            Err(e) => (Outcome::Failed, e, false),
        },
        Planned::Root { config, pre } => match root::roll_back(config, pre, cx.reboot, cx.runner) {
            Ok(r) => (
                Outcome::Ok,
                format!("new default subvolume {}; {}", r.new_default, r.reboot),
                true,
            ),
            Err(e) => (Outcome::Failed, e, false),
        },
    }
}

/// `systemctl is-active UNIT` says active.
fn is_active(unit: &str) -> bool {
    std::process::Command::new("systemctl")
        .args(["is-active", "--quiet", unit])
        .status()
        .is_ok_and(|s| s.success())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;
    use update_all_core::Scope;

    /// A root prefix with the plugins `(name, supports_rollback)`.
    fn catalog(plugins: &[(&str, bool)]) -> (tempfile::TempDir, Catalog) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let manifests = root.join("usr/lib/update-all/plugins.d");
        let executables = root.join("usr/lib/update-all/plugins");
        std::fs::create_dir_all(&manifests).unwrap();
        std::fs::create_dir_all(&executables).unwrap();
        for (name, rollback) in plugins {
            let exe = executables.join(name);
            std::fs::write(&exe, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
            std::fs::write(
                manifests.join(format!("{name}.yaml")),
                format!(
                    "plugin:\n  name: {name}\n  executable: /usr/lib/update-all/plugins/{name}\n  \
                     scope: system\n  supports_rollback: {rollback}\n"
                ),
            )
            .unwrap();
        }
        // The trust checks want directories only root can write to.
        for sub in ["", "usr", "usr/lib", "usr/lib/update-all"] {
            let p = root.join(sub);
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let env = Env {
            root: root.to_path_buf(),
            scope: Scope::System,
            user_config: None,
        };
        let catalog = Catalog::load(&env);
        (dir, catalog)
    }

    fn package(name: &str) -> Vec<RunPackage> {
        vec![RunPackage {
            name: name.into(),
            current_version: Some("1".into()),
            new_version: Some("2".into()),
            update_type: None,
        }]
    }

    #[test]
    fn the_plugins_that_can_come_first_then_the_pair_undone() {
        let (_dir, catalog) = catalog(&[("npm", true), ("apt", false), ("pipx", true)]);
        assert!(
            catalog.entries.iter().all(|e| e.runnable().is_some()),
            "{:#?}",
            catalog
                .entries
                .iter()
                .map(|e| e.state.why())
                .collect::<Vec<_>>()
        );
        let pair = Pair {
            backend: Backend::Btrfs {
                path: Path::new("/srv").to_owned(),
            },
            pre: "/srv/.update-all-snapshots/1-pre".into(),
            post: "/srv/.update-all-snapshots/1-post".into(),
        };
        let evidence = Evidence {
            updated: vec!["apt".into(), "npm".into(), "pipx".into()],
            // pipx's estimate was not recorded: it cannot be rolled back.
            packages: [("npm".to_owned(), package("left-pad"))].into(),
            pairs: vec![pair.clone()],
            catalog: &catalog,
        };
        let ladder = plan(&evidence);
        assert_eq!(ladder.not_covered, ["apt", "pipx"]);
        let steps: Vec<Step> = ladder.steps.iter().map(Planned::step).collect();
        assert_eq!(steps, [Step::Plugin, Step::Undochange]);
        assert_eq!(ladder.steps[0].describe(), "npm: left-pad 2 → 1");
        // Without snapshots, the plugins' own rollback is all there is.
        let ladder = plan(&Evidence {
            pairs: Vec::new(),
            ..evidence
        });
        assert_eq!(ladder.steps.len(), 1);
    }
}
