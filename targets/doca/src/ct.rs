//! Connection tracking (§5) on DOCA Flow CT.
//!
//! DOCA 3.3's CT is a connection table, not a state machine: the CT pipe
//! matches a TCP or UDP packet's 5-tuple and zone against connections the
//! application added (`doca_flow_ct_add_entry`, one rule per direction),
//! writes the metadata of the direction it matched, and forwards hits to
//! `fwd` and misses to `fwd_miss`; idle connections age out. What a
//! connection *is* (new, established, closing) is the application's
//! business. Here the application's part is the connection manager: it
//! receives the packets that change a connection (and the new ones the
//! policy accepts), applies §5 to them, and rewrites the connection's
//! metadata, so that the table always says, per direction, what §5 would
//! answer to the next packet:
//!
//! ```text
//! root ── zone, clear words ─┬─ TCP/UDP ──▶ CT pipe ──▶ ct_l4 ─┬─ tcp_state ─┐
//!                            ├─ ICMP ──▶ icmp_type ─ echo ─▶ echo pipe ─▶ icmp_state ─┤
//!                            └─ other (untracked or invalid) ─────────────────────────┤
//!                                                                   steer (port, variant) ◀┘
//!                                       policy pipes ─▶ exit ─┬─ port / kernel / drop
//!                                                             └─ RSS: connection manager
//! ```
//!
//! The state pipes compute `ct.state` from the direction's bits and the
//! packet (TCP flags, ICMP type) into [`ct_bits`], with `EVENT` when the
//! packet changes its connection and `NEW_FLOW` when it opens one; rules
//! read `ct.*` from the words; every verdict goes through an exit pipe
//! that sends `EVENT`, accepted `NEW_FLOW` and accepted `MARK_SET`
//! packets to the manager (class id in `meta.pkt_meta`), which commits
//! and delivers them. ICMP echo is tracked by the manager in BASIC pipes
//! keyed by the echo identifier; ICMP errors, whose `related` needs the
//! quoted header, are not: rules that would tell them apart are refused.

use crate::fields::Variant;
use crate::lower::{fm, label, refuse, Lower};
use crate::model::*;
use crate::Error;
use dpuc_ir::{
    CtState, Entry, Field, KeySource, OnFull, Pipeline, Program, RuleId, Step, Table, TableKind,
};
use std::collections::BTreeSet;

/// The metadata words DOCA Flow offers (`DOCA_FLOW_META_SCRATCH_PAD_MAX`).
const META_WORDS: u32 = 10;

/// A zone for packets on ports the program does not name: no connection
/// can be in it (ports are 16 bits).
const NO_ZONE: u128 = 0xffff_ffff;

/// How the program's tracker maps to DOCA Flow.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The tracker's words.
    pub words: CtWords,
    /// Where `meta.mark` lives.
    pub mark_word: u32,
    /// Timeouts in seconds.
    pub timeouts: CtTimeouts,
    /// `max_entries`.
    pub max_entries: u64,
    /// With `zone in_port;`: the port numbers the program names.
    pub zone_ports: Option<Vec<u32>>,
    /// Every value `ct.mark` can have: 0 and the constants rules set.
    pub marks: Vec<u32>,
}

impl Plan {
    /// The zones the manager's classes distinguish.
    fn zones(&self) -> Vec<Option<u32>> {
        match &self.zone_ports {
            Some(ports) => ports.iter().map(|p| Some(*p)).collect(),
            None => vec![None],
        }
    }
}

fn conntrack(construct: &str, reason: &str) -> Error {
    refuse("conntrack".into(), construct, reason)
}

fn duration(ns: u64) -> String {
    if ns.is_multiple_of(1_000_000_000) {
        format!("{}s", ns / 1_000_000_000)
    } else if ns.is_multiple_of(1_000_000) {
        format!("{}ms", ns / 1_000_000)
    } else {
        format!("{ns}ns")
    }
}

/// Every step of every rule, meter arms included.
fn steps(p: &Program) -> impl Iterator<Item = &Step> {
    p.rules.iter().flat_map(|r| {
        r.actions.steps.iter().flat_map(|s| {
            let arms: Vec<&Step> = match s {
                Step::Meter { arms, .. } => arms.iter().flat_map(|a| a.steps.iter()).collect(),
                _ => Vec::new(),
            };
            std::iter::once(s).chain(arms)
        })
    })
}

/// The plan for `p`'s tracker, or why DOCA Flow cannot run it; `None`
/// without a tracker.
pub fn plan(p: &Program, hit_words: u32) -> Result<Option<Plan>, Error> {
    let Some(ct) = &p.conntrack else {
        return Ok(None);
    };
    if ct.on_full == OnFull::EvictOldest {
        return Err(conntrack(
            "`on_full evict_oldest`",
            "DOCA Flow CT cannot evict: adding to a full table fails (DOCA_ERROR_FULL), and its aging samples per-connection hit counters once a second, so the least recently used connection is not known",
        ));
    }
    let zone_ports = match ct.zone.as_slice() {
        [] => None,
        [f] if !f.inner && f.field == Field::InPort => {
            if matches!(p.pipeline, Pipeline::Single { .. }) {
                return Err(conntrack(
                    "`zone in_port`",
                    "the zone is written by the root pipe per ingress port, and without a `pipeline` block the ports are not known",
                ));
            }
            let mut ports: Vec<u32> = p.ports.iter().map(|p| p.number).collect();
            ports.sort_unstable();
            ports.dedup();
            Some(ports)
        }
        fields => {
            let names: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
            return Err(conntrack(
                &format!("`zone {}`", names.join(", ")),
                "DOCA Flow CT keys connections by a zone that earlier pipes write into metadata; this backend writes only the ingress port (`zone in_port;`)",
            ));
        }
    };
    let t = &ct.timeouts;
    let secs = |name: &str, ns: u64| -> Result<u32, Error> {
        let s = ns / 1_000_000_000;
        if !ns.is_multiple_of(1_000_000_000) || s == 0 || s > u64::from(u32::MAX) {
            return Err(conntrack(
                &format!("`timeout {name} {}`", duration(ns)),
                "DOCA Flow CT and pipe aging count whole seconds (1 to 2^32 - 1; 0 turns aging off)",
            ));
        }
        Ok(s as u32)
    };
    let timeouts = CtTimeouts {
        tcp_handshake: secs("tcp_handshake", t.tcp_handshake)?,
        tcp_established: secs("tcp_established", t.tcp_established)?,
        tcp_closing: secs("tcp_closing", t.tcp_closing)?,
        udp: secs("udp", t.udp)?,
        udp_stream: secs("udp_stream", t.udp_stream)?,
        icmp: secs("icmp", t.icmp)?,
    };
    if ct.max_entries > u64::from(u32::MAX) {
        return Err(conntrack(
            &format!("`max_entries {}`", ct.max_entries),
            "doca_flow_ct_cfg_set_connections takes a 32-bit count",
        ));
    }
    let words = hit_words + if zone_ports.is_some() { 4 } else { 3 };
    if words > META_WORDS {
        return Err(Error::Unsupported {
            what: "metadata".into(),
            reason: format!(
                "set lookups and the tracker need {words} meta.u32 words; DOCA Flow has {META_WORDS}"
            ),
        });
    }
    let mut marks: BTreeSet<u32> = BTreeSet::from([0]);
    for s in steps(p) {
        if let Step::Set { field, value } = s {
            if !field.inner && field.field == Field::CtMark {
                marks.insert(*value as u32);
            }
        }
    }
    Ok(Some(Plan {
        words: CtWords {
            state: hit_words,
            mark: hit_words + 1,
            zone: zone_ports.as_ref().map(|_| hit_words + 3),
        },
        mark_word: hit_words + 2,
        timeouts,
        max_entries: ct.max_entries,
        zone_ports,
        marks: marks.into_iter().collect(),
    }))
}

/// ICMP echo request and reply types of a family.
fn echo_types(v: Variant) -> [u128; 2] {
    if v.l3 == L3::Ip6 {
        [128, 129]
    } else {
        [8, 0]
    }
}

/// `enum doca_flow_l3_meta` / `enum doca_flow_l4_meta` values.
const L3_IP4: u128 = 1;
const L3_IP6: u128 = 2;
const L4_TCP: u128 = 1;
const L4_UDP: u128 = 2;
const L4_ICMP: u128 = 3;

/// TCP flag bits.
const FIN: u128 = 0x01;
const SYN: u128 = 0x02;
const RST: u128 = 0x04;
const ACK: u128 = 0x10;

const ALL: u128 = 0xffff_ffff;

fn state(s: CtState) -> u128 {
    u128::from(s as u32) << ct_bits::STATE_SHIFT
}

/// What a connection entry (CT or echo table) writes: the connection
/// bits of the state word and the whole mark word.
fn conn_writes(state: DocaField, mark: DocaField) -> Vec<WriteMask> {
    vec![
        WriteMask {
            field: state,
            mask: bits(ct_bits::CONN),
        },
        WriteMask {
            field: mark,
            mask: ALL,
        },
    ]
}

fn bits(b: u32) -> u128 {
    u128::from(b)
}

fn entry(priority: u32, matches: Vec<FieldMatch>, writes: Vec<Write>, fwd: Fwd) -> PipeEntry {
    PipeEntry {
        priority,
        matches,
        writes,
        fwd,
        counter: None,
        meter: None,
        rule: None,
        verdict_rule: None,
    }
}

fn write(field: DocaField, value: u128, mask: u128) -> Write {
    Write { field, value, mask }
}

impl Lower<'_> {
    /// The words a pipe writes, as its template.
    fn template(entries: &[PipeEntry]) -> Vec<WriteMask> {
        let mut masks: std::collections::BTreeMap<DocaField, u128> = Default::default();
        for e in entries {
            for w in &e.writes {
                *masks.entry(w.field).or_default() |= w.mask;
            }
        }
        masks
            .into_iter()
            .map(|(field, mask)| WriteMask { field, mask })
            .collect()
    }

    fn control(
        &mut self,
        name: &str,
        purpose: &str,
        v: Variant,
        entries: Vec<PipeEntry>,
    ) -> Result<PipeId, Error> {
        let mut pipe = self.base_pipe(name.into(), purpose.into(), PipeType::Control, v);
        let mut fields = BTreeSet::new();
        for e in &entries {
            fields.extend(e.matches.iter().map(|m| m.field));
        }
        pipe.match_fields = fields.into_iter().collect();
        pipe.write_fields = Self::template(&entries);
        pipe.entries = entries;
        self.push(pipe)
    }

    /// The manager's class for `c`.
    fn class(&mut self, c: CtClass) -> u32 {
        if let Some(i) = self.classes.iter().position(|x| *x == c) {
            return i as u32;
        }
        self.classes.push(c);
        (self.classes.len() - 1) as u32
    }

    /// Where a verdict `fwd` decided by rule `by` goes: in a program that
    /// tracks, through an exit pipe that hands the packets the manager
    /// must see to it.
    pub(crate) fn exit(&mut self, fwd: Fwd, by: Option<RuleId>) -> Result<Fwd, Error> {
        let Some(plan) = self.ct.clone() else {
            return Ok(fwd);
        };
        if let Some(f) = self.exits.get(&(fwd, by)) {
            return Ok(*f);
        }
        let c = DocaField::MetaU32(plan.words.state);
        let m = DocaField::MetaU32(plan.words.mark);
        let commit = fwd != Fwd::Drop;
        let mut entries = Vec::new();
        let mut to_manager = |l: &mut Self,
                              priority,
                              mut matches: Vec<FieldMatch>,
                              z: Option<u32>,
                              class: CtClass| {
            if let (Some(z), Some(w)) = (z, plan.words.zone) {
                matches.push(fm(DocaField::MetaU32(w), u128::from(z), ALL));
            }
            let id = l.class(class);
            let mut e = entry(
                priority,
                matches,
                vec![write(DocaField::PktMeta, u128::from(id), ALL)],
                Fwd::Software(id),
            );
            e.verdict_rule = by;
            entries.push(e);
        };
        for zone in plan.zones() {
            let class = |commit, mark| CtClass {
                fwd,
                commit,
                mark,
                zone,
            };
            // Packets that change their connection, when nothing commits.
            let (x, mask) = if commit {
                (
                    ct_bits::EVENT | ct_bits::NO_TRACK,
                    ct_bits::EVENT | ct_bits::NO_TRACK,
                )
            } else {
                (ct_bits::EVENT, ct_bits::EVENT)
            };
            to_manager(
                self,
                0,
                vec![fm(c, bits(x), bits(mask))],
                zone,
                class(false, None),
            );
            if !commit {
                continue;
            }
            // A rule set ct.mark: the manager commits that mark.
            for &mark in &plan.marks {
                to_manager(
                    self,
                    1,
                    vec![
                        fm(
                            c,
                            bits(ct_bits::MARK_SET),
                            bits(ct_bits::MARK_SET | ct_bits::NO_TRACK),
                        ),
                        fm(m, u128::from(mark), ALL),
                    ],
                    zone,
                    class(true, Some(mark)),
                );
            }
            // The packet changes or opens its connection.
            for (x, mask) in [
                (ct_bits::EVENT, ct_bits::EVENT),
                (ct_bits::NEW_FLOW, ct_bits::NEW_FLOW | ct_bits::NO_TRACK),
            ] {
                to_manager(
                    self,
                    2,
                    vec![fm(c, bits(x), bits(mask))],
                    zone,
                    class(true, None),
                );
            }
        }
        let mut last = entry(3, vec![], vec![], fwd);
        last.verdict_rule = if matches!(fwd, Fwd::Pipe(_)) {
            None
        } else {
            by
        };
        entries.push(last);
        let name = match fwd {
            Fwd::Drop => "ct_exit_drop".to_string(),
            Fwd::Port(n) => format!("ct_exit_port{n}"),
            Fwd::Kernel => "ct_exit_kernel".to_string(),
            Fwd::Pipe(p) => format!("ct_exit_pipe{p}"),
            Fwd::Software(c) => format!("ct_exit_class{c}"),
        };
        let purpose = match by {
            Some(r) => format!(
                "verdict of rule `{}`: to the connection manager or on",
                label(self.p, r)
            ),
            None => "default verdict: to the connection manager or on".to_string(),
        };
        let any = Variant {
            l3: L3::Any,
            l4: L4::Any,
        };
        let id = self.control(&name, &purpose, any, entries)?;
        let f = Fwd::Pipe(id);
        self.exits.insert((fwd, by), f);
        Ok(f)
    }

    /// The writes of `set ct.mark = value` or `notrack`.
    pub(crate) fn ct_writes(&self, step: &Step) -> Vec<Write> {
        let Some(plan) = &self.ct else {
            return Vec::new();
        };
        let c = DocaField::MetaU32(plan.words.state);
        match step {
            Step::NoTrack => vec![write(c, bits(ct_bits::NO_TRACK), bits(ct_bits::NO_TRACK))],
            Step::Set { field, value } if !field.inner && field.field == Field::CtMark => vec![
                write(DocaField::MetaU32(plan.words.mark), *value & ALL, ALL),
                write(c, bits(ct_bits::MARK_SET), bits(ct_bits::MARK_SET)),
            ],
            _ => Vec::new(),
        }
    }

    /// Refuses `e` if, on ICMP errors, a `ct.*` key of it would need to
    /// tell apart values the device cannot (ICMP errors are not tracked:
    /// whether one is `related` depends on the header it quotes).
    pub(crate) fn icmp_errors(&self, t: &Table, e: &Entry, v: Variant) -> Result<(), Error> {
        let Some(plan) = &self.ct else {
            return Ok(());
        };
        if v.l4 != L4::Icmp {
            return Ok(());
        }
        // An entry that only echo packets can match sees exact state.
        let echo = echo_types(v);
        let echo_only = t.keys.iter().zip(&e.matches).any(|(k, m)| {
            matches!(k.source, KeySource::Field(f) if !f.inner && f.field == Field::IcmpType)
                && (0..=255u128).all(|x| !m.matches(x, 8) || echo.contains(&x))
        });
        if echo_only {
            return Ok(());
        }
        // What §5 says of an ICMP error: related to a connection (reply,
        // its mark), or invalid, or untracked (original, mark 0).
        let mut cases: Vec<(CtState, u128, u128)> = plan
            .marks
            .iter()
            .map(|m| (CtState::Related, 1, u128::from(*m)))
            .collect();
        cases.push((CtState::Invalid, 0, 0));
        cases.push((CtState::Untracked, 0, 0));
        let mut keys = Vec::new();
        for (k, m) in t.keys.iter().zip(&e.matches) {
            if let KeySource::Field(f) = k.source {
                if !f.inner
                    && *m != dpuc_ir::Match::Any
                    && matches!(f.field, Field::CtState | Field::CtDirection | Field::CtMark)
                {
                    keys.push((f, m, k.source.width()));
                }
            }
        }
        if keys.is_empty() {
            return Ok(());
        }
        let holds = |(s, d, mark): &(CtState, u128, u128)| {
            keys.iter().all(|(f, m, width)| {
                let x = match f.field {
                    Field::CtState => *s as u128,
                    Field::CtDirection => *d,
                    _ => *mark,
                };
                m.matches(x, *width)
            })
        };
        let n = cases.iter().filter(|c| holds(c)).count();
        if n != 0 && n != cases.len() {
            let names: Vec<String> = keys.iter().map(|(f, _, _)| format!("`{f}`")).collect();
            return Err(self.ambiguous(
                t,
                e,
                &format!("{} on ICMP errors", names.join(" and ")),
                "DOCA Flow CT tracks TCP and UDP only and no pipe parses the header an ICMP error quotes, so whether an error is `related` (and then its direction and mark) is known only to the connection manager, after the policy has run; test `icmp.type` for echo types, or keep ct.* tests that ICMP errors reach to values they all share",
            ));
        }
        Ok(())
    }

    /// The refusal of an entry whose `ct.*` key the device cannot decide.
    pub(crate) fn ambiguous(&self, t: &Table, e: &Entry, construct: &str, reason: &str) -> Error {
        match (e.rule, t.kind) {
            (Some(r), _) => refuse(label(self.p, r), construct, reason),
            (None, TableKind::SetLookup { set, .. }) => Error::Unsupported {
                what: format!(
                    "set `{}` looked up with {construct}",
                    self.p
                        .sets
                        .get(set as usize)
                        .map(|s| s.name.as_str())
                        .unwrap_or("?")
                ),
                reason: reason.into(),
            },
            (None, _) => Error::Unsupported {
                what: format!("table `{}` with {construct}", t.name),
                reason: reason.into(),
            },
        }
    }

    /// Why `ct.state` is ambiguous in variant `v` (see
    /// [`fields::UNTRACKED_OR_INVALID`]).
    pub(crate) fn one_of(&self, t: &Table, e: &Entry, f: dpuc_ir::FieldRef, v: Variant) -> Error {
        let (on, reason) = if v.l3 == L3::None {
            (
                "frames without an IP header",
                "DOCA Flow's parser reports no IP header both for non-IP frames (untracked) and for malformed IP headers (invalid), so the device cannot tell them apart",
            )
        } else {
            (
                "IP packets without a TCP, UDP or ICMP header",
                "DOCA Flow's parser reports no L4 header both for packets the tracker ignores (other protocols, SCTP, later fragments: untracked) and for truncated TCP, UDP or ICMP headers (invalid), so the device cannot tell them apart",
            )
        };
        self.ambiguous(t, e, &format!("`{f}` on {on}"), reason)
    }

    /// The pipes in front of the policy (root, connection tables, state
    /// pipes), given the pipe that steers packets to the policy; returns
    /// the root pipe (not yet pushed).
    pub(crate) fn ct_front(&mut self, steer: PipeId, clear: &[Write]) -> Result<(Pipe, Ct), Error> {
        let Some(plan) = self.ct.clone() else {
            return Err(Error::Internal("no tracker".into()));
        };
        let c = DocaField::MetaU32(plan.words.state);
        let m = DocaField::MetaU32(plan.words.mark);
        let to_steer = Fwd::Pipe(steer);
        let any = Variant {
            l3: L3::Any,
            l4: L4::Any,
        };
        let set_state = |s: CtState, extra: u32| {
            write(
                c,
                state(s) | bits(extra),
                bits(ct_bits::STATE | ct_bits::EVENT | ct_bits::NEW_FLOW),
            )
        };
        let on = |x: u32, mask: u32| fm(c, bits(x), bits(mask));
        use ct_bits::{EST, EVENT, FAST, HIT, NEW_FLOW, REPLY, SYN_OK, TIME_WAIT};
        use CtState::{Established as Est, Invalid, New};
        // TCP (runtime::conntrack::Tracker::lookup, case by case).
        let flags = |x: u128, mask: u128| fm(DocaField::TcpFlags, x, mask);
        let by_est = |prio: u32, mut matches: Vec<FieldMatch>, extra: u32| {
            let base = matches.pop();
            let mk = |est: u32, s: CtState| {
                let mut ms = matches.clone();
                let (x, mask) = base.as_ref().map_or((0, 0), |b| (b.value, b.mask));
                ms.push(fm(c, x | bits(est), mask | bits(EST)));
                entry(prio, ms, vec![set_state(s, extra)], to_steer)
            };
            [mk(EST, Est), mk(0, New)]
        };
        let mut tcp = vec![
            entry(
                0,
                vec![on(0, HIT), flags(SYN, SYN | ACK | RST | FIN)],
                vec![set_state(New, NEW_FLOW)],
                to_steer,
            ),
            entry(1, vec![on(0, HIT)], vec![set_state(Invalid, 0)], to_steer),
        ];
        tcp.extend(by_est(0, vec![flags(RST, RST), on(HIT, HIT)], EVENT));
        tcp.push(entry(
            1,
            vec![on(HIT | TIME_WAIT, HIT | TIME_WAIT), flags(SYN, SYN | ACK)],
            vec![
                set_state(New, EVENT | NEW_FLOW),
                write(c, 0, bits(REPLY)),
                write(m, 0, ALL),
            ],
            to_steer,
        ));
        tcp.push(entry(
            2,
            vec![on(HIT | SYN_OK, HIT | SYN_OK), flags(SYN, SYN | ACK)],
            vec![set_state(New, 0)],
            to_steer,
        ));
        tcp.push(entry(
            3,
            vec![on(HIT, HIT), flags(SYN, SYN | ACK)],
            vec![set_state(Invalid, 0)],
            to_steer,
        ));
        tcp.extend(by_est(
            4,
            vec![flags(0, SYN | FIN), on(HIT | FAST, HIT | FAST)],
            0,
        ));
        tcp.extend(by_est(5, vec![on(HIT, HIT)], EVENT));
        let tcp_l4 = Variant {
            l3: L3::Any,
            l4: L4::Tcp,
        };
        let tcp_state = self.control(
            "ct_tcp_state",
            "ct.state of TCP packets from the CT result and the TCP flags",
            tcp_l4,
            merge_entries(tcp),
        )?;
        let mut udp = vec![entry(
            0,
            vec![on(0, HIT)],
            vec![set_state(New, NEW_FLOW)],
            to_steer,
        )];
        udp.extend(by_est(1, vec![on(HIT | FAST, HIT | FAST)], 0));
        udp.extend(by_est(2, vec![on(HIT, HIT)], EVENT));
        let udp_state = self.control(
            "ct_udp_state",
            "ct.state of UDP packets from the CT result",
            any,
            merge_entries(udp),
        )?;
        let l4 = self.control(
            "ct_l4",
            "after the CT pipe: TCP or UDP state",
            any,
            vec![
                entry(
                    0,
                    vec![fm(DocaField::L4Meta, L4_TCP, 0xff)],
                    vec![],
                    Fwd::Pipe(tcp_state),
                ),
                entry(
                    0,
                    vec![fm(DocaField::L4Meta, L4_UDP, 0xff)],
                    vec![],
                    Fwd::Pipe(udp_state),
                ),
            ],
        )?;
        let mut conn = self.base_pipe(
            "ct".into(),
            "DOCA Flow CT: TCP and UDP connections (both directions), added by the connection manager".into(),
            PipeType::Ct,
            any,
        );
        conn.table = Some(CtTable::Conn);
        conn.write_fields = conn_writes(c, m);
        conn.fwd = Some(Fwd::Pipe(l4));
        conn.fwd_miss = Some(Fwd::Pipe(l4));
        let conn = self.push(conn)?;
        // ICMP, per family.
        let mut icmp_fwd = Vec::new();
        let mut echo_pipes = Vec::new();
        for l3 in [L3::Ip4, L3::Ip6] {
            let v = Variant { l3, l4: L4::Icmp };
            let [req, rep] = echo_types(v);
            let ty = |x: u128| fm(DocaField::IcmpType, x, 0xff);
            let mut st = vec![
                entry(
                    0,
                    vec![on(0, HIT), ty(req)],
                    vec![set_state(New, NEW_FLOW)],
                    to_steer,
                ),
                entry(
                    0,
                    vec![on(0, HIT), ty(rep)],
                    vec![set_state(Invalid, 0)],
                    to_steer,
                ),
            ];
            st.extend(by_est(
                1,
                vec![ty(req), on(HIT | FAST, HIT | REPLY | FAST)],
                0,
            ));
            st.extend(by_est(
                1,
                vec![ty(rep), on(HIT | REPLY | FAST, HIT | REPLY | FAST)],
                0,
            ));
            st.extend(by_est(2, vec![ty(req), on(HIT, HIT | REPLY)], EVENT));
            st.extend(by_est(
                2,
                vec![ty(rep), on(HIT | REPLY, HIT | REPLY)],
                EVENT,
            ));
            // An echo going the wrong way: invalid, and no connection's.
            st.push(entry(
                3,
                vec![on(HIT, HIT)],
                vec![
                    set_state(Invalid, 0),
                    write(c, 0, bits(REPLY)),
                    write(m, 0, ALL),
                ],
                to_steer,
            ));
            let tag = if l3 == L3::Ip4 { "v4" } else { "v6" };
            let icmp_state = self.control(
                &format!("ct_icmp_state_{tag}"),
                "ct.state of ICMP echo packets from the echo table",
                v,
                merge_entries(st),
            )?;
            let (src, dst) = if l3 == L3::Ip4 {
                (DocaField::Ip4Src, DocaField::Ip4Dst)
            } else {
                (DocaField::Ip6Src, DocaField::Ip6Dst)
            };
            let mut echo = self.base_pipe(
                format!("ct_echo_{tag}"),
                "ICMP echo connections (both directions), added by the connection manager".into(),
                PipeType::Basic,
                v,
            );
            echo.table = Some(CtTable::IcmpEcho);
            echo.match_fields = vec![src, dst, DocaField::IcmpIdent];
            if let Some(w) = plan.words.zone {
                echo.match_fields.insert(0, DocaField::MetaU32(w));
            }
            echo.write_fields = conn_writes(c, m);
            echo.monitor.aging_sec = Some(plan.timeouts.icmp);
            echo.fwd = Some(Fwd::Pipe(icmp_state));
            echo.fwd_miss = Some(Fwd::Pipe(icmp_state));
            let echo = self.push(echo)?;
            echo_pipes.push(echo);
            let types = self.control(
                &format!("ct_icmp_{tag}"),
                "ICMP echo to the echo table; other ICMP is not tracked on the device",
                v,
                vec![
                    entry(0, vec![ty(req)], vec![], Fwd::Pipe(echo)),
                    entry(0, vec![ty(rep)], vec![], Fwd::Pipe(echo)),
                    entry(1, vec![], vec![set_state(CtState::Untracked, 0)], to_steer),
                ],
            )?;
            icmp_fwd.push(types);
        }
        // The root: zone, cleared words, and the way in.
        let untracked = write(c, state(CtState::Untracked), ALL);
        let classes: Vec<(Option<u128>, Option<u128>, Fwd, bool)> = vec![
            (Some(L3_IP4), Some(L4_TCP), Fwd::Pipe(conn), false),
            (Some(L3_IP4), Some(L4_UDP), Fwd::Pipe(conn), false),
            (Some(L3_IP6), Some(L4_TCP), Fwd::Pipe(conn), false),
            (Some(L3_IP6), Some(L4_UDP), Fwd::Pipe(conn), false),
            (Some(L3_IP4), Some(L4_ICMP), Fwd::Pipe(icmp_fwd[0]), false),
            (Some(L3_IP6), Some(L4_ICMP), Fwd::Pipe(icmp_fwd[1]), false),
            (Some(L3_IP4), None, to_steer, true),
            (Some(L3_IP6), None, to_steer, true),
            (None, None, to_steer, true),
        ];
        let zones: Vec<Option<u128>> = match &plan.zone_ports {
            Some(ports) => ports
                .iter()
                .map(|p| Some(u128::from(*p)))
                .chain([None])
                .collect(),
            None => vec![None],
        };
        let mut root_entries = Vec::new();
        for (zi, port) in zones.iter().enumerate() {
            for (l3, l4, fwd, other) in &classes {
                let mut matches = Vec::new();
                let mut writes: Vec<Write> = clear.to_vec();
                if let Some(port) = port {
                    matches.push(fm(DocaField::PortId, *port, 0xffff));
                }
                if let Some(w) = plan.words.zone {
                    writes.push(write(DocaField::MetaU32(w), port.unwrap_or(NO_ZONE), ALL));
                }
                if *other {
                    writes.retain(|w| w.field != c);
                    writes.push(untracked.clone());
                }
                if let Some(x) = l3 {
                    matches.push(fm(DocaField::L3Meta, *x, 0xff));
                }
                if let Some(x) = l4 {
                    matches.push(fm(DocaField::L4Meta, *x, 0xff));
                }
                let rank = match (l3, l4) {
                    (_, Some(_)) => 0,
                    (Some(_), None) => 1,
                    (None, None) => 2,
                };
                root_entries.push(entry(3 * zi as u32 + rank, matches, writes, *fwd));
            }
        }
        let mut fields = BTreeSet::new();
        for e in &root_entries {
            fields.extend(e.matches.iter().map(|m| m.field));
        }
        let root = Pipe {
            id: 0,
            name: "dpuc_root".into(),
            ty: PipeType::Control,
            is_root: true,
            purpose:
                "clear metadata, write the zone; TCP/UDP to the CT pipe, ICMP to the echo tables"
                    .into(),
            l3: L3::Any,
            l4: L4::Any,
            match_fields: fields.into_iter().collect(),
            write_fields: Self::template(&root_entries),
            monitor: Monitor::default(),
            fwd_miss: None,
            fwd: None,
            table: None,
            entries: root_entries,
        };
        let model = Ct {
            max_entries: plan.max_entries,
            timeouts_s: plan.timeouts,
            zone: plan.zone_ports.as_ref().map(|_| "in_port".to_string()),
            words: plan.words,
            bits: CtBits::STANDARD,
            pipe: conn,
            echo_pipes,
            classes: self.classes.clone(),
        };
        Ok((root, model))
    }
}

/// Merges each entry's writes to the same member (one value/mask each).
fn merge_entries(entries: Vec<PipeEntry>) -> Vec<PipeEntry> {
    entries
        .into_iter()
        .map(|mut e| {
            e.writes = merge_writes(std::mem::take(&mut e.writes));
            e
        })
        .collect()
}

/// Writes to the same member merged in order (a later write wins on the
/// bits it shares with an earlier one), so that every member is written
/// once: `struct doca_flow_actions` holds one value and mask per member.
pub fn merge_writes(writes: Vec<Write>) -> Vec<Write> {
    let mut out: Vec<Write> = Vec::new();
    for w in writes {
        match out.iter_mut().find(|x| x.field == w.field) {
            Some(x) => {
                x.value = (x.value & !w.mask) | (w.value & w.mask);
                x.mask |= w.mask;
            }
            None => out.push(w),
        }
    }
    out
}
