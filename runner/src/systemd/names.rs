//! Names on the bus: which units are plugin units, and the unit and job
//! behind an object path. The names update-all gives its units are
//! spelled once, in `update_all_core::names`.

use update_all_core::names::RECORDER;
use update_all_core::Phase;

/// Where systemd puts its unit objects; the rest of the path is the
/// unit's name, escaped (see [`unit_of_path`]).
const UNIT_PATH_PREFIX: &str = "/org/freedesktop/systemd1/unit/";

/// `update-all-*.service`, except the recorder.
pub fn is_plugin_unit(name: &str) -> bool {
    name.starts_with("update-all-")
        && name.ends_with(".service")
        && name != RECORDER
        && !name.starts_with(CHECK_PREFIX)
}

/// The transient units of `update-all check`. Plugin names never hold
/// `--`, so these cannot be taken for a plugin's units.
pub const CHECK_PREFIX: &str = "update-all--check-";

/// Plugin and phase from a unit name alone, for a unit without the
/// environment the generator gives it (`update-all-X-download.service` is
/// taken as X's download phase).
pub(super) fn plugin_of_name(name: &str) -> Option<(String, Phase)> {
    let base = name.strip_prefix("update-all-")?.strip_suffix(".service")?;
    Some(match base.strip_suffix("-download") {
        Some(plugin) => (plugin.to_owned(), Phase::Download),
        None => (base.to_owned(), Phase::Update),
    })
}

pub fn parse_phase(s: &str) -> Option<Phase> {
    match s {
        "download" => Some(Phase::Download),
        "update" => Some(Phase::Update),
        "estimate" => Some(Phase::Estimate),
        _ => None,
    }
}

/// `/org/freedesktop/systemd1/job/42` → 42.
pub(super) fn job_id(path: &str) -> u32 {
    path.rsplit('/')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The unit name of a unit object path: systemd escapes every byte but
/// `[A-Za-z0-9]` as `_xx` (hex).
pub fn unit_of_path(path: &str) -> Option<String> {
    let label = path.strip_prefix(UNIT_PATH_PREFIX)?;
    let bytes = label.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'_' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_units_are_not_plugin_units() {
        // A plugin may be called check-x; the check's own units use `--`.
        assert!(is_plugin_unit("update-all-check-x.service"));
        assert!(!is_plugin_unit("update-all--check-x.service"));
        assert!(!is_plugin_unit(RECORDER));
    }

    #[test]
    fn unit_paths_unescape() {
        assert_eq!(
            unit_of_path("/org/freedesktop/systemd1/unit/update_2dall_2dapt_2ddownload_2eservice")
                .as_deref(),
            Some("update-all-apt-download.service")
        );
        assert_eq!(unit_of_path("/org/freedesktop/systemd1/job/3"), None);
        assert_eq!(unit_of_path("/org/freedesktop/systemd1/unit/bad_4"), None);
    }

    #[test]
    fn names_and_phases() {
        assert!(is_plugin_unit("update-all-apt.service"));
        assert!(!is_plugin_unit(RECORDER));
        assert!(!is_plugin_unit(update_all_core::names::TARGET));
        assert_eq!(
            plugin_of_name("update-all-apt-download.service"),
            Some(("apt".into(), Phase::Download))
        );
        assert_eq!(
            plugin_of_name("update-all-apt.service"),
            Some(("apt".into(), Phase::Update))
        );
        assert_eq!(job_id("/org/freedesktop/systemd1/job/42"), 42);
    }
}
