//! `dpuc-ir`: the one match-action program every backend reads.
//!
//! A [`Program`] is plain data: the header set ([`field`]), tables with
//! typed keys and prioritized entries, the control flow between tables
//! ([`Node`]s, a DAG), and the stateful objects (conntrack, meters,
//! counters). It round-trips through JSON (`NAME.ir.json`), prints as a
//! stable text form for snapshots ([`text`]), and is checked by a validator
//! ([`validate()`]) whose success — a [`Valid`] — is what backends require.

pub mod field;
mod hex;
pub mod prefix;
mod refusal;
mod sets;
pub mod test;
pub mod text;
mod validate;

pub use field::{Field, FieldRef, Header, FIELD_COUNT, HEADERS};
pub use refusal::{Refusal, RefusalKind, Subject};
pub use sets::set_entries;
pub use validate::{validate, Valid, ValidationError};

use serde::{Deserialize, Serialize};

/// Index of a port in [`Program::ports`].
pub type PortId = u32;
/// Index of a set in [`Program::sets`].
pub type SetId = u32;
/// Index of a table in [`Program::tables`].
pub type TableId = u32;
/// Index of a rule in [`Program::rules`].
pub type RuleId = u32;
/// Index of a policy in [`Program::policies`].
pub type PolicyId = u32;
/// Index of a counter in [`Program::counters`].
pub type CounterId = u32;
/// Index of a meter in [`Program::meters`].
pub type MeterId = u32;
/// Index of a node in [`Program::nodes`].
pub type NodeId = u32;
/// Index of a set-membership bit in the packet's metadata.
pub type HitId = u32;

/// A whole compiled policy file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Program {
    /// The policy's name (the file stem).
    pub name: String,
    /// Named ports.
    pub ports: Vec<Port>,
    /// Named sets, the unit of run-time update.
    pub sets: Vec<Set>,
    /// Every table: set lookups and rule tables.
    pub tables: Vec<Table>,
    /// Every rule of every policy, in source order.
    pub rules: Vec<Rule>,
    /// The policies.
    pub policies: Vec<Policy>,
    /// The control-flow nodes.
    pub nodes: Vec<Node>,
    /// Which nodes run for packets from which port.
    pub pipeline: Pipeline,
    /// Named counters.
    pub counters: Vec<String>,
    /// Meters.
    pub meters: Vec<Meter>,
    /// The connection tracker, if the policy uses one.
    pub conntrack: Option<Conntrack>,
    /// How many set-membership bits the set lookups write.
    pub hits: u32,
}

/// A named port and the number it is bound to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Port {
    /// The name.
    pub name: String,
    /// The number.
    pub number: u32,
}

/// The type of a set's elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SetType {
    /// IPv4 and IPv6 addresses and prefixes.
    Ip,
    /// MAC addresses.
    Mac,
    /// Integers of the given width (ports, dscp, vni, vlan, protocols...).
    Int(u32),
}

/// An address family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

/// One element of a set: an inclusive interval, with its family for `ip` sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Elem {
    /// The family (`ip` sets only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<Family>,
    /// Low bound.
    #[serde(with = "hex")]
    pub lo: u128,
    /// High bound.
    #[serde(with = "hex")]
    pub hi: u128,
}

/// A named set and the lookup tables derived from it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Set {
    /// The name.
    pub name: String,
    /// Element type.
    pub ty: SetType,
    /// The elements at compile time.
    pub elems: Vec<Elem>,
    /// The lookup tables whose entries are this set's elements; a run-time
    /// update of the set rewrites all of them.
    pub tables: Vec<TableId>,
}

/// How a key matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchKind {
    /// Exact value.
    Exact,
    /// Longest prefix.
    Lpm,
    /// Value and mask.
    Ternary,
    /// Inclusive range.
    Range,
}

/// What a key reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeySource {
    /// A packet or metadata field.
    Field(FieldRef),
    /// A set-membership bit written by a set lookup.
    Hit(HitId),
}

impl KeySource {
    /// Width in bits.
    pub fn width(self) -> u32 {
        match self {
            KeySource::Field(f) => f.field.width(),
            KeySource::Hit(_) => 1,
        }
    }
}

/// A table key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Key {
    /// What it reads.
    pub source: KeySource,
    /// How it matches.
    pub kind: MatchKind,
}

/// How one entry matches one key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Match {
    /// Anything (a ternary mask of zero, a full range, a /0 prefix).
    Any,
    /// Exactly this value.
    Exact(#[serde(with = "hex")] u128),
    /// The top `len` bits equal `value`'s.
    Lpm {
        /// The prefix value.
        #[serde(with = "hex")]
        value: u128,
        /// Prefix length in bits.
        len: u32,
    },
    /// `field & mask == value`.
    Ternary {
        /// The value (only bits in `mask` are set).
        #[serde(with = "hex")]
        value: u128,
        /// The mask.
        #[serde(with = "hex")]
        mask: u128,
    },
    /// `lo <= field <= hi`.
    Range {
        /// Low bound.
        #[serde(with = "hex")]
        lo: u128,
        /// High bound.
        #[serde(with = "hex")]
        hi: u128,
    },
}

impl Match {
    /// Whether `value` (of a key `width` bits wide) matches.
    pub fn matches(&self, value: u128, width: u32) -> bool {
        match *self {
            Match::Any => true,
            Match::Exact(v) => value == v,
            Match::Lpm { value: v, len } => {
                let mask = prefix_mask(width, len);
                value & mask == v & mask
            }
            Match::Ternary { value: v, mask } => value & mask == v,
            Match::Range { lo, hi } => lo <= value && value <= hi,
        }
    }
}

/// The mask of the top `len` bits of a `width`-bit value.
pub fn prefix_mask(width: u32, len: u32) -> u128 {
    let all = if width >= 128 {
        u128::MAX
    } else {
        (1u128 << width) - 1
    };
    if len == 0 {
        0
    } else if len >= width {
        all
    } else {
        all & !((1u128 << (width - len)) - 1)
    }
}

/// What a table is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TableKind {
    /// A lookup of a set's elements: a hit sets membership bit `hit`.
    SetLookup {
        /// The set.
        set: SetId,
        /// The bit written on a hit (cleared on a miss).
        hit: HitId,
    },
    /// Some rules of a policy, first match by priority.
    Rules {
        /// The policy.
        policy: PolicyId,
    },
}

/// A match-action table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// A unique name, legal as an identifier in every target language.
    pub name: String,
    /// What it is for.
    pub kind: TableKind,
    /// The keys.
    pub keys: Vec<Key>,
    /// The entries; priorities are distinct, and the highest matching wins.
    pub entries: Vec<Entry>,
    /// Declared capacity.
    pub size: u32,
}

/// One table entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Higher wins (P4Runtime's convention).
    pub priority: u32,
    /// One match per key, in key order.
    pub matches: Vec<Match>,
    /// The rule it belongs to (`None` in set lookups: a hit sets the bit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<RuleId>,
}

/// A rule: its name, policy and actions. Its hit counter is implicit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// The policy it belongs to.
    pub policy: PolicyId,
    /// Its name, unique in the policy.
    pub name: String,
    /// What it does when it matches.
    pub actions: Actions,
    /// 1-based source line, for reports.
    pub line: u32,
}

/// A rule's actions: non-terminal steps, then how evaluation goes on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Actions {
    /// Steps in order.
    pub steps: Vec<Step>,
    /// After the steps.
    pub end: End,
}

/// A non-terminal action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Add to a named counter.
    Count(CounterId),
    /// Colour the packet and act on the colour.
    Meter {
        /// The meter.
        meter: MeterId,
        /// Arms for green, yellow and red, in that order.
        arms: Box<[Arm; 3]>,
    },
    /// Rewrite a field (checksums fixed by the target).
    Set {
        /// The field (one of the rewritable ones).
        field: FieldRef,
        /// The new value.
        #[serde(with = "hex")]
        value: u128,
    },
    /// Send a copy to a port.
    Mirror(PortId),
    /// Emit a record to the event stream.
    Log {
        /// The prefix.
        prefix: Option<String>,
        /// Log `n` of every `m` packets.
        sample: Option<(u32, u32)>,
    },
    /// Do not create a connection for this packet.
    NoTrack,
}

/// What happens for one meter colour.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Arm {
    /// Non-terminal steps (no meters).
    pub steps: Vec<Step>,
    /// A verdict, or `None` to go on with the rest of the rule's actions.
    pub terminal: Option<Terminal>,
}

/// How evaluation goes on after a rule's steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum End {
    /// With the next rule.
    Continue,
    /// The packet is decided.
    Terminal(Terminal),
    /// Into a policy; reaching its end continues after this rule.
    Jump(PolicyId),
}

/// A verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Terminal {
    /// To the pipeline's destination for the ingress port.
    Accept,
    /// Discard.
    Drop,
    /// Discard and answer (TCP RST / ICMP unreachable).
    Reject,
    /// To this port instead.
    Forward(PortId),
}

/// A policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    /// The name.
    pub name: String,
    /// The default verdict (`None` for policies reached only by `jump`).
    pub default: Option<Terminal>,
}

/// A node of the control-flow DAG.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Node {
    /// Apply a set lookup, then go to `next`.
    Lookup {
        /// The set-lookup table.
        table: TableId,
        /// The next node.
        next: NodeId,
    },
    /// Apply a rule table. A miss, or a hit on a rule whose actions end in
    /// `Continue`, goes to `next`; a hit on a rule that jumps goes to its
    /// node in `jumps` (an inlined copy of the policy, which ends at `next`).
    Rules {
        /// The rule table.
        table: TableId,
        /// Where a miss or a continuing rule goes.
        next: NodeId,
        /// For each jumping rule of the table, the entry of its callee.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        jumps: Vec<(RuleId, NodeId)>,
    },
    /// The end of a bound policy (its default) or of a line without one.
    Verdict(Terminal),
}

/// Which nodes see the packets of which port.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pipeline {
    /// No `pipeline`: one policy for every packet; accept passes it on.
    Single {
        /// The first node.
        entry: NodeId,
    },
    /// Lines of the `pipeline` block; other ports drop.
    Lines(Vec<Line>),
}

/// One pipeline line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Line {
    /// Ingress port.
    pub from: PortId,
    /// Where accepted packets go.
    pub to: PortId,
    /// The first node (a `Verdict(Accept)` for a line without a policy).
    pub entry: NodeId,
}

/// Whether a meter counts packets or bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeterUnit {
    /// Rates in packets/s, sizes in packets.
    Packets,
    /// Rates in bits/s of the L2 frame, sizes in bytes.
    Bytes,
}

/// The meter algorithms of §6. Rates per second, sizes per [`MeterUnit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeterKind {
    /// One token bucket: green or red.
    TokenBucket {
        /// Rate.
        rate: u64,
        /// Bucket size.
        burst: u64,
    },
    /// RFC 2697.
    SrTcm {
        /// Committed rate.
        cir: u64,
        /// Committed burst.
        cbs: u64,
        /// Excess burst.
        ebs: u64,
    },
    /// RFC 2698.
    TrTcm {
        /// Committed rate.
        cir: u64,
        /// Committed burst.
        cbs: u64,
        /// Peak rate.
        pir: u64,
        /// Peak burst.
        pbs: u64,
    },
}

/// A meter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Meter {
    /// The name.
    pub name: String,
    /// Algorithm and parameters.
    pub kind: MeterKind,
    /// Packets or bytes.
    pub unit: MeterUnit,
    /// Per-key fields (empty: one bucket). An absent field keys as absent.
    pub per: Vec<FieldRef>,
    /// At most this many keys (LRU eviction).
    pub max_keys: u32,
}

/// What to do with a new connection when the table is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFull {
    /// Drop the packet (`ct_full`).
    Drop,
    /// Evict the least recently used connection.
    EvictOldest,
}

/// Conntrack timeouts in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timeouts {
    /// SYN_SENT / SYN_RECV.
    pub tcp_handshake: u64,
    /// ESTABLISHED.
    pub tcp_established: u64,
    /// FIN_WAIT, CLOSE_WAIT, LAST_ACK, TIME_WAIT.
    pub tcp_closing: u64,
    /// UDP, one direction seen.
    pub udp: u64,
    /// UDP, both directions seen.
    pub udp_stream: u64,
    /// ICMP echo.
    pub icmp: u64,
    /// Anything else tracked.
    pub other: u64,
}

/// The connection tracker's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conntrack {
    /// Table bound.
    pub max_entries: u64,
    /// Full-table behaviour.
    pub on_full: OnFull,
    /// Timeouts.
    pub timeouts: Timeouts,
    /// Per-tenant zone key fields (empty: one zone).
    pub zone: Vec<FieldRef>,
}

/// The values of `ct.state` as the policy sees them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CtState {
    /// No connection, or one without a reply and this goes the original way.
    New = 0,
    /// Part of a connection that has seen a reply, or is the reply.
    Established = 1,
    /// An ICMP error about a tracked connection.
    Related = 2,
    /// Rejected by the state machine, or malformed.
    Invalid = 3,
    /// Not tracked.
    Untracked = 4,
}

impl Program {
    /// The rule table entry points of every line (or the single entry).
    pub fn entries(&self) -> Vec<NodeId> {
        match &self.pipeline {
            Pipeline::Single { entry } => vec![*entry],
            Pipeline::Lines(lines) => lines.iter().map(|l| l.entry).collect(),
        }
    }

    /// Finds a rule by policy and rule name.
    pub fn rule_id(&self, policy: &str, rule: &str) -> Option<RuleId> {
        self.rules
            .iter()
            .position(|r| r.name == rule && self.policies[r.policy as usize].name == policy)
            .map(|i| i as RuleId)
    }
}
