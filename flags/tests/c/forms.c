/* Compiled by flags/tests/generated_header.rs against every installed
 * CPython, with PY_SSIZE_T_CLEAN on and off, in several C standards, with
 * warnings as errors: the generated header and both call forms must compile
 * cleanly. The functions are never run here; running is the fixtures' job. */
#ifdef WITH_CLEAN
#define PY_SSIZE_T_CLEAN
#endif
#include "pyctx.h"

PyObject *uses_both_forms(PyObject *args, PyObject *kw);

PyObject *uses_both_forms(PyObject *args, PyObject *kw)
{
    PyCtx ctx = PyCtx_Get();
    PyCtx dctx = PyCtx_AsDealloc(ctx);
    static char *kwlist[] = {"a", "b", NULL};
    PyObject *a = NULL, *b = NULL, *t, *r;
    if (!PyArg_ParseTupleAndKeywords(ctx, args, kw, "|OO", kwlist, &a, &b))
        return NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|OO", kwlist, &a, &b))
        return NULL;
    if (PyErr_Occurred(ctx) || PyErr_Occurred())
        return NULL;
    t = PyTuple_New(ctx, 2);
    if (t == NULL)
        return PyErr_Format(ctx, PyExc_MemoryError, "no tuple of %d", 2);
    Py_INCREF(ctx, Py_None);
    PyTuple_SET_ITEM(ctx, t, 0, Py_None);
    Py_INCREF(Py_None);
    PyTuple_SET_ITEM(t, 1, Py_None);
    if (PyTuple_GET_SIZE(ctx, t) != PyTuple_GET_SIZE(t))
        PyErr_SetString(ctx, PyExc_AssertionError, "sizes differ");
    Py_INCREF(ctx, t);
    Py_DECREF(dctx, t);
    Py_XDECREF(ctx, a == NULL ? NULL : (Py_INCREF(a), a));
    r = Py_BuildValue(ctx, "(Oi)", t, PyObject_IsTrue(ctx, t));
    Py_CLEAR(dctx, t);
    if (r != NULL && Py_TYPE(ctx, r) != &PyTuple_Type)
        Py_CLEAR(r);
    Py_BEGIN_ALLOW_THREADS
    Py_END_ALLOW_THREADS
    return r ? r : Py_BuildValue("()");
}

/* Object-like aliases keep working as plain names (function pointers in
 * type slots) and in both call forms. */
void (*free_slot)(void *) = PyObject_Del;
void (*free_slot2)(void *) = PyObject_DEL;

void frees(void *a, void *b);
void frees(void *a, void *b)
{
    PyCtx ctx = PyCtx_Get();
    PyObject_Del(ctx, a);
    PyObject_Del(b);
}
