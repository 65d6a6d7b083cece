//! Predicates as disjunctions of per-key constraints, and their expansion
//! into table matches.
//!
//! A [`Dnf`] is an OR of conjunctions; a conjunction maps each key it
//! constrains to the set of values allowed, kept as sorted disjoint
//! intervals ([`Values`]). `and`, `or` and `not` are exact on that form, so
//! `!=`, `not in` and header presence (a test on a field also requires its
//! presence bit) lower soundly whatever value an absent field reads as.

use dpuc_ir::prefix::prefix_of;
use dpuc_ir::{KeySource, Match};
use std::collections::BTreeMap;

/// Sorted, disjoint, non-adjacent inclusive intervals within `[0, max]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Values {
    ivs: Vec<(u128, u128)>,
    max: u128,
}

impl Values {
    /// No value.
    pub fn empty(max: u128) -> Self {
        Values {
            ivs: Vec::new(),
            max,
        }
    }

    /// Every value of the key.
    pub fn full(max: u128) -> Self {
        Values {
            ivs: vec![(0, max)],
            max,
        }
    }

    /// The union of `intervals` (any order, clamped to `max`).
    pub fn from_intervals(max: u128, intervals: impl IntoIterator<Item = (u128, u128)>) -> Self {
        let mut ivs: Vec<(u128, u128)> = intervals
            .into_iter()
            .filter(|&(lo, hi)| lo <= hi && lo <= max)
            .map(|(lo, hi)| (lo, hi.min(max)))
            .collect();
        ivs.sort_unstable();
        let mut merged: Vec<(u128, u128)> = Vec::with_capacity(ivs.len());
        for (lo, hi) in ivs {
            match merged.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        Values { ivs: merged, max }
    }

    /// One value.
    pub fn single(max: u128, v: u128) -> Self {
        Self::from_intervals(max, [(v, v)])
    }

    /// The intervals.
    pub fn intervals(&self) -> &[(u128, u128)] {
        &self.ivs
    }

    /// Whether no value is allowed.
    pub fn is_empty(&self) -> bool {
        self.ivs.is_empty()
    }

    /// Whether every value is allowed.
    pub fn is_full(&self) -> bool {
        self.ivs == [(0, self.max)]
    }

    /// Values in both.
    pub fn intersect(&self, other: &Values) -> Values {
        let (mut i, mut j) = (0, 0);
        let mut out = Vec::new();
        while i < self.ivs.len() && j < other.ivs.len() {
            let (a, b) = (self.ivs[i], other.ivs[j]);
            let lo = a.0.max(b.0);
            let hi = a.1.min(b.1);
            if lo <= hi {
                out.push((lo, hi));
            }
            if a.1 < b.1 {
                i += 1;
            } else {
                j += 1;
            }
        }
        Values {
            ivs: out,
            max: self.max,
        }
    }

    /// Values not in `self`.
    pub fn complement(&self) -> Values {
        let mut out = Vec::new();
        let mut next = Some(0u128);
        for &(lo, hi) in &self.ivs {
            if let Some(n) = next {
                if lo > n {
                    out.push((n, lo - 1));
                }
            }
            next = hi.checked_add(1);
        }
        if let Some(n) = next {
            if n <= self.max {
                out.push((n, self.max));
            }
        }
        Values {
            ivs: out,
            max: self.max,
        }
    }

    /// The values as table matches: ternary cubes for narrow keys (at most
    /// 8 bits, where masks like TCP flags live), else one prefix or range per
    /// interval.
    pub fn to_matches(&self, width: u32) -> Vec<Match> {
        if self.is_full() {
            return vec![Match::Any];
        }
        if width <= 8 {
            return ternary_cover(self, width);
        }
        self.ivs
            .iter()
            .map(|&(lo, hi)| match prefix_of(lo, hi, width) {
                _ if lo == hi => Match::Exact(lo),
                Some(len) => Match::Lpm { value: lo, len },
                None => Match::Range { lo, hi },
            })
            .collect()
    }
}

/// A greedy cover of a small value set by ternary cubes: repeatedly take the
/// cube inside the set that covers the most values not yet covered.
fn ternary_cover(v: &Values, width: u32) -> Vec<Match> {
    let n = 1usize << width;
    let mut member = vec![false; n];
    for &(lo, hi) in v.intervals() {
        for x in lo..=hi.min(n as u128 - 1) {
            member[x as usize] = true;
        }
    }
    let full_mask = (n - 1) as u128;
    // Every cube (value, mask) lying wholly inside the set.
    let mut cubes: Vec<(u128, u128, Vec<usize>)> = Vec::new();
    for mask in 0..n as u128 {
        let free = full_mask & !mask;
        // Values are the submasks of `mask`; a cube's points are `value`
        // ORed with each submask of the free bits.
        let mut value = mask;
        loop {
            let mut pts = Vec::new();
            let mut s = free;
            loop {
                pts.push((value | s) as usize);
                if s == 0 {
                    break;
                }
                s = (s - 1) & free;
            }
            if pts.iter().all(|&x| member[x]) {
                cubes.push((value, mask, pts));
            }
            if value == 0 {
                break;
            }
            value = (value - 1) & mask;
        }
    }
    let mut covered = vec![false; n];
    let mut out = Vec::new();
    while let Some(best) = cubes
        .iter()
        .filter(|c| c.2.iter().any(|&x| !covered[x]))
        .max_by_key(|c| (c.2.iter().filter(|&&x| !covered[x]).count(), c.2.len()))
    {
        for &x in &best.2 {
            covered[x] = true;
        }
        out.push(if best.1 == full_mask {
            Match::Exact(best.0)
        } else {
            Match::Ternary {
                value: best.0,
                mask: best.1,
            }
        });
    }
    out
}

/// A conjunction: each constrained key and its allowed values.
pub type Conj = BTreeMap<KeySource, Values>;

/// A disjunction of conjunctions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dnf(pub Vec<Conj>);

/// The predicate grew past what a table can reasonably hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooComplex;

/// The most conjunctions a rule may lower to.
pub const MAX_CONJUNCTIONS: usize = 4096;

impl Dnf {
    /// Always true.
    pub fn truth() -> Self {
        Dnf(vec![Conj::new()])
    }

    /// Always false.
    pub fn falsity() -> Self {
        Dnf(Vec::new())
    }

    /// `key ∈ values`.
    pub fn atom(key: KeySource, values: Values) -> Self {
        if values.is_empty() {
            return Self::falsity();
        }
        let mut c = Conj::new();
        if !values.is_full() {
            c.insert(key, values);
        }
        Dnf(vec![c])
    }

    /// Both.
    pub fn and(self, other: Dnf) -> Result<Dnf, TooComplex> {
        let mut out = Vec::new();
        for a in &self.0 {
            for b in &other.0 {
                if let Some(c) = and_conj(a, b) {
                    out.push(c);
                    if out.len() > MAX_CONJUNCTIONS {
                        return Err(TooComplex);
                    }
                }
            }
        }
        Ok(Dnf(out))
    }

    /// Either.
    pub fn or(mut self, other: Dnf) -> Result<Dnf, TooComplex> {
        self.0.extend(other.0);
        if self.0.len() > MAX_CONJUNCTIONS {
            return Err(TooComplex);
        }
        Ok(self)
    }

    /// Neither: `¬(C1 ∨ C2) = ¬C1 ∧ ¬C2`, and `¬C` is the OR over C's keys of
    /// the complement of that key's values.
    pub fn negate(self) -> Result<Dnf, TooComplex> {
        let mut acc = Dnf::truth();
        for c in self.0 {
            let negated = Dnf(c
                .into_iter()
                .map(|(k, v)| {
                    let mut n = Conj::new();
                    n.insert(k, v.complement());
                    n
                })
                .filter(|n| n.values().all(|v| !v.is_empty()))
                .collect());
            acc = acc.and(negated)?;
        }
        Ok(acc)
    }
}

fn and_conj(a: &Conj, b: &Conj) -> Option<Conj> {
    let mut out = a.clone();
    for (k, v) in b {
        let merged = match out.get(k) {
            Some(existing) => existing.intersect(v),
            None => v.clone(),
        };
        if merged.is_empty() {
            return None;
        }
        out.insert(*k, merged);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dpuc_ir::{Field, FieldRef};

    fn key(f: Field) -> KeySource {
        KeySource::Field(FieldRef::outer(f))
    }

    fn eval(d: &Dnf, env: &BTreeMap<KeySource, u128>) -> bool {
        d.0.iter().any(|c| {
            c.iter().all(|(k, v)| {
                let x = env.get(k).copied().unwrap_or(0);
                v.intervals().iter().any(|&(lo, hi)| lo <= x && x <= hi)
            })
        })
    }

    #[test]
    fn complement_and_intersection_are_exact() {
        let v = Values::from_intervals(65535, [(22, 22), (80, 90), (91, 100)]);
        assert_eq!(v.intervals(), &[(22, 22), (80, 100)]);
        assert_eq!(
            v.complement().intervals(),
            &[(0, 21), (23, 79), (101, 65535)]
        );
        assert_eq!(v.complement().complement(), v);
        assert!(Values::full(255).complement().is_empty());
        let w = Values::from_intervals(65535, [(0, 85)]);
        assert_eq!(v.intersect(&w).intervals(), &[(22, 22), (80, 85)]);
        let full128 = Values::full(u128::MAX);
        assert!(full128.complement().is_empty());
        assert_eq!(full128.complement().complement(), full128);
    }

    #[test]
    fn negating_a_field_test_keeps_header_presence_semantics() {
        // tcp.dport == 22  ==  valid(tcp) ∧ dport ∈ {22}
        let valid = key(Field::Valid(dpuc_ir::Header::Tcp));
        let dport = key(Field::TcpDport);
        let test = Dnf::atom(valid, Values::single(1, 1))
            .and(Dnf::atom(dport, Values::single(65535, 22)))
            .unwrap_or_else(|_| Dnf::falsity());
        let not_test = test.clone().negate().unwrap_or_else(|_| Dnf::falsity());
        for (is_tcp, port) in [(1u128, 22u128), (1, 23), (0, 0), (0, 22)] {
            let env = BTreeMap::from([(valid, is_tcp), (dport, port)]);
            assert_eq!(eval(&test, &env), is_tcp == 1 && port == 22);
            assert_eq!(eval(&not_test, &env), !(is_tcp == 1 && port == 22));
        }
    }

    #[test]
    fn tcp_flags_exactly_syn_is_one_ternary_cube() {
        // Exactly SYN among SYN/ACK/FIN/RST: value & 0x17 == 0x02.
        let vals = Values::from_intervals(
            255,
            (0..=255u128).filter(|v| v & 0x17 == 0x02).map(|v| (v, v)),
        );
        assert_eq!(
            vals.to_matches(8),
            vec![Match::Ternary {
                value: 0x02,
                mask: 0x17
            }]
        );
        let not_syn = vals.complement().to_matches(8);
        assert_eq!(not_syn.len(), 4);
    }
}
