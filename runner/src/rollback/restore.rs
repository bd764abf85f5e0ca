//! The btrfs backend's undo: snapper has `undochange`, plain btrfs
//! snapshots have nothing like it, so this puts back, in the live
//! subvolume, every file that differs between the run's read-only pre and
//! post snapshots, as it is in the pre snapshot; what the run added is
//! removed. Files that did not change during the run are not touched, so
//! what changed on the machine outside the run's window stays.
//!
//! A file "differs" when its type, mode, owner, size, modification time
//! (to the nanosecond: a snapshot keeps it) or link target differ, as
//! rsync's quick check. Nested subvolumes (empty directories in a
//! snapshot) and the snapshots' own directory are left alone.

use crate::snapshot::btrfs::DIR as SNAPSHOT_DIR;
use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// What the quick check compares of one entry.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Stamp {
    kind: Kind,
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    mtime: (i64, i64),
    target: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
    Link,
    Other,
}

/// Every entry below `root` by its path relative to it.
fn walk(root: &Path) -> io::Result<BTreeMap<PathBuf, Stamp>> {
    let mut all = BTreeMap::new();
    let mut dirs = vec![PathBuf::new()];
    while let Some(rel) = dirs.pop() {
        for entry in fs::read_dir(root.join(&rel))? {
            let entry = entry?;
            let rel = rel.join(entry.file_name());
            if rel == Path::new(SNAPSHOT_DIR) {
                continue;
            }
            let meta = entry.metadata()?;
            let ft = meta.file_type();
            let kind = if ft.is_symlink() {
                Kind::Link
            } else if ft.is_dir() {
                Kind::Dir
            } else if ft.is_file() {
                Kind::File
            } else {
                Kind::Other
            };
            let target = (kind == Kind::Link)
                .then(|| fs::read_link(entry.path()))
                .transpose()?;
            // A nested subvolume's root (inode 256 on btrfs) is its own.
            if kind == Kind::Dir && meta.ino() != 256 {
                dirs.push(rel.clone());
            }
            all.insert(
                rel,
                Stamp {
                    kind,
                    mode: meta.mode(),
                    uid: meta.uid(),
                    gid: meta.gid(),
                    size: if kind == Kind::Dir { 0 } else { meta.size() },
                    mtime: if kind == Kind::Dir {
                        (0, 0)
                    } else {
                        (meta.mtime(), meta.mtime_nsec())
                    },
                    target,
                },
            );
        }
    }
    Ok(all)
}

/// Puts back in `live` what differs between the snapshots `pre` and
/// `post`; the live paths it changed.
pub fn restore(pre: &Path, post: &Path, live: &Path) -> Result<Vec<PathBuf>, String> {
    let read = |p: &Path| walk(p).map_err(|e| format!("cannot read {}: {e}", p.display()));
    let (before, after) = (read(pre)?, read(post)?);
    let mut changed = Vec::new();
    let fail = |p: &Path, e: io::Error| format!("cannot restore {}: {e}", p.display());
    // Added by the run: removed, the topmost of each added tree only.
    let mut removed: Vec<&PathBuf> = Vec::new();
    for rel in after.keys().filter(|k| !before.contains_key(*k)) {
        if removed.iter().any(|r| rel.starts_with(r)) {
            continue;
        }
        let path = live.join(rel);
        remove(&path).map_err(|e| fail(&path, e))?;
        changed.push(path);
        removed.push(rel);
    }
    // Removed or changed by the run: as in pre (parents come first).
    for (rel, stamp) in &before {
        if after.get(rel) == Some(stamp) {
            continue;
        }
        let path = live.join(rel);
        put_back(&pre.join(rel), stamp, &path).map_err(|e| fail(&path, e))?;
        changed.push(path);
    }
    Ok(changed)
}

fn remove(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Makes `live` what `from` (in the pre snapshot) is.
fn put_back(from: &Path, stamp: &Stamp, live: &Path) -> io::Result<()> {
    let is_dir = fs::symlink_metadata(live).is_ok_and(|m| m.is_dir());
    match stamp.kind {
        Kind::Dir => {
            if !is_dir {
                remove(live)?;
                fs::create_dir(live)?;
            }
        }
        Kind::Link => {
            remove(live)?;
            std::os::unix::fs::symlink(stamp.target.as_deref().unwrap_or(Path::new("")), live)?;
            return Ok(());
        }
        Kind::File => {
            if is_dir {
                remove(live)?;
            }
            // Beside it, then renamed over it: never half a file.
            let name = live.file_name().unwrap_or_default().to_string_lossy();
            let temporary = live.with_file_name(format!(".{name}.update-all-restore"));
            fs::copy(from, &temporary)?;
            set_stamp(&temporary, stamp)?;
            return fs::rename(&temporary, live);
        }
        Kind::Other => return Ok(()),
    }
    set_stamp(live, stamp)
}

fn set_stamp(path: &Path, stamp: &Stamp) -> io::Result<()> {
    std::os::unix::fs::chown(path, Some(stamp.uid), Some(stamp.gid))?;
    fs::set_permissions(path, fs::Permissions::from_mode(stamp.mode & 0o7777))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_run_changed_is_put_back_and_the_rest_left() {
        let dir = tempfile::tempdir().unwrap();
        let (pre, post, live) = (
            dir.path().join("pre"),
            dir.path().join("post"),
            dir.path().join("live"),
        );
        for root in [&pre, &post, &live] {
            fs::create_dir_all(root.join("etc")).unwrap();
            fs::write(root.join("etc/same"), "same").unwrap();
        }
        // Copies keep their times as snapshots do: the same stamp.
        for root in [&post, &live] {
            let t = fs::metadata(pre.join("etc/same"))
                .unwrap()
                .modified()
                .unwrap();
            fs::File::options()
                .write(true)
                .open(root.join("etc/same"))
                .unwrap()
                .set_modified(t)
                .unwrap();
        }
        fs::write(pre.join("etc/web.conf"), "listen 80\n").unwrap();
        fs::write(post.join("etc/web.conf"), "listen nonsense\n").unwrap();
        fs::write(live.join("etc/web.conf"), "listen nonsense\n").unwrap();
        fs::write(pre.join("etc/gone"), "was here").unwrap();
        fs::create_dir_all(post.join("etc/new/deep")).unwrap();
        fs::create_dir_all(live.join("etc/new/deep")).unwrap();
        fs::write(live.join("etc/outside"), "not the run's").unwrap();
        let mut changed = restore(&pre, &post, &live).unwrap();
        changed.sort();
        assert_eq!(
            changed,
            ["etc/gone", "etc/new", "etc/web.conf"].map(|p| live.join(p))
        );
        assert_eq!(
            fs::read_to_string(live.join("etc/web.conf")).unwrap(),
            "listen 80\n"
        );
        assert_eq!(
            fs::read_to_string(live.join("etc/gone")).unwrap(),
            "was here"
        );
        assert!(!live.join("etc/new").exists());
        assert!(live.join("etc/outside").exists());
    }
}
