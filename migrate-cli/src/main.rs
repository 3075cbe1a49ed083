//! The `pyctx` command.

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod cmd_api;
mod cmd_flags;

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
    /// Print compiler or linker flags for building an extension with pyctx.
    Flags(cmd_flags::Args),
    /// The API table: list what the runtime offers, or regenerate it.
    #[command(subcommand)]
    Api(cmd_api::ApiCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: Result<()> = match cli.command {
        Command::Flags(args) => cmd_flags::run(args),
        Command::Api(cmd) => cmd_api::run(cmd),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pyctx: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
