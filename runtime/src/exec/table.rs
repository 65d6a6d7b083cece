//! Table lookup: the highest-priority entry whose every match holds.

use super::values::FieldValues;
use dpuc_ir::{Entry, KeySource, Table};

/// A table ready for lookups: entries sorted by descending priority.
#[derive(Clone, Debug)]
pub struct LoadedTable {
    keys: Vec<(KeySource, u32)>,
    entries: Vec<Entry>,
}

impl LoadedTable {
    /// Prepares `t` for lookups.
    pub fn new(t: &Table) -> Self {
        LoadedTable {
            keys: t
                .keys
                .iter()
                .map(|k| (k.source, k.source.width()))
                .collect(),
            entries: by_priority(t.entries.clone()),
        }
    }

    /// Replaces the entries (a set update).
    pub fn replace_entries(&mut self, entries: Vec<Entry>) {
        self.entries = by_priority(entries);
    }

    /// The winning entry, if any.
    pub fn lookup(&self, values: &FieldValues, hits: &[bool]) -> Option<&Entry> {
        let key_values: Vec<u128> = self
            .keys
            .iter()
            .map(|(k, _)| match *k {
                KeySource::Field(f) => values.get(f),
                KeySource::Hit(h) => u128::from(hits.get(h as usize).copied().unwrap_or(false)),
            })
            .collect();
        self.entries.iter().find(|e| {
            e.matches
                .iter()
                .zip(&key_values)
                .zip(&self.keys)
                .all(|((m, v), (_, w))| m.matches(*v, *w))
        })
    }
}

/// Highest priority first, so the first match wins.
fn by_priority(mut entries: Vec<Entry>) -> Vec<Entry> {
    entries.sort_by_key(|e| std::cmp::Reverse(e.priority));
    entries
}
