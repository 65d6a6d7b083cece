//! Semantic analysis: loads `use`d modules, resolves names, checks types and
//! the rules of §3–§8, and builds the checked program ([`hir::Program`]).
//!
//! Every problem in every file is reported, not only the first; checking
//! goes on past an error with the offending part left out of the program.

mod fields;
pub mod hir;
mod items;
mod policy;
mod symbols;
mod testcases;
mod values;

use crate::ast::{self, Item};
use crate::diag::{has_errors, Diagnostic};
use crate::span::{FileId, SourceMap, Span};
use crate::Loader;
use indexmap::IndexMap;
use std::collections::BTreeSet;

/// The outcome of checking a root file.
#[derive(Debug)]
pub struct Checked {
    /// The checked program, present when there are no errors.
    pub program: Option<hir::Program>,
    /// Every diagnostic of every file involved, errors and warnings.
    pub diagnostics: Vec<Diagnostic>,
}

/// Checks the file `root` (already in `sources`), loading `use`d files through `loader`.
pub fn check(sources: &mut SourceMap, root: FileId, loader: &mut dyn Loader) -> Checked {
    let mut c = Checker {
        modules: Vec::new(),
        scopes: Vec::new(),
        diags: Vec::new(),
        used: BTreeSet::new(),
        hir: hir::Program::default(),
        set_ix: IndexMap::new(),
        ports_ix: IndexMap::new(),
        counters_ix: IndexMap::new(),
        meters_ix: IndexMap::new(),
        policies_ix: IndexMap::new(),
        uses_ct: false,
        use_targets: IndexMap::new(),
    };
    let text = sources.get(root).text.clone();
    let name = sources.get(root).name.clone();
    c.load(sources, loader, root, name, text, false, &mut Vec::new());
    if has_errors(&c.diags) {
        return c.finish(false);
    }
    c.build_scopes();
    c.check_root();
    let ok = !has_errors(&c.diags);
    c.finish(ok)
}

/// An item of a loaded module.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct ItemRef {
    module: usize,
    item: usize,
}

struct LoadedModule {
    name: String,
    ast: ast::Module,
    is_std: bool,
}

struct Checker {
    modules: Vec<LoadedModule>,
    /// Per module: every name visible in it.
    scopes: Vec<IndexMap<String, ItemRef>>,
    diags: Vec<Diagnostic>,
    used: BTreeSet<ItemRef>,
    hir: hir::Program,
    set_ix: IndexMap<ItemRef, hir::SetIx>,
    ports_ix: IndexMap<String, hir::PortIx>,
    counters_ix: IndexMap<String, usize>,
    meters_ix: IndexMap<String, usize>,
    policies_ix: IndexMap<String, hir::PolicyIx>,
    uses_ct: bool,
    /// Which module each `use` (importer, byte offset) loaded.
    use_targets: IndexMap<(usize, u32), usize>,
}

impl Checker {
    fn err(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn item(&self, r: ItemRef) -> &Item {
        &self.modules[r.module].ast.items[r.item]
    }

    /// Parses a module and, recursively, the modules it uses.
    #[allow(clippy::too_many_arguments)]
    fn load(
        &mut self,
        sources: &mut SourceMap,
        loader: &mut dyn Loader,
        file: FileId,
        name: String,
        text: String,
        is_std: bool,
        stack: &mut Vec<String>,
    ) -> usize {
        let parsed = crate::syntax::parse(file, &text);
        self.diags.extend(parsed.diagnostics);
        let index = self.modules.len();
        self.modules.push(LoadedModule {
            name: name.clone(),
            ast: parsed.module,
            is_std,
        });
        self.scopes.push(IndexMap::new());
        stack.push(name);
        let uses: Vec<ast::UseDecl> = self.modules[index]
            .ast
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Use(u) => Some(u.clone()),
                _ => None,
            })
            .collect();
        for u in uses {
            self.load_use(sources, loader, index, &u, stack);
        }
        stack.pop();
        index
    }

    fn load_use(
        &mut self,
        sources: &mut SourceMap,
        loader: &mut dyn Loader,
        importer: usize,
        u: &ast::UseDecl,
        stack: &mut Vec<String>,
    ) {
        let (name, text, is_std, span) = match &u.source {
            ast::UseSource::Std(path) => {
                let full: Vec<&str> = path.iter().map(|i| i.name.as_str()).collect();
                let full = full.join("::");
                let span = path
                    .first()
                    .map_or(u.span, |f| f.span.to(path[path.len() - 1].span));
                match crate::stdlib::module(&full) {
                    Some(text) => (full, text.to_string(), true, span),
                    None => {
                        let mut d = Diagnostic::new("E0023", span, format!("no module `{full}`"))
                            .label("not a standard library module");
                        if let Some(s) = suggest(&full, crate::stdlib::MODULES.iter().copied()) {
                            d = d.help(format!("did you mean `{s}`?"));
                        }
                        self.err(d);
                        return;
                    }
                }
            }
            ast::UseSource::File(path) => {
                let importer_name = self.modules[importer].name.clone();
                match loader.load(&importer_name, &path.value) {
                    Ok((name, text)) => (name, text, false, path.span),
                    Err(why) => {
                        self.err(
                            Diagnostic::new(
                                "E0023",
                                path.span,
                                format!("cannot read `{}`", path.value),
                            )
                            .label(why)
                            .help("paths are relative to the file that has the `use`"),
                        );
                        return;
                    }
                }
            }
        };
        if let Some(pos) = stack.iter().position(|n| *n == name) {
            let mut cycle: Vec<String> = stack[pos..].to_vec();
            cycle.push(name.clone());
            self.err(
                Diagnostic::new("E0024", span, "`use` cycle")
                    .label(format!("this closes the cycle {}", cycle.join(" -> ")))
                    .help("move what both files need into a third file that neither uses"),
            );
            return;
        }
        if let Some(existing) = self.module_index(&name) {
            self.use_targets.insert((importer, u.span.start), existing);
            return;
        }
        let file = sources.add(name.clone(), text.clone());
        let loaded = self.load(sources, loader, file, name, text, is_std, stack);
        self.use_targets.insert((importer, u.span.start), loaded);
    }

    fn module_index(&self, name: &str) -> Option<usize> {
        self.modules.iter().position(|m| m.name == name)
    }

    fn finish(mut self, ok: bool) -> Checked {
        self.diags.sort_by_key(|d| {
            (
                d.primary.span.file,
                d.primary.span.start,
                d.primary.span.end,
            )
        });
        Checked {
            program: ok.then_some(self.hir),
            diagnostics: self.diags,
        }
    }

    /// A "did you mean" help for an unknown name among the visible ones.
    fn unknown_name(&mut self, module: usize, name: &str, span: Span, what: &str) {
        let candidates: Vec<String> = self.scopes[module].keys().cloned().collect();
        let mut d = Diagnostic::new("E0010", span, format!("unknown {what} `{name}`"))
            .label("not declared or imported");
        if let Some(s) = suggest(name, candidates.iter().map(String::as_str)) {
            d = d.help(format!("did you mean `{s}`?"));
        }
        self.err(d);
    }
}

/// The closest of `candidates` to `name`, if close enough to be a typo.
pub(crate) fn suggest<'a>(
    name: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .map(|c| (strsim::damerau_levenshtein(name, c), c))
        .filter(|(d, c)| *d <= (name.len().max(c.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}
