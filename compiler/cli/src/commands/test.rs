//! `dpuc test`: run every inline test on each target; with `--target all`,
//! also fail when two targets disagree.

use crate::compile::{compile, refuse};
use crate::Target;
use dpuc_core::diag::{render, Diagnostic};
use dpuc_core::span::{FileId, Span};
use dpuc_runtime::testing::{run_suite, Software, TestResult};
use std::path::PathBuf;

/// Runs the tests of every file on `targets`; returns the exit status.
pub fn run(files: &[PathBuf], targets: &[Target]) -> u8 {
    let (mut passed, mut failed) = (0usize, 0usize);
    let mut status = 0;
    for file in files {
        let (sources, lowered) = match compile(file) {
            Ok(c) => c,
            Err(s) => {
                status = status.max(s);
                continue;
            }
        };
        let program = &lowered.program;
        let suite = &lowered.suite;
        let mut per_target: Vec<(&str, Vec<TestResult>)> = Vec::new();
        for t in targets {
            let results = match t {
                Target::Sw => match Software::new(program.clone()) {
                    Ok(mut sw) => run_suite(&mut sw, program, suite),
                    Err(e) => {
                        eprintln!("error: {}: {e}", file.display());
                        status = 1;
                        continue;
                    }
                },
                Target::Ebpf => match ebpf_results(program, suite) {
                    Ok(r) => r,
                    Err(Skip::NoPrivilege(why)) => {
                        println!(
                            "skipped {} [ebpf]: no BPF privilege ({why})",
                            file.display()
                        );
                        continue;
                    }
                    Err(Skip::Refused(r)) => {
                        status = status.max(refused(file, &sources, &lowered, *t, r, targets));
                        continue;
                    }
                    Err(Skip::Broken(why)) => {
                        eprintln!("error [ebpf]: {}: {why}", file.display());
                        status = 1;
                        continue;
                    }
                },
                Target::Doca => match dpuc_runtime::doca::Doca::for_program(program) {
                    Ok(mut d) => run_suite(&mut d, program, suite),
                    Err(dpuc_runtime::doca::DocaBuildError::Refused(e)) => {
                        let r = e.refusal();
                        status = status.max(refused(file, &sources, &lowered, *t, r, targets));
                        continue;
                    }
                    Err(e) => {
                        eprintln!("error [doca]: {}: {e}", file.display());
                        status = 1;
                        continue;
                    }
                },
                // P4 targets compile but do not execute on this machine:
                // say whether they accept the program, run nothing.
                Target::P4Pna | Target::Pensando | Target::Bluefield => {
                    let built = dpuc_ir::validate(program)
                        .map_err(|e| e.to_string())
                        .map(|valid| super::build::emit_p4(&valid, *t, false, false));
                    match built {
                        Ok(Ok(_)) => println!(
                            "built  {} [{}]: no executor here, tests not run",
                            file.display(),
                            t.name()
                        ),
                        Ok(Err(r)) => {
                            status = status.max(refused(file, &sources, &lowered, *t, r, targets))
                        }
                        Err(e) => {
                            eprintln!("error [{}]: {}: {e}", t.name(), file.display());
                            status = 1;
                        }
                    }
                    continue;
                }
            };
            for r in &results {
                if r.failures.is_empty() {
                    passed += 1;
                    println!("ok     {} [{}] {}", file.display(), t.name(), r.name);
                } else {
                    failed += 1;
                    println!("FAILED {} [{}] {}", file.display(), t.name(), r.name);
                    let diags: Vec<Diagnostic> = r
                        .failures
                        .iter()
                        .map(|f| {
                            let span = Span::new(
                                FileId(f.at.file),
                                f.at.start as usize,
                                f.at.end as usize,
                            );
                            Diagnostic::new(
                                "T0001",
                                span,
                                format!("test \"{}\" failed on {}", r.name, t.name()),
                            )
                            .label(format!("expected {}, saw {}", f.expected, f.seen))
                        })
                        .collect();
                    print!("{}", render::human(&sources, &diags));
                }
            }
            per_target.push((t.name(), results));
        }
        failed += disagreements(&per_target, file);
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        status = status.max(1);
    }
    status
}

/// Why the eBPF target did not run a file's tests.
enum Skip {
    NoPrivilege(String),
    Refused(dpuc_ir::Refusal),
    Broken(String),
}

fn ebpf_results(
    program: &dpuc_ir::Program,
    suite: &dpuc_ir::test::Suite,
) -> Result<Vec<TestResult>, Skip> {
    use dpuc_runtime::ebpf::{Ebpf, TestBuildError};
    match Ebpf::for_program(program) {
        Ok(mut t) => Ok(run_suite(&mut t, program, suite)),
        Err(TestBuildError::NoPrivilege(e)) => Err(Skip::NoPrivilege(e.reason)),
        Err(TestBuildError::Refused(e)) => Err(Skip::Refused(e.refusal())),
        Err(e) => Err(Skip::Broken(e.to_string())),
    }
}

/// Reports a target's refusal of `file`. Asked for one target alone, the
/// refusal is a compile error; among all targets it is a note (the compile
/// error our promise allows) and the run goes on.
fn refused(
    file: &std::path::Path,
    sources: &dpuc_core::span::SourceMap,
    lowered: &dpuc_core::lower::Lowered,
    target: Target,
    r: dpuc_ir::Refusal,
    targets: &[Target],
) -> u8 {
    if targets.len() == 1 {
        return refuse(sources, lowered, target, r);
    }
    let d = crate::compile::refusal(lowered, target, r);
    println!(
        "refused {} [{}]: {} ({}): {}",
        file.display(),
        target.name(),
        d.message,
        d.code,
        d.primary.message
    );
    0
}

/// Counts (and prints) tests where two targets observed different things.
fn disagreements(per_target: &[(&str, Vec<TestResult>)], file: &std::path::Path) -> usize {
    let Some((base_name, base)) = per_target.first() else {
        return 0;
    };
    let mut n = 0;
    for (name, results) in &per_target[1..] {
        for (a, b) in base.iter().zip(results) {
            if a.observations != b.observations {
                n += 1;
                println!(
                    "DISAGREE {} {}: {base_name} and {name} differ on test \"{}\"",
                    file.display(),
                    base_name,
                    a.name
                );
            }
        }
    }
    n
}
