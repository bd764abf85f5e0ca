//! `config.yaml` and its `config.d/*.yaml` drop-ins: which plugins run,
//! limits for `update-all.slice`, when to notify, where the runner is, the
//! pre-flight conditions of a run, what the system timer's run covers and
//! how transient failures are retried. See docs/configuration.md.

use crate::diagnostic::Diagnostic;
use crate::discovery::discover;
use crate::locate;
use crate::paths::Env;
use crate::policy::PolicySettings;
use crate::reboot::{Reboot, RebootFile};
use crate::safety::{Safety, SafetyFile};
use crate::trust::Trust;
use crate::values::{Bounded, ByteSize, ExecPath, Percent, PluginName, Weight};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One configuration file as written; absent fields leave what lower
/// files set.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    plugins: PluginSelection,
    #[serde(default)]
    slice: SliceLimits,
    #[serde(default)]
    notifications: NotificationsFile,
    #[serde(default)]
    paths: PathsFile,
    #[serde(default)]
    conditions: ConditionsFile,
    #[serde(default)]
    schedule: ScheduleFile,
    #[serde(default)]
    retries: RetriesFile,
    resume: Option<Resume>,
    #[serde(default)]
    reboot: RebootFile,
    #[serde(default)]
    services: ServicesFile,
    #[serde(default)]
    policy: PolicySettings,
    #[serde(default)]
    policy_overrides: BTreeMap<PluginName, PolicySettings>,
    #[serde(default)]
    safety: SafetyFile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PathsFile {
    runner: Option<ExecPath>,
}

/// Where the units find update-all's own programs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paths {
    /// The `update-all` binary: plugin units start their plugin through
    /// `update-all plugin-exec`, which turns progress into status text.
    /// Checked as an [`ExecPath`] (absolute, no quotes or backslashes).
    pub runner: String,
}

/// The runner's place in a package installation.
pub const DEFAULT_RUNNER: &str = "/usr/bin/update-all";

impl Default for Paths {
    fn default() -> Self {
        Paths {
            runner: DEFAULT_RUNNER.to_owned(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NotificationsFile {
    enabled: Option<bool>,
    on_success: Option<bool>,
    on_failure: Option<bool>,
}

/// When a summary notification is sent at the end of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Notifications {
    pub enabled: bool,
    pub on_success: bool,
    pub on_failure: bool,
}

impl Default for Notifications {
    fn default() -> Self {
        Notifications {
            enabled: true,
            on_success: true,
            on_failure: true,
        }
    }
}

impl Notifications {
    fn overlay(&mut self, top: NotificationsFile) {
        self.enabled = top.enabled.unwrap_or(self.enabled);
        self.on_success = top.on_success.unwrap_or(self.on_success);
        self.on_failure = top.on_failure.unwrap_or(self.on_failure);
    }

    /// Whether a run that did (`failed`) or did not fail is announced.
    pub fn wanted(&self, failed: bool) -> bool {
        self.enabled
            && if failed {
                self.on_failure
            } else {
                self.on_success
            }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConditionsFile {
    skip_on_battery: Option<bool>,
    skip_on_metered: Option<bool>,
    wait_for_network: Option<bool>,
    max_load: Option<LoadPerCpu>,
    min_available_memory: Option<MemorySize>,
    wait_max: Option<WaitMax>,
}

/// What `update-all run` (and so the timer's run) checks before it starts
/// anything; `run --force` skips the checks.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Conditions {
    /// Skip the run while the machine is on battery (logind's
    /// OnExternalPower, what ConditionACPower= tests).
    pub skip_on_battery: bool,
    /// Skip the run on a metered network (NetworkManager's Metered: yes or
    /// guess-yes); without NetworkManager the network is not metered.
    pub skip_on_metered: bool,
    /// Start after network-online.target (as Wants= and After= would).
    pub wait_for_network: bool,
    /// Scheduled runs wait while the 1-minute load average per CPU is
    /// above this (then skip, after `wait_max`). None: no limit.
    pub max_load: Option<f64>,
    /// Scheduled runs wait while less memory than this many bytes is
    /// available (MemAvailable), then skip after `wait_max`. None: no limit.
    pub min_available_memory: Option<u64>,
    /// How long a scheduled run waits for the load and the memory to
    /// allow it before it is skipped.
    pub wait_max: Duration,
}

impl Default for Conditions {
    /// Downloads on a metered network cost money; a weekly run on battery
    /// does no harm and is rarely worth postponing.
    fn default() -> Self {
        Conditions {
            skip_on_battery: false,
            skip_on_metered: true,
            wait_for_network: true,
            max_load: None,
            min_available_memory: None,
            wait_max: WAIT_MAX_DEFAULT,
        }
    }
}

impl Conditions {
    fn overlay(&mut self, top: ConditionsFile) {
        self.skip_on_battery = top.skip_on_battery.unwrap_or(self.skip_on_battery);
        self.skip_on_metered = top.skip_on_metered.unwrap_or(self.skip_on_metered);
        self.wait_for_network = top.wait_for_network.unwrap_or(self.wait_for_network);
        if let Some(LoadPerCpu(load)) = top.max_load {
            self.max_load = Some(load);
        }
        if let Some(MemorySize(bytes)) = top.min_available_memory {
            self.min_available_memory = Some(bytes);
        }
        if let Some(WaitMax(wait)) = top.wait_max {
            self.wait_max = wait;
        }
    }
}

/// `conditions.wait_max` when no file sets it: a nightly run gets half an
/// hour for a backup or a build to finish.
pub const WAIT_MAX_DEFAULT: Duration = Duration::from_secs(30 * 60);
/// The longest `conditions.wait_max`.
const WAIT_MAX_MOST: Duration = Duration::from_secs(24 * 3600);

/// `conditions.max_load`: the 1-minute load average per CPU, a positive
/// number up to 1000.
#[derive(Clone, Copy, Debug, PartialEq)]
struct LoadPerCpu(f64);

impl LoadPerCpu {
    fn of(v: f64) -> Result<Self, String> {
        if v.is_finite() && v > 0.0 && v <= 1000.0 {
            Ok(LoadPerCpu(v))
        } else {
            Err(format!(
                "{v} is out of range: write the 1-minute load per CPU, above 0, such as 1.5"
            ))
        }
    }
}

struct LoadVisitor;

impl Visitor<'_> for LoadVisitor {
    type Value = LoadPerCpu;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a load per CPU such as 1.5")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<LoadPerCpu, E> {
        #[allow(clippy::cast_precision_loss)]
        LoadPerCpu::of(v as f64).map_err(E::custom)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<LoadPerCpu, E> {
        #[allow(clippy::cast_precision_loss)]
        LoadPerCpu::of(v as f64).map_err(E::custom)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<LoadPerCpu, E> {
        LoadPerCpu::of(v).map_err(E::custom)
    }
}

impl<'de> Deserialize<'de> for LoadPerCpu {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LoadVisitor)
    }
}

/// `conditions.min_available_memory`: a [`ByteSize`] (`512M`, `2G`), not
/// `infinity`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct MemorySize(u64);

impl<'de> Deserialize<'de> for MemorySize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let size = ByteSize::deserialize(d)?;
        size.bytes().map(MemorySize).ok_or_else(|| {
            de::Error::custom(format!(
                "{size} is no amount of memory: write a size such as `512M` or `2G`"
            ))
        })
    }
}

/// `conditions.wait_max`: `30m`, `1h 30m`, `90s` (jiff's friendly format
/// or ISO 8601) or a number of seconds, from 0 to a day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct WaitMax(Duration);

impl WaitMax {
    fn of(d: Option<Duration>, text: &dyn fmt::Display) -> Result<Self, String> {
        d.filter(|d| *d <= WAIT_MAX_MOST)
            .map(WaitMax)
            .ok_or_else(|| format!("{text} is out of range: wait from 0 to a day (`24h`)"))
    }
}

struct WaitVisitor;

impl Visitor<'_> for WaitVisitor {
    type Value = WaitMax;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a duration such as `30m`, `1h` or `90s`")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<WaitMax, E> {
        WaitMax::of(Some(Duration::from_secs(v)), &format_args!("{v} s")).map_err(E::custom)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<WaitMax, E> {
        let d = u64::try_from(v).ok().map(Duration::from_secs);
        WaitMax::of(d, &format_args!("{v} s")).map_err(E::custom)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<WaitMax, E> {
        let parsed: jiff::SignedDuration = v.parse().map_err(|_| {
            E::custom(format!(
                "invalid duration {v:?}: write one such as `30m`, `1h 30m` or `90s`"
            ))
        })?;
        WaitMax::of(Duration::try_from(parsed).ok(), &v).map_err(E::custom)
    }
}

impl<'de> Deserialize<'de> for WaitMax {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(WaitVisitor)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleFile {
    update_logged_in_users: Option<bool>,
}

/// What the scheduled run of the system timer covers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Schedule {
    /// After the system plugins, run the user-scope plugins of every user
    /// logged in at the time, in their own service managers.
    pub update_logged_in_users: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RetriesFile {
    attempts: Option<Bounded<1, 10>>,
    backoff: Option<Backoff>,
}

/// How a plugin unit retries a `download` or `update` that failed with a
/// transient error code (docs/plugin-protocol.md, "Error codes"): in the
/// same unit, waiting `backoff` before the second attempt and twice as
/// long before each next one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retries {
    /// Attempts in all, the first one included: 1 turns retries off.
    pub attempts: u32,
    /// The wait before the second attempt.
    pub backoff: Duration,
}

impl Default for Retries {
    /// 3 attempts, after 2 s and 4 s: a held package manager lock or a
    /// mirror that hiccuped gets its chance, and a network that is down
    /// costs a unit 6 s.
    fn default() -> Self {
        Retries {
            attempts: 3,
            backoff: Duration::from_secs(2),
        }
    }
}

impl Retries {
    fn overlay(&mut self, top: RetriesFile) {
        if let Some(n) = top.attempts {
            // 1 to 10, checked while parsing.
            self.attempts = u32::try_from(n.get()).unwrap_or(1);
        }
        if let Some(Backoff(b)) = top.backoff {
            self.backoff = b;
        }
    }
}

/// `retries.backoff`: seconds, as a number (`2`, `0.5`) or with a unit
/// (`2s`, `500ms`), from 0 to an hour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Backoff(Duration);

/// The longest `retries.backoff`.
const BACKOFF_MAX: Duration = Duration::from_secs(3600);

impl Backoff {
    fn of_seconds(secs: f64) -> Result<Self, String> {
        Duration::try_from_secs_f64(secs)
            .ok()
            .filter(|d| *d <= BACKOFF_MAX)
            .map(Backoff)
            .ok_or_else(|| format!("{secs} s is out of range: use 0 to 3600 seconds"))
    }

    fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let (number, scale) = if let Some(ms) = t.strip_suffix("ms") {
            (ms, 0.001)
        } else {
            (t.strip_suffix('s').unwrap_or(t), 1.0)
        };
        let number: f64 = number.trim_end().parse().map_err(|_| {
            format!("invalid duration {text:?}: write seconds such as `2s`, `0.5s` or `500ms`")
        })?;
        Backoff::of_seconds(number * scale)
    }
}

struct BackoffVisitor;

impl Visitor<'_> for BackoffVisitor {
    type Value = Backoff;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a duration such as `2s`, `0.5s` or `500ms`")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Backoff, E> {
        // Precision is no concern: anything above an hour is refused.
        #[allow(clippy::cast_precision_loss)]
        Backoff::of_seconds(v as f64).map_err(E::custom)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Backoff, E> {
        #[allow(clippy::cast_precision_loss)]
        Backoff::of_seconds(v as f64).map_err(E::custom)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Backoff, E> {
        Backoff::of_seconds(v).map_err(E::custom)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Backoff, E> {
        Backoff::parse(v).map_err(E::custom)
    }
}

impl<'de> Deserialize<'de> for Backoff {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(BackoffVisitor)
    }
}

/// `resume`: what happens at the next boot to a run that a crash, a power
/// loss or a reboot cut short (see docs/configuration.md, "resume").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Resume {
    /// Nothing: `status` still shows the run as interrupted.
    Never,
    /// `status` shows it and says to run `update-all resume`.
    #[default]
    Ask,
    /// update-all-resume.service runs the unfinished plugins at boot, once
    /// the network is online.
    AtBoot,
}

impl Resume {
    /// As written in config.yaml.
    pub fn as_str(self) -> &'static str {
        match self {
            Resume::Never => "never",
            Resume::Ask => "ask",
            Resume::AtBoot => "at-boot",
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServicesFile {
    restart: Option<RestartServices>,
}

/// `services`: what a system package manager's update does about the
/// services that still run the code it replaced (docs/configuration.md,
/// "services"). The apt plugin asks needrestart, the dnf plugin `dnf
/// needs-restarting -s`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Services {
    pub restart: RestartServices,
}

/// `services.restart`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartServices {
    /// Nothing is looked at.
    None,
    /// The update names the services that need a restart (in its answer
    /// and on stderr, so in its unit's journal); none is restarted. The
    /// default: a restart cuts connections and loses state, which an
    /// administrator who never asked for it would not expect from a timer.
    #[default]
    List,
    /// They are restarted (`systemctl try-restart`), except the display
    /// manager, logind, D-Bus, `user@` units and update-all's own.
    Auto,
}

impl RestartServices {
    /// The variable through which `update-all plugin-exec` hands the
    /// setting to the plugin's `update`.
    pub const VAR: &'static str = "UPDATE_ALL_SERVICES_RESTART";

    /// As written in config.yaml, and as the plugin receives it.
    pub fn as_str(self) -> &'static str {
        match self {
            RestartServices::None => "none",
            RestartServices::List => "list",
            RestartServices::Auto => "auto",
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PluginSelection {
    enabled: Option<Vec<PluginName>>,
    #[serde(default)]
    disabled: Vec<PluginName>,
}

/// Limits written as a drop-in for `update-all.slice`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SliceLimits {
    pub memory_high: Option<ByteSize>,
    pub memory_max: Option<ByteSize>,
    pub cpu_quota: Option<Percent>,
    pub cpu_weight: Option<Weight>,
    pub io_weight: Option<Weight>,
}

impl SliceLimits {
    fn overlay(&mut self, top: SliceLimits) {
        let SliceLimits {
            memory_high,
            memory_max,
            cpu_quota,
            cpu_weight,
            io_weight,
        } = top;
        self.memory_high = memory_high.or(self.memory_high.take());
        self.memory_max = memory_max.or(self.memory_max.take());
        self.cpu_quota = cpu_quota.or(self.cpu_quota.take());
        self.cpu_weight = cpu_weight.or(self.cpu_weight.take());
        self.io_weight = io_weight.or(self.io_weight.take());
    }

    pub fn is_empty(&self) -> bool {
        *self == SliceLimits::default()
    }
}

/// The merged configuration.
#[derive(Debug, Default)]
pub struct Config {
    /// When set, only these plugins run.
    pub enabled: Option<Vec<PluginName>>,
    /// These plugins never run (added up over all files).
    pub disabled: Vec<PluginName>,
    pub slice: SliceLimits,
    pub notifications: Notifications,
    pub paths: Paths,
    pub conditions: Conditions,
    pub schedule: Schedule,
    pub retries: Retries,
    pub resume: Resume,
    /// Whether and when a system run is followed by a reboot.
    pub reboot: Reboot,
    pub services: Services,
    /// Every plugin's update policy, key by key (core::policy).
    pub policy: PolicySettings,
    /// One plugin's update policy, above its manifest's (core::policy).
    pub policy_overrides: BTreeMap<PluginName, PolicySettings>,
    /// Snapshots around a run, health checks after it, rollback.
    pub safety: Safety,
    /// The files that were read, in the order they were applied.
    pub files: Vec<PathBuf>,
}

impl Config {
    /// Why the configuration turns `name` off, if it does.
    pub fn disables(&self, name: &PluginName) -> Option<&'static str> {
        if self.disabled.contains(name) {
            Some("listed in plugins.disabled of the configuration")
        } else if self.enabled.as_ref().is_some_and(|on| !on.contains(name)) {
            Some("not listed in plugins.enabled of the configuration")
        } else {
            None
        }
    }

    /// Whether the configuration names `name` in `plugins.enabled`.
    pub fn enables(&self, name: &PluginName) -> bool {
        self.enabled.as_ref().is_some_and(|on| on.contains(name))
    }
}

/// Reads each layer's main file, then its drop-ins in file-name order. A
/// broken or untrusted file is reported and skipped; the others still apply.
pub fn load(env: &Env) -> (Config, Vec<Diagnostic>) {
    let mut config = Config::default();
    let mut diagnostics = Vec::new();
    let mut trust = Trust::new(&env.root, env.trusted_user());
    for (main, dropin_dirs) in env.config_layers() {
        let dropins = discover(&dropin_dirs);
        diagnostics.extend(dropins.diagnostics);
        let main = fs::symlink_metadata(&main).is_ok().then_some(main);
        for path in main.into_iter().chain(dropins.files) {
            match read_file(&mut trust, &path) {
                Ok(Some((file, text))) => {
                    if file.plugins.enabled.is_some() {
                        config.enabled = file.plugins.enabled;
                    }
                    config.disabled.extend(file.plugins.disabled);
                    config.slice.overlay(file.slice);
                    config.notifications.overlay(file.notifications);
                    if let Some(runner) = file.paths.runner {
                        match trusted_runner(env, &mut trust, &runner, &config.paths.runner) {
                            Ok(()) => config.paths.runner = runner.as_str().to_owned(),
                            Err(why) => diagnostics.push(locate::error_at(
                                &path,
                                &text,
                                &["paths", "runner"],
                                why,
                            )),
                        }
                    }
                    config.conditions.overlay(file.conditions);
                    if let Some(users) = file.schedule.update_logged_in_users {
                        config.schedule.update_logged_in_users = users;
                    }
                    config.retries.overlay(file.retries);
                    config.resume = file.resume.unwrap_or(config.resume);
                    config.reboot.overlay(file.reboot);
                    if let Some(restart) = file.services.restart {
                        config.services.restart = restart;
                    }
                    config.policy.overlay(file.policy);
                    for (name, policy) in file.policy_overrides {
                        config
                            .policy_overrides
                            .entry(name)
                            .or_default()
                            .overlay(policy);
                    }
                    config.safety.overlay(file.safety);
                    config.files.push(path);
                }
                Ok(None) => {}
                Err(mut d) => {
                    d.message += " This configuration file is ignored until it is fixed.";
                    diagnostics.push(d);
                }
            }
        }
    }
    (config, diagnostics)
}

/// Every root unit runs `paths.runner`: it gets the checks of a plugin's
/// executable. On refusal, why, and that `current` stays in use. Naming
/// the runner already in use (the commented default, uncommented) changes
/// nothing, so there is nothing to refuse.
fn trusted_runner(
    env: &Env,
    trust: &mut Trust,
    runner: &ExecPath,
    current: &str,
) -> Result<(), String> {
    if runner.as_str() == current {
        return Ok(());
    }
    let path = env.resolve(Path::new(runner.as_str()));
    trust.check_file(&path, true).map(|_| ()).map_err(|why| {
        format!(
            "paths.runner: {runner} is not used, since the units would run it: {why}. \
             They run {current} instead."
        )
    })
}

/// One file and its text, or `None` when it is empty or masked (a link
/// to /dev/null).
fn read_file(trust: &mut Trust, path: &Path) -> Result<Option<(ConfigFile, String)>, Diagnostic> {
    if fs::read_link(path).is_ok_and(|t| t == Path::new("/dev/null")) {
        return Ok(None);
    }
    let (real, _) = trust
        .check_file(path, false)
        .map_err(|why| Diagnostic::error(Some(path), format!("not trusted: {why}.")))?;
    let text = fs::read_to_string(real)
        .map_err(|e| Diagnostic::error(Some(path), format!("cannot read it: {e}.")))?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    serde_norway::from_str(&text)
        .map(|file| Some((file, text)))
        .map_err(|e| Diagnostic::from_yaml(path, &e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Scope;
    use std::os::unix::fs::PermissionsExt;

    /// Loads the system configuration of a root holding `files` (path
    /// relative to the root, text).
    fn load_from(files: &[(&str, &str)]) -> (Config, Vec<Diagnostic>) {
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        for (rel, text) in files {
            let path = dir.path().join(rel);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, text).unwrap();
        }
        let env = Env {
            root: dir.path().to_owned(),
            scope: Scope::System,
            user_config: None,
        };
        load(&env)
    }

    #[test]
    fn conditions_and_schedule_merge_key_by_key() {
        let (config, diags) = load_from(&[]);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(config.conditions, Conditions::default());
        assert!(!config.schedule.update_logged_in_users);
        let (config, diags) = load_from(&[
            (
                "etc/update-all/config.yaml",
                "conditions:\n  skip_on_battery: true\n  skip_on_metered: true\n",
            ),
            (
                "etc/update-all/config.d/50-x.yaml",
                "conditions:\n  skip_on_metered: false\nschedule:\n  update_logged_in_users: true\n",
            ),
        ]);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(
            config.conditions,
            Conditions {
                skip_on_battery: true,
                skip_on_metered: false,
                wait_for_network: true,
                ..Conditions::default()
            }
        );
        assert!(config.schedule.update_logged_in_users);
    }

    #[test]
    fn load_memory_and_wait_merge_key_by_key() {
        let (config, _) = load_from(&[]);
        let c = config.conditions;
        assert_eq!((c.max_load, c.min_available_memory), (None, None));
        assert_eq!(c.wait_max, Duration::from_secs(1800));
        for (wait, wanted) in [
            ("30m", 1800),
            ("\"1h 30m\"", 5400),
            ("90s", 90),
            ("45", 45),
            ("0", 0),
            ("PT2M", 120),
            ("24h", 86400),
        ] {
            let (config, diags) = load_from(&[
                (
                    "etc/update-all/config.yaml",
                    "conditions:\n  max_load: 1.5\n  min_available_memory: 512M\n",
                ),
                (
                    "etc/update-all/config.d/50-x.yaml",
                    &format!("conditions:\n  max_load: 2\n  wait_max: {wait}\n"),
                ),
            ]);
            assert!(diags.is_empty(), "{wait}: {diags:?}");
            let c = config.conditions;
            assert_eq!(c.max_load, Some(2.0), "{wait}");
            assert_eq!(c.min_available_memory, Some(512 << 20), "{wait}");
            assert_eq!(c.wait_max, Duration::from_secs(wanted), "{wait}");
        }
    }

    #[test]
    fn wrong_load_memory_or_wait_is_refused_with_its_place() {
        for (text, wanted) in [
            (
                "max_load: 0",
                "0 is out of range: write the 1-minute load per CPU",
            ),
            ("max_load: -1.5", "-1.5 is out of range"),
            (
                "max_load: high",
                "invalid type: string \"high\", expected a load per CPU",
            ),
            ("min_available_memory: 512MB", "invalid size \"512MB\""),
            (
                "min_available_memory: infinity",
                "infinity is no amount of memory",
            ),
            ("wait_max: soon", "invalid duration \"soon\""),
            ("wait_max: 25h", "25h is out of range: wait from 0 to a day"),
            ("wait_max: -5", "-5 s is out of range"),
        ] {
            let (config, diags) = load_from(&[(
                "etc/update-all/config.yaml",
                &format!("conditions:\n  {text}\n"),
            )]);
            let msg = diags.first().map(ToString::to_string).unwrap_or_default();
            assert!(
                msg.contains("config.yaml:2:") && msg.contains(wanted),
                "{text}: {msg}"
            );
            assert_eq!(
                config.conditions,
                Conditions::default(),
                "the file is ignored"
            );
        }
    }

    #[test]
    fn retries_merge_key_by_key_and_take_seconds_with_or_without_a_unit() {
        let (config, _) = load_from(&[]);
        assert_eq!(config.retries, Retries::default());
        assert_eq!(config.retries.attempts, 3);
        assert_eq!(config.retries.backoff, Duration::from_secs(2));
        for (backoff, wanted) in [
            ("2s", Duration::from_secs(2)),
            ("0.2s", Duration::from_millis(200)),
            ("500ms", Duration::from_millis(500)),
            ("5", Duration::from_secs(5)),
            ("0.25", Duration::from_millis(250)),
            ("0", Duration::ZERO),
            ("\"1 s\"", Duration::from_secs(1)),
        ] {
            let (config, diags) = load_from(&[
                ("etc/update-all/config.yaml", "retries:\n  attempts: 5\n"),
                (
                    "etc/update-all/config.d/50-x.yaml",
                    &format!("retries:\n  backoff: {backoff}\n"),
                ),
            ]);
            assert!(diags.is_empty(), "{backoff}: {diags:?}");
            assert_eq!(
                config.retries,
                Retries {
                    attempts: 5,
                    backoff: wanted
                },
                "{backoff}"
            );
        }
    }

    #[test]
    fn services_restart_is_list_by_default_and_the_last_file_wins() {
        let (config, _) = load_from(&[]);
        assert_eq!(config.services.restart, RestartServices::List);
        let (config, diags) = load_from(&[
            ("etc/update-all/config.yaml", "services:\n  restart: none\n"),
            (
                "etc/update-all/config.d/50-x.yaml",
                "services:\n  restart: auto\n",
            ),
        ]);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(config.services.restart, RestartServices::Auto);
        assert_eq!(config.services.restart.as_str(), "auto");
        // A drop-in without the key leaves it.
        let (config, _) = load_from(&[
            ("etc/update-all/config.yaml", "services:\n  restart: none\n"),
            ("etc/update-all/config.d/50-x.yaml", "services: {}\n"),
        ]);
        assert_eq!(config.services.restart, RestartServices::None);
        for (text, why) in [
            ("services:\n  restart: always\n", "unknown variant `always`"),
            ("services:\n  restrat: auto\n", "unknown field `restrat`"),
        ] {
            let (config, diags) = load_from(&[("etc/update-all/config.yaml", text)]);
            assert_eq!(diags.len(), 1, "{text}");
            assert!(
                diags[0].message.contains(why),
                "{text}: {}",
                diags[0].message
            );
            assert_eq!(config.services, Services::default(), "the file is ignored");
        }
    }

    #[test]
    fn resume_is_ask_by_default_and_the_last_file_wins() {
        let (config, _) = load_from(&[]);
        assert_eq!(config.resume, Resume::Ask);
        let (config, diags) = load_from(&[
            ("etc/update-all/config.yaml", "resume: never\n"),
            ("etc/update-all/config.d/50-x.yaml", "resume: at-boot\n"),
        ]);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(config.resume, Resume::AtBoot);
        assert_eq!(config.resume.as_str(), "at-boot");
        let (config, diags) = load_from(&[("etc/update-all/config.yaml", "resume: always\n")]);
        let msg = diags.first().map(ToString::to_string).unwrap_or_default();
        assert!(
            msg.contains("config.yaml:1:") && msg.contains("unknown variant `always`"),
            "{msg}"
        );
        assert_eq!(config.resume, Resume::Ask, "the file is ignored");
    }

    #[test]
    fn reboot_is_never_by_default_and_merges_key_by_key() {
        use crate::reboot::{RebootPolicy, RebootTime};
        let (config, _) = load_from(&[]);
        assert_eq!(config.reboot, Reboot::default());
        assert_eq!(config.reboot.policy, RebootPolicy::Never);
        assert_eq!(config.reboot.time, RebootTime::Now);
        assert!(!config.reboot.with_users);
        let (config, diags) = load_from(&[
            (
                "etc/update-all/config.yaml",
                "reboot:\n  policy: when-needed\n  time: \"02:00\"\n  ignored_users: [kiosk]\n",
            ),
            (
                "etc/update-all/config.d/50-x.yaml",
                "reboot:\n  time: \"03:15\"\n  with_users: true\n",
            ),
        ]);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(config.reboot.policy, RebootPolicy::WhenNeeded);
        assert_eq!(
            config.reboot.time,
            RebootTime::At {
                hour: 3,
                minute: 15
            }
        );
        assert!(config.reboot.with_users);
        assert!(config.reboot.ignores("kiosk"));
        for (text, wanted) in [
            (
                "reboot:\n  policy: sometimes\n",
                "unknown variant `sometimes`",
            ),
            ("reboot:\n  time: \"2am\"\n", "invalid time \"2am\""),
            (
                "reboot:\n  ignored_users: [\"a b\"]\n",
                "invalid user name \"a b\"",
            ),
            ("reboot:\n  with_user: true\n", "unknown field `with_user`"),
        ] {
            let (config, diags) = load_from(&[("etc/update-all/config.yaml", text)]);
            let msg = diags.first().map(ToString::to_string).unwrap_or_default();
            assert!(
                msg.contains("config.yaml:2:") && msg.contains(wanted),
                "{text}: {msg}"
            );
            assert_eq!(config.reboot, Reboot::default(), "the file is ignored");
        }
    }

    #[test]
    fn safety_merges_key_by_key_and_a_wrong_key_is_refused_with_its_place() {
        use crate::safety::{SnapshotChoice, SnapshotFailure};
        let (config, _) = load_from(&[]);
        assert_eq!(config.safety, Safety::default());
        let (config, diags) = load_from(&[
            (
                "etc/update-all/config.yaml",
                "safety:\n  snapshot: btrfs\n  health:\n    settle: 10s\n",
            ),
            (
                "etc/update-all/config.d/50-x.yaml",
                "safety:\n  snapshot_failure: stop\n  health:\n    timeout: 2m\n",
            ),
        ]);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(config.safety.snapshot, SnapshotChoice::Btrfs);
        assert_eq!(config.safety.snapshot_failure, SnapshotFailure::Stop);
        assert_eq!(config.safety.health.settle, Duration::from_secs(10));
        assert_eq!(config.safety.health.timeout, Duration::from_secs(120));
        for (text, wanted) in [
            (
                "safety:\n  snapshot: zfs\n",
                "config.yaml:2:13: error: safety.snapshot: unknown variant `zfs`",
            ),
            (
                "safety:\n  paths: [/, var]\n",
                "config.yaml:2:14: error: safety.paths[1]: \"var\" is not an absolute path",
            ),
            (
                "safety:\n  health:\n    settle: 2h\n",
                "config.yaml:3:13: error: safety.health.settle: 2h is out of range",
            ),
        ] {
            let (config, diags) = load_from(&[("etc/update-all/config.yaml", text)]);
            let msg = diags.first().map(ToString::to_string).unwrap_or_default();
            assert!(msg.contains(wanted), "{text}: {msg}");
            assert_eq!(config.safety, Safety::default(), "the file is ignored");
        }
    }

    #[test]
    fn wrong_retries_are_refused_with_their_place() {
        for (text, wanted) in [
            (
                "retries:\n  attempts: 0\n",
                "0 is out of range: use 1 to 10",
            ),
            (
                "retries:\n  attempts: 11\n",
                "11 is out of range: use 1 to 10",
            ),
            (
                "retries:\n  backoff: soon\n",
                "invalid duration \"soon\": write seconds such as `2s`",
            ),
            ("retries:\n  backoff: -1\n", "-1 s is out of range"),
            ("retries:\n  backoff: 2h\n", "invalid duration \"2h\""),
            ("retries:\n  backof: 2s\n", "unknown field `backof`"),
        ] {
            let (config, diags) = load_from(&[("etc/update-all/config.yaml", text)]);
            let msg = diags.first().map(ToString::to_string).unwrap_or_default();
            assert!(
                msg.contains("config.yaml:2:") && msg.contains(wanted),
                "{text}: {msg}"
            );
            assert_eq!(config.retries, Retries::default(), "the file is ignored");
        }
    }

    #[test]
    fn a_misspelt_or_mistyped_condition_is_refused_with_its_place() {
        let (config, diags) = load_from(&[(
            "etc/update-all/config.yaml",
            "conditions:\n  skip_on_metred: false\n",
        )]);
        let msg = diags[0].to_string();
        assert!(
            msg.contains("config.yaml:2:3: error: conditions: unknown field `skip_on_metred`")
                && msg.contains("did you mean `skip_on_metered`?"),
            "{msg}"
        );
        assert!(config.conditions.skip_on_metered, "the file is ignored");
        let (_, diags) = load_from(&[(
            "etc/update-all/config.yaml",
            "schedule:\n  update_logged_in_users: sometimes\n",
        )]);
        let msg = diags[0].to_string();
        assert!(
            msg.contains("schedule.update_logged_in_users: invalid type"),
            "{msg}"
        );
    }
}
