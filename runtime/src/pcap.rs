//! Packet captures: classic pcap (either byte order, micro- or nanosecond
//! timestamps) and pcapng (section, interface, enhanced and simple packet
//! blocks; others skipped) in, classic pcap out. Corrupt files are errors,
//! never panics.

/// Why a capture cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PcapError {
    /// Not a pcap or pcapng file.
    #[error("not a pcap or pcapng file")]
    NotPcap,
    /// The file ends inside a header or a record.
    #[error("truncated at byte {0}")]
    Truncated(usize),
    /// A block or record is inconsistent.
    #[error("corrupt record at byte {0}")]
    Corrupt(usize),
    /// A link type other than Ethernet.
    #[error("link type {0} is not Ethernet")]
    LinkType(u32),
}

/// One captured frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Capture time in nanoseconds since the epoch.
    pub ts_ns: u64,
    /// The bytes captured.
    pub data: Vec<u8>,
}

const ETHERNET: u32 = 1;

fn u32_at(b: &[u8], at: usize, le: bool) -> Option<u32> {
    let x: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(if le {
        u32::from_le_bytes(x)
    } else {
        u32::from_be_bytes(x)
    })
}

fn u16_at(b: &[u8], at: usize, le: bool) -> Option<u16> {
    let x: [u8; 2] = b.get(at..at + 2)?.try_into().ok()?;
    Some(if le {
        u16::from_le_bytes(x)
    } else {
        u16::from_be_bytes(x)
    })
}

/// Reads every frame of a pcap or pcapng file.
pub fn read(b: &[u8]) -> Result<Vec<Frame>, PcapError> {
    match b.get(0..4) {
        Some([0x0a, 0x0d, 0x0d, 0x0a]) => read_ng(b),
        Some(_) => read_classic(b),
        None => Err(PcapError::NotPcap),
    }
}

fn read_classic(b: &[u8]) -> Result<Vec<Frame>, PcapError> {
    let magic = u32_at(b, 0, true).ok_or(PcapError::NotPcap)?;
    let (le, nanos) = match magic {
        0xa1b2_c3d4 => (true, false),
        0xa1b2_3c4d => (true, true),
        0xd4c3_b2a1 => (false, false),
        0x4d3c_b2a1 => (false, true),
        _ => return Err(PcapError::NotPcap),
    };
    let link = u32_at(b, 20, le).ok_or(PcapError::Truncated(b.len()))?;
    if link != ETHERNET {
        return Err(PcapError::LinkType(link));
    }
    let mut at = 24;
    let mut out = Vec::new();
    while at < b.len() {
        let sec = u32_at(b, at, le).ok_or(PcapError::Truncated(at))?;
        let frac = u32_at(b, at + 4, le).ok_or(PcapError::Truncated(at))?;
        let caplen = u32_at(b, at + 8, le).ok_or(PcapError::Truncated(at))? as usize;
        let data = b
            .get(at + 16..at + 16 + caplen)
            .ok_or(PcapError::Truncated(at))?;
        let frac_ns = if nanos {
            u64::from(frac)
        } else {
            u64::from(frac) * 1000
        };
        out.push(Frame {
            ts_ns: u64::from(sec) * 1_000_000_000 + frac_ns,
            data: data.to_vec(),
        });
        at += 16 + caplen;
    }
    Ok(out)
}

fn read_ng(b: &[u8]) -> Result<Vec<Frame>, PcapError> {
    let mut out = Vec::new();
    let mut le = true;
    // Per interface: timestamp units per second.
    let mut resolutions: Vec<u64> = Vec::new();
    let mut at = 0;
    while at < b.len() {
        let ty = u32_at(b, at, le).ok_or(PcapError::Truncated(at))?;
        if ty == 0x0a0d_0d0a {
            le = match b.get(at + 8..at + 12) {
                Some([0x4d, 0x3c, 0x2b, 0x1a]) => true,
                Some([0x1a, 0x2b, 0x3c, 0x4d]) => false,
                _ => return Err(PcapError::Corrupt(at)),
            };
            resolutions.clear();
        }
        let len = u32_at(b, at + 4, le).ok_or(PcapError::Truncated(at))? as usize;
        if len < 12 || !len.is_multiple_of(4) {
            return Err(PcapError::Corrupt(at));
        }
        let block = b.get(at..at + len).ok_or(PcapError::Truncated(at))?;
        match ty {
            1 => {
                let link = u32::from(u16_at(block, 8, le).ok_or(PcapError::Corrupt(at))?);
                if link != ETHERNET {
                    return Err(PcapError::LinkType(link));
                }
                resolutions.push(if_tsresol(block, le).unwrap_or(1_000_000));
            }
            6 => {
                let iface = u32_at(block, 8, le).ok_or(PcapError::Corrupt(at))? as usize;
                let hi = u64::from(u32_at(block, 12, le).ok_or(PcapError::Corrupt(at))?);
                let lo = u64::from(u32_at(block, 16, le).ok_or(PcapError::Corrupt(at))?);
                let caplen = u32_at(block, 20, le).ok_or(PcapError::Corrupt(at))? as usize;
                let data = block.get(28..28 + caplen).ok_or(PcapError::Corrupt(at))?;
                let per_sec = *resolutions.get(iface).ok_or(PcapError::Corrupt(at))?;
                let ticks = (hi << 32) | lo;
                let ts_ns = (u128::from(ticks) * 1_000_000_000 / u128::from(per_sec.max(1))) as u64;
                out.push(Frame {
                    ts_ns,
                    data: data.to_vec(),
                });
            }
            3 => {
                let orig = u32_at(block, 8, le).ok_or(PcapError::Corrupt(at))? as usize;
                let caplen = orig.min(len - 16);
                let data = block.get(12..12 + caplen).ok_or(PcapError::Corrupt(at))?;
                out.push(Frame {
                    ts_ns: 0,
                    data: data.to_vec(),
                });
            }
            _ => {}
        }
        at += len;
    }
    Ok(out)
}

/// The `if_tsresol` option of an interface description block, as units per second.
fn if_tsresol(block: &[u8], le: bool) -> Option<u64> {
    let mut at = 16;
    while at + 4 <= block.len().saturating_sub(4) {
        let code = u16_at(block, at, le)?;
        let len = usize::from(u16_at(block, at + 2, le)?);
        if code == 0 {
            return None;
        }
        if code == 9 && len >= 1 {
            let v = *block.get(at + 4)?;
            let exp = u32::from(v & 0x7f);
            return if v & 0x80 == 0 {
                10u64.checked_pow(exp)
            } else {
                2u64.checked_pow(exp)
            };
        }
        at += 4 + len.div_ceil(4) * 4;
    }
    None
}

/// Writes `frames` as a classic little-endian pcap with nanosecond timestamps.
pub fn write(frames: &[Frame]) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 + frames.iter().map(|f| 16 + f.data.len()).sum::<usize>());
    for v in [0xa1b2_3c4d_u32, 0x0004_0002, 0, 0, 262_144, ETHERNET] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for f in frames {
        let len = f.data.len() as u32;
        let sec = (f.ts_ns / 1_000_000_000) as u32;
        let ns = (f.ts_ns % 1_000_000_000) as u32;
        for v in [sec, ns, len, len] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&f.data);
    }
    out
}
