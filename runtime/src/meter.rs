//! Meters of §6: one token bucket, RFC 2697 (srTCM) and RFC 2698 (trTCM),
//! colour-blind, with exact integer arithmetic on a nanosecond clock.
//!
//! Tokens are kept multiplied by 10^9, so refilling `rate × elapsed_ns`
//! needs no division and loses nothing to rounding: a meter that sees a
//! packet every nanosecond refills exactly as one that sees one a day.
//! Byte meters count bits (rates are bits per second; a packet costs
//! `8 × frame length`, a burst of `B` bytes holds `8 × B`); packet meters
//! count packets. Buckets start full.

use dpuc_ir::test::Color;
use dpuc_ir::{MeterKind, MeterUnit};
use std::collections::{BTreeMap, HashMap};

const SCALE: u128 = 1_000_000_000;

/// One bucket: capacity and fill, both scaled by 10^9.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Bucket {
    cap: u128,
    fill: u128,
}

impl Bucket {
    fn full(size: u64, unit: MeterUnit) -> Self {
        let cap = u128::from(size) * per_unit(unit) * SCALE;
        Bucket { cap, fill: cap }
    }

    /// Adds `amount` and returns what did not fit.
    fn add(&mut self, amount: u128) -> u128 {
        let room = self.cap - self.fill;
        let taken = amount.min(room);
        self.fill += taken;
        amount - taken
    }
}

/// Tokens per unit of size: bits per byte for byte meters.
fn per_unit(unit: MeterUnit) -> u128 {
    match unit {
        MeterUnit::Packets => 1,
        MeterUnit::Bytes => 8,
    }
}

/// The state of one meter (or of one key of a per-key meter).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MeterState {
    kind: MeterKind,
    unit: MeterUnit,
    /// Committed (or the only) bucket.
    c: Bucket,
    /// Excess (srTCM) or peak (trTCM) bucket.
    e: Bucket,
    last_ns: u64,
}

impl MeterState {
    /// A meter with full buckets at time `now_ns`.
    pub fn new(kind: MeterKind, unit: MeterUnit, now_ns: u64) -> Self {
        let (c, e) = match kind {
            MeterKind::TokenBucket { burst, .. } => {
                (Bucket::full(burst, unit), Bucket::full(0, unit))
            }
            MeterKind::SrTcm { cbs, ebs, .. } => (Bucket::full(cbs, unit), Bucket::full(ebs, unit)),
            MeterKind::TrTcm { cbs, pbs, .. } => (Bucket::full(cbs, unit), Bucket::full(pbs, unit)),
        };
        MeterState {
            kind,
            unit,
            c,
            e,
            last_ns: now_ns,
        }
    }

    /// Colours a packet of `len` bytes seen at `now_ns` and takes its tokens.
    pub fn color(&mut self, now_ns: u64, len: u64) -> Color {
        // A clock that steps back adds nothing rather than underflowing.
        let elapsed = u128::from(now_ns.saturating_sub(self.last_ns));
        self.last_ns = self.last_ns.max(now_ns);
        let cost = match self.unit {
            MeterUnit::Packets => SCALE,
            MeterUnit::Bytes => u128::from(len) * 8 * SCALE,
        };
        match self.kind {
            MeterKind::TokenBucket { rate, .. } => {
                self.c.add(u128::from(rate) * elapsed);
                if self.c.fill >= cost {
                    self.c.fill -= cost;
                    Color::Green
                } else {
                    Color::Red
                }
            }
            MeterKind::SrTcm { cir, .. } => {
                // RFC 2697: tokens go to Tc until it is full, then to Te.
                let spill = self.c.add(u128::from(cir) * elapsed);
                self.e.add(spill);
                if self.c.fill >= cost {
                    self.c.fill -= cost;
                    Color::Green
                } else if self.e.fill >= cost {
                    self.e.fill -= cost;
                    Color::Yellow
                } else {
                    Color::Red
                }
            }
            MeterKind::TrTcm { cir, pir, .. } => {
                // RFC 2698: Tc fills at CIR and Tp at PIR, independently.
                self.c.add(u128::from(cir) * elapsed);
                self.e.add(u128::from(pir) * elapsed);
                if self.e.fill < cost {
                    Color::Red
                } else if self.c.fill < cost {
                    self.e.fill -= cost;
                    Color::Yellow
                } else {
                    self.e.fill -= cost;
                    self.c.fill -= cost;
                    Color::Green
                }
            }
        }
    }
}

/// A per-key meter: one [`MeterState`] per key, at most `max` keys, the
/// least recently used evicted (an evicted key starts again full).
#[derive(Clone, Debug)]
pub struct KeyedMeter {
    kind: MeterKind,
    unit: MeterUnit,
    max: usize,
    states: HashMap<Vec<u128>, (MeterState, u64)>,
    /// Last use -> key, for eviction in O(log n).
    by_use: BTreeMap<u64, Vec<u128>>,
    tick: u64,
}

impl KeyedMeter {
    /// An empty per-key meter.
    pub fn new(kind: MeterKind, unit: MeterUnit, max: u32) -> Self {
        KeyedMeter {
            kind,
            unit,
            max: (max as usize).max(1),
            states: HashMap::new(),
            by_use: BTreeMap::new(),
            tick: 0,
        }
    }

    /// Colours a packet of `len` bytes with key `key` at `now_ns`.
    pub fn color(&mut self, key: &[u128], now_ns: u64, len: u64) -> Color {
        self.tick += 1;
        let tick = self.tick;
        if let Some((state, used)) = self.states.get_mut(key) {
            self.by_use.remove(used);
            *used = tick;
            self.by_use.insert(tick, key.to_vec());
            return state.color(now_ns, len);
        }
        if self.states.len() >= self.max {
            if let Some((_, oldest)) = self.by_use.pop_first() {
                self.states.remove(&oldest);
            }
        }
        let mut state = MeterState::new(self.kind, self.unit, now_ns);
        let c = state.color(now_ns, len);
        self.states.insert(key.to_vec(), (state, tick));
        self.by_use.insert(tick, key.to_vec());
        c
    }

    /// How many keys have a bucket.
    pub fn len(&self) -> usize {
        self.states.len()
    }

    /// Whether no key has a bucket.
    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Color::*;

    const S: u64 = 1_000_000_000;

    fn colors(m: &mut MeterState, at: &[(u64, u64)]) -> Vec<Color> {
        at.iter().map(|&(t, len)| m.color(t, len)).collect()
    }

    #[test]
    fn token_bucket_in_packets_drains_then_refills_exactly() {
        // 10 pps, burst 3: three greens, then red until 100 ms have passed.
        let mut m = MeterState::new(
            MeterKind::TokenBucket { rate: 10, burst: 3 },
            MeterUnit::Packets,
            0,
        );
        assert_eq!(
            colors(&mut m, &[(0, 64), (0, 64), (0, 64), (0, 64)]),
            [Green, Green, Green, Red]
        );
        assert_eq!(m.color(S / 10 - 1, 64), Red);
        assert_eq!(m.color(S / 10, 64), Green);
    }

    #[test]
    fn refill_is_exact_to_the_nanosecond() {
        // 3 pps: one token takes 333,333,333.3 ns.
        let mut m = MeterState::new(
            MeterKind::TokenBucket { rate: 3, burst: 1 },
            MeterUnit::Packets,
            0,
        );
        assert_eq!(m.color(0, 64), Green);
        assert_eq!(m.color(333_333_333, 64), Red);
        assert_eq!(m.color(333_333_334, 64), Green);
        // 1 packet per ns: steps of one nanosecond each earn exactly one.
        let mut fast = MeterState::new(
            MeterKind::TokenBucket { rate: S, burst: 1 },
            MeterUnit::Packets,
            0,
        );
        assert_eq!(
            colors(&mut fast, &[(0, 1), (0, 1), (1, 1), (1, 1), (2, 1)]),
            [Green, Red, Green, Red, Green]
        );
    }

    #[test]
    fn srtcm_follows_rfc_2697() {
        // CIR 8000 bps = 1000 bytes/s, CBS 100 B, EBS 100 B; 100-byte packets.
        let mut m = MeterState::new(
            MeterKind::SrTcm {
                cir: 8000,
                cbs: 100,
                ebs: 100,
            },
            MeterUnit::Bytes,
            0,
        );
        assert_eq!(
            colors(&mut m, &[(0, 100), (0, 100), (0, 100)]),
            [Green, Yellow, Red]
        );
        // 100 ms refill 100 bytes: Tc first.
        assert_eq!(m.color(S / 10, 100), Green);
        // 300 ms refill 300 bytes: Tc to 100, 100 spills to Te, 100 lost.
        assert_eq!(
            colors(
                &mut m,
                &[(4 * S / 10, 100), (4 * S / 10, 100), (4 * S / 10, 100)]
            ),
            [Green, Yellow, Red]
        );
    }

    #[test]
    fn trtcm_follows_rfc_2698() {
        // CIR 1 pps CBS 1, PIR 2 pps PBS 2.
        let mut m = MeterState::new(
            MeterKind::TrTcm {
                cir: 1,
                cbs: 1,
                pir: 2,
                pbs: 2,
            },
            MeterUnit::Packets,
            0,
        );
        assert_eq!(
            colors(&mut m, &[(0, 1), (0, 1), (0, 1)]),
            [Green, Yellow, Red]
        );
        // After 500 ms: Tp +1, Tc +0.5 -> yellow.
        assert_eq!(m.color(S / 2, 1), Yellow);
        // After 1 s more: Tp full again (2), Tc 1.5 -> capped at 1: green then yellow.
        assert_eq!(
            colors(&mut m, &[(3 * S / 2, 1), (3 * S / 2, 1)]),
            [Green, Yellow]
        );
    }

    #[test]
    fn huge_rates_and_long_idle_do_not_overflow() {
        let mut m = MeterState::new(
            MeterKind::TrTcm {
                cir: 100_000_000_000,
                cbs: 1 << 30,
                pir: 400_000_000_000,
                pbs: 1 << 31,
            },
            MeterUnit::Bytes,
            0,
        );
        assert_eq!(m.color(u64::MAX, 9000), Green);
        assert_eq!(
            m.color(0, 9000),
            Green,
            "a clock stepping back adds nothing"
        );
    }

    #[test]
    fn per_key_buckets_are_independent_and_lru_evicted() {
        let mut k = KeyedMeter::new(
            MeterKind::TokenBucket { rate: 1, burst: 1 },
            MeterUnit::Packets,
            2,
        );
        assert_eq!(k.color(&[1], 0, 64), Green);
        assert_eq!(k.color(&[1], 0, 64), Red);
        assert_eq!(k.color(&[2], 0, 64), Green);
        // A third key evicts key 1 (least recently used), which starts full again.
        assert_eq!(k.color(&[3], 0, 64), Green);
        assert_eq!(k.len(), 2);
        assert_eq!(k.color(&[1], 0, 64), Green);
        assert_eq!(
            k.color(&[3], 0, 64),
            Red,
            "key 3 was kept (more recent than 2)"
        );
    }
}
