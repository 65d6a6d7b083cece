//! The connection tracker of §5, on a caller-supplied nanosecond clock.
//!
//! Lookups are direction-independent and keyed by zone; a lookup advances
//! an existing connection's state and restarts its timer whatever the policy
//! then decides; a connection is created only by [`Tracker::commit`], which
//! the pipeline calls when a `new` packet is finally accepted. An entry whose
//! timeout has passed behaves exactly as absent.

use crate::packet::{self, Frag, Layer, Malformed, L4};
use dpuc_ir::{CtState, Timeouts};
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

/// The direction of a packet relative to its connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// As the connection's first packet.
    Original,
    /// The other way.
    Reply,
}

/// One direction of a flow: zone, protocol, addresses and ports (for ICMP
/// echo both "ports" are the identifier).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tuple {
    zone: Vec<u128>,
    proto: u8,
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
}

impl Tuple {
    /// The tuple of a packet with this IP header and these ports.
    fn of(zone: Vec<u128>, ip: &packet::Ip, sport: u16, dport: u16) -> Tuple {
        Tuple {
            zone,
            proto: ip.proto,
            src: ip.src,
            dst: ip.dst,
            sport,
            dport,
        }
    }

    fn reversed(&self) -> Tuple {
        Tuple {
            zone: self.zone.clone(),
            proto: self.proto,
            src: self.dst,
            dst: self.src,
            sport: self.dport,
            dport: self.sport,
        }
    }
}

/// Settings of a tracker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Table bound.
    pub max_entries: u64,
    /// Evict the least recently used connection when full (else refuse).
    pub evict_oldest: bool,
    /// Timeouts in ns.
    pub timeouts: Timeouts,
}

/// A TCP connection's state in the simplified nf_conntrack machine of §5.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tcp {
    /// A SYN went the original way.
    SynSent,
    /// The SYN-ACK came back.
    SynRecv,
    /// The handshake completed.
    Established,
    /// The original side sent a FIN.
    FinWait,
    /// The reply side sent a FIN.
    CloseWait,
    /// Both sides sent a FIN.
    LastAck,
    /// The last FIN was acknowledged.
    TimeWait,
}

#[derive(Clone, Debug)]
struct Conn {
    orig: Tuple,
    tcp: Option<Tcp>,
    fin_orig: bool,
    fin_reply: bool,
    replied: bool,
    mark: u32,
    last_ns: u64,
}

/// What a lookup found, for the policy and for a later [`Tracker::commit`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lookup {
    /// `ct.state`.
    pub state: CtState,
    /// `ct.direction`.
    pub direction: Direction,
    /// `ct.mark`.
    pub mark: u32,
    /// The flow to commit if the packet is `new` and accepted.
    pub new_flow: Option<Tuple>,
    /// The connection the packet belongs to.
    conn: Option<Tuple>,
}

/// A live connection as one packet finds it, read without advancing
/// anything: what a target that mirrors the table in hardware (DOCA Flow
/// CT) installs for that packet's direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peek {
    /// The packet's direction.
    pub direction: Direction,
    /// Whether the connection has seen a reply.
    pub replied: bool,
    /// The TCP state (`None` for UDP and ICMP echo).
    pub tcp: Option<Tcp>,
    /// `ct.mark`.
    pub mark: u32,
    /// Whether a packet going this way without SYN, FIN or RST changes
    /// nothing but the connection's timer.
    pub plain_is_noop: bool,
}

/// The table is full and may not evict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full;

/// The tracker.
#[derive(Clone, Debug)]
pub struct Tracker {
    config: Config,
    conns: HashMap<Tuple, Conn>,
    /// Reply tuple -> original tuple.
    replies: HashMap<Tuple, Tuple>,
    /// (last use, sequence) -> original tuple, oldest first.
    by_use: BTreeMap<(u64, u64), Tuple>,
    used: HashMap<Tuple, (u64, u64)>,
    seq: u64,
}

const TCP_FIN: u8 = 0x01;
const TCP_SYN: u8 = 0x02;
const TCP_RST: u8 = 0x04;
const TCP_ACK: u8 = 0x10;

impl Tracker {
    /// An empty tracker.
    pub fn new(config: Config) -> Self {
        Tracker {
            config,
            conns: HashMap::new(),
            replies: HashMap::new(),
            by_use: BTreeMap::new(),
            used: HashMap::new(),
            seq: 0,
        }
    }

    fn timeout(&self, c: &Conn) -> u64 {
        let t = &self.config.timeouts;
        match (c.orig.proto, c.tcp) {
            (6, Some(Tcp::SynSent | Tcp::SynRecv)) => t.tcp_handshake,
            (6, Some(Tcp::Established)) => t.tcp_established,
            (6, _) => t.tcp_closing,
            (17, _) if c.replied => t.udp_stream,
            (17, _) => t.udp,
            (1 | 58, _) => t.icmp,
            _ => t.other,
        }
    }

    fn live(&self, c: &Conn, now: u64) -> bool {
        now < c.last_ns.saturating_add(self.timeout(c))
    }

    fn remove(&mut self, orig: &Tuple) {
        if let Some(c) = self.conns.remove(orig) {
            self.replies.remove(&c.orig.reversed());
        }
        if let Some(k) = self.used.remove(orig) {
            self.by_use.remove(&k);
        }
    }

    fn touch(&mut self, orig: &Tuple, now: u64) {
        self.seq += 1;
        if let Some(k) = self.used.remove(orig) {
            self.by_use.remove(&k);
        }
        self.by_use.insert((now, self.seq), orig.clone());
        self.used.insert(orig.clone(), (now, self.seq));
        if let Some(c) = self.conns.get_mut(orig) {
            c.last_ns = now;
        }
    }

    /// The live connection `t` belongs to, and the packet's direction.
    fn find(&mut self, t: &Tuple, now: u64) -> Option<(Tuple, Direction)> {
        let (orig, dir) = if self.conns.contains_key(t) {
            (t.clone(), Direction::Original)
        } else {
            (self.replies.get(t)?.clone(), Direction::Reply)
        };
        let live = self.conns.get(&orig).is_some_and(|c| self.live(c, now));
        if !live {
            self.remove(&orig);
            return None;
        }
        Some((orig, dir))
    }

    /// Looks the packet up (in `zone`), advancing its connection.
    pub fn lookup(&mut self, frame: &[u8], layer: &Layer, zone: Vec<u128>, now: u64) -> Lookup {
        let verdict = |state| Lookup {
            state,
            direction: Direction::Original,
            mark: 0,
            new_flow: None,
            conn: None,
        };
        if matches!(layer.malformed, Some(Malformed::L3 | Malformed::L4)) {
            return verdict(CtState::Invalid);
        }
        let Some(ip) = layer.ip else {
            return verdict(CtState::Untracked);
        };
        if ip.frag == Frag::Later {
            return verdict(CtState::Untracked);
        }
        let (t, flags) = match keyed(layer, zone.clone()) {
            Some(k) => k,
            None if matches!(layer.l4, Some(L4::Icmp { .. })) => {
                return self.related(frame, layer, zone, now)
            }
            None => return verdict(CtState::Untracked),
        };
        let Some((orig, dir)) = self.find(&t, now) else {
            let new = match ip.proto {
                6 => flags & (TCP_SYN | TCP_ACK | TCP_RST | TCP_FIN) == TCP_SYN,
                17 => true,
                // An echo reply that matches no request is invalid.
                _ => flags == if ip.proto == 58 { 128 } else { 8 },
            };
            return if new {
                Lookup {
                    state: CtState::New,
                    direction: Direction::Original,
                    mark: 0,
                    new_flow: Some(t),
                    conn: None,
                }
            } else {
                verdict(CtState::Invalid)
            };
        };
        // An echo request must go the original way and a reply the other;
        // a reply travelling "forwards" matches no request.
        if matches!(layer.l4, Some(L4::Icmp { .. })) {
            let is_request = flags == if ip.proto == 58 { 128 } else { 8 };
            if is_request != (dir == Direction::Original) {
                return verdict(CtState::Invalid);
            }
        }
        let Some(mut c) = self.conns.get(&orig).cloned() else {
            return verdict(CtState::Invalid);
        };
        let mut state = if dir == Direction::Reply || c.replied {
            CtState::Established
        } else {
            CtState::New
        };
        let mut remove_after = false;
        if ip.proto == 6 {
            let syn = flags & (TCP_SYN | TCP_ACK) == TCP_SYN;
            if flags & TCP_RST != 0 {
                // The RST sees the state it had; the connection ends after it.
                remove_after = true;
            } else if syn && dir == Direction::Original && c.tcp == Some(Tcp::TimeWait) {
                self.remove(&orig);
                return Lookup {
                    state: CtState::New,
                    direction: Direction::Original,
                    mark: 0,
                    new_flow: Some(t),
                    conn: None,
                };
            } else if syn && !(dir == Direction::Original && c.tcp == Some(Tcp::SynSent)) {
                return Lookup {
                    state: CtState::Invalid,
                    direction: dir,
                    mark: c.mark,
                    new_flow: None,
                    conn: Some(orig),
                };
            } else {
                c.tcp = advance(&mut c, dir, flags);
            }
        }
        if dir == Direction::Reply {
            c.replied = true;
        }
        if c.replied && dir == Direction::Original && state == CtState::New {
            state = CtState::Established;
        }
        let mark = c.mark;
        self.conns.insert(orig.clone(), c);
        self.touch(&orig, now);
        if remove_after {
            self.remove(&orig);
        }
        Lookup {
            state,
            direction: dir,
            mark,
            new_flow: None,
            conn: Some(orig),
        }
    }

    /// The live connection a TCP, UDP or ICMP echo packet belongs to, as
    /// [`Tracker::lookup`] would find it, without advancing or removing
    /// anything.
    pub fn peek(&self, layer: &Layer, zone: Vec<u128>, now: u64) -> Option<Peek> {
        let (t, _) = keyed(layer, zone)?;
        let (orig, direction) = if self.conns.contains_key(&t) {
            (t, Direction::Original)
        } else {
            (self.replies.get(&t)?.clone(), Direction::Reply)
        };
        let c = self.conns.get(&orig).filter(|c| self.live(c, now))?;
        let reply_ok = direction == Direction::Original || c.replied;
        let plain_is_noop = reply_ok
            && [0, TCP_ACK].iter().all(|&flags| {
                let mut after = c.clone();
                let tcp = advance(&mut after, direction, flags);
                tcp == c.tcp && after.fin_orig == c.fin_orig && after.fin_reply == c.fin_reply
            });
        Some(Peek {
            direction,
            replied: c.replied,
            tcp: c.tcp,
            mark: c.mark,
            plain_is_noop,
        })
    }

    /// ICMP errors: `related` when the quoted packet belongs to a connection.
    fn related(&mut self, frame: &[u8], layer: &Layer, zone: Vec<u128>, now: u64) -> Lookup {
        let q = packet::quoted(frame, layer).and_then(|q| {
            let ip = q.ip?;
            let (sport, dport) = match q.l4? {
                L4::Tcp { sport, dport, .. }
                | L4::Udp { sport, dport }
                | L4::Sctp { sport, dport } => (sport, dport),
                L4::Icmp { id, .. } => (id, id),
            };
            Some(Tuple::of(zone, &ip, sport, dport))
        });
        let is_error = packet::quoted(frame, layer).is_some();
        match q.and_then(|t| self.find(&t, now)) {
            Some((orig, _)) => {
                let mark = self.conns.get(&orig).map_or(0, |c| c.mark);
                Lookup {
                    state: CtState::Related,
                    direction: Direction::Reply,
                    mark,
                    new_flow: None,
                    conn: Some(orig),
                }
            }
            None => Lookup {
                state: if is_error {
                    CtState::Invalid
                } else {
                    CtState::Untracked
                },
                direction: Direction::Original,
                mark: 0,
                new_flow: None,
                conn: None,
            },
        }
    }

    /// Creates the connection of an accepted `new` packet, with `mark`.
    pub fn commit(&mut self, l: &Lookup, mark: u32, now: u64) -> Result<(), Full> {
        let Some(t) = &l.new_flow else {
            if let Some(orig) = &l.conn {
                if let Some(c) = self.conns.get_mut(orig) {
                    c.mark = mark;
                }
            }
            return Ok(());
        };
        if self.conns.len() as u64 >= self.config.max_entries {
            // Expired entries do not count.
            let dead: Vec<Tuple> = self
                .conns
                .values()
                .filter(|c| !self.live(c, now))
                .map(|c| c.orig.clone())
                .collect();
            for d in dead {
                self.remove(&d);
            }
        }
        if self.conns.len() as u64 >= self.config.max_entries {
            if !self.config.evict_oldest || self.config.max_entries == 0 {
                return Err(Full);
            }
            if let Some((_, oldest)) = self.by_use.iter().next().map(|(k, v)| (*k, v.clone())) {
                self.remove(&oldest);
            }
        }
        let tcp = (t.proto == 6).then_some(Tcp::SynSent);
        self.conns.insert(
            t.clone(),
            Conn {
                orig: t.clone(),
                tcp,
                fin_orig: false,
                fin_reply: false,
                replied: false,
                mark,
                last_ns: now,
            },
        );
        self.replies.insert(t.reversed(), t.clone());
        self.touch(t, now);
        Ok(())
    }

    /// Live connections at `now`.
    pub fn count(&self, now: u64) -> u64 {
        self.conns.values().filter(|c| self.live(c, now)).count() as u64
    }
}

/// The tuple of a packet that is tracked by its own tuple (TCP, UDP, ICMP
/// echo), and its TCP flags or ICMP type; `None` for anything else.
fn keyed(layer: &Layer, zone: Vec<u128>) -> Option<(Tuple, u8)> {
    if layer.malformed.is_some_and(|m| m != Malformed::L2) {
        return None;
    }
    let ip = layer.ip.filter(|ip| ip.frag != Frag::Later)?;
    let tuple = |sport, dport| Tuple::of(zone, &ip, sport, dport);
    match layer.l4? {
        L4::Tcp {
            sport,
            dport,
            flags,
        } => Some((tuple(sport, dport), flags)),
        L4::Udp { sport, dport } => Some((tuple(sport, dport), 0)),
        L4::Icmp { v6, ty, id, .. } => {
            let (req, rep) = if v6 { (128, 129) } else { (8, 0) };
            (ty == req || ty == rep).then(|| (tuple(id, id), ty))
        }
        L4::Sctp { .. } => None,
    }
}

/// The simplified nf_conntrack TCP state machine (no sequence windows).
fn advance(c: &mut Conn, dir: Direction, flags: u8) -> Option<Tcp> {
    let ack = flags & TCP_ACK != 0;
    let syn = flags & TCP_SYN != 0;
    if flags & TCP_FIN != 0 {
        match dir {
            Direction::Original => c.fin_orig = true,
            Direction::Reply => c.fin_reply = true,
        }
    }
    let state = c.tcp?;
    Some(match state {
        Tcp::SynSent if dir == Direction::Reply && syn && ack => Tcp::SynRecv,
        Tcp::SynRecv if dir == Direction::Original && ack && !syn => Tcp::Established,
        _ if c.fin_orig && c.fin_reply && ack && matches!(state, Tcp::LastAck) => Tcp::TimeWait,
        _ if c.fin_orig && c.fin_reply && !matches!(state, Tcp::TimeWait) => Tcp::LastAck,
        Tcp::Established | Tcp::SynRecv if c.fin_orig => Tcp::FinWait,
        Tcp::Established | Tcp::SynRecv if c.fin_reply => Tcp::CloseWait,
        s => s,
    })
}
