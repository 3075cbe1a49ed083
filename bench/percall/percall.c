/*
 * _pyctx_percall: the per-call benchmark module. It only dispatches: the
 * timed loops live in loops.h, compiled four times (loops_direct.c,
 * loops_ctx.c, loops_legacy.c and loops_copy.c, a second direct build). This file includes CPython's own Python.h.
 *
 *   contenders() -> [(op, contender), ...]   index = position in the list
 *   run(index, n, arg) -> (wall ns, thread CPU ns) of n iterations (raw,
 *                         see loops.h)
 *   info() -> {"compiler": ..., "python": ..., "optimize": bool}
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

volatile long bench_sink;

typedef long long (*bench_fn)(Py_ssize_t n, PyObject *arg, long long *cpu_ns);

#define DECL(name)                                                       \
    long long bench_direct_##name(Py_ssize_t, PyObject *, long long *);  \
    long long bench_ctx_##name(Py_ssize_t, PyObject *, long long *);     \
    long long bench_legacy_##name(Py_ssize_t, PyObject *, long long *);  \
    long long bench_copy_##name(Py_ssize_t, PyObject *, long long *);
DECL(is_true)
DECL(long_as_long)
DECL(tuple_new)
DECL(err_occurred)
DECL(decref_zero)
DECL(incref_decref)
DECL(get_tstate)
DECL(runtime_type)
DECL(runtime_type_gc)
DECL(err_set_clear)
DECL(err_clear_empty)
DECL(err_matches)
DECL(recursion)
DECL(gilstate_check)
DECL(save_restore)
DECL(list_new)
long long bench_ctx_runtime_type_lean(Py_ssize_t, PyObject *, long long *);
long long bench_ctx_decref_zero_by_dealloc(Py_ssize_t, PyObject *, long long *);
long long bench_ctx_decref_zero_check_only(Py_ssize_t, PyObject *, long long *);
long long bench_ctx_decref_zero_no_probe(Py_ssize_t, PyObject *, long long *);
long long bench_direct_get_tstate_unchecked(Py_ssize_t, PyObject *, long long *);
long long bench_direct_empty(Py_ssize_t, PyObject *, long long *);

/* Each loops_*.c makes its heap type(s) for the runtime_type loops. */
int bench_direct_init_types(PyObject *module);
int bench_ctx_init_types(PyObject *module);
int bench_legacy_init_types(PyObject *module);
int bench_copy_init_types(PyObject *module);
int bench_direct_init_gc_type(PyObject *module);
int bench_ctx_init_gc_type(PyObject *module);
int bench_legacy_init_gc_type(PyObject *module);
int bench_copy_init_gc_type(PyObject *module);

#define ROWS(name)                              \
    {#name, "direct", bench_direct_##name},     \
    {#name, "ctx", bench_ctx_##name},           \
    {#name, "legacy", bench_legacy_##name},     \
    {#name, "copy", bench_copy_##name},

static const struct {
    const char *op;
    const char *contender;
    bench_fn fn;
} table[] = {
    ROWS(is_true)
    ROWS(long_as_long)
    ROWS(tuple_new)
    ROWS(err_occurred)
    ROWS(decref_zero)
    ROWS(incref_decref)
    ROWS(get_tstate)
    ROWS(runtime_type)
    ROWS(runtime_type_gc)
    ROWS(err_set_clear)
    ROWS(err_clear_empty)
    ROWS(err_matches)
    ROWS(recursion)
    ROWS(gilstate_check)
    ROWS(save_restore)
    ROWS(list_new)
    {"runtime_type", "ctx_lean", bench_ctx_runtime_type_lean},
    {"decref_zero", "ctx_by_dealloc", bench_ctx_decref_zero_by_dealloc},
    {"decref_zero", "ctx_check_only", bench_ctx_decref_zero_check_only},
    {"decref_zero", "ctx_no_probe", bench_ctx_decref_zero_no_probe},
    {"get_tstate", "unchecked", bench_direct_get_tstate_unchecked},
    {"empty", "direct", bench_direct_empty},
};
#define TABLE_LEN ((Py_ssize_t)(sizeof(table) / sizeof(table[0])))

static PyObject *
contenders(PyObject *self, PyObject *unused)
{
    PyObject *list = PyList_New(TABLE_LEN);
    if (list == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < TABLE_LEN; i++) {
        PyObject *item = Py_BuildValue("(ss)", table[i].op, table[i].contender);
        if (item == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i, item);
    }
    return list;
}

static PyObject *
run(PyObject *self, PyObject *args)
{
    Py_ssize_t index, n;
    PyObject *arg;
    if (!PyArg_ParseTuple(args, "nnO", &index, &n, &arg))
        return NULL;
    if (index < 0 || index >= TABLE_LEN) {
        PyErr_SetString(PyExc_IndexError, "no such contender");
        return NULL;
    }
    if (n < 1) {
        PyErr_SetString(PyExc_ValueError, "n must be positive");
        return NULL;
    }
    long long cpu_ns = 0;
    long long ns = table[index].fn(n, arg, &cpu_ns);
    if (ns < 0) {
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_RuntimeError, "%s/%s failed", table[index].op,
                         table[index].contender);
        return NULL;
    }
    return Py_BuildValue("(LL)", ns, cpu_ns);
}

static PyObject *
info(PyObject *self, PyObject *unused)
{
#ifdef __OPTIMIZE__
    PyObject *opt = Py_True;
#else
    PyObject *opt = Py_False;
#endif
#ifdef __clang__
    const char *cc = "clang " __clang_version__;
#elif defined(__GNUC__)
    const char *cc = "gcc " __VERSION__;
#else
    const char *cc = "unknown";
#endif
    return Py_BuildValue("{s:s,s:s,s:O}", "compiler", cc, "python", PY_VERSION,
                         "optimize", opt);
}

static PyMethodDef methods[] = {
    {"contenders", contenders, METH_NOARGS, "[(op, contender), ...]"},
    {"run", run, METH_VARARGS, "run(index, n, arg) -> (wall ns, thread CPU ns)"},
    {"info", info, METH_NOARGS, "build information"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "_pyctx_percall", "pyctx per-call benchmark loops", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__pyctx_percall(void)
{
    PyObject *module = PyModule_Create(&moduledef);
    if (module == NULL)
        return NULL;
    if (bench_direct_init_types(module) < 0 || bench_ctx_init_types(module) < 0 ||
        bench_legacy_init_types(module) < 0 || bench_copy_init_types(module) < 0 ||
        bench_direct_init_gc_type(module) < 0 || bench_ctx_init_gc_type(module) < 0 ||
        bench_legacy_init_gc_type(module) < 0 || bench_copy_init_gc_type(module) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
