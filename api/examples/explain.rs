//! Print every public function-like macro of one interpreter's headers with
//! its shape, the deciding rule and its body:
//! `cargo run -p pyctx-api --example explain -- /path/to/python3 [NAME...]`.

use pyctx_api::generate::{scan::Scan, shape, tu_source, Interpreter};
use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args_os().skip(1);
    let interp = Interpreter::query(&PathBuf::from(
        args.next().expect("usage: explain PYTHON [NAME...]"),
    ))?;
    let names: Vec<String> = args.map(|a| a.to_string_lossy().into_owned()).collect();
    let scan = Scan::run(&interp.include_dir, &tu_source(&interp.include_dir), &[])?;
    let decisions = shape::classify_explained(&scan);
    for (name, m) in &scan.macros {
        let wanted = if names.is_empty() {
            m.function_like() && !name.starts_with('_')
        } else {
            names.contains(name)
        };
        if !wanted {
            continue;
        }
        let d = decisions[name];
        let body: Vec<&str> = m.body.iter().map(|t| t.text.as_str()).collect();
        println!(
            "{name}({}) {:?} rule {} [{}]: {}",
            m.params().join(","),
            d.shape,
            d.rule,
            m.header,
            body.join(" ")
        );
    }
    Ok(())
}
