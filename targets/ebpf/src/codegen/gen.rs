//! The code generator's state: the assembler, the stack frame and the
//! hook, with small emission helpers the other passes share.
//!
//! Register use: `r6` points at the per-CPU scratch value (the context
//! is spilled to the stack); `r7`/`r8`
//! hold `data`/`data_end` while parsing and are scratch afterwards; `r9` is
//! the parse offset, then the matched entry. Field values live in stack
//! scratch slots (numbers in host order; IPv6 addresses as 16 raw bytes).

use crate::insn::{helper, AluOp, ByteOrder, Insn, JmpCond, Label, Operand, Program, Reg, Size};
use dpuc_ir::{FieldRef, HitId};
use std::collections::BTreeMap;

use super::Hook;

/// Per-packet state in the per-CPU scratch map value (offsets from `r6`).
/// It lives in a map rather than on the stack so the verifier does not
/// track each parse outcome's constants into the tables: states merge after
/// parsing, and large policies stay within its complexity limit.
pub mod slot {
    /// The rule that decided (`u32::MAX`: none).
    pub const RULE: i16 = 0;
    /// Last meter colour (0 none, 1 green, 2 yellow, 3 red).
    pub const COLOR: i16 = 8;
    /// The clock.
    pub const NOW: i16 = 16;
    /// Frame length.
    pub const LEN: i16 = 24;
    /// Offset of the outer IP header (`NONE`: no IP).
    pub const IPOFF: i16 = 32;
    /// Offset of the outer VLAN TCI (`NONE`: no tag).
    pub const VLANOFF: i16 = 40;
    /// Verdict code.
    pub const VERDICT: i16 = 48;
    /// Port id of a forward or of the line's destination.
    pub const VPORT: i16 = 56;
    /// The parsed L4 protocol.
    pub const PROTO: i16 = 64;
    /// The parsed fragment position.
    pub const FRAG: i16 = 72;
    /// Start of the layer being parsed.
    pub const L2: i16 = 80;
    /// Start of the IP header being parsed.
    pub const L3: i16 = 88;
    /// Ingress port number.
    pub const INPORT: i16 = 96;
    /// The rule of the entry being run.
    pub const CUR: i16 = 104;
    /// The parse offset, passed through memory to forget its history.
    pub const POS: i16 = 112;
    /// Where field and hit values start.
    pub const VALUES: i16 = 120;
    /// "No offset" marker in `IPOFF`/`VLANOFF`.
    pub const NONE: i32 = 0xffff;
}

/// Stack slots (offsets from `r10`): map keys and spilled pointers.
pub mod stack {
    /// The context pointer.
    pub const CTX: i16 = -8;
    /// Scratch for 4-byte map keys.
    pub const TMP: i16 = -16;
    /// LPM key buffer (24 bytes).
    pub const KEY: i16 = -40;
    /// Aggregate bits not yet visited.
    pub const AGG: i16 = -48;
    /// First of the per-key bitmap pointers (downwards).
    pub const KPTR: i16 = -56;
    /// The context of a `bpf_for_each_map_elem` walk (the tracker's sweep,
    /// a keyed meter's eviction), upwards from the bottom of the stack
    /// less [`CALLBACK_FRAME`].
    pub const WALK: i16 = -super::STACK + CALLBACK_FRAME;
    /// Stack left for a callback's frame: the verifier counts it against
    /// the same 512 bytes as its caller's.
    pub const CALLBACK_FRAME: i16 = 32;
}

/// What a stack slot holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Value {
    /// A field.
    Field(FieldRef),
    /// A set-membership bit.
    Hit(HitId),
}

/// Emission state.
pub struct Gen {
    /// The code.
    pub asm: Program,
    /// Which hook the program is for.
    pub hook: Hook,
    /// Field and hit slots.
    pub slots: BTreeMap<Value, i16>,
    /// The hit bit each set-lookup table writes.
    pub hit_of_table: BTreeMap<usize, HitId>,
    /// A test build (clock and port from `dpuc_cfg`, a trace, no copies).
    pub test_clock: bool,
    /// The connection tracker's slots, when the policy has one.
    pub ct: Option<super::conntrack::CtSlots>,
    /// The keyed meters' slots, when the policy has some.
    pub keyed: Option<super::keyed::KeyedSlots>,
}

/// The stack the kernel gives a program.
pub const STACK: i16 = 512;

/// Bytes of scratch for `values` (the tracker's and the keyed meters' slots
/// come after them).
pub fn scratch_size(values: &[Value]) -> u32 {
    let wide = |v: &Value| matches!(v, Value::Field(f) if f.field.width() > 64);
    slot::VALUES as u32
        + values
            .iter()
            .map(|v| if wide(v) { 16 } else { 8 })
            .sum::<u32>()
}

impl Gen {
    /// A generator with slots for `values`, with `reserve` bytes at the
    /// bottom of the stack left free; `None` if they do not fit.
    pub fn new(
        hook: Hook,
        values: &[Value],
        max_keys: usize,
        hit_of_table: BTreeMap<usize, HitId>,
        test_clock: bool,
        reserve: i16,
    ) -> Option<Gen> {
        let low = stack::KPTR as i32 - 8 * (max_keys as i32 - 1).max(0);
        if low < -(STACK as i32) + i32::from(reserve) {
            return None;
        }
        let mut slots = BTreeMap::new();
        let mut at = slot::VALUES;
        for v in values {
            slots.insert(*v, at);
            at += match v {
                Value::Field(f) if f.field.width() > 64 => 16,
                _ => 8,
            };
        }
        Some(Gen {
            asm: Program::new(),
            hook,
            slots,
            hit_of_table,
            test_clock,
            ct: None,
            keyed: None,
        })
    }

    /// A fresh label.
    pub fn label(&mut self) -> Label {
        self.asm.label()
    }

    /// Binds `l` here.
    pub fn bind(&mut self, l: Label) {
        self.asm.bind(l);
    }

    /// Emits one instruction.
    pub fn i(&mut self, insn: Insn) {
        self.asm.push(insn);
    }

    /// `dst = src` (64-bit).
    pub fn mov(&mut self, dst: Reg, src: impl Into<Operand>) {
        self.i(Insn::mov64(dst, src));
    }

    /// `dst op= src` (64-bit).
    pub fn alu(&mut self, op: AluOp, dst: Reg, src: impl Into<Operand>) {
        self.i(Insn::alu64(op, dst, src));
    }

    /// `dst = imm` for any 64-bit value.
    pub fn lddw(&mut self, dst: Reg, imm: u64) {
        if imm <= i32::MAX as u64 {
            self.mov(dst, imm as i32);
        } else {
            self.i(Insn::LdImm64 { dst, imm });
        }
    }

    /// `dst = *(size *)(src + off)`.
    pub fn ld(&mut self, size: Size, dst: Reg, src: Reg, off: i16) {
        self.i(Insn::load(size, dst, src, off));
    }

    /// `*(size *)(dst + off) = src`.
    pub fn st(&mut self, size: Size, dst: Reg, off: i16, src: impl Into<Operand>) {
        self.i(Insn::store(size, dst, off, src));
    }

    /// `if dst cond src goto l`.
    pub fn jif(&mut self, cond: JmpCond, dst: Reg, src: impl Into<Operand>, l: Label) {
        self.asm.jump_if(cond, dst, src, l);
    }

    /// `goto l`.
    pub fn ja(&mut self, l: Label) {
        self.asm.jump(l);
    }

    /// Calls a helper.
    /// Takes the next number of the shared counter `r0` points to (an
    /// atomic fetch-and-add) into scratch slot `dst`; jumps to `missing`
    /// when the lookup that set `r0` found nothing.
    pub fn take_next(&mut self, dst: i16, missing: Label) {
        self.jif(JmpCond::Eq, Reg::R0, 0, missing);
        self.mov(Reg::R1, 1);
        self.i(Insn::Atomic {
            size: Size::DW,
            op: crate::insn::AtomicOp::FetchAdd,
            dst: Reg::R0,
            src: Reg::R1,
            off: 0,
        });
        self.alu(AluOp::Add, Reg::R1, 1);
        self.st(Size::DW, Reg::R6, dst, Reg::R1);
    }

    /// Sends a 16-byte event record to the ring buffer: the rule (read
    /// from scratch slot `rule`, or -1 for none), `kind`, the frame length
    /// and the ingress port. A full buffer loses the record, never the verdict.
    pub fn event(&mut self, rule: Option<i16>, kind: i32) {
        let record = stack::KEY;
        match rule {
            Some(slot) => {
                self.ld(Size::DW, Reg::R1, Reg::R6, slot);
                self.st(Size::W, Reg::R10, record, Reg::R1);
            }
            None => self.st(Size::W, Reg::R10, record, -1),
        }
        self.st(Size::W, Reg::R10, record + 4, kind);
        self.ld(Size::DW, Reg::R1, Reg::R6, slot::LEN);
        self.st(Size::W, Reg::R10, record + 8, Reg::R1);
        self.ld(Size::DW, Reg::R1, Reg::R6, slot::INPORT);
        self.st(Size::W, Reg::R10, record + 12, Reg::R1);
        self.asm.ld_map(Reg::R1, super::layout::EVENTS_MAP);
        self.mov(Reg::R2, Reg::R10);
        self.alu(AluOp::Add, Reg::R2, i32::from(record));
        self.mov(Reg::R3, 16);
        self.mov(Reg::R4, 0);
        self.call(helper::RINGBUF_OUTPUT);
    }

    pub fn call(&mut self, h: i32) {
        self.i(Insn::call(h));
    }

    /// Converts the low `bits` of `r` from network to host order (or back).
    pub fn swap(&mut self, r: Reg, bits: u8) {
        self.i(Insn::End {
            order: ByteOrder::ToBe,
            bits,
            dst: r,
        });
    }

    /// `r0 = bpf_map_lookup_elem(&map, r10 + key)`.
    pub fn lookup(&mut self, map: &str, key: i16) {
        self.asm.ld_map(Reg::R1, map);
        self.mov(Reg::R2, Reg::R10);
        self.alu(AluOp::Add, Reg::R2, i32::from(key));
        self.call(helper::MAP_LOOKUP_ELEM);
    }

    /// `r0 = lookup(map, u32 index in r)`; clobbers `r1`–`r5`.
    pub fn lookup_index(&mut self, map: &str, r: Reg) {
        self.st(Size::W, Reg::R10, stack::TMP, r);
        self.lookup(map, stack::TMP);
    }

    /// The slot of `v`, if the program uses it.
    pub fn slot(&self, v: Value) -> Option<i16> {
        self.slots.get(&v).copied()
    }

    /// Stores `r` (a number) into `f`'s slot, if it has one.
    pub fn set(&mut self, f: FieldRef, r: Reg) {
        if let Some(s) = self.slot(Value::Field(f)) {
            self.st(Size::DW, Reg::R6, s, r);
        }
    }

    /// Stores a constant into `f`'s slot, if it has one.
    pub fn set_imm(&mut self, f: FieldRef, v: i32) {
        if let Some(s) = self.slot(Value::Field(f)) {
            self.st(Size::DW, Reg::R6, s, v);
        }
    }

    /// `r1 = data + r9`, and a jump to `short` unless `n` bytes are there.
    pub fn need(&mut self, n: i32, short: Label) {
        self.mov(Reg::R1, Reg::R7);
        self.alu(AluOp::Add, Reg::R1, Reg::R9);
        self.mov(Reg::R2, Reg::R1);
        self.alu(AluOp::Add, Reg::R2, n);
        self.jif(JmpCond::Gt, Reg::R2, Reg::R8, short);
    }

    /// Loads `data` and `data_end` into `r7` and `r8` from the context.
    pub fn load_packet_pointers(&mut self) {
        let (d, e) = match self.hook {
            Hook::Xdp => (0, 4),
            Hook::Tc => (76, 80),
        };
        self.ctx(Reg::R1);
        self.ld(Size::W, Reg::R7, Reg::R1, d);
        self.ld(Size::W, Reg::R8, Reg::R1, e);
    }

    /// Loads the context pointer into `r`.
    pub fn ctx(&mut self, r: Reg) {
        self.ld(Size::DW, r, Reg::R10, stack::CTX);
    }

    /// Adds one packet of the frame's length to `{packets, bytes}` at `r0`
    /// (a per-CPU value, so plain adds suffice).
    pub fn count_at_r0(&mut self) {
        self.ld(Size::DW, Reg::R1, Reg::R0, 0);
        self.alu(AluOp::Add, Reg::R1, 1);
        self.st(Size::DW, Reg::R0, 0, Reg::R1);
        self.ld(Size::DW, Reg::R1, Reg::R0, 8);
        self.ld(Size::DW, Reg::R2, Reg::R6, slot::LEN);
        self.alu(AluOp::Add, Reg::R1, Reg::R2);
        self.st(Size::DW, Reg::R0, 8, Reg::R1);
    }
}
