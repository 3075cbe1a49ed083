//! Capability classes of API names, in one place.
//!
//! A ctx carries one of three capabilities (see DESIGN.md): `full`,
//! `dealloc` (inside a deallocator) and `detached` (no attached thread
//! state). An entry is
//!
//! - `gil_free` when it is safe without an attached thread state: it may be
//!   called with a `detached` ctx;
//! - `dealloc_safe` when it may be called with a `dealloc` ctx: everything
//!   `gil_free`, plus what a deallocator legitimately does (decref, clear,
//!   free, untrack, save/restore the error, type checks, plain accessors that
//!   neither allocate nor run Python code, and incref to resurrect).
//!
//! Decided by [`RULES`] (first matching rule wins; exceptions come first),
//! then: a name whose every form is a `utility` macro (pure arithmetic on
//! plain values) is `gil_free`; `gil_free` implies `dealloc_safe`.

use crate::model::{Form, Kind, MacroShape};

/// How a rule matches a name.
#[derive(Debug, Clone, Copy)]
pub enum Pat {
    Exact(&'static str),
    Prefix(&'static str),
    Suffix(&'static str),
}

impl Pat {
    pub fn matches(&self, name: &str) -> bool {
        match *self {
            Pat::Exact(s) => name == s,
            Pat::Prefix(s) => name.starts_with(s),
            Pat::Suffix(s) => name.ends_with(s),
        }
    }
}

/// What a matching rule grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// An exception to a broader rule below it: no capability.
    Neither,
    /// Allowed with a `dealloc` ctx.
    DeallocSafe,
    /// Allowed without a thread state (and so with a `dealloc` ctx too).
    GilFree,
}

pub struct Rule {
    pub pat: Pat,
    pub class: Class,
    /// Why the rule exists.
    pub why: &'static str,
}

const fn r(pat: Pat, class: Class, why: &'static str) -> Rule {
    Rule { pat, class, why }
}

use Class::*;
use Pat::*;

const WHY_GETINFO: &str = "builds a Python struct sequence: needs a thread state";
const WHY_UNICODE_SIZE: &str = "deprecated (<= 3.11): may allocate the wchar_t cache";
const WHY_RAW: &str = "raw allocator: documented as callable without the GIL";
const WHY_THREAD: &str = "thread primitives (locks, TSS): independent of any thread state";
const WHY_GIL: &str =
    "acquire / query the GIL or thread state: called precisely when none is attached";
const WHY_TSTATE: &str =
    "creating / deleting a thread state: documented as not needing the GIL (how a native thread attaches to a sub-interpreter)";
const WHY_TSTATE_QUERY: &str =
    "asks which thread state is attached and answers NULL when none is: made to be called without one (3.13)";
const WHY_IMMUTABLE: &str = "reads an immutable object's data or CPython's Unicode database: touches no interpreter state (extensions do it with the GIL released, e.g. regex's matcher)";
const WHY_LOCALE: &str =
    "documented as usable before Python is initialised: no thread state needed";
const WHY_SNPRINTF: &str = "plain C formatting into a caller buffer";
const WHY_DECREF: &str = "releasing references is what a deallocator does";
const WHY_FREE: &str = "freeing the object's memory or untracking it from the GC";
const WHY_FINAL: &str = "deallocation protocol: weakref clearing and finalizer from tp_dealloc";
const WHY_ERR: &str = "a deallocator must save and restore the current exception around its work";
const WHY_CHECK: &str = "type / identity checks only read the type";
const WHY_ACCESS: &str = "plain field accessors: no allocation, no Python code";
const WHY_INCREF: &str = "incref to resurrect the object from its deallocator";

/// The rule table. Order matters: the first match decides.
pub const RULES: &[Rule] = &[
    // Exceptions to broader patterns below.
    r(Exact("PyThread_GetInfo"), Neither, WHY_GETINFO),
    r(Exact("PyUnicode_GET_SIZE"), Neither, WHY_UNICODE_SIZE),
    // gil_free
    r(Prefix("PyMem_Raw"), GilFree, WHY_RAW),
    r(Prefix("PyThread_"), GilFree, WHY_THREAD),
    r(Exact("PyGILState_Ensure"), GilFree, WHY_GIL),
    r(Exact("PyGILState_Check"), GilFree, WHY_GIL),
    r(Exact("PyGILState_GetThisThreadState"), GilFree, WHY_GIL),
    r(Exact("PyEval_RestoreThread"), GilFree, WHY_GIL),
    r(Exact("PyEval_AcquireThread"), GilFree, WHY_GIL),
    r(Exact("PyThreadState_New"), GilFree, WHY_TSTATE),
    r(Exact("PyThreadState_Delete"), GilFree, WHY_TSTATE),
    r(
        Exact("PyThreadState_GetUnchecked"),
        GilFree,
        WHY_TSTATE_QUERY,
    ),
    r(Exact("PyMutex_Lock"), GilFree, WHY_THREAD),
    r(Exact("PyMutex_Unlock"), GilFree, WHY_THREAD),
    r(Exact("Py_DecodeLocale"), GilFree, WHY_LOCALE),
    r(Exact("Py_EncodeLocale"), GilFree, WHY_LOCALE),
    r(Prefix("Py_UNICODE_IS"), GilFree, WHY_IMMUTABLE),
    r(Prefix("Py_UNICODE_TO"), GilFree, WHY_IMMUTABLE),
    r(Exact("PyUnicode_READ"), GilFree, WHY_IMMUTABLE),
    r(Exact("PyUnicode_READ_CHAR"), GilFree, WHY_IMMUTABLE),
    r(Exact("PyUnicode_WRITE"), GilFree, WHY_IMMUTABLE),
    r(Exact("PyUnicode_DATA"), GilFree, WHY_IMMUTABLE),
    r(Exact("PyUnicode_KIND"), GilFree, WHY_IMMUTABLE),
    r(Exact("PyUnicode_GET_LENGTH"), GilFree, WHY_IMMUTABLE),
    r(Exact("PyUnicode_1BYTE_DATA"), GilFree, WHY_IMMUTABLE),
    r(Exact("PyUnicode_2BYTE_DATA"), GilFree, WHY_IMMUTABLE),
    r(Exact("PyUnicode_4BYTE_DATA"), GilFree, WHY_IMMUTABLE),
    r(Exact("PyUnicode_IS_ASCII"), GilFree, WHY_IMMUTABLE),
    r(Exact("PyUnicode_IS_COMPACT"), GilFree, WHY_IMMUTABLE),
    r(Exact("PyUnicode_IS_COMPACT_ASCII"), GilFree, WHY_IMMUTABLE),
    r(Exact("PyUnicode_IS_READY"), GilFree, WHY_IMMUTABLE),
    r(Exact("PyUnicode_MAX_CHAR_VALUE"), GilFree, WHY_IMMUTABLE),
    r(Exact("PyBytes_AS_STRING"), GilFree, WHY_IMMUTABLE),
    r(Exact("PyBytes_GET_SIZE"), GilFree, WHY_IMMUTABLE),
    r(Exact("PyByteArray_AS_STRING"), GilFree, WHY_IMMUTABLE),
    r(Exact("PyByteArray_GET_SIZE"), GilFree, WHY_IMMUTABLE),
    r(Exact("PyOS_snprintf"), GilFree, WHY_SNPRINTF),
    r(Exact("PyOS_vsnprintf"), GilFree, WHY_SNPRINTF),
    // dealloc_safe: releasing references
    r(Exact("Py_DECREF"), DeallocSafe, WHY_DECREF),
    r(Exact("Py_XDECREF"), DeallocSafe, WHY_DECREF),
    r(Exact("Py_CLEAR"), DeallocSafe, WHY_DECREF),
    r(Exact("Py_DecRef"), DeallocSafe, WHY_DECREF),
    r(Exact("Py_XDecRef"), DeallocSafe, WHY_DECREF),
    // dealloc_safe: freeing and untracking
    r(Exact("PyObject_Free"), DeallocSafe, WHY_FREE),
    r(Exact("PyObject_FREE"), DeallocSafe, WHY_FREE),
    r(Exact("PyObject_Del"), DeallocSafe, WHY_FREE),
    r(Exact("PyObject_DEL"), DeallocSafe, WHY_FREE),
    r(Exact("PyObject_GC_Del"), DeallocSafe, WHY_FREE),
    r(Exact("PyObject_GC_UnTrack"), DeallocSafe, WHY_FREE),
    r(Exact("PyMem_Free"), DeallocSafe, WHY_FREE),
    r(Exact("PyMem_FREE"), DeallocSafe, WHY_FREE),
    r(Exact("PyMem_Del"), DeallocSafe, WHY_FREE),
    r(Exact("PyMem_DEL"), DeallocSafe, WHY_FREE),
    r(Exact("PyObject_ClearWeakRefs"), DeallocSafe, WHY_FINAL),
    r(
        Exact("PyObject_CallFinalizerFromDealloc"),
        DeallocSafe,
        WHY_FINAL,
    ),
    // dealloc_safe: error save / restore
    r(Exact("PyErr_Fetch"), DeallocSafe, WHY_ERR),
    r(Exact("PyErr_Restore"), DeallocSafe, WHY_ERR),
    r(Exact("PyErr_GetRaisedException"), DeallocSafe, WHY_ERR),
    r(Exact("PyErr_SetRaisedException"), DeallocSafe, WHY_ERR),
    r(Exact("PyErr_Occurred"), DeallocSafe, WHY_ERR),
    // dealloc_safe: type and identity checks
    r(Suffix("_Check"), DeallocSafe, WHY_CHECK),
    r(Suffix("_CheckExact"), DeallocSafe, WHY_CHECK),
    r(Exact("Py_TYPE"), DeallocSafe, WHY_CHECK),
    r(Exact("Py_IS_TYPE"), DeallocSafe, WHY_CHECK),
    r(Prefix("Py_Is"), DeallocSafe, WHY_CHECK),
    r(Prefix("PyWeakref_Check"), DeallocSafe, WHY_CHECK),
    r(Exact("PyObject_TypeCheck"), DeallocSafe, WHY_CHECK),
    r(Exact("PyType_IsSubtype"), DeallocSafe, WHY_CHECK),
    r(Exact("PyType_FastSubclass"), DeallocSafe, WHY_CHECK),
    r(Exact("PyType_GetFlags"), DeallocSafe, WHY_CHECK),
    r(Exact("PyType_HasFeature"), DeallocSafe, WHY_CHECK),
    r(Exact("PyType_GetSlot"), DeallocSafe, WHY_CHECK),
    r(Exact("PyType_IS_GC"), DeallocSafe, WHY_CHECK),
    r(Exact("PyObject_IS_GC"), DeallocSafe, WHY_CHECK),
    // dealloc_safe: plain accessors
    r(Suffix("_GET_SIZE"), DeallocSafe, WHY_ACCESS),
    r(Suffix("_GET_ITEM"), DeallocSafe, WHY_ACCESS),
    r(Exact("Py_SIZE"), DeallocSafe, WHY_ACCESS),
    r(Exact("Py_REFCNT"), DeallocSafe, WHY_ACCESS),
    r(Exact("PyTuple_GetItem"), DeallocSafe, WHY_ACCESS),
    r(Exact("PyList_GetItem"), DeallocSafe, WHY_ACCESS),
    r(Exact("PyTuple_Size"), DeallocSafe, WHY_ACCESS),
    r(Exact("PyList_Size"), DeallocSafe, WHY_ACCESS),
    r(Exact("PyDict_Size"), DeallocSafe, WHY_ACCESS),
    r(Exact("PySet_Size"), DeallocSafe, WHY_ACCESS),
    r(Exact("PyBytes_Size"), DeallocSafe, WHY_ACCESS),
    r(Exact("PyByteArray_Size"), DeallocSafe, WHY_ACCESS),
    // dealloc_safe: incref (resurrection)
    r(Exact("Py_INCREF"), DeallocSafe, WHY_INCREF),
    r(Exact("Py_XINCREF"), DeallocSafe, WHY_INCREF),
    r(Exact("Py_IncRef"), DeallocSafe, WHY_INCREF),
    r(Exact("Py_XIncRef"), DeallocSafe, WHY_INCREF),
    r(Exact("Py_NewRef"), DeallocSafe, WHY_INCREF),
    r(Exact("Py_XNewRef"), DeallocSafe, WHY_INCREF),
];

/// The capabilities of one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Caps {
    pub gil_free: bool,
    pub dealloc_safe: bool,
}

/// The rule deciding `name`, if any.
pub fn rule_for(name: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.pat.matches(name))
}

/// Classify an entry from its name and forms.
pub fn classify(name: &str, forms: &[Form]) -> Caps {
    let utility = !forms.is_empty()
        && forms
            .iter()
            .all(|f| f.kind == Kind::Macro && f.shape == Some(MacroShape::Utility));
    let class = match rule_for(name).map(|r| r.class) {
        Some(Neither) => Neither,
        _ if utility => GilFree,
        Some(class) => class,
        None => Neither,
    };
    Caps {
        gil_free: class == GilFree,
        dealloc_safe: class != Neither,
    }
}
