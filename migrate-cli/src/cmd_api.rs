//! `pyctx api`: the API table.

use anyhow::Result;
use pyctx_api::Table;
use pyctx_flags::interp::Interpreter;
use std::collections::{BTreeMap, HashMap, HashSet};

#[derive(clap::Subcommand)]
pub enum ApiCommand {
    /// Print every public name of an interpreter that has or needs a ctx
    /// form (every exported `PyAPI_FUNC` included), one per line: name,
    /// kind, C signature, the header to include, and whether the generated
    /// header offers the ctx form now (else why not). The summary on stderr
    /// counts the public `PyAPI_FUNC` names and says which are left out.
    List {
        /// The interpreter (default: `$PYCTX_PYTHON`, else `python3` on PATH).
        #[arg(
            long,
            env = "PYCTX_PYTHON",
            default_value = "python3",
            value_name = "PATH"
        )]
        python: String,
        /// Only the names the generated header offers in ctx form.
        #[arg(long)]
        offered: bool,
    },
    /// Regenerate the table from CPython headers with libclang (default: the
    /// newest 3.9-3.13 of each minor under the pyenv root) and write it.
    Generate {
        /// Interpreters to read; repeat for several.
        #[arg(long, value_name = "PATH")]
        python: Vec<std::path::PathBuf>,
        /// Write here instead of the checked-in api/table.json.
        #[arg(long, value_name = "FILE")]
        output: Option<std::path::PathBuf>,
        /// Do not write; exit 1 if the checked-in table differs.
        #[arg(long)]
        check: bool,
    },
}

pub fn run(cmd: ApiCommand) -> Result<()> {
    match cmd {
        ApiCommand::List { python, offered } => list(&python, offered),
        ApiCommand::Generate {
            python,
            output,
            check,
        } => generate(python, output, check),
    }
}

/// What the generated full-API header of `interp` does with each name:
/// `None` when it offers the ctx form, else the reason it does not.
fn header_status(interp: &Interpreter) -> Result<HashMap<String, Option<String>>> {
    let dir = pyctx_flags::generated_include_dir(interp)?;
    // The full API's header (the limited-API levels offer subsets of it).
    let full = pyctx_flags::header::Api::Full.file_name();
    let text = std::fs::read_to_string(dir.join(&full))?;
    let skipped = std::fs::read_to_string(dir.join("skipped.tsv")).unwrap_or_default();
    let mut status: HashMap<String, Option<String>> = text
        .lines()
        .filter_map(|l| l.strip_prefix("#define PyCtxOrig_"))
        .filter_map(|l| l.split(['(', ' ']).next())
        .map(|n| (n.to_string(), None))
        .collect();
    for line in skipped.lines() {
        // file \t name \t reason
        let mut cols = line.splitn(3, '\t');
        let (Some(file), Some(name), Some(reason)) = (cols.next(), cols.next(), cols.next()) else {
            continue;
        };
        if file != full {
            continue;
        }
        // Aliases left as CPython's macros reach their target's ctx form.
        let why = (!reason.starts_with("alias of ")).then(|| reason.to_string());
        status.entry(name.to_string()).or_insert(why);
    }
    Ok(status)
}

fn signature(name: &str, form: &pyctx_api::Form) -> String {
    let params: Vec<String> = form
        .params
        .iter()
        .map(|p| {
            if p.ty.is_empty() {
                p.name.clone()
            } else {
                p.ty.clone()
            }
        })
        .chain(form.variadic.then(|| "...".to_string()))
        .collect();
    let ret = if form.ret.is_empty() {
        String::new()
    } else {
        format!("{} ", form.ret)
    };
    format!(
        "{ret}{name}(PyCtx{}{})",
        if params.is_empty() { "" } else { ", " },
        params.join(", ")
    )
}

fn list(python: &str, offered_only: bool) -> Result<()> {
    let interp = Interpreter::probe(python)?;
    let status = header_status(&interp)?;
    let table = Table::load_default()?;
    let version = interp.minor_version();
    let mut out = String::new();
    let (mut offered, mut listed) = (0, 0);
    for (_, entry, form) in table.for_version(&version) {
        if !(form.has_ctx_form() || form.exported) {
            continue;
        }
        let state = match status.get(&entry.name) {
            Some(None) => "ctx form".to_string(),
            Some(Some(why)) => format!("no ctx form yet: {why}"),
            None if !form.has_ctx_form() => "no ctx form: plain arithmetic macro".to_string(),
            None => "no ctx form yet: not in the generated header".to_string(),
        };
        let is_offered = matches!(status.get(&entry.name), Some(None));
        offered += usize::from(is_offered);
        listed += 1;
        if offered_only && !is_offered {
            continue;
        }
        let kind = match form.kind {
            pyctx_api::Kind::Function => "function",
            pyctx_api::Kind::Inline => "inline",
            pyctx_api::Kind::Macro => "macro",
        };
        out.push_str(&format!(
            "{}\t{kind}\t{}\t{}\t{state}\n",
            entry.name,
            signature(&entry.name, form),
            form.needs_include.as_deref().unwrap_or("Python.h"),
        ));
    }
    use std::io::Write;
    match std::io::stdout().write_all(out.as_bytes()) {
        // `pyctx api list | head` is fine.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
        r => r?,
    }
    eprintln!("{}", coverage_summary(&table, &interp, listed, offered)?);
    Ok(())
}

/// The stderr summary: how many public `PyAPI_FUNC` names the headers
/// declare, how many the list holds, and which are left and why.
fn coverage_summary(
    table: &Table,
    interp: &Interpreter,
    listed: usize,
    offered: usize,
) -> Result<String> {
    let version = interp.minor_version();
    let declared = pyctx_api::coverage::declared_functions(&interp.include)?;
    let exported: HashSet<&str> = table
        .for_version(&version)
        .filter(|(_, _, f)| f.exported)
        .map(|(_, e, _)| e.name.as_str())
        .collect();
    let mut names: BTreeMap<&str, Option<&str>> = BTreeMap::new();
    for d in &declared {
        // Left only when every declaration is platform-specific.
        let why = d.platform().map(|(_, why)| why);
        let slot = names.entry(&d.name).or_insert(why);
        if why.is_none() {
            *slot = None;
        }
    }
    let mut left: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, why) in &names {
        if !exported.contains(name) {
            left.entry(why.unwrap_or("missing from the API table"))
                .or_default()
                .push(name);
        }
    }
    let n_left: usize = left.values().map(Vec::len).sum();
    let mut s = format!(
        "pyctx: CPython {}.{}.{}: {listed} names listed, {offered} with a ctx form in the generated header; \
         {} of {} public PyAPI_FUNC names listed",
        interp.major,
        interp.minor,
        interp.micro,
        names.len() - n_left,
        names.len()
    );
    for (why, names) in left {
        s.push_str(&format!("\n  left, {why}: {}", names.join(" ")));
    }
    Ok(s)
}

fn generate(
    pythons: Vec<std::path::PathBuf>,
    output: Option<std::path::PathBuf>,
    check: bool,
) -> Result<()> {
    let pythons = if pythons.is_empty() {
        pyctx_api::pythons::discover_interpreters()?
    } else {
        pythons
    };
    let table = pyctx_api::generate::generate(&pythons)?;
    let text = table.to_canonical_json();
    let path = output.unwrap_or_else(Table::default_path);
    if check {
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current != text {
            eprintln!(
                "pyctx: {} is stale: run `pyctx api generate`",
                path.display()
            );
            std::process::exit(1);
        }
        return Ok(());
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, &text)?;
    std::fs::rename(&tmp, &path)?;
    for v in pyctx_api::SUPPORTED_VERSIONS {
        let n = table.for_version(v).count();
        if n > 0 {
            eprintln!("CPython {v}: {n} entries");
        }
    }
    eprintln!("wrote {}", path.display());
    Ok(())
}
