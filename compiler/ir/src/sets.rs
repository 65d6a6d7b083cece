//! Set lookup tables' entries, derived from a set's elements. The same code
//! runs at compile time and on every run-time set update, so a controller's
//! update means what the compiler would have built.

use crate::prefix::range_to_prefixes;
use crate::{Elem, Entry, Family, Field, KeySource, Match, MatchKind, Set, Table};

/// The family a set table serves, from its key field.
fn family_of(table: &Table) -> Option<Family> {
    match table.keys.first().map(|k| k.source) {
        Some(KeySource::Field(f)) => match f.field {
            Field::Ip4Src | Field::Ip4Dst => Some(Family::V4),
            Field::Ip6Src | Field::Ip6Dst => Some(Family::V6),
            _ => None,
        },
        _ => None,
    }
}

/// The entries of `table` (a lookup of `set`): one per element of the
/// table's family, prefixes expanded for LPM keys. Priorities are distinct
/// and follow element order (any hit is a member, so order is immaterial).
pub fn set_entries(set: &Set, table: &Table) -> Vec<Entry> {
    let Some(key) = table.keys.first() else {
        return Vec::new();
    };
    let width = key.source.width();
    let family = family_of(table);
    let elems: Vec<&Elem> = set
        .elems
        .iter()
        .filter(|e| family.is_none() || e.family == family)
        .collect();
    let mut matches = Vec::new();
    for e in elems {
        match key.kind {
            MatchKind::Lpm => {
                for (value, len) in range_to_prefixes(e.lo, e.hi, width) {
                    matches.push(Match::Lpm { value, len });
                }
            }
            // Lowering gives non-IP sets range keys, so ranges stay one entry.
            MatchKind::Exact | MatchKind::Range | MatchKind::Ternary => {
                matches.push(Match::Range { lo: e.lo, hi: e.hi })
            }
        }
    }
    let n = matches.len() as u32;
    matches
        .into_iter()
        .enumerate()
        .map(|(i, m)| Entry {
            priority: n - i as u32,
            matches: vec![m],
            rule: None,
        })
        .collect()
}
