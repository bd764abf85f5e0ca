//! `safety:` in config.yaml: the snapshots taken around a run, the health
//! checks after it and what happens when they fail (see
//! docs/configuration.md, "Safety", and docs/safety.md). Parsed and merged
//! here; the generator orders the safety units by it and the runner's
//! `snapshot`, `health` and `rollback` modules act on it.

use crate::manifest::Scope;
use crate::names;
use crate::values::{AbsPath, Bounded, Span};
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// `safety:` as one file writes it; absent keys leave what lower files set.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SafetyFile {
    snapshot: Option<SnapshotChoice>,
    paths: Option<SnapshotPaths>,
    snapshot_failure: Option<SnapshotFailure>,
    #[serde(default)]
    health: HealthFile,
    rollback: Option<RollbackMode>,
    boot_check_attempts: Option<Bounded<1, 10>>,
}

/// `safety.health:` as one file writes it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HealthFile {
    settle: Option<Span<0, 3600>>,
    timeout: Option<Span<1, 3600>>,
}

/// Which snapshot backend takes the pre and post snapshots of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SnapshotChoice {
    /// snapper when one of its configurations covers a path of `paths`,
    /// else plain btrfs snapshots when the path is a btrfs subvolume, else
    /// none (then only the plugins' own rollback is possible).
    #[default]
    Auto,
    Snapper,
    Btrfs,
    /// No snapshots: the snapshot units are not pulled into a run.
    Off,
}

impl SnapshotChoice {
    /// As written in config.yaml.
    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotChoice::Auto => "auto",
            SnapshotChoice::Snapper => "snapper",
            SnapshotChoice::Btrfs => "btrfs",
            SnapshotChoice::Off => "off",
        }
    }
}

/// What a failed pre snapshot does to the run's updates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SnapshotFailure {
    /// Fail open: the updates run all the same (their units `Wants=` the
    /// pre unit), and the run's summary warns.
    #[default]
    Continue,
    /// Fail closed: no update starts (their units `Requires=` it).
    Stop,
}

impl SnapshotFailure {
    /// As written in config.yaml.
    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotFailure::Continue => "continue",
            SnapshotFailure::Stop => "stop",
        }
    }
}

/// Whether a failed health check or boot check rolls the run back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RollbackMode {
    /// At once, through the ladder of docs/safety.md.
    #[default]
    Auto,
    /// Only by hand (`update-all rollback`); the failure is reported.
    Manual,
    /// Never, and no health check runs after a run.
    Off,
}

impl RollbackMode {
    /// As written in config.yaml.
    pub fn as_str(self) -> &'static str {
        match self {
            RollbackMode::Auto => "auto",
            RollbackMode::Manual => "manual",
            RollbackMode::Off => "off",
        }
    }
}

/// `safety.health`: when the checks after a run run, and how long each may
/// take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HealthSettings {
    /// The stability window: the checks run once at once and again after
    /// it, so that a service that crashes a few seconds after its start is
    /// caught. Zero: they run once.
    pub settle: Duration,
    /// A check's timeout (a health.d script, a manifest's `health.exec`)
    /// unless the manifest sets its own.
    pub timeout: Duration,
}

impl Default for HealthSettings {
    fn default() -> Self {
        HealthSettings {
            settle: Duration::from_secs(30),
            timeout: Duration::from_secs(60),
        }
    }
}

/// The merged `safety:` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Safety {
    pub snapshot: SnapshotChoice,
    /// Absolute paths whose filesystems are snapshot: a snapper
    /// configuration whose SUBVOLUME is one of them, or the btrfs
    /// subvolume at it.
    pub paths: Vec<String>,
    pub snapshot_failure: SnapshotFailure,
    pub health: HealthSettings,
    pub rollback: RollbackMode,
    /// How many boots the boot check gets (a boot counter, as greenboot's)
    /// before it stops retrying.
    pub boot_check_attempts: u32,
}

impl Default for Safety {
    fn default() -> Self {
        Safety {
            snapshot: SnapshotChoice::Auto,
            paths: vec!["/".to_owned()],
            snapshot_failure: SnapshotFailure::Continue,
            health: HealthSettings::default(),
            rollback: RollbackMode::Auto,
            boot_check_attempts: 3,
        }
    }
}

impl Safety {
    pub(crate) fn overlay(&mut self, top: SafetyFile) {
        self.snapshot = top.snapshot.unwrap_or(self.snapshot);
        if let Some(SnapshotPaths(paths)) = top.paths {
            self.paths = paths;
        }
        self.snapshot_failure = top.snapshot_failure.unwrap_or(self.snapshot_failure);
        if let Some(settle) = top.health.settle {
            self.health.settle = settle.get();
        }
        if let Some(timeout) = top.health.timeout {
            self.health.timeout = timeout.get();
        }
        self.rollback = top.rollback.unwrap_or(self.rollback);
        if let Some(n) = top.boot_check_attempts {
            // 1 to 10, checked while parsing.
            self.boot_check_attempts = u32::try_from(n.get()).unwrap_or(1);
        }
    }

    /// Whether a run's update units are wrapped by the snapshot units.
    pub fn snapshots(&self) -> bool {
        self.snapshot != SnapshotChoice::Off
    }

    /// Whether the health check runs after a run: not with `rollback: off`,
    /// which turns the checks and their consequence off together.
    pub fn health_checks(&self) -> bool {
        self.rollback != RollbackMode::Off
    }

    /// Whether the safety units are pulled into a run at all.
    pub fn any(&self) -> bool {
        self.snapshots() || self.health_checks()
    }

    /// Whether a run of `scope` takes snapshots: snapshots belong to the
    /// system (a user manager has no snapshot units).
    pub fn snapshots_in(&self, scope: Scope) -> bool {
        scope == Scope::System && self.snapshots()
    }

    /// The safety units a run of `scope` pulls in when its plan has an
    /// update unit, in the order the run meets them (the generator links
    /// them into update-all.target; `update-all plan` lists them). The
    /// rollback is not among them: only a failed check starts it.
    pub fn units(&self, scope: Scope) -> Vec<&'static str> {
        let mut units = Vec::new();
        if self.snapshots_in(scope) {
            units.extend([names::SNAPSHOT_PRE, names::SNAPSHOT_POST]);
        }
        if self.health_checks() {
            units.push(names::HEALTH);
        }
        units
    }

    /// As the "in effect" line says it.
    pub fn describe(&self) -> String {
        format!(
            "snapshot {} of [{}] ({} on failure), health settle {:?} timeout {:?}, \
             rollback {}, boot_check_attempts {}",
            self.snapshot.as_str(),
            self.paths.join(", "),
            self.snapshot_failure.as_str(),
            self.health.settle,
            self.health.timeout,
            self.rollback.as_str(),
            self.boot_check_attempts
        )
    }
}

/// `safety.paths`: at least one absolute path.
#[derive(Debug)]
struct SnapshotPaths(Vec<String>);

impl<'de> Deserialize<'de> for SnapshotPaths {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let paths = Vec::<AbsPath>::deserialize(d)?;
        if paths.is_empty() {
            return Err(de::Error::custom(
                "no path given: list at least one, such as [/], or set snapshot: off",
            ));
        }
        Ok(SnapshotPaths(
            paths.iter().map(|p| p.as_str().to_owned()).collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merged(files: &[&str]) -> Result<Safety, String> {
        let mut safety = Safety::default();
        for text in files {
            let file: SafetyFile = serde_norway::from_str(text).map_err(|e| e.to_string())?;
            safety.overlay(file);
        }
        Ok(safety)
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let s = Safety::default();
        assert_eq!(s.snapshot.as_str(), "auto");
        assert_eq!(s.paths, ["/"]);
        assert_eq!(s.snapshot_failure.as_str(), "continue");
        assert_eq!(s.health.settle, Duration::from_secs(30));
        assert_eq!(s.health.timeout, Duration::from_secs(60));
        assert_eq!(s.rollback.as_str(), "auto");
        assert_eq!(s.boot_check_attempts, 3);
        assert!(s.snapshots() && s.health_checks() && s.any());
        assert_eq!(
            s.units(Scope::System),
            [names::SNAPSHOT_PRE, names::SNAPSHOT_POST, names::HEALTH]
        );
        assert_eq!(s.units(Scope::User), [names::HEALTH]);
    }

    #[test]
    fn off_is_a_word_not_false() {
        let s = merged(&["snapshot: off\nrollback: off\n"]).unwrap();
        assert_eq!(s.snapshot, SnapshotChoice::Off);
        assert_eq!(s.rollback, RollbackMode::Off);
        assert!(!s.any());
        assert!(s.units(Scope::System).is_empty());
    }

    #[test]
    fn files_merge_key_by_key() {
        let s = merged(&[
            "snapshot: snapper\npaths: [/, /home]\nhealth:\n  settle: 2m\n",
            "snapshot_failure: stop\nhealth:\n  timeout: 45\nboot_check_attempts: 5\n",
        ])
        .unwrap();
        assert_eq!(s.snapshot, SnapshotChoice::Snapper);
        assert_eq!(s.paths, ["/", "/home"]);
        assert_eq!(s.snapshot_failure, SnapshotFailure::Stop);
        assert_eq!(s.health.settle, Duration::from_secs(120));
        assert_eq!(s.health.timeout, Duration::from_secs(45));
        assert_eq!(s.rollback, RollbackMode::Auto);
        assert_eq!(s.boot_check_attempts, 5);
        let s = merged(&["health:\n  settle: 0\n"]).unwrap();
        assert_eq!(s.health.settle, Duration::ZERO);
        assert_eq!(s.health.timeout, Duration::from_secs(60));
    }

    #[test]
    fn wrong_values_are_refused_saying_why() {
        for (text, why) in [
            ("snapshot: zfs\n", "unknown variant `zfs`"),
            ("snapshot_failure: abort\n", "unknown variant `abort`"),
            ("rollback: always\n", "unknown variant `always`"),
            ("paths: [home]\n", "\"home\" is not an absolute path"),
            ("paths: []\n", "no path given"),
            ("health:\n  settle: soon\n", "invalid duration \"soon\""),
            (
                "health:\n  timeout: 0\n",
                "0 s is out of range: use 1s to 3600s",
            ),
            ("health:\n  timeout: 2h\n", "2h is out of range"),
            ("health:\n  setle: 1s\n", "unknown field `setle`"),
            ("boot_check_attempts: 0\n", "0 is out of range: use 1 to 10"),
            ("snapshots: off\n", "unknown field `snapshots`"),
        ] {
            let msg = merged(&[text]).unwrap_err();
            assert!(msg.contains(why), "{text}: {msg}");
        }
    }

    #[test]
    fn describe_names_every_key() {
        assert_eq!(
            Safety::default().describe(),
            "snapshot auto of [/] (continue on failure), health settle 30s timeout 60s, \
             rollback auto, boot_check_attempts 3"
        );
    }
}
