//! `update-all cancel`: stops the run in progress. Stopping
//! `update-all.target` stops every plugin unit through their `PartOf=`;
//! plugin units started on their own (`run --only`) are stopped one by one,
//! which also cancels their queued jobs. Waits until they are all stopped.
//!
//! Exit status: 0 when the run was stopped or none was in progress
//! ("no run in progress"); 2 when systemd cannot be reached or refuses.

use crate::cli::CancelArgs;
use crate::systemd::{self, is_plugin_unit, Bus, Event};
use futures_util::{FutureExt, StreamExt};
use std::collections::HashSet;
use std::process::ExitCode;
use update_all_core::names::TARGET;
use update_all_core::Scope;

pub fn run(scope: Scope, _args: &CancelArgs) -> ExitCode {
    match zbus::block_on(cancel(scope)) {
        Ok(stopped) if stopped.is_empty() => {
            println!("update-all: no run in progress");
            ExitCode::SUCCESS
        }
        Ok(stopped) => {
            println!("update-all: cancelled {}", stopped.join(", "));
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::from(2)
        }
    }
}

/// A unit whose jobs make up a run.
fn of_run(unit: &str) -> bool {
    unit == TARGET || is_plugin_unit(unit)
}

/// Stops the run; returns the plugin units that had a job, sorted.
async fn cancel(scope: Scope) -> Result<Vec<String>, systemd::Error> {
    let bus = Bus::connect(scope).await?;
    let mut stopped: Vec<String> = bus
        .jobs()
        .await?
        .into_iter()
        .filter(|job| of_run(&job.unit))
        .map(|job| job.unit)
        .collect();
    if stopped.is_empty() {
        return Ok(stopped);
    }
    let mut events = bus.subscribe().await?;
    bus.stop(TARGET).await?;
    // What PartOf= did not reach: units started without the target.
    for job in bus.jobs().await? {
        if is_plugin_unit(&job.unit) && job.kind == "start" {
            bus.stop(&job.unit).await?;
        }
    }

    // Wait for the stop jobs; signals since `watch` are queued in order.
    let mut pending: HashSet<u32> = bus
        .jobs()
        .await?
        .into_iter()
        .filter(|job| of_run(&job.unit))
        .map(|job| job.id)
        .collect();
    let follow = |event: Event, pending: &mut HashSet<u32>| match event {
        Event::JobNew { id, unit } if of_run(&unit) => {
            pending.insert(id);
        }
        Event::JobRemoved { id, .. } => {
            pending.remove(&id);
        }
        _ => {}
    };
    while let Some(Some(event)) = events.next().now_or_never() {
        follow(event, &mut pending);
    }
    while !pending.is_empty() {
        match events.next().await {
            Some(event) => follow(event, &mut pending),
            None => break,
        }
    }

    if stopped.iter().any(|unit| unit != TARGET) {
        stopped.retain(|unit| unit != TARGET);
    }
    stopped.sort();
    stopped.dedup();
    Ok(stopped)
}
