//! Serializes `u128` values as `0x…` strings: JSON numbers lose precision
//! past 2^53 in many consumers, and IPv6 addresses are 128 bits wide.

use serde::{Deserialize, Deserializer, Serializer};

pub fn serialize<S: Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{v:#x}"))
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
    let s = String::deserialize(d)?;
    let digits = s
        .strip_prefix("0x")
        .ok_or_else(|| serde::de::Error::custom(format!("expected 0x… hex, got {s:?}")))?;
    u128::from_str_radix(digits, 16).map_err(serde::de::Error::custom)
}
