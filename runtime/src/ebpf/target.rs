//! A built eBPF object as a test target: loaded by the kernel's verifier,
//! its maps filled from the IR, each packet run with `BPF_PROG_TEST_RUN`.
//! The object must be a test build (`dpuc_cfg` supplies the clock and the
//! ingress port, `dpuc_trace` reports each verdict).

use super::{Error, Map, Object, RingReader};
use crate::exec::Event;
use crate::testing::{Observation, Target};
use dpuc_ebpf::codegen::layout::{self, verdict, Layout, MapType};
use dpuc_ir::test::{Color, ExpectVerdict};
use dpuc_ir::{CounterId, Program, RuleId};

/// A loaded test build.
pub struct Ebpf {
    object: Object,
    layout: Layout,
    /// The IR, kept current through set updates.
    program: Program,
    /// The program run for each packet.
    entry: String,
    /// The `log` event ring, when the policy logs.
    events: Option<RingReader>,
}

/// One record of the program's event ring: a `log`, or the tracker
/// refusing a new connection (`ct_full`), as the software pipeline's
/// [`Event`]s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventRecord {
    /// What happened.
    pub event: Event,
    /// The frame's length.
    pub len: u32,
    /// The ingress port number.
    pub port: u32,
}

impl Ebpf {
    /// Loads `object` (a test build of `program` laid out as `layout`) and
    /// fills its configuration maps.
    pub fn load(object: &[u8], layout: Layout, program: Program) -> Result<Ebpf, Error> {
        if !layout.test_clock {
            return Err(Error::Object(
                "not a test build: rebuild with the test clock".into(),
            ));
        }
        let object = load_filled(object, &layout, &program)?;
        let entry = ["dpuc_xdp", "dpuc_tc"]
            .into_iter()
            .find(|n| object.program(n).is_some())
            .ok_or_else(|| Error::Object("no dpuc_xdp or dpuc_tc program".into()))?
            .to_string();
        let events = match object.map(layout::EVENTS_MAP) {
            Some(m) => Some(RingReader::new(m)?),
            None => None,
        };
        Ok(Ebpf {
            object,
            layout,
            program,
            entry,
            events,
        })
    }

    /// The event records written since the last call, oldest first.
    pub fn take_events(&mut self) -> Vec<EventRecord> {
        let Some(ring) = &mut self.events else {
            return Vec::new();
        };
        let mut out = Vec::new();
        while let Some(r) = ring.next_record() {
            let index = u32_at(&r, 4);
            let event = if index == layout::EVENT_CT_FULL {
                Event::CtFull
            } else {
                Event::Log {
                    rule: u32_at(&r, 0),
                    prefix: self.layout.log_prefixes.get(index as usize).cloned(),
                }
            };
            out.push(EventRecord {
                event,
                len: u32_at(&r, 8),
                port: u32_at(&r, 12),
            });
        }
        out
    }

    /// The loaded object.
    pub fn object(&self) -> &Object {
        &self.object
    }

    /// The name of the program run for each packet.
    pub fn entry(&self) -> &str {
        &self.entry
    }

    /// Replaces the elements of set `set` while the program runs: every
    /// lookup table of the set gets the entries the compiler would have
    /// built, and only that set's classifier entries are rewritten.
    pub fn update_set(&mut self, set: u32, elems: Vec<dpuc_ir::Elem>) -> Result<(), Error> {
        let s = self
            .program
            .sets
            .get_mut(set as usize)
            .ok_or_else(|| Error::Object(format!("no set {set}")))?;
        s.elems = elems;
        let tables = s.tables.clone();
        for &t in &tables {
            let entries = dpuc_ir::set_entries(
                &self.program.sets[set as usize],
                &self.program.tables[t as usize],
            );
            self.program.tables[t as usize].entries = entries;
            // Array classifiers are rewritten whole; trie entries of this key go first.
            for k in &self.layout.tables[t as usize].keys {
                if let layout::Classifier::Lpm { map, id, .. } = &k.classifier {
                    let m = self.map(map)?;
                    for key in m.keys()? {
                        if key.get(4..8) == Some(&id.to_be_bytes()[..]) {
                            m.delete(&key)?;
                        }
                    }
                }
            }
        }
        let writes = layout::set_fills(&self.program, &self.layout, set)
            .map_err(|(t, e)| Error::Object(format!("{t}: {e}")))?;
        for w in writes {
            self.map(&w.map)?.update(&w.key, &w.value, 0)?;
        }
        Ok(())
    }

    fn map(&self, name: &str) -> Result<&Map, Error> {
        self.object
            .map(name)
            .ok_or_else(|| Error::Object(format!("the object has no map `{name}`")))
    }

    /// Zeroes every entry of a state map.
    fn clear(&self, name: &str) -> Result<(), Error> {
        let Some(m) = self.layout.maps.iter().find(|m| m.name == name) else {
            return Ok(());
        };
        let map = self.map(name)?;
        match m.kind {
            MapType::Array | MapType::PercpuArray => {
                let zero = vec![0u8; map.value_len()];
                for i in 0..m.max_entries {
                    map.update(&i.to_le_bytes(), &zero, 0)?;
                }
            }
            // Events are consumed, not reset.
            MapType::RingBuf => {}
            MapType::Hash | MapType::LpmTrie => {
                for k in map.keys()? {
                    map.delete(&k)?;
                }
            }
        }
        Ok(())
    }

    /// Sums a per-CPU `{packets, bytes}` entry.
    fn stat(&self, name: &str, index: u32) -> Result<(u64, u64), Error> {
        let values = self.map(name)?.lookup_percpu(&index.to_le_bytes())?;
        let mut sum = (0u64, 0u64);
        for v in values.unwrap_or_default() {
            sum.0 += u64::from_le_bytes(word(&v, 0));
            sum.1 += u64::from_le_bytes(word(&v, 8));
        }
        Ok(sum)
    }
}

/// Loads `object` (any build of `program` laid out as `layout`) and fills
/// its classifier, bitmap and rule maps from the IR.
pub fn load_filled(object: &[u8], layout: &Layout, program: &Program) -> Result<Object, Error> {
    let object = Object::load(object)?;
    let writes =
        dpuc_ebpf::codegen::fills(program, layout).map_err(|e| Error::Object(e.to_string()))?;
    for w in writes {
        let map = object
            .map(&w.map)
            .ok_or_else(|| Error::Object(format!("the object has no map `{}`", w.map)))?;
        map.update(&w.key, &w.value, 0)?;
    }
    Ok(object)
}

fn word(v: &[u8], at: usize) -> [u8; 8] {
    let mut w = [0u8; 8];
    if let Some(b) = v.get(at..at + 8) {
        w.copy_from_slice(b);
    }
    w
}

fn u32_at(v: &[u8], at: usize) -> u32 {
    v.get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

impl Target for Ebpf {
    fn name(&self) -> &str {
        "ebpf"
    }

    fn reset(&mut self) -> Result<(), String> {
        let ct = self.layout.conntrack.as_ref();
        let ct_maps = ct.map(|c| [c.map.clone(), c.seq_map.clone()]);
        let keyed = self.layout.keyed_meters.iter().map(|k| k.map.clone());
        for m in [
            layout::COUNTERS_MAP,
            layout::HITS_MAP,
            layout::METERS_MAP,
            layout::TRACE_MAP,
            dpuc_ebpf::codegen::keyed::TICK_MAP,
        ]
        .into_iter()
        .map(String::from)
        .chain(ct_maps.into_iter().flatten())
        .chain(keyed)
        {
            self.clear(&m).map_err(|e| e.to_string())?;
        }
        // Events of an earlier test are not this test's.
        self.take_events();
        Ok(())
    }

    fn send(&mut self, frame: &[u8], port: u32, now_ns: u64) -> Result<Observation, String> {
        // BPF_PROG_TEST_RUN refuses frames shorter than an Ethernet header:
        // such a frame runs padded with zeros, and the program (a test
        // build) takes its real length from `dpuc_cfg` and parses nothing
        // of it, exactly as its bounds checks would for the real runt.
        let len = u32::try_from(frame.len()).map_err(|_| "frame too long".to_string())?;
        let mut padded = frame.to_vec();
        if padded.len() < layout::MIN_TEST_FRAME as usize {
            padded.resize(layout::MIN_TEST_FRAME as usize, 0);
        }
        let mut cfg = now_ns.to_le_bytes().to_vec();
        cfg.extend(port.to_le_bytes());
        cfg.extend(len.to_le_bytes());
        let e = |e: Error| e.to_string();
        self.map(layout::CFG_MAP)
            .and_then(|m| m.update(&0u32.to_le_bytes(), &cfg, 0))
            .map_err(e)?;
        self.clear(layout::TRACE_MAP).map_err(e)?;
        let prog = self
            .object
            .program(&self.entry)
            .ok_or_else(|| format!("no program {}", self.entry))?;
        prog.test_run(&padded, 1).map_err(e)?;
        let t = self
            .map(layout::TRACE_MAP)
            .and_then(|m| m.lookup(&0u32.to_le_bytes()))
            .map_err(e)?
            .unwrap_or_default();
        let port_id = u32_at(&t, 4);
        let verdict = match u32_at(&t, 0) {
            verdict::ACCEPT => ExpectVerdict::Accept,
            verdict::FORWARD => ExpectVerdict::Forward(port_id),
            _ => ExpectVerdict::Drop,
        };
        let rule = Some(u32_at(&t, 8)).filter(|r| *r != u32::MAX);
        let color = match u32_at(&t, 12) {
            1 => Some(Color::Green),
            2 => Some(Color::Yellow),
            3 => Some(Color::Red),
            _ => None,
        };
        Ok(Observation {
            verdict,
            rule,
            color,
            dscp: u32_at(&t, 16) as u8,
            mark: u32_at(&t, 20),
        })
    }

    fn counter(&mut self, id: CounterId) -> Result<(u64, u64), String> {
        self.stat(layout::COUNTERS_MAP, id)
            .map_err(|e| e.to_string())
    }

    fn rule_hits(&mut self, rule: RuleId) -> Result<u64, String> {
        self.stat(layout::HITS_MAP, rule)
            .map(|s| s.0)
            .map_err(|e| e.to_string())
    }

    fn conntrack_count(&mut self, now_ns: u64) -> Result<u64, String> {
        let Some(ct) = &self.layout.conntrack else {
            return Ok(0);
        };
        let expires = ct
            .value_field("expires_ns")
            .ok_or("the layout's connection table has no expiry")?
            .offset as usize;
        let map = self.map(&ct.map).map_err(|e| e.to_string())?;
        let mut live = 0;
        // An entry whose timeout has passed behaves exactly as absent.
        for k in map.keys().map_err(|e| e.to_string())? {
            if let Some(v) = map.lookup(&k).map_err(|e| e.to_string())? {
                if now_ns < u64::from_le_bytes(word(&v, expires)) {
                    live += 1;
                }
            }
        }
        Ok(live)
    }
}

/// Why a program cannot be tested on eBPF.
#[derive(Debug, thiserror::Error)]
pub enum TestBuildError {
    /// The backend refuses the program (a compile-time diagnostic).
    #[error("{0}")]
    Refused(#[from] dpuc_ebpf::codegen::Error),
    /// The IR is invalid.
    #[error("invalid program: {0}")]
    Invalid(#[from] dpuc_ir::ValidationError),
    /// This process may not use bpf().
    #[error("{0}")]
    NoPrivilege(#[from] super::NoPrivilege),
    /// The kernel refused the object, or a map could not be filled.
    #[error("{0}")]
    Load(#[from] Error),
}

impl Ebpf {
    /// Builds a test object for `program` and loads it: what `dpuc test
    /// --target ebpf` does for each file.
    pub fn for_program(program: &Program) -> Result<Ebpf, TestBuildError> {
        let valid = dpuc_ir::validate(program)?;
        let options = dpuc_ebpf::Options {
            test_clock: true,
            hooks: vec![dpuc_ebpf::Hook::Xdp],
        };
        let artifact = match dpuc_ebpf::emit(&valid, &options) {
            // Mirroring needs the tc hook; test there instead.
            Err(dpuc_ebpf::codegen::Error::Unsupported {
                hook: Some(dpuc_ebpf::Hook::Xdp),
                ..
            }) => dpuc_ebpf::emit(
                &valid,
                &dpuc_ebpf::Options {
                    test_clock: true,
                    hooks: vec![dpuc_ebpf::Hook::Tc],
                },
            )?,
            other => other?,
        };
        super::bpf_available()?;
        Ok(Ebpf::load(
            &artifact.object,
            artifact.layout,
            program.clone(),
        )?)
    }
}
