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

mod check;
mod headers;
#[cfg(test)]
mod tests;

use crate::meter::MeterState;
use crate::testing::{Observation, Target};
use dpuc_doca::model::{Fwd, Pipe, PipeEntry, PipeType, Pipes, L3, L4};
use dpuc_ir::test::{Color, ExpectVerdict};
use dpuc_ir::{CounterId, MeterKind, MeterUnit, Pipeline, Program, RuleId};
use headers::Headers;

/// Why a simulator could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DocaBuildError {
    /// The backend refused the program (the text names the target and rule).
    #[error("{0}")]
    Refused(String),
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
        let meta_words = pipes
            .pipes
            .iter()
            .flat_map(|p| p.entries.iter())
            .flat_map(|e| {
                e.matches
                    .iter()
                    .map(|m| m.field)
                    .chain(e.writes.iter().map(|w| w.field))
            })
            .filter_map(|f| match f {
                dpuc_doca::model::DocaField::MetaU32(w) => Some(w as usize + 1),
                _ => None,
            })
            .max()
            .unwrap_or(0);
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
        })
    }

    /// Emits `program` with default options and builds the simulator.
    pub fn for_program(program: &Program) -> Result<Doca, DocaBuildError> {
        let valid =
            dpuc_ir::validate(program).map_err(|e| DocaBuildError::Invalid(e.to_string()))?;
        let artifact = dpuc_doca::emit(&valid, &dpuc_doca::Options::default())
            .map_err(|e| DocaBuildError::Refused(e.to_string()))?;
        Doca::new(artifact.pipes, program).map_err(DocaBuildError::Invalid)
    }

    /// The pipe model being run.
    pub fn pipes(&self) -> &Pipes {
        &self.pipes
    }

    /// Runs one frame through the pipes: where it went, the deciding rule
    /// and the last meter colour, and its members after rewrites.
    fn walk(
        &mut self,
        frame: &[u8],
        port: u16,
        now_ns: u64,
    ) -> (Fwd, Option<RuleId>, Option<Color>, Headers) {
        let parsed = crate::packet::parse(frame);
        let mut h = Headers::new(&parsed, port, self.meta_words);
        let len = frame.len() as u64;
        let mut at = self.root;
        let mut color = None;
        // Every pipe forwards only to earlier pipes (checked), so the walk
        // ends within `pipes.len()` steps; the bound is a second guard.
        for _ in 0..=self.pipes.pipes.len() {
            let Some(pipe) = self.pipes.pipes.get(at) else {
                break;
            };
            let (fwd, by) = match select(pipe, &h) {
                Some(k) => {
                    let e = &pipe.entries[k];
                    let (fwd, by) = (e.fwd, e.verdict_rule);
                    let e = e.clone();
                    color = self.hit(&e, &mut h, now_ns, len).or(color);
                    (fwd, by)
                }
                None => (pipe.fwd_miss.unwrap_or(Fwd::Drop), None),
            };
            match fwd {
                Fwd::Pipe(next) => at = next as usize,
                end => return (end, by, color, h),
            }
        }
        (Fwd::Drop, None, color, h)
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
        PipeType::Basic => matching.map(|(k, _)| k).next(),
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
        let (fwd, rule, color, h) = self.walk(frame, port16, now_ns);
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
        };
        Ok(Observation {
            verdict,
            rule,
            color,
            dscp: h.dscp(),
            mark: h.pkt_meta,
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

    fn conntrack_count(&mut self, _now_ns: u64) -> Result<u64, String> {
        // The backend refuses conntrack, so no program here tracks.
        Ok(0)
    }
}
