//! Diagnostics as data: a stable code, a message, a primary label on the
//! exact span, secondary labels, and an optional help line.
//!
//! Passes only build [`Diagnostic`]s; [`render`] is the one place that turns
//! them into text (human or JSON).

mod codes;
mod refusal;
pub mod render;

pub use codes::{lookup, CodeInfo, CODES};
pub use refusal::refusal;

use crate::span::Span;
use serde::Serialize;

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Compilation fails.
    Error,
    /// Compilation goes on.
    Warning,
}

/// A span with a message.
#[derive(Clone, Debug, PartialEq)]
pub struct Label {
    /// Where.
    pub span: Span,
    /// What about it (may be empty).
    pub message: String,
}

/// One problem found in the sources.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    /// Stable code, `E0001` or `W0001`; must be listed in [`CODES`].
    pub code: &'static str,
    /// One-line message.
    pub message: String,
    /// The exact place of the problem.
    pub primary: Label,
    /// Other places involved (the first definition of a duplicate...).
    pub secondary: Vec<Label>,
    /// A likely fix, printed as `help: ...`.
    pub help: Option<String>,
}

impl Diagnostic {
    /// A diagnostic with `code`, `message` and a primary label at `span`.
    pub fn new(code: &'static str, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            message: message.into(),
            primary: Label {
                span,
                message: String::new(),
            },
            secondary: Vec::new(),
            help: None,
        }
    }

    /// Sets the primary label's message.
    pub fn label(mut self, message: impl Into<String>) -> Self {
        self.primary.message = message.into();
        self
    }

    /// Adds a secondary label.
    pub fn secondary(mut self, span: Span, message: impl Into<String>) -> Self {
        self.secondary.push(Label {
            span,
            message: message.into(),
        });
        self
    }

    /// Sets the help line.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Error or warning, from the code's first letter.
    pub fn severity(&self) -> Severity {
        if self.code.starts_with('W') {
            Severity::Warning
        } else {
            Severity::Error
        }
    }
}

/// Whether any of `diags` is an error.
pub fn has_errors(diags: &[Diagnostic]) -> bool {
    diags.iter().any(|d| d.severity() == Severity::Error)
}
