//! The names update-all gives to systemd objects and environment
//! variables. The generator writes them, the runner finds units by them:
//! this is the one place they are spelled.

use crate::manifest::Phase;

/// The target that pulls in every plugin unit.
pub const TARGET: &str = "update-all.target";
/// The slice every plugin unit runs in.
pub const SLICE: &str = "update-all.slice";
/// Records every plugin unit's run; each plugin unit pulls it in, so runs
/// are recorded however they were started. Named like a plugin unit, but
/// not one (`recorder` is a reserved plugin name).
pub const RECORDER: &str = "update-all-recorder.service";
/// The transient timer a reboot policy leaves (see docs/configuration.md,
/// "Reboots"), and the service it starts: `update-all reboot --now`.
pub const REBOOT_TIMER: &str = "update-all-reboot.timer";
pub const REBOOT_SERVICE: &str = "update-all-reboot.service";

/// The safety units (docs/safety.md): the snapshots before and after a
/// run's updates, the health check after them, the rollback a failed
/// check starts, and the check at the boot after a run. Named like plugin
/// units, but not ones (`snapshot`, `health`, `rollback` and `boot-check`
/// are reserved plugin names).
pub const SNAPSHOT_PRE: &str = "update-all-snapshot-pre.service";
pub const SNAPSHOT_POST: &str = "update-all-snapshot-post.service";
pub const HEALTH: &str = "update-all-health.service";
pub const ROLLBACK: &str = "update-all-rollback.service";
pub const BOOT_CHECK: &str = "update-all-boot-check.service";
/// The variable that marks a safety unit, with its pseudo-plugin name
/// (`snapshot-pre`, `snapshot-post`, `health`, `rollback`, `boot-check`):
/// the recorder records such a unit as that plugin, in phase `safety`.
pub const SAFETY_VAR: &str = "UPDATE_ALL_SAFETY";
/// The phase a safety unit is recorded under.
pub const SAFETY_PHASE: &str = "safety";
/// The safety units' pseudo-plugins, in the order a run meets them; each
/// one's unit is `update-all-<step>.service`. All are reserved plugin
/// names (`values::RESERVED_NAMES`), so no plugin can be taken for one.
pub const SAFETY_STEPS: [&str; 5] = [
    "snapshot-pre",
    "snapshot-post",
    "health",
    "rollback",
    "boot-check",
];

/// Whether `plugin` is a safety unit's pseudo-plugin.
pub fn is_safety_step(plugin: &str) -> bool {
    SAFETY_STEPS.contains(&plugin)
}

/// The phase a unit of `plugin` is shown and recorded under: `safety` for
/// a safety unit (which systemd knows as an update-phase unit, being named
/// like one), else its own.
pub fn shown_phase(plugin: &str, phase: Phase) -> &'static str {
    if is_safety_step(plugin) {
        SAFETY_PHASE
    } else {
        phase.as_str()
    }
}

/// Where a unit of `plugin` sorts among a run's rows: the pre snapshot
/// first, the plugins, then the post snapshot, the health check and the
/// rollback, as a run meets them.
pub fn run_order(plugin: &str) -> usize {
    match SAFETY_STEPS.iter().position(|s| *s == plugin) {
        Some(0) => 0,
        Some(i) => i + 1,
        None => 1,
    }
}

/// `update-all-<name>.service`, or `update-all-<name>-download.service`.
pub fn unit_name(plugin: &str, phase: Phase) -> String {
    match phase {
        Phase::Update => format!("update-all-{plugin}.service"),
        other => format!("update-all-{plugin}-{}.service", other.as_str()),
    }
}

/// The environment variable a plugin setting becomes:
/// `UPDATE_ALL_<PLUGIN>_<KEY>`, upper-cased, `-` as `_`.
pub fn setting_variable(plugin: &str, key: &str) -> String {
    format!("UPDATE_ALL_{plugin}_{key}")
        .to_ascii_uppercase()
        .replace('-', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_names_by_phase() {
        assert_eq!(unit_name("apt", Phase::Update), "update-all-apt.service");
        assert_eq!(
            unit_name("apt", Phase::Download),
            "update-all-apt-download.service"
        );
    }

    #[test]
    fn safety_steps_are_their_units_and_sort_around_the_plugins() {
        for step in SAFETY_STEPS {
            let unit = unit_name(step, Phase::Update);
            assert!(
                [SNAPSHOT_PRE, SNAPSHOT_POST, HEALTH, ROLLBACK, BOOT_CHECK]
                    .contains(&unit.as_str()),
                "{unit}"
            );
            assert_eq!(shown_phase(step, Phase::Update), "safety");
        }
        assert_eq!(shown_phase("apt", Phase::Download), "download");
        assert!(!is_safety_step("healthy"));
        let mut rows = [
            "health",
            "zypper",
            "snapshot-post",
            "apt",
            "snapshot-pre",
            "rollback",
        ];
        rows.sort_by_key(|p| (run_order(p), *p));
        assert_eq!(
            rows,
            [
                "snapshot-pre",
                "apt",
                "zypper",
                "snapshot-post",
                "health",
                "rollback"
            ]
        );
    }

    #[test]
    fn setting_variables_are_upper_case_with_underscores() {
        assert_eq!(
            setting_variable("my-plugin", "max-age"),
            "UPDATE_ALL_MY_PLUGIN_MAX_AGE"
        );
    }
}
