//! Object-level features the conntrack and per-key meter code rely on,
//! checked in the kernel on their own: a static callback in `.text` passed
//! to `bpf_for_each_map_elem` (BPF_PSEUDO_FUNC, `.BTF.ext` func_info) that
//! deletes entries of the map it walks, and writes into its caller's stack.
//! Set `DPUC_EBPF_DUMP_DIR` to keep the object (for `bpftool prog loadall`).

use dpuc_ebpf::elf::{MapDef, MapKind, ObjectBuilder, Section, Shape};
use dpuc_ebpf::insn::{helper, AluOp, Insn, JmpCond, Program, Reg, Size};
use dpuc_runtime::ebpf::Object;
use dpuc_tests::bpf_privileged;
use Reg::*;

/// A callback `(map, key, value, ctx)` that deletes every entry whose value
/// is below `ctx[0]` and counts the survivors in `ctx[8]`.
fn sweep() -> Program {
    let mut p = Program::new();
    let keep = p.label();
    p.push(Insn::load(Size::DW, R0, R3, 0))
        .push(Insn::load(Size::DW, R5, R4, 0))
        .jump_if(JmpCond::Ge, R0, R5, keep)
        .push(Insn::call(helper::MAP_DELETE_ELEM))
        .push(Insn::mov64(R0, 0))
        .push(Insn::exit())
        .bind(keep)
        .push(Insn::load(Size::DW, R5, R4, 8))
        .push(Insn::alu64(AluOp::Add, R5, 1))
        .push(Insn::store(Size::DW, R4, 8, R5))
        .push(Insn::mov64(R0, 0))
        .push(Insn::exit());
    p
}

/// Walks `m` with the callback (threshold 10) and returns the survivors.
fn walker() -> Program {
    let mut p = Program::new();
    p.push(Insn::store(Size::DW, R10, -16, 10))
        .push(Insn::store(Size::DW, R10, -8, 0))
        .ld_map(R1, "m")
        .ld_func(R2, "sweep")
        .push(Insn::mov64(R3, R10))
        .push(Insn::alu64(AluOp::Add, R3, -16))
        .push(Insn::mov64(R4, 0))
        .push(Insn::call(helper::FOR_EACH_MAP_ELEM))
        .push(Insn::load(Size::DW, R0, R10, -8))
        .push(Insn::exit());
    p
}

fn object() -> Vec<u8> {
    ObjectBuilder::new()
        .map(MapDef::typed(
            "m",
            MapKind::Hash,
            Shape::u32(),
            Shape::u64(),
            8,
        ))
        .subprogram(
            "sweep",
            &["map", "key", "value", "ctx"],
            sweep().assemble().expect("callback"),
        )
        .program("walk_xdp", Section::Xdp, walker().assemble().expect("xdp"))
        .program("walk_tc", Section::Tc, walker().assemble().expect("tc"))
        .build()
        .expect("object")
}

#[test]
fn a_callback_in_text_deletes_entries_while_the_map_is_walked() {
    let obj = object();
    if let Some(dir) = std::env::var_os("DPUC_EBPF_DUMP_DIR") {
        std::fs::write(std::path::Path::new(&dir).join("for_each.o"), &obj).expect("dump");
    }
    if !bpf_privileged() {
        return;
    }
    let o = Object::load(&obj).unwrap_or_else(|e| panic!("{e}"));
    let m = o.map("m").expect("map");
    for (k, v) in [(1u32, 5u64), (2, 20), (3, 9), (4, 10)] {
        m.update(&k.to_le_bytes(), &v.to_le_bytes(), 0)
            .expect("update");
    }
    let frame = [0u8; 64];
    for name in ["walk_xdp", "walk_tc"] {
        let run = o.program(name).expect("program").test_run(&frame, 1);
        assert_eq!(run.expect("run").retval, 2, "{name}: two entries survive");
    }
    let mut keys: Vec<u32> = m
        .keys()
        .expect("keys")
        .iter()
        .map(|k| u32::from_le_bytes([k[0], k[1], k[2], k[3]]))
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, [2, 4]);
}

#[test]
fn corrupted_objects_with_subprograms_are_errors_not_panics() {
    let obj = object();
    let spec = dpuc_runtime::ebpf::parse_object(&obj).expect("parses");
    // The callback is appended to each program, after its code.
    for p in &spec.programs {
        assert_eq!(p.func_info.len(), 2, "{}: program and callback", p.name);
        assert_eq!(p.line_info.len(), 2);
    }
    for at in 0..obj.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut bad = obj.clone();
            bad[at] ^= flip;
            let _ = dpuc_runtime::ebpf::parse_object(&bad);
        }
    }
    for len in 0..obj.len() {
        let _ = dpuc_runtime::ebpf::parse_object(&obj[..len]);
    }
}
