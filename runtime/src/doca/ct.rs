//! The tracker on the simulated device: the CT pipe and the ICMP echo
//! pipes, whose entries the connection manager keeps, and the manager
//! itself.
//!
//! The manager applies §5 ([`Tracker`]) to the packets the pipes send it;
//! it is the only writer of the connection tables, and it writes into
//! them, for each direction of each live connection, what §5 would answer
//! to the next packet that way ([`bits`]). So the simulator runs the
//! tracker's lookup for every packet (as the device's tables and the
//! manager together do) and checks the lowering against it:
//!
//! * the state the pipes computed for a TCP, UDP or ICMP echo packet is
//!   the tracker's (`ct.state`, `ct.direction`, `ct.mark`);
//! * a packet that leaves the pipes without the manager (port, kernel,
//!   drop) changed no connection and needs no commit;
//! * the manager commits what sw commits: the same packets, marks and
//!   full-table drops.
//!
//! A violation is an error of the model (`send` fails), not a verdict.
//!
//! On request the simulator also records what reaches the manager
//! ([`ManagerStep`]): each packet with its class, port and time, what the
//! manager must deliver and every live connection's entries after it, and
//! the connections the device aged in between. A manager written for the
//! device (the C one in `NAME_doca.c`) must reproduce it.

use super::headers::Headers;
use crate::conntrack::{Config, Direction, Lookup, Peek, Tcp, Tracker};
use crate::packet::{Layer, L4};
use dpuc_doca::model::{ct_bits, Ct, CtBits, CtTable, CtTimeouts, Fwd, L4 as DocaL4};
use dpuc_ir::{CtState, Program, Timeouts};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// One step of the connection manager's work while the simulator runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ManagerStep {
    /// The tables were emptied (a new test begins).
    Reset,
    /// The device aged a connection, named by the key of its original
    /// direction's entry (a [`ManagerPacket::table`] line up to ` bits=`).
    Aged(String),
    /// A packet reached the manager.
    Packet(ManagerPacket),
}

/// A packet the pipes sent to the manager, and what the manager must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManagerPacket {
    /// The frame.
    pub frame: Vec<u8>,
    /// Its class id (`meta.pkt_meta`).
    pub class: u32,
    /// The port it arrived on.
    pub in_port: u32,
    /// When, on the tests' clock.
    pub now_ns: u64,
    /// `port N`, `kernel`, `drop`, or `full` (dropped: no room).
    pub delivery: String,
    /// The entries of every live connection afterwards, one line per
    /// direction, sorted: `PROTO ZONE SRC:SPORT>DST:DPORT bits=HEX mark=N
    /// t=SECONDS` (addresses in hex, ICMP echo ports are the identifier).
    pub table: Vec<String>,
}

/// What a recording keeps: the steps, and the live connections' original
/// directions by key (to notice when the device ages one).
struct Recording {
    steps: Vec<ManagerStep>,
    conns: BTreeMap<String, (Layer, Vec<u128>)>,
}

/// `layer` with addresses and ports swapped: the reply direction.
fn reversed(layer: &Layer) -> Layer {
    let mut r = *layer;
    if let Some(ip) = &mut r.ip {
        std::mem::swap(&mut ip.src, &mut ip.dst);
    }
    r.l4 = match layer.l4 {
        Some(L4::Tcp {
            sport,
            dport,
            flags,
        }) => Some(L4::Tcp {
            sport: dport,
            dport: sport,
            flags,
        }),
        Some(L4::Udp { sport, dport }) => Some(L4::Udp {
            sport: dport,
            dport: sport,
        }),
        other => other,
    };
    r
}

/// The key of a direction's entry: protocol, zone, addresses and ports.
fn entry_key(layer: &Layer, zone: &[u128]) -> Option<String> {
    let ip = layer.ip?;
    let hex = |a: IpAddr| -> String {
        let bytes = match a {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
        };
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    };
    let (sport, dport) = match layer.l4? {
        L4::Tcp { sport, dport, .. } | L4::Udp { sport, dport } => (sport, dport),
        L4::Icmp { id, .. } => (id, id),
        L4::Sctp { .. } => return None,
    };
    Some(format!(
        "{} {} {}:{sport}>{}:{dport}",
        ip.proto,
        zone.first().copied().unwrap_or(0),
        hex(ip.src),
        hex(ip.dst)
    ))
}

/// The timeout in seconds of a connection as `p` finds it.
fn timeout_s(t: &CtTimeouts, proto: u8, p: &Peek) -> u32 {
    match (proto, p.tcp) {
        (6, Some(Tcp::SynSent | Tcp::SynRecv)) => t.tcp_handshake,
        (6, Some(Tcp::Established)) => t.tcp_established,
        (6, _) => t.tcp_closing,
        (17, _) if p.replied => t.udp_stream,
        (17, _) => t.udp,
        _ => t.icmp,
    }
}

/// The connection word bits the tables write for a packet that finds
/// connection `p` going its way.
pub fn bits(p: &Peek) -> u32 {
    let reply = p.direction == Direction::Reply;
    let mut b = ct_bits::HIT;
    if reply {
        b |= ct_bits::REPLY;
    }
    if reply || p.replied {
        b |= ct_bits::EST;
    }
    if !reply && p.tcp == Some(Tcp::SynSent) {
        b |= ct_bits::SYN_OK;
    }
    if !reply && p.tcp == Some(Tcp::TimeWait) {
        b |= ct_bits::TIME_WAIT;
    }
    if p.plain_is_noop {
        b |= ct_bits::FAST;
    }
    b
}

/// What the tracker said about a packet before the pipes ran.
pub struct Before {
    /// The connection it finds (before the lookup advanced it).
    peek: Option<Peek>,
    /// The lookup (which advanced it).
    lookup: Lookup,
    /// The zone key.
    zone: Vec<u128>,
    /// TCP, UDP or ICMP echo: tracked by its own tuple, so the pipes
    /// know its state exactly.
    keyed: bool,
    /// The port it arrived on.
    port: u32,
}

/// Where a packet went, after the manager.
pub struct Outcome {
    /// Port, kernel or drop.
    pub fwd: Fwd,
    /// The manager dropped it: the table was full.
    pub full: bool,
}

/// The tracker of one simulated device.
pub struct CtSim {
    model: Ct,
    config: Config,
    tracker: Tracker,
    zone_in_port: bool,
    recording: Option<Recording>,
}

impl CtSim {
    /// The tracker `model` describes, for `program`.
    pub fn new(model: &Ct, program: &Program) -> Result<CtSim, String> {
        let Some(ct) = &program.conntrack else {
            return Err("the model tracks connections and the program has no tracker".into());
        };
        if model.bits != CtBits::STANDARD {
            return Err("the connection word's bits are not dpuc's".into());
        }
        let zone_in_port = match model.zone.as_deref() {
            None => false,
            Some("in_port") => true,
            Some(z) => return Err(format!("unknown zone `{z}`")),
        };
        let s = |x: u32| u64::from(x) * 1_000_000_000;
        let t = &model.timeouts_s;
        let config = Config {
            max_entries: model.max_entries,
            evict_oldest: false,
            timeouts: Timeouts {
                tcp_handshake: s(t.tcp_handshake),
                tcp_established: s(t.tcp_established),
                tcp_closing: s(t.tcp_closing),
                udp: s(t.udp),
                udp_stream: s(t.udp_stream),
                icmp: s(t.icmp),
                other: ct.timeouts.other,
            },
        };
        Ok(CtSim {
            model: model.clone(),
            config,
            tracker: Tracker::new(config),
            zone_in_port,
            recording: None,
        })
    }

    /// No connections.
    pub fn reset(&mut self) {
        self.tracker = Tracker::new(self.config);
        if let Some(r) = &mut self.recording {
            r.steps.push(ManagerStep::Reset);
            r.conns.clear();
        }
    }

    /// Starts recording what reaches the manager (from empty tables).
    pub fn record(&mut self) {
        self.recording = Some(Recording {
            steps: vec![ManagerStep::Reset],
            conns: BTreeMap::new(),
        });
        self.tracker = Tracker::new(self.config);
    }

    /// The steps recorded so far.
    pub fn take_steps(&mut self) -> Vec<ManagerStep> {
        self.recording
            .as_mut()
            .map(|r| std::mem::take(&mut r.steps))
            .unwrap_or_default()
    }

    /// The entries of every live connection, one line per direction.
    fn table(&self, conns: &BTreeMap<String, (Layer, Vec<u128>)>, now: u64) -> Vec<String> {
        let mut lines = Vec::new();
        for (layer, zone) in conns.values() {
            for l in [*layer, reversed(layer)] {
                let (Some(p), Some(key), Some(ip)) = (
                    self.tracker.peek(&l, zone.clone(), now),
                    entry_key(&l, zone),
                    l.ip,
                ) else {
                    continue;
                };
                lines.push(format!(
                    "{key} bits={:x} mark={} t={}",
                    bits(&p),
                    p.mark,
                    timeout_s(&self.model.timeouts_s, ip.proto, &p)
                ));
            }
        }
        lines.sort();
        lines
    }

    /// Live connections.
    pub fn count(&self, now: u64) -> u64 {
        self.tracker.count(now)
    }

    /// Looks a packet up, as the tables and the manager will see it.
    pub fn before(&mut self, frame: &[u8], layer: &Layer, port: u32, now: u64) -> Before {
        let zone = if self.zone_in_port {
            vec![u128::from(port)]
        } else {
            vec![]
        };
        if let Some(mut r) = self.recording.take() {
            // The device ages what §5 lets expire: report it before the packet.
            let tracker = &self.tracker;
            r.conns.retain(|key, (l, z)| {
                let live = tracker.peek(l, z.clone(), now).is_some();
                if !live {
                    r.steps.push(ManagerStep::Aged(key.clone()));
                }
                live
            });
            self.recording = Some(r);
        }
        let peek = self.tracker.peek(layer, zone.clone(), now);
        let lookup = self.tracker.lookup(frame, layer, zone.clone(), now);
        let keyed = layer.malformed.is_none()
            && layer.ip.is_some()
            && match layer.l4 {
                Some(L4::Tcp { .. } | L4::Udp { .. }) => true,
                Some(L4::Icmp { v6, ty, .. }) => {
                    if v6 {
                        ty == 128 || ty == 129
                    } else {
                        ty == 8 || ty == 0
                    }
                }
                _ => false,
            };
        Before {
            peek,
            lookup,
            zone,
            keyed,
            port,
        }
    }

    /// The connection word bits and mark table `table` writes for the
    /// packet, or `None` on a miss.
    pub fn table_hit(
        &self,
        table: CtTable,
        b: &Before,
        h: &Headers,
    ) -> Result<Option<(u32, u32)>, String> {
        if let (Some(w), Some(z)) = (self.model.words.zone, b.zone.first()) {
            // A port the program does not name gets a zone no connection
            // has (none can: connections open on pipeline lines).
            if u128::from(h.word(w)) != *z && b.peek.is_some() {
                return Err(format!(
                    "the zone word holds {} but the packet's zone is {z}",
                    h.word(w)
                ));
            }
        }
        let serves = match table {
            CtTable::Conn => matches!(h.l4, DocaL4::Tcp | DocaL4::Udp),
            CtTable::IcmpEcho => h.l4 == DocaL4::Icmp,
        };
        if !serves || !b.keyed {
            return Ok(None);
        }
        Ok(b.peek.as_ref().map(|p| (bits(p), p.mark)))
    }

    /// Checks the pipes' view of the packet against the tracker's, and
    /// runs the manager if the pipes sent the packet to it.
    pub fn finish(
        &mut self,
        end: Fwd,
        b: &Before,
        h: &Headers,
        frame: &[u8],
        layer: &Layer,
        now: u64,
    ) -> Result<Outcome, String> {
        let out = self.check_and_manage(end, b, h, layer, now)?;
        let Fwd::Software(class) = end else {
            return Ok(out);
        };
        if let Some(mut r) = self.recording.take() {
            if let (Some(key), false) = (entry_key(layer, &b.zone), out.full) {
                if b.lookup.new_flow.is_some()
                    && self.tracker.peek(layer, b.zone.clone(), now).is_some()
                {
                    r.conns.insert(key, (*layer, b.zone.clone()));
                }
            }
            // Connections the packet ended (RST, a SYN in TIME_WAIT).
            let tracker = &self.tracker;
            r.conns
                .retain(|_, (l, z)| tracker.peek(l, z.clone(), now).is_some());
            let delivery = match (out.full, out.fwd) {
                (true, _) => "full".to_string(),
                (_, Fwd::Port(n)) => format!("port {n}"),
                (_, Fwd::Kernel) => "kernel".to_string(),
                _ => "drop".to_string(),
            };
            let table = self.table(&r.conns, now);
            r.steps.push(ManagerStep::Packet(ManagerPacket {
                frame: frame.to_vec(),
                class,
                in_port: b.port,
                now_ns: now,
                delivery,
                table,
            }));
            self.recording = Some(r);
        }
        Ok(out)
    }

    /// [`CtSim::finish`] without the recording.
    fn check_and_manage(
        &mut self,
        end: Fwd,
        b: &Before,
        h: &Headers,
        layer: &Layer,
        now: u64,
    ) -> Result<Outcome, String> {
        let w = self.model.words;
        let word = h.word(w.state);
        let mark = h.word(w.mark);
        let l = &b.lookup;
        if b.keyed {
            let state = (word & ct_bits::STATE) >> ct_bits::STATE_SHIFT;
            let reply = word & ct_bits::REPLY != 0;
            let mark_ok = word & ct_bits::MARK_SET != 0 || mark == l.mark;
            if state != l.state as u32 || reply != (l.direction == Direction::Reply) || !mark_ok {
                return Err(format!(
                    "the pipes computed state {state}, reply {reply}, mark {mark}; the tracker says {:?}, {:?}, mark {}",
                    l.state, l.direction, l.mark
                ));
            }
        }
        let commits = !matches!(l.state, CtState::Invalid | CtState::Untracked);
        match end {
            Fwd::Software(id) => {
                let class = *self
                    .model
                    .classes
                    .get(id as usize)
                    .ok_or_else(|| format!("no manager class {id}"))?;
                if let (Some(z), Some(zw)) = (class.zone, w.zone) {
                    if h.word(zw) != z {
                        return Err(format!(
                            "class {id} is for zone {z}, the packet's is {}",
                            h.word(zw)
                        ));
                    }
                }
                if class.mark.is_some_and(|m| m != mark) {
                    return Err(format!(
                        "class {id} commits another mark than the packet's {mark}"
                    ));
                }
                if class.commit && commits {
                    let m = class.mark.unwrap_or(l.mark);
                    if self.tracker.commit(l, m, now).is_err() {
                        return Ok(Outcome {
                            fwd: Fwd::Drop,
                            full: true,
                        });
                    }
                }
                Ok(Outcome {
                    fwd: class.fwd,
                    full: false,
                })
            }
            Fwd::Pipe(p) => Err(format!("the walk ended at pipe {p}")),
            fwd => {
                if b.keyed {
                    let after = self.tracker.peek(layer, b.zone.clone(), now);
                    if after != b.peek {
                        return Err(format!(
                            "the packet changed its connection ({:?} to {after:?}) without reaching the connection manager",
                            b.peek
                        ));
                    }
                }
                let accepted = fwd != Fwd::Drop && word & ct_bits::NO_TRACK == 0;
                if accepted && commits && (l.new_flow.is_some() || word & ct_bits::MARK_SET != 0) {
                    return Err(
                        "an accepted packet that commits did not reach the connection manager"
                            .into(),
                    );
                }
                Ok(Outcome { fwd, full: false })
            }
        }
    }
}
