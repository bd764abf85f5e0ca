//! Host cgroup discovery, per-instance cgroup creation and cleanup.
//!
//! Every instance gets a fresh directory named `update-all-testbed-<pid>-<n>`
//! (`<pid>` = the test process) *below the test process's current cgroup* in
//! every mounted hierarchy. The process that later calls `unshare --cgroup`
//! moves itself into those directories first, so they become the roots of
//! the instance's cgroup namespace: the systemd inside sees them as `/` and
//! two instances never share a cgroup tree. Once it has forked the PID 1,
//! that `unshare` process is moved back out ([`CgroupSet::evict`]), so only
//! the instance's own processes live in its cgroups (systemd can then enable
//! controllers in its root on cgroup v2, "no internal processes" rule).
//!
//! Works on cgroup v2 ("unified") hosts and on v1/hybrid hosts (tmpfs on
//! `/sys/fs/cgroup` with one mount per v1 hierarchy plus `unified`).
//!
//! On a pure v2 host the test's own cgroup contains processes (the test),
//! so it cannot hand domain controllers such as `memory` down to children.
//! There the instance cgroup goes below the nearest ancestor whose
//! `cgroup.subtree_control` already enables `memory` (e.g. the slice above a
//! service or scope), falling back to the test's cgroup (then `MemoryMax=`
//! is not enforced inside).

use std::collections::BTreeSet;
use std::ffi::CString;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::sys::signal::{kill, Signal};
use nix::sys::stat::Mode;
use nix::unistd::{write, Pid};

/// Prefix of every instance cgroup directory.
pub(crate) const PREFIX: &str = "update-all-testbed-";

/// Where the host mounts its cgroup hierarchies.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// How `/sys/fs/cgroup` is organised on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// `/sys/fs/cgroup` itself is a cgroup2 mount (pure v2).
    Unified,
    /// `/sys/fs/cgroup` is a tmpfs with one mount per hierarchy below it
    /// (legacy v1 or hybrid).
    Split,
}

/// One mounted cgroup hierarchy the test process is a member of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hierarchy {
    /// `true` for cgroup2, `false` for a v1 hierarchy.
    pub v2: bool,
    /// Mount point relative to `/sys/fs/cgroup` (`""` for a unified layout).
    pub dir: String,
    /// v1 mount options that select this hierarchy again (controllers,
    /// `name=`); empty for cgroup2.
    pub options: String,
    /// Host directory of the test process's current cgroup in this hierarchy.
    pub current: PathBuf,
    /// Host directory in which instance cgroups are created (see the module
    /// docs); usually `current`.
    pub parent: PathBuf,
}

/// The host's cgroup setup, as seen by the test process.
#[derive(Debug, Clone)]
pub(crate) struct HostCgroups {
    pub layout: Layout,
    pub hierarchies: Vec<Hierarchy>,
    /// Symlinks directly in a split `/sys/fs/cgroup` (e.g. `cpu -> cpu,cpuacct`).
    pub links: Vec<(String, String)>,
}

/// A cgroup mount from `/proc/self/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mount {
    root: String,
    point: String,
    fstype: String,
    super_options: Vec<String>,
}

fn unescape_mountinfo(s: &str) -> String {
    // The kernel escapes space, tab, newline and backslash as \ooo (octal).
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                out.push(
                    d.iter()
                        .fold(0u8, |acc, c| acc.wrapping_mul(8) + (c - b'0')),
                );
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses `/proc/self/mountinfo`, keeping the last (top-most) mount of the
/// cgroup filesystems and tmpfs at or directly below `/sys/fs/cgroup`.
fn parse_mountinfo(text: &str) -> Vec<Mount> {
    let mut mounts: Vec<Mount> = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(sep) = fields.iter().position(|f| *f == "-") else {
            continue;
        };
        if fields.len() < sep + 4 || sep < 5 {
            continue;
        }
        let point = unescape_mountinfo(fields[4]);
        let in_scope = point == CGROUP_ROOT
            || point
                .strip_prefix(CGROUP_ROOT)
                .and_then(|rest| rest.strip_prefix('/'))
                .is_some_and(|name| !name.is_empty() && !name.contains('/'));
        if !in_scope {
            continue;
        }
        let mount = Mount {
            root: unescape_mountinfo(fields[3]),
            point: point.clone(),
            fstype: fields[sep + 1].to_string(),
            super_options: fields[sep + 3].split(',').map(str::to_string).collect(),
        };
        // A later mount on the same point hides the earlier one.
        mounts.retain(|m| m.point != point);
        mounts.push(mount);
    }
    mounts
}

/// Turns mountinfo + `/proc/self/cgroup` into the host layout.
fn analyse(mountinfo: &str, self_cgroup: &str) -> Result<(Layout, Vec<Hierarchy>), String> {
    let mounts = parse_mountinfo(mountinfo);
    let top = mounts
        .iter()
        .find(|m| m.point == CGROUP_ROOT)
        .ok_or_else(|| format!("nothing is mounted on {CGROUP_ROOT}"))?;
    let layout = match top.fstype.as_str() {
        "cgroup2" => Layout::Unified,
        "tmpfs" => Layout::Split,
        other => {
            return Err(format!(
                "{CGROUP_ROOT} is a {other} mount, expected cgroup2 or tmpfs"
            ))
        }
    };
    let mut hierarchies = Vec::new();
    for line in self_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_id), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let v2 = ctrls.is_empty();
        let wanted: BTreeSet<&str> = ctrls.split(',').filter(|c| !c.is_empty()).collect();
        let mount = mounts.iter().find(|m| {
            if layout == Layout::Unified && m.point != CGROUP_ROOT {
                return false;
            }
            if v2 {
                m.fstype == "cgroup2"
            } else {
                m.fstype == "cgroup"
                    && wanted
                        .iter()
                        .all(|w| m.super_options.iter().any(|o| o == w))
            }
        });
        let Some(mount) = mount else {
            // Not mounted: invisible to the systemd inside as well.
            continue;
        };
        let rel = if mount.root == "/" {
            Some(path)
        } else {
            path.strip_prefix(mount.root.as_str())
                .filter(|r| r.is_empty() || r.starts_with('/'))
        };
        let Some(rel) = rel else {
            return Err(format!(
                "cgroup {path} of hierarchy '{ctrls}' lies outside its mount {} (root {})",
                mount.point, mount.root
            ));
        };
        let mut current = PathBuf::from(&mount.point);
        current.push(rel.trim_start_matches('/'));
        let dir = mount
            .point
            .strip_prefix(CGROUP_ROOT)
            .unwrap_or("")
            .trim_start_matches('/')
            .to_string();
        let options = if v2 {
            String::new()
        } else {
            mount
                .super_options
                .iter()
                .filter(|o| *o != "rw" && *o != "ro" && !o.starts_with("release_agent="))
                .cloned()
                .collect::<Vec<_>>()
                .join(",")
        };
        let h = Hierarchy {
            v2,
            dir,
            options,
            parent: current.clone(),
            current,
        };
        if !hierarchies.contains(&h) {
            hierarchies.push(h);
        }
    }
    if hierarchies.is_empty() {
        return Err("the test process is in no mounted cgroup hierarchy".into());
    }
    if layout == Layout::Unified && !hierarchies.iter().any(|h| h.v2) {
        return Err("cgroup2 is mounted but /proc/self/cgroup has no v2 entry".into());
    }
    Ok((layout, hierarchies))
}

impl HostCgroups {
    /// Reads the host's cgroup layout from `/proc/self/{mountinfo,cgroup}`.
    pub(crate) fn detect() -> Result<HostCgroups, String> {
        let mountinfo = fs::read_to_string("/proc/self/mountinfo")
            .map_err(|e| format!("cannot read /proc/self/mountinfo: {e}"))?;
        let self_cgroup = fs::read_to_string("/proc/self/cgroup")
            .map_err(|e| format!("cannot read /proc/self/cgroup: {e}"))?;
        let (layout, mut hierarchies) = analyse(&mountinfo, &self_cgroup)?;
        if layout == Layout::Unified {
            for h in &mut hierarchies {
                h.parent = delegating_ancestor(&h.current);
            }
        }
        let mut links = Vec::new();
        if layout == Layout::Split {
            if let Ok(entries) = fs::read_dir(CGROUP_ROOT) {
                for entry in entries.flatten() {
                    if let Ok(target) = fs::read_link(entry.path()) {
                        links.push((
                            entry.file_name().to_string_lossy().into_owned(),
                            target.to_string_lossy().into_owned(),
                        ));
                    }
                }
            }
        }
        Ok(HostCgroups {
            layout,
            hierarchies,
            links,
        })
    }

    /// `type dir options` lines describing how to mount the hierarchies again
    /// inside the new cgroup namespace (consumed by the boot script).
    pub(crate) fn mount_spec(&self) -> String {
        let mut out = String::new();
        for h in &self.hierarchies {
            let (ty, opts) = if h.v2 {
                ("cgroup2", "-")
            } else {
                ("cgroup", h.options.as_str())
            };
            out.push_str(&format!("{ty} {} {opts}\n", h.dir));
        }
        out
    }

    /// `name target` lines of the symlinks in a split `/sys/fs/cgroup`.
    pub(crate) fn link_spec(&self) -> String {
        self.links
            .iter()
            .map(|(name, target)| format!("{name} {target}\n"))
            .collect()
    }
}

/// Nearest ancestor-or-self of `current` (up to `/sys/fs/cgroup`) whose
/// children get the `memory` controller; `current` if there is none.
fn delegating_ancestor(current: &Path) -> PathBuf {
    let mut dir = current;
    loop {
        let enabled = fs::read_to_string(dir.join("cgroup.subtree_control")).unwrap_or_default();
        if enabled.split_whitespace().any(|c| c == "memory") {
            return dir.to_path_buf();
        }
        match dir.parent() {
            Some(up) if up.starts_with(CGROUP_ROOT) => dir = up,
            _ => return current.to_path_buf(),
        }
    }
}

/// The cgroup directories of one instance (one per hierarchy).
#[derive(Debug)]
pub(crate) struct CgroupSet {
    dirs: Vec<PathBuf>,
    /// Per directory: the test process's cgroup in the same hierarchy.
    homes: Vec<PathBuf>,
}

impl CgroupSet {
    /// Creates `<parent>/<name>` in every hierarchy.
    ///
    /// On failure, the directories created so far are removed again.
    pub(crate) fn create(host: &HostCgroups, name: &str) -> io::Result<CgroupSet> {
        let mut set = CgroupSet {
            dirs: Vec::new(),
            homes: Vec::new(),
        };
        for h in &host.hierarchies {
            let dir = h.parent.join(name);
            if let Err(e) = fs::create_dir(&dir) {
                let _ = set.remove(Duration::from_secs(1));
                return Err(io::Error::new(
                    e.kind(),
                    format!("cannot create cgroup {}: {e}", dir.display()),
                ));
            }
            set.dirs.push(dir.clone());
            set.homes.push(h.current.clone());
            if let Err(e) = prepare(h, &dir) {
                let _ = set.remove(Duration::from_secs(1));
                return Err(e);
            }
        }
        Ok(set)
    }

    /// Host paths of the instance's cgroup directories.
    pub(crate) fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// The `cgroup.procs` files, ready for [`join`] in a `pre_exec` hook.
    pub(crate) fn procs_files(&self) -> Vec<CString> {
        self.dirs
            .iter()
            .map(|d| {
                CString::new(d.join("cgroup.procs").as_os_str().as_bytes())
                    .expect("cgroup path without NUL")
            })
            .collect()
    }

    /// Moves process `pid` from the instance's cgroups back to the test
    /// process's cgroups.
    pub(crate) fn evict(&self, pid: u32) -> io::Result<()> {
        for home in &self.homes {
            let procs = home.join("cgroup.procs");
            fs::write(&procs, pid.to_string()).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot move {pid} to {}: {e}", procs.display()),
                )
            })?;
        }
        Ok(())
    }

    /// Removes all directories depth-first, killing stray processes, and
    /// retrying while the kernel still reports them busy.
    pub(crate) fn remove(&self, timeout: Duration) -> io::Result<()> {
        let deadline = Instant::now() + timeout;
        let mut first_err = None;
        for dir in &self.dirs {
            if let Err(e) = remove_tree(dir, deadline) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

/// Per-hierarchy setup of a freshly created cgroup.
fn prepare(h: &Hierarchy, dir: &Path) -> io::Result<()> {
    if !h.v2 && h.options.split(',').any(|o| o == "cpuset") {
        // A v1 cpuset cgroup accepts no tasks until cpus/mems are set.
        for file in ["cpuset.cpus", "cpuset.mems"] {
            let value = fs::read_to_string(h.parent.join(file))?;
            if fs::read_to_string(dir.join(file))?.trim().is_empty() {
                fs::write(dir.join(file), value.trim())?;
            }
        }
    }
    Ok(())
}

/// Moves the calling process into the given `cgroup.procs` files.
///
/// Only async-signal-safe calls: meant for `CommandExt::pre_exec`.
pub(crate) fn join(procs: &[CString]) -> io::Result<()> {
    for file in procs {
        let fd = open(
            file.as_c_str(),
            OFlag::O_WRONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(io::Error::from)?;
        // "0" means the writing process itself.
        write(&fd, b"0").map_err(io::Error::from)?;
    }
    Ok(())
}

/// Removes `dir` and everything below it, children first.
fn remove_tree(dir: &Path, deadline: Instant) -> io::Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            remove_tree(&entry.path(), deadline)?;
        }
    }
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e)
                if Instant::now() < deadline && e.raw_os_error() == Some(Errno::EBUSY as i32) =>
            {
                kill_members(dir);
                thread::sleep(Duration::from_millis(20));
            }
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("cannot remove cgroup {}: {e}", dir.display()),
                ))
            }
        }
    }
}

/// SIGKILLs every process still listed in `dir/cgroup.procs`.
fn kill_members(dir: &Path) {
    let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
    for pid in procs
        .split_whitespace()
        .filter_map(|p| p.parse::<i32>().ok())
    {
        if pid > 1 {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

/// Parses `update-all-testbed-<pid>-<n>` into `<pid>`.
fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(PREFIX)?;
    let (pid, n) = rest.split_once('-')?;
    n.parse::<u64>().ok()?;
    pid.parse().ok()
}

/// Removes instance cgroups left behind by test processes that no longer
/// exist (e.g. killed with SIGKILL before their teardown ran).
pub(crate) fn sweep_stale(host: &HostCgroups) {
    for h in &host.hierarchies {
        let Ok(entries) = fs::read_dir(&h.parent) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = owner_pid(&name.to_string_lossy()) else {
                continue;
            };
            if Path::new(&format!("/proc/{pid}")).exists() {
                continue;
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            if let Err(e) = remove_tree(&entry.path(), deadline) {
                eprintln!("testbed: cannot sweep stale cgroup: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID_MOUNTINFO: &str = "\
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
23 27 0:22 / /sys rw,relatime - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    const HYBRID_CGROUP: &str = "\
9:name=systemd:/user.slice
4:memory:/process_api/abc
3:cpuset:/
2:cpu,cpuacct:/
0::/user.slice
";

    #[test]
    fn hybrid_layout() {
        let (layout, hs) = analyse(HYBRID_MOUNTINFO, HYBRID_CGROUP).unwrap();
        assert_eq!(layout, Layout::Split);
        let by_dir = |d: &str| hs.iter().find(|h| h.dir == d).unwrap().clone();
        assert_eq!(by_dir("systemd").options, "xattr,name=systemd");
        assert_eq!(
            by_dir("systemd").current,
            PathBuf::from("/sys/fs/cgroup/systemd/user.slice")
        );
        assert_eq!(
            by_dir("memory").current,
            PathBuf::from("/sys/fs/cgroup/memory/process_api/abc")
        );
        assert_eq!(by_dir("cpu,cpuacct").options, "cpu,cpuacct");
        assert_eq!(
            by_dir("cpuset").current,
            PathBuf::from("/sys/fs/cgroup/cpuset/")
        );
        let unified = by_dir("unified");
        assert!(unified.v2);
        assert_eq!(
            unified.current,
            PathBuf::from("/sys/fs/cgroup/unified/user.slice")
        );
        assert_eq!(hs.len(), 5);
    }

    #[test]
    fn unified_layout() {
        let mi = "22 1 0:5 / / rw - ext4 /dev/sda rw\n\
                  30 22 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
        let (layout, hs) = analyse(mi, "0::/system.slice/foo.service\n").unwrap();
        assert_eq!(layout, Layout::Unified);
        assert_eq!(hs.len(), 1);
        assert_eq!(hs[0].dir, "");
        assert_eq!(
            hs[0].current,
            PathBuf::from("/sys/fs/cgroup/system.slice/foo.service")
        );
    }

    #[test]
    fn mount_root_prefix_is_stripped() {
        let mi = "30 22 0:26 /docker/x /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        let (_, hs) = analyse(mi, "0::/docker/x/sub\n").unwrap();
        assert_eq!(hs[0].current, PathBuf::from("/sys/fs/cgroup/sub"));
        assert!(analyse(mi, "0::/elsewhere\n").is_err());
    }

    #[test]
    fn no_cgroupfs_is_an_error() {
        assert!(analyse("27 1 254:0 / / rw - ext4 /dev/vda rw\n", "0::/\n").is_err());
    }

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape_mountinfo(r"/a\040b\134c"), "/a b\\c");
        assert_eq!(unescape_mountinfo(r"/plain\9"), r"/plain\9");
    }

    #[test]
    fn owner_pid_parsing() {
        assert_eq!(owner_pid("update-all-testbed-123-4"), Some(123));
        assert_eq!(owner_pid("update-all-testbed-123"), None);
        assert_eq!(owner_pid("system.slice"), None);
    }
}
