//! What `rollback` did ([docs/plugin-protocol.md, rollback]): the data of
//! its document, success or error alike. A plugin that rolled back some
//! packages and not others answers with an error document whose data
//! still lists both.
//!
//! [docs/plugin-protocol.md, rollback]: https://github.com/update-all/update-all/blob/main/docs/plugin-protocol.md#rollback

use crate::fields::{self, Expected};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The environment variable that names rollback's input: a file of
/// `name<TAB>version to restore<TAB>version the run installed` lines. An
/// empty file asks for nothing, and must change nothing.
pub const ROLLBACK_FILE_VAR: &str = "UPDATE_ALL_ROLLBACK_FILE";

/// The data of a `rollback` document. Read it with
/// [`RolledBack::from_data`]; both lists may be absent or `null` (empty).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolledBack {
    /// The packages now at the version the run's estimate recorded.
    #[serde(default, deserialize_with = "fields::objects_or_null")]
    pub rolled_back: Vec<Restored>,
    /// The packages the plugin could not return, and why.
    #[serde(default, deserialize_with = "fields::objects_or_null")]
    pub failed: Vec<NotRestored>,
}

/// One entry of `rolled_back`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restored {
    /// As the rollback file named it; never empty.
    #[serde(deserialize_with = "fields::name")]
    pub name: String,
    /// The version now installed (the one asked for), when the plugin
    /// says it.
    #[serde(default, deserialize_with = "fields::text")]
    pub version: Option<String>,
}

/// One entry of `failed`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotRestored {
    #[serde(deserialize_with = "fields::name")]
    pub name: String,
    /// One sentence for people: "1.2.3 is no longer in the archive".
    #[serde(default, deserialize_with = "fields::text")]
    pub reason: Option<String>,
}

impl Expected for Restored {
    const ONE: &'static str = "an object with name and version";
}

impl Expected for NotRestored {
    const ONE: &'static str = "an object with name and reason";
}

impl RolledBack {
    /// Reads the `data` of a rollback document: `null` is nothing done
    /// (an empty rollback file, or an error before any package); an object
    /// is read, its unknown keys ignored. The error names the wrong value
    /// by its path, as `data.failed[0].name`.
    pub fn from_data(data: &Value) -> Result<Self, String> {
        match data {
            Value::Null => Ok(RolledBack::default()),
            Value::Object(_) => fields::read("data", data),
            other => Err(format!(
                "`data` is {}; rollback's data is an object with rolled_back and failed \
                 (docs/plugin-protocol.md)",
                fields::kind_of(other)
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(data: &str) -> Result<RolledBack, String> {
        RolledBack::from_data(&serde_json::from_str(data).unwrap())
    }

    #[test]
    fn the_protocols_example_reads() {
        let r = read(
            r#"{"rolled_back": [{"name": "is-number", "version": "6.0.0"}],
                "failed": [{"name": "left-pad", "reason": "1.0.0 is no longer in the registry"}]}"#,
        )
        .unwrap();
        assert_eq!(
            r.rolled_back,
            [Restored {
                name: "is-number".into(),
                version: Some("6.0.0".into())
            }]
        );
        assert_eq!(
            r.failed,
            [NotRestored {
                name: "left-pad".into(),
                reason: Some("1.0.0 is no longer in the registry".into())
            }]
        );
    }

    #[test]
    fn nothing_done_is_empty() {
        for data in [
            "null",
            "{}",
            r#"{"rolled_back": null, "failed": null}"#,
            r#"{"rolled_back": [], "other": 1}"#,
        ] {
            assert_eq!(read(data).unwrap(), RolledBack::default(), "{data}");
        }
    }

    #[test]
    fn wrong_values_are_named() {
        for (data, wanted) in [
            ("[]", "`data` is an array; rollback's data is an object"),
            (
                r#"{"rolled_back": "is-number"}"#,
                r#"`data.rolled_back` is "is-number"; it must be an array"#,
            ),
            (
                r#"{"rolled_back": [{"version": "1"}]}"#,
                "`data.rolled_back[0].name` is missing",
            ),
            (
                r#"{"rolled_back": [{"name": "a", "version": 1}]}"#,
                "`data.rolled_back[0].version` is 1; it must be a string or null",
            ),
            (
                r#"{"failed": [{"name": "a"}, "b"]}"#,
                r#"`data.failed[1]` is "b"; it must be an object with name and reason"#,
            ),
        ] {
            let e = read(data).unwrap_err();
            assert!(e.starts_with(wanted), "{data}: {e}");
        }
    }
}
