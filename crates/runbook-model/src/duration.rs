//! Durations as written in playbooks: `500ms`, `30s`, `15m`, `1h30m`, `2d`.

use std::borrow::Cow;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The pattern a duration must match, shared by the parser and the JSON Schema.
pub const DURATION_PATTERN: &str = r"^([0-9]+(ms|s|m|h|d))+$";

/// A templated duration (since format 1.1): anything with a `{{` or `{%` tag.
pub const TEMPLATE_PATTERN: &str = r"\{\{|\{%";

/// A duration kept as written, so a bad one is reported by the validator at its line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct DurationText(pub String);

// A bare number (`timeout: 30`) is kept as its text, so the validator says what is wrong with
// it (no unit) instead of the YAML reader asking for quotes, which would not help.
impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = DurationText;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a duration like 30s, 15m or 1h30m")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<DurationText, E> {
                Ok(DurationText(v.to_owned()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<DurationText, E> {
                Ok(DurationText(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<DurationText, E> {
                Ok(DurationText(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<DurationText, E> {
                Ok(DurationText(v.to_string()))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl DurationText {
    /// The duration the text spells, or why it is not one.
    pub fn parse(&self) -> Result<Duration, String> {
        parse_duration(&self.0)
    }
}

impl std::fmt::Display for DurationText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl JsonSchema for DurationText {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "anyOf": [
                { "pattern": DURATION_PATTERN },
                { "pattern": TEMPLATE_PATTERN },
            ],
            "description": "A duration: a number and a unit (ms, s, m, h, d), repeated: 30s, 15m, 1h30m; since format 1.1 also a template over params and vars (\"{{ drill_timeout }}\"), except in escalation `after`",
        })
    }
}

/// Parses `1h30m`-style text. Every part needs a unit; the total must fit in a `Duration`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "invalid duration `{text}`: expected a number and a unit (ms, s, m, h, d), like 30s, 15m or 1h30m"
        )
    };
    if text.is_empty() {
        return Err(bad());
    }
    let bytes = text.as_bytes();
    let mut total = Duration::ZERO;
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if start == i {
            return Err(bad());
        }
        let number: u64 = text[start..i].parse().map_err(|_| bad())?;
        let unit_start = i;
        while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
            i += 1;
        }
        let part = match &text[unit_start..i] {
            "ms" => Duration::from_millis(number),
            "s" => Duration::from_secs(number),
            "m" => Duration::from_secs(number.checked_mul(60).ok_or_else(bad)?),
            "h" => Duration::from_secs(number.checked_mul(3600).ok_or_else(bad)?),
            "d" => Duration::from_secs(number.checked_mul(86_400).ok_or_else(bad)?),
            _ => return Err(bad()),
        };
        total = total.checked_add(part).ok_or_else(bad)?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_sums() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("2d").unwrap(), Duration::from_secs(172_800));
    }

    #[test]
    fn refuses_bad_text() {
        for bad in [
            "",
            "30",
            "s",
            "10x",
            "1.5s",
            "-1s",
            "99999999999999999999s",
            "1h 30m",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad} should fail");
        }
    }
}
