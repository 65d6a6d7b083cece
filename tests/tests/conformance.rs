//! The conformance corpus (tests/conformance) and every example's inline
//! tests pass on the software pipeline, the reference meaning every other
//! target is held to.

use dpuc_runtime::testing::{run_suite, Software};
use dpuc_tests::{files_with_ext, lower_file, repo_root};

/// Runs every test of every file under `dir`; returns the number of sends
/// and every failure.
fn run_dir(dir: &str) -> (usize, Vec<String>) {
    let mut sends = 0;
    let mut failures = Vec::new();
    for path in files_with_ext(&repo_root().join(dir), ".dpl") {
        let shown = path.display().to_string();
        let (sources, lowered) = match lower_file(&path) {
            Ok(l) => l,
            Err(e) => {
                failures.push(e);
                continue;
            }
        };
        let mut sw = match Software::new(lowered.program.clone()) {
            Ok(sw) => sw,
            Err(e) => {
                failures.push(format!("{shown}: {e}"));
                continue;
            }
        };
        for r in run_suite(&mut sw, &lowered.program, &lowered.suite) {
            sends += r.observations.len();
            for f in r.failures {
                let (line, _) = sources.line_col(dpuc_core::span::FileId(f.at.file), f.at.start);
                failures.push(format!(
                    "{shown}:{line}: \"{}\": expected {}, saw {}",
                    r.name, f.expected, f.seen
                ));
            }
        }
    }
    (sends, failures)
}

#[test]
fn conformance_corpus_passes_on_sw() {
    let (sends, failures) = run_dir("tests/conformance");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        sends >= 150,
        "the corpus has only {sends} send expectations"
    );
}

#[test]
fn examples_tests_pass_on_sw() {
    let (sends, failures) = run_dir("examples");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(sends >= 15, "only {sends} sends ran");
}
