//! `update-all`: plans, starts and watches the systemd units of every
//! updater. Each subcommand lives in its own module under `commands`.

mod check;
mod cli;
mod commands;
mod config;
mod health;
mod inhibit;
mod invoker;
mod log;
mod notify;
mod output;
mod plugin;
mod reboot;
mod recorder;
mod retry;
mod rollback;
mod run;
mod schedule;
mod sd_notify;
mod snapshot;
mod stats;
mod summary;
mod systemd;
mod user_manager;
mod watch;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    log::init(match cli.command {
        cli::Command::Run(_) | cli::Command::Retry(_) | cli::Command::Resume(_) => {
            log::Journal::Problems
        }
        _ => log::Journal::Nothing,
    });
    let scope = cli.scope.resolve();
    if scope == update_all_core::Scope::User {
        user_manager::find_own();
    }
    // A broken configuration is said before anything runs on it.
    if matches!(
        cli.command,
        cli::Command::Run(_)
            | cli::Command::Retry(_)
            | cli::Command::Resume(_)
            | cli::Command::Check(_)
            | cli::Command::Status(_)
            | cli::Command::Schedule(_)
            | cli::Command::Record(_)
    ) {
        config::warn_if_broken(scope);
    }
    match cli.command {
        cli::Command::Schedule(command) => commands::schedule::run(scope, &command),
        cli::Command::Plan(args) => commands::plan::run(scope, &args),
        cli::Command::Status(args) => commands::status::run(scope, &args),
        cli::Command::Reboot(args) => commands::reboot::run(scope, &args),
        cli::Command::History(args) => commands::history::run(scope, &args),
        cli::Command::Stats(args) => commands::stats::run(scope, &args),
        cli::Command::Record(args) => commands::record::run(scope, &args),
        cli::Command::Run(args) => commands::run::run(scope, cli.scope.explicit(), &args),
        cli::Command::Cancel(args) => commands::cancel::run(scope, &args),
        cli::Command::Retry(args) => commands::retry::run(scope, &args),
        cli::Command::Resume(args) => commands::resume::run(scope, &args),
        cli::Command::Rollback(args) => commands::rollback::run(scope, &args),
        cli::Command::Check(args) => commands::check::run(scope, &args),
        cli::Command::Completions(args) => commands::completions::run(&args),
        cli::Command::Man(args) => commands::man::run(&args),
        #[cfg(debug_assertions)]
        cli::Command::NotifyTest(args) => commands::notify_test::run(scope, &args),
        cli::Command::NotifyDeliver(args) => notify::send(&args.summary, &args.body, args.critical),
        cli::Command::PluginExec(args) => commands::plugin_exec::run(scope, &args),
        cli::Command::Safety { action } => commands::safety::run(scope, &action),
        cli::Command::Snapshots(args) => commands::snapshots::run(scope, &args),
        cli::Command::Plugins(args) => commands::plugins::run(scope, &args),
    }
}
