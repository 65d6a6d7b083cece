//! Per-key meters (§6 `per KEY max N`) with the software meters'
//! semantics (`dpuc_runtime::meter::KeyedMeter`) exactly: one bucket pair
//! per key value, at most `max` keys, the least recently used evicted when
//! a new key needs room, a new (or evicted and returning) key starting full.
//!
//! Each keyed meter has its own `BPF_MAP_TYPE_HASH` ([`map_name`],
//! `BPF_F_NO_PREALLOC`, `max_entries` = `max(max, 1)` as the software meter
//! bounds it): the key is, per `per` field, the field's presence bit (1 for
//! fields that are always present) and its value; the value is the shared
//! meters' bucket pair under a `bpf_spin_lock`, plus the meter's use tick
//! at the key's last use. Ticks come from a per-meter counter
//! ([`TICK_MAP`]) taken at each use, as the software meter's `tick`, so
//! they are unique and the least tick is its `by_use` first entry.
//!
//! A key without a bucket is inserted with `BPF_NOEXIST`; the kernel
//! refuses (`E2BIG`) exactly when `max` keys have buckets, which is the
//! software meter's `len >= max`. Then [`lru_callback`] walks the map with
//! `bpf_for_each_map_elem` for the least tick, that key is deleted, and the
//! insertion is retried. The colouring itself is the unkeyed meters' code.

use super::gen::{Gen, Value};
use super::layout::{self, LayoutField};
use crate::insn::{helper, AluOp, Insn, JmpCond, Label, Program, Reg, Size};
use dpuc_ir::{FieldRef, MeterId};

/// The per-meter use counters (one `u64` per meter, by meter id).
pub const TICK_MAP: &str = "dpuc_mk_tick";
/// The bucket map's value: the unkeyed meter's 32 bytes, then the tick.
pub const VALUE: u32 = layout::METER_VALUE + 8;
/// Offset of the tick in the value.
const TICK: i16 = layout::METER_VALUE as i16;

/// The bucket map of meter `m`.
pub fn map_name(m: MeterId) -> String {
    format!("dpuc_mk{m}")
}

/// The LRU callback of meter `m`.
pub fn callback_name(m: MeterId) -> String {
    format!("dpuc_mk{m}_lru")
}

/// The `bpf_for_each_map_elem` context on the stack, from its start.
mod ctx {
    pub const HAVE: i16 = 0;
    pub const TICK: i16 = 8;
    pub const KEY: i16 = 16;
}

/// One keyed meter, as the code needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keyed {
    /// The meter.
    pub meter: MeterId,
    /// Its name in the policy.
    pub name: String,
    /// The `per` fields and their bytes in the key (after an 8-byte presence).
    pub per: Vec<(FieldRef, u32)>,
    /// The bound on keys (at least 1).
    pub max: u32,
}

impl Keyed {
    /// The keyed meters of `p`.
    pub fn of(p: &dpuc_ir::Program) -> Vec<Keyed> {
        p.meters
            .iter()
            .enumerate()
            .filter(|(_, m)| !m.per.is_empty())
            .map(|(i, m)| Keyed {
                meter: i as MeterId,
                name: m.name.clone(),
                per: m
                    .per
                    .iter()
                    .map(|f| (*f, if f.field.width() > 64 { 16 } else { 8 }))
                    .collect(),
                max: m.max_keys.max(1),
            })
            .collect()
    }

    /// Key bytes.
    pub fn key_size(&self) -> u32 {
        self.per.iter().map(|(_, b)| 8 + b).sum()
    }

    /// The key's fields, for the layout and the map's BTF.
    pub fn key_fields(&self) -> Vec<LayoutField> {
        let mut out = Vec::new();
        let mut at = 0i16;
        for (i, (f, bytes)) in self.per.iter().enumerate() {
            let name: String = f
                .to_string()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            out.push(LayoutField::new(&format!("present{i}"), at, 8));
            out.push(LayoutField::new(&format!("key{i}_{name}"), at + 8, *bytes));
            at += 8 + *bytes as i16;
        }
        out
    }

    /// The value's fields, for the layout and the map's BTF.
    pub fn value_fields() -> Vec<LayoutField> {
        vec![
            LayoutField::new("lock", 0, 4),
            LayoutField::new("ready", 4, 4),
            LayoutField::new("committed", 8, 8),
            LayoutField::new("excess", 16, 8),
            LayoutField::new("last_ns", 24, 8),
            LayoutField::new("tick", TICK, 8),
        ]
    }

    /// Bytes of stack the LRU walk's context takes.
    pub fn stack_bytes(&self) -> i16 {
        ctx::KEY + self.key_size() as i16
    }

    /// The layout's description of this meter's map.
    pub fn layout_doc(&self) -> layout::KeyedMeterLayout {
        layout::KeyedMeterLayout {
            meter: self.name.clone(),
            map: map_name(self.meter),
            max_keys: self.max,
            key: self.key_fields(),
            value: Self::value_fields(),
        }
    }
}

/// The slots every keyed meter's key reads: its fields and their presence.
pub fn used_values(p: &dpuc_ir::Program) -> Vec<Value> {
    let mut out = Vec::new();
    for k in Keyed::of(p) {
        for (f, _) in &k.per {
            out.push(Value::Field(*f));
            out.extend(f.presence().map(Value::Field));
        }
    }
    out
}

/// Scratch the keyed meters need: the key being built, a staged value and
/// the tick taken.
pub fn scratch_bytes(keyed: &[Keyed]) -> u32 {
    match keyed.iter().map(Keyed::key_size).max() {
        Some(k) => 8 + k + VALUE,
        None => 0,
    }
}

/// Where the keyed meters' per-packet state lives (scratch offsets from
/// `r6`) and the stack offset of the LRU walk's context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyedSlots {
    base: i16,
    key_max: i16,
    ctx: i16,
    meters: Vec<Keyed>,
}

impl KeyedSlots {
    /// Slots from scratch offset `base`, the context at stack offset `ctx`.
    pub fn new(meters: Vec<Keyed>, base: i16, ctx: i16) -> KeyedSlots {
        let key_max = meters.iter().map(Keyed::key_size).max().unwrap_or(0) as i16;
        KeyedSlots {
            base,
            key_max,
            ctx,
            meters,
        }
    }

    fn tick(&self) -> i16 {
        self.base
    }
    fn key(&self) -> i16 {
        self.base + 8
    }
    fn val(&self) -> i16 {
        self.key() + self.key_max
    }

    /// The keyed meter `m`, if it is one.
    pub fn meter(&self, m: MeterId) -> Option<&Keyed> {
        self.meters.iter().find(|k| k.meter == m)
    }
}

/// `r0` = meter `k`'s bucket for this packet's key (inserted full when
/// the key has none, evicting the least recently used key when `max` keys
/// have buckets), or a jump to `missing` if no bucket could be had.
/// Clobbers `r1`–`r5`; `r6`–`r9` survive.
pub fn bucket(g: &mut Gen, s: &KeyedSlots, k: &Keyed, missing: Label) {
    let map = map_name(k.meter);
    // The key: per field, presence then value.
    let mut at = s.key();
    for (f, bytes) in &k.per {
        match f.presence().and_then(|p| g.slot(Value::Field(p))) {
            Some(p) => {
                g.ld(Size::DW, Reg::R1, Reg::R6, p);
                g.st(Size::DW, Reg::R6, at, Reg::R1);
            }
            None => g.st(Size::DW, Reg::R6, at, 1),
        }
        let v = g.slot(Value::Field(*f));
        for half in (0..*bytes as i16).step_by(8) {
            match v {
                Some(v) => {
                    g.ld(Size::DW, Reg::R1, Reg::R6, v + half);
                    g.st(Size::DW, Reg::R6, at + 8 + half, Reg::R1);
                }
                None => g.st(Size::DW, Reg::R6, at + 8 + half, 0),
            }
        }
        at += 8 + *bytes as i16;
    }
    // The tick of this use.
    let (ticked, found) = (g.label(), g.label());
    g.st(Size::DW, Reg::R6, s.tick(), 0);
    g.mov(Reg::R1, k.meter as i32);
    g.lookup_index(TICK_MAP, Reg::R1);
    g.take_next(s.tick(), ticked);
    g.bind(ticked);
    let map_key = |g: &mut Gen| {
        g.asm.ld_map(Reg::R1, map.clone());
        g.mov(Reg::R2, Reg::R6);
        g.alu(AluOp::Add, Reg::R2, i32::from(s.key()));
    };
    map_key(g);
    g.call(helper::MAP_LOOKUP_ELEM);
    g.jif(JmpCond::Ne, Reg::R0, 0, found);
    // A new key: a bucket that the colouring initialises full.
    for off in (0..VALUE as i16).step_by(8) {
        g.st(Size::DW, Reg::R6, s.val() + off, 0);
    }
    let (inserted, evict) = (g.label(), g.label());
    let insert = |g: &mut Gen| {
        map_key(g);
        g.mov(Reg::R3, Reg::R6);
        g.alu(AluOp::Add, Reg::R3, i32::from(s.val()));
        g.mov(Reg::R4, 1);
        g.call(helper::MAP_UPDATE_ELEM);
    };
    insert(g);
    g.jif(JmpCond::Eq, Reg::R0, 0, inserted);
    // Another CPU made it meanwhile: use that one.
    g.jif(JmpCond::Eq, Reg::R0, -17, inserted);
    g.jif(JmpCond::Eq, Reg::R0, -7, evict);
    g.ja(missing);
    // `max` keys have buckets: the least recently used one goes.
    g.bind(evict);
    let c = s.ctx;
    for off in (ctx::HAVE..k.stack_bytes()).step_by(8) {
        g.st(Size::DW, Reg::R10, c + off, 0);
    }
    g.asm.ld_map(Reg::R1, map.clone());
    g.asm.ld_func(Reg::R2, callback_name(k.meter));
    g.mov(Reg::R3, Reg::R10);
    g.alu(AluOp::Add, Reg::R3, i32::from(c));
    g.mov(Reg::R4, 0);
    g.call(helper::FOR_EACH_MAP_ELEM);
    g.ld(Size::DW, Reg::R1, Reg::R10, c + ctx::HAVE);
    g.jif(JmpCond::Eq, Reg::R1, 0, missing);
    g.asm.ld_map(Reg::R1, map.clone());
    g.mov(Reg::R2, Reg::R10);
    g.alu(AluOp::Add, Reg::R2, i32::from(c + ctx::KEY));
    g.call(helper::MAP_DELETE_ELEM);
    insert(g);
    g.jif(JmpCond::Eq, Reg::R0, 0, inserted);
    g.jif(JmpCond::Ne, Reg::R0, -17, missing);
    g.bind(inserted);
    map_key(g);
    g.call(helper::MAP_LOOKUP_ELEM);
    g.jif(JmpCond::Eq, Reg::R0, 0, missing);
    g.bind(found);
}

/// Under the bucket's lock (value at `r9`): records this use's tick.
pub fn touch(g: &mut Gen, s: &KeyedSlots) {
    g.ld(Size::DW, Reg::R1, Reg::R6, s.tick());
    g.st(Size::DW, Reg::R9, TICK, Reg::R1);
}

/// The LRU walk of meter `k`: `bpf_for_each_map_elem` callback `(map,
/// key, value, ctx)` keeping in `ctx` the key with the least tick.
pub fn lru_callback(k: &Keyed) -> Program {
    let mut p = Program::new();
    let (take, keep) = (p.label(), p.label());
    p.push(Insn::load(Size::DW, Reg::R0, Reg::R3, TICK))
        .push(Insn::load(Size::DW, Reg::R5, Reg::R4, ctx::HAVE))
        .jump_if(JmpCond::Eq, Reg::R5, 0, take)
        .push(Insn::load(Size::DW, Reg::R5, Reg::R4, ctx::TICK))
        .jump_if(JmpCond::Ge, Reg::R0, Reg::R5, keep)
        .bind(take)
        .push(Insn::store(Size::DW, Reg::R4, ctx::HAVE, 1))
        .push(Insn::store(Size::DW, Reg::R4, ctx::TICK, Reg::R0));
    for off in (0..k.key_size() as i16).step_by(8) {
        p.push(Insn::load(Size::DW, Reg::R0, Reg::R2, off))
            .push(Insn::store(Size::DW, Reg::R4, ctx::KEY + off, Reg::R0));
    }
    p.bind(keep)
        .push(Insn::mov64(Reg::R0, 0))
        .push(Insn::exit());
    p
}
