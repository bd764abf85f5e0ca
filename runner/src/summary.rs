//! What a finished run amounts to, made one way from whatever a run is
//! known by: the rows of `update-all run`'s table, or the invocations the
//! recorder wrote (the recorder, `schedule status`). So the notification
//! at a run's end says the same however the run was started.

use crate::systemd::Outcome;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// The outcome of one run of `update-all.target` (or of `--only` units).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RunSummary {
    /// Plugin names (not unit names) per outcome, sorted.
    pub succeeded: Vec<String>,
    pub failed: Vec<String>,
    pub skipped: Vec<String>,
    /// From the first unit's start to the last unit's end.
    pub duration: Duration,
}

impl RunSummary {
    pub fn any_failed(&self) -> bool {
        !self.failed.is_empty()
    }
}

/// One plugin unit's part in a run, as far as [`summarize`] needs it.
pub trait UnitResult {
    fn plugin(&self) -> &str;
    /// How it ended; none while it has not.
    fn outcome(&self) -> Option<Outcome>;
    /// When it started running, if it did.
    fn started(&self) -> Option<SystemTime>;
    /// When it stopped running, if it ran.
    fn ended(&self) -> Option<SystemTime>;
}

/// Plugins by their worst unit ([`Outcome::worse`]: a plugin whose
/// download succeeded but whose update failed has failed; one is skipped
/// only when all its units were), and the span from the first start to
/// the last end. Units that have not ended do not count. A safety unit
/// (`health`, `snapshot-pre`, …) is named only when it failed: a snapshot
/// skipped for want of a backend, or a health check passed, is no plugin
/// updated or skipped.
pub fn summarize<U: UnitResult>(units: &[U]) -> RunSummary {
    let mut by_plugin: BTreeMap<&str, Outcome> = BTreeMap::new();
    for unit in units {
        let Some(outcome) = unit.outcome() else {
            continue;
        };
        let fine = matches!(outcome, Outcome::Success | Outcome::Skipped);
        if fine && update_all_core::names::is_safety_step(unit.plugin()) {
            continue;
        }
        by_plugin
            .entry(unit.plugin())
            .and_modify(|worst| *worst = worst.worse(outcome))
            .or_insert(outcome);
    }
    let mut summary = RunSummary::default();
    for (plugin, outcome) in by_plugin {
        let list = match outcome {
            Outcome::Success => &mut summary.succeeded,
            Outcome::Skipped => &mut summary.skipped,
            _ => &mut summary.failed,
        };
        list.push(plugin.to_owned());
    }
    let first = units.iter().filter_map(U::started).min();
    let last = units.iter().filter_map(U::ended).max();
    if let (Some(first), Some(last)) = (first, last) {
        summary.duration = last.duration_since(first).unwrap_or_default();
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    struct Unit(&'static str, Option<Outcome>, Option<(u64, u64)>);

    impl UnitResult for Unit {
        fn plugin(&self) -> &str {
            self.0
        }
        fn outcome(&self) -> Option<Outcome> {
            self.1
        }
        fn started(&self) -> Option<SystemTime> {
            Some(UNIX_EPOCH + Duration::from_millis(self.2?.0))
        }
        fn ended(&self) -> Option<SystemTime> {
            Some(UNIX_EPOCH + Duration::from_millis(self.2?.1))
        }
    }

    #[test]
    fn plugins_by_their_worst_unit() {
        use Outcome::*;
        let s = summarize(&[
            Unit("apt", Some(Success), Some((1000, 2000))),
            Unit("apt", Some(Failed), Some((2000, 3000))),
            Unit("flatpak", Some(Skipped), None),
            Unit("flatpak", Some(Skipped), None),
            Unit("pipx", Some(Success), Some((1500, 4500))),
            Unit("snap", Some(Skipped), None),
            Unit("snap", Some(Success), Some((1000, 1100))),
            Unit("cargo", Some(Cancelled), None),
            Unit("hog", Some(Oom), Some((1000, 1100))),
            Unit("sig", Some(Signal), Some((1000, 1100))),
            Unit("late", None, None),
        ]);
        assert_eq!(s.failed, ["apt", "cargo", "hog", "sig"]);
        assert_eq!(s.skipped, ["flatpak"]);
        assert_eq!(s.succeeded, ["pipx", "snap"]);
        assert_eq!(s.duration, Duration::from_millis(3500));
        assert!(s.any_failed());
    }

    #[test]
    fn safety_units_are_named_only_when_they_failed() {
        use Outcome::*;
        let s = summarize(&[
            Unit("snapshot-pre", Some(Skipped), None),
            Unit("apt", Some(Success), Some((1000, 2000))),
            Unit("snapshot-post", Some(Skipped), None),
            Unit("health", Some(Success), Some((2000, 2500))),
        ]);
        assert_eq!(s.succeeded, ["apt"]);
        assert!(s.skipped.is_empty() && !s.any_failed());
        assert_eq!(s.duration, Duration::from_millis(1500));
        let s = summarize(&[
            Unit("apt", Some(Success), Some((1000, 2000))),
            Unit("health", Some(Failed), Some((2000, 2500))),
            Unit("rollback", Some(Success), Some((2500, 3000))),
        ]);
        assert_eq!(s.failed, ["health"]);
        assert_eq!(s.succeeded, ["apt"]);
    }
}
