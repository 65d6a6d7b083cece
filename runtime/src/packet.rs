//! Zero-copy packet parsing: Ethernet, up to two VLAN tags, IPv4 (options,
//! fragments), IPv6 (up to 8 extension headers), TCP, UDP, SCTP, ICMP and
//! ICMPv6, and VXLAN/Geneve with the inner frame parsed once.
//!
//! Parsing never panics and never allocates: every read is bounds-checked,
//! and a layer that is cut short or inconsistent is recorded as malformed
//! rather than guessed at. What a malformed layer means for a verdict is the
//! caller's business (conntrack calls it `invalid`; field tests on it are
//! false because the header is absent).

use std::net::{Ipv4Addr, Ipv6Addr};

/// How many IPv6 extension headers are walked before giving up.
pub const MAX_EXT_HEADERS: usize = 8;

/// UDP destination port of VXLAN.
pub const VXLAN_PORT: u16 = 4789;
/// UDP destination port of Geneve.
pub const GENEVE_PORT: u16 = 6081;

/// The outermost VLAN tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vlan {
    /// VLAN identifier (12 bits).
    pub id: u16,
    /// Priority code point (3 bits).
    pub pcp: u8,
}

/// Where a packet sits in its fragment train.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frag {
    /// Not fragmented.
    None,
    /// The first fragment (offset 0, more fragments follow).
    First,
    /// A later fragment: no L4 header of its own.
    Later,
}

/// An IP header's fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ip {
    /// Source address.
    pub src: std::net::IpAddr,
    /// Destination address.
    pub dst: std::net::IpAddr,
    /// The L4 protocol (after IPv6 extension headers).
    pub proto: u8,
    /// DSCP.
    pub dscp: u8,
    /// ECN.
    pub ecn: u8,
    /// TTL or hop limit.
    pub ttl: u8,
    /// Fragment position.
    pub frag: Frag,
    /// Byte offset of the IP header in the frame (for rewrites).
    pub offset: usize,
}

/// An L4 header's fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L4 {
    /// TCP.
    Tcp {
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
        /// Flags byte.
        flags: u8,
    },
    /// UDP.
    Udp {
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
    },
    /// SCTP.
    Sctp {
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
    },
    /// ICMP or ICMPv6.
    Icmp {
        /// ICMPv6 (else ICMPv4).
        v6: bool,
        /// Type.
        ty: u8,
        /// Code.
        code: u8,
        /// Echo identifier (0 for other messages).
        id: u16,
        /// Echo sequence (0 for other messages).
        seq: u16,
    },
}

/// Which layer was cut short or inconsistent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// Shorter than an Ethernet header (or a VLAN tag).
    L2,
    /// The IP header.
    L3,
    /// The L4 header.
    L4,
}

/// The tunnel carrying the inner frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tunnel {
    /// VXLAN with its VNI.
    Vxlan(u32),
    /// Geneve with its VNI.
    Geneve(u32),
}

/// One parsed layer (the outer frame, or the encapsulated one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layer {
    /// Ethernet source.
    pub eth_src: [u8; 6],
    /// Ethernet destination.
    pub eth_dst: [u8; 6],
    /// EtherType after the VLAN tags (0 when L2 is malformed).
    pub eth_type: u16,
    /// The outermost VLAN tag.
    pub vlan: Option<Vlan>,
    /// Offset of the outermost VLAN tag's TCI (for rewrites).
    pub vlan_offset: Option<usize>,
    /// The IP header.
    pub ip: Option<Ip>,
    /// The L4 header (absent for later fragments).
    pub l4: Option<L4>,
    /// The tunnel, when this layer carries one.
    pub tunnel: Option<Tunnel>,
    /// The first malformed layer, if any.
    pub malformed: Option<Malformed>,
}

/// A parsed frame: the outer layer and, for VXLAN/Geneve, the inner one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parsed {
    /// The outer frame.
    pub outer: Layer,
    /// The encapsulated frame.
    pub inner: Option<Layer>,
    /// The frame's length in bytes.
    pub len: usize,
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn bytes<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..at + N)?.try_into().ok()
}

/// Parses `frame`. Never panics.
pub fn parse(frame: &[u8]) -> Parsed {
    let outer = layer(frame, 0, true);
    let inner = outer.tunnel.and_then(|_| {
        let start = inner_start(frame, &outer)?;
        Some(layer(frame, start, false))
    });
    Parsed {
        outer,
        inner,
        len: frame.len(),
    }
}

fn empty_layer() -> Layer {
    Layer {
        eth_src: [0; 6],
        eth_dst: [0; 6],
        eth_type: 0,
        vlan: None,
        vlan_offset: None,
        ip: None,
        l4: None,
        tunnel: None,
        malformed: None,
    }
}

/// Where the encapsulated Ethernet frame starts.
fn inner_start(frame: &[u8], outer: &Layer) -> Option<usize> {
    let ip = outer.ip?;
    let l4_at = l4_offset(frame, &ip)?;
    let udp_payload = l4_at + 8;
    match outer.tunnel? {
        Tunnel::Vxlan(_) => Some(udp_payload + 8),
        Tunnel::Geneve(_) => {
            let opt_len = usize::from(*frame.get(udp_payload)? & 0x3f) * 4;
            Some(udp_payload + 8 + opt_len)
        }
    }
}

/// The offset of the L4 header, recomputed from the IP header.
fn l4_offset(frame: &[u8], ip: &Ip) -> Option<usize> {
    match ip.src {
        std::net::IpAddr::V4(_) => Some(ip.offset + usize::from(frame.get(ip.offset)? & 0x0f) * 4),
        std::net::IpAddr::V6(_) => v6_walk(frame, ip.offset).map(|w| w.l4_at),
    }
}

fn layer(frame: &[u8], start: usize, outer: bool) -> Layer {
    let mut l = empty_layer();
    let (Some(dst), Some(src), Some(mut ty)) = (
        bytes::<6>(frame, start),
        bytes::<6>(frame, start + 6),
        be16(frame, start + 12),
    ) else {
        l.malformed = Some(Malformed::L2);
        return l;
    };
    l.eth_dst = dst;
    l.eth_src = src;
    let mut at = start + 14;
    for _ in 0..2 {
        if ty != 0x8100 && ty != 0x88a8 {
            break;
        }
        let (Some(tci), Some(next)) = (be16(frame, at), be16(frame, at + 2)) else {
            l.malformed = Some(Malformed::L2);
            return l;
        };
        if l.vlan.is_none() {
            l.vlan = Some(Vlan {
                id: tci & 0x0fff,
                pcp: (tci >> 13) as u8,
            });
            l.vlan_offset = Some(at);
        }
        ty = next;
        at += 4;
    }
    l.eth_type = ty;
    let l4_at = match ty {
        0x0800 => ipv4(frame, at, &mut l),
        0x86dd => ipv6(frame, at, &mut l),
        _ => None,
    };
    if let (Some(ip), Some(l4_at)) = (l.ip, l4_at) {
        if ip.frag != Frag::Later {
            l4(frame, l4_at, ip.proto, &mut l, outer);
        }
    }
    l
}

fn ipv4(frame: &[u8], at: usize, l: &mut Layer) -> Option<usize> {
    let Some(h) = frame.get(at..at + 20) else {
        l.malformed = Some(Malformed::L3);
        return None;
    };
    let ihl = usize::from(h[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([h[2], h[3]]));
    if h[0] >> 4 != 4 || ihl < 20 || total < ihl || at + total > frame.len() {
        l.malformed = Some(Malformed::L3);
        return None;
    }
    let flags_off = u16::from_be_bytes([h[6], h[7]]);
    let more = flags_off & 0x2000 != 0;
    let offset = flags_off & 0x1fff;
    let frag = match (offset, more) {
        (0, false) => Frag::None,
        (0, true) => Frag::First,
        _ => Frag::Later,
    };
    l.ip = Some(Ip {
        src: Ipv4Addr::new(h[12], h[13], h[14], h[15]).into(),
        dst: Ipv4Addr::new(h[16], h[17], h[18], h[19]).into(),
        proto: h[9],
        dscp: h[1] >> 2,
        ecn: h[1] & 3,
        ttl: h[8],
        frag,
        offset: at,
    });
    Some(at + ihl)
}

struct V6Walk {
    proto: u8,
    l4_at: usize,
    frag: Frag,
}

/// Walks IPv6 extension headers; `None` if they are cut short or too many.
fn v6_walk(frame: &[u8], at: usize) -> Option<V6Walk> {
    let mut next = *frame.get(at + 6)?;
    let mut pos = at + 40;
    let mut frag = Frag::None;
    for _ in 0..=MAX_EXT_HEADERS {
        match next {
            0 | 43 | 60 => {
                let n = *frame.get(pos)?;
                let len = (usize::from(*frame.get(pos + 1)?) + 1) * 8;
                frame.get(pos..pos + len)?;
                next = n;
                pos += len;
            }
            44 => {
                let h = frame.get(pos..pos + 8)?;
                let off_m = u16::from_be_bytes([h[2], h[3]]);
                frag = match (off_m >> 3, off_m & 1 == 1) {
                    (0, false) => Frag::None,
                    (0, true) => Frag::First,
                    _ => Frag::Later,
                };
                next = h[0];
                pos += 8;
            }
            _ => {
                return Some(V6Walk {
                    proto: next,
                    l4_at: pos,
                    frag,
                })
            }
        }
    }
    // More extension headers than we walk: treated as malformed.
    None
}

fn ipv6(frame: &[u8], at: usize, l: &mut Layer) -> Option<usize> {
    let Some(h) = frame.get(at..at + 40) else {
        l.malformed = Some(Malformed::L3);
        return None;
    };
    let payload = usize::from(u16::from_be_bytes([h[4], h[5]]));
    if h[0] >> 4 != 6 || at + 40 + payload > frame.len() {
        l.malformed = Some(Malformed::L3);
        return None;
    }
    let Some(w) = v6_walk(frame, at) else {
        l.malformed = Some(Malformed::L3);
        return None;
    };
    let tc = (h[0] << 4) | (h[1] >> 4);
    let addr = |o: usize| -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&h[o..o + 16]);
        Ipv6Addr::from(a)
    };
    l.ip = Some(Ip {
        src: addr(8).into(),
        dst: addr(24).into(),
        proto: w.proto,
        dscp: tc >> 2,
        ecn: tc & 3,
        ttl: h[7],
        frag: w.frag,
        offset: at,
    });
    Some(w.l4_at)
}

fn l4(frame: &[u8], at: usize, proto: u8, l: &mut Layer, outer: bool) {
    let bad = |l: &mut Layer| l.malformed = Some(Malformed::L4);
    match proto {
        6 => {
            let Some(h) = frame.get(at..at + 20) else {
                return bad(l);
            };
            if usize::from(h[12] >> 4) * 4 < 20 || frame.len() < at + usize::from(h[12] >> 4) * 4 {
                return bad(l);
            }
            l.l4 = Some(L4::Tcp {
                sport: u16::from_be_bytes([h[0], h[1]]),
                dport: u16::from_be_bytes([h[2], h[3]]),
                flags: h[13],
            });
        }
        17 => {
            let Some(h) = frame.get(at..at + 8) else {
                return bad(l);
            };
            let (sport, dport) = (
                u16::from_be_bytes([h[0], h[1]]),
                u16::from_be_bytes([h[2], h[3]]),
            );
            l.l4 = Some(L4::Udp { sport, dport });
            // Only the outer layer may carry a tunnel: we parse one level.
            if outer {
                let vni = |o: usize| -> Option<u32> {
                    let b = frame.get(at + 8 + o..at + 8 + o + 3)?;
                    Some(u32::from_be_bytes([0, b[0], b[1], b[2]]))
                };
                l.tunnel = match dport {
                    VXLAN_PORT => vni(4).map(Tunnel::Vxlan),
                    GENEVE_PORT => vni(4).map(Tunnel::Geneve),
                    _ => None,
                };
            }
        }
        132 => {
            let Some(h) = frame.get(at..at + 12) else {
                return bad(l);
            };
            l.l4 = Some(L4::Sctp {
                sport: u16::from_be_bytes([h[0], h[1]]),
                dport: u16::from_be_bytes([h[2], h[3]]),
            });
        }
        1 | 58 => {
            let Some(h) = frame.get(at..at + 8) else {
                return bad(l);
            };
            let v6 = proto == 58;
            let echo = if v6 {
                h[0] == 128 || h[0] == 129
            } else {
                h[0] == 8 || h[0] == 0
            };
            let (id, seq) = if echo {
                (
                    u16::from_be_bytes([h[4], h[5]]),
                    u16::from_be_bytes([h[6], h[7]]),
                )
            } else {
                (0, 0)
            };
            l.l4 = Some(L4::Icmp {
                v6,
                ty: h[0],
                code: h[1],
                id,
                seq,
            });
        }
        _ => {}
    }
}

/// The 5-tuple quoted by an ICMP or ICMPv6 error (the offending packet's
/// IP header and the first bytes of its L4 header), for conntrack's
/// `related`. `None` if `parsed` is not an ICMP error or the quote is short.
pub fn quoted(frame: &[u8], parsed: &Layer) -> Option<Layer> {
    let ip = parsed.ip?;
    let Some(L4::Icmp { v6, ty, .. }) = parsed.l4 else {
        return None;
    };
    let is_error = if v6 {
        (1..=4).contains(&ty)
    } else {
        matches!(ty, 3 | 4 | 5 | 11 | 12)
    };
    if !is_error {
        return None;
    }
    let at = l4_offset(frame, &ip)? + 8;
    let mut l = empty_layer();
    // The quote is usually truncated, so length checks are relaxed: read
    // the addresses and the first 8 bytes of L4 only.
    let version = *frame.get(at)? >> 4;
    let (l4_at, proto) = match version {
        4 => {
            let h = frame.get(at..at + 20)?;
            l.ip = Some(Ip {
                src: Ipv4Addr::new(h[12], h[13], h[14], h[15]).into(),
                dst: Ipv4Addr::new(h[16], h[17], h[18], h[19]).into(),
                proto: h[9],
                dscp: 0,
                ecn: 0,
                ttl: h[8],
                frag: Frag::None,
                offset: at,
            });
            (at + usize::from(h[0] & 0x0f) * 4, h[9])
        }
        6 => {
            let h = frame.get(at..at + 40)?;
            let a = |o: usize| -> Option<Ipv6Addr> { Some(Ipv6Addr::from(bytes::<16>(h, o)?)) };
            l.ip = Some(Ip {
                src: a(8)?.into(),
                dst: a(24)?.into(),
                proto: h[6],
                dscp: 0,
                ecn: 0,
                ttl: h[7],
                frag: Frag::None,
                offset: at,
            });
            (at + 40, h[6])
        }
        _ => return None,
    };
    let p = frame.get(l4_at..l4_at + 8)?;
    let (a, b) = (
        u16::from_be_bytes([p[0], p[1]]),
        u16::from_be_bytes([p[2], p[3]]),
    );
    l.l4 = match proto {
        6 => Some(L4::Tcp {
            sport: a,
            dport: b,
            flags: 0,
        }),
        17 => Some(L4::Udp { sport: a, dport: b }),
        1 | 58 => Some(L4::Icmp {
            v6: proto == 58,
            ty: p[0],
            code: p[1],
            id: be16(p, 4)?,
            seq: be16(p, 6)?,
        }),
        _ => None,
    };
    Some(l)
}
