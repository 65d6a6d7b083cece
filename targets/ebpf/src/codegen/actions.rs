//! Action classes: the rules of a table grouped by what they do, so the
//! generated code has one block per distinct behaviour rather than one per
//! rule. A jumping rule is a class of its own (its callee is per rule).

use dpuc_ir::{End, Program, RuleId, TableKind};
use std::collections::BTreeMap;

/// The action classes of one rule table.
pub struct ActionClasses {
    /// One representative rule per class, in order of first appearance.
    pub reps: Vec<RuleId>,
    index: BTreeMap<String, u32>,
}

fn class_key(p: &Program, rule: RuleId) -> String {
    let Some(r) = p.rules.get(rule as usize) else {
        return String::new();
    };
    let actions = serde_json::to_string(&r.actions).unwrap_or_default();
    match r.actions.end {
        End::Jump(_) => format!("{actions}#{rule}"),
        _ => actions,
    }
}

impl ActionClasses {
    /// Groups the rules of table `table`'s entries (entry order).
    pub fn of(p: &Program, table: usize) -> ActionClasses {
        let mut c = ActionClasses {
            reps: Vec::new(),
            index: BTreeMap::new(),
        };
        let Some(t) = p.tables.get(table) else {
            return c;
        };
        if !matches!(t.kind, TableKind::Rules { .. }) {
            return c;
        }
        for e in &t.entries {
            let Some(rule) = e.rule else { continue };
            let key = class_key(p, rule);
            if !c.index.contains_key(&key) {
                c.index.insert(key, c.reps.len() as u32);
                c.reps.push(rule);
            }
        }
        c
    }

    /// The class of `rule` (0 for a rule not in the table).
    pub fn class_of(&self, p: &Program, rule: RuleId) -> u32 {
        self.index.get(&class_key(p, rule)).copied().unwrap_or(0)
    }
}
