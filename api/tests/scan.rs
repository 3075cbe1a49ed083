//! The generator on small synthetic headers written for these tests: what it
//! collects (functions, static inline, macros, aliases), the macro-shape
//! rules, and the merge of versions. Needs libclang (fails clearly without).

use pyctx_api::generate::scan::Scan;
use pyctx_api::generate::shape::{self, Decision};
use pyctx_api::{Form, Kind, MacroShape};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A throw-away include dir holding `files` (relative path -> text).
struct IncludeDir(PathBuf);

impl IncludeDir {
    fn new(tag: &str, files: &[(&str, &str)]) -> IncludeDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("pyctx-api-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (rel, text) in files {
            let p = dir.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        IncludeDir(dir)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for IncludeDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const PYPORT: &str = "\
#define Py_EXPORTED_SYMBOL __attribute__ ((visibility (\"default\")))
#ifndef PyAPI_FUNC
#  define PyAPI_FUNC(RTYPE) Py_EXPORTED_SYMBOL RTYPE
#endif
#ifndef PyAPI_DATA
#  define PyAPI_DATA(RTYPE) extern Py_EXPORTED_SYMBOL RTYPE
#endif
";

const PYCONFIG: &str = "#define HAVE_THING(x) 1\n";

const SUB: &str = "\
PyAPI_FUNC(Py_ssize_t) PyT_Size(PyObject *op);
static inline int PyT_Inline(PyObject *op) { return op->ob_refcnt > 0; }
";

const TEST_H: &str = r#"
#include "pyconfig.h"
#include "pyport.h"
typedef long Py_ssize_t;
typedef struct _object { Py_ssize_t ob_refcnt; struct _typeobject *ob_type; } PyObject;
#include "cpython/sub.h"

PyAPI_FUNC(PyObject *) PyT_New(int size);
PyAPI_FUNC(void) PyT_Free(void *);
PyAPI_FUNC(int) PyT_Parse(PyObject *, const char *, ...);
PyAPI_FUNC(int) PyT_NoArgs(void);
PyAPI_FUNC(int) PyT_Named(PyObject *m, const char *name);
PyAPI_FUNC(int) _PyT_Private(PyObject *op);
PyAPI_DATA(PyObject) _PyT_NoneStruct;
PyAPI_DATA(const unsigned int) _PyT_table[256];
int PyT_NotApi(int);
static inline int _PyT_PrivInline(PyObject *op) { return op != 0; }
static inline PyObject *PyT_SELF(PyObject *op) { return op; }
static int PyT_StaticNotInline(int x) { return x; }

#define _PyT_CAST(op) ((PyObject *)(op))
#define PyT_NONE_OBJ (&_PyT_NoneStruct)

#define PyT_EMPTY(x)
#define PyT_STMT(op) do { PyT_Free(op); } while (0)
#define PyT_STMT_PLAIN(x) do { (x) = 0; } while (0)
#define PyT_DO_IF(x) do if (x) { PyT_Free(x); } while (0)
#define PyT_VARIADIC(...) PyT_New(__VA_ARGS__)
#define PyT_PASTE(x) x ## _suffix
#define PyT_INIT(t) { 1, t },
#define PyT_OPEN(op) {
#define PyT_CLOSE() }
#define PyT_DECL(name) PyObject name;
#define PyT_STATIC(t) static t
#define PyT_INTDECL(n) int n
#define PyT_ATTR(x) __attribute__((aligned(x)))
#define PyT_USES_DECL(n) PyT_STATIC(int) n
#define PyT_LIST(V) V(A) V(B)
#define PyT_REFCNT(op) (_PyT_CAST(op)->ob_refcnt)
#define PyT_CALL(x) PyT_New(x)
#define PyT_PRIVATE_CALL(x) _PyT_Private(x)
#define PyT_INLINE_CALL(x) _PyT_PrivInline(x)
#define PyT_NONE() (&_PyT_NoneStruct)
#define PyT_CAST_ONLY(x) ((PyObject *)(x))
#define PyT_TRANSITIVE(x) PyT_CALL(x)
#define PyT_VIA_OBJLIKE(x) (PyT_NONE_OBJ == (x))
#define PyT_STRINGIZE(x) #x
#define PyT_ADD_MACRO(m, c) PyT_Named((m), #c)
#define PyT_MIN(a, b) ((a) < (b) ? (a) : (b))
#define PyT_SIZEOF_MEMBER(t, m) sizeof(((t *)0)->m)
#define PyT_CTYPE(c) (_PyT_table[(unsigned char)(c)])
#define PyT_PARAM_SHADOWS(PyObject) ((PyObject) + 1)
#define PyT_SELF(op) PyT_SELF(_PyT_CAST(op))
#define PyT_Size(op) PyT_Size(_PyT_CAST(op))
#define PyT_ALIAS PyT_Free
#define PyT_ALIAS2 (PyT_ALIAS)
#define PyT_MACRO_ALIAS PyT_MIN
#define PyT_CONST_ALIAS PyT_NOT_A_FUNCTION
#define PyT_GONE(x) PyT_New(x)
#undef PyT_GONE
#define PyT_REDEF(x) (x)
#undef PyT_REDEF
#define PyT_REDEF(x) PyT_New(x)
#ifdef PY_SSIZE_T_CLEAN
#define PyT_Parse _PyT_Parse_SizeT
#endif
PyAPI_FUNC(int) _PyT_Parse_SizeT(PyObject *, const char *, ...);
#if !defined(Py_LIMITED_API) || Py_LIMITED_API+0 >= 0x030a0000
PyAPI_FUNC(int) PyT_Since310(void);
#endif
#define PyT_IMPORT PyT_Api = PyT_New(0)
#define PyT_RETURN_NEW return PyT_New(0)
#define PyT_RETURN_ZERO return 0
#define PyT_VALUE _PyT_CAST(&_PyT_NoneStruct)
"#;

const EXTRA_H: &str = "\
PyAPI_FUNC(int) PyT_Extra(void);
#define PyT_EXTRA_MACRO(x) PyT_Extra()
";

/// Named like one of the generator's functions-only headers.
const TOKEN_H: &str = "\
PyAPI_FUNC(int) PyToken_One(int);
#define ISEOF(x) ((x) == 0)
#define TYPE(n) ((n)->n_type)
";

fn fixture(tag: &str) -> IncludeDir {
    IncludeDir::new(
        tag,
        &[
            ("pyport.h", PYPORT),
            ("pyconfig.h", PYCONFIG),
            ("cpython/sub.h", SUB),
            ("test.h", TEST_H),
            ("extra.h", EXTRA_H),
            ("token.h", TOKEN_H),
        ],
    )
}

fn scan(dir: &IncludeDir) -> Scan {
    Scan::run(dir.path(), "#include <test.h>\n", &[]).unwrap_or_else(|e| panic!("{e:#}"))
}

fn decisions() -> BTreeMap<String, Decision> {
    let dir = fixture("shapes");
    shape::classify_explained(&scan(&dir))
}

#[track_caller]
fn assert_shape(d: &BTreeMap<String, Decision>, name: &str, shape: MacroShape, rule: u8) {
    let got = d
        .get(name)
        .unwrap_or_else(|| panic!("{name} not classified"));
    assert_eq!((got.shape, got.rule), (shape, rule), "{name}");
}

#[test]
fn shape_rules_each_decide_their_case() {
    use MacroShape::*;
    let d = decisions();
    assert_shape(&d, "PyT_EMPTY", Syntax, 2);
    assert_shape(&d, "PyT_STMT", Stmt, 3);
    assert_shape(&d, "PyT_DO_IF", Stmt, 3);
    assert_shape(&d, "PyT_STMT_PLAIN", Utility, 3);
    assert_shape(&d, "PyT_RETURN_NEW", Stmt, 3);
    assert_shape(&d, "PyT_RETURN_ZERO", Utility, 3);
    assert_shape(&d, "PyT_VARIADIC", Syntax, 4);
    assert_shape(&d, "PyT_PASTE", Syntax, 5);
    assert_shape(&d, "PyT_INIT", Syntax, 6);
    assert_shape(&d, "PyT_OPEN", Syntax, 6);
    assert_shape(&d, "PyT_CLOSE", Syntax, 6);
    assert_shape(&d, "PyT_DECL", Syntax, 7);
    assert_shape(&d, "PyT_STATIC", Syntax, 8);
    assert_shape(&d, "PyT_INTDECL", Syntax, 8);
    assert_shape(&d, "PyT_ATTR", Syntax, 8);
    assert_shape(&d, "PyT_USES_DECL", Syntax, 9);
    assert_shape(&d, "PyT_LIST", Syntax, 10);
    assert_shape(&d, "PyT_STRINGIZE", Syntax, 12);
    assert_shape(&d, "PyT_MIN", Utility, 13);
}

#[test]
fn vm_touch_is_derived_from_the_headers() {
    use MacroShape::*;
    let d = decisions();
    assert_shape(&d, "PyT_REFCNT", Expr, 11); // `->`
    assert_shape(&d, "PyT_CALL", Expr, 11); // PyAPI_FUNC
    assert_shape(&d, "PyT_PRIVATE_CALL", Expr, 11); // private PyAPI_FUNC
    assert_shape(&d, "PyT_INLINE_CALL", Expr, 11); // private static inline
    assert_shape(&d, "PyT_NONE", Expr, 11); // PyAPI_DATA variable
    assert_shape(&d, "PyT_CAST_ONLY", Expr, 11); // record typedef
    assert_shape(&d, "PyT_TRANSITIVE", Expr, 11); // expr macro
    assert_shape(&d, "PyT_VIA_OBJLIKE", Expr, 11); // object-like expr macro
    assert_shape(&d, "PyT_ADD_MACRO", Expr, 11); // `#` but a VM call
    assert_shape(&d, "PyT_SELF", Expr, 11); // self-named inline
                                            // Not VM: unevaluated operands, const tables, names shadowed by params.
    assert_shape(&d, "PyT_SIZEOF_MEMBER", Utility, 13);
    assert_shape(&d, "PyT_CTYPE", Utility, 13);
    assert_shape(&d, "PyT_PARAM_SHADOWS", Utility, 13);
}

#[test]
fn collects_public_functions_inline_and_macros() {
    let dir = fixture("collect");
    let forms = scan(&dir).forms();
    let f = |n: &str| forms.get(n).unwrap_or_else(|| panic!("{n} missing"));

    let new = f("PyT_New");
    assert_eq!(
        (new.kind, new.ret.as_str(), new.variadic),
        (Kind::Function, "PyObject *", false)
    );
    assert_eq!(new.header, "test.h");
    assert_eq!(new.params.len(), 1);
    assert_eq!(
        (new.params[0].name.as_str(), new.params[0].ty.as_str()),
        ("size", "int")
    );

    let parse = f("PyT_Parse");
    assert!(parse.variadic);
    let names: Vec<&str> = parse.params.iter().map(|p| p.name.as_str()).collect();
    let types: Vec<&str> = parse.params.iter().map(|p| p.ty.as_str()).collect();
    assert_eq!(names, ["a0", "a1"]);
    assert_eq!(types, ["PyObject *", "const char *"]);
    assert!(f("PyT_NoArgs").params.is_empty());
    assert_eq!(f("PyT_Free").params[0].name, "a0");

    let inline = f("PyT_Inline");
    assert_eq!(
        (inline.kind, inline.header.as_str()),
        (Kind::Inline, "cpython/sub.h")
    );

    for absent in [
        "_PyT_Private",
        "_PyT_PrivInline",
        "PyT_NotApi",
        "PyT_StaticNotInline",
        "_PyT_CAST",
        "HAVE_THING",
        "PyT_GONE",
    ] {
        assert!(
            !forms.contains_key(absent),
            "{absent} should not be in the table"
        );
    }
    assert!(
        !forms.contains_key("PyT_NONE_OBJ"),
        "object-like non-alias macros are not API"
    );

    // A function and a function-like macro of the same name: the macro.
    let size = f("PyT_Size");
    assert_eq!(
        (size.kind, size.also_function, size.shape),
        (Kind::Macro, true, Some(MacroShape::Expr))
    );
    assert_eq!(size.params[0].name, "op");
    assert!(size.ret.is_empty() && size.params[0].ty.is_empty());
    assert!(f("PyT_SELF").also_function);
    assert!(!f("PyT_CALL").also_function);

    // `#undef` then `#define` again: the last definition counts.
    assert_eq!(f("PyT_REDEF").shape, Some(MacroShape::Expr));

    // PyAPI_FUNC itself is recorded from pyport.h despite our -D.
    let pyapi = f("PyAPI_FUNC");
    assert_eq!(
        (pyapi.kind, pyapi.shape, pyapi.header.as_str()),
        (Kind::Macro, Some(MacroShape::Syntax), "pyport.h")
    );
}

#[test]
fn object_like_aliases_carry_their_targets_signature() {
    let dir = fixture("alias");
    let forms = scan(&dir).forms();
    let alias = &forms["PyT_ALIAS"];
    assert_eq!(
        (alias.kind, alias.shape),
        (Kind::Macro, Some(MacroShape::Expr))
    );
    assert_eq!(alias.alias_of.as_deref(), Some("PyT_Free"));
    assert_eq!(
        (alias.ret.as_str(), alias.params[0].ty.as_str()),
        ("void", "void *")
    );
    // Chains resolve to the final target's signature; alias_of is the direct one.
    let alias2 = &forms["PyT_ALIAS2"];
    assert_eq!(alias2.alias_of.as_deref(), Some("PyT_ALIAS"));
    assert_eq!(alias2.ret, "void");
    let m = &forms["PyT_MACRO_ALIAS"];
    assert_eq!((m.shape, m.params.len()), (Some(MacroShape::Utility), 2));
    assert!(!forms.contains_key("PyT_CONST_ALIAS"));
}

fn form(kind: Kind, ret: &str, header: &str) -> Form {
    Form {
        ret: ret.to_string(),
        ..Form::new(kind, header)
    }
}

#[test]
fn merge_groups_identical_forms_in_version_order() {
    let v = |pairs: &[(&str, Form)]| {
        pairs
            .iter()
            .map(|(n, f)| (n.to_string(), f.clone()))
            .collect()
    };
    let a = form(Kind::Function, "int", "a.h");
    let b = form(Kind::Function, "long", "a.h");
    let table = pyctx_api::generate::merge(vec![
        ("3.9".into(), v(&[("PyB", a.clone()), ("PyA", a.clone())])),
        ("3.10".into(), v(&[("PyB", b.clone()), ("PyA", a.clone())])),
        ("3.11".into(), v(&[("PyB", a.clone())])),
        ("3.12".into(), v(&[("PyC", a.clone())])),
    ]);
    let names: Vec<&str> = table.entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["PyA", "PyB", "PyC"]);
    let pyb = &table.entries[1];
    let groups: Vec<(Vec<&str>, &str)> = pyb
        .forms
        .iter()
        .map(|f| {
            (
                f.versions.iter().map(String::as_str).collect(),
                f.ret.as_str(),
            )
        })
        .collect();
    assert_eq!(
        groups,
        [(vec!["3.9", "3.11"], "int"), (vec!["3.10"], "long")]
    );
    assert_eq!(table.entries[0].forms[0].versions, ["3.9", "3.10"]);
    assert!(table.entries[2].form_for("3.9").is_none());
}

const WITH_EXTRAS: &str = "#include <test.h>\n#include <extra.h>\n#include <token.h>\n";

fn scan_with(dir: &IncludeDir, source: &str, args: &[&str]) -> Scan {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    Scan::run(dir.path(), source, &args).unwrap_or_else(|e| panic!("{e:#}"))
}

#[test]
fn needs_include_names_the_header_that_brings_a_name_in() {
    let dir = fixture("include");
    let forms = scan_with(&dir, WITH_EXTRAS, &[]).forms();
    let f = |n: &str| forms.get(n).unwrap_or_else(|| panic!("{n} missing"));
    // Reached from the first include (Python.h's place): nothing else needed,
    // even through a nested header.
    assert_eq!(f("PyT_New").needs_include, None);
    assert_eq!(
        (
            f("PyT_Inline").header.as_str(),
            f("PyT_Inline").needs_include.as_deref()
        ),
        ("cpython/sub.h", None)
    );
    assert_eq!(f("PyT_Extra").needs_include.as_deref(), Some("extra.h"));
    assert_eq!(
        f("PyT_EXTRA_MACRO").needs_include.as_deref(),
        Some("extra.h")
    );
    // token.h is recorded for its functions only.
    assert!(pyctx_api::generate::records_functions_only("token.h"));
    assert_eq!(f("PyToken_One").needs_include.as_deref(), Some("token.h"));
    assert!(!forms.contains_key("ISEOF") && !forms.contains_key("TYPE"));
}

#[test]
fn exported_symbols_data_and_acting_object_like_macros() {
    let dir = fixture("exported");
    let scan = scan_with(&dir, WITH_EXTRAS, &[]);
    let forms = scan.forms();
    let f = |n: &str| forms.get(n).unwrap_or_else(|| panic!("{n} missing"));
    assert!(f("PyT_New").exported);
    assert!(!f("PyT_Inline").exported, "static inline is no symbol");
    assert!(f("PyT_Size").exported, "a macro over an exported function");
    assert!(!f("PyT_SELF").exported, "a macro over a static inline");
    assert!(!f("PyT_CALL").exported);
    // PyAPI_DATA, const or not, private or not.
    assert!(scan.data.contains("_PyT_NoneStruct") && scan.data.contains("_PyT_table"));
    assert!(scan.exported_symbols().contains("_PyT_Private"));
    // An object-like macro that calls a function is recorded, without a
    // ctx form; values and casts are not.
    let import = f("PyT_IMPORT");
    assert!(import.object_like && !import.has_ctx_form());
    assert!(!forms.contains_key("PyT_VALUE") && !forms.contains_key("PyT_NONE_OBJ"));
}

#[test]
fn ssize_t_clean_aliases_and_limited_api_declarations() {
    let dir = fixture("modes");
    let plain = scan_with(&dir, WITH_EXTRAS, &[]);
    let clean = scan_with(&dir, WITH_EXTRAS, &["-DPY_SSIZE_T_CLEAN"]);
    assert_eq!(plain.alias_of("PyT_Parse"), None);
    assert_eq!(plain.link_symbol("PyT_Parse").as_deref(), Some("PyT_Parse"));
    assert_eq!(
        clean.alias_of("PyT_Parse").as_deref(),
        Some("_PyT_Parse_SizeT")
    );
    assert_eq!(
        clean.link_symbol("PyT_Parse").as_deref(),
        Some("_PyT_Parse_SizeT")
    );
    // Chains end at the exported function; macros and inlines are no symbol.
    assert_eq!(plain.link_symbol("PyT_ALIAS2").as_deref(), Some("PyT_Free"));
    assert_eq!(plain.link_symbol("PyT_MACRO_ALIAS"), None);
    assert_eq!(plain.link_symbol("PyT_Inline"), None);

    use pyctx_api::generate::version::limited_api_define;
    assert_eq!(limited_api_define("3.10"), "-DPy_LIMITED_API=0x030a0000");
    let l39 = scan_with(&dir, WITH_EXTRAS, &[&limited_api_define("3.9")]).forms();
    let l310 = scan_with(&dir, WITH_EXTRAS, &[&limited_api_define("3.10")]).forms();
    assert!(!l39.contains_key("PyT_Since310") && l310.contains_key("PyT_Since310"));
    assert!(plain.forms().contains_key("PyT_Since310"));
}
