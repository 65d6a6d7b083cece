//! Target profiles: table capacities per match kind and feature flags,
//! loaded from the JSON files in `profiles/`.

use serde::Deserialize;

/// The largest table a target holds, by the table's most expensive match kind.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
pub struct Capacity {
    /// All keys exact.
    pub exact: u64,
    /// LPM (and exact) keys.
    pub lpm: u64,
    /// Any ternary key.
    pub ternary: u64,
    /// Any range key (0: ranges are not native).
    pub range: u64,
}

/// A target profile.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Profile {
    /// Its name, as given in `Options::profile`.
    pub name: String,
    /// Where the numbers come from.
    pub description: String,
    /// Table capacities.
    pub capacity: Capacity,
    /// Whether `range` match kinds are native.
    pub range_native: bool,
}

const BUILTIN: &[(&str, &str)] = &[
    ("pna", include_str!("../profiles/pna.json")),
    (
        "pensando-elba",
        include_str!("../profiles/pensando-elba.json"),
    ),
    ("bluefield-3", include_str!("../profiles/bluefield-3.json")),
];

impl Profile {
    /// A built-in profile by name (`pna`, `pensando-elba`, `bluefield-3`).
    pub fn builtin(name: &str) -> Option<Profile> {
        BUILTIN
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, text)| serde_json::from_str(text).ok())
    }

    /// The names of the built-in profiles.
    pub fn builtin_names() -> Vec<&'static str> {
        BUILTIN.iter().map(|(n, _)| *n).collect()
    }
}
