//! Diagnostics with levels, through `tracing`: what went wrong or what
//! happened, as opposed to a command's output on standard output.
//!
//! Where they go, decided once by [`init`]:
//! - When standard error is the journal (a service: the recorder, the
//!   scheduled run, a plugin unit's `plugin-exec`), each event is a journal
//!   entry of its own with `SYSLOG_IDENTIFIER=update-all`, its priority
//!   (error 3, warn 4, info 6, debug 7) and its fields, so
//!   `journalctl -p warning -t update-all` shows every problem and nothing
//!   else.
//! - Otherwise (a terminal, a pipe), plain lines on standard error:
//!   `update-all: error: …`, `update-all: warning: …`, `update-all: …` for
//!   info, `update-all: debug: …`. A command that acts on a run
//!   (`update-all run` typed at a terminal, see [`Journal::Problems`])
//!   also sends its warnings and errors to the journal, so that
//!   `journalctl -p warning -t update-all` has every problem of every run,
//!   however it was started; except a broken configuration, which the
//!   recorder of that run reports there already.
//!
//! Levels: error, the command cannot do what it was asked; warn, something
//! went wrong and the rest goes on (a failed plugin unit, a broken input
//! with a fallback); info, the normal course worth a line; debug, chatter.
//! `$UPDATE_ALL_LOG` (`error`, `warn`, `info`, `debug`, `trace`, `off`) sets
//! the least level shown; info by default.
//!
//! Fields, named the same in every event that knows them (the journal
//! upper-cases them):
//! - `update_all_run`: the run's id in the statistics (`UPDATE_ALL_RUN`);
//! - `update_all_plugin`: the plugin's name (`UPDATE_ALL_PLUGIN`);
//! - `unit`: the unit concerned, e.g. `update-all-apt.service` (`UNIT`);
//! - `update_all_attempt`: which attempt of a plugin unit's command, when
//!   `plugin-exec` retries a transient failure (`UPDATE_ALL_ATTEMPT`).
//!
//! ```ignore
//! tracing::warn!(update_all_run = run, update_all_plugin = %plugin, unit = %unit,
//!                "{unit} failed: exit status 3");
//! ```

use std::fmt;
use std::io;
use std::os::fd::AsFd;
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::{Event, Level, Subscriber};
use tracing_journald::{Priority, PriorityMappings};
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer as _;

/// The journal's `SYSLOG_IDENTIFIER` of every entry, and the plain prefix.
pub const IDENTIFIER: &str = "update-all";
/// The environment variable that sets the least level shown.
const LEVEL_VAR: &str = "UPDATE_ALL_LOG";

/// What of a command's diagnostics goes to the journal when its standard
/// error is not the journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Journal {
    /// Nothing: they are the command's answer to whoever typed it.
    Nothing,
    /// Warnings and errors, but for the configuration's (the recorder
    /// reports those): the command acts on a run.
    Problems,
}

/// Where the configuration's problems are reported from (`config.rs`).
const CONFIG_TARGET: &str = concat!(env!("CARGO_CRATE_NAME"), "::config");

/// Sets up where diagnostics go, once, at the start of `main`.
pub fn init(journal: Journal) {
    let (level, bad_level) = level_from_env(std::env::var(LEVEL_VAR).ok().as_deref());
    let on_journal = stderr_is_journal();
    let journald = on_journal
        .then(journald_layer)
        .flatten()
        .map(|layer| match own_unit() {
            Some((field, unit)) => layer.with_custom_fields([(field, unit)]),
            None => layer,
        });
    let plain = (!on_journal).then(|| {
        tracing_subscriber::fmt::layer()
            .event_format(Plain)
            .with_ansi(false)
            .with_writer(io::stderr)
    });
    let problems = (!on_journal && journal == Journal::Problems)
        .then(journald_layer)
        .flatten()
        .map(|layer| {
            layer.with_filter(filter_fn(|meta| {
                *meta.level() <= Level::WARN && meta.target() != CONFIG_TARGET
            }))
        });
    let _ = tracing_subscriber::registry()
        .with(journald)
        .with(plain)
        .with(problems)
        .with(level)
        .try_init();
    if let Some(value) = bad_level {
        tracing::warn!(
            "${LEVEL_VAR}={value:?} is not a level (error, warn, info, debug, trace, off); \
             showing info and above"
        );
    }
}

/// Entries of their own, `SYSLOG_IDENTIFIER=update-all`, with priorities
/// and fields; `None` without a journal to write to.
fn journald_layer() -> Option<tracing_journald::Layer> {
    let layer = tracing_journald::layer().ok()?;
    Some(
        layer
            .with_field_prefix(None)
            .with_syslog_identifier(IDENTIFIER.to_owned())
            .with_priority_mappings(PriorityMappings {
                error: Priority::Error,
                warn: Priority::Warning,
                info: Priority::Informational,
                debug: Priority::Debug,
                trace: Priority::Debug,
            }),
    )
}

/// The unit this process runs in, as a field that `journalctl -u` (or
/// `journalctl --user -u`) matches, from `/proc/self/cgroup`. journald adds
/// `_SYSTEMD_UNIT` itself, but reads it from `/proc/PID/cgroup` when it
/// takes an entry in: a short-lived process (a unit's `ExecCondition=`
/// that skips it) may be gone by then, and its lines would be missing from
/// `journalctl -u`. journalctl also matches `OBJECT_SYSTEMD_UNIT` from root
/// and `USER_UNIT` from the unit's own user, which the kernel vouches for.
fn own_unit() -> Option<(&'static str, String)> {
    unit_of_cgroup(&std::fs::read_to_string("/proc/self/cgroup").ok()?)
}

/// [`own_unit`] of the text of `/proc/self/cgroup`: the unified hierarchy's
/// line (`0::/…`), else systemd's own (`N:name=systemd:/…`).
fn unit_of_cgroup(text: &str) -> Option<(&'static str, String)> {
    let unified = text.lines().find_map(|l| l.strip_prefix("0::"));
    let systemd = text
        .lines()
        .find_map(|l| l.split_once(":name=systemd:").map(|(_, p)| p));
    [unified, systemd].into_iter().flatten().find_map(|path| {
        let unit = path.trim_end().rsplit('/').next()?;
        if !unit.ends_with(".service") {
            return None;
        }
        let in_user_manager = path
            .split('/')
            .any(|c| c.starts_with("user@") && c.ends_with(".service"));
        let field = if in_user_manager {
            "USER_UNIT"
        } else {
            "OBJECT_SYSTEMD_UNIT"
        };
        Some((field, unit.to_owned()))
    })
}

/// The least level from `$UPDATE_ALL_LOG`, and the value when it is none.
fn level_from_env(value: Option<&str>) -> (LevelFilter, Option<String>) {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => (LevelFilter::INFO, None),
        Some("warning") => (LevelFilter::WARN, None),
        Some(v) => match v.parse() {
            Ok(level) => (level, None),
            Err(_) => (LevelFilter::INFO, Some(v.to_owned())),
        },
    }
}

/// Whether standard error is a journal stream: systemd says which one in
/// `$JOURNAL_STREAM` ("device:inode"), and a child whose stderr was
/// redirected since must not take it for the journal (sd_journal_stream_fd).
fn stderr_is_journal() -> bool {
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Ok(stat) = nix::sys::stat::fstat(io::stderr().as_fd()) else {
        return false;
    };
    names(stream.to_str(), stat.st_dev, stat.st_ino)
}

/// Whether `$JOURNAL_STREAM`'s value names device `dev` and inode `ino`.
fn names(stream: Option<&str>, dev: u64, ino: u64) -> bool {
    let Some((d, i)) = stream.and_then(|s| s.split_once(':')) else {
        return false;
    };
    d.parse() == Ok(dev) && i.parse() == Ok(ino)
}

/// `update-all: warning: MESSAGE`; other fields are for the journal.
struct Plain;

impl<S, N> FormatEvent<S, N> for Plain
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write!(writer, "{IDENTIFIER}: {}", tag(*event.metadata().level()))?;
        let mut message = Message(&mut writer, Ok(()));
        event.record(&mut message);
        message.1?;
        writeln!(writer)
    }
}

/// What precedes the message on a plain line.
fn tag(level: Level) -> &'static str {
    match level {
        Level::ERROR => "error: ",
        Level::WARN => "warning: ",
        Level::INFO => "",
        Level::DEBUG => "debug: ",
        Level::TRACE => "trace: ",
    }
}

/// Writes an event's `message` field and nothing else.
struct Message<'w, 'a>(&'w mut Writer<'a>, fmt::Result);

impl Visit for Message<'_, '_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            // fmt::Arguments prints itself plainly with {:?}.
            self.1 = write!(self.0, "{value:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn the_own_unit_comes_from_the_cgroup_with_the_field_of_its_manager() {
        let system = "0::/system.slice/update-all.slice/update-all-apt.service\n";
        assert_eq!(
            unit_of_cgroup(system),
            Some(("OBJECT_SYSTEMD_UNIT", "update-all-apt.service".into()))
        );
        let user = "0::/user.slice/user-1000.slice/user@1000.service/app.slice/\
                    update-all.slice/update-all-pipx.service\n";
        assert_eq!(
            unit_of_cgroup(user),
            Some(("USER_UNIT", "update-all-pipx.service".into()))
        );
        let hybrid =
            "12:cpu,cpuacct:/\n1:name=systemd:/system.slice/update-all-recorder.service\n0::/\n";
        assert_eq!(
            unit_of_cgroup(hybrid),
            Some(("OBJECT_SYSTEMD_UNIT", "update-all-recorder.service".into())),
            "the unified line names no unit: systemd's own does"
        );
        let legacy = "12:cpu,cpuacct:/\n1:name=systemd:/system.slice/update-all-recorder.service\n";
        assert_eq!(
            unit_of_cgroup(legacy),
            Some(("OBJECT_SYSTEMD_UNIT", "update-all-recorder.service".into()))
        );
        let terminal = "0::/user.slice/user-1000.slice/session-3.scope\n";
        assert_eq!(unit_of_cgroup(terminal), None);
    }

    #[test]
    fn levels_from_the_environment() {
        assert_eq!(level_from_env(None), (LevelFilter::INFO, None));
        assert_eq!(level_from_env(Some("")), (LevelFilter::INFO, None));
        assert_eq!(level_from_env(Some("debug")), (LevelFilter::DEBUG, None));
        assert_eq!(level_from_env(Some("warning")), (LevelFilter::WARN, None));
        assert_eq!(level_from_env(Some("off")), (LevelFilter::OFF, None));
        assert_eq!(
            level_from_env(Some("loud")),
            (LevelFilter::INFO, Some("loud".to_owned()))
        );
    }

    #[test]
    fn journal_stream_names_device_and_inode() {
        assert!(names(Some("64769:1234"), 64769, 1234));
        assert!(!names(Some("64769:1235"), 64769, 1234));
        assert!(!names(Some("64769"), 64769, 1234));
        assert!(!names(None, 64769, 1234));
    }

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buffer {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn plain_lines_show_the_level_and_the_message_only() {
        let buffer = Buffer::default();
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .event_format(Plain)
                    .with_writer(move || sink.clone()),
            )
            .with(LevelFilter::INFO);
        tracing::subscriber::with_default(subscriber, || {
            let unit = "update-all-apt.service";
            tracing::error!("cannot start");
            tracing::warn!(
                update_all_run = 3,
                update_all_plugin = "apt",
                unit,
                "{unit} failed"
            );
            tracing::info!("notified alice (uid 1000)");
            tracing::debug!("not shown");
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text,
            "update-all: error: cannot start\n\
             update-all: warning: update-all-apt.service failed\n\
             update-all: notified alice (uid 1000)\n"
        );
    }
}
