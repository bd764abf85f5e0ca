//! Samples the cgroups of running plugin units for the counters systemd
//! cannot give after a unit stopped.
//!
//! systemd 252 has no `MemoryPeak`, and a oneshot unit's cgroup is removed
//! the moment it stops, so the peak is taken from the cgroup's own
//! high-water mark (v2 `memory.peak`, v1 `memory.max_usage_in_bytes`),
//! else the largest `memory.current` seen, every [`INTERVAL`] while the
//! unit runs. CPU time and IO bytes are sampled too, as a fallback for
//! hosts where systemd's own counters (`CPUUsageNSec`, `IOReadBytes`) are
//! missing — e.g. cgroup v1 with `cpu` and `cpuacct` mounted apart, where
//! systemd cannot read CPU usage at all.
//!
//! The recorder runs in `update-all.slice` like every plugin unit, so the
//! sampler watches the units in its own slice's cgroup directory: no D-Bus
//! call per unit, and a unit is sampled from the first scan after it
//! starts, however busy the recorder is.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::{DirEntryExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, Weak};
use std::thread;
use std::time::Duration;

pub const INTERVAL: Duration = Duration::from_millis(250);
const ROOT: &str = "/sys/fs/cgroup";

/// The largest values seen; None where the host has no such counter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub cpu_ns: Option<u64>,
    pub memory_peak: Option<u64>,
    pub io_read: Option<u64>,
    pub io_write: Option<u64>,
}

impl Counters {
    fn raise(&mut self, s: Counters) {
        let max = |a: Option<u64>, b: Option<u64>| a.max(b);
        self.cpu_ns = max(self.cpu_ns, s.cpu_ns);
        self.memory_peak = max(self.memory_peak, s.memory_peak);
        self.io_read = max(self.io_read, s.io_read);
        self.io_write = max(self.io_write, s.io_write);
    }
}

/// Where one cgroup's files are: the v2 directory (or v1/hybrid's
/// `unified`), and the v1 memory and cpuacct directories.
struct Dirs {
    v2: PathBuf,
    memory_v1: PathBuf,
    cpuacct_v1: Vec<PathBuf>,
}

impl Dirs {
    fn of(cgroup: &str) -> Dirs {
        let rel = cgroup.trim_start_matches('/');
        let root = Path::new(ROOT);
        Dirs {
            v2: v2_root().join(rel),
            memory_v1: root.join("memory").join(rel),
            cpuacct_v1: ["cpuacct", "cpu,cpuacct"]
                .iter()
                .map(|h| root.join(h).join(rel))
                .collect(),
        }
    }

    /// Reads every counter once; a cgroup that is gone reads as nothing.
    fn sample(&self) -> Counters {
        let cpu_ns = field(&self.v2.join("cpu.stat"), "usage_usec")
            .map(|us| us * 1000)
            .or_else(|| {
                self.cpuacct_v1
                    .iter()
                    .find_map(|d| number(&d.join("cpuacct.usage")))
            });
        let memory_peak = [
            self.v2.join("memory.peak"),
            self.memory_v1.join("memory.max_usage_in_bytes"),
            self.v2.join("memory.current"),
            self.memory_v1.join("memory.usage_in_bytes"),
        ]
        .iter()
        .find_map(|f| number(f));
        let (io_read, io_write) = io_stat(&self.v2.join("io.stat")).unzip();
        Counters {
            cpu_ns,
            memory_peak,
            io_read,
            io_write,
        }
    }
}

fn number(file: &Path) -> Option<u64> {
    fs::read_to_string(file).ok()?.trim().parse().ok()
}

/// `key value` lines, as in `cpu.stat`.
fn field(file: &Path, key: &str) -> Option<u64> {
    let text = fs::read_to_string(file).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Read and written bytes summed over the devices of `io.stat`
/// (`8:0 rbytes=1 wbytes=2 rios=...`).
fn io_stat(file: &Path) -> Option<(u64, u64)> {
    let text = fs::read_to_string(file).ok()?;
    let (mut r, mut w) = (0, 0);
    for kv in text.split_whitespace() {
        if let Some(v) = kv.strip_prefix("rbytes=") {
            r += v.parse::<u64>().unwrap_or(0);
        } else if let Some(v) = kv.strip_prefix("wbytes=") {
            w += v.parse::<u64>().unwrap_or(0);
        }
    }
    Some((r, w))
}

/// The cgroup v2 hierarchy: `/sys/fs/cgroup`, or `unified` under it on a
/// hybrid (v1) host.
fn v2_root() -> &'static Path {
    static ROOT_V2: OnceLock<PathBuf> = OnceLock::new();
    ROOT_V2.get_or_init(|| {
        let root = Path::new(ROOT);
        if root.join("cgroup.controllers").exists() {
            root.to_path_buf()
        } else {
            root.join("unified")
        }
    })
}

/// This process's cgroup (`/proc/self/cgroup`: the v2 line, else v1's
/// `name=systemd`), relative to the cgroup root.
fn own_cgroup() -> Option<String> {
    let text = fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = |controllers: &str| {
        text.lines().find_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, c, p) = (parts.next()?, parts.next()?, parts.next()?);
            (c == controllers).then(|| p.to_owned())
        })
    };
    path("").or_else(|| path("name=systemd"))
}

/// The directories to list for the units in `slice`.
fn listing_dirs(slice: &str) -> [PathBuf; 2] {
    let rel = slice.trim_start_matches('/');
    [
        v2_root().join(rel),
        Path::new(ROOT).join("systemd").join(rel),
    ]
}

/// A unit's cgroup directory (its inode tells one invocation's from the
/// next one's) and the largest values seen in it.
type Seen = HashMap<String, (u64, Counters)>;

struct Shared {
    units: Mutex<Seen>,
    /// Pokes the sampler into scanning at once.
    wake: Condvar,
    /// The slice the plugin units run in; the recorder's unit is in it.
    slice: String,
    own_unit: String,
}

/// Samples every unit in the recorder's slice on a thread of its own; the
/// thread ends with the sampler.
pub struct Sampler {
    shared: Arc<Shared>,
}

impl Sampler {
    /// None when this process's cgroup is unknown (no cgroup file system).
    pub fn start() -> Option<Sampler> {
        let own = own_cgroup()?;
        let (slice, own_unit) = own.rsplit_once('/')?;
        let shared = Arc::new(Shared {
            units: Mutex::default(),
            wake: Condvar::new(),
            slice: slice.to_owned(),
            own_unit: own_unit.to_owned(),
        });
        let weak = Arc::downgrade(&shared);
        thread::Builder::new()
            .name("cgroup-sampler".into())
            .spawn(move || sample_while_alive(&weak))
            .ok()?;
        Some(Sampler { shared })
    }

    /// Scans now, e.g. because a unit has just started.
    pub fn poke(&self) {
        self.shared.wake.notify_one();
    }

    /// The largest values seen of `unit` since it was last finished (one
    /// last sample first, in case its cgroup is still there); forgets it.
    pub fn finish(&self, unit: &str) -> Option<Counters> {
        let cgroup = format!("{}/{unit}", self.shared.slice);
        let (ino, mut seen) = lock(&self.shared.units).remove(unit)?;
        if inode(&cgroup) == Some(ino) {
            seen.raise(Dirs::of(&cgroup).sample());
        }
        Some(seen)
    }
}

fn lock(units: &Mutex<Seen>) -> MutexGuard<'_, Seen> {
    units.lock().unwrap_or_else(|e| e.into_inner())
}

fn inode(cgroup: &str) -> Option<u64> {
    listing_dirs(cgroup)
        .iter()
        .find_map(|d| fs::metadata(d).ok())
        .map(|m| m.ino())
}

fn sample_while_alive(shared: &Weak<Shared>) {
    while let Some(shared) = shared.upgrade() {
        scan(&shared);
        let units = lock(&shared.units);
        // Poked or not, the next scan comes within an interval.
        let _ = shared.wake.wait_timeout(units, INTERVAL);
    }
}

/// Samples every unit cgroup in the slice but the recorder's own.
fn scan(shared: &Shared) {
    let Some(entries) = listing_dirs(&shared.slice)
        .iter()
        .find_map(|d| fs::read_dir(d).ok())
    else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".service") || name == shared.own_unit {
            continue;
        }
        let sample = Dirs::of(&format!("{}/{name}", shared.slice)).sample();
        let mut units = lock(&shared.units);
        let seen = units
            .entry(name)
            .or_insert((entry.ino(), Counters::default()));
        if seen.0 != entry.ino() {
            // A new invocation's cgroup: the old one's figures are not its.
            *seen = (entry.ino(), Counters::default());
        }
        seen.1.raise(sample);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cgroup_files() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        fs::write(&f, "usage_usec 43741\nuser_usec 7953\n").unwrap();
        assert_eq!(field(&f, "usage_usec"), Some(43741));
        assert_eq!(field(&f, "user"), None);
        fs::write(
            &f,
            "8:0 rbytes=10 wbytes=20 rios=1\n8:16 rbytes=1 wbytes=2\n",
        )
        .unwrap();
        assert_eq!(io_stat(&f), Some((11, 22)));
        fs::write(&f, "55767040\n").unwrap();
        assert_eq!(number(&f), Some(55767040));
        assert_eq!(number(&dir.path().join("gone")), None);
    }

    #[test]
    fn keeps_the_largest_values() {
        let mut c = Counters {
            cpu_ns: Some(5),
            memory_peak: Some(100),
            ..Counters::default()
        };
        c.raise(Counters {
            cpu_ns: Some(7),
            memory_peak: Some(50),
            io_read: Some(1),
            io_write: None,
        });
        assert_eq!(
            c,
            Counters {
                cpu_ns: Some(7),
                memory_peak: Some(100),
                io_read: Some(1),
                io_write: None
            }
        );
    }
}
