//! Phase 5, check: the engine's output, read back as text, must compile
//! wherever the input did, in every configuration the engine can see.
//!
//! The check does not trust the decisions or the edits: it lexes every
//! output text again and compares it with the input.
//!
//! - **Arguments agree.** Every spelling `NAME(...)` of a project
//!   function's name — calls, prototypes, definitions, and `#define
//!   NAME(...)` — is a *site*. Within one entity (per translation unit:
//!   the static `NAME` the unit sees; across units: the external
//!   `NAME`), every site must have gained the same number of arguments
//!   (a context added to the definition is added at every call, in every
//!   `#if` branch, in every unit that sees the header), or the output's
//!   sites must all agree on their count (an input the engine completed).
//!   An object-like macro of the name makes every site keep its count.
//! - **The header is seen.** A changed file includes `pyctx.h` outside
//!   every conditional group (an include guard excepted), before its
//!   first `PyCtx` token.
//!
//! A violation names the functions involved: the engine sends them back
//! to their signature (entry point) and runs decide → edit → check again,
//! so a bug elsewhere becomes a reported fallback, not a broken build.
//! Entry point: [`Checker`].

use crate::lex::{self, Lang, Tok, Token};
use crate::model::{FileId, Model, NodeId};
use crate::text::Output;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SiteKind {
    /// `NAME(...)` in code: a call, a prototype or a definition.
    Code,
    /// `#define NAME(...)`.
    FnMacro,
    /// `#define NAME ...`: arguments unknown.
    ObjMacro,
}

#[derive(Debug, Clone)]
pub(crate) struct Site<'n> {
    /// The name, borrowed from the set of names looked for (a string of
    /// its own per site would double the sites' memory).
    pub name: &'n str,
    /// Byte offset of the name.
    pub at: usize,
    pub args: usize,
    /// `...` among the parameters.
    pub variadic: bool,
    pub kind: SiteKind,
}

/// What the check found wrong.
#[derive(Debug, Clone)]
pub(crate) struct Violation {
    /// The file and input offset to report at.
    pub file: FileId,
    pub at: usize,
    pub message: String,
    /// Functions whose falling back (keeping their signature) removes it.
    pub nodes: Vec<NodeId>,
}

/// A piece of a text, lexed alone: its offset in the text, its bytes,
/// tokens and directives (offsets and token indexes are the piece's).
pub(crate) struct Piece<'s> {
    base: usize,
    /// Made from the input and the edits when the text is an output.
    src: Cow<'s, [u8]>,
    toks: Vec<Token>,
    dir: lex::Directives,
    /// The piece is the whole text.
    whole: bool,
}

impl<'s> Piece<'s> {
    fn lex(text: Output<'s>, range: std::ops::Range<usize>, lang: Lang) -> Piece<'s> {
        let whole = range.start == 0 && range.end == text.len();
        let base = range.start;
        let src = text.bytes(range);
        let toks = lex::lex_lang(&src, lang);
        let dir = lex::scan_directives_in(&src, &toks, lang);
        Piece {
            base,
            src,
            toks,
            dir,
            whole,
        }
    }

    /// Does the piece read alone as it reads within its text? It does
    /// when it starts where a token of the whole text starts and holds
    /// every group it opens or closes. The lexer carries nothing from one
    /// token to the next but the offset, so a piece after a newline token
    /// starts as the text does (unless it starts with a byte order mark,
    /// which only the text's start may skip), and one that ends on a
    /// newline token ends on no comment or literal cut short. Balanced
    /// conditionals leave the directive scanner with no open group at the
    /// cut, as the whole text leaves it there; balanced brackets keep
    /// every argument list in its piece ([`count_args`]); a last code
    /// token `}` or `;` is none that makes a name after it something
    /// else than a site (`.`, `->`, `#define`).
    fn stands_alone(&self, last: bool) -> bool {
        let code = || {
            self.toks
                .iter()
                .filter(|t| !matches!(t.kind, Tok::Comment | Tok::Newline))
        };
        let ends_a_line = last
            || (self
                .toks
                .last()
                .is_some_and(|t| t.kind == Tok::Newline && t.end() == self.src.len())
                && code()
                    .next_back()
                    .is_some_and(|t| matches!(t.kind, Tok::Punct(b'}' | b';'))));
        let mut depth = 0i64;
        let brackets = code().all(|t| {
            match t.kind {
                Tok::Punct(b'(' | b'[' | b'{') => depth += 1,
                Tok::Punct(b')' | b']' | b'}') => depth -= 1,
                _ => {}
            }
            depth >= 0
        }) && depth == 0;
        ends_a_line
            && brackets
            && (self.base == 0 || lex::bom_len(&self.src) == 0)
            && crate::pp::balanced(&self.src, &self.toks, &self.dir.directive_lines)
    }
}

/// `f` on each piece of `src` cut at `cuts` (ascending offsets), in
/// order, one piece's tokens alive at a time: the check reads texts as
/// large as the input files, whose whole token lists would be the
/// largest thing the engine holds. A piece that would not lex alone as
/// within the text ([`Piece::stands_alone`]; the output may put anything
/// at a cut) makes `f` run once on the whole text instead, its results
/// for the pieces before dropped.
fn in_pieces<T>(
    text: Output,
    lang: Lang,
    cuts: &[usize],
    mut f: impl FnMut(&Piece) -> T,
) -> Vec<T> {
    let len = text.len();
    let bounds: Vec<usize> = std::iter::once(0)
        .chain(cuts.iter().copied().filter(|&c| 0 < c && c < len))
        .chain(std::iter::once(len))
        .collect();
    let mut out = Vec::with_capacity(bounds.len() - 1);
    if bounds.len() > 2 {
        for (k, w) in bounds.windows(2).enumerate() {
            let piece = Piece::lex(text, w[0]..w[1], lang);
            if !piece.stands_alone(k + 2 == bounds.len()) {
                out.clear();
                break;
            }
            out.push(f(&piece));
        }
        if out.len() == bounds.len() - 1 {
            return out;
        }
    }
    out.push(f(&Piece::lex(text, 0..len, lang)));
    out
}

/// The sites of every name in `names`, from a text (dead `#if 0` groups
/// skipped).
#[cfg(test)]
pub(crate) fn sites<'n>(src: &[u8], lang: Lang, names: &HashSet<&'n str>) -> Vec<Site<'n>> {
    sites_in(src.into(), lang, &[], names)
}

/// [`sites`], the text lexed in the pieces `cuts` makes ([`in_pieces`]).
fn sites_in<'n>(
    text: Output,
    lang: Lang,
    cuts: &[usize],
    names: &HashSet<&'n str>,
) -> Vec<Site<'n>> {
    in_pieces(text, lang, cuts, |p| piece_sites(p, names))
        .into_iter()
        .flatten()
        .collect()
}

/// The sites of one piece, at offsets in its text.
fn piece_sites<'n>(p: &Piece, names: &HashSet<&'n str>) -> Vec<Site<'n>> {
    let (src, toks, dir) = (&p.src[..], &p.toks, &p.dir);
    let dead = &dir.dead;
    // A macro's parameter in its body is not the function of that name.
    let mut param_use: HashSet<usize> = HashSet::new();
    for d in &dir.macros {
        if let Some(params) = &d.params {
            param_use.extend(d.body.clone().filter(|&k| {
                toks[k].kind == Tok::Ident
                    && params
                        .iter()
                        .any(|p| p.as_bytes() == &src[toks[k].start()..toks[k].end()])
            }));
        }
    }
    // Token indexes as u32 (a text's tokens are fewer than its bytes):
    // half the memory of the output's largest table after its tokens.
    let code: Vec<u32> = (0..toks.len())
        .filter(|&k| !matches!(toks[k].kind, Tok::Comment | Tok::Newline))
        .filter(|k| !param_use.contains(k))
        .map(|k| k as u32)
        .collect();
    let word = |k: usize| &src[toks[k].start()..toks[k].end()];
    let mut out = Vec::new();
    for (ci, &k) in code.iter().enumerate() {
        let k = k as usize;
        let t = toks[k];
        if t.kind != Tok::Ident {
            continue;
        }
        let Ok(name) = std::str::from_utf8(word(k)) else {
            continue;
        };
        let Some(&name) = names.get(name) else {
            continue;
        };
        if dead.iter().any(|r| r.contains(&t.start())) {
            continue;
        }
        let prev = |n: usize| (ci >= n).then(|| code[ci - n] as usize);
        let is_punct = |k: Option<usize>, c: u8| k.is_some_and(|k| toks[k].kind == Tok::Punct(c));
        if is_punct(prev(1), b'.') || (is_punct(prev(1), b'>') && is_punct(prev(2), b'-')) {
            continue;
        }
        let after_define = prev(1).is_some_and(|p| word(p) == b"define") && is_punct(prev(2), b'#');
        let next = code.get(ci + 1).map(|&k| k as usize);
        let opens = is_punct(next, b'(');
        let kind = if after_define {
            if opens && toks[next.unwrap()].start() == t.end() {
                SiteKind::FnMacro
            } else {
                SiteKind::ObjMacro
            }
        } else if opens {
            SiteKind::Code
        } else {
            continue;
        };
        let (args, variadic) = if kind == SiteKind::ObjMacro {
            (0, false)
        } else {
            match count_args(src, toks, &code[ci + 1..]) {
                Some(a) => a,
                None => continue,
            }
        };
        out.push(Site {
            name,
            at: p.base + t.start(),
            args,
            variadic,
            kind,
        });
    }
    out
}

/// Arguments between the `(` at `code[0]` and its `)`: (count, `...`
/// among them). `()` and `(void)` count 0. None: no closing parenthesis.
fn count_args(src: &[u8], toks: &[Token], code: &[u32]) -> Option<(usize, bool)> {
    let punct = |k: u32| match toks[k as usize].kind {
        Tok::Punct(c) => c,
        _ => 0,
    };
    let mut depth = 0usize;
    let close = code.iter().position(|&k| {
        match punct(k) {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        depth == 0
    })?;
    let inner = &code[1..close];
    if inner.is_empty() {
        return Some((0, false));
    }
    if inner.len() == 1
        && &src[toks[inner[0] as usize].start()..toks[inner[0] as usize].end()] == b"void"
    {
        return Some((0, false));
    }
    let (mut commas, mut dots, mut variadic) = (0, 0, false);
    depth = 0;
    for &k in inner {
        match punct(k) {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            b',' if depth == 0 => commas += 1,
            _ => {}
        }
        dots = if depth == 0 && punct(k) == b'.' {
            dots + 1
        } else {
            0
        };
        variadic |= dots == 3;
    }
    Some((commas + 1, variadic))
}

/// One site in the input and the output.
struct Pair<'s> {
    file: FileId,
    before: &'s Site<'s>,
    after: &'s Site<'s>,
}

/// The input's sites, computed once per run.
pub(crate) struct Checker<'m> {
    /// Per file: the input's sites, shadowed names left out.
    before: Vec<Vec<Site<'m>>>,
    /// Per file: indexes (in `before`) the check ignores (a local of the
    /// name hides the function there).
    shadowed: Vec<HashSet<usize>>,
}

impl<'m> Checker<'m> {
    pub fn new(m: &'m Model) -> Checker<'m> {
        let names = site_names(m, None);
        let before: Vec<Vec<Site>> = m
            .files
            .iter()
            .map(|f| sites_in(f.src().into(), f.scan.lang, &f.scan.cuts, &names))
            .collect();
        let shadowed = m
            .files
            .iter()
            .zip(&before)
            .map(|(f, s)| {
                s.iter()
                    .enumerate()
                    .filter(|(_, site)| {
                        // Definitions are in source order: the one that
                        // may hold the site starts last before it.
                        let k = f.scan.funcs.partition_point(|d| d.range.start <= site.at);
                        f.scan.file_vars.contains(site.name)
                            || (k > 0 && {
                                let d = &f.scan.funcs[k - 1];
                                d.range.contains(&site.at)
                                    && d.declared.contains(f.src(), site.name)
                            })
                    })
                    .map(|(i, _)| i)
                    .collect()
            })
            .collect();
        Checker { before, shadowed }
    }

    /// Check the output: `after[f]` is file `f`'s new text (None:
    /// unchanged), read a piece at a time and the offsets where it may be read in pieces (the
    /// input's cuts, [`crate::text::output_offset`]); `renamed` maps
    /// trampoline implementations to the function they were
    /// (`box_get_impl` → `box_get`).
    pub fn check(
        &self,
        m: &Model,
        after: &[Option<(Output, Vec<usize>)>],
        renamed: &HashMap<String, String>,
        threaded: &[bool],
    ) -> Vec<Violation> {
        let names = site_names(m, Some(renamed));
        let mut out = Vec::new();
        let after_sites: Vec<Option<Vec<Site>>> = after
            .iter()
            .zip(&m.files)
            .map(|(t, f)| {
                t.as_ref()
                    .map(|(t, cuts)| sites_in(*t, f.scan.lang, cuts, &names))
            })
            .collect();
        let mut pairs: Vec<Vec<Pair>> = Vec::with_capacity(m.files.len());
        for (fi, (b, a)) in self.before.iter().zip(&after_sites).enumerate() {
            let a = a.as_ref().unwrap_or(b);
            let aligned = b.len() == a.len()
                && b.iter().zip(a).all(|(x, y)| {
                    x.name == y.name || renamed.get(y.name).map(String::as_str) == Some(x.name)
                });
            if !aligned {
                out.push(Violation {
                    file: fi,
                    at: 0,
                    message: "internal error: the output's calls and declarations do not line up with the input's".into(),
                    nodes: Vec::new(),
                });
                pairs.push(Vec::new());
                continue;
            }
            pairs.push(
                b.iter()
                    .zip(a)
                    .enumerate()
                    .filter(|(i, _)| !self.shadowed[fi].contains(i))
                    .map(|(_, (before, after))| Pair {
                        file: fi,
                        before,
                        after,
                    })
                    .collect(),
            );
        }
        for (key, members) in entities(m, &pairs) {
            if let Some(v) = judge(m, &key, &members, threaded, renamed) {
                out.push(v);
            }
        }
        for (fi, t) in after.iter().enumerate() {
            if let Some((t, cuts)) = t {
                let f = &m.files[fi];
                out.extend(include_seen(fi, f.scan.lang, *t, cuts));
                out.extend(context_type_taken(fi, f.scan.pyctx_defined));
            }
        }
        out
    }
}

/// The names whose sites are checked: project functions, and the
/// implementations trampolines renamed them to.
fn site_names<'m>(m: &'m Model, renamed: Option<&'m HashMap<String, String>>) -> HashSet<&'m str> {
    m.names
        .funcs
        .iter()
        .map(String::as_str)
        .chain(
            renamed
                .into_iter()
                .flat_map(|r| r.keys())
                .map(String::as_str),
        )
        .collect()
}

/// (unit for a static name, else None; the name as written in the output)
type EntityKey<'s> = (Option<usize>, &'s str);

/// Group the sites into entities: per unit, the sites of a name the unit
/// sees as static; across units, the sites of an external name. A site
/// counts once per entity (a header in several units).
fn entities<'p, 's>(
    m: &Model,
    pairs: &'p [Vec<Pair<'s>>],
) -> BTreeMap<EntityKey<'s>, Vec<&'p Pair<'s>>> {
    let statics: Vec<HashSet<&str>> = m
        .units
        .units
        .iter()
        .map(|u| {
            u.closure
                .iter()
                .flat_map(|&f| m.files[f].scan.static_names.iter().map(String::as_str))
                .collect()
        })
        .collect();
    let mut out: BTreeMap<EntityKey, Vec<&Pair>> = BTreeMap::new();
    for (fi, file_pairs) in pairs.iter().enumerate() {
        for p in file_pairs {
            let mut external = false;
            for &u in &m.units.of_file[fi] {
                if statics[u].contains(p.before.name) {
                    out.entry((Some(u), p.after.name)).or_default().push(p);
                } else if !external {
                    external = true;
                    out.entry((None, p.after.name)).or_default().push(p);
                }
            }
        }
    }
    out
}

/// Do an entity's sites still agree? A violation names the functions to
/// send back to their signature.
fn judge(
    m: &Model,
    key: &EntityKey,
    members: &[&Pair],
    threaded: &[bool],
    renamed: &HashMap<String, String>,
) -> Option<Violation> {
    let delta = |p: &Pair| p.after.args as i64 - p.before.args as i64;
    let d0 = delta(members[0]);
    if members.iter().all(|p| delta(p) == d0) {
        return None;
    }
    let plain = members
        .iter()
        .all(|p| p.after.kind != SiteKind::ObjMacro && !p.after.variadic);
    if plain
        && members
            .iter()
            .all(|p| p.after.args == members[0].after.args)
    {
        return None;
    }
    // Report a site that kept its arguments next to one that gained one.
    let kept = members
        .iter()
        .find(|p| delta(p) == 0)
        .unwrap_or(&members[0]);
    let gained = members.iter().find(|p| delta(p) != delta(kept)).unwrap();
    let name = key.1;
    let original = renamed.get(name).map(String::as_str).unwrap_or(name);
    let here = |p: &Pair| m.pos_str(p.file, p.before.at);
    let what = |p: &Pair| match p.after.kind {
        SiteKind::Code => "a call or declaration",
        SiteKind::FnMacro => "its macro definition",
        SiteKind::ObjMacro => "its object-like macro definition",
    };
    let scope = match key.0 {
        Some(u) => format!(
            "in the unit of {}",
            m.files[m.units.units[u].root].source.path.display()
        ),
        None => "across the units".to_string(),
    };
    let message = format!(
        "`{name}` would take {} argument(s) at {} ({}) but {} at {} ({}), {scope}: the sites of one function must agree in every configuration and unit",
        gained.after.args,
        here(gained),
        what(gained),
        kept.after.args,
        here(kept),
        what(kept),
    );
    let nodes: Vec<NodeId> = m
        .nodes_by_name
        .get(original)
        .into_iter()
        .flatten()
        .copied()
        .filter(|&id| {
            let n = &m.nodes[id];
            let in_entity = match (key.0, n.static_file) {
                (Some(u), Some(f)) => m.units.units[u].closure.binary_search(&f).is_ok(),
                (None, None) => true,
                _ => false,
            };
            in_entity && (threaded[id] || name != original) && !n.already
        })
        .collect();
    Some(Violation {
        file: kept.file,
        at: kept.before.at,
        message,
        nodes,
    })
}

/// A file that defines `PyCtx` itself (a macro, or a typedef) would give
/// the migrated code its own meaning of the name instead of the runtime's
/// context type: the file is not changed, and the error says what to
/// rename. (A local variable or parameter named `PyCtx` only shadows the
/// type where it is in scope, which the prologue and parameter come before.)
/// `toks` and `dir`: the input's, as the scan phase lexed them.
/// Where a file defines `PyCtx` itself (a macro or a typedef), and as
/// what: found while its tokens are there, reported by the check for a
/// changed file ([`context_type_taken`]).
pub(crate) fn pyctx_defined(
    src: &[u8],
    toks: &[lex::Token],
    dir: &lex::Directives,
) -> Option<(usize, &'static str)> {
    let macro_at = dir
        .macros
        .iter()
        .find(|d| d.name == "PyCtx")
        .map(|d| (d.name_at, "a macro"));
    let typedef_at = || {
        // Walked, not collected: a list of the code tokens would cost
        // a third of the token list again.
        let mut code = toks
            .iter()
            .filter(|t| !matches!(t.kind, Tok::Comment | Tok::Newline))
            .peekable();
        let mut in_typedef = false;
        while let Some(t) = code.next() {
            let word = &src[t.start()..t.end()];
            match t.kind {
                Tok::Ident if word == b"typedef" => in_typedef = true,
                Tok::Punct(b';') => in_typedef = false,
                Tok::Ident if in_typedef && word == b"PyCtx" => {
                    let next = code.peek().map(|n| n.kind);
                    if matches!(next, Some(Tok::Punct(b';' | b',' | b'['))) {
                        return Some((t.start(), "a type"));
                    }
                }
                _ => {}
            }
        }
        None
    };
    macro_at.or_else(typedef_at)
}

fn context_type_taken(fi: FileId, defined: Option<(usize, &'static str)>) -> Option<Violation> {
    let (at, what) = defined?;
    Some(Violation {
        file: fi,
        at,
        message: format!(
            "the file defines `PyCtx` ({what}), the name of pyctx's context type: \
             rename it to migrate this file"
        ),
        nodes: Vec::new(),
    })
}

/// A changed file must include `pyctx.h` where every configuration sees
/// it, before anything uses `PyCtx`. `cuts`: where the text may be read
/// in pieces ([`in_pieces`]).
fn include_seen(fi: FileId, lang: Lang, text: Output, cuts: &[usize]) -> Option<Violation> {
    // Per piece: the offsets of its first include of pyctx.h outside
    // every group, and of its first `PyCtx` outside directive lines.
    let found = in_pieces(text, lang, cuts, |p| {
        let (toks, dir) = (&p.toks, &p.dir);
        let depths = crate::pp::depths_in(&p.src, toks, &dir.directive_lines, p.whole);
        let include = dir
            .includes
            .iter()
            .filter(|i| i.path == "pyctx.h" || i.path.ends_with("/pyctx.h"))
            .find(|i| {
                dir.directive_lines
                    .iter()
                    .position(|r| r.start == i.hash_tok)
                    .is_some_and(|k| depths[k].0 == 0)
            })
            .map(|i| p.base + toks[i.hash_tok].start());
        // A `#define` body naming `PyCtx` is expanded where it is used,
        // not where it is defined: directive lines do not count.
        let in_directive = |k: usize| dir.directive_lines.iter().any(|r| r.contains(&k));
        let first_use = toks
            .iter()
            .enumerate()
            .position(|(k, t)| {
                t.kind == Tok::Ident
                    && p.src[t.start()..t.end()].starts_with(b"PyCtx")
                    && !in_directive(k)
            })
            .map(|k| p.base + toks[k].start());
        (include, first_use)
    });
    let include = found.iter().find_map(|f| f.0);
    let first_use = found.iter().find_map(|f| f.1);
    let message = match (include, first_use) {
        (None, _) => "pyctx.h is not included outside every conditional group".to_string(),
        (Some(i), Some(u)) if u < i => {
            // An internal error: the whole text is made only here.
            let (line, _) = lex::Lines::new(&text.bytes(0..text.len())).pos(u);
            format!("`PyCtx` is used at output line {line}, before the include of pyctx.h")
        }
        _ => return None,
    };
    Some(Violation {
        file: fi,
        at: 0,
        message: format!("internal error: {message}"),
        nodes: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&'static str]) -> HashSet<&'static str> {
        v.iter().copied().collect()
    }

    #[test]
    fn a_project_definition_of_pyctx_is_an_error() {
        let taken = |src: &str| {
            let toks = lex::lex_lang(src.as_bytes(), Lang::C);
            let dir = lex::scan_directives_in(src.as_bytes(), &toks, Lang::C);
            context_type_taken(0, pyctx_defined(src.as_bytes(), &toks, &dir)).map(|v| v.at)
        };
        assert_eq!(taken("#define PyCtx int\nint f(void);\n"), Some(8));
        assert_eq!(taken("typedef struct s *PyCtx;\n"), Some(18));
        assert_eq!(taken("typedef int A, PyCtx;\n"), Some(15));
        // Uses of the runtime's type, and locals named PyCtx, are not.
        assert_eq!(
            taken("int f(PyCtx ctx) { int PyCtx = 1; return PyCtx; }\n"),
            None
        );
        assert_eq!(taken("typedef PyCtx my_ctx;\n"), None);
    }

    /// Reading a text in pieces finds what reading it whole finds: the
    /// sites and the include check of every golden case's input and
    /// output, cut wherever [`crate::scan::pieces`] allows, and at every
    /// line start (where pieces that cannot stand alone make the whole
    /// text read instead).
    #[test]
    fn pieces_read_as_the_whole_text() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/migrate");
        let mut by_pieces = 0;
        for case in std::fs::read_dir(&root).unwrap() {
            let case = case.unwrap().path();
            for side in ["before", "after"] {
                let Ok(entries) = std::fs::read_dir(case.join(side)) else {
                    continue;
                };
                for path in entries.map(|e| e.unwrap().path()).filter(|p| p.is_file()) {
                    let text = std::fs::read_to_string(&path).unwrap();
                    let src = text.as_bytes();
                    let lang = crate::lang_of_path(&path);
                    let l = crate::scan::lex_file_in(src, lang);
                    // Every identifier is a name whose sites count.
                    let names: HashSet<&str> = l
                        .toks
                        .iter()
                        .filter(|t| t.kind == Tok::Ident)
                        .filter_map(|t| std::str::from_utf8(&src[t.start()..t.end()]).ok())
                        .collect();
                    let pieces = crate::scan::pieces(&l.toks, &l.dir, src.len(), 1);
                    let cuts: Vec<usize> = pieces[1..].iter().map(|r| r.start).collect();
                    let lines: Vec<usize> =
                        (1..src.len()).filter(|&k| src[k - 1] == b'\n').collect();
                    let whole = format!("{:?}", sites(src, lang, &names));
                    let seen =
                        |cuts: &[usize]| include_seen(0, lang, src.into(), cuts).map(|v| v.message);
                    for cuts in [&cuts, &lines] {
                        let got = format!("{:?}", sites_in(src.into(), lang, cuts, &names));
                        assert_eq!(got, whole, "{}: cut at {cuts:?}", path.display());
                        assert_eq!(seen(cuts), seen(&[]), "{}", path.display());
                    }
                    by_pieces += usize::from(in_pieces(src.into(), lang, &cuts, |_| ()).len() > 1);
                }
            }
        }
        // The pieces were read as pieces (not all fallen back to the whole).
        assert!(by_pieces > 20, "{by_pieces} texts read in pieces");
    }

    #[test]
    fn a_piece_that_cannot_stand_alone_makes_the_whole_text_read() {
        let src = b"int f(void) { return 1; }\n/* a comment\nint g(void) { return f(); }\n*/\nint h(void) { return f(); }\n";
        let names = names(&["f", "g", "h"]);
        // Cut inside the comment, and between a name and its arguments.
        let cut = src.iter().position(|&c| c == b'\n').unwrap() + 14;
        assert_eq!(in_pieces(src[..].into(), Lang::C, &[cut], |_| ()).len(), 1);
        let got = sites_in(src[..].into(), Lang::C, &[cut], &names);
        assert_eq!(
            format!("{got:?}"),
            format!("{:?}", sites(src, Lang::C, &names))
        );
        assert_eq!(got.len(), 3, "{got:?}");
        // At the line starts after a `}`, one of them inside the comment:
        // the whole text.
        let lines: Vec<usize> = (1..src.len()).filter(|&k| src[k - 1] == b'\n').collect();
        let after_brace: Vec<usize> = lines
            .into_iter()
            .filter(|&k| src[..k].ends_with(b"}\n") && !src[..k].ends_with(b"*/\n"))
            .collect();
        assert_eq!(
            in_pieces(src[..].into(), Lang::C, &after_brace, |_| ()).len(),
            1
        );
    }

    #[test]
    fn sites_count_arguments() {
        let src = "#define get(a, b) ((a)+(b))\n#define alias other\n\
                   static int get(PyCtx ctx, int a, int b);\n\
                   int x = get(f(1, 2), [3][0], (4, 5));\nint y = s.get(1);\nint z = get();\n\
                   int v(void);\nint w(int n, ...);\n#if 0\nget(1)\n#endif\n\
                   #define APPLY(f, x) f(x)\n";
        let s = sites(
            src.as_bytes(),
            Lang::C,
            &names(&["get", "alias", "v", "w", "f"]),
        );
        let got: Vec<(&str, usize, bool, SiteKind)> = s
            .iter()
            .map(|s| (s.name, s.args, s.variadic, s.kind))
            .collect();
        assert_eq!(
            got,
            vec![
                ("get", 2, false, SiteKind::FnMacro),
                ("alias", 0, false, SiteKind::ObjMacro),
                ("get", 3, false, SiteKind::Code),
                ("get", 3, false, SiteKind::Code),
                ("f", 2, false, SiteKind::Code),
                ("get", 0, false, SiteKind::Code),
                ("v", 0, false, SiteKind::Code),
                ("w", 2, true, SiteKind::Code),
            ]
        );
    }

    #[test]
    fn include_must_be_outside_groups() {
        let ok = "#include <Python.h>\n#include \"pyctx.h\"\nstatic int f(PyCtx ctx);\n";
        assert!(include_seen(0, Lang::C, ok.as_bytes().into(), &[]).is_none());
        let grouped = "#ifdef D\n#include \"pyctx.h\"\n#endif\nstatic int f(PyCtx ctx);\n";
        assert!(include_seen(0, Lang::C, grouped.as_bytes().into(), &[]).is_some());
        let late = "static int f(PyCtx ctx);\n#include \"pyctx.h\"\n";
        assert!(include_seen(0, Lang::C, late.as_bytes().into(), &[])
            .unwrap()
            .message
            .contains("line 1"));
        let guarded = "#ifndef H\n#define H\n#include \"pyctx.h\"\nint f(PyCtx c);\n#endif\n";
        assert!(include_seen(0, Lang::C, guarded.as_bytes().into(), &[]).is_none());
        // A macro body is expanded later, where the include is seen.
        let defined = "#ifdef X\n#define GET PyCtx ctx = PyCtx_Get();\n#endif\n#include <Python.h>\n#include \"pyctx.h\"\nint f(void) { GET return 0; }\n";
        assert!(include_seen(0, Lang::C, defined.as_bytes().into(), &[]).is_none());
    }

    fn model<'a>(files: &'a [crate::SourceFile], api: &'a crate::ApiNames) -> Model<'a> {
        let parsed = crate::parse::parse(files, api);
        let paths: Vec<&std::path::Path> = files.iter().map(|f| f.path.as_path()).collect();
        let incs: Vec<Vec<&str>> = parsed
            .files
            .iter()
            .map(|f| {
                f.scan
                    .dir
                    .includes
                    .iter()
                    .map(|i| i.path.as_str())
                    .collect()
            })
            .collect();
        let units = crate::units::Units::build(&paths, &incs, None);
        crate::resolve::resolve(parsed, units, api, &crate::Options::default()).0
    }

    fn violations(files: &[(&str, &str, Option<&str>)]) -> Vec<Violation> {
        let src: Vec<crate::SourceFile> = files
            .iter()
            .map(|(p, t, _)| crate::SourceFile::new(*p, *t))
            .collect();
        let api = crate::ApiNames::default();
        let m = model(&src, &api);
        let after: Vec<Option<(Output, Vec<usize>)>> = files
            .iter()
            .map(|(_, _, a)| a.map(|a| (a.as_bytes().into(), Vec::new())))
            .collect();
        let threaded = vec![true; m.nodes.len()];
        Checker::new(&m).check(&m, &after, &HashMap::new(), &threaded)
    }

    const INC: &str = "#include \"pyctx.h\"\n";

    #[test]
    fn a_unity_build_call_that_misses_its_context() {
        let a_after = format!("{INC}static int f(PyCtx ctx, int x) {{ return x; }}\n");
        let v = violations(&[
            ("m.c", "#include \"a.c\"\n#include \"b.c\"\n", None),
            ("a.c", "static int f(int x) { return x; }\n", Some(&a_after)),
            ("b.c", "static int g(int x) { return f(x); }\n", None),
        ]);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(
            v[0].message
                .starts_with("`f` would take 2 argument(s) at a.c:1"),
            "{}",
            v[0].message
        );
        assert_eq!(v[0].file, 2);
    }

    #[test]
    fn statics_of_different_units_are_different_functions() {
        let a_after = format!("{INC}static int h(PyCtx ctx, int x) {{ return x; }}\nint a(PyCtx ctx) {{ return h(ctx, 1); }}\n");
        let v = violations(&[
            (
                "a.c",
                "static int h(int x) { return x; }\nint a(void) { return h(1); }\n",
                Some(&a_after),
            ),
            (
                "b.c",
                "static int h(int x) { return -x; }\nint b(void) { return h(1); }\n",
                None,
            ),
        ]);
        assert!(v.is_empty(), "{v:?}");
    }

    #[test]
    fn a_macro_twin_must_keep_its_arguments() {
        let before = "#ifdef X\n#define get(a, b) ((a) + (b))\n#else\nstatic int get(int a, int b) { return a + b; }\n#endif\n\
                      static int use(int x) { return get(x, 1); }\n";
        let after = format!("{INC}#ifdef X\n#define get(a, b) ((a) + (b))\n#else\nstatic int get(PyCtx ctx, int a, int b) {{ return a + b; }}\n#endif\n\
                      static int use(PyCtx ctx, int x) {{ return get(ctx, x, 1); }}\n");
        let v = violations(&[("a.c", before, Some(&after))]);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(
            v[0].message.contains("its macro definition"),
            "{}",
            v[0].message
        );
        assert_eq!(v[0].nodes.len(), 1);
    }

    #[test]
    fn completing_a_half_migration_is_not_a_violation() {
        // The input called the threaded `pair` without a context; the
        // output fixes that call only.
        let before = "static int pair(PyCtx ctx, int a) { return a; }\n\
                      int ok(PyCtx ctx) { return pair(ctx, 1); }\nint todo(PyCtx ctx) { return pair(2); }\n";
        let after = "static int pair(PyCtx ctx, int a) { return a; }\n\
                      int ok(PyCtx ctx) { return pair(ctx, 1); }\nint todo(PyCtx ctx) { return pair(ctx, 2); }\n";
        let after = format!("{INC}{after}");
        let v = violations(&[("a.c", before, Some(&after))]);
        assert!(v.is_empty(), "{v:?}");
    }
}
