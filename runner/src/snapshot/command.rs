//! Runs the backends' tools (snapper, btrfs) and turns a failure into one
//! line that says which command failed and what it said.

use std::process::{Command, Stdio};

/// Runs `cmd` to its end; its standard output, or why it failed: the
/// command line with its exit status and its standard error (else its
/// standard output), trimmed to one line.
pub fn output(cmd: &mut Command) -> Result<String, String> {
    let shown = show(cmd);
    let out = cmd
        .stdin(Stdio::null())
        .env("LC_ALL", "C")
        .output()
        .map_err(|e| format!("`{shown}` could not start: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        return Ok(stdout);
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let said = [stderr.trim(), stdout.trim()]
        .into_iter()
        .find(|s| !s.is_empty())
        .unwrap_or("no message")
        .split('\n')
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ");
    Err(format!("`{shown}` failed ({}): {said}", out.status))
}

/// The command line, as a shell would take it for the simple words used here.
fn show(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| {
            let a = a.to_string_lossy();
            if a.is_empty() || a.contains(|c: char| c.is_whitespace() || c == '"') {
                format!("{a:?}")
            } else {
                a.into_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_names_the_command_its_status_and_what_it_said() {
        let err =
            output(Command::new("sh").args(["-c", "echo 'IO error' >&2; exit 3"])).unwrap_err();
        assert_eq!(
            err,
            "`sh -c \"echo 'IO error' >&2; exit 3\"` failed (exit status: 3): IO error"
        );
        assert_eq!(output(Command::new("echo").arg("12")).unwrap(), "12\n");
        assert!(output(&mut Command::new("/nonexistent/tool"))
            .unwrap_err()
            .contains("could not start"));
    }
}
