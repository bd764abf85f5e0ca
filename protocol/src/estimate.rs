//! What `estimate-update` found ([docs/plugin-protocol.md,
//! estimate-update]): the data of its `success` document.
//!
//! [docs/plugin-protocol.md, estimate-update]: https://github.com/update-all/update-all/blob/main/docs/plugin-protocol.md#estimate-update

use crate::applied::HeldBack;
use crate::document::ErrorInfo;
use crate::fields::{self, Expected};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use update_all_core::policy::UpdateType;

/// The data of a successful estimate-update. Read it with
/// [`Estimate::from_data`], which also refuses data that is not an object
/// and reads `applicable` first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    #[serde(deserialize_with = "fields::objects")]
    pub packages_to_update: Vec<Package>,
    #[serde(default, deserialize_with = "fields::bytes")]
    pub total_download_size_bytes: Option<u64>,
    #[serde(default, deserialize_with = "fields::bytes")]
    pub total_installed_size_bytes: Option<u64>,
    #[serde(default, deserialize_with = "fields::seconds")]
    pub estimated_time_seconds: Option<u64>,
    #[serde(default, deserialize_with = "fields::strings")]
    pub affects_runtimes: Vec<String>,
    #[serde(default, deserialize_with = "fields::strings")]
    pub affects_applications: Vec<String>,
    #[serde(default, deserialize_with = "fields::flag")]
    pub requires_reboot: bool,
    #[serde(default, deserialize_with = "fields::flag")]
    pub security_updates: bool,
    /// Updates the plugin's policy holds back (`UPDATE_ALL_POLICY_*`):
    /// not in `packages_to_update`, which lists what the update applies.
    #[serde(default, deserialize_with = "fields::held_back")]
    pub held_back: Vec<HeldBack>,
}

/// One entry of `packages_to_update`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    /// As the tool names it; never empty.
    #[serde(deserialize_with = "fields::name")]
    pub name: String,
    #[serde(default, deserialize_with = "fields::text")]
    pub current_version: Option<String>,
    #[serde(default, deserialize_with = "fields::text")]
    pub new_version: Option<String>,
    #[serde(default, deserialize_with = "fields::bytes")]
    pub download_size_bytes: Option<u64>,
    #[serde(default, deserialize_with = "fields::bytes")]
    pub installed_size_bytes: Option<u64>,
    /// What kind of change it is, where the tool can tell: patch, minor or
    /// major (semantic versions), security (a security suite or advisory);
    /// absent or null is unknown. Policies decide by it (core::policy).
    #[serde(default, deserialize_with = "fields::update_type")]
    pub update_type: UpdateType,
}

impl Expected for Package {
    const ONE: &'static str = "an object";
}

/// `data.applicable`, read before the rest: a plugin that says it does not
/// apply owes no estimate.
#[derive(Deserialize)]
struct Applicability {
    #[serde(default, deserialize_with = "fields::applicable")]
    applicable: Option<bool>,
}

/// The answer of estimate-update.
#[derive(Clone, Debug, PartialEq)]
pub enum EstimateAnswer {
    Updates(Estimate),
    /// The plugin does not apply here; its message, if it gave one.
    NotApplicable(Option<String>),
    /// The plugin tried and failed (network, lock, …): a valid answer.
    Failed(ErrorInfo),
}

impl Estimate {
    /// Reads the `data` of a successful estimate-update; `None` when it
    /// says `"applicable": false`. The error names the wrong value by its
    /// path, as `data.packages_to_update[0].download_size_bytes`.
    pub fn from_data(data: &Value) -> Result<Option<Self>, String> {
        if !data.is_object() {
            return Err(format!(
                "`data` is {}; a successful estimate-update has an object with \
                 packages_to_update and the totals (docs/plugin-protocol.md)",
                fields::kind_of(data)
            ));
        }
        let Applicability { applicable } = fields::read("data", data)?;
        if applicable == Some(false) {
            return Ok(None);
        }
        fields::read("data", data).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(data: &str) -> String {
        let data: Value = serde_json::from_str(data).unwrap();
        Estimate::from_data(&data).unwrap_err()
    }

    fn read(data: &str) -> Option<Estimate> {
        Estimate::from_data(&serde_json::from_str(data).unwrap()).unwrap()
    }

    #[test]
    fn the_protocols_example_reads() {
        let e = read(
            r#"{"applicable": true, "packages_to_update": [{"name": "python3.12",
            "current_version": "3.12.1", "new_version": "3.12.2",
            "download_size_bytes": 15000000, "installed_size_bytes": 45000000}],
            "total_download_size_bytes": 15000000, "total_installed_size_bytes": 45000000,
            "estimated_time_seconds": 7, "affects_runtimes": ["python"],
            "affects_applications": [], "requires_reboot": false, "security_updates": true}"#,
        )
        .unwrap();
        assert_eq!(
            e.packages_to_update,
            [Package {
                name: "python3.12".into(),
                current_version: Some("3.12.1".into()),
                new_version: Some("3.12.2".into()),
                download_size_bytes: Some(15_000_000),
                installed_size_bytes: Some(45_000_000),
                update_type: UpdateType::Unknown,
            }]
        );
        assert_eq!(e.estimated_time_seconds, Some(7));
        assert_eq!(e.affects_runtimes, ["python"]);
        assert!(e.security_updates && !e.requires_reboot);
    }

    #[test]
    fn update_types_read_and_a_wrong_one_is_refused() {
        let e = read(
            r#"{"packages_to_update":[{"name":"a","update_type":"minor"},
            {"name":"b","update_type":"security"},{"name":"c","update_type":null},{"name":"d"}]}"#,
        )
        .unwrap();
        let types: Vec<UpdateType> = e.packages_to_update.iter().map(|p| p.update_type).collect();
        assert_eq!(
            types,
            [
                UpdateType::Minor,
                UpdateType::Security,
                UpdateType::Unknown,
                UpdateType::Unknown
            ]
        );
        assert_eq!(
            refused(r#"{"packages_to_update":[{"name":"a","update_type":"hotfix"}]}"#),
            "`data.packages_to_update[0].update_type` is \"hotfix\"; it must be patch, minor, \
             major, security, unknown or null"
        );
    }

    #[test]
    fn null_and_absent_are_nothing() {
        let e = read(
            r#"{"applicable":null,"packages_to_update":[{"name":"a","new_version":null}],
            "total_download_size_bytes":null,"affects_runtimes":null,"requires_reboot":null,
            "a_key_of_its_own":{"x":[1]}}"#,
        )
        .unwrap();
        assert_eq!(e.packages_to_update[0].name, "a");
        assert_eq!(e.packages_to_update[0].new_version, None);
        assert!(e.affects_runtimes.is_empty() && !e.requires_reboot);
        assert_eq!(e.total_download_size_bytes, None);
    }

    #[test]
    fn not_applicable_owes_no_estimate() {
        assert_eq!(read(r#"{"applicable":false,"packages_to_update":3}"#), None);
        assert_eq!(
            refused(r#"{"applicable":"yes"}"#),
            r#"`data.applicable` is "yes"; it must be true"#
        );
    }

    #[test]
    fn counts_are_whole_and_not_negative() {
        let e = read(r#"{"packages_to_update":[{"name":"a","download_size_bytes":1e3}]}"#);
        assert_eq!(
            e.unwrap().packages_to_update[0].download_size_bytes,
            Some(1000)
        );
        assert_eq!(
            refused(r#"{"packages_to_update":[{"name":"a","download_size_bytes":1.5}]}"#),
            "`data.packages_to_update[0].download_size_bytes` is 1.5; \
             it must be a whole number of bytes or null"
        );
        assert_eq!(
            refused(r#"{"packages_to_update":[],"estimated_time_seconds":-3}"#),
            "`data.estimated_time_seconds` is -3; it must be a whole number of seconds"
        );
    }

    #[test]
    fn errors_keep_the_path() {
        let three_good = r#"{"name":"a"},{"name":"b","new_version":"2"},{"name":"c"}"#;
        for (data, wanted) in [
            (
                format!(r#"{{"packages_to_update":[{three_good},{{"name":""}}]}}"#),
                "`data.packages_to_update[3].name` is missing; every package has a name",
            ),
            (
                format!(r#"{{"packages_to_update":[{three_good},{{"name":null}}]}}"#),
                "`data.packages_to_update[3].name` is missing; every package has a name",
            ),
            (
                format!(r#"{{"packages_to_update":[{three_good},{{"new_version":"2"}}]}}"#),
                "`data.packages_to_update[3].name` is missing; every package has a name",
            ),
            (
                format!(r#"{{"packages_to_update":[{three_good},{{"name":["a"]}}]}}"#),
                "`data.packages_to_update[3].name` is an array; it must be a string or null",
            ),
            (
                format!(
                    r#"{{"packages_to_update":[{three_good},{{"name":"d","current_version":1}}]}}"#
                ),
                "`data.packages_to_update[3].current_version` is 1; it must be a string or null",
            ),
            (
                format!(r#"{{"packages_to_update":[{three_good},"d"]}}"#),
                r#"`data.packages_to_update[3]` is "d"; it must be an object"#,
            ),
            (
                // A derived struct alone would read an array as its fields.
                format!(r#"{{"packages_to_update":[{three_good},["d",null,null,null,null]]}}"#),
                "`data.packages_to_update[3]` is an array; it must be an object",
            ),
        ] {
            assert_eq!(refused(&data), wanted, "{data}");
        }
    }

    #[test]
    fn missing_and_wrong_types() {
        for (data, wanted) in [
            (
                "[]",
                "`data` is an array; a successful estimate-update has an object with \
                 packages_to_update and the totals (docs/plugin-protocol.md)",
            ),
            (
                "{}",
                "`data.packages_to_update` is missing; list the pending updates there, \
                 or [] when there are none",
            ),
            (
                r#"{"packages_to_update":null}"#,
                "`data.packages_to_update` is null; it must be an array",
            ),
            (
                r#"{"packages_to_update":{"name":"a"}}"#,
                "`data.packages_to_update` is an object; it must be an array",
            ),
            (
                r#"{"packages_to_update":[],"affects_runtimes":"python"}"#,
                r#"`data.affects_runtimes` is "python"; it must be an array of strings"#,
            ),
            (
                r#"{"packages_to_update":[],"affects_applications":["a",false]}"#,
                "`data.affects_applications[1]` is false; it must be a string",
            ),
            (
                r#"{"packages_to_update":[],"requires_reboot":"no"}"#,
                r#"`data.requires_reboot` is "no"; it must be true or false"#,
            ),
            (
                r#"{"packages_to_update":[],"security_updates":1}"#,
                "`data.security_updates` is 1; it must be true or false",
            ),
        ] {
            assert_eq!(refused(data), wanted, "{data}");
        }
    }
}
