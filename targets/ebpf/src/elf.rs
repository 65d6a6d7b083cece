//! A relocatable ELF64 object writer for eBPF (`ET_REL`, `EM_BPF` = 247,
//! little endian) in the layout libbpf 1.x, bpftool, `ip link … xdp obj`
//! and `tc filter … bpf obj` accept.
//!
//! Section order:
//!
//! | index | section        | content |
//! |-------|----------------|---------|
//! | 0     | (null)         | |
//! | 1     | `.strtab`      | section and symbol names |
//! | 2     | `.text`        | only with subprograms: static callbacks, concatenated |
//! | …     | program sections | code; one section per distinct [`Section`], programs concatenated |
//! | …     | `.rel<section>` | `R_BPF_64_64` relocations of map and callback references (only if the section has some; `.rel.text` first) |
//! | …     | `.maps`        | zeroes; one BTF-described struct per map (only if there are maps) |
//! | …     | `license`      | `"GPL\0"` by default: GPL-only helpers need it |
//! | …     | `.BTF`         | types of maps (and of programs if `.BTF.ext` is written); absent if empty |
//! | …     | `.BTF.ext`     | optional (always with subprograms): `func_info` and one `line_info` per function |
//! | last  | `.symtab`      | null, `.text` (LOCAL SECTION) and subprograms (LOCAL FUNC), programs (GLOBAL FUNC, real size), maps (GLOBAL OBJECT) |
//!
//! A map is a BTF VAR named like its symbol, inside a DATASEC `.maps`, whose
//! type is a STRUCT of pointer members: `type`, `max_entries` and
//! `map_flags` as `PTR → ARRAY[value] of u32` (how libbpf's `__uint()`
//! encodes a number), `key`/`value` as `PTR → the real type` when a shape
//! is given, else `key_size`/`value_size` as numbers.
//!
//! A callback's address (`ld_imm64` with `src_reg = BPF_PSEUDO_FUNC`) is
//! written as clang writes it: `imm` = the function's byte offset in
//! `.text`, relocated against the `.text` section symbol. libbpf and the
//! runtime's loader then append the function to each program that uses it.

use crate::btf::{self, BtfBuilder, TypeId};
use crate::insn::Assembled;
use crate::Error;
use std::collections::HashMap;

/// `e_machine` of eBPF objects.
pub const EM_BPF: u16 = 247;
/// Relocation type of a 64-bit immediate (`ld_imm64` map reference).
pub const R_BPF_64_64: u32 = 1;

const SHT_PROGBITS: u32 = 1;
const SHT_SYMTAB: u32 = 2;
const SHT_STRTAB: u32 = 3;
const SHT_REL: u32 = 9;
const SHF_WRITE: u64 = 1;
const SHF_ALLOC: u64 = 2;
const SHF_EXECINSTR: u64 = 4;
const STB_LOCAL: u8 = 0;
const STB_GLOBAL: u8 = 1;
const STT_OBJECT: u8 = 1;
const STT_FUNC: u8 = 2;
const STT_SECTION: u8 = 3;

/// Map flags (`BPF_F_*` of `BPF_MAP_CREATE`).
pub mod map_flags {
    /// Allocate elements on demand; required by LPM tries, refused by arrays and LRU maps.
    pub const NO_PREALLOC: u32 = 1 << 0;
    /// LRU maps: one LRU list per CPU instead of a common one.
    pub const NO_COMMON_LRU: u32 = 1 << 1;
    /// Programs may only read the map.
    pub const RDONLY_PROG: u32 = 1 << 7;
    /// Programs may only write the map.
    pub const WRONLY_PROG: u32 = 1 << 8;
}

/// The map types the backend uses (`enum bpf_map_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MapKind {
    /// `BPF_MAP_TYPE_HASH`
    Hash,
    /// `BPF_MAP_TYPE_ARRAY`
    Array,
    /// `BPF_MAP_TYPE_PERCPU_HASH`
    PercpuHash,
    /// `BPF_MAP_TYPE_PERCPU_ARRAY`
    PercpuArray,
    /// `BPF_MAP_TYPE_LRU_HASH`
    LruHash,
    /// `BPF_MAP_TYPE_LRU_PERCPU_HASH`
    LruPercpuHash,
    /// `BPF_MAP_TYPE_LPM_TRIE`
    LpmTrie,
    /// `BPF_MAP_TYPE_RINGBUF`: no key or value; `max_entries` is the byte size.
    RingBuf,
}

impl MapKind {
    /// The kernel's map type number.
    pub fn type_id(self) -> u32 {
        match self {
            MapKind::Hash => 1,
            MapKind::Array => 2,
            MapKind::PercpuHash => 5,
            MapKind::PercpuArray => 6,
            MapKind::LruHash => 9,
            MapKind::LruPercpuHash => 10,
            MapKind::LpmTrie => 11,
            MapKind::RingBuf => 27,
        }
    }

    /// The kind with this kernel type number.
    pub fn from_type_id(id: u32) -> Option<MapKind> {
        [
            MapKind::Hash,
            MapKind::Array,
            MapKind::PercpuHash,
            MapKind::PercpuArray,
            MapKind::LruHash,
            MapKind::LruPercpuHash,
            MapKind::LpmTrie,
            MapKind::RingBuf,
        ]
        .into_iter()
        .find(|k| k.type_id() == id)
    }

    /// Whether values are per CPU (user space reads one value per possible CPU).
    pub fn is_percpu(self) -> bool {
        matches!(
            self,
            MapKind::PercpuHash | MapKind::PercpuArray | MapKind::LruPercpuHash
        )
    }
}

/// The C type of a map key or value, as far as BTF needs to know it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Shape {
    /// An integer of 1, 2, 4 or 8 bytes.
    Int {
        /// Size in bytes.
        size: u32,
        /// Signed or unsigned.
        signed: bool,
    },
    /// `unsigned char[n]`.
    Bytes(u32),
    /// `struct bpf_spin_lock` (4 bytes). Only in a value struct of a
    /// [`MapKind::Hash`] or [`MapKind::Array`] map, at a 4-byte aligned offset.
    SpinLock,
    /// `elem[len]`.
    Array {
        /// Element type.
        elem: Box<Shape>,
        /// Number of elements.
        len: u32,
    },
    /// A struct with explicit field offsets.
    Struct(StructShape),
}

/// A struct: its name (empty for anonymous), size and fields.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StructShape {
    /// The struct tag (a C identifier), or empty for an anonymous struct.
    pub name: String,
    /// Size in bytes, padding included.
    pub size: u32,
    /// Fields, at byte offsets.
    pub fields: Vec<Field>,
}

/// One field of a [`StructShape`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Field {
    /// The field name (a C identifier).
    pub name: String,
    /// Byte offset from the start of the struct.
    pub offset: u32,
    /// Its type.
    pub shape: Shape,
}

impl Field {
    /// A field `name` at byte `offset`.
    pub fn new(name: impl Into<String>, offset: u32, shape: Shape) -> Field {
        Field {
            name: name.into(),
            offset,
            shape,
        }
    }
}

impl Shape {
    /// `__u8`.
    pub fn u8() -> Shape {
        Shape::Int {
            size: 1,
            signed: false,
        }
    }

    /// `__u16`.
    pub fn u16() -> Shape {
        Shape::Int {
            size: 2,
            signed: false,
        }
    }

    /// `__u32`.
    pub fn u32() -> Shape {
        Shape::Int {
            size: 4,
            signed: false,
        }
    }

    /// `__u64`.
    pub fn u64() -> Shape {
        Shape::Int {
            size: 8,
            signed: false,
        }
    }

    /// A struct.
    pub fn structure(name: impl Into<String>, size: u32, fields: Vec<Field>) -> Shape {
        Shape::Struct(StructShape {
            name: name.into(),
            size,
            fields,
        })
    }

    /// An LPM trie key: `struct name { __u32 prefixlen; __u8 data[data_len]; }`
    /// (`data_len` = 4 for IPv4, 16 for IPv6; data in network order).
    pub fn lpm_key(name: impl Into<String>, data_len: u32) -> Shape {
        Shape::structure(
            name,
            data_len.saturating_add(4),
            vec![
                Field::new("prefixlen", 0, Shape::u32()),
                Field::new("data", 4, Shape::Bytes(data_len)),
            ],
        )
    }

    /// Size in bytes, or `None` on overflow.
    pub fn size(&self) -> Option<u32> {
        match self {
            Shape::Int { size, .. } => Some(*size),
            Shape::Bytes(n) => Some(*n),
            Shape::SpinLock => Some(4),
            Shape::Array { elem, len } => elem.size()?.checked_mul(*len),
            Shape::Struct(s) => Some(s.size),
        }
    }

    /// Number of `bpf_spin_lock`s anywhere inside.
    fn spin_locks(&self) -> usize {
        match self {
            Shape::SpinLock => 1,
            Shape::Array { elem, .. } => elem.spin_locks(),
            Shape::Struct(s) => s.fields.iter().map(|f| f.shape.spin_locks()).sum(),
            _ => 0,
        }
    }

    /// Checks sizes, names and layout; `top` is true for the outermost struct
    /// of a value (the only place a spin lock may sit).
    fn validate(&self, what: &str, top: bool) -> Result<(), Error> {
        let bad = |reason: String| Error::InvalidShape {
            name: what.to_string(),
            reason,
        };
        match self {
            Shape::Int { size, .. } => {
                if !matches!(size, 1 | 2 | 4 | 8) {
                    return Err(bad(format!("integer of {size} bytes (1, 2, 4 or 8)")));
                }
            }
            Shape::Bytes(0) => return Err(bad("empty byte array".into())),
            Shape::Bytes(_) => {}
            Shape::SpinLock => {
                if !top {
                    return Err(bad(
                        "bpf_spin_lock must be a direct field of the value struct".into(),
                    ));
                }
            }
            Shape::Array { elem, len } => {
                if *len == 0 {
                    return Err(bad("empty array".into()));
                }
                if elem.spin_locks() > 0 {
                    return Err(bad("bpf_spin_lock inside an array".into()));
                }
                elem.validate(what, false)?;
                if self.size().is_none() {
                    return Err(bad("array size overflows".into()));
                }
            }
            Shape::Struct(s) => {
                if !s.name.is_empty() && !btf::is_identifier(&s.name) {
                    return Err(Error::InvalidName {
                        what: "struct",
                        name: s.name.clone(),
                        reason: "not a C identifier",
                    });
                }
                if s.name == "bpf_spin_lock" {
                    return Err(bad("use Shape::SpinLock for struct bpf_spin_lock".into()));
                }
                if s.fields.is_empty() {
                    return Err(bad("struct without fields".into()));
                }
                let mut spans = Vec::with_capacity(s.fields.len());
                for f in &s.fields {
                    if !btf::is_identifier(&f.name) {
                        return Err(Error::InvalidName {
                            what: "field",
                            name: f.name.clone(),
                            reason: "not a C identifier",
                        });
                    }
                    let inner = format!("{what}.{}", f.name);
                    let spin_ok = top && matches!(f.shape, Shape::SpinLock);
                    if matches!(f.shape, Shape::SpinLock) && !spin_ok {
                        return Err(Error::InvalidShape {
                            name: inner,
                            reason: "bpf_spin_lock must be a direct field of the value struct"
                                .into(),
                        });
                    }
                    if spin_ok && f.offset % 4 != 0 {
                        return Err(Error::InvalidShape {
                            name: inner,
                            reason: format!(
                                "bpf_spin_lock at offset {}, not 4-byte aligned",
                                f.offset
                            ),
                        });
                    }
                    f.shape.validate(&inner, spin_ok)?;
                    let size = f.shape.size().unwrap_or(u32::MAX);
                    let end = f.offset.checked_add(size).filter(|e| *e <= s.size);
                    let Some(end) = end else {
                        return Err(Error::InvalidShape {
                            name: inner,
                            reason: format!(
                                "field at {}+{} exceeds struct size {}",
                                f.offset, size, s.size
                            ),
                        });
                    };
                    spans.push((f.offset, end, &f.name));
                }
                spans.sort();
                for w in spans.windows(2) {
                    if w[1].0 < w[0].1 {
                        return Err(bad(format!("fields `{}` and `{}` overlap", w[0].2, w[1].2)));
                    }
                }
            }
        }
        Ok(())
    }
}

/// One map of an object.
///
/// With `key`/`value` shapes the map carries BTF types (needed for
/// `bpf_spin_lock` values and shown by `bpftool map dump` as structured
/// data); without, only sizes are recorded.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MapDef {
    /// Symbol and BTF variable name (a C identifier). The kernel keeps the first 15 bytes.
    pub name: String,
    /// Map type.
    pub kind: MapKind,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes (per CPU for per-CPU maps).
    pub value_size: u32,
    /// Capacity.
    pub max_entries: u32,
    /// `BPF_F_*` flags (see [`map_flags`]).
    pub flags: u32,
    /// The key's BTF shape, if typed.
    pub key: Option<Shape>,
    /// The value's BTF shape, if typed.
    pub value: Option<Shape>,
}

impl MapDef {
    /// A map described by sizes only.
    pub fn new(
        name: impl Into<String>,
        kind: MapKind,
        key_size: u32,
        value_size: u32,
        max_entries: u32,
    ) -> MapDef {
        MapDef {
            name: name.into(),
            kind,
            key_size,
            value_size,
            max_entries,
            flags: 0,
            key: None,
            value: None,
        }
    }

    /// A map with typed key and value; sizes come from the shapes (0 if they overflow,
    /// which validation then refuses).
    pub fn typed(
        name: impl Into<String>,
        kind: MapKind,
        key: Shape,
        value: Shape,
        max_entries: u32,
    ) -> MapDef {
        MapDef {
            name: name.into(),
            kind,
            key_size: key.size().unwrap_or(0),
            value_size: value.size().unwrap_or(0),
            max_entries,
            flags: 0,
            key: Some(key),
            value: Some(value),
        }
    }

    /// Sets the flags.
    pub fn with_flags(mut self, flags: u32) -> MapDef {
        self.flags = flags;
        self
    }

    /// Checks what the kernel checks at `BPF_MAP_CREATE` (and BTF checks),
    /// so that a refused map is found when the object is written.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |reason: String| Error::InvalidMap {
            map: self.name.clone(),
            reason,
        };
        if !btf::is_identifier(&self.name) {
            return Err(Error::InvalidName {
                what: "map",
                name: self.name.clone(),
                reason: "not a C identifier",
            });
        }
        if self.max_entries == 0 {
            return Err(bad("max_entries is 0".into()));
        }
        if self.kind == MapKind::RingBuf {
            if self.key_size != 0
                || self.value_size != 0
                || self.key.is_some()
                || self.value.is_some()
            {
                return Err(bad("a ring buffer has no key or value".into()));
            }
            if !self.max_entries.is_power_of_two() || self.max_entries % 4096 != 0 {
                return Err(bad(format!(
                    "a ring buffer's size is a power of two and a multiple of the page size, not {}",
                    self.max_entries
                )));
            }
            return Ok(());
        }
        if self.key_size == 0 || self.value_size == 0 {
            return Err(bad("key and value sizes must be at least 1".into()));
        }
        if let Some(k) = &self.key {
            k.validate(&format!("{}.key", self.name), false)?;
            if k.size() != Some(self.key_size) {
                return Err(bad(format!(
                    "key shape is {:?} bytes, key_size {}",
                    k.size(),
                    self.key_size
                )));
            }
        }
        if let Some(v) = &self.value {
            v.validate(
                &format!("{}.value", self.name),
                matches!(v, Shape::Struct(_)),
            )?;
            if v.size() != Some(self.value_size) {
                return Err(bad(format!(
                    "value shape is {:?} bytes, value_size {}",
                    v.size(),
                    self.value_size
                )));
            }
            let locks = v.spin_locks();
            if locks > 1 {
                return Err(bad("more than one bpf_spin_lock in the value".into()));
            }
            if locks == 1 {
                if !matches!(self.kind, MapKind::Hash | MapKind::Array) {
                    return Err(bad(format!(
                        "{:?} maps cannot hold a bpf_spin_lock (only Hash and Array; use atomics)",
                        self.kind
                    )));
                }
                if self.key.is_none() {
                    return Err(bad("a bpf_spin_lock value needs a typed key".into()));
                }
            }
        }
        let no_prealloc = self.flags & map_flags::NO_PREALLOC != 0;
        match self.kind {
            MapKind::Array | MapKind::PercpuArray => {
                if self.key_size != 4 {
                    return Err(bad(format!(
                        "array keys are 4 bytes, not {}",
                        self.key_size
                    )));
                }
                if let Some(k) = &self.key {
                    if !matches!(k, Shape::Int { size: 4, .. }) {
                        return Err(bad("an array's BTF key must be a 32-bit integer".into()));
                    }
                }
                if no_prealloc {
                    return Err(bad("arrays refuse BPF_F_NO_PREALLOC".into()));
                }
            }
            MapKind::LpmTrie => {
                if !no_prealloc {
                    return Err(bad("LPM tries need BPF_F_NO_PREALLOC".into()));
                }
                if !(5..=260).contains(&self.key_size) {
                    return Err(bad(format!(
                        "LPM trie key is 4 + 1..=256 data bytes, not {}",
                        self.key_size
                    )));
                }
                if let Some(k) = &self.key {
                    if !matches!(k, Shape::Struct(_)) {
                        return Err(bad("an LPM trie's BTF key must be a struct".into()));
                    }
                }
            }
            MapKind::LruHash | MapKind::LruPercpuHash if no_prealloc => {
                return Err(bad("LRU maps refuse BPF_F_NO_PREALLOC".into()));
            }
            _ => {}
        }
        Ok(())
    }
}

/// Program sections. The section name decides the program type for libbpf
/// and for the `dpuc-runtime` loader.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Section {
    /// `xdp` → `BPF_PROG_TYPE_XDP`. `ip link … xdp obj` needs `sec xdp`.
    Xdp,
    /// `classifier` → `BPF_PROG_TYPE_SCHED_CLS`. Chosen over `tc` because
    /// it is `tc filter … bpf obj`'s default section, libbpf 1.x and bpftool
    /// accept it, and aya-obj refuses `tc`.
    Tc,
}

impl Section {
    /// The ELF section name.
    pub fn name(self) -> &'static str {
        match self {
            Section::Xdp => "xdp",
            Section::Tc => "classifier",
        }
    }

    /// The section for a name as libbpf reads it (`xdp`, `xdp/…`,
    /// `classifier`, `classifier/…`, `tc`, `tc/…`).
    pub fn from_name(name: &str) -> Option<Section> {
        let base = name.split('/').next().unwrap_or(name);
        match base {
            "xdp" => Some(Section::Xdp),
            "classifier" | "tc" => Some(Section::Tc),
            _ => None,
        }
    }

    /// The context struct the program receives (for BTF).
    fn ctx_struct(self) -> &'static str {
        match self {
            Section::Xdp => "xdp_md",
            Section::Tc => "__sk_buff",
        }
    }
}

/// A program to put in an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramDef {
    /// Symbol name (a C identifier); the kernel keeps the first 15 bytes.
    pub name: String,
    /// Its section.
    pub section: Section,
    /// The code, with map references to relocate.
    pub code: Assembled,
}

/// Builds an object file from maps and programs.
///
/// ```
/// use dpuc_ebpf::elf::{MapDef, MapKind, ObjectBuilder, Section, Shape};
/// use dpuc_ebpf::insn::{helper, AluOp, Insn, JmpCond, Program, Reg, Size};
///
/// let mut p = Program::new();
/// let miss = p.label();
/// p.push(Insn::store(Size::W, Reg::R10, -4, 0))
///     .push(Insn::mov64(Reg::R2, Reg::R10))
///     .push(Insn::alu64(AluOp::Add, Reg::R2, -4))
///     .ld_map(Reg::R1, "hits")
///     .push(Insn::call(helper::MAP_LOOKUP_ELEM))
///     .jump_if(JmpCond::Eq, Reg::R0, 0, miss)
///     .push(Insn::mov64(Reg::R0, 1))
///     .push(Insn::exit())
///     .bind(miss)
///     .push(Insn::mov64(Reg::R0, 2))
///     .push(Insn::exit());
/// let obj = ObjectBuilder::new()
///     .map(MapDef::typed("hits", MapKind::Array, Shape::u32(), Shape::u64(), 1))
///     .program("count", Section::Xdp, p.assemble()?)
///     .build()?;
/// assert_eq!(&obj[..4], b"\x7fELF");
/// # Ok::<(), dpuc_ebpf::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct ObjectBuilder {
    maps: Vec<MapDef>,
    programs: Vec<ProgramDef>,
    subprograms: Vec<SubprogramDef>,
    license: String,
    btf_ext: bool,
}

/// A static function in `.text`: a callback that programs pass to helpers
/// such as `bpf_for_each_map_elem` through [`crate::insn::Insn::LdFunc`].
/// Loaders append it to every program that refers to it (libbpf does the
/// same), so one copy in the object serves both hooks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubprogramDef {
    /// Symbol and BTF name (a C identifier).
    pub name: String,
    /// Parameter names; each is a `void *` in BTF.
    pub params: Vec<String>,
    /// The code.
    pub code: Assembled,
}

impl Default for ObjectBuilder {
    fn default() -> Self {
        Self::new()
    }
}

/// One section to write, before layout.
struct Sec {
    name: String,
    kind: u32,
    flags: u64,
    data: Vec<u8>,
    align: u64,
    link: u32,
    info: u32,
    entsize: u64,
}

impl Sec {
    fn progbits(name: &str, flags: u64, data: Vec<u8>, align: u64) -> Sec {
        Sec {
            name: name.to_string(),
            kind: SHT_PROGBITS,
            flags,
            data,
            align,
            link: 0,
            info: 0,
            entsize: 0,
        }
    }
}

/// One symbol to write.
struct Sym {
    name: String,
    info: u8,
    shndx: u16,
    value: u64,
    size: u64,
}

/// Interning string table (`.strtab`).
struct StrTab {
    data: Vec<u8>,
    offsets: HashMap<String, u32>,
}

impl StrTab {
    fn new() -> Self {
        StrTab {
            data: vec![0],
            offsets: HashMap::new(),
        }
    }

    fn add(&mut self, s: &str) -> Result<u32, Error> {
        if s.is_empty() {
            return Ok(0);
        }
        if let Some(&o) = self.offsets.get(s) {
            return Ok(o);
        }
        let off = u32::try_from(self.data.len()).map_err(|_| Error::TooLarge("string table"))?;
        self.data.extend_from_slice(s.as_bytes());
        self.data.push(0);
        self.offsets.insert(s.to_string(), off);
        Ok(off)
    }
}

/// Encodes [`Shape`]s as BTF types. Equal shapes, numbers and pointers
/// are emitted once and shared (two maps with the same value struct refer
/// to one STRUCT), as a compiler would.
struct ShapeEncoder<'a> {
    btf: &'a mut BtfBuilder,
    ints: HashMap<(u32, bool), TypeId>,
    spin_lock: Option<TypeId>,
    shapes: HashMap<Shape, TypeId>,
    numbers: HashMap<u32, TypeId>,
    ptrs: HashMap<TypeId, TypeId>,
}

impl ShapeEncoder<'_> {
    fn int(&mut self, size: u32, signed: bool) -> TypeId {
        if let Some(&id) = self.ints.get(&(size, signed)) {
            return id;
        }
        let name = match (size, signed) {
            (1, false) => "unsigned char",
            (1, true) => "signed char",
            (2, false) => "unsigned short",
            (2, true) => "short",
            (4, false) => "unsigned int",
            (4, true) => "int",
            (8, false) => "unsigned long long",
            _ => "long long",
        };
        let id = self.btf.int(name, size, signed);
        self.ints.insert((size, signed), id);
        id
    }

    fn u32(&mut self) -> TypeId {
        self.int(4, false)
    }

    /// `__uint(name, n)`: a pointer to an array of `n` ints.
    fn number(&mut self, n: u32) -> TypeId {
        if let Some(&id) = self.numbers.get(&n) {
            return id;
        }
        let u = self.u32();
        let arr = self.btf.array(u, u, n);
        let id = self.btf.ptr(arr);
        self.numbers.insert(n, id);
        id
    }

    fn ptr(&mut self, target: TypeId) -> TypeId {
        if let Some(&id) = self.ptrs.get(&target) {
            return id;
        }
        let id = self.btf.ptr(target);
        self.ptrs.insert(target, id);
        id
    }

    fn shape(&mut self, s: &Shape) -> TypeId {
        if let Some(&id) = self.shapes.get(s) {
            return id;
        }
        let id = self.new_shape(s);
        self.shapes.insert(s.clone(), id);
        id
    }

    fn new_shape(&mut self, s: &Shape) -> TypeId {
        match s {
            Shape::Int { size, signed } => self.int(*size, *signed),
            Shape::Bytes(n) => {
                let u8_t = self.int(1, false);
                let idx = self.u32();
                self.btf.array(u8_t, idx, *n)
            }
            Shape::SpinLock => {
                if let Some(id) = self.spin_lock {
                    return id;
                }
                // The kernel recognises the lock by this exact struct name and size.
                let u = self.u32();
                let id = self.btf.structure("bpf_spin_lock", 4, &[("val", u, 0)]);
                self.spin_lock = Some(id);
                id
            }
            Shape::Array { elem, len } => {
                let e = self.shape(elem);
                let idx = self.u32();
                self.btf.array(e, idx, *len)
            }
            Shape::Struct(st) => {
                let members: Vec<(String, TypeId, u32)> = st
                    .fields
                    .iter()
                    .map(|f| (f.name.clone(), self.shape(&f.shape), f.offset * 8))
                    .collect();
                let refs: Vec<(&str, TypeId, u32)> = members
                    .iter()
                    .map(|(n, t, o)| (n.as_str(), *t, *o))
                    .collect();
                self.btf.structure(&st.name, st.size, &refs)
            }
        }
    }
}

impl ObjectBuilder {
    /// An empty object with license `GPL` and no `.BTF.ext`.
    pub fn new() -> Self {
        ObjectBuilder {
            maps: Vec::new(),
            programs: Vec::new(),
            subprograms: Vec::new(),
            license: "GPL".to_string(),
            btf_ext: false,
        }
    }

    /// Adds a map.
    pub fn map(mut self, def: MapDef) -> Self {
        self.maps.push(def);
        self
    }

    /// Adds a program in `section`. Several programs may share a section;
    /// each is its own entry point.
    pub fn program(mut self, name: impl Into<String>, section: Section, code: Assembled) -> Self {
        self.programs.push(ProgramDef {
            name: name.into(),
            section,
            code,
        });
        self
    }

    /// Adds a static subprogram in `.text` taking `params` (each `void *`)
    /// and returning `long`. An object with subprograms always has
    /// `.BTF.ext`: the verifier needs `func_info` for every function.
    pub fn subprogram(mut self, name: impl Into<String>, params: &[&str], code: Assembled) -> Self {
        self.subprograms.push(SubprogramDef {
            name: name.into(),
            params: params.iter().map(|p| p.to_string()).collect(),
            code,
        });
        self
    }

    /// Sets the license string (default `GPL`; GPL-only helpers such as
    /// `bpf_spin_lock` or `bpf_ktime_get_ns` need a GPL-compatible one).
    pub fn license(mut self, license: impl Into<String>) -> Self {
        self.license = license.into();
        self
    }

    /// Also write `.BTF.ext` with one `func_info` and one `line_info` record
    /// per program (and FUNC/FUNC_PROTO types for them in `.BTF`). Loading
    /// then shows `int name(struct xdp_md *ctx)` in bpftool, and the
    /// bpf-to-bpf calls and `bpf_loop` callbacks of later code need it.
    pub fn btf_ext(mut self, on: bool) -> Self {
        self.btf_ext = on;
        self
    }

    fn validate(&self) -> Result<(), Error> {
        let mut seen = HashMap::new();
        for m in &self.maps {
            m.validate()?;
            if seen.insert(m.name.as_str(), "map").is_some() {
                return Err(Error::Duplicate {
                    what: "map",
                    name: m.name.clone(),
                });
            }
        }
        let functions = self
            .programs
            .iter()
            .map(|p| (&p.name, "program", &p.code))
            .chain(
                self.subprograms
                    .iter()
                    .map(|s| (&s.name, "subprogram", &s.code)),
            );
        for (name, what, code) in functions {
            if !btf::is_identifier(name) {
                return Err(Error::InvalidName {
                    what,
                    name: name.clone(),
                    reason: "not a C identifier",
                });
            }
            if let Some(prev) = seen.insert(name.as_str(), what) {
                return Err(Error::Duplicate {
                    what: prev,
                    name: name.clone(),
                });
            }
            if code.slot_count() == 0 {
                return Err(Error::EmptyProgram(name.clone()));
            }
            for r in code.map_refs() {
                if !self.maps.iter().any(|m| m.name == r.map) {
                    return Err(Error::UnknownMap {
                        program: name.clone(),
                        map: r.map.clone(),
                    });
                }
            }
            for r in code.func_refs() {
                if !self.subprograms.iter().any(|s| s.name == r.func) {
                    return Err(Error::UnknownFunction {
                        program: name.clone(),
                        func: r.func.clone(),
                    });
                }
            }
        }
        for s in &self.subprograms {
            for p in &s.params {
                if !btf::is_identifier(p) {
                    return Err(Error::InvalidName {
                        what: "parameter",
                        name: p.clone(),
                        reason: "not a C identifier",
                    });
                }
            }
        }
        if self.license.as_bytes().contains(&0) {
            return Err(Error::InvalidName {
                what: "license",
                name: self.license.clone(),
                reason: "contains a NUL byte",
            });
        }
        Ok(())
    }

    /// Writes the object file.
    pub fn build(&self) -> Result<Vec<u8>, Error> {
        self.validate()?;
        // The verifier wants func_info for every function once there are
        // subprograms ("missing btf func_info").
        let with_ext = self.btf_ext || !self.subprograms.is_empty();

        // --- .BTF: maps, then programs ---
        let mut btf = BtfBuilder::new();
        let mut enc = ShapeEncoder {
            btf: &mut btf,
            ints: HashMap::new(),
            spin_lock: None,
            shapes: HashMap::new(),
            numbers: HashMap::new(),
            ptrs: HashMap::new(),
        };
        // (var id, offset in .maps, size) per map, in order.
        let mut map_vars = Vec::with_capacity(self.maps.len());
        let mut maps_size: u32 = 0;
        for m in &self.maps {
            let mut members: Vec<(&str, TypeId)> = vec![
                ("type", enc.number(m.kind.type_id())),
                ("max_entries", enc.number(m.max_entries)),
            ];
            if m.flags != 0 {
                members.push(("map_flags", enc.number(m.flags)));
            }
            match &m.key {
                Some(k) => {
                    let t = enc.shape(k);
                    members.push(("key", enc.ptr(t)));
                }
                // Ring buffers have neither key nor value.
                None if m.kind == MapKind::RingBuf => {}
                None => members.push(("key_size", enc.number(m.key_size))),
            }
            match &m.value {
                Some(v) => {
                    let t = enc.shape(v);
                    members.push(("value", enc.ptr(t)));
                }
                None if m.kind == MapKind::RingBuf => {}
                None => members.push(("value_size", enc.number(m.value_size))),
            }
            // Every member is a pointer: 8 bytes, at bit offsets 0, 64, …
            let with_offsets: Vec<(&str, TypeId, u32)> = members
                .iter()
                .enumerate()
                .map(|(i, (n, t))| (*n, *t, 64 * i as u32))
                .collect();
            let size = 8 * members.len() as u32;
            let st = enc.btf.structure("", size, &with_offsets);
            let var = enc.btf.var(&m.name, st, btf::VAR_GLOBAL_ALLOCATED);
            map_vars.push((var, maps_size, size));
            maps_size = maps_size
                .checked_add(size)
                .ok_or(Error::TooLarge(".maps"))?;
        }
        if !self.maps.is_empty() {
            enc.btf.datasec(".maps", maps_size, &map_vars);
        }
        let mut func_ids = Vec::new();
        let mut subprog_ids = Vec::new();
        if with_ext {
            let int_t = enc.int(4, true);
            for p in &self.programs {
                let ctx = enc.btf.fwd_struct(p.section.ctx_struct());
                let ctx_ptr = enc.btf.ptr(ctx);
                let proto = enc.btf.func_proto(int_t, &[("ctx", ctx_ptr)]);
                func_ids.push(enc.btf.func(&p.name, proto, btf::FUNC_GLOBAL));
            }
            if !self.subprograms.is_empty() {
                let long_t = enc.int(8, true);
                let void_ptr = enc.ptr(0);
                for s in &self.subprograms {
                    let params: Vec<(&str, TypeId)> =
                        s.params.iter().map(|p| (p.as_str(), void_ptr)).collect();
                    let proto = enc.btf.func_proto(long_t, &params);
                    // Callbacks must be static: the verifier checks them in
                    // the context of their caller.
                    subprog_ids.push(enc.btf.func(&s.name, proto, btf::FUNC_STATIC));
                }
            }
        }

        // --- .text: subprograms, concatenated ---
        let mut text_off: Vec<u64> = Vec::with_capacity(self.subprograms.len());
        let mut text_len = 0u64;
        for s in &self.subprograms {
            text_off.push(text_len);
            text_len += s.code.bytes().len() as u64;
        }
        let func_offset = |name: &str| -> Option<u64> {
            self.subprograms
                .iter()
                .position(|s| s.name == name)
                .map(|i| text_off[i])
        };
        // Code with each `ld_imm64` of a function holding the function's
        // byte offset in `.text`, as libbpf expects of a relocation against
        // the `.text` section symbol.
        let patched = |code: &Assembled| -> Result<Vec<u8>, Error> {
            let mut bytes = code.bytes().to_vec();
            for r in code.func_refs() {
                let off = func_offset(&r.func).ok_or_else(|| Error::UnknownFunction {
                    program: String::new(),
                    func: r.func.clone(),
                })?;
                let imm = i32::try_from(off).map_err(|_| Error::TooLarge(".text"))?;
                if let Some(b) = bytes.get_mut(r.slot * 8 + 4..r.slot * 8 + 8) {
                    b.copy_from_slice(&imm.to_le_bytes());
                }
            }
            Ok(bytes)
        };

        // --- program sections: group by section, keep first-seen order ---
        let mut groups: Vec<(Section, Vec<usize>)> = Vec::new();
        for (i, p) in self.programs.iter().enumerate() {
            match groups.iter_mut().find(|(s, _)| *s == p.section) {
                Some((_, v)) => v.push(i),
                None => groups.push((p.section, vec![i])),
            }
        }

        // A function symbol (`bind`: local or global) at the end of `code`,
        // then the function's patched instructions.
        let place = |syms: &mut Vec<Sym>,
                     code: &mut Vec<u8>,
                     name: &str,
                     bind: u8,
                     shndx: u16,
                     f: &Assembled|
         -> Result<(), Error> {
            syms.push(Sym {
                name: name.to_string(),
                info: (bind << 4) | STT_FUNC,
                shndx,
                value: code.len() as u64,
                size: f.bytes().len() as u64,
            });
            code.extend(patched(f)?);
            Ok(())
        };
        let mut secs: Vec<Sec> = Vec::new();
        // Section indices: 0 null, 1 .strtab, then `secs` from 2.
        let idx_of = |pos: usize| -> Result<u16, Error> {
            u16::try_from(pos + 2)
                .ok()
                .filter(|i| *i < 0xff00)
                .ok_or(Error::TooLarge("section count"))
        };
        let has_text = !self.subprograms.is_empty();
        // Symbols: locals first (the `.text` section symbol, the
        // subprograms), then programs, then maps (indices from 1).
        let mut syms: Vec<Sym> = Vec::new();
        let text_pos = secs.len();
        if has_text {
            let mut code = Vec::new();
            syms.push(Sym {
                name: String::new(),
                info: (STB_LOCAL << 4) | STT_SECTION,
                shndx: idx_of(text_pos)?,
                value: 0,
                size: 0,
            });
            for s in &self.subprograms {
                place(
                    &mut syms,
                    &mut code,
                    &s.name,
                    STB_LOCAL,
                    idx_of(text_pos)?,
                    &s.code,
                )?;
            }
            secs.push(Sec::progbits(".text", SHF_ALLOC | SHF_EXECINSTR, code, 8));
        }
        let n_locals = syms.len();
        let text_sym = 1u64;
        // (program index, byte offset in its section)
        let mut prog_pos: Vec<(usize, u64)> = Vec::new();
        let mut group_sec: Vec<usize> = Vec::new();
        for (section, members) in &groups {
            let mut code = Vec::new();
            let sec_pos = secs.len();
            for &pi in members {
                let p = &self.programs[pi];
                prog_pos.push((pi, code.len() as u64));
                place(
                    &mut syms,
                    &mut code,
                    &p.name,
                    STB_GLOBAL,
                    idx_of(sec_pos)?,
                    &p.code,
                )?;
            }
            secs.push(Sec::progbits(
                section.name(),
                SHF_ALLOC | SHF_EXECINSTR,
                code,
                8,
            ));
            group_sec.push(sec_pos);
        }
        let n_func_syms = syms.len();
        // Map symbols follow; .maps' index is known once the .rel sections are placed.
        let text_relocated = self
            .subprograms
            .iter()
            .any(|s| !s.code.map_refs().is_empty() || !s.code.func_refs().is_empty());
        let n_rel: usize = groups
            .iter()
            .filter(|(_, m)| {
                m.iter().any(|&pi| {
                    let c = &self.programs[pi].code;
                    !c.map_refs().is_empty() || !c.func_refs().is_empty()
                })
            })
            .count()
            + usize::from(text_relocated);
        let maps_pos = secs.len() + n_rel;
        for (m, (_, off, size)) in self.maps.iter().zip(&map_vars) {
            syms.push(Sym {
                name: m.name.clone(),
                info: (STB_GLOBAL << 4) | STT_OBJECT,
                shndx: idx_of(maps_pos)?,
                value: u64::from(*off),
                size: u64::from(*size),
            });
        }
        let map_sym = |name: &str| -> Option<u64> {
            self.maps
                .iter()
                .position(|m| m.name == name)
                .map(|i| (1 + n_func_syms + i) as u64)
        };
        // Relocations of one function's code placed at `base` in its section.
        let relocs = |name: &str, code: &Assembled, base: u64, rel: &mut Vec<u8>| {
            let mut entries: Vec<(u64, u64)> = Vec::new();
            for r in code.map_refs() {
                let sym = map_sym(&r.map).ok_or_else(|| Error::UnknownMap {
                    program: name.to_string(),
                    map: r.map.clone(),
                })?;
                entries.push((base + r.slot as u64 * 8, sym));
            }
            for r in code.func_refs() {
                entries.push((base + r.slot as u64 * 8, text_sym));
            }
            entries.sort();
            for (off, sym) in entries {
                rel.extend_from_slice(&off.to_le_bytes());
                rel.extend_from_slice(&((sym << 32) | u64::from(R_BPF_64_64)).to_le_bytes());
            }
            Ok::<(), Error>(())
        };

        // .rel sections; their `link` (the symtab) is filled in at layout.
        let rel_sec = |name: &str, rel: Vec<u8>, target: usize| -> Result<Sec, Error> {
            Ok(Sec {
                name: format!(".rel{name}"),
                kind: SHT_REL,
                flags: 0,
                data: rel,
                align: 8,
                link: 0,
                info: u32::from(idx_of(target)?),
                entsize: 16,
            })
        };
        if text_relocated {
            let mut rel = Vec::new();
            for (s, off) in self.subprograms.iter().zip(&text_off) {
                relocs(&s.name, &s.code, *off, &mut rel)?;
            }
            secs.push(rel_sec(".text", rel, text_pos)?);
        }
        for ((section, members), &sec_pos) in groups.iter().zip(&group_sec) {
            let mut rel = Vec::new();
            for &pi in members {
                let base = prog_pos
                    .iter()
                    .find(|(i, _)| *i == pi)
                    .map_or(0, |(_, o)| *o);
                let p = &self.programs[pi];
                relocs(&p.name, &p.code, base, &mut rel)?;
            }
            if !rel.is_empty() {
                secs.push(rel_sec(section.name(), rel, sec_pos)?);
            }
        }
        if !self.maps.is_empty() {
            debug_assert_eq!(secs.len(), maps_pos);
            secs.push(Sec::progbits(
                ".maps",
                SHF_ALLOC | SHF_WRITE,
                vec![0; maps_size as usize],
                8,
            ));
        }
        let mut license = self.license.as_bytes().to_vec();
        license.push(0);
        secs.push(Sec::progbits("license", SHF_ALLOC | SHF_WRITE, license, 1));
        let mut strtab = StrTab::new();
        if with_ext {
            let mut funcs = Vec::new();
            let mut lines = Vec::new();
            // One line per function, at its first instruction, naming it:
            // libbpf warns about func_info without line_info, and the
            // kernel wants a line at the start of every subprogram.
            let file = btf.string("dpuc");
            let mut subsections: Vec<(&str, Vec<FuncRecord>)> = Vec::new();
            if has_text {
                let recs = self
                    .subprograms
                    .iter()
                    .zip(&text_off)
                    .zip(&subprog_ids)
                    .map(|((s, off), id)| (*off as u32, *id, s.name.as_str()))
                    .collect();
                subsections.push((".text", recs));
            }
            for (section, members) in &groups {
                let recs = members
                    .iter()
                    .map(|&pi| {
                        let off = prog_pos
                            .iter()
                            .find(|(i, _)| *i == pi)
                            .map_or(0, |(_, o)| *o) as u32;
                        (off, func_ids[pi], self.programs[pi].name.as_str())
                    })
                    .collect();
                subsections.push((section.name(), recs));
            }
            for (section, recs) in subsections {
                // Each subsection: section name (a .BTF string), count, records.
                // Instruction offsets are in bytes here; libbpf divides by 8.
                let sec_name = btf.string(section);
                for out in [&mut funcs, &mut lines] {
                    out.extend_from_slice(&sec_name.to_le_bytes());
                    out.extend_from_slice(&(recs.len() as u32).to_le_bytes());
                }
                for (off, id, name) in recs {
                    let line = btf.string(name);
                    funcs.extend_from_slice(&off.to_le_bytes());
                    funcs.extend_from_slice(&id.to_le_bytes());
                    // (insn_off, file_name_off, line_off, line 1 << 10 | column 0)
                    for w in [off, file, line, 1 << 10] {
                        lines.extend_from_slice(&w.to_le_bytes());
                    }
                }
            }
            secs.push(Sec::progbits(".BTF", 0, btf.encode(), 4));
            secs.push(Sec::progbits(".BTF.ext", 0, btf_ext(&funcs, &lines), 4));
        } else if btf.type_count() > 0 {
            // The kernel refuses a BTF without types, so an object with
            // neither maps nor func_info has no .BTF at all.
            secs.push(Sec::progbits(".BTF", 0, btf.encode(), 4));
        }

        write_elf(secs, &syms, n_locals, &mut strtab)
    }
}

/// One function's `.BTF.ext` records: byte offset in its section, BTF
/// FUNC id, name (the text of its one line record).
type FuncRecord<'a> = (u32, TypeId, &'a str);

/// `.BTF.ext`: 32-byte header, then the func_info subsection (record size
/// 8 + `funcs`) and the line_info subsection (record size 16 + `lines`); no
/// CO-RE relocations.
fn btf_ext(funcs: &[u8], lines: &[u8]) -> Vec<u8> {
    let fi_len = 4 + funcs.len() as u32;
    let li_len = 4 + lines.len() as u32;
    let mut out = Vec::with_capacity(32 + (fi_len + li_len) as usize);
    out.extend_from_slice(&btf::MAGIC.to_le_bytes());
    out.push(1);
    out.push(0);
    // hdr_len, func_info off/len, line_info off/len, core_relo off/len
    for w in [32u32, 0, fi_len, fi_len, li_len, fi_len + li_len, 0] {
        out.extend_from_slice(&w.to_le_bytes());
    }
    out.extend_from_slice(&8u32.to_le_bytes());
    out.extend_from_slice(funcs);
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(lines);
    out
}

/// Lays out and writes the ELF file: header, section contents, section headers.
fn write_elf(
    secs: Vec<Sec>,
    syms: &[Sym],
    n_locals: usize,
    strtab: &mut StrTab,
) -> Result<Vec<u8>, Error> {
    // Final section list: null, .strtab (1), secs (2..), .symtab (last).
    let symtab_idx = u32::try_from(secs.len() + 2).map_err(|_| Error::TooLarge("section count"))?;
    let mut symtab = vec![0u8; 24];
    for s in syms {
        symtab.extend_from_slice(&strtab.add(&s.name)?.to_le_bytes());
        symtab.push(s.info);
        symtab.push(0); // st_other: default visibility
        symtab.extend_from_slice(&s.shndx.to_le_bytes());
        symtab.extend_from_slice(&s.value.to_le_bytes());
        symtab.extend_from_slice(&s.size.to_le_bytes());
    }
    let mut names = Vec::with_capacity(secs.len() + 2);
    let strtab_name = strtab.add(".strtab")?;
    for s in &secs {
        names.push(strtab.add(&s.name)?);
    }
    let symtab_name = strtab.add(".symtab")?;
    let mut all = Vec::with_capacity(secs.len() + 2);
    all.push(Sec {
        name: String::new(),
        kind: SHT_STRTAB,
        flags: 0,
        data: std::mem::take(&mut strtab.data),
        align: 1,
        link: 0,
        info: 0,
        entsize: 0,
    });
    let mut name_offs = vec![strtab_name];
    for (mut s, n) in secs.into_iter().zip(names) {
        if s.kind == SHT_REL {
            s.link = symtab_idx;
        }
        all.push(s);
        name_offs.push(n);
    }
    all.push(Sec {
        name: String::new(),
        kind: SHT_SYMTAB,
        flags: 0,
        data: symtab,
        align: 8,
        link: 1,
        // Index of the first non-local symbol (the null symbol is local).
        info: u32::try_from(n_locals + 1).map_err(|_| Error::TooLarge("symbol count"))?,
        entsize: 24,
    });
    name_offs.push(symtab_name);

    let mut body = Vec::new();
    let mut offsets = Vec::with_capacity(all.len());
    let header_len = 64usize;
    for s in &all {
        let align = s.align.max(1) as usize;
        while (header_len + body.len()) % align != 0 {
            body.push(0);
        }
        offsets.push((header_len + body.len()) as u64);
        body.extend_from_slice(&s.data);
    }
    while (header_len + body.len()) % 8 != 0 {
        body.push(0);
    }
    let shoff = (header_len + body.len()) as u64;
    let shnum = u16::try_from(all.len() + 1).map_err(|_| Error::TooLarge("section count"))?;

    let mut out = Vec::with_capacity(shoff as usize + 64 * usize::from(shnum));
    // e_ident: magic, ELFCLASS64, ELFDATA2LSB, EV_CURRENT, ELFOSABI_NONE, padding.
    out.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&1u16.to_le_bytes()); // e_type = ET_REL
    out.extend_from_slice(&EM_BPF.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes()); // e_version
    out.extend_from_slice(&0u64.to_le_bytes()); // e_entry
    out.extend_from_slice(&0u64.to_le_bytes()); // e_phoff
    out.extend_from_slice(&shoff.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes()); // e_flags
    out.extend_from_slice(&64u16.to_le_bytes()); // e_ehsize
    out.extend_from_slice(&0u16.to_le_bytes()); // e_phentsize
    out.extend_from_slice(&0u16.to_le_bytes()); // e_phnum
    out.extend_from_slice(&64u16.to_le_bytes()); // e_shentsize
    out.extend_from_slice(&shnum.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // e_shstrndx: .strtab
    out.extend_from_slice(&body);
    out.extend_from_slice(&[0u8; 64]); // section 0
    for ((s, off), name) in all.iter().zip(&offsets).zip(&name_offs) {
        out.extend_from_slice(&name.to_le_bytes());
        out.extend_from_slice(&s.kind.to_le_bytes());
        out.extend_from_slice(&s.flags.to_le_bytes());
        out.extend_from_slice(&0u64.to_le_bytes()); // sh_addr
        out.extend_from_slice(&off.to_le_bytes());
        out.extend_from_slice(&(s.data.len() as u64).to_le_bytes());
        out.extend_from_slice(&s.link.to_le_bytes());
        out.extend_from_slice(&s.info.to_le_bytes());
        out.extend_from_slice(&s.align.to_le_bytes());
        out.extend_from_slice(&s.entsize.to_le_bytes());
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
