//! Lowering of a checked program to the match-action IR.

pub mod build;
pub mod dnf;
