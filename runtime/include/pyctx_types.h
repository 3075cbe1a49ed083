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
 *     zero calls impl directly through the runtime's type table, with
 *     PyCtx_AsDealloc(ctx): no thread-state read, no trampoline.
 *
 *  3. Freelists. PyCtx_New(ctx, type) / PyCtx_Free(dctx, obj) allocate and
 *     free objects of a registered (non-GC) type through a freelist owned by
 *     the context's thread state: no TLS, no lock.
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

typedef struct {
    destructor trampoline; /* what goes in tp_dealloc */
    PyCtxDestructor impl;  /* what it calls, with a dealloc context */
} PyCtxDeallocDef;

#define PYCTX_DEALLOC(name, impl)                                          \
    static void name(PyObject *self)                                       \
    {                                                                      \
        PyCtx pyctx_cb = pyctx__callback_enter(#name);                    \
        impl(PyCtx_AsDealloc(pyctx_cb), self);                             \
        pyctx__callback_exit(pyctx_cb);                                    \
    }                                                                      \
    static const PyCtxDeallocDef name##_pyctx PYCTX__MAYBE_UNUSED = {name, impl};

/* The type table and the freelists read type and thread-state fields the
 * limited API hides: they are for full-API builds. */
#ifndef Py_LIMITED_API

/* The runtime's type table (libpyctx.a): PYCTX__TYPES entries, entry 0
 * unused, filled by registration and never rewritten. A registered type
 * carries its index in tp_flags bits 32 and up (CPython 3.9-3.13 use bits
 * 0-31 only, and tp_flags is 64 bits wide on LP64): telling a foreign type
 * from a registered one costs a decref to zero one load and one test, no
 * probe. The index is trusted only while the entry names this very type and
 * its tp_dealloc is still the registered trampoline: each extension has a
 * table of its own (its own copy of the runtime), so another extension's
 * type, or a type freed and its address reused, never matches by accident;
 * it is deallocated through CPython's tp_dealloc as usual. */
#define PYCTX__TYPES 128
#define PYCTX__INDEX_SHIFT 32
struct pyctx__type_entry {
    PyTypeObject *type;
    destructor trampoline;
    PyCtxDestructor impl;
};
PYCTX__EXTERN_C_BEGIN
extern struct pyctx__type_entry pyctx_type_table[PYCTX__TYPES];
/* Returns the type's index (1..PYCTX__TYPES-1), or -1 when the table is full. */
int pyctx_type_register(PyTypeObject *type, destructor trampoline, PyCtxDestructor impl);
PYCTX__EXTERN_C_END

#if ULONG_MAX > 0xffffffffUL
#define PYCTX__INDEX_MASK ((unsigned long)(PYCTX__TYPES - 1) << PYCTX__INDEX_SHIFT)
/* The table index a type says it has (0: none). */
static inline unsigned pyctx__type_index_bits(PyTypeObject *type)
{
    return (unsigned)((type->tp_flags & PYCTX__INDEX_MASK) >> PYCTX__INDEX_SHIFT);
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

/* The table index of a type registered by this extension, or 0, for
 * PyCtx_New and PyCtx_Free, which take this extension's own types (and their
 * subclasses, whose index bits are 0): the entry must name the type; the
 * deallocator is checked where it is called (pyctx__dealloc). */
static inline unsigned pyctx__type_index(PyTypeObject *type)
{
    unsigned i = pyctx__type_index_bits(type);
    return i != 0 && pyctx_type_table[i].type == type ? i : 0;
}

/* Register a type whose tp_dealloc is def->trampoline. */
static inline int PyCtx_Type_Register(PyCtx ctx, PyTypeObject *type, const PyCtxDeallocDef *def)
{
    int i;
    if (type->tp_dealloc != def->trampoline) {
        PyErr_SetString(PyExc_TypeError, "PyCtx_Type_Register: the type's tp_dealloc is not the "
                                         "trampoline of this PyCtxDeallocDef");
        return -1;
    }
    (void)ctx;
    i = pyctx_type_register(type, def->trampoline, def->impl);
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

/* Refcount reached zero in a ctx-form decref: a registered type's
 * implementation gets a dealloc context made from this one (no thread-state
 * read, no trampoline); any other type goes to CPython's _Py_Dealloc after
 * one load and one test. */
static inline PYCTX__ALWAYS_INLINE void pyctx__dealloc(PyCtx ctx, PyObject *op)
{
    PyTypeObject *tp = Py_TYPE(op);
    unsigned i = pyctx__type_index_bits(tp);
    if (PYCTX__UNLIKELY(i != 0) && pyctx__type_entry_is(i, tp))
        pyctx_type_table[i].impl(PyCtx_AsDealloc(ctx), op);
    else
        _Py_Dealloc(op);
}

/* ---- 3. per-context freelists ---- */

/* A slot of freelists belongs to one thread state for as long as it lives
 * (claimed with a compare-and-swap by the runtime, then used by that thread
 * only: no lock). Found by hashing the thread state's address; a thread
 * state whose slot another one holds allocates without freelists.
 *
 * From 3.12 on an interpreter may have an allocator of its own, which dies
 * with it: a slot also records its interpreter's id (unique for the life of
 * the process, unlike addresses), and a thread state that reuses a dead
 * one's address with another interpreter gets the slot back empty. */
#define PYCTX__FREELIST_SLOTS 64
#define PYCTX__FREELIST_MAX 128
struct pyctx__freelist {
    void *head; /* objects chained through their first word */
    unsigned len;
};
struct pyctx__freelist_slot {
    uintptr_t owner;   /* PyThreadState* that owns this slot, or 0 */
    int64_t interp_id; /* 3.12+: the owner's interpreter id */
    struct pyctx__freelist lists[PYCTX__TYPES];
};
PYCTX__EXTERN_C_BEGIN
extern struct pyctx__freelist_slot pyctx_freelists[PYCTX__FREELIST_SLOTS];
/* Claim (or reclaim) the slot of `tstate` (compare-and-swap); NULL if
 * another live thread state holds it. */
struct pyctx__freelist_slot *pyctx_freelist_claim(uintptr_t tstate, int64_t interp_id);
/* 3.12+: offsetof(PyInterpreterState, id), found by the runtime at load
 * (internal headers; checked against them by a test). */
extern size_t pyctx_interp_id_offset;
PYCTX__EXTERN_C_END

static inline int64_t pyctx__interp_id(PyThreadState *ts)
{
#if PY_VERSION_HEX >= 0x030C0000
    return *(const int64_t *)((const char *)ts->interp + pyctx_interp_id_offset);
#else
    /* One allocator for all interpreters: any slot's memory fits. */
    (void)ts;
    return 0;
#endif
}

/* The freelists of the context's thread state, or NULL: debug and stats
 * modes (their contexts are not thread states), a detached or NULL context,
 * or no slot free; callers then use CPython's allocator. */
static inline struct pyctx__freelist_slot *pyctx__freelists(PyCtx ctx)
{
    PyThreadState *ts;
    struct pyctx__freelist_slot *slot;
    uintptr_t v = (uintptr_t)ctx;
    /* release mode (fast_bit set), a full or dealloc context (a detached
     * one has neither bit), made from a thread state (not NULL) */
    if (PYCTX__UNLIKELY(!(v & (pyctx_fast_bit * (PYCTX__BIT_FAST | PYCTX__BIT_DEALLOC))) ||
                        v <= PYCTX__BITS))
        return NULL;
    ts = (PyThreadState *)((v & ~PYCTX__BITS) - PYCTX__OFFSET);
    slot = &pyctx_freelists[((uintptr_t)ts >> 6) % PYCTX__FREELIST_SLOTS];
#if PY_VERSION_HEX >= 0x030C0000
    if (PYCTX__UNLIKELY(slot->owner != (uintptr_t)ts || slot->interp_id != pyctx__interp_id(ts)))
#else
    if (PYCTX__UNLIKELY(slot->owner != (uintptr_t)ts))
#endif
        slot = pyctx_freelist_claim((uintptr_t)ts, pyctx__interp_id(ts));
    return slot;
}

/* GC types keep their GC header (two words) right before the object; one
 * with more before it (3.12+: managed dict or weak references) allocates
 * through CPython. */
static inline int pyctx__freelist_fits(PyTypeObject *type)
{
#if PY_VERSION_HEX >= 0x030C0000
    return !(type->tp_flags & (Py_TPFLAGS_MANAGED_DICT | Py_TPFLAGS_MANAGED_WEAKREF));
#else
    (void)type;
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
 * untracked, as CPython leaves a new GC object. CPython's own freelists do
 * the same; tracemalloc keeps the block's first traceback and 3.13's
 * PyRefTracer sees no event for it. */
static inline PyObject *pyctx__init_reused(void *mem, PyTypeObject *type)
{
    PyObject *op = (PyObject *)mem;
    if (type->tp_flags & Py_TPFLAGS_HAVE_GC) {
        ((uintptr_t *)op)[-2] = 0;
        ((uintptr_t *)op)[-1] = 0;
    }
    Py_SET_TYPE(op, type);
    if (type->tp_flags & Py_TPFLAGS_HEAPTYPE)
        Py_INCREF(type);
    /* Not Py_SET_REFCNT: from 3.12 on it leaves "immortal" objects alone,
     * and the freelist link in this word may look like one. */
    op->ob_refcnt = 1;
    return op;
}

/* A new object from CPython's allocator. A type that is not registered is
 * typically a Python subclass reaching the base's tp_new: its body is
 * zeroed, as CPython's tp_alloc does, since the subclass's __dict__ and
 * weak-reference slots must start out NULL. */
static inline PyObject *pyctx__new_fresh(PyTypeObject *type, int registered)
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
static inline PyObject *PyCtx_New(PyCtx ctx, PyTypeObject *type)
{
    unsigned i = pyctx__type_index(type);
    struct pyctx__freelist_slot *slot = i ? pyctx__freelists(ctx) : NULL;
    if (slot != NULL && slot->lists[i].head != NULL) {
        void *mem = slot->lists[i].head;
        slot->lists[i].head = *(void **)mem;
        slot->lists[i].len--;
        return pyctx__init_reused(mem, type);
    }
    return pyctx__new_fresh(type, i != 0);
}

/* Release the memory of an object made by PyCtx_New, from its deallocator,
 * with the dealloc context it was given: PyObject_Free, or PyObject_GC_Del
 * for a GC type (untrack it first, as always). Heap types: Py_DECREF the
 * type afterwards as usual. */
static inline void PyCtx_Free(PyCtx ctx, PyObject *op)
{
    PyTypeObject *type = Py_TYPE(op);
    unsigned i = pyctx__type_index(type);
    int gc = (type->tp_flags & Py_TPFLAGS_HAVE_GC) != 0;
    struct pyctx__freelist_slot *slot = i && pyctx__freelist_fits(type) ? pyctx__freelists(ctx) : NULL;
    /* A GC object still tracked (its header's next link set) goes to
     * CPython, which unlinks it: the freelist never holds a tracked one. */
    if (gc && ((uintptr_t *)op)[-2] != 0)
        slot = NULL;
    if (slot != NULL && slot->lists[i].len < PYCTX__FREELIST_MAX) {
        *(void **)op = slot->lists[i].head;
        slot->lists[i].head = op;
        slot->lists[i].len++;
        return;
    }
    if (gc)
        PyObject_GC_Del(op);
    else
        PyObject_Free(op);
}

#endif /* !Py_LIMITED_API */

#endif /* PYCTX_TYPES_H */
