//! Field values from a parsed frame, and rewrites back into the frame.

use super::values::FieldValues;
use crate::packet::{self, Frag, Layer, Malformed, Tunnel, L4};
use dpuc_ir::{Field, FieldRef, Header};
use std::net::IpAddr;

/// Every field of `frame`, outer and inner; absent headers read as 0.
pub fn values(frame: &[u8], parsed: &packet::Parsed) -> FieldValues {
    let mut v = FieldValues::default();
    fill(&mut v, &parsed.outer, false);
    if let Some(inner) = &parsed.inner {
        fill(&mut v, inner, true);
    }
    v.set_outer(Field::MetaLen, frame.len() as u128);
    v
}

fn mac(m: [u8; 6]) -> u128 {
    m.iter().fold(0u128, |a, b| (a << 8) | u128::from(*b))
}

fn fill(v: &mut FieldValues, l: &Layer, inner: bool) {
    let mut set = |field: Field, value: u128| v.set(FieldRef { inner, field }, value);
    if l.malformed == Some(Malformed::L2) {
        return;
    }
    set(Field::Valid(Header::Eth), 1);
    set(Field::EthSrc, mac(l.eth_src));
    set(Field::EthDst, mac(l.eth_dst));
    set(Field::EthType, u128::from(l.eth_type));
    if let Some(t) = l.vlan {
        set(Field::Valid(Header::Vlan), 1);
        set(Field::VlanId, u128::from(t.id));
        set(Field::VlanPcp, u128::from(t.pcp));
    }
    if let Some(ip) = l.ip {
        set(Field::Valid(Header::Ip), 1);
        match (ip.src, ip.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                set(Field::Valid(Header::Ipv4), 1);
                set(Field::IpVersion, 4);
                set(Field::Ip4Src, u128::from(u32::from(s)));
                set(Field::Ip4Dst, u128::from(u32::from(d)));
            }
            (s, d) => {
                set(Field::Valid(Header::Ipv6), 1);
                set(Field::IpVersion, 6);
                let v6 = |a: IpAddr| match a {
                    IpAddr::V6(x) => u128::from(x),
                    IpAddr::V4(x) => u128::from(x.to_ipv6_mapped()),
                };
                set(Field::Ip6Src, v6(s));
                set(Field::Ip6Dst, v6(d));
            }
        }
        set(Field::IpProto, u128::from(ip.proto));
        set(Field::IpDscp, u128::from(ip.dscp));
        set(Field::IpEcn, u128::from(ip.ecn));
        set(Field::IpTtl, u128::from(ip.ttl));
        set(
            Field::IpFrag,
            match ip.frag {
                Frag::None => 0,
                Frag::First => 1,
                Frag::Later => 2,
            },
        );
    }
    match l.l4 {
        Some(L4::Tcp {
            sport,
            dport,
            flags,
        }) => {
            set(Field::Valid(Header::Tcp), 1);
            set(Field::Valid(Header::L4), 1);
            set(Field::TcpSport, sport.into());
            set(Field::TcpDport, dport.into());
            set(Field::TcpFlags, flags.into());
            set(Field::L4Sport, sport.into());
            set(Field::L4Dport, dport.into());
        }
        Some(L4::Udp { sport, dport }) => {
            set(Field::Valid(Header::Udp), 1);
            set(Field::Valid(Header::L4), 1);
            set(Field::UdpSport, sport.into());
            set(Field::UdpDport, dport.into());
            set(Field::L4Sport, sport.into());
            set(Field::L4Dport, dport.into());
        }
        Some(L4::Sctp { sport, dport }) => {
            set(Field::Valid(Header::Sctp), 1);
            set(Field::Valid(Header::L4), 1);
            set(Field::L4Sport, sport.into());
            set(Field::L4Dport, dport.into());
        }
        Some(L4::Icmp { v6, ty, code, .. }) => {
            set(Field::Valid(Header::Icmp), 1);
            set(
                Field::Valid(if v6 { Header::Icmpv6 } else { Header::Icmpv4 }),
                1,
            );
            set(Field::IcmpType, ty.into());
            set(Field::IcmpCode, code.into());
        }
        None => {}
    }
    match l.tunnel {
        Some(Tunnel::Vxlan(vni)) => {
            set(Field::Valid(Header::Vxlan), 1);
            set(Field::VxlanVni, vni.into());
        }
        Some(Tunnel::Geneve(vni)) => {
            set(Field::Valid(Header::Geneve), 1);
            set(Field::GeneveVni, vni.into());
        }
        None => {}
    }
}

/// Writes rewritten DSCP, ECN and VLAN PCP into `frame` (IPv4 checksum
/// fixed); other rewritable fields are metadata.
pub fn apply_rewrites(frame: &mut [u8], parsed: &packet::Parsed, v: &FieldValues) {
    let get = |f| v.get(FieldRef::outer(f)) as u8;
    if let (Some(at), Some(tag)) = (parsed.outer.vlan_offset, parsed.outer.vlan) {
        let pcp = get(Field::VlanPcp);
        if pcp != tag.pcp {
            if let Some(b) = frame.get_mut(at) {
                *b = (*b & 0x1f) | (pcp << 5);
            }
        }
    }
    let Some(ip) = parsed.outer.ip else { return };
    let (dscp, ecn) = (get(Field::IpDscp), get(Field::IpEcn));
    if (dscp, ecn) == (ip.dscp, ip.ecn) {
        return;
    }
    let tc = (dscp << 2) | (ecn & 3);
    match ip.src {
        IpAddr::V4(_) => {
            if frame.len() < ip.offset + 20 {
                return;
            }
            frame[ip.offset + 1] = tc;
            frame[ip.offset + 10] = 0;
            frame[ip.offset + 11] = 0;
            let ihl = usize::from(frame[ip.offset] & 0x0f) * 4;
            let Some(h) = frame.get(ip.offset..ip.offset + ihl) else {
                return;
            };
            let mut sum: u32 = h
                .chunks(2)
                .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
                .sum();
            while sum >> 16 != 0 {
                sum = (sum & 0xffff) + (sum >> 16);
            }
            let cs = (!(sum as u16)).to_be_bytes();
            frame[ip.offset + 10] = cs[0];
            frame[ip.offset + 11] = cs[1];
        }
        IpAddr::V6(_) => {
            if frame.len() < ip.offset + 2 {
                return;
            }
            frame[ip.offset] = 0x60 | (tc >> 4);
            frame[ip.offset + 1] = (frame[ip.offset + 1] & 0x0f) | (tc << 4);
        }
    }
}
