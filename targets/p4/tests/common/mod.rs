//! Hand-built IR programs for the P4 backend tests.
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

/// Actions with steps and an end.
pub fn acts(steps: Vec<Step>, end: End) -> Actions {
    Actions { steps, end }
}

/// An empty program named `name`.
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

/// Adds a port, returning its id.
pub fn port(p: &mut Program, name: &str, number: u32) -> PortId {
    p.ports.push(Port {
        name: name.into(),
        number,
    });
    p.ports.len() as u32 - 1
}

/// Adds a policy.
pub fn policy(p: &mut Program, name: &str, default: Option<Terminal>) -> PolicyId {
    p.policies.push(Policy {
        name: name.into(),
        default,
    });
    p.policies.len() as u32 - 1
}

/// Adds a rule.
pub fn rule(p: &mut Program, policy: PolicyId, name: &str, actions: Actions) -> RuleId {
    let line = p.rules.len() as u32 + 1;
    p.rules.push(Rule {
        policy,
        name: name.into(),
        actions,
        line,
    });
    p.rules.len() as u32 - 1
}

/// Adds a rule table with entries `(priority, matches, rule)`.
pub fn rules_table(
    p: &mut Program,
    name: &str,
    policy: PolicyId,
    keys: Vec<Key>,
    entries: Vec<(u32, Vec<Match>, RuleId)>,
) -> TableId {
    p.tables.push(Table {
        name: name.into(),
        kind: TableKind::Rules { policy },
        keys,
        entries: entries
            .into_iter()
            .map(|(priority, matches, r)| Entry {
                priority,
                matches,
                rule: Some(r),
            })
            .collect(),
        size: 64,
    });
    p.tables.len() as u32 - 1
}

/// Adds an IPv4 set of prefixes and its LPM lookup table on `field`.
pub fn ip4_set(
    p: &mut Program,
    name: &str,
    field: Field,
    prefixes: &[(u32, u32)],
) -> (TableId, HitId) {
    let hit = p.hits;
    p.hits += 1;
    let table = p.tables.len() as u32;
    let elems = prefixes
        .iter()
        .map(|&(v, len)| {
            let mask = prefix_mask(32, len);
            Elem {
                family: Some(Family::V4),
                lo: u128::from(v) & mask,
                hi: (u128::from(v) & mask) | (!mask & 0xffff_ffff),
            }
        })
        .collect();
    let set = p.sets.len() as u32;
    p.sets.push(Set {
        name: name.into(),
        ty: SetType::Ip,
        elems,
        tables: vec![table],
    });
    p.tables.push(Table {
        name: format!("{name}_lookup"),
        kind: TableKind::SetLookup { set, hit },
        keys: vec![key(KeySource::Field(f(field)), MatchKind::Lpm)],
        entries: prefixes
            .iter()
            .map(|&(v, len)| Entry {
                // Longer prefixes first; callers pass distinct lengths.
                priority: len + 1,
                matches: vec![Match::Lpm {
                    value: u128::from(v),
                    len,
                }],
                rule: None,
            })
            .collect(),
        size: 16,
    });
    (table, hit)
}

/// Adds a node.
pub fn node(p: &mut Program, n: Node) -> NodeId {
    p.nodes.push(n);
    p.nodes.len() as u32 - 1
}

/// The kitchen-sink program: a set lookup, a rule table with a hit bit,
/// ternary TCP flags, a port range, a jump, a counter, a trTCM meter,
/// mirror, DSCP rewrite, forward, and a table reached on two paths.
pub fn kitchen_sink() -> Program {
    let mut p = empty("sink");
    let a = port(&mut p, "a", 1);
    let b = port(&mut p, "b", 2);
    let tap = port(&mut p, "tap", 9);
    p.counters.push("blocked".into());
    p.meters.push(Meter {
        name: "web".into(),
        kind: MeterKind::TrTcm {
            cir: 8_000_000,
            cbs: 10_000,
            pir: 16_000_000,
            pbs: 20_000,
        },
        unit: MeterUnit::Bytes,
        per: vec![],
        max_keys: 1,
    });
    let main = policy(&mut p, "main", Some(Terminal::Drop));
    let sub = policy(&mut p, "sub", None);
    let (set_t, hit) = ip4_set(
        &mut p,
        "blocked",
        Field::Ip4Src,
        &[(0x0a00_0000, 8), (0xc0a8_0100, 24)],
    );
    let r_block = rule(
        &mut p,
        main,
        "block",
        acts(vec![Step::Count(0)], End::Terminal(Terminal::Drop)),
    );
    let r_syn = rule(&mut p, main, "syn", acts(vec![], End::Jump(sub)));
    let arm = |steps, terminal| Arm { steps, terminal };
    let r_web = rule(
        &mut p,
        main,
        "web",
        acts(
            vec![Step::Meter {
                meter: 0,
                arms: Box::new([
                    arm(vec![], Some(Terminal::Forward(b))),
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
        ),
    );
    let r_mark = rule(
        &mut p,
        sub,
        "mark",
        acts(vec![Step::Mirror(tap)], End::Continue),
    );
    let r_last = rule(
        &mut p,
        main,
        "udp_ok",
        acts(vec![], End::Terminal(Terminal::Accept)),
    );
    let t_main = rules_table(
        &mut p,
        "main_rules",
        main,
        vec![
            key(KeySource::Hit(hit), MatchKind::Exact),
            key(KeySource::Field(f(Field::TcpFlags)), MatchKind::Ternary),
            key(KeySource::Field(f(Field::TcpDport)), MatchKind::Range),
            key(
                KeySource::Field(f(Field::Valid(Header::Tcp))),
                MatchKind::Ternary,
            ),
        ],
        vec![
            (
                30,
                vec![Match::Exact(1), Match::Any, Match::Any, Match::Any],
                r_block,
            ),
            (
                20,
                vec![
                    Match::Exact(0),
                    Match::Ternary {
                        value: 0x02,
                        mask: 0x12,
                    },
                    Match::Any,
                    Match::Ternary { value: 1, mask: 1 },
                ],
                r_syn,
            ),
            (
                10,
                vec![
                    Match::Exact(0),
                    Match::Any,
                    Match::Range { lo: 80, hi: 443 },
                    Match::Ternary { value: 1, mask: 1 },
                ],
                r_web,
            ),
        ],
    );
    let t_sub = rules_table(
        &mut p,
        "sub_rules",
        sub,
        vec![key(KeySource::Field(f(Field::IpDscp)), MatchKind::Exact)],
        vec![(1, vec![Match::Exact(0)], r_mark)],
    );
    let t_tail = rules_table(
        &mut p,
        "tail_rules",
        main,
        vec![key(
            KeySource::Field(f(Field::Valid(Header::Udp))),
            MatchKind::Exact,
        )],
        vec![(1, vec![Match::Exact(1)], r_last)],
    );
    // Node ids are fixed by push order below.
    let n_lookup = node(
        &mut p,
        Node::Lookup {
            table: set_t,
            next: 1,
        },
    );
    let _n_main = node(
        &mut p,
        Node::Rules {
            table: t_main,
            next: 3,
            jumps: vec![(r_syn, 2)],
        },
    );
    let _n_sub = node(
        &mut p,
        Node::Rules {
            table: t_sub,
            next: 3,
            jumps: vec![],
        },
    );
    let _n_tail = node(
        &mut p,
        Node::Rules {
            table: t_tail,
            next: 4,
            jumps: vec![],
        },
    );
    let _n_end = node(&mut p, Node::Verdict(Terminal::Drop));
    p.pipeline = Pipeline::Lines(vec![Line {
        from: a,
        to: b,
        entry: n_lookup,
    }]);
    p
}
