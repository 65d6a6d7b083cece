//! Structural checks of emitted P4 that need no P4 compiler: what the
//! backends promise about their own output, checked by the test suite on
//! every conformance file. `p4c` remains the judge of validity; these catch
//! a broken emitter early and name the line.

use crate::is_legal_ident;
use std::collections::BTreeMap;

/// What is wrong with `p4`, one message per problem (empty when fine):
/// unbalanced brackets outside comments; a declared control, struct,
/// header, table or action whose name is not a legal identifier or is
/// declared twice; a table not applied exactly once; an action no table or
/// statement references; no package instantiation at the end.
pub fn problems(p4: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = [0i64; 3];
    let mut declared: BTreeMap<(&str, String), usize> = BTreeMap::new();
    for (n, line) in p4.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        for c in code.chars() {
            let (i, step) = match c {
                '{' => (0, 1),
                '}' => (0, -1),
                '(' => (1, 1),
                ')' => (1, -1),
                '[' => (2, 1),
                ']' => (2, -1),
                _ => continue,
            };
            depth[i] += step;
            if depth[i] < 0 {
                out.push(format!("line {}: unbalanced `{c}`", n + 1));
                depth[i] = 0;
            }
        }
        if let Some((kind, name)) = declaration(code) {
            if !is_legal_ident(&name) {
                out.push(format!("line {}: illegal {kind} name `{name}`", n + 1));
            }
            *declared.entry((kind, name)).or_insert(0) += 1;
        }
    }
    if depth != [0, 0, 0] {
        out.push(format!(
            "unclosed brackets at the end: {depth:?} ({{, (, [)"
        ));
    }
    for ((kind, name), count) in &declared {
        if *count > 1 {
            out.push(format!("{kind} `{name}` declared {count} times"));
        }
        match *kind {
            "table" => {
                let applies = p4.matches(&format!("{name}.apply()")).count();
                if applies != 1 {
                    out.push(format!("table `{name}` applied {applies} times"));
                }
            }
            "action" if words(p4).filter(|w| w == name).count() < 2 => {
                out.push(format!("action `{name}` is never referenced"));
            }
            _ => {}
        }
    }
    if !p4.trim_end().ends_with(") main;") {
        out.push("no package instantiation `... main;` at the end".into());
    }
    out
}

/// Table and action ids that the P4Runtime `entries` use but the `p4info`
/// does not declare, one message each (empty when consistent).
pub fn unknown_ids(p4info: &str, entries: &str) -> Vec<String> {
    let declared = numbers_after(p4info, "id:");
    ["\"tableId\":", "\"actionId\":"]
        .into_iter()
        .flat_map(|key| {
            numbers_after(entries, key)
                .into_iter()
                .map(move |id| (key, id))
        })
        .filter(|(_, id)| !declared.contains(id))
        .map(|(key, id)| format!("entries use {key} {id}, which the P4Info lacks"))
        .collect()
}

/// Every number following `key` in `text` (`"tableId": 7`, `id: 7`).
fn numbers_after(text: &str, key: &str) -> std::collections::BTreeSet<u64> {
    text.match_indices(key)
        .filter_map(|(i, _)| {
            let digits: String = text[i + key.len()..]
                .trim_start()
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        })
        .collect()
}

/// The kind and name a line declares, after any `@annotation(...)`s.
fn declaration(code: &str) -> Option<(&'static str, String)> {
    let mut t = code.trim_start();
    while let Some(rest) = t.strip_prefix('@') {
        // Skip the annotation's name and its parenthesised argument, if any.
        let after_name = rest.trim_start_matches(|c: char| c.is_ascii_alphanumeric() || c == '_');
        t = match after_name.strip_prefix('(') {
            Some(args) => args.split_once(')').map_or("", |(_, r)| r),
            None => after_name,
        }
        .trim_start();
    }
    ["control", "struct", "header", "table", "action"]
        .into_iter()
        .find_map(|kind| {
            let rest = t.strip_prefix(kind)?.strip_prefix(' ')?;
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            (!name.is_empty()).then_some((kind, name))
        })
}

fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
}

#[cfg(test)]
mod tests {
    use super::problems;

    const GOOD: &str = "control c() {\n    action a() { }\n    @name(\"t\") table t {\n        actions = { a; }\n    }\n    apply { t.apply(); }\n}\nP(c()) main;\n";

    #[test]
    fn well_formed_output_has_no_problems() {
        assert_eq!(problems(GOOD), Vec::<String>::new());
    }

    #[test]
    fn entry_ids_must_be_declared() {
        let info = "tables {\n  preamble {\n    id: 7\n  }\n}\nactions {\n  preamble {\n    id: 9\n  }\n}\n";
        let good = r#"{"tableId": 7, "action": {"action": {"actionId": 9}}}"#;
        assert!(super::unknown_ids(info, good).is_empty());
        let bad = good.replace("9}", "8}");
        assert_eq!(
            super::unknown_ids(info, &bad),
            ["entries use \"actionId\": 8, which the P4Info lacks"]
        );
    }

    #[test]
    fn each_broken_promise_is_named() {
        let unapplied = GOOD.replace("t.apply();", "");
        assert_eq!(problems(&unapplied), ["table `t` applied 0 times"]);
        let unused = GOOD.replace("a; }", "}");
        assert_eq!(problems(&unused), ["action `a` is never referenced"]);
        let keyword = GOOD.replace("action a()", "action apply()");
        assert!(problems(&keyword)[0].contains("illegal action name `apply`"));
        let open = GOOD.replace("apply { t.apply(); }", "apply { t.apply();");
        assert!(problems(&open)[0].starts_with("unclosed brackets"));
        let twice = GOOD.replace("    apply", "    action a() { }\n    apply");
        assert_eq!(problems(&twice), ["action `a` declared 2 times"]);
    }
}
