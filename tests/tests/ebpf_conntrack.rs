//! Connection tracking in the kernel against the software tracker.
//!
//! A focused test drives a four-entry table through expiry, the purge of a
//! full table and both `on_full` behaviours. A property test then runs
//! random packet sequences (TCP with every flag combination that matters,
//! UDP, ICMP echo, ICMP errors quoting tracked and untracked tuples, tuples
//! equal to their reverse, IPv4 and IPv6, clocks that jump forwards and
//! back) through random trackers (0 to 4 entries, drop or evict, zones by
//! port, marks, `notrack`): every verdict, rule, mark, event and the live
//! connection count must be what the software pipeline says.

use dpuc_ir::test::{ExpectVerdict, L4Spec, PacketSpec};
use dpuc_runtime::ebpf::Ebpf;
use dpuc_runtime::exec::{Event, Machine, Verdict};
use dpuc_runtime::testing::Target;
use dpuc_tests::{bpf_privileged, lower_text};
use proptest::prelude::*;
use std::net::IpAddr;

const MS: u64 = 1_000_000;
const S: u64 = 1_000 * MS;

/// Both targets, loaded with one policy.
struct Pair {
    ebpf: Ebpf,
    sw: Machine,
    text: String,
}

impl Pair {
    fn new(text: &str) -> Result<Pair, String> {
        let lowered = lower_text("ct.dpl", text)?;
        let program = lowered.program;
        let ebpf = Ebpf::for_program(&program).map_err(|e| format!("{text}\n{e}"))?;
        let sw = Machine::new(program).map_err(|e| e.to_string())?;
        Ok(Pair {
            ebpf,
            sw,
            text: text.to_string(),
        })
    }

    /// Sends `frame` on port number `port` at `now` to both; an error
    /// describes the first difference (verdict, rule, mark, events).
    fn send(&mut self, frame: &[u8], port: u32, now: u64) -> Result<ExpectVerdict, String> {
        let want = self.sw.process(frame, port, now);
        let got = self.ebpf.send(frame, port, now)?;
        let verdict = match want.verdict {
            Verdict::Accept { .. } => ExpectVerdict::Accept,
            Verdict::Forward(p) => ExpectVerdict::Forward(p),
            Verdict::Drop | Verdict::Reject => ExpectVerdict::Drop,
        };
        let mark = want
            .values
            .get(dpuc_ir::FieldRef::outer(dpuc_ir::Field::MetaMark)) as u32;
        let events: Vec<Event> = self
            .ebpf
            .take_events()
            .into_iter()
            .map(|r| r.event)
            .collect();
        let seen = (got.verdict, got.rule, got.mark, events);
        let expected = (verdict, want.rule, mark, want.events);
        if seen != expected {
            return Err(format!(
                "at {now} ns on port {port}, frame {frame:02x?}:\n  sw   {expected:?}\n  ebpf {seen:?}\nof\n{}",
                self.text
            ));
        }
        Ok(verdict)
    }

    fn count(&mut self, now: u64) -> Result<(u64, u64), String> {
        Ok((
            self.sw.conntrack_count(now),
            self.ebpf.conntrack_count(now)?,
        ))
    }
}

fn udp(src: &str, sport: u16, dst: &str, dport: u16) -> Vec<u8> {
    let spec = PacketSpec::new(
        src.parse().expect("address"),
        dst.parse().expect("address"),
        L4Spec::Udp { sport, dport },
    );
    dpuc_runtime::craft::build(&spec).expect("frame")
}

#[test]
fn a_full_table_purges_expired_entries_then_drops_or_evicts_the_oldest() {
    if !bpf_privileged() {
        return;
    }
    for on_full in ["drop", "evict_oldest"] {
        let text = format!(
            "port a = 0;\nport b = 1;\nconntrack {{ max_entries 4; on_full {on_full}; timeout udp 10s; timeout udp_stream 20s; }}\n\
             policy out {{ default accept; }}\n\
             policy back {{ rule est: ct.state == established => accept; default drop; }}\n\
             pipeline {{ a -> b via out; b -> a via back; }}\n"
        );
        let mut t = Pair::new(&text).unwrap_or_else(|e| panic!("{e}"));
        let flow = |i: u16| udp("10.0.0.1", 1000 + i, "10.0.0.9", 53);
        let reply = |i: u16| udp("10.0.0.9", 53, "10.0.0.1", 1000 + i);
        let mut now = 0;
        // Fill the table, one connection per second: 0..3.
        for i in 0..4 {
            assert_eq!(t.send(&flow(i), 0, now), Ok(ExpectVerdict::Accept));
            now += S;
        }
        assert_eq!(t.count(now), Ok((4, 4)));
        // Flow 1 becomes a stream (20 s) and the most recently used.
        assert_eq!(t.send(&reply(1), 1, now), Ok(ExpectVerdict::Accept));
        // Full: a fifth flow is refused (drop) or evicts flow 0, the least
        // recently used (evict_oldest).
        let v = t.send(&flow(4), 0, now).unwrap_or_else(|e| panic!("{e}"));
        let evicting = on_full == "evict_oldest";
        assert_eq!(
            v,
            if evicting {
                ExpectVerdict::Accept
            } else {
                ExpectVerdict::Drop
            }
        );
        let dropped_reply = t.send(&reply(0), 1, now).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            dropped_reply,
            if evicting {
                ExpectVerdict::Drop
            } else {
                ExpectVerdict::Accept
            }
        );
        // 10.5 s after flow 3 every one-way flow has expired: the stream
        // (flow 1) and, when it was not evicted, flow 0 (replied) remain.
        // The full table purges the dead entries and takes new flows.
        now += 10 * S + S / 2;
        let live = if evicting { 1 } else { 2 };
        assert_eq!(t.count(now), Ok((live, live)));
        for i in 10..12 {
            assert_eq!(t.send(&flow(i), 0, now), Ok(ExpectVerdict::Accept));
        }
        assert_eq!(t.send(&reply(1), 1, now), Ok(ExpectVerdict::Accept));
        assert_eq!(t.count(now), Ok((live + 2, live + 2)));
        // Expired exactly at its timeout, not a nanosecond before.
        let last_reply = now;
        assert_eq!(
            t.send(&reply(1), 1, last_reply + 20 * S - 1),
            Ok(ExpectVerdict::Accept)
        );
        now = last_reply + 20 * S - 1 + 20 * S;
        assert_eq!(t.send(&reply(1), 1, now), Ok(ExpectVerdict::Drop));
    }
}

#[test]
fn a_table_of_no_entries_refuses_every_connection() {
    if !bpf_privileged() {
        return;
    }
    let text = "conntrack { max_entries 0; }\npolicy p { rule inv: ct.state == invalid => drop; default accept; }\n";
    let mut t = Pair::new(text).unwrap_or_else(|e| panic!("{e}"));
    let f = udp("10.0.0.1", 1, "10.0.0.2", 2);
    for now in [0, S] {
        assert_eq!(t.send(&f, 0, now), Ok(ExpectVerdict::Drop));
    }
    assert_eq!(t.count(S), Ok((0, 0)));
}

/// A host of the random universe: three per family.
fn host(v6: bool, i: u8) -> IpAddr {
    if v6 {
        format!("2001:db8::{}", i + 1).parse().expect("v6")
    } else {
        format!("10.0.0.{}", i + 1).parse().expect("v4")
    }
}

/// A flow of the random universe: family, hosts, ports (or echo id) and
/// protocol (6, 17, 1 for echo, or an untracked one). Packets go either
/// way along one of a few flows, so conversations happen.
#[derive(Clone, Copy, Debug)]
struct Flow {
    v6: bool,
    a: u8,
    b: u8,
    sport: u16,
    dport: u16,
    proto: u8,
}

fn flow() -> impl Strategy<Value = Flow> {
    let h = 0u8..3;
    let port = prop_oneof![Just(1u16), Just(2), Just(53), Just(9)];
    (
        any::<bool>(),
        h.clone(),
        h,
        port.clone(),
        port,
        prop_oneof![6 => Just(6u8), 3 => Just(17), 2 => Just(1), 1 => Just(47), 1 => Just(132)],
    )
        .prop_map(|(v6, a, b, sport, dport, proto)| Flow {
            v6,
            a,
            b,
            sport,
            dport,
            proto,
        })
}

/// One random packet along flow `flow`: the next step of the flow's
/// script (`step` = how many steps on: 0 repeats the last, 2 skips one), or
/// with random direction `back` and TCP flags / echo reply bit `bits`; an
/// ICMP error (type `error`) quoting such a packet instead of the packet
/// itself; cut short by `cut` bytes; with byte `poke.0` (after Ethernet)
/// overwritten by `poke.1` (broken versions, header lengths, offsets).
#[derive(Clone, Copy, Debug)]
struct Pkt {
    flow: usize,
    step: Option<usize>,
    back: bool,
    bits: u8,
    error: Option<u8>,
    cut: usize,
    poke: Option<(usize, u8)>,
}

/// A TCP conversation (direction, flags): handshake, data, both FINs and
/// their ACKs, then a new SYN on TIME_WAIT; UDP and echo alternate ways.
const SCRIPT: [(bool, u8); 9] = [
    (false, 0x02),
    (true, 0x12),
    (false, 0x10),
    (true, 0x10),
    (false, 0x11),
    (true, 0x10),
    (true, 0x11),
    (false, 0x10),
    (false, 0x02),
];

fn pkt() -> impl Strategy<Value = Pkt> {
    (
        0usize..3,
        prop_oneof![2 => Just(None), 8 => Just(Some(1usize)), 1 => Just(Some(0)), 1 => Just(Some(2))],
        any::<bool>(),
        prop_oneof![
            Just(0x02u8),
            Just(0x12),
            Just(0x10),
            Just(0x11),
            Just(0x01),
            Just(0x04),
            Just(0x14),
            Just(0x03),
            Just(0x00)
        ],
        prop_oneof![8 => Just(None), 1 => Just(Some(3u8)), 1 => Just(Some(11)), 1 => Just(Some(0))],
        prop_oneof![12 => Just(0usize), 1 => Just(1), 1 => Just(12)],
        prop_oneof![12 => Just(None), 1 => (0usize..80, any::<u8>()).prop_map(Some)],
    )
        .prop_map(|(flow, step, back, bits, error, cut, poke)| Pkt {
            flow,
            step,
            back,
            bits,
            error,
            cut,
            poke,
        })
}

fn spec(f: &Flow, back: bool, bits: u8) -> PacketSpec {
    let (a, b, sport, dport) = if back {
        (f.b, f.a, f.dport, f.sport)
    } else {
        (f.a, f.b, f.sport, f.dport)
    };
    let l4 = match f.proto {
        6 => L4Spec::Tcp {
            sport,
            dport,
            flags: bits,
        },
        17 => L4Spec::Udp { sport, dport },
        1 => {
            let reply = bits & 0x10 != 0;
            L4Spec::Icmp {
                ty: match (f.v6, reply) {
                    (false, false) => 8,
                    (false, true) => 0,
                    (true, false) => 128,
                    (true, true) => 129,
                },
                code: 0,
                id: f.sport,
                seq: 1,
            }
        }
        p => L4Spec::Proto(p),
    };
    let mut s = PacketSpec::new(host(f.v6, a), host(f.v6, b), l4);
    // Room for an SCTP header (or a quoted GRE packet's first 8 bytes)
    // unless the flags say otherwise: without it SCTP is malformed.
    if matches!(f.proto, 47 | 132) && bits & 0x10 == 0 {
        s.len = Some(if f.v6 { 80 } else { 60 });
    }
    s
}

/// The frame of `p`. An error is an ICMP(v6) message of the quoted
/// packet's family from host 1 to the quoted source, carrying the quoted
/// packet's IP header and first 8 bytes of L4.
fn frame(flows: &[Flow], p: &Pkt, at: &mut [usize]) -> Vec<u8> {
    let i = p.flow % flows.len();
    let f = flows[i];
    let (back, bits) = match p.step {
        Some(n) => {
            at[i] += n;
            let (back, bits) = SCRIPT[at[i] % SCRIPT.len()];
            let back = if f.proto == 6 { back } else { at[i] % 2 == 1 };
            (back, if back { bits | 0x10 } else { bits })
        }
        None => (p.back, p.bits),
    };
    let q = spec(&f, back, bits);
    let Ok(inner) = dpuc_runtime::craft::build(&q) else {
        return Vec::new();
    };
    let mut out = match p.error {
        None => inner,
        Some(ty) => {
            let ip_len = if f.v6 { 40 } else { 20 };
            let quote = &inner[14..(14 + ip_len + 8).min(inner.len())];
            // ICMPv6 errors are types 1-4; 0 is not an error in either.
            let ty = match (f.v6, ty) {
                (_, 0) => 0,
                (true, t) => t % 4 + 1,
                (false, t) => t,
            };
            let outer = PacketSpec::new(
                host(f.v6, 0),
                q.src,
                L4Spec::Icmp {
                    ty,
                    code: 3,
                    id: 0,
                    seq: 0,
                },
            );
            let Ok(mut e) = dpuc_runtime::craft::build(&outer) else {
                return Vec::new();
            };
            e.extend_from_slice(quote);
            let payload = (e.len() - 14 - if f.v6 { 40 } else { 0 }) as u16;
            let at = if f.v6 { 14 + 4 } else { 14 + 2 };
            e[at..at + 2].copy_from_slice(&payload.to_be_bytes());
            e
        }
    };
    out.truncate(out.len().saturating_sub(p.cut).max(14));
    if let Some((at, b)) = p.poke {
        if let Some(x) = out.get_mut(14 + at) {
            *x = b;
        }
    }
    out
}

/// How time moves before a packet.
fn step() -> impl Strategy<Value = i64> {
    prop_oneof![
        12 => Just(0i64),
        10 => Just(100 * MS as i64),
        4 => Just(S as i64),
        3 => Just(5 * S as i64),
        1 => Just(12 * S as i64),
        1 => Just(-(2 * S as i64)),
    ]
}

fn tracker_policy() -> impl Strategy<Value = String> {
    (
        prop_oneof![1 => Just(0u64), 6 => 1u64..5, 2 => Just(16)],
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(n, evict, zone, marks)| {
        let on_full = if evict { "on_full evict_oldest;" } else { "" };
        let zone = if zone { "zone in_port;" } else { "" };
        let mark = if marks {
            "    rule mk: ct.state == new and udp.dport == 53 => set ct.mark = 5, accept;\n    rule seen: ct.mark == 5 => count c, accept;\n"
        } else {
            ""
        };
        format!(
            "port a = 0;\nport b = 1;\ncounter c;\n\
             conntrack {{ max_entries {n}; {on_full} {zone} timeout tcp_handshake 3s; timeout tcp_established 10s; timeout tcp_closing 2s; timeout udp 3s; timeout udp_stream 8s; timeout icmp 2s; }}\n\
             policy p {{\n\
             {mark}    rule quiet: udp.dport == 9 => notrack, accept;\n\
                 rule rel: ct.state == related => accept;\n\
                 rule inv: ct.state == invalid and tcp.dport == 2 => drop;\n\
                 rule reply: ct.state == established and ct.direction == reply => accept;\n\
                 rule orig: ct.state == established => count c, accept;\n\
                 rule refused: tcp.dport == 53 => drop;\n\
                 rule untracked: ct.state == untracked => drop;\n\
                 default accept;\n\
             }}\n\
             pipeline {{ a -> b via p; b -> a via p; }}\n"
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn random_traffic_is_tracked_as_sw_tracks_it(
        text in tracker_policy(),
        flows in prop::collection::vec(flow(), 3),
        packets in prop::collection::vec((pkt(), 0u32..2, step()), 1..64),
    ) {
        if !bpf_privileged() {
            return Ok(());
        }
        let mut t = Pair::new(&text).map_err(TestCaseError::fail)?;
        let mut now: u64 = 10 * S;
        let mut at = [SCRIPT.len() - 1; 3];
        for (p, port, dt) in &packets {
            now = now.saturating_add_signed(*dt);
            let f = frame(&flows, p, &mut at);
            prop_assume!(f.len() >= 14);
            t.send(&f, *port, now)
                .map_err(|e| TestCaseError::fail(format!("{e}\nflows {flows:?}")))?;
            let (a, b) = t.count(now).map_err(TestCaseError::fail)?;
            prop_assert_eq!(a, b, "conntrack count after {:?} at {} of\n{}\n{:?}", p, now, text, flows);
        }
        let counts = (t.sw.counter(0), t.ebpf.counter(0).map_err(TestCaseError::fail)?);
        prop_assert_eq!(counts.0, counts.1, "counter c of\n{}", text);
    }
}

#[test]
fn the_tc_program_tracks_and_meters_per_key_as_the_xdp_program_does() {
    if !bpf_privileged() {
        return;
    }
    use dpuc_runtime::testing::{run_suite, Software};
    for file in [
        "tests/conformance/ct-tcp.dpl",
        "tests/conformance/ct-related-tcp-v6.dpl",
        "tests/conformance/ct-zones-full.dpl",
        "tests/conformance/meter-per-key.dpl",
    ] {
        let path = dpuc_tests::repo_root().join(file);
        let (_, lowered) = dpuc_tests::lower_file(&path).unwrap_or_else(|e| panic!("{e}"));
        let program = &lowered.program;
        let valid = dpuc_ir::validate(program).expect("valid");
        let options = dpuc_ebpf::Options {
            test_clock: true,
            hooks: vec![dpuc_ebpf::Hook::Tc],
        };
        let a = dpuc_ebpf::emit(&valid, &options).unwrap_or_else(|e| panic!("{file}: {e}"));
        let mut tc = Ebpf::load(&a.object, a.layout, program.clone())
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(tc.entry(), "dpuc_tc");
        let mut sw = Software::new(program.clone()).expect("valid");
        let want = run_suite(&mut sw, program, &lowered.suite);
        let got = run_suite(&mut tc, program, &lowered.suite);
        for (a, b) in want.iter().zip(&got) {
            assert!(b.failures.is_empty(), "{file}: {:?}", b.failures);
            assert_eq!(a.observations, b.observations, "{file}: {}", a.name);
        }
    }
}

#[test]
fn the_bound_is_exact_where_the_kernel_counts_elements_per_cpu() {
    if !bpf_privileged() {
        return;
    }
    // Above `2 × CPUs × 32` entries the kernel counts hash elements with a
    // per-CPU counter; it must still refuse exactly the 301st connection.
    let text = "conntrack { max_entries 300; timeout udp 10s; }\npolicy p { default accept; }\n";
    let mut t = Pair::new(text).unwrap_or_else(|e| panic!("{e}"));
    for i in 0..300u16 {
        let f = udp("10.0.0.1", 1000 + i, "10.0.0.2", 53);
        assert_eq!(t.send(&f, 0, 0), Ok(ExpectVerdict::Accept), "flow {i}");
    }
    let extra = udp("10.0.0.1", 9, "10.0.0.2", 53);
    assert_eq!(t.send(&extra, 0, 0), Ok(ExpectVerdict::Drop));
    assert_eq!(t.count(0), Ok((300, 300)));
    // All expired: the purge empties the table for the next one.
    assert_eq!(t.send(&extra, 0, 10 * S), Ok(ExpectVerdict::Accept));
    assert_eq!(t.count(10 * S), Ok((1, 1)));
}
