//! Typing values: literals, constants, set names and symbolic constants
//! become typed intervals, range-checked against their field or set type.

use super::hir::{Elem, Ty};
use super::items::ty_name;
use super::symbols::{self, find};
use super::{Checker, ItemRef};
use crate::ast::{Item, Value, ValueKind};
use crate::diag::Diagnostic;

impl Checker {
    /// The elements `v` stands for, as values of type `ty`. Set names are
    /// allowed where `sets` is true (set elements, `in` lists).
    pub(super) fn elems(
        &mut self,
        module: usize,
        ty: Ty,
        v: &Value,
        sets: bool,
    ) -> Option<Vec<Elem>> {
        match &v.kind {
            ValueKind::Name(n) => self.name_elems(module, ty, v, n, sets),
            ValueKind::Range(lo, hi) => {
                let lo_e = self.one(module, ty, lo)?;
                let hi_e = self.one(module, ty, hi)?;
                let e = match (lo_e, hi_e) {
                    (Elem::V4(a, _), Elem::V4(_, b)) => Elem::V4(a, b),
                    (Elem::V6(a, _), Elem::V6(_, b)) => Elem::V6(a, b),
                    (Elem::Int(a, _), Elem::Int(_, b)) => Elem::Int(a, b),
                    _ => {
                        self.err(
                            Diagnostic::new(
                                "E0015",
                                v.span,
                                "the bounds of a range must be of one kind",
                            )
                            .label("mixed bounds"),
                        );
                        return None;
                    }
                };
                let inverted = match e {
                    Elem::V4(a, b) => a > b,
                    Elem::V6(a, b) => a > b,
                    Elem::Int(a, b) => a > b,
                    Elem::IcmpType { .. } => false,
                };
                if inverted {
                    self.err(
                        Diagnostic::new("E0004", v.span, "range bounds are inverted")
                            .label("the low bound is greater than the high bound"),
                    );
                    return None;
                }
                Some(vec![e])
            }
            ValueKind::Flags(parts) if ty == Ty::Flags => {
                let mut bits = 0u128;
                for p in parts {
                    match self.one(module, ty, p)? {
                        Elem::Int(b, _) => bits |= b,
                        _ => return None,
                    }
                }
                Some(vec![Elem::Int(bits, bits)])
            }
            _ => self.literal(ty, v).map(|e| vec![e]),
        }
    }

    /// Exactly one element (a value or a prefix), or a diagnostic.
    pub(super) fn one(&mut self, module: usize, ty: Ty, v: &Value) -> Option<Elem> {
        let mut e = self.elems(module, ty, v, false)?;
        if e.len() != 1 {
            self.err(
                Diagnostic::new("E0015", v.span, "expected one value")
                    .label("this stands for several values"),
            );
            return None;
        }
        e.pop()
    }

    /// One integer that fits `width` bits (ports, counts, meter sizes...).
    pub(super) fn scalar_int(
        &mut self,
        module: usize,
        v: &Value,
        width: u32,
        what: &str,
    ) -> Option<u128> {
        match self.one(module, Ty::Int(width), v)? {
            Elem::Int(a, b) if a == b => Some(a),
            _ => {
                self.err(
                    Diagnostic::new("E0015", v.span, format!("expected {what}"))
                        .label("not a single number"),
                );
                None
            }
        }
    }

    fn name_elems(
        &mut self,
        module: usize,
        ty: Ty,
        v: &Value,
        n: &str,
        sets: bool,
    ) -> Option<Vec<Elem>> {
        if let Some(r) = self.lookup(module, n) {
            return self.item_elems(r, ty, v, sets);
        }
        if let Some(e) = symbol(ty, n) {
            return Some(vec![e]);
        }
        let what = match ty {
            Ty::Flags => "TCP flag",
            Ty::CtState => "connection state",
            Ty::IcmpType => "ICMP type",
            _ => "name",
        };
        let mut d = Diagnostic::new("E0010", v.span, format!("unknown {what} `{n}`"))
            .label("not declared or imported");
        let names: Vec<String> = self.scopes[module]
            .keys()
            .cloned()
            .chain(symbol_names(ty))
            .collect();
        if let Some(s) = super::suggest(n, names.iter().map(String::as_str)) {
            d = d.help(format!("did you mean `{s}`?"));
        } else if n.contains('-') {
            d = d.help("for a range between named constants, put spaces around `-`: `ssh - http`");
        }
        self.err(d);
        None
    }

    fn item_elems(&mut self, r: ItemRef, ty: Ty, v: &Value, sets: bool) -> Option<Vec<Elem>> {
        match self.item(r).clone() {
            Item::Const(c) => self.elems(r.module, ty, &c.value, false),
            Item::Set(_) if sets => {
                let ix = self.set_index(r)?;
                let set = &self.hir.sets[ix];
                if set.ty != ty {
                    let msg = format!(
                        "set `{}` holds {}, not {}",
                        set.name,
                        ty_name(set.ty),
                        ty_name(ty)
                    );
                    self.err(Diagnostic::new("E0015", v.span, msg).label("wrong set type"));
                    return None;
                }
                Some(set.elems.clone())
            }
            Item::Port(p) if ty == Ty::Int(32) => self.elems(r.module, ty, &p.number, false),
            other => {
                let kind = match other {
                    Item::Set(_) => "a set",
                    Item::Port(_) => "a port",
                    Item::Counter(_) => "a counter",
                    Item::Meter(_) => "a meter",
                    Item::Policy(_) => "a policy",
                    _ => "an item",
                };
                self.err(
                    Diagnostic::new(
                        "E0015",
                        v.span,
                        format!("expected {}, found {kind}", ty_name(ty)),
                    )
                    .label(format!("this is {kind}")),
                );
                None
            }
        }
    }

    /// A literal as a value of type `ty`.
    fn literal(&mut self, ty: Ty, v: &Value) -> Option<Elem> {
        let found = match &v.kind {
            ValueKind::Int(n, _) => match ty {
                _ if !matches!(ty, Ty::Ip | Ty::Mac) => {
                    let w = match ty {
                        Ty::Int(w) => w,
                        Ty::CtState | Ty::Frag => 3,
                        Ty::CtDirection => 1,
                        _ => 8,
                    };
                    let max = (1u128 << w) - 1;
                    if *n > max {
                        self.err(
                            Diagnostic::new("E0014", v.span, format!("{n} is out of range"))
                                .label(format!("expected {}", ty_name(Ty::Int(w)))),
                        );
                        return None;
                    }
                    return Some(Elem::Int(*n, *n));
                }
                _ => "a number",
            },
            ValueKind::Ipv4(a) if ty == Ty::Ip => {
                return Some(Elem::V4(u32::from(*a), u32::from(*a)))
            }
            ValueKind::Ipv6(a) if ty == Ty::Ip => {
                return Some(Elem::V6(u128::from(*a), u128::from(*a)))
            }
            ValueKind::Ipv4Prefix(a, l) if ty == Ty::Ip => {
                let lo = u32::from(*a);
                // A /32 has no host bits: the shift would overflow.
                let host = u32::MAX.checked_shr(u32::from(*l)).unwrap_or(0);
                return Some(Elem::V4(lo, lo | host));
            }
            ValueKind::Ipv6Prefix(a, l) if ty == Ty::Ip => {
                let lo = u128::from(*a);
                let hi = if *l == 0 {
                    u128::MAX
                } else if *l == 128 {
                    lo
                } else {
                    lo | (u128::MAX >> l)
                };
                return Some(Elem::V6(lo, hi));
            }
            ValueKind::Mac(m) if ty == Ty::Mac => {
                let n = m.iter().fold(0u128, |a, b| (a << 8) | u128::from(*b));
                return Some(Elem::Int(n, n));
            }
            ValueKind::Ipv4(_) | ValueKind::Ipv6(_) => "an IP address",
            ValueKind::Ipv4Prefix(..) | ValueKind::Ipv6Prefix(..) => "an IP prefix",
            ValueKind::Mac(_) => "a MAC address",
            ValueKind::Str(_) => "a string",
            ValueKind::Duration(..) => "a duration",
            ValueKind::Rate(..) => "a rate",
            ValueKind::Size(..) => "a size",
            ValueKind::Flags(_) => "TCP flags",
            ValueKind::Range(..) => "a range",
            ValueKind::Name(_) => "a name",
        };
        self.err(
            Diagnostic::new(
                "E0015",
                v.span,
                format!("expected {}, found {found}", ty_name(ty)),
            )
            .label(format!("this is {found}")),
        );
        None
    }
}

/// A symbolic constant of type `ty`.
fn symbol(ty: Ty, n: &str) -> Option<Elem> {
    let int = |v: u128| Some(Elem::Int(v, v));
    match ty {
        Ty::Flags => find(symbols::TCP_FLAGS, n).and_then(|b| int(b.into())),
        Ty::CtState => find(symbols::CT_STATES, n).and_then(|b| int(b.into())),
        Ty::CtDirection => find(symbols::CT_DIRECTIONS, n).and_then(|b| int(b.into())),
        Ty::Frag => find(symbols::FRAGS, n).and_then(|b| int(b.into())),
        Ty::IcmpType => {
            let (v4, v6) = (find(symbols::ICMP4, n), find(symbols::ICMP6, n));
            (v4.is_some() || v6.is_some()).then_some(Elem::IcmpType { v4, v6 })
        }
        Ty::Int(8) => find(symbols::PROTOCOLS, n).and_then(|b| int(b.into())),
        Ty::Int(6) => find(symbols::DSCP, n).and_then(|b| int(b.into())),
        Ty::Int(16) => find(symbols::ETHER_TYPES, n).and_then(|b| int(b.into())),
        _ => None,
    }
}

fn symbol_names(ty: Ty) -> Vec<String> {
    let names = |t: &[(&str, u8)]| t.iter().map(|(n, _)| n.to_string()).collect::<Vec<_>>();
    match ty {
        Ty::Flags => names(symbols::TCP_FLAGS),
        Ty::CtState => names(symbols::CT_STATES),
        Ty::CtDirection => names(symbols::CT_DIRECTIONS),
        Ty::Frag => names(symbols::FRAGS),
        Ty::IcmpType => names(symbols::ICMP4)
            .into_iter()
            .chain(names(symbols::ICMP6))
            .collect(),
        Ty::Int(8) => names(symbols::PROTOCOLS),
        Ty::Int(6) => names(symbols::DSCP),
        _ => Vec::new(),
    }
}
