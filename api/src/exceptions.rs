//! Every hand-kept list of pyctx, in one file (HPy's `conf.py` habit):
//! each name that a rule or a derivation from the API table cannot decide,
//! with the reason it is here. Anything else that names API functions is
//! computed (from `table.json`, the headers, or the rules of
//! [`crate::classify`], which keeps its own rule table with a reason per
//! rule). Each list is checked by a test against what it describes:
//!
//! | list | checked by |
//! |---|---|
//! | [`EXTRA_HEADERS`] | `api/tests/coverage.rs` (every other public header is reached from `Python.h` or these) |
//! | [`MACRO_SHAPES`] | `api/tests/stale.rs` (the table regenerated from the headers) |
//! | [`PLATFORM_CONDITIONS`] | `api/tests/coverage.rs` |
//! | [`RUNTIME_SYMBOLS`] | `flags/tests/runtime_symbols.rs` (against `libpyctx.a` and what the headers reference) |
//! | [`THREAD_STATE_EFFECTS`] | `api/tests/classify.rs` (each name an exported function of the table, listed once) |
//!
//! Lists kept elsewhere, not yet moved here: `rewrite/src/mask.rs`, `clex/src/lib.rs`,
//! `bench/report.py`; `migrate-cli/src/names.rs` (C keywords and C library
//! names: facts of C, not of the API).

use crate::model::MacroShape;

/// A public header that `Python.h` does not include, read after it when the
/// interpreter has it. Names first reached through one get `needs_include`.
pub struct ExtraHeader {
    pub name: &'static str,
    /// Record only its `PyAPI_FUNC` functions, not its macros.
    pub functions_only: bool,
    pub why: &'static str,
}

const WHY_DOCUMENTED: &str = "documented public header outside Python.h";
const WHY_PARSER: &str = "old parser and tokenizer API (removed in 3.10 and 3.12): its \
     PyAPI_FUNC functions are public; its macros (TYPE, STR, CHILD, NAME, ISEOF, ...) are \
     parser internals with unprefixed names that a dispatch macro must never capture";

/// Headers the translation unit includes after `Python.h`, when present, in
/// this order. Every other header of the include dir is either reached
/// from these, internal (`internal/`, needs `Py_BUILD_CORE`), or declares
/// no `PyAPI_FUNC` (`api/tests/coverage.rs` checks this against the
/// headers' text).
pub const EXTRA_HEADERS: &[ExtraHeader] = &[
    ExtraHeader {
        name: "structmember.h",
        functions_only: false,
        why: WHY_DOCUMENTED,
    },
    ExtraHeader {
        name: "datetime.h",
        functions_only: false,
        why: WHY_DOCUMENTED,
    },
    ExtraHeader {
        name: "marshal.h",
        functions_only: false,
        why: WHY_DOCUMENTED,
    },
    ExtraHeader {
        name: "frameobject.h",
        functions_only: false,
        why: WHY_DOCUMENTED,
    },
    ExtraHeader {
        name: "token.h",
        functions_only: true,
        why: WHY_PARSER,
    },
    ExtraHeader {
        name: "node.h",
        functions_only: true,
        why: WHY_PARSER,
    },
    ExtraHeader {
        name: "parsetok.h",
        functions_only: true,
        why: WHY_PARSER,
    },
    ExtraHeader {
        name: "symtable.h",
        functions_only: true,
        why: WHY_PARSER,
    },
    ExtraHeader {
        name: "ast.h",
        functions_only: true,
        why: WHY_PARSER,
    },
];

/// Macros the shape rules of `generate/shape.rs` cannot decide, with the
/// shape and the reason. Keep this short: empty today.
pub const MACRO_SHAPES: &[(&str, MacroShape, &str)] = &[];

/// Macros whose branches hold declarations for other platforms or build
/// variants than the interpreter's own: a name declared only under one of
/// them is not expected in the table. (The word appears in the condition;
/// checked only for names the table lacks.)
pub const PLATFORM_CONDITIONS: &[(&str, &str)] = &[
    ("MS_WINDOWS", "Windows only"),
    (
        "USE_STACKCHECK",
        "defined only for 32-bit Windows builds with MSVC",
    ),
    (
        "HAVE_PTHREAD_STUBS",
        "WebAssembly (WASI) builds without threads",
    ),
    ("Py_GIL_DISABLED", "free-threaded builds (python3.13t) only"),
];

/// Symbols `libpyctx.a` must contribute to every extension. `-u` makes the
/// linker pull them out of the archive even though setuptools puts LDFLAGS
/// before the object files: the header's entry points, and
/// `pyctx_compat_init`, whose load-time constructor lets compat see the
/// legacy calls of sources that never include `pyctx.h`.
pub const RUNTIME_SYMBOLS: &[&str] = &[
    "pyctx_fast_bit",
    "pyctx_slow_ctx",
    "pyctx_compat_init",
    "pyctx_current_tstate",
    "pyctx_tstate_current",
    "pyctx_resolve",
    "pyctx_type_table",
    "pyctx_type_register",
    "pyctx_callback_enter",
    "pyctx_callback_exit",
    "pyctx_restore_check",
    "pyctx_as_dealloc",
    "pyctx_capability",
];

/// What an API function does to the calling thread's current thread state,
/// as far as the rewriter cares (docs/migration-policy.md, "Functions that
/// switch the thread state").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadStateEffect {
    /// Detaches the current thread state and re-attaches the one saved on
    /// the same thread: the unrolled `Py_BEGIN_ALLOW_THREADS` /
    /// `Py_END_ALLOW_THREADS`. A context received from an attached caller
    /// is the right one before the save and after the restore.
    SaveRestore,
    /// May leave a different thread state current (or none) than the one
    /// the function was entered with.
    Switch,
}

const WHY_SAVE_RESTORE: &str = "the two halves of Py_BEGIN/END_ALLOW_THREADS: the same \
     thread state is detached and re-attached on the same thread";
const WHY_GILSTATE: &str = "attaches or detaches this thread's own (possibly new) thread \
     state: on a native thread nothing was attached before";
const WHY_SWAP: &str = "makes the given thread state current, whichever it is";
const WHY_LOCK: &str =
    "takes or drops the GIL without regard to the thread state (removed in 3.13)";
const WHY_SUBINTERP: &str = "creates or ends a sub-interpreter and switches to (or away from) \
     its thread state";

/// API functions that change which thread state is attached to the calling
/// thread. Neither the signatures nor the capability rules tell these
/// apart (`PyThreadState_Get` and `PyThreadState_New` take and return the
/// same types and switch nothing), so the list is kept by hand.
pub const THREAD_STATE_EFFECTS: &[(&str, ThreadStateEffect, &str)] = &[
    (
        "PyEval_SaveThread",
        ThreadStateEffect::SaveRestore,
        WHY_SAVE_RESTORE,
    ),
    (
        "PyEval_RestoreThread",
        ThreadStateEffect::SaveRestore,
        WHY_SAVE_RESTORE,
    ),
    ("PyGILState_Ensure", ThreadStateEffect::Switch, WHY_GILSTATE),
    (
        "PyGILState_Release",
        ThreadStateEffect::Switch,
        WHY_GILSTATE,
    ),
    ("PyThreadState_Swap", ThreadStateEffect::Switch, WHY_SWAP),
    ("PyEval_AcquireThread", ThreadStateEffect::Switch, WHY_SWAP),
    ("PyEval_ReleaseThread", ThreadStateEffect::Switch, WHY_SWAP),
    ("PyEval_AcquireLock", ThreadStateEffect::Switch, WHY_LOCK),
    ("PyEval_ReleaseLock", ThreadStateEffect::Switch, WHY_LOCK),
    (
        "Py_NewInterpreter",
        ThreadStateEffect::Switch,
        WHY_SUBINTERP,
    ),
    (
        "Py_NewInterpreterFromConfig",
        ThreadStateEffect::Switch,
        WHY_SUBINTERP,
    ),
    (
        "Py_EndInterpreter",
        ThreadStateEffect::Switch,
        WHY_SUBINTERP,
    ),
];

/// The effect of `name` on the calling thread's thread state, if any.
pub fn thread_state_effect(name: &str) -> Option<ThreadStateEffect> {
    THREAD_STATE_EFFECTS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|&(_, e, _)| e)
}
