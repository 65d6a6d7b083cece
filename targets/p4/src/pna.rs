//! PNA backend: P4_16 for the Portable NIC Architecture (`pna.p4`), the
//! AMD Pensando path, with a P4Info and P4Runtime entries.
//!
//! Shape of the output: one metadata field per IR field the program reads,
//! computed from the parsed headers at the top of `main_control` (so table
//! keys never depend on which of IPv4/IPv6 or TCP/UDP is present); one P4
//! table per application of an IR table; one action per rule that records
//! the rule id and counts its hit; and the IR's node DAG unfolded into
//! nested `switch (t.apply().action_run)` blocks, where each case performs
//! the rule's steps in order and then its verdict, jump or continuation.

use crate::runtime::bytes_json;
use crate::{sanitize, Artifact, Profile};
use dpuc_ir::{
    End, Field, FieldRef, Header, KeySource, Match, MatchKind, MeterKind, MeterUnit, Node, NodeId,
    Pipeline, PortId, Program, Step, Table, TableId, TableKind, Terminal,
};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// PNA backend options.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Options {
    /// Target profile (`pna`, `pensando-elba`).
    pub profile: String,
    /// Bake entries into the program as `const entries` instead of
    /// emitting them as P4Runtime updates.
    pub const_entries: bool,
    /// Port that `accept` sends to in a program without a `pipeline`
    /// block; `None` leaves the packet's destination at the
    /// architecture's default.
    pub accept_port: Option<u32>,
    /// Largest number of table applications the unfolded control flow may
    /// have (sharing in the IR's DAG is unfolded into copies).
    pub max_applications: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            profile: "pna".into(),
            const_entries: false,
            accept_port: None,
            max_applications: 256,
        }
    }
}

/// Why the PNA backend refuses a program.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// `Options::profile` names no built-in profile.
    #[error("target pna: unknown profile `{0}`")]
    UnknownProfile(String),
    /// A rule rejects; PNA has no way to send a TCP RST / ICMP error.
    #[error("target pna: rule `{rule}` uses `reject`, which PNA cannot synthesize; use `drop`")]
    Reject {
        /// The rule.
        rule: String,
    },
    /// A meter algorithm PNA's `Meter` (RFC 2698 trTCM) cannot express exactly.
    #[error("target pna: meter `{meter}` is {kind}; PNA meters are trTCM only")]
    UnsupportedMeter {
        /// The meter.
        meter: String,
        /// Its algorithm.
        kind: &'static str,
    },
    /// A construct the backend does not lower.
    #[error("target pna: {0} is not supported")]
    Unsupported(String),
    /// A table does not fit the profile.
    #[error("target pna ({profile}): table `{table}` needs {needed} {kind} entries but the profile holds {capacity}")]
    Capacity {
        /// Profile name.
        profile: String,
        /// The table.
        table: String,
        /// Its most expensive match kind.
        kind: &'static str,
        /// Entries needed (max of declared size and entry count).
        needed: u64,
        /// Profile capacity.
        capacity: u64,
    },
    /// Unfolding the DAG would apply too many tables.
    #[error("target pna: the control flow unfolds into more than {0} table applications")]
    TooManyApplications(usize),
}

const TABLE_ID: u32 = 0x0200_0000;
const ACTION_ID: u32 = 0x0100_0000;
const COUNTER_ID: u32 = 0x1200_0000;
const METER_ID: u32 = 0x1500_0000;
const NOACTION_ID: u32 = ACTION_ID | 0x00ff_ffff;

/// Lowers a validated program to PNA P4.
pub fn emit(program: &dpuc_ir::Valid, options: &Options) -> Result<Artifact, Error> {
    let p: &Program = program;
    let profile = Profile::builtin(&options.profile)
        .ok_or_else(|| Error::UnknownProfile(options.profile.clone()))?;
    let mut e = Emitter::new(p, options, profile);
    e.check()?;
    e.run()
}

/// One application of an IR table: its P4 name and id.
struct Copy {
    table: TableId,
    name: String,
    id: u32,
}

struct Emitter<'a> {
    p: &'a Program,
    o: &'a Options,
    profile: Profile,
    /// Every field read by a key, so the prologue computes only those.
    fields: BTreeSet<FieldRef>,
    copies: Vec<Copy>,
    per_table: BTreeMap<TableId, usize>,
    meter_vars: usize,
    notes: Vec<String>,
}

fn kind_name(k: MatchKind) -> &'static str {
    match k {
        MatchKind::Exact => "exact",
        MatchKind::Lpm => "lpm",
        MatchKind::Ternary => "ternary",
        MatchKind::Range => "range",
    }
}

fn field_name(f: FieldRef) -> String {
    let base = match f.field {
        Field::Valid(h) => format!("valid_{}", h.name()),
        other => {
            let dbg = format!("{other:?}");
            let mut s = String::new();
            for (i, c) in dbg.chars().enumerate() {
                if c.is_ascii_uppercase() {
                    if i > 0 {
                        s.push('_');
                    }
                    s.push(c.to_ascii_lowercase());
                } else {
                    s.push(c);
                }
            }
            s
        }
    };
    if f.inner {
        format!("f_inner_{base}")
    } else {
        format!("f_{base}")
    }
}

fn lit(width: u32, v: u128) -> String {
    format!("{width}w0x{v:x}")
}

/// The P4 match kind of key `ki`: lpm in rule tables is matched as
/// ternary, because P4 orders LPM entries by prefix length while the IR
/// orders every rule-table entry by priority; an exact key that some entry
/// wildcards is ternary too, since P4 exact keys cannot be wildcarded.
fn p4_kind(t: &Table, ki: usize) -> MatchKind {
    let k = t.keys[ki].kind;
    let wildcarded = t
        .entries
        .iter()
        .any(|e| matches!(e.matches.get(ki), Some(Match::Any)));
    match (t.kind, k) {
        (TableKind::Rules { .. }, MatchKind::Lpm) => MatchKind::Ternary,
        (_, MatchKind::Exact) if wildcarded => MatchKind::Ternary,
        _ => k,
    }
}

/// Whether P4Runtime wants priorities for a table (any ternary/range key).
fn needs_priority(t: &Table) -> bool {
    (0..t.keys.len()).any(|ki| matches!(p4_kind(t, ki), MatchKind::Ternary | MatchKind::Range))
}

impl<'a> Emitter<'a> {
    fn new(p: &'a Program, o: &'a Options, profile: Profile) -> Self {
        let mut fields = BTreeSet::new();
        for t in &p.tables {
            for k in &t.keys {
                if let KeySource::Field(f) = k.source {
                    fields.insert(f);
                }
            }
        }
        Emitter {
            p,
            o,
            profile,
            fields,
            copies: Vec::new(),
            per_table: BTreeMap::new(),
            meter_vars: 0,
            notes: Vec::new(),
        }
    }

    fn rule_label(&self, r: u32) -> String {
        let rule = &self.p.rules[r as usize];
        format!(
            "{}.{}",
            self.p.policies[rule.policy as usize].name, rule.name
        )
    }

    /// Refusals that do not depend on the unfolding.
    fn check(&mut self) -> Result<(), Error> {
        let p = self.p;
        if p.conntrack.is_some() {
            return Err(Error::Unsupported(
                "conntrack (a faithful PNA add_on_miss state machine is not implemented)".into(),
            ));
        }
        for f in &self.fields {
            self.prologue_for(*f)?;
        }
        for m in &p.meters {
            match m.kind {
                MeterKind::TrTcm { .. } => {}
                MeterKind::TokenBucket { .. } => {
                    return Err(Error::UnsupportedMeter {
                        meter: m.name.clone(),
                        kind: "a token bucket",
                    })
                }
                MeterKind::SrTcm { .. } => {
                    return Err(Error::UnsupportedMeter {
                        meter: m.name.clone(),
                        kind: "srTCM (RFC 2697)",
                    })
                }
            }
            if !m.per.is_empty() {
                return Err(Error::Unsupported(format!(
                    "per-key meter `{}` (PNA meters are indexed arrays, not keyed)",
                    m.name
                )));
            }
        }
        for (i, r) in p.rules.iter().enumerate() {
            let label = self.rule_label(i as u32);
            let mut steps: Vec<&Step> = r.actions.steps.iter().collect();
            let mut terms = Vec::new();
            if let End::Terminal(t) = r.actions.end {
                terms.push(t);
            }
            let mut k = 0;
            while k < steps.len() {
                if let Step::Meter { arms, .. } = steps[k] {
                    for a in arms.iter() {
                        steps.extend(a.steps.iter());
                        terms.extend(a.terminal);
                    }
                }
                k += 1;
            }
            if terms.contains(&Terminal::Reject) {
                return Err(Error::Reject { rule: label });
            }
            for s in steps {
                match s {
                    Step::Log { .. } => {
                        return Err(Error::Unsupported(format!(
                            "`log` in rule `{label}` (PNA has no event stream; a Digest would need a controller)"
                        )))
                    }
                    Step::Set { field, .. } if field.field == Field::CtMark => {
                        return Err(Error::Unsupported(format!("ct.mark in rule `{label}`")))
                    }
                    Step::Set { field, .. } if field.inner => {
                        return Err(Error::Unsupported(format!(
                            "rewriting an inner field in rule `{label}`"
                        )))
                    }
                    Step::Mirror(port) if p.ports[*port as usize].number > 0xffff => {
                        return Err(Error::Unsupported(format!(
                            "mirror to port number above 65535 in rule `{label}`"
                        )));
                    }
                    _ => {}
                }
            }
        }
        for pol in &p.policies {
            if pol.default == Some(Terminal::Reject) {
                return Err(Error::Reject {
                    rule: format!("{} (default)", pol.name),
                });
            }
        }
        for n in &p.nodes {
            if *n == Node::Verdict(Terminal::Reject) {
                return Err(Error::Reject {
                    rule: "a policy default".into(),
                });
            }
        }
        for t in &p.tables {
            if t.keys.is_empty() && !t.entries.is_empty() {
                return Err(Error::Unsupported(format!("keyless table `{}`", t.name)));
            }
            let worst = t
                .keys
                .iter()
                .enumerate()
                .map(|(ki, _)| p4_kind(t, ki))
                .max_by_key(|k| match k {
                    MatchKind::Exact => 0,
                    MatchKind::Lpm => 1,
                    MatchKind::Ternary => 2,
                    MatchKind::Range => 3,
                })
                .unwrap_or(MatchKind::Exact);
            let c = &self.profile.capacity;
            let cap = match worst {
                MatchKind::Exact => c.exact,
                MatchKind::Lpm => c.lpm,
                MatchKind::Ternary => c.ternary,
                MatchKind::Range => c.range,
            };
            let needed = u64::from(t.size).max(t.entries.len() as u64);
            if needed > cap {
                return Err(Error::Capacity {
                    profile: self.profile.name.clone(),
                    table: t.name.clone(),
                    kind: kind_name(worst),
                    needed,
                    capacity: cap,
                });
            }
        }
        Ok(())
    }

    /// Statements computing `meta.<field>` from the headers.
    fn prologue_for(&self, f: FieldRef) -> Result<Vec<String>, Error> {
        let h = |n: &str| {
            if f.inner {
                format!("hdr.inner_{n}")
            } else {
                format!("hdr.{n}")
            }
        };
        let name = field_name(f);
        let v = |n: &str| format!("{}.isValid()", h(n));
        let cond_of = |hd: Header| -> Result<String, Error> {
            Ok(match hd {
                Header::Eth => v("eth"),
                Header::Vlan => v("vlan"),
                Header::Ip => format!("{} || {}", v("ipv4"), v("ipv6")),
                Header::Ipv4 => v("ipv4"),
                Header::Ipv6 => v("ipv6"),
                Header::Tcp => v("tcp"),
                Header::Udp => v("udp"),
                Header::Sctp => v("sctp"),
                Header::L4 => format!("{} || {} || {}", v("tcp"), v("udp"), v("sctp")),
                Header::Icmp => format!("{} || {}", v("icmp"), v("icmpv6")),
                Header::Icmpv4 => v("icmp"),
                Header::Icmpv6 => v("icmpv6"),
                Header::Vxlan | Header::Geneve if f.inner => {
                    return Err(Error::Unsupported(
                        "nested tunnels (inner vxlan/geneve)".into(),
                    ))
                }
                Header::Vxlan => v("vxlan"),
                Header::Geneve => v("geneve"),
            })
        };
        // Alternatives (condition, value); the field is 0 when none holds.
        let w = f.field.width();
        let alts: Vec<(String, String)> = match f.field {
            Field::Valid(hd) => vec![(cond_of(hd)?, "1w1".into())],
            Field::InPort if !f.inner => {
                return Ok(vec![format!(
                    "meta.{name} = (PortIdUint_t) istd.input_port;"
                )])
            }
            Field::MetaMark if !f.inner => return Ok(vec![]),
            Field::InPort | Field::MetaMark | Field::MetaLen => {
                return Err(Error::Unsupported(format!("field {name}")))
            }
            Field::CtState | Field::CtMark | Field::CtDirection => {
                return Err(Error::Unsupported(format!("conntrack field {name}")))
            }
            Field::EthSrc => vec![(v("eth"), format!("{}.src_addr", h("eth")))],
            Field::EthDst => vec![(v("eth"), format!("{}.dst_addr", h("eth")))],
            Field::EthType => vec![
                (v("vlan2"), format!("{}.ether_type", h("vlan2"))),
                (v("vlan"), format!("{}.ether_type", h("vlan"))),
                (v("eth"), format!("{}.ether_type", h("eth"))),
            ],
            Field::VlanId => vec![(v("vlan"), format!("{}.vid", h("vlan")))],
            Field::VlanPcp => vec![(v("vlan"), format!("{}.pcp", h("vlan")))],
            Field::IpVersion => vec![(v("ipv4"), "4w4".into()), (v("ipv6"), "4w6".into())],
            Field::Ip4Src => vec![(v("ipv4"), format!("{}.src_addr", h("ipv4")))],
            Field::Ip4Dst => vec![(v("ipv4"), format!("{}.dst_addr", h("ipv4")))],
            Field::Ip6Src => vec![(v("ipv6"), format!("{}.src_addr", h("ipv6")))],
            Field::Ip6Dst => vec![(v("ipv6"), format!("{}.dst_addr", h("ipv6")))],
            Field::IpProto => vec![
                (v("ipv4"), format!("{}.protocol", h("ipv4"))),
                (v("ipv6"), format!("{}.next_hdr", h("ipv6"))),
            ],
            Field::IpDscp => vec![
                (v("ipv4"), format!("{}.dscp", h("ipv4"))),
                (v("ipv6"), format!("{}.dscp", h("ipv6"))),
            ],
            Field::IpEcn => vec![
                (v("ipv4"), format!("{}.ecn", h("ipv4"))),
                (v("ipv6"), format!("{}.ecn", h("ipv6"))),
            ],
            Field::IpTtl => vec![
                (v("ipv4"), format!("{}.ttl", h("ipv4"))),
                (v("ipv6"), format!("{}.hop_limit", h("ipv6"))),
            ],
            Field::IpFrag => vec![
                (
                    format!("{} && {}.frag_offset != 0", v("ipv4"), h("ipv4")),
                    "2w2".into(),
                ),
                (
                    format!("{} && {}.flags[0:0] == 1", v("ipv4"), h("ipv4")),
                    "2w1".into(),
                ),
            ],
            Field::TcpSport => vec![(v("tcp"), format!("{}.src_port", h("tcp")))],
            Field::TcpDport => vec![(v("tcp"), format!("{}.dst_port", h("tcp")))],
            Field::TcpFlags => vec![(v("tcp"), format!("{}.flags", h("tcp")))],
            Field::UdpSport => vec![(v("udp"), format!("{}.src_port", h("udp")))],
            Field::UdpDport => vec![(v("udp"), format!("{}.dst_port", h("udp")))],
            Field::L4Sport => ["tcp", "udp", "sctp"]
                .iter()
                .map(|n| (v(n), format!("{}.src_port", h(n))))
                .collect(),
            Field::L4Dport => ["tcp", "udp", "sctp"]
                .iter()
                .map(|n| (v(n), format!("{}.dst_port", h(n))))
                .collect(),
            Field::IcmpType => vec![
                (v("icmp"), format!("{}.type_", h("icmp"))),
                (v("icmpv6"), format!("{}.type_", h("icmpv6"))),
            ],
            Field::IcmpCode => vec![
                (v("icmp"), format!("{}.code", h("icmp"))),
                (v("icmpv6"), format!("{}.code", h("icmpv6"))),
            ],
            Field::VxlanVni | Field::GeneveVni if f.inner => {
                return Err(Error::Unsupported("nested tunnels (inner vni)".into()))
            }
            Field::VxlanVni => vec![(v("vxlan"), "hdr.vxlan.vni".into())],
            Field::GeneveVni => vec![(v("geneve"), "hdr.geneve.vni".into())],
        };
        let mut out = Vec::new();
        for (i, (c, val)) in alts.iter().enumerate() {
            let kw = if i == 0 { "if" } else { "} else if" };
            out.push(format!("{kw} ({c}) {{"));
            out.push(format!("    meta.{name} = {val};"));
        }
        out.push("} else {".into());
        out.push(format!("    meta.{name} = {};", lit(w, 0)));
        out.push("}".into());
        Ok(out)
    }

    fn table_base(&self, t: TableId) -> String {
        format!("tbl_{}", sanitize(&self.p.tables[t as usize].name))
    }

    fn action_name(&self, r: u32) -> String {
        format!("rule_{r}_{}", sanitize(&self.p.rules[r as usize].name))
    }

    fn hit_action(&self, h: u32) -> String {
        format!("set_hit_{h}")
    }

    fn apply_table(&mut self, t: TableId) -> Result<String, Error> {
        if self.copies.len() >= self.o.max_applications {
            return Err(Error::TooManyApplications(self.o.max_applications));
        }
        let n = {
            let n = self.per_table.entry(t).or_insert(0);
            *n += 1;
            *n
        };
        let name = if n == 1 {
            self.table_base(t)
        } else {
            format!("{}__{}", self.table_base(t), n)
        };
        let id = TABLE_ID | (self.copies.len() as u32 + 1);
        self.copies.push(Copy {
            table: t,
            name: name.clone(),
            id,
        });
        Ok(name)
    }

    fn verdict(&self, t: Terminal, accept_to: Option<u32>, out: &mut String, ind: &str) {
        match t {
            Terminal::Accept => match accept_to {
                Some(port) => {
                    let _ = writeln!(out, "{ind}send_to_port((PortId_t) 32w{port});");
                }
                None => {
                    let _ = writeln!(
                        out,
                        "{ind}// accept: keep the architecture's default destination"
                    );
                }
            },
            Terminal::Drop | Terminal::Reject => {
                let _ = writeln!(out, "{ind}drop_packet();");
            }
            Terminal::Forward(port) => {
                let num = self.p.ports[port as usize].number;
                let _ = writeln!(out, "{ind}send_to_port((PortId_t) 32w{num});");
            }
        }
    }

    fn port_num(&self, p: PortId) -> u32 {
        self.p.ports[p as usize].number
    }

    fn simple_step(&mut self, s: &Step, out: &mut String, ind: &str) {
        match s {
            Step::Count(c) => {
                let _ = writeln!(out, "{ind}named_counters.count(32w{c});");
            }
            Step::Set { field, value } => {
                let w = field.field.width();
                let v = lit(w, *value);
                match field.field {
                    Field::IpDscp | Field::IpEcn => {
                        let n = if field.field == Field::IpDscp {
                            "dscp"
                        } else {
                            "ecn"
                        };
                        let _ = writeln!(out, "{ind}if (hdr.ipv4.isValid() && hdr.ipv4.ihl == 5) {{ hdr.ipv4.{n} = {v}; }}");
                        let _ = writeln!(
                            out,
                            "{ind}if (hdr.ipv6.isValid()) {{ hdr.ipv6.{n} = {v}; }}"
                        );
                    }
                    Field::VlanPcp => {
                        let _ = writeln!(
                            out,
                            "{ind}if (hdr.vlan.isValid()) {{ hdr.vlan.pcp = {v}; }}"
                        );
                    }
                    _ => {}
                }
                // Later tables read the metadata copy, so keep it in step
                // with the header (only when the header is present).
                if self.fields.contains(field) || field.field == Field::MetaMark {
                    let name = field_name(*field);
                    let guard = match field.field.header() {
                        Some(Header::Ip) => Some("hdr.ipv4.isValid() || hdr.ipv6.isValid()"),
                        Some(Header::Vlan) => Some("hdr.vlan.isValid()"),
                        _ => None,
                    };
                    match guard {
                        Some(g) => {
                            let _ = writeln!(out, "{ind}if ({g}) {{ meta.{name} = {v}; }}");
                        }
                        None => {
                            let _ = writeln!(out, "{ind}meta.{name} = {v};");
                        }
                    }
                }
            }
            Step::Mirror(p) => {
                let num = self.port_num(*p);
                let _ = writeln!(
                    out,
                    "{ind}mirror_packet((MirrorSlotId_t) 8w0, (MirrorSessionId_t) 16w{num});"
                );
            }
            // Without conntrack (refused otherwise) there is nothing to skip.
            Step::NoTrack => {}
            // Refused in `check`; meters are handled by `steps`.
            Step::Log { .. } | Step::Meter { .. } => {}
        }
    }

    /// Emits `steps`, then `rest` (the rule's end), splitting at meters so
    /// each colour's arm runs its steps and either its verdict or the rest.
    fn steps(
        &mut self,
        steps: &[Step],
        rest: &dyn Fn(&mut Self, &mut String, &str) -> Result<(), Error>,
        accept_to: Option<u32>,
        out: &mut String,
        ind: &str,
    ) -> Result<(), Error> {
        for (i, s) in steps.iter().enumerate() {
            if let Step::Meter { meter, arms } = s {
                let var = format!("color_{}", self.meter_vars);
                self.meter_vars += 1;
                let mname = format!("meter_{}", sanitize(&self.p.meters[*meter as usize].name));
                let _ = writeln!(out, "{ind}PNA_MeterColor_t {var} = {mname}.execute(32w0);");
                let colours = ["GREEN", "YELLOW", "RED"];
                for (k, arm) in arms.iter().enumerate() {
                    let kw = if k == 0 { "if" } else { "} else if" };
                    if k == 2 {
                        let _ = writeln!(out, "{ind}}} else {{");
                    } else {
                        let _ = writeln!(
                            out,
                            "{ind}{kw} ({var} == PNA_MeterColor_t.{}) {{",
                            colours[k]
                        );
                    }
                    let inner = format!("{ind}    ");
                    for st in &arm.steps {
                        self.simple_step(st, out, &inner);
                    }
                    match arm.terminal {
                        Some(t) => self.verdict(t, accept_to, out, &inner),
                        None => self.steps(&steps[i + 1..], rest, accept_to, out, &inner)?,
                    }
                }
                let _ = writeln!(out, "{ind}}}");
                return Ok(());
            }
            self.simple_step(s, out, ind);
        }
        rest(self, out, ind)
    }

    /// Emits node `n` and everything after it.
    fn node(
        &mut self,
        n: NodeId,
        accept_to: Option<u32>,
        out: &mut String,
        ind: &str,
    ) -> Result<(), Error> {
        match self.p.nodes[n as usize].clone() {
            Node::Verdict(t) => {
                self.verdict(t, accept_to, out, ind);
                Ok(())
            }
            Node::Lookup { table, next } => {
                let name = self.apply_table(table)?;
                let _ = writeln!(out, "{ind}{name}.apply();");
                self.node(next, accept_to, out, ind)
            }
            Node::Rules { table, next, jumps } => {
                let name = self.apply_table(table)?;
                let _ = writeln!(out, "{ind}switch ({name}.apply().action_run) {{");
                let mut rules: Vec<u32> = self.p.tables[table as usize]
                    .entries
                    .iter()
                    .filter_map(|e| e.rule)
                    .collect();
                rules.sort_unstable();
                rules.dedup();
                let inner = format!("{ind}    ");
                let body = format!("{ind}        ");
                for r in rules {
                    let _ = writeln!(out, "{inner}{}: {{", self.action_name(r));
                    let actions = self.p.rules[r as usize].actions.clone();
                    let jump = jumps.iter().find(|(jr, _)| *jr == r).map(|(_, to)| *to);
                    let rest = move |e: &mut Self, o: &mut String, i: &str| match actions.end {
                        End::Continue => e.node(next, accept_to, o, i),
                        End::Terminal(t) => {
                            e.verdict(t, accept_to, o, i);
                            Ok(())
                        }
                        End::Jump(_) => e.node(jump.unwrap_or(next), accept_to, o, i),
                    };
                    let steps = self.p.rules[r as usize].actions.steps.clone();
                    self.steps(&steps, &rest, accept_to, out, &body)?;
                    let _ = writeln!(out, "{inner}}}");
                }
                let _ = writeln!(out, "{inner}default: {{");
                self.node(next, accept_to, out, &body)?;
                let _ = writeln!(out, "{inner}}}");
                let _ = writeln!(out, "{ind}}}");
                Ok(())
            }
        }
    }

    fn run(&mut self) -> Result<Artifact, Error> {
        let p = self.p;
        // Control flow first: it decides the table copies.
        let mut flow = String::new();
        match &p.pipeline {
            Pipeline::Single { entry } => {
                let to = self.o.accept_port;
                self.node(*entry, to, &mut flow, "        ")?;
            }
            Pipeline::Lines(lines) => {
                for (i, l) in lines.iter().enumerate() {
                    let kw = if i == 0 { "if" } else { "} else if" };
                    let from = self.port_num(l.from);
                    let _ = writeln!(
                        flow,
                        "        {kw} (istd.input_port == (PortId_t) 32w{from}) {{"
                    );
                    let to = self.port_num(l.to);
                    self.node(l.entry, Some(to), &mut flow, "            ")?;
                }
                if lines.is_empty() {
                    flow.push_str("        drop_packet();\n");
                } else {
                    flow.push_str("        } else {\n            // other ports drop\n            drop_packet();\n        }\n");
                }
            }
        }
        let p4 = self.p4(&flow)?;
        let p4info = self.p4info();
        let entries = if self.o.const_entries {
            self.json_entries(false)
        } else {
            self.json_entries(true)
        };
        let report = self.report();
        Ok(Artifact {
            p4,
            p4info,
            entries,
            report,
        })
    }

    fn rewrites_ipv4(&self) -> bool {
        fn walk(s: &[Step]) -> bool {
            s.iter().any(|s| match s {
                Step::Set { field, .. } => matches!(field.field, Field::IpDscp | Field::IpEcn),
                Step::Meter { arms, .. } => arms.iter().any(|a| walk(&a.steps)),
                _ => false,
            })
        }
        self.p.rules.iter().any(|r| walk(&r.actions.steps))
    }

    fn key_expr(&self, k: KeySource) -> String {
        match k {
            KeySource::Field(f) => format!("meta.{}", field_name(f)),
            KeySource::Hit(h) => format!("meta.hit_{h}"),
        }
    }

    fn match_p4(&self, t: &Table, ki: usize, m: &Match) -> String {
        let k = t.keys[ki];
        let w = k.source.width();
        let all = dpuc_ir::prefix_mask(w, w);
        match (*m, p4_kind(t, ki)) {
            (Match::Any, _) => "_".into(),
            (Match::Exact(v), MatchKind::Range) => format!("{} .. {}", lit(w, v), lit(w, v)),
            (Match::Exact(v), MatchKind::Exact) => lit(w, v),
            (Match::Exact(v), _) => format!("{} &&& {}", lit(w, v), lit(w, all)),
            (Match::Lpm { value, len }, _) => {
                let mask = dpuc_ir::prefix_mask(w, len);
                format!("{} &&& {}", lit(w, value & mask), lit(w, mask))
            }
            (Match::Ternary { value, mask }, _) => {
                format!("{} &&& {}", lit(w, value), lit(w, mask))
            }
            (Match::Range { lo, hi }, _) => format!("{} .. {}", lit(w, lo), lit(w, hi)),
        }
    }

    fn entry_action(&self, t: &Table, rule: Option<u32>) -> String {
        match (t.kind, rule) {
            (_, Some(r)) => self.action_name(r),
            (TableKind::SetLookup { hit, .. }, None) => self.hit_action(hit),
            (TableKind::Rules { .. }, None) => "NoAction".into(),
        }
    }

    fn p4(&self, flow: &str) -> Result<String, Error> {
        let p = self.p;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "// Generated by dpuc from policy `{}` for PNA (profile {}).",
            p.name, self.profile.name
        );
        s.push_str("#include <core.p4>\n#include <pna.p4>\n\n");
        s.push_str(HEADERS_P4);
        s.push_str("\nstruct headers_t {\n");
        for (n, ty) in HEADER_INSTANCES {
            let _ = writeln!(s, "    {ty} {n};");
        }
        s.push_str("}\n\nstruct metadata_t {\n    bit<32> rule;\n");
        let mut meta: BTreeSet<String> = BTreeSet::new();
        for f in &self.fields {
            let _ = writeln!(s, "    bit<{}> {};", f.field.width(), field_name(*f));
            meta.insert(field_name(*f));
        }
        if !meta.contains("f_meta_mark") {
            s.push_str("    bit<32> f_meta_mark;\n");
        }
        for h in 0..p.hits {
            let _ = writeln!(s, "    bit<1> hit_{h};");
        }
        s.push_str("}\n\n");
        s.push_str(PARSER_P4);
        s.push_str(PRE_CONTROL_P4);
        // Main control.
        s.push_str("control main_control(inout headers_t hdr, inout metadata_t meta,\n                     in pna_main_input_metadata_t istd,\n                     inout pna_main_output_metadata_t ostd) {\n");
        let _ = writeln!(
            s,
            "    @id(0x{:08x}) Counter<bit<64>, bit<32>>(32w{}, PNA_CounterType_t.PACKETS_AND_BYTES) rule_hits;",
            COUNTER_ID | 1,
            p.rules.len().max(1)
        );
        if !p.counters.is_empty() {
            let _ = writeln!(
                s,
                "    @id(0x{:08x}) Counter<bit<64>, bit<32>>(32w{}, PNA_CounterType_t.PACKETS_AND_BYTES) named_counters;",
                COUNTER_ID | 2,
                p.counters.len()
            );
        }
        for (i, m) in p.meters.iter().enumerate() {
            let unit = match m.unit {
                MeterUnit::Packets => "PACKETS",
                MeterUnit::Bytes => "BYTES",
            };
            let _ = writeln!(
                s,
                "    @id(0x{:08x}) Meter<bit<32>>(32w1, PNA_MeterType_t.{unit}) meter_{};",
                METER_ID | (i as u32 + 1),
                sanitize(&m.name)
            );
        }
        if self.rewrites_ipv4() {
            // Externs are instantiated at control scope, never in `apply`.
            s.push_str("    InternetChecksum() ipv4_ck;\n");
        }
        s.push('\n');
        let _ = writeln!(s, "    @id(0x{NOACTION_ID:08x}) action no_match() {{ }}");
        for h in 0..p.hits {
            let _ = writeln!(
                s,
                "    @id(0x{:08x}) action {}() {{ meta.hit_{h} = 1w1; }}",
                ACTION_ID | (0x0010_0000 + h),
                self.hit_action(h)
            );
        }
        for (r, _) in p.rules.iter().enumerate() {
            let r = r as u32;
            let _ = writeln!(
                s,
                "    @id(0x{:08x}) action {}() {{ meta.rule = 32w{r}; rule_hits.count(32w{r}); }}",
                ACTION_ID | (r + 1),
                self.action_name(r)
            );
        }
        s.push('\n');
        for c in &self.copies {
            let t = &p.tables[c.table as usize];
            let _ = writeln!(s, "    @id(0x{:08x})", c.id);
            let _ = writeln!(s, "    table {} {{", c.name);
            s.push_str("        key = {\n");
            for (ki, k) in t.keys.iter().enumerate() {
                let _ = writeln!(
                    s,
                    "            {}: {};",
                    self.key_expr(k.source),
                    kind_name(p4_kind(t, ki))
                );
            }
            s.push_str("        }\n        actions = {\n");
            for a in self.table_actions(t) {
                let _ = writeln!(s, "            {a};");
            }
            s.push_str("            @defaultonly no_match;\n        }\n");
            s.push_str("        const default_action = no_match();\n");
            let _ = writeln!(
                s,
                "        size = {};",
                t.size.max(t.entries.len() as u32).max(1)
            );
            if self.o.const_entries && !t.entries.is_empty() {
                // Listed highest priority first: p4c gives earlier const
                // entries precedence.
                let mut es: Vec<_> = t.entries.iter().collect();
                es.sort_by_key(|e| std::cmp::Reverse(e.priority));
                s.push_str("        const entries = {\n");
                for e in es {
                    let ms: Vec<String> = e
                        .matches
                        .iter()
                        .enumerate()
                        .map(|(i, m)| self.match_p4(t, i, m))
                        .collect();
                    let _ = writeln!(
                        s,
                        "            ({}) : {}();",
                        ms.join(", "),
                        self.entry_action(t, e.rule)
                    );
                }
                s.push_str("        }\n");
            }
            s.push_str("    }\n\n");
        }
        s.push_str("    apply {\n        meta.rule = 32w0xffffffff;\n");
        for h in 0..p.hits {
            let _ = writeln!(s, "        meta.hit_{h} = 1w0;");
        }
        // The mark starts at 0 for every packet (DPL §meta.mark).
        s.push_str("        meta.f_meta_mark = 32w0;\n");
        for f in &self.fields {
            for line in self.prologue_for(*f)? {
                let _ = writeln!(s, "        {line}");
            }
        }
        s.push_str(flow);
        if self.rewrites_ipv4() {
            s.push_str(IPV4_CSUM_P4);
        }
        s.push_str("    }\n}\n\n");
        s.push_str(DEPARSER_P4);
        s.push_str(
            "PNA_NIC(main_parser(), pre_control(), main_control(), main_deparser()) main;\n",
        );
        Ok(s)
    }

    fn table_actions(&self, t: &Table) -> Vec<String> {
        let mut v: Vec<String> = t
            .entries
            .iter()
            .map(|e| self.entry_action(t, e.rule))
            .collect();
        if let TableKind::SetLookup { hit, .. } = t.kind {
            v.push(self.hit_action(hit));
        }
        let mut seen = BTreeSet::new();
        v.retain(|a| seen.insert(a.clone()) && a != "NoAction");
        v
    }

    fn action_id(&self, name: &str) -> u32 {
        if let Some(h) = name
            .strip_prefix("set_hit_")
            .and_then(|h| h.parse::<u32>().ok())
        {
            return ACTION_ID | (0x0010_0000 + h);
        }
        (0..self.p.rules.len() as u32)
            .find(|r| self.action_name(*r) == name)
            .map(|r| ACTION_ID | (r + 1))
            .unwrap_or(NOACTION_ID)
    }

    fn p4info(&self) -> String {
        let p = self.p;
        let mut s = String::from("pkg_info {\n  arch: \"pna\"\n}\n");
        for c in &self.copies {
            let t = &p.tables[c.table as usize];
            let _ = writeln!(s, "tables {{\n  preamble {{\n    id: {}\n    name: \"main_control.{}\"\n    alias: \"{}\"\n  }}", c.id, c.name, c.name);
            for (i, k) in t.keys.iter().enumerate() {
                let mt = match p4_kind(t, i) {
                    MatchKind::Exact => "EXACT",
                    MatchKind::Lpm => "LPM",
                    MatchKind::Ternary => "TERNARY",
                    MatchKind::Range => "RANGE",
                };
                let _ = writeln!(s, "  match_fields {{\n    id: {}\n    name: \"{}\"\n    bitwidth: {}\n    match_type: {mt}\n  }}", i + 1, self.key_expr(k.source), k.source.width());
            }
            for a in self.table_actions(t) {
                let _ = writeln!(s, "  action_refs {{\n    id: {}\n  }}", self.action_id(&a));
            }
            let _ = writeln!(s, "  action_refs {{\n    id: {NOACTION_ID}\n    annotations: \"@defaultonly\"\n    scope: DEFAULT_ONLY\n  }}");
            let _ = writeln!(s, "  const_default_action_id: {NOACTION_ID}");
            if self.o.const_entries {
                s.push_str("  is_const_table: true\n");
            }
            let _ = writeln!(
                s,
                "  size: {}\n}}",
                t.size.max(t.entries.len() as u32).max(1)
            );
        }
        let mut actions: Vec<(u32, String)> = vec![(NOACTION_ID, "no_match".into())];
        for h in 0..p.hits {
            actions.push((ACTION_ID | (0x0010_0000 + h), self.hit_action(h)));
        }
        for r in 0..p.rules.len() as u32 {
            actions.push((ACTION_ID | (r + 1), self.action_name(r)));
        }
        actions.sort();
        for (id, n) in actions {
            let _ = writeln!(s, "actions {{\n  preamble {{\n    id: {id}\n    name: \"main_control.{n}\"\n    alias: \"{n}\"\n  }}\n}}");
        }
        let mut counters = vec![(COUNTER_ID | 1, "rule_hits", p.rules.len().max(1))];
        if !p.counters.is_empty() {
            counters.push((COUNTER_ID | 2, "named_counters", p.counters.len()));
        }
        for (id, n, size) in counters {
            let _ = writeln!(s, "counters {{\n  preamble {{\n    id: {id}\n    name: \"main_control.{n}\"\n    alias: \"{n}\"\n  }}\n  spec {{\n    unit: BOTH\n  }}\n  size: {size}\n}}");
        }
        for (i, m) in p.meters.iter().enumerate() {
            let unit = match m.unit {
                MeterUnit::Packets => "PACKETS",
                MeterUnit::Bytes => "BYTES",
            };
            let n = format!("meter_{}", sanitize(&m.name));
            let _ = writeln!(s, "meters {{\n  preamble {{\n    id: {}\n    name: \"main_control.{n}\"\n    alias: \"{n}\"\n  }}\n  spec {{\n    unit: {unit}\n  }}\n  size: 1\n}}", METER_ID | (i as u32 + 1));
        }
        s
    }

    fn json_entries(&self, with_tables: bool) -> String {
        use serde_json::{json, Value};
        let p = self.p;
        let mut updates: Vec<Value> = Vec::new();
        if with_tables {
            for c in &self.copies {
                let t = &p.tables[c.table as usize];
                let prio = needs_priority(t);
                for e in &t.entries {
                    let mut fields = Vec::new();
                    for (i, m) in e.matches.iter().enumerate() {
                        let k = t.keys[i];
                        let w = k.source.width();
                        let fid = i + 1;
                        let v = match (*m, p4_kind(t, i)) {
                            (Match::Any, _) => continue,
                            (Match::Exact(v), MatchKind::Exact) => {
                                json!({"fieldId": fid, "exact": {"value": bytes_json(v)}})
                            }
                            (Match::Exact(v), MatchKind::Range) => {
                                json!({"fieldId": fid, "range": {"low": bytes_json(v), "high": bytes_json(v)}})
                            }
                            (Match::Exact(v), MatchKind::Lpm) => {
                                json!({"fieldId": fid, "lpm": {"value": bytes_json(v), "prefixLen": w}})
                            }
                            (Match::Exact(v), _) => {
                                json!({"fieldId": fid, "ternary": {"value": bytes_json(v), "mask": bytes_json(dpuc_ir::prefix_mask(w, w))}})
                            }
                            (Match::Lpm { value, len }, MatchKind::Lpm) => {
                                if len == 0 {
                                    continue;
                                }
                                let mask = dpuc_ir::prefix_mask(w, len);
                                json!({"fieldId": fid, "lpm": {"value": bytes_json(value & mask), "prefixLen": len}})
                            }
                            (Match::Lpm { value, len }, _) => {
                                let mask = dpuc_ir::prefix_mask(w, len);
                                if mask == 0 {
                                    continue;
                                }
                                json!({"fieldId": fid, "ternary": {"value": bytes_json(value & mask), "mask": bytes_json(mask)}})
                            }
                            (Match::Ternary { value, mask }, _) => {
                                if mask == 0 {
                                    continue;
                                }
                                json!({"fieldId": fid, "ternary": {"value": bytes_json(value), "mask": bytes_json(mask)}})
                            }
                            (Match::Range { lo, hi }, _) => {
                                if lo == 0 && hi == dpuc_ir::prefix_mask(w, w) {
                                    continue;
                                }
                                json!({"fieldId": fid, "range": {"low": bytes_json(lo), "high": bytes_json(hi)}})
                            }
                        };
                        fields.push(v);
                    }
                    let aid = self.action_id(&self.entry_action(t, e.rule));
                    let mut te = json!({
                        "tableId": c.id,
                        "match": fields,
                        "action": {"action": {"actionId": aid}},
                    });
                    if prio {
                        te["priority"] = json!(e.priority.max(1));
                    }
                    updates.push(json!({"type": "INSERT", "entity": {"tableEntry": te}}));
                }
            }
        }
        for (i, m) in p.meters.iter().enumerate() {
            if let MeterKind::TrTcm { cir, cbs, pir, pbs } = m.kind {
                // P4Runtime byte meters take bytes/s; the IR gives bits/s.
                let (cir, pir) = match m.unit {
                    MeterUnit::Bytes => (cir / 8, pir / 8),
                    MeterUnit::Packets => (cir, pir),
                };
                updates.push(json!({"type": "MODIFY", "entity": {"meterEntry": {
                    "meterId": METER_ID | (i as u32 + 1),
                    "index": {"index": "0"},
                    "config": {"cir": cir.to_string(), "cburst": cbs.to_string(),
                               "pir": pir.to_string(), "pburst": pbs.to_string()}
                }}}));
            }
        }
        let v = json!({ "updates": updates });
        serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
    }

    fn report(&mut self) -> String {
        let p = self.p;
        let mut s = String::new();
        let _ = writeln!(s, "target: pna (profile {})", self.profile.name);
        let _ = writeln!(s, "profile: {}", self.profile.description);
        s.push_str("tables:\n");
        for c in &self.copies {
            let t = &p.tables[c.table as usize];
            let kinds: Vec<String> = t
                .keys
                .iter()
                .enumerate()
                .map(|(ki, k)| {
                    let pk = p4_kind(t, ki);
                    if pk == k.kind {
                        kind_name(pk).to_string()
                    } else {
                        format!("{}->{}", kind_name(k.kind), kind_name(pk))
                    }
                })
                .collect();
            let _ = writeln!(
                s,
                "  {} (IR table {}): keys [{}], {} entries, size {}",
                c.name,
                t.name,
                kinds.join(", "),
                t.entries.len(),
                t.size
            );
        }
        let c = &self.profile.capacity;
        let _ = writeln!(
            s,
            "capacity: exact {}, lpm {}, ternary {}, range {}",
            c.exact, c.lpm, c.ternary, c.range
        );
        s.push_str("emulated:\n");
        if p.tables.iter().any(|t| {
            matches!(t.kind, TableKind::Rules { .. })
                && t.keys.iter().any(|k| k.kind == MatchKind::Lpm)
        }) {
            self.notes.push(
                "lpm keys of rule tables are matched as ternary so IR priorities decide".into(),
            );
        }
        if self.copies.len() > p.tables.len() {
            self.notes.push("tables applied from several nodes are emitted as suffixed copies (entries replicated)".into());
        }
        self.notes
            .push("rule hit counters: one indexed Counter `rule_hits`, index = rule id".into());
        if !p.meters.is_empty() {
            self.notes.push("trTCM meters: PNA Meter, colour-blind execute; rates set through P4Runtime MeterEntry (byte meters: bits/s / 8)".into());
        }
        if p.rules
            .iter()
            .any(|r| r.actions.steps.iter().any(|s| matches!(s, Step::Mirror(_))))
        {
            self.notes.push(
                "mirror to port N uses mirror session N, slot 0: configure session N to port N"
                    .into(),
            );
        }
        if matches!(p.pipeline, Pipeline::Single { .. }) && self.o.accept_port.is_none() {
            self.notes.push(
                "accept in a program without pipeline keeps the architecture's default destination"
                    .into(),
            );
        }
        for n in &self.notes {
            let _ = writeln!(s, "  - {n}");
        }
        s.push_str("unsupported (refused with an error if used): reject, log, conntrack and ct.* fields, meta.len, srTCM and token-bucket meters, per-key meters, nested tunnels; DSCP/ECN rewrite skips IPv4 packets with options (checksum over the varbit options is not computed); IPv6 extension headers are not parsed (ip.proto is the first next-header, ip.frag is 0 for IPv6)\n");
        s
    }
}

const HEADERS_P4: &str = "header ethernet_t {
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

const HEADER_INSTANCES: &[(&str, &str)] = &[
    ("eth", "ethernet_t"),
    ("vlan", "vlan_t"),
    ("vlan2", "vlan_t"),
    ("ipv4", "ipv4_t"),
    ("ipv4_opts", "ipv4_options_t"),
    ("ipv6", "ipv6_t"),
    ("tcp", "tcp_t"),
    ("udp", "udp_t"),
    ("sctp", "sctp_t"),
    ("icmp", "icmp_t"),
    ("icmpv6", "icmp_t"),
    ("vxlan", "vxlan_t"),
    ("geneve", "geneve_t"),
    ("geneve_opts", "geneve_options_t"),
    ("inner_eth", "ethernet_t"),
    ("inner_vlan", "vlan_t"),
    ("inner_vlan2", "vlan_t"),
    ("inner_ipv4", "ipv4_t"),
    ("inner_ipv4_opts", "ipv4_options_t"),
    ("inner_ipv6", "ipv6_t"),
    ("inner_tcp", "tcp_t"),
    ("inner_udp", "udp_t"),
    ("inner_sctp", "sctp_t"),
    ("inner_icmp", "icmp_t"),
    ("inner_icmpv6", "icmp_t"),
];

// The parser is fixed: it parses every header the IR can name, so the
// emitted program does not depend on which fields the policy reads.
const PARSER_P4: &str =
    "parser main_parser(packet_in pkt, out headers_t hdr, inout metadata_t meta,
                   in pna_main_parser_input_metadata_t istd) {
    state start {
        pkt.extract(hdr.eth);
        transition select(hdr.eth.ether_type) {
            0x8100: parse_vlan;
            0x88a8: parse_vlan;
            0x0800: parse_ipv4;
            0x86dd: parse_ipv6;
            default: accept;
        }
    }
    state parse_vlan {
        pkt.extract(hdr.vlan);
        transition select(hdr.vlan.ether_type) {
            0x8100: parse_vlan2;
            0x0800: parse_ipv4;
            0x86dd: parse_ipv6;
            default: accept;
        }
    }
    state parse_vlan2 {
        pkt.extract(hdr.vlan2);
        transition select(hdr.vlan2.ether_type) {
            0x0800: parse_ipv4;
            0x86dd: parse_ipv6;
            default: accept;
        }
    }
    state parse_ipv4 {
        pkt.extract(hdr.ipv4);
        // Options are kept (a varbit) so the deparser re-emits them;
        // later fragments carry no L4 header.
        pkt.extract(hdr.ipv4_opts, ((bit<32>) hdr.ipv4.ihl - 5) * 32);
        transition select(hdr.ipv4.frag_offset, hdr.ipv4.protocol) {
            (0, 6): parse_tcp;
            (0, 17): parse_udp;
            (0, 132): parse_sctp;
            (0, 1): parse_icmp;
            default: accept;
        }
    }
    state parse_ipv6 {
        pkt.extract(hdr.ipv6);
        transition select(hdr.ipv6.next_hdr) {
            6: parse_tcp;
            17: parse_udp;
            132: parse_sctp;
            58: parse_icmpv6;
            default: accept;
        }
    }
    state parse_tcp { pkt.extract(hdr.tcp); transition accept; }
    state parse_sctp { pkt.extract(hdr.sctp); transition accept; }
    state parse_icmp { pkt.extract(hdr.icmp); transition accept; }
    state parse_icmpv6 { pkt.extract(hdr.icmpv6); transition accept; }
    state parse_udp {
        pkt.extract(hdr.udp);
        transition select(hdr.udp.dst_port) {
            4789: parse_vxlan;
            6081: parse_geneve;
            default: accept;
        }
    }
    state parse_vxlan { pkt.extract(hdr.vxlan); transition parse_inner_eth; }
    state parse_geneve {
        pkt.extract(hdr.geneve);
        pkt.extract(hdr.geneve_opts, (bit<32>) hdr.geneve.opt_len * 32);
        transition select(hdr.geneve.protocol_type) {
            0x6558: parse_inner_eth;
            0x0800: parse_inner_ipv4;
            0x86dd: parse_inner_ipv6;
            default: accept;
        }
    }
    state parse_inner_eth {
        pkt.extract(hdr.inner_eth);
        transition select(hdr.inner_eth.ether_type) {
            0x8100: parse_inner_vlan;
            0x88a8: parse_inner_vlan;
            0x0800: parse_inner_ipv4;
            0x86dd: parse_inner_ipv6;
            default: accept;
        }
    }
    state parse_inner_vlan {
        pkt.extract(hdr.inner_vlan);
        transition select(hdr.inner_vlan.ether_type) {
            0x8100: parse_inner_vlan2;
            0x0800: parse_inner_ipv4;
            0x86dd: parse_inner_ipv6;
            default: accept;
        }
    }
    state parse_inner_vlan2 {
        pkt.extract(hdr.inner_vlan2);
        transition select(hdr.inner_vlan2.ether_type) {
            0x0800: parse_inner_ipv4;
            0x86dd: parse_inner_ipv6;
            default: accept;
        }
    }
    state parse_inner_ipv4 {
        pkt.extract(hdr.inner_ipv4);
        pkt.extract(hdr.inner_ipv4_opts, ((bit<32>) hdr.inner_ipv4.ihl - 5) * 32);
        transition select(hdr.inner_ipv4.frag_offset, hdr.inner_ipv4.protocol) {
            (0, 6): parse_inner_tcp;
            (0, 17): parse_inner_udp;
            (0, 132): parse_inner_sctp;
            (0, 1): parse_inner_icmp;
            default: accept;
        }
    }
    state parse_inner_ipv6 {
        pkt.extract(hdr.inner_ipv6);
        transition select(hdr.inner_ipv6.next_hdr) {
            6: parse_inner_tcp;
            17: parse_inner_udp;
            132: parse_inner_sctp;
            58: parse_inner_icmpv6;
            default: accept;
        }
    }
    state parse_inner_tcp { pkt.extract(hdr.inner_tcp); transition accept; }
    state parse_inner_udp { pkt.extract(hdr.inner_udp); transition accept; }
    state parse_inner_sctp { pkt.extract(hdr.inner_sctp); transition accept; }
    state parse_inner_icmp { pkt.extract(hdr.inner_icmp); transition accept; }
    state parse_inner_icmpv6 { pkt.extract(hdr.inner_icmpv6); transition accept; }
}

";

const PRE_CONTROL_P4: &str = "control pre_control(in headers_t hdr, inout metadata_t meta,
                    in pna_pre_input_metadata_t istd,
                    inout pna_pre_output_metadata_t ostd) {
    apply { }
}

";

const IPV4_CSUM_P4: &str = "        // DSCP/ECN rewrites invalidate the IPv4 header checksum. Only
        // option-less headers are rewritten (see the rewrite guard), so the
        // fixed fields are the whole header.
        if (hdr.ipv4.isValid() && hdr.ipv4.ihl == 5) {
            ipv4_ck.clear();
            ipv4_ck.add({hdr.ipv4.version, hdr.ipv4.ihl, hdr.ipv4.dscp, hdr.ipv4.ecn,
                    hdr.ipv4.total_len, hdr.ipv4.identification, hdr.ipv4.flags,
                    hdr.ipv4.frag_offset, hdr.ipv4.ttl, hdr.ipv4.protocol,
                    hdr.ipv4.src_addr, hdr.ipv4.dst_addr});
            hdr.ipv4.hdr_checksum = ipv4_ck.get();
        }
";

const DEPARSER_P4: &str =
    "control main_deparser(packet_out pkt, in headers_t hdr, in metadata_t meta,
                      in pna_main_output_metadata_t ostd) {
    apply {
        pkt.emit(hdr.eth);
        pkt.emit(hdr.vlan);
        pkt.emit(hdr.vlan2);
        pkt.emit(hdr.ipv4);
        pkt.emit(hdr.ipv4_opts);
        pkt.emit(hdr.ipv6);
        pkt.emit(hdr.tcp);
        pkt.emit(hdr.udp);
        pkt.emit(hdr.sctp);
        pkt.emit(hdr.icmp);
        pkt.emit(hdr.icmpv6);
        pkt.emit(hdr.vxlan);
        pkt.emit(hdr.geneve);
        pkt.emit(hdr.geneve_opts);
        pkt.emit(hdr.inner_eth);
        pkt.emit(hdr.inner_vlan);
        pkt.emit(hdr.inner_vlan2);
        pkt.emit(hdr.inner_ipv4);
        pkt.emit(hdr.inner_ipv4_opts);
        pkt.emit(hdr.inner_ipv6);
        pkt.emit(hdr.inner_tcp);
        pkt.emit(hdr.inner_udp);
        pkt.emit(hdr.inner_sctp);
        pkt.emit(hdr.inner_icmp);
        pkt.emit(hdr.inner_icmpv6);
    }
}

";
