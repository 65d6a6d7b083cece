use super::*;
use Reg::*;

fn hex(insn: &Insn) -> String {
    insn.encode()
        .expect("encodes")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The reference generator's program (mkelf.py), slot by slot.
fn reference_program() -> Program {
    let mut p = Program::new();
    let miss = p.label();
    p.push(Insn::mov64(R1, 1))
        .push(Insn::store(Size::W, R10, -4, R1))
        .push(Insn::mov64(R2, R10))
        .push(Insn::alu64(AluOp::Add, R2, -4))
        .ld_map(R1, "m")
        .push(Insn::call(helper::MAP_LOOKUP_ELEM))
        .jump_if(JmpCond::Eq, R0, 0, miss)
        .push(Insn::mov64(R0, 1))
        .push(Insn::exit())
        .bind(miss)
        .push(Insn::mov64(R0, 2))
        .push(Insn::exit());
    p
}

#[test]
fn reference_program_bytes() {
    let asm = reference_program().assemble().expect("assembles");
    let expected = [
        "b701000001000000",
        "631afcff00000000",
        "bfa2000000000000",
        "07020000fcffffff",
        "1801000000000000",
        "0000000000000000",
        "8500000001000000",
        "1500020000000000",
        "b700000001000000",
        "9500000000000000",
        "b700000002000000",
        "9500000000000000",
    ];
    let got: Vec<String> = asm
        .bytes()
        .chunks(8)
        .map(|c| c.iter().map(|b| format!("{b:02x}")).collect())
        .collect();
    assert_eq!(got, expected);
    assert_eq!(asm.slot_count(), 12);
    assert_eq!(
        asm.map_refs(),
        &[MapRef {
            slot: 4,
            map: "m".into()
        }]
    );
}

#[test]
fn reference_program_listing() {
    let asm = reference_program().assemble().expect("assembles");
    let expected = "   0: (b7) r1 = 1
   1: (63) *(u32 *)(r10 -4) = r1
   2: (bf) r2 = r10
   3: (07) r2 += -4
   4: (18) r1 = map[m]
   6: (85) call bpf_map_lookup_elem#1
   7: (15) if r0 == 0x0 goto pc+2
   8: (b7) r0 = 1
   9: (95) exit
  10: (b7) r0 = 2
  11: (95) exit
";
    assert_eq!(asm.listing(), expected);
}

#[test]
fn encodings_of_every_family() {
    let cases: Vec<(Insn, &str)> = vec![
        (Insn::mov32(R1, 7), "b401000007000000"),
        (Insn::alu32(AluOp::Add, R1, R2), "0c21000000000000"),
        (Insn::alu64(AluOp::Sub, R3, 1), "1703000001000000"),
        (Insn::alu64(AluOp::Mul, R3, R4), "2f43000000000000"),
        (Insn::alu64(AluOp::Div, R3, 3), "3703000003000000"),
        (Insn::alu64(AluOp::SDiv, R1, R2), "3f21010000000000"),
        (Insn::alu64(AluOp::Or, R1, 0x10), "4701000010000000"),
        (Insn::alu64(AluOp::And, R1, 0xff), "57010000ff000000"),
        (Insn::alu64(AluOp::Lsh, R1, 8), "6701000008000000"),
        (Insn::alu32(AluOp::Rsh, R1, 8), "7401000008000000"),
        (Insn::alu64(AluOp::Mod, R1, R2), "9f21000000000000"),
        (Insn::alu64(AluOp::SMod, R1, 5), "9701010005000000"),
        (Insn::alu64(AluOp::Xor, R1, R1), "af11000000000000"),
        (Insn::alu64(AluOp::Arsh, R1, 3), "c701000003000000"),
        (
            Insn::Neg {
                width: Width::W64,
                dst: R3,
            },
            "8703000000000000",
        ),
        (
            Insn::Neg {
                width: Width::W32,
                dst: R3,
            },
            "8403000000000000",
        ),
        (
            Insn::End {
                order: ByteOrder::ToBe,
                bits: 16,
                dst: R5,
            },
            "dc05000010000000",
        ),
        (
            Insn::End {
                order: ByteOrder::ToLe,
                bits: 32,
                dst: R5,
            },
            "d405000020000000",
        ),
        (
            Insn::End {
                order: ByteOrder::Swap,
                bits: 64,
                dst: R5,
            },
            "d705000040000000",
        ),
        (
            Insn::MovSx {
                width: Width::W64,
                dst: R1,
                src: R2,
                from: Size::B,
            },
            "bf21080000000000",
        ),
        (
            Insn::MovSx {
                width: Width::W32,
                dst: R1,
                src: R2,
                from: Size::H,
            },
            "bc21100000000000",
        ),
        (Insn::load(Size::DW, R0, R6, 16), "7960100000000000"),
        (Insn::load(Size::B, R0, R6, -1), "7160ffff00000000"),
        (
            Insn::LoadSx {
                size: Size::B,
                dst: R0,
                src: R1,
                off: 2,
            },
            "9110020000000000",
        ),
        (Insn::store(Size::H, R10, -2, 0x1234), "6a0afeff34120000"),
        (Insn::store(Size::DW, R10, -8, R1), "7b1af8ff00000000"),
        (Insn::store(Size::B, R1, 0, R2), "7321000000000000"),
        (
            Insn::Atomic {
                size: Size::DW,
                op: AtomicOp::Add,
                dst: R1,
                src: R2,
                off: 0,
            },
            "db21000000000000",
        ),
        (
            Insn::Atomic {
                size: Size::W,
                op: AtomicOp::FetchAdd,
                dst: R1,
                src: R2,
                off: 0,
            },
            "c321000001000000",
        ),
        (
            Insn::Atomic {
                size: Size::DW,
                op: AtomicOp::CmpXchg,
                dst: R1,
                src: R2,
                off: 8,
            },
            "db210800f1000000",
        ),
        (
            Insn::Atomic {
                size: Size::DW,
                op: AtomicOp::Xchg,
                dst: R1,
                src: R2,
                off: 0,
            },
            "db210000e1000000",
        ),
        (
            Insn::LdImm64 {
                dst: R3,
                imm: 0x1122_3344_5566_7788,
            },
            "18030000887766550000000044332211",
        ),
        (
            Insn::LdMapFd { dst: R1, fd: 5 },
            "18110000050000000000000000000000",
        ),
        (Insn::Ja { off: 5 }, "0500050000000000"),
        (Insn::JaLong { off: 1000 }, "06000000e8030000"),
        (
            Insn::Jmp {
                width: Width::W32,
                cond: JmpCond::Slt,
                dst: R1,
                src: Operand::Reg(R2),
                off: 3,
            },
            "ce21030000000000",
        ),
        (
            Insn::Jmp {
                width: Width::W64,
                cond: JmpCond::Set,
                dst: R1,
                src: Operand::Imm(4),
                off: -2,
            },
            "4501feff04000000",
        ),
        (Insn::call(helper::SPIN_LOCK), "850000005d000000"),
        (Insn::exit(), "9500000000000000"),
    ];
    for (insn, want) in &cases {
        assert_eq!(hex(insn), *want, "{insn:?}");
    }
}

/// Every instruction decodes back to itself.
#[test]
fn decode_round_trips() {
    let mut all = Vec::new();
    for width in [Width::W32, Width::W64] {
        for op in AluOp::ALL {
            all.push(Insn::Alu {
                width,
                op,
                dst: R1,
                src: Operand::Imm(-7),
            });
            all.push(Insn::Alu {
                width,
                op,
                dst: R9,
                src: Operand::Reg(R2),
            });
        }
        all.push(Insn::Neg { width, dst: R4 });
        for cond in JmpCond::ALL {
            all.push(Insn::Jmp {
                width,
                cond,
                dst: R3,
                src: Operand::Imm(0x7fff_ffff),
                off: -1,
            });
            all.push(Insn::Jmp {
                width,
                cond,
                dst: R3,
                src: Operand::Reg(R10),
                off: 32767,
            });
        }
        for from in [Size::B, Size::H] {
            all.push(Insn::MovSx {
                width,
                dst: R0,
                src: R1,
                from,
            });
        }
    }
    all.push(Insn::MovSx {
        width: Width::W64,
        dst: R0,
        src: R1,
        from: Size::W,
    });
    for order in [ByteOrder::ToLe, ByteOrder::ToBe, ByteOrder::Swap] {
        for bits in [16, 32, 64] {
            all.push(Insn::End {
                order,
                bits,
                dst: R7,
            });
        }
    }
    for size in [Size::B, Size::H, Size::W, Size::DW] {
        all.push(Insn::load(size, R0, R1, -8));
        all.push(Insn::store(size, R10, -16, 3));
        all.push(Insn::store(size, R10, -16, R4));
        if size != Size::DW {
            all.push(Insn::LoadSx {
                size,
                dst: R2,
                src: R3,
                off: 4,
            });
        }
    }
    for size in [Size::W, Size::DW] {
        for op in AtomicOp::ALL {
            all.push(Insn::Atomic {
                size,
                op,
                dst: R1,
                src: R2,
                off: 12,
            });
        }
    }
    all.push(Insn::LdImm64 {
        dst: R5,
        imm: u64::MAX,
    });
    all.push(Insn::LdMapFd { dst: R1, fd: 9 });
    all.push(Insn::Ja { off: -3 });
    all.push(Insn::JaLong { off: -100_000 });
    all.push(Insn::call(helper::KTIME_GET_NS));
    all.push(Insn::exit());

    let mut bytes = Vec::new();
    for i in &all {
        i.encode_into(&mut bytes).expect("encodes");
    }
    assert_eq!(Insn::decode_all(&bytes).expect("decodes"), all);
}

#[test]
fn invalid_instructions_are_errors() {
    let bad = [
        Insn::End {
            order: ByteOrder::ToBe,
            bits: 8,
            dst: R1,
        },
        Insn::MovSx {
            width: Width::W32,
            dst: R1,
            src: R2,
            from: Size::W,
        },
        Insn::MovSx {
            width: Width::W64,
            dst: R1,
            src: R2,
            from: Size::DW,
        },
        Insn::LoadSx {
            size: Size::DW,
            dst: R1,
            src: R2,
            off: 0,
        },
        Insn::Atomic {
            size: Size::B,
            op: AtomicOp::Add,
            dst: R1,
            src: R2,
            off: 0,
        },
    ];
    for insn in bad {
        assert!(
            matches!(insn.encode(), Err(Error::InvalidInsn(_))),
            "{insn:?}"
        );
        let mut p = Program::new();
        p.push(insn).push(Insn::exit());
        assert!(matches!(p.assemble(), Err(Error::InvalidInsn(_))));
    }
}

#[test]
fn decode_rejects_garbage() {
    assert!(matches!(
        Insn::decode_all(&[0; 7]),
        Err(Error::Decode { .. })
    ));
    // ld_imm64 without its second half
    assert!(matches!(
        Insn::decode_all(&[0x18, 0, 0, 0, 0, 0, 0, 0]),
        Err(Error::Decode { slot: 0, .. })
    ));
    // register 11
    assert!(matches!(
        Insn::decode_all(&[0xb7, 0x0b, 0, 0, 0, 0, 0, 0]),
        Err(Error::Decode { .. })
    ));
    // unknown opcode
    assert!(matches!(
        Insn::decode_all(&[0xff; 8]),
        Err(Error::Decode { .. })
    ));
}

#[test]
fn backward_and_forward_jumps_count_slots() {
    let mut p = Program::new();
    let top = p.label();
    let end = p.label();
    p.bind(top)
        .push(Insn::LdImm64 { dst: R1, imm: 1 }) // slots 0-1
        .jump_if(JmpCond::Eq, R1, 0, end) // slot 2 → slot 5: +2
        .push(Insn::alu64(AluOp::Sub, R1, 1)) // slot 3
        .jump(top) // slot 4 → slot 0: -5
        .bind(end)
        .push(Insn::exit()); // slot 5
    let asm = p.assemble().expect("assembles");
    assert_eq!(
        asm.insns()[1],
        Insn::Jmp {
            width: Width::W64,
            cond: JmpCond::Eq,
            dst: R1,
            src: Operand::Imm(0),
            off: 2
        }
    );
    assert_eq!(asm.insns()[3], Insn::Ja { off: -5 });
    assert_eq!(
        asm.listing(),
        "   0: (18) r1 = 0x1
   2: (15) if r1 == 0x0 goto pc+2
   3: (17) r1 -= 1
   4: (05) goto pc-5
   5: (95) exit
"
    );
}

#[test]
fn jump_out_of_range() {
    let mut p = Program::new();
    let far = p.label();
    p.jump(far);
    for _ in 0..40_000 {
        p.push(Insn::mov64(R0, 0));
    }
    p.bind(far).push(Insn::exit());
    assert_eq!(
        p.assemble(),
        Err(Error::JumpOutOfRange {
            at: 0,
            label: far.number(),
            offset: 40_000
        })
    );

    // Just in range: +32767.
    let mut p = Program::new();
    let far = p.label();
    p.jump(far);
    for _ in 0..32_767 {
        p.push(Insn::mov64(R0, 0));
    }
    p.bind(far).push(Insn::exit());
    assert_eq!(
        p.assemble().expect("fits").insns()[0],
        Insn::Ja { off: 32_767 }
    );
}

#[test]
fn label_misuse() {
    let mut p = Program::new();
    let l = p.label();
    p.jump(l).push(Insn::exit());
    assert_eq!(p.assemble(), Err(Error::UnboundLabel(l.number())));

    let mut p = Program::new();
    let l = p.label();
    p.bind(l).push(Insn::exit()).bind(l).push(Insn::exit());
    assert_eq!(p.assemble(), Err(Error::LabelBoundTwice(l.number())));

    let mut p = Program::new();
    let l = p.label();
    p.jump(l).push(Insn::exit()).bind(l);
    assert_eq!(p.assemble(), Err(Error::LabelPastEnd(l.number())));

    let mut other = Program::new();
    let _ = other.label();
    let foreign = other.label();
    let mut p = Program::new();
    p.jump(foreign).push(Insn::exit());
    assert_eq!(p.assemble(), Err(Error::UnknownLabel(foreign.number())));
    p.bind(foreign);
    assert_eq!(p.assemble(), Err(Error::UnknownLabel(foreign.number())));
}

#[test]
fn listing_of_less_common_instructions() {
    let insns = vec![
        Insn::mov32(R1, R2),
        Insn::alu64(AluOp::SDiv, R1, R2),
        Insn::alu32(AluOp::Arsh, R1, 3),
        Insn::Neg {
            width: Width::W32,
            dst: R3,
        },
        Insn::End {
            order: ByteOrder::ToBe,
            bits: 16,
            dst: R5,
        },
        Insn::End {
            order: ByteOrder::Swap,
            bits: 32,
            dst: R5,
        },
        Insn::MovSx {
            width: Width::W64,
            dst: R1,
            src: R2,
            from: Size::W,
        },
        Insn::LoadSx {
            size: Size::H,
            dst: R0,
            src: R1,
            off: 2,
        },
        Insn::store(Size::B, R10, -1, -1),
        Insn::Atomic {
            size: Size::DW,
            op: AtomicOp::Or,
            dst: R1,
            src: R2,
            off: 0,
        },
        Insn::Atomic {
            size: Size::W,
            op: AtomicOp::FetchAdd,
            dst: R1,
            src: R2,
            off: 4,
        },
        Insn::Atomic {
            size: Size::DW,
            op: AtomicOp::CmpXchg,
            dst: R1,
            src: R2,
            off: -8,
        },
        Insn::Atomic {
            size: Size::DW,
            op: AtomicOp::Xchg,
            dst: R1,
            src: R2,
            off: 0,
        },
        Insn::LdMapFd { dst: R1, fd: 3 },
        Insn::JaLong { off: 70_000 },
        Insn::Jmp {
            width: Width::W32,
            cond: JmpCond::Sge,
            dst: R1,
            src: Operand::Imm(-1),
            off: 1,
        },
        Insn::call(9999),
        Insn::exit(),
    ];
    let expected = "   0: (bc) w1 = w2
   1: (3f) r1 s/= r2
   2: (c4) w1 s>>= 3
   3: (84) w3 = -w3
   4: (dc) r5 = be16 r5
   5: (d7) r5 = bswap32 r5
   6: (bf) r1 = (s32)r2
   7: (89) r0 = *(s16 *)(r1 +2)
   8: (72) *(u8 *)(r10 -1) = -1
   9: (db) lock *(u64 *)(r1 +0) |= r2
  10: (c3) w2 = atomic_fetch_add((u32 *)(r1 +4), w2)
  11: (db) r0 = atomic64_cmpxchg((u64 *)(r1 -8), r0, r2)
  12: (db) r2 = atomic64_xchg((u64 *)(r1 +0), r2)
  13: (18) r1 = map[fd:3]
  15: (06) gotol pc+70000
  16: (76) if w1 s>= 0xffffffff goto pc+1
  17: (85) call #9999
  18: (95) exit
";
    assert_eq!(listing(&insns), expected);
}

#[test]
fn negated_conditions() {
    for c in JmpCond::ALL {
        match c.negate() {
            Some(n) => assert_eq!(n.negate(), Some(c)),
            None => assert_eq!(c, JmpCond::Set),
        }
    }
}
