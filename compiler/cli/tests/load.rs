//! `dpuc load` / `dpuc unload` on a real veth pair: the program is attached,
//! frames sent into the interface are counted in the pinned maps, and
//! unloading detaches it. Needs root and `ip`; says "skipped" otherwise.

use dpuc_runtime::ebpf::Map;
use std::path::{Path, PathBuf};
use std::process::Command;

fn dpuc(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dpuc"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run dpuc: {e}"))
}

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// A veth pair, deleted on drop.
struct Veth(String);

impl Drop for Veth {
    fn drop(&mut self) {
        ip(&["link", "del", &self.0]);
    }
}

/// Sends `frame` out of interface `ifindex` through an AF_PACKET socket.
fn send(ifindex: u32, frame: &[u8]) {
    // SAFETY: plain socket creation; the fd is closed below.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) };
    assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
    // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_ifindex = ifindex as i32;
    addr.sll_halen = 6;
    // SAFETY: `frame` and `addr` are live for the call and their lengths are passed.
    let n = unsafe {
        libc::sendto(
            fd,
            frame.as_ptr().cast(),
            frame.len(),
            0,
            (&addr as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    // SAFETY: `fd` is the socket opened above, closed once.
    unsafe { libc::close(fd) };
    assert_eq!(
        n,
        frame.len() as isize,
        "sendto: {}",
        std::io::Error::last_os_error()
    );
}

fn counter(dir: &Path, map: &str, index: u32) -> (u64, u64) {
    let m = Map::open_pinned(&dir.join(map)).unwrap_or_else(|e| panic!("{e}"));
    let mut sum = (0, 0);
    for v in m
        .lookup_percpu(&index.to_le_bytes())
        .ok()
        .flatten()
        .unwrap_or_default()
    {
        let word = |at: usize| u64::from_le_bytes(v[at..at + 8].try_into().unwrap_or([0; 8]));
        sum.0 += word(0);
        sum.1 += word(8);
    }
    sum
}

#[test]
fn load_counts_real_frames_and_unload_detaches() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 || !ip(&["-V"]) {
        println!("skipped: needs root and ip");
        return;
    }
    let name = format!("dpl{}", std::process::id() % 100_000);
    let peer = format!("{name}p");
    if !ip(&["link", "add", &name, "type", "veth", "peer", "name", &peer]) {
        println!("skipped: cannot create a veth pair");
        return;
    }
    let _veth = Veth(name.clone());
    assert!(ip(&["link", "set", &name, "up"]) && ip(&["link", "set", &peer, "up"]));
    let dir = std::env::temp_dir().join(format!("dpuc-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let policy = dir.join("tap.dpl");
    std::fs::write(
        &policy,
        "counter seen;\npolicy p {\n    rule probe: udp.dport == 9999 => count seen, drop;\n    default accept;\n}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let pins = PathBuf::from("/sys/fs/bpf/dpuc-test");
    let p = pins.display().to_string();
    let policy = policy.display().to_string();
    let out = dpuc(&[
        "load",
        &policy,
        "--dev",
        &name,
        "--hook",
        "xdp-generic",
        "--pin-dir",
        &p,
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let link = Command::new("ip")
        .args(["link", "show", &name])
        .output()
        .expect("ip");
    assert!(String::from_utf8_lossy(&link.stdout).contains("prog/xdp"));

    // Frames sent out of the peer arrive on `name`, where the program runs.
    let frame = dpuc_runtime::trace::frame(0x0a00_0001, 0x0a00_0002, 1234, 9999, 17);
    let peer_index = dpuc_runtime::ebpf::ifindex(&peer).unwrap_or_else(|e| panic!("{e}"));
    for _ in 0..3 {
        send(peer_index, &frame);
    }
    let pinned = pins.join(&name);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while counter(&pinned, "dpuc_counters", 0).0 < 3 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(
        counter(&pinned, "dpuc_counters", 0),
        (3, 3 * frame.len() as u64)
    );
    assert_eq!(counter(&pinned, "dpuc_hits", 0).0, 3);

    let again = dpuc(&["load", &policy, "--dev", &name, "--pin-dir", &p]);
    assert_eq!(again.status.code(), Some(1));
    let out = dpuc(&["unload", "--dev", &name, "--pin-dir", &p]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!pinned.exists());
    // The kernel frees a link whose last reference is gone after an RCU
    // grace period, so the detach can show up a moment after `unload`.
    let attached = || {
        let link = Command::new("ip")
            .args(["link", "show", &name])
            .output()
            .expect("ip");
        String::from_utf8_lossy(&link.stdout).contains("prog/xdp")
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while attached() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        !attached(),
        "the XDP program is still attached after unload"
    );
    let _ = std::fs::remove_dir(&pins);
    assert_eq!(
        dpuc(&["unload", "--dev", &name, "--pin-dir", &p])
            .status
            .code(),
        Some(1)
    );
}
