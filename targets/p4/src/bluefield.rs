//! NVIDIA BlueField backend (DOCA Pipeline Language).
//!
//! Not implemented yet: rather than emit DOCA P4 whose extern names and
//! semantics have not been checked against NVIDIA's documentation, every
//! program is refused with [`Error::NotImplemented`].

use serde::Deserialize;

/// BlueField backend options.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Options {
    /// Target profile name (see [`crate::Profile::builtin`]).
    pub profile: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            profile: "bluefield-3".into(),
        }
    }
}

/// Why the BlueField backend refuses a program.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The backend is not written yet.
    #[error("target bluefield: the DOCA Pipeline Language backend is not implemented yet; use the pna target")]
    NotImplemented,
}

/// Lowers `program` to DOCA P4. Currently always refuses.
pub fn emit(_program: &dpuc_ir::Valid, _options: &Options) -> Result<crate::Artifact, Error> {
    Err(Error::NotImplemented)
}
