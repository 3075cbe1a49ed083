//! `pyctx migrate`: rewrite C sources to the context API.
//!
//! Default: print a unified diff and change nothing. `--write` applies the
//! edits (atomically per file, keeping permissions), `--check` only reports
//! whether anything is left to migrate, `--json` prints the engine's report
//! (schema: docs/cli.md).
//!
//! Exit status: 0 done (or nothing to do), 1 `--check` found work, 2 usage,
//! I/O or engine errors. A function the engine cannot parse or rewrite is
//! reported (file:line, reason) and left untouched; `--check` still exits 1
//! only when there is work it can do.

use crate::sources;
use anyhow::{bail, Context, Result};
use pyctx_rewrite::{ApiNames, Options, Outcome, Severity, SourceFile};
use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Clone)]
pub struct Selection {
    /// Files or folders (every .c/.h below).
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Also take the translation units of this compile_commands.json (and the
    /// headers beside them).
    #[arg(long, value_name = "FILE")]
    pub compile_commands: Option<PathBuf>,
    /// Migrate only these functions (comma-separated names).
    #[arg(long, value_delimiter = ',', value_name = "NAME,...")]
    pub only: Option<Vec<String>>,
    /// Never migrate these functions.
    #[arg(long, value_delimiter = ',', value_name = "NAME,...")]
    pub exclude: Vec<String>,
    /// Migrate only functions defined in files matching this glob (other
    /// files still get prototype updates and bridges).
    #[arg(long, value_name = "GLOB")]
    pub files: Option<String>,
    /// Functions called from outside the project by name: they keep their
    /// signature.
    #[arg(long, value_delimiter = ',', value_name = "NAME,...")]
    pub entry: Vec<String>,
    /// Name of the context variable to introduce.
    #[arg(long, default_value = "ctx", value_name = "NAME")]
    pub ctx_name: String,
    /// Entry points whose address is taken become `NAME_impl(PyCtx ctx,
    /// ...)` plus a trampoline defining `NAME` (instead of `PyCtx_Get()`).
    #[arg(long)]
    pub trampolines: bool,
}

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub selection: Selection,
    /// Apply the edits in place (atomically per file).
    #[arg(long, conflicts_with = "check")]
    pub write: bool,
    /// Change nothing; exit 1 when anything is left to migrate.
    #[arg(long)]
    pub check: bool,
    /// Print the report as JSON (docs/cli.md) instead of a diff.
    #[arg(long)]
    pub json: bool,
    /// Colour the diff: auto (on a terminal), always, never.
    #[arg(long, default_value = "auto", value_name = "WHEN")]
    pub color: String,
}

/// Files and engine options from the command line, and the engine's result.
pub struct Run {
    pub files: Vec<SourceFile>,
    pub outcome: Outcome,
}

pub fn run_engine(sel: &Selection) -> Result<Run> {
    if sel.paths.is_empty() && sel.compile_commands.is_none() {
        bail!("give files, folders or --compile-commands FILE");
    }
    if sel.ctx_name.is_empty()
        || !sel
            .ctx_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        || sel.ctx_name.starts_with(|c: char| c.is_ascii_digit())
    {
        bail!("--ctx-name {:?} is not a C identifier", sel.ctx_name);
    }
    let paths = sources::collect(&sel.paths, sel.compile_commands.as_deref())?;
    let progress = Progress::new(paths.len());
    let files = sources::read(&paths)?;
    progress.done("read");
    let only_files = match &sel.files {
        None => None,
        Some(g) => {
            let pat = glob::Pattern::new(g)
                .with_context(|| format!("--files {g:?}: not a valid glob"))?;
            let set: BTreeSet<PathBuf> = paths
                .iter()
                .filter(|p| pat.matches_path(p))
                .cloned()
                .collect();
            if set.is_empty() {
                bail!("--files {g:?} matches none of the {} files", paths.len());
            }
            Some(set)
        }
    };
    let opts = Options {
        ctx_name: sel.ctx_name.clone(),
        only: sel.only.as_ref().map(|v| v.iter().cloned().collect()),
        exclude: sel.exclude.iter().cloned().collect(),
        only_files,
        entry: sel.entry.iter().cloned().collect(),
        trampolines: sel.trampolines,
        ..Options::default()
    };
    let api = ApiNames::load_default()?;
    let outcome = pyctx_rewrite::migrate(&files, &api, &opts);
    progress.done("migrated");
    Ok(Run { files, outcome })
}

/// The exit status for a finished run.
pub fn had_errors(outcome: &Outcome) -> bool {
    // A function the engine refuses (K&R, a syntax tree with errors, an
    // `if` split by `#if`) is reported with file:line and left untouched;
    // the rest of the project is still migrated, so that is not a failure.
    outcome
        .diagnostics
        .iter()
        .any(|d| d.severity == Severity::Error)
}

pub fn run(args: Args) -> Result<u8> {
    let Run { files, outcome } = run_engine(&args.selection)?;
    let color = match args.color.as_str() {
        "always" => true,
        "never" => false,
        "auto" => std::io::stdout().is_terminal(),
        other => bail!("--color {other:?}: use auto, always or never"),
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        let json = serde_json::to_string_pretty(&report_json(&files, &outcome))?;
        writeln!(out, "{json}")?;
    } else if !args.check && !args.write {
        for (src, f) in files.iter().zip(&outcome.files) {
            if let Some(new) = &f.new_text {
                write_diff(&mut out, &src.path, &src.text, new, color)?;
            }
        }
    }
    // Diagnostics always reach stderr: nothing is skipped silently.
    let mut err = std::io::stderr().lock();
    for d in &outcome.diagnostics {
        if d.severity >= Severity::Warning {
            let sev = if d.severity == Severity::Error {
                "error"
            } else {
                "warning"
            };
            writeln!(
                err,
                "{}:{}:{}: {sev}[{}]: {}",
                d.file.display(),
                d.line,
                d.column,
                d.code,
                d.message
            )?;
        }
    }
    let t = &outcome.totals;
    writeln!(
        err,
        "pyctx: {} file(s) {}, {} call(s) rewritten, {} function(s) threaded, {} entry point(s), {} bridge(s), {} refused",
        t.files_changed,
        if args.write { "written" } else { "to change" },
        t.calls_rewritten,
        t.threaded,
        t.entry_points,
        t.bridges,
        t.refused
    )?;
    if args.write {
        for f in &outcome.files {
            if let Some(new) = &f.new_text {
                write_atomically(&f.path, new)?;
            }
        }
    }
    if had_errors(&outcome) {
        return Ok(2);
    }
    if args.check && outcome.changed() {
        return Ok(1);
    }
    Ok(0)
}

/// The `--json` document: the engine's report plus per-file diffs.
pub fn report_json(files: &[SourceFile], outcome: &Outcome) -> serde_json::Value {
    let mut v = serde_json::to_value(outcome).expect("outcome serialises");
    if let Some(list) = v.get_mut("files").and_then(|f| f.as_array_mut()) {
        for (entry, (src, f)) in list.iter_mut().zip(files.iter().zip(&outcome.files)) {
            if let Some(obj) = entry.as_object_mut() {
                obj.remove("new_text");
                let diff = f
                    .new_text
                    .as_ref()
                    .map(|new| unified(&src.path, &src.text, new));
                obj.insert("changed".into(), serde_json::Value::Bool(diff.is_some()));
                obj.insert(
                    "diff".into(),
                    diff.map_or(serde_json::Value::Null, serde_json::Value::String),
                );
            }
        }
    }
    if let Some(obj) = v.as_object_mut() {
        obj.insert("schema".into(), serde_json::Value::from(1));
    }
    v
}

fn unified(path: &Path, old: &str, new: &str) -> String {
    let name = path.display().to_string();
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{name}"), &format!("b/{name}"))
        .to_string()
}

fn write_diff(out: &mut impl Write, path: &Path, old: &str, new: &str, color: bool) -> Result<()> {
    let text = unified(path, old, new);
    if !color {
        out.write_all(text.as_bytes())?;
        return Ok(());
    }
    for line in text.split_inclusive('\n') {
        let code = if line.starts_with("+++") || line.starts_with("---") {
            "1"
        } else if line.starts_with('+') {
            "32"
        } else if line.starts_with('-') {
            "31"
        } else if line.starts_with("@@") {
            "36"
        } else {
            ""
        };
        if code.is_empty() {
            out.write_all(line.as_bytes())?;
        } else {
            let body = line.trim_end_matches('\n');
            write!(out, "\x1b[{code}m{body}\x1b[0m{}", &line[body.len()..])?;
        }
    }
    Ok(())
}

/// Replace `path` by `text` via a temporary file in the same folder and a
/// rename, keeping the file's permissions: never a half-written file.
pub fn write_atomically(path: &Path, text: &str) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .context("not a file path")?
        .to_string_lossy();
    let tmp = dir.join(format!(".{name}.pyctx-{}.tmp", std::process::id()));
    let perms = std::fs::metadata(path)
        .with_context(|| format!("{}: cannot stat", path.display()))?
        .permissions();
    let result = (|| -> Result<()> {
        let mut f = std::fs::File::create(&tmp)
            .with_context(|| format!("{}: cannot create", tmp.display()))?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::set_permissions(&tmp, perms)?;
        std::fs::rename(&tmp, path)
            .with_context(|| format!("{}: cannot replace", path.display()))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A one-line progress note on a terminal, for large trees only.
struct Progress {
    files: usize,
    show: bool,
    start: std::time::Instant,
}

impl Progress {
    fn new(files: usize) -> Progress {
        Progress {
            files,
            show: files >= 200 && std::io::stderr().is_terminal(),
            start: std::time::Instant::now(),
        }
    }

    fn done(&self, what: &str) {
        if self.show {
            eprint!(
                "\rpyctx: {what} {} files ({:.2} s)\x1b[K{}",
                self.files,
                self.start.elapsed().as_secs_f64(),
                if what == "migrated" { "\n" } else { "" }
            );
        }
    }
}
