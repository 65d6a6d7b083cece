//! The simulator's pipe semantics on hand-built models: ACL priority, LPM
//! longest match, `fwd_miss` chaining, meter colours, malformed models.

use super::*;
use dpuc_doca::model::{DocaField, FieldMatch, Metadata, Monitor, SharedMeter};
use dpuc_ir::test::{Color, ExpectVerdict};

fn program(rules: usize) -> Program {
    let text = (0..rules)
        .map(|i| format!("rule r{i}: tcp.dport == {i} => drop;"))
        .collect::<Vec<_>>()
        .join("\n");
    let src = format!("policy p {{ {text} default accept; }}");
    let mut sources = dpuc_core::span::SourceMap::new();
    let root = sources.add("t.dpl", src);
    let checked = dpuc_core::check::check(&mut sources, root, &mut NoLoader);
    let ast = checked.program.expect("checks");
    dpuc_core::lower::lower(&ast, &sources, "t")
        .map_err(|_| "lowering failed")
        .expect("lowers")
        .program
}

struct NoLoader;
impl dpuc_core::Loader for NoLoader {
    fn load(&mut self, _: &str, p: &str) -> Result<(String, String), String> {
        Err(format!("no {p}"))
    }
}

fn pipe(id: u32, ty: PipeType, fields: &[DocaField], miss: Option<Fwd>) -> Pipe {
    Pipe {
        id,
        name: format!("p{id}"),
        ty,
        is_root: false,
        purpose: String::new(),
        l3: L3::Any,
        l4: L4::Any,
        match_fields: fields.to_vec(),
        write_fields: vec![],
        monitor: Monitor::default(),
        fwd_miss: miss,
        fwd: None,
        table: None,
        entries: vec![],
    }
}

fn entry(
    priority: u32,
    matches: &[(DocaField, u128, u128)],
    fwd: Fwd,
    rule: Option<u32>,
) -> PipeEntry {
    PipeEntry {
        priority,
        matches: matches
            .iter()
            .map(|&(field, value, mask)| FieldMatch { field, value, mask })
            .collect(),
        writes: vec![],
        fwd,
        counter: None,
        meter: None,
        rule,
        verdict_rule: rule,
    }
}

fn model(mut pipes: Vec<Pipe>, meters: Vec<SharedMeter>) -> Pipes {
    if let Some(last) = pipes.last_mut() {
        last.is_root = true;
    }
    Pipes {
        program: "t".into(),
        api: String::new(),
        ports: String::new(),
        metadata: Metadata::default(),
        shared_counters: vec![],
        shared_meters: meters,
        counter_ids: vec![],
        pipes,
        ct: None,
    }
}

/// Ethernet / IPv4 10.0.0.1 → `dst` / TCP 1000 → `dport`.
fn tcp(dst: &str, dport: u16) -> Vec<u8> {
    let dst: std::net::Ipv4Addr = dst.parse().expect("address");
    let mut f = vec![0u8; 12];
    f.extend([0x08, 0x00]);
    f.extend([0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1]);
    f.extend(dst.octets());
    f.extend(1000u16.to_be_bytes());
    f.extend(dport.to_be_bytes());
    f.extend([0, 0, 0, 0, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0]);
    f
}

const DST: DocaField = DocaField::Ip4Dst;
const DPORT: DocaField = DocaField::TcpDst;

#[test]
fn acl_lowest_priority_value_wins() {
    let mut acl = pipe(0, PipeType::Acl, &[DPORT], Some(Fwd::Kernel));
    acl.entries
        .push(entry(5, &[(DPORT, 0, 0)], Fwd::Kernel, Some(1)));
    acl.entries
        .push(entry(2, &[(DPORT, 80, 0xffff)], Fwd::Drop, Some(0)));
    let p = program(2);
    let mut d = Doca::new(model(vec![acl], vec![]), &p).expect("model");
    let o = d.send(&tcp("10.0.0.2", 80), 0, 0).expect("send");
    assert_eq!((o.verdict, o.rule), (ExpectVerdict::Drop, Some(0)));
    let o = d.send(&tcp("10.0.0.2", 81), 0, 0).expect("send");
    assert_eq!((o.verdict, o.rule), (ExpectVerdict::Accept, Some(1)));
    assert_eq!(d.rule_hits(0), Ok(1));
    assert_eq!(d.rule_hits(1), Ok(1));
}

#[test]
fn lpm_longest_prefix_wins_whatever_the_order() {
    let mut lpm = pipe(0, PipeType::Lpm, &[DST], Some(Fwd::Kernel));
    lpm.entries.push(entry(
        0,
        &[(DST, 0x0a00_0000, 0xff00_0000)],
        Fwd::Kernel,
        Some(0),
    ));
    lpm.entries.push(entry(
        0,
        &[(DST, 0x0a01_0000, 0xffff_0000)],
        Fwd::Drop,
        Some(1),
    ));
    let mut d = Doca::new(model(vec![lpm], vec![]), &program(2)).expect("model");
    let o = d.send(&tcp("10.1.2.3", 1), 0, 0).expect("send");
    assert_eq!((o.verdict, o.rule), (ExpectVerdict::Drop, Some(1)));
    let o = d.send(&tcp("10.2.2.3", 1), 0, 0).expect("send");
    assert_eq!((o.verdict, o.rule), (ExpectVerdict::Accept, Some(0)));
    let o = d.send(&tcp("11.0.0.1", 1), 0, 0).expect("send");
    assert_eq!((o.verdict, o.rule), (ExpectVerdict::Accept, None));
}

#[test]
fn misses_chain_through_fwd_miss_and_a_pipe_without_one_drops() {
    let mut last = pipe(0, PipeType::Acl, &[DPORT], None);
    last.entries
        .push(entry(0, &[(DPORT, 22, 0xffff)], Fwd::Kernel, Some(1)));
    let mut first = pipe(1, PipeType::Acl, &[DPORT], Some(Fwd::Pipe(0)));
    first
        .entries
        .push(entry(0, &[(DPORT, 80, 0xffff)], Fwd::Kernel, Some(0)));
    let mut d = Doca::new(model(vec![last, first], vec![]), &program(2)).expect("model");
    let o = d.send(&tcp("10.0.0.2", 22), 0, 0).expect("send");
    assert_eq!((o.verdict, o.rule), (ExpectVerdict::Accept, Some(1)));
    let o = d.send(&tcp("10.0.0.2", 23), 0, 0).expect("send");
    assert_eq!((o.verdict, o.rule), (ExpectVerdict::Drop, None));
}

#[test]
fn srtcm_meter_colours_and_the_colour_pipe_steers() {
    // 1 packet/s, CBS 2, EBS 1: green, green, yellow, red; a second later green.
    let meter = SharedMeter {
        name: "m".into(),
        alg: "DOCA_FLOW_METER_ALGORITHM_TYPE_RFC2697".into(),
        limit_type: "DOCA_FLOW_METER_LIMIT_TYPE_PACKETS".into(),
        cir: 1,
        cbs: 2,
        ebs: Some(1),
        pir: None,
        pbs: None,
    };
    let mc = DocaField::MeterColor;
    let mut colors = pipe(0, PipeType::Control, &[mc], None);
    colors
        .entries
        .push(entry(0, &[(mc, 2, 3)], Fwd::Kernel, None));
    colors
        .entries
        .push(entry(0, &[(mc, 1, 3)], Fwd::Port(7), None));
    colors
        .entries
        .push(entry(0, &[(mc, 0, 3)], Fwd::Drop, Some(0)));
    let mut m = pipe(1, PipeType::Basic, &[], None);
    let mut e = entry(0, &[], Fwd::Pipe(0), None);
    e.meter = Some(0);
    m.entries.push(e);
    let mut p = program(1);
    p.ports.push(dpuc_ir::Port {
        name: "x".into(),
        number: 7,
    });
    let mut d = Doca::new(model(vec![colors, m], vec![meter]), &p).expect("model");
    let s = 1_000_000_000;
    let seen: Vec<(ExpectVerdict, Option<Color>)> = [0, 1, 2, 3, s + 3]
        .iter()
        .map(|&t| {
            let o = d.send(&tcp("10.0.0.2", 1), 0, t).expect("send");
            (o.verdict, o.color)
        })
        .collect();
    use Color::*;
    assert_eq!(
        seen,
        vec![
            (ExpectVerdict::Accept, Some(Green)),
            (ExpectVerdict::Accept, Some(Green)),
            (ExpectVerdict::Forward(0), Some(Yellow)),
            (ExpectVerdict::Drop, Some(Red)),
            (ExpectVerdict::Accept, Some(Green)),
        ]
    );
    d.reset().expect("reset");
    let o = d.send(&tcp("10.0.0.2", 1), 0, 10).expect("send");
    assert_eq!(o.color, Some(Green));
}

#[test]
fn malformed_models_are_errors() {
    let p = program(1);
    // Forward to a later pipe (a possible loop).
    let mut a = pipe(0, PipeType::Basic, &[], None);
    a.entries.push(entry(0, &[], Fwd::Pipe(1), None));
    let b = pipe(1, PipeType::Basic, &[], None);
    assert!(Doca::new(model(vec![a, b], vec![]), &p).is_err());
    // No root.
    let mut m = model(vec![pipe(0, PipeType::Basic, &[], None)], vec![]);
    m.pipes[0].is_root = false;
    assert!(Doca::new(m, &p).is_err());
    // A rule the program does not have.
    let mut a = pipe(0, PipeType::Basic, &[], None);
    a.entries.push(entry(0, &[], Fwd::Drop, Some(9)));
    assert!(Doca::new(model(vec![a], vec![]), &p).is_err());
    // An LPM mask that is not a prefix.
    let mut a = pipe(0, PipeType::Lpm, &[DST], None);
    a.entries
        .push(entry(0, &[(DST, 0, 0x00ff_0000)], Fwd::Drop, None));
    assert!(Doca::new(model(vec![a], vec![]), &p).is_err());
    // An unknown meter algorithm.
    let bad = SharedMeter {
        name: "m".into(),
        alg: "RFC9999".into(),
        limit_type: "DOCA_FLOW_METER_LIMIT_TYPE_PACKETS".into(),
        cir: 1,
        cbs: 1,
        ebs: None,
        pir: None,
        pbs: None,
    };
    assert!(Doca::new(
        model(vec![pipe(0, PipeType::Basic, &[], None)], vec![bad]),
        &p
    )
    .is_err());
}

#[test]
fn odd_frames_get_a_verdict() {
    let mut acl = pipe(0, PipeType::Acl, &[DPORT], Some(Fwd::Kernel));
    acl.entries
        .push(entry(0, &[(DPORT, 80, 0xffff)], Fwd::Drop, Some(0)));
    let mut d = Doca::new(model(vec![acl], vec![]), &program(1)).expect("model");
    for f in [&[][..], &[0u8; 5][..], &tcp("10.0.0.2", 80)[..30]] {
        let o = d.send(f, 0, 0).expect("send");
        assert_eq!(o.verdict, ExpectVerdict::Accept);
    }
    assert_eq!(
        d.send(&tcp("10.0.0.2", 80), 1 << 20, 0)
            .expect("send")
            .verdict,
        ExpectVerdict::Drop
    );
}

/// Lowers DPL `src` (no `use` of other files).
fn lower_dpl(src: &str) -> Program {
    let mut sources = dpuc_core::span::SourceMap::new();
    let root = sources.add("ct.dpl", src.to_string());
    let checked = dpuc_core::check::check(&mut sources, root, &mut NoLoader);
    let ast = checked.program.expect("checks");
    dpuc_core::lower::lower(&ast, &sources, "ct")
        .map_err(|_| "lowering failed")
        .expect("lowers")
        .program
}

/// Ethernet / IPv4 `src` → `dst` / UDP `sport` → `dport`.
fn udp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    f.extend([0x08, 0x00]);
    f.extend([0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0]);
    f.extend(src);
    f.extend(dst);
    f.extend(sport.to_be_bytes());
    f.extend(dport.to_be_bytes());
    f.extend([0, 8, 0, 0]);
    f
}

const TRACKED: &str = "
port a = 0;
port b = 1;
conntrack { max_entries 2; timeout udp 5s; timeout udp_stream 50s; }
policy from_a { rule closed: udp.dport == 54 => drop; default accept; }
policy from_b { rule est: ct.state == established => accept; default drop; }
pipeline { a -> b via from_a; b -> a via from_b; }
";

const S: u64 = 1_000_000_000;
const IN: [u8; 4] = [10, 0, 0, 1];
const OUT: [u8; 4] = [192, 0, 2, 9];

#[test]
fn commit_on_accept_through_the_connection_manager() {
    let p = lower_dpl(TRACKED);
    let mut d = Doca::for_program(&p).unwrap_or_else(|e| panic!("{e}"));
    let ct = d.pipes().ct.clone().expect("a tracker");
    assert_eq!(ct.max_entries, 2);
    let est = p.rule_id("from_b", "est");
    let closed = p.rule_id("from_a", "closed");
    let send = |d: &mut Doca, f: Vec<u8>, port: u32, t: u64| {
        let o = d.send(&f, port, t).unwrap_or_else(|e| panic!("{e}"));
        (o.verdict, o.rule)
    };
    // A dropped new packet leaves no connection: its reply is not established.
    let v = send(&mut d, udp(IN, OUT, 1, 54), 0, 0);
    assert_eq!(v, (ExpectVerdict::Drop, closed));
    assert_eq!(d.conntrack_count(0), Ok(0));
    assert_eq!(
        send(&mut d, udp(OUT, IN, 54, 1), 1, 0),
        (ExpectVerdict::Drop, None)
    );
    // An accepted one is committed by the manager, both directions.
    assert_eq!(
        send(&mut d, udp(IN, OUT, 1, 53), 0, 0),
        (ExpectVerdict::Accept, None)
    );
    assert_eq!(d.conntrack_count(0), Ok(1));
    assert_eq!(
        send(&mut d, udp(OUT, IN, 53, 1), 1, 0),
        (ExpectVerdict::Accept, est)
    );
    // The table holds two: a third new connection is dropped by no rule.
    assert_eq!(
        send(&mut d, udp(IN, OUT, 2, 53), 0, 0),
        (ExpectVerdict::Accept, None)
    );
    assert_eq!(
        send(&mut d, udp(IN, OUT, 3, 53), 0, 0),
        (ExpectVerdict::Drop, None)
    );
    assert_eq!(d.conntrack_count(0), Ok(2));
    d.reset().expect("reset");
    assert_eq!(d.conntrack_count(0), Ok(0));
}

#[test]
fn connections_age_out_with_their_state_timeout() {
    let p = lower_dpl(TRACKED);
    let mut d = Doca::for_program(&p).unwrap_or_else(|e| panic!("{e}"));
    let t = d.pipes().ct.as_ref().expect("a tracker").timeouts_s;
    assert_eq!((t.udp, t.udp_stream), (5, 50));
    let verdict = |d: &mut Doca, f: Vec<u8>, port: u32, at: u64| {
        d.send(&f, port, at)
            .unwrap_or_else(|e| panic!("{e}"))
            .verdict
    };
    // One way only: the udp timeout (5 s) from the last packet.
    assert_eq!(
        verdict(&mut d, udp(IN, OUT, 1, 53), 0, 0),
        ExpectVerdict::Accept
    );
    assert_eq!(
        verdict(&mut d, udp(IN, OUT, 1, 53), 0, 4 * S),
        ExpectVerdict::Accept
    );
    assert_eq!(
        verdict(&mut d, udp(OUT, IN, 53, 1), 1, 9 * S - 1),
        ExpectVerdict::Accept
    );
    // Both ways seen: udp_stream (50 s).
    assert_eq!(
        verdict(&mut d, udp(OUT, IN, 53, 1), 1, 58 * S),
        ExpectVerdict::Accept
    );
    assert_eq!(d.conntrack_count(108 * S), Ok(0));
    assert_eq!(
        verdict(&mut d, udp(OUT, IN, 53, 1), 1, 108 * S),
        ExpectVerdict::Drop
    );
    // After 5 s idle one way, the entry behaves as absent.
    assert_eq!(
        verdict(&mut d, udp(IN, OUT, 7, 53), 0, 200 * S),
        ExpectVerdict::Accept
    );
    assert_eq!(
        verdict(&mut d, udp(OUT, IN, 53, 7), 1, 205 * S),
        ExpectVerdict::Drop
    );
}

#[test]
fn a_new_connection_that_skips_the_manager_is_a_model_error() {
    let p = lower_dpl(TRACKED);
    let valid = dpuc_ir::validate(&p).expect("valid");
    let mut pipes = dpuc_doca::emit(&valid, &dpuc_doca::Options::default())
        .expect("emits")
        .pipes;
    // Break the exits: accepted new connections go straight to the port.
    let word = DocaField::MetaU32(pipes.ct.as_ref().expect("a tracker").words.state);
    for pipe in &mut pipes.pipes {
        pipe.entries.retain(|e| {
            !e.matches
                .iter()
                .any(|m| m.field == word && m.mask & u128::from(ct_bits::NEW_FLOW) != 0)
        });
    }
    let mut d = Doca::new(pipes, &p).expect("still a well-formed model");
    let e = d
        .send(&udp(IN, OUT, 1, 53), 0, 0)
        .expect_err("the simulator must notice the missed commit");
    assert!(e.contains("connection manager"), "{e}");
}

#[test]
fn the_manager_recording_lists_packets_entries_and_aged_connections() {
    let p = lower_dpl(TRACKED);
    let mut d = Doca::for_program(&p).unwrap_or_else(|e| panic!("{e}"));
    assert!(d.record_manager());
    let send = |d: &mut Doca, f: Vec<u8>, port: u32, t: u64| {
        d.send(&f, port, t).unwrap_or_else(|e| panic!("{e}"));
    };
    send(&mut d, udp(IN, OUT, 1, 53), 0, 0);
    // Plain packets the way of a live connection do not reach the manager.
    send(&mut d, udp(IN, OUT, 1, 53), 0, S);
    send(&mut d, udp(OUT, IN, 53, 1), 1, 2 * S);
    // 50 s after the last packet the device has aged the stream.
    send(&mut d, udp(IN, OUT, 2, 53), 0, 52 * S);
    let steps = d.manager_steps();
    let packet = |i: usize| match &steps[i] {
        ManagerStep::Packet(p) => p.clone(),
        s => panic!("step {i} is {s:?}"),
    };
    assert_eq!(steps.len(), 5, "{steps:?}");
    assert_eq!(steps[0], ManagerStep::Reset);
    let first = packet(1);
    assert_eq!((first.in_port, first.now_ns), (0, 0));
    assert_eq!(first.delivery, "port 1");
    assert_eq!(
        first.table,
        [
            "17 0 0a000001:1>c0000209:53 bits=21 mark=0 t=5",
            "17 0 c0000209:53>0a000001:1 bits=7 mark=0 t=5",
        ]
    );
    // The first reply is an event: both ways established, udp_stream.
    assert_eq!(
        packet(2).table,
        [
            "17 0 0a000001:1>c0000209:53 bits=25 mark=0 t=50",
            "17 0 c0000209:53>0a000001:1 bits=27 mark=0 t=50",
        ]
    );
    assert_eq!(
        steps[3],
        ManagerStep::Aged("17 0 0a000001:1>c0000209:53".into())
    );
    assert_eq!(packet(4).table.len(), 2);
}
