//! `--verify` (a compiler judges the output) and `--compile-commands` (the
//! database names the translation units), on real compiles with the
//! newest installed CPython.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn python() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    pyctx_api::pythons::SetupVenvs::in_checkout(root).newest()
}

/// `cc -fsyntax-only` of `unit` with the build flags of `python()` (`c++
/// -std=c++17` for a C++ unit).
fn compiles(unit: &Path) -> Result<(), String> {
    let py = python();
    let flags = pyctx(&["flags", "--cflags", "--python", s(&py)]);
    assert_eq!(flags.status.code(), Some(0), "{}", stderr(&flags));
    let include = Command::new(&py)
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['include'])",
        ])
        .output()
        .unwrap();
    let cpp = unit.extension().is_some_and(|e| e == "cpp");
    let out = Command::new(if cpp { "c++" } else { "cc" })
        .args(if cpp { &["-std=c++17"][..] } else { &[] })
        .arg("-fsyntax-only")
        .args(stdout(&flags).split_whitespace())
        .arg(format!(
            "-I{}",
            String::from_utf8_lossy(&include.stdout).trim()
        ))
        .arg(unit)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// A header the engine is not given declares `helper`, which mod.c defines:
/// threading `helper` breaks the build, and only a compiler can tell.
fn hidden_prototype_project(name: &str) -> PathBuf {
    let dir = scratch(name);
    std::fs::create_dir_all(dir.join("include")).unwrap();
    std::fs::write(
        dir.join("include/helper.h"),
        "#include <Python.h>\nint helper(PyObject *o);\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("mod.c"),
        "#include \"include/helper.h\"\n\
         int helper(PyObject *o)\n{\n    return PyObject_IsTrue(o);\n}\n\n\
         static PyObject *truth(PyObject *self, PyObject *o)\n{\n    (void)self;\n    return PyBool_FromLong(helper(o));\n}\n\n\
         static PyMethodDef methods[] = {{\"truth\", truth, METH_O, NULL}, {NULL, NULL, 0, NULL}};\n\
         static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, \"m\", NULL, -1, methods};\n\
         PyMODINIT_FUNC PyInit_m(void) { return PyModule_Create(&def); }\n",
    )
    .unwrap();
    dir
}

#[test]
fn verify_backs_out_what_a_compiler_rejects() {
    // Without --verify the engine cannot see the header: the output breaks.
    let dir = hidden_prototype_project("verify-off");
    let out = pyctx(&["migrate", "--write", s(&dir.join("mod.c"))]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        compiles(&dir.join("mod.c")).is_err(),
        "expected a conflicting prototype"
    );

    let dir = hidden_prototype_project("verify-on");
    let py = python();
    let out = pyctx_in(
        &dir,
        &[
            "migrate",
            "--write",
            "--verify",
            "--python",
            s(&py),
            "mod.c",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("warning[verify]"), "{err}");
    assert!(err.contains("helper"), "{err}");
    compiles(&dir.join("mod.c")).unwrap_or_else(|e| panic!("{e}"));
    let text = std::fs::read_to_string(dir.join("mod.c")).unwrap();
    assert!(text.contains("int helper(PyObject *o)"), "{text}");
    assert!(
        text.contains("#include \"pyctx.h\""),
        "the rest is migrated: {text}"
    );
}

/// C++: a header the engine is not given declares `helper` with C linkage;
/// threading the definition would declare a second C function of that
/// name with another signature. libclang must compile the unit as C++ to
/// see it (as C, every `extern "C"` is a syntax error before and after).
#[test]
fn verify_compiles_cpp_units_as_cpp() {
    let dir = scratch("verify-cpp");
    std::fs::create_dir_all(dir.join("include")).unwrap();
    std::fs::write(
        dir.join("include/helper.h"),
        "#include <Python.h>\nextern \"C\" int helper(PyObject *o);\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("mod.cpp"),
        "#include \"include/helper.h\"\n\
         #include <vector>\n\
         extern \"C\" int helper(PyObject *o)\n{\n    return PyObject_IsTrue(o);\n}\n\n\
         static int count(PyObject *o)\n{\n    std::vector<int> v{1};\n    return PyObject_Not(o) + static_cast<int>(v.size());\n}\n\n\
         static PyObject *truth(PyObject *self, PyObject *o)\n{\n    (void)self;\n    return PyBool_FromLong(helper(o) + count(o));\n}\n\n\
         static PyMethodDef methods[] = {{\"truth\", truth, METH_O, nullptr}, {nullptr, nullptr, 0, nullptr}};\n\
         static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, \"m\", nullptr, -1, methods};\n\
         PyMODINIT_FUNC PyInit_m(void) { return PyModule_Create(&def); }\n",
    )
    .unwrap();
    let py = python();
    let out = pyctx_in(
        &dir,
        &[
            "migrate",
            "--write",
            "--verify",
            "--python",
            s(&py),
            "--cxx-std",
            "c++11",
            "mod.cpp",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("warning[verify]") && err.contains("helper"),
        "{err}"
    );
    compiles(&dir.join("mod.cpp")).unwrap_or_else(|e| panic!("{e}"));
    let text = std::fs::read_to_string(dir.join("mod.cpp")).unwrap();
    assert!(text.contains("int helper(PyObject *o)"), "{text}");
    assert!(
        text.contains("static int count(PyCtx ctx, PyObject *o)"),
        "{text}"
    );
}

#[test]
fn compile_commands_migration_compiles_every_unit() {
    // b.c includes a.c, and the database compiles both on their own (the
    // engine's `Options::units`): each unit's output must compile.
    let dir = scratch("ccdb-units");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("a.c"),
        "#include <Python.h>\n\
         static int helper(PyObject *o) { return PyObject_IsTrue(o); }\n\
         PyObject *from_a(PyObject *o) { return PyBool_FromLong(helper(o)); }\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("b.c"),
        "#include \"a.c\"\n\
         PyObject *from_b(PyObject *o) { return PyBool_FromLong(!helper(o)); }\n",
    )
    .unwrap();
    let db = format!(
        "[{{\"directory\": {d:?}, \"file\": \"a.c\", \"command\": \"cc -c a.c\"}},\
          {{\"directory\": {d:?}, \"file\": \"b.c\", \"command\": \"cc -c b.c\"}}]",
        d = dir.display().to_string()
    );
    std::fs::write(dir.join("compile_commands.json"), db).unwrap();
    let out = pyctx(&[
        "migrate",
        "--write",
        "--compile-commands",
        s(&dir.join("compile_commands.json")),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for unit in ["a.c", "b.c"] {
        compiles(&dir.join(unit)).unwrap_or_else(|e| panic!("{unit}: {e}"));
    }
    let a = std::fs::read_to_string(dir.join("a.c")).unwrap();
    assert!(a.contains("PyObject_IsTrue(ctx, o)"), "{a}");
}
