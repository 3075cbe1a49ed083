//! `rewrite/data/cpython-syntax.h` must be what the macro model learns from
//! the headers of every supported CPython (`cc -E -dM` of `<Python.h>` for
//! each interpreter `scripts/setup` made, `.venvs/3.*/bin/python`).
//!
//! Fails (never skips) when an interpreter of 3.9 to 3.13 is missing.
//! `PYCTX_BLESS=1 cargo test -p pyctx-rewrite --test cpython_syntax`
//! rewrites the file (review the diff!).

use pyctx_flags::interp::Interpreter;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The `#define` lines of one interpreter's `<Python.h>`.
fn defines(python: &Path) -> String {
    let interp = Interpreter::probe(&python.display().to_string())
        .unwrap_or_else(|e| panic!("{}: {e:#}", python.display()));
    let full_clean = pyctx_flags::cpp::Variant {
        ssize_t_clean: true,
        limited: None,
    };
    let pre = pyctx_flags::cpp::preprocess(&interp, full_clean, &[])
        .unwrap_or_else(|e| panic!("{}: {e:#}", python.display()));
    let mut out = String::new();
    for m in pre.macros.values() {
        let head = format!("{}{}", m.name(), m.def().param_list());
        out.push_str(&format!("#define {head} {}\n", m.body_text()));
    }
    out
}

#[test]
fn checked_in_cpython_syntax_macros_match_headers() {
    let pythons = pyctx_api::pythons::SetupVenvs::in_checkout(&repo()).all();
    let all: Vec<String> = pythons.iter().map(|p| defines(p)).collect();
    let fresh = pyctx_rewrite::cpython_syntax_header(&all);
    let path = repo().join("rewrite/data/cpython-syntax.h");
    if std::env::var_os("PYCTX_BLESS").is_some() {
        std::fs::write(&path, &fresh).unwrap();
        return;
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == fresh,
        "{} is stale against the installed CPython headers; regenerate it with \
         `PYCTX_BLESS=1 cargo test -p pyctx-rewrite --test cpython_syntax` and review the diff",
        path.display()
    );
}
