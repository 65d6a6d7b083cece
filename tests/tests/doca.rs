//! The DOCA Flow target against the software pipeline: every conformance
//! file and example either runs on the DOCA simulator with the same
//! observations as sw, or is refused at compile time with an error naming
//! the target and the rule. The emitted C and pipe model of every
//! conformance file are snapshotted and the C is checked with gcc.

use dpuc_runtime::doca::{Doca, DocaBuildError};
use dpuc_runtime::testing::{run_suite, Software};
use dpuc_tests::{files_with_ext, lower_file, lower_text, repo_root};
use std::path::Path;
use std::process::Command;

#[test]
fn corpus_and_examples_agree_with_sw_or_are_refused_by_rule() {
    let root = repo_root();
    let mut files = files_with_ext(&root.join("tests/conformance"), ".dpl");
    files.extend(files_with_ext(&root.join("examples"), ".dpl"));
    let (mut ran, mut refused, mut sends) = (0, 0, 0);
    let mut problems = Vec::new();
    for path in files {
        let shown = path.display().to_string();
        let (_, lowered) = lower_file(&path).unwrap_or_else(|e| panic!("{e}"));
        let program = &lowered.program;
        let mut doca = match Doca::for_program(program) {
            Ok(t) => t,
            Err(DocaBuildError::Refused(text)) => {
                // Names the target and a rule (`policy.rule`) or declaration.
                if !text.starts_with("target doca") || !text.contains('`') {
                    problems.push(format!("{shown}: vague refusal: {text}"));
                }
                refused += 1;
                println!("refused {shown}: {text}");
                continue;
            }
            Err(e) => {
                problems.push(format!("{shown}: {e}"));
                continue;
            }
        };
        ran += 1;
        let mut sw = Software::new(program.clone()).expect("valid program");
        let on_sw = run_suite(&mut sw, program, &lowered.suite);
        let on_doca = run_suite(&mut doca, program, &lowered.suite);
        for (a, b) in on_sw.iter().zip(&on_doca) {
            sends += b.observations.len();
            for f in &b.failures {
                problems.push(format!(
                    "{shown}: \"{}\" on doca: expected {}, saw {}",
                    b.name, f.expected, f.seen
                ));
            }
            if a.observations != b.observations {
                problems.push(format!(
                    "{shown}: \"{}\": sw and doca disagree:\n  sw   {:?}\n  doca {:?}",
                    a.name, a.observations, b.observations
                ));
            }
        }
    }
    println!("doca: {ran} files ran ({sends} sends), {refused} refused");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // Guards against the backend quietly refusing everything.
    assert!(
        ran >= 15,
        "only {ran} files ran on doca ({refused} refused)"
    );
    assert!(sends >= 80, "only {sends} sends ran on doca");
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
        gcc_check(&stem, &a.c);
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

/// Runs `gcc -fsyntax-only -Wall -Wextra -Werror` on `c` against the
/// declarations header; says "skipped: no gcc" when gcc is absent.
fn gcc_check(name: &str, c: &str) {
    if Command::new("gcc").arg("--version").output().is_err() {
        println!("skipped: no gcc");
        return;
    }
    let decls = repo_root().join("tests/doca/doca_flow_decls.h");
    let dir = std::env::temp_dir().join(format!("dpuc-doca-tests-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for h in ["doca_flow.h", "doca_flow_ct.h", "doca_bitfield.h"] {
        std::fs::write(dir.join(h), format!("#include \"{}\"\n", decls.display())).expect("stub");
    }
    let src = dir.join(format!("{name}_doca.c"));
    std::fs::write(&src, c).expect("write C");
    let out = Command::new("gcc")
        .args(["-std=gnu11", "-fsyntax-only", "-Wall", "-Wextra", "-Werror"])
        .arg("-DDOCA_ALLOW_EXPERIMENTAL_API")
        .arg("-include")
        .arg(&decls)
        .arg("-I")
        .arg(&dir)
        .arg(&src)
        .output()
        .expect("run gcc");
    let _ = std::fs::remove_dir_all(Path::new(&dir));
    assert!(
        out.status.success(),
        "gcc rejected {name}_doca.c:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
