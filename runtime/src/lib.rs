//! `dpuc-runtime`: what a controller embeds to run DPL policies — packet
//! parsing, connection tracking, meters, counters and execution.

pub mod conntrack;
pub mod counters;
pub mod craft;
#[cfg(all(target_os = "linux", feature = "ebpf"))]
pub mod ebpf;
pub mod meter;
pub mod packet;
pub mod pcap;
