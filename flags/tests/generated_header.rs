//! The generated header compiles cleanly, for every installed interpreter,
//! in C and C++ with GCC and Clang, with warnings as errors; and every
//! C-variadic API function gets a ctx form.

use pyctx_flags::interp::Interpreter;
use std::path::{Path, PathBuf};
use std::process::Command;

fn installed() -> Vec<PathBuf> {
    pyctx_api::pythons::SetupVenvs::in_checkout(&pyctx_flags::project_root()).pythons()
}

/// One compile of a file under `flags/tests/c/` against `interp`'s
/// generated header, warnings as errors.
#[derive(Debug, Clone)]
struct Compile {
    compiler: &'static str,
    /// `-std=` value; C++ when it starts with `c++`.
    std: &'static str,
    file: &'static str,
    defines: Vec<String>,
    /// Compile to an object at -O1 (inline asm, atomics and the like are
    /// checked only there), not just the syntax.
    codegen: bool,
}

impl Compile {
    fn new(compiler: &'static str, std: &'static str, file: &'static str) -> Compile {
        Compile {
            compiler,
            std,
            file,
            defines: Vec::new(),
            codegen: false,
        }
    }

    fn codegen(mut self) -> Compile {
        self.codegen = true;
        self
    }

    fn define(mut self, d: impl Into<String>) -> Compile {
        self.defines.push(d.into());
        self
    }

    fn run(&self, interp: &Interpreter, cflags: &[String]) -> Result<(), String> {
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/c")
            .join(self.file);
        let lang = if self.std.starts_with("c++") {
            "c++"
        } else {
            "c"
        };
        let mut cmd = Command::new(self.compiler);
        if self.codegen {
            let out = std::env::temp_dir().join(format!(
                "pyctx-{}-{}-{}-{}.o",
                interp.minor_version(),
                self.compiler,
                self.std,
                std::process::id()
            ));
            cmd.args(["-c", "-O1", "-o"]).arg(out);
        } else {
            cmd.arg("-fsyntax-only");
        }
        let o = cmd
            .args(["-x", lang, "-Wall", "-Wextra", "-Werror", "-pedantic"])
            .arg(format!("-std={}", self.std))
            .args(cflags)
            .arg(format!("-I{}", interp.include.display()))
            .args(self.defines.iter().map(|d| format!("-D{d}")))
            .arg(&src)
            .output()
            .map_err(|e| {
                format!(
                    "cannot run {}: {e} (scripts/setup installs it)",
                    self.compiler
                )
            })?;
        if o.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&o.stderr).into_owned())
        }
    }
}

/// Every compile of the matrix for one interpreter: C (GCC and Clang; C99,
/// C11, gnu17) and C++ (g++ and clang++; C++11 to C++20), full API with and
/// without PY_SSIZE_T_CLEAN, the limited API at 3.9 and at the
/// interpreter's own level, and the extra headers before and after pyctx.h.
fn matrix(interp: &Interpreter) -> Vec<Compile> {
    let own = format!("Py_LIMITED_API=0x03{:02X}0000", interp.minor);
    let mut all = Vec::new();
    for compiler in ["gcc", "clang"] {
        for std in ["c99", "c11", "gnu17"] {
            let c = Compile::new(compiler, std, "forms.c");
            all.push(if std == "c11" {
                c.clone().codegen()
            } else {
                c.clone()
            });
            all.push(c.define("WITH_CLEAN"));
        }
    }
    for compiler in ["g++", "clang++"] {
        for std in ["c++11", "c++14", "c++17", "c++20"] {
            let c = Compile::new(compiler, std, "forms.cpp");
            all.push(if std == "c++17" {
                c.clone().codegen()
            } else {
                c.clone()
            });
            all.push(c.clone().define("WITH_CLEAN"));
            for level in ["Py_LIMITED_API=0x03090000", own.as_str()] {
                all.push(c.clone().define("WITH_CLEAN").define(level));
            }
        }
    }
    for (compiler, std) in [
        ("gcc", "c11"),
        ("clang", "c99"),
        ("g++", "c++11"),
        ("clang++", "c++20"),
    ] {
        let c = Compile::new(compiler, std, "extras.c");
        all.push(c.clone());
        all.push(c.define("EXTRAS_FIRST"));
    }
    all
}

#[test]
fn header_compiles_cleanly_in_c_and_cxx_for_every_installed_python() {
    let jobs: Vec<(Interpreter, Vec<String>, Compile)> = installed()
        .iter()
        .flat_map(|python| {
            let interp = Interpreter::probe(python.to_str().unwrap()).unwrap();
            let cflags = pyctx_flags::cflags(&interp, false).unwrap();
            matrix(&interp)
                .into_iter()
                .map(move |c| (interp.clone(), cflags.clone(), c))
        })
        .collect();
    let failures = std::sync::Mutex::new(Vec::new());
    let next = std::sync::atomic::AtomicUsize::new(0);
    // Two compilers at a time: the machine is shared.
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((interp, cflags, c)) = jobs.get(i) else {
                    break;
                };
                if let Err(e) = c.run(interp, cflags) {
                    failures.lock().unwrap().push(format!(
                        "CPython {} {} -std={} {} {:?}:\n{}",
                        interp.minor_version(),
                        c.compiler,
                        c.std,
                        c.file,
                        c.defines,
                        e.lines().take(30).collect::<Vec<_>>().join("\n")
                    ));
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} compiles failed:\n{}",
        failures.len(),
        jobs.len(),
        failures.join("\n\n")
    );
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
        let header = std::fs::read_to_string(dir.join("pyctx_api_full.h")).unwrap();
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
        let header = std::fs::read_to_string(dir.join("pyctx_api_full.h")).unwrap();
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

#[test]
fn limited_api_levels_have_headers_of_their_own() {
    for python in installed() {
        let interp = Interpreter::probe(python.to_str().unwrap()).unwrap();
        let dir = pyctx_flags::generated_include_dir(&interp).unwrap();
        let selector = std::fs::read_to_string(dir.join("pyctx_api.h")).unwrap();
        for minor in 9..=interp.minor {
            let file = format!("pyctx_api_abi3_{minor}.h");
            assert!(selector.contains(&file), "{selector}");
            let text = std::fs::read_to_string(dir.join(&file)).unwrap();
            // The limited API has PyTuple_GetItem but not PyTuple_GET_ITEM,
            // and no fast paths read VM state there.
            assert!(text.contains("pyctx_ctx_PyTuple_GetItem("), "{file}");
            assert!(!text.contains("pyctx_ctxm_PyTuple_GET_ITEM("), "{file}");
            assert!(!text.contains("pyctx_fast_"), "{file}");
        }
        assert!(!dir
            .join(format!("pyctx_api_abi3_{}.h", interp.minor + 1))
            .exists());
        // Functions the limited headers declare but the stable ABI lacks
        // (3.9, 3.10: PyMarshal_WriteObjectToFile, ...) get no ctx form.
        let table = pyctx_api::Table::load_default().unwrap();
        let version = interp.minor_version();
        let not_stable = &table.stable_abi[&version].not_stable;
        let skipped = std::fs::read_to_string(dir.join("skipped.tsv")).unwrap();
        for minor in 9..=interp.minor {
            let file = format!("pyctx_api_abi3_{minor}.h");
            let text = std::fs::read_to_string(dir.join(&file)).unwrap();
            for name in not_stable {
                assert!(
                    !text.contains(&format!("#define PyCtxOrig_{name} ")),
                    "{version} {file}: {name} is not in the stable ABI"
                );
            }
            for row in skipped
                .lines()
                .filter(|r| r.starts_with(&format!("{file}\t")))
            {
                let name = row.split('\t').nth(1).unwrap();
                if row.contains("not in the limited API") {
                    assert!(not_stable.iter().any(|n| n == name), "{version}: {row}");
                }
            }
        }
    }
}
