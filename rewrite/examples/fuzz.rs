//! The engine's fuzzer, for as long as you like (`scripts/fuzz` runs it).
//!
//! ```text
//! cargo run --release -p pyctx-rewrite --example fuzz -- \
//!     [--seed N] [--cases N] [--compile-every K] [--seeds DIR]... [--out DIR]
//! ```
//!
//! Same inputs and properties as the bounded run in `cargo test`
//! (tests/fuzz/mod.rs); every violation that no open entry of
//! `fixtures/migrate/FOUND.md` explains is minimised and written to
//! `--out` (default `target/fuzz/found/`) as `<property>-<case>.c`, with
//! the violation on the first line. Exit status 1 when there is any.

#[path = "../tests/fuzz/mod.rs"]
mod fuzz;

use pyctx_rewrite::{ApiNames, SourceFile};
use std::path::PathBuf;

fn main() {
    let mut seed = 1u64;
    let mut cases = 2000usize;
    let mut compile_every = 10usize;
    let mut extra: Vec<PathBuf> = Vec::new();
    let mut out = fuzz::repo().join("target/fuzz/found");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || {
            args.next()
                .unwrap_or_else(|| die(&format!("{a} needs a value")))
        };
        match a.as_str() {
            "--seed" => seed = val().parse().unwrap_or_else(|_| die("--seed: a number")),
            "--cases" => cases = val().parse().unwrap_or_else(|_| die("--cases: a number")),
            "--compile-every" => {
                compile_every = val()
                    .parse()
                    .unwrap_or_else(|_| die("--compile-every: a number"))
            }
            "--seeds" => extra.push(PathBuf::from(val())),
            "--out" => out = PathBuf::from(val()),
            _ => die(&format!("unknown argument {a}")),
        }
    }
    let api = ApiNames::load_default().expect("api/table.json");
    let seeds = fuzz::seeds(&extra);
    let list = fuzz::found_list();
    let cc = fuzz::Compiler::new(std::env::var("PYCTX_TEST_PYTHON").ok(), out.join("cc"));
    std::fs::create_dir_all(&out).unwrap();
    let mut rng = fuzz::Rng::new(seed);
    let (mut known, mut new) = (0usize, 0usize);
    let t0 = std::time::Instant::now();
    for n in 0..cases {
        let case = fuzz::next_case(&mut rng, &seeds);
        let mut viols = fuzz::check(&case.files, &api);
        if compile_every > 0 && n % compile_every == 0 {
            viols.extend(fuzz::check_compiles(&case.files, &api, &cc));
        }
        viols.dedup();
        for v in viols {
            if let Some(f) = fuzz::known(&list, &v) {
                known += 1;
                eprintln!("case {n}: known {} ({})", f.id, v.property);
                continue;
            }
            new += 1;
            let prop = v.property;
            let still = |files: &[SourceFile]| {
                if prop == "compiles" {
                    fuzz::check_compiles(files, &api, &cc).is_some()
                } else {
                    fuzz::check(files, &api).iter().any(|w| w.property == prop)
                }
            };
            let small = fuzz::minimise(&case.files, prop, &still);
            let path = out.join(format!("{prop}-{n}.c"));
            let header = format!(
                "/* {prop}: {} (from {}) */\n",
                v.detail.replace("*/", "* /"),
                case.origin
            );
            std::fs::write(&path, header + &small[0].text).unwrap();
            eprintln!("case {n}: NEW {prop}: {} -> {}", v.detail, path.display());
        }
    }
    println!(
        "fuzz: seed {seed}, {cases} cases in {:.1}s, {known} known, {new} new (in {})",
        t0.elapsed().as_secs_f64(),
        out.display()
    );
    std::process::exit(i32::from(new > 0));
}

fn die(msg: &str) -> ! {
    eprintln!("fuzz: {msg}");
    std::process::exit(2)
}
