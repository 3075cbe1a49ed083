/* Compiled by flags/tests/generated_header.rs as C and as C++ against every
 * installed CPython: the names of the public headers Python.h does not
 * include (datetime.h, structmember.h, marshal.h, frameobject.h) have ctx
 * forms whether those headers come before pyctx.h (EXTRAS_FIRST) or after
 * it, with pyctx.h included again after them. */
#define PY_SSIZE_T_CLEAN
#ifdef EXTRAS_FIRST
#include <Python.h>
#include <datetime.h>
#include <structmember.h>
#include <marshal.h>
#include <frameobject.h>
#include "pyctx.h"
#else
#include "pyctx.h"
#include <datetime.h>
#include <structmember.h>
#include <marshal.h>
#include <frameobject.h>
#include "pyctx.h"
#endif

int uses_extras(PyObject *o, PyMemberDef *member, char *obj);

int uses_extras(PyObject *o, PyMemberDef *member, char *obj)
{
    PyCtx ctx = PyCtx_Get();
    PyObject *dt, *bytes, *back, *value;
    int n = 0;
    PyDateTime_IMPORT_CTX(ctx);
    if (PyDateTimeAPI == NULL)
        return -1;
    PyDateTime_IMPORT;
    dt = PyDateTime_FromDateAndTime(ctx, 2024, 2, 29, 12, 30, 15, 7);
    if (dt == NULL)
        return -1;
    n += PyDateTime_Check(ctx, dt) + PyDateTime_Check(dt) + PyDate_Check(ctx, o) + PyDelta_CheckExact(o);
    n += PyDateTime_GET_YEAR(ctx, dt) - PyDateTime_GET_YEAR(dt);
    n += PyDateTime_DATE_GET_MICROSECOND(ctx, dt) + PyDateTime_DATE_GET_MICROSECOND(dt);
    bytes = PyMarshal_WriteObjectToString(ctx, dt, Py_MARSHAL_VERSION);
    Py_DECREF(ctx, dt);
    if (bytes == NULL) {
        PyErr_Clear(ctx);
    } else {
        back = PyMarshal_ReadObjectFromString(PyBytes_AS_STRING(bytes), PyBytes_GET_SIZE(bytes));
        Py_XDECREF(back);
        Py_DECREF(bytes);
    }
    value = PyMember_GetOne(ctx, obj, member);
    Py_XDECREF(ctx, value);
    value = PyMember_GetOne(obj, member);
    Py_XDECREF(value);
    return n;
}

/* frameobject.h (its functions moved to cpython/frameobject.h in 3.11). */
PyObject *new_frame(PyCodeObject *code, PyObject *globals);

PyObject *new_frame(PyCodeObject *code, PyObject *globals)
{
    PyCtx ctx = PyCtx_Get();
    return (PyObject *)PyFrame_New(ctx, PyThreadState_Get(ctx), code, globals, NULL);
}
