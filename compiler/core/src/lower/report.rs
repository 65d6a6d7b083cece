//! The capacity report of §9: each table with its match kinds, entries and
//! the target's capacity.

use dpuc_ir::{Program, TableKind};
use std::fmt::Write;

/// The report for `program` built for `target`.
pub fn report(program: &Program, target: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "dpuc build report: {} for target {target}", program.name);
    let _ = writeln!(
        s,
        "{:<40} {:<12} {:<28} {:>8} {:>10}",
        "table", "kind", "keys", "entries", "capacity"
    );
    for t in &program.tables {
        let kind = match t.kind {
            TableKind::SetLookup { .. } => "set lookup",
            TableKind::Rules { .. } => "rules",
        };
        let keys: Vec<String> = t
            .keys
            .iter()
            .map(|k| format!("{:?}", k.kind).to_lowercase())
            .collect();
        let _ = writeln!(
            s,
            "{:<40} {:<12} {:<28} {:>8} {:>10}",
            t.name,
            kind,
            keys.join(", "),
            t.entries.len(),
            t.size
        );
    }
    let _ = writeln!(
        s,
        "rules: {}, counters: {}, meters: {}, conntrack: {}",
        program.rules.len(),
        program.counters.len(),
        program.meters.len(),
        if program.conntrack.is_some() {
            "yes"
        } else {
            "no"
        }
    );
    let _ = writeln!(
        s,
        "emulated: nothing; unsupported: nothing (the software pipeline runs the IR as is)"
    );
    s
}
