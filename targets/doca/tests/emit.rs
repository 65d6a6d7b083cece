//! DOCA Flow backend tests: snapshots, gcc syntax checks and refusals on
//! hand-built IR (the corpus is lowered from `.dpl` in `tests/tests/doca.rs`).

mod common;

use common::*;
use dpuc_doca::{emit, Artifact, Error, Options};
use dpuc_ir::*;

fn run(p: &Program, o: &Options) -> Result<Artifact, Error> {
    let v = validate(p).expect("test program must validate");
    emit(&v, o)
}

#[test]
fn kitchen_sink_snapshots() {
    let a = run(&kitchen_sink(), &Options::default()).expect("emits");
    insta::assert_snapshot!("sink_c", a.c);
    insta::assert_snapshot!("sink_json", a.json);
    insta::assert_snapshot!("sink_report", a.report);
    for name in [
        "doca_flow_pipe_cfg_create",
        "doca_flow_pipe_acl_add_entry",
        "doca_flow_pipe_lpm_add_entry",
        "doca_flow_pipe_control_add_entry",
        "doca_flow_port_shared_resource_set_cfg",
        "DOCA_FLOW_METER_ALGORITHM_TYPE_RFC2697",
        "DOCA_FLOW_PIPE_ACL",
        "DOCA_FLOW_PIPE_LPM",
    ] {
        assert!(a.c.contains(name), "C lacks {name}");
    }
    let v: serde_json::Value = serde_json::from_str(&a.json).expect("json");
    let pipes = v["pipes"].as_array().expect("pipes");
    assert!(pipes.last().expect("root")["is_root"]
        .as_bool()
        .expect("bool"));
    // Every pipe forwards only to pipes created before it.
    for (i, p) in pipes.iter().enumerate() {
        for e in p["entries"].as_array().expect("entries") {
            if let Some(t) = e["fwd"]["pipe"].as_u64() {
                assert!((t as usize) < i, "pipe {i} forwards to later pipe {t}");
            }
        }
    }
}

#[test]
fn kitchen_sink_compiles_with_gcc() {
    let a = run(&kitchen_sink(), &Options::default()).expect("emits");
    gcc_check("sink", &a.c);
}

#[test]
fn deterministic() {
    let a = run(&kitchen_sink(), &Options::default()).expect("emits");
    let b = run(&kitchen_sink(), &Options::default()).expect("emits");
    assert_eq!(a, b);
}

#[test]
fn acl_tables_split_at_the_entry_limit() {
    let o = Options {
        acl_max_entries: 2,
        ..Options::default()
    };
    let a = run(&kitchen_sink(), &o).expect("emits");
    let v: serde_json::Value = serde_json::from_str(&a.json).expect("json");
    let acl: Vec<&serde_json::Value> = v["pipes"]
        .as_array()
        .expect("pipes")
        .iter()
        .filter(|p| p["type"] == "ACL" && p["name"].as_str().expect("name").contains("main_rules"))
        .collect();
    assert!(acl.len() >= 2, "expected chained ACL pipes");
    assert!(acl
        .iter()
        .all(|p| p["entries"].as_array().expect("e").len() <= 2));
    assert!(a.report.contains("chained pipes"));
    gcc_check("sink_split", &a.c);
}

fn first_rule_with(p: &mut Program, steps: Vec<Step>, end: End) {
    p.rules[0].actions = Actions { steps, end };
}

fn assert_refused(p: &Program, rule: &str, what: &str) {
    let e = run(p, &Options::default()).expect_err("must refuse");
    let msg = e.to_string();
    assert!(msg.starts_with("target doca:"), "{msg}");
    assert!(msg.contains(rule), "{msg} does not name {rule}");
    assert!(msg.contains(what), "{msg} does not mention {what}");
}

#[test]
fn refuses_reject() {
    let mut p = kitchen_sink();
    first_rule_with(&mut p, vec![], End::Terminal(Terminal::Reject));
    assert_refused(&p, "main.block", "reject");
}

#[test]
fn refuses_log() {
    let mut p = kitchen_sink();
    first_rule_with(
        &mut p,
        vec![Step::Log {
            prefix: None,
            sample: None,
        }],
        End::Terminal(Terminal::Drop),
    );
    assert_refused(&p, "main.block", "log");
}

#[test]
fn refuses_mirror() {
    let mut p = kitchen_sink();
    first_rule_with(&mut p, vec![Step::Mirror(2)], End::Terminal(Terminal::Drop));
    assert_refused(&p, "main.block", "mirror");
}

#[test]
fn refuses_per_key_meter() {
    let mut p = kitchen_sink();
    p.meters[0].per = vec![f(Field::Ip4Src)];
    p.meters[0].max_keys = 1024;
    assert_refused(&p, "main.web", "per-key");
}

#[test]
fn refuses_conntrack_fields() {
    let mut p = kitchen_sink();
    p.tables[1]
        .keys
        .push(key(KeySource::Field(f(Field::CtState)), MatchKind::Exact));
    for (i, e) in p.tables[1].entries.iter_mut().enumerate() {
        e.matches
            .push(if i == 1 { Match::Exact(1) } else { Match::Any });
    }
    assert_refused(&p, "main.syn_to_dmz", "ct.state");
}

#[test]
fn refuses_reject_default() {
    let mut p = kitchen_sink();
    p.policies[0].default = Some(Terminal::Reject);
    p.nodes[2] = Node::Verdict(Terminal::Reject);
    assert_refused(&p, "main (default)", "reject");
}

#[test]
fn token_bucket_is_mapped_and_reported() {
    let mut p = kitchen_sink();
    p.meters[0].kind = MeterKind::TokenBucket {
        rate: 1000,
        burst: 100,
    };
    p.meters[0].unit = MeterUnit::Packets;
    let a = run(&p, &Options::default()).expect("emits");
    assert!(a.report.contains("token bucket as RFC 2697"));
    assert!(a.json.contains("DOCA_FLOW_METER_LIMIT_TYPE_PACKETS"));
}
