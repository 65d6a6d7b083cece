//! Helpers shared by the repository-wide tests: paths to the corpus and a
//! loader over the file system.

use dpuc_core::check::{check, Checked};
use dpuc_core::span::SourceMap;
use dpuc_core::Loader;
use std::path::{Path, PathBuf};

/// The repository root.
pub fn repo_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent().map(PathBuf::from).unwrap_or(here)
}

/// Every file under `dir` (recursively) whose name ends with `ext`, sorted.
pub fn files_with_ext(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(ext) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Resolves `use "path"` relative to the importing file, on disk.
pub struct DiskLoader;

impl Loader for DiskLoader {
    fn load(&mut self, importer: &str, path: &str) -> Result<(String, String), String> {
        let base = Path::new(importer).parent().unwrap_or(Path::new(""));
        let full = base.join(path);
        let text = std::fs::read_to_string(&full).map_err(|e| e.to_string())?;
        Ok((full.display().to_string(), text))
    }
}

/// Checks and lowers the file at `path`, naming it `display` in diagnostics.
pub fn check_file(path: &Path, display: &str) -> (SourceMap, Checked) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut sources = SourceMap::new();
    let root = sources.add(display, text);
    let mut loader = RootedLoader {
        root: path.parent().map(PathBuf::from).unwrap_or_default(),
    };
    let mut checked = check(&mut sources, root, &mut loader);
    // Lowering diagnostics (E01xx) belong to the same report.
    if let Some(program) = &checked.program {
        if let Err(mut diags) = dpuc_core::lower::lower(program, &sources, "t") {
            checked.diagnostics.append(&mut diags);
            checked.program = None;
        }
    }
    (sources, checked)
}

/// Like [`DiskLoader`], but resolves names relative to a fixed directory so
/// snapshots can show short, machine-independent file names.
struct RootedLoader {
    root: PathBuf,
}

impl Loader for RootedLoader {
    fn load(&mut self, importer: &str, path: &str) -> Result<(String, String), String> {
        let base = Path::new(importer).parent().unwrap_or(Path::new(""));
        let shown = base.join(path);
        let text = std::fs::read_to_string(self.root.join(&shown)).map_err(|e| e.to_string())?;
        Ok((shown.display().to_string(), text))
    }
}

/// Checks and lowers `text` as a file called `name` (no `use` of files).
pub fn lower_text(name: &str, text: &str) -> Result<dpuc_core::lower::Lowered, String> {
    let mut sources = SourceMap::new();
    let root = sources.add(name, text.to_string());
    let checked = check(&mut sources, root, &mut DiskLoader);
    let Some(hir) = checked.program else {
        return Err(dpuc_core::diag::render::human(
            &sources,
            &checked.diagnostics,
        ));
    };
    let stem = name.trim_end_matches(".dpl");
    dpuc_core::lower::lower(&hir, &sources, stem)
        .map_err(|d| dpuc_core::diag::render::human(&sources, &d))
}

/// Checks and lowers the file at `path` (its `use`s resolved on disk).
pub fn lower_file(path: &Path) -> Result<(SourceMap, dpuc_core::lower::Lowered), String> {
    let shown = path.display().to_string();
    let (sources, checked) = check_file(path, &shown);
    let Some(hir) = checked.program else {
        return Err(dpuc_core::diag::render::human(
            &sources,
            &checked.diagnostics,
        ));
    };
    match dpuc_core::lower::lower(&hir, &sources, "t") {
        Ok(l) => Ok((sources, l)),
        Err(d) => Err(dpuc_core::diag::render::human(&sources, &d)),
    }
}
