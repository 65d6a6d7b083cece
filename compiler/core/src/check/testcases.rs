//! Inline tests (§8): packets, expectations and the names they use.

use super::hir::{self, Elem, Ty, Verdict, L4};
use super::symbols::{self, find};
use super::Checker;
use crate::ast::{self, IcmpWhat, PacketKind, PacketOpt, TestStmt, ValueKind};
use crate::diag::Diagnostic;
use crate::span::Span;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

impl Checker {
    pub(super) fn check_test(&mut self, module: usize, t: &ast::TestDecl) {
        let mut steps = Vec::new();
        for s in &t.stmts {
            if let Some(step) = self.test_step(module, s) {
                steps.push(step);
            }
        }
        self.hir.tests.push(hir::Test {
            name: t.name.value.clone(),
            steps,
            span: t.name.span,
        });
    }

    fn duration(&mut self, v: &ast::Value) -> Option<u64> {
        match v.kind {
            ValueKind::Duration(ns, _) => Some(ns),
            _ => {
                self.err(
                    Diagnostic::new("E0029", v.span, "expected a duration")
                        .label("like `10s` or `250ms`"),
                );
                None
            }
        }
    }

    fn count(&mut self, module: usize, v: &ast::Value) -> Option<u64> {
        self.scalar_int(module, v, 64, "a count").map(|n| n as u64)
    }

    fn test_step(&mut self, module: usize, s: &TestStmt) -> Option<hir::TestStep> {
        Some(match s {
            TestStmt::Send(send) => {
                let packet = self.packet(module, &send.packet, true);
                let on = match &send.on {
                    Some(p) => Some(self.port(p)?),
                    None => None,
                };
                let at_ns = match &send.at {
                    Some(v) => Some(self.duration(v)?),
                    None => None,
                };
                let expect = self.expect(module, &send.expect)?;
                hir::TestStep::Send {
                    packet: packet?,
                    on,
                    at_ns,
                    expect,
                    span: send.span,
                }
            }
            TestStmt::After(v, _) => hir::TestStep::After(self.duration(v)?),
            TestStmt::ExpectCounter {
                name,
                value,
                bytes,
                span,
            } => {
                let Some(&counter) = self.counters_ix.get(&name.name) else {
                    self.unknown_name(module, &name.name, name.span, "counter");
                    return None;
                };
                let _ = self.lookup(module, &name.name);
                hir::TestStep::ExpectCounter {
                    counter,
                    bytes: *bytes,
                    value: self.count(module, value)?,
                    span: *span,
                }
            }
            TestStmt::ExpectRuleHits {
                policy,
                rule,
                value,
                span,
            } => {
                let (policy, rule) = self.rule_ref(module, policy.as_ref(), rule)?;
                hir::TestStep::ExpectRuleHits {
                    policy,
                    rule,
                    value: self.count(module, value)?,
                    span: *span,
                }
            }
            TestStmt::ExpectConntrack { value, span } => {
                self.uses_ct = true;
                hir::TestStep::ExpectConntrack {
                    value: self.count(module, value)?,
                    span: *span,
                }
            }
        })
    }

    /// Finds `[POLICY.]RULE`.
    fn rule_ref(
        &mut self,
        module: usize,
        policy: Option<&ast::Ident>,
        rule: &ast::Ident,
    ) -> Option<(usize, usize)> {
        let candidates: Vec<(usize, usize)> = self
            .hir
            .policies
            .iter()
            .enumerate()
            .filter(|(_, p)| policy.is_none_or(|want| want.name == p.name))
            .flat_map(|(pi, p)| {
                p.rules
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| r.name == rule.name)
                    .map(move |(ri, _)| (pi, ri))
            })
            .collect();
        if let Some(p) = policy {
            if !self.policies_ix.contains_key(&p.name) {
                self.unknown_name(module, &p.name, p.span, "policy");
                return None;
            }
        }
        match candidates.len() {
            1 => Some(candidates[0]),
            0 => {
                let names: Vec<String> = self
                    .hir
                    .policies
                    .iter()
                    .flat_map(|p| p.rules.iter().map(|r| r.name.clone()))
                    .collect();
                let mut d =
                    Diagnostic::new("E0010", rule.span, format!("unknown rule `{}`", rule.name))
                        .label("no rule has this name");
                if let Some(s) = super::suggest(&rule.name, names.iter().map(String::as_str)) {
                    d = d.help(format!("did you mean `{s}`?"));
                }
                self.err(d);
                None
            }
            _ => {
                let names: Vec<String> = candidates
                    .iter()
                    .map(|(p, _)| format!("`{}.{}`", self.hir.policies[*p].name, rule.name))
                    .collect();
                self.err(
                    Diagnostic::new(
                        "E0029",
                        rule.span,
                        format!("rule name `{}` is ambiguous", rule.name),
                    )
                    .label("several policies have a rule with this name")
                    .help(format!("write {}", names.join(" or "))),
                );
                None
            }
        }
    }

    fn expect(&mut self, module: usize, e: &ast::Expect) -> Option<hir::Expect> {
        let verdict = match &e.verdict {
            ast::ExpectVerdict::Accept => Verdict::Accept,
            ast::ExpectVerdict::Drop => Verdict::Drop,
            ast::ExpectVerdict::Forward(p) => Verdict::Forward(self.port(p)?),
        };
        let by = match &e.by {
            Some((p, r)) => Some(self.rule_ref(module, p.as_ref(), r)?),
            None => None,
        };
        let color = match &e.color {
            Some(c) => Some(match c.name.as_str() {
                "green" => 0,
                "yellow" => 1,
                "red" => 2,
                other => {
                    self.err(
                        Diagnostic::new("E0025", c.span, format!("unknown colour `{other}`"))
                            .label("expected green, yellow or red"),
                    );
                    return None;
                }
            }),
            None => None,
        };
        let dscp = match &e.with_dscp {
            Some(v) => Some(self.int_of(module, v, Ty::Int(6))? as u8),
            None => None,
        };
        let mark = match &e.with_mark {
            Some(v) => Some(self.int_of(module, v, Ty::Int(32))? as u32),
            None => None,
        };
        Some(hir::Expect {
            verdict,
            by,
            color,
            dscp,
            mark,
        })
    }

    fn int_of(&mut self, module: usize, v: &ast::Value, ty: Ty) -> Option<u128> {
        match self.one(module, ty, v)? {
            Elem::Int(a, b) if a == b => Some(a),
            _ => {
                self.err(
                    Diagnostic::new("E0015", v.span, "expected one number")
                        .label("not a single number"),
                );
                None
            }
        }
    }

    fn addr(&mut self, module: usize, v: &ast::Value) -> Option<IpAddr> {
        match self.one(module, Ty::Ip, v)? {
            Elem::V4(a, b) if a == b => Some(IpAddr::V4(Ipv4Addr::from(a))),
            Elem::V6(a, b) if a == b => Some(IpAddr::V6(Ipv6Addr::from(a))),
            _ => {
                self.err(
                    Diagnostic::new("E0029", v.span, "a test packet needs one address")
                        .label("not a single address"),
                );
                None
            }
        }
    }

    /// `ADDR:PORT`, both checked (each reports its own error).
    fn endpoint(&mut self, module: usize, e: &ast::Endpoint) -> Option<(IpAddr, u16)> {
        let (addr, port) = (
            self.addr(module, &e.addr),
            self.int_of(module, &e.port, Ty::Int(16)),
        );
        Some((addr?, port? as u16))
    }

    fn packet(&mut self, module: usize, p: &ast::Packet, outer: bool) -> Option<hir::Packet> {
        let (src, dst, l4) = match &p.kind {
            PacketKind::Raw(s) => {
                if !outer || !p.options.is_empty() {
                    self.err(
                        Diagnostic::new("E0029", p.span, "a raw frame takes no options")
                            .label("write the bytes you want"),
                    );
                    return None;
                }
                return match parse_hex(&s.value) {
                    Some(bytes) => Some(hir::Packet::Raw(bytes)),
                    None => {
                        self.err(
                            Diagnostic::new("E0029", s.span, "invalid hex in a raw frame").label(
                                "expected pairs of hex digits, optionally separated by spaces",
                            ),
                        );
                        None
                    }
                };
            }
            PacketKind::Tcp { src, dst, flags } => {
                let mut bits = 0u8;
                for f in flags {
                    match find(symbols::TCP_FLAGS, &f.name) {
                        Some(b) => bits |= b,
                        None => {
                            let mut d = Diagnostic::new(
                                "E0010",
                                f.span,
                                format!("unknown TCP flag `{}`", f.name),
                            )
                            .label("not a flag");
                            if let Some(s) =
                                super::suggest(&f.name, symbols::TCP_FLAGS.iter().map(|(n, _)| *n))
                            {
                                d = d.help(format!("did you mean `{s}`?"));
                            }
                            self.err(d);
                        }
                    }
                }
                let (s, d) = (self.endpoint(module, src), self.endpoint(module, dst));
                let ((sa, sport), (da, dport)) = (s?, d?);
                (
                    sa,
                    da,
                    L4::Tcp {
                        sport,
                        dport,
                        flags: bits,
                    },
                )
            }
            PacketKind::Udp { src, dst } => {
                let (s, d) = (self.endpoint(module, src), self.endpoint(module, dst));
                let ((sa, sport), (da, dport)) = (s?, d?);
                (sa, da, L4::Udp { sport, dport })
            }
            PacketKind::Icmp { src, dst, what } => {
                let (sa, da) = (self.addr(module, src), self.addr(module, dst));
                let (sa, da) = (sa?, da?);
                let (ty, code) = match what {
                    IcmpWhat::TypeCode(t, c) => (
                        self.int_of(module, t, Ty::Int(8))? as u8,
                        self.int_of(module, c, Ty::Int(8))? as u8,
                    ),
                    IcmpWhat::Name(n) => {
                        let table = if sa.is_ipv4() {
                            symbols::ICMP4
                        } else {
                            symbols::ICMP6
                        };
                        match find(table, &n.name) {
                            Some(t) => (t, 0),
                            None => {
                                let fam = if sa.is_ipv4() { "ICMPv4" } else { "ICMPv6" };
                                self.err(
                                    Diagnostic::new(
                                        "E0029",
                                        n.span,
                                        format!("`{}` is not an {fam} type", n.name),
                                    )
                                    .label("unknown for this address family"),
                                );
                                return None;
                            }
                        }
                    }
                };
                (
                    sa,
                    da,
                    L4::Icmp {
                        ty,
                        code,
                        id: 1,
                        seq: 1,
                    },
                )
            }
            PacketKind::Ip { src, dst, proto } => {
                let (sa, da) = (self.addr(module, src), self.addr(module, dst));
                (
                    sa?,
                    da?,
                    L4::Proto(self.int_of(module, proto, Ty::Int(8))? as u8),
                )
            }
        };
        if src.is_ipv4() != dst.is_ipv4() {
            self.err(
                Diagnostic::new(
                    "E0029",
                    p.span,
                    "source and destination are of different address families",
                )
                .label("one is IPv4, the other IPv6"),
            );
            return None;
        }
        let mut spec = hir::PacketSpec::new(src, dst, l4);
        for o in &p.options {
            self.packet_opt(module, &mut spec, o, p.span)?;
        }
        Some(hir::Packet::Spec(spec))
    }

    fn packet_opt(
        &mut self,
        module: usize,
        spec: &mut hir::PacketSpec,
        o: &PacketOpt,
        span: Span,
    ) -> Option<()> {
        match o {
            PacketOpt::Vlan(v) => spec.vlan = Some(self.int_of(module, v, Ty::Int(12))? as u16),
            PacketOpt::Dscp(v) => spec.dscp = self.int_of(module, v, Ty::Int(6))? as u8,
            PacketOpt::Ecn(v) => spec.ecn = self.int_of(module, v, Ty::Int(2))? as u8,
            PacketOpt::Ttl(v) => spec.ttl = self.int_of(module, v, Ty::Int(8))? as u8,
            PacketOpt::Len(v) => spec.len = Some(self.int_of(module, v, Ty::Int(16))? as u16),
            PacketOpt::Id(v) | PacketOpt::Seq(v) => {
                let n = self.int_of(module, v, Ty::Int(16))? as u16;
                match &mut spec.l4 {
                    L4::Icmp { id, seq, .. } => {
                        if matches!(o, PacketOpt::Id(_)) {
                            *id = n;
                        } else {
                            *seq = n;
                        }
                    }
                    _ => {
                        self.err(
                            Diagnostic::new(
                                "E0029",
                                v.span,
                                "`id` and `seq` are for ICMP echo packets",
                            )
                            .label("not an ICMP packet"),
                        );
                        return None;
                    }
                }
            }
            PacketOpt::Frag(w) => {
                spec.frag = match find(symbols::FRAGS, &w.name) {
                    Some(0) => hir::FragSpec::None,
                    Some(1) => hir::FragSpec::First,
                    Some(_) => hir::FragSpec::Later,
                    None => {
                        self.err(
                            Diagnostic::new(
                                "E0029",
                                w.span,
                                format!("unknown fragment position `{}`", w.name),
                            )
                            .label("expected `first` or `later`"),
                        );
                        return None;
                    }
                }
            }
            PacketOpt::Eth(a, b) => {
                let mac = |me: &mut Self, v: &ast::Value| -> Option<[u8; 6]> {
                    match me.one(module, Ty::Mac, v)? {
                        Elem::Int(n, _) => {
                            let b = n.to_be_bytes();
                            let mut m = [0u8; 6];
                            m.copy_from_slice(&b[10..16]);
                            Some(m)
                        }
                        _ => None,
                    }
                };
                let (s, d) = (mac(self, a), mac(self, b));
                (spec.eth_src, spec.eth_dst) = (s?, d?);
            }
            PacketOpt::Vxlan(v, inner) | PacketOpt::Geneve(v, inner) => {
                let vni = self.int_of(module, v, Ty::Int(24))? as u32;
                let kind = if matches!(o, PacketOpt::Geneve(..)) {
                    hir::EncapKind::Geneve
                } else {
                    hir::EncapKind::Vxlan
                };
                match self.packet(module, inner, false)? {
                    hir::Packet::Spec(inner) => {
                        spec.encap = Some(Box::new(hir::Encap { kind, vni, inner }))
                    }
                    hir::Packet::Raw(_) => {
                        self.err(
                            Diagnostic::new(
                                "E0029",
                                span,
                                "a tunnel carries a described packet, not raw bytes",
                            )
                            .label("raw inner packet"),
                        );
                        return None;
                    }
                }
            }
        }
        Some(())
    }
}

/// Bytes from `"02 00 0a"` or `"02000a"`.
fn parse_hex(s: &str) -> Option<Vec<u8>> {
    let digits: Vec<char> = s.chars().filter(|c| !c.is_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    digits
        .chunks(2)
        .map(|p| {
            let hi = p[0].to_digit(16)?;
            let lo = p[1].to_digit(16)?;
            Some((hi * 16 + lo) as u8)
        })
        .collect()
}
