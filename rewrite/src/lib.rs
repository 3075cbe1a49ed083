//! The pyctx rewrite engine: migrates C extension sources to the context
//! API (`PyObject_IsTrue(v)` → `PyObject_IsTrue(ctx, v)`), threading a
//! `PyCtx` through the project's own functions.
//!
//! The engine is a pure function from sources to sources plus a report:
//! it reads no files and writes none. The `pyctx migrate` / `pyctx status`
//! front end (crate `pyctx-migrate`) finds the files, prints diffs, writes
//! results atomically and renders reports.
//!
//! ```no_run
//! use pyctx_rewrite::{migrate, ApiNames, Options, SourceFile};
//! let api = ApiNames::load_default().unwrap();
//! let files = vec![SourceFile::new("mod.c", std::fs::read_to_string("mod.c").unwrap())];
//! let out = migrate(&files, &api, &Options::default());
//! for f in &out.files {
//!     if let Some(new) = &f.new_text {
//!         std::fs::write(&f.path, new).unwrap();
//!     }
//! }
//! print!("{}", out.render());
//! ```
//!
//! # Contract
//!
//! - **Input**: every file of the project that matters for the call graph,
//!   headers included ([`SourceFile`]). Functions are only ever rewritten
//!   inside the given files; calls into files not given are calls to
//!   "outside".
//! - **Output** ([`Outcome`]): for each input file, in input order, the new
//!   text when it changed ([`FileOutcome::new_text`]); one
//!   [`FunctionReport`] per function definition (in file order, then source
//!   order); one [`MacroReport`] per project macro whose body uses the API;
//!   [`Diagnostic`]s for everything refused, left legacy or worth a note.
//! - **Determinism**: files are parsed in parallel, but the result does not
//!   depend on thread timing or hash order.
//! - **Safety**: every byte outside an edit is kept (line endings, comments,
//!   strings, dead `#if 0` code). Edits are insertions at exact byte
//!   offsets, plus two replacements: `(void)` → `(PyCtx ctx)` and a
//!   bridge's `PyCtx_Get()` → the caller's context; the list of edits is
//!   part of the result ([`FileOutcome::text_edits`]).
//! - **Idempotence**: migrating the output again yields no edits.
//!
//! The rules and policies are specified in `docs/migration-policy.md`.
//!
//! With a compiler, [`migrate_verified`] also compiles every changed
//! translation unit before and after (e.g. with [`Libclang`] and the
//! build's flags) and backs out what the rewrite broke:
//!
//! ```no_run
//! # use pyctx_rewrite::{migrate_verified, ApiNames, Libclang, Options, SourceFile};
//! # let api = ApiNames::load_default().unwrap();
//! # let files: Vec<SourceFile> = vec![];
//! let cc = Libclang::new(vec!["-I/usr/include/python3.12".into()]).unwrap();
//! let out = migrate_verified(&files, &api, &Options::default(), &cc);
//! ```
//!
//! # Phases
//!
//! parse → units → resolve → decide → edit →
//! check → report, driven by `engine::migrate`; decide → edit → check
//! repeat while the check (which reads the output back as text) sends
//! functions back to their signature. ARCHITECTURE.md has the map.

mod check;
mod clang;
mod configs;
mod cpp;
mod decide;
mod edit;
mod engine;
mod extra;
use pyctx_clex as lex;
mod macros;
mod mask;
mod model;
mod parse;
mod pp;
mod report;
mod resolve;
mod scan;
mod text;
mod trampoline;
mod units;
mod verify;

use serde::Serialize;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

pub use clang::Libclang;
pub use engine::{migrate, migrate_verified};
#[doc(hidden)]
pub use macros::cpython_syntax_header;
pub use verify::{Compile, CompileError};

/// One source file of the project (a `.c` or a header).
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Used for reports and to resolve `#include "..."` between the given
    /// files (by path suffix). Not read.
    pub path: PathBuf,
    pub text: String,
}

impl SourceFile {
    pub fn new(path: impl Into<PathBuf>, text: impl Into<String>) -> SourceFile {
        SourceFile {
            path: path.into(),
            text: text.into(),
        }
    }

    /// Headers (`.h`, `.hh`, `.hpp`, `.hxx`, `.inc`) may be included by several
    /// files; static functions they define are visible to every includer.
    pub fn is_header(&self) -> bool {
        is_header_path(&self.path)
    }
}

pub(crate) fn is_header_path(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("h" | "hh" | "hpp" | "hxx" | "inc")
    )
}

/// File name extensions of C++ sources and headers: parsed with
/// tree-sitter-cpp, `__cplusplus` defined. (A `.h` header is C++ when
/// only C++ files include it.)
pub const CPP_EXTENSIONS: &[&str] = &["cpp", "cc", "cxx", "hpp", "hh", "hxx"];

/// The language of a file by its name alone.
pub(crate) fn lang_of_path(p: &Path) -> lex::Lang {
    match p.extension().and_then(|e| e.to_str()) {
        Some(e) if CPP_EXTENSIONS.contains(&e) => lex::Lang::Cpp,
        _ => lex::Lang::C,
    }
}

/// The C API names that have a context form (`NAME(ctx, ...)`).
#[derive(Debug, Clone, Default)]
pub struct ApiNames {
    names: HashSet<String>,
    /// Names declared by an extra public header (the table's
    /// `needs_include`: `datetime.h`, ...) on some version: the headers a
    /// file must see before its uses of the name are API calls.
    needs: HashMap<String, BTreeSet<String>>,
    /// Object-like macros that act (`PyDateTime_IMPORT`): the ctx form is
    /// spelled `NAME_CTX(ctx)`, reached by inserting `_CTX(ctx)`.
    object_like: HashSet<String>,
}

pub use pyctx_api::OBJECT_LIKE_CTX_SUFFIX;

impl ApiNames {
    /// Every entry of the API table whose ctx form exists wherever the name
    /// does: each of its forms (one per range of CPython versions) has a ctx
    /// form (functions, static inline functions, expression and statement
    /// macros, object-like aliases of those). An object-like macro that
    /// acts (`PyDateTime_IMPORT`) counts when it is one on every supported
    /// version (its ctx form `NAME_CTX(ctx)` is a different name, which a
    /// missing version would leave undeclared); its ctx spelling is a name
    /// too, so that a migrated `PyDateTime_IMPORT_CTX(ctx)` is a done call.
    ///
    /// Names declared by an extra public header on some version (the
    /// table's `needs_include`: `datetime.h`, `marshal.h`, `frameobject.h`,
    /// `structmember.h`, ...) carry the headers they need
    /// ([`ApiNames::needs`]): the engine rewrites them only in files that
    /// see those headers. Left out: names that are plain utility macros in
    /// older versions (`PyUnicode_READ` before 3.11).
    pub fn from_table(table: &pyctx_api::Table) -> ApiNames {
        let mut api = ApiNames::default();
        for e in &table.entries {
            let object_like = is_acting_object_like(e);
            if e.forms.is_empty() || !(object_like || e.forms.iter().all(|f| f.has_ctx_form())) {
                continue;
            }
            let needs: BTreeSet<String> = e
                .forms
                .iter()
                .filter_map(|f| f.needs_include.clone())
                .collect();
            let mut add = |name: String| {
                if !needs.is_empty() {
                    api.needs.insert(name.clone(), needs.clone());
                }
                api.names.insert(name);
            };
            add(e.name.clone());
            if object_like {
                api.object_like.insert(e.name.clone());
                add(format!("{}{OBJECT_LIKE_CTX_SUFFIX}", e.name));
            }
        }
        api
    }

    /// The extra public headers (`datetime.h`, ...) a file must include
    /// for `name`'s ctx form to be declared there; `None` for the names
    /// `Python.h` declares on every version.
    pub fn needs(&self, name: &str) -> Option<&BTreeSet<String>> {
        self.needs.get(name)
    }

    /// An object-like macro that acts (`PyDateTime_IMPORT`), used without
    /// parentheses: its ctx form is `NAME_CTX(ctx)`.
    pub fn is_object_like(&self, name: &str) -> bool {
        self.object_like.contains(name)
    }

    /// Every extra public header some name needs (sorted).
    pub fn extra_headers(&self) -> BTreeSet<&str> {
        self.needs.values().flatten().map(String::as_str).collect()
    }

    /// The same set without `names` (names the caller knows its runtime
    /// cannot dispatch).
    pub fn without<'a>(mut self, names: impl IntoIterator<Item = &'a str>) -> ApiNames {
        for n in names {
            self.names.remove(n);
            self.needs.remove(n);
            self.object_like.remove(n);
        }
        self
    }

    /// [`ApiNames::from_table`] of the checked-in table (`api/table.json`).
    pub fn load_default() -> anyhow::Result<ApiNames> {
        Ok(ApiNames::from_table(&pyctx_api::Table::load_default()?))
    }

    /// An explicit list (tests, or a restricted migration).
    pub fn from_names<I, S>(names: I) -> ApiNames
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ApiNames {
            names: names.into_iter().map(Into::into).collect(),
            ..ApiNames::default()
        }
    }

    pub fn contains(&self, name: &str) -> bool {
        self.names.contains(name)
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// An object-like macro that acts (an expression or statement) on every
/// supported version: the generated header gives it the ctx form
/// `NAME_CTX(ctx)`.
fn is_acting_object_like(e: &pyctx_api::Entry) -> bool {
    use pyctx_api::model::MacroShape;
    pyctx_api::model::SUPPORTED_VERSIONS.iter().all(|v| {
        e.form_for(v).is_some_and(|f| {
            f.object_like && matches!(f.shape, Some(MacroShape::Expr | MacroShape::Stmt))
        })
    })
}

/// What to migrate, and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// Name of the context variable / parameter to introduce (default
    /// `ctx`). A function where this name is taken gets `pyctx_ctx`
    /// (then `pyctx_ctx2`, ...) instead.
    pub ctx_name: String,
    /// Migrate only these functions (by name). `None`: all.
    pub only: Option<BTreeSet<String>>,
    /// Never migrate these functions (applied after `only`).
    pub exclude: BTreeSet<String>,
    /// Migrate only functions defined in these files (paths as given in
    /// [`SourceFile::path`]). `None`: all files. Other files still count
    /// for the call graph and receive prototype updates and bridges.
    pub only_files: Option<BTreeSet<PathBuf>>,
    /// Extra entry points: functions called from outside the project by
    /// name (they keep their signature).
    pub entry: BTreeSet<String>,
    /// Entry points whose address is taken (method tables, slots,
    /// callbacks) become `NAME_impl(PyCtx ctx, ...)` plus a trampoline line
    /// (`PYCTX__TRAMPOLINE` / `PYCTX_DEALLOC`) defining `NAME` with its
    /// original signature, instead of opening with `PyCtx_Get()`.
    pub trampolines: bool,
    /// The translation units: the files the build compiles (paths as in
    /// [`SourceFile::path`], or suffixes of them), e.g. from
    /// `compile_commands.json`. `None`: every given file that is not a
    /// header and that no other given file includes. Static functions
    /// are resolved per unit (see `docs/migration-policy.md`).
    pub units: Option<BTreeSet<PathBuf>>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            ctx_name: "ctx".to_string(),
            only: None,
            exclude: BTreeSet::new(),
            only_files: None,
            entry: BTreeSet::new(),
            trampolines: false,
            units: None,
        }
    }
}

impl Options {
    /// Is the function `name` defined in `file` selected for migration?
    pub fn selects(&self, file: &Path, name: &str) -> bool {
        !matches!(&self.only, Some(o) if !o.contains(name))
            && !self.exclude.contains(name)
            && !matches!(&self.only_files, Some(o) if !o.contains(file))
    }
}

/// The result of [`migrate`].
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// One per input file, in input order.
    pub files: Vec<FileOutcome>,
    /// One per function definition, by file (input order) then line.
    pub functions: Vec<FunctionReport>,
    /// Project macros whose body calls (or names) the API.
    pub macros: Vec<MacroReport>,
    /// Sorted by file (input order), line, column.
    pub diagnostics: Vec<Diagnostic>,
    pub totals: Totals,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileOutcome {
    pub path: PathBuf,
    /// The migrated text, when anything changed.
    pub new_text: Option<String>,
    /// Number of edits applied (insertions and replacements).
    pub edits: usize,
    /// `#include "pyctx.h"` was added.
    pub include_added: bool,
    /// The edits that turn the old text into [`FileOutcome::new_text`],
    /// sorted by offset and not overlapping (empty when nothing changed).
    /// Front ends build diffs from them in time linear in the file.
    #[serde(skip)]
    pub text_edits: Vec<TextEdit>,
}

impl FileOutcome {
    /// A file left as it was.
    pub fn unchanged(path: impl Into<PathBuf>) -> FileOutcome {
        FileOutcome {
            path: path.into(),
            new_text: None,
            edits: 0,
            include_added: false,
            text_edits: Vec::new(),
        }
    }
}

/// One edit of a file's text: delete `del` bytes at byte offset `at`
/// (of the old text), insert `text` there. Almost every edit is an
/// insertion (`del == 0`); the replacements are listed in
/// `docs/migration-policy.md` (Rule 8).
///
/// The text is shared: a file's edits hold a handful of distinct texts
/// (`ctx, ` above all), and a large file has a million edits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextEdit {
    pub at: usize,
    pub del: usize,
    pub text: std::sync::Arc<str>,
}

/// What became of one function definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Status {
    /// Takes `PyCtx NAME` as its first parameter (added now or before);
    /// direct callers pass their context.
    Threaded,
    /// Keeps its signature (see `entry_reason`) and opens with
    /// `PyCtx NAME = PyCtx_Get();` (added now or before).
    EntryPoint,
    /// Selected, but needs no context: no API call, directly or through the
    /// functions it calls.
    NoContext,
    /// Not selected (`only` / `exclude` / `only_files`), switching the
    /// thread state (`PyGILState_Ensure`, ...), or saving and restoring it
    /// without being threadable (see `legacy_reason`): left as it was,
    /// except for bridges.
    Legacy,
    /// Cannot be rewritten safely; left untouched.
    Refused { reason: String },
}

#[derive(Debug, Clone, Serialize)]
pub struct FunctionReport {
    pub file: PathBuf,
    /// Line of the function's name (1-based).
    pub line: usize,
    pub name: String,
    pub is_static: bool,
    pub status: Status,
    /// Why the function must keep its signature, when it must (address
    /// taken, module init, called from outside, ...). Set for every
    /// function the engine treats as an entry point, whatever its status.
    pub entry_reason: Option<String>,
    /// The context variable in scope (threaded and entry points).
    pub ctx_var: Option<String>,
    /// `PyCtx NAME` was added to the definition in this run.
    pub param_added: bool,
    /// `PyCtx NAME = PyCtx_Get();` was added in this run.
    pub prologue_added: bool,
    /// Prototypes that gained the parameter in this run.
    pub prototypes_updated: usize,
    /// Calls (API or threaded project functions) that received the context
    /// in this run.
    pub calls_rewritten: usize,
    /// Calls that already passed a context before this run.
    pub calls_already_ctx: usize,
    /// Calls of this function (threaded) that receive a context or a
    /// bridge in this run, anywhere in the project: until they do, its
    /// callers do not match its signature.
    pub callers_updated: usize,
    /// Calls that pass `PyCtx_Get()` (in unselected functions).
    pub bridges: Vec<Bridge>,
    /// API uses left in legacy form, with the reason.
    pub legacy_calls: Vec<LegacyCall>,
    /// For status `legacy`: "not selected", or why the engine keeps it
    /// legacy although selected (its thread-state calls, or a backed-out
    /// rewrite).
    pub legacy_reason: Option<String>,
    /// With `Options::trampolines`: the implementation this entry point was
    /// renamed to (`NAME_impl`, taking `PyCtx` first); a trampoline line
    /// after it defines `NAME` with the original signature.
    pub trampoline: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Bridge {
    pub line: usize,
    pub column: usize,
    /// The threaded function called.
    pub callee: String,
    /// Added in this run (false: found from an earlier run).
    pub added: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct LegacyCall {
    pub line: usize,
    pub column: usize,
    /// The API name, or the project macro whose body calls the API.
    pub name: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MacroStatus {
    /// The body's API calls now pass `ctx` (every expansion is in a
    /// function with `ctx` in scope).
    Rewritten,
    /// Left legacy (its expansions run through compat).
    Legacy { reason: String },
}

#[derive(Debug, Clone, Serialize)]
pub struct MacroReport {
    pub file: PathBuf,
    pub line: usize,
    pub name: String,
    /// API names its body calls.
    pub api_calls: Vec<String>,
    pub status: MacroStatus,
    /// Body calls that received `ctx` in this run.
    pub calls_rewritten: usize,
    /// Expansion sites in function bodies.
    pub expansions: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Note,
    Warning,
    Error,
}

#[derive(Debug, Clone, Serialize)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub severity: Severity,
    /// A stable short code ([`Code`]; serialised as its kebab-case name).
    pub code: Code,
    pub message: String,
}

/// Every diagnostic code pyctx emits, the engine's and the command line's:
/// the one list that `docs/cli.md` is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Code {
    Refused,
    ParseError,
    MacroLegacy,
    MacroAlias,
    MacroCtx,
    Lvalue,
    Bridge,
    ApiName,
    CtxRenamed,
    ThreadSwitch,
    Options,
    Trampoline,
    /// The output check sent a function back to its signature (an arity
    /// mismatch or a misplaced include it would otherwise have written).
    Check,
    /// `migrate_verified`: a function whose rewrite added a compiler
    /// diagnostic was backed out.
    Verify,
    Internal,
    /// Emitted by the command line, not the engine: a folder entry that
    /// could not be followed (symlink loop, dangling link, unreadable).
    Walk,
    /// Emitted by the command line: `--write` refused or failed for a file;
    /// nothing was written.
    Write,
}

impl Code {
    pub const ALL: &'static [Code] = &[
        Code::Refused,
        Code::ParseError,
        Code::MacroLegacy,
        Code::MacroAlias,
        Code::MacroCtx,
        Code::Lvalue,
        Code::Bridge,
        Code::ApiName,
        Code::CtxRenamed,
        Code::ThreadSwitch,
        Code::Options,
        Code::Trampoline,
        Code::Check,
        Code::Verify,
        Code::Internal,
        Code::Walk,
        Code::Write,
    ];

    /// The stable spelling (reports, JSON, `docs/cli.md`).
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Refused => "refused",
            Code::ParseError => "parse-error",
            Code::MacroLegacy => "macro-legacy",
            Code::MacroAlias => "macro-alias",
            Code::MacroCtx => "macro-ctx",
            Code::Lvalue => "lvalue",
            Code::Bridge => "bridge",
            Code::ApiName => "api-name",
            Code::CtxRenamed => "ctx-renamed",
            Code::ThreadSwitch => "thread-switch",
            Code::Options => "options",
            Code::Trampoline => "trampoline",
            Code::Check => "check",
            Code::Verify => "verify",
            Code::Internal => "internal",
            Code::Walk => "walk",
            Code::Write => "write",
        }
    }

    /// One line for the documentation table.
    pub fn summary(self) -> &'static str {
        match self {
            Code::Refused => "a function that cannot be rewritten safely (K&R, syntax errors, an `if` split by `#if`, a name made by a macro); left byte for byte. C++ members, templates, lambdas and overloaded names are not refused (entry points, `docs/migration-policy.md`)",
            Code::ParseError => "a region outside functions that does not parse; names used in it keep their signatures",
            Code::MacroLegacy => "a project macro whose body calls the API is left legacy (its expansions run through compat)",
            Code::MacroAlias => "a project macro names an API function without calling it; its expansions are left as written",
            Code::MacroCtx => "a project macro passes the context to the API where no context of that name is in scope",
            Code::Lvalue => "an API macro assigned to or whose address is taken is left legacy",
            Code::Bridge => "an unselected caller passes `PyCtx_Get()` to a function that gained a context",
            Code::ApiName => "the project defines a C API name itself; its uses are left as written",
            Code::CtxRenamed => "the context name is taken in a function; another name is used there",
            Code::ThreadSwitch => "a function that switches the thread state (`PyGILState_Ensure`, ...), or saves and restores it and cannot be threaded, stays legacy",
            Code::Options => "the options cannot be honoured (a context name that is not a C identifier)",
            Code::Trampoline => "an entry point keeps `PyCtx_Get()` instead of a trampoline, and why",
            Code::Check => "the output check found a call or prototype whose argument count would no longer match, or an include outside every configuration (the functions involved kept their signatures), or the file defines `PyCtx` itself (an error: the file is not changed)",
            Code::Verify => "with verification, a function whose rewrite added a compiler error was backed out (left legacy)",
            Code::Internal => "a bug in pyctx (overlapping edits, a panic while processing the file); that file is not changed",
            Code::Walk => "a folder entry that cannot be followed (symlink loop, dangling link, unreadable) is skipped",
            Code::Write => "`--write` refused or failed for this file (read-only, hard links, owner, changed on disk, I/O); nothing was written",
        }
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Code {
    type Err = String;
    fn from_str(s: &str) -> Result<Code, String> {
        Code::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| format!("unknown diagnostic code {s:?}"))
    }
}

/// Lets code that still spells codes as strings (`code: "refused".into()`)
/// keep compiling. An unknown spelling is a bug in pyctx: it panics, naming
/// the code, so that a test producing it fails until the variant is added.
impl From<&str> for Code {
    fn from(s: &str) -> Code {
        s.parse()
            .unwrap_or_else(|e| panic!("{e}: add it to pyctx_rewrite::Code"))
    }
}

impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    pub files_changed: usize,
    /// State of the code (after this run): how many functions are in each
    /// status, whether this run or an earlier one put them there.
    pub functions: usize,
    pub threaded: usize,
    pub entry_points: usize,
    pub no_context: usize,
    pub legacy: usize,
    pub refused: usize,
    /// Changes made by this run (all zero on already-migrated code).
    pub calls_rewritten: usize,
    pub params_added: usize,
    pub prologues_added: usize,
    pub prototypes_updated: usize,
    pub bridges_added: usize,
    /// State of the code again: calls passing a context before this run,
    /// bridges (added now or before), API calls left legacy, macros.
    pub calls_already_ctx: usize,
    pub bridges: usize,
    pub legacy_calls: usize,
    pub macros_rewritten: usize,
    pub macros_legacy: usize,
}

impl Outcome {
    /// Did the run change anything? (`--check`: work left to do.)
    pub fn changed(&self) -> bool {
        self.files.iter().any(|f| f.new_text.is_some())
    }

    /// A stable, human-readable report: one line per function, macro,
    /// changed file and diagnostic (the golden tests compare it).
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        for f in &self.files {
            if f.new_text.is_some() {
                let _ = writeln!(
                    s,
                    "{}: changed, {} edit{}{}",
                    f.path.display(),
                    f.edits,
                    if f.edits == 1 { "" } else { "s" },
                    if f.include_added {
                        ", pyctx.h included"
                    } else {
                        ""
                    }
                );
            }
        }
        for r in &self.functions {
            let _ = write!(s, "{}:{}: {}: ", r.file.display(), r.line, r.name);
            match &r.status {
                Status::Threaded => s.push_str("threaded"),
                Status::EntryPoint => s.push_str("entry point"),
                Status::NoContext => s.push_str("no context needed"),
                Status::Legacy => {
                    let _ = write!(
                        s,
                        "legacy ({})",
                        r.legacy_reason.as_deref().unwrap_or("not selected")
                    );
                }
                Status::Refused { reason } => {
                    let _ = write!(s, "refused: {reason}");
                }
            }
            let mut parts: Vec<String> = Vec::new();
            if let Some(e) = &r.entry_reason {
                parts.push(format!("keeps signature: {e}"));
            }
            if let Some(v) = &r.ctx_var {
                parts.push(format!("ctx `{v}`"));
            }
            if r.param_added {
                parts.push("parameter added".into());
            }
            if r.prologue_added {
                parts.push("PyCtx_Get() added".into());
            }
            if let Some(t) = &r.trampoline {
                parts.push(format!("trampoline to `{t}`"));
            }
            if r.prototypes_updated > 0 {
                parts.push(format!("{} prototype(s) updated", r.prototypes_updated));
            }
            if r.calls_rewritten > 0 {
                parts.push(format!("{} call(s) rewritten", r.calls_rewritten));
            }
            if r.calls_already_ctx > 0 {
                parts.push(format!("{} call(s) already ctx", r.calls_already_ctx));
            }
            if !r.bridges.is_empty() {
                parts.push(format!("{} bridge(s)", r.bridges.len()));
            }
            if !r.legacy_calls.is_empty() {
                parts.push(format!("{} legacy call(s) left", r.legacy_calls.len()));
            }
            if !parts.is_empty() {
                let _ = write!(s, " [{}]", parts.join("; "));
            }
            s.push('\n');
            for b in &r.bridges {
                let _ = writeln!(
                    s,
                    "  {}:{}:{}: bridge: PyCtx_Get() passed to {}",
                    r.file.display(),
                    b.line,
                    b.column,
                    b.callee
                );
            }
            for l in &r.legacy_calls {
                let _ = writeln!(
                    s,
                    "  {}:{}:{}: legacy {}: {}",
                    r.file.display(),
                    l.line,
                    l.column,
                    l.name,
                    l.reason
                );
            }
        }
        for m in &self.macros {
            let _ = write!(s, "{}:{}: macro {}: ", m.file.display(), m.line, m.name);
            match &m.status {
                MacroStatus::Rewritten => s.push_str("rewritten"),
                MacroStatus::Legacy { reason } => {
                    let _ = write!(s, "legacy: {reason}");
                }
            }
            let _ = writeln!(
                s,
                " [calls {}; {} expansion(s); {} call(s) rewritten]",
                m.api_calls.join(", "),
                m.expansions,
                m.calls_rewritten
            );
        }
        for d in &self.diagnostics {
            let sev = match d.severity {
                Severity::Note => "note",
                Severity::Warning => "warning",
                Severity::Error => "error",
            };
            let _ = writeln!(
                s,
                "{}:{}:{}: {sev}[{}]: {}",
                d.file.display(),
                d.line,
                d.column,
                d.code,
                d.message
            );
        }
        s
    }
}
