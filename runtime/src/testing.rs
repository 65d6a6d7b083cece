//! Runs a policy's inline tests (§8) on any target that can execute here,
//! and compares targets with each other.

use crate::exec::{Machine, Verdict};
use dpuc_ir::test::{Color, Expect, ExpectVerdict, Packet, SourceRef, Step, Suite};
use dpuc_ir::{CounterId, Field, FieldRef, Pipeline, PortId, Program, RuleId};

/// What a target did with one packet, in the terms tests speak.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    /// `accept`, `drop` or `forward PORT`.
    pub verdict: ExpectVerdict,
    /// The deciding rule.
    pub rule: Option<RuleId>,
    /// The last meter colour.
    pub color: Option<Color>,
    /// DSCP after rewrites (0 without IP).
    pub dscp: u8,
    /// `meta.mark` after rewrites.
    pub mark: u32,
}

/// A target that runs tests: the software pipeline, the kernel's eBPF, the
/// DOCA simulator...
pub trait Target {
    /// The target's name in reports.
    fn name(&self) -> &str;
    /// Empty state, clock at 0.
    fn reset(&mut self) -> Result<(), String>;
    /// Processes one frame.
    fn send(&mut self, frame: &[u8], port: u32, now_ns: u64) -> Result<Observation, String>;
    /// A named counter: (packets, bytes).
    fn counter(&mut self, id: CounterId) -> Result<(u64, u64), String>;
    /// A rule's hit count.
    fn rule_hits(&mut self, rule: RuleId) -> Result<u64, String>;
    /// Live connections.
    fn conntrack_count(&mut self, now_ns: u64) -> Result<u64, String>;
}

/// One expectation that did not hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// Where the expectation is written.
    pub at: SourceRef,
    /// What was expected.
    pub expected: String,
    /// What happened instead.
    pub seen: String,
}

/// The result of one test on one target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestResult {
    /// The test's name.
    pub name: String,
    /// Expectations that failed (empty: passed).
    pub failures: Vec<Failure>,
    /// What the target did with each sent packet, in order (for comparing
    /// targets even where expectations are silent).
    pub observations: Vec<Observation>,
}

/// The software pipeline as a test target.
pub struct Software {
    machine: Machine,
}

impl Software {
    /// Loads `program` into a fresh interpreter.
    pub fn new(program: Program) -> Result<Self, crate::exec::LoadError> {
        Ok(Software {
            machine: Machine::new(program)?,
        })
    }
}

impl Target for Software {
    fn name(&self) -> &str {
        "sw"
    }

    fn reset(&mut self) -> Result<(), String> {
        self.machine.reset();
        Ok(())
    }

    fn send(&mut self, frame: &[u8], port: u32, now_ns: u64) -> Result<Observation, String> {
        let out = self.machine.process(frame, port, now_ns);
        let verdict = match out.verdict {
            Verdict::Accept { .. } => ExpectVerdict::Accept,
            Verdict::Forward(p) => ExpectVerdict::Forward(p),
            // A reject discards the packet; the answer it sends is extra.
            Verdict::Drop | Verdict::Reject => ExpectVerdict::Drop,
        };
        Ok(Observation {
            verdict,
            rule: out.rule,
            color: out.color,
            dscp: out.values.get(FieldRef::outer(Field::IpDscp)) as u8,
            mark: out.values.get(FieldRef::outer(Field::MetaMark)) as u32,
        })
    }

    fn counter(&mut self, id: CounterId) -> Result<(u64, u64), String> {
        Ok(self.machine.counter(id))
    }

    fn rule_hits(&mut self, rule: RuleId) -> Result<u64, String> {
        Ok(self.machine.rule_hits(rule).0)
    }

    fn conntrack_count(&mut self, now_ns: u64) -> Result<u64, String> {
        Ok(self.machine.conntrack_count(now_ns))
    }
}

/// Runs every test of `suite` on `target`. `program` names ports and rules
/// in messages. An error of the target itself fails the test at that step.
pub fn run_suite(target: &mut dyn Target, program: &Program, suite: &Suite) -> Vec<TestResult> {
    suite
        .tests
        .iter()
        .map(|test| {
            let mut result = TestResult {
                name: test.name.clone(),
                failures: Vec::new(),
                observations: Vec::new(),
            };
            if let Err(e) = run_test(target, program, &test.steps, &mut result) {
                result.failures.push(e);
            }
            result
        })
        .collect()
}

fn run_test(
    target: &mut dyn Target,
    program: &Program,
    steps: &[Step],
    result: &mut TestResult,
) -> Result<(), Failure> {
    let whole = SourceRef {
        file: 0,
        start: 0,
        end: 0,
    };
    let broken = |at: SourceRef, e: String| Failure {
        at,
        expected: "the target to run the step".into(),
        seen: e,
    };
    target.reset().map_err(|e| broken(whole, e))?;
    let mut now = 0u64;
    for step in steps {
        match step {
            Step::After(d) => now = now.saturating_add(*d),
            Step::Send {
                packet,
                port,
                at_ns,
                expect,
                at,
            } => {
                if let Some(t) = at_ns {
                    now = *t;
                }
                let frame = match packet {
                    Packet::Raw(bytes) => bytes.clone(),
                    Packet::Spec(spec) => {
                        crate::craft::build(spec).map_err(|e| broken(*at, e.to_string()))?
                    }
                };
                let port_number = port
                    .and_then(|p| program.ports.get(p as usize))
                    .or(program.ports.first())
                    .map_or(0, |p| p.number);
                let ingress = port.or((!program.ports.is_empty()).then_some(0));
                let mut seen = target
                    .send(&frame, port_number, now)
                    .map_err(|e| broken(*at, e))?;
                seen.verdict = delivery(program, ingress, seen.verdict);
                let expect = Expect {
                    verdict: delivery(program, ingress, expect.verdict),
                    ..expect.clone()
                };
                check_expect(program, &expect, &seen, *at, &mut result.failures);
                result.observations.push(seen);
            }
            Step::ExpectCounter {
                counter,
                bytes,
                value,
                at,
            } => {
                let (p, b) = target.counter(*counter).map_err(|e| broken(*at, e))?;
                let got = if *bytes { b } else { p };
                if got != *value {
                    let unit = if *bytes { "bytes" } else { "packets" };
                    result.failures.push(Failure {
                        at: *at,
                        expected: format!(
                            "counter {} == {value} {unit}",
                            program.counters[*counter as usize]
                        ),
                        seen: format!("{got} {unit}"),
                    });
                }
            }
            Step::ExpectRuleHits { rule, value, at } => {
                let got = target.rule_hits(*rule).map_err(|e| broken(*at, e))?;
                if got != *value {
                    result.failures.push(Failure {
                        at: *at,
                        expected: format!(
                            "rule {} hits == {value}",
                            rule_name(program, Some(*rule))
                        ),
                        seen: format!("{got} hits"),
                    });
                }
            }
            Step::ExpectConntrack { value, at } => {
                let got = target.conntrack_count(now).map_err(|e| broken(*at, e))?;
                if got != *value {
                    result.failures.push(Failure {
                        at: *at,
                        expected: format!("conntrack count == {value}"),
                        seen: format!("{got} connections"),
                    });
                }
            }
        }
    }
    Ok(())
}

/// What a verdict delivers: forwarding to the port that the ingress port's
/// pipeline line accepts to puts the packet exactly where `accept` does, so
/// it reads as `accept` in expectations and observations alike (a target
/// that steers by destination, as DOCA Flow does, cannot tell them apart).
fn delivery(program: &Program, ingress: Option<PortId>, v: ExpectVerdict) -> ExpectVerdict {
    let Pipeline::Lines(lines) = &program.pipeline else {
        return v;
    };
    match v {
        ExpectVerdict::Forward(p) if lines.iter().any(|l| Some(l.from) == ingress && l.to == p) => {
            ExpectVerdict::Accept
        }
        v => v,
    }
}

fn check_expect(
    program: &Program,
    e: &Expect,
    seen: &Observation,
    at: SourceRef,
    out: &mut Vec<Failure>,
) {
    let mut fail = |expected: String, got: String| {
        out.push(Failure {
            at,
            expected,
            seen: got,
        })
    };
    if e.verdict != seen.verdict {
        fail(verdict_text(program, e.verdict), describe(program, seen));
        return;
    }
    if let Some(r) = e.by {
        if seen.rule != Some(r) {
            fail(
                format!("decided by {}", rule_name(program, Some(r))),
                describe(program, seen),
            );
        }
    }
    if let Some(c) = e.color {
        if seen.color != Some(c) {
            fail(
                format!("color {}", color_text(Some(c))),
                format!("color {}", color_text(seen.color)),
            );
        }
    }
    if let Some(d) = e.dscp {
        if seen.dscp != d {
            fail(format!("dscp {d}"), format!("dscp {}", seen.dscp));
        }
    }
    if let Some(m) = e.mark {
        if seen.mark != m {
            fail(format!("mark {m}"), format!("mark {}", seen.mark));
        }
    }
}

/// `accept by web`, `drop (default)`...
pub fn describe(program: &Program, o: &Observation) -> String {
    let by = match o.rule {
        Some(_) => format!(" by {}", rule_name(program, o.rule)),
        None => " (no rule)".to_string(),
    };
    format!("{}{by}", verdict_text(program, o.verdict))
}

fn verdict_text(program: &Program, v: ExpectVerdict) -> String {
    match v {
        ExpectVerdict::Accept => "accept".into(),
        ExpectVerdict::Drop => "drop".into(),
        ExpectVerdict::Forward(p) => format!("forward {}", port_name(program, p)),
    }
}

fn port_name(program: &Program, p: PortId) -> String {
    program
        .ports
        .get(p as usize)
        .map_or_else(|| format!("port {p}"), |p| p.name.clone())
}

/// `policy.rule`, or `-`.
pub fn rule_name(program: &Program, r: Option<RuleId>) -> String {
    match r.and_then(|r| program.rules.get(r as usize)) {
        Some(rule) => format!(
            "{}.{}",
            program.policies[rule.policy as usize].name, rule.name
        ),
        None => "-".into(),
    }
}

fn color_text(c: Option<Color>) -> &'static str {
    match c {
        Some(Color::Green) => "green",
        Some(Color::Yellow) => "yellow",
        Some(Color::Red) => "red",
        None => "none",
    }
}
