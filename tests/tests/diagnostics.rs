//! Every file in tests/diagnostics/ is checked and its rendered (colourless)
//! diagnostics are snapshotted. A file is named for the code it must raise.

use dpuc_core::diag::render;
use dpuc_tests::{check_file, files_with_ext, lower_file, refusal, repo_root};

#[test]
fn every_diagnostic_input_raises_its_code_and_matches_its_snapshot() {
    let dir = repo_root().join("tests/diagnostics");
    let files = files_with_ext(&dir, ".dpl");
    assert!(!files.is_empty(), "no inputs in {}", dir.display());
    for path in files {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        // Imported helper files (lib-*.dpl) are inputs of other cases.
        if name.starts_with("lib-") {
            continue;
        }
        let code = name.split('-').next().unwrap_or_default();
        let (sources, mut checked) = check_file(&path, name);
        // Backend codes (E02xx) name their target: `E0200-ebpf-….dpl`.
        if code.starts_with("E02") {
            let target = match name.split('-').nth(1).unwrap_or_default() {
                "pna" => "p4-pna",
                t => t,
            };
            let lowered = lower_file(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
            let refused = refusal(target, &lowered.1)
                .unwrap_or_else(|| panic!("{name}: target {target} does not refuse it"));
            checked
                .diagnostics
                .push(dpuc_core::diag::refusal(&lowered.1.origins, &refused));
        }
        assert!(
            checked.diagnostics.iter().any(|d| d.code == code),
            "{name} does not raise {code}; got {:?}",
            checked
                .diagnostics
                .iter()
                .map(|d| d.code)
                .collect::<Vec<_>>()
        );
        let rendered = render::human(&sources, &checked.diagnostics);
        insta::with_settings!({ snapshot_suffix => name.trim_end_matches(".dpl"), prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!("diagnostic", rendered);
        });
    }
}
