//! Plain btrfs snapshots, where no snapper configuration covers a path:
//! `btrfs subvolume snapshot -r PATH PATH/.update-all-snapshots/RUN-pre`
//! (and `RUN-post`). The directory is a subvolume of its own, created on
//! first use, so that later snapshots of PATH do not contain the earlier
//! ones. The names say the run, so a run finds its pair again from the
//! names alone.

use super::{command, Phase};
use nix::sys::statfs::{statfs, BTRFS_SUPER_MAGIC};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where a subvolume's snapshots go, inside it.
pub const DIR: &str = ".update-all-snapshots";
/// The inode number of every btrfs subvolume's root directory
/// (BTRFS_FIRST_FREE_OBJECTID).
const SUBVOLUME_ROOT_INODE: u64 = 256;

/// Whether `path` is a btrfs subvolume (its root directory), by the
/// filesystem's magic number and the subvolume root's inode number.
pub fn is_subvolume(path: &Path) -> bool {
    let btrfs = statfs(path).is_ok_and(|s| s.filesystem_type() == BTRFS_SUPER_MAGIC);
    btrfs && std::fs::metadata(path).is_ok_and(|m| m.ino() == SUBVOLUME_ROOT_INODE)
}

/// Takes the read-only snapshot of `subvolume` for `run`'s `phase`; its
/// path. A second one of the same run and phase (the unit started again)
/// gets the next free name (`12-pre-2`).
pub fn snapshot(subvolume: &Path, run: i64, phase: Phase) -> Result<PathBuf, String> {
    let dir = subvolume.join(DIR);
    if !dir.exists() {
        command::output(
            Command::new("btrfs")
                .args(["subvolume", "create"])
                .arg(&dir),
        )?;
    }
    let base = name(run, phase);
    let target = (1..)
        .map(|n| match n {
            1 => dir.join(&base),
            n => dir.join(format!("{base}-{n}")),
        })
        .find(|p| !p.exists())
        .expect("a free name");
    command::output(
        Command::new("btrfs")
            .args(["subvolume", "snapshot", "-r"])
            .arg(subvolume)
            .arg(&target),
    )?;
    Ok(target)
}

/// The snapshot's name for `run`'s `phase`, the first of its kind.
pub fn name(run: i64, phase: Phase) -> String {
    format!("{run}-{}", phase.as_str())
}

/// The pre snapshot of `run` under `subvolume`, found by its name (the
/// newest, when the pre unit ran twice).
pub fn pre_of(subvolume: &Path, run: i64) -> Option<PathBuf> {
    let base = name(run, Phase::Pre);
    let entries = std::fs::read_dir(subvolume.join(DIR)).ok()?;
    let mut found: Vec<(u32, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let file = e.file_name().to_string_lossy().into_owned();
            let n = match file.strip_prefix(&base)? {
                "" => 1,
                rest => rest.strip_prefix('-')?.parse().ok()?,
            };
            Some((n, e.path()))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, p)| p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_say_the_run_and_the_newest_pre_is_found() {
        assert_eq!(name(12, Phase::Pre), "12-pre");
        let root = tempfile::tempdir().unwrap();
        assert_eq!(pre_of(root.path(), 12), None);
        let dir = root.path().join(DIR);
        for n in ["12-pre", "12-pre-2", "12-post", "120-pre", "1-pre"] {
            std::fs::create_dir_all(dir.join(n)).unwrap();
        }
        assert_eq!(pre_of(root.path(), 12), Some(dir.join("12-pre-2")));
        assert_eq!(pre_of(root.path(), 1), Some(dir.join("1-pre")));
        assert!(!is_subvolume(root.path()) || root.path().metadata().unwrap().ino() == 256);
    }
}
