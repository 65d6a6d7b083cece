//! `dpuc fmt` is idempotent, keeps every comment, and preserves meaning
//! (the same syntax tree modulo spans) on every example and the stdlib.

mod common;

use common::{comments, shape};

use dpuc_core::fmt::format;
use dpuc_core::span::FileId;
use dpuc_core::syntax::parse;
use std::path::PathBuf;

fn corpus() -> Vec<(String, String)> {
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let mut files = Vec::new();
    for dir in [
        "examples",
        "examples/tour",
        "stdlib/std",
        "tests/diagnostics",
    ] {
        let Ok(rd) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "dpl"))
            .collect();
        paths.sort();
        for p in paths {
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            // Inputs that are meant not to parse cannot be formatted.
            if !parse(FileId(0), &text).diagnostics.is_empty() {
                continue;
            }
            files.push((p.display().to_string(), text));
        }
    }
    files.push(("messy".into(), MESSY.into()));
    files
}

const MESSY: &str = "# header comment\n\nport   a=0 ;port b = 1; # trailing\nset s : ip={10.0.0.0/8,2001:db8::/32,};\n\n\n\npolicy p{\n  # about r1\n  rule r1 : ( tcp.dport==22 or udp.dport in {53, 5353} ) and not ip.src in s=>count , drop ;\n rule r2: tcp.flags & (syn|ack) == syn => meter m { yellow => ( set ip.dscp = af11, count ), red=>drop, } , accept; # after r2\n  # before default\n default accept;\n  # end of block\n}\nmeter m: srtcm cir 1 Mbps cbs 10KB ebs 20KB;\npipeline{a->b via p;b->a;}\ntest \"t\" { send tcp [2001:db8::1]:1 -> [2001:db8::2]:2 [syn,ack] vlan 3 on a at 1s => accept by p.r2 color green with dscp 10; after 5m; expect counter c == 2 bytes; }\n# trailing file comment\n";

#[test]
fn formatting_is_idempotent_and_preserves_meaning_and_comments() {
    for (name, text) in corpus() {
        let once = format(&parse(FileId(0), &text).module, &text);
        let twice = format(&parse(FileId(0), &once).module, &once);
        assert_eq!(
            once, twice,
            "{name}: not idempotent\n--- once\n{once}\n--- twice\n{twice}"
        );
        assert_eq!(
            shape(&text),
            shape(&once),
            "{name}: meaning changed\n{once}"
        );
        assert_eq!(
            comments(&text),
            comments(&once),
            "{name}: comments changed\n{once}"
        );
        assert!(once.ends_with('\n') && !once.ends_with("\n\n"), "{name}");
    }
}

#[test]
fn messy_input_gets_the_canonical_layout() {
    let out = format(&parse(FileId(0), MESSY).module, MESSY);
    let expected_start = "# header comment\n\nport a = 0;\nport b = 1;  # trailing\n\nset s: ip = { 10.0.0.0/8, 2001:db8::/32 };\n\npolicy p {\n    # about r1\n    rule r1: (tcp.dport == 22 or udp.dport in { 53, 5353 }) and not ip.src in s => count, drop;\n";
    assert!(out.starts_with(expected_start), "{out}");
    assert!(
        out.contains("        # end of block\n") || out.contains("    # end of block\n}"),
        "{out}"
    );
    assert!(out.ends_with("# trailing file comment\n"), "{out}");
}
