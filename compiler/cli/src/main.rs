//! The `dpuc` command-line driver: the only place that reads files, prints
//! and exits. Everything else is `dpuc-core`, called in memory.

mod commands;
mod compile;
mod loader;

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit status for usage errors and I/O failures (clap uses it too).
const EXIT_USAGE: u8 = 2;

const EXAMPLES: &str = "\
Examples:
  dpuc check examples/web-tier.dpl           check a policy, print diagnostics
  dpuc check --format json policy.dpl        one JSON object per diagnostic
  dpuc fmt policy.dpl                        rewrite in canonical layout
  dpuc fmt --check policies/*.dpl            fail if any file is not formatted
  dpuc import classbench acl1_1K -o acl1.dpl  convert a ClassBench filter set
  dpuc build policy.dpl --target sw -o out/   write out/policy.ir.json and a report
  dpuc test policy.dpl                        run the policy's inline tests
  dpuc run policy.dpl --pcap in.pcap --verdicts v.jsonl   classify a capture

Exit status: 0 clean (warnings allowed), 1 errors, 2 usage or I/O failure.";

/// dpuc compiles one DPL network policy for DPUs, eBPF and software.
#[derive(Parser)]
#[command(name = "dpuc", version, about, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse and check policies; print every diagnostic.
    Check {
        /// The policy files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// How diagnostics are printed.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Rewrite policies in canonical layout (comments kept).
    Fmt {
        /// The policy files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Change nothing; fail if a file is not formatted.
        #[arg(long)]
        check: bool,
    },
    /// Convert another rule format into a DPL policy.
    Import {
        /// The input format.
        #[arg(value_enum)]
        format: ImportFormat,
        /// The input file.
        file: PathBuf,
        /// Where to write the policy (or the pcap).
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Compile a policy for a target and write its artifacts.
    Build {
        /// The policy file.
        file: PathBuf,
        /// The target.
        #[arg(long, value_enum, default_value_t = Target::Sw)]
        target: Target,
        /// The output directory.
        #[arg(short, long, default_value = "build")]
        output: PathBuf,
        /// Also print the capacity report.
        #[arg(long)]
        report: bool,
        /// eBPF: read the clock and ingress port from the `dpuc_cfg` map and
        /// record verdicts in `dpuc_trace` (what `dpuc test` runs).
        #[arg(long)]
        test_clock: bool,
        /// eBPF: the hook(s) to build programs for.
        #[arg(long, value_enum, default_value_t = HookArg::Both)]
        hook: HookArg,
        /// P4 (PNA): the reference `pna.p4` or what `p4c-dpdk --arch pna` accepts.
        #[arg(long, value_enum, default_value_t = FlavorArg::Reference)]
        p4_flavor: FlavorArg,
        /// P4: bake the static entries into the program (`const entries`).
        #[arg(long)]
        const_entries: bool,
    },
    /// Run the policies' inline tests on targets; fail if any two disagree.
    Test {
        /// The policy files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// A target, or `all` for every target that can run here.
        #[arg(long, value_enum, default_value_t = TestTarget::Sw)]
        target: TestTarget,
    },
    /// Attach a policy's eBPF program to an interface (maps filled and pinned).
    Load {
        /// The policy file.
        file: PathBuf,
        /// The interface.
        #[arg(long)]
        dev: String,
        /// Where to attach.
        #[arg(long, value_enum, default_value_t = AttachArg::Xdp)]
        hook: AttachArg,
        /// Bind a policy port to an interface: NAME=IFACE (repeatable).
        #[arg(long = "port")]
        ports: Vec<String>,
        /// The bpffs directory for pins.
        #[arg(long, default_value = "/sys/fs/bpf/dpuc")]
        pin_dir: PathBuf,
    },
    /// Detach what `dpuc load` attached to an interface.
    Unload {
        /// The interface.
        #[arg(long)]
        dev: String,
        /// The bpffs directory for pins.
        #[arg(long, default_value = "/sys/fs/bpf/dpuc")]
        pin_dir: PathBuf,
    },
    /// Measure ns/packet of the eBPF program against the interpreter.
    Bench {
        /// The policy file.
        file: PathBuf,
        /// The frames to classify.
        #[arg(long)]
        pcap: PathBuf,
        /// Distinct frames, from the start of the capture.
        #[arg(long, default_value_t = 16)]
        frames: usize,
        /// Kernel repetitions per frame.
        #[arg(long, default_value_t = 1_000_000)]
        repeat: u32,
    },
    /// Classify a packet capture (pcap or pcapng) with the software pipeline.
    Run {
        /// The policy file.
        file: PathBuf,
        /// The capture to classify.
        #[arg(long)]
        pcap: PathBuf,
        /// Write the frames that leave (rewritten) to this pcap.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Write one JSON verdict per frame to this file.
        #[arg(long)]
        verdicts: Option<PathBuf>,
        /// The port the frames arrive on (default: the first port).
        #[arg(long)]
        port: Option<String>,
        /// Where to classify: sw, or ebpf (in this kernel, compared with sw).
        #[arg(long, value_enum, default_value_t = RunTarget::Sw)]
        target: RunTarget,
    },
}

/// Compilation targets.
#[derive(Clone, Copy, ValueEnum)]
pub enum Target {
    /// The software pipeline (the reference meaning): `NAME.ir.json`.
    Sw,
    /// P4 for the Portable NIC Architecture: `NAME.p4`, P4Info and entries.
    #[value(name = "p4-pna")]
    P4Pna,
    /// The PNA program checked against the AMD Pensando (Elba) profile.
    Pensando,
    /// eBPF for XDP and TC: `NAME.bpf.o`, `NAME.ebpf.json`, `NAME.ir.json`.
    Ebpf,
    /// NVIDIA DOCA Flow: `NAME_doca.c` (DOCA 3.3 API) and `NAME.doca.json`.
    Doca,
    /// NVIDIA BlueField-3 DOCA Pipeline Language (P4): `NAME.p4`, P4Info, entries.
    Bluefield,
}

/// P4 flavors for the PNA target.
#[derive(Clone, Copy, ValueEnum)]
pub enum FlavorArg {
    /// The PNA specification's `pna.p4`.
    Reference,
    /// p4c-dpdk's `dpdk/pna.p4`.
    Dpdk,
}

/// eBPF hooks to build for.
#[derive(Clone, Copy, ValueEnum)]
pub enum HookArg {
    /// XDP (section `xdp`) and TC (section `classifier`).
    Both,
    /// XDP only.
    Xdp,
    /// TC only (needed for `mirror`).
    Tc,
}

impl Target {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Target::Sw => "sw",
            Target::P4Pna => "p4-pna",
            Target::Pensando => "pensando",
            Target::Ebpf => "ebpf",
            Target::Doca => "doca",
            Target::Bluefield => "bluefield",
        }
    }
}

/// Targets `dpuc test` can run on.
#[derive(Clone, Copy, ValueEnum)]
pub enum TestTarget {
    /// The software pipeline.
    Sw,
    /// eBPF, run in this kernel with BPF_PROG_TEST_RUN.
    Ebpf,
    /// DOCA Flow, run on the DOCA simulator.
    Doca,
    /// Every target: sw, ebpf and doca run the tests; the P4 targets
    /// (p4-pna, pensando, bluefield) only compile here.
    All,
}

/// Attach points of `dpuc load`.
#[derive(Clone, Copy, ValueEnum)]
pub enum AttachArg {
    /// XDP, native when the driver supports it, else generic.
    Xdp,
    /// XDP in generic (skb) mode.
    XdpGeneric,
    /// TC ingress (tcx).
    Tc,
}

/// Targets `dpuc run` classifies on.
#[derive(Clone, Copy, ValueEnum)]
pub enum RunTarget {
    /// The software pipeline.
    Sw,
    /// The eBPF program, run in this kernel.
    Ebpf,
}

/// Formats `dpuc import` reads.
#[derive(Clone, Copy, ValueEnum)]
pub enum ImportFormat {
    /// A ClassBench filter set (acl1, fw1, ipc1...) → a DPL policy.
    Classbench,
    /// A ClassBench trace → a pcap of its 5-tuples.
    ClassbenchTrace,
}

/// Diagnostic output formats.
#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    /// Source excerpts with labels, as a person reads them.
    Human,
    /// One JSON object per line, for CI and editors.
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let status = match cli.command {
        Command::Check { files, format } => commands::check::run(&files, format),
        Command::Fmt { files, check } => commands::fmt::run(&files, check),
        Command::Import {
            format,
            file,
            output,
        } => match format {
            ImportFormat::Classbench => commands::import::classbench(&file, &output),
            ImportFormat::ClassbenchTrace => commands::import::classbench_trace(&file, &output),
        },
        Command::Build {
            file,
            target,
            output,
            report,
            test_clock,
            hook,
            p4_flavor,
            const_entries,
        } => commands::build::run(
            &file,
            target,
            &output,
            &commands::build::BuildFlags {
                report,
                test_clock,
                hook,
                dpdk: matches!(p4_flavor, FlavorArg::Dpdk),
                const_entries,
            },
        ),
        Command::Test { files, target } => {
            let targets = match target {
                TestTarget::Sw => vec![Target::Sw],
                TestTarget::Ebpf => vec![Target::Ebpf],
                TestTarget::Doca => vec![Target::Doca],
                TestTarget::All => vec![
                    Target::Sw,
                    Target::Ebpf,
                    Target::Doca,
                    Target::P4Pna,
                    Target::Pensando,
                    Target::Bluefield,
                ],
            };
            commands::test::run(&files, &targets)
        }
        Command::Load {
            file,
            dev,
            hook,
            ports,
            pin_dir,
        } => commands::load::load(&commands::load::LoadArgs {
            file: &file,
            dev: &dev,
            at: match hook {
                AttachArg::Xdp => dpuc_runtime::ebpf::AttachPoint::Xdp,
                AttachArg::XdpGeneric => dpuc_runtime::ebpf::AttachPoint::XdpGeneric,
                AttachArg::Tc => dpuc_runtime::ebpf::AttachPoint::TcIngress,
            },
            ports: &ports,
            pin_dir: &pin_dir,
        }),
        Command::Unload { dev, pin_dir } => commands::load::unload(&dev, &pin_dir),
        Command::Bench {
            file,
            pcap,
            frames,
            repeat,
        } => commands::bench::run(&commands::bench::BenchArgs {
            file: &file,
            pcap: &pcap,
            frames,
            repeat,
        }),
        Command::Run {
            file,
            pcap,
            out,
            verdicts,
            port,
            target,
        } => commands::run::run(&commands::run::RunArgs {
            file: &file,
            pcap: &pcap,
            out: out.as_deref(),
            verdicts: verdicts.as_deref(),
            port: port.as_deref(),
            ebpf: matches!(target, RunTarget::Ebpf),
        }),
    };
    ExitCode::from(status)
}
