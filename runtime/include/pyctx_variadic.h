/*
 * pyctx_variadic.h: va_list bodies for the ctx forms of C-variadic API
 * functions. Included by the generated pyctx_api.h before the dispatch
 * macros are defined, so plain API names here still mean CPython's own.
 *
 * A ctx form such as `PyErr_Format(ctx, exc, fmt, ...)` has to drop the
 * context and forward the variable arguments; C can forward them only as a
 * va_list. Where CPython has a va_list variant we call it; where it has none
 * we build the same result from public API, or format first and hand the
 * finished text to the variadic function through "%s" / "%U".
 *
 * The generator checks that every variadic table entry has a body here
 * (named pyctx_v_<NAME>); a missing one fails the header generation test.
 */
#ifndef PYCTX_VARIADIC_H
#define PYCTX_VARIADIC_H

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC system_header
#endif

#if PY_VERSION_HEX >= 0x030D0000
/* PY_CXX_CONST: `const` in C++, where 3.13 takes `const char *const *`. */
typedef PY_CXX_CONST char *const *pyctx__kwlist_t;
#else
typedef char **pyctx__kwlist_t;
#endif

/* Tuple access: CPython's macros, or under Py_LIMITED_API (which has no
 * such macros) the functions. Every use below is on a tuple it checked or
 * made, with an index in range. */
#ifdef Py_LIMITED_API
#define PYCTX__TUPLE_SIZE(t) PyTuple_Size(t)
#define PYCTX__TUPLE_ITEM(t, i) PyTuple_GetItem(t, i)
#define PYCTX__TUPLE_SET(t, i, v) ((void)PyTuple_SetItem(t, i, v))
#else
#define PYCTX__TUPLE_SIZE(t) PyTuple_GET_SIZE(t)
#define PYCTX__TUPLE_ITEM(t, i) PyTuple_GET_ITEM(t, i)
#define PYCTX__TUPLE_SET(t, i, v) PyTuple_SET_ITEM(t, i, v)
#endif

/* -- formats with a va_list variant -- */

static inline PyObject *pyctx_v_PyErr_Format(PyObject *exc, const char *fmt, va_list va)
{
    return PyErr_FormatV(exc, fmt, va);
}

static inline PyObject *pyctx_v_Py_BuildValue(const char *fmt, va_list va)
{
    return Py_VaBuildValue(fmt, va); /* _SizeT under PY_SSIZE_T_CLEAN */
}

static inline int pyctx_v_PyArg_ParseTuple(PyObject *args, const char *fmt, va_list va)
{
    return PyArg_VaParse(args, fmt, va);
}

static inline int pyctx_v_PyArg_ParseTupleAndKeywords(PyObject *args, PyObject *kw, const char *fmt,
                                                      pyctx__kwlist_t kwlist, va_list va)
{
    return PyArg_VaParseTupleAndKeywords(args, kw, fmt, kwlist, va);
}

static inline PyObject *pyctx_v_PyUnicode_FromFormat(const char *fmt, va_list va)
{
    return PyUnicode_FromFormatV(fmt, va);
}

static inline PyObject *pyctx_v_PyBytes_FromFormat(const char *fmt, va_list va)
{
    return PyBytes_FromFormatV(fmt, va);
}

static inline int pyctx_v_PyOS_snprintf(char *str, size_t size, const char *fmt, va_list va)
{
    return PyOS_vsnprintf(str, size, fmt, va);
}

/* -- parsing without a va_list variant -- */

/* PyArg_Parse accepts exactly one format unit applied to `arg` itself; that
 * is PyArg_ParseTuple on the one-element tuple (arg,). */
static inline int pyctx_v_PyArg_Parse(PyObject *arg, const char *fmt, va_list va)
{
    PyObject *tuple = PyTuple_Pack(1, arg);
    int ok;
    if (tuple == NULL)
        return 0;
    ok = PyArg_VaParse(tuple, fmt, va);
    Py_DECREF(tuple);
    return ok;
}

static inline int pyctx_v_PyArg_UnpackTuple(PyObject *args, const char *name, Py_ssize_t min,
                                            Py_ssize_t max, va_list va)
{
    Py_ssize_t i, n;
    if (!PyTuple_Check(args)) {
        PyErr_SetString(PyExc_SystemError, "PyArg_UnpackTuple() argument list is not a tuple");
        return 0;
    }
    n = PYCTX__TUPLE_SIZE(args);
    if (n < min || n > max) {
        const char *what = n < min ? (min == max ? "" : "at least ") : (min == max ? "" : "at most ");
        Py_ssize_t want = n < min ? min : max;
        if (name != NULL)
            PyErr_Format(PyExc_TypeError, "%.200s expected %s%zd argument%s, got %zd", name, what,
                         want, want == 1 ? "" : "s", n);
        else
            PyErr_Format(PyExc_TypeError, "unpacked tuple should have %s%zd element%s, but has %zd",
                         what, want, want == 1 ? "" : "s", n);
        return 0;
    }
    for (i = 0; i < n; i++)
        *va_arg(va, PyObject **) = PYCTX__TUPLE_ITEM(args, i);
    return 1;
}

/* -- building and calling -- */

static inline PyObject *pyctx_v_PyTuple_Pack(Py_ssize_t n, va_list va)
{
    Py_ssize_t i;
    PyObject *tuple = PyTuple_New(n);
    if (tuple == NULL)
        return NULL;
    for (i = 0; i < n; i++) {
        PyObject *item = va_arg(va, PyObject *);
        Py_INCREF(item);
        PYCTX__TUPLE_SET(tuple, i, item);
    }
    return tuple;
}

/* CPython's answer to a NULL argument in the call family. */
static inline PyObject *pyctx__null_argument(void)
{
    if (!PyErr_Occurred())
        PyErr_SetString(PyExc_SystemError, "null argument to internal routine");
    return NULL;
}

/* Shared by the CallFunction / CallMethod family: CPython's rule is that an
 * empty format calls with no arguments, a format that builds a tuple passes
 * its items, and anything else is the single argument. */
static inline PyObject *pyctx__call_va(PyObject *callable, const char *fmt, va_list va)
{
    PyObject *args, *result;
    if (callable == NULL)
        return pyctx__null_argument();
    if (fmt == NULL || *fmt == '\0')
        return PyObject_CallObject(callable, NULL);
    args = Py_VaBuildValue(fmt, va);
    if (args == NULL)
        return NULL;
    if (PyTuple_Check(args)) {
        result = PyObject_Call(callable, args, NULL);
    } else {
        PyObject *one = PyTuple_Pack(1, args);
        result = one ? PyObject_Call(callable, one, NULL) : NULL;
        Py_XDECREF(one);
    }
    Py_DECREF(args);
    return result;
}

static inline PyObject *pyctx_v_PyObject_CallFunction(PyObject *callable, const char *fmt, va_list va)
{
    return pyctx__call_va(callable, fmt, va);
}

static inline PyObject *pyctx_v_PyObject_CallMethod(PyObject *obj, const char *name, const char *fmt,
                                                    va_list va)
{
    PyObject *callable, *result;
    if (obj == NULL || name == NULL)
        return pyctx__null_argument();
    callable = PyObject_GetAttrString(obj, name);
    if (callable == NULL)
        return NULL;
    result = pyctx__call_va(callable, fmt, va);
    Py_DECREF(callable);
    return result;
}

/* Declared up to 3.12, under Py_LIMITED_API too (deprecated). */
#if PY_VERSION_HEX < 0x030D0000
static inline PyObject *pyctx_v_PyEval_CallFunction(PyObject *callable, const char *fmt, va_list va)
{
    return pyctx__call_va(callable, fmt, va);
}

static inline PyObject *pyctx_v_PyEval_CallMethod(PyObject *obj, const char *name, const char *fmt,
                                                  va_list va)
{
    return pyctx_v_PyObject_CallMethod(obj, name, fmt, va);
}
#endif

/* Collect a NULL-terminated PyObject* list into a new tuple. */
static inline PyObject *pyctx__objargs_tuple(va_list va)
{
    va_list count;
    Py_ssize_t n = 0, i;
    PyObject *tuple;
    va_copy(count, va);
    while (va_arg(count, PyObject *) != NULL)
        n++;
    va_end(count);
    tuple = PyTuple_New(n);
    if (tuple == NULL)
        return NULL;
    for (i = 0; i < n; i++) {
        PyObject *item = va_arg(va, PyObject *);
        Py_INCREF(item);
        PYCTX__TUPLE_SET(tuple, i, item);
    }
    return tuple;
}

static inline PyObject *pyctx_v_PyObject_CallFunctionObjArgs(PyObject *callable, va_list va)
{
    PyObject *args, *result;
    if (callable == NULL)
        return pyctx__null_argument();
    args = pyctx__objargs_tuple(va);
    if (args == NULL)
        return NULL;
    result = PyObject_Call(callable, args, NULL);
    Py_DECREF(args);
    return result;
}

static inline PyObject *pyctx_v_PyObject_CallMethodObjArgs(PyObject *obj, PyObject *name, va_list va)
{
    PyObject *callable, *result;
    if (obj == NULL || name == NULL)
        return pyctx__null_argument();
#ifndef Py_LIMITED_API
    {
        /* As CPython does it: the method looked up without a bound-method
         * object, the arguments on the stack after `obj` (up to 8). */
        PyObject *stack[2 + 8];
        PyObject *arg;
        size_t n = 0;
        va_list scan;
        va_copy(scan, va);
        while (n <= 8 && (arg = va_arg(scan, PyObject *)) != NULL)
            stack[2 + n++] = arg;
        va_end(scan);
        if (n <= 8) {
            stack[1] = obj;
            return PyObject_VectorcallMethod(name, stack + 1, (n + 1) | PY_VECTORCALL_ARGUMENTS_OFFSET,
                                             NULL);
        }
    }
#endif
    callable = PyObject_GetAttr(obj, name);
    if (callable == NULL)
        return NULL;
    result = pyctx_v_PyObject_CallFunctionObjArgs(callable, va);
    Py_DECREF(callable);
    return result;
}

/* -- printf-style output and warnings: format here, pass the text on -- */

static inline void pyctx_v_PySys_WriteStdout(const char *fmt, va_list va)
{
    char buf[1001]; /* CPython truncates these writes to 1000 bytes too */
    PyOS_vsnprintf(buf, sizeof buf, fmt, va);
    PySys_WriteStdout("%s", buf);
}

static inline void pyctx_v_PySys_WriteStderr(const char *fmt, va_list va)
{
    char buf[1001];
    PyOS_vsnprintf(buf, sizeof buf, fmt, va);
    PySys_WriteStderr("%s", buf);
}

static inline void pyctx_v_PySys_FormatStdout(const char *fmt, va_list va)
{
    PyObject *text = PyUnicode_FromFormatV(fmt, va);
    if (text == NULL) {
        PyErr_Clear();
        return;
    }
    PySys_FormatStdout("%U", text);
    Py_DECREF(text);
}

static inline void pyctx_v_PySys_FormatStderr(const char *fmt, va_list va)
{
    PyObject *text = PyUnicode_FromFormatV(fmt, va);
    if (text == NULL) {
        PyErr_Clear();
        return;
    }
    PySys_FormatStderr("%U", text);
    Py_DECREF(text);
}

static inline int pyctx_v_PyErr_WarnFormat(PyObject *category, Py_ssize_t level, const char *fmt, va_list va)
{
    int r;
    PyObject *text = PyUnicode_FromFormatV(fmt, va);
    if (text == NULL)
        return -1;
    r = PyErr_WarnFormat(category, level, "%U", text);
    Py_DECREF(text);
    return r;
}

static inline int pyctx_v_PyErr_ResourceWarning(PyObject *source, Py_ssize_t level, const char *fmt, va_list va)
{
    int r;
    PyObject *text = PyUnicode_FromFormatV(fmt, va);
    if (text == NULL)
        return -1;
    r = PyErr_ResourceWarning(source, level, "%U", text);
    Py_DECREF(text);
    return r;
}

/* Not in the limited API (nor are the two below before 3.13): the
 * generated header offers no ctx form for them there. */
#ifndef Py_LIMITED_API
static inline int pyctx_v_PyErr_WarnExplicitFormat(PyObject *category, const char *filename, int lineno,
                                                   const char *module, PyObject *registry, const char *fmt,
                                                   va_list va)
{
    int r;
    PyObject *text = PyUnicode_FromFormatV(fmt, va);
    if (text == NULL)
        return -1;
    r = PyErr_WarnExplicitFormat(category, filename, lineno, module, registry, "%U", text);
    Py_DECREF(text);
    return r;
}
#endif

#if PY_VERSION_HEX >= 0x030D0000 && !defined(Py_LIMITED_API)
static inline void pyctx_v_PyErr_FormatUnraisable(const char *fmt, va_list va)
{
    PyObject *text;
    if (fmt == NULL) {
        PyErr_FormatUnraisable(NULL);
        return;
    }
    text = PyUnicode_FromFormatV(fmt, va);
    if (text == NULL) {
        PyErr_WriteUnraisable(NULL);
        return;
    }
    PyErr_FormatUnraisable("%U", text);
    Py_DECREF(text);
}
#endif

/* PySys_Audit builds its argument tuple from argFormat; build it here and
 * pass it as the one "O" argument, which yields the same tuple. */
#if !defined(Py_LIMITED_API) || Py_LIMITED_API >= 0x030D0000
static inline int pyctx_v_PySys_Audit(const char *event, const char *fmt, va_list va)
{
    int r;
    PyObject *args;
    if (fmt == NULL || *fmt == '\0')
        return PySys_Audit(event, NULL);
    args = Py_VaBuildValue(fmt, va);
    if (args == NULL)
        return -1;
    r = PySys_Audit(event, "O", args);
    Py_DECREF(args);
    return r;
}
#endif

#endif /* PYCTX_VARIADIC_H */
