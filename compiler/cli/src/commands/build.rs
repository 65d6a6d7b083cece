//! `dpuc build`: compile a policy for a target and write its artifacts.

use crate::compile::{compile, refuse};
use crate::{HookArg, Target, EXIT_USAGE};
use std::path::Path;

/// Flags of `dpuc build` beyond the file, target and directory.
pub struct BuildFlags {
    /// Print the capacity report.
    pub report: bool,
    /// eBPF: a test build.
    pub test_clock: bool,
    /// eBPF: hooks.
    pub hook: HookArg,
    /// PNA: the p4c-dpdk flavor.
    pub dpdk: bool,
    /// P4: `const entries` in the program.
    pub const_entries: bool,
}

/// Builds `file` for `target` into `out`; returns the exit status.
pub fn run(file: &Path, target: Target, out: &Path, flags: &BuildFlags) -> u8 {
    let (sources, lowered) = match compile(file) {
        Ok(c) => c,
        Err(status) => return status,
    };
    let program = &lowered.program;
    let valid = match dpuc_ir::validate(program) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: internal: the lowered program is invalid: {e}");
            return 1;
        }
    };
    let refused = |r: dpuc_ir::Refusal| refuse(&sources, &lowered, target, r);
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let ir_json = match serde_json::to_string_pretty(program) {
        Ok(json) => json + "\n",
        Err(e) => {
            eprintln!("error: cannot serialize the IR: {e}");
            return 1;
        }
    };
    let report_text = match target {
        Target::Sw => {
            files.push((format!("{}.ir.json", program.name), ir_json.into_bytes()));
            dpuc_core::lower::report(program, target.name())
        }
        Target::Ebpf => {
            let hooks = match flags.hook {
                HookArg::Both => vec![dpuc_ebpf::Hook::Xdp, dpuc_ebpf::Hook::Tc],
                HookArg::Xdp => vec![dpuc_ebpf::Hook::Xdp],
                HookArg::Tc => vec![dpuc_ebpf::Hook::Tc],
            };
            let options = dpuc_ebpf::Options {
                test_clock: flags.test_clock,
                hooks,
            };
            match dpuc_ebpf::emit(&valid, &options) {
                Ok(a) => {
                    let name = &program.name;
                    files.push((format!("{name}.bpf.o"), a.object));
                    let layout = serde_json::to_string_pretty(&a.layout).unwrap_or_default();
                    files.push((format!("{name}.ebpf.json"), (layout + "\n").into_bytes()));
                    files.push((format!("{name}.ir.json"), ir_json.into_bytes()));
                    let mut listing = String::new();
                    for (hook, text) in &a.listings {
                        listing.push_str(&format!("; program dpuc_{}\n{text}\n", hook.name()));
                    }
                    files.push((format!("{name}.bpf.txt"), listing.into_bytes()));
                    let mut report = dpuc_core::lower::report(program, target.name());
                    for (hook, n) in &a.insns {
                        report
                            .push_str(&format!("program dpuc_{}: {n} instructions\n", hook.name()));
                    }
                    for m in &a.layout.maps {
                        report.push_str(&format!(
                            "map {}: {} entries of {} bytes\n",
                            m.name, m.max_entries, m.value_size
                        ));
                    }
                    report
                }
                Err(e) => return refused(e.refusal()),
            }
        }
        Target::Doca => match dpuc_doca::emit(&valid, &dpuc_doca::Options::default()) {
            Ok(a) => {
                files.push((format!("{}_doca.c", program.name), a.c.into_bytes()));
                files.push((format!("{}.doca.json", program.name), a.json.into_bytes()));
                a.report
            }
            Err(e) => return refused(e.refusal()),
        },
        Target::P4Pna | Target::Pensando | Target::Bluefield => {
            let emitted = emit_p4(&valid, target, flags.dpdk, flags.const_entries);
            match emitted {
                Ok(a) => {
                    files.push((format!("{}.p4", program.name), a.p4.into_bytes()));
                    files.push((
                        format!("{}.p4info.txtpb", program.name),
                        a.p4info.into_bytes(),
                    ));
                    files.push((
                        format!("{}.entries.json", program.name),
                        a.entries.into_bytes(),
                    ));
                    a.report
                }
                Err(r) => return refused(r),
            }
        }
    };
    files.push((
        format!("{}.report.txt", program.name),
        report_text.clone().into_bytes(),
    ));
    if flags.report {
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

/// Emits P4 for one of the P4 targets (`p4-pna`, `pensando`, `bluefield`).
pub fn emit_p4(
    valid: &dpuc_ir::Valid,
    target: Target,
    dpdk: bool,
    const_entries: bool,
) -> Result<dpuc_p4::Artifact, dpuc_ir::Refusal> {
    if matches!(target, Target::Bluefield) {
        let options = dpuc_p4::bluefield::Options {
            const_entries,
            ..Default::default()
        };
        return dpuc_p4::bluefield::emit(valid, &options).map_err(|e| e.refusal());
    }
    let options = dpuc_p4::pna::Options {
        profile: if matches!(target, Target::Pensando) {
            "pensando-elba".into()
        } else {
            "pna".into()
        },
        const_entries,
        flavor: if dpdk {
            dpuc_p4::pna::Flavor::Dpdk
        } else {
            dpuc_p4::pna::Flavor::Reference
        },
        ..Default::default()
    };
    dpuc_p4::pna::emit(valid, &options).map_err(|e| e.refusal())
}
