//! The DOCA Flow target against the software pipeline: every conformance
//! file and example either runs on the DOCA simulator with the same
//! observations as sw, or is refused at compile time with an error naming
//! the target and the rule. The emitted C and pipe model of every
//! conformance file are snapshotted and the C is checked with gcc.

use dpuc_runtime::doca::{Doca, DocaBuildError};
use dpuc_runtime::testing::{run_suite, Software};
use dpuc_tests::{
    cross_check, files_with_ext, gcc_check_doca, lower_file, lower_text, narrow_for_doca,
    repo_root, Built, DOCA_TRACKER_FILES,
};

#[test]
fn corpus_and_examples_agree_with_sw_or_are_refused_by_rule() {
    let c = cross_check("doca", |program| match Doca::for_program(program) {
        Ok(t) => Built::Ready(t),
        Err(DocaBuildError::Refused(e)) => Built::Refused(e.to_string()),
        Err(e) => Built::Broken(e.to_string()),
    });
    println!(
        "doca: {} files ran ({} sends), {} refused",
        c.ran, c.sends, c.refused
    );
    assert!(c.problems.is_empty(), "{}", c.problems.join("\n"));
    // Guards against the backend quietly refusing everything.
    assert!(
        c.ran >= 21,
        "only {} files ran on doca ({} refused)",
        c.ran,
        c.refused
    );
    assert!(c.sends >= 190, "only {} sends ran on doca", c.sends);
}

/// The tracker's conformance files with every rule that reads `ct.*`
/// narrowed to TCP and UDP (so that neither ICMP errors nor packets
/// without an L4 header, whose state the device cannot tell, reach it)
/// and without eviction: these run on DOCA and must agree with sw on
/// every send (the inline expectations about the narrowed rules may no
/// longer hold on either). This drives the TCP state machine (RST, FIN,
/// TIME_WAIT, invalid SYNs), marks and notrack through the CT pipe, the
/// state pipes and the connection manager.
#[test]
fn tracker_files_narrowed_to_tcp_and_udp_agree_with_sw() {
    let root = repo_root();
    let mut sends = 0;
    for name in DOCA_TRACKER_FILES {
        let path = root.join(format!("{name}.dpl"));
        let text = std::fs::read_to_string(&path).expect("read");
        let text = narrow_for_doca(&text);
        let lowered = lower_text("narrowed.dpl", &text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let program = &lowered.program;
        let mut doca = match Doca::for_program(program) {
            Ok(d) => d,
            Err(e) => panic!("{name} (narrowed) does not run on doca: {e}"),
        };
        let mut sw = Software::new(program.clone()).expect("sw");
        let on_sw = run_suite(&mut sw, program, &lowered.suite);
        let on_doca = run_suite(&mut doca, program, &lowered.suite);
        for (a, b) in on_sw.iter().zip(&on_doca) {
            sends += b.observations.len();
            assert_eq!(
                a.observations, b.observations,
                "{name} (narrowed), \"{}\": sw and doca disagree",
                a.name
            );
            assert_eq!(
                a.failures.len(),
                b.failures.len(),
                "{name} (narrowed), \"{}\": {:?} vs {:?}",
                a.name,
                a.failures,
                b.failures
            );
        }
    }
    println!("narrowed tracker files: {sends} sends agree");
    assert!(sends >= 60, "only {sends} sends");
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
            "target doca: rule `p.any_l4` uses the presence of `l4`",
        ),
        (
            "meter m: rate 1001 bps burst 100 B;\npolicy p { rule l: tcp.dport == 22 => meter m, accept; default accept; }",
            "target doca: meter `m` (used by rule `p.l`): rate 1001",
        ),
        (
            "conntrack { max_entries 4; on_full evict_oldest; }\npolicy p { default accept; }",
            "target doca: rule `conntrack` uses `on_full evict_oldest`: DOCA Flow CT cannot evict",
        ),
        (
            "conntrack { timeout udp 1500ms; }\npolicy p { default accept; }",
            "target doca: rule `conntrack` uses `timeout udp 1500ms`",
        ),
        (
            "conntrack { zone vxlan.vni; }\npolicy p { default accept; }",
            "target doca: rule `conntrack` uses `zone vxlan.vni`",
        ),
        (
            "policy p { rule rel: ct.state == related => accept; default drop; }",
            "target doca: rule `p.rel` uses `ct.state` on ICMP errors",
        ),
        (
            "policy p { rule web: tcp or udp or icmp => accept; rule odd: ct.state == untracked => accept; default drop; }",
            "target doca: rule `p.odd` uses `ct.state` on IP packets without a TCP, UDP or ICMP header",
        ),
    ];
    for (text, want) in cases {
        let lowered = lower_text("r.dpl", text).unwrap_or_else(|e| panic!("{e}"));
        let err = match Doca::for_program(&lowered.program) {
            Err(e) => e.to_string(),
            Ok(_) => "built".into(),
        };
        assert!(err.starts_with(want), "{err}");
    }
}
