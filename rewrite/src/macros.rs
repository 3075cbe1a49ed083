//! The macro model: what each macro of the project means to the parser.
//!
//! tree-sitter-c parses C as written, before preprocessing, so a macro that
//! stands for syntax (`static MY_INLINE int f(...)`, `Py_TRASHCAN_BEGIN(op,
//! dealloc)` without a `;`, `if (a and b)`) breaks the tree around it. This
//! module learns, from the macros' own definitions, a **role** for every
//! macro that stands for syntax; [`crate::mask`] then writes each expansion
//! site as a same-length stand-in (`{`, `static`, blanks, `&&`, ...), so every
//! byte offset in the tree is still an offset in the original file and edits
//! land on the original bytes. Nothing is learned from a macro's name.
//!
//! Definitions come from three places:
//!
//! - the project's live `#define`s (every file given, every configuration
//!   branch: all definitions of a name must agree, see [`join`]);
//! - CPython's headers: `data/cpython-syntax.h`, generated from the `-dM`
//!   output of every supported interpreter by `tests/cpython_syntax.rs`
//!   (each macro written as a canonical definition of its role);
//! - standard headers whose macros are words (`<iso646.h>`:
//!   `and` → `&&`, ...; `<stdnoreturn.h>`), in force only in files that
//!   include them, directly or through project headers.

use crate::lex::Tok;
use crate::scan::Lexed;
use crate::SourceFile;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

/// What an expansion site of a macro is written as for the parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Expands to nothing, or to attributes and specifiers other than
    /// `static` (`inline __attribute__((always_inline))`, `__declspec(..)`,
    /// `__fastcall`, `_Pragma(..)`): blank (with its arguments).
    Blank,
    /// Specifiers that include `static`: written `static` when the site is
    /// long enough, else blank with the site recorded as static.
    Static,
    /// Opens one more brace than it closes (`do {`, `{ PyThreadState *_save;
    /// ...`): written `{`. Its arguments are hidden.
    Open,
    /// Closes one more brace than it opens: written `}`.
    Close,
    /// A whole statement or declaration (ends with `;` or `}`) or an
    /// initialiser item (ends with `,`): blank where it is used without a
    /// `;` (or `,`) after it.
    Stmt,
    /// A statement head (`for (...)`, `while (...)`): written `if`, the
    /// arguments kept as its (comma expression) condition.
    Head,
    /// Function-like: specifiers around its parameters (`static inline
    /// type`): the name written `static` (or blank), the parentheses blank,
    /// the arguments kept.
    Wrapper { is_static: bool },
    /// An operator spelled as a word (`and` → `&&`), or a word standing for
    /// the keyword `void` (`#define VOID void`): written as what it stands
    /// for.
    Op(String),
}

/// Roles by name, object-like and function-like apart.
#[derive(Debug, Clone, Default)]
pub struct Roles {
    pub object: HashMap<String, Role>,
    pub function: HashMap<String, Role>,
    /// Function-like macros taking a type (`PyMem_New(type, n)`): the
    /// positions of those parameters. A type such as `PyObject *` is no
    /// expression; the mask glues it into one identifier-like token.
    pub type_args: HashMap<String, Vec<usize>>,
    /// Function-like macros with a parameter used as a statement
    /// (`if (x == NULL) { on_error; }`): its positions. An argument there
    /// may be a statement (`goto error`), which no expression is.
    pub stmt_args: HashMap<String, Vec<usize>>,
}

/// The roles in force in one file.
#[derive(Debug, Clone, Copy)]
pub struct FileRoles<'a> {
    global: &'a Roles,
    scoped: &'a [&'a Roles],
}

impl<'a> FileRoles<'a> {
    pub fn object(&self, name: &str) -> Option<&'a Role> {
        self.global
            .object
            .get(name)
            .or_else(|| self.scoped.iter().find_map(|r| r.object.get(name)))
    }

    pub fn function(&self, name: &str) -> Option<&'a Role> {
        self.global
            .function
            .get(name)
            .or_else(|| self.scoped.iter().find_map(|r| r.function.get(name)))
    }

    pub fn type_args(&self, name: &str) -> Option<&'a [usize]> {
        self.global.type_args.get(name).map(|v| v.as_slice())
    }

    pub fn stmt_args(&self, name: &str) -> Option<&'a [usize]> {
        self.global.stmt_args.get(name).map(|v| v.as_slice())
    }
}

/// What the engine learns before parsing.
#[derive(Debug, Default)]
pub struct MacroModel {
    /// Project and CPython macros: in force everywhere.
    pub global: Roles,
    /// A standard header's macros (`iso646.h`), by header.
    scoped: Vec<(&'static str, Roles)>,
    /// Per file: indexes into `scoped` of the headers it sees.
    seen: Vec<Vec<usize>>,
}

impl MacroModel {
    pub fn for_file(&self, i: usize) -> FileRolesOwned<'_> {
        FileRolesOwned {
            global: &self.global,
            scoped: self
                .seen
                .get(i)
                .map(|v| v.iter().map(|&k| &self.scoped[k].1).collect())
                .unwrap_or_default(),
        }
    }
}

/// [`FileRoles`] with its list of scoped role sets.
pub struct FileRolesOwned<'a> {
    global: &'a Roles,
    scoped: Vec<&'a Roles>,
}

impl FileRolesOwned<'_> {
    pub fn roles(&self) -> FileRoles<'_> {
        FileRoles {
            global: self.global,
            scoped: &self.scoped,
        }
    }
}

/// CPython's syntax macros, one canonical definition per role (generated).
const CPYTHON_SYNTAX: &str = include_str!("../data/cpython-syntax.h");

/// System headers whose macros stand for syntax, with the definitions
/// their standards give (C99 7.9 `<iso646.h>`, C11 7.23 `<stdnoreturn.h>`,
/// the Windows SDK's calling conventions).
const STANDARD_HEADERS: &[(&str, &str)] = &[
    (
        "iso646.h",
        "#define and &&\n#define and_eq &=\n#define bitand &\n#define bitor |\n\
         #define compl ~\n#define not !\n#define not_eq !=\n#define or ||\n\
         #define or_eq |=\n#define xor ^\n#define xor_eq ^=\n",
    ),
    ("stdnoreturn.h", "#define noreturn _Noreturn\n"),
    // The Windows SDK's calling conventions (minwindef.h, winnt.h), which
    // extensions spell in `DllMain` and callbacks.
    (
        "windows.h",
        "#define WINAPI __stdcall\n#define WINAPIV __cdecl\n#define APIENTRY __stdcall\n\
         #define CALLBACK __stdcall\n#define NTAPI __stdcall\n#define STDMETHODCALLTYPE __stdcall\n",
    ),
];

/// Storage classes, qualifiers, function specifiers and calling
/// conventions (C, GCC, Clang, MSVC keywords): a macro made of these (and
/// attributes) can be blanked without changing the declaration's shape.
const SPECIFIERS: &[&str] = &[
    "static",
    "extern",
    "inline",
    "__inline",
    "__inline__",
    "__forceinline",
    "const",
    "volatile",
    "register",
    "restrict",
    "__restrict",
    "__restrict__",
    "_Noreturn",
    "_Thread_local",
    "thread_local",
    "__thread",
    "__extension__",
    "__cdecl",
    "_cdecl",
    "__stdcall",
    "_stdcall",
    "__fastcall",
    "_fastcall",
    "__vectorcall",
    "__thiscall",
    "__clrcall",
];

/// Keywords followed by a parenthesised group that is an attribute, a
/// pragma or an alignment: the whole group is a specifier.
const ATTRIBUTE_WORDS: &[&str] = &[
    "__attribute__",
    "__attribute",
    "__declspec",
    "_Pragma",
    "__pragma",
    "_Alignas",
    "alignas",
    "__asm__",
    "__asm",
];

/// Keywords that start a statement head (`for (...)`).
const HEAD_WORDS: &[&str] = &["for", "while", "if", "switch"];

/// One `#define`, its body as (kind, text) tokens without comments.
#[derive(Debug, Clone)]
struct Def {
    params: Option<Vec<String>>,
    body: Vec<(Tok, String)>,
}

type Defs = HashMap<String, Vec<Def>>;

fn defs_of(src: &[u8], lexed: &Lexed, out: &mut Defs) {
    for m in &lexed.dir.macros {
        let body = lexed.toks[m.body.clone()]
            .iter()
            .filter(|t| t.kind != Tok::Comment)
            .map(|t| {
                (
                    t.kind,
                    String::from_utf8_lossy(&src[t.start()..t.end()]).into_owned(),
                )
            })
            .collect();
        out.entry(m.name.clone()).or_default().push(Def {
            params: m.params.clone(),
            body,
        });
    }
}

fn defs_of_text(text: &str, out: &mut Defs) {
    let lexed = crate::scan::lex_file(text.as_bytes());
    defs_of(text.as_bytes(), &lexed, out);
}

/// Learn the roles in force in each file of the project.
pub fn learn(files: &[SourceFile], lexed: &[Lexed]) -> MacroModel {
    let mut project = Defs::new();
    for (f, l) in files.iter().zip(lexed) {
        defs_of(f.text.as_bytes(), l, &mut project);
    }
    let mut all = project.clone();
    defs_of_text(CPYTHON_SYNTAX, &mut all);
    let mut scoped_defs: Vec<(&'static str, Defs)> = Vec::new();
    for (h, text) in STANDARD_HEADERS {
        let mut d = Defs::new();
        defs_of_text(text, &mut d);
        // A project definition of the same word wins everywhere.
        d.retain(|name, _| !project.contains_key(name));
        for (k, v) in &d {
            all.entry(k.clone()).or_default().extend(v.iter().cloned());
        }
        scoped_defs.push((h, d));
    }
    let roles = classify_all(&all);
    let mut global = roles.clone();
    let mut scoped: Vec<(&'static str, Roles)> = Vec::new();
    for (h, d) in &scoped_defs {
        let mut r = Roles::default();
        for name in d.keys() {
            if let Some(role) = global.object.remove(name) {
                r.object.insert(name.clone(), role);
            }
            if let Some(role) = global.function.remove(name) {
                r.function.insert(name.clone(), role);
            }
        }
        scoped.push((h, r));
    }
    let seen = headers_seen(files, lexed, &scoped);
    MacroModel {
        global,
        scoped,
        seen,
    }
}

/// For each file, the scoped headers it sees: those it includes, directly
/// or through the project's own headers (matched by path suffix), and, for
/// a header, those its includers see (a header relies on what was included
/// before it).
fn headers_seen(
    files: &[SourceFile],
    lexed: &[Lexed],
    scoped: &[(&'static str, Roles)],
) -> Vec<Vec<usize>> {
    let paths: Vec<PathBuf> = files.iter().map(|f| f.path.clone()).collect();
    let mut reach: Vec<HashSet<usize>> = Vec::with_capacity(files.len());
    let mut direct: Vec<HashSet<usize>> = Vec::with_capacity(files.len());
    for start in 0..files.len() {
        let mut seen_files: HashSet<usize> = HashSet::from([start]);
        let mut stack = vec![start];
        let mut hs: HashSet<usize> = HashSet::new();
        while let Some(f) = stack.pop() {
            for inc in &lexed[f].dir.includes {
                if let Some(k) = scoped.iter().position(|(h, _)| *h == inc.path) {
                    hs.insert(k);
                    continue;
                }
                for (j, p) in paths.iter().enumerate() {
                    if p.ends_with(&inc.path) && seen_files.insert(j) {
                        stack.push(j);
                    }
                }
            }
        }
        reach.push(seen_files);
        direct.push(hs);
    }
    (0..files.len())
        .map(|i| {
            let mut hs: Vec<usize> = (0..files.len())
                .filter(|&j| reach[j].contains(&i))
                .flat_map(|j| direct[j].iter().copied())
                .collect();
            hs.sort_unstable();
            hs.dedup();
            hs
        })
        .collect()
}

/// A role before definitions are joined: an empty body agrees with more.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Found {
    Empty,
    Role(Role),
}

/// All definitions of a name must agree on a role (each configuration
/// branch may define it). An empty definition (`#define TRACE(x)`) agrees
/// with blanks, statements and braces; one that is `static` in some
/// configurations only is not surely static.
fn join(a: Option<Found>, b: Option<Found>) -> Option<Found> {
    let (a, b) = (a?, b?);
    let role = match (a, b) {
        (x, y) if x == y => return Some(x),
        (Found::Empty, Found::Role(r)) | (Found::Role(r), Found::Empty) => match r {
            Role::Blank | Role::Open | Role::Close | Role::Stmt | Role::Head => r,
            Role::Static => Role::Blank,
            _ => return None,
        },
        (Found::Role(Role::Blank), Found::Role(Role::Static))
        | (Found::Role(Role::Static), Found::Role(Role::Blank)) => Role::Blank,
        _ => return None,
    };
    Some(Found::Role(role))
}

struct Classifier<'a> {
    defs: &'a Defs,
    done: HashMap<(String, bool), Option<Role>>,
    busy: HashSet<(String, bool)>,
}

fn classify_all(defs: &Defs) -> Roles {
    let mut c = Classifier {
        defs,
        done: HashMap::new(),
        busy: HashSet::new(),
    };
    let mut names: Vec<&String> = defs.keys().collect();
    names.sort();
    let mut roles = Roles::default();
    for name in names {
        for function_like in [false, true] {
            if let Some(r) = c.role(name, function_like) {
                let map = if function_like {
                    &mut roles.function
                } else {
                    &mut roles.object
                };
                map.insert(name.clone(), r);
            }
        }
        let mut ks: Vec<usize> = defs[name].iter().flat_map(type_params).collect();
        ks.sort_unstable();
        ks.dedup();
        if !ks.is_empty() {
            roles.type_args.insert(name.clone(), ks);
        }
        let mut ks: Vec<usize> = defs[name].iter().flat_map(stmt_params).collect();
        ks.sort_unstable();
        ks.dedup();
        if !ks.is_empty() {
            roles.stmt_args.insert(name.clone(), ks);
        }
    }
    // A parameter passed on as another macro's type argument is one too
    // (`PyObject_NEW(type, o)` → `PyObject_New(type, o)`).
    loop {
        let mut grew = false;
        for (name, ds) in defs {
            for d in ds {
                for k in passed_types(d, &roles.type_args) {
                    let ks = roles.type_args.entry(name.clone()).or_default();
                    if !ks.contains(&k) {
                        ks.push(k);
                        ks.sort_unstable();
                        grew = true;
                    }
                }
            }
        }
        if !grew {
            break;
        }
    }
    roles
}

/// Parameters of `d` passed alone as a type argument of a macro in `known`.
fn passed_types(d: &Def, known: &HashMap<String, Vec<usize>>) -> Vec<usize> {
    let Some(params) = &d.params else {
        return Vec::new();
    };
    let b = &d.body;
    let mut out = Vec::new();
    for i in 0..b.len() {
        let Some(ks) = known.get(&b[i].1).filter(|_| b[i].0 == Tok::Ident) else {
            continue;
        };
        if !matches!(b.get(i + 1), Some((Tok::Punct(b'('), _))) {
            continue;
        }
        let Some(close) = close_of(b, i + 1) else {
            continue;
        };
        // The arguments at depth 1, split on commas.
        let mut args: Vec<Vec<&(Tok, String)>> = vec![Vec::new()];
        let mut depth = 0usize;
        for t in &b[i + 2..close] {
            match t.0 {
                Tok::Punct(b'(') => depth += 1,
                Tok::Punct(b')') => depth = depth.saturating_sub(1),
                Tok::Punct(b',') if depth == 0 => {
                    args.push(Vec::new());
                    continue;
                }
                _ => {}
            }
            args.last_mut().unwrap().push(t);
        }
        for &k in ks {
            if let Some([t]) = args.get(k).map(Vec::as_slice) {
                let p = params.iter().position(|q| *q == t.1);
                if let (Tok::Ident, Some(p)) = (t.0, p) {
                    out.push(p);
                }
            }
        }
    }
    out
}

/// Parameters a function-like definition uses as whole statements: `P;`
/// after `{`, `}`, `;`, `)`, `else` or `do`.
fn stmt_params(d: &Def) -> Vec<usize> {
    let Some(params) = &d.params else {
        return Vec::new();
    };
    let b = &d.body;
    let mut out = Vec::new();
    for k in 0..b.len() {
        let (Tok::Ident, w) = (&b[k].0, b[k].1.as_str()) else {
            continue;
        };
        let Some(p) = params.iter().position(|q| q == w) else {
            continue;
        };
        let ends = matches!(b.get(k + 1), Some((Tok::Punct(b';'), _)));
        let starts = k == 0
            || matches!(&b[k - 1], (Tok::Punct(b'{' | b'}' | b';' | b')'), _))
            || matches!(&b[k - 1], (Tok::Ident, w) if w == "else" || w == "do");
        if starts && ends {
            out.push(p);
        }
    }
    out
}

/// Parameters a function-like definition uses as types: in a cast
/// (`(P)x`, `(P)(x)`, `(P *)`), or in `sizeof(P)` / `offsetof(P, m)`.
/// Taking a function parameter `(f)(x)` for a cast is harmless: gluing
/// changes only arguments of several words, which no expression is.
fn type_params(d: &Def) -> Vec<usize> {
    let Some(params) = &d.params else {
        return Vec::new();
    };
    let b = &d.body;
    let punct = |k: usize, c: u8| b.get(k).is_some_and(|(t, _)| *t == Tok::Punct(c));
    let word = |k: usize| {
        b.get(k)
            .filter(|(t, _)| *t == Tok::Ident)
            .map(|(_, w)| w.as_str())
    };
    let mut out = Vec::new();
    for k in 1..b.len() {
        let Some(p) = word(k).and_then(|w| params.iter().position(|q| q == w)) else {
            continue;
        };
        if !punct(k - 1, b'(') {
            continue;
        }
        let before = k.checked_sub(2).and_then(word);
        let mut j = k + 1;
        while punct(j, b'*') {
            j += 1;
        }
        let cast = punct(j, b')')
            && (j > k + 1
                || matches!(b.get(j + 1), Some((Tok::Ident | Tok::Number, _)))
                || punct(j + 1, b'('));
        let sized = matches!(
            before,
            Some("sizeof" | "_Alignof" | "__alignof__" | "alignof")
        ) && punct(k + 1, b')');
        let offset = before == Some("offsetof") && punct(k + 1, b',');
        let called = before.is_some() && !sized && !offset;
        if (cast && !called) || sized || offset {
            out.push(p);
        }
    }
    out
}

/// Index of the `)` matching the `(` at `open`.
fn close_of(body: &[(Tok, String)], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (j, (k, _)) in body.iter().enumerate().skip(open) {
        match k {
            Tok::Punct(b'(') => depth += 1,
            Tok::Punct(b')') => {
                depth -= 1;
                if depth == 0 {
                    return Some(j);
                }
            }
            _ => {}
        }
    }
    None
}

/// What a run of tokens is, read as declaration specifiers.
#[derive(Debug, Default)]
struct Specs {
    count: usize,
    is_static: bool,
    /// Parameter indexes, in order of appearance (outside attributes).
    params: Vec<usize>,
}

impl Classifier<'_> {
    fn role(&mut self, name: &str, function_like: bool) -> Option<Role> {
        let key = (name.to_string(), function_like);
        if let Some(r) = self.done.get(&key) {
            return r.clone();
        }
        if !self.busy.insert(key.clone()) {
            return None; // recursive definition
        }
        let defs: Vec<Def> = self
            .defs
            .get(name)
            .map(|v| {
                v.iter()
                    .filter(|d| d.params.is_some() == function_like)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        // A name defined both ways has no role either way.
        let other_kind = self
            .defs
            .get(name)
            .map(|v| v.iter().any(|d| d.params.is_some() != function_like))
            .unwrap_or(false);
        let mut acc: Option<Found> = None;
        if !defs.is_empty() && !other_kind {
            acc = self.found(name, &defs[0]);
            for d in &defs[1..] {
                let f = self.found(name, d);
                acc = join(acc, f);
            }
        }
        let r = match acc {
            Some(Found::Empty) => Some(Role::Blank),
            Some(Found::Role(r)) => Some(r),
            None => None,
        };
        self.busy.remove(&key);
        self.done.insert(key, r.clone());
        r
    }

    fn found(&mut self, name: &str, d: &Def) -> Option<Found> {
        if d.body.is_empty() {
            return Some(Found::Empty);
        }
        let params = d.params.as_deref().unwrap_or(&[]);
        if let Some(s) = self.specs(&d.body, params) {
            if s.params.is_empty() {
                return Some(Found::Role(if s.is_static {
                    Role::Static
                } else {
                    Role::Blank
                }));
            }
            let ordered = s.params.windows(2).all(|w| w[0] < w[1]);
            return (d.params.is_some() && s.count > 0 && ordered).then_some(Found::Role(
                Role::Wrapper {
                    is_static: s.is_static,
                },
            ));
        }
        self.statement(name, d).map(Found::Role)
    }

    /// The body read as specifiers, attributes and parameters only.
    fn specs(&mut self, body: &[(Tok, String)], params: &[String]) -> Option<Specs> {
        let mut s = Specs::default();
        let mut i = 0;
        while i < body.len() {
            let (k, w) = (&body[i].0, body[i].1.as_str());
            let next_open = matches!(body.get(i + 1), Some((Tok::Punct(b'('), _)));
            if *k != Tok::Ident {
                if *k == Tok::Punct(b'[') && matches!(body.get(i + 1), Some((Tok::Punct(b'['), _)))
                {
                    // A C23 attribute `[[...]]`.
                    let end = (i + 2..body.len().saturating_sub(1)).find(|&j| {
                        body[j].0 == Tok::Punct(b']') && body[j + 1].0 == Tok::Punct(b']')
                    })?;
                    s.count += 1;
                    i = end + 2;
                    continue;
                }
                return None;
            }
            if SPECIFIERS.contains(&w) {
                s.count += 1;
                s.is_static |= w == "static";
                i += 1;
            } else if ATTRIBUTE_WORDS.contains(&w) && next_open {
                s.count += 1;
                i = close_of(body, i + 1)? + 1;
            } else if let Some(p) = params.iter().position(|p| p == w) {
                s.params.push(p);
                i += 1;
            } else if next_open && self.defs.contains_key(w) {
                let close = close_of(body, i + 1)?;
                match self.role(w, true)? {
                    Role::Blank => {}
                    Role::Static => s.is_static = true,
                    Role::Wrapper { is_static } => {
                        let inner = self.specs(&body[i + 2..close], params)?;
                        s.is_static |= is_static || inner.is_static;
                        s.count += inner.count;
                        s.params.extend(inner.params);
                    }
                    _ => return None,
                }
                s.count += 1;
                i = close + 1;
            } else if self.defs.contains_key(w) {
                match self.role(w, false)? {
                    Role::Blank => {}
                    Role::Static => s.is_static = true,
                    _ => return None,
                }
                s.count += 1;
                i += 1;
            } else {
                return None;
            }
        }
        Some(s)
    }

    /// The role of another macro invoked at `body[i]`, with the index after
    /// the invocation.
    fn invoked(&mut self, body: &[(Tok, String)], i: usize) -> Option<(Role, usize)> {
        let (k, w) = (&body[i].0, body[i].1.as_str());
        if *k != Tok::Ident || !self.defs.contains_key(w) {
            return None;
        }
        if matches!(body.get(i + 1), Some((Tok::Punct(b'('), _))) {
            if let Some(r) = self.role(w, true) {
                return Some((r, close_of(body, i + 1)? + 1));
            }
        }
        self.role(w, false).map(|r| (r, i + 1))
    }

    /// The body read as statements: braces, statement ends, heads, or an
    /// operator.
    fn statement(&mut self, name: &str, d: &Def) -> Option<Role> {
        let body = &d.body;
        // `#define VOID void`: written as its keyword, so `f(VOID)` parses as
        // the empty parameter list it is.
        if d.params.is_none()
            && body.len() == 1
            && body[0] == (Tok::Ident, "void".to_string())
            && name.len() >= 4
        {
            return Some(Role::Op("void".into()));
        }
        // One invocation of a macro with a role of this kind: that role.
        if let Some((r, end)) = self.invoked(body, 0) {
            if end == body.len() && matches!(r, Role::Open | Role::Close | Role::Stmt | Role::Head)
            {
                return Some(r);
            }
        }
        if let (Tok::Ident, w) = (&body[0].0, body[0].1.as_str()) {
            if HEAD_WORDS.contains(&w)
                && matches!(body.get(1), Some((Tok::Punct(b'('), _)))
                && close_of(body, 1) == Some(body.len() - 1)
            {
                return Some(Role::Head);
            }
        }
        let mut net = 0i32;
        let mut depth = 0i32;
        let mut last_stmt = false;
        let mut last: Option<u8> = None;
        let mut i = 0;
        while i < body.len() {
            if let Some((r, end)) = self.invoked(body, i) {
                match r {
                    Role::Open => net += 1,
                    Role::Close => net -= 1,
                    _ => {}
                }
                last_stmt = matches!(r, Role::Stmt | Role::Close);
                last = None;
                i = end;
                continue;
            }
            last_stmt = false;
            last = None;
            match body[i].0 {
                Tok::Punct(b'(') => depth += 1,
                Tok::Punct(b')') => depth -= 1,
                Tok::Punct(b'{') => net += 1,
                Tok::Punct(b'}') => net -= 1,
                _ => {}
            }
            if let Tok::Punct(c) = body[i].0 {
                last = Some(c);
            }
            i += 1;
        }
        if depth != 0 {
            return None;
        }
        match net {
            1 => return Some(Role::Open),
            -1 => return Some(Role::Close),
            0 if last_stmt || matches!(last, Some(b';' | b'}' | b',')) => return Some(Role::Stmt),
            _ => {}
        }
        // An operator spelled as a word: punctuation only, no longer than
        // the name.
        let op: String = body.iter().map(|(_, w)| w.as_str()).collect();
        let punct_only = body.iter().all(|(k, _)| {
            matches!(k, Tok::Punct(c) if !matches!(c, b'{' | b'}' | b'(' | b')' | b';' | b',' | b'#'))
        });
        (d.params.is_none() && punct_only && op.len() <= name.len()).then_some(Role::Op(op))
    }
}

/// CPython's syntax macros as canonical definitions, one line per macro
/// and role: the text of `data/cpython-syntax.h` for the `#define` lines of
/// `-dM` outputs (`defines`, one per interpreter). Only names spelled like
/// CPython's (`Py*`, `_Py*`, `PY*`, `_PY*`) are kept; the other macros in
/// force (libc's, the compiler's) only help to classify them.
pub fn cpython_syntax_header(defines: &[String]) -> String {
    let mut lines: Vec<String> = Vec::new();
    for text in defines {
        let mut defs = Defs::new();
        defs_of_text(text, &mut defs);
        let roles = classify_all(&defs);
        for (function_like, map) in [(false, &roles.object), (true, &roles.function)] {
            for (name, role) in map {
                let cpython = ["Py", "_Py", "PY", "_PY"]
                    .iter()
                    .any(|p| name.starts_with(p));
                // Include guards (`Py_OBJECT_H`) are never used in code.
                let guard = !function_like && *role == Role::Blank && name.ends_with("_H");
                if !cpython || guard {
                    continue;
                }
                let params = defs[name]
                    .iter()
                    .find(|d| d.params.is_some() == function_like)
                    .and_then(|d| d.params.clone());
                lines.push(canonical(name, params.as_deref(), role));
            }
        }
        for (name, ks) in &roles.type_args {
            let cpython = ["Py", "_Py", "PY", "_PY"]
                .iter()
                .any(|p| name.starts_with(p));
            if !cpython || roles.function.contains_key(name) {
                continue;
            }
            let Some(params) = defs[name].iter().find_map(|d| d.params.clone()) else {
                continue;
            };
            let casts: Vec<String> = ks
                .iter()
                .map(|&k| format!("(({} *)0)", params[k]))
                .collect();
            lines.push(format!(
                "{} ({})",
                canonical(name, Some(&params), &Role::Blank),
                casts.join(", ")
            ));
        }
    }
    lines.sort();
    lines.dedup();
    let mut out = String::from(
        "/* CPython's macros that stand for syntax, each written as a canonical\n   \
         definition of its role (see rewrite/src/macros.rs). Generated from the\n   \
         headers of every supported CPython by rewrite/tests/cpython_syntax.rs:\n   \
         PYCTX_BLESS=1 cargo test -p pyctx-rewrite --test cpython_syntax */\n",
    );
    for l in lines {
        out.push_str(&l);
        out.push('\n');
    }
    out
}

/// A `#define` whose body the classifier reads as `role` again.
fn canonical(name: &str, params: Option<&[String]>, role: &Role) -> String {
    let head = match params {
        Some(ps) => format!(
            "{name}({})",
            ps.iter()
                .map(|p| if p == "__VA_ARGS__" {
                    "..."
                } else {
                    p.as_str()
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => name.to_string(),
    };
    let first_param = params
        .and_then(|ps| ps.first())
        .map(|p| p.as_str())
        .filter(|p| *p != "__VA_ARGS__")
        .unwrap_or("x");
    let body = match role {
        Role::Blank => String::new(),
        Role::Static => "static".into(),
        Role::Open => "{".into(),
        Role::Close => "}".into(),
        Role::Stmt => ";".into(),
        Role::Head => format!("while ({first_param})"),
        Role::Wrapper { is_static } => {
            let ps: Vec<&str> = params.unwrap_or(&[]).iter().map(|p| p.as_str()).collect();
            format!(
                "{} {}",
                if *is_static { "static" } else { "extern" },
                ps.join(" ")
            )
        }
        Role::Op(op) => op.clone(),
    };
    format!("#define {head} {body}").trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles(text: &str) -> Roles {
        let mut d = Defs::new();
        defs_of_text(text, &mut d);
        classify_all(&d)
    }

    #[test]
    fn specifiers_and_attributes() {
        let r = roles(
            "#ifdef _MSC_VER\n#define MY_INLINE __forceinline\n#else\n\
             #define MY_INLINE inline __attribute__((always_inline))\n#endif\n\
             #define NOTHING\n#define SI static MY_INLINE\n#define CC __fastcall\n\
             #define EXPORT __declspec(dllexport)\n#define ATTR(x) __attribute__(x)\n\
             #define LOCAL(type) static inline type\n#define API(t) EXPORT t\n\
             #define SLOCAL(t) LOCAL(t)\n#define TYPE int\n#define ID(x) x\n",
        );
        assert_eq!(r.object.get("MY_INLINE"), Some(&Role::Blank));
        assert_eq!(r.object.get("NOTHING"), Some(&Role::Blank));
        assert_eq!(r.object.get("SI"), Some(&Role::Static));
        assert_eq!(r.object.get("CC"), Some(&Role::Blank));
        assert_eq!(r.object.get("EXPORT"), Some(&Role::Blank));
        assert_eq!(r.function.get("ATTR"), Some(&Role::Blank));
        assert_eq!(
            r.function.get("LOCAL"),
            Some(&Role::Wrapper { is_static: true })
        );
        assert_eq!(
            r.function.get("API"),
            Some(&Role::Wrapper { is_static: false })
        );
        assert_eq!(
            r.function.get("SLOCAL"),
            Some(&Role::Wrapper { is_static: true })
        );
        assert_eq!(r.object.get("TYPE"), None);
        assert_eq!(r.function.get("ID"), None);
    }

    #[test]
    fn a_word_for_void_is_written_void() {
        let r = roles(
            "#define VOID void
#define V void
#define PVOID void *
",
        );
        assert_eq!(r.object.get("VOID"), Some(&Role::Op("void".into())));
        // Too short to hold the keyword, or more than the keyword: no role.
        assert_eq!(r.object.get("V"), None);
        assert_eq!(r.object.get("PVOID"), None);
    }

    #[test]
    fn statements_and_braces() {
        let r = roles(
            "#define BEGIN(m) do { lock(m);\n#define END(m) unlock(m); } while (0)\n\
             #define TRACE(x) printf x;\n#define QUIET(x)\n#define CHECK(x) if (!(x)) { abort(); }\n\
             #define COND_BEGIN(op, c) do { if (c) {} \n#define TB(op, d) COND_BEGIN((op), f(d))\n\
             #define LOOP(i, n) for (i = 0; i < n; i++)\n#define ITEM(t) { 1, t },\n\
             #define EXPR(x) ((x) + 1)\n#define INIT {0}\n#define STR(x) #x\n",
        );
        assert_eq!(r.function.get("BEGIN"), Some(&Role::Open));
        assert_eq!(r.function.get("END"), Some(&Role::Close));
        assert_eq!(r.function.get("TRACE"), Some(&Role::Stmt));
        assert_eq!(r.function.get("QUIET"), Some(&Role::Blank));
        assert_eq!(r.function.get("CHECK"), Some(&Role::Stmt));
        assert_eq!(r.function.get("TB"), Some(&Role::Open));
        assert_eq!(r.function.get("LOOP"), Some(&Role::Head));
        assert_eq!(r.function.get("ITEM"), Some(&Role::Stmt));
        assert_eq!(r.function.get("EXPR"), None);
        assert_eq!(r.object.get("INIT"), Some(&Role::Stmt));
        assert_eq!(r.function.get("STR"), None);
    }

    #[test]
    fn type_arguments() {
        let r = roles(
            "#define NEW(type, o) ((type *)alloc(o))\n#define CAST(type, e) ((type)(e))\n\
             #define SIZE(t) (sizeof(t) * 2)\n#define OFF(t, m) offsetof(t, m)\n\
             #define NEW2(o, type) NEW(type, o)\n#define CALL(f, x) g(f)(x)\n#define ADD(a, b) ((a) + (b))\n",
        );
        let ks = |n: &str| r.type_args.get(n).cloned().unwrap_or_default();
        assert_eq!(ks("NEW"), [0]);
        assert_eq!(ks("CAST"), [0]);
        assert_eq!(ks("SIZE"), [0]);
        assert_eq!(ks("OFF"), [0]);
        assert_eq!(ks("NEW2"), [1]);
        assert!(ks("CALL").is_empty() && ks("ADD").is_empty());
    }

    #[test]
    fn statement_arguments() {
        let r = roles(
            "#define GET(x, k, on_error) do { x = get(k); if (!x) { on_error; } } while (0)\n\
             #define TRY(e, fail) if ((e) < 0) fail;\n#define VAL(x) f(x);\n",
        );
        assert_eq!(r.stmt_args.get("GET"), Some(&vec![2]));
        assert_eq!(r.stmt_args.get("TRY"), Some(&vec![1]));
        assert_eq!(r.stmt_args.get("VAL"), None);
    }

    #[test]
    fn definitions_must_agree() {
        let r = roles(
            "#ifdef DEBUG\n#define TRACE(x) log x;\n#else\n#define TRACE(x)\n#endif\n\
             #ifdef A\n#define MAYBE_STATIC static\n#else\n#define MAYBE_STATIC\n#endif\n\
             #ifdef B\n#define TWO int\n#else\n#define TWO\n#endif\n\
             #define BOTH 1\n#define BOTH(x) x;\n",
        );
        assert_eq!(r.function.get("TRACE"), Some(&Role::Stmt));
        assert_eq!(r.object.get("MAYBE_STATIC"), Some(&Role::Blank));
        assert_eq!(r.object.get("TWO"), None);
        assert_eq!(r.object.get("BOTH"), None);
        assert_eq!(r.function.get("BOTH"), None);
    }

    #[test]
    fn operators_spelled_as_words() {
        let r = roles(STANDARD_HEADERS[0].1);
        assert_eq!(r.object.get("and"), Some(&Role::Op("&&".into())));
        assert_eq!(r.object.get("not_eq"), Some(&Role::Op("!=".into())));
        assert_eq!(r.object.get("or"), Some(&Role::Op("||".into())));
        // Too long to stand in for its name: no role.
        let r = roles("#define AND &&\n#define X &&\n");
        assert_eq!(r.object.get("AND"), Some(&Role::Op("&&".into())));
        assert_eq!(r.object.get("X"), None);
    }

    #[test]
    fn canonical_definitions_keep_their_role() {
        let src = "#define A inline\n#define B static\n#define C {\n#define D }\n\
                   #define E(x) x;\n#define F(t, u) static t u\n#define G(i) for (i;;)\n\
                   #define HH &&\n#define I(x, ...) __attribute__((x))\n";
        let first = roles(src);
        let mut canon = String::new();
        for (function_like, map) in [(false, &first.object), (true, &first.function)] {
            for (name, role) in map {
                let mut d = Defs::new();
                defs_of_text(src, &mut d);
                let params = d[name]
                    .iter()
                    .find(|x| x.params.is_some() == function_like)
                    .and_then(|x| x.params.clone());
                canon.push_str(&canonical(name, params.as_deref(), role));
                canon.push('\n');
            }
        }
        let again = roles(&canon);
        assert_eq!(again.object, first.object, "{canon}");
        assert_eq!(again.function, first.function, "{canon}");
        assert_eq!(first.object.len() + first.function.len(), 9);
    }

    #[test]
    fn standard_headers_are_scoped_to_their_includers() {
        let files = vec![
            SourceFile::new(
                "a.c",
                "#include \"common.h\"\nint f(int x) { return x and 1; }\n",
            ),
            SourceFile::new("common.h", "#include <iso646.h>\n"),
            SourceFile::new("b.c", "int and;\n"),
            SourceFile::new("w.c", "#include <windows.h>\n#include \"w.h\"\n"),
            SourceFile::new("w.h", "int WINAPI DllMain(void *h, int r, void *x);\n"),
        ];
        let lexed: Vec<Lexed> = files
            .iter()
            .map(|f| crate::scan::lex_file(f.text.as_bytes()))
            .collect();
        let m = learn(&files, &lexed);
        let a = m.for_file(0);
        let b = m.for_file(2);
        assert_eq!(a.roles().object("and"), Some(&Role::Op("&&".into())));
        assert_eq!(b.roles().object("and"), None);
        // A header sees what its includers included before it.
        let w = m.for_file(4);
        assert_eq!(w.roles().object("WINAPI"), Some(&Role::Blank));
        assert_eq!(w.roles().object("and"), None);
        assert_eq!(
            a.roles().object("Py_BEGIN_ALLOW_THREADS"),
            Some(&Role::Open),
            "CPython's macros are known everywhere"
        );
    }
}
