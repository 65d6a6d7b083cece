//! `dpuc bench`: nanoseconds per packet of the eBPF program (measured by
//! the kernel with BPF_PROG_TEST_RUN) against the software interpreter on
//! the same frames, in the same process.

use crate::compile::{compile, refuse};
use crate::EXIT_USAGE;
use dpuc_runtime::exec::Machine;
use dpuc_runtime::pcap;
use std::path::Path;
use std::time::Instant;

/// What `dpuc bench` was asked for.
pub struct BenchArgs<'a> {
    /// The policy.
    pub file: &'a Path,
    /// Frames to classify.
    pub pcap: &'a Path,
    /// How many distinct frames (from the start of the capture).
    pub frames: usize,
    /// BPF_PROG_TEST_RUN repetitions per frame.
    pub repeat: u32,
}

/// Runs the benchmark; returns the exit status.
pub fn run(a: &BenchArgs) -> u8 {
    let (sources, lowered) = match compile(a.file) {
        Ok(c) => c,
        Err(s) => return s,
    };
    let program = lowered.program.clone();
    let frames = match std::fs::read(a.pcap)
        .map_err(|e| e.to_string())
        .and_then(|b| pcap::read(&b).map_err(|e| e.to_string()))
    {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {}: {e}", a.pcap.display());
            return EXIT_USAGE;
        }
    };
    let frames: Vec<Vec<u8>> = frames.into_iter().take(a.frames).map(|f| f.data).collect();
    if frames.is_empty() {
        eprintln!("error: {} has no frames", a.pcap.display());
        return EXIT_USAGE;
    }
    let valid = match dpuc_ir::validate(&program) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let options = dpuc_ebpf::Options {
        test_clock: false,
        hooks: vec![dpuc_ebpf::Hook::Xdp],
    };
    let artifact = match dpuc_ebpf::emit(&valid, &options) {
        Ok(a) => a,
        Err(e) => return refuse(&sources, &lowered, crate::Target::Ebpf, e.refusal()),
    };
    if let Err(e) = dpuc_runtime::ebpf::bpf_available() {
        println!("skipped: no BPF privilege ({})", e.reason);
        return 1;
    }
    let object = match dpuc_runtime::ebpf::load_filled(&artifact.object, &artifact.layout, &program)
    {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error[ebpf]: {e}");
            return 1;
        }
    };
    let Some(prog) = object.program("dpuc_xdp") else {
        eprintln!("error[ebpf]: no dpuc_xdp program");
        return 1;
    };
    let mut total_ns = 0f64;
    for f in &frames {
        match prog.test_run(f, a.repeat) {
            Ok(r) => total_ns += f64::from(r.duration_ns),
            Err(e) => {
                eprintln!("error[ebpf]: {e}");
                return 1;
            }
        }
    }
    let ebpf_ns = total_ns / frames.len() as f64;
    let mut machine = match Machine::new(program.clone()) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    // Enough rounds for a steady figure, whatever the policy's speed.
    let start = Instant::now();
    let mut runs = 0u64;
    while start.elapsed().as_millis() < 500 || runs < frames.len() as u64 {
        for f in &frames {
            std::hint::black_box(machine.process(f, 0, 0));
            runs += 1;
        }
    }
    let sw_ns = start.elapsed().as_nanos() as f64 / runs as f64;
    println!("policy: {} ({} rules)", program.name, program.rules.len());
    println!(
        "frames: {} distinct, {} repetitions each in the kernel",
        frames.len(),
        a.repeat
    );
    println!(
        "ebpf (xdp, BPF_PROG_TEST_RUN): {ebpf_ns:.0} ns/packet; {} instructions, {} processed by the verifier",
        prog.insn_count(),
        prog.verified_insns().map_or("?".into(), |n| n.to_string())
    );
    println!("sw interpreter: {sw_ns:.0} ns/packet");
    println!("ratio sw/ebpf: {:.1}", sw_ns / ebpf_ns.max(1.0));
    0
}
