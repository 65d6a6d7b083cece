//! Why the DOCA Flow backend refuses a program.

/// A refusal. Every message starts with `target doca:` and names the rule
/// (as `policy.rule`), table or meter at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A rule uses a construct DOCA Flow cannot express.
    #[error("target doca: rule `{rule}` uses {construct}: {reason}")]
    Rule {
        /// The rule, as `policy.rule` (or `policy (default)`).
        rule: String,
        /// The construct (`reject`, `log`, `mirror`, a field...).
        construct: String,
        /// Why DOCA Flow cannot do it.
        reason: String,
    },
    /// A meter DOCA Flow's shared meters cannot express.
    #[error("target doca: meter `{meter}` (used by rule `{rule}`): {reason}")]
    Meter {
        /// The meter.
        meter: String,
        /// The first rule that uses it.
        rule: String,
        /// Why.
        reason: String,
    },
    /// Something not tied to one rule.
    #[error("target doca: {what}: {reason}")]
    Unsupported {
        /// What is refused.
        what: String,
        /// Why.
        reason: String,
    },
    /// The pipe description could not be serialized (a bug).
    #[error("target doca: internal error: {0}")]
    Internal(String),
}
