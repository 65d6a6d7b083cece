//! `dpuc-runtime`: what a controller embeds to run DPL policies — packet
//! parsing, connection tracking, meters, counters and execution.
//!
//! Today: zero-copy packet parsing ([`packet`]) and the exact test-frame
//! builder of §8 ([`craft`]). Connection tracking, meters and the
//! interpreter of the IR come next (see the book's roadmap).

pub mod craft;
pub mod packet;
