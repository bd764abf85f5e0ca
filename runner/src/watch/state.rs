//! [`RunState`]: what is known of a run, one row per plugin unit that got
//! a job, and how each event of systemd changes it.

use super::rows::detail;
use crate::output::progress::{Progress, Row};
use crate::systemd::{Bus, Event, Job, Outcome, PluginUnit, UnitProps, UnitState};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use update_all_core::names::{run_order, TARGET};
use update_all_core::Scope;

/// What is known of the run: a row per plugin unit that got a job, and the
/// jobs still open.
pub struct RunState {
    scope: Scope,
    /// The plugin units loaded when watching began, by name.
    units: HashMap<String, PluginUnit>,
    pub rows: Vec<Row>,
    /// The start job each row follows, by row.
    job: Vec<Option<u32>>,
    /// The unit's properties as far as seen, by row.
    props: Vec<UnitProps>,
    /// Jobs of the target and plugin units not yet removed: the run is
    /// over when none is left.
    pub pending: HashSet<u32>,
    /// When watching began (CLOCK_REALTIME µs): a unit that has not left
    /// `inactive` since did not run in this run.
    since_us: u64,
}

impl RunState {
    pub fn new(scope: Scope, units: &[PluginUnit]) -> Self {
        RunState {
            scope,
            units: units.iter().map(|u| (u.name.clone(), u.clone())).collect(),
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
    pub fn counts(&self, unit: &str) -> bool {
        unit == TARGET || self.units.contains_key(unit)
    }

    /// A job of the run as `ListJobs` gives it, when watching begins: a
    /// start job's row takes the unit's state now.
    pub async fn listed(&mut self, bus: &Bus, job: &Job, progress: &mut Progress) {
        if !self.counts(&job.unit) {
            return;
        }
        self.pending.insert(job.id);
        if job.kind == "start" {
            if let Some(i) = self.row_for(&job.unit) {
                let props = bus.outcome(&job.unit).await.unwrap_or_default();
                self.seen(i, &props);
                self.job[i] = Some(job.id);
                self.begin(i, &props);
                progress.changed(&self.rows, i);
            }
        }
    }

    /// The row of a plugin unit, made on first sight; rows stay sorted by
    /// plugin, download before update, between the safety units before
    /// and after the updates (`names::run_order`).
    fn row_for(&mut self, unit: &str) -> Option<usize> {
        if let Some(i) = self.rows.iter().position(|r| r.unit == unit) {
            return Some(i);
        }
        let u = self.units.get(unit)?;
        let key = |plugin: &str, phase| (run_order(plugin), plugin.to_owned(), phase);
        let i = self
            .rows
            .partition_point(|r| key(&r.plugin, r.phase) < key(&u.plugin, u.phase));
        let row = Row {
            unit: u.name.clone(),
            plugin: u.plugin.clone(),
            phase: u.phase,
            state: UnitState::Waiting,
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
        let current = self.rows[i].state != UnitState::Waiting || props.is_active();
        // A condition's reason to skip is the finished row's detail, not a
        // running one's status.
        let current = current && props.skip_reason().is_none();
        if let (Some(status), true) = (&props.status_text, current) {
            self.rows[i].status.clone_from(status);
        }
    }

    /// Row `i` has a start job: it runs if the unit is active, else waits.
    fn begin(&mut self, i: usize, props: &UnitProps) {
        let row = &mut self.rows[i];
        if props.is_active() {
            row.state = UnitState::Running;
            row.started = props
                .inactive_exit_us
                .filter(|&us| us > 0)
                .map(|us| UNIX_EPOCH + Duration::from_micros(us))
                .or_else(|| Some(SystemTime::now()));
        } else {
            row.state = UnitState::Waiting;
        }
    }

    pub async fn handle(&mut self, bus: &Bus, event: Event, progress: &mut Progress) {
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
                if self.rows[i].state == UnitState::Waiting && props.is_active() {
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
        let skipped = props.ended_as(None) == Outcome::Skipped;
        let result = result.or((!started && !skipped).then_some("dependency"));
        let outcome = props.ended_as(result);
        row.state = UnitState::Finished(outcome);
        let ran = row.started.is_some()
            || outcome != Outcome::Cancelled && !matches!(result, Some("dependency" | "canceled"));
        row.took = if ran { props.duration() } else { None };
        row.detail = detail(outcome, result.unwrap_or("done"), &props);
        progress.changed(&self.rows, i);
    }

    /// After a [`Event::Resync`]: `jobs` as systemd has them now, once every
    /// signal sent before was handled. A job of the run that is gone
    /// without its removal being heard ended while systemd was away; a
    /// unit still waiting may have started meanwhile.
    pub async fn reconcile(&mut self, bus: &Bus, jobs: &[Job], progress: &mut Progress) {
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
