//! Makespan of a small DAG of sleep plugins, `update-all run` against
//! systemd's own `systemctl start update-all.target`, each from a fresh boot
//! of the test bed (`tests/testbed`), and where the difference goes.
//!
//! ```sh
//! cargo build --release --workspace --bins   # else the debug binaries are used
//! cargo bench -p update-all --bench makespan # MAKESPAN_ROUNDS=5 by default
//! ```
//!
//! The plugins (system scope, one update unit each):
//!
//! | plugin | does | ordering |
//! | --- | --- | --- |
//! | a, b | sleep 1 s | b `runs_after: [a]` |
//! | m1, m2 | sleep 1 s | both hold the mutex `bench` |
//! | p, q | sleep 2 s | none |
//! | f | fails after 0.2 s | none |
//! | s | not applicable (`is-applicable` exits 1) | none |
//!
//! The critical path is 2 s. Each round boots one instance for
//! `update-all run` (no terminal) and another for `systemctl start
//! update-all.target`, both with the statistics recorder as installed, so
//! both create the database of a fresh boot. It prints each round's wall
//! times and a breakdown from systemd's own timestamps (read over the bus
//! with `busctl`: the units' state changes and every `ExecCondition=` and
//! `ExecStart=` command's start and exit) and from the plugin scripts,
//! which log their own start and end (`$EPOCHREALTIME`, no fork). All
//! times are CLOCK_REALTIME, shared by the host and the instance.
//!
//! Target (issue 9): `update-all run` ≤ 2.2 s in every round.
//!
//! # Reading the breakdown
//!
//! Per round and mode, in ms after the command started unless said:
//! when the run's first job runs (the recorder's: everything the command
//! does before its start request lands), when the pre-flight's
//! `network-online.target` became active, the recorder's start-up (job
//! running → `READY=1`; plugin units wait for it), its readiness → the
//! first plugin unit, the median `ExecCondition=` and `plugin-exec`
//! overhead (its start → the script's start, plus the script's end → its
//! exit), the longest gap on the two chains, the last unit's end, the
//! command's exit after it, and when `systemd-logind.service` started if
//! that was during the command (see below). Then a table per unit, and medians over
//! the rounds. A round whose pre-flight waited for `network-online.target`
//! (the runner says "waiting for the network") is marked.
//!
//! logind runs before each command starts, as on a machine booted to
//! `multi-user.target`; `MAKESPAN_LOGIND=0` leaves it to bus activation
//! (the test bed boots `basic.target`), which then falls on the run.
//!
//! `MAKESPAN_STRACE=DIR` also traces the runner and the recorder with
//! `strace` in each `update-all run` round and keeps the traces in DIR:
//! for finding where the time goes, not for the figures (tracing slows
//! them).

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use testbed::{Testbed, RUNNER};

/// The units' target, started by both modes.
const TARGET: &str = "update-all.target";
/// The statistics recorder: every plugin unit is `After=` its readiness.
const RECORDER: &str = "update-all-recorder.service";
/// Where the plugin scripts log their start and end, inside.
const LOG: &str = "/run/bench.log";

/// A plugin of the DAG.
struct Plugin {
    name: &'static str,
    /// Manifest lines under `plugin:` besides name and executable.
    manifest: &'static str,
    /// What `update` does.
    body: &'static str,
    applicable: bool,
}

const PLUGINS: &[Plugin] = &[
    Plugin {
        name: "a",
        manifest: "scope: system",
        body: "sleep 1",
        applicable: true,
    },
    Plugin {
        name: "b",
        manifest: "scope: system\nruns_after: [a]",
        body: "sleep 1",
        applicable: true,
    },
    Plugin {
        name: "m1",
        manifest: "scope: system\nstatic_mutexes:\n  update: [bench]",
        body: "sleep 1",
        applicable: true,
    },
    Plugin {
        name: "m2",
        manifest: "scope: system\nstatic_mutexes:\n  update: [bench]",
        body: "sleep 1",
        applicable: true,
    },
    Plugin {
        name: "p",
        manifest: "scope: system",
        body: "sleep 2",
        applicable: true,
    },
    Plugin {
        name: "q",
        manifest: "scope: system",
        body: "sleep 2",
        applicable: true,
    },
    Plugin {
        name: "f",
        manifest: "scope: system",
        body: "sleep 0.2; exit 1",
        applicable: true,
    },
    Plugin {
        name: "s",
        manifest: "scope: system",
        body: "sleep 1",
        applicable: false,
    },
];

/// The plugin's executable: bash for `$EPOCHREALTIME`, so logging its own
/// start and end costs no fork.
fn script(plugin: &Plugin) -> String {
    format!(
        "#!/bin/bash\n\
         [ \"$1\" = is-applicable ] && exit {}\n\
         echo \"$UPDATE_ALL_PLUGIN start $EPOCHREALTIME\" >> {LOG}\n\
         ( {} ); status=$?\n\
         echo \"$UPDATE_ALL_PLUGIN end $EPOCHREALTIME\" >> {LOG}\n\
         exit $status\n",
        if plugin.applicable { 0 } else { 1 },
        plugin.body,
    )
}

/// How a round starts the units.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// `update-all run`, until it exits.
    Runner,
    /// `systemctl start update-all.target`, until it returns and no plugin
    /// unit has a job left.
    Systemctl,
}

impl Mode {
    fn label(self) -> &'static str {
        match self {
            Mode::Runner => "update-all run",
            Mode::Systemctl => "systemctl start update-all.target",
        }
    }
}

/// The binaries under test: release builds when both are there, else debug.
struct Binaries {
    generator: PathBuf,
    runner: PathBuf,
    profile: &'static str,
}

impl Binaries {
    fn find() -> Self {
        // target/<profile>/deps/makespan-<hash> → target
        let exe = std::env::current_exe().expect("current_exe");
        let target = exe
            .ancestors()
            .nth(3)
            .expect("the bench runs from target/<profile>/deps");
        for profile in ["release", "debug"] {
            let dir = target.join(profile);
            let (generator, runner) = (dir.join("update-all-generator"), dir.join("update-all"));
            if generator.is_file() && runner.is_file() {
                return Binaries {
                    generator,
                    runner,
                    profile,
                };
            }
        }
        panic!(
            "no update-all and update-all-generator under {}: \
             run `cargo build --release --workspace --bins` first",
            target.display()
        );
    }
}

/// Whether logind runs before the command starts, as on a machine booted
/// to `multi-user.target` (the test bed boots `basic.target` only, so the
/// first to ask logind, plugin-exec's inhibitor or the runner's
/// notification, would wait for its bus activation); `MAKESPAN_LOGIND=0`
/// leaves it to be activated.
fn logind_first() -> bool {
    std::env::var("MAKESPAN_LOGIND").as_deref() != Ok("0")
}

/// A fresh instance with update-all and the DAG's plugins installed.
fn boot(bins: &Binaries) -> Testbed {
    let tb = Testbed::boot().unwrap_or_else(|e| panic!("{e}"));
    for plugin in PLUGINS {
        tb.add_plugin(plugin.name, plugin.manifest, &script(plugin));
    }
    // Reloads systemd, which runs the generator.
    tb.install_update_all(&bins.generator, Some(&bins.runner));
    if logind_first() {
        tb.check(&["systemctl", "start", "systemd-logind.service"]);
    }
    tb
}

/// Microseconds since the epoch (CLOCK_REALTIME, as systemd's and bash's).
fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after the epoch")
        .as_micros() as i64
}

/// One command of `ExecCondition=` or `ExecStart=`: start and exit (µs).
#[derive(Clone, Copy, Default)]
struct Exec {
    start: i64,
    exit: i64,
}

/// What systemd and the plugin script say of one unit (µs, 0 = never).
#[derive(Default)]
struct UnitTimes {
    name: String,
    inactive_exit: i64,
    active_enter: i64,
    inactive_enter: i64,
    result: String,
    condition: Option<Exec>,
    main: Option<Exec>,
    /// The plugin script's own start and end (`update`), if it ran.
    script: Option<(i64, i64)>,
}

/// `unit`'s object path: every byte but ASCII letters and digits as `_xx`.
fn object_path(unit: &str) -> String {
    let mut path = "/org/freedesktop/systemd1/unit/".to_owned();
    for b in unit.bytes() {
        if b.is_ascii_alphanumeric() {
            path.push(b as char);
        } else {
            path.push_str(&format!("_{b:02x}"));
        }
    }
    path
}

/// The properties of `unit`'s `interface` (`busctl --json=short`), by name.
fn properties(tb: &Testbed, unit: &str, interface: &str) -> BTreeMap<String, Value> {
    let path = object_path(unit);
    let out = tb.check(&[
        "busctl",
        "--json=short",
        "call",
        "org.freedesktop.systemd1",
        &path,
        "org.freedesktop.DBus.Properties",
        "GetAll",
        "s",
        interface,
    ]);
    let reply: Value = serde_json::from_str(&out).expect("busctl prints JSON");
    reply["data"][0]
        .as_object()
        .expect("a{sv}")
        .iter()
        .map(|(k, v)| (k.clone(), v["data"].clone()))
        .collect()
}

/// The first command of an `a(sasbttttuii)` property such as `ExecCondition`.
fn exec(value: Option<&Value>) -> Option<Exec> {
    let first = value?.as_array()?.first()?.as_array()?;
    let us = |i: usize| first.get(i).and_then(Value::as_i64).unwrap_or(0);
    // path, argv, ignore, start (realtime, monotonic), exit (realtime, monotonic), ...
    Some(Exec {
        start: us(3),
        exit: us(5),
    })
}

fn unit_times(tb: &Testbed, unit: &str) -> UnitTimes {
    let u = properties(tb, unit, "org.freedesktop.systemd1.Unit");
    let us = |name: &str| u.get(name).and_then(Value::as_i64).unwrap_or(0);
    let mut times = UnitTimes {
        name: unit.to_owned(),
        inactive_exit: us("InactiveExitTimestamp"),
        active_enter: us("ActiveEnterTimestamp"),
        inactive_enter: us("InactiveEnterTimestamp"),
        ..UnitTimes::default()
    };
    if unit.ends_with(".service") {
        let s = properties(tb, unit, "org.freedesktop.systemd1.Service");
        times.result = s
            .get("Result")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        times.condition = exec(s.get("ExecCondition"));
        times.main = exec(s.get("ExecStart"));
    }
    times
}

/// The scripts' log: plugin → (start, end) in µs.
fn script_times(tb: &Testbed) -> BTreeMap<String, (i64, i64)> {
    let log = std::fs::read_to_string(tb.host_path(LOG)).unwrap_or_default();
    let mut times: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for line in log.lines() {
        let mut words = line.split_whitespace();
        let (Some(plugin), Some(what), Some(at)) = (words.next(), words.next(), words.next())
        else {
            continue;
        };
        let at = (at.parse::<f64>().expect("$EPOCHREALTIME") * 1e6).round() as i64;
        let entry = times.entry(plugin.to_owned()).or_default();
        match what {
            "start" => entry.0 = at,
            _ => entry.1 = at,
        }
    }
    times
}

/// One measured round of one mode.
struct Round {
    mode: Mode,
    /// Wall time of the command (until no plugin job is left, for systemctl).
    wall: Duration,
    /// When the command was started (µs).
    t0: i64,
    units: Vec<UnitTimes>,
    recorder: UnitTimes,
    /// `network-online.target`, which the runner's pre-flight starts.
    network_online: Option<UnitTimes>,
    /// `systemd-logind.service`: the runner asks logind at the end whom to
    /// notify, which starts it on a fresh boot (bus activation).
    logind: Option<UnitTimes>,
    /// The runner's pre-flight said it waited for `network-online.target`
    /// (it polls the job every 250 ms).
    waited_for_network: bool,
    exit_code: Option<i32>,
}

fn plugin_unit(plugin: &str) -> String {
    format!("update-all-{plugin}.service")
}

/// Boots, starts the DAG the `mode` way, waits for its end, reads the times.
fn measure(bins: &Binaries, mode: Mode) -> Round {
    let tb = boot(bins);
    let trace = trace_dir().filter(|_| mode == Mode::Runner);
    if trace.is_some() {
        trace_recorder(&tb);
    }
    let t0 = now_us();
    let start = Instant::now();
    let out = match (mode, &trace) {
        (Mode::Runner, None) => tb.exec(&[RUNNER, "run"]),
        (Mode::Runner, Some(_)) => tb.exec(&traced("/run/run.strace", &[RUNNER, "run"])),
        (Mode::Systemctl, _) => tb.systemctl(&["start", TARGET]),
    };
    if mode == Mode::Systemctl {
        // `--wait`-like: the target's start job ends after its units (a
        // target is After= what it Wants=), so this rarely loops.
        while tb
            .check(&["systemctl", "list-jobs", "--no-legend", "update-all-*"])
            .lines()
            .any(|l| !l.contains(RECORDER))
        {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let wall = start.elapsed();
    let scripts = script_times(&tb);
    let units = PLUGINS
        .iter()
        .map(|p| {
            let mut times = unit_times(&tb, &plugin_unit(p.name));
            times.script = scripts.get(p.name).copied();
            times
        })
        .collect();
    let recorder = unit_times(&tb, RECORDER);
    let network_online = Some(unit_times(&tb, "network-online.target"));
    let logind = Some(unit_times(&tb, "systemd-logind.service"));
    if mode == Mode::Runner && out.status.code() != Some(1) {
        eprintln!(
            "warning: update-all run exited {:?} (1 expected: f fails)\n{}{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    if let Some(dir) = &trace {
        save_traces(&tb, dir, t0);
    }
    let round = Round {
        mode,
        wall,
        t0,
        units,
        recorder,
        network_online,
        logind,
        waited_for_network: String::from_utf8_lossy(&out.stderr)
            .contains("waiting for the network"),
        exit_code: out.status.code(),
    };
    tb.shutdown().unwrap_or_else(|e| eprintln!("teardown: {e}"));
    round
}

/// `strace` as the traces are taken: every thread, epoch timestamps (µs),
/// D-Bus messages long enough to read their member names.
const STRACE: [&str; 4] = ["strace", "-fttt", "-s512", "-o"];

/// `command` under [`STRACE`], writing the trace to `out` (inside).
fn traced<'a>(out: &'a str, command: &[&'a str]) -> Vec<&'a str> {
    STRACE
        .iter()
        .copied()
        .chain([out])
        .chain(command.iter().copied())
        .collect()
}

/// `MAKESPAN_STRACE=DIR`: each `update-all run` round also traces the
/// runner and the recorder with `strace` and leaves the traces in DIR
/// (which distorts the times: for finding out where they go, not for
/// the figures).
fn trace_dir() -> Option<PathBuf> {
    std::env::var_os("MAKESPAN_STRACE").map(PathBuf::from)
}

/// Runs the recorder under `strace` (a drop-in; `NotifyAccess=all`, as its
/// main process is then strace's).
fn trace_recorder(tb: &Testbed) {
    tb.write(
        format!("/run/systemd/system/{RECORDER}.d/90-strace.conf"),
        format!(
            "[Service]\nNotifyAccess=all\nExecStart=\nExecStart={}\n",
            traced("/run/recorder.strace", &[RUNNER, "record"]).join(" ")
        ),
        0o644,
    );
    tb.daemon_reload();
}

/// Copies the traces out of the instance as `DIR/<t0>-{run,recorder}.strace`.
fn save_traces(tb: &Testbed, dir: &std::path::Path, t0: i64) {
    std::fs::create_dir_all(dir).expect("MAKESPAN_STRACE directory");
    for name in ["run", "recorder"] {
        let to = dir.join(format!("{t0}-{name}.strace"));
        if let Err(e) = std::fs::copy(tb.host_path(format!("/run/{name}.strace")), &to) {
            eprintln!("no {name} trace: {e}");
        }
    }
    println!("  traces in {}/{t0}-*.strace (t0 = {t0} µs)", dir.display());
}

/// Where one round's time went, in milliseconds (`None`: not seen).
struct Phases {
    /// From the command's start until the run's first job runs (the
    /// recorder's): the runner's start-up, pre-flight and start request.
    to_start: Option<f64>,
    /// `network-online.target` active, after the command's start (the
    /// runner's pre-flight starts it; none for systemctl).
    network_online: Option<f64>,
    /// The recorder's job running → ready (`READY=1`).
    recorder: Option<f64>,
    /// The recorder ready → the first plugin unit leaving inactive.
    to_first_unit: Option<f64>,
    /// Median over the units of their `ExecCondition=` command's run time.
    condition: Option<f64>,
    /// Median over the units that ran of `plugin-exec`'s own share: its
    /// start → the script's start, plus the script's end → its exit.
    plugin_exec: Option<f64>,
    /// The longest gap on the two chains (a → b, m1 → m2): a unit gone →
    /// the next one leaving inactive.
    chain_gap: Option<f64>,
    /// The command's start → the last plugin unit inactive.
    last_unit: Option<f64>,
    /// The last plugin unit inactive → the command's end.
    tail: Option<f64>,
    /// `systemd-logind.service` started, after the command's start (only
    /// when it was not running before).
    logind_start: Option<f64>,
    /// Its start-up, to active.
    logind_startup: Option<f64>,
}

/// How many phases [`Phases::rows`] has.
const PHASES: usize = 11;

/// Milliseconds from `from` to `to` (µs), when both are known.
fn span(from: i64, to: i64) -> Option<f64> {
    (from > 0 && to > 0).then(|| (to - from) as f64 / 1000.0)
}

fn median_of(mut v: Vec<f64>) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

impl Phases {
    fn of(r: &Round) -> Self {
        let rec = &r.recorder;
        let first = r
            .units
            .iter()
            .map(|u| u.inactive_exit)
            .filter(|&t| t > 0)
            .min()
            .unwrap_or(0);
        let last = r.units.iter().map(|u| u.inactive_enter).max().unwrap_or(0);
        let end = r.t0 + r.wall.as_micros() as i64;
        let by = |p: &str| r.units.iter().find(|u| u.name == plugin_unit(p));
        let chain_gap = [("a", "b"), ("m1", "m2"), ("m2", "m1")]
            .iter()
            .filter_map(|(x, y)| {
                let (x, y) = (by(x)?, by(y)?);
                (y.inactive_exit >= x.inactive_enter)
                    .then(|| span(x.inactive_enter, y.inactive_exit))
                    .flatten()
            })
            .max_by(f64::total_cmp);
        let condition = r
            .units
            .iter()
            .filter_map(|u| u.condition.and_then(|c| span(c.start, c.exit)))
            .collect();
        let plugin_exec = r
            .units
            .iter()
            .filter_map(|u| {
                let (m, (s0, s1)) = (u.main?, u.script?);
                Some(span(m.start, s0)? + span(s1, m.exit)?)
            })
            .collect();
        Phases {
            to_start: span(r.t0, rec.inactive_exit),
            network_online: r
                .network_online
                .as_ref()
                .and_then(|n| span(r.t0, n.active_enter)),
            recorder: span(rec.inactive_exit, rec.active_enter),
            to_first_unit: span(rec.active_enter, first),
            condition: median_of(condition),
            plugin_exec: median_of(plugin_exec),
            chain_gap,
            last_unit: span(r.t0, last),
            tail: span(last, end),
            logind_start: r
                .logind
                .as_ref()
                .filter(|l| l.inactive_exit > r.t0)
                .and_then(|l| span(r.t0, l.inactive_exit)),
            logind_startup: r
                .logind
                .as_ref()
                .filter(|l| l.inactive_exit > r.t0)
                .and_then(|l| span(l.inactive_exit, l.active_enter)),
        }
    }

    /// Each phase's label and value.
    fn rows(&self) -> [(&'static str, Option<f64>); PHASES] {
        [
            ("start → first job runs", self.to_start),
            ("start → network-online.target", self.network_online),
            ("recorder start-up", self.recorder),
            ("recorder ready → first unit", self.to_first_unit),
            ("ExecCondition (median)", self.condition),
            ("plugin-exec overhead (median)", self.plugin_exec),
            ("chain gap (max)", self.chain_gap),
            ("start → last unit inactive", self.last_unit),
            ("last unit inactive → exit", self.tail),
            ("start → logind started", self.logind_start),
            ("logind start-up", self.logind_startup),
        ]
    }
}

fn show(v: Option<f64>) -> String {
    v.map_or("-".to_owned(), |v| format!("{v:.0}"))
}

/// One round's breakdown: the phases, and each unit's steps (ms).
fn print_breakdown(r: &Round) {
    let phases = Phases::of(r);
    let line: Vec<String> = phases
        .rows()
        .iter()
        .map(|(label, v)| format!("{label} {}", show(*v)))
        .collect();
    println!(
        "  {} (exit {:?}{}), ms: {}",
        r.mode.label(),
        r.exit_code,
        if r.waited_for_network {
            ", pre-flight WAITED for network-online.target"
        } else {
            ""
        },
        line.join("; ")
    );
    println!(
        "    unit              result          starts  cond-fork  cond  cond→main  exec→script  \
         script  script→exit  exit→inactive  ends"
    );
    for u in &r.units {
        let (c, m) = (u.condition.unwrap_or_default(), u.main.unwrap_or_default());
        let (s0, s1) = u.script.unwrap_or((0, 0));
        let cell = |from, to| show(span(from, to));
        println!(
            "    {:<17} {:<15} {:>6}  {:>9}  {:>4}  {:>9}  {:>11}  {:>6}  {:>11}  {:>13}  {:>4}",
            u.name,
            u.result,
            cell(r.t0, u.inactive_exit),
            cell(u.inactive_exit, c.start),
            cell(c.start, c.exit),
            cell(c.exit, m.start),
            cell(m.start, s0),
            cell(s0, s1),
            cell(s1, m.exit),
            cell(m.exit, u.inactive_enter),
            cell(r.t0, u.inactive_enter),
        );
    }
}

/// The median of each phase over the rounds of one mode.
fn print_phase_medians(label: &str, rounds: &[&Round]) {
    let phases: Vec<Phases> = rounds.iter().map(|r| Phases::of(r)).collect();
    println!("  {label}, median (min–max) over the rounds, ms:");
    for i in 0..PHASES {
        let values: Vec<f64> = phases.iter().filter_map(|p| p.rows()[i].1).collect();
        let Some(median) = median_of(values.clone()) else {
            continue;
        };
        let (lo, hi) = (
            values.iter().copied().fold(f64::INFINITY, f64::min),
            values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        );
        println!(
            "    {:<32} {median:>6.0} ({lo:.0}–{hi:.0})",
            phases[0].rows()[i].0
        );
    }
}

/// Minimum, median and maximum, in seconds.
fn spread(mut v: Vec<f64>) -> String {
    v.sort_by(f64::total_cmp);
    format!(
        "min {:.3} s, median {:.3} s, max {:.3} s",
        v[0],
        v[v.len() / 2],
        v[v.len() - 1]
    )
}

fn main() {
    if !Testbed::should_run() {
        return;
    }
    let rounds: usize = std::env::var("MAKESPAN_ROUNDS")
        .ok()
        .map(|r| r.parse().expect("MAKESPAN_ROUNDS must be a number"))
        .unwrap_or(5);
    let bins = Binaries::find();
    println!(
        "makespan of the sleep DAG (critical path 2 s), {rounds} rounds, {} binaries, \
         logind {}:\n  {}\n  {}",
        bins.profile,
        if logind_first() {
            "running before the start"
        } else {
            "started on demand (MAKESPAN_LOGIND=0)"
        },
        bins.runner.display(),
        bins.generator.display()
    );
    let mut results: Vec<(Round, Round)> = Vec::new();
    for i in 0..rounds {
        let run = measure(&bins, Mode::Runner);
        let systemctl = measure(&bins, Mode::Systemctl);
        println!(
            "round {i}: update-all run {:.3} s, systemctl start {:.3} s, overhead {:+.3} s",
            run.wall.as_secs_f64(),
            systemctl.wall.as_secs_f64(),
            run.wall.as_secs_f64() - systemctl.wall.as_secs_f64()
        );
        print_breakdown(&run);
        print_breakdown(&systemctl);
        results.push((run, systemctl));
    }
    let secs = |pick: fn(&(Round, Round)) -> f64| results.iter().map(pick).collect::<Vec<_>>();
    println!("over {rounds} rounds:");
    println!(
        "  update-all run:                    {}",
        spread(secs(|(r, _)| r.wall.as_secs_f64()))
    );
    println!(
        "  systemctl start update-all.target: {}",
        spread(secs(|(_, s)| s.wall.as_secs_f64()))
    );
    println!(
        "  overhead (run − systemctl, per round): {}",
        spread(secs(|(r, s)| r.wall.as_secs_f64() - s.wall.as_secs_f64()))
    );
    let worst = results
        .iter()
        .map(|(r, _)| r.wall)
        .max()
        .unwrap_or_default();
    let (runs, systemctls): (Vec<&Round>, Vec<&Round>) =
        results.iter().map(|(r, s)| (r, s)).unzip();
    println!(
        "  rounds whose pre-flight waited for network-online.target: {} of {rounds}",
        runs.iter().filter(|r| r.waited_for_network).count()
    );
    print_phase_medians(Mode::Runner.label(), &runs);
    print_phase_medians(Mode::Systemctl.label(), &systemctls);
    println!(
        "  target ≤ 2.2 s in every round: {}",
        if worst <= Duration::from_millis(2200) {
            "met"
        } else {
            "MISSED"
        }
    );
}
