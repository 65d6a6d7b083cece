//! Per-key meters in the kernel against the software meters: random keyed
//! meters (every kind, packets or bytes, keys of one field or a tuple,
//! IPv4 and IPv6, 1 to 4 keys so that eviction is frequent) and random
//! packet sequences over a moving clock must colour every packet alike.

use dpuc_runtime::ebpf::Ebpf;
use dpuc_runtime::testing::{Software, Target};
use dpuc_tests::{bpf_privileged, lower_text};
use proptest::prelude::*;

const MS: u64 = 1_000_000;

fn meter() -> impl Strategy<Value = String> {
    (
        prop_oneof![
            Just("rate 2 pps burst 2 packets"),
            Just("srtcm cir 1 pps cbs 1 packets ebs 2 packets"),
            Just("trtcm cir 1 pps cbs 1 packets pir 3 pps pbs 2 packets"),
            Just("rate 8000 bps burst 200 B"),
        ],
        prop_oneof![
            Just("ip.src"),
            Just("(ip.src, tcp.dport)"),
            Just("l4.dport"),
            Just("(ip.dst, ip.proto)")
        ],
        1u32..5,
    )
        .prop_map(|(kind, per, max)| {
            format!(
                "meter m: {kind} per {per} max {max};\n\
                 counter c;\n\
                 policy p {{\n\
                     rule metered: ip => meter m {{ red => drop }}, count c, accept;\n\
                     default accept;\n\
                 }}\n"
            )
        })
}

fn frame() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<bool>(),
        0u8..3,
        0u8..2,
        prop_oneof![Just(6u8), Just(17), Just(47)],
        prop_oneof![Just(22u16), Just(80)],
        prop_oneof![Just(None), Just(Some(120u16))],
    )
        .prop_filter_map("buildable", |(v6, a, b, proto, dport, len)| {
            let host = |i: u8| -> std::net::IpAddr {
                if v6 {
                    format!("2001:db8::{}", i + 1).parse().expect("v6")
                } else {
                    format!("10.0.0.{}", i + 1).parse().expect("v4")
                }
            };
            let l4 = match proto {
                6 => dpuc_ir::test::L4Spec::Tcp {
                    sport: 1000,
                    dport,
                    flags: 2,
                },
                17 => dpuc_ir::test::L4Spec::Udp { sport: 1000, dport },
                p => dpuc_ir::test::L4Spec::Proto(p),
            };
            let mut s = dpuc_ir::test::PacketSpec::new(host(a), host(b + 1), l4);
            s.len = len;
            dpuc_runtime::craft::build(&s).ok()
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_keyed_meters_colour_like_sw(
        text in meter(),
        packets in prop::collection::vec(
            (frame(), prop_oneof![Just(0u64), Just(100 * MS), Just(700 * MS), Just(3000 * MS)]),
            1..40,
        ),
    ) {
        if !bpf_privileged() {
            return Ok(());
        }
        let lowered = lower_text("keyed.dpl", &text).map_err(TestCaseError::fail)?;
        let program = &lowered.program;
        let mut ebpf = Ebpf::for_program(program)
            .map_err(|e| TestCaseError::fail(format!("{text}\n{e}")))?;
        let mut sw = Software::new(program.clone()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut now = 0;
        for (i, (f, dt)) in packets.iter().enumerate() {
            now += dt;
            let a = sw.send(f, 0, now).map_err(TestCaseError::fail)?;
            let b = ebpf.send(f, 0, now).map_err(TestCaseError::fail)?;
            prop_assert_eq!(a, b, "packet {} at {} ns of\n{}", i, now, text);
        }
        prop_assert_eq!(sw.counter(0), ebpf.counter(0), "counter c of\n{}", text);
    }
}
