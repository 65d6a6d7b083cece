//! A readable listing in the style of `bpftool prog dump xlated` (the
//! kernel's `kernel/bpf/disasm.c` text), one instruction per line, so that
//! snapshot tests read like what a developer sees when debugging a load.
//!
//! Differences from bpftool: a symbolic map reference prints as
//! `map[NAME]` (the object has no map ids yet), and helpers the backend does
//! not name print as `call #N`.

use super::{helper, AluOp, AtomicOp, ByteOrder, Insn, JmpCond, Operand, Reg, Size, Width};
use std::fmt::Write as _;

/// The kernel's name of a helper (`bpf_map_lookup_elem`), for those in [`helper`].
pub fn helper_name(id: i32) -> Option<&'static str> {
    Some(match id {
        helper::MAP_LOOKUP_ELEM => "bpf_map_lookup_elem",
        helper::MAP_UPDATE_ELEM => "bpf_map_update_elem",
        helper::MAP_DELETE_ELEM => "bpf_map_delete_elem",
        helper::KTIME_GET_NS => "bpf_ktime_get_ns",
        helper::TRACE_PRINTK => "bpf_trace_printk",
        helper::GET_PRANDOM_U32 => "bpf_get_prandom_u32",
        helper::GET_SMP_PROCESSOR_ID => "bpf_get_smp_processor_id",
        helper::SKB_STORE_BYTES => "bpf_skb_store_bytes",
        helper::L3_CSUM_REPLACE => "bpf_l3_csum_replace",
        helper::L4_CSUM_REPLACE => "bpf_l4_csum_replace",
        helper::TAIL_CALL => "bpf_tail_call",
        helper::CLONE_REDIRECT => "bpf_clone_redirect",
        helper::REDIRECT => "bpf_redirect",
        helper::SKB_PULL_DATA => "bpf_skb_pull_data",
        helper::SKB_LOAD_BYTES => "bpf_skb_load_bytes",
        helper::CSUM_DIFF => "bpf_csum_diff",
        helper::XDP_ADJUST_HEAD => "bpf_xdp_adjust_head",
        helper::REDIRECT_MAP => "bpf_redirect_map",
        helper::XDP_ADJUST_TAIL => "bpf_xdp_adjust_tail",
        helper::FIB_LOOKUP => "bpf_fib_lookup",
        helper::SPIN_LOCK => "bpf_spin_lock",
        helper::SPIN_UNLOCK => "bpf_spin_unlock",
        helper::KTIME_GET_BOOT_NS => "bpf_ktime_get_boot_ns",
        helper::LOOP => "bpf_loop",
        helper::FOR_EACH_MAP_ELEM => "bpf_for_each_map_elem",
        helper::XDP_GET_BUFF_LEN => "bpf_xdp_get_buff_len",
        helper::RINGBUF_OUTPUT => "bpf_ringbuf_output",
        _ => return None,
    })
}

/// One line per instruction: `{slot:>4}: ({opcode:02x}) {text}`, numbered by
/// slot (an `ld_imm64` takes two numbers, as in bpftool).
pub fn listing(insns: &[Insn]) -> String {
    let mut out = String::new();
    let mut slot = 0usize;
    for insn in insns {
        let code = insn.raw().ok().and_then(|r| r.first().map(|r| r.code));
        match code {
            Some(c) => {
                let _ = writeln!(out, "{slot:>4}: ({c:02x}) {}", text(insn));
            }
            None => {
                let _ = writeln!(out, "{slot:>4}: (??) invalid {insn:?}");
            }
        }
        slot += insn.slots();
    }
    out
}

fn size_name(size: Size) -> &'static str {
    match size {
        Size::B => "u8",
        Size::H => "u16",
        Size::W => "u32",
        Size::DW => "u64",
    }
}

fn reg(width: Width, r: Reg) -> String {
    match width {
        Width::W32 => format!("w{}", r.number()),
        Width::W64 => format!("r{}", r.number()),
    }
}

fn alu_op(op: AluOp) -> &'static str {
    match op {
        AluOp::Add => "+=",
        AluOp::Sub => "-=",
        AluOp::Mul => "*=",
        AluOp::Div => "/=",
        AluOp::SDiv => "s/=",
        AluOp::Or => "|=",
        AluOp::And => "&=",
        AluOp::Lsh => "<<=",
        AluOp::Rsh => ">>=",
        AluOp::Mod => "%=",
        AluOp::SMod => "s%=",
        AluOp::Xor => "^=",
        AluOp::Mov => "=",
        AluOp::Arsh => "s>>=",
    }
}

fn jmp_op(c: JmpCond) -> &'static str {
    match c {
        JmpCond::Eq => "==",
        JmpCond::Ne => "!=",
        JmpCond::Gt => ">",
        JmpCond::Ge => ">=",
        JmpCond::Lt => "<",
        JmpCond::Le => "<=",
        JmpCond::Sgt => "s>",
        JmpCond::Sge => "s>=",
        JmpCond::Slt => "s<",
        JmpCond::Sle => "s<=",
        JmpCond::Set => "&",
    }
}

/// `(r1 -4)` / `(r1 +0)`: the kernel prints offsets with an explicit sign.
fn addr(base: Reg, off: i16) -> String {
    format!("(r{} {off:+})", base.number())
}

fn text(insn: &Insn) -> String {
    match insn {
        Insn::Alu {
            width,
            op,
            dst,
            src,
        } => {
            let rhs = match src {
                Operand::Imm(i) => i.to_string(),
                Operand::Reg(s) => reg(*width, *s),
            };
            format!("{} {} {rhs}", reg(*width, *dst), alu_op(*op))
        }
        Insn::Neg { width, dst } => format!("{} = -{}", reg(*width, *dst), reg(*width, *dst)),
        Insn::End { order, bits, dst } => {
            let name = match order {
                ByteOrder::ToLe => "le",
                ByteOrder::ToBe => "be",
                ByteOrder::Swap => "bswap",
            };
            format!("r{0} = {name}{bits} r{0}", dst.number())
        }
        Insn::MovSx {
            width,
            dst,
            src,
            from,
        } => {
            format!(
                "{} = (s{}){}",
                reg(*width, *dst),
                from.bytes() * 8,
                reg(*width, *src)
            )
        }
        Insn::Load {
            size,
            dst,
            src,
            off,
        } => {
            format!(
                "r{} = *({} *){}",
                dst.number(),
                size_name(*size),
                addr(*src, *off)
            )
        }
        Insn::LoadSx {
            size,
            dst,
            src,
            off,
        } => {
            format!(
                "r{} = *(s{} *){}",
                dst.number(),
                size.bytes() * 8,
                addr(*src, *off)
            )
        }
        Insn::Store {
            size,
            dst,
            off,
            src,
        } => {
            let rhs = match src {
                Operand::Imm(i) => i.to_string(),
                Operand::Reg(s) => format!("r{}", s.number()),
            };
            format!("*({} *){} = {rhs}", size_name(*size), addr(*dst, *off))
        }
        Insn::Atomic {
            size,
            op,
            dst,
            src,
            off,
        } => {
            let sz = size_name(*size);
            let suffix = if *size == Size::DW { "64" } else { "" };
            let at = addr(*dst, *off);
            let s = src.number();
            let w = if *size == Size::DW { 'r' } else { 'w' };
            match op {
                AtomicOp::Add => format!("lock *({sz} *){at} += r{s}"),
                AtomicOp::Or => format!("lock *({sz} *){at} |= r{s}"),
                AtomicOp::And => format!("lock *({sz} *){at} &= r{s}"),
                AtomicOp::Xor => format!("lock *({sz} *){at} ^= r{s}"),
                AtomicOp::FetchAdd => {
                    format!("{w}{s} = atomic{suffix}_fetch_add(({sz} *){at}, {w}{s})")
                }
                AtomicOp::FetchOr => {
                    format!("{w}{s} = atomic{suffix}_fetch_or(({sz} *){at}, {w}{s})")
                }
                AtomicOp::FetchAnd => {
                    format!("{w}{s} = atomic{suffix}_fetch_and(({sz} *){at}, {w}{s})")
                }
                AtomicOp::FetchXor => {
                    format!("{w}{s} = atomic{suffix}_fetch_xor(({sz} *){at}, {w}{s})")
                }
                AtomicOp::Xchg => format!("{w}{s} = atomic{suffix}_xchg(({sz} *){at}, {w}{s})"),
                AtomicOp::CmpXchg => {
                    format!("{w}0 = atomic{suffix}_cmpxchg(({sz} *){at}, {w}0, {w}{s})")
                }
            }
        }
        Insn::LdImm64 { dst, imm } => format!("r{} = {imm:#x}", dst.number()),
        Insn::LdMap { dst, map } => format!("r{} = map[{map}]", dst.number()),
        Insn::LdMapFd { dst, fd } => format!("r{} = map[fd:{fd}]", dst.number()),
        Insn::LdFunc { dst, func } => format!("r{} = func[{func}]", dst.number()),
        Insn::LdFuncImm { dst, imm } => format!("r{} = func[pc{imm:+}]", dst.number()),
        Insn::Ja { off } => format!("goto pc{off:+}"),
        Insn::JaLong { off } => format!("gotol pc{off:+}"),
        Insn::Jmp {
            width,
            cond,
            dst,
            src,
            off,
        } => {
            let rhs = match src {
                // Immediates print as their 32-bit pattern in hex, as the kernel does.
                Operand::Imm(i) => format!("{:#x}", *i as u32),
                Operand::Reg(s) => reg(*width, *s),
            };
            format!(
                "if {} {} {rhs} goto pc{off:+}",
                reg(*width, *dst),
                jmp_op(*cond)
            )
        }
        Insn::Call { helper } => match helper_name(*helper) {
            Some(name) => format!("call {name}#{helper}"),
            None => format!("call #{helper}"),
        },
        Insn::Exit => "exit".to_string(),
    }
}
