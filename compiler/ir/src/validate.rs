//! The IR validator. Backends take a [`Valid`], which only [`validate`]
//! makes, so no backend ever sees a program with dangling references,
//! ill-sized keys, tied priorities, cycles or unreachable tables.

use crate::{End, KeySource, Match, MatchKind, Node, Pipeline, Program, Step, TableKind, Terminal};
use petgraph::graph::{DiGraph, NodeIndex};
use std::collections::BTreeSet;
use std::ops::Deref;

/// A program that passed [`validate`].
#[derive(Clone, Copy, Debug)]
pub struct Valid<'a>(&'a Program);

impl Deref for Valid<'_> {
    type Target = Program;
    fn deref(&self) -> &Program {
        self.0
    }
}

/// Why a program is not valid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// An index points past the end of its list.
    #[error("{what} {index} does not exist (referenced from {from})")]
    Dangling {
        /// What kind of object.
        what: &'static str,
        /// The bad index.
        index: u32,
        /// Where the reference is.
        from: String,
    },
    /// An entry does not fit its table's keys.
    #[error("table {table}: entry {entry}: {reason}")]
    BadEntry {
        /// Table name.
        table: String,
        /// Entry index.
        entry: usize,
        /// What is wrong.
        reason: String,
    },
    /// Two entries of a table share a priority.
    #[error("table {table}: priority {priority} is used twice")]
    TiedPriority {
        /// Table name.
        table: String,
        /// The priority.
        priority: u32,
    },
    /// The control flow has a cycle.
    #[error("the control flow has a cycle through node {0}")]
    Cycle(u32),
    /// A node or table can never run.
    #[error("{0} is unreachable")]
    Unreachable(String),
    /// Something else that backends rely on does not hold.
    #[error("{0}")]
    Other(String),
}

/// Checks `program`; on success backends may compile it.
pub fn validate(program: &Program) -> Result<Valid<'_>, ValidationError> {
    let p = program;
    let n = |len: usize| len as u32;
    let check = |what: &'static str, index: u32, len: usize, from: &dyn Fn() -> String| {
        if index < len as u32 {
            Ok(())
        } else {
            Err(ValidationError::Dangling {
                what,
                index,
                from: from(),
            })
        }
    };
    for (i, set) in p.sets.iter().enumerate() {
        for &t in &set.tables {
            check("table", t, p.tables.len(), &|| format!("set {i}"))?;
        }
    }
    for (ti, t) in p.tables.iter().enumerate() {
        let from = || format!("table {}", t.name);
        match t.kind {
            TableKind::SetLookup { set, hit } => {
                check("set", set, p.sets.len(), &from)?;
                if hit >= p.hits {
                    return Err(ValidationError::Dangling {
                        what: "membership bit",
                        index: hit,
                        from: from(),
                    });
                }
                if !p.sets[set as usize].tables.contains(&n(ti)) {
                    return Err(ValidationError::Other(format!(
                        "table {} is not listed by its set",
                        t.name
                    )));
                }
            }
            TableKind::Rules { policy } => check("policy", policy, p.policies.len(), &from)?,
        }
        for k in &t.keys {
            if let KeySource::Hit(h) = k.source {
                if h >= p.hits {
                    return Err(ValidationError::Dangling {
                        what: "membership bit",
                        index: h,
                        from: from(),
                    });
                }
            }
        }
        let mut priorities = BTreeSet::new();
        for (ei, e) in t.entries.iter().enumerate() {
            let bad = |reason: String| ValidationError::BadEntry {
                table: t.name.clone(),
                entry: ei,
                reason,
            };
            if !priorities.insert(e.priority) {
                return Err(ValidationError::TiedPriority {
                    table: t.name.clone(),
                    priority: e.priority,
                });
            }
            if e.matches.len() != t.keys.len() {
                return Err(bad(format!(
                    "{} matches for {} keys",
                    e.matches.len(),
                    t.keys.len()
                )));
            }
            for (k, m) in t.keys.iter().zip(&e.matches) {
                check_match(k.kind, k.source.width(), m).map_err(bad)?;
            }
            match (t.kind, e.rule) {
                (TableKind::SetLookup { .. }, None) => {}
                (TableKind::Rules { policy }, Some(r)) => {
                    check("rule", r, p.rules.len(), &from)?;
                    if p.rules[r as usize].policy != policy {
                        return Err(bad("rule of another policy".into()));
                    }
                }
                _ => return Err(bad("rule reference does not fit the table kind".into())),
            }
        }
    }
    for (ri, r) in p.rules.iter().enumerate() {
        let from = || format!("rule {ri} ({})", r.name);
        check("policy", r.policy, p.policies.len(), &from)?;
        check_steps(p, &r.actions.steps, true, &from)?;
        match r.actions.end {
            End::Terminal(t) => check_terminal(p, t, &from)?,
            End::Jump(pol) => check("policy", pol, p.policies.len(), &from)?,
            End::Continue => {}
        }
    }
    for pol in &p.policies {
        if let Some(t) = pol.default {
            check_terminal(p, t, &|| format!("policy {}", pol.name))?;
        }
    }
    if let Pipeline::Lines(lines) = &p.pipeline {
        for l in lines {
            check("port", l.from, p.ports.len(), &|| "the pipeline".into())?;
            check("port", l.to, p.ports.len(), &|| "the pipeline".into())?;
        }
    }
    check_graph(p)?;
    Ok(Valid(program))
}

fn check_match(kind: MatchKind, width: u32, m: &Match) -> Result<(), String> {
    let max = if width >= 128 {
        u128::MAX
    } else {
        (1u128 << width) - 1
    };
    let fits = |v: u128| {
        if v <= max {
            Ok(())
        } else {
            Err(format!("value {v:#x} wider than {width} bits"))
        }
    };
    match (*m, kind) {
        (Match::Any, _) => Ok(()),
        (Match::Exact(v), MatchKind::Exact | MatchKind::Ternary | MatchKind::Range) => fits(v),
        (Match::Lpm { value, len }, MatchKind::Lpm | MatchKind::Ternary) => {
            fits(value)?;
            if len > width {
                return Err(format!("prefix length {len} > {width}"));
            }
            if value & !crate::prefix_mask(width, len) & max != 0 {
                return Err("prefix has host bits set".into());
            }
            Ok(())
        }
        (Match::Ternary { value, mask }, MatchKind::Ternary) => {
            fits(mask)?;
            if value & !mask != 0 {
                return Err("ternary value has bits outside its mask".into());
            }
            Ok(())
        }
        (Match::Range { lo, hi }, MatchKind::Range) => {
            fits(hi)?;
            if lo > hi {
                return Err(format!("range {lo:#x}-{hi:#x} is inverted"));
            }
            Ok(())
        }
        (m, k) => Err(format!("{m:?} cannot appear in a {k:?} key")),
    }
}

fn check_terminal(
    p: &Program,
    t: Terminal,
    from: &dyn Fn() -> String,
) -> Result<(), ValidationError> {
    if let Terminal::Forward(port) = t {
        if port as usize >= p.ports.len() {
            return Err(ValidationError::Dangling {
                what: "port",
                index: port,
                from: from(),
            });
        }
    }
    Ok(())
}

fn check_steps(
    p: &Program,
    steps: &[Step],
    meters_allowed: bool,
    from: &dyn Fn() -> String,
) -> Result<(), ValidationError> {
    let dangling = |what, index| ValidationError::Dangling {
        what,
        index,
        from: from(),
    };
    for s in steps {
        match s {
            Step::Count(c) if *c as usize >= p.counters.len() => {
                return Err(dangling("counter", *c))
            }
            Step::Mirror(port) if *port as usize >= p.ports.len() => {
                return Err(dangling("port", *port))
            }
            Step::Set { field, .. } if !field.field.rewritable() => {
                return Err(ValidationError::Other(format!(
                    "{}: {field} is not rewritable",
                    from()
                )))
            }
            Step::Meter { meter, arms } => {
                if !meters_allowed {
                    return Err(ValidationError::Other(format!(
                        "{}: a meter inside a colour arm",
                        from()
                    )));
                }
                if *meter as usize >= p.meters.len() {
                    return Err(dangling("meter", *meter));
                }
                for arm in arms.iter() {
                    check_steps(p, &arm.steps, false, from)?;
                    if let Some(t) = arm.terminal {
                        check_terminal(p, t, from)?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Acyclic, every node reachable from an entry, every table applied.
fn check_graph(p: &Program) -> Result<(), ValidationError> {
    let mut g: DiGraph<u32, ()> = DiGraph::new();
    let idx: Vec<NodeIndex> = (0..p.nodes.len() as u32).map(|i| g.add_node(i)).collect();
    let node = |i: u32| {
        idx.get(i as usize)
            .copied()
            .ok_or(ValidationError::Dangling {
                what: "node",
                index: i,
                from: "the control flow".into(),
            })
    };
    let mut applied = BTreeSet::new();
    for (i, n) in p.nodes.iter().enumerate() {
        let from = idx[i];
        match n {
            Node::Lookup { table, next } => {
                if !matches!(
                    p.tables.get(*table as usize).map(|t| t.kind),
                    Some(TableKind::SetLookup { .. })
                ) {
                    return Err(ValidationError::Other(format!(
                        "node {i}: table {table} is not a set lookup"
                    )));
                }
                applied.insert(*table);
                g.add_edge(from, node(*next)?, ());
            }
            Node::Rules { table, next, jumps } => {
                if !matches!(
                    p.tables.get(*table as usize).map(|t| t.kind),
                    Some(TableKind::Rules { .. })
                ) {
                    return Err(ValidationError::Other(format!(
                        "node {i}: table {table} is not a rule table"
                    )));
                }
                applied.insert(*table);
                g.add_edge(from, node(*next)?, ());
                for (rule, target) in jumps {
                    match p.rules.get(*rule as usize).map(|r| r.actions.end) {
                        Some(End::Jump(_)) => {}
                        _ => {
                            return Err(ValidationError::Other(format!(
                                "node {i}: rule {rule} does not jump"
                            )))
                        }
                    }
                    g.add_edge(from, node(*target)?, ());
                }
            }
            Node::Verdict(t) => check_terminal(p, *t, &|| format!("node {i}"))?,
        }
    }
    if let Err(cycle) = petgraph::algo::toposort(&g, None) {
        return Err(ValidationError::Cycle(g[cycle.node_id()]));
    }
    let mut seen = vec![false; p.nodes.len()];
    let mut stack = Vec::new();
    for e in p.entries() {
        stack.push(node(e)?);
    }
    while let Some(n) = stack.pop() {
        if std::mem::replace(&mut seen[g[n] as usize], true) {
            continue;
        }
        stack.extend(g.neighbors(n));
    }
    if let Some(i) = seen.iter().position(|s| !s) {
        return Err(ValidationError::Unreachable(format!("node {i}")));
    }
    if let Some(t) = (0..p.tables.len() as u32).find(|t| !applied.contains(t)) {
        return Err(ValidationError::Unreachable(format!(
            "table {}",
            p.tables[t as usize].name
        )));
    }
    Ok(())
}
