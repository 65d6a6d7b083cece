//! Which map holds what, and what goes in it. The [`Layout`] is the
//! contract between the generated program and its loaders: it is written
//! as `NAME.ebpf.json`, and [`fills`] / [`set_fills`] compute the map
//! contents from the IR the same way at build time, at load time and on
//! every live set update.

use super::classify::{self, KeyClasses};
use dpuc_ir::{KeySource, Program, TableKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Bytes of an LPM classifier key before the value: `prefixlen` and the key id.
pub const LPM_HEADER: u32 = 8;
/// Widest key classified through the array map `dpuc_cls`.
pub const MAX_ARRAY_WIDTH: u32 = 16;
/// Narrowest and widest rule-table keys classified through the multibit
/// trie `dpuc_mbt`. Narrower keys use `dpuc_cls`; wider ones, and set
/// lookups (rewritten while the program runs), use `dpuc_cls` up to
/// [`MAX_ARRAY_WIDTH`] bits and LPM tries beyond.
pub const MIN_MBT_WIDTH: u32 = 9;
/// See [`MIN_MBT_WIDTH`].
pub const MAX_MBT_WIDTH: u32 = 64;
/// Entries of one multibit trie chunk: each level below the root resolves
/// 8 bits.
pub const MBT_CHUNK: u32 = 256;
/// Set in a multibit trie entry that points at a child chunk (the other
/// bits are its index); clear in a leaf (the bitmap row).
pub const MBT_CHILD: u32 = 1 << 31;
/// Chunks (1 KiB each) all multibit tries of a program may use together;
/// keys that would go beyond fall back to `dpuc_cls` or an LPM trie.
pub const MAX_MBT_CHUNKS: u32 = 1 << 16;

/// The array classifier: index `base + value` → row (or class).
pub const CLS_MAP: &str = "dpuc_cls";
/// Multibit trie chunks: index → 256 `u32` entries (row or child chunk).
pub const MBT_MAP: &str = "dpuc_mbt";
/// Entry index → `{rule, action}`.
pub const RINFO_MAP: &str = "dpuc_rinfo";
/// Named counters, per CPU: `{packets, bytes}`.
pub const COUNTERS_MAP: &str = "dpuc_counters";
/// Rule hit counters, per CPU: `{packets, bytes}`.
pub const HITS_MAP: &str = "dpuc_hits";
/// Meter buckets.
pub const METERS_MAP: &str = "dpuc_meters";
/// Port id → ifindex.
pub const PORTS_MAP: &str = "dpuc_ports";
/// Ifindex → port number.
pub const IFPORTS_MAP: &str = "dpuc_ifports";
/// `log` records: `{rule id, prefix index, frame length, ingress port}`.
pub const EVENTS_MAP: &str = "dpuc_events";
/// Bytes of the event ring buffer.
pub const EVENTS_BYTES: u32 = 256 * 1024;
/// Per-packet scratch: parsed fields and evaluation state.
pub const SCRATCH_MAP: &str = "dpuc_scratch";
/// Test builds: the clock and the ingress port, set by the runner.
pub const CFG_MAP: &str = "dpuc_cfg";
/// Test builds: what the program decided for the last packet.
pub const TRACE_MAP: &str = "dpuc_trace";

/// Size of a meter's value: lock, initialised flag, two buckets, last time.
pub const METER_VALUE: u32 = 32;
/// The prefix index of an event record that is not a `log` but the
/// tracker refusing a new connection (table full); its rule is `u32::MAX`.
pub const EVENT_CT_FULL: u32 = u32::MAX - 1;
/// Test builds run frames shorter than this (what `BPF_PROG_TEST_RUN`
/// accepts, an Ethernet header) padded with zeros, with their real length
/// in `dpuc_cfg`.
pub const MIN_TEST_FRAME: u32 = 14;
/// Size of the trace value: verdict, port, rule, colour, dscp, mark.
pub const TRACE_VALUE: u32 = 24;

/// Verdict codes in the trace.
pub mod verdict {
    /// Accepted.
    pub const ACCEPT: u32 = 0;
    /// Dropped.
    pub const DROP: u32 = 1;
    /// Forwarded to the port in the trace.
    pub const FORWARD: u32 = 2;
}

/// The map kinds a layout uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MapType {
    /// `BPF_MAP_TYPE_ARRAY`.
    Array,
    /// `BPF_MAP_TYPE_PERCPU_ARRAY`.
    PercpuArray,
    /// `BPF_MAP_TYPE_HASH`.
    Hash,
    /// `BPF_MAP_TYPE_LPM_TRIE`.
    LpmTrie,
    /// `BPF_MAP_TYPE_RINGBUF`.
    RingBuf,
}

/// One map of the object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapLayout {
    /// Its name in the object.
    pub name: String,
    /// Its type.
    pub kind: MapType,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes.
    pub value_size: u32,
    /// Capacity.
    pub max_entries: u32,
    /// What it holds, for people.
    pub holds: String,
}

/// How one table key turns a field value into a row (rule tables) or a
/// membership class (set lookups: 0 miss, 1 hit).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Classifier {
    /// `dpuc_cls[base + value]`.
    Array {
        /// First index.
        base: u32,
    },
    /// A multibit trie in `dpuc_mbt`: the top `root_bits` bits of the
    /// value index the entries of the chunks `root ..` (256 per chunk), each
    /// further level the next 8 bits of a child chunk's; an entry is a row,
    /// or `MBT_CHILD | chunk`. Every value has a row: no lookup misses.
    Multibit {
        /// First chunk of the root.
        root: u32,
        /// Bits resolved by the root (the rest, 8 per level below it).
        root_bits: u32,
        /// Chunks of this key, the root's first, then its children.
        chunks: u32,
    },
    /// The LPM trie `map`, keyed by `{prefixlen, id (big endian), value}`.
    Lpm {
        /// The trie.
        map: String,
        /// This key's id.
        id: u32,
        /// Value bytes.
        bytes: u32,
    },
}

/// One key of a table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyLayout {
    /// What it reads.
    pub source: KeySource,
    /// Width in bits.
    pub width: u32,
    /// How it is classified.
    pub classifier: Classifier,
    /// First bitmap row of this key (rule tables).
    pub row_base: u32,
}

/// One table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableLayout {
    /// The IR table's name.
    pub name: String,
    /// Its keys.
    pub keys: Vec<KeyLayout>,
    /// Bitmap words (rule tables; 0 for set lookups).
    pub words: u32,
    /// The bitmap map (rule tables).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bitmaps: Option<String>,
    /// First index of this table's entries in `dpuc_rinfo` (rule tables).
    pub rinfo_base: u32,
    /// Entries, in bit order.
    pub entries: u32,
}

/// Everything a loader needs to know about the object's maps.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    /// The policy's name.
    pub policy: String,
    /// Every map.
    pub maps: Vec<MapLayout>,
    /// One per IR table, in IR order.
    pub tables: Vec<TableLayout>,
    /// Whether the program reads its clock and ingress port from `dpuc_cfg`.
    pub test_clock: bool,
    /// The prefixes of `log` actions, by the index in their event records.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_prefixes: Vec<String>,
    /// The connection tracker, when the policy has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conntrack: Option<CtLayout>,
    /// The keyed meters, by meter order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keyed_meters: Vec<KeyedMeterLayout>,
}

/// One field of a map's key or value, as the layout documents it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayoutField {
    /// Its name.
    pub name: String,
    /// Byte offset.
    pub offset: u32,
    /// Bytes.
    pub size: u32,
}

impl LayoutField {
    /// `name` at `offset`, `size` bytes.
    pub fn new(name: &str, offset: i16, size: u32) -> LayoutField {
        LayoutField {
            name: name.into(),
            offset: offset as u32,
            size,
        }
    }
}

/// The connection tracker's maps: the table and how its entries read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CtLayout {
    /// The table (a hash map).
    pub map: String,
    /// The global use counter (an array of one `u64`).
    pub seq_map: String,
    /// The policy's bound (the map holds at least one entry even for 0,
    /// which the program treats as always full).
    pub max_entries: u64,
    /// Whether a full table evicts the least recently used connection.
    pub evict_oldest: bool,
    /// The key: the canonical tuple (the (address, port) pair that sorts
    /// first as `a`), protocol, family (4 or 6), zone values.
    pub key: Vec<LayoutField>,
    /// The value.
    pub value: Vec<LayoutField>,
}

/// A keyed meter's bucket map.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyedMeterLayout {
    /// The meter's name.
    pub meter: String,
    /// Its map (a hash map).
    pub map: String,
    /// At most this many keys have a bucket.
    pub max_keys: u32,
    /// The key: per `per` field, its presence (1 for fields always
    /// present) and its value.
    pub key: Vec<LayoutField>,
    /// The value: the bucket pair as in `dpuc_meters`, and the tick of the
    /// key's last use.
    pub value: Vec<LayoutField>,
}

impl CtLayout {
    /// The field called `name` of the value.
    pub fn value_field(&self, name: &str) -> Option<&LayoutField> {
        self.value.iter().find(|f| f.name == name)
    }
}

/// A write into a map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapWrite {
    /// The map.
    pub map: String,
    /// The key bytes.
    pub key: Vec<u8>,
    /// The value bytes.
    pub value: Vec<u8>,
}

/// The classification of every key, computed once per build or load.
pub struct Classes {
    /// Per table, per key.
    pub keys: Vec<Vec<KeyClasses>>,
    /// Per table, entry indices in bit order.
    pub order: Vec<Vec<usize>>,
}

/// Classifies every table of `p`. `Err` is (table name, reason).
pub fn classes(p: &Program) -> Result<Classes, (String, String)> {
    let mut keys = Vec::new();
    let mut order = Vec::new();
    for t in &p.tables {
        let err = |e| (t.name.clone(), e);
        match t.kind {
            TableKind::SetLookup { .. } => {
                keys.push(vec![classify::membership(t).map_err(err)?]);
                order.push(Vec::new());
            }
            TableKind::Rules { .. } => {
                let o = classify::by_priority(t);
                let ks = (0..t.keys.len())
                    .map(|k| classify::classify_key(t, k, &o))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(err)?;
                keys.push(ks);
                order.push(o);
            }
        }
    }
    Ok(Classes { keys, order })
}

/// Bytes of a wide key's value.
fn value_bytes(width: u32) -> u32 {
    width.div_ceil(8)
}

/// Bitmaps wider than this many words carry an aggregate in front (one
/// bit per word, set when the word is not zero), so lookups read only the
/// words that can hold a match.
pub const AGG_FROM_WORDS: u32 = 8;

/// Aggregate words in front of a `words`-word bitmap (0: none).
pub fn agg_words(words: u32) -> u32 {
    if words > AGG_FROM_WORDS {
        words.div_ceil(64)
    } else {
        0
    }
}

/// The LPM trie for values of `bytes` bytes.
pub fn lpm_map(bytes: u32) -> String {
    format!("dpuc_lpm{bytes}")
}

/// The bitmap map for tables of `words` words.
pub fn bitmap_map(words: u32) -> String {
    format!("dpuc_bm{words}")
}

/// Lays out the maps of `p`.
pub fn layout(p: &Program, c: &Classes, test_clock: bool, scratch: u32) -> Layout {
    let mut cls_len = 0u32;
    let mut mbt_len = 0u32;
    let mut lpm_len: BTreeMap<u32, u64> = BTreeMap::new();
    let mut lpm_ids = 0u32;
    let mut rows: BTreeMap<u32, u32> = BTreeMap::new();
    let mut rinfo_len = 0u32;
    let mut tables = Vec::new();
    for (ti, t) in p.tables.iter().enumerate() {
        let is_rules = matches!(t.kind, TableKind::Rules { .. });
        let words = if is_rules {
            classify::words(t.entries.len()) as u32
        } else {
            0
        };
        let mut keys = Vec::new();
        for (k, key) in t.keys.iter().enumerate() {
            let kc = &c.keys[ti][k];
            let width = key.source.width();
            let mbt = (is_rules && (MIN_MBT_WIDTH..=MAX_MBT_WIDTH).contains(&width))
                .then(|| {
                    let room = MAX_MBT_CHUNKS - mbt_len;
                    mbt_chunks(&kc.segments, width, mbt_len, room, |row| row)
                })
                .flatten()
                .map(|c| c.len() as u32);
            let classifier = if let Some(chunks) = mbt {
                let root = mbt_len;
                mbt_len += chunks;
                Classifier::Multibit {
                    root,
                    root_bits: mbt_root_bits(width),
                    chunks,
                }
            } else if width <= MAX_ARRAY_WIDTH {
                let base = cls_len;
                cls_len += 1 << width;
                Classifier::Array { base }
            } else {
                let bytes = value_bytes(width);
                let prefixes: u64 = kc
                    .segments
                    .iter()
                    .map(|s| dpuc_ir::prefix::range_to_prefixes(s.0, s.1, width).len() as u64)
                    .sum();
                // Set lookups change at run time: leave room for their growth.
                let room = if is_rules {
                    prefixes
                } else {
                    prefixes + u64::from(t.size) * u64::from(width) * 2
                };
                *lpm_len.entry(bytes).or_default() += room;
                lpm_ids += 1;
                Classifier::Lpm {
                    map: lpm_map(bytes),
                    id: lpm_ids,
                    bytes,
                }
            };
            let row_base = if is_rules {
                let r = rows.entry(words).or_default();
                let base = *r;
                *r += kc.bitmaps.len() as u32;
                base
            } else {
                0
            };
            keys.push(KeyLayout {
                source: key.source,
                width,
                classifier,
                row_base,
            });
        }
        let rinfo_base = rinfo_len;
        if is_rules {
            rinfo_len += t.entries.len() as u32;
        }
        tables.push(TableLayout {
            name: t.name.clone(),
            keys,
            words,
            bitmaps: is_rules.then(|| bitmap_map(words)),
            rinfo_base,
            entries: t.entries.len() as u32,
        });
    }
    let mut maps = vec![MapLayout {
        name: SCRATCH_MAP.into(),
        kind: MapType::PercpuArray,
        key_size: 4,
        value_size: scratch,
        max_entries: 1,
        holds: "per-packet scratch: parsed field values and evaluation state".into(),
    }];
    maps.push(MapLayout {
        name: CLS_MAP.into(),
        kind: MapType::Array,
        key_size: 4,
        value_size: 4,
        max_entries: cls_len.max(1),
        holds: "narrow keys: index base + value -> bitmap row or set class".into(),
    });
    if mbt_len > 0 {
        maps.push(MapLayout {
            name: MBT_MAP.into(),
            kind: MapType::Array,
            key_size: 4,
            value_size: MBT_CHUNK * 4,
            max_entries: mbt_len,
            holds: "keys of 9 to 64 bits of rule tables: multibit trie chunks of 256 entries, each a bitmap row or (top bit set) a child chunk".into(),
        });
    }
    for (bytes, n) in &lpm_len {
        maps.push(MapLayout {
            name: lpm_map(*bytes),
            kind: MapType::LpmTrie,
            key_size: LPM_HEADER + bytes,
            value_size: 4,
            max_entries: (*n).clamp(1, 1 << 24) as u32,
            holds: format!(
                "{}-byte keys: {{prefixlen, key id, value}} -> bitmap row or set class",
                bytes
            ),
        });
    }
    for (words, n) in &rows {
        maps.push(MapLayout {
            name: bitmap_map(*words),
            kind: MapType::Array,
            key_size: 4,
            value_size: (agg_words(*words) + words) * 8,
            max_entries: (*n).max(1),
            holds: format!(
                "entry bitmaps of rule tables with {words} words ({} aggregate words first)",
                agg_words(*words)
            ),
        });
    }
    maps.push(MapLayout {
        name: RINFO_MAP.into(),
        kind: MapType::Array,
        key_size: 4,
        value_size: 8,
        max_entries: rinfo_len.max(1),
        holds: "table entry (rinfo_base + bit) -> {rule id, action class}".into(),
    });
    let stat = |name: &str, n: usize, holds: &str| MapLayout {
        name: name.into(),
        kind: MapType::PercpuArray,
        key_size: 4,
        value_size: 16,
        max_entries: (n as u32).max(1),
        holds: holds.into(),
    };
    maps.push(stat(
        COUNTERS_MAP,
        p.counters.len(),
        "named counters: {packets, bytes} per CPU",
    ));
    maps.push(stat(
        HITS_MAP,
        p.rules.len(),
        "rule hits: {packets, bytes} per CPU",
    ));
    if !p.meters.is_empty() {
        maps.push(MapLayout {
            name: METERS_MAP.into(),
            kind: MapType::Array,
            key_size: 4,
            value_size: METER_VALUE,
            max_entries: p.meters.len() as u32,
            holds: "meters: {spin lock, initialised, committed tokens, excess/peak tokens, last ns}, tokens x 10^9"
                .into(),
        });
    }
    let keyed = super::keyed::Keyed::of(p);
    for k in &keyed {
        maps.push(MapLayout {
            name: super::keyed::map_name(k.meter),
            kind: MapType::Hash,
            key_size: k.key_size(),
            value_size: super::keyed::VALUE,
            max_entries: k.max,
            holds: format!(
                "meter {} per key: {{presence, value}} per field -> {{spin lock, initialised, committed tokens, excess/peak tokens, last ns, use tick}}, tokens x 10^9",
                k.name
            ),
        });
    }
    if !keyed.is_empty() {
        maps.push(MapLayout {
            name: super::keyed::TICK_MAP.into(),
            kind: MapType::Array,
            key_size: 4,
            value_size: 8,
            max_entries: p.meters.len() as u32,
            holds: "keyed meters' use counters, by meter id (least-recently-used order)".into(),
        });
    }
    maps.push(MapLayout {
        name: PORTS_MAP.into(),
        kind: MapType::Array,
        key_size: 4,
        value_size: 4,
        max_entries: (p.ports.len() as u32).max(1),
        holds: "port id -> ifindex (0: not attached; packets to it drop)".into(),
    });
    maps.push(MapLayout {
        name: IFPORTS_MAP.into(),
        kind: MapType::Hash,
        key_size: 4,
        value_size: 4,
        max_entries: (p.ports.len() as u32).max(1),
        holds: "ifindex -> port number (in_port)".into(),
    });
    if test_clock {
        maps.push(MapLayout {
            name: CFG_MAP.into(),
            kind: MapType::Array,
            key_size: 4,
            value_size: 16,
            max_entries: 1,
            holds: "test builds: {now ns, ingress port number, frame length (0: the run's)}".into(),
        });
        maps.push(MapLayout {
            name: TRACE_MAP.into(),
            kind: MapType::Array,
            key_size: 4,
            value_size: TRACE_VALUE,
            max_entries: 1,
            holds:
                "test builds: {verdict, port id, rule id, colour, dscp, mark} of the last packet"
                    .into(),
        });
    }
    let ct = super::conntrack::Plan::of(p);
    if let Some(plan) = &ct {
        maps.push(MapLayout {
            name: super::conntrack::CT_MAP.into(),
            kind: MapType::Hash,
            key_size: plan.key_size(),
            value_size: super::conntrack::value::SIZE,
            // The bound is checked before; 0 is a table that is always full.
            max_entries: plan.max_entries.clamp(1, u64::from(u32::MAX)) as u32,
            holds: "connections: canonical tuple + zone -> {lock, mark, last ns, expiry ns, use sequence, original orientation, tcp state, fins, replied}".into(),
        });
        maps.push(MapLayout {
            name: super::conntrack::SEQ_MAP.into(),
            kind: MapType::Array,
            key_size: 4,
            value_size: 8,
            max_entries: 1,
            holds: "the connection tracker's use counter (least-recently-used order)".into(),
        });
    }
    let log_prefixes = log_prefixes(p);
    if logs(p) || ct.is_some() {
        maps.push(MapLayout {
            name: EVENTS_MAP.into(),
            kind: MapType::RingBuf,
            key_size: 0,
            value_size: 0,
            max_entries: EVENTS_BYTES,
            holds:
                "events: {rule id, prefix index (u32::MAX: none; u32::MAX - 1: ct_full, the tracker refused a connection), frame length, ingress port}"
                    .into(),
        });
    }
    Layout {
        policy: p.name.clone(),
        maps,
        tables,
        test_clock,
        log_prefixes,
        conntrack: ct.as_ref().map(super::conntrack::layout_doc),
        keyed_meters: keyed.iter().map(super::keyed::Keyed::layout_doc).collect(),
    }
}

/// Every `log` step of `p`, arms included, in rule order.
fn log_steps(p: &Program) -> Vec<Option<String>> {
    fn walk(steps: &[dpuc_ir::Step], out: &mut Vec<Option<String>>) {
        for s in steps {
            match s {
                dpuc_ir::Step::Log { prefix, .. } => out.push(prefix.clone()),
                dpuc_ir::Step::Meter { arms, .. } => arms.iter().for_each(|a| walk(&a.steps, out)),
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    for r in &p.rules {
        walk(&r.actions.steps, &mut out);
    }
    out
}

/// Whether any rule logs.
pub fn logs(p: &Program) -> bool {
    !log_steps(p).is_empty()
}

/// The distinct `log` prefixes, in first-use order.
pub fn log_prefixes(p: &Program) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for prefix in log_steps(p).into_iter().flatten() {
        if !out.contains(&prefix) {
            out.push(prefix);
        }
    }
    out
}

/// The contents of every map that the program reads as configuration:
/// classifiers, bitmaps and rule information.
pub fn fills(p: &Program, c: &Classes, l: &Layout) -> Vec<MapWrite> {
    let mut out = Vec::new();
    for (ti, t) in p.tables.iter().enumerate() {
        out.extend(table_fills(c, l, ti));
        if matches!(t.kind, TableKind::Rules { .. }) {
            let classes = super::actions::ActionClasses::of(p, ti);
            for (bit, &e) in c.order[ti].iter().enumerate() {
                let rule = t.entries[e].rule.unwrap_or(u32::MAX);
                let action = classes.class_of(p, rule);
                let mut v = rule.to_le_bytes().to_vec();
                v.extend(action.to_le_bytes());
                out.push(MapWrite {
                    map: RINFO_MAP.into(),
                    key: (l.tables[ti].rinfo_base + bit as u32)
                        .to_le_bytes()
                        .to_vec(),
                    value: v,
                });
            }
        }
    }
    out
}

/// The classifier (and bitmap) writes of table `ti`.
pub fn table_fills(c: &Classes, l: &Layout, ti: usize) -> Vec<MapWrite> {
    let tl = &l.tables[ti];
    let mut out = Vec::new();
    for (k, kl) in tl.keys.iter().enumerate() {
        let kc = &c.keys[ti][k];
        let row = |class: u32| kl.row_base + class;
        let is_rules = tl.bitmaps.is_some();
        let value_of = |class: u32| if is_rules { row(class) } else { class };
        match &kl.classifier {
            Classifier::Array { base } => {
                for &(lo, hi, class) in &kc.segments {
                    for v in lo..=hi {
                        out.push(MapWrite {
                            map: CLS_MAP.into(),
                            key: (base + v as u32).to_le_bytes().to_vec(),
                            value: value_of(class).to_le_bytes().to_vec(),
                        });
                    }
                }
            }
            Classifier::Multibit { root, chunks, .. } => {
                // The layout was made from the same classes: same count.
                let chunks = mbt_chunks(&kc.segments, kl.width, *root, *chunks, value_of)
                    .unwrap_or_default();
                for (i, chunk) in chunks.iter().enumerate() {
                    out.push(MapWrite {
                        map: MBT_MAP.into(),
                        key: (root + i as u32).to_le_bytes().to_vec(),
                        value: chunk.iter().flat_map(|e| e.to_le_bytes()).collect(),
                    });
                }
            }
            Classifier::Lpm { map, id, bytes } => {
                for &(lo, hi, class) in &kc.segments {
                    // Set lookups only need their members; misses find nothing.
                    if !is_rules && class == 0 {
                        continue;
                    }
                    for (value, len) in dpuc_ir::prefix::range_to_prefixes(lo, hi, kl.width) {
                        out.push(MapWrite {
                            map: map.clone(),
                            key: lpm_key(*id, *bytes, kl.width, value, len),
                            value: value_of(class).to_le_bytes().to_vec(),
                        });
                    }
                }
            }
        }
        if let Some(bm) = &tl.bitmaps {
            let agg = agg_words(tl.words) as usize;
            for (class, words) in kc.bitmaps.iter().enumerate() {
                let mut value = vec![0u64; agg];
                for (i, w) in words.iter().enumerate() {
                    if agg > 0 && *w != 0 {
                        value[i / 64] |= 1 << (i % 64);
                    }
                }
                value.extend(words);
                out.push(MapWrite {
                    map: bm.clone(),
                    key: row(class as u32).to_le_bytes().to_vec(),
                    value: value.iter().flat_map(|w| w.to_le_bytes()).collect(),
                });
            }
        }
    }
    out
}

/// Bits the root of a `width`-bit multibit trie (9 to 64 bits) resolves:
/// between 9 and 16, so that 8-bit levels resolve the rest.
pub fn mbt_root_bits(width: u32) -> u32 {
    width - 8 * width.saturating_sub(16).div_ceil(8)
}

/// The chunks of the multibit trie of a key of `width` bits (at most 64)
/// whose value space is cut into `segments`, the root first, children
/// numbered from `base` (the root's first chunk) in creation order; leaves
/// hold `leaf(class)`. A leaf stands wherever one segment covers all the
/// values under an entry, so the trie has a chunk only where a segment
/// boundary falls inside an entry's span. `None` beyond `limit` chunks.
pub fn mbt_chunks(
    segments: &[(u128, u128, u32)],
    width: u32,
    base: u32,
    limit: u32,
    leaf: impl Fn(u32) -> u32,
) -> Option<Vec<Vec<u32>>> {
    let root_bits = mbt_root_bits(width);
    let roots = 1usize << (root_bits - 8);
    if roots > limit as usize {
        return None;
    }
    let mut chunks: Vec<Vec<u32>> = vec![Vec::with_capacity(MBT_CHUNK as usize); roots];
    // (chunk, first value, bits below each of its entries), in creation order.
    let mut todo: std::collections::VecDeque<(usize, u128, u32)> = (0..roots)
        .map(|c| {
            let below = width - root_bits;
            (c, (c as u128) << (below + 8), below)
        })
        .collect();
    while let Some((c, first, below)) = todo.pop_front() {
        for e in 0..u128::from(MBT_CHUNK) {
            let lo = first + (e << below);
            let hi = lo + ((1u128 << below) - 1);
            let s = segments.partition_point(|s| s.1 < lo);
            let (_, shi, class) = segments[s];
            let entry = if shi >= hi || below == 0 {
                leaf(class)
            } else {
                let child = chunks.len();
                if child as u32 >= limit {
                    return None;
                }
                chunks.push(Vec::with_capacity(MBT_CHUNK as usize));
                todo.push_back((child, lo, below - 8));
                MBT_CHILD | (base + child as u32)
            };
            chunks[c].push(entry);
        }
    }
    Some(chunks)
}

/// An LPM classifier key: `{u32 prefixlen, u32 id (big endian), value (big endian)}`.
pub fn lpm_key(id: u32, bytes: u32, width: u32, value: u128, len: u32) -> Vec<u8> {
    let mut k = (32 + len).to_le_bytes().to_vec();
    k.extend(id.to_be_bytes());
    let be = (value << (128 - width)).to_be_bytes();
    k.extend(&be[..bytes as usize]);
    k
}

/// Writes that replace the classifier entries of every lookup table of
/// `set` after its elements changed in `p` (the IR with the new entries).
pub fn set_fills(p: &Program, l: &Layout, set: u32) -> Result<Vec<MapWrite>, (String, String)> {
    let mut out = Vec::new();
    let Some(s) = p.sets.get(set as usize) else {
        return Err((format!("set {set}"), "no such set".into()));
    };
    for &t in &s.tables {
        let table = &p.tables[t as usize];
        let kc = classify::membership(table).map_err(|e| (table.name.clone(), e))?;
        let c = Classes {
            keys: p
                .tables
                .iter()
                .enumerate()
                .map(|(i, _)| {
                    if i == t as usize {
                        vec![kc.clone()]
                    } else {
                        Vec::new()
                    }
                })
                .collect(),
            order: vec![Vec::new(); p.tables.len()],
        };
        out.extend(table_fills(&c, l, t as usize));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the program does: the root entry, then one byte per level.
    fn walk(chunks: &[Vec<u32>], base: u32, width: u32, v: u128) -> u32 {
        let root_bits = mbt_root_bits(width);
        let mut below = width - root_bits;
        let mut chunk = base + (v >> (below + 8)) as u32;
        loop {
            let entry = chunks[(chunk - base) as usize][(v >> below & 0xff) as usize];
            if entry & MBT_CHILD == 0 {
                return entry;
            }
            assert!(below > 0, "a child below the last level");
            below -= 8;
            chunk = entry & !MBT_CHILD;
        }
    }

    /// Segments cut at `cuts` (sorted, distinct, first 0), class = index % 7.
    fn segments(cuts: &[u128], max: u128) -> Vec<(u128, u128, u32)> {
        cuts.iter()
            .enumerate()
            .map(|(i, &lo)| {
                let hi = cuts.get(i + 1).map_or(max, |n| n - 1);
                (lo, hi, i as u32 % 7)
            })
            .collect()
    }

    #[test]
    fn root_bits_leave_whole_bytes_below() {
        for (w, r) in [
            (9, 9),
            (16, 16),
            (17, 9),
            (20, 12),
            (24, 16),
            (32, 16),
            (48, 16),
            (64, 16),
        ] {
            assert_eq!(mbt_root_bits(w), r, "width {w}");
            assert_eq!((w - r) % 8, 0);
        }
    }

    #[test]
    fn multibit_tries_agree_with_their_segments() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for width in [9, 12, 16, 17, 20, 24, 32, 48, 64] {
            let max = if width == 64 {
                u128::from(u64::MAX)
            } else {
                (1u128 << width) - 1
            };
            for n in [0usize, 1, 5, 300] {
                let mut cuts: Vec<u128> = vec![0];
                for i in 0..n {
                    let r = u128::from(next()) & max;
                    // Some prefix-aligned cuts, as prefixes make them.
                    let cut = if i % 2 == 0 { r & !0xff & max } else { r };
                    cuts.push(cut);
                }
                cuts.sort_unstable();
                cuts.dedup();
                let segs = segments(&cuts, max);
                let base = 3;
                let chunks = mbt_chunks(&segs, width, base, u32::MAX, |c| c + 100).expect("built");
                assert!(chunks.iter().all(|c| c.len() == MBT_CHUNK as usize));
                let mut probes: Vec<u128> = vec![0, max];
                for s in &segs {
                    probes.extend([s.0, s.1, s.0.saturating_sub(1), (s.1 + 1).min(max)]);
                }
                probes.extend((0..200).map(|_| u128::from(next()) & max));
                for v in probes {
                    let s = segs.iter().find(|s| s.0 <= v && v <= s.1).expect("covered");
                    assert_eq!(
                        walk(&chunks, base, width, v),
                        s.2 + 100,
                        "width {width}, value {v:#x}"
                    );
                }
                // A limit below what the trie needs is refused, not exceeded.
                let need = chunks.len() as u32;
                assert!(mbt_chunks(&segs, width, base, need - 1, |c| c).is_none());
            }
        }
    }
}
