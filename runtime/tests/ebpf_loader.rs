//! The `dpuc_runtime::ebpf` loader itself: refusals carry the verifier log,
//! map operations behave like the kernel's, and malformed objects are
//! errors rather than panics.
//!
//! Tests that need the kernel print `skipped: no BPF privilege` and return
//! when `bpf()` is not permitted; the parsing tests run everywhere.
#![cfg(all(feature = "ebpf", target_os = "linux"))]

use dpuc_ebpf::elf::{MapDef, MapKind, ObjectBuilder, Section, Shape};
use dpuc_ebpf::insn::{helper, AluOp, Insn, JmpCond, Program, Reg, Size};
use dpuc_runtime::ebpf::{
    bpf_available, parse_object, possible_cpus, update_flags, Error, Map, MapSpec, Object,
    PROG_TYPE_SCHED_CLS, PROG_TYPE_XDP,
};
use Reg::*;

macro_rules! require_bpf {
    () => {
        if bpf_available().is_err() {
            println!("skipped: no BPF privilege");
            return;
        }
    };
}

fn object(map: MapDef, name: &str, program: &Program) -> Vec<u8> {
    ObjectBuilder::new()
        .map(map)
        .program(name, Section::Xdp, program.assemble().expect("assemble"))
        .build()
        .expect("object")
}

/// Looks key 0 up in `m` and returns XDP_PASS.
fn lookup_zero(map: &str) -> Program {
    let mut p = Program::new();
    p.push(Insn::store(Size::W, R10, -4, 0))
        .push(Insn::mov64(R2, R10))
        .push(Insn::alu64(AluOp::Add, R2, -4))
        .ld_map(R1, map)
        .push(Insn::call(helper::MAP_LOOKUP_ELEM))
        .push(Insn::mov64(R0, 2))
        .push(Insn::exit());
    p
}

#[test]
fn verifier_log_is_in_the_error() {
    require_bpf!();
    // Reads the packet without checking data_end.
    let mut p = Program::new();
    p.push(Insn::load(Size::W, R2, R1, 0))
        .push(Insn::load(Size::B, R0, R2, 0))
        .push(Insn::exit());
    let obj = ObjectBuilder::new()
        .program("unchecked", Section::Xdp, p.assemble().expect("assemble"))
        .build()
        .expect("object");
    match Object::load(&obj) {
        Err(Error::Verifier { name, log, .. }) => {
            assert_eq!(name, "unchecked");
            assert!(log.contains("invalid access to packet"), "log: {log}");
        }
        other => panic!("expected a verifier refusal, got {other:?}"),
    }
}

#[test]
fn unreachable_code_is_refused() {
    require_bpf!();
    let mut p = Program::new();
    p.push(Insn::mov64(R0, 2))
        .push(Insn::exit())
        .push(Insn::mov64(R0, 1))
        .push(Insn::exit());
    let obj = ObjectBuilder::new()
        .program("dead", Section::Xdp, p.assemble().expect("assemble"))
        .build()
        .expect("object");
    match Object::load(&obj) {
        Err(Error::Verifier { source, log, .. }) => {
            assert_eq!(source.raw_os_error(), Some(22), "EINVAL");
            assert!(log.contains("unreachable insn 2"), "log: {log}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn gpl_only_helpers_need_a_gpl_license() {
    require_bpf!();
    let mut p = Program::new();
    p.push(Insn::call(helper::TRACE_PRINTK)).push(Insn::exit());
    let obj = ObjectBuilder::new()
        .program("printk", Section::Xdp, p.assemble().expect("assemble"))
        .license("Proprietary")
        .build()
        .expect("object");
    match Object::load(&obj) {
        Err(Error::Verifier { log, .. }) => assert!(log.contains("GPL"), "log: {log}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn hash_map_operations() {
    require_bpf!();
    let obj = object(
        MapDef::typed("h", MapKind::Hash, Shape::u32(), Shape::u64(), 4),
        "p",
        &lookup_zero("h"),
    );
    let loaded = Object::load(&obj).expect("load");
    assert_eq!(loaded.license(), "GPL");
    let h = loaded.map("h").expect("map");
    assert_eq!(
        (h.spec().key_size, h.spec().value_size, h.value_len()),
        (4, 8, 8)
    );
    let k = |n: u32| n.to_ne_bytes();
    let v = |n: u64| n.to_ne_bytes();

    assert_eq!(h.next_key(None).expect("empty walk"), None);
    h.update(&k(1), &v(10), update_flags::NOEXIST)
        .expect("insert");
    let again = h.update(&k(1), &v(11), update_flags::NOEXIST);
    assert!(
        matches!(again, Err(Error::Sys { .. })),
        "NOEXIST on a present key"
    );
    h.update(&k(1), &v(12), update_flags::EXIST)
        .expect("replace");
    assert!(
        h.update(&k(2), &v(1), update_flags::EXIST).is_err(),
        "EXIST on an absent key"
    );
    h.update(&k(2), &v(20), update_flags::ANY).expect("insert");
    assert_eq!(h.lookup(&k(1)).expect("lookup"), Some(v(12).to_vec()));
    assert_eq!(h.lookup(&k(3)).expect("lookup"), None);

    let mut keys = h.keys().expect("keys");
    keys.sort();
    assert_eq!(keys, vec![k(1).to_vec(), k(2).to_vec()]);
    // Full: max_entries is 4.
    h.update(&k(3), &v(0), update_flags::ANY).expect("3");
    h.update(&k(4), &v(0), update_flags::ANY).expect("4");
    assert!(
        h.update(&k(5), &v(0), update_flags::ANY).is_err(),
        "map full"
    );

    assert!(h.delete(&k(1)).expect("delete"));
    assert!(!h.delete(&k(1)).expect("delete absent"));

    // Wrong lengths are refused before the syscall.
    assert!(matches!(
        h.update(&[0u8; 8], &v(0), 0),
        Err(Error::Size {
            what: "key",
            got: 8,
            expected: 4,
            ..
        })
    ));
    assert!(matches!(
        h.update(&k(1), &[0u8; 4], 0),
        Err(Error::Size { what: "value", .. })
    ));
    assert!(matches!(h.lookup(&[0u8; 2]), Err(Error::Size { .. })));
    assert!(matches!(
        h.next_key(Some(&[0u8; 1])),
        Err(Error::Size { .. })
    ));
}

#[test]
fn percpu_hash_values_are_per_cpu() {
    require_bpf!();
    let obj = object(
        MapDef::new("pc", MapKind::PercpuHash, 4, 4, 8),
        "p",
        &lookup_zero("pc"),
    );
    let loaded = Object::load(&obj).expect("load");
    let pc = loaded.map("pc").expect("map");
    let cpus = possible_cpus().expect("cpus");
    // 4-byte values are padded to 8 per CPU.
    assert_eq!(pc.value_len(), 8 * cpus);
    let mut value = vec![0u8; pc.value_len()];
    for cpu in 0..cpus {
        value[8 * cpu..8 * cpu + 4].copy_from_slice(&(cpu as u32 + 100).to_ne_bytes());
    }
    pc.update(&7u32.to_ne_bytes(), &value, update_flags::ANY)
        .expect("update");
    let per_cpu = pc
        .lookup_percpu(&7u32.to_ne_bytes())
        .expect("lookup")
        .expect("present");
    assert_eq!(per_cpu.len(), cpus);
    for (cpu, v) in per_cpu.iter().enumerate() {
        assert_eq!(v, &(cpu as u32 + 100).to_ne_bytes());
    }
}

#[test]
fn standalone_maps_and_raw_programs() {
    require_bpf!();
    let m = Map::create(&MapSpec::new("plain", 1, 2, 2, 2)).expect("create");
    m.update(&[1, 2], &[3, 4], 0).expect("update");
    assert_eq!(m.lookup(&[1, 2]).expect("lookup"), Some(vec![3, 4]));
    let fd = m.fd();
    // A program that uses the map through a raw fd.
    let mut p = Program::new();
    let out = p.label();
    p.push(Insn::store(Size::H, R10, -2, 0x0201))
        .push(Insn::mov64(R2, R10))
        .push(Insn::alu64(AluOp::Add, R2, -2))
        .push(Insn::LdMapFd {
            dst: R1,
            fd: std::os::fd::AsRawFd::as_raw_fd(&fd),
        })
        .push(Insn::call(helper::MAP_LOOKUP_ELEM))
        .push(Insn::mov64(R6, 0))
        .jump_if(JmpCond::Eq, R0, 0, out)
        .push(Insn::load(Size::H, R6, R0, 0))
        .bind(out)
        .push(Insn::mov64(R0, R6))
        .push(Insn::exit());
    let asm = p.assemble().expect("assemble");
    let prog = dpuc_runtime::ebpf::Program::load_insns(
        "raw",
        "classifier",
        PROG_TYPE_SCHED_CLS,
        asm.bytes(),
        "GPL",
    )
    .expect("load");
    assert_eq!(prog.prog_type(), PROG_TYPE_SCHED_CLS);
    assert_eq!(prog.insn_count(), asm.slot_count());
    let frame = [0u8; 60];
    let run = prog.test_run(&frame, 1).expect("run");
    assert_eq!(run.retval, u32::from(u16::from_ne_bytes([3, 4])));
}

#[test]
fn loads_from_a_file() {
    require_bpf!();
    let obj = object(
        MapDef::new("f", MapKind::Array, 4, 4, 1),
        "from_file",
        &lookup_zero("f"),
    );
    let path = std::env::temp_dir().join(format!("dpuc-ebpf-test-{}.o", std::process::id()));
    std::fs::write(&path, &obj).expect("write");
    let loaded = Object::load_file(&path);
    let _ = std::fs::remove_file(&path);
    let loaded = loaded.expect("load");
    let p = loaded.program("from_file").expect("program");
    assert_eq!(p.prog_type(), PROG_TYPE_XDP);
    assert_eq!(p.test_run(&[0u8; 14], 1).expect("run").retval, 2);
    assert!(matches!(
        Object::load_file("/nonexistent/x.o"),
        Err(Error::Io { .. })
    ));
}

fn sample_object() -> Vec<u8> {
    ObjectBuilder::new()
        .map(MapDef::typed(
            "h",
            MapKind::Hash,
            Shape::u32(),
            Shape::u64(),
            4,
        ))
        .map(
            MapDef::typed(
                "l",
                MapKind::LpmTrie,
                Shape::lpm_key("k", 4),
                Shape::u32(),
                4,
            )
            .with_flags(1),
        )
        .program(
            "p",
            Section::Xdp,
            lookup_zero("h").assemble().expect("assemble"),
        )
        .program(
            "q",
            Section::Tc,
            lookup_zero("l").assemble().expect("assemble"),
        )
        .btf_ext(true)
        .build()
        .expect("object")
}

#[test]
fn parse_finds_maps_programs_and_relocations() {
    let spec = parse_object(&sample_object()).expect("parse");
    assert_eq!(spec.license, "GPL");
    let names: Vec<_> = spec
        .maps
        .iter()
        .map(|m| (m.name.as_str(), m.map_type, m.key_size, m.value_size))
        .collect();
    assert_eq!(names, [("h", 1, 4, 8), ("l", 11, 8, 4)]);
    assert_eq!(spec.maps[1].flags, 1);
    assert!(spec.maps.iter().all(|m| m.btf_ids.is_some()));
    let progs: Vec<_> = spec
        .programs
        .iter()
        .map(|p| (p.name.as_str(), p.section.as_str(), p.prog_type))
        .collect();
    assert_eq!(
        progs,
        [
            ("p", "xdp", PROG_TYPE_XDP),
            ("q", "classifier", PROG_TYPE_SCHED_CLS)
        ]
    );
    assert_eq!(spec.programs[0].map_relocs, [(3, 0)]);
    assert_eq!(spec.programs[1].map_relocs, [(3, 1)]);
    assert_eq!(spec.programs[0].func_info.len(), 1);
    assert_eq!(spec.programs[0].line_info.len(), 1);
}

/// Every truncation and every single-byte corruption of an object parses
/// to a result or an error — never a panic.
#[test]
fn corrupted_objects_do_not_panic() {
    let obj = sample_object();
    for len in 0..obj.len() {
        let _ = parse_object(&obj[..len]);
    }
    for i in 0..obj.len() {
        for flip in [0xff, 0x80, 0x01] {
            let mut bad = obj.clone();
            bad[i] ^= flip;
            let _ = parse_object(&bad);
        }
    }
    assert!(matches!(
        parse_object(&obj[..obj.len() / 2]),
        Err(Error::Object(_))
    ));
}

#[test]
fn relocation_must_hit_an_ld_imm64() {
    let mut obj = sample_object();
    // The first relocation's r_offset: point it one slot later (at the call).
    let spec_before = parse_object(&obj).expect("parse");
    assert_eq!(spec_before.programs[0].map_relocs[0].0, 3);
    let needle = 24u64.to_le_bytes();
    let at = obj
        .windows(16)
        .position(|w| w[..8] == needle && w[8..12] == 1u32.to_le_bytes())
        .expect("relocation entry");
    obj[at..at + 8].copy_from_slice(&40u64.to_le_bytes());
    match parse_object(&obj) {
        Err(Error::Object(msg)) => assert!(msg.contains("ld_imm64"), "{msg}"),
        other => panic!("expected an error, got {other:?}"),
    }
}
