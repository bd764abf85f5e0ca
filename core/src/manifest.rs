//! The plugin manifest: the `plugin:` mapping with every field that
//! docs/manifest.md describes (`scope`, `enabled` and `resources`
//! included).

use crate::policy::PolicySettings;
use crate::values::{
    ByteSize, ExecPath, MutexName, Nice, PluginName, Seconds, SettingKey, SettingValue, Text,
    UnitName, Version, Weight, Writes,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Which systemd manager runs a plugin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    System,
    User,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::System => "system",
            Scope::User => "user",
        }
    }
}

/// A phase that runs as its own unit, or (estimate) through the runner.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Estimate,
    Download,
    Update,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Estimate => "estimate",
            Phase::Download => "download",
            Phase::Update => "update",
        }
    }
}

/// The file's top level: everything lives under `plugin:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestFile {
    pub plugin: Manifest,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: PluginName,
    #[serde(default)]
    pub version: Version,
    #[serde(default)]
    pub description: Text,
    pub executable: ExecPath,
    #[serde(default)]
    pub requires_sudo: bool,
    #[serde(default)]
    pub can_separate_download: bool,
    #[serde(default)]
    pub supports_self_update: bool,
    #[serde(default)]
    pub supports_dynamic_mutexes: bool,
    #[serde(default)]
    pub static_mutexes: PhaseMutexes,
    #[serde(default)]
    pub static_dependencies: PhaseMutexes,
    #[serde(default)]
    pub runs_after: Vec<PluginName>,
    #[serde(default)]
    pub timeouts: Timeouts,
    #[serde(default)]
    pub potential_affects: Vec<Text>,
    #[serde(default)]
    pub settings: BTreeMap<SettingKey, SettingValue>,
    /// Defaults to `system` when `requires_sudo` is true, else `user`.
    #[serde(default)]
    scope: Option<Scope>,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub resources: Resources,
    /// The paths the plugin writes to, the first where its downloads land:
    /// their filesystems' free space is checked against its estimate
    /// before each of its units runs (docs/manifest.md, `writes`). Empty:
    /// no check, and no estimate before the units.
    #[serde(default)]
    pub writes: Writes,
    /// The plugin's own update policy (docs/manifest.md, `policy`): npm,
    /// pipx and cargo hold major versions. The configuration's
    /// `policy_overrides` come before it, its global `policy` after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicySettings>,
    /// What must hold after the plugin's update for the run to be healthy
    /// (docs/manifest.md, `health`).
    #[serde(default)]
    pub health: Option<HealthSpec>,
    /// The plugin implements the protocol's `rollback` command.
    #[serde(default)]
    pub supports_rollback: bool,
}

fn yes() -> bool {
    true
}

impl Manifest {
    pub fn scope(&self) -> Scope {
        self.scope.unwrap_or(if self.requires_sudo {
            Scope::System
        } else {
            Scope::User
        })
    }

    /// The phases that become units, in execution order.
    pub fn unit_phases(&self) -> &'static [Phase] {
        if self.can_separate_download {
            &[Phase::Download, Phase::Update]
        } else {
            &[Phase::Update]
        }
    }
}

/// A manifest's `health:`: checks of the plugin's own that the health
/// check after a run adds to its built-in ones.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HealthSpec {
    /// Units that must be active after the plugin's update.
    #[serde(default)]
    pub units: Vec<UnitName>,
    /// Programs that must exit 0; each gets the trust checks of the
    /// plugin's executable.
    #[serde(default)]
    pub exec: Vec<ExecPath>,
    /// Each check's timeout; `safety.health.timeout` when absent.
    #[serde(
        default,
        with = "crate::values::check_timeout",
        skip_serializing_if = "Option::is_none"
    )]
    pub timeout: Option<std::time::Duration>,
}

/// Mutex names per phase (used for both held mutexes and dependencies).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseMutexes {
    #[serde(default)]
    pub estimate: Vec<MutexName>,
    #[serde(default)]
    pub download: Vec<MutexName>,
    #[serde(default)]
    pub update: Vec<MutexName>,
}

impl PhaseMutexes {
    pub fn get(&self, phase: Phase) -> &[MutexName] {
        match phase {
            Phase::Estimate => &self.estimate,
            Phase::Download => &self.download,
            Phase::Update => &self.update,
        }
    }
}

/// Per-phase timeouts in seconds.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    #[serde(default = "Timeouts::default_is_applicable")]
    pub is_applicable: Seconds,
    #[serde(default = "Timeouts::default_estimate_update")]
    pub estimate_update: Seconds,
    #[serde(default = "Timeouts::default_download")]
    pub download: Seconds,
    #[serde(default = "Timeouts::default_update")]
    pub update: Seconds,
}

impl Timeouts {
    fn secs(v: i64) -> Seconds {
        Seconds::new(v).expect("default timeout in range")
    }
    fn default_is_applicable() -> Seconds {
        Self::secs(10)
    }
    fn default_estimate_update() -> Seconds {
        Self::secs(120)
    }
    fn default_download() -> Seconds {
        Self::secs(1800)
    }
    fn default_update() -> Seconds {
        Self::secs(3600)
    }

    pub fn for_phase(&self, phase: Phase) -> Seconds {
        match phase {
            Phase::Estimate => self.estimate_update,
            Phase::Download => self.download,
            Phase::Update => self.update,
        }
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            is_applicable: Self::default_is_applicable(),
            estimate_update: Self::default_estimate_update(),
            download: Self::default_download(),
            update: Self::default_update(),
        }
    }
}

/// Per-unit cgroup and scheduling limits.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    pub memory_max: Option<ByteSize>,
    pub cpu_weight: Option<Weight>,
    pub io_weight: Option<Weight>,
    pub nice: Option<Nice>,
}
