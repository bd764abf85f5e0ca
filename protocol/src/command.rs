//! The commands a plugin answers ([docs/plugin-protocol.md, Commands]),
//! with their time limits outside units and the exit statuses each may end
//! with.
//!
//! [docs/plugin-protocol.md, Commands]: https://github.com/update-all/update-all/blob/main/docs/plugin-protocol.md#commands

use crate::document::{Document, Status};
use serde::{Serialize, Serializer};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;
use update_all_core::manifest::Timeouts;
use update_all_core::Phase;

/// A plugin command. Download, update and self-* are here for
/// completeness; the runner runs them only inside units.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Command {
    IsApplicable,
    EstimateUpdate,
    CanSeparateDownload,
    Download,
    Update,
    DoesRequireSudo,
    SudoProgramsPaths,
    Version,
    SelfUpdate,
    SelfUpgrade,
    Validate,
    /// `estimate-update-mutexes`, `download-mutexes`, `update-mutexes`.
    Mutexes(Phase),
    /// `estimate-update-dependency`, `download-dependency`, `update-dependency`.
    Dependency(Phase),
    RunsAfter,
    /// The optional `rollback`: return the packages named in
    /// `UPDATE_ALL_ROLLBACK_FILE` to their versions before the run.
    Rollback,
}

impl Command {
    /// Every command, in the order of the protocol's table.
    pub const ALL: [Command; 19] = [
        Command::IsApplicable,
        Command::EstimateUpdate,
        Command::CanSeparateDownload,
        Command::Download,
        Command::Update,
        Command::DoesRequireSudo,
        Command::SudoProgramsPaths,
        Command::Version,
        Command::SelfUpdate,
        Command::SelfUpgrade,
        Command::Validate,
        Command::Mutexes(Phase::Estimate),
        Command::Mutexes(Phase::Download),
        Command::Mutexes(Phase::Update),
        Command::Dependency(Phase::Estimate),
        Command::Dependency(Phase::Download),
        Command::Dependency(Phase::Update),
        Command::RunsAfter,
        Command::Rollback,
    ];

    /// The dynamic mutex commands, in the order they are asked.
    pub const DYNAMIC: [Command; 7] = [
        Command::Mutexes(Phase::Estimate),
        Command::Mutexes(Phase::Download),
        Command::Mutexes(Phase::Update),
        Command::Dependency(Phase::Estimate),
        Command::Dependency(Phase::Download),
        Command::Dependency(Phase::Update),
        Command::RunsAfter,
    ];

    /// The command's name on the plugin's command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Command::IsApplicable => "is-applicable",
            Command::EstimateUpdate => "estimate-update",
            Command::CanSeparateDownload => "can-separate-download",
            Command::Download => "download",
            Command::Update => "update",
            Command::DoesRequireSudo => "does-require-sudo",
            Command::SudoProgramsPaths => "sudo-programs-paths",
            Command::Version => "version",
            Command::SelfUpdate => "self-update",
            Command::SelfUpgrade => "self-upgrade",
            Command::Validate => "validate",
            Command::Mutexes(Phase::Estimate) => "estimate-update-mutexes",
            Command::Mutexes(Phase::Download) => "download-mutexes",
            Command::Mutexes(Phase::Update) => "update-mutexes",
            Command::Dependency(Phase::Estimate) => "estimate-update-dependency",
            Command::Dependency(Phase::Download) => "download-dependency",
            Command::Dependency(Phase::Update) => "update-dependency",
            Command::RunsAfter => "runs-after",
            Command::Rollback => "rollback",
        }
    }

    /// The command's time limit and the manifest key that sets it. The
    /// quick questions share `timeouts.is_applicable`; `validate` and the
    /// dynamic mutex commands may redo the estimate's work, so they get
    /// `timeouts.estimate_update`; `rollback` installs packages as
    /// `update` does, and gets `timeouts.update`.
    pub fn timeout(self, t: &Timeouts) -> (Duration, &'static str) {
        let (seconds, key) = match self {
            Command::IsApplicable
            | Command::CanSeparateDownload
            | Command::DoesRequireSudo
            | Command::SudoProgramsPaths
            | Command::Version => (t.is_applicable, "timeouts.is_applicable"),
            Command::EstimateUpdate
            | Command::Validate
            | Command::Mutexes(_)
            | Command::Dependency(_)
            | Command::RunsAfter => (t.estimate_update, "timeouts.estimate_update"),
            Command::Download => (t.download, "timeouts.download"),
            Command::Update | Command::SelfUpdate | Command::SelfUpgrade | Command::Rollback => {
                (t.update, "timeouts.update")
            }
        };
        (Duration::from_secs(seconds.get().unsigned_abs()), key)
    }

    /// The exit statuses the protocol allows, and the same as people read
    /// them.
    pub(crate) fn allowed_exits(self) -> (&'static [i32], &'static str) {
        match self {
            Command::IsApplicable | Command::CanSeparateDownload | Command::DoesRequireSudo => {
                (&[0, 1], "0 for yes, 1 for no")
            }
            Command::EstimateUpdate | Command::SelfUpdate | Command::SelfUpgrade => (
                &[0, 1, 2],
                "0 success, 1 not applicable or not supported, 2 error",
            ),
            Command::Download | Command::Update | Command::Validate | Command::Rollback => {
                (&[0, 1], "0 success, 1 failure")
            }
            Command::SudoProgramsPaths
            | Command::Version
            | Command::Mutexes(_)
            | Command::Dependency(_)
            | Command::RunsAfter => (&[0], "only 0"),
        }
    }

    /// The exit status that goes with a document (docs/plugin-protocol.md,
    /// "The status and the exit status agree").
    pub(crate) fn exit_for(self, doc: &Document) -> i32 {
        match (self, doc.status) {
            (_, Status::Success) => 0,
            (Command::EstimateUpdate, Status::Error) => 2,
            (Command::SelfUpdate | Command::SelfUpgrade, Status::Error) => {
                match doc.error.as_ref() {
                    Some(e) if e.code == "NOT_SUPPORTED" => 1,
                    _ => 2,
                }
            }
            _ => 1,
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A command by its name on the command line: `"update-mutexes"`.
impl FromStr for Command {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        Command::ALL
            .into_iter()
            .find(|c| c.as_str() == name)
            .ok_or_else(|| format!("`{name}` is not a command of the plugin protocol"))
    }
}

impl Serialize for Command {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_go_both_ways() {
        for command in Command::ALL {
            assert_eq!(command.as_str().parse::<Command>(), Ok(command));
        }
        assert!(Command::DYNAMIC.iter().all(|c| Command::ALL.contains(c)));
        assert!("upgrade".parse::<Command>().is_err());
    }
}
