//! The fixed part of a PNA program: header types, header instances, the
//! parser and the deparser. The parser reads every header the IR can name
//! (so the program does not depend on which fields the policy reads) and
//! walks IPv6 extension headers as `dpuc_runtime::packet` does.

use std::fmt::Write as _;

pub(crate) const HEADERS_P4: &str = "header ethernet_t {
    bit<48> dst_addr;
    bit<48> src_addr;
    bit<16> ether_type;
}

header vlan_t {
    bit<3>  pcp;
    bit<1>  dei;
    bit<12> vid;
    bit<16> ether_type;
}

header ipv4_t {
    bit<4>  version;
    bit<4>  ihl;
    bit<6>  dscp;
    bit<2>  ecn;
    bit<16> total_len;
    bit<16> identification;
    bit<3>  flags;
    bit<13> frag_offset;
    bit<8>  ttl;
    bit<8>  protocol;
    bit<16> hdr_checksum;
    bit<32> src_addr;
    bit<32> dst_addr;
}

header ipv4_options_t {
    varbit<320> data;
}

header geneve_options_t {
    varbit<2016> data;
}

header ipv6_t {
    bit<4>   version;
    bit<6>   dscp;
    bit<2>   ecn;
    bit<20>  flow_label;
    bit<16>  payload_len;
    bit<8>   next_hdr;
    bit<8>   hop_limit;
    bit<128> src_addr;
    bit<128> dst_addr;
}

// One IPv6 extension header's first 8 bytes. Hop-by-hop, routing and
// destination options go on for `len` more 8-byte units (up to 31 here,
// in `ipv6_ext_more_t`); a fragment header is exactly these 8 bytes, with
// its offset and M flag where the fields below name them. One type for
// both keeps the header count within DPDK's 64.
header ipv6_ext_t {
    bit<8>  next_hdr;
    bit<8>  len;
    bit<13> frag_offset;
    bit<2>  res;
    bit<1>  more;
    bit<32> data;
}

header ipv6_ext_more_t {
    varbit<1984> data;
}

header tcp_t {
    bit<16> src_port;
    bit<16> dst_port;
    bit<32> seq_no;
    bit<32> ack_no;
    bit<4>  data_offset;
    bit<4>  res;
    bit<8>  flags;
    bit<16> window;
    bit<16> checksum;
    bit<16> urgent_ptr;
}

header udp_t {
    bit<16> src_port;
    bit<16> dst_port;
    bit<16> length_;
    bit<16> checksum;
}

header sctp_t {
    bit<16> src_port;
    bit<16> dst_port;
    bit<32> verification_tag;
    bit<32> checksum;
}

header icmp_t {
    bit<8>  type_;
    bit<8>  code;
    bit<16> checksum;
}

header vxlan_t {
    bit<8>  flags;
    bit<24> reserved;
    bit<24> vni;
    bit<8>  reserved2;
}

header geneve_t {
    bit<2>  version;
    bit<6>  opt_len;
    bit<1>  oam;
    bit<1>  critical;
    bit<6>  reserved;
    bit<16> protocol_type;
    bit<24> vni;
    bit<8>  reserved2;
}
";

/// How many IPv6 extension headers the parser walks, as
/// `dpuc_runtime::packet::MAX_EXT_HEADERS`: one more makes the IPv6 header
/// malformed (`meta.v6_bad`).
const MAX_EXT: usize = 8;

/// The header instances, in the order the deparser emits them.
pub(crate) fn instances() -> Vec<(String, &'static str)> {
    let mut v = Vec::new();
    for p in ["", "inner_"] {
        for (n, t) in [
            ("eth", "ethernet_t"),
            ("vlan", "vlan_t"),
            ("vlan2", "vlan_t"),
            ("ipv4", "ipv4_t"),
            ("ipv4_opts", "ipv4_options_t"),
            ("ipv6", "ipv6_t"),
        ] {
            v.push((format!("{p}{n}"), t));
        }
        for i in 0..MAX_EXT {
            v.push((format!("{p}ipv6_ext{i}"), "ipv6_ext_t"));
            v.push((format!("{p}ipv6_ext{i}_more"), "ipv6_ext_more_t"));
        }
        for (n, t) in [
            ("tcp", "tcp_t"),
            ("udp", "udp_t"),
            ("sctp", "sctp_t"),
            ("icmp", "icmp_t"),
            ("icmpv6", "icmp_t"),
        ] {
            v.push((format!("{p}{n}"), t));
        }
        if p.is_empty() {
            v.push(("vxlan".into(), "vxlan_t"));
            v.push(("geneve".into(), "geneve_t"));
            v.push(("geneve_opts".into(), "geneve_options_t"));
        }
    }
    v
}

/// The metadata the parser writes: per IP layer, the protocol after the
/// IPv6 extension headers, the fragment state (0 none, 1 first, 2 later)
/// of the last fragment header, and whether the walk found too many.
pub(crate) const PARSER_METADATA: &str = "    bit<8> v6_proto;
    bit<2> v6_frag;
    bit<1> v6_bad;
    bit<8> inner_v6_proto;
    bit<2> inner_v6_frag;
    bit<1> inner_v6_bad;
";

/// What the walk knows of the fragment state where a `select` runs.
#[derive(Clone, Copy)]
enum Frag {
    /// Set on the path here (after the IPv6 header or a fragment header):
    /// whether it is a later fragment. p4c folds a value just assigned into
    /// a constant, which DPDK refuses to compare, so the select leaves it out.
    Known(bool),
    /// Depends on the path: read from `meta.v6_frag`.
    Read,
}

/// The `transition select` after an IPv6 header or extension header that
/// leads to walk position `i`: another extension header, the L4 header
/// (not in a later fragment), or the end.
fn select_next(p: &str, hdr: &str, i: usize, frag: Frag) -> String {
    let to = |kind: &str| {
        if i < MAX_EXT {
            format!("parse_{p}ipv6_{kind}{i}")
        } else {
            format!("{p}ipv6_too_many")
        }
    };
    let key = |n: u8| match frag {
        Frag::Known(_) => n.to_string(),
        Frag::Read => format!("(_, {n})"),
    };
    let mut arms = Vec::new();
    for n in [0, 43, 60] {
        arms.push(format!("{}: {};", key(n), to("ext")));
    }
    arms.push(format!("{}: {};", key(44), to("frag")));
    let l4 = [(6, "tcp"), (17, "udp"), (132, "sctp"), (58, "icmpv6")];
    match frag {
        Frag::Known(true) => {}
        Frag::Known(false) => {
            for (n, st) in l4 {
                arms.push(format!("{}: parse_{p}{st};", key(n)));
            }
        }
        Frag::Read => {
            arms.push("(2, _): accept;".into());
            for (n, st) in l4 {
                arms.push(format!("{}: parse_{p}{st};", key(n)));
            }
        }
    }
    arms.push("default: accept;".into());
    let on = match frag {
        Frag::Known(_) => format!("hdr.{p}{hdr}.next_hdr"),
        Frag::Read => format!("meta.{p}v6_frag, hdr.{p}{hdr}.next_hdr"),
    };
    format!(
        "        transition select({on}) {{\n{}        }}\n",
        arms.iter()
            .map(|a| format!("            {a}\n"))
            .collect::<String>()
    )
}

/// The states of the IPv6 extension-header walk of one layer.
fn chain(p: &str) -> String {
    let mut s = String::new();
    for i in 0..MAX_EXT {
        let ext = format!("ipv6_ext{i}");
        let _ = write!(
            s,
            "    state parse_{p}{ext} {{
        pkt.extract(hdr.{p}{ext});
        pkt.extract(hdr.{p}{ext}_more, (bit<32>) hdr.{p}{ext}.len * 64);
        meta.{p}v6_proto = hdr.{p}{ext}.next_hdr;
{}    }}
    state parse_{p}ipv6_frag{i} {{
        pkt.extract(hdr.{p}{ext});
        meta.{p}v6_proto = hdr.{p}{ext}.next_hdr;
        transition select(hdr.{p}{ext}.frag_offset, hdr.{p}{ext}.more) {{
            (0, 0): {p}ipv6_frag{i}_none;
            (0, 1): {p}ipv6_frag{i}_first;
            default: {p}ipv6_frag{i}_later;
        }}
    }}
",
            select_next(p, &ext, i + 1, Frag::Read)
        );
        for (name, v) in [("none", 0), ("first", 1), ("later", 2)] {
            let _ = write!(
                s,
                "    state {p}ipv6_frag{i}_{name} {{
        meta.{p}v6_frag = 2w{v};
{}    }}
",
                select_next(p, &ext, i + 1, Frag::Known(v == 2))
            );
        }
    }
    let _ = write!(
        s,
        "    state {p}ipv6_too_many {{
        meta.{p}v6_bad = 1w1;
        transition accept;
    }}
"
    );
    s
}

/// The parser: the outer layer, the tunnels, the inner layer.
pub(crate) fn parser() -> String {
    format!(
        "parser main_parser(packet_in pkt, out headers_t hdr, inout metadata_t meta,
                   in pna_main_parser_input_metadata_t istd) {{
    state start {{ transition parse_eth; }}
{}{TUNNELS}{}}}

",
        layer(""),
        layer("inner_")
    )
}

/// The states of one layer (`p` is `""` or `"inner_"`); only the outer UDP
/// header leads to a tunnel (one level, as sw parses).
fn layer(p: &str) -> String {
    let udp = if p.is_empty() {
        "        transition select(hdr.udp.dst_port) {
            4789: parse_vxlan;
            6081: parse_geneve;
            default: accept;
        }
"
    } else {
        "        transition accept;\n"
    };
    LAYER
        .replace("{P}", p)
        .replace("{UDP}\n", udp)
        .replace("{NEXT}\n", &select_next(p, "ipv6", 0, Frag::Known(false)))
        .replace("{CHAIN}\n", &chain(p))
}

const LAYER: &str = "    state parse_{P}eth {
        pkt.extract(hdr.{P}eth);
        transition select(hdr.{P}eth.ether_type) {
            0x8100: parse_{P}vlan;
            0x88a8: parse_{P}vlan;
            0x0800: check_{P}ipv4;
            0x86dd: check_{P}ipv6;
            default: accept;
        }
    }
    state parse_{P}vlan {
        pkt.extract(hdr.{P}vlan);
        transition select(hdr.{P}vlan.ether_type) {
            0x8100: parse_{P}vlan2;
            0x0800: check_{P}ipv4;
            0x86dd: check_{P}ipv6;
            default: accept;
        }
    }
    state parse_{P}vlan2 {
        pkt.extract(hdr.{P}vlan2);
        transition select(hdr.{P}vlan2.ether_type) {
            0x0800: check_{P}ipv4;
            0x86dd: check_{P}ipv6;
            default: accept;
        }
    }
    // A version other than 4 or an IHL under 5 is a malformed header,
    // which the policy sees as absent (and an IHL under 5 would make the
    // options' varbit length negative). DPDK needs whole-byte lookaheads.
    state check_{P}ipv4 {
        transition select(pkt.lookahead<bit<8>>()) {
            0x40 &&& 0xfc: accept;
            0x44: accept;
            0x40 &&& 0xf0: parse_{P}ipv4;
            default: accept;
        }
    }
    state check_{P}ipv6 {
        transition select(pkt.lookahead<bit<8>>()) {
            0x60 &&& 0xf0: parse_{P}ipv6;
            default: accept;
        }
    }
    state parse_{P}ipv4 {
        pkt.extract(hdr.{P}ipv4);
        // Options are kept (a varbit) so the deparser re-emits them;
        // later fragments carry no L4 header.
        pkt.extract(hdr.{P}ipv4_opts, ((bit<32>) hdr.{P}ipv4.ihl - 5) * 32);
        transition select(hdr.{P}ipv4.frag_offset, hdr.{P}ipv4.protocol) {
            (0, 6): parse_{P}tcp;
            (0, 17): parse_{P}udp;
            (0, 132): parse_{P}sctp;
            (0, 1): parse_{P}icmp;
            default: accept;
        }
    }
    state parse_{P}ipv6 {
        pkt.extract(hdr.{P}ipv6);
        meta.{P}v6_proto = hdr.{P}ipv6.next_hdr;
        meta.{P}v6_frag = 2w0;
        meta.{P}v6_bad = 1w0;
{NEXT}
    }
{CHAIN}
    state parse_{P}tcp { pkt.extract(hdr.{P}tcp); transition accept; }
    state parse_{P}sctp { pkt.extract(hdr.{P}sctp); transition accept; }
    state parse_{P}icmp { pkt.extract(hdr.{P}icmp); transition accept; }
    state parse_{P}icmpv6 { pkt.extract(hdr.{P}icmpv6); transition accept; }
    state parse_{P}udp {
        pkt.extract(hdr.{P}udp);
{UDP}
    }
";

const TUNNELS: &str =
    "    state parse_vxlan { pkt.extract(hdr.vxlan); transition parse_inner_eth; }
    state parse_geneve {
        pkt.extract(hdr.geneve);
        pkt.extract(hdr.geneve_opts, (bit<32>) hdr.geneve.opt_len * 32);
        transition select(hdr.geneve.protocol_type) {
            0x6558: parse_inner_eth;
            0x0800: check_inner_ipv4;
            0x86dd: check_inner_ipv6;
            default: accept;
        }
    }
";

/// The deparser: every instance, valid ones emitted, in order.
pub(crate) fn deparser() -> String {
    let mut s = String::from(
        "control main_deparser(packet_out pkt, in headers_t hdr, in metadata_t meta,
                      in pna_main_output_metadata_t ostd) {
    apply {
",
    );
    for (n, _) in instances() {
        let _ = writeln!(s, "        pkt.emit(hdr.{n});");
    }
    s.push_str("    }\n}\n\n");
    s
}
