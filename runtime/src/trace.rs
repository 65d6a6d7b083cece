//! ClassBench traces (`src dst sport dport proto [filter]` per line, in
//! decimal) as frames, so a filter set's own trace can drive any target
//! and be written as a pcap.

use crate::craft;
use dpuc_ir::test::{L4Spec, PacketSpec};
use std::net::{IpAddr, Ipv4Addr};

/// A trace line that is not five numbers in range.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct TraceError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// The frame for one 5-tuple: TCP (ACK set) and UDP get their ports, other
/// protocols a bare IPv4 header; §8's default MACs and TTL.
pub fn frame(src: u32, dst: u32, sport: u16, dport: u16, proto: u8) -> Vec<u8> {
    let l4 = match proto {
        6 => L4Spec::Tcp {
            sport,
            dport,
            flags: 0x10,
        },
        17 => L4Spec::Udp { sport, dport },
        p => L4Spec::Proto(p),
    };
    let spec = PacketSpec::new(
        IpAddr::V4(Ipv4Addr::from(src)),
        IpAddr::V4(Ipv4Addr::from(dst)),
        l4,
    );
    // A 5-tuple always builds; an empty frame would only mean a bug there.
    craft::build(&spec).unwrap_or_default()
}

/// Every frame of a trace, in order. Blank lines are skipped.
pub fn frames(text: &str) -> Result<Vec<Vec<u8>>, TraceError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        let err = |message: String| TraceError {
            line: i + 1,
            message,
        };
        if fields.len() < 5 {
            return Err(err(format!("{} fields, expected at least 5", fields.len())));
        }
        let num = |k: usize, max: u64| -> Result<u64, TraceError> {
            fields[k]
                .parse::<u64>()
                .ok()
                .filter(|v| *v <= max)
                .ok_or_else(|| err(format!("field {}: `{}` is not 0..={max}", k + 1, fields[k])))
        };
        out.push(frame(
            num(0, u32::MAX.into())? as u32,
            num(1, u32::MAX.into())? as u32,
            num(2, 65535)? as u16,
            num(3, 65535)? as u16,
            num(4, 255)? as u8,
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_frames_and_bad_lines_are_named() {
        let f = frames("167772161 167772162 1000 80 6 12\n\n1 2 3 4 17\n").expect("parsed");
        assert_eq!(f.len(), 2);
        let p = crate::packet::parse(&f[0]);
        assert_eq!(
            p.outer.l4,
            Some(crate::packet::L4::Tcp {
                sport: 1000,
                dport: 80,
                flags: 0x10
            })
        );
        assert_eq!(frames("1 2 3\n").map_err(|e| e.line), Err(1));
        assert!(frames("1 2 70000 4 6\n").is_err());
    }
}
