//! A small model of P4Runtime table lookup, to check emitted P4 entries by
//! behaviour: the P4Info tables and actions (protobuf text), table entries
//! (decoded by the caller from protobuf JSON, or from a program's `const
//! entries`), P4Runtime's validity rules for an entry, and which entry a
//! key selects.

use std::collections::BTreeMap;

/// A P4Info match type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchType {
    /// `EXACT`.
    Exact,
    /// `LPM`.
    Lpm,
    /// `TERNARY`.
    Ternary,
    /// `RANGE`.
    Range,
    /// `OPTIONAL`.
    Optional,
}

/// One `match_fields` of a P4Info table.
#[derive(Clone, Debug)]
pub struct MatchField {
    /// Its id (the `fieldId` of entries).
    pub id: u32,
    /// Its name: the P4 key expression, e.g. `meta.f_ip4_src`.
    pub name: String,
    /// Width in bits.
    pub bitwidth: u32,
    /// Match type.
    pub kind: MatchType,
}

/// One P4Info table.
#[derive(Clone, Debug)]
pub struct Table {
    /// Its id (the `tableId` of entries).
    pub id: u32,
    /// Its alias (the P4 table name).
    pub alias: String,
    /// Key fields, in P4Info order.
    pub fields: Vec<MatchField>,
    /// Action ids the table may use, with whether each is default-only.
    pub actions: Vec<(u32, bool)>,
    /// `const_default_action_id`: what a miss (or a keyless table) runs.
    pub const_default: Option<u32>,
}

/// The parts of a P4Info this model reads.
#[derive(Clone, Debug, Default)]
pub struct P4Info {
    /// The tables.
    pub tables: Vec<Table>,
    /// Action id → alias.
    pub actions: BTreeMap<u32, String>,
}

/// How one entry matches one field, in P4Runtime's terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldMatch {
    /// `exact { value }`.
    Exact(u128),
    /// `lpm { value prefix_len }`.
    Lpm {
        /// Value.
        value: u128,
        /// Prefix length.
        len: u32,
    },
    /// `ternary { value mask }`.
    Ternary {
        /// Value.
        value: u128,
        /// Mask.
        mask: u128,
    },
    /// `range { low high }`.
    Range {
        /// Low end.
        lo: u128,
        /// High end.
        hi: u128,
    },
    /// `optional { value }`.
    Optional(u128),
}

impl FieldMatch {
    /// The P4Info match type this encoding belongs to.
    pub fn kind(&self) -> MatchType {
        match self {
            FieldMatch::Exact(_) => MatchType::Exact,
            FieldMatch::Lpm { .. } => MatchType::Lpm,
            FieldMatch::Ternary { .. } => MatchType::Ternary,
            FieldMatch::Range { .. } => MatchType::Range,
            FieldMatch::Optional(_) => MatchType::Optional,
        }
    }

    /// Whether `v` (a `width`-bit key value) matches.
    pub fn matches(&self, v: u128, width: u32) -> bool {
        match *self {
            FieldMatch::Exact(x) | FieldMatch::Optional(x) => v == x,
            FieldMatch::Lpm { value, len } => {
                let m = dpuc_ir::prefix_mask(width, len);
                v & m == value & m
            }
            FieldMatch::Ternary { value, mask } => v & mask == value & mask,
            FieldMatch::Range { lo, hi } => lo <= v && v <= hi,
        }
    }
}

/// One table entry: its priority (0 when absent), its field matches by
/// field id (an absent field is a wildcard), and its action id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// P4Runtime priority; higher wins.
    pub priority: u64,
    /// `(field id, match)`.
    pub matches: Vec<(u32, FieldMatch)>,
    /// The action id.
    pub action: u32,
}

impl Table {
    /// Whether P4Runtime orders this table's entries by priority (any
    /// ternary, range or optional field).
    pub fn uses_priority(&self) -> bool {
        self.fields.iter().any(|f| {
            matches!(
                f.kind,
                MatchType::Ternary | MatchType::Range | MatchType::Optional
            )
        })
    }

    /// What P4Runtime would refuse in `e` (an empty list: nothing).
    pub fn entry_problems(&self, e: &Entry) -> Vec<String> {
        let mut out = Vec::new();
        if self.fields.is_empty() {
            // A keyless table only has its default action.
            out.push("entry in a keyless table".into());
        }
        let needs = self.uses_priority();
        if needs && e.priority == 0 {
            out.push("priority 0 in a table with ternary/range/optional keys".into());
        }
        if !needs && e.priority != 0 {
            out.push(format!("priority {} in an exact/lpm table", e.priority));
        }
        match self.actions.iter().find(|(id, _)| *id == e.action) {
            None => out.push(format!("action {} is not an action of the table", e.action)),
            Some((_, true)) => out.push(format!("action {} is default-only", e.action)),
            Some(_) => {}
        }
        for f in &self.fields {
            let ms: Vec<&FieldMatch> = e
                .matches
                .iter()
                .filter(|(id, _)| *id == f.id)
                .map(|(_, m)| m)
                .collect();
            if ms.len() > 1 {
                out.push(format!("field {} given twice", f.name));
            }
            let Some(m) = ms.first() else {
                if f.kind == MatchType::Exact {
                    out.push(format!("exact field {} omitted", f.name));
                }
                continue;
            };
            if m.kind() != f.kind {
                out.push(format!(
                    "{:?} match for {:?} field {}",
                    m.kind(),
                    f.kind,
                    f.name
                ));
            }
            let all = dpuc_ir::prefix_mask(f.bitwidth, f.bitwidth);
            let fits = |v: u128| v & !all == 0;
            let ok = match **m {
                FieldMatch::Exact(v) | FieldMatch::Optional(v) => fits(v),
                // A don't-care must be omitted, not written as /0, mask 0 or
                // the full range; bits outside the prefix or mask must be 0.
                FieldMatch::Lpm { value, len } => {
                    fits(value)
                        && (1..=f.bitwidth).contains(&len)
                        && value & !dpuc_ir::prefix_mask(f.bitwidth, len) == 0
                }
                FieldMatch::Ternary { value, mask } => {
                    fits(value) && fits(mask) && mask != 0 && value & !mask == 0
                }
                FieldMatch::Range { lo, hi } => fits(hi) && lo <= hi && !(lo == 0 && hi == all),
            };
            if !ok {
                out.push(format!(
                    "invalid {m:?} for {}-bit field {}",
                    f.bitwidth, f.name
                ));
            }
        }
        for (id, _) in &e.matches {
            if !self.fields.iter().any(|f| f.id == *id) {
                out.push(format!("unknown field id {id}"));
            }
        }
        out
    }

    /// The action P4Runtime runs for `key` (one value per field, in
    /// [`Table::fields`] order) given `entries`: for tables with
    /// ternary/range/optional fields the matching entry of highest priority,
    /// else the longest matching prefix, else the one exact match; a miss
    /// runs the const default action. `Err` when the winner is not unique
    /// (two matching entries tie with different actions).
    pub fn lookup(&self, entries: &[&Entry], key: &[u128]) -> Result<Option<u32>, String> {
        let matching = entries.iter().filter(|e| {
            e.matches.iter().all(|(id, m)| {
                self.fields
                    .iter()
                    .position(|f| f.id == *id)
                    .is_some_and(|i| m.matches(key[i], self.fields[i].bitwidth))
            })
        });
        // The rank P4Runtime orders matching entries by.
        let rank = |e: &Entry| -> u64 {
            if self.uses_priority() {
                e.priority
            } else {
                e.matches
                    .iter()
                    .map(|(_, m)| match m {
                        FieldMatch::Lpm { len, .. } => u64::from(*len),
                        _ => 0,
                    })
                    .sum()
            }
        };
        let ranked: Vec<(u64, u32)> = matching.map(|e| (rank(e), e.action)).collect();
        let Some(top) = ranked.iter().map(|(r, _)| *r).max() else {
            return Ok(self.const_default);
        };
        let mut winners: Vec<u32> = ranked
            .iter()
            .filter(|(r, _)| *r == top)
            .map(|(_, a)| *a)
            .collect();
        winners.sort_unstable();
        winners.dedup();
        match winners[..] {
            [a] => Ok(Some(a)),
            _ => Err(format!("actions {winners:?} tie at rank {top}")),
        }
    }
}

/// The `const entries` of table `t` in the P4 program text `p4`, as
/// [`Entry`]s: each key element is matched to a P4Info field by its
/// expression in the table's `key = { ... }` block, `_` is omitted, and in
/// a table with ternary/range/optional fields an earlier entry gets a higher
/// priority (p4c's rule for `const entries` without `@priority`). Empty when
/// the table has none.
pub fn const_entries(p4: &str, t: &Table, info: &P4Info) -> Result<Vec<Entry>, String> {
    let head = format!("table {} {{", t.alias);
    let mut lines = p4.lines().map(str::trim).skip_while(|l| *l != head).skip(1);
    let body: Vec<String> = take_block(&mut lines);
    let block = |start: &str| -> Vec<&str> {
        body.iter()
            .map(String::as_str)
            .skip_while(|l| *l != start)
            .skip(1)
            .take_while(|l| *l != "}")
            .collect()
    };
    let keys = block("key = {")
        .iter()
        .map(|l| {
            let name = l.split(':').next().unwrap_or("").trim();
            t.fields
                .iter()
                .find(|f| f.name == name)
                .ok_or_else(|| format!("{}: key `{name}` is not in the P4Info", t.alias))
        })
        .collect::<Result<Vec<&MatchField>, String>>()?;
    let lines = block("const entries = {");
    let n = lines.len() as u64;
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let bad = || format!("{}: cannot read const entry `{l}`", t.alias);
        let (tuple, action) = l.rsplit_once(" : ").ok_or_else(bad)?;
        let action = action.trim_end_matches("();");
        let action = info
            .actions
            .iter()
            .find(|(_, a)| a.as_str() == action)
            .map(|(id, _)| *id)
            .ok_or_else(bad)?;
        let elems: Vec<&str> = tuple
            .trim_start_matches('(')
            .trim_end_matches(')')
            .split(", ")
            .collect();
        if elems.len() != keys.len() {
            return Err(bad());
        }
        let mut matches = Vec::new();
        for (f, e) in keys.iter().zip(elems) {
            if e == "_" {
                continue;
            }
            let m = if let Some((v, m)) = e.split_once(" &&& ") {
                let (value, mask) = (literal(v).ok_or_else(bad)?, literal(m).ok_or_else(bad)?);
                match f.kind {
                    // p4c accepts `value &&& mask` on an lpm key when the
                    // mask is a prefix.
                    MatchType::Lpm => {
                        let len = mask.count_ones();
                        if mask != dpuc_ir::prefix_mask(f.bitwidth, len) {
                            return Err(bad());
                        }
                        FieldMatch::Lpm { value, len }
                    }
                    _ => FieldMatch::Ternary { value, mask },
                }
            } else if let Some((lo, hi)) = e.split_once(" .. ") {
                FieldMatch::Range {
                    lo: literal(lo).ok_or_else(bad)?,
                    hi: literal(hi).ok_or_else(bad)?,
                }
            } else {
                let v = literal(e).ok_or_else(bad)?;
                let all = dpuc_ir::prefix_mask(f.bitwidth, f.bitwidth);
                match f.kind {
                    MatchType::Exact => FieldMatch::Exact(v),
                    MatchType::Optional => FieldMatch::Optional(v),
                    MatchType::Lpm => FieldMatch::Lpm {
                        value: v,
                        len: f.bitwidth,
                    },
                    MatchType::Ternary => FieldMatch::Ternary {
                        value: v,
                        mask: all,
                    },
                    MatchType::Range => FieldMatch::Range { lo: v, hi: v },
                }
            };
            matches.push((f.id, m));
        }
        let priority = if t.uses_priority() { n - i as u64 } else { 0 };
        out.push(Entry {
            priority,
            matches,
            action,
        });
    }
    Ok(out)
}

/// A P4 literal `WwV` (`V` decimal or `0x` hex).
fn literal(s: &str) -> Option<u128> {
    let (_, v) = s.split_once('w')?;
    match v.strip_prefix("0x") {
        Some(hex) => u128::from_str_radix(hex, 16).ok(),
        None => v.parse().ok(),
    }
}

/// Parses the tables and actions of a P4Info in protobuf text format (as
/// dpuc and p4c write it: one field per line).
pub fn parse_p4info(text: &str) -> Result<P4Info, String> {
    let mut info = P4Info::default();
    let mut lines = text.lines().map(str::trim);
    let num = |v: &str| v.parse::<u32>().map_err(|e| format!("`{v}`: {e}"));
    while let Some(line) = lines.next() {
        match line {
            "tables {" => {
                let block = take_block(&mut lines);
                let mut t = Table {
                    id: 0,
                    alias: String::new(),
                    fields: Vec::new(),
                    actions: Vec::new(),
                    const_default: None,
                };
                let mut it = block.iter().map(String::as_str);
                while let Some(l) = it.next() {
                    match l {
                        "preamble {" => {
                            for (k, v) in pairs(&take_block(&mut it)) {
                                match k.as_str() {
                                    "id" => t.id = num(&v)?,
                                    "alias" => t.alias = v,
                                    _ => {}
                                }
                            }
                        }
                        "match_fields {" => {
                            let mut f = MatchField {
                                id: 0,
                                name: String::new(),
                                bitwidth: 0,
                                kind: MatchType::Exact,
                            };
                            for (k, v) in pairs(&take_block(&mut it)) {
                                match k.as_str() {
                                    "id" => f.id = num(&v)?,
                                    "name" => f.name = v,
                                    "bitwidth" => f.bitwidth = num(&v)?,
                                    "match_type" => {
                                        f.kind = match v.as_str() {
                                            "EXACT" => MatchType::Exact,
                                            "LPM" => MatchType::Lpm,
                                            "TERNARY" => MatchType::Ternary,
                                            "RANGE" => MatchType::Range,
                                            "OPTIONAL" => MatchType::Optional,
                                            other => return Err(format!("match_type {other}")),
                                        }
                                    }
                                    _ => {}
                                }
                            }
                            t.fields.push(f);
                        }
                        "action_refs {" => {
                            let mut id = 0;
                            let mut default_only = false;
                            for (k, v) in pairs(&take_block(&mut it)) {
                                match k.as_str() {
                                    "id" => id = num(&v)?,
                                    "scope" => default_only = v == "DEFAULT_ONLY",
                                    _ => {}
                                }
                            }
                            t.actions.push((id, default_only));
                        }
                        l if l.ends_with('{') => {
                            take_block(&mut it);
                        }
                        l => {
                            if let Some(v) = l.strip_prefix("const_default_action_id: ") {
                                t.const_default = Some(num(v)?);
                            }
                        }
                    }
                }
                info.tables.push(t);
            }
            "actions {" => {
                let block = take_block(&mut lines);
                let mut it = block.iter().map(String::as_str);
                let (mut id, mut alias) = (0, String::new());
                while let Some(l) = it.next() {
                    if l == "preamble {" {
                        for (k, v) in pairs(&take_block(&mut it)) {
                            match k.as_str() {
                                "id" => id = num(&v)?,
                                "alias" => alias = v,
                                _ => {}
                            }
                        }
                    }
                }
                info.actions.insert(id, alias);
            }
            l if l.ends_with('{') => {
                take_block(&mut lines);
            }
            _ => {}
        }
    }
    Ok(info)
}

/// The lines up to the `}` closing a block whose `{` was just read (nested
/// blocks included, the closing line not).
fn take_block<'a>(lines: &mut impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut depth = 1;
    let mut out = Vec::new();
    for l in lines {
        if l.ends_with('{') {
            depth += 1;
        } else if l == "}" {
            depth -= 1;
            if depth == 0 {
                break;
            }
        }
        out.push(l.to_string());
    }
    out
}

/// The `key: value` lines of a block's top level, quotes removed.
fn pairs(block: &[String]) -> Vec<(String, String)> {
    block
        .iter()
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
        .collect()
}

/// Decodes standard base64 (protobuf JSON's `bytes`) into a big-endian
/// number; `None` for bad input or more than 16 bytes.
pub fn base64_number(s: &str) -> Option<u128> {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let body = s.trim_end_matches('=');
    if !s.len().is_multiple_of(4) || s.len() - body.len() > 2 {
        return None;
    }
    let mut bits: u32 = 0;
    let mut nbits = 0;
    let mut bytes = Vec::new();
    for c in body.bytes() {
        let d = A.iter().position(|a| *a == c)? as u32;
        bits = (bits << 6) | d;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            bytes.push((bits >> nbits) as u8);
            bits &= (1 << nbits) - 1;
        }
    }
    if bytes.len() > 16 {
        return None;
    }
    Some(
        bytes
            .iter()
            .fold(0u128, |acc, b| (acc << 8) | u128::from(*b)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_base64_numbers() {
        assert_eq!(base64_number("AA=="), Some(0));
        assert_eq!(base64_number("CgAAAQ=="), Some(0x0a00_0001));
        assert_eq!(base64_number("AbsB"), Some(0x01bb01));
        assert_eq!(base64_number("A"), None);
    }
}
