//! One service manager's run in this process: starts `update-all.target`
//! (or just `--only`'s units, or a retry's), or follows the run already in
//! progress, watches it to its end (`watch`), then announces the summary.

use super::exit::{CANNOT_START, DETACHED};
use super::{only, Options, Retry};
use crate::output::progress::Progress;
use crate::stats::{self, store, Db};
use crate::systemd::Bus;
use crate::watch::{Ended, Fail, Watcher};
use update_all_core::names::TARGET;
use update_all_core::{Env, Plan, Scope};

/// Starts and watches the run of `scope`; its exit status (see `exit`).
pub fn run_scope(scope: Scope, options: &Options) -> u8 {
    // Read once: who each unit belongs to, and the table's order.
    let plan = update_all_core::load(&Env::from_process(Some(scope)));
    run_planned(scope, &plan, options)
}

/// [`run_scope`] with the plan read already.
pub fn run_planned(scope: Scope, plan: &Plan, options: &Options) -> u8 {
    let mut progress = Progress::new(scope, options.json);
    progress.follow_plan(plan);
    let watched = zbus::block_on(start_and_watch(scope, plan, options, &mut progress));
    // The dynamic-mutex drop-ins of `--check` end with the run.
    let mut note = |kind: &str, text: &str| progress.note(kind, text, &[]);
    zbus::block_on(crate::check::dynamic::finish(scope, &mut note));
    match watched {
        Ok(Ended::Finished(summary)) => {
            for n in crate::snapshot::notes::of_newest_run(scope) {
                progress.note(if n.warning { "warning" } else { "info" }, &n.text, &[]);
            }
            // Outside the async runtime: notifying blocks on its own buses.
            crate::notify::announce_to_invoker(&summary, scope);
            u8::from(summary.any_failed())
        }
        Ok(Ended::Detached) => DETACHED,
        Err(why) => {
            tracing::error!("{why}");
            CANNOT_START
        }
    }
}

/// Watches first, so no change is missed, then starts the run unless one
/// is in progress already, and follows it.
async fn start_and_watch(
    scope: Scope,
    plan: &Plan,
    options: &Options,
    progress: &mut Progress,
) -> Result<Ended, Fail> {
    let mut watcher = Watcher::connect(scope, plan).await?;
    let attached = watcher.attached().await?;
    if !attached {
        // `--check`: order this run by the dynamic mutexes (check::dynamic).
        let mut note = |kind: &str, text: &str| progress.note(kind, text, &[]);
        crate::check::dynamic::prepare(watcher.bus(), options.check, &options.only, &mut note)
            .await?;
        // Ctrl-C during the check: nothing has started, so stop here.
        if watcher.interrupted() {
            return Err("interrupted before the run started; nothing was started".to_owned());
        }
    }
    if attached && options.retry.is_some() {
        return Err("a run is in progress: retry once it has ended \
                    (`update-all run` follows it)"
            .to_owned());
    }
    if attached {
        let mut message =
            "a run is already in progress: following it instead of starting another".to_owned();
        if !options.only.is_empty() {
            message.push_str(" (--only is ignored)");
        }
        progress.note("attached", &message, watcher.rows());
    } else if let Some(retry) = &options.retry {
        let units = only::ordered(watcher.bus(), watcher.units(), &retry.units).await?;
        start_retry(watcher.bus(), retry, &units).await?;
    } else if options.only.is_empty() {
        watcher
            .bus()
            .start(TARGET)
            .await
            .map_err(|e| e.to_string())?;
    } else {
        for unit in only::selected(watcher.bus(), watcher.units(), &options.only).await? {
            watcher
                .bus()
                .start(&unit)
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    watcher.follow(attached, progress).await
}

/// Starts a retry's `units` (in order) after leaving the request that
/// links the run they make to the run they take up (see
/// `stats::request`); withdraws it when they cannot start. Without a
/// database to write, the retry runs unlinked (said so).
async fn start_retry(bus: &Bus, retry: &Retry, units: &[String]) -> Result<(), String> {
    let request = Db::open_for_writing(&stats::db_path(bus.scope))
        .map_err(|e| e.to_string())
        .and_then(|db| {
            let id = db
                .request_run(
                    retry.follows,
                    retry.kind,
                    &store::boot_id(),
                    stats::now_us(),
                    units,
                )
                .map_err(|e| e.to_string())?;
            Ok((db, id))
        })
        .map_err(|e| tracing::warn!("the retry is not linked to run {}: {e}", retry.follows))
        .ok();
    for unit in units {
        if let Err(e) = bus.start(unit).await {
            if let Some((db, id)) = &request {
                let _ = db.withdraw_request(*id);
            }
            return Err(e.to_string());
        }
    }
    Ok(())
}
