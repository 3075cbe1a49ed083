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
use std::collections::{BTreeMap, HashMap, HashSet};

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

/// What [`select`] decides about one definition.
#[derive(Default, Clone)]
pub(crate) struct DefChoice {
    pub selected: bool,
    /// Selected, parseable and part of a project function.
    pub migratable: bool,
    /// The thread-state switch that keeps it legacy: (API name, offset).
    pub switch: Option<(String, usize)>,
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
/// output) sent back to legacy, with why.
pub(crate) fn select(m: &Model, opts: &Options, backed_out: &BTreeMap<DefId, String>) -> Selection {
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
                    let switch = thread_switch(m, fi, di);
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
    context_names(m, &opts.ctx_name, &mut defs);
    let mut sel = Selection {
        macros: macro_policy(m, &opts.ctx_name, &defs),
        defs,
    };
    direct_needs(m, &mut sel);
    sel
}

/// Functions that switch the thread state keep their legacy calls: a
/// context fetched at entry would be stale (or detached) after the
/// switch. Each legacy call reads the current thread state afresh.
fn thread_switch(m: &Model, fi: usize, di: usize) -> Option<(String, usize)> {
    let f = &m.files[fi];
    f.by_func[di].iter().find_map(|&oi| {
        let o = &f.occs[oi];
        (matches!(o.kind, OccKind::Call(_))
            && THREAD_STATE_SWITCHES.contains(&o.name.as_str())
            && !f.scan.funcs[di].declared.contains(&o.name))
        .then(|| (o.name.clone(), o.at))
    })
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
                d.idents.contains(c) || m.names.macros.contains_key(c) || brought.contains(c)
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
                    m.is_api(&o.name)
                        && !m.shadowed(fi, o)
                        && !c.lvalue
                        && !c.qualified
                        && uses_own_ctx(&f.scan.funcs[d], c)
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
/// avoid).
pub(crate) fn spelled_names(m: &Model) -> HashSet<String> {
    let mut out = HashSet::new();
    for f in &m.files {
        for t in &f.scan.toks {
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
    use std::path::Path;

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
        let sel = select(&m, &opts, &BTreeMap::new());
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
        let sel = select(&m, &opts, &BTreeMap::new());
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
        let sel = select(&m, &opts, &BTreeMap::new());
        assert!(!sel.defs[0][0].selected);
        assert_eq!(
            sel.defs[0][0].switch.as_ref().unwrap().0,
            "PyGILState_Ensure"
        );
        assert!(!sel.defs[0][1].selected && sel.defs[0][1].switch.is_none());
    }

    #[test]
    fn a_taken_context_name_is_renamed() {
        let src = "static int f(PyObject *o) { int ctx = 1; return PyObject_IsTrue(o) + ctx; }\n";
        let files = vec![SourceFile::new("a.c", src)];
        let api = ApiNames::from_names(["PyObject_IsTrue"]);
        let opts = Options::default();
        let m = model(&files, &api, &opts);
        let sel = select(&m, &opts, &BTreeMap::new());
        assert_eq!(sel.defs[0][0].var.as_deref(), Some("pyctx_ctx"));
        assert!(sel.defs[0][0].renamed);
    }
}
