//! The connection manager in the emitted C (`dpuc_ct_handle` and the
//! aging hook of `NAME_doca.c`) against the DOCA simulator, which runs
//! `runtime::conntrack::Tracker` as the manager.
//!
//! For every tracker file that runs on DOCA (as written, or with its
//! `ct.*` rules narrowed to TCP and UDP as in `tests/tests/doca.rs`), the
//! simulator runs the file's tests and records what reaches the manager:
//! each packet (frame, class, port, time), the connections the device aged
//! in between, and after each packet the delivery and every live
//! connection's entries (per direction: bits, mark, timeout). The emitted C
//! is compiled with `tests/doca/manager_harness.c`, a stub of the DOCA Flow
//! functions that records the entries the manager writes, and driven with
//! the same sequence; its deliveries and tables must be the simulator's
//! after every step.

use dpuc_runtime::doca::{Doca, ManagerStep};
use dpuc_runtime::testing::{run_suite, Software};
use dpuc_tests::{lower_text, narrow_for_doca, repo_root, DOCA_TRACKER_FILES};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// What the tracker files leave out: VLAN tags, SYN retransmission,
/// TIME_WAIT reuse, IPv6 RST, a new mark on a live connection, ICMPv6
/// echo aging, ICMP errors (related) that set a mark, and a full table.
const SCENARIO: &str = r#"
port inside = 0;
port outside = 1;

conntrack {
    max_entries 4;
    timeout icmp 3s;
}

policy from_outside {
    rule est: ct.state == established => accept;
    rule icmp_mark: icmp.type == 3 => set ct.mark = 5, accept;
    default drop;
}

policy from_inside {
    rule ttl_mark: ip.ttl == 5 => set ct.mark = 3, accept;
    rule web: tcp.dport == 443 => set ct.mark = 7, accept;
    rule dns: udp.dport == 53 => set ct.mark = 9, accept;
    default accept;
}

pipeline {
    inside -> outside via from_inside;
    outside -> inside via from_outside;
}

test "vlan tcp close and reuse" {
    send tcp 10.0.0.2:1000 -> 192.0.2.1:443 [syn] vlan 7 on inside => accept;
    send tcp 10.0.0.2:1000 -> 192.0.2.1:443 [syn] vlan 7 on inside => accept;
    send tcp 192.0.2.1:443 -> 10.0.0.2:1000 [syn, ack] vlan 7 on outside => accept by est;
    send tcp 10.0.0.2:1000 -> 192.0.2.1:443 [ack] vlan 7 on inside => accept;
    send tcp 10.0.0.2:1000 -> 192.0.2.1:443 [fin, ack] vlan 7 on inside => accept;
    send tcp 192.0.2.1:443 -> 10.0.0.2:1000 [fin, ack] vlan 7 on outside => accept by est;
    send tcp 10.0.0.2:1000 -> 192.0.2.1:443 [ack] vlan 7 on inside => accept;
    send tcp 10.0.0.2:1000 -> 192.0.2.1:443 [syn] vlan 7 on inside => accept;
    send tcp 192.0.2.1:443 -> 10.0.0.2:1000 [syn, ack] vlan 7 on outside => accept by est;
}

test "ipv6 rst" {
    send tcp [2001:db8::2]:2000 -> [2001:db8::1]:80 [syn] on inside => accept;
    send tcp [2001:db8::1]:80 -> [2001:db8::2]:2000 [syn, ack] on outside => accept by est;
    send tcp [2001:db8::1]:80 -> [2001:db8::2]:2000 [rst] on outside => accept by est;
    send tcp [2001:db8::1]:80 -> [2001:db8::2]:2000 [ack] on outside => drop;
}

test "marks and echo" {
    send udp 10.0.0.2:5000 -> 192.0.2.53:53 on inside => accept;
    send udp 192.0.2.53:53 -> 10.0.0.2:5000 on outside => accept by est;
    send udp 10.0.0.2:5000 -> 192.0.2.53:53 ttl 5 on inside => accept;
    send raw "02 00 00 00 00 02 02 00 00 00 00 01 08 00 45 00 00 38 00 00 00 00 40 01 ae 8e c0 00 02 35 0a 00 00 02 03 03 c9 4d 00 00 00 00 45 00 00 1c 00 00 00 00 40 11 ae 9a 0a 00 00 02 c0 00 02 35 13 88 00 35 00 08 1f ea" on outside => accept;
    send icmp 2001:db8::2 -> 2001:db8::1 echo-request id 4 on inside => accept;
    send icmp 2001:db8::1 -> 2001:db8::2 echo-reply id 4 on outside => accept by est;
    after 4s;
    send icmp 2001:db8::1 -> 2001:db8::2 echo-reply id 4 on outside => drop;
    send icmp 2001:db8::2 -> 2001:db8::1 echo-request id 4 on inside => accept;
}

test "full table" {
    send udp 10.0.0.2:1 -> 192.0.2.9:9 on inside => accept;
    send udp 10.0.0.2:2 -> 192.0.2.9:9 on inside => accept;
    send udp 10.0.0.2:3 -> 192.0.2.9:9 on inside => accept;
    send udp 10.0.0.2:4 -> 192.0.2.9:9 on inside => accept;
    send udp 10.0.0.2:5 -> 192.0.2.9:9 on inside => drop;
    send udp 192.0.2.9:9 -> 10.0.0.2:1 on outside => accept by est;
}
"#;

/// A file's program on the simulator (as written if DOCA takes it), the
/// manager's steps while its tests run, and its emitted C.
fn record(name: &str) -> (Vec<ManagerStep>, String) {
    let text = if name == "scenario" {
        SCENARIO.to_string()
    } else {
        std::fs::read_to_string(repo_root().join(format!("{name}.dpl"))).expect("read")
    };
    let narrowed = narrow_for_doca(&text);
    for text in [text, narrowed] {
        let lowered = lower_text("manager.dpl", &text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let program = &lowered.program;
        let Ok(mut doca) = Doca::for_program(program) else {
            continue;
        };
        assert!(doca.record_manager(), "{name}: does not track");
        let on_doca = run_suite(&mut doca, program, &lowered.suite);
        // The sequence is sw's too: the simulator agrees with the software pipeline.
        let mut sw = Software::new(program.clone()).expect("sw");
        for (a, b) in run_suite(&mut sw, program, &lowered.suite)
            .iter()
            .zip(&on_doca)
        {
            assert_eq!(a.observations, b.observations, "{name}, \"{}\"", a.name);
            assert!(
                b.failures.is_empty() || name != "scenario",
                "{:?}",
                b.failures
            );
        }
        let valid = dpuc_ir::validate(program).expect("valid");
        let c = dpuc_doca::emit(&valid, &dpuc_doca::Options::default())
            .expect("emits")
            .c;
        return (doca.manager_steps(), c);
    }
    panic!("{name} does not run on doca, even narrowed");
}

/// The harness's command for a step, and the answer it must give; with
/// `late`, aging is reported only when the manager asks the device.
fn command(step: &ManagerStep, late: bool) -> (String, String) {
    match step {
        ManagerStep::Reset => ("reset".into(), "ok\n".into()),
        ManagerStep::Aged(key) if late => (format!("late-age {key}"), "ok\n".into()),
        ManagerStep::Aged(key) => (format!("age {key}"), "ok\n".into()),
        ManagerStep::Packet(p) => {
            let hex: String = p.frame.iter().map(|b| format!("{b:02x}")).collect();
            let mut answer = format!("{}\n", p.delivery);
            for line in &p.table {
                answer.push_str(line);
                answer.push('\n');
            }
            (
                format!("pkt {} {} {} {hex}", p.class, p.in_port, p.now_ns),
                answer,
            )
        }
    }
}

/// Compiles the harness around `c`; `None` without gcc.
fn build(dir: &Path, stem: &str, c: &str) -> Option<std::path::PathBuf> {
    if Command::new("gcc").arg("--version").output().is_err() {
        println!("skipped: no gcc");
        return None;
    }
    let root = repo_root();
    let decls = root.join("tests/doca/doca_flow_decls.h");
    for h in ["doca_flow.h", "doca_flow_ct.h", "doca_bitfield.h"] {
        std::fs::write(dir.join(h), format!("#include \"{}\"\n", decls.display())).expect("stub");
    }
    let src = dir.join(format!("{stem}_doca.c"));
    std::fs::write(&src, c).expect("write C");
    let bin = dir.join(format!("{stem}_manager"));
    let out = Command::new("gcc")
        .args(["-std=gnu11", "-O1", "-Wall", "-Wextra", "-Werror"])
        .arg("-DDOCA_ALLOW_EXPERIMENTAL_API")
        .arg(format!("-DDPUC_FILE=\"{}\"", src.display()))
        .arg("-include")
        .arg(&decls)
        .arg("-I")
        .arg(dir)
        .arg(root.join("tests/doca/manager_harness.c"))
        .arg("-o")
        .arg(&bin)
        .output()
        .expect("run gcc");
    assert!(
        out.status.success(),
        "gcc rejected the manager harness for {stem}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(bin)
}

/// Runs the harness on the commands; its answers, one per command.
fn run(bin: &Path, commands: &[String]) -> Vec<String> {
    let mut child = Command::new(bin)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run harness");
    let mut input = commands.join("\n");
    input.push('\n');
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write commands");
    let out = child.wait_with_output().expect("harness output");
    assert!(out.status.success(), "the harness failed: {:?}", out.status);
    let mut answers = Vec::new();
    let mut block = String::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if line == "end" {
            answers.push(std::mem::take(&mut block));
        } else {
            block.push_str(line);
            block.push('\n');
        }
    }
    answers
}

/// The first step where the harness's answer is not the expected one.
fn first_difference(commands: &[String], expected: &[String], got: &[String]) -> Option<String> {
    (0..expected.len().max(got.len())).find_map(|i| {
        let (e, g) = (expected.get(i), got.get(i));
        (e != g).then(|| {
            let command = commands.get(i).map_or("", |c| c.as_str());
            let command = &command[..command.len().min(200)];
            format!(
                "step {i} `{command}`:\nexpected:\n{}got:\n{}",
                e.map_or("(nothing)\n", |s| s.as_str()),
                g.map_or("(nothing)\n", |s| s.as_str())
            )
        })
    })
}

#[test]
fn the_emitted_manager_keeps_the_tables_the_simulator_keeps() {
    let dir = std::env::temp_dir().join(format!("dpuc-doca-manager-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (mut packets, mut aged, mut full, mut echo, mut tcp_fin) = (0, 0, 0, 0, 0);
    for name in std::iter::once("scenario").chain(DOCA_TRACKER_FILES) {
        let (steps, c) = record(name);
        let stem = name.rsplit('/').next().unwrap_or(name).replace('-', "_");
        let Some(bin) = build(&dir, &stem, &c) else {
            return;
        };
        // Aging collected as it happens, then only when the manager asks.
        for late in [false, true] {
            let (commands, expected): (Vec<String>, Vec<String>) =
                steps.iter().map(|s| command(s, late)).unzip();
            let got = run(&bin, &commands);
            if let Some(diff) = first_difference(&commands, &expected, &got) {
                panic!("{name} (late aging: {late}): the C manager and the simulator disagree at {diff}");
            }
            // The comparison is not vacuous: a wrong table is told apart.
            if let Some(i) = expected.iter().position(|e| e.contains(" bits=")) {
                let mut wrong = expected.clone();
                wrong[i] = wrong[i].replacen(" bits=", " bits=1", 1);
                assert!(first_difference(&commands, &wrong, &got).is_some());
            }
        }
        for s in &steps {
            match s {
                ManagerStep::Aged(_) => aged += 1,
                ManagerStep::Packet(p) => {
                    packets += 1;
                    full += usize::from(p.delivery == "full");
                    echo += usize::from(p.table.iter().any(|l| l.starts_with("1 ")));
                    tcp_fin += usize::from(p.table.iter().any(|l| l.ends_with(" t=120")));
                }
                ManagerStep::Reset => {}
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!("manager: {packets} packets, {aged} aged connections, {full} full-table drops agree");
    // Guards against the sequence quietly shrinking.
    assert!(packets >= 80, "only {packets} packets reached the manager");
    assert!(aged >= 3, "only {aged} connections aged");
    assert!(full >= 1, "no full-table drop");
    assert!(echo >= 1, "no ICMP echo connection");
    assert!(tcp_fin >= 1, "no closing TCP connection");
}
