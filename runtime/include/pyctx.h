/*
 * pyctx.h: the context API on today's CPython.
 *
 * Include it (after defining PY_SSIZE_T_CLEAN if you use it) instead of or
 * after <Python.h>. Every C API function and API macro then accepts an extra
 * leading `PyCtx` argument, while the legacy spelling keeps working in the
 * same file:
 *
 *     PyCtx ctx = PyCtx_Get();
 *     int t = PyObject_IsTrue(ctx, v);    // ctx form: checked by one bit test
 *     int u = PyObject_IsTrue(v);         // legacy form: routed through compat
 *
 * In C++ the ctx forms of functions are overloads of the same names (found
 * through PyCtx's namespace); CPython's macros are dispatched as in C.
 *
 * Names of headers Python.h does not include (datetime.h, structmember.h,
 * marshal.h, frameobject.h) get their ctx forms from the first inclusion of
 * pyctx.h after them: include those headers first, or include pyctx.h again
 * after them. Object-like macros that act take the context as
 * NAME_CTX(ctx): `PyDateTime_IMPORT_CTX(ctx);`.
 *
 * The per-interpreter part (`pyctx_api.h`) is generated from the API table
 * by `pyctx flags --cflags --python PY`, which also puts it on the include
 * path. See ARCHITECTURE.md for the design and docs/runtime.md for details.
 */
#ifndef PYCTX_H
#define PYCTX_H

#if defined(__GNUC__) || defined(__clang__)
/* Our wrappers call deprecated API on the user's behalf and use _Generic in
 * C99 mode: none of that is the includer's concern (-Werror builds). */
#pragma GCC system_header
#endif

#if defined(Py_LIMITED_API) && (Py_LIMITED_API + 0) < 0x03090000
#error "pyctx: Py_LIMITED_API must name 3.9 or later (0x03090000 and up): pyctx supports CPython 3.9-3.13"
#endif

#include <Python.h>
#include <stdarg.h>
#include <stdint.h>

/* The context: an opaque handle, one register wide. A distinct pointer type
 * so that _Generic and the compiler's type checks can tell it apart.
 *
 * In C++ its struct lives in namespace `pyctx`, where the ctx forms of
 * functions are overloads of CPython's names: argument-dependent lookup
 * finds them for a call with a PyCtx argument, while the name alone
 * (`&NAME`, `(void *)NAME` in a PyType_Slot, `(NAME)(args)`) still names
 * CPython's one function, as in C. */
#ifdef __cplusplus
extern "C++" {
namespace pyctx {
struct Handle;
}
}
typedef pyctx::Handle *PyCtx;
#else
typedef struct PyCtx_Handle *PyCtx;
#endif

/* Encoding: ((uintptr_t)thread_state + PYCTX__OFFSET) | capability bits.
 * Thread states are at least 8-byte aligned, so the low three bits are free.
 * The offset keeps a context from being usable as a PyThreadState pointer.
 *
 * PYCTX__BIT_FAST is set only on a full, unrestricted context in release
 * mode: every API call tests that one bit and takes the runtime's checked
 * slow path when it is clear (restricted capability, debug or stats mode,
 * or a NULL / garbage context). PYCTX__BIT_DEALLOC, too, is set only in
 * release mode (PyCtx_AsDealloc): a function allowed in a deallocator
 * tests the two bits together. */
#define PYCTX__BIT_FAST ((uintptr_t)1)
#define PYCTX__BIT_DEALLOC ((uintptr_t)2)
#define PYCTX__BIT_DETACHED ((uintptr_t)4)
#define PYCTX__BITS ((uintptr_t)7)
#define PYCTX__OFFSET ((uintptr_t)8)

#if defined(__GNUC__) || defined(__clang__)
#define PYCTX__UNLIKELY(x) __builtin_expect(!!(x), 0)
/* For the few-instruction helpers every ctx-form use expands to (the
 * capability test, the decref-to-zero dispatch): in a large translation
 * unit GCC otherwise keeps them out of line once its unit-growth limit is
 * reached (regex migrated: pyctx__check called from 354 sites, the ctx
 * Py_DECREF from 135, where the plain build inlines every Py_DECREF),
 * turning a bit test into a call. */
#ifndef PYCTX__ALWAYS_INLINE
/* Overridable (to nothing) by a tool that lists what the header's inline
 * code references: GCC emits no copy of an always-inline function, even
 * with -fkeep-inline-functions (flags/tests/runtime_symbols.rs). */
#define PYCTX__ALWAYS_INLINE __attribute__((always_inline))
#endif
/* The runtime's slow paths, kept out of line and out of the hot code so
 * that the fast path around them needs few registers. */
#define PYCTX__COLD __attribute__((noinline, cold))
#define PYCTX__NOINLINE __attribute__((noinline))
#else
#define PYCTX__UNLIKELY(x) (x)
#define PYCTX__ALWAYS_INLINE
#define PYCTX__COLD
#define PYCTX__NOINLINE
#endif
#define PYCTX__LIKELY(x) (!PYCTX__UNLIKELY(!(x)))

/* libpyctx.a is linked into the extension itself (and its symbols hidden
 * there by --exclude-libs): its data is addressed PC-relative, not through
 * the global offset table (one load less per use of the type table and
 * the freelists). */
#if (defined(__GNUC__) || defined(__clang__)) && !defined(_WIN32) && !defined(__CYGWIN__)
#define PYCTX__HIDDEN __attribute__((visibility("hidden")))
#else
#define PYCTX__HIDDEN
#endif

/* The runtime's own symbols have C linkage, also when C++ includes this. */
#ifdef __cplusplus
#define PYCTX__EXTERN_C_BEGIN extern "C" {
#define PYCTX__EXTERN_C_END }
#else
#define PYCTX__EXTERN_C_BEGIN
#define PYCTX__EXTERN_C_END
#endif

/* ---- provided by libpyctx.a (Rust: runtime/ and compat/) ---- */
PYCTX__EXTERN_C_BEGIN

/* PYCTX__BIT_FAST in release mode, 0 when PYCTX_DEBUG or PYCTX_STATS was
 * set when the extension was loaded. Written once, at load. */
extern PYCTX__HIDDEN uintptr_t pyctx_fast_bit;

/* Checked path of a ctx-form call: validates the context against the API
 * function's capability class (and, in debug mode, against `current`, the
 * calling thread's attached thread state); on a violation prints a message
 * naming the function, the capability and the caller, then aborts. */
void pyctx_slow_ctx(const char *caller, PyCtx ctx, unsigned api_id, PyThreadState *current);

/* CPython's exported function `name`, looked up at run time; stops with a
 * named error when CPython has none. The ctx forms call CPython through
 * such pointers (see the generated header's first section). */
void (*pyctx_resolve(const char *name))(void);

/* Debug mode: stops with a named error when `ts` is not the thread state
 * `ctx` was made from (the ctx form of PyEval_RestoreThread calls it when
 * the context lacks the fast bit). */
void pyctx_restore_check(PyCtx ctx, PyThreadState *ts);

/* The calling thread's attached thread state or NULL, for builds whose
 * headers hide the thread state (Py_LIMITED_API). */
PyThreadState *pyctx_current_tstate(void);

/* PyCtx_AsDealloc and PyCtx_Capability for a context that carries neither
 * the fast nor the dealloc bit: one of debug or stats mode (whose dealloc
 * contexts are records of the runtime, see below), a detached one, or an
 * invalid one (NULL stays NULL). */
uintptr_t pyctx_as_dealloc(uintptr_t ctx);
int pyctx_capability(uintptr_t ctx);
PYCTX__EXTERN_C_END

/* ---- the context API's own functions ---- */

#if PY_VERSION_HEX < 0x030C0000 && !defined(Py_LIMITED_API)
/* CPython 3.9-3.11: the address of `_PyRuntime.gilstate.tstate_current`
 * (the GIL holder's thread state), found by the runtime at load; until then
 * it points at a NULL. Read inline: no call into libpython. */
PYCTX__EXTERN_C_BEGIN
extern PYCTX__HIDDEN uintptr_t *pyctx_tstate_current;
PYCTX__EXTERN_C_END
#if defined(__x86_64__) && defined(__linux__)
/* PyThread_get_thread_ident() is (unsigned long)pthread_self(), and on
 * x86_64 Linux (glibc, musl) pthread_self() is the thread pointer's first
 * word: one load instead of two calls. The runtime checks the equality at
 * load (runtime/src/tstate.rs). */
static inline unsigned long pyctx__thread_ident(void)
{
    unsigned long self;
    __asm__("mov %%fs:0, %0" : "=r"(self));
    return self;
}
#elif defined(_POSIX_THREADS) || defined(__linux__) || defined(__APPLE__)
#include <pthread.h>
#define pyctx__thread_ident() ((unsigned long)pthread_self())
#else
#define pyctx__thread_ident() PyThread_get_thread_ident()
#endif
#endif

/* The thread state attached to the calling thread, or NULL. */
static inline PyThreadState *pyctx__current_tstate(void)
{
#if defined(Py_LIMITED_API)
    /* The limited API hides the thread state and its unchecked getter:
     * the runtime finds them at run time. */
    return pyctx_current_tstate();
#elif PY_VERSION_HEX >= 0x030C0000
    /* Through the function's address, not the extension's call slot for
     * it: compat redirects call slots in debug/stats mode, and this is
     * pyctx's own call, not a legacy call of the extension's. The address
     * is a constant the compiler keeps in a register across a loop: the
     * call skips the PLT's indirect jump (3.12, bench get_tstate: 1.18x
     * PyThreadState_Get through the PLT, 1.11x this way, which is what the
     * unchecked getter itself costs against the checked one). */
#if PY_VERSION_HEX >= 0x030D0000
    PyThreadState *(*getter)(void) = &PyThreadState_GetUnchecked;
#else
    PyThreadState *(*getter)(void) = &_PyThreadState_UncheckedGet;
#endif
    __asm__("" : "+r"(getter));
    return getter();
#else
    /* Before 3.12 CPython's "current thread state" is one process-wide
     * value: the GIL holder's, whichever thread asks. A thread that released
     * the GIL must not take the holder's state for its own. */
    PyThreadState *ts = (PyThreadState *)__atomic_load_n(pyctx_tstate_current, __ATOMIC_RELAXED);
    if (ts != NULL && ts->thread_id != pyctx__thread_ident())
        return NULL;
    return ts;
#endif
}

/* The context of the current thread: one thread-state read. Without an
 * attached thread state (GIL released) the result is a `detached` context. */
static inline PyCtx PyCtx_Get(void)
{
    PyThreadState *ts = pyctx__current_tstate();
    uintptr_t bits = ts ? pyctx_fast_bit : PYCTX__BIT_DETACHED;
    return (PyCtx)(((uintptr_t)ts + PYCTX__OFFSET) | bits);
}

/* Restrict a context to what a deallocator may do (decref, clear, free, GC
 * untrack, type checks, plain accessors). There is no way back.
 *
 * In release mode the dealloc bit replaces the fast bit. Debug and stats
 * modes check every call, so their contexts carry neither bit; their
 * dealloc contexts are made by the runtime (a record that names the
 * capability), which keeps the dealloc bit a release-mode fact: the check
 * of a dealloc-safe function and the freelists test it without asking
 * which mode is on. A detached context stays detached only, and a NULL
 * context stays NULL (its first use names it). */
static inline PyCtx PyCtx_AsDealloc(PyCtx ctx)
{
    uintptr_t v = (uintptr_t)ctx;
    if (PYCTX__LIKELY(v & (PYCTX__BIT_FAST | PYCTX__BIT_DEALLOC)))
        return (PyCtx)((v & ~PYCTX__BIT_FAST) | PYCTX__BIT_DEALLOC);
    return (PyCtx)pyctx_as_dealloc(v);
}

/* Restrict a context to what is safe without the GIL (raw memory, locks,
 * re-acquiring the thread state). There is no way back. */
static inline PyCtx PyCtx_AsDetached(PyCtx ctx)
{
    return (PyCtx)(((uintptr_t)ctx & ~(PYCTX__BIT_FAST | PYCTX__BIT_DEALLOC)) | PYCTX__BIT_DETACHED);
}

#define PYCTX_CAP_FULL 0
#define PYCTX_CAP_DEALLOC 1
#define PYCTX_CAP_DETACHED 2

/* Which capability a context carries: PYCTX_CAP_FULL, _DEALLOC or _DETACHED. */
static inline int PyCtx_Capability(PyCtx ctx)
{
    uintptr_t v = (uintptr_t)ctx;
    if (v & PYCTX__BIT_DETACHED)
        return PYCTX_CAP_DETACHED;
    if (v & PYCTX__BIT_DEALLOC)
        return PYCTX_CAP_DEALLOC;
    if (v & PYCTX__BIT_FAST)
        return PYCTX_CAP_FULL;
    return pyctx_capability(v);
}

/* ---- used by the generated forms ---- */

/* The checked path, out of line: the thread-state read it passes along
 * stays out of every call site. */
static inline PYCTX__COLD void pyctx__slow(const char *caller, PyCtx ctx, unsigned api_id)
{
    pyctx_slow_ctx(caller, ctx, api_id, pyctx__current_tstate());
}

static inline PYCTX__ALWAYS_INLINE void pyctx__check(const char *caller, PyCtx ctx, unsigned api_id)
{
    if (PYCTX__UNLIKELY(!((uintptr_t)ctx & PYCTX__BIT_FAST)))
        pyctx__slow(caller, ctx, api_id);
}

/* The check of API functions allowed in a deallocator: a release-mode full
 * or dealloc context passes inline, with one test of a constant mask (a
 * deallocator's decrefs and type checks stay off the slow path). Debug and
 * stats modes make no context with either bit (PyCtx_AsDealloc), so they
 * check every call; a detached context has neither bit either. */
static inline PYCTX__ALWAYS_INLINE void pyctx__check_dealloc_ok(const char *caller, PyCtx ctx, unsigned api_id)
{
    if (PYCTX__UNLIKELY(!((uintptr_t)ctx & (PYCTX__BIT_FAST | PYCTX__BIT_DEALLOC))))
        pyctx__slow(caller, ctx, api_id);
}

/* Argument-count dispatch: PYCTX__SELn(args..., ctx_form, legacy_form, ~)
 * yields legacy_form for n arguments and ctx_form for n + 1. */
#define PYCTX__CAT(a, b) PYCTX__CAT_(a, b)
#define PYCTX__CAT_(a, b) a##b
#define PYCTX__FIRST(...) PYCTX__FIRST_(__VA_ARGS__, ~)
#define PYCTX__FIRST_(a, ...) a
/* Standard-C emptiness test for zero-parameter functions: 1 for `f()`,
 * 0 for `f(ctx)`. */
#define PYCTX__COMMA(...) ,
#define PYCTX__ARG3(a, b, c, ...) c
#define PYCTX__HAS_COMMA(...) PYCTX__ARG3(__VA_ARGS__, 1, 0, ~)
#define PYCTX__IS_EMPTY(...) PYCTX__HAS_COMMA(PYCTX__COMMA __VA_ARGS__ ())
/* The legacy spelling of a zero-parameter function is `f()` in a call and
 * `f(void)` in a (re)declaration; anything else is a context. A context
 * starting with `(` is told apart first (the emptiness test would take it
 * for empty); `void` is then recognised by pasting it onto a prefix, which
 * needs an identifier or a number: a context starting with another
 * operator (`*pctx`) must be parenthesised. */
#define PYCTX__IS_PAREN(...) PYCTX__HAS_COMMA(PYCTX__COMMA __VA_ARGS__)
#define PYCTX__VOID_void ,
#define PYCTX__PASTE_VOID(x) PYCTX__VOID_##x
#define PYCTX__IS_LEGACY0(...) \
    PYCTX__CAT(PYCTX__IS_LEGACY0_P, PYCTX__IS_PAREN(__VA_ARGS__))(__VA_ARGS__)
#define PYCTX__IS_LEGACY0_P1(...) 0
#define PYCTX__IS_LEGACY0_P0(...) \
    PYCTX__CAT(PYCTX__IS_LEGACY0_E, PYCTX__IS_EMPTY(__VA_ARGS__))(__VA_ARGS__)
#define PYCTX__IS_LEGACY0_E1(...) 1
#define PYCTX__IS_LEGACY0_E0(...) PYCTX__HAS_COMMA(PYCTX__PASTE_VOID(__VA_ARGS__))
#define PYCTX__SEL0(...) PYCTX__CAT(PYCTX__SEL0_, PYCTX__IS_LEGACY0(__VA_ARGS__))
#define PYCTX__SEL0_1(ctx_form, legacy_form) legacy_form
#define PYCTX__SEL0_0(ctx_form, legacy_form) ctx_form

/* Macros whose body stringifies or pastes a parameter (`#c`, `a ## b`) are
 * dispatched by one macro that holds both expansions, built from the
 * arguments as written; PYCTX__PICK keeps the chosen one. */
#define PYCTX__IS_BLANK(...) \
    PYCTX__CAT(PYCTX__IS_BLANK_P, PYCTX__IS_PAREN(__VA_ARGS__))(__VA_ARGS__)
#define PYCTX__IS_BLANK_P1(...) 0
#define PYCTX__IS_BLANK_P0(...) PYCTX__IS_EMPTY(__VA_ARGS__)
#define PYCTX__STRIP(...) __VA_ARGS__
#define PYCTX__PICK(legacy, legacy_form, ctx_form) \
    PYCTX__CAT(PYCTX__PICK_, legacy)(legacy_form, ctx_form)
#define PYCTX__PICK_1(legacy_form, ctx_form) PYCTX__STRIP legacy_form
#define PYCTX__PICK_0(legacy_form, ctx_form) PYCTX__STRIP ctx_form
/* Such a dispatch macro, `NAME(q1, ..., qn, ...)`, receives no variable
 * argument in the legacy spelling, which C and C++ before C++20 call an
 * extension; Clang reports that at the user's call unless the macro uses
 * GNU comma pasting, so the dispatch macro ends with this (it expands to
 * nothing). */
#define PYCTX__ALLOW_EMPTY(...)

#ifndef __cplusplus
/* C-variadic functions: the ctx form is chosen by the first argument's type;
 * the ctx form's check runs before the call (the legacy form is CPython's
 * own call). `__extension__`: _Generic in a C99 build is an extension Clang
 * reports at the user's call (GCC does not, for a system header's macro). */
#define PYCTX__VCHECK(api_id, ...)                                                              \
    __extension__ _Generic(PYCTX__FIRST(__VA_ARGS__),                                                         \
        PyCtx: pyctx__check(__func__, (PyCtx)(uintptr_t)(PYCTX__FIRST(__VA_ARGS__)), api_id), \
        default: (void)0)
#else
/* C++: the ctx forms of functions are overloads of CPython's own names in
 * namespace pyctx (`int pyctx::PyObject_IsTrue(PyCtx, PyObject *, const char
 * *caller = ...)` beside CPython's `extern "C" int PyObject_IsTrue(PyObject
 * *)`), found by argument-dependent lookup, so the legacy spelling needs no
 * macro at all. A defaulted last parameter names the calling function; a
 * C-variadic overload cannot have one after its `...`, so it takes its
 * context as a PyCtx_At, which the implicit conversion from PyCtx fills
 * with the caller's name the same way. */
extern "C++" {
struct PyCtx_At {
    PyCtx ctx;
    const char *caller;
    PyCtx_At(PyCtx c, const char *f = __builtin_FUNCTION()) : ctx(c), caller(f) {}
};

/* Parameter and return types of a function: the overloads take their types
 * from CPython's C++ declaration itself, which may differ from the C one
 * (`PY_CXX_CONST` in 3.13's PyArg_ParseTupleAndKeywords). Deduced from a
 * pointer, since Clang counts `noreturn` as part of a function's type. */
template <unsigned I, class... A> struct pyctx__nth;
template <class A0, class... A> struct pyctx__nth<0, A0, A...> { typedef A0 type; };
template <unsigned I, class A0, class... A> struct pyctx__nth<I, A0, A...> : pyctx__nth<I - 1, A...> {};
template <class R, class... A> struct pyctx__sig {
    typedef R ret;
    template <unsigned I> struct param : pyctx__nth<I, A...> {};
};
template <class R, class... A> pyctx__sig<R, A...> pyctx__sig_of(R (*)(A...));
template <class R, class... A> pyctx__sig<R, A...> pyctx__sig_of(R (*)(A..., ...));
} /* extern "C++" */
#define PYCTX__RET(f) decltype(pyctx__sig_of(&::f))::ret
#define PYCTX__PARAM(f, i) decltype(pyctx__sig_of(&::f))::param<i>::type
#endif

#endif /* PYCTX_H */

/* The per-interpreter part: generated by `pyctx flags`. Outside the include
 * guard: each inclusion adds the ctx forms of the extra CPython headers
 * (datetime.h, structmember.h, marshal.h, frameobject.h, ...) included since
 * the previous one, so include pyctx.h again after such a header. */
#include "pyctx_api.h"
