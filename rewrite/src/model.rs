//! The project model the phases share: each file with its syntax facts and
//! name uses ([`FileModel`], from [`crate::parse`]), the translation units
//! ([`crate::units::Units`]), and what resolution learned about the
//! project's functions and macros ([`crate::resolve`]).
//!
//! Later phases ([`crate::decide`], [`crate::edit`], [`crate::check`]) only
//! read the model: the engine may run them several times (a fallback found
//! by the check phase re-runs decide → edit → check) without re-parsing.

use crate::lex::MacroDef;
use crate::scan::{FileScan, Occ};
use crate::{ApiNames, Diagnostic, Severity, SourceFile};
use std::collections::{HashMap, HashSet};

/// Index of a file in the input (and in [`Model::files`]).
pub(crate) type FileId = usize;
/// A function definition: (file, index in that file's `scan.funcs`).
pub(crate) type DefId = (FileId, usize);
/// Index of a project function in [`Model::nodes`].
pub(crate) type NodeId = usize;

/// One input file, parsed.
pub(crate) struct FileModel<'a> {
    pub source: &'a SourceFile,
    pub scan: FileScan,
    /// Uses of API names, project functions and project macros.
    pub occs: Vec<Occ>,
    /// Occurrence indexes per function definition (`scan.funcs` order).
    pub by_func: Vec<Vec<usize>>,
}

impl FileModel<'_> {
    pub fn src(&self) -> &[u8] {
        self.source.text.as_bytes()
    }

    /// `path:line` of a byte offset (for reasons and messages).
    pub fn pos_str(&self, at: usize) -> String {
        let (l, _) = self.scan.lines.pos(at);
        format!("{}:{}", self.source.path.display(), l)
    }

    /// The text of a token range's identifier (`""` for other bytes).
    pub fn word(&self, start: usize, end: usize) -> &str {
        std::str::from_utf8(&self.src()[start..end]).unwrap_or("")
    }
}

/// Names the project defines.
#[derive(Default)]
pub(crate) struct Names {
    /// Every function defined in some file (name known).
    pub funcs: HashSet<String>,
    /// Every `#define` (live groups), by name: (file, index in the file's
    /// `scan.dir.macros`).
    pub macros: HashMap<String, Vec<(FileId, usize)>>,
}

/// A project function: every definition sharing one linkage (a static
/// function of one file, or all external definitions of one name).
pub(crate) struct FNode {
    pub name: String,
    /// The defining file, for a static function.
    pub static_file: Option<FileId>,
    pub defs: Vec<DefId>,
    /// Prototypes to update when it is threaded: (file, index in
    /// `scan.protos`).
    pub protos: Vec<(FileId, usize)>,
    /// Why it must keep its signature (resolution facts; the decide phase
    /// adds those that depend on options and fallbacks).
    pub entry: Vec<String>,
    /// Where its address is taken (file, offset): one `entry` each.
    pub addr_sites: Vec<(FileId, usize)>,
    /// Direct calls from code the engine rewrites.
    pub calls: usize,
    /// A definition already takes `PyCtx` first (threaded by an earlier
    /// run).
    pub already: bool,
}

/// Resolution facts of one file.
#[derive(Default)]
pub(crate) struct FileFacts {
    /// The project function each definition belongs to (`None`: no name).
    pub node_of: Vec<Option<NodeId>>,
    /// Call occurrence index → the one project function it calls.
    pub call_target: HashMap<usize, NodeId>,
    /// Per definition: functions it calls passing its own context.
    pub callees: Vec<Vec<NodeId>>,
}

/// An API call inside a macro body.
pub(crate) struct BodyCall {
    pub name: String,
    pub open: usize,
    pub empty: bool,
    pub done: bool,
}

/// One `#define` whose body matters to the engine.
pub(crate) struct MacroInfo {
    pub file: FileId,
    /// Index in the file's `scan.dir.macros`.
    pub index: usize,
    pub calls: Vec<BodyCall>,
    /// API names used without a call.
    pub aliases: Vec<String>,
    /// Identifiers of the body (the context name excluded where it is the
    /// first argument of an API call).
    pub idents: HashSet<String>,
    pub refs_macros: Vec<String>,
    pub unsafe_reason: Option<String>,
}

/// Every definition of one macro name, and its expansion sites.
#[derive(Default)]
pub(crate) struct MacroGroup {
    /// Indexes in [`Macros::infos`].
    pub defs: Vec<usize>,
    pub calls_api: bool,
    /// A body already passes the context.
    pub has_done: bool,
    /// (file, occurrence index)
    pub sites: Vec<(FileId, usize)>,
    /// Macros whose body names this one.
    pub in_macros: Vec<String>,
}

#[derive(Default)]
pub(crate) struct Macros {
    pub infos: Vec<MacroInfo>,
    pub groups: HashMap<String, MacroGroup>,
    /// Group names in first-definition order (deterministic reports).
    pub order: Vec<String>,
}

/// Everything the phases after resolution read.
pub(crate) struct Model<'a> {
    pub files: Vec<FileModel<'a>>,
    pub names: Names,
    pub units: crate::units::Units,
    pub api: &'a ApiNames,
    /// Object-like project macros that only rename an API name.
    pub alias_macros: HashSet<String>,
    pub nodes: Vec<FNode>,
    pub nodes_by_name: HashMap<String, Vec<NodeId>>,
    pub facts: Vec<FileFacts>,
    pub macros: Macros,
    /// Per file: the extra public headers it sees, and from where
    /// ([`crate::extra::seen`]).
    pub extra_seen: Vec<crate::extra::Seen>,
}

impl Model<'_> {
    /// An API name nobody in the project redefines.
    pub fn plain_api(&self, n: &str) -> bool {
        self.api.contains(n) && !self.names.funcs.contains(n) && !self.names.macros.contains_key(n)
    }

    /// A name whose calls take the context like an API call, wherever it
    /// is used: not one that needs an extra public header (`datetime.h`,
    /// ...; see [`Model::is_api_in`]).
    pub fn is_api(&self, n: &str) -> bool {
        (self.plain_api(n) && self.api.needs(n).is_none()) || self.alias_macros.contains(n)
    }

    /// A name whose calls in file `fi` take the context: [`Model::is_api`],
    /// or an API name of an extra public header that `fi` sees.
    pub fn is_api_in(&self, fi: FileId, n: &str) -> bool {
        self.is_api(n) || (self.plain_api(n) && self.extra_anchor(fi, n).is_some())
    }

    /// For an API name of extra public headers that file `fi` sees: the
    /// offset after which its `#include "pyctx.h"` must come (0: anywhere).
    /// `None`: a name `Python.h` declares, or headers `fi` does not see.
    pub fn extra_anchor(&self, fi: FileId, n: &str) -> Option<usize> {
        let seen = &self.extra_seen[fi];
        self.api
            .needs(n)?
            .iter()
            .map(|h| seen.get(h).copied())
            .try_fold(0, |a, b| Some(a.max(b?)))
    }

    /// The name at this occurrence is declared locally (a parameter, a
    /// local, a file-scope variable): not the global function.
    pub fn shadowed(&self, fi: FileId, o: &Occ) -> bool {
        let s = &self.files[fi].scan;
        o.func
            .map(|f| s.funcs[f].declared.contains(self.files[fi].src(), &o.name))
            .unwrap_or(false)
            || s.file_vars.contains(&o.name)
    }

    pub fn macro_def(&self, info: &MacroInfo) -> &MacroDef {
        &self.files[info.file].scan.dir.macros[info.index]
    }

    pub fn pos_str(&self, fi: FileId, at: usize) -> String {
        self.files[fi].pos_str(at)
    }

    pub fn diag(
        &self,
        fi: FileId,
        at: usize,
        severity: Severity,
        code: &str,
        message: String,
    ) -> Diag {
        let f = &self.files[fi];
        let (line, column) = f.scan.lines.pos(at);
        (
            fi,
            Diagnostic {
                file: f.source.path.clone(),
                line,
                column,
                severity,
                code: code.into(),
                message,
            },
        )
    }
}

/// A diagnostic and the index of its file (reports sort by input order).
pub(crate) type Diag = (FileId, Diagnostic);
