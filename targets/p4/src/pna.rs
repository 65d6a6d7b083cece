//! PNA backend: P4_16 for the Portable NIC Architecture (`pna.p4`), the
//! AMD Pensando path, with a P4Info and P4Runtime entries.
//!
//! Shape of the output: one metadata field per IR field the program reads,
//! computed from the parsed headers at the top of `main_control` (so table
//! keys never depend on which of IPv4/IPv6 or TCP/UDP is present); one P4
//! table per application of an IR table; one action per rule that records
//! the rule id and counts its hit; and the IR's node DAG unfolded into
//! nested `switch (t.apply().action_run)` blocks, where each case performs
//! the rule's steps in order and then its verdict, jump or continuation.

use crate::headers;
use crate::runtime::bytes_json;
use crate::{sanitize, Artifact, Profile};
use dpuc_ir::{
    End, Field, FieldRef, Header, KeySource, Match, MatchKind, MeterKind, MeterUnit, Node, NodeId,
    Pipeline, PortId, Program, Refusal, RefusalKind, Step, Subject, Table, TableId, TableKind,
    Terminal,
};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// PNA backend options.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Options {
    /// Target profile (`pna`, `pensando-elba`).
    pub profile: String,
    /// Bake entries into the program as `const entries` instead of
    /// emitting them as P4Runtime updates.
    pub const_entries: bool,
    /// Port that `accept` sends to in a program without a `pipeline`
    /// block; `None` leaves the packet's destination at the
    /// architecture's default.
    pub accept_port: Option<u32>,
    /// Largest number of table applications the unfolded control flow may
    /// have (sharing in the IR's DAG is unfolded into copies).
    pub max_applications: usize,
    /// Which PNA compiler the output is written for.
    pub flavor: Flavor,
}

/// The PNA dialect to emit (`--p4-flavor`).
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Flavor {
    /// `pna.p4` as the PNA specification writes it (`Meter.execute`,
    /// packet-and-byte counters, native `range` keys).
    #[default]
    Reference,
    /// What `p4c-dpdk --arch pna` accepts: `#include <dpdk/pna.p4>`,
    /// packet counters (DPDK's byte counting needs a frame length PNA does
    /// not expose), `range` keys expanded to ternary prefixes, no meters
    /// and no 128-bit keys.
    Dpdk,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            profile: "pna".into(),
            const_entries: false,
            accept_port: None,
            max_applications: 256,
            flavor: Flavor::Reference,
        }
    }
}

/// Why the PNA backend refuses a program.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// `Options::profile` names no built-in profile.
    #[error("target pna: unknown profile `{0}`")]
    UnknownProfile(String),
    /// A rule rejects; the P4 targets have no way to send a TCP RST / ICMP error.
    #[error("target pna: rule `{rule}` uses `reject`, which the target cannot synthesize (no TCP reset or ICMP error); use `drop`")]
    Reject {
        /// The rule.
        rule: String,
    },
    /// A meter algorithm PNA's `Meter` (RFC 2698 trTCM) cannot express exactly.
    #[error("target pna: meter `{meter}` is {kind}; PNA meters are trTCM only")]
    UnsupportedMeter {
        /// The meter.
        meter: String,
        /// Its algorithm.
        kind: &'static str,
    },
    /// A construct the backend does not lower.
    #[error("target pna: {}{what} is not supported", rule.as_ref().map(|r| format!("rule `{r}`: ")).unwrap_or_default())]
    Unsupported {
        /// The rule (`policy.rule`) that uses it, when one does.
        rule: Option<String>,
        /// The construct and why.
        what: String,
    },
    /// A table does not fit the profile.
    #[error("target pna ({profile}): table `{table}` needs {needed} {kind} entries but the profile holds {capacity}")]
    Capacity {
        /// Profile name.
        profile: String,
        /// The table.
        table: String,
        /// Its most expensive match kind.
        kind: &'static str,
        /// Entries needed (max of declared size and entry count).
        needed: u64,
        /// Profile capacity.
        capacity: u64,
    },
    /// Unfolding the DAG would apply too many tables.
    #[error("target pna: the control flow unfolds into more than {0} table applications")]
    TooManyApplications(usize),
    /// Expanding `range` keys into ternary prefixes gives too many entries.
    #[error("target pna: table `{table}` expands to more than {limit} entries when its ranges become ternary prefixes")]
    RangeExpansion {
        /// The table.
        table: String,
        /// The bound ([`MAX_EXPANDED_ENTRIES`]).
        limit: usize,
    },
}

impl Error {
    pub(crate) fn unsupported(rule: Option<&str>, what: impl Into<String>) -> Error {
        Error::Unsupported {
            rule: rule.map(str::to_string),
            what: what.into(),
        }
    }

    /// The same error, naming `rule` if it named none.
    fn in_rule(self, rule: Option<String>) -> Error {
        match self {
            Error::Unsupported { rule: None, what } => Error::Unsupported { rule, what },
            e => e,
        }
    }

    /// This error as a [`Refusal`], for the driver to place on the source.
    pub fn refusal(&self) -> Refusal {
        use RefusalKind::*;
        let (subject, kind) = match self {
            Error::UnknownProfile(_) => (Subject::Program, Internal),
            Error::Reject { rule } => (Refusal::subject_of(rule), Unsupported),
            Error::UnsupportedMeter { meter, .. } => (Subject::Item(meter.clone()), Unsupported),
            Error::Unsupported { rule, .. } => (
                rule.as_deref()
                    .map_or(Subject::Program, Refusal::subject_of),
                Unsupported,
            ),
            Error::Capacity { table, .. } | Error::RangeExpansion { table, .. } => {
                (Subject::Table(table.clone()), Capacity)
            }
            Error::TooManyApplications(_) => (Subject::Program, Capacity),
        };
        let message = match self {
            Error::Unsupported { what, .. } => format!("{what} is not supported"),
            e => crate::without_target(&e.to_string()).to_string(),
        };
        Refusal::unsupported("p4-pna", subject, message).kind(kind)
    }
}

/// The trTCM (RFC 2698) parameters `[cir, cbs, pir, pbs]` that behave
/// exactly as `kind`, if any. A single token bucket is a trTCM whose two
/// buckets have its rate and burst: both start full, fill alike, and a green
/// packet takes from both, so they stay equal; a packet is red exactly when
/// the bucket lacks its tokens, and yellow never happens. srTCM has none.
fn trtcm(kind: MeterKind) -> Option<[u64; 4]> {
    match kind {
        MeterKind::TrTcm { cir, cbs, pir, pbs } => Some([cir, cbs, pir, pbs]),
        MeterKind::TokenBucket { rate, burst } => Some([rate, burst, rate, burst]),
        MeterKind::SrTcm { .. } => None,
    }
}

/// Largest number of P4 entries one IR table may expand to when `range`
/// keys are rewritten as ternary prefixes (targets without native ranges).
pub const MAX_EXPANDED_ENTRIES: usize = 65536;

/// Which architecture the shared emitter writes for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Arch {
    /// PNA (`pna.p4`) in a flavor.
    Pna(Flavor),
    /// NVIDIA DOCA Pipeline Language (BlueField-3).
    BlueField,
}

const TABLE_ID: u32 = 0x0200_0000;
const ACTION_ID: u32 = 0x0100_0000;
const COUNTER_ID: u32 = 0x1200_0000;
const METER_ID: u32 = 0x1400_0000;
const NOACTION_ID: u32 = ACTION_ID | 0x00ff_ffff;

/// Lowers a validated program to PNA P4.
pub fn emit(program: &dpuc_ir::Valid, options: &Options) -> Result<Artifact, Error> {
    emit_for(program, options, Arch::Pna(options.flavor))
}

/// An IPv6 header the policy sees on PNA (`prefix` `""` or `"inner_"`):
/// present, and not marked malformed by the extension-header walk.
fn ipv6_present(prefix: &str) -> String {
    format!("(hdr.{prefix}ipv6.isValid() && meta.{prefix}v6_bad == 1w0)")
}

/// The shared lowering behind [`emit`] and [`crate::bluefield::emit`].
pub(crate) fn emit_for(
    program: &dpuc_ir::Valid,
    options: &Options,
    arch: Arch,
) -> Result<Artifact, Error> {
    let p: &Program = program;
    let profile = Profile::builtin(&options.profile)
        .ok_or_else(|| Error::UnknownProfile(options.profile.clone()))?;
    let mut e = Emitter::new(p, options, profile, arch);
    e.check()?;
    e.run()
}

/// One application of an IR table: its P4 name and id.
struct Copy {
    table: TableId,
    name: String,
    id: u32,
}

struct Emitter<'a> {
    p: &'a Program,
    o: &'a Options,
    profile: Profile,
    arch: Arch,
    /// Whether `range` keys are emitted as ternary prefixes.
    expand: bool,
    /// Every field read by a key, so the prologue computes only those.
    fields: BTreeSet<FieldRef>,
    copies: Vec<Copy>,
    per_table: BTreeMap<TableId, usize>,
    meter_vars: usize,
    notes: Vec<String>,
}

fn kind_name(k: MatchKind) -> &'static str {
    match k {
        MatchKind::Exact => "exact",
        MatchKind::Lpm => "lpm",
        MatchKind::Ternary => "ternary",
        MatchKind::Range => "range",
    }
}

fn field_name(f: FieldRef) -> String {
    let base = match f.field {
        Field::Valid(h) => format!("valid_{}", h.name()),
        other => {
            let dbg = format!("{other:?}");
            let mut s = String::new();
            for (i, c) in dbg.chars().enumerate() {
                if c.is_ascii_uppercase() {
                    if i > 0 {
                        s.push('_');
                    }
                    s.push(c.to_ascii_lowercase());
                } else {
                    s.push(c);
                }
            }
            s
        }
    };
    if f.inner {
        format!("f_inner_{base}")
    } else {
        format!("f_{base}")
    }
}

fn lit(width: u32, v: u128) -> String {
    format!("{width}w0x{v:x}")
}

/// The P4 match kind of key `ki`: lpm in rule tables is matched as
/// ternary, because P4 orders LPM entries by prefix length while the IR
/// orders every rule-table entry by priority; an exact key that some entry
/// wildcards is ternary too, since P4 exact keys cannot be wildcarded.
/// With `expand` (a target without native ranges) a range key is ternary
/// and its entries become prefix covers ([`range_cover`]).
fn p4_kind(t: &Table, ki: usize, expand: bool) -> MatchKind {
    let k = t.keys[ki].kind;
    let wildcarded = t
        .entries
        .iter()
        .any(|e| matches!(e.matches.get(ki), Some(Match::Any)));
    match (t.kind, k) {
        (TableKind::Rules { .. }, MatchKind::Lpm) => MatchKind::Ternary,
        (_, MatchKind::Range) if expand => MatchKind::Ternary,
        (_, MatchKind::Exact) if wildcarded => MatchKind::Ternary,
        _ => k,
    }
}

/// The fewest value/mask pairs whose union is `lo..=hi` on a `width`-bit
/// key (the classic prefix cover: at most `2 * width - 2` pairs).
pub(crate) fn range_cover(lo: u128, hi: u128, width: u32) -> Vec<(u128, u128)> {
    let all = dpuc_ir::prefix_mask(width, width);
    let mut out = Vec::new();
    let mut lo = lo;
    while lo <= hi {
        // Largest aligned block starting at `lo` that stays within `hi`.
        let mut k = 0u32;
        while k + 1 < width.min(127) {
            let size = 1u128 << (k + 1);
            if lo & (size - 1) != 0 || lo.checked_add(size - 1).is_none_or(|end| end > hi) {
                break;
            }
            k += 1;
        }
        let size = 1u128 << k;
        out.push((lo, all & !(size - 1)));
        match lo.checked_add(size) {
            Some(next) => lo = next,
            None => break,
        }
    }
    out
}

/// One P4 entry: priority, one match per key, and the IR rule.
type P4Entry = (u32, Vec<Match>, Option<u32>);

/// Whether P4Runtime wants priorities for a table (any ternary/range key).
fn needs_priority(t: &Table, expand: bool) -> bool {
    (0..t.keys.len()).any(|ki| {
        matches!(
            p4_kind(t, ki, expand),
            MatchKind::Ternary | MatchKind::Range
        )
    })
}

impl<'a> Emitter<'a> {
    fn new(p: &'a Program, o: &'a Options, profile: Profile, arch: Arch) -> Self {
        let expand = !profile.range_native || arch == Arch::Pna(Flavor::Dpdk);
        let mut fields = BTreeSet::new();
        for t in &p.tables {
            for k in &t.keys {
                if let KeySource::Field(f) = k.source {
                    fields.insert(f);
                }
            }
        }
        Emitter {
            p,
            o,
            profile,
            arch,
            expand,
            fields,
            copies: Vec::new(),
            per_table: BTreeMap::new(),
            meter_vars: 0,
            notes: Vec::new(),
        }
    }

    /// The user metadata parameter's name.
    fn m(&self) -> &'static str {
        match self.arch {
            Arch::Pna(_) => "meta",
            Arch::BlueField => "user_meta",
        }
    }

    /// The main control's name (also the P4Info name prefix).
    fn ctl(&self) -> &'static str {
        match self.arch {
            Arch::Pna(_) => "main_control",
            Arch::BlueField => "dpuc_main",
        }
    }

    /// The first rule (or set) whose table reads `f`, for refusals about a field.
    fn reader_of(&self, f: FieldRef) -> Option<String> {
        self.p
            .tables
            .iter()
            .filter_map(|t| {
                let k = t
                    .keys
                    .iter()
                    .position(|k| matches!(k.source, KeySource::Field(g) if g == f))?;
                Some((t, k))
            })
            .find_map(|(t, k)| {
                // The first rule that tests the field, not merely one in a
                // table that has it as a key.
                let tests =
                    |e: &&dpuc_ir::Entry| !matches!(e.matches.get(k), Some(Match::Any) | None);
                let rule = t.entries.iter().filter(tests).find_map(|e| e.rule);
                match (
                    rule.or_else(|| t.entries.iter().find_map(|e| e.rule)),
                    t.kind,
                ) {
                    (Some(r), _) => Some(self.rule_label(r)),
                    (None, TableKind::SetLookup { set, .. }) => {
                        Some(format!("set {}", self.p.sets.get(set as usize)?.name))
                    }
                    (None, TableKind::Rules { .. }) => None,
                }
            })
    }

    fn rule_label(&self, r: u32) -> String {
        let rule = &self.p.rules[r as usize];
        format!(
            "{}.{}",
            self.p.policies[rule.policy as usize].name, rule.name
        )
    }

    /// Refusals that do not depend on the unfolding.
    fn check(&mut self) -> Result<(), Error> {
        let p = self.p;
        if p.conntrack.is_some() {
            let why = match self.arch {
                Arch::Pna(_) => "connection tracking (PNA tables cannot keep per-connection state that the data plane updates, which §5 needs)",
                Arch::BlueField => "connection tracking (DPL's add-on-miss entries cannot be updated by the data plane, and NvTcpState checks sequence windows, which §5 does not)",
            };
            return Err(Error::unsupported(Some("conntrack"), why));
        }
        for f in &self.fields {
            if self.arch == Arch::Pna(Flavor::Dpdk) && f.field.width() > 64 {
                // p4c-dpdk (1.2.5.16) aborts with a compiler bug on a
                // 128-bit constant: the zero for packets without the
                // header, or a const entry's key.
                return Err(Error::unsupported(
                    self.reader_of(*f).as_deref(),
                    format!(
                        "reading {} in the dpdk flavor (p4c-dpdk aborts on the 128-bit constants it needs)",
                        f.describe()
                    ),
                ));
            }
            self.prologue_for(*f)
                .map_err(|e| e.in_rule(self.reader_of(*f)))?;
        }
        if self.arch == Arch::Pna(Flavor::Dpdk) && self.o.const_entries {
            for t in &p.tables {
                if needs_priority(t, self.expand) && self.p4_entries(t)?.len() > 1 {
                    // Run on DPDK 22.11 and 24.11: p4c-dpdk 1.2.5.16 numbers
                    // const entries so that the last listed wins, the
                    // reverse of P4's order, wherever entries overlap.
                    let who = t
                        .entries
                        .iter()
                        .find_map(|e| e.rule)
                        .map(|r| self.rule_label(r));
                    let who = match (who, t.kind) {
                        (Some(r), _) => Some(r),
                        (None, TableKind::SetLookup { set, .. }) => {
                            p.sets.get(set as usize).map(|s| format!("set {}", s.name))
                        }
                        (None, TableKind::Rules { .. }) => None,
                    };
                    return Err(Error::unsupported(
                        who.as_deref(),
                        "const entries in the dpdk flavor for a table ordered by priority (p4c-dpdk reverses their precedence on DPDK; install them through P4Runtime, without `--const-entries`)",
                    ));
                }
            }
        }
        for m in &p.meters {
            if self.arch == Arch::BlueField {
                return Err(Error::unsupported(
                    Some(&format!("meter {}", m.name)),
                    format!(
                        "meter `{}` (the DOCA meter extern is not publicly documented)",
                        m.name
                    ),
                ));
            }
            if self.arch == Arch::Pna(Flavor::Dpdk) && m.unit == MeterUnit::Bytes {
                return Err(Error::unsupported(
                    Some(&format!("meter {}", m.name)),
                    format!(
                        "byte meter `{}` in the dpdk flavor (p4c-dpdk meters a length the program passes, and PNA does not expose the frame length)",
                        m.name
                    ),
                ));
            }
            let Some([cir, _, pir, _]) = trtcm(m.kind) else {
                return Err(Error::UnsupportedMeter {
                    meter: m.name.clone(),
                    kind: "srTCM (RFC 2697)",
                });
            };
            if m.unit == MeterUnit::Bytes && (cir % 8 != 0 || pir % 8 != 0) {
                return Err(Error::unsupported(
                    Some(&format!("meter {}", m.name)),
                    format!(
                        "byte meter `{}` at a rate not divisible by 8 bit/s (P4Runtime meters take bytes/s)",
                        m.name
                    ),
                ));
            }
            if !m.per.is_empty() {
                return Err(Error::unsupported(
                    Some(&format!("meter {}", m.name)),
                    format!(
                        "per-key meter `{}` (PNA meters are indexed arrays, not keyed)",
                        m.name
                    ),
                ));
            }
        }
        for (i, r) in p.rules.iter().enumerate() {
            let label = self.rule_label(i as u32);
            let mut steps: Vec<&Step> = r.actions.steps.iter().collect();
            let mut terms = Vec::new();
            if let End::Terminal(t) = r.actions.end {
                terms.push(t);
            }
            let mut k = 0;
            while k < steps.len() {
                if let Step::Meter { arms, .. } = steps[k] {
                    for a in arms.iter() {
                        steps.extend(a.steps.iter());
                        terms.extend(a.terminal);
                    }
                }
                k += 1;
            }
            if terms.contains(&Terminal::Reject) {
                return Err(Error::Reject { rule: label });
            }
            for s in steps {
                if self.arch == Arch::BlueField {
                    match s {
                        Step::Mirror(_) => {
                            return Err(Error::unsupported(Some(&label), "`mirror` (the DOCA mirror extern's semantics are not publicly documented)"))
                        }
                        Step::Set { field, .. } if field.field != Field::MetaMark => {
                            return Err(Error::unsupported(Some(&label), format!(
                                "rewriting `{field}` (the DOCA fixed headers' field names are not publicly documented)"
                            )))
                        }
                        _ => {}
                    }
                }
                match s {
                    Step::Log { .. } => {
                        return Err(Error::unsupported(
                            Some(&label),
                            "`log` (PNA has no event stream; a Digest would need a controller)",
                        ))
                    }
                    Step::Set { field, .. } if field.field == Field::CtMark => {
                        return Err(Error::unsupported(
                            Some(&label),
                            "`set ct.mark`".to_string(),
                        ))
                    }
                    Step::Set { field, .. } if field.inner => {
                        return Err(Error::unsupported(Some(&label), "rewriting an inner field"))
                    }
                    Step::Mirror(port) if p.ports[*port as usize].number > 0xffff => {
                        return Err(Error::unsupported(
                            Some(&label),
                            "mirror to port number above 65535",
                        ));
                    }
                    _ => {}
                }
            }
        }
        for pol in &p.policies {
            if pol.default == Some(Terminal::Reject) {
                return Err(Error::Reject {
                    rule: format!("{} (default)", pol.name),
                });
            }
        }
        for n in &p.nodes {
            if *n == Node::Verdict(Terminal::Reject) {
                return Err(Error::Reject {
                    rule: "a policy default".into(),
                });
            }
        }
        for t in &p.tables {
            let worst = t
                .keys
                .iter()
                .enumerate()
                .map(|(ki, _)| p4_kind(t, ki, self.expand))
                .max_by_key(|k| match k {
                    MatchKind::Exact => 0,
                    MatchKind::Lpm => 1,
                    MatchKind::Ternary => 2,
                    MatchKind::Range => 3,
                })
                .unwrap_or(MatchKind::Exact);
            let c = &self.profile.capacity;
            let cap = match worst {
                MatchKind::Exact => c.exact,
                MatchKind::Lpm => c.lpm,
                MatchKind::Ternary => c.ternary,
                MatchKind::Range => c.range,
            };
            let needed = u64::from(t.size).max(self.p4_entries(t)?.len() as u64);
            if needed > cap {
                return Err(Error::Capacity {
                    profile: self.profile.name.clone(),
                    table: t.name.clone(),
                    kind: kind_name(worst),
                    needed,
                    capacity: cap,
                });
            }
        }
        Ok(())
    }

    /// Statements computing `meta.<field>` from the headers.
    fn prologue_for(&self, f: FieldRef) -> Result<Vec<String>, Error> {
        if self.arch == Arch::BlueField {
            crate::bluefield::check_field(f)?;
        }
        let bf = self.arch == Arch::BlueField;
        let h = |n: &str| {
            // The DOCA fixed parser names the Ethernet header `ethernet`.
            let n = if bf && n == "eth" { "ethernet" } else { n };
            match (bf, f.inner) {
                (false, true) => format!("hdr.inner_{n}"),
                (false, false) => format!("hdr.{n}"),
                (true, true) => format!("headers.inner_{n}"),
                (true, false) => format!("headers.{n}"),
            }
        };
        let m = self.m();
        let name = field_name(f);
        // The parser marks an IPv6 header with too many extension headers
        // malformed, which the policy sees as no IPv6 header.
        let layer = if f.inner { "inner_" } else { "" };
        let walk = |n: &str| format!("{m}.{layer}v6_{n}");
        let v = |n: &str| {
            if n == "ipv6" && !bf {
                ipv6_present(layer)
            } else {
                format!("{}.isValid()", h(n))
            }
        };
        let cond_of = |hd: Header| -> Result<String, Error> {
            Ok(match hd {
                Header::Eth => v("eth"),
                Header::Vlan => v("vlan"),
                Header::Ip => format!("{} || {}", v("ipv4"), v("ipv6")),
                Header::Ipv4 => v("ipv4"),
                Header::Ipv6 => v("ipv6"),
                Header::Tcp => v("tcp"),
                Header::Udp => v("udp"),
                Header::Sctp => v("sctp"),
                Header::L4 => format!("{} || {} || {}", v("tcp"), v("udp"), v("sctp")),
                Header::Icmp => format!("{} || {}", v("icmp"), v("icmpv6")),
                Header::Icmpv4 => v("icmp"),
                Header::Icmpv6 => v("icmpv6"),
                Header::Vxlan | Header::Geneve if f.inner => {
                    return Err(Error::unsupported(
                        None,
                        "nested tunnels (inner vxlan/geneve)",
                    ))
                }
                Header::Vxlan => v("vxlan"),
                Header::Geneve => v("geneve"),
            })
        };
        // Alternatives (condition, value); the field is 0 when none holds.
        let w = f.field.width();
        let alts: Vec<(String, String)> = match f.field {
            Field::Valid(hd) => vec![(cond_of(hd)?, "1w1".into())],
            Field::InPort if !f.inner => {
                return Ok(vec![if bf {
                    format!("{m}.{name} = (bit<32>) std_meta.ingress_port;")
                } else {
                    format!("meta.{name} = (PortIdUint_t) istd.input_port;")
                }])
            }
            Field::MetaMark if !f.inner => return Ok(vec![]),
            Field::InPort | Field::MetaMark | Field::MetaLen => {
                return Err(Error::unsupported(
                    None,
                    format!("reading {} (PNA does not expose it)", f.describe()),
                ))
            }
            Field::CtState | Field::CtMark | Field::CtDirection => {
                return Err(Error::unsupported(
                    None,
                    format!("reading {} (no connection tracker)", f.describe()),
                ))
            }
            Field::EthSrc => vec![(v("eth"), format!("{}.src_addr", h("eth")))],
            Field::EthDst => vec![(v("eth"), format!("{}.dst_addr", h("eth")))],
            Field::EthType => vec![
                (v("vlan2"), format!("{}.ether_type", h("vlan2"))),
                (v("vlan"), format!("{}.ether_type", h("vlan"))),
                (v("eth"), format!("{}.ether_type", h("eth"))),
            ],
            Field::VlanId => vec![(v("vlan"), format!("{}.vid", h("vlan")))],
            Field::VlanPcp => vec![(v("vlan"), format!("{}.pcp", h("vlan")))],
            Field::IpVersion => vec![(v("ipv4"), "4w4".into()), (v("ipv6"), "4w6".into())],
            Field::Ip4Src => vec![(v("ipv4"), format!("{}.src_addr", h("ipv4")))],
            Field::Ip4Dst => vec![(v("ipv4"), format!("{}.dst_addr", h("ipv4")))],
            Field::Ip6Src => vec![(v("ipv6"), format!("{}.src_addr", h("ipv6")))],
            Field::Ip6Dst => vec![(v("ipv6"), format!("{}.dst_addr", h("ipv6")))],
            Field::IpProto => vec![
                (v("ipv4"), format!("{}.protocol", h("ipv4"))),
                // After the extension headers (§4.2), as the parser walked them.
                (v("ipv6"), walk("proto")),
            ],
            Field::IpDscp => vec![
                (v("ipv4"), format!("{}.dscp", h("ipv4"))),
                (v("ipv6"), format!("{}.dscp", h("ipv6"))),
            ],
            Field::IpEcn => vec![
                (v("ipv4"), format!("{}.ecn", h("ipv4"))),
                (v("ipv6"), format!("{}.ecn", h("ipv6"))),
            ],
            Field::IpTtl => vec![
                (v("ipv4"), format!("{}.ttl", h("ipv4"))),
                (v("ipv6"), format!("{}.hop_limit", h("ipv6"))),
            ],
            Field::IpFrag => vec![
                (
                    format!("{} && {}.frag_offset != 0", v("ipv4"), h("ipv4")),
                    "2w2".into(),
                ),
                (
                    format!("{} && {}.flags[0:0] == 1", v("ipv4"), h("ipv4")),
                    "2w1".into(),
                ),
                // The last fragment header's, as the parser walked them.
                (v("ipv6"), walk("frag")),
            ],
            Field::TcpSport => vec![(v("tcp"), format!("{}.src_port", h("tcp")))],
            Field::TcpDport => vec![(v("tcp"), format!("{}.dst_port", h("tcp")))],
            Field::TcpFlags => vec![(v("tcp"), format!("{}.flags", h("tcp")))],
            Field::UdpSport => vec![(v("udp"), format!("{}.src_port", h("udp")))],
            Field::UdpDport => vec![(v("udp"), format!("{}.dst_port", h("udp")))],
            Field::L4Sport => ["tcp", "udp", "sctp"]
                .iter()
                .map(|n| (v(n), format!("{}.src_port", h(n))))
                .collect(),
            Field::L4Dport => ["tcp", "udp", "sctp"]
                .iter()
                .map(|n| (v(n), format!("{}.dst_port", h(n))))
                .collect(),
            Field::IcmpType => vec![
                (v("icmp"), format!("{}.type_", h("icmp"))),
                (v("icmpv6"), format!("{}.type_", h("icmpv6"))),
            ],
            Field::IcmpCode => vec![
                (v("icmp"), format!("{}.code", h("icmp"))),
                (v("icmpv6"), format!("{}.code", h("icmpv6"))),
            ],
            Field::VxlanVni | Field::GeneveVni if f.inner => {
                return Err(Error::unsupported(None, "nested tunnels (inner vni)"))
            }
            Field::VxlanVni => vec![(v("vxlan"), "hdr.vxlan.vni".into())],
            Field::GeneveVni => vec![(v("geneve"), "hdr.geneve.vni".into())],
        };
        let mut out = Vec::new();
        for (i, (c, val)) in alts.iter().enumerate() {
            let kw = if i == 0 { "if" } else { "} else if" };
            out.push(format!("{kw} ({c}) {{"));
            out.push(format!("    {m}.{name} = {val};"));
        }
        out.push("} else {".into());
        out.push(format!("    {m}.{name} = {};", lit(w, 0)));
        out.push("}".into());
        Ok(out)
    }

    /// The P4 entries of `t`: the IR's, with ranges rewritten as ternary
    /// prefix covers when the target has no native ranges (one IR entry
    /// becomes the product of its keys' covers, all at its priority; the
    /// covers are disjoint, so no two of them overlap).
    /// A table's constant default action: for a keyless table, whose
    /// entries all match every packet, the action of the highest-priority
    /// entry (a P4 table without keys always runs its default action);
    /// otherwise `no_match`.
    fn default_action(&self, t: &Table) -> String {
        match t.entries.iter().max_by_key(|e| e.priority) {
            Some(top) if t.keys.is_empty() && top.rule.is_some() => self.entry_action(t, top.rule),
            _ => "no_match".into(),
        }
    }

    /// The P4 entries of `t` (none for a keyless table: see
    /// [`Self::default_action`]).
    fn p4_entries(&self, t: &Table) -> Result<Vec<P4Entry>, Error> {
        let mut out: Vec<P4Entry> = Vec::new();
        if t.keys.is_empty() {
            return Ok(out);
        }
        for e in &t.entries {
            let mut combos: Vec<Vec<Match>> = vec![Vec::new()];
            for (ki, m) in e.matches.iter().enumerate() {
                let w = t.keys.get(ki).map_or(1, |k| k.source.width());
                let alts: Vec<Match> = match *m {
                    Match::Range { lo, hi } if self.expand => {
                        if lo == 0 && hi == dpuc_ir::prefix_mask(w, w) {
                            vec![Match::Any]
                        } else {
                            range_cover(lo, hi, w)
                                .into_iter()
                                .map(|(value, mask)| Match::Ternary { value, mask })
                                .collect()
                        }
                    }
                    other => vec![other],
                };
                if combos.len().saturating_mul(alts.len()) > MAX_EXPANDED_ENTRIES {
                    return Err(Error::RangeExpansion {
                        table: t.name.clone(),
                        limit: MAX_EXPANDED_ENTRIES,
                    });
                }
                combos = combos
                    .into_iter()
                    .flat_map(|c| {
                        alts.iter().map(move |a| {
                            let mut c = c.clone();
                            c.push(*a);
                            c
                        })
                    })
                    .collect();
            }
            for c in combos {
                out.push((e.priority, c, e.rule));
            }
            if out.len() > MAX_EXPANDED_ENTRIES {
                return Err(Error::RangeExpansion {
                    table: t.name.clone(),
                    limit: MAX_EXPANDED_ENTRIES,
                });
            }
        }
        // An entry whose key equals a higher-priority entry's can never
        // win, and P4 refuses duplicate keys (p4c for const entries,
        // P4Runtime with ALREADY_EXISTS), so it is left out.
        let mut by_priority: Vec<usize> = (0..out.len()).collect();
        by_priority.sort_by_key(|&i| std::cmp::Reverse(out[i].0));
        let mut seen = std::collections::HashSet::new();
        let mut shadowed = vec![false; out.len()];
        for i in by_priority {
            shadowed[i] = !seen.insert(out[i].1.clone());
        }
        let mut keep = shadowed.iter().map(|s| !s);
        out.retain(|_| keep.next().unwrap_or(true));
        Ok(out)
    }

    /// The declared size of `t` in P4: at least its entry count; DOCA
    /// wants a power of two below 2^23 and keeps one slot for the default
    /// entry.
    fn table_size(&self, t: &Table) -> u64 {
        let n = self.p4_entries(t).map_or(t.entries.len(), |e| e.len()) as u64;
        let base = u64::from(t.size).max(n).max(1);
        match self.arch {
            Arch::BlueField => (base.max(n + 1)).next_power_of_two(),
            Arch::Pna(_) => base,
        }
    }

    fn table_base(&self, t: TableId) -> String {
        format!("tbl_{}", sanitize(&self.p.tables[t as usize].name))
    }

    fn action_name(&self, r: u32) -> String {
        format!("rule_{r}_{}", sanitize(&self.p.rules[r as usize].name))
    }

    fn hit_action(&self, h: u32) -> String {
        format!("set_hit_{h}")
    }

    fn apply_table(&mut self, t: TableId) -> Result<String, Error> {
        if self.copies.len() >= self.o.max_applications {
            return Err(Error::TooManyApplications(self.o.max_applications));
        }
        let n = {
            let n = self.per_table.entry(t).or_insert(0);
            *n += 1;
            *n
        };
        let name = if n == 1 {
            self.table_base(t)
        } else {
            format!("{}__{}", self.table_base(t), n)
        };
        let id = TABLE_ID | (self.copies.len() as u32 + 1);
        self.copies.push(Copy {
            table: t,
            name: name.clone(),
            id,
        });
        Ok(name)
    }

    fn verdict(&self, t: Terminal, accept_to: Option<u32>, out: &mut String, ind: &str) {
        match t {
            Terminal::Accept => match accept_to {
                Some(port) => {
                    let _ = writeln!(out, "{ind}{};", self.send(port));
                }
                None => {
                    let _ = writeln!(
                        out,
                        "{ind}// accept: keep the architecture's default destination"
                    );
                }
            },
            Terminal::Drop | Terminal::Reject => {
                let _ = writeln!(out, "{ind}{};", self.drop());
            }
            Terminal::Forward(port) => {
                let num = self.p.ports[port as usize].number;
                let _ = writeln!(out, "{ind}{};", self.send(num));
            }
        }
    }

    /// The statement that drops the packet.
    fn drop(&self) -> &'static str {
        match self.arch {
            Arch::Pna(_) => "drop_packet()",
            Arch::BlueField => "nv_drop()",
        }
    }

    /// The statement that sends the packet to port number `num`.
    fn send(&self, num: u32) -> String {
        match self.arch {
            Arch::Pna(_) => format!("send_to_port((PortId_t) 32w{num})"),
            Arch::BlueField => format!("nv_send_to_port(32w{num})"),
        }
    }

    fn port_num(&self, p: PortId) -> u32 {
        self.p.ports[p as usize].number
    }

    fn simple_step(&mut self, s: &Step, out: &mut String, ind: &str) {
        match s {
            Step::Count(c) if self.arch == Arch::Pna(Flavor::Dpdk) => {
                let i = self.p.rules.len() as u32 + c;
                let _ = writeln!(out, "{ind}rule_hits.count(32w{i});");
            }
            Step::Count(c) => {
                let _ = writeln!(out, "{ind}named_counters.count(32w{c});");
            }
            Step::Set { field, value } => {
                let w = field.field.width();
                let v = lit(w, *value);
                match field.field {
                    Field::IpDscp | Field::IpEcn => {
                        let n = if field.field == Field::IpDscp {
                            "dscp"
                        } else {
                            "ecn"
                        };
                        let _ = writeln!(out, "{ind}if (hdr.ipv4.isValid() && hdr.ipv4.ihl == 5) {{ hdr.ipv4.{n} = {v}; }}");
                        let _ = writeln!(
                            out,
                            "{ind}if {} {{ hdr.ipv6.{n} = {v}; }}",
                            ipv6_present("")
                        );
                    }
                    Field::VlanPcp => {
                        let _ = writeln!(
                            out,
                            "{ind}if (hdr.vlan.isValid()) {{ hdr.vlan.pcp = {v}; }}"
                        );
                    }
                    _ => {}
                }
                // Later tables read the metadata copy, so keep it in step
                // with the header (only when the header is present).
                if self.fields.contains(field) || field.field == Field::MetaMark {
                    let name = field_name(*field);
                    let guard = match field.field.header() {
                        Some(Header::Ip) => {
                            Some(format!("hdr.ipv4.isValid() || {}", ipv6_present("")))
                        }
                        Some(Header::Vlan) => Some("hdr.vlan.isValid()".to_string()),
                        _ => None,
                    };
                    match guard {
                        Some(g) => {
                            let _ = writeln!(out, "{ind}if ({g}) {{ {}.{name} = {v}; }}", self.m());
                        }
                        None => {
                            let _ = writeln!(out, "{ind}{}.{name} = {v};", self.m());
                        }
                    }
                }
            }
            Step::Mirror(p) => {
                let num = self.port_num(*p);
                let _ = writeln!(
                    out,
                    "{ind}mirror_packet((MirrorSlotId_t) 8w0, (MirrorSessionId_t) 16w{num});"
                );
            }
            // Without conntrack (refused otherwise) there is nothing to skip.
            Step::NoTrack => {}
            // Refused in `check`; meters are handled by `steps`.
            Step::Log { .. } | Step::Meter { .. } => {}
        }
    }

    /// Emits `steps`, then `rest` (the rule's end), splitting at meters so
    /// each colour's arm runs its steps and either its verdict or the rest.
    fn steps(
        &mut self,
        steps: &[Step],
        rest: &dyn Fn(&mut Self, &mut String, &str) -> Result<(), Error>,
        accept_to: Option<u32>,
        out: &mut String,
        ind: &str,
    ) -> Result<(), Error> {
        for (i, s) in steps.iter().enumerate() {
            if let Step::Meter { meter, arms } = s {
                let var = format!("color_{}", self.meter_vars);
                self.meter_vars += 1;
                let mname = format!("meter_{}", sanitize(&self.p.meters[*meter as usize].name));
                let colours = if self.arch == Arch::Pna(Flavor::Dpdk) {
                    // Run on DPDK 22.11 and 24.11: p4c-dpdk passes PNA's
                    // colour numbers (RED 0, GREEN 1, YELLOW 2) through,
                    // and DPDK's are GREEN 0, YELLOW 1, RED 2. So the input
                    // colour RED is DPDK's green (colour-blind), and the
                    // result reads green as RED and yellow as GREEN. The
                    // length, 1 per packet, must not be a constant, which
                    // DPDK's meter instruction refuses.
                    let m = self.m();
                    let _ = writeln!(
                        out,
                        "{ind}PNA_MeterColor_t {var} = {mname}.dpdk_execute(32w0, PNA_MeterColor_t.RED, {m}.meter_len);"
                    );
                    ["RED", "GREEN", "YELLOW"]
                } else {
                    let _ = writeln!(out, "{ind}PNA_MeterColor_t {var} = {mname}.execute(32w0);");
                    ["GREEN", "YELLOW", "RED"]
                };
                for (k, arm) in arms.iter().enumerate() {
                    let kw = if k == 0 { "if" } else { "} else if" };
                    if k == 2 {
                        let _ = writeln!(out, "{ind}}} else {{");
                    } else {
                        let _ = writeln!(
                            out,
                            "{ind}{kw} ({var} == PNA_MeterColor_t.{}) {{",
                            colours[k]
                        );
                    }
                    let inner = format!("{ind}    ");
                    for st in &arm.steps {
                        self.simple_step(st, out, &inner);
                    }
                    match arm.terminal {
                        Some(t) => self.verdict(t, accept_to, out, &inner),
                        None => self.steps(&steps[i + 1..], rest, accept_to, out, &inner)?,
                    }
                }
                let _ = writeln!(out, "{ind}}}");
                return Ok(());
            }
            self.simple_step(s, out, ind);
        }
        rest(self, out, ind)
    }

    /// Emits node `n` and everything after it.
    fn node(
        &mut self,
        n: NodeId,
        accept_to: Option<u32>,
        out: &mut String,
        ind: &str,
    ) -> Result<(), Error> {
        match self.p.nodes[n as usize].clone() {
            Node::Verdict(t) => {
                self.verdict(t, accept_to, out, ind);
                Ok(())
            }
            Node::Lookup { table, next } => {
                let name = self.apply_table(table)?;
                let _ = writeln!(out, "{ind}{name}.apply();");
                self.node(next, accept_to, out, ind)
            }
            Node::Rules { table, next, jumps } => {
                let name = self.apply_table(table)?;
                let _ = writeln!(out, "{ind}switch ({name}.apply().action_run) {{");
                let mut rules: Vec<u32> = self.p.tables[table as usize]
                    .entries
                    .iter()
                    .filter_map(|e| e.rule)
                    .collect();
                rules.sort_unstable();
                rules.dedup();
                let inner = format!("{ind}    ");
                let body = format!("{ind}        ");
                for r in rules {
                    let _ = writeln!(out, "{inner}{}: {{", self.action_name(r));
                    let actions = self.p.rules[r as usize].actions.clone();
                    let jump = jumps.iter().find(|(jr, _)| *jr == r).map(|(_, to)| *to);
                    let rest = move |e: &mut Self, o: &mut String, i: &str| match actions.end {
                        End::Continue => e.node(next, accept_to, o, i),
                        End::Terminal(t) => {
                            e.verdict(t, accept_to, o, i);
                            Ok(())
                        }
                        End::Jump(_) => e.node(jump.unwrap_or(next), accept_to, o, i),
                    };
                    let steps = self.p.rules[r as usize].actions.steps.clone();
                    self.steps(&steps, &rest, accept_to, out, &body)?;
                    let _ = writeln!(out, "{inner}}}");
                }
                let _ = writeln!(out, "{inner}default: {{");
                self.node(next, accept_to, out, &body)?;
                let _ = writeln!(out, "{inner}}}");
                let _ = writeln!(out, "{ind}}}");
                Ok(())
            }
        }
    }

    fn run(&mut self) -> Result<Artifact, Error> {
        let p = self.p;
        // Control flow first: it decides the table copies.
        let mut flow = String::new();
        match &p.pipeline {
            Pipeline::Single { entry } => {
                let to = self.o.accept_port;
                self.node(*entry, to, &mut flow, "        ")?;
            }
            Pipeline::Lines(lines) => {
                for (i, l) in lines.iter().enumerate() {
                    let kw = if i == 0 { "if" } else { "} else if" };
                    let from = self.port_num(l.from);
                    let cond = match self.arch {
                        Arch::Pna(_) => format!("istd.input_port == (PortId_t) 32w{from}"),
                        Arch::BlueField => format!("std_meta.ingress_port == {from}"),
                    };
                    let _ = writeln!(flow, "        {kw} ({cond}) {{");
                    let to = self.port_num(l.to);
                    self.node(l.entry, Some(to), &mut flow, "            ")?;
                }
                let drop = self.drop();
                if lines.is_empty() {
                    let _ = writeln!(flow, "        {drop};");
                } else {
                    let _ = writeln!(
                        flow,
                        "        }} else {{\n            // other ports drop\n            {drop};\n        }}"
                    );
                }
            }
        }
        let p4 = self.p4(&flow)?;
        let p4info = self.p4info()?;
        let entries = if self.o.const_entries {
            self.json_entries(false)
        } else {
            self.json_entries(true)
        };
        let report = self.report();
        Ok(Artifact {
            p4,
            p4info,
            entries,
            report,
        })
    }

    /// Whether meters take the length they meter from `meta.meter_len`
    /// (p4c-dpdk's `dpdk_execute`).
    fn meters_by_length(&self) -> bool {
        self.arch == Arch::Pna(Flavor::Dpdk) && !self.p.meters.is_empty()
    }

    fn rewrites_ipv4(&self) -> bool {
        fn walk(s: &[Step]) -> bool {
            s.iter().any(|s| match s {
                Step::Set { field, .. } => matches!(field.field, Field::IpDscp | Field::IpEcn),
                Step::Meter { arms, .. } => arms.iter().any(|a| walk(&a.steps)),
                _ => false,
            })
        }
        self.p.rules.iter().any(|r| walk(&r.actions.steps))
    }

    fn key_expr(&self, k: KeySource) -> String {
        match k {
            KeySource::Field(f) => format!("{}.{}", self.m(), field_name(f)),
            KeySource::Hit(h) => format!("{}.hit_{h}", self.m()),
        }
    }

    fn match_p4(&self, t: &Table, ki: usize, m: &Match) -> String {
        let k = t.keys[ki];
        let w = k.source.width();
        let all = dpuc_ir::prefix_mask(w, w);
        match (*m, p4_kind(t, ki, self.expand)) {
            (Match::Any, _) => "_".into(),
            (Match::Exact(v), MatchKind::Range) => format!("{} .. {}", lit(w, v), lit(w, v)),
            (Match::Exact(v), MatchKind::Exact) => lit(w, v),
            (Match::Exact(v), _) => format!("{} &&& {}", lit(w, v), lit(w, all)),
            (Match::Lpm { value, len }, _) => {
                let mask = dpuc_ir::prefix_mask(w, len);
                format!("{} &&& {}", lit(w, value & mask), lit(w, mask))
            }
            (Match::Ternary { value, mask }, _) => {
                format!("{} &&& {}", lit(w, value), lit(w, mask))
            }
            (Match::Range { lo, hi }, _) => format!("{} .. {}", lit(w, lo), lit(w, hi)),
        }
    }

    fn entry_action(&self, t: &Table, rule: Option<u32>) -> String {
        match (t.kind, rule) {
            (_, Some(r)) => self.action_name(r),
            (TableKind::SetLookup { hit, .. }, None) => self.hit_action(hit),
            (TableKind::Rules { .. }, None) => "NoAction".into(),
        }
    }

    fn p4(&self, flow: &str) -> Result<String, Error> {
        let p = self.p;
        let mut s = String::new();
        let m = self.m();
        let target = match self.arch {
            Arch::Pna(Flavor::Reference) => "PNA",
            Arch::Pna(Flavor::Dpdk) => "PNA, p4c-dpdk flavor",
            Arch::BlueField => "NVIDIA BlueField, DOCA Pipeline Language",
        };
        let _ = writeln!(
            s,
            "// Generated by dpuc from policy `{}` for {target} (profile {}).",
            p.name, self.profile.name
        );
        match self.arch {
            Arch::Pna(Flavor::Reference) => s.push_str("#include <core.p4>\n#include <pna.p4>\n\n"),
            Arch::Pna(Flavor::Dpdk) => s.push_str("#include <core.p4>\n#include <dpdk/pna.p4>\n\n"),
            // The DOCA includes bring core.p4, the fixed parser and the
            // standard header struct `nv_headers_t`.
            Arch::BlueField => s.push_str(
                "#include <doca_model.p4>\n#include <doca_headers.p4>\n#include <doca_externs.p4>\n#include <doca_parser.p4>\n\n",
            ),
        }
        if let Arch::Pna(_) = self.arch {
            s.push_str(headers::HEADERS_P4);
            s.push_str("\nstruct headers_t {\n");
            for (n, ty) in headers::instances() {
                let _ = writeln!(s, "    {ty} {n};");
            }
            s.push_str("}\n\n");
        }
        s.push_str("struct metadata_t {\n    bit<32> rule;\n");
        let mut meta: BTreeSet<String> = BTreeSet::new();
        for f in &self.fields {
            let _ = writeln!(s, "    bit<{}> {};", f.field.width(), field_name(*f));
            meta.insert(field_name(*f));
        }
        if !meta.contains("f_meta_mark") {
            s.push_str("    bit<32> f_meta_mark;\n");
        }
        if self.meters_by_length() {
            s.push_str("    bit<32> meter_len;\n");
        }
        if matches!(self.arch, Arch::Pna(_)) {
            s.push_str(headers::PARSER_METADATA);
        }
        for h in 0..p.hits {
            let _ = writeln!(s, "    bit<1> hit_{h};");
        }
        s.push_str("}\n\n");
        match self.arch {
            Arch::Pna(_) => {
                s.push_str(&headers::parser());
                s.push_str(PRE_CONTROL_P4);
                s.push_str("control main_control(inout headers_t hdr, inout metadata_t meta,\n                     in pna_main_input_metadata_t istd,\n                     inout pna_main_output_metadata_t ostd) {\n");
            }
            Arch::BlueField => {
                s.push_str("control dpuc_main(inout nv_headers_t headers,\n                  in nv_standard_metadata_t std_meta,\n                  inout metadata_t user_meta,\n                  inout nv_empty_metadata_t pkt_out_meta) {\n");
            }
        }
        for (id, name, size) in self.counters() {
            let decl = match self.arch {
                Arch::Pna(Flavor::Reference) => format!(
                    "Counter<bit<64>, bit<32>>(32w{size}, PNA_CounterType_t.PACKETS_AND_BYTES)"
                ),
                // p4c-dpdk counts bytes only through `count(index, length)`.
                Arch::Pna(Flavor::Dpdk) => {
                    format!("Counter<bit<64>, bit<32>>(32w{size}, PNA_CounterType_t.PACKETS)")
                }
                Arch::BlueField => {
                    format!("NvCounter(32w{size}, NvCounterType.PACKETS_AND_BYTES)")
                }
            };
            let _ = writeln!(s, "    @id(0x{id:08x}) {decl} {name};");
        }
        for (i, m) in p.meters.iter().enumerate() {
            let unit = match m.unit {
                MeterUnit::Packets => "PACKETS",
                MeterUnit::Bytes => "BYTES",
            };
            let _ = writeln!(
                s,
                "    @id(0x{:08x}) Meter<bit<32>>(32w1, PNA_MeterType_t.{unit}) meter_{};",
                METER_ID | (i as u32 + 1),
                sanitize(&m.name)
            );
        }
        if self.rewrites_ipv4() {
            // Externs are instantiated at control scope, never in `apply`.
            s.push_str("    InternetChecksum() ipv4_ck;\n");
        }
        s.push('\n');
        let _ = writeln!(s, "    @id(0x{NOACTION_ID:08x}) action no_match() {{ }}");
        for h in 0..p.hits {
            let _ = writeln!(
                s,
                "    @id(0x{:08x}) action {}() {{ {m}.hit_{h} = 1w1; }}",
                ACTION_ID | (0x0010_0000 + h),
                self.hit_action(h)
            );
        }
        for (r, _) in p.rules.iter().enumerate() {
            let r = r as u32;
            let _ = writeln!(
                s,
                "    @id(0x{:08x}) action {}() {{ {m}.rule = 32w{r}; rule_hits.count(32w{r}); }}",
                ACTION_ID | (r + 1),
                self.action_name(r)
            );
        }
        s.push('\n');
        for c in &self.copies {
            let t = &p.tables[c.table as usize];
            let _ = writeln!(s, "    @id(0x{:08x})", c.id);
            let _ = writeln!(s, "    table {} {{", c.name);
            if !t.keys.is_empty() {
                s.push_str("        key = {\n");
                for (ki, k) in t.keys.iter().enumerate() {
                    let _ = writeln!(
                        s,
                        "            {}: {};",
                        self.key_expr(k.source),
                        kind_name(p4_kind(t, ki, self.expand))
                    );
                }
                s.push_str("        }\n");
            }
            s.push_str("        actions = {\n");
            for a in self.table_actions(t) {
                let _ = writeln!(s, "            {a};");
            }
            s.push_str("            @defaultonly no_match;\n        }\n");
            let _ = writeln!(
                s,
                "        const default_action = {}();",
                self.default_action(t)
            );
            let _ = writeln!(s, "        size = {};", self.table_size(t));
            let mut es = self.p4_entries(t)?;
            if self.o.const_entries && !es.is_empty() {
                // Listed highest priority first: p4c gives earlier const
                // entries precedence (the sort is stable, so an expanded
                // range keeps its order).
                es.sort_by_key(|e| std::cmp::Reverse(e.0));
                s.push_str("        const entries = {\n");
                for (_, matches, rule) in es {
                    let ms: Vec<String> = matches
                        .iter()
                        .enumerate()
                        .map(|(i, m)| self.match_p4(t, i, m))
                        .collect();
                    let _ = writeln!(
                        s,
                        "            ({}) : {}();",
                        ms.join(", "),
                        self.entry_action(t, rule)
                    );
                }
                s.push_str("        }\n");
            }
            s.push_str("    }\n\n");
        }
        let _ = writeln!(s, "    apply {{\n        {m}.rule = 32w0xffffffff;");
        for h in 0..p.hits {
            let _ = writeln!(s, "        {m}.hit_{h} = 1w0;");
        }
        // The mark starts at 0 for every packet (DPL §meta.mark).
        let _ = writeln!(s, "        {m}.f_meta_mark = 32w0;");
        if self.meters_by_length() {
            // What p4c cannot fold into a constant (every parsed frame has
            // an Ethernet header on DPDK, whose extract does not fail).
            let _ = writeln!(
                s,
                "        {m}.meter_len = hdr.eth.isValid() ? 32w1 : 32w0;"
            );
        }
        for f in &self.fields {
            for line in self.prologue_for(*f)? {
                let _ = writeln!(s, "        {line}");
            }
        }
        s.push_str(flow);
        if self.rewrites_ipv4() {
            s.push_str(IPV4_CSUM_P4);
        }
        s.push_str("    }\n}\n\n");
        match self.arch {
            Arch::Pna(_) => {
                s.push_str(&headers::deparser());
                s.push_str(
                    "PNA_NIC(main_parser(), pre_control(), main_control(), main_deparser()) main;\n",
                );
            }
            Arch::BlueField => {
                s.push_str("NvDocaPipeline(nv_fixed_parser(), dpuc_main()) main;\n");
            }
        }
        Ok(s)
    }

    /// The indexed counters: id, name, size (DOCA wants powers of two).
    fn counters(&self) -> Vec<(u32, &'static str, usize)> {
        let size = |n: usize| match self.arch {
            Arch::BlueField => n.max(1).next_power_of_two(),
            Arch::Pna(_) => n.max(1),
        };
        if self.arch == Arch::Pna(Flavor::Dpdk) {
            // Named counters follow the rules' in one array: DPDK (22.11
            // to 24.11, run) adds a constant-index `regadd` to the first
            // register array whatever array it names, so a second counter
            // array would count into the first.
            let n = self.p.rules.len() + self.p.counters.len();
            return vec![(COUNTER_ID | 1, "rule_hits", size(n))];
        }
        let mut v = vec![(COUNTER_ID | 1, "rule_hits", size(self.p.rules.len()))];
        if !self.p.counters.is_empty() {
            v.push((
                COUNTER_ID | 2,
                "named_counters",
                size(self.p.counters.len()),
            ));
        }
        v
    }

    fn table_actions(&self, t: &Table) -> Vec<String> {
        let mut v: Vec<String> = t
            .entries
            .iter()
            .map(|e| self.entry_action(t, e.rule))
            .collect();
        if let TableKind::SetLookup { hit, .. } = t.kind {
            v.push(self.hit_action(hit));
        }
        let mut seen = BTreeSet::new();
        v.retain(|a| seen.insert(a.clone()) && a != "NoAction");
        v
    }

    fn action_id(&self, name: &str) -> u32 {
        if let Some(h) = name
            .strip_prefix("set_hit_")
            .and_then(|h| h.parse::<u32>().ok())
        {
            return ACTION_ID | (0x0010_0000 + h);
        }
        (0..self.p.rules.len() as u32)
            .find(|r| self.action_name(*r) == name)
            .map(|r| ACTION_ID | (r + 1))
            .unwrap_or(NOACTION_ID)
    }

    fn p4info(&self) -> Result<String, Error> {
        let p = self.p;
        let ctl = self.ctl();
        let arch = match self.arch {
            Arch::Pna(_) => "pna",
            Arch::BlueField => "doca",
        };
        let mut s = format!("pkg_info {{\n  arch: \"{arch}\"\n}}\n");
        for c in &self.copies {
            let t = &p.tables[c.table as usize];
            let _ = writeln!(s, "tables {{\n  preamble {{\n    id: {}\n    name: \"{}.{}\"\n    alias: \"{}\"\n  }}", c.id, self.ctl(), c.name, c.name);
            for (i, k) in t.keys.iter().enumerate() {
                let mt = match p4_kind(t, i, self.expand) {
                    MatchKind::Exact => "EXACT",
                    MatchKind::Lpm => "LPM",
                    MatchKind::Ternary => "TERNARY",
                    MatchKind::Range => "RANGE",
                };
                let _ = writeln!(s, "  match_fields {{\n    id: {}\n    name: \"{}\"\n    bitwidth: {}\n    match_type: {mt}\n  }}", i + 1, self.key_expr(k.source), k.source.width());
            }
            for a in self.table_actions(t) {
                let _ = writeln!(s, "  action_refs {{\n    id: {}\n  }}", self.action_id(&a));
            }
            let _ = writeln!(s, "  action_refs {{\n    id: {NOACTION_ID}\n    annotations: \"@defaultonly\"\n    scope: DEFAULT_ONLY\n  }}");
            let default = self.action_id(&self.default_action(t));
            let _ = writeln!(
                s,
                "  const_default_action_id: {default}\n  initial_default_action {{\n    action_id: {default}\n  }}"
            );
            // Only a table the program lists `const entries` for is const
            // (p4c says the same; a keyless table never has entries).
            if self.o.const_entries && !self.p4_entries(t)?.is_empty() {
                s.push_str("  is_const_table: true\n  has_initial_entries: true\n");
            }
            let _ = writeln!(s, "  size: {}\n}}", self.table_size(t));
        }
        let mut actions: Vec<(u32, String)> = vec![(NOACTION_ID, "no_match".into())];
        for h in 0..p.hits {
            actions.push((ACTION_ID | (0x0010_0000 + h), self.hit_action(h)));
        }
        for r in 0..p.rules.len() as u32 {
            actions.push((ACTION_ID | (r + 1), self.action_name(r)));
        }
        actions.sort();
        for (id, n) in actions {
            let _ = writeln!(s, "actions {{\n  preamble {{\n    id: {id}\n    name: \"{ctl}.{n}\"\n    alias: \"{n}\"\n  }}\n}}");
        }
        let counters = self.counters();
        let unit = match self.arch {
            Arch::Pna(Flavor::Dpdk) => "PACKETS",
            _ => "BOTH",
        };
        for (id, n, size) in counters {
            let _ = writeln!(s, "counters {{\n  preamble {{\n    id: {id}\n    name: \"{ctl}.{n}\"\n    alias: \"{n}\"\n  }}\n  spec {{\n    unit: {unit}\n  }}\n  size: {size}\n}}");
        }
        for (i, m) in p.meters.iter().enumerate() {
            let unit = match m.unit {
                MeterUnit::Packets => "PACKETS",
                MeterUnit::Bytes => "BYTES",
            };
            let n = format!("meter_{}", sanitize(&m.name));
            let _ = writeln!(s, "meters {{\n  preamble {{\n    id: {}\n    name: \"{ctl}.{n}\"\n    alias: \"{n}\"\n  }}\n  spec {{\n    unit: {unit}\n  }}\n  size: 1\n}}", METER_ID | (i as u32 + 1));
        }
        Ok(s)
    }

    fn json_entries(&self, with_tables: bool) -> String {
        use serde_json::{json, Value};
        let p = self.p;
        let mut updates: Vec<Value> = Vec::new();
        if with_tables {
            for c in &self.copies {
                let t = &p.tables[c.table as usize];
                let prio = needs_priority(t, self.expand);
                for (priority, matches, rule) in self.p4_entries(t).unwrap_or_default() {
                    let mut fields = Vec::new();
                    for (i, m) in matches.iter().enumerate() {
                        let k = t.keys[i];
                        let w = k.source.width();
                        let fid = i + 1;
                        let v = match (*m, p4_kind(t, i, self.expand)) {
                            (Match::Any, _) => continue,
                            (Match::Exact(v), MatchKind::Exact) => {
                                json!({"fieldId": fid, "exact": {"value": bytes_json(v)}})
                            }
                            (Match::Exact(v), MatchKind::Range) => {
                                json!({"fieldId": fid, "range": {"low": bytes_json(v), "high": bytes_json(v)}})
                            }
                            (Match::Exact(v), MatchKind::Lpm) => {
                                json!({"fieldId": fid, "lpm": {"value": bytes_json(v), "prefixLen": w}})
                            }
                            (Match::Exact(v), _) => {
                                json!({"fieldId": fid, "ternary": {"value": bytes_json(v), "mask": bytes_json(dpuc_ir::prefix_mask(w, w))}})
                            }
                            (Match::Lpm { value, len }, MatchKind::Lpm) => {
                                if len == 0 {
                                    continue;
                                }
                                let mask = dpuc_ir::prefix_mask(w, len);
                                json!({"fieldId": fid, "lpm": {"value": bytes_json(value & mask), "prefixLen": len}})
                            }
                            (Match::Lpm { value, len }, _) => {
                                let mask = dpuc_ir::prefix_mask(w, len);
                                if mask == 0 {
                                    continue;
                                }
                                json!({"fieldId": fid, "ternary": {"value": bytes_json(value & mask), "mask": bytes_json(mask)}})
                            }
                            (Match::Ternary { value, mask }, _) => {
                                if mask == 0 {
                                    continue;
                                }
                                json!({"fieldId": fid, "ternary": {"value": bytes_json(value), "mask": bytes_json(mask)}})
                            }
                            (Match::Range { lo, hi }, _) => {
                                if lo == 0 && hi == dpuc_ir::prefix_mask(w, w) {
                                    continue;
                                }
                                json!({"fieldId": fid, "range": {"low": bytes_json(lo), "high": bytes_json(hi)}})
                            }
                        };
                        fields.push(v);
                    }
                    let aid = self.action_id(&self.entry_action(t, rule));
                    let mut te = json!({
                        "tableId": c.id,
                        "match": fields,
                        "action": {"action": {"actionId": aid}},
                    });
                    if prio {
                        te["priority"] = json!(priority.max(1));
                    }
                    updates.push(json!({"type": "INSERT", "entity": {"tableEntry": te}}));
                }
            }
        }
        for (i, m) in p.meters.iter().enumerate() {
            if let Some([cir, cbs, pir, pbs]) = trtcm(m.kind) {
                // P4Runtime byte meters take bytes/s; the IR gives bits/s.
                let (cir, pir) = match m.unit {
                    MeterUnit::Bytes => (cir / 8, pir / 8),
                    MeterUnit::Packets => (cir, pir),
                };
                updates.push(json!({"type": "MODIFY", "entity": {"meterEntry": {
                    "meterId": METER_ID | (i as u32 + 1),
                    "index": {"index": "0"},
                    "config": {"cir": cir.to_string(), "cburst": cbs.to_string(),
                               "pir": pir.to_string(), "pburst": pbs.to_string()}
                }}}));
            }
        }
        let v = json!({ "updates": updates });
        serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
    }

    fn report(&mut self) -> String {
        let p = self.p;
        let mut s = String::new();
        let target = match self.arch {
            Arch::Pna(Flavor::Reference) => "pna",
            Arch::Pna(Flavor::Dpdk) => "pna, flavor dpdk",
            Arch::BlueField => "bluefield",
        };
        let _ = writeln!(s, "target: {target} (profile {})", self.profile.name);
        let _ = writeln!(s, "profile: {}", self.profile.description);
        s.push_str("tables:\n");
        for c in &self.copies {
            let t = &p.tables[c.table as usize];
            let kinds: Vec<String> = t
                .keys
                .iter()
                .enumerate()
                .map(|(ki, k)| {
                    let pk = p4_kind(t, ki, self.expand);
                    if pk == k.kind {
                        kind_name(pk).to_string()
                    } else {
                        format!("{}->{}", kind_name(k.kind), kind_name(pk))
                    }
                })
                .collect();
            let p4 = self.p4_entries(t).map_or(0, |e| e.len());
            let expanded = if p4 == t.entries.len() {
                String::new()
            } else {
                format!(" ({p4} after range expansion)")
            };
            let _ = writeln!(
                s,
                "  {} (IR table {}): keys [{}], {} entries{expanded}, size {}",
                c.name,
                t.name,
                kinds.join(", "),
                t.entries.len(),
                t.size
            );
        }
        let c = &self.profile.capacity;
        let _ = writeln!(
            s,
            "capacity: exact {}, lpm {}, ternary {}, range {}",
            c.exact, c.lpm, c.ternary, c.range
        );
        s.push_str("emulated:\n");
        if p.tables.iter().any(|t| {
            matches!(t.kind, TableKind::Rules { .. })
                && t.keys.iter().any(|k| k.kind == MatchKind::Lpm)
        }) {
            self.notes.push(
                "lpm keys of rule tables are matched as ternary so IR priorities decide".into(),
            );
        }
        if self.copies.len() > p.tables.len() {
            self.notes.push("tables applied from several nodes are emitted as suffixed copies (entries replicated)".into());
        }
        if self.expand
            && p.tables
                .iter()
                .any(|t| t.keys.iter().any(|k| k.kind == MatchKind::Range))
        {
            self.notes.push(
                "range keys are ternary: each range entry becomes its prefix cover, at the entry's priority".into(),
            );
        }
        match self.arch {
            Arch::BlueField => {
                self.notes.push("rule hit counters: one NvCounter `rule_hits`, index = rule id (packets and bytes); counter and table sizes rounded up to powers of two".into());
            }
            Arch::Pna(Flavor::Dpdk) => {
                self.notes.push("rule hit counters: one indexed Counter `rule_hits`, index = rule id; packets only (p4c-dpdk counts bytes only when given a frame length)".into());
                if !p.counters.is_empty() {
                    self.notes.push(format!("named counters: `rule_hits` from index {} (named counter i at {} + i), as DPDK counts a second counter array into the first", p.rules.len(), p.rules.len()));
                }
            }
            Arch::Pna(Flavor::Reference) => {
                self.notes.push(
                    "rule hit counters: one indexed Counter `rule_hits`, index = rule id".into(),
                );
            }
        }
        if !p.meters.is_empty() {
            self.notes.push("trTCM meters: PNA Meter, colour-blind execute; rates set through P4Runtime MeterEntry (byte meters: bits/s / 8); a token bucket is a trTCM with CIR = PIR and CBS = PBS".into());
        }
        if p.rules
            .iter()
            .any(|r| r.actions.steps.iter().any(|s| matches!(s, Step::Mirror(_))))
        {
            self.notes.push(
                "mirror to port N uses mirror session N, slot 0: configure session N to port N"
                    .into(),
            );
        }
        if matches!(p.pipeline, Pipeline::Single { .. }) && self.o.accept_port.is_none() {
            self.notes.push(
                "accept in a program without pipeline keeps the architecture's default destination"
                    .into(),
            );
        }
        for n in &self.notes {
            let _ = writeln!(s, "  - {n}");
        }
        match self.arch {
            Arch::BlueField => s.push_str("unsupported (refused with an error if used): reject, log, conntrack and ct.* fields, meters, mirror, header rewrites (set of anything but meta.mark), keys other than eth.src/dst, ipv4.src/dst, tcp/udp ports, in_port, meta.mark and the presence of eth/ipv4/tcp/udp (their DOCA names are not publicly documented)\n"),
            Arch::Pna(flavor) => {
                s.push_str("unsupported (refused with an error if used): reject, log, conntrack and ct.* fields, meta.len, srTCM meters, byte rates not divisible by 8, per-key meters, nested tunnels");
                if flavor == Flavor::Dpdk {
                    s.push_str(", byte meters (no frame length), IPv6 address keys (p4c-dpdk's 128-bit constants), const entries in tables ordered by priority");
                }
                s.push_str("; DSCP/ECN rewrite skips IPv4 packets with options (checksum over the varbit options is not computed); an IPv6 extension header longer than 256 bytes stops the parser\n");
            }
        }
        s
    }
}

const PRE_CONTROL_P4: &str = "control pre_control(in headers_t hdr, inout metadata_t meta,
                    in pna_pre_input_metadata_t istd,
                    inout pna_pre_output_metadata_t ostd) {
    apply { }
}

";

const IPV4_CSUM_P4: &str = "        // DSCP/ECN rewrites invalidate the IPv4 header checksum. Only
        // option-less headers are rewritten (see the rewrite guard), so the
        // fixed fields are the whole header.
        if (hdr.ipv4.isValid() && hdr.ipv4.ihl == 5) {
            ipv4_ck.clear();
            ipv4_ck.add({hdr.ipv4.version, hdr.ipv4.ihl, hdr.ipv4.dscp, hdr.ipv4.ecn,
                    hdr.ipv4.total_len, hdr.ipv4.identification, hdr.ipv4.flags,
                    hdr.ipv4.frag_offset, hdr.ipv4.ttl, hdr.ipv4.protocol,
                    hdr.ipv4.src_addr, hdr.ipv4.dst_addr});
            hdr.ipv4.hdr_checksum = ipv4_ck.get();
        }
";
