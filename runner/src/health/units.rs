//! The checks of units, asked of the service manager of the run's scope:
//! - `failed-units`: no unit that was fine when the run began (see
//!   `baseline`) has failed since; each one that has is a check of its own,
//!   named after it. update-all's own units are left out: a failed update
//!   is the run's result, said by the run, not the machine's health;
//! - `system-state`: `systemctl is-system-running` is no worse than then;
//! - the `health.units` of the plugins that updated must be active. One
//!   that is still on its way (activating, a job queued: at boot, or a
//!   service restarting) is waited for, up to the check timeout.

use super::{Check, Subject, WantedUnit};
use crate::stats::health::{Baseline, CheckKind};
use crate::systemd::{self, Bus};
use futures_util::future::join_all;
use std::time::{Duration, Instant};

/// How often a unit on its way to a state is looked at again.
const POLL: Duration = Duration::from_millis(200);

/// Every unit check of `subject`, the manifests' units side by side.
pub async fn check(bus: &Bus, subject: &Subject) -> Vec<Check> {
    let start = Instant::now();
    let mut checks = match super::baseline::read(bus).await {
        Ok(now) => against_baseline(subject.baseline.as_ref(), &now, start.elapsed()),
        Err(e) => vec![Check {
            name: "systemd".into(),
            kind: CheckKind::System,
            ok: false,
            message: format!("cannot ask the service manager: {e}"),
            duration: start.elapsed(),
        }],
    };
    let wanted = subject.units.iter().map(|w| wanted_active(bus, w));
    checks.extend(join_all(wanted).await);
    checks
}

/// The built-in checks: what failed since `base`, and the system state.
fn against_baseline(base: Option<&Baseline>, now: &Baseline, took: Duration) -> Vec<Check> {
    let check = |name: &str, kind, ok, message: String| Check {
        name: name.to_owned(),
        kind,
        ok,
        message,
        duration: took,
    };
    let Some(base) = base else {
        return vec![check(
            "failed-units",
            CheckKind::System,
            true,
            format!(
                "no baseline of the run: no unit is blamed ({} failed now, system {})",
                now.failed.len(),
                now.system_state
            ),
        )];
    };
    let new: Vec<&String> = now
        .failed
        .iter()
        .filter(|u| !base.failed.contains(*u) && !is_own(u))
        .collect();
    let mut checks: Vec<Check> = new
        .iter()
        .map(|u| {
            check(
                u,
                CheckKind::Unit,
                false,
                "failed since the run began".into(),
            )
        })
        .collect();
    if new.is_empty() {
        let before = base.failed.len();
        checks.push(check(
            "failed-units",
            CheckKind::System,
            true,
            format!("no unit failed since the run began ({before} had failed before)"),
        ));
    }
    let (was, is) = (&base.system_state, &now.system_state);
    let worse = rank(now) > rank(base);
    checks.push(check(
        "system-state",
        CheckKind::System,
        !worse,
        if worse {
            format!("the system is {is}, it was {was} when the run began")
        } else {
            format!("{is} (was {was})")
        },
    ));
    checks
}

/// update-all's own units (`update-all-*`, `update-all.target`, ...).
fn is_own(unit: &str) -> bool {
    unit.starts_with("update-all-") || unit.starts_with("update-all.")
}

/// How bad the system state of `b` is, as `systemctl is-system-running`
/// says it: starting (at boot) is as good as running, and so is degraded
/// when only update-all's own units failed (see [`is_own`]).
fn rank(b: &Baseline) -> u8 {
    match b.system_state.as_str() {
        "initializing" | "starting" | "running" => 0,
        "degraded" if b.failed.iter().all(|u| is_own(u)) => 0,
        "degraded" => 1,
        "maintenance" | "stopping" => 2,
        _ => 3,
    }
}

/// The unit of a plugin's `health.units` is active, or becomes so within
/// its timeout if it is on its way.
async fn wanted_active(bus: &Bus, wanted: &WantedUnit) -> Check {
    let (plugin, unit) = (&wanted.plugin, &wanted.unit);
    let start = Instant::now();
    let result = wait_settled(bus, unit, start + wanted.timeout).await;
    let (ok, message) = match result {
        Ok(state) if state == "active" => (true, format!("active ({plugin}'s health.units)")),
        Ok(state) => (
            false,
            format!("{unit} is {state}; {plugin}'s health.units wants it active"),
        ),
        Err(e) => (
            false,
            format!("{e}; {plugin}'s health.units wants it active"),
        ),
    };
    Check {
        name: unit.to_owned(),
        kind: CheckKind::Unit,
        ok,
        message,
        duration: start.elapsed(),
    }
}

/// `unit`'s state once it is neither on its way (activating, reloading,
/// deactivating) nor waiting for a job, or at `deadline` as it is then
/// (`activating (auto-restart)`).
async fn wait_settled(bus: &Bus, unit: &str, deadline: Instant) -> systemd::Result<String> {
    let path = bus.load(unit).await?;
    loop {
        let props = bus.props(&path).await?;
        let active = props.active_state.clone().unwrap_or_default();
        let queued = || async {
            bus.jobs()
                .await
                .map(|jobs| jobs.iter().any(|j| j.unit == unit))
                .unwrap_or(false)
        };
        let moving = (props.is_active() && active != "active") || queued().await;
        if !moving || Instant::now() >= deadline {
            return Ok(match props.sub_state {
                Some(sub) if moving => format!("{active} ({sub})"),
                _ => active,
            });
        }
        sleep(POLL.min(deadline.saturating_duration_since(Instant::now()))).await;
    }
}

/// Sleeps on zbus's runtime (a thread sleep where there is none).
async fn sleep(d: Duration) {
    match zruntime::SharedRuntime::current() {
        Ok(runtime) => {
            runtime.sleep(d).await;
        }
        Err(_) => std::thread::sleep(d),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn baseline(failed: &[&str], state: &str) -> Baseline {
        Baseline {
            failed: failed.iter().map(|s| s.to_string()).collect(),
            system_state: state.into(),
        }
    }

    fn failures(checks: &[Check]) -> Vec<&str> {
        checks
            .iter()
            .filter(|c| !c.ok)
            .map(|c| c.name.as_str())
            .collect()
    }

    #[test]
    fn only_units_that_failed_since_the_run_began_are_blamed() {
        let base = baseline(&["old.service"], "degraded");
        let now = baseline(
            &["old.service", "new.service", "update-all-apt.service"],
            "degraded",
        );
        let checks = against_baseline(Some(&base), &now, Duration::ZERO);
        assert_eq!(failures(&checks), ["new.service"]);
        let same = against_baseline(Some(&base), &base, Duration::ZERO);
        assert!(failures(&same).is_empty(), "{same:?}");
    }

    #[test]
    fn a_worse_system_state_is_unhealthy_and_starting_is_not() {
        // Whether the system-state check passes, `other.service` having
        // failed before and after the run.
        let ok = |was, is, failed_now: &[&str]| {
            let now = baseline(failed_now, is);
            against_baseline(
                Some(&baseline(&["other.service"], was)),
                &now,
                Duration::ZERO,
            )
            .iter()
            .any(|c| c.name == "system-state" && c.ok)
        };
        let other = ["other.service"];
        assert!(!ok("running", "degraded", &other));
        assert!(!ok("degraded", "maintenance", &other));
        assert!(ok("degraded", "running", &[]));
        assert!(ok("running", "starting", &[]));
        // Degraded by update-all's own units alone (a failed update).
        assert!(ok("running", "degraded", &["update-all-apt.service"]));
    }

    #[test]
    fn without_a_baseline_nothing_is_blamed() {
        let now = baseline(&["x.service"], "degraded");
        assert!(failures(&against_baseline(None, &now, Duration::ZERO)).is_empty());
    }
}
