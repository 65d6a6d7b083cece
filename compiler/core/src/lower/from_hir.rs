//! From the checked program to the IR: predicates to [`Dnf`]s, actions,
//! stateful objects, the pipeline, and the inline tests.

use super::build::{BuildError, Builder, PipelineIn, PolicyIn, RuleIn};
use super::dnf::{Dnf, TooComplex, Values};
use crate::check::hir::{self, CmpOp, Elem, LogicalField, Pred};
use crate::diag::Diagnostic;
use crate::span::{SourceMap, Span};
use dpuc_ir::test as t;
use dpuc_ir::{Field, FieldRef, Header, KeySource};

/// Why a rule could not be lowered.
pub(super) struct RuleError {
    pub(super) span: Span,
    pub(super) message: String,
}

fn presence(f: FieldRef) -> Dnf {
    match f.presence() {
        Some(p) => Dnf::atom(KeySource::Field(p), Values::single(1, 1)),
        None => Dnf::truth(),
    }
}

fn valid(inner: bool, h: Header) -> Dnf {
    Dnf::atom(
        KeySource::Field(FieldRef {
            inner,
            field: Field::Valid(h),
        }),
        Values::single(1, 1),
    )
}

fn field_in(f: FieldRef, values: Values) -> Result<Dnf, TooComplex> {
    presence(f).and(Dnf::atom(KeySource::Field(f), values))
}

/// Lowers one predicate.
pub(super) fn pred(b: &mut Builder, p: &Pred) -> Result<Dnf, TooComplex> {
    Ok(match p {
        Pred::True => Dnf::truth(),
        Pred::And(ps) => {
            let mut acc = Dnf::truth();
            for x in ps {
                acc = acc.and(pred(b, x)?)?;
            }
            acc
        }
        Pred::Or(ps) => {
            let mut acc = Dnf::falsity();
            for x in ps {
                acc = acc.or(pred(b, x)?)?;
            }
            acc
        }
        Pred::Not(x) => pred(b, x)?.negate()?,
        Pred::Present(f) => Dnf::atom(KeySource::Field(*f), Values::single(1, 1)),
        Pred::Cmp { field, op, value } => {
            let max = field.field.max_value();
            let v = *value;
            let vals = match op {
                CmpOp::Eq => Values::single(max, v),
                CmpOp::Ne => Values::single(max, v).complement(),
                CmpOp::Lt if v == 0 => Values::empty(max),
                CmpOp::Lt => Values::from_intervals(max, [(0, v - 1)]),
                CmpOp::Le => Values::from_intervals(max, [(0, v)]),
                CmpOp::Gt if v >= max => Values::empty(max),
                CmpOp::Gt => Values::from_intervals(max, [(v + 1, max)]),
                CmpOp::Ge => Values::from_intervals(max, [(v, max)]),
            };
            field_in(*field, vals)?
        }
        Pred::Masked { field, mask, value } => {
            field_in(*field, masked(field.field, *mask, *value)?)?
        }
        Pred::InElems { field, elems } => in_elems(*field, elems)?,
        Pred::InSet { field, set } => match field {
            LogicalField::Field(f) | LogicalField::IcmpType(f) => {
                let hit = b.hit(*set as u32, *f);
                presence(*f).and(Dnf::atom(KeySource::Hit(hit), Values::single(1, 1)))?
            }
            LogicalField::Ip { v4, v6 } => {
                let h4 = b.hit(*set as u32, *v4);
                let h6 = b.hit(*set as u32, *v6);
                let a = valid(v4.inner, Header::Ipv4)
                    .and(Dnf::atom(KeySource::Hit(h4), Values::single(1, 1)))?;
                let c = valid(v6.inner, Header::Ipv6)
                    .and(Dnf::atom(KeySource::Hit(h6), Values::single(1, 1)))?;
                a.or(c)?
            }
        },
    })
}

/// `{x : x & mask == value}` as intervals: exact for narrow fields and for
/// prefix masks; wider arbitrary masks are refused.
fn masked(field: Field, mask: u128, value: u128) -> Result<Values, TooComplex> {
    let max = field.max_value();
    let w = field.width();
    if w <= 16 {
        return Ok(Values::from_intervals(
            max,
            (0..=max).filter(|x| x & mask == value).map(|x| (x, x)),
        ));
    }
    let len = mask.leading_zeros().saturating_sub(128 - w);
    if len == 0 && dpuc_ir::prefix_mask(w, mask.count_ones()) == mask {
        let lo = value & mask;
        return Ok(Values::from_intervals(max, [(lo, lo | (max & !mask))]));
    }
    Err(TooComplex)
}

fn in_elems(field: LogicalField, elems: &[Elem]) -> Result<Dnf, TooComplex> {
    match field {
        LogicalField::Field(f) => {
            let max = f.field.max_value();
            let ivs = elems.iter().filter_map(|e| match e {
                Elem::Int(a, b) => Some((*a, *b)),
                _ => None,
            });
            field_in(f, Values::from_intervals(max, ivs))
        }
        LogicalField::Ip { v4, v6 } => {
            let v4s: Vec<(u128, u128)> = elems
                .iter()
                .filter_map(|e| match e {
                    Elem::V4(a, b) => Some((u128::from(*a), u128::from(*b))),
                    _ => None,
                })
                .collect();
            let v6s: Vec<(u128, u128)> = elems
                .iter()
                .filter_map(|e| match e {
                    Elem::V6(a, b) => Some((*a, *b)),
                    _ => None,
                })
                .collect();
            let mut d = Dnf::falsity();
            if !v4s.is_empty() {
                d = d.or(field_in(
                    v4,
                    Values::from_intervals(u128::from(u32::MAX), v4s),
                )?)?;
            }
            if !v6s.is_empty() {
                d = d.or(field_in(v6, Values::from_intervals(u128::MAX, v6s))?)?;
            }
            Ok(d)
        }
        LogicalField::IcmpType(f) => {
            let mut d = Dnf::falsity();
            for e in elems {
                let part = match e {
                    Elem::Int(a, b) => field_in(f, Values::from_intervals(255, [(*a, *b)]))?,
                    Elem::IcmpType { v4, v6 } => {
                        let mut p = Dnf::falsity();
                        for (h, n) in [(Header::Icmpv4, v4), (Header::Icmpv6, v6)] {
                            if let Some(n) = n {
                                let one = valid(f.inner, h).and(Dnf::atom(
                                    KeySource::Field(f),
                                    Values::single(255, u128::from(*n)),
                                ))?;
                                p = p.or(one)?;
                            }
                        }
                        p
                    }
                    _ => Dnf::falsity(),
                };
                d = d.or(part)?;
            }
            Ok(d)
        }
    }
}

pub(super) fn verdict(v: hir::Verdict) -> dpuc_ir::Terminal {
    match v {
        hir::Verdict::Accept => dpuc_ir::Terminal::Accept,
        hir::Verdict::Drop => dpuc_ir::Terminal::Drop,
        hir::Verdict::Reject => dpuc_ir::Terminal::Reject,
        hir::Verdict::Forward(p) => dpuc_ir::Terminal::Forward(p as u32),
    }
}

pub(super) fn steps(s: &[hir::Step]) -> Vec<dpuc_ir::Step> {
    s.iter()
        .map(|x| match x {
            hir::Step::Count(c) => dpuc_ir::Step::Count(*c as u32),
            hir::Step::Meter { meter, arms } => dpuc_ir::Step::Meter {
                meter: *meter as u32,
                arms: Box::new([arm(&arms[0]), arm(&arms[1]), arm(&arms[2])]),
            },
            hir::Step::Set { field, value } => dpuc_ir::Step::Set {
                field: *field,
                value: *value,
            },
            hir::Step::Mirror(p) => dpuc_ir::Step::Mirror(*p as u32),
            hir::Step::Log { prefix, sample } => dpuc_ir::Step::Log {
                prefix: prefix.clone(),
                sample: *sample,
            },
            hir::Step::NoTrack => dpuc_ir::Step::NoTrack,
        })
        .collect()
}

fn arm(a: &hir::Arm) -> dpuc_ir::Arm {
    dpuc_ir::Arm {
        steps: steps(&a.steps),
        terminal: a.verdict.map(verdict),
    }
}

/// The policies as builder input; a rule that cannot be lowered is an error.
pub(super) fn policies(
    b: &mut Builder,
    p: &hir::Program,
    sources: &SourceMap,
) -> Result<Vec<PolicyIn>, Vec<RuleError>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    // Line tables per file, so numbering every rule stays linear.
    let mut lines: std::collections::BTreeMap<crate::span::FileId, Vec<usize>> =
        std::collections::BTreeMap::new();
    for pol in &p.policies {
        let mut rules = Vec::new();
        for r in &pol.rules {
            let dnf = match pred(b, &r.pred) {
                Ok(d) => d,
                Err(TooComplex) => {
                    errors.push(RuleError {
                        span: r.span,
                        message: format!(
                            "rule `{}` is too complex to lower to table entries",
                            r.name
                        ),
                    });
                    Dnf::falsity()
                }
            };
            let end = match r.end {
                hir::End::Continue => dpuc_ir::End::Continue,
                hir::End::Verdict(v) => dpuc_ir::End::Terminal(verdict(v)),
                hir::End::Jump(q) => dpuc_ir::End::Jump(q as u32),
            };
            rules.push(RuleIn {
                name: r.name.clone(),
                line: crate::span::line_of(
                    lines
                        .entry(r.span.file)
                        .or_insert_with(|| sources.get(r.span.file).line_starts()),
                    r.span.start,
                ) as u32,
                dnf,
                actions: dpuc_ir::Actions {
                    steps: steps(&r.steps),
                    end,
                },
            });
        }
        out.push(PolicyIn {
            name: pol.name.clone(),
            default: pol.default.map(verdict),
            rules,
        });
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// The pipeline as builder input.
pub(super) fn pipeline(p: &hir::Program) -> PipelineIn {
    match &p.pipeline {
        Some(lines) => PipelineIn::Lines(
            lines
                .iter()
                .map(|l| (l.from as u32, l.to as u32, l.via.map(|v| v as u32)))
                .collect(),
        ),
        // A library (no policy) processes nothing: every port drops.
        None if p.policies.is_empty() => PipelineIn::Lines(Vec::new()),
        None => PipelineIn::Single(0),
    }
}

/// A build error as a diagnostic on the rule.
pub(super) fn build_error(p: &hir::Program, e: BuildError) -> Diagnostic {
    match e {
        BuildError::TooManyEntries {
            policy,
            rule,
            entries,
        } => {
            let r = &p.policies[policy as usize].rules[rule];
            Diagnostic::new(
                "E0100",
                r.span,
                format!("rule `{}` needs {entries} table entries", r.name),
            )
            .label(format!(
                "more than the {} one rule may use",
                super::build::MAX_RULE_ENTRIES
            ))
            .help("use a named set instead of a long inline list, or split the rule")
        }
    }
}

fn src(span: Span) -> t::SourceRef {
    t::SourceRef {
        file: span.file.0,
        start: span.start,
        end: span.end,
    }
}

/// The tests as IR data; rule ids follow the builder's numbering (policies
/// in order, rules in order).
pub(super) fn suite(p: &hir::Program) -> t::Suite {
    let mut base = Vec::new();
    let mut n = 0u32;
    for pol in &p.policies {
        base.push(n);
        n += pol.rules.len() as u32;
    }
    let rule_id = |(pol, r): (usize, usize)| base[pol] + r as u32;
    let tests = p
        .tests
        .iter()
        .map(|test| t::Test {
            name: test.name.clone(),
            steps: test
                .steps
                .iter()
                .map(|s| match s {
                    hir::TestStep::Send {
                        packet,
                        on,
                        at_ns,
                        expect,
                        span,
                    } => t::Step::Send {
                        packet: packet.clone(),
                        port: on.map(|p| p as u32),
                        at_ns: *at_ns,
                        expect: t::Expect {
                            verdict: match expect.verdict {
                                hir::Verdict::Forward(p) => t::ExpectVerdict::Forward(p as u32),
                                hir::Verdict::Accept => t::ExpectVerdict::Accept,
                                hir::Verdict::Drop | hir::Verdict::Reject => t::ExpectVerdict::Drop,
                            },
                            by: expect.by.map(rule_id),
                            color: expect.color.map(|c| match c {
                                0 => t::Color::Green,
                                1 => t::Color::Yellow,
                                _ => t::Color::Red,
                            }),
                            dscp: expect.dscp,
                            mark: expect.mark,
                        },
                        at: src(*span),
                    },
                    hir::TestStep::After(ns) => t::Step::After(*ns),
                    hir::TestStep::ExpectCounter {
                        counter,
                        bytes,
                        value,
                        span,
                    } => t::Step::ExpectCounter {
                        counter: *counter as u32,
                        bytes: *bytes,
                        value: *value,
                        at: src(*span),
                    },
                    hir::TestStep::ExpectRuleHits {
                        policy,
                        rule,
                        value,
                        span,
                    } => t::Step::ExpectRuleHits {
                        rule: rule_id((*policy, *rule)),
                        value: *value,
                        at: src(*span),
                    },
                    hir::TestStep::ExpectConntrack { value, span } => t::Step::ExpectConntrack {
                        value: *value,
                        at: src(*span),
                    },
                })
                .collect(),
        })
        .collect();
    t::Suite { tests }
}
