//! The interpreter on a hand-built IR program: set lookups answer from the
//! set's current elements, so a run-time update changes verdicts at once.

use dpuc_ir::test::{L4Spec, PacketSpec};
use dpuc_ir::{
    Actions, Elem, End, Entry, Family, Field, FieldRef, Header, Key, KeySource, Match, MatchKind,
    Node, Pipeline, Policy, Program, Rule, Set, SetType, Table, TableKind, Terminal,
};
use dpuc_runtime::exec::{Machine, Verdict};

/// `policy p { rule blocked: ip.src in blocked => drop; default accept; }`
fn program() -> Program {
    let src = FieldRef::outer(Field::Ip4Src);
    let valid = KeySource::Field(FieldRef::outer(Field::Valid(Header::Ipv4)));
    let set = Set {
        name: "blocked".into(),
        ty: SetType::Ip,
        elems: vec![Elem {
            family: Some(Family::V4),
            lo: 0x0a00_0000,
            hi: 0x0aff_ffff,
        }],
        tables: vec![0],
    };
    let mut lookup = Table {
        name: "set_blocked_ipv4_src".into(),
        kind: TableKind::SetLookup { set: 0, hit: 0 },
        keys: vec![Key {
            source: KeySource::Field(src),
            kind: MatchKind::Lpm,
        }],
        entries: Vec::new(),
        size: 64,
    };
    lookup.entries = dpuc_ir::set_entries(&set, &lookup);
    let rules = Table {
        name: "p_blocked".into(),
        kind: TableKind::Rules { policy: 0 },
        keys: vec![
            Key {
                source: valid,
                kind: MatchKind::Exact,
            },
            Key {
                source: KeySource::Hit(0),
                kind: MatchKind::Exact,
            },
        ],
        entries: vec![Entry {
            priority: 1,
            matches: vec![Match::Exact(1), Match::Exact(1)],
            rule: Some(0),
        }],
        size: 1,
    };
    Program {
        name: "t".into(),
        ports: Vec::new(),
        sets: vec![set],
        tables: vec![lookup, rules],
        rules: vec![Rule {
            policy: 0,
            name: "blocked".into(),
            actions: Actions {
                steps: Vec::new(),
                end: End::Terminal(Terminal::Drop),
            },
            line: 1,
        }],
        policies: vec![Policy {
            name: "p".into(),
            default: Some(Terminal::Accept),
        }],
        nodes: vec![
            Node::Verdict(Terminal::Accept),
            Node::Rules {
                table: 1,
                next: 0,
                jumps: Vec::new(),
            },
            Node::Lookup { table: 0, next: 1 },
        ],
        pipeline: Pipeline::Single { entry: 2 },
        counters: Vec::new(),
        meters: Vec::new(),
        conntrack: None,
        hits: 1,
    }
}

fn from(src: &str) -> Vec<u8> {
    let spec = PacketSpec::new(
        src.parse().unwrap_or_else(|_| unreachable!()),
        "192.0.2.1".parse().unwrap_or_else(|_| unreachable!()),
        L4Spec::Udp {
            sport: 1,
            dport: 53,
        },
    );
    dpuc_runtime::craft::build(&spec).unwrap_or_default()
}

#[test]
fn set_updates_take_effect_without_recompiling() {
    let mut m = Machine::new(program()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(m.process(&from("10.1.2.3"), 0, 0).verdict, Verdict::Drop);
    assert_eq!(
        m.process(&from("172.16.0.1"), 0, 0).verdict,
        Verdict::Accept { to: None }
    );
    let now_blocked = vec![Elem {
        family: Some(Family::V4),
        lo: 0xac10_0000,
        hi: 0xac1f_ffff,
    }];
    m.update_set(0, now_blocked)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        m.process(&from("10.1.2.3"), 0, 0).verdict,
        Verdict::Accept { to: None }
    );
    let out = m.process(&from("172.16.0.1"), 0, 0);
    assert_eq!((out.verdict, out.rule), (Verdict::Drop, Some(0)));
    assert_eq!(m.rule_hits(0), (2, 84));
    assert!(m.update_set(9, Vec::new()).is_err());
}

#[test]
fn an_invalid_program_is_refused_at_load() {
    let mut p = program();
    p.nodes[1] = Node::Rules {
        table: 7,
        next: 0,
        jumps: Vec::new(),
    };
    assert!(Machine::new(p).is_err());
}
