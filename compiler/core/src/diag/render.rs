//! Turns diagnostics into text: the human form (codespan-reporting) and the
//! JSON-lines form for CI and editors.

use super::{Diagnostic, Severity};
use crate::span::SourceMap;
use codespan_reporting::diagnostic as cs;
use codespan_reporting::files::SimpleFiles;
use codespan_reporting::term;
use serde::Serialize;

/// Renders `diags` as a human reads them, without colour.
pub fn human(sources: &SourceMap, diags: &[Diagnostic]) -> String {
    let mut files = SimpleFiles::new();
    for (_, f) in sources.iter() {
        files.add(f.name.clone(), f.text.clone());
    }
    let config = term::Config::default();
    let mut out = String::new();
    for d in diags {
        // Every span comes from `sources`, so rendering cannot fail; if it
        // did, the diagnostic would still reach JSON users.
        let _ = term::emit_to_string(&mut out, &config, &files, &to_codespan(d));
    }
    out
}

fn to_codespan(d: &Diagnostic) -> cs::Diagnostic<usize> {
    let sev = match d.severity() {
        Severity::Error => cs::Severity::Error,
        Severity::Warning => cs::Severity::Warning,
    };
    let mut labels = vec![cs::Label::primary(
        d.primary.span.file.0 as usize,
        d.primary.span.start as usize..d.primary.span.end as usize,
    )
    .with_message(d.primary.message.clone())];
    for l in &d.secondary {
        labels.push(
            cs::Label::secondary(
                l.span.file.0 as usize,
                l.span.start as usize..l.span.end as usize,
            )
            .with_message(l.message.clone()),
        );
    }
    let notes = d.help.iter().map(|h| format!("help: {h}")).collect();
    cs::Diagnostic::new(sev)
        .with_code(d.code)
        .with_message(d.message.clone())
        .with_labels(labels)
        .with_notes(notes)
}

/// One diagnostic in the JSON-lines form.
#[derive(Serialize)]
struct JsonDiag<'a> {
    file: &'a str,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
    severity: Severity,
    code: &'a str,
    message: &'a str,
    help: Option<&'a str>,
}

/// Renders `diags` as one JSON object per line.
pub fn json(sources: &SourceMap, diags: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diags {
        let span = d.primary.span;
        let (line, column) = sources.line_col(span.file, span.start);
        let (end_line, end_column) = sources.line_col(span.file, span.end);
        let obj = JsonDiag {
            file: &sources.get(span.file).name,
            line,
            column,
            end_line,
            end_column,
            severity: d.severity(),
            code: d.code,
            message: &d.message,
            help: d.help.as_deref(),
        };
        if let Ok(s) = serde_json::to_string(&obj) {
            out.push_str(&s);
            out.push('\n');
        }
    }
    out
}
