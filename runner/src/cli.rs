//! The command line: every subcommand and its options (clap derive).
//!
//! Exit statuses shared by every subcommand: 0 success, 1 the command's own
//! failure (for `plan`: a manifest was refused), 2 a usage error (clap).

use clap::{Args, Parser, Subcommand};
use std::ffi::OsString;
use update_all_core::Scope;

#[derive(Debug, Parser)]
#[command(
    name = "update-all",
    version,
    about = "Update the whole system: every package manager, as systemd units",
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub scope: ScopeArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// When the timer runs every plugin: enable, disable, status
    ///
    /// `update-all.timer` (weekly by default, with a fixed random delay of
    /// up to 2 hours) starts update-all.service, which is `update-all run
    /// --scheduled`. Exits 1 when systemd refuses or a calendar expression
    /// is invalid.
    #[command(display_order = 8)]
    #[command(subcommand)]
    Schedule(ScheduleCommand),
    /// Show the units that would run, in waves, with what each runs after and why
    ///
    /// Also lists the plugins left out: refused (with file, line and column),
    /// disabled, masked, or of the other scope. Exits 1 when any manifest is
    /// refused, so plugin authors can run it in CI against a tree given by
    /// UPDATE_ALL_ROOT.
    #[command(display_order = 6)]
    Plan(PlanArgs),
    /// The run in progress, or else the last one: each unit's outcome and time
    ///
    /// Units that run or wait come from systemd, finished ones from the
    /// statistics database. Exits 1 when the database cannot be read.
    #[command(display_order = 3)]
    Status(StatusArgs),
    /// The last recorded plugin unit runs, oldest first
    ///
    /// Each with its run, result and exit status, duration, CPU time and
    /// peak memory. Exits 1 when the statistics database cannot be read.
    #[command(display_order = 4)]
    History(HistoryArgs),
    /// Per plugin and phase: runs, success rate, median and p90 duration,
    /// mean CPU time, mean and largest peak memory
    ///
    /// Exits 1 when the statistics database cannot be read.
    #[command(display_order = 5)]
    Stats(StatsArgs),
    /// Internal: the statistics recorder run by update-all-recorder.service
    #[command(hide = true)]
    Record(RecordArgs),
    /// Start every plugin unit (update-all.target) and watch them to the end
    ///
    /// Shows a row per plugin unit with its state, elapsed time and, from
    /// past runs, an estimate of the time left: a live table on a terminal
    /// (in plan order; on a short terminal the finished rows fold into a
    /// count), one line per event otherwise, JSON lines with --json. A run
    /// already in progress is followed instead of started again. Ctrl-C
    /// stops watching and leaves the updates running.
    ///
    /// Without --system or --user, root runs the system's plugins, then those
    /// of the user who ran sudo (or root's own, if its user manager runs);
    /// anyone else runs their own user plugins. The configuration's
    /// conditions (battery, metered network, network online) are checked
    /// first: a run they skip starts nothing and is recorded.
    ///
    /// Exit status: 0 every unit succeeded or was skipped; 1 something
    /// failed, timed out, ran out of memory or was cancelled; 2 the run could
    /// not start (not authorized, units not installed, bus unreachable);
    /// 75 skipped by a condition (--force runs anyway); 130 detached by
    /// Ctrl-C. With several parts, the worst of theirs.
    #[command(display_order = 0)]
    Run(RunArgs),
    /// Stop the run in progress, its running and its queued units
    ///
    /// Exits 0 when the run was stopped, and also when there was none
    /// ("no run in progress"); 2 when systemd cannot be reached or refuses.
    #[command(display_order = 2)]
    Cancel(CancelArgs),
    /// Whether the machine needs a reboot, and the reboot the policy scheduled
    ///
    /// Without options: whether a reboot is needed and why (looked at now:
    /// the plugins' answers, /run/reboot-required, needrestart, dnf,
    /// zypper, a removed running kernel), the pending update-all-reboot.timer
    /// that the configuration's reboot policy left, and what holds a reboot
    /// back (users logged in, block inhibitor locks). --cancel stops the
    /// pending reboot; --now reboots with the policy's checks.
    ///
    /// Exit status: 0 shown, cancelled (also when none was pending) or
    /// rebooting; 1 --now was held back or refused; 2 systemd or logind
    /// cannot be reached.
    #[command(display_order = 10)]
    Reboot(RebootArgs),
    /// Run again what failed, was cancelled or never started in the last run
    ///
    /// Reads the last run (or --run ID) from the statistics database and
    /// starts, as one new run recorded as a retry of it, the units that
    /// failed or were cancelled there, with those that never started
    /// because of them: a plugin's update whose download failed, units
    /// still waiting when the run was cancelled. systemd orders them by
    /// their After= as in any run; a retried update unit brings its
    /// download unit along (Requires=). Units that succeeded or were
    /// skipped do not run again. It is followed as `update-all run --only`
    /// is (--json: the same JSON lines). The configuration's conditions are
    /// not checked: a retry is asked for by hand.
    ///
    /// Exit status as `update-all run`: 0 every retried unit succeeded or
    /// was skipped, and also when there was nothing to retry; 1 something
    /// failed again (or the database cannot be read, or there is no run
    /// ID); 2 the retry could not start (a run is in progress, not
    /// authorized, bus unreachable); 130 detached by Ctrl-C.
    #[command(display_order = 2)]
    Retry(RetryArgs),
    /// Run the plugins that a crash, a power loss or a reboot left unfinished
    ///
    /// The recorder writes each unit of a run down before it starts, so a
    /// run cut short is known at the next boot (`update-all status` shows
    /// it as interrupted). This starts, as one new run recorded as a resume
    /// of it, the units of every plugin that had not finished there: one
    /// cut short, or one that never started. Plugins that finished (however
    /// they ended) do not run again. With `resume: at-boot` in config.yaml,
    /// update-all-resume.service runs it at boot once the network is
    /// online. It is followed as `update-all run --only` is.
    ///
    /// Exit status as `update-all run`: 0 every resumed unit succeeded or
    /// was skipped, and also when nothing is to be resumed; 1 something
    /// failed (or the database cannot be read); 2 the resume could not
    /// start; 130 detached by Ctrl-C. With --pending: 0 when `resume:
    /// at-boot` is set and a run is to be resumed, else 1.
    #[command(display_order = 2)]
    Resume(ResumeArgs),
    /// Roll a run back: the plugins' own rollback, the snapshot pair's undo, a root rollback
    ///
    /// Takes the ladder of docs/safety.md for RUN (its number in
    /// `update-all history`; default: the last run), step by step until
    /// one is enough: the `rollback` command of each plugin the run updated
    /// that supports it, with the versions its estimate recorded; then
    /// `snapper undochange PRE..POST` of the run's snapshots (or the btrfs
    /// backend's restore of the files the run changed) and a restart of
    /// the services concerned; then, when / is a snapper btrfs root,
    /// `snapper rollback PRE` and a reboot by the reboot policy. Each step
    /// is recorded (`update-all history` shows the run as rolled back) and
    /// the users are told. A run is rolled back automatically at most once
    /// (update-all-rollback.service, after a failed health check, under
    /// `safety.rollback: auto`), and a rollback is never rolled back.
    ///
    /// Exit status: 0 rolled back (or, with --dry-run, shown); 1 a step
    /// failed, nothing could roll the run back, or a guard refused; 2 no
    /// such run, or the statistics database cannot be used. With
    /// --automatic, a refusal by `safety.rollback: manual` or `off` exits 0.
    #[command(display_order = 11)]
    Rollback(RollbackArgs),
    /// What each plugin would update: applicable, packages, download, time
    ///
    /// Runs every enabled plugin's is-applicable and estimate-update (and
    /// its dynamic mutex commands) in transient units, in parallel where
    /// the estimate mutexes allow. The time comes from past runs when
    /// there are any, else from the plugin's guess.
    ///
    /// Exit status (as `dnf check-update`): 0 nothing to update; 100
    /// updates available; 1 a plugin failed (the others are still
    /// reported) or the check could not run.
    #[command(display_order = 1)]
    Check(CheckArgs),
    /// Print the completion script for SHELL on standard output
    ///
    /// Packages install these already; for a hand-made setup, e.g.
    /// `update-all completions bash > ~/.local/share/bash-completion/completions/update-all`.
    #[command(display_order = 9)]
    Completions(CompletionsArgs),
    /// Internal: write the man pages generated from this command line into DIR
    #[command(hide = true)]
    Man(ManArgs),
    /// List, describe and validate the plugins of the scope
    ///
    /// `list`: every plugin, enabled, disabled or refused, and why. `info
    /// NAME`: its manifest as resolved, its units and its own answers.
    /// `validate [NAME]`: runs the plugin's commands that change nothing and
    /// checks them against the protocol; exits 1 when a plugin is invalid.
    #[command(display_order = 7)]
    Plugins(PluginsArgs),
    /// Send the end-of-run notification for a made-up run (for tests)
    ///
    /// Test scaffolding: only in debug builds (what `cargo test` runs),
    /// never in a release build.
    #[cfg(debug_assertions)]
    #[command(hide = true)]
    NotifyTest(NotifyTestArgs),
    /// Internal: the sender that notify starts as the recipient user
    #[command(hide = true)]
    NotifyDeliver(NotifyDeliverArgs),
    /// Internal: how plugin units run their plugin (progress becomes status text)
    #[command(hide = true)]
    PluginExec(PluginExecArgs),
    /// The snapshots taken around each run, by run
    ///
    /// For RUN (its number in `update-all history`), or else the last 10
    /// runs that have any: each snapshot's phase (pre, post), backend
    /// (snapper, btrfs), snapper configuration or btrfs subvolume, number
    /// or path, when it was taken, how long it took, and why it failed
    /// when it did. A run to which no backend applied shows "none": only
    /// per-plugin rollback was available (docs/safety.md).
    ///
    /// Exit status: 0 shown (also when there are none); 1 the statistics
    /// database cannot be read.
    #[command(display_order = 12)]
    Snapshots(SnapshotsArgs),
    /// Internal: the safety net's units (snapshots, health, boot check)
    #[command(hide = true)]
    Safety {
        #[command(subcommand)]
        action: SafetyAction,
    },
}

/// What a safety unit does (see docs/safety.md).
#[derive(Debug, Subcommand)]
pub enum SafetyAction {
    /// The snapshot units: --applies (ExecCondition=), pre, post
    ///
    /// Exit status: --applies 0 when a snapshot backend applies, 1 when
    /// none does or `safety.snapshot: off`; pre/post 0 taken (or no
    /// backend), 1 the snapshot failed.
    Snapshot {
        /// Take nothing: exit 0 when a snapshot backend applies, else 1.
        #[arg(long, conflicts_with = "phase")]
        applies: bool,
        /// Which snapshot of the run's pair to take.
        #[arg(value_enum, required_unless_present = "applies")]
        phase: Option<SnapshotPhase>,
    },
    /// The health unit: every health check, again after the stability window
    ///
    /// Exit status: 0 healthy, 1 unhealthy (each failed check is named in
    /// the journal; the unit's OnFailure= starts the rollback unit).
    Health,
    /// The boot check after a run that asked for a reboot: the same checks, once
    ///
    /// Exit status: --pending 0 when a run waits for this boot's check, 1
    /// when none does; otherwise 0 healthy (or nothing to check), 1
    /// unhealthy.
    BootCheck {
        /// Check nothing: exit 0 when a run waits for this boot's check.
        #[arg(long)]
        pending: bool,
    },
}

/// The snapshot before the updates of a run or the one after them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SnapshotPhase {
    Pre,
    Post,
}

/// Which systemd manager to act on; given before or after the subcommand.
#[derive(Debug, Args)]
pub struct ScopeArgs {
    /// The per-user plugins of the user's own service manager
    /// (default when not run as root); without XDG_RUNTIME_DIR, the one
    /// at /run/user/UID.
    #[arg(long, global = true, conflicts_with = "system")]
    pub user: bool,
    /// The system-wide plugins (default when run as root).
    #[arg(long, global = true)]
    pub system: bool,
}

impl ScopeArgs {
    /// The scope given by --system or --user, if one was.
    pub fn explicit(&self) -> Option<Scope> {
        if self.user {
            Some(Scope::User)
        } else if self.system {
            Some(Scope::System)
        } else {
            None
        }
    }

    /// The scope asked for, else system for root and user for everyone else.
    pub fn resolve(&self) -> Scope {
        if self.user {
            Scope::User
        } else if self.system || nix::unistd::geteuid().is_root() {
            Scope::System
        } else {
            Scope::User
        }
    }
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Only this plugin's runs.
    #[arg(long, value_name = "PLUGIN")]
    pub plugin: Option<String>,
    /// How many runs to show, the latest ones.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub last: usize,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RecordArgs {}

#[derive(Debug, Args)]
pub struct SnapshotsArgs {
    /// Only this run's snapshots (its number in `update-all history`).
    #[arg(value_name = "RUN")]
    pub run: Option<i64>,
    /// How many runs to show, the latest ones (without RUN).
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub last: usize,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Run even when the configuration's conditions say to skip the run
    /// (on battery, metered network) and without waiting for the network.
    #[arg(long)]
    pub force: bool,
    /// How update-all.service runs: a skip is recorded as the timer's, and
    /// with --system the logged-in users' plugins follow when the
    /// configuration asks for it.
    #[arg(long, hide = true)]
    pub scheduled: bool,
    /// Only these plugins (comma-separated names), with their download
    /// phase; in plan order.
    #[arg(long, value_delimiter = ',', value_name = "PLUGINS")]
    pub only: Vec<String>,
    /// One JSON object per line and event, then a summary object.
    #[arg(long)]
    pub json: bool,
    /// Check first (as `update-all check`) and order this run by the
    /// plugins' dynamic mutexes (runtime drop-ins, removed when it ends).
    #[arg(long)]
    pub check: bool,
    /// Show the plan and the check's result and change nothing; exits as
    /// `update-all check` does (with --json: one document).
    #[arg(long, conflicts_with = "check")]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct CancelArgs {}

#[derive(Debug, Args)]
pub struct RebootArgs {
    /// Stop the pending reboot (update-all-reboot.timer)
    #[arg(long, conflicts_with = "now")]
    pub cancel: bool,
    /// Reboot now, unless users logged in (see reboot.with_users) or a block
    /// inhibitor lock hold it back
    #[arg(long)]
    pub now: bool,
    /// Internal: run by update-all-reboot.service; held back, tell the
    /// users and exit 0, so that the timer tries again
    #[arg(long, hide = true, requires = "now")]
    pub from_timer: bool,
    /// Internal: the listener in a user's manager that offers "Reboot now"
    /// (update-all-reboot-offer.service, run as the user)
    #[arg(long, hide = true, conflicts_with_all = ["now", "cancel", "request"])]
    pub offer: bool,
    /// Internal: why the reboot is needed, as the offer says
    #[arg(long = "reason", hide = true, requires = "offer")]
    pub reasons: Vec<String>,
    /// Internal: answer a user's "Reboot now" on standard input and output
    /// (update-all-reboot-request@.service, Accept=yes)
    #[arg(long, hide = true, conflicts_with_all = ["now", "cancel"])]
    pub request: bool,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// Show what would be resumed and start nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// One JSON object per line and event, then a summary object (with
    /// --dry-run, or when there is nothing to resume: one document).
    #[arg(long)]
    pub json: bool,
    /// Start nothing: exit 0 when `resume: at-boot` is set and an
    /// interrupted run is to be resumed, else 1 (update-all-resume.service's
    /// ExecCondition=).
    #[arg(long, conflicts_with_all = ["dry_run", "json"])]
    pub pending: bool,
    /// Internal: tell the calling user, once per run, that an interrupted
    /// run awaits `update-all resume` (`resume: ask`;
    /// update-all-resume-notice.service in each user's manager)
    #[arg(long, hide = true, conflicts_with_all = ["dry_run", "json", "pending"])]
    pub notice: bool,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The run to roll back (its number in `update-all history`); default:
    /// the last run.
    #[arg(value_name = "RUN")]
    pub run: Option<i64>,
    /// Show the steps the ladder would take and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
    /// Run by update-all-rollback.service: under `safety.rollback`, at
    /// most once per run.
    #[arg(long)]
    pub automatic: bool,
}

#[derive(Debug, Args)]
pub struct RetryArgs {
    /// Retry this run (its number in `update-all history`) instead of
    /// the last one.
    #[arg(long, value_name = "ID")]
    pub run: Option<i64>,
    /// Show what would be retried and start nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// One JSON object per line and event, then a summary object (with
    /// --dry-run, or when there is nothing to retry: one document).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// Enable and start the timer, on a new schedule if --interval is given
    ///
    /// The schedule goes into a drop-in, update-all.timer.d/50-schedule.conf
    /// (in /etc/systemd/system, or ~/.config/systemd/user with --user).
    Enable(ScheduleEnableArgs),
    /// Stop and disable the timer and remove the schedule's drop-in
    Disable,
    /// The timer's schedule, next and last run, and how the last run went
    #[command(display_order = 3)]
    Status(ScheduleStatusArgs),
}

#[derive(Debug, Args)]
pub struct ScheduleEnableArgs {
    /// daily, weekly, monthly, or any systemd calendar expression
    /// ('Sat 04:00', '*-*-1,15 03:00'; see `man systemd.time`). Without
    /// it the schedule stays as it is (weekly as shipped).
    #[arg(long, value_name = "INTERVAL")]
    pub interval: Option<String>,
}

#[derive(Debug, Args)]
pub struct ScheduleStatusArgs {
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Print one JSON document instead of the table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Directory for update-all.8 and update-all-SUBCOMMAND.8 (created).
    pub dir: std::path::PathBuf,
}

#[cfg(debug_assertions)]
#[derive(Debug, Args)]
pub struct NotifyTestArgs {
    /// Plugins that succeeded, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub succeeded: Vec<String>,
    /// Plugins that failed, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub failed: Vec<String>,
    /// Plugins that were skipped, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub skipped: Vec<String>,
    /// How long the run took, in seconds.
    #[arg(long, default_value_t = 0.0)]
    pub duration: f64,
    #[arg(long, value_enum, default_value = "invoker")]
    pub audience: crate::notify::Audience,
    /// Only print whether UID is reached by the graphical audience.
    #[arg(long, value_name = "UID")]
    pub covered: Option<u32>,
}

#[derive(Debug, Args)]
pub struct NotifyDeliverArgs {
    #[arg(long)]
    pub summary: String,
    #[arg(long, default_value = "")]
    pub body: String,
    #[arg(long)]
    pub critical: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn scope_flags_anywhere_but_not_both() {
        let cli = Cli::try_parse_from(["update-all", "--user", "plan"]).unwrap();
        assert_eq!(cli.scope.resolve(), Scope::User);
        let cli = Cli::try_parse_from(["update-all", "plan", "--system", "--json"]).unwrap();
        assert_eq!(cli.scope.resolve(), Scope::System);
        assert!(Cli::try_parse_from(["update-all", "plan", "--user", "--system"]).is_err());
    }

    #[test]
    fn test_scaffolding_is_left_out_of_release_builds() {
        let parsed = Cli::try_parse_from(["update-all", "notify-test", "--covered", "0"]);
        assert_eq!(parsed.is_ok(), cfg!(debug_assertions), "{parsed:?}");
    }
}

/// `update-all plugins` (commands::plugins).
#[derive(Debug, Args)]
pub struct PluginsArgs {
    #[command(subcommand)]
    pub command: PluginsCommand,
}

#[derive(Debug, Subcommand)]
pub enum PluginsCommand {
    /// Every plugin of the scope: enabled, disabled or refused, and why
    List(ListArgs),
    /// One plugin's manifest as resolved, its units, and its own answers
    /// (version, can-separate-download, does-require-sudo)
    Info(InfoArgs),
    /// Check plugins against the protocol without applying anything
    ///
    /// The executable exists and may be run; is-applicable, version,
    /// can-separate-download, does-require-sudo, sudo-programs-paths,
    /// estimate-update, the dynamic mutex commands and validate answer as
    /// docs/plugin-protocol.md says; the manifest's claims agree with the
    /// answers. update and download are never run. Exits 0 when every
    /// plugin checked is valid, 1 otherwise.
    Validate(ValidateArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The plugin's name.
    pub name: String,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Only this plugin (default: every plugin of the scope).
    pub name: Option<String>,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `update-all plugin-exec` (commands::plugin_exec).
#[derive(Debug, Args)]
pub struct PluginExecArgs {
    /// Be the unit's ExecCondition=: run is-applicable, then check the
    /// free space of the --writes paths against estimate-update's sizes;
    /// exit 1 (skip the unit) when short.
    #[arg(long)]
    pub condition: bool,
    /// A path the plugin writes to (the manifest's writes:, in order; the
    /// first receives the download).
    #[arg(long, value_name = "PATH", requires = "condition")]
    pub writes: Vec<std::path::PathBuf>,
    /// An update whose download unit ran before it: how that ended decides
    /// (skipped for space: skipped too; done: no second estimate).
    #[arg(long, requires = "condition")]
    pub downloaded: bool,
    /// The plugin's executable and its arguments, after `--`.
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<OsString>,
}
