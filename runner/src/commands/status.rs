//! `update-all status`: the run in progress, read from systemd (which units
//! run, which wait) and from the database (which finished how); or, when
//! none is, the last recorded run.
//!
//! Exit status 0; 1 when the statistics database cannot be read.

use crate::cli::StatusArgs;
use crate::output;
use crate::output::format::{duration, local_time, or_dash, table};
use crate::reboot::Pending;
use crate::stats::query::{self, Run};
use crate::stats::reboot::RebootNeed;
use crate::stats::skips::Skip;
use crate::stats::unfinished::Interrupted;
use crate::stats::{self, store, Db, Record};
use crate::systemd::{self, Bus, Outcome, PlannedUnits, UnitState};
use serde::Serialize;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use update_all_core::{Env, Scope};

pub fn run(scope: Scope, args: &StatusArgs) -> ExitCode {
    let db = match super::database::open(scope) {
        Ok(db) => db,
        Err(code) => return code,
    };
    let live = match zbus::block_on(live_units(scope)) {
        Ok(live) => live,
        Err(e) => {
            tracing::warn!("cannot see the units in progress: {e}");
            Vec::new()
        }
    };
    let report = match Report::build(scope, db.as_ref(), live, stats::db_path(scope)) {
        Ok(r) => r,
        Err(e) => return super::database::report(&stats::db_path(scope), e),
    };
    output::print_then_exit(0, |out| {
        if args.json {
            output::json(out, &report)
        } else {
            report.write_text(out)
        }
    })
}

/// Everything `status` shows; `--json` prints it as it is.
#[derive(Debug, Serialize)]
struct Report {
    /// Whose units: where their logs are.
    #[serde(skip)]
    scope: Scope,
    database: PathBuf,
    /// Some plugin unit runs or waits to.
    in_progress: bool,
    /// The run in progress as far as recorded, else the last one.
    run: Option<Run>,
    units: Vec<UnitStatus>,
    /// The latest run a pre-flight condition skipped, when no run came
    /// after it.
    skipped: Option<Skip>,
    /// The last run, when a crash, a power loss or a reboot cut it short:
    /// what had finished and what had not (see `stats::unfinished`).
    interrupted: Option<Interrupted>,
    /// What happens to such a run (`resume:` in config.yaml).
    resume: update_all_core::config::Resume,
    /// Whether the run shown left the machine needing a reboot, and why,
    /// as recorded at its end; none while it runs or for runs recorded
    /// before reboots were.
    reboot: Option<RebootNeed>,
    /// The reboot the policy left pending (update-all-reboot.timer).
    reboot_pending: Option<Pending>,
    /// What the run's updates held back under their update policies.
    held_back: Vec<crate::stats::held::HeldRow>,
    /// The run's security updates, by plugin (from the estimates recorded
    /// before its updates, `stats::packages`): shown first.
    security_updates: std::collections::BTreeMap<String, Vec<crate::stats::packages::RunPackage>>,
    /// What the run's snapshots say: a failed one, or no backend.
    snapshots: Vec<crate::snapshot::notes::Note>,
}

#[derive(Debug, Serialize)]
struct UnitStatus {
    unit: String,
    plugin: String,
    phase: String,
    /// waiting, running, or how it ended (success, failed, skipped, ...).
    state: UnitState,
    /// Since when it runs, or when it started.
    started_us: Option<i64>,
    ended_us: Option<i64>,
    duration_s: Option<f64>,
    exit_status: Option<i64>,
    /// Why its condition skipped it, when it said (not enough disk space).
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

/// A plugin unit that runs or has a job waiting.
struct Live {
    unit: systemd::PluginUnit,
    running_since_us: Option<i64>,
}

async fn live_units(scope: Scope) -> systemd::Result<Vec<Live>> {
    let bus = Bus::connect(scope).await?;
    let jobs = bus.jobs().await?;
    let planned = PlannedUnits::of(&update_all_core::load(&Env::from_process(Some(scope))));
    let mut live = Vec::new();
    for unit in bus.plugin_units(&planned).await? {
        let props = bus.props(&unit.path).await?;
        let queued = jobs.iter().any(|j| j.unit == unit.name);
        if props.is_active() || queued {
            let since = props.inactive_exit_us.filter(|_| props.is_active());
            live.push(Live {
                unit,
                running_since_us: since.and_then(|us| i64::try_from(us).ok()),
            });
        }
    }
    Ok(live)
}

impl Report {
    fn build(
        scope: Scope,
        db: Option<&Db>,
        live: Vec<Live>,
        database: PathBuf,
    ) -> rusqlite::Result<Report> {
        let in_progress = !live.is_empty();
        let interrupted = match db {
            Some(db) if !in_progress => db.interrupted(&store::boot_id())?,
            _ => None,
        };
        let run = match db {
            // Shown rather than an earlier run that recorded more.
            Some(_) if interrupted.is_some() => interrupted.as_ref().map(|i| i.run.clone()),
            // The run being recorded: the unfinished one of this boot.
            Some(db) if in_progress => match db.unfinished_run(&store::boot_id())? {
                Some(id) => query::run(db, id)?,
                None => None,
            },
            Some(db) => query::last_run(db)?,
            None => None,
        };
        let records = match (db, &run) {
            (Some(db), Some(run)) => query::run_records(db, run.id)?,
            _ => Vec::new(),
        };
        let mut units: Vec<UnitStatus> = records.iter().map(finished).collect();
        let now = stats::now_us();
        for l in live {
            // A unit run again within the run replaces its earlier record.
            units.retain(|u| u.unit != l.unit.name);
            let running = l.running_since_us.is_some();
            let phase = l.unit.shown_phase().to_owned();
            units.push(UnitStatus {
                unit: l.unit.name,
                plugin: l.unit.plugin,
                phase,
                state: if running {
                    UnitState::Running
                } else {
                    UnitState::Waiting
                },
                started_us: l.running_since_us,
                ended_us: None,
                duration_s: l.running_since_us.map(|s| (now - s).max(0) as f64 / 1e6),
                exit_status: None,
                detail: None,
            });
        }
        let skipped = match db {
            Some(db) if !in_progress => db
                .last_skip()?
                .filter(|skip| !matches!(&run, Some(r) if skip.at_us <= r.started_us)),
            _ => None,
        };
        let reboot = match (db, &run) {
            (Some(db), Some(run)) if !in_progress => db.reboot_of(run.id)?,
            _ => None,
        };
        let snapshots = match (db, &run) {
            (Some(db), Some(run)) => crate::snapshot::notes::of_run(&db.conn, run.id),
            _ => Vec::new(),
        };
        let held_back = match (db, &run) {
            (Some(db), Some(run)) => db.held_back(run.id)?,
            _ => Vec::new(),
        };
        let mut security_updates = match (db, &run) {
            (Some(db), Some(run)) => db.run_packages(run.id)?,
            _ => Default::default(),
        };
        for packages in security_updates.values_mut() {
            packages.retain(|p| p.update_type.as_deref() == Some("security"));
        }
        security_updates.retain(|_, packages| !packages.is_empty());
        let reboot_pending = crate::reboot::pending().unwrap_or_else(|e| {
            tracing::warn!("cannot see whether a reboot is pending: {e}");
            None
        });
        Ok(Report {
            scope,
            database,
            in_progress,
            run,
            units,
            skipped,
            interrupted,
            resume: update_all_core::config::load(&Env::from_process(Some(scope)))
                .0
                .resume,
            reboot,
            reboot_pending,
            held_back,
            security_updates,
            snapshots,
        })
    }

    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        if let Some(skip) = &self.skipped {
            writeln!(
                out,
                "Skipped {}: {} ({}; `update-all run --force` runs anyway)\n",
                local_time(skip.at_us),
                skip.reason,
                skip.what()
            )?;
        }
        if let Some(i) = &self.interrupted {
            self.write_interrupted(out, i)?;
            if self.units.is_empty() {
                return Ok(());
            }
        }
        if self.units.is_empty() {
            return writeln!(out, "No runs recorded yet in {}.", self.database.display());
        }
        let started = self.run.as_ref().map(|r| local_time(r.started_us));
        let link = self.run.as_ref().and_then(Run::link);
        let since = match (started, link) {
            (Some(t), Some(link)) => format!(" (started {t}, {link})"),
            (Some(t), None) => format!(" (started {t})"),
            (None, _) => String::new(),
        };
        if self.in_progress {
            writeln!(out, "Run in progress{since}:")?;
        } else {
            writeln!(out, "Last run{since}:")?;
        }
        let header = ["UNIT", "STATE", "STARTED", "DURATION"];
        let rows: Vec<[String; 4]> = self
            .units
            .iter()
            .map(|u| {
                [
                    u.unit.clone(),
                    match (u.exit_status, &u.detail) {
                        (Some(s), _) => format!("{} ({s})", u.state),
                        (None, Some(why)) => format!("{}: {why}", u.state),
                        (None, None) => u.state.to_string(),
                    },
                    or_dash(u.started_us, local_time),
                    or_dash(u.duration_s, |s| duration(Duration::from_secs_f64(s))),
                ]
            })
            .collect();
        table(out, &header, &rows)?;
        let failed = |u: &&UnitStatus| u.state.is_failure();
        let count = |o: Outcome| {
            let ended = |u: &&UnitStatus| u.state.outcome() == Some(o);
            self.units.iter().filter(ended).count()
        };
        let (ok, skipped) = (count(Outcome::Success), count(Outcome::Skipped));
        let pending = self.units.iter().filter(|u| !u.state.is_final()).count();
        writeln!(
            out,
            "\n{ok} succeeded, {} failed, {skipped} skipped{}",
            self.units.iter().filter(failed).count(),
            if pending > 0 {
                format!(", {pending} running or waiting")
            } else {
                String::new()
            }
        )?;
        for unit in self.units.iter().filter(failed) {
            writeln!(out, "See why: {}", output::unit_log(self.scope, &unit.unit))?;
        }
        let security = self.security_updates.values().map(Vec::len).sum();
        if output::section(out, "Security updates", security)? {
            for (plugin, packages) in &self.security_updates {
                for p in packages {
                    let to = p.new_version.as_deref().unwrap_or("?");
                    writeln!(out, "  {plugin}: {} → {to}", p.name)?;
                }
            }
        }
        if output::section(out, "Held back by the update policy", self.held_back.len())? {
            for h in &self.held_back {
                let reason = h.reason.as_deref().unwrap_or("held by the policy");
                writeln!(out, "  {}: {}: {reason}", h.plugin, h.name)?;
            }
        }
        for note in &self.snapshots {
            let warning = if note.warning { "Warning: " } else { "" };
            writeln!(out, "{warning}{}", note.text)?;
        }
        self.write_reboot(out)
    }

    /// The interrupted run's line, and what resumes it.
    fn write_interrupted(&self, out: &mut dyn Write, i: &Interrupted) -> io::Result<()> {
        use update_all_core::config::Resume;
        writeln!(out, "{}", output::interrupted::line(i))?;
        if i.unfinished.is_empty() {
            return writeln!(out);
        }
        let how = match self.resume {
            Resume::Never => {
                "resume: never: `update-all resume` runs the unfinished plugins by hand"
            }
            Resume::Ask | Resume::AtBoot => "`update-all resume` runs the unfinished plugins",
        };
        writeln!(out, "{how}.\n")
    }

    /// "Reboot required: linux-image-…", and the pending reboot.
    fn write_reboot(&self, out: &mut dyn Write) -> io::Result<()> {
        if let Some(need) = self.reboot.as_ref().filter(|n| n.required) {
            writeln!(out, "Reboot required: {}", need.reasons.join(", "))?;
        }
        if let Some(pending) = &self.reboot_pending {
            writeln!(out, "{}", pending.describe())?;
        }
        Ok(())
    }
}

fn finished(r: &Record) -> UnitStatus {
    UnitStatus {
        unit: r.unit.clone(),
        plugin: r.plugin.clone(),
        phase: r.phase.clone(),
        state: UnitState::Finished(r.result),
        started_us: r.started_us,
        ended_us: r.ended_us,
        duration_s: r.duration().map(|d| d.as_secs_f64()),
        // Only worth showing for a failure: "failed (2)", "signal (9)".
        exit_status: r.exit_status.filter(|&s| s != 0 && r.result.is_failure()),
        detail: r.detail.clone(),
    }
}
