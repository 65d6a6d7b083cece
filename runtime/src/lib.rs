//! `dpuc-runtime`: what a controller embeds to run DPL policies — packet
//! parsing, connection tracking, meters, counters and execution.
//!
//! The crate is the home of those parts; they arrive with the software
//! pipeline (see the book's roadmap). Today the compiler's output for the
//! runtime is the IR (`dpuc-ir`), written by `dpuc build --target sw`.
