//! Data model of the API table (the schema of `api/table.json`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Schema version written into the table; bump when the layout changes.
pub const SCHEMA_VERSION: u32 = 2;

/// CPython minor versions the project supports, oldest first (kept in the
/// lexer crate, which needs them for version tests in `#if`).
pub use pyctx_clex::SUPPORTED_VERSIONS;

/// The suffix of an object-like macro's ctx spelling: `PyDateTime_IMPORT`'s
/// ctx form is `PyDateTime_IMPORT_CTX(ctx)` (the generated header defines
/// it, `pyctx migrate` inserts it).
pub const OBJECT_LIKE_CTX_SUFFIX: &str = "_CTX";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Table {
    pub schema: u32,
    /// Minor version -> exact interpreter version the headers came from.
    pub generated_from: BTreeMap<String, String>,
    /// Sorted by name; an entry's index is its stable id within one table.
    pub entries: Vec<Entry>,
    /// Minor version -> the symbols of its stable ABI (see [`StableAbi`]).
    pub stable_abi: BTreeMap<String, StableAbi>,
}

/// The stable ABI of one interpreter: every symbol (functions and data,
/// private ones included) an extension built with `Py_LIMITED_API` may
/// reference, on this platform. How it is assembled:
/// [`crate::generate::version::stable_abis`] and docs/api-table.md.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StableAbi {
    /// Where the list comes from, e.g. `test.test_stable_abi_ctypes of
    /// 3.12` (CPython's own list, shipped from 3.11) or `headers of 3.9,
    /// filtered by test.test_stable_abi_ctypes of 3.13`.
    pub source: String,
    /// Sorted.
    pub symbols: Vec<String>,
    /// Symbols in `symbols` that the version's own CPython list lacks but
    /// its limited headers declare and a newer list holds
    /// (`PyModule_Create2` in 3.11 and 3.12). Sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub added_from_headers: Vec<String>,
    /// Symbols the limited headers declare that are not in the stable ABI
    /// (3.9's `PyNode_New`, ...): not in `symbols`. Sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_stable: Vec<String>,
}

/// The name of CPython's own list of its stable ABI: `SYMBOL_NAMES` of the
/// interpreter's `test.test_stable_abi_ctypes` (3.11 and later), evaluated
/// by the interpreter itself.
pub const ABI_FROM_CPYTHON: &str = "test.test_stable_abi_ctypes";
/// Every `PyAPI_FUNC` / `PyAPI_DATA` the headers declare under some
/// `Py_LIMITED_API` value up to the interpreter's own.
pub const ABI_FROM_HEADERS: &str = "headers";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    pub name: String,
    /// Allowed with a `dealloc` context (decref, clear, free, untrack, type
    /// checks, plain accessors). Not stored: computed by
    /// [`crate::classify`] when the table is loaded, so a rule change needs
    /// no regeneration.
    #[serde(skip)]
    pub dealloc_safe: bool,
    /// Allowed without an attached thread state (raw memory, locks, GIL
    /// acquisition). Computed like `dealloc_safe`.
    #[serde(skip)]
    pub gil_free: bool,
    /// One record per distinct form; each lists the versions it holds for.
    pub forms: Vec<Form>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Declared with `PyAPI_FUNC`.
    Function,
    /// A public `static inline` function in the headers.
    Inline,
    /// A function-like macro.
    Macro,
}

/// What a function-like macro expands to; decides whether it has a ctx form.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum MacroShape {
    /// An expression touching the VM: ctx form `(check, expansion)`.
    Expr,
    /// A `do { ... } while (0)` statement: ctx form wraps it likewise.
    Stmt,
    /// Pure arithmetic / sizeof / casts on plain values: no ctx form needed.
    Utility,
    /// Declarations, initialisers, stringising: not a call, no ctx form.
    Syntax,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Param {
    pub name: String,
    /// C spelling of the type as written in the headers (functions and
    /// aliases of functions; empty for macro parameters).
    #[serde(rename = "type", default, skip_serializing_if = "String::is_empty")]
    pub ty: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Form {
    pub versions: Vec<String>,
    pub kind: Kind,
    /// Return type (functions, and macros aliasing a function; else empty).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ret: String,
    pub params: Vec<Param>,
    pub variadic: bool,
    /// Macros only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<MacroShape>,
    /// Header file (relative to the include dir) that declares it.
    pub header: String,
    /// Macros only: the same name is also declared as a function
    /// (`PyAPI_FUNC` or static inline) in this version; user code sees the
    /// macro.
    #[serde(default, skip_serializing_if = "is_false")]
    pub also_function: bool,
    /// Object-like macros that only rename a function or a function-like
    /// macro (`#define PyObject_Del PyObject_Free`): the name they expand to.
    /// Such a form has kind `macro` and carries its target's signature
    /// (`ret` and typed `params` when the target is a function).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias_of: Option<String>,
    /// Object-like macros that are not aliases but act on the VM
    /// (`PyDateTime_IMPORT`, `Py_BEGIN_ALLOW_THREADS`): used without
    /// parentheses, so they get no ctx form of the same spelling.
    #[serde(default, skip_serializing_if = "is_false")]
    pub object_like: bool,
    /// The public header a user must include for this name besides
    /// `Python.h` (`datetime.h`, `frameobject.h`, ...); absent when
    /// `Python.h` declares it. (`header` is where it is declared, maybe a
    /// `cpython/` header that must not be included directly.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub needs_include: Option<String>,
    /// The name itself is an exported function symbol (declared
    /// `PyAPI_FUNC` in these versions, with or without `Py_LIMITED_API`),
    /// even when user code sees a macro of the same name. False for static
    /// inline functions and macros.
    #[serde(default, skip_serializing_if = "is_false")]
    pub exported: bool,
    /// Under `PY_SSIZE_T_CLEAN`, an object-like macro renames this name to
    /// another (`PyArg_ParseTuple` -> `_PyArg_ParseTuple_SizeT`); absent when
    /// that mode changes nothing (then `alias_of` holds in both modes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clean_alias_of: Option<String>,
    /// Exported function symbols other than the name itself that a call
    /// `NAME(...)` references, in either `PY_SSIZE_T_CLEAN` mode: where the
    /// object-like alias chains end (`PyObject_Del` -> `PyObject_Free`,
    /// `Py_BuildValue` -> `_Py_BuildValue_SizeT`). Sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links_to: Vec<String>,
    /// The oldest `Py_LIMITED_API` value ("3.9" for `0x03090000`, ...) under
    /// which these versions' headers declare the name; absent when no value
    /// up to the interpreter's own version does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limited_since: Option<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Form {
    /// A form with no versions, parameters or optional facts yet.
    pub fn new(kind: Kind, header: &str) -> Form {
        Form {
            versions: Vec::new(),
            kind,
            ret: String::new(),
            params: Vec::new(),
            variadic: false,
            shape: None,
            header: header.to_string(),
            also_function: false,
            alias_of: None,
            object_like: false,
            needs_include: None,
            exported: false,
            clean_alias_of: None,
            links_to: Vec::new(),
            limited_since: None,
        }
    }

    /// Does this form get a ctx form (`NAME(ctx, ...)`)?
    pub fn has_ctx_form(&self) -> bool {
        match self.kind {
            Kind::Function | Kind::Inline => true,
            Kind::Macro => {
                !self.object_like && matches!(self.shape, Some(MacroShape::Expr | MacroShape::Stmt))
            }
        }
    }
}

impl Entry {
    /// The form in force for a minor version ("3.12"), if the name exists there.
    pub fn form_for(&self, version: &str) -> Option<&Form> {
        self.forms
            .iter()
            .find(|f| f.versions.iter().any(|v| v == version))
    }
}

impl Table {
    /// The checked-in table of the checkout this crate was built from:
    /// what build scripts compile in, `pyctx api generate` rewrites and the
    /// tests check. A running `pyctx` reads [`Table::installed_path`].
    pub fn default_path() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("table.json")
    }

    /// The table a running `pyctx` reads: found by
    /// [`crate::data::DataDir::locate`] (installed beside the binary, or
    /// the checkout).
    pub fn installed_path() -> anyhow::Result<PathBuf> {
        Ok(crate::data::DataDir::locate()?.table())
    }

    pub fn load(path: &Path) -> anyhow::Result<Table> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("{}: cannot read API table: {e}", path.display()))?;
        let table: Table = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: malformed API table: {e}", path.display()))?;
        if table.schema != SCHEMA_VERSION {
            anyhow::bail!(
                "{}: API table schema {} but this pyctx reads schema {}; run `pyctx api generate`",
                path.display(),
                table.schema,
                SCHEMA_VERSION
            );
        }
        let mut table = table;
        table.classify();
        Ok(table)
    }

    /// Fill every entry's capability classes from the rules in
    /// [`crate::classify`] (they are not stored in the file).
    pub fn classify(&mut self) {
        for e in &mut self.entries {
            let caps = crate::classify::classify(&e.name, &e.forms);
            e.dealloc_safe = caps.dealloc_safe;
            e.gil_free = caps.gil_free;
        }
    }

    /// Load the table a running `pyctx` reads ([`Table::installed_path`]).
    pub fn load_default() -> anyhow::Result<Table> {
        Self::load(&Self::installed_path()?)
    }

    /// Serialise in the canonical, diff-friendly layout used for the file.
    pub fn to_canonical_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("table serialises");
        s.push('\n');
        s
    }

    /// Entries that exist in a minor version, with their form there.
    pub fn for_version<'a>(
        &'a self,
        version: &'a str,
    ) -> impl Iterator<Item = (usize, &'a Entry, &'a Form)> + 'a {
        self.entries
            .iter()
            .enumerate()
            .filter_map(move |(i, e)| e.form_for(version).map(|f| (i, e, f)))
    }
}
