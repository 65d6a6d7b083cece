//! The reference interpreter: executes a validated IR program on one packet
//! at a time, with a caller-supplied clock, and keeps the program's state
//! (connections, meter buckets, counters) between packets.

mod extract;
mod state;
mod table;
mod values;

pub use values::FieldValues;

use dpuc_ir::test::Color;
use dpuc_ir::{
    End, Field, FieldRef, Node, NodeId, Pipeline, PortId, Program, RuleId, Step, TableKind,
    Terminal,
};
use state::{Counters, State};
use table::LoadedTable;

/// Why a program cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The IR failed validation.
    #[error("invalid program: {0}")]
    Invalid(#[from] dpuc_ir::ValidationError),
}

/// What happened to a packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Accepted: delivered to `to` (the pipeline's destination), or passed on
    /// to the normal destination when the file has no pipeline (`None`).
    Accept {
        /// The egress port.
        to: Option<PortId>,
    },
    /// Delivered to this port by `forward`.
    Forward(PortId),
    /// Discarded.
    Drop,
    /// Discarded and answered.
    Reject,
}

/// A record for the event stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A `log` action ran.
    Log {
        /// The rule.
        rule: RuleId,
        /// Its prefix.
        prefix: Option<String>,
    },
    /// A new connection was refused because the table is full.
    CtFull,
}

/// The result of processing one packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The verdict.
    pub verdict: Verdict,
    /// The rule that decided (`None` for a default, a line without a policy,
    /// or a refusal by the tracker).
    pub rule: Option<RuleId>,
    /// The colour of the last meter the packet met.
    pub color: Option<Color>,
    /// The frame after rewrites.
    pub frame: Vec<u8>,
    /// Ports that got a copy.
    pub mirrors: Vec<PortId>,
    /// Events emitted.
    pub events: Vec<Event>,
    /// Field values after rewrites (`meta.mark`, `ip.dscp`, ...).
    pub values: FieldValues,
}

/// One running instance of a program.
pub struct Machine {
    program: Program,
    tables: Vec<LoadedTable>,
    state: State,
    counters: Counters,
    rule_hits: Counters,
}

/// Per-packet evaluation state.
struct Packet {
    values: FieldValues,
    hits: Vec<bool>,
    color: Option<Color>,
    notrack: bool,
    mirrors: Vec<PortId>,
    events: Vec<Event>,
    len: u64,
}

impl Machine {
    /// Validates and loads `program`, with empty state.
    pub fn new(program: Program) -> Result<Machine, LoadError> {
        dpuc_ir::validate(&program)?;
        let tables = program.tables.iter().map(LoadedTable::new).collect();
        let state = State::new(&program);
        let counters = Counters::new(program.counters.len());
        let rule_hits = Counters::new(program.rules.len());
        Ok(Machine {
            program,
            tables,
            state,
            counters,
            rule_hits,
        })
    }

    /// The loaded program.
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// Forgets every connection, bucket and counter.
    pub fn reset(&mut self) {
        self.state = State::new(&self.program);
        self.counters = Counters::new(self.program.counters.len());
        self.rule_hits = Counters::new(self.program.rules.len());
    }

    /// A named counter: (packets, bytes).
    pub fn counter(&self, id: u32) -> (u64, u64) {
        self.counters.get(id as usize)
    }

    /// A rule's hit counter: (packets, bytes).
    pub fn rule_hits(&self, rule: RuleId) -> (u64, u64) {
        self.rule_hits.get(rule as usize)
    }

    /// Live connections at `now_ns`.
    pub fn conntrack_count(&self, now_ns: u64) -> u64 {
        self.state.conntrack_count(now_ns)
    }

    /// Replaces the elements of set `set` (a run-time update): every lookup
    /// table derived from it is rebuilt.
    pub fn update_set(&mut self, set: u32, elems: Vec<dpuc_ir::Elem>) -> Result<(), String> {
        let s = self
            .program
            .sets
            .get_mut(set as usize)
            .ok_or_else(|| format!("no set {set}"))?;
        s.elems = elems;
        for &t in &s.tables.clone() {
            let table = &self.program.tables[t as usize];
            let entries = dpuc_ir::set_entries(&self.program.sets[set as usize], table);
            self.program.tables[t as usize].entries = entries.clone();
            self.tables[t as usize].replace_entries(entries);
        }
        Ok(())
    }

    /// Processes one frame that arrived on the port numbered `port` at
    /// `now_ns`. Never panics: malformed frames get the verdict their
    /// parsed headers lead to.
    pub fn process(&mut self, frame: &[u8], port: u32, now_ns: u64) -> Outcome {
        let parsed = crate::packet::parse(frame);
        let mut pkt = Packet {
            values: extract::values(frame, &parsed),
            hits: vec![false; self.program.hits as usize],
            color: None,
            notrack: false,
            mirrors: Vec::new(),
            events: Vec::new(),
            len: frame.len() as u64,
        };
        pkt.values.set_outer(Field::InPort, u128::from(port));
        let ct = self
            .state
            .ct_lookup(frame, &parsed.outer, &mut pkt.values, now_ns);

        let port_id = self.program.ports.iter().position(|p| p.number == port);
        let (entry, line_to) = match &self.program.pipeline {
            Pipeline::Single { entry } => (Some(*entry), None),
            Pipeline::Lines(lines) => match lines.iter().find(|l| Some(l.from as usize) == port_id)
            {
                Some(l) => (Some(l.entry), Some(l.to)),
                None => (None, None),
            },
        };
        let (terminal, rule) = match entry {
            Some(e) => self.walk(e, &mut pkt, now_ns),
            // A port without a pipeline line drops what arrives on it.
            None => (Terminal::Drop, None),
        };
        let mut verdict = match terminal {
            Terminal::Accept => Verdict::Accept { to: line_to },
            Terminal::Drop => Verdict::Drop,
            Terminal::Reject => Verdict::Reject,
            Terminal::Forward(p) => Verdict::Forward(p),
        };
        let mut rule = rule;
        if matches!(verdict, Verdict::Accept { .. } | Verdict::Forward(_))
            && !pkt.notrack
            && !self.state.ct_commit(ct.as_ref(), &pkt.values, now_ns)
        {
            pkt.events.push(Event::CtFull);
            verdict = Verdict::Drop;
            rule = None;
        }
        let mut out = frame.to_vec();
        extract::apply_rewrites(&mut out, &parsed, &pkt.values);
        Outcome {
            verdict,
            rule,
            color: pkt.color,
            frame: out,
            mirrors: pkt.mirrors,
            events: pkt.events,
            values: pkt.values,
        }
    }

    /// Runs the control flow from `node` to a verdict.
    fn walk(
        &mut self,
        mut node: NodeId,
        pkt: &mut Packet,
        now_ns: u64,
    ) -> (Terminal, Option<RuleId>) {
        loop {
            match &self.program.nodes[node as usize] {
                Node::Verdict(t) => return (*t, None),
                Node::Lookup { table, next } => {
                    if let TableKind::SetLookup { hit, .. } =
                        self.program.tables[*table as usize].kind
                    {
                        let found = self.tables[*table as usize]
                            .lookup(&pkt.values, &pkt.hits)
                            .is_some();
                        pkt.hits[hit as usize] = found;
                    }
                    node = *next;
                }
                Node::Rules { table, next, jumps } => {
                    let (next, jumps) = (*next, jumps.clone());
                    let Some(rule) = self.tables[*table as usize]
                        .lookup(&pkt.values, &pkt.hits)
                        .and_then(|e| e.rule)
                    else {
                        node = next;
                        continue;
                    };
                    self.rule_hits.add(rule as usize, pkt.len);
                    match self.run_rule(rule, pkt, now_ns) {
                        Some(t) => return (t, Some(rule)),
                        None => match self.program.rules[rule as usize].actions.end {
                            End::Jump(_) => {
                                node = jumps
                                    .iter()
                                    .find(|(r, _)| *r == rule)
                                    .map_or(next, |(_, n)| *n)
                            }
                            _ => node = next,
                        },
                    }
                }
            }
        }
    }

    /// Runs a rule's steps; returns its verdict if it decides the packet.
    fn run_rule(&mut self, rule: RuleId, pkt: &mut Packet, now_ns: u64) -> Option<Terminal> {
        let actions = self.program.rules[rule as usize].actions.clone();
        if let Some(t) = self.run_steps(rule, &actions.steps, pkt, now_ns) {
            return Some(t);
        }
        match actions.end {
            End::Terminal(t) => Some(t),
            End::Continue | End::Jump(_) => None,
        }
    }

    fn run_steps(
        &mut self,
        rule: RuleId,
        steps: &[Step],
        pkt: &mut Packet,
        now_ns: u64,
    ) -> Option<Terminal> {
        for step in steps {
            match step {
                Step::Count(c) => self.counters.add(*c as usize, pkt.len),
                Step::Set { field, value } => pkt.values.set(*field, *value),
                Step::Mirror(p) => pkt.mirrors.push(*p),
                Step::Log { prefix, .. } => pkt.events.push(Event::Log {
                    rule,
                    prefix: prefix.clone(),
                }),
                Step::NoTrack => pkt.notrack = true,
                Step::Meter { meter, arms } => {
                    let meter_def = &self.program.meters[*meter as usize];
                    let key: Vec<u128> = meter_def
                        .per
                        .iter()
                        .flat_map(|f: &FieldRef| {
                            [
                                f.presence().map_or(1, |p| pkt.values.get(p)),
                                pkt.values.get(*f),
                            ]
                        })
                        .collect();
                    let color = self.state.meter(*meter, &key, now_ns, pkt.len);
                    pkt.color = Some(color);
                    let arm = &arms[color as usize];
                    if let Some(t) = self.run_steps(rule, &arm.steps.clone(), pkt, now_ns) {
                        return Some(t);
                    }
                    if let Some(t) = arm.terminal {
                        return Some(t);
                    }
                }
            }
        }
        None
    }
}
