//! How `update-all run` shows a run: a live table with a bar per unit on a
//! terminal, one plain line per event otherwise, or JSON lines (`--json`).
//!
//! The live table lists the units in plan order (wave by wave, as `update-all
//! plan` shows them) and never outgrows the terminal: when it would, the
//! finished rows fold into a count, so the running and failed ones and the
//! totals stay on screen (see [`layout`]).
//!
//! Write errors are ignored: a reader that went away (`| head`) must not
//! stop the watcher, whose exit status still tells how the run went.

use crate::output;
use crate::output::format::duration as human;
use crate::summary::RunSummary;
use crate::summary::UnitResult;
use crate::systemd::{Outcome, UnitState};
use serde::Serialize;
use std::collections::HashMap;
use std::io::{self, IsTerminal, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use update_all_core::{Phase, Plan, Scope};

/// One plugin unit of the run, as far as it is known.
#[derive(Clone, Debug)]
pub struct Row {
    pub unit: String,
    pub plugin: String,
    pub phase: Phase,
    pub state: UnitState,
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
    /// Its phase as shown: `safety` for a safety unit's row (`health
    /// safety`).
    pub fn shown_phase(&self) -> &'static str {
        update_all_core::names::shown_phase(&self.plugin, self.phase)
    }

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
            UnitState::Waiting => Some(0.0),
            UnitState::Running => percent(&self.status).or_else(|| {
                let estimate = self.estimate?.as_secs_f64();
                let elapsed = self.elapsed(now)?.as_secs_f64();
                (estimate > 0.0).then(|| (elapsed / estimate).min(0.99))
            }),
            _ => Some(1.0),
        }
    }

    /// "apt download", "apt update".
    fn label(&self) -> String {
        format!("{} {}", self.plugin, self.shown_phase())
    }
}

/// A row is its unit's part in the run: from its start for as long as it
/// took.
impl UnitResult for Row {
    fn plugin(&self) -> &str {
        &self.plugin
    }

    fn outcome(&self) -> Option<Outcome> {
        self.state.outcome()
    }

    fn started(&self) -> Option<SystemTime> {
        self.started
    }

    fn ended(&self) -> Option<SystemTime> {
        Some(self.started? + self.took?)
    }
}

/// A row's state as `run` says it, in its table and its `--json` lines (as
/// it always has, and scripts read it): a success reads `done`, and a
/// failure other than a timeout, an OOM kill or a cancel reads `failed`,
/// with the row's detail saying how ("killed by signal 9"). `status` and
/// the records say the outcome's own name ([`UnitState::as_str`]).
pub fn word(state: UnitState) -> &'static str {
    match state {
        UnitState::Finished(Outcome::Success) => "done",
        UnitState::Finished(
            Outcome::Failed
            | Outcome::Signal
            | Outcome::CoreDump
            | Outcome::Watchdog
            | Outcome::StartLimitHit
            | Outcome::Resources
            | Outcome::Protocol,
        ) => "failed",
        other => other.as_str(),
    }
}

/// A leading "45%" of a status text (after an "attempt 2/3: " of a retry),
/// as a fraction.
fn percent(status: &str) -> Option<f64> {
    let status = crate::retry::Attempt::text_of(status);
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
    phase: &'static str,
    unit: &'a str,
    state: &'static str,
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
    /// The manager whose units these are (for the hints that name them).
    scope: Scope,
    /// Each unit's place in the plan ([`Progress::follow_plan`]).
    order: HashMap<String, usize>,
    /// Lines of the live table now on screen, below the notes.
    drawn: usize,
}

impl Progress {
    pub fn new(scope: Scope, json: bool) -> Progress {
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
            scope,
            order: HashMap::new(),
            drawn: 0,
        }
    }

    /// Orders the table as `plan` orders its units: wave by wave, as
    /// `update-all plan` shows them.
    pub fn follow_plan(&mut self, plan: &Plan) {
        self.order = plan
            .waves
            .iter()
            .flatten()
            .enumerate()
            .map(|(place, &unit)| (plan.unit_name(&plan.units[unit]), place))
            .collect();
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
                phase: row.shown_phase(),
                unit: &row.unit,
                state: word(row.state),
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
        for row in self.in_plan_order(rows) {
            if row.state.is_failure() {
                self.line(&format!(
                    "  {}: {} — {}",
                    row.label(),
                    row.detail.as_deref().unwrap_or(word(row.state)),
                    output::unit_log(self.scope, &row.unit)
                ));
            }
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

    /// `rows` as the plan orders their units: wave by wave; units the plan
    /// does not know (it changed since systemd loaded it) last.
    fn in_plan_order<'a>(&self, rows: &'a [Row]) -> Vec<&'a Row> {
        let order = &self.order;
        let mut sorted: Vec<&Row> = rows.iter().collect();
        // Stable: rows the plan does not know keep their own (name) order.
        sorted.sort_by_key(|r| order.get(&r.unit).copied().unwrap_or(usize::MAX));
        sorted
    }

    /// The table while the run goes on (`footer`: with the totals, within
    /// the terminal's height), or whole at its end.
    fn draw(&mut self, rows: &[Row], footer: bool) {
        let now = SystemTime::now();
        let (columns, lines) = terminal_size();
        let rows = self.in_plan_order(rows);
        let height = if footer { lines } else { usize::MAX };
        let table = layout(&rows, height, footer);
        let label = rows.iter().map(|r| r.label().len()).max().unwrap_or(0);
        let mut text = String::new();
        let mut drawn = 0;
        let mut push = |line: String| {
            text.push_str(&line);
            text.push('\n');
            drawn += 1;
        };
        if let Some(folded) = table.folded.text() {
            push(dim(&folded, columns));
        }
        for row in &table.rows {
            push(live_line(row, now, label, columns));
        }
        if footer {
            push(dim(&totals(&rows), columns));
        }
        let mut out = self.out.lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
        self.drawn = drawn;
    }
}

/// What the live table shows of the rows: the rows that fit, in the order
/// given, and how many of each kind were left out.
#[derive(Debug, Default)]
struct Table<'a> {
    rows: Vec<&'a Row>,
    folded: Folded,
}

/// Rows left out of the live table, by kind.
#[derive(Debug, Default, PartialEq, Eq)]
struct Folded {
    /// Done or skipped.
    finished: usize,
    failed: usize,
    waiting: usize,
    running: usize,
}

impl Folded {
    /// "12 finished, 3 waiting"; none when nothing was left out.
    fn text(&self) -> Option<String> {
        let parts: Vec<String> = [
            (self.finished, "finished"),
            (self.failed, "more failed"),
            (self.running, "more running"),
            (self.waiting, "waiting"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}

/// Which `rows` (in display order) the live table shows on a terminal of
/// `height` lines, with a line for the totals below them when `footer`.
///
/// The table stays below the terminal's height, so that the cursor can
/// go back over it: rows that would not fit are left out and counted on
/// a line of their own. Running rows are kept first, then failed ones,
/// then waiting ones; done and skipped rows are the first to go.
fn layout<'a>(rows: &[&'a Row], height: usize, footer: bool) -> Table<'a> {
    // One line stays free for the cursor below the table.
    let room = height.saturating_sub(1 + usize::from(footer));
    if rows.len() <= room {
        return Table {
            rows: rows.to_vec(),
            folded: Folded::default(),
        };
    }
    if room == 0 {
        // Not even the count fits: the totals say it all.
        return Table::default();
    }
    let rank = |row: &Row| match row.state {
        UnitState::Running => 0,
        s if s.is_failure() => 1,
        UnitState::Waiting => 2,
        _ => 3,
    };
    let mut by_rank: Vec<usize> = (0..rows.len()).collect();
    by_rank.sort_by_key(|&i| rank(rows[i]));
    // The rows left out take a line to count them.
    let mut shown = vec![false; rows.len()];
    for &i in by_rank.iter().take(room - 1) {
        shown[i] = true;
    }
    let mut table = Table::default();
    for (row, shown) in rows.iter().zip(shown) {
        if shown {
            table.rows.push(row);
            continue;
        }
        let count = match row.state {
            UnitState::Running => &mut table.folded.running,
            UnitState::Waiting => &mut table.folded.waiting,
            s if s.is_failure() => &mut table.folded.failed,
            _ => &mut table.folded.finished,
        };
        *count += 1;
    }
    table
}

/// "3/50 finished, 1 failed · Ctrl-C leaves them running".
fn totals(rows: &[&Row]) -> String {
    let finished = rows.iter().filter(|r| r.state.is_final()).count();
    let failed = rows.iter().filter(|r| r.state.is_failure()).count();
    let failed = if failed > 0 {
        format!(", {failed} failed")
    } else {
        String::new()
    };
    format!(
        "{finished}/{} finished{failed} · Ctrl-C leaves them running",
        rows.len()
    )
}

/// A line of the table's own (not a row), faint, cut to the width.
fn dim(text: &str, columns: usize) -> String {
    format!("\x1b[2m{}\x1b[0m", cut(text, columns))
}

/// `text` cut to the terminal's width: a wrapped line would break the redraw.
fn cut(text: &str, columns: usize) -> String {
    text.chars().take(columns.max(20) - 1).collect()
}

/// "apt download: running", "apt download: done in 12.3s", "apt update:
/// failed in 1.0s (exit status 3)", "apt download: 45% Downloading".
fn plain(row: &Row, now: SystemTime) -> String {
    let mut text = format!("{}: {}", row.label(), word(row.state));
    if row.state.is_final() {
        if let Some(took) = row.took {
            text.push_str(&format!(" in {}", human(took)));
        }
        if let Some(detail) = &row.detail {
            text.push_str(&format!(" ({detail})"));
        }
    } else if row.state == UnitState::Running {
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
        UnitState::Waiting => "2",
        UnitState::Running => "36",
        UnitState::Finished(Outcome::Success) => "32",
        UnitState::Finished(Outcome::Skipped) => "33",
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
        word(row.state),
        elapsed,
        eta
    );
    format!(
        "\x1b[{colour}m{}\x1b[0m",
        cut(&format!("{head}{text}"), columns)
    )
}

/// The columns and lines of the terminal on stdout; 80 by 24 if unknown.
fn terminal_size() -> (usize, usize) {
    match terminal_size::terminal_size_of(io::stdout()) {
        Some((width, height)) if width.0 > 0 && height.0 > 0 => {
            (usize::from(width.0), usize::from(height.0))
        }
        _ => (80, 24),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(state: UnitState) -> Row {
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
        let mut r = row(UnitState::Running);
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
        assert_eq!(
            row(UnitState::Finished(Outcome::Success)).fraction(now),
            Some(1.0)
        );
    }

    /// A row of plugin `name` in `state`.
    fn named(name: &str, state: UnitState) -> Row {
        Row {
            unit: format!("update-all-{name}.service"),
            plugin: name.into(),
            phase: Phase::Update,
            ..row(state)
        }
    }

    fn plugins(table: &Table) -> Vec<String> {
        table.rows.iter().map(|r| r.plugin.clone()).collect()
    }

    #[test]
    fn the_table_fits_the_terminal_with_what_matters_on_screen() {
        // 12 done, 1 skipped, 2 failed, 3 running, 4 waiting: 22 rows, as the
        // plan orders them.
        let mut rows = Vec::new();
        for i in 0..12 {
            rows.push(named(
                &format!("done{i:02}"),
                UnitState::Finished(Outcome::Success),
            ));
        }
        rows.push(named("skipped", UnitState::Finished(Outcome::Skipped)));
        rows.push(named("failed1", UnitState::Finished(Outcome::Failed)));
        rows.push(named("timeout", UnitState::Finished(Outcome::Timeout)));
        for i in 0..3 {
            rows.push(named(&format!("running{i}"), UnitState::Running));
        }
        for i in 0..4 {
            rows.push(named(&format!("waiting{i}"), UnitState::Waiting));
        }
        let rows: Vec<&Row> = rows.iter().collect();

        // Room for everything: every row, in the order given.
        let all = layout(&rows, 40, true);
        assert_eq!(all.rows.len(), 22);
        assert_eq!(all.folded, Folded::default());
        assert_eq!(all.folded.text(), None);
        // 22 rows and the totals need 23 lines and one more for the cursor.
        assert_eq!(layout(&rows, 24, true).rows.len(), 22);
        assert_eq!(layout(&rows, 23, true).rows.len(), 20);

        // 12 lines: 10 for rows and the count of those left out, the
        // totals, the cursor's line. Running, failed, then waiting rows
        // stay, in the plan's order; the finished ones fold.
        let small = layout(&rows, 12, true);
        assert_eq!(
            plugins(&small),
            [
                "failed1", "timeout", "running0", "running1", "running2", "waiting0", "waiting1",
                "waiting2", "waiting3"
            ]
        );
        assert_eq!(small.folded.text().as_deref(), Some("13 finished"));

        // Smaller still: the waiting rows go next, the running ones last.
        let smaller = layout(&rows, 8, true);
        assert_eq!(
            plugins(&smaller),
            ["failed1", "timeout", "running0", "running1", "running2"]
        );
        assert_eq!(
            smaller.folded.text().as_deref(),
            Some("13 finished, 4 waiting")
        );
        let tiny = layout(&rows, 5, true);
        assert_eq!(plugins(&tiny), ["running0", "running1"]);
        assert_eq!(
            tiny.folded.text().as_deref(),
            Some("13 finished, 2 more failed, 1 more running, 4 waiting")
        );
        // No room at all: only the totals.
        assert!(layout(&rows, 2, true).rows.is_empty());

        // Without the totals (the end of the run) everything is shown.
        assert_eq!(layout(&rows, usize::MAX, false).rows.len(), 22);
        assert_eq!(
            totals(&rows),
            "15/22 finished, 2 failed · Ctrl-C leaves them running"
        );
    }

    #[test]
    fn plain_lines() {
        let now = SystemTime::now();
        assert_eq!(
            plain(&row(UnitState::Running), now),
            "apt download: running"
        );
        let mut done = row(UnitState::Finished(Outcome::Success));
        done.took = Some(Duration::from_millis(12_340));
        assert_eq!(plain(&done, now), "apt download: done in 12.3s");
        let mut failed = row(UnitState::Finished(Outcome::Failed));
        failed.took = Some(Duration::from_secs(1));
        failed.detail = Some("exit status 3".into());
        assert_eq!(
            plain(&failed, now),
            "apt download: failed in 1.0s (exit status 3)"
        );
        assert_eq!(human(Duration::from_secs(245)), "4m05s");
        assert_eq!(human(Duration::from_secs(3720)), "1h02m");
    }

    #[test]
    fn the_runs_words() {
        let word = |o| word(UnitState::Finished(o));
        assert_eq!(word(Outcome::Success), "done");
        assert_eq!(word(Outcome::Signal), "failed");
        assert_eq!(word(Outcome::StartLimitHit), "failed");
        for same in ["skipped", "timeout", "oom", "cancelled", "failed"] {
            assert_eq!(word(Outcome::parse(same)), same);
        }
        assert_eq!(super::word(UnitState::Waiting), "waiting");
    }
}
