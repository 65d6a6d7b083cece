//! Checks a pipe model before the simulator runs it, so that running it
//! cannot index out of bounds or loop: every reference is in range and
//! every pipe forwards only to pipes created before it.

use dpuc_doca::model::{CtTable, DocaField, Fwd, Pipe, PipeType, Pipes, SharedMeter};
use dpuc_ir::{prefix_mask, MeterKind, MeterUnit, Program};

/// Most `meta.u32` words a model may use.
pub const MAX_META_WORDS: u32 = 1024;

/// The root pipe's index; `Err` says what is wrong with the model.
pub fn check(pipes: &Pipes, program: &Program) -> Result<usize, String> {
    let mut root = None;
    for (i, p) in pipes.pipes.iter().enumerate() {
        let at = |what: String| format!("pipe {i} `{}`: {what}", p.name);
        if p.id as usize != i {
            return Err(at(format!("id {} is not its index", p.id)));
        }
        if p.is_root {
            if root.is_some() {
                return Err(at("a second root pipe".into()));
            }
            root = Some(i);
        }
        check_pipe(i, p, pipes, program).map_err(at)?;
    }
    check_ct(pipes)?;
    root.ok_or_else(|| "no root pipe".to_string())
}

/// The tracker's part of the model: its pipes, words and classes.
fn check_ct(pipes: &Pipes) -> Result<(), String> {
    let tables: Vec<(usize, CtTable)> = pipes
        .pipes
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.table.map(|t| (i, t)))
        .collect();
    let Some(ct) = &pipes.ct else {
        if tables.is_empty() && pipes.metadata.mark_word.is_none() {
            return Ok(());
        }
        return Err("connection tables without a tracker".into());
    };
    let table_of = |id: u32| pipes.pipes.get(id as usize).and_then(|p| p.table);
    if table_of(ct.pipe) != Some(CtTable::Conn) || pipes.pipes[ct.pipe as usize].ty != PipeType::Ct
    {
        return Err(format!("tracker: pipe {} is not the CT pipe", ct.pipe));
    }
    for &e in &ct.echo_pipes {
        if table_of(e) != Some(CtTable::IcmpEcho) {
            return Err(format!("tracker: pipe {e} is not an echo pipe"));
        }
    }
    if tables.len() != 1 + ct.echo_pipes.len() {
        return Err("tracker: connection tables the tracker does not name".into());
    }
    let words = [Some(ct.words.state), Some(ct.words.mark), ct.words.zone];
    for w in words.into_iter().flatten() {
        if w >= MAX_META_WORDS {
            return Err(format!(
                "tracker: meta.u32[{w}] is beyond {MAX_META_WORDS} words"
            ));
        }
    }
    if pipes
        .metadata
        .mark_word
        .is_some_and(|w| w >= MAX_META_WORDS)
    {
        return Err("meta.mark is beyond the metadata words".into());
    }
    for (i, c) in ct.classes.iter().enumerate() {
        if !matches!(c.fwd, Fwd::Drop | Fwd::Kernel | Fwd::Port(0..=0xffff)) {
            return Err(format!("tracker: class {i} delivers to {:?}", c.fwd));
        }
    }
    Ok(())
}

fn check_fwd(i: usize, f: Fwd, pipes: &Pipes) -> Result<(), String> {
    match f {
        Fwd::Pipe(t) if t as usize >= i => {
            Err(format!("forwards to pipe {t}, not created before it"))
        }
        Fwd::Port(p) if p > 0xffff => Err(format!("forwards to port {p}, over 16 bits")),
        Fwd::Software(c)
            if pipes
                .ct
                .as_ref()
                .is_none_or(|ct| c as usize >= ct.classes.len()) =>
        {
            Err(format!(
                "sends to manager class {c}, which the model does not have"
            ))
        }
        _ => Ok(()),
    }
}

fn check_field(f: DocaField, value: u128, mask: u128) -> Result<(), String> {
    let bits = f.bytes() * 8;
    let room = prefix_mask(bits, bits);
    if let DocaField::MetaU32(w) = f {
        if w >= MAX_META_WORDS {
            return Err(format!("meta.u32[{w}] is beyond {MAX_META_WORDS} words"));
        }
    }
    if value & !room != 0 || mask & !room != 0 {
        return Err(format!(
            "{}: value or mask wider than the member",
            f.member()
        ));
    }
    Ok(())
}

fn check_pipe(i: usize, p: &Pipe, pipes: &Pipes, program: &Program) -> Result<(), String> {
    for f in [p.fwd_miss, p.fwd].into_iter().flatten() {
        check_fwd(i, f, pipes)?;
    }
    if p.table.is_some() != p.fwd.is_some() || (p.table.is_some() && !p.entries.is_empty()) {
        return Err("a connection table has a pipe forward and no installed entries".into());
    }
    if p.ty == PipeType::Ct && p.table != Some(CtTable::Conn) {
        return Err("a CT pipe must be the connection table".into());
    }
    for w in &p.write_fields {
        check_field(w.field, 0, w.mask)?;
    }
    for (k, e) in p.entries.iter().enumerate() {
        let at = |what: String| format!("entry {k}: {what}");
        check_fwd(i, e.fwd, pipes).map_err(at)?;
        for m in &e.matches {
            check_field(m.field, m.value, m.mask).map_err(at)?;
            if !p.match_fields.contains(&m.field) {
                return Err(at(format!(
                    "{} is not in the match template",
                    m.field.member()
                )));
            }
        }
        for w in &e.writes {
            check_field(w.field, w.value, w.mask).map_err(at)?;
        }
        if e.counter
            .is_some_and(|c| c as usize >= pipes.shared_counters.len())
        {
            return Err(at("no such shared counter".into()));
        }
        if e.meter
            .is_some_and(|m| m as usize >= pipes.shared_meters.len())
        {
            return Err(at("no such shared meter".into()));
        }
        for r in [e.rule, e.verdict_rule].into_iter().flatten() {
            if r as usize >= program.rules.len() {
                return Err(at(format!("no rule {r} in the program")));
            }
        }
        match p.ty {
            PipeType::Lpm => {
                let [m] = e.matches.as_slice() else {
                    return Err(at("an LPM entry matches exactly one field".into()));
                };
                let bits = m.field.bytes() * 8;
                let len = m.mask.count_ones();
                if m.mask != prefix_mask(bits, len) {
                    return Err(at("an LPM mask must be a prefix".into()));
                }
            }
            PipeType::Basic | PipeType::Ct => {
                for m in &e.matches {
                    let bits = m.field.bytes() * 8;
                    if m.mask != prefix_mask(bits, bits) {
                        return Err(at("a BASIC entry matches whole members".into()));
                    }
                }
            }
            PipeType::Acl | PipeType::Control => {}
        }
    }
    Ok(())
}

/// The IR meter kind that colours exactly as DOCA meter `m` does, in the
/// units of [`crate::meter::MeterState`] (which counts bits for byte
/// meters: a DOCA rate of C bytes/s is 8·C bits/s, the same buckets).
pub fn meter_kind(m: &SharedMeter) -> Result<(MeterKind, MeterUnit), String> {
    let bad = |what: &str| format!("shared meter `{}`: {what}", m.name);
    let (unit, scale) = match m.limit_type.as_str() {
        "DOCA_FLOW_METER_LIMIT_TYPE_BYTES" => (MeterUnit::Bytes, 8u64),
        "DOCA_FLOW_METER_LIMIT_TYPE_PACKETS" => (MeterUnit::Packets, 1),
        other => return Err(bad(&format!("unknown limit type {other}"))),
    };
    let rate = |r: u64| r.checked_mul(scale).ok_or_else(|| bad("rate overflows"));
    let kind = match (m.alg.as_str(), m.ebs, m.pir, m.pbs) {
        ("DOCA_FLOW_METER_ALGORITHM_TYPE_RFC2697", Some(ebs), None, None) => MeterKind::SrTcm {
            cir: rate(m.cir)?,
            cbs: m.cbs,
            ebs,
        },
        ("DOCA_FLOW_METER_ALGORITHM_TYPE_RFC2698", None, Some(pir), Some(pbs)) => {
            MeterKind::TrTcm {
                cir: rate(m.cir)?,
                cbs: m.cbs,
                pir: rate(pir)?,
                pbs,
            }
        }
        (alg, ..) => return Err(bad(&format!("{alg} with these parameters"))),
    };
    Ok((kind, unit))
}
