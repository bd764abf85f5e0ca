//! Update policies (docs/configuration.md, "Update policies"): which
//! updates a plugin's `update` may apply. A policy is written as `policy:`
//! in config.yaml (every plugin), in a manifest (`plugin: policy:`) and in
//! config.yaml's `policy_overrides: {<plugin>: …}` (one plugin); each
//! place sets only the keys it writes, and the effective policy takes each
//! key from the first place that sets it, in this order:
//!
//! 1. `policy_overrides.<plugin>` of the configuration (the admin, for
//!    this plugin);
//! 2. the manifest's `policy` (the plugin's author: npm, pipx and cargo
//!    hold major versions);
//! 3. the configuration's `policy` (the admin, for every plugin);
//! 4. the defaults: every class allowed, no hold, no minimum age.
//!
//! The plugin applies the policy itself: `update-all plugin-exec` hands the
//! effective policy to `update` (and `update-all check` to
//! `estimate-update`) in the `UPDATE_ALL_POLICY_*` variables of [`vars`].

use crate::config::Config;
use crate::manifest::Manifest;
use crate::values::PluginName;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// What kind of change an update is, as `estimate-update` reports it in
/// each package's `update_type` (docs/plugin-protocol.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UpdateType {
    /// `1.2.3` → `1.2.4`.
    Patch,
    /// `1.2.3` → `1.3.0`.
    Minor,
    /// `1.2.3` → `2.0.0`.
    Major,
    /// A fix the distribution or an advisory calls a security update.
    Security,
    /// The tool cannot tell; a policy's `allow` does not hold it back.
    #[default]
    Unknown,
}

impl UpdateType {
    /// The classes `allow` may list, in their order.
    pub const CLASSES: [UpdateType; 4] = [
        UpdateType::Patch,
        UpdateType::Minor,
        UpdateType::Major,
        UpdateType::Security,
    ];

    /// As the protocol and config.yaml write it.
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateType::Patch => "patch",
            UpdateType::Minor => "minor",
            UpdateType::Major => "major",
            UpdateType::Security => "security",
            UpdateType::Unknown => "unknown",
        }
    }

    /// The type named `text`, `unknown` included.
    pub fn parse(text: &str) -> Option<UpdateType> {
        Self::CLASSES
            .into_iter()
            .chain([UpdateType::Unknown])
            .find(|t| t.as_str() == text)
    }
}

impl fmt::Display for UpdateType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for UpdateType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for UpdateType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        UpdateType::parse(&text).ok_or_else(|| {
            de::Error::custom(format!(
                "unknown update type {text:?}: write patch, minor, major, security or unknown"
            ))
        })
    }
}

/// One entry of `allow`: an [`UpdateType`] other than `unknown`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct AllowedClass(UpdateType);

impl AllowedClass {
    pub fn get(self) -> UpdateType {
        self.0
    }
}

impl<'de> Deserialize<'de> for AllowedClass {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        match UpdateType::parse(&text) {
            Some(UpdateType::Unknown) | None => Err(de::Error::custom(format!(
                "unknown update class {text:?}: allow lists patch, minor, major and security \
                 (an update whose class the tool cannot tell is never held for its class)"
            ))),
            Some(t) => Ok(AllowedClass(t)),
        }
    }
}

/// One `hold` pattern: a regular expression over package names, checked
/// when the file is read. Plugins match it with `grep -E`, so it is
/// written in the syntax both understand (POSIX extended regular
/// expressions): inline flags (`(?i)`) and `\d` are refused here.
#[derive(Clone, Debug)]
pub struct HoldPattern {
    text: String,
    regex: regex::Regex,
}

impl HoldPattern {
    /// Checks `text`; the error says what is wrong with it.
    pub fn new(text: &str) -> Result<HoldPattern, String> {
        if text.is_empty() {
            return Err("an empty hold pattern would hold every package".into());
        }
        if text.contains('\n') {
            return Err(format!("hold pattern {text:?} has a line break"));
        }
        for (bad, instead) in [
            ("(?", "groups with flags such as (?i) or (?:"),
            ("\\d", "\\d (write [0-9])"),
            ("\\D", "\\D (write [^0-9])"),
            ("\\p", "\\p{…} classes"),
        ] {
            if text.contains(bad) {
                return Err(format!(
                    "hold pattern {text:?}: {instead} are not understood by grep -E, \
                     which the plugins match with"
                ));
            }
        }
        regex::Regex::new(text)
            .map(|regex| HoldPattern {
                text: text.to_owned(),
                regex,
            })
            .map_err(|e| {
                let why = e.to_string();
                let last = why.lines().last().unwrap_or_default().trim();
                let last = last.strip_prefix("error: ").unwrap_or(last);
                format!("invalid hold pattern {text:?}: {last}")
            })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `name` matches anywhere (anchor with `^…$` for a whole name).
    pub fn matches(&self, name: &str) -> bool {
        self.regex.is_match(name)
    }
}

impl PartialEq for HoldPattern {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for HoldPattern {}

impl Serialize for HoldPattern {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for HoldPattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        HoldPattern::new(&text).map_err(de::Error::custom)
    }
}

/// `min_age`: `3d`, `12h`, `1w`, `90m`, `30s` or a number of seconds, up to
/// a year; `0` is none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MinAge(Duration);

/// The longest `min_age`.
const MIN_AGE_MOST: Duration = Duration::from_secs(366 * 86_400);

impl MinAge {
    pub fn get(self) -> Duration {
        self.0
    }

    /// Reads `3d` and its kin.
    pub fn parse(text: &str) -> Result<MinAge, String> {
        let wrong = || {
            format!(
                "invalid age {text:?}: write one such as `3d`, `12h`, `1w` or a number of seconds"
            )
        };
        let t = text.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (number, unit) = t.split_at(split);
        let number: u64 = number.parse().map_err(|_| wrong())?;
        let scale = match unit.trim() {
            "" | "s" => 1,
            "m" | "min" => 60,
            "h" => 3600,
            "d" => 86_400,
            "w" => 7 * 86_400,
            _ => return Err(wrong()),
        };
        Self::of_seconds(number.saturating_mul(scale), &text)
    }

    fn of_seconds(secs: u64, text: &dyn fmt::Display) -> Result<MinAge, String> {
        let d = Duration::from_secs(secs);
        if d > MIN_AGE_MOST {
            Err(format!("{text} is out of range: at most a year (`366d`)"))
        } else {
            Ok(MinAge(d))
        }
    }
}

impl fmt::Display for MinAge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0.as_secs();
        match s {
            0 => f.write_str("0"),
            _ if s.is_multiple_of(86_400) => write!(f, "{}d", s / 86_400),
            _ if s.is_multiple_of(3600) => write!(f, "{}h", s / 3600),
            _ if s.is_multiple_of(60) => write!(f, "{}m", s / 60),
            _ => write!(f, "{s}s"),
        }
    }
}

impl Serialize for MinAge {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

struct MinAgeVisitor;

impl de::Visitor<'_> for MinAgeVisitor {
    type Value = MinAge;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an age such as `3d`, `12h` or a number of seconds")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<MinAge, E> {
        MinAge::of_seconds(v, &format_args!("{v} s")).map_err(E::custom)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<MinAge, E> {
        u64::try_from(v)
            .map_err(|_| E::custom(format!("{v} s is out of range: an age is not negative")))
            .and_then(|v| self.visit_u64(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<MinAge, E> {
        MinAge::parse(v).map_err(E::custom)
    }
}

impl<'de> Deserialize<'de> for MinAge {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(MinAgeVisitor)
    }
}

/// `policy:` as one place writes it (a configuration file, a manifest, one
/// plugin's `policy_overrides` entry): absent keys leave what a place of
/// lower precedence sets.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow: Option<Vec<AllowedClass>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_only: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<Vec<HoldPattern>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_age: Option<MinAge>,
}

impl PolicySettings {
    /// Keeps what `top` (a later file of the same place) does not set.
    pub fn overlay(&mut self, top: PolicySettings) {
        let PolicySettings {
            allow,
            security_only,
            hold,
            min_age,
        } = top;
        self.allow = allow.or(self.allow.take());
        self.security_only = security_only.or(self.security_only);
        self.hold = hold.or(self.hold.take());
        self.min_age = min_age.or(self.min_age);
    }

    pub fn is_empty(&self) -> bool {
        *self == PolicySettings::default()
    }

    /// The keys it sets, as config.yaml writes them (`allow [patch,
    /// minor], hold ["^linux-"]`), or `none`.
    pub fn describe(&self) -> String {
        let mut keys = Vec::new();
        if let Some(allow) = &self.allow {
            let names: Vec<&str> = allow.iter().map(|c| c.get().as_str()).collect();
            keys.push(format!("allow [{}]", names.join(", ")));
        }
        if let Some(only) = self.security_only {
            keys.push(format!("security_only {only}"));
        }
        if let Some(hold) = &self.hold {
            let patterns: Vec<String> = hold.iter().map(|p| format!("{:?}", p.as_str())).collect();
            keys.push(format!("hold [{}]", patterns.join(", ")));
        }
        if let Some(age) = self.min_age {
            keys.push(format!("min_age {age}"));
        }
        if keys.is_empty() {
            "none".into()
        } else {
            keys.join(", ")
        }
    }
}

/// `policy_overrides` as the "in effect" line shows it:
/// `npm (allow [patch]), cargo (security_only true)`, or `none`.
pub fn describe_overrides(overrides: &BTreeMap<PluginName, PolicySettings>) -> String {
    if overrides.is_empty() {
        return "none".into();
    }
    let each: Vec<String> = overrides
        .iter()
        .map(|(name, p)| format!("{} ({})", name.as_str(), p.describe()))
        .collect();
    each.join(", ")
}

/// The policy one plugin's update runs under.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Policy {
    /// The classes it applies (security updates are applied regardless).
    pub allow: Vec<UpdateType>,
    /// Apply security updates only.
    pub security_only: bool,
    /// Packages never updated.
    pub hold: Vec<HoldPattern>,
    /// Only versions released at least this long ago, where the source
    /// says when. Zero: any.
    #[serde(serialize_with = "seconds")]
    pub min_age: Duration,
}

fn seconds<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_secs())
}

impl Default for Policy {
    /// Everything, as system package managers have always done.
    fn default() -> Self {
        Policy {
            allow: UpdateType::CLASSES.to_vec(),
            security_only: false,
            hold: Vec::new(),
            min_age: Duration::ZERO,
        }
    }
}

/// Why a policy holds a package back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Held {
    /// A `hold` pattern matches its name.
    Hold(String),
    /// Its class is not in `allow`.
    NotAllowed(UpdateType),
    /// `security_only`, and this is no security update.
    SecurityOnly,
}

impl fmt::Display for Held {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Held::Hold(p) => write!(f, "held by the pattern {p:?}"),
            Held::NotAllowed(t) => write!(f, "a {t} update, not allowed by the policy"),
            Held::SecurityOnly => f.write_str("not a security update (security_only)"),
        }
    }
}

impl Policy {
    /// The effective policy from its places, highest precedence first:
    /// `policy_overrides.<plugin>`, the manifest, the global `policy`.
    pub fn resolve(places: &[Option<&PolicySettings>]) -> Policy {
        let mut merged = PolicySettings::default();
        for place in places.iter().rev().flatten() {
            merged.overlay((*place).clone());
        }
        let default = Policy::default();
        Policy {
            allow: merged.allow.map_or(default.allow, |a| {
                UpdateType::CLASSES
                    .into_iter()
                    .filter(|t| a.iter().any(|c| c.get() == *t))
                    .collect()
            }),
            security_only: merged.security_only.unwrap_or(default.security_only),
            hold: merged.hold.unwrap_or(default.hold),
            min_age: merged.min_age.map_or(default.min_age, MinAge::get),
        }
    }

    /// The policy `manifest`'s plugin runs under, given `config`.
    pub fn of(config: &Config, manifest: &Manifest) -> Policy {
        Policy::resolve(&[
            config.policy_overrides.get(&manifest.name),
            manifest.policy.as_ref(),
            Some(&config.policy),
        ])
    }

    /// Whether it lets everything through.
    pub fn is_default(&self) -> bool {
        *self == Policy::default()
    }

    /// Whether a package named `name` whose update is of `kind` is held
    /// back, and why. Security updates pass `allow` (they are applied even
    /// when their version class is held), not `hold`; an update of unknown
    /// kind passes `allow` but not `security_only`.
    pub fn holds(&self, name: &str, kind: UpdateType) -> Option<Held> {
        if let Some(p) = self.hold.iter().find(|p| p.matches(name)) {
            return Some(Held::Hold(p.as_str().to_owned()));
        }
        match kind {
            UpdateType::Security => None,
            _ if self.security_only => Some(Held::SecurityOnly),
            UpdateType::Unknown => None,
            _ if !self.allow.contains(&kind) => Some(Held::NotAllowed(kind)),
            _ => None,
        }
    }

    /// The environment `update` (and `estimate-update`) receives: the
    /// variables of [`vars`] and their values.
    pub fn env(&self) -> [(&'static str, String); 4] {
        let allow: Vec<&str> = self.allow.iter().map(|t| t.as_str()).collect();
        let hold: Vec<&str> = self.hold.iter().map(HoldPattern::as_str).collect();
        [
            (vars::ALLOW, allow.join(",")),
            (vars::SECURITY_ONLY, self.security_only.to_string()),
            (vars::HOLD, hold.join("\n")),
            (vars::MIN_AGE, self.min_age.as_secs().to_string()),
        ]
    }
}

/// The variables through which a plugin receives its policy
/// (docs/plugin-protocol.md, "Update policies").
pub mod vars {
    /// The allowed classes, comma-separated: `patch,minor,security`.
    pub const ALLOW: &str = "UPDATE_ALL_POLICY_ALLOW";
    /// `true` or `false`.
    pub const SECURITY_ONLY: &str = "UPDATE_ALL_POLICY_SECURITY_ONLY";
    /// The hold patterns (extended regular expressions), one a line.
    pub const HOLD: &str = "UPDATE_ALL_POLICY_HOLD";
    /// The minimum age of a version, in seconds (0: none).
    pub const MIN_AGE: &str = "UPDATE_ALL_POLICY_MIN_AGE";
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(yaml: &str) -> PolicySettings {
        serde_norway::from_str(yaml).unwrap()
    }

    #[test]
    fn each_key_comes_from_the_first_place_that_sets_it() {
        let global =
            settings("allow: [patch, minor, major, security]\nhold: [\"^linux-\"]\nmin_age: 3d\n");
        let manifest = settings("allow: [patch, minor, security]\n");
        let plugin = settings("security_only: true\n");
        let p = Policy::resolve(&[Some(&plugin), Some(&manifest), Some(&global)]);
        assert_eq!(
            p.allow,
            [UpdateType::Patch, UpdateType::Minor, UpdateType::Security]
        );
        assert!(p.security_only);
        assert_eq!(p.hold[0].as_str(), "^linux-");
        assert_eq!(p.min_age, Duration::from_secs(3 * 86_400));
        assert_eq!(Policy::resolve(&[None, None, None]), Policy::default());
        let over = settings("allow: [major, patch]\n");
        let p = Policy::resolve(&[Some(&over), Some(&manifest), None]);
        assert_eq!(
            p.allow,
            [UpdateType::Patch, UpdateType::Major],
            "in class order"
        );
    }

    #[test]
    fn holds_says_why_and_security_passes_allow_but_not_hold() {
        let p = Policy::resolve(&[Some(&settings(
            "allow: [patch]\nhold: [\"^linux-image\"]\n",
        ))]);
        assert_eq!(p.holds("curl", UpdateType::Patch), None);
        assert_eq!(
            p.holds("curl", UpdateType::Major),
            Some(Held::NotAllowed(UpdateType::Major))
        );
        assert_eq!(p.holds("curl", UpdateType::Security), None);
        assert_eq!(p.holds("curl", UpdateType::Unknown), None);
        assert_eq!(
            p.holds("linux-image-amd64", UpdateType::Security),
            Some(Held::Hold("^linux-image".into()))
        );
        let s = Policy::resolve(&[Some(&settings("security_only: true\n"))]);
        assert_eq!(s.holds("a", UpdateType::Patch), Some(Held::SecurityOnly));
        assert_eq!(s.holds("a", UpdateType::Unknown), Some(Held::SecurityOnly));
        assert_eq!(s.holds("a", UpdateType::Security), None);
        assert_eq!(
            Held::NotAllowed(UpdateType::Major).to_string(),
            "a major update, not allowed by the policy"
        );
    }

    #[test]
    fn the_environment_spells_the_policy() {
        let p = Policy::resolve(&[Some(&settings(
            "allow: [patch, minor, security]\nhold: [\"^a$\", \"b\"]\nmin_age: 2h\n",
        ))]);
        assert_eq!(
            p.env(),
            [
                (vars::ALLOW, "patch,minor,security".to_owned()),
                (vars::SECURITY_ONLY, "false".to_owned()),
                (vars::HOLD, "^a$\nb".to_owned()),
                (vars::MIN_AGE, "7200".to_owned()),
            ]
        );
        assert_eq!(Policy::default().env()[0].1, "patch,minor,major,security");
    }

    #[test]
    fn ages_read_with_or_without_a_unit() {
        for (text, secs) in [
            ("3d", 259_200),
            ("12h", 43_200),
            ("1w", 604_800),
            ("90m", 5400),
            ("30s", 30),
            ("45", 45),
            ("0", 0),
        ] {
            assert_eq!(MinAge::parse(text).unwrap().get().as_secs(), secs, "{text}");
        }
        assert_eq!(MinAge::parse("3d").unwrap().to_string(), "3d");
        for bad in ["soon", "3 days", "-1d", "400d", "d"] {
            assert!(MinAge::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn wrong_values_are_refused() {
        for (yaml, why) in [
            ("allow: [hotfix]\n", "unknown update class \"hotfix\""),
            ("allow: [unknown]\n", "unknown update class \"unknown\""),
            ("hold: [\"(\"]\n", "invalid hold pattern \"(\""),
            ("hold: [\"\"]\n", "would hold every package"),
            ("hold: [\"(?i)linux\"]\n", "not understood by grep -E"),
            ("hold: [\"lib\\\\d\"]\n", "write [0-9]"),
            ("min_age: soon\n", "invalid age \"soon\""),
            ("security_only: maybe\n", "invalid type"),
            ("alow: [patch]\n", "unknown field `alow`"),
        ] {
            let e = serde_norway::from_str::<PolicySettings>(yaml).unwrap_err();
            assert!(e.to_string().contains(why), "{yaml}: {e}");
        }
    }
}
