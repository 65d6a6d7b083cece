//! The §5 state machine on real frames: handshake, replies, invalid, RST,
//! FIN, timeouts, UDP, ICMP echo and errors, zones, a full table.

use dpuc_ir::test::{L4Spec, PacketSpec};
use dpuc_ir::{CtState, Timeouts};
use dpuc_runtime::conntrack::{Config, Direction, Full, Tracker};
use dpuc_runtime::craft::build;
use dpuc_runtime::packet::parse;

const S: u64 = 1_000_000_000;

fn timeouts() -> Timeouts {
    Timeouts {
        tcp_handshake: 30 * S,
        tcp_established: 3600 * S,
        tcp_closing: 120 * S,
        udp: 30 * S,
        udp_stream: 180 * S,
        icmp: 10 * S,
        other: 600 * S,
    }
}

fn tracker(max: u64, evict: bool) -> Tracker {
    Tracker::new(Config {
        max_entries: max,
        evict_oldest: evict,
        timeouts: timeouts(),
    })
}

fn pkt(src: &str, dst: &str, l4: L4Spec) -> Vec<u8> {
    build(&PacketSpec::new(
        src.parse().unwrap_or_else(|_| unreachable!()),
        dst.parse().unwrap_or_else(|_| unreachable!()),
        l4,
    ))
    .unwrap_or_else(|e| panic!("{e}"))
}

fn tcp(a: &str, ap: u16, b: &str, bp: u16, flags: u8) -> Vec<u8> {
    pkt(
        a,
        b,
        L4Spec::Tcp {
            sport: ap,
            dport: bp,
            flags,
        },
    )
}

/// Sends a frame; commits it if it is new (as an accepting policy would).
fn send(t: &mut Tracker, f: &[u8], now: u64) -> (CtState, Direction) {
    let l = t.lookup(f, &parse(f).outer, Vec::new(), now);
    if l.state == CtState::New {
        t.commit(&l, 0, now).unwrap_or_else(|_| panic!("full"));
    }
    (l.state, l.direction)
}

const SYN: u8 = 0x02;
const SYNACK: u8 = 0x12;
const ACK: u8 = 0x10;
const FIN: u8 = 0x11;
const RST: u8 = 0x04;

#[test]
fn tcp_handshake_replies_and_invalid_packets() {
    let mut t = tracker(100, false);
    assert_eq!(
        send(&mut t, &tcp("10.0.0.1", 1000, "10.0.0.2", 80, SYN), 0).0,
        CtState::New
    );
    assert_eq!(
        send(&mut t, &tcp("10.0.0.2", 80, "10.0.0.1", 1000, SYNACK), 1),
        (CtState::Established, Direction::Reply)
    );
    assert_eq!(
        send(&mut t, &tcp("10.0.0.1", 1000, "10.0.0.2", 80, ACK), 2),
        (CtState::Established, Direction::Original)
    );
    // A non-SYN without a connection, and a SYN on an established one.
    assert_eq!(
        send(&mut t, &tcp("10.0.0.1", 1001, "10.0.0.2", 80, ACK), 3).0,
        CtState::Invalid
    );
    assert_eq!(
        send(&mut t, &tcp("10.0.0.1", 1000, "10.0.0.2", 80, SYN), 4).0,
        CtState::Invalid
    );
    assert_eq!(t.count(5), 1);
}

#[test]
fn a_dropped_syn_leaves_no_state() {
    let mut t = tracker(100, false);
    let f = tcp("10.0.0.1", 1000, "10.0.0.2", 80, SYN);
    let l = t.lookup(&f, &parse(&f).outer, Vec::new(), 0);
    assert_eq!(l.state, CtState::New);
    assert_eq!(t.count(0), 0);
    assert_eq!(
        send(&mut t, &tcp("10.0.0.2", 80, "10.0.0.1", 1000, SYNACK), 1).0,
        CtState::Invalid
    );
}

#[test]
fn rst_ends_the_connection_after_itself() {
    let mut t = tracker(100, false);
    send(&mut t, &tcp("10.0.0.1", 1000, "10.0.0.2", 80, SYN), 0);
    send(&mut t, &tcp("10.0.0.2", 80, "10.0.0.1", 1000, SYNACK), 1);
    assert_eq!(
        send(&mut t, &tcp("10.0.0.2", 80, "10.0.0.1", 1000, RST), 2).0,
        CtState::Established
    );
    assert_eq!(
        send(&mut t, &tcp("10.0.0.1", 1000, "10.0.0.2", 80, ACK), 3).0,
        CtState::Invalid
    );
    assert_eq!(t.count(3), 0);
}

#[test]
fn fin_sequence_reaches_time_wait_and_a_new_syn_starts_over() {
    let mut t = tracker(100, false);
    send(&mut t, &tcp("10.0.0.1", 1000, "10.0.0.2", 80, SYN), 0);
    send(&mut t, &tcp("10.0.0.2", 80, "10.0.0.1", 1000, SYNACK), 0);
    send(&mut t, &tcp("10.0.0.1", 1000, "10.0.0.2", 80, ACK), 0);
    send(&mut t, &tcp("10.0.0.1", 1000, "10.0.0.2", 80, FIN), 1);
    send(&mut t, &tcp("10.0.0.2", 80, "10.0.0.1", 1000, FIN), 2);
    assert_eq!(
        send(&mut t, &tcp("10.0.0.1", 1000, "10.0.0.2", 80, ACK), 3).0,
        CtState::Established
    );
    // Closing states use tcp_closing (120 s), not tcp_established.
    assert_eq!(t.count(3 + 120 * S - 1), 1);
    assert_eq!(t.count(3 + 120 * S), 0);
    assert_eq!(
        send(&mut t, &tcp("10.0.0.1", 1000, "10.0.0.2", 80, SYN), 4).0,
        CtState::New
    );
}

#[test]
fn timeouts_expire_exactly() {
    let mut t = tracker(100, false);
    send(&mut t, &tcp("10.0.0.1", 1000, "10.0.0.2", 80, SYN), 0);
    // Handshake timeout: 30 s from the last packet.
    assert_eq!(t.count(30 * S - 1), 1);
    assert_eq!(
        send(
            &mut t,
            &tcp("10.0.0.2", 80, "10.0.0.1", 1000, SYNACK),
            30 * S
        )
        .0,
        CtState::Invalid
    );
    // UDP: 30 s one way, 180 s once both directions were seen.
    let u = |a: &str, ap, b: &str, bp| {
        pkt(
            a,
            b,
            L4Spec::Udp {
                sport: ap,
                dport: bp,
            },
        )
    };
    assert_eq!(
        send(&mut t, &u("10.0.0.1", 5000, "10.0.0.9", 53), 0).0,
        CtState::New
    );
    assert_eq!(
        send(&mut t, &u("10.0.0.9", 53, "10.0.0.1", 5000), 29 * S).0,
        CtState::Established
    );
    assert_eq!(
        send(&mut t, &u("10.0.0.1", 5000, "10.0.0.9", 53), (29 + 179) * S).0,
        CtState::Established
    );
    assert_eq!(
        send(
            &mut t,
            &u("10.0.0.9", 53, "10.0.0.1", 5000),
            (29 + 179 + 180) * S
        )
        .0,
        CtState::New
    );
}

#[test]
fn icmp_echo_and_errors() {
    let mut t = tracker(100, false);
    let echo = |a: &str, b: &str, ty| {
        pkt(
            a,
            b,
            L4Spec::Icmp {
                ty,
                code: 0,
                id: 7,
                seq: 1,
            },
        )
    };
    assert_eq!(
        send(&mut t, &echo("10.0.0.1", "10.0.0.2", 0), 0).0,
        CtState::Invalid,
        "reply without request"
    );
    assert_eq!(
        send(&mut t, &echo("10.0.0.1", "10.0.0.2", 8), 0).0,
        CtState::New
    );
    assert_eq!(
        send(&mut t, &echo("10.0.0.2", "10.0.0.1", 0), 1).0,
        CtState::Established
    );
    // A reply going the request's way, or a request going the reply's way,
    // matches no exchange.
    assert_eq!(
        send(&mut t, &echo("10.0.0.1", "10.0.0.2", 0), 2).0,
        CtState::Invalid
    );
    assert_eq!(
        send(&mut t, &echo("10.0.0.2", "10.0.0.1", 8), 2).0,
        CtState::Invalid
    );
    assert_eq!(t.count(2 + 10 * S), 0, "icmp timeout");
    // An ICMP port-unreachable quoting a tracked UDP flow is related.
    send(
        &mut t,
        &pkt(
            "10.0.0.1",
            "10.0.0.9",
            L4Spec::Udp {
                sport: 5000,
                dport: 53,
            },
        ),
        0,
    );
    let quoted = pkt(
        "10.0.0.1",
        "10.0.0.9",
        L4Spec::Udp {
            sport: 5000,
            dport: 53,
        },
    );
    let mut err = pkt(
        "10.0.0.9",
        "10.0.0.1",
        L4Spec::Icmp {
            ty: 3,
            code: 3,
            id: 0,
            seq: 0,
        },
    );
    err.truncate(14 + 20 + 8);
    err.extend_from_slice(&quoted[14..14 + 28]);
    let total = (err.len() - 14) as u16;
    err[16..18].copy_from_slice(&total.to_be_bytes());
    assert_eq!(send(&mut t, &err, 1).0, CtState::Related);
}

#[test]
fn zones_keep_tenants_apart() {
    let mut t = tracker(100, false);
    let syn = tcp("10.0.0.1", 1000, "10.0.0.2", 80, SYN);
    let synack = tcp("10.0.0.2", 80, "10.0.0.1", 1000, SYNACK);
    let l = t.lookup(&syn, &parse(&syn).outer, vec![1], 0);
    t.commit(&l, 0, 0).unwrap_or_else(|_| panic!("full"));
    assert_eq!(
        t.lookup(&synack, &parse(&synack).outer, vec![2], 1).state,
        CtState::Invalid
    );
    assert_eq!(
        t.lookup(&synack, &parse(&synack).outer, vec![1], 1).state,
        CtState::Established
    );
}

#[test]
fn full_table_refuses_or_evicts_the_oldest() {
    for evict in [false, true] {
        let mut t = tracker(2, evict);
        for (i, port) in [1000u16, 1001].iter().enumerate() {
            send(
                &mut t,
                &tcp("10.0.0.1", *port, "10.0.0.2", 80, SYN),
                i as u64,
            );
        }
        let f = tcp("10.0.0.1", 1002, "10.0.0.2", 80, SYN);
        let l = t.lookup(&f, &parse(&f).outer, Vec::new(), 5);
        let r = t.commit(&l, 0, 5);
        if evict {
            assert_eq!(r, Ok(()));
            assert_eq!(
                send(&mut t, &tcp("10.0.0.2", 80, "10.0.0.1", 1000, SYNACK), 6).0,
                CtState::Invalid,
                "oldest evicted"
            );
        } else {
            assert_eq!(r, Err(Full));
        }
        assert_eq!(t.count(6), 2);
        // Expired entries do not make a table full.
        assert!(t.commit(&l, 0, 5 + 30 * S).is_ok());
    }
}

#[test]
fn untracked_and_malformed() {
    let mut t = tracker(100, false);
    assert_eq!(
        send(&mut t, &pkt("10.0.0.1", "10.0.0.2", L4Spec::Proto(47)), 0).0,
        CtState::Untracked
    );
    let f = tcp("10.0.0.1", 1000, "10.0.0.2", 80, SYN);
    assert_eq!(send(&mut t, &f[..40], 0).0, CtState::Invalid);
}
