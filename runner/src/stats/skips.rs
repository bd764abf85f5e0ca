//! Runs that a pre-flight condition skipped (see `run::preflight`): no unit
//! started, so the recorder never ran; `update-all run` writes the skip
//! itself, and `status` and `schedule status` show the latest one.

use super::{db_path, now_us, Db, DbError, DbErrorKind};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use update_all_core::Scope;

/// One skipped run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Skip {
    /// When it was skipped, µs since the epoch.
    pub at_us: i64,
    /// "on battery power", "metered network".
    pub reason: String,
    /// "timer" (update-all.service) or "manual" (update-all run).
    pub trigger: String,
}

impl Skip {
    /// What was skipped, for people: "scheduled run" or "update-all run".
    pub fn what(&self) -> &'static str {
        if self.trigger == "timer" {
            "scheduled run"
        } else {
            "update-all run"
        }
    }
}

impl Db {
    pub fn insert_skip(&self, skip: &Skip) -> rusqlite::Result<()> {
        self.conn.execute(
            "INSERT INTO skips (at_us, reason, trigger) VALUES (?1, ?2, ?3)",
            params![skip.at_us, skip.reason, skip.trigger],
        )?;
        Ok(())
    }

    /// The latest skip, if any run was ever skipped.
    pub fn last_skip(&self) -> rusqlite::Result<Option<Skip>> {
        self.conn
            .query_row(
                "SELECT at_us, reason, trigger FROM skips ORDER BY at_us DESC, id DESC LIMIT 1",
                [],
                |r| {
                    Ok(Skip {
                        at_us: r.get(0)?,
                        reason: r.get(1)?,
                        trigger: r.get(2)?,
                    })
                },
            )
            .optional()
    }
}

/// Records that a run of `scope` was skipped now, for `reason`.
pub fn record(scope: Scope, reason: &str, trigger: &str) -> Result<Skip, DbError> {
    let db = Db::open_for_writing(&db_path(scope))?;
    let skip = Skip {
        at_us: now_us(),
        reason: reason.to_owned(),
        trigger: trigger.to_owned(),
    };
    db.insert_skip(&skip)
        .map_err(|e| DbError::new(&db.path, DbErrorKind::Sqlite(e)))?;
    Ok(skip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_skip_is_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open_for_writing(&dir.path().join("stats.db")).unwrap();
        assert_eq!(db.last_skip().unwrap(), None);
        for (at_us, reason) in [(5, "metered network"), (9, "on battery power")] {
            let skip = Skip {
                at_us,
                reason: reason.into(),
                trigger: "timer".into(),
            };
            db.insert_skip(&skip).unwrap();
        }
        let last = db.last_skip().unwrap().unwrap();
        assert_eq!((last.at_us, last.reason.as_str()), (9, "on battery power"));
    }
}
