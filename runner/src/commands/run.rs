//! `update-all run [--only a,b] [--json]`: starts `update-all.target` (or
//! just the named plugins' units) and watches every plugin unit's job and
//! state through systemd's D-Bus signals until the run is over.
//!
//! systemd does the work: ordering, mutexes, limits. This command only
//! subscribes, starts, and follows. A run already in progress is followed
//! instead of started again. Ctrl-C (or SIGTERM) stops watching and leaves
//! the updates running.
//!
//! systemd re-executing (a systemd package upgrade does) or reloading, and
//! the bus restarting, do not lose the run: the watch follows the manager
//! (`systemd::Watch`), and after each [`Event::Resync`] the run's jobs and
//! units are read again, so a unit that ended unheard ends its row with
//! the state its properties give. Every `systemd::BACKSTOP` that is done
//! too, against any missed signal.
//!
//! Exit status: 0 every unit succeeded or was skipped; 1 something failed,
//! timed out, ran out of memory or was cancelled; 2 the run could not start
//! (or the bus was gone for 90 s), with the reason on stderr; 75 a pre-flight
//! condition skipped it (`run::parts`); 130 detached by Ctrl-C or
//! SIGTERM while the updates go on.

use crate::cli::RunArgs;
use crate::output::progress::{Progress, Row};
use crate::summary::RunSummary;
use crate::systemd::{Bus, Event, Job, PluginUnit, State, UnitProps, TARGET};
use futures_util::{FutureExt, StreamExt};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::poll_fn;
use std::process::ExitCode;
use std::task::Poll;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use update_all_core::{Phase, Scope};
use zruntime::signal::{Signal, Signals};

/// The run could not start (exit status 2).
pub const CANNOT_START: u8 = 2;
/// Ctrl-C: the watcher left, the run goes on (128 + SIGINT, as a shell says).
pub const DETACHED: u8 = 130;
/// How often the live table redraws while nothing happens.
const REDRAW: Duration = Duration::from_millis(250);

/// `update-all run`: each service manager the invocation covers in turn,
/// after its pre-flight conditions (see `run::parts`); `scope` is the
/// default one, for `--dry-run`.
pub fn run(scope: Scope, explicit: Option<Scope>, args: &RunArgs) -> ExitCode {
    if args.dry_run {
        return super::check::dry_run(scope, args);
    }
    ExitCode::from(crate::run::parts::run(explicit, args))
}

/// One service manager's run: starts and watches it; the exit status.
pub fn watch_scope(scope: Scope, args: &RunArgs) -> u8 {
    let mut progress = Progress::new(scope, args.json);
    let watched = zbus::block_on(watch(scope, args, &mut progress));
    // The dynamic-mutex drop-ins of `--check` end with the run.
    let mut note = |kind: &str, text: &str| progress.note(kind, text, &[]);
    zbus::block_on(crate::check::dynamic::finish(scope, &mut note));
    let status = match watched {
        Ok(Ended::Finished(summary)) => {
            // Outside the async runtime: notifying blocks on its own buses.
            crate::notify::announce_to_invoker(&summary, scope);
            u8::from(summary.any_failed())
        }
        Ok(Ended::Detached) => DETACHED,
        Err(why) => {
            tracing::error!("{why}");
            CANNOT_START
        }
    };
    status
}

/// How watching ended, when it did not fail.
enum Ended {
    Finished(RunSummary),
    /// Ctrl-C or SIGTERM: the run goes on without us.
    Detached,
}

/// A reason the run cannot start or be followed.
type Fail = String;

async fn watch(scope: Scope, args: &RunArgs, progress: &mut Progress) -> Result<Ended, Fail> {
    let runtime = zruntime::SharedRuntime::current().map_err(|e| e.to_string())?;
    // Listening before anything starts: Ctrl-C during the start detaches too.
    let mut signals = Signals::new(&runtime, [Signal::Interrupt, Signal::Terminate])
        .map_err(|e| format!("cannot handle Ctrl-C: {e}"))?;
    let mut bus = Bus::connect(scope).await.map_err(|e| e.to_string())?;
    let mut events = bus.watch().await.map_err(|e| e.to_string())?;
    let units = bus.plugin_units().await.map_err(|e| e.to_string())?;

    for unit in &units {
        // Best effort: without the right to, outcomes come from the signals.
        let _ = bus.pin(&unit.name).await;
    }
    let mut run = Run::new(scope, &units);
    let attached = bus
        .jobs()
        .await
        .map_err(|e| e.to_string())?
        .iter()
        .any(|job| run.counts(&job.unit));
    if !attached {
        // `--check`: order this run by the dynamic mutexes (check::dynamic).
        let mut note = |kind: &str, text: &str| progress.note(kind, text, &[]);
        crate::check::dynamic::prepare(&bus, args.check, &args.only, &mut note).await?;
        // Ctrl-C during the check: nothing has started, so stop here.
        if signals.next().now_or_never().is_some() {
            return Err("interrupted before the run started; nothing was started".to_owned());
        }
    }
    if attached {
        let mut message =
            "a run is already in progress: following it instead of starting another".to_owned();
        if !args.only.is_empty() {
            message.push_str(" (--only is ignored)");
        }
        progress.note("attached", &message, &run.rows);
    } else if args.only.is_empty() {
        bus.start(TARGET).await.map_err(|e| e.to_string())?;
    } else {
        for unit in selected(&bus, &units, &args.only).await? {
            bus.start(&unit).await.map_err(|e| e.to_string())?;
        }
    }

    // Jobs as they are now; the signals queued since `watch` bring the
    // changes before and after this, in order.
    let mut jobs = bus.jobs().await.map_err(|e| e.to_string())?;
    jobs.sort_by_key(|job| job.id);
    for job in jobs {
        if !run.counts(&job.unit) {
            continue;
        }
        run.pending.insert(job.id);
        if job.kind == "start" {
            if let Some(i) = run.row_for(&job.unit) {
                let props = bus.outcome(&job.unit).await.unwrap_or_default();
                run.seen(i, &props);
                run.job[i] = Some(job.id);
                run.begin(i, &props);
                progress.changed(&run.rows, i);
            }
        }
    }
    // Everything systemd sent before answering ListJobs is queued by now.
    while let Some(Some(event)) = events.next().now_or_never() {
        run.handle(&bus, event, progress).await;
    }

    let mut ticks = progress.live().then(|| runtime.interval(REDRAW));
    while !run.pending.is_empty() {
        let wake = poll_fn(|cx| {
            if signals.poll_next_unpin(cx).is_ready() {
                return Poll::Ready(Wake::Signal);
            }
            if let Poll::Ready(event) = events.poll_next_unpin(cx) {
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
                    crate::output::journalctl(scope, "-f -u 'update-all-*'")
                );
                return Ok(Ended::Detached);
            }
            Wake::Event(Some(Event::Resync(why))) => {
                tracing::debug!("reading the run's jobs and units again: {why:?}");
                // Whatever systemd sent before this answer is queued by
                // then: handled first, so only what was missed is left.
                let Ok(jobs) = bus.jobs().await else { continue };
                while let Some(Some(event)) = events.next().now_or_never() {
                    run.handle(&bus, event, progress).await;
                }
                run.reconcile(&bus, &jobs, progress).await;
            }
            Wake::Event(Some(event)) => run.handle(&bus, event, progress).await,
            Wake::Event(None) => {
                // The bus restarted: back on the new one, then a Resync.
                (bus, events) = Bus::reconnect(scope).await.map_err(|e| {
                    format!(
                        "lost the connection to systemd ({e}); the updates go on \
                         (update-all status shows how they went)"
                    )
                })?;
                for unit in &units {
                    let _ = bus.pin(&unit.name).await;
                }
            }
            Wake::Tick => progress.tick(&run.rows),
        }
    }

    let summary = summarize(&run.rows);
    progress.summary(&summary, attached, &run.rows);
    Ok(Ended::Finished(summary))
}

/// What woke the watcher up.
#[allow(clippy::large_enum_variant)] // one lives on the stack at a time
enum Wake {
    Signal,
    Event(Option<Event>),
    Tick,
}

/// The update units of the plugins named in `--only`, ordered so that a
/// unit comes after every selected unit it is `After=`; systemd then
/// orders their jobs. Unknown names: the list of the known ones.
async fn selected(bus: &Bus, units: &[PluginUnit], only: &[String]) -> Result<Vec<String>, Fail> {
    let mut known: Vec<&str> = units.iter().map(|u| u.plugin.as_str()).collect();
    known.sort();
    known.dedup();
    let unknown: Vec<&str> = only
        .iter()
        .map(String::as_str)
        .filter(|name| !known.contains(name))
        .collect();
    if !unknown.is_empty() {
        let refused = crate::check::dynamic::refused_among(bus.scope, &unknown);
        if !refused.is_empty() {
            return Err(refused.join("\n"));
        }
        return Err(format!(
            "unknown plugin{} {}; known plugins: {}",
            if unknown.len() == 1 { "" } else { "s" },
            unknown.join(", "),
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        ));
    }
    let mut chosen: Vec<(&PluginUnit, Vec<String>)> = Vec::new();
    for unit in units
        .iter()
        .filter(|u| u.phase == Phase::Update && only.contains(&u.plugin))
    {
        let after = bus.after(unit).await.map_err(|e| e.to_string())?;
        chosen.push((unit, after));
    }
    Ok(topological(chosen))
}

/// Names of `units` so that each comes after those of them in its `After=`
/// (units already in name order; ties keep it).
fn topological(mut units: Vec<(&PluginUnit, Vec<String>)>) -> Vec<String> {
    let mut order = Vec::with_capacity(units.len());
    while !units.is_empty() {
        let ready = units
            .iter()
            .position(|(_, after)| {
                !after
                    .iter()
                    .any(|a| units.iter().any(|(other, _)| &other.name == a))
            })
            // A cycle cannot load in systemd; take the first to be safe.
            .unwrap_or(0);
        order.push(units.remove(ready).0.name.clone());
    }
    order
}

/// What is known of the run: a row per plugin unit that got a job, and the
/// jobs still open.
struct Run<'a> {
    scope: Scope,
    units: HashMap<&'a str, &'a PluginUnit>,
    rows: Vec<Row>,
    /// The start job each row follows, by row.
    job: Vec<Option<u32>>,
    /// The unit's properties as far as seen, by row.
    props: Vec<UnitProps>,
    /// Jobs of the target and plugin units not yet removed: the run is
    /// over when none is left.
    pending: HashSet<u32>,
    /// When watching began (CLOCK_REALTIME µs): a unit that has not left
    /// `inactive` since did not run in this run.
    since_us: u64,
}

impl<'a> Run<'a> {
    fn new(scope: Scope, units: &'a [PluginUnit]) -> Self {
        Run {
            scope,
            units: units.iter().map(|u| (u.name.as_str(), u)).collect(),
            rows: Vec::new(),
            job: Vec::new(),
            props: Vec::new(),
            pending: HashSet::new(),
            since_us: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_micros() as u64),
        }
    }

    /// A unit whose jobs make up the run.
    fn counts(&self, unit: &str) -> bool {
        unit == TARGET || self.units.contains_key(unit)
    }

    /// The row of a plugin unit, made on first sight; rows stay sorted by
    /// plugin, download before update.
    fn row_for(&mut self, unit: &str) -> Option<usize> {
        if let Some(i) = self.rows.iter().position(|r| r.unit == unit) {
            return Some(i);
        }
        let u = self.units.get(unit)?;
        let i = self
            .rows
            .partition_point(|r| (r.plugin.as_str(), r.phase) < (u.plugin.as_str(), u.phase));
        let row = Row {
            unit: u.name.clone(),
            plugin: u.plugin.clone(),
            phase: u.phase,
            state: State::Waiting,
            status: String::new(),
            started: None,
            took: None,
            estimate: crate::stats::estimate(self.scope, &u.plugin, u.phase),
            detail: None,
        };
        self.rows.insert(i, row);
        self.job.insert(i, None);
        self.props.insert(i, UnitProps::default());
        Some(i)
    }

    /// Takes over what `props` says of row `i`'s unit.
    fn seen(&mut self, i: usize, props: &UnitProps) {
        self.props[i].merge(props);
        // A unit that has not started yet still has its last run's status.
        let current = self.rows[i].state != State::Waiting || props.is_active();
        if let (Some(status), true) = (&props.status_text, current) {
            self.rows[i].status.clone_from(status);
        }
    }

    /// Row `i` has a start job: it runs if the unit is active, else waits.
    fn begin(&mut self, i: usize, props: &UnitProps) {
        let row = &mut self.rows[i];
        if props.is_active() {
            row.state = State::Running;
            row.started = props
                .inactive_exit_us
                .filter(|&us| us > 0)
                .map(|us| UNIX_EPOCH + Duration::from_micros(us))
                .or_else(|| Some(SystemTime::now()));
        } else {
            row.state = State::Waiting;
        }
    }

    async fn handle(&mut self, bus: &Bus, event: Event, progress: &mut Progress) {
        match event {
            Event::JobNew { id, unit } if self.counts(&unit) => {
                self.pending.insert(id);
                let Some(i) = self.row_for(&unit) else { return };
                // A unit runs once per run: a later job (the stop job of
                // `update-all cancel`) is waited for but not shown.
                if self.job[i].is_none() && !self.rows[i].state.is_final() {
                    self.job[i] = Some(id);
                    progress.changed(&self.rows, i);
                }
            }
            Event::JobRemoved { id, unit, result } => {
                self.pending.remove(&id);
                let Some(i) = self.rows.iter().position(|r| r.unit == unit) else {
                    return;
                };
                if self.job[i] != Some(id) || self.rows[i].state.is_final() {
                    return;
                }
                self.finish(bus, i, Some(&result), progress).await;
            }
            Event::Changed { unit, props } => {
                let Some(i) = self.rows.iter().position(|r| r.unit == unit) else {
                    return;
                };
                if self.rows[i].state.is_final() || self.job[i].is_none() {
                    return;
                }
                let before = (self.rows[i].state, self.rows[i].status.clone());
                self.seen(i, &props);
                if self.rows[i].state == State::Waiting && props.is_active() {
                    self.begin(i, &props);
                }
                if (self.rows[i].state, &self.rows[i].status) != (before.0, &before.1) {
                    progress.changed(&self.rows, i);
                }
            }
            _ => {}
        }
    }

    /// Row `i`'s job is gone: how its unit ended, read now, or, if it was
    /// unloaded, as the signals left it. `result`: the job's, unless its
    /// removal was missed (systemd re-executed meanwhile).
    async fn finish(&mut self, bus: &Bus, i: usize, result: Option<&str>, progress: &mut Progress) {
        let props = match bus.outcome(&self.rows[i].unit).await {
            Ok(props) => props,
            Err(_) => self.props[i].clone(),
        };
        self.seen(i, &props);
        let since_us = self.since_us;
        let row = &mut self.rows[i];
        // Without the job's result: a unit that did not start since the
        // run began never ran (its job failed or was cancelled), unless it
        // was skipped, which systemd resets as if it never started.
        let started =
            row.started.is_some() || props.inactive_exit_us.is_some_and(|us| us >= since_us);
        let skipped = props.condition_result == Some(false)
            || props.result.as_deref() == Some("exec-condition");
        let result = result.or((!started && !skipped).then_some("dependency"));
        row.state = State::of_finished(result, &props);
        let ran = row.started.is_some()
            || !matches!(row.state, State::Cancelled)
                && !matches!(result, Some("dependency" | "canceled"));
        row.took = if ran { props.duration() } else { None };
        row.detail = detail(row.state, result.unwrap_or("done"), &props);
        progress.changed(&self.rows, i);
    }

    /// After a [`Event::Resync`]: `jobs` as systemd has them now, once every
    /// signal sent before was handled. A job of the run that is gone
    /// without its removal being heard ended while systemd was away; a
    /// unit still waiting may have started meanwhile.
    async fn reconcile(&mut self, bus: &Bus, jobs: &[Job], progress: &mut Progress) {
        let live: HashSet<u32> = jobs.iter().map(|job| job.id).collect();
        // Jobs that came and went unseen are lost to the run; ones that
        // came unseen are followed now.
        let mut jobs: Vec<&Job> = jobs.iter().filter(|job| self.counts(&job.unit)).collect();
        jobs.sort_by_key(|job| job.id);
        for job in jobs {
            if self.pending.insert(job.id) {
                let event = Event::JobNew {
                    id: job.id,
                    unit: job.unit.clone(),
                };
                self.handle(bus, event, progress).await;
            }
        }
        for i in 0..self.rows.len() {
            let Some(id) = self.job[i] else { continue };
            if self.rows[i].state.is_final() {
                continue;
            }
            if !live.contains(&id) {
                tracing::debug!("{}: its job ended unheard", self.rows[i].unit);
                self.finish(bus, i, None, progress).await;
            } else if let Ok(props) = bus.outcome(&self.rows[i].unit).await {
                let unit = self.rows[i].unit.clone();
                self.handle(bus, Event::Changed { unit, props }, progress)
                    .await;
            }
        }
        self.pending.retain(|id| live.contains(id));
    }
}

/// Why a row failed, in words; none for done or skipped.
fn detail(state: State, job_result: &str, props: &UnitProps) -> Option<String> {
    Some(match state {
        State::Waiting | State::Running | State::Done | State::Skipped => return None,
        State::Cancelled => "cancelled".to_owned(),
        State::Timeout => "timed out".to_owned(),
        State::Oom => "out of memory".to_owned(),
        State::Failed if job_result == "dependency" => "a unit it needs failed".to_owned(),
        State::Failed => match (props.result.as_deref(), props.exec_main_status) {
            (Some("exit-code"), Some(status)) => format!("exit status {status}"),
            (Some("signal" | "core-dump"), Some(signal)) => format!("killed by signal {signal}"),
            (Some(result), _) => result.to_owned(),
            (None, _) => job_result.to_owned(),
        },
    })
}

/// Plugins by their worst unit: failed if any unit failed, skipped if all
/// were skipped; the span from the first start to the last end.
fn summarize(rows: &[Row]) -> RunSummary {
    let mut worst: BTreeMap<&str, State> = BTreeMap::new();
    for row in rows {
        let state = worst.entry(&row.plugin).or_insert(row.state);
        if row.state.is_failure() || *state == State::Skipped {
            *state = row.state;
        }
    }
    let mut summary = RunSummary::default();
    for (plugin, state) in worst {
        let list = match state {
            State::Skipped => &mut summary.skipped,
            s if s.is_failure() => &mut summary.failed,
            _ => &mut summary.succeeded,
        };
        list.push(plugin.to_owned());
    }
    let start = rows.iter().filter_map(|r| r.started).min();
    let end = rows.iter().filter_map(|r| Some(r.started? + r.took?)).max();
    if let (Some(start), Some(end)) = (start, end) {
        summary.duration = end.duration_since(start).unwrap_or_default();
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(plugin: &str, phase: Phase, state: State) -> Row {
        Row {
            unit: systemd_name(plugin, phase),
            plugin: plugin.into(),
            phase,
            state,
            status: String::new(),
            started: None,
            took: None,
            estimate: None,
            detail: None,
        }
    }

    fn systemd_name(plugin: &str, phase: Phase) -> String {
        update_all_core::names::unit_name(plugin, phase)
    }

    #[test]
    fn plugins_by_their_worst_unit() {
        let s = summarize(&[
            row("apt", Phase::Download, State::Done),
            row("apt", Phase::Update, State::Failed),
            row("flatpak", Phase::Download, State::Skipped),
            row("flatpak", Phase::Update, State::Skipped),
            row("pipx", Phase::Update, State::Done),
            row("snap", Phase::Download, State::Skipped),
            row("snap", Phase::Update, State::Done),
            row("cargo", Phase::Update, State::Cancelled),
        ]);
        assert_eq!(s.failed, ["apt", "cargo"]);
        assert_eq!(s.skipped, ["flatpak"]);
        assert_eq!(s.succeeded, ["pipx", "snap"]);
    }

    #[test]
    fn only_units_follow_their_after() {
        let unit = |name: &str| PluginUnit {
            name: name.into(),
            path: zbus::OwnedObjectPath::try_from("/x").unwrap(),
            plugin: name.into(),
            phase: Phase::Update,
        };
        let (a, b, c) = (unit("a"), unit("b"), unit("c"));
        let order = topological(vec![
            (&a, vec!["c".into(), "sysinit.target".into()]),
            (&b, vec![]),
            (&c, vec!["b".into()]),
        ]);
        assert_eq!(order, ["b", "c", "a"]);
    }
}
