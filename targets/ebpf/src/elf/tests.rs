use super::*;
use crate::insn::{helper, AluOp, Insn, JmpCond, Program, Reg};

fn u16_at(d: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([d[o], d[o + 1]])
}
fn u32_at(d: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([d[o], d[o + 1], d[o + 2], d[o + 3]])
}
fn u64_at(d: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(d[o..o + 8].try_into().expect("8 bytes"))
}
fn cstr(d: &[u8], o: usize) -> String {
    let end = d[o..].iter().position(|&b| b == 0).expect("NUL");
    String::from_utf8(d[o..o + end].to_vec()).expect("utf8")
}

/// One section: (name, type, flags, data, link, info, entsize).
type SectionRow = (String, u32, u64, Vec<u8>, u32, u32, u64);

/// A minimal reader for checking what the writer produced.
struct Parsed {
    sections: Vec<SectionRow>,
}

impl Parsed {
    fn new(obj: &[u8]) -> Parsed {
        assert_eq!(&obj[..8], &[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]);
        assert_eq!(u16_at(obj, 16), 1, "ET_REL");
        assert_eq!(u16_at(obj, 18), EM_BPF);
        let shoff = u64_at(obj, 40) as usize;
        let shnum = u16_at(obj, 60) as usize;
        let shstrndx = u16_at(obj, 62) as usize;
        assert_eq!(shoff % 8, 0);
        let hdr = |i: usize| &obj[shoff + 64 * i..shoff + 64 * (i + 1)];
        let strtab = {
            let h = hdr(shstrndx);
            let (o, s) = (u64_at(h, 24) as usize, u64_at(h, 32) as usize);
            obj[o..o + s].to_vec()
        };
        let mut sections = Vec::new();
        for i in 1..shnum {
            let h = hdr(i);
            let (o, s) = (u64_at(h, 24) as usize, u64_at(h, 32) as usize);
            let align = u64_at(h, 48) as usize;
            assert_eq!(o % align.max(1), 0, "section {i} aligned");
            sections.push((
                cstr(&strtab, u32_at(h, 0) as usize),
                u32_at(h, 4),
                u64_at(h, 8),
                obj[o..o + s].to_vec(),
                u32_at(h, 40),
                u32_at(h, 44),
                u64_at(h, 56),
            ));
        }
        Parsed { sections }
    }

    fn names(&self) -> Vec<&str> {
        self.sections.iter().map(|s| s.0.as_str()).collect()
    }

    /// ELF index (1-based, 0 is the null section) of `name`.
    fn index(&self, name: &str) -> usize {
        1 + self.sections.iter().position(|s| s.0 == name).expect(name)
    }

    fn data(&self, name: &str) -> &[u8] {
        &self.sections[self.index(name) - 1].3
    }

    /// (name, info, shndx, value, size)
    fn symbols(&self) -> Vec<(String, u8, u16, u64, u64)> {
        let st = &self.sections[self.index(".symtab") - 1];
        let strtab = &self.sections[st.4 as usize - 1].3;
        st.3.chunks(24)
            .skip(1)
            .map(|e| {
                (
                    cstr(strtab, u32_at(e, 0) as usize),
                    e[4],
                    u16_at(e, 6),
                    u64_at(e, 8),
                    u64_at(e, 16),
                )
            })
            .collect()
    }
}

fn lookup_program(map: &str) -> Assembled {
    let mut p = Program::new();
    let miss = p.label();
    p.push(Insn::store(crate::insn::Size::W, Reg::R10, -4, 0))
        .push(Insn::mov64(Reg::R2, Reg::R10))
        .push(Insn::alu64(AluOp::Add, Reg::R2, -4))
        .ld_map(Reg::R1, map)
        .push(Insn::call(helper::MAP_LOOKUP_ELEM))
        .jump_if(JmpCond::Eq, Reg::R0, 0, miss)
        .push(Insn::mov64(Reg::R0, 1))
        .push(Insn::exit())
        .bind(miss)
        .push(Insn::mov64(Reg::R0, 2))
        .push(Insn::exit());
    p.assemble().expect("assembles")
}

fn meter_value() -> Shape {
    Shape::structure(
        "meter",
        16,
        vec![
            Field::new("lock", 0, Shape::SpinLock),
            Field::new("tokens", 8, Shape::u64()),
        ],
    )
}

#[test]
fn layout_of_a_two_map_object() {
    let obj = ObjectBuilder::new()
        .map(MapDef::typed(
            "hits",
            MapKind::Hash,
            Shape::u32(),
            Shape::u64(),
            1024,
        ))
        .map(MapDef::new("sized", MapKind::Array, 4, 8, 4))
        .program("prog", Section::Xdp, lookup_program("sized"))
        .build()
        .expect("object");
    let p = Parsed::new(&obj);
    assert_eq!(
        p.names(),
        [".strtab", "xdp", ".relxdp", ".maps", "license", ".BTF", ".symtab"]
    );
    assert_eq!(p.data("license"), b"GPL\0");
    // hits: type, max_entries, key, value = 32 bytes; sized: type, max_entries, key_size, value_size = 32.
    assert_eq!(p.data(".maps").len(), 64);
    let xdp = &p.sections[p.index("xdp") - 1];
    assert_eq!(xdp.2, SHF_ALLOC | SHF_EXECINSTR);
    assert_eq!(xdp.3.len(), 11 * 8);

    let syms = p.symbols();
    assert_eq!(
        syms,
        vec![
            ("prog".to_string(), 0x12, p.index("xdp") as u16, 0, 88),
            ("hits".to_string(), 0x11, p.index(".maps") as u16, 0, 32),
            ("sized".to_string(), 0x11, p.index(".maps") as u16, 32, 32),
        ]
    );
    // One relocation: ld_imm64 at slot 3 → byte 24, symbol 3 ("sized"), R_BPF_64_64.
    let rel = &p.sections[p.index(".relxdp") - 1];
    assert_eq!(rel.1, SHT_REL);
    assert_eq!(rel.4 as usize, p.index(".symtab"), "sh_link = symtab");
    assert_eq!(rel.5 as usize, p.index("xdp"), "sh_info = the code section");
    assert_eq!(rel.6, 16);
    assert_eq!(rel.3.len(), 16);
    assert_eq!(u64_at(&rel.3, 0), 24);
    assert_eq!(u64_at(&rel.3, 8), (3 << 32) | u64::from(R_BPF_64_64));
    let symtab = &p.sections[p.index(".symtab") - 1];
    assert_eq!(
        (symtab.4, symtab.5, symtab.6),
        (1, 1, 24),
        "link .strtab, first global 1"
    );

    // BTF: header, then DATASEC .maps with both variables at their offsets.
    let btf = p.data(".BTF");
    assert_eq!(u16_at(btf, 0), btf::MAGIC);
    assert!(btf.windows(6).any(|w| w == b".maps\0"));
    assert!(btf.windows(11).any(|w| w == b"value_size\0"));
}

#[test]
fn tc_programs_go_to_classifier_and_share_sections() {
    let obj = ObjectBuilder::new()
        .map(MapDef::typed(
            "m",
            MapKind::LruHash,
            Shape::u32(),
            Shape::u64(),
            16,
        ))
        .program("a", Section::Tc, lookup_program("m"))
        .program("b", Section::Xdp, lookup_program("m"))
        .program("c", Section::Tc, lookup_program("m"))
        .build()
        .expect("object");
    let p = Parsed::new(&obj);
    assert_eq!(
        p.names(),
        [
            ".strtab",
            "classifier",
            "xdp",
            ".relclassifier",
            ".relxdp",
            ".maps",
            "license",
            ".BTF",
            ".symtab"
        ]
    );
    let syms = p.symbols();
    let cls = p.index("classifier") as u16;
    assert_eq!((syms[0].2, syms[0].3), (cls, 0));
    assert_eq!(
        (syms[1].2, syms[1].3),
        (cls, 88),
        "c follows a in classifier"
    );
    assert_eq!(syms[2].0, "b");
    // Two relocations in classifier, at 24 and 88 + 24.
    let rel = p.data(".relclassifier");
    assert_eq!((u64_at(rel, 0), u64_at(rel, 16)), (24, 112));
    assert_eq!(Section::from_name("tc"), Some(Section::Tc));
    assert_eq!(Section::from_name("classifier/ingress"), Some(Section::Tc));
    assert_eq!(Section::from_name("xdp"), Some(Section::Xdp));
    assert_eq!(Section::from_name("kprobe/x"), None);
}

#[test]
fn object_without_maps_has_no_maps_or_btf() {
    let mut p = Program::new();
    p.push(Insn::mov64(Reg::R0, 2)).push(Insn::exit());
    let obj = ObjectBuilder::new()
        .program("pass", Section::Xdp, p.assemble().expect("assembles"))
        .license("Dual MIT/GPL")
        .build()
        .expect("object");
    let p = Parsed::new(&obj);
    assert_eq!(p.names(), [".strtab", "xdp", "license", ".symtab"]);
    assert_eq!(p.data("license"), b"Dual MIT/GPL\0");
}

#[test]
fn btf_ext_has_func_and_line_info() {
    let obj = ObjectBuilder::new()
        .map(MapDef::new("m", MapKind::Hash, 4, 8, 4))
        .program("p1", Section::Xdp, lookup_program("m"))
        .program("p2", Section::Xdp, lookup_program("m"))
        .btf_ext(true)
        .build()
        .expect("object");
    let p = Parsed::new(&obj);
    assert_eq!(
        p.names(),
        [".strtab", "xdp", ".relxdp", ".maps", "license", ".BTF", ".BTF.ext", ".symtab"]
    );
    let ext = p.data(".BTF.ext");
    assert_eq!(u16_at(ext, 0), btf::MAGIC);
    assert_eq!(u32_at(ext, 4), 32);
    let (fi_off, fi_len, li_off, li_len) = (
        u32_at(ext, 8),
        u32_at(ext, 12),
        u32_at(ext, 16),
        u32_at(ext, 20),
    );
    assert_eq!((fi_off, fi_len), (0, 4 + 8 + 2 * 8));
    assert_eq!((li_off, li_len), (fi_len, 4 + 8 + 2 * 16));
    let fi = &ext[32..32 + fi_len as usize];
    assert_eq!(u32_at(fi, 0), 8);
    assert_eq!(u32_at(fi, 8), 2, "two records in section xdp");
    assert_eq!(
        (u32_at(fi, 12), u32_at(fi, 20)),
        (0, 88),
        "byte offsets of p1 and p2"
    );
    let btf = p.data(".BTF");
    for name in [&b"xdp_md\0"[..], b"p1\0", b"p2\0", b"dpuc\0"] {
        assert!(btf.windows(name.len()).any(|w| w == name));
    }
}

#[test]
fn spin_lock_and_lpm_objects_build() {
    let obj = ObjectBuilder::new()
        .map(MapDef::typed(
            "meters",
            MapKind::Hash,
            Shape::u32(),
            meter_value(),
            8,
        ))
        .map(MapDef::typed(
            "cells",
            MapKind::Array,
            Shape::u32(),
            meter_value(),
            8,
        ))
        .map(
            MapDef::typed(
                "routes",
                MapKind::LpmTrie,
                Shape::lpm_key("v6_key", 16),
                Shape::u32(),
                8,
            )
            .with_flags(map_flags::NO_PREALLOC),
        )
        .build()
        .expect("object");
    let p = Parsed::new(&obj);
    let btf = p.data(".BTF");
    assert!(btf.windows(14).any(|w| w == b"bpf_spin_lock\0"));
    assert!(btf.windows(10).any(|w| w == b"map_flags\0"));
    assert!(btf.windows(10).any(|w| w == b"prefixlen\0"));
    // One bpf_spin_lock and one meter STRUCT although two maps use them:
    // bpf_spin_lock, meter, v6_key and the three map definitions.
    let structs = btf_kinds(btf)
        .into_iter()
        .filter(|k| *k == btf::kind::STRUCT)
        .count();
    assert_eq!(structs, 6);
    // Three maps, five members max: 32 + 32 + 40 bytes.
    assert_eq!(p.data(".maps").len(), 104);
}

/// The kind of every type in a BTF blob.
fn btf_kinds(blob: &[u8]) -> Vec<u32> {
    let (hdr, type_len) = (u32_at(blob, 4) as usize, u32_at(blob, 12) as usize);
    let types = &blob[hdr..hdr + type_len];
    let mut kinds = Vec::new();
    let mut p = 0;
    while p < types.len() {
        let info = u32_at(types, p + 4);
        let (kind, vlen) = ((info >> 24) & 0x1f, (info & 0xffff) as usize);
        kinds.push(kind);
        p += 12
            + match kind {
                btf::kind::INT | btf::kind::VAR => 4,
                btf::kind::ARRAY => 12,
                btf::kind::STRUCT | btf::kind::DATASEC => 12 * vlen,
                btf::kind::FUNC_PROTO => 8 * vlen,
                _ => 0,
            };
    }
    kinds
}

fn refused(def: MapDef) -> Error {
    ObjectBuilder::new().map(def).build().expect_err("refused")
}

#[test]
fn maps_the_kernel_would_refuse_are_errors() {
    let lock = meter_value();
    for kind in [
        MapKind::LruHash,
        MapKind::PercpuArray,
        MapKind::PercpuHash,
        MapKind::LruPercpuHash,
    ] {
        assert!(
            matches!(
                refused(MapDef::typed("m", kind, Shape::u32(), lock.clone(), 4)),
                Error::InvalidMap { .. }
            ),
            "{kind:?} with a spin lock"
        );
    }
    // A lock needs a typed key.
    let mut untyped_key = MapDef::typed("m", MapKind::Hash, Shape::u32(), lock.clone(), 4);
    untyped_key.key = None;
    assert!(matches!(refused(untyped_key), Error::InvalidMap { .. }));
    // LPM trie without NO_PREALLOC, or with a non-struct key.
    assert!(matches!(
        refused(MapDef::typed(
            "m",
            MapKind::LpmTrie,
            Shape::lpm_key("k", 4),
            Shape::u32(),
            4
        )),
        Error::InvalidMap { .. }
    ));
    assert!(matches!(
        refused(
            MapDef::typed("m", MapKind::LpmTrie, Shape::u64(), Shape::u32(), 4)
                .with_flags(map_flags::NO_PREALLOC)
        ),
        Error::InvalidMap { .. }
    ));
    // Array keys are u32; arrays and LRU maps refuse NO_PREALLOC.
    assert!(matches!(
        refused(MapDef::new("m", MapKind::Array, 8, 8, 4)),
        Error::InvalidMap { .. }
    ));
    assert!(matches!(
        refused(MapDef::new("m", MapKind::Array, 4, 8, 4).with_flags(map_flags::NO_PREALLOC)),
        Error::InvalidMap { .. }
    ));
    assert!(matches!(
        refused(MapDef::new("m", MapKind::LruHash, 4, 8, 4).with_flags(map_flags::NO_PREALLOC)),
        Error::InvalidMap { .. }
    ));
    // Zero sizes and capacity.
    assert!(matches!(
        refused(MapDef::new("m", MapKind::Hash, 4, 8, 0)),
        Error::InvalidMap { .. }
    ));
    assert!(matches!(
        refused(MapDef::new("m", MapKind::Hash, 0, 8, 1)),
        Error::InvalidMap { .. }
    ));
    // Shape and size disagree.
    let mut wrong = MapDef::typed("m", MapKind::Hash, Shape::u32(), Shape::u64(), 4);
    wrong.value_size = 4;
    assert!(matches!(refused(wrong), Error::InvalidMap { .. }));
    // Names.
    assert!(matches!(
        refused(MapDef::new("my-map", MapKind::Hash, 4, 4, 1)),
        Error::InvalidName { what: "map", .. }
    ));
}

#[test]
fn bad_shapes_are_errors() {
    let st = |fields| Shape::structure("s", 16, fields);
    let cases = [
        st(vec![
            Field::new("a", 0, Shape::u64()),
            Field::new("b", 4, Shape::u64()),
        ]), // overlap
        st(vec![Field::new("a", 12, Shape::u64())]), // past the end
        st(vec![Field::new("lock", 2, Shape::SpinLock)]), // misaligned lock
        st(vec![]),                                  // empty
        st(vec![Field::new(
            "x",
            0,
            Shape::Int {
                size: 3,
                signed: false,
            },
        )]), // odd int
        st(vec![Field::new("x", 0, Shape::Bytes(0))]), // empty bytes
        st(vec![Field::new(
            "inner",
            0,
            Shape::structure("i", 4, vec![Field::new("l", 0, Shape::SpinLock)]),
        )]), // nested lock
        st(vec![Field::new(
            "arr",
            0,
            Shape::Array {
                elem: Box::new(Shape::u32()),
                len: 0,
            },
        )]),
    ];
    for value in cases {
        let e = refused(MapDef::typed(
            "m",
            MapKind::Hash,
            Shape::u32(),
            value.clone(),
            4,
        ));
        assert!(matches!(e, Error::InvalidShape { .. }), "{value:?}: {e}");
    }
    let e = refused(MapDef::typed(
        "m",
        MapKind::Hash,
        Shape::u32(),
        st(vec![Field::new("bad name", 0, Shape::u32())]),
        4,
    ));
    assert!(matches!(e, Error::InvalidName { what: "field", .. }));
    // Two locks.
    let two = Shape::structure(
        "s",
        8,
        vec![
            Field::new("a", 0, Shape::SpinLock),
            Field::new("b", 4, Shape::SpinLock),
        ],
    );
    assert!(matches!(
        refused(MapDef::typed("m", MapKind::Hash, Shape::u32(), two, 4)),
        Error::InvalidMap { .. }
    ));
    // A lock in a key.
    assert!(matches!(
        refused(MapDef::typed(
            "m",
            MapKind::Hash,
            meter_value(),
            Shape::u32(),
            4
        )),
        Error::InvalidShape { .. }
    ));
}

#[test]
fn program_errors() {
    let e = ObjectBuilder::new()
        .program("p", Section::Xdp, lookup_program("nope"))
        .build()
        .expect_err("unknown map");
    assert_eq!(
        e,
        Error::UnknownMap {
            program: "p".into(),
            map: "nope".into()
        }
    );
    let e = ObjectBuilder::new()
        .map(MapDef::new("m", MapKind::Hash, 4, 4, 1))
        .program("m", Section::Xdp, lookup_program("m"))
        .build()
        .expect_err("name clash");
    assert!(matches!(e, Error::Duplicate { .. }));
    let e = ObjectBuilder::new()
        .program(
            "p",
            Section::Xdp,
            Program::new().assemble().expect("empty assembles"),
        )
        .build()
        .expect_err("empty");
    assert_eq!(e, Error::EmptyProgram("p".into()));
    let e = ObjectBuilder::new()
        .map(MapDef::new("m", MapKind::Hash, 4, 4, 1))
        .map(MapDef::new("m", MapKind::Hash, 4, 4, 1))
        .build()
        .expect_err("duplicate map");
    assert!(matches!(e, Error::Duplicate { what: "map", .. }));
    let e = ObjectBuilder::new()
        .license("G\0PL")
        .build()
        .expect_err("NUL in license");
    assert!(matches!(e, Error::InvalidName { .. }));
}

#[test]
fn map_kinds_round_trip() {
    for k in [
        MapKind::Hash,
        MapKind::Array,
        MapKind::PercpuHash,
        MapKind::PercpuArray,
        MapKind::LruHash,
        MapKind::LruPercpuHash,
        MapKind::LpmTrie,
    ] {
        assert_eq!(MapKind::from_type_id(k.type_id()), Some(k));
    }
    assert_eq!(MapKind::from_type_id(999), None);
    assert!(MapKind::PercpuArray.is_percpu());
    assert!(!MapKind::Hash.is_percpu());
}

#[test]
fn ring_buffers_have_no_key_or_value_and_a_page_multiple_size() {
    let ok = MapDef::new("events", MapKind::RingBuf, 0, 0, 1 << 16);
    assert_eq!(ok.validate(), Ok(()));
    for bad in [
        MapDef::new("events", MapKind::RingBuf, 4, 0, 1 << 16),
        MapDef::new("events", MapKind::RingBuf, 0, 0, 3 * 4096),
        MapDef::new("events", MapKind::RingBuf, 0, 0, 1024),
    ] {
        assert!(bad.validate().is_err(), "{bad:?}");
    }
    let obj = ObjectBuilder::new()
        .map(ok)
        .program("p", Section::Xdp, lookup_program("events"))
        .build();
    assert!(obj.is_ok(), "{obj:?}");
}

/// `(map, key, value, ctx) -> 0`, deleting every entry it is shown.
fn callback() -> Assembled {
    let mut p = Program::new();
    p.push(Insn::call(helper::MAP_DELETE_ELEM))
        .push(Insn::mov64(Reg::R0, 0))
        .push(Insn::exit());
    p.assemble().expect("assembles")
}

/// Walks map `m` with callback `cb`.
fn walker() -> Assembled {
    let mut p = Program::new();
    p.ld_map(Reg::R1, "m")
        .ld_func(Reg::R2, "cb")
        .push(Insn::mov64(Reg::R3, 0))
        .push(Insn::mov64(Reg::R4, 0))
        .push(Insn::call(helper::FOR_EACH_MAP_ELEM))
        .push(Insn::exit());
    p.assemble().expect("assembles")
}

#[test]
fn subprograms_go_to_text_as_static_functions_relocated_like_clang_does() {
    let obj = ObjectBuilder::new()
        .map(MapDef::new("m", MapKind::Hash, 4, 8, 4))
        .subprogram("cb", &["map", "key", "value", "ctx"], callback())
        .program("walk", Section::Xdp, walker())
        .build()
        .expect("object");
    let p = Parsed::new(&obj);
    // .BTF.ext is implied: the verifier needs func_info for callbacks.
    assert_eq!(
        p.names(),
        [".strtab", ".text", "xdp", ".relxdp", ".maps", "license", ".BTF", ".BTF.ext", ".symtab"]
    );
    let text = p.index(".text") as u16;
    let syms = p.symbols();
    // Locals first: the .text section symbol, then the static callback.
    assert_eq!(syms[0], (String::new(), 3, text, 0, 0));
    assert_eq!(syms[1], ("cb".to_string(), 2, text, 0, 24));
    assert_eq!(syms[2].0, "walk");
    assert_eq!(syms[2].1, (1 << 4) | 2);
    let symtab = &p.sections[p.index(".symtab") - 1];
    assert_eq!(symtab.5, 3, "sh_info: first global after null + 2 locals");
    // The ld_imm64 of `cb`: BPF_PSEUDO_FUNC, imm = cb's byte offset in
    // .text, relocated against the .text section symbol (index 1).
    let code = p.data("xdp");
    assert_eq!(code[16], 0x18);
    assert_eq!(code[17] >> 4, crate::insn::PSEUDO_FUNC);
    assert_eq!(u32_at(code, 20), 0);
    let rel = p.data(".relxdp");
    let relocs: Vec<(u64, u64)> = rel
        .chunks(16)
        .map(|r| (u64_at(r, 0), u64_at(r, 8)))
        .collect();
    let map_sym = 1 + syms.iter().position(|s| s.0 == "m").expect("m") as u64;
    assert_eq!(relocs, [(0, (map_sym << 32) | 1), (16, (1 << 32) | 1)]);
    // func_info: .text first (cb, static), then xdp (walk, global).
    let ext = p.data(".BTF.ext");
    let fi = &ext[32..32 + u32_at(ext, 12) as usize];
    assert_eq!(u32_at(fi, 8), 1, "one function in .text");
    assert_eq!(u32_at(fi, 12), 0, "at byte 0");
    assert_eq!(u32_at(fi, 24), 1, "one program in xdp");
}

#[test]
fn unknown_functions_are_errors() {
    let err = ObjectBuilder::new()
        .map(MapDef::new("m", MapKind::Hash, 4, 8, 4))
        .program("walk", Section::Xdp, walker())
        .build()
        .expect_err("cb is not defined");
    assert_eq!(
        err,
        Error::UnknownFunction {
            program: "walk".into(),
            func: "cb".into()
        }
    );
    let err = ObjectBuilder::new()
        .map(MapDef::new("m", MapKind::Hash, 4, 8, 4))
        .subprogram("cb", &["ctx"], callback())
        .subprogram("cb", &["ctx"], callback())
        .program("walk", Section::Xdp, walker())
        .build()
        .expect_err("duplicate");
    assert!(matches!(err, Error::Duplicate { .. }), "{err:?}");
}
