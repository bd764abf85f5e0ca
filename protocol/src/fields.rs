//! How documents are read: serde, with a message for every wrong value
//! that names its path (`data.packages_to_update[3].name`) and says what it
//! is and what it must be.
//!
//! The typed documents derive `Deserialize`; their fields go through the
//! helpers here, which accept exactly what the protocol allows (`null`
//! wherever a value may be absent, whole floats as counts) and refuse the
//! rest with a message relative to the value: `is "12 MB"; it must be a
//! whole number of bytes or null`. [`explain`] puts the path, which
//! `serde_path_to_error` kept, in front. [`Object`] and [`Array`] refuse
//! the other kinds of JSON value, where a derived struct alone would also
//! take an array for an object.

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::fmt;
use std::marker::PhantomData;

use crate::error::excerpt;
use update_all_core::policy::UpdateType;

/// A JSON value as a message shows it: `null`, `true`, `-1`, `"12 MB"`
/// (quoted, at most [`crate::error::EXCERPT`] bytes), `an array`,
/// `an object`.
pub(crate) fn kind_of(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => excerpt(s.as_bytes()),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// The error for a value of the wrong kind, relative to its path.
fn wrong<E: de::Error>(found: &Value, want: &str) -> E {
    E::custom(format_args!("is {}; it must be {want}", kind_of(found)))
}

/// What is said of a required key that is absent, or null, or empty.
fn missing_text(field: &str) -> String {
    let hint = match field {
        "packages_to_update" => "; list the pending updates there, or [] when there are none",
        "name" => "; every package has a name",
        "code" => "; it must be an UPPER_SNAKE word such as NETWORK_ERROR",
        _ => "",
    };
    format!("is missing{hint}")
}

/// The message for a document that did not deserialize: the path of the
/// wrong value under `root` (`data`, or `""` for the whole document), and
/// what is wrong with it.
pub(crate) fn explain(root: &str, e: serde_path_to_error::Error<serde_json::Error>) -> String {
    let mut path = root.to_owned();
    for segment in e.path().iter() {
        match segment {
            serde_path_to_error::Segment::Seq { index } => path.push_str(&format!("[{index}]")),
            serde_path_to_error::Segment::Map { key }
            | serde_path_to_error::Segment::Enum { variant: key } => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
            }
            serde_path_to_error::Segment::Unknown => {}
        }
    }
    let message = e.into_inner().to_string();
    // serde's own words for a required key that is not there at all.
    match message
        .strip_prefix("missing field `")
        .and_then(|m| m.strip_suffix('`'))
    {
        Some("status") if path.is_empty() => "the document has no `status`".into(),
        Some(field) if path.is_empty() => format!("`{field}` {}", missing_text(field)),
        Some(field) => format!("`{path}.{field}` {}", missing_text(field)),
        None => format!("`{path}` {message}"),
    }
}

/// Reads `value` as a `T`; the error says where and what is wrong, its
/// path under `root`.
pub(crate) fn read<'a, T: Deserialize<'a>>(root: &str, value: &'a Value) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|e| explain(root, e))
}

/// A string or null.
fn string_or_null<'de, D: Deserializer<'de>>(d: D, want: &str) -> Result<Option<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        v => Err(wrong(&v, want)),
    }
}

/// A string or null: a version.
pub(crate) fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    string_or_null(d, "a string or null")
}

/// An error object's `details`: a string or null.
pub(crate) fn details<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    string_or_null(d, "a string")
}

/// An error object's `message`: a string.
pub(crate) fn message<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    string_or_null(d, "a string")?.ok_or_else(|| de::Error::custom(missing_text("message")))
}

/// An error object's `code`: a non-empty string.
pub(crate) fn code<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    string_or_null(d, "a string")?
        .filter(|c| !c.is_empty())
        .ok_or_else(|| de::Error::custom(missing_text("code")))
}

/// A package's `name`: a non-empty string.
pub(crate) fn name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    text(d)?
        .filter(|n| !n.is_empty())
        .ok_or_else(|| de::Error::custom(missing_text("name")))
}

/// A whole, non-negative number (`1e3` is 1000), or null.
fn count<'de, D: Deserializer<'de>>(d: D, want: &str) -> Result<Option<u64>, D::Error> {
    let v = Value::deserialize(d)?;
    if v.is_null() {
        return Ok(None);
    }
    let whole = v.as_u64().or_else(|| {
        v.as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < u64::MAX as f64)
            .map(|f| f as u64)
    });
    whole.map(Some).ok_or_else(|| wrong(&v, want))
}

/// A package's `update_type`: one of [`UpdateType`]'s words; null is
/// unknown.
pub(crate) fn update_type<'de, D: Deserializer<'de>>(d: D) -> Result<UpdateType, D::Error> {
    const WANT: &str = "patch, minor, major, security, unknown or null";
    match Value::deserialize(d)? {
        Value::Null => Ok(UpdateType::Unknown),
        Value::String(s) => UpdateType::parse(&s).ok_or_else(|| wrong(&Value::String(s), WANT)),
        v => Err(wrong(&v, WANT)),
    }
}

/// A size in bytes, or null.
pub(crate) fn bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    count(d, "a whole number of bytes or null")
}

/// A time in seconds, or null.
pub(crate) fn seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    count(d, "a whole number of seconds")
}

/// `true` or `false`; null is false.
pub(crate) fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(false),
        Value::Bool(b) => Ok(b),
        v => Err(wrong(&v, "true or false")),
    }
}

/// estimate-update's `applicable`: `true`, `false` or null.
pub(crate) fn applicable<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(b)),
        v => Err(wrong(&v, "true")),
    }
}

/// A document's `data`: an object or null, kept as it is.
pub(crate) fn object_or_null<'de, D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
    match Value::deserialize(d)? {
        v @ (Value::Null | Value::Object(_)) => Ok(v),
        v => Err(wrong(&v, "an object or null")),
    }
}

/// An object that may be null: the document's `error`.
pub(crate) fn optional_object<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Expected,
{
    Ok(Option::<Object<T>>::deserialize(d)?.map(|o| o.0))
}

/// An array of objects: `packages_to_update`.
pub(crate) fn objects<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Expected,
{
    Ok(Array::<Object<T>>::deserialize(d)?
        .0
        .into_iter()
        .map(|o| o.0)
        .collect())
}

/// An array of objects, or null for none: rollback's `rolled_back` and
/// `failed`.
pub(crate) fn objects_or_null<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Expected,
{
    Ok(Option::<Array<Object<T>>>::deserialize(d)?
        .map(|a| a.0.into_iter().map(|o| o.0).collect())
        .unwrap_or_default())
}

/// An array of objects, or null for none: `held_back`.
pub(crate) fn held_back<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Expected,
{
    Ok(Option::<Array<Object<T>>>::deserialize(d)?
        .map(|a| a.0.into_iter().map(|o| o.0).collect())
        .unwrap_or_default())
}

/// An array of strings, or null for none.
pub(crate) fn strings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Array<Str>>::deserialize(d)?
        .map(|a| a.0.into_iter().map(|s| s.0).collect())
        .unwrap_or_default())
}

/// What the messages say a value must be.
pub(crate) trait Expected {
    /// One value: `an object`.
    const ONE: &'static str;
    /// An array of them: `an array`.
    const ARRAY: &'static str = "an array";
}

/// A JSON object read as a `T`.
pub(crate) struct Object<T>(pub T);

/// A JSON array read as a `Vec<T>`.
pub(crate) struct Array<T>(pub Vec<T>);

/// A string, and nothing else.
pub(crate) struct Str(pub String);

impl<T: Expected> Expected for Object<T> {
    const ONE: &'static str = T::ONE;
    const ARRAY: &'static str = T::ARRAY;
}

impl Expected for Str {
    const ONE: &'static str = "a string";
    const ARRAY: &'static str = "an array of strings";
}

impl<'de> Deserialize<'de> for Str {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => Ok(Str(s)),
            v => Err(wrong(&v, Str::ONE)),
        }
    }
}

/// Takes one kind of JSON value (through `deserialize_any`) and refuses the
/// others, saying what they are and what `want` is.
struct Only<T> {
    want: &'static str,
    into: PhantomData<T>,
}

/// The visitor methods of [`Only`] for the kinds it refuses: every scalar.
macro_rules! refuse_scalars {
    () => {
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Err(wrong(&Value::Null, self.want))
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Err(wrong(&Value::from(v), self.want))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Err(wrong(&Value::from(v), self.want))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Err(wrong(&Value::from(v), self.want))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Err(wrong(&Value::from(v), self.want))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Err(wrong(&Value::from(v), self.want))
        }
    };
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for Only<Object<T>> {
    type Value = Object<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.want)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(Object)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(wrong(&Value::Array(Vec::new()), self.want))
    }

    refuse_scalars!();
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for Only<Array<T>> {
    type Value = Array<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.want)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Vec::deserialize(SeqAccessDeserializer::new(seq)).map(Array)
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(wrong(&Value::Object(Default::default()), self.want))
    }

    refuse_scalars!();
}

impl<'de, T: Deserialize<'de> + Expected> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Only::<Object<T>> {
            want: T::ONE,
            into: PhantomData,
        })
    }
}

impl<'de, T: Deserialize<'de> + Expected> Deserialize<'de> for Array<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Only::<Array<T>> {
            want: T::ARRAY,
            into: PhantomData,
        })
    }
}
