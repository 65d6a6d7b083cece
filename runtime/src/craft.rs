//! Builds test frames exactly as §8 says: Ethernet II, an optional 802.1Q
//! tag, IPv4 without options (DF clear, id 0) or IPv6, then the L4 header
//! with a correct checksum, and no padding unless `len` asks for it.

use dpuc_ir::test::{EncapKind, FragSpec, L4Spec, PacketSpec};
use std::net::IpAddr;

/// Why a frame cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CraftError {
    /// `len N` is shorter than the frame itself.
    #[error("len {asked} is shorter than the {actual}-byte frame")]
    TooShort {
        /// The length asked for.
        asked: usize,
        /// The frame's natural length.
        actual: usize,
    },
    /// Source and destination are of different families.
    #[error("source and destination are of different address families")]
    MixedFamilies,
    /// The frame would exceed 65535 bytes.
    #[error("the frame is too long")]
    TooLong,
}

/// The UDP source port of test tunnels.
pub const TUNNEL_SPORT: u16 = 49152;
/// The fragment offset (in 8-byte units) of a `frag later` packet.
pub const LATER_OFFSET: u16 = 185;

/// Builds the frame `spec` describes.
pub fn build(spec: &PacketSpec) -> Result<Vec<u8>, CraftError> {
    let mut f = Vec::with_capacity(128);
    f.extend_from_slice(&spec.eth_dst);
    f.extend_from_slice(&spec.eth_src);
    if let Some(id) = spec.vlan {
        f.extend_from_slice(&0x8100u16.to_be_bytes());
        f.extend_from_slice(&(id & 0x0fff).to_be_bytes());
    }
    let v4 = match (spec.src, spec.dst) {
        (IpAddr::V4(_), IpAddr::V4(_)) => true,
        (IpAddr::V6(_), IpAddr::V6(_)) => false,
        _ => return Err(CraftError::MixedFamilies),
    };
    f.extend_from_slice(&(if v4 { 0x0800u16 } else { 0x86dd }).to_be_bytes());
    let (proto, l4) = l4_bytes(spec)?;
    let ip_at = f.len();
    if v4 {
        ipv4_header(&mut f, spec, proto, l4.len())?;
    } else {
        ipv6_header(&mut f, spec, proto, l4.len())?;
    }
    let l4_at = f.len();
    f.extend_from_slice(&l4);
    fill_l4_checksum(&mut f, ip_at, l4_at, proto, v4);
    if let Some(n) = spec.len {
        let n = usize::from(n);
        if n < f.len() {
            return Err(CraftError::TooShort {
                asked: n,
                actual: f.len(),
            });
        }
        f.resize(n, 0);
    }
    Ok(f)
}

/// The L4 protocol number and bytes (checksum zero, filled in later).
fn l4_bytes(spec: &PacketSpec) -> Result<(u8, Vec<u8>), CraftError> {
    if let Some(e) = &spec.encap {
        let inner = build(&e.inner)?;
        let sport = match spec.l4 {
            L4Spec::Udp { sport, .. } => sport,
            _ => TUNNEL_SPORT,
        };
        let dport = match e.kind {
            EncapKind::Vxlan => crate::packet::VXLAN_PORT,
            EncapKind::Geneve => crate::packet::GENEVE_PORT,
        };
        let mut b = udp_header(sport, dport, 8 + 8 + inner.len())?;
        let vni = e.vni.to_be_bytes();
        match e.kind {
            EncapKind::Vxlan => b.extend_from_slice(&[0x08, 0, 0, 0, vni[1], vni[2], vni[3], 0]),
            EncapKind::Geneve => {
                b.extend_from_slice(&[0, 0, 0x65, 0x58, vni[1], vni[2], vni[3], 0])
            }
        }
        b.extend_from_slice(&inner);
        return Ok((17, b));
    }
    Ok(match spec.l4 {
        L4Spec::Tcp {
            sport,
            dport,
            flags,
        } => {
            let mut b = Vec::with_capacity(20);
            b.extend_from_slice(&sport.to_be_bytes());
            b.extend_from_slice(&dport.to_be_bytes());
            b.extend_from_slice(&[0; 8]); // sequence and acknowledgement numbers
            b.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
            (6, b)
        }
        L4Spec::Udp { sport, dport } => (17, udp_header(sport, dport, 8)?),
        L4Spec::Icmp { ty, code, id, seq } => {
            let mut b = vec![ty, code, 0, 0];
            b.extend_from_slice(&id.to_be_bytes());
            b.extend_from_slice(&seq.to_be_bytes());
            (if spec.src.is_ipv4() { 1 } else { 58 }, b)
        }
        L4Spec::Proto(p) => (p, Vec::new()),
    })
}

fn udp_header(sport: u16, dport: u16, len: usize) -> Result<Vec<u8>, CraftError> {
    let len = u16::try_from(len).map_err(|_| CraftError::TooLong)?;
    let mut b = Vec::with_capacity(8);
    b.extend_from_slice(&sport.to_be_bytes());
    b.extend_from_slice(&dport.to_be_bytes());
    b.extend_from_slice(&len.to_be_bytes());
    b.extend_from_slice(&[0, 0]);
    Ok(b)
}

fn ipv4_header(
    f: &mut Vec<u8>,
    spec: &PacketSpec,
    proto: u8,
    l4_len: usize,
) -> Result<(), CraftError> {
    let (IpAddr::V4(src), IpAddr::V4(dst)) = (spec.src, spec.dst) else {
        return Err(CraftError::MixedFamilies);
    };
    let total = u16::try_from(20 + l4_len).map_err(|_| CraftError::TooLong)?;
    let frag: u16 = match spec.frag {
        FragSpec::None => 0,
        FragSpec::First => 0x2000,
        FragSpec::Later => LATER_OFFSET,
    };
    let at = f.len();
    f.extend_from_slice(&[0x45, (spec.dscp << 2) | (spec.ecn & 3)]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&frag.to_be_bytes());
    f.extend_from_slice(&[spec.ttl, proto, 0, 0]);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&dst.octets());
    let sum = checksum(&f[at..at + 20], 0);
    f[at + 10..at + 12].copy_from_slice(&sum.to_be_bytes());
    Ok(())
}

fn ipv6_header(
    f: &mut Vec<u8>,
    spec: &PacketSpec,
    proto: u8,
    l4_len: usize,
) -> Result<(), CraftError> {
    let (IpAddr::V6(src), IpAddr::V6(dst)) = (spec.src, spec.dst) else {
        return Err(CraftError::MixedFamilies);
    };
    let frag_hdr = spec.frag != FragSpec::None;
    let payload =
        u16::try_from(l4_len + if frag_hdr { 8 } else { 0 }).map_err(|_| CraftError::TooLong)?;
    let tc = (spec.dscp << 2) | (spec.ecn & 3);
    f.extend_from_slice(&[0x60 | (tc >> 4), tc << 4, 0, 0]);
    f.extend_from_slice(&payload.to_be_bytes());
    f.push(if frag_hdr { 44 } else { proto });
    f.push(spec.ttl);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&dst.octets());
    if frag_hdr {
        let off_m: u16 = match spec.frag {
            FragSpec::First => 1,
            _ => LATER_OFFSET << 3,
        };
        f.extend_from_slice(&[proto, 0]);
        f.extend_from_slice(&off_m.to_be_bytes());
        f.extend_from_slice(&[0, 0, 0, 0]);
    }
    Ok(())
}

/// The Internet checksum of `data`, starting from a partial `sum`.
fn checksum(data: &[u8], mut sum: u32) -> u16 {
    for c in data.chunks(2) {
        let w = u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]);
        sum += u32::from(w);
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Fills the TCP, UDP or ICMP checksum (with the pseudo-header where the
/// protocol has one).
fn fill_l4_checksum(f: &mut [u8], ip_at: usize, l4_at: usize, proto: u8, v4: bool) {
    let field = match proto {
        6 => 16,
        17 => 6,
        1 | 58 => 2,
        _ => return,
    };
    if f.len() < l4_at + field + 2 {
        return;
    }
    let len = f.len() - l4_at;
    let mut pseudo = 0u32;
    if proto != 1 {
        let (src, dst) = if v4 {
            (ip_at + 12, ip_at + 16)
        } else {
            (ip_at + 8, ip_at + 24)
        };
        let alen = if v4 { 4 } else { 16 };
        for a in [src, dst] {
            for c in f[a..a + alen].chunks(2) {
                pseudo += u32::from(u16::from_be_bytes([c[0], c[1]]));
            }
        }
        pseudo += u32::from(proto) + len as u32;
    }
    let mut sum = checksum(&f[l4_at..], pseudo);
    if proto == 17 && sum == 0 {
        sum = 0xffff;
    }
    f[l4_at + field..l4_at + field + 2].copy_from_slice(&sum.to_be_bytes());
}
