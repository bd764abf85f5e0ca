//! Printing shared by the subcommands: buffered standard output that
//! tolerates a reader going away (`update-all plan | head`), JSON documents
//! and small text helpers.

use serde::Serialize;
use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

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
}
