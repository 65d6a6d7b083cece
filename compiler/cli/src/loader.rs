//! Reads policy files from disk for the core, which does no I/O itself.

use dpuc_core::Loader;
use std::path::{Path, PathBuf};

/// Resolves `use "path"` relative to the importing file's directory.
pub struct FsLoader;

impl Loader for FsLoader {
    fn load(&mut self, importer: &str, path: &str) -> Result<(String, String), String> {
        let base = Path::new(importer).parent().unwrap_or(Path::new(""));
        let full: PathBuf = base.join(path);
        let text = std::fs::read_to_string(&full).map_err(|e| e.to_string())?;
        // The canonical form makes `a/../b.dpl` and `b.dpl` the same file for
        // cycle detection; the displayed name stays as the user would write it.
        let name = std::fs::canonicalize(&full)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| full.display().to_string());
        Ok((name, text))
    }
}
