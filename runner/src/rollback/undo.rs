//! The second step of the ladder: undo, on the live system and without a
//! reboot, what changed between the run's pre and post snapshots, then
//! restart the services it concerns.
//!
//! - snapper: `snapper -c CONFIG undochange PRE..POST` (the files it
//!   changes are listed first with `snapper status PRE..POST`);
//! - plain btrfs: the files that differ between the read-only snapshots
//!   `<run>-pre` and `<run>-post` (`<path>/.update-all-snapshots/`) are put
//!   back as they are in the pre snapshot (`restore`).
//!
//! The pairs come from the records of the snapshot units
//! (`stats::snapshots`): one per snapper configuration or btrfs subvolume
//! of `safety.paths` whose pre and post snapshots were both taken.
//!
//! Which services restart, the simplest honest rule: the units whose own
//! files changed (a changed path under a unit directory: the unit file, or
//! a drop-in in `NAME.d/`), after a `daemon-reload`, and the running
//! services whose `ExecStart=` program is a changed file, with `systemctl
//! try-restart` (only if running); and the units the health check found
//! failed, with `systemctl restart` (a failed unit does not run, so
//! try-restart would leave it failed). A service whose configuration file
//! changed and that failed for it is in the second set: the case the
//! health check exists for.

use super::restore;
use crate::snapshot::snapper::Snapper;
use crate::stats::{snapshots, Db, RunId};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A run's pair of snapshots, as the snapshot units recorded it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Pair {
    pub backend: Backend,
    /// snapper: the snapshots' numbers; btrfs: their paths.
    pub pre: String,
    pub post: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// The snapper configuration (`root`, `testbed`).
    Snapper { config: String },
    /// The btrfs subvolume snapshotted (`/`, `/srv/data`).
    Btrfs { path: PathBuf },
}

impl Pair {
    /// "snapper undochange 4..5 (config root)".
    pub fn describe(&self) -> String {
        match &self.backend {
            Backend::Snapper { config } => format!(
                "snapper undochange {}..{} (config {config})",
                self.pre, self.post
            ),
            Backend::Btrfs { path } => format!(
                "restore in {} of the files changed between {} and {}",
                path.display(),
                self.pre,
                self.post
            ),
        }
    }
}

/// What the undo did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Undone {
    /// The paths it put back, absolute.
    pub changed: Vec<PathBuf>,
    /// Units restarted.
    pub restarted: Vec<String>,
}

impl Undone {
    /// "2 files restored (/etc/web.conf, …); restarted web.service".
    pub fn describe(&self) -> String {
        let mut text = format!("{} file(s) restored", self.changed.len());
        let shown: Vec<String> = self
            .changed
            .iter()
            .take(5)
            .map(|p| p.display().to_string())
            .collect();
        if !shown.is_empty() {
            text.push_str(&format!(" ({}", shown.join(", ")));
            if self.changed.len() > shown.len() {
                text.push_str(", …");
            }
            text.push(')');
        }
        if !self.restarted.is_empty() {
            text.push_str(&format!("; restarted {}", self.restarted.join(", ")));
        }
        text
    }
}

/// The pairs `run`'s snapshot units took: for each configuration or
/// subvolume, its newest pre and post snapshots, when both were taken.
pub fn pairs_of(db: &Db, run: RunId) -> rusqlite::Result<Vec<Pair>> {
    let rows = snapshots::of_run(&db.conn, run)?;
    let newest = |phase: &str, backend: &str, key: &str| {
        rows.iter()
            .rev()
            .find(|s| {
                s.taken() && s.phase == phase && s.backend == backend && s.config_or_path == key
            })
            .and_then(|s| s.number_or_name.clone())
    };
    let mut pairs: Vec<Pair> = Vec::new();
    for row in rows.iter().filter(|s| s.taken() && s.phase == "pre") {
        let (backend, key) = (row.backend.as_str(), row.config_or_path.as_str());
        let (Some(pre), Some(post)) = (newest("pre", backend, key), newest("post", backend, key))
        else {
            continue;
        };
        let backend = match backend {
            "snapper" => Backend::Snapper {
                config: key.to_owned(),
            },
            _ => Backend::Btrfs {
                path: PathBuf::from(key),
            },
        };
        let pair = Pair { backend, pre, post };
        if !pairs.contains(&pair) {
            pairs.push(pair);
        }
    }
    Ok(pairs)
}

/// Undoes `pairs` and restarts what they concern: the units whose files
/// changed, and `failed` (the units the health check found failed).
pub fn undo(pairs: &[Pair], failed: &[String]) -> Result<Undone, String> {
    let mut changed = Vec::new();
    for pair in pairs {
        changed.extend(match &pair.backend {
            Backend::Snapper { config } => snapper_undo(config, &pair.pre, &pair.post)?,
            Backend::Btrfs { path } => {
                restore::restore(Path::new(&pair.pre), Path::new(&pair.post), path)?
            }
        });
    }
    let restarted = restart(&changed, failed)?;
    Ok(Undone { changed, restarted })
}

/// `snapper ARGS` as the snapshot units call it (through snapperd when
/// the system bus has it, else `--no-dbus`); its stdout, or why it failed.
pub fn snapper(args: &[&str]) -> Result<String, String> {
    let mut command = Command::new("snapper");
    if !Snapper::here().dbus {
        command.arg("--no-dbus");
    }
    let out = command
        .env("LC_ALL", "C")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run snapper: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "snapper {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn snapper_undo(config: &str, pre: &str, post: &str) -> Result<Vec<PathBuf>, String> {
    let range = format!("{pre}..{post}");
    let changed = parse_status(&snapper(&["-c", config, "status", &range])?);
    snapper(&["-c", config, "undochange", &range])?;
    Ok(changed)
}

/// The paths of `snapper status` output: `c..... /etc/web.conf` lines.
fn parse_status(text: &str) -> Vec<PathBuf> {
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(_, path)| PathBuf::from(path.trim()))
        .filter(|p| p.is_absolute())
        .collect()
}

/// The directories systemd reads units from (system and user managers).
const UNIT_DIRS: &[&str] = &[
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
    "/etc/systemd/user",
    "/usr/lib/systemd/user",
];

/// The unit a changed path is a file of: `…/system/web.service` and
/// `…/system/web.service.d/10-x.conf` are `web.service`'s.
fn unit_of(path: &Path) -> Option<String> {
    let dir = UNIT_DIRS.iter().find_map(|d| path.strip_prefix(d).ok())?;
    let first = dir.components().next()?.as_os_str().to_str()?;
    // `.wants/` and `.requires/` hold links, which a daemon-reload reads
    // and no restart needs.
    if first.ends_with(".wants") || first.ends_with(".requires") {
        return None;
    }
    let unit = first.strip_suffix(".d").unwrap_or(first);
    unit.contains('.').then(|| unit.to_owned())
}

/// daemon-reload when a unit file changed, `try-restart` of the units
/// whose files changed, `restart` of the failed ones; the units restarted.
fn restart(changed: &[PathBuf], failed: &[String]) -> Result<Vec<String>, String> {
    let mut touched: Vec<String> = changed.iter().filter_map(|p| unit_of(p)).collect();
    let reload = !touched.is_empty();
    touched.extend(running_programs_changed(changed));
    touched.sort();
    touched.dedup();
    let systemctl = |args: &[&str]| -> Result<(), String> {
        let out = Command::new("systemctl")
            .args(args)
            .output()
            .map_err(|e| format!("cannot run systemctl: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "systemctl {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    };
    if reload {
        systemctl(&["daemon-reload"])?;
    }
    if !touched.is_empty() {
        let mut args = vec!["try-restart"];
        args.extend(touched.iter().map(String::as_str));
        systemctl(&args)?;
    }
    let failed: Vec<&str> = failed.iter().map(String::as_str).collect();
    if !failed.is_empty() {
        let mut reset = vec!["reset-failed"];
        reset.extend(&failed);
        // A unit that is not failed any more is no error to reset.
        let _ = systemctl(&reset);
        let mut args = vec!["restart"];
        args.extend(&failed);
        systemctl(&args)?;
    }
    let mut restarted = touched;
    restarted.extend(failed.iter().map(|s| s.to_string()));
    restarted.sort();
    restarted.dedup();
    Ok(restarted)
}

/// The running services whose `ExecStart=` program is one of `changed`:
/// they still run the program the undo replaced.
fn running_programs_changed(changed: &[PathBuf]) -> Vec<String> {
    let output = |args: &[&str]| {
        Command::new("systemctl")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    let listed = output(&[
        "list-units",
        "--type=service",
        "--state=running",
        "--no-legend",
        "--plain",
    ]);
    let running: Vec<&str> = listed
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    if running.is_empty() {
        return Vec::new();
    }
    let mut args = vec!["show", "--property=Id,ExecStart"];
    args.extend(&running);
    programs(&output(&args))
        .into_iter()
        .filter(|(_, program)| changed.iter().any(|c| c == program))
        .map(|(unit, _)| unit)
        .collect()
}

/// (unit, program) for each `ExecStart=` of `systemctl show
/// --property=Id,ExecStart` output (blocks separated by empty lines;
/// `ExecStart={ path=/usr/sbin/nginx ; argv[]=… }`).
fn programs(shown: &str) -> Vec<(String, PathBuf)> {
    let mut found = Vec::new();
    for block in shown.split("\n\n") {
        let Some(id) = block.lines().find_map(|l| l.strip_prefix("Id=")) else {
            continue;
        };
        for line in block.lines().filter(|l| l.starts_with("ExecStart=")) {
            let paths = line
                .split([';', '{', ' '])
                .filter_map(|w| w.strip_prefix("path="));
            found.extend(paths.map(|p| (id.to_owned(), PathBuf::from(p))));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snappers_status_lines_are_paths() {
        assert_eq!(
            parse_status("c..... /etc/web.conf\n+..... /etc/new file\n\n"),
            [
                PathBuf::from("/etc/web.conf"),
                PathBuf::from("/etc/new file")
            ]
        );
    }

    #[test]
    fn each_units_programs_are_read_from_systemctl_show() {
        let shown = "Id=web.service\n\
            ExecStart={ path=/usr/sbin/web ; argv[]=/usr/sbin/web -f ; ignore_errors=no ; \
            start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }\n\n\
            Id=cron.service\nExecStart=\n";
        assert_eq!(
            programs(shown),
            [("web.service".to_owned(), PathBuf::from("/usr/sbin/web"))]
        );
    }

    #[test]
    fn unit_files_and_drop_ins_name_their_unit() {
        for (path, unit) in [
            ("/etc/systemd/system/web.service", Some("web.service")),
            (
                "/usr/lib/systemd/system/web.service.d/10-x.conf",
                Some("web.service"),
            ),
            (
                "/etc/systemd/system/multi-user.target.wants/web.service",
                None,
            ),
            ("/etc/web.conf", None),
            ("/etc/systemd/system", None),
        ] {
            assert_eq!(unit_of(Path::new(path)).as_deref(), unit, "{path}");
        }
    }
}
