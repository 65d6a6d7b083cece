//! Random policies and random frames: the eBPF program, loaded by the
//! kernel's verifier, must decide every frame as the software pipeline does
//! (connection state included: frames run in sequence, and replies of
//! earlier frames' flows come up).
//! Shapes a hand-written corpus misses (no drop anywhere, only
//! continuing rules, overlapping prefixes and ranges, negations) come up
//! here.

use dpuc_runtime::ebpf::Ebpf;
use dpuc_runtime::testing::{Software, Target};
use dpuc_tests::{bpf_privileged, lower_text};
use proptest::prelude::*;

fn atom() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u8..4, 0u8..3, 8u8..=32).prop_map(|(a, b, l)| {
            let v = (10u32 << 24 | u32::from(a) << 16 | u32::from(b) << 8)
                & (u32::MAX << (32 - u32::from(l)));
            format!("ip.src == {}/{l}", std::net::Ipv4Addr::from(v))
        }),
        (0u8..4, 0u8..3).prop_map(|(a, b)| format!("ip.dst != 10.{a}.{b}.1")),
        (1u16..100, 0u16..50)
            .prop_map(|(lo, w)| format!("tcp.dport in {{ {lo}-{}, 443 }}", lo + w)),
        (1u16..100).prop_map(|p| format!("udp.sport == {p}")),
        (1u16..100).prop_map(|p| format!("l4.dport != {p}")),
        prop_oneof![
            Just("tcp"),
            Just("udp"),
            Just("icmp"),
            Just("ip.proto == 47")
        ]
        .prop_map(str::to_string),
        (0u8..64).prop_map(|d| format!("ip.dscp == {d}")),
        // Connection tracking: a policy with any of these has a tracker.
        prop_oneof![
            Just("ct.state == new"),
            Just("ct.state == established"),
            Just("ct.state == invalid"),
            Just("ct.state == untracked"),
            Just("ct.direction == reply"),
            Just("ct.mark == 7"),
        ]
        .prop_map(str::to_string),
    ]
}

fn rule(i: usize) -> impl Strategy<Value = String> {
    (
        prop::collection::vec(atom(), 0..3),
        prop_oneof![
            Just("accept"),
            Just("drop"),
            Just("count c"),
            Just("count c, drop"),
            Just("set ip.dscp = 10"),
            Just("set meta.mark = 7, accept"),
            Just("set ct.mark = 7, accept"),
            Just("notrack, accept"),
        ],
    )
        .prop_map(move |(atoms, action)| {
            format!("    rule r{i}: {} => {action};\n", atoms.join(" and "))
        })
}

fn policy() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(any::<u8>(), 1..7),
        prop_oneof![Just("accept"), Just("drop")],
    )
        .prop_flat_map(|(seeds, default)| {
            let rules: Vec<_> = (0..seeds.len()).map(rule).collect();
            rules.prop_map(move |rs| {
                format!(
                    "counter c;\npolicy p {{\n{}    default {default};\n}}\n",
                    rs.concat()
                )
            })
        })
}

/// Source, destination, source port, destination port, protocol.
type FiveTuple = (u32, u32, u16, u16, u8);

/// Random 5-tuples; `true` in the second place answers the previous
/// frame instead (its reverse tuple), so tracked flows see replies.
fn frames() -> impl Strategy<Value = Vec<(FiveTuple, bool)>> {
    prop::collection::vec(
        (
            (
                (0u32..4, 0u32..3, 0u32..3).prop_map(|(a, b, c)| 10 << 24 | a << 16 | b << 8 | c),
                (0u32..4, 0u32..3).prop_map(|(a, b)| 10 << 24 | a << 16 | b << 8 | 1),
                0u16..120,
                0u16..160,
                prop_oneof![Just(6u8), Just(17), Just(1), Just(47)],
            ),
            prop::bool::weighted(0.3),
        ),
        1..12,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_policies_decide_like_sw(text in policy(), packets in frames()) {
        if !bpf_privileged() {
            return Ok(());
        }
        let lowered = lower_text("random.dpl", &text).map_err(TestCaseError::fail)?;
        let program = &lowered.program;
        let mut ebpf = Ebpf::for_program(program)
            .map_err(|e| TestCaseError::fail(format!("{text}\n{e}")))?;
        let mut sw = Software::new(program.clone()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut previous = None;
        for (i, &(tuple, reply)) in packets.iter().enumerate() {
            let (src, dst, sport, dport, proto) = match previous {
                Some((s, d, sp, dp, p)) if reply => (d, s, dp, sp, p),
                _ => tuple,
            };
            previous = Some((src, dst, sport, dport, proto));
            let frame = dpuc_runtime::trace::frame(src, dst, sport, dport, proto);
            let a = sw.send(&frame, 0, 0).map_err(TestCaseError::fail)?;
            let b = ebpf.send(&frame, 0, 0).map_err(TestCaseError::fail)?;
            prop_assert_eq!(a, b, "frame {} of\n{}", i, text);
        }
        prop_assert_eq!(sw.counter(0), ebpf.counter(0), "counter c of\n{}", text);
    }
}
