//! Load and memory (`conditions.max_load`, `conditions.min_available_memory`):
//! a scheduled run waits, re-checking, while the machine is busy, and is
//! skipped when it still is after `conditions.wait_max`. Read through
//! `sysinfo`: the 1-minute load average and the CPU count of /proc, and
//! MemAvailable (what the kernel says can be had without swapping).

use crate::output::format;
use std::time::{Duration, Instant};
use sysinfo::{CpuRefreshKind, MemoryRefreshKind, RefreshKind, System};
use update_all_core::config::Conditions;

/// How often a waiting run looks again.
const RECHECK: Duration = Duration::from_secs(10);

/// The limits of `conditions`, when it sets any.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    /// The most 1-minute load per CPU.
    pub max_load: Option<f64>,
    /// The least available memory, in bytes.
    pub min_memory: Option<u64>,
}

impl Limits {
    pub fn of(conditions: &Conditions) -> Option<Limits> {
        let limits = Limits {
            max_load: conditions.max_load,
            min_memory: conditions.min_available_memory,
        };
        (limits.max_load.is_some() || limits.min_memory.is_some()).then_some(limits)
    }

    /// What of the machine's state `now` breaks these limits, if anything.
    pub fn broken_by(&self, now: &Reading) -> Option<String> {
        if let Some(max) = self.max_load {
            if now.load_per_cpu > max {
                return Some(format!(
                    "load {:.2} per CPU, above max_load {max}",
                    now.load_per_cpu
                ));
            }
        }
        if let Some(min) = self.min_memory {
            if now.available_memory < min {
                return Some(format!(
                    "{} of memory available, below min_available_memory {}",
                    format::bytes(now.available_memory),
                    format::bytes(min)
                ));
            }
        }
        None
    }
}

/// The load and memory at one moment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reading {
    pub load_per_cpu: f64,
    pub available_memory: u64,
}

impl Reading {
    pub fn now(system: &mut System) -> Reading {
        system.refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram());
        let cpus = system.cpus().len().max(1);
        #[allow(clippy::cast_precision_loss)]
        let load_per_cpu = System::load_average().one / cpus as f64;
        Reading {
            load_per_cpu,
            available_memory: system.available_memory(),
        }
    }
}

/// Waits while the machine breaks `limits`, at most `wait_max`; the reason
/// to skip the run when it still does then.
pub fn wait(limits: Limits, wait_max: Duration) -> Option<String> {
    let mut system = System::new_with_specifics(
        RefreshKind::nothing()
            .with_cpu(CpuRefreshKind::nothing())
            .with_memory(MemoryRefreshKind::nothing().with_ram()),
    );
    let start = Instant::now();
    let mut said = false;
    loop {
        let why = limits.broken_by(&Reading::now(&mut system))?;
        let waited = start.elapsed();
        if waited >= wait_max {
            return Some(skip_reason(&why, wait_max));
        }
        if !said {
            tracing::info!(
                "waiting for the machine to calm down: {why} (at most {})",
                format::duration(wait_max)
            );
            said = true;
        }
        std::thread::sleep(RECHECK.min(wait_max - waited));
    }
}

/// "load 3.10 per CPU, above max_load 1.5 (waited 30m00s)".
fn skip_reason(why: &str, waited: Duration) -> String {
    if waited.is_zero() {
        why.to_owned()
    } else {
        format!("{why} (waited {})", format::duration(waited))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUSY: Reading = Reading {
        load_per_cpu: 3.1,
        available_memory: 300 << 20,
    };

    #[test]
    fn the_reasons_name_the_figure_and_the_setting() {
        let load = Limits {
            max_load: Some(1.5),
            min_memory: None,
        };
        assert_eq!(
            load.broken_by(&BUSY).as_deref(),
            Some("load 3.10 per CPU, above max_load 1.5")
        );
        let memory = Limits {
            max_load: Some(4.0),
            min_memory: Some(512 << 20),
        };
        assert_eq!(
            memory.broken_by(&BUSY).as_deref(),
            Some("300.0 MiB of memory available, below min_available_memory 512.0 MiB")
        );
        let calm = Limits {
            max_load: Some(4.0),
            min_memory: Some(100 << 20),
        };
        assert_eq!(calm.broken_by(&BUSY), None);
        assert_eq!(
            skip_reason(
                "load 3.10 per CPU, above max_load 1.5",
                Duration::from_secs(1800)
            ),
            "load 3.10 per CPU, above max_load 1.5 (waited 30m00s)"
        );
    }

    #[test]
    fn no_limit_no_check() {
        assert_eq!(Limits::of(&Conditions::default()), None);
    }

    #[test]
    fn the_machine_is_read() {
        let mut system = System::new_with_specifics(
            RefreshKind::nothing()
                .with_cpu(CpuRefreshKind::nothing())
                .with_memory(MemoryRefreshKind::nothing().with_ram()),
        );
        let now = Reading::now(&mut system);
        assert!(now.available_memory > 0, "{now:?}");
        assert!(now.load_per_cpu >= 0.0, "{now:?}");
    }
}
