//! ClassBench filter sets (Taylor & Turner, INFOCOM 2005) as DPL policies.
//!
//! Each line `@SRC/LEN DST/LEN SLO : SHI DLO : DHI PROTO/MASK [FLAGS/MASK]`
//! becomes one rule `rN` (N = the 1-based line number, so a trace's filter
//! index names the rule), first match wins, verdict `accept`, and the policy
//! drops what no rule matches. The optional TCP-flags column is ignored, as
//! ClassBench's own 5-tuple classifiers do.

use std::fmt::Write;
use std::net::Ipv4Addr;

/// A line that is not a ClassBench filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub message: String,
}

/// One parsed filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Filter {
    /// Source prefix (host bits cleared) and length.
    pub src: (u32, u8),
    /// Destination prefix (host bits cleared) and length.
    pub dst: (u32, u8),
    /// Source port range.
    pub sport: (u16, u16),
    /// Destination port range.
    pub dport: (u16, u16),
    /// Protocol, or `None` for any.
    pub proto: Option<u8>,
}

/// Parses a ClassBench filter set.
pub fn parse(text: &str) -> Result<Vec<Filter>, ImportError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let l = line.trim();
        if l.is_empty() {
            continue;
        }
        let err = |message: &str| ImportError {
            line: line_no,
            message: message.to_string(),
        };
        let body = l
            .strip_prefix('@')
            .ok_or_else(|| err("a filter starts with `@`"))?;
        let t: Vec<&str> = body.split_whitespace().collect();
        if t.len() < 9 || t[3] != ":" || t[6] != ":" {
            return Err(err(
                "expected `@SRC/LEN DST/LEN SLO : SHI DLO : DHI PROTO/MASK`",
            ));
        }
        let prefix = |s: &str| -> Result<(u32, u8), ImportError> {
            let (a, l) = s
                .split_once('/')
                .ok_or_else(|| err("a prefix needs `/LEN`"))?;
            let addr: Ipv4Addr = a.parse().map_err(|_| err("bad IPv4 address"))?;
            let len: u8 = l.parse().map_err(|_| err("bad prefix length"))?;
            if len > 32 {
                return Err(err("prefix length over 32"));
            }
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            Ok((u32::from(addr) & mask, len))
        };
        let port = |s: &str| s.parse::<u16>().map_err(|_| err("bad port"));
        let range = |lo: &str, hi: &str| -> Result<(u16, u16), ImportError> {
            let (lo, hi) = (port(lo)?, port(hi)?);
            if lo > hi {
                return Err(err("port range is inverted"));
            }
            Ok((lo, hi))
        };
        let (p, m) = t[8]
            .split_once('/')
            .ok_or_else(|| err("protocol needs `/MASK`"))?;
        let hex = |s: &str| {
            u8::from_str_radix(s.trim_start_matches("0x"), 16).map_err(|_| err("bad protocol"))
        };
        let (proto, mask) = (hex(p)?, hex(m)?);
        let proto = match mask {
            0 => None,
            0xff => Some(proto),
            _ => return Err(err("only protocol masks 0x00 and 0xFF are supported")),
        };
        out.push(Filter {
            src: prefix(t[0])?,
            dst: prefix(t[1])?,
            sport: range(t[2], t[4])?,
            dport: range(t[5], t[7])?,
            proto,
        });
    }
    Ok(out)
}

/// Converts a filter set into a DPL policy named `name`.
pub fn to_dpl(filters: &[Filter], name: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Imported from the ClassBench filter set {name}: {} rules.",
        filters.len()
    );
    let _ = writeln!(
        s,
        "# Rule rN is line N of the set; first match wins; unmatched packets drop."
    );
    let _ = writeln!(s, "policy classbench {{");
    for (i, f) in filters.iter().enumerate() {
        let mut tests = Vec::new();
        for (field, (addr, len)) in [("ip.src", f.src), ("ip.dst", f.dst)] {
            if len > 0 {
                tests.push(format!("{field} == {}/{len}", Ipv4Addr::from(addr)));
            }
        }
        if let Some(p) = f.proto {
            tests.push(format!("ip.proto == {p}"));
        }
        for (field, (lo, hi)) in [("l4.sport", f.sport), ("l4.dport", f.dport)] {
            match (lo, hi) {
                (0, 65535) => {}
                (lo, hi) if lo == hi => tests.push(format!("{field} == {lo}")),
                (lo, hi) => tests.push(format!("{field} in {{ {lo}-{hi} }}")),
            }
        }
        let _ = writeln!(s, "    rule r{}: {} => accept;", i + 1, tests.join(" and "));
    }
    let _ = writeln!(s, "    default drop;\n}}");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_filters_with_wildcards_ranges_and_protocols() {
        let text = "@175.77.88.155/32\t119.106.158.230/32\t0 : 65535\t6888 : 6888\t0x06/0xFF\n\
                    @10.1.2.3/8 0.0.0.0/0 1024 : 65535 0 : 65535 0x00/0x00 0x0000/0x0200\n";
        let filters = parse(text).unwrap_or_default();
        assert_eq!(filters.len(), 2);
        assert_eq!(filters[1].src, (0x0a00_0000, 8));
        let dpl = to_dpl(&filters, "t");
        assert!(dpl.contains(
            "rule r1: ip.src == 175.77.88.155/32 and ip.dst == 119.106.158.230/32 and ip.proto == 6 and l4.dport == 6888 => accept;"
        ), "{dpl}");
        assert!(
            dpl.contains("rule r2: ip.src == 10.0.0.0/8 and l4.sport in { 1024-65535 } => accept;"),
            "{dpl}"
        );
    }

    #[test]
    fn rejects_malformed_lines_with_their_number() {
        let e = parse("@1.2.3.4/32 1.2.3.4/32 0 : 65535 0 : 65535 0x06/0xFF\nnonsense\n");
        assert_eq!(e.map_err(|e| e.line), Err(2));
        let e = parse("@1.2.3.4/33 1.2.3.4/32 0 : 65535 0 : 65535 0x06/0xFF\n");
        assert!(e.is_err());
        let e = parse("@1.2.3.4/32 1.2.3.4/32 9 : 1 0 : 65535 0x06/0xFF\n");
        assert!(e.is_err());
    }
}
