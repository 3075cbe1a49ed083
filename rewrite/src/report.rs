//! Phase 6, report: the [`Outcome`] in its stable order (files in input
//! order; functions, macros and diagnostics by file, then position), with
//! the totals.

use crate::edit::{Applied, Edited};
use crate::model::{Diag, Model};
use crate::{FileOutcome, FunctionReport, MacroReport, MacroStatus, Outcome, Status, Totals};

pub(crate) fn outcome(
    m: &Model,
    edited: Edited,
    applied: Vec<Applied>,
    mut diags: Vec<Diag>,
) -> Outcome {
    let files: Vec<FileOutcome> = m
        .files
        .iter()
        .zip(applied)
        .map(|(f, a)| FileOutcome {
            path: f.source.path.clone(),
            edits: a.edits.len(),
            // Made by `add_texts`, once the model is gone.
            new_text: None,
            include_added: a.include_added,
            text_edits: a.edits,
        })
        .collect();
    let mut fns = edited.functions;
    fns.sort_by_key(|(fi, di, _)| (*fi, m.files[*fi].scan.funcs[*di].name_at));
    let mut macros = edited.macros;
    macros.sort_by_key(|(fi, at, _)| (*fi, *at));
    diags.extend(edited.diags);
    diags.sort_by(|(fa, a), (fb, b)| {
        (fa, a.line, a.column, &a.code, &a.message)
            .cmp(&(fb, b.line, b.column, &b.code, &b.message))
    });
    let functions: Vec<FunctionReport> = fns.into_iter().map(|(_, _, r)| r).collect();
    let macros: Vec<MacroReport> = macros.into_iter().map(|(_, _, r)| r).collect();
    let totals = totals(&files, &functions, &macros);
    Outcome {
        files,
        functions,
        macros,
        diagnostics: diags.into_iter().map(|(_, d)| d).collect(),
        totals,
    }
}

/// Each changed file's new text, from its input and its edits. The
/// engine makes them after dropping the model: a new text is as large as
/// its input, and the model (the input's tokens above all) several times
/// larger.
pub(crate) fn add_texts(out: &mut Outcome, files: &[crate::SourceFile]) {
    for (o, f) in out.files.iter_mut().zip(files) {
        if !o.text_edits.is_empty() {
            let text = crate::text::Output::new(f.text.as_bytes(), &o.text_edits).text();
            o.new_text = Some(String::from_utf8(text).expect("edits keep UTF-8"));
        }
    }
}

pub(crate) fn totals(
    files: &[FileOutcome],
    functions: &[FunctionReport],
    macros: &[MacroReport],
) -> Totals {
    let mut t = Totals {
        files_changed: files.iter().filter(|f| f.edits > 0).count(),
        functions: functions.len(),
        ..Default::default()
    };
    for r in functions {
        match r.status {
            Status::Threaded => t.threaded += 1,
            Status::EntryPoint => t.entry_points += 1,
            Status::NoContext => t.no_context += 1,
            Status::Legacy => t.legacy += 1,
            Status::Refused { .. } => t.refused += 1,
        }
        t.calls_rewritten += r.calls_rewritten;
        t.params_added += usize::from(r.param_added);
        t.prologues_added += usize::from(r.prologue_added);
        t.prototypes_updated += r.prototypes_updated;
        t.bridges_added += r.bridges.iter().filter(|b| b.added).count();
        t.calls_already_ctx += r.calls_already_ctx;
        t.bridges += r.bridges.len();
        t.legacy_calls += r.legacy_calls.len();
    }
    for m in macros {
        match m.status {
            MacroStatus::Rewritten => t.macros_rewritten += 1,
            MacroStatus::Legacy { .. } => t.macros_legacy += 1,
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Bridge;
    use std::path::PathBuf;

    fn rep(status: Status, param: bool, bridges: &[bool]) -> FunctionReport {
        FunctionReport {
            file: PathBuf::from("a.c"),
            line: 1,
            name: "f".into(),
            is_static: true,
            status,
            entry_reason: None,
            ctx_var: None,
            param_added: param,
            prologue_added: false,
            prototypes_updated: 0,
            calls_rewritten: 2,
            calls_already_ctx: 1,
            callers_updated: 0,
            bridges: bridges
                .iter()
                .map(|&added| Bridge {
                    line: 1,
                    column: 1,
                    callee: "g".into(),
                    added,
                })
                .collect(),
            legacy_calls: vec![],
            legacy_reason: None,
            trampoline: None,
        }
    }

    #[test]
    fn totals_separate_this_runs_changes_from_the_codes_state() {
        let fns = [
            rep(Status::Threaded, true, &[]),
            rep(Status::Threaded, false, &[]),
            rep(Status::Legacy, false, &[true, false]),
        ];
        let t = totals(&[], &fns, &[]);
        assert_eq!((t.functions, t.threaded, t.legacy), (3, 2, 1));
        assert_eq!((t.params_added, t.bridges_added, t.bridges), (1, 1, 2));
        assert_eq!((t.calls_rewritten, t.calls_already_ctx), (6, 3));
    }
}
