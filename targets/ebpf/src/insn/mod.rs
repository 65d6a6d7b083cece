//! eBPF instructions: a typed [`Insn`] enum, its 8-byte encodings, an
//! assembler with labels ([`Program`]) and a bpftool-like listing.
//!
//! Encoding follows the kernel's `Documentation/bpf/standardization/
//! instruction-set.rst`: every slot is `u8 opcode, u8 (src << 4 | dst),
//! i16 offset, i32 imm`, little endian; `ld_imm64` takes two slots.
//! Instructions of the "cpu v4" set (sign-extending loads and moves, signed
//! division, `bswap`, 32-bit `gotol`) are included: kernel 6.18 runs them.

mod asm;
mod listing;

pub use asm::{Assembled, FuncRef, Label, MapRef, Program};
pub use listing::{helper_name, listing};

use crate::Error;

/// Opcode classes (low three bits).
const CLASS_LD: u8 = 0x00;
const CLASS_LDX: u8 = 0x01;
const CLASS_ST: u8 = 0x02;
const CLASS_STX: u8 = 0x03;
const CLASS_ALU: u8 = 0x04;
const CLASS_JMP: u8 = 0x05;
const CLASS_JMP32: u8 = 0x06;
const CLASS_ALU64: u8 = 0x07;

/// Source bit of ALU and JMP opcodes: immediate or register.
const SRC_K: u8 = 0x00;
const SRC_X: u8 = 0x08;

/// Mode bits of load and store opcodes.
const MODE_IMM: u8 = 0x00;
const MODE_MEM: u8 = 0x60;
const MODE_ATOMIC: u8 = 0xc0;
const MODE_MEMSX: u8 = 0x80;

/// ALU operation codes that are not in [`AluOp`].
const ALU_NEG: u8 = 0x80;
const ALU_END: u8 = 0xd0;

/// JMP operation codes that are not in [`JmpCond`].
const JMP_JA: u8 = 0x00;
const JMP_CALL: u8 = 0x80;
const JMP_EXIT: u8 = 0x90;

/// Atomic operation bits (in `imm`).
const ATOMIC_FETCH: i32 = 0x01;
const ATOMIC_XCHG: i32 = 0xe0 | ATOMIC_FETCH;
const ATOMIC_CMPXCHG: i32 = 0xf0 | ATOMIC_FETCH;

/// `src_reg` of an `ld_imm64` whose `imm` is a map file descriptor.
pub const PSEUDO_MAP_FD: u8 = 1;
/// `src_reg` of an `ld_imm64` whose `imm` is a map fd and second `imm` an offset into its value.
pub const PSEUDO_MAP_VALUE: u8 = 2;
/// `src_reg` of an `ld_imm64` whose `imm` is a subprogram's address, in
/// instruction slots relative to the next slot (after loading; in an
/// object, the byte offset of the function in `.text`, with a relocation).
pub const PSEUDO_FUNC: u8 = 4;

/// Helper function numbers (`enum bpf_func_id`) used by the backend.
pub mod helper {
    /// `void *bpf_map_lookup_elem(map, key)`
    pub const MAP_LOOKUP_ELEM: i32 = 1;
    /// `long bpf_map_update_elem(map, key, value, flags)`
    pub const MAP_UPDATE_ELEM: i32 = 2;
    /// `long bpf_map_delete_elem(map, key)`
    pub const MAP_DELETE_ELEM: i32 = 3;
    /// `u64 bpf_ktime_get_ns(void)`
    pub const KTIME_GET_NS: i32 = 5;
    /// `long bpf_trace_printk(fmt, fmt_size, ...)`
    pub const TRACE_PRINTK: i32 = 6;
    /// `u32 bpf_get_prandom_u32(void)`
    pub const GET_PRANDOM_U32: i32 = 7;
    /// `u32 bpf_get_smp_processor_id(void)`
    pub const GET_SMP_PROCESSOR_ID: i32 = 8;
    /// `long bpf_skb_store_bytes(skb, offset, from, len, flags)`
    pub const SKB_STORE_BYTES: i32 = 9;
    /// `long bpf_l3_csum_replace(skb, offset, from, to, size)`
    pub const L3_CSUM_REPLACE: i32 = 10;
    /// `long bpf_l4_csum_replace(skb, offset, from, to, flags)`
    pub const L4_CSUM_REPLACE: i32 = 11;
    /// `long bpf_tail_call(ctx, prog_array_map, index)`
    pub const TAIL_CALL: i32 = 12;
    /// `long bpf_clone_redirect(skb, ifindex, flags)`
    pub const CLONE_REDIRECT: i32 = 13;
    /// `long bpf_redirect(ifindex, flags)`
    pub const REDIRECT: i32 = 23;
    /// `long bpf_skb_load_bytes(skb, offset, to, len)`
    pub const SKB_LOAD_BYTES: i32 = 26;
    /// `s64 bpf_csum_diff(from, from_size, to, to_size, seed)`
    pub const CSUM_DIFF: i32 = 28;
    /// `long bpf_skb_pull_data(skb, len)`
    pub const SKB_PULL_DATA: i32 = 39;
    /// `long bpf_xdp_adjust_head(xdp_md, delta)`
    pub const XDP_ADJUST_HEAD: i32 = 44;
    /// `long bpf_redirect_map(map, key, flags)`
    pub const REDIRECT_MAP: i32 = 51;
    /// `long bpf_xdp_adjust_tail(xdp_md, delta)`
    pub const XDP_ADJUST_TAIL: i32 = 65;
    /// `long bpf_fib_lookup(ctx, params, plen, flags)`
    pub const FIB_LOOKUP: i32 = 69;
    /// `long bpf_spin_lock(lock)`
    pub const SPIN_LOCK: i32 = 93;
    /// `long bpf_spin_unlock(lock)`
    pub const SPIN_UNLOCK: i32 = 94;
    /// `u64 bpf_ktime_get_boot_ns(void)`
    pub const KTIME_GET_BOOT_NS: i32 = 125;
    /// `long bpf_for_each_map_elem(map, callback_fn, callback_ctx, flags)`
    pub const FOR_EACH_MAP_ELEM: i32 = 164;
    /// `long bpf_loop(nr_loops, callback_fn, callback_ctx, flags)`
    pub const LOOP: i32 = 181;
    /// `long bpf_ringbuf_output(ringbuf, data, size, flags)`
    pub const RINGBUF_OUTPUT: i32 = 130;
    /// `u64 bpf_xdp_get_buff_len(xdp_md)`
    pub const XDP_GET_BUFF_LEN: i32 = 188;
}

/// A register. `R10` is the read-only frame pointer; `R1`–`R5` are
/// argument registers clobbered by calls; `R0` holds return values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reg {
    /// Return value of helpers and of the program.
    R0,
    /// First argument; holds the context pointer at entry.
    R1,
    /// Second argument.
    R2,
    /// Third argument.
    R3,
    /// Fourth argument.
    R4,
    /// Fifth argument.
    R5,
    /// Callee-saved.
    R6,
    /// Callee-saved.
    R7,
    /// Callee-saved.
    R8,
    /// Callee-saved.
    R9,
    /// Read-only frame pointer (the stack is the 512 bytes below it).
    R10,
}

impl Reg {
    /// All registers, by number.
    pub const ALL: [Reg; 11] = [
        Reg::R0,
        Reg::R1,
        Reg::R2,
        Reg::R3,
        Reg::R4,
        Reg::R5,
        Reg::R6,
        Reg::R7,
        Reg::R8,
        Reg::R9,
        Reg::R10,
    ];

    /// The register number, 0–10.
    pub fn number(self) -> u8 {
        self as u8
    }

    /// The register with this number, if it exists.
    pub fn from_number(n: u8) -> Option<Reg> {
        Reg::ALL.get(usize::from(n)).copied()
    }
}

/// Operation width: `BPF_ALU`/`BPF_JMP32` (32-bit, `w` registers) or
/// `BPF_ALU64`/`BPF_JMP` (64-bit, `r` registers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Width {
    /// 32-bit: the upper half of the destination is zeroed.
    W32,
    /// 64-bit.
    W64,
}

/// Memory access size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Size {
    /// 1 byte (`u8`).
    B,
    /// 2 bytes (`u16`).
    H,
    /// 4 bytes (`u32`).
    W,
    /// 8 bytes (`u64`).
    DW,
}

impl Size {
    /// The size in bytes.
    pub fn bytes(self) -> u32 {
        match self {
            Size::B => 1,
            Size::H => 2,
            Size::W => 4,
            Size::DW => 8,
        }
    }

    fn bits(self) -> u8 {
        match self {
            Size::W => 0x00,
            Size::H => 0x08,
            Size::B => 0x10,
            Size::DW => 0x18,
        }
    }

    fn from_bits(bits: u8) -> Size {
        match bits & 0x18 {
            0x00 => Size::W,
            0x08 => Size::H,
            0x10 => Size::B,
            _ => Size::DW,
        }
    }
}

/// The second operand of an ALU operation or a conditional jump.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operand {
    /// A 32-bit immediate, sign-extended to 64 bits by 64-bit operations.
    Imm(i32),
    /// A register.
    Reg(Reg),
}

impl From<Reg> for Operand {
    fn from(r: Reg) -> Self {
        Operand::Reg(r)
    }
}

impl From<i32> for Operand {
    fn from(i: i32) -> Self {
        Operand::Imm(i)
    }
}

/// Two-operand ALU operations (`dst = dst op src`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AluOp {
    /// `+=`
    Add,
    /// `-=`
    Sub,
    /// `*=`
    Mul,
    /// Unsigned `/=`; division by zero yields 0.
    Div,
    /// Signed `/=` (cpu v4).
    SDiv,
    /// `|=`
    Or,
    /// `&=`
    And,
    /// `<<=`
    Lsh,
    /// Logical `>>=`
    Rsh,
    /// Unsigned `%=`; modulo zero leaves dst unchanged.
    Mod,
    /// Signed `%=` (cpu v4).
    SMod,
    /// `^=`
    Xor,
    /// `=`
    Mov,
    /// Arithmetic `>>=`
    Arsh,
}

impl AluOp {
    /// All operations.
    pub const ALL: [AluOp; 14] = [
        AluOp::Add,
        AluOp::Sub,
        AluOp::Mul,
        AluOp::Div,
        AluOp::SDiv,
        AluOp::Or,
        AluOp::And,
        AluOp::Lsh,
        AluOp::Rsh,
        AluOp::Mod,
        AluOp::SMod,
        AluOp::Xor,
        AluOp::Mov,
        AluOp::Arsh,
    ];

    /// Operation code and the `off` field that selects the signed variants.
    fn code(self) -> (u8, i16) {
        match self {
            AluOp::Add => (0x00, 0),
            AluOp::Sub => (0x10, 0),
            AluOp::Mul => (0x20, 0),
            AluOp::Div => (0x30, 0),
            AluOp::SDiv => (0x30, 1),
            AluOp::Or => (0x40, 0),
            AluOp::And => (0x50, 0),
            AluOp::Lsh => (0x60, 0),
            AluOp::Rsh => (0x70, 0),
            AluOp::Mod => (0x90, 0),
            AluOp::SMod => (0x90, 1),
            AluOp::Xor => (0xa0, 0),
            AluOp::Mov => (0xb0, 0),
            AluOp::Arsh => (0xc0, 0),
        }
    }

    fn from_code(op: u8, off: i16) -> Option<AluOp> {
        Some(match (op, off) {
            (0x00, 0) => AluOp::Add,
            (0x10, 0) => AluOp::Sub,
            (0x20, 0) => AluOp::Mul,
            (0x30, 0) => AluOp::Div,
            (0x30, 1) => AluOp::SDiv,
            (0x40, 0) => AluOp::Or,
            (0x50, 0) => AluOp::And,
            (0x60, 0) => AluOp::Lsh,
            (0x70, 0) => AluOp::Rsh,
            (0x90, 0) => AluOp::Mod,
            (0x90, 1) => AluOp::SMod,
            (0xa0, 0) => AluOp::Xor,
            (0xb0, 0) => AluOp::Mov,
            (0xc0, 0) => AluOp::Arsh,
            _ => return None,
        })
    }
}

/// Conditions of conditional jumps. `S`-prefixed ones compare signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JmpCond {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// Unsigned `>`
    Gt,
    /// Unsigned `>=`
    Ge,
    /// Unsigned `<`
    Lt,
    /// Unsigned `<=`
    Le,
    /// Signed `>`
    Sgt,
    /// Signed `>=`
    Sge,
    /// Signed `<`
    Slt,
    /// Signed `<=`
    Sle,
    /// `dst & src != 0`
    Set,
}

impl JmpCond {
    /// All conditions.
    pub const ALL: [JmpCond; 11] = [
        JmpCond::Eq,
        JmpCond::Ne,
        JmpCond::Gt,
        JmpCond::Ge,
        JmpCond::Lt,
        JmpCond::Le,
        JmpCond::Sgt,
        JmpCond::Sge,
        JmpCond::Slt,
        JmpCond::Sle,
        JmpCond::Set,
    ];

    fn code(self) -> u8 {
        match self {
            JmpCond::Eq => 0x10,
            JmpCond::Gt => 0x20,
            JmpCond::Ge => 0x30,
            JmpCond::Set => 0x40,
            JmpCond::Ne => 0x50,
            JmpCond::Sgt => 0x60,
            JmpCond::Sge => 0x70,
            JmpCond::Lt => 0xa0,
            JmpCond::Le => 0xb0,
            JmpCond::Slt => 0xc0,
            JmpCond::Sle => 0xd0,
        }
    }

    fn from_code(op: u8) -> Option<JmpCond> {
        JmpCond::ALL.into_iter().find(|c| c.code() == op)
    }

    /// The negated condition (`!(a < b)` is `a >= b`), for emitting
    /// "skip unless" jumps. `Set` has no negation in the instruction set.
    pub fn negate(self) -> Option<JmpCond> {
        Some(match self {
            JmpCond::Eq => JmpCond::Ne,
            JmpCond::Ne => JmpCond::Eq,
            JmpCond::Gt => JmpCond::Le,
            JmpCond::Ge => JmpCond::Lt,
            JmpCond::Lt => JmpCond::Ge,
            JmpCond::Le => JmpCond::Gt,
            JmpCond::Sgt => JmpCond::Sle,
            JmpCond::Sge => JmpCond::Slt,
            JmpCond::Slt => JmpCond::Sge,
            JmpCond::Sle => JmpCond::Sgt,
            JmpCond::Set => return None,
        })
    }
}

/// Byte-order conversions (`BPF_END`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ByteOrder {
    /// Host to little endian (a truncation on little-endian hosts).
    ToLe,
    /// Host to big endian (network order).
    ToBe,
    /// Unconditional byte swap (cpu v4 `bswap`).
    Swap,
}

/// Atomic read-modify-write operations on memory (`BPF_ATOMIC`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AtomicOp {
    /// `*(dst + off) += src`
    Add,
    /// `*(dst + off) |= src`
    Or,
    /// `*(dst + off) &= src`
    And,
    /// `*(dst + off) ^= src`
    Xor,
    /// Like `Add`, and `src` receives the old value.
    FetchAdd,
    /// Like `Or`, and `src` receives the old value.
    FetchOr,
    /// Like `And`, and `src` receives the old value.
    FetchAnd,
    /// Like `Xor`, and `src` receives the old value.
    FetchXor,
    /// Exchange: `src` receives the old value, memory the old `src`.
    Xchg,
    /// Compare-and-exchange: if memory equals `r0`, store `src`; `r0` receives the old value.
    CmpXchg,
}

impl AtomicOp {
    /// All operations.
    pub const ALL: [AtomicOp; 10] = [
        AtomicOp::Add,
        AtomicOp::Or,
        AtomicOp::And,
        AtomicOp::Xor,
        AtomicOp::FetchAdd,
        AtomicOp::FetchOr,
        AtomicOp::FetchAnd,
        AtomicOp::FetchXor,
        AtomicOp::Xchg,
        AtomicOp::CmpXchg,
    ];

    fn imm(self) -> i32 {
        match self {
            AtomicOp::Add => 0x00,
            AtomicOp::Or => 0x40,
            AtomicOp::And => 0x50,
            AtomicOp::Xor => 0xa0,
            AtomicOp::FetchAdd => ATOMIC_FETCH,
            AtomicOp::FetchOr => 0x40 | ATOMIC_FETCH,
            AtomicOp::FetchAnd => 0x50 | ATOMIC_FETCH,
            AtomicOp::FetchXor => 0xa0 | ATOMIC_FETCH,
            AtomicOp::Xchg => ATOMIC_XCHG,
            AtomicOp::CmpXchg => ATOMIC_CMPXCHG,
        }
    }

    fn from_imm(imm: i32) -> Option<AtomicOp> {
        AtomicOp::ALL.into_iter().find(|o| o.imm() == imm)
    }
}

/// One eBPF instruction.
///
/// Jump offsets are in instruction slots relative to the next slot (as the
/// kernel counts them); use [`Program`] to have them computed from labels.
/// [`Insn::LdMap`] names a map symbolically and encodes as an `ld_imm64` of 0
/// to be patched through an ELF relocation.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Insn {
    /// `dst = dst op src` (`op` = [`AluOp::Mov`]: `dst = src`).
    Alu {
        /// 32- or 64-bit.
        width: Width,
        /// The operation.
        op: AluOp,
        /// Destination (and first operand).
        dst: Reg,
        /// Second operand.
        src: Operand,
    },
    /// `dst = -dst`.
    Neg {
        /// 32- or 64-bit.
        width: Width,
        /// The register negated in place.
        dst: Reg,
    },
    /// Byte-order conversion of the low `bits` (16, 32 or 64) of `dst`.
    End {
        /// Target order.
        order: ByteOrder,
        /// 16, 32 or 64.
        bits: u8,
        /// The register converted in place.
        dst: Reg,
    },
    /// `dst = (sign-extended) src` from its low `from` bytes (cpu v4).
    /// 32-bit width allows `from` = [`Size::B`] or [`Size::H`].
    MovSx {
        /// Destination width.
        width: Width,
        /// Destination.
        dst: Reg,
        /// Source register.
        src: Reg,
        /// Width of the source value: `B`, `H` or (64-bit only) `W`.
        from: Size,
    },
    /// `dst = *(size *)(src + off)`, zero-extended.
    Load {
        /// Access size.
        size: Size,
        /// Destination.
        dst: Reg,
        /// Base address register.
        src: Reg,
        /// Byte offset.
        off: i16,
    },
    /// `dst = *(signed size *)(src + off)`, sign-extended (cpu v4; not `DW`).
    LoadSx {
        /// Access size: `B`, `H` or `W`.
        size: Size,
        /// Destination.
        dst: Reg,
        /// Base address register.
        src: Reg,
        /// Byte offset.
        off: i16,
    },
    /// `*(size *)(dst + off) = src` (`BPF_ST` for an immediate, `BPF_STX` for a register).
    Store {
        /// Access size.
        size: Size,
        /// Base address register.
        dst: Reg,
        /// Byte offset.
        off: i16,
        /// The stored value.
        src: Operand,
    },
    /// Atomic read-modify-write of `*(size *)(dst + off)` with `src`.
    Atomic {
        /// `W` or `DW`.
        size: Size,
        /// The operation.
        op: AtomicOp,
        /// Base address register.
        dst: Reg,
        /// Operand (and receiver of the old value for fetching operations).
        src: Reg,
        /// Byte offset.
        off: i16,
    },
    /// `dst = imm` for a full 64-bit immediate (two slots).
    LdImm64 {
        /// Destination.
        dst: Reg,
        /// The value.
        imm: u64,
    },
    /// `dst = &map` by name (two slots): encodes as `ld_imm64 dst, 0` and is
    /// patched by an `R_BPF_64_64` relocation in the object, or by a loader.
    LdMap {
        /// Destination.
        dst: Reg,
        /// The map's name in the object.
        map: String,
    },
    /// `dst = &func` by name (two slots): the address of a subprogram, for
    /// helpers that take a callback (`bpf_for_each_map_elem`). Encodes as
    /// `ld_imm64 dst, 0` with `src_reg = BPF_PSEUDO_FUNC`; the object writer
    /// fills in the offset and a relocation against `.text`.
    LdFunc {
        /// Destination.
        dst: Reg,
        /// The subprogram's name in the object.
        func: String,
    },
    /// `dst = &func` with the offset already resolved (`src_reg =
    /// BPF_PSEUDO_FUNC`, `imm` as the kernel or an object holds it), two slots.
    LdFuncImm {
        /// Destination.
        dst: Reg,
        /// The raw immediate.
        imm: i32,
    },
    /// `dst = map` for an already-open map fd (`src_reg = BPF_PSEUDO_MAP_FD`), two slots.
    LdMapFd {
        /// Destination.
        dst: Reg,
        /// The map file descriptor.
        fd: i32,
    },
    /// `goto +off` (16-bit offset).
    Ja {
        /// Offset in slots from the next instruction.
        off: i16,
    },
    /// `gotol +off` (cpu v4, 32-bit offset in `imm`).
    JaLong {
        /// Offset in slots from the next instruction.
        off: i32,
    },
    /// `if dst cond src goto +off`.
    Jmp {
        /// `W64` (`BPF_JMP`) or `W32` (`BPF_JMP32`, compares the low halves).
        width: Width,
        /// The condition.
        cond: JmpCond,
        /// First operand.
        dst: Reg,
        /// Second operand.
        src: Operand,
        /// Offset in slots from the next instruction.
        off: i16,
    },
    /// Call a kernel helper by number (see [`helper`]).
    Call {
        /// Helper id (`enum bpf_func_id`).
        helper: i32,
    },
    /// Return `r0`.
    Exit,
}

/// The five fields of one instruction slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RawInsn {
    /// Opcode: class, size/source, mode/operation.
    pub code: u8,
    /// Destination register number (low nibble of byte 1).
    pub dst: u8,
    /// Source register number (high nibble of byte 1).
    pub src: u8,
    /// Signed offset.
    pub off: i16,
    /// Signed immediate.
    pub imm: i32,
}

impl RawInsn {
    /// The 8-byte little-endian encoding.
    pub fn to_bytes(self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0] = self.code;
        b[1] = (self.src << 4) | (self.dst & 0x0f);
        b[2..4].copy_from_slice(&self.off.to_le_bytes());
        b[4..8].copy_from_slice(&self.imm.to_le_bytes());
        b
    }

    /// Reads one slot.
    pub fn from_bytes(b: [u8; 8]) -> RawInsn {
        RawInsn {
            code: b[0],
            dst: b[1] & 0x0f,
            src: b[1] >> 4,
            off: i16::from_le_bytes([b[2], b[3]]),
            imm: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }
}

fn alu_class(width: Width) -> u8 {
    match width {
        Width::W32 => CLASS_ALU,
        Width::W64 => CLASS_ALU64,
    }
}

fn jmp_class(width: Width) -> u8 {
    match width {
        Width::W32 => CLASS_JMP32,
        Width::W64 => CLASS_JMP,
    }
}

fn raw(code: u8, dst: Reg, src: u8, off: i16, imm: i32) -> RawInsn {
    RawInsn {
        code,
        dst: dst.number(),
        src,
        off,
        imm,
    }
}

impl Insn {
    /// `dst = imm` (64-bit move of a sign-extended 32-bit immediate).
    pub fn mov64(dst: Reg, src: impl Into<Operand>) -> Insn {
        Insn::alu64(AluOp::Mov, dst, src)
    }

    /// `wdst = imm` (32-bit move; zeroes the upper half).
    pub fn mov32(dst: Reg, src: impl Into<Operand>) -> Insn {
        Insn::alu32(AluOp::Mov, dst, src)
    }

    /// A 64-bit ALU operation.
    pub fn alu64(op: AluOp, dst: Reg, src: impl Into<Operand>) -> Insn {
        Insn::Alu {
            width: Width::W64,
            op,
            dst,
            src: src.into(),
        }
    }

    /// A 32-bit ALU operation.
    pub fn alu32(op: AluOp, dst: Reg, src: impl Into<Operand>) -> Insn {
        Insn::Alu {
            width: Width::W32,
            op,
            dst,
            src: src.into(),
        }
    }

    /// `dst = *(size *)(src + off)`.
    pub fn load(size: Size, dst: Reg, src: Reg, off: i16) -> Insn {
        Insn::Load {
            size,
            dst,
            src,
            off,
        }
    }

    /// `*(size *)(dst + off) = src`.
    pub fn store(size: Size, dst: Reg, off: i16, src: impl Into<Operand>) -> Insn {
        Insn::Store {
            size,
            dst,
            off,
            src: src.into(),
        }
    }

    /// `dst = &map` (relocated).
    pub fn ld_map(dst: Reg, map: impl Into<String>) -> Insn {
        Insn::LdMap {
            dst,
            map: map.into(),
        }
    }

    /// `dst = &func` (relocated).
    pub fn ld_func(dst: Reg, func: impl Into<String>) -> Insn {
        Insn::LdFunc {
            dst,
            func: func.into(),
        }
    }

    /// Call helper `helper`.
    pub fn call(helper: i32) -> Insn {
        Insn::Call { helper }
    }

    /// Return `r0`.
    pub fn exit() -> Insn {
        Insn::Exit
    }

    /// Number of 8-byte slots: 2 for the `ld_imm64` forms, 1 otherwise.
    pub fn slots(&self) -> usize {
        match self {
            Insn::LdImm64 { .. }
            | Insn::LdMap { .. }
            | Insn::LdMapFd { .. }
            | Insn::LdFunc { .. }
            | Insn::LdFuncImm { .. } => 2,
            _ => 1,
        }
    }

    /// Whether this is an unconditional or conditional jump with a relative offset.
    pub fn is_jump(&self) -> bool {
        matches!(
            self,
            Insn::Ja { .. } | Insn::JaLong { .. } | Insn::Jmp { .. }
        )
    }

    /// The raw slots of this instruction, checking operand combinations the
    /// kernel has no encoding for.
    pub fn raw(&self) -> Result<Vec<RawInsn>, Error> {
        let one = |r: RawInsn| Ok(vec![r]);
        match self {
            Insn::Alu {
                width,
                op,
                dst,
                src,
            } => {
                let (code, off) = op.code();
                match src {
                    Operand::Imm(imm) => {
                        one(raw(alu_class(*width) | code | SRC_K, *dst, 0, off, *imm))
                    }
                    Operand::Reg(s) => one(raw(
                        alu_class(*width) | code | SRC_X,
                        *dst,
                        s.number(),
                        off,
                        0,
                    )),
                }
            }
            Insn::Neg { width, dst } => one(raw(alu_class(*width) | ALU_NEG, *dst, 0, 0, 0)),
            Insn::End { order, bits, dst } => {
                if !matches!(bits, 16 | 32 | 64) {
                    return Err(Error::InvalidInsn(format!(
                        "byte swap of {bits} bits (16, 32 or 64)"
                    )));
                }
                let code = match order {
                    ByteOrder::ToLe => CLASS_ALU | ALU_END | SRC_K,
                    ByteOrder::ToBe => CLASS_ALU | ALU_END | SRC_X,
                    ByteOrder::Swap => CLASS_ALU64 | ALU_END | SRC_K,
                };
                one(raw(code, *dst, 0, 0, i32::from(*bits)))
            }
            Insn::MovSx {
                width,
                dst,
                src,
                from,
            } => {
                let off = match (width, from) {
                    (_, Size::B) => 8,
                    (_, Size::H) => 16,
                    (Width::W64, Size::W) => 32,
                    _ => {
                        return Err(Error::InvalidInsn(format!(
                            "sign-extending move to {width:?} from {from:?}"
                        )))
                    }
                };
                one(raw(
                    alu_class(*width) | AluOp::Mov.code().0 | SRC_X,
                    *dst,
                    src.number(),
                    off,
                    0,
                ))
            }
            Insn::Load {
                size,
                dst,
                src,
                off,
            } => one(raw(
                CLASS_LDX | MODE_MEM | size.bits(),
                *dst,
                src.number(),
                *off,
                0,
            )),
            Insn::LoadSx {
                size,
                dst,
                src,
                off,
            } => {
                if *size == Size::DW {
                    return Err(Error::InvalidInsn("sign-extending load of 8 bytes".into()));
                }
                one(raw(
                    CLASS_LDX | MODE_MEMSX | size.bits(),
                    *dst,
                    src.number(),
                    *off,
                    0,
                ))
            }
            Insn::Store {
                size,
                dst,
                off,
                src,
            } => match src {
                Operand::Imm(imm) => {
                    one(raw(CLASS_ST | MODE_MEM | size.bits(), *dst, 0, *off, *imm))
                }
                Operand::Reg(s) => one(raw(
                    CLASS_STX | MODE_MEM | size.bits(),
                    *dst,
                    s.number(),
                    *off,
                    0,
                )),
            },
            Insn::Atomic {
                size,
                op,
                dst,
                src,
                off,
            } => {
                if !matches!(size, Size::W | Size::DW) {
                    return Err(Error::InvalidInsn(format!("atomic operation on {size:?}")));
                }
                one(raw(
                    CLASS_STX | MODE_ATOMIC | size.bits(),
                    *dst,
                    src.number(),
                    *off,
                    op.imm(),
                ))
            }
            Insn::LdImm64 { dst, imm } => Ok(ld_imm64(
                *dst,
                0,
                *imm as u32 as i32,
                (*imm >> 32) as u32 as i32,
            )),
            Insn::LdMap { dst, .. } => Ok(ld_imm64(*dst, 0, 0, 0)),
            Insn::LdMapFd { dst, fd } => Ok(ld_imm64(*dst, PSEUDO_MAP_FD, *fd, 0)),
            Insn::LdFunc { dst, .. } => Ok(ld_imm64(*dst, PSEUDO_FUNC, 0, 0)),
            Insn::LdFuncImm { dst, imm } => Ok(ld_imm64(*dst, PSEUDO_FUNC, *imm, 0)),
            Insn::Ja { off } => one(raw(CLASS_JMP | JMP_JA, Reg::R0, 0, *off, 0)),
            Insn::JaLong { off } => one(raw(CLASS_JMP32 | JMP_JA, Reg::R0, 0, 0, *off)),
            Insn::Jmp {
                width,
                cond,
                dst,
                src,
                off,
            } => match src {
                Operand::Imm(imm) => one(raw(
                    jmp_class(*width) | cond.code() | SRC_K,
                    *dst,
                    0,
                    *off,
                    *imm,
                )),
                Operand::Reg(s) => one(raw(
                    jmp_class(*width) | cond.code() | SRC_X,
                    *dst,
                    s.number(),
                    *off,
                    0,
                )),
            },
            Insn::Call { helper } => one(raw(CLASS_JMP | JMP_CALL, Reg::R0, 0, 0, *helper)),
            Insn::Exit => one(raw(CLASS_JMP | JMP_EXIT, Reg::R0, 0, 0, 0)),
        }
    }

    /// Appends the encoding (8 or 16 bytes) to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        for r in self.raw()? {
            out.extend_from_slice(&r.to_bytes());
        }
        Ok(())
    }

    /// The encoding as bytes (8 or 16).
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(16);
        self.encode_into(&mut out)?;
        Ok(out)
    }

    /// Decodes a whole instruction stream. An `ld_imm64` with `src_reg` 0
    /// decodes as [`Insn::LdImm64`] (a relocated map reference is only known
    /// from the relocation table), with `BPF_PSEUDO_MAP_FD` as [`Insn::LdMapFd`],
    /// with `BPF_PSEUDO_FUNC` as [`Insn::LdFuncImm`].
    pub fn decode_all(bytes: &[u8]) -> Result<Vec<Insn>, Error> {
        if bytes.len() % 8 != 0 {
            return Err(Error::Decode {
                slot: bytes.len() / 8,
                reason: format!("{} bytes is not a whole number of slots", bytes.len()),
            });
        }
        let slots: Vec<RawInsn> = bytes
            .chunks_exact(8)
            .map(|c| {
                let mut b = [0u8; 8];
                b.copy_from_slice(c);
                RawInsn::from_bytes(b)
            })
            .collect();
        let mut out = Vec::new();
        let mut i = 0;
        while i < slots.len() {
            let (insn, n) = decode_at(&slots, i)?;
            out.push(insn);
            i += n;
        }
        Ok(out)
    }
}

fn ld_imm64(dst: Reg, src: u8, lo: i32, hi: i32) -> Vec<RawInsn> {
    vec![
        raw(CLASS_LD | MODE_IMM | Size::DW.bits(), dst, src, 0, lo),
        RawInsn {
            imm: hi,
            ..RawInsn::default()
        },
    ]
}

fn decode_at(slots: &[RawInsn], i: usize) -> Result<(Insn, usize), Error> {
    let r = slots[i];
    let bad = |reason: String| Error::Decode { slot: i, reason };
    let reg = |n: u8| Reg::from_number(n).ok_or_else(|| bad(format!("no register r{n}")));
    let dst = reg(r.dst)?;
    let class = r.code & 0x07;
    let insn = match class {
        CLASS_ALU | CLASS_ALU64 => {
            let width = if class == CLASS_ALU {
                Width::W32
            } else {
                Width::W64
            };
            let op = r.code & 0xf0;
            let is_x = r.code & SRC_X != 0;
            match op {
                ALU_NEG => Insn::Neg { width, dst },
                ALU_END => {
                    let order = match (class, is_x) {
                        (CLASS_ALU, false) => ByteOrder::ToLe,
                        (CLASS_ALU, true) => ByteOrder::ToBe,
                        (_, false) => ByteOrder::Swap,
                        _ => return Err(bad("64-bit BPF_END with BPF_X".into())),
                    };
                    let bits = u8::try_from(r.imm)
                        .ok()
                        .filter(|b| matches!(b, 16 | 32 | 64))
                        .ok_or_else(|| bad(format!("byte swap of {} bits", r.imm)))?;
                    Insn::End { order, bits, dst }
                }
                0xb0 if is_x && r.off != 0 => {
                    let from = match r.off {
                        8 => Size::B,
                        16 => Size::H,
                        32 if width == Width::W64 => Size::W,
                        o => return Err(bad(format!("sign-extending move with offset {o}"))),
                    };
                    Insn::MovSx {
                        width,
                        dst,
                        src: reg(r.src)?,
                        from,
                    }
                }
                _ => {
                    let op = AluOp::from_code(op, r.off).ok_or_else(|| {
                        bad(format!("unknown ALU opcode {:#04x} off {}", r.code, r.off))
                    })?;
                    let src = if is_x {
                        Operand::Reg(reg(r.src)?)
                    } else {
                        Operand::Imm(r.imm)
                    };
                    Insn::Alu {
                        width,
                        op,
                        dst,
                        src,
                    }
                }
            }
        }
        CLASS_JMP | CLASS_JMP32 => {
            let width = if class == CLASS_JMP32 {
                Width::W32
            } else {
                Width::W64
            };
            let op = r.code & 0xf0;
            match (class, op) {
                (CLASS_JMP, JMP_JA) => Insn::Ja { off: r.off },
                (CLASS_JMP32, JMP_JA) => Insn::JaLong { off: r.imm },
                (CLASS_JMP, JMP_CALL) => {
                    if r.src != 0 {
                        return Err(bad(format!(
                            "call with src_reg {} (only helper calls)",
                            r.src
                        )));
                    }
                    Insn::Call { helper: r.imm }
                }
                (CLASS_JMP, JMP_EXIT) => Insn::Exit,
                _ => {
                    let cond = JmpCond::from_code(op)
                        .ok_or_else(|| bad(format!("unknown jump opcode {:#04x}", r.code)))?;
                    let src = if r.code & SRC_X != 0 {
                        Operand::Reg(reg(r.src)?)
                    } else {
                        Operand::Imm(r.imm)
                    };
                    Insn::Jmp {
                        width,
                        cond,
                        dst,
                        src,
                        off: r.off,
                    }
                }
            }
        }
        CLASS_LDX => {
            let size = Size::from_bits(r.code);
            match r.code & 0xe0 {
                MODE_MEM => Insn::Load {
                    size,
                    dst,
                    src: reg(r.src)?,
                    off: r.off,
                },
                MODE_MEMSX if size != Size::DW => Insn::LoadSx {
                    size,
                    dst,
                    src: reg(r.src)?,
                    off: r.off,
                },
                _ => return Err(bad(format!("unknown load opcode {:#04x}", r.code))),
            }
        }
        CLASS_ST if r.code & 0xe0 == MODE_MEM => Insn::Store {
            size: Size::from_bits(r.code),
            dst,
            off: r.off,
            src: Operand::Imm(r.imm),
        },
        CLASS_STX => {
            let size = Size::from_bits(r.code);
            match r.code & 0xe0 {
                MODE_MEM => Insn::Store {
                    size,
                    dst,
                    off: r.off,
                    src: Operand::Reg(reg(r.src)?),
                },
                MODE_ATOMIC if matches!(size, Size::W | Size::DW) => Insn::Atomic {
                    size,
                    op: AtomicOp::from_imm(r.imm)
                        .ok_or_else(|| bad(format!("unknown atomic op {:#x}", r.imm)))?,
                    dst,
                    src: reg(r.src)?,
                    off: r.off,
                },
                _ => return Err(bad(format!("unknown store opcode {:#04x}", r.code))),
            }
        }
        CLASS_LD if r.code == CLASS_LD | MODE_IMM | Size::DW.bits() => {
            let hi = slots
                .get(i + 1)
                .ok_or_else(|| bad("ld_imm64 without its second slot".into()))?;
            if hi.code != 0 || hi.dst != 0 || hi.src != 0 || hi.off != 0 {
                return Err(bad("malformed second slot of ld_imm64".into()));
            }
            let insn = match r.src {
                0 => Insn::LdImm64 {
                    dst,
                    imm: (u64::from(hi.imm as u32) << 32) | u64::from(r.imm as u32),
                },
                PSEUDO_MAP_FD if hi.imm == 0 => Insn::LdMapFd { dst, fd: r.imm },
                PSEUDO_FUNC if hi.imm == 0 => Insn::LdFuncImm { dst, imm: r.imm },
                s => return Err(bad(format!("ld_imm64 with unsupported src_reg {s}"))),
            };
            return Ok((insn, 2));
        }
        _ => return Err(bad(format!("unknown opcode {:#04x}", r.code))),
    };
    Ok((insn, 1))
}

#[cfg(test)]
mod tests;
