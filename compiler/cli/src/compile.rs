//! The shared front half of `build`, `test` and `run`: read, check, lower.

use crate::loader::FsLoader;
use crate::Target;
use dpuc_core::diag::{has_errors, render, Diagnostic};
use dpuc_core::lower::Lowered;
use dpuc_core::span::SourceMap;
use dpuc_ir::Refusal;
use std::path::Path;

/// Reads, checks and lowers `path`, printing diagnostics to stderr; returns
/// the sources (for rendering later reports) and the lowered program. On
/// failure returns the exit status.
pub fn compile(path: &Path) -> Result<(SourceMap, Lowered), u8> {
    let text = read(path)?;
    let mut sources = SourceMap::new();
    let root = sources.add(path.display().to_string(), text);
    let checked = dpuc_core::check::check(&mut sources, root, &mut FsLoader);
    print_diags(&sources, &checked.diagnostics);
    let program = match checked.program {
        Some(p) if !has_errors(&checked.diagnostics) => p,
        _ => return Err(1),
    };
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "policy".into());
    match dpuc_core::lower::lower(&program, &sources, &name) {
        Ok(lowered) => Ok((sources, lowered)),
        Err(diags) => {
            print_diags(&sources, &diags);
            Err(1)
        }
    }
}

/// Prints a backend's refusal as a diagnostic on the rule or declaration
/// it is about; returns the exit status of a failed build.
pub fn refuse(sources: &SourceMap, lowered: &Lowered, target: Target, r: Refusal) -> u8 {
    print_diags(sources, &[refusal(lowered, target, r)]);
    1
}

/// The diagnostic for a refusal by `target`.
pub fn refusal(lowered: &Lowered, target: Target, r: Refusal) -> Diagnostic {
    // The backend knows its family (`p4-pna`); the user chose the target.
    let r = Refusal {
        target: target.name().to_string(),
        ..r
    };
    dpuc_core::diag::refusal(&lowered.origins, &r)
}

fn print_diags(sources: &SourceMap, diags: &[Diagnostic]) {
    if !diags.is_empty() {
        eprint!("{}", render::human(sources, diags));
    }
}

/// The text of `path`, or (after saying why) the exit status for I/O failure.
pub fn read(path: &Path) -> Result<String, u8> {
    std::fs::read_to_string(path).map_err(|e| {
        eprintln!("error: cannot read {}: {e}", path.display());
        crate::EXIT_USAGE
    })
}
