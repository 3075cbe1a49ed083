//! Phase 2, resolve: what every name means, project-wide.
//!
//! - API names the project renames (`#define PyInt_FromLong
//!   PyLong_FromLong`) or redefines;
//! - the project's functions as linkage groups ([`FNode`]: a static
//!   function of one file, or every external definition of one name);
//! - each use of a function name resolved **per translation unit**
//!   ([`Model::resolve_name`]): a static function is visible to every file
//!   of the units that include its file, so unity builds and headers that
//!   rely on their includer's include order resolve as the compiler does;
//! - why a function must keep its signature whatever the options select
//!   (address taken, named in a macro, called from refused code, a macro
//!   of the same name, ...);
//! - the project macros whose bodies use the API ([`crate::model::Macros`]).
//!
//! Entry point: [`resolve`]. Nothing here depends on which functions are
//! selected; the decide phase does that.

use crate::lex::Tok;
use crate::model::{
    BodyCall, Diag, FNode, FileFacts, FileId, MacroGroup, MacroInfo, Macros, Model, NodeId,
};
use crate::parse::Parsed;
use crate::scan::{CallInfo, CtxOrigin, FirstArg, FuncDef, OccKind};
use crate::units::Units;
use crate::{ApiNames, Options, Severity};
use std::collections::{HashMap, HashSet};

/// Does this call need the function's own context (it passes none, a
/// bridge, or the function's existing context variable)? Calls that pass
/// another context (`PyCtx_AsDealloc(...)`, a second `PyCtx` local) do not.
pub(crate) fn uses_own_ctx(src: &[u8], f: &FuncDef, c: &CallInfo) -> bool {
    match &c.first {
        FirstArg::PyCtxCall => false,
        FirstArg::Ident(v) if f.pyctx_vars.contains(src, v) => f
            .existing_ctx
            .as_ref()
            .map(|(e, _)| e == v)
            .unwrap_or(false),
        _ => true,
    }
}

pub(crate) fn resolve<'a>(
    parsed: Parsed<'a>,
    units: Units,
    api: &'a ApiNames,
    opts: &Options,
) -> (Model<'a>, Vec<Diag>) {
    let extra_seen = crate::extra::seen(&parsed.files, &api.extra_headers(), &units);
    let mut m = Model {
        extra_seen,
        facts: parsed
            .files
            .iter()
            .map(|f| FileFacts {
                node_of: vec![None; f.scan.funcs.len()],
                call_target: HashMap::new(),
                callees: vec![Vec::new(); f.scan.funcs.len()],
            })
            .collect(),
        files: parsed.files,
        names: parsed.names,
        units,
        api,
        alias_macros: HashSet::new(),
        nodes: Vec::new(),
        nodes_by_name: HashMap::new(),
        macros: Macros::default(),
    };
    m.alias_macros = alias_macros(&m);
    let diags = api_name_notes(&m);
    build_nodes(&mut m);
    m.nodes.shrink_to_fit();
    resolve_prototypes(&mut m);
    resolve_uses(&mut m);
    unclassified_spellings(&mut m);
    m.macros = macro_infos(&mut m, &opts.ctx_name);
    node_entry_reasons(&mut m, opts);
    shrink(&mut m);
    // Nothing after resolution reads the tokens (see `FileScan::toks`).
    for f in &mut m.files {
        f.scan.toks = Vec::new();
    }
    (m, diags)
}

/// No room left from growing in what the model keeps for the run: a
/// list's first push makes room for four, and most of these lists (a
/// function's definitions, its callees, its entry reasons) hold one or
/// two, in their hundreds of thousands in a large file.
fn shrink(m: &mut Model) {
    for n in &mut m.nodes {
        n.defs.shrink_to_fit();
        n.protos.shrink_to_fit();
        n.entry.shrink_to_fit();
        n.addr_sites.shrink_to_fit();
    }
    for ids in m.nodes_by_name.values_mut() {
        ids.shrink_to_fit();
    }
    m.nodes_by_name.shrink_to_fit();
    for f in &mut m.facts {
        f.callees.iter_mut().for_each(Vec::shrink_to_fit);
        f.call_target.shrink_to_fit();
    }
    for f in &mut m.files {
        f.by_func.iter_mut().for_each(Vec::shrink_to_fit);
    }
}

impl Model<'_> {
    /// The project functions a use of `name` in file `fi` may mean: the
    /// static function of that file; else, in each unit holding the file,
    /// the static functions of the unit's files, or the external function
    /// when none is visible. Several: the use is ambiguous (a header that
    /// means different functions in different units).
    pub fn resolve_name(&self, fi: FileId, name: &str) -> Vec<NodeId> {
        let Some(cands) = self.nodes_by_name.get(name) else {
            return Vec::new();
        };
        if let Some(&own) = cands
            .iter()
            .find(|&&id| self.nodes[id].static_file == Some(fi))
        {
            return vec![own];
        }
        let external = cands
            .iter()
            .copied()
            .find(|&id| self.nodes[id].static_file.is_none());
        let mut out: Vec<NodeId> = Vec::new();
        for &u in &self.units.of_file[fi] {
            let closure = &self.units.units[u].closure;
            let before = out.len();
            out.extend(cands.iter().copied().filter(|&id| {
                self.nodes[id]
                    .static_file
                    .is_some_and(|g| closure.binary_search(&g).is_ok())
            }));
            if out.len() == before {
                out.extend(external);
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// Object-like project macros that only rename an API name (or another
/// such macro): `#define PyInt_FromSsize_t PyLong_FromSsize_t`. A call
/// through them takes the context like the API name itself:
/// `PyInt_FromSsize_t(ctx, n)` expands to `PyLong_FromSsize_t(ctx, n)`.
///
/// Not a name the project also declares or defines as a function (under
/// another `#if` branch, as Cython does for its vectorcall helpers): a
/// call of it means the function in some configurations, and must keep
/// the arguments the function keeps (which gives it an entry point's
/// signature, since a macro of the same name exists).
fn alias_macros(m: &Model) -> HashSet<String> {
    let functions: HashSet<&str> = m
        .files
        .iter()
        .flat_map(|f| f.scan.protos.iter().map(|p| p.name.as_str()))
        .chain(m.names.funcs.iter().map(String::as_str))
        .collect();
    let mut target: HashMap<&str, Option<String>> = HashMap::new();
    for f in &m.files {
        let src = f.src();
        for d in &f.scan.dir.macros {
            let body: Vec<&crate::lex::Token> = f.scan.toks[d.body.clone()]
                .iter()
                .filter(|t| t.kind != Tok::Comment)
                .collect();
            let one =
                (d.params.is_none() && body.len() == 1 && body[0].kind == Tok::Ident).then(|| {
                    String::from_utf8_lossy(&src[body[0].start()..body[0].end()]).into_owned()
                });
            let e = target.entry(d.name.as_str()).or_insert(one.clone());
            if *e != one {
                *e = None; // definitions disagree
            }
        }
    }
    let mut out: HashSet<String> = HashSet::new();
    loop {
        let before = out.len();
        for (name, t) in &target {
            if let Some(t) = t {
                if !m.api.contains(name)
                    && !functions.contains(name)
                    && (m.is_api(t) || out.contains(t))
                {
                    out.insert(name.to_string());
                }
            }
        }
        if out.len() == before {
            break;
        }
    }
    out
}

/// Project definitions that take an API name: their uses are the
/// project's, left as written.
fn api_name_notes(m: &Model) -> Vec<Diag> {
    let mut out = Vec::new();
    for (fi, f) in m.files.iter().enumerate() {
        for d in &f.scan.funcs {
            if m.api.contains(&d.name) {
                out.push(m.diag(
                    fi,
                    d.name_at,
                    Severity::Note,
                    "api-name",
                    format!(
                        "the project defines `{}`, a C API name: its uses are left as written",
                        d.name
                    ),
                ));
            }
        }
        for d in &f.scan.dir.macros {
            if m.api.contains(&d.name) {
                out.push(m.diag(
                    fi,
                    d.name_at,
                    Severity::Note,
                    "api-name",
                    format!(
                        "the project defines macro `{}`, a C API name: its uses are left as written",
                        d.name
                    ),
                ));
            }
        }
    }
    out
}

/// One node per linkage group; `already` when a definition takes `PyCtx`
/// first.
fn build_nodes(m: &mut Model) {
    let mut key: HashMap<(Option<FileId>, String), NodeId> = HashMap::new();
    for (fi, f) in m.files.iter().enumerate() {
        for (di, d) in f.scan.funcs.iter().enumerate() {
            if d.name == "?" {
                continue;
            }
            let is_static = d.is_static || f.scan.static_names.contains(&d.name);
            let k = (is_static.then_some(fi), d.name.clone());
            let id = *key.entry(k).or_insert_with(|| {
                m.nodes.push(FNode {
                    name: d.name.clone(),
                    static_file: is_static.then_some(fi),
                    defs: Vec::new(),
                    protos: Vec::new(),
                    entry: Vec::new(),
                    addr_sites: Vec::new(),
                    calls: 0,
                    already: false,
                });
                m.nodes_by_name
                    .entry(d.name.clone())
                    .or_default()
                    .push(m.nodes.len() - 1);
                m.nodes.len() - 1
            });
            m.nodes[id].defs.push((fi, di));
            m.nodes[id].already |= d.params.as_ref().is_some_and(|p| p.first_pyctx.is_some());
            m.facts[fi].node_of[di] = Some(id);
        }
    }
}

fn resolve_prototypes(m: &mut Model) {
    for fi in 0..m.files.len() {
        for pi in 0..m.files[fi].scan.protos.len() {
            let p = &m.files[fi].scan.protos[pi];
            if !m.names.funcs.contains(&p.name) {
                continue;
            }
            let t = m.resolve_name(fi, &p.name);
            let here = m.pos_str(fi, p.name_at);
            let why = if let Some(inf) = p.in_func {
                Some(format!(
                    "declared inside function `{}` ({here})",
                    m.files[fi].scan.funcs[inf].name
                ))
            } else if p.in_error {
                Some(format!(
                    "declared in code tree-sitter cannot parse ({here})"
                ))
            } else if p.opaque {
                Some(format!(
                    "declared in a form the engine does not rewrite ({here})"
                ))
            } else if t.len() > 1 {
                Some(format!("prototype at {here} may declare several functions"))
            } else {
                None
            };
            let positional = p.positional_attr;
            let defaults = p.params.defaults;
            for &id in &t {
                if defaults {
                    m.nodes[id].entry.push(format!(
                        "a declaration gives default arguments ({here}; C++ defaults are not modelled)"
                    ));
                }
                match &why {
                    Some(w) => m.nodes[id].entry.push(w.clone()),
                    None => {
                        if positional {
                            m.nodes[id].entry.push(format!(
                                "an attribute refers to its parameters by position ({here})"
                            ));
                        }
                        m.nodes[id].protos.push((fi, pi));
                    }
                }
            }
        }
    }
}

/// Calls, address-taking uses and uses in code the engine does not
/// rewrite.
fn resolve_uses(m: &mut Model) {
    for fi in 0..m.files.len() {
        for oi in 0..m.files[fi].occs.len() {
            let f = &m.files[fi];
            let o = &f.occs[oi];
            if !m.names.funcs.contains(&o.name) {
                continue;
            }
            let caller = o.func.map(|c| &f.scan.funcs[c]);
            let refused_caller = caller.and_then(|c| c.refused.as_ref().map(|r| (&c.name, r)));
            // A refused function's syntax tree is not to be trusted (a
            // call may look like a declaration): every spelling there is a
            // use the engine cannot rewrite.
            if refused_caller.is_none() && m.shadowed(fi, o) {
                continue;
            }
            if refused_caller.is_none() && matches!(o.kind, OccKind::VarDecl) && !o.in_error {
                continue;
            }
            let t = m.resolve_name(fi, &o.name);
            if t.is_empty() {
                continue;
            }
            let here = m.pos_str(fi, o.at);
            let why = if o.in_error && !matches!(o.kind, OccKind::Call(_)) {
                Some(format!(
                    "`{}` at {here} is in code tree-sitter cannot parse",
                    o.name
                ))
            } else if t.len() > 1 {
                Some(format!(
                    "`{}` at {here} may refer to several definitions",
                    o.name
                ))
            } else {
                match (&o.kind, refused_caller) {
                    (OccKind::Call(_), _) if o.in_error => Some(format!(
                        "called from code tree-sitter cannot parse ({here})"
                    )),
                    (OccKind::Call(_) | OccKind::VarDecl, Some((name, reason))) => Some(format!(
                        "called from `{name}` ({here}), which is refused: {reason}"
                    )),
                    _ => None,
                }
            };
            if let Some(w) = why {
                for id in t {
                    m.nodes[id].entry.push(w.clone());
                }
                continue;
            }
            let id = t[0];
            match &o.kind {
                OccKind::Call(c) if c.split_callee => {
                    // `#if A f #else g #endif (x)`: the arguments are
                    // shared with another name, which may take no context.
                    m.nodes[id].entry.push(format!(
                        "called at {here} by a name chosen by `#if` apart from its arguments"
                    ));
                }
                OccKind::Call(c) if c.qualified => {
                    // `ns::f(x)` may name another `f` than the project's
                    // (the engine does not follow namespaces).
                    m.nodes[id]
                        .entry
                        .push(format!("called by a qualified name (C++) at {here}"));
                }
                OccKind::Call(c) => {
                    m.nodes[id].calls += 1;
                    m.facts[fi].call_target.insert(oi, id);
                    if let Some(fd) = o.func {
                        if uses_own_ctx(f.src(), &f.scan.funcs[fd], c) {
                            m.facts[fi].callees[fd].push(id);
                        }
                    }
                }
                OccKind::Other => {
                    let scope = if o.func.is_some() {
                        ""
                    } else {
                        " (file scope)"
                    };
                    m.nodes[id].addr_sites.push((fi, o.at));
                    m.nodes[id]
                        .entry
                        .push(format!("address taken at {here}{scope}"));
                }
                OccKind::VarDecl => {}
            }
        }
    }
}

/// Safety net: every spelling of a project function's name in code must
/// be one the engine has classified (definition, prototype, call, other
/// use). Anything else (a name tree-sitter folded into an odd node) makes
/// the function keep its signature.
fn unclassified_spellings(m: &mut Model) {
    for fi in 0..m.files.len() {
        let mut reasons: Vec<(String, String)> = Vec::new();
        let f = &m.files[fi];
        let s = &f.scan;
        let mut known: HashSet<usize> = s.funcs.iter().map(|d| d.name_at).collect();
        known.extend(s.protos.iter().map(|p| p.name_at));
        known.extend(f.occs.iter().map(|o| o.at));
        // Names in runtime trampoline lines (`PYCTX__TRAMPOLINE(..., impl,
        // ...)`): blanked for the parser; the implementation they call
        // keeps its signature (it already takes `PyCtx` first).
        for r in &s.trampolines {
            for t in &s.toks[r.clone()] {
                let name = f.word(t.start(), t.end());
                if t.kind == Tok::Ident && m.names.funcs.contains(name) {
                    known.insert(t.start());
                    reasons.push((
                        name.to_string(),
                        format!("named in a trampoline line ({})", f.pos_str(t.start())),
                    ));
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
            while d < s.dir.dead.len() && s.dir.dead[d].end <= t.start() {
                d += 1;
            }
            if d < s.dir.dead.len() && s.dir.dead[d].start <= t.start() {
                continue;
            }
            let name = f.word(t.start(), t.end());
            if m.names.funcs.contains(name) && !known.contains(&t.start()) {
                reasons.push((
                    name.to_string(),
                    format!(
                        "`{name}` at {} is used in a way the engine cannot follow",
                        f.pos_str(t.start())
                    ),
                ));
            }
        }
        for (name, why) in reasons {
            for id in m.resolve_name(fi, &name) {
                m.nodes[id].entry.push(why.clone());
            }
        }
    }
}

/// The body of one `#define`: its API calls, aliases and identifiers.
/// Function names in the body, or that token pasting may build, keep
/// their signature (`entry`: (node, reason)).
fn macro_info(
    m: &Model,
    fi: FileId,
    index: usize,
    ctx_name: &str,
    entry: &mut Vec<(NodeId, String)>,
) -> MacroInfo {
    let f = &m.files[fi];
    let d = &f.scan.dir.macros[index];
    let bt: Vec<&crate::lex::Token> = f.scan.toks[d.body.clone()]
        .iter()
        .filter(|t| t.kind != Tok::Comment)
        .collect();
    let word = |k: usize| -> &str {
        bt.get(k)
            .filter(|t| t.kind == Tok::Ident)
            .map(|t| f.word(t.start(), t.end()))
            .unwrap_or("")
    };
    let punct = |k: usize, c: u8| bt.get(k).is_some_and(|t| t.kind == Tok::Punct(c));
    let params: HashSet<&str> = d.params.iter().flatten().map(|s| s.as_str()).collect();
    let mut info = MacroInfo {
        file: fi,
        index,
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
        if w.is_empty() || params.contains(w) || !m.is_api(w) {
            continue;
        }
        let after_member =
            k > 0 && (punct(k - 1, b'.') || (punct(k - 1, b'>') && k > 1 && punct(k - 2, b'-')));
        if after_member {
            continue;
        }
        if (k > 0 && punct(k - 1, b'#')) || punct(k + 1, b'#') {
            info.unsafe_reason = Some(format!("`{w}` is next to `#` or `##` in its body"));
        }
        if punct(k + 1, b'(') {
            let first = word(k + 2);
            let done_ctx = first == ctx_name && (punct(k + 3, b',') || punct(k + 3, b')'));
            let done_get = first.starts_with("PyCtx_") && punct(k + 3, b'(');
            if done_ctx {
                ctx_first.insert(k + 2);
            }
            info.calls.push(BodyCall {
                name: w.to_string(),
                open: bt[k + 1].start(),
                empty: punct(k + 2, b')'),
                done: done_ctx || done_get,
            });
        } else {
            info.aliases.push(w.to_string());
        }
    }
    let here = f.pos_str(d.name_at);
    for k in 0..bt.len() {
        let w = word(k);
        if w.is_empty() || ctx_first.contains(&k) || params.contains(w) {
            continue;
        }
        info.idents.insert(w.to_string());
        if w != d.name && m.names.macros.contains_key(w) {
            info.refs_macros.push(w.to_string());
        }
        for &id in m.nodes_by_name.get(w).into_iter().flatten() {
            entry.push((
                id,
                format!("used in the body of macro `{}` ({here})", d.name),
            ));
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
        let patterns = pasted_at_sites(
            m,
            &d.name,
            Operand::of(before, &d.params),
            Operand::of(after, &d.params),
        );
        for (id, node) in m.nodes.iter().enumerate() {
            if patterns.iter().any(|p| p.may_name(&node.name)) {
                entry.push((
                    id,
                    format!(
                        "may be named by token pasting in macro `{}` ({here})",
                        d.name
                    ),
                ));
            }
        }
    }
    if info.unsafe_reason.is_none() && info.idents.contains(ctx_name) {
        info.unsafe_reason = Some(format!("its body already uses `{ctx_name}`"));
    }
    info
}

/// What one `##` of a macro body may build: a name to check functions
/// against (a function it may name keeps its signature).
enum Pasted {
    Exact(String),
    Prefix(String),
    Suffix(String),
    /// An operand the engine cannot see (an argument that is an expression,
    /// or a parameter of the macro the invocation sits in): any name.
    Any,
}

impl Pasted {
    fn may_name(&self, name: &str) -> bool {
        match self {
            Pasted::Exact(w) => name == w,
            Pasted::Prefix(w) => name.starts_with(w.as_str()),
            Pasted::Suffix(w) => name.ends_with(w.as_str()),
            Pasted::Any => true,
        }
    }
}

/// One operand of a `##` in a macro body.
#[derive(Clone, Copy)]
enum Operand<'a> {
    /// A word of the body itself (`decode_` in `decode_##type`).
    Literal(&'a str),
    /// The macro's parameter of this index: the invocation's argument.
    Param(usize),
    /// Anything else (`)`, a string): what it pastes is not known.
    Unknown,
}

impl<'a> Operand<'a> {
    /// The operand `w` (a word of the body, `""` for anything else) of a
    /// macro with parameters `params`.
    fn of(w: &'a str, params: &Option<Vec<String>>) -> Self {
        match params.iter().flatten().position(|p| p == w) {
            Some(p) => Operand::Param(p),
            None if w.is_empty() => Operand::Unknown,
            None => Operand::Literal(w),
        }
    }
}

/// The names `left##right` builds at each invocation of macro `name` in the
/// project's files. An argument counts when it is one identifier or number
/// and not itself a parameter of a macro whose body holds the invocation
/// (`#define CAT2(a, b) CAT(a, b)`): then that operand is unknown, and a
/// known side alone still gives a prefix or a suffix. A macro never invoked
/// here builds what its literal side allows (it may be invoked from a file
/// outside the run), nothing when it has none.
fn pasted_at_sites(m: &Model, name: &str, left: Operand, right: Operand) -> Vec<Pasted> {
    let mut out = Vec::new();
    for f in &m.files {
        let toks = &f.scan.toks;
        let macros = &f.scan.dir.macros;
        let code: Vec<usize> = (0..toks.len())
            .filter(|&k| !matches!(toks[k].kind, Tok::Comment | Tok::Newline))
            .collect();
        let text = |k: usize| f.word(toks[k].start(), toks[k].end());
        let lines = &f.scan.dir.directive_lines;
        // `#undef M`, `#ifdef M`, `defined(M)`: not a use.
        let in_condition = |k: usize| {
            let n = lines.partition_point(|r| r.start <= k);
            n > 0
                && lines[n - 1].contains(&k)
                && toks[lines[n - 1].clone()]
                    .iter()
                    .filter(|t| !matches!(t.kind, Tok::Comment | Tok::Newline))
                    .nth(1)
                    .is_some_and(|t| {
                        f.word(t.start(), t.end()).starts_with("if")
                            || f.word(t.start(), t.end()).starts_with("el")
                            || f.word(t.start(), t.end()) == "undef"
                    })
        };
        for (j, &k) in code.iter().enumerate() {
            if toks[k].kind != Tok::Ident
                || text(k) != name
                || macros.iter().any(|d| d.name_at == toks[k].start())
                || in_condition(k)
            {
                continue;
            }
            let opens = code
                .get(j + 1)
                .is_some_and(|&n| toks[n].kind == Tok::Punct(b'('));
            if !opens {
                // The name passed on (`FOR_EACH(M)`, an X macro): invoked
                // where the engine does not see its arguments.
                let known = |o: Operand<'_>| match o {
                    Operand::Literal(w) => Some(w.to_string()),
                    _ => None,
                };
                out.push(match (known(left), known(right)) {
                    (Some(a), Some(b)) => Pasted::Exact(format!("{a}{b}")),
                    (Some(a), None) => Pasted::Prefix(a),
                    (None, Some(b)) => Pasted::Suffix(b),
                    (None, None) => Pasted::Any,
                });
                continue;
            }
            // The arguments: tokens split at commas outside parentheses.
            let mut args: Vec<Vec<usize>> = vec![Vec::new()];
            let mut depth = 0usize;
            for &n in &code[j + 1..] {
                match toks[n].kind {
                    Tok::Punct(b'(') => {
                        depth += 1;
                        if depth == 1 {
                            continue;
                        }
                    }
                    Tok::Punct(b')') => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    Tok::Punct(b',') if depth == 1 => {
                        args.push(Vec::new());
                        continue;
                    }
                    _ => {}
                }
                if let Some(last) = args.last_mut() {
                    last.push(n);
                }
            }
            let enclosing: Vec<&String> = macros
                .iter()
                .filter(|d| d.body.contains(&k))
                .flat_map(|d| d.params.iter().flatten())
                .collect();
            let value = |o: Operand<'_>| -> Option<String> {
                let p = match o {
                    Operand::Literal(w) => return Some(w.to_string()),
                    Operand::Param(p) => p,
                    Operand::Unknown => return None,
                };
                let &[n] = args.get(p)?.as_slice() else {
                    return None;
                };
                let w = text(n);
                let plain = matches!(toks[n].kind, Tok::Ident | Tok::Number);
                (plain && !enclosing.iter().any(|q| q.as_str() == w)).then(|| w.to_string())
            };
            out.push(match (value(left), value(right)) {
                (Some(a), Some(b)) => Pasted::Exact(format!("{a}{b}")),
                (Some(a), None) => Pasted::Prefix(a),
                (None, Some(b)) => Pasted::Suffix(b),
                (None, None) => Pasted::Any,
            });
        }
    }
    if out.is_empty() {
        if let Operand::Literal(a) = left {
            out.push(Pasted::Prefix(a.to_string()));
        }
        if let Operand::Literal(b) = right {
            out.push(Pasted::Suffix(b.to_string()));
        }
    }
    out
}

/// Every macro's body, grouped by name, with the expansion sites.
fn macro_infos(m: &mut Model, ctx_name: &str) -> Macros {
    let mut out = Macros::default();
    let mut entry: Vec<(NodeId, String)> = Vec::new();
    for fi in 0..m.files.len() {
        for index in 0..m.files[fi].scan.dir.macros.len() {
            out.infos
                .push(macro_info(m, fi, index, ctx_name, &mut entry));
        }
    }
    for (id, why) in entry {
        m.nodes[id].entry.push(why);
    }
    for (mi, info) in out.infos.iter().enumerate() {
        let name = &m.macro_def(info).name;
        let g = out.groups.entry(name.clone()).or_insert_with(|| {
            out.order.push(name.clone());
            MacroGroup::default()
        });
        g.defs.push(mi);
        g.calls_api |= info.calls.iter().any(|c| !c.done);
        g.has_done |= info.calls.iter().any(|c| c.done);
    }
    for info in &out.infos {
        let name = &m.macro_def(info).name;
        for r in &info.refs_macros {
            if let Some(g) = out.groups.get_mut(r) {
                if !g.in_macros.contains(name) {
                    g.in_macros.push(name.clone());
                }
            }
        }
    }
    for (fi, f) in m.files.iter().enumerate() {
        for (oi, o) in f.occs.iter().enumerate() {
            if let Some(g) = out.groups.get_mut(&o.name) {
                g.sites.push((fi, oi));
            }
        }
    }
    out
}

/// Reasons that come from a function's own definitions and name.
fn node_entry_reasons(m: &mut Model, opts: &Options) {
    for id in 0..m.nodes.len() {
        let mut why: Vec<String> = Vec::new();
        let node = &m.nodes[id];
        if let Some(&(fi, di)) = node
            .defs
            .iter()
            .find(|&&(fi, di)| m.files[fi].scan.funcs[di].positional_attr)
        {
            let here = m.pos_str(fi, m.files[fi].scan.funcs[di].name_at);
            why.push(format!(
                "an attribute refers to its parameters by position ({here})"
            ));
        }
        if let Some(&(fi, di)) = node.defs.iter().find(|&&(fi, di)| {
            let f = &m.files[fi].scan.funcs[di];
            f.params.as_ref().is_some_and(|p| p.defaults)
        }) {
            let here = m.pos_str(fi, m.files[fi].scan.funcs[di].name_at);
            why.push(format!(
                "its definition gives default arguments ({here}; C++ defaults are not modelled)"
            ));
        }
        if let Some(&(fi, di)) = node
            .defs
            .iter()
            .find(|&&(fi, di)| m.files[fi].scan.funcs[di].keep.is_some())
        {
            let f = &m.files[fi].scan.funcs[di];
            why.extend(f.keep.clone());
        }
        if node.name.starts_with("PyInit_") {
            why.push("module init function".into());
        }
        if opts.entry.contains(&node.name) {
            why.push("named as an entry point".into());
        }
        if m.api.contains(&node.name) {
            why.push("it has a C API name".into());
        }
        if node.static_file.is_none() && node.calls == 0 {
            why.push("not static and never called in the project (callable from outside)".into());
        }
        let prologue = node.defs.iter().any(|&(fi, di)| {
            matches!(
                m.files[fi].scan.funcs[di].existing_ctx,
                Some((_, CtxOrigin::Prologue))
            )
        });
        if prologue && !node.already {
            why.push("it already opens with a PyCtx variable".into());
        }
        // `#ifdef X / #define f(a, b) ... / #else / f's definition`: the
        // calls mean the macro in some configurations, and a macro cannot
        // take the context the function would.
        if let Some(&(mf, mi)) = m.names.macros.get(&node.name).and_then(|v| v.first()) {
            let here = m.pos_str(mf, m.files[mf].scan.dir.macros[mi].name_at);
            why.push(format!(
                "a macro of the same name is defined at {here} (its calls must keep their arguments)"
            ));
        }
        m.nodes[id].entry.extend(why);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SourceFile;
    use std::path::Path;

    fn model<'a>(files: &'a [SourceFile], api: &'a ApiNames) -> Model<'a> {
        let parsed = crate::parse::parse(files, api);
        let paths: Vec<&Path> = files.iter().map(|f| f.path.as_path()).collect();
        let incs: Vec<Vec<&str>> = parsed
            .files
            .iter()
            .map(|f| {
                f.scan
                    .dir
                    .includes
                    .iter()
                    .map(|i| i.path.as_str())
                    .collect()
            })
            .collect();
        let units = Units::build(&paths, &incs, None);
        resolve(parsed, units, api, &Options::default()).0
    }

    fn node<'m>(m: &'m Model, name: &str) -> &'m FNode {
        &m.nodes[m.nodes_by_name[name][0]]
    }

    #[test]
    fn a_static_of_an_included_c_file_is_visible_in_the_unit() {
        let files = vec![
            SourceFile::new("m.c", "#include \"a.c\"\n#include \"b.c\"\n"),
            SourceFile::new("a.c", "static int f(int x) { return x; }\n"),
            SourceFile::new("b.c", "static int g(int x) { return f(x); }\n"),
        ];
        let api = ApiNames::default();
        let m = model(&files, &api);
        let f = node(&m, "f");
        assert_eq!(f.calls, 1);
        assert_eq!(m.resolve_name(2, "f"), vec![m.nodes_by_name["f"][0]]);
        assert!(f.entry.is_empty(), "{:?}", f.entry);
    }

    #[test]
    fn a_header_sees_the_statics_of_its_includers_units() {
        let files = vec![
            SourceFile::new("m.c", "#include \"util.h\"\n#include \"impl.h\"\n"),
            SourceFile::new("util.h", "static int t(int x) { return x; }\n"),
            SourceFile::new("impl.h", "static int c(int x) { return t(x); }\n"),
        ];
        let api = ApiNames::default();
        let m = model(&files, &api);
        assert_eq!(node(&m, "t").calls, 1);
    }

    #[test]
    fn a_header_meaning_two_statics_makes_both_keep_their_signature() {
        let files = vec![
            SourceFile::new(
                "a.c",
                "static int h(int x) { return x; }\n#include \"u.h\"\n",
            ),
            SourceFile::new(
                "b.c",
                "static int h(int x) { return -x; }\n#include \"u.h\"\n",
            ),
            SourceFile::new("u.h", "static int use(int x) { return h(x); }\n"),
        ];
        let api = ApiNames::default();
        let m = model(&files, &api);
        assert_eq!(m.resolve_name(2, "h").len(), 2);
        for &id in &m.nodes_by_name["h"] {
            assert!(
                m.nodes[id].entry[0].contains("may refer to several definitions"),
                "{:?}",
                m.nodes[id].entry
            );
        }
    }

    #[test]
    fn a_macro_twin_keeps_the_function_signature() {
        let files = vec![SourceFile::new(
            "a.c",
            "#ifdef FAST\n#define get(a, b) ((a) + (b))\n#else\nstatic int get(int a, int b) { return a + b; }\n#endif\n\
             static int use(int x) { return get(x, 1); }\n",
        )];
        let api = ApiNames::default();
        let m = model(&files, &api);
        let e = &node(&m, "get").entry;
        assert!(
            e.iter()
                .any(|r| r.starts_with("a macro of the same name is defined at a.c:2")),
            "{e:?}"
        );
    }

    #[test]
    fn spellings_in_a_refused_function_are_uses_the_engine_cannot_rewrite() {
        // A K&R definition is refused; its call of seq_len stays as written.
        let files = vec![SourceFile::new(
            "mod.c",
            "static int seq_len(PyObject *o) { return (int)PyObject_Length(o); }\n\
             static int caller(o) PyObject *o; { return seq_len(o) > 0; }\n",
        )];
        let api = ApiNames::from_names(["PyObject_Length"]);
        let m = model(&files, &api);
        assert!(m.files[0].scan.funcs[1].refused.is_some());
        let e = &node(&m, "seq_len").entry;
        assert!(e.iter().any(|r| r.contains("which is refused")), "{e:?}");
    }
}
