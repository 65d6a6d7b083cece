//! The assembler: instructions plus labelled jumps, resolved to offsets.

use super::{listing, Insn, JmpCond, Operand, Reg, Width};
use crate::Error;

/// A jump target inside one [`Program`]. Create with [`Program::label`],
/// place with [`Program::bind`]; forward and backward jumps both work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Label(u32);

impl Label {
    /// The label's number (for error messages and listings).
    pub fn number(self) -> u32 {
        self.0
    }
}

/// One element of a program before assembly.
#[derive(Clone, Debug)]
enum Item {
    Insn(Insn),
    /// `goto label` (`cond` = None) or `if dst cond src goto label`.
    Jump {
        cond: Option<(Width, JmpCond, Reg, Operand)>,
        target: Label,
    },
}

/// An instruction sequence under construction, with symbolic jump targets.
///
/// Mistakes (a label bound twice, a label from another program) are
/// remembered and reported by [`Program::assemble`], so building code stays a
/// plain sequence of calls.
#[derive(Clone, Debug, Default)]
pub struct Program {
    items: Vec<Item>,
    /// For each label, the item index it is bound before.
    labels: Vec<Option<usize>>,
    /// First misuse seen while building.
    error: Option<Error>,
}

/// Where a program loads a map's address: the `ld_imm64` at `slot` must be
/// patched with the map (in an object: an `R_BPF_64_64` relocation at byte `slot * 8`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapRef {
    /// Slot index (8-byte units) of the `ld_imm64`.
    pub slot: usize,
    /// The map's name.
    pub map: String,
}

/// Where a program loads a subprogram's address: the `ld_imm64` (with
/// `src_reg = BPF_PSEUDO_FUNC`) at `slot` must point at `func` (in an
/// object: an `R_BPF_64_64` relocation against `.text`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FuncRef {
    /// Slot index (8-byte units) of the `ld_imm64`.
    pub slot: usize,
    /// The subprogram's name.
    pub func: String,
}

/// An assembled program: instructions with resolved offsets, their encoding,
/// and the map and subprogram references to relocate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assembled {
    insns: Vec<Insn>,
    bytes: Vec<u8>,
    map_refs: Vec<MapRef>,
    func_refs: Vec<FuncRef>,
}

impl Program {
    /// An empty program.
    pub fn new() -> Self {
        Self::default()
    }

    /// A fresh, unbound label.
    pub fn label(&mut self) -> Label {
        let n = u32::try_from(self.labels.len()).unwrap_or(u32::MAX);
        self.labels.push(None);
        Label(n)
    }

    /// Places `label` before the next instruction pushed.
    pub fn bind(&mut self, label: Label) -> &mut Self {
        let here = self.items.len();
        match self.labels.get_mut(label.0 as usize) {
            None => self.fail(Error::UnknownLabel(label.0)),
            Some(Some(_)) => self.fail(Error::LabelBoundTwice(label.0)),
            Some(slot) => *slot = Some(here),
        }
        self
    }

    /// Appends an instruction. Raw jumps keep the offset they carry.
    pub fn push(&mut self, insn: Insn) -> &mut Self {
        self.items.push(Item::Insn(insn));
        self
    }

    /// Appends several instructions.
    pub fn extend(&mut self, insns: impl IntoIterator<Item = Insn>) -> &mut Self {
        for i in insns {
            self.push(i);
        }
        self
    }

    /// `goto target`.
    pub fn jump(&mut self, target: Label) -> &mut Self {
        self.items.push(Item::Jump { cond: None, target });
        self
    }

    /// `if dst cond src goto target`, comparing 64-bit values.
    pub fn jump_if(
        &mut self,
        cond: JmpCond,
        dst: Reg,
        src: impl Into<Operand>,
        target: Label,
    ) -> &mut Self {
        self.jump_if_width(Width::W64, cond, dst, src, target)
    }

    /// `if wdst cond wsrc goto target`, comparing the low 32 bits (`BPF_JMP32`).
    pub fn jump32_if(
        &mut self,
        cond: JmpCond,
        dst: Reg,
        src: impl Into<Operand>,
        target: Label,
    ) -> &mut Self {
        self.jump_if_width(Width::W32, cond, dst, src, target)
    }

    fn jump_if_width(
        &mut self,
        width: Width,
        cond: JmpCond,
        dst: Reg,
        src: impl Into<Operand>,
        target: Label,
    ) -> &mut Self {
        self.items.push(Item::Jump {
            cond: Some((width, cond, dst, src.into())),
            target,
        });
        self
    }

    /// `dst = &map` (an `ld_imm64` relocated against the map's symbol).
    pub fn ld_map(&mut self, dst: Reg, map: impl Into<String>) -> &mut Self {
        self.push(Insn::ld_map(dst, map))
    }

    /// `dst = &func` (an `ld_imm64` relocated against `.text`).
    pub fn ld_func(&mut self, dst: Reg, func: impl Into<String>) -> &mut Self {
        self.push(Insn::ld_func(dst, func))
    }

    /// Number of instructions pushed so far (jumps included, slots not counted).
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing was pushed yet.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    fn fail(&mut self, e: Error) {
        if self.error.is_none() {
            self.error = Some(e);
        }
    }

    /// Resolves labels to offsets and encodes every instruction.
    ///
    /// Fails on the first misuse recorded while building, an unbound or
    /// foreign label, a label bound past the last instruction, a jump whose
    /// offset does not fit 16 bits, or an instruction without an encoding.
    pub fn assemble(&self) -> Result<Assembled, Error> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        // Slot index of every item, and of the end.
        let mut slot_of = Vec::with_capacity(self.items.len() + 1);
        let mut slot = 0usize;
        for item in &self.items {
            slot_of.push(slot);
            slot += match item {
                Item::Insn(i) => i.slots(),
                Item::Jump { .. } => 1,
            };
        }
        let end = self.items.len();
        let mut insns = Vec::with_capacity(self.items.len());
        for (idx, item) in self.items.iter().enumerate() {
            let insn = match item {
                Item::Insn(i) => i.clone(),
                Item::Jump { cond, target } => {
                    let bound = self
                        .labels
                        .get(target.0 as usize)
                        .ok_or(Error::UnknownLabel(target.0))?
                        .ok_or(Error::UnboundLabel(target.0))?;
                    if bound >= end {
                        return Err(Error::LabelPastEnd(target.0));
                    }
                    // Offsets count slots from the instruction after the jump.
                    let offset = slot_of[bound] as i64 - (slot_of[idx] as i64 + 1);
                    let off = i16::try_from(offset).map_err(|_| Error::JumpOutOfRange {
                        at: slot_of[idx],
                        label: target.0,
                        offset,
                    })?;
                    match cond {
                        None => Insn::Ja { off },
                        Some((width, cond, dst, src)) => Insn::Jmp {
                            width: *width,
                            cond: *cond,
                            dst: *dst,
                            src: *src,
                            off,
                        },
                    }
                }
            };
            insns.push(insn);
        }
        Assembled::from_insns(insns)
    }
}

impl Assembled {
    /// Wraps already-resolved instructions (raw offsets), encoding them.
    pub fn from_insns(insns: Vec<Insn>) -> Result<Assembled, Error> {
        let mut bytes = Vec::with_capacity(insns.len() * 8);
        let mut map_refs = Vec::new();
        let mut func_refs = Vec::new();
        for insn in &insns {
            match insn {
                Insn::LdMap { map, .. } => map_refs.push(MapRef {
                    slot: bytes.len() / 8,
                    map: map.clone(),
                }),
                Insn::LdFunc { func, .. } => func_refs.push(FuncRef {
                    slot: bytes.len() / 8,
                    func: func.clone(),
                }),
                _ => {}
            }
            insn.encode_into(&mut bytes)?;
        }
        Ok(Assembled {
            insns,
            bytes,
            map_refs,
            func_refs,
        })
    }

    /// The instructions, offsets resolved.
    pub fn insns(&self) -> &[Insn] {
        &self.insns
    }

    /// The encoding: 8 bytes per slot, little endian.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Number of 8-byte slots (what the kernel calls `insn_cnt`).
    pub fn slot_count(&self) -> usize {
        self.bytes.len() / 8
    }

    /// The map references, in program order.
    pub fn map_refs(&self) -> &[MapRef] {
        &self.map_refs
    }

    /// The subprogram references, in program order.
    pub fn func_refs(&self) -> &[FuncRef] {
        &self.func_refs
    }

    /// A bpftool-like listing, one instruction per line (see [`listing`]).
    pub fn listing(&self) -> String {
        listing(&self.insns)
    }
}
