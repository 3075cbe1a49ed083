//! A thin, safe layer over the parts of libclang (through `clang-sys`, loaded
//! at run time) that the generator needs: parse one translation unit, walk
//! its top-level cursors (declarations and the preprocessing record), read
//! types and locations (macro definitions are read from the headers' text by
//! the shared lexer, `pyctx-clex`).

#![allow(non_upper_case_globals)] // clang-sys constants keep libclang's names

use anyhow::{anyhow, bail, Result};
use clang_sys::*;
use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::os::raw::{c_char, c_uint};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The message shown whenever libclang cannot be loaded.
pub const LIBCLANG_MISSING: &str =
    "libclang not found: install Debian's libclang-dev (scripts/setup does this) or set LIBCLANG_PATH";

static LOADED: Mutex<Option<Arc<SharedLibrary>>> = Mutex::new(None);

/// Make libclang usable on the calling thread (clang-sys keeps the loaded
/// library per thread; one process-wide copy is shared between threads).
pub fn ensure_loaded() -> Result<()> {
    if clang_sys::is_loaded() {
        return Ok(());
    }
    let mut slot = LOADED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(lib) = slot.as_ref() {
        clang_sys::set_library(Some(lib.clone()));
        return Ok(());
    }
    clang_sys::load().map_err(|e| anyhow!("{LIBCLANG_MISSING} ({e})"))?;
    let lib = clang_sys::get_library().ok_or_else(|| anyhow!(LIBCLANG_MISSING))?;
    // Functions we call that a too-old libclang might lack.
    if !clang_sys::clang_Cursor_isFunctionInlined::is_loaded() {
        bail!(
            "{LIBCLANG_MISSING} (the libclang found at {} is too old: need 3.9 or later)",
            lib.path().display()
        );
    }
    *slot = Some(lib);
    Ok(())
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

/// An index plus one parsed translation unit.
pub struct Unit {
    index: CXIndex,
    tu: CXTranslationUnit,
}

impl Drop for Unit {
    fn drop(&mut self) {
        // SAFETY: both were created by `Unit::parse` and are disposed once.
        unsafe {
            clang_disposeTranslationUnit(self.tu);
            clang_disposeIndex(self.index);
        }
    }
}

impl Unit {
    /// Parse `source` (an in-memory file named `file_name`) with `args`,
    /// keeping a detailed preprocessing record (macro definitions) and
    /// skipping function bodies. Fails on any error diagnostic.
    pub fn parse(file_name: &str, source: &str, args: &[String]) -> Result<Unit> {
        ensure_loaded()?;
        let c_args: Vec<CString> = args
            .iter()
            .map(|a| CString::new(a.as_str()))
            .collect::<Result<_, _>>()?;
        let arg_ptrs: Vec<*const c_char> = c_args.iter().map(|a| a.as_ptr()).collect();
        let c_name = CString::new(file_name)?;
        let c_source = CString::new(source)?;
        let mut unsaved = CXUnsavedFile {
            Filename: c_name.as_ptr(),
            Contents: c_source.as_ptr(),
            Length: source.len() as _,
        };
        let options = CXTranslationUnit_DetailedPreprocessingRecord;
        // SAFETY: every pointer handed over outlives the call; the results
        // are owned by the returned `Unit`.
        unsafe {
            let index = clang_createIndex(0, 0);
            let mut tu: CXTranslationUnit = std::ptr::null_mut();
            let code = clang_parseTranslationUnit2(
                index,
                c_name.as_ptr(),
                arg_ptrs.as_ptr(),
                arg_ptrs.len() as _,
                &mut unsaved,
                1,
                options,
                &mut tu,
            );
            if code != CXError_Success || tu.is_null() {
                clang_disposeIndex(index);
                bail!("libclang could not parse {file_name} (error code {code})");
            }
            let unit = Unit { index, tu };
            let errors = unit.error_diagnostics();
            if !errors.is_empty() {
                bail!(
                    "libclang reported errors parsing {file_name}:\n  {}",
                    errors.join("\n  ")
                );
            }
            Ok(unit)
        }
    }

    fn error_diagnostics(&self) -> Vec<String> {
        let mut out = Vec::new();
        // SAFETY: diagnostics are fetched from a live TU and disposed once.
        unsafe {
            for i in 0..clang_getNumDiagnostics(self.tu) {
                let d = clang_getDiagnostic(self.tu, i);
                if clang_getDiagnosticSeverity(d) >= CXDiagnostic_Error {
                    out.push(take_string(clang_formatDiagnostic(
                        d,
                        clang_defaultDiagnosticDisplayOptions(),
                    )));
                }
                clang_disposeDiagnostic(d);
            }
        }
        out
    }

    /// The translation unit's top-level cursors in source order: declarations
    /// plus, thanks to the detailed preprocessing record, macro definitions,
    /// macro expansions and inclusion directives.
    pub fn top_level(&self) -> Vec<Cursor<'_>> {
        // SAFETY: the TU is alive for the lifetime of the returned cursors.
        let root = unsafe { clang_getTranslationUnitCursor(self.tu) };
        Cursor {
            raw: root,
            unit: self,
        }
        .children()
    }
}

impl Unit {
    /// For every file the translation unit includes (directly or not): the
    /// line of the main file whose `#include` brought it in. The main file
    /// itself is absent. Files are keyed by their path as clang reports it.
    pub fn top_level_include_lines(&self) -> HashMap<PathBuf, u32> {
        let mut out: HashMap<PathBuf, u32> = HashMap::new();
        // SAFETY: the visitor only writes into `out`, which outlives the call.
        unsafe {
            clang_getInclusions(
                self.tu,
                collect_inclusion,
                &mut out as *mut HashMap<PathBuf, u32> as CXClientData,
            );
        }
        out
    }
}

extern "C" fn collect_inclusion(
    file: CXFile,
    stack: *mut CXSourceLocation,
    depth: c_uint,
    data: CXClientData,
) {
    if depth == 0 || stack.is_null() {
        return; // the main file
    }
    // SAFETY: `data` is the map passed by `top_level_include_lines`; `stack`
    // holds `depth` locations, the last one in the main file.
    unsafe {
        let out = &mut *(data as *mut HashMap<PathBuf, u32>);
        let outermost = *stack.add(depth as usize - 1);
        let mut line: c_uint = 0;
        clang_getFileLocation(
            outermost,
            std::ptr::null_mut(),
            &mut line,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        );
        let path = PathBuf::from(take_string(clang_getFileName(file)));
        out.entry(path).or_insert(line);
    }
}

/// A cursor tied to the lifetime of its translation unit.
#[derive(Clone, Copy)]
pub struct Cursor<'u> {
    raw: CXCursor,
    unit: &'u Unit,
}

extern "C" fn collect_child(
    cursor: CXCursor,
    _parent: CXCursor,
    data: CXClientData,
) -> CXChildVisitResult {
    // SAFETY: `data` is the `Vec<CXCursor>` passed by `Cursor::children`.
    let out = unsafe { &mut *(data as *mut Vec<CXCursor>) };
    out.push(cursor);
    CXChildVisit_Continue
}

impl<'u> Cursor<'u> {
    pub fn children(&self) -> Vec<Cursor<'u>> {
        let mut raw: Vec<CXCursor> = Vec::new();
        // SAFETY: the callback only pushes into `raw`, which outlives the call.
        unsafe {
            clang_visitChildren(
                self.raw,
                collect_child,
                &mut raw as *mut Vec<CXCursor> as CXClientData,
            );
        }
        raw.into_iter()
            .map(|raw| Cursor {
                raw,
                unit: self.unit,
            })
            .collect()
    }

    pub fn kind(&self) -> CXCursorKind {
        // SAFETY: plain query on a live cursor (same for the methods below).
        unsafe { clang_getCursorKind(self.raw) }
    }

    pub fn spelling(&self) -> String {
        take_string(unsafe { clang_getCursorSpelling(self.raw) })
    }

    /// File (absolute path as given to clang) and byte offset of the cursor's
    /// location; `None` for built-in and command-line entities.
    pub fn file_offset(&self) -> Option<(PathBuf, u32)> {
        unsafe {
            let loc = clang_getCursorLocation(self.raw);
            let mut file: CXFile = std::ptr::null_mut();
            let (mut line, mut col, mut off): (c_uint, c_uint, c_uint) = (0, 0, 0);
            clang_getFileLocation(loc, &mut file, &mut line, &mut col, &mut off);
            if file.is_null() {
                return None;
            }
            Some((PathBuf::from(take_string(clang_getFileName(file))), off))
        }
    }

    pub fn is_definition(&self) -> bool {
        unsafe { clang_isCursorDefinition(self.raw) != 0 }
    }

    pub fn is_inline_function(&self) -> bool {
        unsafe { clang_Cursor_isFunctionInlined(self.raw) != 0 }
    }

    pub fn storage_class(&self) -> CX_StorageClass {
        unsafe { clang_Cursor_getStorageClass(self.raw) }
    }

    /// The cursor's type as written (not canonical).
    pub fn type_spelling(&self) -> String {
        take_string(unsafe { clang_getTypeSpelling(clang_getCursorType(self.raw)) })
    }

    /// Kind of the cursor's canonical type, looking through one pointer level.
    pub fn canonical_pointee_kind(&self) -> CXTypeKind {
        unsafe {
            let mut t = clang_getCanonicalType(clang_getCursorType(self.raw));
            if t.kind == CXType_Pointer {
                t = clang_getCanonicalType(clang_getPointeeType(t));
            }
            t.kind
        }
    }

    /// Is the cursor's type (for arrays: the element type) const-qualified?
    pub fn is_const_data(&self) -> bool {
        unsafe {
            let mut t = clang_getCursorType(self.raw);
            loop {
                let elem = clang_getArrayElementType(t);
                if elem.kind == CXType_Invalid {
                    break;
                }
                t = elem;
            }
            clang_isConstQualifiedType(t) != 0
        }
    }

    /// For a typedef: the kind of the canonical underlying type, looking
    /// through one pointer level.
    pub fn typedef_target_kind(&self) -> CXTypeKind {
        unsafe {
            let mut t = clang_getCanonicalType(clang_getTypedefDeclUnderlyingType(self.raw));
            if t.kind == CXType_Pointer {
                t = clang_getCanonicalType(clang_getPointeeType(t));
            }
            t.kind
        }
    }

    /// For a function: return type as written, parameters (name, type as
    /// written), and whether it is variadic. A `(void)` or K&R `()`
    /// prototype has zero parameters.
    pub fn function_signature(&self) -> (String, Vec<(String, String)>, bool) {
        unsafe {
            let fty = clang_getCursorType(self.raw);
            let ret = take_string(clang_getTypeSpelling(clang_getResultType(fty)));
            let variadic =
                fty.kind == CXType_FunctionProto && clang_isFunctionTypeVariadic(fty) != 0;
            let n = clang_Cursor_getNumArguments(self.raw).max(0);
            let params = (0..n as c_uint)
                .map(|i| {
                    let arg = Cursor {
                        raw: clang_Cursor_getArgument(self.raw, i),
                        unit: self.unit,
                    };
                    (arg.spelling(), arg.type_spelling())
                })
                .collect();
            (ret, params, variadic)
        }
    }

    /// Does the cursor carry `__attribute__((annotate(text)))`?
    pub fn has_annotation(&self, text: &str) -> bool {
        self.children()
            .iter()
            .any(|c| c.kind() == CXCursor_AnnotateAttr && c.spelling() == text)
    }
}

/// Is `path` inside `dir` (both as clang reports them)? Returns the relative
/// path with `/` separators.
pub fn relative_to(path: &Path, dir: &Path) -> Option<String> {
    let rel = path.strip_prefix(dir).ok()?;
    Some(
        rel.components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/"),
    )
}
