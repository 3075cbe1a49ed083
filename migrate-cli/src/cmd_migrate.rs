//! `pyctx migrate`: rewrite C sources to the context API.
//!
//! Default: print a unified diff and change nothing. `--write` applies the
//! edits to every file or to none (`write.rs`), `--check` only reports
//! whether anything is left to migrate, `--json` prints the engine's report
//! (schema: docs/cli.md). Exit statuses: `exit.rs`.
//!
//! The pipeline: check the options → find and read the files
//! (`sources.rs`) → run the engine (a panic becomes a diagnostic for the
//! file that caused it) → write (`--write`) → render (`report.rs`).

use crate::exit::Exit;
use crate::report::{self, WriteResult};
use crate::sources::{self, Stamp};
use crate::{guard, names, testing, write};
use anyhow::{bail, Context, Result};
use pyctx_rewrite::{
    ApiNames, Code, Diagnostic, FileOutcome, Options, Outcome, Severity, SourceFile, Totals,
};
use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

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

/// When to colour the output.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum Color {
    /// On a terminal, unless NO_COLOR is set (CLICOLOR_FORCE forces it).
    Auto,
    Always,
    Never,
}

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub selection: Selection,
    /// Apply the edits in place: every file or none (docs/cli.md).
    #[arg(long, conflicts_with = "check")]
    pub write: bool,
    /// Change nothing; exit 1 when anything is left to migrate.
    #[arg(long)]
    pub check: bool,
    /// Print the report as JSON (docs/cli.md) instead of a diff.
    #[arg(long)]
    pub json: bool,
    /// Colour the diff and the diagnostics.
    #[arg(long, value_enum, default_value = "auto", value_name = "WHEN")]
    pub color: Color,
    /// Compile every changed translation unit before and after (libclang,
    /// with `pyctx flags --cflags` for --python) and back out the rewrite of
    /// any function that adds a compiler error.
    #[arg(long)]
    pub verify: bool,
    /// With --verify: the interpreter whose headers and flags to compile with.
    #[arg(
        long,
        default_value = "python3",
        value_name = "PATH",
        requires = "verify"
    )]
    pub python: String,
    /// With --verify: the C++ standard C++ units are compiled with (the
    /// build's, e.g. c++11 or gnu++20).
    #[arg(long, default_value = "c++17", value_name = "STD", requires = "verify")]
    pub cxx_std: String,
}

/// `--verify`: a compiler with the build's flags for `python`.
fn verifier(python: &str, cxx_std: &str) -> Result<pyctx_rewrite::Libclang> {
    let interp = pyctx_flags::interp::Interpreter::probe(python)?;
    let mut args = pyctx_flags::cflags(&interp, false)?;
    args.push(format!("-I{}", interp.include.display()));
    Ok(pyctx_rewrite::Libclang::new(args)
        .context("--verify needs libclang (scripts/setup installs it)")?
        .cxx_std(cxx_std))
}

/// Files and engine options from the command line, and the engine's result.
pub struct Run {
    pub files: Vec<SourceFile>,
    /// Each file as it was when read, for `--write`.
    pub stamps: Vec<Stamp>,
    pub outcome: Outcome,
}

/// Usage errors found before reading anything.
fn check_options(sel: &Selection, table: &pyctx_api::Table) -> Result<()> {
    if sel.paths.is_empty() && sel.compile_commands.is_none() {
        bail!("give files, folders or --compile-commands FILE");
    }
    if let Some(why) = names::ctx_name_problem(&sel.ctx_name, table) {
        bail!("--ctx-name {:?}: {why}", sel.ctx_name);
    }
    names::check_nonempty("--only", sel.only.as_deref().unwrap_or_default())?;
    names::check_nonempty("--exclude", &sel.exclude)?;
    names::check_nonempty("--entry", &sel.entry)
}

/// `--files GLOB`: the files it selects; matching none is an error.
fn glob_files(glob: &str, paths: &[PathBuf]) -> Result<BTreeSet<PathBuf>> {
    let pat =
        glob::Pattern::new(glob).with_context(|| format!("--files {glob:?}: not a valid glob"))?;
    let set: BTreeSet<PathBuf> = paths
        .iter()
        .filter(|p| pat.matches_path(p))
        .cloned()
        .collect();
    if set.is_empty() {
        bail!("--files {glob:?} matches none of the {} files", paths.len());
    }
    Ok(set)
}

/// Run the engine over the selection; with `verify`, through that compiler
/// (`migrate_verified`).
pub fn run_engine(sel: &Selection, verify: Option<&dyn pyctx_rewrite::Compile>) -> Result<Run> {
    let table = pyctx_api::Table::load_default()?;
    check_options(sel, &table)?;
    let found = sources::collect(&sel.paths, sel.compile_commands.as_deref())?;
    let progress = Progress::new(found.paths.len());
    let (files, stamps) = sources::read(&found.paths)?;
    progress.done("read");
    let only_files = match &sel.files {
        None => None,
        Some(g) => Some(glob_files(g, &found.paths)?),
    };
    let opts = Options {
        ctx_name: sel.ctx_name.clone(),
        only: sel.only.as_ref().map(|v| v.iter().cloned().collect()),
        exclude: sel.exclude.iter().cloned().collect(),
        only_files,
        entry: sel.entry.iter().cloned().collect(),
        trampolines: sel.trampolines,
        units: found.units.clone(),
    };
    let api = ApiNames::from_table(&table);
    let mut outcome = migrate_guarded(&files, &api, &opts, verify);
    progress.done("migrated");
    if !had_errors(&outcome) {
        let defined: BTreeSet<&str> = outcome.functions.iter().map(|f| f.name.as_str()).collect();
        let n = files.len();
        let only = sel.only.as_deref().unwrap_or_default();
        names::check_defined("--only", only, &defined, n)?;
        names::check_defined("--exclude", &sel.exclude, &defined, n)?;
        names::check_defined("--entry", &sel.entry, &defined, n)?;
    }
    outcome.diagnostics.splice(0..0, found.warnings);
    Ok(Run {
        files,
        stamps,
        outcome,
    })
}

/// The engine over `files`; a panic becomes a diagnostic.
///
/// The engine works on the whole project at once, so a panic does not say
/// which file caused it: each file is then run alone, the files that panic
/// alone are left out (each with an `internal` error), and the rest is
/// migrated again. When no single file panics, the whole run is the error.
/// Either way the run has an error, so `--write` writes nothing: a project
/// migrated without one of its files may not build.
fn migrate_guarded(
    files: &[SourceFile],
    api: &ApiNames,
    opts: &Options,
    verify: Option<&dyn pyctx_rewrite::Compile>,
) -> Outcome {
    let run = |fs: &[SourceFile]| {
        guard::catch(|| {
            testing::panic_if("engine", fs.iter().map(|f| f.path.as_path()));
            match verify {
                Some(cc) => pyctx_rewrite::migrate_verified(fs, api, opts, cc),
                None => pyctx_rewrite::migrate(fs, api, opts),
            }
        })
    };
    let whole = match run(files) {
        Ok(o) => return o,
        Err(m) => m,
    };
    let bad: Vec<(usize, String)> = files
        .iter()
        .enumerate()
        .filter_map(|(i, f)| run(std::slice::from_ref(f)).err().map(|m| (i, m)))
        .collect();
    if bad.is_empty() {
        return failed_run(files, &whole);
    }
    let rest: Vec<SourceFile> = files
        .iter()
        .enumerate()
        .filter(|(i, _)| !bad.iter().any(|(b, _)| b == i))
        .map(|(_, f)| f.clone())
        .collect();
    let mut outcome = match run(&rest) {
        Ok(o) => o,
        Err(m) => return failed_run(files, &m),
    };
    // Back to one entry per input file, in input order.
    let mut done = std::mem::take(&mut outcome.files).into_iter();
    outcome.files = files
        .iter()
        .enumerate()
        .map(|(i, f)| match bad.iter().any(|(b, _)| *b == i) {
            true => FileOutcome::unchanged(f.path.clone()),
            false => done.next().expect("one outcome per file run"),
        })
        .collect();
    for (i, m) in bad {
        let d = report::panic_diagnostic(&files[i].path, "migrating", &m);
        outcome.diagnostics.push(d);
    }
    outcome
}

/// Nothing migrated: one `internal` error for the run.
fn failed_run(files: &[SourceFile], message: &str) -> Outcome {
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
            code: Code::Internal,
            message: format!(
                "pyctx panicked while migrating the project (no single file causes it): \
                 {message}; nothing was changed (a bug in pyctx: please report it)"
            ),
        }],
        totals: Totals::default(),
    }
}

/// Did the run end in an error (exit status 2, nothing written)?
pub fn had_errors(outcome: &Outcome) -> bool {
    // A function the engine refuses (K&R, a syntax tree with errors, an
    // `if` split by `#if`) is reported with file:line and left untouched;
    // the rest of the project is still migrated, so that is not a failure.
    outcome
        .diagnostics
        .iter()
        .any(|d| d.severity == Severity::Error)
}

/// `--write`: every changed file or none; failures become `write` errors.
fn write_files(run: &mut Run) -> (WriteResult, Vec<bool>) {
    let mut written = vec![false; run.files.len()];
    testing::before_write();
    if had_errors(&run.outcome) {
        return (WriteResult::NothingWritten, written);
    }
    let mut jobs = Vec::new();
    let mut index = Vec::new();
    for (i, (src, f)) in run.files.iter().zip(&run.outcome.files).enumerate() {
        if let Some(new) = &f.new_text {
            jobs.push(write::Job {
                path: &src.path,
                old: &src.text,
                new,
                stamp: &run.stamps[i],
            });
            index.push(i);
        }
    }
    match write::write_all(&jobs) {
        Ok(()) => {
            for i in index {
                written[i] = true;
            }
            (WriteResult::Written, written)
        }
        Err(failures) => {
            let diags = failures.into_iter().map(|f| Diagnostic {
                file: f.path,
                line: 0,
                column: 0,
                severity: Severity::Error,
                code: Code::Write,
                message: f.message,
            });
            run.outcome.diagnostics.extend(diags);
            (WriteResult::NothingWritten, written)
        }
    }
}

pub fn run(args: Args) -> Result<Exit> {
    anstream::ColorChoice::write_global(match args.color {
        Color::Auto => anstream::ColorChoice::Auto,
        Color::Always => anstream::ColorChoice::Always,
        Color::Never => anstream::ColorChoice::Never,
    });
    let cc = if args.verify {
        Some(verifier(&args.python, &args.cxx_std)?)
    } else {
        None
    };
    let mut run = run_engine(
        &args.selection,
        cc.as_ref().map(|c| c as &dyn pyctx_rewrite::Compile),
    )?;
    // Only names the files in diffs; a folder that is gone names them from /.
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let (write_result, written) = if args.write {
        write_files(&mut run)
    } else {
        (WriteResult::DryRun, vec![false; run.files.len()])
    };
    let stdout = std::io::stdout();
    let color = anstream::AutoStream::choice(&stdout) != anstream::ColorChoice::Never;
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    if args.json {
        report::write_json(&mut out, &run.files, &mut run.outcome, &written, &cwd)?;
    } else if !args.check && !args.write {
        let failed = report::write_diffs(&mut out, &run.files, &run.outcome, &cwd, color)?;
        run.outcome.diagnostics.extend(failed);
    }
    out.flush()?;
    // Diagnostics always reach stderr: nothing is skipped silently.
    report::write_summary(&mut anstream::stderr().lock(), &run.outcome, write_result)?;
    Ok(if had_errors(&run.outcome) {
        Exit::Failure
    } else if args.check && run.outcome.changed() {
        Exit::WorkLeft
    } else {
        Exit::Success
    })
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
