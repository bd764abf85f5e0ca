//! The reboot a run leaves the machine needing: detected when the
//! recorder ends the run (`crate::reboot::detect`, which also reads what
//! the plugins' `requires_reboot` left), recorded on it
//! (`runs.reboot_required`, `runs.reboot_reasons`), and said in the
//! journal.

use super::{warn_db, Recorder};
use crate::stats::reboot::RebootNeed;

impl Recorder {
    /// Looks now whether the machine needs a reboot, and records it on
    /// the run (when there is one in the database).
    pub fn end_reboot(&self) -> RebootNeed {
        let need = crate::reboot::detect::detect(self.scope);
        let run = self.run.filter(|&id| id != 0);
        if need.required {
            tracing::warn!(
                update_all_run = run,
                "reboot required: {}",
                need.reasons.join(", ")
            );
        }
        if let (Some(run), Some(db)) = (run, &self.db) {
            if let Err(e) = db.set_reboot(run, &need) {
                warn_db(db, "cannot record whether a reboot is needed", &e);
            }
        }
        need
    }
}
