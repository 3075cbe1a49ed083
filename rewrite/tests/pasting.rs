//! Token pasting that the golden cases cannot hold without moving the
//! bounded fuzz run's seed sequence (its seed pool is every golden case's
//! `before/`): a pasting macro passed on as an X macro.

use pyctx_rewrite::{migrate, ApiNames, Options, SourceFile};

const SOURCE: &str = r#"#include <Python.h>

#define DEF_GET(kind) \
    static PyObject *get_##kind(PyObject *self, PyObject *v) { return read_##kind(v); }
#define FOR_KINDS(X) X(int) X(str)

static PyObject *read_int(PyObject *v)
{
    return PyNumber_Long(v);
}

static PyObject *read_repr(PyObject *v)
{
    return PyObject_Repr(v);
}

static PyObject *other(PyObject *v)
{
    return PyObject_Str(v);
}

DEF_GET(repr)
FOR_KINDS(DEF_GET)
"#;

/// DEF_GET is invoked directly with `repr` and passed on to FOR_KINDS,
/// which invokes it where the engine does not see the argument (`int`):
/// every `read_` function may be named, so `read_int` keeps its signature
/// (threaded, `get_int`'s `read_int(v)` would no longer compile).
#[test]
fn a_pasting_macro_passed_on_names_every_function_its_literal_allows() {
    let api = ApiNames::load_default().expect("API table loads");
    let out = migrate(
        &[SourceFile::new("mod.c", SOURCE.to_string())],
        &api,
        &Options::default(),
    );
    let text = out.files[0].new_text.as_deref().expect("the file changes");
    assert!(
        text.contains("static PyObject *read_int(PyObject *v)\n"),
        "{text}"
    );
    assert!(
        text.contains("static PyObject *read_repr(PyObject *v)\n"),
        "{text}"
    );
    let report = out.render();
    assert!(
        report.contains("read_int: entry point [keeps signature: may be named by token pasting in macro `DEF_GET`"),
        "{report}"
    );
}
