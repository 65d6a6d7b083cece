//! The syntax tree of one DPL file, exactly as written, with spans.
//!
//! Nothing here is resolved or checked: names are [`Ident`]s, symbolic
//! constants (`ssh`, `echo-request`, `af11`) are [`ValueKind::Name`], and
//! literals keep the form they were written in so `dpuc fmt` can print them
//! back. Checking turns this into the typed program that lowering reads.

use crate::span::Span;
use std::net::{Ipv4Addr, Ipv6Addr};

/// One parsed file.
#[derive(Clone, Debug, PartialEq)]
pub struct Module {
    /// Items in source order.
    pub items: Vec<Item>,
    /// Every `#` comment in the file, in source order (kept for `dpuc fmt`).
    pub comments: Vec<Comment>,
}

/// A `#` comment; `text` starts at the `#` and excludes the newline.
#[derive(Clone, Debug, PartialEq)]
pub struct Comment {
    /// The text, `#` included.
    pub text: String,
    /// Where it is.
    pub span: Span,
}

/// A name as written.
#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    /// The name.
    pub name: String,
    /// Where it is.
    pub span: Span,
}

/// A string literal, escapes resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct StrLit {
    /// The string value.
    pub value: String,
    /// Where it is (quotes included).
    pub span: Span,
}

/// A top-level item.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    /// `use std::services::{ssh};`
    Use(UseDecl),
    /// `port uplink = 0;`
    Port(PortDecl),
    /// `const web = 10.0.0.1;`
    Const(ConstDecl),
    /// `set admin: ip = { ... };`
    Set(SetDecl),
    /// `counter hits;`
    Counter(CounterDecl),
    /// `meter m: rate 100 pps burst 200 packets;`
    Meter(MeterDecl),
    /// `conntrack { ... }`
    Conntrack(ConntrackDecl),
    /// `policy p { ... }`
    Policy(PolicyDecl),
    /// `pipeline { ... }`
    Pipeline(PipelineDecl),
    /// `test "name" { ... }`
    Test(TestDecl),
}

impl Item {
    /// The span of the whole item.
    pub fn span(&self) -> Span {
        match self {
            Item::Use(i) => i.span,
            Item::Port(i) => i.span,
            Item::Const(i) => i.span,
            Item::Set(i) => i.span,
            Item::Counter(i) => i.span,
            Item::Meter(i) => i.span,
            Item::Conntrack(i) => i.span,
            Item::Policy(i) => i.span,
            Item::Pipeline(i) => i.span,
            Item::Test(i) => i.span,
        }
    }
}

/// `use SOURCE::NAMES;`
#[derive(Clone, Debug, PartialEq)]
pub struct UseDecl {
    /// Where the names come from.
    pub source: UseSource,
    /// Which names.
    pub names: UseNames,
    /// The whole item.
    pub span: Span,
}

/// The module a `use` imports from.
#[derive(Clone, Debug, PartialEq)]
pub enum UseSource {
    /// `std::services`: the path segments, `std` included.
    Std(Vec<Ident>),
    /// `"lib/common.dpl"`: a path relative to the importing file.
    File(StrLit),
}

/// The names a `use` brings in.
#[derive(Clone, Debug, PartialEq)]
pub enum UseNames {
    /// `::*` (the span of the `*`).
    All(Span),
    /// `::{a, b}` or `::a`.
    List(Vec<Ident>),
}

/// `port NAME = INT;`
#[derive(Clone, Debug, PartialEq)]
pub struct PortDecl {
    /// The port's name.
    pub name: Ident,
    /// Its number.
    pub number: Value,
    /// The whole item.
    pub span: Span,
}

/// `const NAME = VALUE;`
#[derive(Clone, Debug, PartialEq)]
pub struct ConstDecl {
    /// The constant's name.
    pub name: Ident,
    /// Its value.
    pub value: Value,
    /// The whole item.
    pub span: Span,
}

/// `[const] set NAME: TYPE = { ELEM, ... };`
#[derive(Clone, Debug, PartialEq)]
pub struct SetDecl {
    /// `const set`: may be folded into rule tables (not updatable at run time).
    pub is_const: bool,
    /// The set's name.
    pub name: Ident,
    /// The element type as written (`ip`, `port`, `u16`...).
    pub ty: Ident,
    /// The elements (literals, ranges, prefixes, names of consts or sets).
    pub elems: Vec<Value>,
    /// The whole item.
    pub span: Span,
}

/// `counter NAME;`
#[derive(Clone, Debug, PartialEq)]
pub struct CounterDecl {
    /// The counter's name.
    pub name: Ident,
    /// The whole item.
    pub span: Span,
}

/// `meter NAME: KIND ARGS [per KEY] [max N];`
///
/// Kept generic so that unknown kinds and parameters are diagnosed by the
/// checker, not as syntax errors: `rate 100 pps burst 200 packets` is the
/// args `[(rate, 100 pps), (burst, 200 packets)]`; `srtcm cir 1 Mbps ...` is
/// `[(srtcm, None), (cir, 1 Mbps), ...]`.
#[derive(Clone, Debug, PartialEq)]
pub struct MeterDecl {
    /// The meter's name.
    pub name: Ident,
    /// Keyword/value pairs in order; the first keyword is the meter kind.
    pub args: Vec<MeterArg>,
    /// `per KEY`: one bucket per value of these fields (one, or a tuple).
    pub per: Option<MeterKey>,
    /// `max N`: at most N keys.
    pub max: Option<Value>,
    /// The whole item.
    pub span: Span,
}

/// One `WORD [VALUE]` pair of a meter declaration.
#[derive(Clone, Debug, PartialEq)]
pub struct MeterArg {
    /// The keyword (`rate`, `burst`, `cir`, ...).
    pub key: Ident,
    /// Its value, if one follows.
    pub value: Option<Value>,
}

/// The key of a per-key meter.
#[derive(Clone, Debug, PartialEq)]
pub struct MeterKey {
    /// The fields; more than one when written as a tuple.
    pub fields: Vec<FieldPath>,
    /// Whether it was written as a parenthesised tuple.
    pub tuple: bool,
    /// The whole key.
    pub span: Span,
}

/// `conntrack { SETTING; ... }`
#[derive(Clone, Debug, PartialEq)]
pub struct ConntrackDecl {
    /// The settings in order.
    pub settings: Vec<CtSetting>,
    /// The whole item.
    pub span: Span,
}

/// One conntrack setting.
#[derive(Clone, Debug, PartialEq)]
pub struct CtSetting {
    /// What it sets.
    pub kind: CtSettingKind,
    /// The whole statement.
    pub span: Span,
}

/// The conntrack settings of §5.
#[derive(Clone, Debug, PartialEq)]
pub enum CtSettingKind {
    /// `max_entries N;`
    MaxEntries(Value),
    /// `timeout NAME DURATION;` (the name is checked later).
    Timeout(Ident, Value),
    /// `on_full evict_oldest;` / `on_full drop;`
    OnFull(Ident),
    /// `zone FIELD;`
    Zone(FieldPath),
}

/// `policy NAME { RULE... [default VERDICT;] }`
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyDecl {
    /// The policy's name.
    pub name: Ident,
    /// The rules in order.
    pub rules: Vec<Rule>,
    /// `default accept;` / `default drop;`
    pub default: Option<Default>,
    /// The whole item.
    pub span: Span,
}

/// `default VERDICT;`
#[derive(Clone, Debug, PartialEq)]
pub struct Default {
    /// The verdict.
    pub verdict: Verdict,
    /// The whole statement.
    pub span: Span,
}

/// A policy's default verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// `accept`
    Accept,
    /// `drop`
    Drop,
}

/// `rule NAME: [PREDICATE] => ACTION, ...;`
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// The rule's name.
    pub name: Ident,
    /// The predicate; `None` when empty (always true).
    pub pred: Option<Pred>,
    /// The actions in order (at least one).
    pub actions: Vec<Action>,
    /// The whole rule.
    pub span: Span,
}

/// A predicate.
#[derive(Clone, Debug, PartialEq)]
pub enum Pred {
    /// `a or b`
    Or(Box<Pred>, Box<Pred>, Span),
    /// `a and b`
    And(Box<Pred>, Box<Pred>, Span),
    /// `not a`
    Not(Box<Pred>, Span),
    /// `( a )`, kept so the formatter prints what was written.
    Paren(Box<Pred>, Span),
    /// A test on a field or header.
    Test(Test),
}

impl Pred {
    /// The span of the whole predicate.
    pub fn span(&self) -> Span {
        match self {
            Pred::Or(_, _, s) | Pred::And(_, _, s) | Pred::Not(_, s) | Pred::Paren(_, s) => *s,
            Pred::Test(t) => t.span,
        }
    }
}

/// `FIELD OP OPERAND`, or a bare field/header.
#[derive(Clone, Debug, PartialEq)]
pub struct Test {
    /// The field or header tested.
    pub field: FieldPath,
    /// The comparison.
    pub op: TestOp,
    /// The whole test.
    pub span: Span,
}

/// The comparisons of §4.1.
#[derive(Clone, Debug, PartialEq)]
pub enum TestOp {
    /// A bare field (boolean) or header (presence).
    Bare,
    /// `== V`
    Eq(Value),
    /// `!= V`
    Ne(Value),
    /// `< V`
    Lt(Value),
    /// `<= V`
    Le(Value),
    /// `> V`
    Gt(Value),
    /// `>= V`
    Ge(Value),
    /// `in SET`
    In(SetExpr),
    /// `not in SET`
    NotIn(SetExpr),
    /// `has V` (one flag bit, e.g. `tcp.flags has syn`)
    Has(Value),
    /// `& MASK == V` (e.g. `tcp.flags & (syn|ack) == syn`)
    MaskEq {
        /// The mask.
        mask: Value,
        /// The value compared after masking.
        value: Value,
    },
}

/// The right-hand side of `in`.
#[derive(Clone, Debug, PartialEq)]
pub enum SetExpr {
    /// A named set.
    Name(Ident),
    /// An inline `{ ELEM, ... }` (folded into the rule; not updatable).
    Literal(Vec<Value>, Span),
}

/// A dotted field path: `tcp.dport`, `inner.ip.src`, `in_port`, `tcp`.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldPath {
    /// The segments.
    pub segments: Vec<Ident>,
    /// The whole path.
    pub span: Span,
}

impl FieldPath {
    /// The path as written, segments joined by dots.
    pub fn dotted(&self) -> String {
        let names: Vec<&str> = self.segments.iter().map(|s| s.name.as_str()).collect();
        names.join(".")
    }
}

/// An action.
#[derive(Clone, Debug, PartialEq)]
pub struct Action {
    /// What it does.
    pub kind: ActionKind,
    /// Where it is.
    pub span: Span,
}

/// The actions of §4.3 (and `continue`, valid only in colour arms).
#[derive(Clone, Debug, PartialEq)]
pub enum ActionKind {
    /// `accept`
    Accept,
    /// `drop`
    Drop,
    /// `reject`
    Reject,
    /// `forward PORT`
    Forward(Ident),
    /// `jump POLICY`
    Jump(Ident),
    /// `continue` (colour arms only)
    Continue,
    /// `count` / `count NAME`
    Count(Option<Ident>),
    /// `meter NAME [{ ARMS }]`
    Meter {
        /// The meter.
        name: Ident,
        /// Colour arms, if a block was written.
        arms: Option<Vec<ColorArm>>,
    },
    /// `set FIELD = VALUE`
    Set {
        /// The field rewritten.
        field: FieldPath,
        /// The new value.
        value: Value,
    },
    /// `mirror PORT`
    Mirror(Ident),
    /// `log ["prefix"] [sample N/M]`
    Log {
        /// The prefix string.
        prefix: Option<StrLit>,
        /// `sample N/M`: log N packets of every M.
        sample: Option<(Value, Value)>,
    },
    /// `notrack`
    NoTrack,
}

/// `COLOUR => ACTION` or `COLOUR => (ACTION, ...)`.
#[derive(Clone, Debug, PartialEq)]
pub struct ColorArm {
    /// `green`, `yellow` or `red` (checked later).
    pub color: Ident,
    /// The actions (one unless parenthesised).
    pub actions: Vec<Action>,
    /// Whether the actions were written in parentheses.
    pub parenthesized: bool,
    /// The whole arm.
    pub span: Span,
}

/// `pipeline { LINE; ... }`
#[derive(Clone, Debug, PartialEq)]
pub struct PipelineDecl {
    /// The lines in order.
    pub lines: Vec<PipelineLine>,
    /// The whole item.
    pub span: Span,
}

/// `FROM -> TO [via POLICY];`
#[derive(Clone, Debug, PartialEq)]
pub struct PipelineLine {
    /// Ingress port.
    pub from: Ident,
    /// Where accepted packets go.
    pub to: Ident,
    /// The policy run on the packets, if any.
    pub via: Option<Ident>,
    /// The whole line.
    pub span: Span,
}

/// `test "NAME" { STMT... }`
#[derive(Clone, Debug, PartialEq)]
pub struct TestDecl {
    /// The test's name.
    pub name: StrLit,
    /// The statements in order.
    pub stmts: Vec<TestStmt>,
    /// The whole item.
    pub span: Span,
}

/// A statement in a test.
#[derive(Clone, Debug, PartialEq)]
pub enum TestStmt {
    /// `send PACKET [on PORT] [at TIME] => EXPECT;`
    Send(Box<Send>),
    /// `after DURATION;`
    After(Value, Span),
    /// `expect counter NAME == N [packets|bytes];`
    ExpectCounter {
        /// The counter.
        name: Ident,
        /// The expected number.
        value: Value,
        /// Whether the number counts bytes (else packets).
        bytes: bool,
        /// The whole statement.
        span: Span,
    },
    /// `expect rule [POLICY.]RULE hits == N;`
    ExpectRuleHits {
        /// The policy, when written.
        policy: Option<Ident>,
        /// The rule.
        rule: Ident,
        /// The expected number of hits.
        value: Value,
        /// The whole statement.
        span: Span,
    },
    /// `expect conntrack count == N;`
    ExpectConntrack {
        /// The expected number of connections.
        value: Value,
        /// The whole statement.
        span: Span,
    },
}

/// `send PACKET [on PORT] [at TIME] => EXPECT;`
#[derive(Clone, Debug, PartialEq)]
pub struct Send {
    /// The frame to send.
    pub packet: Packet,
    /// The ingress port.
    pub on: Option<Ident>,
    /// The virtual time at which it is sent.
    pub at: Option<Value>,
    /// What must happen to it.
    pub expect: Expect,
    /// The whole statement.
    pub span: Span,
}

/// A packet description of §8.
#[derive(Clone, Debug, PartialEq)]
pub struct Packet {
    /// The protocol form.
    pub kind: PacketKind,
    /// Options after the packet, in written order.
    pub options: Vec<PacketOpt>,
    /// The whole packet.
    pub span: Span,
}

/// The packet forms.
#[derive(Clone, Debug, PartialEq)]
pub enum PacketKind {
    /// `tcp SRC:PORT -> DST:PORT [flags]`
    Tcp {
        /// Source endpoint.
        src: Endpoint,
        /// Destination endpoint.
        dst: Endpoint,
        /// Flag names, as written.
        flags: Vec<Ident>,
    },
    /// `udp SRC:PORT -> DST:PORT`
    Udp {
        /// Source endpoint.
        src: Endpoint,
        /// Destination endpoint.
        dst: Endpoint,
    },
    /// `icmp SRC -> DST echo-request` / `... type N code M`
    Icmp {
        /// Source address.
        src: Value,
        /// Destination address.
        dst: Value,
        /// The message type.
        what: IcmpWhat,
    },
    /// `ip SRC -> DST proto N`
    Ip {
        /// Source address.
        src: Value,
        /// Destination address.
        dst: Value,
        /// The protocol number or name.
        proto: Value,
    },
    /// `raw "hex bytes"`
    Raw(StrLit),
}

/// The type of an ICMP test packet.
#[derive(Clone, Debug, PartialEq)]
pub enum IcmpWhat {
    /// A type name (`echo-request`).
    Name(Ident),
    /// `type N code M`
    TypeCode(Value, Value),
}

/// `ADDR:PORT` (IPv6 in brackets).
#[derive(Clone, Debug, PartialEq)]
pub struct Endpoint {
    /// The address.
    pub addr: Value,
    /// The port.
    pub port: Value,
}

/// Options after a packet.
#[derive(Clone, Debug, PartialEq)]
pub enum PacketOpt {
    /// `vlan N`
    Vlan(Value),
    /// `dscp N`
    Dscp(Value),
    /// `ecn N`
    Ecn(Value),
    /// `ttl N`
    Ttl(Value),
    /// `len N`
    Len(Value),
    /// `id N` (ICMP echo identifier)
    Id(Value),
    /// `seq N` (ICMP echo sequence)
    Seq(Value),
    /// `frag first|later`
    Frag(Ident),
    /// `eth SRC -> DST`
    Eth(Value, Value),
    /// `vxlan VNI { PACKET }`
    Vxlan(Value, Box<Packet>),
    /// `geneve VNI { PACKET }`
    Geneve(Value, Box<Packet>),
}

/// `accept|drop|forward PORT` and clauses.
#[derive(Clone, Debug, PartialEq)]
pub struct Expect {
    /// The verdict expected.
    pub verdict: ExpectVerdict,
    /// `by [POLICY.]RULE`
    pub by: Option<(Option<Ident>, Ident)>,
    /// `color green|yellow|red`
    pub color: Option<Ident>,
    /// `with dscp N`
    pub with_dscp: Option<Value>,
    /// `with mark N`
    pub with_mark: Option<Value>,
    /// The whole expectation.
    pub span: Span,
}

/// The verdict in an expectation.
#[derive(Clone, Debug, PartialEq)]
pub enum ExpectVerdict {
    /// `accept`
    Accept,
    /// `drop`
    Drop,
    /// `forward PORT`
    Forward(Ident),
}

/// A literal or a name in value position.
#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    /// What it is.
    pub kind: ValueKind,
    /// Where it is.
    pub span: Span,
}

/// Literal forms of §2.
#[derive(Clone, Debug, PartialEq)]
pub enum ValueKind {
    /// An integer, with the radix it was written in (10, 16 or 2) for `fmt`.
    Int(u128, u32),
    /// `10.0.0.1`
    Ipv4(Ipv4Addr),
    /// `2001:db8::1`
    Ipv6(Ipv6Addr),
    /// `10.0.0.0/8` (host bits already checked to be zero).
    Ipv4Prefix(Ipv4Addr, u8),
    /// `2001:db8::/32`
    Ipv6Prefix(Ipv6Addr, u8),
    /// `00:11:22:33:44:55`
    Mac([u8; 6]),
    /// `LOW-HIGH` (checked LOW <= HIGH when both are literals).
    Range(Box<Value>, Box<Value>),
    /// `"..."`
    Str(String),
    /// `30s`: nanoseconds, and the unit written (`ms`, `s`, `m`, `h`, `d`).
    Duration(u64, String),
    /// `100 Mbps`: the number and the unit as written.
    Rate(u64, String),
    /// `64 KB`, `200 packets`: the number and the unit as written.
    Size(u64, String),
    /// A name: a const, set, port or symbolic constant (`ssh`, `echo-request`).
    Name(String),
    /// `a|b|c` (TCP flag combinations).
    Flags(Vec<Value>),
}
