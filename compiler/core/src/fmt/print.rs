//! Printing each node in canonical form.

use super::{Printer, WIDTH};
use crate::ast::*;
use crate::span::Span;

pub(super) fn item(p: &mut Printer, item: &Item) {
    match item {
        Item::Use(u) => {
            let src = match &u.source {
                UseSource::Std(path) => path
                    .iter()
                    .map(|i| i.name.as_str())
                    .collect::<Vec<_>>()
                    .join("::"),
                UseSource::File(f) => string(&f.value),
            };
            let names = match &u.names {
                UseNames::All(_) => "*".to_string(),
                UseNames::List(ids) if ids.len() == 1 => ids[0].name.clone(),
                UseNames::List(ids) => format!(
                    "{{{}}}",
                    ids.iter()
                        .map(|i| i.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            p.line(&format!("use {src}::{names};"));
        }
        Item::Port(d) => p.line(&format!("port {} = {};", d.name.name, value(&d.number))),
        Item::Const(d) => p.line(&format!("const {} = {};", d.name.name, value(&d.value))),
        Item::Counter(d) => p.line(&format!("counter {};", d.name.name)),
        Item::Set(s) => {
            let head = format!(
                "{}set {}: {} = ",
                if s.is_const { "const " } else { "" },
                s.name.name,
                s.ty.name
            );
            let elems: Vec<String> = s.elems.iter().map(value).collect();
            let one = format!("{head}{};", set_lit(&elems));
            if one.len() + p.indent * 4 <= WIDTH || elems.is_empty() {
                p.line(&one);
            } else {
                p.line(&format!("{head}{{"));
                p.indent += 1;
                for e in &elems {
                    p.line(&format!("{e},"));
                }
                p.indent -= 1;
                p.line("};");
            }
        }
        Item::Meter(m) => {
            let mut s = format!("meter {}:", m.name.name);
            for a in &m.args {
                s.push(' ');
                s.push_str(&a.key.name);
                if let Some(v) = &a.value {
                    s.push(' ');
                    s.push_str(&value(v));
                }
            }
            if let Some(k) = &m.per {
                let fields: Vec<String> = k.fields.iter().map(FieldPath::dotted).collect();
                if k.tuple {
                    s.push_str(&format!(" per ({})", fields.join(", ")));
                } else {
                    s.push_str(&format!(" per {}", fields.join(", ")));
                }
            }
            if let Some(v) = &m.max {
                s.push_str(&format!(" max {}", value(v)));
            }
            s.push(';');
            p.line(&s);
        }
        Item::Conntrack(c) => block(p, "conntrack", c.span, &c.settings, |_, s| {
            let text = match &s.kind {
                CtSettingKind::MaxEntries(v) => format!("max_entries {};", value(v)),
                CtSettingKind::Timeout(n, v) => format!("timeout {} {};", n.name, value(v)),
                CtSettingKind::OnFull(w) => format!("on_full {};", w.name),
                CtSettingKind::Zone(f) => format!("zone {};", f.dotted()),
            };
            (s.span, vec![text])
        }),
        Item::Policy(pol) => {
            let mut stmts: Vec<(Span, Vec<String>)> = pol
                .rules
                .iter()
                .map(|r| (r.span, rule(r, p.indent + 1)))
                .collect();
            if let Some(d) = &pol.default {
                let v = match d.verdict {
                    Verdict::Accept => "accept",
                    Verdict::Drop => "drop",
                };
                stmts.push((d.span, vec![format!("default {v};")]));
            }
            block(
                p,
                &format!("policy {}", pol.name.name),
                pol.span,
                &stmts,
                |_, s| s.clone(),
            );
        }
        Item::Pipeline(pl) => block(p, "pipeline", pl.span, &pl.lines, |_, l| {
            let via = l
                .via
                .as_ref()
                .map(|v| format!(" via {}", v.name))
                .unwrap_or_default();
            (
                l.span,
                vec![format!("{} -> {}{via};", l.from.name, l.to.name)],
            )
        }),
        Item::Test(t) => block(
            p,
            &format!("test {}", string(&t.name.value)),
            t.span,
            &t.stmts,
            |_, s| (test_stmt_span(s), vec![test_stmt(s)]),
        ),
    }
}

/// `HEAD {`, each statement (with its comments), `}`.
fn block<T>(
    p: &mut Printer,
    head: &str,
    span: Span,
    items: &[T],
    f: impl Fn(&mut Printer, &T) -> (Span, Vec<String>),
) {
    p.line(&format!("{head} {{"));
    p.indent += 1;
    // Blank lines and comments are measured from the opening brace.
    let open = span.start as usize;
    p.last_end = p
        .text
        .get(open..)
        .and_then(|t| t.find('{'))
        .map_or(open, |i| open + i + 1);
    let mut first = true;
    for it in items {
        let (s, lines) = f(p, it);
        let sep = !first && p.blank_before(s.start as usize);
        p.leading(s.start as usize, sep);
        p.hoist(s.end as usize);
        for l in lines {
            p.line(&l);
        }
        p.last_end = s.end as usize;
        first = false;
    }
    // Comments before the closing brace stay inside the block.
    p.leading((span.end as usize).saturating_sub(1), false);
    p.indent -= 1;
    p.line("}");
}

/// A rule on one line if it fits in [`WIDTH`] columns; otherwise broken
/// after `=>` with the actions on one continuation line, or, if that is
/// still too long, one action per continuation line.
fn rule(r: &Rule, indent: usize) -> Vec<String> {
    let pred = r
        .pred
        .as_ref()
        .map(|x| format!(" {}", pred(x)))
        .unwrap_or_default();
    let actions: Vec<String> = r.actions.iter().map(action).collect();
    let one = format!("rule {}:{pred} => {};", r.name.name, actions.join(", "));
    if one.len() + indent * 4 <= WIDTH {
        return vec![one];
    }
    let head = format!("rule {}:{pred} =>", r.name.name);
    let cont = format!("    {};", actions.join(", "));
    if cont.len() + indent * 4 <= WIDTH || actions.len() == 1 {
        return vec![head, cont];
    }
    let last = actions.len() - 1;
    let mut lines = vec![head];
    for (i, a) in actions.iter().enumerate() {
        lines.push(format!("    {a}{}", if i == last { ";" } else { "," }));
    }
    lines
}

fn pred(x: &Pred) -> String {
    match x {
        Pred::Or(a, b, _) => format!("{} or {}", pred(a), pred(b)),
        Pred::And(a, b, _) => format!("{} and {}", pred(a), pred(b)),
        Pred::Not(a, _) => format!("not {}", pred(a)),
        Pred::Paren(a, _) => format!("({})", pred(a)),
        Pred::Test(t) => {
            let f = t.field.dotted();
            match &t.op {
                TestOp::Bare => f,
                TestOp::Eq(v) => format!("{f} == {}", value(v)),
                TestOp::Ne(v) => format!("{f} != {}", value(v)),
                TestOp::Lt(v) => format!("{f} < {}", value(v)),
                TestOp::Le(v) => format!("{f} <= {}", value(v)),
                TestOp::Gt(v) => format!("{f} > {}", value(v)),
                TestOp::Ge(v) => format!("{f} >= {}", value(v)),
                TestOp::In(s) => format!("{f} in {}", set_expr(s)),
                TestOp::NotIn(s) => format!("{f} not in {}", set_expr(s)),
                TestOp::Has(v) => format!("{f} has {}", value(v)),
                TestOp::MaskEq { mask, value: v } => {
                    format!("{f} & {} == {}", masked(mask), value(v))
                }
            }
        }
    }
}

/// A mask of several flags keeps its parentheses: `& (syn|ack)`.
fn masked(v: &Value) -> String {
    match &v.kind {
        ValueKind::Flags(_) => format!("({})", value(v)),
        _ => value(v),
    }
}

fn set_expr(s: &SetExpr) -> String {
    match s {
        SetExpr::Name(n) => n.name.clone(),
        SetExpr::Literal(vs, _) => set_lit(&vs.iter().map(value).collect::<Vec<_>>()),
    }
}

fn set_lit(elems: &[String]) -> String {
    if elems.is_empty() {
        "{}".into()
    } else {
        format!("{{ {} }}", elems.join(", "))
    }
}

fn action(a: &Action) -> String {
    match &a.kind {
        ActionKind::Accept => "accept".into(),
        ActionKind::Drop => "drop".into(),
        ActionKind::Reject => "reject".into(),
        ActionKind::Continue => "continue".into(),
        ActionKind::NoTrack => "notrack".into(),
        ActionKind::Forward(p) => format!("forward {}", p.name),
        ActionKind::Jump(p) => format!("jump {}", p.name),
        ActionKind::Mirror(p) => format!("mirror {}", p.name),
        ActionKind::Count(None) => "count".into(),
        ActionKind::Count(Some(n)) => format!("count {}", n.name),
        ActionKind::Set { field, value: v } => format!("set {} = {}", field.dotted(), value(v)),
        ActionKind::Log { prefix, sample } => {
            let mut s = "log".to_string();
            if let Some(pre) = prefix {
                s.push(' ');
                s.push_str(&string(&pre.value));
            }
            if let Some((n, m)) = sample {
                s.push_str(&format!(" sample {}/{}", value(n), value(m)));
            }
            s
        }
        ActionKind::Meter { name, arms } => match arms {
            None => format!("meter {}", name.name),
            Some(arms) => {
                let a: Vec<String> = arms
                    .iter()
                    .map(|arm| {
                        let acts: Vec<String> = arm.actions.iter().map(action).collect();
                        if arm.parenthesized {
                            format!("{} => ({})", arm.color.name, acts.join(", "))
                        } else {
                            format!("{} => {}", arm.color.name, acts.join(", "))
                        }
                    })
                    .collect();
                format!("meter {} {{ {} }}", name.name, a.join(", "))
            }
        },
    }
}

fn test_stmt_span(s: &TestStmt) -> Span {
    match s {
        TestStmt::Send(x) => x.span,
        TestStmt::After(_, s) => *s,
        TestStmt::ExpectCounter { span, .. }
        | TestStmt::ExpectRuleHits { span, .. }
        | TestStmt::ExpectConntrack { span, .. } => *span,
    }
}

fn test_stmt(s: &TestStmt) -> String {
    match s {
        TestStmt::Send(x) => {
            let mut out = format!("send {}", packet(&x.packet));
            if let Some(on) = &x.on {
                out.push_str(&format!(" on {}", on.name));
            }
            if let Some(at) = &x.at {
                out.push_str(&format!(" at {}", value(at)));
            }
            out.push_str(&format!(" => {};", expect(&x.expect)));
            out
        }
        TestStmt::After(v, _) => format!("after {};", value(v)),
        TestStmt::ExpectCounter {
            name,
            value: v,
            bytes,
            ..
        } => {
            format!(
                "expect counter {} == {} {};",
                name.name,
                value(v),
                if *bytes { "bytes" } else { "packets" }
            )
        }
        TestStmt::ExpectRuleHits {
            policy,
            rule,
            value: v,
            ..
        } => {
            let pol = policy
                .as_ref()
                .map(|p| format!("{}.", p.name))
                .unwrap_or_default();
            format!("expect rule {pol}{} hits == {};", rule.name, value(v))
        }
        TestStmt::ExpectConntrack { value: v, .. } => {
            format!("expect conntrack count == {};", value(v))
        }
    }
}

fn expect(e: &Expect) -> String {
    let mut s = match &e.verdict {
        ExpectVerdict::Accept => "accept".to_string(),
        ExpectVerdict::Drop => "drop".to_string(),
        ExpectVerdict::Forward(p) => format!("forward {}", p.name),
    };
    if let Some((pol, r)) = &e.by {
        let pol = pol
            .as_ref()
            .map(|p| format!("{}.", p.name))
            .unwrap_or_default();
        s.push_str(&format!(" by {pol}{}", r.name));
    }
    if let Some(c) = &e.color {
        s.push_str(&format!(" color {}", c.name));
    }
    if let Some(v) = &e.with_dscp {
        s.push_str(&format!(" with dscp {}", value(v)));
    }
    if let Some(v) = &e.with_mark {
        s.push_str(&format!(" with mark {}", value(v)));
    }
    s
}

fn endpoint(e: &Endpoint) -> String {
    match e.addr.kind {
        ValueKind::Ipv6(_) => format!("[{}]:{}", value(&e.addr), value(&e.port)),
        _ => format!("{}:{}", value(&e.addr), value(&e.port)),
    }
}

fn packet(p: &Packet) -> String {
    let mut s = match &p.kind {
        PacketKind::Tcp { src, dst, flags } => {
            let mut s = format!("tcp {} -> {}", endpoint(src), endpoint(dst));
            if !flags.is_empty() {
                let f: Vec<&str> = flags.iter().map(|f| f.name.as_str()).collect();
                s.push_str(&format!(" [{}]", f.join(", ")));
            }
            s
        }
        PacketKind::Udp { src, dst } => format!("udp {} -> {}", endpoint(src), endpoint(dst)),
        PacketKind::Icmp { src, dst, what } => {
            let w = match what {
                IcmpWhat::Name(n) => n.name.clone(),
                IcmpWhat::TypeCode(t, c) => format!("type {} code {}", value(t), value(c)),
            };
            format!("icmp {} -> {} {w}", value(src), value(dst))
        }
        PacketKind::Ip { src, dst, proto } => {
            format!("ip {} -> {} proto {}", value(src), value(dst), value(proto))
        }
        PacketKind::Raw(s) => format!("raw {}", string(&s.value)),
    };
    for o in &p.options {
        let t = match o {
            PacketOpt::Vlan(v) => format!("vlan {}", value(v)),
            PacketOpt::Dscp(v) => format!("dscp {}", value(v)),
            PacketOpt::Ecn(v) => format!("ecn {}", value(v)),
            PacketOpt::Ttl(v) => format!("ttl {}", value(v)),
            PacketOpt::Len(v) => format!("len {}", value(v)),
            PacketOpt::Id(v) => format!("id {}", value(v)),
            PacketOpt::Seq(v) => format!("seq {}", value(v)),
            PacketOpt::Frag(w) => format!("frag {}", w.name),
            PacketOpt::Eth(a, b) => format!("eth {} -> {}", value(a), value(b)),
            PacketOpt::Vxlan(v, inner) => format!("vxlan {} {{ {} }}", value(v), packet(inner)),
            PacketOpt::Geneve(v, inner) => format!("geneve {} {{ {} }}", value(v), packet(inner)),
        };
        s.push(' ');
        s.push_str(&t);
    }
    s
}

fn string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A value as written (radix, units and names preserved).
pub(super) fn value(v: &Value) -> String {
    match &v.kind {
        ValueKind::Int(n, 16) => format!("{n:#x}"),
        ValueKind::Int(n, 2) => format!("{n:#b}"),
        ValueKind::Int(n, _) => n.to_string(),
        ValueKind::Ipv4(a) => a.to_string(),
        ValueKind::Ipv6(a) => a.to_string(),
        ValueKind::Ipv4Prefix(a, l) => format!("{a}/{l}"),
        ValueKind::Ipv6Prefix(a, l) => format!("{a}/{l}"),
        ValueKind::Mac(m) => m
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":"),
        ValueKind::Range(lo, hi) => {
            let named =
                matches!(lo.kind, ValueKind::Name(_)) || matches!(hi.kind, ValueKind::Name(_));
            // A dash right after a name would join it into one hyphenated name.
            if named {
                format!("{} - {}", value(lo), value(hi))
            } else {
                format!("{}-{}", value(lo), value(hi))
            }
        }
        ValueKind::Str(s) => string(s),
        ValueKind::Duration(ns, unit) => {
            let per: u64 = match unit.as_str() {
                "ms" => 1_000_000,
                "s" => 1_000_000_000,
                "m" => 60_000_000_000,
                "h" => 3_600_000_000_000,
                _ => 86_400_000_000_000,
            };
            format!("{}{unit}", ns / per)
        }
        ValueKind::Rate(n, u) | ValueKind::Size(n, u) => format!("{n} {u}"),
        ValueKind::Name(n) => n.clone(),
        ValueKind::Flags(fs) => fs.iter().map(value).collect::<Vec<_>>().join("|"),
    }
}
