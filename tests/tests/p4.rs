//! The P4 targets on the whole conformance corpus and the examples: every
//! file either builds, passes the structural checks, keeps its P4Runtime
//! ids consistent and matches its golden snapshot (P4, P4Info and entries),
//! or is refused with a diagnostic placed on a rule or declaration.

use dpuc_core::lower::Lowered;
use dpuc_ir::Subject;
use dpuc_p4::{bluefield, lint, pna, Artifact};
use dpuc_tests::{files_with_ext, lower_file, repo_root};
use std::path::PathBuf;

fn corpus() -> Vec<PathBuf> {
    let root = repo_root();
    let mut files = files_with_ext(&root.join("tests/conformance"), ".dpl");
    files.extend(files_with_ext(&root.join("examples"), ".dpl"));
    files
}

fn stem(path: &std::path::Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().replace('-', "_"))
        .unwrap_or_default()
}

/// Problems with one artifact: structure, package, and entries whose table
/// or action ids the P4Info does not declare.
fn artifact_problems(a: &Artifact, package: &str) -> Vec<String> {
    let mut out = lint::problems(&a.p4);
    if !a.p4.contains(package) {
        out.push(format!("no `{package}`"));
    }
    out.extend(lint::unknown_ids(&a.p4info, &a.entries));
    out
}

/// Builds `lowered` for one P4 target; `Err` carries the refusal as the
/// diagnostic a user sees, after checking it is placed on the program.
fn build(target: &str, lowered: &Lowered) -> Result<Artifact, String> {
    let valid = dpuc_ir::validate(&lowered.program).expect("lowering validates");
    let refusal = match target {
        "p4-pna" => pna::emit(&valid, &pna::Options::default()).map_err(|e| e.refusal()),
        "p4-pna-dpdk" => pna::emit(
            &valid,
            &pna::Options {
                flavor: pna::Flavor::Dpdk,
                ..Default::default()
            },
        )
        .map_err(|e| e.refusal()),
        _ => bluefield::emit(&valid, &bluefield::Options::default()).map_err(|e| e.refusal()),
    };
    refusal.map_err(|r| {
        assert_ne!(
            r.subject,
            Subject::Program,
            "{target}: a refusal that names no rule or declaration: {}",
            r.message
        );
        let d = dpuc_core::diag::refusal(&lowered.origins, &r);
        format!("{}: {}\n  {}", d.code, d.message, d.primary.message)
    })
}

#[test]
fn every_file_builds_and_matches_its_snapshot_or_is_refused_by_rule() {
    let mut built = 0;
    let mut problems = Vec::new();
    for path in corpus() {
        let (_, lowered) = lower_file(&path).unwrap_or_else(|e| panic!("{e}"));
        let name = stem(&path);
        for (target, package) in [
            ("p4-pna", "PNA_NIC(main_parser()"),
            ("p4-pna-dpdk", "PNA_NIC(main_parser()"),
            ("bluefield", "NvDocaPipeline(nv_fixed_parser()"),
        ] {
            let text = match build(target, &lowered) {
                Ok(a) => {
                    built += 1;
                    for p in artifact_problems(&a, package) {
                        problems.push(format!("{name} [{target}]: {p}"));
                    }
                    format!(
                        "// {name}.p4\n{}\n// {name}.p4info.txtpb\n{}\n// {name}.entries.json\n{}",
                        a.p4, a.p4info, a.entries
                    )
                }
                Err(refused) => format!("refused\n{refused}\n"),
            };
            // The dpdk flavor differs from the reference one only where
            // p4c-dpdk needs its own spellings; its snapshot is the full text too.
            insta::assert_snapshot!(format!("{name}@{target}"), text);
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // Guards against the backends quietly refusing everything.
    assert!(built >= 42, "only {built} P4 builds succeeded");
}

#[test]
fn output_is_deterministic() {
    let path = repo_root().join("examples/tour/02-sets.dpl");
    let (_, lowered) = lower_file(&path).unwrap_or_else(|e| panic!("{e}"));
    for target in ["p4-pna", "bluefield"] {
        let a = build(target, &lowered).map(|a| a.p4 + &a.p4info + &a.entries);
        let b = build(target, &lowered).map(|a| a.p4 + &a.p4info + &a.entries);
        assert_eq!(a, b, "{target}");
    }
}

/// Per P4Info table (alias): `is_const_table`, and whether its
/// `initial_default_action` names the `const_default_action_id`.
fn p4info_tables(p4info: &str) -> Vec<(String, bool, bool)> {
    p4info
        .split("tables {")
        .skip(1)
        .map(|t| {
            let field = |key: &str| {
                t.lines()
                    .find_map(|l| l.trim().strip_prefix(key).map(str::to_string))
                    .unwrap_or_default()
            };
            let alias = field("alias: ").trim_matches('"').to_string();
            let initial = t
                .split("initial_default_action {")
                .nth(1)
                .and_then(|r| r.lines().find_map(|l| l.trim().strip_prefix("action_id: ")))
                .unwrap_or("none")
                .to_string();
            (
                alias,
                field("is_const_table: ") == "true",
                initial == field("const_default_action_id: "),
            )
        })
        .collect()
}

#[test]
fn p4info_marks_const_exactly_the_tables_with_const_entries() {
    let mut checked = 0;
    for path in corpus() {
        let (_, lowered) = lower_file(&path).unwrap_or_else(|e| panic!("{e}"));
        let valid = dpuc_ir::validate(&lowered.program).expect("lowering validates");
        for const_entries in [false, true] {
            let options = pna::Options {
                const_entries,
                ..Default::default()
            };
            let Ok(a) = pna::emit(&valid, &options) else {
                continue;
            };
            // `table NAME {` ... up to its `const entries` (or the next table).
            let with_const: Vec<&str> =
                a.p4.split("    table ")
                    .skip(1)
                    .filter(|t| {
                        t.split("\n    }")
                            .next()
                            .unwrap_or("")
                            .contains("const entries")
                    })
                    .filter_map(|t| t.split_whitespace().next())
                    .collect();
            for (alias, is_const, initial_ok) in p4info_tables(&a.p4info) {
                let name = stem(&path);
                assert!(initial_ok, "{name}: {alias}: initial_default_action");
                assert_eq!(
                    is_const,
                    with_const.contains(&alias.as_str()),
                    "{name} (const entries {const_entries}): {alias}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 100, "only {checked} tables checked");
}

/// The fenced blocks of `lang` in `text`, in order.
fn fenced<'a>(text: &'a str, lang: &str) -> Vec<&'a str> {
    let open = format!("```{lang}\n");
    text.split(open.as_str())
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .collect()
}

#[test]
fn the_book_example_is_what_the_compiler_emits() {
    let book = std::fs::read_to_string(repo_root().join("book/src/p4.md")).expect("read p4.md");
    let example = book
        .split("## Example")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("an Example section");
    let source = fenced(example, "dpl");
    let lowered = dpuc_tests::lower_text("example", source[0]).unwrap_or_else(|e| panic!("{e}"));
    let pna = build("p4-pna", &lowered).expect("p4-pna builds the example");
    let bf = build("bluefield", &lowered).expect("bluefield builds the example");
    let p4 = fenced(example, "p4");
    assert_eq!(p4.len(), 3);
    for block in p4 {
        assert!(
            pna.p4.contains(block) || bf.p4.contains(block),
            "not in the output:\n{block}"
        );
    }
    for block in fenced(example, "json") {
        assert!(
            pna.entries.contains(block.trim_end()),
            "not in the entries:\n{block}"
        );
    }
}

/// The P4 parser walks as many IPv6 extension headers as the software
/// pipeline, so a ninth one is malformed on both.
#[test]
fn the_parser_walks_as_many_ipv6_extension_headers_as_sw() {
    let path = repo_root().join("tests/conformance/ipv6.dpl");
    let (_, lowered) = lower_file(&path).unwrap_or_else(|e| panic!("{e}"));
    let a = build("p4-pna", &lowered).expect("ipv6.dpl builds for p4-pna");
    let n = dpuc_runtime::packet::MAX_EXT_HEADERS;
    for p in ["", "inner_"] {
        assert!(a
            .p4
            .contains(&format!("state parse_{p}ipv6_ext{} {{", n - 1)));
        assert!(!a.p4.contains(&format!("state parse_{p}ipv6_ext{n} {{")));
        assert!(a.p4.contains(&format!("state {p}ipv6_too_many {{")));
    }
}
