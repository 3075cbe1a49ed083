//! Phase 4, edit: the decisions turned into byte-exact edits, with one
//! [`FunctionReport`] per definition and one [`MacroReport`] per macro
//! that uses the API. Entry point: [`edit`]; [`apply`] then produces the
//! new texts (adding `#include "pyctx.h"` where a file changed).

use crate::decide::{Selection, ThreadLegacy, Threading};
use crate::model::{Diag, FileId, Model, NodeId};
use crate::resolve::uses_own_ctx;
use crate::scan::{CallInfo, FirstArg, FuncDef, OccKind};
use crate::text::{self, call_text, param_edit, prologue_edit, Edit};
use crate::{
    Bridge, FunctionReport, LegacyCall, MacroReport, MacroStatus, Options, Severity, Status,
};
use std::collections::{BTreeSet, HashMap};

pub(crate) struct Edited {
    /// Per file.
    pub edits: Vec<Vec<Edit>>,
    /// (file, definition index, report).
    pub functions: Vec<(FileId, usize, FunctionReport)>,
    /// (file, name offset, report).
    pub macros: Vec<(FileId, usize, MacroReport)>,
    pub diags: Vec<Diag>,
}

/// Why a function or macro the run would have changed is reported as it
/// still is.
const STOPPED: &str = "unchanged: an error stopped the run (see the errors)";

impl Edited {
    /// The reports after an error stopped the run and no file changes:
    /// what each function and macro still is, and no change made. A
    /// function this run would have threaded or given a prologue is still
    /// legacy; one already migrated keeps its status, without this run's
    /// additions.
    pub fn report_nothing_changed(&mut self) {
        for (_, _, r) in &mut self.functions {
            if r.param_added || r.prologue_added {
                r.status = Status::Legacy;
                r.legacy_reason = Some(STOPPED.to_string());
                r.ctx_var = None;
            }
            r.param_added = false;
            r.prologue_added = false;
            r.prototypes_updated = 0;
            r.calls_rewritten = 0;
            r.callers_updated = 0;
            r.bridges.retain(|b| !b.added);
            r.trampoline = None;
        }
        for (_, _, r) in &mut self.macros {
            if r.calls_rewritten > 0 {
                r.status = MacroStatus::Legacy {
                    reason: STOPPED.to_string(),
                };
            }
            r.calls_rewritten = 0;
        }
    }
}

pub(crate) fn edit(m: &Model, sel: &Selection, thr: &Threading, opts: &Options) -> Edited {
    let mut out = Edited {
        edits: vec![Vec::new(); m.files.len()],
        // One report per definition, and they live to the end.
        functions: Vec::with_capacity(m.files.iter().map(|f| f.scan.funcs.len()).sum()),
        macros: Vec::new(),
        diags: Vec::new(),
    };
    let protos = prototype_edits(m, sel, thr, &opts.ctx_name, &mut out.edits);
    let mut incoming: HashMap<NodeId, usize> = HashMap::new();
    for fi in 0..m.files.len() {
        for di in 0..m.files[fi].scan.funcs.len() {
            let mut fe = FuncEdit {
                m,
                sel,
                thr,
                ctx_name: &opts.ctx_name,
                fi,
                di,
                edits: &mut out.edits[fi],
                diags: &mut out.diags,
                incoming: &mut incoming,
            };
            let mut rep = fe.report_skeleton(protos.get(&(fi, di)).copied().unwrap_or(0));
            fe.run(&mut rep);
            out.functions.push((fi, di, rep));
        }
    }
    for (fi, di, rep) in &mut out.functions {
        if let Some(id) = m.facts[*fi].node_of[*di] {
            rep.callers_updated = incoming.get(&id).copied().unwrap_or(0);
        }
    }
    macro_edits(m, sel, thr, &opts.ctx_name, &mut out);
    for (fi, f) in m.files.iter().enumerate() {
        for (at, msg) in &f.scan.top_errors {
            out.diags.push(m.diag(
                fi,
                *at,
                Severity::Warning,
                "parse-error",
                format!("{msg}; nothing in this region is rewritten"),
            ));
        }
    }
    out
}

/// Every prototype of a threaded function gains the parameter (named like
/// the definition's context). Returns the count per first definition.
fn prototype_edits(
    m: &Model,
    sel: &Selection,
    thr: &Threading,
    ctx_name: &str,
    edits: &mut [Vec<Edit>],
) -> HashMap<(FileId, usize), usize> {
    let mut counts = HashMap::new();
    for (id, node) in m.nodes.iter().enumerate() {
        if !thr.threaded[id] {
            continue;
        }
        let var = node
            .defs
            .iter()
            .find_map(|&d| {
                (sel.def(d).migratable || node.already)
                    .then(|| sel.def(d).var.clone())
                    .flatten()
            })
            .unwrap_or_else(|| ctx_name.to_string());
        for &(fi, pi) in &node.protos {
            let p = &m.files[fi].scan.protos[pi];
            if p.params.first_pyctx.is_none() {
                edits[fi].push(param_edit(&p.params, &var));
                if let Some(&d) = node.defs.first() {
                    *counts.entry(d).or_default() += 1;
                }
            }
        }
    }
    counts
}

/// The first argument is already a context the function has.
/// Does the call already pass a context first: a `PyCtx` parameter or
/// local of `f`, a file-scope `PyCtx` variable `f` does not shadow, or a
/// call returning one.
fn passes_ctx(file: &crate::model::FileModel, f: &FuncDef, c: &CallInfo) -> bool {
    let src = file.src();
    match &c.first {
        FirstArg::PyCtxCall => true,
        FirstArg::PyCtxGet(_) => true,
        FirstArg::Ident(v) => {
            f.pyctx_vars.contains(src, v)
                || (file.scan.file_ctx_vars.contains(v) && !f.declared.contains(src, v))
        }
        _ => false,
    }
}

/// Where a call sits in its function: which context variable it sees.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    /// In the body: the function's own.
    Body,
    /// In an inner scope (`FuncDef::inner_scopes`, innermost): the
    /// scope's own.
    Scope(usize),
    /// Before the body or after it (member initialisers, default
    /// arguments, a function-try-block's parts outside its blocks): none.
    Head,
}

impl Place {
    fn of(f: &FuncDef, at: usize) -> Place {
        let innermost = f
            .inner_scopes
            .iter()
            .enumerate()
            .filter(|(_, r)| r.start < at && at < r.end)
            .min_by_key(|(_, r)| r.end - r.start);
        match innermost {
            Some((k, _)) => Place::Scope(k),
            None if at < f.body_open || at > f.body_close => Place::Head,
            None => Place::Body,
        }
    }
}

/// The edits and report of one function definition.
struct FuncEdit<'m, 'e> {
    m: &'m Model<'m>,
    sel: &'m Selection,
    thr: &'m Threading,
    ctx_name: &'m str,
    fi: FileId,
    di: usize,
    edits: &'e mut Vec<Edit>,
    diags: &'e mut Vec<Diag>,
    /// Per threaded function: its calls that receive a context now.
    incoming: &'e mut HashMap<NodeId, usize>,
}

impl FuncEdit<'_, '_> {
    fn def(&self) -> &FuncDef {
        &self.m.files[self.fi].scan.funcs[self.di]
    }

    fn legacy(&self, at: usize, name: &str, reason: String, out: &mut Vec<LegacyCall>) {
        let (line, column) = self.m.files[self.fi].scan.lines.pos(at);
        out.push(LegacyCall {
            line,
            column,
            name: name.to_string(),
            reason,
        });
    }

    fn diag(&mut self, at: usize, sev: Severity, code: &str, msg: String) {
        self.diags.push(self.m.diag(self.fi, at, sev, code, msg));
    }

    fn report_skeleton(&self, prototypes_updated: usize) -> FunctionReport {
        let (m, fi, di) = (self.m, self.fi, self.di);
        let f = self.def();
        let node = m.facts[fi].node_of[di];
        let (line, _) = m.files[fi].scan.lines.pos(f.name_at);
        let entry_reason = node.filter(|&id| !self.thr.threaded[id]).and_then(|id| {
            let n = &m.nodes[id];
            n.entry
                .first()
                .cloned()
                .or_else(|| self.thr.fallback[id].clone())
                .or_else(|| {
                    n.defs
                        .iter()
                        .find(|&&d| !self.sel.def(d).migratable && d != (fi, di))
                        .map(|&(gi, gj)| {
                            format!(
                                "another definition ({}) is not migrated",
                                m.pos_str(gi, m.files[gi].scan.funcs[gj].name_at)
                            )
                        })
                })
        });
        FunctionReport {
            file: m.files[fi].source.path.clone(),
            line,
            name: f.name.clone(),
            is_static: f.is_static,
            status: Status::Legacy,
            entry_reason,
            ctx_var: None,
            param_added: false,
            prologue_added: false,
            prototypes_updated,
            calls_rewritten: 0,
            calls_already_ctx: 0,
            callers_updated: 0,
            bridges: Vec::new(),
            legacy_calls: Vec::new(),
            legacy_reason: None,
            trampoline: None,
        }
    }

    fn run(&mut self, rep: &mut FunctionReport) {
        if let Some(reason) = self.def().refused.clone() {
            self.refused(rep, reason);
            return;
        }
        if !self.sel.defs[self.fi][self.di].selected {
            self.unselected(rep);
        } else {
            self.selected(rep);
        }
    }

    fn refused(&mut self, rep: &mut FunctionReport, reason: String) {
        let name = self.def().name.clone();
        let at = self.def().name_at;
        self.diag(
            at,
            Severity::Warning,
            "refused",
            format!("`{name}` is not rewritten: {reason}"),
        );
        rep.status = Status::Refused { reason };
        let f = &self.m.files[self.fi];
        for &oi in &f.by_func[self.di] {
            let o = &f.occs[oi];
            if matches!(o.kind, OccKind::Call(_))
                && self.m.is_api_in(self.fi, &o.name)
                && !self.m.shadowed(self.fi, o)
            {
                self.legacy(
                    o.at,
                    &o.name,
                    "function refused".into(),
                    &mut rep.legacy_calls,
                );
            }
        }
    }

    fn macro_left_legacy(&self, name: &str) -> Option<String> {
        let g = self.m.macros.groups.get(name)?;
        let c = self.sel.macros.get(name);
        (g.calls_api && !c.is_some_and(|c| c.rewritable))
            .then(|| c.and_then(|c| c.legacy_reason.clone()).unwrap_or_default())
    }

    /// Not selected (or switching the thread state): legacy, except that
    /// calls of threaded functions pass `PyCtx_Get()` (bridges).
    fn unselected(&mut self, rep: &mut FunctionReport) {
        let (m, fi, di) = (self.m, self.fi, self.di);
        let f = self.def().clone();
        rep.status = Status::Legacy;
        let switch = self.sel.defs[fi][di].switch.clone();
        if let Some(sw) = &switch {
            let (reason, note) = thread_legacy_text(&f.name, sw, &m.pos_str(fi, sw.at));
            rep.legacy_reason = Some(reason);
            self.diag(f.name_at, Severity::Note, "thread-switch", note);
        } else if let Some(why) = &self.sel.defs[fi][di].backed_out {
            rep.legacy_reason = Some(format!("backed out: {why}"));
            self.diag(
                f.name_at,
                Severity::Warning,
                "verify",
                format!("`{}` is left legacy: {why}", f.name),
            );
        } else {
            rep.legacy_reason = Some("not selected".to_string());
        }
        let file = &m.files[fi];
        for &oi in &file.by_func[di] {
            let o = &file.occs[oi];
            if o.in_error {
                continue;
            }
            if let OccKind::Call(c) = &o.kind {
                if let Some(&t) = m.facts[fi].call_target.get(&oi) {
                    if self.thr.threaded[t] && self.bridge(&f, o.at, &o.name, c, rep) {
                        *self.incoming.entry(t).or_default() += 1;
                    }
                    continue;
                }
                if m.is_api_in(fi, &o.name) && !m.shadowed(fi, o) {
                    if passes_ctx(&m.files[fi], &f, c) {
                        rep.calls_already_ctx += 1;
                    } else {
                        let why = if let Some(sw) = &switch {
                            if sw.unthreadable.is_some() {
                                "function saves or restores the thread state and keeps its signature"
                            } else {
                                "function switches the thread state"
                            }
                        } else {
                            "function not selected"
                        };
                        self.legacy(o.at, &o.name, why.into(), &mut rep.legacy_calls);
                    }
                }
            }
            if self.macro_left_legacy(&o.name).is_some() {
                self.legacy(
                    o.at,
                    &o.name,
                    "macro calling the API, in a function not selected".into(),
                    &mut rep.legacy_calls,
                );
            }
        }
        if m.facts[fi].node_of[di].is_some_and(|id| m.nodes[id].already) {
            rep.ctx_var = self.sel.defs[fi][di].var.clone();
        }
    }

    /// Returns whether the bridge is added now.
    fn bridge(
        &mut self,
        f: &FuncDef,
        at: usize,
        callee: &str,
        c: &CallInfo,
        rep: &mut FunctionReport,
    ) -> bool {
        let done = passes_ctx(&self.m.files[self.fi], f, c);
        let (line, column) = self.m.files[self.fi].scan.lines.pos(at);
        if !done {
            self.edits
                .push(Edit::insert(c.open + 1, call_text("PyCtx_Get()", c)));
            self.diag(
                at,
                Severity::Note,
                "bridge",
                format!(
                    "`{callee}` takes a context now; `{}` is not migrated and passes PyCtx_Get()",
                    f.name
                ),
            );
        }
        rep.bridges.push(Bridge {
            line,
            column,
            callee: callee.to_string(),
            added: !done,
        });
        !done
    }

    /// Selected and parseable: the signature (parameter, prologue or
    /// trampoline) and every call.
    fn selected(&mut self, rep: &mut FunctionReport) {
        let (fi, di) = (self.fi, self.di);
        let f = self.def().clone();
        let st = &self.sel.defs[fi][di];
        let var = st.var.clone().unwrap_or_else(|| self.ctx_name.to_string());
        let threaded = self.thr.node_threaded(self.m.facts[fi].node_of[di]);
        let needs = self.thr.needs[fi][di];
        if threaded {
            rep.status = Status::Threaded;
            if let Some(p) = f.params.as_ref().filter(|p| p.first_pyctx.is_none()) {
                self.edits.push(param_edit(p, &var));
                rep.param_added = true;
            }
        } else if needs {
            rep.status = Status::EntryPoint;
            self.entry_signature(&f, &var, rep);
        } else {
            rep.status = Status::NoContext;
        }
        let has_ctx = threaded || needs;
        if has_ctx {
            rep.ctx_var = Some(var.clone());
            if st.renamed && (rep.param_added || rep.prologue_added) {
                self.diag(
                    f.name_at,
                    Severity::Note,
                    "ctx-renamed",
                    format!(
                        "`{}` is already used in `{}`: its context is named `{var}`",
                        self.ctx_name, f.name
                    ),
                );
            }
        }
        let unconditional_use = self.calls(&f, &var, has_ctx, rep);
        if rep.prologue_added {
            let file = &self.m.files[fi];
            self.edits.push(prologue_edit(
                file.src(),
                &f,
                &var,
                file.scan.eol,
                !unconditional_use,
            ));
        }
    }

    /// An entry point: a trampoline when planned, else the prologue.
    fn entry_signature(&mut self, f: &FuncDef, var: &str, rep: &mut FunctionReport) {
        let eol = self.m.files[self.fi].scan.eol;
        match self.thr.tramps.get(&(self.fi, self.di)) {
            Some(Ok((imp, line))) => {
                self.edits.push(Edit::insert(
                    f.name_at + f.name.len(),
                    imp[f.name.len()..].to_string(),
                ));
                if let Some(p) = &f.params {
                    self.edits.push(param_edit(p, var));
                }
                self.edits
                    .push(Edit::insert(f.range.end, format!("{eol}{line}")));
                rep.param_added = true;
                rep.trampoline = Some(imp.clone());
            }
            Some(Err(why)) => {
                self.diag(
                    f.name_at,
                    Severity::Note,
                    "trampoline",
                    format!("`{}` keeps PyCtx_Get(): {why}", f.name),
                );
                rep.prologue_added = f.existing_ctx.is_none();
            }
            None => rep.prologue_added = f.existing_ctx.is_none(),
        }
    }

    /// The calls of a selected function. Returns whether the context is
    /// used outside every conditional group.
    fn calls(&mut self, f: &FuncDef, var: &str, has_ctx: bool, rep: &mut FunctionReport) -> bool {
        let (m, fi) = (self.m, self.fi);
        let file = &m.files[fi];
        let mut unconditional_use = false;
        let mut scopes_used: BTreeSet<usize> = BTreeSet::new();
        for &oi in &file.by_func[self.di] {
            let o = &file.occs[oi];
            if o.in_error {
                // A call the tree does not show (in the arguments of a
                // macro standing for syntax): it stays as written.
                if matches!(o.kind, OccKind::Call(_))
                    && m.is_api_in(fi, &o.name)
                    && !m.shadowed(fi, o)
                {
                    self.legacy(
                        o.at,
                        &o.name,
                        "in the arguments of a macro the parser cannot see through".into(),
                        &mut rep.legacy_calls,
                    );
                }
                continue;
            }
            // A macro that is also a function's name is not always that
            // macro: its expansion is a conditional use.
            if !o.in_cond
                && self.sel.macro_needs_ctx(m, &o.name)
                && !m.names.funcs.contains(&o.name)
            {
                unconditional_use = true;
            }
            if let OccKind::Call(c) = &o.kind {
                let target = m.facts[fi]
                    .call_target
                    .get(&oi)
                    .copied()
                    .filter(|&t| self.thr.threaded[t]);
                let target_threaded = target.is_some();
                let api_call = m.is_api_in(fi, &o.name) && !m.shadowed(fi, o);
                if (api_call || target_threaded) && c.split_callee {
                    // `#if A f #else g #endif (x)`: one argument list for
                    // names that need not all take a context (a private
                    // function, a project function). Resolve gives a
                    // project function so called its signature.
                    self.legacy(
                        o.at,
                        &o.name,
                        "the called name is chosen by `#if` apart from its arguments, which every choice shares".into(),
                        &mut rep.legacy_calls,
                    );
                    continue;
                }
                if api_call && c.qualified {
                    // `::NAME(v)`: qualified names take no part in
                    // argument-dependent lookup, so `::NAME(ctx, v)` would
                    // not find the ctx overload (docs/migration-policy.md).
                    self.legacy(
                        o.at,
                        &o.name,
                        "a qualified call (`::NAME(...)`, C++): the ctx form is found by argument-dependent lookup, which qualified names skip".into(),
                        &mut rep.legacy_calls,
                    );
                    continue;
                }
                if target_threaded || api_call {
                    if api_call && c.lvalue {
                        self.legacy(
                            o.at,
                            &o.name,
                            "used as an lvalue (the ctx form is an rvalue)".into(),
                            &mut rep.legacy_calls,
                        );
                        self.diag(
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
                    let place = Place::of(f, o.at);
                    if !o.in_cond && uses_own_ctx(file.src(), f, c) && place == Place::Body {
                        unconditional_use = true;
                    }
                    let before = rep.calls_rewritten;
                    match place {
                        Place::Body => self.pass_ctx(f, c, var, has_ctx, rep),
                        Place::Scope(k) => {
                            self.pass_ctx(f, c, var, has_ctx, rep);
                            if rep.calls_rewritten > before {
                                scopes_used.insert(k);
                            }
                        }
                        Place::Head => self.pass_ctx_inline(f, c, has_ctx, rep),
                    }
                    let inserted =
                        rep.calls_rewritten > before && !matches!(c.first, FirstArg::PyCtxGet(_));
                    if let (Some(t), true) = (target, inserted) {
                        *self.incoming.entry(t).or_default() += 1;
                    }
                    continue;
                }
            }
            if let Some(reason) = self.macro_left_legacy(&o.name) {
                self.legacy(
                    o.at,
                    &o.name,
                    format!("expands macro `{}`, left legacy: {reason}", o.name),
                    &mut rep.legacy_calls,
                );
            }
        }
        for k in scopes_used {
            self.scope_prologue(f, k, var);
        }
        unconditional_use
    }

    /// `PyCtx V = PyCtx_Get();` at the top of an inner scope (a lambda
    /// body, ...) where a call passes a context now, unless it has one.
    fn scope_prologue(&mut self, f: &FuncDef, k: usize, var: &str) {
        let file = &self.m.files[self.fi];
        let src = file.src();
        let r = f.inner_scopes[k].clone();
        let decl = format!("PyCtx {var} = PyCtx_Get();");
        let first = src[r.start + 1..r.end]
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .map_or(r.end, |j| r.start + 1 + j);
        if src[first..].starts_with(decl.as_bytes()) {
            return;
        }
        let scope = FuncDef {
            body_open: r.start,
            body_close: r.end,
            ..f.clone()
        };
        self.edits
            .push(prologue_edit(src, &scope, var, file.scan.eol, false));
    }

    /// A call outside the body and every inner scope (a constructor's
    /// member initialisers, a default argument): no context variable is
    /// in scope there, so the call fetches one itself.
    fn pass_ctx_inline(
        &mut self,
        f: &FuncDef,
        c: &CallInfo,
        has_ctx: bool,
        rep: &mut FunctionReport,
    ) {
        if matches!(c.first, FirstArg::PyCtxGet(_)) || passes_ctx(&self.m.files[self.fi], f, c) {
            rep.calls_already_ctx += 1;
        } else if has_ctx {
            self.edits
                .push(Edit::insert(c.open + 1, call_text("PyCtx_Get()", c)));
            rep.calls_rewritten += 1;
        }
    }

    fn pass_ctx(
        &mut self,
        f: &FuncDef,
        c: &CallInfo,
        var: &str,
        has_ctx: bool,
        rep: &mut FunctionReport,
    ) {
        if let (FirstArg::PyCtxGet(r), true) = (&c.first, has_ctx) {
            // A bridge from an earlier, partial run: the function has its
            // own context now.
            self.edits.push(Edit {
                at: r.start,
                del: r.end - r.start,
                text: var.into(),
            });
            rep.calls_rewritten += 1;
        } else if passes_ctx(&self.m.files[self.fi], f, c) {
            rep.calls_already_ctx += 1;
        } else if has_ctx && c.object_like {
            // `PyDateTime_IMPORT` → `PyDateTime_IMPORT_CTX(ctx)`: an
            // insertion after the name, never a replacement.
            let text = format!("{}({var})", crate::OBJECT_LIKE_CTX_SUFFIX);
            self.edits.push(Edit::insert(c.open, text));
            rep.calls_rewritten += 1;
        } else if has_ctx {
            self.edits.push(Edit::insert(c.open + 1, call_text(var, c)));
            rep.calls_rewritten += 1;
        }
    }
}

/// Macro bodies that get `ctx`, macro reports, and the `macro-alias` /
/// `macro-legacy` / `macro-ctx` diagnostics.
fn macro_edits(m: &Model, sel: &Selection, thr: &Threading, ctx_name: &str, out: &mut Edited) {
    for name in &m.macros.order {
        let g = &m.macros.groups[name];
        let choice = sel.macros.get(name);
        let rewritable = choice.is_some_and(|c| c.rewritable);
        let legacy_reason = choice
            .and_then(|c| c.legacy_reason.clone())
            .unwrap_or_default();
        alias_note(m, name, out);
        if !g.calls_api && !g.has_done {
            continue;
        }
        let expansions = g
            .sites
            .iter()
            .filter(|&&(fi, oi)| m.files[fi].occs[oi].func.is_some())
            .count();
        for &mi in &g.defs {
            let info = &m.macros.infos[mi];
            if info.calls.is_empty() {
                continue;
            }
            let def = m.macro_def(info);
            let mut rewritten = 0;
            if rewritable {
                for c in info.calls.iter().filter(|c| !c.done) {
                    let ci = CallInfo {
                        open: c.open,
                        empty: c.empty,
                        newline_after_open: false,
                        first: FirstArg::None,
                        lvalue: false,
                        qualified: false,
                        object_like: false,
                        split_callee: false,
                    };
                    out.edits[info.file].push(Edit::insert(c.open + 1, call_text(ctx_name, &ci)));
                    rewritten += 1;
                }
            } else if g.calls_api {
                out.diags.push(m.diag(
                    info.file,
                    def.name_at,
                    Severity::Note,
                    "macro-legacy",
                    format!(
                        "macro `{name}` calls the API in its body; left legacy (runs through compat): {legacy_reason}"
                    ),
                ));
            }
            let mut api_calls: Vec<String> = info.calls.iter().map(|c| c.name.clone()).collect();
            api_calls.sort();
            api_calls.dedup();
            let (line, _) = m.files[info.file].scan.lines.pos(def.name_at);
            out.macros.push((
                info.file,
                def.name_at,
                MacroReport {
                    file: m.files[info.file].source.path.clone(),
                    line,
                    name: name.clone(),
                    api_calls,
                    status: if rewritable {
                        MacroStatus::Rewritten
                    } else {
                        MacroStatus::Legacy {
                            reason: legacy_reason.clone(),
                        }
                    },
                    calls_rewritten: rewritten,
                    expansions,
                },
            ));
        }
        if g.has_done {
            ctx_macro_sites(m, sel, thr, ctx_name, name, out);
        }
    }
}

/// A macro naming API functions without calling them.
fn alias_note(m: &Model, name: &str, out: &mut Edited) {
    let g = &m.macros.groups[name];
    let mut a: Vec<String> = g
        .defs
        .iter()
        .flat_map(|&mi| m.macros.infos[mi].aliases.iter().cloned())
        .collect();
    if a.is_empty() || m.alias_macros.contains(name) {
        return;
    }
    a.sort();
    a.dedup();
    let info = &m.macros.infos[g.defs[0]];
    out.diags.push(m.diag(
        info.file,
        m.macro_def(info).name_at,
        Severity::Note,
        "macro-alias",
        format!(
            "macro `{name}` names API {} without calling it: its expansions are left as written",
            a.join(", ")
        ),
    ));
}

/// A macro that already passes `ctx` needs it at every expansion.
fn ctx_macro_sites(
    m: &Model,
    sel: &Selection,
    thr: &Threading,
    ctx_name: &str,
    name: &str,
    out: &mut Edited,
) {
    for &(fi, oi) in &m.macros.groups[name].sites {
        let o = &m.files[fi].occs[oi];
        let ok = o.func.is_some_and(|f| {
            let st = &sel.defs[fi][f];
            st.var.as_deref() == Some(ctx_name)
                && (m.files[fi].scan.funcs[f].existing_ctx.is_some()
                    || (st.migratable
                        && (thr.needs[fi][f] || thr.node_threaded(m.facts[fi].node_of[f]))))
        });
        if !ok {
            out.diags.push(m.diag(
                fi,
                o.at,
                Severity::Warning,
                "macro-ctx",
                format!(
                    "macro `{name}` passes `{ctx_name}` to the API, but no context named `{ctx_name}` is in scope here"
                ),
            ));
        }
    }
}

/// A file's new text: its edits plus `#include "pyctx.h"` when it has
/// edits and no include of it yet (outside every conditional group). The
/// text itself is made when it is needed ([`Applied::text`]): the check
/// reads it a piece at a time ([`Applied::output`]).
pub(crate) struct Applied {
    /// The edits applied, sorted by offset (to map output positions back
    /// to the input); none when the file is unchanged.
    pub edits: Vec<Edit>,
    pub include_added: bool,
}

impl Applied {
    pub fn unchanged() -> Applied {
        Applied {
            edits: Vec::new(),
            include_added: false,
        }
    }

    pub fn changed(&self) -> bool {
        !self.edits.is_empty()
    }

    /// The new text of `src` (the input it was applied to), if changed.
    pub fn output<'a>(&'a self, src: &'a str) -> Option<text::Output<'a>> {
        self.changed()
            .then(|| text::Output::new(src.as_bytes(), &self.edits))
    }

    /// [`Applied::output`], as one string.
    pub fn text(&self, src: &str) -> Option<String> {
        self.output(src)
            .map(|o| String::from_utf8(o.text()).expect("edits keep UTF-8"))
    }
}

/// Err: an internal error (overlapping edits).
pub(crate) fn apply(m: &Model, fi: FileId, mut edits: Vec<Edit>) -> Result<Applied, String> {
    let f = &m.files[fi];
    let mut include_added = false;
    if !edits.is_empty() {
        // An include of pyctx.h inside a conditional group does not count:
        // some configuration would miss it. Nor does one after the first
        // edit: what the edits add would come before the declarations. Nor
        // one before the file sees an extra header whose names it calls
        // (datetime.h, ...): pyctx.h adds their ctx forms only after it.
        let anchor = extra_include_anchor(m, fi);
        let first_edit = edits.iter().map(|e| e.at).min().unwrap_or(usize::MAX);
        let pyctx_includes: Vec<usize> = crate::pp::top_level_includes(&f.scan)
            .into_iter()
            .filter(|(i, _)| i.path == "pyctx.h" || i.path.ends_with("/pyctx.h"))
            .map(|(_, at)| at)
            .collect();
        let early = pyctx_includes.iter().any(|&at| at < first_edit);
        let after_anchor = anchor == 0 || pyctx_includes.iter().any(|&at| at >= anchor);
        if !after_anchor {
            edits.push(text::include_edit_at(anchor, f.scan.eol));
            include_added = true;
        }
        // An extra header included after the first edit (rare): the
        // include after it serves its names, one where Rule 10 puts it
        // the edits before.
        if !early && (after_anchor || anchor > first_edit) {
            edits.push(text::include_edit(f.src(), &f.scan));
            include_added = true;
        }
    }
    if edits.is_empty() {
        return Ok(Applied::unchanged());
    }
    edits.sort_by_key(|e| e.at);
    text::check_sorted(&f.source.text, &edits)?;
    Ok(Applied {
        edits,
        include_added,
    })
}

/// Where file `fi`'s `#include "pyctx.h"` must come after: the latest
/// point from which it sees the extra headers of the API names it calls
/// (the end of that include line; 0: anywhere).
fn extra_include_anchor(m: &Model, fi: FileId) -> usize {
    m.files[fi]
        .occs
        .iter()
        .filter(|o| matches!(o.kind, OccKind::Call(_)) && o.func.is_some() && m.plain_api(&o.name))
        .filter_map(|o| m.extra_anchor(fi, &o.name))
        .max()
        .unwrap_or(0)
}

/// The legacy reason and the `thread-switch` note of function `name`,
/// kept legacy by its thread-state call `sw` (at `here`).
fn thread_legacy_text(name: &str, sw: &ThreadLegacy, here: &str) -> (String, String) {
    let api = &sw.api;
    match &sw.unthreadable {
        None => (
            format!(
                "it switches the thread state ({api} at {here}): a context taken at entry would be stale"
            ),
            format!("`{name}` calls {api} ({here}): left legacy, each call reads the current thread state"),
        ),
        Some(why) => (
            format!(
                "it saves or restores the thread state ({api} at {here}) and cannot be threaded ({why}): a context taken at entry could be detached"
            ),
            format!(
                "`{name}` calls {api} ({here}) and keeps its signature ({why}): left legacy, not an entry point, since it may be entered without a thread state"
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ApiNames, SourceFile};
    use std::collections::BTreeMap;
    use std::path::Path;

    /// Parse, resolve and decide `files`, then run the edit phase.
    fn edited(files: &[SourceFile], opts: &Options) -> (Vec<String>, Vec<FunctionReport>) {
        let api = ApiNames::from_names(["PyObject_IsTrue", "PyBool_FromLong"]);
        let parsed = crate::parse::parse(files, &api);
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
        let units = crate::units::Units::build(&paths, &incs, None);
        let (m, _) = crate::resolve::resolve(parsed, units, &api, opts);
        let sel = crate::decide::select(&m, opts, &BTreeMap::new(), &BTreeMap::new());
        let thr = crate::decide::thread(&m, &sel, &BTreeMap::new(), opts);
        let mut e = edit(&m, &sel, &thr, opts);
        let texts = std::mem::take(&mut e.edits)
            .into_iter()
            .enumerate()
            .map(|(fi, ed)| {
                apply(&m, fi, ed)
                    .unwrap()
                    .text(&files[fi].text)
                    .unwrap_or_else(|| files[fi].text.clone())
            })
            .collect();
        (texts, e.functions.into_iter().map(|(_, _, r)| r).collect())
    }

    const H: &str = "int helper(PyObject *o);\n";
    const C: &str = "#include <Python.h>\n#include \"h.h\"\n\
        int helper(PyObject *o) { return PyObject_IsTrue(o); }\n\
        static PyObject *meth(PyObject *s, PyObject *o) { return PyBool_FromLong(helper(o)); }\n\
        static int legacy(PyObject *o) { return helper(o); }\n\
        static PyMethodDef t[] = {{\"m\", meth, METH_O, NULL}, {\"l\", (PyCFunction)legacy, 0, NULL}};\n";

    #[test]
    fn threading_edits_definition_prototype_and_every_call() {
        let files = [SourceFile::new("h.h", H), SourceFile::new("a.c", C)];
        let opts = Options {
            exclude: ["legacy".to_string()].into(),
            ..Options::default()
        };
        let (texts, reps) = edited(&files, &opts);
        assert_eq!(
            texts[0],
            "#include \"pyctx.h\"\nint helper(PyCtx ctx, PyObject *o);\n"
        );
        let a = &texts[1];
        assert!(
            a.contains("#include <Python.h>\n#include \"pyctx.h\"\n"),
            "{a}"
        );
        assert!(
            a.contains("int helper(PyCtx ctx, PyObject *o) { return PyObject_IsTrue(ctx, o); }"),
            "{a}"
        );
        assert!(
            a.contains("{ PyCtx ctx = PyCtx_Get(); return PyBool_FromLong(ctx, helper(ctx, o)); }"),
            "{a}"
        );
        // The unselected caller passes a bridge.
        assert!(a.contains("return helper(PyCtx_Get(), o);"), "{a}");
        let helper = &reps[0];
        assert_eq!(helper.status, Status::Threaded);
        assert_eq!((helper.prototypes_updated, helper.callers_updated), (1, 2));
        let legacy = &reps[2];
        assert_eq!(legacy.status, Status::Legacy);
        assert!(legacy.bridges[0].added);
    }

    #[test]
    fn the_output_is_a_fixed_point() {
        let files = [SourceFile::new("h.h", H), SourceFile::new("a.c", C)];
        let (texts, _) = edited(&files, &Options::default());
        let again: Vec<SourceFile> = ["h.h", "a.c"]
            .iter()
            .zip(&texts)
            .map(|(p, t)| SourceFile::new(*p, t.clone()))
            .collect();
        let (texts2, reps) = edited(&again, &Options::default());
        assert_eq!(texts, texts2);
        assert!(reps.iter().all(|r| r.calls_rewritten == 0
            && r.callers_updated == 0
            && !r.param_added
            && !r.prologue_added));
    }
}
