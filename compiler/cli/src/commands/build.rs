//! `dpuc build`: compile a policy for a target and write its artifacts.

use crate::compile::compile;
use crate::{Target, EXIT_USAGE};
use std::path::Path;

/// Builds `file` for `target` into `out`; returns the exit status.
pub fn run(file: &Path, target: Target, out: &Path, report: bool) -> u8 {
    let (_, lowered) = match compile(file) {
        Ok(c) => c,
        Err(status) => return status,
    };
    let program = &lowered.program;
    let mut files: Vec<(String, String)> = Vec::new();
    match target {
        Target::Sw => match serde_json::to_string_pretty(program) {
            Ok(json) => files.push((format!("{}.ir.json", program.name), json + "\n")),
            Err(e) => {
                eprintln!("error: cannot serialize the IR: {e}");
                return 1;
            }
        },
    }
    let text = dpuc_core::lower::report(program, target.name());
    files.push((format!("{}.report.txt", program.name), text.clone()));
    if report {
        print!("{text}");
    }
    if let Err(e) = std::fs::create_dir_all(out) {
        eprintln!("error: cannot create {}: {e}", out.display());
        return EXIT_USAGE;
    }
    for (name, contents) in files {
        let path = out.join(&name);
        if let Err(e) = std::fs::write(&path, contents) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return EXIT_USAGE;
        }
        eprintln!("wrote {}", path.display());
    }
    0
}
