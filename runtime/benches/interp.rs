//! Interpreter throughput: a generated 1K-rule policy and the imported
//! ClassBench acl1 10K set with its own trace (read from
//! ../shared/data/classbench; skipped when absent).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dpuc_core::span::SourceMap;
use dpuc_runtime::exec::Machine;
use std::path::PathBuf;

struct NoFiles;

impl dpuc_core::Loader for NoFiles {
    fn load(&mut self, _: &str, p: &str) -> Result<(String, String), String> {
        Err(format!("{p}: no files in benchmarks"))
    }
}

fn machine(text: String) -> Machine {
    let mut sources = SourceMap::new();
    let root = sources.add("bench.dpl", text);
    let checked = dpuc_core::check::check(&mut sources, root, &mut NoFiles);
    let hir = checked
        .program
        .unwrap_or_else(|| panic!("{:?}", checked.diagnostics));
    let lowered =
        dpuc_core::lower::lower(&hir, &sources, "bench").unwrap_or_else(|d| panic!("{d:?}"));
    Machine::new(lowered.program).unwrap_or_else(|e| panic!("{e}"))
}

fn generated(c: &mut Criterion) {
    let mut text = String::from("policy p {\n");
    for i in 0..1000u32 {
        text.push_str(&format!(
            "    rule r{i}: ip.src == 10.{}.{}.0/24 and tcp.dport in {{ {}, 8000-8100 }} => accept;\n",
            i >> 8,
            i & 255,
            i % 1000 + 1
        ));
    }
    text.push_str("    default drop;\n}\n");
    let mut m = machine(text);
    // Half the packets match somewhere in the list, half fall to the default.
    let frames: Vec<Vec<u8>> = (0..256u32)
        .map(|i| {
            dpuc_runtime::trace::frame(
                0x0a00_0000 | ((i * 4) << 8),
                0xc000_0201,
                1000,
                if i % 2 == 0 { 8050 } else { 1 },
                6,
            )
        })
        .collect();
    let mut g = c.benchmark_group("interpreter");
    g.throughput(Throughput::Elements(frames.len() as u64));
    g.bench_function("generated_1k_rules", |b| {
        b.iter(|| frames.iter().map(|f| m.process(f, 0, 0).rule).count())
    });
    g.finish();
}

fn classbench(c: &mut Criterion) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/classbench");
    let (Ok(rules), Ok(trace)) = (
        std::fs::read_to_string(dir.join("acl1_10K")),
        std::fs::read_to_string(dir.join("acl1_10K_trace")),
    ) else {
        eprintln!("skipped: no ClassBench data at {}", dir.display());
        return;
    };
    let filters = dpuc_core::import::classbench::parse(&rules)
        .unwrap_or_else(|e| panic!("line {}: {}", e.line, e.message));
    let mut m = machine(dpuc_core::import::classbench::to_dpl(&filters, "acl1_10K"));
    let head: String = trace.lines().take(2000).map(|l| format!("{l}\n")).collect();
    let frames = dpuc_runtime::trace::frames(&head).unwrap_or_else(|e| panic!("trace: {e}"));
    let mut g = c.benchmark_group("interpreter");
    g.sample_size(10);
    g.throughput(Throughput::Elements(frames.len() as u64));
    g.bench_function("classbench_acl1_10k_trace", |b| {
        b.iter(|| frames.iter().map(|f| m.process(f, 0, 0).rule).count())
    });
    g.finish();
}

criterion_group!(benches, generated, classbench);
criterion_main!(benches);
