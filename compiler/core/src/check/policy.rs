//! Meters, conntrack, policies (predicates and actions), the pipeline and
//! `jump`s.

use super::fields::{self, Resolved};
use super::hir::{self, CmpOp, Elem, End, LogicalField, Pred, Step, Ty, Verdict};
use super::items::ty_name;
use super::{suggest, Checker};
use crate::ast::{self, ActionKind, TestOp, ValueKind};
use crate::diag::Diagnostic;
use crate::span::Span;
use dpuc_ir::{Field, FieldRef, Header};

impl Checker {
    pub(super) fn declare_meter(&mut self, module: usize, m: &ast::MeterDecl) {
        self.meters_ix
            .insert(m.name.name.clone(), self.hir.meters.len());
        let kinds = ["rate", "srtcm", "trtcm"];
        let Some(first) = m.args.first() else { return };
        let kind = first.key.name.as_str();
        let params: &[&str] = match kind {
            "rate" => &["rate", "burst"],
            "srtcm" => &["cir", "cbs", "ebs"],
            "trtcm" => &["cir", "cbs", "pir", "pbs"],
            _ => {
                let mut d = Diagnostic::new(
                    "E0022",
                    first.key.span,
                    format!("unknown meter kind `{kind}`"),
                )
                .label("expected `rate`, `srtcm` or `trtcm`");
                if let Some(s) = suggest(kind, kinds.iter().copied()) {
                    d = d.help(format!("did you mean `{s}`?"));
                }
                self.err(d);
                return;
            }
        };
        // `rate R burst B`: the kind word carries the first value.
        let args: Vec<&ast::MeterArg> = if kind == "rate" {
            m.args.iter().collect()
        } else {
            m.args[1..].iter().collect()
        };
        let mut values: Vec<Option<(u64, Span)>> = vec![None; params.len()];
        let mut unit: Option<(hir::MeterUnit, Span)> = None;
        let mut ok = true;
        for a in args {
            let Some(pi) = params.iter().position(|p| *p == a.key.name) else {
                let mut d = Diagnostic::new(
                    "E0022",
                    a.key.span,
                    format!("`{kind}` meters have no `{}`", a.key.name),
                )
                .label(format!("expected one of {}", params.join(", ")));
                if let Some(s) = suggest(&a.key.name, params.iter().copied()) {
                    d = d.help(format!("did you mean `{s}`?"));
                }
                self.err(d);
                ok = false;
                continue;
            };
            let Some(v) = &a.value else {
                self.err(
                    Diagnostic::new(
                        "E0022",
                        a.key.span,
                        format!("`{}` needs a value", a.key.name),
                    )
                    .label("no value"),
                );
                ok = false;
                continue;
            };
            let is_rate = params[pi] == "rate" || params[pi] == "cir" || params[pi] == "pir";
            let Some((n, u)) = meter_quantity(v, is_rate) else {
                let want = if is_rate {
                    "a rate like `100 pps` or `10 Mbps`"
                } else {
                    "a size like `64 KB` or `200 packets`"
                };
                self.err(
                    Diagnostic::new("E0022", v.span, format!("`{}` needs {want}", a.key.name))
                        .label("wrong kind of value"),
                );
                ok = false;
                continue;
            };
            if n == 0 {
                self.err(
                    Diagnostic::new(
                        "E0022",
                        v.span,
                        format!("`{}` must be greater than zero", a.key.name),
                    )
                    .label("zero"),
                );
                ok = false;
            }
            match unit {
                Some((prev, prev_span)) if prev != u => {
                    self.err(
                        Diagnostic::new("E0021", v.span, "a meter mixes packet and byte units")
                            .label(if u == hir::MeterUnit::Packets {
                                "counts packets"
                            } else {
                                "counts bytes"
                            })
                            .secondary(prev_span, "while this counts the other")
                            .help("use pps with packets, or bps with B/KB/MB"),
                    );
                    ok = false;
                }
                None => unit = Some((u, v.span)),
                _ => {}
            }
            values[pi] = Some((n, v.span));
        }
        for (i, p) in params.iter().enumerate() {
            if values[i].is_none() && ok {
                self.err(
                    Diagnostic::new(
                        "E0022",
                        m.name.span,
                        format!("meter `{}` is missing `{p}`", m.name.name),
                    )
                    .label(format!("`{kind}` needs {}", params.join(", "))),
                );
                ok = false;
            }
        }
        let mut per = Vec::new();
        if let Some(k) = &m.per {
            for f in &k.fields {
                match fields::resolve(&f.dotted()) {
                    Some(Resolved::Field(LogicalField::Field(fr), _))
                    | Some(Resolved::Field(LogicalField::IcmpType(fr), _)) => per.push(fr),
                    Some(Resolved::Field(LogicalField::Ip { v4, v6 }, _)) => per.extend([v4, v6]),
                    _ => {
                        self.unknown_field(f);
                        ok = false;
                    }
                }
            }
        }
        let max_keys = match &m.max {
            Some(v) => match self.scalar_int(module, v, 32, "a number of keys") {
                Some(0) => {
                    self.err(
                        Diagnostic::new("E0022", v.span, "`max` must be at least 1").label("zero"),
                    );
                    1
                }
                Some(n) => n as u32,
                None => 1,
            },
            None => 65_536,
        };
        if !ok {
            return;
        }
        let g = |i: usize| values[i].map_or(0, |(n, _)| n);
        let kind = match kind {
            "rate" => hir::MeterKind::TokenBucket {
                rate: g(0),
                burst: g(1),
            },
            "srtcm" => hir::MeterKind::SrTcm {
                cir: g(0),
                cbs: g(1),
                ebs: g(2),
            },
            _ => {
                if g(2) < g(0) {
                    if let Some((_, span)) = values[2] {
                        self.err(
                            Diagnostic::new(
                                "E0022",
                                span,
                                "the peak rate is below the committed rate",
                            )
                            .label("`pir` must be at least `cir` (RFC 2698)"),
                        );
                    }
                }
                hir::MeterKind::TrTcm {
                    cir: g(0),
                    cbs: g(1),
                    pir: g(2),
                    pbs: g(3),
                }
            }
        };
        let unit = unit.map_or(hir::MeterUnit::Packets, |(u, _)| u);
        self.hir.meters.push(hir::Meter {
            name: m.name.name.clone(),
            kind,
            unit,
            per,
            max_keys,
            span: m.name.span,
        });
    }

    pub(super) fn conntrack(&mut self, module: usize, c: &ast::ConntrackDecl) -> hir::Conntrack {
        let mut ct = hir::Conntrack {
            max_entries: 65_536,
            evict_oldest: false,
            timeouts: hir::TIMEOUT_DEFAULTS,
            zone: Vec::new(),
            span: Some(c.span),
        };
        for s in &c.settings {
            match &s.kind {
                ast::CtSettingKind::MaxEntries(v) => {
                    if let Some(n) = self.scalar_int(module, v, 32, "a number of entries") {
                        ct.max_entries = n as u64;
                    }
                }
                ast::CtSettingKind::Timeout(name, v) => {
                    let Some(i) = hir::TIMEOUT_NAMES.iter().position(|t| *t == name.name) else {
                        let mut d = Diagnostic::new(
                            "E0027",
                            name.span,
                            format!("unknown timeout `{}`", name.name),
                        )
                        .label(format!("expected one of {}", hir::TIMEOUT_NAMES.join(", ")));
                        if let Some(sg) = suggest(&name.name, hir::TIMEOUT_NAMES.iter().copied()) {
                            d = d.help(format!("did you mean `{sg}`?"));
                        }
                        self.err(d);
                        continue;
                    };
                    match v.kind {
                        ValueKind::Duration(ns, _) if ns > 0 => ct.timeouts[i] = ns,
                        _ => self.err(
                            Diagnostic::new("E0027", v.span, "a timeout needs a duration")
                                .label("expected something like `30s` or `5m`"),
                        ),
                    }
                }
                ast::CtSettingKind::OnFull(w) => match w.name.as_str() {
                    "drop" => ct.evict_oldest = false,
                    "evict_oldest" => ct.evict_oldest = true,
                    other => self.err(
                        Diagnostic::new(
                            "E0027",
                            w.span,
                            format!("unknown `on_full` behaviour `{other}`"),
                        )
                        .label("expected `drop` or `evict_oldest`"),
                    ),
                },
                ast::CtSettingKind::Zone(f) => match fields::resolve(&f.dotted()) {
                    Some(Resolved::Field(LogicalField::Field(fr), _)) => ct.zone.push(fr),
                    Some(Resolved::Field(LogicalField::Ip { v4, v6 }, _)) => {
                        ct.zone.extend([v4, v6])
                    }
                    _ => self.unknown_field(f),
                },
            }
        }
        ct
    }

    pub(super) fn unknown_field(&mut self, f: &ast::FieldPath) {
        let path = f.dotted();
        let bare = path.strip_prefix("inner.").unwrap_or(&path);
        let mut d = Diagnostic::new("E0011", f.span, format!("unknown field `{path}`"))
            .label("not a field or header");
        if let Some(s) = suggest(bare, fields::all_names()) {
            let s = if bare.len() != path.len() {
                format!("inner.{s}")
            } else {
                s.to_string()
            };
            d = d.help(format!("did you mean `{s}`?"));
        }
        self.err(d);
    }

    pub(super) fn check_policy(&mut self, module: usize, p: &ast::PolicyDecl) {
        let Some(&pix) = self.policies_ix.get(&p.name.name) else {
            return;
        };
        // Name -> first declaration; a map keeps big policies linear.
        let mut seen: std::collections::BTreeMap<&str, Span> = std::collections::BTreeMap::new();
        let mut unconditional: Option<Span> = None;
        let mut rules = Vec::new();
        for r in &p.rules {
            if let Some(first) = seen.get(r.name.name.as_str()).copied() {
                self.err(
                    Diagnostic::new("E0013", r.name.span, format!("rule `{}` is declared twice in `{}`", r.name.name, p.name.name))
                        .label("second rule with this name")
                        .secondary(first, "first declared here")
                        .help("rule names must be unique in their policy: they name the rule in counters and tests"),
                );
            }
            seen.entry(&r.name.name).or_insert(r.name.span);
            if let Some(at) = unconditional {
                self.err(
                    Diagnostic::new(
                        "W0004",
                        r.name.span,
                        format!("rule `{}` can never be reached", r.name.name),
                    )
                    .label("an earlier rule decides every packet")
                    .secondary(at, "this rule matches everything and decides"),
                );
            }
            let pred = match &r.pred {
                Some(pr) => self.pred(module, pr),
                None => Some(Pred::True),
            };
            if let Some(pr) = &pred {
                if let Some(span) = r.pred.as_ref().map(ast::Pred::span) {
                    if families_conflict(pr) {
                        self.err(
                            Diagnostic::new(
                                "W0001",
                                span,
                                format!("rule `{}` can never match", r.name.name),
                            )
                            .label("this requires both an IPv4 and an IPv6 address")
                            .help("split it into one rule per address family"),
                        );
                    }
                }
            }
            let (steps, end) = self.actions(module, &r.actions, r.span);
            if r.pred.is_none() && matches!(end, End::Verdict(_)) && unconditional.is_none() {
                unconditional = Some(r.name.span);
            }
            if let Some(pred) = pred {
                rules.push(hir::Rule {
                    name: r.name.name.clone(),
                    pred,
                    steps,
                    end,
                    span: r.name.span,
                });
            }
        }
        self.hir.policies[pix].rules = rules;
        self.hir.policies[pix].default = p.default.as_ref().map(|d| match d.verdict {
            ast::Verdict::Accept => Verdict::Accept,
            ast::Verdict::Drop => Verdict::Drop,
        });
    }

    fn pred(&mut self, module: usize, p: &ast::Pred) -> Option<Pred> {
        Some(match p {
            ast::Pred::Or(a, b, _) => Pred::Or(vec![self.pred(module, a)?, self.pred(module, b)?]),
            ast::Pred::And(a, b, _) => {
                let (a, b) = (self.pred(module, a), self.pred(module, b));
                Pred::And(vec![a?, b?])
            }
            ast::Pred::Not(a, _) => Pred::Not(Box::new(self.pred(module, a)?)),
            ast::Pred::Paren(a, _) => self.pred(module, a)?,
            ast::Pred::Test(t) => self.test(module, t)?,
        })
    }

    fn test(&mut self, module: usize, t: &ast::Test) -> Option<Pred> {
        let path = t.field.dotted();
        let Some(resolved) = fields::resolve(&path) else {
            self.unknown_field(&t.field);
            return None;
        };
        if path.starts_with("ct.") {
            self.uses_ct = true;
        }
        let (field, ty) = match resolved {
            Resolved::Header(h) => {
                if !matches!(t.op, TestOp::Bare) {
                    self.err(
                        Diagnostic::new(
                            "E0030",
                            t.field.span,
                            format!("`{path}` is a header, not a field"),
                        )
                        .label("a header can only be tested for presence")
                        .help(format!(
                            "write `{path}` alone, or test one of its fields like `{path}.…`"
                        )),
                    );
                    return None;
                }
                return Some(Pred::Present(h));
            }
            Resolved::Field(f, ty) => (f, ty),
        };
        let int_only = |op: &TestOp| {
            matches!(
                op,
                TestOp::Lt(_) | TestOp::Le(_) | TestOp::Gt(_) | TestOp::Ge(_)
            )
        };
        if int_only(&t.op) && !matches!(ty, Ty::Int(_)) {
            self.err(
                Diagnostic::new("E0030", t.span, format!("`{path}` cannot be ordered"))
                    .label(format!(
                        "`<`, `<=`, `>`, `>=` need an integer field; this is {}",
                        ty_name(ty)
                    ))
                    .help("use `==`, `!=` or `in`"),
            );
            return None;
        }
        let cmp = |c: CmpOp, v: &ast::Value, me: &mut Self| -> Option<Pred> {
            let elem = me.one(module, ty, v)?;
            Some(me.cmp_pred(field, c, elem))
        };
        match &t.op {
            TestOp::Bare => {
                self.err(
                    Diagnostic::new("E0030", t.field.span, format!("`{path}` is not a boolean"))
                        .label("a bare test needs a header or a boolean field")
                        .help(format!("compare it: `{path} == …`")),
                );
                None
            }
            TestOp::Eq(v) => cmp(CmpOp::Eq, v, self),
            TestOp::Ne(v) => cmp(CmpOp::Ne, v, self),
            TestOp::Lt(v) => cmp(CmpOp::Lt, v, self),
            TestOp::Le(v) => cmp(CmpOp::Le, v, self),
            TestOp::Gt(v) => cmp(CmpOp::Gt, v, self),
            TestOp::Ge(v) => cmp(CmpOp::Ge, v, self),
            TestOp::In(s) | TestOp::NotIn(s) => {
                let negated = matches!(t.op, TestOp::NotIn(_));
                let p = match s {
                    ast::SetExpr::Name(n) => {
                        let r = match self.lookup(module, &n.name) {
                            Some(r) => r,
                            None => {
                                self.unknown_name(module, &n.name, n.span, "set");
                                return None;
                            }
                        };
                        let ix = match self.item(r) {
                            ast::Item::Set(_) => self.set_index(r),
                            _ => {
                                self.err(
                                    Diagnostic::new(
                                        "E0015",
                                        n.span,
                                        format!("`{}` is not a set", n.name),
                                    )
                                    .label("expected a set"),
                                );
                                None
                            }
                        }?;
                        let set_ty = self.hir.sets[ix].ty;
                        if set_ty != ty {
                            self.err(
                                Diagnostic::new(
                                    "E0015",
                                    n.span,
                                    format!(
                                        "set `{}` holds {}, but `{path}` is {}",
                                        n.name,
                                        ty_name(set_ty),
                                        ty_name(ty)
                                    ),
                                )
                                .label("wrong set type"),
                            );
                            return None;
                        }
                        if self.hir.sets[ix].is_const {
                            Pred::InElems {
                                field,
                                elems: self.hir.sets[ix].elems.clone(),
                            }
                        } else {
                            Pred::InSet { field, set: ix }
                        }
                    }
                    ast::SetExpr::Literal(vals, _) => {
                        let mut elems = Vec::new();
                        for v in vals {
                            elems.extend(self.elems(module, ty, v, true)?);
                        }
                        Pred::InElems { field, elems }
                    }
                };
                Some(if negated { not_in(field, p) } else { p })
            }
            TestOp::Has(v) => {
                if ty != Ty::Flags {
                    self.err(
                        Diagnostic::new(
                            "E0030",
                            t.span,
                            format!("`has` needs TCP flags; `{path}` is {}", ty_name(ty)),
                        )
                        .label("not flags"),
                    );
                    return None;
                }
                let Elem::Int(bits, _) = self.one(module, ty, v)? else {
                    return None;
                };
                Some(Pred::Masked {
                    field: concrete(field),
                    mask: bits,
                    value: bits,
                })
            }
            TestOp::MaskEq { mask, value } => {
                if !matches!(ty, Ty::Flags | Ty::Int(_)) {
                    self.err(
                        Diagnostic::new(
                            "E0030",
                            t.span,
                            format!(
                                "`&` needs an integer or flags field; `{path}` is {}",
                                ty_name(ty)
                            ),
                        )
                        .label("cannot be masked"),
                    );
                    return None;
                }
                let Elem::Int(m, _) = self.one(module, ty, mask)? else {
                    return None;
                };
                let Elem::Int(val, _) = self.one(module, ty, value)? else {
                    return None;
                };
                if val & !m != 0 {
                    self.err(
                        Diagnostic::new("W0006", value.span, "this test can never hold")
                            .label("the value has bits outside the mask")
                            .help("every bit of the value must also be in the mask"),
                    );
                }
                Some(Pred::Masked {
                    field: concrete(field),
                    mask: m,
                    value: val,
                })
            }
        }
    }

    /// `field OP elem`; for TCP flags, `==` means "exactly these among SYN,
    /// ACK, FIN and RST".
    fn cmp_pred(&mut self, field: LogicalField, op: CmpOp, elem: Elem) -> Pred {
        let single = |f: FieldRef, lo: u128, hi: u128| -> Pred {
            if lo == hi {
                Pred::Cmp {
                    field: f,
                    op,
                    value: lo,
                }
            } else {
                let p = Pred::InElems {
                    field: LogicalField::Field(f),
                    elems: vec![Elem::Int(lo, hi)],
                };
                match op {
                    CmpOp::Ne => not_in(LogicalField::Field(f), p),
                    _ => p,
                }
            }
        };
        match (field, elem) {
            (LogicalField::Ip { v4, .. }, Elem::V4(a, b)) => single(v4, a.into(), b.into()),
            (LogicalField::Ip { v6, .. }, Elem::V6(a, b)) => single(v6, a, b),
            (LogicalField::IcmpType(f), Elem::IcmpType { .. }) => {
                let p = Pred::InElems {
                    field: LogicalField::IcmpType(f),
                    elems: vec![elem],
                };
                if op == CmpOp::Ne {
                    not_in(LogicalField::IcmpType(f), p)
                } else {
                    p
                }
            }
            (LogicalField::Field(f), Elem::Int(a, b))
                if f.field == Field::TcpFlags && op == CmpOp::Eq && a == b =>
            {
                Pred::Masked {
                    field: f,
                    mask: 0x17,
                    value: a & 0x17,
                }
            }
            (LogicalField::Field(f) | LogicalField::IcmpType(f), Elem::Int(a, b)) => {
                single(f, a, b)
            }
            (f, _) => Pred::InElems {
                field: f,
                elems: vec![elem],
            },
        }
    }

    fn actions(
        &mut self,
        module: usize,
        actions: &[ast::Action],
        rule_span: Span,
    ) -> (Vec<Step>, End) {
        let mut steps = Vec::new();
        let mut end = End::Continue;
        let mut terminal_at: Option<Span> = None;
        for a in actions {
            if let Some(t) = terminal_at {
                let code = if is_terminal(&a.kind) {
                    "E0020"
                } else {
                    "E0019"
                };
                let msg = if code == "E0020" {
                    "two terminal actions in one rule"
                } else {
                    "an action after a terminal action"
                };
                self.err(
                    Diagnostic::new(code, a.span, msg)
                        .label("never runs")
                        .secondary(t, "the rule's verdict is decided here")
                        .help("a terminal action (accept, drop, reject, forward, jump) must come last, and only once"),
                );
                continue;
            }
            match &a.kind {
                ActionKind::Accept => end = End::Verdict(Verdict::Accept),
                ActionKind::Drop => end = End::Verdict(Verdict::Drop),
                ActionKind::Reject => end = End::Verdict(Verdict::Reject),
                ActionKind::Forward(p) => {
                    if let Some(ix) = self.port(p) {
                        end = End::Verdict(Verdict::Forward(ix));
                    }
                }
                ActionKind::Jump(p) => match self.policies_ix.get(&p.name) {
                    Some(&ix) => end = End::Jump(ix),
                    None => self.unknown_name(module, &p.name, p.span, "policy"),
                },
                other => {
                    if let Some(s) = self.step(module, other, a.span, false) {
                        steps.push(s);
                    }
                }
            }
            if is_terminal(&a.kind) {
                terminal_at = Some(a.span);
            }
        }
        let _ = rule_span;
        (steps, end)
    }

    fn step(&mut self, module: usize, a: &ActionKind, span: Span, in_arm: bool) -> Option<Step> {
        Some(match a {
            ActionKind::Count(None) => return None,
            ActionKind::Count(Some(n)) => match self.counters_ix.get(&n.name).copied() {
                Some(c) => {
                    self.mark_used(module, &n.name);
                    Step::Count(c)
                }
                None => {
                    self.unknown_name(module, &n.name, n.span, "counter");
                    return None;
                }
            },
            ActionKind::Mirror(p) => Step::Mirror(self.port(p)?),
            ActionKind::NoTrack => Step::NoTrack,
            ActionKind::Log { prefix, sample } => {
                let sample = match sample {
                    Some((n, m)) => {
                        let n = self.scalar_int(module, n, 32, "a number")?;
                        let m = self.scalar_int(module, m, 32, "a number")?;
                        if n == 0 || n > m {
                            self.err(
                                Diagnostic::new("E0014", span, "`sample N/M` needs 0 < N <= M")
                                    .label("bad sample rate"),
                            );
                            return None;
                        }
                        Some((n as u32, m as u32))
                    }
                    None => None,
                };
                Step::Log {
                    prefix: prefix.as_ref().map(|p| p.value.clone()),
                    sample,
                }
            }
            ActionKind::Set { field, value } => {
                let path = field.dotted();
                let Some(Resolved::Field(LogicalField::Field(fr), ty)) = fields::resolve(&path)
                else {
                    if fields::resolve(&path).is_none() {
                        self.unknown_field(field);
                    } else {
                        self.not_rewritable(field);
                    }
                    return None;
                };
                if !fr.field.rewritable() || fr.inner {
                    self.not_rewritable(field);
                    return None;
                }
                if path.starts_with("ct.") {
                    self.uses_ct = true;
                }
                match self.one(module, ty, value)? {
                    Elem::Int(v, w) if v == w => Step::Set {
                        field: fr,
                        value: v,
                    },
                    _ => {
                        self.err(
                            Diagnostic::new("E0015", value.span, "a rewrite needs one value")
                                .label("not a single value"),
                        );
                        return None;
                    }
                }
            }
            ActionKind::Meter { name, arms } => {
                let Some(&mix) = self.meters_ix.get(&name.name) else {
                    self.unknown_name(module, &name.name, name.span, "meter");
                    return None;
                };
                self.mark_used(module, &name.name);
                if in_arm {
                    self.err(
                        Diagnostic::new("E0025", span, "a meter inside a colour arm")
                            .label("arms cannot meter again"),
                    );
                    return None;
                }
                let single_rate = matches!(
                    self.hir.meters.get(mix).map(|m| m.kind),
                    Some(hir::MeterKind::TokenBucket { .. })
                );
                let mut out: [hir::Arm; 3] = [
                    hir::Arm {
                        steps: Vec::new(),
                        verdict: None,
                    },
                    hir::Arm {
                        steps: Vec::new(),
                        verdict: None,
                    },
                    hir::Arm {
                        steps: Vec::new(),
                        verdict: Some(Verdict::Drop),
                    },
                ];
                let mut seen: Vec<(usize, Span)> = Vec::new();
                for arm in arms.iter().flatten() {
                    let ci = match arm.color.name.as_str() {
                        "green" => 0,
                        "yellow" => 1,
                        "red" => 2,
                        other => {
                            let mut d = Diagnostic::new(
                                "E0025",
                                arm.color.span,
                                format!("unknown colour `{other}`"),
                            )
                            .label("expected green, yellow or red");
                            if let Some(s) = suggest(other, ["green", "yellow", "red"].into_iter())
                            {
                                d = d.help(format!("did you mean `{s}`?"));
                            }
                            self.err(d);
                            continue;
                        }
                    };
                    if ci == 1 && single_rate {
                        self.err(
                            Diagnostic::new(
                                "E0025",
                                arm.color.span,
                                format!("meter `{}` never colours yellow", name.name),
                            )
                            .label("a `rate ... burst ...` meter is green or red")
                            .help("use `srtcm` or `trtcm` for three colours"),
                        );
                        continue;
                    }
                    if let Some((_, first)) = seen.iter().find(|(c, _)| *c == ci) {
                        let first = *first;
                        self.err(
                            Diagnostic::new(
                                "E0025",
                                arm.color.span,
                                format!("two `{}` arms", arm.color.name),
                            )
                            .label("second arm")
                            .secondary(first, "first arm"),
                        );
                        continue;
                    }
                    seen.push((ci, arm.color.span));
                    out[ci] = self.arm(module, arm);
                }
                Step::Meter {
                    meter: mix,
                    arms: Box::new(out),
                }
            }
            ActionKind::Continue => {
                self.err(
                    Diagnostic::new("E0025", span, "`continue` outside a colour arm")
                        .label("only meter arms can continue")
                        .help("a rule without a verdict already continues with the next rule"),
                );
                return None;
            }
            ActionKind::Accept
            | ActionKind::Drop
            | ActionKind::Reject
            | ActionKind::Forward(_)
            | ActionKind::Jump(_) => return None,
        })
    }

    fn arm(&mut self, module: usize, arm: &ast::ColorArm) -> hir::Arm {
        let mut out = hir::Arm {
            steps: Vec::new(),
            verdict: None,
        };
        let mut terminal_at: Option<Span> = None;
        for a in &arm.actions {
            if let Some(t) = terminal_at {
                self.err(
                    Diagnostic::new("E0025", a.span, "an action after the arm's verdict")
                        .label("never runs")
                        .secondary(t, "the arm decides here"),
                );
                continue;
            }
            match &a.kind {
                ActionKind::Continue => terminal_at = Some(a.span),
                ActionKind::Accept => out.verdict = Some(Verdict::Accept),
                ActionKind::Drop => out.verdict = Some(Verdict::Drop),
                ActionKind::Forward(p) => out.verdict = self.port(p).map(Verdict::Forward),
                ActionKind::Reject | ActionKind::Jump(_) => {
                    self.err(
                        Diagnostic::new("E0025", a.span, "colour arms cannot reject or jump")
                            .label("not allowed in an arm")
                            .help("an arm is `continue`, `accept`, `drop`, `forward PORT`, `set ...` or `count ...`"),
                    );
                }
                other => {
                    if let Some(s) = self.step(module, other, a.span, true) {
                        out.steps.push(s);
                    }
                }
            }
            if matches!(
                a.kind,
                ActionKind::Accept | ActionKind::Drop | ActionKind::Forward(_)
            ) {
                terminal_at = Some(a.span);
            }
        }
        out
    }

    fn not_rewritable(&mut self, field: &ast::FieldPath) {
        self.err(
            Diagnostic::new(
                "E0028",
                field.span,
                format!("`{}` cannot be rewritten", field.dotted()),
            )
            .label("not a rewritable field")
            .help("`set` rewrites ip.dscp, ip.ecn, vlan.pcp, meta.mark and ct.mark"),
        );
    }

    fn mark_used(&mut self, module: usize, name: &str) {
        let _ = self.lookup(module, name);
    }

    pub(super) fn port(&mut self, p: &ast::Ident) -> Option<hir::PortIx> {
        match self.ports_ix.get(&p.name) {
            Some(ix) => Some(*ix),
            None => {
                self.unknown_name(0, &p.name, p.span, "port");
                None
            }
        }
    }

    pub(super) fn check_pipeline(&mut self, module: usize, pipelines: &[&ast::PipelineDecl]) {
        if let Some(first) = pipelines.first() {
            for dup in &pipelines[1..] {
                self.err(
                    Diagnostic::new("E0026", dup.span, "a second `pipeline` block")
                        .label("only one is allowed")
                        .secondary(first.span, "the first one"),
                );
            }
            let mut lines: Vec<hir::Line> = Vec::new();
            let mut seen: Vec<(usize, Span)> = Vec::new();
            for l in &first.lines {
                let from = self.port(&l.from);
                let to = self.port(&l.to);
                let via = match &l.via {
                    Some(p) => match self.policies_ix.get(&p.name) {
                        Some(ix) => Some(Some(*ix)),
                        None => {
                            self.unknown_name(module, &p.name, p.span, "policy");
                            None
                        }
                    },
                    None => Some(None),
                };
                let (Some(from), Some(to), Some(via)) = (from, to, via) else {
                    continue;
                };
                if let Some((_, span)) = seen.iter().find(|(f, _)| *f == from) {
                    let span = *span;
                    self.err(
                        Diagnostic::new(
                            "E0026",
                            l.from.span,
                            format!("port `{}` has two pipeline lines", l.from.name),
                        )
                        .label("second line")
                        .secondary(span, "first line")
                        .help("a port's packets go through one policy; use `jump` to share rules"),
                    );
                    continue;
                }
                seen.push((from, l.from.span));
                lines.push(hir::Line { from, to, via });
            }
            for l in &lines {
                if let Some(p) = l.via {
                    self.require_default(p);
                }
            }
            self.hir.pipeline = Some(lines);
        } else if self.hir.policies.len() == 1 {
            self.require_default(0);
        } else if self.hir.policies.len() > 1 {
            let span = self.hir.policies[1].span;
            self.err(
                Diagnostic::new("E0026", span, "several policies but no `pipeline`")
                    .label("which packets does this policy see?")
                    .help("add `pipeline { PORT -> PORT via POLICY; }`, or keep one policy"),
            );
        }
    }

    fn require_default(&mut self, p: hir::PolicyIx) {
        if self.hir.policies[p].default.is_none() {
            let pol = &self.hir.policies[p];
            let d = Diagnostic::new(
                "E0016",
                pol.span,
                format!("policy `{}` has no `default`", pol.name),
            )
            .label("bound in the pipeline, so it must decide every packet")
            .help("add `default drop;` (or `default accept;`) as its last line");
            self.err(d);
        }
    }

    /// Jumped-to policies have no default; jumps form no cycle.
    pub(super) fn check_jumps(&mut self) {
        let n = self.hir.policies.len();
        let mut edges: Vec<Vec<(usize, Span)>> = vec![Vec::new(); n];
        for (i, p) in self.hir.policies.iter().enumerate() {
            for r in &p.rules {
                if let End::Jump(t) = r.end {
                    edges[i].push((t, r.span));
                }
            }
        }
        let bound: Vec<usize> = match &self.hir.pipeline {
            Some(lines) => lines.iter().filter_map(|l| l.via).collect(),
            None => (0..n.min(1)).collect(),
        };
        for (i, es) in edges.iter().enumerate() {
            for (t, span) in es {
                if self.hir.policies[*t].default.is_some() && !bound.contains(t) {
                    let p = &self.hir.policies[*t];
                    let d = Diagnostic::new(
                        "E0017",
                        p.span,
                        format!("policy `{}` is jumped to but has a `default`", p.name),
                    )
                    .label("reaching its end must return to the caller")
                    .secondary(*span, "jumped to here")
                    .help("remove its `default` line");
                    self.err(d);
                }
                let _ = i;
            }
        }
        // Depth-first search for a cycle.
        let mut state = vec![0u8; n];
        let mut stack: Vec<usize> = Vec::new();
        for start in 0..n {
            if let Some((cycle, span)) = find_cycle(start, &edges, &mut state, &mut stack) {
                let names: Vec<&str> = cycle
                    .iter()
                    .map(|i| self.hir.policies[*i].name.as_str())
                    .collect();
                let d = Diagnostic::new("E0018", span, "`jump` cycle")
                    .label(format!("this jump closes the cycle {}", names.join(" -> ")))
                    .help("a policy may not jump, directly or not, to itself");
                self.err(d);
                return;
            }
        }
    }
}

fn find_cycle(
    v: usize,
    edges: &[Vec<(usize, Span)>],
    state: &mut [u8],
    stack: &mut Vec<usize>,
) -> Option<(Vec<usize>, Span)> {
    if state[v] == 2 {
        return None;
    }
    state[v] = 1;
    stack.push(v);
    for (t, span) in &edges[v] {
        if state[*t] == 1 {
            let pos = stack.iter().position(|x| x == t).unwrap_or(0);
            let mut cycle = stack[pos..].to_vec();
            cycle.push(*t);
            return Some((cycle, *span));
        }
        if let Some(c) = find_cycle(*t, edges, state, stack) {
            return Some(c);
        }
    }
    stack.pop();
    state[v] = 2;
    None
}

fn is_terminal(a: &ActionKind) -> bool {
    matches!(
        a,
        ActionKind::Accept
            | ActionKind::Drop
            | ActionKind::Reject
            | ActionKind::Forward(_)
            | ActionKind::Jump(_)
    )
}

/// `field not in S`: the header is present and the value is not a member.
fn not_in(field: LogicalField, member: Pred) -> Pred {
    // An inline address list implies the families of its members, as a
    // literal does (§4.1): `ip.dst not in { 2001:db8::/32 }` is false for
    // IPv4. A named set may gain either family at run time, so it does not.
    if let (LogicalField::Ip { v4, v6 }, Pred::InElems { elems, .. }) = (field, &member) {
        let family = |want_v4: bool| -> Vec<Elem> {
            elems
                .iter()
                .copied()
                .filter(|e| matches!(e, Elem::V4(..)) == want_v4)
                .collect()
        };
        let parts: Vec<Pred> = [(true, v4, Header::Ipv4), (false, v6, Header::Ipv6)]
            .into_iter()
            .filter_map(|(want_v4, f, h)| {
                let members = family(want_v4);
                (!members.is_empty()).then(|| {
                    Pred::And(vec![
                        Pred::Present(FieldRef {
                            inner: f.inner,
                            field: Field::Valid(h),
                        }),
                        Pred::Not(Box::new(Pred::InElems {
                            field,
                            elems: members,
                        })),
                    ])
                })
            })
            .collect();
        if !parts.is_empty() {
            return Pred::Or(parts);
        }
    }
    let presence = match field {
        LogicalField::Field(f) | LogicalField::IcmpType(f) => f.presence(),
        LogicalField::Ip { v4, .. } => Some(FieldRef {
            inner: v4.inner,
            field: Field::Valid(Header::Ip),
        }),
    };
    match presence {
        Some(p) => Pred::And(vec![Pred::Present(p), Pred::Not(Box::new(member))]),
        None => Pred::Not(Box::new(member)),
    }
}

fn concrete(f: LogicalField) -> FieldRef {
    match f {
        LogicalField::Field(f) | LogicalField::IcmpType(f) => f,
        LogicalField::Ip { v4, .. } => v4,
    }
}

/// Whether an `and` requires both an IPv4 and an IPv6 address.
fn families_conflict(p: &Pred) -> bool {
    fn family(p: &Pred) -> Option<bool> {
        match p {
            Pred::Cmp { field, .. } => match field.field {
                Field::Ip4Src | Field::Ip4Dst => Some(false),
                Field::Ip6Src | Field::Ip6Dst => Some(true),
                _ => None,
            },
            Pred::InElems {
                field: LogicalField::Ip { .. },
                elems,
            } => {
                let v4 = elems.iter().all(|e| matches!(e, Elem::V4(..)));
                let v6 = elems.iter().all(|e| matches!(e, Elem::V6(..)));
                match (v4, v6) {
                    (true, false) => Some(false),
                    (false, true) => Some(true),
                    _ => None,
                }
            }
            _ => None,
        }
    }
    match p {
        Pred::And(parts) => {
            let fams: Vec<bool> = parts.iter().filter_map(family).collect();
            (fams.contains(&true) && fams.contains(&false)) || parts.iter().any(families_conflict)
        }
        Pred::Or(parts) => parts.iter().all(families_conflict),
        _ => false,
    }
}

/// A meter rate or size in base units: packets, bits per second, or bytes.
fn meter_quantity(v: &ast::Value, is_rate: bool) -> Option<(u64, hir::MeterUnit)> {
    use hir::MeterUnit::{Bytes, Packets};
    let (n, unit) = match (&v.kind, is_rate) {
        (ValueKind::Rate(n, u), true) | (ValueKind::Size(n, u), false) => (*n, u.as_str()),
        _ => return None,
    };
    let (mult, kind): (u64, _) = match unit {
        "pps" | "packets" => (1, Packets),
        "kpps" => (1_000, Packets),
        "Mpps" => (1_000_000, Packets),
        "bps" | "B" => (1, Bytes),
        "kbps" | "KB" => (1_000, Bytes),
        "Mbps" | "MB" => (1_000_000, Bytes),
        "Gbps" | "GB" => (1_000_000_000, Bytes),
        "KiB" => (1 << 10, Bytes),
        "MiB" => (1 << 20, Bytes),
        "GiB" => (1 << 30, Bytes),
        _ => return None,
    };
    Some((n.checked_mul(mult)?, kind))
}
