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

/// The kitchen sink with a tracker (defaults of §5) and `ct.state ==
/// established` in rule `syn_to_dmz`'s place.
fn tracking_sink() -> Program {
    let mut p = kitchen_sink();
    p.conntrack = Some(Conntrack {
        max_entries: 1024,
        on_full: OnFull::Drop,
        timeouts: Timeouts {
            tcp_handshake: 30_000_000_000,
            tcp_established: 3_600_000_000_000,
            tcp_closing: 120_000_000_000,
            udp: 30_000_000_000,
            udp_stream: 180_000_000_000,
            icmp: 30_000_000_000,
            other: 600_000_000_000,
        },
        zone: vec![],
    });
    p.tables[1]
        .keys
        .push(key(KeySource::Field(f(Field::CtState)), MatchKind::Exact));
    for (i, e) in p.tables[1].entries.iter_mut().enumerate() {
        e.matches.push(if i == 1 {
            Match::Exact(CtState::Established as u128)
        } else {
            Match::Any
        });
    }
    p
}

#[test]
fn tracks_with_doca_flow_ct() {
    let a = run(&tracking_sink(), &Options::default()).expect("emits");
    let ct = a.pipes.ct.as_ref().expect("a tracker");
    assert_eq!(
        a.pipes.pipes[ct.pipe as usize].ty,
        dpuc_doca::model::PipeType::Ct
    );
    assert_eq!(ct.timeouts_s.tcp_established, 3600);
    assert_eq!(ct.max_entries, 1024);
    for name in [
        "doca_flow_ct_cfg_create",
        "doca_flow_ct_init",
        "doca_flow_ct_add_entry",
        "DOCA_FLOW_CT_ENTRY_FLAGS_DIR_REPLY",
        "DOCA_FLOW_FWD_RSS",
    ] {
        assert!(a.c.contains(name), "C lacks {name}");
    }
    // Every verdict goes through an exit pipe that can reach the manager.
    assert!(a.pipes.pipes.iter().any(|p| p
        .entries
        .iter()
        .any(|e| matches!(e.fwd, dpuc_doca::model::Fwd::Software(_)))));
    gcc_check("sink_ct", &a.c);
}

#[test]
fn refuses_conntrack_eviction_and_fractional_timeouts() {
    let mut p = tracking_sink();
    if let Some(c) = &mut p.conntrack {
        c.on_full = OnFull::EvictOldest;
    }
    assert_refused(&p, "conntrack", "evict");
    let mut p = tracking_sink();
    if let Some(c) = &mut p.conntrack {
        c.timeouts.udp = 1_500_000_000;
    }
    assert_refused(&p, "conntrack", "timeout udp 1500ms");
}

#[test]
fn refuses_ct_state_the_device_cannot_tell() {
    // A rule that ICMP errors reach and that tells `related` from
    // `invalid`.
    let mut p = tracking_sink();
    if let Some(m) = p.tables[1].entries[3].matches.last_mut() {
        *m = Match::Exact(CtState::Related as u128);
    }
    assert_refused(&p, "main.to_net", "ICMP errors");
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
