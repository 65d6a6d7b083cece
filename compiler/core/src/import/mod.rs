//! Importers: other rule formats turned into equivalent DPL text.

pub mod classbench;
