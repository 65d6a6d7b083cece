//! DOCA build errors as [`Refusal`]s, for the driver to place on the source.

use crate::Error;
use dpuc_ir::{Refusal, RefusalKind, Subject};

impl Error {
    /// This error as a [`Refusal`] of target `doca`.
    pub fn refusal(&self) -> Refusal {
        match self {
            Error::Rule {
                rule,
                construct,
                reason,
            } => Refusal::unsupported(
                "doca",
                Refusal::subject_of(rule),
                format!("{construct}: {reason}"),
            ),
            Error::Meter {
                meter,
                rule,
                reason,
            } => Refusal::unsupported(
                "doca",
                Refusal::subject_of(rule),
                format!("meter `{meter}`: {reason}"),
            ),
            Error::Unsupported { what, reason } => {
                Refusal::unsupported("doca", Subject::Program, format!("{what}: {reason}"))
            }
            Error::Internal(e) => Refusal::unsupported("doca", Subject::Program, e.clone())
                .kind(RefusalKind::Internal),
        }
    }
}
