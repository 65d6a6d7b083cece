//! The field and header catalog of §4.2, with each field's type.

use super::hir::{LogicalField, Ty};
use dpuc_ir::{Field, FieldRef, Header};

/// What a dotted path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolved {
    /// A field and its value type.
    Field(LogicalField, Ty),
    /// A header (a presence test).
    Header(FieldRef),
}

const FIELDS: &[(&str, Ty)] = &[
    ("in_port", Ty::Int(32)),
    ("meta.mark", Ty::Int(32)),
    ("meta.len", Ty::Int(16)),
    ("eth.src", Ty::Mac),
    ("eth.dst", Ty::Mac),
    ("eth.type", Ty::Int(16)),
    ("vlan.id", Ty::Int(12)),
    ("vlan.pcp", Ty::Int(3)),
    ("ip.version", Ty::Int(4)),
    ("ip.src", Ty::Ip),
    ("ip.dst", Ty::Ip),
    ("ip.proto", Ty::Int(8)),
    ("ip.dscp", Ty::Int(6)),
    ("ip.ecn", Ty::Int(2)),
    ("ip.ttl", Ty::Int(8)),
    ("ip.frag", Ty::Frag),
    ("tcp.sport", Ty::Int(16)),
    ("tcp.dport", Ty::Int(16)),
    ("tcp.flags", Ty::Flags),
    ("udp.sport", Ty::Int(16)),
    ("udp.dport", Ty::Int(16)),
    ("l4.sport", Ty::Int(16)),
    ("l4.dport", Ty::Int(16)),
    ("icmp.type", Ty::IcmpType),
    ("icmp.code", Ty::Int(8)),
    ("vxlan.vni", Ty::Int(24)),
    ("geneve.vni", Ty::Int(24)),
    ("ct.state", Ty::CtState),
    ("ct.mark", Ty::Int(32)),
    ("ct.direction", Ty::CtDirection),
];

const HEADERS: &[(&str, Header)] = &[
    ("eth", Header::Eth),
    ("vlan", Header::Vlan),
    ("ip", Header::Ip),
    ("ipv4", Header::Ipv4),
    ("ipv6", Header::Ipv6),
    ("tcp", Header::Tcp),
    ("udp", Header::Udp),
    ("sctp", Header::Sctp),
    ("icmp", Header::Icmp),
    ("icmpv4", Header::Icmpv4),
    ("icmpv6", Header::Icmpv6),
    ("vxlan", Header::Vxlan),
    ("geneve", Header::Geneve),
];

/// Every name a path may take (for "did you mean" suggestions).
pub fn all_names() -> impl Iterator<Item = &'static str> {
    FIELDS
        .iter()
        .map(|(n, _)| *n)
        .chain(HEADERS.iter().map(|(n, _)| *n))
}

/// Fields that exist only in the outer packet.
fn outer_only(path: &str) -> bool {
    path.starts_with("meta.") || path.starts_with("ct.") || path == "in_port"
}

/// Resolves a dotted path (`tcp.dport`, `inner.ip.src`, `ipv6`).
pub fn resolve(path: &str) -> Option<Resolved> {
    let (inner, rest) = match path.strip_prefix("inner.") {
        Some(r) => (true, r),
        None => (false, path),
    };
    if inner && outer_only(rest) {
        return None;
    }
    if let Some((_, h)) = HEADERS.iter().find(|(n, _)| *n == rest) {
        return Some(Resolved::Header(FieldRef {
            inner,
            field: Field::Valid(*h),
        }));
    }
    let (_, ty) = FIELDS.iter().find(|(n, _)| *n == rest)?;
    let f = |field| FieldRef { inner, field };
    let logical = match rest {
        "ip.src" => LogicalField::Ip {
            v4: f(Field::Ip4Src),
            v6: f(Field::Ip6Src),
        },
        "ip.dst" => LogicalField::Ip {
            v4: f(Field::Ip4Dst),
            v6: f(Field::Ip6Dst),
        },
        "icmp.type" => LogicalField::IcmpType(f(Field::IcmpType)),
        _ => LogicalField::Field(f(concrete(rest)?)),
    };
    Some(Resolved::Field(logical, *ty))
}

fn concrete(path: &str) -> Option<Field> {
    use Field::*;
    Some(match path {
        "in_port" => InPort,
        "meta.mark" => MetaMark,
        "meta.len" => MetaLen,
        "eth.src" => EthSrc,
        "eth.dst" => EthDst,
        "eth.type" => EthType,
        "vlan.id" => VlanId,
        "vlan.pcp" => VlanPcp,
        "ip.version" => IpVersion,
        "ip.proto" => IpProto,
        "ip.dscp" => IpDscp,
        "ip.ecn" => IpEcn,
        "ip.ttl" => IpTtl,
        "ip.frag" => IpFrag,
        "tcp.sport" => TcpSport,
        "tcp.dport" => TcpDport,
        "tcp.flags" => TcpFlags,
        "udp.sport" => UdpSport,
        "udp.dport" => UdpDport,
        "l4.sport" => L4Sport,
        "l4.dport" => L4Dport,
        "icmp.code" => IcmpCode,
        "vxlan.vni" => VxlanVni,
        "geneve.vni" => GeneveVni,
        "ct.state" => CtState,
        "ct.mark" => CtMark,
        "ct.direction" => CtDirection,
        _ => return None,
    })
}

/// The type a `set NAME: TYPE` declares.
pub fn set_type(name: &str) -> Option<Ty> {
    Some(match name {
        "ip" => Ty::Ip,
        "mac" => Ty::Mac,
        "port" | "u16" => Ty::Int(16),
        "u8" | "proto" => Ty::Int(8),
        "u32" => Ty::Int(32),
        "dscp" => Ty::Int(6),
        "vni" => Ty::Int(24),
        "vlan" => Ty::Int(12),
        _ => return None,
    })
}

/// The set type names (for suggestions).
pub const SET_TYPES: [&str; 10] = [
    "ip", "mac", "port", "u8", "u16", "u32", "proto", "dscp", "vni", "vlan",
];
