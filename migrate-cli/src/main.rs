//! The `pyctx` command.
//!
//! Terminal plumbing lives here once: a closed stdout (`pyctx migrate DIR |
//! head`) ends the run quietly with status 0, a panic anywhere is an
//! internal error with status 2 (per-file panics are diagnostics, see
//! `guard.rs`), and every command's status is an [`exit::Exit`].

use anyhow::Result;
use clap::{Parser, Subcommand};
use exit::Exit;
use std::process::ExitCode;

mod cmd_api;
mod cmd_flags;
mod cmd_migrate;
mod cmd_python;
mod cmd_status;
mod diff;
#[cfg(test)]
mod docs;
mod exit;
mod guard;
mod names;
mod report;
mod sources;
mod testing;
mod write;

#[derive(Parser)]
#[command(
    name = "pyctx",
    version,
    about = "Port CPython C extensions to the context API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Rewrite C sources to the context API (a diff by default; --write, --check, --json).
    Migrate(cmd_migrate::Args),
    /// Porting progress per file and per function.
    Status(cmd_status::Args),
    /// Print compiler or linker flags for building an extension with pyctx.
    Flags(cmd_flags::Args),
    /// The API table: list what the runtime offers, or regenerate it.
    #[command(subcommand)]
    Api(cmd_api::ApiCommand),
    /// Supported CPython versions and the interpreters found for them.
    #[command(subcommand)]
    Python(cmd_python::PythonCommand),
}

/// The status a command's own code (`Ok(n)`) maps to.
fn from_code(code: u8) -> Exit {
    Exit::ALL
        .iter()
        .copied()
        .find(|e| e.code() == code)
        .unwrap_or(Exit::Failure)
}

fn dispatch(cli: Cli) -> Result<Exit> {
    match cli.command {
        Command::Migrate(args) => cmd_migrate::run(args),
        Command::Status(args) => cmd_status::run(args).map(from_code),
        Command::Flags(args) => cmd_flags::run(args).map(|()| Exit::Success),
        Command::Api(cmd) => cmd_api::run(cmd).map(|()| Exit::Success),
        Command::Python(cmd) => cmd_python::run(cmd).map(|()| Exit::Success),
    }
}

/// Did the error come from writing to a reader that went away?
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<serde_json::Error>()
                .and_then(|j| j.io_error_kind())
                .is_some_and(|k| k == std::io::ErrorKind::BrokenPipe)
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    guard::install_hook();
    let exit = match guard::catch(|| dispatch(cli)) {
        Ok(Ok(exit)) => exit,
        Ok(Err(e)) if is_broken_pipe(&e) => Exit::Success,
        Ok(Err(e)) => {
            eprintln!("pyctx: error: {e:#}");
            Exit::Failure
        }
        // `println!` panics when stdout is closed: the same closed pipe.
        Err(panic)
            if panic.starts_with("failed printing to stdout") && panic.contains("Broken pipe") =>
        {
            Exit::Success
        }
        Err(panic) => {
            eprintln!("pyctx: internal error: {panic} (a bug in pyctx: please report it)");
            Exit::Failure
        }
    };
    exit.into()
}
