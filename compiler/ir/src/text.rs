//! The stable text form of a program, for snapshots and the book.

use crate::{
    Actions, Arm, End, Field, KeySource, Match, MeterKind, Node, Pipeline, Program, SetType, Step,
    TableKind, Terminal,
};
use std::fmt::Write;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Prints `p` in a stable, line-oriented text form.
pub fn to_text(p: &Program) -> String {
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "program {}", p.name);
    for (i, port) in p.ports.iter().enumerate() {
        let _ = writeln!(w, "port {i} {} = {}", port.name, port.number);
    }
    for c in &p.counters {
        let _ = writeln!(w, "counter {c}");
    }
    for m in &p.meters {
        let kind = match m.kind {
            MeterKind::TokenBucket { rate, burst } => {
                format!("token_bucket rate {rate} burst {burst}")
            }
            MeterKind::SrTcm { cir, cbs, ebs } => format!("srtcm cir {cir} cbs {cbs} ebs {ebs}"),
            MeterKind::TrTcm { cir, cbs, pir, pbs } => {
                format!("trtcm cir {cir} cbs {cbs} pir {pir} pbs {pbs}")
            }
        };
        let per: Vec<String> = m.per.iter().map(|f| f.to_string()).collect();
        let _ = writeln!(
            w,
            "meter {}: {kind} {:?} per [{}] max {}",
            m.name,
            m.unit,
            per.join(", "),
            m.max_keys
        );
    }
    if let Some(ct) = &p.conntrack {
        let zone: Vec<String> = ct.zone.iter().map(|f| f.to_string()).collect();
        let _ = writeln!(
            w,
            "conntrack max_entries {} on_full {:?} zone [{}] timeouts {:?}",
            ct.max_entries,
            ct.on_full,
            zone.join(", "),
            ct.timeouts
        );
    }
    for s in &p.sets {
        let elems: Vec<String> = s
            .elems
            .iter()
            .map(|e| {
                let width = match (s.ty, e.family) {
                    (SetType::Ip, Some(crate::Family::V6)) => 128,
                    (SetType::Ip, _) => 32,
                    (SetType::Mac, _) => 48,
                    (SetType::Int(w), _) => w,
                };
                let f = value_fmt(s.ty, width);
                if e.lo == e.hi {
                    f(e.lo)
                } else {
                    format!("{}-{}", f(e.lo), f(e.hi))
                }
            })
            .collect();
        let tables: Vec<String> = s
            .tables
            .iter()
            .map(|t| p.tables[*t as usize].name.clone())
            .collect();
        let _ = writeln!(
            w,
            "set {}: {:?} {{ {} }} tables [{}]",
            s.name,
            s.ty,
            elems.join(", "),
            tables.join(", ")
        );
    }
    for (i, pol) in p.policies.iter().enumerate() {
        let d = pol
            .default
            .map(|t| terminal(p, t))
            .unwrap_or_else(|| "return".into());
        let _ = writeln!(w, "policy {i} {} default {d}", pol.name);
    }
    for (i, r) in p.rules.iter().enumerate() {
        let pol = &p.policies[r.policy as usize].name;
        let _ = writeln!(w, "rule {i} {pol}.{}: {}", r.name, actions(p, &r.actions));
    }
    for t in &p.tables {
        let kind = match t.kind {
            TableKind::SetLookup { set, hit } => {
                format!("lookup of set {} -> hit{hit}", p.sets[set as usize].name)
            }
            TableKind::Rules { policy } => format!("rules of {}", p.policies[policy as usize].name),
        };
        let _ = writeln!(w, "table {} ({kind}) size {}", t.name, t.size);
        for k in &t.keys {
            let _ = writeln!(w, "  key {} {:?}", key_name(k.source), k.kind);
        }
        for e in &t.entries {
            let ms: Vec<String> = t
                .keys
                .iter()
                .zip(&e.matches)
                .filter(|(_, m)| **m != Match::Any)
                .map(|(k, m)| format!("{}={}", key_name(k.source), match_text(k.source, m)))
                .collect();
            let target = e
                .rule
                .map(|r| format!(" -> {}", p.rules[r as usize].name))
                .unwrap_or_default();
            let _ = writeln!(
                w,
                "  entry {}: {}{target}",
                e.priority,
                if ms.is_empty() {
                    "*".into()
                } else {
                    ms.join(" ")
                }
            );
        }
    }
    for (i, n) in p.nodes.iter().enumerate() {
        let s = match n {
            Node::Lookup { table, next } => {
                format!("lookup {} -> {next}", p.tables[*table as usize].name)
            }
            Node::Rules { table, next, jumps } => {
                let j: Vec<String> = jumps
                    .iter()
                    .map(|(r, n)| format!("{}->{n}", p.rules[*r as usize].name))
                    .collect();
                let j = if j.is_empty() {
                    String::new()
                } else {
                    format!(" jumps [{}]", j.join(", "))
                };
                format!("rules {} -> {next}{j}", p.tables[*table as usize].name)
            }
            Node::Verdict(t) => format!("verdict {}", terminal(p, *t)),
        };
        let _ = writeln!(w, "node {i}: {s}");
    }
    match &p.pipeline {
        Pipeline::Single { entry } => {
            let _ = writeln!(w, "pipeline single -> node {entry}");
        }
        Pipeline::Lines(lines) => {
            for l in lines {
                let _ = writeln!(
                    w,
                    "pipeline {} -> {} at node {}",
                    p.ports[l.from as usize].name, p.ports[l.to as usize].name, l.entry
                );
            }
        }
    }
    out
}

fn key_name(k: KeySource) -> String {
    match k {
        KeySource::Field(f) => f.to_string(),
        KeySource::Hit(h) => format!("hit{h}"),
    }
}

fn value_fmt(ty: SetType, width: u32) -> Box<dyn Fn(u128) -> String> {
    match (ty, width) {
        (SetType::Ip, 32) => Box::new(|v| Ipv4Addr::from(v as u32).to_string()),
        (SetType::Ip, _) => Box::new(|v| Ipv6Addr::from(v).to_string()),
        (SetType::Mac, _) => Box::new(|v| format!("{v:012x}")),
        _ => Box::new(|v| v.to_string()),
    }
}

fn field_value(k: KeySource, v: u128) -> String {
    match k {
        KeySource::Field(f) => match f.field {
            Field::Ip4Src | Field::Ip4Dst => Ipv4Addr::from(v as u32).to_string(),
            Field::Ip6Src | Field::Ip6Dst => Ipv6Addr::from(v).to_string(),
            Field::TcpFlags => format!("{v:#04x}"),
            _ => v.to_string(),
        },
        KeySource::Hit(_) => v.to_string(),
    }
}

fn match_text(k: KeySource, m: &Match) -> String {
    match *m {
        Match::Any => "*".into(),
        Match::Exact(v) => field_value(k, v),
        Match::Lpm { value, len } => format!("{}/{len}", field_value(k, value)),
        Match::Ternary { value, mask } => {
            format!("{}&{}", field_value(k, value), field_value(k, mask))
        }
        Match::Range { lo, hi } => format!("{}-{}", field_value(k, lo), field_value(k, hi)),
    }
}

fn terminal(p: &Program, t: Terminal) -> String {
    match t {
        Terminal::Accept => "accept".into(),
        Terminal::Drop => "drop".into(),
        Terminal::Reject => "reject".into(),
        Terminal::Forward(port) => format!("forward {}", p.ports[port as usize].name),
    }
}

fn steps(p: &Program, steps: &[Step]) -> Vec<String> {
    steps
        .iter()
        .map(|s| match s {
            Step::Count(c) => format!("count {}", p.counters[*c as usize]),
            Step::Meter { meter, arms } => {
                let names = ["green", "yellow", "red"];
                let a: Vec<String> = names
                    .iter()
                    .zip(arms.iter())
                    .map(|(n, a)| format!("{n} => {}", arm(p, a)))
                    .collect();
                format!(
                    "meter {} {{ {} }}",
                    p.meters[*meter as usize].name,
                    a.join(", ")
                )
            }
            Step::Set { field, value } => format!("set {field} = {value}"),
            Step::Mirror(port) => format!("mirror {}", p.ports[*port as usize].name),
            Step::Log { prefix, sample } => {
                let mut s = "log".to_string();
                if let Some(pre) = prefix {
                    let _ = write!(s, " {pre:?}");
                }
                if let Some((n, m)) = sample {
                    let _ = write!(s, " sample {n}/{m}");
                }
                s
            }
            Step::NoTrack => "notrack".into(),
        })
        .collect()
}

fn arm(p: &Program, a: &Arm) -> String {
    let mut parts = steps(p, &a.steps);
    parts.push(
        a.terminal
            .map(|t| terminal(p, t))
            .unwrap_or_else(|| "continue".into()),
    );
    if parts.len() == 1 {
        parts.remove(0)
    } else {
        format!("({})", parts.join(", "))
    }
}

fn actions(p: &Program, a: &Actions) -> String {
    let mut parts = steps(p, &a.steps);
    parts.push(match a.end {
        End::Continue => "continue".into(),
        End::Terminal(t) => terminal(p, t),
        End::Jump(pol) => format!("jump {}", p.policies[pol as usize].name),
    });
    parts.join(", ")
}
