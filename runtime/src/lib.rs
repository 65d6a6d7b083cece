//! `dpuc-runtime`: what a controller embeds to run DPL policies — packet
//! parsing, connection tracking, meters, counters and execution.
//!
//! Today: zero-copy packet parsing ([`packet`]), the exact test-frame
//! builder of §8 ([`craft`]), the meters of §6 ([`meter`]) and the
//! connection tracker of §5 ([`conntrack`]). The interpreter of the IR comes
//! next (see the book's roadmap).

pub mod conntrack;
pub mod craft;
pub mod meter;
pub mod packet;
