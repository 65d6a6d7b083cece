//! Reads an eBPF ELF object (the layout `dpuc-ebpf` writes, which is also
//! libbpf's): programs from executable sections, maps from the BTF of
//! `.maps`, relocations of map references, the license and `func_info`.
//! Static functions of `.text` (callbacks for `bpf_for_each_map_elem`) are
//! linked as libbpf links them: appended once to each program that takes
//! their address, the `ld_imm64` patched to the relative slot offset, their
//! `func_info`/`line_info` moved along.
//!
//! Every offset and length read from the file is bounds-checked; a
//! malformed object yields [`Error::Object`], never a panic.

use super::{whole_insns, Error};

const SHT_SYMTAB: u32 = 2;
const SHT_REL: u32 = 9;
const SHF_EXECINSTR: u64 = 4;
const STT_FUNC: u8 = 2;
const EM_BPF: u16 = 247;
const R_BPF_64_64: u32 = 1;
const LD_IMM64: u8 = 0x18;
/// `src_reg` of an `ld_imm64` holding a function's address.
const PSEUDO_FUNC: u8 = 4;

/// `BPF_PROG_TYPE_*` numbers for the sections understood.
pub(crate) const PROG_TYPE_SCHED_CLS: u32 = 3;
pub(crate) const PROG_TYPE_XDP: u32 = 6;

fn err(msg: impl Into<String>) -> Error {
    Error::Object(msg.into())
}

/// A map as declared in `.maps`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapSpec {
    /// Name (the symbol and BTF variable).
    pub name: String,
    /// `BPF_MAP_TYPE_*`.
    pub map_type: u32,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes.
    pub value_size: u32,
    /// Capacity.
    pub max_entries: u32,
    /// `BPF_F_*` flags.
    pub flags: u32,
    /// BTF ids of the key and value types, when both are typed.
    pub btf_ids: Option<(u32, u32)>,
    /// Offset of the map's symbol in `.maps` (what relocations point at).
    pub(crate) offset: u64,
}

/// A program found in the object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramSpec {
    /// Symbol name.
    pub name: String,
    /// ELF section.
    pub section: String,
    /// `BPF_PROG_TYPE_*`.
    pub prog_type: u32,
    /// Instructions, 8 bytes each, map references not yet patched.
    pub insns: Vec<u8>,
    /// (slot index of an `ld_imm64`, index into the object's maps).
    pub map_relocs: Vec<(usize, usize)>,
    /// `func_info` records `(insn index, BTF FUNC id)` from `.BTF.ext`.
    pub func_info: Vec<(u32, u32)>,
    /// `line_info` records `[insn index, file name, line text, line << 10 | column]`
    /// (string offsets into `.BTF`) from `.BTF.ext`.
    pub line_info: Vec<[u32; 4]>,
}

/// Everything needed to load an object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectSpec {
    /// The raw `.BTF` section, if any.
    pub btf: Option<Vec<u8>>,
    /// The maps.
    pub maps: Vec<MapSpec>,
    /// The programs.
    pub programs: Vec<ProgramSpec>,
    /// The license string (without NUL).
    pub license: String,
}

struct SectionHeader {
    name: String,
    kind: u32,
    flags: u64,
    offset: usize,
    size: usize,
    link: u32,
    info: u32,
}

struct Symbol {
    name: String,
    info: u8,
    shndx: u16,
    value: u64,
    size: u64,
}

fn slice<'a>(data: &'a [u8], off: usize, len: usize, what: &str) -> Result<&'a [u8], Error> {
    off.checked_add(len)
        .and_then(|end| data.get(off..end))
        .ok_or_else(|| err(format!("{what} at {off}+{len} is outside the file")))
}

fn u16_at(d: &[u8], off: usize) -> Result<u16, Error> {
    let b = slice(d, off, 2, "u16")?;
    Ok(u16::from_le_bytes([b[0], b[1]]))
}

fn u32_at(d: &[u8], off: usize) -> Result<u32, Error> {
    let b = slice(d, off, 4, "u32")?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn u64_at(d: &[u8], off: usize) -> Result<u64, Error> {
    let b = slice(d, off, 8, "u64")?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Ok(u64::from_le_bytes(a))
}

fn cstr(d: &[u8], off: usize) -> Result<String, Error> {
    let rest = d
        .get(off..)
        .ok_or_else(|| err(format!("string offset {off} out of range")))?;
    let end = rest
        .iter()
        .position(|&b| b == 0)
        .ok_or_else(|| err("unterminated string"))?;
    String::from_utf8(rest[..end].to_vec()).map_err(|_| err("string is not UTF-8"))
}

fn usize_of(v: u64, what: &str) -> Result<usize, Error> {
    usize::try_from(v).map_err(|_| err(format!("{what} {v} too large")))
}

fn prog_type_of(section: &str) -> Option<u32> {
    let base = section.split('/').next().unwrap_or(section);
    match base {
        "xdp" => Some(PROG_TYPE_XDP),
        "classifier" | "tc" => Some(PROG_TYPE_SCHED_CLS),
        _ => None,
    }
}

/// Parses an object file.
pub fn parse(data: &[u8]) -> Result<ObjectSpec, Error> {
    let ident = slice(data, 0, 16, "ELF header")?;
    if &ident[..4] != b"\x7fELF" {
        return Err(err("not an ELF file"));
    }
    if ident[4] != 2 || ident[5] != 1 {
        return Err(err("not a 64-bit little-endian ELF file"));
    }
    if u16_at(data, 16)? != 1 {
        return Err(err("not a relocatable object (ET_REL)"));
    }
    if u16_at(data, 18)? != EM_BPF {
        return Err(err("e_machine is not EM_BPF (247)"));
    }
    let shoff = usize_of(u64_at(data, 40)?, "e_shoff")?;
    let shentsize = usize::from(u16_at(data, 58)?);
    let shnum = usize::from(u16_at(data, 60)?);
    let shstrndx = usize::from(u16_at(data, 62)?);
    if shentsize != 64 {
        return Err(err(format!("e_shentsize {shentsize}, expected 64")));
    }
    let mut raw = Vec::with_capacity(shnum);
    for i in 0..shnum {
        let h = slice(data, shoff.saturating_add(i * 64), 64, "section header")?;
        let name = u32_at(h, 0)?;
        let kind = u32_at(h, 4)?;
        let flags = u64_at(h, 8)?;
        let offset = usize_of(u64_at(h, 24)?, "sh_offset")?;
        let size = usize_of(u64_at(h, 32)?, "sh_size")?;
        let link = u32_at(h, 40)?;
        let info = u32_at(h, 44)?;
        // SHT_NOBITS (8) has no bytes in the file; others must fit.
        if kind != 8 && kind != 0 {
            slice(data, offset, size, "section")?;
        }
        raw.push((name, kind, flags, offset, size, link, info));
    }
    let shstr = raw
        .get(shstrndx)
        .map(|r| (r.3, r.4))
        .ok_or_else(|| err("e_shstrndx out of range"))?;
    let shstrtab = slice(data, shstr.0, shstr.1, "section name table")?;
    let mut secs = Vec::with_capacity(shnum);
    for (name, kind, flags, offset, size, link, info) in raw {
        secs.push(SectionHeader {
            name: if kind == 0 {
                String::new()
            } else {
                cstr(shstrtab, name as usize)?
            },
            kind,
            flags,
            offset,
            size,
            link,
            info,
        });
    }
    let sec_data = |i: usize| -> Result<&[u8], Error> {
        let s = secs
            .get(i)
            .ok_or_else(|| err(format!("section index {i} out of range")))?;
        slice(data, s.offset, s.size, "section")
    };
    let find = |name: &str| secs.iter().position(|s| s.name == name && s.kind != 0);

    // Symbols.
    let mut symbols = Vec::new();
    if let Some(si) = secs.iter().position(|s| s.kind == SHT_SYMTAB) {
        let symtab = sec_data(si)?;
        let strtab = sec_data(secs[si].link as usize)?;
        for e in symtab.chunks_exact(24) {
            symbols.push(Symbol {
                name: cstr(strtab, u32_at(e, 0)? as usize)?,
                info: e[4],
                shndx: u16_at(e, 6)?,
                value: u64_at(e, 8)?,
                size: u64_at(e, 16)?,
            });
        }
    }

    let license = match find("license") {
        Some(i) => cstr(sec_data(i)?, 0)?,
        None => String::new(),
    };
    let btf = match find(".BTF") {
        Some(i) => Some(sec_data(i)?.to_vec()),
        None => None,
    };

    // Maps: the DATASEC ".maps" of the BTF.
    let maps_idx = find(".maps");
    let mut maps = Vec::new();
    if maps_idx.is_some() {
        let blob = btf
            .as_deref()
            .ok_or_else(|| err(".maps needs a .BTF section"))?;
        maps = Btf::parse(blob)?.maps()?;
    }

    // func_info and line_info from .BTF.ext, keyed by section name.
    let (func_info, line_info) = match (find(".BTF.ext"), btf.as_deref()) {
        (Some(i), Some(blob)) => {
            let parsed = Btf::parse(blob)?;
            let ext = sec_data(i)?;
            (
                parse_ext(ext, &parsed, 0, 2)?,
                parse_ext(ext, &parsed, 1, 4)?,
            )
        }
        _ => (Vec::new(), Vec::new()),
    };
    let ctx = Context {
        symbols: &symbols,
        maps: &maps,
        maps_idx,
        text_idx: secs
            .iter()
            .position(|s| s.name == ".text" && s.kind == 1 && s.flags & SHF_EXECINSTR != 0),
        func_info: &func_info,
        line_info: &line_info,
    };

    // Subprograms: FUNC symbols of `.text` (static callbacks, as clang
    // emits them), appended to each program that refers to them.
    let text_idx = ctx.text_idx;
    let mut subprograms: Vec<Function> = Vec::new();
    if let Some(ti) = text_idx.filter(|&ti| secs[ti].size > 0) {
        let code = sec_data(ti)?;
        let rels = relocations(&secs, ti, data)?;
        for sym in &symbols {
            if usize::from(sym.shndx) != ti || sym.info & 0x0f != STT_FUNC {
                continue;
            }
            subprograms.push(Function::read(sym, code, &rels, &ctx, ".text")?);
        }
    }

    // Programs: GLOBAL FUNC symbols in the other executable sections.
    let mut programs = Vec::new();
    for (si, s) in secs.iter().enumerate() {
        if s.flags & SHF_EXECINSTR == 0 || s.kind != 1 || s.size == 0 || Some(si) == text_idx {
            continue;
        }
        let prog_type = prog_type_of(&s.name).ok_or_else(|| {
            err(format!(
                "section `{}`: program type unknown (xdp, classifier, tc)",
                s.name
            ))
        })?;
        let code = sec_data(si)?;
        let rels = relocations(&secs, si, data)?;
        let mut found = false;
        for sym in &symbols {
            if usize::from(sym.shndx) != si || sym.info & 0x0f != STT_FUNC || sym.info >> 4 == 0 {
                continue;
            }
            found = true;
            let f = Function::read(sym, code, &rels, &ctx, &s.name)?;
            programs.push(f.link(&subprograms, prog_type)?);
        }
        if !found {
            return Err(err(format!(
                "section `{}` has code but no GLOBAL FUNC symbol",
                s.name
            )));
        }
    }
    Ok(ObjectSpec {
        btf,
        maps,
        programs,
        license,
    })
}

/// What relocations and `.BTF.ext` records are resolved against.
struct Context<'a> {
    symbols: &'a [Symbol],
    maps: &'a [MapSpec],
    maps_idx: Option<usize>,
    text_idx: Option<usize>,
    func_info: &'a [ExtRecord],
    line_info: &'a [ExtRecord],
}

/// One function of the object (a program or a subprogram) before linking.
struct Function {
    name: String,
    section: String,
    /// Byte offset in its section.
    start: usize,
    insns: Vec<u8>,
    /// (slot, map index).
    map_relocs: Vec<(usize, usize)>,
    /// (slot of an `ld_imm64` of a function, byte offset of the function in `.text`).
    func_relocs: Vec<(usize, usize)>,
    func_info: Vec<(u32, u32)>,
    line_info: Vec<[u32; 4]>,
}

impl Function {
    /// Reads function `sym` of a section with code `code` and relocations `rels`.
    fn read(
        sym: &Symbol,
        code: &[u8],
        rels: &[(u64, usize, u32)],
        ctx: &Context<'_>,
        section: &str,
    ) -> Result<Function, Error> {
        let start = usize_of(sym.value, "symbol value")?;
        let len = usize_of(sym.size, "symbol size")?;
        if len == 0 || !whole_insns(start) || !whole_insns(len) {
            return Err(err(format!(
                "function `{}`: bad offset/size {start}/{len}",
                sym.name
            )));
        }
        let insns = slice(code, start, len, "function")?.to_vec();
        let end = start + len; // in bounds: `slice` checked it
        let mut map_relocs = Vec::new();
        let mut func_relocs = Vec::new();
        for &(r_off, sym_idx, r_type) in rels {
            let r_off = usize_of(r_off, "r_offset")?;
            if r_off < start || r_off >= end {
                continue;
            }
            if r_type != R_BPF_64_64 {
                return Err(err(format!(
                    "relocation type {r_type} unsupported (only R_BPF_64_64)"
                )));
            }
            let target = ctx
                .symbols
                .get(sym_idx)
                .ok_or_else(|| err(format!("relocation against symbol {sym_idx}, out of range")))?;
            let rel = r_off - start;
            if !whole_insns(rel) || insns.get(rel) != Some(&LD_IMM64) || rel + 16 > insns.len() {
                return Err(err(format!(
                    "function `{}`: relocation at byte {rel} is not on an ld_imm64",
                    sym.name
                )));
            }
            let shndx = Some(usize::from(target.shndx));
            if shndx == ctx.text_idx && ctx.text_idx.is_some() {
                // A callback's address: libbpf's rule is section symbol
                // value + the instruction's imm = byte offset in `.text`.
                if insns[rel + 1] >> 4 != PSEUDO_FUNC {
                    return Err(err(format!(
                        "function `{}`: relocation against .text at byte {rel} is not a BPF_PSEUDO_FUNC ld_imm64",
                        sym.name
                    )));
                }
                let imm = i32::from_le_bytes([
                    insns[rel + 4],
                    insns[rel + 5],
                    insns[rel + 6],
                    insns[rel + 7],
                ]);
                let off = i64::try_from(target.value)
                    .ok()
                    .and_then(|v| v.checked_add(i64::from(imm)))
                    .and_then(|o| usize::try_from(o).ok())
                    .ok_or_else(|| err(format!("function `{}`: bad callback offset", sym.name)))?;
                func_relocs.push((rel / 8, off));
                continue;
            }
            if shndx != ctx.maps_idx {
                return Err(err(format!(
                    "function `{}`: relocation against `{}`, which is not in .maps or .text",
                    sym.name, target.name
                )));
            }
            let map = ctx
                .maps
                .iter()
                .position(|m| m.offset == target.value)
                .ok_or_else(|| {
                    err(format!(
                        "no map at .maps offset {} (`{}`)",
                        target.value, target.name
                    ))
                })?;
            map_relocs.push((rel / 8, map));
        }
        // Records of this function, offsets made relative in instructions.
        let select = |recs: &[ExtRecord]| -> Vec<Vec<u32>> {
            recs.iter()
                .filter(|(s, off, _)| s == section && *off >= start && *off < end)
                .map(|(_, off, rest)| {
                    let mut r = vec![((off - start) / 8) as u32];
                    r.extend_from_slice(rest);
                    r
                })
                .collect()
        };
        let func_info = select(ctx.func_info)
            .into_iter()
            .map(|r| (r[0], r[1]))
            .collect();
        let line_info = select(ctx.line_info)
            .into_iter()
            .map(|r| [r[0], r[1], r[2], r[3]])
            .collect();
        Ok(Function {
            name: sym.name.clone(),
            section: section.to_string(),
            start,
            insns,
            map_relocs,
            func_relocs,
            func_info,
            line_info,
        })
    }

    /// The program with every subprogram it refers to (transitively)
    /// appended once, each callback address patched to the relative slot
    /// offset the verifier expects.
    fn link(self, subprograms: &[Function], prog_type: u32) -> Result<ProgramSpec, Error> {
        let mut insns = self.insns;
        let mut map_relocs = self.map_relocs;
        let mut func_info = self.func_info;
        let mut line_info = self.line_info;
        // (subprogram index, first slot in `insns`)
        let mut placed: Vec<(usize, usize)> = Vec::new();
        let mut pending: Vec<(usize, usize)> = self.func_relocs;
        while let Some((slot, off)) = pending.pop() {
            let sub = subprograms
                .iter()
                .position(|f| f.start == off)
                .ok_or_else(|| {
                    err(format!(
                        "program `{}`: no function at .text offset {off}",
                        self.name
                    ))
                })?;
            let at = match placed.iter().find(|(s, _)| *s == sub) {
                Some(&(_, at)) => at,
                None => {
                    let f = &subprograms[sub];
                    let at = insns.len() / 8;
                    let shift = |s: usize| s + at;
                    insns.extend_from_slice(&f.insns);
                    map_relocs.extend(f.map_relocs.iter().map(|&(s, m)| (shift(s), m)));
                    pending.extend(f.func_relocs.iter().map(|&(s, o)| (shift(s), o)));
                    func_info.extend(
                        f.func_info
                            .iter()
                            .map(|&(s, t)| (shift(s as usize) as u32, t)),
                    );
                    line_info.extend(f.line_info.iter().map(|r| {
                        let mut r = *r;
                        r[0] = shift(r[0] as usize) as u32;
                        r
                    }));
                    placed.push((sub, at));
                    at
                }
            };
            let imm = i32::try_from(at as i64 - (slot as i64 + 1))
                .map_err(|_| err(format!("program `{}` too long", self.name)))?;
            let b = insns
                .get_mut(slot * 8 + 4..slot * 8 + 8)
                .ok_or_else(|| err("callback relocation past the end"))?;
            b.copy_from_slice(&imm.to_le_bytes());
        }
        // The kernel wants func_info and line_info sorted by instruction.
        func_info.sort_unstable();
        line_info.sort_unstable();
        Ok(ProgramSpec {
            name: self.name,
            section: self.section,
            prog_type,
            insns,
            map_relocs,
            func_info,
            line_info,
        })
    }
}

/// `(r_offset, symbol index, type)` of the `SHT_REL` section for section `target`.
fn relocations(
    secs: &[SectionHeader],
    target: usize,
    data: &[u8],
) -> Result<Vec<(u64, usize, u32)>, Error> {
    let mut out = Vec::new();
    for s in secs
        .iter()
        .filter(|s| s.kind == SHT_REL && s.info as usize == target)
    {
        let d = slice(data, s.offset, s.size, "relocations")?;
        for e in d.chunks_exact(16) {
            let off = u64_at(e, 0)?;
            let info = u64_at(e, 8)?;
            out.push((off, (info >> 32) as usize, info as u32));
        }
    }
    Ok(out)
}

/// One `.BTF.ext` record: its section, byte offset, and the words after the offset.
type ExtRecord = (String, usize, Vec<u32>);

/// The records of the `func_info` (`which` = 0) or `line_info` (1)
/// subsection of `.BTF.ext`, keeping the first `words` words of each.
fn parse_ext(ext: &[u8], btf: &Btf, which: usize, words: usize) -> Result<Vec<ExtRecord>, Error> {
    if u16_at(ext, 0)? != 0xeb9f {
        return Err(err(".BTF.ext: bad magic"));
    }
    let hdr_len = u32_at(ext, 4)? as usize;
    let sub_off = u32_at(ext, 8 + 8 * which)? as usize;
    let sub_len = u32_at(ext, 12 + 8 * which)? as usize;
    if sub_len == 0 {
        return Ok(Vec::new());
    }
    let sub = slice(ext, hdr_len + sub_off, sub_len, ".BTF.ext subsection")?;
    let rec_size = u32_at(sub, 0)? as usize;
    if rec_size < 4 * words {
        return Err(err(format!(
            ".BTF.ext: record size {rec_size} below {}",
            4 * words
        )));
    }
    let mut out = Vec::new();
    let mut p = 4;
    while p < sub.len() {
        let sec = btf.string(u32_at(sub, p)?)?;
        let n = u32_at(sub, p + 4)? as usize;
        p += 8;
        for _ in 0..n {
            let off = u32_at(sub, p)? as usize;
            let rest = (1..words)
                .map(|i| u32_at(sub, p + 4 * i))
                .collect::<Result<_, _>>()?;
            out.push((sec.clone(), off, rest));
            p += rec_size;
        }
    }
    Ok(out)
}

/// One parsed BTF type: kind, name, vlen, size/type, and its trailing data.
struct BtfType {
    kind: u32,
    name_off: u32,
    vlen: usize,
    size_or_type: u32,
    extra: usize,
}

/// Just enough of a BTF reader to decode map definitions.
pub(crate) struct Btf<'a> {
    blob: &'a [u8],
    types_start: usize,
    strings: &'a [u8],
    /// Index 0 is `void`.
    types: Vec<BtfType>,
}

impl<'a> Btf<'a> {
    pub(crate) fn parse(blob: &'a [u8]) -> Result<Btf<'a>, Error> {
        if u16_at(blob, 0)? != 0xeb9f {
            return Err(err(".BTF: bad magic"));
        }
        let hdr_len = u32_at(blob, 4)? as usize;
        let type_off = u32_at(blob, 8)? as usize;
        let type_len = u32_at(blob, 12)? as usize;
        let str_off = u32_at(blob, 16)? as usize;
        let str_len = u32_at(blob, 20)? as usize;
        let types_start = hdr_len + type_off;
        let tsec = slice(blob, types_start, type_len, ".BTF types")?;
        let strings = slice(blob, hdr_len + str_off, str_len, ".BTF strings")?;
        let mut types = vec![BtfType {
            kind: 0,
            name_off: 0,
            vlen: 0,
            size_or_type: 0,
            extra: 0,
        }];
        let mut p = 0;
        while p < tsec.len() {
            let name_off = u32_at(tsec, p)?;
            let info = u32_at(tsec, p + 4)?;
            let size_or_type = u32_at(tsec, p + 8)?;
            let kind = (info >> 24) & 0x1f;
            let vlen = (info & 0xffff) as usize;
            let extra = match kind {
                1 | 14 | 17 => 4,     // INT, VAR, DECL_TAG
                3 => 12,              // ARRAY
                4 | 5 => 12 * vlen,   // STRUCT, UNION
                6 => 8 * vlen,        // ENUM
                13 => 8 * vlen,       // FUNC_PROTO
                15 | 19 => 12 * vlen, // DATASEC, ENUM64
                2 | 7..=12 | 16 | 18 => 0,
                k => return Err(err(format!(".BTF: unknown kind {k}"))),
            };
            types.push(BtfType {
                kind,
                name_off,
                vlen,
                size_or_type,
                extra: p + 12,
            });
            p += 12 + extra;
        }
        if p != tsec.len() {
            return Err(err(".BTF: truncated type"));
        }
        Ok(Btf {
            blob,
            types_start,
            strings,
            types,
        })
    }

    fn string(&self, off: u32) -> Result<String, Error> {
        cstr(self.strings, off as usize)
    }

    fn get(&self, id: u32) -> Result<&BtfType, Error> {
        self.types
            .get(id as usize)
            .ok_or_else(|| err(format!(".BTF: type id {id} out of range")))
    }

    fn word(&self, t: &BtfType, i: usize) -> Result<u32, Error> {
        u32_at(self.blob, self.types_start + t.extra + 4 * i)
    }

    /// Follows typedefs and qualifiers.
    fn skip_mods(&self, mut id: u32) -> Result<u32, Error> {
        for _ in 0..32 {
            let t = self.get(id)?;
            match t.kind {
                8..=11 | 18 => id = t.size_or_type,
                _ => return Ok(id),
            }
        }
        Err(err(".BTF: typedef chain too long"))
    }

    /// Size in bytes of type `id`.
    fn size_of(&self, id: u32, depth: u32) -> Result<u32, Error> {
        if depth > 32 {
            return Err(err(".BTF: type nesting too deep"));
        }
        let id = self.skip_mods(id)?;
        let t = self.get(id)?;
        match t.kind {
            1 | 4 | 5 | 6 | 15 | 16 | 19 => Ok(t.size_or_type),
            2 => Ok(8),
            3 => {
                let elem = self.word(t, 0)?;
                let n = self.word(t, 2)?;
                self.size_of(elem, depth + 1)?
                    .checked_mul(n)
                    .ok_or_else(|| err(".BTF: array size overflows"))
            }
            k => Err(err(format!(".BTF: type {id} (kind {k}) has no size"))),
        }
    }

    /// `__uint(name, n)` is `PTR → ARRAY[n]`: returns n.
    fn uint_member(&self, ty: u32) -> Result<u32, Error> {
        let p = self.get(self.skip_mods(ty)?)?;
        if p.kind != 2 {
            return Err(err(".BTF: map attribute is not a pointer"));
        }
        let a = self.get(self.skip_mods(p.size_or_type)?)?;
        if a.kind != 3 {
            return Err(err(".BTF: map attribute does not point to an array"));
        }
        self.word(a, 2)
    }

    /// Decodes every map variable of the DATASEC `.maps`.
    pub(crate) fn maps(&self) -> Result<Vec<MapSpec>, Error> {
        let mut out = Vec::new();
        let Some(ds) = self
            .types
            .iter()
            .find(|t| t.kind == 15 && self.string(t.name_off).ok().as_deref() == Some(".maps"))
        else {
            return Err(err(".BTF has no DATASEC `.maps`"));
        };
        for i in 0..ds.vlen {
            let var_id = self.word(ds, 3 * i)?;
            let offset = u64::from(self.word(ds, 3 * i + 1)?);
            let var = self.get(var_id)?;
            if var.kind != 14 {
                return Err(err(".maps DATASEC entry is not a VAR"));
            }
            let name = self.string(var.name_off)?;
            let st_id = self.skip_mods(var.size_or_type)?;
            let st = self.get(st_id)?;
            if st.kind != 4 {
                return Err(err(format!("map `{name}`: definition is not a struct")));
            }
            let mut spec = MapSpec {
                name: name.clone(),
                map_type: 0,
                key_size: 0,
                value_size: 0,
                max_entries: 0,
                flags: 0,
                btf_ids: None,
                offset,
            };
            let (mut key_id, mut value_id) = (None, None);
            for m in 0..st.vlen {
                let mname = self.string(self.word(st, 3 * m)?)?;
                let mtype = self.word(st, 3 * m + 1)?;
                match mname.as_str() {
                    "type" => spec.map_type = self.uint_member(mtype)?,
                    "max_entries" => spec.max_entries = self.uint_member(mtype)?,
                    "map_flags" => spec.flags = self.uint_member(mtype)?,
                    "key_size" => spec.key_size = self.uint_member(mtype)?,
                    "value_size" => spec.value_size = self.uint_member(mtype)?,
                    "key" | "value" => {
                        let p = self.get(self.skip_mods(mtype)?)?;
                        if p.kind != 2 {
                            return Err(err(format!("map `{name}`: `{mname}` is not a pointer")));
                        }
                        let target = p.size_or_type;
                        let size = self.size_of(target, 0)?;
                        if mname == "key" {
                            spec.key_size = size;
                            key_id = Some(target);
                        } else {
                            spec.value_size = size;
                            value_id = Some(target);
                        }
                    }
                    other => {
                        return Err(err(format!(
                            "map `{name}`: attribute `{other}` not supported"
                        )))
                    }
                }
            }
            // Like libbpf: BTF ids go to the kernel only when both are typed.
            if let (Some(k), Some(v)) = (key_id, value_id) {
                spec.btf_ids = Some((k, v));
            }
            out.push(spec);
        }
        Ok(out)
    }
}
