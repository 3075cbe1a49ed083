//! Conditional groups as a fact about text: how deep in `#if` groups each
//! directive line is. The edit phase places `#include "pyctx.h"` outside
//! every group; the check phase verifies the output does.
//!
//! An include guard (`#ifndef G` / `#define G` first, its `#endif` last
//! in the file) is not a group here: every configuration sees its inside.

use crate::lex::{Tok, Token};
use std::ops::Range;

/// Per directive line (`lines`: token ranges from `#` to the newline):
/// (depth of the line itself, depth after it). An `#if` line is outside
/// the group it opens; `#else` / `#endif` lines are inside theirs.
pub(crate) fn depths(src: &[u8], toks: &[Token], lines: &[Range<usize>]) -> Vec<(usize, usize)> {
    depths_in(src, toks, lines, true)
}

/// The directive name of a directive line (`if`, `endif`, ...; `b""`
/// when there is none).
fn directive<'s>(src: &'s [u8], toks: &[Token], r: &Range<usize>) -> &'s [u8] {
    toks[r.clone()]
        .iter()
        .filter(|t| t.kind != Tok::Comment)
        .nth(1)
        .filter(|t| t.kind == Tok::Ident)
        .map(|t| &src[t.start()..t.end()])
        .unwrap_or(b"")
}

/// Does every `#endif` of the text close a group the text opened, and
/// is every group it opens closed in it? (A piece of a file that is
/// balanced has the same groups alone as within the file.)
pub(crate) fn balanced(src: &[u8], toks: &[Token], lines: &[Range<usize>]) -> bool {
    let mut depth = 0usize;
    for r in lines {
        match directive(src, toks, r) {
            b"if" | b"ifdef" | b"ifndef" => depth += 1,
            b"endif" if depth == 0 => return false,
            b"endif" => depth -= 1,
            _ => {}
        }
    }
    depth == 0
}

/// [`depths`]; `guard`: an include guard is recognised (false for a
/// piece of a file, whose text around the piece is unknown).
pub(crate) fn depths_in(
    src: &[u8],
    toks: &[Token],
    lines: &[Range<usize>],
    guard: bool,
) -> Vec<(usize, usize)> {
    let mut out = Vec::with_capacity(lines.len());
    let mut depth = 0usize;
    for r in lines {
        match directive(src, toks, r) {
            b"if" | b"ifdef" | b"ifndef" => {
                out.push((depth, depth + 1));
                depth += 1;
            }
            b"elif" | b"else" | b"elifdef" | b"elifndef" => out.push((depth, depth)),
            b"endif" => {
                let d = depth;
                depth = depth.saturating_sub(1);
                out.push((d, depth));
            }
            _ => out.push((depth, depth)),
        }
    }
    if let Some(end) = guard.then(|| guard_end(src, toks, lines, &out)).flatten() {
        for d in &mut out[1..end] {
            d.0 = d.0.saturating_sub(1);
            d.1 = d.1.saturating_sub(1);
        }
        out[0].1 = 0;
        out[end].0 = 0;
    }
    out
}

/// The index of an include guard's `#endif` line, when the file has one.
fn guard_end(
    src: &[u8],
    toks: &[Token],
    lines: &[Range<usize>],
    depths: &[(usize, usize)],
) -> Option<usize> {
    if lines.len() < 3 {
        return None;
    }
    let words = |r: &Range<usize>| -> Vec<&[u8]> {
        toks[r.clone()]
            .iter()
            .filter(|t| t.kind != Tok::Comment)
            .skip(1)
            .take(2)
            .map(|t| &src[t.start()..t.end()])
            .collect()
    };
    let (a, b) = (words(&lines[0]), words(&lines[1]));
    if a.len() < 2 || b.len() < 2 || a[0] != b"ifndef" || b[0] != b"define" || a[1] != b[1] {
        return None;
    }
    // Nothing but comments may come before the `#ifndef`.
    if toks[..lines[0].start]
        .iter()
        .any(|t| !matches!(t.kind, Tok::Comment | Tok::Newline))
    {
        return None;
    }
    let end = (1..lines.len()).find(|&k| depths[k].1 == 0)?;
    let after = lines[end].end;
    toks[after..]
        .iter()
        .all(|t| matches!(t.kind, Tok::Comment | Tok::Newline))
        .then_some(end)
}

/// The depth of the code at token `k`: the depth after the last directive
/// line before it.
pub(crate) fn depth_at(lines: &[Range<usize>], depths: &[(usize, usize)], k: usize) -> usize {
    let n = lines.partition_point(|r| r.start < k);
    if n == 0 {
        0
    } else {
        depths[n - 1].1
    }
}

/// The includes of a file outside every conditional group (an include
/// guard excepted) and between declarations: the ones every configuration
/// sees, after which a line of its own lands at file scope.
/// With the offset of each one's `#`.
pub(crate) fn top_level_includes(fs: &crate::scan::FileScan) -> Vec<(&crate::lex::Include, usize)> {
    let lines = &fs.dir.directive_lines;
    fs.dir
        .includes
        .iter()
        .zip(&fs.include_at_file_scope)
        .filter_map(|(i, &file_scope)| {
            let k = lines.iter().position(|r| r.start == i.hash_tok)?;
            (file_scope && fs.dir_depths[k].0 == 0).then_some((i, fs.dir_at[k]))
        })
        .collect()
}

/// Per include of `includes` (in file order, by the token index of its
/// `#`): whether it sits between two file-scope declarations, where a line
/// added after it is at file scope too: no parenthesis, bracket or brace
/// open around it, and the code before it, if any, ends with `;` or `}`.
/// The braces of `extern "C" {` and `namespace N {` are file scope.
/// An include inside a declaration (a parameter list, an initialiser) or
/// a function body is not such a place.
pub(crate) fn includes_at_file_scope(
    src: &[u8],
    toks: &[Token],
    lines: &[Range<usize>],
    includes: &[crate::lex::Include],
) -> Vec<bool> {
    let text = |t: &Token| &src[t.start()..t.end()];
    let mut out = Vec::with_capacity(includes.len());
    let mut next_inc = includes.iter().map(|i| i.hash_tok).peekable();
    let mut line = lines.iter().peekable();
    // Open braces: whether each one is a file-scope block.
    let mut braces: Vec<bool> = Vec::new();
    let mut parens = 0usize;
    // The last three code tokens, the newest last.
    let mut recent: [Option<Token>; 3] = [None; 3];
    let mut k = 0;
    while k < toks.len() {
        while next_inc.peek().is_some_and(|&h| h <= k) {
            next_inc.next();
            let closed = match recent[2] {
                None => true,
                Some(t) => matches!(t.kind, Tok::Punct(b';') | Tok::Punct(b'}')),
            };
            out.push(closed && parens == 0 && braces.iter().all(|&scope| scope));
        }
        if let Some(r) = line.peek() {
            if r.start == k {
                k = r.end.max(k + 1);
                line.next();
                continue;
            }
        }
        let t = toks[k];
        k += 1;
        match t.kind {
            Tok::Comment | Tok::Newline => continue,
            Tok::Punct(b'(') | Tok::Punct(b'[') => parens += 1,
            Tok::Punct(b')') | Tok::Punct(b']') => parens = parens.saturating_sub(1),
            Tok::Punct(b'{') => {
                let word = |t: &Option<Token>, w: &[u8]| t.is_some_and(|t| text(&t) == w);
                let extern_c =
                    recent[2].is_some_and(|t| t.kind == Tok::Str) && word(&recent[1], b"extern");
                let namespace = word(&recent[2], b"namespace")
                    || (recent[2].is_some_and(|t| t.kind == Tok::Ident)
                        && word(&recent[1], b"namespace"));
                braces.push(parens == 0 && (extern_c || namespace));
            }
            Tok::Punct(b'}') => {
                braces.pop();
            }
            _ => {}
        }
        recent = [recent[1], recent[2], Some(t)];
    }
    // Includes after the last token (or past the end) see the final state.
    for _ in next_inc {
        let closed =
            recent[2].is_none_or(|t| matches!(t.kind, Tok::Punct(b';') | Tok::Punct(b'}')));
        out.push(closed && parens == 0 && braces.iter().all(|&scope| scope));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(src: &str) -> Vec<(usize, usize)> {
        let toks = crate::lex::lex(src.as_bytes());
        let d = crate::lex::scan_directives(src.as_bytes(), &toks);
        depths(src.as_bytes(), &toks, &d.directive_lines)
    }

    #[test]
    fn groups_nest() {
        let d = run("#include <a.h>\n#ifdef X\n#include <b.h>\n#if Y\n#else\n#endif\n#endif\n#include <c.h>\n");
        assert_eq!(
            d,
            vec![
                (0, 0),
                (0, 1),
                (1, 1),
                (1, 2),
                (2, 2),
                (2, 1),
                (1, 0),
                (0, 0)
            ]
        );
    }

    #[test]
    fn an_include_guard_is_not_a_group() {
        let d = run(
            "/* h */\n#ifndef H\n#define H\n#include <a.h>\n#ifdef X\n#endif\n#endif /* H */\n",
        );
        assert_eq!(d, vec![(0, 0), (0, 0), (0, 0), (0, 1), (1, 0), (0, 0)]);
    }

    #[test]
    fn a_default_definition_is_a_group() {
        // `#ifndef X / #define X 1 / #endif` then more: not a guard.
        let d = run("#ifndef X\n#define X 1\n#include <a.h>\n#endif\nint x;\n");
        assert_eq!(d[2], (1, 1));
    }
}
