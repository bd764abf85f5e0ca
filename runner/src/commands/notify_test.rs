//! `update-all notify-test` (hidden): announces a made-up run, so the
//! notifications can be tried and tested without running any plugin.

use crate::cli::NotifyTestArgs;
use crate::notify;
use crate::summary::RunSummary;
use std::process::ExitCode;
use std::time::Duration;
use update_all_core::Scope;

pub fn run(scope: Scope, args: &NotifyTestArgs) -> ExitCode {
    if let Some(uid) = args.covered {
        println!("{}", notify::covered_by_graphical(uid));
        return ExitCode::SUCCESS;
    }
    let summary = RunSummary {
        succeeded: args.succeeded.clone(),
        failed: args.failed.clone(),
        skipped: args.skipped.clone(),
        duration: Duration::from_secs_f64(args.duration.max(0.0)),
    };
    notify::announce(&summary, &[], scope, args.audience);
    ExitCode::SUCCESS
}
