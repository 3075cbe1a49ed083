//! A small C lexer and preprocessor-line scanner: pyctx's one way of
//! reading C text, shared by the rewriter (`pyctx-rewrite`, as its
//! `crate::lex`), the header generator (`pyctx-flags`: `cc -E` and `-dM`
//! output) and the API table generator (`pyctx-api`: each `#define` of
//! CPython's headers).
//!
//! ```
//! use pyctx_clex::{lex_lang, scan_directives_in, Lang, Macro, Tok};
//! let src = b"#define F(a, ...) g(a, __VA_ARGS__)\nint x;\n";
//! let toks = lex_lang(src, Lang::C);
//! let dir = scan_directives_in(src, &toks, Lang::C);
//! assert_eq!(dir.macros[0].name, "F");
//! assert!(dir.macros[0].variadic);
//! assert_eq!(toks[dir.first_code_tok].kind, Tok::Ident);
//! // One definition on its own, owning its text:
//! let m = Macro::parse("F(a, ...) g(a, __VA_ARGS__)").unwrap();
//! assert_eq!(m.body_text(), "g(a, __VA_ARGS__)");
//! ```
//!
//! tree-sitter-c sees preprocessor directives but not what they mean, and it
//! keeps macro bodies as opaque text. This module gives the engine what it
//! needs on top of the syntax tree, straight from the bytes:
//!
//! - tokens that know comments, string and character literals (so nothing
//!   inside them is ever taken for code);
//! - the directives: `#define` (name, parameters, body tokens), `#include`,
//!   and the conditional structure, from which the *dead* regions follow
//!   (`#if 0` branches, and the `#else`/`#elif` branches of `#if 1`);
//! - the line table (1-based lines and columns for reports) and the file's
//!   line ending.

use std::ops::Range;

mod define;
#[cfg(test)]
mod lex_tests;
pub use define::{join_punctuators, parse_define, Macro, MacroDef, GNU11_KEYWORDS};

/// The language a file is written in: it decides the grammar, raw
/// strings and whether `__cplusplus` is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    C,
    Cpp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tok {
    Ident,
    Number,
    Str,
    Char,
    Comment,
    Punct(u8),
    /// A physical newline that ends a logical line (not escaped).
    Newline,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
// Packed: a file has a token per three or four bytes, so the token list is
// the largest thing the engine keeps; without padding a token takes 10
// bytes instead of 12. Every field is `Copy` and read by value (a
// reference to a field would be unaligned).
#[repr(C, packed)]
pub struct Token {
    pub kind: Tok,
    // Byte offsets as u32 (24 bytes a token with usize). Files of 4 GiB
    // and more are refused (`engine::run`).
    s: u32,
    e: u32,
}

impl Token {
    pub fn new(kind: Tok, start: usize, end: usize) -> Token {
        Token {
            kind,
            s: start as u32,
            e: end as u32,
        }
    }

    pub fn start(&self) -> usize {
        self.s as usize
    }

    pub fn end(&self) -> usize {
        self.e as usize
    }
}

/// Length of a leading UTF-8 byte order mark (0 or 3).
pub fn bom_len(src: &[u8]) -> usize {
    if src.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    }
}

/// Split `src` into tokens. Whitespace and escaped newlines are dropped;
/// unterminated literals end at the end of their line (as in skipped
/// preprocessor groups), unterminated block comments at the end of the file.
pub fn lex(src: &[u8]) -> Vec<Token> {
    lex_lang(src, Lang::C)
}

/// Room for the tokens of `src[at..n]` at the density seen so far (and a
/// tenth more): a dense file outgrows the first guess, and doubling a list
/// this large would hold twice the room it needs until the final shrink.
fn grow_for_rest(out: &mut Vec<Token>, at: usize, n: usize) {
    let per_token = at.max(1) as f64 / out.len().max(1) as f64;
    let more = ((n - at) as f64 / per_token * 1.1) as usize;
    out.reserve_exact(more.max(64));
}

/// [`lex`] for a language: C++ adds raw string literals
/// (`R"delim(...)delim"`, with any encoding prefix), whose bytes may hold
/// quotes, backslashes and newlines.
pub fn lex_lang(src: &[u8], lang: Lang) -> Vec<Token> {
    let mut out = Vec::with_capacity(src.len() / 4);
    let n = src.len();
    // A UTF-8 byte order mark is no token: a directive after it still
    // starts its line (compilers skip it too).
    let mut i = bom_len(src);
    while i < n {
        if out.len() == out.capacity() {
            grow_for_rest(&mut out, i, n);
        }
        let c = src[i];
        match c {
            b'\n' => {
                out.push(Token::new(Tok::Newline, i, i + 1));
                i += 1;
            }
            b' ' | b'\t' | b'\r' | 0x0b | 0x0c => i += 1,
            b'\\' if next_is_newline(src, i + 1).is_some() => {
                i = next_is_newline(src, i + 1).unwrap();
            }
            b'/' if i + 1 < n && src[i + 1] == b'*' => {
                let start = i;
                i += 2;
                while i < n && !(src[i] == b'*' && i + 1 < n && src[i + 1] == b'/') {
                    i += 1;
                }
                i = (i + 2).min(n);
                out.push(Token::new(Tok::Comment, start, i));
            }
            b'/' if i + 1 < n && src[i + 1] == b'/' => {
                let start = i;
                while i < n {
                    if src[i] == b'\\' {
                        if let Some(j) = next_is_newline(src, i + 1) {
                            i = j;
                            continue;
                        }
                    }
                    if src[i] == b'\n' || (src[i] == b'\r' && i + 1 < n && src[i + 1] == b'\n') {
                        break;
                    }
                    i += 1;
                }
                out.push(Token::new(Tok::Comment, start, i));
            }
            b'"' | b'\'' => {
                let start = i;
                i += 1;
                while i < n && src[i] != c && src[i] != b'\n' {
                    if src[i] == b'\\' && i + 1 < n {
                        i += 1;
                        if src[i] == b'\r' && i + 1 < n && src[i + 1] == b'\n' {
                            i += 1;
                        }
                    }
                    i += 1;
                }
                if i < n && src[i] == c {
                    i += 1;
                }
                out.push(Token::new(
                    if c == b'"' { Tok::Str } else { Tok::Char },
                    start,
                    i,
                ));
            }
            _ if is_ident_start(c) => {
                let start = i;
                while i < n && is_ident_char(src[i]) {
                    i += 1;
                }
                // C++ raw strings: R"x(...)x", LR"(...)", u8R"(...)".
                if lang == Lang::Cpp
                    && i < n
                    && src[i] == b'"'
                    && matches!(&src[start..i], b"R" | b"LR" | b"uR" | b"UR" | b"u8R")
                {
                    i = raw_string_end(src, i);
                    out.push(Token::new(Tok::Str, start, i));
                    continue;
                }
                // String prefixes: L"..", u8"..", u'..'
                if i < n
                    && (src[i] == b'"' || src[i] == b'\'')
                    && matches!(&src[start..i], b"L" | b"u" | b"U" | b"u8")
                {
                    continue_literal(src, &mut i);
                    out.push(Token::new(Tok::Str, start, i));
                } else {
                    out.push(Token::new(Tok::Ident, start, i));
                }
            }
            b'0'..=b'9' => {
                let start = i;
                i += 1;
                while i < n {
                    let d = src[i];
                    let exponent_sign =
                        (d == b'+' || d == b'-') && matches!(src[i - 1], b'e' | b'E' | b'p' | b'P');
                    // A digit separator (C++14, C23): `1'000'000`.
                    let separator = d == b'\''
                        && src.get(i + 1).is_some_and(|c| c.is_ascii_alphanumeric())
                        && src[i - 1].is_ascii_alphanumeric();
                    if is_ident_char(d) || d == b'.' || exponent_sign || separator {
                        i += 1;
                    } else {
                        break;
                    }
                }
                out.push(Token::new(Tok::Number, start, i));
            }
            b'.' if i + 1 < n && src[i + 1].is_ascii_digit() => {
                let start = i;
                i += 1;
                while i < n && (is_ident_char(src[i]) || src[i] == b'.') {
                    i += 1;
                }
                out.push(Token::new(Tok::Number, start, i));
            }
            _ => {
                out.push(Token::new(Tok::Punct(c), i, i + 1));
                i += 1;
            }
        }
    }
    // The guess above may have doubled: tokens live as long as the run
    // (some 12 bytes per byte of source at full capacity).
    out.shrink_to_fit();
    out
}

/// The end of a raw string literal whose `"` is at `q`: after
/// `)delim"`, or the end of the file when it is not closed.
fn raw_string_end(src: &[u8], q: usize) -> usize {
    let open = src[q + 1..]
        .iter()
        .take(17)
        .position(|&c| c == b'(')
        .map(|k| q + 1 + k);
    let Some(open) = open else {
        // Not a raw string after all (no delimiter): the quote alone.
        return q + 1;
    };
    let mut close = Vec::with_capacity(open - q + 1);
    close.push(b')');
    close.extend_from_slice(&src[q + 1..open]);
    close.push(b'"');
    src[open + 1..]
        .windows(close.len())
        .position(|w| w == close.as_slice())
        .map_or(src.len(), |k| open + 1 + k + close.len())
}

fn continue_literal(src: &[u8], i: &mut usize) {
    let n = src.len();
    let q = src[*i];
    *i += 1;
    while *i < n && src[*i] != q && src[*i] != b'\n' {
        if src[*i] == b'\\' && *i + 1 < n {
            *i += 1;
        }
        *i += 1;
    }
    if *i < n && src[*i] == q {
        *i += 1;
    }
}

/// If `src[i..]` starts with a newline (`\n` or `\r\n`), the index after it.
fn next_is_newline(src: &[u8], i: usize) -> Option<usize> {
    match src.get(i) {
        Some(b'\n') => Some(i + 1),
        Some(b'\r') if src.get(i + 1) == Some(&b'\n') => Some(i + 2),
        _ => None,
    }
}

pub fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c >= 0x80
}

pub fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80
}

/// An `#include`.
#[derive(Debug, Clone)]
pub struct Include {
    /// The path between the quotes or angle brackets.
    pub path: String,
    /// End of the directive's (logical) line, before the line ending.
    pub line_end: usize,
    /// Token index of the `#`.
    pub hash_tok: usize,
}

/// What the scanner learns from the directives of one file.
#[derive(Debug, Default)]
pub struct Directives {
    pub macros: Vec<MacroDef>,
    pub includes: Vec<Include>,
    /// Byte ranges compiled never: `#if 0` groups, the groups after a
    /// `#if 1`, and groups holding an `#error` (no configuration that
    /// compiles takes them). Each covers whole lines between two
    /// directive lines.
    pub dead: Vec<Range<usize>>,
    /// Token index of the first token that is not a comment or part of a
    /// directive line (the start of "code"), or the token count.
    pub first_code_tok: usize,
    /// `#ifndef X` / `#define X` at the top of the file: end of the
    /// `#define` line.
    pub guard_define_end: Option<usize>,
    /// Token-index ranges of every directive line (`#` to the newline).
    pub directive_lines: Vec<Range<usize>>,
    /// Live conditionals whose value depends on the configuration (not
    /// every condition known), in the order their `#endif` comes.
    pub conditionals: Vec<Conditional>,
}

/// One `#if` / `#ifdef` ... `#endif` whose groups are all live.
#[derive(Debug, Clone)]
pub struct Conditional {
    /// Byte ranges of its directive lines, `#if` first, `#endif` last
    /// (line endings excluded).
    pub lines: Vec<Range<usize>>,
    /// Has an `#else` (else the last group is implicitly empty).
    pub has_else: bool,
}

impl Conditional {
    /// Byte ranges of its groups: the text between two directive lines.
    pub fn groups(&self, src: &[u8]) -> Vec<Range<usize>> {
        self.lines
            .windows(2)
            .map(|w| {
                let mut from = w[0].end;
                if src.get(from) == Some(&b'\r') {
                    from += 1;
                }
                if src.get(from) == Some(&b'\n') {
                    from += 1;
                }
                from.min(w[1].start)..w[1].start
            })
            .collect()
    }

    /// From the start of `#if` to the end of `#endif`.
    pub fn span(&self) -> Range<usize> {
        self.lines[0].start..self.lines[self.lines.len() - 1].end
    }
}

struct Frame {
    /// Every condition of this conditional is known: its directive lines
    /// can go too (only the live group's text remains).
    all_known: bool,
    /// Byte ranges of its directive lines so far.
    lines: Vec<Range<usize>>,
    /// The group we are in is dead.
    dead: bool,
    /// The enclosing group is dead.
    parent_dead: bool,
    /// An earlier branch of this conditional is surely taken (`#if 1`).
    taken: bool,
    /// Byte offset where the current dead group began (start of the line
    /// after its directive).
    dead_from: usize,
    has_else: bool,
    /// Start of the current group, and whether it holds an `#error` (a
    /// configuration that does not compile: its group is dead).
    group_from: usize,
    group_errors: bool,
}

/// Macros no build that pyctx supports defines: PyPy's and GraalPy's
/// markers and the limited API (which migrated code does not use).
const NEVER_DEFINED: &[&str] = &["PYPY_VERSION", "GRAALVM_PYTHON", "Py_LIMITED_API"];

/// `__cplusplus`: defined in C++ (its value, the standard, depends on the
/// build), never in C.
const CPLUSPLUS: &[u8] = b"__cplusplus";

/// Is `name` known to be defined (`Some(true)`) or not in `lang`?
fn known_defined(name: &[u8], lang: Lang) -> Option<bool> {
    if name == CPLUSPLUS {
        Some(lang == Lang::Cpp)
    } else if NEVER_DEFINED.iter().any(|n| n.as_bytes() == name) {
        Some(false)
    } else {
        None
    }
}

/// CPython minor versions pyctx supports, oldest first: the one list of
/// them (`pyctx_api` re-exports it; scripts and tests ask `pyctx python
/// list`). It lives here, in the crate everything else depends on, because
/// the lexer needs it too: a group under a version test is dead when no
/// supported version compiles it.
pub const SUPPORTED_VERSIONS: &[&str] = &["3.9", "3.10", "3.11", "3.12", "3.13"];

/// The minor numbers of [`SUPPORTED_VERSIONS`].
fn supported_minors() -> impl Iterator<Item = i64> {
    SUPPORTED_VERSIONS.iter().map(|v| {
        v.strip_prefix("3.")
            .and_then(|m| m.parse().ok())
            .expect("SUPPORTED_VERSIONS holds 3.N")
    })
}

/// A condition's value on every supported CPython (the final releases of
/// [`SUPPORTED_VERSIONS`]), when it is the same on all of them: literal `0`/`1`, and expressions over `PY_VERSION_HEX`,
/// `PY_MAJOR_VERSION`, `PY_MINOR_VERSION`, `_Py_PACK_VERSION(x, y)`,
/// `defined(PYPY_VERSION)` and the like. `None`: depends on the
/// configuration (any other macro).
pub fn known_condition(src: &[u8], toks: &[Token]) -> Option<bool> {
    known_condition_in(src, toks, Lang::C)
}

/// [`known_condition`] in a language (`defined(__cplusplus)`).
pub fn known_condition_in(src: &[u8], toks: &[Token], lang: Lang) -> Option<bool> {
    let words: Vec<&[u8]> = toks
        .iter()
        .filter(|t| t.kind != Tok::Comment)
        .map(|t| &src[t.start()..t.end()])
        .collect();
    if words.is_empty() {
        return None;
    }
    let mut answer: Option<bool> = None;
    for minor in supported_minors() {
        // From the first final release (3.x.0, 0x03xx00F0) to the last
        // possible one of the minor version.
        for hex in [
            (3 << 24) | (minor << 16) | 0xF0,
            (3 << 24) | (minor << 16) | 0xFFFF,
        ] {
            let mut e = CondEval {
                words: &words,
                pos: 0,
                hex,
                minor,
                lang,
            };
            let v = e.expr(0).ok()?;
            if e.pos != words.len() {
                return None;
            }
            let b = v != 0;
            match answer {
                None => answer = Some(b),
                Some(a) if a != b => return None,
                _ => {}
            }
        }
    }
    answer
}

struct CondEval<'a> {
    words: &'a [&'a [u8]],
    pos: usize,
    hex: i64,
    minor: i64,
    lang: Lang,
}

/// `Err(())`: the value depends on something unknown.
type CondResult = Result<i64, ()>;

impl<'a> CondEval<'a> {
    fn peek(&self) -> &'a [u8] {
        self.words.get(self.pos).copied().unwrap_or(b"")
    }

    fn eat(&mut self, w: &[u8]) -> bool {
        if self.peek() == w {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Two-character operators arrive as two punctuation tokens.
    fn op(&mut self) -> Option<(&'static str, u8)> {
        let a = self.peek();
        let b = self.words.get(self.pos + 1).copied().unwrap_or(b"");
        let two = |x: &[u8], y: &[u8]| a == x && b == y;
        let found = if two(b"|", b"|") {
            ("||", 1)
        } else if two(b"&", b"&") {
            ("&&", 2)
        } else if two(b"=", b"=") {
            ("==", 6)
        } else if two(b"!", b"=") {
            ("!=", 6)
        } else if two(b"<", b"=") {
            ("<=", 7)
        } else if two(b">", b"=") {
            (">=", 7)
        } else if two(b"<", b"<") {
            ("<<", 8)
        } else if two(b">", b">") {
            (">>", 8)
        } else if a == b"<" {
            ("<", 7)
        } else if a == b">" {
            (">", 7)
        } else if a == b"+" {
            ("+", 9)
        } else if a == b"-" {
            ("-", 9)
        } else if a == b"|" {
            ("|", 3)
        } else if a == b"&" {
            ("&", 5)
        } else {
            return None;
        };
        Some(found)
    }

    fn expr(&mut self, min_prec: u8) -> CondResult {
        let mut lhs = self.unary();
        while let Some((op, prec)) = self.op() {
            if prec < min_prec.max(1) {
                break;
            }
            self.pos += op.len();
            let rhs = self.expr(prec + 1);
            lhs = match op {
                "||" => match (lhs, rhs) {
                    (Ok(a), _) if a != 0 => Ok(1),
                    (_, Ok(b)) if b != 0 => Ok(1),
                    (Ok(_), Ok(_)) => Ok(0),
                    _ => Err(()),
                },
                "&&" => match (lhs, rhs) {
                    (Ok(0), _) | (_, Ok(0)) => Ok(0),
                    (Ok(_), Ok(_)) => Ok(1),
                    _ => Err(()),
                },
                _ => {
                    let (a, b) = (lhs?, rhs?);
                    Ok(match op {
                        "==" => (a == b) as i64,
                        "!=" => (a != b) as i64,
                        "<" => (a < b) as i64,
                        ">" => (a > b) as i64,
                        "<=" => (a <= b) as i64,
                        ">=" => (a >= b) as i64,
                        "<<" => a.checked_shl(b as u32).ok_or(())?,
                        ">>" => a.checked_shr(b as u32).ok_or(())?,
                        "+" => a + b,
                        "-" => a - b,
                        "|" => a | b,
                        _ => a & b,
                    })
                }
            };
        }
        lhs
    }

    fn unary(&mut self) -> CondResult {
        let w = self.peek();
        self.pos += 1;
        match w {
            b"!" => self.unary().map(|v| (v == 0) as i64),
            b"-" => self.unary().map(|v| -v),
            b"+" => self.unary(),
            b"(" => {
                let v = self.expr(0);
                if !self.eat(b")") {
                    self.pos = self.words.len() + 1;
                    return Err(());
                }
                v
            }
            b"defined" => {
                let paren = self.eat(b"(");
                let name = self.peek().to_vec();
                self.pos += 1;
                if paren && !self.eat(b")") {
                    return Err(());
                }
                match known_defined(&name, self.lang) {
                    Some(d) => Ok(d as i64),
                    None => Err(()),
                }
            }
            b"PY_VERSION_HEX" => Ok(self.hex),
            b"PY_MAJOR_VERSION" => Ok(3),
            b"PY_MINOR_VERSION" => Ok(self.minor),
            b"_Py_PACK_VERSION" | b"Py_PACK_VERSION" => {
                if !self.eat(b"(") {
                    return Err(());
                }
                let x = self.expr(0);
                if !self.eat(b",") {
                    return Err(());
                }
                let y = self.expr(0);
                if !self.eat(b")") {
                    return Err(());
                }
                Ok((x? << 24) | (y? << 16))
            }
            _ if w.first().is_some_and(|c| c.is_ascii_digit()) => parse_int(w).ok_or(()),
            // A name not defined is 0; `__cplusplus`'s value in C++ is
            // the build's standard (unknown).
            _ if known_defined(w, self.lang) == Some(false) => Ok(0),
            _ if w.first().is_some_and(|c| is_ident_start(*c)) => {
                // An unknown macro; a function-like use takes its arguments.
                if self.peek() == b"(" {
                    let mut depth = 0;
                    while self.pos < self.words.len() {
                        let t = self.peek();
                        self.pos += 1;
                        if t == b"(" {
                            depth += 1;
                        } else if t == b")" {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                    }
                }
                Err(())
            }
            _ => {
                self.pos = self.words.len() + 1;
                Err(())
            }
        }
    }
}

fn parse_int(w: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(w).ok()?;
    let s = s.trim_end_matches(['u', 'U', 'l', 'L']);
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()
    } else if s.len() > 1 && s.starts_with('0') {
        i64::from_str_radix(&s[1..], 8).ok()
    } else {
        s.parse().ok()
    }
}

/// Walk the directives of a file.
pub fn scan_directives(src: &[u8], toks: &[Token]) -> Directives {
    scan_directives_in(src, toks, Lang::C)
}

/// [`scan_directives`] in a language (`#ifdef __cplusplus` is known).
pub fn scan_directives_in(src: &[u8], toks: &[Token], lang: Lang) -> Directives {
    let mut d = Directives {
        first_code_tok: toks.len(),
        ..Default::default()
    };
    let mut stack: Vec<Frame> = Vec::new();
    let mut at_line_start = true;
    let mut seen_code = false;
    let mut i = 0;
    // For include-guard detection: the first two directives.
    let mut first_directives: Vec<(String, String, usize)> = Vec::new();
    while i < toks.len() {
        let t = toks[i];
        match t.kind {
            Tok::Newline => {
                at_line_start = true;
                i += 1;
                continue;
            }
            Tok::Comment => {
                i += 1;
                continue;
            }
            Tok::Punct(b'#') if at_line_start => {
                // A directive: tokens up to the next Newline.
                let hash = i;
                let mut j = i + 1;
                while j < toks.len() && toks[j].kind != Tok::Newline {
                    j += 1;
                }
                let line_toks = &toks[hash + 1..j];
                let words: Vec<&Token> = line_toks
                    .iter()
                    .filter(|t| t.kind != Tok::Comment)
                    .collect();
                let name = words
                    .first()
                    .filter(|t| t.kind == Tok::Ident)
                    .map(|t| &src[t.start()..t.end()])
                    .unwrap_or(b"");
                let line_start = line_start_of(src, t.start());
                let line_end = if j < toks.len() {
                    let nl = toks[j].start();
                    if nl > 0 && src[nl - 1] == b'\r' {
                        nl - 1
                    } else {
                        nl
                    }
                } else {
                    src.len()
                };
                // Start of the line after this directive.
                let next_line = if j < toks.len() {
                    toks[j].end()
                } else {
                    src.len()
                };
                let cur_dead = stack.last().map(|f| f.dead).unwrap_or(false);
                d.directive_lines.push(hash..j);
                if first_directives.len() < 2 && !seen_code {
                    let arg = words
                        .get(1)
                        .map(|t| String::from_utf8_lossy(&src[t.start()..t.end()]).into_owned())
                        .unwrap_or_default();
                    first_directives.push((
                        String::from_utf8_lossy(name).into_owned(),
                        arg,
                        line_end,
                    ));
                }
                match name {
                    b"if" | b"ifdef" | b"ifndef" => {
                        let cond = if name == b"if" {
                            known_condition_in(src, &line_toks[1.min(line_toks.len())..], lang)
                        } else {
                            let macro_name = words.get(1).map(|t| &src[t.start()..t.end()]);
                            macro_name
                                .and_then(|m| known_defined(m, lang))
                                .map(|d| d == (name == b"ifdef"))
                        };
                        let dead = cur_dead || cond == Some(false);
                        stack.push(Frame {
                            all_known: cond.is_some(),
                            lines: std::iter::once(line_start..line_end).collect(),
                            dead,
                            parent_dead: cur_dead,
                            taken: cond == Some(true),
                            dead_from: next_line,
                            has_else: false,
                            group_from: next_line,
                            group_errors: false,
                        });
                    }
                    b"elif" | b"else" | b"elifdef" | b"elifndef" => {
                        if let Some(f) = stack.last_mut() {
                            if f.dead && !f.parent_dead {
                                d.dead.push(f.dead_from..line_start);
                            } else if f.group_errors && !f.parent_dead {
                                d.dead.push(f.group_from..line_start);
                            }
                            f.group_from = next_line;
                            f.group_errors = false;
                            let cond = if name == b"elif" {
                                known_condition_in(src, &line_toks[1.min(line_toks.len())..], lang)
                            } else if name == b"else" {
                                Some(true)
                            } else {
                                None
                            };
                            f.all_known &= cond.is_some() || f.taken;
                            f.has_else |= name == b"else";
                            f.lines.push(line_start..line_end);
                            f.dead = f.parent_dead || f.taken || cond == Some(false);
                            if cond == Some(true) && name == b"elif" {
                                f.taken = true;
                            }
                            f.dead_from = next_line;
                        }
                    }
                    b"endif" => {
                        if let Some(mut f) = stack.pop() {
                            if f.dead && !f.parent_dead {
                                d.dead.push(f.dead_from..line_start);
                            } else if f.group_errors && !f.parent_dead {
                                d.dead.push(f.group_from..line_start);
                            }
                            f.lines.push(line_start..line_end);
                            if f.all_known && !f.parent_dead {
                                d.dead.extend(f.lines);
                            } else if !f.parent_dead {
                                d.conditionals.push(Conditional {
                                    lines: f.lines,
                                    has_else: f.has_else,
                                });
                            }
                        }
                    }
                    b"define" if !cur_dead => {
                        let word = (hash + 1..j)
                            .find(|&k| toks[k].kind != Tok::Comment)
                            .unwrap_or(j);
                        if let Some(m) = parse_define(src, toks, word + 1, j) {
                            d.macros.push(m);
                        }
                    }
                    b"error" if !cur_dead => {
                        if let Some(f) = stack.last_mut() {
                            f.group_errors = true;
                        }
                    }
                    b"include" if !cur_dead => {
                        if let Some(inc) = parse_include(src, line_toks) {
                            d.includes.push(Include {
                                path: inc,
                                line_end,
                                hash_tok: hash,
                            });
                        }
                    }
                    _ => {}
                }
                i = j;
                continue;
            }
            _ => {
                if !seen_code && !stack.last().map(|f| f.dead).unwrap_or(false) {
                    seen_code = true;
                    d.first_code_tok = i;
                }
                at_line_start = false;
                i += 1;
            }
        }
    }
    // Unterminated conditionals: close them at the end of the file.
    while let Some(f) = stack.pop() {
        if f.dead && !f.parent_dead {
            d.dead.push(f.dead_from..src.len());
        }
    }
    d.dead.retain(|r| r.start < r.end);
    d.dead.sort_by_key(|r| r.start);
    if first_directives.len() == 2
        && first_directives[0].0 == "ifndef"
        && first_directives[1].0 == "define"
        && first_directives[0].1 == first_directives[1].1
    {
        d.guard_define_end = Some(first_directives[1].2);
    }
    d
}

fn parse_include(src: &[u8], line_toks: &[Token]) -> Option<String> {
    let rest: Vec<&Token> = line_toks
        .iter()
        .filter(|t| t.kind != Tok::Comment)
        .skip(1)
        .collect();
    let first = rest.first()?;
    match first.kind {
        Tok::Str => {
            let s = &src[first.start() + 1..first.end().saturating_sub(1).max(first.start() + 1)];
            Some(String::from_utf8_lossy(s).into_owned())
        }
        Tok::Punct(b'<') => {
            let close = rest.iter().find(|t| t.kind == Tok::Punct(b'>'))?;
            Some(String::from_utf8_lossy(&src[first.end()..close.start()]).into_owned())
        }
        _ => None,
    }
}

pub fn line_start_of(src: &[u8], at: usize) -> usize {
    src[..at]
        .iter()
        .rposition(|&c| c == b'\n')
        .map(|p| p + 1)
        .unwrap_or(0)
}

/// Line starts, for offset → (line, column) conversions.
///
/// Starts are u32 like token offsets (files of 4 GiB and more are
/// refused before anything is lexed): a large file has a line per dozen
/// bytes, so the table is the size of the file's tokens' offsets.
#[derive(Debug, Clone)]
pub struct Lines {
    starts: Vec<u32>,
}

impl Lines {
    pub fn new(src: &[u8]) -> Lines {
        // Counted first: exact room, no doubling.
        let n = src.iter().filter(|&&c| c == b'\n').count();
        let mut starts = Vec::with_capacity(n + 1);
        starts.push(0);
        for (i, &c) in src.iter().enumerate() {
            if c == b'\n' {
                starts.push(i as u32 + 1);
            }
        }
        Lines { starts }
    }

    /// 1-based line and column (column counts bytes).
    pub fn pos(&self, at: usize) -> (usize, usize) {
        // An offset past u32 is past every start: the last line.
        let key = u32::try_from(at).unwrap_or(u32::MAX);
        let line = match self.starts.binary_search(&key) {
            Ok(l) => l,
            Err(l) => l - 1,
        };
        (line + 1, at - self.starts[line] as usize + 1)
    }
}

/// The file's line ending: `\r\n` if its first line ends that way.
pub fn line_ending(src: &[u8]) -> &'static str {
    match src.iter().position(|&c| c == b'\n') {
        Some(p) if p > 0 && src[p - 1] == b'\r' => "\r\n",
        _ => "\n",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_text_outgrows_the_first_guess_and_keeps_every_token() {
        // A token per byte (the first guess is one per 4): the list grows
        // at the density seen and ends exactly as long as the tokens.
        let src = "a;".repeat(5000) + "\n" + &"x ".repeat(100);
        let toks = lex(src.as_bytes());
        assert_eq!(toks.len(), 10_000 + 1 + 100);
        assert_eq!(toks.capacity(), toks.len());
        assert!(toks[..10_000]
            .iter()
            .enumerate()
            .all(|(i, t)| t.start() == i && t.end() == i + 1));
        assert_eq!(toks[10_000].kind, Tok::Newline);
        let last = toks[toks.len() - 1];
        assert_eq!((last.kind, last.start()), (Tok::Ident, src.len() - 2));
        assert_eq!(std::mem::size_of::<Token>(), 10);
    }

    #[test]
    fn lines_give_line_and_column() {
        let src = b"ab\n\ncd\r\ne";
        let l = Lines::new(src);
        let at = |o| l.pos(o);
        assert_eq!(at(0), (1, 1));
        assert_eq!(at(2), (1, 3));
        assert_eq!(at(3), (2, 1));
        assert_eq!(at(4), (3, 1));
        assert_eq!(at(8), (4, 1));
        assert_eq!(at(9), (4, 2));
    }

    fn dead_text(src: &str) -> Vec<String> {
        let toks = lex(src.as_bytes());
        let d = scan_directives(src.as_bytes(), &toks);
        d.dead.iter().map(|r| src[r.clone()].to_string()).collect()
    }

    #[test]
    fn if_zero_groups_are_dead() {
        let src = "a\n#if 0\nx(\n#if FOO\ny\n#endif\n#else\nz\n#endif\n#if 1\nk\n#elif X\nw\n#else\nv\n#endif\n";
        // Fully known conditionals lose their directive lines too.
        assert_eq!(
            dead_text(src),
            vec![
                "#if 0",
                "x(\n#if FOO\ny\n#endif\n",
                "#else",
                "#endif",
                "#if 1",
                "#elif X",
                "w\n",
                "#else",
                "v\n",
                "#endif"
            ]
        );
        let partly = "#if 0\na\n#elif X\nb\n#endif\n";
        assert_eq!(dead_text(partly), vec!["a\n"]);
    }

    #[test]
    fn cpp_tokens_and_the_language_of_cplusplus() {
        // A raw string holds quotes and a `)` that are not its end; digit
        // separators stay inside the number.
        let src = "x = R\"d(a \"q\" ) b)d\"; n = 1'000'000; c = 'c';\n";
        let toks = lex_lang(src.as_bytes(), Lang::Cpp);
        let kinds: Vec<(Tok, &str)> = toks
            .iter()
            .filter(|t| !matches!(t.kind, Tok::Punct(_) | Tok::Newline))
            .map(|t| (t.kind, &src[t.start()..t.end()]))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (Tok::Ident, "x"),
                (Tok::Str, "R\"d(a \"q\" ) b)d\""),
                (Tok::Ident, "n"),
                (Tok::Number, "1'000'000"),
                (Tok::Ident, "c"),
                (Tok::Char, "'c'"),
            ]
        );
        let cond = "#ifdef __cplusplus\na\n#endif\n#if !defined(__cplusplus)\nb\n#endif\n";
        let dead = |lang| {
            let toks = lex_lang(cond.as_bytes(), lang);
            let d = scan_directives_in(cond.as_bytes(), &toks, lang);
            d.dead
                .iter()
                .map(|r| cond[r.clone()].to_string())
                .filter(|t| !t.starts_with('#'))
                .collect::<Vec<_>>()
        };
        assert_eq!(dead(Lang::C), vec!["a\n"]);
        assert_eq!(dead(Lang::Cpp), vec!["b\n"]);
        // The standard is not known: `__cplusplus >= 201703L` depends.
        let toks = lex_lang(b"__cplusplus >= 201703L", Lang::Cpp);
        assert_eq!(
            known_condition_in(b"__cplusplus >= 201703L", &toks, Lang::Cpp),
            None
        );
    }

    #[test]
    fn a_byte_order_mark_does_not_hide_a_directive() {
        let src = "\u{feff}#include <Python.h>\nint x;\n";
        let toks = lex(src.as_bytes());
        let d = scan_directives(src.as_bytes(), &toks);
        assert_eq!(d.includes.len(), 1);
    }

    #[test]
    fn groups_with_error_are_dead() {
        let src = "#if A\na\n#elif B\n#error \"no\"\n  \"more\"\n#else\nc\n#endif\n#error top\n";
        assert_eq!(dead_text(src), vec!["#error \"no\"\n  \"more\"\n"]);
    }

    #[test]
    fn directives_in_comments_are_not_directives() {
        let src = "/*\n#if 0\n*/\nint a;\n#if (0) /* off */\nb\n#endif\n";
        assert_eq!(dead_text(src), vec!["#if (0) /* off */", "b\n", "#endif"]);
    }

    #[test]
    fn defines_and_includes() {
        let src = "#include <Python.h>\n#include \"x.h\" // c\n#define F(a, ...) g(a) \\\n  + 1\n#define O (1)\n";
        let toks = lex(src.as_bytes());
        let d = scan_directives(src.as_bytes(), &toks);
        assert_eq!(d.includes.len(), 2);
        assert_eq!(d.includes[0].path, "Python.h");
        assert_eq!(d.includes[1].path, "x.h");
        assert_eq!(d.macros.len(), 2);
        assert_eq!(
            d.macros[0].params.as_deref(),
            Some(&["a".to_string(), "__VA_ARGS__".to_string()][..])
        );
        let body: Vec<&str> = toks[d.macros[0].body.clone()]
            .iter()
            .map(|t| &src[t.start()..t.end()])
            .collect();
        assert_eq!(body, vec!["g", "(", "a", ")", "+", "1"]);
        assert!(d.macros[1].params.is_none());
    }

    fn cond(c: &str) -> Option<bool> {
        let toks = lex(c.as_bytes());
        known_condition(c.as_bytes(), &toks)
    }

    #[test]
    fn version_conditions() {
        assert_eq!(cond("0"), Some(false));
        assert_eq!(cond("(1)"), Some(true));
        assert_eq!(cond("PY_MAJOR_VERSION >= 3"), Some(true));
        assert_eq!(cond("PY_MAJOR_VERSION < 3"), Some(false));
        assert_eq!(cond("PY_VERSION_HEX < 0x02070000"), Some(false));
        assert_eq!(cond("PY_VERSION_HEX >= 0x03080000"), Some(true));
        assert_eq!(cond("PY_VERSION_HEX >= 0x030C0000"), None);
        assert_eq!(cond("PY_VERSION_HEX >= 0x030900A4"), Some(true));
        assert_eq!(
            cond("PY_VERSION_HEX < 0x030900B1 || defined(PYPY_VERSION)"),
            Some(false)
        );
        assert_eq!(cond("PY_VERSION_HEX >= 0x030902F0"), None);
        assert_eq!(cond("PY_VERSION_HEX < _Py_PACK_VERSION(3, 7)"), Some(false));
        assert_eq!(cond("PY_MAJOR_VERSION >= 3 || defined(FOO)"), Some(true));
        assert_eq!(cond("PY_MAJOR_VERSION < 3 && FOO(1)"), Some(false));
        assert_eq!(cond("defined(FOO) && PY_MAJOR_VERSION >= 3"), None);
        assert_eq!(cond("!defined(PYPY_VERSION)"), Some(true));
        assert_eq!(
            cond("PY_VERSION_HEX >= 0x03070000 && !defined(PYPY_VERSION) && !defined(Py_LIMITED_API)"),
            Some(true)
        );
        assert_eq!(
            cond("(defined(Py_LIMITED_API) && Py_LIMITED_API+0 < 0x030D0000)"),
            Some(false)
        );
        assert_eq!(cond("FOO"), None);
        assert_eq!(cond("PY_MINOR_VERSION * 2 > 1"), None);
    }

    #[test]
    fn known_conditionals_lose_their_directives() {
        let src = "#if PY_MAJOR_VERSION >= 3\na\n#else\nb\n#endif\n#ifdef X\nc\n#endif\n";
        assert_eq!(
            dead_text(src),
            vec!["#if PY_MAJOR_VERSION >= 3", "#else", "b\n", "#endif"]
        );
    }

    #[test]
    fn guard_detection() {
        let src = "/* c */\n#ifndef X_H\n#define X_H\nint f(void);\n#endif\n";
        let toks = lex(src.as_bytes());
        let d = scan_directives(src.as_bytes(), &toks);
        assert_eq!(d.guard_define_end, Some(src.find("X_H\nint").unwrap() + 3));
    }
}
