//! The `pyctx` command.

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod cmd_api;
mod cmd_flags;
mod cmd_migrate;
mod cmd_status;
mod sources;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: Result<u8> = match cli.command {
        Command::Migrate(args) => cmd_migrate::run(args),
        Command::Status(args) => cmd_status::run(args),
        Command::Flags(args) => cmd_flags::run(args).map(|()| 0),
        Command::Api(cmd) => cmd_api::run(cmd).map(|()| 0),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("pyctx: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
