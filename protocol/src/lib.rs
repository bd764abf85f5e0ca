//! The plugin protocol of update-all ([docs/plugin-protocol.md]) as types,
//! and the parsers that check a plugin's answers against it.
//!
//! - [`Command`]: the commands a plugin answers, their time limits and the
//!   exit statuses each may end with;
//! - [`Document`]: the one JSON document of the JSON commands (its error
//!   codes that update-all acts on are in [`codes`]), and
//!   [`Estimate`], the data of `estimate-update`, and [`Applied`], that of
//!   `download` and `update`, and [`RolledBack`], that of the optional
//!   `rollback` ([`RollbackAnswer`]);
//! - [`progress_status`]: a progress line of stderr as the unit's status
//!   text;
//! - [`PluginRun`]: one finished plugin command (exit, stdout, stderr),
//!   however it was run; its parsers ([`PluginRun::estimate`],
//!   [`PluginRun::yes_no`], …) return what the plugin said, or a
//!   [`ProtocolError`] that names the plugin and the command, says what is
//!   wrong and what to do about it, and quotes what the plugin printed.
//!
//! Documents are read with serde, through `serde_path_to_error`, so that a
//! wrong value is named by its path, as in
//!
//! ```text
//! `data.packages_to_update[3].download_size_bytes` is "12 MB"; it must be a whole number of bytes or null
//! ```
//!
//! Unknown keys are ignored everywhere, as the protocol lets plugins add
//! their own.
//!
//! This crate runs nothing: the runner starts plugins (by hand or in
//! transient units) and hands the result here.
//!
//! [docs/plugin-protocol.md]: https://github.com/update-all/update-all/blob/main/docs/plugin-protocol.md

mod answers;
mod applied;
pub mod codes;
mod command;
mod document;
mod error;
mod estimate;
mod fields;
mod plugin_run;
mod progress;
mod rolled_back;

pub use answers::{Health, RollbackAnswer};
pub use applied::{Applied, HeldBack};
pub use command::Command;
pub use document::{Document, ErrorInfo, Status};
pub use error::{excerpt, Problem, ProtocolError};
pub use estimate::{Estimate, EstimateAnswer, Package};
pub use plugin_run::{Exit, PluginRun};
pub use progress::{progress_status, STATUS_MAX};
pub use rolled_back::{NotRestored, Restored, RolledBack, ROLLBACK_FILE_VAR};
