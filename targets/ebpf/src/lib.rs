//! `dpuc-ebpf`: the layer under the eBPF backend of dpuc.
//!
//! - [`insn`]: eBPF instructions as a typed [`insn::Insn`] enum with their
//!   8-byte encodings, an assembler ([`insn::Program`]) with labels, and a
//!   bpftool-like listing for snapshots.
//! - [`btf`]: a BTF type-section writer.
//! - [`elf`]: a relocatable ELF64 (`EM_BPF`) object writer with program
//!   sections, static callbacks in `.text`, BTF-defined maps in `.maps`,
//!   `license`, `.BTF`, `.BTF.ext` and `R_BPF_64_64` relocations, in the
//!   layout libbpf 1.x, bpftool and `tc` accept.
//!
//! Nothing here needs a kernel; `dpuc-runtime` (feature `ebpf`) loads the
//! objects through the raw `bpf()` syscall and is where they are tested for
//! real. The layout is described in the book, chapter "eBPF objects".

pub mod btf;
pub mod codegen;
pub mod elf;
pub mod insn;
mod refusal;

pub use codegen::{emit, Artifact, Hook, Options};

/// Everything that can go wrong while assembling a program or writing an object.
///
/// Bad input (a jump too far, a map whose BTF shape disagrees with its sizes,
/// a name the kernel would refuse) is reported here, never by a panic.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A jump's offset does not fit the 16-bit offset field.
    #[error(
        "jump at instruction {at} to label {label} needs offset {offset}, outside -32768..=32767"
    )]
    JumpOutOfRange {
        /// Slot index of the jump.
        at: usize,
        /// The target label's number.
        label: u32,
        /// The offset that would be needed, in instruction slots.
        offset: i64,
    },
    /// A label was jumped to but never bound.
    #[error("label {0} is jumped to but never bound")]
    UnboundLabel(u32),
    /// A label was bound twice.
    #[error("label {0} is bound twice")]
    LabelBoundTwice(u32),
    /// A label was not created by this program.
    #[error("label {0} does not belong to this program")]
    UnknownLabel(u32),
    /// A label is bound after the last instruction, so jumping to it leaves the program.
    #[error("label {0} is bound past the last instruction")]
    LabelPastEnd(u32),
    /// An instruction that has no valid encoding (e.g. a 32-bit sign extension from 32 bits).
    #[error("invalid instruction: {0}")]
    InvalidInsn(String),
    /// Bytes that do not decode to an instruction.
    #[error("cannot decode instruction at slot {slot}: {reason}")]
    Decode {
        /// Slot index.
        slot: usize,
        /// What is wrong.
        reason: String,
    },
    /// A program with no instructions.
    #[error("program `{0}` has no instructions")]
    EmptyProgram(String),
    /// A program references a map the object does not define.
    #[error("program `{program}` references unknown map `{map}`")]
    UnknownMap {
        /// The program.
        program: String,
        /// The map name it references.
        map: String,
    },
    /// A program or subprogram refers to a subprogram the object does not define.
    #[error("`{program}` refers to unknown function `{func}`")]
    UnknownFunction {
        /// The referring function.
        program: String,
        /// The function name it references.
        func: String,
    },
    /// Two maps, two programs, or two program sections share a name.
    #[error("duplicate {what} `{name}`")]
    Duplicate {
        /// "map", "program" or "section".
        what: &'static str,
        /// The repeated name.
        name: String,
    },
    /// A name the kernel or libbpf would refuse (not a C identifier, too long, …).
    #[error("invalid {what} name `{name}`: {reason}")]
    InvalidName {
        /// "map", "program", "section", "struct", "field".
        what: &'static str,
        /// The offending name.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// A map definition the kernel would refuse at `BPF_MAP_CREATE`.
    #[error("map `{map}`: {reason}")]
    InvalidMap {
        /// The map.
        map: String,
        /// Why it is refused.
        reason: String,
    },
    /// A key or value shape that is inconsistent on its own (overlapping fields, …).
    #[error("invalid shape `{name}`: {reason}")]
    InvalidShape {
        /// The struct or field concerned.
        name: String,
        /// Why.
        reason: String,
    },
    /// The object would exceed a format limit (e.g. a section over 4 GiB).
    #[error("object too large: {0}")]
    TooLarge(&'static str),
}
