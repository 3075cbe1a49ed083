//! The macro-definition model: a `#define` parsed once, into its name, its
//! parameters, whether it is variadic and its body tokens.
//!
//! Two forms share one parser ([`parse_define`]):
//!
//! - [`MacroDef`], whose body is a range of its file's token list: the
//!   rewriter keeps every token of a file anyway, and a project has many
//!   macros;
//! - [`Macro`], one definition read on its own and owning its text and
//!   tokens: what the header generator (`-dM` lines) and the API table
//!   generator (definitions in CPython's headers) keep in their maps.
//!
//! What a user layers on top (the rewriter's roles, the table's macro
//! shapes, the header's dispatch macros) stays with that user.

use crate::{lex_lang, Lang, Tok, Token};
use std::ops::Range;

/// A `#define`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacroDef {
    pub name: String,
    /// Byte offset of the name (for the report's line and column).
    pub name_at: usize,
    /// `Some` for function-like macros: the parameters as the body names
    /// them. `...` is `__VA_ARGS__`; GNU's named form `rest...` is `rest`.
    pub params: Option<Vec<String>>,
    /// The last parameter takes the variable arguments.
    pub variadic: bool,
    /// Indexes into the file's token list: the body's tokens (comments
    /// included: skip them).
    pub body: Range<usize>,
}

impl MacroDef {
    pub fn is_function_like(&self) -> bool {
        self.params.is_some()
    }

    /// The parameters before the variable arguments: `(fmt, ...)` → `fmt`.
    pub fn fixed_params(&self) -> &[String] {
        let all = self.params.as_deref().unwrap_or_default();
        if self.variadic {
            &all[..all.len().saturating_sub(1)]
        } else {
            all
        }
    }

    /// The parameter list as C spells it (`(a, b, ...)`, `(rest...)`);
    /// empty for an object-like macro.
    pub fn param_list(&self) -> String {
        let Some(all) = &self.params else {
            return String::new();
        };
        let mut words: Vec<String> = self.fixed_params().to_vec();
        if self.variadic {
            match all.last().map(String::as_str) {
                Some("__VA_ARGS__") | None => words.push("...".into()),
                Some(rest) => words.push(format!("{rest}...")),
            }
        }
        format!("({})", words.join(", "))
    }
}

/// Parse a definition from `toks[from..to]`: the tokens after `define`,
/// up to the end of the directive's line. `None` when no name comes first.
pub fn parse_define(src: &[u8], toks: &[Token], from: usize, to: usize) -> Option<MacroDef> {
    let text = |t: &Token| String::from_utf8_lossy(&src[t.start()..t.end()]).into_owned();
    let mut k = from;
    while k < to && toks[k].kind == Tok::Comment {
        k += 1;
    }
    if k >= to || toks[k].kind != Tok::Ident {
        return None;
    }
    let name_tok = toks[k];
    k += 1;
    let mut params = None;
    let mut variadic = false;
    // Function-like only when `(` touches the name: `#define A (1)` is an
    // object-like macro whose body is `(1)`.
    if k < to && toks[k].kind == Tok::Punct(b'(') && toks[k].start() == name_tok.end() {
        let mut ps = Vec::new();
        // The last parameter token was a name (`rest` of GNU's `rest...`).
        let mut after_name = false;
        k += 1;
        while k < to && toks[k].kind != Tok::Punct(b')') {
            match toks[k].kind {
                Tok::Ident => {
                    ps.push(text(&toks[k]));
                    after_name = true;
                }
                // `...` arrives as one token or as three.
                Tok::Punct(b'.') if !variadic => {
                    variadic = true;
                    if !after_name {
                        ps.push("__VA_ARGS__".to_string());
                    }
                }
                Tok::Punct(b',') => after_name = false,
                _ => {}
            }
            k += 1;
        }
        k = (k + 1).min(to);
        params = Some(ps);
    }
    Some(MacroDef {
        name: text(&name_tok),
        name_at: name_tok.start(),
        params,
        variadic,
        body: k..to,
    })
}

/// A `#define` read on its own, owning its text and tokens. Its tokens
/// are a C compiler's (punctuators joined: [`join_punctuators`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Macro {
    text: String,
    toks: Vec<Token>,
    def: MacroDef,
}

impl Macro {
    /// Parse `NAME[(params)] body`, the text after `#define` (escaped
    /// newlines allowed; the definition ends at the first newline that is
    /// not). `None` when it does not start with a name.
    pub fn parse(text: &str) -> Option<Macro> {
        let src = text.as_bytes();
        let toks = join_punctuators(src, &lex_lang(src, Lang::C));
        let end = toks
            .iter()
            .position(|t| t.kind == Tok::Newline)
            .unwrap_or(toks.len());
        let def = parse_define(src, &toks, 0, end)?;
        Some(Macro {
            text: text.to_string(),
            toks,
            def,
        })
    }

    pub fn def(&self) -> &MacroDef {
        &self.def
    }

    pub fn name(&self) -> &str {
        &self.def.name
    }

    /// The body's tokens with their text, comments left out.
    pub fn body(&self) -> impl Iterator<Item = (Tok, &str)> + '_ {
        self.toks[self.def.body.clone()]
            .iter()
            .filter(|t| t.kind != Tok::Comment)
            .map(|t| (t.kind, &self.text[t.start()..t.end()]))
    }

    /// The body as written, from its first token to its last (the space
    /// around it left out; between tokens kept).
    pub fn body_text(&self) -> &str {
        let body: Vec<&Token> = self.toks[self.def.body.clone()]
            .iter()
            .filter(|t| t.kind != Tok::Comment)
            .collect();
        match (body.first(), body.last()) {
            (Some(a), Some(b)) => &self.text[a.start()..b.end()],
            _ => "",
        }
    }
}

/// Punctuators of more than one character (C11 6.4.6, digraphs
/// included), longest first so that the longest match wins.
const PUNCTUATORS: &[&[u8]] = &[
    b"%:%:", b"...", b"<<=", b">>=", b"->", b"++", b"--", b"<<", b">>", b"<=", b">=", b"==", b"!=",
    b"&&", b"||", b"*=", b"/=", b"%=", b"+=", b"-=", b"&=", b"^=", b"|=", b"##", b"<:", b":>",
    b"<%", b"%>", b"%:",
];

/// The tokens as a C compiler's translation phase 3 makes them: the lexer
/// gives every punctuation character a token of its own (what the
/// rewriter's byte-level rules want); here touching characters that spell
/// one punctuator (`->`, `##`, `...`, `<<=`) become one token, of kind
/// `Punct` of its first character.
pub fn join_punctuators(src: &[u8], toks: &[Token]) -> Vec<Token> {
    let mut out = Vec::with_capacity(toks.len());
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i];
        let Tok::Punct(_) = t.kind else {
            out.push(t);
            i += 1;
            continue;
        };
        // Characters of one punctuator are consecutive one-byte tokens.
        let run = toks[i..]
            .iter()
            .enumerate()
            .take_while(|(k, u)| matches!(u.kind, Tok::Punct(_)) && u.start() == t.start() + k)
            .count();
        let len = PUNCTUATORS
            .iter()
            .map(|p| p.len())
            .find(|&n| {
                n <= run
                    && PUNCTUATORS
                        .iter()
                        .any(|p| *p == &src[t.start()..t.start() + n])
            })
            .unwrap_or(1);
        out.push(Token::new(t.kind, t.start(), t.start() + len));
        i += len;
    }
    out
}

/// Words that clang's C lexer in GNU mode (`-std=gnu11`, what the API
/// generator parses CPython's headers with) makes keyword tokens, not
/// identifiers: C11's keywords and GNU's spellings of them and additions.
pub const GNU11_KEYWORDS: &[&str] = &[
    "auto",
    "break",
    "case",
    "char",
    "const",
    "continue",
    "default",
    "do",
    "double",
    "else",
    "enum",
    "extern",
    "float",
    "for",
    "goto",
    "if",
    "inline",
    "int",
    "long",
    "register",
    "restrict",
    "return",
    "short",
    "signed",
    "sizeof",
    "static",
    "struct",
    "switch",
    "typedef",
    "union",
    "unsigned",
    "void",
    "volatile",
    "while",
    "_Alignas",
    "_Alignof",
    "_Atomic",
    "_Bool",
    "_Complex",
    "_Generic",
    "_Imaginary",
    "_Noreturn",
    "_Static_assert",
    "_Thread_local",
    "__func__",
    "asm",
    "typeof",
    "__asm",
    "__asm__",
    "__attribute",
    "__attribute__",
    "__typeof",
    "__typeof__",
    "__inline",
    "__inline__",
    "__const",
    "__const__",
    "__volatile",
    "__volatile__",
    "__restrict",
    "__restrict__",
    "__signed",
    "__signed__",
    "__alignof",
    "__alignof__",
    "__complex",
    "__complex__",
    "__real",
    "__real__",
    "__imag",
    "__imag__",
    "__extension__",
    "__label__",
    "__thread",
    "__auto_type",
    "__int128",
    "__builtin_va_arg",
    "__builtin_offsetof",
    "__builtin_types_compatible_p",
    "__builtin_choose_expr",
    "__FUNCTION__",
    "__PRETTY_FUNCTION__",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(src: &str, toks: &[Token]) -> Vec<String> {
        toks.iter()
            .filter(|t| t.kind != Tok::Newline)
            .map(|t| src[t.start()..t.end()].to_string())
            .collect()
    }

    #[test]
    fn punctuators_are_joined_longest_first() {
        let src = "a->b ## c ... x <<= 1 >>=2 - > y+++z %:%: . . .";
        let toks = join_punctuators(src.as_bytes(), &lex_lang(src.as_bytes(), Lang::C));
        assert_eq!(
            texts(src, &toks),
            [
                "a", "->", "b", "##", "c", "...", "x", "<<=", "1", ">>=", "2", "-", ">", "y", "++",
                "+", "z", "%:%:", ".", ".", "."
            ]
        );
        assert_eq!(toks[1].kind, Tok::Punct(b'-'));
    }

    #[test]
    fn parameters_variadic_forms_and_body() {
        let m = Macro::parse("V(fmt, ...) g(fmt, __VA_ARGS__)").unwrap();
        assert_eq!(
            m.def().params.as_deref(),
            Some(&["fmt".to_string(), "__VA_ARGS__".to_string()][..])
        );
        assert!(m.def().variadic);
        assert_eq!(m.def().fixed_params(), ["fmt"]);
        assert_eq!(m.def().param_list(), "(fmt, ...)");
        assert_eq!(m.body_text(), "g(fmt, __VA_ARGS__)");
        // GNU's named variadic parameter is the one the body names.
        let g = Macro::parse("G(a, rest...) f(a, rest)").unwrap();
        assert_eq!(
            g.def().params.as_deref(),
            Some(&["a".to_string(), "rest".to_string()][..])
        );
        assert_eq!(g.def().fixed_params(), ["a"]);
        assert_eq!(g.def().param_list(), "(a, rest...)");
        // A space before `(` makes an object-like macro.
        let o = Macro::parse("O (1) /* c */ + x  ").unwrap();
        assert!(!o.def().is_function_like());
        assert_eq!(o.body_text(), "(1) /* c */ + x");
        let words: Vec<&str> = o.body().map(|(_, w)| w).collect();
        assert_eq!(words, ["(", "1", ")", "+", "x"]);
        assert_eq!(Macro::parse("Z() z()").unwrap().def().param_list(), "()");
        assert!(Macro::parse("(x) y").is_none());
    }

    #[test]
    fn a_definition_ends_at_an_unescaped_newline() {
        let m = Macro::parse("F(x) a \\\n  b(x)\nint c;\n").unwrap();
        let words: Vec<&str> = m.body().map(|(_, w)| w).collect();
        assert_eq!(words, ["a", "b", "(", "x", ")"]);
        assert_eq!(m.body_text(), "a \\\n  b(x)");
    }
}
