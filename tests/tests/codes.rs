//! Every diagnostic code has a book page, a SUMMARY entry and a test input.

use dpuc_core::diag::CODES;
use dpuc_tests::{files_with_ext, repo_root};

#[test]
fn every_code_has_a_book_page_listed_in_the_summary() {
    let root = repo_root();
    let summary = std::fs::read_to_string(root.join("book/src/SUMMARY.md")).unwrap_or_default();
    let mut missing = Vec::new();
    for c in CODES {
        let page = root.join(format!("book/src/diagnostics/{}.md", c.code));
        let text = std::fs::read_to_string(&page).unwrap_or_default();
        if !text.contains(c.code) {
            missing.push(format!("{}: no page at {}", c.code, page.display()));
        }
        if !summary.contains(&format!("diagnostics/{}.md", c.code)) {
            missing.push(format!("{}: not listed in book/src/SUMMARY.md", c.code));
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

#[test]
fn every_code_has_a_test_input() {
    let inputs = files_with_ext(&repo_root().join("tests/diagnostics"), ".dpl");
    let names: Vec<String> = inputs
        .iter()
        .filter_map(|p| p.file_name().and_then(|n| n.to_str()).map(String::from))
        .collect();
    let missing: Vec<&str> = CODES
        .iter()
        .map(|c| c.code)
        // Test-run codes (T…) come from `dpuc test`; the CLI tests raise them.
        .filter(|code| !code.starts_with('T'))
        // Only a compiler bug raises E0202; core's unit tests render it.
        .filter(|code| *code != "E0202")
        .filter(|code| !names.iter().any(|n| n.starts_with(&format!("{code}-"))))
        .collect();
    assert!(
        missing.is_empty(),
        "codes without tests/diagnostics input: {missing:?}"
    );
}

#[test]
fn codes_are_unique_and_sorted() {
    let codes: Vec<&str> = CODES.iter().map(|c| c.code).collect();
    let mut sorted = codes.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(codes, sorted);
}
