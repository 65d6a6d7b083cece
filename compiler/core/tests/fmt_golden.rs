//! Golden outputs of `dpuc fmt` on inputs with comments inside nodes and
//! over-long rules, plus the round-trip guarantees on those inputs.

mod common;

use common::{comments, shape};

use dpuc_core::fmt::format;
use dpuc_core::span::FileId;
use dpuc_core::syntax::parse;

fn fmt(text: &str) -> String {
    let p = parse(FileId(0), text);
    assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
    format(&p.module, text)
}

/// Formats `input`, checks it against `expected`, then checks idempotence
/// that the tree is unchanged, and that every comment survives in order.
fn check(input: &str, expected: &str) {
    let once = fmt(input);
    assert_eq!(once, expected, "\n--- got\n{once}");
    assert_eq!(fmt(&once), once, "not idempotent");
    assert_eq!(shape(input), shape(&once), "meaning changed");
    assert_eq!(comments(input), comments(&once));
}

#[test]
fn comments_inside_one_line_nodes_move_above_them() {
    check(
        "set big: port = { 1, 2, # one two\n  3, # three\n  4 };\n\
         policy p # after name\n{\n  rule r1: tcp.dport == 22 # a\n     and ip.src == 10.0.0.1 # b\n     => drop;\n}\n\
         test \"x\" {\n  send tcp 10.0.0.1:1 -> 10.0.0.2:22 # c\n     => drop;\n}\n",
        "# one two\n# three\nset big: port = { 1, 2, 3, 4 };\n\n\
         policy p {  # after name\n    # a\n    # b\n    rule r1: tcp.dport == 22 and ip.src == 10.0.0.1 => drop;\n}\n\n\
         test \"x\" {\n    # c\n    send tcp 10.0.0.1:1 -> 10.0.0.2:22 => drop;\n}\n",
    );
}

#[test]
fn long_rules_break_after_the_arrow_then_between_actions() {
    let pred = "tcp.dport in { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 } and ip.src in big";
    check(
        &format!(
            "policy p {{ rule long: {pred} => count c, set ip.dscp = 10, forward up;\n\
             rule longer: {pred} => count c, log \"a \\\"q\\\" \\\\ b\" sample 1/100, set ip.dscp = 10, mirror m, mirror m2, jump another_policy; }}"
        ),
        &format!(
            "policy p {{\n    rule long: {pred} =>\n        count c, set ip.dscp = 10, forward up;\n\
             \x20   rule longer: {pred} =>\n        count c,\n        log \"a \\\"q\\\" \\\\ b\" sample 1/100,\n\
             \x20       set ip.dscp = 10,\n        mirror m,\n        mirror m2,\n        jump another_policy;\n}}\n"
        ),
    );
}

#[test]
fn literals_keep_their_written_form() {
    check(
        "const a=0x2A;const b = 0b101;const r=1000-2000;const d=250ms;meter m:rate 100Mbps burst 64KB;\n\
         policy p{rule r:tcp.flags&(syn|ack)==syn and not (udp)=>meter m{yellow=>set ip.dscp=10,red=>(count,drop)};}\n",
        "const a = 0x2a;\nconst b = 0b101;\nconst r = 1000-2000;\nconst d = 250ms;\n\n\
         meter m: rate 100 Mbps burst 64 KB;\n\n\
         policy p {\n    rule r: tcp.flags & (syn|ack) == syn and not (udp) =>\n        meter m { yellow => set ip.dscp = 10, red => (count, drop) };\n}\n",
    );
}

#[test]
fn blank_lines_collapse_to_one_and_file_ends_with_one_newline() {
    check(
        "\n\n# top\n\n\n\ncounter a;\n\n\n\ncounter b;\ncounter c;   # c\n\n\n# end\n\n\n",
        "# top\n\ncounter a;\n\ncounter b;\ncounter c;  # c\n\n# end\n",
    );
}
