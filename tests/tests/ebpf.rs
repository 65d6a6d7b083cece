//! The eBPF target against the software pipeline, in this kernel: every
//! conformance file and example either runs through the verifier-loaded
//! program with the same observations as sw, or is refused at compile time
//! with an error naming the target and the rule. Without BPF privilege the
//! tests say "skipped: no BPF privilege" (CI runs them as root, for real).

use dpuc_runtime::ebpf::{bpf_available, Ebpf, TestBuildError};
use dpuc_runtime::testing::{run_suite, Software, Target};
use dpuc_tests::{files_with_ext, lower_file, lower_text, repo_root};

fn privileged() -> bool {
    match bpf_available() {
        Ok(()) => true,
        Err(e) => {
            println!("skipped: no BPF privilege ({})", e.reason);
            false
        }
    }
}

#[test]
fn corpus_and_examples_agree_with_sw_or_are_refused_by_rule() {
    if !privileged() {
        return;
    }
    let root = repo_root();
    let mut files = files_with_ext(&root.join("tests/conformance"), ".dpl");
    files.extend(files_with_ext(&root.join("examples"), ".dpl"));
    let (mut ran, mut refused, mut sends) = (0, 0, 0);
    let mut problems = Vec::new();
    for path in files {
        let shown = path.display().to_string();
        let (_, lowered) = lower_file(&path).unwrap_or_else(|e| panic!("{e}"));
        let program = &lowered.program;
        let mut ebpf = match Ebpf::for_program(program) {
            Ok(t) => t,
            Err(TestBuildError::Refused(e)) => {
                let text = e.to_string();
                // The refusal names the target and a rule (policy.rule) or declaration.
                if !text.starts_with("target ebpf") || !text.contains(": ") {
                    problems.push(format!("{shown}: vague refusal: {text}"));
                }
                refused += 1;
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
        let on_ebpf = run_suite(&mut ebpf, program, &lowered.suite);
        for (a, b) in on_sw.iter().zip(&on_ebpf) {
            sends += b.observations.len();
            for f in &b.failures {
                problems.push(format!(
                    "{shown}: \"{}\" on ebpf: expected {}, saw {}",
                    b.name, f.expected, f.seen
                ));
            }
            if a.observations != b.observations {
                problems.push(format!("{shown}: \"{}\": sw and ebpf disagree", a.name));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // Guards against the backend quietly refusing everything.
    assert!(
        ran >= 18,
        "only {ran} files ran on ebpf ({refused} refused)"
    );
    assert!(sends >= 100, "only {sends} sends ran on ebpf");
}

#[test]
fn refusals_name_the_target_the_rule_and_the_hook() {
    let cases = [
        (
            "policy p { rule r1: tcp.dport == 23 => reject; default accept; }",
            "target ebpf: p.r1: `reject`",
        ),
        (
            "port a = 1; port b = 2;\npolicy p { rule tap: tcp.dport == 80 => mirror b, accept; default accept; }\npipeline { a -> b via p; }",
            "target ebpf (hook xdp): p.tap: `mirror`",
        ),
        (
            "policy p { rule l: tcp.dport == 22 => log, accept; default accept; }",
            "target ebpf: p.l: `log`",
        ),
    ];
    for (text, want) in cases {
        let lowered = lower_text("r.dpl", text).unwrap_or_else(|e| panic!("{e}"));
        let valid = dpuc_ir::validate(&lowered.program).expect("valid");
        let err = dpuc_ebpf::emit(&valid, &dpuc_ebpf::Options::default())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.starts_with(want), "{err}");
    }
}

#[test]
fn listing_of_a_test_build() {
    let path = repo_root().join("tests/conformance/first-match.dpl");
    let (_, lowered) = lower_file(&path).unwrap_or_else(|e| panic!("{e}"));
    let valid = dpuc_ir::validate(&lowered.program).expect("valid");
    let a = dpuc_ebpf::emit(
        &valid,
        &dpuc_ebpf::Options {
            test_clock: true,
            hooks: vec![dpuc_ebpf::Hook::Xdp],
        },
    )
    .expect("builds");
    let layout = serde_json::to_string_pretty(&a.layout).expect("json");
    insta::assert_snapshot!("first_match_ebpf_layout", layout);
    insta::assert_snapshot!("first_match_ebpf_xdp", a.listings[0].1);
}

#[test]
fn classbench_10k_loads_and_agrees_with_sw_on_its_whole_trace() {
    let dir = repo_root().join("../shared/data/classbench");
    let (Ok(rules), Ok(trace)) = (
        std::fs::read_to_string(dir.join("acl1_10K")),
        std::fs::read_to_string(dir.join("acl1_10K_trace")),
    ) else {
        println!("skipped: no ClassBench data at {}", dir.display());
        return;
    };
    if !privileged() {
        return;
    }
    let filters = dpuc_core::import::classbench::parse(&rules).expect("filters");
    let text = dpuc_core::import::classbench::to_dpl(&filters, "acl1_10K");
    let lowered = lower_text("acl1_10K.dpl", &text).unwrap_or_else(|e| panic!("{e}"));
    let program = &lowered.program;
    let mut ebpf = Ebpf::for_program(program).unwrap_or_else(|e| panic!("{e}"));
    let mut sw = Software::new(program.clone()).expect("valid");
    let frames = dpuc_runtime::trace::frames(&trace).expect("trace");
    assert!(frames.len() > 90_000);
    let mut differ = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        let a = sw.send(f, 0, 0).expect("sw");
        let b = ebpf.send(f, 0, 0).expect("ebpf");
        if a != b {
            differ.push(format!("frame {i}: sw {a:?}, ebpf {b:?}"));
        }
    }
    assert!(
        differ.is_empty(),
        "{} frames differ:\n{}",
        differ.len(),
        differ[..differ.len().min(10)].join("\n")
    );
}
