//! Code only the preprocessor can see through, parsed once per
//! configuration that matters.
//!
//! tree-sitter-c understands `#if` groups that hold whole statements or
//! declarations, not groups that split one: an `if` / `else if` chain with
//! an `else if` under `#ifdef`, `int ret =` under `#ifndef NDEBUG` before
//! the call that initialises it, `#ifdef` entries in a method table, a
//! `#ifndef` / `#else` inside a call's arguments. Where the whole-file tree
//! has an error, this module takes the smallest run of top-level constructs
//! that holds the error and every conditional straddling it (a **region**),
//! and parses the region once per configuration: configuration `j` keeps
//! group `j` of every conditional in the region (its last group when it has
//! fewer; `#ifndef X` without `#else` has an empty second group) and blanks
//! the other groups and the directive lines, same length. Each group is
//! thus seen in some configuration. When every configuration parses, the
//! region's trees stand in for the whole-file tree there; otherwise the
//! region keeps its error (and the engine refuses what is in it).

use crate::lex::{Conditional, Lines};
use std::ops::Range;
use tree_sitter::{Node, Parser, Tree};

/// A region parsed per configuration.
pub struct View {
    /// Byte range of the region (whole lines, whole top-level constructs).
    pub range: Range<usize>,
    /// One tree per configuration.
    pub trees: Vec<Tree>,
    /// The groups of the conditionals varied: code in them is compiled in
    /// some configurations only.
    pub varied: Vec<Range<usize>>,
}

/// Top-level constructs: byte range, and whether it holds an error.
type Tops = Vec<(Range<usize>, bool)>;

/// More groups than this in one conditional: left unparsed.
const MAX_CONFIGS: usize = 8;

/// At most this many neighbouring regions are tried as one.
const MAX_JOINED: usize = 4;

/// Top-level constructs (inside top-level conditionals too): byte range and
/// whether it holds an error.
fn tops(n: Node, out: &mut Tops) {
    let mut c = n.walk();
    for ch in n.children(&mut c) {
        let conditional = matches!(
            ch.kind(),
            "preproc_if" | "preproc_ifdef" | "preproc_else" | "preproc_elif" | "preproc_elifdef"
        );
        if conditional && !ch.is_error() {
            tops(ch, out);
        } else if ch.is_named() || ch.is_error() || ch.is_missing() {
            out.push((ch.byte_range(), crate::scan::first_error(ch).is_some()));
        }
    }
}

fn meets(a: &Range<usize>, b: &Range<usize>) -> bool {
    // A zero-width range (a missing token) meets what contains it.
    a.start < b.end.max(b.start + 1) && b.start < a.end.max(a.start + 1)
}

/// Grow `r` to whole lines, to every conditional one of whose directive
/// lines it meets, and to every construct it meets, until nothing changes.
fn grow(
    src: &[u8],
    mut r: Range<usize>,
    conds: &[Conditional],
    tops: &[(Range<usize>, bool)],
) -> Range<usize> {
    loop {
        let before = r.clone();
        r = crate::lex::line_start_of(src, r.start)..line_end(src, r.end);
        for c in conds {
            if c.lines.iter().any(|l| meets(l, &r)) {
                let s = c.span();
                r = r.start.min(s.start)..r.end.max(s.end);
            }
        }
        for (t, _) in tops {
            if meets(t, &r) {
                r = r.start.min(t.start)..r.end.max(t.end);
            }
        }
        if r == before {
            return r;
        }
    }
}

/// The regions to parse per configuration: each broken construct, grown
/// (overlapping ones merged); and the constructs, in order.
fn regions(src: &[u8], tree: &Tree, conds: &[Conditional]) -> (Vec<Range<usize>>, Tops) {
    let mut all = Vec::new();
    tops(tree.root_node(), &mut all);
    let mut out: Vec<Range<usize>> = Vec::new();
    for (r, broken) in &all {
        if !broken {
            continue;
        }
        let r = grow(src, r.clone(), conds, &all);
        match out.last_mut() {
            Some(last) if last.end >= r.start => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    (out, all)
}

fn line_end(src: &[u8], at: usize) -> usize {
    let mut i = at;
    while i < src.len() && src[i] != b'\n' && src[i] != b'\r' {
        i += 1;
    }
    i
}

fn blank(buf: &mut [u8], r: Range<usize>) {
    for b in &mut buf[r] {
        if *b != b'\n' && *b != b'\r' {
            *b = b' ';
        }
    }
}

/// The views of a file whose whole-file tree is `tree` (parsed from
/// `text`, the masked source).
pub fn views(
    src: &[u8],
    text: &[u8],
    tree: &Tree,
    conds: &[Conditional],
    lines: &Lines,
) -> Vec<View> {
    if !tree.root_node().has_error() {
        return Vec::new();
    }
    // tree-sitter may split one broken construct into several (`static
    // PyMethodDef m[] = {` apart from its entries), or leave a prefix
    // under `#if` (an attribute) apart from the definition it belongs to:
    // a region that does not parse is tried again with the constructs
    // after it.
    let (regions, tops) = regions(src, tree, conds);
    let mut out: Vec<View> = Vec::new();
    for r in regions {
        if out.last().is_some_and(|v| v.range.end >= r.end) {
            continue; // taken in by the view before
        }
        let mut tries = vec![r.clone()];
        tries.extend(
            tops.iter()
                .filter(|(t, _)| t.start >= r.end)
                .take(MAX_JOINED)
                .map(|(t, _)| grow(src, r.start..t.end, conds, &tops)),
        );
        let after = out.last().map_or(0, |v| v.range.end);
        if let Some(v) = tries
            .into_iter()
            .filter(|t| t.start >= after)
            .find_map(|t| view(src, text, t, conds, lines))
        {
            out.push(v);
        }
    }
    out
}

fn view(
    src: &[u8],
    text: &[u8],
    range: Range<usize>,
    conds: &[Conditional],
    lines: &Lines,
) -> Option<View> {
    let inside: Vec<&Conditional> = conds
        .iter()
        .filter(|c| {
            let s = c.span();
            range.start <= s.start && s.end <= range.end
        })
        .collect();
    let groups: Vec<Vec<Range<usize>>> = inside.iter().map(|c| c.groups(src)).collect();
    // Configurations: a conditional without `#else` has an empty last one.
    let counts: Vec<usize> = inside
        .iter()
        .zip(&groups)
        .map(|(c, g)| g.len() + usize::from(!c.has_else))
        .collect();
    let n = counts.iter().copied().max()?;
    if n > MAX_CONFIGS {
        return None;
    }
    let mut parser = Parser::new();
    parser
        .set_language(&tree_sitter_c::LANGUAGE.into())
        .expect("tree-sitter-c grammar loads");
    let point = |at: usize| {
        let (l, c) = lines.pos(at);
        tree_sitter::Point::new(l - 1, c - 1)
    };
    parser
        .set_included_ranges(&[tree_sitter::Range {
            start_byte: range.start,
            end_byte: range.end,
            start_point: point(range.start),
            end_point: point(range.end),
        }])
        .ok()?;
    let mut trees = Vec::with_capacity(n);
    let mut buf = text.to_vec();
    for j in 0..n {
        buf[range.clone()].copy_from_slice(&text[range.clone()]);
        for ((c, g), count) in inside.iter().zip(&groups).zip(&counts) {
            for l in &c.lines {
                blank(&mut buf, l.clone());
            }
            let keep = j.min(count - 1);
            for (k, r) in g.iter().enumerate() {
                if k != keep {
                    blank(&mut buf, r.clone());
                }
            }
        }
        let t = parser.parse(&buf, None)?;
        if crate::scan::first_error(t.root_node()).is_some() {
            return None;
        }
        trees.push(t);
    }
    Some(View {
        range,
        trees,
        varied: groups.into_iter().flatten().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &str) -> (Vec<View>, Tree) {
        let toks = crate::lex::lex(src.as_bytes());
        let d = crate::lex::scan_directives(src.as_bytes(), &toks);
        let mut p = Parser::new();
        p.set_language(&tree_sitter_c::LANGUAGE.into()).unwrap();
        let tree = p.parse(src, None).unwrap();
        let lines = Lines::new(src.as_bytes());
        (
            views(
                src.as_bytes(),
                src.as_bytes(),
                &tree,
                &d.conditionals,
                &lines,
            ),
            tree,
        )
    }

    #[test]
    fn split_statements_parse_per_configuration() {
        let src = "int a;\nint f(int x)\n{\n#ifndef NDEBUG\n    int ret =\n#endif\n    g(x);\n\
                   if (x) {\n    }\n#ifdef X\n    else if (x > 1) {\n    }\n#endif\n    else {\n    }\n\
                   return h(\n#ifdef Y\n        1,\n#else\n        0,\n#endif\n        x);\n}\nint b;\n";
        let (views, tree) = parse(src);
        assert!(tree.root_node().has_error());
        assert_eq!(views.len(), 1);
        let v = &views[0];
        let text = &src[v.range.clone()];
        // Where the error recovery ends is tree-sitter's choice.
        assert!(
            text.starts_with("int f(int x)") && text.contains("x);\n}"),
            "{text}"
        );
        assert_eq!(v.trees.len(), 2);
        assert_eq!(v.varied.len(), 4);
        for t in &v.trees {
            assert!(!t.root_node().has_error());
        }
    }

    #[test]
    fn table_entries_under_ifdef() {
        let src =
            "static M m[] = {\n    {\"a\", f, 1},\n#ifndef NDEBUG\n    {\"b\", g, 1},\n#endif\n\
                   {0}\n};\nint ok(void) { return 0; }\n";
        let (views, _) = parse(src);
        assert_eq!(views.len(), 1);
        assert!(src[views[0].range.clone()].ends_with("};"));
    }

    #[test]
    fn a_construct_split_by_the_error_recovery_is_one_region() {
        let src = "#include <x.h>\n\nstatic M m[] = {\n    // first\n#ifdef A\n    {\"a\", f, 1},\n    {\"b\", g, 1},\n\
                   #endif\n#ifdef B\n    {\"c\", h, 1},\n#endif\n    {0}\n};\nint ok(void) { return 0; }\n";
        let (views, tree) = parse(src);
        assert!(tree.root_node().has_error());
        assert_eq!(views.len(), 1);
        assert!(src[views[0].range.clone()].starts_with("static M m[]"));
    }

    #[test]
    fn a_prefix_under_if_joins_the_definition_after_it() {
        let src =
            "int a;\n#ifdef __GNUC__\n# if __GNUC__ >= 4\n__attribute__((noinline))\n# endif\n\
                   #endif\nstatic int\nf(int x)\n{\n    return x;\n}\nint b;\n";
        let (views, tree) = parse(src);
        assert!(tree.root_node().has_error());
        assert_eq!(views.len(), 1);
        let text = &src[views[0].range.clone()];
        assert!(
            text.starts_with("#ifdef __GNUC__") && text.ends_with("}"),
            "{text}"
        );
    }

    #[test]
    fn errors_of_another_kind_stay() {
        let src = "int f(void) { return 1 +; }\n";
        let (views, _) = parse(src);
        assert!(views.is_empty());
    }
}
