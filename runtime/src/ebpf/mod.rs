//! A minimal eBPF loader over the raw `bpf()` system call (Linux, feature
//! `ebpf`): no libbpf, no C.
//!
//! [Loading an object][load] from the bytes of an ELF file (as written by
//! `dpuc-ebpf`, or any libbpf-style object using the same subset):
//! 1. parses programs, BTF-defined maps, relocations and the license
//!    ([the parser][parse]), appending to each program the static
//!    callbacks of `.text` it refers to (`BPF_PSEUDO_FUNC`), as libbpf does;
//! 2. loads `.BTF` into the kernel (`BPF_BTF_LOAD`);
//! 3. creates each map (`BPF_MAP_CREATE`, with BTF key/value type ids when
//!    both are typed — required for `bpf_spin_lock` values);
//! 4. patches every relocated `ld_imm64` with `BPF_PSEUDO_MAP_FD` and the
//!    map's fd, and loads each program (`BPF_PROG_LOAD`); on refusal the
//!    [verifier log is captured into the error][verifier].
//!
//! [Maps][map] offer update/lookup/delete/next-key; [test runs][run] use
//! `BPF_PROG_TEST_RUN`. Every descriptor is an [owned fd][fd], closed on drop.
//!
//! Tests call [the privilege probe][probe] first and print `skipped: no BPF
//! privilege` when it fails, so that a missing capability is visible rather
//! than a silent pass.
//!
//! (Links are full paths: rustdoc resolves a module's inner docs in the
//! parent's scope when the `mod` line carries a doc comment too.)
//!
//! [load]: crate::ebpf::Object::load
//! [parse]: crate::ebpf::parse_object
//! [verifier]: crate::ebpf::Error::Verifier
//! [map]: crate::ebpf::Map
//! [run]: crate::ebpf::Program::test_run
//! [fd]: std::os::fd::OwnedFd
//! [probe]: crate::ebpf::bpf_available

mod attach;
mod object;
mod ring;
mod sys;
mod target;

pub use attach::{ifindex, AttachPoint, Link};
pub use object::{parse as parse_object, MapSpec, ObjectSpec, ProgramSpec};
pub use ring::RingReader;
pub use target::{load_filled, Ebpf, EventRecord, TestBuildError};

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

/// `BPF_PROG_TYPE_SCHED_CLS` (TC classifier).
pub const PROG_TYPE_SCHED_CLS: u32 = object::PROG_TYPE_SCHED_CLS;
/// `BPF_PROG_TYPE_XDP`.
pub const PROG_TYPE_XDP: u32 = object::PROG_TYPE_XDP;

/// Map update flags (`BPF_ANY`, …).
pub mod update_flags {
    /// Create or replace.
    pub const ANY: u64 = 0;
    /// Create only.
    pub const NOEXIST: u64 = 1;
    /// Replace only.
    pub const EXIST: u64 = 2;
    /// Take the value's `bpf_spin_lock` while copying.
    pub const F_LOCK: u64 = 4;
}

/// `src_reg` marking an `ld_imm64` as a map fd.
const PSEUDO_MAP_FD: u8 = 1;
/// First verifier-log buffer; doubled on `ENOSPC` up to [`LOG_MAX`].
const LOG_START: usize = 1 << 20;
const LOG_MAX: usize = 1 << 26;

/// What can go wrong while loading or using an object.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The ELF or BTF is malformed or uses something this loader does not support.
    #[error("malformed object: {0}")]
    Object(String),
    /// The kernel refused the BTF; `log` is its BTF verifier log.
    #[error("BPF_BTF_LOAD failed: {source}\n{log}")]
    Btf {
        /// The errno.
        #[source]
        source: io::Error,
        /// The kernel's BTF log.
        log: String,
    },
    /// The kernel refused to create a map.
    #[error("map `{name}`: BPF_MAP_CREATE failed: {source}")]
    MapCreate {
        /// The map.
        name: String,
        /// The errno.
        #[source]
        source: io::Error,
    },
    /// The verifier refused a program; `log` is the verifier log.
    #[error("program `{name}` refused: {source}\n{log}")]
    Verifier {
        /// The program.
        name: String,
        /// The errno (usually `EACCES` or `EINVAL`).
        #[source]
        source: io::Error,
        /// The verifier log (level 1).
        log: String,
    },
    /// A map operation or test run failed.
    #[error("{op} failed: {source}")]
    Sys {
        /// The command.
        op: &'static str,
        /// The errno.
        #[source]
        source: io::Error,
    },
    /// A key or value of the wrong length was passed.
    #[error("map `{map}`: {what} is {got} bytes, expected {expected}")]
    Size {
        /// The map.
        map: String,
        /// "key" or "value".
        what: &'static str,
        /// Length passed.
        got: usize,
        /// Length expected.
        expected: usize,
    },
    /// Reading the object file failed.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        #[source]
        source: io::Error,
    },
}

/// The `bpf()` syscall is not usable here (missing `CAP_BPF`/`CAP_NET_ADMIN`,
/// unprivileged BPF disabled, seccomp, or no syscall at all).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no BPF privilege: {reason}")]
pub struct NoPrivilege {
    /// What the probe saw.
    pub reason: String,
}

/// Probes whether this process may create maps and load XDP programs, by
/// doing both with the smallest possible instances.
///
/// Any failure counts as "no privilege": the probe's program and map are
/// valid on every kernel this loader targets, so the only expected causes
/// are `EPERM`/`EACCES`/`ENOSYS`; the reason carries the errno.
pub fn bpf_available() -> Result<(), NoPrivilege> {
    let spec = MapSpec::new("dpuc_probe", 2, 4, 4, 1);
    Map::create(&spec).map_err(|e| NoPrivilege {
        reason: format!("creating an array map: {e}"),
    })?;
    // r0 = XDP_PASS; exit
    let insns: [u8; 16] = [0xb7, 0, 0, 0, 2, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0];
    Program::load_insns("dpuc_probe", "xdp", PROG_TYPE_XDP, &insns, "GPL").map_err(|e| {
        NoPrivilege {
            reason: format!("loading an XDP program: {e}"),
        }
    })?;
    Ok(())
}

/// Number of possible CPUs (the count of per-CPU values the kernel copies),
/// from `/sys/devices/system/cpu/possible` (e.g. `0-3` or `0,2-5`).
pub fn possible_cpus() -> Result<usize, Error> {
    let path = "/sys/devices/system/cpu/possible";
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_string(),
        source,
    })?;
    parse_cpu_list(text.trim())
        .ok_or_else(|| Error::Object(format!("cannot parse {path}: {text:?}")))
}

fn parse_cpu_list(s: &str) -> Option<usize> {
    let mut n = 0usize;
    for part in s.split(',').filter(|p| !p.is_empty()) {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.parse::<usize>().ok()?, b.parse::<usize>().ok()?),
            None => {
                let a = part.parse::<usize>().ok()?;
                (a, a)
            }
        };
        n += b.checked_sub(a)? + 1;
    }
    (n > 0).then_some(n)
}

/// Reads a NUL-terminated log out of `buf`.
fn log_text(buf: &[u8]) -> String {
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Loads a BTF blob, returning its fd (or the kernel's BTF log on refusal).
pub fn load_btf(blob: &[u8]) -> Result<OwnedFd, Error> {
    let size =
        u32::try_from(blob.len()).map_err(|_| Error::Object(".BTF larger than 4 GiB".into()))?;
    let mut attr = sys::BtfLoadAttr {
        btf: sys::ptr(blob.as_ptr()),
        btf_size: size,
        ..Default::default()
    };
    // SAFETY: `attr.btf` points at `blob`, `size` bytes, alive for the call; no log buffer.
    match unsafe { sys::bpf(sys::cmd::BTF_LOAD, &mut attr) } {
        Ok(fd) => sys::owned_fd(fd).map_err(|source| Error::Sys {
            op: "BPF_BTF_LOAD",
            source,
        }),
        Err(source) => {
            // Load again with a log to say why.
            let mut log = vec![0u8; LOG_START];
            let mut attr = sys::BtfLoadAttr {
                btf: sys::ptr(blob.as_ptr()),
                btf_size: size,
                btf_log_buf: sys::ptr(log.as_mut_ptr()),
                btf_log_size: log.len() as u32,
                btf_log_level: 1,
                ..Default::default()
            };
            // SAFETY: as above, plus `btf_log_buf` points at `log`, writable
            // for `btf_log_size` bytes, alive for the call.
            if let Ok(fd) = unsafe { sys::bpf(sys::cmd::BTF_LOAD, &mut attr) } {
                // Accepted the second time (a transient error): use it.
                return sys::owned_fd(fd).map_err(|source| Error::Sys {
                    op: "BPF_BTF_LOAD",
                    source,
                });
            }
            Err(Error::Btf {
                source,
                log: log_text(&log),
            })
        }
    }
}

/// The value buffer of a map element command.
enum Buf<'a> {
    /// No value (delete).
    None,
    /// Read by the kernel (update).
    In(&'a [u8]),
    /// Written by the kernel (lookup, next key).
    Out(&'a mut [u8]),
}

/// A created map.
#[derive(Debug)]
pub struct Map {
    spec: MapSpec,
    fd: OwnedFd,
    /// Bytes user space passes and receives per value (all CPUs for per-CPU maps).
    value_len: usize,
}

impl MapSpec {
    /// A map spec by sizes only (no BTF), e.g. for maps created outside an object.
    pub fn new(
        name: impl Into<String>,
        map_type: u32,
        key_size: u32,
        value_size: u32,
        max_entries: u32,
    ) -> MapSpec {
        MapSpec {
            name: name.into(),
            map_type,
            key_size,
            value_size,
            max_entries,
            flags: 0,
            btf_ids: None,
            offset: 0,
        }
    }

    fn is_percpu(&self) -> bool {
        // PERCPU_HASH, PERCPU_ARRAY, LRU_PERCPU_HASH, PERCPU_CGROUP_STORAGE
        matches!(self.map_type, 5 | 6 | 10 | 21)
    }
}

impl Map {
    /// Creates a map without BTF.
    pub fn create(spec: &MapSpec) -> Result<Map, Error> {
        Map::create_with_btf(spec, None)
    }

    /// Creates a map; `btf` is the fd of the loaded `.BTF` the spec's type ids refer to.
    pub fn create_with_btf(spec: &MapSpec, btf: Option<BorrowedFd<'_>>) -> Result<Map, Error> {
        let mut attr = sys::MapCreateAttr {
            map_type: spec.map_type,
            key_size: spec.key_size,
            value_size: spec.value_size,
            max_entries: spec.max_entries,
            map_flags: spec.flags,
            map_name: sys::obj_name(&spec.name),
            ..Default::default()
        };
        if let (Some((k, v)), Some(btf)) = (spec.btf_ids, btf) {
            attr.btf_fd = btf.as_raw_fd() as u32;
            attr.btf_key_type_id = k;
            attr.btf_value_type_id = v;
        }
        // SAFETY: BPF_MAP_CREATE reads only the attribute itself (no pointers).
        let fd = unsafe { sys::bpf(sys::cmd::MAP_CREATE, &mut attr) }
            .and_then(sys::owned_fd)
            .map_err(|source| Error::MapCreate {
                name: spec.name.clone(),
                source,
            })?;
        Map::from_fd(spec.clone(), fd)
    }

    /// Wraps an open map descriptor described by `spec`.
    pub(crate) fn from_fd(spec: MapSpec, fd: OwnedFd) -> Result<Map, Error> {
        let value_len = if spec.is_percpu() {
            (spec.value_size as usize).div_ceil(8) * 8 * possible_cpus()?
        } else {
            spec.value_size as usize
        };
        Ok(Map {
            spec,
            fd,
            value_len,
        })
    }

    /// The map's name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// Its spec (type, sizes, flags).
    pub fn spec(&self) -> &MapSpec {
        &self.spec
    }

    /// Its file descriptor.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Length of the values passed to [`Map::update`] and returned by
    /// [`Map::lookup`]: `value_size`, or for per-CPU maps `value_size`
    /// rounded up to 8, times the number of possible CPUs.
    pub fn value_len(&self) -> usize {
        self.value_len
    }

    fn check(&self, what: &'static str, got: usize, expected: usize) -> Result<(), Error> {
        if got == expected {
            Ok(())
        } else {
            Err(Error::Size {
                map: self.spec.name.clone(),
                what,
                got,
                expected,
            })
        }
    }

    /// Runs a map element command. The kernel reads `key_size` bytes at
    /// `key` and reads or writes `value_len` bytes (`key_size` for
    /// `GET_NEXT_KEY`) at `value`; shorter buffers are refused here so the
    /// call can never touch memory outside them. Callers check lengths
    /// first to report them as [`Error::Size`].
    fn elem(&self, op: u32, key: Option<&[u8]>, value: Buf<'_>, flags: u64) -> io::Result<()> {
        let key_len = self.spec.key_size as usize;
        let value_len = if op == sys::cmd::MAP_GET_NEXT_KEY {
            key_len
        } else {
            self.value_len
        };
        let short = |len: usize, need: usize| len < need;
        let bad = key.is_some_and(|k| short(k.len(), key_len))
            || match &value {
                Buf::None => false,
                // Only an update reads the value; the others write it.
                Buf::In(v) => op != sys::cmd::MAP_UPDATE_ELEM || short(v.len(), value_len),
                Buf::Out(v) => short(v.len(), value_len),
            };
        if bad {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let mut attr = sys::MapElemAttr {
            map_fd: self.fd.as_raw_fd() as u32,
            key: key.map_or(0, |k| sys::ptr(k.as_ptr())),
            value: match value {
                Buf::None => 0,
                Buf::In(v) => sys::ptr(v.as_ptr()),
                Buf::Out(v) => sys::ptr(v.as_mut_ptr()),
            },
            flags,
            ..Default::default()
        };
        // SAFETY: `key` and `value` point at live buffers (borrowed for the
        // whole call) at least as long as what the kernel reads or writes,
        // checked above; `Buf::Out` is exclusively borrowed, so the kernel's
        // writes alias nothing. Null pointers are only passed where the
        // command takes none (delete's value, the first next_key's key).
        unsafe { sys::bpf(op, &mut attr) }.map(|_| ())
    }

    /// Inserts or replaces `key` (see [`update_flags`]).
    pub fn update(&self, key: &[u8], value: &[u8], flags: u64) -> Result<(), Error> {
        self.check("key", key.len(), self.spec.key_size as usize)?;
        self.check("value", value.len(), self.value_len)?;
        self.elem(sys::cmd::MAP_UPDATE_ELEM, Some(key), Buf::In(value), flags)
            .map_err(|source| Error::Sys {
                op: "BPF_MAP_UPDATE_ELEM",
                source,
            })
    }

    /// The value of `key` (all CPUs' values concatenated for per-CPU maps), if present.
    pub fn lookup(&self, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        self.lookup_flags(key, 0)
    }

    /// [`Map::lookup`] with flags (e.g. [`update_flags::F_LOCK`]).
    pub fn lookup_flags(&self, key: &[u8], flags: u64) -> Result<Option<Vec<u8>>, Error> {
        self.check("key", key.len(), self.spec.key_size as usize)?;
        let mut value = vec![0u8; self.value_len];
        match self.elem(
            sys::cmd::MAP_LOOKUP_ELEM,
            Some(key),
            Buf::Out(&mut value),
            flags,
        ) {
            Ok(()) => Ok(Some(value)),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
            Err(source) => Err(Error::Sys {
                op: "BPF_MAP_LOOKUP_ELEM",
                source,
            }),
        }
    }

    /// For per-CPU maps: one value (of `value_size` bytes) per possible CPU.
    pub fn lookup_percpu(&self, key: &[u8]) -> Result<Option<Vec<Vec<u8>>>, Error> {
        let stride = (self.spec.value_size as usize).div_ceil(8) * 8;
        Ok(self.lookup(key)?.map(|all| {
            all.chunks(stride.max(1))
                .map(|c| c[..c.len().min(self.spec.value_size as usize)].to_vec())
                .collect()
        }))
    }

    /// Deletes `key`; `false` if it was absent.
    pub fn delete(&self, key: &[u8]) -> Result<bool, Error> {
        self.check("key", key.len(), self.spec.key_size as usize)?;
        match self.elem(sys::cmd::MAP_DELETE_ELEM, Some(key), Buf::None, 0) {
            Ok(()) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
            Err(source) => Err(Error::Sys {
                op: "BPF_MAP_DELETE_ELEM",
                source,
            }),
        }
    }

    /// The key after `key` (the first key for `None`), or `None` at the end.
    pub fn next_key(&self, key: Option<&[u8]>) -> Result<Option<Vec<u8>>, Error> {
        if let Some(k) = key {
            self.check("key", k.len(), self.spec.key_size as usize)?;
        }
        let mut next = vec![0u8; self.spec.key_size as usize];
        match self.elem(sys::cmd::MAP_GET_NEXT_KEY, key, Buf::Out(&mut next), 0) {
            Ok(()) => Ok(Some(next)),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
            Err(source) => Err(Error::Sys {
                op: "BPF_MAP_GET_NEXT_KEY",
                source,
            }),
        }
    }

    /// All keys, by walking [`Map::next_key`] (bounded by `max_entries`).
    pub fn keys(&self) -> Result<Vec<Vec<u8>>, Error> {
        let mut out: Vec<Vec<u8>> = Vec::new();
        let mut cur = self.next_key(None)?;
        while let Some(k) = cur {
            if out.len() > self.spec.max_entries as usize {
                // A concurrent writer can make the walk restart; stop rather than loop.
                break;
            }
            cur = self.next_key(Some(&k))?;
            out.push(k);
        }
        Ok(out)
    }
}

/// The outcome of one `BPF_PROG_TEST_RUN`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestRun {
    /// The program's return value (e.g. `XDP_DROP` = 1, `XDP_PASS` = 2).
    pub retval: u32,
    /// Mean run time per repetition, in nanoseconds.
    pub duration_ns: u32,
    /// The packet after the run.
    pub data_out: Vec<u8>,
}

/// Everything `BPF_PROG_LOAD` is given.
#[derive(Clone, Copy)]
struct LoadRequest<'a> {
    name: &'a str,
    section: &'a str,
    prog_type: u32,
    /// Relocated instructions, 8 bytes each.
    insns: &'a [u8],
    license: &'a str,
    /// The object's BTF, for func_info and line_info.
    btf: Option<BorrowedFd<'a>>,
    func_info: &'a [(u32, u32)],
    line_info: &'a [[u32; 4]],
}

/// Whether `len` bytes are a whole number of 8-byte instruction slots.
pub(crate) fn whole_insns(len: usize) -> bool {
    len & 7 == 0
}

/// A loaded program.
#[derive(Debug)]
pub struct Program {
    name: String,
    section: String,
    prog_type: u32,
    fd: OwnedFd,
    insn_count: usize,
    verified_insns: Option<u64>,
}

/// `log_level` that asks only for the verifier's statistics line.
const LOG_STATS: u32 = 4;

/// N of the verifier's "processed N insns" line.
fn processed(log: &str) -> Option<u64> {
    let rest = &log[log.find("processed ")? + "processed ".len()..];
    rest.split_whitespace().next()?.parse().ok()
}

impl Program {
    /// Loads already-relocated instructions (8 bytes each) as `prog_type`.
    pub fn load_insns(
        name: &str,
        section: &str,
        prog_type: u32,
        insns: &[u8],
        license: &str,
    ) -> Result<Program, Error> {
        Program::load_request(&LoadRequest {
            name,
            section,
            prog_type,
            insns,
            license,
            btf: None,
            func_info: &[],
            line_info: &[],
        })
    }

    fn load_request(req: &LoadRequest<'_>) -> Result<Program, Error> {
        let LoadRequest {
            name,
            section,
            prog_type,
            insns,
            license,
            btf,
            func_info,
            line_info,
        } = *req;
        let refuse = |source: io::Error, log: String| Error::Verifier {
            name: name.to_string(),
            source,
            log,
        };
        if insns.is_empty() || !whole_insns(insns.len()) {
            return Err(Error::Object(format!(
                "program `{name}`: {} bytes is not a whole number of instructions",
                insns.len()
            )));
        }
        let insn_cnt =
            u32::try_from(insns.len() / 8).map_err(|_| Error::Object("program too long".into()))?;
        let mut lic = license.as_bytes().to_vec();
        lic.push(0);
        let fi: Vec<u32> = func_info.iter().flat_map(|&(off, id)| [off, id]).collect();
        let li: Vec<u32> = line_info.iter().flatten().copied().collect();
        let attr_for = |log: &mut [u8], level: u32| {
            let mut a = sys::ProgLoadAttr {
                prog_type,
                insn_cnt,
                insns: sys::ptr(insns.as_ptr()),
                license: sys::ptr(lic.as_ptr()),
                prog_name: sys::obj_name(name),
                ..Default::default()
            };
            if level > 0 {
                a.log_level = level;
                a.log_size = log.len() as u32;
                a.log_buf = sys::ptr(log.as_mut_ptr());
            }
            if let (Some(btf), false) = (btf, fi.is_empty()) {
                a.prog_btf_fd = btf.as_raw_fd() as u32;
                a.func_info_rec_size = 8;
                a.func_info = sys::ptr(fi.as_ptr());
                a.func_info_cnt = func_info.len() as u32;
                // Line info is only meaningful (and only accepted) with func_info.
                if !li.is_empty() {
                    a.line_info_rec_size = 16;
                    a.line_info = sys::ptr(li.as_ptr());
                    a.line_info_cnt = line_info.len() as u32;
                }
            }
            a
        };
        let loaded = |fd: i64, log: &[u8]| -> Result<Program, Error> {
            Ok(Program {
                name: name.to_string(),
                section: section.to_string(),
                prog_type,
                fd: sys::owned_fd(fd).map_err(|e| refuse(e, String::new()))?,
                insn_count: insns.len() / 8,
                verified_insns: processed(&log_text(log)),
            })
        };
        // First with only the statistics line (the fast path), retrying
        // EAGAIN as libbpf does.
        let mut first = None;
        for _ in 0..5 {
            let mut stats = vec![0u8; 1024];
            let mut attr = attr_for(&mut stats, LOG_STATS);
            // SAFETY: `insns` (insn_cnt * 8 bytes), `lic` (NUL-terminated), `fi`
            // (func_info_cnt records of 8 bytes) and `li` (line_info_cnt records
            // of 16 bytes) outlive the call; `log_buf` points at `stats`,
            // writable for `log_size` bytes.
            match unsafe { sys::bpf(sys::cmd::PROG_LOAD, &mut attr) } {
                Ok(fd) => return loaded(fd, &stats),
                Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => first = Some(e),
                Err(e) => {
                    first = Some(e);
                    break;
                }
            }
        }
        let first = first.unwrap_or_else(|| io::Error::from_raw_os_error(libc::EAGAIN));
        // Refused: load again with a verifier log, growing it while it overflows.
        let mut size = LOG_START;
        loop {
            let mut log = vec![0u8; size];
            let mut attr = attr_for(&mut log, 1);
            // SAFETY: as above, plus `log_buf` points at `log`, writable for
            // `log_size` bytes, alive for the call.
            match unsafe { sys::bpf(sys::cmd::PROG_LOAD, &mut attr) } {
                // Accepted with a log (a transient refusal before): keep it.
                Ok(fd) => return loaded(fd, &log),
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) && size < LOG_MAX => size *= 4,
                Err(_) => return Err(refuse(first, log_text(&log))),
            }
        }
    }

    /// The program's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Instructions the verifier processed ("processed N insns"), if it said.
    pub fn verified_insns(&self) -> Option<u64> {
        self.verified_insns
    }

    /// Its ELF section.
    pub fn section(&self) -> &str {
        &self.section
    }

    /// `BPF_PROG_TYPE_*`.
    pub fn prog_type(&self) -> u32 {
        self.prog_type
    }

    /// Number of instruction slots loaded.
    pub fn insn_count(&self) -> usize {
        self.insn_count
    }

    /// Its file descriptor.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Runs the program `repeat` times (at least once) on a copy of `data`
    /// with `BPF_PROG_TEST_RUN`. Map changes persist across repetitions.
    pub fn test_run(&self, data: &[u8], repeat: u32) -> Result<TestRun, Error> {
        let sys_err = |source| Error::Sys {
            op: "BPF_PROG_TEST_RUN",
            source,
        };
        let size_in = u32::try_from(data.len())
            .map_err(|_| sys_err(io::Error::from_raw_os_error(libc::E2BIG)))?;
        // Room for programs that grow the packet (adjust_head/tail).
        let mut out = vec![0u8; data.len() + 4096];
        let mut attr = sys::TestRunAttr {
            prog_fd: self.fd.as_raw_fd() as u32,
            data_size_in: size_in,
            data_size_out: out.len() as u32,
            data_in: sys::ptr(data.as_ptr()),
            data_out: sys::ptr(out.as_mut_ptr()),
            repeat: repeat.max(1),
            ..Default::default()
        };
        // SAFETY: `data_in` points at `data` (data_size_in bytes) and
        // `data_out` at `out` (data_size_out bytes, writable), both alive
        // for the call; no context buffers.
        unsafe { sys::bpf(sys::cmd::PROG_TEST_RUN, &mut attr) }.map_err(sys_err)?;
        out.truncate((attr.data_size_out as usize).min(out.len()));
        Ok(TestRun {
            retval: attr.retval,
            duration_ns: attr.duration,
            data_out: out,
        })
    }
}

/// A loaded object: its BTF, maps and programs.
#[derive(Debug)]
pub struct Object {
    maps: Vec<Map>,
    programs: Vec<Program>,
    license: String,
    // Kept open so the maps' and programs' BTF stays referenced by id; closed last.
    _btf: Option<OwnedFd>,
}

impl Object {
    /// Parses and loads an ELF object from memory.
    pub fn load(elf: &[u8]) -> Result<Object, Error> {
        Object::load_spec(&parse_object(elf)?)
    }

    /// Reads and loads an ELF object file.
    pub fn load_file(path: impl AsRef<Path>) -> Result<Object, Error> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        Object::load(&bytes)
    }

    /// Loads a parsed object.
    pub fn load_spec(spec: &ObjectSpec) -> Result<Object, Error> {
        // A BTF without types is refused by the kernel and describes nothing: skip it.
        let btf = match &spec.btf {
            Some(blob) if blob.get(12..16).is_some_and(|l| l != [0, 0, 0, 0]) => {
                Some(load_btf(blob)?)
            }
            _ => None,
        };
        let btf_fd = btf.as_ref().map(|f| f.as_fd());
        let mut maps = Vec::with_capacity(spec.maps.len());
        for m in &spec.maps {
            maps.push(Map::create_with_btf(m, btf_fd)?);
        }
        let mut programs = Vec::with_capacity(spec.programs.len());
        for p in &spec.programs {
            let mut insns = p.insns.clone();
            for &(slot, map) in &p.map_relocs {
                let fd = maps
                    .get(map)
                    .ok_or_else(|| {
                        Error::Object(format!("relocation to map #{map}, out of range"))
                    })?
                    .fd
                    .as_raw_fd();
                let at = slot * 8;
                let slot_bytes = insns.get_mut(at..at + 16).ok_or_else(|| {
                    Error::Object(format!("relocation at slot {slot} past the end"))
                })?;
                // Keep dst_reg, set src_reg = BPF_PSEUDO_MAP_FD, imm = fd; the
                // second slot's imm (offset into a map value) stays 0.
                slot_bytes[1] = (PSEUDO_MAP_FD << 4) | (slot_bytes[1] & 0x0f);
                slot_bytes[4..8].copy_from_slice(&fd.to_le_bytes());
                slot_bytes[12..16].copy_from_slice(&0i32.to_le_bytes());
            }
            programs.push(Program::load_request(&LoadRequest {
                name: &p.name,
                section: &p.section,
                prog_type: p.prog_type,
                insns: &insns,
                license: &spec.license,
                btf: btf_fd,
                func_info: &p.func_info,
                line_info: &p.line_info,
            })?);
        }
        Ok(Object {
            maps,
            programs,
            license: spec.license.clone(),
            _btf: btf,
        })
    }

    /// The map called `name`.
    pub fn map(&self, name: &str) -> Option<&Map> {
        self.maps.iter().find(|m| m.name() == name)
    }

    /// The program called `name`.
    pub fn program(&self, name: &str) -> Option<&Program> {
        self.programs.iter().find(|p| p.name() == name)
    }

    /// All maps, in object order.
    pub fn maps(&self) -> &[Map] {
        &self.maps
    }

    /// All programs, in object order.
    pub fn programs(&self) -> &[Program] {
        &self.programs
    }

    /// The object's license.
    pub fn license(&self) -> &str {
        &self.license
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-3"), Some(4));
        assert_eq!(parse_cpu_list("0"), Some(1));
        assert_eq!(parse_cpu_list("0,2-5"), Some(5));
        assert_eq!(parse_cpu_list(""), None);
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("x"), None);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bytes in [&b""[..], b"\x7fELF", &[0u8; 64][..], &[0xffu8; 200][..]] {
            assert!(matches!(parse_object(bytes), Err(Error::Object(_))));
        }
    }
}
