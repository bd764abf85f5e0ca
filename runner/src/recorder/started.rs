//! The run's units written down before they start, and each one's start
//! as soon as it is seen (see `stats::unfinished`): what lets the next boot
//! tell what a run cut short had finished and what it had not. A run is
//! cut short by a crash or a power loss (it never ends), or by a shutdown
//! or reboot mid-run: its units are stopped and their jobs cancelled, and
//! the recorder, seeing the shutdown's job when the run ends, marks it
//! interrupted; its units the shutdown stopped count as unfinished.

use super::{warn_db, Recorder};
use crate::stats::unfinished::RunUnit;
use crate::systemd::PluginUnit;

impl Recorder {
    /// Opens the run if it is not open yet and writes down its units: those
    /// with a job when it was picked (`queued`), and the starts of those
    /// seen running already (a recorder restarted mid-run). Called before
    /// the recorder says it is ready, so before any unit of a new run
    /// starts.
    pub fn write_down_queued(&mut self) {
        let queued = self.queued.clone();
        self.write_down(&queued);
        let mut running: Vec<String> = self
            .activations
            .iter()
            .filter(|(_, a)| a.running)
            .map(|(name, _)| name.clone())
            .collect();
        running.sort();
        for name in running {
            self.note_start(&name);
        }
    }

    /// Writes down `names` (plugin units with a job) as units of the run.
    pub(super) fn write_down(&mut self, names: &[String]) {
        let run = self.run_id();
        let units: Vec<RunUnit> = names
            .iter()
            .filter_map(|n| self.units.get(n))
            .map(run_unit)
            .collect();
        let Some(db) = self.db.as_ref().filter(|_| run != 0) else {
            return;
        };
        if let Err(e) = db.plan_units(run, &units) {
            warn_db(db, "cannot write down the run's units", &e);
        }
    }

    /// Writes down that `name` started, once per invocation, as soon as its
    /// activation is seen running with its invocation; nothing before the
    /// run is open (`write_down_queued` catches up then).
    pub(super) fn note_start(&mut self, name: &str) {
        let (Some(run), Some(db), Some(unit)) = (self.run, &self.db, self.units.get(name)) else {
            return;
        };
        let Some(a) = self.activations.get(name).filter(|a| a.running) else {
            return;
        };
        let Some(invocation) = a.invocation_id.clone() else {
            return;
        };
        if self.started.contains(&invocation) {
            return;
        }
        let started_us = a.started_us.and_then(|us| i64::try_from(us).ok());
        match db.mark_started(run, &run_unit(unit), &invocation, started_us) {
            Ok(()) => {
                tracing::debug!(update_all_run = run, unit = name, "{name} started");
                self.started.insert(invocation);
            }
            Err(e) => warn_db(db, &format!("cannot write down that {name} started"), &e),
        }
    }
}

impl Recorder {
    /// The manager is shutting down (the system's `shutdown.target`, a
    /// user manager's `exit.target` has a start job): a SIGTERM then is
    /// the shutdown's, not `update-all cancel`'s.
    pub async fn shutting_down(&self) -> bool {
        let Ok(jobs) = self.bus.jobs().await else {
            return false;
        };
        jobs.iter().any(|j| {
            j.kind == "start" && matches!(j.unit.as_str(), "shutdown.target" | "exit.target")
        })
    }

    /// Marks the run as cut short by a shutdown (it still ends).
    pub fn mark_cut_short(&self) {
        let (Some(run), Some(db)) = (self.run, &self.db) else {
            return;
        };
        tracing::info!(update_all_run = run, "the run is cut short by a shutdown");
        if let Err(e) = db.mark_run_interrupted(run) {
            warn_db(db, "cannot mark the run as interrupted", &e);
        }
    }
}

fn run_unit(u: &PluginUnit) -> RunUnit {
    RunUnit {
        unit: u.name.clone(),
        plugin: u.plugin.clone(),
        phase: u.shown_phase().to_owned(),
    }
}
