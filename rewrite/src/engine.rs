//! The migration itself: project-wide resolution, the call graph and its
//! fixed point, the macro policy, and the edits.

// Files, scans, occurrences and states are parallel arrays indexed by file.
#![allow(clippy::needless_range_loop)]

use crate::lex::{MacroDef, Tok};
use crate::scan::{self, CallInfo, CtxOrigin, FileScan, FirstArg, FuncDef, Occ, OccKind};
use crate::{
    is_header_path, ApiNames, Bridge, Diagnostic, FileOutcome, FunctionReport, LegacyCall,
    MacroReport, MacroStatus, Options, Outcome, Severity, SourceFile, Status, Totals,
};
use rayon::prelude::*;
use std::collections::{HashMap, HashSet};
use std::path::{Component, Path, PathBuf};

/// A text edit: delete `del` bytes at `at`, insert `text` (handed to the
/// front end in [`FileOutcome::text_edits`]).
type Edit = crate::TextEdit;

type DefId = (usize, usize);

/// A project function: every definition sharing one linkage (a static
/// function of one file, or all external definitions of one name).
struct FNode {
    name: String,
    static_file: Option<usize>,
    defs: Vec<DefId>,
    protos: Vec<(usize, usize)>,
    /// Why it must keep its signature.
    entry: Vec<String>,
    /// Where its address is taken (file, offset): one `entry` each.
    addr_sites: Vec<(usize, usize)>,
    calls: usize,
    threaded: bool,
    already: bool,
}

/// An API call inside a macro body.
struct BodyCall {
    name: String,
    open: usize,
    empty: bool,
    done: bool,
}

struct MacroInfo<'a> {
    file: usize,
    def: &'a MacroDef,
    calls: Vec<BodyCall>,
    aliases: Vec<String>,
    /// Identifiers of the body (the context name excluded where it is the
    /// first argument of an API call).
    idents: HashSet<String>,
    refs_macros: Vec<String>,
    unsafe_reason: Option<String>,
}

#[derive(Default)]
struct MacroGroup {
    defs: Vec<usize>,
    calls_api: bool,
    has_done: bool,
    /// (file, occurrence index)
    sites: Vec<(usize, usize)>,
    in_macros: Vec<String>,
    rewritable: bool,
    legacy_reason: Option<String>,
}

#[derive(Default, Clone)]
struct DefState {
    selected: bool,
    migratable: bool,
    node: Option<usize>,
    var: Option<String>,
    renamed: bool,
    direct_need: bool,
    needs: bool,
    callees: Vec<usize>,
}

fn is_c_identifier(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

fn normalize(p: &Path) -> PathBuf {
    let mut out: Vec<Component> = Vec::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.last(), Some(Component::Normal(_))) => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out.iter().collect()
}

/// Files an `#include "inc"` in `from` may mean: the one next to `from` if
/// given, else every given file whose path ends with `inc`.
fn resolve_include(files: &[SourceFile], norm: &[PathBuf], from: usize, inc: &str) -> Vec<usize> {
    let inc_path = normalize(Path::new(inc));
    if let Some(dir) = files[from].path.parent() {
        let sibling = normalize(&dir.join(&inc_path));
        if let Some(j) = norm.iter().position(|p| *p == sibling) {
            return vec![j];
        }
    }
    norm.iter()
        .enumerate()
        .filter(|(j, p)| *j != from && p.ends_with(&inc_path))
        .map(|(j, _)| j)
        .collect()
}

fn pos_str(files: &[SourceFile], scans: &[FileScan], f: usize, at: usize) -> String {
    let (l, _) = scans[f].lines.pos(at);
    format!("{}:{}", files[f].path.display(), l)
}

/// Does this call need the function's own context (it passes none, a
/// bridge, or the function's existing context variable)? Calls that pass
/// another context (`PyCtx_AsDealloc(...)`, a second `PyCtx` local) do not.
fn uses_own_ctx(f: &FuncDef, c: &CallInfo) -> bool {
    match &c.first {
        FirstArg::PyCtxCall => false,
        FirstArg::Ident(v) if f.pyctx_vars.contains(v) => f
            .existing_ctx
            .as_ref()
            .map(|(e, _)| e == v)
            .unwrap_or(false),
        _ => true,
    }
}

fn call_text(var: &str, c: &CallInfo) -> String {
    if c.empty {
        var.to_string()
    } else if c.newline_after_open {
        format!("{var},")
    } else {
        format!("{var}, ")
    }
}

fn param_edit(p: &scan::ParamList, var: &str) -> Edit {
    match &p.shape {
        scan::ParamShape::Empty => Edit {
            at: p.open + 1,
            del: 0,
            text: format!("PyCtx {var}"),
        },
        scan::ParamShape::Void(r) => Edit {
            at: r.start,
            del: r.end - r.start,
            text: format!("PyCtx {var}"),
        },
        scan::ParamShape::List { newline_after_open } => Edit {
            at: p.open + 1,
            del: 0,
            text: if *newline_after_open {
                format!("PyCtx {var},")
            } else {
                format!("PyCtx {var}, ")
            },
        },
    }
}

/// End of the line holding `i`: the offset of its `\r\n` / `\n`, or the
/// end of the file.
fn line_end(src: &[u8], mut i: usize) -> usize {
    while i < src.len() && src[i] != b'\n' {
        i += 1;
    }
    if i > 0 && i < src.len() && src[i - 1] == b'\r' {
        i - 1
    } else {
        i
    }
}

fn indent_of_line(src: &[u8], start: usize) -> &[u8] {
    let mut i = start;
    while i < src.len() && (src[i] == b' ' || src[i] == b'\t') {
        i += 1;
    }
    &src[start..i]
}

/// `PyCtx V = PyCtx_Get();` as the first line of the body.
fn prologue_edit(src: &[u8], f: &FuncDef, var: &str, eol: &str, void_cast: bool) -> Edit {
    let decl = if void_cast {
        // Every use is conditional: quiet -Wunused-variable where none is
        // compiled.
        format!("PyCtx {var} = PyCtx_Get(); (void){var};")
    } else {
        format!("PyCtx {var} = PyCtx_Get();")
    };
    let open = f.body_open;
    let mut j = open + 1;
    while j < src.len() && (src[j] == b' ' || src[j] == b'\t') {
        j += 1;
    }
    let rest_is_comment_only = || -> bool {
        if src[j..].starts_with(b"//") {
            return true;
        }
        if src[j..].starts_with(b"/*") {
            let le = line_end(src, j);
            if let Some(k) = src[j + 2..le].windows(2).position(|w| w == b"*/") {
                let after = j + 2 + k + 2;
                return src[after..le].iter().all(|c| *c == b' ' || *c == b'\t');
            }
        }
        false
    };
    let at_newline = j >= src.len() || src[j] == b'\n' || src[j] == b'\r';
    if at_newline || rest_is_comment_only() {
        let at = line_end(src, j);
        // Indentation: the first non-blank, non-directive line of the body.
        let mut indent: Option<Vec<u8>> = None;
        let mut ls = (at + 1).min(src.len());
        if src.get(at) == Some(&b'\r') {
            ls = (at + 2).min(src.len());
        }
        while ls <= f.body_close {
            let le = line_end(src, ls);
            let ind = indent_of_line(src, ls);
            let first = ls + ind.len();
            if first >= f.body_close {
                // Only the closing brace: indent one level past it.
                let mut v = ind.to_vec();
                v.extend_from_slice(b"    ");
                indent = Some(v);
                break;
            }
            if first < le && src[first] != b'#' {
                indent = Some(ind.to_vec());
                break;
            }
            if le >= src.len() {
                break;
            }
            ls = if src[le] == b'\r' { le + 2 } else { le + 1 };
        }
        let indent = indent.unwrap_or_else(|| b"    ".to_vec());
        Edit {
            at,
            del: 0,
            text: format!("{eol}{}{decl}", String::from_utf8_lossy(&indent)),
        }
    } else {
        Edit {
            at: open + 1,
            del: 0,
            text: format!(" {decl}"),
        }
    }
}

fn include_edit(src: &[u8], fs: &FileScan) -> Edit {
    let eol = fs.eol;
    let line = "#include \"pyctx.h\"";
    let incs = &fs.dir.includes;
    let py = incs.iter().find(|i| i.path == "Python.h");
    let top = incs.iter().rfind(|i| i.hash_tok < fs.dir.first_code_tok);
    if let Some(i) = py.or(top) {
        return Edit {
            at: i.line_end,
            del: 0,
            text: format!("{eol}{line}"),
        };
    }
    if let Some(g) = fs.dir.guard_define_end {
        return Edit {
            at: g,
            del: 0,
            text: format!("{eol}{line}"),
        };
    }
    let at = fs
        .toks
        .get(fs.dir.first_code_tok)
        .map(|t| crate::lex::line_start_of(src, t.start))
        .unwrap_or(0);
    Edit {
        at,
        del: 0,
        text: format!("{line}{eol}"),
    }
}

/// `edits` sorted by offset.
fn apply(src: &str, edits: &[Edit]) -> Result<String, String> {
    let mut out = String::with_capacity(src.len() + edits.len() * 8);
    let mut pos = 0;
    for e in edits {
        if e.at < pos || !src.is_char_boundary(e.at) || !src.is_char_boundary(e.at + e.del) {
            return Err(format!(
                "internal error: overlapping edits at byte {}",
                e.at
            ));
        }
        out.push_str(&src[pos..e.at]);
        out.push_str(&e.text);
        pos = e.at + e.del;
    }
    out.push_str(&src[pos..]);
    Ok(out)
}

/// Is the function name at `at` stored as a deallocator: `.tp_dealloc =
/// NAME`, `x->tp_dealloc = NAME`, `{Py_tp_dealloc, NAME}` (a cast
/// `(destructor)` allowed), or a positional initialiser followed by a
/// `/* tp_dealloc */` comment?
fn used_as_dealloc(src: &[u8], toks: &[crate::lex::Token], at: usize) -> bool {
    let Ok(k) = toks.binary_search_by_key(&at, |t| t.start) else {
        return false;
    };
    // The code tokens before the name, nearest first.
    let before: Vec<usize> = (0..k)
        .rev()
        .filter(|&j| !matches!(toks[j].kind, Tok::Comment | Tok::Newline))
        .take(5)
        .collect();
    let word = |j: usize| &src[toks[j].start..toks[j].end];
    let mut b = 0;
    // A cast: `( destructor )`.
    if before.len() >= 3
        && toks[before[0]].kind == Tok::Punct(b')')
        && toks[before[1]].kind == Tok::Ident
        && toks[before[2]].kind == Tok::Punct(b'(')
    {
        b = 3;
    }
    if before.len() >= b + 2 {
        let p = before[b];
        let q = before[b + 1];
        if toks[p].kind == Tok::Punct(b'=') && word(q) == b"tp_dealloc" {
            return true;
        }
        if toks[p].kind == Tok::Punct(b',') && word(q) == b"Py_tp_dealloc" {
            return true;
        }
    }
    // Positional: `NAME, /* tp_dealloc */`.
    toks[k + 1..]
        .iter()
        .take_while(|t| matches!(t.kind, Tok::Comment | Tok::Punct(b',')))
        .any(|t| {
            t.kind == Tok::Comment && src[t.start..t.end].windows(10).any(|w| w == b"tp_dealloc")
        })
}

/// API functions that change the calling thread's current thread state.
const THREAD_STATE_SWITCHES: &[&str] = &[
    "PyGILState_Ensure",
    "PyGILState_Release",
    "PyThreadState_Swap",
    "PyEval_AcquireThread",
    "PyEval_ReleaseThread",
    "PyEval_RestoreThread",
    "PyEval_SaveThread",
    "PyEval_AcquireLock",
    "PyEval_ReleaseLock",
    "Py_NewInterpreter",
    "Py_NewInterpreterFromConfig",
    "Py_EndInterpreter",
];

/// Migrate a project: see the crate documentation for the contract and
/// `docs/migration-policy.md` for the rules.
pub fn migrate(files: &[SourceFile], api: &ApiNames, opts: &Options) -> Outcome {
    let mut diags: Vec<(usize, Diagnostic)> = Vec::new();
    if !is_c_identifier(&opts.ctx_name) {
        let d = Diagnostic {
            file: PathBuf::new(),
            line: 0,
            column: 0,
            severity: Severity::Error,
            code: "options".into(),
            message: format!("context name `{}` is not a C identifier", opts.ctx_name),
        };
        return Outcome {
            files: files
                .iter()
                .map(|f| FileOutcome::unchanged(f.path.clone()))
                .collect(),
            functions: vec![],
            macros: vec![],
            diagnostics: vec![d],
            totals: Totals::default(),
        };
    }
    let ctx_name = opts.ctx_name.as_str();
    let lexed: Vec<scan::Lexed> = files
        .par_iter()
        .map(|f| scan::lex_file(f.text.as_bytes()))
        .collect();
    let model = crate::macros::learn(files, &lexed);
    let scans: Vec<FileScan> = files
        .par_iter()
        .zip(lexed)
        .enumerate()
        .map(|(i, (f, l))| scan::scan_file(f.text.as_bytes(), l, model.for_file(i).roles()))
        .collect();
    let nf = files.len();
    let srcs: Vec<&[u8]> = files.iter().map(|f| f.text.as_bytes()).collect();
    let norm: Vec<PathBuf> = files.iter().map(|f| normalize(&f.path)).collect();

    let mut diag = |f: usize, at: usize, severity: Severity, code: &str, message: String| {
        let (line, column) = scans[f].lines.pos(at);
        diags.push((
            f,
            Diagnostic {
                file: files[f].path.clone(),
                line,
                column,
                severity,
                code: code.into(),
                message,
            },
        ));
    };

    // ---- project names -------------------------------------------------
    let mut func_names: HashSet<String> = HashSet::new();
    for s in &scans {
        for f in &s.funcs {
            if f.name != "?" {
                func_names.insert(f.name.clone());
            }
        }
    }
    let mut macro_list: Vec<(usize, &MacroDef)> = Vec::new();
    for (fi, s) in scans.iter().enumerate() {
        for m in &s.dir.macros {
            macro_list.push((fi, m));
        }
    }
    let mut macro_names: HashMap<String, Vec<usize>> = HashMap::new();
    for (mi, (_, m)) in macro_list.iter().enumerate() {
        macro_names.entry(m.name.clone()).or_default().push(mi);
    }
    let plain_api =
        |n: &str| api.contains(n) && !func_names.contains(n) && !macro_names.contains_key(n);
    // Object-like project macros that only rename an API name (or another
    // such macro): `#define PyInt_FromSsize_t PyLong_FromSsize_t`. A call
    // through them takes the context like the API name itself:
    // `PyInt_FromSsize_t(ctx, n)` expands to `PyLong_FromSsize_t(ctx, n)`.
    let alias_macros: HashSet<String> = {
        let mut target: HashMap<&str, Option<String>> = HashMap::new();
        for &(fi, m) in &macro_list {
            let src = srcs[fi];
            let body: Vec<&crate::lex::Token> = scans[fi].toks[m.body.clone()]
                .iter()
                .filter(|t| t.kind != Tok::Comment)
                .collect();
            let one = (m.params.is_none() && body.len() == 1 && body[0].kind == Tok::Ident)
                .then(|| String::from_utf8_lossy(&src[body[0].start..body[0].end]).into_owned());
            let e = target.entry(m.name.as_str()).or_insert(one.clone());
            if *e != one {
                *e = None; // definitions disagree
            }
        }
        let mut out: HashSet<String> = HashSet::new();
        loop {
            let before = out.len();
            for (name, t) in &target {
                if let Some(t) = t {
                    if !api.contains(name) && (plain_api(t) || out.contains(t)) {
                        out.insert(name.to_string());
                    }
                }
            }
            if out.len() == before {
                break;
            }
        }
        out
    };
    let is_api = |n: &str| plain_api(n) || alias_macros.contains(n);
    // Project definitions that take an API name.
    for (fi, s) in scans.iter().enumerate() {
        for f in &s.funcs {
            if api.contains(&f.name) {
                diag(
                    fi,
                    f.name_at,
                    Severity::Note,
                    "api-name",
                    format!(
                        "the project defines `{}`, a C API name: its uses are left as written",
                        f.name
                    ),
                );
            }
        }
        for m in &s.dir.macros {
            if api.contains(&m.name) {
                diag(
                    fi,
                    m.name_at,
                    Severity::Note,
                    "api-name",
                    format!(
                        "the project defines macro `{}`, a C API name: its uses are left as written",
                        m.name
                    ),
                );
            }
        }
    }

    // ---- phase 2: uses of interesting names ------------------------------
    let interesting =
        |n: &str| api.contains(n) || func_names.contains(n) || macro_names.contains_key(n);
    let occs: Vec<Vec<Occ>> = (0..nf)
        .into_par_iter()
        .map(|i| scan::collect_occurrences(srcs[i], &scans[i], &interesting))
        .collect();

    // ---- include graph ---------------------------------------------------
    let mut includes: Vec<Vec<usize>> = vec![Vec::new(); nf];
    for (fi, s) in scans.iter().enumerate() {
        for inc in &s.dir.includes {
            includes[fi].extend(resolve_include(files, &norm, fi, &inc.path));
        }
    }
    let mut visible: Vec<Vec<usize>> = Vec::with_capacity(nf);
    for fi in 0..nf {
        let mut seen = vec![false; nf];
        let mut stack = vec![fi];
        seen[fi] = true;
        let mut out = Vec::new();
        while let Some(x) = stack.pop() {
            for &y in &includes[x] {
                if !seen[y] {
                    seen[y] = true;
                    out.push(y);
                    stack.push(y);
                }
            }
        }
        out.sort_unstable();
        visible.push(out);
    }
    let mut includers: Vec<Vec<usize>> = vec![Vec::new(); nf];
    for (fi, vis) in visible.iter().enumerate() {
        for &g in vis {
            includers[g].push(fi);
        }
    }

    // ---- function nodes --------------------------------------------------
    let mut nodes: Vec<FNode> = Vec::new();
    let mut node_idx: HashMap<(Option<usize>, String), usize> = HashMap::new();
    let mut nodes_by_name: HashMap<String, Vec<usize>> = HashMap::new();
    let mut states: Vec<Vec<DefState>> = scans
        .iter()
        .map(|s| vec![DefState::default(); s.funcs.len()])
        .collect();
    for (fi, s) in scans.iter().enumerate() {
        for (di, f) in s.funcs.iter().enumerate() {
            if f.name == "?" {
                continue;
            }
            let is_static = f.is_static || s.static_names.contains(&f.name);
            let key = (is_static.then_some(fi), f.name.clone());
            let id = *node_idx.entry(key).or_insert_with(|| {
                nodes.push(FNode {
                    name: f.name.clone(),
                    static_file: is_static.then_some(fi),
                    defs: Vec::new(),
                    protos: Vec::new(),
                    entry: Vec::new(),
                    addr_sites: Vec::new(),
                    calls: 0,
                    threaded: false,
                    already: false,
                });
                nodes_by_name
                    .entry(f.name.clone())
                    .or_default()
                    .push(nodes.len() - 1);
                nodes.len() - 1
            });
            nodes[id].defs.push((fi, di));
            states[fi][di].node = Some(id);
        }
    }
    let resolve = |fi: usize, name: &str| -> Vec<usize> {
        if let Some(&id) = node_idx.get(&(Some(fi), name.to_string())) {
            return vec![id];
        }
        let mut c: Vec<usize> = Vec::new();
        if let Some(&id) = node_idx.get(&(None, name.to_string())) {
            c.push(id);
        }
        for &g in &visible[fi] {
            if let Some(&id) = node_idx.get(&(Some(g), name.to_string())) {
                c.push(id);
            }
        }
        if c.is_empty() && is_header_path(&files[fi].path) {
            for &g in &includers[fi] {
                if let Some(&id) = node_idx.get(&(Some(g), name.to_string())) {
                    c.push(id);
                }
            }
        }
        c.sort_unstable();
        c.dedup();
        c
    };

    // Selection and refusals.
    // Functions that switch the thread state keep their legacy calls: a
    // context fetched at entry would be stale (or detached) after the
    // switch. Each legacy call reads the current thread state afresh.
    let mut switches: Vec<Vec<Option<(String, usize)>>> =
        scans.iter().map(|s| vec![None; s.funcs.len()]).collect();
    for fi in 0..nf {
        for o in &occs[fi] {
            if let (Some(f), OccKind::Call(_)) = (o.func, &o.kind) {
                if THREAD_STATE_SWITCHES.contains(&o.name.as_str())
                    && !scans[fi].funcs[f].declared.contains(&o.name)
                    && switches[fi][f].is_none()
                {
                    switches[fi][f] = Some((o.name.clone(), o.at));
                }
            }
        }
    }
    for (fi, s) in scans.iter().enumerate() {
        for (di, f) in s.funcs.iter().enumerate() {
            let st = &mut states[fi][di];
            st.selected = opts.selects(&files[fi].path, &f.name) && switches[fi][di].is_none();
            st.migratable = st.selected && f.refused.is_none() && st.node.is_some();
        }
    }

    // Prototypes.
    for (fi, s) in scans.iter().enumerate() {
        for (pi, p) in s.protos.iter().enumerate() {
            if !func_names.contains(&p.name) {
                continue;
            }
            let t = resolve(fi, &p.name);
            let here = pos_str(files, &scans, fi, p.name_at);
            if let Some(inf) = p.in_func {
                for id in t {
                    nodes[id].entry.push(format!(
                        "declared inside function `{}` ({here})",
                        s.funcs[inf].name
                    ));
                }
            } else if p.in_error {
                for id in t {
                    nodes[id].entry.push(format!(
                        "declared in code tree-sitter cannot parse ({here})"
                    ));
                }
            } else if p.opaque {
                for id in t {
                    nodes[id].entry.push(format!(
                        "declared in a form the engine does not rewrite ({here})"
                    ));
                }
            } else if t.len() > 1 {
                for id in t {
                    nodes[id]
                        .entry
                        .push(format!("prototype at {here} may declare several functions"));
                }
            } else if let Some(&id) = t.first() {
                if p.positional_attr {
                    nodes[id].entry.push(format!(
                        "an attribute refers to its parameters by position ({here})"
                    ));
                }
                nodes[id].protos.push((fi, pi));
            }
        }
    }

    // Uses of project functions.
    let shadowed = |fi: usize, o: &Occ| -> bool {
        o.func
            .map(|f| scans[fi].funcs[f].declared.contains(&o.name))
            .unwrap_or(false)
            || scans[fi].file_vars.contains(&o.name)
    };
    // (file, occurrence) → resolved threaded-candidate node, for calls.
    let mut call_target: Vec<HashMap<usize, usize>> = vec![HashMap::new(); nf];
    for fi in 0..nf {
        for (oi, o) in occs[fi].iter().enumerate() {
            if !func_names.contains(&o.name) || shadowed(fi, o) {
                continue;
            }
            if matches!(o.kind, OccKind::VarDecl) && !o.in_error {
                continue;
            }
            let t = resolve(fi, &o.name);
            if t.is_empty() {
                continue;
            }
            let here = pos_str(files, &scans, fi, o.at);
            if o.in_error && !matches!(o.kind, OccKind::Call(_)) {
                for id in t {
                    nodes[id].entry.push(format!(
                        "`{}` at {here} is in code tree-sitter cannot parse",
                        o.name
                    ));
                }
                continue;
            }
            if t.len() > 1 {
                for id in t {
                    nodes[id].entry.push(format!(
                        "`{}` at {here} may refer to several definitions",
                        o.name
                    ));
                }
                continue;
            }
            let id = t[0];
            match &o.kind {
                OccKind::Call(_) => {
                    let caller = o.func.map(|f| &scans[fi].funcs[f]);
                    if o.in_error {
                        nodes[id].entry.push(format!(
                            "called from code tree-sitter cannot parse ({here})"
                        ));
                    } else if let Some(reason) = caller.and_then(|c| c.refused.as_ref()) {
                        nodes[id].entry.push(format!(
                            "called from `{}` ({here}), which is refused: {reason}",
                            caller.unwrap().name
                        ));
                    } else {
                        nodes[id].calls += 1;
                        call_target[fi].insert(oi, id);
                        if let (Some(f), OccKind::Call(c)) = (o.func, &o.kind) {
                            if uses_own_ctx(&scans[fi].funcs[f], c) {
                                states[fi][f].callees.push(id);
                            }
                        }
                    }
                }
                OccKind::Other => {
                    nodes[id].addr_sites.push((fi, o.at));
                    if o.func.is_some() {
                        nodes[id].entry.push(format!("address taken at {here}"));
                    } else {
                        nodes[id]
                            .entry
                            .push(format!("address taken at {here} (file scope)"));
                    }
                }
                OccKind::VarDecl => {}
            }
        }
    }

    // Safety net: every spelling of a project function's name in code must
    // be one the engine has classified (definition, prototype, call, other
    // use). Anything else (a name tree-sitter folded into an odd node) makes
    // the function keep its signature.
    for fi in 0..nf {
        let s = &scans[fi];
        let mut known: HashSet<usize> = s.funcs.iter().map(|f| f.name_at).collect();
        known.extend(s.protos.iter().map(|p| p.name_at));
        known.extend(occs[fi].iter().map(|o| o.at));
        // Names in runtime trampoline lines (`PYCTX__TRAMPOLINE(..., impl,
        // ...)`): blanked for the parser; the implementation they call
        // keeps its signature (it already takes `PyCtx` first).
        for r in &s.trampolines {
            for t in &s.toks[r.clone()] {
                let name = std::str::from_utf8(&srcs[fi][t.start..t.end]).unwrap_or("");
                if t.kind != Tok::Ident || !func_names.contains(name) {
                    continue;
                }
                known.insert(t.start);
                let here = pos_str(files, &scans, fi, t.start);
                for id in resolve(fi, name) {
                    nodes[id]
                        .entry
                        .push(format!("named in a trampoline line ({here})"));
                }
            }
        }
        let mut in_directive = vec![false; s.toks.len()];
        for r in &s.dir.directive_lines {
            for k in r.clone() {
                in_directive[k] = true;
            }
        }
        let mut d = 0;
        for (k, t) in s.toks.iter().enumerate() {
            if t.kind != Tok::Ident || in_directive[k] {
                continue;
            }
            while d < s.dir.dead.len() && s.dir.dead[d].end <= t.start {
                d += 1;
            }
            if d < s.dir.dead.len() && s.dir.dead[d].start <= t.start {
                continue;
            }
            let name = std::str::from_utf8(&srcs[fi][t.start..t.end]).unwrap_or("");
            if !func_names.contains(name) || known.contains(&t.start) {
                continue;
            }
            let here = pos_str(files, &scans, fi, t.start);
            for id in resolve(fi, name) {
                nodes[id].entry.push(format!(
                    "`{name}` at {here} is used in a way the engine cannot follow"
                ));
            }
        }
    }

    // ---- macros ----------------------------------------------------------
    let mut minfos: Vec<MacroInfo> = Vec::with_capacity(macro_list.len());
    for &(fi, m) in &macro_list {
        let src = srcs[fi];
        let toks = &scans[fi].toks;
        let bt: Vec<&crate::lex::Token> = toks[m.body.clone()]
            .iter()
            .filter(|t| t.kind != Tok::Comment)
            .collect();
        let word = |k: usize| -> &str {
            bt.get(k)
                .filter(|t| t.kind == Tok::Ident)
                .map(|t| std::str::from_utf8(&src[t.start..t.end]).unwrap_or(""))
                .unwrap_or("")
        };
        let punct = |k: usize, c: u8| bt.get(k).map(|t| t.kind == Tok::Punct(c)).unwrap_or(false);
        let params: HashSet<&str> = m.params.iter().flatten().map(|s| s.as_str()).collect();
        let mut info = MacroInfo {
            file: fi,
            def: m,
            calls: Vec::new(),
            aliases: Vec::new(),
            idents: HashSet::new(),
            refs_macros: Vec::new(),
            unsafe_reason: None,
        };
        if params.contains(ctx_name) {
            info.unsafe_reason = Some(format!("a parameter is named `{ctx_name}`"));
        }
        // Token indexes of a `ctx` that is the first argument of an API call.
        let mut ctx_first: HashSet<usize> = HashSet::new();
        for k in 0..bt.len() {
            let w = word(k);
            if w.is_empty() || params.contains(w) {
                continue;
            }
            if is_api(w) {
                let after_member = k > 0
                    && (punct(k - 1, b'.') || (punct(k - 1, b'>') && k > 1 && punct(k - 2, b'-')));
                if after_member {
                    continue;
                }
                if (k > 0 && punct(k - 1, b'#')) || punct(k + 1, b'#') {
                    info.unsafe_reason = Some(format!("`{w}` is next to `#` or `##` in its body"));
                }
                if punct(k + 1, b'(') {
                    let empty = punct(k + 2, b')');
                    let first = word(k + 2);
                    let done_ctx = first == ctx_name && (punct(k + 3, b',') || punct(k + 3, b')'));
                    let done_get = first.starts_with("PyCtx_") && punct(k + 3, b'(');
                    if done_ctx {
                        ctx_first.insert(k + 2);
                    }
                    info.calls.push(BodyCall {
                        name: w.to_string(),
                        open: bt[k + 1].start,
                        empty,
                        done: done_ctx || done_get,
                    });
                } else {
                    info.aliases.push(w.to_string());
                }
            }
        }
        for k in 0..bt.len() {
            let w = word(k);
            if w.is_empty() || ctx_first.contains(&k) || params.contains(w) {
                continue;
            }
            info.idents.insert(w.to_string());
            if w != m.name && macro_names.contains_key(w) {
                info.refs_macros.push(w.to_string());
            }
            if func_names.contains(w) {
                let here = pos_str(files, &scans, fi, m.name_at);
                for &id in nodes_by_name.get(w).into_iter().flatten() {
                    nodes[id]
                        .entry
                        .push(format!("used in the body of macro `{}` ({here})", m.name));
                }
            }
        }
        // Token pasting (`decode_##type`) can name any function that starts
        // (or ends) with the pasted literal part.
        for k in 0..bt.len() {
            if !(punct(k, b'#') && punct(k + 1, b'#')) {
                continue;
            }
            let before = if k > 0 { word(k - 1) } else { "" };
            let after = word(k + 2);
            let here = pos_str(files, &scans, fi, m.name_at);
            for (id, node) in nodes.iter_mut().enumerate() {
                let _ = id;
                let hit = (!before.is_empty()
                    && !params.contains(before)
                    && node.name.starts_with(before))
                    || (!after.is_empty() && !params.contains(after) && node.name.ends_with(after));
                if hit {
                    node.entry.push(format!(
                        "may be named by token pasting in macro `{}` ({here})",
                        m.name
                    ));
                }
            }
        }
        if info.unsafe_reason.is_none() && info.idents.contains(ctx_name) {
            info.unsafe_reason = Some(format!("its body already uses `{ctx_name}`"));
        }
        minfos.push(info);
    }
    let mut groups: HashMap<String, MacroGroup> = HashMap::new();
    let mut group_order: Vec<String> = Vec::new();
    for (mi, info) in minfos.iter().enumerate() {
        let g = groups.entry(info.def.name.clone()).or_insert_with(|| {
            group_order.push(info.def.name.clone());
            MacroGroup::default()
        });
        g.defs.push(mi);
        if info.calls.iter().any(|c| !c.done) {
            g.calls_api = true;
        }
        if info.calls.iter().any(|c| c.done) {
            g.has_done = true;
        }
    }
    for info in &minfos {
        for r in &info.refs_macros {
            if let Some(g) = groups.get_mut(r) {
                if !g.in_macros.contains(&info.def.name) {
                    g.in_macros.push(info.def.name.clone());
                }
            }
        }
    }
    for fi in 0..nf {
        for (oi, o) in occs[fi].iter().enumerate() {
            if let Some(g) = groups.get_mut(&o.name) {
                g.sites.push((fi, oi));
            }
        }
    }
    // Identifiers a macro brings into a function when expanded, through
    // the macros it expands in turn.
    let macro_idents = |name: &str| -> HashSet<String> {
        let mut out = HashSet::new();
        let mut seen: HashSet<String> = HashSet::new();
        let mut stack = vec![name.to_string()];
        while let Some(n) = stack.pop() {
            if !seen.insert(n.clone()) {
                continue;
            }
            for &mi in macro_names.get(&n).into_iter().flatten() {
                for w in &minfos[mi].idents {
                    out.insert(w.clone());
                }
                for r in &minfos[mi].refs_macros {
                    stack.push(r.clone());
                }
            }
        }
        out
    };

    // ---- context variable names ------------------------------------------
    let mut expanded_in: Vec<Vec<HashSet<String>>> = scans
        .iter()
        .map(|s| vec![HashSet::new(); s.funcs.len()])
        .collect();
    for fi in 0..nf {
        for o in &occs[fi] {
            if let Some(f) = o.func {
                if macro_names.contains_key(&o.name) {
                    expanded_in[fi][f].insert(o.name.clone());
                }
            }
        }
    }
    let mut idents_cache: HashMap<String, HashSet<String>> = HashMap::new();
    for fi in 0..nf {
        for (di, f) in scans[fi].funcs.iter().enumerate() {
            if let Some((v, _)) = &f.existing_ctx {
                states[fi][di].var = Some(v.clone());
                continue;
            }
            let mut names: Vec<&String> = expanded_in[fi][di].iter().collect();
            names.sort();
            let mut brought: HashSet<String> = HashSet::new();
            for m in names {
                let ids = idents_cache
                    .entry(m.clone())
                    .or_insert_with(|| macro_idents(m));
                brought.extend(ids.iter().cloned());
            }
            let taken = |c: &str| {
                f.idents.contains(c) || macro_names.contains_key(c) || brought.contains(c)
            };
            let mut cand = ctx_name.to_string();
            let mut k = 1;
            while taken(&cand) {
                cand = if k == 1 {
                    "pyctx_ctx".to_string()
                } else {
                    format!("pyctx_ctx{k}")
                };
                k += 1;
            }
            states[fi][di].renamed = cand != ctx_name;
            states[fi][di].var = Some(cand);
        }
    }

    // ---- macro policy ----------------------------------------------------
    for name in &group_order {
        let g = groups.get_mut(name).unwrap();
        if !g.calls_api && !g.has_done {
            continue;
        }
        let mut reason: Option<String> = g
            .defs
            .iter()
            .find_map(|&mi| minfos[mi].unsafe_reason.clone());
        if reason.is_none() {
            if let Some(m) = g.in_macros.first() {
                reason = Some(format!("it is expanded inside macro `{m}`"));
            }
        }
        if reason.is_none() {
            for &(fi, oi) in &g.sites {
                let o = &occs[fi][oi];
                let here = pos_str(files, &scans, fi, o.at);
                let r = match o.func {
                    None => Some(format!("it is expanded outside a function ({here})")),
                    Some(_) if o.in_error => Some(format!(
                        "it is expanded in code tree-sitter cannot parse ({here})"
                    )),
                    Some(f) => {
                        let fd = &scans[fi].funcs[f];
                        let st = &states[fi][f];
                        if fd.refused.is_some() {
                            Some(format!(
                                "it is expanded in `{}` ({here}), which is refused",
                                fd.name
                            ))
                        } else if !st.selected {
                            Some(format!(
                                "it is expanded in `{}` ({here}), which is not selected",
                                fd.name
                            ))
                        } else if st.var.as_deref() != Some(ctx_name) {
                            Some(format!(
                                "it is expanded in `{}` ({here}), whose context is named `{}`",
                                fd.name,
                                st.var.as_deref().unwrap_or("?")
                            ))
                        } else {
                            None
                        }
                    }
                };
                if r.is_some() {
                    reason = r;
                    break;
                }
            }
        }
        if reason.is_none() && g.sites.is_empty() && g.calls_api {
            reason = Some("it is never expanded in a function body".to_string());
        }
        g.rewritable = reason.is_none();
        g.legacy_reason = reason;
    }

    // ---- needs and threading: the fixed point ---------------------------
    for fi in 0..nf {
        for (oi, o) in occs[fi].iter().enumerate() {
            let Some(f) = o.func else { continue };
            if o.in_error || !states[fi][f].migratable {
                continue;
            }
            let fd = &scans[fi].funcs[f];
            let need = match &o.kind {
                OccKind::Call(c) => {
                    is_api(&o.name) && !shadowed(fi, o) && !c.lvalue && uses_own_ctx(fd, c)
                }
                _ => false,
            } || groups
                .get(&o.name)
                .map(|g| g.rewritable || g.has_done)
                .unwrap_or(false);
            let _ = oi;
            if need {
                states[fi][f].direct_need = true;
            }
        }
    }
    for node in nodes.iter_mut() {
        node.already = node.defs.iter().any(|&(fi, di)| {
            scans[fi].funcs[di]
                .params
                .as_ref()
                .map(|p| p.first_pyctx.is_some())
                .unwrap_or(false)
        });
        if let Some(&(fi, di)) = node
            .defs
            .iter()
            .find(|&&(fi, di)| scans[fi].funcs[di].positional_attr)
        {
            let here = pos_str(files, &scans, fi, scans[fi].funcs[di].name_at);
            node.entry.push(format!(
                "an attribute refers to its parameters by position ({here})"
            ));
        }
        if node.name.starts_with("PyInit_") {
            node.entry.push("module init function".into());
        }
        if opts.entry.contains(&node.name) {
            node.entry.push("named as an entry point".into());
        }
        if api.contains(&node.name) {
            node.entry.push("it has a C API name".into());
        }
        if node.static_file.is_none() && node.calls == 0 {
            node.entry
                .push("not static and never called in the project (callable from outside)".into());
        }
        let prologue = node.defs.iter().any(|&(fi, di)| {
            matches!(
                scans[fi].funcs[di].existing_ctx,
                Some((_, CtxOrigin::Prologue))
            )
        });
        if prologue && !node.already {
            node.entry
                .push("it already opens with a PyCtx variable".into());
        }
    }
    let can_thread: Vec<bool> = nodes
        .iter()
        .map(|n| n.entry.is_empty() && n.defs.iter().all(|&(fi, di)| states[fi][di].migratable))
        .collect();
    for fi in 0..nf {
        for st in states[fi].iter_mut() {
            st.needs = st.migratable && st.direct_need;
        }
    }
    loop {
        let mut changed = false;
        for (id, node) in nodes.iter_mut().enumerate() {
            let t = node.already
                || (can_thread[id] && node.defs.iter().any(|&(fi, di)| states[fi][di].needs));
            if t != node.threaded {
                node.threaded = t;
                changed = true;
            }
        }
        for fi in 0..nf {
            for st in states[fi].iter_mut() {
                if st.migratable && !st.needs && st.callees.iter().any(|&c| nodes[c].threaded) {
                    st.needs = true;
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }

    // ---- trampolines (Options::trampolines) -------------------------------
    // An entry point that needs a context and is kept only because its
    // address is taken becomes `NAME_impl(PyCtx ctx, ...)` plus a line
    // defining `NAME` with its own signature: Ok((impl name, line)).
    // Err: why it keeps the `PyCtx_Get()` prologue.
    let mut tramps: HashMap<DefId, Result<(String, String), String>> = HashMap::new();
    if opts.trampolines {
        let mut taken_names: HashSet<String> = HashSet::new();
        for fi in 0..nf {
            for t in &scans[fi].toks {
                if t.kind == Tok::Ident {
                    taken_names.insert(String::from_utf8_lossy(&srcs[fi][t.start..t.end]).into());
                }
            }
        }
        for fi in 0..nf {
            for (di, f) in scans[fi].funcs.iter().enumerate() {
                let st = &states[fi][di];
                let Some(id) = st.node else { continue };
                let node = &nodes[id];
                if !st.migratable
                    || node.threaded
                    || !st.needs
                    || f.existing_ctx.is_some()
                    || node.addr_sites.is_empty()
                {
                    continue;
                }
                let plan = (|| -> Result<(String, String), String> {
                    if node.entry.len() != node.addr_sites.len() {
                        let other = node
                            .entry
                            .iter()
                            .find(|e| !e.starts_with("address taken at "))
                            .cloned()
                            .unwrap_or_default();
                        return Err(format!(
                            "it keeps its signature for another reason: {other}"
                        ));
                    }
                    if node.static_file.is_none() {
                        return Err(
                            "it is not static (the trampoline the runtime defines is static)"
                                .into(),
                        );
                    }
                    if node.defs.len() != 1 {
                        return Err("it has several definitions".into());
                    }
                    let sig = f.tramp.as_ref().map_err(|e| e.clone())?;
                    // A use before the trampoline line needs a declaration
                    // of NAME before it.
                    let first_use = occs[fi]
                        .iter()
                        .filter(|o| o.name == f.name && o.at != f.name_at && o.at < f.range.end)
                        .map(|o| o.at)
                        .min();
                    if let Some(u) = first_use {
                        let declared = node
                            .protos
                            .iter()
                            .any(|&(pf, pi)| pf == fi && scans[pf].protos[pi].name_at < u);
                        if !declared {
                            return Err(format!(
                                "it is used at {} before its definition ends, with no prototype before",
                                pos_str(files, &scans, fi, u)
                            ));
                        }
                    }
                    let mut imp = format!("{}_impl", f.name);
                    let mut k = 2;
                    while taken_names.contains(&imp) {
                        imp = format!("{}_impl{k}", f.name);
                        k += 1;
                    }
                    let line = if sig.ret == "void" {
                        let dealloc = node
                            .addr_sites
                            .iter()
                            .all(|&(af, at)| used_as_dealloc(srcs[af], &scans[af].toks, at));
                        if !(sig.one_pyobject && dealloc) {
                            return Err("it returns void: only a tp_dealloc taking one `PyObject *` gets a trampoline (PYCTX_DEALLOC)".into());
                        }
                        format!("PYCTX_DEALLOC({}, {imp})", f.name)
                    } else {
                        format!(
                            "PYCTX__TRAMPOLINE({}, {}, {imp}, {}, ({}))",
                            sig.ret,
                            f.name,
                            sig.params,
                            sig.names.join(", ")
                        )
                    };
                    Ok((imp, line))
                })();
                if let Ok((imp, _)) = &plan {
                    taken_names.insert(imp.clone());
                }
                tramps.insert((fi, di), plan);
            }
        }
    }

    // ---- edits and reports ------------------------------------------------
    let mut edits: Vec<Vec<Edit>> = vec![Vec::new(); nf];
    let mut reports: Vec<(usize, usize, FunctionReport)> = Vec::new();
    // Prototype var name per node.
    let node_var = |id: usize| -> String {
        nodes[id]
            .defs
            .iter()
            .find_map(|&(fi, di)| {
                if states[fi][di].migratable || nodes[id].already {
                    states[fi][di].var.clone()
                } else {
                    None
                }
            })
            .unwrap_or_else(|| ctx_name.to_string())
    };
    let mut protos_updated: HashMap<DefId, usize> = HashMap::new();
    for (id, node) in nodes.iter().enumerate() {
        if !node.threaded {
            continue;
        }
        let v = node_var(id);
        for &(fi, pi) in &node.protos {
            let p = &scans[fi].protos[pi];
            if p.params.first_pyctx.is_none() {
                edits[fi].push(param_edit(&p.params, &v));
                if let Some(&d) = node.defs.first() {
                    *protos_updated.entry(d).or_default() += 1;
                }
            }
        }
    }
    // Per-function occurrence lists.
    let mut by_func: Vec<Vec<Vec<usize>>> = scans
        .iter()
        .map(|s| vec![Vec::new(); s.funcs.len()])
        .collect();
    for fi in 0..nf {
        for (oi, o) in occs[fi].iter().enumerate() {
            if let Some(f) = o.func {
                by_func[fi][f].push(oi);
            }
        }
    }
    for fi in 0..nf {
        let src = srcs[fi];
        let s = &scans[fi];
        for (di, f) in s.funcs.iter().enumerate() {
            let st = &states[fi][di];
            let node = st.node.map(|id| &nodes[id]);
            let threaded = node.map(|n| n.threaded).unwrap_or(false);
            let (line, _) = s.lines.pos(f.name_at);
            let mut rep = FunctionReport {
                file: files[fi].path.clone(),
                line,
                name: f.name.clone(),
                is_static: f.is_static,
                status: Status::Legacy,
                entry_reason: None,
                ctx_var: None,
                param_added: false,
                prologue_added: false,
                prototypes_updated: protos_updated.get(&(fi, di)).copied().unwrap_or(0),
                calls_rewritten: 0,
                calls_already_ctx: 0,
                bridges: Vec::new(),
                legacy_calls: Vec::new(),
                legacy_reason: None,
                trampoline: None,
            };
            if let Some(n) = node {
                if !threaded {
                    rep.entry_reason = n.entry.first().cloned().or_else(|| {
                        n.defs
                            .iter()
                            .find(|&&(gi, gj)| !states[gi][gj].migratable)
                            .filter(|&&d| d != (fi, di))
                            .map(|&(gi, gj)| {
                                format!(
                                    "another definition ({}) is not migrated",
                                    pos_str(files, &scans, gi, scans[gi].funcs[gj].name_at)
                                )
                            })
                    });
                }
            }
            let legacy = |at: usize, name: &str, reason: String, out: &mut Vec<LegacyCall>| {
                let (line, column) = s.lines.pos(at);
                out.push(LegacyCall {
                    line,
                    column,
                    name: name.to_string(),
                    reason,
                });
            };
            if let Some(reason) = &f.refused {
                rep.status = Status::Refused {
                    reason: reason.clone(),
                };
                diag(
                    fi,
                    f.name_at,
                    Severity::Warning,
                    "refused",
                    format!("`{}` is not rewritten: {reason}", f.name),
                );
                for &oi in &by_func[fi][di] {
                    let o = &occs[fi][oi];
                    if matches!(o.kind, OccKind::Call(_)) && is_api(&o.name) && !shadowed(fi, o) {
                        legacy(
                            o.at,
                            &o.name,
                            "function refused".into(),
                            &mut rep.legacy_calls,
                        );
                    }
                }
                reports.push((fi, di, rep));
                continue;
            }
            if !st.selected {
                rep.status = Status::Legacy;
                if let Some((sw, at)) = &switches[fi][di] {
                    let here = pos_str(files, &scans, fi, *at);
                    rep.legacy_reason = Some(format!(
                        "it switches the thread state ({sw} at {here}): a context taken at entry would be stale"
                    ));
                    diag(
                        fi,
                        f.name_at,
                        Severity::Note,
                        "thread-switch",
                        format!(
                            "`{}` calls {sw} ({here}): left legacy, each call reads the current thread state",
                            f.name
                        ),
                    );
                } else {
                    rep.legacy_reason = Some("not selected".to_string());
                }
                for &oi in &by_func[fi][di] {
                    let o = &occs[fi][oi];
                    if o.in_error {
                        continue;
                    }
                    if let OccKind::Call(c) = &o.kind {
                        if let Some(&t) = call_target[fi].get(&oi) {
                            if nodes[t].threaded {
                                let done = match &c.first {
                                    FirstArg::PyCtxCall | FirstArg::PyCtxGet(_) => true,
                                    FirstArg::Ident(v) => f.pyctx_vars.contains(v),
                                    _ => false,
                                };
                                let (line, column) = s.lines.pos(o.at);
                                if !done {
                                    edits[fi].push(Edit {
                                        at: c.open + 1,
                                        del: 0,
                                        text: call_text("PyCtx_Get()", c),
                                    });
                                    diag(
                                        fi,
                                        o.at,
                                        Severity::Note,
                                        "bridge",
                                        format!(
                                            "`{}` takes a context now; `{}` is not migrated and passes PyCtx_Get()",
                                            o.name, f.name
                                        ),
                                    );
                                }
                                rep.bridges.push(Bridge {
                                    line,
                                    column,
                                    callee: o.name.clone(),
                                    added: !done,
                                });
                            }
                            continue;
                        }
                        if is_api(&o.name) && !shadowed(fi, o) {
                            let done = match &c.first {
                                FirstArg::PyCtxCall | FirstArg::PyCtxGet(_) => true,
                                FirstArg::Ident(v) => f.pyctx_vars.contains(v),
                                _ => false,
                            };
                            if done {
                                rep.calls_already_ctx += 1;
                            } else {
                                let why = if switches[fi][di].is_some() {
                                    "function switches the thread state"
                                } else {
                                    "function not selected"
                                };
                                legacy(o.at, &o.name, why.into(), &mut rep.legacy_calls);
                            }
                        }
                    }
                    if let Some(g) = groups.get(&o.name) {
                        if g.calls_api && !g.rewritable {
                            legacy(
                                o.at,
                                &o.name,
                                "macro calling the API, in a function not selected".into(),
                                &mut rep.legacy_calls,
                            );
                        }
                    }
                }
                if node.map(|n| n.already).unwrap_or(false) {
                    rep.ctx_var = st.var.clone();
                }
                reports.push((fi, di, rep));
                continue;
            }
            // Selected and parseable.
            let var = st.var.clone().unwrap_or_else(|| ctx_name.to_string());
            let has_ctx = threaded || st.needs;
            if threaded {
                rep.status = Status::Threaded;
                if f.params
                    .as_ref()
                    .map(|p| p.first_pyctx.is_none())
                    .unwrap_or(false)
                {
                    edits[fi].push(param_edit(f.params.as_ref().unwrap(), &var));
                    rep.param_added = true;
                }
            } else if st.needs {
                rep.status = Status::EntryPoint;
                match tramps.get(&(fi, di)) {
                    Some(Ok((imp, line))) => {
                        edits[fi].push(Edit {
                            at: f.name_at + f.name.len(),
                            del: 0,
                            text: imp[f.name.len()..].to_string(),
                        });
                        if let Some(p) = &f.params {
                            edits[fi].push(param_edit(p, &var));
                        }
                        edits[fi].push(Edit {
                            at: f.range.end,
                            del: 0,
                            text: format!("{}{line}", s.eol),
                        });
                        rep.param_added = true;
                        rep.trampoline = Some(imp.clone());
                    }
                    Some(Err(why)) => {
                        diag(
                            fi,
                            f.name_at,
                            Severity::Note,
                            "trampoline",
                            format!("`{}` keeps PyCtx_Get(): {why}", f.name),
                        );
                        if f.existing_ctx.is_none() {
                            rep.prologue_added = true;
                        }
                    }
                    None => {
                        if f.existing_ctx.is_none() {
                            rep.prologue_added = true;
                        }
                    }
                }
            } else {
                rep.status = Status::NoContext;
            }
            if has_ctx {
                rep.ctx_var = Some(var.clone());
                if st.renamed && (rep.param_added || rep.prologue_added) {
                    diag(
                        fi,
                        f.name_at,
                        Severity::Note,
                        "ctx-renamed",
                        format!(
                            "`{ctx_name}` is already used in `{}`: its context is named `{var}`",
                            f.name
                        ),
                    );
                }
            }
            let mut unconditional_use = false;
            for &oi in &by_func[fi][di] {
                let o = &occs[fi][oi];
                if o.in_error {
                    // A call the tree does not show (in the arguments of
                    // a macro standing for syntax): it stays as written.
                    if matches!(o.kind, OccKind::Call(_)) && is_api(&o.name) && !shadowed(fi, o) {
                        legacy(
                            o.at,
                            &o.name,
                            "in the arguments of a macro the parser cannot see through".into(),
                            &mut rep.legacy_calls,
                        );
                    }
                    continue;
                }
                if !o.in_cond
                    && groups
                        .get(&o.name)
                        .map(|g| g.rewritable || g.has_done)
                        .unwrap_or(false)
                {
                    unconditional_use = true;
                }
                if let OccKind::Call(c) = &o.kind {
                    let target_threaded = call_target[fi]
                        .get(&oi)
                        .map(|&t| nodes[t].threaded)
                        .unwrap_or(false);
                    let api_call = is_api(&o.name) && !shadowed(fi, o);
                    if target_threaded || api_call {
                        if api_call && c.lvalue {
                            legacy(
                                o.at,
                                &o.name,
                                "used as an lvalue (the ctx form is an rvalue)".into(),
                                &mut rep.legacy_calls,
                            );
                            diag(
                                fi,
                                o.at,
                                Severity::Note,
                                "lvalue",
                                format!(
                                    "`{}` is assigned to or has its address taken: left legacy",
                                    o.name
                                ),
                            );
                            continue;
                        }
                        let done = match &c.first {
                            FirstArg::PyCtxCall => true,
                            FirstArg::Ident(v) => f.pyctx_vars.contains(v),
                            _ => false,
                        };
                        if !o.in_cond && uses_own_ctx(f, c) {
                            unconditional_use = true;
                        }
                        if let (FirstArg::PyCtxGet(r), true) = (&c.first, has_ctx) {
                            // A bridge from an earlier, partial run: the
                            // function has its own context now.
                            edits[fi].push(Edit {
                                at: r.start,
                                del: r.end - r.start,
                                text: var.clone(),
                            });
                            rep.calls_rewritten += 1;
                        } else if done || matches!(c.first, FirstArg::PyCtxGet(_)) {
                            rep.calls_already_ctx += 1;
                        } else if has_ctx {
                            edits[fi].push(Edit {
                                at: c.open + 1,
                                del: 0,
                                text: call_text(&var, c),
                            });
                            rep.calls_rewritten += 1;
                        }
                        continue;
                    }
                }
                if let Some(g) = groups.get(&o.name) {
                    if g.calls_api && !g.rewritable {
                        legacy(
                            o.at,
                            &o.name,
                            format!(
                                "expands macro `{}`, left legacy: {}",
                                o.name,
                                g.legacy_reason.as_deref().unwrap_or("")
                            ),
                            &mut rep.legacy_calls,
                        );
                    }
                }
            }
            if rep.prologue_added {
                edits[fi].push(prologue_edit(src, f, &var, s.eol, !unconditional_use));
            }
            reports.push((fi, di, rep));
        }
    }

    // Macro edits and reports.
    let mut macro_reports: Vec<(usize, usize, MacroReport)> = Vec::new();
    for name in &group_order {
        let g = &groups[name];
        let aliases: Vec<&String> = g
            .defs
            .iter()
            .flat_map(|&mi| minfos[mi].aliases.iter())
            .collect();
        if !aliases.is_empty() && !alias_macros.contains(name) {
            let info = &minfos[g.defs[0]];
            let mut a: Vec<String> = aliases.iter().map(|s| s.to_string()).collect();
            a.sort();
            a.dedup();
            diag(
                info.file,
                info.def.name_at,
                Severity::Note,
                "macro-alias",
                format!(
                    "macro `{name}` names API {} without calling it: its expansions are left as written",
                    a.join(", ")
                ),
            );
        }
        if !g.calls_api && !g.has_done {
            continue;
        }
        let expansions = g
            .sites
            .iter()
            .filter(|&&(fi, oi)| occs[fi][oi].func.is_some())
            .count();
        for &mi in &g.defs {
            let info = &minfos[mi];
            if info.calls.is_empty() {
                continue;
            }
            let mut rewritten = 0;
            if g.rewritable {
                for c in &info.calls {
                    if !c.done {
                        let ci = CallInfo {
                            open: c.open,
                            empty: c.empty,
                            newline_after_open: false,
                            first: FirstArg::None,
                            lvalue: false,
                        };
                        edits[info.file].push(Edit {
                            at: c.open + 1,
                            del: 0,
                            text: call_text(ctx_name, &ci),
                        });
                        rewritten += 1;
                    }
                }
            } else if g.calls_api {
                diag(
                    info.file,
                    info.def.name_at,
                    Severity::Note,
                    "macro-legacy",
                    format!(
                        "macro `{name}` calls the API in its body; left legacy (runs through compat): {}",
                        g.legacy_reason.as_deref().unwrap_or("")
                    ),
                );
            }
            let mut api_calls: Vec<String> = info.calls.iter().map(|c| c.name.clone()).collect();
            api_calls.sort();
            api_calls.dedup();
            let (line, _) = scans[info.file].lines.pos(info.def.name_at);
            macro_reports.push((
                info.file,
                info.def.name_at,
                MacroReport {
                    file: files[info.file].path.clone(),
                    line,
                    name: name.clone(),
                    api_calls,
                    status: if g.rewritable {
                        MacroStatus::Rewritten
                    } else {
                        MacroStatus::Legacy {
                            reason: g.legacy_reason.clone().unwrap_or_default(),
                        }
                    },
                    calls_rewritten: rewritten,
                    expansions,
                },
            ));
        }
        // A macro that already passes `ctx` needs it at every expansion.
        if g.has_done {
            for &(fi, oi) in &g.sites {
                let o = &occs[fi][oi];
                let ok = o.func.map(|f| {
                    let st = &states[fi][f];
                    let has = st.var.as_deref() == Some(ctx_name)
                        && (scans[fi].funcs[f].existing_ctx.is_some()
                            || (st.migratable
                                && (st.needs
                                    || st.node.map(|n| nodes[n].threaded).unwrap_or(false))));
                    has
                });
                if ok != Some(true) {
                    diag(
                        fi,
                        o.at,
                        Severity::Warning,
                        "macro-ctx",
                        format!(
                            "macro `{name}` passes `{ctx_name}` to the API, but no context named `{ctx_name}` is in scope here"
                        ),
                    );
                }
            }
        }
    }

    for fi in 0..nf {
        for (at, msg) in &scans[fi].top_errors {
            diag(
                fi,
                *at,
                Severity::Warning,
                "parse-error",
                format!("{msg}; nothing in this region is rewritten"),
            );
        }
    }

    // ---- apply -------------------------------------------------------------
    let mut file_outcomes = Vec::with_capacity(nf);
    for fi in 0..nf {
        let mut e = std::mem::take(&mut edits[fi]);
        let mut include_added = false;
        if !e.is_empty() {
            let has = scans[fi]
                .dir
                .includes
                .iter()
                .any(|i| i.path == "pyctx.h" || i.path.ends_with("/pyctx.h"));
            if !has {
                e.push(include_edit(srcs[fi], &scans[fi]));
                include_added = true;
            }
        }
        let n = e.len();
        e.sort_by_key(|x| x.at);
        let new_text = if e.is_empty() {
            None
        } else {
            match apply(&files[fi].text, &e) {
                Ok(t) => Some(t),
                Err(msg) => {
                    diag(fi, 0, Severity::Error, "internal", msg);
                    None
                }
            }
        };
        file_outcomes.push(FileOutcome {
            path: files[fi].path.clone(),
            edits: if new_text.is_some() { n } else { 0 },
            include_added: include_added && new_text.is_some(),
            text_edits: if new_text.is_some() { e } else { Vec::new() },
            new_text,
        });
    }

    reports.sort_by_key(|(fi, di, _)| (*fi, scans[*fi].funcs[*di].name_at));
    macro_reports.sort_by_key(|(fi, at, _)| (*fi, *at));
    diags.sort_by(|(fa, a), (fb, b)| {
        (fa, a.line, a.column, &a.code, &a.message)
            .cmp(&(fb, b.line, b.column, &b.code, &b.message))
    });
    let functions: Vec<FunctionReport> = reports.into_iter().map(|(_, _, r)| r).collect();
    let macros: Vec<MacroReport> = macro_reports.into_iter().map(|(_, _, r)| r).collect();
    let mut totals = Totals {
        files_changed: file_outcomes
            .iter()
            .filter(|f| f.new_text.is_some())
            .count(),
        functions: functions.len(),
        ..Default::default()
    };
    for r in &functions {
        match r.status {
            Status::Threaded => totals.threaded += 1,
            Status::EntryPoint => totals.entry_points += 1,
            Status::NoContext => totals.no_context += 1,
            Status::Legacy => totals.legacy += 1,
            Status::Refused { .. } => totals.refused += 1,
        }
        totals.calls_rewritten += r.calls_rewritten;
        totals.calls_already_ctx += r.calls_already_ctx;
        totals.bridges += r.bridges.len();
        totals.legacy_calls += r.legacy_calls.len();
    }
    for m in &macros {
        match m.status {
            MacroStatus::Rewritten => totals.macros_rewritten += 1,
            MacroStatus::Legacy { .. } => totals.macros_legacy += 1,
        }
    }
    Outcome {
        files: file_outcomes,
        functions,
        macros,
        diagnostics: diags.into_iter().map(|(_, d)| d).collect(),
        totals,
    }
}
