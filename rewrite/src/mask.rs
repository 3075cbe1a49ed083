//! The text tree-sitter parses: the source with a few same-length
//! substitutions, so that every byte offset in the tree is an offset in the
//! original file and edits land exactly.
//!
//! - Dead groups (`#if 0`, the other branches of `#if 1`) become blanks
//!   (line endings kept): nothing in them is parsed, referenced or edited.
//! - CPython's brace macros, which are written without a semicolon, become
//!   what they expand to structurally: `Py_BEGIN_ALLOW_THREADS` → `{`,
//!   `Py_END_ALLOW_THREADS` → `}`, `Py_BLOCK_THREADS` / `Py_UNBLOCK_THREADS`
//!   → `;`. Otherwise tree-sitter reads `Py_BEGIN_ALLOW_THREADS x = f(y);` as a
//!   declaration of `x`, or gives up on the statement after it.
//! - Object-header macros (`PyObject_HEAD`, `PyObject_VAR_HEAD`,
//!   `PyObject_HEAD_INIT(..)`, `PyVarObject_HEAD_INIT(..)`), written without
//!   a following `;` or `,`, become blanks so struct definitions and type
//!   initialisers parse.

use crate::lex::{Tok, Token};
use std::ops::Range;

fn blank(buf: &mut [u8], r: Range<usize>) {
    for b in &mut buf[r] {
        if *b != b'\n' && *b != b'\r' {
            *b = b' ';
        }
    }
}

/// The text to parse, and ranges tree-sitter should skip altogether
/// (blanked regions: whitespace costs it as much as code). Each skipped
/// range keeps a blank byte on either side, so no two tokens meet.
pub struct Masked {
    pub text: Vec<u8>,
    pub skip: Vec<Range<usize>>,
    /// Statement macro invocations blanked (name, offset of the name).
    pub hidden: Vec<(String, usize)>,
    /// Runtime trampoline lines blanked (`PYCTX__TRAMPOLINE(...)`,
    /// `PYCTX_DEALLOC(...)`, `PYCTX_METH_*(...)`, `PYCTX_SLOT_*(...)`,
    /// `PYCTX_MODULE_EXEC(...)`): token index ranges of their arguments.
    pub trampolines: Vec<Range<usize>>,
}

/// A runtime macro that defines a trampoline function at file scope.
pub fn is_trampoline_macro(w: &[u8]) -> bool {
    matches!(
        w,
        b"PYCTX__TRAMPOLINE" | b"PYCTX_DEALLOC" | b"PYCTX_MODULE_EXEC"
    ) || w.starts_with(b"PYCTX_METH_")
        || w.starts_with(b"PYCTX_SLOT_")
}

/// Trampoline lines: the macro at the start of a line, with its argument
/// list (token ranges: the macro name to the closing parenthesis).
fn trampoline_lines(src: &[u8], toks: &[Token], dead: &[Range<usize>]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut i = 0;
    let mut line_start = true;
    while i < toks.len() {
        let t = toks[i];
        if t.kind == Tok::Comment {
            i += 1;
            continue;
        }
        let at_start = line_start;
        line_start = matches!(t.kind, Tok::Newline | Tok::Punct(b'}' | b';'));
        if t.kind == Tok::Ident
            && at_start
            && is_trampoline_macro(&src[t.start..t.end])
            && toks.get(i + 1).map(|n| n.kind) == Some(Tok::Punct(b'('))
            && !dead.iter().any(|d| d.contains(&t.start))
        {
            if let Some(close) = matching_paren(toks, i + 1) {
                out.push(i..close + 1);
                i = close + 1;
                line_start = false;
                continue;
            }
        }
        i += 1;
    }
    out
}

/// Project macros blanked before parsing.
#[derive(Debug, Default)]
pub struct Blanks {
    /// Object-like macros that expand to nothing or to an attribute:
    /// `UNUSED int x;` parses once `UNUSED` is blank.
    pub words: std::collections::HashSet<String>,
    /// Function-like macros whose every definition is empty or ends with
    /// `;` or `}`: an invocation written without a `;` after it
    /// (`TRACE(("x"))` on its own line) is a whole statement, and goes.
    pub stmt_macros: std::collections::HashSet<String>,
}

pub fn mask(
    src: &[u8],
    toks: &[Token],
    dead: &[Range<usize>],
    blanks: &Blanks,
    directive_lines: &[Range<usize>],
) -> Masked {
    let mut hidden = Vec::new();
    let mut text = parse_text(src, toks, dead, blanks, directive_lines, &mut hidden);
    let trampolines = trampoline_lines(src, toks, dead);
    for r in &trampolines {
        blank(&mut text, toks[r.start].start..toks[r.end - 1].end);
    }
    let mut skip: Vec<Range<usize>> = Vec::new();
    for r in dead {
        if r.end >= r.start + 3 {
            skip.push(r.start + 1..r.end - 1);
        }
    }
    skip.extend(
        data_initializers(toks)
            .into_iter()
            .filter_map(|r| (r.end >= r.start + 3).then(|| r.start + 1..r.end - 1)),
    );
    skip.sort_by_key(|r| r.start);
    let mut merged: Vec<Range<usize>> = Vec::new();
    for r in skip {
        match merged.last_mut() {
            Some(m) if r.start <= m.end => m.end = m.end.max(r.end),
            _ => merged.push(r),
        }
    }
    Masked {
        text,
        skip: merged,
        hidden,
        trampolines,
    }
}

pub fn parse_text(
    src: &[u8],
    toks: &[Token],
    dead: &[Range<usize>],
    blanks: &Blanks,
    directive_lines: &[Range<usize>],
    hidden: &mut Vec<(String, usize)>,
) -> Vec<u8> {
    // Token index → inside a directive line (only code is blanked).
    let mut dl = 0;
    let mut buf = src.to_vec();
    for r in dead {
        blank(&mut buf, r.clone());
    }
    for r in data_initializers(toks) {
        blank(&mut buf, r);
    }
    let mut d = 0;
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i];
        while d < dead.len() && dead[d].end <= t.start {
            d += 1;
        }
        if d < dead.len() && dead[d].start <= t.start {
            i += 1;
            continue;
        }
        if t.kind != Tok::Ident {
            i += 1;
            continue;
        }
        while dl < directive_lines.len() && directive_lines[dl].end <= i {
            dl += 1;
        }
        if dl < directive_lines.len() && directive_lines[dl].start <= i {
            // Directive lines (`#define NAME ...`) keep their text.
            i += 1;
            continue;
        }
        let in_directive = false;
        let word = &src[t.start..t.end];
        let replacement = match word {
            b"Py_BEGIN_ALLOW_THREADS" => Some(b'{'),
            b"Py_END_ALLOW_THREADS" => Some(b'}'),
            b"Py_BLOCK_THREADS" | b"Py_UNBLOCK_THREADS" => Some(b';'),
            b"PyObject_HEAD"
            | b"PyObject_VAR_HEAD"
            | b"_PyObject_EXTRA_INIT"
            | b"_Py_COMP_DIAG_PUSH"
            | b"_Py_COMP_DIAG_POP"
            | b"_Py_COMP_DIAG_IGNORE_DEPR_DECLS" => Some(b' '),
            _ => None,
        };
        let word_str = std::str::from_utf8(word).unwrap_or("");
        if replacement.is_none() && !in_directive && blanks.words.contains(word_str) {
            blank(&mut buf, t.start..t.end);
            i += 1;
            continue;
        }
        if !in_directive
            && blanks.stmt_macros.contains(word_str)
            && toks.get(i + 1).map(|n| n.kind) == Some(Tok::Punct(b'('))
        {
            if let Some(close) = matching_paren(toks, i + 1) {
                let next = toks[close + 1..]
                    .iter()
                    .find(|t| !matches!(t.kind, Tok::Comment | Tok::Newline))
                    .map(|t| t.kind);
                if !matches!(
                    next,
                    Some(Tok::Punct(b';' | b',' | b')' | b'?' | b':' | b'='))
                ) {
                    blank(&mut buf, t.start..toks[close].end);
                    hidden.push((word_str.to_string(), t.start));
                    i = close + 1;
                    continue;
                }
            }
        }
        if let Some(c) = replacement {
            blank(&mut buf, t.start..t.end);
            buf[t.start] = c;
            i += 1;
            continue;
        }
        if let Some(k) = type_argument(word) {
            if toks.get(i + 1).map(|n| n.kind) == Some(Tok::Punct(b'(')) {
                glue_type_argument(&mut buf, toks, i + 1, k);
            }
        }
        if matches!(
            word,
            b"PyObject_HEAD_INIT" | b"PyVarObject_HEAD_INIT" | b"Py_GCC_ATTRIBUTE"
        ) && toks.get(i + 1).map(|n| n.kind) == Some(Tok::Punct(b'('))
        {
            let mut depth = 0usize;
            let mut j = i + 1;
            while j < toks.len() {
                match toks[j].kind {
                    Tok::Punct(b'(') => depth += 1,
                    Tok::Punct(b')') => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            if j < toks.len() {
                blank(&mut buf, t.start..toks[j].end);
                i = j + 1;
                continue;
            }
        }
        i += 1;
    }
    buf
}

/// CPython macros taking a type as an argument, and its position. A type
/// such as `PyObject *` or `unsigned char` is no expression; glued into one
/// identifier-like token (`PyObject__`, `unsigned_char`) the call parses.
fn type_argument(word: &[u8]) -> Option<usize> {
    match word {
        b"_Py_CAST"
        | b"_Py_STATIC_CAST"
        | b"_Py_reinterpret_cast"
        | b"_Py_const_cast"
        | b"PyMem_New"
        | b"PyMem_NEW"
        | b"PyObject_New"
        | b"PyObject_NEW"
        | b"PyObject_NewVar"
        | b"PyObject_NEW_VAR"
        | b"PyObject_GC_New"
        | b"PyObject_GC_NewVar"
        | b"PyObject_GC_Resize" => Some(0),
        b"PyMem_Resize" | b"PyMem_RESIZE" => Some(1),
        _ => None,
    }
}

/// Glue the `k`th argument of the call whose `(` is token `open` into one
/// identifier: every blank and `*` becomes `_` (newlines kept).
fn glue_type_argument(buf: &mut [u8], toks: &[Token], open: usize, k: usize) {
    let mut depth = 0usize;
    let mut arg = 0usize;
    let mut start: Option<usize> = None;
    for t in &toks[open..] {
        match t.kind {
            Tok::Punct(b'(') => {
                depth += 1;
                if depth == 1 {
                    continue;
                }
            }
            Tok::Punct(b')') if depth == 1 => {
                if arg == k {
                    if let Some(s) = start {
                        glue(buf, s, t.start);
                    }
                }
                return;
            }
            Tok::Punct(b')') => depth -= 1,
            Tok::Punct(b',') if depth == 1 => {
                if arg == k {
                    if let Some(s) = start {
                        glue(buf, s, t.start);
                    }
                    return;
                }
                arg += 1;
                continue;
            }
            _ => {}
        }
        if depth == 1 && arg == k {
            match t.kind {
                Tok::Ident | Tok::Punct(b'*') => {
                    start.get_or_insert(t.start);
                }
                // Not a plain type: leave the call alone.
                _ => return,
            }
        }
    }
}

fn glue(buf: &mut [u8], from: usize, to: usize) {
    // Trim trailing blanks so the glued token ends where the type does.
    let mut end = to;
    while end > from && matches!(buf[end - 1], b' ' | b'\t' | b'\n' | b'\r') {
        end -= 1;
    }
    for b in &mut buf[from..end] {
        if matches!(*b, b' ' | b'\t' | b'*') {
            *b = b'_';
        }
    }
}

fn matching_paren(toks: &[Token], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (j, t) in toks.iter().enumerate().skip(open) {
        match t.kind {
            Tok::Punct(b'(') => depth += 1,
            Tok::Punct(b')') => {
                depth -= 1;
                if depth == 0 {
                    return Some(j);
                }
            }
            Tok::Punct(b'{') | Tok::Punct(b'}') | Tok::Punct(b';') if depth == 1 => return None,
            _ => {}
        }
    }
    None
}

/// Data tables (`= { 1, 2, "x", ... }` with no identifier inside) hold
/// nothing the engine looks at, and large ones dominate parsing time
/// (Unicode tables of several megabytes): their interiors.
fn data_initializers(toks: &[Token]) -> Vec<Range<usize>> {
    const MIN_BYTES: usize = 1024;
    let mut out = Vec::new();
    let mut i = 0;
    while i + 1 < toks.len() {
        if toks[i].kind == Tok::Punct(b'=') && toks[i + 1].kind == Tok::Punct(b'{') {
            let open = i + 1;
            let mut depth = 0usize;
            let mut has_ident = false;
            let mut j = open;
            while j < toks.len() {
                match toks[j].kind {
                    Tok::Punct(b'{') => depth += 1,
                    Tok::Punct(b'}') => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    Tok::Punct(b'#') | Tok::Ident => {
                        has_ident = true;
                        break;
                    }
                    _ => {}
                }
                j += 1;
            }
            if !has_ident && j < toks.len() && toks[j].start - toks[open].end >= MIN_BYTES {
                out.push(toks[open].end..toks[j].start);
                i = j + 1;
                continue;
            }
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lex::{lex, scan_directives};

    #[test]
    fn type_arguments_are_glued() {
        let src = "x = _Py_CAST(PyObject *, f(a)); p = PyMem_Resize(p, unsigned char, n);\n\
                   q = _Py_CAST(T /* c */ *, y);\n";
        let toks = lex(src.as_bytes());
        let d = scan_directives(src.as_bytes(), &toks);
        let out = parse_text(
            src.as_bytes(),
            &toks,
            &d.dead,
            &Default::default(),
            &d.directive_lines,
            &mut Vec::new(),
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "x = _Py_CAST(PyObject__, f(a)); p = PyMem_Resize(p, unsigned_char, n);\n\
             q = _Py_CAST(T /* c */ *, y);\n"
        );
    }

    #[test]
    fn same_length_substitutions() {
        let src = "Py_BEGIN_ALLOW_THREADS\nx();\nPy_END_ALLOW_THREADS\n#if 0\nbad(\n#endif\n\
                   T t = { PyVarObject_HEAD_INIT(NULL,\n 0) \"n\" };\n/* Py_BEGIN_ALLOW_THREADS */\n";
        let toks = lex(src.as_bytes());
        let d = scan_directives(src.as_bytes(), &toks);
        let out = parse_text(
            src.as_bytes(),
            &toks,
            &d.dead,
            &Default::default(),
            &d.directive_lines,
            &mut Vec::new(),
        );
        assert_eq!(out.len(), src.len());
        let out = String::from_utf8(out).unwrap();
        assert_eq!(
            out,
            "{                     \nx();\n}                   \n     \n    \n      \n\
             T t = {                            \n    \"n\" };\n/* Py_BEGIN_ALLOW_THREADS */\n"
        );
    }
}
