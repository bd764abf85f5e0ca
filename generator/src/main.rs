//! `update-all-generator NORMAL [EARLY LATE]`: writes one unit per plugin
//! phase under `update-all.target` (see systemd.generator(7)).
//!
//! It never blocks boot: bad manifests are logged and left out, and the
//! exit status is non-zero only for unusable arguments.

mod escape;
mod log;
mod render;
mod safety;

use std::path::PathBuf;
use std::process::ExitCode;
use update_all_core::Env;

const USAGE: &str = "usage: update-all-generator NORMAL_DIR [EARLY_DIR LATE_DIR]";

fn main() -> ExitCode {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let env = Env::from_process(None);
    let mut log = log::Log::open(env.scope);
    let out = match args.as_slice() {
        [normal] | [normal, _, _] if normal.is_dir() => normal,
        [normal] | [normal, _, _] => {
            log.line(
                3,
                &format!("{}: not a directory; {USAGE}", normal.display()),
            );
            return ExitCode::from(1);
        }
        _ => {
            log.line(3, USAGE);
            return ExitCode::from(1);
        }
    };
    let plan = update_all_core::load(&env);
    for d in &plan.warnings {
        log.diagnostic(d);
    }
    for refusal in &plan.refused {
        for d in &refusal.reasons {
            log.diagnostic(d);
        }
    }
    if let Err(e) = render::write(&plan, env.scope, out) {
        // Still exit 0: a half-written tree is better than a failed boot
        // transaction, and the message says what happened.
        log.line(
            3,
            &format!("cannot write units into {}: {e}", out.display()),
        );
    }
    ExitCode::SUCCESS
}
