//! `reboot:` in config.yaml: whether and when the machine reboots after a
//! system run that left it needing one (see docs/configuration.md,
//! "Reboots"). Parsed and merged here; the runner's `reboot` module acts
//! on it.

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use std::fmt;

/// `reboot:` as one file writes it; absent keys leave what lower files set.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RebootFile {
    policy: Option<RebootPolicy>,
    time: Option<RebootTime>,
    with_users: Option<bool>,
    ignored_users: Option<Vec<UserName>>,
}

/// Whether a system run is followed by a reboot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RebootPolicy {
    /// Never: `status` and the notification still say when one is needed.
    #[default]
    Never,
    /// When the run's end found that a reboot is needed.
    WhenNeeded,
    /// After every system run that ran a plugin.
    Always,
}

impl RebootPolicy {
    /// As written in config.yaml.
    pub fn as_str(self) -> &'static str {
        match self {
            RebootPolicy::Never => "never",
            RebootPolicy::WhenNeeded => "when-needed",
            RebootPolicy::Always => "always",
        }
    }
}

/// When the reboot happens: at once, or at the next `HH:MM` local time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RebootTime {
    #[default]
    Now,
    At {
        hour: u8,
        minute: u8,
    },
}

impl RebootTime {
    /// `"now"` or `"HH:MM"`.
    pub fn parse(text: &str) -> Result<RebootTime, String> {
        let t = text.trim();
        if t == "now" {
            return Ok(RebootTime::Now);
        }
        let wrong = || format!("invalid time {text:?}: write \"now\" or a time such as \"02:00\"");
        let (h, m) = t.split_once(':').ok_or_else(wrong)?;
        let two = |s: &str| (s.len() == 2).then(|| s.parse::<u8>().ok()).flatten();
        match (two(h), two(m)) {
            (Some(hour), Some(minute)) if hour < 24 && minute < 60 => {
                Ok(RebootTime::At { hour, minute })
            }
            _ => Err(wrong()),
        }
    }

    /// The systemd calendar event of a later time (`*-*-* 02:00:00`), none
    /// for now.
    pub fn on_calendar(self) -> Option<String> {
        match self {
            RebootTime::Now => None,
            RebootTime::At { hour, minute } => Some(format!("*-*-* {hour:02}:{minute:02}:00")),
        }
    }
}

impl fmt::Display for RebootTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RebootTime::Now => f.write_str("now"),
            RebootTime::At { hour, minute } => write!(f, "{hour:02}:{minute:02}"),
        }
    }
}

impl Serialize for RebootTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RebootTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        RebootTime::parse(&text).map_err(de::Error::custom)
    }
}

/// A login name in `ignored_users`: not empty, no blanks or slashes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UserName(String);

impl UserName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for UserName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        if name.is_empty()
            || name
                .chars()
                .any(|c| c.is_whitespace() || c == '/' || c == ':')
        {
            return Err(de::Error::custom(format!(
                "invalid user name {name:?}: a login name such as `kiosk`"
            )));
        }
        Ok(UserName(name))
    }
}

/// The merged `reboot:` section.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Reboot {
    pub policy: RebootPolicy,
    pub time: RebootTime,
    /// Reboot even while users (other than `ignored_users`) are logged in
    /// on a desktop or over ssh. When false the reboot waits for them.
    pub with_users: bool,
    /// Whose sessions never hold a reboot back (a kiosk's autologin).
    pub ignored_users: Vec<UserName>,
}

impl Reboot {
    pub(crate) fn overlay(&mut self, top: RebootFile) {
        self.policy = top.policy.unwrap_or(self.policy);
        self.time = top.time.unwrap_or(self.time);
        self.with_users = top.with_users.unwrap_or(self.with_users);
        if let Some(users) = top.ignored_users {
            self.ignored_users = users;
        }
    }

    /// Whether a session of `user` holds the reboot back.
    pub fn ignores(&self, user: &str) -> bool {
        self.ignored_users.iter().any(|u| u.as_str() == user)
    }

    /// As the "in effect" line says it: `never`, `when-needed at 02:00,
    /// waiting for users to log out (ignoring kiosk)`.
    pub fn describe(&self) -> String {
        if self.policy == RebootPolicy::Never {
            return "never".into();
        }
        let mut text = format!("{} {}", self.policy.as_str(), self.at());
        text += if self.with_users {
            ", with users logged in"
        } else {
            ", waiting for users to log out"
        };
        if !self.ignored_users.is_empty() {
            let names: Vec<&str> = self.ignored_users.iter().map(UserName::as_str).collect();
            text += &format!(" (ignoring {})", names.join(", "));
        }
        text
    }

    /// "now" or "at 02:00".
    pub fn at(&self) -> String {
        match self.time {
            RebootTime::Now => "now".into(),
            t => format!("at {t}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_now_or_hours_and_minutes() {
        assert_eq!(RebootTime::parse("now"), Ok(RebootTime::Now));
        assert_eq!(
            RebootTime::parse("02:30"),
            Ok(RebootTime::At {
                hour: 2,
                minute: 30
            })
        );
        assert_eq!(
            RebootTime::parse("23:59").unwrap().on_calendar().as_deref(),
            Some("*-*-* 23:59:00")
        );
        assert_eq!(RebootTime::Now.on_calendar(), None);
        for bad in ["", "2:00", "24:00", "12:60", "noon", "02:00:00", "-1:00"] {
            assert!(RebootTime::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn describe_says_the_policy_in_words() {
        assert_eq!(Reboot::default().describe(), "never");
        let r = Reboot {
            policy: RebootPolicy::WhenNeeded,
            time: RebootTime::At { hour: 2, minute: 0 },
            with_users: false,
            ignored_users: vec![UserName("kiosk".into())],
        };
        assert_eq!(
            r.describe(),
            "when-needed at 02:00, waiting for users to log out (ignoring kiosk)"
        );
        assert!(r.ignores("kiosk") && !r.ignores("alice"));
    }
}
