//! `dpuc-core`: the pure DPL compiler core.
//!
//! No files, no printing, no exit: the driver hands sources in and gets
//! data back (syntax trees, diagnostics, formatted text), so tests, the book
//! and embedders call it in memory.

pub mod ast;
pub mod check;
pub mod diag;
pub mod fmt;
pub mod import;
pub mod lower;
pub mod span;
pub mod stdlib;
pub mod syntax;

/// Supplies the text of files named in `use "path"` items.
///
/// The driver implements it over the file system; tests implement it over a
/// map. The core never touches the file system itself.
pub trait Loader {
    /// Resolves `path`, as written in a `use` inside the file named
    /// `importer`, and returns the file's canonical name (used for cycle
    /// detection and in diagnostics) and its text, or a message saying why
    /// it cannot be read.
    fn load(&mut self, importer: &str, path: &str) -> Result<(String, String), String>;
}
