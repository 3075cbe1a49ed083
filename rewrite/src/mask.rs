//! The text tree-sitter parses: the source with a few same-length
//! substitutions, so that every byte offset in the tree is an offset in the
//! original file and edits land exactly.
//!
//! - Dead groups (`#if 0`, the other branches of `#if 1`) become blanks
//!   (line endings kept): nothing in them is parsed, referenced or edited.
//! - Every site of a macro with a role in the macro model
//!   ([`crate::macros`]) becomes its same-length stand-in: `{` / `}` for
//!   brace macros (`Py_BEGIN_ALLOW_THREADS`, a project's `FOO_BEGIN(x)`),
//!   blanks for attributes, specifiers and statement macros written
//!   without `;`, `static` for specifiers that include it, `if` for
//!   statement heads, the operator for `and` / `or` / `not`, the arguments
//!   alone for declaration wrappers (`Py_LOCAL_INLINE(int)` → `static int`).
//! - Type arguments of CPython macros (`PyMem_New(PyObject *, n)`) are glued
//!   into one identifier-like token.
//! - Large data initialisers are skipped.

use crate::lex::{Tok, Token};
use crate::macros::{FileRoles, Role};
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
    /// See [`Stand::hidden_args`].
    pub hidden_args: Vec<Range<usize>>,
    /// Runtime trampoline lines blanked (`PYCTX__TRAMPOLINE(...)`,
    /// `PYCTX_DEALLOC(...)`, `PYCTX_METH_*(...)`, `PYCTX_SLOT_*(...)`,
    /// `PYCTX_MODULE_EXEC(...)`): token index ranges of their arguments.
    pub trampolines: Vec<Range<usize>>,
    /// Offsets of macros standing for `static` that were too short to be
    /// written `static` (blanked instead).
    pub static_at: Vec<usize>,
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
            && is_trampoline_macro(&src[t.start()..t.end()])
            && toks.get(i + 1).map(|n| n.kind) == Some(Tok::Punct(b'('))
            && !dead.iter().any(|d| d.contains(&t.start()))
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

pub fn mask(
    src: &[u8],
    toks: &[Token],
    dead: &[Range<usize>],
    roles: FileRoles,
    directive_lines: &[Range<usize>],
) -> Masked {
    let mut hidden = Vec::new();
    let mut hidden_args = Vec::new();
    let mut static_at = Vec::new();
    let mut text = parse_text(
        src,
        toks,
        dead,
        roles,
        directive_lines,
        &mut Stand {
            hidden: &mut hidden,
            hidden_args: &mut hidden_args,
            static_at: &mut static_at,
        },
    );
    let trampolines = trampoline_lines(src, toks, dead);
    for r in &trampolines {
        blank(&mut text, toks[r.start].start()..toks[r.end - 1].end());
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
        hidden_args,
        trampolines,
        static_at,
    }
}

/// What the substitutions record.
pub struct Stand<'a> {
    /// Macro sites hidden from the parser (name, offset): their expansion
    /// is not visible in the tree.
    pub hidden: &'a mut Vec<(String, usize)>,
    /// Arguments hidden from the parser (token index ranges): names in
    /// them are uses the tree does not show.
    pub hidden_args: &'a mut Vec<Range<usize>>,
    /// See [`Masked::static_at`].
    pub static_at: &'a mut Vec<usize>,
}

pub fn parse_text(
    src: &[u8],
    toks: &[Token],
    dead: &[Range<usize>],
    roles: FileRoles,
    directive_lines: &[Range<usize>],
    out: &mut Stand,
) -> Vec<u8> {
    let mut buf = src.to_vec();
    for r in dead {
        blank(&mut buf, r.clone());
    }
    for r in data_initializers(toks) {
        blank(&mut buf, r);
    }
    let mut d = 0;
    let mut dl = 0;
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i];
        while d < dead.len() && dead[d].end <= t.start() {
            d += 1;
        }
        if t.kind != Tok::Ident || (d < dead.len() && dead[d].start <= t.start()) {
            i += 1;
            continue;
        }
        while dl < directive_lines.len() && directive_lines[dl].end <= i {
            dl += 1;
        }
        if dl < directive_lines.len() && directive_lines[dl].start <= i {
            // Directive lines keep their text, but for `#define` and
            // `#undef`, which the engine reads from the tokens: tree-sitter
            // has no use for them and trips on them (a `#define` inside an
            // initialiser, comments between continued lines).
            let line = directive_lines[dl].clone();
            if defines_or_undefines(src, toks, line.clone()) {
                blank(&mut buf, toks[line.start].start()..toks[line.end - 1].end());
            }
            i = line.end;
            continue;
        }
        let word = &src[t.start()..t.end()];
        if let Some(next) = stand_in(src, toks, i, roles, &mut buf, out) {
            i = next;
            continue;
        }
        let name = std::str::from_utf8(word).unwrap_or("");
        if let Some(ks) = roles.stmt_args(name) {
            if toks.get(i + 1).map(|n| n.kind) == Some(Tok::Punct(b'(')) {
                statement_arguments(src, toks, i + 1, ks, &mut buf, out);
            }
        }
        if let Some(ks) = roles.type_args(name) {
            if toks.get(i + 1).map(|n| n.kind) == Some(Tok::Punct(b'(')) {
                for &k in ks {
                    glue_type_argument(&mut buf, toks, i + 1, k);
                }
            }
        }
        i += 1;
    }
    buf
}

/// Is the directive line (token range, `#` first) a `#define` or `#undef`?
fn defines_or_undefines(src: &[u8], toks: &[Token], line: Range<usize>) -> bool {
    line.clone()
        .skip(1)
        .find(|&k| toks[k].kind != Tok::Comment)
        .is_some_and(|k| matches!(&src[toks[k].start()..toks[k].end()], b"define" | b"undef"))
}

/// The code token before `i` (comments and newlines skipped).
fn prev_code(toks: &[Token], i: usize) -> Option<usize> {
    (0..i)
        .rev()
        .find(|&k| !matches!(toks[k].kind, Tok::Comment | Tok::Newline))
}

/// Is token `k` on a directive line (its logical line starts with `#`)?
fn on_directive_line(toks: &[Token], k: usize) -> bool {
    let start = (0..k)
        .rev()
        .find(|&j| toks[j].kind == Tok::Newline)
        .map_or(0, |j| j + 1);
    toks[start..=k]
        .iter()
        .find(|t| t.kind != Tok::Comment)
        .is_some_and(|t| t.kind == Tok::Punct(b'#'))
}

/// Is the macro site `toks[i]` (ending before token `after`) where a
/// statement may start and end? A statement macro written with its `;`, or
/// used as an expression or an initialiser, is left as written.
fn statement_position(src: &[u8], toks: &[Token], i: usize, after: usize) -> bool {
    let next = toks[after..]
        .iter()
        .find(|t| !matches!(t.kind, Tok::Comment | Tok::Newline))
        .map(|t| t.kind);
    if matches!(
        next,
        Some(Tok::Punct(
            b';' | b',' | b')' | b'?' | b':' | b'=' | b'.' | b'['
        ))
    ) {
        return false;
    }
    let Some(k) = prev_code(toks, i) else {
        return true;
    };
    let p = toks[k];
    match p.kind {
        _ if on_directive_line(toks, k) => true,
        Tok::Punct(b';' | b'{' | b'}' | b')' | b':') => true,
        Tok::Ident => matches!(&src[p.start()..p.end()], b"else" | b"do"),
        _ => false,
    }
}

/// Write the stand-in of the macro site at token `i`, if its name has a
/// role here; the token index to continue from.
fn stand_in(
    src: &[u8],
    toks: &[Token],
    i: usize,
    roles: FileRoles,
    buf: &mut [u8],
    out: &mut Stand,
) -> Option<usize> {
    let t = toks[i];
    let name = std::str::from_utf8(&src[t.start()..t.end()]).ok()?;
    let call = toks.get(i + 1).map(|n| n.kind) == Some(Tok::Punct(b'('));
    let (role, close) = match roles.function(name).filter(|_| call) {
        Some(r) => (r, Some(matching_paren(toks, i + 1)?)),
        None => (roles.object(name)?, None),
    };
    let after = close.map(|c| c + 1).unwrap_or(i + 1);
    let span = t.start()..toks[after - 1].end();
    let write = |buf: &mut [u8], text: &[u8]| {
        blank(buf, span.clone());
        buf[span.start..span.start + text.len()].copy_from_slice(text);
    };
    match role {
        Role::Blank => blank(buf, span),
        Role::Static if span.len() >= 6 => write(buf, b"static"),
        Role::Static => {
            blank(buf, span);
            out.static_at.push(t.start());
        }
        Role::Open | Role::Close => {
            write(buf, if *role == Role::Open { b"{" } else { b"}" });
            out.hidden.push((name.to_string(), t.start()));
            if let Some(c) = close {
                out.hidden_args.push(i + 2..c);
            }
        }
        Role::Stmt => {
            if !statement_position(src, toks, i, after) {
                return None;
            }
            blank(buf, span);
            out.hidden.push((name.to_string(), t.start()));
            if let Some(c) = close {
                out.hidden_args.push(i + 2..c);
            }
        }
        Role::Head => match close {
            // `NAME(a, b)` → `if  (a, b)`: the arguments stay visible.
            Some(_) if t.end() - t.start() >= 2 => {
                blank(buf, t.start()..t.end());
                buf[t.start()..t.start() + 2].copy_from_slice(b"if");
                return Some(i + 1);
            }
            None if span.len() >= 5 => write(buf, b"if(1)"),
            _ => return None,
        },
        Role::Wrapper { is_static } => {
            // `NAME(type)` → `static type `: the arguments stay visible.
            let close = close?;
            blank(buf, t.start()..toks[i + 1].end());
            blank(buf, toks[close].start()..toks[close].end());
            if *is_static {
                if t.end() - t.start() >= 6 {
                    buf[t.start()..t.start() + 6].copy_from_slice(b"static");
                } else {
                    out.static_at.push(t.start());
                }
            }
            return Some(i + 2);
        }
        Role::Op(op) => write(buf, op.as_bytes()),
    }
    Some(after)
}

/// The arguments (token index ranges, comments included) of the call whose
/// `(` is token `open`.
fn arguments(toks: &[Token], open: usize) -> Option<Vec<Range<usize>>> {
    let close = matching_paren(toks, open)?;
    let mut depth = 0usize;
    let mut out = Vec::new();
    let mut from = open + 1;
    for (j, t) in toks.iter().enumerate().take(close).skip(open + 1) {
        match t.kind {
            Tok::Punct(b'(') => depth += 1,
            Tok::Punct(b')') => depth = depth.saturating_sub(1),
            Tok::Punct(b',') if depth == 0 => {
                out.push(from..j);
                from = j + 1;
            }
            _ => {}
        }
    }
    out.push(from..close);
    Some(out)
}

/// Words that start a statement and no expression.
const STATEMENT_WORDS: &[&[u8]] = &[
    b"goto",
    b"return",
    b"break",
    b"continue",
    b"do",
    b"if",
    b"while",
    b"for",
    b"switch",
];

/// Arguments at statement parameters (`ks`) of the call whose `(` is token
/// `open` that are statements (`goto error`, `return NULL`, `{ ... }`):
/// written `0` (blanks after it) and hidden.
fn statement_arguments(
    src: &[u8],
    toks: &[Token],
    open: usize,
    ks: &[usize],
    buf: &mut [u8],
    out: &mut Stand,
) {
    let Some(args) = arguments(toks, open) else {
        return;
    };
    for &k in ks {
        let Some(arg) = args.get(k) else { continue };
        let code: Vec<&Token> = toks[arg.clone()]
            .iter()
            .filter(|t| !matches!(t.kind, Tok::Comment | Tok::Newline))
            .collect();
        let (Some(first), Some(last)) = (code.first(), code.last()) else {
            continue;
        };
        let statement = first.kind == Tok::Punct(b'{')
            || (first.kind == Tok::Ident
                && STATEMENT_WORDS.contains(&&src[first.start()..first.end()]));
        if statement {
            blank(buf, first.start()..last.end());
            buf[first.start()] = b'0';
            out.hidden_args.push(arg.clone());
        }
    }
}

/// Glue the `k`th argument of the call whose `(` is token `open` into one
/// identifier when it is a type: words and `*` (`unsigned char *`), or a
/// function pointer type (`void (*)(int, char *)`). Every blank, `*`,
/// parenthesis, bracket and comma in it becomes `_` (newlines kept). Any
/// other argument (an expression) is left alone.
fn glue_type_argument(buf: &mut [u8], toks: &[Token], open: usize, k: usize) {
    let Some(close) = matching_paren(toks, open) else {
        return;
    };
    let mut depth = 0usize;
    let mut args: Vec<Vec<Token>> = vec![Vec::new()];
    for t in &toks[open + 1..close] {
        match t.kind {
            Tok::Newline => continue,
            Tok::Punct(b'(') => depth += 1,
            Tok::Punct(b')') => depth = depth.saturating_sub(1),
            Tok::Punct(b',') if depth == 0 => {
                args.push(Vec::new());
                continue;
            }
            _ => {}
        }
        args.last_mut().unwrap().push(*t);
    }
    let Some(arg) = args.get(k).filter(|a| a.len() > 1) else {
        return;
    };
    let words = arg
        .iter()
        .all(|t| matches!(t.kind, Tok::Ident | Tok::Punct(b'*')));
    let fn_pointer = arg.windows(3).any(|w| {
        w[0].kind == Tok::Punct(b'(')
            && w[1].kind == Tok::Punct(b'*')
            && w[2].kind == Tok::Punct(b')')
    }) && arg.iter().all(|t| {
        matches!(
            t.kind,
            Tok::Ident | Tok::Number | Tok::Punct(b'*' | b'(' | b')' | b',' | b'[' | b']')
        )
    });
    if words || fn_pointer {
        glue(buf, arg[0].start(), arg[arg.len() - 1].end());
    }
}

fn glue(buf: &mut [u8], from: usize, end: usize) {
    for b in &mut buf[from..end] {
        if matches!(*b, b' ' | b'\t' | b'*' | b'(' | b')' | b',' | b'[' | b']') {
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
            if !has_ident && j < toks.len() && toks[j].start() - toks[open].end() >= MIN_BYTES {
                out.push(toks[open].end()..toks[j].start());
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

    #[test]
    fn type_arguments_are_glued() {
        // CPython's macros (learned from its headers) and the project's.
        let src = "#define TO_FNPTR(type, p) ((type)(p))\n\
                   x = _Py_CAST(PyObject *, f(a)); p = PyMem_Resize(p, unsigned char, n);\n\
                   q = _Py_CAST(T /* c */ *, y); r = TO_FNPTR(void (*)(void), r);\n\
                   s = TO_FNPTR(char *, s);\n";
        assert_eq!(
            masked(src).0.lines().skip(1).collect::<Vec<_>>(),
            [
                "x = _Py_CAST(PyObject__, f(a)); p = PyMem_Resize(p, unsigned_char, n);",
                "q = _Py_CAST(T /* c */ *, y); r = TO_FNPTR(void_____void_, r);",
                "s = TO_FNPTR(char__, s);",
            ]
        );
    }

    /// The text to parse for `src` alone, with the roles learned from it
    /// and from CPython's headers.
    fn masked(src: &str) -> (String, Vec<(String, usize)>, Vec<usize>) {
        let files = [crate::SourceFile::new("t.c", src)];
        let lexed = [crate::scan::lex_file(src.as_bytes())];
        let model = crate::macros::learn(&files, &lexed);
        let roles = model.for_file(0);
        let (mut hidden, mut hidden_args, mut static_at) = (Vec::new(), Vec::new(), Vec::new());
        let out = parse_text(
            src.as_bytes(),
            &lexed[0].toks,
            &lexed[0].dir.dead,
            roles.roles(),
            &lexed[0].dir.directive_lines,
            &mut Stand {
                hidden: &mut hidden,
                hidden_args: &mut hidden_args,
                static_at: &mut static_at,
            },
        );
        assert_eq!(out.len(), src.len());
        (String::from_utf8(out).unwrap(), hidden, static_at)
    }

    #[test]
    fn same_length_substitutions() {
        let src = "Py_BEGIN_ALLOW_THREADS\nx();\nPy_END_ALLOW_THREADS\n#if 0\nbad(\n#endif\n\
                   T t = { PyVarObject_HEAD_INIT(NULL,\n 0) \"n\" };\n/* Py_BEGIN_ALLOW_THREADS */\n";
        assert_eq!(
            masked(src).0,
            "{                     \nx();\n}                   \n     \n    \n      \n\
             T t = {                            \n    \"n\" };\n/* Py_BEGIN_ALLOW_THREADS */\n"
        );
    }

    #[test]
    fn defines_are_not_parsed() {
        let src = "#define F(x) { a; /* c */ \\\n  } else\n#undef G\nint y;\n";
        assert_eq!(
            masked(src).0,
            "                           \n        \n        \nint y;\n"
        );
    }

    #[test]
    fn statement_arguments_stand_in() {
        let src = "#define GET(x, on_error) do { x = g(); if (!x) { on_error; } } while (0)\n\
                   void f(void) { GET(a, goto error); GET(b, h(c)); error: ; }\n";
        let (text, _, _) = masked(src);
        assert_eq!(
            text.lines().nth(1),
            Some("void f(void) { GET(a, 0         ); GET(b, h(c)); error: ; }")
        );
    }

    #[test]
    fn project_macros_stand_in() {
        let src = "#define MY_INLINE inline __attribute__((always_inline))\n\
                   #define SI static MY_INLINE\n#define LOCAL(t) static inline t\n\
                   #define BEGIN(m) do { lock(m);\n#define END(m) unlock(m); } while (0)\n\
                   #define TRACE(x) log x;\n#define EACH(i, n) for (i = 0; i < n; i++)\n\
                   #include <iso646.h>\n\
                   static MY_INLINE int f(void) { BEGIN(m)\n  TRACE((\"a\"))\n  END(m) }\n\
                   SI int g(int x) { EACH(x, 3) {} return x and not 0; }\n\
                   LOCAL(int) h(void) { TRACE((\"b\")); return 0; }\n";
        let (text, hidden, static_at) = masked(src);
        let code: Vec<&str> = text.lines().skip(8).collect();
        assert_eq!(
            code,
            [
                "static           int f(void) { {       ",
                "              ",
                "  }      }",
                "   int g(int x) { if  (x, 3) {} return x &&  !   0; }",
                "      int  h(void) { TRACE((\"b\")); return 0; }",
            ]
        );
        let names: Vec<&str> = hidden.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["BEGIN", "TRACE", "END"]);
        // Too short to be written `static`: recorded.
        assert_eq!(
            static_at,
            [src.find("SI int").unwrap(), src.find("LOCAL(int)").unwrap()]
        );
    }
}
