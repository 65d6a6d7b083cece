//! The standard library, embedded in the binary: `std::services` (IANA
//! service ports) and `std::nets` (special-purpose address blocks).

/// Every standard module's name.
pub const MODULES: [&str; 2] = ["std::services", "std::nets"];

/// The source of the standard module `path` (`std::nets`), if it exists.
pub fn module(path: &str) -> Option<&'static str> {
    match path {
        "std::services" => Some(include_str!("../../../stdlib/std/services.dpl")),
        "std::nets" => Some(include_str!("../../../stdlib/std/nets.dpl")),
        _ => None,
    }
}
