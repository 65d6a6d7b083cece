//! eBPF objects built with `dpuc-ebpf`, loaded from their ELF bytes by the
//! `dpuc_runtime::ebpf` loader, and run in the kernel with
//! `BPF_PROG_TEST_RUN` on real frames.
//!
//! Without BPF privilege every test prints `skipped: no BPF privilege` and
//! returns. Set `DPUC_EBPF_DUMP_DIR` to keep each object as `<name>.o` (for
//! `bpftool prog loadall` or libbpf).
#![cfg(all(feature = "ebpf", target_os = "linux"))]

use dpuc_ebpf::elf::{map_flags, Field, MapDef, MapKind, ObjectBuilder, Section, Shape};
use dpuc_ebpf::insn::{helper, AluOp, AtomicOp, ByteOrder, Insn, JmpCond, Program, Reg, Size};
use dpuc_runtime::ebpf::{bpf_available, update_flags, Object};
use Reg::*;

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;
const XDP_TX: u32 = 3;
const TC_ACT_OK: u32 = 0;
const TC_ACT_SHOT: u32 = 2;

/// Returns from the test, visibly, when BPF cannot be used here.
macro_rules! require_bpf {
    () => {
        if bpf_available().is_err() {
            println!("skipped: no BPF privilege");
            return;
        }
    };
}

/// Writes `obj` to `$DPUC_EBPF_DUMP_DIR/<name>.o` when the variable is set.
fn dump(name: &str, obj: &[u8]) {
    if let Some(dir) = std::env::var_os("DPUC_EBPF_DUMP_DIR") {
        let path = std::path::Path::new(&dir).join(format!("{name}.o"));
        std::fs::write(&path, obj).expect("write object dump");
    }
}

/// Ethernet II + IPv4 (no options) + UDP, 42 bytes plus `payload` zero bytes.
fn ipv4_udp(src: [u8; 4], dst: [u8; 4], payload: usize) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00]);
    let total = (20 + 8 + payload) as u16;
    f.extend_from_slice(&[
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        0,
        0,
        0,
        64,
        17,
        0,
        0,
    ]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    let ulen = (8 + payload) as u16;
    f.extend_from_slice(&[0x30, 0x39, 0x00, 0x35, (ulen >> 8) as u8, ulen as u8, 0, 0]);
    f.resize(f.len() + payload, 0);
    f
}

/// Ethernet II + IPv6 (no extension headers) + UDP.
fn ipv6_udp() -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x86, 0xdd]);
    f.extend_from_slice(&[0x60, 0, 0, 0, 0, 8, 17, 64]);
    f.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    f.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    f.extend_from_slice(&[0x30, 0x39, 0x00, 0x35, 0, 8, 0, 0]);
    f
}

/// `r2 = data, r3 = data_end` from an XDP context (`struct xdp_md`: 32-bit loads at 0 and 4).
fn xdp_data(p: &mut Program) {
    p.push(Insn::load(Size::W, R2, R1, 0))
        .push(Insn::load(Size::W, R3, R1, 4));
}

/// `if data + n > data_end goto fail` (clobbers r4).
fn bounds(p: &mut Program, n: i32, fail: dpuc_ebpf::insn::Label) {
    p.push(Insn::mov64(R4, R2))
        .push(Insn::alu64(AluOp::Add, R4, n))
        .jump_if(JmpCond::Gt, R4, R3, fail);
}

/// Drops IPv4, passes everything else (and runts).
fn ethertype_program(section: Section, drop: i32, pass: i32) -> Program {
    let mut p = Program::new();
    let pass_l = p.label();
    match section {
        Section::Xdp => xdp_data(&mut p),
        // struct __sk_buff: data at 76, data_end at 80.
        Section::Tc => {
            p.push(Insn::load(Size::W, R2, R1, 76))
                .push(Insn::load(Size::W, R3, R1, 80));
        }
    }
    bounds(&mut p, 14, pass_l);
    p.push(Insn::load(Size::H, R5, R2, 12))
        .push(Insn::End {
            order: ByteOrder::ToBe,
            bits: 16,
            dst: R5,
        })
        .jump_if(JmpCond::Ne, R5, 0x0800, pass_l)
        .push(Insn::mov64(R0, drop))
        .push(Insn::exit())
        .bind(pass_l)
        .push(Insn::mov64(R0, pass))
        .push(Insn::exit());
    p
}

#[test]
fn xdp_drops_ipv4_passes_the_rest() {
    require_bpf!();
    let code = ethertype_program(Section::Xdp, XDP_DROP as i32, XDP_PASS as i32)
        .assemble()
        .expect("assemble");
    let obj = ObjectBuilder::new()
        .program("eth_filter", Section::Xdp, code)
        .build()
        .expect("object");
    dump("xdp_ethertype", &obj);
    let loaded = Object::load(&obj).expect("load");
    let prog = loaded.program("eth_filter").expect("program");
    assert_eq!(prog.section(), "xdp");

    let v4 = ipv4_udp([10, 0, 0, 1], [10, 0, 0, 2], 18);
    let run = prog.test_run(&v4, 1).expect("run");
    assert_eq!(run.retval, XDP_DROP);
    assert_eq!(run.data_out, v4, "the packet is unchanged");
    assert_eq!(prog.test_run(&ipv6_udp(), 1).expect("run").retval, XDP_PASS);
    // ARP: not IPv4.
    let mut arp = v4.clone();
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    assert_eq!(prog.test_run(&arp, 1).expect("run").retval, XDP_PASS);
    // Exactly 14 bytes (the minimum XDP test run) of an IPv4 header-less frame.
    assert_eq!(prog.test_run(&v4[..14], 1).expect("run").retval, XDP_DROP);
    // Repeat reports a mean duration and the same verdict.
    let many = prog.test_run(&v4, 1000).expect("run");
    assert_eq!(many.retval, XDP_DROP);
}

#[test]
fn tc_classifier_drops_ipv4() {
    require_bpf!();
    let code = ethertype_program(Section::Tc, TC_ACT_SHOT as i32, TC_ACT_OK as i32)
        .assemble()
        .expect("assemble");
    let obj = ObjectBuilder::new()
        .program("tc_filter", Section::Tc, code)
        .build()
        .expect("object");
    dump("tc_ethertype", &obj);
    let loaded = Object::load(&obj).expect("load");
    let prog = loaded.program("tc_filter").expect("program");
    assert_eq!(prog.section(), "classifier");
    assert_eq!(
        prog.test_run(&ipv4_udp([1, 2, 3, 4], [5, 6, 7, 8], 0), 1)
            .expect("run")
            .retval,
        TC_ACT_SHOT
    );
    assert_eq!(
        prog.test_run(&ipv6_udp(), 1).expect("run").retval,
        TC_ACT_OK
    );
}

/// Per-CPU `{ packets, bytes }` at key 0: packets += 1 (plain), bytes += len (atomic add).
fn counter_program() -> Program {
    let mut p = Program::new();
    let out = p.label();
    xdp_data(&mut p);
    p.push(Insn::mov64(R6, R3))
        .push(Insn::alu64(AluOp::Sub, R6, R2)) // r6 = packet length
        .push(Insn::store(Size::W, R10, -4, 0))
        .push(Insn::mov64(R2, R10))
        .push(Insn::alu64(AluOp::Add, R2, -4))
        .ld_map(R1, "stats")
        .push(Insn::call(helper::MAP_LOOKUP_ELEM))
        .jump_if(JmpCond::Eq, R0, 0, out)
        .push(Insn::load(Size::DW, R1, R0, 0))
        .push(Insn::alu64(AluOp::Add, R1, 1))
        .push(Insn::store(Size::DW, R0, 0, R1))
        .push(Insn::Atomic {
            size: Size::DW,
            op: AtomicOp::Add,
            dst: R0,
            src: R6,
            off: 8,
        })
        .bind(out)
        .push(Insn::mov64(R0, XDP_PASS as i32))
        .push(Insn::exit());
    p
}

#[test]
fn percpu_array_counts_packets_and_bytes() {
    require_bpf!();
    let value = Shape::structure(
        "counters",
        16,
        vec![
            Field::new("packets", 0, Shape::u64()),
            Field::new("bytes", 8, Shape::u64()),
        ],
    );
    let obj = ObjectBuilder::new()
        .map(MapDef::typed(
            "stats",
            MapKind::PercpuArray,
            Shape::u32(),
            value,
            1,
        ))
        .program(
            "count",
            Section::Xdp,
            counter_program().assemble().expect("assemble"),
        )
        .build()
        .expect("object");
    dump("percpu_counter", &obj);
    let loaded = Object::load(&obj).expect("load");
    let prog = loaded.program("count").expect("program");
    let stats = loaded.map("stats").expect("map");

    let frame = ipv4_udp([10, 0, 0, 1], [10, 0, 0, 2], 58); // 100 bytes
    assert_eq!(frame.len(), 100);
    assert_eq!(prog.test_run(&frame, 7).expect("run").retval, XDP_PASS);
    assert_eq!(prog.test_run(&frame, 3).expect("run").retval, XDP_PASS);

    let per_cpu = stats
        .lookup_percpu(&0u32.to_ne_bytes())
        .expect("lookup")
        .expect("present");
    assert!(!per_cpu.is_empty());
    let sum = |off: usize| -> u64 {
        per_cpu
            .iter()
            .map(|v| u64::from_ne_bytes(v[off..off + 8].try_into().expect("8 bytes")))
            .sum()
    };
    assert_eq!(sum(0), 10, "packets over all CPUs");
    assert_eq!(sum(8), 1000, "bytes over all CPUs");

    // User space can reset every CPU's slot.
    stats
        .update(
            &0u32.to_ne_bytes(),
            &vec![0u8; stats.value_len()],
            update_flags::ANY,
        )
        .expect("reset");
    let per_cpu = stats
        .lookup_percpu(&0u32.to_ne_bytes())
        .expect("lookup")
        .expect("present");
    assert!(per_cpu.iter().all(|v| v.iter().all(|&b| b == 0)));
}

/// Looks the IPv4 source up in an LPM trie; the value is the XDP verdict.
fn lpm_program() -> Program {
    let mut p = Program::new();
    let pass = p.label();
    xdp_data(&mut p);
    bounds(&mut p, 34, pass);
    p.push(Insn::load(Size::H, R5, R2, 12))
        .jump_if(JmpCond::Ne, R5, 0x0008, pass) // 0x0800 read little endian
        .push(Insn::store(Size::W, R10, -8, 32)) // key.prefixlen = 32
        .push(Insn::load(Size::W, R5, R2, 26)) // ip->saddr, kept in network order
        .push(Insn::store(Size::W, R10, -4, R5)) // key.data
        .push(Insn::mov64(R2, R10))
        .push(Insn::alu64(AluOp::Add, R2, -8))
        .ld_map(R1, "routes")
        .push(Insn::call(helper::MAP_LOOKUP_ELEM))
        .jump_if(JmpCond::Eq, R0, 0, pass)
        .push(Insn::load(Size::W, R0, R0, 0))
        .push(Insn::exit())
        .bind(pass)
        .push(Insn::mov64(R0, XDP_PASS as i32))
        .push(Insn::exit());
    p
}

fn lpm_key(prefix: u32, addr: [u8; 4]) -> Vec<u8> {
    let mut k = prefix.to_ne_bytes().to_vec();
    k.extend_from_slice(&addr);
    k
}

#[test]
fn lpm_trie_matches_longest_prefix_of_ipv4_source() {
    require_bpf!();
    let map = MapDef::typed(
        "routes",
        MapKind::LpmTrie,
        Shape::lpm_key("ipv4_lpm_key", 4),
        Shape::u32(),
        64,
    )
    .with_flags(map_flags::NO_PREALLOC);
    let obj = ObjectBuilder::new()
        .map(map)
        .program(
            "route",
            Section::Xdp,
            lpm_program().assemble().expect("assemble"),
        )
        .build()
        .expect("object");
    dump("lpm_trie", &obj);
    let loaded = Object::load(&obj).expect("load");
    let prog = loaded.program("route").expect("program");
    let routes = loaded.map("routes").expect("map");
    assert_eq!(routes.spec().flags, map_flags::NO_PREALLOC);
    assert_eq!(routes.spec().key_size, 8);

    routes
        .update(
            &lpm_key(8, [10, 0, 0, 0]),
            &XDP_DROP.to_ne_bytes(),
            update_flags::ANY,
        )
        .expect("10/8");
    routes
        .update(
            &lpm_key(16, [10, 1, 0, 0]),
            &XDP_TX.to_ne_bytes(),
            update_flags::ANY,
        )
        .expect("10.1/16");

    let verdict = |src: [u8; 4]| {
        prog.test_run(&ipv4_udp(src, [192, 0, 2, 1], 0), 1)
            .expect("run")
            .retval
    };
    assert_eq!(verdict([10, 1, 2, 3]), XDP_TX, "longest prefix wins");
    assert_eq!(verdict([10, 2, 0, 1]), XDP_DROP);
    assert_eq!(verdict([192, 168, 0, 1]), XDP_PASS, "no route");
    assert_eq!(prog.test_run(&ipv6_udp(), 1).expect("run").retval, XDP_PASS);

    // The trie itself, from user space: exact-length lookups, walk, delete.
    let hit = routes.lookup(&lpm_key(32, [10, 1, 9, 9])).expect("lookup");
    assert_eq!(hit, Some(XDP_TX.to_ne_bytes().to_vec()));
    assert_eq!(routes.keys().expect("keys").len(), 2);
    assert!(routes.delete(&lpm_key(16, [10, 1, 0, 0])).expect("delete"));
    assert!(!routes
        .delete(&lpm_key(16, [10, 1, 0, 0]))
        .expect("delete again"));
    assert_eq!(verdict([10, 1, 2, 3]), XDP_DROP);
}

/// A token bucket in a hash map whose value holds a `bpf_spin_lock`:
/// each packet takes a token under the lock, or is dropped if none is left.
fn meter_program() -> Program {
    let mut p = Program::new();
    let out = p.label();
    let empty = p.label();
    let unlock = p.label();
    p.push(Insn::store(Size::W, R10, -4, 0))
        .push(Insn::mov64(R2, R10))
        .push(Insn::alu64(AluOp::Add, R2, -4))
        .ld_map(R1, "meters")
        .push(Insn::call(helper::MAP_LOOKUP_ELEM))
        .push(Insn::mov64(R8, XDP_PASS as i32))
        .jump_if(JmpCond::Eq, R0, 0, out)
        .push(Insn::mov64(R6, R0))
        .push(Insn::mov64(R1, R6))
        .push(Insn::call(helper::SPIN_LOCK))
        // Locked region: no calls, no exit.
        .push(Insn::load(Size::DW, R7, R6, 8))
        .jump_if(JmpCond::Eq, R7, 0, empty)
        .push(Insn::alu64(AluOp::Sub, R7, 1))
        .push(Insn::store(Size::DW, R6, 8, R7))
        .jump(unlock)
        .bind(empty)
        .push(Insn::mov64(R8, XDP_DROP as i32))
        .bind(unlock)
        .push(Insn::load(Size::DW, R7, R6, 16))
        .push(Insn::alu64(AluOp::Add, R7, 1))
        .push(Insn::store(Size::DW, R6, 16, R7))
        .push(Insn::mov64(R1, R6))
        .push(Insn::call(helper::SPIN_UNLOCK))
        .bind(out)
        .push(Insn::mov64(R0, R8))
        .push(Insn::exit());
    p
}

fn meter_value() -> Shape {
    Shape::structure(
        "meter",
        24,
        vec![
            Field::new("lock", 0, Shape::SpinLock),
            Field::new("pad", 4, Shape::u32()),
            Field::new("tokens", 8, Shape::u64()),
            Field::new("packets", 16, Shape::u64()),
        ],
    )
}

#[test]
fn hash_map_with_spin_lock_value() {
    require_bpf!();
    let obj = ObjectBuilder::new()
        .map(MapDef::typed(
            "meters",
            MapKind::Hash,
            Shape::u32(),
            meter_value(),
            16,
        ))
        // An array can carry the lock too (the program does not use it).
        .map(MapDef::typed(
            "cells",
            MapKind::Array,
            Shape::u32(),
            meter_value(),
            4,
        ))
        .program(
            "meter",
            Section::Xdp,
            meter_program().assemble().expect("assemble"),
        )
        .build()
        .expect("object");
    dump("spin_lock_meter", &obj);
    let loaded = Object::load(&obj).expect("load");
    let prog = loaded.program("meter").expect("program");
    let meters = loaded.map("meters").expect("map");
    assert!(
        meters.spec().btf_ids.is_some(),
        "the lock needs BTF key/value ids"
    );

    let frame = ipv4_udp([10, 0, 0, 1], [10, 0, 0, 2], 0);
    // No meter yet: pass.
    assert_eq!(prog.test_run(&frame, 1).expect("run").retval, XDP_PASS);

    let mut v = vec![0u8; 24];
    v[8..16].copy_from_slice(&3u64.to_ne_bytes());
    meters
        .update(&0u32.to_ne_bytes(), &v, update_flags::ANY)
        .expect("insert");
    let verdicts: Vec<u32> = (0..5)
        .map(|_| prog.test_run(&frame, 1).expect("run").retval)
        .collect();
    assert_eq!(verdicts, [XDP_PASS, XDP_PASS, XDP_PASS, XDP_DROP, XDP_DROP]);

    let got = meters
        .lookup_flags(&0u32.to_ne_bytes(), update_flags::F_LOCK)
        .expect("lookup")
        .expect("present");
    assert_eq!(
        u64::from_ne_bytes(got[8..16].try_into().expect("8")),
        0,
        "tokens"
    );
    assert_eq!(
        u64::from_ne_bytes(got[16..24].try_into().expect("8")),
        5,
        "packets"
    );

    // User space updates and reads the array's value under its lock.
    let cells = loaded.map("cells").expect("array");
    assert!(cells.spec().btf_ids.is_some());
    v[16..24].copy_from_slice(&9u64.to_ne_bytes());
    cells
        .update(&1u32.to_ne_bytes(), &v, update_flags::F_LOCK)
        .expect("locked update");
    let got = cells
        .lookup_flags(&1u32.to_ne_bytes(), update_flags::F_LOCK)
        .expect("lookup")
        .expect("present");
    assert_eq!(&got[8..24], &v[8..24]);
}

/// Counts packets per IPv4 source in an LRU hash: inserts with the
/// `map_update_elem` helper, then increments with `atomic_fetch_add`;
/// drops from the third packet of a source on.
fn lru_program() -> Program {
    let mut p = Program::new();
    let pass = p.label();
    let found = p.label();
    xdp_data(&mut p);
    bounds(&mut p, 34, pass);
    p.push(Insn::load(Size::W, R6, R2, 26))
        .push(Insn::store(Size::W, R10, -4, R6)) // key = saddr
        .push(Insn::mov64(R2, R10))
        .push(Insn::alu64(AluOp::Add, R2, -4))
        .ld_map(R1, "flows")
        .push(Insn::call(helper::MAP_LOOKUP_ELEM))
        .jump_if(JmpCond::Ne, R0, 0, found)
        // New source: flows[saddr] = 1 (BPF_NOEXIST).
        .push(Insn::store(Size::DW, R10, -16, 1))
        .push(Insn::mov64(R2, R10))
        .push(Insn::alu64(AluOp::Add, R2, -4))
        .push(Insn::mov64(R3, R10))
        .push(Insn::alu64(AluOp::Add, R3, -16))
        .push(Insn::mov64(R4, 1))
        .ld_map(R1, "flows")
        .push(Insn::call(helper::MAP_UPDATE_ELEM))
        .jump(pass)
        .bind(found)
        .push(Insn::mov64(R1, 1))
        .push(Insn::Atomic {
            size: Size::DW,
            op: AtomicOp::FetchAdd,
            dst: R0,
            src: R1,
            off: 0,
        })
        // r1 = count before this packet
        .jump_if(JmpCond::Lt, R1, 2, pass)
        .push(Insn::mov64(R0, XDP_DROP as i32))
        .push(Insn::exit())
        .bind(pass)
        .push(Insn::mov64(R0, XDP_PASS as i32))
        .push(Insn::exit());
    p
}

#[test]
fn lru_hash_counts_per_source_with_atomics() {
    require_bpf!();
    let obj = ObjectBuilder::new()
        .map(MapDef::typed(
            "flows",
            MapKind::LruHash,
            Shape::u32(),
            Shape::u64(),
            128,
        ))
        .program(
            "flows_prog",
            Section::Xdp,
            lru_program().assemble().expect("assemble"),
        )
        .build()
        .expect("object");
    dump("lru_atomic", &obj);
    let loaded = Object::load(&obj).expect("load");
    let prog = loaded.program("flows_prog").expect("program");
    let flows = loaded.map("flows").expect("map");

    let a = ipv4_udp([10, 0, 0, 1], [10, 0, 0, 9], 0);
    let b = ipv4_udp([10, 0, 0, 2], [10, 0, 0, 9], 0);
    let run = |f: &[u8]| prog.test_run(f, 1).expect("run").retval;
    assert_eq!(
        [run(&a), run(&a), run(&a), run(&b), run(&a)],
        [XDP_PASS, XDP_PASS, XDP_DROP, XDP_PASS, XDP_DROP]
    );
    let count = |ip: [u8; 4]| {
        flows
            .lookup(&ip)
            .expect("lookup")
            .map(|v| u64::from_ne_bytes(v.try_into().expect("8 bytes")))
    };
    assert_eq!(count([10, 0, 0, 1]), Some(4));
    assert_eq!(count([10, 0, 0, 2]), Some(1));
    assert_eq!(count([10, 0, 0, 3]), None);
}

/// Two programs in one object share a map, and `.BTF.ext` func_info is accepted.
#[test]
fn two_programs_share_a_map_with_func_info() {
    require_bpf!();
    let mut writer = Program::new();
    writer
        .push(Insn::store(Size::W, R10, -4, 0))
        .push(Insn::mov64(R2, R10))
        .push(Insn::alu64(AluOp::Add, R2, -4))
        .ld_map(R1, "shared")
        .push(Insn::call(helper::MAP_LOOKUP_ELEM));
    let out = writer.label();
    writer
        .jump_if(JmpCond::Eq, R0, 0, out)
        .push(Insn::mov64(R1, 41))
        .push(Insn::Atomic {
            size: Size::W,
            op: AtomicOp::Xchg,
            dst: R0,
            src: R1,
            off: 0,
        })
        .bind(out)
        .push(Insn::mov64(R0, XDP_PASS as i32))
        .push(Insn::exit());
    let mut reader = Program::new();
    let miss = reader.label();
    reader
        .push(Insn::store(Size::W, R10, -4, 0))
        .push(Insn::mov64(R2, R10))
        .push(Insn::alu64(AluOp::Add, R2, -4))
        .ld_map(R1, "shared")
        .push(Insn::call(helper::MAP_LOOKUP_ELEM))
        .jump_if(JmpCond::Eq, R0, 0, miss)
        // cmpxchg: if value == 41, make it 42; r0 gets the old value.
        .push(Insn::mov64(R6, R0))
        .push(Insn::mov64(R0, 41))
        .push(Insn::mov64(R1, 42))
        .push(Insn::Atomic {
            size: Size::W,
            op: AtomicOp::CmpXchg,
            dst: R6,
            src: R1,
            off: 0,
        })
        .push(Insn::exit())
        .bind(miss)
        .push(Insn::mov64(R0, 0))
        .push(Insn::exit());
    let obj = ObjectBuilder::new()
        .map(MapDef::new("shared", MapKind::Array, 4, 4, 1))
        .program("writer", Section::Xdp, writer.assemble().expect("assemble"))
        .program("reader", Section::Xdp, reader.assemble().expect("assemble"))
        .btf_ext(true)
        .build()
        .expect("object");
    dump("two_programs", &obj);
    let loaded = Object::load(&obj).expect("load");
    assert_eq!(loaded.programs().len(), 2);
    let frame = ipv4_udp([1, 1, 1, 1], [2, 2, 2, 2], 0);
    let reader = loaded.program("reader").expect("reader");
    assert_eq!(
        reader.test_run(&frame, 1).expect("run").retval,
        0,
        "old value 0, no swap"
    );
    assert_eq!(
        loaded
            .program("writer")
            .expect("writer")
            .test_run(&frame, 1)
            .expect("run")
            .retval,
        XDP_PASS
    );
    assert_eq!(
        reader.test_run(&frame, 1).expect("run").retval,
        41,
        "swapped 41 for 42"
    );
    let shared = loaded.map("shared").expect("map");
    assert_eq!(
        shared.lookup(&0u32.to_ne_bytes()).expect("lookup"),
        Some(42u32.to_ne_bytes().to_vec())
    );
}
