//! `migrate_verified` with libclang and a real CPython's flags: a rewrite
//! that adds a compile error is backed out, and the result compiles.
//!
//! Uses the first interpreter `scripts/setup` made (`.venvs/3.*`), or
//! `PYCTX_TEST_PYTHON`.

use pyctx_flags::interp::Interpreter;
use pyctx_rewrite::{migrate, migrate_verified, ApiNames, Compile, Libclang, Options, SourceFile};
use pyctx_rewrite::{Severity, Status};
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn python() -> String {
    if let Ok(py) = std::env::var("PYCTX_TEST_PYTHON") {
        return py;
    }
    pyctx_api::pythons::SetupVenvs::in_checkout(&repo())
        .oldest()
        .display()
        .to_string()
}

fn libclang(extra: &Path) -> Libclang {
    let interp = Interpreter::probe(&python()).expect("interpreter");
    let mut flags = pyctx_flags::cflags(&interp, false).expect("pyctx cflags");
    flags.push(format!("-I{}", interp.include.display()));
    flags.push(format!("-I{}", extra.display()));
    Libclang::new(flags).expect("libclang loads")
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pyctx-verify-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

const MOD_C: &str = "#include <Python.h>\n#include \"api.h\"\n\n\
int\nhelper(PyObject *o)\n{\n    return PyObject_IsTrue(o);\n}\n\n\
static PyObject *\nmeth(PyObject *self, PyObject *arg)\n{\n    return PyBool_FromLong(helper(arg));\n}\n\n\
static PyMethodDef methods[] = {{\"meth\", meth, METH_O, NULL}, {NULL, NULL, 0, NULL}};\n\
PyMethodDef *mod_methods = methods;\n";

/// `api.h` declares `helper` but is not given to the engine (a header of
/// another package, a generated one): threading `helper` would conflict
/// with it, which only a compiler can see.
#[test]
fn a_rewrite_that_adds_an_error_is_backed_out() {
    let dir = scratch("backout");
    std::fs::write(dir.join("api.h"), "int helper(PyObject *o);\n").unwrap();
    let files = vec![SourceFile::new(dir.join("mod.c"), MOD_C)];
    let api = ApiNames::load_default().unwrap();
    let cc = libclang(&dir);
    // Without verification: helper gains a context and no longer matches
    // api.h.
    let plain = migrate(&files, &api, &Options::default());
    let text = plain.files[0].new_text.clone().unwrap();
    assert!(text.contains("helper(PyCtx ctx, PyObject *o)"), "{text}");
    let errs = cc
        .errors(&files[0].path, &[(&files[0].path, &text)])
        .unwrap();
    assert!(
        errs.iter().any(|e| e.message.contains("conflicting types")),
        "{errs:?}"
    );

    let out = migrate_verified(&files, &api, &Options::default(), &cc);
    let helper = out.functions.iter().find(|r| r.name == "helper").unwrap();
    assert_eq!(helper.status, Status::Legacy);
    let why = helper.legacy_reason.as_deref().unwrap();
    assert!(why.starts_with("backed out: compiling"), "{why}");
    assert!(why.contains("conflicting types"), "{why}");
    assert!(out
        .diagnostics
        .iter()
        .any(|d| d.code == "verify" && d.severity == Severity::Warning));
    let meth = out.functions.iter().find(|r| r.name == "meth").unwrap();
    assert_eq!(meth.status, Status::EntryPoint);
    let text = out.files[0].new_text.clone().unwrap();
    assert!(
        text.contains("return PyBool_FromLong(ctx, helper(arg));"),
        "{text}"
    );
    let errs = cc
        .errors(&files[0].path, &[(&files[0].path, &text)])
        .unwrap();
    assert!(errs.is_empty(), "{errs:?}\n{text}");
}

/// A sound rewrite is left as `migrate` makes it.
#[test]
fn a_sound_rewrite_is_unchanged_by_verification() {
    let case = repo().join("fixtures/migrate/unity_build/before");
    let dir = scratch("sound");
    let files: Vec<SourceFile> = ["module.c", "tree.c", "walk.c"]
        .iter()
        .map(|n| SourceFile::new(dir.join(n), std::fs::read_to_string(case.join(n)).unwrap()))
        .collect();
    let api = ApiNames::load_default().unwrap();
    let cc = libclang(&dir);
    let a = migrate(&files, &api, &Options::default());
    let b = migrate_verified(&files, &api, &Options::default(), &cc);
    assert_eq!(a.render(), b.render());
    for (x, y) in a.files.iter().zip(&b.files) {
        assert_eq!(x.new_text, y.new_text);
    }
}
