//! The checked program: names resolved, values typed.

/// A checked program.
#[derive(Clone, Debug, Default)]
pub struct Program {}
