//! Translation units: which files are compiled, and what each one sees.
//!
//! A unit is a compiled file (its *root*) with its include closure: every
//! given file it includes, directly or through others, `#include "x.c"`
//! included. The roots are the files named by [`crate::Options::units`]
//! (from `compile_commands.json`), else every non-header file that no
//! other given file includes (a unity build's `module.c` is a unit, the
//! `.c` files it includes are not). A file no unit reaches (a header
//! nobody includes) is the root of a unit of its own, so every file is
//! seen by at least one unit.
//!
//! Static functions are resolved per unit: a `static` definition is visible
//! to every file of the units that include its file. Entry point:
//! [`Units::build`].

use crate::model::FileId;
use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

pub(crate) struct Unit {
    pub root: FileId,
    /// The root and every file it includes, transitively; sorted.
    pub closure: Vec<FileId>,
    /// The root is compiled (named, or a non-header nobody includes); a
    /// unit of a file no compiled unit reaches is not.
    pub compiled: bool,
}

pub(crate) struct Units {
    pub units: Vec<Unit>,
    /// Per file: the units whose closure holds it (at least one).
    pub of_file: Vec<Vec<usize>>,
}

impl Units {
    /// `paths`: the given files; `includes[f]`: the paths file `f`
    /// includes, as written; `explicit`: the compiled files, when known.
    pub fn build(
        paths: &[&Path],
        includes: &[Vec<&str>],
        explicit: Option<&BTreeSet<PathBuf>>,
    ) -> Units {
        let norm: Vec<PathBuf> = paths.iter().map(|p| normalize(p)).collect();
        let inc: Vec<Vec<FileId>> = includes
            .iter()
            .enumerate()
            .map(|(fi, list)| {
                let mut v: Vec<FileId> = list
                    .iter()
                    .flat_map(|i| resolve_include(paths, &norm, fi, i))
                    .collect();
                v.sort_unstable();
                v.dedup();
                v
            })
            .collect();
        let n = paths.len();
        let included: Vec<bool> = (0..n).map(|f| inc.iter().any(|l| l.contains(&f))).collect();
        let is_root = |f: usize| match explicit {
            Some(set) => set.iter().any(|u| {
                let u = normalize(u);
                u == norm[f] || norm[f].ends_with(&u) || u.ends_with(&norm[f])
            }),
            None => !crate::is_header_path(paths[f]) && !included[f],
        };
        let mut units: Vec<Unit> = (0..n)
            .filter(|&f| is_root(f))
            .map(|f| Unit {
                root: f,
                closure: closure(&inc, f),
                compiled: true,
            })
            .collect();
        let mut seen = vec![false; n];
        for u in &units {
            for &f in &u.closure {
                seen[f] = true;
            }
        }
        // Files no compiled unit reaches: each the root of a unit of its
        // own (in input order; one may reach the next).
        for f in 0..n {
            if !seen[f] {
                let c = closure(&inc, f);
                for &g in &c {
                    seen[g] = true;
                }
                units.push(Unit {
                    root: f,
                    closure: c,
                    compiled: false,
                });
            }
        }
        let mut of_file = vec![Vec::new(); n];
        for (ui, u) in units.iter().enumerate() {
            for &f in &u.closure {
                of_file[f].push(ui);
            }
        }
        Units { units, of_file }
    }
}

fn closure(inc: &[Vec<FileId>], root: FileId) -> Vec<FileId> {
    let mut seen = vec![false; inc.len()];
    seen[root] = true;
    let mut stack = vec![root];
    let mut out = vec![root];
    while let Some(x) = stack.pop() {
        for &y in &inc[x] {
            if !seen[y] {
                seen[y] = true;
                out.push(y);
                stack.push(y);
            }
        }
    }
    out.sort_unstable();
    out
}

pub(crate) fn normalize(p: &Path) -> PathBuf {
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
pub(crate) fn resolve_include(
    paths: &[&Path],
    norm: &[PathBuf],
    from: FileId,
    inc: &str,
) -> Vec<FileId> {
    let inc_path = normalize(Path::new(inc));
    if let Some(dir) = paths[from].parent() {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn build(files: &[(&str, &[&str])], explicit: Option<&[&str]>) -> Units {
        let paths: Vec<&Path> = files.iter().map(|(p, _)| Path::new(*p)).collect();
        let incs: Vec<Vec<&str>> = files.iter().map(|(_, i)| i.to_vec()).collect();
        let ex: Option<BTreeSet<PathBuf>> = explicit.map(|e| e.iter().map(PathBuf::from).collect());
        Units::build(&paths, &incs, ex.as_ref())
    }

    #[test]
    fn unity_build_is_one_unit() {
        let u = build(
            &[
                ("src/module.c", &["tree.c", "walk.c", "util.h"]),
                ("src/tree.c", &[]),
                ("src/walk.c", &[]),
                ("src/util.h", &[]),
            ],
            None,
        );
        assert_eq!(u.units.len(), 1);
        assert_eq!(u.units[0].root, 0);
        assert_eq!(u.units[0].closure, vec![0, 1, 2, 3]);
        assert!(u.of_file.iter().all(|l| l == &vec![0]));
    }

    #[test]
    fn a_header_belongs_to_every_unit_that_includes_it() {
        let u = build(
            &[
                ("a.c", &["common.h"]),
                ("b.c", &["common.h"]),
                ("common.h", &["inner.h"]),
                ("inner.h", &[]),
                ("lonely.h", &[]),
            ],
            None,
        );
        let roots: Vec<usize> = u.units.iter().map(|x| x.root).collect();
        assert_eq!(roots, vec![0, 1, 4]);
        assert_eq!(u.of_file[3], vec![0, 1]);
        assert!(u.units[0].compiled && !u.units[2].compiled);
        assert_eq!(u.units[0].closure, vec![0, 2, 3]);
    }

    #[test]
    fn compile_commands_name_the_units() {
        // b.c is included by a.c, yet compiled on its own too.
        let u = build(
            &[("a.c", &["b.c"]), ("b.c", &[]), ("c.c", &[])],
            Some(&["a.c", "b.c"]),
        );
        let roots: Vec<(usize, bool)> = u.units.iter().map(|x| (x.root, x.compiled)).collect();
        // c.c is not compiled, yet reached by no unit: one of its own.
        assert_eq!(roots, vec![(0, true), (1, true), (2, false)]);
        assert_eq!(u.of_file[1], vec![0, 1]);
    }

    #[test]
    fn includes_resolve_next_to_the_includer_first() {
        let u = build(
            &[("x/a.c", &["util.h"]), ("x/util.h", &[]), ("y/util.h", &[])],
            None,
        );
        assert_eq!(u.units[0].closure, vec![0, 1]);
        let v = build(&[("x/a.c", &["../inc/u.h"]), ("inc/u.h", &[])], None);
        assert_eq!(v.units[0].closure, vec![0, 1]);
    }
}
