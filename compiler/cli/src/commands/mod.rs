//! One module per subcommand.

pub mod bench;
pub mod build;
pub mod check;
pub mod fmt;
pub mod import;
pub mod load;
pub mod run;
pub mod test;
