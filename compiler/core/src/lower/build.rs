//! Building the IR's tables and control flow from lowered rules.
//!
//! A policy is cut into stages: a stage is a run of rules in which every
//! rule but the last always decides the packet, so one first-match table
//! per stage is exact (a rule that may continue — no verdict, a meter arm
//! that continues, a `jump` that may return — ends its stage). Before each
//! stage, the set lookups its rules read are applied, unless an earlier
//! stage of the same policy already did and no rewrite touched their key
//! since. `jump` is inlined: the callee's nodes are emitted once per call
//! site and end where the caller continues, so the graph stays a DAG.

use super::dnf::{Dnf, Values};
use dpuc_ir::{
    Actions, End, Entry, FieldRef, Key, KeySource, Line, Match, MatchKind, Node, NodeId, Pipeline,
    PolicyId, Program, RuleId, SetId, SetType, Step, Table, TableId, TableKind, Terminal,
};
use std::collections::{BTreeMap, BTreeSet};

/// The most entries one rule may expand to.
pub const MAX_RULE_ENTRIES: usize = 65_536;

/// A rule ready to become table entries.
#[derive(Clone, Debug)]
pub struct RuleIn {
    /// Its name.
    pub name: String,
    /// 1-based source line.
    pub line: u32,
    /// Its predicate.
    pub dnf: Dnf,
    /// Its actions.
    pub actions: Actions,
}

/// A policy ready to be built.
#[derive(Clone, Debug)]
pub struct PolicyIn {
    /// Its name.
    pub name: String,
    /// Its default verdict (bound policies).
    pub default: Option<Terminal>,
    /// Its rules in order.
    pub rules: Vec<RuleIn>,
}

/// How packets reach policies.
#[derive(Clone, Debug)]
pub enum PipelineIn {
    /// One policy for every packet.
    Single(PolicyId),
    /// `(from, to, policy)` lines.
    Lines(Vec<(u32, u32, Option<PolicyId>)>),
}

/// Why building failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BuildError {
    /// A rule expands to too many entries.
    TooManyEntries {
        /// Policy index.
        policy: PolicyId,
        /// Rule index within the policy.
        rule: usize,
        /// How many it would need.
        entries: usize,
    },
}

/// Accumulates the program while policies are lowered.
pub struct Builder {
    program: Program,
    lookups: BTreeMap<(SetId, FieldRef), (dpuc_ir::HitId, TableId)>,
    hit_info: BTreeMap<dpuc_ir::HitId, (FieldRef, TableId)>,
    stages: BTreeMap<PolicyId, Vec<Stage>>,
    policies: Vec<PolicyIn>,
    rule_base: Vec<RuleId>,
}

#[derive(Clone, Debug)]
struct Stage {
    table: TableId,
    rules: Vec<RuleId>,
    hits: BTreeSet<dpuc_ir::HitId>,
    rewrites: BTreeSet<FieldRef>,
    jumps: Vec<(RuleId, PolicyId)>,
}

impl Builder {
    /// Starts from a program with ports, sets, counters, meters and
    /// conntrack filled in, and no tables, rules, policies or nodes.
    pub fn new(program: Program) -> Self {
        Builder {
            program,
            lookups: BTreeMap::new(),
            hit_info: BTreeMap::new(),
            stages: BTreeMap::new(),
            policies: Vec::new(),
            rule_base: Vec::new(),
        }
    }

    /// The membership bit of `set` looked up with `field`, creating the
    /// lookup table on first use.
    pub fn hit(&mut self, set: SetId, field: FieldRef) -> dpuc_ir::HitId {
        if let Some((h, _)) = self.lookups.get(&(set, field)) {
            return *h;
        }
        let hit = self.program.hits;
        self.program.hits += 1;
        let table_id = self.program.tables.len() as TableId;
        let s = &self.program.sets[set as usize];
        let kind = match s.ty {
            SetType::Ip => MatchKind::Lpm,
            SetType::Mac | SetType::Int(_) => MatchKind::Range,
        };
        let layer = if field.inner { "inner_" } else { "" };
        let mut table = Table {
            name: format!("set_{}_{layer}{}", s.name, ident(&field.field.to_string())),
            kind: TableKind::SetLookup { set, hit },
            keys: vec![Key {
                source: KeySource::Field(field),
                kind,
            }],
            entries: Vec::new(),
            size: 0,
        };
        table.entries = dpuc_ir::set_entries(s, &table);
        // Room for run-time additions: sets are the unit of update.
        table.size = (table.entries.len() as u32 * 2).max(64);
        self.program.tables.push(table);
        self.program.sets[set as usize].tables.push(table_id);
        self.lookups.insert((set, field), (hit, table_id));
        self.hit_info.insert(hit, (field, table_id));
        hit
    }

    /// Adds the policies (in id order) and the pipeline, and returns the
    /// finished program (not yet validated).
    pub fn finish(
        mut self,
        policies: Vec<PolicyIn>,
        pipeline: PipelineIn,
    ) -> Result<Program, BuildError> {
        for (pi, p) in policies.iter().enumerate() {
            self.rule_base.push(self.program.rules.len() as RuleId);
            self.program.policies.push(dpuc_ir::Policy {
                name: p.name.clone(),
                default: p.default,
            });
            for r in &p.rules {
                self.program.rules.push(dpuc_ir::Rule {
                    policy: pi as PolicyId,
                    name: r.name.clone(),
                    actions: r.actions.clone(),
                    line: r.line,
                });
            }
        }
        self.policies = policies;
        self.program.pipeline = match pipeline {
            PipelineIn::Single(p) => {
                let end = self.verdict(
                    self.policies[p as usize]
                        .default
                        .unwrap_or(Terminal::Accept),
                );
                Pipeline::Single {
                    entry: self.emit(p, end)?,
                }
            }
            PipelineIn::Lines(lines) => {
                let mut out = Vec::new();
                for (from, to, via) in lines {
                    let entry = match via {
                        Some(p) => {
                            let end = self.verdict(
                                self.policies[p as usize].default.unwrap_or(Terminal::Drop),
                            );
                            self.emit(p, end)?
                        }
                        None => self.verdict(Terminal::Accept),
                    };
                    out.push(Line { from, to, entry });
                }
                Pipeline::Lines(out)
            }
        };
        Ok(self.program)
    }

    fn push(&mut self, n: Node) -> NodeId {
        self.program.nodes.push(n);
        (self.program.nodes.len() - 1) as NodeId
    }

    fn verdict(&mut self, t: Terminal) -> NodeId {
        self.push(Node::Verdict(t))
    }

    /// Emits policy `p`'s nodes, ending at `cont`; returns its entry.
    fn emit(&mut self, p: PolicyId, cont: NodeId) -> Result<NodeId, BuildError> {
        let stages = self.stages_of(p)?;
        // Which lookups to apply before each stage, computed forwards.
        let mut fresh: BTreeSet<dpuc_ir::HitId> = BTreeSet::new();
        let mut before: Vec<Vec<dpuc_ir::HitId>> = Vec::new();
        for s in &stages {
            let need: Vec<_> = s.hits.difference(&fresh).copied().collect();
            fresh.extend(need.iter().copied());
            before.push(need);
            if !s.jumps.is_empty() {
                // A callee may rewrite anything.
                fresh.clear();
            }
            fresh.retain(|h| !s.rewrites.contains(&self.hit_info[h].0));
        }
        let mut next = cont;
        for (s, need) in stages.iter().zip(before).rev() {
            let mut jumps = Vec::new();
            for &(rule, callee) in &s.jumps {
                jumps.push((rule, self.emit(callee, next)?));
            }
            next = self.push(Node::Rules {
                table: s.table,
                next,
                jumps,
            });
            for h in need.into_iter().rev() {
                let table = self.hit_info[&h].1;
                next = self.push(Node::Lookup { table, next });
            }
        }
        Ok(next)
    }

    /// The stages of policy `p`, building their tables on first use.
    fn stages_of(&mut self, p: PolicyId) -> Result<Vec<Stage>, BuildError> {
        if let Some(s) = self.stages.get(&p) {
            return Ok(s.clone());
        }
        let base = self.rule_base[p as usize];
        let rules = self.policies[p as usize].rules.clone();
        let mut stages = Vec::new();
        let mut start = 0;
        for (i, r) in rules.iter().enumerate() {
            let ends_stage = !matches!(r.actions.end, End::Terminal(_)) || i + 1 == rules.len();
            if ends_stage {
                stages.push(self.stage(p, base, start, &rules[start..=i])?);
                start = i + 1;
            }
        }
        self.stages.insert(p, stages.clone());
        Ok(stages)
    }

    fn stage(
        &mut self,
        p: PolicyId,
        base: RuleId,
        first: usize,
        rules: &[RuleIn],
    ) -> Result<Stage, BuildError> {
        let mut keys: BTreeSet<KeySource> = BTreeSet::new();
        for r in rules {
            for c in &r.dnf.0 {
                keys.extend(c.keys().copied());
            }
        }
        let keys: Vec<KeySource> = keys.into_iter().collect();
        let mut rows: Vec<(RuleId, Vec<Match>)> = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            let rule_id = base + (first + i) as RuleId;
            let before = rows.len();
            for c in &r.dnf.0 {
                let per_key: Vec<Vec<Match>> = keys
                    .iter()
                    .map(|k| {
                        c.get(k)
                            .map_or(vec![Match::Any], |v: &Values| v.to_matches(k.width()))
                    })
                    .collect();
                let count = per_key
                    .iter()
                    .map(Vec::len)
                    .try_fold(1usize, |a, n| a.checked_mul(n));
                let count = count.unwrap_or(usize::MAX);
                if rows.len() - before + count > MAX_RULE_ENTRIES {
                    return Err(BuildError::TooManyEntries {
                        policy: p,
                        rule: first + i,
                        entries: count,
                    });
                }
                for combo in cross(&per_key) {
                    rows.push((rule_id, combo));
                }
            }
        }
        let kinds: Vec<MatchKind> = (0..keys.len())
            .map(|k| key_kind(rows.iter().map(|(_, m)| m[k])))
            .collect();
        let n = rows.len() as u32;
        let entries = rows
            .into_iter()
            .enumerate()
            .map(|(i, (rule, ms))| Entry {
                priority: n - i as u32,
                matches: ms
                    .into_iter()
                    .zip(&kinds)
                    .zip(&keys)
                    .map(|((m, k), src)| fit(m, *k, src.width()))
                    .collect(),
                rule: Some(rule),
            })
            .collect::<Vec<_>>();
        let pname = ident(&self.policies[p as usize].name);
        let table = Table {
            name: format!("{pname}_{}", ident(&rules[0].name)),
            kind: TableKind::Rules { policy: p },
            keys: keys
                .iter()
                .zip(&kinds)
                .map(|(s, k)| Key {
                    source: *s,
                    kind: *k,
                })
                .collect(),
            size: (entries.len() as u32).max(1),
            entries,
        };
        self.program.tables.push(table);
        let table = (self.program.tables.len() - 1) as TableId;
        let mut stage = Stage {
            table,
            rules: (0..rules.len())
                .map(|i| base + (first + i) as RuleId)
                .collect(),
            hits: BTreeSet::new(),
            rewrites: BTreeSet::new(),
            jumps: Vec::new(),
        };
        for (i, r) in rules.iter().enumerate() {
            for k in &keys {
                if let KeySource::Hit(h) = k {
                    stage.hits.insert(*h);
                }
            }
            collect_rewrites(&r.actions.steps, &mut stage.rewrites);
            if let End::Jump(callee) = r.actions.end {
                stage.jumps.push((stage.rules[i], callee));
            }
        }
        Ok(stage)
    }
}

fn collect_rewrites(steps: &[Step], out: &mut BTreeSet<FieldRef>) {
    for s in steps {
        match s {
            Step::Set { field, .. } => {
                out.insert(*field);
            }
            Step::Meter { arms, .. } => arms.iter().for_each(|a| collect_rewrites(&a.steps, out)),
            _ => {}
        }
    }
}

/// Every combination taking one match per key.
fn cross(per_key: &[Vec<Match>]) -> Vec<Vec<Match>> {
    let mut out: Vec<Vec<Match>> = vec![Vec::new()];
    for options in per_key {
        out = out
            .into_iter()
            .flat_map(|prefix| {
                options.iter().map(move |m| {
                    let mut v = prefix.clone();
                    v.push(*m);
                    v
                })
            })
            .collect();
    }
    out
}

/// The narrowest key kind that holds every match of a column.
fn key_kind(column: impl Iterator<Item = Match>) -> MatchKind {
    let mut kind = MatchKind::Exact;
    for m in column {
        kind = match (kind, m) {
            (_, Match::Range { .. }) | (MatchKind::Range, _) => MatchKind::Range,
            (_, Match::Any | Match::Lpm { .. } | Match::Ternary { .. }) => MatchKind::Ternary,
            (k, Match::Exact(_)) => k,
        };
    }
    kind
}

/// `m` in the form a key of kind `kind` takes.
fn fit(m: Match, kind: MatchKind, width: u32) -> Match {
    match (kind, m) {
        (MatchKind::Range, Match::Lpm { value, len }) => Match::Range {
            lo: value,
            hi: value | !dpuc_ir::prefix_mask(width, len) & dpuc_ir::prefix_mask(width, width),
        },
        (MatchKind::Ternary, Match::Lpm { value, len }) => Match::Ternary {
            value,
            mask: dpuc_ir::prefix_mask(width, len),
        },
        _ => m,
    }
}

/// A name made legal as an identifier in every target language.
pub fn ident(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use dpuc_ir::{Elem, Family, Field, Header, Set};

    fn key(f: Field) -> KeySource {
        KeySource::Field(FieldRef::outer(f))
    }

    fn skeleton() -> Program {
        Program {
            name: "t".into(),
            ports: vec![
                dpuc_ir::Port {
                    name: "a".into(),
                    number: 0,
                },
                dpuc_ir::Port {
                    name: "b".into(),
                    number: 1,
                },
            ],
            sets: vec![Set {
                name: "s".into(),
                ty: SetType::Ip,
                elems: vec![
                    Elem {
                        family: Some(Family::V4),
                        lo: 0x0a00_0000,
                        hi: 0x0aff_ffff,
                    },
                    Elem {
                        family: Some(Family::V6),
                        lo: 1,
                        hi: 1,
                    },
                ],
                tables: Vec::new(),
            }],
            tables: Vec::new(),
            rules: Vec::new(),
            policies: Vec::new(),
            nodes: Vec::new(),
            pipeline: Pipeline::Single { entry: 0 },
            counters: Vec::new(),
            meters: Vec::new(),
            conntrack: None,
            hits: 0,
        }
    }

    fn rule(name: &str, dnf: Dnf, end: End) -> RuleIn {
        RuleIn {
            name: name.into(),
            line: 1,
            dnf,
            actions: Actions {
                steps: Vec::new(),
                end,
            },
        }
    }

    #[test]
    fn stages_split_at_rules_that_may_continue_and_jumps_are_inlined() {
        let mut b = Builder::new(skeleton());
        let hit = b.hit(0, FieldRef::outer(Field::Ip4Src));
        let in_set = Dnf::atom(key(Field::Valid(Header::Ipv4)), Values::single(1, 1))
            .and(Dnf::atom(KeySource::Hit(hit), Values::single(1, 1)))
            .unwrap_or_else(|_| Dnf::falsity());
        let ssh = Dnf::atom(key(Field::Valid(Header::Tcp)), Values::single(1, 1))
            .and(Dnf::atom(key(Field::TcpDport), Values::single(65535, 22)))
            .unwrap_or_else(|_| Dnf::falsity());
        let policies = vec![
            PolicyIn {
                name: "main".into(),
                default: Some(Terminal::Drop),
                rules: vec![
                    rule("blocked", in_set, End::Terminal(Terminal::Drop)),
                    rule("ssh", ssh.clone(), End::Terminal(Terminal::Accept)),
                    rule("call", Dnf::truth(), End::Jump(1)),
                    rule(
                        "after",
                        ssh.negate().unwrap_or_else(|_| Dnf::falsity()),
                        End::Terminal(Terminal::Forward(1)),
                    ),
                ],
            },
            PolicyIn {
                name: "sub".into(),
                default: None,
                rules: vec![rule("count", Dnf::truth(), End::Continue)],
            },
        ];
        let p = b
            .finish(
                policies,
                PipelineIn::Lines(vec![(0, 1, Some(0)), (1, 0, None)]),
            )
            .unwrap_or_else(|e| panic!("{e:?}"));
        if let Err(e) = dpuc_ir::validate(&p) {
            panic!("{e}\n{}", dpuc_ir::text::to_text(&p));
        }
        let text = dpuc_ir::text::to_text(&p);
        // Stage 1: blocked, ssh, call (call may return); stage 2: after.
        assert!(
            text.contains("table main_blocked (rules of main)"),
            "{text}"
        );
        assert!(text.contains("table main_after (rules of main)"), "{text}");
        assert!(text.contains("jumps [call->"), "{text}");
        // `not tcp.dport == 22`: non-TCP, or TCP on another port.
        assert!(text.contains("entry 3: tcp.$valid=0 -> after"), "{text}");
        assert_eq!(
            p.tables
                .iter()
                .filter(|t| matches!(t.kind, TableKind::SetLookup { .. }))
                .count(),
            1
        );
    }
}
