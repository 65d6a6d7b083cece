//! PNA backend tests: snapshots, a structural checker, refusals.

mod common;

use common::*;
use dpuc_ir::*;
use dpuc_p4::{is_legal_ident, pna};

fn emit(p: &Program, o: &pna::Options) -> Result<dpuc_p4::Artifact, pna::Error> {
    let v = validate(p).expect("test program must validate");
    pna::emit(&v, o)
}

/// The shared structural checks plus PNA's package.
fn check_structure(p4: &str) {
    assert_eq!(dpuc_p4::lint::problems(p4), Vec::<String>::new(), "{p4}");
    assert!(
        p4.contains("PNA_NIC(main_parser(), pre_control(), main_control(), main_deparser()) main;")
    );
}

#[test]
fn kitchen_sink_p4runtime() {
    let p = kitchen_sink();
    let a = emit(&p, &pna::Options::default()).expect("emits");
    check_structure(&a.p4);
    // tail_rules is reached on two paths (after the jump and on a miss).
    assert!(a.p4.contains("table tbl_tail_rules__2"));
    insta::assert_snapshot!("sink_p4", a.p4);
    insta::assert_snapshot!("sink_p4info", a.p4info);
    insta::assert_snapshot!("sink_entries", a.entries);
    insta::assert_snapshot!("sink_report", a.report);
    // Every table and action id used by an entry is declared in the P4Info.
    assert_eq!(
        dpuc_p4::lint::unknown_ids(&a.p4info, &a.entries),
        Vec::<String>::new()
    );
}

#[test]
fn kitchen_sink_const_entries() {
    let p = kitchen_sink();
    let o = pna::Options {
        const_entries: true,
        ..Default::default()
    };
    let a = emit(&p, &o).expect("emits");
    check_structure(&a.p4);
    assert!(a.p4.contains("const entries"));
    insta::assert_snapshot!("sink_const_p4", a.p4);
}

fn with_first_end(end: End) -> Program {
    let mut p = kitchen_sink();
    p.rules[0].actions.end = end;
    p
}

#[test]
fn reject_is_refused() {
    let p = with_first_end(End::Terminal(Terminal::Reject));
    let e = emit(&p, &pna::Options::default()).expect_err("refused");
    assert!(matches!(e, pna::Error::Reject { .. }));
    let msg = e.to_string();
    assert!(
        msg.contains("pna") && msg.contains("main.block") && msg.contains("drop"),
        "{msg}"
    );
}

#[test]
fn srtcm_and_inexact_byte_rates_are_refused_and_a_token_bucket_is_a_trtcm() {
    let mut p = kitchen_sink();
    p.meters[0].kind = MeterKind::SrTcm {
        cir: 8,
        cbs: 1,
        ebs: 1,
    };
    let e = emit(&p, &pna::Options::default()).expect_err("refused");
    assert!(
        matches!(e, pna::Error::UnsupportedMeter { ref meter, .. } if meter == "web"),
        "{e}"
    );
    p.meters[0].kind = MeterKind::TokenBucket { rate: 12, burst: 3 };
    let e = emit(&p, &pna::Options::default()).expect_err("refused");
    assert!(e.to_string().contains("not divisible by 8"), "{e}");
    p.meters[0].kind = MeterKind::TokenBucket { rate: 16, burst: 3 };
    let a = emit(&p, &pna::Options::default()).expect("a token bucket is a trTCM");
    assert!(
        a.entries.contains(r#""cburst": "3","#)
            && a.entries.contains(r#""pburst": "3""#)
            && a.entries.matches(r#"ir": "2""#).count() == 2,
        "{}",
        a.entries
    );
}

#[test]
fn log_and_conntrack_are_refused() {
    let mut p = kitchen_sink();
    p.rules[0].actions.steps.push(Step::Log {
        prefix: None,
        sample: None,
    });
    assert!(matches!(
        emit(&p, &pna::Options::default()),
        Err(pna::Error::Unsupported { .. })
    ));
}

#[test]
fn capacity_is_checked() {
    let mut p = kitchen_sink();
    p.tables[1].size = 1_000_000;
    let o = pna::Options {
        profile: "pensando-elba".into(),
        ..Default::default()
    };
    let e = emit(&p, &o).expect_err("too big");
    let msg = e.to_string();
    assert!(
        msg.contains("main_rules") && msg.contains("1000000") && msg.contains("4096"),
        "{msg}"
    );
}

#[test]
fn unknown_profile() {
    let p = kitchen_sink();
    let o = pna::Options {
        profile: "nope".into(),
        ..Default::default()
    };
    assert!(matches!(emit(&p, &o), Err(pna::Error::UnknownProfile(_))));
}

#[test]
fn options_deserialize() {
    let o: pna::Options = serde_json::from_str(r#"{"const_entries": true}"#).expect("parses");
    assert!(o.const_entries);
    assert_eq!(o.profile, "pna");
}

#[test]
fn bluefield_refuses_the_kitchen_sink() {
    let p = kitchen_sink();
    let v = validate(&p).expect("valid");
    let e = dpuc_p4::bluefield::emit(&v, &Default::default()).expect_err("refused");
    assert!(e.to_string().starts_with("target bluefield"), "{e}");
}

#[test]
fn dpdk_flavor() {
    let p = kitchen_sink();
    let o = pna::Options {
        flavor: pna::Flavor::Dpdk,
        ..Default::default()
    };
    // Meters are refused in the dpdk flavor (colour mapping).
    let e = emit(&p, &o).expect_err("meter");
    assert!(e.to_string().contains("dpdk flavor"), "{e}");
    let p = without_meters(kitchen_sink());
    let a = emit(&p, &o).expect("emits");
    check_structure(&a.p4);
    assert!(a.p4.contains("#include <dpdk/pna.p4>"));
    assert!(!a.p4.contains("Meter<"));
    assert!(!a.p4.contains(": range;"));
    assert!(a.p4info.contains("unit: PACKETS"));
    insta::assert_snapshot!("sink_dpdk_p4", a.p4);
    insta::assert_snapshot!("sink_dpdk_entries", a.entries);
    insta::assert_snapshot!("sink_dpdk_report", a.report);
    // 80..=443 covers as 80/12, 96/11, 128/9, 256/9, 384/11, 416/12, 432/13, 440/14.
    let v: serde_json::Value = serde_json::from_str(&a.entries).expect("json");
    let ups = v["updates"].as_array().expect("array");
    let web: Vec<_> = ups
        .iter()
        .filter(|u| u["entity"]["tableEntry"]["priority"] == 10)
        .collect();
    assert_eq!(web.len(), 8, "{web:?}");
    let o: pna::Options = serde_json::from_str(r#"{"flavor": "dpdk"}"#).expect("parses");
    assert_eq!(o.flavor, pna::Flavor::Dpdk);
}

/// p4c-dpdk reverses the precedence of const entries on DPDK, so tables
/// ordered by priority refuse them in the dpdk flavor, naming a rule.
#[test]
fn dpdk_const_entries_refused_where_priority_orders_them() {
    let p = without_meters(kitchen_sink());
    let o = pna::Options {
        flavor: pna::Flavor::Dpdk,
        const_entries: true,
        ..Default::default()
    };
    let e = emit(&p, &o).expect_err("refused");
    let r = e.refusal();
    assert!(matches!(r.subject, dpuc_ir::Subject::Rule(_)), "{r:?}");
    assert!(
        r.message.contains("reverses their precedence"),
        "{}",
        r.message
    );
}

#[test]
fn profiles_load() {
    for n in dpuc_p4::Profile::builtin_names() {
        assert!(dpuc_p4::Profile::builtin(n).is_some(), "{n}");
    }
}

/// A single-policy program: LPM in a rule table (emitted as ternary so
/// IR priorities decide), forward and accept.
fn single() -> Program {
    let mut p = empty("single");
    let out = port(&mut p, "out", 7);
    let main = policy(&mut p, "main", Some(Terminal::Accept));
    let r_fwd = rule(
        &mut p,
        main,
        "to_out",
        acts(vec![], End::Terminal(Terminal::Forward(out))),
    );
    let r_drop = rule(
        &mut p,
        main,
        "drop_net",
        acts(vec![], End::Terminal(Terminal::Drop)),
    );
    let t = rules_table(
        &mut p,
        "main_rules",
        main,
        vec![key(KeySource::Field(f(Field::Ip4Dst)), MatchKind::Lpm)],
        vec![
            (
                2,
                vec![Match::Lpm {
                    value: 0x0a00_0000,
                    len: 8,
                }],
                r_fwd,
            ),
            (
                1,
                vec![Match::Lpm {
                    value: 0x0a01_0000,
                    len: 16,
                }],
                r_drop,
            ),
        ],
    );
    node(
        &mut p,
        Node::Rules {
            table: t,
            next: 1,
            jumps: vec![],
        },
    );
    node(&mut p, Node::Verdict(Terminal::Accept));
    p.pipeline = Pipeline::Single { entry: 0 };
    p
}

#[test]
fn single_policy_lpm_as_ternary() {
    let p = single();
    let a = emit(&p, &pna::Options::default()).expect("emits");
    check_structure(&a.p4);
    assert!(a.p4.contains("meta.f_ip4_dst: ternary;"));
    assert!(a.p4.contains("send_to_port((PortId_t) 32w7);"));
    assert!(a.report.contains("lpm->ternary"));
    insta::assert_snapshot!("single_p4info", a.p4info);
    insta::assert_snapshot!("single_entries", a.entries);
    let o = pna::Options {
        accept_port: Some(3),
        ..Default::default()
    };
    let a = emit(&p, &o).expect("emits");
    assert!(a.p4.contains("send_to_port((PortId_t) 32w3);"));
}

#[test]
fn keyword_list() {
    assert!(!is_legal_ident("table"));
    assert!(!is_legal_ident("1abc"));
    assert!(is_legal_ident("tbl_table"));
}

#[test]
fn wildcarded_exact_key_becomes_ternary() {
    let mut p = kitchen_sink();
    // main_rules' first key (the hit bit) is exact; wildcard it in one entry.
    p.tables[1].entries[0].matches[0] = Match::Any;
    let a = emit(&p, &pna::Options::default()).expect("emits");
    check_structure(&a.p4);
    assert!(a.p4.contains("meta.hit_0: ternary;"));
    assert!(a.report.contains("exact->ternary"));
}

/// `p` without its meters or the steps that use them.
fn without_meters(mut p: Program) -> Program {
    p.meters.clear();
    for r in &mut p.rules {
        r.actions.steps.retain(|s| !matches!(s, Step::Meter { .. }));
    }
    p
}
