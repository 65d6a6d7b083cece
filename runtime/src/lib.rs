//! `dpuc-runtime`: what a controller embeds to run DPL policies — packet
//! parsing, connection tracking, meters, counters and execution.
//!
//! Today: zero-copy packet parsing ([`packet`]), the exact test-frame
//! builder of §8 ([`craft`]) and the meters of §6 ([`meter`]). Connection
//! tracking and the interpreter of the IR come next (see the book's roadmap).

pub mod craft;
pub mod meter;
pub mod packet;
