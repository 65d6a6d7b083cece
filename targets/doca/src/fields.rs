//! IR fields → DOCA Flow match members, per packet variant.
//!
//! The root pipe sorts packets by outer L3 type and (when needed) L4 type,
//! and every node of the IR DAG is lowered once per such variant. Within a
//! variant every presence bit is a constant, and so is every field of an
//! absent header (it reads as 0), so entries are folded at compile time:
//! an entry whose constant keys do not match is left out, one whose
//! constant keys match drops them, and only fields of present headers are
//! matched by the hardware.

use crate::model::{ct_bits, CtWords, DocaField, L3, L4};
use dpuc_ir::{CtState, Field, FieldRef, Header};

/// A packet variant: the root pipe's steering outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Variant {
    /// Outer L3.
    pub l3: L3,
    /// Outer L4.
    pub l4: L4,
}

impl Variant {
    /// A short tag for pipe names.
    pub fn tag(self) -> String {
        let l3 = match self.l3 {
            L3::Any => "",
            L3::Ip4 => "v4",
            L3::Ip6 => "v6",
            L3::None => "nonip",
        };
        let l4 = match self.l4 {
            L4::Any => "",
            L4::Tcp => "_tcp",
            L4::Udp => "_udp",
            L4::Icmp => "_icmp",
            L4::None => "_nol4",
        };
        format!("{l3}{l4}")
    }
}

/// Where the program's metadata lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The member holding `meta.mark`.
    pub mark: DocaField,
    /// The tracker's words, when the program tracks.
    pub ct: Option<CtWords>,
}

/// `ct.state` of packets without an IP header (non-IP: untracked;
/// a malformed IP header: invalid), or with an IP header and no L4 header
/// the parser knows (other protocols, later fragments: untracked; a
/// truncated TCP/UDP/ICMP header: invalid). The device cannot tell which.
pub const UNTRACKED_OR_INVALID: &[u128] = &[CtState::Invalid as u128, CtState::Untracked as u128];

/// Bit offset of `ct.direction` in the connection word.
const REPLY_SHIFT: u32 = ct_bits::REPLY.trailing_zeros();

/// Where a field's value comes from in one variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A constant (presence bits, fields of absent headers).
    Const(u128),
    /// One of these values, and the device cannot tell which: an entry
    /// must match all of them or none.
    OneOf(&'static [u128]),
    /// Bits `shift..shift + width` of a match member.
    Hw {
        /// The member.
        field: DocaField,
        /// Bit offset of the IR field in the member.
        shift: u32,
        /// Bits available in the member.
        width: u32,
    },
}

fn hw(field: DocaField, shift: u32, width: u32) -> Source {
    Source::Hw {
        field,
        shift,
        width,
    }
}

/// Whether DOCA Flow can match `f` at all; `Err` gives the reason.
pub fn supported(f: FieldRef) -> Result<(), &'static str> {
    if f.inner {
        return Err("inner (encapsulated) fields are not lowered by this backend");
    }
    match f.field {
        Field::Valid(Header::Sctp) => Err("DOCA Flow's parser does not classify SCTP"),
        Field::Valid(Header::L4) | Field::L4Sport | Field::L4Dport => Err(
            "`l4` includes SCTP, which DOCA Flow's parser does not classify; match `tcp` and `udp` instead",
        ),
        Field::Valid(Header::Vxlan | Header::Geneve) | Field::VxlanVni | Field::GeneveVni => {
            Err("tunnel matching is not lowered by this backend")
        }
        Field::MetaLen => Err("DOCA Flow cannot match the frame length"),
        Field::IpFrag => Err(
            "DOCA Flow's parser tells only whether a packet is a fragment, not first from later",
        ),
        _ => Ok(()),
    }
}

/// Whether reading `f` needs packets split by L3 type.
pub fn needs_l3(f: Field) -> bool {
    use Field::*;
    match f {
        Valid(h) => !matches!(h, Header::Eth | Header::Vlan),
        IpVersion | Ip4Src | Ip4Dst | Ip6Src | Ip6Dst | IpProto | IpDscp | IpEcn | IpTtl => true,
        _ => needs_l4(f),
    }
}

/// Whether reading `f` needs packets split by L4 type.
pub fn needs_l4(f: Field) -> bool {
    use Field::*;
    match f {
        Valid(h) => matches!(
            h,
            Header::Tcp | Header::Udp | Header::L4 | Header::Icmp | Header::Icmpv4 | Header::Icmpv6
        ),
        TcpSport | TcpDport | TcpFlags | UdpSport | UdpDport | L4Sport | L4Dport | IcmpType
        | IcmpCode => true,
        _ => false,
    }
}

/// The source of outer field `f` in variant `v` (`f` must be [`supported`]).
pub fn source(f: Field, v: Variant, layout: &Layout) -> Source {
    use Field::*;
    let bit = |b: bool| Source::Const(u128::from(b));
    let ip4 = v.l3 == L3::Ip4;
    let ip6 = v.l3 == L3::Ip6;
    let tcp = v.l4 == L4::Tcp;
    let udp = v.l4 == L4::Udp;
    let icmp = v.l4 == L4::Icmp;
    let by_l3 = |f4: DocaField, f6: DocaField, shift: u32, width: u32| {
        if ip4 {
            hw(f4, shift, width)
        } else if ip6 {
            hw(f6, shift, width)
        } else {
            Source::Const(0)
        }
    };
    let when = |present: bool, s: Source| if present { s } else { Source::Const(0) };
    match f {
        Valid(h) => match h {
            Header::Eth => bit(true),
            Header::Vlan => hw(DocaField::L2Valid, 0, 1),
            Header::Ip => bit(ip4 || ip6),
            Header::Ipv4 => bit(ip4),
            Header::Ipv6 => bit(ip6),
            Header::Tcp => bit(tcp),
            Header::Udp => bit(udp),
            // Refused by `supported` (SCTP); kept total.
            Header::L4 => bit(tcp || udp),
            Header::Icmp => bit(icmp),
            Header::Icmpv4 => bit(icmp && ip4),
            Header::Icmpv6 => bit(icmp && ip6),
            Header::Sctp | Header::Vxlan | Header::Geneve => bit(false),
        },
        InPort => hw(DocaField::PortId, 0, 16),
        MetaMark => hw(layout.mark, 0, 32),
        EthSrc => hw(DocaField::EthSrc, 0, 48),
        EthDst => hw(DocaField::EthDst, 0, 48),
        EthType => hw(DocaField::EthType, 0, 16),
        VlanId => hw(DocaField::VlanTci, 0, 12),
        VlanPcp => hw(DocaField::VlanTci, 13, 3),
        IpVersion => Source::Const(if ip4 {
            4
        } else if ip6 {
            6
        } else {
            0
        }),
        Ip4Src => when(ip4, hw(DocaField::Ip4Src, 0, 32)),
        Ip4Dst => when(ip4, hw(DocaField::Ip4Dst, 0, 32)),
        Ip6Src => when(ip6, hw(DocaField::Ip6Src, 0, 128)),
        Ip6Dst => when(ip6, hw(DocaField::Ip6Dst, 0, 128)),
        IpProto => by_l3(DocaField::Ip4Proto, DocaField::Ip6Proto, 0, 8),
        IpDscp => by_l3(DocaField::Ip4DscpEcn, DocaField::Ip6Tc, 2, 6),
        IpEcn => by_l3(DocaField::Ip4DscpEcn, DocaField::Ip6Tc, 0, 2),
        IpTtl => by_l3(DocaField::Ip4Ttl, DocaField::Ip6Hop, 0, 8),
        TcpSport => when(tcp, hw(DocaField::TcpSrc, 0, 16)),
        TcpDport => when(tcp, hw(DocaField::TcpDst, 0, 16)),
        TcpFlags => when(tcp, hw(DocaField::TcpFlags, 0, 8)),
        UdpSport => when(udp, hw(DocaField::UdpSrc, 0, 16)),
        UdpDport => when(udp, hw(DocaField::UdpDst, 0, 16)),
        L4Sport if tcp => hw(DocaField::TcpSrc, 0, 16),
        L4Sport => when(udp, hw(DocaField::UdpSrc, 0, 16)),
        L4Dport if tcp => hw(DocaField::TcpDst, 0, 16),
        L4Dport => when(udp, hw(DocaField::UdpDst, 0, 16)),
        IcmpType => when(icmp, hw(DocaField::IcmpType, 0, 8)),
        IcmpCode => when(icmp, hw(DocaField::IcmpCode, 0, 8)),
        // The tracker's words: the connection tables (TCP, UDP, ICMP echo)
        // and the state pipes write them; other packets are untracked or
        // invalid, original, with the mark rules gave them.
        CtState | CtDirection | CtMark => {
            let Some(w) = layout.ct else {
                // No tracker: nothing reads ct.* (reading one makes one).
                return Source::Const(0);
            };
            let tracked = (ip4 || ip6) && (tcp || udp || icmp);
            match f {
                CtMark => hw(DocaField::MetaU32(w.mark), 0, 32),
                CtDirection if tracked => hw(DocaField::MetaU32(w.state), REPLY_SHIFT, 1),
                CtDirection => Source::Const(0),
                _ if tracked => hw(DocaField::MetaU32(w.state), ct_bits::STATE_SHIFT, 3),
                _ => Source::OneOf(UNTRACKED_OR_INVALID),
            }
        }
        // Refused by `supported`; reading as absent keeps this total.
        MetaLen | IpFrag | VxlanVni | GeneveVni => Source::Const(0),
    }
}
