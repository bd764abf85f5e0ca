//! Where a value is in a YAML file, for a value that parsed but was
//! refused afterwards (a reserved plugin name, an untrusted runner), so
//! that its message names the line as a parse error does.

use crate::diagnostic::Diagnostic;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use std::fmt;
use std::path::Path;

/// An error at the value at `keys` (a path of mapping keys, such as
/// `["plugin", "name"]`) in `text`, the file `file`; without line and
/// column when the value cannot be found.
pub fn error_at(file: &Path, text: &str, keys: &[&str], message: String) -> Diagnostic {
    let (line, column) = locate(text, keys).map_or((None, None), |(l, c)| (Some(l), Some(c)));
    Diagnostic {
        line,
        column,
        ..Diagnostic::error(Some(file), message)
    }
}

/// The 1-based line and column of the value at `keys` in `text`.
pub fn locate(text: &str, keys: &[&str]) -> Option<(usize, usize)> {
    let de = serde_norway::Deserializer::from_str(text);
    match Seek(keys).deserialize(de) {
        // The parser puts the place of the value where the search stopped
        // (and the path of keys before the message).
        Err(e) if e.to_string().contains(FOUND) => e.location().map(|l| (l.line(), l.column())),
        _ => None,
    }
}

/// The error that ends the search at the value sought.
const FOUND: &str = "update-all: the value sought is here";

/// Walks the keys still to go.
struct Seek<'k>(&'k [&'k str]);

impl<'de> DeserializeSeed<'de> for Seek<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        match self.0.split_first() {
            None => d.deserialize_any(Found),
            Some((first, rest)) => d.deserialize_map(Keys { first, rest }),
        }
    }
}

struct Keys<'k> {
    first: &'k str,
    rest: &'k [&'k str],
}

impl<'de> Visitor<'de> for Keys<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a mapping")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == self.first {
                return map.next_value_seed(Seek(self.rest));
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }
}

/// Fails at whatever value it is given.
struct Found;

impl<'de> Visitor<'de> for Found {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any value")
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom(FOUND))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom(FOUND))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_values_in_any_style() {
        let text = "# a comment\nplugin:\n  version: \"1\"\n  name: recorder\n";
        assert_eq!(locate(text, &["plugin", "name"]), Some((4, 9)));
        let text = "plugin: {executable: /x, name: \"recorder\"}\n";
        assert_eq!(locate(text, &["plugin", "name"]), Some((1, 32)));
        let text = "plugins:\n  disabled: [a]\npaths:\n    runner: /opt/x\n";
        assert_eq!(locate(text, &["paths", "runner"]), Some((4, 13)));
        assert_eq!(locate(text, &["paths", "other"]), None);
        assert_eq!(locate("- a\n", &["paths"]), None);
    }
}
