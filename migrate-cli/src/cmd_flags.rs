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
    /// Write `pyctx-X.Y.pc` and `pyctx-compat-X.Y.pc` for the interpreter
    /// and print their directory, for PKG_CONFIG_PATH.
    #[arg(long, conflicts_with_all = ["cflags", "ldflags", "compat"])]
    pkg_config: bool,
    /// The interpreter the extension is built for (default: `$PYCTX_PYTHON`,
    /// which `python -m pyctx` sets to itself, else `python3` on PATH).
    #[arg(
        long,
        env = "PYCTX_PYTHON",
        default_value = "python3",
        value_name = "PATH"
    )]
    python: String,
}

pub fn run(args: Args) -> Result<()> {
    if !args.cflags && !args.ldflags && !args.pkg_config {
        bail!("say what to print: --cflags and/or --ldflags, or --pkg-config");
    }
    let interp = Interpreter::probe(&args.python)?;
    let mut out: Vec<String> = Vec::new();
    if args.pkg_config {
        out.push(
            pyctx_flags::pkgconfig::write(&interp)?
                .display()
                .to_string(),
        );
    }
    if args.cflags {
        out.extend(pyctx_flags::cflags(&interp, args.compat)?);
    }
    if args.ldflags {
        out.extend(pyctx_flags::ldflags(&interp, args.compat)?);
    }
    // Not println!: a closed pipe is an error main() ends quietly, not a
    // panic.
    use std::io::Write;
    writeln!(std::io::stdout().lock(), "{}", out.join(" "))?;
    Ok(())
}
