//! `pyctx python list`: the supported CPython versions and the interpreters
//! found for them, from the one place that knows both
//! ([`pyctx_api::pythons`]). `scripts/setup` and the Python tests ask here
//! instead of keeping their own list or search order.

use anyhow::Result;
use std::io::Write;

#[derive(clap::Subcommand)]
pub enum PythonCommand {
    /// List the interpreters found under the pyenv root: one line per
    /// supported version found (`3.12<TAB>3.12.1<TAB>PATH`); with --json,
    /// everything: supported versions, found, missing, unsupported ones.
    List {
        /// One JSON object: `supported` (versions), `pyenv_root`, `found`
        /// (version, release, path), `missing`, `unsupported`.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: PythonCommand) -> Result<()> {
    match cmd {
        PythonCommand::List { json } => list(json),
    }
}

fn list(json: bool) -> Result<()> {
    let found = pyctx_api::pythons::discover()?;
    let mut out = std::io::stdout().lock();
    if json {
        let value = serde_json::json!({
            "supported": pyctx_api::SUPPORTED_VERSIONS,
            "pyenv_root": found.root,
            "found": found.supported,
            "missing": found.missing,
            "unsupported": found.unsupported,
        });
        serde_json::to_writer_pretty(&mut out, &value)?;
        writeln!(out)?;
        return Ok(());
    }
    for f in &found.supported {
        writeln!(out, "{}\t{}\t{}", f.minor, f.release, f.path.display())?;
    }
    if !found.missing.is_empty() {
        eprintln!(
            "pyctx: no interpreter for CPython {} under {}",
            found.missing.join(", "),
            found.root.as_ref().map_or_else(
                || "the pyenv root".into(),
                |r| format!("{}/versions", r.display())
            )
        );
    }
    Ok(())
}
