/*
 * pyctx_types.h: callbacks that receive the context, context-aware
 * deallocators, and per-context freelists for types made through pyctx.
 * Included by the generated pyctx_api.h before the dispatch macros, so plain
 * API names here are still CPython's own.
 *
 *  1. Callbacks. CPython calls methods and slots with its own signatures;
 *     PYCTX_METH_* / PYCTX_SLOT_* define a trampoline with that signature
 *     which fetches the context once and calls an implementation taking
 *     `PyCtx` first:
 *
 *         static PyObject *count_impl(PyCtx ctx, PyObject *self, PyObject *arg);
 *         PYCTX_METH_O(count, count_impl)        // {"count", count, METH_O}
 *
 *  2. Deallocators. PYCTX_DEALLOC(name, impl) defines the tp_dealloc
 *     trampoline `name` (handing impl a `dealloc` context) and a descriptor
 *     `name_pyctx` to register with PyCtx_Type_FromSpec / PyCtx_Type_Register.
 *     A ctx-form Py_DECREF(ctx, o) that drops a registered type's object to
 *     zero calls impl through the runtime's type table (the descriptor's
 *     from_ctx), with PyCtx_AsDealloc(ctx): no thread-state read, no
 *     trampoline.
 *
 *  3. Freelists. PyCtx_New(ctx, type) / PyCtx_Free(dctx, obj) allocate and
 *     free objects of a registered type through its freelist: no TLS, no
 *     lock, no allocator call.
 */
#ifndef PYCTX_TYPES_H
#define PYCTX_TYPES_H

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC system_header
#endif

/* ---- 1. callbacks ---- */

/* Debug mode hands each callback a context of its own, so that a context
 * kept and used after its callback returned is reported as stale. */
PYCTX__EXTERN_C_BEGIN
uintptr_t pyctx_callback_enter(const char *callback, PyThreadState *current);
void pyctx_callback_exit(PyCtx ctx);
PYCTX__EXTERN_C_END

static inline PyCtx pyctx__callback_enter(const char *callback)
{
    if (PYCTX__UNLIKELY(!pyctx_fast_bit))
        return (PyCtx)pyctx_callback_enter(callback, pyctx__current_tstate());
    return PyCtx_Get();
}

static inline void pyctx__callback_exit(PyCtx ctx)
{
    if (PYCTX__UNLIKELY(!pyctx_fast_bit))
        pyctx_callback_exit(ctx);
}

/* PYCTX__TRAMPOLINE(ret, name, impl, (params), (args)): `name` with the
 * C signature CPython calls, running impl(ctx, args). */
#define PYCTX__TRAMPOLINE(ret, name, impl, params, args)                   \
    static ret name params                                                 \
    {                                                                      \
        PyCtx pyctx_cb = pyctx__callback_enter(#name);                    \
        ret pyctx_r = impl PYCTX__PREPEND(pyctx_cb, args);                 \
        pyctx__callback_exit(pyctx_cb);                                    \
        return pyctx_r;                                                    \
    }
#define PYCTX__PREPEND(x, args) (x, PYCTX__UNPAREN args)
#define PYCTX__UNPAREN(...) __VA_ARGS__

#define PYCTX_METH_NOARGS(name, impl)                                      \
    PYCTX__TRAMPOLINE(PyObject *, name, impl, (PyObject *self, PyObject *pyctx_unused), (self))
#define PYCTX_METH_O(name, impl)                                           \
    PYCTX__TRAMPOLINE(PyObject *, name, impl, (PyObject *self, PyObject *arg), (self, arg))
#define PYCTX_METH_VARARGS(name, impl)                                     \
    PYCTX__TRAMPOLINE(PyObject *, name, impl, (PyObject *self, PyObject *args), (self, args))
#define PYCTX_METH_KEYWORDS(name, impl)                                    \
    PYCTX__TRAMPOLINE(PyObject *, name, impl, (PyObject *self, PyObject *args, PyObject *kw), \
                      (self, args, kw))
#define PYCTX_METH_FASTCALL(name, impl)                                    \
    PYCTX__TRAMPOLINE(PyObject *, name, impl,                              \
                      (PyObject *self, PyObject *const *args, Py_ssize_t nargs), (self, args, nargs))
#define PYCTX_METH_FASTCALL_KEYWORDS(name, impl)                           \
    PYCTX__TRAMPOLINE(PyObject *, name, impl,                              \
                      (PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames), \
                      (self, args, nargs, kwnames))
/* Slots by C signature: reprfunc/unaryfunc/iternextfunc/getiterfunc ... */
#define PYCTX_SLOT_UNARY(name, impl)                                       \
    PYCTX__TRAMPOLINE(PyObject *, name, impl, (PyObject *self), (self))
#define PYCTX_SLOT_BINARY(name, impl)                                      \
    PYCTX__TRAMPOLINE(PyObject *, name, impl, (PyObject *a, PyObject *b), (a, b))
#define PYCTX_SLOT_TERNARY(name, impl)                                     \
    PYCTX__TRAMPOLINE(PyObject *, name, impl, (PyObject *a, PyObject *b, PyObject *c), (a, b, c))
#define PYCTX_SLOT_NEW(name, impl)                                         \
    PYCTX__TRAMPOLINE(PyObject *, name, impl, (PyTypeObject *t, PyObject *a, PyObject *k), (t, a, k))
#define PYCTX_SLOT_INIT(name, impl)                                        \
    PYCTX__TRAMPOLINE(int, name, impl, (PyObject *s, PyObject *a, PyObject *k), (s, a, k))
#define PYCTX_SLOT_INQUIRY(name, impl)                                     \
    PYCTX__TRAMPOLINE(int, name, impl, (PyObject *self), (self))
#define PYCTX_SLOT_LEN(name, impl)                                         \
    PYCTX__TRAMPOLINE(Py_ssize_t, name, impl, (PyObject *self), (self))
#define PYCTX_SLOT_HASH(name, impl)                                        \
    PYCTX__TRAMPOLINE(Py_hash_t, name, impl, (PyObject *self), (self))
#define PYCTX_SLOT_RICHCOMPARE(name, impl)                                 \
    PYCTX__TRAMPOLINE(PyObject *, name, impl, (PyObject *a, PyObject *b, int op), (a, b, op))
#define PYCTX_SLOT_GETTER(name, impl)                                      \
    PYCTX__TRAMPOLINE(PyObject *, name, impl, (PyObject *self, void *closure), (self, closure))
#define PYCTX_SLOT_SETTER(name, impl)                                      \
    PYCTX__TRAMPOLINE(int, name, impl, (PyObject *self, PyObject *v, void *closure), (self, v, closure))
#define PYCTX_MODULE_EXEC(name, impl)                                      \
    PYCTX__TRAMPOLINE(int, name, impl, (PyObject *module), (module))

/* ---- 2. context-aware deallocators ---- */

typedef void (*PyCtxDestructor)(PyCtx ctx, PyObject *self);

/* A descriptor registered through another PyCtxDeallocDef (one whose
 * trampoline wraps this one) is not an unused variable worth a warning. */
#if defined(__GNUC__) || defined(__clang__)
#define PYCTX__MAYBE_UNUSED __attribute__((unused))
#else
#define PYCTX__MAYBE_UNUSED
#endif

/* The trampoline calls the implementation by name; the table calls
 * from_ctx, so the implementation itself needs no field. */
typedef struct {
    destructor trampoline; /* what goes in tp_dealloc */
    /* What a ctx-form decref reaching zero calls, with its own context:
     * impl(PyCtx_AsDealloc(ctx), self), a function of its own so that the
     * compiler can inline impl into it and, seeing the dealloc bit set,
     * drop the capability tests of impl's dealloc-safe calls (as it does
     * in the trampoline). Made by PYCTX_DEALLOC / PYCTX_DEALLOC_DEF;
     * registration refuses a descriptor without it. */
    PyCtxDestructor from_ctx;
} PyCtxDeallocDef;

/* A value the compiler must not see through (no instruction). */
#if defined(__GNUC__) || defined(__clang__)
#define PYCTX__OPAQUE(x) __asm__("" : "+r"(x))
#else
#define PYCTX__OPAQUE(x) ((void)0)
#endif

/* The descriptor name##_pyctx for a tp_dealloc `trampoline` of one's own
 * that calls impl with a dealloc context (PYCTX_DEALLOC makes both).
 *
 * from_ctx turns a context with the fast or the dealloc bit into a dealloc
 * context inline, so that the compiler, inlining impl, sees the dealloc bit
 * set and drops the capability tests of impl's dealloc-safe calls; any
 * other context (debug and stats modes, whose dealloc contexts the runtime
 * makes) goes to the cold _slow function by a tail call. No call is left
 * on the fast path but impl's own, so from_ctx keeps no register across
 * one for its own sake (pyctx_as_dealloc's call, made first, made it save
 * four). The slow function calls impl through an opaque pointer: a third
 * call site would make GCC keep impl out of line where it inlined it. */
#define PYCTX_DEALLOC_DEF(name, trampoline, impl)                          \
    static PYCTX__MAYBE_UNUSED PYCTX__COLD void name##_pyctx_from_ctx_slow(PyCtx ctx, PyObject *self) \
    {                                                                      \
        PyCtxDestructor pyctx_impl = (impl);                               \
        PYCTX__OPAQUE(pyctx_impl);                                         \
        pyctx_impl(PyCtx_AsDealloc(ctx), self);                            \
    }                                                                      \
    static PYCTX__MAYBE_UNUSED void name##_pyctx_from_ctx(PyCtx ctx, PyObject *self) \
    {                                                                      \
        uintptr_t pyctx_v = (uintptr_t)ctx;                                \
        if (PYCTX__LIKELY(pyctx_v & (PYCTX__BIT_FAST | PYCTX__BIT_DEALLOC))) \
            impl((PyCtx)((pyctx_v & ~PYCTX__BIT_FAST) | PYCTX__BIT_DEALLOC), self); \
        else                                                               \
            name##_pyctx_from_ctx_slow(ctx, self);                         \
    }                                                                      \
    static const PyCtxDeallocDef name##_pyctx PYCTX__MAYBE_UNUSED = {     \
        trampoline, name##_pyctx_from_ctx};

#define PYCTX_DEALLOC(name, impl)                                          \
    static void name(PyObject *self)                                       \
    {                                                                      \
        PyCtx pyctx_cb = pyctx__callback_enter(#name);                    \
        impl(PyCtx_AsDealloc(pyctx_cb), self);                             \
        pyctx__callback_exit(pyctx_cb);                                    \
    }                                                                      \
    PYCTX_DEALLOC_DEF(name, name, impl)

/* The type table and the freelists read type fields the limited API
 * hides: they are for full-API builds. */
#ifndef Py_LIMITED_API

/* The runtime's type table (libpyctx.a): PYCTX__TYPES entries, entry 0
 * unused, filled by registration. A registered type carries its index in
 * tp_flags bits 32 and up (CPython 3.9-3.13 use bits 0-31 only, and
 * tp_flags is 64 bits wide on LP64): telling a foreign type from a
 * registered one costs a decref to zero one load and one test, no probe.
 * The index is trusted only while the entry names this very type and its
 * tp_dealloc is still the registered trampoline: each extension has a table
 * of its own (its own copy of the runtime), so another extension's type, or
 * a type freed and its address reused, never matches by accident; it is
 * deallocated through CPython's tp_dealloc as usual.
 *
 * An entry also holds its type's freelist (section 3). */
#define PYCTX__TYPES 128
#define PYCTX__INDEX_SHIFT 32
struct pyctx__type_entry {
    PyTypeObject *type;
    destructor trampoline;
    PyCtxDestructor from_ctx; /* the descriptor's from_ctx */
    void *free_head;          /* the freelist: objects chained through their first word,
                               * ending at PYCTX__FREELIST_END (section 3) */
};
PYCTX__EXTERN_C_BEGIN
extern PYCTX__HIDDEN struct pyctx__type_entry pyctx_type_table[PYCTX__TYPES];
/* Returns the type's index (1..PYCTX__TYPES-1), or -1 when the table is
 * full. A type object registered anew (an entry found again for the same
 * address, trampoline and from_ctx: the earlier type is gone) starts with
 * an empty freelist. */
int pyctx_type_register(PyTypeObject *type, destructor trampoline, PyCtxDestructor from_ctx);
PYCTX__EXTERN_C_END

#if ULONG_MAX > 0xffffffffUL
#define PYCTX__INDEX_MASK ((unsigned long)(PYCTX__TYPES - 1) << PYCTX__INDEX_SHIFT)
/* The table index a type says it has (0: none). */
static inline unsigned pyctx__type_index_bits(PyTypeObject *type)
{
    return (unsigned)((type->tp_flags & PYCTX__INDEX_MASK) >> PYCTX__INDEX_SHIFT);
}
/* The byte offset of that entry in the table: the index bits shifted into
 * place at once (an entry is four pointers, 32 bytes on LP64), one shift
 * and one mask, which the compiler otherwise redoes as index, then offset,
 * at each use in one function. */
#define PYCTX__ENTRY_LOG2 5
typedef char pyctx__entry_is_32_bytes[sizeof(struct pyctx__type_entry) == (1u << PYCTX__ENTRY_LOG2) ? 1 : -1];
static inline size_t pyctx__type_entry_offset(PyTypeObject *type)
{
    return (size_t)((type->tp_flags >> (PYCTX__INDEX_SHIFT - PYCTX__ENTRY_LOG2)) &
                    ((unsigned long)(PYCTX__TYPES - 1) << PYCTX__ENTRY_LOG2));
}
static inline void pyctx__type_set_index(PyTypeObject *type, unsigned i)
{
    type->tp_flags = (type->tp_flags & ~PYCTX__INDEX_MASK) | ((unsigned long)i << PYCTX__INDEX_SHIFT);
}
#else
/* A 32-bit tp_flags (LLP64, 32-bit targets) has no free bits: registered
 * types are then deallocated through CPython's tp_dealloc (the trampoline)
 * and allocate without freelists, which is correct, only not faster. */
static inline unsigned pyctx__type_index_bits(PyTypeObject *type)
{
    (void)type;
    return 0;
}
static inline size_t pyctx__type_entry_offset(PyTypeObject *type)
{
    (void)type;
    return 0;
}
static inline void pyctx__type_set_index(PyTypeObject *type, unsigned i)
{
    (void)type;
    (void)i;
}
#endif

/* Is entry i this type's, deallocator included? */
static inline int pyctx__type_entry_is(unsigned i, PyTypeObject *type)
{
    const struct pyctx__type_entry *e = &pyctx_type_table[i];
    return e->type == type && e->trampoline == type->tp_dealloc;
}

/* The entry of a type registered by this extension, or NULL, for PyCtx_New
 * and PyCtx_Free, which take this extension's own types (and their
 * subclasses, whose index bits are 0): the entry must name the type; the
 * deallocator is checked where it is called (pyctx__dealloc). Entry 0
 * names no type, so index bits 0 need no test of their own. */
static inline PYCTX__ALWAYS_INLINE struct pyctx__type_entry *pyctx__type_entry(PyTypeObject *type)
{
    struct pyctx__type_entry *e =
        (struct pyctx__type_entry *)((char *)pyctx_type_table + pyctx__type_entry_offset(type));
    return e->type == type ? e : NULL;
}

/* The table index of a registered type, or 0. */
static inline unsigned pyctx__type_index(PyTypeObject *type)
{
    struct pyctx__type_entry *e = pyctx__type_entry(type);
    return e != NULL ? (unsigned)(e - pyctx_type_table) : 0;
}

/* Register a type whose tp_dealloc is def->trampoline (once: a type already
 * registered keeps its entry and its freelist). */
static inline int PyCtx_Type_Register(PyCtx ctx, PyTypeObject *type, const PyCtxDeallocDef *def)
{
    int i;
    if (type->tp_dealloc != def->trampoline) {
        PyErr_SetString(PyExc_TypeError, "PyCtx_Type_Register: the type's tp_dealloc is not the "
                                         "trampoline of this PyCtxDeallocDef");
        return -1;
    }
    if (def->from_ctx == NULL) {
        PyErr_SetString(PyExc_TypeError, "PyCtx_Type_Register: the PyCtxDeallocDef has no from_ctx "
                                         "(make descriptors with PYCTX_DEALLOC or PYCTX_DEALLOC_DEF)");
        return -1;
    }
    (void)ctx;
    i = (int)pyctx__type_index(type);
    if (i != 0 && pyctx_type_table[i].from_ctx == def->from_ctx)
        return 0;
    i = pyctx_type_register(type, def->trampoline, def->from_ctx);
    if (i < 0) {
        PyErr_SetString(PyExc_RuntimeError, "PyCtx_Type_Register: the pyctx type table is full");
        return -1;
    }
    pyctx__type_set_index(type, (unsigned)i);
    return 0;
}

/* PyType_FromModuleAndSpec, then register the deallocator (its trampoline
 * must be the spec's Py_tp_dealloc). */
static inline PyObject *PyCtx_Type_FromSpec(PyCtx ctx, PyObject *module, PyType_Spec *spec,
                                            PyObject *bases, const PyCtxDeallocDef *def)
{
    PyObject *type = PyCtxOrig_PyType_FromModuleAndSpec(module, spec, bases);
    if (type != NULL && PyCtx_Type_Register(ctx, (PyTypeObject *)type, def) < 0) {
        Py_DECREF(type);
        return NULL;
    }
    return type;
}

/* A registered type's object reached zero in a ctx-form decref: its
 * implementation gets a dealloc context made from this one (from_ctx: no
 * thread-state read, no trampoline), unless the entry is not this type's
 * after all. Out of line, like CPython's _Py_Dealloc: the caller's decref
 * stays a decrement and a test, and needs no register for this. */
static inline PYCTX__NOINLINE void pyctx__dealloc_registered(PyCtx ctx, PyObject *op, unsigned i)
{
    if (PYCTX__LIKELY(pyctx__type_entry_is(i, Py_TYPE(op))))
        pyctx_type_table[i].from_ctx(ctx, op);
    else
        _Py_Dealloc(op);
}

/* What CPython's _Py_Dealloc does, without the call of it where that is
 * all it does: up to 3.12, in a build without Py_DEBUG and Py_TRACE_REFS, it
 * calls the type's tp_dealloc and nothing else. 3.13's also reports the
 * object to a reference tracer (PyRefTracer), which only CPython can ask
 * about, so there the call stays. */
#if PY_VERSION_HEX < 0x030D0000 && !defined(Py_DEBUG) && !defined(Py_TRACE_REFS)
#define PYCTX__TP_DEALLOC(op, type) ((type)->tp_dealloc(op))
#else
#define PYCTX__TP_DEALLOC(op, type) ((void)(type), _Py_Dealloc(op))
#endif

/* Refcount reached zero in a ctx-form decref: a type the runtime does not
 * manage (index bits 0) is deallocated as CPython's _Py_Dealloc does it,
 * after one load and one test more than CPython's own decref; the type that
 * test reads is the one whose tp_dealloc is called next, so up to 3.12 the
 * call of _Py_Dealloc itself is saved. */
static inline PYCTX__ALWAYS_INLINE void pyctx__dealloc(PyCtx ctx, PyObject *op)
{
    PyTypeObject *type = Py_TYPE(op);
    unsigned i = pyctx__type_index_bits(type);
    if (PYCTX__UNLIKELY(i != 0))
        pyctx__dealloc_registered(ctx, op, i);
    else
        PYCTX__TP_DEALLOC(op, type);
}

/* ---- 3. freelists ---- */

/* Each registered type has one freelist, in its table entry, used only
 * through a release-mode context (the fast bit for PyCtx_New, the fast or
 * the dealloc bit for PyCtx_Free): no thread-local read, no lock, no
 * allocator call. A type lives in one interpreter, and a release-mode
 * context means that interpreter's GIL is held: the GIL serialises every
 * use of the list, and its memory is that interpreter's allocator's (3.12+
 * interpreters with a GIL of their own have an allocator of their own and
 * load only isolated modules, whose types are heap types, one set per
 * interpreter; a static type must not be registered by such a module). A
 * type object registered anew starts with an empty list (the runtime's
 * registration), so a list never outlives its interpreter's allocator in
 * use. Free-threaded builds have no GIL: there PyCtx_New and PyCtx_Free
 * always use CPython's allocator.
 *
 * Each freed object holds the list's link in its first word and the
 * list's length in its second (both rewritten when the object is reused),
 * so that taking an object off the list writes only the head. A list ends
 * not at NULL but at entry 0 of the table, which is never registered: its
 * second word (a trampoline) stays 0, so it reads as a list of length 0 and
 * freeing onto an empty list is no special case (no test, no branch), while
 * taking from one compares with the table's address, which the entry's
 * lookup has in a register already. The runtime sets a head to it when it
 * registers a type. */
#define PYCTX__FREELIST_END ((void *)pyctx_type_table)
#define PYCTX__FREELIST_MAX 128
#if !defined(Py_GIL_DISABLED) && ULONG_MAX > 0xffffffffUL
#define PYCTX__FREELISTS 1
#endif

/* GC types keep their GC header (two words) right before the object; one
 * with more before it (3.12+: managed dict or weak references) allocates
 * through CPython. */
static inline int pyctx__freelist_fits(unsigned long flags)
{
#if PY_VERSION_HEX >= 0x030C0000
    return !(flags & (Py_TPFLAGS_MANAGED_DICT | Py_TPFLAGS_MANAGED_WEAKREF));
#else
    (void)flags;
    return 1;
#endif
}

/* A fresh object of a GC type, from CPython (untracked, like PyObject_GC_New). */
static inline PyObject *pyctx__gc_new(PyTypeObject *type)
{
    static PyObject *(*gc_new)(PyTypeObject *);
    PyObject *(*f)(PyTypeObject *) = __atomic_load_n(&gc_new, __ATOMIC_RELAXED);
    if (PYCTX__UNLIKELY(f == NULL)) {
        f = (PyObject * (*)(PyTypeObject *)) pyctx_resolve("_PyObject_GC_New");
        __atomic_store_n(&gc_new, f, __ATOMIC_RELAXED);
    }
    return f(type);
}

/* What PyObject_Init does to a block taken from a freelist: type (a heap
 * type gains a reference), reference count 1; a GC type's header reset to
 * untracked, as CPython leaves a new GC object (the link word is 0
 * already: only untracked objects are freed to a list). CPython's own
 * freelists do the same; tracemalloc keeps the block's first traceback and
 * 3.13's PyRefTracer sees no event for it. */
static inline PYCTX__ALWAYS_INLINE PyObject *pyctx__init_reused(void *mem, PyTypeObject *type)
{
    PyObject *op = (PyObject *)mem;
    unsigned long flags = type->tp_flags;
    if (flags & Py_TPFLAGS_HAVE_GC)
        ((uintptr_t *)op)[-1] = 0;
    Py_SET_TYPE(op, type);
    /* Likely: types made with PyCtx_Type_FromSpec are heap types (laid
     * out straight, the increment costs no taken branch). */
    if (PYCTX__LIKELY(flags & Py_TPFLAGS_HEAPTYPE))
        Py_INCREF(type);
    /* Not Py_SET_REFCNT: from 3.12 on it leaves "immortal" objects alone,
     * and the freelist link in this word may look like one. */
    op->ob_refcnt = 1;
    return op;
}

/* A new object from CPython's allocator, out of line. A type that is not
 * registered is typically a Python subclass reaching the base's tp_new: its
 * body is zeroed, as CPython's tp_alloc does, since the subclass's __dict__
 * and weak-reference slots must start out NULL. */
static inline PYCTX__NOINLINE PyObject *pyctx__new_fresh(PyTypeObject *type, int registered)
{
    PyObject *op;
    if (type->tp_flags & Py_TPFLAGS_HAVE_GC) {
        op = pyctx__gc_new(type);
    }
    else {
        void *mem = PyObject_Malloc((size_t)type->tp_basicsize);
        if (mem == NULL)
            return PyErr_NoMemory();
        op = PyObject_Init((PyObject *)mem, type);
    }
    if (op != NULL && !registered)
        memset((char *)op + sizeof(PyObject), 0, (size_t)type->tp_basicsize - sizeof(PyObject));
    return op;
}

/* A new object of a registered type: like PyObject_New, or PyObject_GC_New
 * for a GC type (untracked: call PyObject_GC_Track when it is filled in). */
static inline PYCTX__ALWAYS_INLINE PyObject *PyCtx_New(PyCtx ctx, PyTypeObject *type)
{
    struct pyctx__type_entry *e = pyctx__type_entry(type);
#ifdef PYCTX__FREELISTS
    if (PYCTX__LIKELY(e != NULL && ((uintptr_t)ctx & PYCTX__BIT_FAST))) {
        void *mem = e->free_head;
        if (PYCTX__LIKELY(mem != PYCTX__FREELIST_END)) {
            e->free_head = *(void **)mem;
            return pyctx__init_reused(mem, type);
        }
    }
#else
    (void)ctx;
#endif
    return pyctx__new_fresh(type, e != NULL);
}

/* Release the memory of an object to CPython, out of line. */
static inline PYCTX__NOINLINE void pyctx__free_fresh(PyObject *op)
{
    if (Py_TYPE(op)->tp_flags & Py_TPFLAGS_HAVE_GC)
        PyObject_GC_Del(op);
    else
        PyObject_Free(op);
}

/* Release the memory of an object made by PyCtx_New, from its deallocator,
 * with the dealloc context it was given: PyObject_Free, or PyObject_GC_Del
 * for a GC type (untrack it first, as always). Heap types: Py_DECREF the
 * type afterwards as usual. */
static inline PYCTX__ALWAYS_INLINE void PyCtx_Free(PyCtx ctx, PyObject *op)
{
#ifdef PYCTX__FREELISTS
    PyTypeObject *type = Py_TYPE(op);
    struct pyctx__type_entry *e = pyctx__type_entry(type);
    unsigned long flags = type->tp_flags;
    /* A GC object still tracked (its header's link set) goes to CPython,
     * which unlinks it: a freelist never holds a tracked one. */
    if (PYCTX__LIKELY(e != NULL && ((uintptr_t)ctx & (PYCTX__BIT_FAST | PYCTX__BIT_DEALLOC)) &&
                      pyctx__freelist_fits(flags) &&
                      !((flags & Py_TPFLAGS_HAVE_GC) && ((uintptr_t *)op)[-2] != 0))) {
        void *head = e->free_head;
        uintptr_t len = ((uintptr_t *)head)[1] + 1;
        if (PYCTX__LIKELY(len <= PYCTX__FREELIST_MAX)) {
            ((void **)op)[0] = head;
            ((uintptr_t *)op)[1] = len;
            e->free_head = op;
            return;
        }
    }
#else
    (void)ctx;
#endif
    pyctx__free_fresh(op);
}

/* How many objects of a registered type wait in its freelist: for tests
 * and diagnostics. The length of a list is kept in its head object (the
 * list's end reads as 0). */
static inline size_t pyctx__freelist_length(PyTypeObject *type)
{
    struct pyctx__type_entry *e = pyctx__type_entry(type);
    return e != NULL ? (size_t)((uintptr_t *)e->free_head)[1] : 0;
}

#endif /* !Py_LIMITED_API */

#endif /* PYCTX_TYPES_H */
