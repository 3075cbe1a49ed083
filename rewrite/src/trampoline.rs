//! `Options::trampolines`: an entry point that needs a context and keeps
//! its signature only because its address is taken becomes
//! `NAME_impl(PyCtx ctx, ...)` plus a line defining `NAME` with its own
//! signature (`PYCTX__TRAMPOLINE` / `PYCTX_DEALLOC`). Part of the decide
//! phase: [`plan`].

use crate::decide::{Selection, Threading, TrampPlan};
use crate::lex::{Tok, Token};
use crate::model::{DefId, Model};
use std::collections::HashMap;

pub(crate) fn plan(m: &Model, sel: &Selection, t: &Threading) -> HashMap<DefId, TrampPlan> {
    let mut out = HashMap::new();
    // The model keeps no tokens past resolution: lexed again, for this
    // option only.
    let toks: Vec<Vec<Token>> = m
        .files
        .iter()
        .map(|f| crate::lex::lex_lang(f.src(), f.scan.lang))
        .collect();
    let mut taken = crate::decide::spelled_names(m, &toks);
    for (fi, f) in m.files.iter().enumerate() {
        for (di, d) in f.scan.funcs.iter().enumerate() {
            let Some(id) = m.facts[fi].node_of[di] else {
                continue;
            };
            let node = &m.nodes[id];
            if !sel.defs[fi][di].migratable
                || t.threaded[id]
                || !t.needs[fi][di]
                || d.existing_ctx.is_some()
                || node.addr_sites.is_empty()
            {
                continue;
            }
            let p = plan_one(m, &toks, (fi, di), t.fallback[id].as_deref(), &taken);
            if let Ok((imp, _)) = &p {
                taken.insert(imp.clone());
            }
            out.insert((fi, di), p);
        }
    }
    out
}

/// `toks`: each file's tokens.
fn plan_one(
    m: &Model,
    toks: &[Vec<Token>],
    (fi, di): DefId,
    fallback: Option<&str>,
    taken: &std::collections::HashSet<String>,
) -> TrampPlan {
    let f = &m.files[fi];
    let d = &f.scan.funcs[di];
    let id = m.facts[fi].node_of[di].expect("a node");
    let node = &m.nodes[id];
    if node.entry.len() != node.addr_sites.len() || fallback.is_some() {
        let other = node
            .entry
            .iter()
            .find(|e| !e.starts_with("address taken at "))
            .map(String::as_str)
            .or(fallback)
            .unwrap_or_default();
        return Err(format!(
            "it keeps its signature for another reason: {other}"
        ));
    }
    if node.static_file.is_none() {
        return Err("it is not static (the trampoline the runtime defines is static)".into());
    }
    if node.defs.len() != 1 {
        return Err("it has several definitions".into());
    }
    let sig = d.tramp.as_ref().map_err(|e| e.clone())?;
    // A use before the trampoline line needs a declaration of NAME before
    // it.
    let first_use = f
        .occs
        .iter()
        .filter(|o| o.name == d.name && o.at != d.name_at && o.at < d.range.end)
        .map(|o| o.at)
        .min();
    if let Some(u) = first_use {
        let declared = node
            .protos
            .iter()
            .any(|&(pf, pi)| pf == fi && m.files[pf].scan.protos[pi].name_at < u);
        if !declared {
            return Err(format!(
                "it is used at {} before its definition ends, with no prototype before",
                f.pos_str(u)
            ));
        }
    }
    let mut imp = format!("{}_impl", d.name);
    let mut k = 2;
    while taken.contains(&imp) {
        imp = format!("{}_impl{k}", d.name);
        k += 1;
    }
    let line = if sig.ret == "void" {
        let dealloc = node
            .addr_sites
            .iter()
            .all(|&(af, at)| used_as_dealloc(m.files[af].src(), &toks[af], at));
        if !(sig.one_pyobject && dealloc) {
            return Err("it returns void: only a tp_dealloc taking one `PyObject *` gets a trampoline (PYCTX_DEALLOC)".into());
        }
        format!("PYCTX_DEALLOC({}, {imp})", d.name)
    } else {
        format!(
            "PYCTX__TRAMPOLINE({}, {}, {imp}, {}, ({}))",
            sig.ret,
            d.name,
            sig.params,
            sig.names.join(", ")
        )
    };
    Ok((imp, line))
}

/// Is the function name at `at` stored as a deallocator: `.tp_dealloc =
/// NAME`, `x->tp_dealloc = NAME`, `{Py_tp_dealloc, NAME}` (a cast
/// `(destructor)` allowed), or a positional initialiser followed by a
/// `/* tp_dealloc */` comment?
pub(crate) fn used_as_dealloc(src: &[u8], toks: &[Token], at: usize) -> bool {
    let Ok(k) = toks.binary_search_by_key(&at, |t| t.start()) else {
        return false;
    };
    // The code tokens before the name, nearest first.
    let before: Vec<usize> = (0..k)
        .rev()
        .filter(|&j| !matches!(toks[j].kind, Tok::Comment | Tok::Newline))
        .take(5)
        .collect();
    let word = |j: usize| &src[toks[j].start()..toks[j].end()];
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
            t.kind == Tok::Comment
                && src[t.start()..t.end()]
                    .windows(10)
                    .any(|w| w == b"tp_dealloc")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(src: &str, name: &str) -> (Vec<Token>, usize) {
        let toks = crate::lex::lex(src.as_bytes());
        let at = src.rfind(name).unwrap();
        (toks, at)
    }

    #[test]
    fn deallocator_spellings() {
        for src in [
            "t.tp_dealloc = box_dealloc;",
            "t->tp_dealloc = (destructor)box_dealloc;",
            "{Py_tp_dealloc, box_dealloc},",
            "0, box_dealloc, /* tp_dealloc */",
        ] {
            let (toks, a) = at(src, "box_dealloc");
            assert!(used_as_dealloc(src.as_bytes(), &toks, a), "{src}");
        }
        for src in ["t.tp_free = box_dealloc;", "{Py_tp_free, box_dealloc},"] {
            let (toks, a) = at(src, "box_dealloc");
            assert!(!used_as_dealloc(src.as_bytes(), &toks, a), "{src}");
        }
    }
}
