//! Ownership and permission checks: in system scope the generator runs as
//! root at boot, so a file that a non-root user could write must never
//! reach a unit.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// As the kernel's limit on links followed in one lookup.
const MAX_LINKS: usize = 40;

/// Decides whether files may be trusted, remembering directory verdicts
/// (hundreds of manifests share a handful of directories).
pub struct Trust {
    /// Owners allowed besides root: the user itself in user scope.
    extra_owner: Option<u32>,
    /// Checks of parent directories stop here (the `UPDATE_ALL_ROOT`).
    root: PathBuf,
    dirs: HashMap<PathBuf, Result<(), String>>,
}

impl Trust {
    /// `user`: `Some(uid)` in user scope, where files the user owns are fine.
    pub fn new(root: &Path, user: Option<u32>) -> Self {
        Trust {
            extra_owner: user.filter(|&u| u != 0),
            root: fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf()),
            dirs: HashMap::new(),
        }
    }

    fn owner_ok(&self, uid: u32) -> bool {
        uid == 0 || Some(uid) == self.extra_owner
    }

    fn owners(&self) -> &'static str {
        if self.extra_owner.is_some() {
            "root or you"
        } else {
            "root"
        }
    }

    /// Checks a file and every directory above it (up to the root prefix),
    /// and returns the file's real path (read that one, not `path`) and its
    /// metadata. `executable` additionally asks for an
    /// execute bit. Costs one `lstat` per file; directory verdicts are
    /// cached, since the generator is timed at every boot.
    pub fn check_file(
        &mut self,
        path: &Path,
        executable: bool,
    ) -> Result<(PathBuf, fs::Metadata), String> {
        let (real, meta) = self.follow_links(path)?;
        if !meta.is_file() {
            return Err(format!("{} is not a regular file", real.display()));
        }
        if executable && meta.permissions().mode() & 0o111 == 0 {
            return Err(format!(
                "{} is not executable; run `chmod 755 {}`",
                real.display(),
                real.display()
            ));
        }
        self.check_meta(&real, &meta, false)?;
        match real.parent() {
            Some(parent) => self.check_dirs(parent)?,
            None => return Err(format!("{} has no directory", real.display())),
        }
        Ok((real, meta))
    }

    /// Follows a chain of symlinks to the file it ends in. Whoever may replace
    /// any link on the way may replace the file, so the directory holding
    /// each link is checked too. Absolute targets resolve under the root.
    fn follow_links(&mut self, path: &Path) -> Result<(PathBuf, fs::Metadata), String> {
        let mut current = path.to_path_buf();
        for _ in 0..MAX_LINKS {
            let lstat = fs::symlink_metadata(&current)
                .map_err(|e| format!("{}: {e}", current.display()))?;
            if !lstat.file_type().is_symlink() {
                return Ok((current, lstat));
            }
            let parent = current.parent().unwrap_or(Path::new("/")).to_path_buf();
            self.check_dirs(&parent)?;
            let target =
                fs::read_link(&current).map_err(|e| format!("{}: {e}", current.display()))?;
            current = match target.strip_prefix("/") {
                Ok(absolute) => self.root.join(absolute),
                Err(_) => parent.join(target),
            };
        }
        Err(format!(
            "{}: too many levels of symbolic links",
            path.display()
        ))
    }

    /// Checks `dir` and its parents up to the root prefix; symlinked
    /// directories are followed to where they lead.
    fn check_dirs(&mut self, dir: &Path) -> Result<(), String> {
        if let Some(verdict) = self.dirs.get(dir) {
            return verdict.clone();
        }
        let verdict = match fs::canonicalize(dir) {
            Err(e) => Err(format!("{}: {e}", dir.display())),
            Ok(real) => {
                let mut verdict = Ok(());
                let mut d = Some(real.as_path());
                while let (Ok(()), Some(current)) = (&verdict, d) {
                    verdict = self.check_dir(current);
                    d = if current == self.root {
                        None
                    } else {
                        current.parent()
                    };
                }
                verdict
            }
        };
        self.dirs.insert(dir.to_path_buf(), verdict.clone());
        verdict
    }

    fn check_dir(&mut self, dir: &Path) -> Result<(), String> {
        if let Some(verdict) = self.dirs.get(dir) {
            return verdict.clone();
        }
        let verdict = fs::metadata(dir)
            .map_err(|e| format!("{}: {e}", dir.display()))
            .and_then(|meta| self.check_meta(dir, &meta, true));
        self.dirs.insert(dir.to_path_buf(), verdict.clone());
        verdict
    }

    fn check_meta(&self, path: &Path, meta: &fs::Metadata, is_dir: bool) -> Result<(), String> {
        let mode = meta.permissions().mode();
        if !self.owner_ok(meta.uid()) {
            let owner = self
                .extra_owner
                .map_or("root:root".to_owned(), |u| u.to_string());
            return Err(format!(
                "{} is owned by uid {}, not {}; a file others can change must not reach a \
                 unit: `chown {owner} {}` if you trust it",
                path.display(),
                meta.uid(),
                self.owners(),
                path.display()
            ));
        }
        // A sticky directory (like /tmp) lets nobody replace another's files.
        let sticky = is_dir && mode & 0o1000 != 0;
        if mode & 0o022 != 0 && !sticky {
            return Err(format!(
                "{} is writable by its group or by everyone (mode {:o}); \
                 run `chmod go-w {}` if you trust it",
                path.display(),
                mode & 0o7777,
                path.display()
            ));
        }
        Ok(())
    }
}
