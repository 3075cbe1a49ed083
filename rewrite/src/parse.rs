//! Phase 1, parse: every file lexed, its project macros learned
//! ([`crate::macros`]: what each macro stands for, so the parser sees C),
//! parsed
//! with tree-sitter-c, and scanned for definitions, prototypes and the uses
//! of every interesting name (API names, project functions and macros).
//!
//! Entry point: [`parse`]. Files are handled in parallel; the result is in
//! input order.

use crate::lex::Lang;
use crate::model::{FileId, FileModel, Names};
use crate::scan::{self, Lexed};
use crate::units::Units;
use crate::{ApiNames, SourceFile};
use rayon::prelude::*;

pub(crate) struct Parsed<'a> {
    pub files: Vec<FileModel<'a>>,
    pub names: Names,
}

#[cfg(test)]
pub(crate) fn parse<'a>(files: &'a [SourceFile], api: &ApiNames) -> Parsed<'a> {
    parse_for(files, api, true)
}

/// [`parse`]; `tramps`: record what trampoline lines need
/// (`Options::trampolines`), else every definition's `tramp` is an empty
/// `Err`.
pub(crate) fn parse_for<'a>(files: &'a [SourceFile], api: &ApiNames, tramps: bool) -> Parsed<'a> {
    parse_in_pieces(files, api, scan::PIECE, tramps)
}

/// [`parse`], files larger than `piece` parsed in pieces of that size.
fn parse_in_pieces<'a>(
    files: &'a [SourceFile],
    api: &ApiNames,
    piece: usize,
    tramps: bool,
) -> Parsed<'a> {
    let mut lexed: Vec<Lexed> = files
        .par_iter()
        .map(|f| scan::lex_file_in(f.text.as_bytes(), crate::lang_of_path(&f.path)))
        .collect();
    for fi in cpp_headers(files, &lexed) {
        lexed[fi] = scan::lex_file_in(files[fi].text.as_bytes(), Lang::Cpp);
    }
    let model = crate::macros::learn(files, &lexed);
    let (mut scans, syntax): (Vec<scan::FileScan>, Vec<scan::Syntax>) = files
        .par_iter()
        .zip(lexed)
        .enumerate()
        .map(|(i, (f, l))| {
            scan::scan_file_in_pieces(
                f.text.as_bytes(),
                l,
                model.for_file(i).roles(),
                piece,
                tramps,
            )
        })
        .unzip();
    crate::cpp::keep_overloads(&mut scans);
    let names = project_names(&scans);
    let interesting =
        |n: &str| api.contains(n) || names.funcs.contains(n) || names.macros.contains_key(n);
    // The syntax trees end here: later phases read only the facts.
    let models: Vec<FileModel> = files
        .par_iter()
        .zip(scans)
        .zip(syntax)
        .map(|((source, scan), syn)| {
            let mut occs =
                scan::collect_occurrences(source.text.as_bytes(), &scan, &syn, &interesting);
            drop(syn);
            object_like_sites(&mut occs, api);
            let mut by_func = vec![Vec::new(); scan.funcs.len()];
            for (oi, o) in occs.iter().enumerate() {
                if let Some(f) = o.func {
                    by_func[f].push(oi);
                }
            }
            FileModel {
                source,
                scan,
                occs,
                by_func,
            }
        })
        .collect();
    Parsed {
        files: models,
        names,
    }
}

/// Headers named like C (`.h`) that only C++ files include (directly
/// or through other headers): they are C++ (`__cplusplus` defined). A
/// header that C files include too stays C: its `#ifdef __cplusplus`
/// groups (`extern "C" {`) are then dead to the engine, which never
/// edits them.
fn cpp_headers(files: &[SourceFile], lexed: &[Lexed]) -> Vec<FileId> {
    let paths: Vec<&std::path::Path> = files.iter().map(|f| f.path.as_path()).collect();
    let incs: Vec<Vec<&str>> = lexed
        .iter()
        .map(|l| l.dir.includes.iter().map(|i| i.path.as_str()).collect())
        .collect();
    let units = Units::build(&paths, &incs, None);
    (0..files.len())
        .filter(|&fi| lexed[fi].lang == Lang::C && files[fi].is_header())
        .filter(|&fi| {
            let roots: Vec<FileId> = units.of_file[fi]
                .iter()
                .map(|&u| units.units[u].root)
                .filter(|&r| r != fi)
                .collect();
            !roots.is_empty() && roots.iter().all(|&r| lexed[r].lang == Lang::Cpp)
        })
        .collect()
}

fn project_names(scans: &[scan::FileScan]) -> Names {
    let mut names = Names::default();
    for (fi, s) in scans.iter().enumerate() {
        for f in &s.funcs {
            if f.name != "?" {
                names.funcs.insert(f.name.clone());
            }
        }
        for (mi, m) in s.dir.macros.iter().enumerate() {
            names
                .macros
                .entry(m.name.clone())
                .or_default()
                .push((fi, mi));
        }
    }
    names
}

/// A bare use of an object-like API macro that acts (`PyDateTime_IMPORT;`
/// in a function) is a call to the engine: its ctx form is
/// `NAME_CTX(ctx)`, reached by inserting after the name.
fn object_like_sites(occs: &mut [scan::Occ], api: &ApiNames) {
    for o in occs.iter_mut() {
        if o.func.is_some()
            && !o.in_error
            && matches!(o.kind, scan::OccKind::Other)
            && api.is_object_like(&o.name)
        {
            o.kind = scan::OccKind::Call(scan::CallInfo {
                open: o.at + o.name.len(),
                empty: true,
                newline_after_open: false,
                first: scan::FirstArg::None,
                lvalue: false,
                qualified: false,
                object_like: true,
                split_callee: false,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::OccKind;

    #[test]
    fn names_and_uses_per_function() {
        let files = vec![
            SourceFile::new(
                "a.c",
                "#define TWICE(x) helper(x)\nstatic int helper(PyObject *o) { return PyObject_IsTrue(o); }\n\
                 int user(PyObject *o) { return TWICE(o) + helper(o); }\n",
            ),
            SourceFile::new("b.h", "int user(PyObject *o);\n"),
        ];
        let api = ApiNames::from_names(["PyObject_IsTrue"]);
        let p = parse(&files, &api);
        assert_eq!(p.files.len(), 2);
        assert!(p.names.funcs.contains("helper") && p.names.funcs.contains("user"));
        assert_eq!(p.names.macros["TWICE"], vec![(0, 0)]);
        let a = &p.files[0];
        assert_eq!(a.scan.funcs.len(), 2);
        // `user` uses TWICE and helper; helper calls the API.
        let in_user: Vec<&str> = a.by_func[1]
            .iter()
            .map(|&oi| a.occs[oi].name.as_str())
            .collect();
        assert_eq!(in_user, vec!["TWICE", "helper"]);
        let api_call = &a.occs[a.by_func[0][0]];
        assert_eq!(api_call.name, "PyObject_IsTrue");
        assert!(matches!(api_call.kind, OccKind::Call(_)));
        assert_eq!(p.files[1].scan.protos.len(), 1);
    }

    /// What phase 1 and 2 learn of a file, in a form that compares
    /// (definitions and prototypes in order of position).
    fn facts(f: &FileModel) -> Vec<String> {
        let s = &f.scan;
        let sorted = |h: &std::collections::HashSet<String>| {
            let mut v: Vec<&String> = h.iter().collect();
            v.sort();
            format!("{v:?}")
        };
        // Sorted by their text already.
        let idents = |h: &crate::scan::Idents| {
            let v: Vec<&str> = h
                .texts(f.src())
                .map(|t| std::str::from_utf8(t).unwrap())
                .collect();
            format!("{v:?}")
        };
        let mut out: Vec<String> = s
            .funcs
            .iter()
            .map(|d| {
                format!(
                    "{} {} {:?} {} {:?} {:?} {} {} {:?} {}",
                    d.name,
                    d.name_at,
                    d.range,
                    d.is_static,
                    d.refused,
                    d.params,
                    d.body_open,
                    d.body_close,
                    d.existing_ctx,
                    idents(&d.declared)
                )
            })
            .collect();
        // In pieces, a definition parsed per configuration comes in
        // another order (reports sort by position).
        out.sort();
        let mut protos: Vec<String> = s.protos.iter().map(|p| format!("{p:?}")).collect();
        protos.sort();
        out.extend(protos);
        out.extend(f.occs.iter().map(|o| {
            let func = o.func.map(|k| s.funcs[k].name_at);
            let o = crate::scan::Occ {
                func: None,
                ..o.clone()
            };
            format!("{o:?} in the function named at {func:?}")
        }));
        out.push(sorted(&s.file_vars));
        out.push(sorted(&s.static_names));
        out
    }

    /// Parsing in pieces (here cut wherever [`scan::pieces`] allows) finds
    /// what parsing the whole file finds, in every golden case (top-level
    /// errors: no more).
    #[test]
    fn pieces_see_what_the_whole_file_shows() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/migrate");
        let api = ApiNames::from_names(["PyObject_IsTrue", "PyLong_FromLong", "Py_BuildValue"]);
        let mut cut = 0;
        for case in std::fs::read_dir(&root).unwrap() {
            let before = case.unwrap().path().join("before");
            let Ok(entries) = std::fs::read_dir(&before) else {
                continue;
            };
            let files: Vec<SourceFile> = entries
                .map(|e| e.unwrap().path())
                .filter(|p| p.is_file())
                .map(|p| SourceFile::new(p.clone(), std::fs::read_to_string(&p).unwrap()))
                .collect();
            let whole = parse_in_pieces(&files, &api, usize::MAX, true);
            let small = parse_in_pieces(&files, &api, 1, true);
            for (w, s) in whole.files.iter().zip(&small.files) {
                let l = scan::lex_file_in(w.src(), w.scan.lang);
                cut += usize::from(scan::pieces(&l.toks, &l.dir, w.src().len(), 1).len() > 1);
                assert_eq!(facts(w), facts(s), "{}", w.source.path.display());
                // tree-sitter's recovery from an error may run on to the
                // end of the file (a `#endif` found missing there): a
                // piece ends it at the piece's end.
                let extra: Vec<_> = s
                    .scan
                    .top_errors
                    .iter()
                    .filter(|e| !w.scan.top_errors.contains(e))
                    .collect();
                assert!(extra.is_empty(), "{}: {extra:?}", w.source.path.display());
            }
        }
        assert!(cut > 10, "only {cut} files were cut in pieces");
    }

    #[test]
    fn attribute_macros_are_blanked_for_the_parser() {
        let files = vec![SourceFile::new(
            "a.c",
            "#define UNUSED __attribute__((unused))\nstatic int f(UNUSED int x) { return 0; }\n",
        )];
        let p = parse(&files, &ApiNames::default());
        assert_eq!(p.files[0].scan.funcs.len(), 1);
        assert!(p.files[0].scan.funcs[0].refused.is_none());
    }
}
