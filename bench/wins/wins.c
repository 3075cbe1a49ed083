/*
 * _pyctx_wins: the "where the context wins" benchmark module (issue 10,
 * point 5). It only dispatches: the loops live in loops.h, compiled four
 * times (direct, ctx, legacy, copy), the rows in rows.h.
 *
 *   rows() -> [(name, arg, why_no_fast_path), ...]
 *   run(name, contender, n, arg) -> (wall ns, thread CPU ns) of n iterations
 *   noop0 / noop1: C functions that do nothing (the call rows' callees)
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

volatile long wins_sink;
PyObject *wins_name_count;

typedef long long (*wins_fn)(Py_ssize_t n, PyObject *arg, long long *cpu_ns);

#define ROW(name, arg, why)                                                 \
    long long wins_direct_##name(Py_ssize_t, PyObject *, long long *);     \
    long long wins_ctx_##name(Py_ssize_t, PyObject *, long long *);        \
    long long wins_legacy_##name(Py_ssize_t, PyObject *, long long *);     \
    long long wins_copy_##name(Py_ssize_t, PyObject *, long long *);
#include "rows.h"
#undef ROW

static const struct {
    const char *name;
    const char *arg;
    const char *why;
    wins_fn fn[4]; /* CONTENDERS order */
} rows[] = {
#define ROW(name, arg, why) \
    {#name, arg, why, {wins_direct_##name, wins_ctx_##name, wins_legacy_##name, wins_copy_##name}},
#include "rows.h"
#undef ROW
};
#define N_ROWS ((Py_ssize_t)(sizeof(rows) / sizeof(rows[0])))
static const char *const CONTENDERS[4] = {"direct", "ctx", "legacy", "copy"};

static PyObject *
rows_list(PyObject *self, PyObject *unused)
{
    PyObject *list = PyList_New(N_ROWS);
    if (list == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < N_ROWS; i++) {
        PyObject *item = Py_BuildValue("(sss)", rows[i].name, rows[i].arg, rows[i].why);
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
    const char *name, *contender;
    Py_ssize_t n;
    PyObject *arg;
    if (!PyArg_ParseTuple(args, "ssnO", &name, &contender, &n, &arg))
        return NULL;
    if (n < 1) {
        PyErr_SetString(PyExc_ValueError, "n must be positive");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < N_ROWS; i++) {
        if (strcmp(rows[i].name, name) != 0)
            continue;
        for (int c = 0; c < 4; c++) {
            if (strcmp(CONTENDERS[c], contender) != 0)
                continue;
            long long cpu_ns = 0;
            long long ns = rows[i].fn[c](n, arg, &cpu_ns);
            if (ns < 0) {
                if (!PyErr_Occurred())
                    PyErr_Format(PyExc_RuntimeError, "%s/%s failed", name, contender);
                return NULL;
            }
            return Py_BuildValue("(LL)", ns, cpu_ns);
        }
        return PyErr_Format(PyExc_ValueError, "no contender %s", contender);
    }
    return PyErr_Format(PyExc_ValueError, "no row %s", name);
}

static PyObject *
noop0(PyObject *self, PyObject *unused)
{
    Py_RETURN_NONE;
}

static PyObject *
noop1(PyObject *self, PyObject *arg)
{
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"rows", rows_list, METH_NOARGS, "[(name, arg, why_no_fast_path), ...]"},
    {"run", run, METH_VARARGS, "run(name, contender, n, arg) -> (wall ns, thread CPU ns)"},
    {"noop0", noop0, METH_NOARGS, "returns None"},
    {"noop1", noop1, METH_O, "returns None"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "_pyctx_wins", "pyctx: where the context wins", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__pyctx_wins(void)
{
    wins_name_count = PyUnicode_InternFromString("count");
    if (wins_name_count == NULL)
        return NULL;
    return PyModule_Create(&moduledef);
}
