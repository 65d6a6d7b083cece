//! BlueField (DOCA Pipeline Language) backend tests: snapshots, refusals
//! naming the target, and a corpus of one-key programs over every field.

mod common;

use common::*;
use dpuc_ir::*;
use dpuc_p4::{bluefield, pna};

fn emit(p: &Program, o: &bluefield::Options) -> Result<dpuc_p4::Artifact, bluefield::Error> {
    let v = validate(p).expect("test program must validate");
    bluefield::emit(&v, o)
}

/// DOCA-specific structure on top of the shared syntax checks.
fn check_doca(p4: &str) {
    assert_eq!(dpuc_p4::lint::problems(p4), Vec::<String>::new(), "{p4}");
    for inc in [
        "#include <doca_model.p4>",
        "#include <doca_headers.p4>",
        "#include <doca_externs.p4>",
        "#include <doca_parser.p4>",
    ] {
        assert!(p4.contains(inc), "{inc}");
    }
    assert!(p4.contains("NvDocaPipeline(nv_fixed_parser(), dpuc_main()) main;"));
    assert!(p4.contains("inout nv_headers_t headers"));
    assert!(!p4.contains("pna"), "PNA names leak into DOCA output");
    assert!(!p4.contains(" meta."), "PNA metadata name in DOCA output");
    for l in p4.lines().filter(|l| l.trim_start().starts_with("size = ")) {
        let n: u64 = l
            .trim()
            .trim_start_matches("size = ")
            .trim_end_matches(';')
            .parse()
            .expect("size");
        assert!(n.is_power_of_two() && n < (1 << 23), "{l}");
    }
}

/// The kitchen sink without what DOCA refuses (meter, mirror, DSCP
/// rewrite, tcp.flags and ip.dscp keys).
fn doca_sink() -> Program {
    let mut p = kitchen_sink();
    p.meters.clear();
    p.rules[2].actions = acts(vec![Step::Count(0)], End::Terminal(Terminal::Forward(1)));
    p.rules[3].actions = acts(
        vec![Step::Set {
            field: f(Field::MetaMark),
            value: 7,
        }],
        End::Continue,
    );
    // main_rules: hit bit, tcp.sport (was tcp.flags), tcp.dport range, tcp presence.
    p.tables[1].keys[1] = key(KeySource::Field(f(Field::TcpSport)), MatchKind::Ternary);
    p.tables[1].entries[1].matches[1] = Match::Ternary {
        value: 0x0400,
        mask: 0xfc00,
    };
    p.tables[2].keys[0] = key(KeySource::Field(f(Field::MetaMark)), MatchKind::Exact);
    p
}

#[test]
fn sink_p4runtime() {
    let p = doca_sink();
    let a = emit(&p, &bluefield::Options::default()).expect("emits");
    check_doca(&a.p4);
    assert!(a.p4.contains("nv_drop();"));
    assert!(a.p4.contains("nv_send_to_port(32w2);"));
    assert!(a.p4.contains("std_meta.ingress_port == 1"));
    assert!(a
        .p4
        .contains("NvCounter(32w8, NvCounterType.PACKETS_AND_BYTES) rule_hits;"));
    assert!(a.p4.contains("user_meta.f_tcp_dport: ternary;"));
    assert!(a.p4info.contains("arch: \"doca\""));
    insta::assert_snapshot!("bf_sink_p4", a.p4);
    insta::assert_snapshot!("bf_sink_p4info", a.p4info);
    insta::assert_snapshot!("bf_sink_entries", a.entries);
    insta::assert_snapshot!("bf_sink_report", a.report);
    assert!(a.entries.contains("\"tableId\""));
    assert_eq!(
        dpuc_p4::lint::unknown_ids(&a.p4info, &a.entries),
        Vec::<String>::new()
    );
}

#[test]
fn sink_const_entries() {
    let p = doca_sink();
    let o = bluefield::Options {
        const_entries: true,
        ..Default::default()
    };
    let a = emit(&p, &o).expect("emits");
    check_doca(&a.p4);
    assert!(a.p4.contains("const entries"));
    assert!(a.entries.contains("\"updates\": []"));
    insta::assert_snapshot!("bf_sink_const_p4", a.p4);
}

#[test]
fn deterministic() {
    let p = doca_sink();
    let a = emit(&p, &Default::default()).expect("emits");
    let b = emit(&p, &Default::default()).expect("emits");
    assert_eq!(a, b);
}

fn refused(p: &Program, needle: &str) {
    let e = emit(p, &Default::default()).expect_err("refused");
    let msg = e.to_string();
    assert!(msg.starts_with("target bluefield"), "{msg}");
    assert!(msg.contains(needle), "{msg} lacks {needle}");
}

#[test]
fn refusals_name_the_target_and_rule() {
    let mut p = doca_sink();
    p.rules[0].actions.end = End::Terminal(Terminal::Reject);
    refused(&p, "main.block");

    let mut p = doca_sink();
    p.rules[0].actions.steps.push(Step::Mirror(2));
    refused(&p, "main.block");

    let mut p = doca_sink();
    p.rules[0].actions.steps.push(Step::Set {
        field: f(Field::IpDscp),
        value: 1,
    });
    refused(&p, "main.block");

    let mut p = doca_sink();
    p.rules[0].actions.steps.push(Step::Log {
        prefix: None,
        sample: None,
    });
    refused(&p, "main.block");

    let p = kitchen_sink();
    refused(&p, "ip.dscp");

    let mut p = doca_sink();
    p.meters = kitchen_sink().meters;
    refused(&p, "meter `web`");

    let mut p = doca_sink();
    p.tables[1].size = 1_000_000;
    refused(&p, "main_rules");
}

#[test]
fn options_deserialize() {
    let o: bluefield::Options = serde_json::from_str(r#"{"const_entries": true}"#).expect("parses");
    assert!(o.const_entries);
    assert_eq!(o.profile, "bluefield-3");
    assert!(serde_json::from_str::<bluefield::Options>(r#"{"nope": 1}"#).is_err());
}

fn all_fields() -> Vec<Field> {
    use Field::*;
    let mut v: Vec<Field> = HEADERS.iter().map(|h| Valid(*h)).collect();
    v.extend([
        InPort,
        MetaMark,
        MetaLen,
        EthSrc,
        EthDst,
        EthType,
        VlanId,
        VlanPcp,
        IpVersion,
        Ip4Src,
        Ip4Dst,
        Ip6Src,
        Ip6Dst,
        IpProto,
        IpDscp,
        IpEcn,
        IpTtl,
        IpFrag,
        TcpSport,
        TcpDport,
        TcpFlags,
        UdpSport,
        UdpDport,
        L4Sport,
        L4Dport,
        IcmpType,
        IcmpCode,
        VxlanVni,
        GeneveVni,
        CtState,
        CtMark,
        CtDirection,
    ]);
    v
}

/// A one-table program matching `field` with `kind` (one entry, drop).
fn one_key(field: FieldRef, kind: MatchKind) -> Program {
    let mut p = empty("probe");
    let main = policy(&mut p, "main", Some(Terminal::Accept));
    let r = rule(
        &mut p,
        main,
        "r",
        acts(vec![], End::Terminal(Terminal::Drop)),
    );
    let w = field.field.width();
    let m = match kind {
        MatchKind::Exact => Match::Exact(1),
        MatchKind::Lpm => Match::Lpm {
            value: prefix_mask(w, 1),
            len: 1,
        },
        MatchKind::Ternary => Match::Ternary { value: 1, mask: 1 },
        MatchKind::Range => Match::Range {
            lo: 1,
            hi: field.field.max_value().clamp(1, 1000),
        },
    };
    let t = rules_table(
        &mut p,
        "probe_rules",
        main,
        vec![key(KeySource::Field(field), kind)],
        vec![(1, vec![m], r)],
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
    p
}

/// Every field (outer and inner) under every match kind: each backend
/// either emits well-formed P4 or refuses with an error naming itself;
/// nothing panics. (The DPL conformance files cannot be lowered from this
/// crate, so this corpus is built from IR directly.)
#[test]
fn corpus_every_field_every_kind() {
    let mut emitted = [0usize; 3];
    for field in all_fields() {
        for inner in [false, true] {
            for kind in [
                MatchKind::Exact,
                MatchKind::Lpm,
                MatchKind::Ternary,
                MatchKind::Range,
            ] {
                let p = one_key(FieldRef { inner, field }, kind);
                let Ok(v) = validate(&p) else { continue };
                match bluefield::emit(&v, &Default::default()) {
                    Ok(a) => {
                        check_doca(&a.p4);
                        emitted[0] += 1;
                    }
                    Err(e) => assert!(e.to_string().starts_with("target bluefield"), "{e}"),
                }
                for flavor in [pna::Flavor::Reference, pna::Flavor::Dpdk] {
                    let o = pna::Options {
                        flavor,
                        ..Default::default()
                    };
                    match pna::emit(&v, &o) {
                        Ok(a) => {
                            assert_eq!(dpuc_p4::lint::problems(&a.p4), Vec::<String>::new());
                            if flavor == pna::Flavor::Dpdk {
                                assert!(!a.p4.contains(": range;"));
                            }
                            emitted[1 + flavor as usize] += 1;
                        }
                        Err(e) => assert!(e.to_string().starts_with("target pna"), "{e}"),
                    }
                }
            }
        }
    }
    assert!(emitted.iter().all(|n| *n > 0), "{emitted:?}");
}

#[test]
fn single_policy_lpm() {
    let p = one_key(f(Field::Ip4Dst), MatchKind::Lpm);
    let a = emit(&p, &Default::default()).expect("emits");
    check_doca(&a.p4);
    assert!(a
        .p4
        .contains("user_meta.f_ip4_dst = headers.ipv4.dst_addr;"));
    insta::assert_snapshot!("bf_single_p4", a.p4);
}
