//! The pipeline: parse → resolve → (decide → edit → check)* → report.
//!
//! The check phase reads the output back; a function it finds involved
//! in a disagreement (a call that would miss its context, a macro twin, a
//! header seen by units that decided differently) falls back to its
//! signature, and decide → edit → check run again. Each round sends at
//! least one more function back, so the loop ends; what no fallback can
//! repair is reported as an error and nothing of it is written.

use crate::check::{Checker, Violation};
use crate::decide::{self, Selection, Threading};
use crate::edit::{self, Applied, Edited};
use crate::model::{Diag, Model, NodeId};
use crate::units::Units;
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
    if !is_c_identifier(&opts.ctx_name) {
        return options_error(
            files,
            format!("context name `{}` is not a C identifier", opts.ctx_name),
        );
    }
    let parsed = parse::parse(files, api);
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
    let (model, mut diags) = resolve::resolve(parsed, units, api, opts);
    let sel = decide::select(&model, opts);
    let checker = Checker::new(&model);
    let mut fallbacks: BTreeMap<NodeId, String> = BTreeMap::new();
    loop {
        let round = Round::run(&model, &sel, &fallbacks, opts);
        let violations = round.check(&model, &checker);
        let mut progress = false;
        let mut unresolved: Vec<&Violation> = Vec::new();
        for v in &violations {
            let fresh: Vec<NodeId> = v
                .nodes
                .iter()
                .copied()
                .filter(|id| !fallbacks.contains_key(id))
                .collect();
            if fresh.is_empty() {
                unresolved.push(v);
            }
            for id in fresh {
                fallbacks.insert(id, format!("the output check found: {}", v.message));
                progress = true;
            }
        }
        if progress {
            continue;
        }
        diags.extend(fallback_notes(&model, &fallbacks));
        return round.finish(&model, diags, &unresolved);
    }
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
    ) -> Round {
        let thr = decide::thread(m, sel, fallbacks, opts);
        let mut edited = edit::edit(m, sel, &thr, opts);
        let mut apply_errors = Vec::new();
        let applied = std::mem::take(&mut edited.edits)
            .into_iter()
            .enumerate()
            .map(|(fi, e)| {
                edit::apply(m, fi, e).unwrap_or_else(|msg| {
                    apply_errors.push(m.diag(fi, 0, Severity::Error, "internal", msg));
                    Applied {
                        text: None,
                        edits: 0,
                        include_added: false,
                    }
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
        let after: Vec<Option<&str>> = self.applied.iter().map(|a| a.text.as_deref()).collect();
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

    /// The outcome. A violation no fallback repairs is an error, and then
    /// no file changes: a partial result could not be checked whole.
    fn finish(mut self, m: &Model, mut diags: Vec<Diag>, unresolved: &[&Violation]) -> Outcome {
        diags.append(&mut self.apply_errors);
        for v in unresolved {
            diags.push(m.diag(v.file, v.at, Severity::Error, "check", v.message.clone()));
        }
        if !unresolved.is_empty() {
            for a in &mut self.applied {
                *a = Applied {
                    text: None,
                    edits: 0,
                    include_added: false,
                };
            }
        }
        report::outcome(m, self.edited, self.applied, diags)
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
            .map(|f| FileOutcome {
                path: f.path.clone(),
                new_text: None,
                edits: 0,
                include_added: false,
            })
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
