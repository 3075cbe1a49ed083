//! Per-file facts taken from the tree-sitter syntax tree.
//!
//! Phase 1 ([`scan_file_in_pieces`]) parses a file and records its function
//! definitions, prototypes and file-scope names. Phase 2
//! ([`collect_occurrences`]) runs once every file's definitions are known
//! and records each use of an interesting name (API names, project
//! functions, project macros): a call (with where its arguments start and
//! what the first one is) or any other use.

use crate::lex::{self, Directives, Lang, Lines, Token};
use crate::macros::FileRoles;
use crate::mask;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::ops::Range;
use tree_sitter::{Node, Parser, Tree, TreeCursor};

pub struct FileScan {
    pub lang: Lang,
    /// The file's tokens, until the end of resolution
    /// ([`crate::resolve::resolve`] drops them: the largest thing the
    /// model would keep, some 2.5 times the file). The phases after read
    /// the facts kept from them below, or lex the file again (trampoline
    /// planning).
    pub toks: Vec<Token>,
    pub dir: Directives,
    /// Per directive line (`dir.directive_lines`): the offset of its `#`,
    /// and its conditional depths before and after ([`crate::pp::depths`]).
    pub dir_at: Vec<usize>,
    pub dir_depths: Vec<(usize, usize)>,
    /// Offset of the first code token (`dir.first_code_tok`), if any.
    pub first_code_at: Option<usize>,
    /// Per include of `dir.includes`: between file-scope declarations
    /// ([`crate::pp::includes_at_file_scope`]), so a line after it is too.
    pub include_at_file_scope: Vec<bool>,
    /// Where the file defines `PyCtx` itself, and as what
    /// ([`crate::check::pyctx_defined`]).
    pub pyctx_defined: Option<(usize, &'static str)>,
    pub lines: Lines,
    pub eol: &'static str,
    pub funcs: Vec<FuncDef>,
    /// Function start byte → index in `funcs`.
    pub func_at: HashMap<usize, usize>,
    pub protos: Vec<Proto>,
    /// Names declared at file scope as something other than a function
    /// (variables, function pointers): they shadow API names in this file.
    pub file_vars: HashSet<String>,
    /// Variables declared at file scope with type `PyCtx`: passed first,
    /// they are a context (unless a function declares the name itself).
    pub file_ctx_vars: HashSet<String>,
    /// Names given `static` at file scope (definitions or prototypes).
    pub static_names: HashSet<String>,
    /// ERROR / MISSING nodes outside every function definition.
    pub top_errors: Vec<(usize, String)>,
    /// Statement macro invocations blanked before parsing (name, offset).
    pub hidden_macros: Vec<(String, usize)>,
    /// Macro arguments blanked before parsing (token index ranges).
    pub hidden_args: Vec<Range<usize>>,
    /// Runtime trampoline lines (token index ranges, blanked for parsing).
    pub trampolines: Vec<std::ops::Range<usize>>,
    /// C++: the names of member functions declared or defined in the file
    /// (read while its trees are alive; [`crate::cpp::keep_overloads`]
    /// needs them after).
    pub member_names: BTreeSet<String>,
    /// Where the file was cut into pieces ([`pieces`]: the start of each
    /// piece after the first). The check phase lexes the input and the
    /// output one piece at a time there.
    pub cuts: Vec<usize>,
}

#[derive(Debug, Clone)]
pub struct ParamList {
    /// Offset of `(`.
    pub open: usize,
    pub shape: ParamShape,
    /// The first parameter is declared `PyCtx NAME` (NAME may be empty in a
    /// prototype).
    pub first_pyctx: Option<String>,
    /// The parameter types without names (C++ overloads differ in them).
    pub types: String,
    /// A parameter has a default value (C++).
    pub defaults: bool,
}

#[derive(Debug, Clone)]
pub enum ParamShape {
    /// `()`
    Empty,
    /// `(void)`: the range of `void`.
    Void(Range<usize>),
    /// One or more parameters; is `(` the last thing on its line?
    List { newline_after_open: bool },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CtxOrigin {
    Param,
    Prologue,
}

#[derive(Debug, Clone)]
pub struct FuncDef {
    pub name: String,
    pub name_at: usize,
    pub range: Range<usize>,
    pub is_static: bool,
    pub params: Option<ParamList>,
    /// Offset of the body's `{`.
    pub body_open: usize,
    pub body_close: usize,
    /// Why the function cannot be rewritten.
    pub refused: Option<String>,
    /// Why it keeps its signature whatever its callers (C++ members,
    /// templates, overloads: an entry point at most).
    pub keep: Option<String>,
    /// Blocks with a context variable of their own (`{` to `}`: lambda
    /// bodies, local classes' members, a function-try-block's handlers).
    pub inner_scopes: Vec<Range<usize>>,
    /// A context variable the function already has.
    pub existing_ctx: Option<(String, CtxOrigin)>,
    /// Parameters and locals (any block): calls to these names are not
    /// calls to a global function. Byte ranges of the source, like
    /// `idents` (a set of strings per definition weighs more than the
    /// definition).
    pub declared: Idents,
    /// Parameters and locals of type `PyCtx`.
    pub pyctx_vars: Idents,
    /// Every identifier (and type name) spelled in the function.
    pub idents: Idents,
    /// Has an attribute naming parameters by position.
    pub positional_attr: bool,
    /// What a trampoline line needs (`Options::trampolines`), or why the
    /// definition cannot have one.
    /// Boxed: most definitions never get a trampoline. Without
    /// trampolines asked for, an empty `Err` (no definition gets one).
    pub tramp: Result<Box<TrampSig>, String>,
}

/// A set of identifiers spelled in a source, kept as byte ranges of it
/// sorted by their text, each text once: the source holds the text (a
/// set of strings costs some ten times the bytes of the functions of a
/// large file).
#[derive(Debug, Clone, Default)]
pub struct Idents(Vec<(u32, u32)>);

impl Idents {
    fn text<'s>(src: &'s [u8], r: &(u32, u32)) -> &'s [u8] {
        &src[r.0 as usize..r.1 as usize]
    }

    /// The identifiers at these node ranges of `src`.
    fn new(src: &[u8], mut ranges: Vec<(u32, u32)>) -> Idents {
        ranges.sort_by(|a, b| Self::text(src, a).cmp(Self::text(src, b)));
        ranges.dedup_by(|a, b| Self::text(src, a) == Self::text(src, b));
        ranges.shrink_to_fit();
        Idents(ranges)
    }

    /// Is `name` among them? `src`: the source they were taken from.
    pub fn contains(&self, src: &[u8], name: &str) -> bool {
        self.0
            .binary_search_by(|r| Self::text(src, r).cmp(name.as_bytes()))
            .is_ok()
    }

    /// Their texts, in order.
    #[cfg(test)]
    pub fn texts<'s>(&'s self, src: &'s [u8]) -> impl Iterator<Item = &'s [u8]> + 's {
        self.0.iter().map(move |r| Self::text(src, r))
    }

    fn extend(&mut self, src: &[u8], other: Idents) {
        let mut all = std::mem::take(&mut self.0);
        all.extend(other.0);
        *self = Idents::new(src, all);
    }
}

/// A definition's signature as a trampoline line repeats it.
#[derive(Debug, Clone)]
pub struct TrampSig {
    /// The return type without storage classes (`PyObject *`).
    pub ret: String,
    /// The parameter list, parentheses included, on one line.
    pub params: String,
    /// The parameter names, in order.
    pub names: Vec<String>,
    /// Exactly one parameter, declared `PyObject *NAME`.
    pub one_pyobject: bool,
}

/// Whitespace runs become one space.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The signature of a function definition for a trampoline line.
fn trampoline_sig(src: &[u8], def: Node, fdecl: Option<Node>) -> Result<TrampSig, String> {
    let fd = fdecl.ok_or("its declarator is not a plain function declarator")?;
    let decl = def
        .child_by_field_name("declarator")
        .ok_or("no declarator")?;
    let mut specs: Vec<String> = Vec::new();
    let mut c = def.walk();
    for ch in def.children(&mut c) {
        if ch.id() == decl.id() {
            break;
        }
        match ch.kind() {
            "storage_class_specifier" | "comment" => {}
            "type_qualifier" => specs.push(one_line(text(src, ch))),
            _ if def.child_by_field_name("type").map(|t| t.id()) == Some(ch.id()) => {
                specs.push(one_line(text(src, ch)))
            }
            k => {
                return Err(format!(
                    "its return type has a `{k}` the line cannot repeat"
                ))
            }
        }
    }
    let mut stars = String::new();
    let mut d = decl;
    while d.id() != fd.id() {
        if d.kind() != "pointer_declarator" || named_children(d).len() != 1 {
            return Err("its return type is not a plain (pointer) type".into());
        }
        stars.push('*');
        d = d.child_by_field_name("declarator").ok_or("no declarator")?;
    }
    let ret = if stars.is_empty() {
        specs.join(" ")
    } else {
        format!("{} {stars}", specs.join(" "))
    };
    if named_children(fd).len() != 2 {
        return Err("its declarator has attributes".into());
    }
    let plist = fd
        .child_by_field_name("parameters")
        .ok_or("no parameters")?;
    let ptext = text(src, plist);
    if ptext.contains("/*") || ptext.contains("//") || ptext.contains('#') {
        return Err("its parameter list holds comments or directives".into());
    }
    let mut names = Vec::new();
    let mut one_pyobject = false;
    let kids = named_children(plist);
    if kids.is_empty() || (kids.len() == 1 && text(src, kids[0]) == "void") {
        return Err("it has no parameters".into());
    }
    for p in &kids {
        if p.kind() != "parameter_declaration" {
            return Err(format!("a parameter is a `{}`", p.kind()));
        }
        let decl = p.child_by_field_name("declarator");
        let name = decl.and_then(|mut d| loop {
            match d.kind() {
                "identifier" => return Some(d),
                "pointer_declarator" | "array_declarator" => {
                    d = d.child_by_field_name("declarator")?
                }
                _ => return None,
            }
        });
        let Some(name) = name else {
            return Err(format!(
                "parameter `{}` has no plain name",
                one_line(text(src, *p))
            ));
        };
        let name = text(src, name).to_string();
        if name.starts_with("pyctx_") {
            return Err(format!(
                "parameter `{name}` may clash with the trampoline's locals"
            ));
        }
        if kids.len() == 1 {
            one_pyobject = p.child_by_field_name("type").map(|t| text(src, t)) == Some("PyObject")
                && named_children(*p).len() == 2
                && decl.map(|d| {
                    d.kind() == "pointer_declarator"
                        && named_children(d).len() == 1
                        && d.child_by_field_name("declarator").map(|i| i.kind())
                            == Some("identifier")
                }) == Some(true);
        }
        names.push(name);
    }
    if names.is_empty() {
        return Err("it has no parameters".into());
    }
    Ok(TrampSig {
        ret,
        params: one_line(ptext),
        names,
        one_pyobject,
    })
}

#[derive(Debug, Clone)]
pub struct Proto {
    pub name: String,
    pub name_at: usize,
    /// Declared inside this function's body.
    pub in_func: Option<usize>,
    pub params: ParamList,
    /// Inside an ERROR node.
    pub in_error: bool,
    /// A declaration the engine cannot rewrite (`params` is meaningless).
    pub opaque: bool,
    /// Has an attribute naming parameters by position.
    pub positional_attr: bool,
}

#[derive(Debug, Clone)]
pub enum FirstArg {
    None,
    Ident(String),
    /// `PyCtx_Get()` (a bridge): its byte range.
    PyCtxGet(Range<usize>),
    /// A call of another runtime function returning a context
    /// (`PyCtx_AsDealloc(...)`; see [`returns_context`]).
    PyCtxCall,
    Other,
}

#[derive(Debug, Clone)]
pub struct CallInfo {
    /// Offset of `(` of the argument list.
    pub open: usize,
    pub empty: bool,
    pub newline_after_open: bool,
    pub first: FirstArg,
    /// The call is assigned to, incremented or has its address taken.
    pub lvalue: bool,
    /// The name is qualified (`::NAME(args)`, `ns::NAME(args)`, C++): no
    /// argument-dependent lookup, so an API call stays legacy, and a
    /// project function so called keeps its signature.
    pub qualified: bool,
    /// Not a call: an object-like API macro that acts, used bare
    /// (`PyDateTime_IMPORT;`); `open` is the end of the name, where
    /// `_CTX(ctx)` goes.
    pub object_like: bool,
    /// A preprocessor directive stands between the name and its arguments
    /// (`#if A f #else g #endif (x)`): which function is called depends on
    /// the configuration, and the arguments are shared by all of them.
    pub split_callee: bool,
}

#[derive(Debug, Clone)]
pub enum OccKind {
    Call(CallInfo),
    /// Declared as a variable or parameter (shadows the global name).
    VarDecl,
    /// Any other use: address taken, stored, passed, a call through
    /// parentheses `(f)(x)`, a call at file scope.
    Other,
}

#[derive(Debug, Clone)]
pub struct Occ {
    pub name: String,
    pub at: usize,
    pub func: Option<usize>,
    pub kind: OccKind,
    pub in_error: bool,
    /// Inside a conditional group (`#if`/`#ifdef`/`#else`...) within its
    /// function: compiled in some configurations only.
    pub in_cond: bool,
}

fn text<'a>(src: &'a [u8], n: Node) -> &'a str {
    std::str::from_utf8(&src[n.byte_range()]).unwrap_or("")
}

/// Named children except comments.
fn named_children<'t>(n: Node<'t>) -> Vec<Node<'t>> {
    let mut c = n.walk();
    n.named_children(&mut c)
        .filter(|ch| ch.kind() != "comment")
        .collect()
}

pub struct Frame<'t> {
    pub node: Node<'t>,
    pub field: Option<&'static str>,
}

/// Pre-order walk with the ancestor chain; `f` returns whether to descend.
pub fn walk<'t>(root: Node<'t>, mut f: impl FnMut(&Frame<'t>, &[Frame<'t>]) -> bool) {
    let mut cursor: TreeCursor<'t> = root.walk();
    let mut stack: Vec<Frame<'t>> = Vec::new();
    loop {
        let frame = Frame {
            node: cursor.node(),
            field: cursor.field_name(),
        };
        let descend = f(&frame, &stack);
        if descend && cursor.goto_first_child() {
            stack.push(frame);
            continue;
        }
        loop {
            if stack.is_empty() {
                return;
            }
            if cursor.goto_next_sibling() {
                break;
            }
            if !cursor.goto_parent() {
                return;
            }
            stack.pop();
        }
    }
}

fn newline_after(src: &[u8], at: usize) -> bool {
    let mut i = at;
    while i < src.len() && (src[i] == b' ' || src[i] == b'\t') {
        i += 1;
    }
    i < src.len() && (src[i] == b'\n' || src[i] == b'\r')
}

/// What phase 1 needs of the mask besides the parse: the sites of macros
/// standing for `static` that were too short to be written so, and the
/// masked text (where `VOID` of `#define VOID void` reads `void`).
#[derive(Clone, Copy)]
struct Marks<'a> {
    static_at: &'a [usize],
    masked: &'a [u8],
    /// Record what a trampoline line needs (`Options::trampolines`): a
    /// few strings per definition, not kept when no run will read them.
    tramps: bool,
}

fn param_list(src: &[u8], masked: &[u8], list: Node) -> ParamList {
    let open = list.start_byte();
    let kids = named_children(list);
    let shape = if kids.is_empty() {
        ParamShape::Empty
    } else if kids.len() == 1
        && kids[0].kind() == "parameter_declaration"
        && masked
            .get(kids[0].byte_range())
            .is_some_and(|t| t.trim_ascii() == b"void")
    {
        ParamShape::Void(kids[0].byte_range())
    } else {
        ParamShape::List {
            newline_after_open: newline_after(src, open + 1),
        }
    };
    let first_pyctx = kids.first().and_then(|p| {
        if p.kind() != "parameter_declaration" {
            return None;
        }
        let ty = p.child_by_field_name("type")?;
        if text(src, ty) != "PyCtx" {
            return None;
        }
        // `PyCtx ctx` or an unnamed `PyCtx`; `PyCtx *out` (a pointer) or
        // `PyCtx v[]` is not a context.
        match p.child_by_field_name("declarator") {
            None => Some(String::new()),
            Some(d) if d.kind() == "identifier" => Some(text(src, d).to_string()),
            Some(_) => None,
        }
    });
    ParamList {
        open,
        shape,
        first_pyctx,
        types: crate::cpp::param_types(src, list),
        defaults: crate::cpp::has_defaults(list),
    }
}

/// The function declarator that names the function, descending a
/// definition's or declaration's declarator. Err: the name is built by a
/// macro (`FUNC(name)(args)`) or the declarator is not one we know.
fn name_declarator<'t>(mut node: Node<'t>) -> Result<Option<Node<'t>>, &'static str> {
    loop {
        match node.kind() {
            "pointer_declarator" | "attributed_declarator" | "init_declarator" => {
                node = match node.child_by_field_name("declarator") {
                    Some(n) => n,
                    None => return Ok(None),
                };
            }
            "parenthesized_declarator" | "reference_declarator" => {
                node = match named_children(node).into_iter().next() {
                    Some(n) => n,
                    None => return Ok(None),
                };
            }
            "function_declarator" => {
                let inner = match node.child_by_field_name("declarator") {
                    Some(n) => n,
                    None => return Ok(None),
                };
                match inner.kind() {
                    "identifier" => return Ok(Some(node)),
                    "function_declarator" => return Err("its name is produced by a macro"),
                    _ => node = inner,
                }
            }
            _ => return Ok(None),
        }
    }
}

/// Does this declaration text carry an attribute that refers to
/// parameters by position (`format(printf, 2, 3)`, `nonnull(1)`, ...)?
/// Adding a parameter would shift them.
fn positional_attribute(text: &[u8]) -> bool {
    let has = |w: &[u8]| text.windows(w.len()).any(|x| x == w);
    (has(b"__attribute") || has(b"Py_GCC_ATTRIBUTE") || has(b"__declspec"))
        && [
            &b"format"[..],
            b"nonnull",
            b"alloc_size",
            b"alloc_align",
            b"access",
            b"sentinel",
        ]
        .iter()
        .any(|w| has(w))
}

/// The innermost identifier of a declarator chain.
fn innermost_identifier(node: Node) -> Option<Node> {
    if node.kind() == "identifier" {
        return Some(node);
    }
    if let Some(d) = node.child_by_field_name("declarator") {
        return innermost_identifier(d);
    }
    named_children(node)
        .into_iter()
        .find_map(innermost_identifier)
}

/// The identifier a (non-function) declarator declares.
pub(crate) fn declared_name<'t>(mut node: Node<'t>) -> Option<Node<'t>> {
    loop {
        match node.kind() {
            "identifier" => return Some(node),
            "pointer_declarator"
            | "attributed_declarator"
            | "init_declarator"
            | "array_declarator"
            | "function_declarator" => {
                node = node.child_by_field_name("declarator")?;
            }
            "parenthesized_declarator" | "reference_declarator" => {
                node = named_children(node).into_iter().next()?;
            }
            _ => return None,
        }
    }
}

/// `static` among the declaration's specifiers, written or standing in a
/// macro too short to be written `static` (`static_at`, from the mask).
fn has_static(src: &[u8], decl: Node, static_at: &[usize]) -> bool {
    let mut c = decl.walk();
    let found = decl
        .children(&mut c)
        .any(|ch| ch.kind() == "storage_class_specifier" && text(src, ch) == "static");
    let head_end = decl
        .child_by_field_name("declarator")
        .map(|d| d.start_byte())
        .unwrap_or(decl.start_byte());
    found
        || static_at
            .iter()
            .any(|&at| (decl.start_byte()..head_end).contains(&at))
}

/// A `;` tree-sitter had to assume after a call statement: `MACRO(x)` on
/// its own line, a macro that supplies its own semicolon or braces (code
/// that compiles has no other reason to lack it). The tree is the same as
/// with the `;`, so it is no reason to refuse.
fn tolerated_missing(node: Node) -> bool {
    if !node.is_missing() || node.kind() != ";" {
        return false;
    }
    let mut prev = node.prev_sibling();
    while let Some(p) = prev.filter(|p| p.kind() == "comment") {
        prev = p.prev_sibling();
    }
    prev.map(|p| p.kind() == "call_expression").unwrap_or(false)
}

pub(crate) fn first_error(node: Node) -> Option<Node> {
    if tolerated_missing(node) {
        return None;
    }
    if node.is_error() || node.is_missing() {
        return Some(node);
    }
    if !node.has_error() {
        return None;
    }
    let mut c = node.walk();
    let kids: Vec<Node> = node.children(&mut c).collect();
    kids.into_iter().find_map(first_error)
}

fn describe_error(src: &[u8], lines: &Lines, n: Node) -> String {
    let (line, _) = lines.pos(n.start_byte());
    if n.is_missing() {
        format!("syntax tree has a missing `{}` at line {line}", n.kind())
    } else {
        let snippet: String = text(src, n)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .take(40)
            .collect();
        format!("tree-sitter cannot parse `{snippet}` at line {line}")
    }
}

/// What the lexer alone learns from a file (before any parsing).
pub struct Lexed {
    pub toks: Vec<Token>,
    pub dir: Directives,
    pub lang: Lang,
}

pub fn lex_file(src: &[u8]) -> Lexed {
    lex_file_in(src, Lang::C)
}

pub fn lex_file_in(src: &[u8], lang: Lang) -> Lexed {
    let toks = lex::lex_lang(src, lang);
    let dir = lex::scan_directives_in(src, &toks, lang);
    Lexed { toks, dir, lang }
}

/// The tree-sitter grammar of a language.
pub(crate) fn grammar(lang: Lang) -> tree_sitter::Language {
    match lang {
        Lang::C => tree_sitter_c::LANGUAGE.into(),
        Lang::Cpp => tree_sitter_cpp::LANGUAGE.into(),
    }
}

/// Files larger than this are parsed in pieces of about this size (whole
/// top-level constructs, see [`pieces`]), one piece's trees alive at a
/// time: a tree-sitter tree takes some 30 bytes per byte of source, so a
/// whole-file tree of a 50 MB file would hold 1.5 GB. A file of one piece
/// keeps its trees for phase 2; the pieces of a larger one are parsed
/// again there.
pub(crate) const PIECE: usize = 1 << 20;

/// The syntax of one file that phase 2 reads: the text tree-sitter parses
/// and the pieces it is parsed in. Dropped after phase 2: later phases
/// read the facts, never the trees.
pub struct Syntax {
    lang: Lang,
    /// The masked source ([`crate::mask`]) and the byte ranges the parser
    /// must not see.
    masked: Vec<u8>,
    skip: Vec<Range<usize>>,
    /// Byte ranges of the pieces, each with its trees if they were kept.
    pieces: Vec<(Range<usize>, Option<Piece>)>,
}

/// The trees of one piece: the piece's tree and the regions parsed once
/// per configuration ([`crate::configs::View`], their trees stand in for
/// the piece's there).
struct Piece {
    tree: Tree,
    views: Vec<crate::configs::View>,
}

impl Piece {
    fn view_ranges(&self) -> Vec<Range<usize>> {
        self.views.iter().map(|v| v.range.clone()).collect()
    }
}

impl Syntax {
    fn parse(
        &self,
        src: &[u8],
        lines: &Lines,
        conds: &[lex::Conditional],
        r: Range<usize>,
    ) -> Piece {
        let mut parser = Parser::new();
        parser
            .set_language(&grammar(self.lang))
            .expect("tree-sitter grammars load");
        let whole = r.start == 0 && r.end == src.len();
        let mut text: &[u8] = &self.masked;
        if !self.skip.is_empty() || !whole {
            let ranges = included(lines, &self.skip, r.clone());
            if ranges.is_empty() {
                // Nothing to parse (no ranges would mean the whole text).
                text = b"";
            } else {
                parser
                    .set_included_ranges(&ranges)
                    .expect("ordered, disjoint ranges");
            }
        }
        let tree = parser.parse(text, None).expect("parser has a language");
        let views = crate::configs::views(self.lang, src, &self.masked, &tree, conds, lines);
        Piece { tree, views }
    }
}

/// The bytes of `piece` outside `skip`, as tree-sitter ranges.
fn included(lines: &Lines, skip: &[Range<usize>], piece: Range<usize>) -> Vec<tree_sitter::Range> {
    let point = |at: usize| {
        let (l, c) = lines.pos(at);
        tree_sitter::Point::new(l - 1, c - 1)
    };
    let mut ranges = Vec::with_capacity(skip.len() + 1);
    let mut from = piece.start;
    let end = std::iter::once(piece.end..piece.end);
    for r in skip.iter().cloned().chain(end) {
        let (start, stop) = (
            r.start.clamp(piece.start, piece.end),
            r.end.clamp(piece.start, piece.end),
        );
        if start > from {
            ranges.push(tree_sitter::Range {
                start_byte: from,
                end_byte: start,
                start_point: point(from),
                end_point: point(start),
            });
        }
        from = from.max(stop);
    }
    ranges
}

/// Where a file may be cut into pieces of at least `size` bytes: at the
/// start of a line after a function body's `}` (a `{` right after a `)`)
/// that ends its line, outside every brace and parenthesis, directive
/// line, dead group and conditional, so that each piece is whole
/// top-level constructs and tree-sitter sees in a piece what it sees in
/// the whole file. Not after a `;`: a K&R definition's parameter
/// declarations end in one. Braces that do not balance (some in `#if`
/// branches) end the cutting. A file without such a place stays one
/// piece.
pub(crate) fn pieces(
    toks: &[Token],
    dir: &Directives,
    len: usize,
    size: usize,
) -> Vec<Range<usize>> {
    use lex::Tok;
    let mut out = Vec::new();
    let mut from = 0;
    let (mut depth, mut parens) = (0i64, 0i64);
    // The kind of the token before each open brace's `{`: a `)` opens a
    // function body.
    let mut braces: Vec<bool> = Vec::new();
    let (mut line_k, mut dead_k) = (0, 0);
    let mut prev: Option<Tok> = None;
    for (k, t) in toks.iter().enumerate() {
        while line_k < dir.directive_lines.len() && dir.directive_lines[line_k].end <= k {
            line_k += 1;
        }
        while dead_k < dir.dead.len() && dir.dead[dead_k].end <= t.start() {
            dead_k += 1;
        }
        let in_directive = dir
            .directive_lines
            .get(line_k)
            .is_some_and(|r| r.contains(&k));
        let in_dead = dir.dead.get(dead_k).is_some_and(|r| r.contains(&t.start()));
        if in_directive || in_dead || t.kind == Tok::Comment || t.kind == Tok::Newline {
            continue;
        }
        let mut ends = false;
        match t.kind {
            Tok::Punct(b'{') => {
                braces.push(prev == Some(Tok::Punct(b')')));
                depth += 1;
            }
            Tok::Punct(b'}') => {
                depth -= 1;
                ends = braces.pop().unwrap_or(false) && depth == 0 && parens == 0;
            }
            Tok::Punct(b'(') => parens += 1,
            Tok::Punct(b')') => parens -= 1,
            _ => {}
        }
        prev = Some(t.kind);
        if depth < 0 || parens < 0 {
            // More closed than opened (braces in `#if` branches): depth is
            // unknown from here on, so no more cuts.
            break;
        }
        if !ends || t.end() < from + size {
            continue;
        }
        // The line must end here (a comment after it keeps the piece open).
        let Some(nl) = toks.get(k + 1).filter(|n| n.kind == Tok::Newline) else {
            continue;
        };
        if dir
            .conditionals
            .iter()
            .any(|c| c.span().contains(&t.start()))
        {
            continue;
        }
        out.push(from..nl.end());
        from = nl.end();
    }
    if from < len || out.is_empty() {
        out.push(from..len);
    }
    out
}

/// Phase 1. `roles`: the macros that stand for syntax in this file
/// ([`crate::macros`]), written as their stand-ins before parsing; files
/// larger than `size` are parsed in pieces ([`PIECE`]).
pub(crate) fn scan_file_in_pieces(
    src: &[u8],
    lexed: Lexed,
    roles: FileRoles,
    size: usize,
    tramps: bool,
) -> (FileScan, Syntax) {
    let Lexed { toks, dir, lang } = lexed;
    let masked = mask::mask(src, &toks, &dir.dead, roles, &dir.directive_lines);
    let lines = Lines::new(src);
    let ranges = pieces(&toks, &dir, src.len(), size);
    let keep = ranges.len() == 1;
    let cuts = ranges[1..].iter().map(|r| r.start).collect();
    let mut syn = Syntax {
        lang,
        masked: masked.text,
        skip: masked.skip,
        pieces: Vec::with_capacity(ranges.len()),
    };
    let mut acc = Phase1 {
        lang,
        ..Phase1::default()
    };
    let mut top_errors = Vec::new();
    let mut member_names = BTreeSet::new();
    for r in ranges {
        let p = syn.parse(src, &lines, &dir.conditionals, r.clone());
        let marks = Marks {
            static_at: &masked.static_at,
            masked: &syn.masked,
            tramps,
        };
        let skip = p.view_ranges();
        acc.visit(src, marks, &lines, p.tree.root_node(), &skip);
        for v in &p.views {
            for t in &v.trees {
                acc.visit(src, marks, &lines, t.root_node(), &[]);
            }
        }
        piece_errors(src, &lines, &p, &skip, &mut top_errors);
        if lang == Lang::Cpp {
            crate::cpp::member_names(src, p.tree.root_node(), &mut member_names);
            for t in p.views.iter().flat_map(|v| &v.trees) {
                crate::cpp::member_names(src, t.root_node(), &mut member_names);
            }
        }
        syn.pieces.push((r, keep.then_some(p)));
    }
    // Facts kept for the whole run: no room left from growing (a large
    // file's definitions are its largest table after its tokens).
    acc.funcs.shrink_to_fit();
    acc.protos.shrink_to_fit();
    let fs = FileScan {
        lang,
        dir_depths: crate::pp::depths(src, &toks, &dir.directive_lines),
        dir_at: dir
            .directive_lines
            .iter()
            .map(|r| toks[r.start].start())
            .collect(),
        first_code_at: toks.get(dir.first_code_tok).map(|t| t.start()),
        include_at_file_scope: crate::pp::includes_at_file_scope(
            src,
            &toks,
            &dir.directive_lines,
            &dir.includes,
        ),
        pyctx_defined: crate::check::pyctx_defined(src, &toks, &dir),
        toks,
        dir,
        eol: lex::line_ending(src),
        lines,
        funcs: acc.funcs,
        func_at: acc.func_at,
        protos: acc.protos,
        file_vars: acc.file_vars,
        file_ctx_vars: acc.file_ctx_vars,
        static_names: acc.static_names,
        top_errors,
        hidden_macros: masked.hidden,
        hidden_args: masked.hidden_args,
        trampolines: masked.trampolines,
        member_names,
        cuts,
    };
    (fs, syn)
}

/// Top-level errors of a piece: ERROR / MISSING nodes outside function
/// definitions.
fn piece_errors(
    src: &[u8],
    lines: &Lines,
    p: &Piece,
    skip: &[Range<usize>],
    out: &mut Vec<(usize, String)>,
) {
    walk(p.tree.root_node(), |fr, _| {
        let n = fr.node;
        if n.kind() == "function_definition"
            || (!n.has_error() && !n.is_missing())
            || inside(skip, &n.byte_range())
        {
            return false;
        }
        if n.is_missing() {
            if !tolerated_missing(n) {
                out.push((n.start_byte(), describe_error(src, lines, n)));
            }
            return false;
        }
        if n.is_error() {
            out.push((n.start_byte(), describe_error(src, lines, n)));
            // Function definitions inside are refused (and reported) on
            // their own.
        }
        true
    });
}

/// Is `r` inside one of `regions`? (A zero-width node, a token the error
/// recovery assumed, counts at either end.)
fn inside(regions: &[Range<usize>], r: &Range<usize>) -> bool {
    regions
        .iter()
        .any(|g| g.start <= r.start && r.end <= g.end && (r.start < g.end || r.start == r.end))
}

/// What phase 1 gathers, over the whole-file tree and the trees of each
/// configuration of a [`crate::configs::View`]; a definition or
/// prototype seen in several configurations is one (same name offset).
#[derive(Default)]
struct Phase1 {
    funcs: Vec<FuncDef>,
    func_at: HashMap<usize, usize>,
    protos: Vec<Proto>,
    file_vars: HashSet<String>,
    file_ctx_vars: HashSet<String>,
    static_names: HashSet<String>,
    /// Name offset → index in `funcs` / seen prototype name offsets.
    func_by_name: HashMap<usize, usize>,
    /// Function index by the offset of its body's `{`.
    func_by_body: HashMap<usize, usize>,
    proto_seen: HashSet<usize>,
    lang: Lang,
}

impl Phase1 {
    fn visit(
        &mut self,
        src: &[u8],
        marks: Marks,
        lines: &Lines,
        root: Node,
        skip: &[Range<usize>],
    ) {
        walk(root, |fr, anc| {
            let n = fr.node;
            if inside(skip, &n.byte_range()) {
                return false;
            }
            match n.kind() {
                "function_definition" => {
                    let in_error = anc.iter().any(|a| a.node.is_error());
                    let cpp = (self.lang == Lang::Cpp).then(|| crate::cpp::def_facts(src, n, anc));
                    self.function(src, marks, lines, n, in_error, cpp);
                    false
                }
                "declaration" => {
                    let in_error = anc.iter().any(|a| a.node.is_error());
                    self.declaration(src, marks, n, in_error);
                    // Initialisers hold nothing phase 1 needs.
                    false
                }
                "preproc_def" | "preproc_function_def" | "comment" | "string_literal" => false,
                _ => true,
            }
        });
    }

    fn function(
        &mut self,
        src: &[u8],
        marks: Marks,
        lines: &Lines,
        n: Node,
        in_error: bool,
        cpp: Option<crate::cpp::DefFacts>,
    ) {
        let idx = self.funcs.len();
        let first_proto = self.protos.len();
        let mut f = scan_function(src, marks, lines, n, in_error, idx, &mut self.protos);
        if let Some(c) = cpp {
            cpp_function(&mut f, c);
        }
        if f.is_static {
            self.static_names.insert(f.name.clone());
        }
        // The same body under another head: an `#if` group around part of
        // the head (`#ifdef X PyMODINIT_FUNC #endif f(void) {`) reads as
        // two definitions, one of them perhaps not a function at all. The
        // engine treats it as one function, refused in every configuration
        // (no edit may land in a body some configuration cannot read).
        let same_body = (f.body_open < f.body_close)
            .then(|| self.func_by_body.get(&f.body_open).copied())
            .flatten()
            .filter(|&i| self.funcs[i].name_at != f.name_at);
        if let Some(i) = same_body {
            let why = format!(
                "its head reads differently between configurations (as `{}` and as `{}`: an `#if` group around part of it)",
                self.funcs[i].name, f.name
            );
            // Report it under the name a configuration reads as a function.
            if self.funcs[i].refused.is_some() && f.refused.is_none() {
                self.func_by_name.remove(&self.funcs[i].name_at);
                self.func_by_name.insert(f.name_at, i);
                self.funcs[i] = f;
            }
            self.funcs[i].refused = Some(why);
            for p in &mut self.protos[first_proto..] {
                p.in_func = Some(i);
            }
            self.func_at.insert(n.start_byte(), i);
            return;
        }
        if f.body_open < f.body_close {
            self.func_by_body.entry(f.body_open).or_insert(idx);
        }
        match self.func_by_name.get(&f.name_at) {
            Some(&i) => {
                // Another configuration of a definition seen already.
                let g = &mut self.funcs[i];
                g.declared.extend(src, f.declared);
                g.pyctx_vars.extend(src, f.pyctx_vars);
                g.idents.extend(src, f.idents);
                g.positional_attr |= f.positional_attr;
                if g.refused.is_none() {
                    g.refused = f.refused;
                }
                if g.keep.is_none() {
                    g.keep = f.keep;
                }
                for p in &mut self.protos[first_proto..] {
                    p.in_func = Some(i);
                }
                self.func_at.insert(n.start_byte(), i);
            }
            None => {
                self.func_by_name.insert(f.name_at, idx);
                self.func_at.insert(n.start_byte(), idx);
                self.funcs.push(f);
            }
        }
        let protos = std::mem::take(&mut self.protos);
        self.protos = protos
            .into_iter()
            .enumerate()
            .filter(|(k, p)| *k < first_proto || self.proto_seen.insert(p.name_at))
            .map(|(_, p)| p)
            .collect();
    }

    fn declaration(&mut self, src: &[u8], marks: Marks, n: Node, in_error: bool) {
        let st = has_static(src, n, marks.static_at);
        let is_ctx = n.child_by_field_name("type").map(|t| text(src, t)) == Some("PyCtx");
        let mut c = n.walk();
        let decls: Vec<Node> = n.children_by_field_name("declarator", &mut c).collect();
        for d in decls {
            match name_declarator(d) {
                Ok(Some(fd)) => {
                    let id = fd.child_by_field_name("declarator").unwrap();
                    let name = text(src, id).to_string();
                    if st {
                        self.static_names.insert(name.clone());
                    }
                    if !self.proto_seen.insert(id.start_byte()) {
                        continue;
                    }
                    self.protos.push(Proto {
                        name,
                        name_at: id.start_byte(),
                        in_func: None,
                        params: param_list(
                            src,
                            marks.masked,
                            fd.child_by_field_name("parameters").unwrap(),
                        ),
                        in_error,
                        opaque: false,
                        positional_attr: positional_attribute(&src[n.byte_range()]),
                    });
                }
                Ok(None) => {
                    if let Some(id) = declared_name(d) {
                        let name = text(src, id).to_string();
                        // `PyCtx *p` declares a pointer, not a context.
                        if is_ctx && d.kind() != "pointer_declarator" {
                            self.file_ctx_vars.insert(name.clone());
                        }
                        self.file_vars.insert(name);
                    }
                }
                Err(_) => {
                    // A declarator the engine does not follow
                    // (`f(args) MACRO((attrs));`): the function it
                    // names must keep its signature.
                    if let Some(id) = innermost_identifier(d) {
                        if !self.proto_seen.insert(id.start_byte()) {
                            continue;
                        }
                        self.protos.push(Proto {
                            name: text(src, id).to_string(),
                            name_at: id.start_byte(),
                            in_func: None,
                            params: ParamList {
                                open: id.end_byte(),
                                shape: ParamShape::Empty,
                                first_pyctx: None,
                                types: String::new(),
                                defaults: false,
                            },
                            in_error,
                            opaque: true,
                            positional_attr: false,
                        });
                    }
                }
            }
        }
    }
}

/// What C++ changes in a definition's facts: a reason to keep the
/// signature for what the engine does not thread through, the reported name of a member, internal linkage
/// in an anonymous namespace, no trampoline (they are C macros).
fn cpp_function(f: &mut FuncDef, c: crate::cpp::DefFacts) {
    if let Some((name, at)) = c.name {
        f.name = name;
        f.name_at = at;
    }
    // A member's declarator (`C::f`, `~C`, `operator+`) is not a plain
    // one: the C++ reason replaces that refusal.
    if c.keep.is_some() && f.refused.as_deref() == Some(NOT_PLAIN) {
        f.refused = None;
    }
    f.keep = c.keep;
    f.inner_scopes = c.scopes;
    f.is_static |= c.internal;
    f.tramp = Err("a C++ function (trampoline lines are written for C only)".into());
}

const NOT_PLAIN: &str = "its declarator is not a plain function declarator";

fn scan_function(
    src: &[u8],
    marks: Marks,
    lines: &Lines,
    n: Node,
    in_error: bool,
    idx: usize,
    protos: &mut Vec<Proto>,
) -> FuncDef {
    let decl = n.child_by_field_name("declarator");
    // A function-try-block's names are the whole `try ... catch`'s; its
    // prologue goes into the `try` block.
    let whole_body = n.child_by_field_name("body");
    let body = whole_body.map(|b| crate::cpp::try_body(b).unwrap_or(b));
    let (fdecl, declarator_refusal) = match decl.map(name_declarator) {
        Some(Ok(Some(fd))) => (Some(fd), None),
        Some(Err(why)) => (None, Some(why.to_string())),
        _ => (None, Some(NOT_PLAIN.to_string())),
    };
    let (name, name_at) = definition_name(src, n, decl, fdecl);
    let params_node = fdecl.and_then(|fd| fd.child_by_field_name("parameters"));
    let params = params_node.map(|p| param_list(src, marks.masked, p));
    let tramp = if marks.tramps {
        trampoline_sig(src, n, fdecl).map(Box::new)
    } else {
        Err(String::new())
    };
    let refused = declarator_refusal
        .or_else(|| definition_refusal(src, lines, n, in_error, params_node, body));
    let (body_open, body_close) = body
        .map(|b| (b.start_byte(), b.end_byte().saturating_sub(1)))
        .unwrap_or((n.end_byte(), n.end_byte()));
    let names = function_names(src, marks, n, params_node, whole_body, idx, protos);
    let existing_ctx = existing_context(src, params.as_ref(), body);
    FuncDef {
        name,
        name_at,
        range: n.byte_range(),
        is_static: has_static(src, n, marks.static_at),
        params,
        body_open,
        body_close,
        refused,
        keep: None,
        inner_scopes: Vec::new(),
        existing_ctx,
        declared: Idents::new(src, names.declared),
        pyctx_vars: Idents::new(src, names.pyctx_vars),
        idents: names.idents,
        positional_attr: positional_attribute(&src[n.start_byte()..body_open.max(n.start_byte())]),
        tramp,
    }
}

/// The defined name and its offset; without a plain function declarator,
/// the declarator's first identifier (best effort, for the report).
fn definition_name(
    src: &[u8],
    n: Node,
    decl: Option<Node>,
    fdecl: Option<Node>,
) -> (String, usize) {
    if let Some(fd) = fdecl {
        let id = fd.child_by_field_name("declarator").unwrap();
        return (text(src, id).to_string(), id.start_byte());
    }
    let mut nm = (String::from("?"), n.start_byte());
    if let Some(d) = decl {
        walk(d, |fr, _| {
            if fr.node.kind() == "identifier" && nm.0 == "?" {
                nm = (text(src, fr.node).to_string(), fr.node.start_byte());
            }
            nm.0 == "?"
        });
    }
    nm
}

/// Why a definition with a plain declarator cannot be rewritten, if it
/// cannot: the first reason that applies.
fn definition_refusal(
    src: &[u8],
    lines: &Lines,
    n: Node,
    in_error: bool,
    params_node: Option<Node>,
    body: Option<Node>,
) -> Option<String> {
    // K&R: declarations between the declarator and the body, or bare
    // identifiers as parameters.
    let mut c = n.walk();
    let kr_decls = n
        .named_children(&mut c)
        .any(|ch| ch.kind() == "declaration");
    let kr_params = params_node
        .map(|p| named_children(p).iter().any(|ch| ch.kind() == "identifier"))
        .unwrap_or(false);
    if kr_decls || kr_params {
        return Some("K&R-style (old-style) definition".to_string());
    }
    // A definition's parameter that is one bare name and no declarator
    // (`f(VOID)`) is an old-style identifier (an implicit `int`) or a macro
    // the engine cannot see through (for `void`, say): a parameter added
    // beside it would not compile in either reading.
    let bare = params_node.and_then(|p| {
        named_children(p).into_iter().find(|ch| {
            ch.kind() == "parameter_declaration"
                && ch.child_by_field_name("declarator").is_none()
                && ch.child_by_field_name("type").is_some_and(|t| {
                    t.kind() == "type_identifier" && t.byte_range() == ch.byte_range()
                })
        })
    });
    if let Some(b) = bare {
        return Some(format!(
            "its parameter `{}` is a bare name: an old-style (K&R) parameter or a macro \
             whose expansion is not known here",
            text(src, b)
        ));
    }
    if in_error {
        return Some(format!(
            "inside a region tree-sitter could not parse (line {})",
            lines.pos(n.start_byte()).0
        ));
    }
    if let Some(e) = first_error(n) {
        return Some(describe_error(src, lines, e));
    }
    // C++ `= default;` / `= delete;`: a definition without statements.
    let mut c = n.walk();
    let defaulted = n
        .children(&mut c)
        .any(|ch| matches!(ch.kind(), "default_method_clause" | "delete_method_clause"));
    (body.is_none() && !defaulted).then(|| "no body".to_string())
}

/// The names a definition declares and uses.
#[derive(Default)]
struct FunctionNames {
    declared: Vec<(u32, u32)>,
    pyctx_vars: Vec<(u32, u32)>,
    idents: Idents,
}

/// Parameters, locals (local prototypes go to `protos`) and every
/// identifier of the body and the declarator.
fn function_names(
    src: &[u8],
    marks: Marks,
    n: Node,
    params_node: Option<Node>,
    body: Option<Node>,
    idx: usize,
    protos: &mut Vec<Proto>,
) -> FunctionNames {
    let mut names = FunctionNames::default();
    // Node ranges of identifiers, repeats included (made a set at the end).
    let mut idents: Vec<(u32, u32)> = Vec::new();
    let mut ident = |x: Node| idents.push((x.start_byte() as u32, x.end_byte() as u32));
    let FunctionNames {
        declared,
        pyctx_vars,
        ..
    } = &mut names;
    // Parameters.
    if let Some(p) = params_node {
        for pd in named_children(p) {
            if pd.kind() != "parameter_declaration" {
                continue;
            }
            if let Some(d) = pd.child_by_field_name("declarator") {
                if let Some(id) = declared_name(d) {
                    let nm = (id.start_byte() as u32, id.end_byte() as u32);
                    let is_ctx =
                        pd.child_by_field_name("type").map(|t| text(src, t)) == Some("PyCtx");
                    if is_ctx && d.kind() == "identifier" {
                        pyctx_vars.push(nm);
                    }
                    declared.push(nm);
                }
            }
        }
    }
    // The body: locals, local prototypes, identifiers.
    if let Some(b) = body {
        walk(b, |fr, _| {
            let x = fr.node;
            match x.kind() {
                "identifier" | "type_identifier" => ident(x),
                "declaration" | "parameter_declaration" => {
                    let is_ctx =
                        x.child_by_field_name("type").map(|t| text(src, t)) == Some("PyCtx");
                    let mut c = x.walk();
                    let ds: Vec<Node> = x.children_by_field_name("declarator", &mut c).collect();
                    for d in ds {
                        if x.kind() == "declaration" {
                            if let Ok(Some(fd)) = name_declarator(d) {
                                let id = fd.child_by_field_name("declarator").unwrap();
                                protos.push(Proto {
                                    name: text(src, id).to_string(),
                                    name_at: id.start_byte(),
                                    in_func: Some(idx),
                                    params: param_list(
                                        src,
                                        marks.masked,
                                        fd.child_by_field_name("parameters").unwrap(),
                                    ),
                                    in_error: false,
                                    opaque: false,
                                    positional_attr: positional_attribute(&src[x.byte_range()]),
                                });
                                continue;
                            }
                        }
                        if let Some(id) = declared_name(d) {
                            let nm = (id.start_byte() as u32, id.end_byte() as u32);
                            // `PyCtx c` or `PyCtx c = ...`; not `PyCtx *p`.
                            let plain = matches!(d.kind(), "identifier" | "init_declarator")
                                && d.child_by_field_name("declarator")
                                    .is_none_or(|x| x.kind() == "identifier");
                            if is_ctx && plain {
                                pyctx_vars.push(nm);
                            }
                            declared.push(nm);
                        }
                    }
                }
                _ => {}
            }
            !matches!(x.kind(), "comment" | "string_literal" | "char_literal")
        });
    }
    if let Some(d) = n.child_by_field_name("declarator") {
        walk(d, |fr, _| {
            if matches!(fr.node.kind(), "identifier" | "type_identifier") {
                ident(fr.node);
            }
            true
        });
    }
    names.idents = Idents::new(src, idents);
    names
}

/// An existing context: a first parameter of type PyCtx, or a first
/// statement `PyCtx NAME = PyCtx_...(...);`.
fn existing_context(
    src: &[u8],
    params: Option<&ParamList>,
    body: Option<Node>,
) -> Option<(String, CtxOrigin)> {
    let param = params
        .and_then(|p| p.first_pyctx.clone())
        .filter(|s| !s.is_empty())
        .map(|s| (s, CtxOrigin::Param));
    if param.is_some() {
        return param;
    }
    let first = named_children(body?).into_iter().next()?;
    if first.kind() != "declaration"
        || first.child_by_field_name("type").map(|t| text(src, t)) != Some("PyCtx")
    {
        return None;
    }
    let init = first
        .child_by_field_name("declarator")
        .filter(|i| i.kind() == "init_declarator")?;
    let is_get = init
        .child_by_field_name("value")
        .filter(|v| v.kind() == "call_expression")
        .and_then(|v| v.child_by_field_name("function"))
        .map(|f| returns_context(text(src, f)))
        .unwrap_or(false);
    let id = init
        .child_by_field_name("declarator")
        .filter(|d| d.kind() == "identifier")?;
    is_get.then(|| (text(src, id).to_string(), CtxOrigin::Prologue))
}

/// Phase 2: uses of the names in `interesting`.
pub fn collect_occurrences(
    src: &[u8],
    fs: &FileScan,
    syn: &Syntax,
    interesting: &(dyn Fn(&str) -> bool + Sync),
) -> Vec<Occ> {
    let mut out = Vec::new();
    // Offsets of identifier tokens worth a look: subtrees holding none are
    // skipped (large tables, most of most files).
    let marks: Vec<usize> = fs
        .toks
        .iter()
        .filter(|t| {
            t.kind == lex::Tok::Ident
                && interesting(std::str::from_utf8(&src[t.start()..t.end()]).unwrap_or(""))
        })
        .map(|t| t.start())
        .collect();
    let holds_mark = |r: Range<usize>| {
        let k = marks.partition_point(|&m| m < r.start);
        k < marks.len() && marks[k] < r.end
    };
    for (r, kept) in &syn.pieces {
        // A piece not kept is parsed again, and its trees dropped after.
        let fresh;
        let p = match kept {
            Some(p) => p,
            None => {
                fresh = syn.parse(src, &fs.lines, &fs.dir.conditionals, r.clone());
                &fresh
            }
        };
        piece_occurrences(src, fs, p, &holds_mark, interesting, &mut out);
    }
    hidden_sites(src, fs, interesting, &mut out);
    out.sort_by_key(|o| o.at);
    // One spelling is one use, whichever tree shows it.
    out.dedup_by_key(|o| o.at);
    out.shrink_to_fit();
    out
}

fn piece_occurrences(
    src: &[u8],
    fs: &FileScan,
    p: &Piece,
    holds_mark: &dyn Fn(Range<usize>) -> bool,
    interesting: &(dyn Fn(&str) -> bool + Sync),
    out: &mut Vec<Occ>,
) {
    let skip = p.view_ranges();
    occurrences_in(
        src,
        fs,
        p.tree.root_node(),
        &skip,
        &[],
        holds_mark,
        interesting,
        out,
    );
    for v in &p.views {
        let mut seen: HashMap<usize, usize> = HashMap::new();
        let from = out.len();
        for t in &v.trees {
            let mut found = Vec::new();
            occurrences_in(
                src,
                fs,
                t.root_node(),
                &[],
                &v.varied,
                holds_mark,
                interesting,
                &mut found,
            );
            for o in found {
                match seen.get(&o.at) {
                    Some(&k) => {
                        // Seen in another configuration: it must be the
                        // same kind of use, or it is unsure.
                        let same =
                            std::mem::discriminant(&out[k].kind) == std::mem::discriminant(&o.kind);
                        if !same {
                            out[k].in_error = true;
                        }
                    }
                    None => {
                        seen.insert(o.at, out.len());
                        out.push(o);
                    }
                }
            }
        }
        out[from..].sort_by_key(|o| o.at);
    }
}

/// Sites of macros that stand for syntax (`{`, `}`, a statement without
/// `;`; blanked for the parser, see [`crate::macros::Role`]): each is an
/// expansion of its macro, and the names in its arguments are uses the
/// tree does not show: calls there are marked `in_error` (left as
/// written), other uses are uses as values.
fn hidden_sites(
    src: &[u8],
    fs: &FileScan,
    interesting: &(dyn Fn(&str) -> bool + Sync),
    out: &mut Vec<Occ>,
) {
    use lex::Tok;
    let func_of = |at: usize| fs.funcs.iter().position(|f| f.range.contains(&at));
    let in_cond = |func: Option<usize>, at: usize| {
        func.is_some_and(|f| {
            fs.dir.conditionals.iter().any(|c| {
                let s = c.span();
                s.contains(&at) && fs.funcs[f].range.contains(&s.start)
            })
        })
    };
    let call = |open: usize| {
        OccKind::Call(CallInfo {
            open,
            empty: false,
            newline_after_open: false,
            first: FirstArg::Other,
            lvalue: false,
            qualified: false,
            object_like: false,
            split_callee: false,
        })
    };
    for (name, at) in &fs.hidden_macros {
        if !interesting(name) {
            continue;
        }
        let k = fs.toks.partition_point(|t| t.start() < *at);
        let open = fs
            .toks
            .get(k + 1)
            .filter(|t| t.kind == Tok::Punct(b'('))
            .map(|t| t.start());
        let func = func_of(*at);
        out.push(Occ {
            name: name.clone(),
            at: *at,
            func,
            kind: open.map_or(OccKind::Other, call),
            in_error: false,
            in_cond: in_cond(func, *at),
        });
    }
    for r in &fs.hidden_args {
        for j in r.clone() {
            let t = fs.toks[j];
            let w = std::str::from_utf8(&src[t.start()..t.end()]).unwrap_or("");
            if t.kind != Tok::Ident || !interesting(w) {
                continue;
            }
            // A call the engine cannot edit (in_error); any other use of a
            // name is a use as a value (address taken).
            let next = fs.toks.get(j + 1).filter(|n| n.kind == Tok::Punct(b'('));
            let func = func_of(t.start());
            out.push(Occ {
                name: w.to_string(),
                at: t.start(),
                func,
                kind: next.map_or(OccKind::Other, |n| call(n.start())),
                in_error: next.is_some(),
                in_cond: in_cond(func, t.start()),
            });
        }
    }
}

/// Phase 2 over one tree: `skip` regions are left out, code in `varied`
/// groups is conditional.
#[allow(clippy::too_many_arguments)]
fn occurrences_in(
    src: &[u8],
    fs: &FileScan,
    root: Node,
    skip: &[Range<usize>],
    varied: &[Range<usize>],
    holds_mark: &dyn Fn(Range<usize>) -> bool,
    interesting: &(dyn Fn(&str) -> bool + Sync),
    out: &mut Vec<Occ>,
) {
    let mut cur_func: Option<(usize, usize)> = None; // (func index, end byte)
    walk(root, |fr, anc| {
        let n = fr.node;
        if inside(skip, &n.byte_range()) {
            return false;
        }
        if let Some((_, end)) = cur_func {
            if n.start_byte() >= end {
                cur_func = None;
            }
        }
        if !holds_mark(n.byte_range()) {
            return false;
        }
        match n.kind() {
            "function_definition" => {
                if let Some(&i) = fs.func_at.get(&n.start_byte()) {
                    cur_func = Some((i, n.end_byte()));
                }
                return true;
            }
            "comment"
            | "string_literal"
            | "char_literal"
            | "preproc_def"
            | "preproc_function_def"
            | "preproc_include"
            | "preproc_call"
            | "preproc_params"
            | "preproc_defined"
            | "system_lib_string" => return false,
            _ => {}
        }
        // Conditions of #if / #elif and names of #ifdef are not code.
        if matches!(fr.field, Some("condition") | Some("name"))
            && anc
                .last()
                .map(|a| a.node.kind().starts_with("preproc_"))
                .unwrap_or(false)
        {
            return false;
        }
        if !matches!(n.kind(), "identifier" | "type_identifier") {
            return true;
        }
        let name = text(src, n);
        if !interesting(name) {
            return false;
        }
        let in_error = n.is_missing() || anc.iter().any(|a| a.node.is_error());
        let func = cur_func.map(|(i, _)| i);
        let in_cond = func.is_some()
            && (varied.iter().any(|g| g.contains(&n.start_byte()))
                || anc
                    .iter()
                    .rev()
                    .take_while(|a| a.node.kind() != "function_definition")
                    .any(|a| {
                        matches!(
                            a.node.kind(),
                            "preproc_if"
                                | "preproc_ifdef"
                                | "preproc_elif"
                                | "preproc_else"
                                | "preproc_elifdef"
                        )
                    }));
        let parent = anc.last().map(|a| a.node);
        let qualified = crate::cpp::qualified_call_index(anc).filter(|_| func.is_some());
        let kind = match (parent.map(|p| p.kind()), fr.field) {
            (Some("call_expression"), Some("function")) if func.is_some() => {
                OccKind::Call(call_info(src, parent.unwrap(), anc))
            }
            _ if qualified.is_some() => {
                let k = qualified.unwrap();
                OccKind::Call(CallInfo {
                    qualified: true,
                    ..call_info(src, anc[k].node, &anc[..=k])
                })
            }
            (Some("function_declarator"), Some("declarator")) => {
                // A definition or prototype (handled in phase 1), or a
                // parameter of function type (a shadowing declaration).
                let owner = anc
                    .iter()
                    .rev()
                    .map(|a| a.node.kind())
                    .find(|k| {
                        !matches!(
                            *k,
                            "function_declarator"
                                | "pointer_declarator"
                                | "parenthesized_declarator"
                                | "attributed_declarator"
                                | "init_declarator"
                        )
                    })
                    .unwrap_or("");
                match owner {
                    "function_definition" | "declaration" => return false,
                    _ => OccKind::VarDecl,
                }
            }
            (
                Some(
                    "init_declarator"
                    | "pointer_declarator"
                    | "array_declarator"
                    | "attributed_declarator"
                    | "declaration"
                    | "parameter_declaration",
                ),
                Some("declarator"),
            ) => OccKind::VarDecl,
            (Some("parenthesized_declarator"), _) => OccKind::VarDecl,
            (Some("preproc_ifdef" | "preproc_elifdef"), _) => return false,
            _ => OccKind::Other,
        };
        out.push(Occ {
            name: name.to_string(),
            at: n.start_byte(),
            func,
            kind,
            in_error,
            in_cond,
        });
        false
    });
}

fn call_info(src: &[u8], call: Node, anc: &[Frame]) -> CallInfo {
    let args = call.child_by_field_name("arguments");
    let open = args.map(|a| a.start_byte()).unwrap_or(call.end_byte());
    let kids = args.map(named_children).unwrap_or_default();
    let first = match kids.first() {
        None => FirstArg::None,
        Some(a) if a.kind() == "identifier" => FirstArg::Ident(text(src, *a).to_string()),
        Some(a) if a.kind() == "call_expression" => {
            let f = a.child_by_field_name("function");
            let fname = f
                .filter(|f| f.kind() == "identifier")
                .map(|f| text(src, f))
                .unwrap_or("");
            let no_args = a
                .child_by_field_name("arguments")
                .map(|x| named_children(x).is_empty())
                .unwrap_or(false);
            if fname == "PyCtx_Get" && no_args {
                FirstArg::PyCtxGet(a.byte_range())
            } else if returns_context(fname) {
                FirstArg::PyCtxCall
            } else {
                FirstArg::Other
            }
        }
        Some(_) => FirstArg::Other,
    };
    // Lvalue: the (possibly parenthesised) call is assigned to, updated or
    // has its address taken. `anc` ends with the call itself.
    let mut lvalue = false;
    let mut child = call;
    for a in anc.iter().rev().skip(1) {
        let p = a.node;
        match p.kind() {
            "parenthesized_expression" => {
                child = p;
                continue;
            }
            "assignment_expression" => {
                lvalue = p.child_by_field_name("left").map(|l| l.id()) == Some(child.id());
            }
            "update_expression" => lvalue = true,
            "pointer_expression" => {
                lvalue = p
                    .child_by_field_name("operator")
                    .map(|o| text(src, o) == "&")
                    .unwrap_or(false);
            }
            _ => {}
        }
        break;
    }
    let name_end = call
        .child_by_field_name("function")
        .map_or(open, |f| f.end_byte());
    CallInfo {
        open,
        empty: kids.is_empty(),
        newline_after_open: newline_after(src, open + 1),
        first,
        lvalue,
        qualified: false,
        object_like: false,
        split_callee: has_directive_line(&src[name_end.min(open)..open]),
    }
}

/// Does `gap` (the text between a called name and its `(`) hold a
/// preprocessor directive: a line whose first non-blank byte is `#`? A `#`
/// at a line start inside a comment counts too, which only makes the
/// engine more careful.
fn has_directive_line(gap: &[u8]) -> bool {
    gap.split(|&b| b == b'\n')
        .skip(1)
        .any(|line| line.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'#'))
}

/// The runtime's functions that return a `PyCtx` (`PyCtx_Get`,
/// `PyCtx_AsDealloc`, ...), read from the runtime's own header so the list
/// is never kept by hand: a call of one passed first is a context; a call
/// of another `PyCtx_*` function (`PyCtx_Capability(ctx)`, an `int`) is not.
pub fn returns_context(name: &str) -> bool {
    static NAMES: std::sync::OnceLock<HashSet<String>> = std::sync::OnceLock::new();
    NAMES
        .get_or_init(|| {
            include_str!("../../runtime/include/pyctx.h")
                .lines()
                .filter_map(|l| l.trim().strip_prefix("static inline PyCtx "))
                .filter_map(|rest| rest.split('(').next())
                .map(|n| n.trim().to_string())
                .filter(|n| n.starts_with("PyCtx_"))
                .collect()
        })
        .contains(name)
}
