//! The registry of diagnostic codes. Every code a pass emits is listed here
//! with a title; the book has one page per code (a test enforces it).

/// A code and what it means.
#[derive(Clone, Copy, Debug)]
pub struct CodeInfo {
    /// `E0001`...
    pub code: &'static str,
    /// A short title (the book page's heading).
    pub title: &'static str,
}

const fn c(code: &'static str, title: &'static str) -> CodeInfo {
    CodeInfo { code, title }
}

/// Every code, sorted.
pub const CODES: &[CodeInfo] = &[
    // Syntax and literals (the parser).
    c("E0001", "syntax error"),
    c("E0002", "invalid literal"),
    c("E0003", "prefix has host bits set"),
    c("E0004", "range bounds inverted"),
    // Names, types and the rules of the language (the checker).
    c("E0010", "unknown name"),
    c("E0011", "unknown field"),
    c("E0012", "duplicate item"),
    c("E0013", "duplicate rule name"),
    c("E0014", "value out of range"),
    c("E0015", "type mismatch"),
    c("E0016", "bound policy without default"),
    c("E0017", "jumped-to policy with a default"),
    c("E0018", "jump cycle"),
    c("E0019", "action after a terminal action"),
    c("E0020", "two terminal actions"),
    c("E0021", "meter mixes packet and byte units"),
    c("E0022", "invalid meter"),
    c("E0023", "invalid use"),
    c("E0024", "use cycle"),
    c("E0025", "invalid colour arm"),
    c("E0026", "invalid pipeline"),
    c("E0027", "invalid conntrack settings"),
    c("E0028", "field cannot be rewritten"),
    c("E0029", "invalid test"),
    c("E0030", "comparison not allowed on this field"),
    // Lowering to the IR.
    c("E0100", "rule cannot be lowered"),
    // Backends (a target refuses the program).
    c("E0200", "target cannot express a construct"),
    c("E0201", "construct does not fit the target"),
    c("E0202", "target failed on a valid program"),
    // Test runs (`dpuc test`).
    c("T0001", "test expectation failed"),
    c("W0001", "rule can never match"),
    c("W0002", "unused item"),
    c("W0003", "port without a pipeline line"),
    c("W0004", "unreachable rule"),
    c("W0005", "duplicate port number"),
    c("W0006", "masked test can never hold"),
];

/// The entry for `code`, if it exists.
pub fn lookup(code: &str) -> Option<&'static CodeInfo> {
    CODES.iter().find(|c| c.code == code)
}
