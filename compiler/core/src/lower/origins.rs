//! Where the IR's rules and declarations come from in the sources. The IR
//! itself stays free of spans (backends never see sources); this side table
//! lets the core put a backend's refusal on the exact rule or declaration.

use crate::check::hir;
use crate::span::Span;
use std::collections::BTreeMap;

/// Source spans of a lowered program's rules and named items.
#[derive(Clone, Debug, Default)]
pub struct Origins {
    /// By rule id: the rule's declaration.
    rules: Vec<Span>,
    /// By `policy.rule`: the rule id.
    rule_ids: BTreeMap<String, usize>,
    /// Policies, meters, sets, counters and ports by name: kind and span.
    items: BTreeMap<String, (&'static str, Span)>,
    /// IR tables by name: the policy of their first rule, or their set.
    tables: BTreeMap<String, Span>,
    /// The `conntrack` block, if written.
    conntrack: Option<Span>,
    /// The first policy or item of the program, for refusals about all of it.
    first: Option<Span>,
}

impl Origins {
    /// The origins of `program`'s rules and items, in the order lowering
    /// numbers them (policies in order, then their rules in order), and of
    /// the tables of `ir`, lowered from it.
    pub(super) fn of(program: &hir::Program, ir: &dpuc_ir::Program) -> Self {
        let mut o = Origins::default();
        for p in &program.policies {
            o.items.entry(p.name.clone()).or_insert(("policy", p.span));
            for r in &p.rules {
                o.rule_ids
                    .insert(format!("{}.{}", p.name, r.name), o.rules.len());
                o.rules.push(r.span);
            }
        }
        let named = program
            .meters
            .iter()
            .map(|m| (&m.name, ("meter", m.span)))
            .chain(program.sets.iter().map(|s| (&s.name, ("set", s.span))))
            .chain(
                program
                    .counters
                    .iter()
                    .map(|c| (&c.name, ("counter", c.span))),
            )
            .chain(program.ports.iter().map(|p| (&p.name, ("port", p.span))));
        for (name, item) in named {
            o.items.entry(name.clone()).or_insert(item);
        }
        for t in &ir.tables {
            let by_rule = t.entries.iter().find_map(|e| e.rule).and_then(|r| {
                let policy = ir.policies.get(ir.rules.get(r as usize)?.policy as usize)?;
                o.item(&policy.name)
            });
            if let Some((_, span)) = by_rule.or_else(|| o.item(&t.name)) {
                o.tables.insert(t.name.clone(), span);
            }
        }
        o.conntrack = program.conntrack.as_ref().and_then(|c| c.span);
        o.first = program.policies.first().map(|p| p.span);
        o
    }

    /// The declaration of rule `policy.rule`.
    pub fn rule(&self, qualified: &str) -> Option<Span> {
        self.rule_ids
            .get(qualified)
            .and_then(|&i| self.rules.get(i))
            .copied()
    }

    /// The kind (`meter`, `set`...) and declaration of a policy, meter,
    /// set, counter or port.
    pub fn item(&self, name: &str) -> Option<(&'static str, Span)> {
        self.items.get(name).copied()
    }

    /// Where IR table `name` comes from.
    pub fn table(&self, name: &str) -> Option<Span> {
        self.tables.get(name).copied()
    }

    /// The `conntrack` block, if the file has one.
    pub fn conntrack(&self) -> Option<Span> {
        self.conntrack
    }

    /// The first policy, where refusals about the whole program are shown.
    pub fn first(&self) -> Option<Span> {
        self.first
    }
}
