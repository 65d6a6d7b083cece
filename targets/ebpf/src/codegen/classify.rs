//! Per-key classification of a table's entries, the bit-vector scheme of
//! Lakshman and Stiliadis: each key's value space is cut into elementary
//! intervals, each interval gets the bitmap of the entries whose match on
//! that key holds there, and a packet's winning entry is the first bit set
//! in the AND of its keys' bitmaps (entries are ordered by priority, highest
//! first). Lookups cost one map access per key plus `entries / 64` word
//! operations, instead of one comparison per rule.

use dpuc_ir::{Match, Table};

/// Ternary matches with non-contiguous masks are enumerated as intervals;
/// beyond this many, the key is refused.
const MAX_TERNARY_INTERVALS: u128 = 1 << 16;

/// One key's classification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyClasses {
    /// Key width in bits.
    pub width: u32,
    /// Disjoint intervals covering the whole value space, in order, with the
    /// class of each.
    pub segments: Vec<(u128, u128, u32)>,
    /// Each class's bitmap over the table's entries (priority order), as
    /// 64-bit words.
    pub bitmaps: Vec<Vec<u64>>,
}

/// A table's entries in priority order (highest first): the bit order of
/// every bitmap.
pub fn by_priority(table: &Table) -> Vec<usize> {
    let mut order: Vec<usize> = (0..table.entries.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(table.entries[i].priority));
    order
}

/// Words in a bitmap over `n` entries (at least one).
pub fn words(n: usize) -> usize {
    n.div_ceil(64).max(1)
}

/// Classifies key `k` of `table`. `Err` names a match that cannot be
/// enumerated.
pub fn classify_key(table: &Table, k: usize, order: &[usize]) -> Result<KeyClasses, String> {
    let width = table.keys[k].source.width();
    let max = if width >= 128 {
        u128::MAX
    } else {
        (1u128 << width) - 1
    };
    let w = words(order.len());
    // Sweep events: at `at`, entry bit `bit` starts (true) or stops holding.
    let mut events: Vec<(u128, bool, usize)> = Vec::new();
    for (bit, &e) in order.iter().enumerate() {
        let m = table.entries[e]
            .matches
            .get(k)
            .copied()
            .unwrap_or(Match::Any);
        for (lo, hi) in intervals(m, width, max)? {
            events.push((lo, true, bit));
            if hi < max {
                events.push((hi + 1, false, bit));
            }
        }
    }
    events.sort_unstable();
    let mut cuts: Vec<u128> = events.iter().map(|e| e.0).collect();
    cuts.push(0);
    cuts.sort_unstable();
    cuts.dedup();
    let mut current = vec![0u64; w];
    let mut classes: std::collections::BTreeMap<Vec<u64>, u32> = Default::default();
    let mut bitmaps = Vec::new();
    let mut segments = Vec::with_capacity(cuts.len());
    let mut ev = events.iter().peekable();
    for (i, &lo) in cuts.iter().enumerate() {
        while let Some(&&(at, start, bit)) = ev.peek() {
            if at != lo {
                break;
            }
            if start {
                current[bit / 64] |= 1 << (bit % 64);
            } else {
                current[bit / 64] &= !(1 << (bit % 64));
            }
            ev.next();
        }
        let hi = cuts.get(i + 1).map_or(max, |next| next - 1);
        let class = *classes.entry(current.clone()).or_insert_with(|| {
            bitmaps.push(current.clone());
            bitmaps.len() as u32 - 1
        });
        segments.push((lo, hi, class));
    }
    Ok(KeyClasses {
        width,
        segments,
        bitmaps,
    })
}

/// A set lookup's membership by value: segments of class 1 are members.
pub fn membership(table: &Table) -> Result<KeyClasses, String> {
    let all: Vec<usize> = (0..table.entries.len()).collect();
    let mut k = classify_key(table, 0, &all)?;
    let hit: Vec<u32> = k
        .bitmaps
        .iter()
        .map(|b| u32::from(b.iter().any(|w| *w != 0)))
        .collect();
    for s in &mut k.segments {
        s.2 = hit[s.2 as usize];
    }
    k.bitmaps = vec![vec![0], vec![1]];
    Ok(k)
}

/// The inclusive intervals a match accepts, within `[0, max]`.
fn intervals(m: Match, width: u32, max: u128) -> Result<Vec<(u128, u128)>, String> {
    Ok(match m {
        Match::Any => vec![(0, max)],
        Match::Exact(v) => vec![(v & max, v & max)],
        Match::Range { lo, hi } => {
            if lo > hi {
                Vec::new()
            } else {
                vec![(lo, hi.min(max))]
            }
        }
        Match::Lpm { value, len } => {
            let mask = dpuc_ir::prefix_mask(width, len);
            vec![(value & mask, (value & mask) | (max & !mask))]
        }
        Match::Ternary { value, mask } => ternary(value & max, mask & max, max)?,
    })
}

/// `x & mask == value` as intervals: the bits below the lowest bit of the
/// mask are free and contiguous; the other free bits are enumerated.
fn ternary(value: u128, mask: u128, max: u128) -> Result<Vec<(u128, u128)>, String> {
    if value & !mask != 0 {
        return Ok(Vec::new());
    }
    if mask == 0 {
        return Ok(vec![(0, max)]);
    }
    let low = mask.trailing_zeros();
    let block = if low == 0 { 0 } else { (1u128 << low) - 1 };
    let free: Vec<u32> = (low..128)
        .filter(|b| max >> b & 1 == 1 && mask >> b & 1 == 0)
        .collect();
    if free.len() >= 128 || 1u128 << free.len() > MAX_TERNARY_INTERVALS {
        return Err(format!(
            "a ternary match with mask {mask:#x} spans more than {MAX_TERNARY_INTERVALS} intervals"
        ));
    }
    let mut out = Vec::with_capacity(1 << free.len());
    for combo in 0u128..(1u128 << free.len()) {
        let mut v = value;
        for (i, b) in free.iter().enumerate() {
            if combo >> i & 1 == 1 {
                v |= 1 << b;
            }
        }
        out.push((v, v | block));
    }
    out.sort_unstable();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dpuc_ir::{Entry, Field, FieldRef, Key, KeySource, MatchKind, TableKind};

    fn table(width_field: Field, matches: Vec<Match>) -> Table {
        Table {
            name: "t".into(),
            kind: TableKind::Rules { policy: 0 },
            keys: vec![Key {
                source: KeySource::Field(FieldRef::outer(width_field)),
                kind: MatchKind::Ternary,
            }],
            entries: matches
                .into_iter()
                .enumerate()
                .map(|(i, m)| Entry {
                    priority: 100 - i as u32,
                    matches: vec![m],
                    rule: Some(i as u32),
                })
                .collect(),
            size: 16,
        }
    }

    /// The class bitmap of value `v`.
    fn bits(k: &KeyClasses, v: u128) -> u64 {
        let s = k
            .segments
            .iter()
            .find(|s| s.0 <= v && v <= s.1)
            .expect("covered");
        k.bitmaps[s.2 as usize][0]
    }

    #[test]
    fn segments_cover_the_space_and_agree_with_match() {
        let ms = vec![
            Match::Range { lo: 10, hi: 20 },
            Match::Ternary {
                value: 0x02,
                mask: 0x12,
            },
            Match::Exact(15),
            Match::Any,
        ];
        let t = table(Field::TcpFlags, ms.clone());
        let order = by_priority(&t);
        let k = classify_key(&t, 0, &order).expect("classified");
        assert_eq!(k.segments.first().map(|s| s.0), Some(0));
        assert_eq!(k.segments.last().map(|s| s.1), Some(255));
        for v in 0u128..256 {
            let want = ms
                .iter()
                .enumerate()
                .filter(|(_, m)| m.matches(v, 8))
                .fold(0u64, |a, (i, _)| a | 1 << i);
            assert_eq!(bits(&k, v), want, "value {v}");
        }
    }

    #[test]
    fn lpm_keys_and_membership() {
        let t = table(
            Field::Ip4Src,
            vec![
                Match::Lpm {
                    value: 0x0a00_0000,
                    len: 8,
                },
                Match::Lpm {
                    value: 0x0a01_0000,
                    len: 16,
                },
            ],
        );
        let m = membership(&t).expect("classified");
        let class = |v: u128| {
            m.segments
                .iter()
                .find(|s| s.0 <= v && v <= s.1)
                .map(|s| s.2)
        };
        assert_eq!(class(0x0a01_0203), Some(1));
        assert_eq!(class(0x0aff_0000), Some(1));
        assert_eq!(class(0x0b00_0000), Some(0));
    }

    #[test]
    fn wide_ternaries_are_refused_not_enumerated() {
        let t = table(Field::Ip6Src, vec![Match::Ternary { value: 1, mask: 1 }]);
        assert!(classify_key(&t, 0, &by_priority(&t)).is_err());
    }
}
