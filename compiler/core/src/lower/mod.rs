//! Lowering of a checked program to the match-action IR and its tests.

pub mod build;
pub mod dnf;
mod report;

pub use report::report;

use crate::check::hir;
use crate::diag::Diagnostic;
use dpuc_ir::test::Suite;
use dpuc_ir::Program;

/// A lowered policy file: the program and its inline tests.
#[derive(Clone, Debug)]
pub struct Lowered {
    /// The match-action program, validated.
    pub program: Program,
    /// The file's tests.
    pub suite: Suite,
}

/// Lowers a checked program named `name` (the file stem).
pub fn lower(program: &hir::Program, name: &str) -> Result<Lowered, Vec<Diagnostic>> {
    let _ = (program, name);
    Err(Vec::new())
}
