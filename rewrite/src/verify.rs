//! Verification with a real compiler (`migrate_verified`, `pyctx migrate
//! --verify`): every compiled translation unit holding a changed file is
//! compiled before and after the rewrite; an error the rewrite added backs
//! out the functions involved (they stay legacy, reported `verify`), and
//! the engine runs again, until the output adds no error. So a tree that
//! compiled before compiles after, whatever the engine's own check (which
//! sees only the given files) could not know: a prototype in a header that
//! was not given, a type the ctx form of an API does not accept, ...
//!
//! The compiler is behind [`Compile`]; [`crate::Libclang`] implements it
//! with libclang.

use crate::edit::Applied;
use crate::model::{DefId, FileId, Model};
use crate::scan::OccKind;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// An error diagnostic of a compiler run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    /// As given in `texts` (or the compiler's path for other files).
    pub file: PathBuf,
    /// 1-based.
    pub line: usize,
    pub message: String,
}

/// Compiles one translation unit.
pub trait Compile {
    /// The error diagnostics of compiling `unit`, where each of `texts`
    /// stands for the file of that path (other files come from disk).
    /// Err: the compiler could not run at all.
    fn errors(&self, unit: &Path, texts: &[(&Path, &str)]) -> Result<Vec<CompileError>, String>;
}

/// The before/after compiler runs of one engine run.
pub(crate) struct Verifier<'c> {
    cc: &'c dyn Compile,
    /// Per unit: the errors of the input (compiled once).
    before: HashMap<usize, Vec<CompileError>>,
}

/// What one verification round found.
pub(crate) enum Found {
    /// Nothing new: the output compiles wherever the input did.
    Clean,
    /// Definitions to back out, with why.
    BackOut(Vec<(DefId, String)>),
    /// Errors the rewrite added that no function accounts for (the unit's
    /// root, and what).
    Unexplained(Vec<(FileId, String)>),
}

impl<'c> Verifier<'c> {
    pub fn new(cc: &'c dyn Compile) -> Verifier<'c> {
        Verifier {
            cc,
            before: HashMap::new(),
        }
    }

    /// `backed_out`: the definitions already backed out (an error they
    /// account for asks for the next culprit).
    pub fn run(
        &mut self,
        m: &Model,
        applied: &[Applied],
        backed_out: &BTreeMap<DefId, String>,
    ) -> Result<Found, String> {
        let mut back: Vec<(DefId, String)> = Vec::new();
        let mut unexplained: Vec<(FileId, String)> = Vec::new();
        for (ui, unit) in m.units.units.iter().enumerate() {
            let changed = unit.closure.iter().any(|&f| applied[f].changed());
            if !unit.compiled || !changed {
                continue;
            }
            let root = m.files[unit.root].source.path.as_path();
            if !self.before.contains_key(&ui) {
                let input: Vec<(&Path, &str)> = unit
                    .closure
                    .iter()
                    .map(|&f| {
                        (
                            m.files[f].source.path.as_path(),
                            m.files[f].source.text.as_str(),
                        )
                    })
                    .collect();
                self.before.insert(ui, self.cc.errors(root, &input)?);
            }
            // The unit's changed texts, made for this compile only.
            let texts: Vec<Option<String>> = unit
                .closure
                .iter()
                .map(|&f| applied[f].text(&m.files[f].source.text))
                .collect();
            let output: Vec<(&Path, &str)> = unit
                .closure
                .iter()
                .zip(&texts)
                .map(|(&f, text)| {
                    (
                        m.files[f].source.path.as_path(),
                        text.as_deref().unwrap_or(&m.files[f].source.text),
                    )
                })
                .collect();
            let after = self.cc.errors(root, &output)?;
            for e in added(&self.before[&ui], after) {
                let why = format!(
                    "compiling {} after the rewrite reports {}:{}: {}",
                    root.display(),
                    e.file.display(),
                    e.line,
                    e.message
                );
                let defs: Vec<DefId> = culprits(m, applied, &e)
                    .into_iter()
                    .map(|tier| {
                        tier.into_iter()
                            .filter(|d| !backed_out.contains_key(d))
                            .collect::<Vec<_>>()
                    })
                    .find(|tier| !tier.is_empty())
                    .unwrap_or_default();
                if defs.is_empty() {
                    unexplained.push((unit.root, why));
                } else {
                    back.extend(defs.into_iter().map(|d| (d, why.clone())));
                }
            }
        }
        Ok(if !back.is_empty() {
            Found::BackOut(back)
        } else if !unexplained.is_empty() {
            Found::Unexplained(unexplained)
        } else {
            Found::Clean
        })
    }
}

/// The errors of `after` that `before` does not have (compared by file and
/// message: lines move with the edits).
fn added(before: &[CompileError], after: Vec<CompileError>) -> Vec<CompileError> {
    let mut left: BTreeMap<(PathBuf, String), usize> = BTreeMap::new();
    for e in before {
        *left.entry((e.file.clone(), e.message.clone())).or_default() += 1;
    }
    after
        .into_iter()
        .filter(
            |e| match left.get_mut(&(e.file.clone(), e.message.clone())) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    false
                }
                _ => true,
            },
        )
        .collect()
}

/// The definitions an error at a line of the output may come from, most
/// likely first: the threaded functions called or declared on that line
/// (their new parameter), then the definition holding the line (its own
/// edits).
fn culprits(m: &Model, applied: &[Applied], e: &CompileError) -> Vec<Vec<DefId>> {
    let Some(fi) = m.files.iter().position(|f| f.source.path == e.file) else {
        return Vec::new();
    };
    let Some((start, end)) = input_line(m, applied, fi, e.line) else {
        return Vec::new();
    };
    let f = &m.files[fi];
    let mut nodes: Vec<usize> = f
        .occs
        .iter()
        .enumerate()
        .filter(|(_, o)| (start..=end).contains(&o.at) && matches!(o.kind, OccKind::Call(_)))
        .filter_map(|(oi, _)| m.facts[fi].call_target.get(&oi).copied())
        .collect();
    nodes.extend(
        f.scan
            .protos
            .iter()
            .filter(|p| (start..=end).contains(&p.name_at))
            .flat_map(|p| m.nodes_by_name.get(&p.name).into_iter().flatten().copied()),
    );
    let mut called: Vec<DefId> = nodes
        .into_iter()
        .flat_map(|id| m.nodes[id].defs.iter().copied())
        .collect();
    called.sort_unstable();
    called.dedup();
    let holder: Vec<DefId> = f
        .scan
        .funcs
        .iter()
        .position(|d| d.range.start <= end && start < d.range.end)
        .map(|di| (fi, di))
        .into_iter()
        .collect();
    vec![called, holder]
}

/// The input byte range of output line `line` of file `fi`.
fn input_line(m: &Model, applied: &[Applied], fi: FileId, line: usize) -> Option<(usize, usize)> {
    let text = applied[fi].text(&m.files[fi].source.text);
    let out = text.as_deref().unwrap_or(&m.files[fi].source.text);
    let start = if line <= 1 {
        0
    } else {
        out.match_indices('\n').nth(line - 2)?.0 + 1
    };
    let end = out[start..].find('\n').map_or(out.len(), |k| start + k);
    let edits = &applied[fi].edits;
    Some((
        crate::text::input_offset(edits, start),
        crate::text::input_offset(edits, end),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(file: &str, line: usize, message: &str) -> CompileError {
        CompileError {
            file: file.into(),
            line,
            message: message.into(),
        }
    }

    #[test]
    fn errors_the_input_had_are_not_new_wherever_they_moved() {
        let before = vec![err("a.c", 3, "x undeclared"), err("a.c", 9, "x undeclared")];
        let after = vec![
            err("a.c", 4, "x undeclared"),
            err("a.c", 10, "x undeclared"),
            err("a.c", 12, "x undeclared"),
            err("a.c", 20, "too few arguments to function 'f'"),
        ];
        let new = added(&before, after);
        assert_eq!(new.len(), 2);
        assert_eq!(new[1].message, "too few arguments to function 'f'");
    }
}
