//! One recorder process (`update-all record`), from start to the run's end:
//!
//! 1. Subscribe to systemd's signals, open the database, and pick the run
//!    (see `Recorder::pick_run`): the unfinished run of this boot when systemd
//!    restarted this recorder after it failed, else a new one.
//! 2. Catch up: every plugin unit invocation that finished but is not
//!    recorded (by InvocationID) is recorded now: the latest from the
//!    unit, earlier ones from the manager's own journal entries. With
//!    `Restart=on-failure` this is what makes `kill -9` lose nothing.
//! 3. Tell systemd it is ready (plugin units wait for that), then record
//!    each plugin unit as its job ends, sampling the cgroups of running
//!    ones for peak memory.
//! 4. Exit 0 when no plugin unit and not update-all.target has a job left,
//!    or at SIGTERM (`update-all cancel` stops the recorder too) once the
//!    units stopped are recorded.
//!
//! systemd re-executing or reloading, and the bus restarting, lose
//! nothing: the subscription follows the manager (`systemd::Subscription`), every plugin
//! unit is read again when it is back (`Recorder::reconcile`), the run's
//! end is looked for every `systemd::BACKSTOP`, and a last catch-up
//! records whatever ended unheard.

use super::Recorder;
use crate::stats::reboot::RebootNeed;
use crate::stats::{self, Db};
use crate::summary::RunSummary;
use crate::systemd::{self, Bus};
use futures_util::{FutureExt, StreamExt};
use std::future::poll_fn;
use std::task::Poll;
use std::time::Duration;
use update_all_core::Scope;
use zruntime::signal::{Signal, Signals};

/// Records one run to its end and returns its summary, and whether the
/// machine needs a reboot now (recorded with the run, see `reboot`).
pub async fn record(scope: Scope) -> Result<(RunSummary, RebootNeed), String> {
    let runtime = zruntime::SharedRuntime::current().map_err(|e| e.to_string())?;
    // Stopping update-all.target (`update-all cancel`) stops the recorder
    // too, after the plugin units (it is ordered before them): it still
    // records them and ends the run, so a later run does not continue it.
    let mut stop = Signals::new(&runtime, [Signal::Terminate, Signal::Interrupt])
        .map_err(|e| format!("cannot handle SIGTERM: {e}"))?;
    let bus = Bus::connect(scope).await.map_err(|e| e.to_string())?;
    // Subscribed before anything is read, so no unit's end is missed.
    let mut events = bus.subscribe().await.map_err(|e| e.to_string())?;
    let db = match Db::open_for_writing(&stats::db_path(scope)) {
        Ok(db) => Some(db),
        Err(e) => {
            tracing::warn!("{e}. Recording nothing this run.");
            None
        }
    };
    let mut rec = Recorder::new(scope, bus, db);
    rec.refresh_units().await.map_err(|e| e.to_string())?;
    rec.pick_run().await;
    rec.catch_up().await.map_err(|e| e.to_string())?;
    let run = Some(rec.run_id()).filter(|&id| id != 0);
    // Before READY=1: no unit of the run starts before it is written down.
    rec.write_down_queued();
    crate::health::baseline::take(&rec.bus, rec.db.as_ref(), run).await;
    crate::sd_notify::notify(&format!("READY=1\nSTATUS=Recording {}", rec.run_label()));
    let fail = |e: systemd::Error| e.to_string();
    let mut check = true;
    let stopped = loop {
        // A failure (systemd away for a moment) is looked at again at the
        // next resync.
        if check {
            match rec.run_is_over().await {
                Ok(true) => break false,
                Ok(false) => {}
                Err(e) => tracing::warn!("cannot list systemd's jobs: {e}"),
            }
        }
        let wake = poll_fn(|cx| {
            if stop.poll_next_unpin(cx).is_ready() {
                return Poll::Ready(None);
            }
            events.poll_next_unpin(cx).map(Some)
        })
        .await;
        check = match wake {
            Some(Some(systemd::Event::Resync(why))) => {
                tracing::debug!("reading the plugin units again: {why:?}");
                rec.reconcile(why, &mut events).await
            }
            Some(Some(event)) => rec.handle(event).await.unwrap_or_else(|e| {
                tracing::warn!("cannot read a plugin unit: {e}");
                false
            }),
            Some(None) => {
                // The bus restarted: back on the new one, then a Resync.
                let (bus, watch) = Bus::reconnect(scope)
                    .await
                    .map_err(|e| format!("lost the connection to systemd: {e}"))?;
                rec.reconnected(bus);
                events = watch;
                false
            }
            None => break true,
        };
    };
    if stopped {
        // A round trip: every signal systemd sent before its answer is
        // queued after it.
        rec.run_is_over().await.map_err(fail)?;
    }
    // Ended by a shutdown or reboot (its units stopped, their jobs
    // cancelled, this recorder stopped): the run is cut short (see
    // `started`).
    let shutdown = rec.shutting_down().await;
    // The last units' ends may still wait in the queue (systemd removes
    // their jobs before this recorder reads the signals about them).
    while let Some(Some(event)) = events.next().now_or_never() {
        rec.handle(event).await.map_err(fail)?;
    }
    // Units stopped mid-run (cancel), or that ended while systemd was
    // away, whose end was not told yet.
    rec.catch_up().await.map_err(fail)?;
    if shutdown {
        rec.mark_cut_short();
    } else {
        rec.release_snapshot_units().await;
    }
    let summary = rec.end();
    let reboot = rec.end_reboot();
    let (rss, cpu) = own_usage();
    tracing::info!(
        update_all_run = run,
        "{} over: {} succeeded, {} failed, {} skipped in {:.1}s \
         ({} units recorded; recorder peak RSS {} KiB, CPU {} ms)",
        rec.run_label(),
        summary.succeeded.len(),
        summary.failed.len(),
        summary.skipped.len(),
        summary.duration.as_secs_f64(),
        rec.recorded(),
        rss / 1024,
        cpu.as_millis()
    );
    Ok((summary, reboot))
}

/// This process's peak RSS in bytes and CPU time (user + system), for the
/// last log line: what recording a run costs.
fn own_usage() -> (u64, Duration) {
    use nix::sys::resource::{getrusage, UsageWho};
    let Ok(usage) = getrusage(UsageWho::RUSAGE_SELF) else {
        return (0, Duration::ZERO);
    };
    let time = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(t.tv_sec() as u64) + Duration::from_micros(t.tv_usec() as u64)
    };
    (
        // Linux counts it in KiB.
        usage.max_rss() as u64 * 1024,
        time(usage.user_time()) + time(usage.system_time()),
    )
}
