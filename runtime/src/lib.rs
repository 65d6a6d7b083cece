//! `dpuc-runtime`: what a controller embeds to run DPL policies — packet
//! parsing, connection tracking, meters, counters and execution.
//!
//! Today: zero-copy packet parsing ([`packet`]), the exact test-frame
//! builder of §8 ([`craft`]), the meters of §6 ([`meter`]) and the
//! connection tracker of §5 ([`conntrack`]), the interpreter that runs an
//! IR program on packets ([`exec`]), the inline-test runner ([`testing`]) and
//! packet captures ([`pcap`]).

pub mod conntrack;
pub mod craft;
pub mod doca;
/// The Linux eBPF loader (feature `ebpf`): objects, maps and test runs
/// through the bpf() syscall.
#[cfg(all(feature = "ebpf", target_os = "linux"))]
pub mod ebpf;
pub mod exec;
pub mod meter;
pub mod packet;
pub mod pcap;
pub mod testing;
pub mod trace;
