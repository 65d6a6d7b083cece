//! The examples (the spec's and the book's language tour) and the standard
//! library check without a single diagnostic.

use dpuc_core::diag::render;
use dpuc_tests::{check_file, files_with_ext, repo_root};

/// Checks every `.dpl` under `dir` (at least `min` of them) and returns how
/// many produced a program.
fn all_clean(dir: &str, min: usize) -> usize {
    let files = files_with_ext(&repo_root().join(dir), ".dpl");
    assert!(
        files.len() >= min,
        "files are missing under {dir}: {files:?}"
    );
    let mut programs = 0;
    for path in files {
        let (sources, checked) = check_file(&path, &path.display().to_string());
        assert!(
            checked.diagnostics.is_empty(),
            "{}",
            render::human(&sources, &checked.diagnostics)
        );
        programs += usize::from(checked.program.is_some());
    }
    programs
}

#[test]
fn examples_check_clean() {
    assert_eq!(all_clean("examples", 8), 8);
}

#[test]
fn stdlib_checks_clean() {
    all_clean("stdlib", 2);
}
