//! Generating `pyctx_api.h` for one interpreter from the API table.
//!
//! For every table entry with a ctx form that this interpreter's headers
//! really provide, the generated header
//!
//! 1. saves CPython's own meaning under `PyCtxOrig_NAME` (the exported
//!    function reached through a pointer, the alias CPython maps it to, or a
//!    copy of the macro's definition whose nested API calls do the same);
//! 2. defines the ctx form (check one bit, call the original);
//! 3. in C, replaces `NAME` by a dispatch macro choosing between the ctx
//!    form and the name itself (the legacy form) by argument count (fixed
//!    arity) or by the first argument's type (C-variadic); in C++, a
//!    function's ctx form is an overload of the name itself, and only
//!    CPython's macros get a dispatch macro;
//! 4. gives object-like macros that act (`PyDateTime_IMPORT`) a ctx form
//!    spelled [`ctx_spelling`]`(NAME)` (`PyDateTime_IMPORT_CTX(ctx)`), since
//!    their own name is used without parentheses.
//!
//! Names of `Python.h` form the main part. Names of the other public headers
//! (the table's `needs_include`: `datetime.h`, `marshal.h`, ...) form one
//! part each, emitted outside the main include guard and guarded by that
//! header's own include guard: each inclusion of `pyctx.h` adds the parts of
//! the extra headers included before it, so the order of includes does not
//! matter as long as `pyctx.h` comes (again) after them.
//!
//! The macro copies come from the preprocessor run on the exact headers the
//! extension is compiled against, once with and once without
//! `PY_SSIZE_T_CLEAN`; parts that differ are emitted under `#ifdef`.

use crate::cpp::{Macro, Preprocessed};
use pyctx_api::{Form, Kind, MacroShape, Table};
use pyctx_clex::{join_punctuators, lex_lang, Lang, Tok, Token};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// The hand-written va_list bodies; every variadic entry needs one.
pub const VARIADIC_SHIM: &str = include_str!("../../runtime/include/pyctx_variadic.h");

/// Hand-written ctx forms that read VM state through the context
/// (`pyctx_fast_NAME`); a name found here uses it instead of CPython's.
pub const FAST_PATHS: &str = include_str!("../../runtime/include/pyctx_fast.h");

fn has_fast_path(name: &str) -> bool {
    FAST_PATHS.contains(&format!("pyctx_fast_{name}(PyCtx ctx"))
}

/// The spelling of a name's ctx form: the name itself, except for
/// object-like macros that act (`PyDateTime_IMPORT`, used without
/// parentheses), whose ctx form is the function-like `NAME_CTX(ctx)`.
pub fn ctx_spelling(name: &str, form: &Form) -> String {
    if form.object_like {
        format!("{name}{}", pyctx_api::OBJECT_LIKE_CTX_SUFFIX)
    } else {
        name.to_string()
    }
}

/// An object-like macro that acts and gets a ctx form under
/// [`ctx_spelling`]: expressions and statements (`Py_BEGIN_ALLOW_THREADS`
/// and other syntax stay CPython's).
fn object_like_with_ctx_form(form: &Form) -> bool {
    form.object_like && matches!(form.shape, Some(MacroShape::Expr | MacroShape::Stmt))
}

/// The extra public headers (`needs_include`) of `version`'s names, sorted:
/// the headers to preprocess besides `Python.h`, one part each.
pub fn extra_headers(table: &Table, version: &str) -> Vec<String> {
    let set: BTreeSet<String> = table
        .for_version(version)
        .filter_map(|(_, _, f)| f.needs_include.clone())
        .collect();
    set.into_iter().collect()
}

/// How a dispatched name reaches CPython's own implementation.
#[derive(Debug, Clone, PartialEq)]
enum Orig {
    /// A real function (PyAPI_FUNC or static inline): `(NAME)`.
    Function,
    /// CPython `#define`s the name to another one (e.g. `_SizeT` variants).
    Alias(String),
    /// A function-like macro, or an object-like one that acts.
    Macro(Macro),
}

#[derive(Debug, Clone)]
struct Dispatch<'t> {
    id: usize,
    name: &'t str,
    form: &'t Form,
    orig: Orig,
    /// Allowed with a dealloc context: its check lets one through inline.
    dealloc_ok: bool,
    /// The exported CPython function a call reaches (the name itself, or
    /// the function an alias names); `None` for macros and static inline
    /// functions, which compile into the caller.
    real: Option<String>,
    /// Hand-written fast paths may replace CPython's call (full API only).
    fast_paths: bool,
    /// The part of the header: `""` for `Python.h`, else the extra header.
    part: &'t str,
}

impl Dispatch<'_> {
    /// The name the dispatch macro is defined under. An alias of a
    /// function (`#define PyArg_ParseTuple _PyArg_ParseTuple_SizeT`) stays
    /// CPython's object-like macro, and its target is dispatched instead:
    /// the public name then keeps working without parentheses and in
    /// declarations, as it does with CPython's headers.
    fn spelled(&self) -> &str {
        match &self.orig {
            Orig::Alias(to) => to,
            _ => self.name,
        }
    }

    /// The inline check the ctx form runs.
    fn check(&self) -> &'static str {
        if self.dealloc_ok {
            "pyctx__check_dealloc_ok"
        } else {
            "pyctx__check"
        }
    }
}

/// Why a table entry got no ctx form in this header (reported, not silent).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Skipped {
    pub name: String,
    pub reason: String,
}

#[derive(Debug, Clone)]
pub struct Generated {
    pub text: String,
    pub dispatched: BTreeSet<String>,
    pub skipped: Vec<Skipped>,
}

/// Which API a generated header serves: the full API, or `Py_LIMITED_API`
/// from a given version on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Full,
    /// `Py_LIMITED_API >= 0x0MNN0000` for (M, NN).
    Limited(u32, u32),
}

impl Api {
    /// The file the header for this API is written to.
    pub fn file_name(self) -> String {
        match self {
            Api::Full => "pyctx_api_full.h".into(),
            Api::Limited(major, minor) => format!("pyctx_api_abi{major}_{minor}.h"),
        }
    }

    fn guard(self) -> String {
        match self {
            Api::Full => "PYCTX_API_FULL_H".into(),
            Api::Limited(major, minor) => format!("PYCTX_API_ABI{major}_{minor}_H"),
        }
    }

    /// The hand-written fast paths read VM state the limited API hides.
    fn fast_paths(self) -> bool {
        self == Api::Full
    }
}

/// What the generator reads besides the table: the preprocessor results
/// of `Python.h` plus the extra headers, without (`plain`) and with
/// (`clean`) `PY_SSIZE_T_CLEAN`, both read for the API at hand, and the
/// include guard of each extra header (from its text).
pub struct Headers<'h> {
    pub plain: &'h Preprocessed,
    pub clean: &'h Preprocessed,
    pub guards: &'h BTreeMap<String, String>,
}

/// Generate the header text of `api` for `version` ("3.12").
pub fn generate(table: &Table, version: &str, api: Api, headers: &Headers) -> Generated {
    let (plain_items, dispatched, mut skipped) =
        items(table, version, api, headers.plain, headers.guards);
    let (clean_items, dispatched_clean, skipped_clean) =
        items(table, version, api, headers.clean, headers.guards);
    // A name dispatched in only one mode is a surprise worth failing loudly
    // on, rather than emitting a header that differs in shape by mode.
    let dispatched: BTreeSet<String> = dispatched
        .intersection(&dispatched_clean)
        .cloned()
        .collect();
    skipped.extend(skipped_clean);
    skipped.sort();
    skipped.dedup();

    let guard = api.guard();
    let mut text = String::new();
    // The pragma comes first: later inclusions skip the main part but
    // still read the extra headers' parts.
    let _ = write!(
        text,
        "{PREAMBLE}{SYSTEM_HEADER}#ifndef {guard}\n#define {guard}\n"
    );
    let what = match api {
        Api::Full => "the full API".to_string(),
        Api::Limited(major, minor) => format!("Py_LIMITED_API {major}.{minor} and later"),
    };
    let _ = writeln!(
        text,
        "/* CPython {version}, {what}: {} names dispatched. */\n",
        dispatched.len()
    );
    let parts = merge_modes(&plain_items, &clean_items, &dispatched);
    for (part, body) in &parts {
        if part.is_empty() {
            text.push_str(&in_cxx_linkage(body));
            let _ = writeln!(text, "\n#endif /* {guard} */");
            continue;
        }
        // Every part's names belong to one header (select checks the guard).
        let header_guard = &headers.guards[part.as_str()];
        let done = format!("{guard}_{}", macro_word(part));
        let _ = write!(
            text,
            "\n/* ==== {part}: its names, once it has been included (include pyctx.h after it) ==== */\n\
             #if defined({header_guard}) && !defined({done})\n#define {done}\n{}#endif /* {part} */\n",
            in_cxx_linkage(body)
        );
    }
    Generated {
        text,
        dispatched,
        skipped,
    }
}

/// `text` with C++ linkage in C++ (overloads and templates must not inherit
/// an `extern "C"` block the includer may have opened around pyctx.h).
fn in_cxx_linkage(text: &str) -> String {
    format!("#ifdef __cplusplus\nextern \"C++\" {{\n#endif\n{text}#ifdef __cplusplus\n}}\n#endif\n")
}

/// `datetime.h` -> `DATETIME_H`: a header name as part of a macro name.
fn macro_word(header: &str) -> String {
    header
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// `pyctx_api.h`: includes the header generated for the API the including
/// source asks for — the full API, or the newest limited-API level (among
/// `levels`, oldest first) that its `Py_LIMITED_API` value reaches. It has
/// no include guard: pyctx.h includes it again to add the parts of extra
/// headers included since.
pub fn selector(version: &str, levels: &[Api]) -> String {
    let mut text = String::new();
    let _ = write!(text, "{PREAMBLE}{SYSTEM_HEADER}");
    let _ = writeln!(text, "/* CPython {version}. */");
    text.push_str("#if !defined(Py_LIMITED_API)\n");
    let _ = writeln!(text, "#include \"{}\"", Api::Full.file_name());
    for api in levels.iter().rev() {
        if let Api::Limited(major, minor) = api {
            let _ = writeln!(
                text,
                "#elif Py_LIMITED_API + 0 >= 0x{major:02X}{minor:02X}0000\n#include \"{}\"",
                api.file_name()
            );
        }
    }
    text.push_str("#else\n#error \"pyctx: Py_LIMITED_API must name 3.9 or later (0x03090000 and up)\"\n#endif\n");
    text
}

const PREAMBLE: &str = "/* Generated by `pyctx flags` from api/table.json and this interpreter's
 * headers. Do not edit: regenerate. Included by pyctx.h. */
";

const SYSTEM_HEADER: &str = "#if defined(__GNUC__) || defined(__clang__)
#pragma GCC system_header
#endif
";

/// One emitted chunk, keyed so the two PY_SSIZE_T_CLEAN modes can be merged.
#[derive(Debug, Clone, PartialEq)]
struct Item {
    /// The header part (`""`: Python.h), then section order, then key
    /// within the section.
    part: String,
    section: u8,
    key: String,
    text: String,
}

/// Sections holding one item per dispatched name.
const PER_NAME: [u8; 3] = [2, 4, 5];

/// The two modes' items merged, per part (`""` first).
fn merge_modes(
    plain: &[Item],
    clean: &[Item],
    dispatched: &BTreeSet<String>,
) -> BTreeMap<String, String> {
    type Key = (String, u8, String);
    let index = |items: &[Item]| -> BTreeMap<Key, String> {
        items
            .iter()
            // per-name sections only for names dispatched in both modes
            .filter(|i| !PER_NAME.contains(&i.section) || dispatched.contains(&i.key))
            .map(|i| ((i.part.clone(), i.section, i.key.clone()), i.text.clone()))
            .collect()
    };
    let p = index(plain);
    let c = index(clean);
    let keys: BTreeSet<&Key> = p.keys().chain(c.keys()).collect();
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    let mut section = None;
    for key in keys {
        let text = out.entry(key.0.clone()).or_default();
        if section != Some((&key.0, key.1)) {
            section = Some((&key.0, key.1));
            text.push_str(SECTION_TITLES[key.1 as usize]);
        }
        match (p.get(key), c.get(key)) {
            (Some(a), Some(b)) if a == b => text.push_str(a),
            (a, b) => {
                text.push_str("#ifdef PY_SSIZE_T_CLEAN\n");
                text.push_str(b.map(String::as_str).unwrap_or(""));
                text.push_str("#else\n");
                text.push_str(a.map(String::as_str).unwrap_or(""));
                text.push_str("#endif\n");
            }
        }
    }
    out
}

const SECTION_TITLES: &[&str] = &[
    "\n/* ---- dispatch helpers ---- */\n",
    "\n/* ---- exported functions, reached past compat's call slots ---- */\n",
    "\n/* ---- CPython's own meaning of each dispatched name ---- */\n",
    "\n/* ---- the runtime's inline parts (their API calls are its own, not legacy calls) ---- */\n",
    "\n/* ---- ctx forms (C++: overloads of the name) ---- */\n",
    "\n/* ---- dispatch: NAME(args) is legacy, NAME(ctx, args) the ctx form ---- */\n",
];

fn items<'t>(
    table: &'t Table,
    version: &'t str,
    api: Api,
    pre: &Preprocessed,
    guards: &BTreeMap<String, String>,
) -> (Vec<Item>, BTreeSet<String>, Vec<Skipped>) {
    let (dispatch, skipped) = select(table, version, api, pre, guards);
    let mut items = vec![Item {
        part: String::new(),
        section: 0,
        key: String::new(),
        text: sel_macros(dispatch.iter().map(arity).max().unwrap_or(0)),
    }];
    let reals = reals(&dispatch);
    for (real, part) in &reals {
        items.push(Item {
            part: part.to_string(),
            section: 1,
            key: real.to_string(),
            text: real_accessor(real),
        });
    }
    let main: BTreeSet<&str> = dispatch
        .iter()
        .filter(|d| d.part.is_empty())
        .map(|d| d.name)
        .collect();
    for d in &dispatch {
        // Macro copies call what their own part and the main part dispatch.
        let mut names = main.clone();
        names.extend(dispatch.iter().filter(|o| o.part == d.part).map(|o| o.name));
        items.extend(name_items(d, &names));
    }
    let main_reals: Vec<&str> = reals
        .iter()
        .filter(|(_, part)| part.is_empty())
        .map(|(real, _)| *real)
        .collect();
    items.push(Item {
        part: String::new(),
        section: 3,
        key: String::new(),
        text: runtime_parts(api, &main_reals),
    });
    let dispatched = dispatch.iter().map(|d| d.name.to_string()).collect();
    (items, dispatched, skipped)
}

/// Section 0: `PYCTX__SELn` up to the largest arity in use.
fn sel_macros(max_arity: usize) -> String {
    let mut sel = String::new();
    for n in 1..=max_arity {
        let params: Vec<String> = (1..=n).map(|i| format!("a{i}")).collect();
        let _ = writeln!(
            sel,
            "#define PYCTX__SEL{n}({}, x, y, ...) y",
            params.join(", ")
        );
    }
    sel
}

/// Exported functions the ctx forms call, each with the part it is first
/// needed in (the main part when any of its users is there).
fn reals<'d>(dispatch: &'d [Dispatch]) -> BTreeMap<&'d str, &'d str> {
    let mut reals: BTreeMap<&str, &str> = BTreeMap::new();
    for d in dispatch {
        if let Some(real) = d.real.as_deref() {
            let part = reals.entry(real).or_insert(d.part);
            *part = (*part).min(d.part);
        }
    }
    reals
}

/// Section 1: the accessor of one exported function a ctx form calls. It
/// reaches the function through a pointer the runtime looks up by name
/// (once per translation unit), never through the extension's own
/// reference to the symbol: the call slot of that reference is what compat
/// redirects in debug and stats modes, so a ctx-form call is never counted
/// as a legacy call; and taking `&NAME` here would make the linker route
/// the extension's plain calls through an address slot compat must leave
/// alone (`.plt.got`), hiding them. (In C++ it precedes the overloads of
/// the name, so `__typeof__` still names CPython's one function.)
fn real_accessor(real: &str) -> String {
    format!(
        "static __typeof__({real}) *pyctx_slot_{real};\n\
         static inline __typeof__({real}) *pyctx_real_{real}(void) {{ __typeof__({real}) *pyctx_p = __atomic_load_n(&pyctx_slot_{real}, __ATOMIC_RELAXED); if (PYCTX__UNLIKELY(pyctx_p == NULL)) {{ pyctx_p = (__typeof__({real}) *)pyctx_resolve(\"{real}\"); __atomic_store_n(&pyctx_slot_{real}, pyctx_p, __ATOMIC_RELAXED); }} return pyctx_p; }}\n"
    )
}

/// Section 3: the runtime's own headers, with every exported function they
/// call reached past compat (they are pyctx's calls, not legacy calls of
/// the extension).
fn runtime_parts(api: Api, reals: &[&str]) -> String {
    let mut internal = String::new();
    for real in reals {
        let _ = writeln!(
            internal,
            "#define {real}(...) pyctx_real_{real}()(__VA_ARGS__)"
        );
    }
    internal.push_str("#include \"pyctx_variadic.h\"\n#include \"pyctx_types.h\"\n");
    if api.fast_paths() {
        internal.push_str("#include \"pyctx_fast.h\"\n");
    }
    for real in reals {
        let _ = writeln!(internal, "#undef {real}");
    }
    internal
}

/// Sections 2, 4 and 5 of one dispatched name: `PyCtxOrig_NAME`, the ctx
/// form, the dispatch. `names`: the names dispatched where it is.
fn name_items(d: &Dispatch, names: &BTreeSet<&str>) -> [Item; 3] {
    let orig = match (&d.orig, &d.real) {
        (Orig::Function | Orig::Alias(_), Some(real)) => {
            format!("#define PyCtxOrig_{} pyctx_real_{real}()\n", d.name)
        }
        (Orig::Function, None) => format!("#define PyCtxOrig_{0} ({0})\n", d.name),
        (Orig::Alias(to), None) => format!("#define PyCtxOrig_{} ({})\n", d.name, to),
        (Orig::Macro(def), _) => macro_copies(d, def, names),
    };
    let (forms, dispatch_text) = match &d.orig {
        Orig::Macro(def) if !def.def().is_function_like() => (object_like_forms(d), String::new()),
        Orig::Macro(def) if stringizes(def) => stringizing_forms(d, def, names),
        Orig::Macro(def) => macro_forms(d, def),
        _ if d.form.variadic => variadic_forms(d),
        _ => function_forms(d),
    };
    let item = |section, text| Item {
        part: d.part.to_string(),
        section,
        key: d.name.to_string(),
        text,
    };
    [item(2, orig), item(4, forms), item(5, dispatch_text)]
}

/// `PyCtxOrig_NAME`: CPython's expansion calling CPython directly, used by
/// ctx forms and by other CPython macros; and (function-like macros)
/// `PyCtxLegacy_NAME`, the legacy form: CPython's expansion whose nested
/// API calls are themselves legacy calls (through compat), as they would be
/// if the user had written them.
fn macro_copies(d: &Dispatch, def: &Macro, names: &BTreeSet<&str>) -> String {
    let body =
        respell_body(def, names, Some(d.name)).unwrap_or_else(|| def.body_text().to_string());
    let mut t = format!(
        "#define PyCtxOrig_{}{} {}\n",
        d.name,
        def.def().param_list(),
        body
    );
    if def.def().is_function_like() {
        let none = BTreeSet::new();
        let body =
            respell_body(def, &none, Some(d.name)).unwrap_or_else(|| def.body_text().to_string());
        let _ = writeln!(
            t,
            "#define PyCtxLegacy_{}{} {}",
            d.name,
            def.def().param_list(),
            body
        );
    }
    t
}

fn arity(d: &Dispatch) -> usize {
    match &d.orig {
        Orig::Macro(def) => def.def().params.as_ref().map_or(0, Vec::len),
        _ => d.form.params.len(),
    }
}

/// Decide, per table entry, whether and how it is dispatched here.
fn select<'t>(
    table: &'t Table,
    version: &'t str,
    api: Api,
    pre: &Preprocessed,
    guards: &'t BTreeMap<String, String>,
) -> (Vec<Dispatch<'t>>, Vec<Skipped>) {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    let limited = limited_ids(table, version, api);
    for (id, entry, form) in table.for_version(version) {
        let name = entry.name.as_str();
        if !form.has_ctx_form() && !object_like_with_ctx_form(form) {
            continue;
        }
        let part = match &form.needs_include {
            None => "",
            Some(h) if guards.contains_key(h) => h.as_str(),
            Some(h) => {
                skipped.push(Skipped {
                    name: name.to_string(),
                    reason: format!("{h} has no include guard pyctx could find"),
                });
                continue;
            }
        };
        let orig = match original(name, form, pre) {
            // The limited API's names are the table's (stable ABI
            // included), not whatever else its headers declare.
            Ok(Some(_)) if limited.as_ref().is_some_and(|ids| !ids.contains(&id)) => {
                skipped.push(Skipped {
                    name: name.to_string(),
                    reason: "declared under this Py_LIMITED_API, but not in the limited API (not in the stable ABI)".into(),
                });
                continue;
            }
            Ok(Some(orig)) => orig,
            Ok(None) => continue,
            Err(reason) => {
                skipped.push(Skipped {
                    name: name.to_string(),
                    reason,
                });
                continue;
            }
        };
        let real = match &orig {
            Orig::Function
                if form.kind == Kind::Function && !pre.inline_functions.contains(name) =>
            {
                Some(name.to_string())
            }
            Orig::Alias(to)
                if is_identifier(to)
                    && !pre.macros.contains_key(to.as_str())
                    && !pre.inline_functions.contains(to.as_str()) =>
            {
                Some(to.clone())
            }
            _ => None,
        };
        out.push(Dispatch {
            id,
            name,
            form,
            orig,
            dealloc_ok: entry.dealloc_safe || entry.gil_free,
            real,
            fast_paths: api.fast_paths(),
            part,
        });
    }
    drop_aliases(&mut out, &mut skipped);
    (out, skipped)
}

/// The ids a `Py_LIMITED_API` build of `api`'s level may call on `version`
/// (`Table::limited_api`); `None` for the full API, or when the table
/// cannot say (then the headers alone decide, as for the full API).
fn limited_ids(table: &Table, version: &str, api: Api) -> Option<BTreeSet<usize>> {
    let Api::Limited(_, minor) = api else {
        return None;
    };
    let names = table
        .limited_api(version, pyctx_api::LimitedApi { minor })
        .ok()?;
    Some(names.map(|(id, _, _)| id).collect())
}

/// How `name` reaches CPython here: `Ok(None)` when it has no ctx form
/// (syntax macros), `Err(reason)` when it should have one but cannot.
fn original(name: &str, form: &Form, pre: &Preprocessed) -> Result<Option<Orig>, String> {
    let orig = match pre.macros.get(name) {
        Some(def) if def.def().is_function_like() => {
            if def.def().variadic {
                return Err("variadic function-like macro".into());
            }
            if form.kind == Kind::Macro && form.shape == Some(MacroShape::Syntax) {
                return Ok(None);
            }
            Orig::Macro(def.clone())
        }
        Some(def) if form.object_like => {
            let spelled = ctx_spelling(name, form);
            if pre.macros.contains_key(&spelled) || pre.identifiers.contains(&spelled) {
                return Err(format!(
                    "its ctx spelling {spelled} is taken by the headers"
                ));
            }
            Orig::Macro(def.clone())
        }
        Some(def) => {
            // An object-like alias (`#define PyObject_Del PyObject_Free`):
            // dispatchable when the table knows the target's signature.
            if form.kind == Kind::Macro && form.ret.is_empty() {
                return Err("object-like macro whose target has no known C signature".into());
            }
            let body = def.body_text();
            if body.is_empty() {
                return Err("defined to nothing by these headers".into());
            }
            Orig::Alias(body.to_string())
        }
        None if form.kind == Kind::Macro && pre.inline_functions.contains(name) => {
            // A macro elsewhere, only its static inline function here
            // (`Py_XDECREF` under Py_LIMITED_API >= 3.11): dispatched as
            // a macro calling the function, whose parameter types the
            // table does not record.
            let params: Vec<&str> = form.params.iter().map(|p| p.name.as_str()).collect();
            let params = params.join(", ");
            let def = Macro::parse(&format!("{name}({params}) ({name})({params})"))
                .ok_or("its name is not an identifier")?;
            Orig::Macro(def)
        }
        None if form.kind == Kind::Macro => {
            return Err("macro not defined by these headers".into());
        }
        None if !pre.identifiers.contains(name) => {
            return Err("not declared by these headers".into());
        }
        None => Orig::Function,
    };
    if !matches!(orig, Orig::Macro(_)) {
        if form.kind == Kind::Macro && form.ret.is_empty() {
            return Ok(None);
        }
        if form.ret.contains("(*") {
            return Err("returns a function pointer type spelled without a typedef".into());
        }
        if form.variadic {
            if !VARIADIC_SHIM.contains(&format!("pyctx_v_{name}(")) {
                return Err("C-variadic without a va_list body in pyctx_variadic.h".into());
            }
            if form.params.is_empty() {
                return Err("C-variadic without a fixed parameter".into());
            }
        }
    }
    Ok(Some(orig))
}

/// An object-like alias of another dispatched name (`#define PyObject_Del
/// PyObject_Free`) stays CPython's macro: calls in either form reach the
/// target's dispatch, and the name keeps working without parentheses
/// (`tp_free = PyObject_Del`), which a function-like macro would break.
/// Of two aliases of one function, the first (by name) dispatches it.
fn drop_aliases(out: &mut Vec<Dispatch>, skipped: &mut Vec<Skipped>) {
    let dispatched: BTreeSet<String> = out.iter().map(|d| d.name.to_string()).collect();
    out.retain(|d| match &d.orig {
        Orig::Alias(to) if dispatched.contains(to.as_str()) && to != d.name => {
            skipped.push(Skipped {
                name: d.name.to_string(),
                reason: format!("alias of {to}: left as CPython's macro, dispatched through {to}"),
            });
            false
        }
        _ => true,
    });
    let mut spelled = BTreeSet::new();
    out.retain(|d| {
        if spelled.insert(d.spelled().to_string()) {
            return true;
        }
        skipped.push(Skipped {
            name: d.name.to_string(),
            reason: format!("alias of {}, which another name dispatches", d.spelled()),
        });
        false
    });
}

/// Re-spell a macro body so calls of dispatched names reach CPython's own
/// meaning: `NAME(` becomes `PyCtxOrig_NAME(`, and the macro's own name
/// (CPython's "cast then call the inline function" idiom) becomes `(NAME)(`.
/// Returns `None` when nothing needs to change.
fn respell_body(def: &Macro, dispatched: &BTreeSet<&str>, own: Option<&str>) -> Option<String> {
    let params: BTreeSet<&str> = def
        .def()
        .params
        .iter()
        .flatten()
        .map(String::as_str)
        .collect();
    let body = def.body_text();
    let toks = code_tokens(body);
    let mut out = String::with_capacity(body.len() + 32);
    let mut changed = false;
    let mut at = 0;
    for (i, t) in toks.iter().enumerate() {
        // The text between tokens (spaces, comments) stays as it is.
        out.push_str(&body[at..t.start()]);
        at = t.end();
        let id = &body[t.start()..t.end()];
        let next_is_paren = toks.get(i + 1).is_some_and(|n| n.kind == Tok::Punct(b'('));
        let prev_is_hash = i > 0 && toks[i - 1].kind == Tok::Punct(b'#');
        if t.kind == Tok::Ident && next_is_paren && !prev_is_hash && !params.contains(id) {
            if Some(id) == own {
                let _ = write!(out, "({id})");
                changed = true;
                continue;
            }
            if dispatched.contains(id) {
                let _ = write!(out, "PyCtxOrig_{id}");
                changed = true;
                continue;
            }
        }
        out.push_str(id);
    }
    out.push_str(&body[at..]);
    changed.then_some(out)
}

/// The tokens of a macro body's text, comments left out.
fn code_tokens(body: &str) -> Vec<Token> {
    lex_lang(body.as_bytes(), Lang::C)
        .into_iter()
        .filter(|t| !matches!(t.kind, Tok::Comment | Tok::Newline))
        .collect()
}

/// A C declarator: `TYPE name`, with function-pointer and array types
/// spelled the way C wants the name placed inside them.
fn declarator(ty: &str, name: &str) -> String {
    let ty = ty.trim();
    if let Some(pos) = ty.find("(*)") {
        return format!("{}(*{}){}", &ty[..pos], name, &ty[pos + 3..]);
    }
    if let Some(pos) = ty.find('[') {
        return format!("{}{}", declarator(&ty[..pos], name), &ty[pos..]);
    }
    if ty.ends_with('*') {
        format!("{ty}{name}")
    } else {
        format!("{ty} {name}")
    }
}

fn arg_names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("pyctx_a{i}")).collect()
}

/// Argument names and declarations of a function's fixed parameters.
fn c_params(d: &Dispatch) -> (Vec<String>, Vec<String>) {
    let args = arg_names(d.form.params.len());
    let decls = d
        .form
        .params
        .iter()
        .zip(&args)
        .map(|(p, a)| declarator(&p.ty, a))
        .collect();
    (args, decls)
}

/// The ctx form of a fixed-arity function, in C (an inline function and the
/// dispatch macro) and in C++ (an overload of the name).
fn function_forms(d: &Dispatch) -> (String, String) {
    let check = d.check();
    let name = d.name;
    let id = d.id;
    let (args, decls) = c_params(d);
    let ret = d.form.ret.trim();
    let ret_kw = if ret == "void" { "" } else { "return " };
    let ctx_call = ctx_call(d, &args);
    let mut ctx_params = vec![
        "const char *pyctx_caller".to_string(),
        "PyCtx pyctx_c".to_string(),
    ];
    ctx_params.extend(decls.iter().cloned());
    // The ctx form takes the caller's name for error messages; the legacy
    // form is the name itself, untouched (a call, a redeclaration, CPython's
    // own macros all mean what they mean without pyctx), and compat sees
    // it through the extension's call slots. Always inline: the form is a
    // bit test and the call it stands for, and an out-of-line copy (which
    // GCC makes in a large unit once its growth limit is reached: migrated
    // regex called `pyctx_ctx_PyMem_Free` from 53 sites) turns one call
    // of the plain build into two.
    let c_forms = format!(
        "static inline PYCTX__ALWAYS_INLINE {ret} pyctx_ctx_{name}({cp}) {{ {check}(pyctx_caller, pyctx_c, {id}u); {ret_kw}{ctx_call}; }}\n\
         #define pyctx_ctxc_{name}(...) pyctx_ctx_{name}(__func__, __VA_ARGS__)\n",
        cp = ctx_params.join(", "),
    );
    let spelled = d.spelled();
    let mut cxx_params = vec!["PyCtx pyctx_c".to_string()];
    cxx_params.extend(cxx_params_of(d, &args));
    cxx_params.push("const char *pyctx_caller = __builtin_FUNCTION()".to_string());
    let cxx_forms = format!(
        "namespace pyctx {{ static inline PYCTX__ALWAYS_INLINE PYCTX__RET({spelled}) {spelled}({cp}) {{ {check}(pyctx_caller, pyctx_c, {id}u); {ret_kw}{cxx_call}; }} }}\n",
        cp = cxx_params.join(", "),
        cxx_call = cxx_call(d, &args),
    );
    let undef = undef_line(d);
    let n = args.len();
    let dispatch = if n == 0 {
        format!(
            "{undef}#define {spelled}(...) PYCTX__SEL0(__VA_ARGS__)(pyctx_ctxc_{name}(__VA_ARGS__), {spelled}(__VA_ARGS__))\n"
        )
    } else {
        format!(
            "{undef}#define {spelled}(...) PYCTX__SEL{n}(__VA_ARGS__, pyctx_ctxc_{name}, {spelled}, ~)(__VA_ARGS__)\n"
        )
    };
    (c_or_cxx(&c_forms, &cxx_forms), c_only(&dispatch))
}

/// What a function's ctx form calls: its fast path, or CPython's function.
fn ctx_call(d: &Dispatch, args: &[String]) -> String {
    if d.fast_paths && has_fast_path(d.name) {
        let mut a = vec!["pyctx_c".to_string()];
        a.extend(args.iter().cloned());
        format!("pyctx_fast_{}({})", d.name, a.join(", "))
    } else {
        format!("PyCtxOrig_{}({})", d.name, args.join(", "))
    }
}

/// What a function's C++ overload calls: as [`ctx_call`], with CPython's
/// function named from the global namespace (inside namespace pyctx the
/// bare name is the overload itself).
fn cxx_call(d: &Dispatch, args: &[String]) -> String {
    match (&d.real, d.fast_paths && has_fast_path(d.name)) {
        (_, true) | (Some(_), false) => ctx_call(d, args),
        (None, false) => format!("(::{})({})", d.spelled(), args.join(", ")),
    }
}

/// The C++ overload's parameters after the context: typed as CPython's own
/// C++ declaration types them (`PYCTX__PARAM`), which may differ from the
/// C spelling the table records.
fn cxx_params_of(d: &Dispatch, args: &[String]) -> Vec<String> {
    let spelled = d.spelled();
    args.iter()
        .enumerate()
        .map(|(i, a)| format!("PYCTX__PARAM({spelled}, {i}) {a}"))
        .collect()
}

fn c_or_cxx(c: &str, cxx: &str) -> String {
    format!("#ifdef __cplusplus\n{cxx}#else\n{c}#endif\n")
}

fn c_only(c: &str) -> String {
    format!("#ifndef __cplusplus\n{c}#endif\n")
}

/// `#undef NAME` before a dispatch macro replaces CPython's macro of that
/// name; an alias keeps CPython's macro and dispatches its target, which
/// no macro names.
fn undef_line(d: &Dispatch) -> String {
    match d.orig {
        Orig::Alias(_) => String::new(),
        _ => format!("#undef {}\n", d.name),
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The ctx form of a C-variadic function: it drops the context and hands
/// the variable arguments as a `va_list` to `pyctx_v_NAME`
/// (pyctx_variadic.h). In C the dispatch macro runs the check (it knows
/// the caller and whether the call is legacy) and picks the form by the
/// first argument's type; in C++ the overload runs it, and its context
/// parameter, a `PyCtx_At`, brings the caller's name along.
fn variadic_forms(d: &Dispatch) -> (String, String) {
    let name = d.name;
    let id = d.id;
    let (args, decls) = c_params(d);
    let ret = d.form.ret.trim();
    let last = args.last().expect("variadic has a fixed parameter");
    // A fast path that wants the context (pyctx_fastv_NAME in pyctx_fast.h)
    // gets it before the arguments; the va_list body does without.
    let body = if d.fast_paths && FAST_PATHS.contains(&format!("pyctx_fastv_{name}(PyCtx ctx")) {
        format!("pyctx_fastv_{name}({{ctx}}, ")
    } else {
        format!("pyctx_v_{name}(")
    };
    let forward = format!(
        "va_list pyctx_va; va_start(pyctx_va, {last}); {{r}}{body}{a}, pyctx_va); va_end(pyctx_va);",
        a = args.join(", ")
    );
    // (C++: `auto`, since the name is overloaded inside its own body.)
    let (c_forward, cxx_forward) = (
        forward.replace("{ctx}", "pyctx_c"),
        forward.replace("{ctx}", "pyctx_c.ctx"),
    );
    let (c_body, cxx_body) = if ret == "void" {
        (c_forward.replace("{r}", ""), cxx_forward.replace("{r}", ""))
    } else {
        (
            format!(
                "{ret} pyctx_r; {} return pyctx_r;",
                c_forward.replace("{r}", "pyctx_r = ")
            ),
            format!(
                "{} return pyctx_r;",
                cxx_forward.replace("{r}", "auto pyctx_r = ")
            ),
        )
    };
    let c_forms = format!(
        "static inline {ret} pyctx_ctx_{name}(PyCtx pyctx_c, {p}, ...) {{ (void)pyctx_c; {c_body} }}\n",
        p = decls.join(", "),
    );
    let spelled = d.spelled();
    let cxx_forms = format!(
        "namespace pyctx {{ static inline PYCTX__RET({spelled}) {spelled}(PyCtx_At pyctx_c, {p}, ...) {{ {check}(pyctx_c.caller, pyctx_c.ctx, {id}u); {b} }} }}\n",
        check = d.check(),
        p = cxx_params_of(d, &args).join(", "),
        b = cxx_body,
    );
    let undef = undef_line(d);
    let dispatch = format!(
        "{undef}#define {spelled}(...) (PYCTX__VCHECK({id}u, __VA_ARGS__), __extension__ _Generic(PYCTX__FIRST(__VA_ARGS__), PyCtx: pyctx_ctx_{name}, default: {spelled})(__VA_ARGS__))\n"
    );
    (c_or_cxx(&c_forms, &cxx_forms), c_only(&dispatch))
}

/// The ctx form of an object-like macro that acts (`PyDateTime_IMPORT`):
/// the function-like `NAME_CTX(ctx)` runs the check, then CPython's
/// expansion with its nested API calls reaching CPython directly. The name
/// itself stays CPython's macro (the legacy form).
fn object_like_forms(d: &Dispatch) -> String {
    let spelled = ctx_spelling(d.name, d.form);
    let check = format!("{}(__func__, (pyctx_c), {}u)", d.check(), d.id);
    if matches!(d.form.shape, Some(MacroShape::Stmt)) {
        format!(
            "#define {spelled}(pyctx_c) do {{ {check}; PyCtxOrig_{}; }} while (0)\n",
            d.name
        )
    } else {
        format!(
            "#define {spelled}(pyctx_c) ({check}, PyCtxOrig_{})\n",
            d.name
        )
    }
}

fn macro_forms(d: &Dispatch, def: &Macro) -> (String, String) {
    let check = d.check();
    let name = d.name;
    let id = d.id;
    let params = def.def().params.clone().unwrap_or_default();
    let n = params.len();
    let plist = params.join(", ");
    let stmt = matches!(d.form.shape, Some(MacroShape::Stmt)) || def.body_text().starts_with("do");
    let mut ctx_params = vec!["pyctx_c".to_string()];
    ctx_params.extend(params.iter().cloned());
    // A hand-written fast path (pyctx_fastm_NAME in pyctx_fast.h) replaces
    // CPython's expansion in the ctx form.
    let target = if d.fast_paths && FAST_PATHS.contains(&format!("#define pyctx_fastm_{name}(")) {
        let mut a = vec!["(pyctx_c)".to_string()];
        a.extend(params.iter().cloned());
        format!("pyctx_fastm_{name}({})", a.join(", "))
    } else {
        format!("PyCtxOrig_{name}({plist})")
    };
    let forms = if stmt {
        format!(
            "#define pyctx_ctxm_{name}({cp}) do {{ {check}(__func__, (pyctx_c), {id}u); {target}; }} while (0)\n",
            cp = ctx_params.join(", ")
        )
    } else {
        format!(
            "#define pyctx_ctxm_{name}({cp}) ({check}(__func__, (pyctx_c), {id}u), {target})\n",
            cp = ctx_params.join(", ")
        )
    };
    // The legacy form of a macro is CPython's expansion itself (lvalues such
    // as `Py_SIZE(o) = n` on 3.9 keep working).
    let dispatch = if n == 0 {
        format!(
            "#undef {name}\n#define {name}(...) PYCTX__SEL0(__VA_ARGS__)(pyctx_ctxm_{name}(__VA_ARGS__), PyCtxLegacy_{name}())\n"
        )
    } else {
        format!(
            "#undef {name}\n#define {name}(...) PYCTX__SEL{n}(__VA_ARGS__, pyctx_ctxm_{name}, PyCtxLegacy_{name}, ~)(__VA_ARGS__)\n"
        )
    };
    (forms, dispatch)
}

/// Does a macro body stringify (`#p`) or paste (`p ## x`) a parameter?
/// Such a macro sees its arguments as written, which a dispatch macro
/// passing them on (and so expanding them first) would change.
fn stringizes(def: &Macro) -> bool {
    let params: BTreeSet<&str> = def
        .def()
        .params
        .iter()
        .flatten()
        .map(String::as_str)
        .collect();
    let body = def.body_text();
    let toks = join_punctuators(body.as_bytes(), &code_tokens(body));
    let text = |t: &Token| &body[t.start()..t.end()];
    toks.iter().enumerate().any(|(i, t)| {
        let is_param =
            t.kind == Tok::Ident && (params.contains(text(t)) || text(t) == "__VA_ARGS__");
        let before = i.checked_sub(1).map(|j| text(&toks[j]));
        let after = toks.get(i + 1).map(text);
        is_param && (matches!(before, Some("#" | "##")) || after == Some("##"))
    })
}

/// `body` with each parameter renamed as `map` says (`#p` and `p ## x`
/// keep applying to the renamed parameter).
fn rename_params(body: &str, map: &BTreeMap<&str, String>) -> String {
    let mut out = String::with_capacity(body.len() + 32);
    let mut at = 0;
    for t in code_tokens(body) {
        let word = &body[t.start()..t.end()];
        out.push_str(&body[at..t.start()]);
        at = t.end();
        match map.get(word).filter(|_| t.kind == Tok::Ident) {
            Some(to) => out.push_str(to),
            None => out.push_str(word),
        }
    }
    out.push_str(&body[at..]);
    out
}

/// Forms of a macro that stringifies or pastes a parameter
/// (`PyModule_AddIntMacro(m, c)` registers `#c`): one dispatch macro with
/// the macro's own parameters plus `...` receives the arguments as written
/// and expands both spellings from them — `NAME(a, b)`: CPython's body with
/// `a, b`; `NAME(ctx, a, b)`: the check of `ctx`, then the body with `a`
/// and the variable part `b` — and `PYCTX__PICK` keeps the one the call
/// spelled.
fn stringizing_forms(d: &Dispatch, def: &Macro, dispatched: &BTreeSet<&str>) -> (String, String) {
    let name = d.name;
    let params = def.def().params.clone().unwrap_or_default();
    let n = params.len();
    let q: Vec<String> = (1..=n).map(|i| format!("pyctx_q{i}")).collect();
    let legacy_map: BTreeMap<&str, String> = params
        .iter()
        .map(String::as_str)
        .zip(q.iter().cloned())
        .collect();
    let mut ctx_map: BTreeMap<&str, String> = BTreeMap::new();
    for (i, p) in params.iter().enumerate() {
        let to = q
            .get(i + 1)
            .cloned()
            .unwrap_or_else(|| "__VA_ARGS__".to_string());
        ctx_map.insert(p.as_str(), to);
    }
    let none = BTreeSet::new();
    let legacy_body =
        respell_body(def, &none, Some(name)).unwrap_or_else(|| def.body_text().to_string());
    let ctx_body =
        respell_body(def, dispatched, Some(name)).unwrap_or_else(|| def.body_text().to_string());
    let legacy = rename_params(&legacy_body, &legacy_map);
    let body = rename_params(&ctx_body, &ctx_map);
    let check = format!("{}(__func__, (pyctx_q1), {}u)", d.check(), d.id);
    let stmt = matches!(d.form.shape, Some(MacroShape::Stmt)) || def.body_text().starts_with("do");
    let ctx = if stmt {
        format!("do {{ {check}; {body}; }} while (0)")
    } else {
        format!("({check}, {body})")
    };
    let dispatch = format!(
        "#undef {name}\n#define {name}({}, ...) PYCTX__PICK(PYCTX__IS_BLANK(__VA_ARGS__), ({legacy}), ({ctx})) PYCTX__ALLOW_EMPTY(~, ## __VA_ARGS__)\n",
        q.join(", ")
    );
    (String::new(), dispatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declarators_place_the_name() {
        assert_eq!(declarator("PyObject *", "a"), "PyObject *a");
        assert_eq!(declarator("int", "a"), "int a");
        assert_eq!(declarator("void (*)(void *)", "f"), "void (*f)(void *)");
        assert_eq!(declarator("char *[]", "v"), "char *v[]");
    }

    fn def(name: &str, params: &[&str], body: &str) -> Macro {
        Macro::parse(&format!("{name}({}) {body}", params.join(", "))).unwrap()
    }

    /// A table of four names: a function and a macro of Python.h, a macro
    /// and an acting object-like macro of `extra.h`, and one name of a
    /// header without an include guard.
    fn small_table() -> Table {
        let form = |kind: &str, extra: &str| {
            format!(
                "{{\"versions\": [\"3.12\"], \"kind\": \"{kind}\", \"variadic\": false, \"header\": \"h.h\", {extra}}}"
            )
        };
        let entry =
            |name: &str, form: String| format!("{{\"name\": \"{name}\", \"forms\": [{form}]}}");
        let entries = [
            entry("PyT_Fn", form("function", "\"ret\": \"int\", \"params\": [{\"name\": \"a0\", \"type\": \"PyObject *\"}], \"exported\": true")),
            entry("PyT_Import", form("macro", "\"params\": [], \"shape\": \"expr\", \"object_like\": true, \"needs_include\": \"extra.h\"")),
            entry("PyT_Macro", form("macro", "\"params\": [{\"name\": \"o\"}], \"shape\": \"expr\", \"needs_include\": \"extra.h\"")),
            entry("PyT_Unguarded", form("function", "\"ret\": \"int\", \"params\": [], \"exported\": true, \"needs_include\": \"noguard.h\"")),
        ];
        let json = format!(
            "{{\"schema\": {}, \"generated_from\": {{}}, \"entries\": [{}], \"stable_abi\": {{}}}}",
            pyctx_api::SCHEMA_VERSION,
            entries.join(", ")
        );
        serde_json::from_str(&json).unwrap()
    }

    fn small_headers() -> Preprocessed {
        let defines = "#define PyT_Import api = PyT_Fn(0)\n#define PyT_Macro(o) PyT_Fn(o)\n";
        Preprocessed {
            macros: crate::cpp::parse_defines(defines),
            identifiers: ["PyT_Fn", "PyT_Unguarded"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            inline_functions: Default::default(),
        }
    }

    #[test]
    fn extra_headers_get_guarded_parts_and_cxx_overloads() {
        let table = small_table();
        let pre = small_headers();
        let guards: BTreeMap<String, String> =
            [("extra.h".to_string(), "EXTRA_H".to_string())].into();
        let headers = Headers {
            plain: &pre,
            clean: &pre,
            guards: &guards,
        };
        let gen = generate(&table, "3.12", Api::Full, &headers);
        let text = &gen.text;
        let main_end = text.find("#endif /* PYCTX_API_FULL_H */").unwrap();
        let part = text
            .find("#if defined(EXTRA_H) && !defined(PYCTX_API_FULL_H_EXTRA_H)")
            .unwrap();
        assert!(main_end < part, "{text}");
        // Python.h's function: a C dispatch macro and a C++ overload in
        // namespace pyctx naming its caller; both before the main guard ends.
        let overload = text.find("namespace pyctx { static inline PYCTX__ALWAYS_INLINE PYCTX__RET(PyT_Fn) PyT_Fn(PyCtx pyctx_c, PYCTX__PARAM(PyT_Fn, 0) pyctx_a0, const char *pyctx_caller = __builtin_FUNCTION())").unwrap();
        let dispatch = text.find("#define PyT_Fn(...) PYCTX__SEL1(").unwrap();
        assert!(overload < main_end && dispatch < main_end, "{text}");
        assert!(
            text[..dispatch].ends_with("#ifndef __cplusplus\n#undef PyT_Fn\n"),
            "{text}"
        );
        // extra.h's names in its part: the macro dispatched, the object-like
        // one spelled NAME_CTX, both calling CPython's function directly.
        let extra = &text[part..];
        assert!(
            extra.contains("#define PyT_Macro(...) PYCTX__SEL1("),
            "{extra}"
        );
        assert!(
            extra.contains("#define PyCtxOrig_PyT_Import api = PyCtxOrig_PyT_Fn(0)\n"),
            "{extra}"
        );
        assert!(extra.contains("#define PyT_Import_CTX(pyctx_c) (pyctx__check(__func__, (pyctx_c), 1u), PyCtxOrig_PyT_Import)\n"), "{extra}");
        assert!(!extra.contains("#define PyT_Import("), "{extra}");
        // a header whose guard is unknown: reported, not generated
        assert!(!text.contains("PyT_Unguarded"), "{text}");
        assert_eq!(
            gen.skipped,
            [Skipped {
                name: "PyT_Unguarded".into(),
                reason: "noguard.h has no include guard pyctx could find".into()
            }]
        );
        assert_eq!(
            ctx_spelling("PyT_Import", &table.entries[1].forms[0]),
            "PyT_Import_CTX"
        );
        assert_eq!(
            ctx_spelling("PyT_Macro", &table.entries[2].forms[0]),
            "PyT_Macro"
        );
    }

    #[test]
    fn respelling_keeps_cpython_calls_direct() {
        let names: BTreeSet<&str> = ["Py_DECREF", "PyNumber_Add"].into_iter().collect();
        let d = def(
            "Py_XDECREF",
            &["op"],
            "do { if (op) Py_DECREF(op); } while (0)",
        );
        assert_eq!(
            respell_body(&d, &names, None).unwrap(),
            "do { if (op) PyCtxOrig_Py_DECREF(op); } while (0)"
        );
        // own name: the inline function of the same name
        let d = def("Py_DECREF", &["op"], "Py_DECREF(_PyObject_CAST(op))");
        assert_eq!(
            respell_body(&d, &names, Some("Py_DECREF")).unwrap(),
            "(Py_DECREF)(_PyObject_CAST(op))"
        );
        // parameters, strings, non-calls and stringising stay
        let d = def(
            "M",
            &["PyNumber_Add"],
            "PyNumber_Add(x) + \"Py_DECREF(\" + Py_DECREF + #Py_DECREF",
        );
        assert_eq!(respell_body(&d, &names, None), None);
    }
}
