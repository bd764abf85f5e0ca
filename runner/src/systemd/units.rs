//! The plugin units systemd has loaded and the jobs it has queued.

use update_all_core::Phase;
use zbus::OwnedObjectPath;

/// A plugin unit as loaded by systemd.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginUnit {
    /// `update-all-apt-download.service`.
    pub name: String,
    pub path: OwnedObjectPath,
    pub plugin: String,
    pub phase: Phase,
}

/// A job systemd has queued or is running.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    pub id: u32,
    pub unit: String,
    /// `start`, `stop`, ...
    pub kind: String,
    /// `waiting` or `running`.
    pub state: String,
}
