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
}

pub fn run(cmd: ApiCommand) -> Result<()> {
    match cmd {
        ApiCommand::List { python } => list(&python),
    }
}

fn list(python: &str) -> Result<()> {
    let interp = Interpreter::probe(python)?;
    // The generated header decides what is really offered (a table entry
    // whose header is not reachable from Python.h gets no ctx form).
    let dir = pyctx_flags::generated_include_dir(&interp)?;
    let text = std::fs::read_to_string(dir.join("pyctx_api.h"))?;
    let offered: std::collections::HashSet<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("#define PyCtxOrig_"))
        .filter_map(|l| l.split(|c: char| c == '(' || c == ' ').next())
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
            .map(|p| if p.ty.is_empty() { p.name.clone() } else { p.ty.clone() })
            .chain(form.variadic.then(|| "...".to_string()))
            .collect();
        let ret = if form.ret.is_empty() { String::new() } else { format!("{} ", form.ret) };
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
    std::io::stdout().write_all(out.as_bytes())?;
    Ok(())
}
