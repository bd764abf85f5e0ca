//! What the snapshot units do (`update-all safety snapshot --applies |
//! pre | post`): find their run, take a snapshot of each path the backend
//! detection gives, record each one (or its failure) in the statistics
//! and say it in the journal: info for a snapshot taken, error for one
//! that failed, with what that means for the run and what to do.

use super::detect::{self, Kind, Target};
use super::{btrfs, important, Phase};
use crate::stats::snapshots::{self, Snapshot};
use crate::stats::{self, current, Db, RunId};
use std::path::Path;
use std::time::Instant;
use update_all_core::safety::{Safety, SnapshotFailure};
use update_all_core::Scope;

/// `--applies` (the units' `ExecCondition=`): whether a snapshot backend
/// applies to a path of `safety.paths`. When none does, the run records
/// so and says once, as information, that only per-plugin rollback is
/// available.
pub fn applies() -> bool {
    let safety = crate::config::load(Scope::System).safety;
    if !safety.snapshots() {
        tracing::debug!("safety.snapshot is off: no snapshots");
        return false;
    }
    if !detect::targets(&safety).is_empty() {
        return true;
    }
    let db = open();
    // Both units ask; they belong to the same run.
    let run = db.as_ref().and_then(|db| run_of(db, Phase::Pre));
    say_none(db.as_ref(), run, &safety);
    false
}

/// Takes the run's `phase` snapshots; whether every one was taken (a
/// path without a backend, a post without its pre, are not failures).
pub fn take(phase: Phase) -> bool {
    let safety = crate::config::load(Scope::System).safety;
    if !safety.snapshots() {
        tracing::info!("safety.snapshot is off: no {} snapshot", phase.as_str());
        return true;
    }
    let Some(db) = open() else {
        return false;
    };
    let Some(run) = run_of(&db, phase) else {
        tracing::error!(
            unit = phase.unit(),
            "no update-all run is going on in this boot ({} has none): the snapshot units \
             run as part of a run (update-all run, or update-all.target)",
            db.path.display()
        );
        return false;
    };
    let targets = detect::targets(&safety);
    if targets.is_empty() {
        say_none(Some(&db), Some(run), &safety);
        return true;
    }
    let important = match phase {
        Phase::Post => important_package(&db, run),
        Phase::Pre => None,
    };
    let mut all = true;
    for target in &targets {
        all &= take_one(&db, run, phase, target, important.as_deref(), &safety);
    }
    all
}

/// One snapshot of `target`: taken, recorded, said.
fn take_one(
    db: &Db,
    run: RunId,
    phase: Phase,
    target: &Target,
    important: Option<&str>,
    safety: &Safety,
) -> bool {
    let started_us = stats::now_us();
    let clock = Instant::now();
    let taken = match snapshot(db, run, phase, target, important.is_some()) {
        Ok(Some(name)) => Ok(name),
        Ok(None) => return true,
        Err(e) => Err(e),
    };
    let took = clock.elapsed();
    let row = Snapshot {
        run_id: run,
        phase: phase.as_str().into(),
        backend: target.backend().into(),
        config_or_path: target.key().into(),
        number_or_name: taken.as_ref().ok().cloned(),
        started_us,
        duration_us: i64::try_from(took.as_micros()).unwrap_or(i64::MAX),
        error: taken.as_ref().err().cloned(),
    };
    if let Err(e) = snapshots::add(&db.conn, &row) {
        tracing::warn!(
            update_all_run = run,
            "{}: the snapshot is not recorded: {e}",
            db.path.display()
        );
    }
    let what = target.describe();
    match taken {
        Ok(name) => {
            let name = match target.kind {
                Kind::Snapper { .. } => format!("number {name}"),
                _ => name,
            };
            let marked = important
                .map(|p| format!(", marked important ({p} is updated)"))
                .unwrap_or_default();
            tracing::info!(
                update_all_run = run,
                unit = phase.unit(),
                "run {run}: snapshot {}: {what}: {name}{marked}, {:.2} s",
                phase.when(),
                took.as_secs_f64()
            );
            true
        }
        Err(e) => {
            tracing::error!(
                update_all_run = run,
                unit = phase.unit(),
                "run {run}: the snapshot {} failed: {what}: {e}. {}{}",
                phase.when(),
                consequence(phase, safety.snapshot_failure),
                remedy(target)
            );
            false
        }
    }
}

/// Takes the snapshot; its number or path, or `None` when a post has no
/// pre to pair with (said, not a failure: the pre's failure was).
fn snapshot(
    db: &Db,
    run: RunId,
    phase: Phase,
    target: &Target,
    important: bool,
) -> Result<Option<String>, String> {
    let pre = match phase {
        Phase::Pre => None,
        Phase::Post => match pre_of(db, run, target) {
            Some(pre) => Some(pre),
            None => {
                tracing::warn!(
                    update_all_run = run,
                    unit = phase.unit(),
                    "run {run}: no post snapshot of {}: the run has no pre snapshot there",
                    target.describe()
                );
                return Ok(None);
            }
        },
    };
    match (&target.kind, pre) {
        (Kind::Snapper { config, snapper }, None) => {
            snapper.create_pre(config, run).map(|n| n.to_string())
        }
        (Kind::Snapper { config, snapper }, Some(pre)) => {
            let pre = pre
                .parse()
                .map_err(|_| format!("the pre snapshot's number {pre:?} is not a number"))?;
            snapper
                .create_post(config, run, pre, important)
                .map(|n| n.to_string())
        }
        (Kind::Btrfs, _) => {
            btrfs::snapshot(Path::new(&target.path), run, phase).map(|p| p.display().to_string())
        }
        (Kind::Unusable { why, .. }, _) => Err(why.clone()),
    }
    .map(Some)
}

/// The run's pre snapshot of `target`: from the records, else found again
/// by the run's id (snapper's userdata, the btrfs snapshot's name), as
/// after a crash that lost the record.
fn pre_of(db: &Db, run: RunId, target: &Target) -> Option<String> {
    let recorded = snapshots::pre_of(&db.conn, run, target.backend(), target.key());
    if let Ok(Some(pre)) = recorded {
        return Some(pre);
    }
    match &target.kind {
        Kind::Snapper { config, snapper } => snapper
            .of_run(config, run)
            .map_err(|e| tracing::warn!(update_all_run = run, "{e}"))
            .ok()?
            .into_iter()
            .filter(|s| s.kind == "pre")
            .map(|s| s.number)
            .max()
            .map(|n| n.to_string()),
        Kind::Btrfs => btrfs::pre_of(Path::new(&target.path), run).map(|p| p.display().to_string()),
        Kind::Unusable { .. } => None,
    }
}

/// A package of the run's recorded estimates that makes its snapshots
/// important (`stats::packages`); none when nothing was recorded.
fn important_package(db: &Db, run: RunId) -> Option<String> {
    let packages = db.run_packages(run).ok()?;
    let names = packages.values().flatten().map(|p| p.name.as_str());
    important::first(names).map(str::to_owned)
}

/// What a failed snapshot means for the run.
fn consequence(phase: Phase, failure: SnapshotFailure) -> &'static str {
    match (phase, failure) {
        (Phase::Pre, SnapshotFailure::Continue) => {
            "The updates go on without it (safety.snapshot_failure: continue). "
        }
        (Phase::Pre, SnapshotFailure::Stop) => "No update starts (safety.snapshot_failure: stop). ",
        (Phase::Post, _) => "The updates are done; only the plugins' own rollback can undo them. ",
    }
}

/// What to do about a failed snapshot of `target`.
fn remedy(target: &Target) -> String {
    let off = "or turn snapshots off (safety.snapshot: off in /etc/update-all/config.yaml)";
    match &target.kind {
        Kind::Snapper { config, .. } => format!(
            "Check `snapper -c {config} list` and the free space (`btrfs filesystem usage {}`), {off}",
            target.path
        ),
        Kind::Btrfs => format!(
            "Check the free space (`btrfs filesystem usage {}`) and {}/{}, {off}",
            target.path,
            target.path.trim_end_matches('/'),
            btrfs::DIR
        ),
        Kind::Unusable { .. } => String::new(),
    }
}

/// Records (once per run) that no backend applies, and says it once.
fn say_none(db: Option<&Db>, run: Option<RunId>, safety: &Safety) {
    let paths = safety.paths.join(", ");
    if let (Some(db), Some(run)) = (db, run) {
        if snapshots::has_none(&db.conn, run).unwrap_or(false) {
            return;
        }
        let row = Snapshot {
            run_id: run,
            phase: Phase::Pre.as_str().into(),
            backend: snapshots::NONE.into(),
            config_or_path: paths.clone(),
            number_or_name: None,
            started_us: stats::now_us(),
            duration_us: 0,
            error: None,
        };
        if let Err(e) = snapshots::add(&db.conn, &row) {
            tracing::warn!(update_all_run = run, "{}: {e}", db.path.display());
        }
    }
    tracing::info!(
        update_all_run = run,
        "no snapshot backend applies to {paths} (no snapper configuration has it as its \
         SUBVOLUME, and it is not a btrfs subvolume): only per-plugin rollback is available"
    );
}

/// The system's statistics database, open for writing; `None` (said) when
/// it cannot be.
fn open() -> Option<Db> {
    Db::open_for_writing(&stats::db_path(Scope::System))
        .map_err(|e| tracing::error!("{e}"))
        .ok()
}

/// The run the unit of `phase` belongs to. A post snapshot whose run the
/// records have closed already belongs to the newest run still waiting
/// for its post.
fn run_of(db: &Db, phase: Phase) -> Option<RunId> {
    let run = current::run_of_unit(&db.conn, phase.unit())
        .map_err(|e| tracing::error!("{}: {e}", db.path.display()))
        .ok()?;
    match (run, phase) {
        (Some(run), _) => Some(run),
        (None, Phase::Post) => snapshots::awaiting_post(&db.conn, &stats::store::boot_id())
            .ok()
            .flatten(),
        (None, Phase::Pre) => None,
    }
}
