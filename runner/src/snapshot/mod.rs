//! Snapshots around a run's updates (docs/safety.md, "Snapshots"): the pre
//! snapshot before the first update unit starts and the post snapshot
//! after the last one ends, taken by `update-all-snapshot-pre.service` and
//! `update-all-snapshot-post.service` (`update-all safety snapshot`).
//!
//! - [`detect`]: which backend takes them, for each path of
//!   `safety.paths`: snapper when one of its configurations has the path
//!   as its SUBVOLUME, plain btrfs when the path is a btrfs subvolume,
//!   none otherwise (`safety.snapshot` can force one, or turn them off);
//! - [`snapper`]: pre/post pairs as snap-pac makes them, with the run's
//!   id in their userdata, so a run finds its pair with `snapper --jsonout
//!   list` even after a crash;
//! - [`btrfs`]: read-only snapshots in `<path>/.update-all-snapshots/`;
//! - [`important`]: whether a run's packages touch the kernel, the C
//!   library, systemd or the boot loader (snapper's `important=yes`);
//! - [`unit`]: what the two units do, each snapshot recorded in the
//!   statistics (`stats::snapshots`) and said in the journal;
//! - [`notes`]: what a run's summary says about its snapshots.

pub mod btrfs;
pub mod detect;
pub mod important;
pub mod notes;
pub mod snapper;
pub mod unit;

mod command;

use update_all_core::names;

/// The snapshot before a run's updates, or the one after them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Pre,
    Post,
}

impl Phase {
    /// As the records and snapper's snapshot types say it.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pre => "pre",
            Phase::Post => "post",
        }
    }

    /// The unit that takes it.
    pub fn unit(self) -> &'static str {
        match self {
            Phase::Pre => names::SNAPSHOT_PRE,
            Phase::Post => names::SNAPSHOT_POST,
        }
    }

    /// "before the updates" / "after the updates", for messages.
    pub fn when(self) -> &'static str {
        match self {
            Phase::Pre => "before the updates",
            Phase::Post => "after the updates",
        }
    }
}
