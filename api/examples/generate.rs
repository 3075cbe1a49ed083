//! Regenerate `api/table.json` from the installed interpreters:
//! `cargo run -p pyctx-api --example generate [-- PYTHON...]`.

use pyctx_api::Table;
use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let interpreters = if args.is_empty() {
        pyctx_api::discover_interpreters()?
    } else {
        args
    };
    let start = std::time::Instant::now();
    let table = pyctx_api::generate(&interpreters)?;
    let elapsed = start.elapsed();
    let path = Table::default_path();
    std::fs::write(&path, table.to_canonical_json())?;
    eprintln!(
        "wrote {} ({} entries from {}) in {:.2}s",
        path.display(),
        table.entries.len(),
        table
            .generated_from
            .values()
            .cloned()
            .collect::<Vec<_>>()
            .join(", "),
        elapsed.as_secs_f64()
    );
    Ok(())
}
