//! A backend's refusal, put on the source: the code says what kind of "no"
//! it is, the primary label sits on the rule or declaration it is about.

use super::Diagnostic;
use crate::lower::Origins;
use crate::span::{FileId, Span};
use dpuc_ir::{Refusal, RefusalKind, Subject};

/// The diagnostic for `r`, placed with `origins` (from the same lowering as
/// the program the backend refused).
pub fn refusal(origins: &Origins, r: &Refusal) -> Diagnostic {
    let (what, span) = match &r.subject {
        Subject::Rule(q) => (format!("rule `{q}`"), origins.rule(q)),
        Subject::Default(p) => (
            format!("the default of policy `{p}`"),
            origins.item(p).map(|(_, span)| span),
        ),
        Subject::Item(name) => match origins.item(name) {
            Some((kind, span)) => (format!("{kind} `{name}`"), Some(span)),
            None => (format!("`{name}`"), None),
        },
        Subject::Table(name) => (format!("table `{name}`"), origins.table(name)),
        Subject::Conntrack => ("connection tracking".to_string(), origins.conntrack()),
        Subject::Program => ("this program".to_string(), None),
    };
    let span = span
        .or_else(|| origins.first())
        .unwrap_or(Span::new(FileId(0), 0, 0));
    let (code, message, help) = match r.kind {
        RefusalKind::Unsupported => (
            "E0200",
            format!("target {} cannot express {what}", r.target),
            "the target refuses rather than change the meaning; the sw target runs it, or rewrite the rule",
        ),
        RefusalKind::Capacity => (
            "E0201",
            format!("{what} does not fit target {}", r.target),
            "use a target profile with larger tables, or split the policy",
        ),
        RefusalKind::Internal => (
            "E0202",
            format!("target {} failed on {what}", r.target),
            "this is a compiler bug; please report the policy",
        ),
    };
    Diagnostic::new(code, span, message)
        .label(r.message.clone())
        .help(r.help.clone().unwrap_or_else(|| help.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::check;
    use crate::span::SourceMap;

    fn lowered(text: &str) -> crate::lower::Lowered {
        struct NoFiles;
        impl crate::Loader for NoFiles {
            fn load(&mut self, _: &str, p: &str) -> Result<(String, String), String> {
                Err(format!("no file {p}"))
            }
        }
        let mut sources = SourceMap::new();
        let root = sources.add("t.dpl", text.to_string());
        let checked = check(&mut sources, root, &mut NoFiles);
        let program = checked.program.expect("checks");
        crate::lower::lower(&program, &sources, "t").expect("lowers")
    }

    const POLICY: &str =
        "meter m: rate 10 pps burst 10 packets;\npolicy p {\n    rule ssh: tcp.dport == 22 => meter m, accept;\n    default drop;\n}\n";

    fn slice(span: Span) -> &'static str {
        &POLICY[span.start as usize..span.end as usize]
    }

    #[test]
    fn each_subject_is_placed_on_its_declaration() {
        let l = lowered(POLICY);
        let on = |subject| {
            let r = Refusal::unsupported("ebpf", subject, "nope");
            refusal(&l.origins, &r)
        };
        let d = on(Subject::Rule("p.ssh".into()));
        assert_eq!((d.code, slice(d.primary.span)), ("E0200", "ssh"));
        assert_eq!(d.message, "target ebpf cannot express rule `p.ssh`");
        assert_eq!(d.primary.message, "nope");
        assert_eq!(slice(on(Subject::Item("m".into())).primary.span), "m");
        let table = l.program.tables[0].name.clone();
        assert!(slice(on(Subject::Table(table)).primary.span).starts_with("policy p"));
        // Unknown names fall back to the first policy rather than nowhere.
        let d = on(Subject::Rule("p.gone".into()));
        assert!(slice(d.primary.span).starts_with("policy p"));
    }

    #[test]
    fn the_kind_chooses_the_code_and_a_given_help_wins() {
        let l = lowered(POLICY);
        let r = Refusal::unsupported("doca", Subject::Program, "bug")
            .kind(RefusalKind::Internal)
            .help(Some("report it".into()));
        let d = refusal(&l.origins, &r);
        assert_eq!(d.code, "E0202");
        assert_eq!(d.help.as_deref(), Some("report it"));
        let d = refusal(&l.origins, &r.clone().kind(RefusalKind::Capacity));
        assert_eq!(d.code, "E0201");
    }
}
