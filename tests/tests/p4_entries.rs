//! The P4 entries classify as the IR's tables do. For every conformance
//! file and example that a P4 target builds (PNA, its `dpdk` flavor and
//! BlueField, each with P4Runtime entries and with `--const-entries`), each
//! P4 table (every copy the unfolding makes) is mapped back to its IR table
//! through the P4Info (the table alias, and each match field's name), its
//! entries are read back from `NAME.entries.json` (or from the program's
//! `const entries`) and checked against P4Runtime's rules for a valid
//! entry, and on probe keys — every entry's boundary values, a key in the
//! overlap of every two entries, and seeded pseudo-random keys — the rule
//! or set bit P4Runtime's semantics pick must be the one the IR's first
//! match by priority picks.

use dpuc_ir::{KeySource, Match, Program, Table as IrTable, TableKind, Valid};
use dpuc_p4::{bluefield, pna, Artifact};
use dpuc_tests::p4rt::{self, Entry, FieldMatch, P4Info};
use dpuc_tests::{files_with_ext, lower_file, repo_root};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};

/// Random probes per table, on top of the boundary probes.
const RANDOM_PROBES: usize = 300;
/// Mismatches reported per table before the rest are only counted.
const SHOWN_PER_TABLE: usize = 3;

/// What a lookup decides: the rule of the winning entry, the set bit it
/// writes, or a miss.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Miss,
    Rule(u32),
    Hit(u32),
}

/// xorshift64*: the tests crate has no PRNG and a fixed seed keeps failures
/// reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn value(&mut self, width: u32) -> u128 {
        let v = (u128::from(self.next()) << 64) | u128::from(self.next());
        v & dpuc_ir::prefix_mask(width, width)
    }
}

/// One way of emitting P4.
struct Config {
    name: &'static str,
    const_entries: bool,
    /// Builds that succeed today (guards against quiet refusals).
    builds_today: usize,
}

const CONFIGS: [Config; 6] = [
    Config {
        name: "p4-pna",
        const_entries: false,
        builds_today: 21,
    },
    Config {
        name: "p4-pna",
        const_entries: true,
        builds_today: 21,
    },
    Config {
        name: "p4-pna-dpdk",
        const_entries: false,
        builds_today: 16,
    },
    Config {
        name: "p4-pna-dpdk",
        const_entries: true,
        // Tables ordered by priority are refused with const entries in the
        // dpdk flavor (p4c-dpdk reverses their precedence on DPDK).
        builds_today: 2,
    },
    Config {
        name: "bluefield",
        const_entries: false,
        builds_today: 6,
    },
    Config {
        name: "bluefield",
        const_entries: true,
        builds_today: 6,
    },
];

fn emit(c: &Config, valid: &Valid) -> Option<Artifact> {
    let const_entries = c.const_entries;
    match c.name {
        "p4-pna" => pna::emit(
            valid,
            &pna::Options {
                const_entries,
                ..Default::default()
            },
        )
        .ok(),
        "p4-pna-dpdk" => pna::emit(
            valid,
            &pna::Options {
                const_entries,
                flavor: pna::Flavor::Dpdk,
                ..Default::default()
            },
        )
        .ok(),
        _ => bluefield::emit(
            valid,
            &bluefield::Options {
                const_entries,
                ..Default::default()
            },
        )
        .ok(),
    }
}

/// Counts and problems of one configuration.
#[derive(Default)]
struct Tally {
    files: usize,
    refused: usize,
    tables: usize,
    entries: usize,
    probes: usize,
    problems: Vec<String>,
}

/// The key element name the P4 backend gives an IR key source: the IR's
/// own (serde) field name after `f_` (`f_inner_` for the encapsulated
/// packet, `f_valid_HEADER` for a presence bit), or `hit_N`. Compared with
/// the P4Info match field names after their `meta.`/`user_meta.` prefix.
fn key_name(k: KeySource) -> String {
    match k {
        KeySource::Hit(h) => format!("hit_{h}"),
        KeySource::Field(f) => {
            let base = match f.field {
                dpuc_ir::Field::Valid(h) => format!("valid_{}", h.name()),
                other => match serde_json::to_value(other) {
                    Ok(Value::String(s)) => s,
                    v => panic!("{other:?} serializes as {v:?}"),
                },
            };
            if f.inner {
                format!("f_inner_{base}")
            } else {
                format!("f_{base}")
            }
        }
    }
}

/// The table entries of `entries.json`, by table id.
fn json_entries(text: &str) -> Result<BTreeMap<u32, Vec<Entry>>, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let mut out: BTreeMap<u32, Vec<Entry>> = BTreeMap::new();
    let updates = v["updates"].as_array().ok_or("no `updates`")?;
    for u in updates {
        let Some(te) = u["entity"].get("tableEntry") else {
            continue;
        };
        if u["type"] != "INSERT" {
            return Err(format!("table entry update of type {}", u["type"]));
        }
        let num = |v: &Value| -> Result<u128, String> {
            v.as_str()
                .and_then(p4rt::base64_number)
                .ok_or_else(|| format!("bad bytes {v}"))
        };
        let mut matches = Vec::new();
        for m in te["match"].as_array().ok_or("entry without `match`")? {
            let id = m["fieldId"].as_u64().ok_or("no fieldId")? as u32;
            let fm = if let Some(x) = m.get("exact") {
                FieldMatch::Exact(num(&x["value"])?)
            } else if let Some(x) = m.get("lpm") {
                FieldMatch::Lpm {
                    value: num(&x["value"])?,
                    len: x["prefixLen"].as_u64().ok_or("no prefixLen")? as u32,
                }
            } else if let Some(x) = m.get("ternary") {
                FieldMatch::Ternary {
                    value: num(&x["value"])?,
                    mask: num(&x["mask"])?,
                }
            } else if let Some(x) = m.get("range") {
                FieldMatch::Range {
                    lo: num(&x["low"])?,
                    hi: num(&x["high"])?,
                }
            } else if let Some(x) = m.get("optional") {
                FieldMatch::Optional(num(&x["value"])?)
            } else {
                return Err(format!("unknown match {m}"));
            };
            matches.push((id, fm));
        }
        // protobuf JSON writes int32 as a number; absent means 0.
        let priority = te.get("priority").map_or(Some(0), Value::as_u64);
        let entry = Entry {
            priority: priority.ok_or("bad priority")?,
            matches,
            action: te["action"]["action"]["actionId"]
                .as_u64()
                .ok_or("entry without action id")? as u32,
        };
        let table = te["tableId"].as_u64().ok_or("entry without tableId")? as u32;
        out.entry(table).or_default().push(entry);
    }
    Ok(out)
}

/// What the P4Info's action `alias` records, checked against the program.
fn action_class(p: &Program, alias: &str) -> Result<Class, String> {
    if alias == "no_match" {
        return Ok(Class::Miss);
    }
    if let Some(h) = alias.strip_prefix("set_hit_") {
        return h.parse().map(Class::Hit).map_err(|e| e.to_string());
    }
    let rule = alias
        .strip_prefix("rule_")
        .and_then(|r| r.split_once('_'))
        .and_then(|(id, name)| Some((id.parse::<u32>().ok()?, name)))
        .filter(|(id, name)| p.rules.get(*id as usize).is_some_and(|r| r.name == *name));
    rule.map(|(id, _)| Class::Rule(id))
        .ok_or_else(|| format!("action `{alias}` names no rule of the program"))
}

/// The IR's answer: the entry of highest priority whose every match holds
/// (`entries` sorted by descending priority, as the interpreter keeps them).
fn ir_class(t: &IrTable, entries: &[&dpuc_ir::Entry], key: &[u128]) -> Class {
    let hit = entries.iter().find(|e| {
        e.matches
            .iter()
            .zip(key)
            .zip(&t.keys)
            .all(|((m, v), k)| m.matches(*v, k.source.width()))
    });
    match (hit, t.kind) {
        (None, _) => Class::Miss,
        (Some(e), TableKind::SetLookup { hit, .. }) if e.rule.is_none() => Class::Hit(hit),
        (Some(e), _) => e.rule.map_or(Class::Miss, Class::Rule),
    }
}

/// Values at and just outside the edges of `m` on a `width`-bit key; the
/// first one matches.
fn boundaries(m: &Match, width: u32) -> Vec<u128> {
    let all = dpuc_ir::prefix_mask(width, width);
    let vals = match *m {
        Match::Any => vec![0, all],
        Match::Exact(v) => vec![v, v.wrapping_sub(1), v.wrapping_add(1)],
        Match::Lpm { value, len } => {
            let mask = dpuc_ir::prefix_mask(width, len);
            let first = value & mask;
            let last = first | (all & !mask);
            vec![first, last, first.wrapping_sub(1), last.wrapping_add(1)]
        }
        Match::Ternary { value, mask } => {
            let low = mask & mask.wrapping_neg();
            let high = if mask == 0 {
                0
            } else {
                1u128 << (127 - mask.leading_zeros())
            };
            vec![value, value ^ (all & !mask), value ^ low, value ^ high]
        }
        // A target without native ranges splits a range into aligned
        // blocks; both ends of every block of the IR's own prefix split
        // are probed too, so a lost block shows.
        Match::Range { lo, hi } => {
            let mut v = vec![lo, hi, lo.wrapping_sub(1), hi.wrapping_add(1)];
            for (first, len) in dpuc_ir::prefix::range_to_prefixes(lo, hi, width) {
                v.push(first);
                v.push(first | (all & !dpuc_ir::prefix_mask(width, len)));
            }
            v
        }
    };
    vals.into_iter().map(|v| v & all).collect()
}

/// A value both `a` and `b` match on a `width`-bit key, if one is found:
/// the larger low end of two intervals, the union of two compatible
/// value/mask pairs, else a boundary value of either that both match.
fn witness(a: &Match, b: &Match, width: u32) -> Option<u128> {
    let all = dpuc_ir::prefix_mask(width, width);
    let interval = |m: &Match| match *m {
        Match::Any => Some((0, all)),
        Match::Exact(v) => Some((v, v)),
        Match::Lpm { value, len } => {
            let mask = dpuc_ir::prefix_mask(width, len);
            Some((value & mask, (value & mask) | (all & !mask)))
        }
        Match::Range { lo, hi } => Some((lo, hi)),
        Match::Ternary { .. } => None,
    };
    let ternary = |m: &Match| match *m {
        Match::Any => Some((0, 0)),
        Match::Exact(v) => Some((v, all)),
        Match::Lpm { value, len } => {
            let mask = dpuc_ir::prefix_mask(width, len);
            Some((value & mask, mask))
        }
        Match::Ternary { value, mask } => Some((value & mask, mask)),
        Match::Range { .. } => None,
    };
    let mut candidates = Vec::new();
    if let (Some((l1, _)), Some((l2, _))) = (interval(a), interval(b)) {
        candidates.push(l1.max(l2));
    }
    if let (Some((v1, m1)), Some((v2, m2))) = (ternary(a), ternary(b)) {
        candidates.push(v1 | v2);
        candidates.push((v1 | v2) | (all & !(m1 | m2)));
    }
    candidates.extend(boundaries(a, width));
    candidates.extend(boundaries(b, width));
    candidates
        .into_iter()
        .find(|v| a.matches(*v, width) && b.matches(*v, width))
}

/// Probe keys for `t` (one value per IR key): each entry's matching
/// "centre" with one key at a time moved to each of its boundary values;
/// for every two entries that can match the same key, one such key (where
/// only priority decides); then random keys whose elements are boundary
/// values of random entries (nudged by one) or uniform values.
fn probes(t: &IrTable, rng: &mut Rng) -> Vec<Vec<u128>> {
    let widths: Vec<u32> = t.keys.iter().map(|k| k.source.width()).collect();
    let mut out = vec![vec![0; widths.len()]];
    let mut pools: Vec<Vec<u128>> = widths
        .iter()
        .map(|w| vec![0, dpuc_ir::prefix_mask(*w, *w)])
        .collect();
    for e in &t.entries {
        let edges: Vec<Vec<u128>> = e
            .matches
            .iter()
            .zip(&widths)
            .map(|(m, w)| boundaries(m, *w))
            .collect();
        let centre: Vec<u128> = edges.iter().map(|b| b[0]).collect();
        for (i, b) in edges.iter().enumerate() {
            for v in b {
                let mut k = centre.clone();
                k[i] = *v;
                out.push(k);
            }
            pools[i].extend(b);
        }
        out.push(centre);
    }
    for (i, a) in t.entries.iter().enumerate() {
        for b in &t.entries[i + 1..] {
            let both: Option<Vec<u128>> = a
                .matches
                .iter()
                .zip(&b.matches)
                .zip(&widths)
                .map(|((x, y), w)| witness(x, y, *w))
                .collect();
            out.extend(both);
        }
    }
    for _ in 0..RANDOM_PROBES {
        let key = pools
            .iter()
            .zip(&widths)
            .map(|(pool, w)| {
                let all = dpuc_ir::prefix_mask(*w, *w);
                let v = pool[rng.below(pool.len())];
                match rng.below(4) {
                    0 => rng.value(*w),
                    1 => v.wrapping_add(1) & all,
                    2 => v.wrapping_sub(1) & all,
                    _ => v,
                }
            })
            .collect();
        out.push(key);
    }
    out
}

/// One build being checked.
struct Build<'a> {
    /// File and configuration, for messages.
    shown: &'a str,
    /// Entries read from `const entries` (P4Runtime's rules for omitting
    /// don't-care fields do not apply to them).
    const_entries: bool,
    program: &'a Program,
    info: &'a P4Info,
}

/// Checks one P4 table (alias `pt.alias`) of build `b` against its IR
/// table; adds to `tally`; returns the IR table's name.
fn check_table(
    b: &Build,
    pt: &p4rt::Table,
    entries: &[Entry],
    rng: &mut Rng,
    tally: &mut Tally,
) -> Result<String, String> {
    let (shown, p, info) = (b.shown, b.program, b.info);
    // `tbl_NAME`, or `tbl_NAME__N` for the Nth application.
    let base = match pt.alias.rsplit_once("__") {
        Some((b, n)) if n.parse::<u32>().is_ok() => b,
        _ => pt.alias.as_str(),
    };
    let t = p
        .tables
        .iter()
        .find(|t| format!("tbl_{}", t.name) == base)
        .ok_or_else(|| format!("{}: no IR table", pt.alias))?;
    // P4 field i reads IR key perm[i], found by name.
    let names: Vec<String> = t.keys.iter().map(|k| key_name(k.source)).collect();
    if names.iter().collect::<HashSet<_>>().len() != names.len() {
        return Err(format!(
            "{}: two IR keys read the same source ({names:?}); the P4Info cannot tell them apart",
            pt.alias
        ));
    }
    let mut perm = Vec::new();
    for f in &pt.fields {
        let short = f.name.split_once('.').map_or(f.name.as_str(), |(_, n)| n);
        let i = names
            .iter()
            .position(|n| n == short)
            .ok_or_else(|| format!("{}: match field {} is no IR key", pt.alias, f.name))?;
        if f.bitwidth != t.keys[i].source.width() {
            return Err(format!(
                "{}: {} has bitwidth {}",
                pt.alias, f.name, f.bitwidth
            ));
        }
        perm.push(i);
    }
    if perm.iter().collect::<HashSet<_>>().len() != t.keys.len() {
        return Err(format!(
            "{}: P4 keys {perm:?} for IR keys {names:?}",
            pt.alias
        ));
    }
    let mut classes = BTreeMap::new();
    for (id, alias) in &info.actions {
        if let Ok(c) = action_class(p, alias) {
            classes.insert(*id, c);
        }
    }
    let mut seen = HashSet::new();
    for e in entries {
        for problem in pt
            .entry_problems(e)
            .into_iter()
            .filter(|_| !b.const_entries)
        {
            tally
                .problems
                .push(format!("{shown}: {}: {problem}: {e:?}", pt.alias));
        }
        let mut key = e.matches.clone();
        key.sort_by_key(|(id, _)| *id);
        if !seen.insert(key) {
            tally
                .problems
                .push(format!("{shown}: {}: duplicate key {e:?}", pt.alias));
        }
    }
    let mut sorted: Vec<&dpuc_ir::Entry> = t.entries.iter().collect();
    sorted.sort_by_key(|e| std::cmp::Reverse(e.priority));
    let refs: Vec<&Entry> = entries.iter().collect();
    let keys = probes(t, rng);
    let mut wrong = 0;
    for key in &keys {
        let ir = ir_class(t, &sorted, key);
        let p4_key: Vec<u128> = perm.iter().map(|i| key[*i]).collect();
        let p4 = match pt.lookup(&refs, &p4_key) {
            Ok(Some(a)) => classes
                .get(&a)
                .copied()
                .ok_or_else(|| format!("action id {a} is not a rule, set bit or no_match")),
            Ok(None) => Err("miss without a const default action".to_string()),
            Err(e) => Err(e),
        };
        if p4 != Ok(ir) {
            wrong += 1;
            if wrong <= SHOWN_PER_TABLE {
                let shown_key: Vec<String> = pt
                    .fields
                    .iter()
                    .zip(&p4_key)
                    .map(|(f, v)| format!("{}=0x{v:x}", f.name))
                    .collect();
                tally.problems.push(format!(
                    "{shown}: {} (IR {}): key [{}]: IR {ir:?}, P4 {p4:?}",
                    pt.alias,
                    t.name,
                    shown_key.join(", ")
                ));
            }
        }
    }
    if wrong > SHOWN_PER_TABLE {
        tally.problems.push(format!(
            "{shown}: {}: {} more mismatches",
            pt.alias,
            wrong - SHOWN_PER_TABLE
        ));
    }
    tally.tables += 1;
    tally.entries += entries.len();
    tally.probes += keys.len();
    Ok(t.name.clone())
}

/// Checks every table of one build; adds to `tally`.
fn check_build(shown: &str, p: &Program, c: &Config, a: &Artifact, tally: &mut Tally) {
    let fail = |tally: &mut Tally, e: String| tally.problems.push(format!("{shown}: {e}"));
    let info = match p4rt::parse_p4info(&a.p4info) {
        Ok(i) => i,
        Err(e) => return fail(tally, format!("p4info: {e}")),
    };
    let mut by_table = match json_entries(&a.entries) {
        Ok(e) => e,
        Err(e) => return fail(tally, format!("entries.json: {e}")),
    };
    if c.const_entries && !by_table.is_empty() {
        fail(
            tally,
            "table entries in entries.json with --const-entries".into(),
        );
    }
    // A fixed seed per file and configuration: reruns probe the same keys.
    let seed = shown.bytes().fold(0x9e37_79b9_7f4a_7c15u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let mut rng = Rng(seed | 1);
    let build = Build {
        shown,
        const_entries: c.const_entries,
        program: p,
        info: &info,
    };
    let mut covered = HashSet::new();
    for pt in &info.tables {
        let entries = if c.const_entries {
            match p4rt::const_entries(&a.p4, pt, &info) {
                Ok(e) => e,
                Err(e) => return fail(tally, e),
            }
        } else {
            by_table.remove(&pt.id).unwrap_or_default()
        };
        match check_table(&build, pt, &entries, &mut rng, tally) {
            Ok(name) => {
                covered.insert(name);
            }
            Err(e) => fail(tally, e),
        }
    }
    for id in by_table.keys() {
        fail(
            tally,
            format!("entries for table id {id}, not in the P4Info"),
        );
    }
    for t in &p.tables {
        if !covered.contains(&t.name) {
            fail(
                tally,
                format!("IR table {} has no checked P4 table", t.name),
            );
        }
    }
}

#[test]
fn p4_entries_classify_as_the_ir_tables() {
    let root = repo_root();
    let mut files = files_with_ext(&root.join("tests/conformance"), ".dpl");
    files.extend(files_with_ext(&root.join("examples"), ".dpl"));
    let lowered: Vec<(String, Program)> = files
        .iter()
        .map(|path| {
            let (_, l) = lower_file(path).unwrap_or_else(|e| panic!("{e}"));
            let shown = path
                .strip_prefix(&root)
                .unwrap_or(path)
                .display()
                .to_string();
            (shown, l.program)
        })
        .collect();
    let mut problems = Vec::new();
    for c in &CONFIGS {
        let mut tally = Tally::default();
        for (shown, program) in &lowered {
            let valid = dpuc_ir::validate(program).expect("lowering validates");
            let Some(a) = emit(c, &valid) else {
                tally.refused += 1;
                continue;
            };
            tally.files += 1;
            let label = format!("{shown} [{}, const entries {}]", c.name, c.const_entries);
            check_build(&label, program, c, &a, &mut tally);
        }
        println!(
            "{} (const entries {}): {} files ({} refused), {} P4 tables, {} entries, {} probes",
            c.name,
            c.const_entries,
            tally.files,
            tally.refused,
            tally.tables,
            tally.entries,
            tally.probes
        );
        assert!(
            tally.files >= c.builds_today,
            "{}: only {} files build, {} did",
            c.name,
            tally.files,
            c.builds_today
        );
        problems.append(&mut tally.problems);
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
