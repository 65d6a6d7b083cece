//! Scopes (own items and imports), duplicate names, declarations, and the
//! whole-file warnings (unused items, ports without a pipeline line).

use super::hir::{self, Ty};
use super::{fields, suggest, Checker, ItemRef};
use crate::ast::{self, Item, UseNames, UseSource};
use crate::diag::Diagnostic;
use crate::span::Span;

/// The declared name of an item that has one.
pub(super) fn item_name(item: &Item) -> Option<&ast::Ident> {
    match item {
        Item::Port(p) => Some(&p.name),
        Item::Const(c) => Some(&c.name),
        Item::Set(s) => Some(&s.name),
        Item::Counter(c) => Some(&c.name),
        Item::Meter(m) => Some(&m.name),
        Item::Policy(p) => Some(&p.name),
        _ => None,
    }
}

impl Checker {
    pub(super) fn build_scopes(&mut self) {
        for m in 0..self.modules.len() {
            for (i, item) in self.modules[m].ast.items.iter().enumerate() {
                let Some(name) = item_name(item) else {
                    continue;
                };
                let r = ItemRef { module: m, item: i };
                if let Some(prev) = self.scopes[m].get(&name.name).copied() {
                    let first = item_name(self.item(prev)).map_or(name.span, |n| n.span);
                    let d = Diagnostic::new(
                        "E0012",
                        name.span,
                        format!("`{}` is declared twice", name.name),
                    )
                    .label("second declaration")
                    .secondary(first, "first declared here")
                    .help("rename one of them");
                    self.diags.push(d);
                } else {
                    self.scopes[m].insert(name.name.clone(), r);
                }
            }
        }
        for m in 0..self.modules.len() {
            let uses: Vec<ast::UseDecl> = self.modules[m]
                .ast
                .items
                .iter()
                .filter_map(|i| match i {
                    Item::Use(u) => Some(u.clone()),
                    _ => None,
                })
                .collect();
            for u in uses {
                self.import(m, &u);
            }
        }
    }

    fn import(&mut self, into: usize, u: &ast::UseDecl) {
        let Some(&from) = self.use_targets.get(&(into, u.span.start)) else {
            return;
        };
        let source_name = match &u.source {
            UseSource::Std(p) => p
                .iter()
                .map(|i| i.name.as_str())
                .collect::<Vec<_>>()
                .join("::"),
            UseSource::File(f) => f.value.clone(),
        };
        let own: Vec<(String, ItemRef)> = self.scopes[from]
            .iter()
            .filter(|(_, r)| r.module == from)
            .map(|(n, r)| (n.clone(), *r))
            .collect();
        let wanted: Vec<(String, Span)> = match &u.names {
            UseNames::All(_) => own.iter().map(|(n, _)| (n.clone(), u.span)).collect(),
            UseNames::List(ids) => ids.iter().map(|i| (i.name.clone(), i.span)).collect(),
        };
        for (name, span) in wanted {
            let Some((_, r)) = own.iter().find(|(n, _)| *n == name) else {
                let mut d =
                    Diagnostic::new("E0023", span, format!("`{source_name}` has no `{name}`"))
                        .label("not declared there");
                if let Some(s) = suggest(&name, own.iter().map(|(n, _)| n.as_str())) {
                    d = d.help(format!("did you mean `{s}`?"));
                }
                self.diags.push(d);
                continue;
            };
            if !matches!(self.item(*r), Item::Const(_) | Item::Set(_) | Item::Port(_)) {
                self.diags.push(
                    Diagnostic::new("E0023", span, format!("`{name}` cannot be imported"))
                        .label("only constants, sets and ports can be imported"),
                );
                continue;
            }
            match self.scopes[into].get(&name).copied() {
                Some(existing) if existing != *r => {
                    let first = item_name(self.item(existing)).map_or(span, |n| n.span);
                    let d = Diagnostic::new("E0012", span, format!("`{name}` is declared twice"))
                        .label("imported here")
                        .secondary(first, "also declared here")
                        .help("rename one of them or import fewer names");
                    self.diags.push(d);
                }
                _ => {
                    self.scopes[into].insert(name, *r);
                    if matches!(u.names, UseNames::List(_)) || self.modules[from].is_std {
                        // Explicitly imported names are never "unused" in
                        // their module of origin.
                        self.used.insert(*r);
                    }
                }
            }
        }
    }

    /// Checks the root file and builds the program.
    pub(super) fn check_root(&mut self) {
        let root = 0;
        let items: Vec<(usize, Item)> = self.modules[root]
            .ast
            .items
            .iter()
            .cloned()
            .enumerate()
            .collect();
        // Declarations first, so policies and tests can refer to them.
        for (i, item) in &items {
            let r = ItemRef {
                module: root,
                item: *i,
            };
            match item {
                Item::Port(p) => self.declare_port(r, p),
                Item::Counter(c) => {
                    self.counters_ix
                        .insert(c.name.name.clone(), self.hir.counters.len());
                    self.hir.counters.push(hir::Named {
                        name: c.name.name.clone(),
                        span: c.name.span,
                    });
                }
                Item::Meter(m) => self.declare_meter(root, m),
                Item::Policy(p) => {
                    self.policies_ix
                        .insert(p.name.name.clone(), self.hir.policies.len());
                    self.hir.policies.push(hir::Policy {
                        name: p.name.name.clone(),
                        rules: Vec::new(),
                        default: None,
                        span: p.span,
                    });
                }
                _ => {}
            }
        }
        // The file's own sets are checked even when unused; imported ones
        // when a rule first refers to them (their errors point into their file).
        for i in 0..self.modules[root].ast.items.len() {
            if let Item::Set(_) = self.modules[root].ast.items[i] {
                self.set_index(ItemRef {
                    module: root,
                    item: i,
                });
            }
        }
        for (_, item) in &items {
            if let Item::Const(c) = item {
                self.check_const(root, c);
            }
        }
        let cts: Vec<&ast::ConntrackDecl> = items
            .iter()
            .filter_map(|(_, i)| match i {
                Item::Conntrack(c) => Some(c),
                _ => None,
            })
            .collect();
        if let Some(first) = cts.first() {
            for dup in &cts[1..] {
                self.err(
                    Diagnostic::new("E0027", dup.span, "a second `conntrack` block")
                        .label("only one is allowed")
                        .secondary(first.span, "the first one")
                        .help("merge the settings into one block"),
                );
            }
            let ct = self.conntrack(root, first);
            self.hir.conntrack = Some(ct);
        }
        for (_, item) in &items {
            if let Item::Policy(p) = item {
                self.check_policy(root, p);
            }
        }
        let pipelines: Vec<&ast::PipelineDecl> = items
            .iter()
            .filter_map(|(_, i)| match i {
                Item::Pipeline(p) => Some(p),
                _ => None,
            })
            .collect();
        self.check_pipeline(root, &pipelines);
        self.check_jumps();
        for (_, item) in &items {
            if let Item::Test(t) = item {
                self.check_test(root, t);
            }
        }
        if self.uses_ct && self.hir.conntrack.is_none() {
            self.hir.conntrack = Some(hir::Conntrack {
                max_entries: 65_536,
                evict_oldest: false,
                timeouts: hir::TIMEOUT_DEFAULTS,
                zone: Vec::new(),
                span: None,
            });
        }
        self.warn_unused(root);
    }

    fn declare_port(&mut self, r: ItemRef, p: &ast::PortDecl) {
        let number = match self.scalar_int(r.module, &p.number, 32, "a port number") {
            Some(n) => n as u32,
            None => 0,
        };
        if let Some(other) = self.hir.ports.iter().find(|o| o.number == number) {
            let (span, name) = (other.span, other.name.clone());
            self.err(
                Diagnostic::new(
                    "W0005",
                    p.number.span,
                    format!("port number {number} is also `{name}`"),
                )
                .label("same number")
                .secondary(span, "declared here"),
            );
        }
        self.ports_ix
            .insert(p.name.name.clone(), self.hir.ports.len());
        self.hir.ports.push(hir::Port {
            name: p.name.name.clone(),
            number,
            span: p.name.span,
        });
    }

    fn check_const(&mut self, module: usize, c: &ast::ConstDecl) {
        if let ast::ValueKind::Name(n) = &c.value.kind {
            if self.lookup(module, n).is_none() && !self.is_symbol(n) {
                self.unknown_name(module, n, c.value.span, "name");
            }
        }
    }

    /// Whether `name` is a symbolic constant of some type.
    pub(super) fn is_symbol(&self, name: &str) -> bool {
        use super::symbols::*;
        find(PROTOCOLS, name).is_some()
            || find(ICMP4, name).is_some()
            || find(ICMP6, name).is_some()
            || find(TCP_FLAGS, name).is_some()
            || find(CT_STATES, name).is_some()
            || find(CT_DIRECTIONS, name).is_some()
            || find(FRAGS, name).is_some()
            || find(DSCP, name).is_some()
            || find(ETHER_TYPES, name).is_some()
    }

    /// Resolves `name` in `module`'s scope and marks it used.
    pub(super) fn lookup(&mut self, module: usize, name: &str) -> Option<ItemRef> {
        let r = self.scopes[module].get(name).copied()?;
        self.used.insert(r);
        Some(r)
    }

    /// The program index of the set item `r`, checking it on first use.
    pub(super) fn set_index(&mut self, r: ItemRef) -> Option<hir::SetIx> {
        if let Some(ix) = self.set_ix.get(&r) {
            return Some(*ix);
        }
        let Item::Set(s) = self.item(r).clone() else {
            return None;
        };
        let ty = match fields::set_type(&s.ty.name) {
            Some(t) => t,
            None => {
                let mut d = Diagnostic::new(
                    "E0015",
                    s.ty.span,
                    format!("unknown set type `{}`", s.ty.name),
                )
                .label("not a set type");
                if let Some(sg) = suggest(&s.ty.name, fields::SET_TYPES.iter().copied()) {
                    d = d.help(format!("did you mean `{sg}`?"));
                }
                self.err(d);
                return None;
            }
        };
        // Reserve the index first so a set that contains itself is caught.
        let ix = self.hir.sets.len();
        self.set_ix.insert(r, ix);
        self.hir.sets.push(hir::Set {
            name: s.name.name.clone(),
            ty,
            is_const: s.is_const,
            elems: Vec::new(),
            span: s.name.span,
        });
        let mut elems = Vec::new();
        for v in &s.elems {
            if let ast::ValueKind::Name(n) = &v.kind {
                if n == &s.name.name {
                    self.err(
                        Diagnostic::new("E0015", v.span, format!("set `{n}` contains itself"))
                            .label("a set cannot be its own element"),
                    );
                    continue;
                }
            }
            if let Some(mut e) = self.elems(r.module, ty, v, true) {
                elems.append(&mut e);
            }
        }
        self.hir.sets[ix].elems = elems;
        Some(ix)
    }

    fn warn_unused(&mut self, root: usize) {
        let items = self.modules[root].ast.items.clone();
        // A file without policies is a library: its items are for others.
        if !items.iter().any(|i| matches!(i, Item::Policy(_))) {
            return;
        }
        for (i, item) in items.iter().enumerate() {
            let r = ItemRef {
                module: root,
                item: i,
            };
            if self.used.contains(&r) {
                continue;
            }
            let (what, name) = match item {
                Item::Set(s) => ("set", &s.name),
                Item::Counter(c) => ("counter", &c.name),
                Item::Meter(m) => ("meter", &m.name),
                Item::Const(c) => ("constant", &c.name),
                _ => continue,
            };
            // A second declaration of a name is already an error (E0012).
            if self.scopes[root].get(&name.name) != Some(&r) {
                continue;
            }
            self.err(
                Diagnostic::new(
                    "W0002",
                    name.span,
                    format!("{what} `{}` is never used", name.name),
                )
                .label("declared here")
                .help("remove it, or use it in a rule"),
            );
        }
        if let Some(lines) = &self.hir.pipeline {
            let bound: Vec<usize> = lines.iter().map(|l| l.from).collect();
            for (i, p) in self.hir.ports.clone().iter().enumerate() {
                if !bound.contains(&i) {
                    self.err(
                        Diagnostic::new(
                            "W0003",
                            p.span,
                            format!("port `{}` has no pipeline line", p.name),
                        )
                        .label("packets arriving here are dropped")
                        .help(format!(
                            "add `{} -> PORT via POLICY;` to the pipeline",
                            p.name
                        )),
                    );
                }
            }
        }
    }
}

/// The value type's name in messages.
pub(super) fn ty_name(ty: Ty) -> String {
    match ty {
        Ty::Ip => "an IP address or prefix".into(),
        Ty::Mac => "a MAC address".into(),
        Ty::Int(16) => "a 16-bit number (0-65535)".into(),
        Ty::Int(w) => format!("a {w}-bit number (0-{})", (1u128 << w) - 1),
        Ty::Flags => "TCP flags".into(),
        Ty::IcmpType => "an ICMP type".into(),
        Ty::CtState => "a connection state".into(),
        Ty::CtDirection => "`original` or `reply`".into(),
        Ty::Frag => "`none`, `first` or `later`".into(),
    }
}
