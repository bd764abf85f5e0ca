//! Progress lines ([docs/plugin-protocol.md, Progress and status text]):
//! during long commands a plugin prints, on stderr, whole JSON objects
//! such as `{"type": "progress", "percent": 45, "message": "Downloading"}`;
//! in a unit they become its status text.
//!
//! [docs/plugin-protocol.md, Progress and status text]: https://github.com/update-all/update-all/blob/main/docs/plugin-protocol.md#progress-and-status-text

use serde::Deserialize;
use serde_json::Value;

/// Longest status text made of a progress line, in characters.
pub const STATUS_MAX: usize = 200;

/// A progress line as read. `percent` and `message` are read leniently: a
/// percentage that is not a number counts as unknown, a message that is
/// not a string as empty; other keys are ignored.
#[derive(Deserialize)]
struct ProgressLine {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    percent: Value,
    #[serde(default)]
    message: Value,
}

/// The status text for a progress line: `45% Downloading …`, or just the
/// message when the percentage is null or missing; one line of at most
/// [`STATUS_MAX`] characters (sd_notify separates assignments by
/// newlines). `None` for any other line.
pub fn progress_status(line: &[u8]) -> Option<String> {
    let line = line.trim_ascii();
    // Only an object is a progress line (serde would read an array too).
    if !line.starts_with(b"{") {
        return None;
    }
    // Through a Value, so that a repeated key counts once, its last value.
    let value: Value = serde_json::from_slice(line).ok()?;
    let progress = ProgressLine::deserialize(&value).ok()?;
    if progress.kind != "progress" {
        return None;
    }
    let message: String = progress
        .message
        .as_str()
        .unwrap_or("")
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(STATUS_MAX)
        .collect();
    let message = message.trim();
    let text = match progress.percent.as_f64() {
        Some(p) => format!("{}% {message}", p.clamp(0.0, 100.0).round()),
        None => message.to_owned(),
    };
    Some(text.trim_end().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(line: &str) -> Option<String> {
        progress_status(line.as_bytes())
    }

    #[test]
    fn progress_lines_become_status_text() {
        assert_eq!(
            status(r#"{"type":"progress","percent":45,"message":"Downloading package 3/10"}"#)
                .as_deref(),
            Some("45% Downloading package 3/10")
        );
        assert_eq!(
            status("{\"type\": \"progress\", \"percent\": 45.6, \"message\": \"a\\nb\"}\n")
                .as_deref(),
            Some("46% a b")
        );
        assert_eq!(
            status(r#"{"type":"progress","percent":null,"message":"Refreshing"}"#).as_deref(),
            Some("Refreshing")
        );
        assert_eq!(
            status(r#"{"type":"progress","percent":250}"#).as_deref(),
            Some("100%")
        );
        assert_eq!(
            status(r#"{"type":"progress","percent":-4,"message":" x "}"#).as_deref(),
            Some("0% x")
        );
        let long = format!(r#"{{"type":"progress","message":"{}"}}"#, "é".repeat(500));
        assert_eq!(status(&long).unwrap().chars().count(), STATUS_MAX);
    }

    #[test]
    fn odd_values_are_read_leniently() {
        assert_eq!(
            status(r#"{"type":"progress","percent":"45","message":"m","step":3}"#).as_deref(),
            Some("m")
        );
        assert_eq!(
            status(r#"{"type":"progress","percent":5,"message":{"a":1}}"#).as_deref(),
            Some("5%")
        );
        assert_eq!(
            status(r#"{"type":"log","type":"progress","message":"last","message":"wins"}"#)
                .as_deref(),
            Some("wins")
        );
    }

    #[test]
    fn other_lines_are_no_progress() {
        assert_eq!(status(r#"{"type":"log","message":"x"}"#), None);
        assert_eq!(status(r#"{"type":"progress""#), None);
        assert_eq!(status(r#"{"percent":5,"message":"no type"}"#), None);
        assert_eq!(status(r#"{"type":5}"#), None);
        assert_eq!(status("Get:1 http://deb.debian.org 45%"), None);
        assert_eq!(status(r#"["progress"]"#), None);
        assert_eq!(status(""), None);
    }
}
