/*
 * pyctx_fast.h: ctx forms that read VM state through the context instead of
 * calling CPython (which would read the thread state from TLS again).
 *
 * Included by the generated pyctx_api.h after PyCtxOrig_* are defined and
 * before the ctx forms. For a name NAME with a function pyctx_fast_NAME
 * here, the generated ctx form is
 *
 *     pyctx__check(caller, ctx, id);          one bit test
 *     return pyctx_fast_NAME(ctx, args...);
 *
 * Each fast path handles the common case inline and hands anything unusual
 * (errors, subclasses it cannot be sure of, a restricted or debug context)
 * to CPython's own function, so behaviour is CPython's in every case.
 */
#ifndef PYCTX_FAST_H
#define PYCTX_FAST_H

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC system_header
#endif

/* The thread state a fast (full, release-mode) context was made from.
 * Only valid when PYCTX__BIT_FAST is set. */
static inline PyThreadState *pyctx__tstate(PyCtx ctx)
{
    return (PyThreadState *)(((uintptr_t)ctx & ~PYCTX__BITS) - PYCTX__OFFSET);
}

static inline int pyctx__is_fast(PyCtx ctx)
{
    return ((uintptr_t)ctx & PYCTX__BIT_FAST) != 0;
}

/* PyErr_Occurred: the current exception's type, straight from the thread
 * state: CPython's function does the same after its own TLS read. */
static inline PyObject *pyctx_fast_PyErr_Occurred(PyCtx ctx)
{
    PyThreadState *ts;
    if (PYCTX__UNLIKELY(!pyctx__is_fast(ctx)))
        return PyCtxOrig_PyErr_Occurred();
    ts = pyctx__tstate(ctx);
#if PY_VERSION_HEX >= 0x030C0000
    return ts->current_exception == NULL ? NULL : (PyObject *)Py_TYPE(ts->current_exception);
#else
    return ts->curexc_type;
#endif
}

/* PyThreadState_Get: the context's own thread state. */
static inline PyThreadState *pyctx_fast_PyThreadState_Get(PyCtx ctx)
{
    if (PYCTX__UNLIKELY(!pyctx__is_fast(ctx)))
        return PyCtxOrig_PyThreadState_Get();
    return pyctx__tstate(ctx);
}

/* PyInterpreterState_Get: the context's thread state's interpreter (a
 * public field of PyThreadState on 3.9-3.13); CPython's function reads the
 * thread state first. */
static inline PyInterpreterState *pyctx_fast_PyInterpreterState_Get(PyCtx ctx)
{
    if (PYCTX__UNLIKELY(!pyctx__is_fast(ctx)))
        return PyCtxOrig_PyInterpreterState_Get();
    return pyctx__tstate(ctx)->interp;
}

/* PyThreadState_GetDict: the thread state's dict once CPython made it (a
 * public field); CPython's function makes it on first use. */
static inline PyObject *pyctx_fast_PyThreadState_GetDict(PyCtx ctx)
{
    if (PYCTX__UNLIKELY(!pyctx__is_fast(ctx)) || pyctx__tstate(ctx)->dict == NULL)
        return PyCtxOrig_PyThreadState_GetDict();
    return pyctx__tstate(ctx)->dict;
}

/* CPython's exported functions that take the thread state as an argument
 * (private names, so the API table has no slot for them): looked up once
 * per translation unit, like the table's. */
#define PYCTX__TSTATE_FN(ret, name, params)                                              \
    static inline ret (*pyctx__tsfn_##name(void)) params                                  \
    {                                                                                     \
        static ret (*slot) params;                                                        \
        ret (*f) params = __atomic_load_n(&slot, __ATOMIC_RELAXED);                       \
        if (PYCTX__UNLIKELY(f == NULL)) {                                                 \
            f = (ret (*) params)pyctx_resolve(#name);                                     \
            __atomic_store_n(&slot, f, __ATOMIC_RELAXED);                                 \
        }                                                                                 \
        return f;                                                                         \
    }
PYCTX__TSTATE_FN(void, _PyErr_SetString, (PyThreadState *, PyObject *, const char *))
PYCTX__TSTATE_FN(void, _PyErr_Clear, (PyThreadState *))
PYCTX__TSTATE_FN(int, _Py_CheckRecursiveCall, (PyThreadState *, const char *))

PYCTX__TSTATE_FN(PyObject *, _Py_CheckFunctionResult, (PyThreadState *, PyObject *, PyObject *, const char *))
PYCTX__TSTATE_FN(PyObject *, _PyObject_MakeTpCall,
                 (PyThreadState *, PyObject *, PyObject *const *, Py_ssize_t, PyObject *))

/* A vectorcall with the context's thread state: what CPython's
 * _PyObject_VectorcallTstate does (3.9-3.13: the callable's vectorcall
 * function, else its tp_call through _PyObject_MakeTpCall; the result
 * checked by _Py_CheckFunctionResult), without the thread-state read its
 * callers PyObject_Vectorcall, PyObject_CallOneArg, PyObject_CallNoArgs
 * make first. Only with a fast context. */
static inline PyObject *pyctx__vectorcall(PyCtx ctx, PyObject *callable, PyObject *const *args,
                                          size_t nargsf, PyObject *kwnames)
{
    PyThreadState *ts = pyctx__tstate(ctx);
    PyTypeObject *tp = Py_TYPE(callable);
    vectorcallfunc func = NULL;
    if (tp->tp_flags & Py_TPFLAGS_HAVE_VECTORCALL)
        memcpy(&func, (char *)callable + tp->tp_vectorcall_offset, sizeof func);
    if (func == NULL) {
        Py_ssize_t nargs = (Py_ssize_t)(nargsf & ~PY_VECTORCALL_ARGUMENTS_OFFSET);
        return pyctx__tsfn__PyObject_MakeTpCall()(ts, callable, args, nargs, kwnames);
    }
    return pyctx__tsfn__Py_CheckFunctionResult()(ts, callable, func(callable, args, nargsf, kwnames),
                                                 NULL);
}

static inline PyObject *pyctx_fast_PyObject_Vectorcall(PyCtx ctx, PyObject *callable,
                                                       PyObject *const *args, size_t nargsf,
                                                       PyObject *kwnames)
{
    if (PYCTX__UNLIKELY(!pyctx__is_fast(ctx)))
        return PyCtxOrig_PyObject_Vectorcall(callable, args, nargsf, kwnames);
    return pyctx__vectorcall(ctx, callable, args, nargsf, kwnames);
}

static inline PyObject *pyctx_fast_PyObject_CallNoArgs(PyCtx ctx, PyObject *func)
{
    if (PYCTX__UNLIKELY(!pyctx__is_fast(ctx)))
        return PyCtxOrig_PyObject_CallNoArgs(func);
    return pyctx__vectorcall(ctx, func, NULL, 0, NULL);
}

/* The argument sits after a free slot, as CPython's own PyObject_CallOneArg
 * does it: PY_VECTORCALL_ARGUMENTS_OFFSET lets a bound method put `self`
 * there instead of copying the arguments. */
static inline PyObject *pyctx_fast_PyObject_CallOneArg(PyCtx ctx, PyObject *func, PyObject *arg)
{
    PyObject *slots[2];
    if (PYCTX__UNLIKELY(!pyctx__is_fast(ctx)))
        return PyCtxOrig_PyObject_CallOneArg(func, arg);
    slots[0] = NULL;
    slots[1] = arg;
    return pyctx__vectorcall(ctx, func, slots + 1, 1 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
}

/* PyObject_CallFunctionObjArgs (C-variadic: the generated ctx form hands
 * its va_list here with the context, see pyctx_fastv_ in flags/src/header.rs):
 * the arguments on the stack, one vectorcall with the context's thread state,
 * as CPython's own function does after reading the thread state; more than
 * PYCTX__STACK_ARGS arguments, or a restricted or debug context, go through
 * the va_list body of pyctx_variadic.h. */
#define PYCTX__STACK_ARGS 8
static inline PyObject *pyctx_fastv_PyObject_CallFunctionObjArgs(PyCtx ctx, PyObject *callable,
                                                                 va_list va)
{
    PyObject *stack[1 + PYCTX__STACK_ARGS];
    PyObject *arg;
    size_t n = 0;
    va_list scan;
    if (PYCTX__UNLIKELY(!pyctx__is_fast(ctx)) || callable == NULL)
        return pyctx_v_PyObject_CallFunctionObjArgs(callable, va);
    va_copy(scan, va);
    while ((arg = va_arg(scan, PyObject *)) != NULL) {
        if (n == PYCTX__STACK_ARGS) {
            va_end(scan);
            return pyctx_v_PyObject_CallFunctionObjArgs(callable, va);
        }
        stack[1 + n++] = arg;
    }
    va_end(scan);
    return pyctx__vectorcall(ctx, callable, stack + 1, n | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
}

/* PyErr_SetString: CPython's own body, given the context's thread state
 * instead of reading it again. */
static inline void pyctx_fast_PyErr_SetString(PyCtx ctx, PyObject *exception, const char *string)
{
    if (PYCTX__UNLIKELY(!pyctx__is_fast(ctx))) {
        PyCtxOrig_PyErr_SetString(exception, string);
        return;
    }
    pyctx__tsfn__PyErr_SetString()(pyctx__tstate(ctx), exception, string);
}

/* PyErr_Clear: nothing to do when no exception is set (the common case:
 * code that clears defensively), else CPython's body with the context's
 * thread state. */
static inline void pyctx_fast_PyErr_Clear(PyCtx ctx)
{
    if (PYCTX__UNLIKELY(!pyctx__is_fast(ctx))) {
        PyCtxOrig_PyErr_Clear();
        return;
    }
    if (pyctx_fast_PyErr_Occurred(ctx) != NULL)
        pyctx__tsfn__PyErr_Clear()(pyctx__tstate(ctx));
}

/* PyErr_ExceptionMatches: the current exception's type through the
 * context, then CPython's comparison. */
static inline int pyctx_fast_PyErr_ExceptionMatches(PyCtx ctx, PyObject *exc)
{
    if (PYCTX__UNLIKELY(!pyctx__is_fast(ctx)))
        return PyCtxOrig_PyErr_ExceptionMatches(exc);
    return PyCtxOrig_PyErr_GivenExceptionMatches(pyctx_fast_PyErr_Occurred(ctx), exc);
}

#if PY_VERSION_HEX >= 0x030C0000
/* PyErr_GetRaisedException (3.12+): take the thread state's exception. */
static inline PyObject *pyctx_fast_PyErr_GetRaisedException(PyCtx ctx)
{
    PyThreadState *ts;
    PyObject *exc;
    if (PYCTX__UNLIKELY(!pyctx__is_fast(ctx)))
        return PyCtxOrig_PyErr_GetRaisedException();
    ts = pyctx__tstate(ctx);
    exc = ts->current_exception;
    ts->current_exception = NULL;
    return exc;
}
#endif

/* Py_EnterRecursiveCall / Py_LeaveRecursiveCall: CPython's inline counter
 * (3.11+; the 3.9-3.10 limit lives in the interpreter's hidden state, so
 * those call CPython), with its check function past the limit. */
#if PY_VERSION_HEX >= 0x030B0000 && !defined(USE_STACKCHECK)
#define PYCTX__INLINE_RECURSION 1
#endif

static inline int pyctx_fast_Py_EnterRecursiveCall(PyCtx ctx, const char *where)
{
#ifdef PYCTX__INLINE_RECURSION
    PyThreadState *ts;
    if (PYCTX__UNLIKELY(!pyctx__is_fast(ctx)))
        return PyCtxOrig_Py_EnterRecursiveCall(where);
    ts = pyctx__tstate(ctx);
#if PY_VERSION_HEX >= 0x030D0000
    if (PYCTX__UNLIKELY(ts->c_recursion_remaining-- < 0))
#elif PY_VERSION_HEX >= 0x030C0000
    if (PYCTX__UNLIKELY(ts->c_recursion_remaining-- <= 0))
#else
    if (PYCTX__UNLIKELY(ts->recursion_remaining-- <= 0))
#endif
        return pyctx__tsfn__Py_CheckRecursiveCall()(ts, where);
    return 0;
#else
    (void)ctx;
    return PyCtxOrig_Py_EnterRecursiveCall(where);
#endif
}

static inline void pyctx_fast_Py_LeaveRecursiveCall(PyCtx ctx)
{
#ifdef PYCTX__INLINE_RECURSION
    if (PYCTX__UNLIKELY(!pyctx__is_fast(ctx))) {
        PyCtxOrig_Py_LeaveRecursiveCall();
        return;
    }
#if PY_VERSION_HEX >= 0x030C0000
    pyctx__tstate(ctx)->c_recursion_remaining++;
#else
    pyctx__tstate(ctx)->recursion_remaining++;
#endif
#else
    (void)ctx;
    PyCtxOrig_Py_LeaveRecursiveCall();
#endif
}

/* Item and size access: the in-range case inline; type errors and index
 * errors (with CPython's messages) from CPython's function. */
static inline PyObject *pyctx_fast_PyTuple_GetItem(PyCtx ctx, PyObject *op, Py_ssize_t i)
{
    (void)ctx;
    if (PyTuple_Check(op) && (size_t)i < (size_t)Py_SIZE(op))
        return ((PyTupleObject *)op)->ob_item[i];
    return PyCtxOrig_PyTuple_GetItem(op, i);
}

static inline PyObject *pyctx_fast_PyList_GetItem(PyCtx ctx, PyObject *op, Py_ssize_t i)
{
    (void)ctx;
    if (PyList_Check(op) && (size_t)i < (size_t)Py_SIZE(op))
        return ((PyListObject *)op)->ob_item[i];
    return PyCtxOrig_PyList_GetItem(op, i);
}

static inline Py_ssize_t pyctx_fast_PyTuple_Size(PyCtx ctx, PyObject *op)
{
    (void)ctx;
    if (PyTuple_Check(op))
        return Py_SIZE(op);
    return PyCtxOrig_PyTuple_Size(op);
}

static inline Py_ssize_t pyctx_fast_PyList_Size(PyCtx ctx, PyObject *op)
{
    (void)ctx;
    if (PyList_Check(op))
        return Py_SIZE(op);
    return PyCtxOrig_PyList_Size(op);
}

/* Py_DECREF / Py_XDECREF: CPython's decrement; reaching zero, a type with a
 * context-aware deallocator is deallocated through the runtime's type table
 * with a dealloc context made from this one (no thread-state read), any
 * other type as CPython's _Py_Dealloc does it (pyctx__dealloc). Always inline, as
 * GCC keeps CPython's own Py_DECREF (regex migrated: 135 out-of-line calls
 * of this wrapper where the plain build has none). */
static inline PYCTX__ALWAYS_INLINE void pyctx_fast_Py_DECREF(PyCtx ctx, PyObject *op)
{
#if defined(Py_REF_DEBUG) || defined(Py_TRACE_REFS) || defined(Py_GIL_DISABLED)
    (void)ctx;
    PyCtxOrig_Py_DECREF(op);
#else
#if PY_VERSION_HEX >= 0x030C0000
    if (_Py_IsImmortal(op))
        return;
#endif
    if (--op->ob_refcnt == 0)
        pyctx__dealloc(ctx, op);
#endif
}

static inline PYCTX__ALWAYS_INLINE void pyctx_fast_Py_XDECREF(PyCtx ctx, PyObject *op)
{
    if (op != NULL)
        pyctx_fast_Py_DECREF(ctx, op);
}

/* PyEval_RestoreThread: CPython's function; in debug mode the runtime first
 * checks that `ts` is the context's own thread state (a context threaded
 * across a save/restore pair must name the state re-attached). Release
 * mode pays the fast-bit test only. */
static inline void pyctx_fast_PyEval_RestoreThread(PyCtx ctx, PyThreadState *ts)
{
    if (PYCTX__UNLIKELY(!pyctx__is_fast(ctx)))
        pyctx_restore_check(ctx, ts);
    PyCtxOrig_PyEval_RestoreThread(ts);
}

/* The macro forms cast like CPython's (any object pointer is accepted). */
#define pyctx_fastm_Py_DECREF(ctx, op) pyctx_fast_Py_DECREF((ctx), (PyObject *)(op))
#define pyctx_fastm_Py_XDECREF(ctx, op) pyctx_fast_Py_XDECREF((ctx), (PyObject *)(op))

#endif /* PYCTX_FAST_H */
