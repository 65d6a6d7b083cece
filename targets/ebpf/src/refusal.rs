//! eBPF build errors as [`Refusal`]s, for the driver to place on the source.

use crate::codegen::Error;
use dpuc_ir::{Refusal, RefusalKind, Subject};

impl Error {
    /// This error as a [`Refusal`] of target `ebpf`.
    pub fn refusal(&self) -> Refusal {
        match self {
            Error::Unsupported {
                hook,
                rule,
                feature,
                help,
            } => {
                let on = hook.map_or(String::new(), |h| format!(" on the {} hook", h.name()));
                Refusal::unsupported(
                    "ebpf",
                    Refusal::subject_of(rule),
                    format!("{feature} is not supported{on}"),
                )
                .help(help.clone())
            }
            Error::Table { table, reason } => {
                Refusal::unsupported("ebpf", Subject::Table(table.clone()), reason.clone())
            }
            Error::Stack => Refusal::unsupported(
                "ebpf",
                Subject::Program,
                "the policy reads more fields than the 512-byte eBPF stack holds",
            )
            .kind(RefusalKind::Capacity),
            Error::Object(e) => Refusal::unsupported("ebpf", Subject::Program, e.to_string())
                .kind(RefusalKind::Internal),
        }
    }
}
