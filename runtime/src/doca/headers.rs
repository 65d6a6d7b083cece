//! What DOCA Flow's parser exposes of a frame: the match members of
//! [`DocaField`], read from the runtime parser's view of the outer layer,
//! plus the metadata the pipes write (`meta.u32`, `meta.pkt_meta`,
//! `parser_meta.meter_color`).

use crate::packet::{self, Layer, Malformed};
use dpuc_doca::model::{DocaField, L3, L4};
use std::net::IpAddr;

/// The members of one packet as the pipes see and rewrite them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Headers {
    /// Ingress port id.
    pub port: u16,
    /// Outer L3 type.
    pub l3: L3,
    /// Outer L4 type.
    pub l4: L4,
    /// `parser_meta.meter_color` (`enum doca_flow_meter_color`).
    pub meter_color: u8,
    /// `meta.pkt_meta`.
    pub pkt_meta: u32,
    /// `meta.u32[..]`.
    pub meta: Vec<u32>,
    eth_src: u128,
    eth_dst: u128,
    eth_type: u16,
    l2_valid: u16,
    vlan_tci: u16,
    ip_src: u128,
    ip_dst: u128,
    ip_proto: u8,
    ip_tc: u8,
    ip_ttl: u8,
    sport: u16,
    dport: u16,
    tcp_flags: u8,
    icmp_type: u8,
    icmp_code: u8,
    icmp_ident: u16,
}

/// `enum doca_flow_l3_meta` value of an L3 type.
pub fn l3_meta(l3: L3) -> u128 {
    match l3 {
        L3::Ip4 => 1,
        L3::Ip6 => 2,
        L3::Any | L3::None => 0,
    }
}

/// `enum doca_flow_l4_meta` value of an L4 type.
pub fn l4_meta(l4: L4) -> u128 {
    match l4 {
        L4::Tcp => 1,
        L4::Udp => 2,
        L4::Icmp => 3,
        L4::Any | L4::None => 0,
    }
}

fn mac(m: [u8; 6]) -> u128 {
    m.iter().fold(0u128, |a, b| (a << 8) | u128::from(*b))
}

impl Headers {
    /// The members of `parsed`'s outer layer, arrived on port `port`, with
    /// `meta_words` words of `meta.u32`.
    pub fn new(parsed: &packet::Parsed, port: u16, meta_words: usize) -> Headers {
        let mut h = Headers {
            port,
            l3: L3::None,
            l4: L4::None,
            meter_color: 0,
            pkt_meta: 0,
            meta: vec![0; meta_words],
            eth_src: 0,
            eth_dst: 0,
            eth_type: 0,
            l2_valid: 0,
            vlan_tci: 0,
            ip_src: 0,
            ip_dst: 0,
            ip_proto: 0,
            ip_tc: 0,
            ip_ttl: 0,
            sport: 0,
            dport: 0,
            tcp_flags: 0,
            icmp_type: 0,
            icmp_code: 0,
            icmp_ident: 0,
        };
        let l: &Layer = &parsed.outer;
        if l.malformed == Some(Malformed::L2) {
            return h;
        }
        h.eth_src = mac(l.eth_src);
        h.eth_dst = mac(l.eth_dst);
        h.eth_type = l.eth_type;
        if let Some(v) = l.vlan {
            h.l2_valid = 1;
            h.vlan_tci = (u16::from(v.pcp) << 13) | (v.id & 0x0fff);
        }
        if let Some(ip) = l.ip {
            h.l3 = match ip.src {
                IpAddr::V4(_) => L3::Ip4,
                IpAddr::V6(_) => L3::Ip6,
            };
            let addr = |a: IpAddr| match a {
                IpAddr::V4(x) => u128::from(u32::from(x)),
                IpAddr::V6(x) => u128::from(x),
            };
            h.ip_src = addr(ip.src);
            h.ip_dst = addr(ip.dst);
            h.ip_proto = ip.proto;
            h.ip_tc = (ip.dscp << 2) | (ip.ecn & 3);
            h.ip_ttl = ip.ttl;
        }
        match l.l4 {
            Some(packet::L4::Tcp {
                sport,
                dport,
                flags,
            }) => {
                h.l4 = L4::Tcp;
                (h.sport, h.dport, h.tcp_flags) = (sport, dport, flags);
            }
            Some(packet::L4::Udp { sport, dport }) => {
                h.l4 = L4::Udp;
                (h.sport, h.dport) = (sport, dport);
            }
            Some(packet::L4::Icmp { ty, code, id, .. }) => {
                h.l4 = L4::Icmp;
                (h.icmp_type, h.icmp_code, h.icmp_ident) = (ty, code, id);
            }
            // DOCA Flow's parser has no SCTP type: the L4 type is NONE.
            Some(packet::L4::Sctp { .. }) | None => {}
        }
        h
    }

    /// The value of member `f` (0 when its header is absent).
    pub fn get(&self, f: DocaField) -> u128 {
        use DocaField::*;
        let ip4 = self.l3 == L3::Ip4;
        let ip6 = self.l3 == L3::Ip6;
        let when = |present: bool, v: u128| if present { v } else { 0 };
        match f {
            PortId => self.port.into(),
            L3Meta => l3_meta(self.l3),
            L4Meta => l4_meta(self.l4),
            MeterColor => self.meter_color.into(),
            PktMeta => self.pkt_meta.into(),
            MetaU32(i) => self.meta.get(i as usize).copied().unwrap_or(0).into(),
            EthSrc => self.eth_src,
            EthDst => self.eth_dst,
            EthType => self.eth_type.into(),
            L2Valid => self.l2_valid.into(),
            VlanTci => self.vlan_tci.into(),
            Ip4Src => when(ip4, self.ip_src),
            Ip4Dst => when(ip4, self.ip_dst),
            Ip4Proto => when(ip4, self.ip_proto.into()),
            Ip4DscpEcn => when(ip4, self.ip_tc.into()),
            Ip4Ttl => when(ip4, self.ip_ttl.into()),
            Ip6Src => when(ip6, self.ip_src),
            Ip6Dst => when(ip6, self.ip_dst),
            Ip6Proto => when(ip6, self.ip_proto.into()),
            Ip6Tc => when(ip6, self.ip_tc.into()),
            Ip6Hop => when(ip6, self.ip_ttl.into()),
            TcpSrc => when(self.l4 == L4::Tcp, self.sport.into()),
            TcpDst => when(self.l4 == L4::Tcp, self.dport.into()),
            TcpFlags => when(self.l4 == L4::Tcp, self.tcp_flags.into()),
            UdpSrc => when(self.l4 == L4::Udp, self.sport.into()),
            UdpDst => when(self.l4 == L4::Udp, self.dport.into()),
            IcmpType => when(self.l4 == L4::Icmp, self.icmp_type.into()),
            IcmpCode => when(self.l4 == L4::Icmp, self.icmp_code.into()),
            IcmpIdent => when(self.l4 == L4::Icmp, self.icmp_ident.into()),
        }
    }

    /// Writes `value` into the `mask` bits of member `f`. Writes to a member
    /// of an absent header, and to members actions cannot modify, do
    /// nothing (as on the device: there is nothing to rewrite).
    pub fn write(&mut self, f: DocaField, value: u128, mask: u128) {
        let merge = |old: u128| (old & !mask) | (value & mask);
        let ip4 = self.l3 == L3::Ip4;
        let ip6 = self.l3 == L3::Ip6;
        match f {
            DocaField::PktMeta => self.pkt_meta = merge(self.pkt_meta.into()) as u32,
            DocaField::MetaU32(i) => {
                if let Some(w) = self.meta.get_mut(i as usize) {
                    *w = merge(u128::from(*w)) as u32;
                }
            }
            DocaField::VlanTci if self.l2_valid & 1 != 0 => {
                self.vlan_tci = merge(self.vlan_tci.into()) as u16;
            }
            DocaField::Ip4DscpEcn if ip4 => self.ip_tc = merge(self.ip_tc.into()) as u8,
            DocaField::Ip6Tc if ip6 => self.ip_tc = merge(self.ip_tc.into()) as u8,
            _ => {}
        }
    }

    /// `meta.u32[w]` (0 beyond the words the model uses).
    pub fn word(&self, w: u32) -> u32 {
        self.meta.get(w as usize).copied().unwrap_or(0)
    }

    /// `meta.mark`: in `meta.u32[w]` when the model says so, else
    /// `meta.pkt_meta`.
    pub fn mark(&self, word: Option<u32>) -> u32 {
        match word {
            Some(w) => self.word(w),
            None => self.pkt_meta,
        }
    }

    /// DSCP after rewrites (0 without IP).
    pub fn dscp(&self) -> u8 {
        if self.l3 == L3::None {
            0
        } else {
            self.ip_tc >> 2
        }
    }
}
