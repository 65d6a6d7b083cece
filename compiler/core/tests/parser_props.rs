//! The parser never panics, and every span stays inside the text.

use dpuc_core::span::FileId;
use dpuc_core::syntax::parse;
use proptest::prelude::*;

const TOKENS: &[&str] = &[
    "policy",
    "p",
    "{",
    "}",
    "rule",
    "r",
    ":",
    "=>",
    "accept",
    "drop",
    ";",
    "tcp.dport",
    "==",
    "!=",
    "22",
    "10.0.0.0/8",
    "10.0.0.1/8",
    "::1",
    "2001:db8::/32",
    "not",
    "and",
    "or",
    "(",
    ")",
    "in",
    "set",
    "s",
    "=",
    "ip",
    ",",
    "meter",
    "m",
    "rate",
    "1",
    "pps",
    "burst",
    "packets",
    "send",
    "tcp",
    "1.2.3.4:5",
    "->",
    "[",
    "]",
    "\"x\"",
    "# c\n",
    "-",
    "0x1f",
    "vxlan",
    "default",
    "test",
    "pipeline",
    "via",
    "use",
    "std::nets",
    "::",
    "*",
    "conntrack",
    "timeout",
    "30s",
    "|",
    "&",
    "has",
    "syn",
    "é",
    "\u{0}",
    "\n",
];

fn check(text: &str) {
    let p = parse(FileId(0), text);
    for d in &p.diagnostics {
        assert!(d.primary.span.start <= d.primary.span.end);
        assert!(d.primary.span.end as usize <= text.len());
    }
    for c in &p.module.comments {
        assert!(c.span.end as usize <= text.len());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        check(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn random_token_sequences_never_panic(idx in proptest::collection::vec(0..TOKENS.len(), 0..60), sep in proptest::collection::vec(any::<bool>(), 60)) {
        let mut s = String::new();
        for (i, t) in idx.iter().enumerate() {
            s.push_str(TOKENS[*t]);
            if sep[i] {
                s.push(' ');
            }
        }
        check(&s);
    }
}
