//! Scan one parsed set of headers: every function (`PyAPI_FUNC` and static
//! inline), every macro defined under the include dir, and the names the
//! macro-shape rules need to decide what "touches the VM".

#![allow(non_upper_case_globals)] // clang-sys constants keep libclang's names

use super::clang::{relative_to, Cursor, Unit};
use super::shape::{self, MacroDef, TokenKind};
use crate::model::{Form, Kind, Param};
use anyhow::Result;
use clang_sys::*;
use pyctx_clex::Macro;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// Annotation our predefined `PyAPI_FUNC` attaches to every declaration it
/// introduces (see [`pyapi_func_define`]).
pub const API_ANNOTATION: &str = "pyctx_api";

/// Annotation our predefined `PyAPI_DATA` attaches to every exported variable.
pub const DATA_ANNOTATION: &str = "pyctx_api_data";

/// `-D` argument that makes every `PyAPI_FUNC(T) f(...)` declaration carry
/// `annotate("pyctx_api")`. CPython defines `PyAPI_FUNC` under `#ifndef
/// PyAPI_FUNC` (pyport.h up to 3.12, exports.h from 3.13) on every non-Windows
/// platform, so a command-line definition takes precedence. The header's own
/// definition is then skipped, so the `PyAPI_FUNC` macro itself is added back
/// by [`Scan::collect`] from the header text.
pub fn pyapi_func_define() -> String {
    format!("-DPyAPI_FUNC(RTYPE)=__attribute__((annotate(\"{API_ANNOTATION}\"))) RTYPE")
}

/// Like [`pyapi_func_define`] for `PyAPI_DATA(T) name;` (exported variables).
pub fn pyapi_data_define() -> String {
    format!("-DPyAPI_DATA(RTYPE)=extern __attribute__((annotate(\"{DATA_ANNOTATION}\"))) RTYPE")
}

/// The export macros the generator predefines (and so re-reads from the
/// header text: [`Scan::add_export_macros`]).
const EXPORT_MACROS: &[&str] = &["PyAPI_FUNC", "PyAPI_DATA"];

/// Prefix of the variables that mark a macro as no longer defined.
const UNDEF_PROBE: &str = "pyctx_undefined__";

/// Every name some header under `dir` (recursively) `#undef`s, sorted.
fn undefined_names(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "h") {
                let Ok(text) = std::fs::read_to_string(&p) else {
                    continue;
                };
                for line in text.lines() {
                    let Some(rest) = line.trim_start().strip_prefix('#') else {
                        continue;
                    };
                    let Some(rest) = rest.trim_start().strip_prefix("undef") else {
                        continue;
                    };
                    let name: String = rest
                        .trim_start()
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() && rest.starts_with([' ', '\t']) {
                        out.insert(name);
                    }
                }
            }
        }
    }
    out
}

/// Headers that hold build configuration, not API: their macros are skipped.
const CONFIG_HEADERS: &[&str] = &["pyconfig.h", "pymacconfig.h"];

#[derive(Debug, Clone)]
pub struct RawFunction {
    pub name: String,
    pub kind: Kind,
    pub ret: String,
    pub params: Vec<Param>,
    pub variadic: bool,
    pub header: String,
    /// The public header besides `Python.h` that declares it (see
    /// [`Scan::run`]); `None` when `Python.h` does.
    pub needs_include: Option<String>,
}

/// Everything found in one version's headers.
#[derive(Debug, Default)]
pub struct Scan {
    /// All functions (public and `_`-private), first declaration wins.
    pub functions: BTreeMap<String, RawFunction>,
    /// All macros defined under the include dir, last definition wins.
    pub macros: BTreeMap<String, MacroDef>,
    /// Names of struct/union tags and typedefs of records (or pointers to
    /// records) declared under the include dir: `PyObject`, `PyThreadState`...
    pub vm_types: BTreeSet<String>,
    /// Variables declared under the include dir (`PyAPI_DATA`, statics such
    /// as `PyDateTimeAPI`).
    pub vm_vars: BTreeSet<String>,
    /// Exported variables (`PyAPI_DATA`), private ones included.
    pub data: BTreeSet<String>,
}

/// Where a declaration lives: its header relative to the include dir, and
/// the public header a user must include for it (`None`: `Python.h`).
#[derive(Debug, Clone)]
struct Place {
    header: String,
    needs_include: Option<String>,
}

struct Locator {
    include_dir: PathBuf,
    /// File -> line of the translation unit's `#include` that brought it in.
    include_lines: HashMap<PathBuf, u32>,
    /// Line of the translation unit -> the header it includes, except the
    /// first `#include` (the base header, `Python.h`): what it reaches needs
    /// no other include.
    extra_at_line: HashMap<u32, String>,
    cache: HashMap<PathBuf, Option<Place>>,
}

impl Locator {
    fn new(include_dir: &Path, unit: &Unit, source: &str) -> Locator {
        let include_dir = include_dir
            .canonicalize()
            .unwrap_or_else(|_| include_dir.to_path_buf());
        let mut extra_at_line = HashMap::new();
        let mut base_seen = false;
        for (i, line) in source.lines().enumerate() {
            let Some(h) = included_header(line) else {
                continue;
            };
            if base_seen {
                extra_at_line.insert(i as u32 + 1, h);
            }
            base_seen = true;
        }
        Locator {
            include_dir,
            include_lines: unit.top_level_include_lines(),
            extra_at_line,
            cache: HashMap::new(),
        }
    }

    /// Where the cursor is, if it is inside the include dir.
    fn place(&mut self, c: &Cursor<'_>) -> Option<Place> {
        let (file, _) = c.file_offset()?;
        if let Some(hit) = self.cache.get(&file) {
            return hit.clone();
        }
        let canon = file.canonicalize().unwrap_or_else(|_| file.clone());
        let place = relative_to(&canon, &self.include_dir).map(|header| Place {
            header,
            needs_include: self
                .include_lines
                .get(&file)
                .and_then(|line| self.extra_at_line.get(line))
                .cloned(),
        });
        self.cache.insert(file, place.clone());
        place
    }
}

/// `#include <X>` / `#include "X"` -> X.
fn included_header(line: &str) -> Option<String> {
    let rest = line.trim_start().strip_prefix('#')?.trim_start();
    let rest = rest.strip_prefix("include")?.trim();
    let inner = rest
        .strip_prefix('<')
        .and_then(|r| r.strip_suffix('>'))
        .or_else(|| rest.strip_prefix('"').and_then(|r| r.strip_suffix('"')))?;
    Some(inner.trim().to_string())
}

impl Scan {
    /// Parse `source` with the headers of `include_dir` and collect.
    pub fn run(include_dir: &Path, source: &str, extra_args: &[String]) -> Result<Scan> {
        let mut args = vec![
            "-x".to_string(),
            "c".to_string(),
            "-std=gnu11".to_string(),
            format!("-I{}", include_dir.display()),
            pyapi_func_define(),
            pyapi_data_define(),
        ];
        args.extend(extra_args.iter().cloned());
        // A macro the headers `#undef` may be gone by the end of the headers:
        // probe each such name after the includes.
        let mut source = source.to_string();
        for name in undefined_names(include_dir) {
            source.push_str(&format!(
                "#ifndef {name}\nint {UNDEF_PROBE}{name};\n#endif\n"
            ));
        }
        let unit = Unit::parse("pyctx_api_scan.c", &source, &args)?;
        let mut scan = Scan::collect(&unit, include_dir, &source);
        scan.add_export_macros(include_dir)?;
        Ok(scan)
    }

    /// Walk the translation unit. `source` is its text: its first `#include`
    /// is the base header (`Python.h`); what a later `#include` brings in
    /// first records that header as `needs_include`.
    fn collect(unit: &Unit, include_dir: &Path, source: &str) -> Scan {
        let mut loc = Locator::new(include_dir, unit, source);
        let mut texts = HeaderTexts::default();
        let mut scan = Scan::default();
        let mut undefined = Vec::new();
        for c in unit.top_level() {
            let kind = c.kind();
            if kind == CXCursor_MacroExpansion || kind == CXCursor_InclusionDirective {
                continue;
            }
            if kind == CXCursor_VarDecl {
                if let Some(name) = c.spelling().strip_prefix(UNDEF_PROBE) {
                    undefined.push(name.to_string());
                    continue;
                }
            }
            let Some(place) = loc.place(&c) else {
                continue;
            };
            match kind {
                CXCursor_MacroDefinition => {
                    if CONFIG_HEADERS.contains(&place.header.as_str()) {
                        continue;
                    }
                    if let Some(def) = macro_def(&c, &mut texts, place.header, place.needs_include)
                    {
                        scan.macros.insert(def.name().to_string(), def);
                    }
                }
                CXCursor_FunctionDecl => scan.add_function(&c, place),
                CXCursor_TypedefDecl if c.typedef_target_kind() == CXType_Record => {
                    scan.vm_types.insert(c.spelling());
                }
                CXCursor_StructDecl | CXCursor_UnionDecl => {
                    let name = c.spelling();
                    // Anonymous records spell as "struct (unnamed at ...)".
                    if !name.is_empty() && !name.contains(' ') {
                        scan.vm_types.insert(name);
                    }
                }
                CXCursor_VarDecl => {
                    if c.has_annotation(DATA_ANNOTATION) {
                        scan.data.insert(c.spelling());
                    }
                    if !c.is_const_data() {
                        scan.vm_vars.insert(c.spelling());
                    }
                }
                _ => {}
            }
        }
        for name in undefined {
            scan.macros.remove(&name);
        }
        scan
    }

    fn add_function(&mut self, c: &Cursor<'_>, place: Place) {
        let name = c.spelling();
        let is_api = c.has_annotation(API_ANNOTATION);
        let is_inline =
            c.storage_class() == CX_SC_Static && c.is_inline_function() && c.is_definition();
        let kind = if is_api {
            Kind::Function
        } else if is_inline {
            Kind::Inline
        } else {
            return;
        };
        if let Some(prev) = self.functions.get_mut(&name) {
            // A later declaration may add the annotation; keep the first
            // declaration's header and signature.
            if kind == Kind::Function {
                prev.kind = Kind::Function;
            }
            return;
        }
        let (ret, params, variadic) = c.function_signature();
        let params = params
            .into_iter()
            .enumerate()
            .map(|(i, (name, ty))| Param {
                name: if name.is_empty() {
                    format!("a{i}")
                } else {
                    name
                },
                ty,
            })
            .collect();
        self.functions.insert(
            name.clone(),
            RawFunction {
                name,
                kind,
                ret,
                params,
                variadic,
                header: place.header,
                needs_include: place.needs_include,
            },
        );
    }

    /// Our `-D`s replaced the headers' `#define PyAPI_FUNC(RTYPE) ...` and
    /// `PyAPI_DATA`, so the preprocessing record lacks them: read each from
    /// the header that holds its `#ifndef` default (exports.h or pyport.h).
    fn add_export_macros(&mut self, include_dir: &Path) -> Result<()> {
        for name in EXPORT_MACROS {
            let def = export_macro_default(include_dir, name).ok_or_else(|| {
                anyhow::anyhow!(
                    "{}: no `#ifndef {name}` default definition in exports.h or pyport.h; \
                     the generator's {name} detection needs updating for these headers",
                    include_dir.display()
                )
            })?;
            self.macros.insert(name.to_string(), def);
        }
        Ok(())
    }

    /// The public API of this version: name -> form (with empty `versions`).
    /// Fills `needs_include` and `exported`; the facts that need other
    /// scans (`PY_SSIZE_T_CLEAN`, `Py_LIMITED_API`) are added by
    /// [`super::scan_interpreter`].
    pub fn forms(&self) -> BTreeMap<String, Form> {
        let shapes = shape::classify(self);
        let mut out = BTreeMap::new();
        for f in self.functions.values() {
            if f.name.starts_with('_') {
                continue;
            }
            let mut form = Form::new(f.kind, &f.header);
            form.ret = f.ret.clone();
            form.params = f.params.clone();
            form.variadic = f.variadic;
            form.needs_include = f.needs_include.clone();
            form.exported = f.kind == Kind::Function;
            out.insert(f.name.clone(), form);
        }
        for m in self.macros.values() {
            if m.name().starts_with('_')
                || m.needs_include
                    .as_deref()
                    .is_some_and(super::records_functions_only)
            {
                continue;
            }
            let function = out.get(m.name());
            let also_function = function.is_some();
            let exported = function.is_some_and(|f| f.exported);
            let mut form = if m.function_like() {
                let mut form = Form::new(Kind::Macro, &m.header);
                form.params = macro_params(m.params());
                form.variadic = m.variadic();
                form.shape = Some(shapes[m.name()]);
                form
            } else if let Some(form) = self.alias_form(m, &shapes) {
                form
            } else if shape::acts(self, m) {
                let mut form = Form::new(Kind::Macro, &m.header);
                form.shape = Some(shapes[m.name()]);
                form.object_like = true;
                form
            } else {
                continue;
            };
            form.also_function = also_function;
            form.exported = exported;
            form.needs_include = m.needs_include.clone();
            out.insert(m.name().to_string(), form);
        }
        out
    }

    /// Where the object-like alias chain starting at `name` ends in an
    /// exported function (`PyAPI_FUNC`), if it does; `name` itself when it
    /// is one and no object-like macro renames it.
    pub fn link_symbol(&self, name: &str) -> Option<String> {
        let mut name = name.to_string();
        for _ in 0..8 {
            match self.macros.get(&name) {
                Some(m) if m.function_like() => return None,
                Some(m) => name = alias_target(m)?,
                None => {
                    let f = self.functions.get(&name)?;
                    return (f.kind == Kind::Function).then_some(name);
                }
            }
        }
        None
    }

    /// The direct target of `name` if it is an object-like renaming macro.
    pub fn alias_of(&self, name: &str) -> Option<String> {
        alias_target(self.macros.get(name)?)
    }

    /// Every `PyAPI_FUNC` function these headers declare, private ones
    /// included.
    pub fn exported_functions(&self) -> BTreeSet<String> {
        self.functions
            .values()
            .filter(|f| f.kind == Kind::Function)
            .map(|f| f.name.clone())
            .collect()
    }

    /// Every exported symbol these headers declare: `PyAPI_FUNC` functions
    /// and `PyAPI_DATA` variables, private ones included.
    pub fn exported_symbols(&self) -> BTreeSet<String> {
        let mut all = self.exported_functions();
        all.extend(self.data.iter().cloned());
        all
    }

    /// Every public name (no leading `_`) these headers declare in any
    /// form: functions, static inline functions, macros.
    pub fn public_names(&self) -> BTreeSet<String> {
        self.functions
            .keys()
            .chain(self.macros.keys())
            .filter(|n| !n.starts_with('_'))
            .cloned()
            .collect()
    }
}

fn macro_params(params: &[String]) -> Vec<Param> {
    params
        .iter()
        .map(|p| Param {
            name: p.clone(),
            ty: String::new(),
        })
        .collect()
}

impl Scan {
    /// An object-like macro that only renames a function or a function-like
    /// macro (`#define PyObject_Del PyObject_Free`): user code calls it like
    /// the target, so it is recorded as a macro with the target's signature
    /// (functions: `expr` shape, return and parameter types; macros: their
    /// parameters and shape) and `alias_of` naming the direct target.
    fn alias_form(
        &self,
        m: &MacroDef,
        shapes: &BTreeMap<String, crate::model::MacroShape>,
    ) -> Option<Form> {
        let target = alias_target(m)?;
        let mut name = target.clone();
        for _ in 0..8 {
            let mut form = Form::new(Kind::Macro, &m.header);
            form.alias_of = Some(target.clone());
            if let Some(f) = self.functions.get(&name) {
                form.ret = f.ret.clone();
                form.params = f.params.clone();
                form.variadic = f.variadic;
                form.shape = Some(crate::model::MacroShape::Expr);
                return Some(form);
            }
            let next = self.macros.get(&name)?;
            if next.function_like() {
                form.params = macro_params(next.params());
                form.variadic = next.variadic();
                form.shape = Some(shapes[next.name()]);
                return Some(form);
            }
            name = alias_target(next)?;
        }
        None
    }
}

/// The body of an object-like macro that is one name, maybe parenthesised.
fn alias_target(m: &MacroDef) -> Option<String> {
    if m.function_like() {
        return None;
    }
    let texts: Vec<&str> = m.body.iter().map(|t| t.text.as_str()).collect();
    let name = match texts.as_slice() {
        [n] | ["(", n, ")"] => *n,
        _ => return None,
    };
    let is_ident = m
        .body
        .iter()
        .any(|t| t.kind == TokenKind::Ident && t.text == name);
    (is_ident && name != m.name()).then(|| name.to_string())
}

/// The `#define NAME(RTYPE) ...` that follows `#ifndef NAME` in exports.h
/// (3.13) or pyport.h (earlier): the definition in force on non-Windows.
fn export_macro_default(include_dir: &Path, name: &str) -> Option<MacroDef> {
    for header in ["exports.h", "pyport.h"] {
        let Ok(text) = std::fs::read_to_string(include_dir.join(header)) else {
            continue;
        };
        if !text.lines().any(|l| is_directive(l, "ifndef", name)) {
            continue;
        }
        let open = format!("{name}(");
        let line = text
            .lines()
            .rev()
            .find(|l| is_directive(l, "define", &open))?;
        let rest = line.trim_start().trim_start_matches('#').trim_start();
        let def = Macro::parse(rest["define".len()..].trim_start())?;
        return Some(MacroDef::new(def, header.to_string(), None));
    }
    None
}

fn is_directive(line: &str, directive: &str, arg_prefix: &str) -> bool {
    let Some(rest) = line.trim_start().strip_prefix('#') else {
        return false;
    };
    let Some(rest) = rest.trim_start().strip_prefix(directive) else {
        return false;
    };
    rest.starts_with([' ', '\t']) && rest.trim_start().starts_with(arg_prefix)
}

/// The text of every header a definition was read from, read once.
#[derive(Default)]
struct HeaderTexts(HashMap<PathBuf, Option<String>>);

impl HeaderTexts {
    fn get(&mut self, path: &Path) -> Option<&str> {
        self.0
            .entry(path.to_path_buf())
            .or_insert_with(|| std::fs::read_to_string(path).ok())
            .as_deref()
    }
}

/// A macro definition cursor's definition, read by the shared lexer from
/// its header's text: from its name to the end of the directive's line.
fn macro_def(
    c: &Cursor<'_>,
    texts: &mut HeaderTexts,
    header: String,
    needs_include: Option<String>,
) -> Option<MacroDef> {
    let (file, at) = c.file_offset()?;
    let text = texts.get(&file)?;
    let rest = text.get(at as usize..)?;
    let def = Macro::parse(&rest[..directive_end(rest.as_bytes())])?;
    (def.name() == c.spelling()).then(|| MacroDef::new(def, header, needs_include))
}

/// Where the directive line starting `src` ends: the first newline not
/// escaped by a backslash.
fn directive_end(src: &[u8]) -> usize {
    let mut i = 0;
    while let Some(k) = src[i..].iter().position(|&c| c == b'\n') {
        let nl = i + k;
        let before = src[..nl].strip_suffix(b"\r").unwrap_or(&src[..nl]);
        if !before.ends_with(b"\\") {
            return nl;
        }
        i = nl + 1;
    }
    src.len()
}
