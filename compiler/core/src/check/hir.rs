//! The checked program: names resolved, values typed and range-checked.
//! Lowering to the IR reads only this.

use crate::span::Span;
use dpuc_ir::{FieldRef, Header};

/// Index of a port in [`Program::ports`].
pub type PortIx = usize;
/// Index of a set in [`Program::sets`].
pub type SetIx = usize;
/// Index of a policy in [`Program::policies`].
pub type PolicyIx = usize;

/// A checked program.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Program {
    /// Ports in declaration order.
    pub ports: Vec<Port>,
    /// Named sets (including those imported from `std` and used).
    pub sets: Vec<Set>,
    /// Named counters.
    pub counters: Vec<Named>,
    /// Meters.
    pub meters: Vec<Meter>,
    /// The tracker, present if a `conntrack` block exists or a `ct.*` field is used.
    pub conntrack: Option<Conntrack>,
    /// Policies in declaration order.
    pub policies: Vec<Policy>,
    /// `None` when the file has no pipeline (one policy for every packet).
    pub pipeline: Option<Vec<Line>>,
    /// Inline tests.
    pub tests: Vec<Test>,
}

/// A name and where it is declared.
#[derive(Clone, Debug, PartialEq)]
pub struct Named {
    /// The name.
    pub name: String,
    /// Its declaration.
    pub span: Span,
}

/// A port.
#[derive(Clone, Debug, PartialEq)]
pub struct Port {
    /// The name.
    pub name: String,
    /// Its number.
    pub number: u32,
    /// Its declaration.
    pub span: Span,
}

/// The type of a set's elements or a field's values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    /// IPv4 or IPv6 address/prefix.
    Ip,
    /// MAC address.
    Mac,
    /// An unsigned integer of this many bits (ports, dscp, vni, vlan...).
    Int(u32),
    /// TCP flags byte (names and `|` combinations).
    Flags,
    /// ICMP type (names resolve per family).
    IcmpType,
    /// Connection state names.
    CtState,
    /// Connection direction names.
    CtDirection,
    /// Fragment position names.
    Frag,
}

/// One element of a set or of an inline set: a typed interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Elem {
    /// IPv4 interval.
    V4(u32, u32),
    /// IPv6 interval.
    V6(u128, u128),
    /// Integer (or MAC) interval.
    Int(u128, u128),
    /// An ICMP type by name: its number in each family.
    IcmpType {
        /// ICMPv4 number, if the name exists there.
        v4: Option<u8>,
        /// ICMPv6 number, if the name exists there.
        v6: Option<u8>,
    },
}

/// A named set.
#[derive(Clone, Debug, PartialEq)]
pub struct Set {
    /// The name.
    pub name: String,
    /// Element type.
    pub ty: Ty,
    /// `const set`.
    pub is_const: bool,
    /// Elements, flattened (nested sets and consts resolved).
    pub elems: Vec<Elem>,
    /// Its declaration.
    pub span: Span,
}

// Meter algorithms and units are the IR's own: nothing is lost between them.
pub use dpuc_ir::{MeterKind, MeterUnit};

/// A meter.
#[derive(Clone, Debug, PartialEq)]
pub struct Meter {
    /// The name.
    pub name: String,
    /// Algorithm.
    pub kind: MeterKind,
    /// Unit.
    pub unit: MeterUnit,
    /// Per-key fields (an `ip.*` field lists its IPv4 and IPv6 forms).
    pub per: Vec<FieldRef>,
    /// Key limit.
    pub max_keys: u32,
    /// Declaration.
    pub span: Span,
}

/// Conntrack settings, defaults filled in.
#[derive(Clone, Debug, PartialEq)]
pub struct Conntrack {
    /// Table bound.
    pub max_entries: u64,
    /// Evict the oldest instead of dropping when full.
    pub evict_oldest: bool,
    /// Timeouts in ns: handshake, established, closing, udp, udp_stream, icmp, other.
    pub timeouts: [u64; 7],
    /// Zone key fields.
    pub zone: Vec<FieldRef>,
    /// The `conntrack` block (`None` when only `ct.*` fields imply it).
    pub span: Option<Span>,
}

/// The conntrack timeout names, in [`Conntrack::timeouts`] order.
pub const TIMEOUT_NAMES: [&str; 7] = [
    "tcp_handshake",
    "tcp_established",
    "tcp_closing",
    "udp",
    "udp_stream",
    "icmp",
    "other",
];

/// Default timeouts (§5), in ns.
pub const TIMEOUT_DEFAULTS: [u64; 7] = [
    30 * SEC,
    5 * 86_400 * SEC,
    120 * SEC,
    30 * SEC,
    180 * SEC,
    30 * SEC,
    600 * SEC,
];

const SEC: u64 = 1_000_000_000;

/// A policy.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    /// The name.
    pub name: String,
    /// Rules in order.
    pub rules: Vec<Rule>,
    /// `default accept|drop`.
    pub default: Option<Verdict>,
    /// Declaration.
    pub span: Span,
}

/// A verdict that ends evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Accept.
    Accept,
    /// Drop.
    Drop,
    /// Reject.
    Reject,
    /// Forward to a port.
    Forward(PortIx),
}

/// A rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// The name.
    pub name: String,
    /// Predicate (`Pred::True` when empty).
    pub pred: Pred,
    /// Non-terminal actions in order.
    pub steps: Vec<Step>,
    /// How evaluation ends.
    pub end: End,
    /// Declaration.
    pub span: Span,
}

/// A checked predicate. Field tests are on concrete fields; `ip.*` fields
/// tested against a value of one family name that family's field.
#[derive(Clone, Debug, PartialEq)]
pub enum Pred {
    /// Always true.
    True,
    /// All of these.
    And(Vec<Pred>),
    /// Any of these.
    Or(Vec<Pred>),
    /// Not this.
    Not(Box<Pred>),
    /// The header is present.
    Present(FieldRef),
    /// `field OP value` with presence implied.
    Cmp {
        /// The field.
        field: FieldRef,
        /// The comparison.
        op: CmpOp,
        /// The value.
        value: u128,
    },
    /// `field & mask == value`, presence implied.
    Masked {
        /// The field.
        field: FieldRef,
        /// Mask.
        mask: u128,
        /// Value after masking.
        value: u128,
    },
    /// `field in ELEMS` (one element list per family for `ip` fields: the
    /// caller picks the IPv4 or IPv6 field per element), presence implied.
    InElems {
        /// The field as written (`ip.src` names both families).
        field: LogicalField,
        /// Elements.
        elems: Vec<Elem>,
    },
    /// `field in SET` (a named set, looked up at run time).
    InSet {
        /// The field.
        field: LogicalField,
        /// The set.
        set: SetIx,
    },
}

/// A field as the policy wrote it: concrete, or `ip.src`/`ip.dst` which
/// stand for the IPv4 and IPv6 fields together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogicalField {
    /// One concrete field.
    Field(FieldRef),
    /// IPv4 and IPv6 forms of one address field.
    Ip {
        /// The IPv4 field.
        v4: FieldRef,
        /// The IPv6 field.
        v6: FieldRef,
    },
    /// `icmp.type`: names resolve per family.
    IcmpType(FieldRef),
}

/// Comparisons.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    /// `==`
    Eq,
    /// `!=` (still requires presence)
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// A non-terminal action.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Count into a named counter.
    Count(usize),
    /// Meter with arms (green, yellow, red), defaults filled in.
    Meter {
        /// The meter.
        meter: usize,
        /// The arms.
        arms: Box<[Arm; 3]>,
    },
    /// Rewrite a field.
    Set {
        /// The field.
        field: FieldRef,
        /// The value.
        value: u128,
    },
    /// Copy to a port.
    Mirror(PortIx),
    /// Log.
    Log {
        /// Prefix.
        prefix: Option<String>,
        /// `sample N/M`.
        sample: Option<(u32, u32)>,
    },
    /// Do not track.
    NoTrack,
}

/// A colour arm.
#[derive(Clone, Debug, PartialEq)]
pub struct Arm {
    /// Steps.
    pub steps: Vec<Step>,
    /// Verdict, or continue with the rule.
    pub verdict: Option<Verdict>,
}

/// How a rule ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// Continue with the next rule.
    Continue,
    /// A verdict.
    Verdict(Verdict),
    /// Jump to a policy.
    Jump(PolicyIx),
}

/// A pipeline line.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    /// Ingress port.
    pub from: PortIx,
    /// Destination of accepted packets.
    pub to: PortIx,
    /// Policy, if any.
    pub via: Option<PolicyIx>,
}

/// A test.
#[derive(Clone, Debug, PartialEq)]
pub struct Test {
    /// The name.
    pub name: String,
    /// Steps.
    pub steps: Vec<TestStep>,
    /// Declaration.
    pub span: Span,
}

/// A test step.
#[derive(Clone, Debug, PartialEq)]
pub enum TestStep {
    /// Send a packet.
    Send {
        /// The packet.
        packet: Packet,
        /// Ingress port.
        on: Option<PortIx>,
        /// Absolute time, ns.
        at_ns: Option<u64>,
        /// Expectation.
        expect: Expect,
        /// The statement.
        span: Span,
    },
    /// Advance the clock, ns.
    After(u64),
    /// Named counter value.
    ExpectCounter {
        /// Counter.
        counter: usize,
        /// Bytes rather than packets.
        bytes: bool,
        /// Value.
        value: u64,
        /// The statement.
        span: Span,
    },
    /// Rule hits.
    ExpectRuleHits {
        /// Policy.
        policy: PolicyIx,
        /// Rule index in the policy.
        rule: usize,
        /// Value.
        value: u64,
        /// The statement.
        span: Span,
    },
    /// Live connections.
    ExpectConntrack {
        /// Value.
        value: u64,
        /// The statement.
        span: Span,
    },
}

// Test packets are the IR's own description (§8), built once here.
pub use dpuc_ir::test::{Encap, EncapKind, FragSpec, L4Spec as L4, Packet, PacketSpec};

/// Expected result of a send.
#[derive(Clone, Debug, PartialEq)]
pub struct Expect {
    /// Verdict: accept, drop or forward.
    pub verdict: Verdict,
    /// Deciding rule (policy, rule index).
    pub by: Option<(PolicyIx, usize)>,
    /// Colour: 0 green, 1 yellow, 2 red.
    pub color: Option<u8>,
    /// DSCP after rewrites.
    pub dscp: Option<u8>,
    /// Mark after rewrites.
    pub mark: Option<u32>,
}

/// Whether a header presence field is the given header.
pub fn header_field(inner: bool, h: Header) -> FieldRef {
    FieldRef {
        inner,
        field: dpuc_ir::Field::Valid(h),
    }
}
