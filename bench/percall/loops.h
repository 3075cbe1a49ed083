/*
 * The per-call benchmark loops: ONE source, compiled three times into the
 * same extension module (loops_direct.c, loops_ctx.c, loops_legacy.c), each
 * with the same compiler and flags, only BENCH_MODE differs:
 *
 *   BENCH_MODE_DIRECT  includes CPython's own <Python.h> only (no pyctx
 *                      header in that translation unit): stock CPython calls.
 *   BENCH_MODE_CTX     includes pyctx.h; every call is written with a
 *                      leading context: `PyObject_IsTrue(ctx, v)`, with
 *                      `ctx = PyCtx_Get()` fetched once before the loop.
 *   BENCH_MODE_LEGACY  includes pyctx.h; calls written without a context:
 *                      `PyObject_IsTrue(v)`, the legacy form through compat.
 *
 *   BENCH_MODE_DIRECT + BENCH_COPY (loops_copy.c): a second copy of the
 *                      direct build, at another address: an A/A control.
 *                      Identical machine code still differs by a few percent
 *                      with placement (alignment, branch-predictor and
 *                      cache-set aliasing); copy/direct shows how much.
 *
 * The loop bodies below are spelled `PyObject_IsTrue(CTX v)`: CTX is `ctx,`
 * in the ctx build and empty otherwise (CTX0 for zero-argument functions).
 *
 * Every loop function returns the elapsed time of its n iterations in
 * nanoseconds (clock_gettime(CLOCK_MONOTONIC) around the loop; the thread's
 * CPU time goes to *cpu_ns), raw: no empty-loop baseline is subtracted
 * (bench_direct_empty measures that baseline so the report can show it);
 * or -1 with a Python exception set.
 *
 * Keeping the compiler honest:
 *   - OPAQUE(x) is an empty asm statement that claims to modify x: the
 *     compiler cannot prove the argument (or the context) is loop-invariant,
 *     so it cannot hoist a call or the context's bit test out of the loop
 *     (GCC -O3 would otherwise unswitch the loop on the invariant bit test
 *     and the ctx loop would contain no test at all), nor merge the tests of
 *     two calls in one iteration: every ctx-form call pays its own check, the
 *     conservative case. It emits no instruction (at most a register move).
 *     The argument is laundered identically in all three builds.
 *   - results are accumulated and stored to a volatile sink after the loop.
 *   - the measured functions are CPython's exported functions: the compiler
 *     cannot see into them, so it cannot delete or merge the calls.
 */
#ifndef BENCH_LOOPS_H
#define BENCH_LOOPS_H

#define PY_SSIZE_T_CLEAN
#if defined(BENCH_MODE_DIRECT)
#include <Python.h>
#ifdef BENCH_COPY
#define BENCH_FN(name) bench_copy_##name
#else
#define BENCH_FN(name) bench_direct_##name
#endif
#define CTX
#define CTX0
#define SETUP_CTX
#define LAUNDER_CTX
#elif defined(BENCH_MODE_CTX)
#include "pyctx.h"
#define BENCH_FN(name) bench_ctx_##name
#define CTX ctx,
#define CTX0 ctx
#define SETUP_CTX PyCtx ctx = PyCtx_Get();
#define LAUNDER_CTX OPAQUE(ctx)
#elif defined(BENCH_MODE_LEGACY)
#include "pyctx.h"
#define BENCH_FN(name) bench_legacy_##name
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

extern volatile long bench_sink;

/* Both clocks are read around every loop: CLOCK_MONOTONIC (wall time) and
 * CLOCK_THREAD_CPUTIME_ID (CPU time of this thread: does not advance while
 * the thread is preempted, which on a shared machine is most of the noise).
 * The CPU-time reads are system calls (~0.1-0.5 us), negligible against a
 * loop of milliseconds; they sit outside the wall-clock pair. */
static inline long long bench_clock_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* One timed loop: `body` runs n times with `acc` and the loop-variant
 * (laundered) `arg` in scope. Returns the wall time; *cpu_ns gets the
 * thread CPU time. BENCH_LOOP_SETUP runs `setup` (declarations) once before
 * the clock is read. */
#define BENCH_LOOP(name, body) BENCH_LOOP_SETUP(name, , body)
#define BENCH_LOOP_SETUP(name, setup, body)                               \
    long long BENCH_FN(name)(Py_ssize_t n, PyObject *arg, long long *cpu_ns) \
    {                                                                     \
        SETUP_CTX                                                         \
        setup                                                             \
        long acc = 0;                                                     \
        long long c0 = bench_clock_ns(CLOCK_THREAD_CPUTIME_ID);           \
        long long t0 = bench_clock_ns(CLOCK_MONOTONIC);                   \
        for (Py_ssize_t i = 0; i < n; i++) {                              \
            LAUNDER_CTX;                                                  \
            OPAQUE(arg);                                                  \
            body                                                          \
        }                                                                 \
        long long t1 = bench_clock_ns(CLOCK_MONOTONIC);                   \
        long long c1 = bench_clock_ns(CLOCK_THREAD_CPUTIME_ID);           \
        bench_sink = acc;                                                 \
        *cpu_ns = c1 - c0;                                                \
        return t1 - t0;                                                   \
    }

/* A forwarded function: ctx form = bit test + CPython's function. */
BENCH_LOOP(is_true, {
    int r = PyObject_IsTrue(CTX arg);
    if (r < 0)
        return -1;
    acc += r;
})

BENCH_LOOP(long_as_long, {
    acc += PyLong_AsLong(CTX arg);
})

/* An allocation: a fresh 2-tuple (tuple freelist) and its release. */
BENCH_LOOP(tuple_new, {
    PyObject *t = PyTuple_New(CTX 2);
    if (t == NULL)
        return -1;
    acc += (long)(uintptr_t)t & 0xff;
    LAUNDER_CTX;
    Py_DECREF(CTX t);
})

BENCH_LOOP(err_occurred, {
    acc += PyErr_Occurred(CTX0) != NULL;
})

/* Py_DECREF reaching zero: the float is created by CPython's own
 * PyFloat_FromDouble in every build (parenthesised name: never dispatched),
 * only the Py_DECREF differs. */
BENCH_LOOP(decref_zero, {
    PyObject *f = (PyFloat_FromDouble)((double)i);
    if (f == NULL)
        return -1;
    acc += (long)(uintptr_t)f & 0xff;
    Py_DECREF(CTX f);
})

#if defined(BENCH_MODE_CTX)
/* How a ctx-form decref to zero can tell a runtime-managed type from a
 * foreign one (issue 10), side by side on the same fresh float (foreign):
 *
 *   ctx (above)       the header's decref: the context's capability test,
 *                     then the probe: the type's table index in tp_flags
 *                     bits 32+ (one load of tp_flags, one test).
 *   ctx_by_dealloc    the same capability test, then compare tp_dealloc
 *                     with one runtime-wide deallocator address (one load
 *                     of tp_dealloc, which _Py_Dealloc loads next anyway,
 *                     one compare with a constant).
 *   ctx_check_only    the capability test and no probe.
 *   ctx_no_probe      neither: CPython's own decrement and _Py_Dealloc from
 *                     the ctx build, the floor.
 *
 * A heap-type field would first need the heap-type flag (the tp_flags load
 * of the first probe) and then a second load: it cannot beat the first,
 * so it is not measured. */
static void bench_shared_dealloc(PyObject *self)
{
    (void)self;
}

/* The capability test every ctx-form Py_DECREF makes: pyctx.h's own. */
#define BENCH_CHECK_DEALLOC_OK(c) pyctx__check_dealloc_ok("bench", (c), 0)

static inline void bench_decref_by_dealloc(PyCtx c, PyObject *op)
{
    BENCH_CHECK_DEALLOC_OK(c);
#if PY_VERSION_HEX >= 0x030C0000
    if (_Py_IsImmortal(op))
        return;
#endif
    if (--op->ob_refcnt == 0) {
        destructor d = Py_TYPE(op)->tp_dealloc;
        if (PYCTX__UNLIKELY(d == bench_shared_dealloc)) {
            OPAQUE(c);
            d(op);
        } else {
            _Py_Dealloc(op);
        }
    }
}

BENCH_LOOP(decref_zero_by_dealloc, {
    PyObject *f = (PyFloat_FromDouble)((double)i);
    if (f == NULL)
        return -1;
    acc += (long)(uintptr_t)f & 0xff;
    bench_decref_by_dealloc(ctx, f);
})

BENCH_LOOP(decref_zero_check_only, {
    PyObject *f = (PyFloat_FromDouble)((double)i);
    if (f == NULL)
        return -1;
    acc += (long)(uintptr_t)f & 0xff;
    BENCH_CHECK_DEALLOC_OK(ctx);
    PyCtxOrig_Py_DECREF(f);
})

BENCH_LOOP(decref_zero_no_probe, {
    PyObject *f = (PyFloat_FromDouble)((double)i);
    if (f == NULL)
        return -1;
    acc += (long)(uintptr_t)f & 0xff;
    PyCtxOrig_Py_DECREF(f);
})
#endif

/* Reference-count traffic that does not reach zero (an inline primitive).
 * The pointer (and the context) are laundered between the two so that the
 * compiler cannot cancel the increment against the decrement (it does, in
 * the direct build, otherwise) nor merge the two context checks: this is
 * the cost of two separate API uses. */
BENCH_LOOP(incref_decref, {
    Py_INCREF(CTX arg);
    LAUNDER_CTX;
    OPAQUE(arg);
    Py_DECREF(CTX arg);
    acc += 1;
})

/* ---- Where the context can skip work (issue 10): API functions whose
 * ctx form reads the thread state through the context instead of asking
 * CPython for it again. ---- */

/* Raise and clear: PyErr_SetString + PyErr_Clear. */
BENCH_LOOP(err_set_clear, {
    PyErr_SetString(CTX PyExc_KeyError, "k");
    LAUNDER_CTX;
    PyErr_Clear(CTX0);
    acc += 1;
})

/* PyErr_Clear with nothing set (defensive clearing). */
BENCH_LOOP(err_clear_empty, {
    PyErr_Clear(CTX0);
    acc += 1;
})

/* PyErr_ExceptionMatches with no exception set (the common "did it fail
 * with X?" test on the success path). */
BENCH_LOOP(err_matches, {
    acc += PyErr_ExceptionMatches(CTX PyExc_KeyError);
})

/* Py_EnterRecursiveCall + Py_LeaveRecursiveCall (a recursive encoder's
 * per-container guard). */
BENCH_LOOP(recursion, {
    if (Py_EnterRecursiveCall(CTX " in bench"))
        return -1;
    LAUNDER_CTX;
    Py_LeaveRecursiveCall(CTX0);
    acc += 1;
})

/* PyGILState_Check: compares with the GILState thread-local state, which
 * the context does not know: no fast path. */
BENCH_LOOP(gilstate_check, {
    acc += PyGILState_Check(CTX0);
})

/* PyEval_SaveThread + PyEval_RestoreThread (Py_BEGIN/END_ALLOW_THREADS):
 * CPython swaps the thread state either way: no fast path. */
BENCH_LOOP(save_restore, {
    PyThreadState *ts = PyEval_SaveThread(CTX0);
    LAUNDER_CTX;
    PyEval_RestoreThread(CTX ts);
    acc += 1;
})

/* PyList_New(0) + Py_DECREF: CPython's own freelist (per interpreter). */
BENCH_LOOP(list_new, {
    PyObject *l = PyList_New(CTX 0);
    if (l == NULL)
        return -1;
    acc += (long)(uintptr_t)l & 0xff;
    LAUNDER_CTX;
    Py_DECREF(CTX l);
})

/* The thread-state / context read itself. */
#if defined(BENCH_MODE_CTX)
BENCH_LOOP(get_tstate, {
    PyCtx c = PyCtx_Get();
    OPAQUE(c);
    acc ^= (long)(uintptr_t)c;
})
#else
/* direct: CPython's PyThreadState_Get() (the checked, exported getter);
 * legacy: the same call spelled through pyctx.h's dispatch (compat). */
BENCH_LOOP(get_tstate, {
    PyThreadState *ts = PyThreadState_Get(CTX0);
    OPAQUE(ts);
    acc ^= (long)(uintptr_t)ts;
})
#endif

/* Create + destroy of an object of a heap type, non-GC, same struct in every
 * build. Each translation unit makes its own type at import
 * (BENCH_FN(init_types), called from percall.c):
 *
 *   direct / copy  a stock heap type (PyType_FromModuleAndSpec) whose
 *                  tp_dealloc is a plain C function: PyObject_Free, then
 *                  Py_DECREF of the type. Objects made with PyObject_New,
 *                  destroyed with Py_DECREF: CPython's _Py_Dealloc calls
 *                  tp_dealloc. No pyctx anywhere.
 *   ctx            a runtime-managed type: PyCtx_Type_FromSpec with
 *                  tp_dealloc = PYCTX_DEALLOC(rt_dealloc, impl).
 *                  Objects made with PyCtx_New(ctx, type) (the type's
 *                  freelist) and destroyed with Py_DECREF(ctx, o): reaching
 *                  zero, the header's decref finds the type in the runtime's
 *                  table and calls the impl with a dealloc context
 *                  (no thread-state read, no trampoline); the impl reads
 *                  the type with Py_TYPE(dctx, self), returns the memory
 *                  with PyCtx_Free(dctx, self) (freelist) and drops the
 *                  type with Py_DECREF(dctx, tp), as a migrated deallocator
 *                  is written (fixtures/types/ctxtypes.c).
 *   ctx_lean       (ctx build, second type) the same, except that the
 *                  deallocator reads the type and drops it with CPython's
 *                  own spelling (Py_TYPE(self), Py_DECREF(tp)) instead of
 *                  ctx-form calls with the dealloc context: what those two
 *                  inline capability tests cost.
 *   legacy         (legacy build, its own runtime-managed type, same
 *                  deallocator as ctx) made with PyCtx_New, destroyed with
 *                  the legacy Py_DECREF(o): CPython's _Py_Dealloc calls the
 *                  tp_dealloc trampoline, which fetches the context from the
 *                  thread state (PyCtx_Get) and calls the same impl.
 *
 * The context the ctx and legacy loops allocate with is fetched once before
 * the loop and laundered every iteration, like every ctx-form call here. */
typedef struct {
    PyObject_HEAD
    double x, y;
} BenchRtObject;

#if defined(BENCH_MODE_DIRECT)
static PyTypeObject *rt_type;

static void BENCH_FN(rt_dealloc)(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_Free(self);
    Py_DECREF(tp);
}
static PyType_Slot rt_slots[] = {{Py_tp_dealloc, (void *)BENCH_FN(rt_dealloc)}, {0, NULL}};
#ifdef BENCH_COPY
static PyType_Spec rt_spec = {"_pyctx_percall.CopyObject", sizeof(BenchRtObject), 0,
                              Py_TPFLAGS_DEFAULT, rt_slots};
#else
static PyType_Spec rt_spec = {"_pyctx_percall.StockObject", sizeof(BenchRtObject), 0,
                              Py_TPFLAGS_DEFAULT, rt_slots};
#endif

int BENCH_FN(init_types)(PyObject *module)
{
    rt_type = (PyTypeObject *)PyType_FromModuleAndSpec(module, &rt_spec, NULL);
    return rt_type == NULL ? -1 : 0;
}

BENCH_LOOP(runtime_type, {
    PyObject *o = (PyObject *)PyObject_New(BenchRtObject, rt_type);
    if (o == NULL)
        return -1;
    acc += (long)(uintptr_t)o & 0xff;
    Py_DECREF(o);
})

#else /* ctx and legacy builds: runtime-managed types */
static PyTypeObject *rt_type;

static void BENCH_FN(rt_dealloc_impl)(PyCtx dctx, PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(dctx, self);
    PyCtx_Free(dctx, self);
    Py_DECREF(dctx, tp);
}
PYCTX_DEALLOC(rt_dealloc, BENCH_FN(rt_dealloc_impl))
static PyType_Slot rt_slots[] = {{Py_tp_dealloc, (void *)rt_dealloc}, {0, NULL}};
#if defined(BENCH_MODE_CTX)
static PyType_Spec rt_spec = {"_pyctx_percall.CtxObject", sizeof(BenchRtObject), 0,
                              Py_TPFLAGS_DEFAULT, rt_slots};

static PyTypeObject *rt_lean_type;

static void BENCH_FN(rt_lean_dealloc_impl)(PyCtx dctx, PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyCtx_Free(dctx, self);
    Py_DECREF(tp);
}
PYCTX_DEALLOC(rt_lean_dealloc, BENCH_FN(rt_lean_dealloc_impl))
static PyType_Slot rt_lean_slots[] = {{Py_tp_dealloc, (void *)rt_lean_dealloc}, {0, NULL}};
static PyType_Spec rt_lean_spec = {"_pyctx_percall.CtxLeanObject", sizeof(BenchRtObject), 0,
                                   Py_TPFLAGS_DEFAULT, rt_lean_slots};
#else
static PyType_Spec rt_spec = {"_pyctx_percall.LegacyObject", sizeof(BenchRtObject), 0,
                              Py_TPFLAGS_DEFAULT, rt_slots};
#endif

int BENCH_FN(init_types)(PyObject *module)
{
    PyCtx ctx = PyCtx_Get();
    rt_type = (PyTypeObject *)PyCtx_Type_FromSpec(ctx, module, &rt_spec, NULL, &rt_dealloc_pyctx);
    if (rt_type == NULL)
        return -1;
#if defined(BENCH_MODE_CTX)
    rt_lean_type = (PyTypeObject *)PyCtx_Type_FromSpec(ctx, module, &rt_lean_spec, NULL,
                                                       &rt_lean_dealloc_pyctx);
    if (rt_lean_type == NULL)
        return -1;
#endif
    return 0;
}

#if defined(BENCH_MODE_CTX)
BENCH_LOOP(runtime_type, {
    PyObject *o = PyCtx_New(ctx, rt_type);
    if (o == NULL)
        return -1;
    acc += (long)(uintptr_t)o & 0xff;
    LAUNDER_CTX;
    Py_DECREF(ctx, o);
})

BENCH_LOOP(runtime_type_lean, {
    PyObject *o = PyCtx_New(ctx, rt_lean_type);
    if (o == NULL)
        return -1;
    acc += (long)(uintptr_t)o & 0xff;
    LAUNDER_CTX;
    Py_DECREF(ctx, o);
})
#else
BENCH_LOOP_SETUP(runtime_type, PyCtx rctx = PyCtx_Get();, {
    OPAQUE(rctx);
    PyObject *o = PyCtx_New(rctx, rt_type);
    if (o == NULL)
        return -1;
    acc += (long)(uintptr_t)o & 0xff;
    Py_DECREF(o);
})
#endif
#endif

/* Create + destroy of a GC type (runtime_type_gc): the same as above with
 * Py_TPFLAGS_HAVE_GC and one object field. stock: PyObject_GC_New +
 * PyObject_GC_Track, deallocator PyObject_GC_UnTrack + PyObject_GC_Del;
 * ctx: PyCtx_New + PyObject_GC_Track(ctx, o), Py_DECREF(ctx, o) reaching
 * the impl through the type table (PyObject_GC_UnTrack(dctx, self),
 * PyCtx_Free: the freelist keeps the GC header); legacy: PyCtx_New, and the
 * legacy Py_DECREF through the trampoline. */
typedef struct {
    PyObject_HEAD
    PyObject *ref;
} BenchGcObject;

static int BENCH_FN(gc_traverse)(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(((BenchGcObject *)self)->ref);
    return 0;
}

#if defined(BENCH_MODE_DIRECT)
static PyTypeObject *gc_type;
static void BENCH_FN(gc_dealloc)(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    Py_CLEAR(((BenchGcObject *)self)->ref);
    PyObject_GC_Del(self);
    Py_DECREF(tp);
}
static PyType_Slot gc_slots[] = {{Py_tp_dealloc, (void *)BENCH_FN(gc_dealloc)},
                                 {Py_tp_traverse, (void *)BENCH_FN(gc_traverse)}, {0, NULL}};
static PyType_Spec gc_spec = {"_pyctx_percall.StockGc", sizeof(BenchGcObject), 0,
                              Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC, gc_slots};

int BENCH_FN(init_gc_type)(PyObject *module)
{
    gc_type = (PyTypeObject *)PyType_FromModuleAndSpec(module, &gc_spec, NULL);
    return gc_type == NULL ? -1 : 0;
}

BENCH_LOOP(runtime_type_gc, {
    BenchGcObject *o = PyObject_GC_New(BenchGcObject, gc_type);
    if (o == NULL)
        return -1;
    o->ref = NULL;
    PyObject_GC_Track((PyObject *)o);
    acc += (long)(uintptr_t)o & 0xff;
    Py_DECREF(o);
})
#else
static PyTypeObject *gc_type;
static void BENCH_FN(gc_dealloc_impl)(PyCtx dctx, PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(dctx, self);
    PyObject_GC_UnTrack(dctx, self);
    Py_CLEAR(dctx, ((BenchGcObject *)self)->ref);
    PyCtx_Free(dctx, self);
    Py_DECREF(dctx, tp);
}
PYCTX_DEALLOC(gc_dealloc, BENCH_FN(gc_dealloc_impl))
static PyType_Slot gc_slots[] = {{Py_tp_dealloc, (void *)gc_dealloc},
                                 {Py_tp_traverse, (void *)BENCH_FN(gc_traverse)}, {0, NULL}};
#if defined(BENCH_MODE_CTX)
static PyType_Spec gc_spec = {"_pyctx_percall.CtxGc", sizeof(BenchGcObject), 0,
                              Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC, gc_slots};
#else
static PyType_Spec gc_spec = {"_pyctx_percall.LegacyGc", sizeof(BenchGcObject), 0,
                              Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC, gc_slots};
#endif

int BENCH_FN(init_gc_type)(PyObject *module)
{
    gc_type = (PyTypeObject *)PyCtx_Type_FromSpec(PyCtx_Get(), module, &gc_spec, NULL,
                                                  &gc_dealloc_pyctx);
    return gc_type == NULL ? -1 : 0;
}

#if defined(BENCH_MODE_CTX)
BENCH_LOOP(runtime_type_gc, {
    BenchGcObject *o = (BenchGcObject *)PyCtx_New(ctx, gc_type);
    if (o == NULL)
        return -1;
    o->ref = NULL;
    PyObject_GC_Track(ctx, (PyObject *)o);
    acc += (long)(uintptr_t)o & 0xff;
    LAUNDER_CTX;
    Py_DECREF(ctx, (PyObject *)o);
})
#else
BENCH_LOOP_SETUP(runtime_type_gc, PyCtx rctx = PyCtx_Get();, {
    OPAQUE(rctx);
    BenchGcObject *o = (BenchGcObject *)PyCtx_New(rctx, gc_type);
    if (o == NULL)
        return -1;
    o->ref = NULL;
    PyObject_GC_Track((PyObject *)o);
    acc += (long)(uintptr_t)o & 0xff;
    Py_DECREF((PyObject *)o);
})
#endif
#endif

#if defined(BENCH_MODE_DIRECT) && !defined(BENCH_COPY)
/* The unchecked getter that PyCtx_Get() itself calls. */
BENCH_LOOP(get_tstate_unchecked, {
#if PY_VERSION_HEX >= 0x030D0000
    PyThreadState *ts = PyThreadState_GetUnchecked();
#else
    PyThreadState *ts = _PyThreadState_UncheckedGet();
#endif
    OPAQUE(ts);
    acc ^= (long)(uintptr_t)ts;
})

/* The loop alone: the raw numbers of every other loop include this. */
BENCH_LOOP(empty, {
    acc += 1;
})
#endif

#endif /* BENCH_LOOPS_H */
