//! The safety units around a run's updates (docs/safety.md): the static
//! units `update-all-snapshot-pre`, `-snapshot-post` and `-health` ship in
//! units/; what depends on the plan is written here: the update units'
//! order after the pre snapshot, the post snapshot's and the health
//! check's order after every update unit, and their `update-all.target`
//! links.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::Path;
use update_all_core::manifest::Phase;
use update_all_core::names::SNAPSHOT_PRE;
use update_all_core::plan::Plan;
use update_all_core::safety::SnapshotFailure;
use update_all_core::Scope;

/// Which safety units a plan's run gets, decided once for the plan.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SafetyUnits {
    /// With the snapshot units: what a failed pre snapshot does.
    snapshots: Option<SnapshotFailure>,
    /// The units pulled in (`Safety::units`).
    units: Vec<&'static str>,
}

impl SafetyUnits {
    /// None of them when the plan has no update unit: nothing to snapshot
    /// or to check.
    pub fn of(plan: &Plan, scope: Scope) -> SafetyUnits {
        if !plan.units.iter().any(|u| u.phase == Phase::Update) {
            return SafetyUnits::default();
        }
        let safety = &plan.config.safety;
        SafetyUnits {
            snapshots: safety
                .snapshots_in(scope)
                .then_some(safety.snapshot_failure),
            units: safety.units(scope),
        }
    }

    /// The `[Unit]` lines of an update unit: after the pre snapshot, which
    /// it wants (fail open) or requires (fail closed).
    pub fn update_unit_lines(&self) -> String {
        let Some(failure) = self.snapshots else {
            return String::new();
        };
        let dependency = match failure {
            SnapshotFailure::Continue => "Wants",
            SnapshotFailure::Stop => "Requires",
        };
        format!("After={SNAPSHOT_PRE}\n{dependency}={SNAPSHOT_PRE}\n")
    }

    /// The `[Service]` lines of an update unit: the package managers' own
    /// snapshot hooks (snap-pac, apt's snapper hook) stand aside, so a run
    /// gets one pair of snapshots, not one per step.
    pub fn update_service_lines(&self) -> &'static str {
        if self.snapshots.is_some() {
            "Environment=SNAP_PAC_SKIP=y SKIP_AUTOSNAP=1\n"
        } else {
            ""
        }
    }

    /// Writes the drop-ins that order the post snapshot and the health
    /// check after every update unit, and links the units into `wants`
    /// (`update-all.target.wants/`).
    pub fn write(&self, plan: &Plan, dir: &Path, wants: &Path) -> io::Result<()> {
        let updates: Vec<String> = plan
            .units
            .iter()
            .filter(|u| u.phase == Phase::Update)
            .map(|u| plan.unit_name(u))
            .collect();
        for &unit in &self.units {
            if unit != SNAPSHOT_PRE {
                let dropins = dir.join(format!("{unit}.d"));
                fs::create_dir_all(&dropins)?;
                fs::write(dropins.join("50-after.conf"), after_dropin(&updates))?;
            }
            crate::render::link(unit, wants)?;
        }
        Ok(())
    }
}

/// The drop-in that orders a unit after `updates`.
fn after_dropin(updates: &[String]) -> String {
    let mut s = String::from(crate::render::HEADER);
    s.push_str("# After every update unit of the plan (docs/safety.md).\n\n[Unit]\n");
    for unit in updates {
        let _ = writeln!(s, "After={unit}");
    }
    s
}
