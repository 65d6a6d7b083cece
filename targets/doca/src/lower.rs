//! IR → DOCA Flow pipes.
//!
//! Each IR node is lowered once per (packet variant, accept destination);
//! identical pipes are shared. Pipes are pushed after the pipes they
//! forward to, so creating them in order never references a missing pipe.

use crate::ct;
use crate::fields::{self, Layout, Source, Variant};
use crate::model::*;
use crate::{Error, Options};
use dpuc_ir::prefix::range_to_prefixes;
use dpuc_ir::{
    prefix_mask, Arm, End, Field, KeySource, Match, MatchKind, MeterKind, MeterUnit, Node, NodeId,
    Pipeline, Program, RuleId, Step, Table, TableId, TableKind, Terminal,
};
use std::collections::{BTreeMap, BTreeSet};

/// Most alternatives one IR entry may expand into (ranges × keys).
const MAX_EXPANSION: usize = 1 << 16;

/// One alternative of an entry: value/mask per member.
type Alt = BTreeMap<DocaField, (u128, u128)>;

/// A continuation: where the packet goes next and, when that ends its
/// walk (drop, port, kernel), the rule that decided it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cont {
    fwd: Fwd,
    by: Option<RuleId>,
}

impl Cont {
    /// A continuation that no rule decides (a node's).
    fn plain(fwd: Fwd) -> Self {
        Cont { fwd, by: None }
    }

    /// The entry's `verdict_rule`: only for a fwd that ends the walk.
    fn verdict_rule(self) -> Option<RuleId> {
        match self.fwd {
            Fwd::Pipe(_) => None,
            _ => self.by,
        }
    }
}

/// What lowering produced.
pub struct Lowered {
    /// The pipes.
    pub pipes: Pipes,
    /// Notes for the report.
    pub notes: Vec<String>,
}

/// Lowers a program (already checked by [`check`]).
pub fn lower(p: &Program, o: &Options) -> Result<Lowered, Error> {
    check(p)?;
    let hit_words = p.hits.div_ceil(32);
    let plan = ct::plan(p, hit_words)?;
    let layout = Layout {
        mark: plan
            .as_ref()
            .map_or(DocaField::PktMeta, |c| DocaField::MetaU32(c.mark_word)),
        ct: plan.as_ref().map(|c| c.words),
    };
    let mut l = Lower {
        p,
        o,
        layout,
        ct: plan.clone(),
        pipes: Vec::new(),
        dedupe: BTreeMap::new(),
        memo: BTreeMap::new(),
        exits: BTreeMap::new(),
        classes: Vec::new(),
        notes: Vec::new(),
    };
    // The tracker's state pipes and the rule tables' folding both work
    // per L3 and L4 type.
    let (split_l3, split_l4) = if plan.is_some() {
        (true, true)
    } else {
        splits(p)
    };
    let variants = variants(split_l3, split_l4);
    let mut root_entries = Vec::new();
    let mut clear: Vec<Write> = (0..hit_words)
        .map(|w| Write {
            field: DocaField::MetaU32(w),
            value: 0,
            mask: 0xffff_ffff,
        })
        .collect();
    if let Some(c) = &plan {
        for w in [c.words.state, c.words.mark, c.mark_word] {
            clear.push(Write {
                field: DocaField::MetaU32(w),
                value: 0,
                mask: 0xffff_ffff,
            });
        }
    }
    let lines: Vec<(Option<u32>, Fwd, NodeId)> = match &p.pipeline {
        Pipeline::Single { entry } => {
            let accept = match o.accept_port {
                Some(port) => Fwd::Port(port),
                None => Fwd::Kernel,
            };
            vec![(None, accept, *entry)]
        }
        Pipeline::Lines(lines) => {
            let mut seen = BTreeSet::new();
            let mut out = Vec::new();
            for line in lines {
                let from = port_number(p, line.from)?;
                if !seen.insert(from) {
                    return Err(Error::Unsupported {
                        what: format!("port `{}`", p.ports[line.from as usize].name),
                        reason: "it starts two pipeline lines".into(),
                    });
                }
                out.push((Some(from), Fwd::Port(port_number(p, line.to)?), line.entry));
            }
            out
        }
    };
    for (port, accept, entry) in &lines {
        for v in &variants {
            let fwd = l.node(*v, *accept, *entry)?;
            let mut matches = Vec::new();
            if let Some(port) = port {
                matches.push(fm(DocaField::PortId, u128::from(*port), 0xffff));
            }
            let l3 = match v.l3 {
                L3::Ip4 => Some(1),
                L3::Ip6 => Some(2),
                _ => None,
            };
            let l4 = match v.l4 {
                L4::Tcp => Some(1),
                L4::Udp => Some(2),
                L4::Icmp => Some(3),
                _ => None,
            };
            if let Some(x) = l3 {
                matches.push(fm(DocaField::L3Meta, x, 0xff));
            }
            if let Some(x) = l4 {
                matches.push(fm(DocaField::L4Meta, x, 0xff));
            }
            let priority = match (l3, l4) {
                (_, Some(_)) => 0,
                (Some(_), None) => 1,
                (None, None) => 2,
            };
            root_entries.push(PipeEntry {
                priority,
                matches,
                writes: clear.clone(),
                fwd,
                counter: None,
                meter: None,
                rule: None,
                verdict_rule: None,
            });
        }
    }
    if matches!(p.pipeline, Pipeline::Lines(_)) {
        // A port without a line drops (and, tracking, still lets the
        // manager see packets that change a connection).
        let fwd = l.exit(Fwd::Drop, None)?;
        root_entries.push(PipeEntry {
            priority: 3,
            matches: vec![],
            writes: vec![],
            fwd,
            counter: None,
            meter: None,
            rule: None,
            verdict_rule: None,
        });
    }
    let mut match_fields = BTreeSet::new();
    for e in &root_entries {
        match_fields.extend(e.matches.iter().map(|m| m.field));
    }
    let mut root = Pipe {
        id: 0,
        name: "dpuc_root".into(),
        ty: PipeType::Control,
        is_root: true,
        purpose: "steer by port and packet variant; clear hit bits".into(),
        l3: L3::Any,
        l4: L4::Any,
        match_fields: match_fields.into_iter().collect(),
        write_fields: clear
            .iter()
            .map(|w| WriteMask {
                field: w.field,
                mask: w.mask,
            })
            .collect(),
        monitor: Monitor::default(),
        fwd_miss: None,
        fwd: None,
        table: None,
        entries: root_entries,
    };
    let mut ct_model = None;
    if plan.is_some() {
        l.notes.push(
            "conntrack: DOCA Flow CT keeps TCP/UDP connections, BASIC pipes ICMP echo ones; the connection manager (the application's, on the Arm) applies the tracker's rules to the packets the exit pipes send it and keeps those tables with dpuc_ct_conn_add/update/remove".into(),
        );
        l.notes.push(
            "conntrack timing: device aging counts whole seconds and runs on DOCA's aging thread, and any hit restarts a connection's timer, even a packet the tracker finds invalid on it (a SYN on an established connection, an echo going the wrong way); like hardware meters, timeouts on the device are approximate".into(),
        );
        // Tracking: this pipe steers after the tracker; a new root runs it.
        root.is_root = false;
        root.name = "ct_steer".into();
        root.purpose = "steer by port and packet variant, after the tracker".into();
        root.write_fields.clear();
        for e in &mut root.entries {
            e.writes.clear();
        }
        let steer = l.push(root)?;
        let (front, model) = l.ct_front(steer, &clear)?;
        root = front;
        ct_model = Some(model);
    }
    l.push_unshared(root);
    let mut counter_ids: Vec<CounterId> = p
        .counters
        .iter()
        .enumerate()
        .map(|(i, name)| CounterId::Shared {
            name: name.clone(),
            index: i as u32,
        })
        .collect();
    counter_ids.extend((0..p.rules.len() as u32).map(|r| CounterId::Rule { rule: label(p, r) }));
    let shared_meters = p
        .meters
        .iter()
        .map(|m| shared_meter(m, &mut l.notes))
        .collect();
    Ok(Lowered {
        pipes: Pipes {
            program: p.name.clone(),
            api: "DOCA 3.3 (DOCA_ALLOW_EXPERIMENTAL_API)".into(),
            ports: "switch model: all pipes on ports[0]; ingress steered by parser_meta.port_id = IR port number; FWD_PORT port_id = IR port number".into(),
            metadata: Metadata {
                hit_bits: "meta.u32[h / 32] bit h % 32".into(),
                hit_words,
                mark: l.layout.mark.member(),
                mark_word: plan.as_ref().map(|c| c.mark_word),
            },
            shared_counters: p.counters.clone(),
            shared_meters,
            counter_ids,
            pipes: l.pipes,
            ct: ct_model,
        },
        notes: l.notes,
    })
}

/// `value & mask` on `field`.
pub(crate) fn fm(field: DocaField, value: u128, mask: u128) -> FieldMatch {
    FieldMatch { field, value, mask }
}

/// `policy.rule`.
pub fn label(p: &Program, r: RuleId) -> String {
    let rule = &p.rules[r as usize];
    let policy = p
        .policies
        .get(rule.policy as usize)
        .map(|x| x.name.as_str())
        .unwrap_or("?");
    format!("{policy}.{}", rule.name)
}

fn port_number(p: &Program, port: u32) -> Result<u32, Error> {
    let port = &p.ports[port as usize];
    if port.number > 0xffff {
        return Err(Error::Unsupported {
            what: format!("port `{}` ({})", port.name, port.number),
            reason: "DOCA Flow port ids are 16 bits".into(),
        });
    }
    Ok(port.number)
}

fn shared_meter(m: &dpuc_ir::Meter, notes: &mut Vec<String>) -> SharedMeter {
    // DOCA rates are bytes/s; the IR's byte meters are bits/s.
    // `check` refuses byte rates that are not whole bytes per second.
    let (limit_type, rate) = match m.unit {
        MeterUnit::Bytes => ("DOCA_FLOW_METER_LIMIT_TYPE_BYTES".to_string(), 8u64),
        MeterUnit::Packets => ("DOCA_FLOW_METER_LIMIT_TYPE_PACKETS".to_string(), 1u64),
    };
    let r = |x: u64| x / rate;
    match m.kind {
        MeterKind::TokenBucket { rate: cir, burst } => {
            notes.push(format!(
                "meter `{}`: token bucket as RFC 2697 with EBS 0 (same colours: green or red, never yellow)",
                m.name
            ));
            SharedMeter {
                name: m.name.clone(),
                alg: "DOCA_FLOW_METER_ALGORITHM_TYPE_RFC2697".into(),
                limit_type,
                cir: r(cir),
                cbs: burst,
                ebs: Some(0),
                pir: None,
                pbs: None,
            }
        }
        MeterKind::SrTcm { cir, cbs, ebs } => SharedMeter {
            name: m.name.clone(),
            alg: "DOCA_FLOW_METER_ALGORITHM_TYPE_RFC2697".into(),
            limit_type,
            cir: r(cir),
            cbs,
            ebs: Some(ebs),
            pir: None,
            pbs: None,
        },
        MeterKind::TrTcm { cir, cbs, pir, pbs } => SharedMeter {
            name: m.name.clone(),
            alg: "DOCA_FLOW_METER_ALGORITHM_TYPE_RFC2698".into(),
            limit_type,
            cir: r(cir),
            cbs,
            ebs: None,
            pir: Some(r(pir)),
            pbs: Some(pbs),
        },
    }
}

/// Which variant dimensions the program needs.
fn splits(p: &Program) -> (bool, bool) {
    let mut l3 = false;
    let mut l4 = false;
    for t in &p.tables {
        for (ki, k) in t.keys.iter().enumerate() {
            let KeySource::Field(f) = k.source else {
                continue;
            };
            if t.entries
                .iter()
                .all(|e| e.matches.get(ki) == Some(&Match::Any))
            {
                continue;
            }
            l3 |= fields::needs_l3(f.field);
            l4 |= fields::needs_l4(f.field);
        }
    }
    for r in &p.rules {
        for s in all_steps(&r.actions.steps) {
            if let Step::Set { field, .. } = s {
                l3 |= matches!(field.field, Field::IpDscp | Field::IpEcn);
            }
        }
    }
    (l3 || l4, l4)
}

fn variants(l3: bool, l4: bool) -> Vec<Variant> {
    if !l3 {
        return vec![Variant {
            l3: L3::Any,
            l4: L4::Any,
        }];
    }
    let l4s: &[L4] = if l4 {
        &[L4::Tcp, L4::Udp, L4::Icmp, L4::None]
    } else {
        &[L4::Any]
    };
    let mut out = Vec::new();
    for l3 in [L3::Ip4, L3::Ip6] {
        for &l4 in l4s {
            out.push(Variant { l3, l4 });
        }
    }
    out.push(Variant {
        l3: L3::None,
        l4: if l4 { L4::None } else { L4::Any },
    });
    out
}

/// Every step of a step list, meter arms included.
fn all_steps(steps: &[Step]) -> Vec<&Step> {
    let mut out = Vec::new();
    for s in steps {
        out.push(s);
        if let Step::Meter { arms, .. } = s {
            for a in arms.iter() {
                out.extend(all_steps(&a.steps));
            }
        }
    }
    out
}

fn all_terminals(r: &dpuc_ir::Rule) -> Vec<Terminal> {
    let mut out = Vec::new();
    if let End::Terminal(t) = r.actions.end {
        out.push(t);
    }
    for s in &r.actions.steps {
        if let Step::Meter { arms, .. } = s {
            out.extend(arms.iter().filter_map(|a| a.terminal));
        }
    }
    out
}

/// A refusal of `rule` (or `conntrack`) for `construct`.
pub(crate) fn refuse(rule: String, construct: &str, reason: &str) -> Error {
    Error::Rule {
        rule,
        construct: construct.into(),
        reason: reason.into(),
    }
}

/// Refusals that do not depend on lowering.
pub fn check(p: &Program) -> Result<(), Error> {
    // Rules that read a field, by field (for naming the culprit).
    let mut readers: BTreeMap<dpuc_ir::FieldRef, RuleId> = BTreeMap::new();
    for t in &p.tables {
        for (ki, k) in t.keys.iter().enumerate() {
            let KeySource::Field(f) = k.source else {
                continue;
            };
            let Some(e) = t
                .entries
                .iter()
                .find(|e| !matches!(e.matches.get(ki), Some(Match::Any)))
            else {
                continue;
            };
            if let Some(r) = e.rule {
                readers.entry(f).or_insert(r);
            }
            if let Err(reason) = fields::supported(f) {
                return Err(match (e.rule, t.kind) {
                    (Some(r), _) => refuse(label(p, r), &f.describe(), reason),
                    (None, TableKind::SetLookup { set, .. }) => Error::Unsupported {
                        what: format!(
                            "set `{}` looked up on {}",
                            p.sets
                                .get(set as usize)
                                .map(|s| s.name.as_str())
                                .unwrap_or("?"),
                            f.describe()
                        ),
                        reason: reason.into(),
                    },
                    (None, _) => Error::Unsupported {
                        what: format!("table `{}` on `{f}`", t.name),
                        reason: reason.into(),
                    },
                });
            }
        }
    }
    for (ri, r) in p.rules.iter().enumerate() {
        let name = label(p, ri as RuleId);
        if all_terminals(r).contains(&Terminal::Reject) {
            return Err(refuse(
                name,
                "`reject`",
                "DOCA Flow cannot synthesize a TCP RST or ICMP error; use `drop`",
            ));
        }
        for s in all_steps(&r.actions.steps) {
            match s {
                Step::Log { .. } => {
                    return Err(refuse(name, "`log`", "DOCA Flow has no event stream"))
                }
                Step::Mirror(_) => {
                    return Err(refuse(
                        name,
                        "`mirror`",
                        "mirroring (shared mirror targets) is not implemented by this backend",
                    ))
                }
                Step::Set { field, .. } => {
                    if field.inner {
                        return Err(refuse(
                            name,
                            &format!("`set {field}`"),
                            "DOCA Flow actions cannot write it here",
                        ));
                    }
                    // Metadata is written for every packet; header fields
                    // only where the header is.
                    if !matches!(field.field, Field::MetaMark | Field::CtMark) {
                        if let Some(&reader) = readers.get(field) {
                            return Err(refuse(
                                name,
                                &format!("`set {field}`"),
                                &format!(
                                    "rule `{}` matches the rewritten field; packets without the header would not see the rewrite",
                                    label(p, reader)
                                ),
                            ));
                        }
                    }
                }
                Step::Meter { meter, .. } => {
                    let m = &p.meters[*meter as usize];
                    if let Err(reason) = meter_rates(m) {
                        return Err(Error::Meter {
                            meter: m.name.clone(),
                            rule: name,
                            reason,
                        });
                    }
                    if !m.per.is_empty() {
                        return Err(Error::Meter {
                            meter: m.name.clone(),
                            rule: name,
                            reason: "per-key meters need a meter per flow; DOCA Flow shared meters are not keyed".into(),
                        });
                    }
                }
                _ => {}
            }
        }
    }
    for pol in &p.policies {
        if pol.default == Some(Terminal::Reject) {
            return Err(refuse(
                format!("{} (default)", pol.name),
                "`reject`",
                "DOCA Flow cannot synthesize a TCP RST or ICMP error; use `drop`",
            ));
        }
    }
    if p.nodes.contains(&Node::Verdict(Terminal::Reject)) {
        return Err(refuse(
            "a policy default".into(),
            "`reject`",
            "DOCA Flow cannot synthesize a TCP RST or ICMP error",
        ));
    }
    for m in &p.meters {
        meter_rates(m).map_err(|reason| Error::Unsupported {
            what: format!("meter `{}`", m.name),
            reason,
        })?;
    }
    for (ri, r) in p.rules.iter().enumerate() {
        for t in all_terminals(r) {
            if let Terminal::Forward(port) = t {
                port_number(p, port).map_err(|e| match e {
                    Error::Unsupported { what, reason } => refuse(
                        label(p, ri as RuleId),
                        &format!("forward to {what}"),
                        &reason,
                    ),
                    other => other,
                })?;
            }
        }
    }
    Ok(())
}

/// DOCA byte meters count bytes per second; the IR's rates are bits per
/// second. A rate that is not a whole number of bytes would be rounded,
/// and rounding changes colours, so it is refused.
fn meter_rates(m: &dpuc_ir::Meter) -> Result<(), String> {
    if m.unit != MeterUnit::Bytes {
        return Ok(());
    }
    let rates = match m.kind {
        MeterKind::TokenBucket { rate, .. } => vec![rate],
        MeterKind::SrTcm { cir, .. } => vec![cir],
        MeterKind::TrTcm { cir, pir, .. } => vec![cir, pir],
    };
    match rates.into_iter().find(|r| r % 8 != 0) {
        Some(r) => Err(format!(
            "rate {r} bit/s is not a whole number of bytes per second (DOCA meters count bytes/s; rounding would change colours)"
        )),
        None => Ok(()),
    }
}

/// Lowering state.
pub(crate) struct Lower<'a> {
    pub(crate) p: &'a Program,
    o: &'a Options,
    layout: Layout,
    /// The tracker's plan, when the program tracks.
    pub(crate) ct: Option<ct::Plan>,
    pipes: Vec<Pipe>,
    dedupe: BTreeMap<String, PipeId>,
    memo: BTreeMap<(Variant, Fwd, NodeId), Fwd>,
    /// Exit pipes by (verdict, deciding rule).
    pub(crate) exits: BTreeMap<(Fwd, Option<RuleId>), Fwd>,
    /// The connection manager's classes.
    pub(crate) classes: Vec<CtClass>,
    notes: Vec<String>,
}

impl Lower<'_> {
    /// Adds `pipe` unless an identical one exists; returns its id.
    pub(crate) fn push(&mut self, mut pipe: Pipe) -> Result<PipeId, Error> {
        // Selectors only where a member needs them, so variants share pipes.
        let used: Vec<DocaField> = pipe
            .match_fields
            .iter()
            .copied()
            .chain(pipe.write_fields.iter().map(|w| w.field))
            .collect();
        if !used.iter().any(|f| needs_l4_selector(*f)) {
            pipe.l4 = L4::Any;
            if !used.iter().any(|f| needs_l3_selector(*f)) {
                pipe.l3 = L3::Any;
            }
        }
        let key = {
            let mut k = pipe.clone();
            k.id = 0;
            k.name = String::new();
            k.purpose = String::new();
            serde_json::to_string(&k).map_err(|e| Error::Internal(e.to_string()))?
        };
        if let Some(&id) = self.dedupe.get(&key) {
            return Ok(id);
        }
        let id = self.pipes.len() as PipeId;
        pipe.id = id;
        pipe.name = format!("p{id}_{}", pipe.name);
        self.pipes.push(pipe);
        self.dedupe.insert(key, id);
        Ok(id)
    }

    fn push_unshared(&mut self, mut pipe: Pipe) {
        pipe.id = self.pipes.len() as PipeId;
        self.pipes.push(pipe);
    }

    fn terminal(&self, t: Terminal, accept: Fwd) -> Fwd {
        match t {
            Terminal::Accept => accept,
            // Refused by `check`.
            Terminal::Drop | Terminal::Reject => Fwd::Drop,
            Terminal::Forward(port) => Fwd::Port(self.p.ports[port as usize].number),
        }
    }

    /// Where verdict `t` of rule `by` goes (through an exit pipe when
    /// tracking).
    fn end(&mut self, t: Terminal, accept: Fwd, by: Option<RuleId>) -> Result<Fwd, Error> {
        let f = self.terminal(t, accept);
        self.exit(f, by)
    }

    fn node(&mut self, v: Variant, accept: Fwd, n: NodeId) -> Result<Fwd, Error> {
        if let Some(&f) = self.memo.get(&(v, accept, n)) {
            return Ok(f);
        }
        let f = match &self.p.nodes[n as usize] {
            Node::Verdict(t) => self.end(*t, accept, None)?,
            Node::Lookup { table, next } => {
                let next = self.node(v, accept, *next)?;
                self.lookup(v, *table, next)?
            }
            Node::Rules { table, next, jumps } => {
                let next_f = self.node(v, accept, *next)?;
                let mut jump_f = BTreeMap::new();
                for (rule, target) in jumps {
                    jump_f.insert(*rule, self.node(v, accept, *target)?);
                }
                self.rules(v, accept, *table, next_f, &jump_f)?
            }
        };
        self.memo.insert((v, accept, n), f);
        Ok(f)
    }

    /// The alternatives of one entry in variant `v`; empty if it cannot match.
    fn expand(&self, t: &Table, e: &dpuc_ir::Entry, v: Variant) -> Result<Vec<Alt>, Error> {
        let sources: Vec<Source> = t
            .keys
            .iter()
            .map(|k| match k.source {
                KeySource::Hit(h) => Source::Hw {
                    field: DocaField::MetaU32(h / 32),
                    shift: h % 32,
                    width: 1,
                },
                KeySource::Field(f) => fields::source(f.field, v, &self.layout),
            })
            .collect();
        // Keys this variant fixes first: an entry one of them fails
        // cannot match, whatever the device could not decide.
        for ((k, m), src) in t.keys.iter().zip(&e.matches).zip(&sources) {
            if let Source::Const(c) = src {
                if !m.matches(*c, k.source.width()) {
                    return Ok(Vec::new());
                }
            }
        }
        for ((k, m), src) in t.keys.iter().zip(&e.matches).zip(&sources) {
            if let (Source::OneOf(values), KeySource::Field(f)) = (src, k.source) {
                let hits = values
                    .iter()
                    .filter(|x| m.matches(**x, k.source.width()))
                    .count();
                if hits == 0 {
                    return Ok(Vec::new());
                }
                if hits != values.len() {
                    return Err(self.one_of(t, e, f, v));
                }
            }
        }
        self.icmp_errors(t, e, v)?;
        let mut alts: Vec<Alt> = vec![Alt::new()];
        for ((k, m), src) in t.keys.iter().zip(&e.matches).zip(sources) {
            let width = k.source.width();
            let (field, shift, hw_width) = match src {
                // Checked above: these match.
                Source::Const(_) | Source::OneOf(_) => continue,
                Source::Hw {
                    field,
                    shift,
                    width,
                } => (field, shift, width),
            };
            let full = prefix_mask(width, width);
            let pairs: Vec<(u128, u128)> = match *m {
                Match::Any => continue,
                Match::Exact(x) => vec![(x, full)],
                Match::Lpm { value, len } => {
                    let pm = prefix_mask(width, len);
                    vec![(value & pm, pm)]
                }
                Match::Ternary { value, mask } => vec![(value & mask, mask)],
                Match::Range { lo, hi } => range_to_prefixes(lo, hi, width)
                    .into_iter()
                    .map(|(x, len)| (x, prefix_mask(width, len)))
                    .collect(),
            };
            let room = prefix_mask(hw_width, hw_width);
            let mut next = Vec::new();
            for (value, mask) in pairs {
                // Bits the member does not have read as 0.
                if value & mask & !room != 0 {
                    continue;
                }
                let (value, mask) = ((value & room) << shift, (mask & room) << shift);
                for a in &alts {
                    let mut a = a.clone();
                    let slot = a.entry(field).or_insert((0, 0));
                    let both = slot.1 & mask;
                    if slot.0 & both != value & both {
                        continue;
                    }
                    *slot = (slot.0 | value, slot.1 | mask);
                    if slot.1 == 0 {
                        a.remove(&field);
                    }
                    next.push(a);
                }
            }
            if next.len() > MAX_EXPANSION {
                return Err(Error::Unsupported {
                    what: format!("table `{}`", t.name),
                    reason: format!(
                        "an entry expands into more than {MAX_EXPANSION} value/mask entries"
                    ),
                });
            }
            alts = next;
        }
        Ok(alts)
    }

    pub(crate) fn base_pipe(
        &self,
        name: String,
        purpose: String,
        ty: PipeType,
        v: Variant,
    ) -> Pipe {
        Pipe {
            id: 0,
            name,
            ty,
            is_root: false,
            purpose,
            l3: v.l3,
            l4: v.l4,
            match_fields: vec![],
            write_fields: vec![],
            monitor: Monitor::default(),
            fwd_miss: None,
            fwd: None,
            table: None,
            entries: vec![],
        }
    }

    fn lookup(&mut self, v: Variant, ti: TableId, next: Fwd) -> Result<Fwd, Error> {
        let t = &self.p.tables[ti as usize];
        let TableKind::SetLookup { hit, .. } = t.kind else {
            return Ok(next);
        };
        let mut alts = BTreeSet::new();
        for e in &t.entries {
            for a in self.expand(t, e, v)? {
                alts.insert(a.into_iter().collect::<Vec<_>>());
            }
        }
        if alts.is_empty() {
            return Ok(next);
        }
        let set_bit = Write {
            field: DocaField::MetaU32(hit / 32),
            value: 1u128 << (hit % 32),
            mask: 1u128 << (hit % 32),
        };
        let tag = v.tag();
        let name = if tag.is_empty() {
            t.name.clone()
        } else {
            format!("{}_{tag}", t.name)
        };
        let purpose = format!("set lookup `{}` → hit bit {hit}", t.name);
        let unconditional = alts.iter().any(|a| a.is_empty());
        let fields: BTreeSet<DocaField> = alts.iter().flatten().map(|(f, _)| *f).collect();
        let exact = alts.iter().all(|a| {
            a.iter()
                .all(|(f, (_, m))| *m == prefix_mask(f.bytes() * 8, f.bytes() * 8))
        });
        let key_kind = t.keys.first().map(|k| k.kind);
        let ty = if unconditional {
            PipeType::Basic
        } else if key_kind == Some(MatchKind::Lpm) && fields.len() == 1 {
            PipeType::Lpm
        } else if exact {
            PipeType::Basic
        } else {
            PipeType::Acl
        };
        let mut pipe = self.base_pipe(name, purpose, ty, v);
        pipe.write_fields = vec![WriteMask {
            field: set_bit.field,
            mask: set_bit.mask,
        }];
        pipe.fwd_miss = Some(next);
        let entry = |matches: Vec<FieldMatch>| PipeEntry {
            priority: 0,
            matches,
            writes: vec![set_bit.clone()],
            fwd: next,
            counter: None,
            meter: None,
            rule: None,
            verdict_rule: None,
        };
        if unconditional {
            pipe.fwd_miss = None;
            pipe.entries.push(entry(vec![]));
        } else {
            pipe.match_fields = fields.into_iter().collect();
            for a in alts {
                pipe.entries.push(entry(
                    a.into_iter().map(|(f, (x, m))| fm(f, x, m)).collect(),
                ));
            }
        }
        Ok(Fwd::Pipe(self.push(pipe)?))
    }

    fn rules(
        &mut self,
        v: Variant,
        accept: Fwd,
        ti: TableId,
        next: Fwd,
        jumps: &BTreeMap<RuleId, Fwd>,
    ) -> Result<Fwd, Error> {
        let t = &self.p.tables[ti as usize];
        let mut order: Vec<&dpuc_ir::Entry> = t.entries.iter().collect();
        order.sort_by_key(|e| std::cmp::Reverse(e.priority));
        // (rank, alternative, rule, continuation)
        let mut rows: Vec<(u32, Alt, RuleId, Cont)> = Vec::new();
        for (rank, e) in order.into_iter().enumerate() {
            let Some(rule) = e.rule else { continue };
            let alts = self.expand(t, e, v)?;
            if alts.is_empty() {
                continue;
            }
            let fwd = self.rule(v, accept, rule, next, jumps)?;
            let catch_all = alts.iter().any(|a| a.is_empty());
            for a in alts {
                rows.push((rank as u32, a, rule, fwd));
            }
            if catch_all {
                // Nothing below a match-all entry can win.
                break;
            }
        }
        if rows.is_empty() {
            return Ok(next);
        }
        let tag = v.tag();
        let base = if tag.is_empty() {
            t.name.clone()
        } else {
            format!("{}_{tag}", t.name)
        };
        // A lone match-all row: a one-entry BASIC pipe that counts the rule.
        if rows.len() == 1 && rows[0].1.is_empty() {
            let (_, _, rule, cont) = rows[0];
            let mut pipe = self.base_pipe(
                base,
                format!("rule table `{}` (match-all)", t.name),
                PipeType::Basic,
                v,
            );
            pipe.monitor.per_entry_counter = true;
            pipe.entries.push(PipeEntry {
                priority: 0,
                matches: vec![],
                writes: vec![],
                fwd: cont.fwd,
                counter: None,
                meter: None,
                rule: Some(rule),
                verdict_rule: cont.verdict_rule(),
            });
            return Ok(Fwd::Pipe(self.push(pipe)?));
        }
        let max = self.o.acl_max_entries.max(1) as usize;
        let chunks: Vec<&[(u32, Alt, RuleId, Cont)]> = rows.chunks(max).collect();
        let n = chunks.len();
        if n > 1 {
            self.notes.push(format!(
                "table `{}`{}: {} ACL entries split into {n} chained pipes of at most {max}",
                t.name,
                if tag.is_empty() {
                    String::new()
                } else {
                    format!(" ({tag})")
                },
                rows.len()
            ));
        }
        let mut miss = next;
        for (ci, chunk) in chunks.into_iter().enumerate().rev() {
            let name = if n > 1 {
                format!("{base}_{ci}")
            } else {
                base.clone()
            };
            let mut pipe = self.base_pipe(
                name,
                format!("rule table `{}`, part {} of {n}", t.name, ci + 1),
                PipeType::Acl,
                v,
            );
            pipe.monitor.per_entry_counter = true;
            pipe.fwd_miss = Some(miss);
            let mut fields = BTreeSet::new();
            for (rank, a, rule, cont) in chunk {
                fields.extend(a.keys().copied());
                pipe.entries.push(PipeEntry {
                    priority: *rank,
                    matches: a.iter().map(|(f, (x, m))| fm(*f, *x, *m)).collect(),
                    writes: vec![],
                    fwd: cont.fwd,
                    counter: None,
                    meter: None,
                    rule: Some(*rule),
                    verdict_rule: cont.verdict_rule(),
                });
            }
            pipe.match_fields = fields.into_iter().collect();
            miss = Fwd::Pipe(self.push(pipe)?);
        }
        Ok(miss)
    }

    fn rule(
        &mut self,
        v: Variant,
        accept: Fwd,
        r: RuleId,
        next: Fwd,
        jumps: &BTreeMap<RuleId, Fwd>,
    ) -> Result<Cont, Error> {
        let rule = &self.p.rules[r as usize];
        let end = match rule.actions.end {
            End::Continue => Cont::plain(next),
            End::Terminal(t) => Cont {
                fwd: self.end(t, accept, Some(r))?,
                by: Some(r),
            },
            End::Jump(_) => Cont::plain(jumps.get(&r).copied().unwrap_or(next)),
        };
        self.steps(v, accept, r, &rule.actions.steps, end)
    }

    /// The steps, then `cont`.
    fn steps(
        &mut self,
        v: Variant,
        accept: Fwd,
        r: RuleId,
        steps: &[Step],
        cont: Cont,
    ) -> Result<Cont, Error> {
        let Some(i) = steps.iter().position(|s| matches!(s, Step::Meter { .. })) else {
            return self.plain_steps(v, r, steps, cont);
        };
        let Step::Meter { meter, arms } = &steps[i] else {
            return Ok(cont);
        };
        let rest = self.steps(v, accept, r, &steps[i + 1..], cont)?;
        let mut arm_f = Vec::new();
        for a in arms.iter() {
            let a: &Arm = a;
            let after = match a.terminal {
                Some(t) => Cont {
                    fwd: self.end(t, accept, Some(r))?,
                    by: Some(r),
                },
                None => rest,
            };
            arm_f.push(self.plain_steps(v, r, &a.steps, after)?);
        }
        let rule_label = label(self.p, r);
        let mname = self.p.meters[*meter as usize].name.clone();
        let colors = if arm_f.iter().all(|f| *f == arm_f[0]) {
            arm_f[0]
        } else {
            let mut pipe = self.base_pipe(
                format!("{}_colors", mname),
                format!("meter `{mname}` colour arms of rule `{rule_label}`"),
                PipeType::Control,
                Variant {
                    l3: L3::Any,
                    l4: L4::Any,
                },
            );
            pipe.match_fields = vec![DocaField::MeterColor];
            // enum doca_flow_meter_color: RED 0, YELLOW 1, GREEN 2.
            for (color, f) in [2u128, 1, 0].into_iter().zip(&arm_f) {
                pipe.entries.push(PipeEntry {
                    priority: 0,
                    matches: vec![fm(DocaField::MeterColor, color, 3)],
                    writes: vec![],
                    fwd: f.fwd,
                    counter: None,
                    meter: None,
                    rule: None,
                    verdict_rule: f.verdict_rule(),
                });
            }
            Cont::plain(Fwd::Pipe(self.push(pipe)?))
        };
        let mut pipe = self.base_pipe(
            format!("meter_{mname}"),
            format!("meter `{mname}` of rule `{rule_label}`"),
            PipeType::Basic,
            Variant {
                l3: L3::Any,
                l4: L4::Any,
            },
        );
        pipe.monitor.shared_meter = true;
        pipe.entries.push(PipeEntry {
            priority: 0,
            matches: vec![],
            writes: vec![],
            fwd: colors.fwd,
            counter: None,
            meter: Some(*meter),
            rule: None,
            verdict_rule: colors.verdict_rule(),
        });
        let metered = Cont::plain(Fwd::Pipe(self.push(pipe)?));
        self.plain_steps(v, r, &steps[..i], metered)
    }

    /// Steps without meters: pipes of field writes and at most one counter.
    fn plain_steps(
        &mut self,
        v: Variant,
        r: RuleId,
        steps: &[Step],
        cont: Cont,
    ) -> Result<Cont, Error> {
        // Segments, each with at most one counter.
        let mut segs: Vec<(Vec<Write>, Option<u32>)> = vec![(vec![], None)];
        for s in steps {
            match s {
                Step::Count(c) => {
                    let last = segs.len() - 1;
                    if segs[last].1.is_some() {
                        segs.push((vec![], None));
                    }
                    let last = segs.len() - 1;
                    segs[last].1 = Some(*c);
                }
                Step::Set { field, value } => {
                    let mut ws = self.ct_writes(s);
                    ws.extend(write_for(field.field, *value, v, &self.layout));
                    let last = segs.len() - 1;
                    segs[last].0.extend(ws);
                }
                Step::NoTrack => {
                    let last = segs.len() - 1;
                    segs[last].0.extend(self.ct_writes(s));
                }
                _ => {}
            }
        }
        let rule_label = label(self.p, r);
        let mut f = cont;
        for (writes, counter) in segs.into_iter().rev() {
            let writes = ct::merge_writes(writes);
            if writes.is_empty() && counter.is_none() {
                continue;
            }
            let mut what = Vec::new();
            if let Some(c) = counter {
                what.push(format!("count `{}`", self.p.counters[c as usize]));
            }
            if !writes.is_empty() {
                what.push("rewrite".to_string());
            }
            let tag = v.tag();
            let mut pipe = self.base_pipe(
                format!(
                    "{}_{}{}",
                    self.p.rules[r as usize].name,
                    if counter.is_some() { "count" } else { "set" },
                    if tag.is_empty() {
                        String::new()
                    } else {
                        format!("_{tag}")
                    }
                ),
                format!("{} in rule `{rule_label}`", what.join(" and ")),
                PipeType::Basic,
                v,
            );
            pipe.monitor.shared_counter = counter.is_some();
            pipe.write_fields = writes
                .iter()
                .map(|w| WriteMask {
                    field: w.field,
                    mask: w.mask,
                })
                .collect();
            pipe.entries.push(PipeEntry {
                priority: 0,
                matches: vec![],
                writes,
                fwd: f.fwd,
                counter,
                meter: None,
                rule: None,
                verdict_rule: f.verdict_rule(),
            });
            f = Cont::plain(Fwd::Pipe(self.push(pipe)?));
        }
        Ok(f)
    }
}

/// The DOCA Flow write for `set field = value` in variant `v` (`None`: the
/// header is absent, nothing to write).
fn write_for(field: Field, value: u128, v: Variant, layout: &Layout) -> Option<Write> {
    let w = |field, shift: u32, width: u32| {
        let room = prefix_mask(width, width);
        Some(Write {
            field,
            value: (value & room) << shift,
            mask: room << shift,
        })
    };
    match (field, v.l3) {
        (Field::MetaMark, _) => w(layout.mark, 0, 32),
        (Field::VlanPcp, _) => w(DocaField::VlanTci, 13, 3),
        (Field::IpDscp, L3::Ip4) => w(DocaField::Ip4DscpEcn, 2, 6),
        (Field::IpDscp, L3::Ip6) => w(DocaField::Ip6Tc, 2, 6),
        (Field::IpEcn, L3::Ip4) => w(DocaField::Ip4DscpEcn, 0, 2),
        (Field::IpEcn, L3::Ip6) => w(DocaField::Ip6Tc, 0, 2),
        _ => None,
    }
}

fn needs_l3_selector(f: DocaField) -> bool {
    use DocaField::*;
    matches!(
        f,
        Ip4Src
            | Ip4Dst
            | Ip4Proto
            | Ip4DscpEcn
            | Ip4Ttl
            | Ip6Src
            | Ip6Dst
            | Ip6Proto
            | Ip6Tc
            | Ip6Hop
    )
}

fn needs_l4_selector(f: DocaField) -> bool {
    use DocaField::*;
    matches!(
        f,
        TcpSrc | TcpDst | TcpFlags | UdpSrc | UdpDst | IcmpType | IcmpCode | IcmpIdent
    )
}
