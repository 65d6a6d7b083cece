//! Attaching programs to interfaces through BPF links (XDP, and TC through
//! tcx), and pinning links and maps in bpffs so they outlive the process.

use super::{sys, Error, Map, MapSpec, Program};
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

/// Where a program is attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachPoint {
    /// XDP; the driver's native mode when it has one, else generic.
    Xdp,
    /// XDP in generic (skb) mode.
    XdpGeneric,
    /// TC ingress (tcx, kernel 6.6 and later).
    TcIngress,
}

impl AttachPoint {
    fn attach_type(self) -> u32 {
        match self {
            // BPF_XDP
            AttachPoint::Xdp | AttachPoint::XdpGeneric => 37,
            // BPF_TCX_INGRESS
            AttachPoint::TcIngress => 46,
        }
    }

    fn flags(self) -> u32 {
        match self {
            // XDP_FLAGS_SKB_MODE
            AttachPoint::XdpGeneric => 1 << 1,
            AttachPoint::Xdp | AttachPoint::TcIngress => 0,
        }
    }
}

/// An attachment: detached when the last descriptor or pin goes away.
#[derive(Debug)]
pub struct Link {
    fd: OwnedFd,
}

/// The index of the interface called `name`.
pub fn ifindex(name: &str) -> Result<u32, Error> {
    let c =
        CString::new(name).map_err(|_| Error::Object(format!("bad interface name {name:?}")))?;
    // SAFETY: `c` is a valid NUL-terminated string alive for the call.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if i == 0 {
        return Err(Error::Object(format!("no interface `{name}`")));
    }
    Ok(i)
}

impl Program {
    /// Attaches the program to interface `ifindex` at `at`.
    pub fn attach(&self, ifindex: u32, at: AttachPoint) -> Result<Link, Error> {
        let mut attr = sys::LinkCreateAttr {
            prog_fd: self.fd().as_raw_fd() as u32,
            target_ifindex: ifindex,
            attach_type: at.attach_type(),
            flags: at.flags(),
            ..Default::default()
        };
        // SAFETY: the attribute holds no pointers.
        let fd = unsafe { sys::bpf(sys::cmd::LINK_CREATE, &mut attr) }
            .and_then(sys::owned_fd)
            .map_err(|source| Error::Sys {
                op: "BPF_LINK_CREATE",
                source,
            })?;
        Ok(Link { fd })
    }
}

fn pin(fd: i32, path: &Path) -> Result<(), Error> {
    let c = CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| Error::Object(format!("bad pin path {}", path.display())))?;
    let mut attr = sys::ObjPinAttr {
        pathname: sys::ptr(c.as_ptr()),
        bpf_fd: fd as u32,
        ..Default::default()
    };
    // SAFETY: `pathname` points at `c`, NUL-terminated and alive for the call.
    unsafe { sys::bpf(sys::cmd::OBJ_PIN, &mut attr) }
        .map(|_| ())
        .map_err(|source| Error::Sys {
            op: "BPF_OBJ_PIN",
            source,
        })
}

impl Link {
    /// Pins the link at `path` (in a bpffs): it stays attached after this
    /// process exits, until the pin is removed.
    pub fn pin(&self, path: &Path) -> Result<(), Error> {
        pin(self.fd.as_raw_fd(), path)
    }
}

impl Map {
    /// Pins the map at `path` (in a bpffs), for controllers and `bpftool`.
    pub fn pin(&self, path: &Path) -> Result<(), Error> {
        pin(self.fd().as_raw_fd(), path)
    }

    /// Opens a pinned map (e.g. `/sys/fs/bpf/dpuc/eth0/dpuc_counters`
    /// after `dpuc load`), to read counters or update sets.
    pub fn open_pinned(path: &Path) -> Result<Map, Error> {
        let c = CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| Error::Object(format!("bad pin path {}", path.display())))?;
        let mut attr = sys::ObjPinAttr {
            pathname: sys::ptr(c.as_ptr()),
            ..Default::default()
        };
        let sys_err = |op| move |source| Error::Sys { op, source };
        // SAFETY: `pathname` points at `c`, NUL-terminated and alive for the call.
        let fd = unsafe { sys::bpf(sys::cmd::OBJ_GET, &mut attr) }
            .and_then(sys::owned_fd)
            .map_err(sys_err("BPF_OBJ_GET"))?;
        let mut info = sys::MapInfo::default();
        let mut attr = sys::InfoAttr {
            bpf_fd: fd.as_raw_fd() as u32,
            info_len: std::mem::size_of::<sys::MapInfo>() as u32,
            info: sys::ptr(&mut info as *mut sys::MapInfo),
        };
        // SAFETY: `info` points at a live, exclusively borrowed MapInfo of
        // `info_len` bytes, which the kernel fills (and never exceeds).
        unsafe { sys::bpf(sys::cmd::OBJ_GET_INFO_BY_FD, &mut attr) }
            .map_err(sys_err("BPF_OBJ_GET_INFO_BY_FD"))?;
        let name_len = info
            .name
            .iter()
            .position(|b| *b == 0)
            .unwrap_or(info.name.len());
        let name = String::from_utf8_lossy(&info.name[..name_len]).into_owned();
        let spec = MapSpec::new(
            name,
            info.map_type,
            info.key_size,
            info.value_size,
            info.max_entries,
        );
        Map::from_fd(spec, fd)
    }
}
