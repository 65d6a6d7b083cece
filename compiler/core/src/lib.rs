//! `dpuc-core`: the pure DPL compiler core.
//!
//! No files, no printing, no exit: the driver hands sources in and gets
//! data back (syntax trees, diagnostics, formatted text), so tests, the book
//! and embedders call it in memory.

pub mod ast;
pub mod diag;
pub mod span;
