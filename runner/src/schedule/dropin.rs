//! The drop-in that sets the timer's schedule:
//! `/etc/systemd/system/update-all.timer.d/50-schedule.conf` for the system
//! manager, `~/.config/systemd/user/update-all.timer.d/50-schedule.conf`
//! for a user's. `UPDATE_ALL_SYSTEMD_CONFIG_DIR` replaces the directory
//! before `update-all.timer.d` (tests use `/run/systemd/system`).

use super::calendar::Calendar;
use super::TIMER;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use update_all_core::Scope;

const NAME: &str = "50-schedule.conf";
const HEADER: &str = "# Written by `update-all schedule enable`; \
                      `update-all schedule disable` removes it.\n";

/// Where the drop-in of `scope` goes.
pub fn path(scope: Scope) -> PathBuf {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let base = match (var("UPDATE_ALL_SYSTEMD_CONFIG_DIR"), scope) {
        (Some(dir), _) => dir,
        (None, Scope::System) => PathBuf::from("/etc/systemd/system"),
        (None, Scope::User) => var("XDG_CONFIG_HOME")
            .filter(|p| p.is_absolute())
            .or_else(|| var("HOME").map(|h| h.join(".config")))
            .unwrap_or_else(|| PathBuf::from(".config"))
            .join("systemd/user"),
    };
    base.join(format!("{TIMER}.d")).join(NAME)
}

/// The drop-in's text for `calendar`: the shipped `OnCalendar=` is reset
/// first, or the timer would elapse on both.
pub fn text(calendar: &Calendar) -> String {
    format!(
        "{HEADER}# {} is {}.\n[Timer]\nOnCalendar=\nOnCalendar={}\n",
        calendar.expression, calendar.normalized, calendar.expression
    )
}

/// Writes the drop-in (whole or not at all: a new file renamed over the
/// old one); returns its path.
pub fn write(scope: Scope, calendar: &Calendar) -> io::Result<PathBuf> {
    let path = path(scope);
    let dir = path.parent().expect("a drop-in has a directory");
    fs::create_dir_all(dir)?;
    let new = dir.join(format!(".{NAME}.new"));
    fs::write(&new, text(calendar))?;
    fs::set_permissions(&new, fs::Permissions::from_mode(0o644))?;
    fs::rename(&new, &path)?;
    Ok(path)
}

/// Removes the drop-in (and its directory, when that is left empty); says
/// whether there was one.
pub fn remove(scope: Scope) -> io::Result<bool> {
    let path = path(scope);
    match fs::remove_file(&path) {
        Ok(()) => {
            if let Some(dir) = path.parent() {
                let _ = fs::remove_dir(dir); // fails while other drop-ins are there
            }
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// The expression the drop-in sets, if there is one of ours.
pub fn expression(scope: Scope) -> Option<String> {
    let text = fs::read_to_string(path(scope)).ok()?;
    text.lines()
        .filter_map(|l| l.strip_prefix("OnCalendar="))
        .rfind(|v| !v.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_drop_in_resets_the_shipped_calendar() {
        let c = Calendar {
            expression: "daily".into(),
            normalized: "*-*-* 00:00:00".into(),
            next: String::new(),
        };
        let text = text(&c);
        assert!(
            text.ends_with("[Timer]\nOnCalendar=\nOnCalendar=daily\n"),
            "{text}"
        );
    }
}
