//! A writer for BTF, the BPF Type Format (`Documentation/bpf/btf.rst`).
//!
//! The blob is a 24-byte header, the type section (each type a 12-byte
//! `btf_type` plus kind-specific trailing data; ids count from 1, 0 is
//! `void`) and a string section (offset 0 is the empty name). This writer
//! only emits the kinds an object needs: INT, PTR, ARRAY, STRUCT, VAR,
//! DATASEC, FUNC_PROTO and FUNC.

use std::collections::HashMap;

/// A BTF type id; 0 is `void`.
pub type TypeId = u32;

/// `BTF_MAGIC`, little endian on disk.
pub const MAGIC: u16 = 0xeb9f;
/// Size of `struct btf_header`.
pub const HEADER_LEN: u32 = 24;

/// BTF kinds (`BTF_KIND_*`).
pub mod kind {
    /// Integer.
    pub const INT: u32 = 1;
    /// Pointer.
    pub const PTR: u32 = 2;
    /// Array.
    pub const ARRAY: u32 = 3;
    /// Struct.
    pub const STRUCT: u32 = 4;
    /// Union.
    pub const UNION: u32 = 5;
    /// Enum.
    pub const ENUM: u32 = 6;
    /// Forward declaration.
    pub const FWD: u32 = 7;
    /// Typedef.
    pub const TYPEDEF: u32 = 8;
    /// Volatile.
    pub const VOLATILE: u32 = 9;
    /// Const.
    pub const CONST: u32 = 10;
    /// Restrict.
    pub const RESTRICT: u32 = 11;
    /// Function (name + prototype).
    pub const FUNC: u32 = 12;
    /// Function prototype.
    pub const FUNC_PROTO: u32 = 13;
    /// Variable.
    pub const VAR: u32 = 14;
    /// Data section.
    pub const DATASEC: u32 = 15;
}

/// `BTF_INT_SIGNED`, in the encoding byte of an INT.
pub const INT_SIGNED: u32 = 1;
/// `BTF_VAR_GLOBAL_ALLOCATED`: the linkage libbpf expects of map variables.
pub const VAR_GLOBAL_ALLOCATED: u32 = 1;
/// `BTF_FUNC_STATIC` linkage (callbacks: verified in their caller's context).
pub const FUNC_STATIC: u32 = 0;
/// `BTF_FUNC_GLOBAL` linkage.
pub const FUNC_GLOBAL: u32 = 1;

/// Builds a BTF blob. Strings are interned; types are appended in call
/// order, so a type must be added before anything that refers to it.
#[derive(Clone, Debug)]
pub struct BtfBuilder {
    strings: Vec<u8>,
    string_offsets: HashMap<String, u32>,
    types: Vec<u8>,
    count: u32,
}

impl Default for BtfBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl BtfBuilder {
    /// An empty builder (string 0 is the empty name).
    pub fn new() -> Self {
        let mut string_offsets = HashMap::new();
        string_offsets.insert(String::new(), 0);
        BtfBuilder {
            strings: vec![0],
            string_offsets,
            types: Vec::new(),
            count: 0,
        }
    }

    /// Interns `s`, returning its offset in the string section.
    pub fn string(&mut self, s: &str) -> u32 {
        if let Some(&off) = self.string_offsets.get(s) {
            return off;
        }
        let off = self.strings.len() as u32;
        self.strings.extend_from_slice(s.as_bytes());
        self.strings.push(0);
        self.string_offsets.insert(s.to_string(), off);
        off
    }

    /// Number of types added so far (the last id).
    pub fn type_count(&self) -> u32 {
        self.count
    }

    fn header(&mut self, name: &str, kind: u32, vlen: u32, size_or_type: u32) -> TypeId {
        let name_off = self.string(name);
        let info = (kind << 24) | (vlen & 0xffff);
        for w in [name_off, info, size_or_type] {
            self.types.extend_from_slice(&w.to_le_bytes());
        }
        self.count += 1;
        self.count
    }

    fn words(&mut self, words: &[u32]) {
        for w in words {
            self.types.extend_from_slice(&w.to_le_bytes());
        }
    }

    /// An integer of `size` bytes (1, 2, 4, 8 or 16), all bits used.
    pub fn int(&mut self, name: &str, size: u32, signed: bool) -> TypeId {
        let id = self.header(name, kind::INT, 0, size);
        let encoding = if signed { INT_SIGNED } else { 0 };
        // encoding << 24 | bit offset (0) << 16 | bits
        self.words(&[(encoding << 24) | (size * 8)]);
        id
    }

    /// A pointer to `target`.
    pub fn ptr(&mut self, target: TypeId) -> TypeId {
        self.header("", kind::PTR, 0, target)
    }

    /// An array of `nelems` elements of type `elem`, indexed by `index` (an INT).
    pub fn array(&mut self, elem: TypeId, index: TypeId, nelems: u32) -> TypeId {
        let id = self.header("", kind::ARRAY, 0, 0);
        self.words(&[elem, index, nelems]);
        id
    }

    /// A struct of `size` bytes; members are `(name, type, bit offset)`.
    pub fn structure(&mut self, name: &str, size: u32, members: &[(&str, TypeId, u32)]) -> TypeId {
        let id = self.header(name, kind::STRUCT, members.len() as u32, size);
        for (m, ty, bit_off) in members {
            let n = self.string(m);
            self.words(&[n, *ty, *bit_off]);
        }
        id
    }

    /// A forward declaration of a struct (`struct name;`).
    pub fn fwd_struct(&mut self, name: &str) -> TypeId {
        self.header(name, kind::FWD, 0, 0)
    }

    /// A variable of type `ty` with `linkage`.
    pub fn var(&mut self, name: &str, ty: TypeId, linkage: u32) -> TypeId {
        let id = self.header(name, kind::VAR, 0, ty);
        self.words(&[linkage]);
        id
    }

    /// A data section of `size` bytes; `vars` are `(var id, offset, size)`.
    pub fn datasec(&mut self, name: &str, size: u32, vars: &[(TypeId, u32, u32)]) -> TypeId {
        let id = self.header(name, kind::DATASEC, vars.len() as u32, size);
        for (v, off, sz) in vars {
            self.words(&[*v, *off, *sz]);
        }
        id
    }

    /// A function prototype returning `ret`; params are `(name, type)`.
    pub fn func_proto(&mut self, ret: TypeId, params: &[(&str, TypeId)]) -> TypeId {
        let id = self.header("", kind::FUNC_PROTO, params.len() as u32, ret);
        for (p, ty) in params {
            let n = self.string(p);
            self.words(&[n, *ty]);
        }
        id
    }

    /// A function `name` with prototype `proto` and `linkage` (in vlen).
    pub fn func(&mut self, name: &str, proto: TypeId, linkage: u32) -> TypeId {
        self.header(name, kind::FUNC, linkage, proto)
    }

    /// The encoded blob: header, types, strings.
    pub fn encode(&self) -> Vec<u8> {
        let type_len = self.types.len() as u32;
        let str_len = self.strings.len() as u32;
        let mut out =
            Vec::with_capacity(HEADER_LEN as usize + self.types.len() + self.strings.len());
        out.extend_from_slice(&MAGIC.to_le_bytes());
        out.push(1); // version
        out.push(0); // flags
        out.extend_from_slice(&HEADER_LEN.to_le_bytes());
        for w in [0, type_len, type_len, str_len] {
            // type_off, type_len, str_off, str_len (offsets after the header)
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.extend_from_slice(&self.types);
        out.extend_from_slice(&self.strings);
        out
    }
}

/// Whether `name` is a C identifier (what the kernel wants of struct,
/// member, variable and function names).
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hash map of the reference generator, byte for byte: same order
    /// of types and strings gives the same 320-byte blob as `btf_annotated.txt`.
    #[test]
    fn reference_map_layout() {
        let mut b = BtfBuilder::new();
        let u32_t = b.int("unsigned int", 4, false);
        let u64_t = b.int("unsigned long long", 8, false);
        let a1 = b.array(u32_t, u32_t, 1);
        let ty = b.ptr(a1);
        let a2 = b.array(u32_t, u32_t, 1024);
        let max = b.ptr(a2);
        let key = b.ptr(u32_t);
        let value = b.ptr(u64_t);
        let st = b.structure(
            "",
            32,
            &[
                ("type", ty, 0),
                ("max_entries", max, 64),
                ("key", key, 128),
                ("value", value, 192),
            ],
        );
        let var = b.var("m", st, VAR_GLOBAL_ALLOCATED);
        b.datasec(".maps", 32, &[(var, 0, 32)]);
        let blob = b.encode();
        assert_eq!(blob.len(), 320);
        assert_eq!(&blob[..8], &[0x9f, 0xeb, 1, 0, 24, 0, 0, 0]);
        // type_len 228, str_off 228, str_len 68
        assert_eq!(&blob[12..24], &[228, 0, 0, 0, 228, 0, 0, 0, 68, 0, 0, 0]);
        // [11] DATASEC at +0xe4 after the header
        assert_eq!(
            &blob[0xe4..0xe4 + 24],
            &[
                0x3e, 0, 0, 0, 1, 0, 0, 0x0f, 0x20, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0x20, 0, 0,
                0
            ]
        );
        assert!(blob.ends_with(b"\0m\0.maps\0"));
    }

    #[test]
    fn strings_are_interned() {
        let mut b = BtfBuilder::new();
        assert_eq!(b.string(""), 0);
        let a = b.string("x");
        assert_eq!(b.string("x"), a);
        assert_ne!(b.string("y"), a);
    }

    #[test]
    fn identifiers() {
        assert!(is_identifier("lpm_key"));
        assert!(is_identifier("_x1"));
        assert!(!is_identifier("1x"));
        assert!(!is_identifier(""));
        assert!(!is_identifier("a-b"));
        assert!(!is_identifier(".maps"));
    }
}
