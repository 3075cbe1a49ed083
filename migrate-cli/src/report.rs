//! The renderers of `pyctx migrate`, one per output format: the diff
//! (stdout, [`crate::diff`]), the JSON report (stdout), and the diagnostics
//! with the one-line summary (stderr). Each reads the same [`Outcome`].

use crate::diff;
use crate::guard;
use crate::testing;
use pyctx_rewrite::{
    Code, Diagnostic, FunctionReport, MacroReport, Outcome, Severity, SourceFile, Totals,
};
use serde::Serialize;
use std::io::{self, Write};
use std::path::Path;

/// An `internal` error for `file`: a panic while processing it.
pub fn panic_diagnostic(file: &Path, what: &str, message: &str) -> Diagnostic {
    Diagnostic {
        file: file.to_path_buf(),
        line: 0,
        column: 0,
        severity: Severity::Error,
        code: Code::Internal,
        message: format!(
            "pyctx panicked while {what} this file: {message}; the file is left as it was \
             (a bug in pyctx: please report it)"
        ),
    }
}

/// The diff of one file, or a diagnostic when rendering it panicked.
fn file_diff(
    src: &SourceFile,
    f: &pyctx_rewrite::FileOutcome,
    cwd: &Path,
    color: bool,
) -> Result<Vec<u8>, Diagnostic> {
    guard::catch(|| {
        testing::panic_if("diff", std::iter::once(src.path.as_path()));
        let mut buf = Vec::new();
        let name = diff::git_name(&src.path, cwd);
        diff::write_unified(&mut buf, &name, &src.text, &f.text_edits, color)
            .expect("writing to memory");
        buf
    })
    .map_err(|m| panic_diagnostic(&src.path, "rendering the diff of", &m))
}

/// Default mode: the unified diff of every changed file. A file whose
/// diff cannot be rendered gets a diagnostic instead (returned), never a
/// partial diff.
pub fn write_diffs(
    out: &mut impl Write,
    files: &[SourceFile],
    outcome: &Outcome,
    cwd: &Path,
    color: bool,
) -> io::Result<Vec<Diagnostic>> {
    let mut failed = Vec::new();
    for (src, f) in files.iter().zip(&outcome.files) {
        if f.new_text.is_none() {
            continue;
        }
        match file_diff(src, f, cwd, color) {
            Ok(bytes) => out.write_all(&bytes)?,
            Err(d) => failed.push(d),
        }
    }
    Ok(failed)
}

#[derive(Serialize)]
struct FileJson<'a> {
    path: &'a Path,
    changed: bool,
    edits: usize,
    include_added: bool,
    /// Replaced on disk by this run (`--write`, and only when every file
    /// could be written).
    written: bool,
    diff: Option<String>,
}

/// Schema 1 of `docs/cli.md`; fields are only ever added.
#[derive(Serialize)]
struct ReportJson<'a> {
    schema: u32,
    files: Vec<FileJson<'a>>,
    functions: &'a [FunctionReport],
    macros: &'a [MacroReport],
    diagnostics: &'a [Diagnostic],
    totals: &'a Totals,
    /// Files this run wrote (0 without `--write` or when it failed).
    written: usize,
}

/// `--json`: the report, with each changed file's diff.
pub fn write_json(
    out: &mut impl Write,
    files: &[SourceFile],
    outcome: &mut Outcome,
    written: &[bool],
    cwd: &Path,
) -> io::Result<()> {
    let mut diffs = Vec::with_capacity(files.len());
    let mut failed = Vec::new();
    for (src, f) in files.iter().zip(&outcome.files) {
        diffs.push(match f.new_text {
            None => None,
            Some(_) => match file_diff(src, f, cwd, false) {
                Ok(bytes) => Some(String::from_utf8(bytes).expect("diff of UTF-8 is UTF-8")),
                Err(d) => {
                    failed.push(d);
                    None
                }
            },
        });
    }
    outcome.diagnostics.extend(failed);
    let report = ReportJson {
        schema: 1,
        files: outcome
            .files
            .iter()
            .zip(diffs)
            .zip(written)
            .map(|((f, diff), &written)| FileJson {
                path: &f.path,
                changed: f.new_text.is_some(),
                edits: f.edits,
                include_added: f.include_added,
                written,
                diff,
            })
            .collect(),
        functions: &outcome.functions,
        macros: &outcome.macros,
        diagnostics: &outcome.diagnostics,
        totals: &outcome.totals,
        written: written.iter().filter(|w| **w).count(),
    };
    serde_json::to_writer_pretty(&mut *out, &report)?;
    writeln!(out)
}

/// `file:line:column: severity[code]: message` (without the position when
/// the diagnostic is about the whole file, without the file when it is
/// about the run).
pub fn write_diagnostic(out: &mut impl Write, d: &Diagnostic) -> io::Result<()> {
    let (sev, style) = match d.severity {
        Severity::Error => ("error", anstyle::AnsiColor::Red.on_default().bold()),
        Severity::Warning => ("warning", anstyle::AnsiColor::Yellow.on_default().bold()),
        Severity::Note => ("note", anstyle::Style::new().bold()),
    };
    let place = match (d.file.as_os_str().is_empty(), d.line) {
        (true, _) => "pyctx".to_string(),
        (false, 0) => d.file.display().to_string(),
        (false, _) => format!("{}:{}:{}", d.file.display(), d.line, d.column),
    };
    writeln!(
        out,
        "{place}: {}{sev}[{}]{}: {}",
        style.render(),
        d.code,
        style.render_reset(),
        d.message
    )
}

/// What `--write` did, for the summary.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum WriteResult {
    /// No `--write`.
    DryRun,
    Written,
    /// Refused or failed: every file is as it was.
    NothingWritten,
}

/// Every warning and error, then the one-line summary (stderr).
pub fn write_summary(
    out: &mut impl Write,
    outcome: &Outcome,
    write: WriteResult,
) -> io::Result<()> {
    for d in &outcome.diagnostics {
        if d.severity >= Severity::Warning {
            write_diagnostic(out, d)?;
        }
    }
    let t = &outcome.totals;
    let files = match write {
        WriteResult::DryRun => format!("{} file(s) to change", t.files_changed),
        WriteResult::Written => format!("{} file(s) written", t.files_changed),
        WriteResult::NothingWritten => {
            format!("nothing written ({} file(s) to change)", t.files_changed)
        }
    };
    writeln!(
        out,
        "pyctx: {files}, {} call(s) rewritten, {} function(s) threaded, {} entry point(s), \
         {} bridge(s), {} refused",
        t.calls_rewritten, t.threaded, t.entry_points, t.bridges, t.refused
    )
}
