//! Printing shared by the subcommands: buffered standard output that
//! tolerates a reader going away (`update-all plan | head`), JSON documents
//! and small text helpers.

pub mod format;
pub mod interrupted;
pub mod progress;

use serde::Serialize;
use std::io::{self, BufWriter, Write};
use std::process::ExitCode;
use update_all_core::Scope;

/// The exit status of a command that could not do its job.
pub const FAILURE: u8 = 1;

/// Runs `print` on a buffered, locked standard output and turns the outcome
/// into the exit status: `status` when everything was written, or when the
/// reader closed the pipe early; [`FAILURE`], with a message on standard
/// error, when writing failed otherwise.
pub fn print_then_exit(
    status: u8,
    print: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> ExitCode {
    let mut out = BufWriter::new(io::stdout().lock());
    match print(&mut out).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::from(status),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::from(status),
        Err(e) => {
            tracing::error!("cannot write to standard output: {e}");
            ExitCode::from(FAILURE)
        }
    }
}

/// Writes `value` as one pretty-printed JSON document and a newline.
pub fn json(out: &mut dyn Write, value: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)
}

/// "1 unit", "3 units".
pub fn count(n: usize, singular: &str, plural: &str) -> String {
    format!("{n} {}", if n == 1 { singular } else { plural })
}

/// The width of the widest of `items`, in characters, for aligned columns.
pub fn width<'a>(items: impl IntoIterator<Item = &'a str>) -> usize {
    items
        .into_iter()
        .map(|s| s.chars().count())
        .max()
        .unwrap_or(0)
}

/// Writes a section heading with the number of entries, as in
/// "Refused (2):"; nothing at all when there are none.
pub fn section(out: &mut dyn Write, title: &str, n: usize) -> io::Result<bool> {
    if n == 0 {
        return Ok(false);
    }
    writeln!(out, "\n{title} ({n}):")?;
    Ok(true)
}

/// The `journalctl` command line that shows what the manager of `scope`
/// logged, with `args` (`-u UNIT`, `-f -u 'update-all-*'`): a user unit's
/// log is only in the user's journal (`journalctl --user`).
pub fn journalctl(scope: Scope, args: &str) -> String {
    match scope {
        Scope::System => format!("journalctl {args}"),
        Scope::User => format!("journalctl --user {args}"),
    }
}

/// Where a unit's log is: `journalctl [--user] -u UNIT`.
pub fn unit_log(scope: Scope, unit: &str) -> String {
    journalctl(scope, &format!("-u {unit}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(count(1, "unit", "units"), "1 unit");
        assert_eq!(count(0, "unit", "units"), "0 units");
        assert_eq!(width(["ab", "äbcd", ""]), 4);
        assert_eq!(width([]), 0);
    }

    #[test]
    fn journal_hints_follow_the_scope() {
        assert_eq!(
            unit_log(Scope::System, "update-all-apt.service"),
            "journalctl -u update-all-apt.service"
        );
        assert_eq!(
            unit_log(Scope::User, "update-all-gcloud.service"),
            "journalctl --user -u update-all-gcloud.service"
        );
    }
}
