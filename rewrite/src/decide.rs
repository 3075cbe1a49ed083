//! Phase 3, decide: what becomes of every function and macro.
//!
//! - [`select`] (once per run): which definitions are migrated (options,
//!   refusals, thread-state switches), each one's context variable name,
//!   and the macro policy (which macros get `ctx` in their body);
//! - [`thread`] (once per round of the engine's check loop): which
//!   functions need a context (a fixed point over the call graph), which
//!   are threaded (gain `PyCtx ctx`) and which stay entry points, and,
//!   with `Options::trampolines`, the trampoline plan. `fallbacks` are the
//!   functions the check phase sent back to their signature, with why.

use crate::lex::Tok;
use crate::model::{DefId, Model, NodeId};
use crate::resolve::uses_own_ctx;
use crate::scan::OccKind;
use crate::Options;
use pyctx_api::exceptions::{thread_state_effect, ThreadStateEffect};
use std::collections::{BTreeMap, HashMap, HashSet};

/// A thread-state call that keeps a selected function legacy.
#[derive(Clone, Debug)]
pub(crate) struct ThreadLegacy {
    /// The API function and where it is called.
    pub api: String,
    pub at: usize,
    /// `None`: the call may switch to another thread state. `Some(why)`:
    /// a save/restore call, in a function that cannot be threaded (why),
    /// so it would take its context at entry, perhaps detached.
    pub unthreadable: Option<String>,
}

/// What [`select`] decides about one definition.
#[derive(Default, Clone)]
pub(crate) struct DefChoice {
    pub selected: bool,
    /// Selected, parseable and part of a project function.
    pub migratable: bool,
    /// Why its thread-state calls keep it legacy, if they do (boxed: few
    /// definitions do, and the choice is made for every definition).
    pub switch: Option<Box<ThreadLegacy>>,
    /// Migratable and calls `PyEval_SaveThread` / `PyEval_RestoreThread`:
    /// threaded or legacy, never an entry point.
    pub save_restore: bool,
    /// Why the verification backed its rewrite out (it stays legacy).
    pub backed_out: Option<String>,
    /// Its context variable (existing, or to introduce).
    pub var: Option<String>,
    pub renamed: bool,
    /// Calls the API (or a rewritten macro) itself.
    pub direct_need: bool,
}

pub(crate) struct MacroChoice {
    pub rewritable: bool,
    pub legacy_reason: Option<String>,
}

pub(crate) struct Selection {
    /// Per file, per definition.
    pub defs: Vec<Vec<DefChoice>>,
    /// Macro groups that call the API or already pass the context.
    pub macros: HashMap<String, MacroChoice>,
}

impl Selection {
    pub fn def(&self, (fi, di): DefId) -> &DefChoice {
        &self.defs[fi][di]
    }

    /// The definitions of node `id` that save or restore the thread state
    /// (they must not become entry points).
    pub fn save_restore_defs<'a>(
        &'a self,
        m: &'a Model,
        id: NodeId,
    ) -> impl Iterator<Item = DefId> + 'a {
        m.nodes[id]
            .defs
            .iter()
            .copied()
            .filter(|&d| self.def(d).save_restore)
    }

    /// A macro whose expansions need the context (rewritten now, or
    /// passing it already).
    pub fn macro_needs_ctx(&self, m: &Model, name: &str) -> bool {
        m.macros
            .groups
            .get(name)
            .is_some_and(|g| g.has_done || self.macros.get(name).is_some_and(|c| c.rewritable))
    }
}

/// `backed_out`: definitions the verification (a compiler run on the
/// output) sent back to legacy, with why. `unthreadable`: definitions that
/// save or restore the thread state and that the check phase sent back to
/// their signature, with why (they stay legacy rather than entry points).
pub(crate) fn select(
    m: &Model,
    opts: &Options,
    backed_out: &BTreeMap<DefId, String>,
    unthreadable: &BTreeMap<DefId, String>,
) -> Selection {
    let mut defs: Vec<Vec<DefChoice>> = m
        .files
        .iter()
        .enumerate()
        .map(|(fi, f)| {
            f.scan
                .funcs
                .iter()
                .enumerate()
                .map(|(di, d)| {
                    let switch = thread_calls(m, fi, di).and_then(|(api, at, effect)| {
                        let unthreadable = match effect {
                            ThreadStateEffect::Switch => None,
                            ThreadStateEffect::SaveRestore => Some(
                                unthreadable
                                    .get(&(fi, di))
                                    .cloned()
                                    .or_else(|| keeps_signature(m, fi, di))?,
                            ),
                        };
                        Some(Box::new(ThreadLegacy {
                            api,
                            at,
                            unthreadable,
                        }))
                    });
                    let backed_out = backed_out.get(&(fi, di)).cloned();
                    let selected = opts.selects(&f.source.path, &d.name)
                        && switch.is_none()
                        && backed_out.is_none();
                    DefChoice {
                        selected,
                        migratable: selected
                            && d.refused.is_none()
                            && m.facts[fi].node_of[di].is_some(),
                        switch,
                        backed_out,
                        ..Default::default()
                    }
                })
                .collect()
        })
        .collect();
    unthreadable_save_restore(m, &mut defs);
    for (fi, v) in defs.iter_mut().enumerate() {
        for (di, c) in v.iter_mut().enumerate() {
            c.save_restore = c.migratable && thread_calls(m, fi, di).is_some();
        }
    }
    context_names(m, &opts.ctx_name, &mut defs);
    let mut sel = Selection {
        macros: macro_policy(m, &opts.ctx_name, &defs),
        defs,
    };
    direct_needs(m, &mut sel);
    sel
}

/// The function's calls that change the thread state: the first that may
/// switch to another thread state, else the first save/restore call.
///
/// A function that switches keeps its legacy calls: a context fetched at
/// entry would be stale (or detached) after the switch; each legacy call
/// reads the current thread state afresh. A function that only saves and
/// restores (`PyEval_SaveThread` / `PyEval_RestoreThread`, the unrolled
/// `Py_BEGIN/END_ALLOW_THREADS`) detaches and re-attaches the thread state
/// its caller was attached with: a context received from that caller is
/// the right one before the save and after the restore, so it may be
/// threaded; it must not take `PyCtx_Get()` at entry, for it may be
/// entered detached (a restore helper), and then that context would be
/// detached after the restore too.
fn thread_calls(m: &Model, fi: usize, di: usize) -> Option<(String, usize, ThreadStateEffect)> {
    let f = &m.files[fi];
    let mut calls = f.by_func[di].iter().filter_map(|&oi| {
        let o = &f.occs[oi];
        if !matches!(o.kind, OccKind::Call(_))
            || f.scan.funcs[di].declared.contains(f.src(), &o.name)
        {
            return None;
        }
        thread_state_effect(&o.name).map(|e| (o.name.clone(), o.at, e))
    });
    let first = calls.next()?;
    if first.2 == ThreadStateEffect::Switch {
        return Some(first);
    }
    Some(
        calls
            .find(|c| c.2 == ThreadStateEffect::Switch)
            .unwrap_or(first),
    )
}

/// Why definition `(fi, di)` keeps its signature whatever the options:
/// no project function, or one that must stay an entry point (address
/// taken, called from outside, ...).
fn keeps_signature(m: &Model, fi: usize, di: usize) -> Option<String> {
    match m.facts[fi].node_of[di] {
        None => Some("it is not a project function the engine can thread".to_string()),
        Some(id) => m.nodes[id].entry.first().cloned(),
    }
}

/// A save/restore function is threaded or legacy, never an entry point:
/// one whose other definitions are not migrated (so the function keeps
/// its signature) is legacy too. Repeated until nothing changes (a
/// definition turned legacy can make another's node unthreadable).
fn unthreadable_save_restore(m: &Model, defs: &mut [Vec<DefChoice>]) {
    loop {
        let mut changed = false;
        for (fi, f) in m.files.iter().enumerate() {
            for di in 0..f.scan.funcs.len() {
                if !defs[fi][di].migratable {
                    continue;
                }
                let Some((api, at, ThreadStateEffect::SaveRestore)) = thread_calls(m, fi, di)
                else {
                    continue;
                };
                let Some(id) = m.facts[fi].node_of[di] else {
                    continue;
                };
                let other = m.nodes[id]
                    .defs
                    .iter()
                    .find(|&&(gi, gj)| !defs[gi][gj].migratable);
                let Some(&(gi, gj)) = other else { continue };
                let why = format!(
                    "another definition ({}) is not migrated",
                    m.pos_str(gi, m.files[gi].scan.funcs[gj].name_at)
                );
                let c = &mut defs[fi][di];
                c.selected = false;
                c.migratable = false;
                c.switch = Some(Box::new(ThreadLegacy {
                    api,
                    at,
                    unthreadable: Some(why),
                }));
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
}

/// Identifiers a macro brings into a function when expanded, through the
/// macros it expands in turn.
fn macro_idents(m: &Model, name: &str) -> HashSet<String> {
    let mut out = HashSet::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut stack = vec![name.to_string()];
    while let Some(n) = stack.pop() {
        if !seen.insert(n.clone()) {
            continue;
        }
        for mi in m.macros.groups.get(&n).map(|g| &g.defs[..]).unwrap_or(&[]) {
            let info = &m.macros.infos[*mi];
            out.extend(info.idents.iter().cloned());
            stack.extend(info.refs_macros.iter().cloned());
        }
    }
    out
}

/// Each function's context variable: its existing one, else `ctx_name`,
/// else `pyctx_ctx`, `pyctx_ctx2`, ... when the name is taken (by an
/// identifier of the function, a macro, or what a macro it expands
/// brings in).
fn context_names(m: &Model, ctx_name: &str, defs: &mut [Vec<DefChoice>]) {
    let mut cache: HashMap<String, HashSet<String>> = HashMap::new();
    for (fi, f) in m.files.iter().enumerate() {
        for (di, d) in f.scan.funcs.iter().enumerate() {
            if let Some((v, _)) = &d.existing_ctx {
                defs[fi][di].var = Some(v.clone());
                continue;
            }
            let mut expanded: Vec<&String> = f.by_func[di]
                .iter()
                .map(|&oi| &f.occs[oi].name)
                .filter(|n| m.names.macros.contains_key(*n))
                .collect();
            expanded.sort();
            expanded.dedup();
            let mut brought: HashSet<String> = HashSet::new();
            for name in expanded {
                let ids = cache
                    .entry(name.clone())
                    .or_insert_with(|| macro_idents(m, name));
                brought.extend(ids.iter().cloned());
            }
            let taken = |c: &str| {
                d.idents.contains(f.src(), c)
                    || m.names.macros.contains_key(c)
                    || brought.contains(c)
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
            defs[fi][di].renamed = cand != ctx_name;
            defs[fi][di].var = Some(cand);
        }
    }
}

/// Rule 5: a macro calling the API is rewritten when every expansion is
/// in a migrated function whose context is `ctx_name`, and nothing else
/// stands in the way; otherwise the first reason is kept.
fn macro_policy(
    m: &Model,
    ctx_name: &str,
    defs: &[Vec<DefChoice>],
) -> HashMap<String, MacroChoice> {
    let mut out = HashMap::new();
    for name in &m.macros.order {
        let g = &m.macros.groups[name];
        if !g.calls_api && !g.has_done {
            continue;
        }
        let reason = g
            .defs
            .iter()
            .find_map(|&mi| m.macros.infos[mi].unsafe_reason.clone())
            .or_else(|| {
                g.in_macros
                    .first()
                    .map(|x| format!("it is expanded inside macro `{x}`"))
            })
            .or_else(|| {
                g.sites
                    .iter()
                    .find_map(|&(fi, oi)| site_obstacle(m, ctx_name, defs, fi, oi))
            })
            .or_else(|| {
                (g.sites.is_empty() && g.calls_api)
                    .then(|| "it is never expanded in a function body".to_string())
            });
        out.insert(
            name.clone(),
            MacroChoice {
                rewritable: reason.is_none(),
                legacy_reason: reason,
            },
        );
    }
    out
}

/// Why an expansion site keeps its macro legacy, if it does.
fn site_obstacle(
    m: &Model,
    ctx_name: &str,
    defs: &[Vec<DefChoice>],
    fi: usize,
    oi: usize,
) -> Option<String> {
    let o = &m.files[fi].occs[oi];
    let here = m.pos_str(fi, o.at);
    let Some(f) = o.func else {
        return Some(format!("it is expanded outside a function ({here})"));
    };
    if o.in_error {
        return Some(format!(
            "it is expanded in code tree-sitter cannot parse ({here})"
        ));
    }
    let fd = &m.files[fi].scan.funcs[f];
    let st = &defs[fi][f];
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

fn direct_needs(m: &Model, sel: &mut Selection) {
    for (fi, f) in m.files.iter().enumerate() {
        for o in &f.occs {
            let Some(d) = o.func else { continue };
            if o.in_error || !sel.defs[fi][d].migratable {
                continue;
            }
            let need = match &o.kind {
                OccKind::Call(c) => {
                    m.is_api_in(fi, &o.name)
                        && !m.shadowed(fi, o)
                        && !c.lvalue
                        && !c.qualified
                        && uses_own_ctx(f.src(), &f.scan.funcs[d], c)
                }
                _ => false,
            } || sel.macro_needs_ctx(m, &o.name);
            if need {
                sel.defs[fi][d].direct_need = true;
            }
        }
    }
}

/// A trampoline plan: Ok((implementation name, trampoline line)), or why
/// the function keeps the `PyCtx_Get()` prologue.
pub(crate) type TrampPlan = Result<(String, String), String>;

pub(crate) struct Threading {
    /// Per node.
    pub threaded: Vec<bool>,
    /// Per file, per definition: has (or gets) a context.
    pub needs: Vec<Vec<bool>>,
    pub tramps: HashMap<DefId, TrampPlan>,
    /// Per node: why the check phase sent it back to its signature.
    pub fallback: Vec<Option<String>>,
}

impl Threading {
    pub fn node_threaded(&self, id: Option<NodeId>) -> bool {
        id.is_some_and(|id| self.threaded[id])
    }
}

/// The needs fixed point and the threading decision.
pub(crate) fn thread(
    m: &Model,
    sel: &Selection,
    fallbacks: &BTreeMap<NodeId, String>,
    opts: &Options,
) -> Threading {
    let fallback: Vec<Option<String>> = (0..m.nodes.len())
        .map(|id| fallbacks.get(&id).cloned())
        .collect();
    let can_thread: Vec<bool> = m
        .nodes
        .iter()
        .enumerate()
        .map(|(id, n)| {
            n.entry.is_empty()
                && fallback[id].is_none()
                && n.defs.iter().all(|&d| sel.def(d).migratable)
        })
        .collect();
    let mut needs: Vec<Vec<bool>> = sel
        .defs
        .iter()
        .map(|v| v.iter().map(|c| c.migratable && c.direct_need).collect())
        .collect();
    let mut threaded = vec![false; m.nodes.len()];
    loop {
        let mut changed = false;
        for (id, node) in m.nodes.iter().enumerate() {
            let t =
                node.already || (can_thread[id] && node.defs.iter().any(|&(fi, di)| needs[fi][di]));
            if t != threaded[id] {
                threaded[id] = t;
                changed = true;
            }
        }
        for (fi, facts) in m.facts.iter().enumerate() {
            for (di, callees) in facts.callees.iter().enumerate() {
                if sel.defs[fi][di].migratable
                    && !needs[fi][di]
                    && callees.iter().any(|&c| threaded[c])
                {
                    needs[fi][di] = true;
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    let mut t = Threading {
        threaded,
        needs,
        tramps: HashMap::new(),
        fallback,
    };
    if opts.trampolines {
        t.tramps = crate::trampoline::plan(m, sel, &t);
    }
    t
}

/// Every identifier spelled in the project (names a new `_impl` must
/// avoid). `toks`: each file's tokens.
pub(crate) fn spelled_names(m: &Model, toks: &[Vec<crate::lex::Token>]) -> HashSet<String> {
    let mut out = HashSet::new();
    for (f, toks) in m.files.iter().zip(toks) {
        for t in toks {
            if t.kind == Tok::Ident {
                out.insert(f.word(t.start(), t.end()).to_string());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Model;
    use crate::{ApiNames, SourceFile};
    use std::path::{Path, PathBuf};

    fn model<'a>(files: &'a [SourceFile], api: &'a ApiNames, opts: &Options) -> Model<'a> {
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
        let units = crate::units::Units::build(&paths, &incs, None);
        crate::resolve::resolve(parsed, units, api, opts).0
    }

    const SRC: &str = "static int leaf(PyObject *o) { return PyObject_IsTrue(o); }\n\
        static int mid(PyObject *o) { return leaf(o); }\n\
        static int pure(int x) { return x; }\n\
        static PyObject *top(PyObject *s, PyObject *o) { return PyBool_FromLong(mid(o) + pure(1)); }\n\
        static PyMethodDef t[] = {{\"top\", top, METH_O, NULL}};\n";

    #[test]
    fn needs_propagate_to_callers_and_stop_at_entry_points() {
        let files = vec![SourceFile::new("a.c", SRC)];
        let api = ApiNames::from_names(["PyObject_IsTrue", "PyBool_FromLong"]);
        let opts = Options::default();
        let m = model(&files, &api, &opts);
        let sel = select(&m, &opts, &BTreeMap::new(), &BTreeMap::new());
        let t = thread(&m, &sel, &BTreeMap::new(), &opts);
        let by = |n: &str| m.nodes_by_name[n][0];
        assert!(t.threaded[by("leaf")] && t.threaded[by("mid")]);
        assert!(!t.threaded[by("pure")], "needs no context");
        assert!(!t.threaded[by("top")], "address taken: entry point");
        assert_eq!(t.needs[0], vec![true, true, false, true]);
    }

    #[test]
    fn a_fallback_keeps_the_signature_and_callers_stop_needing() {
        let files = vec![SourceFile::new("a.c", SRC)];
        let api = ApiNames::from_names(["PyObject_IsTrue", "PyBool_FromLong"]);
        let opts = Options::default();
        let m = model(&files, &api, &opts);
        let sel = select(&m, &opts, &BTreeMap::new(), &BTreeMap::new());
        let leaf = m.nodes_by_name["leaf"][0];
        let fb = BTreeMap::from([(leaf, "test".to_string())]);
        let t = thread(&m, &sel, &fb, &opts);
        assert!(!t.threaded[leaf]);
        assert!(
            !t.threaded[m.nodes_by_name["mid"][0]],
            "mid needs nothing now"
        );
        assert_eq!(t.fallback[leaf].as_deref(), Some("test"));
    }

    #[test]
    fn unselected_and_thread_switching_functions_stay_legacy() {
        let src = "static void cb(void) { PyGILState_STATE s = PyGILState_Ensure(); PyErr_Clear(); PyGILState_Release(s); }\n\
                   static void other(void) { PyErr_Clear(); }\n";
        let files = vec![SourceFile::new("a.c", src)];
        let api = ApiNames::from_names(["PyGILState_Ensure", "PyGILState_Release", "PyErr_Clear"]);
        let opts = Options {
            exclude: ["other".to_string()].into(),
            ..Options::default()
        };
        let m = model(&files, &api, &opts);
        let sel = select(&m, &opts, &BTreeMap::new(), &BTreeMap::new());
        assert!(!sel.defs[0][0].selected);
        let sw = sel.defs[0][0].switch.as_ref().unwrap();
        assert_eq!(sw.api, "PyGILState_Ensure");
        assert!(sw.unthreadable.is_none());
        assert!(!sel.defs[0][1].selected && sel.defs[0][1].switch.is_none());
    }

    #[test]
    fn a_taken_context_name_is_renamed() {
        let src = "static int f(PyObject *o) { int ctx = 1; return PyObject_IsTrue(o) + ctx; }\n";
        let files = vec![SourceFile::new("a.c", src)];
        let api = ApiNames::from_names(["PyObject_IsTrue"]);
        let opts = Options::default();
        let m = model(&files, &api, &opts);
        let sel = select(&m, &opts, &BTreeMap::new(), &BTreeMap::new());
        assert_eq!(sel.defs[0][0].var.as_deref(), Some("pyctx_ctx"));
        assert!(sel.defs[0][0].renamed);
    }

    const SAVE_RESTORE: &str = "typedef struct { PyThreadState *ts; } St;\n\
        static void release(St *s) { s->ts = PyEval_SaveThread(); }\n\
        static void acquire(St *s) { PyEval_RestoreThread(s->ts); }\n\
        static void ensure(St *s) { PyGILState_STATE g = PyGILState_Ensure(); PyEval_RestoreThread(s->ts); PyGILState_Release(g); }\n\
        static void cb(St *s) { PyEval_RestoreThread(s->ts); PyErr_Clear(); }\n\
        static void (*hook)(St *) = cb;\n\
        static PyObject *work(St *s) { release(s); acquire(s); ensure(s); return PyLong_FromLong(1); }\n";

    fn save_restore_api() -> ApiNames {
        ApiNames::from_names([
            "PyEval_SaveThread",
            "PyEval_RestoreThread",
            "PyGILState_Ensure",
            "PyGILState_Release",
            "PyErr_Clear",
            "PyLong_FromLong",
        ])
    }

    #[test]
    fn save_restore_helpers_are_threaded_switches_and_entry_points_legacy() {
        let files = vec![SourceFile::new("a.c", SAVE_RESTORE)];
        let api = save_restore_api();
        let opts = Options::default();
        let m = model(&files, &api, &opts);
        let sel = select(&m, &opts, &BTreeMap::new(), &BTreeMap::new());
        let d = &sel.defs[0];
        // release, acquire: selected, threaded, no legacy reason
        for i in [0, 1] {
            assert!(
                d[i].selected && d[i].save_restore && d[i].switch.is_none(),
                "{i}"
            );
        }
        // ensure: a switch wins over the save/restore call after it
        let sw = d[2].switch.as_ref().expect("ensure stays legacy");
        assert_eq!(
            (sw.api.as_str(), sw.unthreadable.is_none()),
            ("PyGILState_Ensure", true)
        );
        // cb: address taken, so legacy rather than an entry point
        let sw = d[3].switch.as_ref().expect("cb stays legacy");
        assert_eq!(sw.api, "PyEval_RestoreThread");
        assert!(
            sw.unthreadable
                .as_deref()
                .unwrap()
                .contains("address taken"),
            "{sw:?}"
        );
        assert!(!d[3].selected && !d[3].save_restore);
        let t = thread(&m, &sel, &BTreeMap::new(), &opts);
        let by = |n: &str| m.nodes_by_name[n][0];
        assert!(t.threaded[by("release")] && t.threaded[by("acquire")]);
        assert!(!t.threaded[by("ensure")] && !t.threaded[by("cb")]);
        assert!(!t.needs[0][3], "cb gets no PyCtx_Get() prologue");
    }

    #[test]
    fn a_save_restore_function_sent_back_by_the_check_is_legacy() {
        let files = vec![SourceFile::new("a.c", SAVE_RESTORE)];
        let api = save_restore_api();
        let opts = Options::default();
        let m = model(&files, &api, &opts);
        let gone = BTreeMap::from([((0, 1), "the output check found: x".to_string())]);
        let sel = select(&m, &opts, &BTreeMap::new(), &gone);
        let sw = sel.defs[0][1]
            .switch
            .as_ref()
            .expect("acquire is legacy now");
        assert_eq!(
            sw.unthreadable.as_deref(),
            Some("the output check found: x")
        );
        assert!(!sel.defs[0][1].selected);
        let t = thread(&m, &sel, &BTreeMap::new(), &opts);
        assert!(!t.threaded[m.nodes_by_name["acquire"][0]]);
        assert!(t.threaded[m.nodes_by_name["release"][0]]);
    }

    #[test]
    fn a_save_restore_function_excluded_elsewhere_stays_legacy() {
        // One external function defined in two files; one definition is
        // excluded, so the function keeps its signature: the other
        // definition must not become an entry point.
        let src = "void acquire(PyThreadState *ts) { PyEval_RestoreThread(ts); }\n\
                   PyObject *user(PyThreadState *ts) { acquire(ts); return PyLong_FromLong(1); }\n";
        let files = vec![
            SourceFile::new("a.c", src),
            SourceFile::new("b.c", src.replace("user", "user2")),
        ];
        let api = save_restore_api();
        let opts = Options {
            only_files: Some([PathBuf::from("a.c")].into()),
            ..Options::default()
        };
        let m = model(&files, &api, &opts);
        let sel = select(&m, &opts, &BTreeMap::new(), &BTreeMap::new());
        let sw = sel.defs[0][0].switch.as_ref().expect("legacy");
        assert!(
            sw.unthreadable.as_deref().unwrap().contains("b.c"),
            "{sw:?}"
        );
    }
}
