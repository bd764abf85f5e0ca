//! The state machine of a run: follows every plugin unit's job and state
//! through systemd's D-Bus signals until no job of the run is left.
//!
//! systemd re-executing (a systemd package upgrade does) or reloading, and
//! the bus restarting, do not lose the run: the watch follows the manager
//! (`systemd::Subscription`), and after each [`Event::Resync`] the run's jobs and
//! units are read again, so a unit that ended unheard ends its row with
//! the state its properties give. Every `systemd::BACKSTOP` that is done
//! too, against any missed signal. Ctrl-C (or SIGTERM) stops watching and
//! leaves the updates running.
//!
//! What starts the run (the target, or `--only`'s units) is `run`'s;
//! [`RunState`] (`state`) is what is known of the run and how each event
//! changes it, `rows` what the rows say once their units ended.

mod rows;
mod state;

use crate::output::progress::{Progress, Row};
use crate::summary::RunSummary;
use crate::systemd::{self, Bus, Event, PlannedUnits, PluginUnit};
use futures_util::{FutureExt, StreamExt};
use state::RunState;
use std::future::poll_fn;
use std::task::Poll;
use std::time::Duration;
use update_all_core::{Plan, Scope};
use zruntime::signal::{Signal, Signals};
use zruntime::SharedRuntime;

/// How often the live table redraws while nothing happens.
const REDRAW: Duration = Duration::from_millis(250);

/// How watching ended, when it did not fail.
pub enum Ended {
    Finished(RunSummary),
    /// Ctrl-C or SIGTERM: the run goes on without us.
    Detached,
}

/// A reason the run cannot start or be followed.
pub type Fail = String;

/// One service manager's run being watched: its bus and signals, Ctrl-C
/// and SIGTERM, and what is known of the run so far.
pub struct Watcher {
    scope: Scope,
    runtime: SharedRuntime,
    signals: Signals<zruntime::Shared>,
    bus: Bus,
    events: systemd::Subscription,
    units: Vec<PluginUnit>,
    state: RunState,
}

impl Watcher {
    /// Listens to Ctrl-C and SIGTERM and to systemd's signals, before
    /// anything starts (Ctrl-C during the start detaches too), and pins
    /// the plugin units so their outcome can be read after they end.
    pub async fn connect(scope: Scope, plan: &Plan) -> Result<Watcher, Fail> {
        let runtime = SharedRuntime::current().map_err(|e| e.to_string())?;
        let signals = Signals::new(&runtime, [Signal::Interrupt, Signal::Terminate])
            .map_err(|e| format!("cannot handle Ctrl-C: {e}"))?;
        let bus = Bus::connect(scope).await.map_err(|e| e.to_string())?;
        let events = bus.subscribe().await.map_err(|e| e.to_string())?;
        // Who each unit belongs to comes from the plan (systemd is asked
        // only about units the plan does not make).
        let planned = PlannedUnits::of(plan);
        let units = bus
            .plugin_units(&planned)
            .await
            .map_err(|e| e.to_string())?;
        for unit in &units {
            // Best effort: without the right to, outcomes come from the signals.
            let _ = bus.pin(&unit.name).await;
        }
        let state = RunState::new(scope, &units);
        Ok(Watcher {
            scope,
            runtime,
            signals,
            bus,
            events,
            units,
            state,
        })
    }

    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    /// The plugin units loaded when watching began.
    pub fn units(&self) -> &[PluginUnit] {
        &self.units
    }

    /// The rows so far.
    pub fn rows(&self) -> &[Row] {
        &self.state.rows
    }

    /// A job of the run is queued already: a run is in progress.
    pub async fn attached(&self) -> Result<bool, Fail> {
        let jobs = self.bus.jobs().await.map_err(|e| e.to_string())?;
        Ok(jobs.iter().any(|job| self.state.counts(&job.unit)))
    }

    /// Ctrl-C or SIGTERM came since watching began.
    pub fn interrupted(&mut self) -> bool {
        self.signals.next().now_or_never().is_some()
    }

    /// Follows the run, once started, until none of its jobs is left (its
    /// summary, shown) or Ctrl-C. `attached`: the run was in progress
    /// before, for the summary's words.
    pub async fn follow(mut self, attached: bool, progress: &mut Progress) -> Result<Ended, Fail> {
        // Jobs as they are now; the signals queued since `connect` bring the
        // changes before and after this, in order.
        let mut jobs = self.bus.jobs().await.map_err(|e| e.to_string())?;
        jobs.sort_by_key(|job| job.id);
        for job in &jobs {
            self.state.listed(&self.bus, job, progress).await;
        }
        // Everything systemd sent before answering ListJobs is queued by now.
        self.drain(progress).await;

        let mut ticks = progress.live().then(|| self.runtime.interval(REDRAW));
        while !self.state.pending.is_empty() || self.jobs_came_late(progress).await {
            let wake = poll_fn(|cx| {
                if self.signals.poll_next_unpin(cx).is_ready() {
                    return Poll::Ready(Wake::Signal);
                }
                if let Poll::Ready(event) = self.events.poll_next_unpin(cx) {
                    return Poll::Ready(Wake::Event(event));
                }
                if let Some(ticks) = ticks.as_mut() {
                    if ticks.poll_next_unpin(cx).is_ready() {
                        return Poll::Ready(Wake::Tick);
                    }
                }
                Poll::Pending
            })
            .await;
            match wake {
                Wake::Signal => {
                    progress.detached();
                    eprintln!(
                        "\nupdate-all: stopped watching; the updates go on in the background.\n  \
                         follow them: update-all status, or {}\n  \
                         stop them:   update-all cancel",
                        crate::output::journalctl(self.scope, "-f -u 'update-all-*'")
                    );
                    return Ok(Ended::Detached);
                }
                Wake::Event(Some(Event::Resync(why))) => {
                    tracing::debug!("reading the run's jobs and units again: {why:?}");
                    // Whatever systemd sent before this answer is queued by
                    // then: handled first, so only what was missed is left.
                    let Ok(jobs) = self.bus.jobs().await else {
                        continue;
                    };
                    self.drain(progress).await;
                    self.state.reconcile(&self.bus, &jobs, progress).await;
                }
                Wake::Event(Some(event)) => self.state.handle(&self.bus, event, progress).await,
                Wake::Event(None) => {
                    // The bus restarted: back on the new one, then a Resync.
                    (self.bus, self.events) = Bus::reconnect(self.scope).await.map_err(|e| {
                        format!(
                            "lost the connection to systemd ({e}); the updates go on \
                             (update-all status shows how they went)"
                        )
                    })?;
                    for unit in &self.units {
                        let _ = self.bus.pin(&unit.name).await;
                    }
                }
                Wake::Tick => progress.tick(&self.state.rows),
            }
        }

        let summary = crate::summary::summarize(&self.state.rows);
        progress.summary(&summary, attached, &self.state.rows);
        Ok(Ended::Finished(summary))
    }

    /// Whether a job of the run came after the last one was removed: a
    /// failed unit's `OnFailure=` (the health check's rollback) is queued
    /// as it fails, and its `JobNew` may come after the failed job's
    /// `JobRemoved`. One round trip brings every signal sent before it.
    async fn jobs_came_late(&mut self, progress: &mut Progress) -> bool {
        let Ok(jobs) = self.bus.jobs().await else {
            return false;
        };
        self.drain(progress).await;
        self.state.reconcile(&self.bus, &jobs, progress).await;
        !self.state.pending.is_empty()
    }

    /// Handles every event queued now.
    async fn drain(&mut self, progress: &mut Progress) {
        while let Some(Some(event)) = self.events.next().now_or_never() {
            self.state.handle(&self.bus, event, progress).await;
        }
    }
}

/// What woke the watcher up.
#[allow(clippy::large_enum_variant)] // one lives on the stack at a time
enum Wake {
    Signal,
    Event(Option<Event>),
    Tick,
}
