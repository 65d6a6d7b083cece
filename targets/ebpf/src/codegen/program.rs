//! The program body: prologue, pipeline dispatch, one block per IR node,
//! verdicts and the exit with rewrites and (test builds) the trace.

use super::actions::ActionClasses;
use super::gen::{slot, stack, Gen, Value};
use super::layout::{self, Classifier, Layout};
use super::{Hook, Options};
use crate::insn::{helper, AluOp, Insn, JmpCond, Label, Reg, Size};
use dpuc_ir::{
    End, Field, FieldRef, KeySource, MeterKind, MeterUnit, Node, Pipeline, PortId, Program, Step,
    Terminal,
};
use std::collections::BTreeMap;

/// Tokens are kept multiplied by this (as in the software meters).
const SCALE: u64 = 1_000_000_000;

/// Verdict targets and node labels.
struct Targets {
    nodes: Vec<Label>,
    accept: Label,
    drop: Label,
    forward: BTreeMap<PortId, Label>,
    exit: Label,
    /// Whether anything jumps to `accept` / `drop`: the verifier refuses
    /// unreachable code, so unused verdict blocks are not emitted.
    accept_used: bool,
    drop_used: bool,
}

impl Targets {
    fn verdict(&mut self, g: &mut Gen, t: Terminal) -> Label {
        match t {
            Terminal::Accept => {
                self.accept_used = true;
                self.accept
            }
            // Refused before code generation; a drop is the safe reading.
            Terminal::Drop | Terminal::Reject => {
                self.drop_used = true;
                self.drop
            }
            Terminal::Forward(p) => *self.forward.entry(p).or_insert_with(|| g.label()),
        }
    }
}

/// Emits the whole program for `hook`.
pub fn emit(p: &Program, l: &Layout, g: &mut Gen, opts: &Options) {
    let mut t = Targets {
        nodes: p.nodes.iter().map(|_| g.label()).collect(),
        accept: g.label(),
        drop: g.label(),
        forward: BTreeMap::new(),
        exit: g.label(),
        accept_used: false,
        drop_used: false,
    };
    prologue(g, p, opts);
    let parsed = g.label();
    if opts.test_clock {
        // A padded runt (test builds): no header at all, as the parser's
        // first bounds check finds for a real one.
        g.ld(Size::DW, Reg::R1, Reg::R6, slot::LEN);
        g.jif(JmpCond::Lt, Reg::R1, layout::MIN_TEST_FRAME as i32, parsed);
    }
    g.parse(parsed);
    g.bind(parsed);
    // Before any policy sees the packet (§5).
    super::conntrack::lookup(g);
    match &p.pipeline {
        Pipeline::Single { entry } => g.ja(t.nodes[*entry as usize]),
        Pipeline::Lines(lines) => {
            g.ld(Size::DW, Reg::R1, Reg::R6, slot::INPORT);
            for line in lines {
                let next = g.label();
                let number = p.ports[line.from as usize].number;
                g.lddw(Reg::R2, u64::from(number));
                g.jif(JmpCond::Ne, Reg::R1, Reg::R2, next);
                g.st(Size::DW, Reg::R6, slot::VPORT, line.to as i32);
                g.ja(t.nodes[line.entry as usize]);
                g.bind(next);
            }
            // A port without a pipeline line drops what arrives on it.
            let drop = t.verdict(g, Terminal::Drop);
            g.ja(drop);
        }
    }
    for (id, node) in p.nodes.iter().enumerate() {
        g.bind(t.nodes[id]);
        match node {
            Node::Verdict(v) => {
                let l = t.verdict(g, *v);
                g.ja(l);
            }
            Node::Lookup { table, next } => {
                set_lookup(g, l, *table as usize);
                g.ja(t.nodes[*next as usize]);
            }
            Node::Rules { table, next, jumps } => {
                rule_table(g, p, l, &mut t, *table as usize, *next, jumps);
            }
        }
    }
    verdicts(g, &mut t);
    exit(g, p, opts);
}

fn prologue(g: &mut Gen, p: &Program, opts: &Options) {
    let scratch = g.label();
    g.st(Size::DW, Reg::R10, stack::CTX, Reg::R1);
    g.st(Size::W, Reg::R10, stack::TMP, 0);
    g.lookup(layout::SCRATCH_MAP, stack::TMP);
    g.jif(JmpCond::Ne, Reg::R0, 0, scratch);
    // A per-CPU array always has its entry 0; fail closed all the same.
    g.mov(Reg::R0, drop_code(g.hook));
    g.i(Insn::exit());
    g.bind(scratch);
    g.mov(Reg::R6, Reg::R0);
    for (s, v) in [
        (slot::RULE, -1),
        (slot::COLOR, 0),
        (slot::IPOFF, slot::NONE),
        (slot::VLANOFF, slot::NONE),
        (slot::VERDICT, layout::verdict::DROP as i32),
        (slot::VPORT, -1),
        (slot::PROTO, 0),
        (slot::FRAG, 0),
        (slot::INPORT, 0),
        (slot::NOW, 0),
    ] {
        g.st(Size::DW, Reg::R6, s, v);
    }
    if let Some(c) = &g.ct {
        for (s, v) in c.per_packet() {
            g.st(Size::DW, Reg::R6, s, v);
        }
    }
    let slots: Vec<(Value, i16)> = g.slots.iter().map(|(v, s)| (*v, *s)).collect();
    for (v, s) in &slots {
        g.st(Size::DW, Reg::R6, *s, 0);
        if matches!(v, Value::Field(f) if f.field.width() > 64) {
            g.st(Size::DW, Reg::R6, s + 8, 0);
        }
    }
    match g.hook {
        Hook::Xdp => {
            g.ctx(Reg::R1);
            g.call(helper::XDP_GET_BUFF_LEN);
            g.st(Size::DW, Reg::R6, slot::LEN, Reg::R0);
        }
        Hook::Tc => {
            // Make the whole frame linear so the parser sees every byte.
            g.ctx(Reg::R1);
            g.ld(Size::W, Reg::R2, Reg::R1, 0);
            g.st(Size::DW, Reg::R6, slot::LEN, Reg::R2);
            g.call(helper::SKB_PULL_DATA);
            g.ctx(Reg::R1);
            g.ld(Size::W, Reg::R1, Reg::R1, 8);
            g.set(FieldRef::outer(Field::MetaMark), Reg::R1);
        }
    }
    if opts.test_clock {
        let none = g.label();
        g.st(Size::W, Reg::R10, stack::TMP, 0);
        g.lookup(layout::CFG_MAP, stack::TMP);
        g.jif(JmpCond::Eq, Reg::R0, 0, none);
        g.ld(Size::DW, Reg::R1, Reg::R0, 0);
        g.st(Size::DW, Reg::R6, slot::NOW, Reg::R1);
        g.ld(Size::W, Reg::R1, Reg::R0, 8);
        g.st(Size::DW, Reg::R6, slot::INPORT, Reg::R1);
        // A runt the runner had to pad: its real length.
        g.ld(Size::W, Reg::R1, Reg::R0, 12);
        g.jif(JmpCond::Eq, Reg::R1, 0, none);
        g.st(Size::DW, Reg::R6, slot::LEN, Reg::R1);
        g.bind(none);
    } else {
        // Only meters and the tracker read the clock, and only port tests
        // and pipeline lines the ingress port: skip the helper and the
        // lookup otherwise.
        if !p.meters.is_empty() || p.conntrack.is_some() {
            g.call(helper::KTIME_GET_NS);
            g.st(Size::DW, Reg::R6, slot::NOW, Reg::R0);
        }
        let reads_port = matches!(p.pipeline, Pipeline::Lines(_))
            || g.slot(Value::Field(FieldRef::outer(Field::InPort)))
                .is_some();
        if !reads_port {
            return finish_prologue(g);
        }
        let none = g.label();
        let ifindex = match g.hook {
            Hook::Xdp => 12,
            Hook::Tc => 36,
        };
        g.ctx(Reg::R1);
        g.ld(Size::W, Reg::R1, Reg::R1, ifindex);
        g.st(Size::W, Reg::R10, stack::TMP, Reg::R1);
        g.lookup(layout::IFPORTS_MAP, stack::TMP);
        g.jif(JmpCond::Eq, Reg::R0, 0, none);
        g.ld(Size::W, Reg::R1, Reg::R0, 0);
        g.st(Size::DW, Reg::R6, slot::INPORT, Reg::R1);
        g.bind(none);
    }
    finish_prologue(g);
}

/// Port and length fields, then the packet pointers for the parser.
fn finish_prologue(g: &mut Gen) {
    g.ld(Size::DW, Reg::R1, Reg::R6, slot::INPORT);
    g.set(FieldRef::outer(Field::InPort), Reg::R1);
    g.ld(Size::DW, Reg::R1, Reg::R6, slot::LEN);
    g.set(FieldRef::outer(Field::MetaLen), Reg::R1);
    g.load_packet_pointers();
}

/// Looks key `k` of table `ti` up: `r0` points at its row (or class), or
/// is 0.
fn classify(g: &mut Gen, l: &Layout, ti: usize, k: usize) {
    let kl = &l.tables[ti].keys[k];
    let s = match kl.source {
        KeySource::Field(f) => g.slot(Value::Field(f)),
        KeySource::Hit(h) => g.slot(Value::Hit(h)),
    }
    .unwrap_or(stack::TMP);
    match &kl.classifier {
        Classifier::Array { base } => {
            g.ld(Size::DW, Reg::R1, Reg::R6, s);
            g.alu(AluOp::Add, Reg::R1, *base as i32);
            g.lookup_index(layout::CLS_MAP, Reg::R1);
        }
        Classifier::Multibit {
            root, root_bits, ..
        } => {
            // The value stays in r7 (scratch after parsing) across lookups.
            let done = g.label();
            let mut below = kl.width - root_bits;
            g.ld(Size::DW, Reg::R7, Reg::R6, s);
            g.mov(Reg::R1, Reg::R7);
            g.alu(AluOp::Rsh, Reg::R1, (below + 8) as i32);
            if *root > 0 {
                g.alu(AluOp::Add, Reg::R1, *root as i32);
            }
            loop {
                g.lookup_index(layout::MBT_MAP, Reg::R1);
                g.jif(JmpCond::Eq, Reg::R0, 0, done);
                g.mov(Reg::R1, Reg::R7);
                if below > 0 {
                    g.alu(AluOp::Rsh, Reg::R1, below as i32);
                }
                g.alu(AluOp::And, Reg::R1, 0xff);
                g.alu(AluOp::Lsh, Reg::R1, 2);
                g.alu(AluOp::Add, Reg::R0, Reg::R1);
                if below == 0 {
                    break;
                }
                below -= 8;
                // A leaf: r0 points at the row. Else the child's index.
                g.ld(Size::W, Reg::R1, Reg::R0, 0);
                g.jif(JmpCond::Le, Reg::R1, (layout::MBT_CHILD - 1) as i32, done);
                g.alu(AluOp::And, Reg::R1, (layout::MBT_CHILD - 1) as i32);
            }
            g.bind(done);
        }
        Classifier::Lpm { map, id, bytes } => {
            let key = stack::KEY;
            g.st(Size::W, Reg::R10, key, (32 + kl.width) as i32);
            g.st(Size::W, Reg::R10, key + 4, id.swap_bytes() as i32);
            let data = key + layout::LPM_HEADER as i16;
            match bytes {
                16 => {
                    for half in [0, 8] {
                        g.ld(Size::DW, Reg::R1, Reg::R6, s + half);
                        g.st(Size::DW, Reg::R10, data + half, Reg::R1);
                    }
                }
                4 => {
                    g.ld(Size::DW, Reg::R1, Reg::R6, s);
                    g.swap(Reg::R1, 32);
                    g.st(Size::W, Reg::R10, data, Reg::R1);
                }
                3 => {
                    g.ld(Size::DW, Reg::R1, Reg::R6, s);
                    g.mov(Reg::R2, Reg::R1);
                    g.alu(AluOp::Rsh, Reg::R2, 8);
                    g.swap(Reg::R2, 16);
                    g.st(Size::H, Reg::R10, data, Reg::R2);
                    g.st(Size::B, Reg::R10, data + 2, Reg::R1);
                }
                _ => {
                    g.ld(Size::DW, Reg::R1, Reg::R6, s);
                    g.mov(Reg::R2, Reg::R1);
                    g.alu(AluOp::Rsh, Reg::R2, 16);
                    g.swap(Reg::R2, 32);
                    g.st(Size::W, Reg::R10, data, Reg::R2);
                    g.swap(Reg::R1, 16);
                    g.st(Size::H, Reg::R10, data + 4, Reg::R1);
                }
            }
            g.lookup(map, key);
        }
    }
}

fn set_lookup(g: &mut Gen, l: &Layout, ti: usize) {
    let miss = g.label();
    let store = g.label();
    classify(g, l, ti, 0);
    g.jif(JmpCond::Eq, Reg::R0, 0, miss);
    g.ld(Size::W, Reg::R1, Reg::R0, 0);
    g.ja(store);
    g.bind(miss);
    g.mov(Reg::R1, 0);
    g.bind(store);
    if let Some(s) = g.hit_of_table.get(&ti).and_then(|h| g.slot(Value::Hit(*h))) {
        g.st(Size::DW, Reg::R6, s, Reg::R1);
    }
}

/// Count trailing zeros of `r0` into `r9` (added), by halving.
fn ctz(g: &mut Gen) {
    for bits in [32, 16, 8, 4, 2, 1] {
        let skip = g.label();
        if bits == 32 {
            g.i(Insn::mov32(Reg::R1, Reg::R0));
        } else {
            g.mov(Reg::R1, Reg::R0);
            g.alu(AluOp::And, Reg::R1, (1i32 << bits) - 1);
        }
        g.jif(JmpCond::Ne, Reg::R1, 0, skip);
        g.alu(AluOp::Rsh, Reg::R0, bits);
        g.alu(AluOp::Add, Reg::R9, bits);
        g.bind(skip);
    }
}

fn rule_table(
    g: &mut Gen,
    p: &Program,
    l: &Layout,
    t: &mut Targets,
    ti: usize,
    next: u32,
    jumps: &[(u32, u32)],
) {
    let tl = &l.tables[ti];
    let miss = t.nodes[next as usize];
    if tl.entries == 0 {
        g.ja(miss);
        return;
    }
    let found = g.label();
    if tl.keys.is_empty() {
        g.mov(Reg::R9, 0);
    } else {
        let bm = tl.bitmaps.clone().unwrap_or_default();
        for k in 0..tl.keys.len() {
            classify(g, l, ti, k);
            g.jif(JmpCond::Eq, Reg::R0, 0, miss);
            g.ld(Size::W, Reg::R1, Reg::R0, 0);
            g.lookup_index(&bm, Reg::R1);
            g.jif(JmpCond::Eq, Reg::R0, 0, miss);
            g.st(Size::DW, Reg::R10, stack::KPTR - 8 * k as i16, Reg::R0);
        }
        let agg = layout::agg_words(tl.words);
        if agg == 0 {
            for w in 0..tl.words as i16 {
                and_words(g, tl.keys.len(), w * 8);
                g.mov(Reg::R9, i32::from(w) * 64);
                g.jif(JmpCond::Ne, Reg::R0, 0, found);
            }
        } else {
            aggregated(g, tl.keys.len(), tl.words, agg, found);
        }
        g.ja(miss);
        g.bind(found);
        ctz(g);
    }
    if tl.keys.is_empty() {
        g.bind(found);
    }
    g.alu(AluOp::Add, Reg::R9, tl.rinfo_base as i32);
    g.lookup_index(layout::RINFO_MAP, Reg::R9);
    g.jif(JmpCond::Eq, Reg::R0, 0, miss);
    g.ld(Size::W, Reg::R1, Reg::R0, 0);
    g.ld(Size::W, Reg::R8, Reg::R0, 4);
    g.st(Size::DW, Reg::R6, slot::CUR, Reg::R1);
    let counted = g.label();
    g.lookup_index(layout::HITS_MAP, Reg::R1);
    g.jif(JmpCond::Eq, Reg::R0, 0, counted);
    g.count_at_r0();
    g.bind(counted);
    let classes = ActionClasses::of(p, ti);
    let blocks: Vec<Label> = classes.reps.iter().map(|_| g.label()).collect();
    for (i, b) in blocks.iter().enumerate().skip(1) {
        g.jif(JmpCond::Eq, Reg::R8, i as i32, *b);
    }
    for (i, &rule) in classes.reps.iter().enumerate() {
        g.bind(blocks[i]);
        let actions = &p.rules[rule as usize].actions;
        steps(g, p, t, &actions.steps);
        match actions.end {
            End::Continue => g.ja(miss),
            End::Terminal(v) => decide(g, t, v),
            End::Jump(_) => {
                let to = jumps
                    .iter()
                    .find(|(r, _)| *r == rule)
                    .map_or(miss, |(_, n)| t.nodes[*n as usize]);
                g.ja(to);
            }
        }
    }
}

/// `r0` = the AND of every key's bitmap word at byte offset `off`.
fn and_words(g: &mut Gen, keys: usize, off: i16) {
    for k in 0..keys {
        g.ld(Size::DW, Reg::R1, Reg::R10, stack::KPTR - 8 * k as i16);
        if k == 0 {
            g.ld(Size::DW, Reg::R0, Reg::R1, off);
        } else {
            g.ld(Size::DW, Reg::R2, Reg::R1, off);
            g.alu(AluOp::And, Reg::R0, Reg::R2);
        }
    }
}

/// Visits only the words whose aggregate bit is set in every key: for
/// each aggregate word, up to 64 candidates, lowest first (lowest word =
/// highest priority). Jumps to `found` with `r0` = the matching word and
/// `r9` = its first entry index.
fn aggregated(g: &mut Gen, keys: usize, words: u32, agg: u32, found: Label) {
    for a in 0..agg {
        let next = g.label();
        and_words(g, keys, (a * 8) as i16);
        g.st(Size::DW, Reg::R10, stack::AGG, Reg::R0);
        let candidates = (words - a * 64).min(64);
        for _ in 0..candidates {
            g.ld(Size::DW, Reg::R0, Reg::R10, stack::AGG);
            g.jif(JmpCond::Eq, Reg::R0, 0, next);
            g.mov(Reg::R1, Reg::R0);
            g.alu(AluOp::Sub, Reg::R1, 1);
            g.alu(AluOp::And, Reg::R1, Reg::R0);
            g.st(Size::DW, Reg::R10, stack::AGG, Reg::R1);
            g.mov(Reg::R9, (a * 64) as i32);
            ctz(g);
            // Through memory, so the verifier keeps one bounded index
            // rather than one state per bit position.
            g.st(Size::DW, Reg::R6, slot::POS, Reg::R9);
            g.ld(Size::DW, Reg::R9, Reg::R6, slot::POS);
            g.jif(JmpCond::Ge, Reg::R9, words as i32, next);
            g.mov(Reg::R3, Reg::R9);
            g.alu(AluOp::Lsh, Reg::R3, 3);
            for k in 0..keys {
                g.ld(Size::DW, Reg::R1, Reg::R10, stack::KPTR - 8 * k as i16);
                g.alu(AluOp::Add, Reg::R1, Reg::R3);
                if k == 0 {
                    g.ld(Size::DW, Reg::R0, Reg::R1, (agg * 8) as i16);
                } else {
                    g.ld(Size::DW, Reg::R2, Reg::R1, (agg * 8) as i16);
                    g.alu(AluOp::And, Reg::R0, Reg::R2);
                }
            }
            g.alu(AluOp::Lsh, Reg::R9, 6);
            g.jif(JmpCond::Ne, Reg::R0, 0, found);
        }
        g.bind(next);
    }
}

/// The running rule decides with `v`.
fn decide(g: &mut Gen, t: &mut Targets, v: Terminal) {
    g.ld(Size::DW, Reg::R1, Reg::R6, slot::CUR);
    g.st(Size::DW, Reg::R6, slot::RULE, Reg::R1);
    let l = t.verdict(g, v);
    g.ja(l);
}

fn steps(g: &mut Gen, p: &Program, t: &mut Targets, steps: &[Step]) {
    for step in steps {
        match step {
            Step::Count(c) => {
                let skip = g.label();
                g.mov(Reg::R1, *c as i32);
                g.lookup_index(layout::COUNTERS_MAP, Reg::R1);
                g.jif(JmpCond::Eq, Reg::R0, 0, skip);
                g.count_at_r0();
                g.bind(skip);
            }
            Step::Set { field, value } => {
                let v = (*value & field.field.max_value()) as u64;
                g.lddw(Reg::R1, v);
                g.set(*field, Reg::R1);
            }
            Step::Mirror(port) => {
                // Refused for XDP; test builds record no copies.
                if g.hook == Hook::Tc && !g.test_clock {
                    let skip = g.label();
                    g.mov(Reg::R1, *port as i32);
                    g.lookup_index(layout::PORTS_MAP, Reg::R1);
                    g.jif(JmpCond::Eq, Reg::R0, 0, skip);
                    g.ld(Size::W, Reg::R2, Reg::R0, 0);
                    g.jif(JmpCond::Eq, Reg::R2, 0, skip);
                    g.ctx(Reg::R1);
                    g.mov(Reg::R3, 0);
                    g.call(helper::CLONE_REDIRECT);
                    g.bind(skip);
                }
            }
            Step::Log { prefix, .. } => {
                let index = prefix
                    .as_ref()
                    .and_then(|x| layout::log_prefixes(p).iter().position(|y| y == x))
                    .map_or(-1, |i| i as i32);
                g.event(Some(slot::CUR), index);
            }
            Step::NoTrack => {
                if let Some(c) = &g.ct {
                    let s = c.notrack();
                    g.st(Size::DW, Reg::R6, s, 1);
                }
            }
            Step::Meter { meter, arms } => {
                meter_step(g, p, *meter);
                let after = g.label();
                let labels: Vec<Label> = (0..3).map(|_| g.label()).collect();
                g.jif(JmpCond::Eq, Reg::R8, 2, labels[1]);
                g.jif(JmpCond::Eq, Reg::R8, 3, labels[2]);
                for (arm, label) in arms.iter().zip(&labels) {
                    g.bind(*label);
                    self::steps(g, p, t, &arm.steps);
                    match arm.terminal {
                        Some(v) => decide(g, t, v),
                        None => g.ja(after),
                    }
                }
                g.bind(after);
            }
        }
    }
}

/// Bucket capacity in scaled tokens, if it fits 64 bits.
pub fn capacity(size: u64, unit: MeterUnit) -> Option<u64> {
    let per = match unit {
        MeterUnit::Packets => 1,
        MeterUnit::Bytes => 8,
    };
    size.checked_mul(per)?.checked_mul(SCALE)
}

/// `fill += min(rate × elapsed, cap - fill)` with `r0` = elapsed; uses
/// `r1`, `r4`, `r5`.
fn refill(g: &mut Gen, fill: Reg, rate: u64, cap: u64) {
    if rate == 0 {
        return;
    }
    let full = g.label();
    let end = g.label();
    g.lddw(Reg::R4, cap);
    g.alu(AluOp::Sub, Reg::R4, fill);
    g.lddw(Reg::R1, rate);
    g.mov(Reg::R5, Reg::R4);
    g.alu(AluOp::Div, Reg::R5, Reg::R1);
    g.jif(JmpCond::Gt, Reg::R0, Reg::R5, full);
    g.mov(Reg::R5, Reg::R0);
    g.alu(AluOp::Mul, Reg::R5, Reg::R1);
    g.alu(AluOp::Add, fill, Reg::R5);
    g.ja(end);
    g.bind(full);
    g.alu(AluOp::Add, fill, Reg::R4);
    g.bind(end);
}

/// Colours the packet with meter `m` (§6, exactly as the software meter):
/// leaves the colour (1 green, 2 yellow, 3 red) in `r8` and `slot::COLOR`.
/// The bucket is updated under the value's `bpf_spin_lock`: meters are
/// shared by every CPU and a per-CPU bucket would pass `cpus × rate`.
fn meter_step(g: &mut Gen, p: &Program, m: u32) {
    let meter = &p.meters[m as usize];
    let (cap_c, cap_e) = match meter.kind {
        MeterKind::TokenBucket { burst, .. } => (capacity(burst, meter.unit), Some(0)),
        MeterKind::SrTcm { cbs, ebs, .. } => (capacity(cbs, meter.unit), capacity(ebs, meter.unit)),
        MeterKind::TrTcm { cbs, pbs, .. } => (capacity(cbs, meter.unit), capacity(pbs, meter.unit)),
    };
    let (cap_c, cap_e) = (cap_c.unwrap_or(u64::MAX), cap_e.unwrap_or(u64::MAX));
    let done = g.label();
    // Cost of this packet.
    match meter.unit {
        MeterUnit::Packets => g.lddw(Reg::R7, SCALE),
        MeterUnit::Bytes => {
            g.ld(Size::DW, Reg::R7, Reg::R6, slot::LEN);
            g.lddw(Reg::R1, 8 * SCALE);
            g.alu(AluOp::Mul, Reg::R7, Reg::R1);
        }
    }
    g.ld(Size::DW, Reg::R8, Reg::R6, slot::NOW);
    let missing = g.label();
    let keyed = g.keyed.clone();
    let key = keyed
        .as_ref()
        .and_then(|s| s.meter(m).cloned().map(|k| (s, k)));
    match &key {
        // One bucket per key value, in the meter's own map.
        Some((s, k)) => super::keyed::bucket(g, s, k, missing),
        None => {
            g.mov(Reg::R1, m as i32);
            g.lookup_index(layout::METERS_MAP, Reg::R1);
        }
    }
    g.jif(JmpCond::Eq, Reg::R0, 0, missing);
    g.mov(Reg::R9, Reg::R0);
    g.mov(Reg::R1, Reg::R9);
    g.call(helper::SPIN_LOCK);
    // Locked: no helper calls until the unlock.
    if let Some((s, _)) = &key {
        super::keyed::touch(g, s);
    }
    let inited = g.label();
    g.ld(Size::W, Reg::R1, Reg::R9, 4);
    g.jif(JmpCond::Ne, Reg::R1, 0, inited);
    g.lddw(Reg::R1, cap_c);
    g.st(Size::DW, Reg::R9, 8, Reg::R1);
    g.lddw(Reg::R1, cap_e);
    g.st(Size::DW, Reg::R9, 16, Reg::R1);
    g.st(Size::DW, Reg::R9, 24, Reg::R8);
    g.st(Size::W, Reg::R9, 4, 1);
    g.bind(inited);
    let no_time = g.label();
    g.mov(Reg::R0, 0);
    g.ld(Size::DW, Reg::R1, Reg::R9, 24);
    g.jif(JmpCond::Le, Reg::R8, Reg::R1, no_time);
    g.mov(Reg::R0, Reg::R8);
    g.alu(AluOp::Sub, Reg::R0, Reg::R1);
    g.st(Size::DW, Reg::R9, 24, Reg::R8);
    g.bind(no_time);
    g.ld(Size::DW, Reg::R2, Reg::R9, 8);
    g.ld(Size::DW, Reg::R3, Reg::R9, 16);
    let (red, yellow, store) = (g.label(), g.label(), g.label());
    match meter.kind {
        MeterKind::TokenBucket { rate, .. } => {
            refill(g, Reg::R2, rate, cap_c);
            g.jif(JmpCond::Lt, Reg::R2, Reg::R7, red);
            g.alu(AluOp::Sub, Reg::R2, Reg::R7);
            g.mov(Reg::R8, 1);
            g.ja(store);
        }
        MeterKind::SrTcm { cir, .. } => {
            if cir > 0 {
                // Tokens go to the committed bucket until it is full, then
                // spill into the excess bucket.
                let (full, spill, end) = (g.label(), g.label(), g.label());
                g.lddw(Reg::R4, cap_c);
                g.alu(AluOp::Sub, Reg::R4, Reg::R2);
                g.lddw(Reg::R5, cap_e);
                g.alu(AluOp::Sub, Reg::R5, Reg::R3);
                g.alu(AluOp::Add, Reg::R5, Reg::R4);
                g.lddw(Reg::R1, cir);
                g.mov(Reg::R8, Reg::R5);
                g.alu(AluOp::Div, Reg::R8, Reg::R1);
                g.jif(JmpCond::Gt, Reg::R0, Reg::R8, full);
                g.mov(Reg::R8, Reg::R0);
                g.alu(AluOp::Mul, Reg::R8, Reg::R1);
                g.jif(JmpCond::Gt, Reg::R8, Reg::R4, spill);
                g.alu(AluOp::Add, Reg::R2, Reg::R8);
                g.ja(end);
                g.bind(spill);
                g.alu(AluOp::Sub, Reg::R8, Reg::R4);
                g.alu(AluOp::Add, Reg::R3, Reg::R8);
                g.alu(AluOp::Add, Reg::R2, Reg::R4);
                g.ja(end);
                g.bind(full);
                g.lddw(Reg::R2, cap_c);
                g.lddw(Reg::R3, cap_e);
                g.bind(end);
            }
            let try_e = g.label();
            g.jif(JmpCond::Lt, Reg::R2, Reg::R7, try_e);
            g.alu(AluOp::Sub, Reg::R2, Reg::R7);
            g.mov(Reg::R8, 1);
            g.ja(store);
            g.bind(try_e);
            g.jif(JmpCond::Lt, Reg::R3, Reg::R7, red);
            g.alu(AluOp::Sub, Reg::R3, Reg::R7);
            g.mov(Reg::R8, 2);
            g.ja(store);
        }
        MeterKind::TrTcm { cir, pir, .. } => {
            refill(g, Reg::R2, cir, cap_c);
            refill(g, Reg::R3, pir, cap_e);
            g.jif(JmpCond::Lt, Reg::R3, Reg::R7, red);
            g.jif(JmpCond::Lt, Reg::R2, Reg::R7, yellow);
            g.alu(AluOp::Sub, Reg::R3, Reg::R7);
            g.alu(AluOp::Sub, Reg::R2, Reg::R7);
            g.mov(Reg::R8, 1);
            g.ja(store);
            g.bind(yellow);
            g.alu(AluOp::Sub, Reg::R3, Reg::R7);
            g.mov(Reg::R8, 2);
            g.ja(store);
        }
    }
    g.bind(red);
    g.mov(Reg::R8, 3);
    g.bind(store);
    g.st(Size::DW, Reg::R9, 8, Reg::R2);
    g.st(Size::DW, Reg::R9, 16, Reg::R3);
    g.mov(Reg::R1, Reg::R9);
    g.call(helper::SPIN_UNLOCK);
    g.ja(done);
    g.bind(missing);
    g.mov(Reg::R8, 1);
    g.bind(done);
    g.st(Size::DW, Reg::R6, slot::COLOR, Reg::R8);
}

fn verdicts(g: &mut Gen, t: &mut Targets) {
    for (used, label, code) in [
        (t.accept_used, t.accept, layout::verdict::ACCEPT),
        (t.drop_used, t.drop, layout::verdict::DROP),
    ] {
        if used {
            g.bind(label);
            g.st(Size::DW, Reg::R6, slot::VERDICT, code as i32);
            g.ja(t.exit);
        }
    }
    let forwards: Vec<(PortId, Label)> = t.forward.iter().map(|(p, l)| (*p, *l)).collect();
    for (port, label) in forwards {
        g.bind(label);
        g.st(
            Size::DW,
            Reg::R6,
            slot::VERDICT,
            layout::verdict::FORWARD as i32,
        );
        g.st(Size::DW, Reg::R6, slot::VPORT, port as i32);
        g.ja(t.exit);
    }
    g.bind(t.exit);
}

/// Whether any rule rewrites `field` (outer).
fn rewrites(p: &Program, field: Field) -> bool {
    fn any(steps: &[Step], field: Field) -> bool {
        steps.iter().any(|s| match s {
            Step::Set { field: f, .. } => f.field == field && !f.inner,
            Step::Meter { arms, .. } => arms.iter().any(|a| any(&a.steps, field)),
            _ => false,
        })
    }
    p.rules.iter().any(|r| any(&r.actions.steps, field))
}

fn exit(g: &mut Gen, p: &Program, opts: &Options) {
    // The verdict is known: commit the connection (which may drop).
    super::conntrack::commit(g);
    if rewrites(p, Field::VlanPcp) {
        write_pcp(g);
    }
    if rewrites(p, Field::IpDscp) || rewrites(p, Field::IpEcn) {
        write_tc(g);
    }
    if g.hook == Hook::Tc && rewrites(p, Field::MetaMark) {
        if let Some(s) = g.slot(Value::Field(FieldRef::outer(Field::MetaMark))) {
            g.ld(Size::DW, Reg::R1, Reg::R6, s);
            g.ctx(Reg::R2);
            g.st(Size::W, Reg::R2, 8, Reg::R1);
        }
    }
    let (pass, drop, redirect) = match g.hook {
        Hook::Xdp => (2, drop_code(g.hook), 4),
        Hook::Tc => (0, drop_code(g.hook), 7),
    };
    let dropped = g.label();
    if opts.test_clock {
        let untraced = g.label();
        g.st(Size::W, Reg::R10, stack::TMP, 0);
        g.lookup(layout::TRACE_MAP, stack::TMP);
        g.jif(JmpCond::Eq, Reg::R0, 0, untraced);
        let mut fields = vec![
            (0, slot::VERDICT),
            (4, slot::VPORT),
            (8, slot::RULE),
            (12, slot::COLOR),
        ];
        for (off, f) in [(16, Field::IpDscp), (20, Field::MetaMark)] {
            if let Some(s) = g.slot(Value::Field(FieldRef::outer(f))) {
                fields.push((off, s));
            }
        }
        for (off, s) in fields {
            g.ld(Size::DW, Reg::R1, Reg::R6, s);
            g.st(Size::W, Reg::R0, off, Reg::R1);
        }
        g.bind(untraced);
        let (accept, forward) = (g.label(), g.label());
        g.ld(Size::DW, Reg::R1, Reg::R6, slot::VERDICT);
        g.jif(JmpCond::Eq, Reg::R1, layout::verdict::ACCEPT as i32, accept);
        g.jif(
            JmpCond::Eq,
            Reg::R1,
            layout::verdict::FORWARD as i32,
            forward,
        );
        g.ja(dropped);
        g.bind(accept);
        g.mov(Reg::R0, pass);
        g.i(Insn::exit());
        g.bind(forward);
        g.mov(Reg::R0, redirect);
        g.i(Insn::exit());
    } else {
        let (to_port, accept) = (g.label(), g.label());
        g.ld(Size::DW, Reg::R1, Reg::R6, slot::VERDICT);
        g.jif(
            JmpCond::Eq,
            Reg::R1,
            layout::verdict::FORWARD as i32,
            to_port,
        );
        g.jif(
            JmpCond::Ne,
            Reg::R1,
            layout::verdict::ACCEPT as i32,
            dropped,
        );
        g.ld(Size::W, Reg::R1, Reg::R6, slot::VPORT);
        g.jif(JmpCond::Ne, Reg::R1, -1, to_port);
        g.bind(accept);
        g.mov(Reg::R0, pass);
        g.i(Insn::exit());
        g.bind(to_port);
        g.ld(Size::W, Reg::R1, Reg::R6, slot::VPORT);
        g.lookup_index(layout::PORTS_MAP, Reg::R1);
        g.jif(JmpCond::Eq, Reg::R0, 0, dropped);
        g.ld(Size::W, Reg::R1, Reg::R0, 0);
        g.jif(JmpCond::Eq, Reg::R1, 0, dropped);
        g.mov(Reg::R2, 0);
        g.call(helper::REDIRECT);
        g.i(Insn::exit());
    }
    g.bind(dropped);
    g.mov(Reg::R0, drop);
    g.i(Insn::exit());
}

/// The hook's "drop" return code.
fn drop_code(hook: Hook) -> i32 {
    match hook {
        Hook::Xdp => 1,
        Hook::Tc => 2,
    }
}

/// Writes the outer VLAN PCP back into the tag.
fn write_pcp(g: &mut Gen) {
    let Some(s) = g.slot(Value::Field(FieldRef::outer(Field::VlanPcp))) else {
        return;
    };
    let skip = g.label();
    g.load_packet_pointers();
    g.ld(Size::DW, Reg::R4, Reg::R6, slot::VLANOFF);
    g.jif(JmpCond::Gt, Reg::R4, 16 * 1024, skip);
    g.mov(Reg::R1, Reg::R7);
    g.alu(AluOp::Add, Reg::R1, Reg::R4);
    g.mov(Reg::R2, Reg::R1);
    g.alu(AluOp::Add, Reg::R2, 2);
    g.jif(JmpCond::Gt, Reg::R2, Reg::R8, skip);
    g.ld(Size::B, Reg::R3, Reg::R1, 0);
    g.alu(AluOp::And, Reg::R3, 0x1f);
    g.ld(Size::DW, Reg::R5, Reg::R6, s);
    g.alu(AluOp::Lsh, Reg::R5, 5);
    g.alu(AluOp::Or, Reg::R3, Reg::R5);
    g.st(Size::B, Reg::R1, 0, Reg::R3);
    g.bind(skip);
}

/// Writes DSCP and ECN back into the outer IP header (IPv4 checksum
/// recomputed over the whole header, as the software pipeline does).
fn write_tc(g: &mut Gen) {
    let skip = g.label();
    let v6 = g.label();
    g.load_packet_pointers();
    g.mov(Reg::R5, 0);
    for (f, shift) in [(Field::IpDscp, 2), (Field::IpEcn, 0)] {
        if let Some(s) = g.slot(Value::Field(FieldRef::outer(f))) {
            g.ld(Size::DW, Reg::R3, Reg::R6, s);
            g.alu(AluOp::And, Reg::R3, if shift == 2 { 0x3f } else { 3 });
            g.alu(AluOp::Lsh, Reg::R3, shift);
            g.alu(AluOp::Or, Reg::R5, Reg::R3);
        }
    }
    g.ld(Size::DW, Reg::R4, Reg::R6, slot::IPOFF);
    g.jif(JmpCond::Gt, Reg::R4, 16 * 1024, skip);
    g.mov(Reg::R9, Reg::R4);
    g.need(2, skip);
    g.ld(Size::B, Reg::R3, Reg::R1, 0);
    g.alu(AluOp::Rsh, Reg::R3, 4);
    g.jif(JmpCond::Eq, Reg::R3, 6, v6);
    g.need(20, skip);
    g.ld(Size::B, Reg::R3, Reg::R1, 1);
    g.jif(JmpCond::Eq, Reg::R3, Reg::R5, skip);
    g.st(Size::B, Reg::R1, 1, Reg::R5);
    g.st(Size::H, Reg::R1, 10, 0);
    // Sum the header's 16-bit words.
    g.ld(Size::B, Reg::R3, Reg::R1, 0);
    g.alu(AluOp::And, Reg::R3, 0x0f);
    g.alu(AluOp::Lsh, Reg::R3, 2);
    g.mov(Reg::R0, 0);
    let summed = g.label();
    for word in 0..30i16 {
        g.jif(JmpCond::Le, Reg::R3, i32::from(word) * 2, summed);
        g.mov(Reg::R2, Reg::R1);
        g.alu(AluOp::Add, Reg::R2, i32::from(word) * 2 + 2);
        g.jif(JmpCond::Gt, Reg::R2, Reg::R8, summed);
        g.ld(Size::H, Reg::R4, Reg::R1, word * 2);
        g.swap(Reg::R4, 16);
        g.alu(AluOp::Add, Reg::R0, Reg::R4);
    }
    g.bind(summed);
    for _ in 0..2 {
        g.mov(Reg::R4, Reg::R0);
        g.alu(AluOp::Rsh, Reg::R4, 16);
        g.alu(AluOp::And, Reg::R0, 0xffff);
        g.alu(AluOp::Add, Reg::R0, Reg::R4);
    }
    g.alu(AluOp::Xor, Reg::R0, 0xffff);
    g.swap(Reg::R0, 16);
    g.st(Size::H, Reg::R1, 10, Reg::R0);
    g.ja(skip);
    g.bind(v6);
    // Traffic class straddles the first two bytes.
    g.ld(Size::B, Reg::R3, Reg::R1, 0);
    g.ld(Size::B, Reg::R4, Reg::R1, 1);
    g.mov(Reg::R2, Reg::R3);
    g.alu(AluOp::Lsh, Reg::R2, 4);
    g.mov(Reg::R0, Reg::R4);
    g.alu(AluOp::Rsh, Reg::R0, 4);
    g.alu(AluOp::Or, Reg::R2, Reg::R0);
    g.alu(AluOp::And, Reg::R2, 0xff);
    g.jif(JmpCond::Eq, Reg::R2, Reg::R5, skip);
    g.mov(Reg::R3, Reg::R5);
    g.alu(AluOp::Rsh, Reg::R3, 4);
    g.alu(AluOp::Or, Reg::R3, 0x60);
    g.st(Size::B, Reg::R1, 0, Reg::R3);
    g.alu(AluOp::And, Reg::R4, 0x0f);
    g.alu(AluOp::Lsh, Reg::R5, 4);
    g.alu(AluOp::And, Reg::R5, 0xf0);
    g.alu(AluOp::Or, Reg::R4, Reg::R5);
    g.st(Size::B, Reg::R1, 1, Reg::R4);
    g.bind(skip);
}
