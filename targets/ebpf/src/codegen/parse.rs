//! The packet parser in eBPF: the same layers, limits and malformed-frame
//! rules as the runtime's parser (`dpuc_runtime::packet`), so every target
//! reads the same field values from the same bytes. Every read is preceded
//! by the bounds check the verifier needs; a check that fails ends the
//! layer exactly where the software parser gives up.

use super::conntrack::kind;
use super::gen::{slot, Gen, Value};
use crate::insn::{AluOp, JmpCond, Label, Reg, Size};
use dpuc_ir::{Field, FieldRef, Header};

/// IPv6 extension headers walked before the frame counts as malformed.
const MAX_EXT_HEADERS: usize = 8;
/// Parse offsets beyond this are treated as a cut-short frame; it keeps
/// the verifier's view of packet offsets bounded.
pub(super) const MAX_OFFSET: i32 = 16 * 1024;

impl Gen {
    fn f(&self, inner: bool, field: Field) -> FieldRef {
        FieldRef { inner, field }
    }

    fn valid(&mut self, inner: bool, h: Header) {
        let f = self.f(inner, Field::Valid(h));
        self.set_imm(f, 1);
    }

    /// Passes `r9` through the scratch map, so the verifier sees one
    /// bounded offset here rather than one state per path that led here
    /// (the parse would otherwise multiply states past its limit).
    fn normalize(&mut self, done: Label) {
        self.st(Size::DW, Reg::R6, slot::POS, Reg::R9);
        self.ld(Size::DW, Reg::R9, Reg::R6, slot::POS);
        self.jif(JmpCond::Gt, Reg::R9, MAX_OFFSET, done);
    }

    fn uses_inner(&self) -> bool {
        self.slots
            .keys()
            .any(|v| matches!(v, Value::Field(f) if f.inner))
    }

    /// Parses the frame into the field slots. Expects `r7`/`r8` set; ends
    /// at `done` (bound by the caller).
    pub fn parse(&mut self, done: Label) {
        self.mov(Reg::R9, 0);
        let inner = self.label();
        self.layer(false, done, Some(inner));
        self.bind(inner);
        if self.uses_inner() {
            self.layer(true, done, None);
        } else {
            self.ja(done);
        }
    }

    /// One layer starting at `r9`. `tunnel` is where a VXLAN/Geneve outer
    /// layer continues (with `r9` at the inner frame).
    fn layer(&mut self, inner: bool, done: Label, tunnel: Option<Label>) {
        let l2_bad = self.label();
        let l2_ok = self.label();
        let vlan_done = self.label();
        self.normalize(done);
        self.need(14, done);
        self.st(Size::DW, Reg::R6, slot::L2, Reg::R9);
        self.ld(Size::H, Reg::R3, Reg::R1, 12);
        self.swap(Reg::R3, 16);
        self.alu(AluOp::Add, Reg::R9, 14);
        for tag in 0..2 {
            let is_tag = self.label();
            self.jif(JmpCond::Eq, Reg::R3, 0x8100, is_tag);
            self.jif(JmpCond::Ne, Reg::R3, 0x88a8, vlan_done);
            self.bind(is_tag);
            self.need(4, l2_bad);
            if tag == 0 {
                self.ld(Size::H, Reg::R4, Reg::R1, 0);
                self.swap(Reg::R4, 16);
                self.mov(Reg::R5, Reg::R4);
                self.alu(AluOp::And, Reg::R5, 0x0fff);
                self.set(self.f(inner, Field::VlanId), Reg::R5);
                self.alu(AluOp::Rsh, Reg::R4, 13);
                self.set(self.f(inner, Field::VlanPcp), Reg::R4);
                self.valid(inner, Header::Vlan);
                if !inner {
                    self.st(Size::DW, Reg::R6, slot::VLANOFF, Reg::R9);
                }
            }
            self.ld(Size::H, Reg::R3, Reg::R1, 2);
            self.swap(Reg::R3, 16);
            self.alu(AluOp::Add, Reg::R9, 4);
        }
        self.ja(vlan_done);
        // A cut-short tag: the software parser keeps nothing of this layer.
        self.bind(l2_bad);
        for f in [Field::VlanId, Field::VlanPcp, Field::Valid(Header::Vlan)] {
            self.set_imm(self.f(inner, f), 0);
        }
        if !inner {
            self.st(Size::DW, Reg::R6, slot::VLANOFF, slot::NONE);
        }
        self.ja(done);

        self.bind(vlan_done);
        self.normalize(done);
        self.eth_fields(inner, l2_ok, done);
        self.bind(l2_ok);
        let v4 = self.label();
        let v6 = self.label();
        let l4 = self.label();
        self.jif(JmpCond::Eq, Reg::R3, 0x0800, v4);
        self.jif(JmpCond::Eq, Reg::R3, 0x86dd, v6);
        self.ja(done);
        self.bind(v4);
        self.ipv4(inner, done, l4);
        self.bind(v6);
        self.ipv6(inner, done, l4);
        self.bind(l4);
        self.normalize(done);
        self.l4(inner, done, tunnel);
    }

    /// Ethernet fields, from the layer start kept in `slot::L2`; `r3` is
    /// the EtherType after the tags and survives.
    fn eth_fields(&mut self, inner: bool, ok: Label, done: Label) {
        self.valid(inner, Header::Eth);
        self.set(self.f(inner, Field::EthType), Reg::R3);
        let dst = self.slot(Value::Field(self.f(inner, Field::EthDst)));
        let src = self.slot(Value::Field(self.f(inner, Field::EthSrc)));
        if dst.is_none() && src.is_none() {
            self.ja(ok);
            return;
        }
        self.ld(Size::DW, Reg::R4, Reg::R6, slot::L2);
        self.jif(JmpCond::Gt, Reg::R4, MAX_OFFSET, done);
        self.mov(Reg::R1, Reg::R7);
        self.alu(AluOp::Add, Reg::R1, Reg::R4);
        self.mov(Reg::R2, Reg::R1);
        self.alu(AluOp::Add, Reg::R2, 14);
        self.jif(JmpCond::Gt, Reg::R2, Reg::R8, done);
        for (s, off) in [(dst, 0), (src, 6)] {
            let Some(s) = s else { continue };
            self.ld(Size::H, Reg::R4, Reg::R1, off);
            self.swap(Reg::R4, 16);
            self.alu(AluOp::Lsh, Reg::R4, 32);
            self.ld(Size::W, Reg::R5, Reg::R1, off + 2);
            self.swap(Reg::R5, 32);
            self.alu(AluOp::Or, Reg::R4, Reg::R5);
            self.st(Size::DW, Reg::R6, s, Reg::R4);
        }
        self.ja(ok);
    }

    /// Fields common to both IP versions; `r4` holds the traffic class byte
    /// and `r5` the TTL.
    fn ip_common(&mut self, inner: bool, version: i32) {
        self.valid(inner, Header::Ip);
        self.valid(
            inner,
            if version == 4 {
                Header::Ipv4
            } else {
                Header::Ipv6
            },
        );
        self.set_imm(self.f(inner, Field::IpVersion), version);
        self.set(self.f(inner, Field::IpTtl), Reg::R5);
        self.mov(Reg::R5, Reg::R4);
        self.alu(AluOp::Rsh, Reg::R5, 2);
        self.set(self.f(inner, Field::IpDscp), Reg::R5);
        self.alu(AluOp::And, Reg::R4, 3);
        self.set(self.f(inner, Field::IpEcn), Reg::R4);
        self.ld(Size::DW, Reg::R4, Reg::R6, slot::PROTO);
        self.set(self.f(inner, Field::IpProto), Reg::R4);
        self.ld(Size::DW, Reg::R4, Reg::R6, slot::FRAG);
        self.set(self.f(inner, Field::IpFrag), Reg::R4);
        if !inner {
            self.ld(Size::DW, Reg::R4, Reg::R6, slot::L3);
            self.st(Size::DW, Reg::R6, slot::IPOFF, Reg::R4);
        }
    }

    fn ipv4(&mut self, inner: bool, done: Label, l4: Label) {
        // Until the header checks pass, a broken L3 header is `invalid`.
        self.ct_kind(inner, kind::INVALID);
        self.need(20, done);
        self.ld(Size::B, Reg::R4, Reg::R1, 0);
        self.mov(Reg::R5, Reg::R4);
        self.alu(AluOp::Rsh, Reg::R5, 4);
        self.jif(JmpCond::Ne, Reg::R5, 4, done);
        self.alu(AluOp::And, Reg::R4, 0x0f);
        self.alu(AluOp::Lsh, Reg::R4, 2);
        self.jif(JmpCond::Lt, Reg::R4, 20, done);
        self.ld(Size::H, Reg::R5, Reg::R1, 2);
        self.swap(Reg::R5, 16);
        self.jif(JmpCond::Lt, Reg::R5, Reg::R4, done);
        self.mov(Reg::R0, Reg::R1);
        self.alu(AluOp::Add, Reg::R0, Reg::R5);
        self.jif(JmpCond::Gt, Reg::R0, Reg::R8, done);
        self.st(Size::DW, Reg::R6, slot::L3, Reg::R9);
        self.alu(AluOp::Add, Reg::R9, Reg::R4);
        // Fragment position from flags and offset.
        let first = self.label();
        let set = self.label();
        self.ld(Size::H, Reg::R4, Reg::R1, 6);
        self.swap(Reg::R4, 16);
        self.mov(Reg::R5, 2);
        self.mov(Reg::R0, Reg::R4);
        self.alu(AluOp::And, Reg::R0, 0x1fff);
        self.jif(JmpCond::Ne, Reg::R0, 0, set);
        self.mov(Reg::R5, 0);
        self.jif(JmpCond::Set, Reg::R4, 0x2000, first);
        self.ja(set);
        self.bind(first);
        self.mov(Reg::R5, 1);
        self.bind(set);
        self.st(Size::DW, Reg::R6, slot::FRAG, Reg::R5);
        self.ld(Size::B, Reg::R4, Reg::R1, 9);
        self.st(Size::DW, Reg::R6, slot::PROTO, Reg::R4);
        for (field, off) in [(Field::Ip4Src, 12), (Field::Ip4Dst, 16)] {
            if self.slot(Value::Field(self.f(inner, field))).is_some() {
                self.ld(Size::W, Reg::R4, Reg::R1, off);
                self.swap(Reg::R4, 32);
                self.set(self.f(inner, field), Reg::R4);
            }
        }
        self.ct_ipv4(inner);
        self.ld(Size::B, Reg::R4, Reg::R1, 1);
        self.ld(Size::B, Reg::R5, Reg::R1, 8);
        self.ip_common(inner, 4);
        self.ja(l4);
    }

    fn ipv6(&mut self, inner: bool, done: Label, l4: Label) {
        self.ct_kind(inner, kind::INVALID);
        self.need(40, done);
        self.ld(Size::B, Reg::R4, Reg::R1, 0);
        self.alu(AluOp::Rsh, Reg::R4, 4);
        self.jif(JmpCond::Ne, Reg::R4, 6, done);
        self.ld(Size::H, Reg::R5, Reg::R1, 4);
        self.swap(Reg::R5, 16);
        self.alu(AluOp::Add, Reg::R5, 40);
        self.mov(Reg::R0, Reg::R1);
        self.alu(AluOp::Add, Reg::R0, Reg::R5);
        self.jif(JmpCond::Gt, Reg::R0, Reg::R8, done);
        self.st(Size::DW, Reg::R6, slot::L3, Reg::R9);
        self.st(Size::DW, Reg::R6, slot::FRAG, 0);
        self.ld(Size::B, Reg::R4, Reg::R1, 6);
        self.alu(AluOp::Add, Reg::R9, 40);
        let walked = self.label();
        for _ in 0..=MAX_EXT_HEADERS {
            let opts = self.label();
            let frag = self.label();
            let next = self.label();
            self.jif(JmpCond::Eq, Reg::R4, 0, opts);
            self.jif(JmpCond::Eq, Reg::R4, 43, opts);
            self.jif(JmpCond::Eq, Reg::R4, 60, opts);
            self.jif(JmpCond::Ne, Reg::R4, 44, walked);
            self.bind(frag);
            self.jif(JmpCond::Gt, Reg::R9, MAX_OFFSET, done);
            self.need(8, done);
            let first = self.label();
            let set = self.label();
            self.ld(Size::H, Reg::R4, Reg::R1, 2);
            self.swap(Reg::R4, 16);
            self.mov(Reg::R5, 2);
            self.mov(Reg::R0, Reg::R4);
            self.alu(AluOp::Rsh, Reg::R0, 3);
            self.jif(JmpCond::Ne, Reg::R0, 0, set);
            self.mov(Reg::R5, 0);
            self.jif(JmpCond::Set, Reg::R4, 1, first);
            self.ja(set);
            self.bind(first);
            self.mov(Reg::R5, 1);
            self.bind(set);
            self.st(Size::DW, Reg::R6, slot::FRAG, Reg::R5);
            self.ld(Size::B, Reg::R4, Reg::R1, 0);
            self.alu(AluOp::Add, Reg::R9, 8);
            self.ja(next);
            self.bind(opts);
            self.jif(JmpCond::Gt, Reg::R9, MAX_OFFSET, done);
            self.need(2, done);
            self.ld(Size::B, Reg::R4, Reg::R1, 0);
            self.ld(Size::B, Reg::R5, Reg::R1, 1);
            self.alu(AluOp::Add, Reg::R5, 1);
            self.alu(AluOp::Lsh, Reg::R5, 3);
            self.mov(Reg::R0, Reg::R1);
            self.alu(AluOp::Add, Reg::R0, Reg::R5);
            self.jif(JmpCond::Gt, Reg::R0, Reg::R8, done);
            self.alu(AluOp::Add, Reg::R9, Reg::R5);
            self.bind(next);
            self.normalize(done);
        }
        // More extension headers than the software parser walks: malformed.
        self.ja(done);
        self.bind(walked);
        self.st(Size::DW, Reg::R6, slot::PROTO, Reg::R4);
        self.ld(Size::DW, Reg::R4, Reg::R6, slot::L3);
        self.jif(JmpCond::Gt, Reg::R4, MAX_OFFSET, done);
        self.mov(Reg::R1, Reg::R7);
        self.alu(AluOp::Add, Reg::R1, Reg::R4);
        self.mov(Reg::R2, Reg::R1);
        self.alu(AluOp::Add, Reg::R2, 40);
        self.jif(JmpCond::Gt, Reg::R2, Reg::R8, done);
        for (field, off) in [(Field::Ip6Src, 8), (Field::Ip6Dst, 24)] {
            if let Some(s) = self.slot(Value::Field(self.f(inner, field))) {
                for half in [0, 8] {
                    self.ld(Size::DW, Reg::R4, Reg::R1, off + half);
                    self.st(Size::DW, Reg::R6, s + half, Reg::R4);
                }
            }
        }
        self.ct_ipv6(inner);
        self.ld(Size::B, Reg::R4, Reg::R1, 0);
        self.alu(AluOp::Lsh, Reg::R4, 4);
        self.ld(Size::B, Reg::R5, Reg::R1, 1);
        self.alu(AluOp::Rsh, Reg::R5, 4);
        self.alu(AluOp::Or, Reg::R4, Reg::R5);
        self.alu(AluOp::And, Reg::R4, 0xff);
        self.ld(Size::B, Reg::R5, Reg::R1, 7);
        self.ip_common(inner, 6);
        self.ja(l4);
    }

    /// Source and destination ports at `r1` into the protocol's fields.
    fn ports(&mut self, inner: bool, sport: Option<Field>, dport: Option<Field>) {
        self.ld(Size::H, Reg::R4, Reg::R1, 0);
        self.swap(Reg::R4, 16);
        self.ld(Size::H, Reg::R5, Reg::R1, 2);
        self.swap(Reg::R5, 16);
        if let (Some(s), Some(d)) = (sport, dport) {
            self.set(self.f(inner, s), Reg::R4);
            self.set(self.f(inner, d), Reg::R5);
        }
        self.set(self.f(inner, Field::L4Sport), Reg::R4);
        self.set(self.f(inner, Field::L4Dport), Reg::R5);
        self.valid(inner, Header::L4);
    }

    fn l4(&mut self, inner: bool, done: Label, tunnel: Option<Label>) {
        let (tcp, udp, sctp, icmp4, icmp6) = (
            self.label(),
            self.label(),
            self.label(),
            self.label(),
            self.label(),
        );
        // The IP header is good: untracked unless L4 says otherwise (a
        // later fragment, an untracked protocol).
        self.ct_l4(inner);
        self.ld(Size::DW, Reg::R4, Reg::R6, slot::FRAG);
        self.jif(JmpCond::Eq, Reg::R4, 2, done);
        self.jif(JmpCond::Gt, Reg::R9, MAX_OFFSET, done);
        self.ld(Size::DW, Reg::R4, Reg::R6, slot::PROTO);
        self.jif(JmpCond::Eq, Reg::R4, 6, tcp);
        self.jif(JmpCond::Eq, Reg::R4, 17, udp);
        self.jif(JmpCond::Eq, Reg::R4, 132, sctp);
        self.jif(JmpCond::Eq, Reg::R4, 1, icmp4);
        self.jif(JmpCond::Eq, Reg::R4, 58, icmp6);
        self.ja(done);

        self.bind(tcp);
        // Until the header checks pass, a broken L4 header is `invalid`.
        self.ct_kind(inner, kind::INVALID);
        self.need(20, done);
        self.ld(Size::B, Reg::R4, Reg::R1, 12);
        self.alu(AluOp::Rsh, Reg::R4, 4);
        self.alu(AluOp::Lsh, Reg::R4, 2);
        self.jif(JmpCond::Lt, Reg::R4, 20, done);
        self.mov(Reg::R0, Reg::R1);
        self.alu(AluOp::Add, Reg::R0, Reg::R4);
        self.jif(JmpCond::Gt, Reg::R0, Reg::R8, done);
        self.valid(inner, Header::Tcp);
        self.ports(inner, Some(Field::TcpSport), Some(Field::TcpDport));
        self.ld(Size::B, Reg::R0, Reg::R1, 13);
        self.set(self.f(inner, Field::TcpFlags), Reg::R0);
        self.ct_ports(inner, Some(Reg::R0));
        self.ja(done);

        self.bind(sctp);
        self.ct_kind(inner, kind::INVALID);
        self.need(12, done);
        self.valid(inner, Header::Sctp);
        self.ports(inner, None, None);
        self.ct_kind(inner, kind::UNTRACKED);
        self.ja(done);

        for (label, v6) in [(icmp4, false), (icmp6, true)] {
            self.bind(label);
            self.ct_kind(inner, kind::INVALID);
            self.need(8, done);
            self.ct_icmp(inner, v6);
            self.valid(inner, Header::Icmp);
            self.valid(inner, if v6 { Header::Icmpv6 } else { Header::Icmpv4 });
            self.ld(Size::B, Reg::R4, Reg::R1, 0);
            self.set(self.f(inner, Field::IcmpType), Reg::R4);
            self.ld(Size::B, Reg::R4, Reg::R1, 1);
            self.set(self.f(inner, Field::IcmpCode), Reg::R4);
            self.ja(done);
        }

        self.bind(udp);
        self.ct_kind(inner, kind::INVALID);
        self.need(8, done);
        self.valid(inner, Header::Udp);
        self.ports(inner, Some(Field::UdpSport), Some(Field::UdpDport));
        self.ct_ports(inner, None);
        let Some(tunnel) = tunnel else {
            self.ja(done);
            return;
        };
        let (vxlan, geneve) = (self.label(), self.label());
        self.jif(JmpCond::Eq, Reg::R5, 4789, vxlan);
        self.jif(JmpCond::Eq, Reg::R5, 6081, geneve);
        self.ja(done);
        for (label, h, f) in [
            (vxlan, Header::Vxlan, Field::VxlanVni),
            (geneve, Header::Geneve, Field::GeneveVni),
        ] {
            self.bind(label);
            self.need(15, done);
            self.ld(Size::B, Reg::R4, Reg::R1, 12);
            self.alu(AluOp::Lsh, Reg::R4, 16);
            self.ld(Size::B, Reg::R5, Reg::R1, 13);
            self.alu(AluOp::Lsh, Reg::R5, 8);
            self.alu(AluOp::Or, Reg::R4, Reg::R5);
            self.ld(Size::B, Reg::R5, Reg::R1, 14);
            self.alu(AluOp::Or, Reg::R4, Reg::R5);
            self.set(self.f(false, f), Reg::R4);
            self.valid(false, h);
            if h == Header::Vxlan {
                self.alu(AluOp::Add, Reg::R9, 16);
            } else {
                self.ld(Size::B, Reg::R4, Reg::R1, 8);
                self.alu(AluOp::And, Reg::R4, 0x3f);
                self.alu(AluOp::Lsh, Reg::R4, 2);
                self.alu(AluOp::Add, Reg::R9, 16);
                self.alu(AluOp::Add, Reg::R9, Reg::R4);
            }
            self.ja(tunnel);
        }
    }
}
