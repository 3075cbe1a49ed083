//! `RUNTIME_SYMBOLS` (the hand-kept list `pyctx flags --ldflags` turns into
//! `-Wl,-u,SYM`, in `api/src/exceptions.rs`) is exactly what it must be:
//! every runtime symbol the headers reference (full API and
//! `Py_LIMITED_API`, every inline function kept, on the oldest and the
//! newest installed CPython), plus `pyctx_compat_init`,
//! pulled in for its load-time constructor; each one defined by
//! `libpyctx.a`. A symbol missing from the list links only when the
//! extension's objects come before LDFLAGS; a stale one names nothing.

use pyctx_api::exceptions::RUNTIME_SYMBOLS;
use pyctx_api::pythons::SetupVenvs;
use pyctx_flags::interp::Interpreter;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Pulled in by `-u` without any header referring to it.
const CONSTRUCTOR_ONLY: &[&str] = &["pyctx_compat_init"];

/// The oldest and the newest interpreter `scripts/setup` made: the headers
/// reference different runtime symbols by version (3.9-3.11 read CPython's
/// current-thread-state slot through `pyctx_tstate_current`, 3.12+ do not).
fn oldest_and_newest_interpreters() -> Vec<Interpreter> {
    let venvs = SetupVenvs::in_checkout(&pyctx_flags::project_root());
    let mut pythons = vec![venvs.oldest()];
    if venvs.newest() != pythons[0] {
        pythons.push(venvs.newest());
    }
    pythons
        .into_iter()
        .map(|p| Interpreter::probe(p.to_str().unwrap()).unwrap_or_else(|e| panic!("{e:#}")))
        .collect()
}

fn nm(args: &[&str], file: &Path) -> BTreeSet<String> {
    let out = Command::new("nm")
        .args(args)
        .arg(file)
        .output()
        .expect("nm runs");
    assert!(out.status.success(), "nm {args:?} {}", file.display());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .filter(|s| s.starts_with("pyctx_"))
        .map(str::to_string)
        .collect()
}

/// Runtime symbols an object including `pyctx.h` refers to, with `extra`
/// defines; inline and static functions are kept even unused. The full API
/// includes every other runtime header too (they are full-API only).
fn referenced(interp: &Interpreter, dir: &Path, name: &str, extra: &str) -> BTreeSet<String> {
    let src = dir.join(format!("{name}.c"));
    let obj = dir.join(format!("{name}.o"));
    let headers: String = std::fs::read_dir(pyctx_flags::project_root().join("runtime/include"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| extra.is_empty() && n.ends_with(".h") && n != "pyctx.h")
        .map(|n| format!("#include \"{n}\"\n"))
        .collect();
    std::fs::write(
        &src,
        format!("{extra}#define PY_SSIZE_T_CLEAN\n#include \"pyctx.h\"\n{headers}"),
    )
    .unwrap();
    let out = Command::new("cc")
        .args([
            "-c",
            "-O0",
            "-fkeep-static-functions",
            "-fkeep-inline-functions",
            // Always-inline functions get no copy of their own, so their
            // references would go unseen: compile them as plain inline.
            "-DPYCTX__ALWAYS_INLINE=",
        ])
        .args(pyctx_flags::cflags(interp, false).unwrap_or_else(|e| panic!("{e:#}")))
        .arg(format!("-I{}", interp.include.display()))
        .arg(&src)
        .arg("-o")
        .arg(&obj)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    nm(&["-u"], &obj)
}

#[test]
fn runtime_symbols_are_what_the_headers_and_compat_need() {
    let dir: PathBuf = std::env::temp_dir().join(format!("pyctx-syms-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut needed = BTreeSet::new();
    for interp in oldest_and_newest_interpreters() {
        needed.extend(referenced(&interp, &dir, "full", ""));
        needed.extend(referenced(
            &interp,
            &dir,
            "limited",
            "#define Py_LIMITED_API 0x03090000\n",
        ));
    }
    assert!(needed.len() >= 5, "too few references found: {needed:?}");
    needed.extend(CONSTRUCTOR_ONLY.iter().map(|s| s.to_string()));
    let listed: BTreeSet<String> = RUNTIME_SYMBOLS.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        listed.len(),
        RUNTIME_SYMBOLS.len(),
        "RUNTIME_SYMBOLS repeats a name"
    );
    assert_eq!(
        listed, needed,
        "RUNTIME_SYMBOLS (api/src/exceptions.rs) differs from what the headers reference \
         plus {CONSTRUCTOR_ONLY:?}"
    );
    let lib = pyctx_flags::static_library().unwrap_or_else(|e| panic!("{e:#}"));
    let defined = nm(&["-g", "--defined-only"], &lib);
    let undefined: Vec<&String> = listed.iter().filter(|s| !defined.contains(*s)).collect();
    assert!(
        undefined.is_empty(),
        "{} does not define {undefined:?}",
        lib.display()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
