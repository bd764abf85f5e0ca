//! Messages about input files: which file, where in it, what is wrong and
//! what to do about it.

use serde::Serialize;
use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// The file the message is about, if any.
    pub file: Option<PathBuf>,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl Diagnostic {
    pub fn error(file: Option<&Path>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            file: file.map(Path::to_path_buf),
            line: None,
            column: None,
            message: message.into(),
        }
    }

    pub fn warning(file: Option<&Path>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Self::error(file, message)
        }
    }

    /// Turns a YAML parse error into a message naming file, line, column and
    /// field, with the closest valid field name for an unknown one.
    pub fn from_yaml(file: &Path, err: &serde_norway::Error) -> Self {
        let text = err.to_string();
        let (line, column) = match err.location() {
            Some(loc) => (Some(loc.line()), Some(loc.column())),
            None => (None, None),
        };
        // The location is given separately; drop it from the text.
        let message = if line.is_some() {
            strip_locations(&text)
        } else {
            text
        };
        let message = match unknown_field_hint(&message) {
            Some(hint) => format!("{message}; did you mean `{hint}`?"),
            None if !message.ends_with(['.', '?']) => format!("{message}."),
            None => message,
        };
        Diagnostic {
            severity: Severity::Error,
            file: Some(file.to_path_buf()),
            line,
            column,
            message,
        }
    }
}

/// Removes every " at line L column C" from a parser message.
fn strip_locations(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(" at line ") {
        out.push_str(&rest[..at]);
        let after = &rest[at + " at line ".len()..];
        let digits = |s: &str| s.len() - s.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let n = digits(after);
        match after[n..].strip_prefix(" column ") {
            Some(col) if n > 0 && digits(col) > 0 => rest = &col[digits(col)..],
            _ => {
                out.push_str(" at line ");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// For "unknown field `x`, expected one of `a`, `b`", the valid name closest
/// to `x`, if one is close enough to be a likely typo.
fn unknown_field_hint(message: &str) -> Option<&str> {
    let rest = &message[message.find("unknown field `")? + "unknown field `".len()..];
    let (unknown, expected) = rest.split_once('`')?;
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|candidate| (strsim::damerau_levenshtein(unknown, candidate), candidate))
        .filter(|&(distance, candidate)| distance <= 2.max(candidate.len() / 3))
        .min()
        .map(|(_, candidate)| candidate)
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}:", file.display())?;
            if let Some(line) = self.line {
                write!(f, "{line}:")?;
                if let Some(column) = self.column {
                    write!(f, "{column}:")?;
                }
            }
            f.write_str(" ")?;
        }
        let label = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        write!(f, "{label}: {}", self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_stripped() {
        assert_eq!(
            strip_locations("found a tab at line 4 column 1, while scanning at line 3 column 15"),
            "found a tab, while scanning"
        );
        assert_eq!(strip_locations("at line x"), "at line x");
    }

    #[test]
    fn hint_for_typo() {
        let m = "plugin: unknown field `runs_afer`, expected one of `name`, `runs_after`, `scope`";
        assert_eq!(unknown_field_hint(m), Some("runs_after"));
        let m = "plugin: unknown field `zzzzzzzz`, expected one of `name`, `scope`";
        assert_eq!(unknown_field_hint(m), None);
    }
}
