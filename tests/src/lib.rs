//! Helpers shared by the repository-wide tests: paths to the corpus and a
//! loader over the file system.

use dpuc_core::check::{check, Checked};
use dpuc_core::span::SourceMap;
use dpuc_core::Loader;
use std::path::{Path, PathBuf};

pub mod p4rt;

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

/// What `target` (a CLI target name) refuses in `lowered`, if anything.
pub fn refusal(target: &str, lowered: &dpuc_core::lower::Lowered) -> Option<dpuc_ir::Refusal> {
    let valid = dpuc_ir::validate(&lowered.program).ok()?;
    let pna = |profile: &str| dpuc_p4::pna::Options {
        profile: profile.into(),
        ..Default::default()
    };
    let refused = match target {
        "ebpf" => dpuc_ebpf::emit(&valid, &Default::default())
            .err()?
            .refusal(),
        "doca" => dpuc_doca::emit(&valid, &Default::default())
            .err()?
            .refusal(),
        "p4-pna" => dpuc_p4::pna::emit(&valid, &pna("pna")).err()?.refusal(),
        "pensando" => dpuc_p4::pna::emit(&valid, &pna("pensando-elba"))
            .err()?
            .refusal(),
        "bluefield" => dpuc_p4::bluefield::emit(&valid, &Default::default())
            .err()?
            .refusal(),
        _ => return None,
    };
    Some(dpuc_ir::Refusal {
        target: target.into(),
        ..refused
    })
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

/// How a target fared on the conformance corpus and the examples.
#[derive(Debug, Default)]
pub struct CrossCheck {
    /// Files whose tests ran on the target.
    pub ran: usize,
    /// Files the target refused at compile time.
    pub refused: usize,
    /// Sends executed on the target.
    pub sends: usize,
    /// Failures, disagreements with sw and vague refusals.
    pub problems: Vec<String>,
}

/// What a target builder says about one program.
pub enum Built<T> {
    /// A loaded target.
    Ready(T),
    /// A compile-time refusal, with its text.
    Refused(String),
    /// Anything else that went wrong.
    Broken(String),
}

/// Runs every test of every conformance file and example on the target
/// `build` makes and on sw; records failures, any disagreement, and
/// refusals that do not start with `target NAME` and name a rule.
pub fn cross_check<T: dpuc_runtime::testing::Target>(
    name: &str,
    mut build: impl FnMut(&dpuc_ir::Program) -> Built<T>,
) -> CrossCheck {
    use dpuc_runtime::testing::{run_suite, Software};
    let root = repo_root();
    let mut files = files_with_ext(&root.join("tests/conformance"), ".dpl");
    files.extend(files_with_ext(&root.join("examples"), ".dpl"));
    let mut c = CrossCheck::default();
    for path in files {
        let shown = path.display().to_string();
        let (_, lowered) = match lower_file(&path) {
            Ok(l) => l,
            Err(e) => {
                c.problems.push(e);
                continue;
            }
        };
        let program = &lowered.program;
        let mut target = match build(program) {
            Built::Ready(t) => t,
            Built::Refused(text) => {
                if !text.starts_with(&format!("target {name}")) || !text.contains(": ") {
                    c.problems.push(format!("{shown}: vague refusal: {text}"));
                }
                c.refused += 1;
                continue;
            }
            Built::Broken(e) => {
                c.problems.push(format!("{shown}: {e}"));
                continue;
            }
        };
        c.ran += 1;
        let Ok(mut sw) = Software::new(program.clone()) else {
            c.problems.push(format!("{shown}: sw refuses the program"));
            continue;
        };
        let on_sw = run_suite(&mut sw, program, &lowered.suite);
        let on_target = run_suite(&mut target, program, &lowered.suite);
        for (a, b) in on_sw.iter().zip(&on_target) {
            c.sends += b.observations.len();
            for f in &b.failures {
                c.problems.push(format!(
                    "{shown}: \"{}\" on {name}: expected {}, saw {}",
                    b.name, f.expected, f.seen
                ));
            }
            if a.observations != b.observations {
                c.problems.push(format!(
                    "{shown}: \"{}\": sw and {name} disagree:\n  sw   {:?}\n  {name} {:?}",
                    a.name, a.observations, b.observations
                ));
            }
        }
    }
    c
}

/// `gcc -fsyntax-only -Wall -Wextra -Werror` of emitted DOCA Flow C against
/// `tests/doca/doca_flow_decls.h`; `false` (and "skipped: no gcc") when gcc
/// is absent.
pub fn gcc_check_doca(name: &str, c: &str) -> bool {
    use std::process::Command;
    if Command::new("gcc").arg("--version").output().is_err() {
        println!("skipped: no gcc");
        return false;
    }
    let decls = repo_root().join("tests/doca/doca_flow_decls.h");
    let dir = std::env::temp_dir().join(format!("dpuc-doca-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for h in ["doca_flow.h", "doca_flow_ct.h", "doca_bitfield.h"] {
        std::fs::write(dir.join(h), format!("#include \"{}\"\n", decls.display())).expect("stub");
    }
    let src = dir.join(format!("{name}_doca.c"));
    std::fs::write(&src, c).expect("write C");
    let out = Command::new("gcc")
        .args(["-std=gnu11", "-fsyntax-only", "-Wall", "-Wextra", "-Werror"])
        .arg("-DDOCA_ALLOW_EXPERIMENTAL_API")
        .arg("-include")
        .arg(&decls)
        .arg("-I")
        .arg(&dir)
        .arg(&src)
        .output()
        .expect("run gcc");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "gcc rejected {name}_doca.c:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    true
}

/// The tracker files (and the tour's) that DOCA runs once narrowed with
/// [`narrow_for_doca`].
pub const DOCA_TRACKER_FILES: [&str; 9] = [
    "tests/conformance/ct-tcp",
    "tests/conformance/ct-udp-icmp",
    "tests/conformance/ct-related",
    "tests/conformance/ct-related-tcp-v6",
    "tests/conformance/ct-evict",
    "tests/conformance/ct-timeouts",
    "tests/conformance/ct-zones-port",
    "tests/conformance/malformed",
    "examples/tour/03-conntrack",
];

/// A tracker file as DOCA can take it: `on_full evict_oldest` dropped, and
/// `rule NAME: PRED =>` turned into `rule NAME: (tcp or udp) and (PRED) =>`
/// where PRED reads `ct.*` (DOCA refuses `ct.*` tests that ICMP errors or
/// header-less packets reach).
pub fn narrow_for_doca(text: &str) -> String {
    narrow_ct_rules(text).replace("on_full evict_oldest;", "")
}

/// The rule rewrite of [`narrow_for_doca`].
fn narrow_ct_rules(text: &str) -> String {
    text.lines()
        .map(|line| {
            let Some(at) = line.find("rule ") else {
                return line.to_string();
            };
            let Some(colon) = line[at..].find(':').map(|c| at + c) else {
                return line.to_string();
            };
            let Some(arrow) = line.find("=>") else {
                return line.to_string();
            };
            let pred = line[colon + 1..arrow].trim();
            if !pred.contains("ct.") {
                return line.to_string();
            }
            format!(
                "{} (tcp or udp) and ({pred}) {}",
                &line[..=colon],
                &line[arrow..]
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether this process may load and run BPF programs; when it may not,
/// says `skipped: no BPF privilege` (with the reason) so that the calling
/// test is seen to skip rather than pass.
pub fn bpf_privileged() -> bool {
    match dpuc_runtime::ebpf::bpf_available() {
        Ok(()) => true,
        Err(e) => {
            println!("skipped: no BPF privilege ({})", e.reason);
            false
        }
    }
}
