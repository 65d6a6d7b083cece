//! The DOCA Flow pipe data model: what `dpuc_install` creates, in creation
//! order. It is serialized as `NAME.doca.json` and the C is printed from it,
//! so the two always agree.

use serde::{Deserialize, Serialize};

/// Index of a pipe in [`Pipes::pipes`].
pub type PipeId = u32;

/// Every pipe of a program and the resources they use.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pipes {
    /// The program's name.
    pub program: String,
    /// The API level the C is written for.
    pub api: String,
    /// How ports are modelled.
    pub ports: String,
    /// Where packet metadata lives.
    pub metadata: Metadata,
    /// Shared counters (named counters), in IR counter order.
    pub shared_counters: Vec<String>,
    /// Shared meters, in IR meter order.
    pub shared_meters: Vec<SharedMeter>,
    /// What `dpuc_query_counter(id)` reads, indexed by id.
    pub counter_ids: Vec<CounterId>,
    /// The pipes; every pipe's targets come before it, the root is last.
    pub pipes: Vec<Pipe>,
    /// Connection tracking (DOCA Flow CT), when the program tracks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ct: Option<Ct>,
}

/// The metadata layout.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// Set-membership bits: bit `h % 32` of `meta.u32[h / 32]`.
    pub hit_bits: String,
    /// How many `meta.u32` words hold hit bits (cleared by the root pipe).
    pub hit_words: u32,
    /// Where `meta.mark` lives.
    pub mark: String,
    /// `meta.mark` lives in `meta.u32[w]` (programs that track: there
    /// `meta.pkt_meta` carries the connection manager's class id);
    /// `None`: in `meta.pkt_meta`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mark_word: Option<u32>,
}

/// What one counter id of `dpuc_query_counter` reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CounterId {
    /// A named counter: shared counter `index`.
    Shared {
        /// The counter's name.
        name: String,
        /// Index in [`Pipes::shared_counters`].
        index: u32,
    },
    /// A rule's hits: the sum of the NON_SHARED counters of its entries.
    Rule {
        /// `policy.rule`.
        rule: String,
    },
}

/// A shared meter's configuration (`struct doca_flow_resource_meter_cfg`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedMeter {
    /// The IR meter's name.
    pub name: String,
    /// `DOCA_FLOW_METER_ALGORITHM_TYPE_RFC2697` or `..._RFC2698`.
    pub alg: String,
    /// `DOCA_FLOW_METER_LIMIT_TYPE_BYTES` or `..._PACKETS`.
    pub limit_type: String,
    /// Committed rate (bytes or packets per second).
    pub cir: u64,
    /// Committed burst.
    pub cbs: u64,
    /// RFC 2697 excess burst (0 for a token bucket).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ebs: Option<u64>,
    /// RFC 2698 peak rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pir: Option<u64>,
    /// RFC 2698 peak burst.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pbs: Option<u64>,
}

/// `enum doca_flow_pipe_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PipeType {
    /// Exact match (or match-all).
    Basic,
    /// Control pipe: prioritized value/mask entries with actions.
    Control,
    /// Longest prefix match on one field.
    Lpm,
    /// Prioritized value/mask entries (lower priority value wins).
    Acl,
    /// DOCA Flow CT: the connection table (entries added at run time).
    Ct,
}

impl PipeType {
    /// The C enumerator.
    pub fn c_name(self) -> &'static str {
        match self {
            PipeType::Basic => "DOCA_FLOW_PIPE_BASIC",
            PipeType::Control => "DOCA_FLOW_PIPE_CONTROL",
            PipeType::Lpm => "DOCA_FLOW_PIPE_LPM",
            PipeType::Acl => "DOCA_FLOW_PIPE_ACL",
            PipeType::Ct => "DOCA_FLOW_PIPE_CT",
        }
    }
}

/// The outer L3 type a pipe's packets have (`outer.l3_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum L3 {
    /// Not split by family.
    Any,
    /// IPv4.
    Ip4,
    /// IPv6.
    Ip6,
    /// Neither.
    None,
}

/// The outer L4 type a pipe's packets have (`outer.l4_type_ext`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum L4 {
    /// Not split by L4 type.
    Any,
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// ICMP or ICMPv6.
    Icmp,
    /// None of those.
    None,
}

/// A matchable or writable member of `struct doca_flow_match` /
/// `struct doca_flow_actions`; values are big-endian bytes of the member.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocaField {
    /// `parser_meta.port_id` (host order).
    PortId,
    /// `parser_meta.outer_l3_type`.
    L3Meta,
    /// `parser_meta.outer_l4_type`.
    L4Meta,
    /// `parser_meta.meter_color`.
    MeterColor,
    /// `meta.pkt_meta`.
    PktMeta,
    /// `meta.u32[i]`.
    MetaU32(u32),
    /// `outer.eth.src_mac`.
    EthSrc,
    /// `outer.eth.dst_mac`.
    EthDst,
    /// `outer.eth.type`.
    EthType,
    /// `outer.l2_valid_headers` (host order).
    L2Valid,
    /// `outer.eth_vlan[0].tci`.
    VlanTci,
    /// `outer.ip4.src_ip`.
    Ip4Src,
    /// `outer.ip4.dst_ip`.
    Ip4Dst,
    /// `outer.ip4.next_proto`.
    Ip4Proto,
    /// `outer.ip4.dscp_ecn`.
    Ip4DscpEcn,
    /// `outer.ip4.ttl`.
    Ip4Ttl,
    /// `outer.ip6.src_ip`.
    Ip6Src,
    /// `outer.ip6.dst_ip`.
    Ip6Dst,
    /// `outer.ip6.next_proto`.
    Ip6Proto,
    /// `outer.ip6.traffic_class`.
    Ip6Tc,
    /// `outer.ip6.hop_limit`.
    Ip6Hop,
    /// `outer.tcp.l4_port.src_port`.
    TcpSrc,
    /// `outer.tcp.l4_port.dst_port`.
    TcpDst,
    /// `outer.tcp.flags`.
    TcpFlags,
    /// `outer.udp.l4_port.src_port`.
    UdpSrc,
    /// `outer.udp.l4_port.dst_port`.
    UdpDst,
    /// `outer.icmp.type`.
    IcmpType,
    /// `outer.icmp.code`.
    IcmpCode,
    /// `outer.icmp.ident` (the echo identifier).
    IcmpIdent,
}

impl DocaField {
    /// Width of the member in bytes.
    pub fn bytes(self) -> u32 {
        use DocaField::*;
        match self {
            L3Meta | L4Meta | MeterColor | Ip4Proto | Ip4DscpEcn | Ip4Ttl | Ip6Proto | Ip6Tc
            | Ip6Hop | TcpFlags | IcmpType | IcmpCode => 1,
            PortId | EthType | L2Valid | VlanTci | TcpSrc | TcpDst | UdpSrc | UdpDst
            | IcmpIdent => 2,
            PktMeta | MetaU32(_) | Ip4Src | Ip4Dst => 4,
            EthSrc | EthDst => 6,
            Ip6Src | Ip6Dst => 16,
        }
    }

    /// The C member path (for reports and comments).
    pub fn member(self) -> String {
        use DocaField::*;
        let s = match self {
            PortId => "parser_meta.port_id",
            L3Meta => "parser_meta.outer_l3_type",
            L4Meta => "parser_meta.outer_l4_type",
            MeterColor => "parser_meta.meter_color",
            PktMeta => "meta.pkt_meta",
            MetaU32(i) => return format!("meta.u32[{i}]"),
            EthSrc => "outer.eth.src_mac",
            EthDst => "outer.eth.dst_mac",
            EthType => "outer.eth.type",
            L2Valid => "outer.l2_valid_headers",
            VlanTci => "outer.eth_vlan[0].tci",
            Ip4Src => "outer.ip4.src_ip",
            Ip4Dst => "outer.ip4.dst_ip",
            Ip4Proto => "outer.ip4.next_proto",
            Ip4DscpEcn => "outer.ip4.dscp_ecn",
            Ip4Ttl => "outer.ip4.ttl",
            Ip6Src => "outer.ip6.src_ip",
            Ip6Dst => "outer.ip6.dst_ip",
            Ip6Proto => "outer.ip6.next_proto",
            Ip6Tc => "outer.ip6.traffic_class",
            Ip6Hop => "outer.ip6.hop_limit",
            TcpSrc => "outer.tcp.l4_port.src_port",
            TcpDst => "outer.tcp.l4_port.dst_port",
            TcpFlags => "outer.tcp.flags",
            UdpSrc => "outer.udp.l4_port.src_port",
            UdpDst => "outer.udp.l4_port.dst_port",
            IcmpType => "outer.icmp.type",
            IcmpCode => "outer.icmp.code",
            IcmpIdent => "outer.icmp.ident",
        };
        s.to_string()
    }

    /// The C enumerator of the emitted `enum dpuc_field`.
    pub fn c_enum(self) -> String {
        let dbg = match self {
            DocaField::MetaU32(i) => return format!("DPUC_F_META_U32_{i}"),
            other => format!("{other:?}"),
        };
        let mut s = String::from("DPUC_F");
        for c in dbg.chars() {
            if c.is_ascii_uppercase() {
                s.push('_');
            }
            s.push(c.to_ascii_uppercase());
        }
        s
    }
}

/// `value & mask` on one field, as hex of the member's big-endian bytes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FieldMatch {
    /// The member.
    pub field: DocaField,
    /// The value, `0x`-prefixed hex.
    #[serde(serialize_with = "hex", deserialize_with = "unhex")]
    pub value: u128,
    /// The mask, `0x`-prefixed hex.
    #[serde(serialize_with = "hex", deserialize_with = "unhex")]
    pub mask: u128,
}

/// A write of `value` to the `mask` bits of a field.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Write {
    /// The member.
    pub field: DocaField,
    /// The value.
    #[serde(serialize_with = "hex", deserialize_with = "unhex")]
    pub value: u128,
    /// The bits written.
    #[serde(serialize_with = "hex", deserialize_with = "unhex")]
    pub mask: u128,
}

/// A field a pipe's entries write, and which bits (`actions_masks`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct WriteMask {
    /// The member.
    pub field: DocaField,
    /// The bits written.
    #[serde(serialize_with = "hex", deserialize_with = "unhex")]
    pub mask: u128,
}

fn hex<S: serde::Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{v:#x}"))
}

fn unhex<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
    let s = String::deserialize(d)?;
    let digits = s
        .strip_prefix("0x")
        .ok_or_else(|| serde::de::Error::custom(format!("`{s}` is not 0x-prefixed hex")))?;
    u128::from_str_radix(digits, 16).map_err(serde::de::Error::custom)
}

/// `struct doca_flow_fwd`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fwd {
    /// `DOCA_FLOW_FWD_DROP`.
    Drop,
    /// `DOCA_FLOW_FWD_PORT` to this port id.
    Port(u32),
    /// `DOCA_FLOW_FWD_PIPE` to this pipe.
    Pipe(PipeId),
    /// `DOCA_FLOW_FWD_TARGET` to the kernel (`doca_flow_get_target`).
    Kernel,
    /// `DOCA_FLOW_FWD_RSS` to the connection manager's queue; the entry
    /// has written this class ([`Ct::classes`]) into `meta.pkt_meta`.
    Software(u32),
}

/// A pipe's monitor (`struct doca_flow_monitor`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Monitor {
    /// `counter_type = DOCA_FLOW_RESOURCE_TYPE_NON_SHARED`: a counter per entry.
    pub per_entry_counter: bool,
    /// `counter_type = DOCA_FLOW_RESOURCE_TYPE_SHARED`, id set per entry.
    pub shared_counter: bool,
    /// `meter_type = DOCA_FLOW_RESOURCE_TYPE_SHARED`, id set per entry.
    pub shared_meter: bool,
    /// `aging_sec`: entries idle this long are aged out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aging_sec: Option<u32>,
}

/// One pipe.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pipe {
    /// Its index.
    pub id: PipeId,
    /// `doca_flow_pipe_cfg_set_name`.
    pub name: String,
    /// `doca_flow_pipe_cfg_set_type`.
    #[serde(rename = "type")]
    pub ty: PipeType,
    /// `doca_flow_pipe_cfg_set_is_root`.
    pub is_root: bool,
    /// What it is for (the IR table, rule or meter).
    pub purpose: String,
    /// The packets' L3 type (set in the match template and every entry).
    pub l3: L3,
    /// The packets' L4 type.
    pub l4: L4,
    /// Fields the entries match (changeable in the match template).
    pub match_fields: Vec<DocaField>,
    /// Fields the entries write, with the bits written (`actions_masks`).
    pub write_fields: Vec<WriteMask>,
    /// The monitor.
    pub monitor: Monitor,
    /// Miss forwarding (`fwd_miss`); `None` for control and match-all pipes.
    pub fwd_miss: Option<Fwd>,
    /// The pipe's own forwarding, for entries the connection manager adds
    /// at run time (`None`: each entry has its own `fwd`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fwd: Option<Fwd>,
    /// The connection table whose entries the manager mirrors into this
    /// pipe at run time (none are installed by `dpuc_install`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<CtTable>,
    /// The entries.
    pub entries: Vec<PipeEntry>,
}

/// One pipe entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipeEntry {
    /// ACL/control priority (lower wins).
    pub priority: u32,
    /// Value/mask per field (exact pipes use the value only).
    pub matches: Vec<FieldMatch>,
    /// Field writes (`struct doca_flow_actions`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub writes: Vec<Write>,
    /// Where a hit goes.
    pub fwd: Fwd,
    /// Shared counter index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counter: Option<u32>,
    /// Shared meter index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meter: Option<u32>,
    /// The IR rule whose hits this entry counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<u32>,
    /// When `fwd` ends the packet's walk (drop, port, kernel): the IR rule
    /// that decided it, as tests report it (`None`: a policy default or a
    /// line without a policy). Not installed; the simulator reads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict_rule: Option<u32>,
}

/// Which connections a run-time pipe holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CtTable {
    /// TCP and UDP connections: the DOCA Flow CT pipe, one rule per
    /// direction (`doca_flow_ct_add_entry` with both directions).
    Conn,
    /// ICMP echo connections: a BASIC pipe on (zone, addresses, echo
    /// identifier), one entry per direction, aged by `aging_sec`.
    IcmpEcho,
}

/// Bits of the connection word `meta.u32[Ct::words.state]`.
///
/// The connection table writes the low bits for the packet's direction
/// (a miss leaves them 0); the state pipes then compute `ct.state` and
/// whether the connection manager must see the packet; rules set
/// `MARK_SET` and `NO_TRACK`.
pub mod ct_bits {
    /// The packet matched a connection.
    pub const HIT: u32 = 1 << 0;
    /// It goes the reply way (`ct.direction`).
    pub const REPLY: u32 = 1 << 1;
    /// A packet this way without SYN/RST is `established` (the reply
    /// direction, or a connection that has seen a reply).
    pub const EST: u32 = 1 << 2;
    /// A SYN this way is a retransmission (original way, SYN_SENT).
    pub const SYN_OK: u32 = 1 << 3;
    /// A SYN this way reopens the connection (original way, TIME_WAIT).
    pub const TIME_WAIT: u32 = 1 << 4;
    /// A packet this way without SYN, FIN or RST changes nothing.
    pub const FAST: u32 = 1 << 5;
    /// What the connection tables write.
    pub const CONN: u32 = 0x3f;
    /// `ct.state` is bits `STATE_SHIFT..STATE_SHIFT + 3`.
    pub const STATE_SHIFT: u32 = 8;
    /// The `ct.state` bits.
    pub const STATE: u32 = 7 << STATE_SHIFT;
    /// The packet changes its connection: the manager must see it.
    pub const EVENT: u32 = 1 << 11;
    /// The packet opens a connection if it is accepted.
    pub const NEW_FLOW: u32 = 1 << 12;
    /// A rule set `ct.mark`.
    pub const MARK_SET: u32 = 1 << 13;
    /// A rule said `notrack`.
    pub const NO_TRACK: u32 = 1 << 14;
}

/// The connection tracker on DOCA Flow: the CT configuration, where its
/// state lives, and what the connection manager does with the packets
/// sent to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ct {
    /// `max_entries`: connections (CT, and ICMP echo) the manager admits;
    /// `doca_flow_ct_cfg_set_connections` and the echo pipes' sizes.
    pub max_entries: u64,
    /// Timeouts in seconds (CT `timeout_s`, echo `aging_sec`).
    pub timeouts_s: CtTimeouts,
    /// The zone: `in_port`, or none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// Metadata words.
    pub words: CtWords,
    /// The connection word's bits ([`ct_bits`]).
    pub bits: CtBits,
    /// The CT pipe.
    pub pipe: PipeId,
    /// The ICMP echo pipes (IPv4, IPv6).
    pub echo_pipes: Vec<PipeId>,
    /// What the manager does with a packet, by the class id the pipes
    /// wrote into `meta.pkt_meta` before `DOCA_FLOW_FWD_RSS`.
    pub classes: Vec<CtClass>,
}

/// §5 timeouts in whole seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CtTimeouts {
    /// SYN_SENT / SYN_RECV.
    pub tcp_handshake: u32,
    /// ESTABLISHED.
    pub tcp_established: u32,
    /// FIN_WAIT .. TIME_WAIT.
    pub tcp_closing: u32,
    /// UDP, one way.
    pub udp: u32,
    /// UDP, both ways.
    pub udp_stream: u32,
    /// ICMP echo.
    pub icmp: u32,
}

/// The `meta.u32` words the tracker uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CtWords {
    /// The connection word ([`ct_bits`]).
    pub state: u32,
    /// `ct.mark`.
    pub mark: u32,
    /// The zone (the ingress port number), matched by the connection
    /// tables (`zone_match_mask`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<u32>,
}

/// The values of [`ct_bits`], spelled out for loaders.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CtBits {
    /// [`ct_bits::HIT`].
    pub hit: u32,
    /// [`ct_bits::REPLY`].
    pub reply: u32,
    /// [`ct_bits::EST`].
    pub est: u32,
    /// [`ct_bits::SYN_OK`].
    pub syn_ok: u32,
    /// [`ct_bits::TIME_WAIT`].
    pub time_wait: u32,
    /// [`ct_bits::FAST`].
    pub fast: u32,
    /// [`ct_bits::STATE_SHIFT`].
    pub state_shift: u32,
    /// [`ct_bits::EVENT`].
    pub event: u32,
    /// [`ct_bits::NEW_FLOW`].
    pub new_flow: u32,
    /// [`ct_bits::MARK_SET`].
    pub mark_set: u32,
    /// [`ct_bits::NO_TRACK`].
    pub no_track: u32,
}

impl CtBits {
    /// The layout of [`ct_bits`].
    pub const STANDARD: CtBits = CtBits {
        hit: ct_bits::HIT,
        reply: ct_bits::REPLY,
        est: ct_bits::EST,
        syn_ok: ct_bits::SYN_OK,
        time_wait: ct_bits::TIME_WAIT,
        fast: ct_bits::FAST,
        state_shift: ct_bits::STATE_SHIFT,
        event: ct_bits::EVENT,
        new_flow: ct_bits::NEW_FLOW,
        mark_set: ct_bits::MARK_SET,
        no_track: ct_bits::NO_TRACK,
    };
}

/// What the connection manager does with a packet of one class: apply
/// §5's lookup to its connection (the pipes already let the policy see
/// the state it had), commit if `commit` (a new connection, or a new
/// `ct.mark`; a full table drops the packet), then deliver it to `fwd`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CtClass {
    /// Where the packet goes: a port, the kernel, or drop.
    pub fwd: Fwd,
    /// Whether the policy accepted it without `notrack`.
    pub commit: bool,
    /// The `ct.mark` a rule set, to commit; `None`: the connection keeps
    /// its mark (a new one gets 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mark: Option<u32>,
    /// Its zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<u32>,
}
