/* Compiled by flags/tests/generated_header.rs as C++ (g++ and clang++,
 * C++11 to C++20) against every installed CPython, full and limited API,
 * with PY_SSIZE_T_CLEAN on and off, warnings as errors: the ctx forms are
 * overloads of CPython's names, its macros are dispatched by argument
 * count, and the legacy spelling means what it means without pyctx.
 * Never run here; fixtures/cpp runs the same kinds of calls. */
#ifdef WITH_CLEAN
#define PY_SSIZE_T_CLEAN
#endif
/* An includer's extern "C" block must not give the overloads C linkage. */
extern "C" {
#include "pyctx.h"
}

/* A redeclared prototype is CPython's function, as without pyctx. */
int PyObject_IsTrue(PyObject *o);
PyObject *PyErr_Occurred(void);

PyObject *uses_both_forms(PyObject *args, PyObject *kw);

PyObject *uses_both_forms(PyObject *args, PyObject *kw)
{
    PyCtx ctx = PyCtx_Get();
    PyCtx dctx = PyCtx_AsDealloc(ctx);
    static char ka[] = "a", kb[] = "b";
    static char *kwlist[] = {ka, kb, NULL};
    PyObject *a = NULL, *b = NULL, *t, *r;
    if (!PyArg_ParseTupleAndKeywords(ctx, args, kw, "|OO", kwlist, &a, &b))
        return NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|OO", kwlist, &a, &b))
        return NULL;
    if (PyErr_Occurred(ctx) || PyErr_Occurred() || pyctx::PyErr_Occurred(ctx) || ::PyErr_Occurred())
        return NULL;
    t = PyTuple_New(ctx, 2);
    if (t == NULL)
        return PyErr_Format(ctx, PyExc_MemoryError, "no tuple of %d", 2);
    Py_INCREF(ctx, Py_None);
    PyTuple_SetItem(ctx, t, 0, Py_None);
    Py_INCREF(Py_None);
    PyTuple_SetItem(t, 1, Py_None);
    if (PyTuple_Size(ctx, t) != PyTuple_Size(t))
        PyErr_SetString(ctx, PyExc_AssertionError, "sizes differ");
    Py_INCREF(ctx, t);
    Py_DECREF(dctx, t);
    Py_XDECREF(ctx, a == NULL ? NULL : (Py_INCREF(a), a));
    r = Py_BuildValue(ctx, "(Oi)", t, PyObject_IsTrue(ctx, t));
    Py_CLEAR(t);
    if (r != NULL && Py_TYPE(r) != &PyTuple_Type)
        Py_CLEAR(r);
    Py_BEGIN_ALLOW_THREADS
    Py_END_ALLOW_THREADS
    return r ? r : Py_BuildValue("()");
}

#ifndef Py_LIMITED_API
/* Macros of the full API, both spellings. */
Py_ssize_t macros(PyObject *t);
Py_ssize_t macros(PyObject *t)
{
    PyCtx ctx = PyCtx_Get();
    PyObject *first = PyTuple_GET_ITEM(ctx, t, 0);
    (void)PyTuple_GET_ITEM(t, 0);
    return PyTuple_GET_SIZE(ctx, t) + PyTuple_GET_SIZE(t) + (first == Py_None);
}
#endif

/* The name alone is CPython's one function (the overloads are found by
 * argument-dependent lookup only): pointers, `(void *)` casts as in
 * PyType_Slot arrays, and parenthesised calls. */
int (*truth)(PyObject *) = &PyObject_IsTrue;
int (*truth_bare)(PyObject *) = PyObject_IsTrue;
PyObject *(*occurred)(void) = PyErr_Occurred;
PyType_Slot slots[] = {
    {Py_tp_hash, (void *)PyObject_HashNotImplemented},
    {Py_tp_getattro, reinterpret_cast<void *>(&PyObject_GenericGetAttr)},
    {0, NULL},
};
int parenthesised(PyObject *o);
int parenthesised(PyObject *o)
{
    return (PyObject_IsTrue)(o);
}
/* Object-like aliases keep working as plain names and in both call forms. */
void (*free_slot)(void *) = PyObject_Del;

void frees(void *a, void *b);
void frees(void *a, void *b)
{
    PyCtx ctx = PyCtx_Get();
    PyObject_Del(ctx, a);
    PyObject_Del(b);
}

/* A stringifying macro registers the name as written, in both spellings. */
#define ANSWER 42
int add_macros(PyObject *m);
int add_macros(PyObject *m)
{
    PyCtx ctx = PyCtx_Get();
    return PyModule_AddIntMacro(ctx, m, ANSWER) + PyModule_AddIntMacro(m, ANSWER);
}

/* Callbacks through the runtime's trampolines, in C++. */
static PyObject *echo_impl(PyCtx ctx, PyObject *self, PyObject *arg)
{
    (void)self;
    Py_INCREF(ctx, arg);
    return arg;
}
PYCTX_METH_O(echo, echo_impl)
PyMethodDef echo_def = {"echo", echo, METH_O, NULL};
