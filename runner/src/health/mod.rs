//! The health checks after a run and at the boot after it (docs/safety.md,
//! "Health checks"). A run is healthy when
//! - no unit that was fine when the run began has failed since, and the
//!   manager's system state is no worse (`units`, against the `baseline`
//!   the recorder took when it opened the run);
//! - the units of the `health.units` of every plugin that updated in the
//!   run are active (`units`);
//! - the programs of the plugins' `health.exec` and the scripts of
//!   `health.d/required.d/` exit 0 within their timeout (`scripts`);
//!   `health.d/wanted.d/` scripts only warn.
//!
//! `settle` runs the checks twice around the stability window for
//! `update-all safety health` (the health unit); `boot` runs them once for
//! `update-all safety boot-check`. Each check is logged (a failure with
//! priority err, a warning with warning) and recorded in the run's
//! `health_checks` (see `stats::health`).

pub mod baseline;
pub mod boot;
pub mod scripts;
pub mod settle;
pub mod units;

use crate::stats::health::{Baseline, CheckKind, CheckRecord};
use crate::stats::{now_us, Db, RunId};
use crate::systemd::Bus;
use scripts::Script;
use std::time::Duration;
use update_all_core::{Env, Scope};

/// One check as it came out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// `nginx.service`, `required.d/10-http`, `/usr/lib/foo/check`,
    /// `system-state`, `failed-units`.
    pub name: String,
    pub kind: CheckKind,
    pub ok: bool,
    /// What was found: `failed since the run began`, `exit status 3`.
    pub message: String,
    pub duration: Duration,
}

impl Check {
    /// A failure that makes the run unhealthy (a `wanted.d` script's only
    /// warns).
    pub fn is_unhealthy(&self) -> bool {
        !self.ok && self.kind != CheckKind::Wanted
    }
}

/// What a run's checks look at, gathered once for every round.
pub struct Subject {
    pub scope: Scope,
    /// The run checked; none when no run is known (a check by hand).
    pub run: Option<RunId>,
    /// None when the run has no baseline: no unit is blamed then.
    pub baseline: Option<Baseline>,
    /// The `health.units` of the plugins that updated.
    pub units: Vec<WantedUnit>,
    /// The manifests' `health.exec` and the `health.d` scripts.
    pub scripts: Vec<Script>,
}

/// A unit a plugin's `health.units` wants active.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WantedUnit {
    pub plugin: String,
    pub unit: String,
    /// How long it is waited for while on its way to a state: the
    /// manifest's `health.timeout`, else `safety.health.timeout`.
    pub timeout: Duration,
}

impl Subject {
    /// The checks of `run` (of every plugin when `run` is none), as the
    /// configuration and the manifests of `scope` say now.
    pub fn of_run(scope: Scope, db: Option<&Db>, run: Option<RunId>) -> Subject {
        let env = Env::from_process(Some(scope));
        let inventory = update_all_core::inventory::load(&env);
        let updated: Option<Vec<String>> = match (db, run) {
            (Some(db), Some(run)) => db
                .updated_plugins(run)
                .map_err(|e| tracing::warn!("cannot read the run's plugins: {e}"))
                .ok(),
            _ => None,
        };
        let baseline = match (db, run) {
            (Some(db), Some(run)) => db.baseline_of(run).unwrap_or_else(|e| {
                tracing::warn!("cannot read the run's baseline: {e}");
                None
            }),
            _ => None,
        };
        let timeout = inventory.config.safety.health.timeout;
        let mut units = Vec::new();
        let mut scripts = Vec::new();
        for plugin in &inventory.plugins {
            let name = plugin.name().as_str();
            let Some(health) = &plugin.manifest.health else {
                continue;
            };
            if updated
                .as_ref()
                .is_some_and(|u| !u.iter().any(|p| p == name))
            {
                continue;
            }
            let timeout = health.timeout.unwrap_or(timeout);
            units.extend(health.units.iter().map(|u| WantedUnit {
                plugin: name.to_owned(),
                unit: u.as_str().to_owned(),
                timeout,
            }));
            scripts.extend(
                health
                    .exec
                    .iter()
                    .map(|e| Script::exec(&env, e.as_str(), timeout)),
            );
        }
        scripts.extend(scripts::drop_ins(&env, timeout));
        Subject {
            scope,
            run,
            baseline,
            units,
            scripts,
        }
    }
}

/// Round `n` of every check (1 and 2 around the stability window, 0 the
/// boot check's one): the units' (a round trip each) while the scripts run
/// side by side. Logged, not recorded (see [`record`]).
pub fn round(bus: &Bus, subject: &Subject, n: u32) -> Vec<Check> {
    let env = Env::from_process(Some(subject.scope));
    let (mut checks, ran) = std::thread::scope(|s| {
        let ran = s.spawn(|| scripts::run_all(&env, &subject.scripts, subject.run, n));
        let checks = zbus::block_on(units::check(bus, subject));
        // A panic must not pass for healthy.
        let ran = ran.join().unwrap_or_else(|_| {
            vec![Check {
                name: "health.d".into(),
                kind: CheckKind::Required,
                ok: false,
                message: "the scripts' runner panicked".into(),
                duration: Duration::ZERO,
            }]
        });
        (checks, ran)
    });
    checks.extend(ran);
    for c in &checks {
        log(subject.run, n, c);
    }
    checks
}

/// Says `check` of round `n` in the journal (or on standard error): a
/// failure with priority err, a warning with warning, a pass as info.
fn log(run: Option<RunId>, n: u32, c: &Check) {
    let (name, what) = (&c.name, &c.message);
    let kind = c.kind.as_str();
    let round = match n {
        0 => " (at boot)".to_owned(),
        n => format!(" (round {n})"),
    };
    if c.is_unhealthy() {
        tracing::error!(update_all_run = run, update_all_check = %name, kind, "health check {name} failed{round}: {what}");
    } else if !c.ok {
        tracing::warn!(update_all_run = run, update_all_check = %name, kind, "health check {name} failed{round}, wanted only: {what}");
    } else {
        tracing::info!(update_all_run = run, update_all_check = %name, kind, "health check {name}{round}: {what}");
    }
}

/// Records `checks` of round `round` of `run` in the statistics.
pub fn record(db: Option<&Db>, run: Option<RunId>, round: u32, checks: &[Check]) {
    let (Some(db), Some(run)) = (db, run) else {
        return;
    };
    let at_us = now_us();
    for c in checks {
        let r = CheckRecord {
            name: c.name.clone(),
            kind: c.kind,
            ok: c.ok,
            message: c.message.clone(),
            round,
            duration_us: i64::try_from(c.duration.as_micros()).unwrap_or(i64::MAX),
            at_us,
        };
        if let Err(e) = db.add_health_check(run, &r) {
            tracing::warn!(
                update_all_run = run,
                "cannot record health check {}: {e}",
                c.name
            );
        }
    }
}
