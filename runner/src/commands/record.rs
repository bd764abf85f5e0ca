//! `update-all record` (hidden): the statistics recorder, run by
//! `update-all-recorder.service`. Every plugin unit wants that service and
//! starts after it, so every run is recorded however it was started.
//!
//! The process is `recorder::session` (subscribe, open the database,
//! pick the run, catch up, tell systemd it is ready, record each plugin
//! unit as its job ends, exit 0 when no job of the run is left); how each
//! unit is recorded is `recorder`. This command only runs it and, when
//! anything ran, notifies everyone logged in graphically; after a system
//! run it applies the reboot policy (`crate::reboot::apply`).
//!
//! An unusable database does not stop the run: the recorder says which
//! file and what to do, and keeps watching without recording.

use crate::cli::RecordArgs;
use crate::output::FAILURE;
use std::process::ExitCode;
use update_all_core::Scope;

pub fn run(scope: Scope, _args: &RecordArgs) -> ExitCode {
    match zbus::block_on(crate::recorder::session::record(scope)) {
        Ok((summary, reboot)) => {
            // However the run was started, everyone logged in graphically
            // hears how it went, and of a reboot it left needed.
            let ran = summary.succeeded.len() + summary.failed.len() + summary.skipped.len();
            if ran > 0 {
                let audience = crate::notify::Audience::GraphicalUsers;
                crate::notify::announce(&summary, &reboot.reasons, scope, audience);
            }
            // The reboot policy: here, since every run ends here (the
            // timer's, `run`'s, a plain start of update-all.target).
            if scope == Scope::System {
                let config = crate::config::load(scope);
                // A plugin's command ran (skips do not count).
                let updated = ran > summary.skipped.len();
                crate::reboot::apply(&config.reboot, &config.paths.runner, &reboot, updated);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::from(FAILURE)
        }
    }
}
