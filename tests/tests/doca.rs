//! The DOCA Flow target against the software pipeline: every conformance
//! file and example either runs on the DOCA simulator with the same
//! observations as sw, or is refused at compile time with an error naming
//! the target and the rule. The emitted C and pipe model of every
//! conformance file are snapshotted and the C is checked with gcc.

use dpuc_runtime::doca::{Doca, DocaBuildError};
use dpuc_tests::{
    cross_check, files_with_ext, gcc_check_doca, lower_file, lower_text, repo_root, Built,
};

#[test]
fn corpus_and_examples_agree_with_sw_or_are_refused_by_rule() {
    let c = cross_check("doca", |program| match Doca::for_program(program) {
        Ok(t) => Built::Ready(t),
        Err(DocaBuildError::Refused(text)) => Built::Refused(text),
        Err(e) => Built::Broken(e.to_string()),
    });
    println!(
        "doca: {} files ran ({} sends), {} refused",
        c.ran, c.sends, c.refused
    );
    assert!(c.problems.is_empty(), "{}", c.problems.join("\n"));
    // Guards against the backend quietly refusing everything.
    assert!(
        c.ran >= 15,
        "only {} files ran on doca ({} refused)",
        c.ran,
        c.refused
    );
    assert!(c.sends >= 80, "only {} sends ran on doca", c.sends);
}

#[test]
fn conformance_c_and_json_snapshots_pass_gcc() {
    let root = repo_root();
    for path in files_with_ext(&root.join("tests/conformance"), ".dpl") {
        let (_, lowered) = lower_file(&path).unwrap_or_else(|e| panic!("{e}"));
        let valid = dpuc_ir::validate(&lowered.program).expect("valid");
        let Ok(a) = dpuc_doca::emit(&valid, &dpuc_doca::Options::default()) else {
            continue;
        };
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().replace('-', "_"))
            .unwrap_or_default();
        insta::assert_snapshot!(format!("{stem}_c"), a.c);
        insta::assert_snapshot!(format!("{stem}_json"), a.json);
        // The JSON reads back as the model the simulator runs.
        let back: dpuc_doca::Pipes = serde_json::from_str(&a.json).expect("model json");
        assert_eq!(back, a.pipes, "{stem}: JSON round trip");
        gcc_check_doca(&stem, &a.c);
    }
}

#[test]
fn refusals_name_the_target_and_the_rule() {
    let cases = [
        (
            "policy p { rule r1: tcp.dport == 23 => reject; default accept; }",
            "target doca: rule `p.r1` uses `reject`",
        ),
        (
            "policy p { rule any_l4: l4.dport == 9 => drop; default accept; }",
            "target doca: rule `p.any_l4` uses `l4.",
        ),
        (
            "meter m: rate 1001 bps burst 100 B;\npolicy p { rule l: tcp.dport == 22 => meter m, accept; default accept; }",
            "target doca: meter `m` (used by rule `p.l`): rate 1001",
        ),
    ];
    for (text, want) in cases {
        let lowered = lower_text("r.dpl", text).unwrap_or_else(|e| panic!("{e}"));
        let err = match Doca::for_program(&lowered.program) {
            Err(DocaBuildError::Refused(e)) => e,
            Err(e) => e.to_string(),
            Ok(_) => "built".into(),
        };
        assert!(err.starts_with(want), "{err}");
    }
}
