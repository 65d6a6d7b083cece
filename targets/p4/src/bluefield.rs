//! NVIDIA BlueField backend: P4 in the DOCA Pipeline Language (DPL) for
//! the DOCA target architecture of BlueField-3.
//!
//! The lowering is the PNA backend's ([`crate::pna`]): the same unfolded
//! control flow, tables, actions, entries and P4Info, written against the
//! DOCA architecture instead of `pna.p4`:
//!
//! - the four DOCA includes (`doca_model.p4`, `doca_headers.p4`,
//!   `doca_externs.p4`, `doca_parser.p4`) and the hardware's fixed parser
//!   and header struct (`nv_fixed_parser()`, `nv_headers_t`), instantiated
//!   as `NvDocaPipeline(nv_fixed_parser(), dpuc_main()) main;`;
//! - one control with the DOCA signature (`nv_headers_t`,
//!   `nv_standard_metadata_t`, user metadata, `nv_empty_metadata_t`);
//! - `nv_drop()` and `nv_send_to_port(port)` for verdicts,
//!   `std_meta.ingress_port` for the pipeline's ingress dispatch;
//! - `NvCounter(size, NvCounterType.PACKETS_AND_BYTES)` for rule hits and
//!   named counters, sizes rounded up to powers of two, and table sizes
//!   that are powers of two with one slot left for the default entry;
//! - `range` keys expanded into ternary prefix covers (the profile says
//!   ranges are not native).
//!
//! Everything whose DOCA spelling is not in NVIDIA's public documentation
//! is refused with an [`Error`] naming the target: meters, mirroring,
//! header rewrites, conntrack, `log`, `reject`, and keys on fields whose
//! names in `nv_headers_t` are not documented (see [`check_field`]).

use crate::pna::{self, Arch};
use dpuc_ir::{Field, FieldRef, Header};
use serde::Deserialize;

/// BlueField backend options.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Options {
    /// Target profile name (see [`crate::Profile::builtin`]).
    pub profile: String,
    /// Bake entries into the program as `const entries` (highest priority
    /// first) instead of emitting them as P4Runtime updates.
    pub const_entries: bool,
    /// Port that `accept` sends to in a program without a `pipeline`
    /// block; `None` leaves the packet's destination at the default.
    pub accept_port: Option<u32>,
    /// Largest number of table applications the unfolded control flow may
    /// have.
    pub max_applications: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            profile: "bluefield-3".into(),
            const_entries: false,
            accept_port: None,
            max_applications: 256,
        }
    }
}

/// Why the BlueField backend refuses a program: a reason of the lowering it
/// shares with PNA ([`pna::Error`]), shown as `target bluefield`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error(pub pna::Error);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = self.0.to_string();
        let rest = text.strip_prefix("target pna").unwrap_or(&text);
        write!(f, "target bluefield{rest}")
    }
}

impl std::error::Error for Error {}

impl From<pna::Error> for Error {
    fn from(e: pna::Error) -> Self {
        Error(e)
    }
}

impl Error {
    /// This error as a [`dpuc_ir::Refusal`], for the driver to place on the source.
    pub fn refusal(&self) -> dpuc_ir::Refusal {
        dpuc_ir::Refusal {
            target: "bluefield".into(),
            ..self.0.refusal()
        }
    }
}

/// Lowers `program` to DOCA Pipeline Language P4 for BlueField.
pub fn emit(program: &dpuc_ir::Valid, options: &Options) -> Result<crate::Artifact, Error> {
    let o = pna::Options {
        profile: options.profile.clone(),
        const_entries: options.const_entries,
        accept_port: options.accept_port,
        max_applications: options.max_applications,
        flavor: pna::Flavor::Reference,
    };
    Ok(pna::emit_for(program, &o, Arch::BlueField)?)
}

/// Whether a key may read `f` on the DOCA target: only fields whose header
/// and field names in the fixed parser's `nv_headers_t` appear in NVIDIA's
/// public DPL examples (`ethernet.{src,dst}_addr`, `ipv4.{src,dst}_addr`,
/// `udp.{src,dst}_port`, `tcp.{src,dst}_port`), presence of those headers,
/// the ingress port (`std_meta.ingress_port`) and `meta.mark` (user
/// metadata). Inner (`inner.*`) fields are refused.
pub(crate) fn check_field(f: FieldRef) -> Result<(), pna::Error> {
    use Field::*;
    let ok = !f.inner
        && matches!(
            f.field,
            Valid(Header::Eth | Header::Ipv4 | Header::Tcp | Header::Udp)
                | EthSrc
                | EthDst
                | Ip4Src
                | Ip4Dst
                | TcpSport
                | TcpDport
                | UdpSport
                | UdpDport
                | InPort
                | MetaMark
        );
    if ok {
        Ok(())
    } else {
        Err(pna::Error::unsupported(None, format!(
            "matching on {} (its name in the DOCA fixed parser's headers is not publicly documented)",
            f.describe()
        )))
    }
}
