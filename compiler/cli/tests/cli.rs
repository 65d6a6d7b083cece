//! The `dpuc` binary: exit statuses, output formats, `fmt --check`.

use std::path::PathBuf;
use std::process::{Command, Output};

fn dpuc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dpuc"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run dpuc: {e}"))
}

fn repo(path: &str) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.join(path).display().to_string()
}

fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dpuc-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
    path
}

#[test]
fn clean_file_exits_zero() {
    let out = dpuc(&["check", &repo("examples/web-tier.dpl")]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn errors_exit_one_and_json_has_every_field() {
    let bad = temp_file("bad.dpl", "port p = 70000000000;\nconst x = 10.0.0.1/8;\n");
    let out = dpuc(&["check", "--format", "json", &bad.display().to_string()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next().unwrap_or_default();
    for key in [
        "\"file\"",
        "\"line\"",
        "\"column\"",
        "\"end_line\"",
        "\"end_column\"",
        "\"severity\"",
        "\"code\"",
        "\"message\"",
        "\"help\"",
    ] {
        assert!(first.contains(key), "{key} missing in {first}");
    }
    assert!(text.contains("\"code\":\"E0003\""), "{text}");
}

#[test]
fn missing_file_and_bad_usage_exit_two() {
    assert_eq!(
        dpuc(&["check", "/nonexistent/x.dpl"]).status.code(),
        Some(2)
    );
    assert_eq!(dpuc(&["check"]).status.code(), Some(2));
    assert_eq!(dpuc(&["frobnicate"]).status.code(), Some(2));
}

#[test]
fn version_and_help_mention_examples() {
    let v = dpuc(&["--version"]);
    assert!(String::from_utf8_lossy(&v.stdout).starts_with("dpuc "));
    let h = dpuc(&["help"]);
    assert!(String::from_utf8_lossy(&h.stdout).contains("Examples:"));
}

#[test]
fn fmt_check_reports_unformatted_then_fmt_fixes_it() {
    let messy = temp_file("messy.dpl", "policy   p{default   drop;}\n");
    let path = messy.display().to_string();
    let out = dpuc(&["fmt", "--check", &path]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(dpuc(&["fmt", &path]).status.code(), Some(0));
    assert_eq!(dpuc(&["fmt", "--check", &path]).status.code(), Some(0));
}

#[test]
fn imports_every_shared_classbench_set() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/classbench");
    if !dir.exists() {
        eprintln!("skipped: no ClassBench data at {}", dir.display());
        return;
    }
    for set in ["acl1_1K", "fw1_1K", "ipc1_1K", "acl1_10K"] {
        let out =
            std::env::temp_dir().join(format!("dpuc-import-{}-{set}.dpl", std::process::id()));
        let o = dpuc(&[
            "import",
            "classbench",
            &dir.join(set).display().to_string(),
            "-o",
            &out.display().to_string(),
        ]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{set}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        assert!(
            text.contains("rule r1:") && text.contains("default drop;"),
            "{set}"
        );
    }
}

#[test]
fn test_passes_the_examples_and_reports_a_failing_expectation_with_t0001() {
    for ex in [
        "examples/web-tier.dpl",
        "examples/tour/03-conntrack.dpl",
        "examples/tour/06-tests.dpl",
    ] {
        let out = dpuc(&["test", &repo(ex)]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{ex}: {text}");
        assert!(text.contains(" 0 failed"), "{text}");
    }
    let bad = temp_file(
        "failing.dpl",
        "policy p {\n    rule ssh: tcp.dport == 22 => drop;\n    default accept;\n}\ntest \"t\" {\n    send tcp 10.0.0.1:1000 -> 10.0.0.2:22 [syn] => accept;\n}\n",
    );
    let out = dpuc(&["test", &bad.display().to_string()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text.contains("error[T0001]") && text.contains("expected accept, saw drop by p.ssh"),
        "{text}"
    );
    assert!(text.contains("0 passed, 1 failed"), "{text}");
}

#[test]
fn build_writes_the_ir_and_the_report() {
    let dir = std::env::temp_dir().join(format!("dpuc-build-{}", std::process::id()));
    let out = dpuc(&[
        "build",
        &repo("examples/web-tier.dpl"),
        "--target",
        "sw",
        "-o",
        &dir.display().to_string(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = std::fs::read_to_string(dir.join("web-tier.ir.json")).unwrap_or_default();
    assert!(json.contains("\"from_wire_established\""), "{json}");
    let report = std::fs::read_to_string(dir.join("web-tier.report.txt")).unwrap_or_default();
    assert!(report.contains("set_web_ports_tcp_dport"), "{report}");
}

#[test]
fn run_classifies_a_capture_and_writes_verdicts_and_the_frames_that_leave() {
    use dpuc_ir::test::{L4Spec, PacketSpec};
    let syn = |src: &str| {
        PacketSpec::new(
            src.parse().unwrap_or_else(|_| unreachable!()),
            "10.0.1.5".parse().unwrap_or_else(|_| unreachable!()),
            L4Spec::Tcp {
                sport: 51000,
                dport: 22,
                flags: 0x02,
            },
        )
    };
    let frames: Vec<dpuc_runtime::pcap::Frame> = ["192.168.100.7", "203.0.113.9"]
        .iter()
        .enumerate()
        .map(|(i, s)| dpuc_runtime::pcap::Frame {
            ts_ns: i as u64 * 1000,
            data: dpuc_runtime::craft::build(&syn(s)).unwrap_or_default(),
        })
        .collect();
    let input = temp_file("in.pcap", "");
    std::fs::write(&input, dpuc_runtime::pcap::write(&frames)).unwrap_or_else(|e| panic!("{e}"));
    let verdicts = input.with_file_name("v.jsonl");
    let out_pcap = input.with_file_name("out.pcap");
    let o = dpuc(&[
        "run",
        &repo("examples/web-tier.dpl"),
        "--pcap",
        &input.display().to_string(),
        "--verdicts",
        &verdicts.display().to_string(),
        "--out",
        &out_pcap.display().to_string(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v = std::fs::read_to_string(&verdicts).unwrap_or_default();
    let lines: Vec<&str> = v.lines().collect();
    assert_eq!(lines.len(), 2, "{v}");
    assert!(
        lines[0].contains("\"verdict\":\"accept\"") && lines[0].contains("from_wire.ssh_admin"),
        "{v}"
    );
    assert!(lines[1].contains("\"verdict\":\"drop\""), "{v}");
    let out =
        dpuc_runtime::pcap::read(&std::fs::read(&out_pcap).unwrap_or_default()).unwrap_or_default();
    assert_eq!(out.len(), 1);
    assert_eq!(
        dpuc(&[
            "run",
            &repo("examples/web-tier.dpl"),
            "--pcap",
            &repo("README.md")
        ])
        .status
        .code(),
        Some(1)
    );
}

#[test]
fn build_p4_pna_writes_p4_p4info_and_entries_or_names_what_it_refuses() {
    let dir = std::env::temp_dir().join(format!("dpuc-p4-{}", std::process::id()));
    let d = dir.display().to_string();
    let ok = dpuc(&[
        "build",
        &repo("examples/pipeline.dpl"),
        "--target",
        "p4-pna",
        "-o",
        &d,
    ]);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let p4 = std::fs::read_to_string(dir.join("pipeline.p4")).unwrap_or_default();
    assert!(
        p4.contains("#include <pna.p4>") && p4.contains("PNA_NIC("),
        "{p4}"
    );
    for f in [
        "pipeline.p4info.txtpb",
        "pipeline.entries.json",
        "pipeline.report.txt",
    ] {
        assert!(dir.join(f).exists(), "{f} missing");
    }
    let refused = dpuc(&[
        "build",
        &repo("examples/tour/01-rules.dpl"),
        "--target",
        "pensando",
        "-o",
        &d,
    ]);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        err.contains("pensando") && err.contains("no_telnet") && err.contains("reject"),
        "{err}"
    );
}

#[test]
fn build_ebpf_writes_the_object_layout_and_listing_and_refusals_name_the_rule() {
    let dir = std::env::temp_dir().join(format!("dpuc-cli-ebpf-{}", std::process::id()));
    let d = dir.display().to_string();
    let out = dpuc(&[
        "build",
        &repo("tests/conformance/first-match.dpl"),
        "--target",
        "ebpf",
        "-o",
        &d,
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let object = std::fs::read(dir.join("first-match.bpf.o")).unwrap_or_default();
    assert_eq!(object.get(..4), Some(&b"\x7fELF"[..]));
    let layout = std::fs::read_to_string(dir.join("first-match.ebpf.json")).unwrap_or_default();
    assert!(layout.contains("\"dpuc_cls\""), "{layout}");
    let listing = std::fs::read_to_string(dir.join("first-match.bpf.txt")).unwrap_or_default();
    assert!(listing.contains("; program dpuc_xdp") && listing.contains("; program dpuc_tc"));

    let refused = dpuc(&[
        "build",
        &repo("examples/tour/01-rules.dpl"),
        "--target",
        "ebpf",
        "-o",
        &d,
    ]);
    assert_eq!(refused.status.code(), Some(1));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("error[E0200]: target ebpf cannot express rule `edge.no_telnet`")
            && err.contains("`reject` (sending a TCP reset or ICMP error) is not supported")
            && err.contains("help: use `drop`"),
        "{err}"
    );
}

#[test]
fn test_on_ebpf_runs_in_the_kernel_or_says_skipped() {
    let out = dpuc(&[
        "test",
        "--target",
        "all",
        &repo("tests/conformance/sets.dpl"),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("[sw]"), "{text}");
    assert!(
        text.contains("ok     ") && text.contains("[ebpf]") || text.contains("no BPF privilege"),
        "{text}"
    );
    // Asked for eBPF alone, a refused file fails the run with the diagnostic;
    // among all targets the refusal is a note and the run passes.
    let file = repo("examples/tour/01-rules.dpl");
    let refused = dpuc(&["test", "--target", "ebpf", &file]);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("error[E0200]: target ebpf"), "{err}");
    assert_eq!(refused.status.code(), Some(1), "{err}");
    let all = dpuc(&["test", "--target", "all", &file]);
    let text = String::from_utf8_lossy(&all.stdout);
    assert!(
        text.contains("[ebpf]: target ebpf cannot express rule `edge.no_telnet` (E0200)"),
        "{text}"
    );
    assert_eq!(all.status.code(), Some(0), "{text}");
}

#[test]
fn test_all_compiles_the_p4_targets_and_notes_their_refusals() {
    let out = dpuc(&[
        "test",
        "--target",
        "all",
        &repo("tests/conformance/sets.dpl"),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("built  ") && text.contains("[p4-pna]: no executor here, tests not run"),
        "{text}"
    );
    assert!(
        text.contains("[bluefield]: target bluefield cannot express rule `p.outside` (E0200)"),
        "{text}"
    );
}
