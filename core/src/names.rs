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
    fn setting_variables_are_upper_case_with_underscores() {
        assert_eq!(
            setting_variable("my-plugin", "max-age"),
            "UPDATE_ALL_MY_PLUGIN_MAX_AGE"
        );
    }
}
