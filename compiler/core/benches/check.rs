//! `dpuc check` (parse + check, in memory) and lowering to the IR on
//! generated policies of 1K, 10K and 100K rules; time per rule should stay
//! flat (linear growth).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use dpuc_core::span::SourceMap;
use dpuc_core::Loader;
use std::fmt::Write;

struct NoFiles;

impl Loader for NoFiles {
    fn load(&mut self, _: &str, path: &str) -> Result<(String, String), String> {
        Err(format!("{path}: no files in benchmarks"))
    }
}

/// A policy of `n` distinct rules mixing the common predicate shapes.
fn policy(n: usize) -> String {
    let mut s = String::from("set blocked: ip = { 203.0.113.0/24 };\npolicy p {\n");
    s.push_str("    rule b: ip.src in blocked => drop;\n");
    for i in 0..n {
        let (a, b, c) = ((i >> 16) & 255, (i >> 8) & 255, i & 255);
        let _ = writeln!(
            s,
            "    rule r{i}: ip.src == 10.{a}.{b}.{c} and tcp.dport in {{ {}, 8000-8100 }} and not ip.dst == 192.0.2.0/24 => accept;",
            i % 65536
        );
    }
    s.push_str("    default drop;\n}\n");
    s
}

fn check(c: &mut Criterion) {
    let mut group = c.benchmark_group("check");
    group.sample_size(10);
    for n in [1_000usize, 10_000, 100_000] {
        let text = policy(n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &text, |b, text| {
            b.iter(|| {
                let mut sources = SourceMap::new();
                let root = sources.add("bench.dpl", text.clone());
                let checked = dpuc_core::check::check(&mut sources, root, &mut NoFiles);
                assert!(!dpuc_core::diag::has_errors(&checked.diagnostics));
                checked
            })
        });
    }
    group.finish();
}

fn lower(c: &mut Criterion) {
    let mut group = c.benchmark_group("lower");
    group.sample_size(10);
    for n in [1_000usize, 10_000, 100_000] {
        let mut sources = SourceMap::new();
        let root = sources.add("bench.dpl", policy(n));
        let checked = dpuc_core::check::check(&mut sources, root, &mut NoFiles);
        let Some(hir) = checked.program else {
            panic!("generated policy does not check")
        };
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &hir, |b, hir| {
            b.iter(|| {
                dpuc_core::lower::lower(hir, &sources, "bench").map(|l| l.program.tables.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, check, lower);
criterion_main!(benches);
