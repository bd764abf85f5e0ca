//! Whether a run left the machine needing a reboot, and why: written by the
//! recorder when it ends a run (`runs.reboot_required`,
//! `runs.reboot_reasons`, one reason a line), read by `status`.

use super::{Db, RunId};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

/// A run's reboot as recorded.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RebootNeed {
    pub required: bool,
    /// What needs it: packages (`linux-image-6.1.0-28-amd64`), plugins
    /// (`apt said so`), the running kernel's modules being gone.
    pub reasons: Vec<String>,
}

impl Db {
    /// Records the reboot `run` left the machine needing (or not).
    pub fn set_reboot(&self, run: RunId, reboot: &RebootNeed) -> rusqlite::Result<()> {
        self.conn.execute(
            "UPDATE runs SET reboot_required = ?2, reboot_reasons = ?3 WHERE id = ?1",
            params![run, reboot.required, reboot.reasons.join("\n")],
        )?;
        Ok(())
    }

    /// What `run` recorded; none for a run recorded before reboots were,
    /// or still going on.
    pub fn reboot_of(&self, run: RunId) -> rusqlite::Result<Option<RebootNeed>> {
        let row: Option<(Option<bool>, Option<String>)> = self
            .conn
            .query_row(
                "SELECT reboot_required, reboot_reasons FROM runs WHERE id = ?1",
                [run],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(row.and_then(|(required, reasons)| {
            Some(RebootNeed {
                required: required?,
                reasons: reasons
                    .unwrap_or_default()
                    .lines()
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect(),
            })
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runs_reboot_is_kept_with_its_reasons() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open_for_writing(&dir.path().join("stats.db")).unwrap();
        let run = db.new_run("boot", 1, false).unwrap();
        assert_eq!(db.reboot_of(run).unwrap(), None, "not known yet");
        let need = RebootNeed {
            required: true,
            reasons: vec!["linux-image-6.1.0-28-amd64".into(), "apt said so".into()],
        };
        db.set_reboot(run, &need).unwrap();
        assert_eq!(db.reboot_of(run).unwrap(), Some(need));
        db.set_reboot(run, &RebootNeed::default()).unwrap();
        assert_eq!(db.reboot_of(run).unwrap(), Some(RebootNeed::default()));
    }
}
