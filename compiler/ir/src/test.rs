//! A policy's inline tests (§8) as plain data, so every target's runner
//! executes the same steps.

use crate::{CounterId, PortId, RuleId};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Where a step came from, for reports (byte offsets in a source file).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRef {
    /// The source file's index in the compilation's source map.
    pub file: u32,
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
}

/// Every test of a file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Suite {
    /// The tests in source order.
    pub tests: Vec<Test>,
}

/// One `test "NAME" { ... }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Test {
    /// The name.
    pub name: String,
    /// The steps in order.
    pub steps: Vec<Step>,
}

/// A test step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Send a frame and check what happens to it.
    Send {
        /// The frame.
        packet: Packet,
        /// Ingress port (`None`: the first port, or port 0 without ports).
        port: Option<PortId>,
        /// Absolute virtual time, if given.
        at_ns: Option<u64>,
        /// What must happen.
        expect: Expect,
        /// Where it is written.
        at: SourceRef,
    },
    /// Advance the virtual clock.
    After(u64),
    /// A named counter's value.
    ExpectCounter {
        /// The counter.
        counter: CounterId,
        /// Bytes (else packets).
        bytes: bool,
        /// Expected value.
        value: u64,
        /// Where it is written.
        at: SourceRef,
    },
    /// A rule's hit count.
    ExpectRuleHits {
        /// The rule.
        rule: RuleId,
        /// Expected hits.
        value: u64,
        /// Where it is written.
        at: SourceRef,
    },
    /// The number of live connections.
    ExpectConntrack {
        /// Expected count.
        value: u64,
        /// Where it is written.
        at: SourceRef,
    },
}

/// A test frame: described, or raw bytes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Packet {
    /// Built exactly as §8 says.
    Spec(PacketSpec),
    /// Hand-made bytes.
    Raw(Vec<u8>),
}

/// The §8 packet description.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PacketSpec {
    /// Ethernet source.
    pub eth_src: [u8; 6],
    /// Ethernet destination.
    pub eth_dst: [u8; 6],
    /// One 802.1Q tag.
    pub vlan: Option<u16>,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// The L4 part.
    pub l4: L4Spec,
    /// DSCP.
    pub dscp: u8,
    /// ECN.
    pub ecn: u8,
    /// TTL / hop limit.
    pub ttl: u8,
    /// Pad the whole frame to this many bytes.
    pub len: Option<u16>,
    /// Fragment position.
    pub frag: FragSpec,
    /// Encapsulate another packet.
    pub encap: Option<Box<Encap>>,
}

impl PacketSpec {
    /// A packet with §8's defaults: the default MACs, no tag, DSCP and ECN 0,
    /// TTL 64, no padding, not fragmented, not tunnelled.
    pub fn new(src: IpAddr, dst: IpAddr, l4: L4Spec) -> Self {
        PacketSpec {
            eth_src: [2, 0, 0, 0, 0, 1],
            eth_dst: [2, 0, 0, 0, 0, 2],
            vlan: None,
            src,
            dst,
            l4,
            dscp: 0,
            ecn: 0,
            ttl: 64,
            len: None,
            frag: FragSpec::None,
            encap: None,
        }
    }
}

/// Fragment position of a test packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FragSpec {
    /// Not a fragment.
    None,
    /// First fragment.
    First,
    /// A later fragment.
    Later,
}

/// The L4 part of a test packet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum L4Spec {
    /// TCP with a flags byte.
    Tcp {
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
        /// Flags byte.
        flags: u8,
    },
    /// UDP.
    Udp {
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
    },
    /// ICMP or ICMPv6 (by the addresses' family).
    Icmp {
        /// Type.
        ty: u8,
        /// Code.
        code: u8,
        /// Echo identifier.
        id: u16,
        /// Echo sequence.
        seq: u16,
    },
    /// Another protocol, no L4 header.
    Proto(u8),
}

/// Tunnel encapsulation of a test packet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Encap {
    /// VXLAN or Geneve.
    pub kind: EncapKind,
    /// The network identifier.
    pub vni: u32,
    /// The inner packet.
    pub inner: PacketSpec,
}

/// Tunnel kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EncapKind {
    /// UDP 4789.
    Vxlan,
    /// UDP 6081.
    Geneve,
}

/// Meter colours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Color {
    /// Conforming.
    Green,
    /// Exceeding the committed rate.
    Yellow,
    /// Violating.
    Red,
}

/// What a sent frame must give.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Expect {
    /// The verdict.
    pub verdict: ExpectVerdict,
    /// The rule that decided.
    pub by: Option<RuleId>,
    /// The colour of the last meter met.
    pub color: Option<Color>,
    /// DSCP after rewrites.
    pub dscp: Option<u8>,
    /// Mark after rewrites.
    pub mark: Option<u32>,
}

/// Expected verdicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpectVerdict {
    /// Delivered to the pipeline's destination.
    Accept,
    /// Discarded.
    Drop,
    /// Delivered to this port.
    Forward(PortId),
}
