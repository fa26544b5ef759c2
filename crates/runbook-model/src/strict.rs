//! Numbers and booleans as YAML types them. A quoted `"3"` is a string: serde-saphyr would
//! parse it into a `u32` field anyway, while the JSON Schema (and every editor using it)
//! refuses it. These `deserialize_with` helpers read the value untyped and accept only a real
//! number or boolean, so `check` and the schema give the same answer.

use serde::Deserializer;
use serde::de::{Error, Unexpected, Visitor};

/// Which number a field holds, for the error message.
#[derive(Clone, Copy)]
struct Expected(&'static str);

impl serde::de::Expected for Expected {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

struct Integer(Expected);

impl Visitor<'_> for Integer {
    type Value = i128;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(self.0.0)
    }
    fn visit_i64<E: Error>(self, v: i64) -> Result<i128, E> {
        Ok(v.into())
    }
    fn visit_u64<E: Error>(self, v: u64) -> Result<i128, E> {
        Ok(v.into())
    }
    fn visit_str<E: Error>(self, v: &str) -> Result<i128, E> {
        Err(E::invalid_type(Unexpected::Str(v), &self.0))
    }
}

fn integer<'de, D: Deserializer<'de>, T: TryFrom<i128>>(
    d: D,
    expected: &'static str,
) -> Result<T, D::Error> {
    let v = d.deserialize_any(Integer(Expected(expected)))?;
    T::try_from(v).map_err(|_| {
        let unexpected = match i64::try_from(v) {
            Ok(i) => Unexpected::Signed(i),
            Err(_) => Unexpected::Other("an integer out of range"),
        };
        D::Error::invalid_value(unexpected, &Expected(expected))
    })
}

const U32: &str = "an unquoted whole number (0 or more)";
const U16: &str = "an unquoted port number (0-65535)";

/// A `u32` written as a number.
pub fn u32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    integer(d, U32)
}

/// An optional `u32` written as a number.
pub fn opt_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    option(d)
}

/// An optional `u16` written as a number.
pub fn opt_u16<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
    option(d)
}

/// An `i32` written as a number (exit codes).
pub fn i32<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    integer(d, "an unquoted exit code")
}

struct Float;

impl Visitor<'_> for Float {
    type Value = f64;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an unquoted number")
    }
    fn visit_f64<E: Error>(self, v: f64) -> Result<f64, E> {
        Ok(v)
    }
    fn visit_i64<E: Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_u64<E: Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }
}

/// An optional `f64` written as a number.
pub fn opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    option(d)
}

struct Bool;

impl Visitor<'_> for Bool {
    type Value = bool;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("unquoted true or false")
    }
    fn visit_bool<E: Error>(self, v: bool) -> Result<bool, E> {
        Ok(v)
    }
}

/// A `bool` written as `true` or `false`, unquoted.
pub fn bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    d.deserialize_any(Bool)
}

/// `null` (or `~`) is no value; anything else is read as `T`.
fn option<'de, D: Deserializer<'de>, T: Strict>(d: D) -> Result<Option<T>, D::Error> {
    d.deserialize_option(OptionVisitor(std::marker::PhantomData))
}

/// A type read strictly, for [`option`].
trait Strict: Sized {
    fn read<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error>;
}

impl Strict for u32 {
    fn read<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        integer(d, U32)
    }
}

impl Strict for u16 {
    fn read<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        integer(d, U16)
    }
}

impl Strict for f64 {
    fn read<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Float)
    }
}

struct OptionVisitor<T>(std::marker::PhantomData<T>);

impl<'de, T: Strict> Visitor<'de> for OptionVisitor<T> {
    type Value = Option<T>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a value or null")
    }
    fn visit_none<E: Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }
    fn visit_unit<E: Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        T::read(d).map(Some)
    }
}
