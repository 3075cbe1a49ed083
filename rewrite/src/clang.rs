//! [`Libclang`]: the [`Compile`] of `migrate_verified` / `--verify`,
//! through libclang (loaded at run time by `clang-sys`, as the API table
//! generator does). Given texts are handed to libclang as unsaved files,
//! so nothing is written to compile the output.

#![allow(non_upper_case_globals)] // clang-sys constants keep libclang's names

use crate::verify::{Compile, CompileError};
use clang_sys::*;
use std::ffi::{CStr, CString};
use std::os::raw::c_char;
use std::path::{Path, PathBuf};

/// Compiles with libclang and the build's flags.
pub struct Libclang {
    args: Vec<String>,
    /// For C++ units (by the unit's file name): the `-std=` value.
    cxx_std: String,
    base: PathBuf,
}

impl Libclang {
    /// `args`: the build's compiler flags (include paths, defines: what
    /// `pyctx flags --cflags` and the interpreter's include directory
    /// give, or a compile command's). Relative paths of the files to
    /// compile are taken from the current directory. Fails when libclang
    /// cannot be loaded.
    pub fn new(args: Vec<String>) -> anyhow::Result<Libclang> {
        pyctx_api::generate::clang::ensure_loaded()?;
        Ok(Libclang {
            args,
            cxx_std: "c++17".into(),
            base: std::env::current_dir()?,
        })
    }

    /// The C++ standard C++ units are compiled with (`c++17` unless
    /// set; the build's own, e.g. `c++11`, is the one to give).
    pub fn cxx_std(mut self, std: &str) -> Libclang {
        self.cxx_std = std.to_string();
        self
    }

    fn absolute(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            crate::units::normalize(&self.base.join(p))
        }
    }
}

fn take_string(s: CXString) -> String {
    // SAFETY: `s` comes from libclang and is disposed exactly once here.
    unsafe {
        let p = clang_getCString(s);
        let out = if p.is_null() {
            String::new()
        } else {
            CStr::from_ptr(p).to_string_lossy().into_owned()
        };
        clang_disposeString(s);
        out
    }
}

impl Compile for Libclang {
    fn errors(&self, unit: &Path, texts: &[(&Path, &str)]) -> Result<Vec<CompileError>, String> {
        pyctx_api::generate::clang::ensure_loaded().map_err(|e| e.to_string())?;
        let cstr = |s: &str| CString::new(s).map_err(|_| format!("{s:?}: a NUL byte"));
        let names: Vec<(PathBuf, CString)> = texts
            .iter()
            .map(|(p, _)| {
                let abs = self.absolute(p);
                Ok((p.to_path_buf(), cstr(&abs.to_string_lossy())?))
            })
            .collect::<Result<_, String>>()?;
        let contents: Vec<CString> = texts
            .iter()
            .map(|(_, t)| cstr(t))
            .collect::<Result<_, _>>()?;
        let mut unsaved: Vec<CXUnsavedFile> = names
            .iter()
            .zip(&contents)
            .zip(texts)
            .map(|(((_, n), c), (_, t))| CXUnsavedFile {
                Filename: n.as_ptr(),
                Contents: c.as_ptr(),
                Length: t.len() as _,
            })
            .collect();
        // A C++ unit (`.cpp`, ...) is compiled as C++: `pyctx.h` then
        // declares the ctx forms as overloads.
        let mut args: Vec<CString> = match crate::lang_of_path(unit) {
            crate::lex::Lang::C => vec![cstr("-x")?, cstr("c")?],
            crate::lex::Lang::Cpp => vec![
                cstr("-x")?,
                cstr("c++")?,
                cstr(&format!("-std={}", self.cxx_std))?,
            ],
        };
        for a in &self.args {
            args.push(cstr(a)?);
        }
        let arg_ptrs: Vec<*const c_char> = args.iter().map(|a| a.as_ptr()).collect();
        let main = cstr(&self.absolute(unit).to_string_lossy())?;
        // SAFETY: every pointer handed over outlives the calls; the index,
        // the unit and the diagnostics are disposed once, here.
        unsafe {
            let index = clang_createIndex(0, 0);
            let mut tu: CXTranslationUnit = std::ptr::null_mut();
            let code = clang_parseTranslationUnit2(
                index,
                main.as_ptr(),
                arg_ptrs.as_ptr(),
                arg_ptrs.len() as _,
                unsaved.as_mut_ptr(),
                unsaved.len() as _,
                CXTranslationUnit_None,
                &mut tu,
            );
            if code != CXError_Success || tu.is_null() {
                clang_disposeIndex(index);
                return Err(format!(
                    "libclang could not compile {} (error code {code})",
                    unit.display()
                ));
            }
            let mut out = Vec::new();
            for i in 0..clang_getNumDiagnostics(tu) {
                let d = clang_getDiagnostic(tu, i);
                if clang_getDiagnosticSeverity(d) >= CXDiagnostic_Error {
                    let mut file: CXFile = std::ptr::null_mut();
                    let mut line: u32 = 0;
                    clang_getSpellingLocation(
                        clang_getDiagnosticLocation(d),
                        &mut file,
                        &mut line,
                        std::ptr::null_mut(),
                        std::ptr::null_mut(),
                    );
                    let name = if file.is_null() {
                        String::new()
                    } else {
                        take_string(clang_getFileName(file))
                    };
                    let given = names
                        .iter()
                        .find(|(_, n)| n.to_str().is_ok_and(|n| n == name))
                        .map(|(p, _)| p.clone());
                    out.push(CompileError {
                        file: given.unwrap_or_else(|| PathBuf::from(&name)),
                        line: line as usize,
                        message: take_string(clang_getDiagnosticSpelling(d)),
                    });
                }
                clang_disposeDiagnostic(d);
            }
            clang_disposeTranslationUnit(tu);
            clang_disposeIndex(index);
            Ok(out)
        }
    }
}
