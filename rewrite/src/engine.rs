//! The pipeline: parse → units → resolve → (decide → edit → check)* →
//! report.
//!
//! The check phase reads the output back; a function it finds involved
//! in a disagreement (a call that would miss its context, a macro twin, a
//! header seen by units that decided differently) falls back to its
//! signature, and decide → edit → check run again. Each round sends at
//! least one more function back, so the loop ends; what no fallback can
//! repair is reported as an error, and then no file changes.

use crate::check::{Checker, Violation};
use crate::decide::{self, Selection, Threading};
use crate::edit::{self, Applied, Edited};
use crate::model::{DefId, Diag, Model, NodeId};
use crate::text::Output;
use crate::units::Units;
use crate::verify::{Compile, Found, Verifier};
use crate::{
    parse, report, resolve, ApiNames, Diagnostic, FileOutcome, Options, Outcome, Severity,
    SourceFile, Totals,
};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

fn is_c_identifier(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// Migrate a project: see the crate documentation for the contract and
/// `docs/migration-policy.md` for the rules.
pub fn migrate(files: &[SourceFile], api: &ApiNames, opts: &Options) -> Outcome {
    run(files, api, opts, None)
}

/// [`migrate`], then verify with a compiler: every compiled translation
/// unit holding a changed file is compiled before and after; a function
/// whose rewrite adds an error is backed out (left legacy, warning
/// `verify`) and the engine runs again. An added error no function
/// accounts for is an error (`verify`), and then no file changes.
pub fn migrate_verified(
    files: &[SourceFile],
    api: &ApiNames,
    opts: &Options,
    cc: &dyn Compile,
) -> Outcome {
    run(files, api, opts, Some(cc))
}

fn run(files: &[SourceFile], api: &ApiNames, opts: &Options, cc: Option<&dyn Compile>) -> Outcome {
    if !is_c_identifier(&opts.ctx_name) {
        return options_error(
            files,
            format!("context name `{}` is not a C identifier", opts.ctx_name),
        );
    }
    // Token offsets are u32 (`lex::Token`).
    if let Some(f) = files.iter().find(|f| f.text.len() > u32::MAX as usize) {
        return options_error(
            files,
            format!(
                "{}: {} bytes: files of 4 GiB and more are not supported",
                f.path.display(),
                f.text.len()
            ),
        );
    }
    let parsed = parse::parse_for(files, api, opts.trampolines);
    let units = {
        let paths: Vec<&Path> = files.iter().map(|f| f.path.as_path()).collect();
        let incs: Vec<Vec<&str>> = parsed
            .files
            .iter()
            .map(|f| {
                f.scan
                    .dir
                    .includes
                    .iter()
                    .map(|i| i.path.as_str())
                    .collect()
            })
            .collect();
        Units::build(&paths, &incs, opts.units.as_ref())
    };
    let (model, diags) = resolve::resolve(parsed, units, api, opts);
    let mut backed_out: BTreeMap<DefId, String> = BTreeMap::new();
    let mut unthreadable: BTreeMap<DefId, String> = BTreeMap::new();
    let mut verifier = cc.map(Verifier::new);
    loop {
        let sel = decide::select(&model, opts, &backed_out, &unthreadable);
        let mut done = rounds(&model, &sel, opts, decide::thread);
        if !done.unthreadable.is_empty() {
            // A save/restore function the check sent back to its
            // signature: legacy, not an entry point; decide again.
            unthreadable.append(&mut done.unthreadable);
            continue;
        }
        if let (Some(v), true) = (verifier.as_mut(), done.errors.is_empty()) {
            match v.run(&model, &done.round.applied, &backed_out) {
                Ok(Found::Clean) => {}
                Ok(Found::BackOut(list)) => {
                    // Only definitions not backed out yet: progress. The
                    // first error naming one gives the reason.
                    for (d, why) in list {
                        backed_out.entry(d).or_insert(why);
                    }
                    continue;
                }
                Ok(Found::Unexplained(list)) => {
                    for (fi, why) in list {
                        done.errors
                            .push(model.diag(fi, 0, Severity::Error, "verify", why));
                    }
                }
                Err(why) => done
                    .errors
                    .push(model.diag(0, 0, Severity::Error, "verify", why)),
            }
        }
        let mut out = done.finish(&model, diags);
        drop(model);
        report::add_texts(&mut out, files);
        return out;
    }
}

/// The signature of [`decide::thread`] (tests substitute a faulty one to
/// see the check catch it).
type ThreadFn = fn(&Model, &Selection, &BTreeMap<NodeId, String>, &Options) -> Threading;

/// The last round, with what the rounds found.
struct Done {
    round: Round,
    /// One `check` warning per function the check sent back.
    notes: Vec<Diag>,
    /// What no fallback repaired: errors, and then no file changes.
    errors: Vec<Diag>,
    /// Save/restore definitions the check sent back to their signature
    /// (to be made legacy), with why; the round is then not final.
    unthreadable: BTreeMap<DefId, String>,
}

impl Done {
    fn finish(mut self, m: &Model, mut diags: Vec<Diag>) -> Outcome {
        diags.append(&mut self.notes);
        diags.append(&mut self.round.apply_errors);
        if !self.errors.is_empty() {
            diags.append(&mut self.errors);
            for a in &mut self.round.applied {
                *a = Applied::unchanged();
            }
            self.round.edited.report_nothing_changed();
        }
        report::outcome(m, self.round.edited, self.round.applied, diags)
    }
}

/// decide → edit → check until the check finds nothing a fallback can
/// repair.
fn rounds(model: &Model, sel: &Selection, opts: &Options, thread: ThreadFn) -> Done {
    let checker = Checker::new(model);
    let mut fallbacks: BTreeMap<NodeId, String> = BTreeMap::new();
    let mut unthreadable: BTreeMap<DefId, String> = BTreeMap::new();
    loop {
        let round = Round::run(model, sel, &fallbacks, opts, thread);
        let violations = round.check(model, &checker);
        let mut progress = false;
        let mut errors: Vec<Diag> = Vec::new();
        for v in &violations {
            let fresh: Vec<NodeId> = v
                .nodes
                .iter()
                .copied()
                .filter(|id| !fallbacks.contains_key(id))
                .collect();
            if fresh.is_empty() {
                errors.push(model.diag(v.file, v.at, Severity::Error, "check", v.message.clone()));
            }
            for id in fresh {
                let why = format!("the output check found: {}", v.message);
                for d in sel.save_restore_defs(model, id) {
                    unthreadable.insert(d, why.clone());
                }
                fallbacks.insert(id, why);
                progress = true;
            }
        }
        if !progress && unthreadable.is_empty() {
            unthreadable = bridged_save_restore(model, sel, &round);
        }
        if !progress || !unthreadable.is_empty() {
            return Done {
                round,
                notes: fallback_notes(model, &fallbacks),
                errors,
                unthreadable,
            };
        }
    }
}

/// Save/restore functions reached through threaded calls from a bridge.
/// A bridge passes `PyCtx_Get()` from a function left legacy, which may
/// make the call while its thread state is released (between its own
/// save and restore): the context is then the detached one, and the
/// save/restore function would re-attach the thread state and go on
/// with it. Such functions go back to legacy (each call reads the
/// current thread state), and the engine decides again.
fn bridged_save_restore(m: &Model, sel: &Selection, round: &Round) -> BTreeMap<DefId, String> {
    // Ordered, so that the origin named for a function reached from two
    // bridges is the same on every run (the rewriter is deterministic).
    let mut from: BTreeMap<NodeId, String> = BTreeMap::new();
    for (_, _, r) in &round.edited.functions {
        for b in &r.bridges {
            let at = format!("{}:{}", r.file.display(), b.line);
            for &id in m.nodes_by_name.get(&b.callee).into_iter().flatten() {
                if round.thr.threaded[id] {
                    from.entry(id)
                        .or_insert_with(|| format!("`{}` at {at}", r.name));
                }
            }
        }
    }
    let mut stack: Vec<NodeId> = from.keys().copied().collect();
    while let Some(id) = stack.pop() {
        let origin = from[&id].clone();
        for &(fi, di) in &m.nodes[id].defs {
            for &c in &m.facts[fi].callees[di] {
                if round.thr.threaded[c] && !from.contains_key(&c) {
                    from.insert(c, origin.clone());
                    stack.push(c);
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    for (&id, origin) in &from {
        for d in sel.save_restore_defs(m, id) {
            out.insert(
                d,
                format!(
                    "it is reached from the bridge in {origin}, whose PyCtx_Get() may run while the thread state is released"
                ),
            );
        }
    }
    out
}

/// One pass of decide → edit → apply.
struct Round {
    thr: Threading,
    edited: Edited,
    applied: Vec<Applied>,
    apply_errors: Vec<Diag>,
}

impl Round {
    fn run(
        m: &Model,
        sel: &Selection,
        fallbacks: &BTreeMap<NodeId, String>,
        opts: &Options,
        thread: ThreadFn,
    ) -> Round {
        let thr = thread(m, sel, fallbacks, opts);
        let mut edited = edit::edit(m, sel, &thr, opts);
        let mut apply_errors = Vec::new();
        let applied = std::mem::take(&mut edited.edits)
            .into_iter()
            .enumerate()
            .map(|(fi, mut e)| {
                // Kept to the end (the report maps output to input by them).
                e.shrink_to_fit();
                crate::text::share_texts(&mut e);
                edit::apply(m, fi, e).unwrap_or_else(|msg| {
                    apply_errors.push(m.diag(fi, 0, Severity::Error, "internal", msg));
                    Applied::unchanged()
                })
            })
            .collect();
        Round {
            thr,
            edited,
            applied,
            apply_errors,
        }
    }

    fn check(&self, m: &Model, checker: &Checker) -> Vec<Violation> {
        // The output is read in the input's pieces, where they fall in it.
        let after: Vec<Option<(Output, Vec<usize>)>> = self
            .applied
            .iter()
            .zip(&m.files)
            .map(|(a, f)| {
                let cuts = f.scan.cuts.iter();
                let cuts = cuts.filter_map(|&c| crate::text::output_offset(&a.edits, c));
                a.output(&f.source.text).map(|t| (t, cuts.collect()))
            })
            .collect();
        let renamed: HashMap<String, String> = self
            .thr
            .tramps
            .iter()
            .filter_map(|(&(fi, di), p)| {
                p.as_ref()
                    .ok()
                    .map(|(imp, _)| (imp.clone(), m.files[fi].scan.funcs[di].name.clone()))
            })
            .collect();
        checker.check(m, &after, &renamed, &self.thr.threaded)
    }
}

/// One `check` note per function the check sent back to its signature.
fn fallback_notes(m: &Model, fallbacks: &BTreeMap<NodeId, String>) -> Vec<Diag> {
    let mut out = Vec::new();
    for (&id, why) in fallbacks {
        let n = &m.nodes[id];
        if let Some(&(fi, di)) = n.defs.first() {
            out.push(m.diag(
                fi,
                m.files[fi].scan.funcs[di].name_at,
                Severity::Warning,
                "check",
                format!("`{}` keeps its signature: {why}", n.name),
            ));
        }
    }
    out
}

fn options_error(files: &[SourceFile], message: String) -> Outcome {
    Outcome {
        files: files
            .iter()
            .map(|f| FileOutcome::unchanged(f.path.clone()))
            .collect(),
        functions: vec![],
        macros: vec![],
        diagnostics: vec![Diagnostic {
            file: PathBuf::new(),
            line: 0,
            column: 0,
            severity: Severity::Error,
            code: "options".into(),
            message,
        }],
        totals: Totals::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "#include <Python.h>\n\
        static int leaf(PyObject *o) { return PyObject_IsTrue(o); }\n\
        static int mid(PyObject *o) { return leaf(o); }\n\
        static PyObject *top(PyObject *s, PyObject *o) { return PyBool_FromLong(mid(o)); }\n\
        static PyMethodDef t[] = {{\"top\", top, METH_O, NULL}};\n";

    fn run(thread: ThreadFn) -> Outcome {
        let files = vec![SourceFile::new("a.c", SRC)];
        let api = ApiNames::from_names(["PyObject_IsTrue", "PyBool_FromLong"]);
        let opts = Options::default();
        let parsed = parse::parse(&files, &api);
        let units = Units::build(&[Path::new("a.c")], &[vec!["Python.h"]], None);
        let (m, diags) = resolve::resolve(parsed, units, &api, &opts);
        let sel = decide::select(&m, &opts, &BTreeMap::new(), &BTreeMap::new());
        let mut out = rounds(&m, &sel, &opts, thread).finish(&m, diags);
        report::add_texts(&mut out, &files);
        out
    }

    /// A decide phase that forgets `mid` needs a context for its call of
    /// the threaded `leaf` (unless `leaf` was sent back).
    fn forgets_a_caller(
        m: &Model,
        sel: &Selection,
        fb: &BTreeMap<NodeId, String>,
        opts: &Options,
    ) -> Threading {
        let mut t = decide::thread(m, sel, fb, opts);
        let (leaf, mid) = (m.nodes_by_name["leaf"][0], m.nodes_by_name["mid"][0]);
        if !fb.contains_key(&leaf) {
            t.threaded[mid] = false;
            t.needs[0][1] = false;
        }
        t
    }

    /// A decide phase that threads `leaf` whatever the check says.
    fn ignores_fallbacks(
        m: &Model,
        sel: &Selection,
        _: &BTreeMap<NodeId, String>,
        opts: &Options,
    ) -> Threading {
        let mut t = forgets_a_caller(m, sel, &BTreeMap::new(), opts);
        t.threaded[m.nodes_by_name["leaf"][0]] = true;
        t
    }

    #[test]
    fn a_sound_decision_passes_the_check() {
        let out = run(decide::thread);
        assert!(
            out.diagnostics.iter().all(|d| d.code != "check"),
            "{}",
            out.render()
        );
        assert_eq!(out.totals.threaded, 2);
    }

    #[test]
    fn the_check_sends_a_mismatched_function_back_to_its_signature() {
        let out = run(forgets_a_caller);
        let text = out.files[0].new_text.as_deref().unwrap();
        // leaf fell back: an entry point, so mid's legacy call still fits.
        assert!(
            text.contains("leaf(PyObject *o) { PyCtx ctx = PyCtx_Get();"),
            "{text}"
        );
        assert!(text.contains("return leaf(o);"), "{text}");
        let leaf = out.functions.iter().find(|r| r.name == "leaf").unwrap();
        assert_eq!(leaf.status, crate::Status::EntryPoint);
        let why = leaf.entry_reason.as_deref().unwrap();
        assert!(
            why.starts_with("the output check found: `leaf` would take"),
            "{why}"
        );
        assert!(out
            .diagnostics
            .iter()
            .any(|d| d.code == "check" && d.severity == Severity::Warning));
    }

    #[test]
    fn what_no_fallback_repairs_is_an_error_and_nothing_is_written() {
        let out = run(ignores_fallbacks);
        assert!(out.files.iter().all(|f| f.new_text.is_none()));
        assert!(
            out.diagnostics
                .iter()
                .any(|d| d.code == "check" && d.severity == Severity::Error),
            "{}",
            out.render()
        );
    }
}
