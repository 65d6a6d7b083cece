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
];

/// The entry for `code`, if it exists.
pub fn lookup(code: &str) -> Option<&'static CodeInfo> {
    CODES.iter().find(|c| c.code == code)
}
