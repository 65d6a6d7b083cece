//! Literal forms, literal errors with their exact spans, recovery.

use dpuc_core::ast::{Item, ValueKind};
use dpuc_core::span::FileId;
use dpuc_core::syntax::parse;

fn const_value(src: &str) -> ValueKind {
    let p = parse(FileId(0), &format!("const x = {src};"));
    assert!(p.diagnostics.is_empty(), "{src}: {:?}", p.diagnostics);
    match &p.module.items[0] {
        Item::Const(c) => c.value.kind.clone(),
        other => panic!("{other:?}"),
    }
}

fn codes(src: &str) -> Vec<(&'static str, String)> {
    parse(FileId(0), src)
        .diagnostics
        .iter()
        .map(|d| {
            (
                d.code,
                src[d.primary.span.start as usize..d.primary.span.end as usize].to_string(),
            )
        })
        .collect()
}

#[test]
fn every_literal_form_parses() {
    assert_eq!(const_value("42"), ValueKind::Int(42, 10));
    assert_eq!(const_value("0x2a"), ValueKind::Int(42, 16));
    assert_eq!(const_value("0b101010"), ValueKind::Int(42, 2));
    assert_eq!(const_value("1_000_000"), ValueKind::Int(1_000_000, 10));
    assert_eq!(
        const_value("10.0.0.1"),
        ValueKind::Ipv4("10.0.0.1".parse().unwrap_or_else(|_| unreachable!()))
    );
    assert!(matches!(
        const_value("10.0.0.0/8"),
        ValueKind::Ipv4Prefix(_, 8)
    ));
    assert!(matches!(const_value("2001:db8::1"), ValueKind::Ipv6(_)));
    assert!(matches!(const_value("::ffff:1.2.3.4"), ValueKind::Ipv6(_)));
    assert!(matches!(
        const_value("2001:db8::/32"),
        ValueKind::Ipv6Prefix(_, 32)
    ));
    assert_eq!(
        const_value("00:11:22:33:44:55"),
        ValueKind::Mac([0, 0x11, 0x22, 0x33, 0x44, 0x55])
    );
    assert!(matches!(const_value("1024-65535"), ValueKind::Range(_, _)));
    assert!(matches!(
        const_value("10.0.0.10-10.0.0.50"),
        ValueKind::Range(_, _)
    ));
    assert!(matches!(const_value("ssh - http"), ValueKind::Range(_, _)));
    assert_eq!(
        const_value("\"a \\\"b\\\" \\\\\""),
        ValueKind::Str("a \"b\" \\".into())
    );
    assert_eq!(
        const_value("250ms"),
        ValueKind::Duration(250_000_000, "ms".into())
    );
    assert_eq!(
        const_value("2d"),
        ValueKind::Duration(172_800_000_000_000, "d".into())
    );
    assert_eq!(const_value("100 Mbps"), ValueKind::Rate(100, "Mbps".into()));
    assert_eq!(const_value("10kpps"), ValueKind::Rate(10, "kpps".into()));
    assert_eq!(const_value("64 KiB"), ValueKind::Size(64, "KiB".into()));
    assert_eq!(
        const_value("200 packets"),
        ValueKind::Size(200, "packets".into())
    );
    assert_eq!(
        const_value("echo-request"),
        ValueKind::Name("echo-request".into())
    );
    assert!(matches!(const_value("syn|ack"), ValueKind::Flags(v) if v.len() == 2));
}

#[test]
fn literal_errors_have_codes_and_exact_spans() {
    assert_eq!(
        codes("const x = 10.0.0.1/8;"),
        vec![("E0003", "10.0.0.1/8".into())]
    );
    assert_eq!(
        codes("const x = 2001:db8::1/32;"),
        vec![("E0003", "2001:db8::1/32".into())]
    );
    assert_eq!(
        codes("const x = 300.1.1.1;"),
        vec![("E0002", "300.1.1.1".into())]
    );
    assert_eq!(
        codes("const x = 1:2:3:4:5:6:7:8:9;"),
        vec![("E0002", "1:2:3:4:5:6:7:8:9".into())]
    );
    assert_eq!(
        codes("const x = 10.0.0.0/33;"),
        vec![("E0002", "10.0.0.0/33".into())]
    );
    assert_eq!(
        codes("const x = 99999999999999999999999999999999999999999;")[0].0,
        "E0002"
    );
    assert_eq!(
        codes("const x = 9000-80;"),
        vec![("E0004", "9000-80".into())]
    );
    assert_eq!(codes("const x = \"a\\q\";")[0].0, "E0002");
    let help = parse(FileId(0), "const x = 10.0.0.1/8;").diagnostics[0]
        .help
        .clone();
    assert_eq!(help.as_deref(), Some("did you mean `10.0.0.0/8`?"));
}

#[test]
fn syntax_errors_say_what_was_expected_and_every_item_is_reported() {
    let src = "policy p {\n    rule a: tcp.dport == 22 => drop\n}\nport x = ;\ncounter ok;\n";
    let p = parse(FileId(0), src);
    let found: Vec<_> = p
        .diagnostics
        .iter()
        .map(|d| (d.code, d.message.clone()))
        .collect();
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found.iter().all(|(c, _)| *c == "E0001"));
    assert!(found[0].1.contains("`;`"), "{found:?}");
    assert!(found[1].1.contains("value"), "{found:?}");
    // The good item after the broken ones is still in the module.
    assert!(p.module.items.iter().any(|i| matches!(i, Item::Counter(_))));
}

#[test]
fn comments_are_collected_but_not_inside_strings() {
    let p = parse(FileId(0), "# one\ntest \"a # not a comment\" { } # two\n");
    let texts: Vec<&str> = p.module.comments.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(texts, vec!["# one", "# two"]);
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let src = format!(
        "policy p {{ rule r: {}tcp{} => drop; default drop; }}",
        "(".repeat(5000),
        ")".repeat(5000)
    );
    let p = parse(FileId(0), &src);
    assert_eq!(p.diagnostics[0].code, "E0001");
}

#[test]
fn a_keyword_used_as_a_name_is_named() {
    let src = "policy p {\n    rule after: tcp => drop;\n    default drop;\n}\n";
    let d = &parse(FileId(0), src).diagnostics[0];
    assert_eq!(d.code, "E0001");
    assert_eq!(
        &src[d.primary.span.start as usize..d.primary.span.end as usize],
        "after"
    );
    assert!(d.message.contains("keyword"), "{}", d.message);
}
