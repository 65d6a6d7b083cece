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
    let report_text = match target {
        Target::Sw => match serde_json::to_string_pretty(program) {
            Ok(json) => {
                files.push((format!("{}.ir.json", program.name), json + "\n"));
                dpuc_core::lower::report(program, target.name())
            }
            Err(e) => {
                eprintln!("error: cannot serialize the IR: {e}");
                return 1;
            }
        },
        Target::P4Pna | Target::Pensando => {
            let profile = if matches!(target, Target::Pensando) {
                "pensando-elba"
            } else {
                "pna"
            };
            let options = dpuc_p4::pna::Options {
                profile: profile.into(),
                ..Default::default()
            };
            // Lowering only returns validated programs; validate again to get the proof backends take.
            let emitted = dpuc_ir::validate(program)
                .map_err(|e| e.to_string())
                .and_then(|valid| dpuc_p4::pna::emit(&valid, &options).map_err(|e| e.to_string()));
            match emitted {
                Ok(a) => {
                    files.push((format!("{}.p4", program.name), a.p4));
                    files.push((format!("{}.p4info.txtpb", program.name), a.p4info));
                    files.push((format!("{}.entries.json", program.name), a.entries));
                    a.report
                }
                Err(e) => {
                    eprintln!("error[{}]: {}: {e}", target.name(), file.display());
                    return 1;
                }
            }
        }
    };
    files.push((format!("{}.report.txt", program.name), report_text.clone()));
    if report {
        print!("{report_text}");
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
