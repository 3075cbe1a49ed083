//! Data model of the API table (the schema of `api/table.json`).

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Schema version written into the table; bump when the layout changes.
pub const SCHEMA_VERSION: u32 = 1;

/// CPython minor versions the project supports, oldest first.
pub const SUPPORTED_VERSIONS: &[&str] = &["3.9", "3.10", "3.11", "3.12", "3.13"];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Table {
    pub schema: u32,
    /// Minor version -> exact interpreter version the headers came from.
    pub generated_from: std::collections::BTreeMap<String, String>,
    /// Sorted by name; an entry's index is its stable id within one table.
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    pub name: String,
    /// Allowed with a `dealloc` context (decref, clear, free, untrack, type
    /// checks, plain accessors).
    pub dealloc_safe: bool,
    /// Allowed without an attached thread state (raw memory, locks, GIL
    /// acquisition).
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
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Form {
    /// Does this form get a ctx form (`NAME(ctx, ...)`)?
    pub fn has_ctx_form(&self) -> bool {
        match self.kind {
            Kind::Function | Kind::Inline => true,
            Kind::Macro => matches!(self.shape, Some(MacroShape::Expr | MacroShape::Stmt)),
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
    /// Path of the checked-in table.
    pub fn default_path() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("table.json")
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
        Ok(table)
    }

    pub fn load_default() -> anyhow::Result<Table> {
        Self::load(&Self::default_path())
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
