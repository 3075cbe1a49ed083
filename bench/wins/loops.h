/*
 * The "where the context wins" loops (issue 10, point 5): ONE source,
 * compiled four times into the module _pyctx_wins (loops_direct.c,
 * loops_ctx.c, loops_legacy.c, loops_copy.c) with the same compiler and
 * flags; only BENCH_MODE differs:
 *
 *   direct  CPython's own <Python.h>, no pyctx header: stock calls;
 *   ctx     pyctx.h, every call written with the context first
 *           (`PyErr_Occurred(ctx)`), the context fetched once before the
 *           loop and laundered every iteration;
 *   legacy  pyctx.h, calls written without a context: the legacy form,
 *           through compat;
 *   copy    the direct unit a second time (A/A control).
 *
 * One loop per row of rows.h. A row measures one API function (with the
 * companion call that makes the loop repeatable: PyErr_SetString is
 * followed by PyErr_Clear, Py_EnterRecursiveCall by Py_LeaveRecursiveCall
 * and the other way round); the companion is CPython's function, named in
 * parentheses, in every build.
 * The rows cover every ctx form with a fast path in pyctx_fast.h (the
 * driver checks that against the header) and the candidates that have
 * none, each with its reason.
 *
 * Same rules as bench/percall/loops.h: OPAQUE launders the argument and the
 * context every iteration (no hoisting of a call or of the context's bit
 * test, no merging of two calls' tests), results go to a volatile sink, the
 * loop returns raw nanoseconds of n iterations (wall; *cpu_ns: the
 * thread's CPU time), or -1 with an exception set.
 */
#ifndef BENCH_WINS_LOOPS_H
#define BENCH_WINS_LOOPS_H

#define PY_SSIZE_T_CLEAN
#if defined(BENCH_MODE_DIRECT)
#include <Python.h>
#ifdef BENCH_COPY
#define WIN_FN(name) wins_copy_##name
#else
#define WIN_FN(name) wins_direct_##name
#endif
#define CTX
#define CTX0
#define SETUP_CTX
#define LAUNDER_CTX
#elif defined(BENCH_MODE_CTX)
#include "pyctx.h"
#define WIN_FN(name) wins_ctx_##name
#define CTX ctx,
#define CTX0 ctx
#define SETUP_CTX PyCtx ctx = PyCtx_Get();
#define LAUNDER_CTX OPAQUE(ctx)
#elif defined(BENCH_MODE_LEGACY)
#include "pyctx.h"
#define WIN_FN(name) wins_legacy_##name
#define CTX
#define CTX0
#define SETUP_CTX
#define LAUNDER_CTX
#else
#error "define BENCH_MODE_DIRECT, BENCH_MODE_CTX or BENCH_MODE_LEGACY"
#endif

#include <stdint.h>
#include <time.h>

#define OPAQUE(x) __asm__ volatile("" : "+r"(x))

extern volatile long wins_sink;
extern PyObject *wins_name_count; /* "count", interned by the module */

static inline long long wins_clock_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

#define WIN_LOOP(name, ...)                                                   \
    long long WIN_FN(name)(Py_ssize_t n, PyObject *arg, long long *cpu_ns)   \
    {                                                                         \
        SETUP_CTX                                                             \
        long acc = 0;                                                         \
        long long c0 = wins_clock_ns(CLOCK_THREAD_CPUTIME_ID);                \
        long long t0 = wins_clock_ns(CLOCK_MONOTONIC);                        \
        for (Py_ssize_t i = 0; i < n; i++) {                                  \
            LAUNDER_CTX;                                                      \
            OPAQUE(arg);                                                      \
            __VA_ARGS__                                                       \
        }                                                                     \
        long long t1 = wins_clock_ns(CLOCK_MONOTONIC);                        \
        long long c1 = wins_clock_ns(CLOCK_THREAD_CPUTIME_ID);                \
        wins_sink = acc;                                                      \
        *cpu_ns = c1 - c0;                                                    \
        return t1 - t0;                                                       \
    }

/* A call's result, dropped again with the legacy Py_DECREF (CPython's own
 * expansion in every build),
 * so that only the measured call differs), NULL an error. */
#define WIN_DROP(r)          \
    do {                     \
        PyObject *r_ = (r);  \
        if (r_ == NULL)      \
            return -1;       \
        Py_DECREF(r_);     \
    } while (0)

/* ---- ctx forms with a fast path (pyctx_fast.h) ---- */

WIN_LOOP(PyErr_Occurred, { acc += PyErr_Occurred(CTX0) != NULL; })

WIN_LOOP(PyThreadState_Get, { acc += (long)(uintptr_t)PyThreadState_Get(CTX0) & 1; })

WIN_LOOP(PyInterpreterState_Get, { acc += (long)(uintptr_t)PyInterpreterState_Get(CTX0) & 1; })

WIN_LOOP(PyThreadState_GetDict, { acc += PyThreadState_GetDict(CTX0) != NULL; })

WIN_LOOP(PyErr_SetString, {
    PyErr_SetString(CTX PyExc_KeyError, "k");
    LAUNDER_CTX;
    (PyErr_Clear)();
    acc += 1;
})

WIN_LOOP(PyErr_Clear, {
    PyErr_Clear(CTX0);
    acc += 1;
})

WIN_LOOP(PyErr_ExceptionMatches, { acc += PyErr_ExceptionMatches(CTX PyExc_KeyError); })

#if PY_VERSION_HEX >= 0x030C0000
WIN_LOOP(PyErr_GetRaisedException, { acc += PyErr_GetRaisedException(CTX0) != NULL; })
#endif

WIN_LOOP(Py_EnterRecursiveCall, {
    if (Py_EnterRecursiveCall(CTX " in bench"))
        return -1;
    LAUNDER_CTX;
    (Py_LeaveRecursiveCall)();
    acc += 1;
})

WIN_LOOP(Py_LeaveRecursiveCall, {
    if ((Py_EnterRecursiveCall)(" in bench"))
        return -1;
    LAUNDER_CTX;
    Py_LeaveRecursiveCall(CTX0);
    acc += 1;
})

WIN_LOOP(PyTuple_GetItem, { acc += PyTuple_GetItem(CTX arg, 1) != NULL; })

WIN_LOOP(PyList_GetItem, { acc += PyList_GetItem(CTX arg, 1) != NULL; })

WIN_LOOP(PyTuple_Size, { acc += PyTuple_Size(CTX arg); })

WIN_LOOP(PyList_Size, { acc += PyList_Size(CTX arg); })

WIN_LOOP(Py_DECREF, {
    Py_INCREF(arg);
    Py_DECREF(CTX arg);
    acc += 1;
})

WIN_LOOP(Py_XDECREF, {
    Py_INCREF(arg);
    Py_XDECREF(CTX arg);
    acc += 1;
})

WIN_LOOP(PyEval_RestoreThread, {
    PyThreadState *ts = (PyEval_SaveThread)();
    LAUNDER_CTX;
    PyEval_RestoreThread(CTX ts);
    acc += 1;
})

/* The calls go to a C function of this module that does nothing (wins.c),
 * so the call machinery is most of what is timed. */
WIN_LOOP(PyObject_CallNoArgs, { WIN_DROP(PyObject_CallNoArgs(CTX arg)); })

WIN_LOOP(PyObject_CallOneArg, { WIN_DROP(PyObject_CallOneArg(CTX arg, Py_None)); })

WIN_LOOP(PyObject_Vectorcall, {
    PyObject *args[2] = {NULL, Py_None};
    WIN_DROP(PyObject_Vectorcall(CTX arg, args + 1, 1 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL));
})

WIN_LOOP(PyObject_CallFunctionObjArgs, {
    WIN_DROP(PyObject_CallFunctionObjArgs(CTX arg, Py_None, NULL));
})

/* list.count(None) on a list of three ints. */
WIN_LOOP(PyObject_CallMethodObjArgs, {
    WIN_DROP(PyObject_CallMethodObjArgs(CTX arg, wins_name_count, Py_None, NULL));
})

/* ---- candidates without a fast path (reasons in rows.h) ---- */

WIN_LOOP(PyGILState_Check, { acc += PyGILState_Check(CTX0); })

WIN_LOOP(PyEval_SaveThread, {
    PyThreadState *ts = PyEval_SaveThread(CTX0);
    LAUNDER_CTX;
    (PyEval_RestoreThread)(ts);
    acc += 1;
})

WIN_LOOP(PyTuple_New, {
    PyObject *t = PyTuple_New(CTX 2);
    if (t == NULL)
        return -1;
    acc += (long)(uintptr_t)t & 1;
    Py_DECREF(t);
})

WIN_LOOP(PyList_New, {
    PyObject *l = PyList_New(CTX 0);
    if (l == NULL)
        return -1;
    acc += (long)(uintptr_t)l & 1;
    Py_DECREF(l);
})

WIN_LOOP(PyMem_Malloc, {
    void *p = PyMem_Malloc(CTX 32);
    if (p == NULL)
        return -1;
    acc += (long)(uintptr_t)p & 1;
    (PyMem_Free)(p);
})

#endif /* BENCH_WINS_LOOPS_H */
