//! A value with the place in the YAML file it was read from.

use std::borrow::Cow;
use std::ops::Deref;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A 1-based line and column (in characters) in a source file, plus the byte offset when known.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Loc {
    /// The 1-based line.
    pub line: usize,
    /// The 1-based column, in characters.
    pub col: usize,
    /// The byte offset into the file, when the parser gave one.
    pub offset: Option<usize>,
}

impl Loc {
    /// A line and column with no byte offset.
    pub fn new(line: usize, col: usize) -> Self {
        Loc {
            line,
            col,
            offset: None,
        }
    }

    pub(crate) fn from_saphyr(loc: &serde_saphyr::Location) -> Self {
        Loc {
            line: loc.line() as usize,
            col: loc.column() as usize,
            offset: loc.span().byte_offset().map(|o| o as usize),
        }
    }
}

/// A deserialized value that remembers where it was written, so diagnostics can point at it.
///
/// It serializes and describes itself (JSON Schema) exactly as the inner value does.
#[derive(Debug, Clone, Default)]
pub struct Spanned<T> {
    /// The value read.
    pub value: T,
    /// Where it was written.
    pub loc: Loc,
}

impl<T> Spanned<T> {
    /// A value with its place.
    pub fn new(value: T, loc: Loc) -> Self {
        Spanned { value, loc }
    }
}

impl<T> Deref for Spanned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: PartialEq> PartialEq for Spanned<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Spanned<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let inner = serde_saphyr::Spanned::<T>::deserialize(deserializer)?;
        Ok(Spanned {
            loc: Loc::from_saphyr(&inner.referenced),
            value: inner.value,
        })
    }
}

impl<T: Serialize> Serialize for Spanned<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(serializer)
    }
}

impl<T: schemars::JsonSchema> schemars::JsonSchema for Spanned<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }
    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }
    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }
}
