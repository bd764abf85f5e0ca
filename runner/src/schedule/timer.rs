//! `update-all.timer` over D-Bus: reload, enable and (re)start, stop and
//! disable, and what it says of its schedule; with `update-all.service`'s
//! state (it may be waiting to retry a skipped run).

use super::{SERVICE, TIMER};
use crate::systemd::Bus;
use nix::time::{clock_gettime, ClockId};
use serde::Serialize;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use update_all_core::Scope;
use zbus::proxy::CacheProperties;
use zbus::OwnedObjectPath;
use zbus_systemd::systemd1::{TimerProxy, UnitProxy};

/// A failed call, in words, with what to do about a refusal.
fn fail(scope: Scope, what: &str, e: zbus::Error) -> String {
    use zbus::DBusError;
    let name = match &e {
        zbus::Error::MethodError(name, _, _) => Some(name.to_string()),
        zbus::Error::FDO(fdo) => Some(fdo.name().to_string()),
        _ => None,
    };
    match name.as_deref() {
        Some(
            "org.freedesktop.DBus.Error.AccessDenied"
            | "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired",
        ) if scope == Scope::System => format!(
            "cannot {what}: not authorized ({e}); run it with sudo, or use --user for \
             your own timer"
        ),
        Some("org.freedesktop.systemd1.NoSuchUnit" | "org.freedesktop.systemd1.LoadFailed") => {
            format!(
                "cannot {what}: {TIMER} is not installed ({e}); the update-all units are \
                 missing, or systemd has not been reloaded"
            )
        }
        _ => format!("cannot {what}: {e}"),
    }
}

async fn unit(bus: &Bus, name: &str) -> Result<(OwnedObjectPath, UnitProxy<'static>), String> {
    let path = bus
        .manager()
        .load_unit(name.to_owned())
        .await
        .map_err(|e| fail(bus.scope, &format!("load {name}"), e))?;
    let proxy = UnitProxy::builder(bus.connection())
        .path(path.clone())
        .cache_properties(CacheProperties::No)
        .build()
        .await
        .map_err(|e| e.to_string())?;
    Ok((path, proxy))
}

/// Whether the timer's unit file lives under /run: it can then only be
/// enabled for this boot (`runtime`), with its symlink under /run too.
async fn runtime(bus: &Bus) -> Result<bool, String> {
    let (_, timer) = unit(bus, TIMER).await?;
    let fragment = timer.fragment_path().await.map_err(|e| e.to_string())?;
    if fragment.is_empty() {
        return Err(format!(
            "{TIMER} is not installed: the update-all units are missing, or systemd has \
             not been reloaded"
        ));
    }
    Ok(fragment.starts_with("/run/"))
}

/// Enables the timer, reloads the manager (which reads the drop-in just
/// written) and restarts the timer, so that it runs on the new schedule now.
pub async fn enable(bus: &Bus) -> Result<(), String> {
    let scope = bus.scope;
    let manager = bus.manager();
    let runtime = runtime(bus).await?;
    manager
        .enable_unit_files(vec![TIMER.to_owned()], runtime, false)
        .await
        .map_err(|e| fail(scope, &format!("enable {TIMER}"), e))?;
    // One reload takes the new drop-in and the new symlink.
    manager
        .reload()
        .await
        .map_err(|e| fail(scope, "reload systemd", e))?;
    manager
        .restart_unit(TIMER.to_owned(), "replace".to_owned())
        .await
        .map_err(|e| fail(scope, &format!("start {TIMER}"), e))?;
    Ok(())
}

/// Stops and disables the timer, then reloads (the drop-in is gone).
pub async fn disable(bus: &Bus) -> Result<(), String> {
    let scope = bus.scope;
    let manager = bus.manager();
    let runtime = runtime(bus).await?;
    manager
        .stop_unit(TIMER.to_owned(), "replace".to_owned())
        .await
        .map_err(|e| fail(scope, &format!("stop {TIMER}"), e))?;
    manager
        .disable_unit_files(vec![TIMER.to_owned()], runtime)
        .await
        .map_err(|e| fail(scope, &format!("disable {TIMER}"), e))?;
    manager
        .reload()
        .await
        .map_err(|e| fail(scope, "reload systemd", e))?;
    Ok(())
}

/// What systemd says of the timer and of the service it starts.
#[derive(Clone, Debug, Serialize)]
pub struct TimerState {
    /// enabled, enabled-runtime, disabled, ...
    pub unit_file_state: String,
    /// active (waiting to elapse) or inactive.
    pub active_state: String,
    /// The calendar expressions in force, as systemd normalized them.
    pub calendar: Vec<String>,
    /// Timers relative to an event, e.g. `OnActiveUSec=1s`.
    pub monotonic: Vec<String>,
    /// When it next elapses, µs since the epoch; none while stopped.
    pub next_elapse_us: Option<u64>,
    /// When it last elapsed (kept across reboots: Persistent=), µs since
    /// the epoch.
    pub last_trigger_us: Option<u64>,
    pub randomized_delay_s: u64,
    pub fixed_random_delay: bool,
    pub persistent: bool,
    /// update-all.service: `inactive`, `activating/start` (a run),
    /// `activating/auto-restart` (a skipped run waits to be retried), ...
    pub service_state: String,
}

pub async fn state(bus: &Bus) -> Result<TimerState, String> {
    state_of(bus, TIMER, SERVICE).await?.ok_or_else(|| {
        format!(
            "{TIMER} is not installed: the update-all units are missing, or systemd has \
             not been reloaded"
        )
    })
}

/// What systemd says of the timer `timer_name` and the service it starts,
/// `service_name`; none when the timer is not loaded (the transient
/// update-all-reboot.timer when no reboot waits).
pub async fn state_of(
    bus: &Bus,
    timer_name: &str,
    service_name: &str,
) -> Result<Option<TimerState>, String> {
    let err = |e: zbus::Error| fail(bus.scope, &format!("read {timer_name}"), e);
    let (path, timer_unit) = unit(bus, timer_name).await?;
    if timer_unit.load_state().await.map_err(err)? != "loaded" {
        return Ok(None);
    }
    let timer = TimerProxy::builder(bus.connection())
        .path(path)
        .cache_properties(CacheProperties::No)
        .build()
        .await
        .map_err(err)?;
    let realtime = timer.next_elapse_u_sec_realtime().await.map_err(err)?;
    let monotonic = timer.next_elapse_u_sec_monotonic().await.map_err(err)?;
    let next_elapse_us = match (valid(realtime), valid(monotonic)) {
        (Some(r), Some(m)) => Some(r.min(realtime_of_monotonic(m))),
        (Some(r), None) => Some(r),
        (None, Some(m)) => Some(realtime_of_monotonic(m)),
        (None, None) => None,
    };
    let (_, service) = unit(bus, service_name).await?;
    let service_state = format!(
        "{}/{}",
        service.active_state().await.map_err(err)?,
        service.sub_state().await.map_err(err)?
    );
    Ok(Some(TimerState {
        unit_file_state: timer_unit.unit_file_state().await.map_err(err)?,
        active_state: timer_unit.active_state().await.map_err(err)?,
        calendar: timer
            .timers_calendar()
            .await
            .map_err(err)?
            .into_iter()
            .map(|(_, spec, _)| spec)
            .collect(),
        monotonic: timer
            .timers_monotonic()
            .await
            .map_err(err)?
            .into_iter()
            .map(|(base, us, _)| format!("{base}={}s", us / 1_000_000))
            .collect(),
        next_elapse_us,
        last_trigger_us: valid(timer.last_trigger_u_sec().await.map_err(err)?),
        randomized_delay_s: timer.randomized_delay_u_sec().await.map_err(err)? / 1_000_000,
        fixed_random_delay: timer.fixed_random_delay().await.map_err(err)?,
        persistent: timer.persistent().await.map_err(err)?,
        service_state,
    }))
}

/// systemd's µs: 0 is never, all ones is infinity.
fn valid(us: u64) -> Option<u64> {
    (us != 0 && us != u64::MAX).then_some(us)
}

/// A CLOCK_MONOTONIC time (as `NextElapseUSecMonotonic`) on the wall clock.
fn realtime_of_monotonic(us: u64) -> u64 {
    // std's Instant reads this clock too, but does not tell its value.
    let mono_now = clock_gettime(ClockId::CLOCK_MONOTONIC)
        .map_or(Duration::ZERO, Duration::from)
        .as_micros() as u64;
    let real_now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_micros() as u64;
    (real_now + us).saturating_sub(mono_now)
}
