//! Whole-process time of `update-all-generator` on 20 and 500 synthetic
//! manifests (the generator runs at every boot, so start-up counts).
//!
//! `cargo bench -p update-all-generator` prints, per tree size, the median,
//! p90 and minimum over many runs, each into a fresh output directory.
//! Target: 500 manifests in at most 15 ms median.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A tree shaped like a busy real one, without cycles: a quarter of the
/// plugins have a download phase, all hold a mutex shared with others, a
/// third run after an earlier plugin, a fifth need a runtime mutex free, and
/// every one has settings and resources.
fn build_tree(root: &Path, count: usize) {
    let manifests = root.join("usr/lib/update-all/plugins.d");
    let exes = root.join("usr/lib/update-all/plugins");
    fs::create_dir_all(&manifests).unwrap();
    fs::create_dir_all(&exes).unwrap();
    for dir in [root, &manifests, &exes] {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
    }
    for i in 0..count {
        let name = format!("plugin{i:03}");
        let exe = exes.join(&name);
        fs::write(&exe, "#!/bin/sh\nexit 0\n").unwrap();
        fs::set_permissions(&exe, fs::Permissions::from_mode(0o755)).unwrap();
        // Every 50th plugin provides a runtime that every fifth one needs.
        let provides = if i % 50 == 0 {
            format!(", runtime:r{}", i / 50)
        } else {
            String::new()
        };
        let mut text = format!(
            "plugin:\n  name: {name}\n  version: \"1.{i}\"\n  description: \"Synthetic plugin {i}\"\n  \
             executable: /usr/lib/update-all/plugins/{name}\n  requires_sudo: true\n  \
             can_separate_download: {}\n  static_mutexes:\n    download: [system:network]\n    \
             update: [pkgmgr:m{}{provides}]\n",
            i % 4 == 0,
            i % 17
        );
        if i > 0 && i % 3 == 0 {
            text += &format!("  runs_after: [plugin{:03}]\n", i / 2);
        }
        if i % 5 == 1 {
            text += &format!(
                "  static_dependencies:\n    update: [runtime:r{}]\n",
                i / 50
            );
        }
        text += "  timeouts:\n    update: 600\n  settings:\n    auto_remove: true\n    channel: stable\n  \
                 resources:\n    memory_max: 1G\n    nice: 10\n";
        fs::write(manifests.join(format!("{name}.yaml")), text).unwrap();
    }
}

fn run_once(bin: &str, root: &Path, out: &Path) -> Duration {
    let start = Instant::now();
    let status = Command::new(bin)
        .arg(out)
        .env("UPDATE_ALL_ROOT", root)
        .env("SYSTEMD_LOG_TARGET", "console")
        .stderr(Stdio::null())
        .status()
        .unwrap();
    let took = start.elapsed();
    assert!(status.success());
    took
}

fn main() {
    let bin = env!("CARGO_BIN_EXE_update-all-generator");
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(60);
    println!("update-all-generator, whole process, {runs} runs each");
    // At boot the output goes to /run/systemd/generator, a tmpfs: write
    // there too when one is at hand.
    let shm = Path::new("/dev/shm");
    let out_base = if shm.is_dir() { Some(shm) } else { None };
    println!(
        "output on {}",
        out_base.map_or("the temporary directory's file system", |_| {
            "tmpfs (/dev/shm)"
        })
    );
    for count in [20, 500] {
        let work = tempfile::tempdir().unwrap();
        let outs = match out_base {
            Some(base) => tempfile::tempdir_in(base).unwrap(),
            None => tempfile::tempdir().unwrap(),
        };
        let root = work.path().join("root");
        build_tree(&root, count);
        let mut times: Vec<Duration> = (0..runs + 3)
            .map(|i| {
                let out = outs.path().join(format!("out{i}"));
                fs::create_dir(&out).unwrap();
                let t = run_once(bin, &root, &out);
                fs::remove_dir_all(&out).unwrap();
                t
            })
            .skip(3) // warm the page cache
            .collect();
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let units = fs::read_dir(root.join("usr/lib/update-all/plugins.d"))
            .unwrap()
            .count();
        println!(
            "{count:>4} manifests ({units} files): median {:.2} ms, p90 {:.2} ms, min {:.2} ms",
            ms(times[times.len() / 2]),
            ms(times[times.len() * 9 / 10]),
            ms(times[0])
        );
    }
}
