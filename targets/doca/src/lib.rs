//! `dpuc-doca`: the DOCA Flow backend of dpuc.
//!
//! [`emit`] lowers a validated IR program to DOCA Flow pipes ([`model`]):
//! a root CONTROL pipe that steers by ingress port and packet variant
//! (outer L3 and L4 type), ACL pipes for rule tables, LPM / BASIC / ACL
//! pipes for set lookups that write hit bits into `meta.u32`, BASIC pipes
//! for named counters (shared counters), rewrites and meters (shared
//! meters) followed by CONTROL pipes on `parser_meta.meter_color`, and,
//! for programs that track connections, a DOCA Flow CT pipe, ICMP echo
//! pipes, state pipes that compute `ct.state`, and exit pipes that hand
//! packets to the connection manager (`src/ct.rs`). The pipes are
//! serialized as `NAME.doca.json` and printed as a C file for the DOCA
//! 3.3 API that installs them.

mod c;
mod ct;
mod error;
mod fields;
mod lower;
pub mod model;
mod refusal;

pub use error::Error;
pub use model::Pipes;

use serde::Deserialize;
use std::fmt::Write as _;

/// Backend options.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Options {
    /// Most entries per ACL pipe; larger rule tables become chained pipes
    /// (each one's `fwd_miss` is the next).
    pub acl_max_entries: u32,
    /// Port that `accept` sends to in a program without a `pipeline`
    /// block; `None` sends accepted packets to the kernel
    /// (`DOCA_FLOW_FWD_TARGET`, `DOCA_FLOW_TARGET_KERNEL`).
    pub accept_port: Option<u32>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            acl_max_entries: 8192,
            accept_port: None,
        }
    }
}

/// What the backend produces.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Artifact {
    /// `NAME_doca.c`.
    pub c: String,
    /// `NAME.doca.json`: the pipe model.
    pub json: String,
    /// Human-readable report: pipes, mappings, notes.
    pub report: String,
    /// The pipe model that `json` serializes (what the simulator runs).
    pub pipes: Pipes,
}

/// Lowers a validated program to DOCA Flow.
pub fn emit(program: &dpuc_ir::Valid, options: &Options) -> Result<Artifact, Error> {
    let p: &dpuc_ir::Program = program;
    if let Some(port) = options.accept_port {
        if port > 0xffff {
            return Err(Error::Unsupported {
                what: format!("accept_port {port}"),
                reason: "DOCA Flow port ids are 16 bits".into(),
            });
        }
    }
    let lowered = lower::lower(p, options)?;
    let json = serde_json::to_string_pretty(&lowered.pipes)
        .map_err(|e| Error::Internal(e.to_string()))?
        + "\n";
    let c = c::print(&lowered.pipes, p.rules.len() as u32);
    let report = report(&lowered.pipes, &lowered.notes);
    Ok(Artifact {
        c,
        json,
        report,
        pipes: lowered.pipes,
    })
}

fn report(pipes: &Pipes, notes: &[String]) -> String {
    let mut r = String::new();
    let _ = writeln!(r, "target doca: {} ({})", pipes.program, pipes.api);
    let _ = writeln!(r, "ports: {}", pipes.ports);
    let _ = writeln!(
        r,
        "metadata: hit bits in {} ({} word(s)), meta.mark in {}",
        pipes.metadata.hit_bits, pipes.metadata.hit_words, pipes.metadata.mark
    );
    let entries: usize = pipes.pipes.iter().map(|p| p.entries.len()).sum();
    let _ = writeln!(r, "pipes: {}, entries: {entries}", pipes.pipes.len());
    for p in &pipes.pipes {
        let _ = writeln!(
            r,
            "  {:>3} {:<8} {:<40} {:>6} entries  {}",
            p.id,
            format!("{:?}", p.ty).to_uppercase(),
            p.name,
            p.entries.len(),
            p.purpose
        );
    }
    if !pipes.shared_counters.is_empty() {
        let _ = writeln!(r, "shared counters: {}", pipes.shared_counters.join(", "));
    }
    for m in &pipes.shared_meters {
        let _ = writeln!(
            r,
            "shared meter {}: {} {} cir {} cbs {}{}",
            m.name,
            m.alg,
            m.limit_type,
            m.cir,
            m.cbs,
            match (m.ebs, m.pir, m.pbs) {
                (Some(e), _, _) => format!(" ebs {e}"),
                (_, Some(p), Some(b)) => format!(" pir {p} pbs {b}"),
                _ => String::new(),
            }
        );
    }
    if let Some(ct) = &pipes.ct {
        let t = &ct.timeouts_s;
        let _ = writeln!(
            r,
            "conntrack: CT pipe {}, ICMP echo pipes {:?}; max_entries {}; zone {}",
            ct.pipe,
            ct.echo_pipes,
            ct.max_entries,
            ct.zone.as_deref().unwrap_or("none")
        );
        let _ = writeln!(
            r,
            "conntrack timeouts (s): tcp_handshake {} tcp_established {} tcp_closing {} udp {} udp_stream {} icmp {}",
            t.tcp_handshake, t.tcp_established, t.tcp_closing, t.udp, t.udp_stream, t.icmp
        );
        let _ = writeln!(
            r,
            "conntrack words: connection bits meta.u32[{}], ct.mark meta.u32[{}]{}; {} connection manager classes (meta.pkt_meta, then RSS)",
            ct.words.state,
            ct.words.mark,
            ct.words
                .zone
                .map(|z| format!(", zone meta.u32[{z}]"))
                .unwrap_or_default(),
            ct.classes.len()
        );
    }
    for n in notes {
        let _ = writeln!(r, "note: {n}");
    }
    r
}
