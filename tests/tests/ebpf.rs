//! The eBPF target against the software pipeline, in this kernel: every
//! conformance file and example either runs through the verifier-loaded
//! program with the same observations as sw, or is refused at compile time
//! with an error naming the target and the rule. Without BPF privilege the
//! tests say "skipped: no BPF privilege" (CI runs them as root, for real).

use dpuc_runtime::ebpf::{Ebpf, TestBuildError};
use dpuc_runtime::testing::{Software, Target};
use dpuc_tests::{bpf_privileged, cross_check, lower_file, lower_text, repo_root, Built};

#[test]
fn corpus_and_examples_agree_with_sw_or_are_refused_by_rule() {
    if !bpf_privileged() {
        return;
    }
    let c = cross_check("ebpf", |program| match Ebpf::for_program(program) {
        Ok(t) => Built::Ready(t),
        Err(TestBuildError::Refused(e)) => Built::Refused(e.to_string()),
        Err(e) => Built::Broken(e.to_string()),
    });
    assert!(c.problems.is_empty(), "{}", c.problems.join("\n"));
    println!(
        "{} files ran on ebpf ({} refused), {} sends",
        c.ran, c.refused, c.sends
    );
    // Guards against the backend quietly refusing what it runs today.
    assert!(
        c.ran >= 40,
        "only {} files ran on ebpf ({} refused)",
        c.ran,
        c.refused
    );
    // Only `reject` is refused (actions.dpl, reject.dpl, tour/01-rules.dpl).
    assert!(c.refused <= 3, "{} files refused by ebpf", c.refused);
    assert!(c.sends >= 373, "only {} sends ran on ebpf", c.sends);
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
            "meter m: rate 10 pps burst 5 packets per ip.src max 300000000;\npolicy p { rule l: tcp.dport == 22 => meter m, accept; default accept; }",
            "target ebpf: p.l: per-key meter `m` of 300000000 keys",
        ),
        (
            "conntrack { max_entries 300000000; }\npolicy p { rule e: ct.state == established => accept; default drop; }",
            "target ebpf: conntrack: a connection table of 300000000 entries",
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
fn layout_of_a_tracking_policy_documents_the_connection_table() {
    let path = repo_root().join("tests/conformance/ct-zones-full.dpl");
    let (_, lowered) = lower_file(&path).unwrap_or_else(|e| panic!("{e}"));
    let valid = dpuc_ir::validate(&lowered.program).expect("valid");
    let a = dpuc_ebpf::emit(&valid, &dpuc_ebpf::Options::default()).expect("builds");
    let layout = serde_json::to_string_pretty(&a.layout).expect("json");
    insta::assert_snapshot!("ct_zones_full_ebpf_layout", layout);
    // The sweep callback is listed after each program.
    assert!(a
        .listings
        .iter()
        .all(|(_, l)| l.contains("\ndpuc_ct_sweep:\n")));
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
    if !bpf_privileged() {
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

#[test]
fn live_set_updates_change_the_running_program_as_they_change_sw() {
    if !bpf_privileged() {
        return;
    }
    let text = "set blocked: ip = { 10.0.0.1 };\nset web: port = { 80 };\npolicy p {\n    rule b: ip.src in blocked => drop;\n    rule w: tcp.dport in web => accept;\n    default drop;\n}\n";
    let lowered = lower_text("live.dpl", text).unwrap_or_else(|e| panic!("{e}"));
    let program = &lowered.program;
    let mut ebpf = Ebpf::for_program(program).unwrap_or_else(|e| panic!("{e}"));
    let mut sw = dpuc_runtime::exec::Machine::new(program.clone()).expect("valid");
    let frame = dpuc_runtime::trace::frame(0x0a00_0002, 0x0a00_0063, 1234, 443, 6);
    let verdict = |ebpf: &mut Ebpf, sw: &mut dpuc_runtime::exec::Machine| {
        let e = ebpf.send(&frame, 0, 0).expect("ebpf").verdict;
        let s = sw.process(&frame, 0, 0).verdict;
        (format!("{e:?}"), format!("{s:?}"))
    };
    assert_eq!(verdict(&mut ebpf, &mut sw), ("Drop".into(), "Drop".into()));
    let elem = |lo: u128, hi: u128, family| dpuc_ir::Elem { family, lo, hi };
    // Port 443 joins `web`: accepted.
    let ports = vec![elem(80, 80, None), elem(443, 443, None)];
    ebpf.update_set(1, ports.clone()).expect("ebpf update");
    sw.update_set(1, ports).expect("sw update");
    assert_eq!(
        verdict(&mut ebpf, &mut sw),
        ("Accept".into(), "Accept { to: None }".into())
    );
    // The sender's /24 joins `blocked`, replacing 10.0.0.1: dropped again.
    let v4 = Some(dpuc_ir::Family::V4);
    let elems = vec![elem(0x0a00_0000, 0x0a00_00ff, v4)];
    ebpf.update_set(0, elems.clone()).expect("ebpf update");
    sw.update_set(0, elems).expect("sw update");
    assert_eq!(verdict(&mut ebpf, &mut sw), ("Drop".into(), "Drop".into()));
}

#[test]
fn policies_that_never_accept_or_never_drop_load_and_agree() {
    if !bpf_privileged() {
        return;
    }
    // The verifier refuses unreachable code: verdict blocks a policy never
    // reaches must not be emitted.
    let cases = [
        "policy p { default accept; }",
        "policy p { default drop; }",
        "policy p { rule a: tcp.dport == 80 => drop; default drop; }",
        "port a = 1; port b = 2;\npolicy p { rule f: udp => forward b; default accept; }\npipeline { a -> b via p; }",
    ];
    let frame = dpuc_runtime::trace::frame(0x0a00_0001, 0x0a00_0002, 1234, 80, 6);
    for text in cases {
        let lowered = lower_text("d.dpl", text).unwrap_or_else(|e| panic!("{e}"));
        let program = &lowered.program;
        let mut ebpf = Ebpf::for_program(program).unwrap_or_else(|e| panic!("{text}: {e}"));
        let mut sw = Software::new(program.clone()).expect("valid");
        let port = program.ports.first().map_or(0, |p| p.number);
        assert_eq!(
            ebpf.send(&frame, port, 0).expect("ebpf"),
            sw.send(&frame, port, 0).expect("sw"),
            "{text}"
        );
    }
}

#[test]
fn log_records_reach_user_space_as_the_interpreter_emits_them() {
    if !bpf_privileged() {
        return;
    }
    let text = "policy p {\n    rule ssh: tcp.dport == 22 => log \"ssh\", accept;\n    rule dns: udp.dport == 53 => log, drop;\n    default accept;\n}\n";
    let lowered = lower_text("log.dpl", text).unwrap_or_else(|e| panic!("{e}"));
    let program = &lowered.program;
    let mut ebpf = Ebpf::for_program(program).unwrap_or_else(|e| panic!("{e}"));
    let mut sw = dpuc_runtime::exec::Machine::new(program.clone()).expect("valid");
    for (dport, proto) in [(22, 6), (80, 6), (53, 17), (22, 6)] {
        let frame = dpuc_runtime::trace::frame(0x0a00_0001, 0x0a00_0002, 1000, dport, proto);
        ebpf.send(&frame, 0, 0).expect("ebpf");
        let want = sw.process(&frame, 0, 0).events;
        let got: Vec<dpuc_runtime::exec::Event> = ebpf
            .take_events()
            .into_iter()
            .map(|r| {
                assert_eq!(r.len as usize, frame.len());
                r.event
            })
            .collect();
        assert_eq!(got, want, "dport {dport}");
    }
}

#[test]
fn layout_of_keyed_meters_documents_their_bucket_maps() {
    let path = repo_root().join("tests/conformance/meter-per-key.dpl");
    let (_, lowered) = lower_file(&path).unwrap_or_else(|e| panic!("{e}"));
    let valid = dpuc_ir::validate(&lowered.program).expect("valid");
    let a = dpuc_ebpf::emit(&valid, &dpuc_ebpf::Options::default()).expect("builds");
    let layout = serde_json::to_string_pretty(&a.layout).expect("json");
    insta::assert_snapshot!("meter_per_key_ebpf_layout", layout);
}
