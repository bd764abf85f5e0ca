//! `update-all run [--only a,b] [--json]`: starts `update-all.target` (or
//! just the named plugins' units) and watches every plugin unit's job and
//! state through systemd's D-Bus signals until the run is over.
//!
//! systemd does the work: ordering, mutexes, limits. This command only
//! hands its arguments down: `run` covers the parts of the invocation
//! (system, users) after their pre-flight conditions, and each part is
//! started and followed by `watch`. A run already in progress is followed
//! instead of started again; Ctrl-C (or SIGTERM) stops watching and leaves
//! the updates running.
//!
//! Exit status: see `run::exit` (0 success, 1 something failed, 2 could
//! not start, 75 skipped by a pre-flight condition, 130 detached).

use crate::cli::RunArgs;
use std::process::ExitCode;
use update_all_core::Scope;

/// `update-all run`: each service manager the invocation covers in turn,
/// after its pre-flight conditions (see `run::parts`); `scope` is the
/// default one, for `--dry-run`.
pub fn run(scope: Scope, explicit: Option<Scope>, args: &RunArgs) -> ExitCode {
    if args.dry_run {
        return super::check::dry_run(scope, args);
    }
    let options = crate::run::Options {
        force: args.force,
        scheduled: args.scheduled,
        only: args.only.clone(),
        json: args.json,
        check: args.check,
        retry: None,
    };
    ExitCode::from(crate::run::parts::run(explicit, &options))
}
