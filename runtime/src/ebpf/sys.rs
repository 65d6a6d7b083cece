//! The raw `bpf()` system call and the parts of `union bpf_attr` it needs.
//!
//! Each command gets its own `#[repr(C)]` struct laid out as the kernel's
//! union member (offsets checked at compile time against the uapi headers
//! of kernel 6.18, see `attr_offsets.txt` in the reference folder). The
//! kernel accepts a shorter attribute than its own and zero-fills the rest,
//! so each struct is passed with its own size.

use std::io;
use std::mem::{offset_of, size_of};
use std::os::fd::{FromRawFd, OwnedFd};

/// `enum bpf_cmd` values used here.
pub(crate) mod cmd {
    pub const MAP_CREATE: u32 = 0;
    pub const MAP_LOOKUP_ELEM: u32 = 1;
    pub const MAP_UPDATE_ELEM: u32 = 2;
    pub const MAP_DELETE_ELEM: u32 = 3;
    pub const MAP_GET_NEXT_KEY: u32 = 4;
    pub const PROG_LOAD: u32 = 5;
    pub const PROG_TEST_RUN: u32 = 10;
    pub const BTF_LOAD: u32 = 18;
    pub const OBJ_PIN: u32 = 6;
    pub const OBJ_GET: u32 = 7;
    pub const OBJ_GET_INFO_BY_FD: u32 = 15;
    pub const LINK_CREATE: u32 = 28;
}

/// `BPF_OBJ_NAME_LEN`: names are cut to 15 bytes plus NUL.
pub(crate) const OBJ_NAME_LEN: usize = 16;

/// `attr` of `BPF_MAP_CREATE`.
#[repr(C)]
#[derive(Default)]
pub(crate) struct MapCreateAttr {
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
    pub inner_map_fd: u32,
    pub numa_node: u32,
    pub map_name: [u8; OBJ_NAME_LEN],
    pub map_ifindex: u32,
    pub btf_fd: u32,
    pub btf_key_type_id: u32,
    pub btf_value_type_id: u32,
    pub btf_vmlinux_value_type_id: u32,
    pub map_extra: u64,
}

/// `attr` of `BPF_MAP_*_ELEM` and `BPF_MAP_GET_NEXT_KEY` (`value` is `next_key` for the latter).
#[repr(C)]
#[derive(Default)]
pub(crate) struct MapElemAttr {
    pub map_fd: u32,
    pub _pad: u32,
    pub key: u64,
    pub value: u64,
    pub flags: u64,
}

/// `attr` of `BPF_PROG_LOAD`, up to `log_true_size`.
#[repr(C)]
#[derive(Default)]
pub(crate) struct ProgLoadAttr {
    pub prog_type: u32,
    pub insn_cnt: u32,
    pub insns: u64,
    pub license: u64,
    pub log_level: u32,
    pub log_size: u32,
    pub log_buf: u64,
    pub kern_version: u32,
    pub prog_flags: u32,
    pub prog_name: [u8; OBJ_NAME_LEN],
    pub prog_ifindex: u32,
    pub expected_attach_type: u32,
    pub prog_btf_fd: u32,
    pub func_info_rec_size: u32,
    pub func_info: u64,
    pub func_info_cnt: u32,
    pub line_info_rec_size: u32,
    pub line_info: u64,
    pub line_info_cnt: u32,
    pub attach_btf_id: u32,
    pub attach_prog_fd: u32,
    pub core_relo_cnt: u32,
    pub fd_array: u64,
    pub core_relos: u64,
    pub core_relo_rec_size: u32,
    pub log_true_size: u32,
}

/// `attr.test` of `BPF_PROG_TEST_RUN`.
#[repr(C)]
#[derive(Default)]
pub(crate) struct TestRunAttr {
    pub prog_fd: u32,
    pub retval: u32,
    pub data_size_in: u32,
    pub data_size_out: u32,
    pub data_in: u64,
    pub data_out: u64,
    pub repeat: u32,
    pub duration: u32,
    pub ctx_size_in: u32,
    pub ctx_size_out: u32,
    pub ctx_in: u64,
    pub ctx_out: u64,
    pub flags: u32,
    pub cpu: u32,
    pub batch_size: u32,
    pub _pad: u32,
}

/// `attr` of `BPF_BTF_LOAD`, up to `btf_log_true_size`.
#[repr(C)]
#[derive(Default)]
pub(crate) struct BtfLoadAttr {
    pub btf: u64,
    pub btf_log_buf: u64,
    pub btf_size: u32,
    pub btf_log_size: u32,
    pub btf_log_level: u32,
    pub btf_log_true_size: u32,
}

/// `attr.link_create` of `BPF_LINK_CREATE`, with the tcx arm of its union.
#[repr(C)]
#[derive(Default)]
pub(crate) struct LinkCreateAttr {
    pub prog_fd: u32,
    pub target_ifindex: u32,
    pub attach_type: u32,
    pub flags: u32,
    pub relative_fd: u32,
    pub _pad: u32,
    pub expected_revision: u64,
}

/// `attr` of `BPF_OBJ_PIN`.
#[repr(C)]
#[derive(Default)]
pub(crate) struct ObjPinAttr {
    pub pathname: u64,
    pub bpf_fd: u32,
    pub file_flags: u32,
    pub path_fd: u32,
    pub _pad: u32,
}

/// `attr.info` of `BPF_OBJ_GET_INFO_BY_FD`.
#[repr(C)]
#[derive(Default)]
pub(crate) struct InfoAttr {
    pub bpf_fd: u32,
    pub info_len: u32,
    pub info: u64,
}

/// The head of `struct bpf_map_info`.
#[repr(C)]
#[derive(Default)]
pub(crate) struct MapInfo {
    pub map_type: u32,
    pub id: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
    pub name: [u8; OBJ_NAME_LEN],
}

// The layouts above, checked against the kernel's (attr_offsets.txt).
const _: () = {
    assert!(offset_of!(MapCreateAttr, map_name) == 28);
    assert!(offset_of!(MapCreateAttr, btf_fd) == 48);
    assert!(offset_of!(MapCreateAttr, btf_value_type_id) == 56);
    assert!(offset_of!(MapCreateAttr, map_extra) == 64);
    assert!(size_of::<MapCreateAttr>() == 72);
    assert!(offset_of!(MapElemAttr, key) == 8);
    assert!(offset_of!(MapElemAttr, value) == 16);
    assert!(offset_of!(MapElemAttr, flags) == 24);
    assert!(offset_of!(ProgLoadAttr, log_buf) == 32);
    assert!(offset_of!(ProgLoadAttr, prog_name) == 48);
    assert!(offset_of!(ProgLoadAttr, expected_attach_type) == 68);
    assert!(offset_of!(ProgLoadAttr, prog_btf_fd) == 72);
    assert!(offset_of!(ProgLoadAttr, func_info) == 80);
    assert!(offset_of!(ProgLoadAttr, line_info) == 96);
    assert!(offset_of!(ProgLoadAttr, fd_array) == 120);
    assert!(offset_of!(ProgLoadAttr, core_relo_rec_size) == 136);
    assert!(size_of::<ProgLoadAttr>() == 144);
    assert!(offset_of!(TestRunAttr, data_in) == 16);
    assert!(offset_of!(TestRunAttr, repeat) == 32);
    assert!(offset_of!(TestRunAttr, duration) == 36);
    assert!(offset_of!(TestRunAttr, ctx_in) == 48);
    assert!(offset_of!(TestRunAttr, flags) == 64);
    assert!(offset_of!(TestRunAttr, batch_size) == 72);
    assert!(offset_of!(BtfLoadAttr, btf_size) == 16);
    assert!(offset_of!(BtfLoadAttr, btf_log_level) == 24);
    assert!(offset_of!(LinkCreateAttr, attach_type) == 8);
    assert!(offset_of!(LinkCreateAttr, expected_revision) == 24);
    assert!(offset_of!(ObjPinAttr, bpf_fd) == 8);
    assert!(offset_of!(ObjPinAttr, path_fd) == 16);
};

/// Marker for the attribute structs: plain `#[repr(C)]` data of integers,
/// valid for any bit pattern, so the kernel may write into them.
///
/// # Safety
/// Implementors must be `#[repr(C)]` structs of integer fields only.
pub(crate) unsafe trait Attr {}
// SAFETY: all eight are #[repr(C)] structs of u32/u64/[u8; N] fields only.
unsafe impl Attr for MapCreateAttr {}
// SAFETY: as above.
unsafe impl Attr for MapElemAttr {}
// SAFETY: as above.
unsafe impl Attr for ProgLoadAttr {}
// SAFETY: as above.
unsafe impl Attr for TestRunAttr {}
// SAFETY: as above.
unsafe impl Attr for BtfLoadAttr {}
// SAFETY: as above.
unsafe impl Attr for LinkCreateAttr {}
// SAFETY: as above.
unsafe impl Attr for ObjPinAttr {}
// SAFETY: as above.
unsafe impl Attr for InfoAttr {}

/// Calls `bpf(cmd, attr, sizeof attr)`, retrying on `EINTR`.
///
/// # Safety
/// Every pointer stored in `attr` (as a `u64`) must be valid for the reads
/// and writes the command performs, with the lengths given next to it in
/// `attr`, for the duration of the call.
pub(crate) unsafe fn bpf<A: Attr>(cmd: u32, attr: &mut A) -> io::Result<i64> {
    loop {
        // SAFETY: `attr` is a live, exclusively borrowed #[repr(C)] struct of
        // `size_of::<A>()` bytes (the kernel reads and may write exactly that
        // many); the pointers inside it are valid per this function's contract.
        let r = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                cmd as libc::c_long,
                attr as *mut A as *mut libc::c_void,
                size_of::<A>() as libc::c_long,
            )
        };
        if r >= 0 {
            return Ok(r as i64);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

/// Wraps a descriptor the kernel just returned.
pub(crate) fn owned_fd(raw: i64) -> io::Result<OwnedFd> {
    let fd =
        i32::try_from(raw).map_err(|_| io::Error::other("bpf() returned an out-of-range fd"))?;
    if fd < 0 {
        return Err(io::Error::other("bpf() returned a negative fd"));
    }
    // SAFETY: `fd` was just returned by a successful bpf() call that creates
    // a new descriptor; nothing else owns it, so the OwnedFd may close it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A pointer as the kernel's `__aligned_u64`.
pub(crate) fn ptr<T>(p: *const T) -> u64 {
    p as usize as u64
}

/// Copies `name` into a kernel object name: at most 15 bytes of
/// `[A-Za-z0-9_.]` (the kernel refuses anything else), NUL-terminated.
pub(crate) fn obj_name(name: &str) -> [u8; OBJ_NAME_LEN] {
    let mut out = [0u8; OBJ_NAME_LEN];
    let valid = name
        .bytes()
        .filter(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'.')
        .take(OBJ_NAME_LEN - 1);
    for (o, b) in out.iter_mut().zip(valid) {
        *o = b;
    }
    out
}
