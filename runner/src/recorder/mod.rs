//! The recorder's bookkeeping: which plugin unit runs, how each one's
//! invocation ended, and its record in the database (see
//! `session` for the process around it).
//!
//! Where the figures come from: result, exit status and times from the
//! unit's properties once it has ended; CPU time and IO bytes from
//! systemd's `CPUUsageNSec` / `IOReadBytes` (it keeps the last values when
//! the cgroup goes), else from the cgroup samples (see `cgroup`); network
//! bytes from `IPIngressBytes` / `IPEgressBytes` where IPAccounting is on;
//! peak memory from the samples (systemd 252 has no `MemoryPeak`; newer
//! ones do, and it is used when larger); the attempts its command took
//! from the status text `plugin-exec` left (see `crate::retry`). A skipped
//! unit's invocation comes from its activation as seen, else from the
//! journal (see `journal`).

pub mod cgroup;
pub mod journal;
mod reboot;
pub mod session;
mod started;

use crate::retry::Attempt;
use crate::stats::store::{self, Continue};
use crate::stats::{now_us, run_summary, Db, Record, RunId};
use crate::summary::{summarize, RunSummary};
use crate::systemd::{
    self, is_plugin_unit, Bus, Event, Outcome, PlannedUnits, PluginUnit, Resync, Subscription,
    UnitProps,
};
use cgroup::{Counters, Sampler};
use futures_util::{FutureExt, StreamExt};
use journal::ConditionSkip;
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use update_all_core::names::{RECORDER, SNAPSHOT_POST, SNAPSHOT_PRE, TARGET};
use update_all_core::Scope;
use zbus::{OwnedObjectPath, OwnedVariant};

/// What was seen of a unit's activation while it ran: after a skip,
/// systemd forgets its invocation and start time.
#[derive(Default)]
struct Activation {
    invocation_id: Option<String>,
    started_us: Option<u64>,
    /// It was seen running, so its end is looked for.
    running: bool,
    /// How its start job ended, if that was before the unit did.
    job_result: Option<String>,
}

pub struct Recorder {
    scope: Scope,
    bus: Bus,
    /// None when unusable (said so at the start): nothing is written.
    db: Option<Db>,
    boot_id: String,
    /// The run records go to; made when the first record is written.
    run: Option<RunId>,
    /// The run was picked up from a recorder that died.
    continued: bool,
    /// The plugin units with a job when the run was picked: a run that
    /// begins here follows an earlier one if a request names them all
    /// (see `stats::request`).
    queued: Vec<String>,
    units: HashMap<String, PluginUnit>,
    activations: HashMap<String, Activation>,
    /// Units whose end is handled and which have not run since.
    settled: HashSet<String>,
    /// None without a cgroup file system to read.
    sampler: Option<Sampler>,
    /// Invocations recorded by this process (the database dedupes too).
    recorded: HashSet<String>,
    /// Invocations written down as started (see `started`).
    started: HashSet<String>,
    /// This process's records, for the summary without a database.
    records: Vec<Record>,
    /// Units may have run unheard since the journal was last read for
    /// earlier invocations: before this recorder started, or while the
    /// manager or the bus was away. Only then is the journal read again:
    /// it costs more than the rest of a run's recording.
    unheard: bool,
}

impl Recorder {
    pub fn new(scope: Scope, bus: Bus, db: Option<Db>) -> Recorder {
        Recorder {
            scope,
            bus,
            db,
            boot_id: store::boot_id(),
            run: None,
            continued: false,
            queued: Vec::new(),
            units: HashMap::new(),
            activations: HashMap::new(),
            settled: HashSet::new(),
            sampler: Sampler::start(),
            recorded: HashSet::new(),
            started: HashSet::new(),
            records: Vec::new(),
            unheard: true,
        }
    }

    /// Picks the run to record into, before anything is recorded (see
    /// `Db::pick_up`): systemd's automatic restart of a recorder that
    /// failed (its `NRestarts`, which any other start resets) continues
    /// that recorder's run, and so does a start while the newest run is
    /// still in flight (a recorder restarted by hand mid-run); any other
    /// start begins a new run, however recent an unfinished one is.
    pub async fn pick_run(&mut self) {
        let Some(db) = &self.db else { return };
        let restarted = match self.bus.load(RECORDER).await {
            Ok(path) => self.bus.raw_properties(&path).await.ok(),
            Err(_) => None,
        }
        .and_then(|[_, service]| u32::try_from(service.get("NRestarts")?).ok())
        .is_some_and(|n| n > 0);
        let how = if restarted {
            Continue::Failed
        } else {
            match db.newest_run(&self.boot_id) {
                Ok(Some((run, started_us))) if self.in_flight_since(started_us).await => {
                    Continue::InFlight(run)
                }
                Ok(_) => Continue::No,
                Err(e) => {
                    warn_db(db, "cannot look up the newest run", &e);
                    Continue::No
                }
            }
        };
        match db.pick_up(&self.boot_id, how) {
            Ok(run) => {
                self.run = run;
                self.continued = run.is_some();
            }
            Err(e) => warn_db(db, "cannot look up an unfinished run", &e),
        }
        if let Ok(jobs) = self.bus.jobs().await {
            self.queued = jobs
                .into_iter()
                .filter(|j| is_plugin_unit(&j.unit))
                .map(|j| j.unit)
                .collect();
        }
    }

    /// Whether a plugin unit is in the middle of an invocation that began
    /// at or after `started_us` (the wall clock, in µs): the run that began
    /// then is still going on. (Queued jobs tell nothing: a new start of
    /// the target queues its plugins' jobs before this recorder starts.)
    async fn in_flight_since(&self, started_us: i64) -> bool {
        let started = u64::try_from(started_us).unwrap_or(0);
        for unit in self.units.values() {
            let Ok((props, _)) = self.read(&unit.path).await else {
                continue;
            };
            let busy = matches!(
                props.active_state.as_deref(),
                Some("activating" | "active" | "deactivating" | "reloading")
            );
            if busy && props.inactive_exit_us.is_some_and(|us| us >= started) {
                return true;
            }
        }
        false
    }

    /// How many invocations this process recorded.
    pub fn recorded(&self) -> usize {
        self.records.len()
    }

    pub fn run_label(&self) -> String {
        match self.run {
            Some(id) if self.continued => format!("run {id} (continued after a restart)"),
            Some(id) => format!("run {id}"),
            None => "a new run".to_owned(),
        }
    }

    /// The plugin units as systemd has them now. Their plugin and phase are
    /// systemd's too, not the plan's: the recorder starts with every run
    /// and must not hold it up reading every manifest, and it records what
    /// systemd ran, whatever the plan says now.
    pub async fn refresh_units(&mut self) -> systemd::Result<()> {
        self.units = self
            .bus
            .plugin_units(&PlannedUnits::default())
            .await?
            .into_iter()
            .map(|u| (u.name.clone(), u))
            .collect();
        Ok(())
    }

    /// Records every plugin unit's latest invocation that finished but is
    /// not recorded, and starts sampling the ones that run.
    pub async fn catch_up(&mut self) -> systemd::Result<()> {
        let mut late: Vec<Record> = Vec::new();
        let mut names: Vec<String> = self.units.keys().cloned().collect();
        names.sort();
        let mut unseen_skips = Vec::new();
        for name in names {
            let unit = self.units[&name].clone();
            let (props, service) = self.read(&unit.path).await?;
            if props.is_active() {
                self.note(&name, &props);
                continue;
            }
            // Seen running by this recorder (on SIGTERM): what it saw counts.
            let samples = self.samples(&name);
            let activation = self.activations.remove(&name).unwrap_or_default();
            if ran(&props) || props.condition_result != Some(false) {
                let record = self.finished_record(&unit, None, &props, &service, None);
                late.extend(record.map(|r| with_samples(r, samples)));
            } else if activation.invocation_id.is_some() {
                let skip = seen_skip(activation);
                late.extend(self.finished_record(&unit, None, &props, &service, skip));
            } else {
                unseen_skips.push((unit, props, service));
            }
        }
        let names: Vec<&str> = unseen_skips.iter().map(|(u, ..)| u.name.as_str()).collect();
        let mut skips = journal::last_skips(self.scope, &names);
        for (unit, props, service) in &unseen_skips {
            let skip = skips.remove(&unit.name);
            late.extend(self.finished_record(unit, None, props, service, skip));
        }
        if self.unheard {
            late.extend(self.earlier_invocations(&late));
            self.unheard = false;
        }
        late.sort_by_key(|r| r.ended_us);
        if late.is_empty() {
            return Ok(());
        }
        // Units that ended while no recorder ran: into the run that recorder
        // left unfinished, else into a run of their own.
        let own_run = if self.run.is_none() {
            let now = now_us();
            self.db.as_ref().and_then(|db| {
                db.new_run(&self.boot_id, now, true)
                    .map_err(|e| warn_db(db, "cannot start a run", &e))
                    .ok()
            })
        } else {
            None
        };
        for mut r in late {
            r.run_id = own_run.or(self.run).unwrap_or(0);
            self.write(r);
        }
        if let (Some(run), Some(db)) = (own_run, &self.db) {
            let end = now_us();
            if let Err(e) = db.end_run(run, end) {
                warn_db(db, "cannot end the catch-up run", &e);
            }
        }
        Ok(())
    }

    /// The invocations before each unit's latest that ended unrecorded
    /// (a unit that ran twice while no recorder ran): only the manager's
    /// journal has them. Read from a day before the last run began (a
    /// recorder caught up then), or from the boot's start; `late` and the
    /// database's records are left out.
    fn earlier_invocations(&self, late: &[Record]) -> Vec<Record> {
        const DAY_US: i64 = 86_400_000_000;
        let since = self.db.as_ref().and_then(|db| {
            db.last_run_start()
                .map_err(|e| warn_db(db, "cannot read when the last run began", &e))
                .ok()
                .flatten()
        });
        let names: Vec<&str> = self.units.keys().map(String::as_str).collect();
        journal::invocations(self.scope, &names, since.map(|us| us - DAY_US))
            .into_iter()
            .filter(|i| !late.iter().any(|r| r.invocation_id == i.invocation_id))
            .filter(|i| !self.is_recorded(&i.invocation_id))
            .filter_map(|i| {
                let unit = self.units.get(&i.unit)?;
                i.record(&unit.plugin, unit.shown_phase())
            })
            .collect()
    }

    /// Handles one event; says whether the run may be over now.
    pub async fn handle(&mut self, event: Event) -> systemd::Result<bool> {
        match event {
            Event::Changed { unit, props } if self.units.contains_key(&unit) => {
                self.note(&unit, &props);
                let ended = matches!(props.active_state.as_deref(), Some("inactive" | "failed"));
                if ended && self.activations.get(&unit).is_some_and(|a| a.running) {
                    self.finish(&unit, None).await?;
                }
                Ok(false)
            }
            Event::JobRemoved { unit, result, .. } if is_plugin_unit(&unit) => {
                self.finish(&unit, Some(result)).await?;
                Ok(true)
            }
            Event::JobRemoved { unit, .. } => Ok(unit == TARGET),
            Event::JobNew { unit, .. } if self.units.contains_key(&unit) => {
                self.write_down(&[unit]);
                Ok(false)
            }
            _ => Ok(false),
        }
    }

    /// After an [`Event::Resync`]: a round trip, and the events systemd
    /// sent before it. When systemd came back or reloaded, every plugin
    /// unit is read again too, so that an invocation whose end was never
    /// told is recorded now, once (by InvocationID); after the backstop,
    /// the run's end is only looked for (its last catch-up records what
    /// is left). Says whether the run may be over; a failure is logged
    /// and left to the next resync.
    pub async fn reconcile(&mut self, why: Resync, events: &mut Subscription) -> bool {
        let done = async {
            self.bus.jobs().await?;
            while let Some(Some(event)) = events.next().now_or_never() {
                self.handle(event).await?;
            }
            if why == Resync::Backstop {
                return Ok(());
            }
            if why == Resync::ManagerBack {
                self.unheard = true;
            }
            self.refresh_units().await?;
            self.catch_up().await
        };
        match done.await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!("cannot read the plugin units again: {e}");
                false
            }
        }
    }

    /// On the connection that replaced a lost one (see `Bus::reconnect`).
    pub fn reconnected(&mut self, bus: Bus) {
        self.bus = bus;
        self.unheard = true;
    }

    /// Records `unit`'s invocation once it has ended: when its job is
    /// removed, or, if it still stops then (a cancelled start job), when
    /// it is inactive.
    async fn finish(&mut self, unit: &str, job_result: Option<String>) -> systemd::Result<()> {
        if self.settled.contains(unit) {
            // Done with since it last ran (its job ends after its state).
            return Ok(());
        }
        let Some(pu) = self.unit(unit).await? else {
            return Ok(());
        };
        let (props, service) = self.read(&pu.path).await?;
        if props.is_active() {
            if job_result.is_some() {
                self.activations
                    .entry(unit.to_owned())
                    .or_default()
                    .job_result = job_result;
            }
            return Ok(());
        }
        self.settled.insert(unit.to_owned());
        let counters = self.samples(unit);
        let activation = self.activations.remove(unit).unwrap_or_default();
        let job_result = job_result.or_else(|| activation.job_result.clone());
        let skip = match job_result.as_deref() {
            // Its job ended without running it: it did not skip.
            Some("canceled" | "dependency") => None,
            _ if ran(&props) || props.condition_result != Some(false) => None,
            _ => self.skip(&pu, activation),
        };
        let record = self.finished_record(&pu, job_result.as_deref(), &props, &service, skip);
        if let Some(r) = record {
            let r = Record {
                run_id: self.run_id(),
                ..with_samples(r, counters)
            };
            self.write(r);
        }
        Ok(())
    }

    /// What a property change (or a read) tells of a plugin unit's
    /// activation: its invocation and start, which a skip makes systemd
    /// forget, and that it runs, so its end is looked for.
    fn note(&mut self, unit: &str, props: &UnitProps) {
        let a = self.activations.entry(unit.to_owned()).or_default();
        if let Some(id) = props.invocation_id.as_ref().filter(|id| !id.is_empty()) {
            a.invocation_id = Some(id.clone());
        }
        if let Some(us) = props.inactive_exit_us.filter(|&us| us > 0) {
            a.started_us = Some(us);
        }
        if props.is_active() && !a.running {
            a.running = true;
            self.settled.remove(unit);
            if let Some(sampler) = &self.sampler {
                sampler.poke();
            }
        }
        self.note_start(unit);
    }

    /// The cgroup samples of `unit` since it last finished.
    fn samples(&self, unit: &str) -> Option<Counters> {
        self.sampler.as_ref()?.finish(unit)
    }

    /// The plugin unit `name`, loading it if it appeared since the last
    /// look (a daemon-reload the watch has not told about yet).
    async fn unit(&mut self, name: &str) -> systemd::Result<Option<PluginUnit>> {
        if !self.units.contains_key(name) {
            self.refresh_units().await?;
        }
        Ok(self.units.get(name).cloned())
    }

    async fn read(&self, path: &OwnedObjectPath) -> systemd::Result<(UnitProps, Service)> {
        let [unit, service] = self.bus.raw_properties(path).await?;
        let mut props = UnitProps::default();
        props.apply(&unit);
        props.apply(&service);
        Ok((props, Service(service)))
    }

    /// The record of `unit`'s latest invocation, if it finished and is not
    /// recorded yet; run id still to be set. `skip`: where a skip's
    /// invocation was found, since systemd forgets it.
    fn finished_record(
        &self,
        unit: &PluginUnit,
        job_result: Option<&str>,
        props: &UnitProps,
        service: &Service,
        skip: Option<ConditionSkip>,
    ) -> Option<Record> {
        let (invocation_id, started_us, ended_us) = if ran(props) {
            (
                props.invocation_id.clone()?,
                props.inactive_exit_us.and_then(us),
                props.inactive_enter_us.and_then(us),
            )
        } else {
            let s = skip?;
            (s.invocation_id, Some(s.started_us), Some(s.ended_us))
        };
        if self.is_recorded(&invocation_id) {
            return None;
        }
        let result = props.ended_as(job_result);
        let exit_code = props.exec_main_code.and_then(systemd::exit_code_name);
        Some(Record {
            run_id: 0,
            plugin: unit.plugin.clone(),
            phase: unit.shown_phase().to_owned(),
            unit: unit.name.clone(),
            invocation_id,
            started_us,
            ended_us,
            result,
            exit_code: exit_code.map(str::to_owned),
            exit_status: exit_code.and(props.exec_main_status.map(i64::from)),
            cpu_ns: service.counter("CPUUsageNSec"),
            memory_peak_bytes: service.counter("MemoryPeak"),
            io_read_bytes: service.counter("IOReadBytes"),
            io_write_bytes: service.counter("IOWriteBytes"),
            ip_ingress_bytes: service.counter("IPIngressBytes"),
            ip_egress_bytes: service.counter("IPEgressBytes"),
            attempts: ran(props).then(|| attempts(props)),
            detail: (result == Outcome::Skipped)
                .then(|| props.skip_reason().map(str::to_owned))
                .flatten(),
        })
    }

    /// A skip's invocation and times, for a unit whose job just ended: as
    /// seen while it ran, else from the journal, which may lag a moment
    /// behind (an older skip there is recorded already).
    fn skip(&self, unit: &PluginUnit, activation: Activation) -> Option<ConditionSkip> {
        if activation.invocation_id.is_some() {
            return seen_skip(activation);
        }
        for _ in 0..10 {
            let found = journal::last_skips(self.scope, &[&unit.name]).remove(&unit.name);
            if let Some(s) = found.filter(|s| !self.is_recorded(&s.invocation_id)) {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }

    fn is_recorded(&self, invocation_id: &str) -> bool {
        self.recorded.contains(invocation_id)
            || self
                .db
                .as_ref()
                .is_some_and(|db| db.is_recorded(invocation_id).unwrap_or(false))
    }

    /// The run to record into, made on first use.
    pub fn run_id(&mut self) -> RunId {
        if let Some(id) = self.run {
            return id;
        }
        let now = now_us();
        let made = self.db.as_ref().and_then(|db| {
            db.open_run(&self.boot_id, now, &self.queued)
                .map_err(|e| warn_db(db, "cannot start a run", &e))
                .ok()
        });
        self.run = made;
        made.unwrap_or(0)
    }

    fn write(&mut self, r: Record) {
        if let Some(db) = &self.db {
            if let Err(e) = db.insert(&r) {
                warn_db(db, &format!("cannot record {}", r.unit), &e);
            }
        }
        log_record(&r);
        self.recorded.insert(r.invocation_id.clone());
        self.records.push(r);
    }

    /// No plugin unit and not the target has a job: nothing runs (a oneshot
    /// unit is active only while its start job runs) and nothing will.
    pub async fn run_is_over(&self) -> systemd::Result<bool> {
        let jobs = self.bus.jobs().await?;
        Ok(!jobs
            .iter()
            .any(|j| j.unit == TARGET || is_plugin_unit(&j.unit)))
    }

    /// Stops the snapshot units, which stay active after their snapshot
    /// (`RemainAfterExit=yes`, so that a plugin unit started on its own
    /// mid-run takes none): the next run takes its own pair. Not when the
    /// next run has begun meanwhile (a job of update-all's is queued): its
    /// jobs are never cancelled, and with mode `fail` systemd keeps a start
    /// job of a snapshot unit queued since the check.
    pub async fn release_snapshot_units(&self) {
        // Only those the run has (the target wants them).
        for unit in [SNAPSHOT_PRE, SNAPSHOT_POST] {
            if !self.units.contains_key(unit) {
                continue;
            }
            if !self.run_is_over().await.unwrap_or(false) {
                tracing::info!("a new run began: {unit} is left to it");
                return;
            }
            let active = self
                .bus
                .outcome(unit)
                .await
                .is_ok_and(|props| props.is_active());
            if active {
                if let Err(e) = self.bus.stop_unless_queued(unit).await {
                    tracing::warn!("cannot stop {unit} for the next run: {e}");
                }
            }
        }
    }

    /// Ends the run in the database; the summary covers the whole run (also
    /// what a recorder that died recorded), or without a database what
    /// this one saw.
    pub fn end(&mut self) -> RunSummary {
        let Some(run) = self.run else {
            return summarize(&self.records);
        };
        let Some(db) = &self.db else {
            return summarize(&self.records);
        };
        if let Err(e) = db.end_run(run, now_us()) {
            warn_db(db, "cannot end the run", &e);
        }
        run_summary(db, run).unwrap_or_else(|e| {
            tracing::warn!(update_all_run = run, "{e}");
            summarize(&self.records)
        })
    }
}

/// Service properties as read (see `Bus::raw_properties`).
struct Service(HashMap<String, OwnedVariant>);

impl Service {
    /// An accounting counter; systemd says "none" with UINT64_MAX.
    fn counter(&self, name: &str) -> Option<i64> {
        let v = u64::try_from(self.0.get(name)?).ok()?;
        (v != u64::MAX).then(|| i64::try_from(v).ok()).flatten()
    }
}

/// Fills in from the cgroup samples what systemd could not give; peak
/// memory from systemd (255+) or the samples, whichever is larger.
fn with_samples(mut r: Record, samples: Option<Counters>) -> Record {
    let Some(c) = samples else { return r };
    let sampled = |v: Option<u64>| v.and_then(|v| i64::try_from(v).ok());
    r.cpu_ns = r.cpu_ns.or(sampled(c.cpu_ns));
    r.io_read_bytes = r.io_read_bytes.or(sampled(c.io_read));
    r.io_write_bytes = r.io_write_bytes.or(sampled(c.io_write));
    r.memory_peak_bytes = r.memory_peak_bytes.max(sampled(c.memory_peak));
    r
}

/// A skip as seen while it ran: its invocation, and its start; it ended
/// just now.
fn seen_skip(a: Activation) -> Option<ConditionSkip> {
    let now = now_us();
    Some(ConditionSkip {
        invocation_id: a.invocation_id?,
        started_us: a.started_us.and_then(us).unwrap_or(now),
        ended_us: now,
    })
}

/// How many attempts the unit's command took, from the status text its
/// `plugin-exec` left (see `crate::retry`): `attempt 3/3: …` after
/// retries, the plugin's own text (or none) when the first attempt was
/// the last.
fn attempts(props: &UnitProps) -> u32 {
    props
        .status_text
        .as_deref()
        .and_then(Attempt::in_status)
        .map_or(1, |a| a.number)
}

/// The unit's latest invocation got going and ended (a skip does not
/// count: systemd forgets it, see `recorder::journal`).
fn ran(props: &UnitProps) -> bool {
    props
        .invocation_id
        .as_ref()
        .is_some_and(|id| !id.is_empty())
        && !props.is_active()
        && props.duration().is_some()
}

/// A failed unit is a warning of the run (`journalctl -p warning -t
/// update-all`), a cancelled one is said, the rest is chatter.
fn log_record(r: &Record) {
    let run = (r.run_id != 0).then_some(r.run_id);
    let unit = r.unit.as_str();
    let why = match (r.result, r.exit_status) {
        (Outcome::Failed, Some(status)) => format!("exit status {status}"),
        (Outcome::Signal | Outcome::CoreDump, Some(signal)) => format!("{} {signal}", r.result),
        (outcome, _) => outcome.to_string(),
    };
    match r.result {
        Outcome::Success | Outcome::Skipped => tracing::debug!(
            update_all_run = run, update_all_plugin = %r.plugin, unit,
            "recorded {unit}: {why}"
        ),
        Outcome::Cancelled => tracing::info!(
            update_all_run = run, update_all_plugin = %r.plugin, unit,
            "{unit} was cancelled"
        ),
        _ => tracing::warn!(
            update_all_run = run, update_all_plugin = %r.plugin, unit,
            "{unit} failed: {why}"
        ),
    }
}

fn warn_db(db: &Db, what: &str, e: &rusqlite::Error) {
    tracing::warn!(
        "{what} in the statistics database {}: {e}",
        db.path.display()
    );
}

fn us(t: u64) -> Option<i64> {
    i64::try_from(t).ok()
}
