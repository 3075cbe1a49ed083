//! The generated header compiles cleanly, for every installed interpreter,
//! with warnings as errors; and every C-variadic API function gets a ctx form.

use pyctx_flags::interp::Interpreter;
use std::path::{Path, PathBuf};
use std::process::Command;

fn installed() -> Vec<PathBuf> {
    let root = pyctx_flags::project_root();
    let found: Vec<PathBuf> = pyctx_api::SUPPORTED_VERSIONS
        .iter()
        .map(|v| root.join(".venvs").join(v).join("bin").join("python"))
        .filter(|p| p.is_file())
        .collect();
    assert!(
        !found.is_empty(),
        "no interpreters under .venvs/: run scripts/setup first"
    );
    found
}

fn compile(interp: &Interpreter, std: &str, clean: bool) -> Result<(), String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c/forms.c");
    let out = std::env::temp_dir().join(format!(
        "pyctx-forms-{}-{std}-{clean}.o",
        interp.minor_version()
    ));
    let mut cmd = Command::new("cc");
    cmd.args(["-c", "-O1", "-Wall", "-Wextra", "-Werror", "-pedantic"])
        .arg(format!("-std={std}"))
        .args(pyctx_flags::cflags(interp, false).map_err(|e| e.to_string())?)
        .arg(format!("-I{}", interp.include.display()))
        .arg(&src)
        .arg("-o")
        .arg(&out);
    if clean {
        cmd.arg("-DWITH_CLEAN");
    }
    let o = cmd.output().map_err(|e| e.to_string())?;
    if o.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&o.stderr).into_owned())
    }
}

#[test]
fn header_compiles_cleanly_for_every_installed_python() {
    let mut failures = Vec::new();
    for python in installed() {
        let interp = Interpreter::probe(python.to_str().unwrap()).unwrap();
        for std in ["c99", "c11", "gnu17"] {
            for clean in [false, true] {
                if let Err(e) = compile(&interp, std, clean) {
                    failures.push(format!(
                        "CPython {} -std={std} PY_SSIZE_T_CLEAN={clean}:\n{}",
                        interp.minor_version(),
                        e.lines().take(30).collect::<Vec<_>>().join("\n")
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_variadic_function_has_a_ctx_form() {
    for python in installed() {
        let interp = Interpreter::probe(python.to_str().unwrap()).unwrap();
        let dir = pyctx_flags::generated_include_dir(&interp).unwrap();
        let skipped = std::fs::read_to_string(dir.join("skipped.tsv")).unwrap();
        let bad: Vec<&str> = skipped
            .lines()
            .filter(|l| l.contains("C-variadic"))
            .collect();
        assert!(
            bad.is_empty(),
            "CPython {}: variadic functions without a ctx form:\n{}",
            interp.minor_version(),
            bad.join("\n")
        );
        let header = std::fs::read_to_string(dir.join("pyctx_api.h")).unwrap();
        for name in [
            "PyErr_Format",
            "Py_BuildValue",
            "PyArg_ParseTuple",
            "PyObject_CallFunction",
        ] {
            assert!(
                header.contains(&format!("pyctx_ctx_{name}(")),
                "CPython {}: no ctx form for {name}",
                interp.minor_version()
            );
        }
    }
}

#[test]
fn unknown_python_is_a_clear_error() {
    let e = Interpreter::probe("/nonexistent/python3.99")
        .unwrap_err()
        .to_string();
    assert!(e.contains("no such interpreter"), "{e}");
    // A real program that is not Python.
    let e = Interpreter::probe("/bin/true").unwrap_err().to_string();
    assert!(e.contains("does not look like CPython"), "{e}");
}

/// A stand-in interpreter answering the probe with `implementation`, CPython
/// 3.12's version numbers and an include directory without Python.h; the
/// error `probe` gives for it.
fn probe_fake(tag: &str, implementation: &str) -> String {
    let dir = std::env::temp_dir().join(format!("pyctx-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fake = dir.join("python3.12");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\necho '{{\"executable\": \"{0}\", \"major\": 3, \"minor\": 12, \"micro\": 1, \"include\": \"{1}\", \"cc\": null, \"implementation\": \"{implementation}\", \"platform\": \"linux-x86_64\"}}'\n",
            fake.display(),
            dir.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let e = Interpreter::probe(fake.to_str().unwrap())
        .unwrap_err()
        .to_string();
    std::fs::remove_dir_all(&dir).unwrap();
    e
}

#[test]
fn python_without_headers_is_a_clear_error() {
    let e = probe_fake("noheaders", "cpython");
    assert!(e.contains("has no C headers"), "{e}");
    assert!(e.contains("Python.h is missing"), "{e}");
}

#[test]
fn non_cpython_interpreter_is_a_clear_error() {
    let e = probe_fake("pypy", "pypy");
    assert!(e.contains("this is pypy, not CPython"), "{e}");
}

#[test]
fn hot_primitives_read_state_through_the_context() {
    for python in installed() {
        let interp = Interpreter::probe(python.to_str().unwrap()).unwrap();
        let dir = pyctx_flags::generated_include_dir(&interp).unwrap();
        let header = std::fs::read_to_string(dir.join("pyctx_api.h")).unwrap();
        for name in [
            "PyErr_Occurred",
            "PyThreadState_Get",
            "PyTuple_GetItem",
            "PyList_GetItem",
            "PyTuple_Size",
            "PyList_Size",
        ] {
            let form = header
                .lines()
                .find(|l| l.contains(&format!(" pyctx_ctx_{name}(")))
                .unwrap_or_else(|| panic!("no ctx form for {name}"));
            assert!(
                form.contains(&format!("pyctx_fast_{name}(pyctx_c")),
                "CPython {}: ctx form of {name} does not use its fast path: {form}",
                interp.minor_version()
            );
        }
    }
}
