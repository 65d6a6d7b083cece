//! The eBPF parser against the software parser on odd frames: random
//! well-formed frames (VLAN tags, IPv6, fragments, VXLAN/Geneve inner frames,
//! ICMP) cut short at random lengths and with random bytes overwritten. A
//! policy of probe rules, one per field, counts which predicates hold; the
//! verdict, the deciding rule and every rule's hit count must agree.

use dpuc_ir::test::{Encap, EncapKind, FragSpec, L4Spec, PacketSpec};
use dpuc_runtime::ebpf::Ebpf;
use dpuc_runtime::testing::{Software, Target};
use dpuc_tests::{bpf_privileged, lower_text};
use proptest::prelude::*;
use std::net::IpAddr;

const PROBES: &[&str] = &[
    "ip.src == 10.0.0.1",
    "ip.dst == 2001:db8::2",
    "ip.version == 6",
    "eth.type == ipv4",
    "eth.type == vlan",
    "eth.src == 02:00:00:00:00:01",
    "vlan.id == 5",
    "vlan.pcp == 0",
    "ip.dscp == 10",
    "ip.ecn == 0",
    "ip.ttl == 64",
    "ip.proto == 17",
    "ip.frag == first",
    "ip.frag == later",
    "ip.frag == none",
    "tcp.flags == syn",
    "tcp.dport == 80",
    "udp.sport == 53",
    "l4.dport == 80",
    "sctp",
    "icmp.type == echo-request",
    "icmp.code == 0",
    "vxlan.vni == 100",
    "geneve.vni == 7",
    "inner.ip.src == 10.0.0.2",
    "inner.tcp.dport == 80",
    "inner.ip.version == 6",
    "meta.len > 100",
    "tcp",
    "udp",
    "icmp",
];

fn addr() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        Just("10.0.0.1".parse().expect("v4")),
        Just("10.0.0.2".parse().expect("v4")),
        Just("2001:db8::1".parse().expect("v6")),
        Just("2001:db8::2".parse().expect("v6")),
    ]
}

fn l4() -> impl Strategy<Value = L4Spec> {
    prop_oneof![
        (
            prop_oneof![Just(53u16), Just(1000)],
            prop_oneof![Just(80u16), Just(53)],
            prop_oneof![Just(0x02u8), Just(0x12), Just(0x10)]
        )
            .prop_map(|(sport, dport, flags)| L4Spec::Tcp {
                sport,
                dport,
                flags
            }),
        (
            prop_oneof![Just(53u16), Just(1000)],
            prop_oneof![Just(80u16), Just(4789), Just(6081)]
        )
            .prop_map(|(sport, dport)| L4Spec::Udp { sport, dport }),
        (prop_oneof![Just(8u8), Just(0), Just(128), Just(3)], 0u8..2).prop_map(|(ty, code)| {
            L4Spec::Icmp {
                ty,
                code,
                id: 7,
                seq: 1,
            }
        }),
        prop_oneof![Just(132u8), Just(47)].prop_map(L4Spec::Proto),
    ]
}

fn spec(inner: Option<PacketSpec>) -> impl Strategy<Value = PacketSpec> {
    (
        addr(),
        addr(),
        l4(),
        proptest::option::of(prop_oneof![Just(5u16), Just(6)]),
        prop_oneof![Just(0u8), Just(10)],
        prop_oneof![Just(64u8), Just(1)],
        prop_oneof![
            Just(FragSpec::None),
            Just(FragSpec::First),
            Just(FragSpec::Later)
        ],
        proptest::option::of(prop_oneof![Just(EncapKind::Vxlan), Just(EncapKind::Geneve)]),
    )
        .prop_map(move |(src, dst, l4, vlan, dscp, ttl, frag, encap)| {
            // The builder needs one family for both addresses.
            let dst = match (src, dst) {
                (IpAddr::V4(_), IpAddr::V6(_)) => "10.0.0.2".parse().expect("v4"),
                (IpAddr::V6(_), IpAddr::V4(_)) => "2001:db8::2".parse().expect("v6"),
                _ => dst,
            };
            let mut s = PacketSpec::new(src, dst, l4);
            s.vlan = vlan;
            s.dscp = dscp;
            s.ttl = ttl;
            s.frag = frag;
            if let (Some(kind), Some(inner)) = (encap, inner.clone()) {
                s.l4 = L4Spec::Udp {
                    sport: 1000,
                    dport: if kind == EncapKind::Vxlan { 4789 } else { 6081 },
                };
                s.frag = FragSpec::None;
                s.encap = Some(Box::new(Encap {
                    kind,
                    vni: if kind == EncapKind::Vxlan { 100 } else { 7 },
                    inner,
                }));
            }
            s
        })
}

/// A frame, cut at `cut` (as a fraction of its length) and with up to two
/// bytes overwritten.
fn frame() -> impl Strategy<Value = Vec<u8>> {
    (
        spec(None).prop_flat_map(|inner| spec(Some(inner))),
        0.0f64..1.3,
        proptest::collection::vec((0usize..120, any::<u8>()), 0..3),
    )
        .prop_filter_map("buildable", |(s, cut, pokes)| {
            let mut f = dpuc_runtime::craft::build(&s).ok()?;
            for (at, b) in pokes {
                if let Some(x) = f.get_mut(at) {
                    *x = b;
                }
            }
            let keep = ((f.len() as f64) * cut) as usize;
            f.truncate(keep.max(14));
            Some(f)
        })
}

fn policy() -> String {
    let mut text = String::from("counter c;\npolicy p {\n");
    for (i, probe) in PROBES.iter().enumerate() {
        text.push_str(&format!("    rule f{i}: {probe} => count c;\n"));
    }
    text.push_str("    rule last: ip.src == 10.0.0.1 and tcp => drop;\n    default accept;\n}\n");
    text
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn odd_frames_parse_alike(frames in proptest::collection::vec(frame(), 1..8)) {
        if !bpf_privileged() {
            return Ok(());
        }
        thread_local! {
            static LOADED: std::cell::RefCell<Option<(Ebpf, Software, dpuc_ir::Program)>> = const { std::cell::RefCell::new(None) };
        }
        LOADED.with(|cell| -> Result<(), TestCaseError> {
            let mut slot = cell.borrow_mut();
            if slot.is_none() {
                let lowered = lower_text("probes.dpl", &policy()).map_err(TestCaseError::fail)?;
                let program = lowered.program;
                let ebpf = Ebpf::for_program(&program).map_err(|e| TestCaseError::fail(e.to_string()))?;
                let sw = Software::new(program.clone()).map_err(|e| TestCaseError::fail(e.to_string()))?;
                *slot = Some((ebpf, sw, program));
            }
            let Some((ebpf, sw, program)) = slot.as_mut() else {
                return Err(TestCaseError::fail("not loaded"));
            };
            for f in &frames {
                ebpf.reset().map_err(TestCaseError::fail)?;
                sw.reset().map_err(TestCaseError::fail)?;
                let a = sw.send(f, 0, 0).map_err(TestCaseError::fail)?;
                let b = ebpf.send(f, 0, 0).map_err(TestCaseError::fail)?;
                prop_assert_eq!(&a, &b, "frame {:02x?}", f);
                for r in 0..program.rules.len() as u32 {
                    let (x, y) = (sw.rule_hits(r), ebpf.rule_hits(r));
                    prop_assert_eq!(x, y, "rule {} on frame {:02x?}", PROBES.get(r as usize).unwrap_or(&"last"), f);
                }
            }
            Ok(())
        })?;
    }
}
