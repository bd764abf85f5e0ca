//! Validated scalar types used by manifests and the configuration.
//!
//! Each type checks its value inside a serde visitor, so that a bad value is
//! reported by the YAML parser with the field's path, line and column.

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;
use std::marker::PhantomData;

/// A string checked by `check` while it is parsed.
trait CheckedStr: Sized {
    const EXPECTING: &'static str;
    fn check(s: &str) -> Result<Self, String>;
}

struct StrVisitor<T>(PhantomData<T>);

impl<T: CheckedStr> Visitor<'_> for StrVisitor<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        T::check(v).map_err(E::custom)
    }
}

macro_rules! checked_str_serde {
    ($t:ty) => {
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_str(StrVisitor::<$t>(PhantomData))
            }
        }
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// Rejects what could end a unit-file line or hide in one.
pub fn check_no_control(s: &str) -> Result<(), String> {
    match s.chars().find(|c| c.is_control()) {
        Some(c) => Err(format!(
            "contains the control character {c:?}; newlines and control characters are not allowed"
        )),
        None => Ok(()),
    }
}

/// A plugin name: `^[a-z0-9][a-z0-9_]*(-[a-z0-9_]+)*$`, at most 64 characters,
/// not ending in `-download` (that suffix names the download unit).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PluginName(String);

impl PluginName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl CheckedStr for PluginName {
    const EXPECTING: &'static str = "a plugin name such as `apt` or `flatpak-user`";
    fn check(s: &str) -> Result<Self, String> {
        let valid_chars = |part: &str| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        };
        let first_ok = s
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !first_ok || !s.split('-').all(valid_chars) {
            return Err(format!(
                "invalid plugin name {s:?}: use lowercase letters, digits and `_`, \
                 in words joined by single `-`, starting with a letter or digit"
            ));
        }
        if s.len() > 64 {
            return Err(format!(
                "plugin name {s:?} is {} characters long; at most 64 are allowed",
                s.len()
            ));
        }
        if s.ends_with("-download") {
            return Err(format!(
                "plugin name {s:?} ends in `-download`, which is reserved for download units"
            ));
        }
        Ok(PluginName(s.to_owned()))
    }
}
checked_str_serde!(PluginName);

/// Plugin names whose units update-all ships or will ship, and what those
/// units are for: each name, and every name that starts with it and `-`
/// (docs/manifest.md, "Reserved names"). A plugin unit
/// `update-all-<name>.service` in the generator's directory would replace
/// update-all's own unit of that name, which lives in /usr/lib/systemd.
pub const RESERVED_NAMES: [(&str, &str); 7] = [
    ("recorder", "the recorder of runs"),
    (
        "snapshot",
        "the snapshots taken before and after a run (snapshot-pre, snapshot-post)",
    ),
    ("health", "the health checks after a run"),
    ("rollback", "rolling a run back"),
    ("boot-check", "the check at the boot after a run"),
    (
        "reboot",
        "the reboot a run's reboot policy leaves pending (a transient unit)",
    ),
    (
        "resume",
        "resuming at boot a run that a crash or a reboot cut short",
    ),
];

impl PluginName {
    /// When the name is reserved: the reserved name it falls under and
    /// what update-all keeps it for.
    pub fn reserved(&self) -> Option<(&'static str, &'static str)> {
        RESERVED_NAMES.iter().copied().find(|(reserved, _)| {
            self.0
                .strip_prefix(reserved)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
        })
    }
}

impl TryFrom<&str> for PluginName {
    type Error = String;
    fn try_from(s: &str) -> Result<Self, String> {
        Self::check(s)
    }
}

/// A mutex name (docs/manifest.md, "Mutex names"): an optional `category:`
/// prefix and a resource, each `[A-Za-z0-9_-]+`, at most 64 characters.
/// Names compare case-insensitively, so they are kept in lowercase.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MutexName(String);

impl MutexName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl CheckedStr for MutexName {
    const EXPECTING: &'static str = "a mutex name such as `pkgmgr:dpkg`";
    fn check(s: &str) -> Result<Self, String> {
        let part_ok = |p: &str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        };
        let ok = match s.split_once(':') {
            Some((category, resource)) => part_ok(category) && part_ok(resource),
            None => part_ok(s),
        };
        if !ok {
            return Err(format!(
                "invalid mutex name {s:?}: use `category:resource` or `resource`, \
                 with letters, digits, `_` and `-` only"
            ));
        }
        if s.len() > 64 {
            return Err(format!(
                "mutex name {s:?} is {} characters long; at most 64 are allowed",
                s.len()
            ));
        }
        Ok(MutexName(s.to_ascii_lowercase()))
    }
}
checked_str_serde!(MutexName);

impl TryFrom<&str> for MutexName {
    type Error = String;
    fn try_from(s: &str) -> Result<Self, String> {
        Self::check(s)
    }
}

/// An absolute path without control characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AbsPath(String);

impl AbsPath {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl CheckedStr for AbsPath {
    const EXPECTING: &'static str = "an absolute path";
    fn check(s: &str) -> Result<Self, String> {
        check_no_control(s)?;
        if !s.starts_with('/') {
            return Err(format!("{s:?} is not an absolute path; write it from `/`"));
        }
        Ok(AbsPath(s.to_owned()))
    }
}
checked_str_serde!(AbsPath);

/// A path a plugin writes to (the manifest's `writes:`): absolute, or in the
/// home directory of whoever runs the unit (`~/.cache/pip`, for user-scope
/// plugins), without control characters or `..`, at most
/// [`WritePath::MAX_LEN`] bytes. Its filesystem's free space is checked
/// before the plugin's units run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WritePath(String);

impl WritePath {
    /// Longer paths are refused: no package cache needs one.
    pub const MAX_LEN: usize = 1024;
    /// At most this many paths in one `writes:` list.
    pub const MAX_COUNT: usize = 8;

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl CheckedStr for WritePath {
    const EXPECTING: &'static str = "an absolute path such as `/var/cache/apt`, or `~/…`";
    fn check(s: &str) -> Result<Self, String> {
        let path = match s.strip_prefix('~') {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => {
                check_no_control(s)?;
                s.to_owned()
            }
            _ => {
                check_no_control(s)?;
                if !s.starts_with('/') {
                    return Err(format!(
                        "{s:?} is not an absolute path; write it from `/`, or from `~/`"
                    ));
                }
                s.to_owned()
            }
        };
        if path.len() > Self::MAX_LEN {
            return Err(format!(
                "a path of {} bytes is too long: at most {}",
                path.len(),
                Self::MAX_LEN
            ));
        }
        if path.split('/').any(|part| part == "..") {
            return Err(format!("{path:?} holds `..`; write the path itself"));
        }
        Ok(WritePath(path))
    }
}
checked_str_serde!(WritePath);

/// The manifest's `writes:`: at most [`WritePath::MAX_COUNT`] paths, the
/// first where the downloads land (see docs/manifest.md).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Writes(Vec<WritePath>);

impl Writes {
    pub fn paths(&self) -> &[WritePath] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

struct WritesVisitor;

impl<'de> Visitor<'de> for WritesVisitor {
    type Value = Writes;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of absolute paths such as `[/var/cache/apt, /]`")
    }
    /// Counted while read, so that the error points into the list.
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Writes, A::Error> {
        let mut paths = Vec::new();
        while let Some(path) = seq.next_element::<WritePath>()? {
            if paths.len() == WritePath::MAX_COUNT {
                return Err(de::Error::custom(format!(
                    "more than {} paths: name at most {} filesystems",
                    WritePath::MAX_COUNT,
                    WritePath::MAX_COUNT
                )));
            }
            paths.push(path);
        }
        Ok(Writes(paths))
    }
}

impl<'de> Deserialize<'de> for Writes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(WritesVisitor)
    }
}

/// An executable's absolute path. systemd refuses quotes and backslashes in
/// it ("Executable name contains special characters"), so they are refused
/// here, where the message can name the manifest line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecPath(String);

impl ExecPath {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl CheckedStr for ExecPath {
    const EXPECTING: &'static str = "an executable's absolute path";
    fn check(s: &str) -> Result<Self, String> {
        let AbsPath(path) = AbsPath::check(s)?;
        if let Some(c) = path.chars().find(|c| matches!(c, '"' | '\'' | '\\')) {
            return Err(format!(
                "{path:?} contains {c:?}, which systemd does not allow in an executable's path"
            ));
        }
        Ok(ExecPath(path))
    }
}
checked_str_serde!(ExecPath);

/// Free text (descriptions) that will appear in a unit file.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Text(String);

impl Text {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl CheckedStr for Text {
    const EXPECTING: &'static str = "a single line of text";
    fn check(s: &str) -> Result<Self, String> {
        check_no_control(s)?;
        Ok(Text(s.to_owned()))
    }
}
checked_str_serde!(Text);

/// A byte size as systemd takes it: a number with an optional K, M, G or T
/// suffix (base 1024), or `infinity`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ByteSize(String);

impl ByteSize {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The size in bytes (K, M, G and T are powers of 1024); `None` for
    /// `infinity`, and for a size beyond `u64`.
    pub fn bytes(&self) -> Option<u64> {
        let s = self.0.as_str();
        let (digits, shift) = match s.as_bytes().last() {
            Some(b'K') => (&s[..s.len() - 1], 10),
            Some(b'M') => (&s[..s.len() - 1], 20),
            Some(b'G') => (&s[..s.len() - 1], 30),
            Some(b'T') => (&s[..s.len() - 1], 40),
            _ => (s, 0),
        };
        digits.parse::<u64>().ok()?.checked_mul(1 << shift)
    }
}

impl CheckedStr for ByteSize {
    const EXPECTING: &'static str = "a size such as `512M` or `2G`";
    fn check(s: &str) -> Result<Self, String> {
        if s == "infinity" {
            return Ok(ByteSize(s.to_owned()));
        }
        let digits = s.trim_end_matches(['K', 'M', 'G', 'T']);
        let suffixes = s.len() - digits.len();
        if suffixes > 1 || digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "invalid size {s:?}: write a whole number with an optional K, M, G or T suffix, \
                 such as `512M`, or `infinity`"
            ));
        }
        Ok(ByteSize(s.to_owned()))
    }
}
checked_str_serde!(ByteSize);

/// A CPU quota in percent of one CPU, such as `50%` or `200%`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Percent(String);

impl Percent {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl CheckedStr for Percent {
    const EXPECTING: &'static str = "a percentage such as `50%`";
    fn check(s: &str) -> Result<Self, String> {
        let ok = s
            .strip_suffix('%')
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| n > 0);
        if !ok {
            return Err(format!(
                "invalid CPU quota {s:?}: write a positive whole percentage such as `50%` \
                 (100% is one CPU)"
            ));
        }
        Ok(Percent(s.to_owned()))
    }
}
checked_str_serde!(Percent);

/// An integer in an inclusive range, checked while it is parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Bounded<const MIN: i64, const MAX: i64>(i64);

impl<const MIN: i64, const MAX: i64> Bounded<MIN, MAX> {
    pub fn new(v: i64) -> Option<Self> {
        (MIN..=MAX).contains(&v).then_some(Bounded(v))
    }
    pub fn get(self) -> i64 {
        self.0
    }
}

struct BoundedVisitor<const MIN: i64, const MAX: i64>;

impl<const MIN: i64, const MAX: i64> Visitor<'_> for BoundedVisitor<MIN, MAX> {
    type Value = Bounded<MIN, MAX>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a whole number from {MIN} to {MAX}")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Bounded::new(v).ok_or_else(|| E::custom(format!("{v} is out of range: use {MIN} to {MAX}")))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        self.visit_i64(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

impl<'de, const MIN: i64, const MAX: i64> Deserialize<'de> for Bounded<MIN, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_i64(BoundedVisitor::<MIN, MAX>)
    }
}

impl<const MIN: i64, const MAX: i64> Serialize for Bounded<MIN, MAX> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(self.0)
    }
}

/// `CPUWeight=` / `IOWeight=`.
pub type Weight = Bounded<1, 10000>;
/// `Nice=`.
pub type Nice = Bounded<-20, 19>;
/// A timeout in seconds: positive, at most a week.
pub type Seconds = Bounded<1, 604800>;

/// A plugin setting's value: a YAML scalar, kept as the text the plugin will
/// see in its environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettingValue(String);

impl SettingValue {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

struct SettingVisitor;

impl Visitor<'_> for SettingVisitor {
    type Value = SettingValue;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string, number or boolean")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<SettingValue, E> {
        check_no_control(v).map_err(E::custom)?;
        Ok(SettingValue(v.to_owned()))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<SettingValue, E> {
        Ok(SettingValue(v.to_string()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<SettingValue, E> {
        Ok(SettingValue(v.to_string()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<SettingValue, E> {
        Ok(SettingValue(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<SettingValue, E> {
        Ok(SettingValue(v.to_string()))
    }
}

impl<'de> Deserialize<'de> for SettingValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SettingVisitor)
    }
}

impl Serialize for SettingValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// A setting's key: it becomes part of an environment variable name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SettingKey(String);

impl SettingKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl CheckedStr for SettingKey {
    const EXPECTING: &'static str = "a setting name such as `auto_remove`";
    fn check(s: &str) -> Result<Self, String> {
        let ok = s.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && s.len() <= 64;
        if !ok {
            return Err(format!(
                "invalid setting name {s:?}: use letters, digits and `_`, starting with a letter \
                 (it becomes part of an environment variable name)"
            ));
        }
        Ok(SettingKey(s.to_owned()))
    }
}
checked_str_serde!(SettingKey);

/// A version string. A whole number is taken as written; a decimal one is
/// refused, since YAML has already turned `1.10` into `1.1`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Version(String);

impl Version {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

struct VersionVisitor;

impl Visitor<'_> for VersionVisitor {
    type Value = Version;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a version such as \"1.0.0\"")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Version, E> {
        check_no_control(v).map_err(E::custom)?;
        Ok(Version(v.to_owned()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Version, E> {
        Ok(Version(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Version, E> {
        // YAML reads 1.10 as the number 1.1: refuse rather than mangle it.
        Err(E::custom(format!(
            "YAML reads this version as the number {v}, which loses digits (1.10 becomes 1.1); \
             put it in quotes"
        )))
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(VersionVisitor)
    }
}

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A systemd unit's name as a manifest's `health.units` lists it:
/// `nginx.service`, `postgresql@16-main.service`. It must end in a unit
/// type's suffix and hold no blank, control character or `/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitName(String);

/// The suffixes of systemd's unit types.
const UNIT_SUFFIXES: [&str; 11] = [
    ".service",
    ".socket",
    ".target",
    ".device",
    ".mount",
    ".automount",
    ".swap",
    ".path",
    ".timer",
    ".slice",
    ".scope",
];

impl UnitName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl CheckedStr for UnitName {
    const EXPECTING: &'static str = "a unit name such as `nginx.service`";
    fn check(s: &str) -> Result<Self, String> {
        check_no_control(s)?;
        if let Some(c) = s.chars().find(|c| c.is_whitespace() || *c == '/') {
            return Err(format!(
                "invalid unit name {s:?}: it contains {c:?}; write a unit's name such as \
                 `nginx.service`, not a path"
            ));
        }
        let stem = UNIT_SUFFIXES
            .iter()
            .find_map(|suffix| s.strip_suffix(suffix));
        if stem.is_none_or(str::is_empty) || s.len() > 255 {
            return Err(format!(
                "invalid unit name {s:?}: write a unit's full name with its type, such as \
                 `nginx.service` or `docker.socket`"
            ));
        }
        Ok(UnitName(s.to_owned()))
    }
}
checked_str_serde!(UnitName);

/// A length of time from `MIN` to `MAX` seconds: `30s`, `2m`, `1h 30m`
/// (jiff's friendly format, or ISO 8601 such as `PT2M`) or a number of
/// seconds, as `conditions.wait_max` takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span<const MIN: u64, const MAX: u64>(std::time::Duration);

impl<const MIN: u64, const MAX: u64> Span<MIN, MAX> {
    pub fn get(self) -> std::time::Duration {
        self.0
    }

    fn of(d: Option<std::time::Duration>, text: &dyn fmt::Display) -> Result<Self, String> {
        let range = std::time::Duration::from_secs(MIN)..=std::time::Duration::from_secs(MAX);
        d.filter(|d| range.contains(d))
            .map(Span)
            .ok_or_else(|| format!("{text} is out of range: use {MIN}s to {MAX}s"))
    }

    /// Reads `text` as [`Span`] documents it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let parsed: jiff::SignedDuration = text.trim().parse().map_err(|_| {
            format!("invalid duration {text:?}: write one such as `30s`, `2m` or `1h 30m`")
        })?;
        Self::of(std::time::Duration::try_from(parsed).ok(), &text)
    }
}

struct SpanVisitor<const MIN: u64, const MAX: u64>;

impl<const MIN: u64, const MAX: u64> Visitor<'_> for SpanVisitor<MIN, MAX> {
    type Value = Span<MIN, MAX>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a duration such as `30s`, `2m` or a number of seconds")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Span::of(
            Some(std::time::Duration::from_secs(v)),
            &format_args!("{v} s"),
        )
        .map_err(E::custom)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        let d = u64::try_from(v).ok().map(std::time::Duration::from_secs);
        Span::of(d, &format_args!("{v} s")).map_err(E::custom)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        let d = std::time::Duration::try_from_secs_f64(v).ok();
        Span::of(d, &format_args!("{v} s")).map_err(E::custom)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Span::parse(v).map_err(E::custom)
    }
}

impl<'de, const MIN: u64, const MAX: u64> Deserialize<'de> for Span<MIN, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SpanVisitor::<MIN, MAX>)
    }
}

impl<const MIN: u64, const MAX: u64> Serialize for Span<MIN, MAX> {
    /// As seconds with a unit (`30s`, `0.5s`), which parses back.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{}s", self.0.as_secs_f64()))
    }
}

/// A check's timeout: a second to an hour.
pub type CheckTimeout = Span<1, 3600>;

/// An optional [`CheckTimeout`] kept as a plain `Duration` (serde's `with`).
pub mod check_timeout {
    use super::CheckTimeout;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<CheckTimeout>::deserialize(d)?.map(CheckTimeout::get))
    }

    pub fn serialize<S: Serializer>(t: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        let span: Option<CheckTimeout> = t.map(super::Span);
        span.serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes_in_bytes() {
        let bytes = |s: &str| ByteSize::check(s).unwrap().bytes();
        assert_eq!(bytes("512"), Some(512));
        assert_eq!(bytes("4K"), Some(4096));
        assert_eq!(bytes("512M"), Some(512 << 20));
        assert_eq!(bytes("2G"), Some(2 << 30));
        assert_eq!(bytes("1T"), Some(1 << 40));
        assert_eq!(bytes("infinity"), None);
        assert_eq!(bytes("99999999999999T"), None, "beyond u64");
    }

    #[test]
    fn write_paths() {
        for ok in [
            "/",
            "/var/cache/apt",
            "/boot",
            "/home/u/.cache/pip",
            "~",
            "~/.cache/pip",
        ] {
            assert!(WritePath::check(ok).is_ok(), "{ok}");
        }
        for bad in [
            "var/cache",
            "",
            "/var/../etc",
            "/a\nb",
            "~u/x",
            "~/../etc",
            "~/a\tb",
            &format!("/{}", "a".repeat(1024)),
        ] {
            assert!(WritePath::check(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn plugin_names() {
        for ok in ["apt", "flatpak-user", "a1_b-c", "0x"] {
            assert!(PluginName::check(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Apt",
            "-a",
            "a-",
            "a--b",
            "_a",
            "a b",
            "apt-download",
            &"a".repeat(65),
        ] {
            assert!(PluginName::check(bad).is_err(), "{bad}");
        }
        assert!(PluginName::check(&"a".repeat(64)).is_ok());
    }

    #[test]
    fn reserved_names_and_their_namespaces() {
        let reserved = |s: &str| PluginName::check(s).unwrap().reserved().map(|r| r.0);
        assert_eq!(reserved("recorder"), Some("recorder"));
        assert_eq!(reserved("snapshot-pre"), Some("snapshot"));
        assert_eq!(reserved("snapshot-post"), Some("snapshot"));
        assert_eq!(reserved("health"), Some("health"));
        assert_eq!(reserved("rollback"), Some("rollback"));
        assert_eq!(reserved("boot-check"), Some("boot-check"));
        assert_eq!(reserved("boot-check-x"), Some("boot-check"));
        assert_eq!(reserved("reboot"), Some("reboot"));
        assert_eq!(reserved("resume"), Some("resume"));
        for free in [
            "recorders",
            "snapshots",
            "healthy",
            "boot",
            "apt",
            "my-recorder",
        ] {
            assert_eq!(reserved(free), None, "{free}");
        }
    }

    #[test]
    fn mutex_names() {
        assert_eq!(
            MutexName::check("PkgMgr:DPKG").unwrap().as_str(),
            "pkgmgr:dpkg"
        );
        assert!(MutexName::check("network").is_ok());
        for bad in ["", ":a", "a:", "a:b:c", "a b", "a\n", &"a".repeat(65)] {
            assert!(MutexName::check(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes_and_quotas() {
        for ok in ["512M", "2G", "1024", "infinity"] {
            assert!(ByteSize::check(ok).is_ok(), "{ok}");
        }
        for bad in ["", "2GB", "G", "-1", "1.5G", "2 G"] {
            assert!(ByteSize::check(bad).is_err(), "{bad}");
        }
        assert!(Percent::check("50%").is_ok());
        assert!(Percent::check("50").is_err());
        assert!(Percent::check("0%").is_err());
    }
}
