//! `pyctx api`: the API table.

use anyhow::Result;
use pyctx_api::Table;
use pyctx_flags::interp::Interpreter;

#[derive(clap::Subcommand)]
pub enum ApiCommand {
    /// Print the names the runtime offers in ctx form for an interpreter, one
    /// per line: name, kind, then the C signature.
    List {
        #[arg(long, default_value = "python3", value_name = "PATH")]
        python: String,
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
        ApiCommand::List { python } => list(&python),
        ApiCommand::Generate {
            python,
            output,
            check,
        } => generate(python, output, check),
    }
}

fn list(python: &str) -> Result<()> {
    let interp = Interpreter::probe(python)?;
    // The generated header decides what is really offered (a table entry
    // whose header is not reachable from Python.h gets no ctx form).
    let dir = pyctx_flags::generated_include_dir(&interp)?;
    let text = std::fs::read_to_string(dir.join("pyctx_api.h"))?;
    let skipped = std::fs::read_to_string(dir.join("skipped.tsv")).unwrap_or_default();
    let offered: std::collections::HashSet<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("#define PyCtxOrig_"))
        .filter_map(|l| l.split(['(', ' ']).next())
        // aliases left as CPython's macros reach their target's ctx form
        .chain(skipped.lines().filter_map(|l| {
            let (name, reason) = l.split_once('\t')?;
            reason.starts_with("alias of ").then_some(name)
        }))
        .collect();
    let table = Table::load_default()?;
    let version = interp.minor_version();
    let mut out = String::new();
    for (_, entry, form) in table.for_version(&version) {
        if !offered.contains(entry.name.as_str()) {
            continue;
        }
        let kind = match form.kind {
            pyctx_api::Kind::Function => "function",
            pyctx_api::Kind::Inline => "inline",
            pyctx_api::Kind::Macro => "macro",
        };
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
        out.push_str(&format!(
            "{}\t{}\t{}{}(PyCtx{}{})\n",
            entry.name,
            kind,
            ret,
            entry.name,
            if params.is_empty() { "" } else { ", " },
            params.join(", ")
        ));
    }
    use std::io::Write;
    match std::io::stdout().write_all(out.as_bytes()) {
        // `pyctx api list | head` is fine.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => Ok(r?),
    }
}

fn generate(
    pythons: Vec<std::path::PathBuf>,
    output: Option<std::path::PathBuf>,
    check: bool,
) -> Result<()> {
    let pythons = if pythons.is_empty() {
        pyctx_api::generate::discover_interpreters()?
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
