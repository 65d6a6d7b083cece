//! Feeds arbitrary bytes to the DPL parser and, when it parses, to the
//! checker: neither may panic.
#![no_main]

use dpuc_core::span::SourceMap;
use libfuzzer_sys::fuzz_target;

struct NoFiles;

impl dpuc_core::Loader for NoFiles {
    fn load(&mut self, _: &str, path: &str) -> Result<(String, String), String> {
        Err(format!("{path}: no files while fuzzing"))
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    let mut sources = SourceMap::new();
    let root = sources.add("fuzz.dpl", text);
    let _ = dpuc_core::check::check(&mut sources, root, &mut NoFiles);
});
