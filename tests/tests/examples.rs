//! The examples (the spec's and the book's language tour) and the standard
//! library check without a single diagnostic.

use dpuc_core::diag::render;
use dpuc_tests::{check_file, files_with_ext, repo_root};

#[test]
fn examples_check_clean() {
    let files = files_with_ext(&repo_root().join("examples"), ".dpl");
    assert!(files.len() >= 7, "examples are missing: {files:?}");
    for path in files {
        let (sources, checked) = check_file(&path, &path.display().to_string());
        assert!(
            checked.diagnostics.is_empty(),
            "{}",
            render::human(&sources, &checked.diagnostics)
        );
        assert!(
            checked.program.is_some(),
            "{} produced no program",
            path.display()
        );
    }
}

#[test]
fn stdlib_checks_clean() {
    let files = files_with_ext(&repo_root().join("stdlib"), ".dpl");
    assert!(files.len() >= 2, "stdlib files are missing: {files:?}");
    for path in files {
        let (sources, checked) = check_file(&path, &path.display().to_string());
        assert!(
            checked.diagnostics.is_empty(),
            "{}",
            render::human(&sources, &checked.diagnostics)
        );
    }
}
