//! How many hosts: a count (`2`) or a share of a step's hosts (`"25%"`), for `serial` batches
//! (one size, or a ramp such as `[1, "10%", "100%"]`) and `max_fail`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A number of hosts, or a percentage of the step's hosts (rounded up, at least 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostCount {
    /// A fixed number of hosts.
    Count(u32),
    /// A percentage of the step's hosts, 1 to 100.
    Percent(u32),
}

impl HostCount {
    /// The count for a step over `hosts` hosts.
    pub fn of(&self, hosts: usize) -> usize {
        match *self {
            HostCount::Count(n) => n as usize,
            HostCount::Percent(p) => (hosts * p as usize).div_ceil(100),
        }
    }

    fn parse(text: &str) -> Result<HostCount, String> {
        let digits = text
            .strip_suffix('%')
            .ok_or_else(|| format!("`{text}` is not a host count or a percentage like `25%`"))?;
        match digits.trim().parse::<u32>() {
            Ok(p) if (1..=100).contains(&p) => Ok(HostCount::Percent(p)),
            _ => Err(format!("`{text}`: a percentage is 1% to 100%")),
        }
    }
}

impl std::fmt::Display for HostCount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostCount::Count(n) => write!(f, "{n}"),
            HostCount::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl Serialize for HostCount {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            HostCount::Count(n) => s.serialize_u32(*n),
            HostCount::Percent(_) => s.serialize_str(&self.to_string()),
        }
    }
}

/// Reads one host count: an integer, or a percentage string.
struct CountVisitor;

impl serde::de::Visitor<'_> for CountVisitor {
    type Value = HostCount;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a number of hosts or a percentage such as \"25%\"")
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<HostCount, E> {
        u32::try_from(v)
            .map(HostCount::Count)
            .map_err(|_| E::custom("too many hosts"))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<HostCount, E> {
        u32::try_from(v)
            .map(HostCount::Count)
            .map_err(|_| E::custom("a host count is 0 or more"))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<HostCount, E> {
        HostCount::parse(v).map_err(E::custom)
    }
}

impl<'de> Deserialize<'de> for HostCount {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CountVisitor)
    }
}

impl JsonSchema for HostCount {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "HostCount".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A number of hosts, or a percentage of the step's hosts such as \"25%\".",
            "oneOf": [
                { "type": "integer", "minimum": 0 },
                { "type": "string", "pattern": "^([1-9][0-9]?|100)%$" }
            ]
        })
    }
}

/// `serial`: one batch size, or a ramp of sizes (the last repeats until every host ran).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Serial {
    /// One batch size for every batch.
    One(HostCount),
    /// Batch sizes in order; the last one repeats until every host ran.
    Ramp(Vec<HostCount>),
}

impl<'de> Deserialize<'de> for Serial {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Serial;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a batch size (2, \"25%\") or a ramp of them ([1, \"10%\", \"100%\"])")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Serial, E> {
                CountVisitor.visit_u64(v).map(Serial::One)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Serial, E> {
                CountVisitor.visit_i64(v).map(Serial::One)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Serial, E> {
                CountVisitor.visit_str(v).map(Serial::One)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Serial, A::Error> {
                let mut ramp = Vec::new();
                while let Some(n) = seq.next_element::<HostCount>()? {
                    ramp.push(n);
                }
                Ok(Serial::Ramp(ramp))
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl Serial {
    /// The batch sizes for `hosts` hosts, each at least 1, covering every host.
    pub fn batches(&self, hosts: usize) -> Vec<usize> {
        let sizes: Vec<usize> = match self {
            Serial::One(n) => vec![n.of(hosts)],
            Serial::Ramp(ramp) => ramp.iter().map(|n| n.of(hosts)).collect(),
        };
        let mut out = Vec::new();
        let mut left = hosts;
        let mut i = 0;
        while left > 0 {
            let size = sizes
                .get(i)
                .or(sizes.last())
                .copied()
                .unwrap_or(hosts)
                .clamp(1, left);
            out.push(size);
            left -= size;
            i += 1;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_cover_every_host_and_ramps_repeat_their_last_size() {
        assert_eq!(Serial::One(HostCount::Count(2)).batches(5), vec![2, 2, 1]);
        assert_eq!(
            Serial::One(HostCount::Percent(30)).batches(10),
            vec![3, 3, 3, 1]
        );
        let ramp = Serial::Ramp(vec![
            HostCount::Count(1),
            HostCount::Percent(10),
            HostCount::Percent(100),
        ]);
        assert_eq!(ramp.batches(30), vec![1, 3, 26]);
        assert_eq!(Serial::One(HostCount::Count(0)).batches(3), vec![1, 1, 1]);
        assert_eq!(HostCount::Percent(25).of(10), 3);
    }
}
