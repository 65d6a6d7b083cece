//! `dpuc run`: classify a packet capture with the software pipeline.

use crate::compile::{compile, refuse};
use crate::EXIT_USAGE;
use dpuc_runtime::exec::{Machine, Verdict};
use dpuc_runtime::pcap;
use dpuc_runtime::testing::rule_name;
use std::fmt::Write;
use std::path::Path;

/// What `dpuc run` was asked for.
pub struct RunArgs<'a> {
    /// The policy.
    pub file: &'a Path,
    /// The capture to classify.
    pub pcap: &'a Path,
    /// Where to write the frames that leave (accepted or forwarded, rewritten).
    pub out: Option<&'a Path>,
    /// Where to write one JSON verdict per frame.
    pub verdicts: Option<&'a Path>,
    /// The ingress port's name (default: the first port).
    pub port: Option<&'a str>,
    /// Classify in the kernel's eBPF instead (and compare with sw).
    pub ebpf: bool,
}

/// Runs every frame of the capture through the policy; returns the exit status.
pub fn run(a: &RunArgs) -> u8 {
    let (sources, lowered) = match compile(a.file) {
        Ok(c) => c,
        Err(s) => return s,
    };
    let program = lowered.program.clone();
    let port = match a.port {
        Some(name) => match program.ports.iter().find(|p| p.name == name) {
            Some(p) => p.number,
            None => {
                eprintln!("error: no port `{name}` in {}", a.file.display());
                return EXIT_USAGE;
            }
        },
        None => program.ports.first().map_or(0, |p| p.number),
    };
    let bytes = match std::fs::read(a.pcap) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", a.pcap.display());
            return EXIT_USAGE;
        }
    };
    let frames = match pcap::read(&bytes) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {}: {e}", a.pcap.display());
            return 1;
        }
    };
    let mut machine = match Machine::new(program.clone()) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    // The capture's clock starts at its first frame.
    let t0 = frames.first().map_or(0, |f| f.ts_ns);
    if a.ebpf {
        let refused = |r| refuse(&sources, &lowered, crate::Target::Ebpf, r);
        return ebpf(a, &program, &refused, &frames, port, t0);
    }
    let (mut passed, mut dropped) = (0usize, 0usize);
    let mut out_frames = Vec::new();
    let mut jsonl = String::new();
    for (i, f) in frames.iter().enumerate() {
        let o = machine.process(&f.data, port, f.ts_ns.saturating_sub(t0));
        let (verdict, to) = match o.verdict {
            Verdict::Accept { to } => ("accept", to),
            Verdict::Forward(p) => ("forward", Some(p)),
            Verdict::Drop => ("drop", None),
            Verdict::Reject => ("reject", None),
        };
        if to.is_some() || matches!(o.verdict, Verdict::Accept { .. }) {
            passed += 1;
            out_frames.push(pcap::Frame {
                ts_ns: f.ts_ns,
                data: o.frame,
            });
        } else {
            dropped += 1;
        }
        let to = to
            .and_then(|p| program.ports.get(p as usize))
            .map(|p| format!("\"{}\"", p.name));
        let rule = o
            .rule
            .map(|r| format!("\"{}\"", rule_name(&program, Some(r))));
        let color = o
            .color
            .map(|c| format!("\"{}\"", format!("{c:?}").to_lowercase()));
        let _ = writeln!(
            jsonl,
            "{{\"index\":{i},\"verdict\":\"{verdict}\",\"port\":{},\"rule\":{},\"color\":{}}}",
            to.unwrap_or_else(|| "null".into()),
            rule.unwrap_or_else(|| "null".into()),
            color.unwrap_or_else(|| "null".into())
        );
    }
    for (path, data) in [
        (a.out, pcap::write(&out_frames)),
        (a.verdicts, jsonl.into_bytes()),
    ] {
        if let Some(path) = path {
            if let Err(e) = std::fs::write(path, data) {
                eprintln!("error: cannot write {}: {e}", path.display());
                return EXIT_USAGE;
            }
        }
    }
    eprintln!(
        "{} frames: {passed} passed, {dropped} dropped",
        frames.len()
    );
    0
}

/// Classifies the frames with the eBPF program (a test build run with
/// BPF_PROG_TEST_RUN) and with the software pipeline; fails on any frame
/// where they differ.
fn ebpf(
    a: &RunArgs,
    program: &dpuc_ir::Program,
    refused: &dyn Fn(dpuc_ir::Refusal) -> u8,
    frames: &[pcap::Frame],
    port: u32,
    t0: u64,
) -> u8 {
    use dpuc_runtime::testing::{Software, Target};
    if a.out.is_some() {
        eprintln!("error: --out is not available with --target ebpf");
        return EXIT_USAGE;
    }
    let mut target = match dpuc_runtime::ebpf::Ebpf::for_program(program) {
        Ok(t) => t,
        Err(dpuc_runtime::ebpf::TestBuildError::NoPrivilege(e)) => {
            println!("skipped: no BPF privilege ({})", e.reason);
            return 1;
        }
        Err(dpuc_runtime::ebpf::TestBuildError::Refused(e)) => return refused(e.refusal()),
        Err(e) => {
            eprintln!("error[ebpf]: {}: {e}", a.file.display());
            return 1;
        }
    };
    let mut sw = match Software::new(program.clone()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let (mut passed, mut dropped, mut differ) = (0usize, 0usize, 0usize);
    let mut jsonl = String::new();
    for (i, f) in frames.iter().enumerate() {
        let now = f.ts_ns.saturating_sub(t0);
        let seen = match target.send(&f.data, port, now) {
            Ok(o) => o,
            Err(e) => {
                eprintln!("frame {i}: ebpf: {e}");
                differ += 1;
                continue;
            }
        };
        if sw.send(&f.data, port, now).ok().as_ref() != Some(&seen) {
            differ += 1;
            eprintln!("frame {i}: ebpf and sw differ");
        }
        let (verdict, to) = match seen.verdict {
            dpuc_ir::test::ExpectVerdict::Accept => ("accept", None),
            dpuc_ir::test::ExpectVerdict::Forward(p) => ("forward", Some(p)),
            dpuc_ir::test::ExpectVerdict::Drop => ("drop", None),
        };
        if verdict == "drop" {
            dropped += 1;
        } else {
            passed += 1;
        }
        let to = to
            .and_then(|p| program.ports.get(p as usize))
            .map_or("null".into(), |p| format!("\"{}\"", p.name));
        let rule = seen.rule.map_or("null".into(), |r| {
            format!("\"{}\"", rule_name(program, Some(r)))
        });
        let _ = writeln!(
            jsonl,
            "{{\"index\":{i},\"verdict\":\"{verdict}\",\"port\":{to},\"rule\":{rule}}}"
        );
    }
    if let Some(path) = a.verdicts {
        if let Err(e) = std::fs::write(path, jsonl) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return EXIT_USAGE;
        }
    }
    eprintln!(
        "{} frames: {passed} passed, {dropped} dropped; {differ} differ from sw",
        frames.len()
    );
    u8::from(differ > 0)
}
