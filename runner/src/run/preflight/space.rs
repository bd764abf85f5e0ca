//! Free disk space for one plugin unit: `update-all plugin-exec --condition`,
//! the `ExecCondition=` of the units of a plugin whose manifest names the
//! paths it `writes:` (docs/manifest.md).
//!
//! It runs the plugin's `is-applicable` (its exit status passes through:
//! 1 to 254 skip the unit, as before), then its `estimate-update`, and
//! checks the free space of the filesystems of the `writes:` paths against
//! the estimate's sizes: the download lands on the first path's filesystem,
//! the installed size on the second's (the first's when there is only
//! one), and every filesystem named keeps a margin ([`with_margin`]). A
//! filesystem short of its need skips the unit (exit 1) with the reason —
//! "needs 1.2 GiB on /var, 300.0 MiB free" — on stderr (the unit's journal)
//! and as the unit's status text (`STATUS=skipped: …`, which `update-all
//! run` shows on the unit's row). Nothing of the plugin ran then, so
//! nothing is half-applied; the other plugins' units run as usual.
//!
//! The update unit of a plugin with a download unit (`--downloaded`) asks
//! systemd how the download unit, which ran just before it, ended: skipped
//! for want of space, the update is skipped with the same reason (systemd
//! starts a unit whose `Requires=` was skipped by its condition, so this is
//! what keeps it from fetching what the download could not); downloaded,
//! the space was checked moments ago and the download is in the cache, so
//! it runs without a second estimate. Otherwise (the bus cannot be asked)
//! it checks as the download unit did. An estimate that fails, or that
//! gives no size at all, checks nothing: the unit runs, as it would without
//! `writes:`. The cost is one `estimate-update` per plugin and run.

use crate::output::format;
use crate::plugin::invoke::Invoker;
use crate::systemd::{Bus, Outcome, SKIPPED_STATUS};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use update_all_core::manifest::{Phase, Timeouts};
use update_all_core::names::unit_name;
use update_all_core::values::Seconds;
use update_all_core::Scope;
use update_all_protocol::{Command, Estimate, EstimateAnswer, Package, PluginRun};

/// Every filesystem named keeps this much free beyond its need.
pub const MARGIN: u64 = 32 << 20;
/// And this share of its need (a tenth): estimates are estimates.
const MARGIN_SHARE: u64 = 10;

/// What the unit's `ExecCondition=` was given.
#[derive(Clone, Debug)]
pub struct Request<'a> {
    /// The plugin's name, for messages.
    pub plugin: &'a str,
    pub executable: &'a Path,
    /// The manifest's `writes:`, the download's path first.
    pub writes: &'a [PathBuf],
    /// An update whose download unit ran before it.
    pub downloaded: bool,
    /// Whose manager runs the unit.
    pub scope: Scope,
}

/// The download and installed sizes an estimate gives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sizes {
    pub download: u64,
    pub installed: u64,
}

impl Sizes {
    /// The estimate's totals, or the sums of its packages' sizes; `None`
    /// when it gives no size at all.
    pub fn of(e: &Estimate) -> Option<Sizes> {
        let total = |given: Option<u64>, each: fn(&Package) -> Option<u64>| {
            given.or_else(|| {
                e.packages_to_update
                    .iter()
                    .filter_map(each)
                    .reduce(u64::saturating_add)
            })
        };
        let download = total(e.total_download_size_bytes, |p| p.download_size_bytes);
        let installed = total(e.total_installed_size_bytes, |p| p.installed_size_bytes);
        (download.is_some() || installed.is_some()).then(|| Sizes {
            download: download.unwrap_or(0),
            installed: installed.unwrap_or(0),
        })
    }
}

/// One filesystem a plugin writes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filesystem {
    /// `st_dev`: the same for every path on it.
    pub dev: u64,
    /// Where it is mounted (the highest directory on it), as messages name it.
    pub mount: PathBuf,
    /// Bytes free to unprivileged writers (`df`'s Avail).
    pub free: u64,
}

impl Filesystem {
    /// The filesystem that holds `path`, or would once it is made: the one
    /// of its nearest existing ancestor.
    pub fn of(path: &Path) -> std::io::Result<Filesystem> {
        let existing = path
            .ancestors()
            .find(|p| p.symlink_metadata().is_ok())
            .unwrap_or(Path::new("/"));
        let dev = existing.metadata()?.dev();
        let stat = nix::sys::statvfs::statvfs(existing)?;
        // fsblkcnt_t is 32 bits wide on some 32-bit targets.
        #[allow(clippy::useless_conversion)]
        let free = u64::from(stat.blocks_available()).saturating_mul(stat.fragment_size());
        let mount = existing
            .ancestors()
            .take_while(|p| p.metadata().is_ok_and(|m| m.dev() == dev))
            .last()
            .unwrap_or(existing)
            .to_owned();
        Ok(Filesystem { dev, mount, free })
    }
}

/// `need` and the margin on top.
pub fn with_margin(need: u64) -> u64 {
    need.saturating_add(need / MARGIN_SHARE)
        .saturating_add(MARGIN)
}

/// What each filesystem needs, with its margin, each filesystem once
/// (`filesystems` are those of the `writes:` paths, in their order).
pub fn needs(filesystems: &[Filesystem], sizes: Sizes) -> Vec<(Filesystem, u64)> {
    let mut needs: Vec<(Filesystem, u64)> = Vec::new();
    for (i, fs) in filesystems.iter().enumerate() {
        let mut need = 0;
        if i == 0 {
            need += sizes.download;
        }
        if i == 1 || (i == 0 && filesystems.len() == 1) {
            need += sizes.installed;
        }
        match needs.iter_mut().find(|(f, _)| f.dev == fs.dev) {
            Some((_, n)) => *n = n.saturating_add(need),
            None => needs.push((fs.clone(), need)),
        }
    }
    needs
        .into_iter()
        .map(|(fs, need)| (fs, with_margin(need)))
        .collect()
}

/// "needs 1.2 GiB on /var, 300.0 MiB free", for each filesystem short of
/// its need, joined by "; "; `None` when all have room.
pub fn shortfall(needs: &[(Filesystem, u64)]) -> Option<String> {
    let short: Vec<String> = needs
        .iter()
        .filter(|(fs, need)| fs.free < *need)
        .map(|(fs, need)| {
            format!(
                "needs {} on {}, {} free",
                format::bytes(*need),
                fs.mount.display(),
                format::bytes(fs.free)
            )
        })
        .collect();
    (!short.is_empty()).then(|| short.join("; "))
}

/// Runs the condition: the exit status of `ExecCondition=` (0 runs the
/// unit, 1 to 254 skip it, 255 fails it).
pub fn condition(request: &Request) -> u8 {
    // systemd's start timeout (is_applicable + estimate_update + the
    // phase's, in the unit) bounds these; the invoker's own stays out of
    // its way.
    let week = Seconds::new(604_800).expect("in range");
    let invoker = Invoker {
        plugin: request.plugin.to_owned(),
        executable: request.executable.to_owned(),
        env: Vec::new(),
        timeouts: Timeouts {
            is_applicable: week,
            estimate_update: week,
            ..Timeouts::default()
        },
    };
    let applicable = invoker.run(Command::IsApplicable);
    pass_on_stderr(&applicable);
    match applicable.code() {
        Ok(0) => {}
        Ok(code) => return u8::try_from(code).unwrap_or(255),
        Err(e) => {
            tracing::error!("{e}");
            return 255;
        }
    }
    if request.writes.is_empty() {
        return 0;
    }
    if request.downloaded {
        match download_ended(request.scope, request.plugin) {
            Download::Done => return 0,
            Download::Skipped(reason) => return skip(request.plugin, &reason, None),
            Download::Unknown => {}
        }
    }
    let Some(sizes) = estimated(&invoker, request.scope) else {
        return 0;
    };
    let mut filesystems = Vec::new();
    for path in request.writes {
        let Some(path) = in_home(path, std::env::var_os("HOME")) else {
            tracing::warn!("no $HOME for {}; not checked", path.display());
            continue;
        };
        match Filesystem::of(&path) {
            Ok(fs) => filesystems.push(fs),
            Err(e) => tracing::warn!(
                "cannot tell the free space of {} ({e}); not checked",
                path.display()
            ),
        }
    }
    match shortfall(&needs(&filesystems, sizes)) {
        Some(reason) => skip(request.plugin, &reason, Some(sizes)),
        None => 0,
    }
}

/// `path` with a leading `~` as `home` (`$HOME`: the home of the unit's
/// user); `None` for such a path without one.
fn in_home(path: &Path, home: Option<std::ffi::OsString>) -> Option<PathBuf> {
    match path.strip_prefix("~") {
        Ok(rest) => Some(PathBuf::from(home?).join(rest)),
        Err(_) => Some(path.to_owned()),
    }
}

/// Says why the unit is skipped (journal, status text); its exit status.
fn skip(plugin: &str, reason: &str, sizes: Option<Sizes>) -> u8 {
    match sizes {
        Some(sizes) => tracing::warn!(
            "{plugin} is skipped: it {reason} (download {}, installed {}, from its estimate)",
            format::bytes(sizes.download),
            format::bytes(sizes.installed)
        ),
        None => tracing::warn!("{plugin} is skipped, as its download was: it {reason}"),
    }
    crate::sd_notify::notify(&format!("STATUS={SKIPPED_STATUS}{reason}"));
    1
}

/// How the plugin's download unit ended, as the update unit after it sees.
#[derive(Debug, PartialEq, Eq)]
enum Download {
    /// It ran and succeeded: its condition found room for it all.
    Done,
    /// Its condition skipped it for this reason.
    Skipped(String),
    /// Anything else, or systemd could not be asked.
    Unknown,
}

fn download_ended(scope: Scope, plugin: &str) -> Download {
    let unit = unit_name(plugin, Phase::Download);
    let props = zbus::block_on(async { Bus::connect(scope).await?.outcome(&unit).await });
    match props {
        Ok(props) => match props.skip_reason() {
            Some(reason) => Download::Skipped(reason.to_owned()),
            None if props.ended_as(None) == Outcome::Success
                && props.exec_main_start_us.is_some_and(|us| us > 0) =>
            {
                Download::Done
            }
            None => Download::Unknown,
        },
        Err(e) => {
            tracing::warn!("cannot ask systemd how {unit} ended ({e}); checking again");
            Download::Unknown
        }
    }
}

/// The sizes the plugin's estimate gives; `None` (with a word in the
/// journal) when it gives none or fails.
fn estimated(invoker: &Invoker, scope: Scope) -> Option<Sizes> {
    let run = invoker.run(Command::EstimateUpdate);
    pass_on_stderr(&run);
    match run.estimate() {
        Ok(EstimateAnswer::Updates(e)) => {
            // Also what a plugin that can roll back returns to: one
            // estimate per plugin and run (crate::rollback::estimates).
            crate::rollback::estimates::record(scope, &invoker.plugin, &invoker.executable, &e);
            let sizes = Sizes::of(&e);
            if sizes.is_none() {
                tracing::info!("the estimate gives no sizes; free space not checked");
            }
            sizes
        }
        Ok(EstimateAnswer::NotApplicable(_)) => None,
        Ok(EstimateAnswer::Failed(e)) => {
            tracing::warn!(
                "the estimate failed ({}: {}); free space not checked",
                e.code,
                e.message
            );
            None
        }
        Err(e) => {
            tracing::warn!("{e}; free space not checked");
            None
        }
    }
}

/// What the plugin said on stderr goes to the unit's journal, as in its
/// own units' commands.
fn pass_on_stderr(run: &PluginRun) {
    let _ = std::io::stderr().write_all(&run.stderr);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fs(dev: u64, mount: &str, free: u64) -> Filesystem {
        Filesystem {
            dev,
            mount: mount.into(),
            free,
        }
    }

    const MIB: u64 = 1 << 20;

    #[test]
    fn sizes_come_from_the_totals_else_the_packages() {
        let package = |d, i| Package {
            name: "p".into(),
            download_size_bytes: d,
            installed_size_bytes: i,
            ..Package::default()
        };
        let e = Estimate {
            packages_to_update: vec![package(Some(5), None), package(Some(7), None)],
            total_installed_size_bytes: Some(100),
            ..Estimate::default()
        };
        assert_eq!(
            Sizes::of(&e),
            Some(Sizes {
                download: 12,
                installed: 100
            })
        );
        let none = Estimate {
            packages_to_update: vec![package(None, None)],
            ..Estimate::default()
        };
        assert_eq!(Sizes::of(&none), None, "no sizes: no check");
    }

    #[test]
    fn the_download_lands_on_the_first_path_the_installation_on_the_second() {
        let sizes = Sizes {
            download: 100 * MIB,
            installed: 300 * MIB,
        };
        let cache = fs(1, "/var", 0);
        let root = fs(2, "/", 0);
        let boot = fs(3, "/boot", 0);
        let three = [cache.clone(), root.clone(), boot.clone()];
        assert_eq!(
            needs(&three, sizes),
            [
                (cache.clone(), with_margin(100 * MIB)),
                (root.clone(), with_margin(300 * MIB)),
                (boot.clone(), MARGIN),
            ]
        );
        // One filesystem for all: its needs add up, counted once.
        let same = [cache.clone(), fs(1, "/var", 0)];
        assert_eq!(
            needs(&same, sizes),
            [(cache.clone(), with_margin(400 * MIB))]
        );
        assert_eq!(
            needs(std::slice::from_ref(&root), sizes),
            [(root, with_margin(400 * MIB))]
        );
    }

    #[test]
    fn the_reason_names_the_need_the_filesystem_and_its_free_space() {
        let needs = [
            (fs(1, "/var", 300 * MIB), 1288 * MIB),
            (fs(2, "/", 10 << 30), 500 * MIB),
            (fs(3, "/boot", 20 * MIB), MARGIN),
        ];
        assert_eq!(
            shortfall(&needs).as_deref(),
            Some("needs 1.3 GiB on /var, 300.0 MiB free; needs 32.0 MiB on /boot, 20.0 MiB free")
        );
        assert_eq!(shortfall(&needs[1..2]), None);
        assert_eq!(with_margin(100 * MIB), 142 * MIB);
    }

    #[test]
    fn a_tilde_is_the_home_directory() {
        let home = || Some("/home/u".into());
        assert_eq!(
            in_home(Path::new("~/.cache/pip"), home()),
            Some("/home/u/.cache/pip".into())
        );
        assert_eq!(in_home(Path::new("~"), home()), Some("/home/u".into()));
        assert_eq!(
            in_home(Path::new("/var/~x"), home()),
            Some("/var/~x".into())
        );
        assert_eq!(in_home(Path::new("~/x"), None), None);
    }

    #[test]
    fn a_path_not_made_yet_is_on_its_parents_filesystem() {
        let dir = tempfile::tempdir().unwrap();
        let here = Filesystem::of(dir.path()).unwrap();
        let later = Filesystem::of(&dir.path().join("not/yet")).unwrap();
        assert_eq!(here.dev, later.dev);
        assert_eq!(here.mount, later.mount);
        assert!(dir.path().starts_with(&here.mount));
        let root = Filesystem::of(Path::new("/")).unwrap();
        assert_eq!(root.mount, Path::new("/"));
    }
}
