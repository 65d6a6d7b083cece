//! The header set: every field a table can match on or an action can write,
//! with its width. Fields here are concrete: `ip.src` of DPL becomes
//! [`Field::Ip4Src`] or [`Field::Ip6Src`] by family.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A header whose presence can be tested.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Header {
    /// Ethernet (always present in a parsed frame).
    Eth,
    /// At least one 802.1Q/802.1ad tag.
    Vlan,
    /// IPv4 or IPv6.
    Ip,
    /// IPv4.
    Ipv4,
    /// IPv6.
    Ipv6,
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
    /// TCP, UDP or SCTP (the `l4.*` fields).
    L4,
    /// ICMPv4 or ICMPv6.
    Icmp,
    /// ICMPv4.
    Icmpv4,
    /// ICMPv6.
    Icmpv6,
    /// VXLAN.
    Vxlan,
    /// Geneve.
    Geneve,
}

/// A field of the parsed packet or of the packet's metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// Whether a header is present (1 bit).
    Valid(Header),
    /// Ingress port number.
    InPort,
    /// Packet mark.
    MetaMark,
    /// Frame length in bytes.
    MetaLen,
    /// Ethernet source.
    EthSrc,
    /// Ethernet destination.
    EthDst,
    /// EtherType after VLAN tags.
    EthType,
    /// Outermost VLAN id.
    VlanId,
    /// Outermost VLAN priority.
    VlanPcp,
    /// 4 or 6.
    IpVersion,
    /// IPv4 source.
    Ip4Src,
    /// IPv4 destination.
    Ip4Dst,
    /// IPv6 source.
    Ip6Src,
    /// IPv6 destination.
    Ip6Dst,
    /// L4 protocol (after IPv6 extension headers).
    IpProto,
    /// DSCP.
    IpDscp,
    /// ECN.
    IpEcn,
    /// TTL or hop limit.
    IpTtl,
    /// Fragment position: 0 none, 1 first, 2 later.
    IpFrag,
    /// TCP source port.
    TcpSport,
    /// TCP destination port.
    TcpDport,
    /// TCP flags byte.
    TcpFlags,
    /// UDP source port.
    UdpSport,
    /// UDP destination port.
    UdpDport,
    /// TCP, UDP or SCTP source port.
    L4Sport,
    /// TCP, UDP or SCTP destination port.
    L4Dport,
    /// ICMP type (either family).
    IcmpType,
    /// ICMP code (either family).
    IcmpCode,
    /// VXLAN network identifier.
    VxlanVni,
    /// Geneve network identifier.
    GeneveVni,
    /// Connection state (see [`crate::CtState`]).
    CtState,
    /// Connection mark.
    CtMark,
    /// 0 original, 1 reply.
    CtDirection,
}

/// Every header, in declaration order.
pub const HEADERS: [Header; 14] = [
    Header::Eth,
    Header::Vlan,
    Header::Ip,
    Header::Ipv4,
    Header::Ipv6,
    Header::Tcp,
    Header::Udp,
    Header::Sctp,
    Header::L4,
    Header::Icmp,
    Header::Icmpv4,
    Header::Icmpv6,
    Header::Vxlan,
    Header::Geneve,
];

/// How many distinct [`Field`]s exist (the size of [`Field::index`]'s range).
pub const FIELD_COUNT: usize = HEADERS.len() + 32;

impl Field {
    /// A dense index in `0..FIELD_COUNT`, for per-packet value arrays.
    pub fn index(self) -> usize {
        use Field::*;
        let plain = match self {
            Valid(h) => return h as usize,
            InPort => 0,
            MetaMark => 1,
            MetaLen => 2,
            EthSrc => 3,
            EthDst => 4,
            EthType => 5,
            VlanId => 6,
            VlanPcp => 7,
            IpVersion => 8,
            Ip4Src => 9,
            Ip4Dst => 10,
            Ip6Src => 11,
            Ip6Dst => 12,
            IpProto => 13,
            IpDscp => 14,
            IpEcn => 15,
            IpTtl => 16,
            IpFrag => 17,
            TcpSport => 18,
            TcpDport => 19,
            TcpFlags => 20,
            UdpSport => 21,
            UdpDport => 22,
            L4Sport => 23,
            L4Dport => 24,
            IcmpType => 25,
            IcmpCode => 26,
            VxlanVni => 27,
            GeneveVni => 28,
            CtState => 29,
            CtMark => 30,
            CtDirection => 31,
        };
        HEADERS.len() + plain
    }

    /// Width in bits.
    pub fn width(self) -> u32 {
        use Field::*;
        match self {
            Valid(_) | CtDirection => 1,
            InPort | MetaMark | CtMark => 32,
            MetaLen | EthType | TcpSport | TcpDport | UdpSport | UdpDport | L4Sport | L4Dport => 16,
            EthSrc | EthDst => 48,
            VlanId => 12,
            VlanPcp | CtState => 3,
            IpVersion => 4,
            Ip4Src | Ip4Dst => 32,
            Ip6Src | Ip6Dst => 128,
            IpProto | IpTtl | TcpFlags | IcmpType | IcmpCode => 8,
            IpDscp => 6,
            IpEcn | IpFrag => 2,
            VxlanVni | GeneveVni => 24,
        }
    }

    /// The largest value the field can hold.
    pub fn max_value(self) -> u128 {
        match self.width() {
            128 => u128::MAX,
            w => (1u128 << w) - 1,
        }
    }

    /// The header that must be present for the field to have a value;
    /// `None` for metadata that always has one.
    pub fn header(self) -> Option<Header> {
        use Field::*;
        Some(match self {
            Valid(_) | InPort | MetaMark | MetaLen | CtState | CtMark | CtDirection => return None,
            EthSrc | EthDst | EthType => Header::Eth,
            VlanId | VlanPcp => Header::Vlan,
            IpVersion | IpProto | IpDscp | IpEcn | IpTtl | IpFrag => Header::Ip,
            Ip4Src | Ip4Dst => Header::Ipv4,
            Ip6Src | Ip6Dst => Header::Ipv6,
            TcpSport | TcpDport | TcpFlags => Header::Tcp,
            UdpSport | UdpDport => Header::Udp,
            L4Sport | L4Dport => Header::L4,
            IcmpType | IcmpCode => Header::Icmp,
            VxlanVni => Header::Vxlan,
            GeneveVni => Header::Geneve,
        })
    }

    /// Whether an action may rewrite it.
    pub fn rewritable(self) -> bool {
        matches!(
            self,
            Field::IpDscp | Field::IpEcn | Field::VlanPcp | Field::MetaMark | Field::CtMark
        )
    }
}

/// A field of the outer packet or of the encapsulated (`inner.*`) one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FieldRef {
    /// Whether it is the encapsulated packet's field.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub inner: bool,
    /// The field.
    pub field: Field,
}

impl FieldRef {
    /// The field as a diagnostic names it to users: `` `tcp.dport` ``, or
    /// "the presence of `vlan`" for a header's validity bit (which users
    /// never write as such: `tcp.dport == 22` implies `tcp`).
    pub fn describe(&self) -> String {
        match self.field {
            Field::Valid(h) => {
                let inner = if self.inner { "inner." } else { "" };
                format!("the presence of `{inner}{h}`")
            }
            _ => format!("`{self}`"),
        }
    }

    /// An outer field.
    pub fn outer(field: Field) -> Self {
        FieldRef {
            inner: false,
            field,
        }
    }

    /// The presence bit of this field's header, in the same layer.
    pub fn presence(self) -> Option<FieldRef> {
        self.field.header().map(|h| FieldRef {
            inner: self.inner,
            field: Field::Valid(h),
        })
    }
}

impl Header {
    /// The header's name in DPL (`tcp`, `ipv6`, `l4`...).
    pub fn name(self) -> &'static str {
        match self {
            Header::Eth => "eth",
            Header::Vlan => "vlan",
            Header::Ip => "ip",
            Header::Ipv4 => "ipv4",
            Header::Ipv6 => "ipv6",
            Header::Tcp => "tcp",
            Header::Udp => "udp",
            Header::Sctp => "sctp",
            Header::L4 => "l4",
            Header::Icmp => "icmp",
            Header::Icmpv4 => "icmpv4",
            Header::Icmpv6 => "icmpv6",
            Header::Vxlan => "vxlan",
            Header::Geneve => "geneve",
        }
    }
}

impl fmt::Display for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Field::*;
        let s = match self {
            Valid(h) => return write!(f, "{h}.$valid"),
            InPort => "in_port",
            MetaMark => "meta.mark",
            MetaLen => "meta.len",
            EthSrc => "eth.src",
            EthDst => "eth.dst",
            EthType => "eth.type",
            VlanId => "vlan.id",
            VlanPcp => "vlan.pcp",
            IpVersion => "ip.version",
            Ip4Src => "ipv4.src",
            Ip4Dst => "ipv4.dst",
            Ip6Src => "ipv6.src",
            Ip6Dst => "ipv6.dst",
            IpProto => "ip.proto",
            IpDscp => "ip.dscp",
            IpEcn => "ip.ecn",
            IpTtl => "ip.ttl",
            IpFrag => "ip.frag",
            TcpSport => "tcp.sport",
            TcpDport => "tcp.dport",
            TcpFlags => "tcp.flags",
            UdpSport => "udp.sport",
            UdpDport => "udp.dport",
            L4Sport => "l4.sport",
            L4Dport => "l4.dport",
            IcmpType => "icmp.type",
            IcmpCode => "icmp.code",
            VxlanVni => "vxlan.vni",
            GeneveVni => "geneve.vni",
            CtState => "ct.state",
            CtMark => "ct.mark",
            CtDirection => "ct.direction",
        };
        f.write_str(s)
    }
}

impl fmt::Display for FieldRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.inner {
            f.write_str("inner.")?;
        }
        self.field.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_are_dense_and_distinct() {
        let mut all: Vec<Field> = HEADERS.iter().map(|h| Field::Valid(*h)).collect();
        use Field::*;
        all.extend([
            InPort,
            MetaMark,
            MetaLen,
            EthSrc,
            EthDst,
            EthType,
            VlanId,
            VlanPcp,
            IpVersion,
            Ip4Src,
            Ip4Dst,
            Ip6Src,
            Ip6Dst,
            IpProto,
            IpDscp,
            IpEcn,
            IpTtl,
            IpFrag,
            TcpSport,
            TcpDport,
            TcpFlags,
            UdpSport,
            UdpDport,
            L4Sport,
            L4Dport,
            IcmpType,
            IcmpCode,
            VxlanVni,
            GeneveVni,
            CtState,
            CtMark,
            CtDirection,
        ]);
        let mut idx: Vec<usize> = all.iter().map(|f| f.index()).collect();
        idx.sort_unstable();
        assert_eq!(idx, (0..FIELD_COUNT).collect::<Vec<_>>());
    }
}
