//! `dpuc check`: parse and check files, print every diagnostic.

use crate::loader::FsLoader;
use crate::Format;
use dpuc_core::diag::{has_errors, render, Diagnostic, Severity};
use dpuc_core::span::SourceMap;
use std::path::PathBuf;

/// Checks each file; returns the process exit status.
pub fn run(files: &[PathBuf], format: Format) -> u8 {
    let mut status = 0;
    for path in files {
        let text = match crate::compile::read(path) {
            Ok(t) => t,
            Err(s) => {
                status = s;
                continue;
            }
        };
        let mut sources = SourceMap::new();
        let root = sources.add(path.display().to_string(), text);
        let checked = dpuc_core::check::check(&mut sources, root, &mut FsLoader);
        let out = match format {
            Format::Human => render::human(&sources, &checked.diagnostics),
            Format::Json => render::json(&sources, &checked.diagnostics),
        };
        print!("{out}");
        if let Format::Human = format {
            eprintln!("{}: {}", path.display(), summary(&checked.diagnostics));
        }
        if has_errors(&checked.diagnostics) && status == 0 {
            status = 1;
        }
    }
    status
}

/// `2 errors, 1 warning` or `ok`.
fn summary(diags: &[Diagnostic]) -> String {
    let errors = diags
        .iter()
        .filter(|d| d.severity() == Severity::Error)
        .count();
    let warnings = diags.len() - errors;
    if diags.is_empty() {
        return "ok".to_string();
    }
    let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    format!(
        "{}, {}",
        plural(errors, "error"),
        plural(warnings, "warning")
    )
}
