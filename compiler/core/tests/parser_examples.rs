//! Every shipped example parses with no diagnostics, and the §1 example
//! (`examples/web-tier.dpl`) has the structure the spec describes.

use std::path::{Path, PathBuf};

use dpuc_core::ast::Item;
use dpuc_core::span::FileId;
use dpuc_core::syntax::parse;

/// `examples/` at the workspace root, two levels above this crate.
fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// Every `.dpl` file under `dir`, recursively, sorted for stable output.
fn dpl_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            dpl_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "dpl") {
            out.push(path);
        }
    }
    out.sort();
}

#[test]
fn every_example_parses_cleanly() {
    let mut files = Vec::new();
    dpl_files(&examples_dir(), &mut files);
    assert!(!files.is_empty(), "no examples found");
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        let parsed = parse(FileId(0), &text);
        assert!(
            parsed.diagnostics.is_empty(),
            "{path:?}: {:?}",
            parsed.diagnostics
        );
        assert!(!parsed.module.items.is_empty(), "{path:?} has no items");
        // Item spans are in order and inside the text.
        let mut last = 0;
        for item in &parsed.module.items {
            let span = item.span();
            assert!(span.start >= last && span.end as usize <= text.len());
            last = span.end;
        }
    }
}

#[test]
fn the_spec_example_has_its_structure() {
    let path = examples_dir().join("web-tier.dpl");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let parsed = parse(FileId(0), &text);
    assert!(parsed.diagnostics.is_empty(), "{:?}", parsed.diagnostics);
    let items = &parsed.module.items;
    assert!(matches!(items.first(), Some(Item::Use(_))));
    let policies: Vec<&str> = items
        .iter()
        .filter_map(|i| match i {
            Item::Policy(p) => Some(p.name.name.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(policies, ["from_wire", "from_host"]);
    assert_eq!(
        items.iter().filter(|i| matches!(i, Item::Meter(_))).count(),
        2
    );
    assert!(items.iter().any(|i| matches!(i, Item::Conntrack(_))));
    assert!(items.iter().any(|i| matches!(i, Item::Pipeline(_))));
    let test = items.iter().find_map(|i| match i {
        Item::Test(t) => Some(t),
        _ => None,
    });
    assert!(test.is_some_and(|t| !t.stmts.is_empty()));
    for item in items {
        if let Item::Policy(p) = item {
            for rule in &p.rules {
                assert!(!rule.actions.is_empty(), "{}", rule.name.name);
                let s = &text[rule.span.start as usize..rule.span.end as usize];
                assert!(s.starts_with("rule ") && s.ends_with(';'), "{s:?}");
            }
        }
    }
}
