//! Samples running plugin units' cgroups for the counters systemd cannot
//! give after the unit stopped.
//!
//! systemd 252 has no `MemoryPeak`, and a oneshot unit's cgroup is removed
//! the moment it stops, so the peak is taken from the cgroup's own
//! high-water mark (v2 `memory.peak`, v1 `memory.max_usage_in_bytes`),
//! else the largest `memory.current` seen, every [`INTERVAL`] while the
//! unit runs. CPU time and IO bytes are sampled too, as a fallback for
//! hosts where systemd's own counters (`CPUUsageNSec`, `IOReadBytes`) are
//! missing — e.g. cgroup v1 with `cpu` and `cpuacct` mounted apart, where
//! systemd cannot read CPU usage at all.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
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
        let v2_root = if root.join("cgroup.controllers").exists() {
            root.to_path_buf()
        } else {
            root.join("unified")
        };
        Dirs {
            v2: v2_root.join(rel),
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

struct Tracked {
    dirs: Dirs,
    seen: Counters,
}

type Units = Mutex<HashMap<String, Tracked>>;

/// Samples the cgroups of the units it tracks on a thread of its own; the
/// thread ends with the sampler.
pub struct Sampler {
    units: Arc<Units>,
}

impl Sampler {
    pub fn start() -> Sampler {
        let units: Arc<Units> = Arc::default();
        let weak = Arc::downgrade(&units);
        thread::Builder::new()
            .name("cgroup-sampler".into())
            .spawn(move || sample_while_alive(&weak))
            .expect("spawn the cgroup sampler");
        Sampler { units }
    }

    /// Starts sampling `unit`'s `cgroup` (systemd's `ControlGroup`, relative
    /// to the cgroup root), at once and then every [`INTERVAL`].
    pub fn track(&self, unit: &str, cgroup: &str) {
        let dirs = Dirs::of(cgroup);
        let seen = dirs.sample();
        lock(&self.units).insert(unit.to_owned(), Tracked { dirs, seen });
    }

    /// Stops sampling `unit` (one last sample, in case its cgroup is still
    /// there) and returns the largest values seen, if it was tracked.
    pub fn finish(&self, unit: &str) -> Option<Counters> {
        let mut t = lock(&self.units).remove(unit)?;
        t.seen.raise(t.dirs.sample());
        Some(t.seen)
    }
}

fn lock(units: &Units) -> std::sync::MutexGuard<'_, HashMap<String, Tracked>> {
    units.lock().unwrap_or_else(|e| e.into_inner())
}

fn sample_while_alive(units: &Weak<Units>) {
    loop {
        thread::sleep(INTERVAL);
        let Some(units) = units.upgrade() else { return };
        for t in lock(&units).values_mut() {
            let s = t.dirs.sample();
            t.seen.raise(s);
        }
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
