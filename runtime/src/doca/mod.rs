//! The DOCA Flow simulator: runs the pipe model that `dpuc-doca` emits
//! (`NAME.doca.json`) on frames, with DOCA Flow's documented semantics,
//! so a program's tests can run "on DOCA" without a DPU.
//!
//! * A packet enters the root pipe; each pipe picks at most one entry:
//!   CONTROL and ACL pipes the matching entry with the lowest priority
//!   value (ties: the first added), LPM pipes the matching entry with the
//!   longest prefix, BASIC pipes the first matching entry. An entry
//!   matches when `member & mask == value & mask` for each of its fields,
//!   and the packet's outer L3/L4 type is the pipe's.
//! * On a hit the entry's writes are applied (masked), its shared meter
//!   colours the packet into `parser_meta.meter_color`, its shared counter
//!   and per-entry counter count it, and it goes to `fwd`; on a miss it
//!   goes to `fwd_miss` (dropped when the pipe has none).
//! * Packet members come from the runtime parser ([`crate::packet`]).
//! * A program that tracks has a CT pipe and ICMP echo pipes whose
//!   entries the connection manager keeps, and exit pipes that send it
//!   packets ([`Fwd::Software`]); the `ct` module simulates both and checks the
//!   pipes' view of every packet against §5's tracker.

mod check;
mod ct;
mod headers;
#[cfg(test)]
mod tests;

pub use ct::{ManagerPacket, ManagerStep};

use crate::meter::MeterState;
use crate::testing::{Observation, Target};
use dpuc_doca::model::{ct_bits, DocaField, Fwd, Pipe, PipeEntry, PipeType, Pipes, L3, L4};
use dpuc_ir::test::{Color, ExpectVerdict};
use dpuc_ir::{CounterId, MeterKind, MeterUnit, Pipeline, Program, RuleId};
use headers::Headers;

/// Why a simulator could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DocaBuildError {
    /// The backend refused the program (naming the target and rule).
    #[error("{0}")]
    Refused(dpuc_doca::Error),
    /// The program or the pipe model is malformed.
    #[error("invalid DOCA pipe model: {0}")]
    Invalid(String),
}

/// A shared meter: its configuration and, once used, its buckets.
struct Meter {
    kind: MeterKind,
    unit: MeterUnit,
    state: Option<MeterState>,
}

/// The simulator: a pipe model and its counters and meters.
pub struct Doca {
    pipes: Pipes,
    root: usize,
    /// Port numbers of the IR ports, by port id.
    port_numbers: Vec<u32>,
    /// Where `accept` sends packets arriving on a port: `(from, to)` port
    /// numbers of the pipeline's lines; empty without a pipeline.
    lines: Vec<(u32, u32)>,
    meta_words: usize,
    meters: Vec<Meter>,
    /// Shared counters: (packets, bytes).
    counters: Vec<(u64, u64)>,
    /// Per-entry counters summed by rule: (packets, bytes).
    rule_hits: Vec<(u64, u64)>,
    /// The tracker, when the program tracks.
    ct: Option<ct::CtSim>,
}

impl Doca {
    /// Builds the simulator from the pipe model (as emitted in
    /// `NAME.doca.json`) for `program`.
    pub fn new(pipes: Pipes, program: &Program) -> Result<Doca, String> {
        let root = check::check(&pipes, program)?;
        let meters = pipes
            .shared_meters
            .iter()
            .map(|m| {
                let (kind, unit) = check::meter_kind(m)?;
                Ok(Meter {
                    kind,
                    unit,
                    state: None,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let words = pipes.ct.iter().flat_map(|c| {
            [Some(c.words.state), Some(c.words.mark), c.words.zone]
                .into_iter()
                .flatten()
                .map(DocaField::MetaU32)
        });
        let meta_words = pipes
            .pipes
            .iter()
            .flat_map(|p| {
                p.entries
                    .iter()
                    .flat_map(|e| {
                        e.matches
                            .iter()
                            .map(|m| m.field)
                            .chain(e.writes.iter().map(|w| w.field))
                    })
                    .chain(p.write_fields.iter().map(|w| w.field))
            })
            .chain(words)
            .chain(pipes.metadata.mark_word.map(DocaField::MetaU32))
            .filter_map(|f| match f {
                DocaField::MetaU32(w) => Some(w as usize + 1),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        let ct = match &pipes.ct {
            Some(model) => Some(ct::CtSim::new(model, program)?),
            None => None,
        };
        let port_numbers: Vec<u32> = program.ports.iter().map(|p| p.number).collect();
        let lines = match &program.pipeline {
            Pipeline::Single { .. } => Vec::new(),
            Pipeline::Lines(lines) => lines
                .iter()
                .map(|l| {
                    let n = |id: u32| {
                        port_numbers
                            .get(id as usize)
                            .copied()
                            .ok_or_else(|| format!("pipeline names port id {id}"))
                    };
                    Ok((n(l.from)?, n(l.to)?))
                })
                .collect::<Result<Vec<_>, String>>()?,
        };
        Ok(Doca {
            counters: vec![(0, 0); pipes.shared_counters.len()],
            rule_hits: vec![(0, 0); program.rules.len()],
            pipes,
            root,
            port_numbers,
            lines,
            meta_words,
            meters,
            ct,
        })
    }

    /// Emits `program` with default options and builds the simulator.
    pub fn for_program(program: &Program) -> Result<Doca, DocaBuildError> {
        let valid =
            dpuc_ir::validate(program).map_err(|e| DocaBuildError::Invalid(e.to_string()))?;
        let artifact = dpuc_doca::emit(&valid, &dpuc_doca::Options::default())
            .map_err(DocaBuildError::Refused)?;
        Doca::new(artifact.pipes, program).map_err(DocaBuildError::Invalid)
    }

    /// Records from now on, starting from empty connection tables, what
    /// reaches the connection manager ([`Doca::manager_steps`]); `false`
    /// when the program does not track connections.
    pub fn record_manager(&mut self) -> bool {
        self.ct.as_mut().map(|c| c.record()).is_some()
    }

    /// What reached the connection manager since the last call.
    pub fn manager_steps(&mut self) -> Vec<ManagerStep> {
        self.ct.as_mut().map(|c| c.take_steps()).unwrap_or_default()
    }

    /// The pipe model being run.
    pub fn pipes(&self) -> &Pipes {
        &self.pipes
    }

    /// Runs one parsed frame through the pipes: where it went, the
    /// deciding rule and the last meter colour, and its members after
    /// rewrites. `before` is what the tracker found for it.
    fn walk(
        &mut self,
        parsed: &crate::packet::Parsed,
        len: u64,
        port: u16,
        now_ns: u64,
        before: Option<&ct::Before>,
    ) -> Result<(Fwd, Option<RuleId>, Option<Color>, Headers), String> {
        let mut h = Headers::new(parsed, port, self.meta_words);
        let mut at = self.root;
        let mut color = None;
        // Every pipe forwards only to earlier pipes (checked), so the walk
        // ends within `pipes.len()` steps; the bound is a second guard.
        for _ in 0..=self.pipes.pipes.len() {
            let Some(pipe) = self.pipes.pipes.get(at) else {
                break;
            };
            let (fwd, by) = if let Some(table) = pipe.table {
                // A connection table: its entries are the manager's.
                let hit = match (&self.ct, before) {
                    (Some(c), Some(b)) => c.table_hit(table, b, &h)?,
                    _ => None,
                };
                match (hit, self.pipes.ct.as_ref()) {
                    (Some((bits, mark)), Some(m)) => {
                        h.write(
                            DocaField::MetaU32(m.words.state),
                            u128::from(bits),
                            u128::from(ct_bits::CONN),
                        );
                        h.write(
                            DocaField::MetaU32(m.words.mark),
                            u128::from(mark),
                            0xffff_ffff,
                        );
                        (pipe.fwd.unwrap_or(Fwd::Drop), None)
                    }
                    _ => (pipe.fwd_miss.unwrap_or(Fwd::Drop), None),
                }
            } else {
                match select(pipe, &h) {
                    Some(k) => {
                        let e = &pipe.entries[k];
                        let (fwd, by) = (e.fwd, e.verdict_rule);
                        let e = e.clone();
                        color = self.hit(&e, &mut h, now_ns, len).or(color);
                        (fwd, by)
                    }
                    None => (pipe.fwd_miss.unwrap_or(Fwd::Drop), None),
                }
            };
            match fwd {
                Fwd::Pipe(next) => at = next as usize,
                end => return Ok((end, by, color, h)),
            }
        }
        Ok((Fwd::Drop, None, color, h))
    }

    /// Applies a hit entry: writes, meter, counters. Returns the colour
    /// its meter gave.
    fn hit(&mut self, e: &PipeEntry, h: &mut Headers, now_ns: u64, len: u64) -> Option<Color> {
        for w in &e.writes {
            h.write(w.field, w.value, w.mask);
        }
        let mut color = None;
        if let Some(m) = e.meter.and_then(|m| self.meters.get_mut(m as usize)) {
            let (kind, unit) = (m.kind, m.unit);
            let state = m
                .state
                .get_or_insert_with(|| MeterState::new(kind, unit, now_ns));
            let c = state.color(now_ns, len);
            // enum doca_flow_meter_color: RED 0, YELLOW 1, GREEN 2.
            h.meter_color = match c {
                Color::Red => 0,
                Color::Yellow => 1,
                Color::Green => 2,
            };
            color = Some(c);
        }
        if let Some(c) = e.counter.and_then(|c| self.counters.get_mut(c as usize)) {
            c.0 += 1;
            c.1 += len;
        }
        if let Some(r) = e.rule.and_then(|r| self.rule_hits.get_mut(r as usize)) {
            r.0 += 1;
            r.1 += len;
        }
        color
    }
}

/// The entry of `pipe` that `h` hits, by the pipe type's rule.
fn select(pipe: &Pipe, h: &Headers) -> Option<usize> {
    if (pipe.l3 != L3::Any && pipe.l3 != h.l3) || (pipe.l4 != L4::Any && pipe.l4 != h.l4) {
        return None;
    }
    let matching = pipe.entries.iter().enumerate().filter(|(_, e)| {
        e.matches
            .iter()
            .all(|m| h.get(m.field) & m.mask == m.value & m.mask)
    });
    match pipe.ty {
        PipeType::Basic | PipeType::Ct => matching.map(|(k, _)| k).next(),
        // Lowest priority value; among equals the first added.
        PipeType::Acl | PipeType::Control => matching
            .min_by_key(|(k, e)| (e.priority, *k))
            .map(|(k, _)| k),
        // Longest prefix; among equals the first added.
        PipeType::Lpm => matching
            .min_by_key(|(k, e)| {
                let len: u32 = e.matches.iter().map(|m| m.mask.count_ones()).sum();
                (std::cmp::Reverse(len), *k)
            })
            .map(|(k, _)| k),
    }
}

impl Target for Doca {
    fn name(&self) -> &str {
        "doca"
    }

    fn reset(&mut self) -> Result<(), String> {
        self.counters.iter_mut().for_each(|c| *c = (0, 0));
        self.rule_hits.iter_mut().for_each(|c| *c = (0, 0));
        self.meters.iter_mut().for_each(|m| m.state = None);
        if let Some(c) = &mut self.ct {
            c.reset();
        }
        Ok(())
    }

    fn send(&mut self, frame: &[u8], port: u32, now_ns: u64) -> Result<Observation, String> {
        // DOCA Flow port ids are 16 bits: nothing arrives on a larger one.
        let Ok(port16) = u16::try_from(port) else {
            return Ok(Observation {
                verdict: ExpectVerdict::Drop,
                rule: None,
                color: None,
                dscp: 0,
                mark: 0,
            });
        };
        let parsed = crate::packet::parse(frame);
        let before = self
            .ct
            .as_mut()
            .map(|c| c.before(frame, &parsed.outer, port, now_ns));
        let (fwd, rule, color, h) =
            self.walk(&parsed, frame.len() as u64, port16, now_ns, before.as_ref())?;
        let (fwd, rule) = match (&mut self.ct, &before) {
            (Some(c), Some(b)) => {
                let out = c.finish(fwd, b, &h, frame, &parsed.outer, now_ns)?;
                // A packet the full table refused is dropped by no rule.
                (out.fwd, if out.full { None } else { rule })
            }
            _ => (fwd, rule),
        };
        let accept_to = self
            .lines
            .iter()
            .find(|(from, _)| *from == port)
            .map(|(_, to)| *to);
        let verdict = match fwd {
            Fwd::Kernel => ExpectVerdict::Accept,
            Fwd::Port(n) if Some(n) == accept_to => ExpectVerdict::Accept,
            Fwd::Port(n) => match self.port_numbers.iter().position(|p| *p == n) {
                Some(id) => ExpectVerdict::Forward(id as u32),
                None => {
                    return Err(format!(
                        "forwarded to port {n}, which the program does not name"
                    ))
                }
            },
            Fwd::Drop | Fwd::Pipe(_) => ExpectVerdict::Drop,
            Fwd::Software(c) => {
                return Err(format!(
                    "sent to the connection manager (class {c}) without a tracker"
                ))
            }
        };
        Ok(Observation {
            verdict,
            rule,
            color,
            dscp: h.dscp(),
            mark: h.mark(self.pipes.metadata.mark_word),
        })
    }

    fn counter(&mut self, id: CounterId) -> Result<(u64, u64), String> {
        self.counters
            .get(id as usize)
            .copied()
            .ok_or_else(|| format!("no shared counter {id}"))
    }

    fn rule_hits(&mut self, rule: RuleId) -> Result<u64, String> {
        self.rule_hits
            .get(rule as usize)
            .map(|c| c.0)
            .ok_or_else(|| format!("no rule {rule}"))
    }

    fn conntrack_count(&mut self, now_ns: u64) -> Result<u64, String> {
        Ok(self.ct.as_ref().map_or(0, |c| c.count(now_ns)))
    }
}
