//! Development driver: migrate files or folders, print the report and the
//! time taken; with `--out DIR`, write every file (changed or not) there,
//! keeping paths relative to the common input root.
//!
//!     cargo run --release -p pyctx-rewrite --example run -- [--out DIR] [--only a,b] PATH...
use pyctx_rewrite::{migrate, ApiNames, Options, SourceFile};
use std::path::{Path, PathBuf};

fn collect(p: &Path, out: &mut Vec<PathBuf>) {
    if p.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
            .expect("readable dir")
            .map(|e| e.expect("dir entry").path())
            .collect();
        entries.sort();
        for e in entries {
            collect(&e, out);
        }
    } else if matches!(p.extension().and_then(|e| e.to_str()), Some("c" | "h")) {
        out.push(p.to_path_buf());
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut out_dir: Option<PathBuf> = None;
    let mut opts = Options::default();
    let mut paths = Vec::new();
    let mut quiet = false;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--out" => out_dir = args.next().map(PathBuf::from),
            "--only" => {
                opts.only = args
                    .next()
                    .map(|s| s.split(',').map(String::from).collect())
            }
            "--exclude" => {
                opts.exclude = args.next().unwrap().split(',').map(String::from).collect()
            }
            "--ctx-name" => opts.ctx_name = args.next().unwrap(),
            "--quiet" => quiet = true,
            _ => paths.push(PathBuf::from(a)),
        }
    }
    let mut list = Vec::new();
    for p in &paths {
        collect(p, &mut list);
    }
    let files: Vec<SourceFile> = list
        .iter()
        .map(|p| {
            let bytes = std::fs::read(p).expect("readable file");
            SourceFile::new(p.clone(), String::from_utf8_lossy(&bytes).into_owned())
        })
        .collect();
    let lines: usize = files.iter().map(|f| f.text.lines().count()).sum();
    let api = ApiNames::load_default().expect("API table");
    let t0 = std::time::Instant::now();
    let out = migrate(&files, &api, &opts);
    let dt = t0.elapsed();
    if !quiet {
        print!("{}", out.render());
    }
    eprintln!(
        "{} files, {} lines, {:.1} ms; totals: {}",
        files.len(),
        lines,
        dt.as_secs_f64() * 1e3,
        serde_json::to_string(&out.totals).unwrap()
    );
    if let Some(dir) = out_dir {
        for (f, o) in files.iter().zip(&out.files) {
            let rel = f.path.strip_prefix("/").unwrap_or(&f.path);
            let dest = dir.join(rel);
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            std::fs::write(&dest, o.new_text.as_deref().unwrap_or(&f.text)).unwrap();
        }
    }
}
