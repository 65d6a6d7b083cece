//! Connection tracking (§5) in eBPF, with the software tracker's semantics
//! (`dpuc_runtime::conntrack`) exactly.
//!
//! **Table.** One `BPF_MAP_TYPE_HASH` ([`CT_MAP`], `BPF_F_NO_PREALLOC`,
//! `max_entries` = the policy's bound) holds one entry per connection,
//! keyed by the canonical tuple: the (address, port) pair that sorts first,
//! then the other, protocol, address family and the zone's field values.
//! The value records which orientation the original direction had, so one
//! lookup serves both directions; a tuple equal to its reverse always
//! compares as "first", hence is always `original`, as in the software
//! tracker (which finds it among originals before replies).
//!
//! **Invariant.** The map's keys are exactly the software tracker's
//! connections: an expired entry is deleted exactly where the tracker
//! removes it (a lookup that finds it, the sweep of a full table), a RST
//! deletes after itself, a SYN on `TIME_WAIT` replaces, and commits insert.
//! So the kernel's element count is the tracker's `conns.len()`, and an
//! insertion refused with `E2BIG` is the tracker's "full" test.
//!
//! **Full table.** Then [`SWEEP`] runs over the map with
//! `bpf_for_each_map_elem`, deleting every expired entry (the tracker's
//! purge) and, for `on_full evict_oldest`, remembering the key of the live
//! entry with the least `(last use, sequence)`; a second refusal evicts that
//! entry (or drops the packet with a `ct_full` event). The sequence is a
//! global counter taken at each use, as the tracker's.
//!
//! **Timeouts** are turned into an absolute expiry at each use (`last +
//! timeout of the new state`, saturating), which is what the tracker
//! computes from the same inputs; only a use changes the state.
//!
//! Per packet, the parser records the outer tuple and whether its headers
//! are broken (the `Gen::ct_*` hooks called from `parse.rs`), [`lookup`]
//! runs before the pipeline and sets `ct.*`, and [`commit`] runs once the
//! verdict is known.

use super::gen::{slot, stack, Gen, Value};
use super::layout::{self, LayoutField};
use super::parse::MAX_OFFSET;
use crate::insn::{helper, AluOp, Insn, JmpCond, Label, Operand, Program, Reg, Size};
use dpuc_ir::{CtState, Field, FieldRef, OnFull, Step, Timeouts};

/// The connection table.
pub const CT_MAP: &str = "dpuc_ct";
/// The global use counter (one `u64`), for least-recently-used order.
pub const SEQ_MAP: &str = "dpuc_ct_seq";
/// The callback that purges expired entries (and finds the oldest).
pub const SWEEP: &str = "dpuc_ct_sweep";
/// The kernel's hash maps hold at most this many entries (`n_buckets`
/// must fit `U32_MAX / sizeof(struct bucket)`).
pub const MAX_ENTRIES: u64 = 1 << 28;

/// What the parser learnt about the outer packet, in [`CtSlots::kind`].
pub mod kind {
    /// No IP, a later fragment, or a protocol that is not tracked.
    pub const UNTRACKED: i32 = 0;
    /// A malformed L3 or L4 header.
    pub const INVALID: i32 = 1;
    /// TCP, UDP or an ICMP echo: tracked by its own tuple.
    pub const TUPLE: i32 = 2;
    /// Another ICMP message: `related` if it is an error quoting a connection.
    pub const ICMP: i32 = 3;
}

/// What [`commit`] does, in [`CtSlots::commit`].
mod commit_kind {
    /// Nothing (invalid, untracked).
    pub const NONE: i32 = 0;
    /// Insert the packet's tuple (a `new` packet without a connection).
    pub const NEW: i32 = 1;
    /// Write `ct.mark` back to the connection it belongs to.
    pub const MARK: i32 = 2;
}

/// TCP states in the value, as the software tracker's `Tcp` (0: not TCP).
mod tcp {
    pub const SYN_SENT: i32 = 1;
    pub const SYN_RECV: i32 = 2;
    pub const ESTABLISHED: i32 = 3;
    pub const FIN_WAIT: i32 = 4;
    pub const CLOSE_WAIT: i32 = 5;
    pub const LAST_ACK: i32 = 6;
    pub const TIME_WAIT: i32 = 7;
}

const FIN: i32 = 0x01;
const SYN: i32 = 0x02;
const RST: i32 = 0x04;
const ACK: i32 = 0x10;

/// `errno` values the insertion can return (negated).
const E2BIG: i32 = 7;
const EEXIST: i32 = 17;

/// Offsets in the key.
mod key {
    pub const A: i16 = 0;
    pub const B: i16 = 16;
    pub const PORT_A: i16 = 32;
    pub const PORT_B: i16 = 34;
    pub const PROTO: i16 = 36;
    pub const ZONE: i16 = 40;
}

/// Offsets in the value.
pub mod value {
    /// `struct bpf_spin_lock`.
    pub const LOCK: i16 = 0;
    /// `ct.mark` (u32).
    pub const MARK: i16 = 4;
    /// Last use, ns.
    pub const LAST: i16 = 8;
    /// Expiry, ns: live while now < expires.
    pub const EXPIRES: i16 = 16;
    /// Use sequence number.
    pub const SEQ: i16 = 24;
    /// Orientation of the original direction (u8: 0 key order, 1 reversed).
    pub const ORIG: i16 = 32;
    /// TCP state (u8).
    pub const TCP: i16 = 33;
    /// FINs seen (u8: bit 0 original, bit 1 reply).
    pub const FINS: i16 = 34;
    /// A reply was seen (u8).
    pub const REPLIED: i16 = 35;
    /// Size.
    pub const SIZE: u32 = 40;
}

/// The `bpf_for_each_map_elem` context on the stack, from its start.
mod ctx {
    pub const NOW: i16 = 0;
    pub const HAVE: i16 = 8;
    pub const LAST: i16 = 16;
    pub const SEQ: i16 = 24;
    pub const KEY: i16 = 32;
}

/// The tracker of a program, as the code needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The policy's bound.
    pub max_entries: u64,
    /// `on_full evict_oldest`.
    pub evict: bool,
    /// Timeouts in ns.
    pub timeouts: Timeouts,
    /// Zone fields and their bytes in the key.
    pub zone: Vec<(FieldRef, u32)>,
    /// Whether some rule sets `ct.mark` (commits then write it back).
    pub sets_mark: bool,
}

impl Plan {
    /// The plan of `p`'s tracker, if it has one.
    pub fn of(p: &dpuc_ir::Program) -> Option<Plan> {
        let c = p.conntrack.as_ref()?;
        Some(Plan {
            max_entries: c.max_entries,
            evict: c.on_full == OnFull::EvictOldest,
            timeouts: c.timeouts,
            zone: c
                .zone
                .iter()
                .map(|f| (*f, if f.field.width() > 64 { 16 } else { 8 }))
                .collect(),
            sets_mark: p.rules.iter().any(|r| sets_ct_mark(&r.actions.steps)),
        })
    }

    /// Key bytes.
    pub fn key_size(&self) -> u32 {
        key::ZONE as u32 + self.zone.iter().map(|z| z.1).sum::<u32>()
    }

    /// The key's fields, for the layout and the map's BTF.
    pub fn key_fields(&self) -> Vec<LayoutField> {
        let mut out = vec![
            LayoutField::new("addr_a", key::A, 16),
            LayoutField::new("addr_b", key::B, 16),
            LayoutField::new("port_a", key::PORT_A, 2),
            LayoutField::new("port_b", key::PORT_B, 2),
            LayoutField::new("proto", key::PROTO, 1),
            LayoutField::new("family", key::PROTO + 1, 1),
            LayoutField::new("pad", key::PROTO + 2, 2),
        ];
        let mut at = key::ZONE;
        for (i, (f, bytes)) in self.zone.iter().enumerate() {
            // `zone0_vxlan_vni`: a C identifier, for the map's BTF.
            let name: String = f
                .to_string()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            out.push(LayoutField::new(&format!("zone{i}_{name}"), at, *bytes));
            at += *bytes as i16;
        }
        out
    }

    /// The value's fields, for the layout and the map's BTF.
    pub fn value_fields() -> Vec<LayoutField> {
        vec![
            LayoutField::new("lock", value::LOCK, 4),
            LayoutField::new("mark", value::MARK, 4),
            LayoutField::new("last_ns", value::LAST, 8),
            LayoutField::new("expires_ns", value::EXPIRES, 8),
            LayoutField::new("seq", value::SEQ, 8),
            LayoutField::new("orig", value::ORIG, 1),
            LayoutField::new("tcp", value::TCP, 1),
            LayoutField::new("fins", value::FINS, 1),
            LayoutField::new("replied", value::REPLIED, 1),
            LayoutField::new("pad", value::REPLIED + 1, 4),
        ]
    }

    /// Bytes of per-packet scratch the tracker needs.
    pub fn scratch_bytes(&self) -> u32 {
        CtSlots::FIXED as u32 + self.key_size() + value::SIZE
    }

    /// Bytes of stack the sweep's context takes.
    pub fn stack_bytes(&self) -> i16 {
        ctx::KEY + self.key_size() as i16
    }
}

fn sets_ct_mark(steps: &[Step]) -> bool {
    steps.iter().any(|s| match s {
        Step::Set { field, .. } => field.field == Field::CtMark,
        Step::Meter { arms, .. } => arms.iter().any(|a| sets_ct_mark(&a.steps)),
        _ => false,
    })
}

/// Where the tracker's per-packet state lives: scratch offsets from `r6`
/// and the stack offset of the sweep's context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CtSlots {
    /// A [`kind`] code.
    pub kind: i16,
    base: i16,
    /// The sweep's context (stack, from `r10`).
    pub ctx: i16,
    plan: Plan,
}

impl CtSlots {
    /// Fixed slots before the key and the staged value: fifteen numbers
    /// and two addresses.
    const FIXED: i16 = 8 * 15 + 32;

    /// Slots from scratch offset `base`, the context at stack offset `ctx`.
    pub fn new(plan: Plan, base: i16, ctx: i16) -> CtSlots {
        CtSlots {
            kind: base,
            base,
            ctx,
            plan,
        }
    }

    fn at(&self, i: i16) -> i16 {
        self.base + 8 * i
    }
    fn proto(&self) -> i16 {
        self.at(1)
    }
    /// TCP flags or ICMP type.
    fn flags(&self) -> i16 {
        self.at(2)
    }
    fn ver(&self) -> i16 {
        self.at(3)
    }
    fn sport(&self) -> i16 {
        self.at(4)
    }
    fn dport(&self) -> i16 {
        self.at(5)
    }
    fn l4off(&self) -> i16 {
        self.at(6)
    }
    /// The packet's orientation against the key (0: key order).
    fn pkt_dir(&self) -> i16 {
        self.at(7)
    }
    /// `ct.direction` found.
    fn dir(&self) -> i16 {
        self.at(8)
    }
    /// A [`commit_kind`] code.
    fn commit(&self) -> i16 {
        self.at(9)
    }
    /// Set by `notrack`.
    pub fn notrack(&self) -> i16 {
        self.at(10)
    }
    /// The use sequence number taken for this packet.
    fn seq(&self) -> i16 {
        self.at(11)
    }
    /// The connection ends after this packet (a RST).
    fn remove(&self) -> i16 {
        self.at(12)
    }
    /// The connection has seen a reply (after this packet).
    fn replied(&self) -> i16 {
        self.at(13)
    }
    /// The connection's mark.
    fn mark(&self) -> i16 {
        self.at(14)
    }
    fn src(&self) -> i16 {
        self.at(15)
    }
    fn dst(&self) -> i16 {
        self.at(15) + 16
    }
    fn key(&self) -> i16 {
        self.base + Self::FIXED
    }
    fn val(&self) -> i16 {
        self.key() + self.plan.key_size() as i16
    }

    /// Scratch slots to clear before each packet.
    pub fn per_packet(&self) -> [(i16, i32); 3] {
        [
            (self.kind, kind::UNTRACKED),
            (self.notrack(), 0),
            (self.commit(), commit_kind::NONE),
        ]
    }
}

/// The slots a policy with a tracker always needs: `ct.mark`, which a
/// commit stores, and the zone's fields, which the key holds.
pub fn used_values(p: &dpuc_ir::Program) -> Vec<Value> {
    let Some(c) = &p.conntrack else {
        return Vec::new();
    };
    let mut v = vec![Value::Field(FieldRef::outer(Field::CtMark))];
    v.extend(c.zone.iter().map(|f| Value::Field(*f)));
    v
}

impl Gen {
    fn ct(&self) -> Option<CtSlots> {
        self.ct.clone()
    }

    /// Parser hook: the outer layer's parse reached a point that decides
    /// its [`kind`] (unless a later point overrides it).
    pub fn ct_kind(&mut self, inner: bool, k: i32) {
        if let (false, Some(c)) = (inner, self.ct()) {
            self.st(Size::DW, Reg::R6, c.kind, k);
        }
    }

    /// Parser hook: the outer IPv4 header at `r1` is good.
    pub fn ct_ipv4(&mut self, inner: bool) {
        let Some(c) = self.ct().filter(|_| !inner) else {
            return;
        };
        for (off, s) in [(12, c.src()), (16, c.dst())] {
            self.ld(Size::W, Reg::R4, Reg::R1, off);
            self.swap(Reg::R4, 32);
            self.st(Size::DW, Reg::R6, s, Reg::R4);
            self.st(Size::DW, Reg::R6, s + 8, 0);
        }
        self.st(Size::DW, Reg::R6, c.ver(), 4);
    }

    /// Parser hook: the outer IPv6 header at `r1` is good.
    pub fn ct_ipv6(&mut self, inner: bool) {
        let Some(c) = self.ct().filter(|_| !inner) else {
            return;
        };
        for (off, s) in [(8, c.src()), (24, c.dst())] {
            for half in [0, 8] {
                self.ld(Size::DW, Reg::R4, Reg::R1, off + half);
                self.st(Size::DW, Reg::R6, s + half, Reg::R4);
            }
        }
        self.st(Size::DW, Reg::R6, c.ver(), 6);
    }

    /// Parser hook: the outer IP header is good and its L4 header starts
    /// at `r9`. Uses `r4`.
    pub fn ct_l4(&mut self, inner: bool) {
        let Some(c) = self.ct().filter(|_| !inner) else {
            return;
        };
        self.st(Size::DW, Reg::R6, c.kind, kind::UNTRACKED);
        self.ld(Size::DW, Reg::R4, Reg::R6, slot::PROTO);
        self.st(Size::DW, Reg::R6, c.proto(), Reg::R4);
        self.st(Size::DW, Reg::R6, c.l4off(), Reg::R9);
    }

    /// Parser hook: good outer TCP or UDP ports in `r4`/`r5`, TCP flags in
    /// `flags` (or none for UDP).
    pub fn ct_ports(&mut self, inner: bool, flags: Option<Reg>) {
        let Some(c) = self.ct().filter(|_| !inner) else {
            return;
        };
        self.st(Size::DW, Reg::R6, c.sport(), Reg::R4);
        self.st(Size::DW, Reg::R6, c.dport(), Reg::R5);
        match flags {
            Some(r) => self.st(Size::DW, Reg::R6, c.flags(), r),
            None => self.st(Size::DW, Reg::R6, c.flags(), 0),
        }
        self.st(Size::DW, Reg::R6, c.kind, kind::TUPLE);
    }

    /// Parser hook: a good outer ICMP header at `r1` of family `v6`.
    pub fn ct_icmp(&mut self, inner: bool, v6: bool) {
        let Some(c) = self.ct().filter(|_| !inner) else {
            return;
        };
        let (req, rep) = if v6 { (128, 129) } else { (8, 0) };
        let (echo, done) = (self.label(), self.label());
        self.ld(Size::B, Reg::R4, Reg::R1, 0);
        self.st(Size::DW, Reg::R6, c.flags(), Reg::R4);
        self.st(Size::DW, Reg::R6, c.kind, kind::ICMP);
        self.jif(JmpCond::Eq, Reg::R4, req, echo);
        self.jif(JmpCond::Ne, Reg::R4, rep, done);
        self.bind(echo);
        // Echo is keyed by addresses and identifier (both "ports").
        self.ld(Size::H, Reg::R4, Reg::R1, 4);
        self.swap(Reg::R4, 16);
        self.st(Size::DW, Reg::R6, c.sport(), Reg::R4);
        self.st(Size::DW, Reg::R6, c.dport(), Reg::R4);
        self.st(Size::DW, Reg::R6, c.kind, kind::TUPLE);
        self.bind(done);
    }

    /// `if scratch[s] cond v goto l`, through `r1`.
    fn ct_if(&mut self, s: i16, cond: JmpCond, v: i32, l: Label) {
        self.ld(Size::DW, Reg::R1, Reg::R6, s);
        self.jif(cond, Reg::R1, v, l);
    }

    /// Writes `ct.state`, `ct.direction`, `ct.mark` and the commit to do,
    /// then jumps to `done`. `dir` and `mark` are registers or constants.
    fn ct_result(&mut self, state: CtState, dir: Operand, mark: Operand, commit: i32, done: Label) {
        self.set_imm(FieldRef::outer(Field::CtState), state as i32);
        for (f, v) in [(Field::CtDirection, dir), (Field::CtMark, mark)] {
            match v {
                Operand::Imm(i) => self.set_imm(FieldRef::outer(f), i),
                Operand::Reg(r) => self.set(FieldRef::outer(f), r),
            }
        }
        if let Some(c) = self.ct() {
            self.st(Size::DW, Reg::R6, c.commit(), commit);
        }
        self.ja(done);
    }

    /// The canonical key of the tuple in the tuple slots, into the key
    /// slot, and the packet's orientation into `pkt_dir`.
    fn ct_key(&mut self, c: &CtSlots) {
        let (fwd, rev, common) = (self.label(), self.label(), self.label());
        for half in [0, 8] {
            self.ld(Size::DW, Reg::R1, Reg::R6, c.src() + half);
            self.ld(Size::DW, Reg::R2, Reg::R6, c.dst() + half);
            self.jif(JmpCond::Lt, Reg::R1, Reg::R2, fwd);
            self.jif(JmpCond::Gt, Reg::R1, Reg::R2, rev);
        }
        self.ld(Size::DW, Reg::R1, Reg::R6, c.sport());
        self.ld(Size::DW, Reg::R2, Reg::R6, c.dport());
        // Equal pairs fall through to "key order": such a tuple is its own
        // reverse and always original, as in the software tracker.
        self.jif(JmpCond::Gt, Reg::R1, Reg::R2, rev);
        let k = c.key();
        for (label, first, second, p1, p2, o) in [
            (fwd, c.src(), c.dst(), c.sport(), c.dport(), 0),
            (rev, c.dst(), c.src(), c.dport(), c.sport(), 1),
        ] {
            self.bind(label);
            for (from, to) in [(first, key::A), (second, key::B)] {
                for half in [0, 8] {
                    self.ld(Size::DW, Reg::R1, Reg::R6, from + half);
                    self.st(Size::DW, Reg::R6, k + to + half, Reg::R1);
                }
            }
            for (from, to) in [(p1, key::PORT_A), (p2, key::PORT_B)] {
                self.ld(Size::DW, Reg::R1, Reg::R6, from);
                self.st(Size::H, Reg::R6, k + to, Reg::R1);
            }
            self.st(Size::DW, Reg::R6, c.pkt_dir(), o);
            if o == 0 {
                self.ja(common);
            }
        }
        self.bind(common);
        self.ld(Size::DW, Reg::R1, Reg::R6, c.ver());
        self.alu(AluOp::Lsh, Reg::R1, 8);
        self.ld(Size::DW, Reg::R2, Reg::R6, c.proto());
        self.alu(AluOp::And, Reg::R2, 0xff);
        self.alu(AluOp::Or, Reg::R1, Reg::R2);
        self.st(Size::W, Reg::R6, k + key::PROTO, Reg::R1);
        let mut at = k + key::ZONE;
        for (f, bytes) in c.plan.zone.clone() {
            let s = self.slot(Value::Field(f));
            for half in (0..bytes as i16).step_by(8) {
                match s {
                    Some(s) => {
                        self.ld(Size::DW, Reg::R1, Reg::R6, s + half);
                        self.st(Size::DW, Reg::R6, at + half, Reg::R1);
                    }
                    None => self.st(Size::DW, Reg::R6, at + half, 0),
                }
            }
            at += bytes as i16;
        }
    }

    /// `r2 = r6 + key` and `r1 = &map`, for a helper taking (map, key).
    fn ct_map_key(&mut self, c: &CtSlots) {
        self.asm.ld_map(Reg::R1, CT_MAP);
        self.mov(Reg::R2, Reg::R6);
        self.alu(AluOp::Add, Reg::R2, i32::from(c.key()));
    }

    /// `r0` = the live entry of the key slot, or 0; a dead entry is deleted
    /// on the way (the software tracker's `find`).
    fn ct_find(&mut self, c: &CtSlots, miss: Label) {
        let live = self.label();
        self.ct_map_key(c);
        self.call(helper::MAP_LOOKUP_ELEM);
        self.jif(JmpCond::Eq, Reg::R0, 0, miss);
        self.ld(Size::DW, Reg::R1, Reg::R0, value::EXPIRES);
        self.ld(Size::DW, Reg::R2, Reg::R6, slot::NOW);
        self.jif(JmpCond::Lt, Reg::R2, Reg::R1, live);
        self.ct_map_key(c);
        self.call(helper::MAP_DELETE_ELEM);
        self.ja(miss);
        self.bind(live);
    }

    /// Takes the next use sequence number into the `seq` slot (before a
    /// lock: no atomics or helpers are wanted while it is held).
    fn ct_take_seq(&mut self, c: &CtSlots) {
        let (none, done) = (self.label(), self.label());
        self.st(Size::W, Reg::R10, stack::TMP, 0);
        self.lookup(SEQ_MAP, stack::TMP);
        self.take_next(c.seq(), none);
        self.ja(done);
        // The array always has its entry; fall back to "oldest" all the same.
        self.bind(none);
        self.st(Size::DW, Reg::R6, c.seq(), 0);
        self.bind(done);
    }

    /// `dst = now + timeout`, saturating; `timeout` in `r2`.
    fn ct_expiry(&mut self, dst: Reg) {
        let ok = self.label();
        self.ld(Size::DW, dst, Reg::R6, slot::NOW);
        self.alu(AluOp::Add, dst, Reg::R2);
        self.jif(JmpCond::Ge, dst, Reg::R2, ok);
        self.lddw(dst, u64::MAX);
        self.bind(ok);
    }

    /// `r2` = the timeout of a connection: protocol in `r3`, TCP state in
    /// `r4`, replied in `r5` (the software tracker's `timeout`).
    fn ct_timeout(&mut self, t: &Timeouts) {
        let (udp, icmp, handshake, closing, stream, done) = (
            self.label(),
            self.label(),
            self.label(),
            self.label(),
            self.label(),
            self.label(),
        );
        let (tcp_timeout, other) = (self.label(), self.label());
        self.jif(JmpCond::Eq, Reg::R3, 17, udp);
        self.jif(JmpCond::Eq, Reg::R3, 1, icmp);
        self.jif(JmpCond::Eq, Reg::R3, 58, icmp);
        self.jif(JmpCond::Eq, Reg::R3, 6, tcp_timeout);
        // Never reached (only TCP, UDP and ICMP are tracked), but this is
        // the tracker's rule.
        self.ja(other);
        self.bind(tcp_timeout);
        self.jif(JmpCond::Le, Reg::R4, tcp::SYN_RECV, handshake);
        self.jif(JmpCond::Ne, Reg::R4, tcp::ESTABLISHED, closing);
        self.lddw(Reg::R2, t.tcp_established);
        self.ja(done);
        self.bind(handshake);
        self.lddw(Reg::R2, t.tcp_handshake);
        self.ja(done);
        self.bind(closing);
        self.lddw(Reg::R2, t.tcp_closing);
        self.ja(done);
        self.bind(udp);
        self.jif(JmpCond::Ne, Reg::R5, 0, stream);
        self.lddw(Reg::R2, t.udp);
        self.ja(done);
        self.bind(stream);
        self.lddw(Reg::R2, t.udp_stream);
        self.ja(done);
        self.bind(icmp);
        self.lddw(Reg::R2, t.icmp);
        self.ja(done);
        self.bind(other);
        self.lddw(Reg::R2, t.other);
        self.bind(done);
    }
}

const ZERO: Operand = Operand::Imm(0);

/// The lookup before the pipeline: sets `ct.state`, `ct.direction`,
/// `ct.mark` and what [`commit`] will do. Expects the parser's notes.
pub fn lookup(g: &mut Gen) {
    let Some(c) = g.ct() else { return };
    let done = g.label();
    let (tuple, icmp, untracked) = (g.label(), g.label(), g.label());
    g.ct_if(c.kind, JmpCond::Eq, kind::TUPLE, tuple);
    g.ct_if(c.kind, JmpCond::Eq, kind::ICMP, icmp);
    g.ct_if(c.kind, JmpCond::Eq, kind::UNTRACKED, untracked);
    g.ct_result(CtState::Invalid, ZERO, ZERO, commit_kind::NONE, done);
    g.bind(untracked);
    g.ct_result(CtState::Untracked, ZERO, ZERO, commit_kind::NONE, done);
    g.bind(icmp);
    related(g, &c, done);
    g.bind(tuple);
    tuple_lookup(g, &c, done);
    g.bind(done);
}

/// A TCP, UDP or ICMP echo packet: find its connection, check and advance
/// it, or decide whether it may start one.
fn tuple_lookup(g: &mut Gen, c: &CtSlots, done: Label) {
    g.ct_key(c);
    let (miss, invalid) = (g.label(), g.label());
    g.ct_find(c, miss);
    g.mov(Reg::R9, Reg::R0);
    // Direction: the packet's orientation against the original's.
    g.ld(Size::DW, Reg::R3, Reg::R6, c.pkt_dir());
    g.ld(Size::B, Reg::R4, Reg::R9, value::ORIG);
    g.alu(AluOp::Xor, Reg::R3, Reg::R4);
    g.alu(AluOp::And, Reg::R3, 1);
    g.st(Size::DW, Reg::R6, c.dir(), Reg::R3);
    // An echo request must go the original way and a reply the other: a
    // reply travelling "forwards" matches no request.
    let (checked, request) = (g.label(), g.label());
    g.ld(Size::DW, Reg::R4, Reg::R6, c.proto());
    g.ld(Size::DW, Reg::R5, Reg::R6, c.flags());
    for (proto, req) in [(1, 8), (58, 128)] {
        let next = g.label();
        g.jif(JmpCond::Ne, Reg::R4, proto, next);
        g.jif(JmpCond::Eq, Reg::R5, req, request);
        g.jif(JmpCond::Eq, Reg::R3, 0, invalid);
        g.ja(checked);
        g.bind(next);
    }
    g.ja(checked);
    g.bind(request);
    g.jif(JmpCond::Ne, Reg::R3, 0, invalid);
    g.bind(checked);

    g.ct_take_seq(c);
    g.st(Size::DW, Reg::R6, c.remove(), 0);
    let (timewait, syn_invalid, advanced) = (g.label(), g.label(), g.label());
    g.mov(Reg::R1, Reg::R9);
    g.call(helper::SPIN_LOCK);
    // Locked: no helper calls until the unlock.
    g.ct_if(c.proto(), JmpCond::Ne, 6, advanced);
    tcp_step(g, c, advanced, timewait, syn_invalid);
    g.bind(advanced);
    // A reply marks the connection replied; the packet is established if
    // it is the reply or one was seen before.
    let orig_dir = g.label();
    g.ct_if(c.dir(), JmpCond::Eq, 0, orig_dir);
    g.st(Size::B, Reg::R9, value::REPLIED, 1);
    g.bind(orig_dir);
    // The timer restarts: expiry from the new state, last use, sequence.
    g.ld(Size::B, Reg::R5, Reg::R9, value::REPLIED);
    g.st(Size::DW, Reg::R6, c.replied(), Reg::R5);
    g.ld(Size::DW, Reg::R3, Reg::R6, c.proto());
    g.ld(Size::B, Reg::R4, Reg::R9, value::TCP);
    g.ct_timeout(&c.plan.timeouts);
    g.ct_expiry(Reg::R3);
    g.st(Size::DW, Reg::R9, value::EXPIRES, Reg::R3);
    g.ld(Size::DW, Reg::R3, Reg::R6, slot::NOW);
    g.st(Size::DW, Reg::R9, value::LAST, Reg::R3);
    g.ld(Size::DW, Reg::R3, Reg::R6, c.seq());
    g.st(Size::DW, Reg::R9, value::SEQ, Reg::R3);
    g.ld(Size::W, Reg::R5, Reg::R9, value::MARK);
    g.st(Size::DW, Reg::R6, c.mark(), Reg::R5);
    g.mov(Reg::R1, Reg::R9);
    g.call(helper::SPIN_UNLOCK);
    // A RST ends the connection once it has been processed.
    let kept = g.label();
    g.ct_if(c.remove(), JmpCond::Eq, 0, kept);
    g.ct_map_key(c);
    g.call(helper::MAP_DELETE_ELEM);
    g.bind(kept);
    let new_state = g.label();
    g.ld(Size::DW, Reg::R4, Reg::R6, c.dir());
    g.ld(Size::DW, Reg::R5, Reg::R6, c.mark());
    g.ct_if(c.replied(), JmpCond::Eq, 0, new_state);
    let (dir, mark) = (Operand::Reg(Reg::R4), Operand::Reg(Reg::R5));
    g.ct_result(CtState::Established, dir, mark, commit_kind::MARK, done);
    g.bind(new_state);
    g.ct_result(CtState::New, dir, mark, commit_kind::MARK, done);

    // A SYN in the original direction on TIME_WAIT removes the old
    // connection and is new.
    g.bind(timewait);
    g.mov(Reg::R1, Reg::R9);
    g.call(helper::SPIN_UNLOCK);
    g.ct_map_key(c);
    g.call(helper::MAP_DELETE_ELEM);
    g.ct_result(CtState::New, ZERO, ZERO, commit_kind::NEW, done);

    // Any other SYN but a retransmitted one is invalid, with the
    // connection's direction and mark; nothing changes.
    g.bind(syn_invalid);
    g.ld(Size::W, Reg::R5, Reg::R9, value::MARK);
    g.st(Size::DW, Reg::R6, c.mark(), Reg::R5);
    g.mov(Reg::R1, Reg::R9);
    g.call(helper::SPIN_UNLOCK);
    g.ld(Size::DW, Reg::R4, Reg::R6, c.dir());
    g.ld(Size::DW, Reg::R5, Reg::R6, c.mark());
    g.ct_result(CtState::Invalid, dir, mark, commit_kind::NONE, done);

    g.bind(invalid);
    g.ct_result(CtState::Invalid, ZERO, ZERO, commit_kind::NONE, done);

    // No live connection: a plain SYN, any UDP packet and an echo request
    // start one; anything else is invalid.
    g.bind(miss);
    let (is_new, not_tcp) = (g.label(), g.label());
    g.ld(Size::DW, Reg::R4, Reg::R6, c.proto());
    g.ld(Size::DW, Reg::R5, Reg::R6, c.flags());
    g.jif(JmpCond::Eq, Reg::R4, 17, is_new);
    g.jif(JmpCond::Ne, Reg::R4, 6, not_tcp);
    g.alu(AluOp::And, Reg::R5, SYN | ACK | RST | FIN);
    g.jif(JmpCond::Eq, Reg::R5, SYN, is_new);
    g.ja(invalid);
    g.bind(not_tcp);
    for (proto, req) in [(1, 8), (58, 128)] {
        let next = g.label();
        g.jif(JmpCond::Ne, Reg::R4, proto, next);
        g.jif(JmpCond::Eq, Reg::R5, req, is_new);
        g.bind(next);
    }
    g.ja(invalid);
    g.bind(is_new);
    g.ct_result(CtState::New, ZERO, ZERO, commit_kind::NEW, done);
}

/// The TCP part of a lookup on a live connection (`r9`, locked), the
/// software tracker's rules in its order: a RST ends the connection after
/// this packet (which sees the state it had); a SYN in the original
/// direction on TIME_WAIT goes to `timewait`; any other SYN but a
/// retransmitted one goes to `syn_invalid`; else `advance`. Ends at `advanced`.
fn tcp_step(g: &mut Gen, c: &CtSlots, advanced: Label, timewait: Label, syn_invalid: Label) {
    let (rst, not_syn) = (g.label(), g.label());
    g.ld(Size::DW, Reg::R4, Reg::R6, c.flags());
    g.jif(JmpCond::Set, Reg::R4, RST, rst);
    g.ld(Size::DW, Reg::R2, Reg::R6, c.dir());
    g.ld(Size::B, Reg::R3, Reg::R9, value::TCP);
    g.mov(Reg::R5, Reg::R4);
    g.alu(AluOp::And, Reg::R5, SYN | ACK);
    g.jif(JmpCond::Ne, Reg::R5, SYN, not_syn);
    g.jif(JmpCond::Ne, Reg::R2, 0, syn_invalid);
    g.jif(JmpCond::Eq, Reg::R3, tcp::TIME_WAIT, timewait);
    g.jif(JmpCond::Ne, Reg::R3, tcp::SYN_SENT, syn_invalid);
    g.bind(not_syn);
    advance(g, advanced);
    g.bind(rst);
    g.st(Size::DW, Reg::R6, c.remove(), 1);
    g.ja(advanced);
}

/// The simplified nf_conntrack machine (the software tracker's
/// `advance`): `r2` direction, `r3` state, `r4` flags, value at `r9`.
/// Records FINs, stores the next state and jumps to `advanced`.
fn advance(g: &mut Gen, advanced: Label) {
    let (fins_done, has_fin) = (g.label(), g.label());
    g.ld(Size::B, Reg::R5, Reg::R9, value::FINS);
    g.jif(JmpCond::Set, Reg::R4, FIN, has_fin);
    g.ja(fins_done);
    // A FIN: bit 0 for the original direction, bit 1 for the reply.
    g.bind(has_fin);
    g.mov(Reg::R0, Reg::R2);
    g.alu(AluOp::Add, Reg::R0, 1);
    g.alu(AluOp::Or, Reg::R5, Reg::R0);
    g.st(Size::B, Reg::R9, value::FINS, Reg::R5);
    g.bind(fins_done);
    g.mov(Reg::R0, Reg::R4);
    g.alu(AluOp::And, Reg::R0, SYN | ACK);
    let (store, generic) = (g.label(), g.label());
    let (syn_sent, syn_recv) = (g.label(), g.label());
    g.jif(JmpCond::Eq, Reg::R3, tcp::SYN_SENT, syn_sent);
    g.jif(JmpCond::Eq, Reg::R3, tcp::SYN_RECV, syn_recv);
    g.ja(generic);
    // SYN_SENT, a SYN-ACK in the reply direction: SYN_RECV.
    g.bind(syn_sent);
    g.jif(JmpCond::Eq, Reg::R2, 0, generic);
    g.jif(JmpCond::Ne, Reg::R0, SYN | ACK, generic);
    g.mov(Reg::R3, tcp::SYN_RECV);
    g.ja(store);
    // SYN_RECV, an ACK without SYN in the original direction: ESTABLISHED.
    g.bind(syn_recv);
    g.jif(JmpCond::Ne, Reg::R2, 0, generic);
    g.jif(JmpCond::Ne, Reg::R0, ACK, generic);
    g.mov(Reg::R3, tcp::ESTABLISHED);
    g.ja(store);
    // Both FINs seen: the ACK on LAST_ACK is TIME_WAIT, TIME_WAIT stays,
    // anything else is LAST_ACK.
    g.bind(generic);
    let (one_fin, last_ack, time_wait) = (g.label(), g.label(), g.label());
    g.jif(JmpCond::Ne, Reg::R5, 3, one_fin);
    g.jif(JmpCond::Eq, Reg::R3, tcp::TIME_WAIT, advanced);
    g.jif(JmpCond::Ne, Reg::R3, tcp::LAST_ACK, last_ack);
    g.jif(JmpCond::Set, Reg::R4, ACK, time_wait);
    g.bind(last_ack);
    g.mov(Reg::R3, tcp::LAST_ACK);
    g.ja(store);
    g.bind(time_wait);
    g.mov(Reg::R3, tcp::TIME_WAIT);
    g.ja(store);
    // One FIN on ESTABLISHED or SYN_RECV: FIN_WAIT (original's) or
    // CLOSE_WAIT (reply's).
    g.bind(one_fin);
    let (half_open, fin_wait) = (g.label(), g.label());
    g.jif(JmpCond::Eq, Reg::R3, tcp::ESTABLISHED, half_open);
    g.jif(JmpCond::Ne, Reg::R3, tcp::SYN_RECV, advanced);
    g.bind(half_open);
    g.jif(JmpCond::Set, Reg::R5, 1, fin_wait);
    g.jif(JmpCond::Eq, Reg::R5, 0, advanced);
    g.mov(Reg::R3, tcp::CLOSE_WAIT);
    g.ja(store);
    g.bind(fin_wait);
    g.mov(Reg::R3, tcp::FIN_WAIT);
    g.bind(store);
    g.st(Size::B, Reg::R9, value::TCP, Reg::R3);
    g.ja(advanced);
}

/// An ICMP message that is not an echo: `related` when it is an error
/// whose quoted header's tuple has a live connection (the software
/// tracker's `related` over `packet::quoted`): an error whose quote cannot
/// be read is untracked, one whose quote names no connection invalid.
fn related(g: &mut Gen, c: &CtSlots, done: Label) {
    let (error, untracked, invalid) = (g.label(), g.label(), g.label());
    g.ld(Size::DW, Reg::R4, Reg::R6, c.proto());
    g.ld(Size::DW, Reg::R5, Reg::R6, c.flags());
    let v4 = g.label();
    g.jif(JmpCond::Ne, Reg::R4, 58, v4);
    // ICMPv6 errors are types 1 to 4.
    g.jif(JmpCond::Eq, Reg::R5, 0, untracked);
    g.jif(JmpCond::Le, Reg::R5, 4, error);
    g.ja(untracked);
    g.bind(v4);
    for ty in [3, 4, 5, 11, 12] {
        g.jif(JmpCond::Eq, Reg::R5, ty, error);
    }
    g.ja(untracked);

    // The quote: an IP header (only its addresses and protocol are read,
    // as it is usually truncated) and the first 8 bytes of its L4 header.
    g.bind(error);
    g.load_packet_pointers();
    g.ld(Size::DW, Reg::R9, Reg::R6, c.l4off());
    g.alu(AluOp::Add, Reg::R9, 8);
    g.jif(JmpCond::Gt, Reg::R9, MAX_OFFSET, untracked);
    g.need(1, untracked);
    let (q4, q6, q_l4) = (g.label(), g.label(), g.label());
    g.ld(Size::B, Reg::R3, Reg::R1, 0);
    g.alu(AluOp::Rsh, Reg::R3, 4);
    g.jif(JmpCond::Eq, Reg::R3, 4, q4);
    g.jif(JmpCond::Eq, Reg::R3, 6, q6);
    g.ja(untracked);
    g.bind(q4);
    g.need(20, untracked);
    g.ct_ipv4(false);
    g.ld(Size::B, Reg::R4, Reg::R1, 9);
    g.ld(Size::B, Reg::R3, Reg::R1, 0);
    g.alu(AluOp::And, Reg::R3, 0x0f);
    g.alu(AluOp::Lsh, Reg::R3, 2);
    g.alu(AluOp::Add, Reg::R9, Reg::R3);
    g.ja(q_l4);
    g.bind(q6);
    g.need(40, untracked);
    g.ct_ipv6(false);
    g.ld(Size::B, Reg::R4, Reg::R1, 6);
    g.alu(AluOp::Add, Reg::R9, 40);
    g.bind(q_l4);
    g.st(Size::DW, Reg::R6, c.proto(), Reg::R4);
    g.jif(JmpCond::Gt, Reg::R9, MAX_OFFSET, untracked);
    g.need(8, untracked);
    let (ports, echo_id, keyed) = (g.label(), g.label(), g.label());
    g.ld(Size::DW, Reg::R4, Reg::R6, c.proto());
    g.jif(JmpCond::Eq, Reg::R4, 6, ports);
    g.jif(JmpCond::Eq, Reg::R4, 17, ports);
    g.jif(JmpCond::Eq, Reg::R4, 1, echo_id);
    g.jif(JmpCond::Eq, Reg::R4, 58, echo_id);
    // A quote of another protocol names no connection.
    g.ja(invalid);
    g.bind(ports);
    for (off, s) in [(0, c.sport()), (2, c.dport())] {
        g.ld(Size::H, Reg::R4, Reg::R1, off);
        g.swap(Reg::R4, 16);
        g.st(Size::DW, Reg::R6, s, Reg::R4);
    }
    g.ja(keyed);
    // A quoted ICMP message is keyed by its identifier.
    g.bind(echo_id);
    g.ld(Size::H, Reg::R4, Reg::R1, 4);
    g.swap(Reg::R4, 16);
    g.st(Size::DW, Reg::R6, c.sport(), Reg::R4);
    g.st(Size::DW, Reg::R6, c.dport(), Reg::R4);
    g.bind(keyed);
    g.ct_key(c);
    g.ct_find(c, invalid);
    g.ld(Size::W, Reg::R5, Reg::R0, value::MARK);
    g.ct_result(
        CtState::Related,
        Operand::Imm(1),
        Operand::Reg(Reg::R5),
        commit_kind::MARK,
        done,
    );
    g.bind(invalid);
    g.ct_result(CtState::Invalid, ZERO, ZERO, commit_kind::NONE, done);
    g.bind(untracked);
    g.ct_result(CtState::Untracked, ZERO, ZERO, commit_kind::NONE, done);
}

/// After the verdict: an accepted (or forwarded) packet that was not
/// `notrack`ed creates its connection if it is new, or writes `ct.mark`
/// back to the one it belongs to (the software pipeline's `ct_commit`).
/// When the table is full and nothing can be purged or evicted, the packet
/// is dropped with no rule and a `ct_full` event.
pub fn commit(g: &mut Gen) {
    let Some(c) = g.ct() else { return };
    let plan = c.plan.clone();
    let (done, full) = (g.label(), g.label());
    let (accepted, new) = (g.label(), g.label());
    g.ld(Size::DW, Reg::R1, Reg::R6, slot::VERDICT);
    g.jif(
        JmpCond::Eq,
        Reg::R1,
        layout::verdict::ACCEPT as i32,
        accepted,
    );
    g.jif(JmpCond::Ne, Reg::R1, layout::verdict::FORWARD as i32, done);
    g.bind(accepted);
    g.ct_if(c.notrack(), JmpCond::Ne, 0, done);
    g.ct_if(c.commit(), JmpCond::Eq, commit_kind::NEW, new);
    if plan.sets_mark {
        // Only `set ct.mark` can make the mark differ from the one read.
        g.ct_if(c.commit(), JmpCond::Ne, commit_kind::MARK, done);
        g.ct_map_key(&c);
        g.call(helper::MAP_LOOKUP_ELEM);
        g.jif(JmpCond::Eq, Reg::R0, 0, done);
        if let Some(s) = g.slot(Value::Field(FieldRef::outer(Field::CtMark))) {
            g.ld(Size::DW, Reg::R1, Reg::R6, s);
            g.st(Size::W, Reg::R0, value::MARK, Reg::R1);
        }
    }
    g.ja(done);

    g.bind(new);
    if plan.max_entries == 0 {
        // A table of no entries is always full.
        g.ja(full);
    } else {
        stage_and_insert(g, &c, done, full);
    }
    refuse(g, full);
    g.bind(done);
}

/// Stages the new entry and inserts it; on a full table, purges the
/// expired entries (and finds the oldest live one), tries again, then
/// evicts it or goes to `full`.
fn stage_and_insert(g: &mut Gen, c: &CtSlots, done: Label, full: Label) {
    let plan = &c.plan;
    // The entry, staged in scratch.
    let v = c.val();
    g.ct_take_seq(c);
    g.st(Size::DW, Reg::R6, v + value::LOCK, 0);
    // The mark as the policy left it (0 unless a rule set it).
    if let Some(s) = g.slot(Value::Field(FieldRef::outer(Field::CtMark))) {
        g.ld(Size::DW, Reg::R1, Reg::R6, s);
        g.st(Size::W, Reg::R6, v + value::MARK, Reg::R1);
    }
    g.ld(Size::DW, Reg::R1, Reg::R6, slot::NOW);
    g.st(Size::DW, Reg::R6, v + value::LAST, Reg::R1);
    g.ld(Size::DW, Reg::R1, Reg::R6, c.seq());
    g.st(Size::DW, Reg::R6, v + value::SEQ, Reg::R1);
    g.st(Size::DW, Reg::R6, v + value::ORIG, 0);
    g.ld(Size::DW, Reg::R1, Reg::R6, c.pkt_dir());
    g.st(Size::B, Reg::R6, v + value::ORIG, Reg::R1);
    let tcp_state = g.label();
    g.ld(Size::DW, Reg::R3, Reg::R6, c.proto());
    g.mov(Reg::R4, 0);
    g.jif(JmpCond::Ne, Reg::R3, 6, tcp_state);
    g.mov(Reg::R4, tcp::SYN_SENT);
    g.bind(tcp_state);
    g.st(Size::B, Reg::R6, v + value::TCP, Reg::R4);
    g.mov(Reg::R5, 0);
    g.ct_timeout(&plan.timeouts);
    g.ct_expiry(Reg::R3);
    g.st(Size::DW, Reg::R6, v + value::EXPIRES, Reg::R3);
    let (purge, evict) = (g.label(), g.label());
    insert_staged(g, c);
    g.jif(JmpCond::Eq, Reg::R0, 0, done);
    // Another CPU created it meanwhile: it exists, which is what we wanted.
    g.jif(JmpCond::Eq, Reg::R0, -EEXIST, done);
    g.jif(JmpCond::Eq, Reg::R0, -E2BIG, purge);
    g.ja(full);
    g.bind(purge);
    let at = c.ctx;
    g.ld(Size::DW, Reg::R1, Reg::R6, slot::NOW);
    g.st(Size::DW, Reg::R10, at + ctx::NOW, Reg::R1);
    for off in (ctx::HAVE..plan.stack_bytes()).step_by(8) {
        g.st(Size::DW, Reg::R10, at + off, 0);
    }
    g.asm.ld_map(Reg::R1, CT_MAP);
    g.asm.ld_func(Reg::R2, SWEEP);
    g.mov(Reg::R3, Reg::R10);
    g.alu(AluOp::Add, Reg::R3, i32::from(at));
    g.mov(Reg::R4, 0);
    g.call(helper::FOR_EACH_MAP_ELEM);
    insert_staged(g, c);
    g.jif(JmpCond::Eq, Reg::R0, 0, done);
    g.jif(JmpCond::Eq, Reg::R0, -EEXIST, done);
    if plan.evict {
        g.jif(JmpCond::Eq, Reg::R0, -E2BIG, evict);
        g.ja(full);
        g.bind(evict);
        g.ld(Size::DW, Reg::R1, Reg::R10, at + ctx::HAVE);
        g.jif(JmpCond::Eq, Reg::R1, 0, full);
        g.asm.ld_map(Reg::R1, CT_MAP);
        g.mov(Reg::R2, Reg::R10);
        g.alu(AluOp::Add, Reg::R2, i32::from(at + ctx::KEY));
        g.call(helper::MAP_DELETE_ELEM);
        insert_staged(g, c);
        g.jif(JmpCond::Eq, Reg::R0, 0, done);
        g.jif(JmpCond::Eq, Reg::R0, -EEXIST, done);
    }
    g.ja(full);
}

/// Refused: dropped, no rule, and a `ct_full` event.
fn refuse(g: &mut Gen, full: Label) {
    g.bind(full);
    g.st(
        Size::DW,
        Reg::R6,
        slot::VERDICT,
        layout::verdict::DROP as i32,
    );
    g.st(Size::DW, Reg::R6, slot::RULE, -1);
    g.event(None, layout::EVENT_CT_FULL as i32);
}

/// `r0 = bpf_map_update_elem(dpuc_ct, key, staged value, BPF_NOEXIST)`.
fn insert_staged(g: &mut Gen, c: &CtSlots) {
    g.ct_map_key(c);
    g.mov(Reg::R3, Reg::R6);
    g.alu(AluOp::Add, Reg::R3, i32::from(c.val()));
    g.mov(Reg::R4, 1);
    g.call(helper::MAP_UPDATE_ELEM);
}

/// The sweep: `bpf_for_each_map_elem` callback `(map, key, value, ctx)`
/// that deletes every entry expired at `ctx.now` and, for `evict_oldest`,
/// keeps in `ctx` the key of the live entry with the least `(last use,
/// sequence)`. Returns 0 (go on) always: every entry must be seen.
pub fn sweep_callback(plan: &Plan) -> Program {
    let mut p = Program::new();
    let live = p.label();
    p.push(Insn::load(Size::DW, Reg::R0, Reg::R3, value::EXPIRES))
        .push(Insn::load(Size::DW, Reg::R5, Reg::R4, ctx::NOW))
        .jump_if(JmpCond::Lt, Reg::R5, Reg::R0, live)
        .push(Insn::call(helper::MAP_DELETE_ELEM))
        .push(Insn::mov64(Reg::R0, 0))
        .push(Insn::exit())
        .bind(live);
    if plan.evict {
        let (take, keep) = (p.label(), p.label());
        p.push(Insn::load(Size::DW, Reg::R5, Reg::R4, ctx::HAVE))
            .jump_if(JmpCond::Eq, Reg::R5, 0, take)
            .push(Insn::load(Size::DW, Reg::R0, Reg::R3, value::LAST))
            .push(Insn::load(Size::DW, Reg::R5, Reg::R4, ctx::LAST))
            .jump_if(JmpCond::Lt, Reg::R0, Reg::R5, take)
            .jump_if(JmpCond::Gt, Reg::R0, Reg::R5, keep)
            .push(Insn::load(Size::DW, Reg::R0, Reg::R3, value::SEQ))
            .push(Insn::load(Size::DW, Reg::R5, Reg::R4, ctx::SEQ))
            .jump_if(JmpCond::Ge, Reg::R0, Reg::R5, keep)
            .bind(take)
            .push(Insn::store(Size::DW, Reg::R4, ctx::HAVE, 1))
            .push(Insn::load(Size::DW, Reg::R0, Reg::R3, value::LAST))
            .push(Insn::store(Size::DW, Reg::R4, ctx::LAST, Reg::R0))
            .push(Insn::load(Size::DW, Reg::R0, Reg::R3, value::SEQ))
            .push(Insn::store(Size::DW, Reg::R4, ctx::SEQ, Reg::R0));
        for off in (0..plan.key_size() as i16).step_by(8) {
            p.push(Insn::load(Size::DW, Reg::R0, Reg::R2, off))
                .push(Insn::store(Size::DW, Reg::R4, ctx::KEY + off, Reg::R0));
        }
        p.bind(keep);
    }
    p.push(Insn::mov64(Reg::R0, 0)).push(Insn::exit());
    p
}

/// The layout's description of the tracker's maps.
pub fn layout_doc(plan: &Plan) -> layout::CtLayout {
    layout::CtLayout {
        map: CT_MAP.into(),
        seq_map: SEQ_MAP.into(),
        max_entries: plan.max_entries,
        evict_oldest: plan.evict,
        key: plan.key_fields(),
        value: Plan::value_fields(),
    }
}
