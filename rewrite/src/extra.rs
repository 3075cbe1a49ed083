//! Extra public headers: where a file sees `datetime.h`, `structmember.h`,
//! `marshal.h`, `frameobject.h`, ...
//!
//! Names such a header declares (the table's `needs_include`,
//! [`crate::ApiNames::needs`]) get their ctx forms from a part of the
//! generated `pyctx_api.h` guarded by that header's own include guard,
//! which `pyctx.h` adds each time it is included after the header. So a
//! use of such a name is an API call only in a file that sees the header
//! in every configuration, and that file's `#include "pyctx.h"` must come
//! after the point where it starts seeing it. Entry point: [`seen`].

use crate::model::{FileId, FileModel};
use crate::units::{normalize, resolve_include, Units};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Per file: each extra header it sees in every configuration → the byte
/// offset from which it does (the end of the include line that brings it
/// in; 0: seen before the file starts, in every unit that includes it).
pub(crate) type Seen = BTreeMap<String, usize>;

/// One include outside every conditional group.
struct TopInclude {
    line_end: usize,
    /// The extra header it names, if it names one.
    header: Option<String>,
    /// The given files it may mean.
    targets: Vec<FileId>,
}

/// [`Seen`] for every file. A file sees header `H` when it includes `H`
/// (or a given file that does, directly or through others) outside every
/// conditional group, or when every file that includes it does so after
/// seeing `H` (and it is not compiled on its own).
pub(crate) fn seen(files: &[FileModel], headers: &BTreeSet<&str>, units: &Units) -> Vec<Seen> {
    if headers.is_empty() {
        return vec![Seen::new(); files.len()];
    }
    let paths: Vec<&Path> = files.iter().map(|f| f.source.path.as_path()).collect();
    let norm: Vec<PathBuf> = paths.iter().map(|p| normalize(p)).collect();
    let tops: Vec<Vec<TopInclude>> = files
        .iter()
        .enumerate()
        .map(|(fi, f)| {
            crate::pp::top_level_includes(&f.scan)
                .into_iter()
                .map(|(i, _)| TopInclude {
                    line_end: i.line_end,
                    header: names_header(&i.path, headers),
                    targets: resolve_include(&paths, &norm, fi, &i.path),
                })
                .collect()
        })
        .collect();
    let deep: Vec<BTreeSet<String>> = (0..files.len()).map(|fi| deep_headers(&tops, fi)).collect();
    let own: Vec<Seen> = tops
        .iter()
        .map(|list| {
            let mut s = Seen::new();
            for i in list {
                let brought = i
                    .header
                    .iter()
                    .chain(i.targets.iter().flat_map(|&t| &deep[t]));
                for h in brought {
                    s.entry(h.clone()).or_insert(i.line_end);
                }
            }
            s
        })
        .collect();
    let mut includers: Vec<Vec<(FileId, usize)>> = vec![Vec::new(); files.len()];
    for (g, list) in tops.iter().enumerate() {
        for i in list {
            for &t in &i.targets {
                includers[t].push((g, i.line_end));
            }
        }
    }
    let compiled_root: Vec<bool> = (0..files.len())
        .map(|fi| units.units.iter().any(|u| u.compiled && u.root == fi))
        .collect();
    let ctx = Inherit {
        own: &own,
        includers: &includers,
        compiled_root: &compiled_root,
    };
    (0..files.len())
        .map(|fi| {
            let mut s: Seen = ctx
                .inherited(fi, &mut vec![false; files.len()])
                .into_iter()
                .map(|h| (h, 0))
                .collect();
            for (h, &at) in &own[fi] {
                s.entry(h.clone()).or_insert(at);
            }
            s
        })
        .collect()
}

/// The extra header an include names (`<datetime.h>`, or a path ending in
/// `/datetime.h`).
fn names_header(path: &str, headers: &BTreeSet<&str>) -> Option<String> {
    headers
        .iter()
        .find(|h| path == **h || path.strip_suffix(**h).is_some_and(|p| p.ends_with('/')))
        .map(|h| h.to_string())
}

/// The extra headers file `fi` brings in, itself or through the given files
/// it includes (outside conditional groups).
fn deep_headers(tops: &[Vec<TopInclude>], fi: FileId) -> BTreeSet<String> {
    let mut seen = vec![false; tops.len()];
    let mut stack = vec![fi];
    seen[fi] = true;
    let mut out = BTreeSet::new();
    while let Some(x) = stack.pop() {
        for i in &tops[x] {
            out.extend(i.header.clone());
            for &t in &i.targets {
                if !seen[t] {
                    seen[t] = true;
                    stack.push(t);
                }
            }
        }
    }
    out
}

struct Inherit<'a> {
    own: &'a [Seen],
    includers: &'a [Vec<(FileId, usize)>],
    compiled_root: &'a [bool],
}

impl Inherit<'_> {
    /// The headers every includer of `fi` has seen before its include of
    /// `fi` (none for a file compiled on its own or included by nobody).
    fn inherited(&self, fi: FileId, visiting: &mut Vec<bool>) -> BTreeSet<String> {
        if self.compiled_root[fi] || self.includers[fi].is_empty() || visiting[fi] {
            return BTreeSet::new();
        }
        visiting[fi] = true;
        let mut out: Option<BTreeSet<String>> = None;
        for &(g, at) in &self.includers[fi] {
            let mut before = self.inherited(g, visiting);
            before.extend(
                self.own[g]
                    .iter()
                    .filter(|(_, &a)| a < at)
                    .map(|(h, _)| h.clone()),
            );
            out = Some(match out {
                None => before,
                Some(o) => o.intersection(&before).cloned().collect(),
            });
        }
        visiting[fi] = false;
        out.unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use crate::{migrate, ApiNames, Options, SourceFile};
    use std::collections::{BTreeSet, HashMap, HashSet};

    /// `PyDate_Check` needs datetime.h; `PyBool_FromLong` is Python.h's;
    /// `PyDateTime_IMPORT` is object-like.
    fn api() -> ApiNames {
        let dt: BTreeSet<String> = ["datetime.h".to_string()].into();
        let names = [
            "PyDate_Check",
            "PyBool_FromLong",
            "PyDateTime_IMPORT",
            "PyDateTime_IMPORT_CTX",
        ];
        ApiNames {
            names: names.iter().map(|s| s.to_string()).collect(),
            needs: names
                .iter()
                .filter(|n| n.starts_with("PyDate"))
                .map(|n| (n.to_string(), dt.clone()))
                .collect::<HashMap<_, _>>(),
            object_like: HashSet::from(["PyDateTime_IMPORT".to_string()]),
        }
    }

    const BODY: &str = "static int is_date(PyObject *o)\n{\n    PyDateTime_IMPORT;\n    return PyDate_Check(o);\n}\nint use(PyObject *o) { return is_date(o); }\n";

    fn run(files: &[(&str, &str)]) -> Vec<Option<String>> {
        let files: Vec<SourceFile> = files.iter().map(|(p, t)| SourceFile::new(*p, *t)).collect();
        migrate(&files, &api(), &Options::default())
            .files
            .into_iter()
            .map(|f| f.new_text)
            .collect()
    }

    #[test]
    fn seen_directly_the_include_goes_after_the_header() {
        let src =
            format!("#include <Python.h>\n#include \"pyctx.h\"\n#include <datetime.h>\n{BODY}");
        let out = run(&[("m.c", &src)]);
        let out = out[0].as_deref().unwrap();
        assert!(
            out.contains("#include <datetime.h>\n#include \"pyctx.h\"\n"),
            "{out}"
        );
        assert!(out.contains("PyDateTime_IMPORT_CTX(ctx);"), "{out}");
        assert!(out.contains("PyDate_Check(ctx, o)"), "{out}");
        // A second run finds nothing to do.
        assert_eq!(run(&[("m.c", out)]), vec![None]);
    }

    #[test]
    fn not_seen_not_rewritten() {
        // No datetime.h, or only in some configurations.
        for head in [
            "#include <Python.h>\n",
            "#include <Python.h>\n#ifdef D\n#include <datetime.h>\n#endif\n",
        ] {
            let out = run(&[("m.c", &format!("{head}{BODY}"))]);
            assert_eq!(out, vec![None], "{head}");
        }
    }

    #[test]
    fn a_header_sees_what_every_includer_saw_before_it() {
        let h = BODY;
        let with = "#include <Python.h>\n#include <datetime.h>\n#include \"h.h\"\n";
        let late = "#include <Python.h>\n#include \"h.h\"\n#include <datetime.h>\n";
        let out = run(&[("a.c", with), ("h.h", h)]);
        assert!(out[1].as_deref().unwrap().contains("PyDate_Check(ctx, o)"));
        // One includer that sees datetime.h only after it: left alone.
        let out = run(&[("a.c", with), ("b.c", late), ("h.h", h)]);
        assert_eq!(out[2], None);
    }

    #[test]
    fn a_late_extra_header_gets_an_include_of_its_own() {
        let src = format!(
            "#include <Python.h>\nPyObject *yes(void) {{ return PyBool_FromLong(1); }}\n#include <datetime.h>\n{BODY}"
        );
        let out = run(&[("m.c", &src)]);
        let out = out[0].as_deref().unwrap();
        assert!(
            out.starts_with("#include <Python.h>\n#include \"pyctx.h\"\n"),
            "{out}"
        );
        assert!(
            out.contains("#include <datetime.h>\n#include \"pyctx.h\"\n"),
            "{out}"
        );
        assert_eq!(run(&[("m.c", out)]), vec![None]);
    }
}
