//! PNA backend tests: snapshots, a structural checker, refusals.

mod common;

use common::*;
use dpuc_ir::*;
use dpuc_p4::{is_legal_ident, pna, P4_KEYWORDS};
use std::collections::BTreeMap;

fn emit(p: &Program, o: &pna::Options) -> Result<dpuc_p4::Artifact, pna::Error> {
    let v = validate(p).expect("test program must validate");
    pna::emit(&v, o)
}

/// Structural checks on emitted P4: declared tables applied exactly once,
/// actions referenced, identifiers legal, no duplicate declarations.
fn check_structure(p4: &str) {
    let mut tables = Vec::new();
    let mut actions = Vec::new();
    for line in p4.lines() {
        let t = line.trim_start();
        if let Some(rest) = t.strip_prefix("table ") {
            tables.push(rest.trim_end_matches(" {").to_string());
        }
        if let Some(idx) = t.find("action ") {
            let rest = &t[idx + 7..];
            if let Some(name) = rest.split('(').next() {
                if t.starts_with("@id") || t.starts_with("action") {
                    actions.push(name.to_string());
                }
            }
        }
    }
    let mut seen = BTreeMap::new();
    for n in tables.iter().chain(actions.iter()) {
        assert!(is_legal_ident(n), "illegal identifier {n}");
        assert!(!P4_KEYWORDS.contains(&n.as_str()));
        *seen.entry(n.clone()).or_insert(0) += 1;
    }
    for (n, c) in &seen {
        assert_eq!(*c, 1, "{n} declared {c} times");
    }
    for t in &tables {
        let applies = p4.matches(&format!("{t}.apply()")).count();
        assert_eq!(applies, 1, "table {t} applied {applies} times");
    }
    for a in &actions {
        let refs = p4.matches(&format!("{a};")).count() + p4.matches(&format!("{a}:")).count();
        assert!(refs >= 1, "action {a} never referenced");
    }
    assert!(
        p4.contains("PNA_NIC(main_parser(), pre_control(), main_control(), main_deparser()) main;")
    );
    check_syntax(p4);
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
    // Every table id used by an entry is declared in the P4Info.
    let v: serde_json::Value = serde_json::from_str(&a.entries).expect("json");
    for u in v["updates"].as_array().expect("array") {
        if let Some(id) = u["entity"]["tableEntry"]["tableId"].as_u64() {
            assert!(a.p4info.contains(&format!("id: {id}\n")));
        }
    }
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
fn srtcm_and_token_bucket_are_refused() {
    for kind in [
        MeterKind::SrTcm {
            cir: 1,
            cbs: 1,
            ebs: 1,
        },
        MeterKind::TokenBucket { rate: 1, burst: 1 },
    ] {
        let mut p = kitchen_sink();
        p.meters[0].kind = kind;
        let e = emit(&p, &pna::Options::default()).expect_err("refused");
        assert!(
            matches!(e, pna::Error::UnsupportedMeter { ref meter, .. } if meter == "web"),
            "{e}"
        );
    }
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
    // The kitchen sink's meter counts bytes: refused in the dpdk flavor.
    let e = emit(&p, &o).expect_err("byte meter");
    assert!(e.to_string().contains("dpdk"), "{e}");
    let mut p = kitchen_sink();
    p.meters[0].unit = MeterUnit::Packets;
    let a = emit(&p, &o).expect("emits");
    check_structure(&a.p4);
    assert!(a.p4.contains("#include <dpdk/pna.p4>"));
    assert!(a.p4.contains(".dpdk_execute(32w0, 32w1)"));
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

#[test]
fn dpdk_const_entries() {
    let mut p = kitchen_sink();
    p.meters[0].unit = MeterUnit::Packets;
    let o = pna::Options {
        flavor: pna::Flavor::Dpdk,
        const_entries: true,
        ..Default::default()
    };
    let a = emit(&p, &o).expect("emits");
    check_structure(&a.p4);
    assert!(a.p4.contains("const entries"));
    assert!(a.p4info.contains("is_const_table: true"));
    insta::assert_snapshot!("sink_dpdk_const_p4", a.p4);
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
