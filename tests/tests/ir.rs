//! IR snapshots for every example, JSON round trips, and validation.

use dpuc_tests::{check_file, files_with_ext, repo_root};

#[test]
fn every_example_lowers_to_a_valid_ir_that_round_trips_and_matches_its_snapshot() {
    for path in files_with_ext(&repo_root().join("examples"), ".dpl") {
        let name = path
            .file_stem()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let (sources, checked) = check_file(&path, &name);
        let hir = checked
            .program
            .unwrap_or_else(|| panic!("{name} does not check"));
        let lowered = dpuc_core::lower::lower(&hir, &sources, &name)
            .unwrap_or_else(|d| panic!("{name}: {d:?}"));
        let program = &lowered.program;
        dpuc_ir::validate(program).unwrap_or_else(|e| panic!("{name}: {e}"));
        let json = serde_json::to_string(program).unwrap_or_else(|e| panic!("{e}"));
        let back: dpuc_ir::Program =
            serde_json::from_str(&json).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            &back, program,
            "{name}: JSON round trip changed the program"
        );
        insta::with_settings!({ snapshot_suffix => name.clone(), prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!("ir", dpuc_ir::text::to_text(program));
            insta::assert_snapshot!("ir_json", serde_json::to_string_pretty(program).unwrap_or_default());
        });
    }
}

#[test]
fn corrupt_ir_json_is_an_error_not_a_panic() {
    for text in ["", "{", "{\"name\": 3}", "[1,2,3]", "{\"name\":\"x\",\"ports\":[],\"sets\":[{\"name\":\"s\",\"ty\":\"ip\",\"elems\":[{\"lo\":\"zz\",\"hi\":\"0x1\"}],\"tables\":[]}]}"] {
        assert!(serde_json::from_str::<dpuc_ir::Program>(text).is_err(), "{text}");
    }
}
