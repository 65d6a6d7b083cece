//! Helpers shared by the formatter tests.

use dpuc_core::span::FileId;
use dpuc_core::syntax::parse;

/// The items' Debug form with every `Span { .. }` cut out, so that trees
/// parsed from differently laid-out text compare equal. The text must parse.
pub fn shape(text: &str) -> String {
    let p = parse(FileId(0), text);
    assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
    let dbg = format!("{:?}", p.module.items);
    let mut out = String::new();
    let mut rest = dbg.as_str();
    while let Some(i) = rest.find("Span {") {
        out.push_str(&rest[..i]);
        let j = rest[i..].find('}').map_or(rest.len() - i, |j| j + 1);
        rest = &rest[i + j..];
    }
    out.push_str(rest);
    out
}

/// Every comment's text, in order.
pub fn comments(text: &str) -> Vec<String> {
    parse(FileId(0), text)
        .module
        .comments
        .into_iter()
        .map(|c| c.text)
        .collect()
}
