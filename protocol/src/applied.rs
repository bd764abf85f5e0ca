//! What `download` and `update` did ([docs/plugin-protocol.md, download
//! and update]): the data of their `success` document. Most plugins print
//! `null`; every key is optional.
//!
//! [docs/plugin-protocol.md, download and update]: https://github.com/update-all/update-all/blob/main/docs/plugin-protocol.md#download-and-update

use crate::fields;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The data of a successful `download` or `update`. Read it with
/// [`Applied::from_data`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// What the plugin repaired before it updated, one sentence each: a
    /// package manager's run that was cut short and finished first (apt:
    /// `dpkg --configure -a`). Empty when nothing needed it.
    #[serde(default, deserialize_with = "fields::strings")]
    pub repaired: Vec<String>,
    /// The update needs a reboot to take effect (a new kernel, a new C
    /// library). Only `update` says it; absent or `null` is `false`.
    #[serde(default, deserialize_with = "fields::flag")]
    pub requires_reboot: bool,
    /// Services (systemd unit names) that still run code the update
    /// replaced and were not restarted: `services.restart` is `list`, or
    /// update-all never restarts them, or their restart failed
    /// (docs/configuration.md, "Services").
    #[serde(default, deserialize_with = "fields::strings")]
    pub services_to_restart: Vec<String>,
    /// Services the update restarted (`services.restart: auto`).
    #[serde(default, deserialize_with = "fields::strings")]
    pub services_restarted: Vec<String>,
    /// Updates the plugin's policy held back (docs/plugin-protocol.md,
    /// "Update policies"): only `update` says it.
    #[serde(default, deserialize_with = "fields::held_back")]
    pub held_back: Vec<HeldBack>,
}

/// One update the policy held back, and why.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldBack {
    #[serde(deserialize_with = "fields::name")]
    pub name: String,
    #[serde(default, deserialize_with = "fields::text")]
    pub current_version: Option<String>,
    /// The version it would have been updated to.
    #[serde(default, deserialize_with = "fields::text")]
    pub new_version: Option<String>,
    /// In words: `a major update, not allowed by the policy`.
    #[serde(default, deserialize_with = "fields::text")]
    pub reason: Option<String>,
}

impl fields::Expected for HeldBack {
    const ONE: &'static str = "an object";
}

impl Applied {
    /// Reads the `data` of a successful download or update: `null` (or no
    /// data) is nothing to report; an object is read, its unknown keys
    /// ignored. The error names the wrong value by its path, as
    /// `data.repaired[0]`.
    pub fn from_data(data: &Value) -> Result<Self, String> {
        match data {
            Value::Null => Ok(Applied::default()),
            Value::Object(_) => fields::read("data", data),
            other => Err(format!(
                "`data` is {}; a successful download or update has null or an \
                 object (docs/plugin-protocol.md)",
                fields::kind_of(other)
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(data: &str) -> Result<Applied, String> {
        Applied::from_data(&serde_json::from_str(data).unwrap())
    }

    #[test]
    fn without_the_field_nothing_was_repaired() {
        for data in [
            "null",
            "{}",
            r#"{"repaired": null}"#,
            r#"{"requires_reboot": null}"#,
            r#"{"other": 1}"#,
        ] {
            assert_eq!(read(data).unwrap(), Applied::default(), "{data}");
        }
    }

    #[test]
    fn repairs_are_read() {
        let a = read(r#"{"repaired": ["dpkg --configure -a finished an interrupted dpkg run"]}"#)
            .unwrap();
        assert_eq!(
            a.repaired,
            ["dpkg --configure -a finished an interrupted dpkg run"]
        );
    }

    #[test]
    fn a_reboot_is_read() {
        assert!(
            read(r#"{"requires_reboot": true}"#)
                .unwrap()
                .requires_reboot
        );
        assert!(
            !read(r#"{"requires_reboot": false}"#)
                .unwrap()
                .requires_reboot
        );
        let e = read(r#"{"requires_reboot": "yes"}"#).unwrap_err();
        assert!(e.contains("`data.requires_reboot`"), "{e}");
    }

    #[test]
    fn services_are_read() {
        let a = read(
            r#"{"services_to_restart": ["dbus.service"], "services_restarted": ["cron.service", "ssh.service"]}"#,
        )
        .unwrap();
        assert_eq!(a.services_to_restart, ["dbus.service"]);
        assert_eq!(a.services_restarted, ["cron.service", "ssh.service"]);
        let e = read(r#"{"services_restarted": "cron.service"}"#).unwrap_err();
        assert!(e.contains("`data.services_restarted`"), "{e}");
    }

    #[test]
    fn held_back_updates_are_read() {
        let a = read(
            r#"{"held_back": [{"name": "left-pad", "current_version": "1.0.1",
            "new_version": "2.0.0", "reason": "a major update, not allowed by the policy"}]}"#,
        )
        .unwrap();
        assert_eq!(
            a.held_back,
            [HeldBack {
                name: "left-pad".into(),
                current_version: Some("1.0.1".into()),
                new_version: Some("2.0.0".into()),
                reason: Some("a major update, not allowed by the policy".into()),
            }]
        );
        assert!(read(r#"{"held_back": null}"#).unwrap().held_back.is_empty());
        let e = read(r#"{"held_back": [{"reason": "x"}]}"#).unwrap_err();
        assert!(e.contains("`data.held_back[0].name` is missing"), "{e}");
        let e = read(r#"{"held_back": ["left-pad"]}"#).unwrap_err();
        assert!(e.contains("`data.held_back[0]`"), "{e}");
    }

    #[test]
    fn wrong_values_are_named() {
        let e = read(r#"{"repaired": "dpkg"}"#).unwrap_err();
        assert!(e.contains("`data.repaired`"), "{e}");
        let e = read(r#"{"repaired": [1]}"#).unwrap_err();
        assert!(e.contains("`data.repaired[0]`"), "{e}");
        let e = read("[]").unwrap_err();
        assert!(e.starts_with("`data` is"), "{e}");
    }
}
