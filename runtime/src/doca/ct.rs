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

use super::headers::Headers;
use crate::conntrack::{Config, Direction, Lookup, Peek, Tcp, Tracker};
use crate::packet::{Layer, L4};
use dpuc_doca::model::{ct_bits, Ct, CtBits, CtTable, Fwd, L4 as DocaL4};
use dpuc_ir::{CtState, Program, Timeouts};

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
        })
    }

    /// No connections.
    pub fn reset(&mut self) {
        self.tracker = Tracker::new(self.config);
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
