//! How `update-all run` shows a run: a live table with a bar per unit on a
//! terminal, one plain line per event otherwise, or JSON lines (`--json`).
//!
//! Write errors are ignored: a reader that went away (`| head`) must not
//! stop the watcher, whose exit status still tells how the run went.

use crate::stats::format::duration as human;
use crate::summary::RunSummary;
use crate::systemd::State;
use serde::Serialize;
use std::io::{self, IsTerminal, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use update_all_generator::Phase;

/// One plugin unit of the run, as far as it is known.
#[derive(Clone, Debug)]
pub struct Row {
    pub unit: String,
    pub plugin: String,
    pub phase: Phase,
    pub state: State,
    /// The plugin's last sd_notify `STATUS=`, e.g. "45% Downloading 3/10".
    pub status: String,
    /// When it started running (CLOCK_REALTIME).
    pub started: Option<SystemTime>,
    /// How long it took, once finished (when it ran at all).
    pub took: Option<Duration>,
    /// The median of its past successful runs (statistics).
    pub estimate: Option<Duration>,
    /// Why it failed, for a failed row: "exit status 3", "exit-code", ...
    pub detail: Option<String>,
}

impl Row {
    pub fn elapsed(&self, now: SystemTime) -> Option<Duration> {
        self.took
            .or_else(|| Some(now.duration_since(self.started?).unwrap_or_default()))
    }

    /// Time left by the estimate; none once finished.
    pub fn eta(&self, now: SystemTime) -> Option<Duration> {
        if self.state.is_final() {
            return None;
        }
        let estimate = self.estimate?;
        Some(estimate.saturating_sub(self.elapsed(now).unwrap_or_default()))
    }

    /// How far along, 0..=1: the plugin's own "NN%" status first, else
    /// elapsed over the estimate (held below 1 while it runs).
    pub fn fraction(&self, now: SystemTime) -> Option<f64> {
        match self.state {
            State::Waiting => Some(0.0),
            State::Running => percent(&self.status).or_else(|| {
                let estimate = self.estimate?.as_secs_f64();
                let elapsed = self.elapsed(now)?.as_secs_f64();
                (estimate > 0.0).then(|| (elapsed / estimate).min(0.99))
            }),
            _ => Some(1.0),
        }
    }

    /// "apt download", "apt update".
    fn label(&self) -> String {
        format!("{} {}", self.plugin, self.phase.as_str())
    }
}

/// A leading "45%" of a status text, as a fraction.
fn percent(status: &str) -> Option<f64> {
    let (number, _) = status.trim_start().split_once('%')?;
    let value: f64 = number.trim().parse().ok()?;
    (0.0..=100.0).contains(&value).then_some(value / 100.0)
}

fn secs(d: Option<Duration>) -> Option<f64> {
    d.map(|d| (d.as_secs_f64() * 10.0).round() / 10.0)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// A redrawn table (stdout is a terminal).
    Live,
    Plain,
    Json,
}

/// The JSON line of one row's change.
#[derive(Serialize)]
struct StateEvent<'a> {
    event: &'static str,
    plugin: &'a str,
    phase: Phase,
    unit: &'a str,
    state: State,
    elapsed_s: Option<f64>,
    eta_s: Option<f64>,
    status: Option<&'a str>,
    detail: Option<&'a str>,
}

#[derive(Serialize)]
struct SummaryEvent<'a> {
    event: &'static str,
    succeeded: &'a [String],
    failed: &'a [String],
    skipped: &'a [String],
    duration_s: f64,
    /// Whether this watcher followed a run someone else had started.
    attached: bool,
}

pub struct Progress {
    mode: Mode,
    out: io::Stdout,
    /// Lines of the live table now on screen, below the notes.
    drawn: usize,
}

impl Progress {
    pub fn new(json: bool) -> Progress {
        let out = io::stdout();
        let mode = if json {
            Mode::Json
        } else if out.is_terminal() {
            Mode::Live
        } else {
            Mode::Plain
        };
        Progress {
            mode,
            out,
            drawn: 0,
        }
    }

    /// Whether the screen wants a redraw now and then (elapsed time, bars).
    pub fn live(&self) -> bool {
        self.mode == Mode::Live
    }

    /// A message about the run itself ("attached to the run in progress"):
    /// `{"event": kind, "message": ...}` in JSON, a line otherwise.
    pub fn note(&mut self, kind: &str, message: &str, rows: &[Row]) {
        match self.mode {
            Mode::Json => self.json(&serde_json::json!({"event": kind, "message": message})),
            Mode::Plain => self.line(&format!("update-all: {message}")),
            Mode::Live => {
                self.erase();
                self.line(&format!("update-all: {message}"));
                self.draw(rows, true);
            }
        }
    }

    /// `rows[i]` changed state or status.
    pub fn changed(&mut self, rows: &[Row], i: usize) {
        let row = &rows[i];
        let now = SystemTime::now();
        match self.mode {
            Mode::Json => self.json(&StateEvent {
                event: "state",
                plugin: &row.plugin,
                phase: row.phase,
                unit: &row.unit,
                state: row.state,
                elapsed_s: secs(row.elapsed(now)),
                eta_s: secs(row.eta(now)),
                status: Some(row.status.as_str()).filter(|s| !s.is_empty()),
                detail: row.detail.as_deref(),
            }),
            Mode::Plain => self.line(&plain(row, now)),
            Mode::Live => {
                self.erase();
                self.draw(rows, true);
            }
        }
    }

    /// Redraws the live table (elapsed times, bars); nothing otherwise.
    pub fn tick(&mut self, rows: &[Row]) {
        if self.mode == Mode::Live {
            self.erase();
            self.draw(rows, true);
        }
    }

    /// The end of the run: the summary event or line.
    pub fn summary(&mut self, summary: &RunSummary, attached: bool, rows: &[Row]) {
        if self.mode == Mode::Json {
            return self.json(&SummaryEvent {
                event: "summary",
                succeeded: &summary.succeeded,
                failed: &summary.failed,
                skipped: &summary.skipped,
                duration_s: secs(Some(summary.duration)).unwrap_or(0.0),
                attached,
            });
        }
        if self.mode == Mode::Live {
            self.erase();
            self.draw(rows, false);
            self.drawn = 0;
        }
        let mut text = format!(
            "update-all: {} succeeded, {} failed, {} skipped in {}",
            summary.succeeded.len(),
            summary.failed.len(),
            summary.skipped.len(),
            human(summary.duration)
        );
        if rows.is_empty() {
            text = "update-all: nothing to run".to_owned();
        }
        self.line(&text);
        for row in rows.iter().filter(|r| r.state.is_failure()) {
            self.line(&format!(
                "  {}: {} — journalctl -u {}",
                row.label(),
                row.detail.as_deref().unwrap_or(row.state.as_str()),
                row.unit
            ));
        }
    }

    /// Watching stops early (Ctrl-C); the table stays as it was.
    pub fn detached(&mut self) {
        if self.mode == Mode::Json {
            self.json(&serde_json::json!({"event": "detached"}));
        }
        self.drawn = 0;
    }

    fn json(&mut self, value: &impl Serialize) {
        let mut out = self.out.lock();
        let _ = serde_json::to_writer(&mut out, value);
        let _ = writeln!(out);
        let _ = out.flush();
    }

    fn line(&mut self, text: &str) {
        let mut out = self.out.lock();
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }

    /// Moves back over the table and clears it.
    fn erase(&mut self) {
        if self.drawn > 0 {
            let _ = write!(self.out.lock(), "\x1b[{}F\x1b[J", self.drawn);
            self.drawn = 0;
        }
    }

    /// The table, and while the run goes on a line to say how far it is.
    fn draw(&mut self, rows: &[Row], footer: bool) {
        let now = SystemTime::now();
        let columns = terminal_columns();
        let label = rows.iter().map(|r| r.label().len()).max().unwrap_or(0);
        let mut text = String::new();
        for row in rows {
            text.push_str(&live_line(row, now, label, columns));
            text.push('\n');
        }
        if footer {
            let finished = rows.iter().filter(|r| r.state.is_final()).count();
            text.push_str(&format!(
                "\x1b[2m{finished}/{} finished · Ctrl-C leaves them running\x1b[0m\n",
                rows.len()
            ));
        }
        let mut out = self.out.lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
        self.drawn = rows.len() + usize::from(footer);
    }
}

/// "apt download: running", "apt download: done in 12.3s", "apt update:
/// failed in 1.0s (exit status 3)", "apt download: 45% Downloading".
fn plain(row: &Row, now: SystemTime) -> String {
    let mut text = format!("{}: {}", row.label(), row.state);
    if row.state.is_final() {
        if let Some(took) = row.took {
            text.push_str(&format!(" in {}", human(took)));
        }
        if let Some(detail) = &row.detail {
            text.push_str(&format!(" ({detail})"));
        }
    } else if row.state == State::Running {
        if let Some(eta) = row.eta(now) {
            text.push_str(&format!(", about {} left", human(eta)));
        }
        if !row.status.is_empty() {
            text.push_str(&format!(": {}", row.status));
        }
    }
    text
}

const BAR: usize = 20;

fn live_line(row: &Row, now: SystemTime, label: usize, columns: usize) -> String {
    let colour = match row.state {
        State::Waiting => "2",
        State::Running => "36",
        State::Done => "32",
        State::Skipped => "33",
        _ => "31",
    };
    let bar = match row.fraction(now) {
        Some(f) => {
            let full = ((f * BAR as f64).round() as usize).min(BAR);
            format!("{}{}", "█".repeat(full), "░".repeat(BAR - full))
        }
        // Running without any measure: a block that moves each second.
        None => {
            let at = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as usize % BAR;
            (0..BAR).map(|i| if i == at { '█' } else { '░' }).collect()
        }
    };
    let elapsed = row.elapsed(now).map(human).unwrap_or_default();
    let eta = row
        .eta(now)
        .map(|d| format!("eta {}", human(d)))
        .unwrap_or_default();
    let text = if row.state.is_final() {
        row.detail.clone().unwrap_or_default()
    } else {
        row.status.clone()
    };
    let head = format!(
        "{:<label$}  {bar}  {:<9} {:>7} {:>9}  ",
        row.label(),
        row.state.as_str(),
        elapsed,
        eta
    );
    // Cut to the terminal's width: a wrapped line would break the redraw.
    let visible: String = format!("{head}{text}")
        .chars()
        .take(columns.max(20) - 1)
        .collect();
    format!("\x1b[{colour}m{visible}\x1b[0m")
}

/// The width of the terminal on stdout; 80 if unknown.
fn terminal_columns() -> usize {
    let mut size = nix::libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ only writes a winsize into the pointer given.
    let ok = unsafe { nix::libc::ioctl(1, nix::libc::TIOCGWINSZ, &mut size) } == 0;
    if ok && size.ws_col > 0 {
        size.ws_col as usize
    } else {
        80
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(state: State) -> Row {
        Row {
            unit: "update-all-apt-download.service".into(),
            plugin: "apt".into(),
            phase: Phase::Download,
            state,
            status: String::new(),
            started: None,
            took: None,
            estimate: None,
            detail: None,
        }
    }

    #[test]
    fn status_percent_and_estimate_drive_the_bar() {
        let now = SystemTime::now();
        let mut r = row(State::Running);
        r.status = " 45% Downloading 3/10".into();
        assert_eq!(r.fraction(now), Some(0.45));
        r.status = "Downloading".into();
        assert_eq!(r.fraction(now), None);
        r.started = Some(now - Duration::from_secs(5));
        r.estimate = Some(Duration::from_secs(10));
        assert_eq!(r.fraction(now), Some(0.5));
        assert_eq!(r.eta(now), Some(Duration::from_secs(5)));
        r.started = Some(now - Duration::from_secs(50));
        assert_eq!(r.fraction(now), Some(0.99));
        assert_eq!(r.eta(now), Some(Duration::ZERO));
        assert_eq!(row(State::Done).fraction(now), Some(1.0));
    }

    #[test]
    fn plain_lines() {
        let now = SystemTime::now();
        assert_eq!(plain(&row(State::Running), now), "apt download: running");
        let mut done = row(State::Done);
        done.took = Some(Duration::from_millis(12_340));
        assert_eq!(plain(&done, now), "apt download: done in 12.3s");
        let mut failed = row(State::Failed);
        failed.took = Some(Duration::from_secs(1));
        failed.detail = Some("exit status 3".into());
        assert_eq!(
            plain(&failed, now),
            "apt download: failed in 1.0s (exit status 3)"
        );
        assert_eq!(human(Duration::from_secs(245)), "4m05s");
        assert_eq!(human(Duration::from_secs(3720)), "1h02m");
    }
}
