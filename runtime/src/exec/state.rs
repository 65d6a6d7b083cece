//! The program's state between packets: connections, meter buckets and
//! counters.

use super::values::FieldValues;
use crate::conntrack::{Config, Direction, Lookup, Tracker};
use crate::meter::KeyedMeter;
use crate::packet::Layer;
use dpuc_ir::test::Color;
use dpuc_ir::{CtState, Field, FieldRef, OnFull, Program};

/// Packet and byte counts, one pair per counter.
#[derive(Clone, Debug, Default)]
pub struct Counters(Vec<(u64, u64)>);

impl Counters {
    /// `n` zeroed counters.
    pub fn new(n: usize) -> Self {
        Counters(vec![(0, 0); n])
    }

    /// Counts one packet of `bytes` bytes in counter `i`.
    pub fn add(&mut self, i: usize, bytes: u64) {
        if let Some(c) = self.0.get_mut(i) {
            c.0 += 1;
            c.1 += bytes;
        }
    }

    /// (packets, bytes) of counter `i`.
    pub fn get(&self, i: usize) -> (u64, u64) {
        self.0.get(i).copied().unwrap_or((0, 0))
    }
}

/// Connections and meter buckets.
pub struct State {
    tracker: Option<Tracker>,
    zone: Vec<FieldRef>,
    meters: Vec<KeyedMeter>,
}

impl State {
    /// Empty state for `p`: no connections, full buckets.
    pub fn new(p: &Program) -> Self {
        State {
            tracker: p.conntrack.as_ref().map(|c| {
                Tracker::new(Config {
                    max_entries: c.max_entries,
                    evict_oldest: c.on_full == OnFull::EvictOldest,
                    timeouts: c.timeouts,
                })
            }),
            zone: p
                .conntrack
                .as_ref()
                .map(|c| c.zone.clone())
                .unwrap_or_default(),
            // A meter without `per` is a per-key meter with one key.
            meters: p
                .meters
                .iter()
                .map(|m| KeyedMeter::new(m.kind, m.unit, m.max_keys))
                .collect(),
        }
    }

    /// Looks the packet up and writes `ct.*` into `values`.
    pub fn ct_lookup(
        &mut self,
        frame: &[u8],
        outer: &Layer,
        values: &mut FieldValues,
        now: u64,
    ) -> Option<Lookup> {
        let tracker = self.tracker.as_mut()?;
        let zone: Vec<u128> = self.zone.iter().map(|f| values.get(*f)).collect();
        let l = tracker.lookup(frame, outer, zone, now);
        values.set_outer(Field::CtState, l.state as u128);
        values.set_outer(
            Field::CtDirection,
            u128::from(l.direction == Direction::Reply),
        );
        values.set_outer(Field::CtMark, u128::from(l.mark));
        Some(l)
    }

    /// Commits an accepted packet's connection (or its new mark); false
    /// when the table is full.
    pub fn ct_commit(&mut self, l: Option<&Lookup>, values: &FieldValues, now: u64) -> bool {
        let (Some(tracker), Some(l)) = (self.tracker.as_mut(), l) else {
            return true;
        };
        if l.state == CtState::Invalid || l.state == CtState::Untracked {
            return true;
        }
        let mark = values.get(FieldRef::outer(Field::CtMark)) as u32;
        tracker.commit(l, mark, now).is_ok()
    }

    /// Colours a packet with meter `m`.
    pub fn meter(&mut self, m: u32, key: &[u128], now: u64, len: u64) -> Color {
        match self.meters.get_mut(m as usize) {
            Some(k) => k.color(key, now, len),
            None => Color::Green,
        }
    }

    /// Live connections.
    pub fn conntrack_count(&self, now: u64) -> u64 {
        self.tracker.as_ref().map_or(0, |t| t.count(now))
    }
}
