//! The JSON document of the JSON commands ([docs/plugin-protocol.md, JSON
//! documents]): `status`, `data`, `error` and `progress`.
//!
//! [docs/plugin-protocol.md, JSON documents]: https://github.com/update-all/update-all/blob/main/docs/plugin-protocol.md#json-documents

use crate::error::{excerpt, Problem};
use crate::fields::{self, Expected};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use std::fmt;

/// A document's `status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Success,
    Error,
    NotApplicable,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Success => "success",
            Status::Error => "error",
            Status::NotApplicable => "not_applicable",
        }
    }
}

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        [Status::Success, Status::Error, Status::NotApplicable]
            .into_iter()
            .find(|s| v.as_str() == Some(s.as_str()))
            .ok_or_else(|| {
                serde::de::Error::custom(format_args!(
                    "is {}; it must be \"success\", \"error\" or \"not_applicable\"",
                    fields::kind_of(&v)
                ))
            })
    }
}

/// A document's `error` object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorInfo {
    /// An UPPER_SNAKE word: `NETWORK_ERROR`, `NOT_SUPPORTED`, …
    #[serde(deserialize_with = "fields::code")]
    pub code: String,
    /// One sentence for people.
    #[serde(deserialize_with = "fields::message")]
    pub message: String,
    #[serde(default, deserialize_with = "fields::details")]
    pub details: Option<String>,
}

impl Expected for ErrorInfo {
    const ONE: &'static str = "null or an object with code, message and details";
}

impl ErrorInfo {
    /// Whether the failure may pass if the command runs again a little
    /// later (its code is one of [`crate::codes::TRANSIENT`]).
    pub fn is_transient(&self) -> bool {
        crate::codes::is_transient(&self.code)
    }
}

impl fmt::Display for ErrorInfo {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        match &self.details {
            Some(d) if !d.is_empty() => write!(f, " ({})", excerpt(d.as_bytes())),
            _ => Ok(()),
        }
    }
}

/// The one JSON document a JSON command prints. `progress` is read as
/// nothing (progress goes to stderr); unknown keys are ignored. Read it
/// with [`Document::parse`] or [`Document::from_value`], which also refuse
/// a document that is not a JSON object (serde alone would take an array
/// as the fields in order).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Document {
    pub status: Status,
    /// The command's result; `null` when absent.
    #[serde(default, deserialize_with = "fields::object_or_null")]
    pub data: Value,
    /// Present when `status` is `error`.
    #[serde(default, deserialize_with = "fields::optional_object")]
    pub error: Option<ErrorInfo>,
    /// Keys of the four (status, data, error, progress) that were missing;
    /// the protocol wants all four, update-all reads the document anyway.
    #[serde(skip)]
    pub missing: Vec<&'static str>,
}

impl Document {
    /// Reads stdout, trimmed: exactly one JSON document, checked against
    /// the protocol (not against an exit status: [`crate::PluginRun`] does
    /// that).
    pub fn parse(stdout: &[u8]) -> Result<Self, Problem> {
        let text = stdout.trim_ascii();
        if text.is_empty() {
            return Err(Problem::Empty);
        }
        let value: Value = serde_json::from_slice(text).map_err(|e| {
            let full = e.to_string();
            let suffix = format!(" at line {} column {}", e.line(), e.column());
            Problem::NotJson {
                line: e.line(),
                column: e.column(),
                message: full.strip_suffix(&suffix).unwrap_or(&full).to_owned(),
            }
        })?;
        Document::from_value(&value).map_err(Problem::Invalid)
    }

    /// The document a command ended with, from stdout that may hold more
    /// than the protocol allows (a tool's output before it): stdout as one
    /// document, else its last non-empty line as one. `None` when neither
    /// is a document.
    pub fn parse_last(stdout: &[u8]) -> Option<Self> {
        Document::parse(stdout).ok().or_else(|| {
            let last = stdout
                .split(|&b| b == b'\n')
                .map(<[u8]>::trim_ascii)
                .rfind(|l| !l.is_empty())?;
            Document::parse(last).ok()
        })
    }

    /// The error of a document with `status: error`.
    pub fn failure(&self) -> Option<&ErrorInfo> {
        self.error.as_ref().filter(|_| self.status == Status::Error)
    }

    /// Reads a parsed document; the error names the key that is wrong.
    pub fn from_value(value: &Value) -> Result<Self, String> {
        let Value::Object(map) = value else {
            return Err(format!(
                "the output is {}, not a JSON object with status, data, error and progress",
                fields::kind_of(value)
            ));
        };
        let mut doc: Document = fields::read("", value)?;
        if doc.status == Status::Error && doc.error.is_none() {
            return Err("`status` is \"error\" but there is no `error` object \
                        with code and message"
                .into());
        }
        doc.missing = ["status", "data", "error", "progress"]
            .into_iter()
            .filter(|k| !map.contains_key(*k))
            .collect();
        Ok(doc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(doc: &str) -> String {
        match Document::parse(doc.as_bytes()) {
            Err(Problem::Invalid(why)) => why,
            other => panic!("{doc}: {other:?}"),
        }
    }

    #[test]
    fn a_whole_document() {
        let doc = Document::parse(
            br#"{"status":"error","data":null,"error":{"code":"LOCKED","message":"busy","details":null},"progress":null}"#,
        )
        .unwrap();
        assert_eq!(doc.status, Status::Error);
        assert_eq!(doc.error.unwrap().to_string(), "LOCKED: busy");
        assert!(doc.missing.is_empty());
        // Missing keys are read as null, and listed.
        let doc = Document::parse(br#" {"status":"success"} "#).unwrap();
        assert_eq!(doc.data, Value::Null);
        assert_eq!(doc.missing, ["data", "error", "progress"]);
    }

    #[test]
    fn unknown_keys_are_ignored() {
        // The protocol lets plugins add their own keys, anywhere.
        let doc = Document::parse(
            br#"{"status":"error","data":null,"extra":[1],"error":{"code":"X","message":"m","hint":"h"},"progress":{"any":1}}"#,
        )
        .unwrap();
        assert_eq!(doc.error.unwrap().code, "X");
    }

    #[test]
    fn wrong_and_missing_keys_are_named() {
        for (doc, wanted) in [
            (
                "[]",
                "the output is an array, not a JSON object with status, data, error and progress",
            ),
            (r#"{"data":{}}"#, "the document has no `status`"),
            (
                r#"{"status":"ok"}"#,
                r#"`status` is "ok"; it must be "success", "error" or "not_applicable""#,
            ),
            (
                r#"{"status":1}"#,
                r#"`status` is 1; it must be "success", "error" or "not_applicable""#,
            ),
            (
                r#"{"status":"success","data":[]}"#,
                "`data` is an array; it must be an object or null",
            ),
            (
                r#"{"status":"error","error":null}"#,
                "`status` is \"error\" but there is no `error` object with code and message",
            ),
            (
                r#"{"status":"error","error":["X","m",null]}"#,
                "`error` is an array; it must be null or an object with code, message and details",
            ),
            (
                r#"{"status":"error","error":"LOCKED"}"#,
                r#"`error` is "LOCKED"; it must be null or an object with code, message and details"#,
            ),
            (
                r#"{"status":"error","error":{"message":"m"}}"#,
                "`error.code` is missing; it must be an UPPER_SNAKE word such as NETWORK_ERROR",
            ),
            (
                r#"{"status":"error","error":{"code":"","message":"m"}}"#,
                "`error.code` is missing; it must be an UPPER_SNAKE word such as NETWORK_ERROR",
            ),
            (
                r#"{"status":"error","error":{"code":"X","message":null}}"#,
                "`error.message` is missing",
            ),
            (
                r#"{"status":"error","error":{"code":"X","message":"m","details":7}}"#,
                "`error.details` is 7; it must be a string",
            ),
        ] {
            assert_eq!(invalid(doc), wanted, "{doc}");
        }
    }

    #[test]
    fn the_last_document_is_found_after_other_output() {
        let locked = br#"{"status":"error","data":null,"error":{"code":"LOCKED","message":"busy","details":null},"progress":null}"#;
        let mut stdout = b"Reading package lists...\n".to_vec();
        stdout.extend_from_slice(locked);
        stdout.extend_from_slice(b"\n\n");
        let doc = Document::parse_last(&stdout).unwrap();
        assert!(doc.failure().is_some_and(ErrorInfo::is_transient));
        let doc =
            Document::parse_last(br#"{"status":"success","data":{},"error":null,"progress":null}"#)
                .unwrap();
        assert_eq!(doc.failure(), None);
        let failed = br#"{"status":"error","error":{"code":"PACKAGE_ERROR","message":"m"}}"#;
        assert!(!Document::parse_last(failed)
            .unwrap()
            .failure()
            .unwrap()
            .is_transient());
        assert_eq!(Document::parse_last(b""), None);
        assert_eq!(Document::parse_last(b"{\"status\":\"err"), None);
    }

    #[test]
    fn stdout_that_is_no_document() {
        assert_eq!(Document::parse(b" \n"), Err(Problem::Empty));
        let Err(Problem::NotJson {
            line,
            column,
            message,
        }) = Document::parse(b"Reading lists\n{}")
        else {
            panic!()
        };
        assert_eq!((line, column, message.as_str()), (1, 1, "expected value"));
        assert!(matches!(
            Document::parse(b"{} {}"),
            Err(Problem::NotJson { message, .. }) if message == "trailing characters"
        ));
    }
}
