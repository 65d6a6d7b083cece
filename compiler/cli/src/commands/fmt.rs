//! `dpuc fmt`: rewrite files in canonical layout, or check that they are.

use crate::EXIT_USAGE;
use dpuc_core::diag::{has_errors, render};
use dpuc_core::span::SourceMap;
use std::path::PathBuf;

/// Formats each file (or only checks with `check`); returns the exit status.
pub fn run(files: &[PathBuf], check: bool) -> u8 {
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
        let file = sources.add(path.display().to_string(), text.clone());
        let parsed = dpuc_core::syntax::parse(file, &text);
        if has_errors(&parsed.diagnostics) {
            // Formatting a file that does not parse could lose text: refuse.
            eprint!("{}", render::human(&sources, &parsed.diagnostics));
            status = status.max(1);
            continue;
        }
        let formatted = dpuc_core::fmt::format(&parsed.module, &text);
        if formatted == text {
            continue;
        }
        if check {
            println!("would reformat {}", path.display());
            status = status.max(1);
        } else if let Err(e) = std::fs::write(path, formatted) {
            eprintln!("error: cannot write {}: {e}", path.display());
            status = EXIT_USAGE;
        }
    }
    status
}
