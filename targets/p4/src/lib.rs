//! `dpuc-p4`: P4 backends of dpuc.
//!
//! [`pna`] lowers a validated IR program to P4_16 for the Portable NIC
//! Architecture (the AMD Pensando path) with a matching P4Info and
//! P4Runtime entries. [`bluefield`] is the NVIDIA DOCA Pipeline Language
//! backend. Both check the program against a target [`Profile`].

pub mod bluefield;
mod headers;
pub mod lint;
pub mod pna;
mod profile;
mod runtime;

pub use profile::{Capacity, Profile};

/// An error's text without its `target NAME: ` prefix (a diagnostic names
/// the target itself).
fn without_target(text: &str) -> &str {
    text.split_once(": ")
        .filter(|(head, _)| head.starts_with("target "))
        .map_or(text, |(_, rest)| rest)
}

/// What a P4 backend produces.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Artifact {
    /// The P4_16 program.
    pub p4: String,
    /// The P4Runtime P4Info, protobuf text format.
    pub p4info: String,
    /// P4Runtime `WriteRequest` updates, protobuf JSON; ids match `p4info`.
    pub entries: String,
    /// Human-readable report: tables, capacities, emulations, refusals.
    pub report: String,
}

/// P4_16 reserved words (keywords of the P4_16 spec v1.2.x plus the
/// architecture-independent names that p4c rejects as identifiers).
pub const P4_KEYWORDS: &[&str] = &[
    "abstract",
    "action",
    "actions",
    "apply",
    "bool",
    "bit",
    "break",
    "const",
    "continue",
    "control",
    "default",
    "else",
    "entries",
    "enum",
    "error",
    "exit",
    "extern",
    "false",
    "for",
    "header",
    "header_union",
    "if",
    "in",
    "inout",
    "int",
    "key",
    "list",
    "match_kind",
    "out",
    "package",
    "parser",
    "priority",
    "return",
    "select",
    "state",
    "string",
    "struct",
    "switch",
    "table",
    "this",
    "transition",
    "true",
    "tuple",
    "type",
    "typedef",
    "varbit",
    "valueset",
    "void",
    "_",
];

/// Whether `s` is a legal, non-reserved P4 identifier.
pub fn is_legal_ident(s: &str) -> bool {
    let mut chars = s.chars();
    let first_ok = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_');
    first_ok
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !P4_KEYWORDS.contains(&s)
}

/// Turns any IR name into identifier characters (IR names are already
/// identifiers, but a backend must not trust that for its own output).
pub(crate) fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
