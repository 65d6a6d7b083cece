//! Frames built per §8 parse back to what was asked; truncated, odd and
//! random frames never panic and report the malformed layer.

use dpuc_ir::test::{Encap, EncapKind, FragSpec, L4Spec, PacketSpec};
use dpuc_runtime::craft::build;
use dpuc_runtime::packet::{parse, Frag, Malformed, Tunnel, L4};
use proptest::prelude::*;
use std::net::IpAddr;

fn spec(src: &str, dst: &str, l4: L4Spec) -> PacketSpec {
    let ip = |s: &str| s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
    PacketSpec::new(ip(src), ip(dst), l4)
}

fn tcp(flags: u8) -> L4Spec {
    L4Spec::Tcp {
        sport: 51000,
        dport: 22,
        flags,
    }
}

fn frame(s: &PacketSpec) -> Vec<u8> {
    build(s).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn tcp_over_ipv4_has_the_exact_layout_and_parses_back() {
    let f = frame(&spec("192.168.100.7", "10.0.1.5", tcp(0x02)));
    assert_eq!(f.len(), 54, "Ethernet 14 + IPv4 20 + TCP 20");
    let p = parse(&f);
    let ip = p.outer.ip.unwrap_or_else(|| panic!("no ip"));
    assert_eq!(ip.src, "192.168.100.7".parse::<IpAddr>().unwrap_or(ip.dst));
    assert_eq!((ip.proto, ip.ttl, ip.frag), (6, 64, Frag::None));
    assert_eq!(
        p.outer.l4,
        Some(L4::Tcp {
            sport: 51000,
            dport: 22,
            flags: 0x02
        })
    );
    assert_eq!(p.outer.malformed, None);
    // The IPv4 header checksum verifies to zero.
    let sum: u32 = f[14..34]
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    assert_eq!((sum & 0xffff) + (sum >> 16), 0xffff);
}

#[test]
fn every_option_round_trips() {
    let mut s = spec(
        "2001:db8::1",
        "2001:db8::2",
        L4Spec::Udp {
            sport: 5353,
            dport: 53,
        },
    );
    s.vlan = Some(7);
    s.dscp = 46;
    s.ecn = 1;
    s.ttl = 3;
    s.len = Some(200);
    let f = frame(&s);
    assert_eq!(f.len(), 200);
    let p = parse(&f);
    assert_eq!(p.outer.vlan.map(|v| v.id), Some(7));
    let ip = p.outer.ip.unwrap_or_else(|| panic!("no ip"));
    assert_eq!((ip.dscp, ip.ecn, ip.ttl), (46, 1, 3));
    assert_eq!(
        p.outer.l4,
        Some(L4::Udp {
            sport: 5353,
            dport: 53
        })
    );
}

#[test]
fn icmp_echo_in_both_families() {
    for (src, dst, ty, v6) in [
        ("192.0.2.1", "10.0.0.1", 8, false),
        ("2001:db8::1", "2001:db8::2", 128, true),
    ] {
        let f = frame(&spec(
            src,
            dst,
            L4Spec::Icmp {
                ty,
                code: 0,
                id: 7,
                seq: 3,
            },
        ));
        assert_eq!(
            parse(&f).outer.l4,
            Some(L4::Icmp {
                v6,
                ty,
                code: 0,
                id: 7,
                seq: 3
            })
        );
    }
}

#[test]
fn fragments_hide_l4_in_later_fragments() {
    for (src, dst) in [("10.0.0.1", "10.0.0.2"), ("2001:db8::1", "2001:db8::2")] {
        let mut s = spec(src, dst, tcp(0x02));
        s.frag = FragSpec::First;
        let p = parse(&frame(&s));
        assert_eq!(p.outer.ip.map(|i| i.frag), Some(Frag::First));
        assert!(p.outer.l4.is_some());
        s.frag = FragSpec::Later;
        let p = parse(&frame(&s));
        assert_eq!(
            p.outer.ip.map(|i| (i.frag, i.proto)),
            Some((Frag::Later, 6))
        );
        assert_eq!(p.outer.l4, None);
    }
}

#[test]
fn vxlan_and_geneve_carry_a_parsed_inner_frame() {
    for (kind, tunnel) in [
        (EncapKind::Vxlan, Tunnel::Vxlan(5001)),
        (EncapKind::Geneve, Tunnel::Geneve(5001)),
    ] {
        let mut outer = spec(
            "192.0.2.1",
            "192.0.2.2",
            L4Spec::Udp {
                sport: 1,
                dport: 4789,
            },
        );
        outer.encap = Some(Box::new(Encap {
            kind,
            vni: 5001,
            inner: spec("10.50.0.1", "10.50.0.2", tcp(0x12)),
        }));
        let p = parse(&frame(&outer));
        assert_eq!(p.outer.tunnel, Some(tunnel));
        let inner = p.inner.unwrap_or_else(|| panic!("no inner frame"));
        assert_eq!(
            inner.l4,
            Some(L4::Tcp {
                sport: 51000,
                dport: 22,
                flags: 0x12
            })
        );
    }
}

#[test]
fn two_vlan_tags_and_ipv4_options() {
    let base = frame(&spec("10.0.0.1", "10.0.0.2", tcp(0x10)));
    // Insert a 802.1ad tag and an 802.1Q tag, and 4 bytes of IPv4 options.
    let mut f = base[..12].to_vec();
    f.extend_from_slice(&[0x88, 0xa8, 0x20, 0x0a, 0x81, 0x00, 0x00, 0x14, 0x08, 0x00]);
    let mut ip = base[14..34].to_vec();
    ip[0] = 0x46;
    ip[3] += 4;
    f.extend_from_slice(&ip);
    f.extend_from_slice(&[1, 1, 1, 0]);
    f.extend_from_slice(&base[34..]);
    let p = parse(&f);
    assert_eq!(p.outer.vlan.map(|v| (v.id, v.pcp)), Some((10, 1)));
    assert_eq!(
        p.outer.l4,
        Some(L4::Tcp {
            sport: 51000,
            dport: 22,
            flags: 0x10
        })
    );
}

#[test]
fn ipv6_extension_headers_are_walked_up_to_eight() {
    let base = frame(&spec("2001:db8::1", "2001:db8::2", tcp(0x02)));
    let with_ext = |n: usize| {
        let mut f = base[..54].to_vec();
        f[20] = if n == 0 { 6 } else { 60 };
        for i in 0..n {
            f.extend_from_slice(&[if i + 1 == n { 6 } else { 60 }, 0, 1, 4, 0, 0, 0, 0]);
        }
        f.extend_from_slice(&base[54..]);
        let payload = (f.len() - 54) as u16;
        f[18..20].copy_from_slice(&payload.to_be_bytes());
        parse(&f)
    };
    assert!(with_ext(8).outer.l4.is_some());
    assert_eq!(with_ext(9).outer.malformed, Some(Malformed::L3));
}

#[test]
fn every_truncation_is_safe_and_names_the_layer() {
    let f = frame(&spec("10.0.0.1", "10.0.0.2", tcp(0x02)));
    for n in 0..f.len() {
        let p = parse(&f[..n]);
        let expected = match n {
            0..=13 => Some(Malformed::L2),
            // IPv4 claims 40 bytes that are not all there.
            _ => Some(Malformed::L3),
        };
        assert_eq!(p.outer.malformed, expected, "length {n}");
        assert_eq!(p.outer.l4, None);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let p = parse(&bytes);
        prop_assert_eq!(p.len, bytes.len());
    }

    #[test]
    fn corrupted_valid_frames_never_panic(pos in 0usize..54, val in any::<u8>(), cut in 0usize..54) {
        let mut f = frame(&spec("10.0.0.1", "10.0.0.2", tcp(0x02)));
        f[pos] = val;
        f.truncate(54 - cut);
        let _ = parse(&f);
    }
}

/// The one's-complement sum of `data` folded to 16 bits.
fn fold(data: &[u8], mut sum: u32) -> u32 {
    for c in data.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum
}

#[test]
fn l4_checksums_verify_with_the_pseudo_header() {
    for (src, dst, l4, proto) in [
        ("10.0.0.1", "10.0.0.2", tcp(0x02), 6u32),
        (
            "10.0.0.1",
            "10.0.0.2",
            L4Spec::Udp {
                sport: 1,
                dport: 53,
            },
            17,
        ),
        (
            "2001:db8::1",
            "2001:db8::2",
            L4Spec::Udp {
                sport: 1,
                dport: 53,
            },
            17,
        ),
        (
            "2001:db8::1",
            "2001:db8::2",
            L4Spec::Icmp {
                ty: 128,
                code: 0,
                id: 1,
                seq: 1,
            },
            58,
        ),
    ] {
        let f = frame(&spec(src, dst, l4));
        let v4 = f[12..14] == [0x08, 0x00];
        let (addrs, l4_at) = if v4 {
            (&f[26..34], 34)
        } else {
            (&f[22..54], 54)
        };
        let pseudo = fold(addrs, 0) + proto + (f.len() - l4_at) as u32;
        assert_eq!(fold(&f[l4_at..], pseudo), 0xffff, "{src} proto {proto}");
    }
}
