//! `dpuc import`: other rule formats as DPL policies.

use crate::EXIT_USAGE;
use dpuc_core::import::classbench;
use std::path::Path;

/// Converts the ClassBench filter set `input` into the policy `output`.
pub fn classbench(input: &Path, output: &Path) -> u8 {
    let text = match std::fs::read_to_string(input) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", input.display());
            return EXIT_USAGE;
        }
    };
    let filters = match classbench::parse(&text) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {}:{}: {}", input.display(), e.line, e.message);
            return 1;
        }
    };
    let name = input
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if let Err(e) = std::fs::write(output, classbench::to_dpl(&filters, &name)) {
        eprintln!("error: cannot write {}: {e}", output.display());
        return EXIT_USAGE;
    }
    eprintln!("{}: {} rules", output.display(), filters.len());
    0
}

/// Converts the ClassBench trace `input` into the capture `output`.
pub fn classbench_trace(input: &Path, output: &Path) -> u8 {
    let text = match std::fs::read_to_string(input) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", input.display());
            return EXIT_USAGE;
        }
    };
    let frames = match dpuc_runtime::trace::frames(&text) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {}:{e}", input.display());
            return 1;
        }
    };
    let n = frames.len();
    // One frame per microsecond, so rate meters see a plausible clock.
    let frames: Vec<dpuc_runtime::pcap::Frame> = frames
        .into_iter()
        .enumerate()
        .map(|(i, data)| dpuc_runtime::pcap::Frame {
            ts_ns: i as u64 * 1000,
            data,
        })
        .collect();
    if let Err(e) = std::fs::write(output, dpuc_runtime::pcap::write(&frames)) {
        eprintln!("error: cannot write {}: {e}", output.display());
        return EXIT_USAGE;
    }
    eprintln!("{}: {n} frames", output.display());
    0
}
