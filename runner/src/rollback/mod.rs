//! Rolling a run back (docs/safety.md, "Rollback"): `update-all rollback
//! [RUN]` by hand, and `--automatic` from update-all-rollback.service,
//! which the health check's and the boot check's `OnFailure=` start.
//!
//! [`roll_back`] checks the guards (`guard`: `safety.rollback`, one
//! automatic rollback per run, never a rollback of a rollback), plans the
//! ladder from what the run left (`ladder`: the plugins' own `rollback`,
//! the snapshot pair's undo, a root rollback), takes its steps until one
//! is enough, records each in `rollbacks` (why: the failed health checks)
//! and tells the users: "rolled back", naming the failed check.
//! `estimates` records, from plugin-exec, what the plugins' rollbacks
//! return to.

pub mod estimates;
pub mod guard;
pub mod ladder;
pub mod plugins;
pub mod restore;
pub mod root;
pub mod undo;

use crate::notify::Message;
use crate::plugin::catalog::Catalog;
use crate::stats::health::CheckKind;
use crate::stats::rollbacks::{Outcome, Rollback, Step};
use crate::stats::{query, Db, RunId};
use guard::Refusal;
use ladder::{Context, Evidence, Taken};
use nix::fcntl::{Flock, FlockArg};
use serde::Serialize;
use std::fs::File;
use std::path::PathBuf;
use update_all_core::safety::RollbackMode;
use update_all_core::{names, Env, Scope};

/// What was asked for.
#[derive(Clone, Copy, Debug)]
pub struct Request {
    pub run: RunId,
    /// Started by update-all-rollback.service.
    pub automatic: bool,
    /// Show the ladder, change nothing (recorded as `dry-run`).
    pub dry_run: bool,
}

/// What a rollback did, for people and for `--json`.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub run: RunId,
    /// The failed health checks ("web.service: failed"), or why else.
    pub why: String,
    pub automatic: bool,
    pub dry_run: bool,
    /// Why nothing was done, when a guard said so.
    pub refused: Option<String>,
    /// Which guard that was.
    #[serde(skip)]
    pub refusal: Option<Refusal>,
    /// Plugins the run updated that have no rollback of their own.
    pub not_covered: Vec<String>,
    /// The steps taken (or, with `dry_run`, that would be), in order.
    pub steps: Vec<Taken>,
}

impl Report {
    /// The rollback was done (or shown): the last step taken is enough.
    pub fn succeeded(&self) -> bool {
        self.refused.is_none()
            && self
                .steps
                .last()
                .is_some_and(|s| matches!(s.result, Outcome::Ok | Outcome::DryRun))
    }
}

/// The run a rollback is about when none is named: for the rollback unit,
/// the run it is part of (the newest unended run of this boot that lists
/// it), else the newest run with a failed health check; by hand, the last
/// run that is not itself a rollback.
pub fn default_run(db: &Db, automatic: bool) -> rusqlite::Result<Option<RunId>> {
    if automatic {
        if let Some(run) = crate::stats::current::run_of_unit(&db.conn, names::ROLLBACK)? {
            if !failed_checks(db, run)?.is_empty() {
                return Ok(Some(run));
            }
        }
        return db.newest_unhealthy_run();
    }
    let Some(last) = query::last_run(db)? else {
        return Ok(None);
    };
    let mut run = last.id;
    while run > 0 && guard::is_rollback_run(db, run)? {
        run -= 1;
    }
    Ok(query::run(db, run)?.map(|r| r.id))
}

/// Where a rollback keeps its files while it runs: the plugins' rollback
/// files and the lock (`/run/update-all/rollback/`,
/// `$XDG_RUNTIME_DIR/update-all/rollback/`).
fn runtime_dir(scope: Scope) -> Result<PathBuf, String> {
    match scope {
        Scope::System => Ok(PathBuf::from("/run/update-all/rollback")),
        Scope::User => std::env::var_os("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .filter(|d| d.is_absolute())
            .map(|d| d.join("update-all/rollback"))
            .ok_or_else(|| "no $XDG_RUNTIME_DIR".to_owned()),
    }
}

/// Held while a rollback runs, so that two at once (the unit and an
/// admin) take turns, and the second sees what the first recorded: the
/// guards and the ladder run under it. `None` (a warning) when the lock
/// cannot be taken: the rollback goes on without it.
fn exclusive(scope: Scope) -> Option<Flock<File>> {
    let locked = runtime_dir(scope).and_then(|dir| {
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = dir.join("lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, e)| format!("{}: {e}", path.display()))
    });
    locked
        .inspect_err(|e| tracing::warn!("cannot take the rollback's lock ({e}); going on"))
        .ok()
}

/// The checks that failed in `run`'s latest round: the one after the
/// stability window, or the boot check's at a later boot (a wanted.d
/// script's failure only warns, and does not count).
pub fn failed_checks(
    db: &Db,
    run: RunId,
) -> rusqlite::Result<Vec<crate::stats::health::CheckRecord>> {
    let checks = db.health_checks_of(run)?;
    let last_round = checks.iter().max_by_key(|c| c.at_us).map(|c| c.round);
    Ok(checks
        .into_iter()
        .filter(|c| Some(c.round) == last_round && !c.ok && c.kind != CheckKind::Wanted)
        .collect())
}

/// Rolls `request.run` back (see the module's documentation), recording
/// and telling what happened.
pub fn roll_back(db: &Db, scope: Scope, request: Request) -> Report {
    let config = crate::config::load(scope);
    let run = request.run;
    let failed = failed_checks(db, run).unwrap_or_else(|e| {
        tracing::warn!("cannot read run {run}'s health checks: {e}");
        Vec::new()
    });
    let why = if failed.is_empty() {
        if request.automatic {
            "the health check failed".to_owned()
        } else {
            "asked for by hand".to_owned()
        }
    } else {
        failed
            .iter()
            .map(|c| format!("{}: {}", c.name, c.message))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let failed_units: Vec<String> = failed
        .iter()
        .filter(|c| c.kind == CheckKind::Unit && c.name.ends_with(".service"))
        .map(|c| c.name.clone())
        .collect();
    let mut report = Report {
        run,
        why: why.clone(),
        automatic: request.automatic,
        dry_run: request.dry_run,
        refused: None,
        refusal: None,
        not_covered: Vec::new(),
        steps: Vec::new(),
    };
    // `off`: the unit does nothing at all, not even look.
    if request.automatic && config.safety.rollback == RollbackMode::Off {
        tracing::info!("{}", Refusal::Off.describe(run));
        report.refused = Some(Refusal::Off.describe(run));
        report.refusal = Some(Refusal::Off);
        return report;
    }
    let _turn = exclusive(scope);
    let env = Env::from_process(Some(scope));
    let catalog = Catalog::load(&env);
    let evidence = Evidence {
        updated: ladder::updated_plugins(db, run).unwrap_or_default(),
        packages: db.run_packages(run).unwrap_or_default(),
        // Snapshots and root rollbacks are the system's.
        pairs: if scope == Scope::System {
            undo::pairs_of(db, run).unwrap_or_else(|e| {
                tracing::warn!("cannot read run {run}'s snapshots: {e}");
                Vec::new()
            })
        } else {
            Vec::new()
        },
        catalog: &catalog,
    };
    let plan = ladder::plan(&evidence);
    if let Err(refusal) = guard::check(db, run, request.automatic, config.safety.rollback) {
        let text = refusal.describe(run);
        tracing::warn!("{text}");
        if refusal != Refusal::Off {
            record(
                db,
                &report,
                &Taken {
                    // The step it would have taken first.
                    step: plan
                        .steps
                        .first()
                        .map_or(Step::Plugin, ladder::Planned::step),
                    what: text.clone(),
                    result: Outcome::Refused,
                    detail: String::new(),
                    started_us: crate::stats::now_us(),
                    duration_us: 0,
                },
            );
        }
        if refusal == Refusal::Manual {
            tell(&config, needed(run, &why));
        }
        report.refused = Some(text);
        report.refusal = Some(refusal);
        return report;
    }
    report.not_covered = plan.not_covered.clone();
    if plan.steps.is_empty() {
        let text = if evidence.updated.is_empty() {
            "nothing to roll back with: no plugin's update ran, and the run has no snapshots"
                .to_owned()
        } else {
            format!(
                "nothing to roll back with: no rollback of their own ({}), and the run has \
                 no snapshots",
                evidence.updated.join(", ")
            )
        };
        let taken = Taken {
            step: Step::Plugin,
            what: text,
            result: if request.dry_run {
                Outcome::DryRun
            } else {
                Outcome::Failed
            },
            detail: String::new(),
            started_us: crate::stats::now_us(),
            duration_us: 0,
        };
        record(db, &report, &taken);
        report.steps.push(taken);
        return report;
    }
    let cx = Context {
        run,
        env: &env,
        failed_units: &failed_units,
        reboot: &config.reboot,
        runner: &config.paths.runner,
    };
    report.steps = ladder::climb(&plan, &cx, request.dry_run);
    for taken in &report.steps {
        tracing::info!(
            "rollback of run {run}, {}: {} — {} ({})",
            taken.step.as_str(),
            taken.what,
            taken.result.as_str(),
            taken.detail
        );
        record(db, &report, taken);
    }
    if !request.dry_run {
        tell(&config, told(&report));
    }
    report
}

/// Records one step of `report`.
fn record(db: &Db, report: &Report, taken: &Taken) {
    let what = if taken.detail.is_empty() {
        taken.what.clone()
    } else {
        format!("{}: {}", taken.what, taken.detail)
    };
    let row = Rollback {
        run_id: report.run,
        started_us: taken.started_us,
        duration_us: taken.duration_us,
        step: taken.step,
        what,
        why: report.why.clone(),
        result: taken.result,
        automatic: report.automatic,
    };
    if let Err(e) = db.add_rollback(&row) {
        tracing::error!("cannot record the rollback of run {}: {e}", report.run);
    }
}

/// "Rolled back" (or that it failed), naming the failed check.
fn told(report: &Report) -> Message {
    let ok = report.succeeded();
    let last = report.steps.last();
    let mut body = format!("Run {}: {}.", report.run, report.why);
    if let Some(step) = last {
        body.push_str(&format!("\n{} ({})", step.what, step.detail));
    }
    Message {
        summary: if ok {
            "Updates rolled back".into()
        } else {
            "Rollback failed".into()
        },
        body,
        critical: true,
    }
}

/// "Rollback needed" (safety.rollback: manual).
fn needed(run: RunId, why: &str) -> Message {
    Message {
        summary: "Rollback needed".into(),
        body: format!(
            "Run {run} left the machine unhealthy: {why}.\nrollback needed: run update-all rollback {run}"
        ),
        critical: true,
    }
}

/// Sends `message` when the configuration wants notifications of failed
/// runs (a rollback is one).
fn tell(config: &update_all_core::config::Config, message: Message) {
    if config.notifications.wanted(true) {
        crate::notify::tell_graphical(&message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::health::CheckRecord;

    fn check(name: &str, kind: CheckKind, ok: bool, round: u32, at_us: i64) -> CheckRecord {
        CheckRecord {
            name: name.into(),
            kind,
            ok,
            message: String::new(),
            round,
            duration_us: 1,
            at_us,
        }
    }

    #[test]
    fn the_latest_rounds_failures_count_and_wanted_scripts_do_not() {
        let (_dir, db) = crate::stats::testing::db_with_runs(&[1]);
        for c in [
            check("web.service", CheckKind::Unit, false, 1, 10),
            check("web.service", CheckKind::Unit, true, 2, 20),
            check("wanted.d/10-x", CheckKind::Wanted, false, 2, 20),
        ] {
            db.add_health_check(1, &c).unwrap();
        }
        // Healthy after the stability window: nothing counts.
        assert!(failed_checks(&db, 1).unwrap().is_empty());
        // The boot check (round 0) at a later boot failed.
        db.add_health_check(1, &check("db.service", CheckKind::Unit, false, 0, 30))
            .unwrap();
        let failed: Vec<String> = failed_checks(&db, 1)
            .unwrap()
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(failed, ["db.service"]);
        assert_eq!(db.newest_unhealthy_run().unwrap(), Some(1));
    }
}
