//! The eBPF backend: a validated IR program becomes an object with an XDP
//! and a TC program (same logic, two hooks), the maps they share, and a
//! [`Layout`] saying which map holds what.
//!
//! - Parsing follows the software parser byte for byte ([`parse`]).
//! - Tables are classified per key (bit vectors, [`classify`]): one map
//!   lookup per key and `entries / 64` word operations per table, whatever
//!   the rule count.
//! - Counters and rule hits are per-CPU arrays; meters are shared buckets
//!   under a `bpf_spin_lock`, in the software meters' exact integer
//!   arithmetic; per-key meters keep one bucket per key in a hash map with
//!   least-recently-used eviction ([`keyed`]).
//! - Connection tracking is the software tracker's, exactly: one hash map
//!   entry per connection, looked up before the pipeline and committed
//!   after the verdict, with expired entries purged and the oldest evicted
//!   by a `bpf_for_each_map_elem` walk when the table is full ([`conntrack`]).
//!   The walks' callbacks are static subprograms in `.text`.
//! - What the target cannot do is refused here, naming the rule: `reject`,
//!   `mirror` on the XDP hook, and tables or bursts beyond the kernel's
//!   limits.
//! - `log` (and the tracker refusing a connection, `ct_full`) writes an
//!   event record to a ring buffer.

mod actions;
pub mod classify;
pub mod conntrack;
mod gen;
pub mod keyed;
pub mod layout;
mod parse;
mod program;

use crate::elf::{map_flags, Field as ShapeField, MapDef, MapKind, ObjectBuilder, Section, Shape};
use crate::insn::Assembled;
use dpuc_ir::{
    End, Field, FieldRef, KeySource, MeterKind, Node, Program, Step, TableKind, Terminal, Valid,
};
use gen::{Gen, Value};
pub use layout::{Layout, MapLayout, MapType, MapWrite};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The hook a program runs at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hook {
    /// XDP (driver or generic mode): section `xdp`.
    Xdp,
    /// TC clsact: section `classifier`.
    Tc,
}

impl Hook {
    /// The hook's name in diagnostics.
    pub fn name(self) -> &'static str {
        match self {
            Hook::Xdp => "xdp",
            Hook::Tc => "tc",
        }
    }

    fn section(self) -> Section {
        match self {
            Hook::Xdp => Section::Xdp,
            Hook::Tc => Section::Tc,
        }
    }
}

/// Build options.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Options {
    /// Read "now" and the ingress port from the `dpuc_cfg` map and record
    /// each verdict in `dpuc_trace`, for `dpuc test` (else
    /// `bpf_ktime_get_ns` and the interface's port).
    pub test_clock: bool,
    /// The hooks to emit programs for.
    pub hooks: Vec<Hook>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            test_clock: false,
            hooks: vec![Hook::Xdp, Hook::Tc],
        }
    }
}

/// Why a program cannot be built for eBPF.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A feature the target (or one hook) cannot express.
    #[error("target ebpf{}: {rule}: {feature} is not supported{}", hook.map(|h| format!(" (hook {})", h.name())).unwrap_or_default(), help.as_ref().map(|h| format!("; {h}")).unwrap_or_default())]
    Unsupported {
        /// The hook, when only one hook refuses.
        hook: Option<Hook>,
        /// The rule (`policy.rule`) or declaration.
        rule: String,
        /// What it uses.
        feature: String,
        /// A way around it.
        help: Option<String>,
    },
    /// A table whose matches cannot be classified.
    #[error("target ebpf: table {table}: {reason}")]
    Table {
        /// The table.
        table: String,
        /// Why.
        reason: String,
    },
    /// More field values than the 512-byte stack holds.
    #[error("target ebpf: the policy reads more fields than the 512-byte eBPF stack holds")]
    Stack,
    /// The assembler or object writer refused the output.
    #[error("target ebpf: {0}")]
    Object(#[from] crate::Error),
}

/// What a build produces.
#[derive(Clone, Debug)]
pub struct Artifact {
    /// `NAME.bpf.o`.
    pub object: Vec<u8>,
    /// `NAME.ebpf.json`.
    pub layout: Layout,
    /// One listing per hook, for snapshots and people.
    pub listings: Vec<(Hook, String)>,
    /// Instructions per hook.
    pub insns: Vec<(Hook, usize)>,
}

/// Builds the object for `program`.
pub fn emit(program: &Valid, options: &Options) -> Result<Artifact, Error> {
    let p: &Program = program;
    refusals(p, options)?;
    let classes = layout::classes(p).map_err(|(table, reason)| Error::Table { table, reason })?;
    let (values, hits) = used_values(p);
    let ct = conntrack::Plan::of(p);
    let keyed = keyed::Keyed::of(p);
    let values_end = gen::scratch_size(&values);
    let ct_end = values_end + ct.as_ref().map_or(0, conntrack::Plan::scratch_bytes);
    let scratch = ct_end + keyed::scratch_bytes(&keyed);
    // Scratch offsets are 16-bit: refuse what does not fit them.
    if scratch > i16::MAX as u32 {
        return Err(Error::Stack);
    }
    let layout = layout::layout(p, &classes, options.test_clock, scratch);
    let max_keys = p.tables.iter().map(|t| t.keys.len()).max().unwrap_or(0);
    let mut builder = ObjectBuilder::new().license("GPL");
    for m in &layout.maps {
        builder = builder.map(map_def(m, &layout));
    }
    // Callbacks, shared by both hooks' programs.
    let mut subprograms: Vec<(String, Assembled)> = Vec::new();
    if let Some(plan) = ct.as_ref().filter(|c| c.max_entries > 0) {
        subprograms.push((
            conntrack::SWEEP.to_string(),
            conntrack::sweep_callback(plan).assemble()?,
        ));
    }
    for k in &keyed {
        subprograms.push((
            keyed::callback_name(k.meter),
            keyed::lru_callback(k).assemble()?,
        ));
    }
    // The walks' context at the bottom of the stack, and the callback's frame.
    let walk = ct
        .iter()
        .map(conntrack::Plan::stack_bytes)
        .chain(keyed.iter().map(keyed::Keyed::stack_bytes))
        .max();
    let reserve = walk.map_or(0, |w| w + gen::stack::CALLBACK_FRAME);
    let mut listings = Vec::new();
    let mut insns = Vec::new();
    for &hook in &options.hooks {
        let mut g = Gen::new(
            hook,
            &values,
            max_keys,
            hits.clone(),
            options.test_clock,
            reserve,
        )
        .ok_or(Error::Stack)?;
        let offset = |bytes: u32| i16::try_from(bytes).map_err(|_| Error::Stack);
        let (ct_base, keyed_base) = (offset(values_end)?, offset(ct_end)?);
        g.ct = ct
            .clone()
            .map(|plan| conntrack::CtSlots::new(plan, ct_base, gen::stack::WALK));
        g.keyed = (!keyed.is_empty())
            .then(|| keyed::KeyedSlots::new(keyed.clone(), keyed_base, gen::stack::WALK));
        program::emit(p, &layout, &mut g, options);
        let code: Assembled = g.asm.assemble()?;
        let mut listing = code.listing();
        for (name, sub) in &subprograms {
            let name: &str = name;
            listing.push_str(&format!("\n{name}:\n{}", sub.listing()));
        }
        listings.push((hook, listing));
        insns.push((hook, code.slot_count()));
        builder = builder.program(format!("dpuc_{}", hook.name()), hook.section(), code);
    }
    for (name, code) in subprograms {
        builder = builder.subprogram(&name, &["map", "key", "value", "ctx"], code);
    }
    Ok(Artifact {
        object: builder.build()?,
        layout,
        listings,
        insns,
    })
}

/// The configuration writes for `program` laid out as `layout`.
pub fn fills(program: &Program, layout: &Layout) -> Result<Vec<MapWrite>, Error> {
    let classes =
        layout::classes(program).map_err(|(table, reason)| Error::Table { table, reason })?;
    Ok(layout::fills(program, &classes, layout))
}

/// A BTF shape for fields laid out as `fields` (`lock` is the spin lock).
fn shape_of(name: &str, size: u32, fields: &[layout::LayoutField]) -> Shape {
    Shape::structure(
        name,
        size,
        fields
            .iter()
            .map(|f| {
                let shape = match (f.name.as_str(), f.size) {
                    ("lock", _) => Shape::SpinLock,
                    (_, 1) => Shape::u8(),
                    (_, 2) => Shape::u16(),
                    (_, 4) => Shape::u32(),
                    (_, 8) => Shape::u64(),
                    (_, n) => Shape::Bytes(n),
                };
                ShapeField::new(f.name.clone(), f.offset, shape)
            })
            .collect(),
    )
}

fn map_def(m: &MapLayout, l: &Layout) -> MapDef {
    let kind = match m.kind {
        MapType::Array => MapKind::Array,
        MapType::PercpuArray => MapKind::PercpuArray,
        MapType::Hash => MapKind::Hash,
        MapType::LpmTrie => MapKind::LpmTrie,
        MapType::RingBuf => MapKind::RingBuf,
    };
    if m.name == layout::METERS_MAP {
        let value = Shape::structure(
            "dpuc_meter",
            layout::METER_VALUE,
            vec![
                ShapeField::new("lock", 0, Shape::SpinLock),
                ShapeField::new("ready", 4, Shape::u32()),
                ShapeField::new("committed", 8, Shape::u64()),
                ShapeField::new("excess", 16, Shape::u64()),
                ShapeField::new("last_ns", 24, Shape::u64()),
            ],
        );
        return MapDef::typed(&m.name, kind, Shape::u32(), value, m.max_entries);
    }
    if let Some(k) = l.keyed_meters.iter().find(|k| k.map == m.name) {
        let key = shape_of("dpuc_mk_key", m.key_size, &k.key);
        let value = shape_of("dpuc_mk_value", m.value_size, &k.value);
        return MapDef::typed(&m.name, kind, key, value, m.max_entries)
            .with_flags(map_flags::NO_PREALLOC);
    }
    if let Some(ct) = l.conntrack.as_ref().filter(|c| c.map == m.name) {
        // Typed: the value holds a `bpf_spin_lock`; `bpftool map dump`
        // then shows connections field by field. Entries are allocated on
        // insertion, so the count is exactly the entries present.
        let key = shape_of("dpuc_ct_key", m.key_size, &ct.key);
        let value = shape_of("dpuc_ct_value", m.value_size, &ct.value);
        return MapDef::typed(&m.name, kind, key, value, m.max_entries)
            .with_flags(map_flags::NO_PREALLOC);
    }
    let def = MapDef::new(&m.name, kind, m.key_size, m.value_size, m.max_entries);
    if kind == MapKind::LpmTrie {
        def.with_flags(map_flags::NO_PREALLOC)
    } else {
        def
    }
}

/// Every field and hit bit the program reads or writes, and the hit bit of
/// each set-lookup table.
fn used_values(p: &Program) -> (Vec<Value>, BTreeMap<usize, dpuc_ir::HitId>) {
    let mut v = std::collections::BTreeSet::new();
    let mut hits = BTreeMap::new();
    for (ti, t) in p.tables.iter().enumerate() {
        if let TableKind::SetLookup { hit, .. } = t.kind {
            hits.insert(ti, hit);
            v.insert(Value::Hit(hit));
        }
        for k in &t.keys {
            v.insert(match k.source {
                KeySource::Field(f) => Value::Field(f),
                KeySource::Hit(h) => Value::Hit(h),
            });
        }
    }
    fn sets(steps: &[Step], v: &mut std::collections::BTreeSet<Value>) {
        for s in steps {
            match s {
                Step::Set { field, .. } => {
                    v.insert(Value::Field(*field));
                }
                Step::Meter { arms, .. } => arms.iter().for_each(|a| sets(&a.steps, v)),
                _ => {}
            }
        }
    }
    for r in &p.rules {
        sets(&r.actions.steps, &mut v);
    }
    v.extend(conntrack::used_values(p));
    v.extend(keyed::used_values(p));
    // The trace reports DSCP and mark after rewrites.
    v.insert(Value::Field(FieldRef::outer(Field::IpDscp)));
    v.insert(Value::Field(FieldRef::outer(Field::MetaMark)));
    (v.into_iter().collect(), hits)
}

fn rule_name(p: &Program, rule: usize) -> String {
    let r = &p.rules[rule];
    format!("{}.{}", p.policies[r.policy as usize].name, r.name)
}

/// Refuses what the target cannot do, naming the rule.
fn refusals(p: &Program, o: &Options) -> Result<(), Error> {
    let refuse = |rule: String, feature: &str, hook: Option<Hook>, help: Option<&str>| {
        Err(Error::Unsupported {
            hook,
            rule,
            feature: feature.into(),
            help: help.map(str::to_string),
        })
    };
    if let Some(c) = p
        .conntrack
        .as_ref()
        .filter(|c| c.max_entries > conntrack::MAX_ENTRIES)
    {
        return refuse(
            "conntrack".into(),
            &format!(
                "a connection table of {} entries (the kernel's hash maps hold at most {})",
                c.max_entries,
                conntrack::MAX_ENTRIES
            ),
            None,
            Some("lower `max_entries`"),
        );
    }
    for (i, m) in p.meters.iter().enumerate() {
        if !m.per.is_empty() && u64::from(m.max_keys) > conntrack::MAX_ENTRIES {
            let user = p.rules.iter().position(|r| uses_meter(&r.actions.steps, i));
            let rule = user.map_or(format!("meter {}", m.name), |r| rule_name(p, r));
            return refuse(
                rule,
                &format!(
                    "per-key meter `{}` of {} keys (the kernel's hash maps hold at most {})",
                    m.name,
                    m.max_keys,
                    conntrack::MAX_ENTRIES
                ),
                None,
                Some("lower `max`"),
            );
        }
        let caps = match m.kind {
            MeterKind::TokenBucket { burst, .. } => vec![burst],
            MeterKind::SrTcm { cbs, ebs, .. } => vec![cbs, ebs, cbs.saturating_add(ebs)],
            MeterKind::TrTcm { cbs, pbs, .. } => vec![cbs, pbs],
        };
        if caps.iter().any(|c| program::capacity(*c, m.unit).is_none()) {
            return refuse(
                format!("meter {}", m.name),
                "a burst above 2.3 GB (its token count exceeds 64 bits)",
                None,
                None,
            );
        }
    }
    for (i, r) in p.rules.iter().enumerate() {
        let mut terminals = vec![r.actions.end];
        let mut all_steps = r.actions.steps.clone();
        for s in &r.actions.steps {
            if let Step::Meter { arms, .. } = s {
                for a in arms.iter() {
                    all_steps.extend(a.steps.iter().cloned());
                    terminals.extend(a.terminal.map(End::Terminal));
                }
            }
        }
        if terminals.contains(&End::Terminal(Terminal::Reject)) {
            return refuse(
                rule_name(p, i),
                "`reject` (sending a TCP reset or ICMP error)",
                None,
                Some("use `drop`"),
            );
        }
        for s in &all_steps {
            match s {
                Step::Mirror(_) if o.hooks.contains(&Hook::Xdp) => {
                    return refuse(
                        rule_name(p, i),
                        "`mirror` (XDP cannot clone a packet)",
                        Some(Hook::Xdp),
                        Some("build for the tc hook only (`--hook tc`)"),
                    );
                }
                Step::Set { field, .. } => {
                    let ok = !field.inner
                        && matches!(
                            field.field,
                            Field::IpDscp
                                | Field::IpEcn
                                | Field::VlanPcp
                                | Field::MetaMark
                                | Field::CtMark
                        );
                    if !ok {
                        return refuse(
                            rule_name(p, i),
                            &format!("rewriting `{:?}`", field.field),
                            None,
                            None,
                        );
                    }
                }
                _ => {}
            }
        }
    }
    for n in &p.nodes {
        if let Node::Verdict(Terminal::Reject) = n {
            let policy = p
                .policies
                .iter()
                .find(|q| q.default == Some(Terminal::Reject))
                .map_or("policy".to_string(), |q| format!("{} (default)", q.name));
            return refuse(policy, "`reject`", None, Some("use `drop`"));
        }
    }
    Ok(())
}

fn uses_meter(steps: &[Step], m: usize) -> bool {
    steps
        .iter()
        .any(|s| matches!(s, Step::Meter { meter, .. } if *meter as usize == m))
}
