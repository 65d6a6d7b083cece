//! Lowering of a checked program to the match-action IR and its tests.

pub mod build;
pub mod dnf;
mod from_hir;
mod origins;
mod report;

pub use origins::Origins;
pub use report::report;

use crate::check::hir;
use crate::diag::Diagnostic;
use crate::span::SourceMap;
use dpuc_ir::test::Suite;
use dpuc_ir::Program;

/// A lowered policy file: the program and its inline tests.
#[derive(Clone, Debug)]
pub struct Lowered {
    /// The match-action program, validated.
    pub program: Program,
    /// The file's tests.
    pub suite: Suite,
    /// Where its rules and items are in the sources.
    pub origins: Origins,
}

/// Lowers a checked program named `name` (the file stem); `sources` gives
/// rules their line numbers.
pub fn lower(
    program: &hir::Program,
    sources: &SourceMap,
    name: &str,
) -> Result<Lowered, Vec<Diagnostic>> {
    let mut b = build::Builder::new(skeleton(program, name));
    let policies = from_hir::policies(&mut b, program, sources).map_err(|errs| {
        errs.into_iter()
            .map(|e| {
                Diagnostic::new("E0100", e.span, e.message)
                    .label("its predicate expands past what a table can hold")
                    .help("simplify the predicate, or use a named set")
            })
            .collect::<Vec<_>>()
    })?;
    let ir = b
        .finish(policies, from_hir::pipeline(program))
        .map_err(|e| vec![from_hir::build_error(program, e)])?;
    if let Err(e) = dpuc_ir::validate(&ir) {
        // Lowering only builds valid programs; this names a compiler bug.
        let span = program
            .policies
            .first()
            .map_or(crate::span::Span::new(crate::span::FileId(0), 0, 0), |p| {
                p.span
            });
        return Err(vec![Diagnostic::new(
            "E0100",
            span,
            format!("internal error: the lowered program is invalid: {e}"),
        )
        .label("please report this policy")]);
    }
    let origins = Origins::of(program, &ir);
    Ok(Lowered {
        program: ir,
        suite: from_hir::suite(program),
        origins,
    })
}

/// The stateful objects and sets, before any table exists.
fn skeleton(p: &hir::Program, name: &str) -> Program {
    use dpuc_ir as ir;
    let sets = p
        .sets
        .iter()
        .map(|s| ir::Set {
            name: s.name.clone(),
            ty: match s.ty {
                hir::Ty::Ip => ir::SetType::Ip,
                hir::Ty::Mac => ir::SetType::Mac,
                hir::Ty::Int(w) => ir::SetType::Int(w),
                _ => ir::SetType::Int(8),
            },
            elems: s
                .elems
                .iter()
                .filter_map(|e| match *e {
                    hir::Elem::V4(a, b) => Some(ir::Elem {
                        family: Some(ir::Family::V4),
                        lo: a.into(),
                        hi: b.into(),
                    }),
                    hir::Elem::V6(a, b) => Some(ir::Elem {
                        family: Some(ir::Family::V6),
                        lo: a,
                        hi: b,
                    }),
                    hir::Elem::Int(a, b) => Some(ir::Elem {
                        family: None,
                        lo: a,
                        hi: b,
                    }),
                    hir::Elem::IcmpType { .. } => None,
                })
                .collect(),
            tables: Vec::new(),
        })
        .collect();
    let meters = p
        .meters
        .iter()
        .map(|m| ir::Meter {
            name: m.name.clone(),
            kind: m.kind,
            unit: m.unit,
            per: m.per.clone(),
            max_keys: m.max_keys,
        })
        .collect();
    let conntrack = p.conntrack.as_ref().map(|c| ir::Conntrack {
        max_entries: c.max_entries,
        on_full: if c.evict_oldest {
            ir::OnFull::EvictOldest
        } else {
            ir::OnFull::Drop
        },
        timeouts: ir::Timeouts {
            tcp_handshake: c.timeouts[0],
            tcp_established: c.timeouts[1],
            tcp_closing: c.timeouts[2],
            udp: c.timeouts[3],
            udp_stream: c.timeouts[4],
            icmp: c.timeouts[5],
            other: c.timeouts[6],
        },
        zone: c.zone.clone(),
    });
    Program {
        name: name.to_string(),
        ports: p
            .ports
            .iter()
            .map(|x| ir::Port {
                name: x.name.clone(),
                number: x.number,
            })
            .collect(),
        sets,
        tables: Vec::new(),
        rules: Vec::new(),
        policies: Vec::new(),
        nodes: Vec::new(),
        pipeline: ir::Pipeline::Single { entry: 0 },
        counters: p.counters.iter().map(|c| c.name.clone()).collect(),
        meters,
        conntrack,
        hits: 0,
    }
}
