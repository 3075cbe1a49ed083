//! `pyctx flags`: compiler and linker flags for an extension build.

use anyhow::{bail, Result};
use pyctx_flags::interp::Interpreter;

#[derive(clap::Args)]
pub struct Args {
    /// Print C compiler flags (include paths; generates the header for the interpreter).
    #[arg(long)]
    cflags: bool,
    /// Print linker flags (the static runtime library).
    #[arg(long)]
    ldflags: bool,
    /// For unmodified legacy sources: compat by linking. --cflags prints
    /// nothing (the compile step stays CPython's own); --ldflags checks the
    /// platform supports it.
    #[arg(long)]
    compat: bool,
    /// The interpreter the extension is built for.
    #[arg(long, default_value = "python3", value_name = "PATH")]
    python: String,
}

pub fn run(args: Args) -> Result<()> {
    if !args.cflags && !args.ldflags {
        bail!("say what to print: --cflags and/or --ldflags");
    }
    let interp = Interpreter::probe(&args.python)?;
    let mut out: Vec<String> = Vec::new();
    if args.cflags {
        out.extend(pyctx_flags::cflags(&interp, args.compat)?);
    }
    if args.ldflags {
        out.extend(pyctx_flags::ldflags(&interp, args.compat)?);
    }
    println!("{}", out.join(" "));
    Ok(())
}
