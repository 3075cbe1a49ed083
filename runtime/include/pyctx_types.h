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
    static const PyCtxDeallocDef name##_pyctx = {name, impl};

/* The type table and the freelists read type and thread-state fields the
 * limited API hides: they are for full-API builds. */
#ifndef Py_LIMITED_API

/* The runtime's type table (libpyctx.a): open addressing on the type
 * pointer, PYCTX__TYPES entries, entry 0 unused. An entry matches a type only
 * while the type's tp_dealloc is the registered trampoline, and entries are
 * never rewritten: a type object freed and its address reused by another
 * type gets an entry (and freelists) of its own. */
#define PYCTX__TYPES 128
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

static inline unsigned pyctx__type_slot(PyTypeObject *type)
{
    return (unsigned)(((uintptr_t)type >> 4) % (PYCTX__TYPES - 1)) + 1;
}

/* The table index of a registered type, or 0. */
static inline unsigned pyctx__type_index(PyTypeObject *type)
{
    unsigned i = pyctx__type_slot(type), n;
    for (n = 0; n < PYCTX__TYPES - 1; n++) {
        const struct pyctx__type_entry *e = &pyctx_type_table[i];
        if (e->type == type && e->trampoline == type->tp_dealloc)
            return i;
        if (e->type == NULL)
            return 0;
        i = i + 1 < PYCTX__TYPES ? i + 1 : 1;
    }
    return 0;
}

/* Register a type whose tp_dealloc is def->trampoline. */
static inline int PyCtx_Type_Register(PyCtx ctx, PyTypeObject *type, const PyCtxDeallocDef *def)
{
    if (type->tp_dealloc != def->trampoline) {
        PyErr_SetString(PyExc_TypeError, "PyCtx_Type_Register: the type's tp_dealloc is not the "
                                         "trampoline of this PyCtxDeallocDef");
        return -1;
    }
    (void)ctx;
    if (pyctx_type_register(type, def->trampoline, def->impl) < 0) {
        PyErr_SetString(PyExc_RuntimeError, "PyCtx_Type_Register: the pyctx type table is full");
        return -1;
    }
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

/* Refcount reached zero in a ctx-form decref. */
static inline void pyctx__dealloc(PyCtx ctx, PyObject *op)
{
    unsigned i = pyctx__type_index(Py_TYPE(op));
    if (i != 0)
        pyctx_type_table[i].impl(PyCtx_AsDealloc(ctx), op);
    else
        _Py_Dealloc(op);
}

/* ---- 3. per-context freelists ---- */

#define PYCTX__FREELIST_SLOTS 64
#define PYCTX__FREELIST_MAX 128
struct pyctx__freelist {
    void *head; /* blocks chained through their first word */
    unsigned len;
};
struct pyctx__freelist_slot {
    uintptr_t owner;             /* PyThreadState* that owns this slot, or 0 */
    PyInterpreterState *interp;  /* the owner's interpreter (its allocator) */
    struct pyctx__freelist lists[PYCTX__TYPES];
};
PYCTX__EXTERN_C_BEGIN
extern struct pyctx__freelist_slot pyctx_freelists[PYCTX__FREELIST_SLOTS];
/* Claim a free slot for `tstate` (compare-and-swap); NULL if none. */
struct pyctx__freelist_slot *pyctx_freelist_claim(uintptr_t tstate, PyInterpreterState *interp);
PYCTX__EXTERN_C_END

/* The freelists of the context's thread state, or NULL (restricted to
 * no thread state, debug mode, or no slot free: callers fall back to the
 * allocator). */
static inline struct pyctx__freelist_slot *pyctx__freelists(PyCtx ctx)
{
    PyThreadState *ts;
    struct pyctx__freelist_slot *slot;
    uintptr_t bits = (uintptr_t)ctx & PYCTX__BITS;
    if (bits != PYCTX__BIT_FAST && bits != PYCTX__BIT_DEALLOC)
        return NULL; /* detached, debug or stats */
    if (!pyctx_fast_bit)
        return NULL;
    ts = (PyThreadState *)(((uintptr_t)ctx & ~PYCTX__BITS) - PYCTX__OFFSET);
    if (ts == NULL)
        return NULL;
    slot = &pyctx_freelists[((uintptr_t)ts >> 6) % PYCTX__FREELIST_SLOTS];
    if (slot->owner != (uintptr_t)ts)
        slot = pyctx_freelist_claim((uintptr_t)ts, ts->interp);
    if (slot == NULL || slot->interp != ts->interp)
        return NULL;
    return slot;
}

/* A new object of a registered, non-GC type: like PyObject_New. */
static inline PyObject *PyCtx_New(PyCtx ctx, PyTypeObject *type)
{
    unsigned i = pyctx__type_index(type);
    struct pyctx__freelist_slot *slot = i ? pyctx__freelists(ctx) : NULL;
    void *mem = NULL;
    if (slot != NULL && slot->lists[i].head != NULL) {
        mem = slot->lists[i].head;
        slot->lists[i].head = *(void **)mem;
        slot->lists[i].len--;
    }
    else {
        mem = PyObject_Malloc((size_t)type->tp_basicsize);
        if (mem == NULL)
            return PyErr_NoMemory();
    }
    return PyObject_Init((PyObject *)mem, type);
}

/* Release the memory of an object made by PyCtx_New (from its deallocator,
 * with the dealloc context it was given). Heap types: Py_DECREF the type
 * afterwards as usual. */
static inline void PyCtx_Free(PyCtx ctx, PyObject *op)
{
    unsigned i = pyctx__type_index(Py_TYPE(op));
    struct pyctx__freelist_slot *slot = i ? pyctx__freelists(ctx) : NULL;
    if (slot != NULL && slot->lists[i].len < PYCTX__FREELIST_MAX) {
        *(void **)op = slot->lists[i].head;
        slot->lists[i].head = op;
        slot->lists[i].len++;
        return;
    }
    PyObject_Free(op);
}

#endif /* !Py_LIMITED_API */

#endif /* PYCTX_TYPES_H */
