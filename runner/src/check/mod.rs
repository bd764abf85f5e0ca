//! The check: for every plugin, `is-applicable` and `estimate-update` (and,
//! where the manifest says `supports_dynamic_mutexes`, the dynamic mutex
//! commands), each in a transient unit of the scope's service manager.
//!
//! Estimates run in parallel, except that plugins sharing an estimate mutex
//! (`static_mutexes.estimate`) take turns and one that needs a mutex free
//! (`static_dependencies.estimate`) waits for its holders: `After=` between
//! their units, so systemd does the waiting. A plugin's dynamic mutex
//! commands run one after the other once its estimate has found updates.
//! Answers are read from the units' stdout files with the parsers of
//! `update_all_protocol`; a plugin that breaks the protocol, fails or hangs
//! costs only its own row.
//!
//! Used by `update-all check`, `update-all run --dry-run` and, for the
//! dynamic mutexes, `update-all run --check` (see [`dynamic`]).

pub mod dropins;
pub mod dynamic;
pub mod transient;

use crate::systemd::{self, Bus, Outcome, CLD_DUMPED, CLD_EXITED, CLD_KILLED};
use futures_util::StreamExt;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::PathBuf;
use std::time::Duration;
use transient::{Batch, Ended, Spec};
use update_all_core::inventory::Plugin;
use update_all_core::order;
use update_all_core::plan::Reason;
use update_all_core::values::{MutexName, PluginName};
use update_all_core::{Phase, Scope};
use update_all_protocol::{Command, Estimate, EstimateAnswer, Exit, PluginRun, ProtocolError};

/// `dnf check-update`'s convention: updates are available.
pub const UPDATES_AVAILABLE: u8 = 100;

/// What the check found for one plugin: updates pending, none, not
/// applicable here, or the check failed. (Not `plugin::validate::Verdict`,
/// which judges a plugin against the protocol.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateStatus {
    Updates,
    UpToDate,
    NotApplicable,
    Failed,
}

/// Why a plugin's check failed.
#[derive(Clone, Debug, Serialize)]
pub struct Failure {
    /// A stable word: the protocol problem (`not_json`, `timed_out`, …),
    /// `plugin_error` for an error document, `is_applicable_failed`.
    pub kind: String,
    pub message: String,
}

/// Where an expected duration comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DurationSource {
    /// The median of this plugin's recorded runs.
    History,
    /// The plugin's own `estimated_time_seconds`.
    Plugin,
}

/// What a plugin's dynamic mutex commands answered, per phase.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Dynamic {
    pub mutexes: BTreeMap<Phase, Vec<MutexName>>,
    pub dependencies: BTreeMap<Phase, Vec<MutexName>>,
    pub runs_after: Vec<PluginName>,
}

/// One row of the check.
#[derive(Clone, Debug, Serialize)]
pub struct PluginCheck {
    pub plugin: String,
    pub verdict: UpdateStatus,
    /// What is-applicable said; `None` when it could not tell.
    pub applicable: Option<bool>,
    pub estimate: Option<Estimate>,
    /// How long its download and update phases are expected to take.
    pub duration_s: Option<f64>,
    pub duration_from: Option<DurationSource>,
    pub error: Option<Failure>,
    /// For plugins with `supports_dynamic_mutexes` whose estimate found
    /// updates.
    pub dynamic: Option<Dynamic>,
    /// Dynamic mutex commands that failed: only the static ordering applies.
    pub warnings: Vec<String>,
}

impl PluginCheck {
    fn new(plugin: &Plugin) -> Self {
        PluginCheck {
            plugin: plugin.name().to_string(),
            verdict: UpdateStatus::Failed,
            applicable: None,
            estimate: None,
            duration_s: None,
            duration_from: None,
            error: None,
            dynamic: None,
            warnings: Vec::new(),
        }
    }

    pub fn packages(&self) -> usize {
        self.estimate
            .as_ref()
            .map_or(0, |e| e.packages_to_update.len())
    }
}

/// Sums over the plugins.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Totals {
    pub plugins: usize,
    pub with_updates: usize,
    pub packages: usize,
    /// The known download sizes added up.
    pub download_size_bytes: u64,
    /// The expected durations of the plugins with updates added up (an
    /// upper bound: plugins that do not share a mutex run in parallel).
    pub duration_s: f64,
    pub failed: usize,
}

/// The whole check.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub scope: Scope,
    pub plugins: Vec<PluginCheck>,
    pub totals: Totals,
    /// About the check itself (estimate ordering that could not apply).
    pub warnings: Vec<String>,
}

impl Report {
    /// 0 nothing to update, 100 updates available, 1 a plugin failed.
    pub fn exit_status(&self) -> u8 {
        if self.totals.failed > 0 {
            crate::output::FAILURE
        } else if self.totals.with_updates > 0 {
            UPDATES_AVAILABLE
        } else {
            0
        }
    }

    fn new(scope: Scope, plugins: Vec<PluginCheck>, warnings: Vec<String>) -> Self {
        let mut totals = Totals {
            plugins: plugins.len(),
            ..Totals::default()
        };
        for p in &plugins {
            match p.verdict {
                UpdateStatus::Updates => {
                    totals.with_updates += 1;
                    totals.packages += p.packages();
                    let estimate = p.estimate.as_ref();
                    totals.download_size_bytes +=
                        estimate.and_then(download_size).unwrap_or_default();
                    totals.duration_s += p.duration_s.unwrap_or_default();
                }
                UpdateStatus::Failed => totals.failed += 1,
                UpdateStatus::UpToDate | UpdateStatus::NotApplicable => {}
            }
        }
        Report {
            scope,
            plugins,
            totals,
            warnings,
        }
    }
}

/// The estimate's total download size, or the sum of the known ones.
pub fn download_size(e: &Estimate) -> Option<u64> {
    e.total_download_size_bytes.or_else(|| {
        let known: Vec<u64> = e
            .packages_to_update
            .iter()
            .filter_map(|p| p.download_size_bytes)
            .collect();
        (!known.is_empty()).then(|| known.iter().sum())
    })
}

/// Why the check could not run at all.
#[derive(Debug)]
pub enum Error {
    Systemd(systemd::Error),
    /// The directory for the units' output.
    Io(PathBuf, std::io::Error),
    /// The connection to systemd ended while units ran.
    Lost,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            Error::Systemd(e) => e.fmt(f),
            Error::Io(path, e) => write!(f, "{}: {e}", path.display()),
            Error::Lost => f.write_str("lost the connection to systemd during the check"),
        }
    }
}

impl From<systemd::Error> for Error {
    fn from(e: systemd::Error) -> Self {
        Error::Systemd(e)
    }
}

/// Where the check's units write their stdout: `/run/update-all/check`, or
/// `$XDG_RUNTIME_DIR/update-all/check` for a user. The files stay until the
/// next check, for a look at what a plugin answered.
pub fn output_dir(scope: Scope) -> Result<PathBuf, Error> {
    match scope {
        Scope::System => Ok(PathBuf::from("/run/update-all/check")),
        Scope::User => std::env::var_os("XDG_RUNTIME_DIR")
            .filter(|d| !d.is_empty())
            .map(|d| PathBuf::from(d).join("update-all/check"))
            .ok_or_else(|| {
                Error::Io(
                    PathBuf::from("$XDG_RUNTIME_DIR"),
                    std::io::Error::other("not set"),
                )
            }),
    }
}

/// `update-all--check-apt.service`, `update-all--check-apt-update-mutexes.service`.
fn unit_name(plugin: &str, command: Command) -> String {
    let prefix = crate::systemd::CHECK_PREFIX;
    match command {
        Command::EstimateUpdate => format!("{prefix}{plugin}.service"),
        other => format!("{prefix}{plugin}-{}.service", other.as_str()),
    }
}

/// Checks `plugins` (of `scope`, in plan order) through their own
/// connection to the scope's service manager.
pub async fn check(scope: Scope, plugins: &[&Plugin]) -> Result<Report, Error> {
    let dir = output_dir(scope)?;
    let bus = Bus::connect(scope).await?;
    fs::create_dir_all(&dir).map_err(|e| match e.kind() {
        // Not root in system scope: say what to do instead.
        std::io::ErrorKind::PermissionDenied => Error::Systemd(systemd::Error::NotAuthorized {
            scope,
            detail: format!("cannot create {}: {e}", dir.display()),
        }),
        _ => Error::Io(dir.clone(), e),
    })?;
    let mut events = bus.subscribe().await?;
    let mut checker = Checker {
        scope,
        plugins,
        dir,
        batch: Batch::new(&bus),
        units: HashMap::new(),
        rows: plugins.iter().map(|p| PluginCheck::new(p)).collect(),
    };
    let (order, after, warnings) = estimate_order(plugins);
    // Each estimate knows its plugin's update policy, so it can say what
    // the update will hold back (docs/plugin-protocol.md).
    let config = update_all_core::config::load(&update_all_core::Env::from_process(Some(scope))).0;
    for i in order {
        let mut spec = checker.spec(i, Command::EstimateUpdate);
        let m = &plugins[i].manifest;
        let policy = crate::plugin::policy::for_manifest(&config, m);
        spec.environment
            .extend(policy.iter().map(|(k, v)| format!("{k}={v}")));
        spec.condition = Some(vec![
            m.executable.as_str().to_owned(),
            Command::IsApplicable.as_str().to_owned(),
        ]);
        spec.timeout += Duration::from_secs(m.timeouts.is_applicable.get().unsigned_abs());
        spec.after = after[i]
            .iter()
            .map(|&j| unit_name(plugins[j].name().as_str(), Command::EstimateUpdate))
            .collect();
        checker.start(i, Command::EstimateUpdate, spec).await?;
    }
    while !checker.batch.is_empty() {
        let event = events.next().await.ok_or(Error::Lost)?;
        if let Some(ended) = checker.batch.handle(event).await {
            checker.ended(ended).await?;
        }
    }
    let rows = std::mem::take(&mut checker.rows);
    Ok(Report::new(scope, rows, warnings))
}

/// The start order of the estimate units and, per plugin, the plugins
/// whose estimate it waits for; warnings for dependencies that would make
/// a cycle.
fn estimate_order(plugins: &[&Plugin]) -> (Vec<usize>, Vec<Vec<usize>>, Vec<String>) {
    let mut holders: BTreeMap<MutexName, Vec<(usize, String)>> = BTreeMap::new();
    for (i, p) in plugins.iter().enumerate() {
        for m in &p.manifest.static_mutexes.estimate {
            holders
                .entry(m.clone())
                .or_default()
                .push((i, p.name().to_string()));
        }
    }
    let mut required = Vec::new();
    for (i, p) in plugins.iter().enumerate() {
        for m in &p.manifest.static_dependencies.estimate {
            for (j, _) in holders.get(m).into_iter().flatten() {
                required.push(order::Edge {
                    before: *j,
                    after: i,
                    reason: Reason::Dependency(m.clone()),
                    origin: p.name().to_string(),
                });
            }
        }
    }
    let ext = order::extend(plugins.len(), &[], required, &holders);
    let mut after = vec![Vec::new(); plugins.len()];
    for edge in &ext.added {
        after[edge.after].push(edge.before);
    }
    let warnings = ext
        .refused
        .iter()
        .map(|e| {
            format!(
                "the estimate of `{}` cannot wait for `{}` ({}): that would make a cycle; \
                 they may run at the same time",
                plugins[e.after].name(),
                plugins[e.before].name(),
                e.reason
            )
        })
        .collect();
    (ext.order, after, warnings)
}

/// The check in progress.
struct Checker<'a, 'b> {
    scope: Scope,
    plugins: &'a [&'a Plugin],
    dir: PathBuf,
    batch: Batch<'b>,
    /// Each running unit's plugin (index) and command.
    units: HashMap<String, (usize, Command, Duration)>,
    rows: Vec<PluginCheck>,
}

impl Checker<'_, '_> {
    fn stdout_path(&self, i: usize, command: Command) -> PathBuf {
        self.dir
            .join(format!("{}.{}", self.plugins[i].name(), command.as_str()))
    }

    fn spec(&self, i: usize, command: Command) -> Spec {
        let name = self.plugins[i].name().as_str();
        Spec::for_plugin(
            self.plugins[i],
            unit_name(name, command),
            command.as_str(),
            self.stdout_path(i, command),
        )
    }

    /// Starts a unit; a failure other than being refused outright (which
    /// would fail every plugin the same way) costs only this plugin's row.
    async fn start(&mut self, i: usize, command: Command, spec: Spec) -> Result<(), Error> {
        let _ = fs::remove_file(&spec.stdout);
        match self.batch.start(&spec).await {
            Ok(()) => {
                self.units.insert(spec.unit, (i, command, spec.timeout));
                Ok(())
            }
            Err(e @ systemd::Error::NotAuthorized { .. }) => Err(e.into()),
            Err(e) => {
                let message = format!(
                    "plugin `{}` {command}: cannot start {}: {e}",
                    self.plugins[i].name(),
                    spec.unit
                );
                if command == Command::EstimateUpdate {
                    self.rows[i].error = Some(Failure {
                        kind: "not_started".into(),
                        message,
                    });
                } else {
                    self.rows[i].warnings.push(message);
                }
                Ok(())
            }
        }
    }

    /// Takes in a unit that ended.
    async fn ended(&mut self, ended: Ended) -> Result<(), Error> {
        let Some((i, command, timeout)) = self.units.remove(&ended.unit) else {
            return Ok(());
        };
        if command == Command::EstimateUpdate {
            self.estimated(i, &ended, timeout);
            let wants_dynamic = self.plugins[i].manifest.supports_dynamic_mutexes
                && self.rows[i].verdict == UpdateStatus::Updates;
            if wants_dynamic {
                self.rows[i].dynamic = Some(Dynamic::default());
                let mut previous: Option<String> = None;
                for command in Command::DYNAMIC {
                    let mut spec = self.spec(i, command);
                    // One after the other, as by hand.
                    spec.after.extend(previous.take());
                    previous = Some(spec.unit.clone());
                    self.start(i, command, spec).await?;
                }
            }
        } else {
            let run = self.run_of(i, command, &ended, timeout);
            self.dynamic_answer(i, &run);
        }
        Ok(())
    }

    /// The finished unit as a [`PluginRun`], for the protocol's parsers.
    fn run_of(&self, i: usize, command: Command, ended: &Ended, timeout: Duration) -> PluginRun {
        let plugin = self.plugins[i].name().to_string();
        let stdout = fs::read(self.stdout_path(i, command)).unwrap_or_default();
        let status = ended.props.exec_main_status.unwrap_or(0);
        // Past a timeout, a stop or an OOM kill, how the command's process
        // ended: its exit status or signal, for the parsers to judge.
        let exit = match (ended.outcome, ended.props.exec_main_code) {
            (Outcome::Timeout, _) => Exit::TimedOut {
                after: timeout,
                setting: command.timeout(&self.plugins[i].manifest.timeouts).1,
            },
            (Outcome::Cancelled, _) => Exit::NotStarted(format!("{} was stopped", ended.unit)),
            (Outcome::Oom, _) => Exit::NotStarted(format!(
                "{} ran out of memory (resources.memory_max)",
                ended.unit
            )),
            (_, Some(CLD_EXITED)) => Exit::Code(status),
            (_, Some(CLD_KILLED | CLD_DUMPED)) => Exit::Signal(status),
            (_, _) => Exit::NotStarted(format!(
                "{} failed ({})",
                ended.unit,
                ended.props.result.as_deref().unwrap_or("unknown result")
            )),
        };
        PluginRun {
            plugin,
            command,
            exit,
            stdout,
            // In the journal: the failure message says where.
            stderr: Vec::new(),
            elapsed: ended.props.duration().unwrap_or_default(),
        }
    }

    /// Fills row `i` from its estimate unit.
    fn estimated(&mut self, i: usize, ended: &Ended, timeout: Duration) {
        let journal = journal_hint(self.scope, &ended.unit);
        if ended.outcome == Outcome::Skipped {
            self.rows[i].applicable = Some(false);
            self.rows[i].verdict = UpdateStatus::NotApplicable;
            return;
        }
        if !ended.command_ran() {
            // The condition (is-applicable) itself failed or hung.
            let message = match ended.outcome {
                Outcome::Timeout => {
                    let run = self.run_of(i, Command::IsApplicable, ended, timeout);
                    run.yes_no().err().map(|e| e.to_string())
                }
                _ => None,
            }
            .unwrap_or_else(|| {
                format!(
                    "plugin `{}` is-applicable: failed ({}); it must exit 0 or 1",
                    self.rows[i].plugin,
                    ended.props.result.as_deref().unwrap_or("unknown result")
                )
            });
            self.rows[i].error = Some(Failure {
                kind: "is_applicable_failed".into(),
                message: format!("{message}; {journal}"),
            });
            return;
        }
        let run = self.run_of(i, Command::EstimateUpdate, ended, timeout);
        let row = &mut self.rows[i];
        row.applicable = Some(true);
        match run.estimate() {
            Ok(EstimateAnswer::Updates(estimate)) => {
                row.verdict = if estimate.packages_to_update.is_empty() {
                    UpdateStatus::UpToDate
                } else {
                    UpdateStatus::Updates
                };
                if row.verdict == UpdateStatus::Updates {
                    let (d, from) = expected_duration(self.scope, self.plugins[i], &estimate);
                    row.duration_s = d.map(|d| (d.as_secs_f64() * 10.0).round() / 10.0);
                    row.duration_from = from;
                }
                row.estimate = Some(estimate);
            }
            Ok(EstimateAnswer::NotApplicable(_)) => {
                row.applicable = Some(false);
                row.verdict = UpdateStatus::NotApplicable;
            }
            Ok(EstimateAnswer::Failed(info)) => {
                row.error = Some(Failure {
                    kind: "plugin_error".into(),
                    message: format!(
                        "plugin `{}` estimate-update failed: {info}; {journal}",
                        row.plugin
                    ),
                });
            }
            Err(e) => row.error = Some(failure(&e, &journal)),
        }
    }

    /// Takes in one dynamic mutex command's answer.
    fn dynamic_answer(&mut self, i: usize, run: &PluginRun) {
        let row = &mut self.rows[i];
        let dynamic = row.dynamic.get_or_insert_with(Dynamic::default);
        let answer = match run.command {
            Command::Mutexes(phase) => run.mutexes().map(|m| {
                dynamic.mutexes.insert(phase, m);
            }),
            Command::Dependency(phase) => run.mutexes().map(|m| {
                dynamic.dependencies.insert(phase, m);
            }),
            Command::RunsAfter => run.plugins().map(|p| dynamic.runs_after = p),
            _ => Ok(()),
        };
        if let Err(e) = answer {
            row.warnings.push(format!(
                "{e}; only the static ordering applies ({})",
                journal_hint(self.scope, &unit_name(&row.plugin, run.command))
            ));
        }
    }
}

fn failure(e: &ProtocolError, journal: &str) -> Failure {
    Failure {
        kind: e.problem.kind().to_owned(),
        message: format!("{e}; {journal}"),
    }
}

/// Where the unit's stderr went.
fn journal_hint(scope: Scope, unit: &str) -> String {
    format!("its stderr: {}", crate::output::unit_log(scope, unit))
}

/// How long the plugin's phases will take: from recorded runs when there
/// are any, else the plugin's own guess.
fn expected_duration(
    scope: Scope,
    plugin: &Plugin,
    estimate: &Estimate,
) -> (Option<Duration>, Option<DurationSource>) {
    let name = plugin.name().as_str();
    let recorded: Vec<Duration> = plugin
        .manifest
        .unit_phases()
        .iter()
        .filter_map(|&phase| crate::stats::estimate(scope, name, phase))
        .collect();
    if !recorded.is_empty() {
        return (Some(recorded.iter().sum()), Some(DurationSource::History));
    }
    match estimate.estimated_time_seconds {
        Some(s) => (Some(Duration::from_secs(s)), Some(DurationSource::Plugin)),
        None => (None, None),
    }
}
