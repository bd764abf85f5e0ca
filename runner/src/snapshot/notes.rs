//! What a run's summary and `update-all status` say about the run's
//! snapshots, from its rows in `stats::snapshots`: once, as information,
//! that no backend applied (only per-plugin rollback is available); as a
//! warning, each snapshot that failed and what that meant for the run.

use crate::stats::snapshots::{self, Snapshot};
use crate::stats::RunId;
use rusqlite::Connection;
use serde::Serialize;
use update_all_core::safety::SnapshotFailure;
use update_all_core::Scope;

/// One line about a run's snapshots.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Note {
    /// A warning (a snapshot failed), else information.
    pub warning: bool,
    pub text: String,
}

/// The notes of `run` (none when the run has no snapshot rows, or the
/// table cannot be read), under the system's `safety.snapshot_failure`.
pub fn of_run(conn: &Connection, run: RunId) -> Vec<Note> {
    let rows = snapshots::of_run(conn, run).unwrap_or_default();
    if rows.is_empty() {
        return Vec::new();
    }
    let failure = crate::config::load(Scope::System).safety.snapshot_failure;
    notes(&rows, failure)
}

/// The notes of the newest run of this boot, for the end of `update-all
/// run`: none in user scope (snapshots are the system's).
pub fn of_newest_run(scope: Scope) -> Vec<Note> {
    if scope != Scope::System {
        return Vec::new();
    }
    let Ok(Some(db)) = crate::stats::open_for_reading(Scope::System) else {
        return Vec::new();
    };
    match db.newest_run(&crate::stats::store::boot_id()) {
        Ok(Some((run, _))) => of_run(&db.conn, run),
        _ => Vec::new(),
    }
}

/// The notes of `rows` (one run's), `failure` saying what a failed pre
/// snapshot did to the updates.
pub fn notes(rows: &[Snapshot], failure: SnapshotFailure) -> Vec<Note> {
    let mut notes = Vec::new();
    if let Some(none) = rows.iter().find(|r| r.backend == snapshots::NONE) {
        notes.push(Note {
            warning: false,
            text: format!(
                "No snapshot backend applies to {}: only per-plugin rollback is available.",
                none.config_or_path
            ),
        });
    }
    for row in rows {
        let Some(error) = &row.error else { continue };
        let what = match row.backend.as_str() {
            "snapper" => format!("snapper configuration '{}'", row.config_or_path),
            backend => format!("{backend} {}", row.config_or_path),
        };
        let then = match (row.phase.as_str(), failure) {
            ("pre", SnapshotFailure::Continue) => " The updates ran without it.",
            ("pre", SnapshotFailure::Stop) => " No update started (safety.snapshot_failure: stop).",
            _ => "",
        };
        let when = if row.phase == "pre" {
            "before"
        } else {
            "after"
        };
        notes.push(Note {
            warning: true,
            text: format!("The snapshot {when} the updates failed ({what}): {error}.{then}"),
        });
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(phase: &str, backend: &str, error: Option<&str>) -> Snapshot {
        Snapshot {
            run_id: 4,
            phase: phase.into(),
            backend: backend.into(),
            config_or_path: if backend == "snapper" { "root" } else { "/" }.into(),
            number_or_name: error.is_none().then(|| "3".into()),
            started_us: 1,
            duration_us: 1,
            error: error.map(Into::into),
        }
    }

    #[test]
    fn no_backend_is_said_once_and_failures_warn_with_their_consequence() {
        let none = notes(&[row("pre", "none", None)], SnapshotFailure::Continue);
        assert_eq!(
            none,
            [Note {
                warning: false,
                text: "No snapshot backend applies to /: only per-plugin rollback is available."
                    .into()
            }]
        );
        let failed = [
            row("pre", "snapper", Some("IO error")),
            row("post", "btrfs", None),
        ];
        let open = notes(&failed, SnapshotFailure::Continue);
        assert_eq!(open.len(), 1);
        assert!(open[0].warning);
        assert_eq!(
            open[0].text,
            "The snapshot before the updates failed (snapper configuration 'root'): IO error. \
             The updates ran without it."
        );
        let closed = notes(&failed, SnapshotFailure::Stop);
        assert!(closed[0]
            .text
            .ends_with("No update started (safety.snapshot_failure: stop)."));
        assert!(notes(&[row("pre", "snapper", None)], SnapshotFailure::Stop).is_empty());
    }
}
