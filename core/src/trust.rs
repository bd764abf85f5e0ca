//! Ownership and permission checks: in system scope the generator runs as
//! root at boot, so a file that a non-root user could write must never
//! reach a unit, nor be run by the runner.
//!
//! A path is trusted when every step of its resolution is: each directory
//! from the root prefix down is owned by root (or, in user scope, the
//! user), and writable by nobody else — no group or world write bit, and
//! no sticky bit either, since a sticky directory such as /tmp still lets
//! anyone create the names not taken yet; each symlink met on the way,
//! whether it names a directory or the file, is owned by a trusted owner
//! and sits in a trusted directory; and the file itself is owned by a
//! trusted owner and writable by nobody else.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// As the kernel's limit on links followed in one lookup.
const MAX_LINKS: usize = 40;

/// Decides whether files may be trusted, remembering the verdicts on
/// directories (hundreds of manifests share a handful of them).
pub struct Trust {
    /// Owners allowed besides root: the user itself in user scope.
    extra_owner: Option<u32>,
    /// The root prefix as given: absolute link targets resolve under it,
    /// and the walk up stops there.
    root: PathBuf,
    /// The same, as the kernel resolves it.
    real_root: PathBuf,
    /// Directory as asked → its real path, or why it is not trusted.
    dirs: HashMap<PathBuf, Result<PathBuf, String>>,
}

impl Trust {
    /// `user`: `Some(uid)` in user scope, where files the user owns are fine.
    pub fn new(root: &Path, user: Option<u32>) -> Self {
        Trust {
            extra_owner: user.filter(|&u| u != 0),
            root: root.to_path_buf(),
            real_root: fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf()),
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

    /// Checks a file, every directory above it (up to the root prefix) and
    /// every symlink on the way, and returns the file's real path (read
    /// that one, not `path`) and its metadata. `executable` additionally
    /// asks for an execute bit. Costs one `lstat` per file and link;
    /// directory verdicts are cached, since the generator is timed at
    /// every boot.
    pub fn check_file(
        &mut self,
        path: &Path,
        executable: bool,
    ) -> Result<(PathBuf, fs::Metadata), String> {
        let mut links = 0;
        let (real, meta) = self.walk(path, &mut links)?;
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
        Ok((real, meta))
    }

    /// Resolves `path` one name at a time: its directory first (checked
    /// and cached), then the name itself, a symlink being followed after
    /// its owner is checked. Returns the real path and its `lstat`.
    fn walk(&mut self, path: &Path, links: &mut usize) -> Result<(PathBuf, fs::Metadata), String> {
        let lstat = |p: &Path| fs::symlink_metadata(p).map_err(|e| format!("{}: {e}", p.display()));
        let (parent, last) = match (path.parent(), path.components().next_back()) {
            (Some(parent), Some(last)) if !self.is_top(path) => (parent, last),
            // The root prefix or `/` itself: checked as a directory.
            _ => return Ok((path.to_path_buf(), lstat(path)?)),
        };
        let dir = self.dir(parent, links)?;
        let here = match last {
            Component::Normal(name) => dir.join(name),
            Component::ParentDir => self.up(&dir),
            // `.` (only as a whole relative path) and prefixes.
            _ => dir.clone(),
        };
        let meta = lstat(&here)?;
        if !meta.file_type().is_symlink() {
            return Ok((here, meta));
        }
        *links += 1;
        if *links > MAX_LINKS {
            return Err(format!(
                "{}: too many levels of symbolic links",
                path.display()
            ));
        }
        // Whoever owns a link may replace it (even in a sticky directory).
        if !self.owner_ok(meta.uid()) {
            return Err(format!(
                "the symlink {} is owned by uid {}, not {}; whoever owns a link decides \
                 where it leads: `chown -h root:root {}` if you trust it",
                here.display(),
                meta.uid(),
                self.owners(),
                here.display()
            ));
        }
        let target = fs::read_link(&here).map_err(|e| format!("{}: {e}", here.display()))?;
        let next = match target.strip_prefix("/") {
            Ok(absolute) => self.root.join(absolute),
            Err(_) => dir.join(target),
        };
        self.walk(&next, links)
    }

    /// `dir`'s parent, never above the root prefix (as `..` in a chroot).
    fn up(&self, dir: &Path) -> PathBuf {
        if self.is_top(dir) {
            dir.to_path_buf()
        } else {
            dir.parent().unwrap_or(dir).to_path_buf()
        }
    }

    /// The root prefix (either spelling), `/`, or the first name of a
    /// relative path: where walking up stops.
    fn is_top(&self, path: &Path) -> bool {
        path == self.root
            || path == self.real_root
            || path
                .parent()
                .map(Path::as_os_str)
                .unwrap_or_default()
                .is_empty()
    }

    /// Checks the directory `dir` and everything above it; its real path.
    fn dir(&mut self, dir: &Path, links: &mut usize) -> Result<PathBuf, String> {
        if let Some(verdict) = self.dirs.get(dir) {
            return verdict.clone();
        }
        let empty = dir.as_os_str().is_empty();
        let asked = if empty { Path::new(".") } else { dir };
        let verdict = self.walk(asked, links).and_then(|(real, lstat)| {
            // The top is not walked into: it may itself be a link.
            let meta = if lstat.file_type().is_symlink() {
                fs::metadata(&real).map_err(|e| format!("{}: {e}", real.display()))?
            } else {
                lstat
            };
            if !meta.is_dir() {
                return Err(format!("{} is not a directory", real.display()));
            }
            self.check_meta(&real, &meta, true)?;
            Ok(real)
        });
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
        if is_dir && mode & 0o1000 != 0 {
            // Anyone who may write it may create the names not taken yet.
            return Err(format!(
                "{} is a sticky directory (mode {:o}), where others may create files; \
                 keep plugins and their manifests out of directories such as /tmp",
                path.display(),
                mode & 0o7777
            ));
        }
        if mode & 0o022 != 0 {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{chown, lchown, symlink};

    /// A root prefix (0755, root's) with `usr/lib/x/` holding `exe`
    /// (0755) and `data` (0644), all root's.
    struct Tree(tempfile::TempDir);

    impl Tree {
        fn new() -> Tree {
            let t = Tree(tempfile::tempdir().unwrap());
            chmod(t.root(), 0o755);
            fs::create_dir_all(t.path("usr/lib/x")).unwrap();
            for d in ["usr", "usr/lib", "usr/lib/x"] {
                chmod(&t.path(d), 0o755);
            }
            t.file("usr/lib/x/exe", 0o755);
            t.file("usr/lib/x/data", 0o644);
            t
        }
        fn root(&self) -> &Path {
            self.0.path()
        }
        fn path(&self, rel: &str) -> PathBuf {
            self.root().join(rel)
        }
        fn file(&self, rel: &str, mode: u32) -> PathBuf {
            let p = self.path(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, "#!/bin/sh\n").unwrap();
            chmod(&p, mode);
            p
        }
        fn dir(&self, rel: &str, mode: u32) -> PathBuf {
            let p = self.path(rel);
            fs::create_dir_all(&p).unwrap();
            chmod(&p, mode);
            p
        }
        fn check(&self, rel: &str, user: Option<u32>) -> Result<PathBuf, String> {
            Trust::new(self.root(), user)
                .check_file(&self.path(rel), true)
                .map(|(real, _)| real)
        }
    }

    fn chmod(p: &Path, mode: u32) {
        fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
    }

    fn refused(result: Result<PathBuf, String>, why: &str) {
        match result {
            Err(e) => assert!(e.contains(why), "{e}\nwanted: {why}"),
            Ok(p) => panic!("{} was trusted; wanted: {why}", p.display()),
        }
    }

    #[test]
    fn a_root_owned_file_in_root_owned_directories_is_trusted() {
        let t = Tree::new();
        assert_eq!(t.check("usr/lib/x/exe", None), Ok(t.path("usr/lib/x/exe")));
    }

    #[test]
    fn a_file_owned_by_a_user_is_refused_unless_it_is_the_users_scope() {
        let t = Tree::new();
        chown(t.path("usr/lib/x/exe"), Some(4001), None).unwrap();
        refused(
            t.check("usr/lib/x/exe", None),
            "exe is owned by uid 4001, not root",
        );
        assert!(t.check("usr/lib/x/exe", Some(4001)).is_ok());
        refused(t.check("usr/lib/x/exe", Some(4002)), "not root or you");
    }

    #[test]
    fn a_file_others_may_write_is_refused() {
        let t = Tree::new();
        for mode in [0o775, 0o757] {
            chmod(&t.path("usr/lib/x/exe"), mode);
            refused(
                t.check("usr/lib/x/exe", None),
                "exe is writable by its group",
            );
        }
    }

    #[test]
    fn an_executable_needs_an_execute_bit_and_a_regular_file() {
        let t = Tree::new();
        refused(t.check("usr/lib/x/data", None), "data is not executable");
        refused(t.check("usr/lib/x", None), "x is not a regular file");
        refused(t.check("usr/lib/x/missing", None), "No such file");
    }

    #[test]
    fn a_directory_owned_by_a_user_anywhere_above_is_refused() {
        let t = Tree::new();
        chown(t.path("usr/lib"), Some(4001), None).unwrap();
        refused(
            t.check("usr/lib/x/exe", None),
            "usr/lib is owned by uid 4001",
        );
    }

    #[test]
    fn a_directory_others_may_write_anywhere_above_is_refused() {
        let t = Tree::new();
        chmod(&t.path("usr"), 0o777);
        refused(
            t.check("usr/lib/x/exe", None),
            "usr is writable by its group",
        );
        chmod(&t.path("usr"), 0o775);
        refused(
            t.check("usr/lib/x/exe", None),
            "usr is writable by its group",
        );
    }

    #[test]
    fn a_sticky_directory_such_as_tmp_is_refused() {
        let t = Tree::new();
        t.dir("tmp", 0o1777);
        t.file("tmp/exe", 0o755);
        refused(
            t.check("tmp/exe", None),
            "tmp is a sticky directory (mode 1777)",
        );
        // Sticky alone, without a write bit for others, is refused too.
        chmod(&t.path("tmp"), 0o1755);
        refused(t.check("tmp/exe", None), "sticky directory (mode 1755)");
        // And so is everything below it.
        t.dir("tmp/sub", 0o755);
        t.file("tmp/sub/exe", 0o755);
        refused(t.check("tmp/sub/exe", None), "sticky directory");
    }

    #[test]
    fn a_symlink_owned_by_a_user_is_refused_though_it_leads_to_a_good_file() {
        let t = Tree::new();
        let link = t.path("usr/lib/x/link");
        symlink("exe", &link).unwrap();
        assert_eq!(t.check("usr/lib/x/link", None), Ok(t.path("usr/lib/x/exe")));
        lchown(&link, Some(4001), None).unwrap();
        refused(
            t.check("usr/lib/x/link", None),
            "the symlink ROOT/usr/lib/x/link is owned by uid 4001"
                .replace("ROOT", &t.root().display().to_string())
                .as_str(),
        );
    }

    #[test]
    fn a_symlinked_directory_on_the_way_is_checked_as_a_link_and_where_it_leads() {
        let t = Tree::new();
        // /opt/bin → /usr/lib/x: absolute targets resolve under the root.
        t.dir("opt", 0o755);
        symlink("/usr/lib/x", t.path("opt/bin")).unwrap();
        assert_eq!(t.check("opt/bin/exe", None), Ok(t.path("usr/lib/x/exe")));
        lchown(t.path("opt/bin"), Some(4001), None).unwrap();
        refused(t.check("opt/bin/exe", None), "the symlink");
        // A root-owned link into a directory a user owns.
        fs::remove_file(t.path("opt/bin")).unwrap();
        t.dir("home/u", 0o755);
        t.file("home/u/exe", 0o755);
        chown(t.path("home/u"), Some(4001), None).unwrap();
        symlink("../home/u", t.path("opt/bin")).unwrap();
        refused(t.check("opt/bin/exe", None), "home/u is owned by uid 4001");
        // A link in a sticky directory, whoever owns it.
        t.dir("tmp", 0o1777);
        symlink("/usr/lib/x/exe", t.path("tmp/exe")).unwrap();
        refused(t.check("tmp/exe", None), "tmp is a sticky directory");
    }

    #[test]
    fn links_never_lead_above_the_root_and_loops_end() {
        let t = Tree::new();
        // `..` at the root stays there, as in a chroot.
        symlink("../../../../../../usr/lib/x/exe", t.path("usr/lib/x/up")).unwrap();
        assert_eq!(t.check("usr/lib/x/up", None), Ok(t.path("usr/lib/x/exe")));
        symlink("loop2", t.path("usr/lib/x/loop1")).unwrap();
        symlink("loop1", t.path("usr/lib/x/loop2")).unwrap();
        refused(t.check("usr/lib/x/loop1", None), "too many levels");
    }
}
