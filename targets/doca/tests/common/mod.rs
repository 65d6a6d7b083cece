//! Hand-built IR programs and a gcc syntax check for the DOCA backend tests.
#![allow(dead_code)]

use dpuc_ir::*;

/// An outer field reference.
pub fn f(field: Field) -> FieldRef {
    FieldRef::outer(field)
}

/// A key.
pub fn key(source: KeySource, kind: MatchKind) -> Key {
    Key { source, kind }
}

/// An empty program.
pub fn empty(name: &str) -> Program {
    Program {
        name: name.into(),
        ports: vec![],
        sets: vec![],
        tables: vec![],
        rules: vec![],
        policies: vec![],
        nodes: vec![],
        pipeline: Pipeline::Single { entry: 0 },
        counters: vec![],
        meters: vec![],
        conntrack: None,
        hits: 0,
    }
}

/// Adds a rule.
pub fn rule(p: &mut Program, policy: PolicyId, name: &str, steps: Vec<Step>, end: End) -> RuleId {
    let line = p.rules.len() as u32 + 1;
    p.rules.push(Rule {
        policy,
        name: name.into(),
        actions: Actions { steps, end },
        line,
    });
    p.rules.len() as u32 - 1
}

/// The kitchen sink: two lines, an IPv4 LPM set lookup, a rule table with
/// a hit key, ternary TCP flags, a port range, an IPv4 destination prefix,
/// a named counter, an srTCM meter with a DSCP rewrite, forward and drop.
pub fn kitchen_sink() -> Program {
    let mut p = empty("sink");
    p.ports = vec![
        Port {
            name: "wan".into(),
            number: 0,
        },
        Port {
            name: "lan".into(),
            number: 1,
        },
        Port {
            name: "dmz".into(),
            number: 2,
        },
    ];
    p.counters.push("blocked".into());
    p.meters.push(Meter {
        name: "web".into(),
        kind: MeterKind::SrTcm {
            cir: 8_000_000,
            cbs: 10_000,
            ebs: 20_000,
        },
        unit: MeterUnit::Bytes,
        per: vec![],
        max_keys: 1,
    });
    p.policies.push(Policy {
        name: "main".into(),
        default: Some(Terminal::Drop),
    });
    p.hits = 1;
    p.sets.push(Set {
        name: "bad".into(),
        ty: SetType::Ip,
        elems: vec![Elem {
            family: Some(Family::V4),
            lo: 0x0a00_0000,
            hi: 0x0aff_ffff,
        }],
        tables: vec![0],
    });
    p.tables.push(Table {
        name: "bad_v4".into(),
        kind: TableKind::SetLookup { set: 0, hit: 0 },
        keys: vec![key(KeySource::Field(f(Field::Ip4Src)), MatchKind::Lpm)],
        entries: vec![
            Entry {
                priority: 2,
                matches: vec![Match::Lpm {
                    value: 0x0a00_0000,
                    len: 8,
                }],
                rule: None,
            },
            Entry {
                priority: 1,
                matches: vec![Match::Lpm {
                    value: 0xc0a8_0100,
                    len: 24,
                }],
                rule: None,
            },
        ],
        size: 16,
    });
    let arm = |steps, terminal| Arm { steps, terminal };
    let r_block = rule(
        &mut p,
        0,
        "block",
        vec![Step::Count(0)],
        End::Terminal(Terminal::Drop),
    );
    let r_syn = rule(
        &mut p,
        0,
        "syn_to_dmz",
        vec![],
        End::Terminal(Terminal::Forward(2)),
    );
    let r_web = rule(
        &mut p,
        0,
        "web",
        vec![Step::Meter {
            meter: 0,
            arms: Box::new([
                arm(vec![], None),
                arm(
                    vec![Step::Set {
                        field: f(Field::IpDscp),
                        value: 10,
                    }],
                    None,
                ),
                arm(vec![], Some(Terminal::Drop)),
            ]),
        }],
        End::Terminal(Terminal::Accept),
    );
    let r_net = rule(&mut p, 0, "to_net", vec![], End::Terminal(Terminal::Accept));
    p.tables.push(Table {
        name: "main_rules".into(),
        kind: TableKind::Rules { policy: 0 },
        keys: vec![
            key(KeySource::Hit(0), MatchKind::Exact),
            key(
                KeySource::Field(f(Field::Valid(Header::Tcp))),
                MatchKind::Ternary,
            ),
            key(KeySource::Field(f(Field::TcpFlags)), MatchKind::Ternary),
            key(KeySource::Field(f(Field::TcpDport)), MatchKind::Range),
            key(KeySource::Field(f(Field::Ip4Dst)), MatchKind::Lpm),
        ],
        entries: vec![
            Entry {
                priority: 40,
                matches: vec![
                    Match::Exact(1),
                    Match::Any,
                    Match::Any,
                    Match::Any,
                    Match::Any,
                ],
                rule: Some(r_block),
            },
            Entry {
                priority: 30,
                matches: vec![
                    Match::Any,
                    Match::Ternary { value: 1, mask: 1 },
                    Match::Ternary {
                        value: 0x02,
                        mask: 0x12,
                    },
                    Match::Any,
                    Match::Any,
                ],
                rule: Some(r_syn),
            },
            Entry {
                priority: 20,
                matches: vec![
                    Match::Any,
                    Match::Ternary { value: 1, mask: 1 },
                    Match::Any,
                    Match::Range { lo: 80, hi: 88 },
                    Match::Any,
                ],
                rule: Some(r_web),
            },
            Entry {
                priority: 10,
                matches: vec![
                    Match::Any,
                    Match::Any,
                    Match::Any,
                    Match::Any,
                    Match::Lpm {
                        value: 0xc633_6400,
                        len: 24,
                    },
                ],
                rule: Some(r_net),
            },
        ],
        size: 64,
    });
    p.nodes = vec![
        Node::Lookup { table: 0, next: 1 },
        Node::Rules {
            table: 1,
            next: 2,
            jumps: vec![],
        },
        Node::Verdict(Terminal::Drop),
        Node::Verdict(Terminal::Accept),
    ];
    p.pipeline = Pipeline::Lines(vec![
        Line {
            from: 0,
            to: 1,
            entry: 0,
        },
        Line {
            from: 1,
            to: 0,
            entry: 3,
        },
    ]);
    p
}

/// The emitted C against the declarations header (shared with the
/// repository-wide tests).
pub fn gcc_check(name: &str, c: &str) -> bool {
    dpuc_tests::gcc_check_doca(name, c)
}
