//! `update-all schedule enable [--interval X] | disable | status [--json]`:
//! the timer that runs every plugin (see `schedule` for the units).
//!
//! `enable` checks the expression with systemd, writes the schedule's
//! drop-in, then enables and (re)starts the timer over D-Bus; `disable`
//! undoes all three; `status` shows the timer's schedule, its next and last
//! elapse, and how the last run went (the statistics database).
//!
//! Exit status: 0 done; 1 the expression is invalid, the drop-in cannot be
//! written, or systemd cannot be reached or refuses.

use crate::cli::{ScheduleCommand, ScheduleEnableArgs, ScheduleStatusArgs};
use crate::output::format::duration as human;
use crate::output::format::local_time;
use crate::output::{self, FAILURE};
use crate::schedule::timer::{self, TimerState};
use crate::schedule::{calendar, dropin, TIMER};
use crate::stats::query::{self, Run};
use crate::stats::skips::Skip;
use crate::stats::{self, now_us};
use crate::summary::RunSummary;
use crate::systemd::Bus;
use serde::Serialize;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use update_all_core::Scope;

pub fn run(scope: Scope, command: &ScheduleCommand) -> ExitCode {
    let done = match command {
        ScheduleCommand::Enable(args) => enable(scope, args),
        ScheduleCommand::Disable => disable(scope),
        ScheduleCommand::Status(args) => return status(scope, args),
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            tracing::error!("{why}");
            ExitCode::from(FAILURE)
        }
    }
}

fn enable(scope: Scope, args: &ScheduleEnableArgs) -> Result<(), String> {
    if let Some(interval) = &args.interval {
        let calendar = calendar::check(interval)?;
        let path = dropin::write(scope, &calendar)
            .map_err(|e| format!("cannot write {}: {e}", dropin::path(scope).display()))?;
        println!(
            "Schedule: {} ({}), in {}",
            calendar.expression,
            calendar.normalized,
            path.display()
        );
    }
    let state = zbus::block_on(async {
        let bus = Bus::connect(scope).await.map_err(|e| e.to_string())?;
        timer::enable(&bus).await?;
        timer::state(&bus).await
    })?;
    println!("{TIMER} enabled ({}) and started.", state.unit_file_state);
    print_next(&state);
    Ok(())
}

fn disable(scope: Scope) -> Result<(), String> {
    let removed = dropin::remove(scope)
        .map_err(|e| format!("cannot remove {}: {e}", dropin::path(scope).display()))?;
    zbus::block_on(async {
        let bus = Bus::connect(scope).await.map_err(|e| e.to_string())?;
        timer::disable(&bus).await
    })?;
    println!("{TIMER} stopped and disabled.");
    if removed {
        println!("Removed {}.", dropin::path(scope).display());
    }
    Ok(())
}

fn print_next(state: &TimerState) {
    match state.next_elapse_us {
        Some(us) => println!("Next run: {}", when(us)),
        None => println!("Next run: none (the timer is {})", state.active_state),
    }
}

/// "2026-11-30 01:13:00 (in 6 days 1h)" or "(2h05m ago)".
fn when(us: u64) -> String {
    let at = i64::try_from(us).unwrap_or(i64::MAX);
    let now = now_us();
    let span = |d: i64| {
        let d = Duration::from_micros(d.unsigned_abs());
        let hours = d.as_secs() / 3600;
        if hours < 48 {
            human(d)
        } else {
            format!("{} days {}h", hours / 24, hours % 24)
        }
    };
    if at >= now {
        format!("{} (in {})", local_time(at), span(at - now))
    } else {
        format!("{} ({} ago)", local_time(at), span(now - at))
    }
}

/// Everything `schedule status` shows; `--json` prints it as it is.
#[derive(Debug, Serialize)]
struct Report {
    scope: &'static str,
    timer: TimerState,
    /// The drop-in of `schedule enable --interval`, if there is one.
    drop_in: Option<DropIn>,
    last_run: Option<LastRun>,
    /// The latest run a pre-flight condition skipped.
    last_skip: Option<Skip>,
}

#[derive(Debug, Serialize)]
struct DropIn {
    path: PathBuf,
    expression: String,
}

#[derive(Debug, Serialize)]
struct LastRun {
    #[serde(flatten)]
    run: Run,
    succeeded: Vec<String>,
    failed: Vec<String>,
    skipped: Vec<String>,
    duration_s: f64,
}

impl LastRun {
    fn new(run: Run, summary: RunSummary) -> LastRun {
        LastRun {
            run,
            duration_s: summary.duration.as_secs_f64(),
            succeeded: summary.succeeded,
            failed: summary.failed,
            skipped: summary.skipped,
        }
    }
}

fn status(scope: Scope, args: &ScheduleStatusArgs) -> ExitCode {
    let state = zbus::block_on(async {
        let bus = Bus::connect(scope).await.map_err(|e| e.to_string())?;
        timer::state(&bus).await
    });
    let timer = match state {
        Ok(state) => state,
        Err(why) => {
            tracing::error!("{why}");
            return ExitCode::from(FAILURE);
        }
    };
    let history = super::database::query(scope, |db| {
        let run = query::last_run(db)?;
        let last_run = match run {
            Some(run) => {
                let summary = stats::run_summary(db, run.id).unwrap_or_default();
                Some(LastRun::new(run, summary))
            }
            None => None,
        };
        Ok((last_run, db.last_skip()?))
    });
    let (last_run, last_skip) = match history {
        Ok(found) => found,
        Err(code) => return code,
    };
    let path = dropin::path(scope);
    let report = Report {
        scope: match scope {
            Scope::System => "system",
            Scope::User => "user",
        },
        timer,
        drop_in: dropin::expression(scope).map(|expression| DropIn { path, expression }),
        last_run,
        last_skip,
    };
    output::print_then_exit(0, |out| {
        if args.json {
            output::json(out, &report)
        } else {
            report.write_text(out)
        }
    })
}

impl Report {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        let t = &self.timer;
        writeln!(
            out,
            "Timer:       {TIMER} ({} scope): {}, {}",
            self.scope, t.unit_file_state, t.active_state
        )?;
        let mut schedule: Vec<String> = t.calendar.clone();
        schedule.extend(t.monotonic.iter().cloned());
        let mut line = if schedule.is_empty() {
            "none".to_owned()
        } else {
            schedule.join(", ")
        };
        if let Some(d) = &self.drop_in {
            line.push_str(&format!(" ({} from {})", d.expression, d.path.display()));
        }
        writeln!(out, "Schedule:    {line}")?;
        if t.randomized_delay_s > 0 {
            writeln!(
                out,
                "Delay:       up to {}{}{}",
                human(Duration::from_secs(t.randomized_delay_s)),
                if t.fixed_random_delay {
                    ", the same for this machine every time"
                } else {
                    ", drawn anew each time"
                },
                if t.persistent {
                    "; a run missed while off starts at boot"
                } else {
                    ""
                }
            )?;
        }
        let next = t.next_elapse_us.map_or_else(|| "none".to_owned(), when);
        writeln!(out, "Next run:    {next}")?;
        let last = t.last_trigger_us.map_or_else(|| "never".to_owned(), when);
        writeln!(out, "Last fired:  {last}")?;
        let run_at = self.last_run.as_ref().map(|r| r.run.started_us);
        match &self.last_run {
            Some(r) => writeln!(
                out,
                "Last run:    {}: {} succeeded, {} failed, {} skipped{}",
                local_time(r.run.started_us),
                r.succeeded.len(),
                r.failed.len(),
                r.skipped.len(),
                if r.failed.is_empty() {
                    String::new()
                } else {
                    format!(" (failed: {})", r.failed.join(", "))
                }
            )?,
            None => writeln!(out, "Last run:    none recorded")?,
        }
        if let Some(skip) = &self.last_skip {
            // Only news when no run came after it.
            if !matches!(run_at, Some(at) if skip.at_us <= at) {
                writeln!(
                    out,
                    "Skipped:     {}: {} ({}){}",
                    local_time(skip.at_us),
                    skip.reason,
                    skip.what(),
                    if t.service_state == "activating/auto-restart" {
                        "; update-all.service tries again within the hour"
                    } else {
                        ""
                    }
                )?;
            }
        }
        Ok(())
    }
}
