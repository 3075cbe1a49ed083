//! Macro shapes, decided from a macro's replacement tokens by the rules below
//! (first rule that applies wins). "Touches the VM" is computed from the
//! headers themselves, never from a list of names:
//!
//! | # | rule | shape |
//! |---|------|-------|
//! | 1 | listed in [`MACRO_SHAPES`] | as listed |
//! | 2 | empty body (an annotation or no-op marker) | `syntax` |
//! | 3 | the whole body is `do ... while (0)`, or a `return` statement (`Py_RETURN_NONE`) | `stmt` if it touches the VM, else `utility` |
//! | 4 | variadic (`...`) | `syntax` |
//! | 5 | token pasting `##` | `syntax` |
//! | 6 | body starts with `{` or `}`, or its brackets do not balance (initialisers, block openers/closers) | `syntax` |
//! | 7 | a `;` outside parentheses (declarations, statements) | `syntax` |
//! | 8 | body starts with a declaration word (storage class, qualifier, `struct`/`union`/`enum`, `__attribute__`, `_Pragma`, ...) or with a type keyword followed by a name | `syntax` |
//! | 9 | body starts with a macro whose shape is `syntax` | `syntax` |
//! | 10 | items side by side: a call `f(...)` directly followed by a name or literal (X-macro lists such as `V(A) V(B)`) | `syntax` |
//! | 11 | touches the VM | `expr` |
//! | 12 | stringizing `#` (and not touching the VM) | `syntax` |
//! | 13 | anything else: a pure expression on plain values | `utility` |
//!
//! Operands of `sizeof`, `_Alignof`/`__alignof__`, `offsetof`, `typeof`/
//! `__typeof__` are never evaluated: rules 7, 10, 11 and 12 ignore them, so
//! `sizeof(((type *)0)->member)` is `utility`.
//!
//! A body touches the VM when it uses `->`, or names (outside member access
//! and not as one of its own parameters) a function declared in the headers
//! (`PyAPI_FUNC` or static inline, private ones included), a variable declared
//! in the headers and not const (`PyAPI_DATA`, `PyDateTimeAPI`; read-only
//! tables such as `_Py_ctype_table` do not count), a struct/union declared in
//! the headers or a typedef of one or of a pointer to one (`PyObject`,
//! `PyThreadState`, ...), or a macro whose shape is `expr` or `stmt`
//! (transitively, object-like macros included).

use super::scan::Scan;
use crate::exceptions::MACRO_SHAPES;
use crate::model::MacroShape;
use pyctx_clex::{Macro, Tok, GNU11_KEYWORDS};
use std::collections::BTreeMap;

/// One macro definition of CPython's headers: the shared model's parse
/// (`pyctx_clex::Macro`), its body as the rules read it, and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacroDef {
    pub def: Macro,
    /// The body's tokens, keywords told apart from names (as clang's
    /// lexer does: `int` in `unsigned int` is no name).
    pub body: Vec<Token>,
    /// Relative to the include dir.
    pub header: String,
    /// The public header besides `Python.h` that defines it (`None`:
    /// `Python.h` does).
    pub needs_include: Option<String>,
}

impl MacroDef {
    pub fn new(def: Macro, header: String, needs_include: Option<String>) -> MacroDef {
        let body = def
            .body()
            .map(|(kind, text)| Token {
                kind: match kind {
                    Tok::Ident if GNU11_KEYWORDS.contains(&text) => TokenKind::Keyword,
                    Tok::Ident => TokenKind::Ident,
                    Tok::Number | Tok::Str | Tok::Char => TokenKind::Literal,
                    _ => TokenKind::Punct,
                },
                text: text.to_string(),
            })
            .collect();
        MacroDef {
            def,
            body,
            header,
            needs_include,
        }
    }

    pub fn name(&self) -> &str {
        self.def.name()
    }

    pub fn function_like(&self) -> bool {
        self.def.def().is_function_like()
    }

    /// The named parameters, the variable ones (`...`) left out.
    pub fn params(&self) -> &[String] {
        self.def.def().fixed_params()
    }

    pub fn variadic(&self) -> bool {
        self.def.def().variadic
    }
}

/// One token of a macro body: the shared lexer's, punctuators joined
/// (`->`, `##`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Punct,
    Keyword,
    Ident,
    Literal,
}

/// The shape of a macro and the number of the rule that decided it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub shape: MacroShape,
    pub rule: u8,
}

/// First words of a declaration (rule 8).
const DECL_WORDS: &[&str] = &[
    "static",
    "extern",
    "typedef",
    "inline",
    "__inline",
    "__inline__",
    "const",
    "volatile",
    "register",
    "auto",
    "struct",
    "union",
    "enum",
    "_Thread_local",
    "__thread",
    "_Alignas",
    "alignas",
    "_Noreturn",
    "__attribute__",
    "__attribute",
    "__declspec",
    "_Pragma",
    "__pragma",
    "_Static_assert",
    "static_assert",
];

/// Type keywords: followed by a name they start a declaration (rule 8).
const TYPE_WORDS: &[&str] = &[
    "void", "char", "short", "int", "long", "float", "double", "signed", "unsigned", "_Bool",
    "_Complex",
];

struct Classifier<'a> {
    scan: &'a Scan,
    done: BTreeMap<String, Decision>,
    in_progress: Vec<String>,
}

/// Shapes of every macro in the scan (object-like ones included).
pub fn classify(scan: &Scan) -> BTreeMap<String, MacroShape> {
    classify_explained(scan)
        .into_iter()
        .map(|(k, d)| (k, d.shape))
        .collect()
}

/// Like [`classify`], with the deciding rule of each macro.
pub fn classify_explained(scan: &Scan) -> BTreeMap<String, Decision> {
    let mut c = Classifier {
        scan,
        done: BTreeMap::new(),
        in_progress: Vec::new(),
    };
    for name in scan.macros.keys() {
        c.decide(name);
    }
    c.done
}

impl Classifier<'_> {
    fn decide(&mut self, name: &str) -> Option<Decision> {
        if let Some(d) = self.done.get(name) {
            return Some(*d);
        }
        if self.in_progress.iter().any(|n| n == name) {
            return None; // recursion: the macro refers to itself
        }
        let def = self.scan.macros.get(name)?;
        self.in_progress.push(name.to_string());
        let d = self.rules(def);
        self.in_progress.pop();
        self.done.insert(name.to_string(), d);
        Some(d)
    }

    fn rules(&mut self, def: &MacroDef) -> Decision {
        use MacroShape::*;
        let d = |shape, rule| Decision { shape, rule };
        if let Some((_, shape, _)) = MACRO_SHAPES.iter().find(|(n, _, _)| *n == def.name()) {
            return d(*shape, 1);
        }
        let body = &def.body;
        let Some(first) = body.first() else {
            return d(Syntax, 2);
        };
        if is_do_while_zero(body) || first.text == "return" {
            return if self.touches_vm(def) {
                d(Stmt, 3)
            } else {
                d(Utility, 3)
            };
        }
        if def.variadic() {
            return d(Syntax, 4);
        }
        if body
            .iter()
            .any(|t| t.kind == TokenKind::Punct && t.text == "##")
        {
            return d(Syntax, 5);
        }
        if first.text == "{" || first.text == "}" || !balanced(body) {
            return d(Syntax, 6);
        }
        let evaluated = evaluated_tokens(body);
        if has_semicolon_outside_parens(&evaluated) {
            return d(Syntax, 7);
        }
        if DECL_WORDS.contains(&first.text.as_str())
            || (TYPE_WORDS.contains(&first.text.as_str())
                && body.get(1).is_some_and(|t| t.kind == TokenKind::Ident))
        {
            return d(Syntax, 8);
        }
        if first.kind == TokenKind::Ident
            && !def.params().contains(&first.text)
            && first.text != def.name()
            && self.decide(&first.text).is_some_and(|x| x.shape == Syntax)
        {
            return d(Syntax, 9);
        }
        if has_juxtaposed_call(&evaluated) {
            return d(Syntax, 10);
        }
        if self.touches_vm(def) {
            return d(Expr, 11);
        }
        if evaluated
            .iter()
            .any(|t| t.kind == TokenKind::Punct && t.text == "#")
        {
            return d(Syntax, 12);
        }
        d(Utility, 13)
    }

    fn touches_vm(&mut self, def: &MacroDef) -> bool {
        let mut prev: Option<&Token> = None;
        for t in evaluated_tokens(&def.body) {
            let after_member = prev.is_some_and(|p| p.text == "->" || p.text == ".");
            prev = Some(t);
            if t.text == "->" {
                return true;
            }
            if t.kind != TokenKind::Ident || after_member || def.params().contains(&t.text) {
                continue;
            }
            let n = t.text.as_str();
            if self.scan.functions.contains_key(n)
                || self.scan.vm_vars.contains(n)
                || self.scan.vm_types.contains(n)
            {
                return true;
            }
            if n != def.name()
                && self
                    .decide(n)
                    .is_some_and(|x| matches!(x.shape, MacroShape::Expr | MacroShape::Stmt))
            {
                return true;
            }
        }
        false
    }
}

/// Does an object-like macro act on the VM, i.e. call a function
/// (`PyDateTime_IMPORT`, `Py_BEGIN_ALLOW_THREADS`, `Py_RETURN_NONE` up to
/// 3.11)? Values (`Py_None`, and `Py_True` although it casts through
/// `_PyObject_CAST(...)`) do not.
pub fn acts(scan: &Scan, def: &MacroDef) -> bool {
    calls_function(scan, def, &mut Vec::new())
}

/// Does the body call, directly or through function-like macros, a function
/// declared in the headers? A call is a name followed by `(`, not after
/// `.`/`->`, not one of the macro's parameters, outside unevaluated operands.
fn calls_function<'s>(scan: &'s Scan, def: &'s MacroDef, seen: &mut Vec<&'s str>) -> bool {
    if seen.contains(&def.name()) {
        return false;
    }
    seen.push(def.name());
    let toks = evaluated_tokens(&def.body);
    toks.windows(2).enumerate().any(|(i, w)| {
        let (t, next) = (w[0], w[1]);
        let after_member = i > 0 && matches!(toks[i - 1].text.as_str(), "." | "->");
        if t.kind != TokenKind::Ident
            || next.text != "("
            || after_member
            || def.params().contains(&t.text)
        {
            return false;
        }
        scan.functions.contains_key(&t.text)
            || scan
                .macros
                .get(&t.text)
                .is_some_and(|m| m.function_like() && calls_function(scan, m, seen))
    })
}

/// `do STATEMENT while (0)` spanning the whole body (brackets balanced):
/// usually `do { ... } while (0)`, sometimes `do if (...) {...} else {...} while (0)`.
fn is_do_while_zero(body: &[Token]) -> bool {
    let texts: Vec<&str> = body.iter().map(|t| t.text.as_str()).collect();
    let n = texts.len();
    n >= 6
        && texts[0] == "do"
        && texts[n - 4..] == ["while", "(", "0", ")"]
        && balanced(&body[1..n - 4])
}

/// Do `()`, `[]` and `{}` nest properly?
fn balanced(body: &[Token]) -> bool {
    let mut stack = Vec::new();
    for t in body {
        match t.text.as_str() {
            "(" | "[" | "{" => stack.push(t.text.as_str()),
            ")" | "]" | "}" => {
                let want = match t.text.as_str() {
                    ")" => "(",
                    "]" => "[",
                    _ => "{",
                };
                if stack.pop() != Some(want) {
                    return false;
                }
            }
            _ => {}
        }
    }
    stack.is_empty()
}

/// Words whose operand is not evaluated.
const UNEVALUATED: &[&str] = &[
    "sizeof",
    "_Alignof",
    "alignof",
    "__alignof__",
    "offsetof",
    "typeof",
    "__typeof__",
    "__typeof",
];

/// The body without the operands of [`UNEVALUATED`] words (the word stays).
fn evaluated_tokens(body: &[Token]) -> Vec<&Token> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < body.len() {
        let t = &body[i];
        out.push(t);
        i += 1;
        if !UNEVALUATED.contains(&t.text.as_str()) {
            continue;
        }
        if body.get(i).is_some_and(|n| n.text == "(") {
            let mut depth = 0;
            while i < body.len() {
                match body[i].text.as_str() {
                    "(" => depth += 1,
                    ")" => depth -= 1,
                    _ => {}
                }
                i += 1;
                if depth == 0 {
                    break;
                }
            }
        } else {
            i += 1; // `sizeof x`
        }
    }
    out
}

/// A call `f(...)` directly followed by a name or a literal: not one
/// expression but a list of items (X-macros).
fn has_juxtaposed_call(body: &[&Token]) -> bool {
    let mut calls: Vec<bool> = Vec::new();
    for (i, t) in body.iter().enumerate() {
        match t.text.as_str() {
            "(" => calls.push(i > 0 && body[i - 1].kind == TokenKind::Ident),
            ")" => {
                let was_call = calls.pop().unwrap_or(false);
                if was_call
                    && body
                        .get(i + 1)
                        .is_some_and(|n| matches!(n.kind, TokenKind::Ident | TokenKind::Literal))
                {
                    return true;
                }
            }
            _ => {}
        }
    }
    false
}

fn has_semicolon_outside_parens(body: &[&Token]) -> bool {
    let mut depth = 0i32;
    for t in body {
        match t.text.as_str() {
            "(" | "[" => depth += 1,
            ")" | "]" => depth -= 1,
            ";" if depth <= 0 => return true,
            _ => {}
        }
    }
    false
}
